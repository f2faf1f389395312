//! The arithmetic of quotas and limits: which daily period an instant falls in for a time zone and
//! when that period resets (local midnight), per-minute request windows, Meta's rolling 24-hour
//! messaging limit, and the seconds a refused client is told to wait.
//!
//! Times are unix milliseconds. Time zones come from the IANA database compiled into the binary,
//! so a zone name means the same on every instance and nothing is read or fetched at run time.

use std::fmt;

use jiff::tz::TimeZone;
use jiff::Timestamp;

/// Meta's messaging limit counts distinct business-initiated recipients per rolling 24 hours.
pub const MESSAGING_WINDOW_MS: i64 = 24 * 60 * 60 * 1000;

/// Length of a request-rate window: rates are per minute.
pub const RATE_WINDOW_MS: i64 = 60 * 1000;

/// The name given is not an IANA time zone.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown time zone {0:?}: use an IANA name such as UTC or America/Mexico_City")]
pub struct UnknownTimeZone(pub String);

/// A time zone for daily quota periods, by IANA name (`UTC`, `America/Mexico_City`).
#[derive(Clone, PartialEq)]
pub struct QuotaZone {
    name: String,
    tz: TimeZone,
}

impl fmt::Debug for QuotaZone {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("QuotaZone").field(&self.name).finish()
    }
}

impl Default for QuotaZone {
    fn default() -> Self {
        Self::utc()
    }
}

impl QuotaZone {
    /// UTC: periods start at 00:00Z.
    pub fn utc() -> Self {
        Self {
            name: "UTC".into(),
            tz: TimeZone::UTC,
        }
    }

    /// The zone named `name` (case-insensitive, as the IANA database matches names).
    pub fn parse(name: &str) -> Result<Self, UnknownTimeZone> {
        let name = name.trim();
        if name.is_empty() {
            return Err(UnknownTimeZone(name.into()));
        }
        let tz = TimeZone::get(name).map_err(|_| UnknownTimeZone(name.into()))?;
        Ok(Self {
            name: tz.iana_name().unwrap_or(name).to_string(),
            tz,
        })
    }

    /// The zone's IANA name.
    pub fn name(&self) -> &str {
        &self.name
    }
}

/// One day of a daily quota: its local date and the instants it starts and ends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DailyPeriod {
    /// The local date, `YYYY-MM-DD`: the counter's period key.
    pub date: String,
    /// The first instant of the local day.
    pub starts_at: i64,
    /// The first instant of the next local day: when the quota resets.
    pub resets_at: i64,
}

/// The local day `now` falls in, in `zone`. Days are 23 or 25 hours long where clocks change;
/// where midnight does not exist the day starts at the first instant that does.
pub fn daily_period(now: i64, zone: &QuotaZone) -> DailyPeriod {
    let fallback = || DailyPeriod {
        date: format!("utc-day-{}", now.div_euclid(MESSAGING_WINDOW_MS)),
        starts_at: now - now.rem_euclid(MESSAGING_WINDOW_MS),
        resets_at: now - now.rem_euclid(MESSAGING_WINDOW_MS) + MESSAGING_WINDOW_MS,
    };
    // Only instants far outside any real clock (beyond year ±9999) fail; they get UTC days.
    let Ok(ts) = Timestamp::from_millisecond(now) else {
        return fallback();
    };
    let date = ts.to_zoned(zone.tz.clone()).date();
    let start = date.to_zoned(zone.tz.clone());
    let next = date.tomorrow().and_then(|d| d.to_zoned(zone.tz.clone()));
    match (start, next) {
        (Ok(start), Ok(next)) => DailyPeriod {
            date: date.to_string(),
            starts_at: start.timestamp().as_millisecond(),
            resets_at: next.timestamp().as_millisecond(),
        },
        _ => fallback(),
    }
}

/// One fixed request-rate window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateWindow {
    /// Its first instant (also its counter's period key).
    pub starts_at: i64,
    /// The first instant of the next window: when the count resets.
    pub resets_at: i64,
}

/// The minute window `now` falls in.
pub fn minute_window(now: i64) -> RateWindow {
    let starts_at = now - now.rem_euclid(RATE_WINDOW_MS);
    RateWindow {
        starts_at,
        resets_at: starts_at + RATE_WINDOW_MS,
    }
}

/// Whole seconds from `now` until `at`, rounded up and at least 1: what `Retry-After` and
/// `RateLimit-Reset` say, so that a client waiting that long finds the limit lifted (and a
/// client never retries at once in a loop).
pub fn seconds_until(now: i64, at: i64) -> u64 {
    let ms = at.saturating_sub(now).max(0) as u64;
    ms.div_ceil(1000).max(1)
}

/// Units left of `limit` once `count` are used (never negative).
pub fn remaining(limit: i64, count: i64) -> i64 {
    limit.saturating_sub(count).max(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn ms(rfc3339: &str) -> i64 {
        rfc3339
            .parse::<Timestamp>()
            .expect("timestamp")
            .as_millisecond()
    }

    #[test]
    fn utc_days_reset_at_midnight_z() {
        let p = daily_period(ms("2026-11-21T17:00:00Z"), &QuotaZone::utc());
        assert_eq!(p.date, "2026-11-21");
        assert_eq!(p.starts_at, ms("2026-11-21T00:00:00Z"));
        assert_eq!(p.resets_at, ms("2026-11-22T00:00:00Z"));
    }

    #[test]
    fn local_midnight_decides_the_day() {
        let mx = QuotaZone::parse("America/Mexico_City").expect("zone");
        // 23:59:59 local on the 20th (UTC-6): still the 20th's quota.
        let late = daily_period(ms("2026-11-21T05:59:59Z"), &mx);
        assert_eq!(late.date, "2026-11-20");
        assert_eq!(late.resets_at, ms("2026-11-21T06:00:00Z"));
        // One second later the quota is a new day's.
        let next = daily_period(ms("2026-11-21T06:00:00Z"), &mx);
        assert_eq!(next.date, "2026-11-21");
        assert_eq!(next.starts_at, late.resets_at);
        // Half-hour offsets too.
        let india = QuotaZone::parse("Asia/Kolkata").expect("zone");
        let p = daily_period(ms("2026-11-20T18:30:00Z"), &india);
        assert_eq!(p.date, "2026-11-21");
        assert_eq!(p.starts_at, ms("2026-11-20T18:30:00Z"));
    }

    #[test]
    fn days_where_clocks_change_are_23_or_25_hours() {
        let ny = QuotaZone::parse("America/New_York").expect("zone");
        let spring = daily_period(ms("2026-03-08T12:00:00Z"), &ny);
        assert_eq!(spring.date, "2026-03-08");
        assert_eq!(spring.resets_at - spring.starts_at, 23 * 3_600_000);
        let autumn = daily_period(ms("2026-11-01T12:00:00Z"), &ny);
        assert_eq!(autumn.resets_at - autumn.starts_at, 25 * 3_600_000);
    }

    #[test]
    fn a_day_without_midnight_starts_at_its_first_instant() {
        // Santiago moved clocks from 00:00 to 01:00 on 2026-09-06.
        let cl = QuotaZone::parse("America/Santiago").expect("zone");
        let p = daily_period(ms("2026-09-06T12:00:00Z"), &cl);
        assert_eq!(p.date, "2026-09-06");
        assert_eq!(p.starts_at, ms("2026-09-06T04:00:00Z"));
        assert_eq!(p.resets_at - p.starts_at, 23 * 3_600_000);
    }

    #[test]
    fn zone_names_are_checked() {
        assert!(QuotaZone::parse("Mars/Olympus").is_err());
        assert!(QuotaZone::parse("").is_err());
        assert_eq!(
            QuotaZone::parse("america/mexico_city")
                .expect("zone")
                .name(),
            "America/Mexico_City"
        );
        assert_eq!(QuotaZone::parse("UTC").expect("zone").name(), "UTC");
    }

    #[test]
    fn minute_windows() {
        let w = minute_window(ms("2026-11-21T17:00:59.999Z"));
        assert_eq!(w.starts_at, ms("2026-11-21T17:00:00Z"));
        assert_eq!(w.resets_at, ms("2026-11-21T17:01:00Z"));
        assert_eq!(minute_window(w.resets_at).starts_at, w.resets_at);
    }

    #[test]
    fn waits_round_up_to_whole_seconds() {
        assert_eq!(seconds_until(0, 1), 1);
        assert_eq!(seconds_until(0, 1_000), 1);
        assert_eq!(seconds_until(0, 1_001), 2);
        assert_eq!(seconds_until(5_000, 1_000), 1);
        assert_eq!(remaining(10, 3), 7);
        assert_eq!(remaining(10, 12), 0);
    }

    const ZONES: [&str; 6] = [
        "UTC",
        "America/Mexico_City",
        "America/New_York",
        "America/Santiago",
        "Asia/Kolkata",
        "Australia/Lord_Howe",
    ];

    proptest! {
        #[test]
        fn every_instant_is_in_its_period(
            now in ms("2000-01-01T00:00:00Z")..ms("2100-01-01T00:00:00Z"),
            zone in 0..ZONES.len(),
        ) {
            let zone = QuotaZone::parse(ZONES[zone]).expect("zone");
            let p = daily_period(now, &zone);
            prop_assert!(p.starts_at <= now && now < p.resets_at);
            let hours = (p.resets_at - p.starts_at) as f64 / 3_600_000.0;
            prop_assert!((22.0..=26.0).contains(&hours), "{} is {hours} h", p.date);
            // The period ends exactly where the next one starts, on the next date.
            let next = daily_period(p.resets_at, &zone);
            prop_assert_eq!(next.starts_at, p.resets_at);
            prop_assert!(next.date > p.date);
            prop_assert_eq!(daily_period(p.resets_at - 1, &zone).date, p.date);
        }

        #[test]
        fn every_instant_is_in_its_minute(now in -1_000_000_000_000i64..4_000_000_000_000) {
            let w = minute_window(now);
            prop_assert!(w.starts_at <= now && now < w.resets_at);
            prop_assert_eq!(w.starts_at % RATE_WINDOW_MS, 0);
            prop_assert!(seconds_until(now, w.resets_at) <= 60);
        }
    }
}
