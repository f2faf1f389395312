//! `/v1/templates`: the template registry: list, sync from the provider, submit a new one.

use chasqui_domain::ChannelId;
use chasqui_domain::WorkspaceId;
use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use chasqui_domain::template_registry::parse_submission;
use chasqui_domain::{Problem, Scope};
use chasqui_provider::ManageError;
use chasqui_store::{StoredTemplate, TemplateFilter};
use serde_json::{json, Value};

use super::auth::{Caller, Principal};
use super::body::{JsonBody, RawBody};
use super::error::ApiError;
use super::extract::Query;
use super::AppState;
use crate::channels::LiveChannel;
use crate::clock::rfc3339;
use crate::templates::{self as registry, TemplateError};

impl From<TemplateError> for ApiError {
    fn from(e: TemplateError) -> Self {
        let channel_problem = |code: &'static str, message: String| {
            ApiError::Validation(vec![Problem::new("channel", code, message)])
        };
        match e {
            TemplateError::NoWaba(_) => channel_problem("no_waba_id", e.to_string()),
            TemplateError::Provider(ManageError::Unsupported(message)) => {
                channel_problem("templates_unsupported", message)
            }
            // The provider judged the request itself; bad credentials or its own failures
            // are the gateway's problem, not the caller's.
            TemplateError::Provider(ManageError::Rejected { http_status, error })
                if (400..500).contains(&http_status) && ![401, 403].contains(&http_status) =>
            {
                ApiError::ProviderRejected(error)
            }
            TemplateError::Provider(other) => ApiError::ProviderUnavailable(other.to_string()),
            TemplateError::Store(e) => e.into(),
        }
    }
}

/// A template as the API shows it.
fn view(t: &StoredTemplate) -> Value {
    let template = t.template.to_json();
    json!({
        "id": t.template.id,
        "channel": t.channel_id,
        "name": t.template.name.as_str(),
        "language": t.template.language,
        "category": t.template.category.as_str(),
        "status": t.template.status.as_str(),
        "quality": t.quality,
        "rejected_reason": t.rejected_reason,
        "parameter_format": t.template.parameter_format.as_str(),
        "components": template["components"],
        "updated_at": rfc3339(t.updated_at),
    })
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
pub async fn list(
    State(state): State<AppState>,
    Caller(key): Caller,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Json<Value>, ApiError> {
    let mut filter = TemplateFilter::default();
    let mut workspace = key.workspace_id.clone();
    for (k, v) in &q {
        match k.as_str() {
            "channel" => {
                let live = template_channel(&state, &key, Some(v.trim()))
                    .await?
                    .ok_or_else(|| bad("channel", "no such channel in this workspace"))?;
                filter.channel_id = Some(live.channel.id.clone());
                workspace = live.channel.workspace_id.clone();
            }
            "status" => filter.status = Some(v.trim().to_ascii_uppercase()),
            "name" => filter.name = Some(v.trim().to_owned()),
            "language" => filter.language = Some(v.trim().to_owned()),
            other => {
                return Err(bad(
                    other,
                    "unknown query parameter (use channel, status, name, language)",
                ))
            }
        }
    }
    let templates = state.store.list_templates(&workspace, &filter).await?;
    Ok(Json(json!({
        "data": templates.iter().map(view).collect::<Vec<_>>(),
    })))
}

/// The optional `channel` of a sync: `?channel=` or a JSON body `{"channel": ...}`.
fn sync_target(q: &HashMap<String, String>, body: &[u8]) -> Result<Option<String>, ApiError> {
    if let Some(other) = q.keys().find(|k| k.as_str() != "channel") {
        return Err(bad(other, "unknown query parameter (use channel)"));
    }
    let mut channel = q.get("channel").map(|c| c.trim().to_owned());
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
pub async fn sync(
    State(state): State<AppState>,
    Caller(key): Caller,
    Query(q): Query<HashMap<String, String>>,
    RawBody(body): RawBody,
) -> Result<Json<Value>, ApiError> {
    let target = sync_target(&q, &body)?;
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
                    failed.push(json!({"channel": live.channel.id, "error": e.to_string()}));
                    first_error.get_or_insert(e);
                }
            }
        }
        // Nothing synced at all: the answer is the error itself.
        if let (true, Some(e)) = (synced.is_empty(), first_error) {
            return Err(e.into());
        }
        let total: usize = synced.iter().map(|s| s.templates).sum();
        return Ok(Json(
            json!({"templates": total, "channels": synced, "failed": failed}),
        ));
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
    Ok(Json(
        json!({"templates": done.templates, "channels": [done], "failed": []}),
    ))
}

/// `POST /v1/templates`: a new template in Meta's creation shape (plus optional `channel`),
/// checked against Meta's rules, submitted through the provider, stored as it answered.
pub async fn create(
    State(state): State<AppState>,
    Caller(key): Caller,
    body: JsonBody,
) -> Result<(StatusCode, Json<Value>), ApiError> {
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
    Ok((StatusCode::CREATED, Json(view(&stored))))
}
