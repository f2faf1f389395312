//! `/webhooks/meta`: Meta's subscription check (GET) and event delivery (POST).

use std::collections::HashMap;

use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use chasqui_domain::webhook::status_updates;
use serde_json::{json, Value};

use super::verify_signature;
use crate::api::error::ApiError;
use crate::api::AppState;
use crate::clock::now_ms;

/// The Meta webhook routes.
pub fn routes() -> Router<AppState> {
    Router::new().route("/webhooks/meta", get(subscribe).post(receive))
}

/// Meta's verification: echo `hub.challenge` when `hub.verify_token` is a channel's verify token.
async fn subscribe(
    State(state): State<AppState>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let mode_ok = q.get("hub.mode").map(String::as_str) == Some("subscribe");
    let token = q.get("hub.verify_token");
    let known = token.is_some_and(|t| {
        state
            .channels
            .all()
            .iter()
            .any(|c| c.verify_token.as_ref() == Some(t))
    });
    match (mode_ok && known, q.get("hub.challenge")) {
        (true, Some(challenge)) => (StatusCode::OK, challenge.clone()).into_response(),
        _ => (StatusCode::FORBIDDEN, "verification failed").into_response(),
    }
}

#[derive(Debug, thiserror::Error)]
enum Refusal {
    #[error("missing X-Hub-Signature-256")]
    MissingSignature,
    #[error("X-Hub-Signature-256 does not match any channel's app secret")]
    BadSignature,
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        let code = match self {
            Self::MissingSignature => "missing_signature",
            Self::BadSignature => "invalid_signature",
        };
        let body = json!({
            "type": format!("urn:chasqui:problem:{code}"),
            "title": "Unauthorized",
            "status": 401,
            "code": code,
            "detail": self.to_string(),
        });
        (StatusCode::UNAUTHORIZED, Json(body)).into_response()
    }
}

/// Verifies the signature over the raw body, then applies every status in the batch.
async fn receive(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    let Some(sig) = headers
        .get("x-hub-signature-256")
        .and_then(|v| v.to_str().ok())
    else {
        return Refusal::MissingSignature.into_response();
    };
    // The signature is per Meta app: only channels whose app secret verified it may be touched.
    let verified: Vec<(String, String)> = state
        .channels
        .all()
        .iter()
        .filter(|c| {
            c.app_secret
                .as_ref()
                .is_some_and(|s| verify_signature(s.as_bytes(), &body, sig))
        })
        .map(|c| (c.channel.phone_number_id.clone(), c.channel.id.clone()))
        .collect();
    if verified.is_empty() {
        return Refusal::BadSignature.into_response();
    }
    let payload: Value = match serde_json::from_slice(&body) {
        Ok(v) => v,
        Err(e) => return ApiError::InvalidJson(e.to_string()).into_response(),
    };
    let updates = match status_updates(&payload) {
        Ok(u) => u,
        Err(e) => return ApiError::InvalidJson(e.to_string()).into_response(),
    };
    if let Err(e) =
        super::apply_template_events(&state.store, &state.channels, &verified, &payload).await
    {
        return ApiError::from(e).into_response();
    }
    if updates.is_empty() {
        // Inbound messages and other fields are answered 200 so Meta does not retry them.
        return (StatusCode::OK, Json(json!({ "applied": 0 }))).into_response();
    }
    match state
        .store
        .apply_statuses(&verified, &updates, now_ms())
        .await
    {
        Ok(report) => {
            if report.unmatched > 0 {
                tracing::debug!(
                    unmatched = report.unmatched,
                    "statuses naming no known message"
                );
            }
            (StatusCode::OK, Json(json!(report))).into_response()
        }
        // Not 200: Meta delivers again later, so nothing is lost.
        Err(e) => ApiError::from(e).into_response(),
    }
}
