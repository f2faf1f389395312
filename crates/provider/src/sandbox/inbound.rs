//! Simulated people writing in: `POST /inbound` becomes a signed Meta inbound-message webhook.

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use super::settings::is_phone_digits;
use super::webhook_out::envelope;
use super::{bump, new_wamid, now_ms, FieldError, InboundMedia, Sandbox};

/// A simulated person's message to a business number.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
pub struct InboundRequest {
    /// The business number it is written to.
    pub phone_number_id: Option<String>,
    /// The person's number, digits (`wa_id`).
    pub from: Option<String>,
    /// The person's profile name.
    pub name: Option<String>,
    /// A Meta inbound message object without `from`/`id`/`timestamp`, e.g.
    /// `{"type":"text","text":{"body":"hola"}}`.
    pub message: Option<Value>,
    /// The file of a media message (image, video, audio, document, sticker): stored by the
    /// sandbox, which fills the message's `id`, `mime_type` and `sha256`.
    pub media: Option<InboundMedia>,
}

/// The answer to `POST /inbound`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct InboundAccepted {
    /// The inbound message's wamid.
    pub id: String,
    /// Whether a webhook was queued (false when no `webhook_url` is set).
    pub posted: bool,
}

/// Profile name used when the request gives none.
const DEFAULT_NAME: &str = "Sandbox User";

impl Sandbox {
    /// Builds the inbound webhook for `request` and posts it like status webhooks (needs a
    /// tokio runtime).
    pub fn inbound(
        self: &Arc<Self>,
        request: InboundRequest,
    ) -> Result<InboundAccepted, FieldError> {
        let phone_number_id = request
            .phone_number_id
            .filter(|id| !id.trim().is_empty())
            .ok_or_else(|| {
                FieldError::new(
                    "phone_number_id",
                    "required: the business number written to",
                )
            })?;
        let from = request
            .from
            .ok_or_else(|| FieldError::new("from", "required: the sender's number in digits"))?;
        if !is_phone_digits(&from) {
            return Err(FieldError::new(
                "from",
                "must be a phone number in digits (wa_id form)",
            ));
        }
        let from = from.trim_start_matches('+').to_owned();
        let Some(Value::Object(mut content)) = request.message else {
            return Err(FieldError::new(
                "message",
                "required: a Meta inbound message object",
            ));
        };
        let kind = content
            .get("type")
            .and_then(Value::as_str)
            .unwrap_or_default();
        if kind.is_empty() {
            return Err(FieldError::new("message.type", "required, e.g. \"text\""));
        }

        if let Some(media) = request.media {
            let kind = kind.to_owned();
            super::media::attach_inbound(self, &phone_number_id, &kind, &mut content, media)?;
        }

        let id = new_wamid();
        let mut message = Map::new();
        message.insert("from".into(), json!(from));
        message.insert("id".into(), json!(id));
        message.insert("timestamp".into(), json!((now_ms() / 1000).to_string()));
        for (key, value) in content {
            // The sandbox owns the sender, id and time.
            if !matches!(key.as_str(), "from" | "id" | "timestamp") {
                message.insert(key, value);
            }
        }
        let name = request
            .name
            .filter(|n| !n.is_empty())
            .unwrap_or_else(|| DEFAULT_NAME.into());
        let fields = Map::from_iter([
            (
                "contacts".to_owned(),
                json!([{"profile": {"name": name}, "wa_id": from}]),
            ),
            ("messages".to_owned(), json!([message])),
        ]);

        bump(&self.stats.inbound);
        let settings = self.settings();
        let posted = settings.webhook_url.is_some();
        if posted {
            self.post_webhook(&envelope(&settings, vec![(phone_number_id, fields)]));
        }
        Ok(InboundAccepted { id, posted })
    }
}
