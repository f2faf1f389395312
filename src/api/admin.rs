//! `/v1/admin/...`: the operator's API over workspaces, channels and keys (scope `admin`).

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use chasqui_domain::{ChannelId, WorkspaceId};
use serde_json::{json, Value};

use super::body::JsonBody;
use super::error::ApiError;
use super::extract::Path;
use super::AppState;
use crate::admin::{channels, keys, views, workspaces, AdminError};

type Answer = Result<Json<Value>, ApiError>;
type Created = Result<(StatusCode, Json<Value>), ApiError>;

impl From<AdminError> for ApiError {
    fn from(e: AdminError) -> Self {
        match e {
            AdminError::Invalid(problems) => Self::Validation(problems),
            AdminError::NotFound(what) => Self::NotFound(what.into()),
            AdminError::Conflict(what) => Self::Conflict(what),
            AdminError::Store(e) => e.into(),
        }
    }
}

fn data(items: Vec<Value>) -> Json<Value> {
    Json(json!({ "data": items }))
}

/// `GET /v1/admin/workspaces`.
pub async fn list_workspaces(State(state): State<AppState>) -> Answer {
    let all = state.store.list_workspaces().await?;
    Ok(data(all.iter().map(views::workspace).collect()))
}

/// `POST /v1/admin/workspaces`.
pub async fn create_workspace(State(state): State<AppState>, body: JsonBody) -> Created {
    let ws = workspaces::create(state.store.as_ref(), body.value).await?;
    Ok((StatusCode::CREATED, Json(views::workspace(&ws))))
}

/// `GET /v1/admin/workspaces/{id}`.
pub async fn get_workspace(State(state): State<AppState>, Path(id): Path<WorkspaceId>) -> Answer {
    let ws = workspaces::get(state.store.as_ref(), &id).await?;
    Ok(Json(views::workspace(&ws)))
}

/// `PATCH /v1/admin/workspaces/{id}`.
pub async fn update_workspace(
    State(state): State<AppState>,
    Path(id): Path<WorkspaceId>,
    body: JsonBody,
) -> Answer {
    let ws = workspaces::update(state.store.as_ref(), &id, body.value).await?;
    state.limits.forget_workspace(&id);
    Ok(Json(views::workspace(&ws)))
}

/// `DELETE /v1/admin/workspaces/{id}`.
pub async fn delete_workspace(
    State(state): State<AppState>,
    Path(id): Path<WorkspaceId>,
) -> Result<StatusCode, ApiError> {
    workspaces::delete(state.store.as_ref(), &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `GET /v1/admin/workspaces/{id}/keys`.
pub async fn list_keys(State(state): State<AppState>, Path(ws): Path<WorkspaceId>) -> Answer {
    let all = keys::list(state.store.as_ref(), &ws).await?;
    Ok(data(all.iter().map(views::key).collect()))
}

/// `POST /v1/admin/workspaces/{id}/keys`: the key itself is in this answer only.
pub async fn create_key(
    State(state): State<AppState>,
    Path(ws): Path<WorkspaceId>,
    body: JsonBody,
) -> Created {
    let created = keys::create(state.store.as_ref(), &ws, body.value).await?;
    let mut view = views::key(&created.key);
    view["key"] = json!(created.secret);
    Ok((StatusCode::CREATED, Json(view)))
}

/// `GET /v1/admin/keys/{id}`.
pub async fn get_key(State(state): State<AppState>, Path(id): Path<String>) -> Answer {
    Ok(Json(views::key(
        &keys::get(state.store.as_ref(), &id).await?,
    )))
}

/// `PATCH /v1/admin/keys/{id}`.
pub async fn update_key(
    State(state): State<AppState>,
    Path(id): Path<String>,
    body: JsonBody,
) -> Answer {
    let key = keys::update(state.store.as_ref(), &id, body.value).await?;
    Ok(Json(views::key(&key)))
}

/// `DELETE /v1/admin/keys/{id}`: revokes.
pub async fn revoke_key(State(state): State<AppState>, Path(id): Path<String>) -> Answer {
    Ok(Json(views::key(
        &keys::revoke(state.store.as_ref(), &id).await?,
    )))
}

/// `GET /v1/admin/workspaces/{id}/channels`.
pub async fn list_channels(State(state): State<AppState>, Path(ws): Path<WorkspaceId>) -> Answer {
    let all = channels::list(state.store.as_ref(), &ws).await?;
    Ok(data(
        all.iter()
            .map(|c| views::channel(&state.sealer, c))
            .collect(),
    ))
}

/// `POST /v1/admin/workspaces/{id}/channels`.
pub async fn create_channel(
    State(state): State<AppState>,
    Path(ws): Path<WorkspaceId>,
    body: JsonBody,
) -> Created {
    let ch = channels::create(
        state.store.as_ref(),
        &state.sealer,
        &state.channel_defaults,
        &ws,
        body.value,
    )
    .await?;
    state.channels.refresh().await?;
    let mut view = views::channel(&state.sealer, &ch);
    sync_templates(&state, None, &ch, &mut view).await;
    Ok((StatusCode::CREATED, Json(view)))
}

/// Syncs a new or re-credentialed channel's templates before answering, so its approved
/// templates can be sent at once; the answer's `template_sync` says what came of it (a failed
/// sync does not undo the change: the periodic sync tries again).
async fn sync_templates(
    state: &AppState,
    before: Option<&chasqui_store::Channel>,
    after: &chasqui_store::Channel,
    view: &mut Value,
) {
    let Some(live) = state.channels.get(&after.id) else {
        return;
    };
    let outcome = match crate::templates::sync_if_changed(state.store.as_ref(), before, &live).await
    {
        None => return,
        Some(Ok(done)) => json!({"templates": done.templates, "unreadable": done.unreadable}),
        Some(Err(e)) => {
            tracing::warn!(channel = %after.id, error = %e, "template sync after a channel change failed");
            json!({"error": e.to_string()})
        }
    };
    if let Some(fields) = view.as_object_mut() {
        fields.insert("template_sync".into(), outcome);
    }
}

/// `GET /v1/admin/channels/{id}`.
pub async fn get_channel(State(state): State<AppState>, Path(id): Path<ChannelId>) -> Answer {
    let ch = channels::get(state.store.as_ref(), &id).await?;
    Ok(Json(views::channel(&state.sealer, &ch)))
}

/// `PATCH /v1/admin/channels/{id}`.
pub async fn update_channel(
    State(state): State<AppState>,
    Path(id): Path<ChannelId>,
    body: JsonBody,
) -> Answer {
    let before = channels::get(state.store.as_ref(), &id).await?;
    let ch = channels::update(state.store.as_ref(), &state.sealer, &id, body.value).await?;
    state.channels.refresh().await?;
    let mut view = views::channel(&state.sealer, &ch);
    sync_templates(&state, Some(&before), &ch, &mut view).await;
    Ok(Json(view))
}

/// `DELETE /v1/admin/channels/{id}`.
pub async fn delete_channel(
    State(state): State<AppState>,
    Path(id): Path<ChannelId>,
) -> Result<StatusCode, ApiError> {
    channels::delete(state.store.as_ref(), &id).await?;
    state.channels.refresh().await?;
    Ok(StatusCode::NO_CONTENT)
}
