//! WAL checkpoints on their own thread and connection.
//!
//! An automatic checkpoint runs inside the commit that crosses the threshold, so the writer, and
//! every request waiting on it, stalls while pages are copied back and the database file is
//! fsynced. A passive checkpoint from another connection does most of that work without holding
//! up the writer. Only the writer's own checkpoint can let the WAL start over (under constant
//! writes a passive one never finds it entirely copied), so the writer keeps its automatic
//! checkpoint, which then only copies what arrived since the last passive one.

use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::Duration;

use super::runtime::open_connection;
use super::wal_sync::Stopped;

/// How often the checkpointer copies committed pages back to the database file.
const INTERVAL: Duration = Duration::from_millis(250);

/// The running checkpointer.
pub(super) struct Checkpointer {
    stop: mpsc::Sender<()>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Checkpointer {
    /// Stops the checkpointer and waits until its connection is closed.
    pub(super) fn stop(self) {
        drop(self.stop);
        if let Some(thread) = self.thread {
            let _ = thread.join();
        }
    }
}

/// Starts the checkpointer of the database at `database`; it stops copying once `stopped` is set.
pub(super) fn start(database: &Path, stopped: Stopped) -> Checkpointer {
    let (stop, rx) = mpsc::channel::<()>();
    let path = database.to_path_buf();
    let thread = std::thread::Builder::new()
        .name("chasqui-sqlite-checkpoint".into())
        .spawn(move || checkpoint_loop(path, rx, stopped))
        .inspect_err(|e| tracing::error!(error = %e, "cannot start the SQLite checkpoint thread"))
        .ok();
    Checkpointer { stop, thread }
}

fn checkpoint_loop(path: PathBuf, stop: mpsc::Receiver<()>, stopped: Stopped) {
    let conn = match open_connection(&path) {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(error = %e, "SQLite checkpoints fall back to the writer");
            return;
        }
    };
    while let Err(mpsc::RecvTimeoutError::Timeout) = stop.recv_timeout(INTERVAL) {
        // After a failed fsync the WAL may hold frames that never reached the disk: they are
        // not copied into the database file (the next start recovers the WAL instead).
        if stopped.reason().is_some() {
            continue;
        }
        if let Err(e) = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(())) {
            tracing::debug!(error = %e, "passive checkpoint failed; the next one retries");
        }
    }
}
