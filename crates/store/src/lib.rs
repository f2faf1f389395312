//! Chasqui's persistence: one `Store` trait with an SQLite back end (the embedded default) and a
//! PostgreSQL back end (several instances sharing one database). Both pass the same tests.
//!
//! Time is unix milliseconds (`Millis`) everywhere, so both back ends store plain integers.

use chasqui_domain::ChannelId;
mod batch;
mod business_webhooks;
mod conversations;
mod counters;
mod dialect_ids;
mod error;
mod gauges;
mod listing;
mod media;
mod messages;
mod model;
mod plan;
mod postgres;
mod quotas;
mod sql;
mod sqlite;
mod templates;
mod tenancy;
mod users;

use async_trait::async_trait;

pub use business_webhooks::{
    AttemptLog, AttemptOutcome, AttemptRecord, BusinessWebhookStore, DeliveryRecord, DueDelivery,
    ReplaySelection, WebhookEndpoint, WebhookEndpointPatch, EVENT_TYPES,
};
pub use conversations::*;
pub use counters::WriteCounters;
pub use dialect_ids::{DialectIdStore, NewContact};
pub use error::StoreError;
pub use gauges::{ChannelQueue, GaugeStore, QueueGauges};
pub use media::{MediaOutcome, MediaRecord, MediaStore, NewMedia};
pub use messages::{MessageStore, RecentOutcome};
pub use model::*;
pub use postgres::PgStore;
pub use quotas::{
    ChargeOutcome, Counter, InflightOutcome, QuotaStore, RecipientOutcome, MESSAGING_WINDOW_MS,
};
#[cfg(any(test, feature = "fault-injection"))]
pub use sqlite::fault_injection;
pub use sqlite::SqliteStore;
pub use templates::{StoredTemplate, TemplateEventReport, TemplateFilter, TemplateStore};
pub use tenancy::{TenancyStore, TOUCH_INTERVAL_MS};
pub use users::{
    normalize_username, NewSession, NewUser, ThrottlePolicy, User, UserPatch, UserSession,
    UserStore,
};

/// Result of every store call.
pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// Unix time in milliseconds.
pub type Millis = i64;

/// Everything Chasqui persists.
#[async_trait]
pub trait Store:
    TenancyStore
    + ConversationStore
    + ContactImportStore
    + TemplateStore
    + BusinessWebhookStore
    + MediaStore
    + QuotaStore
    + DialectIdStore
    + UserStore
    + MessageStore
    + WriteCounters
    + GaugeStore
    + Send
    + Sync
    + 'static
{
    /// Applies pending migrations.
    async fn migrate(&self) -> Result<()>;
    /// Answers when the database does (for `/readyz`).
    async fn ping(&self) -> Result<()>;
    /// Why the store stopped accepting writes, if it did (for `/readyz`): on SQLite after a
    /// failed fsync, until the process is restarted. `None` while writes work.
    fn writes_stopped(&self) -> Option<String> {
        None
    }

    /// Commits a new message, its `queued` event, its outbox row and (when given) its idempotency
    /// key, in one transaction. Answers only after the commit is durable.
    async fn accept_message(&self, msg: NewMessage) -> Result<AcceptOutcome>;
    /// Commits several messages of one request together: either every one is created, or
    /// nothing is written and the answer holds each message whose idempotency key was used
    /// before (replayed, or a conflict).
    async fn accept_messages(&self, msgs: Vec<NewMessage>) -> Result<Vec<AcceptOutcome>>;
    /// Claims up to `limit` due messages of a channel, each the oldest unfinished one of its
    /// recipient (per-recipient order), leasing them to `owner` and marking them `sending`.
    /// Leases that expired (a crashed worker) become unknown outcomes first.
    async fn claim(&self, req: &ClaimRequest) -> Result<Vec<Claimed>>;
    /// Records what came of sending (or deferring) claimed messages, in one transaction.
    async fn record_outcomes(&self, owner: &str, outcomes: Vec<OutcomeRecord>) -> Result<()>;
    /// Applies Meta status webhooks: each status exactly once (duplicates only ignored),
    /// monotonically; `channels` maps `phone_number_id` → channel id of the channels the webhook
    /// was verified for, and statuses for anything else are ignored.
    async fn apply_statuses(
        &self,
        channels: &[(String, ChannelId)],
        updates: Vec<chasqui_domain::webhook::StatusUpdate>,
        now: Millis,
    ) -> Result<ApplyReport>;
}

/// A new time-ordered id with `prefix` (`ct_`, `cv_`...), for rows the store creates itself.
pub(crate) fn new_id(prefix: &str) -> String {
    format!("{prefix}{}", uuid::Uuid::now_v7().simple())
}

/// Opens the store named by a database URL: `sqlite://PATH` (created if missing) or `postgres://...`.
pub async fn open(url: &str) -> Result<std::sync::Arc<dyn Store>> {
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        Ok(std::sync::Arc::new(PgStore::connect(url).await?))
    } else if let Some(path) = url.strip_prefix("sqlite://") {
        Ok(std::sync::Arc::new(SqliteStore::open(path)?))
    } else if let Some(path) = url.strip_prefix("sqlite:") {
        Ok(std::sync::Arc::new(SqliteStore::open(path)?))
    } else {
        Err(StoreError::Config(format!(
            "unsupported database URL {url:?}: use sqlite://PATH or postgres://..."
        )))
    }
}
