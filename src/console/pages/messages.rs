//! The message log (operators and anyone with `read`): the API's listing with the API's own
//! filters (`to`, `status`, `since`, `until`, `pricing_category`, `pricing_type`, `cursor`:
//! the same parser), newest first, and one message's timeline.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use chasqui_domain::{MessageId, MessageStatus, Scope};
use chasqui_store::MessageRecord;
use maud::html;
use serde_json::Value;

use super::render::{message_body, ticks, url_part, Zone};
use super::{field, shell};
use crate::api::error::ApiError;
use crate::api::messages::MessageQuery;
use crate::api::AppState;
use crate::console::session::{ConsoleError, ConsoleUser};

/// Rows per page.
const PAGE: i64 = 50;

/// `GET /console/messages`.
pub async fn page(
    State(state): State<AppState>,
    user: ConsoleUser,
    Query(raw): Query<Vec<(String, String)>>,
) -> Result<Response, ConsoleError> {
    user.require(Scope::Read)?;
    let lang = user.lang;
    // An empty field of the form is no filter.
    let given: Vec<(String, String)> = raw
        .into_iter()
        .filter(|(_, v)| !v.trim().is_empty())
        .collect();
    let value = |k: &str| field(&given, k);
    let encoded = serde_urlencoded::to_string(&given).unwrap_or_default();
    let parsed = serde_urlencoded::from_str::<MessageQuery>(&encoded)
        .map_err(|e| e.to_string())
        .and_then(|q| q.filter().map_err(|e| api_problem(&e)));
    let (rows, problem) = match parsed {
        Ok(mut filter) => {
            filter.limit = PAGE + 1;
            let rows = state
                .store
                .list_messages(&user.principal.workspace_id, &filter)
                .await?;
            (rows, None)
        }
        Err(p) => (Vec::new(), Some(p)),
    };
    let more = rows.len() as i64 > PAGE;
    let rows: &[MessageRecord] = &rows[..rows.len().min(PAGE as usize)];
    let zone = Zone::of(&state, &user).await?;
    let next = more.then(|| rows.last()).flatten().map(|m| {
        let mut q: Vec<(String, String)> = given
            .iter()
            .filter(|(k, _)| k != "cursor")
            .cloned()
            .collect();
        q.push(("cursor".into(), format!("c{}", m.seq)));
        serde_urlencoded::to_string(&q).unwrap_or_default()
    });
    let body = html! {
        section.messages-log {
            h1 { (lang.t("messages-title")) }
            form.filters method="get" action="/console/messages" {
                label { (lang.t("messages-to")) input name="to" value=(value("to")) placeholder="+5215512345678"; }
                label { (lang.t("messages-status"))
                    select name="status" {
                        option value="" { "—" }
                        @for s in MessageStatus::ALL {
                            option value=(s.as_str()) selected[value("status") == s.as_str()] { (s.as_str()) }
                        }
                    }
                }
                label { (lang.t("messages-since")) input name="since" value=(value("since")) placeholder="2026-12-01T00:00:00Z"; }
                label { (lang.t("messages-until")) input name="until" value=(value("until")); }
                button type="submit" { (lang.t("messages-filter")) }
            }
            @if let Some(p) = &problem {
                p.error role="alert" { (p) }
            }
            table.list {
                thead { tr {
                    th { (lang.t("messages-when")) } th { (lang.t("messages-to")) } th { (lang.t("messages-type")) }
                    th { (lang.t("messages-status")) } th { (lang.t("messages-error")) }
                } }
                tbody {
                    @for m in rows {
                        tr data-message=(m.id.as_str()) {
                            td { a href={ "/console/m/" (url_part(m.id.as_str())) } { (zone.format(m.created_at)) } }
                            td dir="auto" { (display_recipient(&m.recipient)) }
                            td { (lang.kind(&m.kind)) }
                            td { (ticks(m.status.as_str(), lang)) " " (m.status.as_str()) }
                            td { @if let Some(e) = &m.error { (e.code) " · " (e.title) } }
                        }
                    }
                }
            }
            @if rows.is_empty() && problem.is_none() {
                p.empty { (lang.t("messages-none")) }
            }
            @if let Some(n) = next {
                a.more href={ "/console/messages?" (n) } { (lang.t("older")) }
            }
        }
    };
    let status = if problem.is_some() {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
    Ok((
        status,
        shell(Some(&user), lang, &lang.t("messages-title"), body),
    )
        .into_response())
}

/// A stored recipient as the API shows it: `+digits`, or a BSUID as is.
fn display_recipient(r: &str) -> String {
    if r.contains('.') {
        r.to_string()
    } else {
        format!("+{r}")
    }
}

fn api_problem(e: &ApiError) -> String {
    match e {
        ApiError::BadParameter { field, message } => format!("{field}: {message}"),
        other => other.to_string(),
    }
}

/// `GET /console/m/{id}`: one message, what it carried and its whole timeline.
pub async fn one(
    State(state): State<AppState>,
    user: ConsoleUser,
    Path(id): Path<String>,
) -> Result<Response, ConsoleError> {
    user.require(Scope::Read)?;
    let lang = user.lang;
    let id: MessageId = id.parse().map_err(|_| ConsoleError::NotFound(lang))?;
    let detail = state
        .store
        .get_message(&user.principal.workspace_id, &id)
        .await?
        .ok_or(ConsoleError::NotFound(lang))?;
    let zone = Zone::of(&state, &user).await?;
    let m = &detail.message;
    let content: Value = serde_json::from_str(&m.body).unwrap_or(Value::Null);
    let body = html! {
        section.message-detail {
            h1 { (lang.t("message-title")) " " code { (m.id.as_str()) } }
            dl {
                dt { (lang.t("messages-to")) } dd dir="auto" { (display_recipient(&m.recipient)) }
                dt { (lang.t("messages-status")) } dd { (ticks(m.status.as_str(), lang)) " " (m.status.as_str()) }
                @if let Some(w) = &m.wamid { dt { "wamid" } dd { code { (w) } } }
                @if let Some(e) = &m.error {
                    dt { (lang.t("messages-error")) }
                    dd.failure { (e.code) " · " (e.title) @if let Some(d) = &e.details { " — " (d) } }
                }
            }
            div.bubble { (message_body(&m.kind, &content, lang)) }
            @if let Some(r) = &detail.rendered { p.rendered dir="auto" { (r) } }
            h2 { (lang.t("message-timeline")) }
            ol.timeline {
                @for e in &detail.events {
                    li data-status=(e.status) {
                        time { (zone.format(e.at)) } " "
                        strong { (e.status) } " "
                        small { (e.source) }
                        @if let Some(err) = &e.error { " " span.failure { (err.code) " · " (err.title) } }
                        @if let Some(d) = &e.detail { " " span.detail { (d) } }
                    }
                }
            }
        }
    };
    Ok(shell(Some(&user), lang, &lang.t("message-title"), body).into_response())
}
