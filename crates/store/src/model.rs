//! What the store reads and writes.

use chasqui_domain::pricing::{Pricing, PricingCategory, PricingType};
use chasqui_domain::window::WindowPolicy;
use chasqui_domain::{
    ChannelId, MessageId, MessageStatus, MetaError, ProviderKind, ScopeSet, WorkspaceId,
};
use serde::Serialize;

use crate::Millis;

/// A tenant: one business.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Workspace {
    /// Stable id.
    pub id: WorkspaceId,
    /// Display name.
    pub name: String,
    /// When it was disabled: its keys and users stop working, its channels stop sending (their
    /// queues wait).
    pub disabled_at: Option<Millis>,
    /// Messages per day for the whole workspace (`None`: unlimited).
    pub daily_quota: Option<i64>,
    /// IANA time zone whose midnight resets the daily quotas (`None`: the configured default).
    pub timezone: Option<String>,
    /// Its stop and resume keywords (`None`: the defaults).
    pub marketing_keywords: Option<chasqui_domain::consent::MarketingKeywords>,
    /// When it was created.
    pub created_at: Millis,
}

/// The limits of one API key (`None`: unlimited).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub struct KeyLimits {
    /// Messages per day.
    pub daily_quota: Option<i64>,
    /// Requests in flight at once.
    pub max_concurrent: Option<i64>,
    /// Requests per minute.
    pub rate_per_minute: Option<i64>,
}

/// An API key to store: only its SHA-256 hash and a display prefix, never the key itself.
#[derive(Debug, Clone)]
pub struct NewApiKey {
    /// Stable id.
    pub id: String,
    /// Owning workspace.
    pub workspace_id: WorkspaceId,
    /// Operator's label.
    pub name: String,
    /// The first characters of the key, to recognise it in listings.
    pub prefix: String,
    /// Lower-case hex SHA-256 of the whole key.
    pub hash: String,
    /// What it may do.
    pub scopes: ScopeSet,
    /// When it stops working, if ever.
    pub expires_at: Option<Millis>,
    /// Its limits.
    pub limits: KeyLimits,
}

/// An API key as stored (never the key itself).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiKey {
    /// Stable id (scopes idempotency keys).
    pub id: String,
    /// Owning workspace.
    pub workspace_id: WorkspaceId,
    /// Operator's label.
    pub name: String,
    /// Display prefix.
    pub prefix: String,
    /// What it may do.
    pub scopes: ScopeSet,
    /// When it stops working, if ever.
    pub expires_at: Option<Millis>,
    /// When it was revoked.
    pub revoked_at: Option<Millis>,
    /// Roughly when it was last used (written at most once a minute).
    pub last_used_at: Option<Millis>,
    /// Its limits.
    pub limits: KeyLimits,
    /// When it was created.
    pub created_at: Millis,
}

/// A WhatsApp sender number and how to reach its provider. Secret fields hold ciphertext
/// produced by the caller; the store never sees them in clear.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Channel {
    /// Stable id.
    pub id: ChannelId,
    /// Owning workspace.
    pub workspace_id: WorkspaceId,
    /// Operator's label.
    pub name: String,
    /// The API its messages go out through.
    pub provider: ProviderKind,
    /// Meta's phone number id (what webhooks name in `metadata.phone_number_id`).
    pub phone_number_id: String,
    /// The sender number, digits.
    pub display_phone_number: String,
    /// WhatsApp Business Account id, when known.
    pub waba_id: Option<String>,
    /// Provider base URL override.
    pub base_url: Option<String>,
    /// Graph API version, e.g. `v23.0`.
    pub api_version: String,
    /// Encrypted provider access token (or 360dialog API key).
    pub access_token: Option<String>,
    /// Encrypted Meta app secret that signs this channel's webhooks.
    pub app_secret: Option<String>,
    /// Encrypted webhook verify token.
    pub verify_token: Option<String>,
    /// Messages per second the channel may send (Meta: 80 by default, up to 1,000; 0 = unpaced).
    pub rate_per_sec: i64,
    /// Minimum spacing between messages to one recipient, after the burst (0 = none).
    pub pair_interval_ms: i64,
    /// Messages to one recipient allowed back to back before spacing applies.
    pub pair_burst: i64,
    /// Whether this is the workspace's default channel.
    pub is_default: bool,
    /// Free-form sends outside the 24-hour window: refused, warned about, or not checked.
    pub window_policy: WindowPolicy,
    /// Whether it sends; a disabled channel keeps its queue until enabled again.
    pub enabled: bool,
    /// Meta's messaging limit: unique business-initiated recipients per rolling 24 h (`None`: unlimited).
    pub messaging_limit: Option<i64>,
    /// Stable integer number, unique in the database, given by the store when the channel is
    /// first stored (what integer-id vendor dialects call `channelId`); ignored on writes.
    pub num: i64,
    /// Marks every inbound message read at the provider as soon as it is recorded.
    pub auto_read: bool,
    /// The `connector_id` Wolkvox gave this number, which its customers' code sends.
    pub wolkvox_connector_id: Option<String>,
    /// The `channelId` respond.io gave this number (an integer), likewise.
    pub respond_channel_id: Option<String>,
    /// The template a free-form text goes as when the window is closed; `None`: refused.
    pub window_fallback: Option<chasqui_domain::window_fallback::WindowFallback>,
    /// Sends MARKETING templates through Meta's Marketing Messages API.
    pub marketing_messages: bool,
}

/// The idempotency key a request came with.
#[derive(Debug, Clone)]
pub struct IdempotencyClaim {
    /// Keys are scoped per API key.
    pub api_key_id: String,
    /// The `Idempotency-Key` header.
    pub key: String,
    /// SHA-256 of the request body, to tell a replay from a conflicting reuse.
    pub request_hash: String,
}

/// A validated message to commit.
#[derive(Debug, Clone)]
pub struct NewMessage {
    /// Chasqui's id (`msg_...`).
    pub id: MessageId,
    /// Owning workspace.
    pub workspace_id: WorkspaceId,
    /// Sending channel.
    pub channel_id: ChannelId,
    /// Recipient digits.
    pub recipient: String,
    /// Message type (`text`, `template`, ...).
    pub kind: String,
    /// The normalised Meta body (JSON text).
    pub body: String,
    /// Acceptance time.
    pub created_at: Millis,
    /// The request's idempotency key, if any.
    pub idempotency: Option<IdempotencyClaim>,
    /// For template sends: the text the person receives, placeholders filled.
    pub rendered: Option<String>,
    /// The message as a vendor dialect's client sent it (JSON text), kept for its answers.
    pub client_message: Option<String>,
    /// Accept the message already failed with this error: it is stored (it gets an id and a
    /// timeline) but never sent. For vendor APIs that report some refusals on the message
    /// instead of on the request.
    pub failed: Option<MetaError>,
}

impl NewMessage {
    /// Records, inside the accepting transaction, what a new message carries beyond the queued
    /// row: the client's message and an immediate failure. Returns the failure's event.
    pub(crate) fn failure_event(&self) -> Option<crate::plan::NewEvent> {
        self.failed.as_ref().map(|e| {
            let mut ev = crate::plan::NewEvent::new("failed", self.created_at, "api");
            ev.error = Some(e.clone());
            ev.detail = Some("refused before sending; never sent".into());
            ev
        })
    }
}

impl MessageRecord {
    /// The record of a message just accepted as `seq`.
    pub fn queued(m: NewMessage, seq: i64) -> Self {
        Self {
            id: m.id,
            seq,
            workspace_id: m.workspace_id,
            channel_id: m.channel_id,
            recipient: m.recipient,
            kind: m.kind,
            body: m.body,
            status: MessageStatus::Queued,
            wamid: None,
            error: None,
            attempts: 0,
            created_at: m.created_at,
            updated_at: m.created_at,
            pricing: None,
        }
    }

    /// The record of a message accepted as `seq`: queued, or already failed when it was
    /// accepted with `failed`.
    pub fn accepted(m: NewMessage, seq: i64) -> Self {
        let failed = m.failed.clone();
        let mut r = Self::queued(m, seq);
        if let Some(e) = failed {
            r.status = MessageStatus::Failed;
            r.error = Some(e);
        }
        r
    }
}

/// What `accept_message` did.
#[derive(Debug, Clone)]
pub enum AcceptOutcome {
    /// Committed a new message.
    Created(MessageRecord),
    /// The idempotency key was used before with the same body: the first message.
    Replayed(MessageRecord),
    /// The idempotency key was used before with a different body.
    Conflict {
        /// The message the key belongs to.
        message_id: MessageId,
    },
}

/// A message's current state.
#[derive(Debug, Clone, PartialEq)]
pub struct MessageRecord {
    /// Chasqui's id.
    pub id: MessageId,
    /// Insertion order, for cursors.
    pub seq: i64,
    /// Owning workspace.
    pub workspace_id: WorkspaceId,
    /// Sending channel.
    pub channel_id: ChannelId,
    /// Recipient digits.
    pub recipient: String,
    /// Message type.
    pub kind: String,
    /// The normalised Meta body (JSON text).
    pub body: String,
    /// Current status.
    pub status: MessageStatus,
    /// Meta's message id, once known.
    pub wamid: Option<String>,
    /// Meta's error, for failed messages.
    pub error: Option<MetaError>,
    /// Provider calls made so far.
    pub attempts: i64,
    /// Acceptance time.
    pub created_at: Millis,
    /// Last change.
    pub updated_at: Millis,
    /// What Meta charges for it, from its latest status webhook that said.
    pub pricing: Option<Pricing>,
}

/// One entry of a message's timeline.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MessageEvent {
    /// `queued`, `sending`, `accepted` (Meta's API answered with the wamid), `sent`,
    /// `delivered`, `read` (Meta's webhooks; a `delivered` may be [implied](Self::implied) by a
    /// `read`), `failed`, or the dispatcher's own `retry` (a retryable failure; another attempt
    /// follows), `unknown` (outcome of a call not known; waiting for a status webhook), `resend`
    /// (no webhook came; sending again).
    pub status: String,
    /// When Chasqui recorded it, in milliseconds on its own clock; entries are kept in the order
    /// they were recorded, which is causal.
    pub at: Millis,
    /// `api`, `dispatcher` or `webhook`.
    pub source: String,
    /// Meta's message id, when the event carries one.
    pub wamid: Option<String>,
    /// Meta's error, for `failed` and `retry`.
    pub error: Option<MetaError>,
    /// A short explanation (retry time, why the outcome is unknown, ...).
    pub detail: Option<String>,
    /// For webhook statuses: Meta's `timestamp` (unix seconds) and its `conversation` and
    /// `pricing` objects; for an implied entry, `{"implied": true}`.
    pub data: Option<serde_json::Value>,
}

impl MessageEvent {
    /// Whether Chasqui inferred this entry instead of being told: a `delivered` recorded
    /// because Meta reported `read` first (read implies delivered). Meta's own `delivered`, if it
    /// comes later, is a separate entry that changes nothing.
    pub fn implied(&self) -> bool {
        self.data
            .as_ref()
            .and_then(|d| d.get("implied"))
            .and_then(serde_json::Value::as_bool)
            .unwrap_or(false)
    }
}

impl MessageDetail {
    /// A message and its stored events, the timeline starting with the `queued` entry that the
    /// message row itself records (it is not stored twice).
    pub fn new(message: MessageRecord, stored: Vec<MessageEvent>) -> Self {
        let mut events = Vec::with_capacity(stored.len() + 1);
        events.push(MessageEvent {
            status: "queued".into(),
            at: message.created_at,
            source: "api".into(),
            wamid: None,
            error: None,
            detail: None,
            data: None,
        });
        events.extend(stored);
        Self {
            message,
            events,
            rendered: None,
        }
    }
}

/// A message with its whole timeline.
#[derive(Debug, Clone, PartialEq)]
pub struct MessageDetail {
    /// The message.
    pub message: MessageRecord,
    /// Its events, oldest first.
    pub events: Vec<MessageEvent>,
    /// For template sends: the text the person received, placeholders filled.
    pub rendered: Option<String>,
}

/// Filters and cursor for listing messages.
#[derive(Debug, Clone, Default)]
pub struct MessageFilter {
    /// Only this recipient (digits).
    pub recipient: Option<String>,
    /// Only this status.
    pub status: Option<MessageStatus>,
    /// Accepted at or after.
    pub created_from: Option<Millis>,
    /// Accepted before.
    pub created_to: Option<Millis>,
    /// Only messages Meta priced in this category.
    pub pricing_category: Option<PricingCategory>,
    /// Only messages of this pricing type.
    pub pricing_type: Option<PricingType>,
    /// Cursor: only messages with `seq` below this.
    pub before_seq: Option<i64>,
    /// Page size.
    pub limit: i64,
}

/// A request to claim due work of one channel.
#[derive(Debug, Clone)]
pub struct ClaimRequest {
    /// The claiming worker.
    pub owner: String,
    /// The channel.
    pub channel_id: ChannelId,
    /// Current time.
    pub now: Millis,
    /// At most this many.
    pub limit: i64,
    /// How long the claim holds if the worker goes silent.
    pub lease_ms: i64,
    /// How long an expired lease's message waits for a status webhook before being resolved.
    pub reconcile_ms: i64,
}

/// A message claimed for sending.
#[derive(Debug, Clone, PartialEq)]
pub struct Claimed {
    /// Chasqui's id.
    pub message_id: MessageId,
    /// Recipient digits.
    pub recipient: String,
    /// The normalised Meta body (JSON text).
    pub body: String,
    /// Provider calls made before this one.
    pub attempts: i64,
    /// Acceptance time (retry deadlines count from it).
    pub created_at: Millis,
}

/// What came of handling a claimed message.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// The provider accepted it.
    Sent {
        /// Meta's message id.
        wamid: String,
        /// When.
        at: Millis,
    },
    /// A retryable failure; try again at `next_attempt_at`.
    Retry {
        /// When it failed.
        at: Millis,
        /// When to try again.
        next_attempt_at: Millis,
        /// The error.
        error: MetaError,
    },
    /// A permanent failure.
    Failed {
        /// When.
        at: Millis,
        /// The error.
        error: MetaError,
    },
    /// The call's outcome is unknown: wait for a status webhook until `reconcile_by`.
    Unknown {
        /// When.
        at: Millis,
        /// Why.
        reason: String,
        /// When to stop waiting.
        reconcile_by: Millis,
    },
    /// Not attempted (pacing): back in the queue, due at `until`.
    Defer {
        /// When it may go.
        until: Millis,
    },
    /// An unknown outcome's wait ended with no webhook: send again (the configured policy).
    Resend {
        /// When.
        at: Millis,
    },
}

/// One outcome to record.
#[derive(Debug, Clone, PartialEq)]
pub struct OutcomeRecord {
    /// The message.
    pub message_id: MessageId,
    /// When the provider call began (the timeline's `sending` entry); `None` when none was made.
    pub started_at: Option<Millis>,
    /// What came of it.
    pub outcome: Outcome,
}

/// What `apply_statuses` did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ApplyReport {
    /// Statuses recorded for the first time.
    pub applied: usize,
    /// Statuses seen before (ignored).
    pub duplicates: usize,
    /// Statuses naming no message of the verified channels.
    pub unmatched: usize,
    /// Meta's first `sent` of a message, and each later status a message moved to (an implied
    /// `delivered` included), for the metrics.
    #[serde(skip)]
    pub changes: Vec<StatusChange>,
}

/// A message moving forward to a status, as `apply_statuses` committed it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusChange {
    /// The message's workspace.
    pub workspace_id: WorkspaceId,
    /// The message's channel.
    pub channel_id: ChannelId,
    /// The status it moved to.
    pub status: chasqui_domain::MessageStatus,
    /// Meta's error code, for `failed`.
    pub error_code: Option<i64>,
    /// When the message was accepted.
    pub created_at: Millis,
}
