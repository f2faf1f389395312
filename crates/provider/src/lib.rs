//! Chasqui's providers: how a message leaves for WhatsApp. One trait, three implementations:
//! Meta's Cloud API (`cloud_api`), 360dialog (`dialog360`, same body at another endpoint), and the
//! `sandbox`, a simulated Cloud API with the same HTTP contract.

#![warn(missing_docs)]

pub mod cloud_api;
pub mod dialog360;
pub mod media;
pub mod sandbox;
pub mod templates;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chasqui_domain::MetaError;
use serde::Deserialize;
use serde_json::Value;

pub use cloud_api::{CloudApiConfig, CloudApiProvider};
pub use dialog360::{Dialog360Config, Dialog360Provider};
pub use media::MediaInfo;
pub use templates::ManageError;

/// One message to hand to a provider.
#[derive(Debug, Clone)]
pub struct SendRequest<'a> {
    /// Chasqui's message id, sent as `biz_opaque_callback_data` so status webhooks name it.
    pub message_id: &'a str,
    /// Recipient digits (wa_id form, no `+`).
    pub to: &'a str,
    /// The normalised body from `chasqui_domain::OutboundMessage::body`.
    pub body: &'a Value,
    /// The endpoint it goes to.
    pub path: SendPath,
}

/// Which send endpoint of the phone number a message goes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SendPath {
    /// `POST /{phone-number-id}/messages`: every message type.
    #[default]
    Messages,
    /// `POST /{phone-number-id}/marketing_messages`, Meta's Marketing Messages API: MARKETING
    /// templates only, with Meta's delivery optimisation. Meta is retiring marketing through
    /// `/messages`.
    MarketingMessages,
}

impl SendPath {
    /// The path's last segment.
    pub fn segment(self) -> &'static str {
        match self {
            Self::Messages => "messages",
            Self::MarketingMessages => "marketing_messages",
        }
    }

    /// `messages_url` (ending in `/messages`) pointed at this endpoint.
    pub fn url(self, messages_url: &str) -> std::borrow::Cow<'_, str> {
        match self {
            Self::Messages => messages_url.into(),
            Self::MarketingMessages => format!(
                "{}/{}",
                messages_url.trim_end_matches("/messages"),
                self.segment()
            )
            .into(),
        }
    }
}

/// What came of one provider call.
#[derive(Debug, Clone, PartialEq)]
pub enum SendOutcome {
    /// The provider accepted the message and gave its id.
    Accepted {
        /// Meta's message id.
        wamid: String,
        /// The normalised WhatsApp id Meta returned for the recipient, when it did.
        wa_id: Option<String>,
    },
    /// The provider answered with an error; `http_status` and the parsed Meta error say which.
    Rejected {
        /// HTTP status of the answer.
        http_status: u16,
        /// The error from Meta's envelope (or a synthesised one for non-Meta bodies).
        error: MetaError,
        /// `Retry-After` in seconds, when the provider sent one.
        retry_after_secs: Option<u64>,
    },
    /// The request provably never reached the provider (connection refused, DNS, TLS
    /// handshake): safe to retry.
    NotSent {
        /// Why.
        reason: String,
    },
    /// The request may have reached the provider but no answer was read (timeout after the
    /// request was written, connection dropped mid-way, unreadable 2xx body). Never resend blindly.
    Unknown {
        /// Why.
        reason: String,
    },
}

/// A way to deliver messages to WhatsApp.
#[async_trait]
pub trait Provider: Send + Sync {
    /// Sends one message. Never panics; every failure is a `SendOutcome`.
    async fn send(&self, req: SendRequest<'_>) -> SendOutcome;

    /// Every template of the WhatsApp Business Account `waba_id`, in Meta's shape, all pages
    /// followed.
    async fn list_templates(&self, waba_id: &str) -> Result<Vec<Value>, ManageError> {
        let _ = waba_id;
        Err(ManageError::Unsupported(
            "this provider cannot list templates".into(),
        ))
    }

    /// Submits a new template (Meta's creation body) to `waba_id`; answers Meta's
    /// `{"id","status","category"}`.
    async fn create_template(&self, waba_id: &str, body: &Value) -> Result<Value, ManageError> {
        let _ = (waba_id, body);
        Err(ManageError::Unsupported(
            "this provider cannot create templates".into(),
        ))
    }

    /// Uploads a file (`POST /{phone-number-id}/media`); answers the provider's media id, usable
    /// as `image.id` and the like in sends.
    async fn upload_media(
        &self,
        mime: &str,
        filename: &str,
        bytes: Vec<u8>,
    ) -> Result<String, ManageError> {
        let _ = (mime, filename, bytes);
        Err(ManageError::Unsupported(
            "this provider cannot upload media".into(),
        ))
    }

    /// Where and what a media id is (`GET /{media-id}`); the URL expires in minutes.
    async fn media_info(&self, media_id: &str) -> Result<MediaInfo, ManageError> {
        let _ = media_id;
        Err(ManageError::Unsupported(
            "this provider cannot look up media".into(),
        ))
    }

    /// Marks an inbound message read (`POST /{phone-number-id}/messages` with `status: read`),
    /// showing the typing indicator when `typing`: the person sees blue ticks, and "typing…"
    /// for up to 25 seconds or until the reply.
    async fn mark_read(&self, wamid: &str, typing: bool) -> Result<(), ManageError> {
        let _ = (wamid, typing);
        Err(ManageError::Unsupported(
            "this provider cannot send read receipts".into(),
        ))
    }

    /// Downloads a media URL from [`Provider::media_info`] with the channel's credentials.
    async fn download_media(&self, url: &str) -> Result<Vec<u8>, ManageError> {
        let _ = url;
        Err(ManageError::Unsupported(
            "this provider cannot download media".into(),
        ))
    }
}

/// The Cloud API body that marks `wamid` read, with Meta's typing indicator when `typing`.
pub fn read_receipt_body(wamid: &str, typing: bool) -> Value {
    let mut body = serde_json::json!({
        "messaging_product": "whatsapp",
        "status": "read",
        "message_id": wamid,
    });
    if typing {
        body["typing_indicator"] = serde_json::json!({ "type": "text" });
    }
    body
}

/// Builds the full Cloud API request body: `messaging_product`, `recipient_type`, `to`,
/// `biz_opaque_callback_data`, then the fields of the normalised body.
pub fn cloud_api_body(req: &SendRequest<'_>) -> Value {
    let mut out = serde_json::Map::new();
    out.insert("messaging_product".into(), "whatsapp".into());
    out.insert("recipient_type".into(), "individual".into());
    // A stored recipient is phone digits or a BSUID; a BSUID goes in Meta's `recipient`.
    let field = if req.to.contains('.') {
        "recipient"
    } else {
        "to"
    };
    out.insert(field.into(), req.to.into());
    out.insert("biz_opaque_callback_data".into(), req.message_id.into());
    if let Value::Object(fields) = req.body {
        for (k, v) in fields {
            out.insert(k.clone(), v.clone());
        }
    }
    Value::Object(out)
}

/// Which provider a channel uses, with its settings (`kind = "cloud_api"` or `"dialog360"`).
#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ProviderConfig {
    /// Meta's Cloud API (also the sandbox, which speaks the same contract at another base URL).
    CloudApi(CloudApiConfig),
    /// 360dialog's Cloud API pass-through.
    Dialog360(Dialog360Config),
}

impl ProviderConfig {
    /// Builds the provider, sharing `client` (and so its connection pool).
    pub fn build(self, client: reqwest::Client) -> Arc<dyn Provider> {
        match self {
            Self::CloudApi(config) => Arc::new(CloudApiProvider::new(config, client)),
            Self::Dialog360(config) => Arc::new(Dialog360Provider::new(config, client)),
        }
    }
}

/// The HTTP client every provider (and the sandbox's webhook sender) shares: 5 s connect
/// timeout, `timeout` for the whole request, pooled keep-alive, no proxy lookups, no redirects.
pub fn http_client(timeout: Duration) -> reqwest::Client {
    // reqwest is built with `rustls-no-provider` and panics without a process-wide provider;
    // installing ring here is a no-op when the binary already did.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let built = reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(5))
        .timeout(timeout)
        .no_proxy()
        // A redirected POST would silently become a GET; an API answer is never a redirect.
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("chasqui/", env!("CARGO_PKG_VERSION")))
        .build();
    match built {
        Ok(client) => client,
        Err(error) => {
            tracing::error!(%error, "building the HTTP client failed; using reqwest defaults");
            reqwest::Client::new()
        }
    }
}
