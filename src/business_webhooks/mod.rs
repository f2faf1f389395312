//! Webhooks to the business: the worker that delivers stored events to registered endpoints,
//! signed (Standard Webhooks), with exponential backoff and a log of every attempt.
//!
//! Every delivery runs as its own task under a global and a per-endpoint bound, with a request
//! timeout, so a slow or failing endpoint never delays another.

pub mod sign;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chasqui_store::{AttemptOutcome, AttemptRecord, DueDelivery, Store};
use rand::Rng;
use tokio::sync::{watch, Semaphore};

use crate::clock::{now_ms, rfc3339};
use crate::config::BusinessWebhooksConfig;
use crate::net::{guard, AddressPolicy};
use crate::secrets::Sealer;

/// The delivery worker.
pub struct Notifier {
    store: Arc<dyn Store>,
    sealer: Sealer,
    client: reqwest::Client,
    policy: Arc<AddressPolicy>,
    cfg: BusinessWebhooksConfig,
    owner: String,
    busy: Mutex<HashMap<String, usize>>,
    slots: Arc<Semaphore>,
    /// Set once by [`Notifier::observe`]; unset records nothing.
    metrics: std::sync::OnceLock<crate::telemetry::Metrics>,
}

/// The body POSTed for an event: the same bytes on every attempt, so signatures and ids match.
pub fn event_body(d: &DueDelivery) -> String {
    let quote = |s: &str| serde_json::Value::from(s).to_string();
    format!(
        "{{\"id\":{},\"type\":{},\"created_at\":{},\"data\":{}}}",
        quote(&d.event_id),
        quote(&d.event_type),
        quote(&rfc3339(d.event_created_at)),
        d.data
    )
}

/// The delay before retry number `n` (1 for the first retry): exponential from
/// `initial_backoff_ms`, capped, with ±20% jitter so failed endpoints are not hit in lockstep.
pub fn backoff_ms(cfg: &BusinessWebhooksConfig, n: i64) -> i64 {
    let exp = u32::try_from(n.saturating_sub(1))
        .unwrap_or(u32::MAX)
        .min(30);
    let base = (cfg.initial_backoff_ms as i64)
        .saturating_mul(4_i64.saturating_pow(exp))
        .min(cfg.max_backoff_ms as i64)
        .max(1);
    let jitter = rand::rng().random_range(0.8..1.2);
    (base as f64 * jitter) as i64
}

impl Notifier {
    /// A worker named `owner` (its leases carry that name); `client` must be
    /// [`guard::guarded_client`] under `policy`, which also checks IP-literal hosts.
    pub fn new(
        store: Arc<dyn Store>,
        sealer: Sealer,
        client: reqwest::Client,
        policy: Arc<AddressPolicy>,
        cfg: BusinessWebhooksConfig,
        owner: String,
    ) -> Arc<Self> {
        let slots = Arc::new(Semaphore::new(cfg.max_in_flight.max(1)));
        Arc::new(Self {
            store,
            sealer,
            client,
            policy,
            cfg,
            owner,
            busy: Mutex::new(HashMap::new()),
            slots,
            metrics: std::sync::OnceLock::new(),
        })
    }

    /// Counts this notifier's delivery attempts in `metrics` (before `run`).
    pub fn observe(&self, metrics: crate::telemetry::Metrics) {
        let _ = self.metrics.set(metrics);
    }

    /// Delivers until `stop` turns true, then waits for in-flight deliveries.
    pub async fn run(self: Arc<Self>, mut stop: watch::Receiver<bool>) {
        let poll = Duration::from_millis(self.cfg.poll_ms.max(10));
        loop {
            if *stop.borrow() {
                break;
            }
            if let Err(e) = self.clone().round().await {
                tracing::warn!(error = %e, "business webhook round failed");
            }
            tokio::select! {
                _ = tokio::time::sleep(poll) => {}
                _ = stop.changed() => {}
            }
        }
        let total = u32::try_from(self.cfg.max_in_flight.max(1)).unwrap_or(u32::MAX);
        let _ = self.slots.acquire_many(total).await;
    }

    /// Claims what is due and starts each delivery in its own task.
    async fn round(self: Arc<Self>) -> chasqui_store::Result<()> {
        let free = self.slots.available_permits();
        if free == 0 {
            return Ok(());
        }
        let skip: Vec<String> = self.busy_endpoints();
        // Long enough to outlast the request; short enough that a crashed worker's claims return soon.
        let lease_ms = self.cfg.timeout_ms as i64 + 5_000;
        let claimed = self
            .store
            .claim_webhook_deliveries(&self.owner, now_ms(), lease_ms, free as i64, &skip)
            .await?;
        let mut give_back = Vec::new();
        for d in claimed {
            let Ok(permit) = self.slots.clone().try_acquire_owned() else {
                give_back.push((d.endpoint_id, d.event_id));
                continue;
            };
            if !self.take_endpoint_slot(&d.endpoint_id) {
                give_back.push((d.endpoint_id, d.event_id));
                continue;
            }
            let me = self.clone();
            tokio::spawn(async move {
                let endpoint = d.endpoint_id.clone();
                me.deliver(d).await;
                me.free_endpoint_slot(&endpoint);
                drop(permit);
            });
        }
        if !give_back.is_empty() {
            self.store
                .release_webhook_deliveries(&self.owner, &give_back)
                .await?;
        }
        Ok(())
    }

    fn busy_endpoints(&self) -> Vec<String> {
        let busy = self.busy.lock().unwrap_or_else(|e| e.into_inner());
        busy.iter()
            .filter(|(_, n)| **n >= self.cfg.per_endpoint_in_flight.max(1))
            .map(|(id, _)| id.clone())
            .collect()
    }

    fn take_endpoint_slot(&self, endpoint: &str) -> bool {
        let mut busy = self.busy.lock().unwrap_or_else(|e| e.into_inner());
        let n = busy.entry(endpoint.to_string()).or_insert(0);
        if *n >= self.cfg.per_endpoint_in_flight.max(1) {
            return false;
        }
        *n += 1;
        true
    }

    fn free_endpoint_slot(&self, endpoint: &str) {
        let mut busy = self.busy.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(n) = busy.get_mut(endpoint) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                busy.remove(endpoint);
            }
        }
    }

    /// One attempt: POST, then record what came of it.
    async fn deliver(&self, d: DueDelivery) {
        let at = now_ms();
        let started = Instant::now();
        let (status, error) = match self.post(&d).await {
            Ok(s) => (
                Some(i64::from(s)),
                (!(200..300).contains(&s)).then(|| format!("HTTP {s}")),
            ),
            Err(e) => (None, Some(e)),
        };
        let latency_ms = started.elapsed().as_millis() as i64;
        let outcome = if error.is_none() {
            AttemptOutcome::Delivered
        } else if now_ms() - d.queued_at >= self.cfg.retry_window_ms {
            AttemptOutcome::Dead
        } else {
            AttemptOutcome::Retry {
                next_attempt_at: now_ms() + backoff_ms(&self.cfg, d.attempts + 1),
            }
        };
        tracing::debug!(endpoint = %d.endpoint_id, event = %d.event_id, ?status, ?outcome, "business webhook attempt");
        if let Some(m) = self.metrics.get() {
            m.business_delivery(match outcome {
                AttemptOutcome::Delivered => "delivered",
                AttemptOutcome::Dead => "dead",
                AttemptOutcome::Retry { .. } => "retry",
            });
        }
        let record = AttemptRecord {
            endpoint_id: d.endpoint_id,
            event_id: d.event_id,
            owner: self.owner.clone(),
            at,
            status,
            latency_ms,
            error,
            outcome,
        };
        if let Err(e) = self.store.record_webhook_attempt(&record).await {
            // The lease expires and the delivery is tried again: at least once, same event id.
            tracing::warn!(error = %e, "recording a business webhook attempt failed");
        }
    }

    /// POSTs the signed event; answers the HTTP status, or why there was none.
    async fn post(&self, d: &DueDelivery) -> Result<u16, String> {
        let secret = self
            .sealer
            .open(&d.secret)
            .map_err(|_| "the endpoint's secret cannot be opened".to_string())?;
        let url =
            reqwest::Url::parse(&d.url).map_err(|_| "the endpoint URL is not valid".to_string())?;
        // Names are checked by the client's resolver, on the addresses it connects to.
        guard::check_literal(&self.policy, &url)
            .map_err(|_| guard::REFUSED_BY_POLICY.to_string())?;
        let body = event_body(d);
        let ts = now_ms() / 1000;
        let signature = sign::sign(&secret, &d.event_id, ts, &body)
            .ok_or_else(|| "the endpoint's secret is malformed".to_string())?;
        let resp = self
            .client
            .post(url)
            .header("content-type", "application/json")
            .header("user-agent", "Chasqui-Webhooks/1")
            .header("webhook-id", &d.event_id)
            .header("webhook-timestamp", ts.to_string())
            .header("webhook-signature", signature)
            .body(body)
            .send()
            .await
            .map_err(|e| {
                if guard::is_refusal(&e) {
                    guard::REFUSED_BY_POLICY.to_string()
                } else if e.is_timeout() {
                    "timed out".to_string()
                } else if e.is_connect() {
                    "connection failed".to_string()
                } else {
                    "request failed".to_string()
                }
            })?;
        Ok(resp.status().as_u16())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_to_its_cap_with_bounded_jitter() {
        let cfg = BusinessWebhooksConfig::default();
        let first = backoff_ms(&cfg, 1);
        assert!((4_000..=6_000).contains(&first), "{first}");
        let late = backoff_ms(&cfg, 40);
        assert!(late <= (cfg.max_backoff_ms as f64 * 1.2) as i64);
        assert!(late >= (cfg.max_backoff_ms as f64 * 0.8) as i64);
    }

    #[test]
    fn the_default_schedule_retries_for_at_least_a_day() {
        let cfg = BusinessWebhooksConfig::default();
        assert!(cfg.retry_window_ms >= 24 * 3_600_000);
    }
}
