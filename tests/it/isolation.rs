//! Workspaces do not see each other: every resource answers another workspace's key with 404
//! (existence does not leak) and stays unchanged; Meta webhooks reach only the channel their
//! phone number id and app secret name; key lifecycle over HTTP; bad admin input; two
//! workspaces at once under load; no secret in the logs of a real process.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::{json, Value};

use crate::on_both_backends;
use crate::support::{fresh_number, request_with, Backend, Tenant, TestServer, APP_SECRET};

/// A Meta webhook with one inbound text from `from` to the channel `phone_number_id`.
fn inbound(phone_number_id: &str, display: &str, from: &str, wamid: &str, text: &str) -> Value {
    json!({"object": "whatsapp_business_account", "entry": [{"id": "102290129340398", "changes": [{
    "field": "messages",
    "value": {
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": display.trim_start_matches('+'), "phone_number_id": phone_number_id},
        "contacts": [{"profile": {"name": "Cliente"}, "wa_id": from}],
        "messages": [{"from": from, "id": wamid, "timestamp": "1750000000", "type": "text",
                      "text": {"body": text}}]
    }}]}]})
}

/// A Meta status webhook for `wamid` (Chasqui's `message_id` as callback data) on `phone_number_id`.
fn status(phone_number_id: &str, wamid: &str, message_id: &str, to: &str, st: &str) -> Value {
    json!({"object": "whatsapp_business_account", "entry": [{"id": "102290129340398", "changes": [{
    "field": "messages",
    "value": {
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": "15550000000", "phone_number_id": phone_number_id},
        "statuses": [{"id": wamid, "status": st, "timestamp": "1750000001", "recipient_id": to,
                      "biz_opaque_callback_data": message_id,
                      "errors": [{"code": 131026, "title": "Message undeliverable"}]}]
    }}]}]})
}

/// Waits until each message of `t` has reached one of `statuses`.
async fn wait_status(t: &Tenant, ids: &[String], statuses: &[&str]) -> Vec<Value> {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let mut all = Vec::with_capacity(ids.len());
        for id in ids {
            let (code, m) = t.get_json(&format!("/v1/messages/{id}")).await;
            assert_eq!(code, 200, "{m}");
            all.push(m);
        }
        if all
            .iter()
            .all(|m| statuses.contains(&m["status"].as_str().unwrap_or("")))
        {
            return all;
        }
        assert!(
            Instant::now() < deadline,
            "messages did not reach {statuses:?}: {:?}",
            all.iter().map(|m| &m["status"]).collect::<Vec<_>>()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Every message `t` lists, walking the cursor.
async fn all_messages(t: &Tenant, query: &str) -> Vec<Value> {
    let mut out = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(c) => format!("/v1/messages?limit=200{query}&cursor={c}"),
            None => format!("/v1/messages?limit=200{query}"),
        };
        let (code, page) = t.get_json(&path).await;
        assert_eq!(code, 200, "{page}");
        out.extend(page["data"].as_array().cloned().unwrap_or_default());
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_string()),
            None => return out,
        }
    }
}

fn ids_of(page: &Value) -> Vec<String> {
    page["data"]
        .as_array()
        .map(|d| {
            d.iter()
                .filter_map(|x| x["id"].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

/// 404 with the problem code `not_found`.
fn assert_404(what: &str, (code, body): (u16, Value)) {
    assert_eq!(code, 404, "{what}: {body}");
    assert_eq!(body["code"], "not_found", "{what}: {body}");
}

fn assert_unknown_channel(what: &str, (code, body): (u16, Value)) {
    assert_eq!(code, 422, "{what}: {body}");
    let problems = body["errors"].to_string() + &body.to_string();
    assert!(problems.contains("unknown_channel"), "{what}: {body}");
}

async fn another_workspace_sees_nothing_of_anothers(backend: Backend) {
    let media_dir = std::env::temp_dir().join(format!(
        "chasqui-iso-media-{}",
        uuid::Uuid::now_v7().simple()
    ));
    let dir = media_dir.clone();
    let server = TestServer::start_with(backend, move |c| c.media.dir = dir).await;
    let a = server.new_workspace("A").await;
    let b = server.new_workspace("B").await;

    // A's data: a delivered message, an inbound message (contact, conversation), media, a
    // business webhook and a template.
    let a_to = "+5215511110001";
    let a_msg = a
        .send_ok(&json!({"to": a_to, "type": "text", "text": {"body": "hola A"}}))
        .await;
    wait_status(&a, std::slice::from_ref(&a_msg), &["delivered", "read"]).await;
    let from = "5215511110002";
    let (code, body) = server
        .post_meta(
            &inbound(
                &a.phone_number_id,
                &a.display_number,
                from,
                "wamid.ISO-A-IN-1",
                "hola",
            ),
            Some(APP_SECRET),
        )
        .await;
    assert_eq!(code, 200, "{body}");
    let (_, contacts) = a.get_json("/v1/contacts?limit=200").await;
    let contact = contacts["data"]
        .as_array()
        .and_then(|d| d.iter().find(|c| c["wa_id"] == from).cloned())
        .unwrap_or_else(|| panic!("A's contact {from} missing: {contacts}"));
    let contact_id = contact["id"].as_str().expect("contact id").to_string();
    let (_, convs) = a.get_json("/v1/conversations?limit=200").await;
    let conv = convs["data"]
        .as_array()
        .and_then(|d| {
            d.iter()
                .find(|c| c["contact"] == contact_id.as_str())
                .cloned()
        })
        .unwrap_or_else(|| panic!("A's conversation missing: {convs}"));
    let conv_id = conv["id"].as_str().expect("conversation id").to_string();
    assert_eq!(conv["channel"], a.channel_id.as_str());

    let mut png = vec![0x89, b'P', b'N', b'G', 0x0d, 0x0a, 0x1a, 0x0a];
    png.extend((0..200u32).map(|i| (i % 251) as u8));
    let resp = server
        .http
        .post(server.url("/v1/media?filename=a.png"))
        .bearer_auth(&a.key)
        .header("content-type", "image/png")
        .body(png.clone())
        .send()
        .await
        .expect("upload");
    assert_eq!(resp.status(), 201);
    let media: Value = resp.json().await.expect("json");
    let media_id = media["id"].as_str().expect("media id").to_string();

    let (code, hook) = a
        .request(
            Method::POST,
            "/v1/webhooks",
            &json!({"url": "http://127.0.0.1:9/a-hook", "events": ["message.delivered"]}),
        )
        .await;
    assert_eq!(code, 201, "{hook}");
    let hook_id = hook["id"].as_str().expect("hook id").to_string();

    let (code, tpl) = a
        .request(
            Method::POST,
            "/v1/templates",
            &json!({"name": "iso_a_only", "language": "es", "category": "UTILITY", "components": [
                {"type": "BODY", "text": "Hola {{1}}.", "example": {"body_text": [["Ana"]]}}]}),
        )
        .await;
    assert_eq!(code, 201, "{tpl}");

    // B's key against all of it: 404, never 403.
    assert_404(
        "message",
        b.get_json(&format!("/v1/messages/{a_msg}")).await,
    );
    let (code, page) = b.get_json("/v1/messages?limit=200").await;
    assert_eq!(code, 200);
    assert!(ids_of(&page).is_empty(), "B lists A's messages: {page}");
    let (_, page) = b
        .get_json(&format!("/v1/messages?to={}", a_to.replace('+', "%2B")))
        .await;
    assert!(ids_of(&page).is_empty(), "B filters A's messages: {page}");

    let (_, page) = b.get_json("/v1/contacts?limit=200").await;
    assert!(ids_of(&page).is_empty(), "B lists A's contacts: {page}");
    assert_404(
        "contact",
        b.get_json(&format!("/v1/contacts/{contact_id}")).await,
    );
    assert_404(
        "contact patch",
        b.request(
            Method::PATCH,
            &format!("/v1/contacts/{contact_id}"),
            &json!({"name": "Hijacked", "tags": ["b"]}),
        )
        .await,
    );

    let (_, page) = b.get_json("/v1/conversations?limit=200").await;
    assert!(
        ids_of(&page).is_empty(),
        "B lists A's conversations: {page}"
    );
    assert_404(
        "conversation",
        b.get_json(&format!("/v1/conversations/{conv_id}")).await,
    );

    assert_404("media", b.get_json(&format!("/v1/media/{media_id}")).await);

    let (_, hooks) = b.get_json("/v1/webhooks").await;
    assert!(
        !hooks.to_string().contains(&hook_id),
        "B lists A's webhook: {hooks}"
    );
    let hook_path = format!("/v1/webhooks/{hook_id}");
    assert_404("webhook", b.get_json(&hook_path).await);
    assert_404(
        "webhook patch",
        b.request(
            Method::PATCH,
            &hook_path,
            &json!({"url": "http://127.0.0.1:9/b"}),
        )
        .await,
    );
    assert_404(
        "webhook deliveries",
        b.get_json(&format!("{hook_path}/deliveries")).await,
    );
    assert_404(
        "webhook replay",
        b.request(
            Method::POST,
            &format!("{hook_path}/replay"),
            &json!({"since": "2020-01-01T00:00:00Z"}),
        )
        .await,
    );
    assert_404(
        "webhook delete",
        b.request(Method::DELETE, &hook_path, &Value::Null).await,
    );

    // Templates: B lists only its own channel's; naming A's channel is refused.
    let (code, tpls) = b.get_json("/v1/templates").await;
    assert_eq!(code, 200, "{tpls}");
    for t in tpls["data"].as_array().cloned().unwrap_or_default() {
        assert_eq!(
            t["channel"],
            b.channel_id.as_str(),
            "B lists another channel's template: {t}"
        );
    }
    let (code, body) = b
        .get_json(&format!("/v1/templates?channel={}", a.channel_id))
        .await;
    assert!((400..500).contains(&code) && code != 403, "{code} {body}");
    assert!(!body.to_string().contains("iso_a_only"), "{body}");

    // Sending through A's channel, by id or number, plain or template: unknown to B.
    let before = server.sandbox_messages().await.len();
    for channel in [a.channel_id.as_str(), a.display_number.as_str()] {
        assert_unknown_channel(
            "text via A's channel",
            b.request(
                Method::POST,
                "/v1/messages",
                &json!({"to": "+5215511110003", "channel": channel, "type": "text", "text": {"body": "x"}}),
            )
            .await,
        );
        assert_unknown_channel(
            "template via A's channel",
            b.request(
                Method::POST,
                "/v1/messages",
                &json!({"to": "+5215511110003", "channel": channel, "type": "template",
                        "template": {"name": "iso_a_only", "language": {"code": "es"},
                                     "components": [{"type": "body", "parameters": [{"type": "text", "text": "Ana"}]}]}}),
            )
            .await,
        );
    }
    assert_unknown_channel(
        "template sync of A's channel",
        b.request(
            Method::POST,
            "/v1/templates/sync",
            &json!({"channel": a.channel_id}),
        )
        .await,
    );
    let resp = server
        .http
        .post(server.url(&format!(
            "/v1/media?filename=b.png&channel={}",
            a.channel_id
        )))
        .bearer_auth(&b.key)
        .header("content-type", "image/png")
        .body(png)
        .send()
        .await
        .expect("upload");
    assert_eq!(resp.status(), 404, "B uploads through A's channel");
    let (_, page) = b.get_json("/v1/messages?limit=200").await;
    assert!(
        ids_of(&page).is_empty(),
        "a refused send stored something: {page}"
    );

    // Idempotency keys are per API key: B's same key is not A's request.
    let send_idem = |key: &str, to: &str| {
        server
            .http
            .post(server.url("/v1/messages"))
            .bearer_auth(key.to_string())
            .header("idempotency-key", "order-1")
            .json(&json!({"to": to, "type": "text", "text": {"body": "idem"}}))
            .send()
    };
    let first: Value = send_idem(&a.key, "+5215511110004")
        .await
        .expect("send")
        .json()
        .await
        .expect("json");
    let resp = send_idem(&b.key, "+5215511110005").await.expect("send");
    assert_eq!(resp.status(), 202);
    let second: Value = resp.json().await.expect("json");
    assert_ne!(first["id"], second["id"], "B got A's idempotent answer");
    let b_idem = second["id"].as_str().expect("id").to_string();
    let (_, page) = b.get_json("/v1/messages?limit=200").await;
    assert_eq!(ids_of(&page), vec![b_idem], "{page}");
    let a_idem = first["id"].as_str().expect("id").to_string();
    let (_, page) = a.get_json("/v1/messages?limit=200").await;
    assert_eq!(
        ids_of(&page),
        vec![a_idem.clone(), a_msg.clone()],
        "B's sends landed in A"
    );
    let after = server.sandbox_messages().await;
    assert!(
        !after.iter().any(|m| m["to"] == "5215511110003"),
        "a refused send reached the provider ({before} before)"
    );

    // The in-process sandbox is shared by every workspace (its log holds everyone's recipients
    // and bodies, its settings and simulated customers act on every channel): operators only.
    let (code, log) = b.get_json("/v1/sandbox/messages").await;
    assert_eq!(code, 403, "a tenant reads the shared sandbox: {log}");
    assert!(!log.to_string().contains(&a_to[1..]), "{log}");
    let (code, body) = b
        .request(
            Method::POST,
            "/v1/sandbox/inbound",
            &json!({"phone_number_id": a.phone_number_id, "from": "5215511110009", "message": {"type": "text", "text": {"body": "x"}}}),
        )
        .await;
    assert_eq!(
        code, 403,
        "a tenant writes to A's number through the sandbox: {body}"
    );

    // Business webhooks: B's events reach B's endpoint, never A's.
    wait_status(&a, std::slice::from_ref(&a_idem), &["read"]).await;
    let hook_for = |t: &Tenant, url: &'static str| {
        let t = t.clone();
        async move {
            let (code, hook) = t
                .request(
                    Method::POST,
                    "/v1/webhooks",
                    &json!({"url": url, "events": ["message.read"]}),
                )
                .await;
            assert_eq!(code, 201, "{hook}");
            hook["id"].as_str().expect("id").to_string()
        }
    };
    let (a_hook2, b_hook) = (
        hook_for(&a, "http://127.0.0.1:9/a2").await,
        hook_for(&b, "http://127.0.0.1:9/b").await,
    );
    let mut b_ids = Vec::new();
    for i in 0..3 {
        b_ids.push(
            b.send_ok(
                &json!({"to": format!("+521551111002{i}"), "type": "text", "text": {"body": "B"}}),
            )
            .await,
        );
    }
    wait_status(&b, &b_ids, &["read"]).await;
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let (code, log) = b
            .get_json(&format!("/v1/webhooks/{b_hook}/deliveries?limit=200"))
            .await;
        assert_eq!(code, 200, "{log}");
        if log["data"].as_array().map_or(0, Vec::len) >= 3 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "B's endpoint never got its events: {log}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let (code, log) = a
        .get_json(&format!("/v1/webhooks/{a_hook2}/deliveries?limit=200"))
        .await;
    assert_eq!(code, 200, "{log}");
    assert_eq!(log["data"], json!([]), "B's events reached A's endpoint");

    // A's data is as it was.
    let (code, c) = a.get_json(&format!("/v1/contacts/{contact_id}")).await;
    assert_eq!(code, 200);
    assert_eq!(c["name"], contact["name"], "{c}");
    assert_eq!(c["tags"], contact["tags"], "{c}");
    let (code, h) = a.get_json(&hook_path).await;
    assert_eq!(code, 200, "{h}");
    assert_eq!(h["url"], "http://127.0.0.1:9/a-hook");
    assert_eq!(a.get_json(&format!("/v1/media/{media_id}")).await.0, 200);
    assert_eq!(
        a.get_json(&format!("/v1/conversations/{conv_id}")).await.0,
        200
    );
    server.stop().await;
    let _ = std::fs::remove_dir_all(&media_dir);
}

/// Meta webhooks are routed by `metadata.phone_number_id`, and only to a channel whose app
/// secret verified the signature.
async fn meta_webhooks_reach_only_the_named_and_verified_channel(backend: Backend) {
    let server = TestServer::start(backend).await;
    let a = server.new_workspace("A").await;
    let b = server.new_workspace("B").await;

    // An inbound for A's number lands in A only.
    let (code, _) = server
        .post_meta(
            &inbound(
                &a.phone_number_id,
                &a.display_number,
                "5215522220001",
                "wamid.ISO-A-1",
                "hola A",
            ),
            Some(APP_SECRET),
        )
        .await;
    assert_eq!(code, 200);
    let (_, a_contacts) = a.get_json("/v1/contacts").await;
    assert_eq!(
        a_contacts["data"].as_array().map(Vec::len),
        Some(1),
        "{a_contacts}"
    );
    let (_, b_contacts) = b.get_json("/v1/contacts").await;
    assert_eq!(b_contacts["data"], json!([]), "{b_contacts}");
    let (_, own) = server.get_json("/v1/contacts").await;
    assert!(!own.to_string().contains("5215522220001"), "{own}");

    // The same person writes to A and to B: each workspace has its own contact, and B's
    // changes to its contact leave A's alone.
    let both = "5215522220009";
    for (t, wamid) in [(&a, "wamid.ISO-BOTH-A"), (&b, "wamid.ISO-BOTH-B")] {
        let (code, _) = server
            .post_meta(
                &inbound(&t.phone_number_id, &t.display_number, both, wamid, "hola"),
                Some(APP_SECRET),
            )
            .await;
        assert_eq!(code, 200);
    }
    let contact_of = |t: &Tenant| {
        let t = t.clone();
        async move {
            let (_, all) = t.get_json("/v1/contacts?limit=200").await;
            all["data"]
                .as_array()
                .and_then(|d| d.iter().find(|c| c["wa_id"] == both).cloned())
                .unwrap_or_else(|| panic!("no contact {both}: {all}"))
        }
    };
    let (in_a, in_b) = (contact_of(&a).await, contact_of(&b).await);
    assert_ne!(in_a["id"], in_b["id"]);
    let (code, patched) = b
        .request(
            Method::PATCH,
            &format!("/v1/contacts/{}", in_b["id"].as_str().expect("id")),
            &json!({"name": "Named by B", "tags": ["vip"]}),
        )
        .await;
    assert_eq!(code, 200, "{patched}");
    let again = contact_of(&a).await;
    assert_eq!(again["name"], in_a["name"], "{again}");
    assert_eq!(again["tags"], in_a["tags"], "{again}");
    let (_, convs) = a.get_json("/v1/conversations?limit=200").await;
    for c in convs["data"].as_array().cloned().unwrap_or_default() {
        let (_, conv) = a
            .get_json(&format!(
                "/v1/conversations/{}?limit=200",
                c["id"].as_str().unwrap_or("")
            ))
            .await;
        assert!(!conv.to_string().contains("wamid.ISO-BOTH-B"), "{conv}");
    }

    // C: a cloud_api channel with its own Meta app secret, sending to the in-process sandbox.
    let (code, ws) = server
        .request_json(Method::POST, "/v1/admin/workspaces", &json!({"name": "C"}))
        .await;
    assert_eq!(code, 201, "{ws}");
    let c_ws = ws["id"].as_str().expect("id").to_string();
    let (c_pnid, c_number) = fresh_number();
    let (code, ch) = server
        .request_json(
            Method::POST,
            &format!("/v1/admin/workspaces/{c_ws}/channels"),
            &json!({"provider": "cloud_api", "phone_number_id": c_pnid, "display_phone_number": c_number,
                    "base_url": server.url("/sandbox/graph"), "access_token": "sandbox-token",
                    "app_secret": "secret-b", "window_policy": "off"}),
        )
        .await;
    assert_eq!(code, 201, "{ch}");
    let (code, key) = server
        .request_json(
            Method::POST,
            &format!("/v1/admin/workspaces/{c_ws}/keys"),
            &json!({}),
        )
        .await;
    assert_eq!(code, 201, "{key}");
    let c_key = key["key"].as_str().expect("key").to_string();
    let c_get = |path: String| {
        let (http, base, key) = (server.http.clone(), server.base.clone(), c_key.clone());
        async move { request_with(&http, &base, &key, Method::GET, &path, &Value::Null).await }
    };

    // Signed with a secret no channel has: refused.
    let (code, body) = server
        .post_meta(
            &inbound(&c_pnid, &c_number, "5215522220002", "wamid.ISO-C-0", "x"),
            Some("not-anyones-secret"),
        )
        .await;
    assert_eq!(code, 401, "{body}");
    // Signed with C's secret: applied to C.
    let (code, _) = server
        .post_meta(
            &inbound(
                &c_pnid,
                &c_number,
                "5215522220003",
                "wamid.ISO-C-1",
                "hola C",
            ),
            Some("secret-b"),
        )
        .await;
    assert_eq!(code, 200);
    let (_, c_contacts) = c_get("/v1/contacts".into()).await;
    let wa_ids: Vec<&Value> = c_contacts["data"]
        .as_array()
        .map(|d| d.iter().map(|c| &c["wa_id"]).collect())
        .unwrap_or_default();
    assert_eq!(wa_ids, vec![&json!("5215522220003")], "{c_contacts}");
    // Signed with another app's secret (the sandbox's) but naming C's number: not applied to C.
    server
        .post_meta(
            &inbound(
                &c_pnid,
                &c_number,
                "5215522220004",
                "wamid.ISO-C-2",
                "forged",
            ),
            Some(APP_SECRET),
        )
        .await;
    // Signed with C's secret but naming A's number: not applied to A.
    server
        .post_meta(
            &inbound(
                &a.phone_number_id,
                &a.display_number,
                "5215522220005",
                "wamid.ISO-A-2",
                "forged",
            ),
            Some("secret-b"),
        )
        .await;
    let (_, c_contacts) = c_get("/v1/contacts".into()).await;
    assert_eq!(
        c_contacts["data"].as_array().map(Vec::len),
        Some(1),
        "{c_contacts}"
    );
    let (_, a_contacts) = a.get_json("/v1/contacts").await;
    assert!(
        !a_contacts.to_string().contains("5215522220005"),
        "{a_contacts}"
    );
    assert!(
        !a_contacts.to_string().contains("5215522220004"),
        "{a_contacts}"
    );
    for t in [&a, &b] {
        let (_, all) = t.get_json("/v1/contacts").await;
        assert!(!all.to_string().contains("5215522220003"), "{all}");
    }

    // A status naming A's message under B's number changes nothing of A's.
    let a_to = "+5215522220006";
    let id = a
        .send_ok(&json!({"to": a_to, "type": "text", "text": {"body": "hola"}}))
        .await;
    let done = wait_status(&a, std::slice::from_ref(&id), &["read"]).await;
    let wamid = done[0]["wamid"].as_str().expect("wamid").to_string();
    server
        .post_meta(
            &status(&b.phone_number_id, &wamid, &id, &a_to[1..], "failed"),
            Some(APP_SECRET),
        )
        .await;
    let (_, after) = a.get_json(&format!("/v1/messages/{id}")).await;
    assert_eq!(after["status"], "read", "{after}");
    let failed = after["timeline"]
        .as_array()
        .is_some_and(|t| t.iter().any(|e| e["status"] == "failed"));
    assert!(
        !failed,
        "a status under another channel's number reached A: {after}"
    );
    server.stop().await;
}

/// Revocation, expiry, a disabled workspace, last use and scopes, over HTTP.
async fn key_lifecycle_takes_effect_on_the_next_request(backend: Backend) {
    let server = TestServer::start(backend).await;
    let a = server.new_workspace("A").await;
    let key_path = format!("/v1/admin/keys/{}", a.key_id);

    // First use records last_used_at (written shortly after the request).
    let (_, k) = server.get_json(&key_path).await;
    assert_eq!(k["last_used_at"], Value::Null, "{k}");
    assert_eq!(a.get_json("/v1/messages").await.0, 200);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (_, k) = server.get_json(&key_path).await;
        if k["last_used_at"].is_string() {
            break;
        }
        assert!(Instant::now() < deadline, "last_used_at never set: {k}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    // A disabled workspace's keys stop working, and work again once it is enabled.
    let ws_path = format!("/v1/admin/workspaces/{}", a.workspace_id);
    let (code, ws) = server
        .request_json(Method::PATCH, &ws_path, &json!({"disabled": true}))
        .await;
    assert_eq!(code, 200, "{ws}");
    let (code, body) = a.get_json("/v1/messages").await;
    assert_eq!(code, 401, "{body}");
    let (code, body) = a
        .request(
            Method::POST,
            "/v1/messages",
            &json!({"to": "+5215533330001", "type": "text", "text": {"body": "x"}}),
        )
        .await;
    assert_eq!(code, 401, "{body}");
    let (code, ws) = server
        .request_json(Method::PATCH, &ws_path, &json!({"disabled": false}))
        .await;
    assert_eq!(code, 200, "{ws}");
    assert_eq!(a.get_json("/v1/messages").await.0, 200);

    // A key without `send`: 403 on sending, nothing stored; reading still works.
    let (code, key) = server
        .request_json(
            Method::POST,
            &format!("/v1/admin/workspaces/{}/keys", a.workspace_id),
            &json!({"name": "reader", "scopes": ["read"]}),
        )
        .await;
    assert_eq!(code, 201, "{key}");
    let reader = key["key"].as_str().expect("key").to_string();
    let (code, body) = request_with(
        &server.http,
        &server.base,
        &reader,
        Method::POST,
        "/v1/messages",
        &json!({"to": "+5215533330002", "type": "text", "text": {"body": "x"}}),
    )
    .await;
    assert_eq!(code, 403, "{body}");
    assert_eq!(body["code"], "insufficient_scope", "{body}");
    let (code, page) = request_with(
        &server.http,
        &server.base,
        &reader,
        Method::GET,
        "/v1/messages",
        &Value::Null,
    )
    .await;
    assert_eq!(code, 200, "{page}");
    assert!(
        ids_of(&page).is_empty(),
        "a refused send was stored: {page}"
    );
    let to_numbers: Vec<_> = server
        .sandbox_messages()
        .await
        .into_iter()
        .filter(|m| m["to"] == "5215533330002")
        .collect();
    assert!(to_numbers.is_empty());

    // An expired key is refused.
    let soon = chrono_in(Duration::from_millis(1_500));
    let (code, k) = server
        .request_json(Method::PATCH, &key_path, &json!({"expires_at": soon}))
        .await;
    assert_eq!(code, 200, "{k}");
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (code, _) = a.get_json("/v1/messages").await;
        if code == 401 {
            break;
        }
        assert_eq!(code, 200);
        assert!(Instant::now() < deadline, "the key never expired");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let (_, k) = server.get_json(&key_path).await;
    assert_eq!(k["status"], "expired", "{k}");

    // A revoked key is refused on the very next request.
    let other = server.new_workspace("B").await;
    assert_eq!(other.get_json("/v1/messages").await.0, 200);
    let (code, k) = server
        .request_json(
            Method::DELETE,
            &format!("/v1/admin/keys/{}", other.key_id),
            &Value::Null,
        )
        .await;
    assert_eq!(code, 200, "{k}");
    assert_eq!(k["status"], "revoked", "{k}");
    let (code, body) = other.get_json("/v1/messages").await;
    assert_eq!(code, 401, "{body}");
    server.stop().await;
}

/// An RFC 3339 UTC time `ahead` from now.
fn chrono_in(ahead: Duration) -> String {
    let at = std::time::SystemTime::now() + ahead;
    let ms = at
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_millis();
    let secs = (ms / 1000) as i64;
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Civil date from days since the epoch (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{:03}Z",
        rem / 3600,
        (rem % 3600) / 60,
        rem % 60,
        ms % 1000
    )
}

/// Bad admin input: a 4xx naming every problem, and nothing created.
async fn bad_admin_input_is_refused_whole(backend: Backend) {
    let server = TestServer::start(backend).await;
    let a = server.new_workspace("A").await;
    let ws = &a.workspace_id;
    let count = |path: String| {
        let s = &server;
        async move {
            let (code, list) = s.get_json(&path).await;
            assert_eq!(code, 200, "{list}");
            list["data"].as_array().map(Vec::len).unwrap_or(0)
        }
    };
    let keys_path = format!("/v1/admin/workspaces/{ws}/keys");
    let channels_path = format!("/v1/admin/workspaces/{ws}/channels");
    let (keys_before, channels_before, ws_before) = (
        count(keys_path.clone()).await,
        count(channels_path.clone()).await,
        count("/v1/admin/workspaces".into()).await,
    );

    let fields = |body: &Value| -> Vec<String> {
        body["errors"]
            .as_array()
            .map(|e| {
                e.iter()
                    .filter_map(|p| p["field"].as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default()
    };

    let (code, body) = server
        .request_json(
            Method::POST,
            &keys_path,
            &json!({"name": "k", "scopes": ["send", "teleport"], "colour": "red", "rate_per_minute": 0}),
        )
        .await;
    assert!((400..500).contains(&code), "{code} {body}");
    let f = fields(&body);
    for field in ["scopes", "colour", "rate_per_minute"] {
        assert!(f.iter().any(|x| x == field), "{field} not named: {body}");
    }

    let (pnid, number) = fresh_number();
    let (code, body) = server
        .request_json(
            Method::POST,
            &channels_path,
            &json!({"phone_number_id": pnid, "display_phone_number": "12", "rate_per_sec": 5000, "colour": 1}),
        )
        .await;
    assert!((400..500).contains(&code), "{code} {body}");
    let f = fields(&body);
    for field in ["provider", "display_phone_number", "rate_per_sec", "colour"] {
        assert!(f.iter().any(|x| x == field), "{field} not named: {body}");
    }

    // The number of A's channel, taken again: a conflict.
    let (code, body) = server
        .request_json(
            Method::POST,
            &channels_path,
            &json!({"provider": "sandbox", "phone_number_id": a.phone_number_id, "display_phone_number": number}),
        )
        .await;
    assert_eq!(code, 409, "{body}");
    let (code, body) = server
        .request_json(
            Method::POST,
            "/v1/admin/workspaces",
            &json!({"name": "", "owner": "x"}),
        )
        .await;
    assert!((400..500).contains(&code), "{code} {body}");
    let f = fields(&body);
    assert!(
        f.iter().any(|x| x == "name") && f.iter().any(|x| x == "owner"),
        "{body}"
    );

    assert_eq!(count(keys_path).await, keys_before);
    assert_eq!(count(channels_path).await, channels_before);
    assert_eq!(count("/v1/admin/workspaces".into()).await, ws_before);
    server.stop().await;
}

/// Sends `n` texts as `t` from 8 concurrent senders, to 50 recipients whose numbers start
/// with `prefix`; answers (message id, recipient) of each.
async fn send_all(t: &Tenant, prefix: &'static str, n: usize) -> Vec<(String, String)> {
    const SENDERS: usize = 8;
    let mut set = tokio::task::JoinSet::new();
    for w in 0..SENDERS {
        let t = t.clone();
        set.spawn(async move {
            let mut out = Vec::new();
            for i in (w..n).step_by(SENDERS) {
                let to = format!("+52155{prefix}{:05}", i % 50);
                let body =
                    json!({"to": to, "type": "text", "text": {"body": format!("{prefix} {i}")}});
                out.push((t.send_ok(&body).await, to));
            }
            out
        });
    }
    let mut all = Vec::with_capacity(n);
    while let Some(done) = set.join_next().await {
        all.extend(done.expect("sender task"));
    }
    all
}

/// Two workspaces sending at once: each sees exactly its own messages, and each message left
/// from its own channel's number.
async fn two_workspaces_under_load_stay_apart(backend: Backend) {
    const EACH: usize = 300;
    let server = TestServer::start(backend).await;
    let a = server.new_workspace("A").await;
    let b = server.new_workspace("B").await;
    let (sent_a, sent_b) = tokio::join!(send_all(&a, "111", EACH), send_all(&b, "222", EACH));

    for (t, sent, other) in [(&a, &sent_a, &sent_b), (&b, &sent_b, &sent_a)] {
        let mine: HashSet<&str> = sent.iter().map(|(id, _)| id.as_str()).collect();
        let theirs: HashSet<&str> = other.iter().map(|(id, _)| id.as_str()).collect();
        let their_to: HashSet<String> = other.iter().map(|(_, to)| to[1..].to_string()).collect();
        let deadline = Instant::now() + Duration::from_secs(60);
        let listed = loop {
            let listed = all_messages(t, "").await;
            let done = listed
                .iter()
                .filter(|m| matches!(m["status"].as_str(), Some("delivered" | "read")))
                .count();
            if done == EACH && listed.len() == EACH {
                break listed;
            }
            assert!(
                Instant::now() < deadline,
                "{} of {} delivered, {EACH} expected",
                done,
                listed.len()
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        };
        let listed_ids: HashSet<&str> = listed.iter().filter_map(|m| m["id"].as_str()).collect();
        assert_eq!(
            listed_ids, mine,
            "a workspace lists exactly its own messages"
        );
        assert!(listed_ids.is_disjoint(&theirs));
        for m in &listed {
            let to = m["to"].as_str().unwrap_or("").trim_start_matches('+');
            assert!(!their_to.contains(to), "lists the other's recipient: {m}");
        }
        // The other's ids are not found by id either.
        for (id, _) in other.iter().take(5) {
            assert_eq!(t.get_json(&format!("/v1/messages/{id}")).await.0, 404);
        }
    }

    // Each message left from its own workspace's number.
    let log = server.sandbox_messages().await;
    for (t, sent) in [(&a, &sent_a), (&b, &sent_b)] {
        let ids: HashSet<&str> = sent.iter().map(|(id, _)| id.as_str()).collect();
        let from: Vec<&Value> = log
            .iter()
            .filter(|m| m["callback_data"].as_str().is_some_and(|c| ids.contains(c)))
            .collect();
        assert_eq!(from.len(), EACH, "sandbox log has every message once");
        assert!(
            from.iter()
                .all(|m| m["phone_number_id"] == t.phone_number_id.as_str()),
            "a message left from another workspace's number"
        );
    }
    server.stop().await;
}

on_both_backends!(
    another_workspace_sees_nothing_of_anothers,
    meta_webhooks_reach_only_the_named_and_verified_channel,
    key_lifecycle_takes_effect_on_the_next_request,
    bad_admin_input_is_refused_whole,
    two_workspaces_under_load_stay_apart,
);

/// A port nothing listens on (bound, then released).
fn refused_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("port")
}

/// A full run of a real `chasqui serve` at debug level: channel secrets, verify tokens and API
/// keys never appear in its output, and the admin API shows only hints of them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secrets_never_appear_in_logs() {
    secrets_never_appear_in_logs_as("text").await
}

/// The same with `log_format = "json"`: every line is a JSON object, and no secret is in any.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secrets_never_appear_in_json_logs() {
    secrets_never_appear_in_logs_as("json").await
}

/// The level of a log line in `format`, as the subscriber writes it (ANSI off: a file).
fn log_level(format: &str, line: &str) -> String {
    if format == "json" {
        let v: Value = serde_json::from_str(line)
            .unwrap_or_else(|e| panic!("a JSON log line is not JSON ({e}): {line}"));
        return v["level"].as_str().unwrap_or_default().to_string();
    }
    ["ERROR", "WARN", "INFO", "DEBUG", "TRACE"]
        .into_iter()
        .find(|l| line.split_whitespace().nth(1) == Some(*l))
        .unwrap_or_default()
        .to_string()
}

async fn secrets_never_appear_in_logs_as(format: &str) {
    use crate::process::{chasqui, wait_ready, Proc};
    let db = crate::support::TestDb::create(Backend::Sqlite).await;
    let dir = db.dir();
    let (out_path, err_path) = (dir.join("serve.stdout"), dir.join("serve.stderr"));
    let port = refused_port();
    let base = format!("http://127.0.0.1:{port}");
    // Distinctive values, each long enough that a hint shows only its last four characters.
    let sandbox_token = "EAAG-sandbox-token-LEAKCHECK-0001";
    // A message body: never at info level or above.
    const BODY: &str = "hola BODY-LEAKCHECK-0007";
    let sandbox_secret = "sandbox-app-secret-LEAKCHECK-0002";
    let token_1 = sandbox_token; // the in-process sandbox accepts only its own token
                                 // The sandbox signs its status webhooks with its own secret: the channel's Meta app.
    let secret_1 = sandbox_secret;
    let default_verify = "default-verify-token-LEAKCHECK-0003";
    let verify_1 = "channel-verify-token-LEAKCHECK-0004";
    let token_2 = "EAAG-unreachable-token-LEAKCHECK-0005";
    let secret_2 = "unreachable-app-secret-LEAKCHECK-0006";
    let mut cmd = chasqui(&db);
    cmd.arg("serve")
        .env("RUST_LOG", "debug")
        .env("CHASQUI_LOG_FORMAT", format)
        .env("CHASQUI_LISTEN", format!("127.0.0.1:{port}"))
        .env("CHASQUI_DEFAULT_CHANNEL__ACCESS_TOKEN", sandbox_token)
        .env("CHASQUI_DEFAULT_CHANNEL__APP_SECRET", sandbox_secret)
        .env("CHASQUI_DEFAULT_CHANNEL__VERIFY_TOKEN", default_verify)
        .env("CHASQUI_DEFAULT_CHANNEL__RATE_PER_SEC", "0")
        .env("CHASQUI_DEFAULT_CHANNEL__PAIR_INTERVAL_MS", "0")
        .env("CHASQUI_DISPATCHER__POLL_MS", "20")
        .env("CHASQUI_DISPATCHER__PROVIDER_TIMEOUT_MS", "1000")
        .env("CHASQUI_DISPATCHER__RETRY_BASE_MS", "50")
        .env("CHASQUI_DISPATCHER__RETRY_MAX_MS", "200")
        .stdout(std::fs::File::create(&out_path).expect("stdout file"))
        .stderr(std::fs::File::create(&err_path).expect("stderr file"));
    let proc = Proc(cmd.spawn().expect("spawn serve"));
    wait_ready(&base).await;
    let first_key = {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let out = std::fs::read_to_string(&out_path).unwrap_or_default();
            if let Some(k) = out.lines().map(str::trim).find(|l| l.starts_with("chq_")) {
                break k.to_string();
            }
            assert!(Instant::now() < deadline, "no first key printed: {out}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    };
    let http = crate::support::http();
    let call = |key: String, method: Method, path: String, body: Value| {
        let (http, base) = (http.clone(), base.clone());
        async move { request_with(&http, &base, &key, method, &path, &body).await }
    };
    let admin = |method: Method, path: &str, body: Value| {
        call(first_key.clone(), method, path.to_string(), body)
    };

    let (code, ws) = admin(
        Method::POST,
        "/v1/admin/workspaces",
        json!({"name": "Logs"}),
    )
    .await;
    assert_eq!(code, 201, "{ws}");
    let ws = ws["id"].as_str().expect("id").to_string();
    let (pnid_1, number_1) = fresh_number();
    let (code, ch1) = admin(
        Method::POST,
        &format!("/v1/admin/workspaces/{ws}/channels"),
        json!({"provider": "cloud_api", "phone_number_id": pnid_1, "display_phone_number": number_1,
               "base_url": format!("{base}/sandbox/graph"), "access_token": token_1,
               "app_secret": secret_1, "verify_token": verify_1, "window_policy": "off",
               "rate_per_sec": 0, "pair_interval_ms": 0}),
    )
    .await;
    assert_eq!(code, 201, "{ch1}");
    let (pnid_2, number_2) = fresh_number();
    let (code, ch2) = admin(
        Method::POST,
        &format!("/v1/admin/workspaces/{ws}/channels"),
        json!({"provider": "cloud_api", "phone_number_id": pnid_2, "display_phone_number": number_2,
               "base_url": format!("http://127.0.0.1:{}", refused_port()), "access_token": token_2,
               "app_secret": secret_2, "window_policy": "off", "rate_per_sec": 0, "pair_interval_ms": 0}),
    )
    .await;
    assert_eq!(code, 201, "{ch2}");
    let (code, key) = admin(
        Method::POST,
        &format!("/v1/admin/workspaces/{ws}/keys"),
        json!({"name": "logs"}),
    )
    .await;
    assert_eq!(code, 201, "{key}");
    let tenant_key = key["key"].as_str().expect("key").to_string();

    // The admin API shows hints only.
    for (ch, token, secret) in [(&ch1, token_1, secret_1), (&ch2, token_2, secret_2)] {
        let id = ch["id"].as_str().expect("id");
        let (code, shown) = admin(
            Method::GET,
            &format!("/v1/admin/channels/{id}"),
            Value::Null,
        )
        .await;
        assert_eq!(code, 200, "{shown}");
        let text = shown.to_string();
        for s in [token, secret, verify_1] {
            assert!(!text.contains(s), "the channel view shows a secret: {text}");
        }
        assert_eq!(
            shown["access_token_hint"],
            format!("…{}", &token[token.len() - 4..])
        );
        assert_eq!(
            shown["app_secret_hint"],
            format!("…{}", &secret[secret.len() - 4..])
        );
        assert!(!ch.to_string().contains(token) && !ch.to_string().contains(secret));
    }
    let (_, list) = admin(
        Method::GET,
        &format!("/v1/admin/workspaces/{ws}/channels"),
        Value::Null,
    )
    .await;
    for s in [token_1, secret_1, verify_1, token_2, secret_2] {
        assert!(
            !list.to_string().contains(s),
            "the channel list shows a secret"
        );
    }

    // Use it all: sends through both channels, Meta's subscription check, signed and forged
    // webhooks.
    let send = |channel: &str, to: &str| {
        call(
            tenant_key.clone(),
            Method::POST,
            "/v1/messages".into(),
            json!({"to": to, "channel": channel, "type": "text", "text": {"body": BODY}}),
        )
    };
    let (code, sent) = send(ch1["id"].as_str().expect("id"), "+5215544440001").await;
    assert_eq!(code, 202, "{sent}");
    let (code, sent_2) = send(ch2["id"].as_str().expect("id"), "+5215544440002").await;
    assert_eq!(code, 202, "{sent_2}");
    let (code, _) = call(
        first_key.clone(),
        Method::POST,
        "/v1/messages".into(),
        json!({"to": "+5215544440003", "type": "text", "text": {"body": "hola"}}),
    )
    .await;
    assert_eq!(code, 202);
    let challenge = http
        .get(format!(
            "{base}/webhooks/meta?hub.mode=subscribe&hub.verify_token={verify_1}&hub.challenge=42"
        ))
        .send()
        .await
        .expect("subscribe");
    assert_eq!(challenge.status(), 200);
    for secret in [secret_1, "wrong-secret"] {
        let payload = inbound(&pnid_1, &number_1, "5215544440004", "wamid.LOGS-1", "hola");
        let body = serde_json::to_vec(&payload).expect("json");
        let resp = http
            .post(format!("{base}/webhooks/meta"))
            .header("content-type", "application/json")
            .header(
                "x-hub-signature-256",
                crate::support::sign_meta(&body, secret),
            )
            .body(body)
            .send()
            .await
            .expect("webhook");
        assert!(resp.status() == 200 || resp.status() == 401);
    }
    // The sandbox channel's message is delivered (its webhooks signed and verified), the other
    // one fails to connect and is retried.
    let id = sent["id"].as_str().expect("id").to_string();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let (_, m) = call(
            tenant_key.clone(),
            Method::GET,
            format!("/v1/messages/{id}"),
            Value::Null,
        )
        .await;
        if matches!(m["status"].as_str(), Some("delivered" | "read")) {
            break;
        }
        assert!(Instant::now() < deadline, "never delivered: {m}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let (code, _) = call(
        "chq_not-a-key".into(),
        Method::GET,
        "/v1/messages".into(),
        Value::Null,
    )
    .await;
    assert_eq!(code, 401);
    tokio::time::sleep(Duration::from_millis(500)).await;
    drop(proc);

    let stdout = std::fs::read_to_string(&out_path).expect("stdout");
    let stderr = std::fs::read_to_string(&err_path).expect("stderr");
    assert!(
        stderr.lines().count() > 20,
        "expected debug logs, got: {stderr}"
    );
    for (name, secret) in [
        ("sandbox access token", sandbox_token),
        ("sandbox app secret", sandbox_secret),
        ("channel access token", token_1),
        ("default channel's verify token", default_verify),
        ("channel verify token", verify_1),
        ("unreachable channel's token", token_2),
        ("unreachable channel's secret", secret_2),
        ("created API key", tenant_key.as_str()),
        ("first API key", first_key.as_str()),
    ] {
        assert!(
            !stderr.contains(secret),
            "the {name} is in the logs: {}",
            stderr
                .lines()
                .filter(|l| l.contains(secret))
                .take(3)
                .collect::<Vec<_>>()
                .join("\n")
        );
        let on_stdout = stdout.matches(secret).count();
        let allowed = usize::from(name == "first API key");
        assert_eq!(on_stdout, allowed, "the {name} on stdout: {stdout}");
    }
    for line in stderr.lines().filter(|l| !l.trim().is_empty()) {
        // A text event may span lines (a multi-line error); each JSON line is one event.
        let level = log_level(format, line);
        assert!(
            format == "text" || !level.is_empty(),
            "a JSON log line without a level: {line}"
        );
        if matches!(level.as_str(), "INFO" | "WARN" | "ERROR") {
            assert!(
                !line.contains("BODY-LEAKCHECK"),
                "a message body at {level}: {line}"
            );
        }
    }
    if format == "json" {
        // The request spans are there, with their ids and matched routes.
        assert!(
            stderr.contains("\"request_id\"") && stderr.contains("\"route\":\"/v1/messages\""),
            "no request span in the JSON log"
        );
    }
    let _ = &db;
}
