//! `GET /v1/inbound/unattributed`: inbound messages whose sender Meta did not name, kept with
//! their payload so none is lost, and never given to a guessed contact.

use axum::extract::State;
use axum::Json;
use chasqui_store::Unattributed;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::{IntoParams, ToSchema};

use super::auth::Caller;
use super::error::ApiError;
use super::extract::Query;
use super::paging::{Limit, Page};
use super::AppState;
use crate::clock::rfc3339;

/// The paging of `GET /v1/inbound/unattributed`.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct UnattributedQuery {
    /// Page size.
    limit: Option<Limit>,
    /// The `next_cursor` of the page before.
    cursor: Option<String>,
}

/// An inbound message with no known sender.
#[derive(Debug, Serialize, ToSchema)]
pub struct UnattributedView {
    /// Chasqui's id (`in_...`).
    pub id: String,
    /// The channel it arrived on.
    pub channel: String,
    /// Meta's message id.
    pub wamid: String,
    /// Normalised type (`text`, `image`, ...).
    #[serde(rename = "type")]
    pub kind: String,
    /// Normalised content.
    pub content: Value,
    /// The `messages[]` item exactly as Meta sent it.
    pub raw: Value,
    /// Meta's timestamp.
    pub sent_at: String,
    /// When Chasqui recorded it.
    pub received_at: String,
}

impl From<&Unattributed> for UnattributedView {
    fn from(u: &Unattributed) -> Self {
        let json = |text: &str| serde_json::from_str(text).unwrap_or(Value::Null);
        Self {
            id: u.id.clone(),
            channel: u.channel_id.to_string(),
            wamid: u.meta_id.clone(),
            kind: u.kind.clone(),
            content: json(&u.content),
            raw: json(&u.raw),
            sent_at: rfc3339(u.sent_at),
            received_at: rfc3339(u.received_at),
        }
    }
}

/// `GET /v1/inbound/unattributed`: newest first.
#[utoipa::path(get, path = "/v1/inbound/unattributed", tag = "Conversations",
    params(UnattributedQuery),
    responses((status = 200, description = "Inbound messages Meta named no sender for, newest \
        first", body = Page<UnattributedView>)))]
pub async fn list(
    State(state): State<AppState>,
    Caller(key): Caller,
    Query(q): Query<UnattributedQuery>,
) -> Result<Json<Page<UnattributedView>>, ApiError> {
    let limit = q.limit.unwrap_or_default();
    let before = match q.cursor.as_deref() {
        None => None,
        Some(c) => Some(c.parse::<i64>().map_err(|_| ApiError::BadParameter {
            field: "cursor".into(),
            message: "must be the next_cursor of the page before".into(),
        })?),
    };
    let page = state
        .store
        .list_unattributed(&key.workspace_id, before, limit.get())
        .await?;
    Ok(Json(Page::new(&page, limit, UnattributedView::from, |u| {
        u.seq.to_string()
    })))
}
