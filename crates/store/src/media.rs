//! Media files: what was uploaded through Chasqui and what customers sent, with the state of
//! each inbound file's download.

use async_trait::async_trait;
use chasqui_domain::{ChannelId, WorkspaceId};

use crate::sql::{args, skip_locked, Row, Sql};
use crate::{Millis, Result};

/// Columns read back as a [`MediaRecord`], in its field order.
pub(crate) const MEDIA_COLUMNS: &str =
    "id, workspace_id, channel_id, direction, provider_media_id, mime_type, size, sha256, \
     filename, path, state, attempts, next_attempt_at, last_error, message_meta_id, created_at, \
     updated_at";

/// A media row to create.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewMedia {
    /// Chasqui's id (`md_…`).
    pub id: String,
    /// Owning workspace.
    pub workspace_id: WorkspaceId,
    /// The channel it was uploaded through or received on.
    pub channel_id: ChannelId,
    /// `inbound` or `outbound`.
    pub direction: String,
    /// The provider's media id.
    pub provider_media_id: String,
    /// MIME type, when known.
    pub mime_type: Option<String>,
    /// Size in bytes, when known.
    pub size: Option<i64>,
    /// SHA-256 as given (hex or base64).
    pub sha256: Option<String>,
    /// The file's name, when given.
    pub filename: Option<String>,
    /// File name under the media directory, when already stored.
    pub path: Option<String>,
    /// `pending`, `stored` or `failed`.
    pub state: String,
    /// Meta's id of the inbound message that carried it.
    pub message_meta_id: Option<String>,
    /// When the worker should first look at it.
    pub next_attempt_at: Millis,
}

/// A stored media row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MediaRecord {
    /// Chasqui's id (`md_…`).
    pub id: String,
    /// Owning workspace.
    pub workspace_id: WorkspaceId,
    /// The channel.
    pub channel_id: ChannelId,
    /// `inbound` or `outbound`.
    pub direction: String,
    /// The provider's media id.
    pub provider_media_id: String,
    /// MIME type, when known.
    pub mime_type: Option<String>,
    /// Size in bytes, when known.
    pub size: Option<i64>,
    /// SHA-256 as given (hex or base64).
    pub sha256: Option<String>,
    /// The file's name, when given.
    pub filename: Option<String>,
    /// File name under the media directory; `None` until stored.
    pub path: Option<String>,
    /// `pending`, `stored` or `failed`.
    pub state: String,
    /// Download attempts so far.
    pub attempts: i64,
    /// When the worker looks at it next (also its lease while a download runs).
    pub next_attempt_at: Millis,
    /// Why the last attempt failed.
    pub last_error: Option<String>,
    /// Meta's id of the inbound message that carried it.
    pub message_meta_id: Option<String>,
    /// Creation time.
    pub created_at: Millis,
    /// Last change.
    pub updated_at: Millis,
}

/// What came of one download attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MediaOutcome {
    /// The file is on disk under `path`.
    Stored {
        /// File name under the media directory.
        path: String,
        /// MIME type the provider reported.
        mime_type: Option<String>,
        /// Size in bytes.
        size: i64,
        /// SHA-256 (hex) of the stored bytes.
        sha256: String,
    },
    /// Try again at `at`.
    Retry {
        /// Why it failed.
        error: String,
        /// When to try again.
        at: Millis,
    },
    /// Given up.
    Failed {
        /// Why.
        error: String,
    },
}

/// Reads and writes media rows.
#[async_trait]
pub trait MediaStore: Send + Sync {
    /// Creates a media row; answers `false` (changing nothing) when its id already exists,
    /// so recording an inbound message twice creates one row.
    async fn insert_media(&self, media: &NewMedia, now: Millis) -> Result<bool>;
    /// A workspace's media by Chasqui id or provider media id.
    async fn get_media(&self, workspace_id: &WorkspaceId, id: &str) -> Result<Option<MediaRecord>>;
    /// Takes up to `limit` pending rows that are due, leasing each for `lease_ms` (by moving
    /// `next_attempt_at`) and counting the attempt.
    async fn claim_media(&self, now: Millis, lease_ms: i64, limit: i64)
        -> Result<Vec<MediaRecord>>;
    /// Records what came of a download attempt.
    async fn finish_media(&self, id: &str, outcome: &MediaOutcome, now: Millis) -> Result<()>;
}

/// The state and fields one outcome writes: state, path, mime, size, sha256, last_error,
/// next_attempt_at (`None` keeps the stored value).
type OutcomeColumns<'a> = (
    &'static str,
    Option<&'a str>,
    Option<&'a str>,
    Option<i64>,
    Option<&'a str>,
    Option<&'a str>,
    Option<Millis>,
);

/// Splits an outcome into the columns it writes.
fn outcome_columns(outcome: &MediaOutcome) -> OutcomeColumns<'_> {
    match outcome {
        MediaOutcome::Stored {
            path,
            mime_type,
            size,
            sha256,
        } => (
            "stored",
            Some(path),
            mime_type.as_deref(),
            Some(*size),
            Some(sha256),
            None,
            None,
        ),
        MediaOutcome::Retry { error, at } => {
            ("pending", None, None, None, None, Some(error), Some(*at))
        }
        MediaOutcome::Failed { error } => ("failed", None, None, None, None, Some(error), None),
    }
}

fn media(r: &mut Row) -> Result<MediaRecord> {
    Ok(MediaRecord {
        id: r.get()?,
        workspace_id: r.get()?,
        channel_id: r.get()?,
        direction: r.get()?,
        provider_media_id: r.get()?,
        mime_type: r.get()?,
        size: r.get()?,
        sha256: r.get()?,
        filename: r.get()?,
        path: r.get()?,
        state: r.get()?,
        attempts: r.get()?,
        next_attempt_at: r.get()?,
        last_error: r.get()?,
        message_meta_id: r.get()?,
        created_at: r.get()?,
        updated_at: r.get()?,
    })
}

#[async_trait]
impl<B: Sql> MediaStore for B {
    async fn insert_media(&self, m: &NewMedia, now: Millis) -> Result<bool> {
        self.write((m.clone(), now), |db, (m, now)| {
            Box::pin(async move {
                let n = db
                    .execute(
                        "INSERT INTO media (id, workspace_id, channel_id, direction, \
                         provider_media_id, mime_type, size, sha256, filename, path, state, \
                         attempts, next_attempt_at, message_meta_id, created_at, updated_at) \
                         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, 0, $12, $13, $14, \
                         $14) ON CONFLICT (id) DO NOTHING",
                        args![
                            &m.id,
                            &m.workspace_id,
                            &m.channel_id,
                            &m.direction,
                            &m.provider_media_id,
                            &m.mime_type,
                            m.size,
                            &m.sha256,
                            &m.filename,
                            &m.path,
                            &m.state,
                            m.next_attempt_at,
                            &m.message_meta_id,
                            *now
                        ],
                    )
                    .await?;
                Ok(n > 0)
            })
        })
        .await
    }

    async fn get_media(&self, workspace_id: &WorkspaceId, id: &str) -> Result<Option<MediaRecord>> {
        self.lookup(
            (workspace_id.to_string(), id.to_string()),
            |db, (ws, id)| {
                Box::pin(async move {
                    // Chasqui's id first; a provider id may have been uploaded more than once.
                    let sql = format!(
                        "SELECT {MEDIA_COLUMNS} FROM media WHERE workspace_id = $1 \
                     AND (id = $2 OR provider_media_id = $2) \
                     ORDER BY (id = $2) DESC, created_at DESC LIMIT 1"
                    );
                    db.fetch_one_map(&sql, args![ws, id], media).await
                })
            },
        )
        .await
    }

    async fn claim_media(
        &self,
        now: Millis,
        lease_ms: i64,
        limit: i64,
    ) -> Result<Vec<MediaRecord>> {
        self.write((now, lease_ms, limit), |db, (now, lease_ms, limit)| {
            Box::pin(async move {
                // Instances sharing a PostgreSQL database take different rows.
                let sql = format!(
                    "UPDATE media SET next_attempt_at = $2, attempts = attempts + 1, \
                     updated_at = $1 WHERE id IN (SELECT id FROM media WHERE state = 'pending' \
                     AND next_attempt_at <= $1 ORDER BY next_attempt_at LIMIT $3{}) \
                     RETURNING {MEDIA_COLUMNS}",
                    skip_locked(db)
                );
                let mut due = db
                    .fetch_map(&sql, args![*now, *now + *lease_ms, *limit], media)
                    .await?;
                // RETURNING promises no order.
                due.sort_by_key(|m| m.next_attempt_at);
                Ok(due)
            })
        })
        .await
    }

    async fn finish_media(&self, id: &str, outcome: &MediaOutcome, now: Millis) -> Result<()> {
        self.write(
            (id.to_string(), outcome.clone(), now),
            |db, (id, outcome, now)| {
                Box::pin(async move {
                    let (state, path, mime, size, sha256, error, next) = outcome_columns(outcome);
                    db.execute(
                        "UPDATE media SET state = $2, path = COALESCE($3, path), \
                     mime_type = COALESCE($4, mime_type), size = COALESCE($5, size), \
                     sha256 = COALESCE($6, sha256), last_error = $7, \
                     next_attempt_at = COALESCE($8, next_attempt_at), updated_at = $9 \
                     WHERE id = $1",
                        args![id, state, path, mime, size, sha256, error, next, *now],
                    )
                    .await?;
                    Ok(())
                })
            },
        )
        .await
    }
}
