//! The API's one error type, rendered as RFC 9457 problem details with a stable machine `code`.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use chasqui_domain::MessageId;
use chasqui_domain::Problem;
use serde::Serialize;
use utoipa::ToSchema;

use super::json::JsonError;
use crate::limits::LimitError;

/// The problem code of a NUL character (U+0000) in a field, a path segment or a parameter.
pub const INVALID_CHARACTER: &str = "invalid_character";
/// What is wrong with such a value.
pub const NUL_MESSAGE: &str = "must not contain the NUL character (U+0000)";
/// What a write refused by a stopped store tells the client to do.
const NOT_ACKNOWLEDGED: &str =
    "nothing was acknowledged: send it again later (with the same Idempotency-Key)";

/// Every way an API request can fail.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// No `Authorization: Bearer` header.
    #[error("an API key is required: send Authorization: Bearer <key>")]
    MissingApiKey,
    /// The key is unknown or revoked.
    #[error("the API key is not valid")]
    InvalidApiKey,
    /// The credential is valid but lacks the route's scope.
    #[error("this credential lacks the \"{0}\" scope")]
    InsufficientScope(chasqui_domain::Scope),
    /// A login with an unknown user, a wrong password or a disabled user: one answer for all.
    #[error("the username or password is not valid")]
    InvalidCredentials,
    /// Too many failed logins for this username; `Retry-After` says when to try again.
    #[error("too many failed logins for this username; try again in {retry_after_secs} s")]
    LoginThrottled {
        /// Seconds until the username is unlocked.
        retry_after_secs: u64,
    },
    /// The body is not `application/json`.
    #[error("the body must be JSON (Content-Type: application/json)")]
    UnsupportedMediaType,
    /// The body is not of a type this operation takes (one that takes more than JSON).
    #[error("the body must be {0}")]
    UnsupportedContentType(&'static str),
    /// The body is not CSV, or CSV without a usable header row.
    #[error("the body is not usable CSV: {0}")]
    InvalidCsv(String),
    /// The body is over the limit.
    #[error("the body is larger than {0} bytes")]
    PayloadTooLarge(usize),
    /// The body is not JSON, or a JSON value of the wrong shape.
    #[error("the body is not valid JSON: {0}")]
    InvalidJson(String),
    /// The body names one key twice in an object: which value counts is ambiguous.
    #[error("the body is not valid JSON: the key \"{key}\" appears more than once at `{path}`")]
    DuplicateKey {
        /// The field path of the repeated key.
        path: String,
        /// The key.
        key: String,
    },
    /// The request broke WhatsApp's rules: every problem, with its field.
    #[error("the request has {} problem(s)", .0.len())]
    Validation(Vec<Problem>),
    /// A well-formed request WhatsApp's rules forbid now (`window_closed`, `contact_opted_out`,
    /// `template_not_found`...): the problem's code is the answer's code.
    #[error("{}", .0.message)]
    Refused(Problem),
    /// The change would make a value another resource's (a contact's wa_id, say).
    #[error("{0}")]
    Conflict(String),
    /// A query parameter or header is malformed.
    #[error("{message}")]
    BadParameter {
        /// The parameter.
        field: String,
        /// What is wrong.
        message: String,
    },
    /// A path segment or query parameter holds the NUL character.
    #[error("`{field}` {}", NUL_MESSAGE)]
    NulInParameter {
        /// The path parameter or query parameter.
        field: String,
    },
    /// The `Idempotency-Key` was used with another body.
    #[error("the Idempotency-Key was already used with a different body (message {0})")]
    IdempotencyConflict(MessageId),
    /// No such resource in this workspace.
    #[error("{0} not found")]
    NotFound(String),
    /// A template send names no template of the channel's registry in that language.
    #[error("no template \"{name}\" in language \"{language}\" on this channel")]
    TemplateNotFound {
        /// `template.name`.
        name: String,
        /// `template.language.code`.
        language: String,
    },
    /// The provider refused a management call (Meta's code, title and details).
    #[error("the provider refused the request: {} {}", .0.code, .0.title)]
    ProviderRejected(chasqui_domain::MetaError),
    /// The provider could not be reached or did not answer as expected.
    #[error("the provider did not answer: {0}")]
    ProviderUnavailable(String),
    /// Over a quota or limit: `429` with `Retry-After` and `RateLimit-*` headers.
    #[error("{0}")]
    Limited(crate::limits::LimitError),
    /// The route exists but not for this method.
    #[error("method not allowed")]
    MethodNotAllowed,
    /// The request body did not arrive within `server.body_timeout_ms`.
    #[error("the request body was not received in time")]
    RequestTimeout,
    /// The database did not answer.
    #[error("the service is not ready")]
    Unavailable,
    /// The store stopped accepting writes (a failed fsync) until Chasqui is restarted: the
    /// request was not acknowledged, so it is safe to retry (with its `Idempotency-Key`).
    #[error("{0}")]
    StorageUnavailable(String),
    /// Anything else; details go to the log, not the client.
    #[error("internal error")]
    Internal(String),
}

impl ApiError {
    /// The stable machine code and HTTP status.
    pub fn code_and_status(&self) -> (&'static str, StatusCode) {
        match self {
            Self::MissingApiKey => ("missing_api_key", StatusCode::UNAUTHORIZED),
            Self::InvalidApiKey => ("invalid_api_key", StatusCode::UNAUTHORIZED),
            Self::InsufficientScope(_) => ("insufficient_scope", StatusCode::FORBIDDEN),
            Self::InvalidCredentials => ("invalid_credentials", StatusCode::UNAUTHORIZED),
            Self::LoginThrottled { .. } => ("login_throttled", StatusCode::TOO_MANY_REQUESTS),
            Self::UnsupportedMediaType => {
                ("unsupported_media_type", StatusCode::UNSUPPORTED_MEDIA_TYPE)
            }
            Self::UnsupportedContentType(_) => {
                ("unsupported_media_type", StatusCode::UNSUPPORTED_MEDIA_TYPE)
            }
            Self::InvalidCsv(_) => ("invalid_csv", StatusCode::BAD_REQUEST),
            Self::PayloadTooLarge(_) => ("payload_too_large", StatusCode::PAYLOAD_TOO_LARGE),
            Self::InvalidJson(_) | Self::DuplicateKey { .. } => {
                ("invalid_json", StatusCode::BAD_REQUEST)
            }
            Self::Validation(_) => ("validation_failed", StatusCode::UNPROCESSABLE_ENTITY),
            Self::Refused(p) => (p.code, StatusCode::UNPROCESSABLE_ENTITY),
            Self::Conflict(_) => ("conflict", StatusCode::CONFLICT),
            Self::BadParameter { .. } | Self::NulInParameter { .. } => {
                ("invalid_parameter", StatusCode::BAD_REQUEST)
            }
            Self::IdempotencyConflict(_) => ("idempotency_conflict", StatusCode::CONFLICT),
            Self::NotFound(_) => ("not_found", StatusCode::NOT_FOUND),
            Self::TemplateNotFound { .. } => {
                ("template_not_found", StatusCode::UNPROCESSABLE_ENTITY)
            }
            Self::ProviderRejected(_) => ("provider_rejected", StatusCode::UNPROCESSABLE_ENTITY),
            Self::ProviderUnavailable(_) => ("provider_unavailable", StatusCode::BAD_GATEWAY),
            Self::Limited(LimitError::Exceeded { kind, .. }) => {
                (kind.code(), StatusCode::TOO_MANY_REQUESTS)
            }
            Self::Limited(LimitError::Store(_)) => {
                ("internal_error", StatusCode::INTERNAL_SERVER_ERROR)
            }
            Self::MethodNotAllowed => ("method_not_allowed", StatusCode::METHOD_NOT_ALLOWED),
            Self::RequestTimeout => ("request_timeout", StatusCode::REQUEST_TIMEOUT),
            Self::Unavailable => ("not_ready", StatusCode::SERVICE_UNAVAILABLE),
            Self::StorageUnavailable(_) | Self::Limited(LimitError::StoreUnavailable(_)) => {
                ("storage_unavailable", StatusCode::SERVICE_UNAVAILABLE)
            }
            Self::Internal(_) => ("internal_error", StatusCode::INTERNAL_SERVER_ERROR),
        }
    }
}

impl From<chasqui_store::StoreError> for ApiError {
    fn from(e: chasqui_store::StoreError) -> Self {
        match e {
            chasqui_store::StoreError::Conflict(what) => Self::Conflict(what),
            e @ chasqui_store::StoreError::Unavailable(_) => {
                Self::StorageUnavailable(format!("{e}; {NOT_ACKNOWLEDGED}"))
            }
            e => Self::Internal(e.to_string()),
        }
    }
}

impl ApiError {
    /// A provider's refusal of a management call: its judgement of the request (a 4xx other
    /// than bad credentials) is the caller's problem; bad credentials and the provider's own
    /// failures are the gateway's. A provider that cannot do it at all is a problem of the
    /// `channel` with `unsupported_code`.
    pub fn from_provider(e: chasqui_provider::ManageError, unsupported_code: &'static str) -> Self {
        use chasqui_provider::ManageError;
        match e {
            ManageError::Rejected { http_status, error }
                if (400..500).contains(&http_status) && ![401, 403].contains(&http_status) =>
            {
                Self::ProviderRejected(error)
            }
            ManageError::Unsupported(message) => {
                Self::Validation(vec![Problem::new("channel", unsupported_code, message)])
            }
            other => Self::ProviderUnavailable(other.to_string()),
        }
    }
}

impl From<JsonError> for ApiError {
    fn from(e: JsonError) -> Self {
        match e {
            JsonError::Syntax(detail) => Self::InvalidJson(detail),
            JsonError::DuplicateKey { path, key } => Self::DuplicateKey { path, key },
            JsonError::Nul(fields) => Self::Validation(
                fields
                    .into_iter()
                    .map(|f| Problem::new(f, INVALID_CHARACTER, NUL_MESSAGE))
                    .collect(),
            ),
        }
    }
}

impl From<LimitError> for ApiError {
    fn from(e: LimitError) -> Self {
        match e {
            LimitError::Store(detail) => Self::Internal(detail),
            LimitError::StoreUnavailable(why) => {
                Self::StorageUnavailable(format!("{why}; {NOT_ACKNOWLEDGED}"))
            }
            e => Self::Limited(e),
        }
    }
}

/// A problem as the API answers it (RFC 9457 problem details with Chasqui's stable `code`).
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = Problem, example = json!({"type": "urn:chasqui:problem:validation_failed",
    "title": "Unprocessable Entity", "status": 422, "code": "validation_failed",
    "detail": "the request has 1 problem(s)", "request_id": "01JDX3Y8Q7ZK2M9T5B6C4N1P0R",
    "errors": [{"field": "text.body", "code": "too_long",
        "message": "must be at most 4096 characters"}]}))]
pub struct ProblemBody {
    /// `urn:chasqui:problem:<code>`.
    #[serde(rename = "type")]
    pub kind: String,
    /// The HTTP status's reason phrase.
    pub title: &'static str,
    /// The HTTP status.
    pub status: u16,
    /// The stable machine code: decide on this.
    pub code: &'static str,
    /// What went wrong, for a person.
    pub detail: String,
    /// The request's id (`X-Request-Id`), to find it in the logs.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    /// Every problem of the request, each naming its field.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<Problem>,
    /// The provider's error, for `provider_rejected`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub provider_error: Option<chasqui_domain::MetaError>,
    /// The quota's size, for a quota refusal.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub limit: Option<i64>,
    /// What is left of it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub remaining: Option<i64>,
    /// Seconds until it resets.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reset_secs: Option<u64>,
    /// Seconds to wait before trying again.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retry_after_secs: Option<u64>,
}

impl ProblemBody {
    /// A problem with only its code, status and detail (and the request's id).
    pub fn new(code: &'static str, status: StatusCode, detail: String) -> Self {
        Self {
            kind: format!("urn:chasqui:problem:{code}"),
            title: status.canonical_reason().unwrap_or("error"),
            status: status.as_u16(),
            code,
            detail,
            request_id: crate::telemetry::request::current(),
            errors: Vec::new(),
            provider_error: None,
            limit: None,
            remaining: None,
            reset_secs: None,
            retry_after_secs: None,
        }
    }

    /// Answers it as `application/problem+json`.
    pub fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let mut resp = (status, axum::Json(self)).into_response();
        resp.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        resp
    }
}

impl ApiError {
    /// The problem body of this error.
    pub fn body(&self, code: &'static str, status: StatusCode) -> ProblemBody {
        let mut body = ProblemBody::new(code, status, self.to_string());
        match self {
            Self::Validation(problems) => body.errors = problems.clone(),
            Self::Refused(problem) => body.errors = vec![problem.clone()],
            Self::BadParameter { field, message } => {
                body.errors = vec![Problem::new(
                    field.clone(),
                    "invalid_value",
                    message.clone(),
                )]
            }
            Self::NulInParameter { field } => {
                body.errors = vec![Problem::new(field.clone(), INVALID_CHARACTER, NUL_MESSAGE)]
            }
            Self::DuplicateKey { path, key } => {
                body.errors = vec![Problem::new(
                    path.clone(),
                    "duplicate_key",
                    format!("the key \"{key}\" appears more than once in this object"),
                )]
            }
            Self::TemplateNotFound { .. } => {
                body.errors = vec![Problem::new(
                    "template.name",
                    "template_not_found",
                    self.to_string(),
                )]
            }
            Self::ProviderRejected(error) => body.provider_error = Some(error.clone()),
            Self::Limited(LimitError::Exceeded {
                headers,
                retry_after_secs,
                ..
            }) => {
                body.limit = Some(headers.limit);
                body.remaining = Some(headers.remaining);
                body.reset_secs = Some(headers.reset_secs);
                body.retry_after_secs = Some(*retry_after_secs);
            }
            Self::LoginThrottled { retry_after_secs } => {
                body.retry_after_secs = Some(*retry_after_secs)
            }
            _ => {}
        }
        body
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (code, status) = self.code_and_status();
        match &self {
            Self::Internal(detail) | Self::Limited(LimitError::Store(detail)) => {
                tracing::error!(error = %detail, "internal error")
            }
            _ => {}
        }
        let mut resp = self.body(code, status).into_response();
        if let Self::Limited(LimitError::Exceeded {
            headers,
            retry_after_secs,
            ..
        }) = &self
        {
            headers.apply(resp.headers_mut());
            resp.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(*retry_after_secs));
        }
        if let Self::LoginThrottled { retry_after_secs } = &self {
            resp.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(*retry_after_secs));
        }
        if status == StatusCode::UNAUTHORIZED {
            resp.headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        resp
    }
}
