//! What a send must satisfy beyond WhatsApp's message rules: the recipient has not opted out,
//! and a free-form message goes only inside the 24-hour window (per the channel's policy).

use chasqui_domain::phone::wa_id_variants;
use chasqui_domain::window::{
    check_free_form, check_opt_out, is_window_open, WindowDecision, WindowPolicy,
};
use chasqui_domain::WorkspaceId;
use chasqui_domain::{OutboundMessage, Problem, Recipient};
use chasqui_store::Channel;

use super::error::ApiError;
use super::AppState;
use crate::clock::now_ms;

/// What the window says about an allowed send.
#[derive(Debug, Default)]
pub struct WindowVerdict {
    /// Warnings for the answer (a free-form send outside the window under policy `warn`).
    pub warnings: Vec<Problem>,
    /// Whether the customer's 24-hour window is open: a send outside it is business-initiated,
    /// which is what Meta's messaging limit counts.
    pub window_open: bool,
    /// The channel's window fallback template to send instead of a free-form text, because
    /// the window is closed.
    pub fallback: Option<OutboundMessage>,
    /// The recipient stopped marketing messages (a marketing template is refused).
    pub marketing_opted_out: bool,
}

/// Refuses a send the window or an opt-out forbids (under `policy`, or the channel's own);
/// answers the warnings of an allowed one and whether the window is open.
pub async fn check(
    state: &AppState,
    workspace_id: &WorkspaceId,
    channel: &Channel,
    msg: &OutboundMessage,
    policy: Option<WindowPolicy>,
) -> Result<WindowVerdict, ApiError> {
    let override_policy = policy;
    let policy = policy.unwrap_or(channel.window_policy);
    let recipient = state
        .store
        .recipient_state(
            workspace_id,
            &channel.id,
            &match &msg.recipient {
                Recipient::Phone(p) => wa_id_variants(p.digits()),
                Recipient::User(u) => vec![u.to_string()],
            },
        )
        .await?;
    let now = now_ms();
    if let Some(problem) = check_opt_out(
        recipient.opted_out,
        msg.kind,
        recipient.last_inbound_at,
        now,
    ) {
        return Err(ApiError::Refused(problem));
    }
    let window_open = is_window_open(recipient.last_inbound_at, now);
    // A text outside the window goes as the channel's fallback template, unless the request
    // itself demands the window (Wolkvox's "official" sends).
    let fallback = match (&channel.window_fallback, window_open, override_policy) {
        (Some(fb), false, None) => fb.apply(msg),
        _ => None,
    };
    if fallback.is_some() {
        return Ok(WindowVerdict {
            warnings: Vec::new(),
            window_open,
            fallback,
            marketing_opted_out: recipient.marketing_opted_out,
        });
    }
    let warnings = match check_free_form(policy, false, msg.kind, recipient.last_inbound_at, now) {
        WindowDecision::Allowed => Vec::new(),
        WindowDecision::AllowedWithWarning(problem) => vec![problem],
        WindowDecision::Refused(problem) => return Err(ApiError::Refused(problem)),
    };
    Ok(WindowVerdict {
        warnings,
        window_open,
        fallback: None,
        marketing_opted_out: recipient.marketing_opted_out,
    })
}
