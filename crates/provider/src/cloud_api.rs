//! Meta's WhatsApp Cloud API: `POST {base_url}/{version}/{phone_number_id}/messages`.
//!
//! Also home of the answer handling every Cloud-API-shaped provider shares ([`post_message`]):
//! Meta has no idempotency key, so the line between `NotSent` (safe to retry) and `Unknown`
//! (never resend blindly) is drawn here, once.

use std::error::Error as _;
use std::fmt;

use async_trait::async_trait;
use chasqui_domain::MetaError;
use reqwest::header::{HeaderMap, HeaderValue, AUTHORIZATION, RETRY_AFTER};
use reqwest::{RequestBuilder, StatusCode};
use serde::Deserialize;
use serde_json::Value;

use crate::media::{self, MediaInfo};
use crate::templates::{self, all_pages, ManageError, PAGE_LIMIT};
use crate::{cloud_api_body, Provider, SendOutcome, SendRequest};

/// How to reach one phone number through Meta's Graph API.
#[derive(Clone, Deserialize)]
pub struct CloudApiConfig {
    /// Graph API root, e.g. `https://graph.facebook.com` or the sandbox's address.
    #[serde(default = "default_base_url")]
    pub base_url: String,
    /// Graph API version path segment, e.g. `v23.0`.
    #[serde(default = "default_api_version")]
    pub api_version: String,
    /// The business phone number's id (not the number itself).
    pub phone_number_id: String,
    /// System-user access token with `whatsapp_business_messaging`.
    pub access_token: String,
}

/// Meta's Graph API root.
pub fn default_base_url() -> String {
    "https://graph.facebook.com".into()
}

/// Chasqui's default Graph API version (a current one).
pub fn default_api_version() -> String {
    chasqui_domain::graph_version::DEFAULT.into()
}

impl CloudApiConfig {
    /// A config with the default base URL and version.
    pub fn new(phone_number_id: impl Into<String>, access_token: impl Into<String>) -> Self {
        Self {
            base_url: default_base_url(),
            api_version: default_api_version(),
            phone_number_id: phone_number_id.into(),
            access_token: access_token.into(),
        }
    }

    /// The send endpoint this config points at.
    pub fn messages_url(&self) -> String {
        format!(
            "{}/{}/{}/messages",
            self.base_url.trim_end_matches('/'),
            self.api_version.trim_matches('/'),
            self.phone_number_id
        )
    }

    /// `{base_url}/{version}`, where WABA-level paths (templates) hang.
    pub fn graph_root(&self) -> String {
        format!(
            "{}/{}",
            self.base_url.trim_end_matches('/'),
            self.api_version.trim_matches('/')
        )
    }
}

// Hand-written so the token never reaches a log through `{:?}`.
impl fmt::Debug for CloudApiConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CloudApiConfig")
            .field("base_url", &self.base_url)
            .field("api_version", &self.api_version)
            .field("phone_number_id", &self.phone_number_id)
            .field("access_token", &"***")
            .finish()
    }
}

/// Sends through Meta's Cloud API (or anything with the same contract, like the sandbox).
pub struct CloudApiProvider {
    client: reqwest::Client,
    url: String,
    /// `{base_url}/{version}`.
    root: String,
    /// `None` when the token cannot be a header value; every send then reports `NotSent`.
    authorization: Option<HeaderValue>,
}

impl CloudApiProvider {
    /// Builds the provider; `client` is shared (see [`crate::http_client`]).
    pub fn new(config: CloudApiConfig, client: reqwest::Client) -> Self {
        let authorization = secret_header(&format!("Bearer {}", config.access_token));
        Self {
            client,
            url: config.messages_url(),
            root: config.graph_root(),
            authorization,
        }
    }

    /// The endpoint messages are posted to.
    pub fn url(&self) -> &str {
        &self.url
    }
}

impl fmt::Debug for CloudApiProvider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CloudApiProvider")
            .field("url", &self.url)
            .finish_non_exhaustive()
    }
}

#[async_trait]
impl Provider for CloudApiProvider {
    async fn send(&self, req: SendRequest<'_>) -> SendOutcome {
        let Some(authorization) = &self.authorization else {
            return SendOutcome::NotSent {
                reason: "the access token contains characters not allowed in an HTTP header".into(),
            };
        };
        let request = self
            .client
            .post(req.path.url(&self.url).as_ref())
            .header(AUTHORIZATION, authorization.clone());
        post_message(request, &cloud_api_body(&req)).await
    }

    async fn list_templates(&self, waba_id: &str) -> Result<Vec<Value>, ManageError> {
        let authorization = self.management_auth()?;
        let url = self.templates_url(waba_id)?;
        all_pages(|after| {
            let mut query = vec![("limit", PAGE_LIMIT.to_string())];
            query.extend(after.map(|a| ("after", a)));
            let request = templates::with_query(&url, &query).map(|url| {
                self.client
                    .get(url)
                    .header(AUTHORIZATION, authorization.clone())
            });
            async move { templates::call(request?).await }
        })
        .await
    }

    async fn create_template(&self, waba_id: &str, body: &Value) -> Result<Value, ManageError> {
        let request = self
            .client
            .post(self.templates_url(waba_id)?)
            .header(AUTHORIZATION, self.management_auth()?)
            .json(body);
        templates::call(request).await
    }

    async fn mark_read(&self, wamid: &str, typing: bool) -> Result<(), ManageError> {
        let request = self
            .client
            .post(&self.url)
            .header(AUTHORIZATION, self.management_auth()?)
            .json(&crate::read_receipt_body(wamid, typing));
        templates::call(request).await.map(|_| ())
    }

    async fn upload_media(
        &self,
        mime: &str,
        filename: &str,
        bytes: Vec<u8>,
    ) -> Result<String, ManageError> {
        // The messages URL ends in `/messages`; the upload is its sibling `/media`.
        let url = format!("{}/media", self.url.trim_end_matches("/messages"));
        let request = self
            .client
            .post(url)
            .header(AUTHORIZATION, self.management_auth()?)
            .timeout(media::MEDIA_TIMEOUT)
            .multipart(media::upload_form(mime, filename, bytes)?);
        media::uploaded_id(&templates::call(request).await?)
    }

    async fn media_info(&self, media_id: &str) -> Result<MediaInfo, ManageError> {
        media::check_media_id(media_id)?;
        let request = self
            .client
            .get(format!("{}/{media_id}", self.root))
            .header(AUTHORIZATION, self.management_auth()?);
        media::info(&templates::call(request).await?)
    }

    async fn download_media(&self, url: &str) -> Result<Vec<u8>, ManageError> {
        let request = self
            .client
            .get(url)
            .header(AUTHORIZATION, self.management_auth()?);
        media::download(request).await
    }
}

impl CloudApiProvider {
    fn management_auth(&self) -> Result<HeaderValue, ManageError> {
        self.authorization.clone().ok_or_else(|| {
            ManageError::Unsupported(
                "the access token contains characters not allowed in an HTTP header".into(),
            )
        })
    }

    /// `{root}/{waba_id}/message_templates`; the id must be digits so it cannot change the path.
    fn templates_url(&self, waba_id: &str) -> Result<String, ManageError> {
        if waba_id.is_empty() || !waba_id.bytes().all(|b| b.is_ascii_digit()) {
            return Err(ManageError::Unsupported(format!(
                "the WABA id {waba_id:?} is not a Meta id (digits)"
            )));
        }
        Ok(format!("{}/{waba_id}/message_templates", self.root))
    }
}

/// A header value marked sensitive (hidden from hyper's debug output), or `None` if invalid.
pub(crate) fn secret_header(value: &str) -> Option<HeaderValue> {
    let mut header = HeaderValue::from_str(value).ok()?;
    header.set_sensitive(true);
    Some(header)
}

/// Posts a Cloud API body and turns whatever happens into a [`SendOutcome`]; shared by every
/// provider that speaks the Cloud API contract.
pub(crate) async fn post_message(request: RequestBuilder, body: &Value) -> SendOutcome {
    let response = match request.json(body).send().await {
        Ok(response) => response,
        Err(error) => return transport_outcome(&error),
    };
    let status = response.status();
    let retry_after = retry_after_secs(response.headers());
    match response.bytes().await {
        Ok(bytes) => outcome_from_answer(status, retry_after, &bytes),
        // Accepted or not, we cannot tell without the body: never guess "not sent".
        Err(error) if status.is_success() => SendOutcome::Unknown {
            reason: format!(
                "HTTP {status} but the body could not be read: {}",
                chain(&error)
            ),
        },
        Err(_) => outcome_from_answer(status, retry_after, &[]),
    }
}

/// Errors before any answer: only a failure to connect (refused, DNS, TLS handshake, connect
/// timeout) proves the request was never written.
fn transport_outcome(error: &reqwest::Error) -> SendOutcome {
    let reason = chain(error);
    if error.is_connect() || error.is_builder() {
        SendOutcome::NotSent { reason }
    } else {
        SendOutcome::Unknown { reason }
    }
}

/// The error and its sources on one line (reqwest's top-level message alone says little).
pub(crate) fn chain(error: &reqwest::Error) -> String {
    let mut out = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        out.push_str(": ");
        out.push_str(&cause.to_string());
        source = cause.source();
    }
    out
}

/// `Retry-After` in whole seconds (the delta-seconds form; HTTP dates are ignored).
pub(crate) fn retry_after_secs(headers: &HeaderMap) -> Option<u64> {
    let text = headers.get(RETRY_AFTER)?.to_str().ok()?.trim();
    text.parse::<u64>().ok().or_else(|| {
        text.parse::<f64>()
            .ok()
            .filter(|s| s.is_finite() && *s >= 0.0)
            .map(|s| s.ceil() as u64)
    })
}

/// Maps a complete HTTP answer to an outcome. Pure, so every branch is unit-tested.
pub(crate) fn outcome_from_answer(
    status: StatusCode,
    retry_after_secs: Option<u64>,
    body: &[u8],
) -> SendOutcome {
    let json: Option<Value> = serde_json::from_slice(body).ok();
    if status.is_success() {
        let accepted = json.as_ref().and_then(|v| {
            let wamid = v
                .pointer("/messages/0/id")?
                .as_str()
                .filter(|id| !id.is_empty())?;
            let wa_id = v
                .pointer("/contacts/0/wa_id")
                .and_then(Value::as_str)
                .map(str::to_owned);
            Some(SendOutcome::Accepted {
                wamid: wamid.to_owned(),
                wa_id,
            })
        });
        return accepted.unwrap_or_else(|| SendOutcome::Unknown {
            reason: format!("HTTP {status} without messages[0].id: {}", excerpt(body)),
        });
    }
    let meta = json.as_ref().and_then(|v| meta_error(v, status));
    // A bare 502/504 comes from a proxy in front of the API, which may already have forwarded
    // the request: that is an unknown outcome, not a refusal.
    if meta.is_none()
        && matches!(
            status,
            StatusCode::BAD_GATEWAY | StatusCode::GATEWAY_TIMEOUT
        )
    {
        return SendOutcome::Unknown {
            reason: format!(
                "{} from an intermediary: {}",
                status_line(status),
                excerpt(body)
            ),
        };
    }
    let error = meta.unwrap_or_else(|| MetaError {
        code: -1,
        title: status_line(status),
        details: Some(excerpt(body)).filter(|d| !d.is_empty()),
    });
    SendOutcome::Rejected {
        http_status: status.as_u16(),
        error,
        retry_after_secs,
    }
}

/// Parses Meta's `{"error":{..}}` envelope; `None` when the body is not one.
pub(crate) fn meta_error(body: &Value, status: StatusCode) -> Option<MetaError> {
    let error = body.get("error")?.as_object()?;
    let code = error.get("code")?.as_i64()?;
    let text = |key: &str| {
        error
            .get(key)
            .and_then(Value::as_str)
            .map(str::trim)
            .filter(|s| !s.is_empty())
    };
    let title = text("error_user_title")
        .map(str::to_owned)
        .or_else(|| {
            text("message").map(|m| {
                let prefix = format!("(#{code})");
                m.strip_prefix(&prefix)
                    .map(str::trim_start)
                    .unwrap_or(m)
                    .to_owned()
            })
        })
        .unwrap_or_else(|| status_line(status));
    let details = error
        .get("error_data")
        .and_then(|d| d.get("details"))
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .or_else(|| text("error_user_msg"))
        .map(str::to_owned);
    Some(MetaError {
        code,
        title,
        details,
    })
}

/// `HTTP 503 Service Unavailable`.
pub(crate) fn status_line(status: StatusCode) -> String {
    match status.canonical_reason() {
        Some(reason) => format!("HTTP {} {reason}", status.as_u16()),
        None => format!("HTTP {}", status.as_u16()),
    }
}

/// The first 200 characters of a body, lossily decoded.
fn excerpt(body: &[u8]) -> String {
    String::from_utf8_lossy(body).chars().take(200).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn answer(status: u16, body: &Value) -> SendOutcome {
        let status = StatusCode::from_u16(status).unwrap();
        outcome_from_answer(status, None, body.to_string().as_bytes())
    }

    #[test]
    fn success_with_id_is_accepted() {
        let body = json!({"messaging_product":"whatsapp","contacts":[{"input":"+1 650","wa_id":"1650"}],
            "messages":[{"id":"wamid.X","message_status":"accepted"}]});
        assert_eq!(
            answer(200, &body),
            SendOutcome::Accepted {
                wamid: "wamid.X".into(),
                wa_id: Some("1650".into())
            }
        );
    }

    #[test]
    fn success_without_id_is_unknown() {
        assert!(matches!(
            answer(200, &json!({"messages":[]})),
            SendOutcome::Unknown { .. }
        ));
        let garbage = outcome_from_answer(StatusCode::OK, None, b"<html>");
        assert!(matches!(garbage, SendOutcome::Unknown { .. }));
    }

    #[test]
    fn meta_envelope_prefers_user_title_and_error_data() {
        let body = json!({"error":{"message":"(#131056) (Business Account, Consumer Account) pair rate limit hit",
            "type":"OAuthException","code":131056,"error_subcode":2494071,
            "error_data":{"messaging_product":"whatsapp","details":"too many"},
            "error_user_title":"Pair limit","error_user_msg":"slow down","fbtrace_id":"A"}});
        let SendOutcome::Rejected {
            http_status, error, ..
        } = answer(400, &body)
        else {
            panic!()
        };
        assert_eq!(http_status, 400);
        assert_eq!(
            error,
            MetaError {
                code: 131056,
                title: "Pair limit".into(),
                details: Some("too many".into())
            }
        );
    }

    #[test]
    fn meta_envelope_strips_code_prefix_and_falls_back_to_user_msg() {
        let body = json!({"error":{"message":"(#100) Invalid parameter","type":"OAuthException","code":100,
            "error_user_msg":"fix it","fbtrace_id":"A"}});
        let SendOutcome::Rejected { error, .. } = answer(400, &body) else {
            panic!()
        };
        assert_eq!(
            error,
            MetaError {
                code: 100,
                title: "Invalid parameter".into(),
                details: Some("fix it".into())
            }
        );
    }

    #[test]
    fn non_meta_body_is_synthesised() {
        let body = "x".repeat(500);
        let outcome =
            outcome_from_answer(StatusCode::SERVICE_UNAVAILABLE, Some(7), body.as_bytes());
        let SendOutcome::Rejected {
            http_status,
            error,
            retry_after_secs,
        } = outcome
        else {
            panic!()
        };
        assert_eq!((http_status, retry_after_secs), (503, Some(7)));
        assert_eq!(error.code, -1);
        assert_eq!(error.title, "HTTP 503 Service Unavailable");
        assert_eq!(error.details.map(|d| d.len()), Some(200));
    }

    #[test]
    fn bare_gateway_timeout_is_unknown() {
        let outcome =
            outcome_from_answer(StatusCode::GATEWAY_TIMEOUT, None, b"<html>timeout</html>");
        assert!(matches!(outcome, SendOutcome::Unknown { .. }));
        let meta = json!({"error":{"message":"(#2) Service temporarily unavailable","code":2}});
        assert!(matches!(answer(504, &meta), SendOutcome::Rejected { .. }));
    }

    #[test]
    fn retry_after_forms() {
        let mut headers = HeaderMap::new();
        assert_eq!(retry_after_secs(&headers), None);
        headers.insert(RETRY_AFTER, HeaderValue::from_static("12"));
        assert_eq!(retry_after_secs(&headers), Some(12));
        headers.insert(RETRY_AFTER, HeaderValue::from_static("1.5"));
        assert_eq!(retry_after_secs(&headers), Some(2));
        headers.insert(
            RETRY_AFTER,
            HeaderValue::from_static("Wed, 21 Oct 2015 07:28:00 GMT"),
        );
        assert_eq!(retry_after_secs(&headers), None);
    }

    #[test]
    fn debug_never_shows_the_token() {
        let config = CloudApiConfig::new("123", "EAAG-secret");
        assert!(!format!("{config:?}").contains("EAAG"));
        assert_eq!(
            config.messages_url(),
            "https://graph.facebook.com/v25.0/123/messages"
        );
    }
}
