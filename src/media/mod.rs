//! Media: the directory files are kept in, the rows inbound media get when their message is
//! recorded, and the worker that downloads them (`worker`) before Meta's URLs expire.

pub mod worker;

use std::path::{Path, PathBuf};

use chasqui_store::{InboundRecord, NewMedia, Store, StoreError};
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::clock::now_ms;

/// Message types whose content names a media id.
pub const MEDIA_KINDS: [&str; 5] = ["image", "video", "audio", "document", "sticker"];

/// Where media files are stored.
#[derive(Debug, Clone)]
pub struct MediaFiles {
    dir: PathBuf,
}

impl MediaFiles {
    /// Files under `dir` (created when the first file is written).
    pub fn new(dir: PathBuf) -> Self {
        Self { dir }
    }

    /// The full path of a stored file's relative name; `None` for a name that would leave the
    /// directory (names are Chasqui's own, but a database row is not trusted with the disk).
    pub fn path_of(&self, name: &str) -> Option<PathBuf> {
        let safe = !name.is_empty()
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
        safe.then(|| self.dir.join(name))
    }

    /// Writes `bytes` as `name` atomically (a temporary file renamed into place), so a reader
    /// never sees half a file.
    pub async fn write(&self, name: &str, bytes: &[u8]) -> std::io::Result<()> {
        let Some(path) = self.path_of(name) else {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                format!("bad media file name {name:?}"),
            ));
        };
        tokio::fs::create_dir_all(&self.dir).await?;
        let tmp = self.dir.join(format!("{name}.part"));
        tokio::fs::write(&tmp, bytes).await?;
        tokio::fs::rename(&tmp, &path).await
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

/// Chasqui's id of the media an inbound message (Meta's id `wamid`) carries: derived from the
/// wamid so a message recorded twice names one row, and a conversation view can show it.
pub fn inbound_media_id(wamid: &str) -> String {
    let digest = hex::encode(Sha256::digest(format!("inbound-media:{wamid}").as_bytes()));
    format!("md_{}", &digest[..32])
}

/// The Chasqui media id to show beside a message, for inbound media messages.
pub fn media_id_for(direction: &str, kind: &str, wamid: Option<&str>) -> Option<String> {
    (direction == "inbound" && MEDIA_KINDS.contains(&kind))
        .then_some(wamid)
        .flatten()
        .map(inbound_media_id)
}

/// Pending media rows for the inbound media messages among `records`.
pub fn inbound_rows(records: &[InboundRecord]) -> Vec<NewMedia> {
    records
        .iter()
        .filter(|r| MEDIA_KINDS.contains(&r.kind.as_str()))
        .filter_map(|r| {
            let content: Value = serde_json::from_str(&r.content).ok()?;
            let text = |key: &str| content.get(key).and_then(Value::as_str).map(str::to_owned);
            let provider_media_id = text("id").filter(|id| !id.is_empty())?;
            Some(NewMedia {
                id: inbound_media_id(&r.meta_id),
                workspace_id: r.workspace_id.clone(),
                channel_id: r.channel_id.clone(),
                direction: "inbound".into(),
                provider_media_id,
                mime_type: text("mime_type"),
                size: None,
                sha256: text("sha256"),
                filename: text("filename"),
                path: None,
                state: "pending".into(),
                message_meta_id: Some(r.meta_id.clone()),
                next_attempt_at: now_ms(),
            })
        })
        .collect()
}

/// Records `rows` (idempotently: a row already there is left alone).
pub async fn record_inbound(store: &dyn Store, rows: Vec<NewMedia>) -> Result<(), StoreError> {
    for row in &rows {
        store.insert_media(row, now_ms()).await?;
    }
    Ok(())
}
