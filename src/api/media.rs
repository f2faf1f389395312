//! `/v1/media`: uploads checked against WhatsApp's limits before anything leaves, and the files
//! customers sent, served once downloaded.

use axum::body::Body;
use axum::extract::{FromRequest, Multipart, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use chasqui_domain::media_limits::{check_upload, TOO_LARGE};
use chasqui_domain::{Problem, WorkspaceId};
use chasqui_provider::ManageError;
use chasqui_store::NewMedia;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::auth::Caller;
use super::error::ApiError;
use super::extract::{Path, Query};
use super::AppState;
use crate::clock::now_ms;
use crate::ids;

/// Largest multipart upload body: 100 MB documents plus the form's framing.
pub const MAX_MULTIPART_BODY: usize = 101 * 1024 * 1024;

/// Name given to an upload when the request names none.
const DEFAULT_FILENAME: &str = "upload";

/// Longest `filename`.
const MAX_FILENAME_CHARS: usize = 240;

/// Maps a provider's refusal: its judgement of the file is the caller's problem; bad
/// credentials or its own failures are the gateway's.
fn provider_error(e: ManageError) -> ApiError {
    match e {
        ManageError::Rejected { http_status, error }
            if (400..500).contains(&http_status) && ![401, 403].contains(&http_status) =>
        {
            ApiError::ProviderRejected(error)
        }
        ManageError::Unsupported(message) => {
            ApiError::Refused(Problem::new("channel", "media_unsupported", message))
        }
        other => ApiError::ProviderUnavailable(other.to_string()),
    }
}

/// Where an upload goes and what it is called.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct UploadQuery {
    /// The channel (id or sender number); the workspace's default otherwise.
    channel: Option<String>,
    /// The file's name (a multipart part's own name otherwise).
    filename: Option<String>,
}

/// A multipart upload: one part holding the file.
#[derive(Debug, ToSchema)]
#[allow(dead_code)] // The spec's body schema; a field reader parses it, listing every problem.
pub struct UploadForm {
    /// The file, with its own `Content-Type`.
    #[schema(value_type = String, format = Binary)]
    pub file: Vec<u8>,
}

/// An uploaded file.
#[derive(Debug, Serialize, ToSchema)]
pub struct Uploaded {
    /// The provider's media id: use it as `image.id` (and the like) in a send.
    pub id: String,
    /// Chasqui's media id, for `GET /v1/media/{id}`.
    pub media_id: String,
    /// Its WhatsApp media category.
    #[serde(rename = "type")]
    pub kind: chasqui_domain::media_limits::MediaCategory,
    /// Its MIME type.
    #[schema(example = "image/jpeg")]
    pub mime_type: String,
    /// Its size in bytes.
    pub size: usize,
    /// Its SHA-256, hex.
    pub sha256: String,
    /// The channel it was uploaded through.
    pub channel_id: chasqui_domain::ChannelId,
}

/// `POST /v1/media`: the body is the file, `Content-Type` its MIME type; `?channel=` (id or
/// number, default channel otherwise) and `?filename=`. Answers 201 with the provider's media
/// id, usable as `image.id` (and the like) in sends.
#[utoipa::path(post, path = "/v1/media", tag = "Media", params(UploadQuery),
    request_body(description = "The file itself (its MIME type as `Content-Type`), or a \
        multipart form with one part holding it",
        content(
            (Vec<u8> = "application/octet-stream"),
            (Vec<u8> = "image/jpeg"),
            (UploadForm = "multipart/form-data"),
        )),
    responses(
        (status = 201, description = "Uploaded to the provider", body = Uploaded),
        (status = 404, description = "No such channel: `not_found`"),
        (status = 413, description = "Over WhatsApp's limit for its type: `payload_too_large`"),
        (status = 422, description = "A type or size WhatsApp refuses: `unsupported_media_type`, \
            `too_large`, `media_unsupported`, `provider_rejected`"),
        (status = 502, description = "The provider did not answer: `provider_unavailable`"),
    ))]
pub async fn upload(
    State(state): State<AppState>,
    Caller(key): Caller,
    Query(q): Query<UploadQuery>,
    request: axum::extract::Request,
) -> Result<Response, ApiError> {
    let (parts, body) = request.into_parts();
    let headers = &parts.headers;
    let channel_key = q.channel;
    let mut filename = match &q.filename {
        Some(name) => clean_filename(name)?,
        None => DEFAULT_FILENAME.to_owned(),
    };
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(|m| m.trim().to_ascii_lowercase())
        .unwrap_or_default();
    let (mime, bytes) = if content_type == "multipart/form-data" {
        // Rebuilt with its parts so the route's body limit (an extension) still applies.
        let request = axum::extract::Request::from_parts(parts, body);
        let (mime, part_name, bytes) = read_multipart(request).await?;
        if filename == DEFAULT_FILENAME {
            if let Some(name) = part_name {
                filename = clean_filename(&name)?;
            }
        }
        (mime, bytes)
    } else {
        // Refused on the declared size before the body is read, then on the bytes themselves.
        let declared = headers
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0);
        let category = match check_upload(&content_type, declared) {
            Ok(category) => category,
            Err(problem) => {
                drain(body).await;
                return Err(ApiError::Refused(problem));
            }
        };
        let bytes = read_capped(body, category.max_bytes()).await?;
        (content_type, bytes)
    };
    let category = check_upload(&mime, bytes.len() as u64).map_err(ApiError::Refused)?;
    let channel = state
        .channels
        .lookup(&key.workspace_id, channel_key.as_deref())
        .ok_or_else(|| {
            ApiError::NotFound(format!(
                "channel {}",
                channel_key.as_deref().unwrap_or("(default)")
            ))
        })?;
    let live = state
        .channels
        .get(&channel.id)
        .ok_or_else(|| ApiError::NotFound(format!("channel {}", channel.id)))?;

    let sha256 = ids::sha256_hex(&bytes);
    let size = bytes.len();
    let id = ids::prefixed("md_");
    let provider_id = live
        .provider
        .upload_media(&mime, &filename, bytes.clone())
        .await
        .map_err(provider_error)?;
    // Kept so `GET /v1/media/{id}` serves uploads too; the upload itself already succeeded.
    let stored = state.media.write(&id, &bytes).await;
    if let Err(e) = &stored {
        tracing::warn!(error = %e, media = %id, "keeping an uploaded file failed");
    }
    let row = NewMedia {
        id: id.clone(),
        workspace_id: key.workspace_id.clone(),
        channel_id: channel.id.clone(),
        direction: "outbound".into(),
        provider_media_id: provider_id.clone(),
        mime_type: Some(mime.clone()),
        size: i64::try_from(size).ok(),
        sha256: Some(sha256.clone()),
        filename: Some(filename),
        path: stored.is_ok().then(|| id.clone()),
        state: if stored.is_ok() { "stored" } else { "failed" }.into(),
        message_meta_id: None,
        next_attempt_at: now_ms(),
    };
    state.store.insert_media(&row, now_ms()).await?;
    let answer = Uploaded {
        id: provider_id,
        media_id: id,
        kind: category,
        mime_type: mime,
        size,
        sha256,
        channel_id: channel.id.clone(),
    };
    Ok((StatusCode::CREATED, Json(answer)).into_response())
}

/// A file name without path separators or control characters.
fn clean_filename(name: &str) -> Result<String, ApiError> {
    let ok = !name.trim().is_empty()
        && name.chars().count() <= MAX_FILENAME_CHARS
        && !name
            .chars()
            .any(|c| c.is_control() || c == '/' || c == '\\');
    if ok {
        Ok(name.to_owned())
    } else {
        Err(ApiError::BadParameter {
            field: "filename".into(),
            message: format!(
                "must be 1 to {MAX_FILENAME_CHARS} characters without slashes or control characters"
            ),
        })
    }
}

/// Most bytes of a refused body read and thrown away, so the client can finish sending and
/// read the refusal instead of seeing its connection reset.
const MAX_DRAIN_BYTES: u64 = 128 * 1024 * 1024;

/// Reads the body, refusing it as `too_large` once it passes `max` bytes (the rest drained).
async fn read_capped(body: Body, max: u64) -> Result<Vec<u8>, ApiError> {
    use http_body_util::BodyExt;
    let mut body = body;
    let mut bytes = Vec::new();
    let mut seen: u64 = 0;
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| ApiError::BadParameter {
            field: "body".into(),
            message: format!("the body could not be read: {e}"),
        })?;
        let Ok(data) = frame.into_data() else {
            continue;
        };
        seen += data.len() as u64;
        if seen <= max {
            bytes.extend_from_slice(&data);
        } else if seen > MAX_DRAIN_BYTES {
            break;
        }
    }
    if seen > max {
        return Err(ApiError::Refused(Problem::new(
            "file",
            TOO_LARGE,
            format!("is more than {max} bytes"),
        )));
    }
    Ok(bytes)
}

/// The `file` part of a `multipart/form-data` upload (Meta's form: `type` names the MIME type,
/// else the part's own `Content-Type`): its MIME type, file name and bytes, checked while read.
async fn read_multipart(
    request: axum::extract::Request,
) -> Result<(String, Option<String>, Vec<u8>), ApiError> {
    let bad = |message: String| ApiError::BadParameter {
        field: "body".into(),
        message,
    };
    let mut form = Multipart::from_request(request, &())
        .await
        .map_err(|e| bad(format!("not a multipart form: {e}")))?;
    let mut declared_type = None;
    while let Some(mut field) = form
        .next_field()
        .await
        .map_err(|e| bad(format!("unreadable multipart form: {e}")))?
    {
        match field.name() {
            Some("type") => {
                let text = field
                    .text()
                    .await
                    .map_err(|e| bad(format!("unreadable `type`: {e}")))?;
                declared_type = Some(text.trim().to_ascii_lowercase());
            }
            Some("file") => {
                let mime = declared_type
                    .clone()
                    .or_else(|| field.content_type().map(|m| m.to_ascii_lowercase()))
                    .unwrap_or_default();
                check_upload(&mime, 0).map_err(ApiError::Refused)?;
                let name = field.file_name().map(str::to_owned);
                let mut bytes = Vec::new();
                while let Some(chunk) = field
                    .chunk()
                    .await
                    .map_err(|e| bad(format!("unreadable `file`: {e}")))?
                {
                    bytes.extend_from_slice(&chunk);
                    check_upload(&mime, bytes.len() as u64).map_err(ApiError::Refused)?;
                }
                return Ok((mime, name, bytes));
            }
            _ => {}
        }
    }
    Err(ApiError::Validation(vec![Problem::new(
        "file",
        chasqui_domain::problem::code::REQUIRED,
        "a multipart upload needs a `file` part",
    )]))
}

/// Reads and discards a refused body (see [`MAX_DRAIN_BYTES`]).
async fn drain(body: Body) {
    let _ = read_capped(body, 0).await;
}

/// `GET /v1/media/{id}` (Chasqui's or the provider's id): the stored file with its type.
#[utoipa::path(get, path = "/v1/media/{id}", tag = "Media",
    params(("id" = String, Path, description = "Chasqui's media id or the provider's")),
    responses(
        (status = 200, description = "The file, with its MIME type",
            content((Vec<u8> = "application/octet-stream"))),
        (status = 409, description = "Not downloaded yet: `conflict`"),
    ))]
pub async fn get_one(
    State(state): State<AppState>,
    Caller(key): Caller,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    stored_file(&state, &key.workspace_id, &id).await
}

/// A workspace's stored media file (Chasqui's or the provider's id) with its type: what the API
/// and the console serve.
pub(crate) async fn stored_file(
    state: &AppState,
    workspace_id: &WorkspaceId,
    id: &str,
) -> Result<Response, ApiError> {
    let media = state
        .store
        .get_media(workspace_id, id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("media {id}")))?;
    let path = media
        .path
        .as_deref()
        .filter(|_| media.state == "stored")
        .ok_or_else(|| {
            ApiError::Conflict(format!("media {id} is {}, not stored yet", media.state))
        })?;
    let full = state
        .media
        .path_of(path)
        .ok_or_else(|| ApiError::Internal(format!("media {} has a bad path", media.id)))?;
    let bytes = tokio::fs::read(&full)
        .await
        .map_err(|e| ApiError::Internal(format!("reading {}: {e}", full.display())))?;
    let mime = media
        .mime_type
        .unwrap_or_else(|| "application/octet-stream".into());
    let mut response = (StatusCode::OK, bytes).into_response();
    if let Ok(value) = header::HeaderValue::from_str(&mime) {
        response.headers_mut().insert(header::CONTENT_TYPE, value);
    }
    if let Ok(value) = header::HeaderValue::from_str(&media.id) {
        response.headers_mut().insert("x-chasqui-media-id", value);
    }
    Ok(response)
}
