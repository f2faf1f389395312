//! Media files: what was uploaded through Chasqui and what customers sent, with the state of
//! each inbound file's download.

use async_trait::async_trait;

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
    pub workspace_id: String,
    /// The channel it was uploaded through or received on.
    pub channel_id: String,
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
    pub workspace_id: String,
    /// The channel.
    pub channel_id: String,
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
    async fn get_media(&self, workspace_id: &str, id: &str) -> Result<Option<MediaRecord>>;
    /// Takes up to `limit` pending rows that are due, leasing each for `lease_ms` (by moving
    /// `next_attempt_at`) and counting the attempt.
    async fn claim_media(&self, now: Millis, lease_ms: i64, limit: i64)
        -> Result<Vec<MediaRecord>>;
    /// Records what came of a download attempt.
    async fn finish_media(&self, id: &str, outcome: &MediaOutcome, now: Millis) -> Result<()>;
}

/// The state and fields one outcome writes: state, path, mime, size, sha256, last_error,
/// next_attempt_at (`None` keeps the stored value).
pub(crate) type OutcomeColumns<'a> = (
    &'static str,
    Option<&'a str>,
    Option<&'a str>,
    Option<i64>,
    Option<&'a str>,
    Option<&'a str>,
    Option<Millis>,
);

/// Splits an outcome into the columns it writes.
pub(crate) fn outcome_columns(outcome: &MediaOutcome) -> OutcomeColumns<'_> {
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
