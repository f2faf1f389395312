//! The JSON shapes the API answers with.

use chasqui_store::{MessageDetail, MessageRecord};
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
            json!({
                "status": e.status,
                "at": rfc3339(e.at),
                "source": e.source,
                "wamid": e.wamid,
                "error": e.error,
                "detail": e.detail,
                "data": e.data,
            })
        })
        .collect();
    out
}
