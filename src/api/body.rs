//! Reading a request body: content type, size limit and syntax, each refused with its own code.
//! Every JSON request body (native and vendor) is parsed by [`super::json::parse`], which refuses
//! repeated keys and the NUL character.

use axum::body::{Body, Bytes};
use axum::extract::{FromRequest, Request};
use axum::http::header;
use serde_json::Value;

use super::error::ApiError;
use super::json;

/// Largest accepted request body.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

/// A JSON body parsed into a `Value`, with its raw bytes kept (for idempotency hashing).
pub struct JsonBody {
    /// The parsed value.
    pub value: Value,
    /// The bytes as received.
    pub raw: Bytes,
}

impl<S: Send + Sync> FromRequest<S> for JsonBody {
    type Rejection = ApiError;

    async fn from_request(req: Request, _state: &S) -> Result<Self, Self::Rejection> {
        if !media_type(req.headers()).is_some_and(|m| is_json(&m)) {
            return Err(ApiError::UnsupportedMediaType);
        }
        let raw = read(req.into_body()).await?;
        let value = json::parse(&raw)?;
        Ok(Self { value, raw })
    }
}

/// A body taken as bytes (up to [`MAX_BODY_BYTES`]), refused as Chasqui's own problem rather
/// than axum's plain-text rejection.
pub struct RawBody(pub Bytes);

impl<S: Send + Sync> FromRequest<S> for RawBody {
    type Rejection = ApiError;

    async fn from_request(req: Request, _state: &S) -> Result<Self, Self::Rejection> {
        read(req.into_body()).await.map(Self)
    }
}

/// Reads a whole body of at most [`MAX_BODY_BYTES`].
pub async fn read(body: Body) -> Result<Bytes, ApiError> {
    read_at_most(body, MAX_BODY_BYTES).await
}

/// Reads a whole body of at most `limit` bytes.
pub async fn read_at_most(body: Body, limit: usize) -> Result<Bytes, ApiError> {
    axum::body::to_bytes(body, limit)
        .await
        .map_err(|_| ApiError::PayloadTooLarge(limit))
}

/// The media type of `Content-Type`, lowercase, without parameters.
pub fn media_type(headers: &axum::http::HeaderMap) -> Option<String> {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(|m| m.trim().to_ascii_lowercase())
}

/// Whether a media type is JSON (`application/json` or `application/...+json`).
pub fn is_json(media_type: &str) -> bool {
    media_type == "application/json"
        || (media_type.starts_with("application/") && media_type.ends_with("+json"))
}
