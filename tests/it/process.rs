//! Real `chasqui` processes for the tests that need one (CLI, crash tests): spawn, wait until
//! ready, read the first API key, SIGKILL on drop.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::support::TestDb;

/// The binary under test.
pub const BIN: &str = env!("CARGO_BIN_EXE_chasqui");

/// `chasqui` with a clean environment on `db` (and the tests' secret key).
pub fn chasqui(db: &TestDb) -> Command {
    let mut cmd = Command::new(BIN);
    cmd.env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("CHASQUI_DATABASE_URL", &db.url)
        .env(
            "CHASQUI_SECRET_KEY",
            "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=",
        )
        .env("RUST_LOG", "warn")
        // These scenarios write to people who never wrote first.
        .env("CHASQUI_DEFAULT_CHANNEL__WINDOW_POLICY", "off")
        // The tests' webhook receivers listen on loopback.
        .env(
            "CHASQUI_BUSINESS_WEBHOOKS__ALLOW_PRIVATE",
            "127.0.0.0/8, ::1/128",
        )
        .current_dir(db.dir());
    cmd
}

/// A server process, killed (SIGKILL) when dropped.
pub struct Proc(pub Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Spawns `serve` from `cmd`; answers the process and, on a first start, the API key it printed
/// (waiting at most `wait` for it).
pub fn spawn_serve(cmd: &mut Command, wait: Duration) -> (Proc, Option<String>) {
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn serve");
    let stdout = child.stdout.take().expect("stdout");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let key = BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
            .find_map(|l| {
                let l = l.trim().to_string();
                l.starts_with("chq_").then_some(l)
            });
        let _ = tx.send(key);
    });
    let key = rx.recv_timeout(wait).ok().flatten();
    (Proc(child), key)
}

/// Waits until `base/readyz` answers 200.
pub async fn wait_ready(base: &str) {
    let http = crate::support::http();
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        if let Ok(r) = http.get(format!("{base}/readyz")).send().await {
            if r.status() == 200 {
                return;
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{base} did not become ready");
}
