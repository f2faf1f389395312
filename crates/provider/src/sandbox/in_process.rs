//! The sandbox called in process: the same Graph API router, request and answer as over HTTP,
//! without a socket. The default channel uses it, so the simulated WhatsApp does not cost a second
//! HTTP exchange per message on the gateway's own cores.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use axum::body::Body;
use axum::http::header::{AUTHORIZATION, CONTENT_TYPE};
use axum::http::{HeaderValue, Method, Request};
use axum::Router;
use tower::ServiceExt;

use super::Sandbox;
use serde_json::Value;

use crate::cloud_api::{outcome_from_answer, retry_after_secs};
use crate::media::{self, MediaInfo};
use crate::templates::{self, all_pages, ManageError, PAGE_LIMIT};
use crate::{cloud_api_body, Provider, SendOutcome, SendRequest};

/// Largest answer read back (Meta's answers are a few hundred bytes).
const MAX_ANSWER: usize = 1024 * 1024;

/// A provider that hands Cloud API requests straight to an in-process [`Sandbox`].
pub struct InProcessProvider {
    router: Router,
    path: String,
    /// `/{version}`, where WABA-level paths (templates) hang.
    root: String,
    authorization: Option<HeaderValue>,
    timeout: Duration,
}

impl InProcessProvider {
    /// Sends as `phone_number_id` with `access_token`, giving up (outcome unknown) after `timeout`
    /// like the HTTP client would.
    pub fn new(
        sandbox: &Arc<Sandbox>,
        api_version: &str,
        phone_number_id: &str,
        access_token: &str,
        timeout: Duration,
    ) -> Self {
        Self {
            router: sandbox.graph_router(),
            path: format!(
                "/{}/{}/messages",
                api_version.trim_matches('/'),
                phone_number_id
            ),
            root: format!("/{}", api_version.trim_matches('/')),
            authorization: HeaderValue::from_str(&format!("Bearer {access_token}")).ok(),
            timeout,
        }
    }

    /// One template management call through the router, read like an HTTP answer.
    async fn manage(
        &self,
        method: Method,
        path_and_query: String,
        body: Option<&Value>,
    ) -> Result<Value, ManageError> {
        let mut request = Request::builder().method(method).uri(path_and_query);
        if let Some(auth) = &self.authorization {
            request = request.header(AUTHORIZATION, auth.clone());
        }
        let body = match body {
            Some(body) => {
                request = request.header(CONTENT_TYPE, "application/json");
                Body::from(body.to_string())
            }
            None => Body::empty(),
        };
        let request = request
            .body(body)
            .map_err(|e| ManageError::Unsupported(format!("cannot build the request: {e}")))?;
        let call = async {
            let response = match self.router.clone().oneshot(request).await {
                Ok(r) => r,
                Err(never) => match never {},
            };
            let status = response.status();
            let bytes = axum::body::to_bytes(response.into_body(), MAX_ANSWER)
                .await
                .map_err(|e| ManageError::Unreachable(format!("answer unreadable: {e}")))?;
            templates::answer(status, &bytes)
        };
        tokio::time::timeout(self.timeout, call)
            .await
            .map_err(|_| ManageError::Unreachable(format!("no answer within {:?}", self.timeout)))?
    }

    /// `/{version}/{waba_id}/message_templates`, the id checked so it cannot change the path.
    fn templates_path(&self, waba_id: &str) -> Result<String, ManageError> {
        if waba_id.is_empty() || !waba_id.bytes().all(|b| b.is_ascii_digit()) {
            return Err(ManageError::Unsupported(format!(
                "the WABA id {waba_id:?} is not a Meta id (digits)"
            )));
        }
        Ok(format!("{}/{waba_id}/message_templates", self.root))
    }
}

#[async_trait]
impl Provider for InProcessProvider {
    async fn send(&self, req: SendRequest<'_>) -> SendOutcome {
        let body = match serde_json::to_vec(&cloud_api_body(&req)) {
            Ok(b) => b,
            Err(e) => {
                return SendOutcome::NotSent {
                    reason: format!("cannot encode the body: {e}"),
                }
            }
        };
        let path = req.path.url(&self.path);
        let mut request = Request::post(path.as_ref()).header(CONTENT_TYPE, "application/json");
        if let Some(auth) = &self.authorization {
            request = request.header(AUTHORIZATION, auth.clone());
        }
        let request = match request.body(Body::from(body)) {
            Ok(r) => r,
            Err(e) => {
                return SendOutcome::NotSent {
                    reason: format!("cannot build the request: {e}"),
                }
            }
        };
        let call = async {
            let response = match self.router.clone().oneshot(request).await {
                Ok(r) => r,
                Err(never) => match never {},
            };
            let status = response.status();
            let retry_after = retry_after_secs(response.headers());
            match axum::body::to_bytes(response.into_body(), MAX_ANSWER).await {
                Ok(bytes) => outcome_from_answer(status, retry_after, &bytes),
                Err(e) => SendOutcome::Unknown {
                    reason: format!("answer unreadable: {e}"),
                },
            }
        };
        match tokio::time::timeout(self.timeout, call).await {
            Ok(outcome) => outcome,
            // The sandbox may have recorded it (timeout after accept): like a real timeout, unknown.
            Err(_) => SendOutcome::Unknown {
                reason: format!("no answer within {:?}", self.timeout),
            },
        }
    }

    async fn list_templates(&self, waba_id: &str) -> Result<Vec<Value>, ManageError> {
        let path = self.templates_path(waba_id)?;
        all_pages(|after| {
            // The sandbox's cursors are decimal offsets: nothing to escape.
            let query = match after {
                Some(after) => format!("{path}?limit={PAGE_LIMIT}&after={after}"),
                None => format!("{path}?limit={PAGE_LIMIT}"),
            };
            self.manage(Method::GET, query, None)
        })
        .await
    }

    async fn create_template(&self, waba_id: &str, body: &Value) -> Result<Value, ManageError> {
        let path = self.templates_path(waba_id)?;
        self.manage(Method::POST, path, Some(body)).await
    }

    async fn mark_read(&self, wamid: &str, typing: bool) -> Result<(), ManageError> {
        let body = crate::read_receipt_body(wamid, typing);
        self.manage(Method::POST, self.path.clone(), Some(&body))
            .await
            .map(|_| ())
    }

    async fn upload_media(
        &self,
        mime: &str,
        filename: &str,
        bytes: Vec<u8>,
    ) -> Result<String, ManageError> {
        let path = format!("{}/media", self.path.trim_end_matches("/messages"));
        let (content_type, body) = multipart_body(mime, filename, &bytes);
        let answer = self
            .call(Method::POST, path, Some((content_type, body)), MAX_ANSWER)
            .await?;
        media::uploaded_id(&templates::answer(answer.0, &answer.1)?)
    }

    async fn media_info(&self, media_id: &str) -> Result<MediaInfo, ManageError> {
        media::check_media_id(media_id)?;
        let path = format!("{}/{media_id}", self.root);
        let answer = self.call(Method::GET, path, None, MAX_ANSWER).await?;
        media::info(&templates::answer(answer.0, &answer.1)?)
    }

    async fn download_media(&self, url: &str) -> Result<Vec<u8>, ManageError> {
        // The sandbox's URL names this router's path; only that part is routed.
        let parsed = reqwest::Url::parse(url)
            .map_err(|e| ManageError::BadAnswer(format!("bad media URL: {e}")))?;
        let mut path = parsed.path().to_owned();
        if let Some(query) = parsed.query() {
            path = format!("{path}?{query}");
        }
        let (status, bytes) = self
            .call(Method::GET, path, None, media::MAX_DOWNLOAD_BYTES)
            .await?;
        if !status.is_success() {
            return Err(templates::answer(status, &bytes)
                .err()
                .unwrap_or_else(|| ManageError::BadAnswer(format!("HTTP {status}"))));
        }
        Ok(bytes.to_vec())
    }
}

impl InProcessProvider {
    /// One raw call through the router: the answer's status and body (at most `max` bytes).
    async fn call(
        &self,
        method: Method,
        path_and_query: String,
        body: Option<(String, Vec<u8>)>,
        max: usize,
    ) -> Result<(axum::http::StatusCode, axum::body::Bytes), ManageError> {
        let mut request = Request::builder().method(method).uri(path_and_query);
        if let Some(auth) = &self.authorization {
            request = request.header(AUTHORIZATION, auth.clone());
        }
        let body = match body {
            Some((content_type, bytes)) => {
                request = request.header(CONTENT_TYPE, content_type);
                Body::from(bytes)
            }
            None => Body::empty(),
        };
        let request = request
            .body(body)
            .map_err(|e| ManageError::Unsupported(format!("cannot build the request: {e}")))?;
        let call = async {
            let response = match self.router.clone().oneshot(request).await {
                Ok(r) => r,
                Err(never) => match never {},
            };
            let status = response.status();
            let bytes = axum::body::to_bytes(response.into_body(), max)
                .await
                .map_err(|e| ManageError::Unreachable(format!("answer unreadable: {e}")))?;
            Ok((status, bytes))
        };
        tokio::time::timeout(media::MEDIA_TIMEOUT, call)
            .await
            .map_err(|_| {
                ManageError::Unreachable(format!("no answer within {:?}", media::MEDIA_TIMEOUT))
            })?
    }
}

/// Meta's upload form (`messaging_product`, `type`, `file`) as a `multipart/form-data` body,
/// with its content type; built by hand since no HTTP client is involved.
fn multipart_body(mime: &str, filename: &str, bytes: &[u8]) -> (String, Vec<u8>) {
    let boundary = format!("chasqui-{}", uuid::Uuid::now_v7().simple());
    // Quotes and line breaks would end the header early.
    let filename: String = filename
        .chars()
        .filter(|c| !matches!(c, '"' | '\r' | '\n'))
        .collect();
    let mime: String = mime.chars().filter(|c| !c.is_control()).collect();
    let mut body = Vec::with_capacity(bytes.len() + 512);
    for (name, value) in [("messaging_product", "whatsapp"), ("type", mime.as_str())] {
        body.extend_from_slice(
            format!(
                "--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n"
            )
            .as_bytes(),
        );
    }
    body.extend_from_slice(
        format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{filename}\"\r\nContent-Type: {mime}\r\n\r\n"
        )
        .as_bytes(),
    );
    body.extend_from_slice(bytes);
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={boundary}"), body)
}
