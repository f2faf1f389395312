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

/// `GET /version`: what runs, so an operator can tell which build answers.
pub async fn version() -> Json<Value> {
    Json(json!({
        "version": crate::build_info::VERSION,
        "commit": crate::build_info::COMMIT,
    }))
}

/// `GET /readyz`: the database answers and accepts writes; also tells how many Meta webhook
/// deliveries wait to be processed (a growing number means processing is failing or falling
/// behind). Once the store stopped accepting writes (a failed fsync), `503
/// storage_unavailable` with the reason, until Chasqui is restarted.
pub async fn ready(State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    if let Some(reason) = state.store.writes_stopped() {
        return Err(ApiError::StorageUnavailable(format!(
            "the store stopped accepting writes until restarted: {reason}"
        )));
    }
    let pending = state
        .store
        .pending_webhooks()
        .await
        .map_err(|_| ApiError::Unavailable)?;
    Ok(Json(json!({
        "status": "ready",
        "version": crate::build_info::VERSION,
        "commit": crate::build_info::COMMIT,
        "webhook_inbox": { "pending": pending },
    })))
}
