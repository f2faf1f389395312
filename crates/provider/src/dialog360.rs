//! 360dialog: the Cloud API body unchanged at `POST {base_url}/messages` (MARKETING templates
//! through the Marketing Messages API: `POST {base_url}/marketing_messages`, the same body),
//! authenticated with a per-number `D360-API-KEY` header (360dialog injects the phone number id
//! itself).
//!
//! Templates go through 360dialog's own `GET/POST {base_url}/v1/configs/templates` (reference
//! §8.1, from memory rather than a fetched document): the API key names the WABA, so the WABA
//! id is not in the path. A listing is `waba_templates[]` (or Graph's `data[]`) paged by
//! `offset` up to `total`; templates themselves are in Meta's shape.
//!
//! Media (inferred from reference §8.1, not from a fetched document): `POST {base_url}/media`
//! (Meta's multipart form), `GET {base_url}/{media_id}` (Meta's info answer), and the download
//! URL's path and query fetched through `base_url` with the key, since Meta's lookaside host
//! does not take 360dialog's key.

use std::fmt;

use async_trait::async_trait;
use reqwest::header::HeaderValue;
use serde::Deserialize;
use serde_json::Value;

use crate::cloud_api::{post_message, secret_header};
use crate::media::{self, MediaInfo};
use crate::templates::{self, ManageError, MAX_PAGES, PAGE_LIMIT};
use crate::{cloud_api_body, Provider, SendOutcome, SendRequest};

/// How to reach one phone number through 360dialog.
#[derive(Clone, Deserialize)]
pub struct Dialog360Config {
    /// API root, `https://waba-v2.360dialog.io` for the Cloud API.
    #[serde(default = "default_base_url")]
    pub base_url: String,
    /// The number's `D360-API-KEY`.
    pub api_key: String,
}

/// 360dialog's Cloud API root.
pub fn default_base_url() -> String {
    "https://waba-v2.360dialog.io".into()
}

impl Dialog360Config {
    /// A config with the default base URL.
    pub fn new(api_key: impl Into<String>) -> Self {
        Self {
            base_url: default_base_url(),
            api_key: api_key.into(),
        }
    }
}

// Hand-written so the key never reaches a log through `{:?}`.
impl fmt::Debug for Dialog360Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Dialog360Config")
            .field("base_url", &self.base_url)
            .field("api_key", &"***")
            .finish()
    }
}

/// Sends through 360dialog.
pub struct Dialog360Provider {
    client: reqwest::Client,
    url: String,
    /// `{base_url}/v1/configs/templates`.
    templates_url: String,
    /// `None` when the key cannot be a header value; every send then reports `NotSent`.
    api_key: Option<HeaderValue>,
    /// The API root without a trailing slash, where `/media` and media ids hang.
    base_url: String,
}

impl Dialog360Provider {
    /// Builds the provider; `client` is shared (see [`crate::http_client`]).
    pub fn new(config: Dialog360Config, client: reqwest::Client) -> Self {
        Self {
            client,
            url: format!("{}/messages", config.base_url.trim_end_matches('/')),
            templates_url: format!(
                "{}/v1/configs/templates",
                config.base_url.trim_end_matches('/')
            ),
            api_key: secret_header(&config.api_key),
            base_url: config.base_url.trim_end_matches('/').to_owned(),
        }
    }

    /// The endpoint messages are posted to.
    pub fn url(&self) -> &str {
        &self.url
    }
}

impl fmt::Debug for Dialog360Provider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Dialog360Provider")
            .field("url", &self.url)
            .finish_non_exhaustive()
    }
}

#[async_trait]
impl Provider for Dialog360Provider {
    async fn send(&self, req: SendRequest<'_>) -> SendOutcome {
        let Some(api_key) = &self.api_key else {
            return SendOutcome::NotSent {
                reason: "the API key contains characters not allowed in an HTTP header".into(),
            };
        };
        let request = self
            .client
            .post(req.path.url(&self.url).as_ref())
            .header("D360-API-KEY", api_key.clone());
        post_message(request, &cloud_api_body(&req)).await
    }

    async fn list_templates(&self, _waba_id: &str) -> Result<Vec<Value>, ManageError> {
        let api_key = self.management_key()?;
        let mut items: Vec<Value> = Vec::new();
        for _ in 0..MAX_PAGES {
            let query = [
                ("limit", PAGE_LIMIT.to_string()),
                ("offset", items.len().to_string()),
            ];
            let request = self
                .client
                .get(templates::with_query(&self.templates_url, &query)?)
                .header("D360-API-KEY", api_key.clone());
            let page = templates::call(request).await?;
            let data = page
                .get("waba_templates")
                .or_else(|| page.get("data"))
                .and_then(Value::as_array)
                .ok_or_else(|| {
                    ManageError::BadAnswer("a page of templates without `waba_templates`".into())
                })?;
            items.extend(data.iter().cloned());
            let total = page.get("total").and_then(Value::as_u64);
            let more = total.is_some_and(|t| (items.len() as u64) < t);
            if data.is_empty() || !more {
                return Ok(items);
            }
        }
        Err(ManageError::BadAnswer(format!(
            "the listing did not end within {MAX_PAGES} pages"
        )))
    }

    async fn create_template(&self, _waba_id: &str, body: &Value) -> Result<Value, ManageError> {
        let request = self
            .client
            .post(&self.templates_url)
            .header("D360-API-KEY", self.management_key()?)
            .json(body);
        templates::call(request).await
    }

    async fn mark_read(&self, wamid: &str, typing: bool) -> Result<(), ManageError> {
        let request = self
            .client
            .post(&self.url)
            .header("D360-API-KEY", self.management_key()?)
            .json(&crate::read_receipt_body(wamid, typing));
        templates::call(request).await.map(|_| ())
    }

    async fn upload_media(
        &self,
        mime: &str,
        filename: &str,
        bytes: Vec<u8>,
    ) -> Result<String, ManageError> {
        let request = self
            .client
            .post(format!("{}/media", self.base_url))
            .header("D360-API-KEY", self.management_key()?)
            .timeout(media::MEDIA_TIMEOUT)
            .multipart(media::upload_form(mime, filename, bytes)?);
        media::uploaded_id(&templates::call(request).await?)
    }

    async fn media_info(&self, media_id: &str) -> Result<MediaInfo, ManageError> {
        media::check_media_id(media_id)?;
        let request = self
            .client
            .get(format!("{}/{media_id}", self.base_url))
            .header("D360-API-KEY", self.management_key()?);
        media::info(&templates::call(request).await?)
    }

    async fn download_media(&self, url: &str) -> Result<Vec<u8>, ManageError> {
        // Meta's lookaside host does not take 360dialog's key: the same path is fetched
        // through 360dialog's host instead.
        let request = self
            .client
            .get(media::rehost(url, &self.base_url)?)
            .header("D360-API-KEY", self.management_key()?);
        media::download(request).await
    }
}

impl Dialog360Provider {
    fn management_key(&self) -> Result<HeaderValue, ManageError> {
        self.api_key.clone().ok_or_else(|| {
            ManageError::Unsupported(
                "the API key contains characters not allowed in an HTTP header".into(),
            )
        })
    }
}
