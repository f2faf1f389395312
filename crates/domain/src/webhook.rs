//! Meta webhook payloads (`object: whatsapp_business_account`): the parts Chasqui applies.

use serde::Serialize;
use serde_json::Value;

use crate::pricing::Pricing;
use crate::{MessageStatus, MetaError};

/// One `statuses[]` entry of a Meta webhook, flattened with the channel it concerns.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StatusUpdate {
    /// `metadata.phone_number_id` of the change: which channel this is about.
    pub phone_number_id: String,
    /// The message's wamid (`statuses[].id`).
    pub wamid: String,
    /// Chasqui's own message id when Meta echoes `biz_opaque_callback_data`.
    pub callback_data: Option<String>,
    /// `sent`, `delivered`, `read` or `failed` (`played` maps to `read`; unknown values are skipped).
    pub status: MessageStatus,
    /// `statuses[].timestamp`, unix seconds.
    pub timestamp: i64,
    /// `recipient_id`: the phone number it went to (absent for a send to a BSUID).
    pub recipient_id: Option<String>,
    /// `recipient_user_id`: the person's BSUID, Meta's 2026 field.
    pub recipient_user_id: Option<String>,
    /// Errors of a `failed` status (first one).
    pub error: Option<MetaError>,
    /// The `conversation` object as sent (absent under per-message pricing).
    pub conversation: Option<Value>,
    /// What Meta charges for the message.
    pub pricing: Option<Pricing>,
}

/// Why a webhook body was not understood.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WebhookError {
    /// Not JSON, or not a `whatsapp_business_account` object with `entry[]`.
    #[error("not a WhatsApp Business Account webhook: {0}")]
    Malformed(String),
}

/// `entry[]` of a `whatsapp_business_account` payload: every Meta webhook parser starts here.
pub(crate) fn entries(payload: &Value) -> Result<&[Value], WebhookError> {
    let root = payload
        .as_object()
        .ok_or_else(|| WebhookError::Malformed("the body is not a JSON object".into()))?;
    match root.get("object").and_then(Value::as_str) {
        Some("whatsapp_business_account") => {}
        other => {
            return Err(WebhookError::Malformed(format!(
                "`object` is {other:?}, expected \"whatsapp_business_account\""
            )))
        }
    }
    root.get("entry")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .ok_or_else(|| WebhookError::Malformed("`entry` is not an array".into()))
}

/// Extracts every status of every change of every entry, in payload order. Changes whose `field`
/// is not `messages`, and entries without statuses, contribute nothing.
///
/// A status entry Chasqui cannot use (no `id`, an unknown `status` such as `deleted`, no readable
/// `timestamp`) is skipped rather than failing the whole delivery, which also carries other updates.
pub fn status_updates(payload: &Value) -> Result<Vec<StatusUpdate>, WebhookError> {
    let entries = entries(payload)?;

    let mut updates = Vec::new();
    let changes = entries
        .iter()
        .filter_map(|entry| entry.get("changes").and_then(Value::as_array))
        .flatten()
        .filter(|change| change.get("field").and_then(Value::as_str) == Some("messages"));
    for change in changes {
        let Some(value) = change.get("value") else {
            continue;
        };
        let Some(statuses) = value.get("statuses").and_then(Value::as_array) else {
            continue;
        };
        let Some(phone_number_id) = value.pointer("/metadata/phone_number_id").and_then(id_text)
        else {
            continue;
        };
        updates.extend(
            statuses
                .iter()
                .filter_map(|s| status_update(&phone_number_id, s)),
        );
    }
    Ok(updates)
}

/// One `statuses[]` entry, or `None` when it lacks what Chasqui needs.
fn status_update(phone_number_id: &str, status: &Value) -> Option<StatusUpdate> {
    Some(StatusUpdate {
        phone_number_id: phone_number_id.to_owned(),
        wamid: status.get("id").and_then(id_text)?,
        callback_data: status.get("biz_opaque_callback_data").and_then(id_text),
        status: status_kind(status.get("status")?.as_str()?)?,
        timestamp: status.get("timestamp").and_then(unix_seconds)?,
        recipient_id: status.get("recipient_id").and_then(id_text),
        recipient_user_id: status.get("recipient_user_id").and_then(id_text),
        error: status.pointer("/errors/0").and_then(meta_error),
        conversation: status
            .get("conversation")
            .filter(|v| v.is_object())
            .cloned(),
        pricing: status.get("pricing").and_then(Pricing::from_webhook),
    })
}

/// Meta's status names; `played` (voice notes) counts as `read`, `deleted` and others are ignored.
fn status_kind(status: &str) -> Option<MessageStatus> {
    match status {
        "sent" => Some(MessageStatus::Sent),
        "delivered" => Some(MessageStatus::Delivered),
        "read" | "played" => Some(MessageStatus::Read),
        "failed" => Some(MessageStatus::Failed),
        _ => None,
    }
}

/// Meta sends ids and timestamps as strings; accept numbers too, written as their digits.
fn id_text(value: &Value) -> Option<String> {
    match value {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// Unix seconds from a string (Meta's form) or a number.
fn unix_seconds(value: &Value) -> Option<i64> {
    match value {
        Value::String(s) => s.trim().parse().ok(),
        Value::Number(n) => n.as_i64(),
        _ => None,
    }
}

/// `errors[0]` of a failed status.
fn meta_error(error: &Value) -> Option<MetaError> {
    let code = match error.get("code")? {
        Value::Number(n) => n.as_i64()?,
        Value::String(s) => s.trim().parse().ok()?,
        _ => return None,
    };
    let text = |key: &str| {
        error
            .get(key)
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
    };
    Some(MetaError {
        code,
        title: text("title")
            .or_else(|| text("message"))
            .unwrap_or_default()
            .to_owned(),
        details: error
            .pointer("/error_data/details")
            .and_then(Value::as_str)
            .map(str::to_owned),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const STATUS_FIXTURES: &str =
        include_str!("../../../fixtures/meta-webhooks/pywa/message_status.json");

    /// Every other pywa fixture file: none of them carries statuses.
    const OTHER_FIXTURES: &[(&str, &str)] = &[
        (
            "account_update",
            include_str!("../../../fixtures/meta-webhooks/pywa/account_update.json"),
        ),
        (
            "call_connect",
            include_str!("../../../fixtures/meta-webhooks/pywa/call_connect.json"),
        ),
        (
            "call_permission_update",
            include_str!("../../../fixtures/meta-webhooks/pywa/call_permission_update.json"),
        ),
        (
            "call_status",
            include_str!("../../../fixtures/meta-webhooks/pywa/call_status.json"),
        ),
        (
            "call_terminate",
            include_str!("../../../fixtures/meta-webhooks/pywa/call_terminate.json"),
        ),
        (
            "callback_button",
            include_str!("../../../fixtures/meta-webhooks/pywa/callback_button.json"),
        ),
        (
            "callback_selection",
            include_str!("../../../fixtures/meta-webhooks/pywa/callback_selection.json"),
        ),
        (
            "deleted_message",
            include_str!("../../../fixtures/meta-webhooks/pywa/deleted_message.json"),
        ),
        (
            "edited_message",
            include_str!("../../../fixtures/meta-webhooks/pywa/edited_message.json"),
        ),
        (
            "flow_completion",
            include_str!("../../../fixtures/meta-webhooks/pywa/flow_completion.json"),
        ),
        (
            "message",
            include_str!("../../../fixtures/meta-webhooks/pywa/message.json"),
        ),
        (
            "outgoing_message",
            include_str!("../../../fixtures/meta-webhooks/pywa/outgoing_message.json"),
        ),
        (
            "system",
            include_str!("../../../fixtures/meta-webhooks/pywa/system.json"),
        ),
        (
            "template_category_update",
            include_str!("../../../fixtures/meta-webhooks/pywa/template_category_update.json"),
        ),
        (
            "template_components_update",
            include_str!("../../../fixtures/meta-webhooks/pywa/template_components_update.json"),
        ),
        (
            "template_quality_update",
            include_str!("../../../fixtures/meta-webhooks/pywa/template_quality_update.json"),
        ),
        (
            "template_status_update",
            include_str!("../../../fixtures/meta-webhooks/pywa/template_status_update.json"),
        ),
        (
            "user_marketing_preferences",
            include_str!("../../../fixtures/meta-webhooks/pywa/user_marketing_preferences.json"),
        ),
    ];

    fn cases(fixture: &str) -> serde_json::Map<String, Value> {
        match serde_json::from_str(fixture) {
            Ok(Value::Object(cases)) => cases,
            other => panic!("fixture is not an object of cases: {other:?}"),
        }
    }

    fn single(case: &str) -> StatusUpdate {
        let all = cases(STATUS_FIXTURES);
        let updates = status_updates(&all[case]).unwrap();
        assert_eq!(updates.len(), 1, "{case}");
        updates.into_iter().next().unwrap()
    }

    #[test]
    fn every_status_fixture_parses_to_one_update() {
        let all = cases(STATUS_FIXTURES);
        assert_eq!(all.len(), 7);
        for (name, payload) in &all {
            let updates = status_updates(payload).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(updates.len(), 1, "{name}");
        }
    }

    #[test]
    fn sent_keeps_channel_ids_conversation_and_pricing() {
        let u = single("sent");
        assert_eq!(u.phone_number_id, "1122334455667");
        assert_eq!(u.wamid, "wamid.xyzxyz");
        assert_eq!(u.status, MessageStatus::Sent);
        assert_eq!(u.timestamp, 1_698_266_945);
        assert_eq!(u.recipient_id.as_deref(), Some("972987654321"));
        assert_eq!(u.callback_data, None);
        assert_eq!(u.error, None);
        let conversation = u.conversation.unwrap();
        assert_eq!(conversation["expiration_timestamp"], "1698339900");
        assert_eq!(conversation["origin"]["type"], "service");
        let pricing = u.pricing.expect("pricing");
        assert_eq!(
            serde_json::to_value(pricing).unwrap(),
            json!({"billable": true, "pricing_model": "CBP", "category": "service"})
        );
    }

    #[test]
    fn statuses_map_to_lifecycle_states() {
        assert_eq!(single("delivered").status, MessageStatus::Delivered);
        assert_eq!(single("read").status, MessageStatus::Read);
        assert_eq!(single("read").timestamp, 1_689_380_458);
        assert_eq!(single("played").status, MessageStatus::Read);
    }

    #[test]
    fn failed_carries_the_first_error() {
        let u = single("failed");
        assert_eq!(u.status, MessageStatus::Failed);
        assert_eq!(
            u.error,
            Some(MetaError {
                code: 130472,
                title: "User's number is part of an experiment".into(),
                details: Some(
                    "Failed to send message because this user's phone number is part of an experiment"
                        .into()
                ),
            })
        );
        assert_eq!(u.pricing, None);
    }

    #[test]
    fn tracker_is_echoed_as_callback_data() {
        assert_eq!(
            single("with_tracker").callback_data.as_deref(),
            Some("some data")
        );
    }

    #[test]
    fn group_status_parses_without_pricing() {
        let u = single("group");
        assert_eq!(u.phone_number_id, "<BUSINESS_PHONE_NUMBER_ID>");
        assert_eq!(u.wamid, "<WHATSAPP_MESSAGE_ID>");
        assert_eq!(u.status, MessageStatus::Read);
        assert_eq!(u.recipient_id.as_deref(), Some("fowefinoewcnw"));
        assert_eq!(u.conversation, None);
        assert_eq!(u.pricing, None);
    }

    #[test]
    fn other_fixtures_yield_no_status_updates() {
        for (file, fixture) in OTHER_FIXTURES {
            for (name, payload) in &cases(fixture) {
                let updates =
                    status_updates(payload).unwrap_or_else(|e| panic!("{file}#{name}: {e}"));
                assert!(updates.is_empty(), "{file}#{name}");
            }
        }
    }

    fn envelope(statuses: Value) -> Value {
        json!({"object": "whatsapp_business_account", "entry": [{"id": "1", "changes": [
            {"field": "messages", "value": {"metadata": {"phone_number_id": "42"}, "statuses": statuses}}
        ]}]})
    }

    #[test]
    fn keeps_payload_order_and_skips_unusable_entries() {
        let payload = envelope(json!([
            {"id": "w1", "status": "delivered", "timestamp": 10},
            {"id": "w2", "status": "deleted", "timestamp": "11"},
            {"id": "w3", "status": "warning", "timestamp": "12"},
            {"status": "read", "timestamp": "13"},
            {"id": "w5", "status": "read"},
            {"id": "w6", "status": "failed", "timestamp": "14",
             "errors": [{"code": 131047, "message": "Re-engagement message"}, {"code": 1}]},
        ]));
        let updates = status_updates(&payload).unwrap();
        let ids: Vec<&str> = updates.iter().map(|u| u.wamid.as_str()).collect();
        assert_eq!(ids, ["w1", "w6"]);
        assert_eq!(updates[0].timestamp, 10);
        let error = updates[1].error.clone().unwrap();
        assert_eq!(
            (error.code, error.title.as_str(), error.details),
            (131047, "Re-engagement message", None)
        );
    }

    #[test]
    fn walks_every_entry_and_change_but_only_messages_fields() {
        let payload = json!({"object": "whatsapp_business_account", "entry": [
            {"changes": [
                {"field": "messages", "value": {"metadata": {"phone_number_id": "1"},
                    "statuses": [{"id": "a", "status": "sent", "timestamp": "1"}]}},
                {"field": "account_update", "value": {"metadata": {"phone_number_id": "1"},
                    "statuses": [{"id": "x", "status": "sent", "timestamp": "1"}]}},
            ]},
            {"changes": [
                {"field": "messages", "value": {"metadata": {"phone_number_id": "2"},
                    "statuses": [{"id": "b", "status": "read", "timestamp": "2"},
                                 {"id": "c", "status": "sent", "timestamp": "3"}]}},
            ]},
            {"id": "no changes"},
        ]});
        let updates = status_updates(&payload).unwrap();
        let got: Vec<(&str, &str)> = updates
            .iter()
            .map(|u| (u.phone_number_id.as_str(), u.wamid.as_str()))
            .collect();
        assert_eq!(got, [("1", "a"), ("2", "b"), ("2", "c")]);
    }

    #[test]
    fn refuses_what_is_not_a_business_account_webhook() {
        for payload in [
            json!([]),
            json!("x"),
            json!({}),
            json!({"object": "page", "entry": []}),
            json!({"object": "whatsapp_business_account"}),
            json!({"object": "whatsapp_business_account", "entry": {}}),
        ] {
            assert!(
                matches!(status_updates(&payload), Err(WebhookError::Malformed(_))),
                "{payload}"
            );
        }
        assert_eq!(
            status_updates(&json!({"object": "whatsapp_business_account", "entry": []})),
            Ok(vec![])
        );
    }
}
