//! The SQLite execution model: one writer thread that group-commits, and reader connections.
//!
//! Every write job runs inside one shared `BEGIN IMMEDIATE … COMMIT`; callers are answered only
//! after the commit is on disk (`wal_sync` fsyncs it while the writer goes on with the next
//! batch). Concurrent requests thus share one fsync instead of queueing for one each, which is
//! what lifts accepted messages per second. After a failed fsync the runtime is stopped: every
//! write is refused without running, and the WAL is left for the next start to recover.
//!
//! A failing job must not undo the others, nor leave half its writes in their commit. Jobs run
//! without a savepoint each (one costs two statements and a copy of every page the job touches);
//! when one fails, the whole transaction is rolled back and the batch runs again with each job in
//! its own savepoint. So a job may run twice: it must only touch the database.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{mpsc, Arc, Mutex};

use rusqlite::Connection;
use tokio::sync::oneshot;

use super::checkpoint;
use super::wal_sync::{self, Answer, Stopped};
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

/// A write job queued for the writer.
trait Job: Send {
    /// Runs the work on the writer's connection, in a savepoint of its own if `isolated`;
    /// answers whether it succeeded. A later run replaces the earlier one's result.
    fn run(&mut self, conn: &mut Connection, isolated: bool) -> bool;
    /// Fails the job without running it.
    fn fail(&mut self, error: StoreError);
    /// The answer to its caller, given the outcome of the commit.
    fn answer(self: Box<Self>) -> Answer;
}

/// A closure, its last result and its caller.
struct Work<T, F> {
    f: F,
    result: Option<Result<T>>,
    caller: oneshot::Sender<Result<T>>,
}

impl<T, F> Job for Work<T, F>
where
    T: Send + 'static,
    F: Fn(&mut Connection) -> Result<T> + Send + 'static,
{
    fn run(&mut self, conn: &mut Connection, isolated: bool) -> bool {
        let result = if isolated {
            in_savepoint(conn, &self.f)
        } else {
            (self.f)(conn)
        };
        let ok = result.is_ok();
        self.result = Some(result);
        ok
    }

    fn fail(&mut self, error: StoreError) {
        self.result = Some(Err(error));
    }

    fn answer(self: Box<Self>) -> Answer {
        let Work { result, caller, .. } = *self;
        Box::new(move |commit: Result<()>| {
            let result =
                result.unwrap_or_else(|| Err(StoreError::Commit("the job never ran".into())));
            let _ = caller.send(commit.and(result));
        })
    }
}

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
pub(crate) struct Runtime {
    /// Taken when the runtime is dropped: closing the queue is what stops the writer.
    jobs: Option<mpsc::Sender<Box<dyn Job>>>,
    writer: Option<std::thread::JoinHandle<()>>,
    checkpoints: Option<checkpoint::Checkpointer>,
    readers: Arc<Mutex<Vec<Connection>>>,
    path: PathBuf,
    /// The writer connection's `total_changes()` after its latest batch.
    rows_changed: Arc<AtomicU64>,
    stopped: Stopped,
}

impl Drop for Runtime {
    /// Closes every other connection first, then waits for the writer to finish its queue and
    /// close: the last connection to close checkpoints the WAL and deletes it, so a stopped
    /// Chasqui leaves one self-contained database file (safe to copy alone).
    fn drop(&mut self) {
        if let Some(checkpoints) = self.checkpoints.take() {
            checkpoints.stop();
        }
        if let Ok(mut idle) = self.readers.lock() {
            idle.clear();
        }
        drop(self.jobs.take());
        if let Some(writer) = self.writer.take() {
            if writer.thread().id() != std::thread::current().id() {
                let _ = writer.join();
            }
        }
    }
}

impl Runtime {
    /// Starts the writer on `writer` (already migrated).
    pub(super) fn start(path: PathBuf, writer: Connection) -> Result<Self> {
        // Commits no longer fsync themselves: the sync thread does, before anyone is answered.
        writer.pragma_update(None, "synchronous", "NORMAL")?;
        let stopped = Stopped::default();
        let durable = wal_sync::start(&path, stopped.clone());
        let (tx, rx) = mpsc::channel::<Box<dyn Job>>();
        let rows_changed = Arc::new(AtomicU64::new(writer.total_changes()));
        let counter = rows_changed.clone();
        let writer_stopped = stopped.clone();
        let writer = std::thread::Builder::new()
            .name("chasqui-sqlite-writer".into())
            .spawn(move || writer_loop(writer, rx, durable, &counter, writer_stopped))
            .map_err(|e| {
                StoreError::Commit(format!("cannot start the SQLite writer thread: {e}"))
            })?;
        Ok(Self {
            jobs: Some(tx),
            writer: Some(writer),
            checkpoints: Some(checkpoint::start(&path, stopped.clone())),
            readers: Arc::new(Mutex::new(Vec::new())),
            path,
            rows_changed,
            stopped,
        })
    }

    /// Why writes are refused, once a failed fsync stopped them (until the process ends).
    pub(super) fn stopped(&self) -> Option<String> {
        self.stopped.reason()
    }

    /// Runs `f` in the writer's transaction and answers after the commit. `f` may run twice
    /// (see the module's documentation): it must only touch the database.
    pub(super) async fn write<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: Fn(&Connection) -> Result<T> + Send + 'static,
    {
        self.write_mut(move |c| f(c)).await
    }

    /// [`Runtime::write`], for work that needs the connection `mut` (the shared SQL layer's).
    pub(crate) async fn write_mut<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: Fn(&mut Connection) -> Result<T> + Send + 'static,
    {
        if let Some(stopped) = self.stopped.error() {
            return Err(stopped);
        }
        let (caller, rx) = oneshot::channel::<Result<T>>();
        let job: Box<dyn Job> = Box::new(Work {
            f,
            result: None,
            caller,
        });
        self.jobs
            .as_ref()
            .ok_or(StoreError::Closed)?
            .send(job)
            .map_err(|_| StoreError::Closed)?;
        rx.await.map_err(|_| StoreError::Closed)?
    }

    /// Runs `f` on a reader connection in the blocking pool: for scans, whose time grows with
    /// the data.
    pub(super) async fn read<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T> + Send + 'static,
    {
        self.read_mut(move |c| f(c)).await
    }

    /// [`Runtime::read`], for work that needs the connection `mut` (the shared SQL layer's).
    pub(crate) async fn read_mut<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> Result<T> + Send + 'static,
    {
        let readers = self.readers.clone();
        let path = self.path.clone();
        tokio::task::spawn_blocking(move || with_reader(&readers, &path, f))
            .await
            .map_err(|_| StoreError::Closed)?
    }

    /// Runs `f` on a reader connection right here: for lookups by key, which take microseconds
    /// (a WAL reader never waits for the writer), less than handing them to another thread.
    pub(crate) fn lookup_mut<T>(&self, f: impl FnOnce(&mut Connection) -> Result<T>) -> Result<T> {
        with_reader(&self.readers, &self.path, f)
    }
}

/// Rows changed as SQLite counts them (`sqlite3_total_changes`, triggers included) on the
/// writer's connection, the only one that writes; migrations count too.
impl crate::WriteCounters for super::SqliteStore {
    fn rows_changed(&self) -> Option<u64> {
        Some(self.rt.rows_changed.load(Ordering::Relaxed))
    }
}

fn with_reader<T>(
    readers: &Mutex<Vec<Connection>>,
    path: &Path,
    f: impl FnOnce(&mut Connection) -> Result<T>,
) -> Result<T> {
    let pooled = readers.lock().map_err(|_| StoreError::Closed)?.pop();
    let mut conn = match pooled {
        Some(c) => c,
        None => open_connection(path)?,
    };
    let result = f(&mut conn);
    if let Ok(mut pool) = readers.lock() {
        if pool.len() < MAX_IDLE_READERS {
            pool.push(conn);
        }
    }
    result
}

fn in_savepoint<T>(
    conn: &mut Connection,
    f: impl FnOnce(&mut Connection) -> Result<T>,
) -> Result<T> {
    conn.prepare_cached("SAVEPOINT job")?.execute([])?;
    let result = f(conn);
    if result.is_err() {
        conn.prepare_cached("ROLLBACK TO job")?.execute([])?;
    }
    conn.prepare_cached("RELEASE job")?.execute([])?;
    result
}

/// Runs a batch's jobs in one transaction: as they arrive and without savepoints while all
/// succeed; after a failure, all of them again from a fresh transaction, each isolated.
/// Answers whether the transaction is still open (the caller commits it).
fn run_batch(
    conn: &mut Connection,
    first: Box<dyn Job>,
    rx: &mpsc::Receiver<Box<dyn Job>>,
) -> (Vec<Box<dyn Job>>, bool) {
    let mut jobs = vec![first];
    let mut isolated = false;
    let mut i = 0;
    while i < jobs.len() {
        if !jobs[i].run(conn, isolated) && !isolated {
            // Some of its writes may have stuck: start over, every job in its own savepoint.
            tracing::debug!(
                jobs = jobs.len(),
                "a write job failed; its batch runs again isolated"
            );
            isolated = true;
            let restarted = conn
                .execute_batch("ROLLBACK; BEGIN IMMEDIATE")
                .map_err(|e| StoreError::Commit(e.to_string()));
            if let Err(e) = restarted {
                tracing::error!(error = %e, "SQLite writer could not restart a failed batch");
                for job in &mut jobs {
                    job.fail(StoreError::Commit(e.to_string()));
                }
                return (jobs, false);
            }
            i = 0;
            continue;
        }
        i += 1;
        if i == jobs.len() && jobs.len() < MAX_BATCH {
            if let Ok(job) = rx.try_recv() {
                jobs.push(job);
            }
        }
    }
    (jobs, true)
}

fn writer_loop(
    mut conn: Connection,
    rx: mpsc::Receiver<Box<dyn Job>>,
    durable: mpsc::Sender<Vec<Answer>>,
    rows_changed: &AtomicU64,
    stopped: Stopped,
) {
    while let Ok(mut first) = rx.recv() {
        // Stopped by a failed fsync: nothing more is written, since none of it could ever be
        // acknowledged (jobs queued before the stop are refused here too).
        if let Some(e) = stopped.error() {
            first.fail(e);
            first.answer()(Ok(()));
            continue;
        }
        if let Err(e) = conn.execute_batch("BEGIN IMMEDIATE") {
            tracing::error!(error = %e, "SQLite writer could not begin a transaction");
            first.fail(StoreError::Commit(e.to_string()));
            first.answer()(Ok(()));
            continue;
        }
        let started = std::time::Instant::now();
        let (jobs, open) = run_batch(&mut conn, first, &rx);
        let executed = started.elapsed();
        let commit = if open {
            conn.execute_batch("COMMIT").map_err(|e| e.to_string())
        } else {
            Ok(())
        };
        tracing::trace!(
            jobs = jobs.len(),
            exec_us = executed.as_micros() as u64,
            commit_us = (started.elapsed() - executed).as_micros() as u64,
            "sqlite batch"
        );
        rows_changed.store(conn.total_changes(), Ordering::Relaxed);
        let completions: Vec<Answer> = jobs.into_iter().map(|j| j.answer()).collect();
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
    if stopped.reason().is_some() {
        // Closing would checkpoint: copy WAL frames, some perhaps never written, into the
        // database file. Left alone, the WAL is replayed at the next start, which keeps only the
        // frames whose checksums hold.
        keep_wal_on_close(&conn);
    }
}

/// Makes closing `conn` leave the WAL in place instead of checkpointing it.
fn keep_wal_on_close(conn: &Connection) {
    use rusqlite::config::DbConfig;
    if let Err(e) = conn.set_db_config(DbConfig::SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, true) {
        tracing::warn!(error = %e, "the SQLite WAL may be checkpointed at close after all");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A job inserting `k`, failing after its insert when `fail` is set.
    fn insert(k: String, fail: bool) -> (Box<dyn Job>, oneshot::Receiver<Result<()>>) {
        let (caller, rx) = oneshot::channel();
        let f = move |c: &mut Connection| {
            c.execute("INSERT INTO t (k) VALUES (?1)", [&k])?;
            if fail {
                return Err(StoreError::Conflict(format!("{k} refused after writing")));
            }
            Ok(())
        };
        let job: Box<dyn Job> = Box::new(Work {
            f,
            result: None,
            caller,
        });
        (job, rx)
    }

    #[test]
    fn a_failing_job_leaves_nothing_and_undoes_no_other_job_of_its_batch() {
        let mut conn = Connection::open_in_memory().unwrap();
        conn.execute_batch("CREATE TABLE t (k TEXT PRIMARY KEY)")
            .unwrap();
        let (tx, rx) = mpsc::channel();
        let mut answers = Vec::new();
        let mut first = None;
        for i in 0..50 {
            let (job, answer) = insert(format!("k{i:02}"), i % 7 == 3);
            answers.push(answer);
            match first {
                None => first = Some(job),
                Some(_) => tx.send(job).unwrap(),
            }
        }
        conn.execute_batch("BEGIN IMMEDIATE").unwrap();
        let (jobs, open) = run_batch(&mut conn, first.unwrap(), &rx);
        assert!(open);
        assert_eq!(jobs.len(), 50, "every queued job shares the transaction");
        conn.execute_batch("COMMIT").unwrap();
        for job in jobs {
            job.answer()(Ok(()));
        }
        for (i, mut answer) in answers.into_iter().enumerate() {
            let result = answer.try_recv().unwrap();
            assert_eq!(result.is_ok(), i % 7 != 3, "job {i}: {result:?}");
        }
        let keys: Vec<String> = conn
            .prepare("SELECT k FROM t ORDER BY k")
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .collect::<rusqlite::Result<_>>()
            .unwrap();
        let expected: Vec<String> = (0..50)
            .filter(|i| i % 7 != 3)
            .map(|i| format!("k{i:02}"))
            .collect();
        assert_eq!(keys, expected);
    }
}
