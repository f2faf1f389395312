//! Media rows on SQLite.

use async_trait::async_trait;
use rusqlite::{params, OptionalExtension, Row};

use super::SqliteStore;
use crate::media::{outcome_columns, MEDIA_COLUMNS};
use crate::{MediaOutcome, MediaRecord, MediaStore, Millis, NewMedia, Result};

fn row(r: &Row<'_>) -> rusqlite::Result<MediaRecord> {
    Ok(MediaRecord {
        id: r.get(0)?,
        workspace_id: r.get(1)?,
        channel_id: r.get(2)?,
        direction: r.get(3)?,
        provider_media_id: r.get(4)?,
        mime_type: r.get(5)?,
        size: r.get(6)?,
        sha256: r.get(7)?,
        filename: r.get(8)?,
        path: r.get(9)?,
        state: r.get(10)?,
        attempts: r.get(11)?,
        next_attempt_at: r.get(12)?,
        last_error: r.get(13)?,
        message_meta_id: r.get(14)?,
        created_at: r.get(15)?,
        updated_at: r.get(16)?,
    })
}

#[async_trait]
impl MediaStore for SqliteStore {
    async fn insert_media(&self, m: &NewMedia, now: Millis) -> Result<bool> {
        let m = m.clone();
        self.rt
            .write(move |c| {
                let n = c
                    .prepare_cached(
                        "INSERT INTO media (id, workspace_id, channel_id, direction, \
                         provider_media_id, mime_type, size, sha256, filename, path, state, \
                         attempts, next_attempt_at, message_meta_id, created_at, updated_at) \
                         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, 0, ?12, ?13, ?14, ?14) \
                         ON CONFLICT (id) DO NOTHING",
                    )?
                    .execute(params![
                        m.id,
                        m.workspace_id,
                        m.channel_id,
                        m.direction,
                        m.provider_media_id,
                        m.mime_type,
                        m.size,
                        m.sha256,
                        m.filename,
                        m.path,
                        m.state,
                        m.next_attempt_at,
                        m.message_meta_id,
                        now
                    ])?;
                Ok(n > 0)
            })
            .await
    }

    async fn get_media(&self, workspace_id: &str, id: &str) -> Result<Option<MediaRecord>> {
        let (ws, id) = (workspace_id.to_owned(), id.to_owned());
        self.rt
            .read(move |c| {
                // Chasqui's id first; a provider id may have been uploaded more than once.
                let sql = format!(
                    "SELECT {MEDIA_COLUMNS} FROM media WHERE workspace_id = ?1 \
                     AND (id = ?2 OR provider_media_id = ?2) \
                     ORDER BY (id = ?2) DESC, created_at DESC LIMIT 1"
                );
                Ok(c.prepare_cached(&sql)?
                    .query_row(params![ws, id], row)
                    .optional()?)
            })
            .await
    }

    async fn claim_media(
        &self,
        now: Millis,
        lease_ms: i64,
        limit: i64,
    ) -> Result<Vec<MediaRecord>> {
        self.rt
            .write(move |c| {
                let sql = format!(
                    "SELECT {MEDIA_COLUMNS} FROM media WHERE state = 'pending' \
                     AND next_attempt_at <= ?1 ORDER BY next_attempt_at LIMIT ?2"
                );
                let due = c
                    .prepare_cached(&sql)?
                    .query_map(params![now, limit], row)?
                    .collect::<rusqlite::Result<Vec<_>>>()?;
                let mut lease = c.prepare_cached(
                    "UPDATE media SET next_attempt_at = ?2, attempts = attempts + 1, \
                     updated_at = ?3 WHERE id = ?1",
                )?;
                let mut out = Vec::with_capacity(due.len());
                for mut m in due {
                    lease.execute(params![m.id, now + lease_ms, now])?;
                    m.attempts += 1;
                    m.next_attempt_at = now + lease_ms;
                    out.push(m);
                }
                Ok(out)
            })
            .await
    }

    async fn finish_media(&self, id: &str, outcome: &MediaOutcome, now: Millis) -> Result<()> {
        let id = id.to_owned();
        let outcome = outcome.clone();
        self.rt
            .write(move |c| {
                let (state, path, mime, size, sha256, error, next) = outcome_columns(&outcome);
                c.prepare_cached(
                    "UPDATE media SET state = ?2, path = COALESCE(?3, path), \
                     mime_type = COALESCE(?4, mime_type), size = COALESCE(?5, size), \
                     sha256 = COALESCE(?6, sha256), last_error = ?7, \
                     next_attempt_at = COALESCE(?8, next_attempt_at), updated_at = ?9 \
                     WHERE id = ?1",
                )?
                .execute(params![
                    id, state, path, mime, size, sha256, error, next, now
                ])?;
                Ok(())
            })
            .await
    }
}
