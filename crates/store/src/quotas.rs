//! Quotas and limits kept in the database, so they hold across restarts and across instances
//! sharing it: counters per subject and period (daily quotas, per-minute request windows),
//! requests in flight (the concurrency limit) and the distinct recipients of a channel's
//! business-initiated messages (Meta's messaging limit).
//!
//! Every check is an atomic check-and-count: two instances on one PostgreSQL database cannot both
//! take the last unit.

use async_trait::async_trait;

use crate::{Millis, Result};

/// How long a recipient holds a slot of a channel's messaging limit: Meta counts unique
/// business-initiated recipients per rolling 24 hours.
pub const MESSAGING_WINDOW_MS: Millis = chasqui_domain::quota::MESSAGING_WINDOW_MS;

/// One counter to charge: `subject` (`key:<id>`, `ws:<id>`, `rate:<id>`) in `period` (a local
/// date, a window start) may reach `limit`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Counter {
    /// Who is counted.
    pub subject: String,
    /// Which period of theirs (the counter starts at zero in every new period).
    pub period: String,
    /// Most units the period may count.
    pub limit: i64,
    /// When the period ends (the row may be pruned after it).
    pub expires_at: Millis,
}

/// What came of charging counters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChargeOutcome {
    /// Every counter was charged; their counts afterwards, in the order given.
    Charged(Vec<i64>),
    /// Nothing was charged: the counter at `index` (in the order given) would pass its limit.
    Refused {
        /// Which counter refused.
        index: usize,
        /// Its count now.
        count: i64,
    },
}

/// What came of asking for an in-flight slot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InflightOutcome {
    /// The slot is taken; `in_flight` counts it.
    Acquired {
        /// Requests of the subject in flight, this one included.
        in_flight: i64,
    },
    /// `limit` requests are already in flight; nothing was taken.
    Refused {
        /// Requests of the subject in flight.
        in_flight: i64,
    },
}

/// What came of admitting a recipient against a channel's messaging limit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RecipientOutcome {
    /// The recipient may be messaged. `counted_at` is set when this call took a new slot (so it
    /// can be given back with [`QuotaStore::forget_recipient`]); `None` when the recipient
    /// already held one.
    Admitted {
        /// Distinct recipients counted in the rolling 24 hours, this one included.
        count: i64,
        /// The slot this call took, if any.
        counted_at: Option<Millis>,
    },
    /// `limit` distinct recipients were already counted in the last 24 hours.
    Refused {
        /// Distinct recipients counted in the rolling 24 hours.
        count: i64,
        /// When the oldest slot frees up.
        frees_at: Millis,
    },
}

/// Reads and writes quota counters, in-flight requests and messaging-limit recipients.
#[async_trait]
pub trait QuotaStore: Send + Sync {
    /// Adds `n` to every counter if each stays within its limit; otherwise charges none (one
    /// transaction).
    async fn charge(&self, counters: &[Counter], n: i64) -> Result<ChargeOutcome>;
    /// Gives `n` back to each `(subject, period)` (a charged send that was then refused or was a
    /// replay); never below zero.
    async fn refund(&self, counters: &[(String, String)], n: i64) -> Result<()>;
    /// Current count of `subject` in `period` (0 when nothing was counted).
    async fn counter(&self, subject: &str, period: &str) -> Result<i64>;

    /// Takes an in-flight slot `id` for `subject` if fewer than `limit` unexpired slots are
    /// taken; the slot stops counting at `expires_at` even if never released.
    async fn acquire_inflight(
        &self,
        subject: &str,
        id: &str,
        limit: i64,
        expires_at: Millis,
        now: Millis,
    ) -> Result<InflightOutcome>;
    /// Gives an in-flight slot back.
    async fn release_inflight(&self, id: &str) -> Result<()>;

    /// Admits `recipient` on a channel whose messaging limit is `limit` distinct recipients per
    /// rolling 24 hours: free when already counted in the last 24 hours, else counted if there is
    /// room.
    async fn admit_recipient(
        &self,
        channel_id: &str,
        recipient: &str,
        limit: i64,
        now: Millis,
    ) -> Result<RecipientOutcome>;
    /// Gives back the slot a recipient took at `counted_at` (the send was not accepted after
    /// all); a slot taken again since is kept.
    async fn forget_recipient(
        &self,
        channel_id: &str,
        recipient: &str,
        counted_at: Millis,
    ) -> Result<()>;

    /// Whether `key` was already used as an `Idempotency-Key` by API key `api_key_id` (a retry
    /// of a send already accepted is answered from its first answer, whatever the quotas say).
    async fn idempotency_key_used(&self, api_key_id: &str, key: &str) -> Result<bool>;

    /// Deletes counters, in-flight slots and recipient slots that no longer count; answers how
    /// many rows went.
    async fn prune_quotas(&self, now: Millis) -> Result<u64>;
}
