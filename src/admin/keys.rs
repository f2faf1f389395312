//! API keys: created with scopes, an optional expiry and limits; shown once; revoked.

use chasqui_domain::problem::code;
use chasqui_domain::WorkspaceId;
use chasqui_domain::{Scope, ScopeSet};
use chasqui_store::{ApiKey, KeyLimits, NewApiKey, Store, StoreError};
use serde_json::Value;

use super::input::Fields;
use super::workspaces::{self, MAX_QUOTA};
use super::{AdminError, AdminResult};
use crate::clock::{now_ms, parse_rfc3339};
use crate::ids;

/// Longest key label.
const MAX_NAME: usize = 100;
/// Most requests in flight or per minute that can be set.
const MAX_RATE: i64 = 1_000_000;

/// A key just created: the stored record and the key itself, shown this once.
pub struct CreatedKey {
    /// The stored key.
    pub key: ApiKey,
    /// The secret; only its hash is kept.
    pub secret: String,
}

fn scopes(fields: &mut Fields) -> Option<ScopeSet> {
    let names = fields.strings("scopes")?;
    match ScopeSet::parse(&names.join(" ")) {
        Ok(set) if !set.is_empty() => Some(set),
        Ok(_) => {
            fields.reject("scopes", code::EMPTY, "at least one scope is required");
            None
        }
        Err(unknown) => {
            let known: Vec<&str> = Scope::ALL.iter().map(|s| s.as_str()).collect();
            fields.reject(
                "scopes",
                code::INVALID_VALUE,
                format!(
                    "unknown scope(s) {}; known: {}",
                    unknown.join(", "),
                    known.join(", ")
                ),
            );
            None
        }
    }
}

fn expiry(fields: &mut Fields) -> Option<Option<i64>> {
    let text = fields.nullable_string("expires_at", 64)?;
    match text.map(|t| parse_rfc3339(&t)) {
        None => Some(None),
        Some(Some(at)) if at > now_ms() => Some(Some(at)),
        Some(Some(_)) => {
            fields.reject("expires_at", code::INVALID_VALUE, "must be in the future");
            None
        }
        Some(None) => {
            fields.reject(
                "expires_at",
                code::INVALID_VALUE,
                "must be an RFC 3339 time such as 2030-01-31T00:00:00Z",
            );
            None
        }
    }
}

fn limits(fields: &mut Fields, l: &mut KeyLimits) {
    if let Some(v) = fields.nullable_int("daily_quota", 1, MAX_QUOTA) {
        l.daily_quota = v;
    }
    if let Some(v) = fields.nullable_int("max_concurrent", 1, MAX_RATE) {
        l.max_concurrent = v;
    }
    if let Some(v) = fields.nullable_int("rate_per_minute", 1, MAX_RATE) {
        l.rate_per_minute = v;
    }
}

/// Mints a key for a workspace; `scopes` defaults to every scope but admin.
pub async fn create(
    store: &dyn Store,
    workspace_id: &WorkspaceId,
    body: Value,
) -> AdminResult<CreatedKey> {
    workspaces::get(store, workspace_id).await?;
    let mut fields = Fields::new(body)?;
    let name = fields
        .string("name", MAX_NAME)
        .unwrap_or_else(|| "key".into());
    let scopes = scopes(&mut fields).unwrap_or_else(ScopeSet::tenant);
    let expires_at = expiry(&mut fields).flatten();
    let mut l = KeyLimits::default();
    limits(&mut fields, &mut l);
    fields.finish()?;
    Ok(mint(store, workspace_id, &name, scopes, expires_at, l).await?)
}

/// Stores a new key with these settings and returns it with its secret.
pub async fn mint(
    store: &dyn Store,
    workspace_id: &WorkspaceId,
    name: &str,
    scopes: ScopeSet,
    expires_at: Option<i64>,
    limits: KeyLimits,
) -> Result<CreatedKey, StoreError> {
    let secret = ids::api_key();
    let new = NewApiKey {
        id: ids::prefixed("key_"),
        workspace_id: workspace_id.clone(),
        name: name.into(),
        prefix: secret.chars().take(12).collect(),
        hash: ids::sha256_hex(secret.as_bytes()),
        scopes,
        expires_at,
        limits,
    };
    let now = now_ms();
    store.insert_api_key(&new, now).await?;
    let key = ApiKey {
        id: new.id,
        workspace_id: new.workspace_id,
        name: new.name,
        prefix: new.prefix,
        scopes,
        expires_at,
        revoked_at: None,
        last_used_at: None,
        limits,
        created_at: now,
    };
    Ok(CreatedKey { key, secret })
}

/// One key.
pub async fn get(store: &dyn Store, id: &str) -> AdminResult<ApiKey> {
    store
        .get_api_key(id)
        .await?
        .ok_or(AdminError::NotFound("key"))
}

/// A workspace's keys.
pub async fn list(store: &dyn Store, workspace_id: &WorkspaceId) -> AdminResult<Vec<ApiKey>> {
    workspaces::get(store, workspace_id).await?;
    Ok(store.list_api_keys(workspace_id).await?)
}

/// Changes name, scopes, expiry, limits, or revokes (`"revoked": true`; a revoked key stays revoked).
pub async fn update(store: &dyn Store, id: &str, body: Value) -> AdminResult<ApiKey> {
    let mut key = get(store, id).await?;
    let mut fields = Fields::new(body)?;
    if let Some(name) = fields.string("name", MAX_NAME) {
        key.name = name;
    }
    if let Some(s) = scopes(&mut fields) {
        key.scopes = s;
    }
    if let Some(at) = expiry(&mut fields) {
        key.expires_at = at;
    }
    limits(&mut fields, &mut key.limits);
    match fields.bool("revoked") {
        Some(true) if key.revoked_at.is_none() => key.revoked_at = Some(now_ms()),
        Some(false) if key.revoked_at.is_some() => fields.reject(
            "revoked",
            code::NOT_ALLOWED,
            "a revoked key cannot be restored: create a new one",
        ),
        _ => {}
    }
    fields.finish()?;
    store.update_api_key(&key).await?;
    Ok(key)
}

/// Revokes a key; it is refused from the next request on.
pub async fn revoke(store: &dyn Store, id: &str) -> AdminResult<ApiKey> {
    let mut key = get(store, id).await?;
    if key.revoked_at.is_none() {
        key.revoked_at = Some(now_ms());
        store.update_api_key(&key).await?;
    }
    Ok(key)
}
