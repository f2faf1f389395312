//! The one send service: every entry point that sends a message (the native `/v1/messages`,
//! each vendor dialect) ends here, so all get the same validation, window and template checks,
//! quotas, durability and idempotency.

use axum::http::HeaderMap;
use chasqui_domain::window::WindowPolicy;
use chasqui_domain::WorkspaceId;
use chasqui_domain::{parse_outbound, Problem};
use chasqui_store::{AcceptOutcome, Channel, IdempotencyClaim, MessageRecord, NewMessage};
use serde_json::Value;

use super::auth::Principal;
use super::error::ApiError;
use super::{template_check, window_check, AppState};
use crate::clock::now_ms;
use crate::ids;
use crate::limits::{LimitError, RecipientSlot, SendCharge};

/// A message to send.
#[derive(Debug, Clone, Default)]
pub struct SendRequest {
    /// Meta's message object: `to`, `type`, the object named by `type`, optional `context`.
    pub message: Value,
    /// A channel id or sender number; `None`: the workspace's default channel.
    pub channel: Option<String>,
    /// The request's idempotency key, if any (scoped to the caller's credential).
    pub idempotency_key: Option<String>,
    /// Overrides the channel's window policy (for a vendor API whose sends always need the
    /// window open).
    pub window_policy: Option<WindowPolicy>,
    /// A template send whose parameters do not fit the approved template is accepted and
    /// recorded as failed on arrival (never sent) instead of refused: respond.io answers such a
    /// send with a `messageId` and reports the failure on the message. Other problems are still
    /// refused.
    pub template_errors_fail_later: bool,
    /// The message as the vendor client sent it, kept with the message for the dialect's
    /// answers (respond.io shows the template text the request carried).
    pub client_message: Option<Value>,
}

/// Meta's code for a template send whose parameters do not match the template
/// (`132000`, "Number of parameters does not match the expected number of params").
const TEMPLATE_PARAM_MISMATCH: i64 = 132000;

/// A message accepted (committed) or found again by its idempotency key.
#[derive(Debug)]
pub struct Sent {
    /// The message as stored.
    pub message: MessageRecord,
    /// Whether this answers an earlier request with the same idempotency key.
    pub replayed: bool,
    /// Warnings (a free-form send outside the window under policy `warn`).
    pub warnings: Vec<Problem>,
    /// `RateLimit-*` headers of the caller's quota, for the answer.
    pub headers: HeaderMap,
}

async fn pick_channel(
    state: &AppState,
    workspace: &WorkspaceId,
    requested: Option<&str>,
    problems: &mut Vec<Problem>,
) -> Result<Option<Channel>, ApiError> {
    // The in-memory directory answers the hot path; the store catches channels added since its
    // last refresh.
    let found = match requested {
        None => match state.channels.lookup(workspace, None) {
            Some(c) => Some(c),
            None => state.store.default_channel(workspace).await?,
        },
        Some(r) => match state.channels.lookup(workspace, Some(r)) {
            Some(c) => Some(c),
            None => state.store.find_channel(workspace, r).await?,
        },
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

/// Charges a send to the daily quotas and, when it is business-initiated (sent while the
/// customer's 24-hour window is closed, which is what Meta's messaging limit counts), to the
/// channel's messaging limit; all or nothing.
async fn charge_limits(
    state: &AppState,
    caller: &Principal,
    channel: &Channel,
    window_open: bool,
    recipient: &str,
) -> Result<(SendCharge, RecipientSlot), LimitError> {
    let workspace_limits = state.limits.workspace_limits(&caller.workspace_id).await?;
    let charge = state
        .limits
        .charge_send(
            &caller.id,
            &caller.limits,
            &caller.workspace_id,
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

/// Validates, checks window, opt-outs (marketing too), template and quotas, and commits the
/// message durably.
pub async fn submit(
    state: &AppState,
    caller: &Principal,
    req: SendRequest,
) -> Result<Sent, ApiError> {
    if !state.metrics.enabled() {
        return accept(state, caller, req).await;
    }
    let started = std::time::Instant::now();
    let answer = accept(state, caller, req).await;
    let m = &state.metrics;
    match &answer {
        Ok(sent) if !sent.replayed => {
            let msg = &sent.message;
            m.accepted(&msg.workspace_id, &msg.channel_id, started.elapsed());
            // Accepted and failed at once (respond.io's template mismatch): never sent.
            if let Some(e) = &msg.error {
                m.failed(&msg.workspace_id, &msg.channel_id, e.code);
            }
        }
        Ok(_) => {}
        Err(e) => {
            let (code, status) = e.code_and_status();
            if status.is_client_error() {
                m.refused(code);
            }
            if let ApiError::Limited(limit) = e {
                m.limit_refused(limit);
            }
        }
    }
    answer
}

/// [`submit`] without the metrics.
async fn accept(state: &AppState, caller: &Principal, req: SendRequest) -> Result<Sent, ApiError> {
    let idempotency = req.idempotency_key.map(|key| {
        // The hash covers the request as the caller sent it (keys sorted), so whitespace and
        // key order do not make a conflict.
        let mut whole = req.message.clone();
        if let (Some(fields), Some(ch)) = (whole.as_object_mut(), &req.channel) {
            fields.insert("channel".into(), Value::String(ch.clone()));
        }
        // A vendor client's own message is part of its request: two that translate alike but
        // differ (a template's display text) are different requests.
        if let (Some(fields), Some(client)) = (whole.as_object_mut(), &req.client_message) {
            fields.insert("client_message".into(), client.clone());
        }
        IdempotencyClaim {
            api_key_id: caller.id.clone(),
            key,
            request_hash: ids::sha256_hex(whole.to_string().as_bytes()),
        }
    });
    let parsed = parse_outbound(&req.message);
    let mut problems = parsed.as_ref().err().cloned().unwrap_or_default();
    let channel = pick_channel(
        state,
        &caller.workspace_id,
        req.channel.as_deref(),
        &mut problems,
    )
    .await?;
    let (Ok(msg), Some(channel)) = (parsed, channel) else {
        return Err(ApiError::Validation(problems));
    };
    let mut window = window_check::check(
        state,
        &caller.workspace_id,
        &channel,
        &msg,
        req.window_policy,
    )
    .await?;
    // Sent as the channel's fallback template: the message keeps the text it was asked for.
    let (msg, client_message) = match window.fallback.take() {
        Some(template) => (
            template,
            req.client_message
                .clone()
                .or_else(|| Some(req.message.clone())),
        ),
        None => (msg, req.client_message.clone()),
    };
    let checked =
        template_check::check_template_send(state, &channel, &msg, window.marketing_opted_out)
            .await;
    let (rendered, failed) = match checked {
        Ok(rendered) => (rendered, None),
        Err(ApiError::Validation(problems)) if req.template_errors_fail_later => {
            let details: Vec<String> = problems
                .iter()
                .map(|p| format!("{}: {}", p.field, p.message))
                .collect();
            let error = chasqui_domain::MetaError {
                code: TEMPLATE_PARAM_MISMATCH,
                title: "Number of parameters does not match the expected number of params".into(),
                details: Some(details.join("; ")),
            };
            (None, Some(error))
        }
        Err(e) => return Err(e),
    };
    let recipient = msg.recipient.key().to_string();
    // Quotas come last, once the send is known to be valid, so a refused request costs nothing;
    // whatever is charged here is given back unless the message is committed below.
    let (charge, slot) =
        match charge_limits(state, caller, &channel, window.window_open, &recipient).await {
            Ok(taken) => taken,
            // A retry of a send already accepted gets its first answer, not a refusal: the
            // replay below stores nothing and so needs no quota.
            Err(e @ LimitError::Exceeded { .. }) => match &idempotency {
                Some(claim)
                    if state
                        .store
                        .idempotency_key_used(&claim.api_key_id, &claim.key)
                        .await? =>
                {
                    Default::default()
                }
                _ => return Err(e.into()),
            },
            Err(e) => return Err(e.into()),
        };
    let new = NewMessage {
        id: ids::message_id(),
        workspace_id: caller.workspace_id.clone(),
        channel_id: channel.id,
        recipient,
        kind: msg.kind.as_str().to_string(),
        body: msg.body.to_string(),
        created_at: now_ms(),
        idempotency,
        rendered,
        client_message: client_message.as_ref().map(Value::to_string),
        failed,
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
        AcceptOutcome::Created(message) => {
            state.wake.notify_waiters();
            Ok(Sent {
                message,
                replayed: false,
                warnings: window.warnings,
                headers,
            })
        }
        AcceptOutcome::Replayed(message) => Ok(Sent {
            message,
            replayed: true,
            warnings: Vec::new(),
            headers,
        }),
        AcceptOutcome::Conflict { message_id } => Err(ApiError::IdempotencyConflict(message_id)),
    }
}
