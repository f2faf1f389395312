//! Webhooks to the business: endpoints, events written in the transaction of the change that
//! causes them, and their durable deliveries with a log of every attempt.

use async_trait::async_trait;
use chasqui_domain::MessageStatus;
use chasqui_domain::{ChannelId, WorkspaceId};
use serde_json::json;

use crate::{Contact, InboundRecord, MessageRecord, Millis, Result};

/// Every event type an endpoint can subscribe to.
pub const EVENT_TYPES: [&str; 10] = [
    "message.queued",
    "message.sent",
    "message.delivered",
    "message.read",
    "message.failed",
    "message.received",
    "contact.updated",
    "contact.marketing_opt_out",
    "contact.marketing_opt_in",
    "template.updated",
];

/// A business webhook endpoint as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct WebhookEndpoint {
    /// `wh_...`.
    pub id: String,
    /// Owning workspace.
    pub workspace_id: WorkspaceId,
    /// Where events are POSTed.
    pub url: String,
    /// `*` or a JSON array of event types.
    pub events: String,
    /// The signing secret, sealed by the application (opaque to the store).
    pub secret: String,
    /// A recognisable, harmless part of the secret (`whsec_…abcd`).
    pub secret_hint: String,
    /// Whether events are delivered to it.
    pub enabled: bool,
    /// Creation time.
    pub created_at: Millis,
    /// Last change.
    pub updated_at: Millis,
}

/// Changes to an endpoint; `None` keeps a field.
#[derive(Debug, Clone, Default)]
pub struct WebhookEndpointPatch {
    /// New URL.
    pub url: Option<String>,
    /// New event filter (`*` or a JSON array).
    pub events: Option<String>,
    /// Enable or disable.
    pub enabled: Option<bool>,
}

/// A delivery due now, claimed by a worker, with what it needs to send it.
#[derive(Debug, Clone)]
pub struct DueDelivery {
    /// The endpoint.
    pub endpoint_id: String,
    /// The event (its id is the `webhook-id`, stable across retries).
    pub event_id: String,
    /// The endpoint's URL.
    pub url: String,
    /// The endpoint's sealed secret.
    pub secret: String,
    /// The event type.
    pub event_type: String,
    /// The event's `data` (JSON text).
    pub data: String,
    /// The event's creation time.
    pub event_created_at: Millis,
    /// Attempts made before this one.
    pub attempts: i64,
    /// When this delivery was queued (the retry window counts from here).
    pub queued_at: Millis,
}

/// What came of one attempt, decided by the worker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttemptOutcome {
    /// The endpoint answered 2xx.
    Delivered,
    /// Try again at this time.
    Retry {
        /// When.
        next_attempt_at: Millis,
    },
    /// Retries are exhausted.
    Dead,
}

/// One attempt to record.
#[derive(Debug, Clone)]
pub struct AttemptRecord {
    /// The endpoint.
    pub endpoint_id: String,
    /// The event.
    pub event_id: String,
    /// The worker holding the lease.
    pub owner: String,
    /// When the request started.
    pub at: Millis,
    /// The HTTP status, if any answer came.
    pub status: Option<i64>,
    /// How long the attempt took.
    pub latency_ms: i64,
    /// Why it failed, without secrets.
    pub error: Option<String>,
    /// What follows.
    pub outcome: AttemptOutcome,
}

/// One line of an endpoint's delivery log.
#[derive(Debug, Clone, PartialEq)]
pub struct AttemptLog {
    /// 1 for the first attempt.
    pub attempt: i64,
    /// When it started.
    pub at: Millis,
    /// The HTTP status, if any answer came.
    pub status: Option<i64>,
    /// How long it took.
    pub latency_ms: i64,
    /// Why it failed.
    pub error: Option<String>,
}

/// A delivery of one event to one endpoint, with its attempts.
#[derive(Debug, Clone, PartialEq)]
pub struct DeliveryRecord {
    /// The event.
    pub event_id: String,
    /// The event type.
    pub event_type: String,
    /// `pending`, `delivered` or `dead`.
    pub state: String,
    /// Attempts so far.
    pub attempts: i64,
    /// When the next attempt is due (pending only).
    pub next_attempt_at: Millis,
    /// The last HTTP status.
    pub last_status: Option<i64>,
    /// The last attempt's latency.
    pub last_latency_ms: Option<i64>,
    /// The last error.
    pub last_error: Option<String>,
    /// When it was delivered.
    pub delivered_at: Option<Millis>,
    /// Every attempt, oldest first.
    pub log: Vec<AttemptLog>,
}

/// Which events a replay queues again for an endpoint.
#[derive(Debug, Clone)]
pub enum ReplaySelection {
    /// One event by id.
    Event(String),
    /// Every event of the workspace created at or after this time that the endpoint's filter
    /// matches.
    Since(Millis),
}

/// An event to write with the change that causes it (fanned out only to matching endpoints).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct WebhookEvent {
    pub id: String,
    pub workspace_id: WorkspaceId,
    pub kind: &'static str,
    pub data: String,
    pub at: Millis,
    /// What the event is about, when its order matters: the events of one subject reach each
    /// endpoint in id order, each only once the earlier ones are delivered (or dead). The
    /// message's id for `message.*` status events: the business hears `delivered` before `read`
    /// even when they were written together or the first attempt failed.
    pub subject: Option<String>,
}

impl WebhookEvent {
    /// A new event with a fresh time-ordered id.
    pub(crate) fn new(
        workspace_id: &WorkspaceId,
        kind: &'static str,
        data: String,
        at: Millis,
    ) -> Self {
        Self {
            id: crate::new_id("evt_"),
            workspace_id: workspace_id.clone(),
            kind,
            data,
            at,
            subject: None,
        }
    }

    /// The event of a message's status change to `status`, if the business hears of it.
    pub(crate) fn message(m: &MessageRecord, at: Millis) -> Option<Self> {
        let kind = match m.status {
            MessageStatus::Queued => "message.queued",
            MessageStatus::Sent => "message.sent",
            MessageStatus::Delivered => "message.delivered",
            MessageStatus::Read => "message.read",
            MessageStatus::Failed => "message.failed",
            MessageStatus::Sending => return None,
        };
        let data = MessageEventData {
            channel: &m.channel_id,
            error: m.error.as_ref(),
            id: &m.id,
            kind: &m.kind,
            status: m.status.as_str(),
            to: &m.recipient,
            wamid: m.wamid.as_deref(),
        };
        // Serializing these few fields cannot fail.
        let data = serde_json::to_string(&data).unwrap_or_default();
        let mut event = Self::new(&m.workspace_id, kind, data, at);
        event.subject = Some(m.id.to_string());
        Some(event)
    }
}

/// The `data` of a `message.*` event; fields in alphabetical order, as the JSON always had them.
#[derive(serde::Serialize)]
struct MessageEventData<'a> {
    channel: &'a str,
    error: Option<&'a chasqui_domain::MetaError>,
    id: &'a str,
    kind: &'a str,
    status: &'a str,
    to: &'a str,
    wamid: Option<&'a str>,
}

impl WebhookEvent {
    /// `message.received` for a newly stored inbound message.
    pub(crate) fn inbound(
        m: &InboundRecord,
        contact_id: &str,
        conversation_id: &str,
        at: Millis,
    ) -> Self {
        let content: serde_json::Value =
            serde_json::from_str(&m.content).unwrap_or(serde_json::Value::Null);
        let data = json!({
            "id": m.id,
            "wamid": m.meta_id,
            "channel": m.channel_id,
            "from": m.from.wa_id,
            "from_user_id": m.from.user_id,
            "name": m.from.name,
            "contact_id": contact_id,
            "conversation_id": conversation_id,
            "kind": m.kind,
            "content": content,
            "context_id": m.context_id,
            "sent_at": m.sent_at,
        });
        Self::new(&m.workspace_id, "message.received", data.to_string(), at)
    }

    /// `contact.updated` with the contact as it now is.
    pub(crate) fn contact(c: &Contact, at: Millis) -> Self {
        let data = json!({
            "id": c.id,
            "wa_id": c.wa_id,
            "user_id": c.user_id,
            "phone": c.phone,
            "name": c.name,
            "profile_name": c.profile_name,
            "email": c.email,
            "tags": c.tags,
            "custom_fields": c.custom_fields,
            "opted_out": c.opted_out,
            "marketing_opted_out": c.marketing.opted_out,
            "updated_at": c.updated_at,
        });
        Self::new(&c.workspace_id, "contact.updated", data.to_string(), at)
    }
}

/// The columns a changed template is read back with (`RETURNING`), in this order.
pub(crate) const TEMPLATE_EVENT_COLUMNS: &str =
    "workspace_id, channel_id, meta_id, name, language, category, status, quality, rejected_reason";

/// A changed template as `TEMPLATE_EVENT_COLUMNS` reads it.
#[derive(Debug, Clone)]
pub(crate) struct TemplateChange {
    pub workspace_id: WorkspaceId,
    pub channel_id: ChannelId,
    pub meta_id: Option<String>,
    pub name: String,
    pub language: String,
    pub category: String,
    pub status: String,
    pub quality: Option<String>,
    pub rejected_reason: Option<String>,
}

impl WebhookEvent {
    /// `template.updated` with the template's registry state after a provider's webhook.
    pub(crate) fn template(t: &TemplateChange, at: Millis) -> Self {
        let data = json!({
            "id": t.meta_id,
            "channel": t.channel_id,
            "name": t.name,
            "language": t.language,
            "category": t.category,
            "status": t.status,
            "quality": t.quality,
            "rejected_reason": t.rejected_reason,
        });
        Self::new(&t.workspace_id, "template.updated", data.to_string(), at)
    }
}

/// Condition (SQL) that endpoint `p` wants events of the type in `$type` (a placeholder).
pub(crate) fn matches_sql(ty: &str) -> String {
    format!("p.enabled AND (p.events = '*' OR p.events LIKE '%\"' || {ty} || '\"%')")
}

/// Condition (SQL, both back ends) that delivery `d` of event `e` may be claimed as far as order
/// goes: no earlier event of the same subject is still pending for the same endpoint. Nested so
/// that it reads `webhook_events_subject` (a subject has a handful of events) and then one
/// delivery by primary key each, never the endpoint's whole delivery history.
pub(crate) const IN_ORDER_SQL: &str = "NOT EXISTS (SELECT 1 FROM webhook_events e2 \
     WHERE e2.subject = e.subject AND e2.id < e.id AND EXISTS (SELECT 1 FROM webhook_deliveries d2 \
     WHERE d2.endpoint_id = d.endpoint_id AND d2.event_id = e2.id AND d2.state = 'pending'))";

/// Business webhook endpoints, events and deliveries.
#[async_trait]
pub trait BusinessWebhookStore: Send + Sync {
    /// Stores a new endpoint.
    async fn create_webhook_endpoint(&self, endpoint: &WebhookEndpoint) -> Result<()>;
    /// A workspace's endpoints, oldest first.
    async fn list_webhook_endpoints(
        &self,
        workspace_id: &WorkspaceId,
    ) -> Result<Vec<WebhookEndpoint>>;
    /// One endpoint of a workspace.
    async fn get_webhook_endpoint(
        &self,
        workspace_id: &WorkspaceId,
        id: &str,
    ) -> Result<Option<WebhookEndpoint>>;
    /// Changes an endpoint; `None` when it does not exist.
    async fn update_webhook_endpoint(
        &self,
        workspace_id: &WorkspaceId,
        id: &str,
        patch: &WebhookEndpointPatch,
        now: Millis,
    ) -> Result<Option<WebhookEndpoint>>;
    /// Deletes an endpoint with its deliveries and log; answers whether it existed.
    async fn delete_webhook_endpoint(&self, workspace_id: &WorkspaceId, id: &str) -> Result<bool>;
    /// Claims up to `limit` due deliveries (oldest due first) for `owner` until `now + lease_ms`,
    /// skipping the endpoints in `skip` (those already busy in this worker).
    async fn claim_webhook_deliveries(
        &self,
        owner: &str,
        now: Millis,
        lease_ms: i64,
        limit: i64,
        skip: &[String],
    ) -> Result<Vec<DueDelivery>>;
    /// Gives back claimed deliveries untried (`(endpoint_id, event_id)` pairs).
    async fn release_webhook_deliveries(
        &self,
        owner: &str,
        keys: &[(String, String)],
    ) -> Result<()>;
    /// Records an attempt in the log and moves its delivery on (only while `owner` holds it).
    async fn record_webhook_attempt(&self, attempt: &AttemptRecord) -> Result<()>;
    /// An endpoint's deliveries, newest event first, with their attempts; `None` when the
    /// endpoint does not exist.
    async fn list_webhook_deliveries(
        &self,
        workspace_id: &WorkspaceId,
        endpoint_id: &str,
        limit: i64,
    ) -> Result<Option<Vec<DeliveryRecord>>>;
    /// Queues events again for an endpoint (same event ids); answers how many, or `None` when the
    /// endpoint does not exist.
    async fn replay_webhook_events(
        &self,
        workspace_id: &WorkspaceId,
        endpoint_id: &str,
        selection: &ReplaySelection,
        now: Millis,
    ) -> Result<Option<u64>>;
}

mod store;
pub(crate) use store::{emit, listeners, listens};
