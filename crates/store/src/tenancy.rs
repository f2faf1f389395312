//! Workspaces, their API keys and their channels: who may use Chasqui and through which numbers.

use async_trait::async_trait;
use chasqui_domain::window::WindowPolicy;
use chasqui_domain::window_fallback::WindowFallback;
use chasqui_domain::ChannelId;
use chasqui_domain::WorkspaceId;
use chasqui_domain::{ProviderKind, ScopeSet};

use crate::error::Constraint;
use crate::sql::{args, for_update, Db, Row, Sql};
use crate::{ApiKey, Channel, KeyLimits, Millis, NewApiKey, Result, StoreError, Workspace};

/// Persistence of tenants, credentials and channels.
#[async_trait]
pub trait TenancyStore: Send + Sync {
    /// The workspace with `id`, created with `name` if missing.
    async fn ensure_workspace(
        &self,
        id: &WorkspaceId,
        name: &str,
        now: Millis,
    ) -> Result<Workspace>;
    /// Creates the workspace or updates its settings (matched by id).
    async fn save_workspace(&self, ws: &Workspace) -> Result<()>;
    /// One workspace.
    async fn get_workspace(&self, id: &WorkspaceId) -> Result<Option<Workspace>>;
    /// Every workspace, oldest first.
    async fn list_workspaces(&self) -> Result<Vec<Workspace>>;
    /// Deletes a workspace and its keys; `Conflict` while it still has channels.
    async fn delete_workspace(&self, id: &WorkspaceId) -> Result<bool>;

    /// Stores a new API key (its hash only).
    async fn insert_api_key(&self, key: &NewApiKey, now: Millis) -> Result<()>;
    /// The usable key whose SHA-256 hash is `hash`: not revoked, not expired at `now`, and of an
    /// enabled workspace.
    async fn find_api_key(&self, hash: &str, now: Millis) -> Result<Option<ApiKey>>;
    /// One key by id, whatever its state.
    async fn get_api_key(&self, id: &str) -> Result<Option<ApiKey>>;
    /// A workspace's keys, oldest first.
    async fn list_api_keys(&self, workspace_id: &WorkspaceId) -> Result<Vec<ApiKey>>;
    /// Writes a key's name, scopes, expiry, revocation and limits; false when it does not exist.
    async fn update_api_key(&self, key: &ApiKey) -> Result<bool>;
    /// Records that a key was used at `now` (skipped when recorded within the last minute).
    async fn touch_api_key(&self, id: &str, now: Millis) -> Result<()>;
    /// Number of live API keys of a workspace.
    async fn count_api_keys(&self, workspace_id: &WorkspaceId) -> Result<i64>;

    /// Creates the channel or updates its settings (matched by id). A default channel makes the
    /// workspace's other channels non-default. `Conflict` when another channel has its
    /// phone number id.
    async fn upsert_channel(&self, channel: &Channel, now: Millis) -> Result<()>;
    /// One channel by id.
    async fn get_channel(&self, id: &ChannelId) -> Result<Option<Channel>>;
    /// A workspace's channels, oldest first.
    async fn list_channels(&self, workspace_id: &WorkspaceId) -> Result<Vec<Channel>>;
    /// Deletes a channel; `Conflict` while it has messages waiting to be sent.
    async fn delete_channel(&self, id: &ChannelId) -> Result<bool>;
    /// A workspace's channel by id or by sender number (`display_phone_number`, digits).
    async fn find_channel(
        &self,
        workspace_id: &WorkspaceId,
        id_or_number: &str,
    ) -> Result<Option<Channel>>;
    /// A workspace's default channel.
    async fn default_channel(&self, workspace_id: &WorkspaceId) -> Result<Option<Channel>>;
    /// Every channel (for webhook verification and routing).
    async fn all_channels(&self) -> Result<Vec<Channel>>;
}

/// How often a key's `last_used_at` is written at most: once a minute is enough to see which
/// keys are in use, without a write per request.
pub const TOUCH_INTERVAL_MS: Millis = 60_000;

/// Why a channel cannot be deleted yet.
const CHANNEL_BUSY: &str = "the channel still has messages waiting to be sent";
/// Why a workspace cannot be deleted yet.
const WORKSPACE_BUSY: &str = "the workspace still has channels: delete them first";
/// Why a channel cannot be saved.
const PHONE_NUMBER_ID_TAKEN: &str = "another channel already has that phone_number_id";

const WORKSPACE_COLUMNS: &str =
    "id, name, disabled_at, daily_quota, timezone, created_at, marketing_keywords";

fn workspace(r: &mut Row) -> Result<Workspace> {
    Ok(Workspace {
        id: r.get()?,
        name: r.get()?,
        disabled_at: r.get()?,
        daily_quota: r.get()?,
        timezone: r.get()?,
        created_at: r.get()?,
        marketing_keywords: match r.get::<Option<String>>()? {
            None => None,
            Some(text) => Some(serde_json::from_str(&text).map_err(|e| {
                StoreError::Corrupt(format!("workspace marketing_keywords {text:?}: {e}"))
            })?),
        },
    })
}

const KEY_COLUMNS: &str = "k.id, k.workspace_id, k.name, k.prefix, k.scopes, k.expires_at, \
     k.revoked_at, k.last_used_at, k.daily_quota, k.max_concurrent, k.rate_per_minute, k.created_at";

fn api_key(r: &mut Row) -> Result<ApiKey> {
    Ok(ApiKey {
        id: r.get()?,
        workspace_id: r.get()?,
        name: r.get()?,
        prefix: r.get()?,
        scopes: ScopeSet::from_stored(&r.get::<String>()?),
        expires_at: r.get()?,
        revoked_at: r.get()?,
        last_used_at: r.get()?,
        limits: KeyLimits {
            daily_quota: r.get()?,
            max_concurrent: r.get()?,
            rate_per_minute: r.get()?,
        },
        created_at: r.get()?,
    })
}

/// Columns read back as a [`Channel`], in its field order.
pub(crate) const CHANNEL_COLUMNS: &str =
    "id, workspace_id, name, provider, phone_number_id, display_phone_number, \
     waba_id, base_url, api_version, access_token, app_secret, verify_token, rate_per_sec, \
     pair_interval_ms, pair_burst, is_default, window_policy, enabled, messaging_limit, num, \
     auto_read, wolkvox_connector_id, respond_channel_id, window_fallback, marketing_messages";

/// Reads a channel from [`CHANNEL_COLUMNS`].
pub(crate) fn channel(r: &mut Row) -> Result<Channel> {
    Ok(Channel {
        id: r.get()?,
        workspace_id: r.get()?,
        name: r.get()?,
        provider: r.parse("provider", ProviderKind::parse)?,
        phone_number_id: r.get()?,
        display_phone_number: r.get()?,
        waba_id: r.get()?,
        base_url: r.get()?,
        api_version: r.get()?,
        access_token: r.get()?,
        app_secret: r.get()?,
        verify_token: r.get()?,
        rate_per_sec: r.get()?,
        pair_interval_ms: r.get()?,
        pair_burst: r.get()?,
        is_default: r.get()?,
        window_policy: r.parse("window policy", WindowPolicy::parse)?,
        enabled: r.get()?,
        messaging_limit: r.get()?,
        // Given by the store on insert (a sequence or a trigger), so never missing.
        num: r.get()?,
        auto_read: r.get()?,
        wolkvox_connector_id: r.get()?,
        respond_channel_id: r.get()?,
        window_fallback: {
            let raw: Option<String> = r.get()?;
            match raw {
                None => None,
                Some(text) => Some(
                    serde_json::from_str::<serde_json::Value>(&text)
                        .map_err(|e| e.to_string())
                        .and_then(|v| WindowFallback::parse(&v))
                        .map_err(|e| StoreError::Corrupt(format!("window_fallback: {e}")))?,
                ),
            }
        },
        marketing_messages: r.get()?,
    })
}

/// Whether a row with this id exists, locking it (PostgreSQL) until the transaction ends.
async fn lock_row(db: &mut dyn Db, table: &str, id: &str) -> Result<bool> {
    let sql = format!("SELECT id FROM {table} WHERE id = $1{}", for_update(db));
    Ok(db.fetch_optional(&sql, args![id]).await?.is_some())
}

async fn save_channel(db: &mut dyn Db, ch: &Channel, now: Millis) -> Result<()> {
    if ch.is_default {
        db.execute(
            "UPDATE channels SET is_default = $3 WHERE workspace_id = $1 AND id <> $2 AND is_default",
            args![&ch.workspace_id, &ch.id, false],
        )
        .await?;
    }
    let saved = db
        .execute(
            "INSERT INTO channels (id, workspace_id, name, provider, phone_number_id, \
             display_phone_number, waba_id, base_url, api_version, access_token, app_secret, \
             verify_token, rate_per_sec, pair_interval_ms, pair_burst, is_default, created_at, \
             updated_at, window_policy, enabled, messaging_limit, auto_read, \
             wolkvox_connector_id, respond_channel_id, window_fallback, marketing_messages) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, \
             $17, $18, $19, $20, $21, $22, $23, $24, $25) \
             ON CONFLICT (id) DO UPDATE SET name = excluded.name, provider = excluded.provider, \
             phone_number_id = excluded.phone_number_id, \
             display_phone_number = excluded.display_phone_number, waba_id = excluded.waba_id, \
             base_url = excluded.base_url, api_version = excluded.api_version, \
             access_token = excluded.access_token, app_secret = excluded.app_secret, \
             verify_token = excluded.verify_token, rate_per_sec = excluded.rate_per_sec, \
             pair_interval_ms = excluded.pair_interval_ms, pair_burst = excluded.pair_burst, \
             is_default = excluded.is_default, updated_at = excluded.updated_at, \
             window_policy = excluded.window_policy, enabled = excluded.enabled, \
             messaging_limit = excluded.messaging_limit, auto_read = excluded.auto_read, \
             wolkvox_connector_id = excluded.wolkvox_connector_id, \
             respond_channel_id = excluded.respond_channel_id, \
             window_fallback = excluded.window_fallback, \
             marketing_messages = excluded.marketing_messages",
            args![
                &ch.id,
                &ch.workspace_id,
                &ch.name,
                ch.provider.as_str(),
                &ch.phone_number_id,
                &ch.display_phone_number,
                &ch.waba_id,
                &ch.base_url,
                &ch.api_version,
                &ch.access_token,
                &ch.app_secret,
                &ch.verify_token,
                ch.rate_per_sec,
                ch.pair_interval_ms,
                ch.pair_burst,
                ch.is_default,
                now,
                ch.window_policy.as_str(),
                ch.enabled,
                ch.messaging_limit,
                ch.auto_read,
                &ch.wolkvox_connector_id,
                &ch.respond_channel_id,
                ch.window_fallback
                    .as_ref()
                    .map(|f| serde_json::to_string(f).unwrap_or_default()),
                ch.marketing_messages
            ],
        )
        .await;
    match saved {
        Ok(_) => Ok(()),
        Err(e) => Err(match e.constraint() {
            // The only unique column a channel write can collide on besides its own id.
            Some(Constraint::Unique) => StoreError::Conflict(PHONE_NUMBER_ID_TAKEN.into()),
            Some(Constraint::ForeignKey) => {
                StoreError::Conflict(format!("no workspace {}", ch.workspace_id))
            }
            _ => e,
        }),
    }
}

async fn delete_workspace(db: &mut dyn Db, id: &WorkspaceId) -> Result<bool> {
    // Locks the workspace so a channel cannot be added to it while it is deleted.
    if !lock_row(db, "workspaces", id).await? {
        return Ok(false);
    }
    let channels: i64 = db
        .scalar(
            "SELECT count(*) FROM channels WHERE workspace_id = $1",
            args![id],
        )
        .await?;
    if channels > 0 {
        return Err(StoreError::Conflict(WORKSPACE_BUSY.into()));
    }
    // Its keys, users and their sessions go with it (they reference the workspace).
    for table in ["api_keys", "sessions", "users"] {
        let sql = format!("DELETE FROM {table} WHERE workspace_id = $1");
        db.execute(&sql, args![id]).await?;
    }
    Ok(db
        .execute("DELETE FROM workspaces WHERE id = $1", args![id])
        .await?
        > 0)
}

async fn delete_channel(db: &mut dyn Db, id: &ChannelId) -> Result<bool> {
    // Locks the channel so nothing is queued on it while it is checked and deleted.
    if !lock_row(db, "channels", id).await? {
        return Ok(false);
    }
    let waiting: i64 = db
        .scalar(
            "SELECT count(*) FROM messages WHERE channel_id = $1 AND state IS NOT NULL",
            args![id],
        )
        .await?;
    if waiting > 0 {
        return Err(StoreError::Conflict(CHANNEL_BUSY.into()));
    }
    Ok(db
        .execute("DELETE FROM channels WHERE id = $1", args![id])
        .await?
        > 0)
}

#[async_trait]
impl<B: Sql> TenancyStore for B {
    async fn ensure_workspace(
        &self,
        id: &WorkspaceId,
        name: &str,
        now: Millis,
    ) -> Result<Workspace> {
        let state = (id.to_string(), name.to_string(), now);
        self.write(state, |db, (id, name, now)| {
            Box::pin(async move {
                db.execute(
                    "INSERT INTO workspaces (id, name, created_at) VALUES ($1, $2, $3) \
                     ON CONFLICT (id) DO NOTHING",
                    args![id, name, *now],
                )
                .await?;
                let sql = format!("SELECT {WORKSPACE_COLUMNS} FROM workspaces WHERE id = $1");
                db.fetch_one_map(&sql, args![id], workspace)
                    .await?
                    .ok_or_else(|| StoreError::Corrupt(format!("workspace {id} vanished")))
            })
        })
        .await
    }

    async fn save_workspace(&self, ws: &Workspace) -> Result<()> {
        self.write(ws.clone(), |db, ws| {
            Box::pin(async move {
                let keywords = match &ws.marketing_keywords {
                    None => None,
                    Some(k) => Some(
                        serde_json::to_string(k).map_err(|e| StoreError::Corrupt(e.to_string()))?,
                    ),
                };
                db.execute(
                    "INSERT INTO workspaces (id, name, disabled_at, daily_quota, timezone, \
                     created_at, marketing_keywords) VALUES ($1, $2, $3, $4, $5, $6, $7) \
                     ON CONFLICT (id) DO UPDATE \
                     SET name = excluded.name, disabled_at = excluded.disabled_at, \
                     daily_quota = excluded.daily_quota, timezone = excluded.timezone, \
                     marketing_keywords = excluded.marketing_keywords",
                    args![
                        &ws.id,
                        &ws.name,
                        ws.disabled_at,
                        ws.daily_quota,
                        &ws.timezone,
                        ws.created_at,
                        keywords
                    ],
                )
                .await?;
                Ok(())
            })
        })
        .await
    }

    async fn get_workspace(&self, id: &WorkspaceId) -> Result<Option<Workspace>> {
        self.lookup(id.to_string(), |db, id| {
            Box::pin(async move {
                let sql = format!("SELECT {WORKSPACE_COLUMNS} FROM workspaces WHERE id = $1");
                db.fetch_one_map(&sql, args![id], workspace).await
            })
        })
        .await
    }

    async fn list_workspaces(&self) -> Result<Vec<Workspace>> {
        self.read((), |db, ()| {
            Box::pin(async move {
                let sql =
                    format!("SELECT {WORKSPACE_COLUMNS} FROM workspaces ORDER BY created_at, id");
                db.fetch_map(&sql, args![], workspace).await
            })
        })
        .await
    }

    async fn delete_workspace(&self, id: &WorkspaceId) -> Result<bool> {
        self.write(id.clone(), |db, id| Box::pin(delete_workspace(db, id)))
            .await
    }

    async fn insert_api_key(&self, key: &NewApiKey, now: Millis) -> Result<()> {
        self.write((key.clone(), now), |db, (k, now)| {
            Box::pin(async move {
                let inserted = db
                    .execute(
                        "INSERT INTO api_keys (id, workspace_id, name, prefix, hash, created_at, \
                         scopes, expires_at, daily_quota, max_concurrent, rate_per_minute) \
                         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
                        args![
                            &k.id,
                            &k.workspace_id,
                            &k.name,
                            &k.prefix,
                            &k.hash,
                            *now,
                            k.scopes.to_text(),
                            k.expires_at,
                            k.limits.daily_quota,
                            k.limits.max_concurrent,
                            k.limits.rate_per_minute
                        ],
                    )
                    .await;
                match inserted {
                    Ok(_) => Ok(()),
                    Err(e) => Err(match e.constraint() {
                        Some(Constraint::ForeignKey) => {
                            StoreError::Conflict(format!("no workspace {}", k.workspace_id))
                        }
                        Some(Constraint::Unique) if e.is_unique_on("api_keys", "id") => {
                            StoreError::Conflict(format!("an API key {} exists", k.id))
                        }
                        Some(Constraint::Unique) => {
                            StoreError::Conflict("another API key has that hash".into())
                        }
                        _ => e,
                    }),
                }
            })
        })
        .await
    }

    async fn find_api_key(&self, hash: &str, now: Millis) -> Result<Option<ApiKey>> {
        self.lookup((hash.to_string(), now), |db, (hash, now)| {
            Box::pin(async move {
                let sql = format!(
                    "SELECT {KEY_COLUMNS} FROM api_keys k JOIN workspaces w ON w.id = k.workspace_id \
                     WHERE k.hash = $1 AND k.revoked_at IS NULL \
                     AND (k.expires_at IS NULL OR k.expires_at > $2) AND w.disabled_at IS NULL"
                );
                db.fetch_one_map(&sql, args![hash, *now], api_key).await
            })
        })
        .await
    }

    async fn get_api_key(&self, id: &str) -> Result<Option<ApiKey>> {
        self.lookup(id.to_string(), |db, id| {
            Box::pin(async move {
                let sql = format!("SELECT {KEY_COLUMNS} FROM api_keys k WHERE k.id = $1");
                db.fetch_one_map(&sql, args![id], api_key).await
            })
        })
        .await
    }

    async fn list_api_keys(&self, workspace_id: &WorkspaceId) -> Result<Vec<ApiKey>> {
        self.read(workspace_id.to_string(), |db, ws| {
            Box::pin(async move {
                let sql = format!(
                    "SELECT {KEY_COLUMNS} FROM api_keys k WHERE k.workspace_id = $1 \
                     ORDER BY k.created_at, k.id"
                );
                db.fetch_map(&sql, args![ws], api_key).await
            })
        })
        .await
    }

    async fn update_api_key(&self, key: &ApiKey) -> Result<bool> {
        self.write(key.clone(), |db, k| {
            Box::pin(async move {
                let n = db
                    .execute(
                        "UPDATE api_keys SET name = $2, scopes = $3, expires_at = $4, \
                         revoked_at = $5, daily_quota = $6, max_concurrent = $7, \
                         rate_per_minute = $8 WHERE id = $1",
                        args![
                            &k.id,
                            &k.name,
                            k.scopes.to_text(),
                            k.expires_at,
                            k.revoked_at,
                            k.limits.daily_quota,
                            k.limits.max_concurrent,
                            k.limits.rate_per_minute
                        ],
                    )
                    .await?;
                Ok(n > 0)
            })
        })
        .await
    }

    async fn touch_api_key(&self, id: &str, now: Millis) -> Result<()> {
        self.write((id.to_string(), now), |db, (id, now)| {
            Box::pin(async move {
                db.execute(
                    "UPDATE api_keys SET last_used_at = $2 WHERE id = $1 \
                     AND (last_used_at IS NULL OR last_used_at < $2 - $3)",
                    args![id, *now, TOUCH_INTERVAL_MS],
                )
                .await?;
                Ok(())
            })
        })
        .await
    }

    async fn count_api_keys(&self, workspace_id: &WorkspaceId) -> Result<i64> {
        self.read(workspace_id.to_string(), |db, ws| {
            Box::pin(db.scalar(
                "SELECT count(*) FROM api_keys WHERE workspace_id = $1 AND revoked_at IS NULL",
                args![ws],
            ))
        })
        .await
    }

    async fn upsert_channel(&self, channel: &Channel, now: Millis) -> Result<()> {
        self.write((channel.clone(), now), |db, (ch, now)| {
            Box::pin(save_channel(db, ch, *now))
        })
        .await
    }

    async fn get_channel(&self, id: &ChannelId) -> Result<Option<Channel>> {
        self.lookup(id.to_string(), |db, id| {
            Box::pin(async move {
                let sql = format!("SELECT {CHANNEL_COLUMNS} FROM channels WHERE id = $1");
                db.fetch_one_map(&sql, args![id], channel).await
            })
        })
        .await
    }

    async fn list_channels(&self, workspace_id: &WorkspaceId) -> Result<Vec<Channel>> {
        self.read(workspace_id.to_string(), |db, ws| {
            Box::pin(async move {
                let sql = format!(
                    "SELECT {CHANNEL_COLUMNS} FROM channels WHERE workspace_id = $1 \
                     ORDER BY created_at, id"
                );
                db.fetch_map(&sql, args![ws], channel).await
            })
        })
        .await
    }

    async fn delete_channel(&self, id: &ChannelId) -> Result<bool> {
        self.write(id.clone(), |db, id| Box::pin(delete_channel(db, id)))
            .await
    }

    async fn find_channel(
        &self,
        workspace_id: &WorkspaceId,
        id_or_number: &str,
    ) -> Result<Option<Channel>> {
        let key = id_or_number.trim_start_matches('+').to_string();
        self.lookup((workspace_id.to_string(), key), |db, (ws, key)| {
            Box::pin(async move {
                let sql = format!(
                    "SELECT {CHANNEL_COLUMNS} FROM channels WHERE workspace_id = $1 \
                     AND (id = $2 OR display_phone_number = $2) ORDER BY (id = $2) DESC LIMIT 1"
                );
                db.fetch_one_map(&sql, args![ws, key], channel).await
            })
        })
        .await
    }

    async fn default_channel(&self, workspace_id: &WorkspaceId) -> Result<Option<Channel>> {
        self.lookup(workspace_id.to_string(), |db, ws| {
            Box::pin(async move {
                let sql = format!(
                    "SELECT {CHANNEL_COLUMNS} FROM channels WHERE workspace_id = $1 AND is_default \
                     ORDER BY created_at LIMIT 1"
                );
                db.fetch_one_map(&sql, args![ws], channel).await
            })
        })
        .await
    }

    async fn all_channels(&self) -> Result<Vec<Channel>> {
        self.read((), |db, ()| {
            Box::pin(async move {
                let sql = format!("SELECT {CHANNEL_COLUMNS} FROM channels ORDER BY created_at");
                db.fetch_map(&sql, args![], channel).await
            })
        })
        .await
    }
}
