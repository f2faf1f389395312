//! Users who log in with a username and password, their sessions, and the failed-login throttle.
//!
//! Usernames are kept lower-cased (the store lower-cases what it is given), so they are unique
//! regardless of case across all workspaces, and the throttle counts failures for a name whether
//! or not a user has it.

use async_trait::async_trait;
use chasqui_domain::WorkspaceId;

use crate::error::Constraint;
use crate::sql::{args, Db, Row, Sql};
use crate::{Millis, Result, StoreError};

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
    pub workspace_id: WorkspaceId,
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
    pub workspace_id: WorkspaceId,
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
    pub workspace_id: WorkspaceId,
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
    pub workspace_id: WorkspaceId,
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
    async fn get_user(&self, workspace_id: Option<&WorkspaceId>, id: &str) -> Result<Option<User>>;
    /// The user with `username` (any case), in any workspace.
    async fn find_user_by_username(&self, username: &str) -> Result<Option<User>>;
    /// A workspace's users, by username.
    async fn list_users(&self, workspace_id: &WorkspaceId) -> Result<Vec<User>>;
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

/// The upsert that counts one failure: `$1` username, `$2` now, `$3` max failures, `$4` window,
/// `$5` lockout. Reaching the limit locks the name and starts a fresh count, so after a lockout a
/// user gets the full number of tries.
fn failure_upsert() -> String {
    let running = "login_throttle.window_start + $4 > $2";
    let count = format!("(CASE WHEN {running} THEN login_throttle.failures + 1 ELSE 1 END)");
    format!(
        "INSERT INTO login_throttle (username, failures, window_start, locked_until) \
         VALUES ($1, CASE WHEN 1 >= $3 THEN 0 ELSE 1 END, $2, \
         CASE WHEN 1 >= $3 THEN $2 + $5 ELSE 0 END) \
         ON CONFLICT (username) DO UPDATE SET \
         failures = CASE WHEN {count} >= $3 THEN 0 ELSE {count} END, \
         window_start = CASE WHEN {count} >= $3 OR NOT ({running}) THEN $2 \
         ELSE login_throttle.window_start END, \
         locked_until = CASE WHEN {count} >= $3 THEN $2 + $5 \
         ELSE login_throttle.locked_until END \
         RETURNING locked_until"
    )
}

fn user(r: &mut Row) -> Result<User> {
    Ok(User {
        id: r.get()?,
        workspace_id: r.get()?,
        username: r.get()?,
        password_hash: r.get()?,
        scopes: r.get()?,
        disabled_at: r.get()?,
        created_at: r.get()?,
        updated_at: r.get()?,
        last_login_at: r.get()?,
    })
}

fn session(r: &mut Row) -> Result<UserSession> {
    Ok(UserSession {
        id: r.get()?,
        user_id: r.get()?,
        workspace_id: r.get()?,
        scopes: r.get()?,
        expires_at: r.get()?,
        created_at: r.get()?,
    })
}

async fn load_user(db: &mut dyn Db, ws: Option<&str>, id: &str) -> Result<Option<User>> {
    let sql = format!(
        "SELECT {USER_COLUMNS} FROM users WHERE id = $1 AND ($2 IS NULL OR workspace_id = $2)"
    );
    db.fetch_one_map(&sql, args![id, ws], user).await
}

async fn revoke_all(db: &mut dyn Db, user_id: &str, now: Millis) -> Result<u64> {
    db.execute(
        "UPDATE sessions SET revoked_at = $2 WHERE user_id = $1 AND revoked_at IS NULL",
        args![user_id, now],
    )
    .await
}

async fn create_user(db: &mut dyn Db, u: &NewUser, now: Millis) -> Result<User> {
    let username = normalize_username(&u.username);
    let inserted = db
        .execute(
            "INSERT INTO users (id, workspace_id, username, password_hash, scopes, created_at, \
             updated_at) VALUES ($1, $2, $3, $4, $5, $6, $6)",
            args![
                &u.id,
                &u.workspace_id,
                &username,
                &u.password_hash,
                &u.scopes,
                now
            ],
        )
        .await;
    match inserted {
        Ok(_) => {}
        Err(e) => {
            return Err(match e.constraint() {
                Some(Constraint::Unique) if e.is_unique_on("users", "id") => {
                    StoreError::Conflict(format!("the user id {} is taken", u.id))
                }
                Some(Constraint::Unique) => {
                    StoreError::Conflict(format!("the username {username} is taken"))
                }
                Some(Constraint::ForeignKey) => {
                    StoreError::Conflict(format!("no workspace {}", u.workspace_id))
                }
                _ => e,
            })
        }
    }
    load_user(db, None, &u.id)
        .await?
        .ok_or_else(|| StoreError::Corrupt(format!("user {} vanished", u.id)))
}

async fn update_user(
    db: &mut dyn Db,
    id: &str,
    p: &UserPatch,
    now: Millis,
) -> Result<Option<User>> {
    // `disabled`: NULL keeps, true disables (keeping an earlier time), false enables.
    let n = db
        .execute(
            "UPDATE users SET password_hash = COALESCE($2, password_hash), \
             scopes = COALESCE($3, scopes), \
             disabled_at = CASE WHEN $4 IS NULL THEN disabled_at \
             WHEN $4 THEN COALESCE(disabled_at, $5) ELSE NULL END, \
             updated_at = $5 WHERE id = $1",
            args![id, &p.password_hash, &p.scopes, p.disabled, now],
        )
        .await?;
    if n == 0 {
        return Ok(None);
    }
    if p.ends_sessions() {
        revoke_all(db, id, now).await?;
    }
    load_user(db, None, id).await
}

async fn delete_user(db: &mut dyn Db, id: &str) -> Result<bool> {
    let n = db
        .execute("DELETE FROM users WHERE id = $1", args![id])
        .await?;
    db.execute("DELETE FROM sessions WHERE user_id = $1", args![id])
        .await?;
    Ok(n > 0)
}

async fn insert_session(db: &mut dyn Db, s: &NewSession, now: Millis) -> Result<()> {
    db.execute(
        "INSERT INTO sessions (id, token_hash, user_id, workspace_id, scopes, expires_at, \
         created_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
        args![
            &s.id,
            &s.token_hash,
            &s.user_id,
            &s.workspace_id,
            &s.scopes,
            s.expires_at,
            now
        ],
    )
    .await?;
    db.execute(
        "UPDATE users SET last_login_at = $2 WHERE id = $1",
        args![&s.user_id, now],
    )
    .await?;
    Ok(())
}

async fn purge_logins(db: &mut dyn Db, now: Millis, window_ms: i64) -> Result<u64> {
    let sessions = db
        .execute(
            "DELETE FROM sessions WHERE expires_at <= $1 OR revoked_at IS NOT NULL",
            args![now],
        )
        .await?;
    let throttle = db
        .execute(
            "DELETE FROM login_throttle WHERE locked_until <= $1 AND window_start + $2 <= $1",
            args![now, window_ms],
        )
        .await?;
    Ok(sessions + throttle)
}

#[async_trait]
impl<B: Sql> UserStore for B {
    async fn create_user(&self, user: &NewUser, now: Millis) -> Result<User> {
        self.write((user.clone(), now), |db, (u, now)| {
            Box::pin(create_user(db, u, *now))
        })
        .await
    }

    async fn get_user(&self, workspace_id: Option<&WorkspaceId>, id: &str) -> Result<Option<User>> {
        let state = (workspace_id.cloned(), id.to_string());
        self.lookup(state, |db, (ws, id)| {
            Box::pin(load_user(db, ws.as_deref(), id))
        })
        .await
    }

    async fn find_user_by_username(&self, username: &str) -> Result<Option<User>> {
        self.lookup(normalize_username(username), |db, name| {
            Box::pin(async move {
                let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE username = $1");
                db.fetch_one_map(&sql, args![name], user).await
            })
        })
        .await
    }

    async fn list_users(&self, workspace_id: &WorkspaceId) -> Result<Vec<User>> {
        self.read(workspace_id.to_string(), |db, ws| {
            Box::pin(async move {
                let sql = format!(
                    "SELECT {USER_COLUMNS} FROM users WHERE workspace_id = $1 ORDER BY username"
                );
                db.fetch_map(&sql, args![ws], user).await
            })
        })
        .await
    }

    async fn update_user(&self, id: &str, patch: &UserPatch, now: Millis) -> Result<Option<User>> {
        self.write((id.to_string(), patch.clone(), now), |db, (id, p, now)| {
            Box::pin(update_user(db, id, p, *now))
        })
        .await
    }

    async fn delete_user(&self, id: &str) -> Result<bool> {
        self.write(id.to_string(), |db, id| Box::pin(delete_user(db, id)))
            .await
    }

    async fn insert_session(&self, session: &NewSession, now: Millis) -> Result<()> {
        self.write((session.clone(), now), |db, (s, now)| {
            Box::pin(insert_session(db, s, *now))
        })
        .await
    }

    async fn find_session(&self, token_hash: &str, now: Millis) -> Result<Option<UserSession>> {
        self.lookup((token_hash.to_string(), now), |db, (hash, now)| {
            Box::pin(db.fetch_one_map(
                "SELECT s.id, s.user_id, s.workspace_id, s.scopes, s.expires_at, s.created_at \
                 FROM sessions s JOIN users u ON u.id = s.user_id \
                 JOIN workspaces w ON w.id = s.workspace_id \
                 WHERE s.token_hash = $1 AND s.revoked_at IS NULL AND s.expires_at > $2 \
                 AND u.disabled_at IS NULL AND w.disabled_at IS NULL",
                args![hash, *now],
                session,
            ))
        })
        .await
    }

    async fn revoke_session(&self, id: &str, now: Millis) -> Result<bool> {
        self.write((id.to_string(), now), |db, (id, now)| {
            Box::pin(async move {
                let n = db
                    .execute(
                        "UPDATE sessions SET revoked_at = $2 WHERE id = $1 AND revoked_at IS NULL",
                        args![id, *now],
                    )
                    .await?;
                Ok(n > 0)
            })
        })
        .await
    }

    async fn revoke_user_sessions(&self, user_id: &str, now: Millis) -> Result<u64> {
        self.write((user_id.to_string(), now), |db, (id, now)| {
            Box::pin(revoke_all(db, id, *now))
        })
        .await
    }

    async fn record_login_failure(
        &self,
        username: &str,
        now: Millis,
        policy: &ThrottlePolicy,
    ) -> Result<Option<Millis>> {
        let state = (normalize_username(username), now, *policy);
        self.write(state, |db, (name, now, p)| {
            Box::pin(async move {
                let args = args![name, *now, p.max_failures, p.window_ms, p.lockout_ms];
                let locked_until: Millis = db.scalar(&failure_upsert(), args).await?;
                Ok((locked_until > *now).then_some(locked_until))
            })
        })
        .await
    }

    async fn clear_login_failures(&self, username: &str) -> Result<()> {
        self.write(normalize_username(username), |db, name| {
            Box::pin(async move {
                db.execute(
                    "DELETE FROM login_throttle WHERE username = $1",
                    args![name],
                )
                .await?;
                Ok(())
            })
        })
        .await
    }

    async fn login_locked_until(&self, username: &str, now: Millis) -> Result<Option<Millis>> {
        self.lookup((normalize_username(username), now), |db, (name, now)| {
            Box::pin(async move {
                let row = db
                    .fetch_optional(
                        "SELECT locked_until FROM login_throttle \
                         WHERE username = $1 AND locked_until > $2",
                        args![name, *now],
                    )
                    .await?;
                row.map(|mut r| r.get()).transpose()
            })
        })
        .await
    }

    async fn purge_logins(&self, now: Millis, window_ms: i64) -> Result<u64> {
        self.write((now, window_ms), |db, (now, window)| {
            Box::pin(purge_logins(db, *now, *window))
        })
        .await
    }
}
