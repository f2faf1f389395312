//! `/v1/templates`: the template registry: list, sync from the provider, submit a new one.

use chasqui_domain::ChannelId;
use chasqui_domain::WorkspaceId;
use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use chasqui_domain::template_registry::parse_submission;
use chasqui_domain::{Problem, Scope};
use chasqui_store::{StoredTemplate, TemplateFilter};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::{IntoParams, ToSchema};

use super::auth::{Caller, Principal};
use super::body::{JsonBody, RawBody};
use super::error::ApiError;
use super::extract::Query;
use super::paging::List;
use super::AppState;
use crate::channels::LiveChannel;
use crate::clock::rfc3339;
use crate::templates::{self as registry, ChannelSync, TemplateError};

impl From<TemplateError> for ApiError {
    fn from(e: TemplateError) -> Self {
        let channel_problem = |code: &'static str, message: String| {
            ApiError::Validation(vec![Problem::new("channel", code, message)])
        };
        match e {
            TemplateError::NoWaba(_) => channel_problem("no_waba_id", e.to_string()),
            TemplateError::Provider(e) => ApiError::from_provider(e, "templates_unsupported"),
            TemplateError::Store(e) => e.into(),
        }
    }
}

/// A template as the API shows it.
#[derive(Debug, Serialize, ToSchema)]
pub struct TemplateView {
    /// Meta's template id.
    pub id: Option<String>,
    /// The channel whose registry holds it.
    pub channel: ChannelId,
    /// Its name.
    #[schema(example = "order_update")]
    pub name: String,
    /// Its language code.
    #[schema(example = "es_MX")]
    pub language: String,
    /// `MARKETING`, `UTILITY` or `AUTHENTICATION`.
    #[schema(example = "UTILITY")]
    pub category: String,
    /// Meta's review status (`APPROVED`, `PENDING`, `REJECTED`, `PAUSED`, `DISABLED`...).
    #[schema(example = "APPROVED")]
    pub status: String,
    /// Meta's quality rating.
    pub quality: Option<String>,
    /// Why Meta rejected it.
    pub rejected_reason: Option<String>,
    /// `positional` or `named`.
    #[schema(example = "positional")]
    pub parameter_format: String,
    /// Its components, in Meta's shape.
    pub components: Value,
    /// Last change (RFC 3339).
    pub updated_at: String,
}

impl From<&StoredTemplate> for TemplateView {
    fn from(t: &StoredTemplate) -> Self {
        let mut template = t.template.to_json();
        Self {
            id: t.template.id.clone(),
            channel: t.channel_id.clone(),
            name: t.template.name.as_str().to_owned(),
            language: t.template.language.clone(),
            category: t.template.category.as_str().to_owned(),
            status: t.template.status.as_str().to_owned(),
            quality: t.quality.clone(),
            rejected_reason: t.rejected_reason.clone(),
            parameter_format: t.template.parameter_format.as_str().to_owned(),
            components: template["components"].take(),
            updated_at: rfc3339(t.updated_at),
        }
    }
}

/// The filters of `GET /v1/templates`.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct TemplateQuery {
    /// Only this channel's (its id or sender number).
    channel: Option<String>,
    /// Only templates in this review status (`APPROVED`, ...).
    status: Option<String>,
    /// Only templates of this name.
    name: Option<String>,
    /// Only templates in this language.
    language: Option<String>,
}

/// The channel a sync names, in the query.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct SyncQuery {
    /// The channel to sync (its id or sender number); every channel with a WABA id otherwise.
    channel: Option<String>,
}

/// The optional body of `POST /v1/templates/sync`.
#[derive(Debug, ToSchema)]
#[allow(dead_code)] // The spec's body schema; a field reader parses it, listing every problem.
pub struct SyncRequest {
    /// The channel to sync (its id or sender number).
    pub channel: Option<String>,
}

/// A channel whose sync failed.
#[derive(Debug, Serialize, ToSchema)]
pub struct SyncFailure {
    /// The channel.
    pub channel: ChannelId,
    /// What went wrong.
    pub error: String,
}

/// What a sync stored.
#[derive(Debug, Serialize, ToSchema)]
pub struct SyncResult {
    /// Templates stored in all.
    pub templates: usize,
    /// Each channel synced.
    pub channels: Vec<ChannelSync>,
    /// Each channel whose sync failed.
    pub failed: Vec<SyncFailure>,
}

/// The body of `POST /v1/templates`: Meta's template creation object, plus an optional
/// `channel` (id or sender number; the default channel otherwise).
#[derive(Debug, ToSchema)]
#[schema(example = json!({"name": "order_update", "language": "es_MX", "category": "UTILITY",
    "components": [{"type": "BODY", "text": "Hola {{1}}, tu pedido {{2}} va en camino.",
    "example": {"body_text": [["Ana", "A-1001"]]}}]}))]
#[allow(dead_code)] // The spec's body schema; a field reader parses it, listing every problem.
pub struct NewTemplate {
    /// The channel whose WABA gets the template.
    pub channel: Option<String>,
    /// Lower-case letters, digits and underscores, at most 512 characters.
    #[schema(pattern = "^[a-z0-9_]{1,512}$")]
    pub name: String,
    /// A language code Meta supports (`es_MX`, `en_US`, `pt_BR`...).
    pub language: String,
    /// `MARKETING`, `UTILITY` or `AUTHENTICATION`.
    pub category: String,
    /// `positional` (default) or `named`.
    pub parameter_format: Option<String>,
    /// HEADER, BODY, FOOTER and BUTTONS components in Meta's shape.
    pub components: Vec<Value>,
}

/// The workspace's channel named by id or sender number, ready to use.
pub(crate) async fn live_channel(
    state: &AppState,
    workspace: &WorkspaceId,
    key: Option<&str>,
) -> Result<Option<Arc<LiveChannel>>, ApiError> {
    let found = match state.channels.lookup(workspace, key) {
        Some(c) => Some(c),
        None => match key {
            Some(k) => state.store.find_channel(workspace, k).await?,
            None => state.store.default_channel(workspace).await?,
        },
    };
    match found {
        Some(channel) => ready(state, &channel.id).await,
        None => Ok(None),
    }
}

/// The channel `id` from the directory, refreshed when it was added since the last refresh
/// (another instance, the CLI).
async fn ready(state: &AppState, id: &str) -> Result<Option<Arc<LiveChannel>>, ApiError> {
    if state.channels.get(id).is_none() {
        state.channels.refresh().await?;
    }
    Ok(state.channels.get(id))
}

/// The channel a template call names: one of the caller's workspace, or, for an operator
/// (`admin` scope), any workspace's channel by its id, as in the admin API.
async fn template_channel(
    state: &AppState,
    caller: &Principal,
    key: Option<&str>,
) -> Result<Option<Arc<LiveChannel>>, ApiError> {
    if let Some(live) = live_channel(state, &caller.workspace_id, key).await? {
        return Ok(Some(live));
    }
    match key {
        Some(id) if caller.scopes.contains(Scope::Admin) => {
            let Ok(id) = id.parse::<ChannelId>() else {
                return Ok(None);
            };
            match state.store.get_channel(&id).await? {
                Some(channel) => ready(state, &channel.id).await,
                None => Ok(None),
            }
        }
        _ => Ok(None),
    }
}

fn bad(field: &str, message: &str) -> ApiError {
    ApiError::BadParameter {
        field: field.into(),
        message: message.into(),
    }
}

/// `GET /v1/templates`: the workspace's templates; query `channel`, `status`, `name`,
/// `language`.
#[utoipa::path(get, path = "/v1/templates", tag = "Templates", params(TemplateQuery),
    responses((status = 200, description = "The templates", body = List<TemplateView>)))]
pub async fn list(
    State(state): State<AppState>,
    Caller(key): Caller,
    Query(q): Query<TemplateQuery>,
) -> Result<Json<List<TemplateView>>, ApiError> {
    let mut filter = TemplateFilter {
        status: q.status.map(|v| v.trim().to_ascii_uppercase()),
        name: q.name.map(|v| v.trim().to_owned()),
        language: q.language.map(|v| v.trim().to_owned()),
        ..TemplateFilter::default()
    };
    let mut workspace = key.workspace_id.clone();
    if let Some(channel) = &q.channel {
        let live = template_channel(&state, &key, Some(channel.trim()))
            .await?
            .ok_or_else(|| bad("channel", "no such channel in this workspace"))?;
        filter.channel_id = Some(live.channel.id.clone());
        workspace = live.channel.workspace_id.clone();
    }
    let templates = state.store.list_templates(&workspace, &filter).await?;
    Ok(Json(List::of(
        templates.iter().map(TemplateView::from).collect(),
    )))
}

/// The optional `channel` of a sync: `?channel=` or a JSON body `{"channel": ...}`.
fn sync_target(q: SyncQuery, body: &[u8]) -> Result<Option<String>, ApiError> {
    let mut channel = q.channel.map(|c| c.trim().to_owned());
    if !body.iter().all(u8::is_ascii_whitespace) {
        let value = super::json::parse(body)?;
        let Value::Object(fields) = value else {
            return Err(ApiError::InvalidJson(
                "the body must be a JSON object".into(),
            ));
        };
        for (k, v) in fields {
            match (k.as_str(), v) {
                ("channel", Value::String(c)) => channel = Some(c.trim().to_owned()),
                ("channel", Value::Null) => {}
                ("channel", _) => {
                    return Err(ApiError::Validation(vec![Problem::new(
                        "channel",
                        "invalid_type",
                        "must be a channel id or its sender number",
                    )]))
                }
                (other, _) => {
                    return Err(ApiError::Validation(vec![Problem::new(
                        other,
                        "unknown_field",
                        "a sync takes only `channel`",
                    )]))
                }
            }
        }
    }
    Ok(channel.filter(|c| !c.is_empty()))
}

/// `POST /v1/templates/sync`: pulls the templates of one channel (`channel`) or of every
/// channel of the workspace that has a WABA id, and answers what each sync stored.
#[utoipa::path(post, path = "/v1/templates/sync", tag = "Templates", params(SyncQuery),
    request_body(content = Option<SyncRequest>, description = "Optional: the channel to sync"),
    responses(
        (status = 200, description = "What each channel's sync stored", body = SyncResult),
        (status = 422, description = "`provider_rejected`, `validation_failed`"),
        (status = 502, description = "The provider did not answer: `provider_unavailable`"),
    ))]
pub async fn sync(
    State(state): State<AppState>,
    Caller(key): Caller,
    Query(q): Query<SyncQuery>,
    RawBody(body): RawBody,
) -> Result<Json<SyncResult>, ApiError> {
    let target = sync_target(q, &body)?;
    let Some(requested) = target else {
        let mut synced = Vec::new();
        let mut failed = Vec::new();
        let mut first_error = None;
        let mut mine: Vec<Arc<LiveChannel>> = state
            .channels
            .all()
            .into_iter()
            .filter(|l| l.channel.workspace_id == key.workspace_id && l.channel.waba_id.is_some())
            .collect();
        mine.sort_by(|a, b| a.channel.id.cmp(&b.channel.id));
        for live in &mine {
            match registry::sync_channel(state.store.as_ref(), live).await {
                Ok(done) => synced.push(done),
                Err(e) => {
                    failed.push(SyncFailure {
                        channel: live.channel.id.clone(),
                        error: e.to_string(),
                    });
                    first_error.get_or_insert(e);
                }
            }
        }
        // Nothing synced at all: the answer is the error itself.
        if let (true, Some(e)) = (synced.is_empty(), first_error) {
            return Err(e.into());
        }
        let total: usize = synced.iter().map(|s| s.templates).sum();
        return Ok(Json(SyncResult {
            templates: total,
            channels: synced,
            failed,
        }));
    };
    let live = template_channel(&state, &key, Some(&requested))
        .await?
        .ok_or_else(|| {
            ApiError::Validation(vec![Problem::new(
                "channel",
                "unknown_channel",
                "no such channel in this workspace",
            )])
        })?;
    let done = registry::sync_channel(state.store.as_ref(), &live).await?;
    Ok(Json(SyncResult {
        templates: done.templates,
        channels: vec![done],
        failed: Vec::new(),
    }))
}

/// `POST /v1/templates`: a new template in Meta's creation shape (plus optional `channel`),
/// checked against Meta's rules, submitted through the provider, stored as it answered.
#[utoipa::path(post, path = "/v1/templates", tag = "Templates", request_body = NewTemplate,
    responses(
        (status = 201, description = "Submitted; stored as the provider answered", body = TemplateView),
        (status = 422, description = "`validation_failed`, `provider_rejected`"),
        (status = 502, description = "The provider did not answer: `provider_unavailable`"),
    ))]
pub async fn create(
    State(state): State<AppState>,
    Caller(key): Caller,
    body: JsonBody,
) -> Result<(StatusCode, Json<TemplateView>), ApiError> {
    let mut value = body.value;
    let Some(fields) = value.as_object_mut() else {
        return Err(ApiError::InvalidJson(
            "the body must be a JSON object".into(),
        ));
    };
    let requested = fields.remove("channel");
    let parsed = parse_submission(&value);
    let mut problems = parsed.as_ref().err().cloned().unwrap_or_default();
    let live = match &requested {
        None | Some(Value::Null) => template_channel(&state, &key, None).await?,
        Some(Value::String(c)) if !c.trim().is_empty() => {
            template_channel(&state, &key, Some(c.trim())).await?
        }
        Some(_) => {
            problems.push(Problem::new(
                "channel",
                "invalid_type",
                "must be a channel id or its sender number",
            ));
            None
        }
    };
    if live.is_none() && !problems.iter().any(|p| p.field == "channel") {
        problems.push(Problem::new(
            "channel",
            "unknown_channel",
            "no such channel in this workspace",
        ));
    }
    let (Ok(new), Some(live)) = (parsed, live) else {
        return Err(ApiError::Validation(problems));
    };
    let stored = registry::submit(state.store.as_ref(), &live, &new).await?;
    Ok((StatusCode::CREATED, Json(TemplateView::from(&stored))))
}
