//! Quotas and limits over HTTP: daily quotas per key and per workspace (held across a restart and
//! across two servers on one database), the concurrency limit, the request rate, and Meta's
//! messaging limit per channel. Over a limit: 429 with `Retry-After` and `RateLimit-*` headers,
//! and nothing stored.

use std::time::{Duration, Instant};

use chasqui_domain::quota::{daily_period, seconds_until, QuotaZone};
use reqwest::Method;
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::on_both_backends;
use crate::support::{test_config, Backend, TestServer};

const WS: &str = "ws_default";

/// An admin call with the server's all-scopes key; asserts success.
async fn admin(s: &TestServer, method: Method, path: &str, body: Value) -> Value {
    let (status, json) = s.request_json(method, path, &body).await;
    assert!((200..300).contains(&status), "{path}: {status} {json}");
    json
}

/// A new key of the default workspace with `limits`; answers (id, secret).
async fn new_key(s: &TestServer, limits: Value) -> (String, String) {
    let mut body = json!({"name": "limited"});
    if let (Some(b), Some(l)) = (body.as_object_mut(), limits.as_object()) {
        b.extend(l.clone());
    }
    let created = admin(
        s,
        Method::POST,
        &format!("/v1/admin/workspaces/{WS}/keys"),
        body,
    )
    .await;
    (
        created["id"].as_str().expect("id").to_string(),
        created["key"].as_str().expect("key").to_string(),
    )
}

async fn send_as(s: &TestServer, key: &str, body: &Value) -> reqwest::Response {
    s.http
        .post(s.url("/v1/messages"))
        .bearer_auth(key)
        .json(body)
        .send()
        .await
        .expect("request")
}

async fn get_as(s: &TestServer, key: &str, path: &str) -> reqwest::Response {
    s.http
        .get(s.url(path))
        .bearer_auth(key)
        .send()
        .await
        .expect("request")
}

fn text_to(n: u32) -> Value {
    json!({"to": format!("+52155{n:08}"), "type": "text", "text": {"body": "hola"}})
}

fn template_to(to: &str) -> Value {
    json!({"to": to, "type": "template",
        "template": {"name": "hello_world", "language": {"code": "en_US"}}})
}

fn header(resp: &reqwest::Response, name: &str) -> Option<i64> {
    resp.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
}

/// Messages stored in the default workspace.
async fn stored(s: &TestServer) -> usize {
    let (status, page) = s.get_json("/v1/messages?limit=200").await;
    assert_eq!(status, 200, "{page}");
    page["data"].as_array().map(Vec::len).unwrap_or(0)
}

/// Asserts a 429 with `code` and every limit header; answers its `Retry-After`.
async fn assert_limited(resp: reqwest::Response, code: &str, limit: i64) -> i64 {
    assert_eq!(resp.status(), 429);
    let retry_after = header(&resp, "retry-after").expect("Retry-After");
    assert!(retry_after >= 1, "Retry-After {retry_after}");
    assert_eq!(header(&resp, "ratelimit-limit"), Some(limit));
    assert_eq!(header(&resp, "ratelimit-remaining"), Some(0));
    let reset = header(&resp, "ratelimit-reset").expect("RateLimit-Reset");
    assert!(reset >= 1, "RateLimit-Reset {reset}");
    let body: Value = resp.json().await.expect("json");
    assert_eq!(body["code"], code, "{body}");
    assert_eq!(body["status"], 429, "{body}");
    retry_after
}

async fn key_daily_quota(backend: Backend) {
    let s = TestServer::start(backend).await;
    let (key_id, key) = new_key(&s, json!({"daily_quota": 3})).await;

    // A refused send costs nothing.
    let resp = send_as(&s, &key, &json!({"to": "nope", "type": "text"})).await;
    assert_eq!(resp.status(), 422);

    // An idempotent replay costs nothing either.
    let first = s
        .http
        .post(s.url("/v1/messages"))
        .bearer_auth(&key)
        .header("idempotency-key", "quota-1")
        .json(&text_to(1))
        .send()
        .await
        .expect("request");
    assert_eq!(first.status(), 202);
    assert_eq!(header(&first, "ratelimit-limit"), Some(3));
    assert_eq!(header(&first, "ratelimit-remaining"), Some(2));
    let first_json: Value = first.json().await.expect("json");
    let replay = s
        .http
        .post(s.url("/v1/messages"))
        .bearer_auth(&key)
        .header("idempotency-key", "quota-1")
        .json(&text_to(1))
        .send()
        .await
        .expect("request");
    assert_eq!(replay.status(), 202);
    assert_eq!(header(&replay, "ratelimit-remaining"), Some(2));

    for (n, left) in [(2, 1), (3, 0)] {
        let resp = send_as(&s, &key, &text_to(n)).await;
        assert_eq!(resp.status(), 202);
        assert_eq!(header(&resp, "ratelimit-remaining"), Some(left));
    }
    let before = stored(&s).await;
    assert_eq!(before, 3);
    let retry_after = assert_limited(
        send_as(&s, &key, &text_to(4)).await,
        "daily_quota_exceeded",
        3,
    )
    .await;
    // The quota resets at the next UTC midnight (the default time zone).
    let now = chasqui::clock::now_ms();
    let expected = seconds_until(now, daily_period(now, &QuotaZone::utc()).resets_at) as i64;
    assert!(
        (retry_after - expected).abs() <= 2,
        "{retry_after} vs {expected}"
    );
    // Nothing was stored for the refused send.
    assert_eq!(stored(&s).await, before);
    // A retry of a send already accepted still gets its first answer.
    let retry = s
        .http
        .post(s.url("/v1/messages"))
        .bearer_auth(&key)
        .header("idempotency-key", "quota-1")
        .json(&text_to(1))
        .send()
        .await
        .expect("request");
    assert_eq!(retry.status(), 202);
    let first_id = first_json["id"].clone();
    let retry_json: Value = retry.json().await.expect("json");
    assert_eq!(retry_json["id"], first_id);
    assert_eq!(stored(&s).await, before);

    // The quota is the key's: another key of the workspace still sends.
    s.send_ok(&text_to(5)).await;
    // Lifting it lets the key send again at once.
    admin(
        &s,
        Method::PATCH,
        &format!("/v1/admin/keys/{key_id}"),
        json!({"daily_quota": null}),
    )
    .await;
    let resp = send_as(&s, &key, &text_to(6)).await;
    assert_eq!(resp.status(), 202);
    assert!(resp.headers().get("ratelimit-limit").is_none());
    s.stop().await;
}

async fn workspace_quota_across_keys(backend: Backend) {
    let s = TestServer::start(backend).await;
    let (_, a) = new_key(&s, json!({})).await;
    let (_, b) = new_key(&s, json!({})).await;
    // A zone far from UTC, so the reset is visibly its own midnight.
    let zone = "Pacific/Kiritimati";
    admin(
        &s,
        Method::PATCH,
        &format!("/v1/admin/workspaces/{WS}"),
        json!({"daily_quota": 3, "timezone": zone}),
    )
    .await;
    for (key, n) in [(&a, 1), (&a, 2), (&b, 3)] {
        let resp = send_as(&s, key, &text_to(n)).await;
        assert_eq!(
            resp.status(),
            202,
            "{}",
            resp.text().await.unwrap_or_default()
        );
    }
    let retry_after = assert_limited(
        send_as(&s, &b, &text_to(4)).await,
        "daily_quota_exceeded",
        3,
    )
    .await;
    let now = chasqui::clock::now_ms();
    let local = QuotaZone::parse(zone).expect("zone");
    let expected = seconds_until(now, daily_period(now, &local).resets_at) as i64;
    assert!(
        (retry_after - expected).abs() <= 2,
        "{retry_after} vs {expected}"
    );
    assert_limited(
        send_as(&s, &a, &text_to(5)).await,
        "daily_quota_exceeded",
        3,
    )
    .await;
    assert_eq!(stored(&s).await, 3);
    s.stop().await;
}

async fn quota_holds_across_a_restart(backend: Backend) {
    let s = TestServer::start(backend).await;
    let (_, key) = new_key(&s, json!({"daily_quota": 2})).await;
    for n in 1..=2 {
        assert_eq!(send_as(&s, &key, &text_to(n)).await.status(), 202);
    }
    let admin_key = s.key.clone();
    let db = s.stop().await;
    let cfg = test_config(&db);
    let s = TestServer::start_again(db, cfg, admin_key).await;
    assert_limited(
        send_as(&s, &key, &text_to(3)).await,
        "daily_quota_exceeded",
        2,
    )
    .await;
    assert_eq!(stored(&s).await, 2);
    s.stop().await;
}

async fn two_servers_share_one_quota(backend: Backend) {
    let one = TestServer::start(backend).await;
    let two = TestServer::start_again(one.db.shared(), test_config(&one.db), one.key.clone()).await;
    let (_, key) = new_key(&one, json!({"daily_quota": 4})).await;
    // Twelve sends race through both servers for four units.
    let mut tasks = Vec::new();
    for n in 0..12u32 {
        let (http, base, key) = if n % 2 == 0 {
            (one.http.clone(), one.base.clone(), key.clone())
        } else {
            (two.http.clone(), two.base.clone(), key.clone())
        };
        tasks.push(tokio::spawn(async move {
            http.post(format!("{base}/v1/messages"))
                .bearer_auth(key)
                .json(&text_to(n))
                .send()
                .await
                .expect("request")
                .status()
                .as_u16()
        }));
    }
    let mut statuses = Vec::new();
    for t in tasks {
        statuses.push(t.await.expect("task"));
    }
    assert_eq!(
        statuses.iter().filter(|&&s| s == 202).count(),
        4,
        "{statuses:?}"
    );
    assert_eq!(
        statuses.iter().filter(|&&s| s == 429).count(),
        8,
        "{statuses:?}"
    );
    assert_eq!(stored(&one).await, 4);
    assert_eq!(stored(&two).await, 4);
    two.stop().await;
    one.stop().await;
}

/// A slow send: its headers arrive now, its body only at [`finish_slow`], so it holds its
/// in-flight slot meanwhile.
async fn start_slow(s: &TestServer, key: &str) -> (tokio::net::TcpStream, Vec<u8>) {
    let body = serde_json::to_vec(&text_to(1)).expect("json");
    let addr = s.base.trim_start_matches("http://").to_string();
    let mut slow = tokio::net::TcpStream::connect(&addr)
        .await
        .expect("connect");
    let head = format!(
        "POST /v1/messages HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {key}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    slow.write_all(head.as_bytes()).await.expect("write");
    slow.write_all(&body[..5]).await.expect("write");
    (slow, body)
}

/// Sends the rest of a slow send's body; answers its status line.
async fn finish_slow(mut slow: tokio::net::TcpStream, body: Vec<u8>) -> String {
    slow.write_all(&body[5..]).await.expect("write");
    let mut answer = String::new();
    slow.read_to_string(&mut answer).await.expect("read");
    answer.lines().next().unwrap_or_default().to_string()
}

/// Waits until `key_id` holds `n` in-flight slots, looking in the database itself (a probe
/// request would compete for the slot it looks for).
async fn wait_in_flight(s: &TestServer, key_id: &str, n: i64) {
    let store = chasqui_store::open(&s.db.url).await.expect("store");
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        // A limit of 0 takes nothing and answers how many slots are taken.
        let now = chasqui::clock::now_ms();
        let held = match store
            .acquire_inflight(&format!("key:{key_id}"), "probe", 0, now, now)
            .await
            .expect("count")
        {
            chasqui_store::InflightOutcome::Refused { in_flight } => in_flight,
            chasqui_store::InflightOutcome::Acquired { in_flight } => in_flight,
        };
        if held == n {
            return;
        }
        assert!(Instant::now() < deadline, "{held} slots held, not {n}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Requests of `key` until one passes (the slot was given back).
async fn wait_admitted(s: &TestServer, key: &str) {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let status = get_as(s, key, "/v1/messages").await.status();
        if status == 200 {
            return;
        }
        assert!(Instant::now() < deadline, "slot never released: {status}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Waits, if needed, so that the next few seconds are inside one clock minute.
async fn start_of_a_minute() {
    let into_minute = chasqui::clock::now_ms().rem_euclid(60_000);
    if into_minute > 45_000 {
        tokio::time::sleep(Duration::from_millis((60_000 - into_minute + 200) as u64)).await;
    }
}

async fn concurrency_limit(backend: Backend) {
    let s = TestServer::start(backend).await;
    let (key_id, key) = new_key(&s, json!({"max_concurrent": 1})).await;
    let (slow, body) = start_slow(&s, &key).await;
    wait_in_flight(&s, &key_id, 1).await;
    // Another request of the key is refused while the slow one is in flight.
    let refused = get_as(&s, &key, "/v1/messages").await;
    let retry_after = assert_limited(refused, "too_many_concurrent_requests", 1).await;
    assert_eq!(retry_after, 1);
    // Other keys are not limited.
    assert_eq!(s.get_json("/v1/messages").await.0, 200);
    // The slow request completes, and gives its slot back.
    let status = finish_slow(slow, body).await;
    assert!(status.starts_with("HTTP/1.1 202"), "{status}");
    wait_admitted(&s, &key).await;
    s.stop().await;
}

async fn refused_for_concurrency_costs_no_rate(backend: Backend) {
    let s = TestServer::start(backend).await;
    let (key_id, key) = new_key(&s, json!({"max_concurrent": 1, "rate_per_minute": 2})).await;
    start_of_a_minute().await;
    // The slow send is the minute's first request ...
    let (slow, body) = start_slow(&s, &key).await;
    wait_in_flight(&s, &key_id, 1).await;
    // ... requests refused meanwhile do not count ...
    for _ in 0..3 {
        let resp = get_as(&s, &key, "/v1/messages").await;
        assert_limited(resp, "too_many_concurrent_requests", 1).await;
    }
    let status = finish_slow(slow, body).await;
    assert!(status.starts_with("HTTP/1.1 202"), "{status}");
    // ... so the second request of the minute passes, and the third is over the rate.
    wait_admitted(&s, &key).await;
    assert_limited(get_as(&s, &key, "/v1/messages").await, "rate_limited", 2).await;
    s.stop().await;
}

async fn rate_limit(backend: Backend) {
    let s = TestServer::start(backend).await;
    let (_, key) = new_key(&s, json!({"rate_per_minute": 3})).await;
    start_of_a_minute().await;
    for left in [2, 1, 0] {
        let resp = get_as(&s, &key, "/v1/messages").await;
        assert_eq!(resp.status(), 200);
        assert_eq!(header(&resp, "ratelimit-limit"), Some(3));
        assert_eq!(header(&resp, "ratelimit-remaining"), Some(left));
        let reset = header(&resp, "ratelimit-reset").expect("reset");
        assert!((1..=60).contains(&reset), "{reset}");
    }
    // Sends count as requests too, and a refused send stores nothing.
    let before = stored(&s).await;
    let retry_after = assert_limited(send_as(&s, &key, &text_to(1)).await, "rate_limited", 3).await;
    assert!((1..=60).contains(&retry_after), "{retry_after}");
    assert_eq!(stored(&s).await, before);
    s.stop().await;
}

async fn messaging_limit(backend: Backend) {
    let s = TestServer::start(backend).await;
    let (status, synced) = s
        .request_json(Method::POST, "/v1/templates/sync", &json!({}))
        .await;
    assert_eq!(status, 200, "{synced}");
    admin(
        &s,
        Method::PATCH,
        "/v1/admin/channels/ch_default",
        json!({"messaging_limit": 2}),
    )
    .await;
    // Two distinct people may be messaged first ...
    s.send_ok(&template_to("+5215510000001")).await;
    s.send_ok(&template_to("+5215510000002")).await;
    // ... a third is refused until the oldest slot frees up, 24 hours on ...
    let before = stored(&s).await;
    let retry_after = assert_limited(
        s.send(&template_to("+5215510000003")).await,
        "messaging_limit_reached",
        2,
    )
    .await;
    assert!((86_000..=86_400).contains(&retry_after), "{retry_after}");
    assert_eq!(stored(&s).await, before);
    // A send refused by the messaging limit gives its daily quota unit back.
    let (_, key) = new_key(&s, json!({"daily_quota": 10})).await;
    let resp = send_as(&s, &key, &template_to("+5215510000002")).await;
    assert_eq!(resp.status(), 202);
    assert_eq!(header(&resp, "ratelimit-remaining"), Some(9));
    let resp = send_as(&s, &key, &template_to("+5215510000005")).await;
    assert_eq!(resp.status(), 429);
    let resp = send_as(&s, &key, &template_to("+5215510000002")).await;
    assert_eq!(resp.status(), 202);
    assert_eq!(header(&resp, "ratelimit-remaining"), Some(8));
    // ... while someone already counted costs nothing, however the number is written.
    s.send_ok(&template_to("+525510000001")).await;
    s.send_ok(&text_to(10_000_001)).await;
    // A reply inside a window the customer opened is not business-initiated.
    s.customer_writes(
        "5215510000004",
        "Dana",
        json!({"type": "text", "text": {"body": "hola"}}),
    )
    .await;
    s.send_ok(&json!({"to": "+5215510000004", "type": "text", "text": {"body": "¡hola!"}}))
        .await;
    // Lifting the limit lets the third person through.
    admin(
        &s,
        Method::PATCH,
        "/v1/admin/channels/ch_default",
        json!({"messaging_limit": null}),
    )
    .await;
    s.send_ok(&template_to("+5215510000003")).await;
    s.stop().await;
}

on_both_backends!(
    key_daily_quota,
    workspace_quota_across_keys,
    quota_holds_across_a_restart,
    two_servers_share_one_quota,
    concurrency_limit,
    refused_for_concurrency_costs_no_rate,
    rate_limit,
    messaging_limit,
);
