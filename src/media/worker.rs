//! The inbound media downloader: takes pending media rows, fetches each file's info and bytes
//! with its channel's credentials, checks the SHA-256 when one was given, and writes the file.
//! Durable: the rows are the queue, so a crash only delays a download.

use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use chasqui_store::{MediaOutcome, MediaRecord, Store};
use sha2::{Digest, Sha256};
use tokio::sync::watch;

use super::MediaFiles;
use crate::channels::ChannelDirectory;
use crate::clock::now_ms;

/// Rows taken per round.
const BATCH: i64 = 8;
/// How long a taken row stays this worker's (a download of 100 MB included).
const LEASE_MS: i64 = 330_000;
/// How often to look for due rows.
const POLL: Duration = Duration::from_millis(500);
/// Attempts before a file is given up; with the backoff below that is about four minutes,
/// since Meta's URLs and ids stop working soon after.
const MAX_ATTEMPTS: i64 = 8;
/// First retry delay, doubled per attempt.
const RETRY_BASE_MS: i64 = 2_000;
/// Longest retry delay.
const RETRY_MAX_MS: i64 = 60_000;

/// The downloader.
pub struct MediaWorker {
    store: Arc<dyn Store>,
    channels: Arc<ChannelDirectory>,
    files: Arc<MediaFiles>,
}

impl MediaWorker {
    /// A downloader writing under `files`.
    pub fn new(
        store: Arc<dyn Store>,
        channels: Arc<ChannelDirectory>,
        files: Arc<MediaFiles>,
    ) -> Self {
        Self {
            store,
            channels,
            files,
        }
    }

    /// Downloads until `stop` turns true.
    pub async fn run(self, mut stop: watch::Receiver<bool>) {
        loop {
            let busy = match self.store.claim_media(now_ms(), LEASE_MS, BATCH).await {
                Ok(rows) => {
                    for row in &rows {
                        let outcome = self.attempt(row).await;
                        if let Err(e) = self.store.finish_media(&row.id, &outcome, now_ms()).await {
                            tracing::warn!(error = %e, media = %row.id, "recording a media download failed");
                        }
                    }
                    !rows.is_empty()
                }
                Err(e) => {
                    tracing::warn!(error = %e, "taking media downloads failed");
                    false
                }
            };
            if *stop.borrow() {
                return;
            }
            if !busy {
                tokio::select! {
                    _ = tokio::time::sleep(POLL) => {}
                    _ = stop.changed() => return,
                }
            }
        }
    }

    /// One download attempt, turned into its outcome.
    async fn attempt(&self, row: &MediaRecord) -> MediaOutcome {
        match self.download(row).await {
            Ok(outcome) => outcome,
            Err(error) if row.attempts >= MAX_ATTEMPTS => {
                tracing::warn!(media = %row.id, %error, "media download given up");
                MediaOutcome::Failed { error }
            }
            Err(error) => {
                let shift = u32::try_from(row.attempts.saturating_sub(1))
                    .unwrap_or(0)
                    .min(10);
                let delay = (RETRY_BASE_MS << shift).min(RETRY_MAX_MS);
                MediaOutcome::Retry {
                    error,
                    at: now_ms() + delay,
                }
            }
        }
    }

    async fn download(&self, row: &MediaRecord) -> Result<MediaOutcome, String> {
        let channel = self
            .channels
            .get(&row.channel_id)
            .ok_or_else(|| format!("channel {} is not known", row.channel_id))?;
        let provider = &channel.provider;
        let info = provider
            .media_info(&row.provider_media_id)
            .await
            .map_err(|e| e.to_string())?;
        let bytes = provider
            .download_media(&info.url)
            .await
            .map_err(|e| e.to_string())?;
        let digest = Sha256::digest(&bytes);
        for expected in [row.sha256.as_deref(), info.sha256.as_deref()]
            .into_iter()
            .flatten()
        {
            if !sha256_matches(expected, &digest) {
                return Err(format!(
                    "the file's SHA-256 does not match the provider's ({} bytes)",
                    bytes.len()
                ));
            }
        }
        self.files
            .write(&row.id, &bytes)
            .await
            .map_err(|e| format!("cannot write the file: {e}"))?;
        Ok(MediaOutcome::Stored {
            path: row.id.clone(),
            mime_type: info.mime_type.or_else(|| row.mime_type.clone()),
            size: i64::try_from(bytes.len()).unwrap_or(i64::MAX),
            sha256: hex::encode(digest),
        })
    }
}

/// Whether `expected` (hex or base64, as providers give it) names `digest`.
fn sha256_matches(expected: &str, digest: &[u8]) -> bool {
    let expected = expected.trim();
    if expected.eq_ignore_ascii_case(&hex::encode(digest)) {
        return true;
    }
    [
        base64::engine::general_purpose::STANDARD.encode(digest),
        base64::engine::general_purpose::URL_SAFE.encode(digest),
        base64::engine::general_purpose::STANDARD_NO_PAD.encode(digest),
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(digest),
    ]
    .iter()
    .any(|e| e == expected)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sha256_in_hex_or_base64() {
        let digest = Sha256::digest(b"hola");
        assert!(sha256_matches(&hex::encode(digest), &digest));
        let b64 = base64::engine::general_purpose::STANDARD.encode(digest);
        assert!(sha256_matches(&b64, &digest));
        assert!(!sha256_matches("abc", &digest));
    }
}
