//! Processing of stored Meta webhook deliveries: statuses, inbound messages, contacts and
//! marketing preferences.
//!
//! `POST /webhooks/meta` verifies and stores the body (so Meta gets its 200 at once and a crash
//! loses nothing); this worker applies each stored delivery afterwards. A delivery of statuses
//! alone is applied by the receiver itself instead (see [`statuses_only`]). Every step is
//! idempotent (statuses by dedupe key, messages by Meta's id), so a delivery processed twice
//! after a crash changes nothing the second time.

use chasqui_domain::ChannelId;
use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use chasqui_domain::backoff::Backoff;
use chasqui_domain::inbound::inbound_events;
use chasqui_domain::webhook::{status_updates, StatusUpdate};
use chasqui_store::{InboxFinish, InboxItem, Store};
use serde_json::Value;
use tokio::sync::{watch, Notify};

use super::inbound;
use crate::channels::ChannelDirectory;
use crate::clock::now_ms;

/// Deliveries processed per round.
const BATCH: i64 = 32;
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

/// The statuses of a delivery that holds nothing else (no messages, contacts, template events
/// or other changes), which the receiver applies at once; `None` for anything else.
pub fn statuses_only(payload: &Value) -> Option<Vec<StatusUpdate>> {
    let updates = status_updates(payload).ok().filter(|u| !u.is_empty())?;
    let rest = inbound_events(payload).ok()?;
    let nothing_else = rest.messages.is_empty()
        && rest.contacts.is_empty()
        && rest.template_events.is_empty()
        && rest.preferences.is_empty()
        && rest.ignored_changes == 0;
    nothing_else.then_some(updates)
}

/// Statuses of the deliveries verified for the same channels, with those deliveries' seqs.
type StatusGroup<'a> = (&'a [(String, ChannelId)], Vec<StatusUpdate>, Vec<i64>);

/// The webhook processor.
pub struct Ingest {
    store: Arc<dyn Store>,
    channels: Arc<ChannelDirectory>,
    wake: Arc<Notify>,
    owner: String,
    /// How long a claimed delivery stays this worker's if it goes silent
    /// (`webhooks.inbox_lease_ms`); renewed every third of it while a batch is processed.
    lease_ms: i64,
    /// Counts the statuses it applies.
    metrics: crate::telemetry::Metrics,
    /// Tells live views what changed.
    live: crate::live::Live,
}

impl Ingest {
    /// A processor; `wake` is notified by the receiver after each stored delivery, `lease_ms`
    /// is how long its claims outlive it.
    pub fn new(
        store: Arc<dyn Store>,
        channels: Arc<ChannelDirectory>,
        wake: Arc<Notify>,
        owner: String,
        lease_ms: i64,
    ) -> Self {
        Self {
            store,
            channels,
            wake,
            owner,
            lease_ms,
            metrics: crate::telemetry::Metrics::off(),
            live: crate::live::Live::default(),
        }
    }

    /// Tells `live` about the messages and statuses this processor applies.
    pub fn with_live(mut self, live: crate::live::Live) -> Self {
        self.live = live;
        self
    }

    /// Counts the statuses this processor applies in `metrics`.
    pub fn with_metrics(mut self, metrics: crate::telemetry::Metrics) -> Self {
        self.metrics = metrics;
        self
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
            .claim_webhooks(&self.owner, now_ms(), self.lease_ms, BATCH)
            .await?;
        if items.is_empty() {
            return Ok(0);
        }
        let mut errors = self.while_leased(&items, self.apply(&items)).await;
        let now = now_ms();
        let mut finished = Vec::with_capacity(items.len());
        for item in &items {
            let error = match errors.remove(&item.seq) {
                Some(e) if item.attempts + 1 >= MAX_ATTEMPTS => {
                    tracing::error!(seq = item.seq, error = %e, "webhook delivery set aside after repeated failures");
                    None
                }
                other => other,
            };
            let attempt = u32::try_from(item.attempts + 1).unwrap_or(u32::MAX);
            let delay = RETRY.delay(attempt, rand::random::<f64>());
            let retry_at = now + i64::try_from(delay.as_millis()).unwrap_or(i64::MAX / 2);
            finished.push(InboxFinish {
                seq: item.seq,
                error,
                retry_at,
            });
        }
        self.store.finish_webhooks(finished, now).await?;
        Ok(items.len())
    }

    /// Runs `work` on claimed `items`, renewing their leases every third of the lease until it
    /// is done, so a slow batch stays this worker's while a dead worker's lapses quickly.
    async fn while_leased<T>(&self, items: &[InboxItem], work: impl Future<Output = T>) -> T {
        let seqs: Vec<i64> = items.iter().map(|i| i.seq).collect();
        let every = Duration::from_millis(u64::try_from(self.lease_ms / 3).unwrap_or(1).max(1));
        tokio::pin!(work);
        loop {
            tokio::select! {
                done = &mut work => return done,
                _ = tokio::time::sleep(every) => {
                    // Awaited whole (the batch waits those milliseconds) so no renewal is cut
                    // off midway; a failed one only lets the lease lapse: another worker then
                    // applies the batch again, which changes nothing twice.
                    let renewed = self
                        .store
                        .renew_webhooks(&self.owner, &seqs, now_ms(), self.lease_ms)
                        .await;
                    if let Err(e) = renewed {
                        tracing::warn!(error = %e, "renewing webhook delivery leases failed");
                    }
                }
            }
        }
    }

    /// Applies a claimed batch; answers the deliveries that failed, with why.
    async fn apply(&self, items: &[InboxItem]) -> HashMap<i64, String> {
        let mut errors: HashMap<i64, String> = HashMap::new();
        let mut payloads = Vec::with_capacity(items.len());
        for item in items {
            match serde_json::from_str::<Value>(&item.body) {
                Ok(payload) => payloads.push((item, payload)),
                Err(e) => {
                    errors.insert(item.seq, e.to_string());
                }
            }
        }
        // Statuses first, every delivery verified for the same channels in one store call:
        // applying statuses is idempotent and monotonic, so their order across deliveries does
        // not matter, and one call is one transaction instead of one per delivery.
        let mut groups: Vec<StatusGroup<'_>> = Vec::new();
        for (item, payload) in &payloads {
            match status_updates(payload) {
                Ok(updates) if updates.is_empty() => {}
                Ok(updates) => match groups.iter_mut().find(|g| g.0 == item.channels.as_slice()) {
                    Some(group) => {
                        group.1.extend(updates);
                        group.2.push(item.seq);
                    }
                    None => groups.push((item.channels.as_slice(), updates, vec![item.seq])),
                },
                Err(e) => {
                    errors.insert(item.seq, e.to_string());
                }
            }
        }
        for (channels, updates, seqs) in groups {
            match self.store.apply_statuses(channels, updates, now_ms()).await {
                Ok(report) => {
                    self.metrics.status_changes(&report.changes, now_ms());
                    self.live
                        .changed_all(report.changes.iter().map(|c| &c.workspace_id));
                    if report.unmatched > 0 {
                        tracing::debug!(
                            unmatched = report.unmatched,
                            "statuses naming no known message"
                        );
                    }
                }
                Err(e) => errors.extend(seqs.iter().map(|seq| (*seq, e.to_string()))),
            }
        }
        // The rest in delivery order: template events and inbound messages keep their sequence.
        for (item, payload) in &payloads {
            if errors.contains_key(&item.seq) {
                continue;
            }
            if let Err(e) = self.process(item, payload).await {
                errors.insert(item.seq, e);
            }
        }
        errors
    }

    /// The messages to mark read at once: those of `auto_read` channels with a known sender.
    fn auto_read(
        &self,
        messages: &[chasqui_store::InboundRecord],
    ) -> Vec<(Arc<dyn chasqui_provider::Provider>, String)> {
        messages
            .iter()
            .filter(|m| m.from.wa_id.is_some() || m.from.user_id.is_some())
            .filter_map(|m| {
                let live = self.channels.get(&m.channel_id)?;
                live.channel
                    .auto_read
                    .then(|| (live.provider.clone(), m.meta_id.clone()))
            })
            .collect()
    }

    /// Applies the rest of one delivery (its statuses went in `round`): template events,
    /// marketing preferences, contacts, inbound messages (with their keywords) and their media.
    async fn process(&self, item: &InboxItem, payload: &Value) -> Result<(), String> {
        let now = now_ms();
        let batch = inbound_events(payload).map_err(|e| e.to_string())?;
        super::apply_template_events(
            &self.store,
            &self.channels,
            &item.channels,
            &batch.template_events,
        )
        .await
        .map_err(|e| e.to_string())?;
        super::consent::apply_preferences(&self.store, &batch, &item.channels, &self.channels)
            .await
            .map_err(|e| e.to_string())?;
        let (sightings, mut messages) = inbound::records(&batch, &item.channels, &self.channels);
        super::consent::mark_keywords(&self.store, &batch, &mut messages)
            .await
            .map_err(|e| e.to_string())?;
        let media = crate::media::inbound_rows(&messages);
        let to_mark_read = self.auto_read(&messages);
        let workspaces: Vec<chasqui_domain::WorkspaceId> =
            messages.iter().map(|m| m.workspace_id.clone()).collect();
        if !sightings.is_empty() || !messages.is_empty() {
            self.store
                .record_inbound(sightings, messages, now)
                .await
                .map_err(|e| e.to_string())?;
            self.live.changed_all(&workspaces);
        }
        for (provider, wamid) in to_mark_read {
            // Best effort, after the commit: a receipt lost to a crash or a provider failure
            // only leaves the ticks grey, and Meta treats a repeated one as the same.
            tokio::spawn(async move {
                if let Err(e) = provider.mark_read(&wamid, false).await {
                    tracing::warn!(wamid = %wamid, error = %e, "auto_read: the read receipt failed");
                }
            });
        }
        crate::media::record_inbound(self.store.as_ref(), media)
            .await
            .map_err(|e| e.to_string())?;
        Ok(())
    }
}
