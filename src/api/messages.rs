//! `/v1/messages`: send, read one, list.

use chasqui_domain::MessageId;
use std::collections::HashMap;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::Json;
use chasqui_domain::{parse_outbound, MessageStatus, PhoneNumber, Problem};
use chasqui_store::MessageFilter;
use serde_json::{json, Value};

use super::auth::Caller;
use super::body::JsonBody;
use super::error::ApiError;
use super::extract::{Path, Query};
use super::paging::{limit_param, unknown_param};
use super::send::{self, SendRequest};
use super::{views, AppState};
use crate::clock::parse_rfc3339;

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

/// `POST /v1/messages`: validate, commit, answer 202.
pub async fn create(
    State(state): State<AppState>,
    Caller(key): Caller,
    headers: HeaderMap,
    body: JsonBody,
) -> Result<(StatusCode, HeaderMap, Json<Value>), ApiError> {
    let idempotency_key = idempotency_key(&headers)?;
    let mut message = body.value;
    let Some(fields) = message.as_object_mut() else {
        return Err(ApiError::InvalidJson(
            "the body must be a JSON object".into(),
        ));
    };
    let channel = match fields.remove("channel") {
        None | Some(Value::Null) => None,
        Some(Value::String(c)) if !c.trim().is_empty() => Some(c.trim().to_string()),
        Some(_) => {
            // Reported with the message's own problems, so one answer lists everything.
            let mut problems = parse_outbound(&message).err().unwrap_or_default();
            problems.push(Problem::new(
                "channel",
                "invalid_type",
                "must be a channel id or its sender number",
            ));
            return Err(ApiError::Validation(problems));
        }
    };
    let sent = send::submit(
        &state,
        &key,
        SendRequest {
            message,
            channel,
            idempotency_key,
            window_policy: None,
            ..SendRequest::default()
        },
    )
    .await?;
    let mut answer = views::accepted(&sent.message);
    if !sent.warnings.is_empty() {
        answer["warnings"] = json!(sent.warnings);
    }
    Ok((StatusCode::ACCEPTED, sent.headers, Json(answer)))
}

/// `GET /v1/messages/{id}`: status and timeline.
pub async fn get_one(
    State(state): State<AppState>,
    Caller(key): Caller,
    Path(id): Path<MessageId>,
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
