//! The JSON shapes the native API answers with: one type per resource, documented in the
//! OpenAPI document from the same definitions.

use chasqui_domain::consent::ConsentSource;
use chasqui_domain::pricing::Pricing;
use chasqui_domain::window::window_open_until;
use chasqui_domain::{ChannelId, MessageId, MessageStatus, MetaError};
use chasqui_store::{
    Contact, ContactHistoryEntry, Conversation, ConversationEntry, MessageDetail, MessageEvent,
    MessageRecord,
};
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;

use crate::clock::rfc3339;

/// The answer to an accepted send: the same for the first request and any idempotent replay.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({"id": "msg_0192f3c4a1b27c3d9e8f7a6b5c4d3e2f", "status": "queued",
    "channel": "ch_default", "to": "+5215512345678", "type": "text",
    "created_at": "2026-12-01T15:04:05.123Z"}))]
pub struct Accepted {
    /// Chasqui's message id.
    pub id: MessageId,
    /// Always `queued`: the message is committed and waits for the dispatcher.
    #[schema(example = "queued")]
    pub status: MessageStatus,
    /// The channel that sends it.
    pub channel: ChannelId,
    /// The recipient in E.164.
    #[schema(example = "+5215512345678")]
    pub to: String,
    /// The message type (`text`, `image`, `template`, ...).
    #[serde(rename = "type")]
    #[schema(example = "text")]
    pub kind: String,
    /// When it was accepted (RFC 3339).
    pub created_at: String,
    /// Accepted with a warning (a send outside the window under the `warn` policy).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<chasqui_domain::Problem>,
}

impl From<&MessageRecord> for Accepted {
    fn from(m: &MessageRecord) -> Self {
        Self {
            id: m.id.clone(),
            status: MessageStatus::Queued,
            channel: m.channel_id.clone(),
            to: chasqui_domain::Recipient::display_key(&m.recipient),
            kind: m.kind.clone(),
            created_at: rfc3339(m.created_at),
            warnings: Vec::new(),
        }
    }
}

/// A message's current state.
#[derive(Debug, Serialize, ToSchema)]
pub struct Message {
    /// Chasqui's message id.
    pub id: MessageId,
    /// Where the message is in its life.
    pub status: MessageStatus,
    /// The channel that sends it.
    pub channel: ChannelId,
    /// The recipient in E.164.
    #[schema(example = "+5215512345678")]
    pub to: String,
    /// The message type.
    #[serde(rename = "type")]
    #[schema(example = "text")]
    pub kind: String,
    /// Meta's message id, once Meta accepted it.
    pub wamid: Option<String>,
    /// Meta's error, for a failed message.
    pub error: Option<MetaError>,
    /// Calls made to the provider so far.
    pub attempts: i64,
    /// When it was accepted (RFC 3339).
    pub created_at: String,
    /// Its last change (RFC 3339).
    pub updated_at: String,
    /// What Meta charges for it, from its status webhooks; absent until one says.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pricing: Option<PricingView>,
}

/// What Meta charges for a message, as its status webhooks report it.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({"pricing_model": "PMP", "category": "marketing", "type": "regular",
    "billable": true, "charged": true}))]
pub struct PricingView {
    /// `PMP` (per-message pricing) or `CBP` (the legacy conversation-based model).
    pub pricing_model: String,
    /// `marketing`, `utility`, `authentication`, `authentication_international`, `service`,
    /// `referral_conversion`, `marketing_lite`, or a category Meta added later.
    pub category: String,
    /// `regular` (charged), `free_customer_service` or `free_entry_point`; absent in older
    /// webhook versions.
    #[serde(rename = "type")]
    pub kind: Option<String>,
    /// Meta's `billable` flag, when it sent one.
    pub billable: Option<bool>,
    /// Whether Meta charges for it: from `type`, else `billable`.
    pub charged: Option<bool>,
}

impl From<&Pricing> for PricingView {
    fn from(p: &Pricing) -> Self {
        Self {
            pricing_model: p.model.as_str().to_string(),
            category: p.category.as_str().to_string(),
            kind: p.kind.as_ref().map(|k| k.as_str().to_string()),
            billable: p.billable,
            charged: p.charged(),
        }
    }
}

impl From<&MessageRecord> for Message {
    fn from(m: &MessageRecord) -> Self {
        Self {
            id: m.id.clone(),
            status: m.status,
            channel: m.channel_id.clone(),
            to: chasqui_domain::Recipient::display_key(&m.recipient),
            kind: m.kind.clone(),
            wamid: m.wamid.clone(),
            error: m.error.clone(),
            attempts: m.attempts,
            created_at: rfc3339(m.created_at),
            updated_at: rfc3339(m.updated_at),
            pricing: m.pricing.as_ref().map(PricingView::from),
        }
    }
}

/// A message with its content and whole timeline.
#[derive(Debug, Serialize, ToSchema)]
pub struct MessageWithTimeline {
    /// The message's state.
    #[serde(flatten)]
    pub message: Message,
    /// The message object as accepted (Meta's shape).
    pub content: Value,
    /// A template send's text with its parameters filled in.
    pub rendered_text: Option<String>,
    /// What the client asked for, when it differs from `content`: a vendor dialect's own
    /// message, or the free-form text a window fallback sent as its template.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub requested: Option<Value>,
    /// Every event, in the order recorded.
    pub timeline: Vec<TimelineEntry>,
}

/// One entry of a message's timeline.
#[derive(Debug, Serialize, ToSchema)]
pub struct TimelineEntry {
    /// `queued`, `sending`, `accepted`, `sent`, `delivered`, `read`, `failed`, `retry`,
    /// `unknown` or `resend`.
    #[schema(example = "delivered")]
    pub status: String,
    /// When Chasqui recorded it (RFC 3339).
    pub at: String,
    /// Meta's own time for a webhook status, in whole seconds (RFC 3339).
    pub reported_at: Option<String>,
    /// `api`, `dispatcher` or `webhook`.
    #[schema(example = "webhook")]
    pub source: String,
    /// Inferred, not reported: a `delivered` implied by a `read`.
    pub implied: bool,
    /// Meta's message id, when the event carries one.
    pub wamid: Option<String>,
    /// Meta's error, for `failed` and `retry`.
    pub error: Option<MetaError>,
    /// A short explanation.
    pub detail: Option<String>,
    /// A webhook status's `timestamp`, `conversation` and `pricing` as Meta sent them.
    pub data: Option<Value>,
}

impl From<&MessageEvent> for TimelineEntry {
    fn from(e: &MessageEvent) -> Self {
        // Meta's own time for the status, whole seconds (`at` is when Chasqui recorded it).
        let reported_at = e
            .data
            .as_ref()
            .and_then(|d| d.get("timestamp"))
            .and_then(Value::as_i64)
            .map(|secs| rfc3339(secs.saturating_mul(1000)));
        Self {
            status: e.status.clone(),
            at: rfc3339(e.at),
            reported_at,
            source: e.source.clone(),
            implied: e.implied(),
            wamid: e.wamid.clone(),
            error: e.error.clone(),
            detail: e.detail.clone(),
            data: e.data.clone(),
        }
    }
}

impl From<&MessageDetail> for MessageWithTimeline {
    fn from(d: &MessageDetail) -> Self {
        Self {
            message: Message::from(&d.message),
            content: serde_json::from_str(&d.message.body).unwrap_or(Value::Null),
            rendered_text: d.rendered.clone(),
            requested: None,
            timeline: d.events.iter().map(TimelineEntry::from).collect(),
        }
    }
}

/// A contact.
#[derive(Debug, Serialize, ToSchema)]
pub struct ContactView {
    /// Chasqui's contact id.
    #[schema(example = "ct_0192f3c4a1b27c3d9e8f7a6b5c4d3e2f")]
    pub id: String,
    /// The name the business gave it.
    pub name: Option<String>,
    /// The name on the customer's WhatsApp profile.
    pub profile_name: Option<String>,
    /// Phone number in E.164.
    #[schema(example = "+5215512345678")]
    pub phone: Option<String>,
    /// WhatsApp's id of the user (digits).
    pub wa_id: Option<String>,
    /// Meta's business-scoped user id.
    pub user_id: Option<String>,
    /// Meta's parent business-scoped user id, shared by an enterprise's portfolios.
    pub parent_user_id: Option<String>,
    /// Email address.
    pub email: Option<String>,
    /// Tags.
    pub tags: Vec<String>,
    /// Free-form fields.
    pub custom_fields: Value,
    /// Opted out of messages.
    pub opted_out: bool,
    /// Stopped marketing messages: a MARKETING template to them is refused.
    pub marketing_opted_out: bool,
    /// When the marketing opt-out last changed (RFC 3339); `null`: never.
    pub marketing_changed_at: Option<String>,
    /// What changed it last: `webhook` (Meta's `user_preferences`), `keyword` (the customer
    /// wrote one), `meta_error` (Meta refused a send with 131050) or `api`.
    pub marketing_source: Option<ConsentSource>,
    /// Meta's detail, the keyword written, or Meta's error.
    pub marketing_detail: Option<String>,
    /// Creation time (RFC 3339).
    pub created_at: String,
    /// Last change (RFC 3339).
    pub updated_at: String,
}

/// One change of a contact's marketing consent.
#[derive(Debug, Serialize, ToSchema)]
pub struct ContactHistoryView {
    /// `marketing_opt_out` or `marketing_opt_in`.
    #[schema(example = "marketing_opt_out")]
    pub change: String,
    /// The marketing opt-out after the change.
    pub marketing_opted_out: bool,
    /// What made it.
    pub source: ConsentSource,
    /// Meta's detail, the keyword written, or Meta's error.
    #[schema(example = "BAJA")]
    pub detail: Option<String>,
    /// When Chasqui recorded it (RFC 3339).
    pub at: String,
}

impl From<&ContactHistoryEntry> for ContactHistoryView {
    fn from(e: &ContactHistoryEntry) -> Self {
        Self {
            change: e.change.clone(),
            marketing_opted_out: e.marketing_opted_out,
            source: e.source,
            detail: e.detail.clone(),
            at: rfc3339(e.at),
        }
    }
}

impl From<&Contact> for ContactView {
    fn from(c: &Contact) -> Self {
        Self {
            id: c.id.clone(),
            name: c.name.clone(),
            profile_name: c.profile_name.clone(),
            phone: c.phone.as_ref().map(|p| format!("+{p}")),
            wa_id: c.wa_id.clone(),
            user_id: c.user_id.clone(),
            parent_user_id: c.parent_user_id.clone(),
            email: c.email.clone(),
            tags: c.tags.clone(),
            custom_fields: c.custom_fields.clone(),
            opted_out: c.opted_out,
            marketing_opted_out: c.marketing.opted_out,
            marketing_changed_at: c.marketing.changed_at.map(rfc3339),
            marketing_source: c.marketing.source,
            marketing_detail: c.marketing.detail.clone(),
            created_at: rfc3339(c.created_at),
            updated_at: rfc3339(c.updated_at),
        }
    }
}

/// The 24-hour customer-service window.
#[derive(Debug, Serialize, ToSchema)]
pub struct Window {
    /// Free-form messages may be sent now.
    pub open: bool,
    /// When it closes, or closed (RFC 3339); `null` before the customer ever wrote.
    pub expires_at: Option<String>,
}

/// A conversation with its window state (open until 24 hours after the last user message).
#[derive(Debug, Serialize, ToSchema)]
pub struct ConversationView {
    /// Chasqui's conversation id.
    #[schema(example = "cv_0192f3c4a1b27c3d9e8f7a6b5c4d3e2f")]
    pub id: String,
    /// The channel.
    pub channel: ChannelId,
    /// The contact's id.
    pub contact: String,
    /// The customer-service window.
    pub window: Window,
    /// The customer's latest message (RFC 3339).
    pub last_inbound_at: Option<String>,
    /// The latest message either way (RFC 3339).
    pub last_message_at: String,
    /// Creation time (RFC 3339).
    pub created_at: String,
    /// The customer's new messages since the conversation was last marked read (WhatsApp's
    /// system notices and edits or deletions of earlier messages are not counted).
    #[schema(example = 2)]
    pub unread: i64,
}

impl From<&Conversation> for ConversationView {
    fn from(c: &Conversation) -> Self {
        let until = window_open_until(c.last_inbound_at);
        Self {
            id: c.id.clone(),
            channel: c.channel_id.clone(),
            contact: c.contact_id.clone(),
            window: Window {
                open: until.is_some_and(|u| crate::clock::now_ms() < u),
                expires_at: until.map(rfc3339),
            },
            last_inbound_at: c.last_inbound_at.map(rfc3339),
            last_message_at: rfc3339(c.last_message_at),
            created_at: rfc3339(c.created_at),
            unread: c.unread,
        }
    }
}

/// A conversation with its contact and its latest messages, oldest first.
#[derive(Debug, Serialize, ToSchema)]
pub struct ConversationDetail {
    /// Chasqui's conversation id.
    pub id: String,
    /// The channel.
    pub channel: ChannelId,
    /// Its contact.
    pub contact: Option<ContactView>,
    /// The customer-service window.
    pub window: Window,
    /// The customer's latest message (RFC 3339).
    pub last_inbound_at: Option<String>,
    /// The latest message either way (RFC 3339).
    pub last_message_at: String,
    /// Creation time (RFC 3339).
    pub created_at: String,
    /// The customer's new messages since the conversation was last marked read.
    pub unread: i64,
    /// Messages in both directions, oldest first.
    pub messages: Vec<Entry>,
}

impl ConversationDetail {
    /// The listing's view with the contact in full and the messages.
    pub fn new(c: ConversationView, contact: Option<ContactView>, messages: Vec<Entry>) -> Self {
        Self {
            id: c.id,
            channel: c.channel,
            contact,
            window: c.window,
            last_inbound_at: c.last_inbound_at,
            last_message_at: c.last_message_at,
            created_at: c.created_at,
            unread: c.unread,
            messages,
        }
    }
}

/// One message of a conversation, either direction.
#[derive(Debug, Serialize, ToSchema)]
pub struct Entry {
    /// `inbound` or `outbound`.
    #[schema(example = "inbound")]
    pub direction: &'static str,
    /// Chasqui's message id.
    pub id: String,
    /// The message type.
    #[serde(rename = "type")]
    pub kind: String,
    /// The message object (Meta's shape).
    pub content: Value,
    /// Its status (`received` for an inbound message).
    pub status: String,
    /// Meta's message id.
    pub wamid: Option<String>,
    /// The media id to download its file with `GET /v1/media/{id}`, for inbound media.
    pub media_id: Option<String>,
    /// When it was sent or received (RFC 3339).
    pub at: String,
}

impl From<&ConversationEntry> for Entry {
    fn from(e: &ConversationEntry) -> Self {
        Self {
            direction: e.direction,
            id: e.id.clone(),
            kind: e.kind.clone(),
            content: e.content.clone(),
            status: e.status.clone(),
            wamid: e.wamid.clone(),
            media_id: crate::media::media_id_for(e.direction, &e.kind, e.wamid.as_deref()),
            at: rfc3339(e.at),
        }
    }
}
