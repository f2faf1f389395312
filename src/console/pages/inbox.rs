//! The inbox: conversations, newest activity first, with unread counts, the contact, tags and
//! the window's time left. Paged by keyset (`before`), never by offset.

use axum::extract::{Query, State};
use axum::response::Html;
use chasqui_store::{InboxConversation, InboxCursor};
use maud::html;
use serde::Deserialize;

use super::render::{summary, WindowState, Zone};
use super::shell;
use crate::api::AppState;
use crate::clock::now_ms;
use crate::console::session::{ConsoleError, ConsoleUser};
use chasqui_domain::Scope;

/// Conversations per page.
const PAGE: i64 = 50;

/// The inbox's query.
#[derive(Debug, Deserialize)]
pub struct InboxQuery {
    /// The cursor of the page before.
    before: Option<String>,
}

/// The name a person is shown by: the business's, WhatsApp's, else their number or BSUID.
pub fn display_name(c: &chasqui_store::Contact) -> String {
    c.name
        .clone()
        .or_else(|| c.profile_name.clone())
        .or_else(|| {
            c.phone
                .as_ref()
                .map(|p| format!("+{}", p.trim_start_matches('+')))
        })
        .or_else(|| c.wa_id.as_ref().map(|w| format!("+{w}")))
        .or_else(|| c.user_id.clone())
        .unwrap_or_else(|| c.id.clone())
}

/// `GET /console`.
pub async fn page(
    State(state): State<AppState>,
    user: ConsoleUser,
    Query(q): Query<InboxQuery>,
) -> Result<Html<String>, ConsoleError> {
    user.require(Scope::Read)?;
    let lang = user.lang;
    let before = match q.before.as_deref() {
        Some(c) => Some(InboxCursor::decode(c).ok_or(ConsoleError::NotFound(lang))?),
        None => None,
    };
    let ws = &user.principal.workspace_id;
    let rows = state
        .store
        .list_inbox(ws, before.as_ref(), PAGE + 1)
        .await?;
    let more = rows.len() as i64 > PAGE;
    let rows = &rows[..rows.len().min(PAGE as usize)];
    let zone = Zone::of(&state, &user).await?;
    let now = now_ms();
    let next = more
        .then(|| rows.last())
        .flatten()
        .map(|r| r.cursor.encode());
    let body = html! {
        section.inbox data-live="inbox" {
            h1 { (lang.t("inbox-title")) }
            ul.conversations data-swap="conversations" {
                @if rows.is_empty() {
                    li.empty { (lang.t("inbox-empty")) }
                }
                @for InboxConversation { conversation: c, contact, preview, .. } in rows {
                    li data-conversation=(c.id) {
                        a href={ "/console/c/" (c.id) } {
                            span.name dir="auto" { (display_name(contact)) }
                            @if c.unread > 0 {
                                span.unread title=(lang.t("unread")) { (c.unread) }
                            }
                            (WindowState::at(c.last_inbound_at, now).badge(lang))
                            span.when { (zone.format(c.last_message_at)) }
                            @if let Some(p) = preview {
                                span.preview dir="auto" {
                                    @if p.direction == "outbound" { "↪ " }
                                    (p.text.clone().unwrap_or_else(|| summary(&p.kind, &serde_json::Value::Null, lang)))
                                }
                            }
                            @if !contact.tags.is_empty() {
                                span.tags {
                                    @for t in &contact.tags { span.tag dir="auto" { (t) } }
                                }
                            }
                        }
                    }
                }
            }
            @if let Some(n) = next {
                a.more href={ "/console?before=" (super::render::url_part(&n)) } { (lang.t("older")) }
            }
        }
    };
    Ok(shell(Some(&user), lang, &lang.t("inbox-title"), body))
}
