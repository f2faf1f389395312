//! Logging in: check the throttle, verify the password (against a dummy hash when there is no
//! such user, so the answer takes as long), and mint a session token stored only as its hash.

use chasqui_domain::WorkspaceId;
use chasqui_store::{Millis, NewSession, Store, StoreError, ThrottlePolicy};

use super::password::{PasswordError, PasswordHasher};
use crate::config::UsersConfig;
use crate::ids;

/// A successful login. The token is shown once, here; the store keeps only its hash.
#[derive(Clone)]
pub struct LoginSession {
    /// The session's id (`ses_…`), which authenticated requests carry as their principal id.
    pub id: String,
    /// The bearer token (`chs_…`).
    pub token: String,
    /// When the token stops working.
    pub expires_at: Millis,
    /// The user's workspace.
    pub workspace_id: WorkspaceId,
    /// The user.
    pub user_id: String,
}

// The token stays out of debug output so it cannot reach a log.
impl std::fmt::Debug for LoginSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoginSession")
            .field("id", &self.id)
            .field("expires_at", &self.expires_at)
            .field("workspace_id", &self.workspace_id)
            .field("user_id", &self.user_id)
            .finish_non_exhaustive()
    }
}

/// Why a login failed.
#[derive(Debug, thiserror::Error)]
pub enum LoginError {
    /// Unknown user, wrong password or disabled user: one answer for all, so it does not say
    /// which names exist.
    #[error("the username or password is not valid")]
    InvalidCredentials,
    /// Too many failed logins for this username; try again after this many seconds.
    #[error("too many failed logins for this username; try again in {retry_after_secs} s")]
    Throttled {
        /// Seconds until the lock ends.
        retry_after_secs: u64,
    },
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Hashing could not run.
    #[error(transparent)]
    Password(#[from] PasswordError),
}

/// The user service: password hashing plus the session and throttle settings.
#[derive(Clone)]
pub struct Users {
    hasher: PasswordHasher,
    session_ttl_ms: i64,
    policy: ThrottlePolicy,
}

fn secs_to_ms(secs: u64) -> i64 {
    i64::try_from(secs.saturating_mul(1_000)).unwrap_or(i64::MAX / 2)
}

impl Users {
    /// The service configured by `[users]`.
    pub fn new(cfg: &UsersConfig) -> Result<Self, PasswordError> {
        Ok(Self {
            hasher: PasswordHasher::new(cfg.argon2_memory_kib, cfg.argon2_iterations)?,
            session_ttl_ms: secs_to_ms(cfg.session_ttl_secs),
            policy: ThrottlePolicy {
                max_failures: i64::from(cfg.max_failed_logins),
                window_ms: secs_to_ms(cfg.failure_window_secs),
                lockout_ms: secs_to_ms(cfg.lockout_secs),
            },
        })
    }

    /// The password hasher (for creating users and changing passwords).
    pub fn hasher(&self) -> &PasswordHasher {
        &self.hasher
    }

    /// Checks `username` and `password` and opens a session.
    pub async fn login(
        &self,
        store: &dyn Store,
        username: &str,
        password: &str,
        now: Millis,
    ) -> Result<LoginSession, LoginError> {
        // A name no user can have is still checked against the dummy hash (same time), but it
        // gets no throttle row, so garbage names cannot grow the table.
        let name = super::check_username(username).ok();
        if let Some(name) = &name {
            if let Some(until) = store.login_locked_until(name, now).await? {
                return Err(throttled(until, now));
            }
        }
        let user = match &name {
            Some(name) => store.find_user_by_username(name).await?,
            None => None,
        };
        let matched = self
            .hasher
            .verify(password, user.as_ref().map(|u| u.password_hash.as_str()))
            .await?;
        let user = match user {
            Some(u) if matched && u.disabled_at.is_none() => u,
            _ => {
                if let Some(name) = &name {
                    store.record_login_failure(name, now, &self.policy).await?;
                }
                return Err(LoginError::InvalidCredentials);
            }
        };
        store.clear_login_failures(&user.username).await?;
        let token = ids::session_token();
        let session = NewSession {
            id: ids::prefixed("ses_"),
            token_hash: ids::sha256_hex(token.as_bytes()),
            user_id: user.id.clone(),
            workspace_id: user.workspace_id.clone(),
            scopes: user.scopes.clone(),
            expires_at: now.saturating_add(self.session_ttl_ms),
        };
        store.insert_session(&session, now).await?;
        tracing::info!(user_id = %user.id, session_id = %session.id, "user logged in");
        Ok(LoginSession {
            id: session.id,
            token,
            expires_at: session.expires_at,
            workspace_id: session.workspace_id,
            user_id: session.user_id,
        })
    }

    /// Deletes ended sessions and stale throttle rows (see `UserStore::purge_logins`).
    pub async fn purge(&self, store: &dyn Store, now: Millis) -> Result<u64, StoreError> {
        store.purge_logins(now, self.policy.window_ms).await
    }

    /// Runs [`purge`](Self::purge) now and then every `every` until aborted.
    pub fn spawn_purge(
        &self,
        store: std::sync::Arc<dyn Store>,
        every: std::time::Duration,
    ) -> tokio::task::JoinHandle<()> {
        let users = self.clone();
        tokio::spawn(async move {
            loop {
                match users.purge(store.as_ref(), crate::clock::now_ms()).await {
                    Ok(n) if n > 0 => tracing::debug!(rows = n, "purged ended logins"),
                    Ok(_) => {}
                    Err(e) => tracing::warn!(error = %e, "purging ended logins failed"),
                }
                tokio::time::sleep(every).await;
            }
        })
    }

    /// Ends the session `session_id`; `false` when it was already over.
    pub async fn logout(
        &self,
        store: &dyn Store,
        session_id: &str,
        now: Millis,
    ) -> Result<bool, StoreError> {
        store.revoke_session(session_id, now).await
    }
}

fn throttled(until: Millis, now: Millis) -> LoginError {
    // Whole seconds, rounded up, so a client that waits exactly this long is let in.
    let ms = u64::try_from(until.saturating_sub(now)).unwrap_or(0);
    LoginError::Throttled {
        retry_after_secs: ms.div_ceil(1_000).max(1),
    }
}
