//! Users, sessions and the login throttle on PostgreSQL.

use async_trait::async_trait;
use sqlx::postgres::PgRow;
use sqlx::{PgConnection, Row};

use super::PgStore;
use crate::users::{failure_upsert, normalize_username, USER_COLUMNS};
use crate::{
    Millis, NewSession, NewUser, Result, StoreError, ThrottlePolicy, User, UserPatch, UserSession,
    UserStore,
};

fn user_row(r: &PgRow) -> Result<User> {
    Ok(User {
        id: r.try_get(0)?,
        workspace_id: r.try_get(1)?,
        username: r.try_get(2)?,
        password_hash: r.try_get(3)?,
        scopes: r.try_get(4)?,
        disabled_at: r.try_get(5)?,
        created_at: r.try_get(6)?,
        updated_at: r.try_get(7)?,
        last_login_at: r.try_get(8)?,
    })
}

async fn load_user(c: &mut PgConnection, ws: Option<&str>, id: &str) -> Result<Option<User>> {
    let sql = format!(
        "SELECT {USER_COLUMNS} FROM users WHERE id = $1 AND ($2::TEXT IS NULL OR workspace_id = $2)"
    );
    sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(id)
        .bind(ws)
        .fetch_optional(c)
        .await?
        .as_ref()
        .map(user_row)
        .transpose()
}

async fn revoke_all(c: &mut PgConnection, user_id: &str, now: Millis) -> Result<u64> {
    let done = sqlx::query(
        "UPDATE sessions SET revoked_at = $2 WHERE user_id = $1 AND revoked_at IS NULL",
    )
    .bind(user_id)
    .bind(now)
    .execute(c)
    .await?;
    Ok(done.rows_affected())
}

/// SQLSTATE of a constraint failure: 23505 unique, 23503 foreign key.
fn constraint_code(e: &sqlx::Error) -> Option<String> {
    match e {
        sqlx::Error::Database(db) => db.code().map(|c| c.to_string()),
        _ => None,
    }
}

#[async_trait]
impl UserStore for PgStore {
    async fn create_user(&self, u: &NewUser, now: Millis) -> Result<User> {
        let username = normalize_username(&u.username);
        let sql = format!(
            "INSERT INTO users (id, workspace_id, username, password_hash, scopes, created_at, \
             updated_at) VALUES ($1, $2, $3, $4, $5, $6, $6) RETURNING {USER_COLUMNS}"
        );
        let inserted = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(&u.id)
            .bind(&u.workspace_id)
            .bind(&username)
            .bind(&u.password_hash)
            .bind(&u.scopes)
            .bind(now)
            .fetch_one(&self.pool)
            .await;
        match inserted {
            Ok(row) => user_row(&row),
            Err(e) => match constraint_code(&e).as_deref() {
                Some("23505") => Err(StoreError::Conflict(format!(
                    "the username {username} is taken"
                ))),
                Some("23503") => Err(StoreError::Conflict(format!(
                    "no workspace {}",
                    u.workspace_id
                ))),
                _ => Err(e.into()),
            },
        }
    }

    async fn get_user(&self, workspace_id: Option<&str>, id: &str) -> Result<Option<User>> {
        let mut c = self.pool.acquire().await?;
        load_user(&mut c, workspace_id, id).await
    }

    async fn find_user_by_username(&self, username: &str) -> Result<Option<User>> {
        let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE username = $1");
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(normalize_username(username))
            .fetch_optional(&self.pool)
            .await?
            .as_ref()
            .map(user_row)
            .transpose()
    }

    async fn list_users(&self, workspace_id: &str) -> Result<Vec<User>> {
        let sql =
            format!("SELECT {USER_COLUMNS} FROM users WHERE workspace_id = $1 ORDER BY username");
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(workspace_id)
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(user_row).collect()
    }

    async fn update_user(&self, id: &str, p: &UserPatch, now: Millis) -> Result<Option<User>> {
        let mut tx = self.pool.begin().await?;
        // `disabled`: NULL keeps, true disables (keeping an earlier time), false enables.
        let done = sqlx::query(
            "UPDATE users SET password_hash = COALESCE($2, password_hash), \
             scopes = COALESCE($3, scopes), \
             disabled_at = CASE WHEN $4::BOOLEAN IS NULL THEN disabled_at \
             WHEN $4 THEN COALESCE(disabled_at, $5) ELSE NULL END, \
             updated_at = $5 WHERE id = $1",
        )
        .bind(id)
        .bind(&p.password_hash)
        .bind(&p.scopes)
        .bind(p.disabled)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() == 0 {
            return Ok(None);
        }
        if p.ends_sessions() {
            revoke_all(&mut tx, id, now).await?;
        }
        let user = load_user(&mut tx, None, id).await?;
        tx.commit().await?;
        Ok(user)
    }

    async fn delete_user(&self, id: &str) -> Result<bool> {
        let mut tx = self.pool.begin().await?;
        let done = sqlx::query("DELETE FROM users WHERE id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM sessions WHERE user_id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(done.rows_affected() > 0)
    }

    async fn insert_session(&self, s: &NewSession, now: Millis) -> Result<()> {
        let mut tx = self.pool.begin().await?;
        sqlx::query(
            "INSERT INTO sessions (id, token_hash, user_id, workspace_id, scopes, expires_at, \
             created_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(&s.id)
        .bind(&s.token_hash)
        .bind(&s.user_id)
        .bind(&s.workspace_id)
        .bind(&s.scopes)
        .bind(s.expires_at)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        sqlx::query("UPDATE users SET last_login_at = $2 WHERE id = $1")
            .bind(&s.user_id)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn find_session(&self, token_hash: &str, now: Millis) -> Result<Option<UserSession>> {
        let row = sqlx::query(
            "SELECT s.id, s.user_id, s.workspace_id, s.scopes, s.expires_at, s.created_at \
             FROM sessions s JOIN users u ON u.id = s.user_id \
             JOIN workspaces w ON w.id = s.workspace_id \
             WHERE s.token_hash = $1 AND s.revoked_at IS NULL AND s.expires_at > $2 \
             AND u.disabled_at IS NULL AND w.disabled_at IS NULL",
        )
        .bind(token_hash)
        .bind(now)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|r| {
            Ok(UserSession {
                id: r.try_get(0)?,
                user_id: r.try_get(1)?,
                workspace_id: r.try_get(2)?,
                scopes: r.try_get(3)?,
                expires_at: r.try_get(4)?,
                created_at: r.try_get(5)?,
            })
        })
        .transpose()
    }

    async fn revoke_session(&self, id: &str, now: Millis) -> Result<bool> {
        let done =
            sqlx::query("UPDATE sessions SET revoked_at = $2 WHERE id = $1 AND revoked_at IS NULL")
                .bind(id)
                .bind(now)
                .execute(&self.pool)
                .await?;
        Ok(done.rows_affected() > 0)
    }

    async fn revoke_user_sessions(&self, user_id: &str, now: Millis) -> Result<u64> {
        let mut c = self.pool.acquire().await?;
        revoke_all(&mut c, user_id, now).await
    }

    async fn record_login_failure(
        &self,
        username: &str,
        now: Millis,
        policy: &ThrottlePolicy,
    ) -> Result<Option<Millis>> {
        let locked_until: Millis = sqlx::query_scalar(sqlx::AssertSqlSafe(failure_upsert('$')))
            .bind(normalize_username(username))
            .bind(now)
            .bind(policy.max_failures)
            .bind(policy.window_ms)
            .bind(policy.lockout_ms)
            .fetch_one(&self.pool)
            .await?;
        Ok((locked_until > now).then_some(locked_until))
    }

    async fn clear_login_failures(&self, username: &str) -> Result<()> {
        sqlx::query("DELETE FROM login_throttle WHERE username = $1")
            .bind(normalize_username(username))
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn purge_logins(&self, now: Millis, window_ms: i64) -> Result<u64> {
        let sessions =
            sqlx::query("DELETE FROM sessions WHERE expires_at <= $1 OR revoked_at IS NOT NULL")
                .bind(now)
                .execute(&self.pool)
                .await?;
        let throttle = sqlx::query(
            "DELETE FROM login_throttle WHERE locked_until <= $1 AND window_start + $2 <= $1",
        )
        .bind(now)
        .bind(window_ms)
        .execute(&self.pool)
        .await?;
        Ok(sessions.rows_affected() + throttle.rows_affected())
    }

    async fn login_locked_until(&self, username: &str, now: Millis) -> Result<Option<Millis>> {
        Ok(sqlx::query_scalar(
            "SELECT locked_until FROM login_throttle WHERE username = $1 AND locked_until > $2",
        )
        .bind(normalize_username(username))
        .bind(now)
        .fetch_optional(&self.pool)
        .await?)
    }
}
