//! The dispatcher: takes leases on channels, and for each channel it owns runs a worker that
//! claims due messages, paces them, calls the provider and records what came of it.

use chasqui_domain::ChannelId;
mod policy;
mod worker;

use std::collections::HashMap;
use std::sync::Arc;

use chasqui_store::Store;
use tokio::sync::{watch, Notify};
use tokio::task::JoinHandle;

use crate::channels::ChannelDirectory;
use crate::clock::now_ms;
use crate::config::DispatcherConfig;

pub use policy::{codes, decide, unresolved, Throttle};

/// The dispatcher of one process.
pub struct Dispatcher {
    store: Arc<dyn Store>,
    channels: Arc<ChannelDirectory>,
    cfg: DispatcherConfig,
    /// This process's worker id, used in leases.
    owner: String,
    wake: Arc<Notify>,
    /// Set once by [`Dispatcher::observe`]; unset records nothing.
    metrics: std::sync::OnceLock<crate::telemetry::Metrics>,
}

impl Dispatcher {
    /// A dispatcher for this process.
    pub fn new(
        store: Arc<dyn Store>,
        channels: Arc<ChannelDirectory>,
        cfg: DispatcherConfig,
        owner: String,
        wake: Arc<Notify>,
    ) -> Arc<Self> {
        Arc::new(Self {
            store,
            channels,
            cfg,
            owner,
            wake,
            metrics: std::sync::OnceLock::new(),
        })
    }

    /// Records this dispatcher's provider calls and failures in `metrics` (before `run`).
    pub fn observe(&self, metrics: crate::telemetry::Metrics) {
        let _ = self.metrics.set(metrics);
    }

    /// Runs until `shutdown` turns true, then stops claiming, lets in-flight calls finish,
    /// returns unsent claims and gives up its channel leases.
    pub async fn run(self: Arc<Self>, mut shutdown: watch::Receiver<bool>) {
        let mut workers: HashMap<ChannelId, (JoinHandle<()>, watch::Sender<bool>)> = HashMap::new();
        let renew =
            std::time::Duration::from_millis((self.cfg.channel_lease_ms / 3).max(50) as u64);
        loop {
            if let Err(e) = self.channels.refresh().await {
                tracing::warn!(error = %e, "refreshing channels failed");
            }
            match self
                .store
                .lease_channels(&self.owner, now_ms(), self.cfg.channel_lease_ms)
                .await
            {
                Ok(owned) => {
                    let owned: Vec<ChannelId> = owned.into_iter().map(|c| c.id).collect();
                    workers.retain(|id, (handle, stop)| {
                        let keep = owned.contains(id) && !handle.is_finished();
                        if !keep {
                            let _ = stop.send(true);
                        }
                        keep
                    });
                    for id in owned {
                        if let std::collections::hash_map::Entry::Vacant(slot) = workers.entry(id) {
                            let (stop_tx, stop_rx) = watch::channel(false);
                            let handle =
                                tokio::spawn(self.clone().work(slot.key().clone(), stop_rx));
                            slot.insert((handle, stop_tx));
                        }
                    }
                }
                Err(e) => tracing::warn!(error = %e, "leasing channels failed"),
            }
            tokio::select! {
                _ = shutdown.changed() => break,
                _ = tokio::time::sleep(renew) => {}
                // A channel made meanwhile sends its first message without waiting for renewal.
                _ = self.channels.channel_added() => {}
            }
            if *shutdown.borrow() {
                break;
            }
        }
        for (_, (handle, stop)) in workers.drain() {
            let _ = stop.send(true);
            let _ = handle.await;
        }
        if let Err(e) = self.store.release_channels(&self.owner).await {
            tracing::warn!(error = %e, "releasing channel leases failed");
        }
    }
}
