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
        let mut request = Request::post(&self.path).header(CONTENT_TYPE, "application/json");
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
}
