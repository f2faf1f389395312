//! `/v1/auth/login` and `/v1/auth/logout` (public: they check credentials themselves), and the
//! admin API over users (`/v1/admin/...`, scope `admin`).

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::Json;
use chasqui_domain::problem::code;
use chasqui_domain::Problem;
use chasqui_domain::WorkspaceId;
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;

use super::auth;
use super::body::JsonBody;
use super::error::ApiError;
use super::extract::Path;
use super::paging::List;
use super::AppState;
use crate::admin::users;
use crate::admin::views::UserView;
use crate::clock::{now_ms, rfc3339};
use crate::users::LoginError;

type Answer<T> = Result<Json<T>, ApiError>;

/// The body of `POST /v1/auth/login`.
#[derive(Debug, ToSchema)]
#[schema(example = json!({"username": "ana.perez", "password": "correct horse battery"}))]
#[allow(dead_code)] // The spec's body schema; a field reader parses it, listing every problem.
pub struct Login {
    /// The user's login name.
    pub username: String,
    /// The password.
    #[schema(format = Password)]
    pub password: String,
}

/// A new login session.
#[derive(Debug, Serialize, ToSchema)]
pub struct Session {
    /// The session's bearer token: shown this once.
    pub token: String,
    /// Always `Bearer`.
    #[schema(example = "Bearer")]
    pub token_type: &'static str,
    /// When the session ends (RFC 3339).
    pub expires_at: String,
    /// The user's workspace.
    pub workspace_id: WorkspaceId,
    /// The user's id.
    pub user_id: String,
}

/// The body of `POST /v1/admin/workspaces/{id}/users` (and, without `username`, of its
/// `PATCH`, which also takes `disabled`).
#[derive(Debug, ToSchema)]
#[schema(example = json!({"username": "ana.perez", "password": "correct horse battery",
    "scopes": ["send", "read", "contacts"]}))]
#[allow(dead_code)] // The spec's body schema; a field reader parses it, listing every problem.
pub struct UserFields {
    /// Login name (3 to 64 letters, digits, `.`, `_`, `-`, `@`); creation only.
    pub username: Option<String>,
    /// Password (8 to 256 characters).
    #[schema(format = Password)]
    pub password: Option<String>,
    /// What its sessions may do (default: all but `admin`).
    pub scopes: Option<Vec<String>>,
    /// Refuses its logins and ends its sessions while `true` (`PATCH` only).
    pub disabled: Option<bool>,
}

impl From<LoginError> for ApiError {
    fn from(e: LoginError) -> Self {
        match e {
            LoginError::InvalidCredentials => Self::InvalidCredentials,
            LoginError::Throttled { retry_after_secs } => Self::LoginThrottled { retry_after_secs },
            LoginError::Store(e) => e.into(),
            LoginError::Password(e) => Self::Internal(e.to_string()),
        }
    }
}

/// A required string field of the login body, as given (passwords are not trimmed).
fn field(body: &Value, name: &str, problems: &mut Vec<Problem>) -> Option<String> {
    match body.get(name) {
        Some(Value::String(s)) if !s.is_empty() => Some(s.clone()),
        Some(Value::String(_)) => {
            problems.push(Problem::new(name, code::EMPTY, "must not be empty"));
            None
        }
        Some(Value::Null) | None => {
            problems.push(Problem::new(name, code::REQUIRED, "is required"));
            None
        }
        Some(_) => {
            problems.push(Problem::new(name, code::INVALID_TYPE, "must be a string"));
            None
        }
    }
}

/// `POST /v1/auth/login`: `{username, password}` → a bearer token, shown this once.
#[utoipa::path(post, path = "/v1/auth/login", tag = "Auth", request_body = Login, security(()),
    responses(
        (status = 200, description = "Logged in", body = Session),
        (status = 401, description = "`invalid_credentials`"),
        (status = 429, description = "Too many failed logins for this username: `login_throttled`"),
    ))]
pub async fn login(State(state): State<AppState>, body: JsonBody) -> Answer<Session> {
    if !body.value.is_object() {
        return Err(ApiError::Validation(vec![Problem::new(
            "",
            code::INVALID_TYPE,
            "the body must be a JSON object",
        )]));
    }
    let mut problems = Vec::new();
    let username = field(&body.value, "username", &mut problems);
    let password = field(&body.value, "password", &mut problems);
    let (Some(username), Some(password)) = (username, password) else {
        return Err(ApiError::Validation(problems));
    };
    let session = state
        .users
        .login(state.store.as_ref(), &username, &password, now_ms())
        .await
        .inspect_err(|e| {
            if matches!(e, LoginError::InvalidCredentials) {
                state.metrics.login_failed();
            }
        })?;
    Ok(Json(Session {
        token: session.token,
        token_type: "Bearer",
        expires_at: rfc3339(session.expires_at),
        workspace_id: session.workspace_id,
        user_id: session.user_id,
    }))
}

/// `POST /v1/auth/logout`: ends the session whose token authenticates the call.
#[utoipa::path(post, path = "/v1/auth/logout", tag = "Auth",
    responses(
        (status = 204, description = "The session ended"),
        (status = 400, description = "The token is an API key, not a session: `invalid_parameter`"),
        (status = 401, description = "`missing_api_key`, `invalid_api_key`"),
    ))]
pub async fn logout(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<StatusCode, ApiError> {
    let token = auth::bearer(&headers).ok_or(ApiError::MissingApiKey)?;
    let principal = auth::resolve(&state, token)
        .await?
        .ok_or(ApiError::InvalidApiKey)?;
    if !auth::is_session_token(token) {
        return Err(ApiError::BadParameter {
            field: "Authorization".into(),
            message: "logout ends a login session; API keys are revoked through the admin API"
                .into(),
        });
    }
    state
        .users
        .logout(state.store.as_ref(), &principal.id, now_ms())
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `GET /v1/admin/workspaces/{id}/users`.
#[utoipa::path(get, path = "/v1/admin/workspaces/{id}/users", tag = "Admin",
    params(("id" = WorkspaceId, Path, description = "The workspace's id")),
    responses((status = 200, description = "The workspace's users", body = List<UserView>)))]
pub async fn list(
    State(state): State<AppState>,
    Path(ws): Path<WorkspaceId>,
) -> Answer<List<UserView>> {
    let all = users::list(state.store.as_ref(), &ws).await?;
    Ok(Json(List::of(all.iter().map(UserView::from).collect())))
}

/// `POST /v1/admin/workspaces/{id}/users`.
#[utoipa::path(post, path = "/v1/admin/workspaces/{id}/users", tag = "Admin",
    params(("id" = WorkspaceId, Path, description = "The workspace's id")),
    request_body = UserFields,
    responses(
        (status = 201, description = "Created", body = UserView),
        (status = 409, description = "The username is taken: `conflict`"),
    ))]
pub async fn create(
    State(state): State<AppState>,
    Path(ws): Path<WorkspaceId>,
    body: JsonBody,
) -> Result<(StatusCode, Json<UserView>), ApiError> {
    let user = users::create(state.store.as_ref(), &state.users, &ws, body.value).await?;
    Ok((StatusCode::CREATED, Json(UserView::from(&user))))
}

/// `GET /v1/admin/users/{id}`.
#[utoipa::path(get, path = "/v1/admin/users/{id}", tag = "Admin",
    params(("id" = String, Path, description = "The user's id")),
    responses((status = 200, description = "The user", body = UserView)))]
pub async fn get_one(State(state): State<AppState>, Path(id): Path<String>) -> Answer<UserView> {
    Ok(Json(UserView::from(
        &users::get(state.store.as_ref(), &id).await?,
    )))
}

/// `PATCH /v1/admin/users/{id}`: `password`, `scopes`, `disabled`.
#[utoipa::path(patch, path = "/v1/admin/users/{id}", tag = "Admin",
    params(("id" = String, Path, description = "The user's id")),
    request_body = UserFields,
    responses((status = 200, description = "The user as changed", body = UserView)))]
pub async fn update(
    State(state): State<AppState>,
    Path(id): Path<String>,
    body: JsonBody,
) -> Answer<UserView> {
    let user = users::update(state.store.as_ref(), &state.users, &id, body.value).await?;
    Ok(Json(UserView::from(&user)))
}

/// `DELETE /v1/admin/users/{id}`.
#[utoipa::path(delete, path = "/v1/admin/users/{id}", tag = "Admin",
    params(("id" = String, Path, description = "The user's id")),
    responses((status = 204, description = "Deleted")))]
pub async fn delete(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    users::delete(state.store.as_ref(), &id).await?;
    Ok(StatusCode::NO_CONTENT)
}
