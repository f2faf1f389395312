//! The JSON shapes the API answers with.

use chasqui_domain::window::window_open_until;
use chasqui_store::{Contact, Conversation, ConversationEntry, MessageDetail, MessageRecord};
use serde_json::{json, Value};

use crate::clock::rfc3339;

/// The answer to an accepted send: the same for the first request and any idempotent replay.
pub fn accepted(m: &MessageRecord) -> Value {
    json!({
        "id": m.id,
        "status": "queued",
        "channel": m.channel_id,
        "to": format!("+{}", m.recipient),
        "type": m.kind,
        "created_at": rfc3339(m.created_at),
    })
}

/// A message's current state.
pub fn message(m: &MessageRecord) -> Value {
    json!({
        "id": m.id,
        "status": m.status,
        "channel": m.channel_id,
        "to": format!("+{}", m.recipient),
        "type": m.kind,
        "wamid": m.wamid,
        "error": m.error,
        "attempts": m.attempts,
        "created_at": rfc3339(m.created_at),
        "updated_at": rfc3339(m.updated_at),
    })
}

/// A message with its content and whole timeline.
pub fn detail(d: &MessageDetail) -> Value {
    let mut out = message(&d.message);
    out["content"] = serde_json::from_str(&d.message.body).unwrap_or(Value::Null);
    out["rendered_text"] = json!(d.rendered);
    out["timeline"] = d
        .events
        .iter()
        .map(|e| {
            // Meta's own time for the status, whole seconds (`at` is when Chasqui recorded it).
            let reported_at = e
                .data
                .as_ref()
                .and_then(|d| d.get("timestamp"))
                .and_then(Value::as_i64)
                .map(|secs| rfc3339(secs.saturating_mul(1000)));
            json!({
                "status": e.status,
                "at": rfc3339(e.at),
                "reported_at": reported_at,
                "source": e.source,
                "implied": e.implied(),
                "wamid": e.wamid,
                "error": e.error,
                "detail": e.detail,
                "data": e.data,
            })
        })
        .collect();
    out
}

/// A contact.
pub fn contact(c: &Contact) -> Value {
    json!({
        "id": c.id,
        "name": c.name,
        "profile_name": c.profile_name,
        "phone": c.phone.as_ref().map(|p| format!("+{p}")),
        "wa_id": c.wa_id,
        "user_id": c.user_id,
        "email": c.email,
        "tags": c.tags,
        "custom_fields": c.custom_fields,
        "opted_out": c.opted_out,
        "created_at": rfc3339(c.created_at),
        "updated_at": rfc3339(c.updated_at),
    })
}

/// A conversation with its window state (open until 24 hours after the last user message).
pub fn conversation(c: &Conversation) -> Value {
    let until = window_open_until(c.last_inbound_at);
    json!({
        "id": c.id,
        "channel": c.channel_id,
        "contact": c.contact_id,
        "window": {
            "open": until.is_some_and(|u| crate::clock::now_ms() < u),
            "expires_at": until.map(rfc3339),
        },
        "last_inbound_at": c.last_inbound_at.map(rfc3339),
        "last_message_at": rfc3339(c.last_message_at),
        "created_at": rfc3339(c.created_at),
    })
}

/// One message of a conversation, either direction.
pub fn entry(e: &ConversationEntry) -> Value {
    json!({
        "direction": e.direction,
        "id": e.id,
        "type": e.kind,
        "content": e.content,
        "status": e.status,
        "wamid": e.wamid,
        "media_id": crate::media::media_id_for(e.direction, &e.kind, e.wamid.as_deref()),
        "at": rfc3339(e.at),
    })
}
