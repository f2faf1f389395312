//! The store's own count of the rows it wrote, logged on `SIGUSR1` and at shutdown.
//!
//! `chasqui bench` reads it from the log to print SQLite's row writes per message (PostgreSQL's
//! come from `pg_stat_user_tables`); an operator may send the signal too. It is a log line, not
//! part of the HTTP API.

use std::sync::Arc;

use chasqui_store::Store;

/// Logs the store's count at shutdown, where the back end keeps one.
pub fn at_shutdown(store: &dyn Store) {
    if let Some(rows_changed) = store.rows_changed() {
        tracing::info!(rows_changed, when = "shutdown", "store writes");
    }
}

fn on_request(store: &dyn Store) {
    match store.rows_changed() {
        Some(rows_changed) => tracing::info!(rows_changed, when = "signal", "store writes"),
        None => tracing::info!("PostgreSQL counts this store's writes: see pg_stat_user_tables"),
    }
}

/// Logs the count on every `SIGUSR1` until aborted. The handler is in place when this returns,
/// so a signal sent once the server answers cannot end the process.
pub fn on_signal(store: Arc<dyn Store>) -> Option<tokio::task::JoinHandle<()>> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let mut signals = match signal(SignalKind::user_defined1()) {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!(error = %e, "cannot listen for SIGUSR1");
                return None;
            }
        };
        Some(tokio::spawn(async move {
            while signals.recv().await.is_some() {
                on_request(store.as_ref());
            }
        }))
    }
    #[cfg(not(unix))]
    {
        let _ = store;
        None
    }
}
