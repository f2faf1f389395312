//! Inbound Meta webhook content (meta-cloud-api.md §3.4–§3.6, §5.5): the messages users send,
//! the contacts that name them, and template lifecycle events. Statuses are
//! [`crate::webhook::status_updates`]' business.
//!
//! Like the status parser, this walks `serde_json::Value` rather than deserialising into strict
//! types: Meta adds fields and types without notice, and one unreadable item must not cost the
//! rest of a delivery. Items that lack what Chasqui keys on are skipped; everything else is kept,
//! including each message exactly as received.

mod content;
mod json;
mod kind;
mod preferences;
mod template_events;
#[cfg(test)]
mod tests;

use serde::Serialize;
use serde_json::Value;

use crate::webhook::{entries, WebhookError};
use crate::MetaError;
use json::{id_at, id_text, meta_errors, object_at, str_at, text_at, unix_seconds};

pub use content::{
    Button, CallPermissionReply, Contacts, Edit, FlowReply, IdentityMove, InboundContent, Location,
    Media, Order, OrderItem, Reaction, Reply, Revoke, System, Text, Unsupported,
};
pub use kind::InboundKind;
pub use preferences::{UserPreference, MARKETING_MESSAGES};
pub use template_events::{TemplateChange, TemplateEvent};

/// Everything inbound in one webhook delivery, each list in payload order.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct InboundBatch {
    /// One per readable `messages[]` item of `messages` changes.
    pub messages: Vec<InboundMessage>,
    /// One per readable `contacts[]` item of `messages` changes, status-only ones included
    /// (there they map a recipient's wa_id to its BSUID).
    pub contacts: Vec<InboundContact>,
    /// One per readable template change.
    pub template_events: Vec<TemplateEvent>,
    /// One per readable `user_preferences[]` item (marketing stop, resume, signup).
    pub preferences: Vec<UserPreference>,
    /// Changes whose `field` is none of the above (`account_update`, `calls`,
    /// `smb_message_echoes`, ...): acknowledged, not applied.
    pub ignored_changes: usize,
}

/// One message a user sent, flattened with the business number it was sent to.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct InboundMessage {
    /// `entry[].id`: the WhatsApp Business Account, when sent.
    pub waba_id: Option<String>,
    /// `metadata.phone_number_id`: the channel that received it.
    pub phone_number_id: String,
    /// `metadata.display_phone_number`.
    pub display_phone_number: Option<String>,
    /// The message's wamid (`id`): the dedupe key, since deliveries are at-least-once.
    pub id: String,
    /// `from`: the user's wa_id (phone digits); absent for username users known only by BSUID.
    pub from: Option<String>,
    /// The user's BSUID: `from_user_id`, else the `user_id` of the contact whose `wa_id` is `from`.
    pub user_id: Option<String>,
    /// The user's parent BSUID: `from_parent_user_id`, else the matching contact's.
    pub parent_user_id: Option<String>,
    /// `timestamp`, unix seconds.
    pub timestamp: i64,
    /// What kind of message it is.
    pub kind: InboundKind,
    /// The normalised content for `kind`.
    pub content: InboundContent,
    /// `context`: the message replied to, and forwarding flags.
    pub context: Option<MessageContext>,
    /// `referral`: the ad or post (Click-to-WhatsApp) the user came from.
    pub referral: Option<Referral>,
    /// The message's `errors[]`, or else the change's `errors[]` (Meta puts them there when it
    /// could not render a message, as for an `interactive` with no content).
    pub errors: Vec<MetaError>,
    /// The `messages[]` item exactly as received.
    pub raw: Value,
}

/// `context` of an inbound message.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MessageContext {
    /// `id`: the wamid replied to (a business message for button replies).
    pub id: Option<String>,
    /// `from`: who sent the message replied to.
    pub from: Option<String>,
    /// `forwarded`.
    pub forwarded: bool,
    /// `frequently_forwarded`: forwarded more than five times.
    pub frequently_forwarded: bool,
    /// `referred_product` (a question about a catalog product), as sent.
    pub referred_product: Option<Value>,
}

/// `referral`: the Click-to-WhatsApp ad or post that started the chat.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Referral {
    /// `source_url`.
    pub source_url: Option<String>,
    /// `source_id` (the ad or post id).
    pub source_id: Option<String>,
    /// `source_type`: `ad` or `post`.
    pub source_type: Option<String>,
    /// `headline`.
    pub headline: Option<String>,
    /// `body`.
    pub body: Option<String>,
    /// `media_type`: `image` or `video`.
    pub media_type: Option<String>,
    /// `image_url`.
    pub image_url: Option<String>,
    /// `video_url`.
    pub video_url: Option<String>,
    /// `thumbnail_url`.
    pub thumbnail_url: Option<String>,
    /// `ctwa_clid`: the click id, for ad attribution.
    pub ctwa_clid: Option<String>,
    /// `welcome_message.text`, when the ad set one.
    pub welcome_message: Option<String>,
}

/// One `contacts[]` item of a `messages` change: who a phone number or BSUID is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct InboundContact {
    /// `metadata.phone_number_id` of the change.
    pub phone_number_id: String,
    /// `wa_id`: phone digits; absent for username users.
    pub wa_id: Option<String>,
    /// `user_id`: the business-scoped user id (BSUID, `US.<digits>`).
    pub user_id: Option<String>,
    /// `parent_user_id` (`US.ENT.<digits>`).
    pub parent_user_id: Option<String>,
    /// `profile.name`.
    pub name: Option<String>,
    /// `profile.username` (or a top-level `username`), for users who adopted one.
    pub username: Option<String>,
}

impl InboundMessage {
    /// Whether this message opens or refreshes the 24-hour customer-service window with its sender.
    ///
    /// Rule (meta-cloud-api.md §3.5 "every inbound user message (any type above, except
    /// `system`) opens or refreshes the 24-hour customer-service window", and §4.4): true for
    /// text, media (image, video, audio, voice, document, sticker), location, contacts,
    /// button_reply, list_reply, nfm_reply, button, order and unsupported (the user did write
    /// something WhatsApp could not render). False for:
    /// - `system`: WhatsApp writes it, not the user (§3.5 excludes it);
    /// - `reaction`: whether it counts is unconfirmed; §11 says "do not count reactions, be
    ///   conservative";
    /// - `edit` and `revoke`: they change an earlier message rather than write a new one;
    /// - `call_permission_reply` and unknown kinds: not in §3.5's list, so treated like reactions.
    ///
    /// Also false when the message names no sender (neither `from` nor a BSUID), since the window
    /// belongs to a (number, user) pair. Statuses never open it (§10.4); they are not messages here.
    pub fn opens_window(&self) -> bool {
        let user_content = match self.kind {
            InboundKind::Text
            | InboundKind::Image
            | InboundKind::Video
            | InboundKind::Audio
            | InboundKind::Voice
            | InboundKind::Document
            | InboundKind::Sticker
            | InboundKind::Location
            | InboundKind::Contacts
            | InboundKind::ButtonReply
            | InboundKind::ListReply
            | InboundKind::FlowReply
            | InboundKind::Button
            | InboundKind::Order
            | InboundKind::Unsupported => true,
            InboundKind::System
            | InboundKind::Reaction
            | InboundKind::Edit
            | InboundKind::Revoke
            | InboundKind::CallPermissionReply
            | InboundKind::Other(_) => false,
        };
        user_content && self.sender().is_some()
    }

    /// The user this message is from: `from` (wa_id), else the BSUID.
    pub fn sender(&self) -> Option<&str> {
        self.from.as_deref().or(self.user_id.as_deref())
    }

    /// `timestamp` in unix milliseconds, the unit of [`crate::window`].
    pub fn timestamp_ms(&self) -> i64 {
        self.timestamp.saturating_mul(1000)
    }
}

/// Extracts every inbound message, contact, template event and user preference of every change
/// of every entry, in payload order, and counts the changes of other fields.
///
/// Fails only when the body is not a `whatsapp_business_account` object with an `entry[]` array.
/// Within it nothing fails: a `messages` change without `metadata.phone_number_id`, a message
/// without `id` or readable `timestamp`, a contact with neither `wa_id` nor `user_id`, and a
/// template change without template id, WABA id or the value its field reports are skipped.
/// Unknown message types become [`InboundKind::Other`] with their object kept.
pub fn inbound_events(payload: &Value) -> Result<InboundBatch, WebhookError> {
    let mut batch = InboundBatch::default();
    for entry in entries(payload)? {
        let Some(changes) = entry.get("changes").and_then(Value::as_array) else {
            continue;
        };
        for change in changes {
            let field = change.get("field").and_then(Value::as_str).unwrap_or("");
            let value = change.get("value").unwrap_or(&Value::Null);
            if field == "messages" {
                messages_change(entry, value, &mut batch);
            } else if template_events::is_template_field(field) {
                batch
                    .template_events
                    .extend(template_events::template_event(entry, field, value));
            } else if field == preferences::FIELD {
                batch.preferences.extend(preferences::preferences(value));
            } else {
                batch.ignored_changes += 1;
            }
        }
    }
    Ok(batch)
}

/// The contacts and messages of one `messages` change.
fn messages_change(entry: &Value, value: &Value, batch: &mut InboundBatch) {
    let Some(phone_number_id) = value.pointer("/metadata/phone_number_id").and_then(id_text) else {
        return;
    };
    let display_phone_number = value
        .pointer("/metadata/display_phone_number")
        .and_then(id_text);
    let contacts: Vec<InboundContact> = value
        .get("contacts")
        .and_then(Value::as_array)
        .map(|items| {
            items
                .iter()
                .filter_map(|c| contact(&phone_number_id, c))
                .collect()
        })
        .unwrap_or_default();
    let change_errors = meta_errors(value.get("errors"));
    let waba_id = id_at(entry, "id");
    if let Some(items) = value.get("messages").and_then(Value::as_array) {
        for item in items {
            let Some(mut message) = message(&phone_number_id, item, &contacts) else {
                continue;
            };
            message
                .display_phone_number
                .clone_from(&display_phone_number);
            message.waba_id.clone_from(&waba_id);
            if message.errors.is_empty() {
                message.errors.clone_from(&change_errors);
            }
            batch.messages.push(message);
        }
    }
    batch.contacts.extend(contacts);
}

/// One `contacts[]` item, or `None` when it names no one.
fn contact(phone_number_id: &str, contact: &Value) -> Option<InboundContact> {
    let profile = contact.get("profile").unwrap_or(&Value::Null);
    let wa_id = id_at(contact, "wa_id");
    let user_id = text_at(contact, "user_id");
    if wa_id.is_none() && user_id.is_none() {
        return None;
    }
    Some(InboundContact {
        phone_number_id: phone_number_id.to_owned(),
        wa_id,
        user_id,
        parent_user_id: text_at(contact, "parent_user_id"),
        name: text_at(profile, "name"),
        username: text_at(profile, "username").or_else(|| text_at(contact, "username")),
    })
}

/// One `messages[]` item, or `None` without an id or a readable timestamp.
fn message(
    phone_number_id: &str,
    item: &Value,
    contacts: &[InboundContact],
) -> Option<InboundMessage> {
    let id = id_at(item, "id")?;
    let timestamp = item.get("timestamp").and_then(unix_seconds)?;
    let mut from = id_at(item, "from");
    // The contact that describes the sender: same phone, or same BSUID.
    let from_user_id = text_at(item, "from_user_id");
    let mut sender = contacts.iter().find(|c| {
        (from.is_some() && c.wa_id == from) || (from_user_id.is_some() && c.user_id == from_user_id)
    });
    // A message naming no sender is the change's one contact's, when there is only one; with
    // several it stays unattributed rather than be given to the wrong person.
    if from.is_none() && from_user_id.is_none() {
        if let [only] = contacts {
            sender = Some(only);
            from.clone_from(&only.wa_id);
        }
    }
    let user_id = from_user_id.or_else(|| sender.and_then(|c| c.user_id.clone()));
    let parent_user_id = text_at(item, "from_parent_user_id")
        .or_else(|| sender.and_then(|c| c.parent_user_id.clone()));
    let kind = content::kind_of(item);
    let content = content::content_of(&kind, item, false);
    Some(InboundMessage {
        waba_id: None,
        phone_number_id: phone_number_id.to_owned(),
        display_phone_number: None,
        id,
        from,
        user_id,
        parent_user_id,
        timestamp,
        kind,
        content,
        context: item.get("context").and_then(context),
        referral: item.get("referral").and_then(referral),
        errors: meta_errors(item.get("errors")),
        raw: item.clone(),
    })
}

fn context(context: &Value) -> Option<MessageContext> {
    context.as_object()?;
    Some(MessageContext {
        id: id_at(context, "id"),
        from: id_at(context, "from"),
        forwarded: context.get("forwarded").and_then(Value::as_bool) == Some(true),
        frequently_forwarded: context.get("frequently_forwarded").and_then(Value::as_bool)
            == Some(true),
        referred_product: object_at(context, "referred_product"),
    })
}

fn referral(referral: &Value) -> Option<Referral> {
    referral.as_object()?;
    let text = |key| str_at(referral, key);
    Some(Referral {
        source_url: text("source_url"),
        source_id: id_at(referral, "source_id"),
        source_type: text("source_type"),
        headline: text("headline"),
        body: text("body"),
        media_type: text("media_type"),
        image_url: text("image_url"),
        video_url: text("video_url"),
        thumbnail_url: text("thumbnail_url"),
        ctwa_clid: text("ctwa_clid"),
        welcome_message: referral
            .pointer("/welcome_message/text")
            .and_then(Value::as_str)
            .map(str::to_owned),
    })
}
