//! The simulated Graph API: `POST /{version}/{phone_number_id}/messages` (and
//! `/marketing_messages`, which takes MARKETING templates only), and the templates of
//! `/{version}/{waba_id}/message_templates` (see `templates`), and media (see `media`).
//!
//! Order of checks, so each fault is reproducible on its own: auth (401/190) → body (400/100:
//! JSON, `messaging_product`, `biz_opaque_callback_data`, then `parse_outbound`) → template
//! (404/132001 unknown or unapproved, 132000/132012 parameters) → `recipient_errors` answered
//! in the call (400/131056, 132018) → `latency_ms`
//! → throttle (400/130429) → `error_5xx_rate` (500/131000) → `drop_rate` (hang, nothing
//! recorded) → record and schedule statuses → `timeout_after_accept_rate` (hang, then answer).

use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::DefaultBodyLimit;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use chasqui_domain::{parse_outbound, OutboundMessage};

use crate::SendPath;
use serde_json::{json, Map, Value};

use super::{bump, lock, new_wamid, now_ms, recipient, ReceivedMessage, Sandbox, SandboxSettings};

/// Meta's limit on `biz_opaque_callback_data`.
const CALLBACK_DATA_MAX_CHARS: usize = 512;

pub(super) fn router(sandbox: &Arc<Sandbox>) -> Router {
    Router::new()
        .route("/{version}/{phone_number_id}/messages", post(send))
        .route(
            "/{version}/{phone_number_id}/marketing_messages",
            post(send_marketing),
        )
        // Param names match the routes beside them (the router wants one name per position).
        .route(
            "/{version}/{phone_number_id}/media",
            post(super::media::upload).layer(DefaultBodyLimit::max(super::media::MAX_UPLOAD_BODY)),
        )
        .route("/{version}/{phone_number_id}", get(super::media::info))
        .route(
            "/{version}/{phone_number_id}/download",
            get(super::media::download),
        )
        .route(
            "/{version}/{waba_id}/message_templates",
            get(super::templates::list).post(super::templates::create),
        )
        .with_state(sandbox.clone())
}

/// A refusal before anything is recorded: HTTP status, Meta code, `message`, `error_data.details`.
pub(super) struct Refusal {
    pub(super) status: StatusCode,
    pub(super) code: i64,
    pub(super) message: String,
    pub(super) details: Option<String>,
}

impl Refusal {
    pub(super) fn invalid(details: impl Into<String>) -> Self {
        Self {
            status: StatusCode::BAD_REQUEST,
            code: 100,
            message: "(#100) Invalid parameter".into(),
            details: Some(details.into()),
        }
    }

    pub(super) fn into_response(self) -> Response {
        meta_error(
            self.status,
            self.code,
            &self.message,
            self.details.as_deref(),
        )
    }
}

/// Builds Meta's synchronous error envelope; every Graph error answer goes through here.
pub(super) fn meta_error(
    status: StatusCode,
    code: i64,
    message: &str,
    details: Option<&str>,
) -> Response {
    let mut error = json!({
        "message": message,
        "type": "OAuthException",
        "code": code,
        "fbtrace_id": format!("A{}", &uuid::Uuid::now_v7().simple().to_string()[6..]),
    });
    if let Some(details) = details {
        error["error_data"] = json!({"messaging_product": "whatsapp", "details": details});
    }
    (status, Json(json!({ "error": error }))).into_response()
}

/// A request that passed every check.
struct Valid {
    /// `to` exactly as given, echoed in `contacts[].input`.
    to_input: String,
    callback_data: Option<String>,
    message: OutboundMessage,
}

/// What the fault dice decided for an otherwise valid send.
enum Decision {
    Throttled,
    Fault5xx,
    Drop,
    Accept {
        entry: Box<ReceivedMessage>,
        hang: bool,
    },
}

async fn send(
    State(sandbox): State<Arc<Sandbox>>,
    Path((_version, phone_number_id)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    receive(
        &sandbox,
        &phone_number_id,
        &headers,
        &body,
        SendPath::Messages,
    )
    .await
}

/// `POST /{version}/{phone_number_id}/marketing_messages`: the Marketing Messages API, which
/// takes MARKETING templates only (the same body as `/messages`).
async fn send_marketing(
    State(sandbox): State<Arc<Sandbox>>,
    Path((_version, phone_number_id)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let path = SendPath::MarketingMessages;
    receive(&sandbox, &phone_number_id, &headers, &body, path).await
}

/// Meta's refusal of a message the Marketing Messages API does not take.
fn marketing_refusal(sandbox: &Sandbox, message: &OutboundMessage) -> Option<Refusal> {
    if message.kind.as_str() != "template" {
        return Some(Refusal::invalid("Message must be a template message."));
    }
    (sandbox.template_category(&message.body) != Some("marketing"))
        .then(|| Refusal::invalid("Template must be a marketing template."))
}

async fn receive(
    sandbox: &Arc<Sandbox>,
    phone_number_id: &str,
    headers: &HeaderMap,
    body: &[u8],
    path: SendPath,
) -> Response {
    let (sandbox, phone_number_id) = (sandbox.clone(), phone_number_id.to_owned());
    let settings = sandbox.settings();
    let receipt = super::read_receipts::as_read_receipt(body);
    if let Some(receipt) = receipt.filter(|_| path == SendPath::Messages) {
        return match check_token(&settings, headers) {
            Ok(()) => super::read_receipts::receive(&sandbox, &phone_number_id, &receipt),
            Err(refusal) => refusal.into_response(),
        };
    }
    let checked = check_token(&settings, headers)
        .and_then(|()| validate(body))
        .and_then(|valid| {
            let refusal = sandbox.template_refusal(&valid.message).or_else(|| {
                (path == SendPath::MarketingMessages)
                    .then(|| marketing_refusal(&sandbox, &valid.message))
                    .flatten()
            });
            match refusal {
                Some(refusal) => Err(refusal),
                None => Ok(valid),
            }
        });
    let valid = match checked {
        Ok(valid) => valid,
        Err(refusal) => {
            bump(&sandbox.stats.rejected);
            return refusal.into_response();
        }
    };
    let recipient_error = settings
        .recipient_error(valid.message.recipient.key())
        .filter(|e| e.at_once);
    if let Some(error) = recipient_error {
        bump(&sandbox.stats.rejected);
        return meta_error(
            StatusCode::BAD_REQUEST,
            error.code,
            &format!("(#{}) {}", error.code, error.title),
            Some(error.details),
        );
    }
    if settings.latency_ms > 0 {
        tokio::time::sleep(Duration::from_millis(settings.latency_ms)).await;
    }
    let to_input = valid.to_input.clone();
    match decide(&sandbox, &settings, &phone_number_id, valid, path) {
        Decision::Throttled => {
            bump(&sandbox.stats.throttled);
            meta_error(
                StatusCode::BAD_REQUEST,
                130429,
                "(#130429) Rate limit hit",
                Some("Cloud API message throughput has been reached."),
            )
        }
        Decision::Fault5xx => {
            bump(&sandbox.stats.faults_5xx);
            meta_error(
                StatusCode::INTERNAL_SERVER_ERROR,
                131000,
                "(#131000) Something went wrong",
                Some("Something went wrong. Please try again later."),
            )
        }
        Decision::Drop => {
            bump(&sandbox.stats.dropped);
            sandbox.hang(settings.hang_ms).await;
            // Only a caller with a longer timeout than `hang_ms` sees this.
            meta_error(
                StatusCode::SERVICE_UNAVAILABLE,
                2,
                "(#2) Service temporarily unavailable",
                None,
            )
        }
        Decision::Accept { entry, hang } => {
            bump(&sandbox.stats.received);
            let category = sandbox.template_category(&entry.body);
            for event in recipient::plan(&settings, &entry, category) {
                // Fails only when the scheduler is gone, i.e. the sandbox is shutting down.
                let _ = sandbox.schedule_tx.send(event);
            }
            if hang {
                bump(&sandbox.stats.timeouts);
                sandbox.hang(settings.hang_ms).await;
            }
            accepted(&to_input, &entry)
        }
    }
}

/// The success answer (`contacts[]`, `messages[]`).
fn accepted(to_input: &str, entry: &ReceivedMessage) -> Response {
    let body = json!({
        "messaging_product": "whatsapp",
        "contacts": [if entry.to.contains('.') {
            json!({"input": to_input, "user_id": entry.to})
        } else {
            json!({"input": to_input, "wa_id": entry.to})
        }],
        "messages": [{"id": entry.wamid, "message_status": "accepted"}],
    });
    (StatusCode::OK, Json(body)).into_response()
}

/// `Authorization: Bearer <token>`: the configured token, or any non-empty one when none is set.
pub(super) fn check_token(settings: &SandboxSettings, headers: &HeaderMap) -> Result<(), Refusal> {
    let presented = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
        .filter(|t| !t.is_empty());
    let ok = match (&settings.access_token, presented) {
        (_, None) => false,
        (None, Some(_)) => true,
        (Some(expected), Some(token)) => expected == token,
    };
    if ok {
        return Ok(());
    }
    Err(Refusal {
        status: StatusCode::UNAUTHORIZED,
        code: 190,
        message: "Invalid OAuth access token - Cannot parse access token".into(),
        details: None,
    })
}

/// Body checks in Meta's order: JSON, envelope fields, then the message itself.
fn validate(body: &[u8]) -> Result<Valid, Refusal> {
    let value: Value = serde_json::from_slice(body)
        .map_err(|e| Refusal::invalid(format!("the request body is not valid JSON: {e}")))?;
    let Value::Object(mut object) = value else {
        return Err(Refusal::invalid("the request body must be a JSON object"));
    };
    match object.get("messaging_product") {
        None => {
            return Err(Refusal {
                message: "(#100) The parameter messaging_product is required.".into(),
                ..Refusal::invalid("messaging_product: required, must be \"whatsapp\"")
            })
        }
        Some(Value::String(p)) if p == "whatsapp" => {}
        Some(other) => {
            return Err(Refusal::invalid(format!(
                "messaging_product: must be \"whatsapp\", got {other}"
            )))
        }
    }
    let callback_data = take_callback_data(&mut object)?;
    let to_input = match object.get("to") {
        Some(Value::String(to)) => to.clone(),
        Some(other) => other.to_string(),
        None => String::new(),
    };
    let message = parse_outbound(&Value::Object(object)).map_err(|problems| {
        let details: Vec<String> = problems
            .iter()
            .map(|p| format!("{}: {}", p.field, p.message))
            .collect();
        Refusal::invalid(details.join("; "))
    })?;
    Ok(Valid {
        to_input,
        callback_data,
        message,
    })
}

/// Removes `biz_opaque_callback_data` (the domain parser reserves it for Chasqui) and checks it.
fn take_callback_data(object: &mut Map<String, Value>) -> Result<Option<String>, Refusal> {
    match object.remove("biz_opaque_callback_data") {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(data)) if data.chars().count() <= CALLBACK_DATA_MAX_CHARS => {
            Ok(Some(data))
        }
        Some(Value::String(_)) => Err(Refusal::invalid(format!(
            "biz_opaque_callback_data: at most {CALLBACK_DATA_MAX_CHARS} characters"
        ))),
        Some(_) => Err(Refusal::invalid(
            "biz_opaque_callback_data: must be a string",
        )),
    }
}

/// Rolls the fault dice and, when the message is accepted, records it — all under one lock so
/// the throttle count and the log agree.
fn decide(
    sandbox: &Sandbox,
    settings: &SandboxSettings,
    phone_number_id: &str,
    valid: Valid,
    path: SendPath,
) -> Decision {
    let now = now_ms();
    let second = u64::try_from(now / 1000).unwrap_or(0);
    let mut state = lock(&sandbox.state);
    let state = &mut *state;
    let window = state
        .throttle
        .entry(phone_number_id.to_owned())
        .or_insert((second, 0));
    if window.0 != second {
        *window = (second, 0);
    }
    if settings.throttle_per_sec > 0 && window.1 >= settings.throttle_per_sec {
        return Decision::Throttled;
    }
    if Sandbox::roll(&mut state.rng, settings.error_5xx_rate) {
        return Decision::Fault5xx;
    }
    if Sandbox::roll(&mut state.rng, settings.drop_rate) {
        return Decision::Drop;
    }
    let hang = Sandbox::roll(&mut state.rng, settings.timeout_after_accept_rate);
    window.1 += 1;
    let entry = ReceivedMessage {
        seq: state.next_seq,
        wamid: new_wamid(),
        phone_number_id: phone_number_id.to_owned(),
        to: valid.message.recipient.key().to_owned(),
        callback_data: valid.callback_data,
        kind: valid.message.kind.as_str().to_owned(),
        body: valid.message.body,
        received_at_ms: now,
        endpoint: path.segment().to_owned(),
        statuses: Vec::new(),
    };
    state.next_seq += 1;
    Sandbox::push_log(state, entry.clone());
    Decision::Accept {
        entry: Box::new(entry),
        hang,
    }
}
