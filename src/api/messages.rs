//! `/v1/messages`: send, read one, list.

use std::collections::HashMap;

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::Json;
use chasqui_domain::{parse_outbound, MessageStatus, PhoneNumber, Problem};
use chasqui_store::{AcceptOutcome, Channel, IdempotencyClaim, MessageFilter, NewMessage};
use serde_json::{json, Value};

use super::auth::{Caller, Principal};
use super::body::JsonBody;
use super::error::ApiError;
use super::paging::{limit_param, unknown_param};
use super::{views, window_check, AppState};
use crate::clock::{now_ms, parse_rfc3339};
use crate::ids;
use crate::limits::{LimitError, RecipientSlot, SendCharge};

/// Longest accepted `Idempotency-Key`.
const MAX_IDEMPOTENCY_KEY: usize = 255;

fn idempotency_key(headers: &HeaderMap) -> Result<Option<String>, ApiError> {
    let Some(raw) = headers.get("idempotency-key") else {
        return Ok(None);
    };
    let bad = |message: &str| ApiError::BadParameter {
        field: "Idempotency-Key".into(),
        message: message.into(),
    };
    let key = raw
        .to_str()
        .map_err(|_| bad("must be printable ASCII"))?
        .trim();
    if key.is_empty() || key.len() > MAX_IDEMPOTENCY_KEY {
        return Err(bad("must be 1 to 255 characters"));
    }
    Ok(Some(key.to_string()))
}

async fn pick_channel(
    state: &AppState,
    workspace: &str,
    requested: Option<Value>,
    problems: &mut Vec<Problem>,
) -> Result<Option<Channel>, ApiError> {
    // The in-memory directory answers the hot path; the store catches channels added since its
    // last refresh.
    let found = match requested {
        None | Some(Value::Null) => match state.channels.lookup(workspace, None) {
            Some(c) => Some(c),
            None => state.store.default_channel(workspace).await?,
        },
        Some(Value::String(r)) if !r.trim().is_empty() => {
            match state.channels.lookup(workspace, Some(r.trim())) {
                Some(c) => Some(c),
                None => state.store.find_channel(workspace, r.trim()).await?,
            }
        }
        Some(_) => {
            problems.push(Problem::new(
                "channel",
                "invalid_type",
                "must be a channel id or its sender number",
            ));
            return Ok(None);
        }
    };
    match &found {
        None => problems.push(Problem::new(
            "channel",
            "unknown_channel",
            "no such channel in this workspace",
        )),
        Some(c) if !c.enabled => {
            problems.push(Problem::new(
                "channel",
                "channel_disabled",
                "the channel is disabled",
            ));
            return Ok(None);
        }
        Some(_) => {}
    }
    Ok(found)
}

/// `POST /v1/messages`: validate, commit, answer 202.
pub async fn create(
    State(state): State<AppState>,
    Caller(key): Caller,
    headers: HeaderMap,
    body: JsonBody,
) -> Result<(StatusCode, HeaderMap, Json<Value>), ApiError> {
    let idempotency = idempotency_key(&headers)?;
    // Hash the parsed value (keys sorted), so whitespace and key order do not make a conflict.
    let request_hash = idempotency
        .as_ref()
        .map(|_| ids::sha256_hex(body.value.to_string().as_bytes()));
    let mut value = body.value;
    let Some(fields) = value.as_object_mut() else {
        return Err(ApiError::InvalidJson(
            "the body must be a JSON object".into(),
        ));
    };
    let requested_channel = fields.remove("channel");
    let parsed = parse_outbound(&value);
    let mut problems = parsed.as_ref().err().cloned().unwrap_or_default();
    let channel = pick_channel(&state, &key.workspace_id, requested_channel, &mut problems).await?;
    let (Ok(msg), Some(channel)) = (parsed, channel) else {
        return Err(ApiError::Validation(problems));
    };
    let window = window_check::check(&state, &key.workspace_id, &channel, &msg).await?;
    let rendered = super::template_check::check_template_send(&state, &channel, &msg).await?;
    let recipient = msg.recipient.digits().to_string();
    // Quotas come last, once the send is known to be valid, so a refused request costs nothing;
    // whatever is charged here is given back unless the message is committed below.
    let (charge, slot) = match charge_limits(&state, &key, &channel, window.window_open, &recipient)
        .await
    {
        Ok(taken) => taken,
        // A retry of a send already accepted gets its first answer, not a refusal: the replay
        // below stores nothing and so needs no quota.
        Err(e @ LimitError::Exceeded { .. }) => match &idempotency {
            Some(k) if state.store.idempotency_key_used(&key.id, k).await? => Default::default(),
            _ => return Err(e.into()),
        },
        Err(e) => return Err(e.into()),
    };
    let new = NewMessage {
        id: ids::message_id(),
        workspace_id: key.workspace_id.clone(),
        channel_id: channel.id,
        recipient,
        kind: msg.kind.as_str().to_string(),
        body: msg.body.to_string(),
        created_at: now_ms(),
        idempotency: idempotency
            .zip(request_hash)
            .map(|(k, request_hash)| IdempotencyClaim {
                api_key_id: key.id.clone(),
                key: k,
                request_hash,
            }),
        rendered,
    };
    let outcome = state.store.accept_message(new).await;
    if !matches!(outcome, Ok(AcceptOutcome::Created(_))) {
        // Nothing new was committed (a replay, a conflict or a failure): nothing is charged.
        state.limits.refund(&charge).await;
        state.limits.forget_recipient(&slot).await;
    }
    let mut headers = HeaderMap::new();
    if let Some(h) = charge.standing(matches!(outcome, Ok(AcceptOutcome::Created(_)))) {
        h.apply(&mut headers);
    }
    match outcome? {
        AcceptOutcome::Created(m) => {
            state.wake.notify_waiters();
            let mut answer = views::accepted(&m);
            if !window.warnings.is_empty() {
                answer["warnings"] = json!(window.warnings);
            }
            Ok((StatusCode::ACCEPTED, headers, Json(answer)))
        }
        AcceptOutcome::Replayed(m) => {
            Ok((StatusCode::ACCEPTED, headers, Json(views::accepted(&m))))
        }
        AcceptOutcome::Conflict { message_id } => Err(ApiError::IdempotencyConflict(message_id)),
    }
}

/// Charges a send to the daily quotas and, when it is business-initiated (sent while the
/// customer's 24-hour window is closed, which is what Meta's messaging limit counts), to the
/// channel's messaging limit; all or nothing.
async fn charge_limits(
    state: &AppState,
    key: &Principal,
    channel: &Channel,
    window_open: bool,
    recipient: &str,
) -> Result<(SendCharge, RecipientSlot), LimitError> {
    let workspace_limits = state.limits.workspace_limits(&key.workspace_id).await?;
    let charge = state
        .limits
        .charge_send(
            &key.id,
            &key.limits,
            &key.workspace_id,
            &workspace_limits,
            1,
        )
        .await?;
    if window_open {
        return Ok((charge, RecipientSlot::default()));
    }
    match state
        .limits
        .admit_recipient(&channel.id, channel.messaging_limit, recipient)
        .await
    {
        Ok(slot) => Ok((charge, slot)),
        Err(e) => {
            state.limits.refund(&charge).await;
            Err(e)
        }
    }
}

/// `GET /v1/messages/{id}`: status and timeline.
pub async fn get_one(
    State(state): State<AppState>,
    Caller(key): Caller,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let detail = state
        .store
        .get_message(&key.workspace_id, &id)
        .await?
        .ok_or(ApiError::NotFound(format!("message {id}")))?;
    Ok(Json(views::detail(&detail)))
}

fn bad(field: &str, message: &str) -> ApiError {
    ApiError::BadParameter {
        field: field.into(),
        message: message.into(),
    }
}

fn filter_from(q: &HashMap<String, String>) -> Result<MessageFilter, ApiError> {
    let mut f = MessageFilter {
        limit: 50,
        ..Default::default()
    };
    for (k, v) in q {
        match k.as_str() {
            "to" => {
                let phone = PhoneNumber::parse(v).map_err(|e| bad("to", &e.to_string()))?;
                f.recipient = Some(phone.digits().to_string());
            }
            "status" => {
                f.status = Some(MessageStatus::parse(v).ok_or_else(|| {
                    bad(
                        "status",
                        "must be one of queued, sending, sent, delivered, read, failed",
                    )
                })?)
            }
            "since" => {
                f.created_from =
                    Some(parse_rfc3339(v).ok_or_else(|| bad("since", "must be an RFC 3339 time"))?)
            }
            "until" => {
                f.created_to =
                    Some(parse_rfc3339(v).ok_or_else(|| bad("until", "must be an RFC 3339 time"))?)
            }
            "limit" => f.limit = limit_param(v)?,
            "cursor" => {
                f.before_seq = Some(
                    v.strip_prefix('c')
                        .and_then(|n| n.parse().ok())
                        .ok_or_else(|| {
                            bad("cursor", "must be a next_cursor from an earlier page")
                        })?,
                )
            }
            other => {
                return Err(unknown_param(
                    other,
                    "to, status, since, until, limit, cursor",
                ))
            }
        }
    }
    Ok(f)
}

/// `GET /v1/messages`: newest first, filtered, paged by cursor.
pub async fn list(
    State(state): State<AppState>,
    Caller(key): Caller,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Json<Value>, ApiError> {
    let filter = filter_from(&q)?;
    let page = state
        .store
        .list_messages(&key.workspace_id, &filter)
        .await?;
    let next = (page.len() as i64 == filter.limit)
        .then(|| page.last().map(|m| format!("c{}", m.seq)))
        .flatten();
    Ok(Json(json!({
        "data": page.iter().map(views::message).collect::<Vec<_>>(),
        "next_cursor": next,
    })))
}
