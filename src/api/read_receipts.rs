//! `POST /v1/messages/{id}/read`: marks a customer's message read through the channel's
//! provider (blue ticks on their phone), optionally showing "typing…" until the reply.

use axum::body::Body;
use axum::extract::State;
use axum::Json;
use chasqui_domain::{Problem, WorkspaceId};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::auth::Caller;
use super::error::ApiError;
use super::extract::Path;
use super::AppState;

/// The optional body.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReadRequest {
    /// Shows the person "typing…" (up to 25 s, or until the reply), as Meta's
    /// `typing_indicator`.
    pub typing_indicator: Option<TypingIndicator>,
}

/// Meta's typing indicator.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TypingIndicator {
    /// `text`.
    #[serde(rename = "type")]
    pub kind: TypingKind,
}

/// What the person sees.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum TypingKind {
    /// "typing…".
    Text,
}

/// What was marked read.
#[derive(Debug, Serialize, ToSchema)]
pub struct Read {
    /// Chasqui's id of the customer's message (`in_...`).
    pub id: String,
    /// Its wamid.
    pub wamid: String,
    /// The channel that sent the receipt.
    pub channel: String,
    /// `true`.
    pub read: bool,
    /// Whether "typing…" was shown.
    pub typing_indicator: bool,
}

/// `POST /v1/messages/{id}/read`.
#[utoipa::path(post, path = "/v1/messages/{id}/read", tag = "Messages",
    params(("id" = String, Path, description = "The customer's message: Chasqui's id (`in_...`) \
        or Meta's wamid")),
    request_body(content = Option<ReadRequest>, description = "Optional: `{\"typing_indicator\": \
        {\"type\": \"text\"}}`"),
    responses(
        (status = 200, description = "Marked read at the provider", body = Read),
        (status = 422, description = "`validation_failed`: the channel's provider sends no read \
            receipts; `provider_rejected`"),
        (status = 502, description = "`provider_unavailable`"),
    ))]
pub async fn mark_read(
    State(state): State<AppState>,
    Caller(key): Caller,
    Path(id): Path<String>,
    body: Body,
) -> Result<Json<Read>, ApiError> {
    let request = parse(&super::body::read(body).await?)?;
    let typing = request
        .typing_indicator
        .is_some_and(|t| matches!(t.kind, TypingKind::Text));
    Ok(Json(
        send_receipt(&state, &key.workspace_id, &id, typing).await?,
    ))
}

/// Marks a customer's message (Chasqui's id or wamid) read through its channel's provider: what
/// the API and the console both do.
pub async fn send_receipt(
    state: &AppState,
    workspace_id: &WorkspaceId,
    id: &str,
    typing: bool,
) -> Result<Read, ApiError> {
    let (id, channel_id, wamid) = state
        .store
        .find_inbound(workspace_id, id)
        .await?
        .ok_or_else(|| ApiError::NotFound("inbound message".into()))?;
    let live = state
        .channels
        .get(&channel_id)
        .ok_or_else(|| ApiError::NotFound("channel".into()))?;
    live.provider
        .mark_read(&wamid, typing)
        .await
        .map_err(|e| ApiError::from_provider(e, "read_receipts_unsupported"))?;
    Ok(Read {
        id,
        wamid,
        channel: channel_id.to_string(),
        read: true,
        typing_indicator: typing,
    })
}

/// The body: none, or the typed request, every problem named.
fn parse(body: &[u8]) -> Result<ReadRequest, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(ReadRequest::default());
    }
    let value = super::json::parse(body)?;
    if value.is_null() {
        return Ok(ReadRequest::default());
    }
    serde_path_to_error::deserialize(value).map_err(|e| {
        let field = e.path().to_string();
        let field = if field == "." { String::new() } else { field };
        ApiError::Validation(vec![Problem::new(
            field,
            chasqui_domain::problem::code::INVALID_VALUE,
            e.into_inner().to_string(),
        )])
    })
}
