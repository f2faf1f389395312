//! `/v1/conversations`: one per contact and channel, with both directions and the window state.

use axum::extract::State;
use axum::Json;
use serde::Deserialize;
use utoipa::IntoParams;

use super::auth::Caller;
use super::error::ApiError;
use super::extract::{Path, Query};
use super::paging::{Limit, Page};
use super::views::{ContactView, ConversationDetail, ConversationView, Entry};
use super::AppState;

/// The filters of `GET /v1/conversations`.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ConversationQuery {
    /// Only this contact's conversations (its id).
    contact: Option<String>,
    /// Page size.
    limit: Option<Limit>,
    /// The `next_cursor` of the page before.
    cursor: Option<String>,
}

/// `GET /v1/conversations`: by id, optionally one contact's.
#[utoipa::path(get, path = "/v1/conversations", tag = "Conversations", params(ConversationQuery),
    responses((status = 200, description = "Conversations, by id", body = Page<ConversationView>)))]
pub async fn list(
    State(state): State<AppState>,
    Caller(key): Caller,
    Query(q): Query<ConversationQuery>,
) -> Result<Json<Page<ConversationView>>, ApiError> {
    let limit = q.limit.unwrap_or_default();
    let page = state
        .store
        .list_conversations(
            &key.workspace_id,
            q.contact.as_deref(),
            q.cursor.as_deref(),
            limit.get(),
        )
        .await?;
    Ok(Json(Page::new(&page, limit, ConversationView::from, |c| {
        c.id.clone()
    })))
}

/// How many of a conversation's latest messages to show.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ConversationMessagesQuery {
    /// How many of the latest messages (default 50).
    limit: Option<Limit>,
}

/// `GET /v1/conversations/{id}`: the conversation, its contact, its window and its latest
/// messages in both directions, oldest first (`limit`, default 50).
#[utoipa::path(get, path = "/v1/conversations/{id}", tag = "Conversations",
    params(("id" = String, Path, description = "Chasqui's conversation id"),
        ConversationMessagesQuery),
    responses((status = 200, description = "The conversation with its messages",
        body = ConversationDetail)))]
pub async fn get_one(
    State(state): State<AppState>,
    Caller(key): Caller,
    Path(id): Path<String>,
    Query(q): Query<ConversationMessagesQuery>,
) -> Result<Json<ConversationDetail>, ApiError> {
    let conversation = state
        .store
        .get_conversation(&key.workspace_id, &id)
        .await?
        .ok_or(ApiError::NotFound(format!("conversation {id}")))?;
    let contact = state
        .store
        .get_contact(&key.workspace_id, &conversation.contact_id)
        .await?;
    let entries = state
        .store
        .conversation_entries(&conversation, q.limit.unwrap_or_default().get())
        .await?;
    Ok(Json(ConversationDetail::new(
        ConversationView::from(&conversation),
        contact.as_ref().map(ContactView::from),
        entries.iter().map(Entry::from).collect(),
    )))
}
