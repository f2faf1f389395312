//! Read receipts: `POST /{version}/{phone_number_id}/messages` with `status: read` marks a
//! customer's message read (and shows "typing…" with `typing_indicator`), as Meta's Cloud API
//! does; the sandbox records each one for `GET /read_receipts`.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};

use super::graph::meta_error;
use super::{bump, lock, now_ms, ReadReceipt, Sandbox, LOG_CAPACITY};

/// The body's JSON when it is a read receipt rather than a message.
pub(super) fn as_read_receipt(body: &[u8]) -> Option<Value> {
    let value: Value = serde_json::from_slice(body).ok()?;
    (value.get("status").and_then(Value::as_str) == Some("read")).then_some(value)
}

/// Checks and records a read receipt; answers Meta's `{"success": true}`.
pub(super) fn receive(sandbox: &Sandbox, phone_number_id: &str, body: &Value) -> Response {
    let invalid = |details: &str| {
        bump(&sandbox.stats.rejected);
        meta_error(
            StatusCode::BAD_REQUEST,
            100,
            "(#100) Invalid parameter",
            Some(details),
        )
    };
    if body.get("messaging_product").and_then(Value::as_str) != Some("whatsapp") {
        return invalid("messaging_product must be whatsapp");
    }
    let Some(message_id) = body
        .get("message_id")
        .and_then(Value::as_str)
        .filter(|id| id.starts_with("wamid."))
    else {
        return invalid("message_id must be the wamid of a message the user sent");
    };
    let typing = match body.get("typing_indicator") {
        None => false,
        Some(t) if t == &json!({"type": "text"}) => true,
        Some(_) => return invalid("typing_indicator must be {\"type\": \"text\"}"),
    };
    {
        let mut state = lock(&sandbox.state);
        if state.read_receipts.len() >= LOG_CAPACITY {
            state.read_receipts.pop_front();
        }
        state.read_receipts.push_back(ReadReceipt {
            phone_number_id: phone_number_id.to_owned(),
            message_id: message_id.to_owned(),
            typing,
            at_ms: now_ms(),
        });
    }
    bump(&sandbox.stats.read_receipts);
    (StatusCode::OK, Json(json!({ "success": true }))).into_response()
}

impl Sandbox {
    /// Every read receipt recorded, oldest first.
    pub fn read_receipts(&self) -> Vec<ReadReceipt> {
        lock(&self.state).read_receipts.iter().cloned().collect()
    }
}
