//! `/metrics` on `metrics_listen`: known traffic moves each counter by exactly that much, and no
//! label names a recipient or a message. The request id on answers and problem bodies.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::{json, Value};

use crate::on_both_backends;
use crate::support::{test_config, Backend, TestDb, TestServer};

/// Every sample of a scrape: `name{labels}` → value.
type Scrape = HashMap<String, f64>;

async fn scrape(s: &TestServer) -> (String, Scrape) {
    let url = s.metrics.as_deref().expect("metrics_listen is set");
    let resp = s.http.get(url).send().await.expect("scrape");
    assert_eq!(resp.status(), 200);
    let text = resp.text().await.expect("text");
    let samples = text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .filter_map(|l| {
            let (series, value) = l.rsplit_once(' ')?;
            Some((series.to_string(), value.parse().ok()?))
        })
        .collect();
    (text, samples)
}

/// The sum of `name`'s samples whose labels include every `k="v"` of `labels`.
fn total(samples: &Scrape, name: &str, labels: &[(&str, &str)]) -> f64 {
    samples
        .iter()
        .filter(|(series, _)| {
            let (n, rest) = series.split_once('{').unwrap_or((series.as_str(), ""));
            n == name
                && labels
                    .iter()
                    .all(|(k, v)| rest.contains(&format!("{k}=\"{v}\"")))
        })
        .map(|(_, v)| v)
        .sum()
}

async fn metrics_server(backend: Backend) -> TestServer {
    let db = TestDb::create_named(backend, "metrics").await;
    let mut cfg = test_config(&db);
    cfg.metrics_listen = Some("127.0.0.1:0".parse().expect("addr"));
    TestServer::start_on(db, cfg).await
}

async fn sandbox_webhooks_sent(s: &TestServer) -> f64 {
    let (status, stats) = s.get_json("/v1/sandbox/stats").await;
    assert_eq!(status, 200, "{stats}");
    stats["webhooks_sent"].as_f64().expect("webhooks_sent")
}

fn text_to(to: &str) -> Value {
    json!({"to": to, "type": "text", "text": {"body": "métricas"}})
}

async fn counters_move_by_exactly_the_traffic(backend: Backend) {
    let s = metrics_server(backend).await;
    let (_, before) = scrape(&s).await;
    let hooks_before = sandbox_webhooks_sent(&s).await;
    let undeliverable = "5215599990000";
    s.patch_sandbox(json!({"undeliverable_recipients": [undeliverable]}))
        .await;

    // Three that are read, one that Meta fails with 131026 after `sent`.
    let mut read = Vec::new();
    for n in 1..=3 {
        read.push(s.send_ok(&text_to(&format!("+52155123400{n:02}"))).await);
    }
    let failed = s.send_ok(&text_to(&format!("+{undeliverable}"))).await;
    // A refusal: no recipient.
    let resp = s
        .send(&json!({"type": "text", "text": {"body": "x"}}))
        .await;
    assert_eq!(resp.status(), 422);
    // A key with a daily quota of one: one accepted, one refused by the quota.
    let (status, key) = s
        .request_json(
            Method::POST,
            "/v1/admin/workspaces/ws_default/keys",
            &json!({"name": "quota", "daily_quota": 1}),
        )
        .await;
    assert_eq!(status, 201, "{key}");
    let key = key["key"].as_str().expect("key").to_string();
    let mut quota_answers = Vec::new();
    for n in 1..=2 {
        let resp = s
            .http
            .post(s.url("/v1/messages"))
            .bearer_auth(&key)
            .json(&text_to(&format!("+52155123401{n:02}")))
            .send()
            .await
            .expect("send");
        let status = resp.status().as_u16();
        let body: Value = resp.json().await.expect("json");
        quota_answers.push((status, body));
    }
    assert_eq!(quota_answers[0].0, 202, "{}", quota_answers[0].1);
    assert_eq!(quota_answers[1].0, 429, "{}", quota_answers[1].1);
    read.push(quota_answers[0].1["id"].as_str().expect("id").to_string());
    // A forged Meta webhook and a failed login.
    let (status, _) = s
        .post_meta(
            &json!({"object": "whatsapp_business_account", "entry": []}),
            Some("forged"),
        )
        .await;
    assert_eq!(status, 401);
    let resp = s
        .http
        .post(s.url("/v1/auth/login"))
        .json(&json!({"username": "nobody", "password": "wrong-password"}))
        .send()
        .await
        .expect("login");
    assert_eq!(resp.status(), 401);

    s.wait_for(&read, &["read"], Duration::from_secs(20)).await;
    s.wait_for(
        std::slice::from_ref(&failed),
        &["failed"],
        Duration::from_secs(20),
    )
    .await;
    // Every status webhook the sandbox posted was counted once it was answered: wait for the
    // sandbox to count its last one as sent, and for the queue gauge to empty.
    let deadline = Instant::now() + Duration::from_secs(20);
    let (text, after) = loop {
        let (text, after) = scrape(&s).await;
        let hooks = sandbox_webhooks_sent(&s).await - hooks_before;
        let received = total(&after, "chasqui_meta_webhooks_received_total", &[])
            - total(&before, "chasqui_meta_webhooks_received_total", &[]);
        let queued = total(&after, "chasqui_queue_messages", &[]);
        if hooks > 0.0 && received == hooks && queued == 0.0 {
            break (text, after);
        }
        assert!(
            Instant::now() < deadline,
            "webhooks received {received}, sandbox sent {hooks}, queued {queued}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let moved = |name: &str, labels: &[(&str, &str)]| {
        total(&after, name, labels) - total(&before, name, labels)
    };
    let ws = [("workspace", "ws_default")];
    assert_eq!(moved("chasqui_messages_accepted_total", &ws), 5.0);
    assert_eq!(
        moved(
            "chasqui_messages_refused_total",
            &[("code", "validation_failed")]
        ),
        1.0
    );
    assert_eq!(
        moved(
            "chasqui_messages_refused_total",
            &[("code", "daily_quota_exceeded")]
        ),
        1.0
    );
    assert_eq!(moved("chasqui_messages_refused_total", &[]), 2.0);
    assert_eq!(
        moved("chasqui_quota_refusals_total", &[("kind", "daily_quota")]),
        1.0
    );
    assert_eq!(moved("chasqui_quota_refusals_total", &[]), 1.0);
    assert_eq!(moved("chasqui_messages_sent_total", &ws), 5.0);
    assert_eq!(moved("chasqui_messages_delivered_total", &ws), 4.0);
    assert_eq!(moved("chasqui_messages_read_total", &ws), 4.0);
    assert_eq!(
        moved("chasqui_messages_failed_total", &[("code", "131026")]),
        1.0
    );
    assert_eq!(moved("chasqui_messages_failed_total", &[]), 1.0);
    assert_eq!(
        moved("chasqui_provider_calls_total", &[("outcome", "sent")]),
        5.0
    );
    assert_eq!(moved("chasqui_provider_calls_total", &[]), 5.0);
    assert_eq!(moved("chasqui_dispatch_retries_total", &[]), 0.0);
    assert_eq!(moved("chasqui_dispatch_unknown_outcomes_total", &[]), 0.0);
    assert_eq!(
        moved(
            "chasqui_meta_webhooks_rejected_total",
            &[("reason", "invalid_signature")]
        ),
        1.0
    );
    assert_eq!(moved("chasqui_logins_failed_total", &[]), 1.0);
    assert_eq!(moved("chasqui_accept_latency_seconds_count", &[]), 5.0);
    assert_eq!(moved("chasqui_provider_call_seconds_count", &[]), 5.0);
    assert_eq!(moved("chasqui_accept_to_sent_seconds_count", &[]), 5.0);
    assert_eq!(moved("chasqui_accept_to_delivered_seconds_count", &[]), 4.0);
    assert_eq!(total(&after, "chasqui_webhook_inbox_pending", &[]), 0.0);
    assert_eq!(total(&after, "chasqui_business_webhook_backlog", &[]), 0.0);
    // Bounded labels: no recipient and no message id anywhere in the exposition.
    for id in read.iter().chain([&failed]) {
        assert!(!text.contains(id.as_str()), "a message id in /metrics");
    }
    for digits in ["5215512340001", undeliverable] {
        assert!(!text.contains(digits), "a recipient in /metrics");
    }
    s.stop().await;
}

/// A retryable provider failure: each retry the timeline records is counted once, and the
/// message's one success too; business webhook deliveries are counted by outcome.
async fn retries_and_business_webhooks_are_counted(backend: Backend) {
    let s = metrics_server(backend).await;
    let received = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
    let hits = received.clone();
    let receiver = axum::Router::new().route(
        "/hook",
        axum::routing::post(move || {
            let hits = hits.clone();
            async move {
                hits.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                "ok"
            }
        }),
    );
    let hook = crate::support::serve_router(receiver).await;
    let (status, endpoint) = s
        .request_json(
            Method::POST,
            "/v1/webhooks",
            &json!({"url": format!("http://{hook}/hook"), "events": ["message.sent"]}),
        )
        .await;
    assert_eq!(status, 201, "{endpoint}");
    let (_, before) = scrape(&s).await;
    s.patch_sandbox(json!({"error_5xx_rate": 1.0})).await;
    let id = s.send_ok(&text_to("+5215512349999")).await;
    s.wait_for_timeline(&id, "retry").await;
    s.patch_sandbox(json!({"error_5xx_rate": 0.0})).await;
    let msg = s
        .wait_for(
            std::slice::from_ref(&id),
            &["read"],
            Duration::from_secs(20),
        )
        .await;
    let retries = msg[0]["timeline"]
        .as_array()
        .expect("timeline")
        .iter()
        .filter(|e| e["status"] == "retry")
        .count() as f64;
    assert!(retries >= 1.0);
    let deadline = Instant::now() + Duration::from_secs(20);
    let after = loop {
        let (_, after) = scrape(&s).await;
        let delivered = total(
            &after,
            "chasqui_business_webhook_deliveries_total",
            &[("outcome", "delivered")],
        );
        let backlog = total(&after, "chasqui_business_webhook_backlog", &[]);
        if delivered >= 1.0 && backlog == 0.0 {
            break after;
        }
        assert!(
            Instant::now() < deadline,
            "the business webhook was not counted"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let moved = |name: &str, labels: &[(&str, &str)]| {
        total(&after, name, labels) - total(&before, name, labels)
    };
    assert_eq!(moved("chasqui_dispatch_retries_total", &[]), retries);
    assert_eq!(
        moved("chasqui_provider_calls_total", &[("outcome", "retry")]),
        retries
    );
    assert_eq!(
        moved("chasqui_provider_calls_total", &[("outcome", "sent")]),
        1.0
    );
    assert_eq!(moved("chasqui_messages_failed_total", &[]), 0.0);
    // One event (message.sent), delivered at the first attempt.
    assert_eq!(
        moved(
            "chasqui_business_webhook_deliveries_total",
            &[("outcome", "delivered")]
        ),
        1.0
    );
    assert_eq!(moved("chasqui_business_webhook_deliveries_total", &[]), 1.0);
    assert_eq!(received.load(std::sync::atomic::Ordering::SeqCst), 1);
    s.stop().await;
}

/// Without `metrics_listen` nothing is served or recorded.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_are_off_without_metrics_listen() {
    let s = TestServer::start(Backend::Sqlite).await;
    assert!(s.metrics.is_none());
    let (status, _) = s.get_json("/metrics").await;
    assert_eq!(status, 404, "/metrics is not on the API listener");
    s.stop().await;
}

/// A caller's valid `X-Request-Id` comes back on the answer and in its problem body; a bad or
/// missing one is replaced by a fresh id, different on each request.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_ids_are_echoed_on_answers_and_problems() {
    let s = TestServer::start(Backend::Sqlite).await;
    let get = |path: &'static str, id: Option<&'static str>| {
        let mut req = s.http.get(s.url(path)).bearer_auth(&s.key);
        if let Some(id) = id {
            req = req.header("x-request-id", id);
        }
        async move {
            let resp = req.send().await.expect("request");
            let header = resp
                .headers()
                .get("x-request-id")
                .and_then(|v| v.to_str().ok())
                .map(str::to_string);
            let body: Value = resp.json().await.unwrap_or(Value::Null);
            (header, body)
        }
    };
    let (header, body) = get("/v1/messages/msg_nope", Some("caller-id.42")).await;
    assert_eq!(header.as_deref(), Some("caller-id.42"));
    assert_eq!(body["code"], "not_found");
    assert_eq!(body["request_id"], "caller-id.42");
    let (header, _) = get("/healthz", Some("caller-id.43")).await;
    assert_eq!(header.as_deref(), Some("caller-id.43"), "on a success too");
    let (first, body) = get("/no/such/route", Some("bad id with spaces")).await;
    let first = first.expect("a generated id");
    assert_ne!(first, "bad id with spaces");
    assert_eq!(body["request_id"], first.as_str());
    let (second, _) = get("/no/such/route", None).await;
    let second = second.expect("a generated id");
    assert!(second.len() >= 16 && second != first, "{first} {second}");
    // A forged Meta webhook is a problem of its own module: it carries the id too.
    let resp = s
        .http
        .post(s.url("/webhooks/meta"))
        .header("x-request-id", "meta-1")
        .header("x-hub-signature-256", "sha256=00")
        .body("{}")
        .send()
        .await
        .expect("post");
    assert_eq!(resp.status(), 401);
    let body: Value = resp.json().await.expect("json");
    assert_eq!(body["request_id"], "meta-1");
    s.stop().await;
}

on_both_backends!(
    counters_move_by_exactly_the_traffic,
    retries_and_business_webhooks_are_counted,
);
