//! The compiled binary: `key create`, `migrate`, clean shutdown on SIGTERM, and the crash test
//! (SIGKILL under load, restart, every acknowledged message delivered exactly once).

use std::collections::HashMap;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::on_both_backends;
use crate::process::{chasqui, spawn_serve, wait_ready, Proc, BIN};
use crate::support::{Backend, TestDb};

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("port")
}

/// What the standalone sandbox received.
async fn sandbox_log(http: &reqwest::Client, sandbox_base: &str) -> Vec<Value> {
    let url = format!("{sandbox_base}/sandbox/messages?limit=1000000");
    let log: Value = http
        .get(url)
        .send()
        .await
        .expect("log")
        .json()
        .await
        .expect("json");
    log["messages"].as_array().cloned().unwrap_or_default()
}

/// Starts `chasqui serve` against an external sandbox; returns the process and, on first start,
/// the API key it printed.
fn serve(db: &TestDb, port: u16, sandbox_port: u16, first: bool) -> (Proc, Option<String>) {
    let mut cmd = chasqui(db);
    cmd.arg("serve")
        .env("CHASQUI_LISTEN", format!("127.0.0.1:{port}"))
        .env(
            "CHASQUI_DEFAULT_CHANNEL__BASE_URL",
            format!("http://127.0.0.1:{sandbox_port}"),
        )
        .env("CHASQUI_DEFAULT_CHANNEL__APP_SECRET", "crash-secret")
        .env("CHASQUI_DEFAULT_CHANNEL__RATE_PER_SEC", "0")
        .env("CHASQUI_DEFAULT_CHANNEL__PAIR_INTERVAL_MS", "0")
        .env("CHASQUI_DISPATCHER__LEASE_MS", "1500")
        .env("CHASQUI_DISPATCHER__CHANNEL_LEASE_MS", "1500")
        .env("CHASQUI_DISPATCHER__UNKNOWN_OUTCOME_WAIT_MS", "3000")
        // Below the wait, as `serve` requires.
        .env("CHASQUI_WEBHOOKS__INBOX_LEASE_MS", "1000")
        .env("CHASQUI_DISPATCHER__PROVIDER_TIMEOUT_MS", "2000")
        .env("CHASQUI_DISPATCHER__POLL_MS", "20");
    // Only a first start prints a key; a busy machine may take a while to get there.
    let wait = if first {
        Duration::from_secs(30)
    } else {
        Duration::ZERO
    };
    spawn_serve(&mut cmd, wait)
}

async fn key_create_prints_a_working_key(backend: Backend) {
    let db = TestDb::create(backend).await;
    let migrate = chasqui(&db).arg("migrate").output().expect("migrate");
    assert!(
        migrate.status.success(),
        "{}",
        String::from_utf8_lossy(&migrate.stderr)
    );
    let out = chasqui(&db)
        .args(["key", "create", "--name", "ci"])
        .output()
        .expect("key create");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8(out.stdout).expect("utf8");
    let key = stdout.trim();
    assert_eq!(
        stdout.lines().count(),
        1,
        "the key alone on stdout: {stdout:?}"
    );
    assert!(key.starts_with("chq_"));

    let port = free_port();
    let mut child = chasqui(&db)
        .arg("serve")
        .env("CHASQUI_LISTEN", format!("127.0.0.1:{port}"))
        .stdout(Stdio::piped())
        .spawn()
        .expect("serve");
    let base = format!("http://127.0.0.1:{port}");
    wait_ready(&base).await;
    let http = crate::support::http();
    let resp = http
        .post(format!("{base}/v1/messages"))
        .bearer_auth(key)
        .json(&json!({"to": "+5215512345678", "type": "text", "text": {"body": "hola"}}))
        .send()
        .await
        .expect("send");
    assert_eq!(resp.status(), 202);
    // SIGTERM: stop claiming, finish in-flight work, exit 0.
    let pid = child.id().to_string();
    assert!(Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .expect("kill")
        .success());
    let deadline = Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(s) = child.try_wait().expect("wait") {
            break s;
        }
        assert!(
            Instant::now() < deadline,
            "serve did not exit after SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success(), "clean exit after SIGTERM: {status:?}");
}

async fn sigkill_under_load_loses_and_duplicates_nothing(backend: Backend) {
    let db = TestDb::create(backend).await;
    let (port, sandbox_port) = (free_port(), free_port());
    let base = format!("http://127.0.0.1:{port}");
    let sandbox_base = format!("http://127.0.0.1:{sandbox_port}");
    let _sandbox = Proc(
        Command::new(BIN)
            .args(["sandbox", "--listen", &format!("127.0.0.1:{sandbox_port}")])
            .args([
                "--webhook-url",
                &format!("{base}/webhooks/meta"),
                "--app-secret",
                "crash-secret",
            ])
            .env("RUST_LOG", "warn")
            .spawn()
            .expect("sandbox"),
    );
    let (server, key) = serve(&db, port, sandbox_port, true);
    let key = key.expect("first start prints a key");
    wait_ready(&base).await;
    let http = crate::support::http();
    // Slow the sandbox a little so calls are in flight when the server dies.
    let patched = http
        .patch(format!("{sandbox_base}/sandbox/settings"))
        .json(&json!({"latency_ms": 20}))
        .send()
        .await
        .expect("patch");
    assert!(patched.status().is_success());

    // Load: 16 clients, each sending to its own recipient in order, until the kill.
    let acked = std::sync::Arc::new(std::sync::Mutex::new(Vec::<(String, String)>::new()));
    let stopped = std::sync::Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let mut clients = tokio::task::JoinSet::new();
    // The kill comes once at least 200 sends are acknowledged (or after 30 s), however fast
    // this machine is; clients keep sending until then.
    let stop_at = Instant::now() + Duration::from_secs(60);
    for c in 0..16 {
        let (http, base, key, acked) = (http.clone(), base.clone(), key.clone(), acked.clone());
        let stopped = stopped.clone();
        clients.spawn(async move {
            let to = format!("52155100{c:05}");
            let mut n = 0;
            while Instant::now() < stop_at + Duration::from_secs(1) {
                let body = json!({"to": to, "type": "text", "text": {"body": format!("{n}")}});
                match http
                    .post(format!("{base}/v1/messages"))
                    .bearer_auth(&key)
                    .json(&body)
                    .send()
                    .await
                {
                    Ok(r) if r.status() == 202 => {
                        let v: Value = r.json().await.unwrap_or(Value::Null);
                        if let Some(id) = v["id"].as_str() {
                            acked
                                .lock()
                                .expect("lock")
                                .push((to.clone(), id.to_string()));
                        }
                    }
                    // Refused or cut by the kill: this client stops; the reason is kept for
                    // the assertion message below.
                    other => {
                        let why = match other {
                            Ok(r) => {
                                format!("{} {}", r.status(), r.text().await.unwrap_or_default())
                            }
                            Err(e) => e.to_string(),
                        };
                        stopped.lock().expect("lock").push(why);
                        break;
                    }
                }
                n += 1;
            }
        });
    }
    let enough = Instant::now() + Duration::from_secs(30);
    while acked.lock().expect("lock").len() < 200 && Instant::now() < enough {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    drop(server); // SIGKILL
    while clients.join_next().await.is_some() {}
    let acked = acked.lock().expect("lock").clone();
    assert!(
        acked.len() > 50,
        "load before the crash: {} acknowledged; clients stopped by: {:?}",
        acked.len(),
        stopped.lock().expect("lock")
    );

    let (_server, _) = serve(&db, port, sandbox_port, false);
    wait_ready(&base).await;
    let deadline = Instant::now() + Duration::from_secs(90);
    let received: Vec<Value> = loop {
        let log = sandbox_log(&http, &sandbox_base).await;
        let ids: std::collections::HashSet<&str> = log
            .iter()
            .filter_map(|r| r["callback_data"].as_str())
            .collect();
        if acked.iter().all(|(_, id)| ids.contains(id.as_str())) {
            // Let any reconciliation finish before judging duplicates.
            tokio::time::sleep(Duration::from_secs(4)).await;
            break sandbox_log(&http, &sandbox_base).await;
        }
        assert!(
            Instant::now() < deadline,
            "not every acknowledged message was delivered after the restart"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let mut copies: HashMap<&str, usize> = HashMap::new();
    for r in &received {
        *copies
            .entry(r["callback_data"].as_str().unwrap_or(""))
            .or_default() += 1;
    }
    for (_, id) in &acked {
        assert_eq!(
            copies.get(id.as_str()),
            Some(&1),
            "acknowledged {id} delivered exactly once"
        );
    }
    // Per-recipient order survives the crash.
    let mut by_to: HashMap<&str, Vec<(u64, &str)>> = HashMap::new();
    for r in &received {
        if let (Some(to), Some(seq), Some(id)) = (
            r["to"].as_str(),
            r["seq"].as_u64(),
            r["callback_data"].as_str(),
        ) {
            by_to.entry(to).or_default().push((seq, id));
        }
    }
    for (to, mut got) in by_to {
        got.sort();
        let arrived: Vec<&str> = got
            .iter()
            .map(|(_, id)| *id)
            .filter(|id| acked.iter().any(|(_, a)| a == id))
            .collect();
        let expected: Vec<&str> = acked
            .iter()
            .filter(|(t, _)| t == to)
            .map(|(_, id)| id.as_str())
            .collect();
        assert_eq!(arrived, expected, "order to {to}");
    }
}

/// The figure after `label` on the benchmark's line that starts with `line`.
fn bench_figure(output: &str, line: &str) -> f64 {
    let text = output
        .lines()
        .find(|l| l.trim_start().starts_with(line))
        .unwrap_or_else(|| panic!("no `{line}` line in:\n{output}"));
    text[line.len() + text.find(line).unwrap_or(0)..]
        .split_whitespace()
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no figure in `{text}`"))
}

/// `chasqui bench` on a fresh database: a short run prints every figure, with every message
/// accepted and delivered and no error.
async fn bench_prints_its_figures(backend: Backend) {
    let db = TestDb::create(backend).await;
    let out = Command::new(BIN)
        .args(["bench", "--concurrency", "4", "--seconds", "1"])
        .args(["--recipients", "50", "--database", &db.url])
        .output()
        .expect("run the benchmark");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "bench failed: {stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(bench_figure(&stdout, "trivial route (GET /healthz)") > 0.0);
    assert!(bench_figure(&stdout, "accepted (POST /v1/messages)") > 0.0);
    assert!(stdout.contains("(0 errors)"), "{stdout}");
    assert!(bench_figure(&stdout, "delivered end to end") > 0.0);
    assert!(bench_figure(&stdout, "server peak RSS") > 0.0);
    assert!(bench_figure(&stdout, "server CPU") > 0.0);
}

on_both_backends!(
    key_create_prints_a_working_key,
    sigkill_under_load_loses_and_duplicates_nothing,
    bench_prints_its_figures
);
