//! The load: concurrent clients looping over one request for a fixed time.

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::procs::Server;

/// How long the delivery phase may wait for the last messages to be delivered.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(300);

/// What the clients got.
#[derive(Debug, Default)]
pub struct Load {
    /// Requests answered as expected.
    pub ok: u64,
    /// Requests that failed or got another answer.
    pub errors: u64,
    /// Latencies of the successful requests, µs, sorted.
    latencies: Vec<u32>,
}

impl Load {
    /// The `p` quantile (0 to 1) of the successful requests' latencies, ms.
    pub fn latency_ms(&self, p: f64) -> f64 {
        if self.latencies.is_empty() {
            return 0.0;
        }
        let i = ((self.latencies.len() as f64 - 1.0) * p).round() as usize;
        f64::from(self.latencies[i]) / 1000.0
    }
}

/// Runs `concurrency` loops of `request` for `seconds`.
async fn run<F, Fut>(concurrency: usize, seconds: u64, request: F) -> Load
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
            let mut load = Load {
                latencies: Vec::with_capacity(100_000),
                ..Load::default()
            };
            let mut n = 0u64;
            while Instant::now() < until {
                let t = Instant::now();
                if request(worker, n).await {
                    load.ok += 1;
                    load.latencies
                        .push(t.elapsed().as_micros().min(u128::from(u32::MAX)) as u32);
                } else {
                    load.errors += 1;
                }
                n += 1;
            }
            load
        });
    }
    let mut all = Load::default();
    while let Some(Ok(one)) = tasks.join_next().await {
        all.ok += one.ok;
        all.errors += one.errors;
        all.latencies.extend(one.latencies);
    }
    all.latencies.sort_unstable();
    all
}

/// The ceiling: `GET /healthz`, a route that does no work.
pub async fn trivial(
    http: &reqwest::Client,
    server: &Server,
    concurrency: usize,
    seconds: u64,
) -> Load {
    let (http, url) = (http.clone(), format!("{}/healthz", server.base));
    run(concurrency, seconds, move |_, _| {
        let req = http.get(&url);
        async move { req.send().await.is_ok_and(|r| r.status() == 200) }
    })
    .await
}

/// `POST /v1/messages`, a text to one of `recipients` numbers; every 202 follows a durable
/// commit.
pub async fn sends(
    http: &reqwest::Client,
    server: &Server,
    concurrency: usize,
    seconds: u64,
    recipients: usize,
) -> Load {
    let http = http.clone();
    let url = format!("{}/v1/messages", server.base);
    let auth = format!("Bearer {}", server.key);
    let recipients = recipients.max(1) as u64;
    // The load generator shares the cores with the server: each request is written directly,
    // not built through a JSON tree.
    run(concurrency, seconds, move |worker, n| {
        let to = (worker as u64 * 7919 + n) % recipients;
        let body = format!(
            r#"{{"to":"+5215510{to:06}","type":"text","text":{{"body":"bench {worker}/{n}"}}}}"#
        );
        let req = http
            .post(&url)
            .header(reqwest::header::AUTHORIZATION, &auth)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(body);
        async move { req.send().await.is_ok_and(|r| r.status() == 202) }
    })
    .await
}

/// How the delivery phase ended.
#[derive(Debug, Clone, Copy)]
pub struct Drained {
    /// Nothing was left queued, sending or merely sent.
    pub complete: bool,
    /// Some message failed instead of being delivered.
    pub any_failed: bool,
}

/// Waits until no message is queued, sending or merely sent (or `DRAIN_TIMEOUT` passes).
pub async fn drain(http: &reqwest::Client, server: &Server) -> Result<Drained, String> {
    let deadline = Instant::now() + DRAIN_TIMEOUT;
    let complete = loop {
        let mut pending = false;
        for status in ["queued", "sending", "sent"] {
            pending |= any_with_status(http, server, status).await?;
        }
        if !pending {
            break true;
        }
        if Instant::now() > deadline {
            break false;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    Ok(Drained {
        complete,
        any_failed: any_with_status(http, server, "failed").await?,
    })
}

async fn any_with_status(
    http: &reqwest::Client,
    server: &Server,
    status: &str,
) -> Result<bool, String> {
    let url = format!("{}/v1/messages?status={status}&limit=1", server.base);
    let page: serde_json::Value = http
        .get(url)
        .bearer_auth(&server.key)
        .send()
        .await
        .and_then(|r| r.error_for_status())
        .map_err(|e| e.to_string())?
        .json()
        .await
        .map_err(|e| e.to_string())?;
    Ok(page["data"].as_array().is_some_and(|d| !d.is_empty()))
}
