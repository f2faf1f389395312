//! Processing of stored Meta webhook deliveries: statuses, inbound messages and contacts.
//!
//! `POST /webhooks/meta` only verifies and stores the body (so Meta gets its 200 at once and a
//! crash loses nothing); this worker applies each stored delivery afterwards. Every step is
//! idempotent (statuses by dedupe key, messages by Meta's id), so a delivery processed twice
//! after a crash changes nothing the second time.

use std::sync::Arc;
use std::time::Duration;

use chasqui_domain::backoff::Backoff;
use chasqui_domain::inbound::inbound_events;
use chasqui_domain::webhook::status_updates;
use chasqui_store::{InboxItem, Store};
use serde_json::Value;
use tokio::sync::{watch, Notify};

use super::inbound;
use crate::channels::ChannelDirectory;
use crate::clock::now_ms;

/// Deliveries processed per round.
const BATCH: i64 = 32;
/// How long a claimed delivery stays this worker's if it goes silent.
const LEASE_MS: i64 = 30_000;
/// How often to look for deliveries when nothing wakes the worker.
const POLL: Duration = Duration::from_secs(1);
/// A delivery that fails this often is set aside (logged) instead of retried forever; with
/// `RETRY` that is about a day of tries, so an outage of the database or a bug fixed by an
/// upgrade does not lose it.
const MAX_ATTEMPTS: i64 = 30;
/// Delay before trying a failed delivery again.
const RETRY: Backoff = Backoff {
    base: Duration::from_secs(1),
    max: Duration::from_secs(3_600),
};

/// The webhook processor.
pub struct Ingest {
    store: Arc<dyn Store>,
    channels: Arc<ChannelDirectory>,
    wake: Arc<Notify>,
    owner: String,
}

impl Ingest {
    /// A processor; `wake` is notified by the receiver after each stored delivery.
    pub fn new(
        store: Arc<dyn Store>,
        channels: Arc<ChannelDirectory>,
        wake: Arc<Notify>,
        owner: String,
    ) -> Self {
        Self {
            store,
            channels,
            wake,
            owner,
        }
    }

    /// Processes deliveries until `stop` turns true.
    pub async fn run(self, mut stop: watch::Receiver<bool>) {
        loop {
            let busy = match self.round().await {
                Ok(n) => n > 0,
                Err(e) => {
                    tracing::warn!(error = %e, "processing webhook deliveries failed");
                    false
                }
            };
            if *stop.borrow() {
                return;
            }
            if !busy {
                tokio::select! {
                    _ = self.wake.notified() => {}
                    _ = tokio::time::sleep(POLL) => {}
                    _ = stop.changed() => return,
                }
            }
        }
    }

    /// One round: claims and processes a batch; answers how many deliveries it took.
    async fn round(&self) -> Result<usize, chasqui_store::StoreError> {
        let items = self
            .store
            .claim_webhooks(&self.owner, now_ms(), LEASE_MS, BATCH)
            .await?;
        for item in &items {
            let outcome = self.process(item).await;
            let error = match outcome {
                Ok(()) => None,
                Err(e) if item.attempts + 1 >= MAX_ATTEMPTS => {
                    tracing::error!(seq = item.seq, error = %e, "webhook delivery set aside after repeated failures");
                    None
                }
                Err(e) => Some(e),
            };
            let now = now_ms();
            let attempt = u32::try_from(item.attempts + 1).unwrap_or(u32::MAX);
            let delay = RETRY.delay(attempt, rand::random::<f64>());
            let retry_at = now + i64::try_from(delay.as_millis()).unwrap_or(i64::MAX / 2);
            self.store
                .finish_webhook(item.seq, error, now, retry_at)
                .await?;
        }
        Ok(items.len())
    }

    /// Applies one delivery: its statuses, contacts and inbound messages.
    async fn process(&self, item: &InboxItem) -> Result<(), String> {
        let payload: Value = serde_json::from_str(&item.body).map_err(|e| e.to_string())?;
        let updates = status_updates(&payload).map_err(|e| e.to_string())?;
        let now = now_ms();
        if !updates.is_empty() {
            let report = self
                .store
                .apply_statuses(&item.channels, &updates, now)
                .await
                .map_err(|e| e.to_string())?;
            if report.unmatched > 0 {
                tracing::debug!(
                    unmatched = report.unmatched,
                    "statuses naming no known message"
                );
            }
        }
        let batch = inbound_events(&payload).map_err(|e| e.to_string())?;
        super::apply_template_events(
            &self.store,
            &self.channels,
            &item.channels,
            &batch.template_events,
        )
        .await
        .map_err(|e| e.to_string())?;
        let (sightings, messages) = inbound::records(&batch, &item.channels, &self.channels);
        let media = crate::media::inbound_rows(&messages);
        if !sightings.is_empty() || !messages.is_empty() {
            self.store
                .record_inbound(sightings, messages, now)
                .await
                .map_err(|e| e.to_string())?;
        }
        crate::media::record_inbound(self.store.as_ref(), media)
            .await
            .map_err(|e| e.to_string())?;
        Ok(())
    }
}
