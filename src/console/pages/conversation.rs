//! One conversation: both directions in order, status ticks with Meta's reason for a failure,
//! and the composer. A reply goes through the same send service as the API (window, opt-outs,
//! quotas), and is offered only while the window is open.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use chasqui_domain::window::WindowPolicy;
use chasqui_domain::{MessageId, Scope};
use chasqui_store::{Contact, Conversation, ConversationEntry, StoredTemplate, TemplateFilter};
use maud::{html, Markup};
use serde::Deserialize;
use serde_json::json;

use super::inbox::display_name;
use super::render::{message_body, ticks, WindowState, Zone};
use super::{field, shell, template_form};
use crate::api::error::ApiError;
use crate::api::send::{submit, SendRequest};
use crate::api::AppState;
use crate::clock::now_ms;
use crate::console::i18n::Lang;
use crate::console::session::{ConsoleError, ConsoleUser};

/// How many of the latest messages a conversation shows.
const SHOWN: i64 = 100;

/// A conversation of the user's workspace, or 404 (another workspace's id included).
async fn find(
    state: &AppState,
    user: &ConsoleUser,
    id: &str,
) -> Result<(Conversation, Contact), ConsoleError> {
    let ws = &user.principal.workspace_id;
    let conversation = state
        .store
        .get_conversation(ws, id)
        .await?
        .ok_or(ConsoleError::NotFound(user.lang))?;
    let contact = state
        .store
        .get_contact(ws, &conversation.contact_id)
        .await?
        .ok_or(ConsoleError::NotFound(user.lang))?;
    Ok((conversation, contact))
}

/// `GET /console/c/{id}`: opening it clears its unread count.
pub async fn page(
    State(state): State<AppState>,
    user: ConsoleUser,
    Path(id): Path<String>,
    Query(query): Query<Vec<(String, String)>>,
) -> Result<Response, ConsoleError> {
    user.require(Scope::Read)?;
    let (conversation, contact) = find(&state, &user, &id).await?;
    state
        .store
        .mark_conversation_read(&user.principal.workspace_id, &conversation.id)
        .await?;
    let composer = Composer {
        refusal: None,
        template: query,
    };
    Ok(render(&state, &user, &conversation, &contact, composer)
        .await?
        .into_response())
}

/// What the composer shows besides its forms.
#[derive(Debug, Default)]
struct Composer {
    /// The last send's refusal, one line per problem.
    refusal: Option<Vec<String>>,
    /// The template chosen (`template`) and the values given for its placeholders.
    template: Vec<(String, String)>,
}

/// The conversation's page, with a refusal of the last reply if there was one.
async fn render(
    state: &AppState,
    user: &ConsoleUser,
    conversation: &Conversation,
    contact: &Contact,
    composer: Composer,
) -> Result<axum::response::Html<String>, ConsoleError> {
    let lang = user.lang;
    let ws = &user.principal.workspace_id;
    let entries = state
        .store
        .conversation_entries(conversation, SHOWN)
        .await?;
    let zone = Zone::of(state, user).await?;
    let mut failures = Vec::new();
    for e in entries.iter().filter(|e| e.status == "failed") {
        let id = MessageId::from_trusted(e.id.clone());
        if let Some(m) = state.store.get_message(ws, &id).await? {
            if let Some(err) = m.message.error {
                failures.push((e.id.clone(), format!("{} · {}", err.code, err.title)));
            }
        }
    }
    let templates = if user.may(Scope::Send) {
        let filter = TemplateFilter {
            channel_id: Some(conversation.channel_id.clone()),
            status: Some("APPROVED".into()),
            ..TemplateFilter::default()
        };
        state.store.list_templates(ws, &filter).await?
    } else {
        Vec::new()
    };
    let window = WindowState::at(conversation.last_inbound_at, now_ms());
    let name = display_name(contact);
    let last_inbound = entries.iter().rev().find(|e| e.direction == "inbound");
    let body = html! {
        section.conversation data-live="conversation" data-conversation=(conversation.id) {
            header.contact data-swap="contact" {
                a.back href="/console" { "←" }
                h1 dir="auto" { (name) }
                (window.badge(lang))
                @if !contact.tags.is_empty() {
                    span.tags { @for t in &contact.tags { span.tag dir="auto" { (t) } } }
                }
                @if let (Some(m), true) = (last_inbound, user.may(Scope::Send)) {
                    form.inline method="post" action={ "/console/c/" (conversation.id) "/read" } {
                        input type="hidden" name="_csrf" value=(user.csrf);
                        input type="hidden" name="message" value=(m.id);
                        button type="submit" title=(lang.t("mark-read-help")) { (lang.t("mark-read")) }
                    }
                }
            }
            ol.messages data-swap="messages" {
                @for e in &entries {
                    (entry(e, &zone, lang, failures.iter().find(|(id, _)| *id == e.id).map(|(_, r)| r.as_str())))
                }
            }
            (composer_section(user, conversation, window, &templates, composer))
        }
    };
    Ok(shell(Some(user), lang, &name, body))
}

fn entry(e: &ConversationEntry, zone: &Zone, lang: Lang, failure: Option<&str>) -> Markup {
    html! {
        li class={ "entry " (e.direction) } data-id=(e.id) data-status=(e.status) {
            (message_body(&e.kind, &e.content, lang))
            span.meta {
                time { (zone.format(e.at)) }
                @if e.direction == "outbound" { " " (ticks(&e.status, lang)) }
            }
            @if let Some(reason) = failure {
                p.failure role="note" { (reason) }
            }
        }
    }
}

fn composer_section(
    user: &ConsoleUser,
    conversation: &Conversation,
    window: WindowState,
    templates: &[StoredTemplate],
    composer: Composer,
) -> Markup {
    let lang = user.lang;
    let page = format!("/console/c/{}", conversation.id);
    let selected = template_form::chosen(templates, field(&composer.template, "template"))
        .map(|t| (t, composer.template.as_slice()));
    html! {
        section.composer data-swap="composer" data-window=(if window.is_open() { "open" } else { "closed" }) {
            @if let Some(problems) = &composer.refusal {
                ul.error role="alert" { @for p in problems { li { (p) } } }
            }
            @if !user.may(Scope::Send) {
                p.notice { (lang.t("composer-no-send")) }
            } @else {
                @if !window.is_open() {
                    p.notice data-reason="window_closed" { (lang.t("composer-window-closed")) }
                } @else {
                    form.reply method="post" action={ (page) "/reply" } {
                        input type="hidden" name="_csrf" value=(user.csrf);
                        textarea name="text" rows="2" required maxlength="4096" dir="auto"
                            placeholder=(lang.t("composer-placeholder")) {}
                        button type="submit" { (lang.t("composer-send")) }
                    }
                }
                (template_form::picker(lang, &format!("{page}/template"), &page, &user.csrf, templates, selected))
            }
        }
    }
}

/// The reply form.
#[derive(Debug, Deserialize)]
pub struct ReplyForm {
    #[serde(rename = "_csrf")]
    csrf: String,
    text: String,
}

/// The recipient of a conversation's messages: the number, else the BSUID.
fn recipient_field(contact: &Contact) -> Option<(&'static str, String)> {
    contact
        .wa_id
        .as_ref()
        .map(|w| ("to", format!("+{w}")))
        .or_else(|| contact.user_id.clone().map(|u| ("recipient", u)))
}

/// What a refusal says, one line per problem.
fn refusal_lines(e: &ApiError) -> Vec<String> {
    match e {
        ApiError::Validation(problems) => problems.iter().map(|p| p.message.clone()).collect(),
        other => vec![other.to_string()],
    }
}

/// `POST /console/c/{id}/reply`: a text through the send service; a refusal is shown in the
/// composer and stores nothing.
pub async fn reply(
    State(state): State<AppState>,
    user: ConsoleUser,
    Path(id): Path<String>,
    Form(form): Form<ReplyForm>,
) -> Result<Response, ConsoleError> {
    user.check_csrf(&form.csrf)?;
    user.require(Scope::Send)?;
    let (conversation, contact) = find(&state, &user, &id).await?;
    let Some((field, to)) = recipient_field(&contact) else {
        return Err(ConsoleError::NotFound(user.lang));
    };
    let req = SendRequest {
        message: json!({field: to, "type": "text", "text": {"body": form.text}}),
        channel: Some(conversation.channel_id.to_string()),
        // The composer offers free-form replies only inside the window; the server holds
        // to that whatever the channel's API policy.
        window_policy: Some(WindowPolicy::Enforce),
        ..Default::default()
    };
    send(&state, &user, &conversation, &contact, req, Vec::new()).await
}

/// Sends `req` from the console; a refusal shows in the composer (with the template values
/// kept) and stores nothing.
async fn send(
    state: &AppState,
    user: &ConsoleUser,
    conversation: &Conversation,
    contact: &Contact,
    req: SendRequest,
    template: Vec<(String, String)>,
) -> Result<Response, ConsoleError> {
    match submit(state, &user.principal, req).await {
        Ok(_) => {
            // The console's replies move the conversation up the inbox (API sends do not
            // touch conversation rows: that is the send path's hot write).
            state
                .store
                .touch_conversation(&user.principal.workspace_id, &conversation.id, now_ms())
                .await?;
            Ok(Redirect::to(&format!("/console/c/{}", conversation.id)).into_response())
        }
        Err(ApiError::Internal(e)) => Err(ConsoleError::Internal(e)),
        Err(e) => {
            let status = e.code_and_status().1;
            let status = if status.is_client_error() {
                status
            } else {
                StatusCode::BAD_GATEWAY
            };
            let composer = Composer {
                refusal: Some(refusal_lines(&e)),
                template,
            };
            let page = render(state, user, conversation, contact, composer).await?;
            Ok((status, page).into_response())
        }
    }
}

/// `POST /console/c/{id}/template`: `do=preview` shows the filled template and its problems;
/// `do=send` sends it through the send service.
pub async fn template(
    State(state): State<AppState>,
    user: ConsoleUser,
    Path(id): Path<String>,
    Form(values): Form<Vec<(String, String)>>,
) -> Result<Response, ConsoleError> {
    let get = |k: &str| field(&values, k);
    user.check_csrf(get("_csrf"))?;
    user.require(Scope::Send)?;
    let (conversation, contact) = find(&state, &user, &id).await?;
    let values: Vec<(String, String)> = values
        .iter()
        .filter(|(k, _)| k != "_csrf")
        .cloned()
        .collect();
    let (name, language) = get("template")
        .split_once(':')
        .ok_or(ConsoleError::NotFound(user.lang))?;
    let stored = state
        .store
        .get_template(&conversation.channel_id, name, language)
        .await?
        .ok_or(ConsoleError::NotFound(user.lang))?;
    if get("do") != "send" {
        let composer = Composer {
            refusal: None,
            template: values,
        };
        return Ok(render(&state, &user, &conversation, &contact, composer)
            .await?
            .into_response());
    }
    let Some((field, to)) = recipient_field(&contact) else {
        return Err(ConsoleError::NotFound(user.lang));
    };
    let req = SendRequest {
        message: json!({field: to, "type": "template",
            "template": template_form::send_object(&stored.template, &values)}),
        channel: Some(conversation.channel_id.to_string()),
        ..Default::default()
    };
    send(&state, &user, &conversation, &contact, req, values).await
}

/// The mark-read form.
#[derive(Debug, Deserialize)]
pub struct ReadForm {
    #[serde(rename = "_csrf")]
    csrf: String,
    message: String,
}

/// `POST /console/c/{id}/read`: sends Meta's read receipt for the customer's latest message
/// (blue ticks on their phone), as `POST /v1/messages/{id}/read` does.
pub async fn mark_read(
    State(state): State<AppState>,
    user: ConsoleUser,
    Path(id): Path<String>,
    Form(form): Form<ReadForm>,
) -> Result<Response, ConsoleError> {
    user.check_csrf(&form.csrf)?;
    user.require(Scope::Send)?;
    let (conversation, contact) = find(&state, &user, &id).await?;
    match crate::api::read_receipts::send_receipt(
        &state,
        &user.principal.workspace_id,
        &form.message,
        false,
    )
    .await
    {
        Ok(_) => Ok(Redirect::to(&format!("/console/c/{}", conversation.id)).into_response()),
        Err(ApiError::Internal(e)) => Err(ConsoleError::Internal(e)),
        Err(e) => {
            let status = e.code_and_status().1;
            let composer = Composer {
                refusal: Some(refusal_lines(&e)),
                ..Composer::default()
            };
            let page = render(&state, &user, &conversation, &contact, composer).await?;
            Ok((status, page).into_response())
        }
    }
}
