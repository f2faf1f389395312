//! `/v1/admin/...`: the operator's API over workspaces, channels and keys (scope `admin`).

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use chasqui_domain::window::WindowPolicy;
use chasqui_domain::{ChannelId, ProviderKind, WorkspaceId};
use utoipa::ToSchema;

use super::body::JsonBody;
use super::error::ApiError;
use super::extract::Path;
use super::paging::List;
use super::AppState;
use crate::admin::views::{ChannelView, CreatedKey, KeyView, TemplateSyncOutcome, WorkspaceView};
use crate::admin::{channels, keys, workspaces, AdminError};

type Answer<T> = Result<Json<T>, ApiError>;
type Created<T> = Result<(StatusCode, Json<T>), ApiError>;

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

/// The body of `POST /v1/admin/workspaces` (and, every field optional, of its `PATCH`).
#[derive(Debug, ToSchema)]
#[schema(example = json!({"name": "Tienda Quito", "timezone": "America/Guayaquil",
    "daily_quota": 10000}))]
#[allow(dead_code)] // The spec's body schema; a field reader parses it, listing every problem.
pub struct WorkspaceFields {
    /// Its name (1 to 100 characters); required at creation.
    #[schema(max_length = 100)]
    pub name: Option<String>,
    /// Refuses every request while `true`.
    pub disabled: Option<bool>,
    /// Most messages a day across its keys, or `null` for none.
    #[schema(minimum = 1)]
    pub daily_quota: Option<i64>,
    /// An IANA time zone its day is counted in, or `null` for the gateway's.
    pub timezone: Option<String>,
    /// Its marketing stop and resume keywords (`{stop?, resume?}`, each at most 20 of 1 to 40
    /// characters; a list left out keeps its defaults, an empty one turns it off), or `null`
    /// for the defaults.
    pub marketing_keywords: Option<chasqui_domain::consent::MarketingKeywords>,
}

/// The body of `POST /v1/admin/workspaces/{id}/keys` (and, with `revoked`, of its `PATCH`).
#[derive(Debug, ToSchema)]
#[schema(example = json!({"name": "crm", "scopes": ["send", "read"]}))]
#[allow(dead_code)] // The spec's body schema; a field reader parses it, listing every problem.
pub struct KeyFields {
    /// Its name (default `key`).
    pub name: Option<String>,
    /// Scopes: `send`, `read`, `contacts`, `templates`, `webhooks`, `admin` (default: all but
    /// `admin`).
    pub scopes: Option<Vec<String>>,
    /// When it expires (RFC 3339, in the future), or `null` for never.
    pub expires_at: Option<String>,
    /// Most sends a day, or `null`.
    pub daily_quota: Option<i64>,
    /// Most requests in flight at once, or `null`.
    pub max_concurrent: Option<i64>,
    /// Most requests a minute, or `null`.
    pub rate_per_minute: Option<i64>,
    /// `true` revokes it (`PATCH` only; a revoked key stays revoked).
    pub revoked: Option<bool>,
}

/// The body of `POST /v1/admin/workspaces/{id}/channels` (and, every field optional, of its
/// `PATCH`). Secrets are write-only: answers show only their last characters.
#[derive(Debug, ToSchema)]
#[schema(example = json!({"name": "Ventas", "provider": "cloud_api",
    "phone_number_id": "106540352242922", "display_phone_number": "+593991234567",
    "waba_id": "102290129340398", "access_token": "EAAG...", "app_secret": "...",
    "verify_token": "..."}))]
#[allow(dead_code)] // The spec's body schema; a field reader parses it, listing every problem.
pub struct ChannelFields {
    /// Its name.
    pub name: Option<String>,
    /// The API it sends through.
    pub provider: Option<ProviderKind>,
    /// Meta's phone number id.
    pub phone_number_id: Option<String>,
    /// The sender number (E.164).
    pub display_phone_number: Option<String>,
    /// The WhatsApp Business Account id.
    pub waba_id: Option<String>,
    /// Another Graph API address (http or https).
    pub base_url: Option<String>,
    /// The Graph API version (`v23.0`).
    pub api_version: Option<String>,
    /// The access token.
    pub access_token: Option<String>,
    /// The app secret that signs Meta's webhooks.
    pub app_secret: Option<String>,
    /// The token Meta's webhook verification echoes.
    pub verify_token: Option<String>,
    /// Messages a second.
    pub rate_per_sec: Option<i64>,
    /// Least time between two messages to one recipient.
    pub pair_interval_ms: Option<i64>,
    /// Messages to one recipient allowed at once.
    pub pair_burst: Option<i64>,
    /// Free-form sends outside the window: refused (`enforce`) or sent with a warning.
    pub window_policy: Option<WindowPolicy>,
    /// Sends messages.
    pub enabled: Option<bool>,
    /// Makes it the workspace's default.
    pub is_default: Option<bool>,
    /// Meta's messaging limit, or `null`.
    pub messaging_limit: Option<i64>,
    /// Marks every inbound message read at once (default `false`: with coexistence, a read
    /// receipt marks the chat read on every agent's phone too).
    pub auto_read: Option<bool>,
    /// Wolkvox's `connector_id` for this number (`null` clears it): Wolkvox clients keep
    /// sending it.
    pub wolkvox_connector_id: Option<String>,
    /// respond.io's `channelId` for this number, a whole number (`null` clears it).
    pub respond_channel_id: Option<String>,
    /// Sends a free-form text to a person whose window is closed as this approved template,
    /// the text as its body parameter (`null`: refuse it, the default). Meta bills it as the
    /// template's category.
    pub window_fallback: Option<chasqui_domain::window_fallback::WindowFallback>,
    /// Sends MARKETING templates through Meta's Marketing Messages API
    /// (`POST /{phone-number-id}/marketing_messages`) instead of `/messages` (default `false`:
    /// the WhatsApp Business Account must first accept Meta's terms for it).
    pub marketing_messages: Option<bool>,
}

/// `GET /v1/admin/workspaces`.
#[utoipa::path(get, path = "/v1/admin/workspaces", tag = "Admin",
    responses((status = 200, description = "Every workspace", body = List<WorkspaceView>)))]
pub async fn list_workspaces(State(state): State<AppState>) -> Answer<List<WorkspaceView>> {
    let all = state.store.list_workspaces().await?;
    Ok(Json(List::of(
        all.iter().map(WorkspaceView::from).collect(),
    )))
}

/// `POST /v1/admin/workspaces`.
#[utoipa::path(post, path = "/v1/admin/workspaces", tag = "Admin", request_body = WorkspaceFields,
    responses((status = 201, description = "Created", body = WorkspaceView)))]
pub async fn create_workspace(
    State(state): State<AppState>,
    body: JsonBody,
) -> Created<WorkspaceView> {
    let ws = workspaces::create(state.store.as_ref(), body.value).await?;
    Ok((StatusCode::CREATED, Json(WorkspaceView::from(&ws))))
}

/// `GET /v1/admin/workspaces/{id}`.
#[utoipa::path(get, path = "/v1/admin/workspaces/{id}", tag = "Admin",
    params(("id" = WorkspaceId, Path, description = "The workspace's id")),
    responses((status = 200, description = "The workspace", body = WorkspaceView)))]
pub async fn get_workspace(
    State(state): State<AppState>,
    Path(id): Path<WorkspaceId>,
) -> Answer<WorkspaceView> {
    let ws = workspaces::get(state.store.as_ref(), &id).await?;
    Ok(Json(WorkspaceView::from(&ws)))
}

/// `PATCH /v1/admin/workspaces/{id}`.
#[utoipa::path(patch, path = "/v1/admin/workspaces/{id}", tag = "Admin",
    params(("id" = WorkspaceId, Path, description = "The workspace's id")),
    request_body = WorkspaceFields,
    responses((status = 200, description = "The workspace as changed", body = WorkspaceView)))]
pub async fn update_workspace(
    State(state): State<AppState>,
    Path(id): Path<WorkspaceId>,
    body: JsonBody,
) -> Answer<WorkspaceView> {
    let ws = workspaces::update(state.store.as_ref(), &id, body.value).await?;
    state.limits.forget_workspace(&id);
    Ok(Json(WorkspaceView::from(&ws)))
}

/// `DELETE /v1/admin/workspaces/{id}`.
#[utoipa::path(delete, path = "/v1/admin/workspaces/{id}", tag = "Admin",
    params(("id" = WorkspaceId, Path, description = "The workspace's id")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 409, description = "It still has channels, keys or users: `conflict`"),
    ))]
pub async fn delete_workspace(
    State(state): State<AppState>,
    Path(id): Path<WorkspaceId>,
) -> Result<StatusCode, ApiError> {
    workspaces::delete(state.store.as_ref(), &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `GET /v1/admin/workspaces/{id}/keys`.
#[utoipa::path(get, path = "/v1/admin/workspaces/{id}/keys", tag = "Admin",
    params(("id" = WorkspaceId, Path, description = "The workspace's id")),
    responses((status = 200, description = "The workspace's keys", body = List<KeyView>)))]
pub async fn list_keys(
    State(state): State<AppState>,
    Path(ws): Path<WorkspaceId>,
) -> Answer<List<KeyView>> {
    let all = keys::list(state.store.as_ref(), &ws).await?;
    Ok(Json(List::of(all.iter().map(KeyView::from).collect())))
}

/// `POST /v1/admin/workspaces/{id}/keys`: the key itself is in this answer only.
#[utoipa::path(post, path = "/v1/admin/workspaces/{id}/keys", tag = "Admin",
    params(("id" = WorkspaceId, Path, description = "The workspace's id")),
    request_body = KeyFields,
    responses((status = 201, description = "Created; `key` is shown this once", body = CreatedKey)))]
pub async fn create_key(
    State(state): State<AppState>,
    Path(ws): Path<WorkspaceId>,
    body: JsonBody,
) -> Created<CreatedKey> {
    let created = keys::create(state.store.as_ref(), &ws, body.value).await?;
    Ok((
        StatusCode::CREATED,
        Json(CreatedKey {
            key_record: KeyView::from(&created.key),
            key: created.secret,
        }),
    ))
}

/// `GET /v1/admin/keys/{id}`.
#[utoipa::path(get, path = "/v1/admin/keys/{id}", tag = "Admin",
    params(("id" = String, Path, description = "The key's id")),
    responses((status = 200, description = "The key (never the key itself)", body = KeyView)))]
pub async fn get_key(State(state): State<AppState>, Path(id): Path<String>) -> Answer<KeyView> {
    Ok(Json(KeyView::from(
        &keys::get(state.store.as_ref(), &id).await?,
    )))
}

/// `PATCH /v1/admin/keys/{id}`.
#[utoipa::path(patch, path = "/v1/admin/keys/{id}", tag = "Admin",
    params(("id" = String, Path, description = "The key's id")),
    request_body = KeyFields,
    responses((status = 200, description = "The key as changed", body = KeyView)))]
pub async fn update_key(
    State(state): State<AppState>,
    Path(id): Path<String>,
    body: JsonBody,
) -> Answer<KeyView> {
    let key = keys::update(state.store.as_ref(), &id, body.value).await?;
    Ok(Json(KeyView::from(&key)))
}

/// `DELETE /v1/admin/keys/{id}`: revokes.
#[utoipa::path(delete, path = "/v1/admin/keys/{id}", tag = "Admin",
    params(("id" = String, Path, description = "The key's id")),
    responses((status = 200, description = "Revoked", body = KeyView)))]
pub async fn revoke_key(State(state): State<AppState>, Path(id): Path<String>) -> Answer<KeyView> {
    Ok(Json(KeyView::from(
        &keys::revoke(state.store.as_ref(), &id).await?,
    )))
}

/// `GET /v1/admin/workspaces/{id}/channels`.
#[utoipa::path(get, path = "/v1/admin/workspaces/{id}/channels", tag = "Admin",
    params(("id" = WorkspaceId, Path, description = "The workspace's id")),
    responses((status = 200, description = "The workspace's channels", body = List<ChannelView>)))]
pub async fn list_channels(
    State(state): State<AppState>,
    Path(ws): Path<WorkspaceId>,
) -> Answer<List<ChannelView>> {
    let all = channels::list(state.store.as_ref(), &ws).await?;
    Ok(Json(List::of(
        all.iter()
            .map(|c| ChannelView::new(&state.sealer, c))
            .collect(),
    )))
}

/// `POST /v1/admin/workspaces/{id}/channels`.
#[utoipa::path(post, path = "/v1/admin/workspaces/{id}/channels", tag = "Admin",
    params(("id" = WorkspaceId, Path, description = "The workspace's id")),
    request_body = ChannelFields,
    responses(
        (status = 201, description = "Created; its templates synced when it has a WABA id",
            body = ChannelView),
        (status = 409, description = "The number is another channel's: `conflict`"),
    ))]
pub async fn create_channel(
    State(state): State<AppState>,
    Path(ws): Path<WorkspaceId>,
    body: JsonBody,
) -> Created<ChannelView> {
    let ch = channels::create(
        state.store.as_ref(),
        &state.sealer,
        &state.channel_defaults,
        &ws,
        body.value,
    )
    .await?;
    state.channels.refresh().await?;
    let mut view = ChannelView::new(&state.sealer, &ch);
    view.template_sync = sync_templates(&state, None, &ch).await;
    Ok((StatusCode::CREATED, Json(view)))
}

/// Syncs a new or re-credentialed channel's templates before answering, so its approved
/// templates can be sent at once; the answer's `template_sync` says what came of it (a failed
/// sync does not undo the change: the periodic sync tries again).
async fn sync_templates(
    state: &AppState,
    before: Option<&chasqui_store::Channel>,
    after: &chasqui_store::Channel,
) -> Option<TemplateSyncOutcome> {
    let live = state.channels.get(&after.id)?;
    match crate::templates::sync_if_changed(state.store.as_ref(), before, &live).await? {
        Ok(done) => Some(TemplateSyncOutcome::Done {
            templates: done.templates,
            unreadable: done.unreadable,
        }),
        Err(e) => {
            tracing::warn!(channel = %after.id, error = %e, "template sync after a channel change failed");
            Some(TemplateSyncOutcome::Failed {
                error: e.to_string(),
            })
        }
    }
}

/// `GET /v1/admin/channels/{id}`.
#[utoipa::path(get, path = "/v1/admin/channels/{id}", tag = "Admin",
    params(("id" = ChannelId, Path, description = "The channel's id")),
    responses((status = 200, description = "The channel", body = ChannelView)))]
pub async fn get_channel(
    State(state): State<AppState>,
    Path(id): Path<ChannelId>,
) -> Answer<ChannelView> {
    let ch = channels::get(state.store.as_ref(), &id).await?;
    Ok(Json(ChannelView::new(&state.sealer, &ch)))
}

/// `PATCH /v1/admin/channels/{id}`.
#[utoipa::path(patch, path = "/v1/admin/channels/{id}", tag = "Admin",
    params(("id" = ChannelId, Path, description = "The channel's id")),
    request_body = ChannelFields,
    responses(
        (status = 200, description = "The channel as changed", body = ChannelView),
        (status = 409, description = "The number is another channel's: `conflict`"),
    ))]
pub async fn update_channel(
    State(state): State<AppState>,
    Path(id): Path<ChannelId>,
    body: JsonBody,
) -> Answer<ChannelView> {
    let before = channels::get(state.store.as_ref(), &id).await?;
    let ch = channels::update(state.store.as_ref(), &state.sealer, &id, body.value).await?;
    state.channels.refresh().await?;
    let mut view = ChannelView::new(&state.sealer, &ch);
    view.template_sync = sync_templates(&state, Some(&before), &ch).await;
    Ok(Json(view))
}

/// `DELETE /v1/admin/channels/{id}`.
#[utoipa::path(delete, path = "/v1/admin/channels/{id}", tag = "Admin",
    params(("id" = ChannelId, Path, description = "The channel's id")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 409, description = "Messages still use it: `conflict`"),
    ))]
pub async fn delete_channel(
    State(state): State<AppState>,
    Path(id): Path<ChannelId>,
) -> Result<StatusCode, ApiError> {
    channels::delete(state.store.as_ref(), &id).await?;
    state.channels.refresh().await?;
    Ok(StatusCode::NO_CONTENT)
}
