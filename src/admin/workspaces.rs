//! Workspaces: create, read, update (name, disabled, daily quota, time zone, marketing
//! keywords), delete.

use chasqui_domain::consent::MarketingKeywords;
use chasqui_domain::problem::code;
use chasqui_domain::quota::QuotaZone;
use chasqui_domain::WorkspaceId;
use chasqui_store::{Store, Workspace};
use serde_json::Value;

use super::input::Fields;
use super::{AdminError, AdminResult};
use crate::clock::now_ms;
use crate::ids;

/// Longest workspace name.
const MAX_NAME: usize = 100;
/// Largest daily quota that can be set.
pub const MAX_QUOTA: i64 = 1_000_000_000;

/// Reads the settable fields into `ws`.
fn apply(fields: &mut Fields, ws: &mut Workspace) {
    if let Some(name) = fields.string("name", MAX_NAME) {
        ws.name = name;
    }
    if let Some(disabled) = fields.bool("disabled") {
        ws.disabled_at = match (disabled, ws.disabled_at) {
            (true, None) => Some(now_ms()),
            (true, at) => at,
            (false, _) => None,
        };
    }
    if let Some(q) = fields.nullable_int("daily_quota", 1, MAX_QUOTA) {
        ws.daily_quota = q;
    }
    if let Some(tz) = fields.nullable_string("timezone", 64) {
        match tz.as_deref().map(QuotaZone::parse) {
            Some(Err(_)) => fields.reject(
                "timezone",
                code::INVALID_VALUE,
                "must be an IANA time zone such as America/Lima",
            ),
            _ => ws.timezone = tz,
        }
    }
    if let Some(value) = fields.raw("marketing_keywords") {
        if let Some(keywords) = marketing_keywords(fields, value) {
            ws.marketing_keywords = keywords;
        }
    }
}

/// `marketing_keywords`: `null` (the defaults) or `{stop?, resume?}`, each a list of keywords;
/// `None` when it has problems (recorded in `fields`).
fn marketing_keywords(fields: &mut Fields, value: Value) -> Option<Option<MarketingKeywords>> {
    const FIELD: &str = "marketing_keywords";
    if value.is_null() {
        return Some(None);
    }
    let keywords: MarketingKeywords = match serde_json::from_value(value) {
        Ok(k) => k,
        Err(e) => {
            fields.reject(
                FIELD,
                code::INVALID_VALUE,
                format!("must be null or {{\"stop\": [...], \"resume\": [...]}} of strings: {e}"),
            );
            return None;
        }
    };
    let problems = keywords.problems(FIELD);
    if problems.is_empty() {
        return Some(Some(keywords));
    }
    fields.problems.extend(problems);
    None
}

/// Creates a workspace from `{name, disabled?, daily_quota?, timezone?, marketing_keywords?}`.
pub async fn create(store: &dyn Store, body: Value) -> AdminResult<Workspace> {
    let mut fields = Fields::new(body)?;
    let name = fields.required_string("name", MAX_NAME);
    let mut ws = Workspace {
        id: ids::workspace_id(),
        name: name.unwrap_or_default(),
        disabled_at: None,
        daily_quota: None,
        timezone: None,
        marketing_keywords: None,
        created_at: now_ms(),
    };
    apply(&mut fields, &mut ws);
    fields.finish()?;
    store.save_workspace(&ws).await?;
    Ok(ws)
}

/// One workspace.
pub async fn get(store: &dyn Store, id: &WorkspaceId) -> AdminResult<Workspace> {
    store
        .get_workspace(id)
        .await?
        .ok_or(AdminError::NotFound("workspace"))
}

/// Changes the fields `body` names.
pub async fn update(store: &dyn Store, id: &WorkspaceId, body: Value) -> AdminResult<Workspace> {
    let mut ws = get(store, id).await?;
    let mut fields = Fields::new(body)?;
    apply(&mut fields, &mut ws);
    fields.finish()?;
    store.save_workspace(&ws).await?;
    Ok(ws)
}

/// Deletes an empty workspace (its channels must be deleted first) with its keys.
pub async fn delete(store: &dyn Store, id: &WorkspaceId) -> AdminResult<()> {
    if store.delete_workspace(id).await? {
        Ok(())
    } else {
        Err(AdminError::NotFound("workspace"))
    }
}
