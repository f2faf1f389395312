//! The control API (JSON), mounted wherever the caller likes (`/sandbox/` standalone):
//! `GET|PATCH /settings`, `GET|DELETE /messages`, `GET /stats`, `POST /inbound`.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::{IntoParams, OpenApi, ToSchema};

use super::{
    FieldError, InboundAccepted, InboundRequest, ReceivedMessage, Sandbox, SandboxSettings,
    SandboxStats,
};

/// `GET /messages` answers at most this many entries per call.
const MAX_LIMIT: usize = 10_000;

pub(super) fn router(sandbox: &Arc<Sandbox>) -> Router {
    Router::new()
        .route("/settings", get(get_settings).patch(patch_settings))
        .route("/messages", get(list_messages).delete(clear_messages))
        .route("/stats", get(stats))
        .route("/read_receipts", get(read_receipts))
        .route("/inbound", post(inbound))
        .with_state(sandbox.clone())
}

/// The control API's operations, at the path Chasqui mounts it under (`/v1/sandbox`).
#[derive(OpenApi)]
#[openapi(paths(
    get_settings,
    patch_settings,
    list_messages,
    clear_messages,
    stats,
    inbound
))]
struct ControlDoc;

/// The control API's OpenAPI description, its paths under `/v1/sandbox`.
pub fn openapi() -> utoipa::openapi::OpenApi {
    ControlDoc::openapi()
}

/// The control API's error: the field and what is wrong with it.
#[derive(Debug, Serialize, ToSchema)]
pub struct ControlError {
    /// The refused field.
    pub error: FieldError,
}

/// The messages the simulated Graph API accepted.
#[derive(Debug, Serialize, ToSchema)]
pub struct MessageLog {
    /// Oldest first.
    pub messages: Vec<ReceivedMessage>,
}

/// `GET /read_receipts`.
#[derive(Debug, Serialize, ToSchema)]
pub struct ReadReceiptLog {
    /// Oldest first.
    pub read_receipts: Vec<super::ReadReceipt>,
}

/// The read receipts the business sent (customers' messages marked read).
#[utoipa::path(get, path = "/v1/sandbox/read_receipts", tag = "Sandbox",
    responses((status = 200, description = "Oldest first", body = ReadReceiptLog)))]
async fn read_receipts(State(sandbox): State<Arc<Sandbox>>) -> Response {
    Json(ReadReceiptLog {
        read_receipts: sandbox.read_receipts(),
    })
    .into_response()
}

/// The one error shape of the control API: `{"error":{"field","message"}}`.
fn field_error(status: StatusCode, error: FieldError) -> Response {
    (status, Json(ControlError { error })).into_response()
}

/// Parses a JSON body; the error is answered as 400.
fn json_body<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, FieldError> {
    serde_json::from_slice(body)
        .map_err(|e| FieldError::new("", format!("the body is not valid JSON: {e}")))
}

/// The sandbox's settings (secrets redacted).
#[utoipa::path(get, path = "/v1/sandbox/settings", tag = "Sandbox",
    responses((status = 200, description = "The settings", body = SandboxSettings)))]
async fn get_settings(State(sandbox): State<Arc<Sandbox>>) -> Response {
    Json(sandbox.settings().redacted()).into_response()
}

/// Changes settings (a JSON merge patch).
#[utoipa::path(patch, path = "/v1/sandbox/settings", tag = "Sandbox",
    request_body(content = SandboxSettings, description = "The fields to change"),
    responses(
        (status = 200, description = "The settings as changed", body = SandboxSettings),
        (status = 400, description = "Not JSON", body = ControlError),
        (status = 422, description = "A value out of range", body = ControlError),
    ))]
async fn patch_settings(State(sandbox): State<Arc<Sandbox>>, body: Bytes) -> Response {
    let patch: Value = match json_body(&body) {
        Ok(patch) => patch,
        Err(error) => return field_error(StatusCode::BAD_REQUEST, error),
    };
    let updated = sandbox
        .settings()
        .merge_patch(&patch)
        .and_then(|settings| sandbox.set_settings(settings.clone()).map(|()| settings));
    match updated {
        Ok(settings) => Json(settings.redacted()).into_response(),
        Err(error) => field_error(StatusCode::UNPROCESSABLE_ENTITY, error),
    }
}

/// `GET /messages` query: `to` (digits), `after` (seq, exclusive), `limit`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct MessagesQuery {
    /// Only messages to this number (digits).
    to: Option<String>,
    /// Only messages after this sequence number.
    #[serde(default)]
    after: u64,
    /// At most this many (10,000 at most).
    limit: Option<usize>,
}

/// The messages the simulated Graph API accepted.
#[utoipa::path(get, path = "/v1/sandbox/messages", tag = "Sandbox", params(MessagesQuery),
    responses(
        (status = 200, description = "Oldest first", body = MessageLog),
        (status = 400, description = "A malformed parameter", body = ControlError),
    ))]
async fn list_messages(
    State(sandbox): State<Arc<Sandbox>>,
    query: Result<Query<MessagesQuery>, QueryRejection>,
) -> Response {
    let Query(query) = match query {
        Ok(query) => query,
        Err(rejection) => {
            let error = FieldError::new("query", rejection.body_text());
            return field_error(StatusCode::BAD_REQUEST, error);
        }
    };
    let limit = query.limit.unwrap_or(MAX_LIMIT).min(MAX_LIMIT);
    let messages = sandbox.messages(query.to.as_deref(), query.after, limit);
    Json(MessageLog { messages }).into_response()
}

/// Forgets the accepted messages.
#[utoipa::path(delete, path = "/v1/sandbox/messages", tag = "Sandbox",
    responses((status = 204, description = "Cleared")))]
async fn clear_messages(State(sandbox): State<Arc<Sandbox>>) -> Response {
    sandbox.clear_messages();
    StatusCode::NO_CONTENT.into_response()
}

/// Counters since start.
#[utoipa::path(get, path = "/v1/sandbox/stats", tag = "Sandbox",
    responses((status = 200, description = "The counters", body = SandboxStats)))]
async fn stats(State(sandbox): State<Arc<Sandbox>>) -> Response {
    Json(sandbox.stats()).into_response()
}

/// A simulated customer writes to a business number: the sandbox posts Meta's inbound webhook.
#[utoipa::path(post, path = "/v1/sandbox/inbound", tag = "Sandbox", request_body = InboundRequest,
    responses(
        (status = 200, description = "Written", body = InboundAccepted),
        (status = 400, description = "Not JSON", body = ControlError),
        (status = 422, description = "A field is missing or wrong", body = ControlError),
    ))]
async fn inbound(State(sandbox): State<Arc<Sandbox>>, body: Bytes) -> Response {
    let request: InboundRequest = match json_body(&body) {
        Ok(request) => request,
        Err(error) => return field_error(StatusCode::BAD_REQUEST, error),
    };
    match sandbox.inbound(request) {
        Ok(accepted) => Json(accepted).into_response(),
        Err(error) => field_error(StatusCode::UNPROCESSABLE_ENTITY, error),
    }
}
