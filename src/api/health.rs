//! Liveness and readiness.

use axum::extract::State;
use axum::Json;
use serde::Serialize;
use utoipa::ToSchema;

use super::error::ApiError;
use super::AppState;

/// `GET /healthz`'s answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct Live {
    /// `ok`.
    #[schema(example = "ok")]
    pub status: &'static str,
}

/// Which build answers.
#[derive(Debug, Serialize, ToSchema)]
pub struct Version {
    /// The release.
    #[schema(example = "0.1.0")]
    pub version: &'static str,
    /// The git commit it was built from.
    pub commit: &'static str,
}

/// `GET /readyz`'s answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct Ready {
    /// `ready`.
    #[schema(example = "ready")]
    pub status: &'static str,
    /// The build.
    #[serde(flatten)]
    pub build: Version,
    /// Meta webhook deliveries waiting to be processed.
    pub webhook_inbox: Inbox,
    /// What needs an operator soon, such as a channel's Graph API version expiring within 60
    /// days (Meta's published dates).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
}

/// The Meta webhook inbox.
#[derive(Debug, Serialize, ToSchema)]
pub struct Inbox {
    /// Deliveries stored and not yet processed.
    pub pending: i64,
}

fn build() -> Version {
    Version {
        version: crate::build_info::VERSION,
        commit: crate::build_info::COMMIT,
    }
}

/// `GET /healthz`: the process answers.
#[utoipa::path(get, path = "/healthz", tag = "Health", security(()),
    responses((status = 200, description = "The process answers", body = Live)))]
pub async fn live() -> Json<Live> {
    Json(Live { status: "ok" })
}

/// `GET /version`: what runs, so an operator can tell which build answers.
#[utoipa::path(get, path = "/version", tag = "Health", security(()),
    responses((status = 200, description = "The build that answers", body = Version)))]
pub async fn version() -> Json<Version> {
    Json(build())
}

/// `GET /readyz`: the database answers and accepts writes; also tells how many Meta webhook
/// deliveries wait to be processed (a growing number means processing is failing or falling
/// behind). Once the store stopped accepting writes (a failed fsync), `503
/// storage_unavailable` with the reason, until Chasqui is restarted.
#[utoipa::path(get, path = "/readyz", tag = "Health", security(()),
    responses(
        (status = 200, description = "Ready to accept traffic", body = Ready),
        (status = 503, description = "`not_ready`: the database does not answer"),
    ))]
pub async fn ready(State(state): State<AppState>) -> Result<Json<Ready>, ApiError> {
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
    Ok(Json(Ready {
        status: "ready",
        build: build(),
        webhook_inbox: Inbox { pending },
        warnings: state.channels.version_warnings(crate::clock::now_ms()),
    }))
}
