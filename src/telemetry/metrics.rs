//! Prometheus metrics: one registry per gateway (so several in one process, as in the tests,
//! do not mix), rendered as text at `GET /metrics` on `metrics_listen`.
//!
//! Labels are bounded: workspace and channel ids, problem codes, Meta error codes and fixed
//! outcome names; never a recipient or a message id.

use std::sync::Arc;
use std::time::Duration;

use chasqui_domain::MessageStatus;
use chasqui_store::{QueueGauges, StatusChange};
use prometheus::{
    GaugeVec, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts,
    Registry,
};

use crate::limits::{LimitError, LimitKind};

/// Latency buckets (seconds) for calls answered in milliseconds: accept, provider.
const FAST: &[f64] = &[
    0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];
/// Buckets (seconds) for a message's journey to `sent` and `delivered`: up to hours when a
/// queue is long or a phone is off.
const JOURNEY: &[f64] = &[
    0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0, 3_600.0, 21_600.0,
    86_400.0,
];

/// Meta webhook fields counted by name; any other is counted as `other`, so a payload cannot
/// make new series.
const META_FIELDS: &[&str] = &[
    "messages",
    "message_template_status_update",
    "message_template_quality_update",
    "message_template_components_update",
    "template_category_update",
    "phone_number_quality_update",
    "phone_number_name_update",
    "account_update",
    "account_alerts",
    "business_capability_update",
    "security",
    "flows",
    "history",
    "smb_message_echoes",
];

/// The metrics of one gateway; a cheap handle. [`Metrics::off`] records nothing (the
/// `metrics_listen`-unset default, and what the benchmark compares against).
#[derive(Clone, Default)]
pub struct Metrics(Option<Arc<Inner>>);

struct Inner {
    registry: Registry,
    accepted: IntCounterVec,
    refused: IntCounterVec,
    sent: IntCounterVec,
    delivered: IntCounterVec,
    read: IntCounterVec,
    failed: IntCounterVec,
    provider_calls: IntCounterVec,
    retries: IntCounterVec,
    unknown: IntCounterVec,
    meta_received: IntCounterVec,
    meta_rejected: IntCounterVec,
    business: IntCounterVec,
    quota: IntCounterVec,
    logins_failed: IntCounter,
    queued: IntGaugeVec,
    oldest_age: GaugeVec,
    inbox_pending: IntGauge,
    business_backlog: IntGauge,
    accept_latency: HistogramVec,
    provider_latency: HistogramVec,
    to_sent: HistogramVec,
    to_delivered: HistogramVec,
}

fn counter(r: &Registry, name: &str, help: &str, labels: &[&str]) -> IntCounterVec {
    let c = IntCounterVec::new(Opts::new(name, help), labels).expect("valid metric");
    r.register(Box::new(c.clone())).expect("unique metric");
    c
}

fn histogram(r: &Registry, name: &str, help: &str, labels: &[&str], b: &[f64]) -> HistogramVec {
    let opts = HistogramOpts::new(name, help).buckets(b.to_vec());
    let h = HistogramVec::new(opts, labels).expect("valid metric");
    r.register(Box::new(h.clone())).expect("unique metric");
    h
}

fn gauge(r: &Registry, name: &str, help: &str) -> IntGauge {
    let g = IntGauge::new(name, help).expect("valid metric");
    r.register(Box::new(g.clone())).expect("unique metric");
    g
}

const WC: &[&str] = &["workspace", "channel"];

impl Metrics {
    /// Records nothing.
    pub fn off() -> Self {
        Self(None)
    }

    /// A fresh registry with every metric at zero.
    // The names and labels are constants: registering them cannot fail, so `expect` here is a
    // programming error caught by every test, never an input-dependent path.
    pub fn new() -> Self {
        let r = Registry::new();
        let inner = Inner {
            accepted: counter(
                &r,
                "chasqui_messages_accepted_total",
                "Messages accepted (committed) by the send service.",
                WC,
            ),
            refused: counter(
                &r,
                "chasqui_messages_refused_total",
                "Sends refused with a 4xx by the send service, by problem code.",
                &["code"],
            ),
            sent: counter(
                &r,
                "chasqui_messages_sent_total",
                "Messages Meta reported sent (its first sent webhook for each).",
                WC,
            ),
            delivered: counter(
                &r,
                "chasqui_messages_delivered_total",
                "Messages Meta reported delivered (or implied by read).",
                WC,
            ),
            read: counter(
                &r,
                "chasqui_messages_read_total",
                "Messages Meta reported read.",
                WC,
            ),
            failed: counter(
                &r,
                "chasqui_messages_failed_total",
                "Messages failed, by Meta error code (negative: Chasqui's own codes).",
                &["workspace", "channel", "code"],
            ),
            provider_calls: counter(
                &r,
                "chasqui_provider_calls_total",
                "Provider send calls, by outcome (sent, retry, failed, unknown).",
                &["channel", "outcome"],
            ),
            retries: counter(
                &r,
                "chasqui_dispatch_retries_total",
                "Provider calls that failed retryably and were scheduled again.",
                &["channel"],
            ),
            unknown: counter(
                &r,
                "chasqui_dispatch_unknown_outcomes_total",
                "Provider calls whose outcome is unknown (waiting for a status webhook).",
                &["channel"],
            ),
            meta_received: counter(
                &r,
                "chasqui_meta_webhooks_received_total",
                "Verified Meta webhook changes received, by field.",
                &["field"],
            ),
            meta_rejected: counter(
                &r,
                "chasqui_meta_webhooks_rejected_total",
                "Meta webhook deliveries rejected, by reason (missing_signature, invalid_signature).",
                &["reason"],
            ),
            business: counter(
                &r,
                "chasqui_business_webhook_deliveries_total",
                "Business webhook delivery attempts, by outcome (delivered, retry, dead).",
                &["outcome"],
            ),
            quota: counter(
                &r,
                "chasqui_quota_refusals_total",
                "Requests refused by a quota or limit, by kind.",
                &["kind"],
            ),
            logins_failed: {
                let c = IntCounter::new("chasqui_logins_failed_total", "Failed password logins.")
                    .expect("valid metric");
                r.register(Box::new(c.clone())).expect("unique metric");
                c
            },
            queued: {
                let g = IntGaugeVec::new(
                    Opts::new(
                        "chasqui_queue_messages",
                        "Messages with work left (ready, sending, unknown outcome), per channel.",
                    ),
                    WC,
                )
                .expect("valid metric");
                r.register(Box::new(g.clone())).expect("unique metric");
                g
            },
            oldest_age: {
                let g = GaugeVec::new(
                    Opts::new(
                        "chasqui_queue_oldest_age_seconds",
                        "Age of the oldest message with work left, per channel.",
                    ),
                    WC,
                )
                .expect("valid metric");
                r.register(Box::new(g.clone())).expect("unique metric");
                g
            },
            inbox_pending: gauge(
                &r,
                "chasqui_webhook_inbox_pending",
                "Meta webhook deliveries stored and not yet processed.",
            ),
            business_backlog: gauge(
                &r,
                "chasqui_business_webhook_backlog",
                "Business webhook deliveries still to be made.",
            ),
            accept_latency: histogram(
                &r,
                "chasqui_accept_latency_seconds",
                "Time the send service took to accept (commit) a message.",
                &["channel"],
                FAST,
            ),
            provider_latency: histogram(
                &r,
                "chasqui_provider_call_seconds",
                "Time of one provider send call.",
                &["channel"],
                FAST,
            ),
            to_sent: histogram(
                &r,
                "chasqui_accept_to_sent_seconds",
                "Time from accepting a message to Meta's sent status.",
                &["channel"],
                JOURNEY,
            ),
            to_delivered: histogram(
                &r,
                "chasqui_accept_to_delivered_seconds",
                "Time from accepting a message to its delivered status.",
                &["channel"],
                JOURNEY,
            ),
            registry: r,
        };
        Self(Some(Arc::new(inner)))
    }

    /// Whether anything is recorded.
    pub fn enabled(&self) -> bool {
        self.0.is_some()
    }

    /// A message accepted in `took`.
    pub fn accepted(&self, workspace: &str, channel: &str, took: Duration) {
        if let Some(m) = &self.0 {
            m.accepted.with_label_values(&[workspace, channel]).inc();
            m.accept_latency
                .with_label_values(&[channel])
                .observe(took.as_secs_f64());
        }
    }

    /// A send refused with `code` (only 4xx answers are refusals).
    pub fn refused(&self, code: &str) {
        if let Some(m) = &self.0 {
            m.refused.with_label_values(&[code]).inc();
        }
    }

    /// A message failed with Meta error `code` (by the dispatcher, or on arrival).
    pub fn failed(&self, workspace: &str, channel: &str, code: i64) {
        if let Some(m) = &self.0 {
            let code = code.to_string();
            m.failed
                .with_label_values(&[workspace, channel, code.as_str()])
                .inc();
        }
    }

    /// Statuses committed from Meta's webhooks; `now` is when.
    pub fn status_changes(&self, changes: &[StatusChange], now: i64) {
        let Some(m) = &self.0 else { return };
        for c in changes {
            let wc = [c.workspace_id.as_str(), c.channel_id.as_str()];
            let since = (now - c.created_at).max(0) as f64 / 1e3;
            match c.status {
                MessageStatus::Sent => {
                    m.sent.with_label_values(&wc).inc();
                    m.to_sent.with_label_values(&wc[1..]).observe(since);
                }
                MessageStatus::Delivered => {
                    m.delivered.with_label_values(&wc).inc();
                    m.to_delivered.with_label_values(&wc[1..]).observe(since);
                }
                MessageStatus::Read => m.read.with_label_values(&wc).inc(),
                MessageStatus::Failed => {
                    self.failed(wc[0], wc[1], c.error_code.unwrap_or(0));
                }
                _ => {}
            }
        }
    }

    /// One provider call on `channel` that took `took` and came to `outcome`.
    pub fn provider_call(&self, channel: &str, outcome: &str, took: Duration) {
        if let Some(m) = &self.0 {
            m.provider_calls
                .with_label_values(&[channel, outcome])
                .inc();
            m.provider_latency
                .with_label_values(&[channel])
                .observe(took.as_secs_f64());
            match outcome {
                "retry" => m.retries.with_label_values(&[channel]).inc(),
                "unknown" => m.unknown.with_label_values(&[channel]).inc(),
                _ => {}
            }
        }
    }

    /// A verified Meta webhook: each of its changes by field.
    pub fn meta_received(&self, payload: &serde_json::Value) {
        let Some(m) = &self.0 else { return };
        let entries = payload.get("entry").and_then(|e| e.as_array());
        for entry in entries.into_iter().flatten() {
            let changes = entry.get("changes").and_then(|c| c.as_array());
            for change in changes.into_iter().flatten() {
                let field = change.get("field").and_then(|f| f.as_str()).unwrap_or("");
                let field = META_FIELDS
                    .iter()
                    .find(|f| **f == field)
                    .copied()
                    .unwrap_or("other");
                m.meta_received.with_label_values(&[field]).inc();
            }
        }
    }

    /// A Meta webhook refused for `reason`.
    pub fn meta_rejected(&self, reason: &str) {
        if let Some(m) = &self.0 {
            m.meta_rejected.with_label_values(&[reason]).inc();
        }
    }

    /// One business webhook attempt that came to `outcome`.
    pub fn business_delivery(&self, outcome: &str) {
        if let Some(m) = &self.0 {
            m.business.with_label_values(&[outcome]).inc();
        }
    }

    /// Counts `e` when it is a quota or limit refusal.
    pub fn limit_refused(&self, e: &LimitError) {
        if let (Some(m), LimitError::Exceeded { kind, .. }) = (&self.0, e) {
            m.quota.with_label_values(&[kind_label(*kind)]).inc();
        }
    }

    /// A failed password login.
    pub fn login_failed(&self) {
        if let Some(m) = &self.0 {
            m.logins_failed.inc();
        }
    }

    /// The exposition text, with the queue gauges set from `queues` (read by the caller at
    /// `now`; `None` when that read failed: the gauges keep their last values).
    pub fn render(&self, queues: Option<&QueueGauges>, now: i64) -> String {
        let Some(m) = &self.0 else {
            return String::new();
        };
        if let Some(q) = queues {
            // A channel whose queue emptied must not keep its last value.
            m.queued.reset();
            m.oldest_age.reset();
            for c in &q.channels {
                let wc = [c.workspace_id.as_str(), c.channel_id.as_str()];
                m.queued.with_label_values(&wc).set(c.queued);
                let age = (now - c.oldest_created_at).max(0) as f64 / 1e3;
                m.oldest_age.with_label_values(&wc).set(age);
            }
            m.inbox_pending.set(q.inbox_pending);
            m.business_backlog.set(q.business_backlog);
        }
        prometheus::TextEncoder::new()
            .encode_to_string(&m.registry.gather())
            .unwrap_or_default()
    }
}

/// A limit's label: one per [`LimitKind`] (`code()` folds the two daily quotas together).
fn kind_label(kind: LimitKind) -> &'static str {
    match kind {
        LimitKind::DailyQuota => "daily_quota",
        LimitKind::WorkspaceDailyQuota => "workspace_daily_quota",
        LimitKind::Rate => "rate",
        LimitKind::Concurrency => "concurrency",
        LimitKind::MessagingLimit => "messaging_limit",
    }
}

/// The `metrics_listen` server: `GET /metrics` and nothing else.
pub fn router(metrics: Metrics, store: Arc<dyn chasqui_store::Store>) -> axum::Router {
    use axum::http::header;
    use axum::response::IntoResponse;
    let scrape = move || {
        let (metrics, store) = (metrics.clone(), store.clone());
        async move {
            // One read per scrape: every instance sharing a database reports the same queues.
            let queues = match store.queue_gauges().await {
                Ok(q) => Some(q),
                Err(e) => {
                    tracing::warn!(error = %e, "reading the queue gauges failed");
                    None
                }
            };
            let text = metrics.render(queues.as_ref(), crate::clock::now_ms());
            ([(header::CONTENT_TYPE, prometheus::TEXT_FORMAT)], text).into_response()
        }
    };
    axum::Router::new().route("/metrics", axum::routing::get(scrape))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn off_records_and_renders_nothing() {
        let m = Metrics::off();
        m.refused("validation_failed");
        assert!(m.render(None, 0).is_empty());
    }

    /// The Grafana dashboard in `contrib/` queries only metrics this registry has.
    #[test]
    fn the_dashboard_uses_only_these_metrics() {
        let dashboard = include_str!("../../contrib/grafana/chasqui.json");
        // The names registered above, as the literals this file registers them with.
        let source = include_str!("metrics.rs");
        let mut used = 0;
        for (at, _) in dashboard.match_indices("chasqui_") {
            let name: String = dashboard[at..]
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            let family = ["_bucket", "_count", "_sum"]
                .iter()
                .find_map(|s| name.strip_suffix(s))
                .unwrap_or(&name);
            assert!(
                source.contains(&format!("\"{family}\",")),
                "the dashboard queries {name}, which is not registered"
            );
            used += 1;
        }
        assert!(used > 20, "the dashboard queries {used} metrics");
    }

    #[test]
    fn unknown_meta_fields_are_counted_as_other() {
        let m = Metrics::new();
        m.meta_received(&serde_json::json!({"entry": [{"changes": [
            {"field": "messages"}, {"field": "made_up_by_anyone"}, {"field": "messages"}
        ]}]}));
        let text = m.render(None, 0);
        assert!(text.contains("chasqui_meta_webhooks_received_total{field=\"messages\"} 2"));
        assert!(text.contains("chasqui_meta_webhooks_received_total{field=\"other\"} 1"));
        assert!(!text.contains("made_up"));
    }
}
