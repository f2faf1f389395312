//! `chasqui bench`: starts a real `chasqui serve` process on a fresh database with its in-process
//! sandbox (pacing off), loads it over HTTP and prints: the trivial route's rate (the ceiling),
//! accepted messages/s, accept latency p50/p99/max, end-to-end delivered messages/s and the
//! server's peak RSS.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::Args;
use serde_json::json;

/// Benchmark options.
#[derive(Debug, Args, Clone)]
pub struct BenchArgs {
    /// Concurrent clients.
    #[arg(long, default_value_t = 64)]
    pub concurrency: usize,
    /// Seconds each load phase lasts.
    #[arg(long, default_value_t = 10)]
    pub seconds: u64,
    /// Database to run against (default: a new SQLite file in a temporary folder). Use an empty
    /// PostgreSQL database: the benchmark fills it.
    #[arg(long)]
    pub database: Option<String>,
    /// Distinct recipients the load rotates over.
    #[arg(long, default_value_t = 10_000)]
    pub recipients: usize,
    /// Diagnostic: run the server without its dispatcher and measure acceptance alone.
    #[arg(long)]
    pub accept_only: bool,
}

struct Server {
    child: Child,
    base: String,
    key: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let _ = self.child.wait();
    }
}

fn free_port() -> Result<u16, String> {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(|e| e.to_string())
}

fn start_server(dir: &std::path::Path, database: &str, dispatcher: bool) -> Result<Server, String> {
    let port = free_port()?;
    let config = format!(
        r#"listen = "127.0.0.1:{port}"
database_url = "{database}"
secret_key_file = "{key}"
log = "warn"

[dispatcher]
enabled = {dispatcher}
batch = 512
max_in_flight = 512

[default_channel]
rate_per_sec = 0
pair_interval_ms = 0
window_policy = "off"

[sandbox]
sent_after_ms = 0
delivered_after_ms = 0
webhook_batch_ms = 20
"#,
        key = dir.join("chasqui.key").display()
    );
    let path = dir.join("bench.toml");
    std::fs::write(&path, config).map_err(|e| e.to_string())?;
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let mut child = Command::new(exe)
        .arg("serve")
        .arg("--config")
        .arg(&path)
        .env_remove("CHASQUI_DATABASE_URL")
        .env_remove("CHASQUI_LISTEN")
        .env_remove("CHASQUI_CONFIG")
        .current_dir(dir)
        .stdout(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot start the server: {e}"))?;
    let stdout = child.stdout.take().ok_or("no stdout")?;
    let key = BufReader::new(stdout)
        .lines()
        .map_while(Result::ok)
        .find_map(|l| l.trim().starts_with("chq_").then(|| l.trim().to_string()))
        .ok_or("the server printed no API key: use an empty database")?;
    Ok(Server {
        child,
        base: format!("http://127.0.0.1:{port}"),
        key,
    })
}

/// Bytes the process `pid` has caused to be written to storage so far.
fn written_bytes(pid: u32) -> Option<u64> {
    let io = std::fs::read_to_string(format!("/proc/{pid}/io")).ok()?;
    let line = io.lines().find(|l| l.starts_with("write_bytes:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

fn peak_rss_mb(pid: u32) -> Option<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}

/// CPU seconds (user and system, all threads) the process `pid` has used so far.
fn cpu_secs(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name, which is in parentheses and may hold spaces.
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let ticks: f64 = fields.get(11)?.parse::<f64>().ok()? + fields.get(12)?.parse::<f64>().ok()?;
    Some(ticks / ticks_per_sec()?)
}

/// The kernel's clock ticks per second, the unit of `/proc`'s CPU times.
fn ticks_per_sec() -> Option<f64> {
    // SAFETY: sysconf only reads a system constant.
    let per_sec = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    (per_sec > 0).then_some(per_sec as f64)
}

/// Seconds all cores of the machine have spent idle (or waiting for I/O) since boot, and seconds
/// the hypervisor gave them to other guests (steal).
fn machine_idle_and_steal_secs() -> Option<(f64, f64)> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    let cpu = stat.lines().next()?.strip_prefix("cpu ")?;
    let ticks: Vec<f64> = cpu
        .split_whitespace()
        .filter_map(|t| t.parse().ok())
        .collect();
    let per_sec = ticks_per_sec()?;
    Some((
        (ticks.get(3)? + ticks.get(4)?) / per_sec,
        ticks.get(7)? / per_sec,
    ))
}

/// Runs `concurrency` loops of `request` for `seconds`; returns (ok count, latencies in µs, errors).
async fn load<F, Fut>(concurrency: usize, seconds: u64, request: F) -> (u64, Vec<u32>, u64)
where
    F: Fn(usize, u64) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = bool> + Send,
{
    let request = Arc::new(request);
    let until = Instant::now() + Duration::from_secs(seconds);
    let mut tasks = tokio::task::JoinSet::new();
    for worker in 0..concurrency {
        let request = request.clone();
        tasks.spawn(async move {
            let (mut ok, mut errors, mut lat) = (0u64, 0u64, Vec::with_capacity(100_000));
            let mut n = 0u64;
            while Instant::now() < until {
                let t = Instant::now();
                if request(worker, n).await {
                    ok += 1;
                    lat.push(t.elapsed().as_micros().min(u128::from(u32::MAX)) as u32);
                } else {
                    errors += 1;
                }
                n += 1;
            }
            (ok, lat, errors)
        });
    }
    let (mut ok, mut all, mut errors) = (0, Vec::new(), 0);
    while let Some(Ok((o, lat, e))) = tasks.join_next().await {
        ok += o;
        errors += e;
        all.extend(lat);
    }
    all.sort_unstable();
    (ok, all, errors)
}

fn pct(sorted: &[u32], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    f64::from(sorted[i]) / 1000.0
}

async fn count(http: &reqwest::Client, server: &Server, status: &str) -> Result<bool, String> {
    let url = format!("{}/v1/messages?status={status}&limit=1", server.base);
    let page: serde_json::Value = http
        .get(url)
        .bearer_auth(&server.key)
        .send()
        .await
        .map_err(|e| e.to_string())?
        .json()
        .await
        .map_err(|e| e.to_string())?;
    Ok(page["data"].as_array().is_some_and(|d| !d.is_empty()))
}

/// Runs the benchmark and prints the figures.
pub async fn run(args: BenchArgs) -> Result<(), String> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let dir: PathBuf =
        std::env::temp_dir().join(format!("chasqui-bench-{}", uuid::Uuid::now_v7().simple()));
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    let database = args
        .database
        .clone()
        .unwrap_or_else(|| format!("sqlite://{}/bench.db", dir.display()));
    let backend = if database.starts_with("postgres") {
        "postgresql"
    } else {
        "sqlite"
    };
    let server = Arc::new(start_server(&dir, &database, !args.accept_only)?);
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(args.concurrency)
        .build()
        .map_err(|e| e.to_string())?;
    for _ in 0..200 {
        if http
            .get(format!("{}/readyz", server.base))
            .send()
            .await
            .is_ok_and(|r| r.status() == 200)
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // The simulated customers never read: `delivered` ends each message's run, and the sandbox
    // keeps no pending `read` for every message sent.
    http.patch(format!("{}/v1/sandbox/settings", server.base))
        .bearer_auth(&server.key)
        .json(&json!({"read_after_ms": null}))
        .send()
        .await
        .and_then(|r| r.error_for_status())
        .map_err(|e| format!("cannot configure the sandbox: {e}"))?;

    // 1. The ceiling: a route that does no work.
    let (h, s) = (http.clone(), server.clone());
    let (trivial_ok, trivial_lat, _) = load(args.concurrency, args.seconds, move |_, _| {
        let req = h.get(format!("{}/healthz", s.base));
        async move { req.send().await.is_ok_and(|r| r.status() == 200) }
    })
    .await;
    let trivial_rate = trivial_ok as f64 / args.seconds as f64;

    // 2. Accepting messages (every 202 is after an fsync'd commit).
    let (h, recipients) = (http.clone(), args.recipients.max(1));
    let started = Instant::now();
    let cpu_before = cpu_secs(server.child.id());
    let written_before = written_bytes(server.child.id());
    let own_cpu_before = cpu_secs(std::process::id());
    let machine_before = machine_idle_and_steal_secs();
    // The load generator shares the cores with the server: each request is written directly,
    // not built through a JSON tree.
    let url = format!("{}/v1/messages", server.base);
    let auth = format!("Bearer {}", server.key);
    let (accepted, lat, errors) = load(args.concurrency, args.seconds, move |worker, n| {
        let to = (worker as u64 * 7919 + n) % recipients as u64;
        let body = format!(
            r#"{{"to":"+5215510{to:06}","type":"text","text":{{"body":"bench {worker}/{n}"}}}}"#
        );
        let req = h
            .post(&url)
            .header(reqwest::header::AUTHORIZATION, &auth)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(body);
        async move { req.send().await.is_ok_and(|r| r.status() == 202) }
    })
    .await;
    let accept_secs = started.elapsed().as_secs_f64();
    let accept_cpu = cpu_secs(server.child.id())
        .zip(cpu_before)
        .map(|(after, before)| after - before);
    let own_cpu = cpu_secs(std::process::id())
        .zip(own_cpu_before)
        .map(|(after, before)| after - before);
    let idle = machine_idle_and_steal_secs()
        .zip(machine_before)
        .map(|(after, before)| (after.0 - before.0, after.1 - before.1));
    let accepted_rate = accepted as f64 / args.seconds as f64;

    // 3. End to end: until nothing is queued, sending or merely sent.
    let deadline = Instant::now() + Duration::from_secs(300);
    loop {
        if args.accept_only {
            break;
        }
        let mut pending = false;
        for status in ["queued", "sending", "sent"] {
            pending |= count(&http, &server, status).await?;
        }
        if !pending || Instant::now() > deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let delivered_secs = started.elapsed().as_secs_f64();
    let delivered_rate = accepted as f64 / delivered_secs;
    let total_cpu = cpu_secs(server.child.id())
        .zip(cpu_before)
        .map(|(after, before)| after - before);
    let rss = peak_rss_mb(server.child.id()).unwrap_or(f64::NAN);
    let written = written_bytes(server.child.id())
        .zip(written_before)
        .map(|(after, before)| after.saturating_sub(before));

    println!(
        "chasqui bench: {backend}, {} clients, {} s per phase, {} cores",
        args.concurrency,
        args.seconds,
        num_cores()
    );
    println!(
        "  trivial route (GET /healthz)   {trivial_rate:>10.0} req/s   p50 {:.2} ms  p99 {:.2} ms",
        pct(&trivial_lat, 0.5),
        pct(&trivial_lat, 0.99)
    );
    println!(
        "  accepted (POST /v1/messages)   {accepted_rate:>10.0} msg/s   {:.0}% of the trivial route",
        100.0 * accepted_rate / trivial_rate.max(1.0)
    );
    println!(
        "  accept latency                 p50 {:.2} ms  p99 {:.2} ms  max {:.2} ms   ({errors} errors)",
        pct(&lat, 0.5),
        pct(&lat, 0.99),
        pct(&lat, 1.0)
    );
    if args.accept_only {
        println!("  delivered end to end           not measured (--accept-only: no dispatcher)");
    } else {
        println!(
            "  delivered end to end           {delivered_rate:>10.0} msg/s   {:.0}% of accepted/s ({accepted} messages, all delivered {:.1} s after the first send; load lasted {accept_secs:.1} s)",
            100.0 * delivered_rate / accepted_rate.max(1.0),
            delivered_secs
        );
    }
    // CPU per message is steadier than rates on a shared machine: it says what the work costs.
    if let (Some(during), Some(total)) = (accept_cpu, total_cpu) {
        let per_msg = |cpu: f64| 1e6 * cpu / (accepted.max(1) as f64);
        println!(
            "  server CPU                     {:>10.0} µs per message in all ({:.0} µs during the load, {:.2} cores busy)",
            per_msg(total),
            per_msg(during),
            during / accept_secs
        );
        // What is left of the machine says whether the run was bound by CPU or by waiting.
        if let (Some(own), Some((idle, steal))) = (own_cpu, idle) {
            println!(
                "  load generator CPU             {:>10.0} µs per request ({:.2} cores); of the machine's {} cores, {:.2} idle and {:.2} taken by the host during the load",
                1e6 * own / ((accepted + errors).max(1) as f64),
                own / accept_secs,
                num_cores(),
                idle / accept_secs,
                steal / accept_secs,
            );
        }
    }
    if let (Some(bytes), "sqlite") = (written, backend) {
        // The WAL rewrites every page a commit touches: this says how much each message costs the disk.
        println!(
            "  server disk writes             {:>10.1} KB per message ({:.0} MB in all)",
            bytes as f64 / 1024.0 / (accepted.max(1) as f64),
            bytes as f64 / 1048576.0
        );
    }
    println!("  server peak RSS                {rss:>10.1} MB");
    drop(server);
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

fn num_cores() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
}
