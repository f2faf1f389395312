//! Workspaces, their API keys and their channels: who may use Chasqui and through which numbers.

use async_trait::async_trait;

use crate::{ApiKey, Channel, Millis, NewApiKey, Result, Workspace};

/// Persistence of tenants, credentials and channels.
#[async_trait]
pub trait TenancyStore: Send + Sync {
    /// The workspace with `id`, created with `name` if missing.
    async fn ensure_workspace(&self, id: &str, name: &str, now: Millis) -> Result<Workspace>;
    /// Creates the workspace or updates its settings (matched by id).
    async fn save_workspace(&self, ws: &Workspace) -> Result<()>;
    /// One workspace.
    async fn get_workspace(&self, id: &str) -> Result<Option<Workspace>>;
    /// Every workspace, oldest first.
    async fn list_workspaces(&self) -> Result<Vec<Workspace>>;
    /// Deletes a workspace and its keys; `Conflict` while it still has channels.
    async fn delete_workspace(&self, id: &str) -> Result<bool>;

    /// Stores a new API key (its hash only).
    async fn insert_api_key(&self, key: &NewApiKey, now: Millis) -> Result<()>;
    /// The usable key whose SHA-256 hash is `hash`: not revoked, not expired at `now`, and of an
    /// enabled workspace.
    async fn find_api_key(&self, hash: &str, now: Millis) -> Result<Option<ApiKey>>;
    /// One key by id, whatever its state.
    async fn get_api_key(&self, id: &str) -> Result<Option<ApiKey>>;
    /// A workspace's keys, oldest first.
    async fn list_api_keys(&self, workspace_id: &str) -> Result<Vec<ApiKey>>;
    /// Writes a key's name, scopes, expiry, revocation and limits; false when it does not exist.
    async fn update_api_key(&self, key: &ApiKey) -> Result<bool>;
    /// Records that a key was used at `now` (skipped when recorded within the last minute).
    async fn touch_api_key(&self, id: &str, now: Millis) -> Result<()>;
    /// Number of live API keys of a workspace.
    async fn count_api_keys(&self, workspace_id: &str) -> Result<i64>;

    /// Creates the channel or updates its settings (matched by id). A default channel makes the
    /// workspace's other channels non-default. `Conflict` when another channel has its
    /// phone number id.
    async fn upsert_channel(&self, channel: &Channel, now: Millis) -> Result<()>;
    /// One channel by id.
    async fn get_channel(&self, id: &str) -> Result<Option<Channel>>;
    /// A workspace's channels, oldest first.
    async fn list_channels(&self, workspace_id: &str) -> Result<Vec<Channel>>;
    /// Deletes a channel; `Conflict` while it has messages waiting to be sent.
    async fn delete_channel(&self, id: &str) -> Result<bool>;
    /// A workspace's channel by id or by sender number (`display_phone_number`, digits).
    async fn find_channel(&self, workspace_id: &str, id_or_number: &str)
        -> Result<Option<Channel>>;
    /// A workspace's default channel.
    async fn default_channel(&self, workspace_id: &str) -> Result<Option<Channel>>;
    /// Every channel (for webhook verification and routing).
    async fn all_channels(&self) -> Result<Vec<Channel>>;
}

/// How often a key's `last_used_at` is written at most: once a minute is enough to see which
/// keys are in use, without a write per request.
pub const TOUCH_INTERVAL_MS: Millis = 60_000;

/// Why a channel cannot be deleted yet.
pub(crate) const CHANNEL_BUSY: &str = "the channel still has messages waiting to be sent";
/// Why a workspace cannot be deleted yet.
pub(crate) const WORKSPACE_BUSY: &str = "the workspace still has channels: delete them first";
/// Why a channel cannot be saved.
pub(crate) const PHONE_NUMBER_ID_TAKEN: &str = "another channel already has that phone_number_id";
