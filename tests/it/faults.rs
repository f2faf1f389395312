//! Faults injected by the sandbox (5xx, throttling, timeouts, dropped requests, lost webhooks)
//! lose nothing, duplicate nothing and keep per-recipient order; pacing holds the channel rate.

use std::collections::HashMap;
use std::time::Duration;

use serde_json::{json, Value};

use crate::on_both_backends;
use crate::support::{Backend, TestServer};

const RECIPIENTS: [&str; 5] = [
    "+5215512300001",
    "+5215512300002",
    "+573001230003",
    "+593991230004",
    "+51987230005",
];

/// Sends `per_recipient` messages to each recipient, one at a time so acceptance order is defined.
async fn send_batch(server: &TestServer, per_recipient: usize) -> Vec<(String, String)> {
    let mut sent = Vec::new();
    for n in 0..per_recipient {
        for to in RECIPIENTS {
            let id = server
                .send_ok(&json!({"to": to, "type": "text", "text": {"body": format!("#{n}")}}))
                .await;
            sent.push((to.trim_start_matches('+').to_string(), id));
        }
    }
    sent
}

/// Every accepted message reached the sandbox exactly once, and each recipient got its
/// messages in acceptance order.
fn assert_exactly_once_in_order(sent: &[(String, String)], received: &[Value]) {
    let mut copies: HashMap<&str, usize> = HashMap::new();
    for r in received {
        *copies
            .entry(r["callback_data"].as_str().unwrap_or(""))
            .or_default() += 1;
    }
    for (_, id) in sent {
        assert_eq!(
            copies.get(id.as_str()).copied().unwrap_or(0),
            1,
            "message {id} must reach WhatsApp exactly once"
        );
    }
    for to in RECIPIENTS {
        let to = to.trim_start_matches('+');
        let accepted: Vec<&str> = sent
            .iter()
            .filter(|(t, _)| t == to)
            .map(|(_, id)| id.as_str())
            .collect();
        let mut arrived: Vec<&Value> = received.iter().filter(|r| r["to"] == to).collect();
        arrived.sort_by_key(|r| r["seq"].as_u64());
        let arrived: Vec<&str> = arrived
            .iter()
            .filter_map(|r| r["callback_data"].as_str())
            .collect();
        assert_eq!(arrived, accepted, "order to {to}");
    }
}

async fn provider_faults_lose_and_duplicate_nothing(backend: Backend) {
    let server = TestServer::start(backend).await;
    server
        .patch_sandbox(json!({
            "error_5xx_rate": 0.15,
            "timeout_after_accept_rate": 0.08,
            "drop_rate": 0.08,
            "throttle_per_sec": 150,
            "seed": 7
        }))
        .await;
    let sent = send_batch(&server, 8).await;
    let ids: Vec<String> = sent.iter().map(|(_, id)| id.clone()).collect();
    let done = server
        .wait_for(&ids, &["read"], Duration::from_secs(90))
        .await;
    assert_exactly_once_in_order(&sent, &server.sandbox_messages().await);
    // The faults did happen: some messages needed more than one attempt or a reconciliation.
    let retried = done.iter().filter(|m| {
        m["timeline"].as_array().is_some_and(|t| {
            t.iter()
                .any(|e| e["status"] == "retry" || e["status"] == "unknown")
        })
    });
    assert!(
        retried.count() > 0,
        "the injected faults should have touched some messages"
    );
    server.stop().await;
}

async fn lost_status_webhooks_never_cause_a_resend(backend: Backend) {
    let server = TestServer::start(backend).await;
    server
        .patch_sandbox(json!({"lost_webhook_rate": 0.5, "error_5xx_rate": 0.1, "seed": 11}))
        .await;
    let sent = send_batch(&server, 4).await;
    let ids: Vec<String> = sent.iter().map(|(_, id)| id.clone()).collect();
    // Provider acceptance alone makes a message `sent`; lost webhooks only stop it going further.
    let done = server
        .wait_for(
            &ids,
            &["sent", "delivered", "read"],
            Duration::from_secs(60),
        )
        .await;
    // Meta's `sent` webhook may be applied before the dispatcher records Meta's answer: wait for
    // that record (`accepted`) too, then count the attempts.
    let mut attempted = Vec::with_capacity(done.len());
    for id in &ids {
        attempted.push(server.wait_for_timeline(id, "accepted").await);
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_exactly_once_in_order(&sent, &server.sandbox_messages().await);
    assert!(
        attempted.iter().all(|m| m["attempts"].as_i64() >= Some(1)),
        "{attempted:?}"
    );
    server.stop().await;
}

async fn undeliverable_recipients_fail_with_metas_error(backend: Backend) {
    let server = TestServer::start(backend).await;
    server
        .patch_sandbox(json!({"undeliverable_recipients": ["5215599999999"]}))
        .await;
    let id = server
        .send_ok(&json!({"to": "+5215599999999", "type": "text", "text": {"body": "x"}}))
        .await;
    let msg = server
        .wait_for(&[id], &["failed"], Duration::from_secs(20))
        .await;
    assert_eq!(msg[0]["error"]["code"], 131026);
    server.stop().await;
}

async fn pacing_holds_the_channel_and_pair_rates(backend: Backend) {
    let server = TestServer::start_with(backend, |c| {
        c.default_channel.rate_per_sec = 10;
        c.default_channel.pair_interval_ms = 400;
        c.default_channel.pair_burst = 1;
    })
    .await;
    let mut ids = Vec::new();
    for i in 0..30 {
        let to = format!("+52155123{:05}", 10_000 + i);
        ids.push(
            server
                .send_ok(&json!({"to": to, "type": "text", "text": {"body": "p"}}))
                .await,
        );
    }
    for i in 0..4 {
        ids.push(server.send_ok(&json!({"to": "+5215512399999", "type": "text", "text": {"body": format!("pair {i}")}})).await);
    }
    server
        .wait_for(
            &ids,
            &["sent", "delivered", "read"],
            Duration::from_secs(30),
        )
        .await;
    let received = server.sandbox_messages().await;
    let mut times: Vec<i64> = received
        .iter()
        .filter_map(|r| r["received_at_ms"].as_i64())
        .collect();
    times.sort();
    // 10/s with a one-second burst: no one-second window may hold more than 10 + 10 (+1 rounding).
    for (i, t) in times.iter().enumerate() {
        let in_window = times[i..].iter().take_while(|u| **u < t + 1000).count();
        assert!(
            in_window <= 21,
            "{in_window} messages within one second at a 10/s rate"
        );
    }
    let span = times.last().copied().unwrap_or(0) - times.first().copied().unwrap_or(0);
    assert!(
        span >= 1_900,
        "34 messages at 10/s after a 10-message burst take at least ~2.4 s, took {span} ms"
    );
    let mut pair: Vec<i64> = received
        .iter()
        .filter(|r| r["to"] == "5215512399999")
        .filter_map(|r| r["received_at_ms"].as_i64())
        .collect();
    pair.sort();
    assert_eq!(pair.len(), 4);
    for w in pair.windows(2) {
        assert!(
            w[1] - w[0] >= 350,
            "messages to one person spaced by the pair interval: {pair:?}"
        );
    }
    server.stop().await;
}

on_both_backends!(
    provider_faults_lose_and_duplicate_nothing,
    lost_status_webhooks_never_cause_a_resend,
    undeliverable_recipients_fail_with_metas_error,
    pacing_holds_the_channel_and_pair_rates,
);
