//! `/webhooks/meta`: Meta's subscription check (GET) and event delivery (POST).

use std::collections::HashMap;

use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::json;

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

/// Verifies the signature over the raw body and stores the delivery for processing.
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
    // Meta only needs to know the delivery is safe: apply it afterwards (`ingest`).
    if let Err(e) = serde_json::from_slice::<serde::de::IgnoredAny>(&body) {
        return ApiError::InvalidJson(e.to_string()).into_response();
    }
    let text = String::from_utf8_lossy(&body);
    match state
        .store
        .enqueue_webhook(&verified, &text, now_ms())
        .await
    {
        Ok(seq) => {
            state.ingest.notify_one();
            (
                StatusCode::OK,
                Json(json!({ "received": true, "seq": seq })),
            )
                .into_response()
        }
        // Not 200: Meta delivers again later, so nothing is lost.
        Err(e) => ApiError::from(e).into_response(),
    }
}
