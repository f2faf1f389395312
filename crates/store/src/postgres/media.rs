//! Media rows on PostgreSQL.

use async_trait::async_trait;
use sqlx::postgres::PgRow;
use sqlx::Row;

use super::PgStore;
use crate::media::{outcome_columns, MEDIA_COLUMNS};
use crate::{MediaOutcome, MediaRecord, MediaStore, Millis, NewMedia, Result};

fn row(r: &PgRow) -> Result<MediaRecord> {
    Ok(MediaRecord {
        id: r.try_get(0)?,
        workspace_id: r.try_get(1)?,
        channel_id: r.try_get(2)?,
        direction: r.try_get(3)?,
        provider_media_id: r.try_get(4)?,
        mime_type: r.try_get(5)?,
        size: r.try_get(6)?,
        sha256: r.try_get(7)?,
        filename: r.try_get(8)?,
        path: r.try_get(9)?,
        state: r.try_get(10)?,
        attempts: r.try_get(11)?,
        next_attempt_at: r.try_get(12)?,
        last_error: r.try_get(13)?,
        message_meta_id: r.try_get(14)?,
        created_at: r.try_get(15)?,
        updated_at: r.try_get(16)?,
    })
}

#[async_trait]
impl MediaStore for PgStore {
    async fn insert_media(&self, m: &NewMedia, now: Millis) -> Result<bool> {
        let done = sqlx::query(
            "INSERT INTO media (id, workspace_id, channel_id, direction, provider_media_id, \
             mime_type, size, sha256, filename, path, state, attempts, next_attempt_at, \
             message_meta_id, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, 0, $12, $13, $14, $14) \
             ON CONFLICT (id) DO NOTHING",
        )
        .bind(&m.id)
        .bind(&m.workspace_id)
        .bind(&m.channel_id)
        .bind(&m.direction)
        .bind(&m.provider_media_id)
        .bind(&m.mime_type)
        .bind(m.size)
        .bind(&m.sha256)
        .bind(&m.filename)
        .bind(&m.path)
        .bind(&m.state)
        .bind(m.next_attempt_at)
        .bind(&m.message_meta_id)
        .bind(now)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() > 0)
    }

    async fn get_media(&self, workspace_id: &str, id: &str) -> Result<Option<MediaRecord>> {
        let sql = format!(
            "SELECT {MEDIA_COLUMNS} FROM media WHERE workspace_id = $1 \
             AND (id = $2 OR provider_media_id = $2) \
             ORDER BY (id = $2) DESC, created_at DESC LIMIT 1"
        );
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(workspace_id)
            .bind(id)
            .fetch_optional(&self.pool)
            .await?
            .as_ref()
            .map(row)
            .transpose()
    }

    async fn claim_media(
        &self,
        now: Millis,
        lease_ms: i64,
        limit: i64,
    ) -> Result<Vec<MediaRecord>> {
        // SKIP LOCKED: instances sharing the database take different rows.
        let sql = format!(
            "UPDATE media SET next_attempt_at = $2, attempts = attempts + 1, updated_at = $1 \
             WHERE id IN (SELECT id FROM media WHERE state = 'pending' AND next_attempt_at <= $1 \
             ORDER BY next_attempt_at LIMIT $3 FOR UPDATE SKIP LOCKED) \
             RETURNING {MEDIA_COLUMNS}"
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(now)
            .bind(now + lease_ms)
            .bind(limit)
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(row).collect()
    }

    async fn finish_media(&self, id: &str, outcome: &MediaOutcome, now: Millis) -> Result<()> {
        let (state, path, mime, size, sha256, error, next) = outcome_columns(outcome);
        sqlx::query(
            "UPDATE media SET state = $2, path = COALESCE($3, path), \
             mime_type = COALESCE($4, mime_type), size = COALESCE($5, size), \
             sha256 = COALESCE($6, sha256), last_error = $7, \
             next_attempt_at = COALESCE($8, next_attempt_at), updated_at = $9 WHERE id = $1",
        )
        .bind(id)
        .bind(state)
        .bind(path)
        .bind(mime)
        .bind(size)
        .bind(sha256)
        .bind(error)
        .bind(next)
        .bind(now)
        .execute(&self.pool)
        .await?;
        Ok(())
    }
}
