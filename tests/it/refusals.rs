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

/// Posts `body` to `/v1/messages` with the test key and `content_type`; returns the problem's
/// status and machine code.
async fn post_raw(server: &TestServer, content_type: &str, body: String) -> (u16, String) {
    let resp = server
        .http
        .post(server.url("/v1/messages"))
        .bearer_auth(&server.key)
        .header("content-type", content_type)
        .body(body)
        .send()
        .await
        .expect("send");
    let (status, json) = problem(resp).await;
    (status, json["code"].as_str().unwrap_or("").to_string())
}

async fn malformed_requests_get_clear_4xx(backend: Backend) {
    let server = TestServer::start(backend).await;
    let json_ct = "application/json";
    let too_big = format!(
        "{{\"to\":\"+5215512345678\",\"type\":\"text\",\"text\":{{\"body\":\"{}\"}}}}",
        "x".repeat(1024 * 1024 + 10)
    );
    for (content_type, body, want) in [
        (json_ct, "{\"to\": ".to_string(), (400, "invalid_json")),
        (json_ct, "[1,2]".to_string(), (400, "invalid_json")),
        (
            "text/plain",
            "{}".to_string(),
            (415, "unsupported_media_type"),
        ),
        (json_ct, too_big, (413, "payload_too_large")),
    ] {
        let (status, code) = post_raw(&server, content_type, body).await;
        assert_eq!((status, code.as_str()), want);
    }

    let url = server.url("/v1/messages");
    let ok_body = json!({"to": "+5215512345678", "type": "text", "text": {"body": "hola"}});
    for (request, want) in [
        (server.http.post(&url), (401, "missing_api_key")),
        (
            server.http.post(&url).bearer_auth("chq_not-a-real-key"),
            (401, "invalid_api_key"),
        ),
        (
            server
                .http
                .post(&url)
                .bearer_auth(&server.key)
                .header("idempotency-key", ""),
            (400, "invalid_parameter"),
        ),
    ] {
        let (status, json) = problem(request.json(&ok_body).send().await.expect("send")).await;
        assert_eq!((status, json["code"].as_str()), (want.0, Some(want.1)));
    }

    let resp = server
        .http
        .delete(&url)
        .bearer_auth(&server.key)
        .send()
        .await
        .expect("send");
    let (status, json) = problem(resp).await;
    assert_eq!(
        (status, json["code"].as_str()),
        (405, Some("method_not_allowed"))
    );

    let (status, json) = server.get_json("/v1/messages/msg_doesnotexist").await;
    assert_eq!((status, json["code"].as_str()), (404, Some("not_found")));
    let (status, _) = server.get_json("/v1/nothing-here").await;
    assert_eq!(status, 404);

    assert_nothing_stored(&server).await;
    server.stop().await;
}

async fn health_and_readiness_answer(backend: Backend) {
    let server = TestServer::start(backend).await;
    assert_eq!(
        server.get_json("/healthz").await,
        (200, json!({"status": "ok"}))
    );
    assert_eq!(
        server.get_json("/readyz").await,
        (
            200,
            json!({"status": "ready", "webhook_inbox": {"pending": 0},
                   "version": env!("CARGO_PKG_VERSION"), "commit": chasqui::build_info::COMMIT})
        )
    );
    server.stop().await;
}

on_both_backends!(
    invalid_messages_are_refused_with_every_problem,
    malformed_requests_get_clear_4xx,
    health_and_readiness_answer
);
