//! Workspaces, API keys and channels on PostgreSQL.

use async_trait::async_trait;
use chasqui_domain::ScopeSet;
use sqlx::postgres::PgRow;
use sqlx::{PgConnection, Row};

use super::{channel_from_row, rows, PgStore, CHANNEL_COLUMNS};
use crate::tenancy::{CHANNEL_BUSY, PHONE_NUMBER_ID_TAKEN, TOUCH_INTERVAL_MS, WORKSPACE_BUSY};
use crate::{
    ApiKey, Channel, KeyLimits, Millis, NewApiKey, Result, StoreError, TenancyStore, Workspace,
};

const WORKSPACE_COLUMNS: &str = "id, name, disabled_at, daily_quota, timezone, created_at";

fn workspace_row(r: &PgRow) -> Result<Workspace> {
    Ok(Workspace {
        id: r.try_get(0)?,
        name: r.try_get(1)?,
        disabled_at: r.try_get(2)?,
        daily_quota: r.try_get(3)?,
        timezone: r.try_get(4)?,
        created_at: r.try_get(5)?,
    })
}

const KEY_COLUMNS: &str = "k.id, k.workspace_id, k.name, k.prefix, k.scopes, k.expires_at, \
     k.revoked_at, k.last_used_at, k.daily_quota, k.max_concurrent, k.rate_per_minute, k.created_at";

fn key_row(r: &PgRow) -> Result<ApiKey> {
    let scopes: String = r.try_get(4)?;
    Ok(ApiKey {
        id: r.try_get(0)?,
        workspace_id: r.try_get(1)?,
        name: r.try_get(2)?,
        prefix: r.try_get(3)?,
        scopes: ScopeSet::from_stored(&scopes),
        expires_at: r.try_get(5)?,
        revoked_at: r.try_get(6)?,
        last_used_at: r.try_get(7)?,
        limits: KeyLimits {
            daily_quota: r.try_get(8)?,
            max_concurrent: r.try_get(9)?,
            rate_per_minute: r.try_get(10)?,
        },
        created_at: r.try_get(11)?,
    })
}

fn is_unique_violation(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(db) if db.code().as_deref() == Some("23505"))
}

async fn save_channel(c: &mut PgConnection, ch: &Channel, now: Millis) -> Result<()> {
    if ch.is_default {
        sqlx::query(
            "UPDATE channels SET is_default = FALSE WHERE workspace_id = $1 AND id <> $2 AND is_default",
        )
        .bind(&ch.workspace_id)
        .bind(&ch.id)
        .execute(&mut *c)
        .await?;
    }
    let result = sqlx::query(
        "INSERT INTO channels (id, workspace_id, name, provider, phone_number_id, display_phone_number, \
         waba_id, base_url, api_version, access_token, app_secret, verify_token, rate_per_sec, \
         pair_interval_ms, pair_burst, is_default, created_at, updated_at, window_policy, enabled, \
         messaging_limit) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $17, $18, $19, $20) \
         ON CONFLICT (id) DO UPDATE SET name = excluded.name, provider = excluded.provider, \
         phone_number_id = excluded.phone_number_id, display_phone_number = excluded.display_phone_number, \
         waba_id = excluded.waba_id, base_url = excluded.base_url, api_version = excluded.api_version, \
         access_token = excluded.access_token, app_secret = excluded.app_secret, \
         verify_token = excluded.verify_token, rate_per_sec = excluded.rate_per_sec, \
         pair_interval_ms = excluded.pair_interval_ms, pair_burst = excluded.pair_burst, \
         is_default = excluded.is_default, updated_at = excluded.updated_at, \
         window_policy = excluded.window_policy, enabled = excluded.enabled, \
         messaging_limit = excluded.messaging_limit",
    )
    .bind(&ch.id)
    .bind(&ch.workspace_id)
    .bind(&ch.name)
    .bind(&ch.provider)
    .bind(&ch.phone_number_id)
    .bind(&ch.display_phone_number)
    .bind(&ch.waba_id)
    .bind(&ch.base_url)
    .bind(&ch.api_version)
    .bind(&ch.access_token)
    .bind(&ch.app_secret)
    .bind(&ch.verify_token)
    .bind(ch.rate_per_sec)
    .bind(ch.pair_interval_ms)
    .bind(ch.pair_burst)
    .bind(ch.is_default)
    .bind(now)
    .bind(&ch.window_policy)
    .bind(ch.enabled)
    .bind(ch.messaging_limit)
    .execute(&mut *c)
    .await;
    match result {
        Ok(_) => Ok(()),
        Err(e) if is_unique_violation(&e) => {
            Err(StoreError::Conflict(PHONE_NUMBER_ID_TAKEN.into()))
        }
        Err(e) => Err(e.into()),
    }
}

#[async_trait]
impl TenancyStore for PgStore {
    async fn ensure_workspace(&self, id: &str, name: &str, now: Millis) -> Result<Workspace> {
        sqlx::query("INSERT INTO workspaces (id, name, created_at) VALUES ($1, $2, $3) ON CONFLICT (id) DO NOTHING")
            .bind(id)
            .bind(name)
            .bind(now)
            .execute(&self.pool)
            .await?;
        self.get_workspace(id)
            .await?
            .ok_or_else(|| StoreError::Corrupt(format!("workspace {id} vanished")))
    }

    async fn save_workspace(&self, ws: &Workspace) -> Result<()> {
        sqlx::query(
            "INSERT INTO workspaces (id, name, disabled_at, daily_quota, timezone, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (id) DO UPDATE SET name = excluded.name, \
             disabled_at = excluded.disabled_at, daily_quota = excluded.daily_quota, \
             timezone = excluded.timezone",
        )
        .bind(&ws.id)
        .bind(&ws.name)
        .bind(ws.disabled_at)
        .bind(ws.daily_quota)
        .bind(&ws.timezone)
        .bind(ws.created_at)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn get_workspace(&self, id: &str) -> Result<Option<Workspace>> {
        let sql = format!("SELECT {WORKSPACE_COLUMNS} FROM workspaces WHERE id = $1");
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(workspace_row).transpose()
    }

    async fn list_workspaces(&self) -> Result<Vec<Workspace>> {
        let sql = format!("SELECT {WORKSPACE_COLUMNS} FROM workspaces ORDER BY created_at, id");
        rows(
            sqlx::query(sqlx::AssertSqlSafe(sql))
                .fetch_all(&self.pool)
                .await?,
            workspace_row,
        )
    }

    async fn delete_workspace(&self, id: &str) -> Result<bool> {
        let mut tx = self.pool.begin().await?;
        // Locks the workspace row so a channel cannot be added while it is deleted.
        let found: Option<String> =
            sqlx::query_scalar("SELECT id FROM workspaces WHERE id = $1 FOR UPDATE")
                .bind(id)
                .fetch_optional(&mut *tx)
                .await?;
        if found.is_none() {
            return Ok(false);
        }
        let channels: i64 =
            sqlx::query_scalar("SELECT count(*) FROM channels WHERE workspace_id = $1")
                .bind(id)
                .fetch_one(&mut *tx)
                .await?;
        if channels > 0 {
            return Err(StoreError::Conflict(WORKSPACE_BUSY.into()));
        }
        // Its users and their sessions go with it (users reference the workspace).
        for table in ["sessions", "users"] {
            sqlx::query(sqlx::AssertSqlSafe(format!(
                "DELETE FROM {table} WHERE workspace_id = $1"
            )))
            .bind(id)
            .execute(&mut *tx)
            .await?;
        }
        sqlx::query("DELETE FROM api_keys WHERE workspace_id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        let done = sqlx::query("DELETE FROM workspaces WHERE id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(done.rows_affected() > 0)
    }

    async fn insert_api_key(&self, k: &NewApiKey, now: Millis) -> Result<()> {
        sqlx::query(
            "INSERT INTO api_keys (id, workspace_id, name, prefix, hash, created_at, scopes, \
             expires_at, daily_quota, max_concurrent, rate_per_minute) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
        )
        .bind(&k.id)
        .bind(&k.workspace_id)
        .bind(&k.name)
        .bind(&k.prefix)
        .bind(&k.hash)
        .bind(now)
        .bind(k.scopes.to_text())
        .bind(k.expires_at)
        .bind(k.limits.daily_quota)
        .bind(k.limits.max_concurrent)
        .bind(k.limits.rate_per_minute)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn find_api_key(&self, hash: &str, now: Millis) -> Result<Option<ApiKey>> {
        let sql = format!(
            "SELECT {KEY_COLUMNS} FROM api_keys k JOIN workspaces w ON w.id = k.workspace_id \
             WHERE k.hash = $1 AND k.revoked_at IS NULL AND (k.expires_at IS NULL OR k.expires_at > $2) \
             AND w.disabled_at IS NULL"
        );
        // A probe of two unique indexes: its cached plan is always the right one.
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(hash)
            .bind(now)
            .fetch_optional(&self.probes)
            .await?;
        row.as_ref().map(key_row).transpose()
    }

    async fn get_api_key(&self, id: &str) -> Result<Option<ApiKey>> {
        let sql = format!("SELECT {KEY_COLUMNS} FROM api_keys k WHERE k.id = $1");
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(key_row).transpose()
    }

    async fn list_api_keys(&self, workspace_id: &str) -> Result<Vec<ApiKey>> {
        let sql = format!(
            "SELECT {KEY_COLUMNS} FROM api_keys k WHERE k.workspace_id = $1 ORDER BY k.created_at, k.id"
        );
        rows(
            sqlx::query(sqlx::AssertSqlSafe(sql))
                .bind(workspace_id)
                .fetch_all(&self.pool)
                .await?,
            key_row,
        )
    }

    async fn update_api_key(&self, k: &ApiKey) -> Result<bool> {
        let done = sqlx::query(
            "UPDATE api_keys SET name = $2, scopes = $3, expires_at = $4, revoked_at = $5, \
             daily_quota = $6, max_concurrent = $7, rate_per_minute = $8 WHERE id = $1",
        )
        .bind(&k.id)
        .bind(&k.name)
        .bind(k.scopes.to_text())
        .bind(k.expires_at)
        .bind(k.revoked_at)
        .bind(k.limits.daily_quota)
        .bind(k.limits.max_concurrent)
        .bind(k.limits.rate_per_minute)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() > 0)
    }

    async fn touch_api_key(&self, id: &str, now: Millis) -> Result<()> {
        sqlx::query(
            "UPDATE api_keys SET last_used_at = $2 WHERE id = $1 \
             AND (last_used_at IS NULL OR last_used_at < $2 - $3)",
        )
        .bind(id)
        .bind(now)
        .bind(TOUCH_INTERVAL_MS)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn count_api_keys(&self, workspace_id: &str) -> Result<i64> {
        Ok(sqlx::query_scalar(
            "SELECT count(*) FROM api_keys WHERE workspace_id = $1 AND revoked_at IS NULL",
        )
        .bind(workspace_id)
        .fetch_one(&self.pool)
        .await?)
    }

    async fn upsert_channel(&self, ch: &Channel, now: Millis) -> Result<()> {
        let mut tx = self.pool.begin().await?;
        save_channel(&mut tx, ch, now).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn get_channel(&self, id: &str) -> Result<Option<Channel>> {
        let sql = format!("SELECT {CHANNEL_COLUMNS} FROM channels WHERE id = $1");
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(channel_from_row).transpose()
    }

    async fn list_channels(&self, workspace_id: &str) -> Result<Vec<Channel>> {
        let sql = format!(
            "SELECT {CHANNEL_COLUMNS} FROM channels WHERE workspace_id = $1 ORDER BY created_at, id"
        );
        rows(
            sqlx::query(sqlx::AssertSqlSafe(sql))
                .bind(workspace_id)
                .fetch_all(&self.pool)
                .await?,
            channel_from_row,
        )
    }

    async fn delete_channel(&self, id: &str) -> Result<bool> {
        let mut tx = self.pool.begin().await?;
        // Locks the channel so nothing is queued on it while it is checked and deleted.
        let found: Option<String> =
            sqlx::query_scalar("SELECT id FROM channels WHERE id = $1 FOR UPDATE")
                .bind(id)
                .fetch_optional(&mut *tx)
                .await?;
        if found.is_none() {
            return Ok(false);
        }
        let waiting: i64 = sqlx::query_scalar("SELECT count(*) FROM outbox WHERE channel_id = $1")
            .bind(id)
            .fetch_one(&mut *tx)
            .await?;
        if waiting > 0 {
            return Err(StoreError::Conflict(CHANNEL_BUSY.into()));
        }
        sqlx::query("DELETE FROM channels WHERE id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(true)
    }

    async fn find_channel(
        &self,
        workspace_id: &str,
        id_or_number: &str,
    ) -> Result<Option<Channel>> {
        let sql = format!(
            "SELECT {CHANNEL_COLUMNS} FROM channels WHERE workspace_id = $1 \
             AND (id = $2 OR display_phone_number = $2) ORDER BY (id = $2) DESC LIMIT 1"
        );
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(workspace_id)
            .bind(id_or_number.trim_start_matches('+'))
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(channel_from_row).transpose()
    }

    async fn default_channel(&self, workspace_id: &str) -> Result<Option<Channel>> {
        let sql = format!(
            "SELECT {CHANNEL_COLUMNS} FROM channels WHERE workspace_id = $1 AND is_default ORDER BY created_at LIMIT 1"
        );
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(workspace_id)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(channel_from_row).transpose()
    }

    async fn all_channels(&self) -> Result<Vec<Channel>> {
        let sql = format!("SELECT {CHANNEL_COLUMNS} FROM channels ORDER BY created_at");
        rows(
            sqlx::query(sqlx::AssertSqlSafe(sql))
                .fetch_all(&self.pool)
                .await?,
            channel_from_row,
        )
    }
}
