//! Workspaces, API keys and channels on SQLite.

use async_trait::async_trait;
use chasqui_domain::ScopeSet;
use rusqlite::{params, Connection, OptionalExtension, Row};

use super::{channel_from_row, SqliteStore, CHANNEL_COLUMNS};
use crate::tenancy::{CHANNEL_BUSY, PHONE_NUMBER_ID_TAKEN, TOUCH_INTERVAL_MS, WORKSPACE_BUSY};
use crate::{
    ApiKey, Channel, KeyLimits, Millis, NewApiKey, Result, StoreError, TenancyStore, Workspace,
};

const WORKSPACE_COLUMNS: &str = "id, name, disabled_at, daily_quota, timezone, created_at";

fn workspace_row(r: &Row<'_>) -> rusqlite::Result<Workspace> {
    Ok(Workspace {
        id: r.get(0)?,
        name: r.get(1)?,
        disabled_at: r.get(2)?,
        daily_quota: r.get(3)?,
        timezone: r.get(4)?,
        created_at: r.get(5)?,
    })
}

const KEY_COLUMNS: &str = "k.id, k.workspace_id, k.name, k.prefix, k.scopes, k.expires_at, \
     k.revoked_at, k.last_used_at, k.daily_quota, k.max_concurrent, k.rate_per_minute, k.created_at";

fn key_row(r: &Row<'_>) -> rusqlite::Result<ApiKey> {
    let scopes: String = r.get(4)?;
    Ok(ApiKey {
        id: r.get(0)?,
        workspace_id: r.get(1)?,
        name: r.get(2)?,
        prefix: r.get(3)?,
        scopes: ScopeSet::from_stored(&scopes),
        expires_at: r.get(5)?,
        revoked_at: r.get(6)?,
        last_used_at: r.get(7)?,
        limits: KeyLimits {
            daily_quota: r.get(8)?,
            max_concurrent: r.get(9)?,
            rate_per_minute: r.get(10)?,
        },
        created_at: r.get(11)?,
    })
}

fn is_constraint(e: &rusqlite::Error) -> bool {
    matches!(e, rusqlite::Error::SqliteFailure(f, _) if f.code == rusqlite::ErrorCode::ConstraintViolation)
}

fn save_channel(c: &Connection, ch: &Channel, now: Millis) -> Result<()> {
    if ch.is_default {
        c.prepare_cached(
            "UPDATE channels SET is_default = 0 WHERE workspace_id = ?1 AND id <> ?2 AND is_default",
        )?
        .execute(params![ch.workspace_id, ch.id])?;
    }
    let result = c
        .prepare_cached(
            "INSERT INTO channels (id, workspace_id, name, provider, phone_number_id, display_phone_number, \
             waba_id, base_url, api_version, access_token, app_secret, verify_token, rate_per_sec, \
             pair_interval_ms, pair_burst, is_default, created_at, updated_at, window_policy, enabled, \
             messaging_limit) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?17, ?18, ?19, ?20) \
             ON CONFLICT (id) DO UPDATE SET name = excluded.name, provider = excluded.provider, \
             phone_number_id = excluded.phone_number_id, display_phone_number = excluded.display_phone_number, \
             waba_id = excluded.waba_id, base_url = excluded.base_url, api_version = excluded.api_version, \
             access_token = excluded.access_token, app_secret = excluded.app_secret, \
             verify_token = excluded.verify_token, rate_per_sec = excluded.rate_per_sec, \
             pair_interval_ms = excluded.pair_interval_ms, pair_burst = excluded.pair_burst, \
             is_default = excluded.is_default, updated_at = excluded.updated_at, \
             window_policy = excluded.window_policy, enabled = excluded.enabled, \
             messaging_limit = excluded.messaging_limit",
        )?
        .execute(params![
            ch.id, ch.workspace_id, ch.name, ch.provider, ch.phone_number_id,
            ch.display_phone_number, ch.waba_id, ch.base_url, ch.api_version, ch.access_token,
            ch.app_secret, ch.verify_token, ch.rate_per_sec, ch.pair_interval_ms, ch.pair_burst,
            ch.is_default, now, ch.window_policy, ch.enabled, ch.messaging_limit
        ]);
    match result {
        Ok(_) => Ok(()),
        Err(e) if is_constraint(&e) => Err(StoreError::Conflict(PHONE_NUMBER_ID_TAKEN.into())),
        Err(e) => Err(e.into()),
    }
}

#[async_trait]
impl TenancyStore for SqliteStore {
    async fn ensure_workspace(&self, id: &str, name: &str, now: Millis) -> Result<Workspace> {
        let (id, name) = (id.to_string(), name.to_string());
        self.rt
            .write(move |c| {
                c.execute(
                    "INSERT INTO workspaces (id, name, created_at) VALUES (?1, ?2, ?3) ON CONFLICT (id) DO NOTHING",
                    params![id, name, now],
                )?;
                let sql = format!("SELECT {WORKSPACE_COLUMNS} FROM workspaces WHERE id = ?1");
                Ok(c.query_row(&sql, [&id], workspace_row)?)
            })
            .await
    }

    async fn save_workspace(&self, ws: &Workspace) -> Result<()> {
        let ws = ws.clone();
        self.rt
            .write(move |c| {
                c.execute(
                    "INSERT INTO workspaces (id, name, disabled_at, daily_quota, timezone, created_at) \
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT (id) DO UPDATE SET name = excluded.name, \
                     disabled_at = excluded.disabled_at, daily_quota = excluded.daily_quota, \
                     timezone = excluded.timezone",
                    params![ws.id, ws.name, ws.disabled_at, ws.daily_quota, ws.timezone, ws.created_at],
                )?;
                Ok(())
            })
            .await
    }

    async fn get_workspace(&self, id: &str) -> Result<Option<Workspace>> {
        let id = id.to_string();
        self.rt.lookup(move |c| {
            let sql = format!("SELECT {WORKSPACE_COLUMNS} FROM workspaces WHERE id = ?1");
            Ok(c.prepare_cached(&sql)?
                .query_row([id], workspace_row)
                .optional()?)
        })
    }

    async fn list_workspaces(&self) -> Result<Vec<Workspace>> {
        self.rt
            .read(|c| {
                let sql =
                    format!("SELECT {WORKSPACE_COLUMNS} FROM workspaces ORDER BY created_at, id");
                let rows = c
                    .prepare_cached(&sql)?
                    .query_map([], workspace_row)?
                    .collect::<rusqlite::Result<_>>()?;
                Ok(rows)
            })
            .await
    }

    async fn delete_workspace(&self, id: &str) -> Result<bool> {
        let id = id.to_string();
        self.rt
            .write(move |c| {
                let channels: i64 = c.query_row(
                    "SELECT count(*) FROM channels WHERE workspace_id = ?1",
                    [&id],
                    |r| r.get(0),
                )?;
                if channels > 0 {
                    return Err(StoreError::Conflict(WORKSPACE_BUSY.into()));
                }
                c.execute("DELETE FROM api_keys WHERE workspace_id = ?1", [&id])?;
                // Its users and their sessions go with it (users reference the workspace).
                c.execute("DELETE FROM sessions WHERE workspace_id = ?1", [&id])?;
                c.execute("DELETE FROM users WHERE workspace_id = ?1", [&id])?;
                Ok(c.execute("DELETE FROM workspaces WHERE id = ?1", [&id])? > 0)
            })
            .await
    }

    async fn insert_api_key(&self, key: &NewApiKey, now: Millis) -> Result<()> {
        let k = key.clone();
        self.rt
            .write(move |c| {
                c.execute(
                    "INSERT INTO api_keys (id, workspace_id, name, prefix, hash, created_at, scopes, \
                     expires_at, daily_quota, max_concurrent, rate_per_minute) \
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
                    params![
                        k.id, k.workspace_id, k.name, k.prefix, k.hash, now, k.scopes.to_text(),
                        k.expires_at, k.limits.daily_quota, k.limits.max_concurrent,
                        k.limits.rate_per_minute
                    ],
                )?;
                Ok(())
            })
            .await
    }

    async fn find_api_key(&self, hash: &str, now: Millis) -> Result<Option<ApiKey>> {
        let hash = hash.to_string();
        self.rt
            .lookup(move |c| {
                let sql = format!(
                    "SELECT {KEY_COLUMNS} FROM api_keys k JOIN workspaces w ON w.id = k.workspace_id \
                     WHERE k.hash = ?1 AND k.revoked_at IS NULL AND (k.expires_at IS NULL OR k.expires_at > ?2) \
                     AND w.disabled_at IS NULL"
                );
                Ok(c.prepare_cached(&sql)?
                    .query_row(params![hash, now], key_row)
                    .optional()?)
            })
    }

    async fn get_api_key(&self, id: &str) -> Result<Option<ApiKey>> {
        let id = id.to_string();
        self.rt
            .read(move |c| {
                let sql = format!("SELECT {KEY_COLUMNS} FROM api_keys k WHERE k.id = ?1");
                Ok(c.prepare_cached(&sql)?
                    .query_row([id], key_row)
                    .optional()?)
            })
            .await
    }

    async fn list_api_keys(&self, workspace_id: &str) -> Result<Vec<ApiKey>> {
        let ws = workspace_id.to_string();
        self.rt
            .read(move |c| {
                let sql = format!(
                    "SELECT {KEY_COLUMNS} FROM api_keys k WHERE k.workspace_id = ?1 ORDER BY k.created_at, k.id"
                );
                let rows = c
                    .prepare_cached(&sql)?
                    .query_map([ws], key_row)?
                    .collect::<rusqlite::Result<_>>()?;
                Ok(rows)
            })
            .await
    }

    async fn update_api_key(&self, k: &ApiKey) -> Result<bool> {
        let k = k.clone();
        self.rt
            .write(move |c| {
                Ok(c.execute(
                    "UPDATE api_keys SET name = ?2, scopes = ?3, expires_at = ?4, revoked_at = ?5, \
                     daily_quota = ?6, max_concurrent = ?7, rate_per_minute = ?8 WHERE id = ?1",
                    params![
                        k.id, k.name, k.scopes.to_text(), k.expires_at, k.revoked_at,
                        k.limits.daily_quota, k.limits.max_concurrent, k.limits.rate_per_minute
                    ],
                )? > 0)
            })
            .await
    }

    async fn touch_api_key(&self, id: &str, now: Millis) -> Result<()> {
        let id = id.to_string();
        self.rt
            .write(move |c| {
                c.prepare_cached(
                    "UPDATE api_keys SET last_used_at = ?2 WHERE id = ?1 \
                     AND (last_used_at IS NULL OR last_used_at < ?2 - ?3)",
                )?
                .execute(params![id, now, TOUCH_INTERVAL_MS])?;
                Ok(())
            })
            .await
    }

    async fn count_api_keys(&self, workspace_id: &str) -> Result<i64> {
        let ws = workspace_id.to_string();
        self.rt
            .read(move |c| {
                Ok(c.query_row(
                    "SELECT count(*) FROM api_keys WHERE workspace_id = ?1 AND revoked_at IS NULL",
                    [ws],
                    |r| r.get(0),
                )?)
            })
            .await
    }

    async fn upsert_channel(&self, ch: &Channel, now: Millis) -> Result<()> {
        let ch = ch.clone();
        self.rt.write(move |c| save_channel(c, &ch, now)).await
    }

    async fn get_channel(&self, id: &str) -> Result<Option<Channel>> {
        let id = id.to_string();
        self.rt
            .read(move |c| {
                let sql = format!("SELECT {CHANNEL_COLUMNS} FROM channels WHERE id = ?1");
                Ok(c.prepare_cached(&sql)?
                    .query_row([id], channel_from_row)
                    .optional()?)
            })
            .await
    }

    async fn list_channels(&self, workspace_id: &str) -> Result<Vec<Channel>> {
        let ws = workspace_id.to_string();
        self.rt
            .read(move |c| {
                let sql = format!(
                    "SELECT {CHANNEL_COLUMNS} FROM channels WHERE workspace_id = ?1 ORDER BY created_at, id"
                );
                let rows = c
                    .prepare_cached(&sql)?
                    .query_map([ws], channel_from_row)?
                    .collect::<rusqlite::Result<_>>()?;
                Ok(rows)
            })
            .await
    }

    async fn delete_channel(&self, id: &str) -> Result<bool> {
        let id = id.to_string();
        self.rt
            .write(move |c| {
                let waiting: i64 = c.query_row(
                    "SELECT count(*) FROM outbox WHERE channel_id = ?1",
                    [&id],
                    |r| r.get(0),
                )?;
                if waiting > 0 {
                    return Err(StoreError::Conflict(CHANNEL_BUSY.into()));
                }
                Ok(c.execute("DELETE FROM channels WHERE id = ?1", [&id])? > 0)
            })
            .await
    }

    async fn find_channel(
        &self,
        workspace_id: &str,
        id_or_number: &str,
    ) -> Result<Option<Channel>> {
        let (ws, key) = (
            workspace_id.to_string(),
            id_or_number.trim_start_matches('+').to_string(),
        );
        self.rt.lookup(move |c| {
            let sql = format!(
                "SELECT {CHANNEL_COLUMNS} FROM channels WHERE workspace_id = ?1 \
                     AND (id = ?2 OR display_phone_number = ?2) ORDER BY id = ?2 DESC LIMIT 1"
            );
            Ok(c.prepare_cached(&sql)?
                .query_row(params![ws, key], channel_from_row)
                .optional()?)
        })
    }

    async fn default_channel(&self, workspace_id: &str) -> Result<Option<Channel>> {
        let ws = workspace_id.to_string();
        self.rt.lookup(move |c| {
            let sql = format!(
                "SELECT {CHANNEL_COLUMNS} FROM channels WHERE workspace_id = ?1 AND is_default \
                     ORDER BY created_at LIMIT 1"
            );
            Ok(c.prepare_cached(&sql)?
                .query_row([ws], channel_from_row)
                .optional()?)
        })
    }

    async fn all_channels(&self) -> Result<Vec<Channel>> {
        self.rt
            .read(|c| {
                let sql = format!("SELECT {CHANNEL_COLUMNS} FROM channels ORDER BY created_at");
                let rows = c
                    .prepare_cached(&sql)?
                    .query_map([], channel_from_row)?
                    .collect::<rusqlite::Result<_>>()?;
                Ok(rows)
            })
            .await
    }
}
