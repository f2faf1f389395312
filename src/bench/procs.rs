//! The processes a phase runs: `chasqui sandbox` (Meta, remote) and `chasqui serve` against it.

use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::json;

/// How long a process may take to answer after it starts.
const START_TIMEOUT: Duration = Duration::from_secs(30);

/// How long a stopped process may take to finish its in-flight work before it is killed.
const STOP_TIMEOUT: Duration = Duration::from_secs(60);

/// How long the server may take to log its write count after `SIGUSR1`.
const COUNT_TIMEOUT: Duration = Duration::from_secs(10);

/// A child process, stopped (SIGTERM, then SIGKILL) when dropped.
struct Process {
    child: Child,
}

impl Process {
    fn spawn(command: &mut Command, what: &str) -> Result<Self, String> {
        let child = command
            .spawn()
            .map_err(|e| format!("cannot start {what}: {e}"))?;
        Ok(Self { child })
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    fn signal(&self, signal: libc::c_int) -> Result<(), String> {
        let pid = libc::pid_t::try_from(self.pid()).map_err(|e| e.to_string())?;
        // SAFETY: kill(2) only sends a signal, to our own child.
        match unsafe { libc::kill(pid, signal) } {
            0 => Ok(()),
            _ => Err(format!(
                "cannot signal process {pid}: {}",
                std::io::Error::last_os_error()
            )),
        }
    }

    fn exited(&mut self) -> bool {
        !matches!(self.child.try_wait(), Ok(None))
    }

    /// Asks the process to stop and waits for it, killing it after `STOP_TIMEOUT`.
    fn stop(&mut self) {
        if self.exited() {
            return;
        }
        let _ = self.signal(libc::SIGTERM);
        let deadline = Instant::now() + STOP_TIMEOUT;
        while !self.exited() {
            if Instant::now() > deadline {
                let _ = self.child.kill();
                let _ = self.child.wait();
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Polls `url` until it answers 200; fails if `process` exits or `START_TIMEOUT` passes.
async fn wait_until_up(
    http: &reqwest::Client,
    url: &str,
    process: &mut Process,
    what: &str,
) -> Result<(), String> {
    let deadline = Instant::now() + START_TIMEOUT;
    loop {
        if http.get(url).send().await.is_ok_and(|r| r.status() == 200) {
            return Ok(());
        }
        if process.exited() {
            return Err(format!("{what} exited before it answered"));
        }
        if Instant::now() > deadline {
            return Err(format!("{what} did not answer {url} in {START_TIMEOUT:?}"));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A free loopback port (free when asked; a race with other programs is possible).
pub fn free_port() -> Result<u16, String> {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(|e| e.to_string())
}

/// The simulated Cloud API in its own process, as Meta is remote.
pub struct Sandbox {
    process: Process,
    /// `http://127.0.0.1:PORT`: Graph API at `/`, control API under `/sandbox/`.
    pub base: String,
}

impl Sandbox {
    /// Starts `chasqui sandbox`, posting its signed webhooks to `webhook_url`, with simulated
    /// customers who receive at once and never read.
    pub async fn start(
        http: &reqwest::Client,
        webhook_url: &str,
        app_secret: &str,
    ) -> Result<Self, String> {
        let port = free_port()?;
        let exe = std::env::current_exe().map_err(|e| e.to_string())?;
        let mut process = Process::spawn(
            Command::new(exe)
                .args(["sandbox", "--listen", &format!("127.0.0.1:{port}")])
                .args(["--webhook-url", webhook_url])
                .env("CHASQUI_SANDBOX_APP_SECRET", app_secret)
                .env_remove("CHASQUI_SANDBOX_ACCESS_TOKEN")
                .env("RUST_LOG", "warn")
                .stdout(Stdio::null()),
            "the sandbox",
        )?;
        let base = format!("http://127.0.0.1:{port}");
        wait_until_up(
            http,
            &format!("{base}/sandbox/stats"),
            &mut process,
            "the sandbox",
        )
        .await?;
        let settings = json!({
            "sent_after_ms": 0,
            "delivered_after_ms": 0,
            "read_after_ms": null,
            "webhook_batch_ms": 20,
        });
        http.patch(format!("{base}/sandbox/settings"))
            .json(&settings)
            .send()
            .await
            .and_then(|r| r.error_for_status())
            .map_err(|e| format!("cannot configure the sandbox: {e}"))?;
        Ok(Self { process, base })
    }

    pub fn pid(&self) -> u32 {
        self.process.pid()
    }

    pub fn stop(mut self) {
        self.process.stop();
    }
}

/// How `chasqui serve` is configured for a phase.
pub struct ServerConfig<'a> {
    pub dir: &'a Path,
    pub port: u16,
    pub database: &'a str,
    pub dispatcher: bool,
    pub sandbox_base: &'a str,
    pub app_secret: &'a str,
    /// `metrics_listen`'s port; `None`: metrics off.
    pub metrics_port: Option<u16>,
}

impl ServerConfig<'_> {
    /// The TOML file: pacing and the customer-service window off, the channel on the sandbox
    /// process, the store's write counts in the log.
    fn toml(&self) -> String {
        let metrics = match self.metrics_port {
            Some(p) => format!("metrics_listen = \"127.0.0.1:{p}\"\n"),
            None => String::new(),
        };
        metrics
            + &format!(
                r#"listen = "127.0.0.1:{port}"
database_url = "{database}"
secret_key_file = "{key}"
log = "warn,chasqui::write_counters=info"
log_color = "never"

[dispatcher]
enabled = {dispatcher}
batch = 512
max_in_flight = 512

[default_channel]
provider = "sandbox"
base_url = "{sandbox}"
app_secret = "{secret}"
rate_per_sec = 0
pair_interval_ms = 0
window_policy = "off"
"#,
                port = self.port,
                database = self.database,
                key = self.dir.join("chasqui.key").display(),
                dispatcher = self.dispatcher,
                sandbox = self.sandbox_base,
                secret = self.app_secret,
            )
    }
}

/// A running `chasqui serve`.
pub struct Server {
    process: Process,
    pub base: String,
    pub key: String,
    /// Every `rows_changed` the server logged, in order.
    counts: mpsc::Receiver<u64>,
}

impl Server {
    /// Starts the server and waits until it is ready. `known_key` is the API key of an earlier
    /// phase on the same database; on a new database the server prints one.
    pub async fn start(
        http: &reqwest::Client,
        config: &ServerConfig<'_>,
        known_key: Option<String>,
    ) -> Result<Self, String> {
        let path = config.dir.join("bench.toml");
        std::fs::write(&path, config.toml()).map_err(|e| e.to_string())?;
        let exe = std::env::current_exe().map_err(|e| e.to_string())?;
        let mut process = Process::spawn(
            Command::new(exe)
                .arg("serve")
                .arg("--config")
                .arg(&path)
                .env_remove("CHASQUI_DATABASE_URL")
                .env_remove("CHASQUI_LISTEN")
                .env_remove("CHASQUI_CONFIG")
                .env_remove("RUST_LOG")
                .current_dir(config.dir)
                .stdout(Stdio::piped())
                .stderr(Stdio::piped()),
            "the server",
        )?;
        let keys = read_lines(process.child.stdout.take(), |line, keys| {
            let line = line.trim();
            if line.starts_with("chq_") {
                let _ = keys.send(line.to_string());
            }
        });
        let counts = read_lines(
            process.child.stderr.take(),
            |line, counts| match rows_changed(&line) {
                Some(n) => {
                    let _ = counts.send(n);
                }
                None => eprintln!("{line}"),
            },
        );
        let base = format!("http://127.0.0.1:{}", config.port);
        wait_until_up(http, &format!("{base}/readyz"), &mut process, "the server").await?;
        // The server prints a new key before it serves, so it is in the pipe by now.
        let key = match known_key {
            Some(key) => key,
            None => keys
                .recv_timeout(Duration::from_secs(2))
                .map_err(|_| "the server printed no API key: use an empty database")?,
        };
        Ok(Self {
            process,
            base,
            key,
            counts,
        })
    }

    pub fn pid(&self) -> u32 {
        self.process.pid()
    }

    /// The rows the store counted itself so far (SQLite), asked with `SIGUSR1`.
    pub fn rows_changed(&self) -> Result<u64, String> {
        while self.counts.try_recv().is_ok() {}
        self.process.signal(libc::SIGUSR1)?;
        self.counts
            .recv_timeout(COUNT_TIMEOUT)
            .map_err(|_| "the server logged no write count after SIGUSR1".to_string())
    }

    /// Stops the server; answers the write count it logged at shutdown, if any.
    pub fn stop(mut self) -> Option<u64> {
        self.process.stop();
        // Its standard error is closed now: the reader has sent every line.
        self.counts.iter().last()
    }
}

/// Reads `stream` line by line on a thread of its own, handing each line to `each` with a
/// sender; answers the receiving end.
fn read_lines<T: Send + 'static>(
    stream: Option<impl Read + Send + 'static>,
    each: impl Fn(String, &mpsc::Sender<T>) + Send + 'static,
) -> mpsc::Receiver<T> {
    let (tx, rx) = mpsc::channel();
    if let Some(stream) = stream {
        std::thread::spawn(move || {
            for line in BufReader::new(stream).lines().map_while(Result::ok) {
                each(line, &tx);
            }
        });
    }
    rx
}

/// The `rows_changed=N` of a `chasqui::write_counters` log line.
fn rows_changed(line: &str) -> Option<u64> {
    if !line.contains("chasqui::write_counters") {
        return None;
    }
    let (_, after) = line.split_once("rows_changed=")?;
    let digits: String = after.chars().take_while(char::is_ascii_digit).collect();
    digits.parse().ok()
}

/// The sandbox and the server on it, for one phase.
pub struct Deployment {
    pub sandbox: Sandbox,
    pub server: Server,
}

impl Deployment {
    /// Stops the sandbox, then the server (nothing is in flight by then); answers the server's
    /// last write count.
    pub fn stop(self) -> Option<u64> {
        self.sandbox.stop();
        self.server.stop()
    }
}

#[cfg(test)]
mod tests {
    use super::rows_changed;

    #[test]
    fn reads_the_count_from_the_servers_log_line() {
        let line = "2026-12-03T10:00:00.123456Z  INFO chasqui::write_counters: store writes \
                    rows_changed=123456 when=\"signal\"";
        assert_eq!(rows_changed(line), Some(123456));
        assert_eq!(rows_changed("WARN chasqui::app: rows_changed=5"), None);
        assert_eq!(
            rows_changed("INFO chasqui::write_counters: PostgreSQL counts"),
            None
        );
    }
}
