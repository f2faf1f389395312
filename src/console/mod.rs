//! The console: a web app in the binary, served at `/console`, where a business's people read
//! and answer their customers. Server-rendered HTML (maud) and a little of our own JavaScript;
//! nothing is fetched from another origin. It calls the same services as the API with the
//! session's principal, so the same scopes and checks apply: the console decides nothing.

mod assets;
pub mod i18n;
mod live_events;
pub mod pages;
mod security;
pub mod session;

use axum::extract::{Path, State};
use axum::middleware;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::Router;
use chasqui_domain::Scope;

use crate::api::AppState;
use session::{ConsoleError, ConsoleUser};

/// The console's routes, each answered with its security headers.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/", get(|| async { Redirect::to("/console") }))
        .route("/console", get(pages::inbox::page))
        .route("/console/", get(|| async { Redirect::to("/console") }))
        .route(
            "/console/login",
            get(session::login_form).post(session::login),
        )
        .route("/console/logout", post(session::logout))
        .route("/console/lang", get(session::choose_lang))
        .route("/console/workspace", post(session::choose_workspace))
        .route("/console/c/{id}", get(pages::conversation::page))
        .route("/console/c/{id}/reply", post(pages::conversation::reply))
        .route("/console/c/{id}/read", post(pages::conversation::mark_read))
        .route(
            "/console/c/{id}/template",
            post(pages::conversation::template),
        )
        .route(
            "/console/keys",
            get(pages::keys::page).post(pages::keys::create),
        )
        .route("/console/keys/{id}/revoke", post(pages::keys::revoke))
        .route("/console/dashboard", get(pages::dashboard::page))
        .route("/console/messages", get(pages::messages::page))
        .route("/console/m/{id}", get(pages::messages::one))
        .route("/console/media/{id}", get(media))
        .route("/console/events", get(live_events::stream))
        .route("/console/assets/{file}", get(assets::serve))
        .layer(middleware::from_fn(security::headers))
}

/// `GET /console/media/{id}`: a stored media file of the user's workspace.
async fn media(
    State(state): State<AppState>,
    user: ConsoleUser,
    Path(id): Path<String>,
) -> Result<Response, ConsoleError> {
    user.require(Scope::Read)?;
    match crate::api::media::stored_file(&state, &user.principal.workspace_id, &id).await {
        Ok(r) => Ok(r),
        Err(crate::api::error::ApiError::Internal(e)) => Err(ConsoleError::Internal(e)),
        Err(_) => Ok(ConsoleError::NotFound(user.lang).into_response()),
    }
}
