//! Business webhook URLs may not reach the operator's network: internal addresses are refused
//! at registration (every spelling) and again at delivery, redirects are not followed, and
//! `business_webhooks.allow_private` lets listed ranges through.
//!
//! Only loopback is ever connected to: other internal addresses are registered only where the
//! registration is refused, or on a server whose delivery worker is off.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use reqwest::Method;
use serde_json::{json, Value};

use crate::on_both_backends;
use crate::support::{test_config, Backend, TestServer};

/// A public address (documentation would be refused): registered disabled on servers whose
/// delivery worker is off, so nothing is ever sent to it.
const PUBLIC_URL: &str = "https://93.184.215.14/hooks/chasqui";

/// Every internal spelling a tenant tried, and a few more.
const INTERNAL_URLS: &[&str] = &[
    "http://169.254.169.254/latest/meta-data/",
    "http://127.0.0.1:8080/internal/admin?x=1",
    "http://localhost:8080/internal",
    "http://LocalHost./x",
    "http://api.localhost/x",
    "http://[::1]:8080/",
    "http://10.0.0.1/",
    "http://172.16.5.4/",
    "http://192.168.0.1/",
    "http://100.64.0.1/",
    "http://0.0.0.0:8080/",
    "http://2130706433/",
    "http://0x7f000001/",
    "http://0177.0.0.1/",
    "http://127.1/",
    "http://[::ffff:127.0.0.1]/",
    "http://[::ffff:a9fe:a9fe]/",
    "http://[::7f00:1]/",
    "http://[64:ff9b::a00:1]/",
    "http://[2002:c0a8:1::1]/",
    "http://[fd00::1]/",
    "http://[fe80::1]/",
    "http://[::]/",
    "http://224.0.0.1/",
    "http://255.255.255.255/",
];

async fn strict(backend: Backend) -> TestServer {
    TestServer::start_with(backend, |c| {
        c.business_webhooks.allow_private.clear();
        // Nothing is delivered from these servers: the accepted public URL is never contacted.
        c.business_webhooks.enabled = false;
    })
    .await
}

fn codes(body: &Value) -> Vec<(String, String)> {
    body["errors"]
        .as_array()
        .map(|errors| {
            errors
                .iter()
                .map(|e| {
                    let s = |k: &str| e[k].as_str().unwrap_or("").to_string();
                    (s("field"), s("code"))
                })
                .collect()
        })
        .unwrap_or_default()
}

async fn internal_urls_are_refused_at_registration(backend: Backend) {
    let s = strict(backend).await;
    for url in INTERNAL_URLS {
        let (status, body) = s
            .request_json(Method::POST, "/v1/webhooks", &json!({"url": url}))
            .await;
        assert_eq!(status, 422, "{url}: {body}");
        assert_eq!(
            codes(&body),
            vec![("url".to_string(), "forbidden_url".to_string())],
            "{url}: {body}"
        );
        // The answer says what is wrong, not what the address is.
        assert!(!body.to_string().contains("Loopback"), "{body}");
    }
    let (_, all) = s.get_json("/v1/webhooks").await;
    assert_eq!(all["data"], json!([]), "nothing stored: {all}");

    // A public address is accepted; PATCHing it to an internal one is refused and changes nothing.
    let (status, created) = s
        .request_json(
            Method::POST,
            "/v1/webhooks",
            &json!({"url": PUBLIC_URL, "enabled": false}),
        )
        .await;
    assert_eq!(status, 201, "{created}");
    let path = format!("/v1/webhooks/{}", created["id"].as_str().expect("id"));
    for url in INTERNAL_URLS {
        let (status, body) = s
            .request_json(Method::PATCH, &path, &json!({"url": url, "enabled": true}))
            .await;
        assert_eq!(status, 422, "{url}: {body}");
        assert_eq!(codes(&body)[0], ("url".into(), "forbidden_url".into()));
    }
    let (_, after) = s.get_json(&path).await;
    assert_eq!(
        (after["url"].as_str(), after["enabled"].as_bool()),
        (Some(PUBLIC_URL), Some(false))
    );
    s.stop().await;
}

async fn allow_private_lets_listed_ranges_through(backend: Backend) {
    let s = TestServer::start_with(backend, |c| {
        c.business_webhooks.allow_private = vec![
            "127.0.0.1/32".parse().expect("range"),
            "10.1.2.0/24".parse().expect("range"),
        ];
        c.business_webhooks.enabled = false;
    })
    .await;
    for url in [
        "http://127.0.0.1:9/hook",
        "http://localhost:9/hook",
        "http://[::ffff:127.0.0.1]:9/hook",
        "http://10.1.2.77/hook",
    ] {
        let (status, body) = s
            .request_json(
                Method::POST,
                "/v1/webhooks",
                &json!({"url": url, "enabled": false}),
            )
            .await;
        assert_eq!(status, 201, "{url}: {body}");
    }
    for url in [
        "http://127.0.0.2/",
        "http://[::1]/",
        "http://10.1.3.1/",
        "http://169.254.169.254/",
    ] {
        let (status, body) = s
            .request_json(Method::POST, "/v1/webhooks", &json!({"url": url}))
            .await;
        assert_eq!(
            (status, codes(&body)[0].1.as_str()),
            (422, "forbidden_url"),
            "{url}: {body}"
        );
    }
    let (_, all) = s.get_json("/v1/webhooks").await;
    assert_eq!(all["data"].as_array().map(Vec::len), Some(4), "{all}");
    s.stop().await;
}

/// A loopback receiver counting what reaches `/hook` and `/target`; `/hook` answers `answer`
/// (a redirect to `/target` when it is a 3xx).
struct Receiver {
    hook: AtomicUsize,
    target: AtomicUsize,
}

impl Receiver {
    async fn start(answer: StatusCode) -> (Arc<Self>, u16) {
        let r = Arc::new(Self {
            hook: AtomicUsize::new(0),
            target: AtomicUsize::new(0),
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let (hook, target) = (r.clone(), r.clone());
        let app = axum::Router::new()
            .route(
                "/hook",
                axum::routing::post(move || {
                    let r = hook.clone();
                    async move {
                        r.hook.fetch_add(1, Ordering::SeqCst);
                        let location = format!("http://127.0.0.1:{port}/target");
                        (answer, [(header::LOCATION, location)]).into_response()
                    }
                }),
            )
            .route(
                "/target",
                axum::routing::any(move || {
                    let r = target.clone();
                    async move {
                        r.target.fetch_add(1, Ordering::SeqCst);
                        StatusCode::NO_CONTENT
                    }
                }),
            );
        tokio::spawn(async move { axum::serve(listener, app).await });
        (r, port)
    }
}

/// Waits until the endpoint's delivery log has an attempt; answers the first one.
async fn first_attempt(s: &TestServer, endpoint: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let (status, log) = s
            .get_json(&format!("/v1/webhooks/{endpoint}/deliveries"))
            .await;
        assert_eq!(status, 200, "{log}");
        let attempt = log["data"]
            .as_array()
            .and_then(|d| d.iter().find_map(|e| e["log"].get(0).cloned()));
        if let Some(a) = attempt {
            return a;
        }
        assert!(
            Instant::now() < deadline,
            "no attempt for {endpoint}: {log}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn register(s: &TestServer, url: &str) -> String {
    let (status, body) = s
        .request_json(
            Method::POST,
            "/v1/webhooks",
            &json!({"url": url, "events": ["message.queued"]}),
        )
        .await;
    assert_eq!(status, 201, "{url}: {body}");
    body["id"].as_str().expect("id").to_string()
}

fn text(to: &str) -> Value {
    json!({"to": to, "type": "text", "text": {"body": "hola"}})
}

/// Endpoints registered while loopback was allowed (or whose name has since come to resolve
/// inside) are refused at delivery, before any connection: by the IP-literal check and by the
/// resolver's filter on what `localhost` resolves to.
async fn deliveries_are_refused_when_the_address_is_not_allowed(backend: Backend) {
    let (r, port) = Receiver::start(StatusCode::NO_CONTENT).await;
    let fast = |c: &mut chasqui::config::Config| {
        c.business_webhooks.poll_ms = 20;
        c.business_webhooks.initial_backoff_ms = 60_000;
    };
    let first = TestServer::start_with(backend, fast).await;
    let by_ip = register(&first, &format!("http://127.0.0.1:{port}/hook")).await;
    let by_name = register(&first, &format!("http://localhost:{port}/hook")).await;
    let key = first.key.clone();
    let db = first.stop().await;

    let mut cfg = test_config(&db);
    fast(&mut cfg);
    cfg.business_webhooks.allow_private.clear();
    let s = TestServer::start_again(db, cfg, key).await;
    s.send_ok(&text("+5215512349001")).await;
    for endpoint in [&by_ip, &by_name] {
        let attempt = first_attempt(&s, endpoint).await;
        assert_eq!(attempt["error"], "refused by address policy", "{attempt}");
        assert_eq!(attempt["status"], Value::Null, "{attempt}");
    }
    assert_eq!(r.hook.load(Ordering::SeqCst), 0, "the receiver was reached");
    s.stop().await;
}

/// A 3xx is the endpoint's answer: logged as a failure, never followed.
async fn redirects_are_not_followed(backend: Backend) {
    let (r, port) = Receiver::start(StatusCode::TEMPORARY_REDIRECT).await;
    let s = TestServer::start_with(backend, |c| {
        c.business_webhooks.poll_ms = 20;
        c.business_webhooks.initial_backoff_ms = 60_000;
    })
    .await;
    let wh = register(&s, &format!("http://127.0.0.1:{port}/hook")).await;
    s.send_ok(&text("+5215512349002")).await;
    let attempt = first_attempt(&s, &wh).await;
    assert_eq!(attempt["status"], 307, "{attempt}");
    assert_eq!(r.hook.load(Ordering::SeqCst), 1);
    assert_eq!(
        r.target.load(Ordering::SeqCst),
        0,
        "the redirect was followed"
    );
    s.stop().await;
}

on_both_backends!(
    internal_urls_are_refused_at_registration,
    allow_private_lets_listed_ranges_through,
    deliveries_are_refused_when_the_address_is_not_allowed,
    redirects_are_not_followed,
);
