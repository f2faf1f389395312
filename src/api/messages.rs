//! `/v1/messages`: send, read one, list.

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::Json;
use chasqui_domain::pricing::{PricingCategory, PricingType};
use chasqui_domain::{parse_outbound, MessageId, MessageStatus, Problem, Recipient};
use chasqui_store::MessageFilter;
use serde::Deserialize;
use serde_json::Value;
use utoipa::IntoParams;

use super::auth::Caller;
use super::body::JsonBody;
use super::error::ApiError;
use super::extract::{Path, Query};
use super::paging::{Limit, Page};
use super::send::{self, SendRequest};
use super::views::{Accepted, Message, MessageWithTimeline};
use super::AppState;
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
#[utoipa::path(post, path = "/v1/messages", tag = "Messages",
    params(
        ("Idempotency-Key" = Option<String>, Header,
            description = "Makes a retry safe: the same key and body answer the first \
                acceptance again (1 to 255 characters)"),
    ),
    request_body(content = super::openapi::messages::OutboundMessage,
        description = "A message object as Meta's Cloud API takes it, plus an optional \
            `channel` (a channel id or its sender number; the workspace's default otherwise)"),
    responses(
        (status = 202, description = "Accepted: committed and queued", body = Accepted),
        (status = 409, description = "`idempotency_conflict`"),
        (status = 422, description = "Refused: `validation_failed`, `window_closed`, \
            `contact_opted_out`, `contact_opted_out_marketing`, `template_not_found`"),
        (status = 429, description = "Over a quota: `daily_quota_exceeded`, \
            `messaging_limit_reached`"),
    ))]
pub async fn create(
    State(state): State<AppState>,
    Caller(key): Caller,
    headers: HeaderMap,
    body: JsonBody,
) -> Result<(StatusCode, HeaderMap, Json<Accepted>), ApiError> {
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
    let mut answer = Accepted::from(&sent.message);
    answer.warnings = sent.warnings;
    Ok((StatusCode::ACCEPTED, sent.headers, Json(answer)))
}

/// `GET /v1/messages/{id}`: status and timeline.
#[utoipa::path(get, path = "/v1/messages/{id}", tag = "Messages",
    params(("id" = MessageId, Path, description = "Chasqui's message id")),
    responses((status = 200, description = "The message, its content and its timeline",
        body = MessageWithTimeline)))]
pub async fn get_one(
    State(state): State<AppState>,
    Caller(key): Caller,
    Path(id): Path<MessageId>,
) -> Result<Json<MessageWithTimeline>, ApiError> {
    let detail = state
        .store
        .get_message(&key.workspace_id, &id)
        .await?
        .ok_or(ApiError::NotFound(format!("message {id}")))?;
    let mut view = MessageWithTimeline::from(&detail);
    view.requested = state
        .store
        .client_message(&key.workspace_id, &id)
        .await?
        .and_then(|text| serde_json::from_str(&text).ok());
    Ok(Json(view))
}

/// The filters of `GET /v1/messages`.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct MessageQuery {
    /// Only messages to this recipient (E.164, or a business-scoped user id).
    #[param(example = "+5215512345678")]
    pub(crate) to: Option<String>,
    /// Only messages in this status.
    #[param(inline)]
    pub(crate) status: Option<MessageStatus>,
    /// Only messages accepted at or after this time (RFC 3339).
    #[param(example = "2026-12-01T00:00:00Z")]
    pub(crate) since: Option<String>,
    /// Only messages accepted before this time (RFC 3339).
    pub(crate) until: Option<String>,
    /// Only messages Meta prices in this category (`marketing`, `utility`, `authentication`,
    /// `service`, ...).
    pub(crate) pricing_category: Option<String>,
    /// Only messages of this pricing type: `regular` (charged), `free_customer_service`,
    /// `free_entry_point`.
    pub(crate) pricing_type: Option<String>,
    /// Page size.
    pub(crate) limit: Option<Limit>,
    /// The `next_cursor` of the page before.
    pub(crate) cursor: Option<String>,
}

fn bad(field: &str, message: &str) -> ApiError {
    ApiError::BadParameter {
        field: field.into(),
        message: message.into(),
    }
}

impl MessageQuery {
    /// The store's filter, or the parameter that is wrong.
    pub(crate) fn filter(&self) -> Result<MessageFilter, ApiError> {
        let time = |field: &str, v: &Option<String>| {
            v.as_deref()
                .map(|t| parse_rfc3339(t).ok_or_else(|| bad(field, "must be an RFC 3339 time")))
                .transpose()
        };
        Ok(MessageFilter {
            recipient: self
                .to
                .as_deref()
                .map(|v| Recipient::parse(v).map_err(|e| bad("to", &e.to_string())))
                .transpose()?
                .map(|r| r.key().to_string()),
            status: self.status,
            created_from: time("since", &self.since)?,
            created_to: time("until", &self.until)?,
            pricing_category: self
                .pricing_category
                .as_deref()
                .map(|v| {
                    PricingCategory::parse(v)
                        .ok_or_else(|| bad("pricing_category", "must be a pricing category"))
                })
                .transpose()?,
            pricing_type: self
                .pricing_type
                .as_deref()
                .map(|v| {
                    PricingType::parse(v)
                        .ok_or_else(|| bad("pricing_type", "must be a pricing type"))
                })
                .transpose()?,
            before_seq: self
                .cursor
                .as_deref()
                .map(|v| {
                    v.strip_prefix('c')
                        .and_then(|n| n.parse().ok())
                        .ok_or_else(|| bad("cursor", "must be a next_cursor from an earlier page"))
                })
                .transpose()?,
            limit: self.limit.unwrap_or_default().get(),
        })
    }
}

/// `GET /v1/messages`: newest first, filtered, paged by cursor.
#[utoipa::path(get, path = "/v1/messages", tag = "Messages", params(MessageQuery),
    responses((status = 200, description = "Messages, newest first", body = Page<Message>)))]
pub async fn list(
    State(state): State<AppState>,
    Caller(key): Caller,
    Query(q): Query<MessageQuery>,
) -> Result<Json<Page<Message>>, ApiError> {
    let filter = q.filter()?;
    let page = state
        .store
        .list_messages(&key.workspace_id, &filter)
        .await?;
    Ok(Json(Page::new(
        &page,
        q.limit.unwrap_or_default(),
        Message::from,
        |m| format!("c{}", m.seq),
    )))
}
