//! Webhooks to the business: a real receiver on a random port verifies every Standard Webhooks
//! signature and records what arrives, through failures, hangs and replays, on both back ends.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU16, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use reqwest::Method;
use serde_json::{json, Value};

use crate::on_both_backends;
use crate::process::{chasqui, spawn_serve, wait_ready, Proc};
use crate::support::{Backend, TestDb, TestServer};

/// One request the receiver got.
#[derive(Debug, Clone)]
struct Hit {
    id: String,
    event: Value,
    answered: u16,
    valid: bool,
    raw: String,
}

/// A business's webhook receiver: verifies signatures, can fail with a status or hang.
#[derive(Default)]
struct Receiver {
    secret: Mutex<String>,
    hits: Mutex<Vec<Hit>>,
    fail_with: AtomicU16,
    hang_ms: AtomicU64,
}

fn verify(secret: &str, headers: &HeaderMap, body: &str) -> bool {
    use base64::Engine;
    use hmac::{Hmac, KeyInit, Mac};
    let b64 = base64::engine::general_purpose::STANDARD;
    let h = |n: &str| headers.get(n).and_then(|v| v.to_str().ok()).unwrap_or("");
    let (id, ts, sig) = (
        h("webhook-id"),
        h("webhook-timestamp"),
        h("webhook-signature"),
    );
    let Ok(ts_n) = ts.parse::<i64>() else {
        return false;
    };
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs() as i64;
    if (now - ts_n).abs() > 300 {
        return false;
    }
    let key = b64
        .decode(secret.strip_prefix("whsec_").unwrap_or(""))
        .expect("secret");
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(&key).expect("key");
    mac.update(format!("{id}.{ts}.{body}").as_bytes());
    let expected = format!("v1,{}", b64.encode(mac.finalize().into_bytes()));
    sig.split(' ').any(|s| s == expected)
}

async fn receive(State(r): State<Arc<Receiver>>, headers: HeaderMap, body: Bytes) -> StatusCode {
    let hang = r.hang_ms.load(Ordering::SeqCst);
    if hang > 0 {
        tokio::time::sleep(Duration::from_millis(hang)).await;
    }
    let raw = String::from_utf8_lossy(&body).to_string();
    let secret = r.secret.lock().expect("lock").clone();
    let valid = verify(&secret, &headers, &raw);
    let fail = r.fail_with.load(Ordering::SeqCst);
    let answered = if fail > 0 { fail } else { 204 };
    let event: Value = serde_json::from_str(&raw).unwrap_or(Value::Null);
    let id = headers
        .get("webhook-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    r.hits.lock().expect("lock").push(Hit {
        id,
        event,
        answered,
        valid,
        raw,
    });
    StatusCode::from_u16(answered).expect("status")
}

impl Receiver {
    async fn start() -> (Arc<Self>, String) {
        let r = Arc::new(Self::default());
        let app = axum::Router::new()
            .route("/hook", axum::routing::post(receive))
            .with_state(r.clone());
        let url = format!("http://{}/hook", crate::support::serve_router(app).await);
        (r, url)
    }

    fn hits(&self) -> Vec<Hit> {
        self.hits.lock().expect("lock").clone()
    }

    /// Events answered 2xx, by event id: each must be exactly one.
    fn accepted(&self) -> HashMap<String, Vec<Hit>> {
        let mut by_id: HashMap<String, Vec<Hit>> = HashMap::new();
        for h in self.hits().into_iter().filter(|h| h.answered < 300) {
            by_id.entry(h.id.clone()).or_default().push(h);
        }
        by_id
    }

    /// Waits until `pred` holds on the accepted events.
    async fn wait(&self, what: &str, pred: impl Fn(&HashMap<String, Vec<Hit>>) -> bool) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while !pred(&self.accepted()) {
            assert!(Instant::now() < deadline, "{what}: {:#?}", self.hits());
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }
}

async fn start(backend: Backend) -> TestServer {
    TestServer::start_with(backend, |c| {
        c.business_webhooks.poll_ms = 20;
        c.business_webhooks.initial_backoff_ms = 100;
        c.business_webhooks.max_backoff_ms = 300;
        c.business_webhooks.timeout_ms = 1_500;
    })
    .await
}

async fn register(s: &TestServer, r: &Receiver, url: &str, events: Value) -> String {
    let (status, body) = s
        .request_json(
            Method::POST,
            "/v1/webhooks",
            &json!({"url": url, "events": events}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let secret = body["secret"].as_str().expect("secret once").to_string();
    assert!(secret.starts_with("whsec_"));
    *r.secret.lock().expect("lock") = secret;
    body["id"].as_str().expect("id").to_string()
}

fn types_of(accepted: &HashMap<String, Vec<Hit>>, message: &str) -> Vec<(String, String)> {
    let mut v: Vec<(String, String)> = accepted
        .values()
        .map(|h| &h[0].event)
        .filter(|e| e["data"]["id"] == message)
        .map(|e| {
            (
                e["id"].as_str().unwrap_or("").to_string(),
                e["type"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect();
    v.sort();
    v
}

fn text(to: &str) -> Value {
    json!({"to": to, "type": "text", "text": {"body": "hola"}})
}

async fn lifecycle_events_are_signed_and_delivered_once(backend: Backend) {
    let s = start(backend).await;
    let (r, url) = Receiver::start().await;
    let wh = register(&s, &r, &url, json!(["*"])).await;

    // The secret is shown once: never in a read or a listing.
    let (_, one) = s.get_json(&format!("/v1/webhooks/{wh}")).await;
    let (_, all) = s.get_json("/v1/webhooks").await;
    let secret = r.secret.lock().expect("lock").clone();
    assert!(one.get("secret").is_none() && !one.to_string().contains(&secret));
    assert!(!all.to_string().contains(&secret));
    assert!(one["secret_hint"]
        .as_str()
        .expect("hint")
        .starts_with("whsec_"));

    let id = s.send_ok(&text("+5215512346101")).await;
    s.wait_for(
        std::slice::from_ref(&id),
        &["read"],
        Duration::from_secs(20),
    )
    .await;
    r.wait("queued..read", |a| types_of(a, &id).len() == 4)
        .await;
    let types: Vec<String> = types_of(&r.accepted(), &id)
        .into_iter()
        .map(|(_, t)| t)
        .collect();
    assert_eq!(
        types,
        [
            "message.queued",
            "message.sent",
            "message.delivered",
            "message.read"
        ]
    );
    for (event_id, hits) in r.accepted() {
        assert_eq!(hits.len(), 1, "event {event_id} delivered twice");
        assert_eq!(hits[0].event["id"], event_id.as_str());
    }
    assert!(r.hits().iter().all(|h| h.valid), "bad signature");

    s.customer_writes(
        "5215512346102",
        "Ana",
        json!({"type": "text", "text": {"body": "hi"}}),
    )
    .await;
    r.wait("message.received", |a| {
        a.values().any(|h| h[0].event["type"] == "message.received")
    })
    .await;

    // No API key, provider token or webhook secret in any payload.
    for h in r.hits() {
        assert!(!h.raw.contains("chq_"), "{}", h.raw);
        assert!(!h.raw.contains(&s.key));
        assert!(!h.raw.contains("sandbox-token"));
        assert!(!h.raw.contains("whsec_"));
    }
    s.stop().await;
}

async fn a_failing_endpoint_gets_every_event_once_after_retries(backend: Backend) {
    let s = start(backend).await;
    let (r, url) = Receiver::start().await;
    let wh = register(&s, &r, &url, json!(["message.queued"])).await;
    r.fail_with.store(500, Ordering::SeqCst);
    let mut ids = Vec::new();
    for i in 0..5 {
        ids.push(s.send_ok(&text(&format!("+521551234620{i}"))).await);
    }
    let deadline = Instant::now() + Duration::from_secs(20);
    while r.hits().iter().filter(|h| h.answered == 500).count() < 10 {
        assert!(Instant::now() < deadline, "no retries: {:#?}", r.hits());
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    r.fail_with.store(0, Ordering::SeqCst);
    r.wait("all queued events", |a| a.len() == 5).await;
    // Retries keep the event id: every one was delivered exactly once, and only what was asked.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let accepted = r.accepted();
    assert_eq!(accepted.len(), 5);
    for hits in accepted.values() {
        assert_eq!(hits.len(), 1);
        assert_eq!(hits[0].event["type"], "message.queued");
    }
    let failed_ids: std::collections::HashSet<_> = r
        .hits()
        .iter()
        .filter(|h| h.answered == 500)
        .map(|h| h.id.clone())
        .collect();
    assert!(failed_ids.iter().all(|id| accepted.contains_key(id)));

    let (status, log) = s.get_json(&format!("/v1/webhooks/{wh}/deliveries")).await;
    assert_eq!(status, 200, "{log}");
    let rows = log["data"].as_array().expect("rows");
    assert_eq!(rows.len(), 5);
    for row in rows {
        assert_eq!(row["state"], "delivered", "{row}");
        assert_eq!(row["last_status"], 204);
        let statuses: Vec<_> = row["log"]
            .as_array()
            .expect("log")
            .iter()
            .map(|a| a["status"].clone())
            .collect();
        assert_eq!(statuses.last(), Some(&json!(204)));
        assert!(row["attempts"].as_i64().expect("attempts") >= 1);
    }
    assert!(rows
        .iter()
        .any(|row| row["log"][0]["status"] == 500 && row["attempts"].as_i64() > Some(1)));
    s.stop().await;
}

async fn a_hanging_endpoint_does_not_delay_another(backend: Backend) {
    let s = start(backend).await;
    let (slow, slow_url) = Receiver::start().await;
    let (fast, fast_url) = Receiver::start().await;
    register(&s, &slow, &slow_url, json!(["message.queued"])).await;
    register(&s, &fast, &fast_url, json!(["message.queued"])).await;
    slow.hang_ms.store(5_000, Ordering::SeqCst);
    let started = Instant::now();
    for i in 0..10 {
        s.send_ok(&text(&format!("+521551234630{i}"))).await;
    }
    fast.wait("fast endpoint", |a| a.len() == 10).await;
    assert!(
        started.elapsed() < Duration::from_millis(1_400),
        "the fast endpoint waited {:?}",
        started.elapsed()
    );
    s.stop().await;
}

async fn filters_replay_and_bad_input(backend: Backend) {
    let s = start(backend).await;
    let (r, url) = Receiver::start().await;
    let wh = register(&s, &r, &url, json!(["message.read"])).await;
    let id = s.send_ok(&text("+5215512346401")).await;
    s.wait_for(
        std::slice::from_ref(&id),
        &["read"],
        Duration::from_secs(20),
    )
    .await;
    r.wait("read only", |a| !a.is_empty()).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let accepted = r.accepted();
    assert_eq!(accepted.len(), 1, "{accepted:#?}");
    let (event_id, _) = accepted.iter().next().expect("one");
    let event_id = event_id.clone();

    // Replay of one event: the same id again.
    let (status, body) = s
        .request_json(
            Method::POST,
            &format!("/v1/webhooks/{wh}/replay"),
            &json!({"event_id": event_id}),
        )
        .await;
    assert_eq!(status, 202, "{body}");
    r.wait("replayed", |a| {
        a.get(&event_id).is_some_and(|h| h.len() == 2)
    })
    .await;
    // Replay since a time.
    let (status, body) = s
        .request_json(
            Method::POST,
            &format!("/v1/webhooks/{wh}/replay"),
            &json!({"since": "2000-01-01T00:00:00Z"}),
        )
        .await;
    assert_eq!((status, body["queued"].clone()), (202, json!(1)), "{body}");
    r.wait("replayed since", |a| {
        a.get(&event_id).is_some_and(|h| h.len() == 3)
    })
    .await;

    // Bad input: every problem at once, nothing stored.
    let (status, body) = s
        .request_json(
            Method::POST,
            "/v1/webhooks",
            &json!({"url": "ftp://x", "events": ["message.sent", "nope"], "color": 1}),
        )
        .await;
    assert_eq!(status, 422, "{body}");
    let fields: Vec<_> = body["errors"]
        .as_array()
        .expect("errors")
        .iter()
        .map(|e| e["field"].as_str().unwrap_or("").to_string())
        .collect();
    assert!(fields.contains(&"url".into()) && fields.contains(&"events[1]".into()));
    assert!(fields.contains(&"color".into()));
    let (_, all) = s.get_json("/v1/webhooks").await;
    assert_eq!(all["data"].as_array().map(Vec::len), Some(1));
    let (status, _) = s
        .request_json(
            Method::POST,
            "/v1/webhooks/wh_nope/replay",
            &json!({"since": "2000-01-01T00:00:00Z"}),
        )
        .await;
    assert_eq!(status, 404);
    let (status, _) = s
        .request_json(
            Method::PATCH,
            &format!("/v1/webhooks/{wh}"),
            &json!({"enabled": "yes"}),
        )
        .await;
    assert_eq!(status, 422);
    let (status, body) = s
        .request_json(
            Method::PATCH,
            &format!("/v1/webhooks/{wh}"),
            &json!({"enabled": false}),
        )
        .await;
    assert_eq!(
        (status, body["enabled"].clone()),
        (200, json!(false)),
        "{body}"
    );
    let (status, _) = s
        .request_json(Method::DELETE, &format!("/v1/webhooks/{wh}"), &json!({}))
        .await;
    assert_eq!(status, 204);
    let (status, _) = s.get_json(&format!("/v1/webhooks/{wh}")).await;
    assert_eq!(status, 404);
    s.stop().await;
}

async fn exhausted_retries_end_dead_and_contact_updates_are_events(backend: Backend) {
    let s = TestServer::start_with(backend, |c| {
        c.business_webhooks.poll_ms = 20;
        c.business_webhooks.initial_backoff_ms = 50;
        c.business_webhooks.max_backoff_ms = 100;
        c.business_webhooks.retry_window_ms = 600;
    })
    .await;
    let (r, url) = Receiver::start().await;
    let wh = register(&s, &r, &url, json!(["contact.updated"])).await;
    r.fail_with.store(503, Ordering::SeqCst);
    s.customer_writes(
        "5215512346501",
        "Eva",
        json!({"type": "text", "text": {"body": "hola"}}),
    )
    .await;
    let (_, contacts) = s.get_json("/v1/contacts").await;
    let contact = contacts["data"][0]["id"]
        .as_str()
        .expect("contact")
        .to_string();
    let (status, body) = s
        .request_json(
            Method::PATCH,
            &format!("/v1/contacts/{contact}"),
            &json!({"tags": ["vip"]}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    // Failing past the retry window: dead, with every attempt logged.
    let deadline = Instant::now() + Duration::from_secs(20);
    let row = loop {
        let (_, log) = s.get_json(&format!("/v1/webhooks/{wh}/deliveries")).await;
        let row = log["data"][0].clone();
        if row["state"] == "dead" {
            break row;
        }
        assert!(Instant::now() < deadline, "never dead: {log}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(row["type"], "contact.updated");
    assert_eq!(row["last_status"], 503);
    let log = row["log"].as_array().expect("log");
    assert!(
        log.len() >= 2 && log.iter().all(|a| a["status"] == 503),
        "{row}"
    );
    assert_eq!(row["attempts"].as_u64(), Some(log.len() as u64));
    let hits = r.hits();
    assert!(hits
        .iter()
        .all(|h| h.event["type"] == "contact.updated" && h.valid));
    assert_eq!(hits[0].event["data"]["tags"], json!(["vip"]));
    // Replay brings a dead delivery back, same event id.
    r.fail_with.store(0, Ordering::SeqCst);
    let event_id = row["event_id"].as_str().expect("event").to_string();
    let (status, _) = s
        .request_json(
            Method::POST,
            &format!("/v1/webhooks/{wh}/replay"),
            &json!({"event_id": event_id}),
        )
        .await;
    assert_eq!(status, 202);
    r.wait("replayed dead event", |a| a.contains_key(&event_id))
        .await;
    s.stop().await;
}

async fn template_reviews_are_events(backend: Backend) {
    let s = start(backend).await;
    let (r, url) = Receiver::start().await;
    register(&s, &r, &url, json!(["template.updated"])).await;
    // The review comes after the submission is stored, as at Meta. (An approval racing ahead
    // of the registry write is applied by a sync that emits no event: a known gap.)
    s.patch_sandbox(json!({"template_approval_ms": 300})).await;
    let submission = json!({"name": "hook_code", "language": "es", "category": "UTILITY",
        "components": [{"type": "BODY", "text": "Tu código es {{1}}.",
            "example": {"body_text": [["X7"]]}}]});
    let (status, created) = s
        .request_json(Method::POST, "/v1/templates", &submission)
        .await;
    assert_eq!(status, 201, "{created}");
    r.wait("template.updated", |a| {
        a.values().any(|h| {
            h[0].event["type"] == "template.updated" && h[0].event["data"]["name"] == "hook_code"
        })
    })
    .await;
    let hit = r
        .hits()
        .into_iter()
        .find(|h| h.answered < 300)
        .expect("hit");
    assert_eq!(hit.event["data"]["status"], "APPROVED", "{}", hit.raw);
    assert!(hit.valid);
    s.stop().await;
}

/// Starts `chasqui serve` (in-process sandbox) on `port`; answers the process and, on first
/// start, the API key it printed.
fn serve(db: &TestDb, port: u16) -> (Proc, Option<String>) {
    let mut cmd = chasqui(db);
    cmd.arg("serve")
        .env("CHASQUI_LISTEN", format!("127.0.0.1:{port}"))
        .env("CHASQUI_DEFAULT_CHANNEL__RATE_PER_SEC", "0")
        .env("CHASQUI_DEFAULT_CHANNEL__PAIR_INTERVAL_MS", "0")
        .env("CHASQUI_BUSINESS_WEBHOOKS__POLL_MS", "20")
        .env("CHASQUI_BUSINESS_WEBHOOKS__TIMEOUT_MS", "1000")
        .env("CHASQUI_BUSINESS_WEBHOOKS__INITIAL_BACKOFF_MS", "100")
        .env("CHASQUI_BUSINESS_WEBHOOKS__MAX_BACKOFF_MS", "300");
    spawn_serve(&mut cmd, Duration::from_secs(5))
}

async fn a_sigkill_loses_no_event_and_keeps_event_ids(backend: Backend) {
    let db = TestDb::create(backend).await;
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("port");
    let base = format!("http://127.0.0.1:{port}");
    let http = crate::support::http();
    let (server, key) = serve(&db, port);
    let key = key.expect("first start prints a key");
    wait_ready(&base).await;
    let (r, url) = Receiver::start().await;
    // Slow answers, so deliveries are in flight when the server dies.
    r.hang_ms.store(100, Ordering::SeqCst);
    let resp = http
        .post(format!("{base}/v1/webhooks"))
        .bearer_auth(&key)
        .json(&json!({"url": url, "events": ["message.queued"]}))
        .send()
        .await
        .expect("register");
    assert_eq!(resp.status(), 201);
    let created: Value = resp.json().await.expect("json");
    *r.secret.lock().expect("lock") = created["secret"].as_str().expect("secret").into();

    let mut acked = Vec::new();
    let stop_at = Instant::now() + Duration::from_millis(1_200);
    let mut n = 0;
    while Instant::now() < stop_at {
        let body = json!({"to": format!("+52155123470{:02}", n % 100), "type": "text", "text": {"body": format!("{n}")}});
        let resp = http
            .post(format!("{base}/v1/messages"))
            .bearer_auth(&key)
            .json(&body)
            .send()
            .await
            .expect("send");
        assert_eq!(resp.status(), 202);
        let v: Value = resp.json().await.expect("json");
        acked.push(v["id"].as_str().expect("id").to_string());
        n += 1;
    }
    drop(server); // SIGKILL
    assert!(acked.len() > 10, "load before the crash: {}", acked.len());
    let before = r.accepted().len();

    let (_server, _) = serve(&db, port);
    wait_ready(&base).await;
    let want = acked.len();
    r.wait("every acknowledged message's event", |a| a.len() >= want)
        .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    // One event id per message: every acknowledged message's event arrived, under one id, signed;
    // a redelivery after the crash reuses that id so the business drops it.
    let mut ids_by_message: HashMap<String, std::collections::HashSet<String>> = HashMap::new();
    for h in r.hits().iter().filter(|h| h.answered < 300) {
        let message = h.event["data"]["id"].as_str().unwrap_or("").to_string();
        ids_by_message
            .entry(message)
            .or_default()
            .insert(h.id.clone());
    }
    for id in &acked {
        assert_eq!(
            ids_by_message.get(id).map(|s| s.len()),
            Some(1),
            "message {id}: {:?}",
            ids_by_message.get(id)
        );
    }
    assert_eq!(ids_by_message.len(), acked.len());
    assert!(r.hits().iter().all(|h| h.valid), "bad signature");
    assert!(
        before < want,
        "the crash came after every delivery; nothing was tested"
    );
}

on_both_backends!(
    template_reviews_are_events,
    exhausted_retries_end_dead_and_contact_updates_are_events,
    a_sigkill_loses_no_event_and_keeps_event_ids,
    lifecycle_events_are_signed_and_delivered_once,
    a_failing_endpoint_gets_every_event_once_after_retries,
    a_hanging_endpoint_does_not_delay_another,
    filters_replay_and_bad_input,
);
