//! The SQLite execution model: one writer thread that group-commits, and reader connections.
//!
//! Every write job runs inside one shared `BEGIN IMMEDIATE … COMMIT`, each in its own savepoint
//! so a failing job does not undo the others; callers are answered only after the commit is on
//! disk (`wal_sync` fsyncs it while the writer goes on with the next batch). Concurrent requests
//! thus share one fsync instead of queueing for one each, which is what lifts accepted messages
//! per second.

use std::path::{Path, PathBuf};
use std::sync::{mpsc, Arc, Mutex};

use rusqlite::Connection;
use tokio::sync::oneshot;

use super::checkpoint;
use super::wal_sync::{self, Answer};
use crate::{Result, StoreError};

/// Most jobs one transaction takes, so a burst still commits in bounded time.
const MAX_BATCH: usize = 512;

/// Idle reader connections kept open; more are opened under load and closed afterwards, so a
/// burst does not leave one page cache per blocking thread behind.
const MAX_IDLE_READERS: usize = 8;

/// The writer's page cache (KiB): the indexes new messages land in stay in memory, so a batch
/// does not read them back from the file.
const WRITER_CACHE_KIB: i64 = 8 * 1024;

/// A reader's page cache (KiB): SQLite's default.
const READER_CACHE_KIB: i64 = 2 * 1024;

/// WAL pages after which the writer checkpoints itself, which lets the next transaction start the
/// WAL over. The `checkpoint` thread has copied most pages back by then, so this checkpoint is
/// short.
const WAL_AUTOCHECKPOINT_PAGES: i64 = 8192;

/// A job gets the writer's connection, or `None` when the transaction could not begin.
type Job = Box<dyn FnOnce(Option<&Connection>) -> Answer + Send>;

/// Opens a connection with Chasqui's pragmas.
pub(super) fn open_connection(path: &Path) -> Result<Connection> {
    let conn = Connection::open(path)?;
    conn.busy_timeout(std::time::Duration::from_secs(10))?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "FULL")?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    conn.pragma_update(None, "temp_store", "MEMORY")?;
    conn.pragma_update(None, "cache_size", -READER_CACHE_KIB)?;
    Ok(conn)
}

/// Opens the writer's connection: a reader's pragmas plus a larger cache and checkpoint interval.
pub(super) fn open_writer(path: &Path) -> Result<Connection> {
    let conn = open_connection(path)?;
    conn.pragma_update(None, "cache_size", -WRITER_CACHE_KIB)?;
    conn.pragma_update(None, "wal_autocheckpoint", WAL_AUTOCHECKPOINT_PAGES)?;
    Ok(conn)
}

/// The writer thread's handle plus a pool of reader connections.
pub(super) struct Runtime {
    jobs: mpsc::Sender<Job>,
    /// Dropped with the runtime, which stops the checkpoint thread.
    _checkpoints: mpsc::Sender<()>,
    readers: Arc<Mutex<Vec<Connection>>>,
    path: PathBuf,
}

impl Runtime {
    /// Starts the writer on `writer` (already migrated).
    pub(super) fn start(path: PathBuf, writer: Connection) -> Result<Self> {
        // Commits no longer fsync themselves: the sync thread does, before anyone is answered.
        writer.pragma_update(None, "synchronous", "NORMAL")?;
        let durable = wal_sync::start(&path);
        let (tx, rx) = mpsc::channel::<Job>();
        std::thread::Builder::new()
            .name("chasqui-sqlite-writer".into())
            .spawn(move || writer_loop(writer, rx, durable))
            .map(|_| ())
            .unwrap_or_else(
                |e| tracing::error!(error = %e, "cannot start the SQLite writer thread"),
            );
        Ok(Self {
            jobs: tx,
            _checkpoints: checkpoint::start(&path),
            readers: Arc::new(Mutex::new(Vec::new())),
            path,
        })
    }

    /// Runs `f` in the writer's transaction and answers after the commit.
    pub(super) async fn write<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T> + Send + 'static,
    {
        let (tx, rx) = oneshot::channel::<Result<T>>();
        let job: Job = Box::new(move |conn| {
            let result = match conn {
                Some(conn) => in_savepoint(conn, f),
                None => Err(StoreError::Commit("could not begin a transaction".into())),
            };
            Box::new(move |commit: Result<()>| {
                let _ = tx.send(commit.and(result));
            })
        });
        self.jobs.send(job).map_err(|_| StoreError::Closed)?;
        rx.await.map_err(|_| StoreError::Closed)?
    }

    /// Runs `f` on a reader connection in the blocking pool: for scans, whose time grows with
    /// the data.
    pub(super) async fn read<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T> + Send + 'static,
    {
        let readers = self.readers.clone();
        let path = self.path.clone();
        tokio::task::spawn_blocking(move || with_reader(&readers, &path, f))
            .await
            .map_err(|_| StoreError::Closed)?
    }

    /// Runs `f` on a reader connection right here: for lookups by key, which take microseconds
    /// (a WAL reader never waits for the writer), less than handing them to another thread.
    pub(super) fn lookup<T>(&self, f: impl FnOnce(&Connection) -> Result<T>) -> Result<T> {
        with_reader(&self.readers, &self.path, f)
    }
}

fn with_reader<T>(
    readers: &Mutex<Vec<Connection>>,
    path: &Path,
    f: impl FnOnce(&Connection) -> Result<T>,
) -> Result<T> {
    let pooled = readers.lock().map_err(|_| StoreError::Closed)?.pop();
    let conn = match pooled {
        Some(c) => c,
        None => open_connection(path)?,
    };
    let result = f(&conn);
    if let Ok(mut pool) = readers.lock() {
        if pool.len() < MAX_IDLE_READERS {
            pool.push(conn);
        }
    }
    result
}

fn in_savepoint<T>(conn: &Connection, f: impl FnOnce(&Connection) -> Result<T>) -> Result<T> {
    conn.prepare_cached("SAVEPOINT job")?.execute([])?;
    let result = f(conn);
    if result.is_err() {
        conn.prepare_cached("ROLLBACK TO job")?.execute([])?;
    }
    conn.prepare_cached("RELEASE job")?.execute([])?;
    result
}

fn writer_loop(conn: Connection, rx: mpsc::Receiver<Job>, durable: mpsc::Sender<Vec<Answer>>) {
    while let Ok(first) = rx.recv() {
        let mut completions: Vec<Answer> = Vec::with_capacity(64);
        if let Err(e) = conn.execute_batch("BEGIN IMMEDIATE") {
            tracing::error!(error = %e, "SQLite writer could not begin a transaction");
            first(None)(Err(StoreError::Commit(e.to_string())));
            continue;
        }
        let started = std::time::Instant::now();
        completions.push(first(Some(&conn)));
        while completions.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(job) => completions.push(job(Some(&conn))),
                Err(_) => break,
            }
        }
        let executed = started.elapsed();
        let commit = conn.execute_batch("COMMIT").map_err(|e| e.to_string());
        tracing::trace!(
            jobs = completions.len(),
            exec_us = executed.as_micros() as u64,
            commit_us = (started.elapsed() - executed).as_micros() as u64,
            "sqlite batch"
        );
        match commit {
            Ok(()) => {
                if let Err(mpsc::SendError(completions)) = durable.send(completions) {
                    for done in completions {
                        done(Err(StoreError::Closed));
                    }
                }
            }
            Err(e) => {
                let _ = conn.execute_batch("ROLLBACK");
                for done in completions {
                    done(Err(StoreError::Commit(e.clone())));
                }
            }
        }
    }
}
