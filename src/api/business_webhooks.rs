//! `/v1/webhooks`: the business's webhook endpoints, their delivery log and replays.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use chasqui_domain::problem::code;
use chasqui_domain::Problem;
use chasqui_store::{
    DeliveryRecord, ReplaySelection, WebhookEndpoint, WebhookEndpointPatch, EVENT_TYPES,
};
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};
use utoipa::{IntoParams, ToSchema};

use super::auth::Caller;
use super::body::JsonBody;
use super::error::ApiError;
use super::extract::{Path, Query};
use super::paging::{Limit, List};
use super::AppState;
use crate::business_webhooks::sign;
use crate::clock::{now_ms, parse_rfc3339, rfc3339};
use crate::ids;

/// Longest endpoint URL.
const MAX_URL_CHARS: usize = 2048;

/// A business webhook endpoint (its secret only as a hint).
#[derive(Debug, Serialize, ToSchema)]
pub struct Endpoint {
    /// Chasqui's endpoint id.
    #[schema(example = "wh_0192f3c4a1b27c3d9e8f7a6b5c4d3e2f")]
    pub id: String,
    /// Where events are posted.
    #[schema(example = "https://crm.example.com/hooks/chasqui")]
    pub url: String,
    /// The event types it receives (`["*"]`: all).
    pub events: Vec<String>,
    /// Receives events.
    pub enabled: bool,
    /// The last characters of the signing secret.
    pub secret_hint: String,
    /// Creation time (RFC 3339).
    pub created_at: String,
    /// Last change (RFC 3339).
    pub updated_at: String,
}

impl From<&WebhookEndpoint> for Endpoint {
    fn from(e: &WebhookEndpoint) -> Self {
        let events = if e.events == "*" {
            vec!["*".to_string()]
        } else {
            serde_json::from_str(&e.events).unwrap_or_default()
        };
        Self {
            id: e.id.clone(),
            url: e.url.clone(),
            events,
            enabled: e.enabled,
            secret_hint: e.secret_hint.clone(),
            created_at: rfc3339(e.created_at),
            updated_at: rfc3339(e.updated_at),
        }
    }
}

/// A new endpoint, with the secret that signs its deliveries: shown this once.
#[derive(Debug, Serialize, ToSchema)]
pub struct CreatedEndpoint {
    /// The endpoint.
    #[serde(flatten)]
    pub endpoint: Endpoint,
    /// The HMAC-SHA256 signing secret (`X-Chasqui-Signature`).
    pub secret: String,
}

/// The body of `POST /v1/webhooks`.
#[derive(Debug, ToSchema)]
#[schema(example = json!({"url": "https://crm.example.com/hooks/chasqui",
    "events": ["message.received", "message.status"]}))]
#[allow(dead_code)] // The spec's body schema; a field reader parses it, listing every problem.
pub struct NewEndpoint {
    /// An https URL (at most 2048 characters) on a public address.
    pub url: String,
    /// Event types to receive; all when left out.
    pub events: Option<Vec<String>>,
    /// Receives events (default `true`).
    pub enabled: Option<bool>,
}

/// The body of `PATCH /v1/webhooks/{id}`.
#[derive(Debug, ToSchema)]
#[allow(dead_code)] // The spec's body schema; a field reader parses it, listing every problem.
pub struct EndpointChanges {
    /// A new URL.
    pub url: Option<String>,
    /// New event types.
    pub events: Option<Vec<String>>,
    /// Receives events.
    pub enabled: Option<bool>,
}

/// One event's deliveries to an endpoint.
#[derive(Debug, Serialize, ToSchema)]
pub struct Delivery {
    /// The event's id (the same in every attempt and replay).
    pub event_id: String,
    /// Its type.
    #[serde(rename = "type")]
    #[schema(example = "message.status")]
    pub kind: String,
    /// `pending`, `delivered` or `failed`.
    #[schema(example = "delivered")]
    pub state: String,
    /// Attempts so far.
    pub attempts: i64,
    /// The next attempt, while pending (RFC 3339).
    pub next_attempt_at: Option<String>,
    /// The HTTP status of the last attempt.
    pub last_status: Option<i64>,
    /// How long the last attempt took.
    pub last_latency_ms: Option<i64>,
    /// Why the last attempt failed.
    pub last_error: Option<String>,
    /// When it was delivered (RFC 3339).
    pub delivered_at: Option<String>,
    /// Every attempt.
    pub log: Vec<DeliveryAttempt>,
}

/// One attempt to deliver an event.
#[derive(Debug, Serialize, ToSchema)]
pub struct DeliveryAttempt {
    /// Its number, from 1.
    pub attempt: i64,
    /// When (RFC 3339).
    pub at: String,
    /// The HTTP status the endpoint answered.
    pub status: Option<i64>,
    /// How long it took.
    pub latency_ms: i64,
    /// Why it failed.
    pub error: Option<String>,
}

impl From<&DeliveryRecord> for Delivery {
    fn from(d: &DeliveryRecord) -> Self {
        Self {
            event_id: d.event_id.clone(),
            kind: d.event_type.clone(),
            state: d.state.clone(),
            attempts: d.attempts,
            next_attempt_at: (d.state == "pending").then(|| rfc3339(d.next_attempt_at)),
            last_status: d.last_status,
            last_latency_ms: d.last_latency_ms,
            last_error: d.last_error.clone(),
            delivered_at: d.delivered_at.map(rfc3339),
            log: d
                .log
                .iter()
                .map(|a| DeliveryAttempt {
                    attempt: a.attempt,
                    at: rfc3339(a.at),
                    status: a.status,
                    latency_ms: a.latency_ms,
                    error: a.error.clone(),
                })
                .collect(),
        }
    }
}

/// The body of `POST /v1/webhooks/{id}/replay`: exactly one of the two.
#[derive(Debug, ToSchema)]
#[schema(example = json!({"since": "2026-12-01T00:00:00Z"}))]
#[allow(dead_code)] // The spec's body schema; a field reader parses it, listing every problem.
pub struct ReplayRequest {
    /// Replay this one event.
    pub event_id: Option<String>,
    /// Replay every event since this time (RFC 3339).
    pub since: Option<String>,
}

/// How many events a replay queued.
#[derive(Debug, Serialize, ToSchema)]
pub struct Replayed {
    /// Events queued again.
    pub queued: u64,
}

/// How many deliveries to list.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct DeliveriesQuery {
    /// How many events (default 50).
    limit: Option<Limit>,
}

fn check_url(v: &Value, problems: &mut Vec<Problem>) -> Option<String> {
    let Some(url) = v.as_str() else {
        problems.push(Problem::new("url", code::INVALID_TYPE, "must be a string"));
        return None;
    };
    let ok = url.len() <= MAX_URL_CHARS
        && reqwest::Url::parse(url)
            .ok()
            .is_some_and(|u| matches!(u.scheme(), "http" | "https") && u.host().is_some());
    if !ok {
        problems.push(Problem::new(
            "url",
            code::INVALID_URL,
            "must be an http or https URL",
        ));
        return None;
    }
    Some(url.to_string())
}

/// Refuses a URL whose host is, or resolves to, an address the policy forbids. The message
/// says no more than that: which class, or what a name resolved to, stays the operator's.
async fn check_address(state: &AppState, url: &str, problems: &mut Vec<Problem>) -> bool {
    let Ok(parsed) = reqwest::Url::parse(url) else {
        return false;
    };
    if crate::net::guard::check_url(&state.address_policy, &parsed)
        .await
        .is_ok()
    {
        return true;
    }
    problems.push(Problem::new(
        "url",
        code::FORBIDDEN_URL,
        "must not point to a loopback, private, link-local or other internal address \
         (the operator may allow ranges with business_webhooks.allow_private)",
    ));
    false
}

/// The stored filter (`*` or a JSON array) of an `events` value.
fn check_events(v: &Value, problems: &mut Vec<Problem>) -> Option<String> {
    let Some(list) = v.as_array() else {
        problems.push(Problem::new(
            "events",
            code::INVALID_TYPE,
            "must be an array of event types or [\"*\"]",
        ));
        return None;
    };
    if list.is_empty() {
        problems.push(Problem::new(
            "events",
            code::EMPTY,
            "name at least one event type, or \"*\"",
        ));
        return None;
    }
    let mut names = Vec::new();
    let before = problems.len();
    for (i, item) in list.iter().enumerate() {
        match item.as_str() {
            Some("*") => return Some("*".into()),
            Some(name) if EVENT_TYPES.contains(&name) => {
                if !names.contains(&name) {
                    names.push(name);
                }
            }
            _ => problems.push(Problem::new(
                format!("events[{i}]"),
                code::INVALID_VALUE,
                format!("must be \"*\" or one of {}", EVENT_TYPES.join(", ")),
            )),
        }
    }
    (problems.len() == before).then(|| json!(names).to_string())
}

fn object(body: &Value) -> Result<&Map<String, Value>, ApiError> {
    body.as_object().ok_or_else(|| {
        ApiError::Validation(vec![Problem::new(
            "",
            code::INVALID_TYPE,
            "the body must be a JSON object",
        )])
    })
}

/// `POST /v1/webhooks`: registers an endpoint; the answer is the only place its secret appears.
#[utoipa::path(post, path = "/v1/webhooks", tag = "Business webhooks", request_body = NewEndpoint,
    responses((status = 201, description = "Registered; `secret` is shown this once",
        body = CreatedEndpoint)))]
pub async fn create(
    State(state): State<AppState>,
    Caller(key): Caller,
    body: JsonBody,
) -> Result<(StatusCode, Json<CreatedEndpoint>), ApiError> {
    let obj = object(&body.value)?;
    let mut problems = Vec::new();
    let mut url = match obj.get("url") {
        Some(v) => check_url(v, &mut problems),
        None => {
            problems.push(Problem::new("url", code::REQUIRED, "is required"));
            None
        }
    };
    if let Some(u) = &url {
        if !check_address(&state, u, &mut problems).await {
            url = None;
        }
    }
    let events = match obj.get("events") {
        Some(v) => check_events(v, &mut problems),
        None => Some("*".into()),
    };
    let enabled = match obj.get("enabled") {
        None => true,
        Some(v) => v.as_bool().unwrap_or_else(|| {
            problems.push(Problem::new(
                "enabled",
                code::INVALID_TYPE,
                "must be true or false",
            ));
            true
        }),
    };
    for k in obj.keys() {
        if !matches!(k.as_str(), "url" | "events" | "enabled") {
            problems.push(Problem::new(k, code::UNKNOWN_FIELD, "unknown field"));
        }
    }
    let (Some(url), Some(events), true) = (url, events, problems.is_empty()) else {
        return Err(ApiError::Validation(problems));
    };
    let secret = sign::new_secret();
    let now = now_ms();
    let endpoint = WebhookEndpoint {
        id: ids::prefixed("wh_"),
        workspace_id: key.workspace_id.clone(),
        url,
        events,
        secret: state.sealer.seal(&secret),
        secret_hint: sign::hint(&secret),
        enabled,
        created_at: now,
        updated_at: now,
    };
    state.store.create_webhook_endpoint(&endpoint).await?;
    Ok((
        StatusCode::CREATED,
        Json(CreatedEndpoint {
            endpoint: Endpoint::from(&endpoint),
            secret,
        }),
    ))
}

/// `GET /v1/webhooks`.
#[utoipa::path(get, path = "/v1/webhooks", tag = "Business webhooks",
    responses((status = 200, description = "Every endpoint of the workspace", body = List<Endpoint>)))]
pub async fn list(
    State(state): State<AppState>,
    Caller(key): Caller,
) -> Result<Json<List<Endpoint>>, ApiError> {
    let all = state
        .store
        .list_webhook_endpoints(&key.workspace_id)
        .await?;
    Ok(Json(List::of(all.iter().map(Endpoint::from).collect())))
}

/// `GET /v1/webhooks/{id}`.
#[utoipa::path(get, path = "/v1/webhooks/{id}", tag = "Business webhooks",
    params(("id" = String, Path, description = "The endpoint's id")),
    responses((status = 200, description = "The endpoint", body = Endpoint)))]
pub async fn get_one(
    State(state): State<AppState>,
    Caller(key): Caller,
    Path(id): Path<String>,
) -> Result<Json<Endpoint>, ApiError> {
    let e = state
        .store
        .get_webhook_endpoint(&key.workspace_id, &id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("webhook endpoint {id}")))?;
    Ok(Json(Endpoint::from(&e)))
}

/// `PATCH /v1/webhooks/{id}`: changes `url`, `events` or `enabled`.
#[utoipa::path(patch, path = "/v1/webhooks/{id}", tag = "Business webhooks",
    params(("id" = String, Path, description = "The endpoint's id")),
    request_body = EndpointChanges,
    responses((status = 200, description = "The endpoint as changed", body = Endpoint)))]
pub async fn update(
    State(state): State<AppState>,
    Caller(key): Caller,
    Path(id): Path<String>,
    body: JsonBody,
) -> Result<Json<Endpoint>, ApiError> {
    let obj = object(&body.value)?;
    let mut problems = Vec::new();
    let mut patch = WebhookEndpointPatch::default();
    for (k, v) in obj {
        match k.as_str() {
            "url" => patch.url = check_url(v, &mut problems),
            "events" => patch.events = check_events(v, &mut problems),
            "enabled" => match v.as_bool() {
                Some(b) => patch.enabled = Some(b),
                None => problems.push(Problem::new(k, code::INVALID_TYPE, "must be true or false")),
            },
            _ => problems.push(Problem::new(k, code::UNKNOWN_FIELD, "unknown field")),
        }
    }
    if let Some(u) = &patch.url {
        check_address(&state, u, &mut problems).await;
    }
    if !problems.is_empty() {
        return Err(ApiError::Validation(problems));
    }
    let e = state
        .store
        .update_webhook_endpoint(&key.workspace_id, &id, &patch, now_ms())
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("webhook endpoint {id}")))?;
    Ok(Json(Endpoint::from(&e)))
}

/// `DELETE /v1/webhooks/{id}`: removes the endpoint with its pending deliveries and log.
#[utoipa::path(delete, path = "/v1/webhooks/{id}", tag = "Business webhooks",
    params(("id" = String, Path, description = "The endpoint's id")),
    responses((status = 204, description = "Removed")))]
pub async fn delete(
    State(state): State<AppState>,
    Caller(key): Caller,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    if state
        .store
        .delete_webhook_endpoint(&key.workspace_id, &id)
        .await?
    {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::NotFound(format!("webhook endpoint {id}")))
    }
}

/// `GET /v1/webhooks/{id}/deliveries`: the delivery log, newest event first.
#[utoipa::path(get, path = "/v1/webhooks/{id}/deliveries", tag = "Business webhooks",
    params(("id" = String, Path, description = "The endpoint's id"), DeliveriesQuery),
    responses((status = 200, description = "The latest events, newest first", body = List<Delivery>)))]
pub async fn deliveries(
    State(state): State<AppState>,
    Caller(key): Caller,
    Path(id): Path<String>,
    Query(q): Query<DeliveriesQuery>,
) -> Result<Json<List<Delivery>>, ApiError> {
    let log = state
        .store
        .list_webhook_deliveries(&key.workspace_id, &id, q.limit.unwrap_or_default().get())
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("webhook endpoint {id}")))?;
    Ok(Json(List::of(log.iter().map(Delivery::from).collect())))
}

/// `POST /v1/webhooks/{id}/replay`: `{"event_id": ...}` or `{"since": RFC 3339}` queues those
/// events again for this endpoint, with the same event ids.
#[utoipa::path(post, path = "/v1/webhooks/{id}/replay", tag = "Business webhooks",
    params(("id" = String, Path, description = "The endpoint's id")),
    request_body = ReplayRequest,
    responses((status = 202, description = "Queued again", body = Replayed)))]
pub async fn replay(
    State(state): State<AppState>,
    Caller(key): Caller,
    Path(id): Path<String>,
    body: JsonBody,
) -> Result<(StatusCode, Json<Replayed>), ApiError> {
    let obj = object(&body.value)?;
    let mut problems = Vec::new();
    for k in obj.keys() {
        if !matches!(k.as_str(), "event_id" | "since") {
            problems.push(Problem::new(k, code::UNKNOWN_FIELD, "unknown field"));
        }
    }
    let selection = match (obj.get("event_id"), obj.get("since")) {
        (Some(e), None) => match e.as_str().filter(|s| !s.is_empty()) {
            Some(e) => Some(ReplaySelection::Event(e.to_string())),
            None => {
                problems.push(Problem::new(
                    "event_id",
                    code::INVALID_TYPE,
                    "must be an event id",
                ));
                None
            }
        },
        (None, Some(s)) => match s.as_str().and_then(parse_rfc3339) {
            Some(t) => Some(ReplaySelection::Since(t)),
            None => {
                problems.push(Problem::new(
                    "since",
                    code::INVALID_VALUE,
                    "must be an RFC 3339 time",
                ));
                None
            }
        },
        _ => {
            problems.push(Problem::new(
                "event_id",
                code::EXACTLY_ONE_OF,
                "give exactly one of event_id or since",
            ));
            None
        }
    };
    let (Some(selection), true) = (selection, problems.is_empty()) else {
        return Err(ApiError::Validation(problems));
    };
    let n = state
        .store
        .replay_webhook_events(&key.workspace_id, &id, &selection, now_ms())
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("webhook endpoint {id}")))?;
    if let ReplaySelection::Event(event_id) = &selection {
        if n == 0 {
            return Err(ApiError::NotFound(format!("event {event_id}")));
        }
    }
    Ok((StatusCode::ACCEPTED, Json(Replayed { queued: n })))
}
