//! One channel's worker: claim, pace, send, record.

use chasqui_domain::ChannelId;
use chasqui_domain::MessageId;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use chasqui_domain::pacing::TokenBucket;
use chasqui_domain::template_registry::TemplateCategory;
use chasqui_domain::MetaError;
use chasqui_provider::{SendPath, SendRequest};
use chasqui_store::{ClaimRequest, Claimed, Outcome, OutcomeRecord};
use rand::Rng;
use tokio::sync::{mpsc, watch, Semaphore};
use tokio::task::JoinSet;
use tracing::Instrument;

use super::policy::{self, codes, Throttle};
use super::Dispatcher;
use crate::channels::LiveChannel;
use crate::clock::now_ms;

/// How often a worker looks for unknown outcomes whose wait has ended.
const UNKNOWN_CHECK_MS: i64 = 500;

/// Pair buckets idle this long are forgotten, so the map does not grow without bound.
const PAIR_IDLE_MS: i64 = 10 * 60_000;

struct Pacer {
    rate: i64,
    channel: TokenBucket,
    pair_interval_ms: i64,
    pair_burst: i64,
    pairs: HashMap<String, (TokenBucket, i64)>,
}

impl Pacer {
    fn new(ch: &LiveChannel, now: i64) -> Self {
        let rate = ch.channel.rate_per_sec;
        Self {
            rate,
            // A one-second burst lets a quiet channel start at full speed without exceeding the rate on average.
            channel: TokenBucket::new(rate as f64, rate.max(1) as f64, now as u64),
            pair_interval_ms: ch.channel.pair_interval_ms,
            pair_burst: ch.channel.pair_burst,
            pairs: HashMap::new(),
        }
    }

    fn matches(&self, ch: &LiveChannel) -> bool {
        self.rate == ch.channel.rate_per_sec
            && self.pair_interval_ms == ch.channel.pair_interval_ms
            && self.pair_burst == ch.channel.pair_burst
    }

    /// `Err(wait_ms)` when this recipient must wait.
    fn pair(&mut self, recipient: &str, now: i64) -> Result<(), u64> {
        if self.pair_interval_ms <= 0 {
            return Ok(());
        }
        let rate = 1000.0 / self.pair_interval_ms as f64;
        let burst = self.pair_burst.max(1) as f64;
        let (bucket, seen) = self
            .pairs
            .entry(recipient.to_string())
            .or_insert_with(|| (TokenBucket::new(rate, burst, now as u64), now));
        *seen = now;
        bucket.try_take(now as u64)
    }

    fn throttle(&mut self, t: Throttle) {
        match t {
            Throttle::Channel(until) => self.channel.pause_until(until as u64),
            Throttle::Pair(recipient, until) => {
                if let Some((bucket, _)) = self.pairs.get_mut(&recipient) {
                    bucket.pause_until(until as u64);
                }
            }
        }
    }

    fn forget_idle(&mut self, now: i64) {
        if self.pairs.len() > 1024 {
            self.pairs.retain(|_, (_, seen)| now - *seen < PAIR_IDLE_MS);
        }
    }
}

/// The metric and span name of a provider call's outcome.
fn outcome_label(o: &Outcome) -> &'static str {
    match o {
        Outcome::Sent { .. } => "sent",
        Outcome::Retry { .. } => "retry",
        Outcome::Failed { .. } => "failed",
        Outcome::Unknown { .. } => "unknown",
        Outcome::Defer { .. } => "deferred",
        Outcome::Resend { .. } => "resend",
    }
}

impl Dispatcher {
    /// Works one channel until `stop` turns true.
    pub(super) async fn work(
        self: Arc<Self>,
        channel_id: ChannelId,
        mut stop: watch::Receiver<bool>,
    ) {
        let permits = Arc::new(Semaphore::new(self.cfg.max_in_flight));
        let (throttles_tx, mut throttles) = mpsc::unbounded_channel::<Throttle>();
        let (outcomes, recorded) = mpsc::unbounded_channel::<OutcomeRecord>();
        let recorder = tokio::spawn(self.clone().record_loop(recorded));
        let mut in_flight = JoinSet::new();
        let mut pacer: Option<Pacer> = None;
        let poll = Duration::from_millis(self.cfg.poll_ms);
        // Unknown outcomes wait for seconds to minutes: looking twice a second is plenty, and
        // keeps a read off every claim round.
        let mut unknowns_checked = 0i64;
        'outer: while !*stop.borrow() {
            while in_flight.try_join_next().is_some() {}
            let Some(live) = self.channels.get(&channel_id) else {
                tokio::time::sleep(poll).await;
                continue;
            };
            let now = now_ms();
            let pace = match pacer.take() {
                Some(p) if p.matches(&live) => pacer.insert(p),
                _ => pacer.insert(Pacer::new(&live, now)),
            };
            while let Ok(t) = throttles.try_recv() {
                pace.throttle(t);
            }
            pace.forget_idle(now);
            if now - unknowns_checked >= UNKNOWN_CHECK_MS {
                unknowns_checked = now;
                self.resolve_unknowns(&channel_id, now).await;
            }

            let notified = self.wake.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            let room = permits.available_permits().min(self.cfg.batch as usize);
            let claimed = if room == 0 {
                Vec::new()
            } else {
                let req = ClaimRequest {
                    owner: self.owner.clone(),
                    channel_id: channel_id.clone(),
                    now,
                    limit: room as i64,
                    lease_ms: self.cfg.lease_ms,
                    reconcile_ms: self.cfg.unknown_outcome_wait_ms,
                };
                match self.store.claim(&req).await {
                    Ok(c) => c,
                    Err(e) => {
                        tracing::warn!(error = %e, "claiming failed");
                        Vec::new()
                    }
                }
            };
            if claimed.is_empty() {
                tokio::select! {
                    _ = &mut notified => {}
                    _ = tokio::time::sleep(poll) => {}
                    _ = stop.changed() => {}
                    Some(_) = in_flight.join_next(), if !in_flight.is_empty() => {}
                }
                continue;
            }
            let mut pending = claimed.into_iter();
            while let Some(c) = pending.next() {
                if *stop.borrow() {
                    let rest: Vec<MessageId> = std::iter::once(c)
                        .chain(pending)
                        .map(|c| c.message_id)
                        .collect();
                    self.release(&rest).await;
                    break 'outer;
                }
                while let Err(wait) = pace.channel.try_take(now_ms() as u64) {
                    tokio::time::sleep(Duration::from_millis(wait.max(1))).await;
                }
                // The pair rate is judged at send time, after any wait for the channel.
                let now = now_ms();
                if let Err(wait) = pace.pair(&c.recipient, now) {
                    let until = now + wait as i64;
                    let outcome = Outcome::Defer { until };
                    let _ = outcomes.send(OutcomeRecord {
                        message_id: c.message_id,
                        started_at: None,
                        outcome,
                    });
                    continue;
                }
                let Ok(permit) = permits.clone().acquire_owned().await else {
                    break 'outer;
                };
                let me = self.clone();
                let live = live.clone();
                let throttles = throttles_tx.clone();
                let outcomes = outcomes.clone();
                in_flight.spawn(async move {
                    let done = me.send(&live, c, throttles).await;
                    let _ = outcomes.send(done);
                    drop(permit);
                });
            }
        }
        // Stop claiming; let calls already made finish and be recorded.
        while in_flight.join_next().await.is_some() {}
        drop(outcomes);
        let _ = recorder.await;
    }

    /// Writes outcomes in batches: one transaction for everything that finished meanwhile.
    async fn record_loop(self: Arc<Self>, mut rx: mpsc::UnboundedReceiver<OutcomeRecord>) {
        const MAX_BATCH: usize = 512;
        let mut batch = Vec::with_capacity(MAX_BATCH);
        while rx.recv_many(&mut batch, MAX_BATCH).await > 0 {
            self.record(std::mem::take(&mut batch)).await;
        }
    }

    /// Calls the provider and decides the outcome to record.
    async fn send(
        &self,
        live: &LiveChannel,
        c: Claimed,
        throttles: mpsc::UnboundedSender<Throttle>,
    ) -> OutcomeRecord {
        let started = now_ms();
        let body: serde_json::Value = match serde_json::from_str(&c.body) {
            Ok(b) => b,
            Err(e) => {
                let error = MetaError {
                    code: codes::CORRUPT_BODY,
                    title: "stored body unreadable".into(),
                    details: Some(e.to_string()),
                };
                if let Some(m) = self.metrics.get() {
                    m.failed(&live.channel.workspace_id, &live.channel.id, error.code);
                }
                let outcome = Outcome::Failed { at: started, error };
                return OutcomeRecord {
                    message_id: c.message_id,
                    started_at: None,
                    outcome,
                };
            }
        };
        // One span per attempt; the recipient and the body stay out of it.
        let span = tracing::info_span!(
            "dispatch_attempt",
            message_id = %c.message_id,
            channel = %live.channel.id,
            attempt = c.attempts + 1,
            outcome = tracing::field::Empty,
        );
        let path = self.send_path(live, &body).await;
        let called = std::time::Instant::now();
        let answer = live
            .provider
            .send(SendRequest {
                message_id: &c.message_id,
                to: &c.recipient,
                body: &body,
                path,
            })
            .instrument(span.clone())
            .await;
        let took = called.elapsed();
        let random: f64 = rand::rng().random();
        let (outcome, throttle) = policy::decide(&self.cfg, &c, answer, now_ms(), random);
        let label = outcome_label(&outcome);
        span.record("outcome", label);
        span.in_scope(|| tracing::debug!(took_ms = took.as_millis() as u64, "provider call"));
        if let Some(m) = self.metrics.get() {
            m.provider_call(&live.channel.id, label, took);
            if let Outcome::Failed { error, .. } = &outcome {
                m.failed(&live.channel.workspace_id, &live.channel.id, error.code);
            }
        }
        if let Some(t) = throttle {
            let _ = throttles.send(t);
        }
        OutcomeRecord {
            message_id: c.message_id,
            started_at: Some(started),
            outcome,
        }
    }

    /// Where a message goes: a channel's MARKETING templates through the Marketing Messages API
    /// when it opted in, everything else through `/messages`. The category is read when the
    /// message is sent, not when it was accepted: Meta may have recategorised the template since,
    /// and the other endpoint would refuse it.
    async fn send_path(&self, live: &LiveChannel, body: &serde_json::Value) -> SendPath {
        if !live.channel.marketing_messages {
            return SendPath::Messages;
        }
        let text = |pointer: &str| body.pointer(pointer).and_then(serde_json::Value::as_str);
        let (Some(name), Some(language)) =
            (text("/template/name"), text("/template/language/code"))
        else {
            return SendPath::Messages;
        };
        match self
            .store
            .get_template(&live.channel.id, name, language)
            .await
        {
            Ok(Some(t)) if t.template.category == TemplateCategory::Marketing => {
                SendPath::MarketingMessages
            }
            Ok(_) => SendPath::Messages,
            Err(e) => {
                tracing::warn!(error = %e, template = name, "template category unknown; sending through /messages");
                SendPath::Messages
            }
        }
    }

    async fn record(&self, outcomes: Vec<OutcomeRecord>) {
        // If this fails the leases expire and the messages become unknown outcomes, which status
        // webhooks or the unknown-outcome policy resolve: never a blind resend.
        if let Err(e) = self.store.record_outcomes(&self.owner, outcomes).await {
            tracing::error!(error = %e, "recording outcomes failed");
        }
    }

    async fn release(&self, ids: &[MessageId]) {
        if let Err(e) = self.store.release_claims(&self.owner, ids, now_ms()).await {
            tracing::warn!(error = %e, "returning claims failed; their leases will expire");
        }
    }

    async fn resolve_unknowns(&self, channel_id: &ChannelId, now: i64) {
        let expired = match self.store.expired_unknowns(channel_id, now, 256).await {
            Ok(ids) => ids,
            Err(e) => {
                tracing::warn!(error = %e, "reading unknown outcomes failed");
                return;
            }
        };
        let resolved: Vec<OutcomeRecord> = expired
            .into_iter()
            .map(|id| {
                tracing::warn!(message_id = %id, "no status webhook named the message in time");
                OutcomeRecord {
                    message_id: id,
                    started_at: None,
                    outcome: policy::unresolved(&self.cfg, now),
                }
            })
            .collect();
        if let (Some(m), Some(live)) = (self.metrics.get(), self.channels.get(channel_id)) {
            for r in &resolved {
                if let Outcome::Failed { error, .. } = &r.outcome {
                    m.failed(&live.channel.workspace_id, channel_id, error.code);
                }
            }
        }
        if !resolved.is_empty() {
            self.record(resolved).await;
        }
    }
}
