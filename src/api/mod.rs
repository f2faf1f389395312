//! HTTP ingress: routing, authentication, the native `/v1` API and error rendering.

mod admin;
pub mod auth;
pub mod body;
mod business_webhooks;
mod contact_import;
mod contacts;
mod conversations;
pub mod dialects;
pub mod error;
pub mod extract;
mod health;
pub mod json;
pub(crate) mod media;
pub(crate) mod messages;
pub mod openapi;
mod paging;
pub(crate) mod read_receipts;
pub mod routes;
pub mod send;
mod template_check;
mod templates;
mod unattributed;
mod users;
mod views;
mod window_check;

use std::sync::Arc;

use axum::middleware;
use axum::routing::{get, post};
use axum::Router;
use chasqui_provider::sandbox::Sandbox;
use chasqui_store::Store;
use tokio::sync::Notify;

use crate::channels::ChannelDirectory;
use error::ApiError;

/// What every handler can reach.
#[derive(Clone)]
pub struct AppState {
    /// The store.
    pub store: Arc<dyn Store>,
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
    /// Which vendor dialects are served.
    pub dialects: Arc<crate::config::DialectsConfig>,
    /// What new channels get when the admin API leaves a setting out.
    pub channel_defaults: Arc<crate::admin::channels::ChannelDefaults>,
    /// Users: password hashing, login and the throttle settings.
    pub users: crate::users::Users,
    /// Which addresses tenant URLs (business webhooks) may point to.
    pub address_policy: Arc<crate::net::AddressPolicy>,
    /// Prometheus metrics (off unless `metrics_listen` is set).
    pub metrics: crate::telemetry::Metrics,
    /// Notices of changes, for live views.
    pub live: crate::live::Live,
}

/// The whole HTTP surface: the public routes, then every route of the table behind its scope.
pub fn router(state: AppState) -> Router {
    let mut app = Router::new()
        .route("/healthz", get(health::live))
        .route("/readyz", get(health::ready))
        .route("/version", get(health::version))
        // Public: login checks a password, logout the bearer token it ends.
        .route("/v1/auth/login", post(users::login))
        .route("/v1/auth/logout", post(users::logout))
        .merge(crate::webhooks::routes())
        .merge(openapi::routes(&state.dialects, state.sandbox.is_some()));
    // Dialect routes authenticate in their handlers: each answers in its vendor's envelope.
    for r in dialects::table(&state.dialects) {
        app = app.route(r.path, r.handler);
    }
    for r in routes::table() {
        let guard = middleware::from_fn_with_state((state.clone(), r.scope), auth::authorize);
        app = app.route(r.path, r.handler.route_layer(guard));
    }
    if let Some(sandbox) = &state.sandbox {
        app = app.nest_service("/sandbox/graph", sandbox.graph_router());
        for (prefix, scope, _) in routes::NESTED {
            let guard = middleware::from_fn_with_state((state.clone(), *scope), auth::authorize);
            app = app.nest_service(prefix, sandbox.control_router().layer(guard));
        }
    }
    // Every route so far names itself in the request's span; the fallbacks stay unnamed.
    app = app.merge(crate::console::routes());
    app = app.route_layer(middleware::from_fn(crate::telemetry::request::note_route));
    app.fallback(|| async { ApiError::NotFound("route".into()) })
        .method_not_allowed_fallback(|| async { ApiError::MethodNotAllowed })
        .layer(middleware::from_fn(crate::telemetry::request::trace))
        .with_state(state)
}
