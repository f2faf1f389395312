//! API-key authentication: `Authorization: Bearer <key>`, looked up by SHA-256 hash, with a short
//! in-process cache so the hot path does not query the database per request.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::FromRequestParts;
use axum::http::{header, request::Parts};
use chasqui_store::{ApiKey, Store};

use super::error::ApiError;
use super::AppState;
use crate::ids::sha256_hex;

/// How long a looked-up key is trusted before asking the store again (bounds revocation delay).
const CACHE_TTL: Duration = Duration::from_secs(10);

/// Cache of keys by hash.
#[derive(Default)]
pub struct KeyCache {
    entries: Mutex<HashMap<String, (ApiKey, Instant)>>,
}

impl KeyCache {
    /// The live key for `token`, from cache or store.
    pub async fn lookup(
        &self,
        store: &Arc<dyn Store>,
        token: &str,
    ) -> Result<Option<ApiKey>, ApiError> {
        let hash = sha256_hex(token.as_bytes());
        if let Ok(entries) = self.entries.lock() {
            if let Some((key, at)) = entries.get(&hash) {
                if at.elapsed() < CACHE_TTL {
                    return Ok(Some(key.clone()));
                }
            }
        }
        let found = store.find_api_key(&hash).await?;
        if let (Some(key), Ok(mut entries)) = (&found, self.entries.lock()) {
            if entries.len() > 10_000 {
                entries.clear();
            }
            entries.insert(hash, (key.clone(), Instant::now()));
        }
        Ok(found)
    }
}

/// The authenticated caller.
pub struct Caller(pub ApiKey);

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let token = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| {
                v.strip_prefix("Bearer ")
                    .or_else(|| v.strip_prefix("bearer "))
            })
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .ok_or(ApiError::MissingApiKey)?;
        state
            .keys
            .lookup(&state.store, token)
            .await?
            .map(Caller)
            .ok_or(ApiError::InvalidApiKey)
    }
}
