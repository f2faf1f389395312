//! Marketing consent (issue 17 A5): Meta's `user_preferences` webhook, customers' stop and
//! resume keywords (the defaults and a workspace's own), and Meta's 131050 set or clear a
//! contact's marketing opt-out; a MARKETING template to such a contact is refused before
//! anything is stored, while utility templates and replies still go; every change is in the
//! contact's history and reaches the business as a webhook event.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use reqwest::Method;
use serde_json::{json, Value};

use crate::on_both_backends;
use crate::support::{
    request_with, test_config, Backend, Tenant, TestDb, TestServer, APP_SECRET, PHONE_NUMBER_ID,
};
use crate::templates::submit_approved;

async fn start(backend: Backend) -> TestServer {
    let db = TestDb::create_named(backend, "consent").await;
    let cfg = test_config(&db);
    TestServer::start_on(db, cfg).await
}

/// A `user_preferences` delivery for the default channel, shaped as pywa's fixture.
fn preference(wa_id: &str, value: &str, timestamp: i64) -> Value {
    let fixtures: Value = serde_json::from_str(include_str!(
        "../../fixtures/meta-webhooks/pywa/user_marketing_preferences.json"
    ))
    .expect("fixture");
    let mut payload = fixtures["resume"].clone();
    let change = &mut payload["entry"][0]["changes"][0]["value"];
    change["metadata"]["phone_number_id"] = json!(PHONE_NUMBER_ID);
    change["contacts"][0]["wa_id"] = json!(wa_id);
    let item = &mut change["user_preferences"][0];
    item["wa_id"] = json!(wa_id);
    item["value"] = json!(value);
    item["detail"] = json!(format!("User requested to {value} marketing messages"));
    item["timestamp"] = json!(timestamp);
    payload
}

/// The one contact whose number is `digits`, through `GET /v1/contacts`.
async fn contact(s: &TestServer, digits: &str) -> Value {
    let (status, page) = s.get_json(&format!("/v1/contacts?search={digits}")).await;
    assert_eq!(status, 200, "{page}");
    let data = page["data"].as_array().expect("data");
    assert_eq!(data.len(), 1, "one contact {digits}: {page}");
    data[0].clone()
}

/// `(change, source, detail)` of each entry of a contact's history, oldest first.
async fn history(s: &TestServer, contact_id: &str) -> Vec<(String, String, String)> {
    let (status, page) = s
        .get_json(&format!("/v1/contacts/{contact_id}/history"))
        .await;
    assert_eq!(status, 200, "{page}");
    page["data"]
        .as_array()
        .expect("data")
        .iter()
        .map(|e| {
            let text = |k: &str| e[k].as_str().unwrap_or("").to_string();
            assert_eq!(
                e["marketing_opted_out"],
                e["change"] == "marketing_opt_out",
                "{e}"
            );
            assert!(e["at"].is_string(), "{e}");
            (text("change"), text("source"), text("detail"))
        })
        .collect()
}

fn entry(change: &str, source: &str, detail: &str) -> (String, String, String) {
    (change.into(), source.into(), detail.into())
}

fn text(body: &str) -> Value {
    json!({"type": "text", "text": {"body": body}})
}

/// Records every business webhook event it gets.
#[derive(Default)]
struct Receiver {
    events: Mutex<Vec<Value>>,
}

async fn receive(State(r): State<Arc<Receiver>>, body: Bytes) -> StatusCode {
    let event: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    r.events.lock().expect("lock").push(event);
    StatusCode::NO_CONTENT
}

impl Receiver {
    /// A receiver listening on loopback, subscribed (with `key`) to the consent events.
    async fn subscribe(s: &TestServer, key: &str) -> Arc<Self> {
        let r = Arc::new(Self::default());
        let app = axum::Router::new()
            .route("/hook", axum::routing::post(receive))
            .with_state(r.clone());
        let url = format!("http://{}/hook", crate::support::serve_router(app).await);
        let (status, body) = request_with(
            &s.http,
            &s.base,
            key,
            Method::POST,
            "/v1/webhooks",
            &json!({"url": url,
                    "events": ["contact.marketing_opt_out", "contact.marketing_opt_in"]}),
        )
        .await;
        assert_eq!(status, 201, "{body}");
        r
    }

    /// Waits for `n` events; answers them in arrival order.
    async fn wait_for(&self, n: usize) -> Vec<Value> {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let got = self.events.lock().expect("lock").clone();
            if got.len() >= n {
                return got;
            }
            assert!(Instant::now() < deadline, "{n} events expected: {got:?}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

async fn user_preferences_stop_then_resume(backend: Backend) {
    let s = start(backend).await;
    let events = Receiver::subscribe(&s, &s.key).await;
    let ana = "5215512340001";
    let stop = preference(ana, "stop", 1_731_705_700);
    // Meta delivers at least once: the same report twice is one change.
    for _ in 0..2 {
        let (status, answer) = s.post_meta(&stop, Some(APP_SECRET)).await;
        assert_eq!(status, 200, "{answer}");
    }
    let c = contact(&s, ana).await;
    assert_eq!(c["marketing_opted_out"], true, "{c}");
    assert_eq!(c["opted_out"], false, "the general opt-out stays: {c}");
    assert_eq!(c["marketing_source"], "webhook");
    assert_eq!(
        c["marketing_detail"],
        "stop: User requested to stop marketing messages"
    );
    assert!(c["marketing_changed_at"].is_string(), "{c}");
    let id = c["id"].as_str().expect("id").to_string();

    // A value Chasqui does not know is logged and changes nothing; an unsigned one is refused.
    let (status, _) = s
        .post_meta(&preference(ana, "pause", 1_731_705_710), Some(APP_SECRET))
        .await;
    assert_eq!(status, 200);
    let (status, _) = s
        .post_meta(&preference(ana, "resume", 1_731_705_711), None)
        .await;
    assert_eq!(status, 401);
    assert_eq!(contact(&s, ana).await["marketing_opted_out"], true);

    let (status, _) = s
        .post_meta(&preference(ana, "resume", 1_731_705_721), Some(APP_SECRET))
        .await;
    assert_eq!(status, 200);
    let c = contact(&s, ana).await;
    assert_eq!(c["marketing_opted_out"], false, "{c}");
    // A signup link after a new stop clears it too.
    for (value, at) in [("stop", 1_731_705_800), ("signup", 1_731_705_900)] {
        s.post_meta(&preference(ana, value, at), Some(APP_SECRET))
            .await;
    }
    assert_eq!(contact(&s, ana).await["marketing_opted_out"], false);
    assert_eq!(
        history(&s, &id).await,
        [
            entry(
                "marketing_opt_out",
                "webhook",
                "stop: User requested to stop marketing messages"
            ),
            entry(
                "marketing_opt_in",
                "webhook",
                "resume: User requested to resume marketing messages"
            ),
            entry(
                "marketing_opt_out",
                "webhook",
                "stop: User requested to stop marketing messages"
            ),
            entry(
                "marketing_opt_in",
                "webhook",
                "signup: User requested to signup marketing messages"
            ),
        ]
    );
    // Each change reached the business, in order.
    let got = events.wait_for(4).await;
    let kinds: Vec<&str> = got.iter().filter_map(|e| e["type"].as_str()).collect();
    assert_eq!(
        kinds,
        [
            "contact.marketing_opt_out",
            "contact.marketing_opt_in",
            "contact.marketing_opt_out",
            "contact.marketing_opt_in"
        ]
    );
    assert_eq!(got[0]["data"]["contact_id"], id.as_str());
    assert_eq!(got[0]["data"]["wa_id"], ana);
    assert_eq!(got[0]["data"]["source"], "webhook");
    assert_eq!(got[0]["data"]["marketing_opted_out"], true);
    s.stop().await;
}

async fn keywords_from_customers_set_and_clear_it(backend: Backend) {
    let s = start(backend).await;
    let events = Receiver::subscribe(&s, &s.key).await;
    let luis = "5215512340002";
    let wamid = s.customer_writes(luis, "Luis", text("STOP")).await;
    let c = contact(&s, luis).await;
    assert_eq!(c["marketing_opted_out"], true, "{c}");
    assert_eq!(
        (&c["marketing_source"], &c["marketing_detail"]),
        (&json!("keyword"), &json!("STOP"))
    );
    let id = c["id"].as_str().expect("id").to_string();
    // The message itself is recorded as any other.
    let (_, convs) = s.get_json(&format!("/v1/conversations?contact={id}")).await;
    let cv = convs["data"][0]["id"].as_str().expect("conversation");
    let (_, conv) = s.get_json(&format!("/v1/conversations/{cv}")).await;
    assert!(
        conv["messages"]
            .as_array()
            .expect("messages")
            .iter()
            .any(|m| m["wamid"] == wamid.as_str() && m["content"]["body"] == "STOP"),
        "{conv}"
    );

    // Not a keyword unless it is the whole message.
    s.customer_writes(luis, "Luis", text("no quiero stop todavía"))
        .await;
    s.customer_writes(luis, "Luis", text(" Reanudar ")).await;
    assert_eq!(contact(&s, luis).await["marketing_opted_out"], false);
    s.customer_writes(luis, "Luis", text("¡baja!")).await;
    assert_eq!(contact(&s, luis).await["marketing_opted_out"], true);
    assert_eq!(
        history(&s, &id).await,
        [
            entry("marketing_opt_out", "keyword", "STOP"),
            entry("marketing_opt_in", "keyword", "Reanudar"),
            entry("marketing_opt_out", "keyword", "¡baja!"),
        ]
    );
    let got = events.wait_for(3).await;
    assert_eq!(got[2]["type"], "contact.marketing_opt_out");
    assert_eq!(got[2]["data"]["detail"], "¡baja!");
    assert_eq!(got[1]["data"]["source"], "keyword");

    // The history pages by cursor, and names no other workspace's contact.
    let (_, first) = s
        .get_json(&format!("/v1/contacts/{id}/history?limit=2"))
        .await;
    let cursor = first["next_cursor"].as_str().expect("cursor");
    let (_, rest) = s
        .get_json(&format!("/v1/contacts/{id}/history?cursor={cursor}"))
        .await;
    assert_eq!(rest["data"].as_array().map(Vec::len), Some(1), "{rest}");
    let (status, _) = s.get_json("/v1/contacts/ct_nobody/history").await;
    assert_eq!(status, 404);
    let (status, bad) = s
        .get_json(&format!("/v1/contacts/{id}/history?cursor=x"))
        .await;
    assert_eq!((status, &bad["code"]), (400, &json!("invalid_parameter")));
    s.stop().await;
}

/// A customer writes `body` to `tenant`'s channel; answers once Chasqui has recorded it.
async fn writes_to(s: &TestServer, tenant: &Tenant, from: &str, body: &str) {
    let (status, sent) = s
        .request_json(
            Method::POST,
            "/v1/sandbox/inbound",
            &json!({"phone_number_id": tenant.phone_number_id, "from": from, "name": "Eva",
                    "message": text(body)}),
        )
        .await;
    assert_eq!(status, 200, "{sent}");
    let wamid = sent["id"].as_str().expect("wamid").to_string();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        s.drain_webhooks().await;
        let (_, convs) = tenant.get_json("/v1/conversations").await;
        for cv in convs["data"].as_array().into_iter().flatten() {
            let path = format!("/v1/conversations/{}", cv["id"].as_str().unwrap_or(""));
            let (_, conv) = tenant.get_json(&path).await;
            let seen = conv["messages"]
                .as_array()
                .is_some_and(|ms| ms.iter().any(|m| m["wamid"] == wamid.as_str()));
            if seen {
                return;
            }
        }
        assert!(Instant::now() < deadline, "{wamid} never recorded");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn tenant_opted_out(tenant: &Tenant, from: &str) -> bool {
    let (_, page) = tenant
        .get_json(&format!("/v1/contacts?search={from}"))
        .await;
    page["data"][0]["marketing_opted_out"] == true
}

async fn a_workspace_sets_its_own_keywords(backend: Backend) {
    let s = start(backend).await;
    let tenant = s.new_workspace("consent-keywords").await;
    let path = format!("/v1/admin/workspaces/{}", tenant.workspace_id);
    let (_, ws) = s.get_json(&path).await;
    assert_eq!(ws["marketing_keywords"], Value::Null, "defaults: {ws}");
    // Every problem is listed and nothing changes.
    let (status, refused) = s
        .request_json(
            Method::PATCH,
            &path,
            &json!({"name": "renamed", "marketing_keywords": {"stop": ["ok", "!!"], "resume": ["OK"]}}),
        )
        .await;
    assert_eq!(status, 422, "{refused}");
    let fields: Vec<&str> = refused["errors"]
        .as_array()
        .expect("errors")
        .iter()
        .filter_map(|e| e["field"].as_str())
        .collect();
    assert_eq!(
        fields,
        ["marketing_keywords.stop[1]", "marketing_keywords.resume[0]"]
    );
    let (status, refused) = s
        .request_json(
            Method::PATCH,
            &path,
            &json!({"marketing_keywords": {"stop": "basta", "color": []}}),
        )
        .await;
    assert_eq!(status, 422, "{refused}");
    assert_eq!(refused["errors"][0]["field"], "marketing_keywords");
    let (_, ws) = s.get_json(&path).await;
    assert_eq!(
        (&ws["name"], &ws["marketing_keywords"]),
        (&json!("consent-keywords"), &Value::Null)
    );

    let keywords = json!({"stop": ["No más", "Basta"], "resume": ["Quiero ofertas"]});
    let (status, ws) = s
        .request_json(
            Method::PATCH,
            &path,
            &json!({"marketing_keywords": keywords}),
        )
        .await;
    assert_eq!(status, 200, "{ws}");
    assert_eq!(ws["marketing_keywords"], keywords);

    let eva = "5215512340003";
    // The defaults no longer apply here...
    writes_to(&s, &tenant, eva, "STOP").await;
    assert!(!tenant_opted_out(&tenant, eva).await);
    // ...the workspace's own keywords do, folded the same way.
    writes_to(&s, &tenant, eva, "no mas").await;
    assert!(tenant_opted_out(&tenant, eva).await);
    writes_to(&s, &tenant, eva, "QUIERO OFERTAS.").await;
    assert!(!tenant_opted_out(&tenant, eva).await);
    // The default workspace keeps the defaults.
    s.customer_writes(eva, "Eva", text("No más")).await;
    assert_eq!(contact(&s, eva).await["marketing_opted_out"], false);

    // Back to the defaults with null.
    let (status, ws) = s
        .request_json(Method::PATCH, &path, &json!({"marketing_keywords": null}))
        .await;
    assert_eq!((status, &ws["marketing_keywords"]), (200, &Value::Null));
    writes_to(&s, &tenant, eva, "baja").await;
    assert!(tenant_opted_out(&tenant, eva).await);
    s.stop().await;
}

fn template(name: &str) -> Value {
    json!({"to": "+5215512340004", "type": "template",
           "template": {"name": name, "language": {"code": "es"}}})
}

async fn message_count(s: &TestServer) -> usize {
    let (_, page) = s.get_json("/v1/messages?limit=200").await;
    page["data"].as_array().map_or(0, Vec::len)
}

async fn register_templates(s: &TestServer) {
    for (name, category) in [("promo_consent", "MARKETING"), ("aviso_consent", "UTILITY")] {
        submit_approved(
            s,
            &json!({"name": name, "language": "es", "category": category,
                    "components": [{"type": "BODY", "text": format!("Mensaje {name}")}]}),
        )
        .await;
    }
}

async fn marketing_templates_are_refused_to_opted_out_contacts(backend: Backend) {
    let s = start(backend).await;
    register_templates(&s).await;
    let to = "5215512340004";
    s.customer_writes(to, "Rosa", text("hola")).await;
    let id = contact(&s, to).await["id"]
        .as_str()
        .expect("id")
        .to_string();
    let (status, c) = s
        .request_json(
            Method::PATCH,
            &format!("/v1/contacts/{id}"),
            &json!({"marketing_opted_out": true}),
        )
        .await;
    assert_eq!(status, 200, "{c}");
    assert_eq!(
        (&c["marketing_opted_out"], &c["marketing_source"]),
        (&json!(true), &json!("api"))
    );
    let (status, bad) = s
        .request_json(
            Method::PATCH,
            &format!("/v1/contacts/{id}"),
            &json!({"marketing_opted_out": "yes"}),
        )
        .await;
    assert_eq!(status, 422, "{bad}");
    assert_eq!(bad["errors"][0]["field"], "marketing_opted_out");

    // A key that may send one message a day: the refusal must not spend it.
    let (_, workspaces) = s.get_json("/v1/admin/workspaces").await;
    let ws = workspaces["data"][0]["id"].as_str().expect("workspace");
    let (status, key) = s
        .request_json(
            Method::POST,
            &format!("/v1/admin/workspaces/{ws}/keys"),
            &json!({"name": "one a day", "scopes": ["send", "read"], "daily_quota": 1}),
        )
        .await;
    assert_eq!(status, 201, "{key}");
    let key = key["key"].as_str().expect("key").to_string();
    let before = (message_count(&s).await, s.sandbox_messages().await.len());
    let send = |body: Value| {
        let (http, base, key) = (s.http.clone(), s.base.clone(), key.clone());
        async move { request_with(&http, &base, &key, Method::POST, "/v1/messages", &body).await }
    };
    let (status, refused) = send(template("promo_consent")).await;
    assert_eq!(status, 422, "{refused}");
    assert_eq!(refused["code"], "contact_opted_out_marketing");
    assert_eq!(refused["errors"][0]["field"], "to");
    // A vendor dialect goes through the same send service.
    let (status, answer) = request_with(
        &s.http,
        &s.base,
        &s.key,
        Method::POST,
        &format!("/v2/contact/phone:+{to}/message"),
        &json!({"message": {"type": "whatsapp_template",
                "template": {"name": "promo_consent", "languageCode": "es"}}}),
    )
    .await;
    assert_eq!(status, 400, "{answer}");
    assert!(
        answer["message"]
            .as_str()
            .is_some_and(|m| m.contains("marketing")),
        "{answer}"
    );
    assert_eq!(
        (message_count(&s).await, s.sandbox_messages().await.len()),
        before,
        "nothing stored, nothing sent"
    );

    // A utility template still goes, on the quota the refusal left.
    let (status, accepted) = send(template("aviso_consent")).await;
    assert_eq!(status, 202, "{accepted}");
    let utility = accepted["id"].as_str().expect("id").to_string();
    s.wait_for(&[utility], &["delivered", "read"], Duration::from_secs(20))
        .await;
    // And so does a reply inside the window the customer opened.
    s.send_ok(&json!({"to": format!("+{to}"), "type": "text", "text": {"body": "Claro"}}))
        .await;

    // Once the business clears it, marketing goes again.
    let (status, _) = s
        .request_json(
            Method::PATCH,
            &format!("/v1/contacts/{id}"),
            &json!({"marketing_opted_out": false}),
        )
        .await;
    assert_eq!(status, 200);
    s.send_ok(&template("promo_consent")).await;
    assert_eq!(
        history(&s, &id).await,
        [
            entry("marketing_opt_out", "api", ""),
            entry("marketing_opt_in", "api", ""),
        ]
    );
    s.stop().await;
}

async fn a_131050_failure_marks_the_contact(backend: Backend) {
    let s = start(backend).await;
    register_templates(&s).await;
    let to = "5215510050050";
    s.patch_sandbox(json!({"recipient_errors": {to: 131050}}))
        .await;
    let first = s
        .send_ok(&json!({"to": format!("+{to}"), "type": "template",
                         "template": {"name": "promo_consent", "language": {"code": "es"}}}))
        .await;
    let failed = s
        .wait_for(
            std::slice::from_ref(&first),
            &["failed"],
            Duration::from_secs(20),
        )
        .await;
    assert_eq!(failed[0]["error"]["code"], 131050, "{}", failed[0]);
    // The status that reported it also marked the person, whom Chasqui had not met.
    let c = contact(&s, to).await;
    assert_eq!(c["marketing_opted_out"], true, "{c}");
    assert_eq!(c["marketing_source"], "meta_error");
    let detail = c["marketing_detail"].as_str().expect("detail");
    assert!(detail.contains(&first), "{detail}");
    let id = c["id"].as_str().expect("id");
    assert_eq!(history(&s, id).await.len(), 1);
    assert_eq!(history(&s, id).await[0].1, "meta_error");

    // The next marketing send is refused at once; a utility one still goes.
    let resp = s
        .send(&json!({"to": format!("+{to}"), "type": "template",
                      "template": {"name": "promo_consent", "language": {"code": "es"}}}))
        .await;
    assert_eq!(resp.status(), 422);
    let body: Value = resp.json().await.expect("json");
    assert_eq!(body["code"], "contact_opted_out_marketing");
    s.patch_sandbox(json!({"recipient_errors": {}})).await;
    s.send_ok(&json!({"to": format!("+{to}"), "type": "template",
                      "template": {"name": "aviso_consent", "language": {"code": "es"}}}))
        .await;
    s.stop().await;
}

async fn the_cli_sets_a_workspaces_keywords(backend: Backend) {
    let db = TestDb::create_named(backend, "consent").await;
    let run = |args: &[&str]| {
        let out = crate::process::chasqui(&db)
            .args(args)
            .output()
            .expect("chasqui");
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).to_string(),
            String::from_utf8_lossy(&out.stderr).to_string(),
        )
    };
    let (ok, _, err) = run(&["migrate"]);
    assert!(ok, "{err}");
    let (ok, out, err) = run(&[
        "workspace",
        "create",
        "--set",
        "name=Acme",
        "--set",
        r#"marketing_keywords:={"stop": ["Basta"], "resume": []}"#,
    ]);
    assert!(ok, "{err}");
    let ws: Value = serde_json::from_str(&out).expect("json");
    assert_eq!(
        ws["marketing_keywords"],
        json!({"stop": ["Basta"], "resume": []})
    );
    let id = ws["id"].as_str().expect("id");
    let (ok, out, err) = run(&[
        "workspace",
        "update",
        id,
        "--set",
        r#"marketing_keywords:={"stop": ["Basta"], "resume": ["basta"]}"#,
    ]);
    assert!(!ok, "a keyword in both lists is refused: {out}");
    assert!(
        err.contains("marketing_keywords.resume[0]")
            || out.contains("marketing_keywords.resume[0]"),
        "{out}{err}"
    );
    let (ok, out, err) = run(&[
        "workspace",
        "update",
        id,
        "--set",
        "marketing_keywords:=null",
    ]);
    assert!(ok, "{err}");
    let ws: Value = serde_json::from_str(&out).expect("json");
    assert_eq!(ws["marketing_keywords"], Value::Null);
}

on_both_backends!(
    the_cli_sets_a_workspaces_keywords,
    user_preferences_stop_then_resume,
    keywords_from_customers_set_and_clear_it,
    a_workspace_sets_its_own_keywords,
    marketing_templates_are_refused_to_opted_out_contacts,
    a_131050_failure_marks_the_contact,
);
