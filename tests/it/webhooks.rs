//! Meta → Chasqui status webhooks: verification, signatures, every fixture payload, monotonic
//! and exactly-once application.

use std::time::Duration;

use serde_json::{json, Value};

use crate::on_both_backends;
use crate::support::{sign_meta as sign, Backend, TestServer, APP_SECRET, PHONE_NUMBER_ID};

const FIXTURES: &str = include_str!("../../fixtures/meta-webhooks/pywa/message_status.json");

/// A fixture payload re-addressed to this server's channel and to `wamid`/`message_id`.
fn fixture(name: &str, wamid: &str, message_id: Option<&str>) -> Value {
    let all: Value = serde_json::from_str(FIXTURES).expect("fixture file");
    let mut payload = all[name].clone();
    for entry in payload["entry"].as_array_mut().expect("entry") {
        for change in entry["changes"].as_array_mut().expect("changes") {
            change["value"]["metadata"]["phone_number_id"] = json!(PHONE_NUMBER_ID);
            for st in change["value"]["statuses"]
                .as_array_mut()
                .expect("statuses")
            {
                st["id"] = json!(wamid);
                if let Some(id) = message_id {
                    st["biz_opaque_callback_data"] = json!(id);
                }
            }
        }
    }
    payload
}

async fn post(server: &TestServer, payload: &Value, secret: Option<&str>) -> (u16, Value) {
    server.post_meta(payload, secret).await
}

/// The statuses Meta's webhooks reported, as recorded (without the ones they implied).
fn webhook_statuses(msg: &Value) -> Vec<String> {
    msg["timeline"]
        .as_array()
        .expect("timeline")
        .iter()
        .filter(|e| e["source"] == "webhook" && e["implied"] == false)
        .map(|e| e["status"].as_str().unwrap_or("").to_string())
        .collect()
}

/// The statuses Chasqui recorded as implied by a later one.
fn implied_statuses(msg: &Value) -> Vec<String> {
    msg["timeline"]
        .as_array()
        .expect("timeline")
        .iter()
        .filter(|e| e["implied"] == true)
        .map(|e| e["status"].as_str().unwrap_or("").to_string())
        .collect()
}

async fn start(backend: Backend) -> TestServer {
    // The sandbox's own status webhooks are lost, so only what the test posts arrives.
    TestServer::start_with(backend, |c| c.sandbox.lost_webhook_rate = 1.0).await
}

async fn sent_message(server: &TestServer, to: &str) -> (String, String) {
    let id = server
        .send_ok(&json!({"to": to, "type": "text", "text": {"body": "hola"}}))
        .await;
    let msg = server
        .wait_for(
            std::slice::from_ref(&id),
            &["sent"],
            Duration::from_secs(20),
        )
        .await;
    (id, msg[0]["wamid"].as_str().expect("wamid").to_string())
}

async fn subscription_check_echoes_the_challenge(backend: Backend) {
    let server = start(backend).await;
    let ok = server
        .http
        .get(server.url("/webhooks/meta?hub.mode=subscribe&hub.verify_token=test-verify-token&hub.challenge=1158201444"))
        .send()
        .await
        .expect("get");
    assert_eq!(ok.status(), 200);
    assert_eq!(ok.text().await.expect("text"), "1158201444");
    let bad = server
        .http
        .get(server.url("/webhooks/meta?hub.mode=subscribe&hub.verify_token=wrong&hub.challenge=1"))
        .send()
        .await
        .expect("get");
    assert_eq!(bad.status(), 403);
    server.stop().await;
}

async fn unsigned_or_forged_webhooks_change_nothing(backend: Backend) {
    let server = start(backend).await;
    let (id, wamid) = sent_message(&server, "+5215512340001").await;
    let payload = fixture("read", &wamid, None);
    let (status, json) = post(&server, &payload, None).await;
    assert_eq!(
        (status, json["code"].as_str()),
        (401, Some("missing_signature"))
    );
    let (status, json) = post(&server, &payload, Some("not-the-secret")).await;
    assert_eq!(
        (status, json["code"].as_str()),
        (401, Some("invalid_signature"))
    );
    let msg = server.message(&id).await;
    assert_eq!(msg["status"], "sent");
    assert!(webhook_statuses(&msg).is_empty());
    server.stop().await;
}

async fn statuses_apply_monotonically_and_exactly_once(backend: Backend) {
    let server = start(backend).await;
    let (id, wamid) = sent_message(&server, "+5215512340002").await;

    // read arrives before delivered; then delivered, then read again, several times at once.
    let (status, answer) = post(&server, &fixture("read", &wamid, None), Some(APP_SECRET)).await;
    assert_eq!(status, 200, "{answer}");
    let msg = server.message(&id).await;
    assert_eq!(msg["status"], "read");
    assert_eq!(
        implied_statuses(&msg),
        ["delivered"],
        "read implies delivered"
    );

    post(
        &server,
        &fixture("delivered", &wamid, None),
        Some(APP_SECRET),
    )
    .await;
    let mut hooks = webhook_statuses(&server.message(&id).await);
    hooks.sort();
    assert_eq!(
        hooks,
        ["delivered", "read"],
        "a late status is kept in the history"
    );
    let mut dupes = tokio::task::JoinSet::new();
    for _ in 0..5 {
        let (http, url) = (server.http.clone(), server.url("/webhooks/meta"));
        let body = serde_json::to_vec(&fixture("read", &wamid, None)).expect("json");
        let sig = sign(&body, APP_SECRET);
        dupes.spawn(async move {
            let r = http
                .post(url)
                .header("content-type", "application/json")
                .header("x-hub-signature-256", sig)
                .body(body)
                .send()
                .await;
            r.expect("post").status().as_u16()
        });
    }
    while let Some(code) = dupes.join_next().await {
        assert_eq!(code.expect("join"), 200);
    }
    server.drain_webhooks().await;
    let msg = server.message(&id).await;
    assert_eq!(
        msg["status"], "read",
        "a late delivered does not move read back"
    );
    let mut hooks = webhook_statuses(&msg);
    hooks.sort();
    assert_eq!(
        hooks,
        ["delivered", "read"],
        "each status recorded exactly once"
    );
    assert_eq!(implied_statuses(&msg), ["delivered"]);
    let read = msg["timeline"]
        .as_array()
        .expect("t")
        .iter()
        .find(|e| e["source"] == "webhook" && e["status"] == "read")
        .cloned();
    assert!(read.is_some_and(|e| e["data"]["pricing"].is_object() || e["data"].is_null()));
    server.stop().await;
}

async fn failed_statuses_keep_meta_errors(backend: Backend) {
    let server = start(backend).await;
    let (id, wamid) = sent_message(&server, "+5215512340003").await;
    let (status, answer) = post(&server, &fixture("failed", &wamid, None), Some(APP_SECRET)).await;
    assert_eq!(status, 200, "{answer}");
    let msg = server.message(&id).await;
    assert_eq!(msg["status"], "failed");
    assert_eq!(msg["error"]["code"], 130472);
    assert_eq!(
        msg["error"]["title"],
        "User's number is part of an experiment"
    );
    assert!(msg["error"]["details"]
        .as_str()
        .is_some_and(|d| d.contains("experiment")));
    server.stop().await;
}

async fn every_fixture_payload_is_accepted(backend: Backend) {
    let server = start(backend).await;
    let all: Value = serde_json::from_str(FIXTURES).expect("fixtures");
    for name in all.as_object().expect("object").keys() {
        let (id, wamid) = sent_message(&server, "+5215512340004").await;
        // with_tracker names the message by Chasqui's id only; the wamid it carries is unknown.
        let payload = if name == "with_tracker" {
            fixture(name, "wamid.not-known-here", Some(&id))
        } else {
            fixture(name, &wamid, None)
        };
        let (status, answer) = post(&server, &payload, Some(APP_SECRET)).await;
        assert_eq!(status, 200, "{name}: {answer}");
        let msg = server.message(&id).await;
        assert_eq!(webhook_statuses(&msg).len(), 1, "{name}");
        let expect = match name.as_str() {
            "played" => "read",
            "with_tracker" | "group" => all[name.as_str()]["entry"][0]["changes"][0]["value"]
                ["statuses"][0]["status"]
                .as_str()
                .unwrap_or(""),
            other => other,
        };
        if expect != "sent" {
            assert_eq!(msg["status"], expect, "{name}");
        }
        // A message read straight from `sent` was delivered, too.
        let implied: &[&str] = if expect == "read" {
            &["delivered"]
        } else {
            &[]
        };
        assert_eq!(implied_statuses(&msg), implied, "{name}");
    }
    server.stop().await;
}

on_both_backends!(
    subscription_check_echoes_the_challenge,
    unsigned_or_forged_webhooks_change_nothing,
    statuses_apply_monotonically_and_exactly_once,
    failed_statuses_keep_meta_errors,
    every_fixture_payload_is_accepted,
);
