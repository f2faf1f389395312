//! `/v1/conversations`: one per contact and channel, with both directions and the window state.

use std::collections::HashMap;

use axum::extract::State;
use axum::Json;
use serde_json::{json, Value};

use super::auth::Caller;
use super::error::ApiError;
use super::extract::{Path, Query};
use super::paging::{limit_param, unknown_param};
use super::{views, AppState};

/// `GET /v1/conversations`: by id, optionally one contact's.
pub async fn list(
    State(state): State<AppState>,
    Caller(key): Caller,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Json<Value>, ApiError> {
    let (mut contact, mut cursor, mut limit) = (None, None, 50);
    for (k, v) in &q {
        match k.as_str() {
            "contact" => contact = Some(v.as_str()),
            "cursor" => cursor = Some(v.as_str()),
            "limit" => limit = limit_param(v)?,
            other => return Err(unknown_param(other, "contact, limit, cursor")),
        }
    }
    let page = state
        .store
        .list_conversations(&key.workspace_id, contact, cursor, limit)
        .await?;
    let next = (page.len() as i64 == limit)
        .then(|| page.last().map(|c| c.id.clone()))
        .flatten();
    Ok(Json(json!({
        "data": page.iter().map(views::conversation).collect::<Vec<_>>(),
        "next_cursor": next,
    })))
}

/// `GET /v1/conversations/{id}`: the conversation, its contact, its window and its latest
/// messages in both directions, oldest first (`limit`, default 50).
pub async fn get_one(
    State(state): State<AppState>,
    Caller(key): Caller,
    Path(id): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Json<Value>, ApiError> {
    let mut limit = 50;
    for (k, v) in &q {
        match k.as_str() {
            "limit" => limit = limit_param(v)?,
            other => return Err(unknown_param(other, "limit")),
        }
    }
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
        .conversation_entries(&conversation, limit)
        .await?;
    let mut body = views::conversation(&conversation);
    body["contact"] = contact.as_ref().map(views::contact).unwrap_or(Value::Null);
    body["messages"] = entries.iter().map(views::entry).collect();
    Ok(Json(body))
}
