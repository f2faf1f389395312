//! HTTP ingress: routing, authentication, the native `/v1` API and error rendering.

pub mod auth;
pub mod body;
mod business_webhooks;
mod contacts;
mod conversations;
pub mod error;
mod health;
mod media;
mod messages;
mod paging;
mod template_check;
mod templates;
mod views;
mod window_check;

use std::sync::Arc;

use axum::extract::{DefaultBodyLimit, Request, State};
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;
use chasqui_provider::sandbox::Sandbox;
use chasqui_store::Store;
use tokio::sync::Notify;

use crate::channels::ChannelDirectory;
use auth::{Caller, KeyCache};
use error::ApiError;

/// What every handler can reach.
#[derive(Clone)]
pub struct AppState {
    /// The store.
    pub store: Arc<dyn Store>,
    /// API-key cache.
    pub keys: Arc<KeyCache>,
    /// Known channels.
    pub channels: Arc<ChannelDirectory>,
    /// Wakes the dispatcher when work arrives.
    pub wake: Arc<Notify>,
    /// The in-process sandbox, when the default channel uses it.
    pub sandbox: Option<Arc<Sandbox>>,
    /// Wakes the webhook processor when a delivery is stored.
    pub ingest: Arc<Notify>,
    /// Seals business webhook secrets at rest.
    pub sealer: crate::secrets::Sealer,
    /// Where media files are kept.
    pub media: Arc<crate::media::MediaFiles>,
    /// Quotas and limits.
    pub limits: Arc<crate::limits::Limits>,
}

/// The whole HTTP surface.
pub fn router(state: AppState) -> Router {
    let mut app = Router::new()
        .route("/healthz", get(health::live))
        .route("/readyz", get(health::ready))
        .route("/v1/messages", get(messages::list).post(messages::create))
        .route("/v1/messages/{id}", get(messages::get_one))
        .route("/v1/contacts", get(contacts::list))
        .route(
            "/v1/contacts/{id}",
            get(contacts::get_one).patch(contacts::update),
        )
        .route("/v1/conversations", get(conversations::list))
        .route("/v1/conversations/{id}", get(conversations::get_one))
        .route(
            "/v1/templates",
            get(templates::list).post(templates::create),
        )
        .route("/v1/templates/sync", post(templates::sync))
        .route(
            "/v1/webhooks",
            get(business_webhooks::list).post(business_webhooks::create),
        )
        .route(
            "/v1/webhooks/{id}",
            get(business_webhooks::get_one)
                .patch(business_webhooks::update)
                .delete(business_webhooks::delete),
        )
        .route(
            "/v1/webhooks/{id}/deliveries",
            get(business_webhooks::deliveries),
        )
        .route("/v1/webhooks/{id}/replay", post(business_webhooks::replay))
        .route(
            "/v1/media",
            post(media::upload).layer(DefaultBodyLimit::max(media::MAX_MULTIPART_BODY)),
        )
        .route("/v1/media/{id}", get(media::get_one))
        .merge(crate::webhooks::routes());
    if let Some(sandbox) = &state.sandbox {
        app = app
            .nest_service("/sandbox/graph", sandbox.graph_router())
            .nest_service(
                "/v1/sandbox",
                sandbox
                    .control_router()
                    .layer(middleware::from_fn_with_state(
                        state.clone(),
                        require_api_key,
                    )),
            );
    }
    app.fallback(|| async { ApiError::NotFound("route".into()) })
        .method_not_allowed_fallback(|| async { ApiError::MethodNotAllowed })
        .with_state(state)
}

async fn require_api_key(
    State(state): State<AppState>,
    req: Request,
    next: Next,
) -> Result<Response, ApiError> {
    let (mut parts, body) = req.into_parts();
    <Caller as axum::extract::FromRequestParts<AppState>>::from_request_parts(&mut parts, &state)
        .await?;
    Ok(next.run(Request::from_parts(parts, body)).await)
}
