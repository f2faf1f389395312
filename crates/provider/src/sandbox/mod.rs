//! The sandbox: a simulated Meta Cloud API with the same HTTP contract.
//!
//! It answers `POST /{version}/{phone_number_id}/messages` like Graph does (ids, error envelopes,
//! codes), plays simulated recipients whose statuses come back as signed, batched webhooks, lets
//! a simulated person write in, and injects latency, throttling and faults on demand. It runs
//! as `chasqui sandbox` ([`serve_standalone`]) or in process ([`Sandbox::graph_router`],
//! [`Sandbox::control_router`], [`Sandbox::spawn_workers`]).
//!
//! Layout: `settings` (the knobs), `graph` (the simulated Graph API), `recipient` (status
//! scheduling), `webhook_out` (signing, envelopes, delivery), `inbound` (simulated people
//! writing in), `control` (the JSON control API), `templates` (the WABA's message templates),
//! `media` (uploads, media info and downloads).

mod control;
mod graph;
mod in_process;
mod inbound;
mod media;
pub mod meta_codes;
mod read_receipts;
mod recipient;
mod settings;
mod templates;
mod webhook_out;

use std::collections::{HashMap, VecDeque};
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, RwLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::Router;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tokio::sync::{mpsc, watch};

pub use in_process::InProcessProvider;
pub use inbound::{InboundAccepted, InboundRequest};
pub use media::InboundMedia;
pub use settings::{FieldError, SandboxSettings};
pub use webhook_out::sign;

/// The received log keeps at most this many messages (oldest dropped) so long benchmarks
/// do not grow without bound.
const LOG_CAPACITY: usize = 10_000;

/// One message the simulated Graph API accepted.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ReceivedMessage {
    /// Acceptance order, starting at 1.
    pub seq: u64,
    /// The id the sandbox answered with.
    pub wamid: String,
    /// The phone number id from the request path.
    pub phone_number_id: String,
    /// Recipient digits (the `wa_id` answered).
    pub to: String,
    /// `biz_opaque_callback_data` as sent.
    pub callback_data: Option<String>,
    /// The message type (`text`, `template`, ...).
    #[serde(rename = "type")]
    pub kind: String,
    /// The normalised message body (`type`, the type's object, `context`).
    pub body: Value,
    /// When it was accepted, unix milliseconds.
    pub received_at_ms: i64,
    /// The endpoint it was sent to: `messages`, or `marketing_messages` (the Marketing
    /// Messages API).
    #[serde(default)]
    pub endpoint: String,
    /// Statuses the simulated recipient produced so far, in order.
    pub statuses: Vec<LoggedStatus>,
}

/// One status a simulated recipient produced for a message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct LoggedStatus {
    /// `sent`, `delivered`, `read` or `failed`.
    pub status: String,
    /// When it happened, unix milliseconds.
    pub at_ms: i64,
    /// Whether its webhook was deliberately lost (`lost_webhook_rate`).
    pub lost: bool,
}

/// Counters since start (`GET /stats`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct SandboxStats {
    /// Messages accepted and recorded.
    pub received: u64,
    /// Sends refused for bad auth or an invalid body.
    pub rejected: u64,
    /// Sends refused with 130429.
    pub throttled: u64,
    /// Injected HTTP 500s.
    pub faults_5xx: u64,
    /// Messages accepted and then left hanging (`timeout_after_accept_rate`).
    pub timeouts: u64,
    /// Sends left hanging without being recorded (`drop_rate`).
    pub dropped: u64,
    /// Webhook POSTs answered 2xx.
    pub webhooks_sent: u64,
    /// Webhook POSTs abandoned after the last retry.
    pub webhooks_failed: u64,
    /// Webhook attempts that failed and were retried.
    pub webhook_retries: u64,
    /// Status webhook entries deliberately lost.
    pub statuses_lost: u64,
    /// Inbound messages produced through `POST /inbound`.
    pub inbound: u64,
    /// Files accepted by the media upload.
    pub media_uploaded: u64,
    /// Read receipts (`status: read`) accepted.
    pub read_receipts: u64,
}

/// Lock-free counters behind [`SandboxStats`].
#[derive(Default)]
struct Counters {
    received: AtomicU64,
    rejected: AtomicU64,
    throttled: AtomicU64,
    faults_5xx: AtomicU64,
    timeouts: AtomicU64,
    dropped: AtomicU64,
    webhooks_sent: AtomicU64,
    webhooks_failed: AtomicU64,
    webhook_retries: AtomicU64,
    statuses_lost: AtomicU64,
    inbound: AtomicU64,
    media_uploaded: AtomicU64,
    read_receipts: AtomicU64,
}

fn bump(counter: &AtomicU64) {
    counter.fetch_add(1, Ordering::Relaxed);
}

/// Mutable state, behind one briefly held mutex.
struct State {
    rng: StdRng,
    log: VecDeque<ReceivedMessage>,
    next_seq: u64,
    /// Per phone number id: (unix second, sends accepted in it).
    throttle: HashMap<String, (u64, u32)>,
    /// The message templates of the sandbox's WABA.
    templates: templates::Book,
    /// Read receipts the business sent, oldest first (at most `LOG_CAPACITY`).
    read_receipts: VecDeque<ReadReceipt>,
}

/// A read receipt the business sent for a customer's message (`GET /read_receipts`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ReadReceipt {
    /// The business number it was sent from.
    pub phone_number_id: String,
    /// The customer's message marked read.
    pub message_id: String,
    /// Whether it asked for the typing indicator.
    pub typing: bool,
    /// When, unix milliseconds.
    pub at_ms: i64,
}

/// A running simulated Cloud API; share it as `Arc<Sandbox>`.
pub struct Sandbox {
    settings: RwLock<Arc<SandboxSettings>>,
    state: Mutex<State>,
    /// Uploaded and simulated customers' files (`media`).
    media: Mutex<media::Library>,
    stats: Counters,
    schedule_tx: mpsc::UnboundedSender<recipient::StatusEvent>,
    /// Taken by the scheduler task in `spawn_workers`.
    schedule_rx: Mutex<Option<mpsc::UnboundedReceiver<recipient::StatusEvent>>>,
    webhook_client: reqwest::Client,
    /// Flips to `true` on shutdown so injected hangs end early.
    closing: watch::Sender<bool>,
}

impl Sandbox {
    /// Creates a sandbox; call [`Sandbox::spawn_workers`] (inside a tokio runtime) to get webhooks.
    pub fn new(settings: SandboxSettings) -> Arc<Self> {
        let (schedule_tx, schedule_rx) = mpsc::unbounded_channel();
        let state = State {
            rng: new_rng(settings.seed),
            log: VecDeque::new(),
            next_seq: 1,
            throttle: HashMap::new(),
            templates: templates::Book::default(),
            read_receipts: VecDeque::new(),
        };
        Arc::new(Self {
            settings: RwLock::new(Arc::new(settings)),
            state: Mutex::new(state),
            media: Mutex::new(media::Library::default()),
            stats: Counters::default(),
            schedule_tx,
            schedule_rx: Mutex::new(Some(schedule_rx)),
            webhook_client: crate::http_client(Duration::from_secs(10)),
            closing: watch::Sender::new(false),
        })
    }

    /// The simulated Graph API: `POST /{version}/{phone_number_id}/messages`.
    pub fn graph_router(self: &Arc<Self>) -> Router {
        graph::router(self)
    }

    /// The control API (`/settings`, `/messages`, `/stats`, `/inbound`), to be mounted anywhere.
    pub fn control_router(self: &Arc<Self>) -> Router {
        control::router(self)
    }

    /// The control API's OpenAPI description, under `/v1/sandbox`.
    pub fn control_openapi() -> utoipa::openapi::OpenApi {
        control::openapi()
    }

    /// Graph routes at `/` and control routes under `/sandbox/`, as `chasqui sandbox` serves them.
    pub fn router(self: &Arc<Self>) -> Router {
        self.graph_router().nest("/sandbox", self.control_router())
    }

    /// Starts the status scheduler on the current tokio runtime; later calls do nothing. The
    /// task ends by itself once the sandbox is dropped.
    pub fn spawn_workers(self: &Arc<Self>) {
        let Some(rx) = lock(&self.schedule_rx).take() else {
            return;
        };
        tokio::spawn(recipient::run_scheduler(Arc::downgrade(self), rx));
    }

    /// Ends injected hangs now (called on shutdown so graceful shutdown is not held up).
    pub fn close(&self) {
        self.closing.send_replace(true);
    }

    /// The current settings.
    pub fn settings(&self) -> Arc<SandboxSettings> {
        match self.settings.read() {
            Ok(guard) => guard.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// Replaces the settings after validating them (a new `seed` reseeds the RNG).
    pub fn set_settings(&self, settings: SandboxSettings) -> Result<(), FieldError> {
        settings.validate()?;
        let reseed = settings.seed != self.settings().seed;
        if reseed {
            lock(&self.state).rng = new_rng(settings.seed);
        }
        let mut guard = match self.settings.write() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        };
        *guard = Arc::new(settings);
        Ok(())
    }

    /// Accepted messages in ascending `seq`: those after `after_seq`, optionally only to `to`
    /// (digits), at most `limit`.
    pub fn messages(&self, to: Option<&str>, after_seq: u64, limit: usize) -> Vec<ReceivedMessage> {
        let to = to.map(|t| t.trim_start_matches('+'));
        lock(&self.state)
            .log
            .iter()
            .filter(|m| m.seq > after_seq && to.is_none_or(|t| m.to == t))
            .take(limit)
            .cloned()
            .collect()
    }

    /// Forgets every accepted message (statuses already scheduled still go out).
    pub fn clear_messages(&self) {
        lock(&self.state).log.clear();
    }

    /// A snapshot of the counters.
    pub fn stats(&self) -> SandboxStats {
        let c = &self.stats;
        let get = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
        SandboxStats {
            received: get(&c.received),
            rejected: get(&c.rejected),
            throttled: get(&c.throttled),
            faults_5xx: get(&c.faults_5xx),
            timeouts: get(&c.timeouts),
            dropped: get(&c.dropped),
            webhooks_sent: get(&c.webhooks_sent),
            webhooks_failed: get(&c.webhooks_failed),
            webhook_retries: get(&c.webhook_retries),
            statuses_lost: get(&c.statuses_lost),
            inbound: get(&c.inbound),
            media_uploaded: get(&c.media_uploaded),
            read_receipts: get(&c.read_receipts),
        }
    }

    /// Appends to the received log, dropping the oldest entry beyond `LOG_CAPACITY`.
    fn push_log(state: &mut State, message: ReceivedMessage) {
        if state.log.len() >= LOG_CAPACITY {
            state.log.pop_front();
        }
        state.log.push_back(message);
    }

    /// Records a status on its message's log entry, if the entry is still kept.
    fn log_status(state: &mut State, seq: u64, status: LoggedStatus) {
        let Some(first) = state.log.front().map(|m| m.seq) else {
            return;
        };
        let index = seq.checked_sub(first).and_then(|i| usize::try_from(i).ok());
        // Seqs are contiguous unless the log was cleared, so check the guess.
        if let Some(entry) = index
            .and_then(|i| state.log.get_mut(i))
            .filter(|m| m.seq == seq)
        {
            entry.statuses.push(status);
        }
    }

    /// Sleeps `ms`, or less if the sandbox is closing.
    async fn hang(&self, ms: u64) {
        let mut closing = self.closing.subscribe();
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_millis(ms)) => {}
            _ = closing.wait_for(|c| *c) => {}
        }
    }

    /// Draws `true` with probability `p` (0 or less never, 1 or more always).
    fn roll(rng: &mut StdRng, p: f64) -> bool {
        if p >= 1.0 {
            true
        } else if p > 0.0 {
            rng.random_bool(p)
        } else {
            false
        }
    }
}

/// Serves the sandbox on `listener` (Graph routes at `/`, control routes at `/sandbox/`) until
/// `shutdown` completes; this is `chasqui sandbox`.
pub async fn serve_standalone(
    listener: tokio::net::TcpListener,
    settings: SandboxSettings,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let sandbox = Sandbox::new(settings);
    sandbox.spawn_workers();
    let closer = sandbox.clone();
    let shutdown = async move {
        shutdown.await;
        closer.close();
    };
    axum::serve(listener, sandbox.router())
        .with_graceful_shutdown(shutdown)
        .await
}

fn new_rng(seed: Option<u64>) -> StdRng {
    match seed {
        Some(seed) => StdRng::seed_from_u64(seed),
        None => StdRng::from_os_rng(),
    }
}

/// Locks a mutex, ignoring poisoning: every critical section leaves the data consistent.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Unix time in milliseconds.
fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// A fresh, unique Meta-style message id.
fn new_wamid() -> String {
    format!("wamid.{}", uuid::Uuid::now_v7().simple())
}
