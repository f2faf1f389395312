//! Users, sessions and the login throttle on SQLite.

use async_trait::async_trait;
use rusqlite::{params, Connection, OptionalExtension, Row};

use super::SqliteStore;
use crate::users::{failure_upsert, normalize_username, USER_COLUMNS};
use crate::{
    Millis, NewSession, NewUser, Result, StoreError, ThrottlePolicy, User, UserPatch, UserSession,
    UserStore,
};

fn user_from_row(r: &Row<'_>) -> rusqlite::Result<User> {
    Ok(User {
        id: r.get(0)?,
        workspace_id: r.get(1)?,
        username: r.get(2)?,
        password_hash: r.get(3)?,
        scopes: r.get(4)?,
        disabled_at: r.get(5)?,
        created_at: r.get(6)?,
        updated_at: r.get(7)?,
        last_login_at: r.get(8)?,
    })
}

fn load_user(conn: &Connection, ws: Option<&str>, id: &str) -> Result<Option<User>> {
    let sql = format!(
        "SELECT {USER_COLUMNS} FROM users WHERE id = ?1 AND (?2 IS NULL OR workspace_id = ?2)"
    );
    Ok(conn
        .prepare_cached(&sql)?
        .query_row(params![id, ws], user_from_row)
        .optional()?)
}

fn revoke_all(conn: &Connection, user_id: &str, now: Millis) -> Result<u64> {
    let n = conn
        .prepare_cached(
            "UPDATE sessions SET revoked_at = ?2 WHERE user_id = ?1 AND revoked_at IS NULL",
        )?
        .execute(params![user_id, now])?;
    Ok(n as u64)
}

fn is_unique_violation(e: &rusqlite::Error) -> bool {
    matches!(e, rusqlite::Error::SqliteFailure(f, _)
        if f.code == rusqlite::ErrorCode::ConstraintViolation)
}

#[async_trait]
impl UserStore for SqliteStore {
    async fn create_user(&self, user: &NewUser, now: Millis) -> Result<User> {
        let mut u = user.clone();
        u.username = normalize_username(&u.username);
        self.rt
            .write(move |c| {
                let inserted = c
                    .prepare_cached(
                        "INSERT INTO users (id, workspace_id, username, password_hash, scopes, \
                         created_at, updated_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6)",
                    )?
                    .execute(params![
                        u.id,
                        u.workspace_id,
                        u.username,
                        u.password_hash,
                        u.scopes,
                        now
                    ]);
                match inserted {
                    Ok(_) => {}
                    Err(e) if is_unique_violation(&e) => {
                        // A missing workspace is a foreign-key failure, also a constraint.
                        let taken: bool = c
                            .prepare_cached(
                                "SELECT EXISTS (SELECT 1 FROM users WHERE username = ?1)",
                            )?
                            .query_row([&u.username], |r| r.get(0))?;
                        return Err(if taken {
                            StoreError::Conflict(format!("the username {} is taken", u.username))
                        } else {
                            StoreError::Conflict(format!("no workspace {}", u.workspace_id))
                        });
                    }
                    Err(e) => return Err(e.into()),
                }
                load_user(c, None, &u.id)?
                    .ok_or_else(|| StoreError::Corrupt(format!("user {} vanished", u.id)))
            })
            .await
    }

    async fn get_user(&self, workspace_id: Option<&str>, id: &str) -> Result<Option<User>> {
        let (ws, id) = (workspace_id.map(str::to_string), id.to_string());
        self.rt
            .read(move |c| load_user(c, ws.as_deref(), &id))
            .await
    }

    async fn find_user_by_username(&self, username: &str) -> Result<Option<User>> {
        let name = normalize_username(username);
        self.rt
            .read(move |c| {
                let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE username = ?1");
                Ok(c.prepare_cached(&sql)?
                    .query_row([name], user_from_row)
                    .optional()?)
            })
            .await
    }

    async fn list_users(&self, workspace_id: &str) -> Result<Vec<User>> {
        let ws = workspace_id.to_string();
        self.rt
            .read(move |c| {
                let sql = format!(
                    "SELECT {USER_COLUMNS} FROM users WHERE workspace_id = ?1 ORDER BY username"
                );
                let rows = c
                    .prepare_cached(&sql)?
                    .query_map([ws], user_from_row)?
                    .collect::<rusqlite::Result<_>>()?;
                Ok(rows)
            })
            .await
    }

    async fn update_user(&self, id: &str, patch: &UserPatch, now: Millis) -> Result<Option<User>> {
        let (id, p) = (id.to_string(), patch.clone());
        self.rt
            .write(move |c| {
                // `disabled`: NULL keeps, 1 disables (keeping an earlier time), 0 enables.
                let n = c
                    .prepare_cached(
                        "UPDATE users SET password_hash = COALESCE(?2, password_hash), \
                         scopes = COALESCE(?3, scopes), \
                         disabled_at = CASE WHEN ?4 IS NULL THEN disabled_at \
                         WHEN ?4 THEN COALESCE(disabled_at, ?5) ELSE NULL END, \
                         updated_at = ?5 WHERE id = ?1",
                    )?
                    .execute(params![id, p.password_hash, p.scopes, p.disabled, now])?;
                if n == 0 {
                    return Ok(None);
                }
                if p.ends_sessions() {
                    revoke_all(c, &id, now)?;
                }
                load_user(c, None, &id)
            })
            .await
    }

    async fn delete_user(&self, id: &str) -> Result<bool> {
        let id = id.to_string();
        self.rt
            .write(move |c| {
                let n = c
                    .prepare_cached("DELETE FROM users WHERE id = ?1")?
                    .execute([&id])?;
                c.prepare_cached("DELETE FROM sessions WHERE user_id = ?1")?
                    .execute([&id])?;
                Ok(n > 0)
            })
            .await
    }

    async fn insert_session(&self, s: &NewSession, now: Millis) -> Result<()> {
        let s = s.clone();
        self.rt
            .write(move |c| {
                c.prepare_cached(
                    "INSERT INTO sessions (id, token_hash, user_id, workspace_id, scopes, \
                     expires_at, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                )?
                .execute(params![
                    s.id,
                    s.token_hash,
                    s.user_id,
                    s.workspace_id,
                    s.scopes,
                    s.expires_at,
                    now
                ])?;
                c.prepare_cached("UPDATE users SET last_login_at = ?2 WHERE id = ?1")?
                    .execute(params![s.user_id, now])?;
                Ok(())
            })
            .await
    }

    async fn find_session(&self, token_hash: &str, now: Millis) -> Result<Option<UserSession>> {
        let hash = token_hash.to_string();
        self.rt.lookup(move |c| {
            Ok(c.prepare_cached(
                "SELECT s.id, s.user_id, s.workspace_id, s.scopes, s.expires_at, s.created_at \
                     FROM sessions s JOIN users u ON u.id = s.user_id \
                     JOIN workspaces w ON w.id = s.workspace_id \
                     WHERE s.token_hash = ?1 AND s.revoked_at IS NULL AND s.expires_at > ?2 \
                     AND u.disabled_at IS NULL AND w.disabled_at IS NULL",
            )?
            .query_row(params![hash, now], |r| {
                Ok(UserSession {
                    id: r.get(0)?,
                    user_id: r.get(1)?,
                    workspace_id: r.get(2)?,
                    scopes: r.get(3)?,
                    expires_at: r.get(4)?,
                    created_at: r.get(5)?,
                })
            })
            .optional()?)
        })
    }

    async fn revoke_session(&self, id: &str, now: Millis) -> Result<bool> {
        let id = id.to_string();
        self.rt
            .write(move |c| {
                let n = c
                    .prepare_cached(
                        "UPDATE sessions SET revoked_at = ?2 WHERE id = ?1 AND revoked_at IS NULL",
                    )?
                    .execute(params![id, now])?;
                Ok(n > 0)
            })
            .await
    }

    async fn revoke_user_sessions(&self, user_id: &str, now: Millis) -> Result<u64> {
        let id = user_id.to_string();
        self.rt.write(move |c| revoke_all(c, &id, now)).await
    }

    async fn record_login_failure(
        &self,
        username: &str,
        now: Millis,
        policy: &ThrottlePolicy,
    ) -> Result<Option<Millis>> {
        let (name, p) = (normalize_username(username), *policy);
        self.rt
            .write(move |c| {
                let locked_until: Millis = c.prepare_cached(&failure_upsert('?'))?.query_row(
                    params![name, now, p.max_failures, p.window_ms, p.lockout_ms],
                    |r| r.get(0),
                )?;
                Ok((locked_until > now).then_some(locked_until))
            })
            .await
    }

    async fn clear_login_failures(&self, username: &str) -> Result<()> {
        let name = normalize_username(username);
        self.rt
            .write(move |c| {
                c.prepare_cached("DELETE FROM login_throttle WHERE username = ?1")?
                    .execute([&name])?;
                Ok(())
            })
            .await
    }

    async fn purge_logins(&self, now: Millis, window_ms: i64) -> Result<u64> {
        self.rt
            .write(move |c| {
                let sessions = c
                    .prepare_cached(
                        "DELETE FROM sessions WHERE expires_at <= ?1 OR revoked_at IS NOT NULL",
                    )?
                    .execute([now])?;
                let throttle = c
                    .prepare_cached(
                        "DELETE FROM login_throttle WHERE locked_until <= ?1 \
                         AND window_start + ?2 <= ?1",
                    )?
                    .execute(params![now, window_ms])?;
                Ok((sessions + throttle) as u64)
            })
            .await
    }

    async fn login_locked_until(&self, username: &str, now: Millis) -> Result<Option<Millis>> {
        let name = normalize_username(username);
        self.rt
            .read(move |c| {
                Ok(c.prepare_cached(
                    "SELECT locked_until FROM login_throttle WHERE username = ?1 AND locked_until > ?2",
                )?
                .query_row(params![name, now], |r| r.get(0))
                .optional()?)
            })
            .await
    }
}
