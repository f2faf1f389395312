//! Users who log in with a username and password, their sessions, and the failed-login throttle.
//!
//! Usernames are kept lower-cased (the store lower-cases what it is given), so they are unique
//! regardless of case across all workspaces, and the throttle counts failures for a name whether
//! or not a user has it.

use async_trait::async_trait;

use crate::{Millis, Result};

/// Columns read back as a [`User`], in its field order.
pub(crate) const USER_COLUMNS: &str =
    "id, workspace_id, username, password_hash, scopes, disabled_at, created_at, updated_at, \
     last_login_at";

/// The form a username is stored and looked up in.
pub fn normalize_username(username: &str) -> String {
    username.trim().to_lowercase()
}

/// A user to create.
#[derive(Clone, PartialEq, Eq)]
pub struct NewUser {
    /// Chasqui's id (`usr_…`).
    pub id: String,
    /// Owning workspace.
    pub workspace_id: String,
    /// Login name (lower-cased by the store).
    pub username: String,
    /// The password's PHC hash string.
    pub password_hash: String,
    /// Space-separated scopes.
    pub scopes: String,
}

/// A stored user.
#[derive(Clone, PartialEq, Eq)]
pub struct User {
    /// Chasqui's id (`usr_…`).
    pub id: String,
    /// Owning workspace.
    pub workspace_id: String,
    /// Login name, lower-cased.
    pub username: String,
    /// The password's PHC hash string (never shown to anyone).
    pub password_hash: String,
    /// Space-separated scopes.
    pub scopes: String,
    /// When the user was disabled; `None` while active.
    pub disabled_at: Option<Millis>,
    /// Creation time.
    pub created_at: Millis,
    /// Last change.
    pub updated_at: Millis,
    /// Last successful login.
    pub last_login_at: Option<Millis>,
}

// Password hashes stay out of debug output so they cannot end up in a log by accident.
impl std::fmt::Debug for NewUser {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewUser")
            .field("id", &self.id)
            .field("workspace_id", &self.workspace_id)
            .field("username", &self.username)
            .field("scopes", &self.scopes)
            .finish_non_exhaustive()
    }
}

impl std::fmt::Debug for UserPatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UserPatch")
            .field(
                "password_hash",
                &self.password_hash.as_ref().map(|_| "<redacted>"),
            )
            .field("scopes", &self.scopes)
            .field("disabled", &self.disabled)
            .finish()
    }
}

impl std::fmt::Debug for User {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("User")
            .field("id", &self.id)
            .field("workspace_id", &self.workspace_id)
            .field("username", &self.username)
            .field("scopes", &self.scopes)
            .field("disabled_at", &self.disabled_at)
            .finish_non_exhaustive()
    }
}

/// Changes to a user; `None` keeps the stored value.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct UserPatch {
    /// A new password hash.
    pub password_hash: Option<String>,
    /// New space-separated scopes.
    pub scopes: Option<String>,
    /// Disable (`true`) or enable (`false`).
    pub disabled: Option<bool>,
}

impl UserPatch {
    /// Whether the change must end the user's sessions: a new password, new scopes or disabling
    /// all take effect on the next request, not when old tokens expire.
    pub fn ends_sessions(&self) -> bool {
        self.password_hash.is_some() || self.scopes.is_some() || self.disabled == Some(true)
    }
}

/// A login session to store: only the SHA-256 hash of its token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewSession {
    /// Chasqui's id (`ses_…`).
    pub id: String,
    /// Lower-case hex SHA-256 of the bearer token.
    pub token_hash: String,
    /// The user who logged in.
    pub user_id: String,
    /// The user's workspace.
    pub workspace_id: String,
    /// Space-separated scopes granted.
    pub scopes: String,
    /// When the token stops working.
    pub expires_at: Millis,
}

/// A live session, as found by its token hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserSession {
    /// Chasqui's id (`ses_…`).
    pub id: String,
    /// The user who logged in.
    pub user_id: String,
    /// The user's workspace.
    pub workspace_id: String,
    /// Space-separated scopes granted.
    pub scopes: String,
    /// When the token stops working.
    pub expires_at: Millis,
    /// Login time.
    pub created_at: Millis,
}

/// How failed logins lock a username.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ThrottlePolicy {
    /// Failures within `window_ms` that lock the name.
    pub max_failures: i64,
    /// How long failures are counted together.
    pub window_ms: i64,
    /// How long a locked name stays locked.
    pub lockout_ms: i64,
}

/// Reads and writes users, sessions and the login throttle.
#[async_trait]
pub trait UserStore: Send + Sync {
    /// Creates a user; `StoreError::Conflict` when the username is taken (in any workspace).
    async fn create_user(&self, user: &NewUser, now: Millis) -> Result<User>;
    /// A user by id, within `workspace_id` when given.
    async fn get_user(&self, workspace_id: Option<&str>, id: &str) -> Result<Option<User>>;
    /// The user with `username` (any case), in any workspace.
    async fn find_user_by_username(&self, username: &str) -> Result<Option<User>>;
    /// A workspace's users, by username.
    async fn list_users(&self, workspace_id: &str) -> Result<Vec<User>>;
    /// Applies `patch`; answers the changed user, or `None` when there is no such user. A patch
    /// that [ends sessions](UserPatch::ends_sessions) revokes the user's sessions in the same
    /// transaction.
    async fn update_user(&self, id: &str, patch: &UserPatch, now: Millis) -> Result<Option<User>>;
    /// Deletes a user and its sessions; `false` when there was none.
    async fn delete_user(&self, id: &str) -> Result<bool>;

    /// Stores a session and records the login time on its user.
    async fn insert_session(&self, session: &NewSession, now: Millis) -> Result<()>;
    /// The session whose token hashes to `token_hash`, if it is live at `now`: not expired, not
    /// revoked, its user still exists and is enabled, and its workspace is enabled.
    async fn find_session(&self, token_hash: &str, now: Millis) -> Result<Option<UserSession>>;
    /// Revokes one session; `false` when it was unknown or already revoked.
    async fn revoke_session(&self, id: &str, now: Millis) -> Result<bool>;
    /// Revokes every live session of a user; answers how many.
    async fn revoke_user_sessions(&self, user_id: &str, now: Millis) -> Result<u64>;

    /// Counts a failed login for `username` (any case, existing or not) under `policy`, in one
    /// atomic step so concurrent attempts all count; answers the time the name is locked
    /// until when this failure locked it.
    async fn record_login_failure(
        &self,
        username: &str,
        now: Millis,
        policy: &ThrottlePolicy,
    ) -> Result<Option<Millis>>;
    /// Forgets the failures of `username` (after a successful login).
    async fn clear_login_failures(&self, username: &str) -> Result<()>;
    /// Until when `username` is locked, if it is at `now`.
    async fn login_locked_until(&self, username: &str, now: Millis) -> Result<Option<Millis>>;

    /// Deletes what no longer matters at `now`: sessions that expired or were revoked, and
    /// throttle rows that are neither locked nor counting (their failures are older than
    /// `window_ms`); answers how many rows went. Failed logins for names nobody has would
    /// otherwise pile up for ever.
    async fn purge_logins(&self, now: Millis, window_ms: i64) -> Result<u64>;
}

/// The upsert that counts one failure: `?1`/`$1` username, `2` now, `3` max failures,
/// `4` window, `5` lockout (both back ends number their parameters). Reaching the limit locks
/// the name and starts a fresh count, so after a lockout a user gets the full number of tries.
pub(crate) fn failure_upsert(param: char) -> String {
    let p = |n: u8| format!("{param}{n}");
    let (name, now, max, window, lockout) = (p(1), p(2), p(3), p(4), p(5));
    let running = format!("login_throttle.window_start + {window} > {now}");
    let count = format!("(CASE WHEN {running} THEN login_throttle.failures + 1 ELSE 1 END)");
    format!(
        "INSERT INTO login_throttle (username, failures, window_start, locked_until) \
         VALUES ({name}, CASE WHEN 1 >= {max} THEN 0 ELSE 1 END, {now}, \
         CASE WHEN 1 >= {max} THEN {now} + {lockout} ELSE 0 END) \
         ON CONFLICT (username) DO UPDATE SET \
         failures = CASE WHEN {count} >= {max} THEN 0 ELSE {count} END, \
         window_start = CASE WHEN {count} >= {max} OR NOT ({running}) THEN {now} \
         ELSE login_throttle.window_start END, \
         locked_until = CASE WHEN {count} >= {max} THEN {now} + {lockout} \
         ELSE login_throttle.locked_until END \
         RETURNING locked_until"
    )
}
