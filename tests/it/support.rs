//! Shared test helpers: a real server on a random port over a real database (a fresh SQLite file
//! or a fresh PostgreSQL database), its in-process sandbox, and an HTTP client.

use std::time::{Duration, Instant};

use chasqui::app::App;
use chasqui::config::Config;
use serde_json::{json, Value};
use tokio::sync::oneshot;

/// Where PostgreSQL tests create their databases (CI starts this server).
pub const PG_ADMIN_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";

/// The default channel's Meta phone number id (see `test_config`).
pub const PHONE_NUMBER_ID: &str = "100000000000001";
/// The default channel's app secret in tests: it signs Meta webhooks.
pub const APP_SECRET: &str = "test-app-secret";

/// `X-Hub-Signature-256` of `body` under `secret`, as Meta computes it.
pub fn sign_meta(body: &[u8], secret: &str) -> String {
    use hmac::{Hmac, KeyInit, Mac};
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).expect("key");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// An HTTP client for tests (reqwest is built without a default TLS crypto provider).
/// Serves `app` on a random local port in the background; answers its address.
pub async fn serve_router(app: axum::Router) -> std::net::SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move { axum::serve(listener, app).await });
    addr
}

pub fn http() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::new()
}

/// Which database a test runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// A fresh database that is removed when dropped.
pub struct TestDb {
    pub url: String,
    dir: Option<std::path::PathBuf>,
    pg_name: Option<String>,
}

impl TestDb {
    pub async fn create(backend: Backend) -> Self {
        Self::create_named(backend, "test").await
    }

    /// A fresh database whose name (PostgreSQL) or directory (SQLite) holds `label`.
    pub async fn create_named(backend: Backend, label: &str) -> Self {
        let tag = format!("{label}_{}", uuid::Uuid::now_v7().simple());
        match backend {
            Backend::Sqlite => {
                let dir = std::env::temp_dir().join(format!("chasqui-{tag}"));
                std::fs::create_dir_all(&dir).expect("temp dir");
                Self {
                    url: format!("sqlite://{}/chasqui.db", dir.display()),
                    dir: Some(dir),
                    pg_name: None,
                }
            }
            Backend::Postgres => {
                let name = format!("chasqui_{tag}");
                let mut admin = sqlx_connect().await;
                use sqlx::Executor;
                admin
                    .execute(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
                    .await
                    .expect("create test database");
                Self {
                    url: format!("postgres://postgres@127.0.0.1:5432/{name}"),
                    dir: None,
                    pg_name: Some(name),
                }
            }
        }
    }

    /// The same database for a second server: dropping the copy removes nothing.
    pub fn shared(&self) -> Self {
        Self {
            url: self.url.clone(),
            dir: None,
            pg_name: None,
        }
    }

    pub fn dir(&self) -> std::path::PathBuf {
        self.dir.clone().unwrap_or_else(std::env::temp_dir)
    }
}

async fn sqlx_connect() -> sqlx::PgConnection {
    use sqlx::Connection;
    match sqlx::PgConnection::connect(PG_ADMIN_URL).await {
        Ok(c) => c,
        Err(e) => panic!(
            "PostgreSQL tests need a server at {PG_ADMIN_URL} (trust auth, user postgres): {e}. \
             Start it, e.g. `pg_ctlcluster --skip-systemctl-redirect 15 main start`."
        ),
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if let Some(dir) = &self.dir {
            let _ = std::fs::remove_dir_all(dir);
        }
        if let Some(name) = self.pg_name.take() {
            // Drop in a separate thread with its own runtime: Drop cannot await.
            let _ = std::thread::spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("rt");
                rt.block_on(async move {
                    use sqlx::Executor;
                    let mut admin = sqlx_connect().await;
                    let _ = admin
                        .execute(sqlx::AssertSqlSafe(format!(
                            "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
                        )))
                        .await;
                });
            })
            .join();
        }
    }
}

/// Fast settings for tests: no pacing, short timeouts and waits, quick simulated recipients.
pub fn test_config(db: &TestDb) -> Config {
    let mut cfg = Config {
        listen: "127.0.0.1:0".parse().expect("addr"),
        database_url: db.url.clone(),
        secret_key: "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=".into(),
        ..Default::default()
    };
    cfg.dispatcher.poll_ms = 20;
    cfg.dispatcher.provider_timeout_ms = 1_000;
    cfg.dispatcher.retry_base_ms = 20;
    cfg.dispatcher.retry_max_ms = 200;
    cfg.dispatcher.unknown_outcome_wait_ms = 2_000;
    cfg.dispatcher.channel_lease_ms = 3_000;
    // Shorter than the unknown-outcome wait above, as `Config::validate` requires.
    cfg.webhooks.inbox_lease_ms = 1_000;
    cfg.default_channel.rate_per_sec = 0;
    cfg.default_channel.pair_interval_ms = 0;
    cfg.default_channel.app_secret = Some(APP_SECRET.into());
    cfg.default_channel.verify_token = Some("test-verify-token".into());
    // Known, so a test can point a cloud_api channel at the in-process sandbox's Graph API.
    cfg.default_channel.access_token = Some("sandbox-token".into());
    // Most scenarios send free-form messages to people who never wrote; the window tests turn
    // enforcement back on.
    cfg.default_channel.window_policy = chasqui_domain::window::WindowPolicy::Off;
    cfg.sandbox.sent_after_ms = 5;
    cfg.sandbox.delivered_after_ms = 10;
    // Each status webhook is posted on its own (as Meta may): `read` comes several batch windows
    // after `delivered`, so a test that wants the whole history in order seldom sees them swap.
    cfg.sandbox.read_after_ms = Some(40);
    cfg.sandbox.webhook_batch_ms = 5;
    cfg.sandbox.hang_ms = 3_000;
    cfg.sandbox.template_approval_ms = 0;
    // The tests' webhook receivers listen on loopback; the address-policy tests turn this off.
    cfg.business_webhooks.allow_private = vec![
        "127.0.0.0/8".parse().expect("range"),
        "::1/128".parse().expect("range"),
    ];
    cfg
}

/// A running gateway.
pub struct TestServer {
    pub base: String,
    pub key: String,
    pub http: reqwest::Client,
    stop: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
    pub db: TestDb,
    /// `http://ADDR/metrics` when the server was started with `metrics_listen`.
    pub metrics: Option<String>,
}

impl TestServer {
    pub async fn start(backend: Backend) -> Self {
        Self::start_with(backend, |_| {}).await
    }

    pub async fn start_with(backend: Backend, tweak: impl FnOnce(&mut Config)) -> Self {
        let db = TestDb::create(backend).await;
        let mut cfg = test_config(&db);
        tweak(&mut cfg);
        Self::start_on(db, cfg).await
    }

    pub async fn start_on(db: TestDb, cfg: Config) -> Self {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let app = App::build(cfg).await.expect("server starts");
        let base = format!("http://{}", app.local_addr());
        let metrics = app.metrics_addr().map(|a| format!("http://{a}/metrics"));
        let key = app
            .new_api_key()
            .expect("first start creates a key")
            .to_string();
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(app.run(async move {
            let _ = stopped.await;
        }));
        Self {
            base,
            key,
            http: http(),
            stop: Some(stop),
            task: Some(task),
            db,
            metrics,
        }
    }

    /// Starts a server on a database that already has its first key (a restart, or a second
    /// instance sharing the database); `key` is the key the tests go on using.
    pub async fn start_again(db: TestDb, cfg: Config, key: String) -> Self {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let app = App::build(cfg).await.expect("server starts");
        let base = format!("http://{}", app.local_addr());
        let metrics = app.metrics_addr().map(|a| format!("http://{a}/metrics"));
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(app.run(async move {
            let _ = stopped.await;
        }));
        Self {
            base,
            key,
            http: http(),
            stop: Some(stop),
            task: Some(task),
            db,
            metrics,
        }
    }

    /// Stops the server gracefully and hands back its database.
    pub async fn stop(mut self) -> TestDb {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.task.take() {
            let _ = tokio::time::timeout(Duration::from_secs(20), t).await;
        }
        let placeholder = TestDb {
            url: String::new(),
            dir: None,
            pg_name: None,
        };
        std::mem::replace(&mut self.db, placeholder)
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    pub async fn send(&self, body: &Value) -> reqwest::Response {
        self.http
            .post(self.url("/v1/messages"))
            .bearer_auth(&self.key)
            .json(body)
            .send()
            .await
            .expect("request")
    }

    /// Sends and expects 202; returns the message id.
    pub async fn send_ok(&self, body: &Value) -> String {
        let resp = self.send(body).await;
        let status = resp.status();
        let json: Value = resp.json().await.expect("json");
        assert_eq!(status, 202, "send refused: {json}");
        json["id"].as_str().expect("id").to_string()
    }

    pub async fn get_json(&self, path: &str) -> (u16, Value) {
        let resp = self
            .http
            .get(self.url(path))
            .bearer_auth(&self.key)
            .send()
            .await
            .expect("request");
        let status = resp.status().as_u16();
        (status, resp.json().await.unwrap_or(Value::Null))
    }

    pub async fn message(&self, id: &str) -> Value {
        let (status, json) = self.get_json(&format!("/v1/messages/{id}")).await;
        assert_eq!(status, 200, "{json}");
        json
    }

    /// Waits until every message has reached one of `statuses`; returns them.
    pub async fn wait_for(
        &self,
        ids: &[String],
        statuses: &[&str],
        within: Duration,
    ) -> Vec<Value> {
        let deadline = Instant::now() + within;
        loop {
            let mut all = Vec::with_capacity(ids.len());
            for id in ids {
                all.push(self.message(id).await);
            }
            let done = all
                .iter()
                .all(|m| statuses.contains(&m["status"].as_str().unwrap_or("")));
            if done {
                return all;
            }
            if Instant::now() > deadline {
                let stuck: Vec<_> = all
                    .iter()
                    .filter(|m| !statuses.contains(&m["status"].as_str().unwrap_or("")))
                    .map(|m| json!({"id": m["id"], "status": m["status"], "timeline": m["timeline"]}))
                    .take(3)
                    .collect();
                panic!(
                    "messages did not reach {statuses:?} in {within:?}: {}",
                    Value::Array(stuck)
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Waits until a message's timeline has an entry with `status`; returns the message.
    pub async fn wait_for_timeline(&self, id: &str, status: &str) -> Value {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let msg = self.message(id).await;
            let has = msg["timeline"]
                .as_array()
                .is_some_and(|t| t.iter().any(|e| e["status"] == status));
            if has {
                return msg;
            }
            assert!(
                Instant::now() < deadline,
                "{id} timeline never got {status}: {msg}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// The sandbox's log of received messages (control API).
    pub async fn sandbox_messages(&self) -> Vec<Value> {
        let (status, json) = self.get_json("/v1/sandbox/messages?limit=100000").await;
        assert_eq!(status, 200, "{json}");
        json["messages"].as_array().cloned().unwrap_or_default()
    }

    pub async fn patch_sandbox(&self, patch: Value) {
        let resp = self
            .http
            .patch(self.url("/v1/sandbox/settings"))
            .bearer_auth(&self.key)
            .json(&patch)
            .send()
            .await
            .expect("request");
        assert!(
            resp.status().is_success(),
            "patch sandbox: {}",
            resp.text().await.unwrap_or_default()
        );
    }

    /// Sends `method` `path` with a JSON body and the API key; answers status and JSON.
    pub async fn request_json(
        &self,
        method: reqwest::Method,
        path: &str,
        body: &Value,
    ) -> (u16, Value) {
        let resp = self
            .http
            .request(method, self.url(path))
            .bearer_auth(&self.key)
            .json(body)
            .send()
            .await
            .expect("request");
        let status = resp.status().as_u16();
        (status, resp.json().await.unwrap_or(Value::Null))
    }

    /// Posts a Meta webhook (signed with `secret` when given), then waits until every stored
    /// delivery is processed; answers the receiver's status and JSON.
    pub async fn post_meta(&self, payload: &Value, secret: Option<&str>) -> (u16, Value) {
        let body = serde_json::to_vec(payload).expect("json");
        let mut req = self
            .http
            .post(self.url("/webhooks/meta"))
            .header("content-type", "application/json");
        if let Some(s) = secret {
            req = req.header("x-hub-signature-256", sign_meta(&body, s));
        }
        let resp = req.body(body).send().await.expect("post");
        let status = resp.status().as_u16();
        let answer = resp.json().await.unwrap_or(Value::Null);
        self.drain_webhooks().await;
        (status, answer)
    }

    /// Waits until every stored Meta webhook delivery has been processed.
    pub async fn drain_webhooks(&self) {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let (status, ready) = self.get_json("/readyz").await;
            if status == 200 && ready["webhook_inbox"]["pending"] == 0 {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "webhook inbox not drained: {ready}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// A simulated customer writes `message` to the default channel (the sandbox's control API);
    /// answers the inbound message's wamid once Chasqui has processed it.
    pub async fn customer_writes(&self, from: &str, name: &str, message: Value) -> String {
        let (status, body) = self
            .request_json(
                reqwest::Method::POST,
                "/v1/sandbox/inbound",
                &json!({"phone_number_id": PHONE_NUMBER_ID, "from": from, "name": name, "message": message}),
            )
            .await;
        assert_eq!(status, 200, "{body}");
        let wamid = body["id"].as_str().expect("wamid").to_string();
        // The sandbox posts it as a signed webhook shortly; wait until Chasqui has applied it.
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            self.drain_webhooks().await;
            if self.inbound_seen(&wamid).await {
                return wamid;
            }
            assert!(Instant::now() < deadline, "inbound {wamid} never recorded");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Whether any conversation shows the inbound message `wamid`.
    pub async fn inbound_seen(&self, wamid: &str) -> bool {
        let (_, page) = self.get_json("/v1/conversations?limit=200").await;
        for c in page["data"].as_array().cloned().unwrap_or_default() {
            let id = c["id"].as_str().unwrap_or("");
            let (_, conv) = self
                .get_json(&format!("/v1/conversations/{id}?limit=200"))
                .await;
            let found = conv["messages"]
                .as_array()
                .is_some_and(|ms| ms.iter().any(|m| m["wamid"] == wamid));
            if found {
                return true;
            }
        }
        false
    }
}

/// Runs a scenario on SQLite and on PostgreSQL, as two tests named `sqlite` and `postgres`.
#[macro_export]
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        $(
            mod $name {
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn sqlite() {
                    super::$name($crate::support::Backend::Sqlite).await
                }
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn postgres() {
                    super::$name($crate::support::Backend::Postgres).await
                }
            }
        )*
    };
}

/// A workspace made through the admin API: its own sandbox channel (own phone number id and
/// number) and a key with every tenant scope.
#[derive(Clone)]
pub struct Tenant {
    pub workspace_id: String,
    pub key: String,
    pub key_id: String,
    pub channel_id: String,
    pub phone_number_id: String,
    /// `+` and digits.
    pub display_number: String,
    base: String,
    http: reqwest::Client,
}

/// A fresh number for a test channel: (phone number id, display number). The low bits of a
/// v7 UUID are random, so two channels of one test do not collide.
pub fn fresh_number() -> (String, String) {
    let n = uuid::Uuid::now_v7().as_u128() % 100_000_000;
    (format!("3{n:014}"), format!("+52155{n:08}"))
}

impl TestServer {
    /// Creates a workspace, a sandbox channel with its own number, and a tenant-scoped key,
    /// through the admin API.
    pub async fn new_workspace(&self, name: &str) -> Tenant {
        let (status, ws) = self
            .request_json(
                reqwest::Method::POST,
                "/v1/admin/workspaces",
                &json!({"name": name}),
            )
            .await;
        assert_eq!(status, 201, "create workspace: {ws}");
        let workspace_id = ws["id"].as_str().expect("workspace id").to_string();
        let (phone_number_id, display_number) = fresh_number();
        let (status, ch) = self
            .request_json(
                reqwest::Method::POST,
                &format!("/v1/admin/workspaces/{workspace_id}/channels"),
                &json!({"provider": "sandbox", "phone_number_id": phone_number_id,
                        "display_phone_number": display_number, "rate_per_sec": 0,
                        "pair_interval_ms": 0, "window_policy": "off"}),
            )
            .await;
        assert_eq!(status, 201, "create channel: {ch}");
        let (status, key) = self
            .request_json(
                reqwest::Method::POST,
                &format!("/v1/admin/workspaces/{workspace_id}/keys"),
                &json!({"name": format!("{name} key"),
                        "scopes": ["send", "read", "contacts", "templates", "webhooks"]}),
            )
            .await;
        assert_eq!(status, 201, "create key: {key}");
        Tenant {
            workspace_id,
            key: key["key"].as_str().expect("key secret").to_string(),
            key_id: key["id"].as_str().expect("key id").to_string(),
            channel_id: ch["id"].as_str().expect("channel id").to_string(),
            phone_number_id,
            display_number,
            base: self.base.clone(),
            http: self.http.clone(),
        }
    }
}

impl Tenant {
    /// Sends `method` `path` with a JSON body (none for GET and DELETE) and this tenant's key.
    pub async fn request(&self, method: reqwest::Method, path: &str, body: &Value) -> (u16, Value) {
        request_with(&self.http, &self.base, &self.key, method, path, body).await
    }

    pub async fn get_json(&self, path: &str) -> (u16, Value) {
        self.request(reqwest::Method::GET, path, &Value::Null).await
    }

    /// Sends a message and expects 202; returns its id.
    pub async fn send_ok(&self, body: &Value) -> String {
        let (status, json) = self
            .request(reqwest::Method::POST, "/v1/messages", body)
            .await;
        assert_eq!(status, 202, "send refused: {json}");
        json["id"].as_str().expect("id").to_string()
    }
}

/// One request with `key` as bearer; `Value::Null` sends no body.
pub async fn request_with(
    http: &reqwest::Client,
    base: &str,
    key: &str,
    method: reqwest::Method,
    path: &str,
    body: &Value,
) -> (u16, Value) {
    let mut req = http
        .request(method, format!("{base}{path}"))
        .bearer_auth(key);
    if !body.is_null() {
        req = req.json(body);
    }
    let resp = req.send().await.expect("request");
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
}
