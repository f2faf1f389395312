//! Wolkvox: `/api/v2/whatsapp.php?api=…` and `/api/v2/information.php?api=connectors` with the
//! `wolkvox-token` header (a Chasqui API key), answered `{code, error, msg[, data]}`.

use chasqui_domain::ChannelId;
mod translate;

pub use translate::*;

use std::collections::HashMap;

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use chasqui_domain::template_registry::parse_submission;
use chasqui_domain::window::WindowPolicy;
use chasqui_domain::{Problem, Scope};
use chasqui_store::TemplateFilter;
use serde_json::{json, Value};

use super::{capped, idempotency_key, log_failure, read_body};
use crate::api::auth::{authenticate_token, Principal};
use crate::api::error::ApiError;
use crate::api::extract::Query;
use crate::api::send::{submit, SendRequest};
use crate::api::templates::live_channel;
use crate::api::AppState;
use crate::limits::Admission;
use crate::templates as registry;

fn render(result: Result<(Envelope, HeaderMap), Envelope>) -> Response {
    let (envelope, headers) = result.unwrap_or_else(|e| (e, HeaderMap::new()));
    (envelope.status, headers, Json(envelope.body())).into_response()
}

fn api_err(e: ApiError) -> Envelope {
    log_failure(&e);
    from_api_error(&e)
}

/// Authenticates the `wolkvox-token`, checks `scope` and admits the request under Wolkvox's
/// limits: at most 2 at once per token and licences × 1,000 sends a day (each lowered further by
/// the key's own limits, never raised).
async fn admit(
    state: &AppState,
    headers: &HeaderMap,
    scope: Scope,
) -> Result<(Principal, Admission), Envelope> {
    let token = headers
        .get("wolkvox-token")
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .ok_or_else(|| api_err(ApiError::MissingApiKey))?;
    let mut caller = authenticate_token(state, token, scope)
        .await
        .map_err(api_err)?;
    let cfg = &state.dialects.wolkvox;
    let daily = cfg
        .daily_quota
        .unwrap_or(cfg.licences.saturating_mul(DAILY_PER_LICENCE));
    caller.limits.daily_quota = capped(caller.limits.daily_quota, Some(daily));
    caller.limits.max_concurrent = capped(caller.limits.max_concurrent, Some(MAX_SIMULTANEOUS));
    let admission = state
        .limits
        .admit(&caller.id, &caller.limits)
        .await
        .inspect_err(|e| state.metrics.limit_refused(e))
        .map_err(|e| api_err(e.into()))?;
    Ok((caller, admission))
}

/// `/api/v2/whatsapp.php?api=…`: routed on `api`.
pub async fn whatsapp(
    State(state): State<AppState>,
    q: Result<Query<HashMap<String, String>>, ApiError>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    match q {
        Ok(Query(q)) => render(whatsapp_inner(&state, &q, &headers, body).await),
        Err(e) => render(Err(api_err(e))),
    }
}

async fn whatsapp_inner(
    state: &AppState,
    q: &HashMap<String, String>,
    headers: &HeaderMap,
    body: Body,
) -> Result<(Envelope, HeaderMap), Envelope> {
    let op = q.get("api").and_then(|a| Api::parse(a));
    // The token is checked before the operation, so an anonymous caller learns nothing.
    let scope = match op {
        Some(a) if a.is_send() => Scope::Send,
        Some(_) => Scope::Templates,
        None => Scope::Send,
    };
    let (caller, _admission) = admit(state, headers, scope).await?;
    let op = op.ok_or_else(|| Envelope::bad_request(NO_SUCH_API))?;
    let body = read_body(body)
        .await
        .ok_or_else(|| Envelope::bad_request("THE BODY IS TOO LARGE OR COULD NOT BE READ"))?;
    let fields = fields(q, &body)?;
    check_required(op, &fields)?;
    let field = |name: &str| text(&fields, name);
    // `check_required` has seen these; the defaults only keep this free of panics.
    let connector = field("connector_id").unwrap_or_default();
    // The id Wolkvox gave the channel, when one has it; else a Chasqui id or sender number.
    let connector = state
        .channels
        .by_vendor_id(
            &caller.workspace_id,
            |c| &c.wolkvox_connector_id,
            &connector,
        )
        .map_or(connector, |c| c.id.to_string());
    match op {
        Api::SendMessageMobil | Api::SendMessageOfficial | Api::SendTemplateOfficial => {
            let telephone = field("telephone").unwrap_or_default();
            let url_attach = field("url_attach");
            let (message, window_policy) = match op {
                Api::SendMessageMobil => (
                    mobil_message(
                        &telephone,
                        &field("message").unwrap_or_default(),
                        url_attach.as_deref(),
                    ),
                    None,
                ),
                // Wolkvox sends free-form "official" messages only inside the window the
                // customer's reply opened, whatever the channel's own policy says.
                Api::SendMessageOfficial => (
                    official_message(&telephone, &field("message").unwrap_or_default()),
                    Some(WindowPolicy::Enforce),
                ),
                _ => {
                    let name = field("template_name").unwrap_or_default();
                    let language = template_language(state, &caller, &connector, &name).await?;
                    let vars = split_vars(field("template_vars").as_deref());
                    (
                        template_message(
                            &telephone,
                            &name,
                            &language,
                            &vars,
                            url_attach.as_deref(),
                        ),
                        None,
                    )
                }
            };
            let sent = submit(
                state,
                &caller,
                SendRequest {
                    message,
                    channel: Some(connector),
                    idempotency_key: idempotency_key(headers),
                    window_policy,
                    ..SendRequest::default()
                },
            )
            .await
            .map_err(api_err)?;
            Ok((Envelope::ok(StatusCode::CREATED, SENT, None), sent.headers))
        }
        Api::CreateTemplate(category) => {
            let live = channel(state, &caller, &connector).await?;
            let new = parse_submission(&template_submission(&fields, category))
                .map_err(|problems| api_err(ApiError::Validation(problems)))?;
            let stored = registry::submit(state.store.as_ref(), &live, &new)
                .await
                .map_err(|e| api_err(e.into()))?;
            let data = json!({
                "id": stored.template.id,
                "name": stored.template.name.as_str(),
                "language": stored.template.language,
                "category": stored.template.category.as_str(),
                "status": stored.template.status.as_str(),
            });
            Ok((
                Envelope::ok(
                    StatusCode::CREATED,
                    "Template has been created successfully",
                    Some(data),
                ),
                HeaderMap::new(),
            ))
        }
        Api::ListTemplates => {
            let live = channel(state, &caller, &connector).await?;
            let templates = templates_of(state, &caller, &live.channel.id).await?;
            let data =
                json!({"meta_templates": templates.iter().map(meta_template).collect::<Vec<_>>()});
            Ok((
                Envelope::ok(StatusCode::OK, "OK", Some(data)),
                HeaderMap::new(),
            ))
        }
        Api::SyncTemplates => {
            let live = channel(state, &caller, &connector).await?;
            registry::sync_channel(state.store.as_ref(), &live)
                .await
                .map_err(|e| api_err(e.into()))?;
            let templates = templates_of(state, &caller, &live.channel.id).await?;
            let data = Value::Array(templates.iter().map(synced_template).collect());
            Ok((
                Envelope::ok(
                    StatusCode::OK,
                    "Templates have been synchronized successfully",
                    Some(data),
                ),
                HeaderMap::new(),
            ))
        }
    }
}

/// The caller's channel `connector_id` names (already resolved from `wolkvox_connector_id`):
/// its Chasqui id or sender number.
async fn channel(
    state: &AppState,
    caller: &Principal,
    connector: &str,
) -> Result<std::sync::Arc<crate::channels::LiveChannel>, Envelope> {
    live_channel(state, &caller.workspace_id, Some(connector))
        .await
        .map_err(api_err)?
        .ok_or_else(|| {
            api_err(ApiError::Validation(vec![Problem::new(
                "connector_id",
                "unknown_channel",
                "no such connector (channel) in this workspace",
            )]))
        })
}

async fn templates_of(
    state: &AppState,
    caller: &Principal,
    channel_id: &ChannelId,
) -> Result<Vec<chasqui_store::StoredTemplate>, Envelope> {
    let filter = TemplateFilter {
        channel_id: Some(channel_id.to_owned()),
        ..Default::default()
    };
    state
        .store
        .list_templates(&caller.workspace_id, &filter)
        .await
        .map_err(|e| api_err(e.into()))
}

/// The language to send template `name` in: Wolkvox requests name no language, so it is the
/// channel registry's (see [`pick_language`]). An unknown connector or template falls back to
/// `es`, and the send service then refuses it with its own reason.
async fn template_language(
    state: &AppState,
    caller: &Principal,
    connector: &str,
    name: &str,
) -> Result<String, Envelope> {
    let found = match state.channels.lookup(&caller.workspace_id, Some(connector)) {
        Some(c) => Some(c),
        None => state
            .store
            .find_channel(&caller.workspace_id, connector)
            .await
            .map_err(|e| api_err(e.into()))?,
    };
    let Some(ch) = found else {
        return Ok("es".into());
    };
    let filter = TemplateFilter {
        channel_id: Some(ch.id),
        name: Some(name.to_owned()),
        ..Default::default()
    };
    let candidates: Vec<(String, bool)> = state
        .store
        .list_templates(&caller.workspace_id, &filter)
        .await
        .map_err(|e| api_err(e.into()))?
        .into_iter()
        .map(|t| (t.template.language.clone(), t.template.is_sendable()))
        .collect();
    Ok(pick_language(&candidates).unwrap_or_else(|| "es".into()))
}

/// `/api/v2/information.php?api=connectors`: the caller's channels as Wolkvox connectors.
pub async fn information(
    State(state): State<AppState>,
    q: Result<Query<HashMap<String, String>>, ApiError>,
    headers: HeaderMap,
) -> Response {
    match q {
        Ok(Query(q)) => render(information_inner(&state, &q, &headers).await),
        Err(e) => render(Err(api_err(e))),
    }
}

async fn information_inner(
    state: &AppState,
    q: &HashMap<String, String>,
    headers: &HeaderMap,
) -> Result<(Envelope, HeaderMap), Envelope> {
    let (caller, _admission) = admit(state, headers, Scope::Read).await?;
    if q.get("api").map(|a| a.trim()) != Some("connectors") {
        return Err(Envelope::bad_request(NO_SUCH_API));
    }
    let channels = state
        .store
        .list_channels(&caller.workspace_id)
        .await
        .map_err(|e| api_err(e.into()))?;
    let data = Value::Array(channels.iter().map(connector).collect());
    Ok((
        Envelope::ok(StatusCode::OK, "OK", Some(data)),
        HeaderMap::new(),
    ))
}
