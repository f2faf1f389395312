//! The dashboard, as pictures drawn on the server in SVG: messages per hour by status, the
//! delivery funnel, the top failure codes with Meta's titles, each channel's queue depth and
//! age, and (operators) the business webhook backlog. The figures come from the same reads as
//! `/metrics` (the queue gauges) and from the workspace's latest messages, read by one index
//! range so the page costs the same whatever the workspace's size.

use std::collections::BTreeMap;

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use chasqui_domain::{MessageStatus, Scope};
use chasqui_store::RecentOutcome;
use maud::{html, Markup};

use super::render::Zone;
use super::shell;
use crate::api::AppState;
use crate::clock::now_ms;
use crate::console::i18n::Lang;
use crate::console::session::{ConsoleError, ConsoleUser};

/// How many of the latest messages the charts count.
const SAMPLE: i64 = 20_000;
const HOUR_MS: i64 = 3_600_000;
/// The hours the hourly chart shows.
const HOURS: i64 = 24;

/// What the charts show, computed once from the sample.
#[derive(Debug, Default, PartialEq)]
pub struct Figures {
    /// Per hour (oldest first, `HOURS` of them, ending with the current one): count per status.
    pub hourly: Vec<BTreeMap<&'static str, i64>>,
    /// Accepted, sent, delivered, read (each counts the later statuses too).
    pub funnel: [i64; 4],
    /// Failure codes, most frequent first: (code, title, count).
    pub failures: Vec<(i64, String, i64)>,
}

impl Figures {
    /// Counts `sample` (the latest messages) as of `now`.
    pub fn of(sample: &[RecentOutcome], now: i64) -> Self {
        let this_hour = now - now.rem_euclid(HOUR_MS);
        let first = this_hour - (HOURS - 1) * HOUR_MS;
        let mut hourly = vec![BTreeMap::new(); HOURS as usize];
        let mut funnel = [0; 4];
        let mut failures: BTreeMap<i64, (String, i64)> = BTreeMap::new();
        for m in sample {
            if m.created_at >= first {
                let i = ((m.created_at - first) / HOUR_MS).min(HOURS - 1) as usize;
                *hourly[i].entry(m.status.as_str()).or_insert(0) += 1;
            }
            funnel[0] += 1;
            let reached = match m.status {
                MessageStatus::Sent => 1,
                MessageStatus::Delivered => 2,
                MessageStatus::Read => 3,
                _ => 0,
            };
            for step in funnel.iter_mut().take(reached + 1).skip(1) {
                *step += 1;
            }
            if let (MessageStatus::Failed, Some(code)) = (m.status, m.error_code) {
                let e = failures
                    .entry(code)
                    .or_insert_with(|| (m.error_title.clone().unwrap_or_default(), 0));
                e.1 += 1;
            }
        }
        let mut failures: Vec<(i64, String, i64)> = failures
            .into_iter()
            .map(|(code, (title, n))| (code, title, n))
            .collect();
        failures.sort_by(|a, b| b.2.cmp(&a.2).then(a.0.cmp(&b.0)));
        failures.truncate(10);
        Figures {
            hourly,
            funnel,
            failures,
        }
    }
}

/// `GET /console/dashboard`.
pub async fn page(
    State(state): State<AppState>,
    user: ConsoleUser,
) -> Result<Response, ConsoleError> {
    user.require(Scope::Read)?;
    let lang = user.lang;
    let ws = &user.principal.workspace_id;
    let sample = state.store.recent_outcomes(ws, SAMPLE).await?;
    let now = now_ms();
    let figures = Figures::of(&sample, now);
    let gauges = state.store.queue_gauges().await?;
    let queues: Vec<_> = gauges
        .channels
        .iter()
        .filter(|c| c.workspace_id == ws.as_str())
        .collect();
    let zone = Zone::of(&state, &user).await?;
    let body = html! {
        section.dashboard {
            h1 { (lang.t("dashboard-title")) }
            p.notice {
                (lang.t_with("dashboard-sample", &[("count", (sample.len() as f64).into())]))
                @if let Some(oldest) = sample.last() { " (" (zone.format(oldest.created_at)) ")" }
            }
            div.charts {
                figure.chart data-chart="hourly" {
                    figcaption { (lang.t("dashboard-hourly")) }
                    (hourly_chart(&figures, lang))
                }
                figure.chart data-chart="funnel" {
                    figcaption { (lang.t("dashboard-funnel")) }
                    (funnel_chart(&figures, lang))
                }
                figure.chart data-chart="failures" {
                    figcaption { (lang.t("dashboard-failures")) }
                    @if figures.failures.is_empty() {
                        p.empty { (lang.t("dashboard-no-failures")) }
                    } @else {
                        (failure_chart(&figures))
                    }
                }
                figure.chart data-chart="queues" {
                    figcaption { (lang.t("dashboard-queues")) }
                    @if queues.is_empty() {
                        p.empty { (lang.t("dashboard-queues-empty")) }
                    } @else {
                        table.list {
                            thead { tr { th { (lang.t("dashboard-channel")) } th { (lang.t("dashboard-queued")) } th { (lang.t("dashboard-oldest")) } } }
                            tbody {
                                @for q in &queues {
                                    tr data-channel=(q.channel_id) {
                                        td { (q.channel_id) }
                                        td { (q.queued) }
                                        td { (age(now - q.oldest_created_at)) }
                                    }
                                }
                            }
                        }
                    }
                }
                @if user.may(Scope::Admin) {
                    figure.chart data-chart="backlog" {
                        figcaption { (lang.t("dashboard-backlog")) }
                        p.big data-backlog=(gauges.business_backlog) { (gauges.business_backlog) }
                        p.notice { (lang.t("dashboard-backlog-help")) }
                    }
                }
            }
        }
    };
    Ok(shell(Some(&user), lang, &lang.t("dashboard-title"), body).into_response())
}

fn age(ms: i64) -> String {
    let s = ms.max(0) / 1000;
    match s {
        0..=59 => format!("{s} s"),
        60..=3599 => format!("{} min", s / 60),
        _ => format!("{} h {} min", s / 3600, (s % 3600) / 60),
    }
}

/// Stacked bars, one per hour, a colour per status (the classes match the style sheet).
fn hourly_chart(f: &Figures, lang: Lang) -> Markup {
    let (w, h, pad) = (600.0, 180.0, 20.0);
    let max = f
        .hourly
        .iter()
        .map(|h| h.values().sum::<i64>())
        .max()
        .unwrap_or(0)
        .max(1) as f64;
    let bar = (w - pad) / HOURS as f64;
    html! {
        svg viewBox={ "0 0 " (w) " " (h + pad) } role="img" aria-label=(lang.t("dashboard-hourly")) {
            @for (x, y, height, status, n) in stacked(f, max, bar, pad, h) {
                rect class={ "s-" (status) } x=(x) y=(y) width=(bar - 2.0) height=(height) {
                    title { (status) ": " (n) }
                }
            }
            text x="0" y="12" class="axis" { (max as i64) }
            text x=(pad) y=(h + pad - 4.0) class="axis" { "-24 h" }
            text x=(w - 40.0) y=(h + pad - 4.0) class="axis" { "0 h" }
        }
        p.legend {
            @for s in MessageStatus::ALL {
                span class={ "key s-" (s.as_str()) } { "■ " } (lang.t(&format!("status-{}", legend_id(s)))) " "
            }
        }
    }
}

/// Each hour's bars stacked from the bottom: (x, y, height, status, count).
fn stacked(
    f: &Figures,
    max: f64,
    bar: f64,
    pad: f64,
    h: f64,
) -> Vec<(f64, f64, f64, &'static str, i64)> {
    let mut out = Vec::new();
    for (i, hour) in f.hourly.iter().enumerate() {
        let mut y = h;
        for s in MessageStatus::ALL {
            let n = hour.get(s.as_str()).copied().unwrap_or(0);
            if n > 0 {
                let height = n as f64 / max * (h - pad);
                y -= height;
                out.push((pad + i as f64 * bar, y, height, s.as_str(), n));
            }
        }
    }
    out
}

/// The catalogue's status word for `s`.
fn legend_id(s: MessageStatus) -> &'static str {
    match s {
        MessageStatus::Queued => "pending",
        other => other.as_str(),
    }
}

/// Horizontal bars: accepted → sent → delivered → read, each with its share of accepted.
fn funnel_chart(f: &Figures, lang: Lang) -> Markup {
    let names = [
        "dashboard-accepted",
        "status-sent",
        "status-delivered",
        "status-read",
    ];
    let total = f.funnel[0].max(1) as f64;
    html! {
        svg viewBox="0 0 600 140" role="img" aria-label=(lang.t("dashboard-funnel")) {
            @for (i, (name, n)) in names.iter().zip(f.funnel).enumerate() {
                @let y = i as f64 * 34.0 + 4.0;
                rect class="funnel" x="150" y=(y) width=(n as f64 / total * 300.0) height="26" {}
                text x="0" y=(y + 20.0) class="label" { (lang.t(name)) }
                text x="460" y=(y + 20.0) class="label" data-step=(i) { (n) " · " (format!("{:.0}%", n as f64 / total * 100.0)) }
            }
        }
    }
}

/// Horizontal bars of the most frequent failure codes, with Meta's titles.
fn failure_chart(f: &Figures) -> Markup {
    let max = f.failures.first().map_or(1, |x| x.2).max(1) as f64;
    let h = f.failures.len() as f64 * 30.0 + 4.0;
    html! {
        svg viewBox={ "0 0 600 " (h) } role="img" {
            @for (i, (code, title, n)) in f.failures.iter().enumerate() {
                @let y = i as f64 * 30.0 + 4.0;
                rect class="s-failed" x="380" y=(y) width=(*n as f64 / max * 150.0) height="22" {}
                text x="0" y=(y + 18.0) class="label" data-code=(code) { (code) " · " (short(title)) title { (title) } }
                text x="545" y=(y + 18.0) class="label" { (n) }
            }
        }
    }
}

/// A title cut to what fits beside its bar.
fn short(title: &str) -> String {
    const FITS: usize = 26;
    if title.chars().count() <= FITS {
        title.to_string()
    } else {
        title.chars().take(FITS - 1).chain(['…']).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(created_at: i64, status: MessageStatus, code: Option<i64>) -> RecentOutcome {
        RecentOutcome {
            created_at,
            status,
            error_code: code,
            error_title: code.map(|c| format!("title {c}")),
        }
    }

    #[test]
    fn the_funnel_counts_later_statuses_in_earlier_steps() {
        let now = 100 * HOUR_MS + HOUR_MS / 2;
        let sample = [
            at(now - 10, MessageStatus::Read, None),
            at(now - 10, MessageStatus::Delivered, None),
            at(now - HOUR_MS, MessageStatus::Sent, None),
            at(now - HOUR_MS, MessageStatus::Failed, Some(131026)),
            at(now - 2 * HOUR_MS, MessageStatus::Failed, Some(131026)),
            at(now - 30 * HOUR_MS, MessageStatus::Failed, Some(131049)),
            at(now - 30 * HOUR_MS, MessageStatus::Queued, None),
        ];
        let f = Figures::of(&sample, now);
        assert_eq!(f.funnel, [7, 3, 2, 1]);
        assert_eq!(
            f.failures,
            vec![
                (131026, "title 131026".into(), 2),
                (131049, "title 131049".into(), 1)
            ]
        );
        // Older than 24 hours: counted in the funnel, not in the hourly chart.
        assert_eq!(
            f.hourly
                .iter()
                .map(|h| h.values().sum::<i64>())
                .sum::<i64>(),
            5
        );
        assert_eq!(f.hourly[23].get("read"), Some(&1));
        assert_eq!(f.hourly[22].get("failed"), Some(&1));
    }
}
