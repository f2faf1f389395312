//! The template registry over HTTP: sync from the sandbox, submission and review by webhook,
//! send-time checks (nothing stored on refusal), rendered text, template webhooks.

use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::on_both_backends;
use crate::support::{Backend, TestServer, APP_SECRET};

/// The sandbox's WABA id, which bootstrap gives the default channel.
const WABA_ID: &str = "100000000000001";
/// Meta's `hello_world` as the sandbox serves it (reference OpenAPI example).
const HELLO_WORLD_ID: &str = "1192339204654487";
const HELLO_WORLD_TEXT: &str = "Hello World\n\nWelcome and congratulations!! This message demonstrates your ability to send a message notification from WhatsApp Business Platform\u{2019}s Cloud API. Thank you for taking the time to test with us.\n\nWhatsApp Business API Team";

const STATUS_FIXTURES: &str =
    include_str!("../../fixtures/meta-webhooks/pywa/template_status_update.json");
const CATEGORY_FIXTURES: &str =
    include_str!("../../fixtures/meta-webhooks/pywa/template_category_update.json");
const QUALITY_FIXTURES: &str =
    include_str!("../../fixtures/meta-webhooks/pywa/template_quality_update.json");

async fn post_json(server: &TestServer, path: &str, body: &Value) -> (u16, Value) {
    let resp = server
        .http
        .post(server.url(path))
        .bearer_auth(&server.key)
        .json(body)
        .send()
        .await
        .expect("request");
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
}

/// `GET /v1/templates?{query}`'s `data`.
async fn templates(server: &TestServer, query: &str) -> Vec<Value> {
    let (status, json) = server.get_json(&format!("/v1/templates?{query}")).await;
    assert_eq!(status, 200, "{json}");
    json["data"].as_array().cloned().expect("data")
}

async fn sync(server: &TestServer) -> Value {
    let (status, json) = post_json(server, "/v1/templates/sync", &json!({})).await;
    assert_eq!(status, 200, "{json}");
    json
}

/// Waits until the registry shows `name` (`language`) with `status`; returns it.
async fn wait_for_template(server: &TestServer, name: &str, language: &str, status: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let found = templates(server, &format!("name={name}&language={language}")).await;
        if let Some(t) = found.iter().find(|t| t["status"] == status) {
            return t.clone();
        }
        assert!(
            Instant::now() < deadline,
            "{name} ({language}) never became {status}: {found:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Submits a template and waits for the sandbox's review webhook to approve it.
pub async fn submit_approved(server: &TestServer, submission: &Value) -> Value {
    let (status, created) = post_json(server, "/v1/templates", submission).await;
    assert_eq!(status, 201, "{created}");
    let (name, language) = (
        submission["name"].as_str().expect("name"),
        submission["language"].as_str().expect("language"),
    );
    wait_for_template(server, name, language, "APPROVED").await
}

/// The templates `send::every_type` sends, submitted and approved.
pub async fn register_send_templates(server: &TestServer) {
    let order_update = json!({"name": "order_update", "language": "es_MX", "category": "MARKETING", "components": [
        {"type": "HEADER", "format": "IMAGE", "example": {"header_handle": ["4::aW1hZ2UvanBn:ARY"]}},
        {"type": "BODY", "text": "Hola {{1}}, tu total es {{2}} desde el {{3}}. Gracias.",
         "example": {"body_text": [["Juana", "$100.99", "25 de febrero"]]}},
        {"type": "BUTTONS", "buttons": [
            {"type": "QUICK_REPLY", "text": "Detener"},
            {"type": "URL", "text": "Ver pedido", "url": "https://example.com/pedido/{{1}}", "example": ["ABC123"]},
            {"type": "COPY_CODE", "example": "FALL25"}]}]});
    let welcome_named = json!({"name": "welcome_named", "language": "es", "category": "UTILITY",
        "parameter_format": "NAMED", "components": [
        {"type": "HEADER", "format": "LOCATION"},
        {"type": "BODY", "text": "Hola {{first_name}}, te esperamos aquí.",
         "example": {"body_text_named_params": [{"param_name": "first_name", "example": "Ana"}]}}]});
    submit_approved(server, &order_update).await;
    submit_approved(server, &welcome_named).await;
}

/// Posts a signed Meta webhook and waits until it is processed.
async fn post_webhook(server: &TestServer, payload: &Value) -> u16 {
    server.post_meta(payload, Some(APP_SECRET)).await.0
}

/// A pywa fixture re-addressed to this server's WABA and to `hello_world`.
fn fixture(file: &str, case: &str) -> Value {
    let all: Value = serde_json::from_str(file).expect("fixture file");
    let mut payload = all[case].clone();
    payload["entry"][0]["id"] = json!(WABA_ID);
    let value = &mut payload["entry"][0]["changes"][0]["value"];
    value["message_template_id"] = json!(HELLO_WORLD_ID.parse::<u64>().expect("id"));
    value["message_template_name"] = json!("hello_world");
    value["message_template_language"] = json!("en_US");
    payload
}

fn hello_world_to(to: &str) -> Value {
    json!({"to": to, "type": "template", "template": {"name": "hello_world", "language": {"code": "en_US"}}})
}

async fn message_count(server: &TestServer) -> usize {
    let (status, json) = server.get_json("/v1/messages?limit=200").await;
    assert_eq!(status, 200, "{json}");
    json["data"].as_array().map_or(0, Vec::len)
}

async fn sandbox_starts_with_hello_world_and_sync_lists_it(backend: Backend) {
    let server = TestServer::start(backend).await;
    let report = sync(&server).await;
    assert!(report["templates"].as_u64().unwrap_or(0) >= 1, "{report}");
    assert_eq!(report["channels"][0]["channel"], "ch_default");
    let listed = templates(&server, "status=approved&channel=ch_default").await;
    let hello = listed
        .iter()
        .find(|t| t["name"] == "hello_world")
        .unwrap_or_else(|| panic!("hello_world not listed: {listed:?}"));
    assert_eq!(hello["language"], "en_US");
    assert_eq!(hello["status"], "APPROVED");
    assert_eq!(hello["category"], "MARKETING");
    assert_eq!(hello["id"], HELLO_WORLD_ID);
    assert_eq!(hello["channel"], "ch_default");
    assert_eq!(hello["components"][0]["type"], "HEADER");
    assert_eq!(hello["components"][0]["text"], "Hello World");
    assert!(hello["updated_at"].is_string());
    // Syncing again changes nothing; a bad filter is a clear 400.
    sync(&server).await;
    assert_eq!(templates(&server, "name=hello_world").await.len(), 1);
    let (status, json) = server.get_json("/v1/templates?colour=red").await;
    assert_eq!(
        (status, json["code"].as_str()),
        (400, Some("invalid_parameter"))
    );
    server.stop().await;
}

async fn hello_world_is_sent_until_read_and_keeps_its_rendered_text(backend: Backend) {
    let server = TestServer::start(backend).await;
    sync(&server).await;
    let id = server.send_ok(&hello_world_to("+5215512340001")).await;
    let done = server
        .wait_for(
            std::slice::from_ref(&id),
            &["read"],
            Duration::from_secs(30),
        )
        .await;
    assert_eq!(done[0]["rendered_text"], HELLO_WORLD_TEXT, "{}", done[0]);
    assert_eq!(done[0]["content"]["template"]["name"], "hello_world");
    let received = server.sandbox_messages().await;
    assert_eq!(received.len(), 1);
    assert_eq!(received[0]["body"]["template"]["name"], "hello_world");
    server.stop().await;
}

async fn an_unknown_template_is_refused_and_nothing_is_stored(backend: Backend) {
    let server = TestServer::start(backend).await;
    sync(&server).await;
    let before = message_count(&server).await;
    let unknown = json!({"to": "+5215512340002", "type": "template",
        "template": {"name": "no_such_template", "language": {"code": "en_US"}}});
    let other_language = json!({"to": "+5215512340002", "type": "template",
        "template": {"name": "hello_world", "language": {"code": "es"}}});
    for (body, name, language) in [
        (&unknown, "no_such_template", "en_US"),
        (&other_language, "hello_world", "es"),
    ] {
        let resp = server.send(body).await;
        assert_eq!(resp.status(), 422);
        let json: Value = resp.json().await.expect("json");
        assert_eq!(json["code"], "template_not_found", "{json}");
        let detail = json["detail"].as_str().expect("detail");
        assert!(
            detail.contains(name) && detail.contains(language),
            "{detail}"
        );
        assert_eq!(json["errors"][0]["field"], "template.name");
    }
    assert_eq!(message_count(&server).await, before);
    assert!(server.sandbox_messages().await.is_empty());
    server.stop().await;
}

async fn a_wrong_body_parameter_count_is_refused_naming_body(backend: Backend) {
    let server = TestServer::start(backend).await;
    let order_ready = json!({"name": "order_ready", "language": "es", "category": "UTILITY", "components": [
        {"type": "BODY", "text": "Hola {{1}}, tu pedido {{2}} está listo.",
         "example": {"body_text": [["Ana", "42"]]}}]});
    submit_approved(&server, &order_ready).await;
    let send = |parameters: Value| {
        json!({"to": "+5215512340003", "type": "template", "template": {
            "name": "order_ready", "language": {"code": "es"},
            "components": [{"type": "body", "parameters": parameters}]}})
    };
    let resp = server
        .send(&send(json!([{"type": "text", "text": "Ana"}])))
        .await;
    assert_eq!(resp.status(), 422);
    let json: Value = resp.json().await.expect("json");
    assert_eq!(json["code"], "validation_failed", "{json}");
    let problem = &json["errors"][0];
    assert_eq!(problem["code"], "template_param_count", "{json}");
    assert_eq!(problem["field"], "template.components[0].parameters");
    let message = problem["message"].as_str().expect("message");
    assert!(
        message.contains("body") && message.contains("expected 2") && message.contains("given 1"),
        "{message}"
    );
    assert_eq!(message_count(&server).await, 0);
    // With both parameters it goes, and the log shows what the person read.
    let id = server
        .send_ok(&send(
            json!([{"type": "text", "text": "Ana"}, {"type": "text", "text": "A-17"}]),
        ))
        .await;
    let done = server
        .wait_for(
            std::slice::from_ref(&id),
            &["read"],
            Duration::from_secs(30),
        )
        .await;
    assert_eq!(
        done[0]["rendered_text"],
        "Hola Ana, tu pedido A-17 está listo."
    );
    server.stop().await;
}

async fn a_named_template_is_approved_by_webhook_then_sent_by_name(backend: Backend) {
    let server = TestServer::start(backend).await;
    let submission = json!({"name": "pickup_code", "language": "es", "category": "UTILITY",
        "parameter_format": "NAMED", "components": [
        {"type": "BODY", "text": "Hola {{first_name}}, tu código de retiro es {{code}}.",
         "example": {"body_text_named_params": [
            {"param_name": "first_name", "example": "Ana"}, {"param_name": "code", "example": "X7"}]}},
        {"type": "FOOTER", "text": "Chasqui"}]});
    let (status, created) = post_json(&server, "/v1/templates", &submission).await;
    assert_eq!(status, 201, "{created}");
    assert!(
        ["PENDING", "APPROVED"].contains(&created["status"].as_str().unwrap_or("")),
        "{created}"
    );
    assert_eq!(created["parameter_format"], "NAMED");
    assert!(created["id"].as_str().is_some_and(|id| !id.is_empty()));
    // Approved by the sandbox's review webhook (or the sync it triggers when it lands first).
    let approved = wait_for_template(&server, "pickup_code", "es", "APPROVED").await;
    assert_eq!(approved["id"], created["id"]);
    let send = |name: &str| {
        json!({"to": "+5215512340004", "type": "template", "template": {
            "name": "pickup_code", "language": {"code": "es"},
            "components": [{"type": "body", "parameters": [
                {"type": "text", "parameter_name": "first_name", "text": "Ana"},
                {"type": "text", "parameter_name": name, "text": "Q-88"}]}]}})
    };
    let resp = server.send(&send("codigo")).await;
    assert_eq!(resp.status(), 422);
    let json: Value = resp.json().await.expect("json");
    assert!(
        json["errors"]
            .as_array()
            .expect("errors")
            .iter()
            .any(|e| e["code"] == "template_param_name"),
        "{json}"
    );
    assert_eq!(message_count(&server).await, 0);
    let id = server.send_ok(&send("code")).await;
    let done = server
        .wait_for(
            std::slice::from_ref(&id),
            &["read"],
            Duration::from_secs(30),
        )
        .await;
    assert_eq!(
        done[0]["rendered_text"],
        "Hola Ana, tu código de retiro es Q-88.\n\nChasqui"
    );
    // The same name and language cannot be submitted twice: the provider says so.
    let (status, again) = post_json(&server, "/v1/templates", &submission).await;
    assert_eq!(
        (status, again["code"].as_str()),
        (422, Some("provider_rejected")),
        "{again}"
    );
    assert_eq!(again["provider_error"]["code"], 100);
    server.stop().await;
}

async fn an_invalid_submission_lists_every_problem_and_submits_nothing(backend: Backend) {
    let server = TestServer::start(backend).await;
    let bad = json!({"name": "Bad Name", "language": "en_US", "category": "PROMO", "components": [
        {"type": "BODY", "text": "Hi {{1}}, your code is {{2}}."},
        {"type": "FOOTER", "text": "x".repeat(61)}], "channel": "ch_nope"});
    let (status, json) = post_json(&server, "/v1/templates", &bad).await;
    assert_eq!(status, 422, "{json}");
    assert_eq!(json["code"], "validation_failed");
    let fields: Vec<&str> = json["errors"]
        .as_array()
        .expect("errors")
        .iter()
        .filter_map(|e| e["field"].as_str())
        .collect();
    for field in [
        "name",
        "category",
        "components[0].example",
        "components[1].text",
        "channel",
    ] {
        assert!(fields.contains(&field), "{field} not in {fields:?}");
    }
    // Nothing reached the provider: a sync brings back only hello_world.
    sync(&server).await;
    let listed = templates(&server, "").await;
    assert_eq!(listed.len(), 1, "{listed:?}");
    server.stop().await;
}

async fn signed_template_webhooks_update_status_category_and_quality(backend: Backend) {
    let server = TestServer::start(backend).await;
    sync(&server).await;
    let quality = fixture(QUALITY_FIXTURES, "yellow");
    let mut category = fixture(CATEGORY_FIXTURES, "marketing");
    category["entry"][0]["changes"][0]["value"]["new_category"] = json!("UTILITY");
    let rejected = fixture(STATUS_FIXTURES, "rejected");
    for payload in [&quality, &category, &rejected] {
        assert_eq!(post_webhook(&server, payload).await, 200, "{payload}");
    }
    let hello = &templates(&server, "name=hello_world").await[0];
    assert_eq!(hello["quality"], "YELLOW", "{hello}");
    assert_eq!(
        hello["category"], "MARKETING",
        "the status update's category came last"
    );
    assert_eq!(hello["status"], "REJECTED");
    assert_eq!(hello["rejected_reason"], "INVALID_FORMAT");
    // A rejected template is refused at send time, naming why.
    let resp = server.send(&hello_world_to("+5215512340005")).await;
    assert_eq!(resp.status(), 422);
    let json: Value = resp.json().await.expect("json");
    assert_eq!(json["errors"][0]["code"], "template_not_approved", "{json}");
    // Approved again, with the category update on its own.
    assert_eq!(
        post_webhook(&server, &fixture(STATUS_FIXTURES, "approved")).await,
        200
    );
    assert_eq!(post_webhook(&server, &category).await, 200);
    let hello = &templates(&server, "name=hello_world").await[0];
    assert_eq!(hello["status"], "APPROVED");
    assert_eq!(hello["category"], "UTILITY");
    assert_eq!(hello["rejected_reason"], Value::Null);
    // An unsigned one changes nothing.
    let resp = server
        .http
        .post(server.url("/webhooks/meta"))
        .header("content-type", "application/json")
        .json(&rejected)
        .send()
        .await
        .expect("post");
    assert_eq!(resp.status(), 401);
    assert_eq!(
        templates(&server, "name=hello_world").await[0]["status"],
        "APPROVED"
    );
    server.stop().await;
}

on_both_backends!(
    sandbox_starts_with_hello_world_and_sync_lists_it,
    hello_world_is_sent_until_read_and_keeps_its_rendered_text,
    an_unknown_template_is_refused_and_nothing_is_stored,
    a_wrong_body_parameter_count_is_refused_naming_body,
    a_named_template_is_approved_by_webhook_then_sent_by_name,
    an_invalid_submission_lists_every_problem_and_submits_nothing,
    signed_template_webhooks_update_status_category_and_quality,
);
