//! Bad input gets a clear 4xx with a machine code and the field, and leaves nothing behind.

use serde_json::{json, Value};

use crate::on_both_backends;
use crate::support::{Backend, TestServer};

async fn assert_nothing_stored(server: &TestServer) {
    let (status, list) = server.get_json("/v1/messages").await;
    assert_eq!(status, 200);
    assert_eq!(
        list["data"].as_array().map(Vec::len),
        Some(0),
        "nothing may be stored: {list}"
    );
    assert!(
        server.sandbox_messages().await.is_empty(),
        "nothing may be sent"
    );
}

async fn problem(resp: reqwest::Response) -> (u16, Value) {
    let status = resp.status().as_u16();
    let ct = resp
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    assert_eq!(ct, "application/problem+json", "status {status}");
    (status, resp.json().await.expect("problem body"))
}

async fn invalid_messages_are_refused_with_every_problem(backend: Backend) {
    let server = TestServer::start(backend).await;
    let body = json!({
        "to": "not-a-phone",
        "type": "interactive",
        "interactive": {"type": "button", "body": {"text": ""}, "action": {"buttons": [
            {"type": "reply", "reply": {"id": "a", "title": "this title is far too long for a button"}},
            {"type": "reply", "reply": {"id": "a", "title": "B"}}]}}
    });
    let (status, json) = problem(server.send(&body).await).await;
    assert_eq!(status, 422);
    assert_eq!(json["code"], "validation_failed");
    let errors = json["errors"].as_array().expect("errors");
    let has = |field: &str, code: &str| {
        errors
            .iter()
            .any(|e| e["field"] == field && e["code"] == code)
    };
    assert!(has("to", "invalid_phone_number"), "{json}");
    assert!(has("interactive.body.text", "empty"), "{json}");
    assert!(
        has("interactive.action.buttons[0].reply.title", "too_long"),
        "{json}"
    );
    assert!(
        has("interactive.action.buttons[1].reply.id", "duplicate"),
        "{json}"
    );

    for (body, field, code) in [
        (
            json!({"to": "+5215512345678", "type": "text", "text": {"body": "x".repeat(4097)}}),
            "text.body",
            "too_long",
        ),
        (
            json!({"to": "+5215512345678", "type": "image", "image": {"id": "1", "link": "https://x.test/a.jpg"}}),
            "image",
            "exactly_one_of",
        ),
        (
            json!({"to": "+5215512345678", "type": "audio", "audio": {"id": "1", "caption": "no"}}),
            "audio.caption",
            "not_allowed",
        ),
        (
            json!({"to": "+5215512345678", "type": "carrier_pigeon"}),
            "type",
            "invalid_value",
        ),
        (
            json!({"to": "+5215512345678", "type": "text"}),
            "text",
            "required",
        ),
        (
            json!({"type": "text", "text": {"body": "hola"}}),
            "to",
            "required",
        ),
        (
            json!({"to": "+5215512345678", "type": "text", "text": {"body": "x"}, "channel": 7}),
            "channel",
            "invalid_type",
        ),
    ] {
        let (status, json) = problem(server.send(&body).await).await;
        assert_eq!(status, 422, "{body}");
        let errors = json["errors"].as_array().expect("errors");
        assert!(
            errors
                .iter()
                .any(|e| e["field"] == field && e["code"] == code),
            "want {field}/{code}: {json}"
        );
    }
    assert_nothing_stored(&server).await;
    server.stop().await;
}

async fn malformed_requests_get_clear_4xx(backend: Backend) {
    let server = TestServer::start(backend).await;
    let url = server.url("/v1/messages");
    let http = &server.http;

    let resp = http
        .post(&url)
        .bearer_auth(&server.key)
        .header("content-type", "application/json")
        .body("{\"to\": ")
        .send()
        .await
        .expect("send");
    let (status, json) = problem(resp).await;
    assert_eq!((status, json["code"].as_str()), (400, Some("invalid_json")));

    let resp = http
        .post(&url)
        .bearer_auth(&server.key)
        .header("content-type", "application/json")
        .body("[1,2]")
        .send()
        .await
        .expect("send");
    let (status, _) = problem(resp).await;
    assert_eq!(status, 400);

    let resp = http
        .post(&url)
        .bearer_auth(&server.key)
        .header("content-type", "text/plain")
        .body("{}")
        .send()
        .await
        .expect("send");
    let (status, json) = problem(resp).await;
    assert_eq!(
        (status, json["code"].as_str()),
        (415, Some("unsupported_media_type"))
    );

    let big = format!(
        "{{\"to\":\"+5215512345678\",\"type\":\"text\",\"text\":{{\"body\":\"{}\"}}}}",
        "x".repeat(1024 * 1024 + 10)
    );
    let resp = http
        .post(&url)
        .bearer_auth(&server.key)
        .header("content-type", "application/json")
        .body(big)
        .send()
        .await
        .expect("send");
    let (status, json) = problem(resp).await;
    assert_eq!(
        (status, json["code"].as_str()),
        (413, Some("payload_too_large"))
    );

    let ok_body = json!({"to": "+5215512345678", "type": "text", "text": {"body": "hola"}});
    let resp = http.post(&url).json(&ok_body).send().await.expect("send");
    let (status, json) = problem(resp).await;
    assert_eq!(
        (status, json["code"].as_str()),
        (401, Some("missing_api_key"))
    );

    let resp = http
        .post(&url)
        .bearer_auth("chq_not-a-real-key")
        .json(&ok_body)
        .send()
        .await
        .expect("send");
    let (status, json) = problem(resp).await;
    assert_eq!(
        (status, json["code"].as_str()),
        (401, Some("invalid_api_key"))
    );

    let resp = http
        .post(&url)
        .bearer_auth(&server.key)
        .header("idempotency-key", "")
        .json(&ok_body)
        .send()
        .await
        .expect("send");
    let (status, json) = problem(resp).await;
    assert_eq!(
        (status, json["code"].as_str()),
        (400, Some("invalid_parameter"))
    );

    let resp = http
        .delete(&url)
        .bearer_auth(&server.key)
        .send()
        .await
        .expect("send");
    let (status, _) = problem(resp).await;
    assert_eq!(status, 405);

    let (status, json) = server.get_json("/v1/messages/msg_doesnotexist").await;
    assert_eq!((status, json["code"].as_str()), (404, Some("not_found")));
    let (status, _) = server.get_json("/v1/nothing-here").await;
    assert_eq!(status, 404);

    assert_nothing_stored(&server).await;
    server.stop().await;
}

async fn health_and_readiness_answer(backend: Backend) {
    let server = TestServer::start(backend).await;
    let live: Value = server
        .http
        .get(server.url("/healthz"))
        .send()
        .await
        .expect("get")
        .json()
        .await
        .expect("json");
    assert_eq!(live["status"], "ok");
    let ready: Value = server
        .http
        .get(server.url("/readyz"))
        .send()
        .await
        .expect("get")
        .json()
        .await
        .expect("json");
    assert_eq!(ready["status"], "ready");
    server.stop().await;
}

on_both_backends!(
    invalid_messages_are_refused_with_every_problem,
    malformed_requests_get_clear_4xx,
    health_and_readiness_answer
);
