//! Liveness and readiness.

use axum::extract::State;
use axum::Json;
use serde_json::{json, Value};

use super::error::ApiError;
use super::AppState;

/// `GET /healthz`: the process answers.
pub async fn live() -> Json<Value> {
    Json(json!({ "status": "ok" }))
}

/// `GET /readyz`: the database answers; also tells how many Meta webhook deliveries wait to be
/// processed (a growing number means processing is failing or falling behind).
pub async fn ready(State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    let pending = state
        .store
        .pending_webhooks()
        .await
        .map_err(|_| ApiError::Unavailable)?;
    Ok(Json(json!({
        "status": "ready",
        "webhook_inbox": { "pending": pending },
    })))
}
