//! The JSON shapes of workspaces, keys and channels: secrets appear only as masked hints.

use chasqui_store::{ApiKey, Channel, Workspace};
use serde_json::{json, Value};

use crate::clock::{now_ms, rfc3339};
use crate::secrets::Sealer;

/// A workspace.
pub fn workspace(w: &Workspace) -> Value {
    json!({
        "id": w.id,
        "name": w.name,
        "disabled": w.disabled_at.is_some(),
        "disabled_at": w.disabled_at.map(rfc3339),
        "daily_quota": w.daily_quota,
        "timezone": w.timezone,
        "created_at": rfc3339(w.created_at),
    })
}

/// A key's state: `active`, `revoked` or `expired`.
fn key_status(k: &ApiKey) -> &'static str {
    match (k.revoked_at, k.expires_at) {
        (Some(_), _) => "revoked",
        (None, Some(at)) if at <= now_ms() => "expired",
        _ => "active",
    }
}

/// An API key (never the key itself, which is shown once at creation).
pub fn key(k: &ApiKey) -> Value {
    json!({
        "id": k.id,
        "workspace_id": k.workspace_id,
        "name": k.name,
        "prefix": k.prefix,
        "scopes": k.scopes.iter().map(|s| s.as_str()).collect::<Vec<_>>(),
        "status": key_status(k),
        "expires_at": k.expires_at.map(rfc3339),
        "revoked_at": k.revoked_at.map(rfc3339),
        "last_used_at": k.last_used_at.map(rfc3339),
        "daily_quota": k.limits.daily_quota,
        "max_concurrent": k.limits.max_concurrent,
        "rate_per_minute": k.limits.rate_per_minute,
        "created_at": rfc3339(k.created_at),
    })
}

/// The last four characters of a secret, so an operator can tell which one is set; nothing for
/// short secrets, where four characters would be too much of it.
pub fn hint(sealer: &Sealer, sealed: &Option<String>) -> Value {
    let Some(sealed) = sealed else {
        return Value::Null;
    };
    match sealer.open(sealed) {
        Ok(plain) if plain.chars().count() >= 16 => {
            let tail: String = plain
                .chars()
                .rev()
                .take(4)
                .collect::<Vec<_>>()
                .into_iter()
                .rev()
                .collect();
            json!(format!("…{tail}"))
        }
        _ => json!("…"),
    }
}

/// A channel; its secrets only as hints.
pub fn channel(sealer: &Sealer, c: &Channel) -> Value {
    json!({
        "id": c.id,
        "workspace_id": c.workspace_id,
        "name": c.name,
        "provider": c.provider,
        "phone_number_id": c.phone_number_id,
        "display_phone_number": format!("+{}", c.display_phone_number),
        "waba_id": c.waba_id,
        "base_url": c.base_url,
        "api_version": c.api_version,
        "access_token_hint": hint(sealer, &c.access_token),
        "app_secret_hint": hint(sealer, &c.app_secret),
        "verify_token_hint": hint(sealer, &c.verify_token),
        "rate_per_sec": c.rate_per_sec,
        "pair_interval_ms": c.pair_interval_ms,
        "pair_burst": c.pair_burst,
        "window_policy": c.window_policy,
        "enabled": c.enabled,
        "is_default": c.is_default,
        "messaging_limit": c.messaging_limit,
    })
}
