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
use serde::Deserialize;
use serde_json::{json, Value};

use super::{FieldError, InboundRequest, Sandbox};

/// `GET /messages` answers at most this many entries per call.
const MAX_LIMIT: usize = 10_000;

pub(super) fn router(sandbox: &Arc<Sandbox>) -> Router {
    Router::new()
        .route("/settings", get(get_settings).patch(patch_settings))
        .route("/messages", get(list_messages).delete(clear_messages))
        .route("/stats", get(stats))
        .route("/inbound", post(inbound))
        .with_state(sandbox.clone())
}

/// The one error shape of the control API: `{"error":{"field","message"}}`.
fn field_error(status: StatusCode, error: FieldError) -> Response {
    (status, Json(json!({ "error": error }))).into_response()
}

/// Parses a JSON body; the error is answered as 400.
fn json_body<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, FieldError> {
    serde_json::from_slice(body)
        .map_err(|e| FieldError::new("", format!("the body is not valid JSON: {e}")))
}

async fn get_settings(State(sandbox): State<Arc<Sandbox>>) -> Response {
    Json(sandbox.settings().redacted()).into_response()
}

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
#[derive(Debug, Deserialize)]
struct MessagesQuery {
    to: Option<String>,
    #[serde(default)]
    after: u64,
    limit: Option<usize>,
}

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
    Json(json!({ "messages": messages })).into_response()
}

async fn clear_messages(State(sandbox): State<Arc<Sandbox>>) -> Response {
    sandbox.clear_messages();
    StatusCode::NO_CONTENT.into_response()
}

async fn stats(State(sandbox): State<Arc<Sandbox>>) -> Response {
    Json(sandbox.stats()).into_response()
}

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
