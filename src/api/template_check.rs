//! The send-time check of a `template` message against the channel's template registry
//! (reference §5.4), so a send Meta would refuse with 132000/132001/132012 (or, to a contact
//! who stopped marketing, 131050) is refused here, before anything is stored.

use chasqui_domain::consent::check_marketing;
use chasqui_domain::template_registry::{match_send, render, TemplateCategory};
use chasqui_domain::{OutboundMessage, Problem};
use chasqui_store::Channel;
use serde_json::Value;

use super::error::ApiError;
use super::AppState;

/// The code of an authentication template sent to a BSUID.
pub const PHONE_NUMBER_REQUIRED: &str = "phone_number_required";

/// For a template send: the template must exist on `channel` in that language, be APPROVED,
/// not be a MARKETING one to a recipient who stopped marketing (`marketing_opted_out`), and
/// take exactly the parameters given. Answers the text the person will receive (stored with
/// the message); `None` for other message types.
pub async fn check_template_send(
    state: &AppState,
    channel: &Channel,
    msg: &OutboundMessage,
    marketing_opted_out: bool,
) -> Result<Option<String>, ApiError> {
    if msg.kind.as_str() != "template" {
        return Ok(None);
    }
    // The send-side validator has already required both.
    let Some(send) = msg.body.get("template") else {
        return Ok(None);
    };
    let name = send.get("name").and_then(Value::as_str).unwrap_or_default();
    let language = send
        .pointer("/language/code")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let stored = state
        .store
        .get_template(&channel.id, name, language)
        .await?
        .ok_or_else(|| ApiError::TemplateNotFound {
            name: name.to_owned(),
            language: language.to_owned(),
        })?;
    // Meta delivers one-time codes to a phone number only: a BSUID names a person, not the
    // number the code is meant to prove.
    if stored.template.category == TemplateCategory::Authentication
        && msg.recipient.phone().is_none()
    {
        return Err(ApiError::Refused(Problem::new(
            msg.recipient.field(),
            PHONE_NUMBER_REQUIRED,
            "authentication templates can only be sent to a phone number, not to a business-scoped user id",
        )));
    }
    if let Some(problem) = check_marketing(marketing_opted_out, &stored.template.category) {
        return Err(ApiError::Refused(problem));
    }
    match_send(&stored.template, send).map_err(ApiError::Validation)?;
    Ok(Some(render(&stored.template, send).to_text()))
}
