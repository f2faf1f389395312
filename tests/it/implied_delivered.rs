//! Meta may report `read` before `delivered` (read implies delivered): the sandbox swaps the two
//! webhooks on purpose, and Chasqui records the implied `delivered` first, tells every business
//! endpoint `message.delivered` then `message.read` once each (also one whose first attempts
//! fail), and lets Meta's late `delivered` change nothing.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use reqwest::Method;
use serde_json::{json, Value};

use crate::on_both_backends;
use crate::support::{Backend, TestServer};

/// One request an endpoint got: (webhook-id, event type, message id, the status answered).
type Hit = (String, String, String, u16);

/// A business's endpoint; `flaky` answers 500 to the first attempt of every event.
#[derive(Default)]
struct Endpoint {
    flaky: bool,
    tried: Mutex<HashSet<String>>,
    hits: Mutex<Vec<Hit>>,
}

async fn receive(State(e): State<Arc<Endpoint>>, headers: HeaderMap, body: Bytes) -> StatusCode {
    let event: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let id = headers
        .get("webhook-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    let first_attempt = e.tried.lock().expect("lock").insert(id.clone());
    let answered = if e.flaky && first_attempt { 500 } else { 204 };
    e.hits.lock().expect("lock").push((
        id,
        event["type"].as_str().unwrap_or("").to_string(),
        event["data"]["id"].as_str().unwrap_or("").to_string(),
        answered,
    ));
    StatusCode::from_u16(answered).expect("status")
}

impl Endpoint {
    /// Listens on a random port; answers the endpoint and its URL.
    async fn start(flaky: bool) -> (Arc<Self>, String) {
        let e = Arc::new(Self {
            flaky,
            ..Self::default()
        });
        let app = axum::Router::new()
            .route("/hook", axum::routing::post(receive))
            .with_state(e.clone());
        let url = format!("http://{}/hook", crate::support::serve_router(app).await);
        (e, url)
    }

    /// Every request about `message`, in arrival order.
    fn hits(&self, message: &str) -> Vec<Hit> {
        let hits = self.hits.lock().expect("lock");
        hits.iter().filter(|h| h.2 == message).cloned().collect()
    }

    /// The event types answered 2xx for `message`, in arrival order.
    fn accepted(&self, message: &str) -> Vec<String> {
        self.hits(message)
            .into_iter()
            .filter(|h| h.3 < 300)
            .map(|h| h.1)
            .collect()
    }

    async fn wait_accepted(&self, message: &str, n: usize) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while self.accepted(message).len() < n {
            assert!(
                Instant::now() < deadline,
                "{message}: {:#?}",
                self.hits(message)
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

async fn register(s: &TestServer, url: &str) -> String {
    let events = json!(["message.delivered", "message.read"]);
    let (status, body) = s
        .request_json(
            Method::POST,
            "/v1/webhooks",
            &json!({"url": url, "events": events}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    body["id"].as_str().expect("id").to_string()
}

/// The timeline's (status, implied) pairs, without the dispatcher's own entries.
fn statuses(message: &Value) -> Vec<(String, bool)> {
    message["timeline"]
        .as_array()
        .expect("timeline")
        .iter()
        .filter(|e| e["source"] == "webhook")
        .map(|e| {
            let implied = e["implied"].as_bool().expect("implied is a boolean");
            (e["status"].as_str().unwrap_or("").to_string(), implied)
        })
        .collect()
}

/// Polls the message until an entry of its timeline satisfies `pred`; answers the message.
async fn wait_for_entry(s: &TestServer, id: &str, pred: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let message = s.message(id).await;
        if message["timeline"]
            .as_array()
            .is_some_and(|t| t.iter().any(&pred))
        {
            return message;
        }
        assert!(Instant::now() < deadline, "never came: {message:#}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn read_first_implies_delivered_and_the_late_delivered_changes_nothing(backend: Backend) {
    let s = TestServer::start_with(backend, |c| {
        c.business_webhooks.poll_ms = 20;
        c.business_webhooks.initial_backoff_ms = 100;
        c.business_webhooks.max_backoff_ms = 300;
        c.business_webhooks.timeout_ms = 1_500;
    })
    .await;
    // `read` at 10 ms, Meta's own `delivered` well after Chasqui applied it.
    s.patch_sandbox(json!({"read_before_delivered": true, "read_after_ms": 600}))
        .await;
    let (steady, steady_url) = Endpoint::start(false).await;
    let (flaky, flaky_url) = Endpoint::start(true).await;
    let steady_id = register(&s, &steady_url).await;
    let flaky_id = register(&s, &flaky_url).await;

    let id = s
        .send_ok(&json!({"to": "+5215512347001", "type": "text", "text": {"body": "hola"}}))
        .await;
    let read = s
        .wait_for(
            std::slice::from_ref(&id),
            &["read"],
            Duration::from_secs(20),
        )
        .await
        .remove(0);
    let updated_at = read["updated_at"].clone();

    // Every endpoint hears delivered, then read, each once: the flaky one's failed first
    // attempts (retried with backoff) do not let `read` overtake `delivered`.
    for endpoint in [&steady, &flaky] {
        endpoint.wait_accepted(&id, 2).await;
        assert_eq!(
            endpoint.accepted(&id),
            ["message.delivered", "message.read"]
        );
        let types: Vec<String> = endpoint.hits(&id).into_iter().map(|h| h.1).collect();
        let first_read = types.iter().position(|t| t == "message.read");
        let last_delivered = types.iter().rposition(|t| t == "message.delivered");
        assert!(
            last_delivered < first_read,
            "read attempted before delivered was: {types:?}"
        );
    }
    let flaky_hits = flaky.hits(&id);
    assert_eq!(
        flaky_hits.iter().filter(|h| h.3 == 500).count(),
        2,
        "{flaky_hits:#?}"
    );

    // The sandbox really sent them swapped; wait until Chasqui has applied the late one.
    let late = wait_for_entry(&s, &id, |e| {
        e["status"] == "delivered" && e["implied"] == false
    })
    .await;
    let log = s.sandbox_messages().await;
    let sandbox_order: Vec<&str> = log
        .iter()
        .find(|m| m["callback_data"] == id.as_str())
        .and_then(|m| m["statuses"].as_array())
        .expect("sandbox log")
        .iter()
        .map(|st| st["status"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(sandbox_order, ["sent", "read", "delivered"]);

    // The timeline: the implied delivered, read, then Meta's delivered, history only.
    let timeline = statuses(&late);
    let expected = [
        ("delivered".to_string(), true),
        ("read".to_string(), false),
        ("delivered".to_string(), false),
    ];
    assert!(
        timeline.ends_with(&expected),
        "timeline: {:#}",
        late["timeline"]
    );
    assert_eq!(timeline.iter().filter(|(st, _)| st == "read").count(), 1);
    let implied = late["timeline"]
        .as_array()
        .and_then(|t| t.iter().find(|e| e["implied"] == true))
        .expect("implied entry");
    assert_eq!(implied["reported_at"], Value::Null, "Meta never said when");
    assert_eq!(implied["wamid"], late["wamid"]);
    assert_eq!(late["status"], "read");
    assert_eq!(
        late["updated_at"], updated_at,
        "the late delivered touched the message"
    );

    // No second `message.delivered` was written: the late status wrote its timeline entry and
    // nothing else in one transaction, so the delivery logs are complete now.
    for wh in [&steady_id, &flaky_id] {
        let (status, log) = s.get_json(&format!("/v1/webhooks/{wh}/deliveries")).await;
        assert_eq!(status, 200, "{log}");
        let mut types: Vec<(String, String)> = log["data"]
            .as_array()
            .expect("deliveries")
            .iter()
            .map(|d| {
                let ty = d["type"].as_str().unwrap_or("").to_string();
                (ty, d["state"].as_str().unwrap_or("").to_string())
            })
            .collect();
        types.sort();
        assert_eq!(
            types,
            [
                ("message.delivered".to_string(), "delivered".to_string()),
                ("message.read".to_string(), "delivered".to_string())
            ],
            "{log}"
        );
    }
    for endpoint in [&steady, &flaky] {
        assert_eq!(
            endpoint.accepted(&id),
            ["message.delivered", "message.read"]
        );
    }
    s.stop().await;
}

on_both_backends!(read_first_implies_delivered_and_the_late_delivered_changes_nothing);
