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

/// Charges sends to the daily quotas and, for each business-initiated one (sent while the
/// customer's 24-hour window is closed, which is what Meta's messaging limit counts), to its
/// channel's messaging limit; all or nothing.
async fn charge_limits(
    state: &AppState,
    caller: &Principal,
    sends: &[Prepared],
) -> Result<(SendCharge, Vec<RecipientSlot>), LimitError> {
    let workspace_limits = state.limits.workspace_limits(&caller.workspace_id).await?;
    let charge = state
        .limits
        .charge_send(
            &caller.id,
            &caller.limits,
            &caller.workspace_id,
            &workspace_limits,
            sends.len() as i64,
        )
        .await?;
    let mut slots = Vec::new();
    for p in sends.iter().filter(|p| !p.window_open) {
        match state
            .limits
            .admit_recipient(&p.channel.id, p.channel.messaging_limit, &p.new.recipient)
            .await
        {
            Ok(slot) => slots.push(slot),
            Err(e) => {
                give_back(state, &charge, &slots).await;
                return Err(e);
            }
        }
    }
    Ok((charge, slots))
}

/// Gives back what [`charge_limits`] took for sends that were not committed.
async fn give_back(state: &AppState, charge: &SendCharge, slots: &[RecipientSlot]) {
    state.limits.refund(charge).await;
    for slot in slots {
        state.limits.forget_recipient(slot).await;
    }
}

/// Validates, checks window, opt-outs (marketing too), template and quotas, and commits the
/// message durably.
pub async fn submit(
    state: &AppState,
    caller: &Principal,
    req: SendRequest,
) -> Result<Sent, ApiError> {
    let mut sent = submit_all(state, caller, vec![req]).await?;
    sent.pop()
        .ok_or_else(|| ApiError::Internal("a send committed nothing".into()))
}

/// [`submit`] for several messages of one request (a vendor's send carrying several images):
/// every one is checked and charged before any is stored, and all are committed or none.
pub async fn submit_all(
    state: &AppState,
    caller: &Principal,
    reqs: Vec<SendRequest>,
) -> Result<Vec<Sent>, ApiError> {
    if !state.metrics.enabled() {
        return accept(state, caller, reqs).await;
    }
    let started = std::time::Instant::now();
    let answer = accept(state, caller, reqs).await;
    let m = &state.metrics;
    match &answer {
        Ok(all) => {
            for msg in all.iter().filter(|s| !s.replayed).map(|s| &s.message) {
                m.accepted(&msg.workspace_id, &msg.channel_id, started.elapsed());
                // Accepted and failed at once (respond.io's template mismatch): never sent.
                if let Some(e) = &msg.error {
                    m.failed(&msg.workspace_id, &msg.channel_id, e.code);
                }
            }
        }
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

/// A send checked and ready to commit: nothing is stored or charged yet.
struct Prepared {
    new: NewMessage,
    channel: Channel,
    window_open: bool,
    warnings: Vec<Problem>,
}

/// [`submit_all`] without the metrics.
async fn accept(
    state: &AppState,
    caller: &Principal,
    reqs: Vec<SendRequest>,
) -> Result<Vec<Sent>, ApiError> {
    let mut prepared = Vec::with_capacity(reqs.len());
    for req in reqs {
        prepared.push(prepare(state, caller, req).await?);
    }
    commit(state, caller, prepared).await
}

/// Checks one send (validation, channel, window, opt-outs, template) and builds its message.
async fn prepare(
    state: &AppState,
    caller: &Principal,
    req: SendRequest,
) -> Result<Prepared, ApiError> {
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
    let new = NewMessage {
        id: ids::message_id(),
        workspace_id: caller.workspace_id.clone(),
        channel_id: channel.id.clone(),
        recipient: msg.recipient.key().to_string(),
        kind: msg.kind.as_str().to_string(),
        body: msg.body.to_string(),
        created_at: now_ms(),
        idempotency,
        rendered,
        client_message: client_message.as_ref().map(Value::to_string),
        failed,
    };
    Ok(Prepared {
        new,
        channel,
        window_open: window.window_open,
        warnings: window.warnings,
    })
}

/// Charges the quotas for `sends` and commits them together; whatever is charged is given back
/// unless every one is committed.
async fn commit(
    state: &AppState,
    caller: &Principal,
    sends: Vec<Prepared>,
) -> Result<Vec<Sent>, ApiError> {
    // Quotas come last, once the sends are known to be valid, so a refused request costs
    // nothing.
    let (charge, slots) = match charge_limits(state, caller, &sends).await {
        Ok(taken) => taken,
        // A retry of a send already accepted gets its first answer, not a refusal: the
        // replay below stores nothing and so needs no quota.
        Err(e @ LimitError::Exceeded { .. }) => {
            match sends.first().and_then(|p| p.new.idempotency.as_ref()) {
                Some(claim)
                    if state
                        .store
                        .idempotency_key_used(&claim.api_key_id, &claim.key)
                        .await? =>
                {
                    Default::default()
                }
                _ => return Err(e.into()),
            }
        }
        Err(e) => return Err(e.into()),
    };
    let n = sends.len();
    let (news, mut warnings): (Vec<NewMessage>, Vec<Vec<Problem>>) =
        sends.into_iter().map(|p| (p.new, p.warnings)).unzip();
    let outcome = match <[NewMessage; 1]>::try_from(news) {
        Ok([one]) => state.store.accept_message(one).await.map(|o| vec![o]),
        Err(many) => state.store.accept_messages(many).await,
    };
    let created = matches!(&outcome, Ok(all)
        if all.len() == n && all.iter().all(|o| matches!(o, AcceptOutcome::Created(_))));
    if !created {
        // Nothing new was committed (a replay, a conflict or a failure): nothing is charged.
        give_back(state, &charge, &slots).await;
    }
    let mut headers = HeaderMap::new();
    if let Some(h) = charge.standing(created) {
        h.apply(&mut headers);
    }
    let outcomes = outcome?;
    if let Some(message_id) = outcomes.iter().find_map(|o| match o {
        AcceptOutcome::Conflict { message_id } => Some(message_id.clone()),
        _ => None,
    }) {
        return Err(ApiError::IdempotencyConflict(message_id));
    }
    // Keys that answer only some of the messages belong to a different request.
    if let (false, Some(AcceptOutcome::Replayed(first))) = (outcomes.len() == n, outcomes.first()) {
        return Err(ApiError::IdempotencyConflict(first.id.clone()));
    }
    if created {
        state.wake.notify_waiters();
        state.live.changed(&caller.workspace_id);
    }
    Ok(outcomes
        .into_iter()
        .zip(warnings.iter_mut())
        .filter_map(|(o, w)| match o {
            AcceptOutcome::Created(message) => Some(Sent {
                message,
                replayed: false,
                warnings: std::mem::take(w),
                headers: headers.clone(),
            }),
            AcceptOutcome::Replayed(message) => Some(Sent {
                message,
                replayed: true,
                warnings: Vec::new(),
                headers: headers.clone(),
            }),
            AcceptOutcome::Conflict { .. } => None,
        })
        .collect())
}
