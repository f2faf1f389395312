//! `/v1/auth/login` and `/v1/auth/logout` (public: they check credentials themselves), and the
//! admin API over users (`/v1/admin/...`, scope `admin`).

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::Json;
use chasqui_domain::problem::code;
use chasqui_domain::Problem;
use chasqui_domain::WorkspaceId;
use serde_json::{json, Value};

use super::auth;
use super::body::JsonBody;
use super::error::ApiError;
use super::extract::Path;
use super::AppState;
use crate::admin::users;
use crate::clock::{now_ms, rfc3339};
use crate::users::LoginError;

type Answer = Result<Json<Value>, ApiError>;

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
pub async fn login(State(state): State<AppState>, body: JsonBody) -> Answer {
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
    Ok(Json(json!({
        "token": session.token,
        "token_type": "Bearer",
        "expires_at": rfc3339(session.expires_at),
        "workspace_id": session.workspace_id,
        "user_id": session.user_id,
    })))
}

/// `POST /v1/auth/logout`: ends the session whose token authenticates the call.
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

fn data(items: Vec<Value>) -> Json<Value> {
    Json(json!({ "data": items }))
}

/// `GET /v1/admin/workspaces/{id}/users`.
pub async fn list(State(state): State<AppState>, Path(ws): Path<WorkspaceId>) -> Answer {
    let all = users::list(state.store.as_ref(), &ws).await?;
    Ok(data(all.iter().map(users::view).collect()))
}

/// `POST /v1/admin/workspaces/{id}/users`.
pub async fn create(
    State(state): State<AppState>,
    Path(ws): Path<WorkspaceId>,
    body: JsonBody,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let user = users::create(state.store.as_ref(), &state.users, &ws, body.value).await?;
    Ok((StatusCode::CREATED, Json(users::view(&user))))
}

/// `GET /v1/admin/users/{id}`.
pub async fn get_one(State(state): State<AppState>, Path(id): Path<String>) -> Answer {
    Ok(Json(users::view(
        &users::get(state.store.as_ref(), &id).await?,
    )))
}

/// `PATCH /v1/admin/users/{id}`: `password`, `scopes`, `disabled`.
pub async fn update(
    State(state): State<AppState>,
    Path(id): Path<String>,
    body: JsonBody,
) -> Answer {
    let user = users::update(state.store.as_ref(), &state.users, &id, body.value).await?;
    Ok(Json(users::view(&user)))
}

/// `DELETE /v1/admin/users/{id}`.
pub async fn delete(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    users::delete(state.store.as_ref(), &id).await?;
    Ok(StatusCode::NO_CONTENT)
}
