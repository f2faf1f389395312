//! Quotas and limits, counted in the database so they hold across restarts and across instances
//! sharing it:
//!
//! - per key: requests per minute (a fixed window) and requests in flight, checked by
//!   [`Limits::admit`] when a request is authorized;
//! - per key and per workspace: messages per day, reset at local midnight (the workspace's time
//!   zone, else `[limits] timezone`), charged by [`Limits::charge_send`] just before a send is
//!   committed and refunded when it is not;
//! - per channel: Meta's messaging limit, distinct recipients of business-initiated messages per
//!   rolling 24 hours, checked by [`Limits::admit_recipient`] before a send is committed.
//!
//! A limit that is not set costs nothing: no database round trip.

use chasqui_domain::{ChannelId, WorkspaceId};
mod error;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chasqui_domain::quota::{self, daily_period, minute_window, QuotaZone};
use chasqui_store::{ChargeOutcome, Counter, InflightOutcome, KeyLimits, RecipientOutcome, Store};

use crate::clock::now_ms;
use crate::config::LimitsConfig;
pub use error::{LimitError, LimitKind, RateLimitHeaders};

/// The limits of one workspace.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct WorkspaceLimitValues {
    /// Messages per day across all its keys.
    pub daily_quota: Option<i64>,
    /// The time zone of its quota day (its own, else the configured one).
    pub zone: QuotaZone,
}

/// The quota and limit service.
pub struct Limits {
    store: Arc<dyn Store>,
    zone: QuotaZone,
    inflight_ttl_ms: i64,
    /// Workspaces' quota settings, so a send of a workspace without a quota costs no database
    /// round trip; the counts themselves are always in the database.
    workspaces: Mutex<HashMap<WorkspaceId, (WorkspaceLimitValues, Instant)>>,
    workspace_ttl: Duration,
}

/// Why the limits service could not start.
#[derive(Debug, thiserror::Error)]
#[error("[limits] timezone: {0}")]
pub struct LimitsConfigError(#[from] quota::UnknownTimeZone);

impl Limits {
    /// The service over `store`; fails on an unknown time zone.
    pub fn new(store: Arc<dyn Store>, config: &LimitsConfig) -> Result<Self, LimitsConfigError> {
        Ok(Self {
            store,
            zone: QuotaZone::parse(&config.timezone)?,
            inflight_ttl_ms: i64::try_from(config.inflight_ttl_secs.saturating_mul(1000))
                .unwrap_or(i64::MAX),
            workspaces: Mutex::new(HashMap::new()),
            workspace_ttl: Duration::from_millis(config.workspace_cache_ms),
        })
    }

    /// A workspace's quota settings (cached for `[limits] workspace_cache_ms`).
    pub async fn workspace_limits(
        &self,
        workspace_id: &WorkspaceId,
    ) -> Result<WorkspaceLimitValues, LimitError> {
        if let Ok(cache) = self.workspaces.lock() {
            if let Some((limits, at)) = cache.get(workspace_id) {
                if at.elapsed() < self.workspace_ttl {
                    return Ok(limits.clone());
                }
            }
        }
        let limits = self
            .store
            .get_workspace(workspace_id)
            .await?
            .map(|w| WorkspaceLimitValues {
                daily_quota: w.daily_quota,
                zone: self.zone_of(w.timezone.as_deref()),
            })
            .unwrap_or_else(|| WorkspaceLimitValues {
                daily_quota: None,
                zone: self.zone.clone(),
            });
        if !self.workspace_ttl.is_zero() {
            if let Ok(mut cache) = self.workspaces.lock() {
                if cache.len() > 10_000 {
                    cache.clear();
                }
                cache.insert(workspace_id.clone(), (limits.clone(), Instant::now()));
            }
        }
        Ok(limits)
    }

    /// Drops a workspace's cached settings (they were just changed on this instance).
    pub fn forget_workspace(&self, workspace_id: &WorkspaceId) {
        if let Ok(mut cache) = self.workspaces.lock() {
            cache.remove(workspace_id);
        }
    }

    /// The zone of a workspace's quota day: its own when valid, else the configured one.
    fn zone_of(&self, timezone: Option<&str>) -> QuotaZone {
        match timezone.map(QuotaZone::parse) {
            Some(Ok(zone)) => zone,
            Some(Err(e)) => {
                tracing::warn!(error = %e, "a workspace's time zone is unknown; using [limits] timezone");
                self.zone.clone()
            }
            None => self.zone.clone(),
        }
    }

    /// Admits a request of key `key_id`: counts it against the key's rate per minute and takes
    /// an in-flight slot. The slot is given back when the returned guard is dropped.
    pub async fn admit(&self, key_id: &str, limits: &KeyLimits) -> Result<Admission, LimitError> {
        let mut admission = Admission::default();
        if limits.rate_per_minute.is_none() && limits.max_concurrent.is_none() {
            return Ok(admission);
        }
        let now = now_ms();
        if let Some(rate) = limits.rate_per_minute {
            let window = minute_window(now);
            let counter = Counter {
                subject: format!("rate:{key_id}"),
                period: window.starts_at.to_string(),
                limit: rate,
                expires_at: window.resets_at,
            };
            let reset = quota::seconds_until(now, window.resets_at);
            match self.store.charge(std::slice::from_ref(&counter), 1).await? {
                ChargeOutcome::Charged(counts) => {
                    let count = counts.first().copied().unwrap_or(rate);
                    admission.rate_counter = Some((counter.subject, counter.period));
                    admission.headers = Some(RateLimitHeaders {
                        limit: rate,
                        remaining: quota::remaining(rate, count),
                        reset_secs: reset,
                    });
                }
                ChargeOutcome::Refused { .. } => {
                    return Err(LimitError::new(LimitKind::Rate, rate, 0, reset, reset));
                }
            }
        }
        if let Some(max) = limits.max_concurrent {
            let id = crate::ids::prefixed("req_");
            match self
                .store
                .acquire_inflight(
                    &format!("key:{key_id}"),
                    &id,
                    max,
                    now.saturating_add(self.inflight_ttl_ms),
                    now,
                )
                .await?
            {
                InflightOutcome::Acquired { .. } => {
                    admission.slot = Some(InflightSlot {
                        store: self.store.clone(),
                        id,
                    });
                }
                InflightOutcome::Refused { .. } => {
                    // A request refused here did not run: it gives its rate unit back.
                    if let Some(rate) = &admission.rate_counter {
                        if let Err(e) = self.store.refund(std::slice::from_ref(rate), 1).await {
                            tracing::warn!(error = %e, "refunding a rate unit failed");
                        }
                    }
                    // A slot frees up when a request finishes, which is usually soon.
                    return Err(LimitError::new(LimitKind::Concurrency, max, 0, 1, 1));
                }
            }
        }
        Ok(admission)
    }

    /// Charges `n` messages to the key's and the workspace's daily quotas (both or neither).
    /// Give the answer back with [`Limits::refund`] if the messages are not committed after all.
    pub async fn charge_send(
        &self,
        key_id: &str,
        key: &KeyLimits,
        workspace_id: &WorkspaceId,
        workspace: &WorkspaceLimitValues,
        n: i64,
    ) -> Result<SendCharge, LimitError> {
        let mut charge = SendCharge::default();
        if key.daily_quota.is_none() && workspace.daily_quota.is_none() {
            return Ok(charge);
        }
        let mut counters = Vec::with_capacity(2);
        let now = now_ms();
        let period = daily_period(now, &workspace.zone);
        if let Some(limit) = key.daily_quota {
            counters.push(Counter {
                subject: format!("key:{key_id}"),
                period: period.date.clone(),
                limit,
                expires_at: period.resets_at,
            });
        }
        if let Some(limit) = workspace.daily_quota {
            counters.push(Counter {
                subject: format!("ws:{workspace_id}"),
                period: period.date.clone(),
                limit,
                expires_at: period.resets_at,
            });
        }
        let reset = quota::seconds_until(now, period.resets_at);
        match self.store.charge(&counters, n).await? {
            ChargeOutcome::Charged(counts) => {
                // The headers describe whichever quota has the least left.
                charge.headers = counters
                    .iter()
                    .zip(&counts)
                    .map(|(c, &count)| RateLimitHeaders {
                        limit: c.limit,
                        remaining: quota::remaining(c.limit, count),
                        reset_secs: reset,
                    })
                    .min_by_key(|h| h.remaining);
                charge.counters = counters
                    .into_iter()
                    .map(|c| (c.subject, c.period))
                    .collect();
                charge.n = n;
                Ok(charge)
            }
            ChargeOutcome::Refused { index, count } => {
                let limit = counters.get(index).map(|c| c.limit).unwrap_or(0);
                let kind = if counters
                    .get(index)
                    .is_some_and(|c| c.subject.starts_with("ws:"))
                {
                    LimitKind::WorkspaceDailyQuota
                } else {
                    LimitKind::DailyQuota
                };
                Err(LimitError::new(
                    kind,
                    limit,
                    quota::remaining(limit, count),
                    reset,
                    reset,
                ))
            }
        }
    }

    /// Gives back what [`Limits::charge_send`] charged (logged, not failed, when the database
    /// does not answer: the caller is already answering with another error or a replay).
    pub async fn refund(&self, charge: &SendCharge) {
        if charge.counters.is_empty() {
            return;
        }
        if let Err(e) = self.store.refund(&charge.counters, charge.n).await {
            tracing::warn!(error = %e, "refunding a daily quota failed");
        }
    }

    /// Checks a business-initiated message to `recipient` (digits) against the channel's
    /// messaging limit (`None` = unlimited). A recipient already counted in the last 24 hours is
    /// free. Give a new slot back with [`Limits::forget_recipient`] if the send is not committed.
    pub async fn admit_recipient(
        &self,
        channel_id: &ChannelId,
        messaging_limit: Option<i64>,
        recipient: &str,
    ) -> Result<RecipientSlot, LimitError> {
        let Some(limit) = messaging_limit else {
            return Ok(RecipientSlot::default());
        };
        let now = now_ms();
        // Mexican and Argentine mobiles are written with or without the mobile digit; one
        // person is one recipient either way.
        let recipient = chasqui_domain::phone::wa_id_variants(recipient)
            .into_iter()
            .min()
            .unwrap_or_else(|| recipient.to_string());
        match self
            .store
            .admit_recipient(channel_id, &recipient, limit, now)
            .await?
        {
            RecipientOutcome::Admitted { counted_at, .. } => Ok(RecipientSlot {
                taken: counted_at.map(|at| (channel_id.clone(), recipient, at)),
            }),
            RecipientOutcome::Refused { count, frees_at } => {
                let wait = quota::seconds_until(now, frees_at);
                Err(LimitError::new(
                    LimitKind::MessagingLimit,
                    limit,
                    quota::remaining(limit, count),
                    wait,
                    wait,
                ))
            }
        }
    }

    /// Gives back the messaging-limit slot [`Limits::admit_recipient`] took, if it took one.
    pub async fn forget_recipient(&self, slot: &RecipientSlot) {
        if let Some((channel, recipient, at)) = &slot.taken {
            if let Err(e) = self.store.forget_recipient(channel, recipient, *at).await {
                tracing::warn!(error = %e, "giving back a messaging-limit slot failed");
            }
        }
    }

    /// Deletes counters and slots that no longer count, every `interval`, until aborted.
    pub fn spawn_pruner(
        store: Arc<dyn Store>,
        interval: std::time::Duration,
    ) -> tokio::task::JoinHandle<()> {
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(interval).await;
                match store.prune_quotas(now_ms()).await {
                    Ok(n) if n > 0 => tracing::debug!(rows = n, "pruned quota rows"),
                    Ok(_) => {}
                    Err(e) => tracing::warn!(error = %e, "pruning quota rows failed"),
                }
            }
        })
    }
}

/// What [`Limits::admit`] granted: the in-flight slot (held until dropped) and the rate limit's
/// standing for the response headers.
#[derive(Default)]
pub struct Admission {
    /// The in-flight slot, when the key has a concurrency limit.
    pub slot: Option<InflightSlot>,
    /// `RateLimit-*` values of the rate limit, when the key has one.
    pub headers: Option<RateLimitHeaders>,
    /// The rate counter charged, to refund if the request is refused after all.
    rate_counter: Option<(String, String)>,
}

/// One request's in-flight slot; dropping it gives the slot back (also when the handler panics
/// or the client goes away), in a task of its own since `Drop` cannot wait.
pub struct InflightSlot {
    store: Arc<dyn Store>,
    id: String,
}

impl Drop for InflightSlot {
    fn drop(&mut self) {
        let store = self.store.clone();
        let id = std::mem::take(&mut self.id);
        match tokio::runtime::Handle::try_current() {
            Ok(rt) => {
                rt.spawn(async move {
                    if let Err(e) = store.release_inflight(&id).await {
                        // The slot's expiry still frees it.
                        tracing::warn!(error = %e, "releasing an in-flight slot failed");
                    }
                });
            }
            Err(_) => tracing::debug!("no runtime to release an in-flight slot; it will expire"),
        }
    }
}

/// What [`Limits::charge_send`] charged, to refund if the send is not committed.
#[derive(Debug, Default)]
pub struct SendCharge {
    counters: Vec<(String, String)>,
    n: i64,
    /// `RateLimit-*` values of the quota with the least left, when one is set.
    pub headers: Option<RateLimitHeaders>,
}

impl SendCharge {
    /// The quota's `RateLimit-*` values once the send is settled: as charged when it was
    /// committed, with the units given back otherwise.
    pub fn standing(&self, committed: bool) -> Option<RateLimitHeaders> {
        self.headers.map(|h| RateLimitHeaders {
            remaining: if committed {
                h.remaining
            } else {
                h.remaining.saturating_add(self.n).min(h.limit)
            },
            ..h
        })
    }
}

/// The messaging-limit slot [`Limits::admit_recipient`] took, if any.
#[derive(Debug, Default)]
pub struct RecipientSlot {
    taken: Option<(ChannelId, String, i64)>,
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn limits(config: LimitsConfig) -> (Limits, std::path::PathBuf) {
        let dir = std::env::temp_dir().join(format!("chasqui-limits-{}", uuid::Uuid::now_v7()));
        let store = chasqui_store::open(&format!("sqlite://{}/l.db", dir.display()))
            .await
            .expect("store");
        store.migrate().await.expect("migrate");
        (Limits::new(store, &config).expect("limits"), dir)
    }

    #[tokio::test]
    async fn unset_limits_charge_nothing() {
        let (l, dir) = limits(LimitsConfig::default()).await;
        let admission = l.admit("k1", &KeyLimits::default()).await.expect("admit");
        assert!(admission.slot.is_none() && admission.headers.is_none());
        let ws = WorkspaceLimitValues::default();
        let charge = l
            .charge_send(
                "k1",
                &KeyLimits::default(),
                &WorkspaceId::from_trusted("ws"),
                &ws,
                1,
            )
            .await
            .expect("charge");
        assert!(charge.counters.is_empty() && charge.headers.is_none());
        let slot = l
            .admit_recipient(&ChannelId::from_trusted("ch"), None, "5215512345678")
            .await;
        assert!(slot.expect("slot").taken.is_none());
        let _ = std::fs::remove_dir_all(dir);
    }

    #[tokio::test]
    async fn quota_headers_follow_the_tightest_quota_and_refunds() {
        let (l, dir) = limits(LimitsConfig::default()).await;
        let key = KeyLimits {
            daily_quota: Some(5),
            ..Default::default()
        };
        let ws = WorkspaceLimitValues {
            daily_quota: Some(2),
            zone: QuotaZone::utc(),
        };
        let charge = l
            .charge_send("k1", &key, &WorkspaceId::from_trusted("ws"), &ws, 1)
            .await
            .expect("charge");
        let h = charge.standing(true).expect("headers");
        assert_eq!((h.limit, h.remaining), (2, 1));
        // Not committed: the unit is counted as given back.
        assert_eq!(charge.standing(false).map(|h| h.remaining), Some(2));
        l.refund(&charge).await;
        l.charge_send("k1", &key, &WorkspaceId::from_trusted("ws"), &ws, 2)
            .await
            .expect("charge");
        match l
            .charge_send("k1", &key, &WorkspaceId::from_trusted("ws"), &ws, 1)
            .await
        {
            Err(LimitError::Exceeded { kind, headers, .. }) => {
                assert_eq!(kind, LimitKind::WorkspaceDailyQuota);
                assert_eq!(kind.code(), "daily_quota_exceeded");
                assert_eq!((headers.limit, headers.remaining), (2, 0));
            }
            other => panic!("expected a refusal, got {other:?}"),
        }
        let _ = std::fs::remove_dir_all(dir);
    }

    #[tokio::test]
    async fn a_bad_zone_falls_back_and_a_bad_default_does_not_start() {
        let config = LimitsConfig {
            timezone: "America/Mexico_City".into(),
            ..Default::default()
        };
        let (l, dir) = limits(config).await;
        assert_eq!(
            l.zone_of(Some("Mars/Olympus")).name(),
            "America/Mexico_City"
        );
        assert_eq!(l.zone_of(Some("Asia/Tokyo")).name(), "Asia/Tokyo");
        let bad = LimitsConfig {
            timezone: "Nowhere".into(),
            ..Default::default()
        };
        assert!(Limits::new(l.store.clone(), &bad).is_err());
        let _ = std::fs::remove_dir_all(dir);
    }
}
