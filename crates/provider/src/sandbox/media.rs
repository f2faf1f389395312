//! The sandbox's media, served like Graph (reference §7.1): `POST /{version}/{phone_number_id}/media`
//! (multipart upload), `GET /{version}/{media_id}` (info with a download URL) and
//! `GET /{version}/{media_id}/download` (the file, bearer token required). Files live in memory,
//! the oldest dropped beyond [`LIBRARY_CAPACITY`]; simulated customers' files (`POST /inbound`
//! with `media`) are stored the same way.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Multipart, OriginalUri, Path, Query, State};
use axum::http::{header, HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Json;
use base64::Engine as _;
use chasqui_domain::media_limits::check_upload;
use serde::Deserialize;
use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};

use super::graph::{check_token, meta_error, Refusal};
use super::{bump, lock, FieldError, Sandbox};

/// Bytes of media kept in memory; older files are forgotten beyond it.
pub(super) const LIBRARY_CAPACITY: usize = 256 * 1024 * 1024;

/// Largest upload body read (100 MB documents plus the multipart framing).
pub(super) const MAX_UPLOAD_BODY: usize = 101 * 1024 * 1024;

/// Message types that carry media.
const MEDIA_KINDS: [&str; 5] = ["image", "video", "audio", "document", "sticker"];

/// One stored file.
#[derive(Clone)]
pub(super) struct File {
    phone_number_id: String,
    mime_type: String,
    bytes: Bytes,
    sha256_hex: String,
}

/// Every stored file by media id, with insertion order for eviction.
#[derive(Default)]
pub(super) struct Library {
    files: HashMap<String, File>,
    order: VecDeque<String>,
    total: usize,
}

impl Library {
    /// Stores `file` under a fresh Meta-style id (digits) and answers the id.
    fn insert(&mut self, file: File) -> String {
        let id = new_media_id();
        self.total += file.bytes.len();
        self.files.insert(id.clone(), file);
        self.order.push_back(id.clone());
        while self.total > LIBRARY_CAPACITY && self.order.len() > 1 {
            let Some(old) = self.order.pop_front() else {
                break;
            };
            if let Some(f) = self.files.remove(&old) {
                self.total -= f.bytes.len();
            }
        }
        id
    }

    fn get(&self, id: &str) -> Option<File> {
        self.files.get(id).cloned()
    }
}

/// A fresh numeric id like Meta's (16 digits).
fn new_media_id() -> String {
    let random = uuid::Uuid::now_v7().as_u128() & u128::from(u64::MAX);
    format!("{}", 1_000_000_000_000_000 + random % 9_000_000_000_000_000)
}

/// A file's SHA-256: hex (what media info answers) and base64 (what webhooks carry).
fn digests(bytes: &[u8]) -> (String, String) {
    let digest = Sha256::digest(bytes);
    (
        hex::encode(digest),
        base64::engine::general_purpose::STANDARD.encode(digest),
    )
}

impl Sandbox {
    /// Whether the sandbox issued `media_id` and still holds its file.
    pub fn has_media(&self, media_id: &str) -> bool {
        lock(&self.media).files.contains_key(media_id)
    }

    /// Stores `bytes` for `phone_number_id`; answers the media id.
    fn store_media(&self, phone_number_id: &str, mime_type: &str, bytes: Bytes) -> String {
        let (sha256_hex, _) = digests(&bytes);
        lock(&self.media).insert(File {
            phone_number_id: phone_number_id.to_owned(),
            mime_type: mime_type.to_owned(),
            bytes,
            sha256_hex,
        })
    }
}

/// `media` of a simulated inbound message: the file the customer sends.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
pub struct InboundMedia {
    /// The file's MIME type, e.g. `image/png`.
    pub mime_type: String,
    /// The file, base64.
    pub data_base64: String,
}

/// Stores a simulated customer's file and fills the message's media object (`id`,
/// `mime_type`, `sha256` in base64 like Meta's webhooks).
pub(super) fn attach_inbound(
    sandbox: &Sandbox,
    phone_number_id: &str,
    kind: &str,
    content: &mut Map<String, Value>,
    media: InboundMedia,
) -> Result<(), FieldError> {
    if !MEDIA_KINDS.contains(&kind) {
        return Err(FieldError::new(
            "media",
            format!(
                "only image, video, audio, document and sticker messages carry media, not {kind:?}"
            ),
        ));
    }
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(media.data_base64.trim())
        .map_err(|e| FieldError::new("media.data_base64", format!("not base64: {e}")))?;
    if media.mime_type.trim().is_empty() {
        return Err(FieldError::new("media.mime_type", "required"));
    }
    let (_, sha256_b64) = digests(&bytes);
    let id = sandbox.store_media(phone_number_id, &media.mime_type, Bytes::from(bytes));
    let object = content
        .entry(kind.to_owned())
        .or_insert_with(|| Value::Object(Map::new()));
    let Value::Object(object) = object else {
        return Err(FieldError::new(
            format!("message.{kind}"),
            "must be an object",
        ));
    };
    object.insert("id".into(), json!(id));
    object.insert("mime_type".into(), json!(media.mime_type));
    object.insert("sha256".into(), json!(sha256_b64));
    Ok(())
}

/// `POST /{version}/{phone_number_id}/media`: Meta's multipart upload.
pub(super) async fn upload(
    State(sandbox): State<Arc<Sandbox>>,
    Path((_version, phone_number_id)): Path<(String, String)>,
    headers: HeaderMap,
    multipart: Result<Multipart, axum::extract::multipart::MultipartRejection>,
) -> Response {
    if let Err(refusal) = check_token(&sandbox.settings(), &headers) {
        return refusal.into_response();
    }
    let mut multipart = match multipart {
        Ok(m) => m,
        Err(e) => {
            return Refusal::invalid(format!("the body must be multipart/form-data: {e}"))
                .into_response()
        }
    };
    let mut product = None;
    let mut kind = None;
    let mut file: Option<(Option<String>, Bytes)> = None;
    loop {
        let field = match multipart.next_field().await {
            Ok(Some(field)) => field,
            Ok(None) => break,
            Err(e) => {
                return Refusal::invalid(format!("unreadable multipart body: {e}")).into_response()
            }
        };
        let name = field.name().unwrap_or_default().to_owned();
        let content_type = field.content_type().map(str::to_owned);
        let data = match field.bytes().await {
            Ok(data) => data,
            Err(e) => {
                return Refusal::invalid(format!("unreadable part {name:?}: {e}")).into_response()
            }
        };
        match name.as_str() {
            "messaging_product" => product = Some(String::from_utf8_lossy(&data).into_owned()),
            "type" => kind = Some(String::from_utf8_lossy(&data).into_owned()),
            "file" => file = Some((content_type, data)),
            _ => {}
        }
    }
    if product.as_deref() != Some("whatsapp") {
        return Refusal {
            message: "(#100) The parameter messaging_product is required.".into(),
            ..Refusal::invalid("messaging_product: required, must be \"whatsapp\"")
        }
        .into_response();
    }
    let Some((part_type, bytes)) = file else {
        return Refusal {
            message: "(#100) The parameter file is required.".into(),
            ..Refusal::invalid("file: required")
        }
        .into_response();
    };
    let Some(mime) = kind.or(part_type).filter(|m| !m.trim().is_empty()) else {
        return Refusal::invalid("type: required, the file's MIME type").into_response();
    };
    if let Err(problem) = check_upload(&mime, bytes.len() as u64) {
        return Refusal {
            status: StatusCode::BAD_REQUEST,
            code: 131053,
            message: "(#131053) Media upload error".into(),
            details: Some(format!("{}: {}", problem.field, problem.message)),
        }
        .into_response();
    }
    let id = sandbox.store_media(&phone_number_id, &mime, bytes);
    bump(&sandbox.stats.media_uploaded);
    (StatusCode::OK, Json(json!({ "id": id }))).into_response()
}

/// `?phone_number_id=`: when given, the media must belong to that number (Meta's ownership guard).
#[derive(Debug, Deserialize)]
pub(super) struct InfoQuery {
    phone_number_id: Option<String>,
}

/// Meta's answer for an id it does not know (or not for this number).
fn unknown_media(id: &str) -> Response {
    meta_error(
        StatusCode::BAD_REQUEST,
        100,
        &format!("Unsupported get request. Object with ID '{id}' does not exist, cannot be loaded due to missing permissions, or does not support this operation."),
        None,
    )
}

/// `GET /{version}/{media_id}`: the info answer, with a download URL on this server.
pub(super) async fn info(
    State(sandbox): State<Arc<Sandbox>>,
    Path((version, media_id)): Path<(String, String)>,
    Query(query): Query<InfoQuery>,
    OriginalUri(original): OriginalUri,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    if let Err(refusal) = check_token(&sandbox.settings(), &headers) {
        return refusal.into_response();
    }
    let file = lock(&sandbox.media).get(&media_id);
    let Some(file) = file.filter(|f| {
        query
            .phone_number_id
            .as_ref()
            .is_none_or(|p| *p == f.phone_number_id)
    }) else {
        return unknown_media(&media_id);
    };
    // Mounted under a prefix (`/sandbox/graph`), the URL must keep it.
    let prefix = original
        .path()
        .strip_suffix(uri.path())
        .unwrap_or_default()
        .to_owned();
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("localhost");
    let url = format!("http://{host}{prefix}/{version}/{media_id}/download");
    let body = json!({
        "messaging_product": "whatsapp",
        "url": url,
        "mime_type": file.mime_type,
        "sha256": file.sha256_hex,
        "file_size": file.bytes.len().to_string(),
        "id": media_id,
    });
    (StatusCode::OK, Json(body)).into_response()
}

/// `GET /{version}/{media_id}/download`: the file itself; like Meta's lookaside URL it needs
/// the bearer token.
pub(super) async fn download(
    State(sandbox): State<Arc<Sandbox>>,
    Path((_version, media_id)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    if let Err(refusal) = check_token(&sandbox.settings(), &headers) {
        return refusal.into_response();
    }
    let file = lock(&sandbox.media).get(&media_id);
    let Some(file) = file else {
        return meta_error(StatusCode::NOT_FOUND, 100, "media not found", None);
    };
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, file.mime_type)],
        file.bytes,
    )
        .into_response()
}
