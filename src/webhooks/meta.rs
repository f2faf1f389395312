//! `/webhooks/meta`: Meta's subscription check (GET) and event delivery (POST).

use chasqui_domain::ChannelId;
use std::collections::HashMap;

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::Serialize;
use utoipa::ToSchema;

use super::verify_signature;
use crate::api::error::{ApiError, ProblemBody};
use crate::api::extract::Query;
use crate::api::AppState;
use crate::clock::now_ms;

/// Largest delivery accepted: axum's default body limit, which this route had before it read
/// the body itself (to answer an oversized one as a problem, not plain text).
const MAX_DELIVERY_BYTES: usize = 2 * 1024 * 1024;

/// The Meta webhook routes.
pub fn routes() -> Router<AppState> {
    Router::new().route("/webhooks/meta", get(subscribe).post(receive))
}

/// Meta's verification: echo `hub.challenge` when `hub.verify_token` is a channel's verify token.
#[utoipa::path(get, path = "/webhooks/meta", tag = "Meta webhook", security(()),
    params(
        ("hub.mode" = String, Query, description = "`subscribe`"),
        ("hub.verify_token" = String, Query, description = "A channel's `verify_token`"),
        ("hub.challenge" = String, Query, description = "Echoed back when the token is known"),
    ),
    responses(
        (status = 200, description = "The challenge, as plain text", body = String, content_type = "text/plain"),
        (status = 403, description = "`verification_failed`"),
    ))]
pub async fn subscribe(
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
        _ => Refusal::VerificationFailed.into_response(),
    }
}

#[derive(Debug, thiserror::Error)]
enum Refusal {
    #[error("missing X-Hub-Signature-256")]
    MissingSignature,
    #[error("X-Hub-Signature-256 does not match any channel's app secret")]
    BadSignature,
    #[error("hub.mode must be subscribe and hub.verify_token a channel's verify token")]
    VerificationFailed,
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        let (code, status) = match self {
            Self::MissingSignature => ("missing_signature", StatusCode::UNAUTHORIZED),
            Self::BadSignature => ("invalid_signature", StatusCode::UNAUTHORIZED),
            Self::VerificationFailed => ("verification_failed", StatusCode::FORBIDDEN),
        };
        ProblemBody::new(code, status, self.to_string()).into_response()
    }
}

/// What Meta gets back for a delivery it may forget.
#[derive(Debug, Serialize, ToSchema)]
pub struct Received {
    /// `true`: stored, or applied.
    pub received: bool,
    /// Status updates applied at once (a delivery of statuses only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub applied: Option<usize>,
    /// The inbox sequence the delivery waits under (anything else).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub seq: Option<i64>,
}

/// Verifies the signature over the raw body and stores the delivery for processing.
#[utoipa::path(post, path = "/webhooks/meta", tag = "Meta webhook", security(()),
    params(("X-Hub-Signature-256" = String, Header,
        description = "`sha256=` and the hex HMAC-SHA256 of the raw body under the Meta app's \
            secret (a channel's `app_secret`)")),
    request_body(content = Object, description = "Meta's webhook notification \
        (`object: whatsapp_business_account`, `entry[].changes[]`)"),
    responses(
        (status = 200, description = "Stored (or applied): Meta need not deliver it again", body = Received),
        (status = 400, description = "`invalid_json`"),
        (status = 401, description = "`missing_signature`, `invalid_signature`"),
        (status = 413, description = "`payload_too_large`"),
    ))]
pub async fn receive(State(state): State<AppState>, headers: HeaderMap, body: Body) -> Response {
    let body = match axum::body::to_bytes(body, MAX_DELIVERY_BYTES).await {
        Ok(b) => b,
        Err(_) => return ApiError::PayloadTooLarge(MAX_DELIVERY_BYTES).into_response(),
    };
    let Some(sig) = headers
        .get("x-hub-signature-256")
        .and_then(|v| v.to_str().ok())
    else {
        state.metrics.meta_rejected("missing_signature");
        return Refusal::MissingSignature.into_response();
    };
    // The signature is per Meta app: only channels whose app secret verified it may be touched.
    let verified: Vec<(String, ChannelId)> = state
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
        state.metrics.meta_rejected("invalid_signature");
        return Refusal::BadSignature.into_response();
    }
    let payload: serde_json::Value = match serde_json::from_slice(&body) {
        Ok(p) => p,
        Err(e) => return ApiError::InvalidJson(e.to_string()).into_response(),
    };
    state.metrics.meta_received(&payload);
    // Statuses alone are applied here, in the commit that makes them durable: no inbox round
    // trip. Anything else waits in the inbox for `ingest`, so Meta gets its 200 at once.
    if let Some(updates) = super::ingest::statuses_only(&payload) {
        return match state
            .store
            .apply_statuses(&verified, updates, now_ms())
            .await
        {
            Ok(report) => {
                state.metrics.status_changes(&report.changes, now_ms());
                state
                    .live
                    .changed_all(report.changes.iter().map(|c| &c.workspace_id));
                Json(Received {
                    received: true,
                    applied: Some(report.applied),
                    seq: None,
                })
                .into_response()
            }
            // Not 200: Meta delivers again later, so nothing is lost.
            Err(e) => ApiError::from(e).into_response(),
        };
    }
    let text = String::from_utf8_lossy(&body);
    match state
        .store
        .enqueue_webhook(&verified, &text, now_ms())
        .await
    {
        Ok(seq) => {
            state.ingest.notify_one();
            Json(Received {
                received: true,
                applied: None,
                seq: Some(seq),
            })
            .into_response()
        }
        // Not 200: Meta delivers again later, so nothing is lost.
        Err(e) => ApiError::from(e).into_response(),
    }
}
