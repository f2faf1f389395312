//! The `user_preferences` webhook (meta-cloud-api.md §3.4, §4.6): a user stopped or resumed
//! marketing messages from the business, or signed up for them through a signup link.

use serde::Serialize;
use serde_json::Value;

use super::json::{id_at, text_at, unix_seconds};
use super::InboundContact;

/// The Meta webhook `field` of preference changes.
pub(super) const FIELD: &str = "user_preferences";

/// The only preference category Meta reports today.
pub const MARKETING_MESSAGES: &str = "marketing_messages";

/// One `user_preferences[]` item, flattened with the business number it concerns.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct UserPreference {
    /// `metadata.phone_number_id` of the change.
    pub phone_number_id: String,
    /// `wa_id`: the user's phone digits.
    pub wa_id: Option<String>,
    /// The user's BSUID: the item's `user_id`, else that of the change's contact with the same
    /// `wa_id`.
    pub user_id: Option<String>,
    /// `category`, e.g. `marketing_messages`.
    pub category: Option<String>,
    /// `value`: `stop`, `resume`, `signup`, or one Chasqui does not know.
    pub value: String,
    /// `detail`, Meta's words for it.
    pub detail: Option<String>,
    /// `timestamp`, unix seconds.
    pub timestamp: Option<i64>,
    /// The item exactly as received.
    pub raw: Value,
}

impl UserPreference {
    /// The marketing opt-out this preference asks for: `stop` sets it, `resume` and `signup`
    /// (the user asked for marketing through a signup link) clear it; any other value or
    /// category asks for nothing.
    pub fn marketing_opt_out(&self) -> Option<bool> {
        if self
            .category
            .as_deref()
            .is_some_and(|c| c != MARKETING_MESSAGES)
        {
            return None;
        }
        match self.value.as_str() {
            "stop" => Some(true),
            "resume" | "signup" => Some(false),
            _ => None,
        }
    }

    /// A key that names this very report, so a delivery Meta repeats changes nothing twice.
    pub fn event_key(&self) -> String {
        format!(
            "user_preferences:{}:{}:{}",
            self.category.as_deref().unwrap_or(""),
            self.value,
            self.timestamp.unwrap_or(0)
        )
    }
}

/// The preferences of one `user_preferences` change; an item without `value` or without a
/// user (no `wa_id`, no `user_id`, and not the change's one contact) is skipped.
pub(super) fn preferences(value: &Value) -> Vec<UserPreference> {
    let Some(phone_number_id) = value
        .pointer("/metadata/phone_number_id")
        .and_then(super::json::id_text)
    else {
        return Vec::new();
    };
    let contacts: Vec<InboundContact> = value
        .get("contacts")
        .and_then(Value::as_array)
        .map(|items| {
            items
                .iter()
                .filter_map(|c| super::contact(&phone_number_id, c))
                .collect()
        })
        .unwrap_or_default();
    let Some(items) = value.get(FIELD).and_then(Value::as_array) else {
        return Vec::new();
    };
    items
        .iter()
        .filter_map(|item| {
            let mut wa_id = id_at(item, "wa_id");
            let mut user_id = text_at(item, "user_id");
            if wa_id.is_none() && user_id.is_none() {
                if let [only] = contacts.as_slice() {
                    wa_id.clone_from(&only.wa_id);
                    user_id.clone_from(&only.user_id);
                }
            }
            if user_id.is_none() {
                user_id = contacts
                    .iter()
                    .find(|c| wa_id.is_some() && c.wa_id == wa_id)
                    .and_then(|c| c.user_id.clone());
            }
            if wa_id.is_none() && user_id.is_none() {
                return None;
            }
            Some(UserPreference {
                phone_number_id: phone_number_id.clone(),
                wa_id,
                user_id,
                category: text_at(item, "category"),
                value: text_at(item, "value")?.to_ascii_lowercase(),
                detail: text_at(item, "detail"),
                timestamp: item.get("timestamp").and_then(unix_seconds),
                raw: item.clone(),
            })
        })
        .collect()
}
