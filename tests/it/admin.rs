//! Authorization of every route, the admin API over workspaces, channels and keys, the
//! 360dialog provider end to end, and the operator's CLI.

use std::process::Stdio;

use chasqui::api::routes::{table, NESTED};
use chasqui_domain::{Scope, ScopeSet};
use reqwest::Method;
use serde_json::{json, Value};

use crate::on_both_backends;
use crate::process::chasqui;
use crate::support::{Backend, TestDb, TestServer};

/// Creates a key of the default workspace with `scopes` through the admin API.
async fn key_with(server: &TestServer, scopes: ScopeSet) -> String {
    let names: Vec<&str> = scopes.iter().map(Scope::as_str).collect();
    let (status, body) = server
        .request_json(
            Method::POST,
            "/v1/admin/workspaces/ws_default/keys",
            &json!({"name": format!("only {}", names.join(" ")), "scopes": names}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    body["key"].as_str().expect("key shown once").to_string()
}

async fn call(server: &TestServer, method: &Method, path: &str, key: Option<&str>) -> (u16, Value) {
    let mut req = server
        .http
        .request(method.clone(), server.url(path))
        .json(&json!({}));
    if let Some(key) = key {
        req = req.bearer_auth(key);
    }
    let resp = req.send().await.expect("request");
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
}

/// Every route the router serves refuses a call without a key (401) and a call with a key that
/// has every scope but the route's own (403), and lets the route's scope through.
async fn every_route_checks_authentication_and_scope(backend: Backend) {
    let server = TestServer::start(backend).await;
    let mut routes: Vec<(Method, String, Scope)> = table()
        .into_iter()
        .map(|r| (r.method, r.path.replace("{id}", "zz_missing"), r.scope))
        .collect();
    routes.extend(
        NESTED
            .iter()
            .map(|(_, scope, example)| (Method::GET, example.to_string(), *scope)),
    );
    assert!(routes.len() > 30, "the table lists every route");
    let mut lacking = std::collections::HashMap::new();
    for scope in Scope::ALL {
        lacking.insert(
            scope,
            key_with(&server, ScopeSet::all().without(scope)).await,
        );
    }
    for (method, path, scope) in &routes {
        let (status, body) = call(&server, method, path, None).await;
        assert_eq!(status, 401, "{method} {path} without a key: {body}");
        assert_eq!(body["code"], "missing_api_key", "{method} {path}");
        let (status, body) = call(&server, method, path, Some("chq_not-a-key")).await;
        assert_eq!(status, 401, "{method} {path} with an unknown key: {body}");
        let (status, body) = call(&server, method, path, Some(&lacking[scope])).await;
        assert_eq!(status, 403, "{method} {path} without {scope}: {body}");
        assert_eq!(body["code"], "insufficient_scope");
        let (status, body) = call(&server, method, path, Some(&server.key)).await;
        assert!(
            status != 401 && status != 403,
            "{method} {path} with {scope}: {status} {body}"
        );
    }
    // Vendor dialects authenticate with their own headers and envelopes: no key is 401 or 403,
    // and a key without the route's scope is refused too.
    let dialect_routes = chasqui::api::dialects::table(&Default::default());
    assert!(!dialect_routes.is_empty());
    for r in dialect_routes {
        let Some(scope) = r.scope else { continue };
        let (method, path) = (r.method, r.path);
        let (status, body) = call(&server, &method, path, None).await;
        assert!(
            matches!(status, 401 | 403),
            "{} {method} {path} anonymous: {status} {body}",
            r.dialect
        );
        let (status, body) = call(&server, &method, path, Some(&lacking[&scope])).await;
        assert!(
            matches!(status, 401 | 403),
            "{} {method} {path} without {scope}: {status} {body}",
            r.dialect
        );
    }
    // The public routes stay public.
    for path in ["/healthz", "/readyz"] {
        let (status, _) = call(&server, &Method::GET, path, None).await;
        assert_eq!(status, 200, "{path}");
    }
    server.stop().await;
}

/// Workspaces, keys and channels: create, read, update, disable, delete; secrets only as hints.
async fn admin_api_manages_tenants(backend: Backend) {
    let server = TestServer::start(backend).await;
    let (status, ws) = server
        .request_json(
            Method::POST,
            "/v1/admin/workspaces",
            &json!({"name": "Acme", "daily_quota": 500, "timezone": "America/Lima"}),
        )
        .await;
    assert_eq!(status, 201, "{ws}");
    let ws_id = ws["id"].as_str().expect("id").to_string();
    assert_eq!(ws["daily_quota"], 500);
    let (status, body) = server
        .request_json(
            Method::PATCH,
            &format!("/v1/admin/workspaces/{ws_id}"),
            &json!({"timezone": "America/Atlantis", "daily_quota": 0}),
        )
        .await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["errors"].as_array().map(Vec::len), Some(2), "{body}");
    assert_eq!(ws["disabled"], false);

    let token = "EAAG-very-secret-access-token-1234";
    let (status, ch) = server
        .request_json(
            Method::POST,
            &format!("/v1/admin/workspaces/{ws_id}/channels"),
            &json!({
                "provider": "cloud_api", "phone_number_id": "200000000000002",
                "display_phone_number": "+51 987 654 321", "access_token": token,
                "app_secret": "acme-app-secret-0987", "rate_per_sec": 40,
                "messaging_limit": 1000, "window_policy": "warn"
            }),
        )
        .await;
    assert_eq!(status, 201, "{ch}");
    let ch_id = ch["id"].as_str().expect("id").to_string();
    assert_eq!(ch["display_phone_number"], "+51987654321");
    assert_eq!(
        ch["is_default"], true,
        "a workspace's first channel is its default"
    );
    assert_eq!(ch["access_token_hint"], "…1234");
    assert_eq!(ch["app_secret_hint"], "…0987");
    let text = ch.to_string();
    assert!(
        !text.contains(token) && !text.contains("acme-app-secret"),
        "{text}"
    );

    // The same phone number id cannot be a second channel's.
    let (status, body) = server
        .request_json(
            Method::POST,
            &format!("/v1/admin/workspaces/{ws_id}/channels"),
            &json!({"provider": "sandbox", "phone_number_id": "200000000000002",
                    "display_phone_number": "+51987654322"}),
        )
        .await;
    assert_eq!(status, 409, "{body}");

    // Every problem at once, nothing created.
    let (status, body) = server
        .request_json(
            Method::POST,
            &format!("/v1/admin/workspaces/{ws_id}/channels"),
            &json!({"phone_number_id": "3", "display_phone_number": "12",
                    "rate_per_sec": 5000, "window_policy": "sometimes", "colour": "red"}),
        )
        .await;
    assert_eq!(status, 422, "{body}");
    let fields: Vec<&str> = body["errors"]
        .as_array()
        .expect("errors")
        .iter()
        .filter_map(|e| e["field"].as_str())
        .collect();
    for f in [
        "provider",
        "display_phone_number",
        "rate_per_sec",
        "window_policy",
        "colour",
    ] {
        assert!(fields.contains(&f), "{f} missing from {body}");
    }
    let (_, list) = server
        .get_json(&format!("/v1/admin/workspaces/{ws_id}/channels"))
        .await;
    assert_eq!(list["data"].as_array().map(Vec::len), Some(1), "{list}");

    // Update, disable.
    let (status, ch) = server
        .request_json(
            Method::PATCH,
            &format!("/v1/admin/channels/{ch_id}"),
            &json!({"rate_per_sec": 10, "enabled": false, "messaging_limit": null}),
        )
        .await;
    assert_eq!(status, 200, "{ch}");
    assert_eq!(ch["rate_per_sec"], 10);
    assert_eq!(ch["enabled"], false);
    assert_eq!(ch["messaging_limit"], Value::Null);
    assert_eq!(ch["access_token_hint"], "…1234", "untouched secrets stay");

    // Keys: created with tenant scopes by default, listed without the secret.
    let (status, key) = server
        .request_json(
            Method::POST,
            &format!("/v1/admin/workspaces/{ws_id}/keys"),
            &json!({"name": "backend", "rate_per_minute": 600}),
        )
        .await;
    assert_eq!(status, 201, "{key}");
    let secret = key["key"].as_str().expect("secret").to_string();
    assert!(secret.starts_with("chq_"));
    let scopes: Vec<&str> = key["scopes"]
        .as_array()
        .expect("scopes")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert!(
        scopes.contains(&"send") && !scopes.contains(&"admin"),
        "{key}"
    );
    let (_, keys) = server
        .get_json(&format!("/v1/admin/workspaces/{ws_id}/keys"))
        .await;
    assert!(
        !keys.to_string().contains(&secret),
        "listing never shows a key"
    );
    assert_eq!(keys["data"][0]["rate_per_minute"], 600);

    // A tenant key cannot use the admin API, and its disabled channel refuses sends.
    let tenant = |path: &str| {
        server
            .http
            .get(server.url(path))
            .bearer_auth(&secret)
            .send()
    };
    let resp = tenant("/v1/admin/workspaces").await.expect("request");
    assert_eq!(resp.status(), 403);
    let resp = server
        .http
        .post(server.url("/v1/messages"))
        .bearer_auth(&secret)
        .json(&json!({"to": "+51987000111", "type": "text", "text": {"body": "hola"}}))
        .send()
        .await
        .expect("send");
    assert_eq!(resp.status(), 422);
    let body: Value = resp.json().await.expect("json");
    assert_eq!(body["errors"][0]["code"], "channel_disabled", "{body}");
    let resp = tenant("/v1/messages").await.expect("list");
    let listed: Value = resp.json().await.expect("json");
    assert_eq!(
        listed["data"].as_array().map(Vec::len),
        Some(0),
        "nothing stored"
    );

    // A workspace with channels cannot be deleted; without them it can, with its keys.
    let ws_path = format!("/v1/admin/workspaces/{ws_id}");
    let (status, body) = server
        .request_json(Method::DELETE, &ws_path, &json!({}))
        .await;
    assert_eq!(status, 409, "{body}");
    let (status, _) = server
        .request_json(
            Method::DELETE,
            &format!("/v1/admin/channels/{ch_id}"),
            &json!({}),
        )
        .await;
    assert_eq!(status, 204);
    let (status, _) = server
        .request_json(Method::DELETE, &ws_path, &json!({}))
        .await;
    assert_eq!(status, 204);
    let (status, _) = server.get_json(&ws_path).await;
    assert_eq!(status, 404);
    let resp = tenant("/v1/messages").await.expect("request");
    assert_eq!(resp.status(), 401, "its keys went with it");
    server.stop().await;
}

/// A 360dialog channel sends Meta's body to `{base}/messages` with its `D360-API-KEY`.
async fn dialog360_channel_sends_with_its_api_key(backend: Backend) {
    use axum::http::HeaderMap;
    use std::sync::{Arc, Mutex};
    type Seen = Arc<Mutex<Vec<(Option<String>, Value)>>>;
    let seen: Seen = Default::default();
    let app = axum::Router::new()
        .route(
            "/messages",
            axum::routing::post(
                |axum::extract::State(seen): axum::extract::State<Seen>,
                 headers: HeaderMap,
                 axum::Json(body): axum::Json<Value>| async move {
                    let key = headers
                        .get("d360-api-key")
                        .and_then(|v| v.to_str().ok())
                        .map(str::to_owned);
                    let to = body["to"].clone();
                    seen.lock().expect("lock").push((key, body));
                    axum::Json(json!({"messaging_product": "whatsapp",
                        "contacts": [{"input": to, "wa_id": to}],
                        "messages": [{"id": "wamid.d360-1"}]}))
                },
            ),
        )
        .with_state(seen.clone());
    let addr = crate::support::serve_router(app).await;

    let server = TestServer::start(backend).await;
    let (status, ch) = server
        .request_json(
            Method::POST,
            "/v1/admin/workspaces/ws_default/channels",
            &json!({"provider": "dialog360", "phone_number_id": "300000000000003",
                    "display_phone_number": "+5215512340000", "access_token": "d360-key-xyz",
                    "base_url": format!("http://{addr}"), "window_policy": "off"}),
        )
        .await;
    assert_eq!(status, 201, "{ch}");
    let id = server
        .send_ok(
            &json!({"channel": ch["id"], "to": "+51987000222", "type": "text",
                         "text": {"body": "hola 360"}}),
        )
        .await;
    let msg = server
        .wait_for(&[id], &["sent"], std::time::Duration::from_secs(10))
        .await;
    assert_eq!(msg[0]["wamid"], "wamid.d360-1");
    let seen = seen.lock().expect("lock").clone();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].0.as_deref(), Some("d360-key-xyz"));
    assert_eq!(seen[0].1["messaging_product"], "whatsapp");
    assert_eq!(seen[0].1["text"]["body"], "hola 360");
    server.stop().await;
}

fn run(db: &TestDb, args: &[&str], stdin: Option<&str>) -> (bool, String, String) {
    let mut cmd = chasqui(db);
    cmd.args(args)
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("spawn");
    if let (Some(text), Some(mut pipe)) = (stdin, child.stdin.take()) {
        use std::io::Write;
        pipe.write_all(text.as_bytes()).expect("stdin");
    }
    let out = child.wait_with_output().expect("run");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn json_out(db: &TestDb, args: &[&str], stdin: Option<&str>) -> Value {
    let (ok, out, err) = run(db, args, stdin);
    assert!(ok, "chasqui {args:?} failed: {err}");
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("{args:?} printed {out:?}: {e}"))
}

/// `chasqui workspace|channel|key ...` on the database directly.
async fn cli_manages_tenants(backend: Backend) {
    let db = TestDb::create(backend).await;
    let ws = json_out(
        &db,
        &["workspace", "create", "--set", "name=Bodega Lima"],
        None,
    );
    let ws_id = ws["id"].as_str().expect("id").to_string();
    let listed = json_out(&db, &["workspace", "list"], None);
    assert!(listed.to_string().contains(&ws_id));

    let secrets =
        r#"{"access_token": "cli-token-abcdefgh-5678", "app_secret": "cli-app-secret-4321"}"#;
    let ch = json_out(
        &db,
        &[
            "channel",
            "create",
            "--workspace",
            &ws_id,
            "--set",
            "provider=cloud_api",
            "--set",
            "phone_number_id=400000000000004",
            "--set",
            "display_phone_number=+51911222333",
            "--set",
            "rate_per_sec:=20",
            "--stdin",
        ],
        Some(secrets),
    );
    assert_eq!(ch["rate_per_sec"], 20);
    assert_eq!(ch["access_token_hint"], "…5678");
    let ch_id = ch["id"].as_str().expect("id").to_string();
    let ch = json_out(&db, &["channel", "disable", &ch_id], None);
    assert_eq!(ch["enabled"], false);

    // Bad input: every problem named, nonzero exit, nothing created.
    let (ok, _, err) = run(
        &db,
        &[
            "channel",
            "create",
            "--workspace",
            &ws_id,
            "--set",
            "rate_per_sec:=-1",
        ],
        None,
    );
    assert!(!ok);
    assert!(
        err.contains("provider") && err.contains("rate_per_sec"),
        "{err}"
    );
    let channels = json_out(&db, &["channel", "list", "--workspace", &ws_id], None);
    assert_eq!(channels.as_array().map(Vec::len), Some(1));

    let (ok, key, err) = run(&db, &["key", "create", "--workspace", &ws_id], None);
    assert!(ok, "{err}");
    assert!(
        key.trim().starts_with("chq_"),
        "the key alone on stdout: {key}"
    );
    let keys = json_out(&db, &["key", "list", "--workspace", &ws_id], None);
    let key_id = keys[0]["id"].as_str().expect("id").to_string();
    assert!(!keys[0]["scopes"].to_string().contains("admin"), "{keys}");
    let revoked = json_out(&db, &["key", "revoke", &key_id], None);
    assert_eq!(revoked["status"], "revoked");

    let (ok, _, err) = run(&db, &["workspace", "delete", &ws_id], None);
    assert!(!ok && err.contains("channels"), "{err}");
    let (ok, _, err) = run(&db, &["channel", "delete", &ch_id], None);
    assert!(ok, "{err}");
    let (ok, _, err) = run(&db, &["workspace", "delete", &ws_id], None);
    assert!(ok, "{err}");
    let (ok, _, _) = run(&db, &["workspace", "get", &ws_id], None);
    assert!(!ok);
}

on_both_backends!(
    every_route_checks_authentication_and_scope,
    admin_api_manages_tenants,
    dialog360_channel_sends_with_its_api_key,
    cli_manages_tenants,
);

/// Meta's published expiry dates: an expired Graph API version is refused, one expiring within
/// 60 days is accepted and named on `/readyz`, and the default is current.
#[tokio::test]
async fn graph_api_versions_follow_metas_expiry_dates() {
    let s = TestServer::start(Backend::Sqlite).await;
    let (status, ready) = s.get_json("/readyz").await;
    assert_eq!(status, 200);
    assert!(ready.get("warnings").is_none(), "{ready}");
    let (_, ws) = s
        .request_json(
            Method::POST,
            "/v1/admin/workspaces",
            &json!({"name": "versions"}),
        )
        .await;
    let ws = ws["id"].as_str().unwrap().to_string();
    let channel = |version: &str| {
        let (id, number) = crate::support::fresh_number();
        json!({"provider": "sandbox", "phone_number_id": id, "display_phone_number": number,
               "api_version": version})
    };
    let path = format!("/v1/admin/workspaces/{ws}/channels");
    let (status, refused) = s.request_json(Method::POST, &path, &channel("v20.0")).await;
    assert_eq!(status, 422, "{refused}");
    assert_eq!(refused["errors"][0]["field"], "api_version");
    assert!(refused["errors"][0]["message"]
        .as_str()
        .unwrap()
        .contains("expired on 2026-09-24"));
    let (_, channels) = s.request_json(Method::GET, &path, &Value::Null).await;
    assert_eq!(
        channels["data"].as_array().unwrap().len(),
        0,
        "nothing was created"
    );

    // Today is within 60 days of v21.0's last day (2027-01-21) until that day passes.
    let still_answered =
        chasqui_domain::graph_version::check("v21.0", ::chasqui::clock::now_ms()).is_ok();
    let (status, created) = s.request_json(Method::POST, &path, &channel("v21.0")).await;
    if still_answered {
        assert_eq!(status, 201, "{created}");
        let (_, ready) = s.get_json("/readyz").await;
        let warnings = ready["warnings"].to_string();
        assert!(
            warnings.contains(created["id"].as_str().unwrap()),
            "{ready}"
        );
        assert!(warnings.contains("v21.0 expires on 2027-01-21"), "{ready}");
    } else {
        assert_eq!(status, 422, "{created}");
    }
    let (status, current) = s.request_json(Method::POST, &path, &channel("v25.0")).await;
    assert_eq!(status, 201, "{current}");
    s.stop().await;
}
