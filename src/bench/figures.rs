//! What a run measured, and each figure computed from it, in one place each.

use super::load::{Drained, Load};
use super::rows::RowWrites;
use super::usage::Span;

/// A phase that loads `POST /v1/messages`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// The dispatcher sends every message to the sandbox, whose status webhooks come back.
    Delivery,
    /// No dispatcher: acceptance alone.
    AcceptOnly,
}

impl Phase {
    pub fn dispatcher(self) -> bool {
        self == Self::Delivery
    }

    pub fn name(self) -> &'static str {
        match self {
            Self::Delivery => "with delivery",
            Self::AcceptOnly => "accept only",
        }
    }
}

/// The trivial route's load.
#[derive(Debug)]
pub struct Trivial {
    pub load: Load,
    pub secs: f64,
}

impl Trivial {
    pub fn per_sec(&self) -> f64 {
        self.load.ok as f64 / self.secs.max(1e-9)
    }
}

/// One send phase.
#[derive(Debug)]
pub struct Measured {
    pub phase: Phase,
    pub load: Load,
    /// From the first request to the last answer.
    pub during_load: Span,
    /// From the first request to the phase's end: every message delivered, or the load's end.
    pub whole: Span,
    /// How the wait for delivery ended (the delivery phase).
    pub drained: Option<Drained>,
    /// From the first request until the server stopped.
    pub rows: RowWrites,
    pub peak_rss_mb: Option<f64>,
}

impl Measured {
    /// Messages accepted (202); in the delivery phase, also those delivered.
    pub fn messages(&self) -> u64 {
        self.load.ok
    }

    fn per_message(&self, amount: f64) -> f64 {
        amount / self.messages().max(1) as f64
    }

    pub fn accepted_per_sec(&self) -> f64 {
        self.messages() as f64 / self.during_load.secs.max(1e-9)
    }

    /// Messages delivered per second, first request to last delivery, when all were.
    pub fn delivered_per_sec(&self) -> Option<f64> {
        let drained = self.drained?;
        (drained.complete && !drained.any_failed)
            .then(|| self.messages() as f64 / self.whole.secs.max(1e-9))
    }

    /// Server CPU per message (delivered, or accepted without the dispatcher), µs.
    pub fn server_us(&self) -> f64 {
        self.per_message(1e6 * self.whole.server.cpu_secs)
    }

    /// The same while the load ran.
    pub fn server_us_during_load(&self) -> f64 {
        self.per_message(1e6 * self.during_load.server.cpu_secs)
    }

    pub fn sandbox_us(&self) -> f64 {
        self.per_message(1e6 * self.whole.sandbox.cpu_secs)
    }

    pub fn load_generator_us_per_request(&self) -> f64 {
        let requests = (self.load.ok + self.load.errors).max(1) as f64;
        1e6 * self.during_load.own_cpu_secs / requests
    }

    pub fn rows_per_message(&self) -> f64 {
        self.per_message(self.rows.total as f64)
    }

    pub fn server_kb_written(&self) -> f64 {
        self.per_message(self.whole.server.written_bytes as f64 / 1024.0)
    }

    pub fn sandbox_kb_written(&self) -> f64 {
        self.per_message(self.whole.sandbox.written_bytes as f64 / 1024.0)
    }

    pub fn wal_kb(&self) -> Option<f64> {
        Some(self.per_message(self.rows.wal_bytes? as f64 / 1024.0))
    }

    /// What "per message" means in this phase.
    pub fn unit(&self) -> &'static str {
        match self.phase {
            Phase::Delivery => "delivered message",
            Phase::AcceptOnly => "accepted message",
        }
    }
}

/// Everything one run measured.
#[derive(Debug)]
pub struct Results {
    pub trivial: Trivial,
    pub delivery: Option<Measured>,
    pub accept_only: Measured,
}

impl Results {
    /// `--accept-only` accepted/s over the trivial route's requests/s.
    pub fn accept_only_of_trivial(&self) -> f64 {
        self.accept_only.accepted_per_sec() / self.trivial.per_sec().max(1e-9)
    }

    /// Accepted/s with delivery over accepted/s without.
    pub fn delivery_of_accept_only(&self) -> Option<f64> {
        let delivery = self.delivery.as_ref()?;
        Some(delivery.accepted_per_sec() / self.accept_only.accepted_per_sec().max(1e-9))
    }

    /// Delivered/s over accepted/s, with delivery.
    pub fn delivered_of_accepted(&self) -> Option<f64> {
        let delivery = self.delivery.as_ref()?;
        Some(delivery.delivered_per_sec()? / delivery.accepted_per_sec().max(1e-9))
    }
}
