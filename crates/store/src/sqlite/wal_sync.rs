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
//!
//! A failed fdatasync stops the store for good ([`Stopped`]): its callers, and every write after
//! it, are answered an error, and nothing is synced or acknowledged again until a restart. Linux
//! reports a writeback error once and may then drop the pages it could not write, so a later
//! fdatasync can succeed without covering the commit that failed, or the commits after it that
//! SQLite's WAL recovery will throw away with it (its frame checksums chain). Retrying would turn
//! that success into acknowledgements of data that is not on disk; stopping cannot.

use std::fs::File;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::{mpsc, Arc, OnceLock};

use crate::{Result, StoreError};

/// Answers the callers of one committed transaction with the outcome of its fsync.
pub(super) type Answer = Box<dyn FnOnce(Result<()>) + Send>;

/// Why the store stopped accepting writes: set once, by the first failed fdatasync, and kept
/// until the process ends. Shared by the writer, the syncer, the checkpointer and the runtime.
#[derive(Clone, Default)]
pub(super) struct Stopped(Arc<OnceLock<String>>);

impl Stopped {
    /// The reason, once stopped.
    pub(super) fn reason(&self) -> Option<String> {
        self.0.get().cloned()
    }

    /// The error every write answers once stopped.
    pub(super) fn error(&self) -> Option<StoreError> {
        self.0.get().map(|r| StoreError::Unavailable(r.clone()))
    }

    /// Stops the store for `reason`; answers whether this call did (only the first one does).
    fn stop(&self, reason: String) -> bool {
        self.0.set(reason).is_ok()
    }
}

/// The WAL file of a database, reopened when SQLite replaced it.
struct WalFile {
    path: PathBuf,
    open: Option<(File, u64)>,
    /// The database, as fault injection names it.
    #[cfg(any(test, feature = "fault-injection"))]
    database: PathBuf,
}

impl WalFile {
    fn new(database: &Path) -> Self {
        let mut path = database.as_os_str().to_owned();
        path.push("-wal");
        Self {
            path: PathBuf::from(path),
            open: None,
            #[cfg(any(test, feature = "fault-injection"))]
            database: fault_injection::key(database),
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
        if let Some((file, _)) = &self.open {
            file.sync_data()?;
        }
        // The real fdatasync ran; a test may have it report the error a failing disk would.
        #[cfg(any(test, feature = "fault-injection"))]
        fault_injection::injected(&self.database)?;
        Ok(())
    }
}

/// Starts the syncer thread of the database at `database`; send it each committed batch's
/// answers, in commit order. Its first failure sets `stopped`.
pub(super) fn start(database: &Path, stopped: Stopped) -> mpsc::Sender<Vec<Answer>> {
    let (tx, rx) = mpsc::channel::<Vec<Answer>>();
    let mut wal = WalFile::new(database);
    std::thread::Builder::new()
        .name("chasqui-sqlite-sync".into())
        .spawn(move || sync_loop(move || wal.sync(), rx, &stopped))
        .map(|_| ())
        .unwrap_or_else(|e| tracing::error!(error = %e, "cannot start the SQLite sync thread"));
    tx
}

/// Answers each round of committed batches after one `sync` covering them all; after a failed
/// one, answers every round an error without syncing again.
fn sync_loop(
    mut sync: impl FnMut() -> std::io::Result<()>,
    rx: mpsc::Receiver<Vec<Answer>>,
    stopped: &Stopped,
) {
    while let Ok(mut answers) = rx.recv() {
        // Every batch committed meanwhile shares this fsync.
        while let Ok(more) = rx.try_recv() {
            answers.extend(more);
        }
        let synced = match stopped.reason() {
            // A later fdatasync proves nothing about the pages an earlier one failed to write.
            Some(reason) => Err(reason),
            None => sync().map_err(|e| {
                let reason = format!("fdatasync of the SQLite WAL failed: {e}");
                if stopped.stop(reason.clone()) {
                    tracing::error!(
                        error = %e,
                        "fdatasync of the SQLite WAL failed: the store stops accepting writes; \
                         fix the disk and restart Chasqui (the database recovers what reached it)"
                    );
                }
                reason
            }),
        };
        for answer in answers {
            answer(synced.clone().map_err(StoreError::Unavailable));
        }
    }
}

/// Test-only faults of the WAL's fdatasync (feature `fault-injection`, enabled only by the
/// tests' dev-dependencies): nothing a configuration or a request can reach.
#[cfg(any(test, feature = "fault-injection"))]
pub mod fault_injection {
    use std::path::{Path, PathBuf};
    use std::sync::Mutex;

    /// Databases whose next WAL fdatasync reports EIO.
    static ARMED: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());

    /// The name a database is armed under (its canonical path, when it exists).
    pub(super) fn key(database: &Path) -> PathBuf {
        database
            .canonicalize()
            .unwrap_or_else(|_| database.to_path_buf())
    }

    /// Makes the next fdatasync of the WAL of the SQLite database at `database` report EIO
    /// (after the real call ran), as a failing disk would.
    pub fn fail_next_fdatasync(database: &Path) {
        let key = key(database);
        ARMED.lock().unwrap_or_else(|e| e.into_inner()).push(key);
    }

    /// EIO if `database` was armed (disarming it), else success.
    pub(super) fn injected(database: &Path) -> std::io::Result<()> {
        let mut armed = ARMED.lock().unwrap_or_else(|e| e.into_inner());
        match armed.iter().position(|d| d == database) {
            Some(i) => {
                armed.remove(i);
                // EIO, what Linux reports for a failed writeback.
                Err(std::io::Error::from_raw_os_error(5))
            }
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// Runs `sync_loop` over `rounds` (jobs per round, each round sent after the previous one was
    /// answered) with a sync that fails on call `fail_on` (1-based) and succeeds otherwise;
    /// answers each job's result and how many syncs ran.
    fn rounds(rounds: &[usize], fail_on: usize) -> (Vec<Vec<Result<()>>>, usize) {
        let calls = Arc::new(AtomicUsize::new(0));
        let counted = calls.clone();
        let sync = move || {
            let n = counted.fetch_add(1, Ordering::SeqCst) + 1;
            if n == fail_on {
                Err(std::io::Error::from_raw_os_error(5))
            } else {
                Ok(())
            }
        };
        let (tx, rx) = mpsc::channel::<Vec<Answer>>();
        let stopped = Stopped::default();
        let syncer = {
            let stopped = stopped.clone();
            std::thread::spawn(move || sync_loop(sync, rx, &stopped))
        };
        let mut results = Vec::new();
        for &jobs in rounds {
            let (done, answered) = mpsc::channel();
            let answers: Vec<Answer> = (0..jobs)
                .map(|_| {
                    let done = done.clone();
                    Box::new(move |r: Result<()>| done.send(r).unwrap()) as Answer
                })
                .collect();
            tx.send(answers).unwrap();
            results.push((0..jobs).map(|_| answered.recv().unwrap()).collect());
        }
        drop(tx);
        syncer.join().unwrap();
        assert_eq!(
            stopped.reason().is_some(),
            fail_on <= calls.load(Ordering::SeqCst)
        );
        (results, calls.load(Ordering::SeqCst))
    }

    #[test]
    fn every_round_is_acknowledged_after_its_own_sync() {
        let (results, syncs) = rounds(&[2, 1, 3], usize::MAX);
        assert_eq!(syncs, 3);
        assert!(results.iter().flatten().all(Result::is_ok));
    }

    #[test]
    fn after_a_failed_sync_nothing_is_acknowledged_again() {
        // The second sync fails; the third would succeed (Linux reports a writeback error once),
        // which must not acknowledge anything.
        let (results, syncs) = rounds(&[1, 2, 1, 3], 2);
        assert!(results[0][0].is_ok());
        for round in &results[1..] {
            for r in round {
                assert!(
                    matches!(r, Err(StoreError::Unavailable(why)) if why.contains("fdatasync")),
                    "{r:?}"
                );
            }
        }
        assert_eq!(syncs, 2, "synced again after a failure");
    }

    #[test]
    fn an_injected_fault_fails_one_real_sync() {
        let dir = std::env::temp_dir().join(format!("chasqui-wal-fault-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let db = dir.join("x.db");
        std::fs::write(&db, b"").unwrap();
        std::fs::write(dir.join("x.db-wal"), b"frames").unwrap();
        let mut wal = WalFile::new(&db);
        wal.sync().unwrap();
        fault_injection::fail_next_fdatasync(&db);
        let e = wal.sync().unwrap_err();
        assert_eq!(e.raw_os_error(), Some(5));
        wal.sync().unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
    }

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
