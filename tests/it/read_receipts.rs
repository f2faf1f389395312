//! `POST /v1/messages/{id}/read`: a customer's message is marked read at the provider (the
//! sandbox records Meta's read receipt), with the typing indicator when asked; by wamid or by
//! Chasqui's id, only in the caller's workspace.

use reqwest::Method;
use serde_json::{json, Value};

use crate::on_both_backends;
use crate::support::{request_with, Backend, TestServer};

async fn receipts(s: &TestServer) -> Vec<Value> {
    let (status, log) = s.get_json("/v1/sandbox/read_receipts").await;
    assert_eq!(status, 200, "{log}");
    log["read_receipts"].as_array().cloned().unwrap_or_default()
}

async fn a_customers_message_is_marked_read_with_typing(backend: Backend) {
    let s = TestServer::start(backend).await;
    let wamid = s
        .customer_writes(
            "5215512340001",
            "Lucía",
            json!({"type": "text", "text": {"body": "hola"}}),
        )
        .await;

    let (status, read) = s
        .request_json(
            Method::POST,
            &format!("/v1/messages/{wamid}/read"),
            &json!({"typing_indicator": {"type": "text"}}),
        )
        .await;
    assert_eq!(status, 200, "{read}");
    assert_eq!(read["wamid"], wamid.as_str());
    assert_eq!(read["typing_indicator"], true);
    let chasqui_id = read["id"].as_str().expect("in_ id").to_string();
    assert!(chasqui_id.starts_with("in_"), "{read}");
    let log = receipts(&s).await;
    assert_eq!(log.len(), 1, "{log:?}");
    assert_eq!(log[0]["message_id"], wamid.as_str());
    assert_eq!(log[0]["typing"], true);

    // By Chasqui's id, without a body: a plain read receipt.
    let resp = s
        .http
        .post(s.url(&format!("/v1/messages/{chasqui_id}/read")))
        .bearer_auth(&s.key)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let log = receipts(&s).await;
    assert_eq!(log.len(), 2);
    assert_eq!(log[1]["typing"], false);

    // Refusals send nothing.
    let (status, bad) = s
        .request_json(
            Method::POST,
            &format!("/v1/messages/{wamid}/read"),
            &json!({"typing_indicator": {"type": "audio"}}),
        )
        .await;
    assert_eq!(status, 422, "{bad}");
    assert_eq!(bad["errors"][0]["field"], "typing_indicator.type");
    let (status, _) = s
        .request_json(
            Method::POST,
            "/v1/messages/wamid.unknown/read",
            &Value::Null,
        )
        .await;
    assert_eq!(status, 404);
    // Another workspace cannot mark this one's customers' messages read.
    let tenant = s.new_workspace("other").await;
    let (status, _) = request_with(
        &s.http,
        &s.base,
        &tenant.key,
        Method::POST,
        &format!("/v1/messages/{wamid}/read"),
        &Value::Null,
    )
    .await;
    assert_eq!(status, 404);
    assert_eq!(receipts(&s).await.len(), 2, "nothing more was sent");
    s.stop().await;
}

on_both_backends!(a_customers_message_is_marked_read_with_typing);

async fn an_auto_read_channel_marks_each_inbound_message_read(backend: Backend) {
    let s = TestServer::start(backend).await;
    // Off by default: nothing is marked read behind the agents' backs.
    let (_, channel) = s.get_json("/v1/admin/channels/ch_default").await;
    assert_eq!(channel["auto_read"], false, "{channel}");
    let before = s
        .customer_writes(
            "5215512340002",
            "Pablo",
            json!({"type": "text", "text": {"body": "uno"}}),
        )
        .await;

    let (status, channel) = s
        .request_json(
            Method::PATCH,
            "/v1/admin/channels/ch_default",
            &json!({"auto_read": true}),
        )
        .await;
    assert_eq!(status, 200, "{channel}");
    assert_eq!(channel["auto_read"], true);
    let after = s
        .customer_writes(
            "5215512340002",
            "Pablo",
            json!({"type": "text", "text": {"body": "dos"}}),
        )
        .await;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let log = loop {
        let log = receipts(&s).await;
        if log.iter().any(|r| r["message_id"] == after.as_str()) {
            break log;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no read receipt for {after}: {log:?}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    };
    assert!(
        !log.iter().any(|r| r["message_id"] == before.as_str()),
        "a message from before auto_read was marked read: {log:?}"
    );
    assert_eq!(log.len(), 1, "{log:?}");
    let (status, bad) = s
        .request_json(
            Method::PATCH,
            "/v1/admin/channels/ch_default",
            &json!({"auto_read": "yes"}),
        )
        .await;
    assert_eq!(status, 422, "{bad}");
    assert_eq!(bad["errors"][0]["field"], "auto_read");
    s.stop().await;
}

on_both_backends!(an_auto_read_channel_marks_each_inbound_message_read);
