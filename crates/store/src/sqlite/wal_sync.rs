//! Durability of the writer's commits, off the writer's thread.
//!
//! The writer commits with `synchronous=NORMAL`: SQLite appends the transaction's frames to the
//! WAL file and returns without an fsync. This module then `fdatasync`s the WAL file and only
//! afterwards answers the transaction's callers. A commit's frames are on disk once the WAL is,
//! and the WAL is append-only between checkpoints (which SQLite syncs itself), so every answer
//! still follows an fsync that covers its commit, exactly as with `synchronous=FULL`, while the
//! writer already runs the next batch instead of waiting for the disk. One fsync covers every
//! commit queued before it.
//!
//! Nothing outside the database acts on a commit before it is answered (the dispatcher sends a
//! message only after its claim, a later transaction, is answered), so no effect ever escapes
//! ahead of the data it depends on. Readers can see a commit up to one fsync before it is durable.

use std::fs::File;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::mpsc;

use crate::{Result, StoreError};

/// Answers the callers of one committed transaction with the outcome of its fsync.
pub(super) type Answer = Box<dyn FnOnce(Result<()>) + Send>;

/// The WAL file of a database, reopened when SQLite replaced it.
struct WalFile {
    path: PathBuf,
    open: Option<(File, u64)>,
}

impl WalFile {
    fn new(database: &Path) -> Self {
        let mut path = database.as_os_str().to_owned();
        path.push("-wal");
        Self {
            path: PathBuf::from(path),
            open: None,
        }
    }

    /// Flushes the WAL's data to disk. The file is checked by inode on every call: syncing a
    /// file SQLite has since replaced would make nothing durable.
    fn sync(&mut self) -> std::io::Result<()> {
        let current = std::fs::metadata(&self.path)?.ino();
        if self.open.as_ref().is_none_or(|(_, ino)| *ino != current) {
            let file = File::open(&self.path)?;
            let ino = file.metadata()?.ino();
            self.open = Some((file, ino));
        }
        match &self.open {
            Some((file, _)) => file.sync_data(),
            None => Ok(()),
        }
    }
}

/// Starts the syncer thread of the database at `database`; send it each committed batch's
/// answers, in commit order.
pub(super) fn start(database: &Path) -> mpsc::Sender<Vec<Answer>> {
    let (tx, rx) = mpsc::channel::<Vec<Answer>>();
    let wal = WalFile::new(database);
    std::thread::Builder::new()
        .name("chasqui-sqlite-sync".into())
        .spawn(move || sync_loop(wal, rx))
        .map(|_| ())
        .unwrap_or_else(|e| tracing::error!(error = %e, "cannot start the SQLite sync thread"));
    tx
}

fn sync_loop(mut wal: WalFile, rx: mpsc::Receiver<Vec<Answer>>) {
    while let Ok(mut answers) = rx.recv() {
        // Every batch committed meanwhile shares this fsync.
        while let Ok(more) = rx.try_recv() {
            answers.extend(more);
        }
        let synced = wal.sync().map_err(|e| {
            tracing::error!(error = %e, "fsync of the SQLite WAL failed");
            format!("the commit could not be made durable: {e}")
        });
        for answer in answers {
            answer(synced.clone().map_err(StoreError::Commit));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sync_follows_a_replaced_wal_file() {
        let dir = std::env::temp_dir().join(format!("chasqui-wal-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let db = dir.join("x.db");
        let wal_path = dir.join("x.db-wal");
        let mut wal = WalFile::new(&db);
        assert!(
            wal.sync().is_err(),
            "no WAL file yet: nothing can be made durable"
        );

        std::fs::write(&wal_path, b"first").unwrap();
        wal.sync().unwrap();
        let first = wal.open.as_ref().map(|(_, ino)| *ino);
        assert_eq!(first, Some(std::fs::metadata(&wal_path).unwrap().ino()));

        // SQLite may delete and recreate the file: the next sync must flush the new one (which
        // cannot reuse the old inode while the old file is still open here).
        std::fs::remove_file(&wal_path).unwrap();
        std::fs::write(&wal_path, b"second").unwrap();
        wal.sync().unwrap();
        let second = wal.open.as_ref().map(|(_, ino)| *ino);
        assert_eq!(second, Some(std::fs::metadata(&wal_path).unwrap().ino()));
        assert_ne!(first, second);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
