//! Template lifecycle webhooks (meta-cloud-api.md §5.5): status, category, quality and
//! component changes, each of which should refresh the template cache.

use serde::Serialize;
use serde_json::Value;

use super::json::{id_at, str_at, text_at, unix_seconds};

/// One template change, with the WABA it belongs to.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TemplateEvent {
    /// `entry[].id`: the WhatsApp Business Account that owns the template.
    pub waba_id: String,
    /// `entry[].time`, unix seconds, when Meta sends it.
    pub time: Option<i64>,
    /// `message_template_id`, written as digits.
    pub template_id: String,
    /// `message_template_name`.
    pub name: Option<String>,
    /// `message_template_language`, e.g. `en_US`.
    pub language: Option<String>,
    /// What changed.
    pub change: TemplateChange,
    /// The change's `value` as sent, so fields not modelled here are kept.
    pub raw: Value,
}

/// What a template webhook reports; tagged by the Meta `field` it came from.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "field")]
pub enum TemplateChange {
    /// `message_template_status_update`.
    #[serde(rename = "message_template_status_update")]
    Status {
        /// `event`: the new status, e.g. `APPROVED`, `REJECTED`, `PAUSED`, `DISABLED`.
        event: String,
        /// `reason` (`NONE` when approved, e.g. `INVALID_FORMAT` when rejected).
        reason: Option<String>,
        /// `message_template_category` at the time of the event.
        category: Option<String>,
        /// `rejection_info` (`reason`, `recommendation`) as sent.
        rejection_info: Option<Value>,
    },
    /// `template_category_update`.
    #[serde(rename = "template_category_update")]
    Category {
        /// `new_category`.
        new_category: String,
        /// `previous_category`, when sent.
        previous_category: Option<String>,
    },
    /// `message_template_quality_update`.
    #[serde(rename = "message_template_quality_update")]
    Quality {
        /// `new_quality_score`, e.g. `GREEN`, `YELLOW`, `RED`.
        new_quality_score: String,
        /// `previous_quality_score`.
        previous_quality_score: Option<String>,
    },
    /// `message_template_components_update`: the approved text of the template changed.
    #[serde(rename = "message_template_components_update")]
    Components {
        /// `message_template_title` (the header text).
        title: Option<String>,
        /// `message_template_element` (the body text).
        body: Option<String>,
        /// `message_template_footer`.
        footer: Option<String>,
        /// `message_template_buttons[]` as sent.
        buttons: Vec<Value>,
    },
}

impl TemplateChange {
    /// The Meta webhook `field` this change comes from.
    pub fn field(&self) -> &'static str {
        match self {
            Self::Status { .. } => STATUS,
            Self::Category { .. } => CATEGORY,
            Self::Quality { .. } => QUALITY,
            Self::Components { .. } => COMPONENTS,
        }
    }
}

const STATUS: &str = "message_template_status_update";
const CATEGORY: &str = "template_category_update";
const QUALITY: &str = "message_template_quality_update";
const COMPONENTS: &str = "message_template_components_update";

/// Whether a change `field` is one of the template webhooks.
pub(super) fn is_template_field(field: &str) -> bool {
    [STATUS, CATEGORY, QUALITY, COMPONENTS].contains(&field)
}

/// The event of one template change, or `None` when it lacks the template id, the WABA id or
/// the value its field is about (such a change can refresh nothing).
pub(super) fn template_event(entry: &Value, field: &str, value: &Value) -> Option<TemplateEvent> {
    let change = match field {
        STATUS => TemplateChange::Status {
            event: text_at(value, "event")?,
            reason: text_at(value, "reason"),
            category: text_at(value, "message_template_category"),
            rejection_info: value
                .get("rejection_info")
                .filter(|v| v.is_object())
                .cloned(),
        },
        CATEGORY => TemplateChange::Category {
            new_category: text_at(value, "new_category")?,
            previous_category: text_at(value, "previous_category"),
        },
        QUALITY => TemplateChange::Quality {
            new_quality_score: text_at(value, "new_quality_score")?,
            previous_quality_score: text_at(value, "previous_quality_score"),
        },
        COMPONENTS => TemplateChange::Components {
            title: str_at(value, "message_template_title"),
            body: str_at(value, "message_template_element"),
            footer: str_at(value, "message_template_footer"),
            buttons: value
                .get("message_template_buttons")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default(),
        },
        _ => return None,
    };
    Some(TemplateEvent {
        waba_id: id_at(entry, "id")?,
        time: entry.get("time").and_then(unix_seconds),
        template_id: id_at(value, "message_template_id")?,
        name: text_at(value, "message_template_name"),
        language: text_at(value, "message_template_language"),
        change,
        raw: value.clone(),
    })
}
