//! Graph API versions and Meta's published expiry dates.
//!
//! Meta keeps a Graph API version for about two years after its successor ships, and publishes
//! each version's expiry in its changelog (developers.facebook.com/docs/graph-api/changelog).
//! The dates below are those published as of December 2026; versions whose expiry Meta has
//! not published yet (v22.0 and later) have none, so they never warn.

use std::fmt;

use jiff::civil::{date, Date};

/// Chasqui's default: a current version.
pub const DEFAULT: &str = "v25.0";
/// How long before expiry Chasqui starts warning.
pub const WARN_DAYS: i64 = 60;
/// The oldest major version Chasqui was written against; older ones expired long ago.
const OLDEST_KNOWN: u32 = 18;

/// Published expiry dates: (major version, last day it answers).
const EXPIRES: &[(u32, (i16, i8, i8))] = &[
    (18, (2026, 1, 26)),
    (19, (2026, 5, 21)),
    (20, (2026, 9, 24)),
    (21, (2027, 1, 21)),
];

/// A Graph API version such as `v25.0`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct GraphVersion {
    major: u32,
    minor: u32,
}

/// Why a string is not a Graph API version.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("must look like {DEFAULT}")]
pub struct NotAVersion;

impl GraphVersion {
    /// Parses `vMAJOR.MINOR`.
    pub fn parse(s: &str) -> Result<Self, NotAVersion> {
        let (major, minor) = s
            .strip_prefix('v')
            .and_then(|rest| rest.split_once('.'))
            .ok_or(NotAVersion)?;
        let digits = |p: &str| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit());
        if !digits(major) || !digits(minor) {
            return Err(NotAVersion);
        }
        Ok(Self {
            major: major.parse().map_err(|_| NotAVersion)?,
            minor: minor.parse().map_err(|_| NotAVersion)?,
        })
    }

    /// The last day Meta answers this version, when published.
    pub fn expires_on(self) -> Option<Date> {
        if self.major < OLDEST_KNOWN {
            // Long gone: v17.0 expired in 2025.
            return Some(date(2025, 1, 1));
        }
        EXPIRES
            .iter()
            .find(|(major, _)| *major == self.major)
            .map(|(_, (y, m, d))| date(*y, *m, *d))
    }

    /// Whether it still works on `today`, and for how long.
    pub fn lifetime(self, today: Date) -> Lifetime {
        match self.expires_on() {
            None => Lifetime::Current,
            Some(last) if today > last => Lifetime::Expired { on: last },
            Some(last) => {
                let days = (last - today).get_days() as i64;
                if days <= WARN_DAYS {
                    Lifetime::ExpiresSoon { on: last, days }
                } else {
                    Lifetime::Current
                }
            }
        }
    }
}

impl fmt::Display for GraphVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "v{}.{}", self.major, self.minor)
    }
}

/// What a version's expiry means today.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lifetime {
    /// No expiry within [`WARN_DAYS`] (or none published).
    Current,
    /// Expires within [`WARN_DAYS`]: warn.
    ExpiresSoon {
        /// Its last day.
        on: Date,
        /// Days left.
        days: i64,
    },
    /// Meta no longer answers it: refuse.
    Expired {
        /// Its last day.
        on: Date,
    },
}

impl Lifetime {
    /// What to tell an operator, when anything.
    pub fn warning(self, version: GraphVersion) -> Option<String> {
        match self {
            Self::Current => None,
            Self::ExpiresSoon { on, days } => Some(format!(
                "Graph API {version} expires on {on} ({days} days left, Meta's published date): \
                 move the channel to {DEFAULT}"
            )),
            Self::Expired { on } => Some(format!(
                "Graph API {version} expired on {on} (Meta's published date): use {DEFAULT}"
            )),
        }
    }
}

/// The UTC day of a unix-milliseconds instant.
pub fn utc_day(now_ms: i64) -> Date {
    jiff::Timestamp::from_millisecond(now_ms)
        .map(|t| t.to_zoned(jiff::tz::TimeZone::UTC).date())
        .unwrap_or(date(1970, 1, 1))
}

/// Checks a channel's version at `now_ms`: an error to refuse it with (not a version, or
/// expired), or a warning when it expires soon. Admin changes, configuration, start-up and
/// `/readyz` all ask this.
pub fn check(version: &str, now_ms: i64) -> Result<Option<String>, String> {
    let parsed = GraphVersion::parse(version).map_err(|e| e.to_string())?;
    match parsed.lifetime(utc_day(now_ms)) {
        expired @ Lifetime::Expired { .. } => Err(expired.warning(parsed).unwrap_or_default()),
        lifetime => Ok(lifetime.warning(parsed)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_parse_and_print() {
        assert_eq!(GraphVersion::parse("v25.0").unwrap().to_string(), "v25.0");
        for bad in ["25.0", "v25", "v.0", "v25.x", "", "v-1.0"] {
            assert_eq!(GraphVersion::parse(bad), Err(NotAVersion), "{bad}");
        }
    }

    #[test]
    fn published_dates_decide_warnings_and_refusals() {
        let v = |s| GraphVersion::parse(s).unwrap();
        let today = date(2026, 12, 4);
        assert_eq!(
            v("v20.0").lifetime(today),
            Lifetime::Expired {
                on: date(2026, 9, 24)
            }
        );
        assert_eq!(
            v("v17.0").lifetime(today),
            Lifetime::Expired {
                on: date(2025, 1, 1)
            }
        );
        assert_eq!(
            v("v21.0").lifetime(today),
            Lifetime::ExpiresSoon {
                on: date(2027, 1, 21),
                days: 48
            }
        );
        assert_eq!(v("v21.0").lifetime(date(2026, 11, 1)), Lifetime::Current);
        assert_eq!(
            v("v21.0").lifetime(date(2027, 1, 21)),
            Lifetime::ExpiresSoon {
                on: date(2027, 1, 21),
                days: 0
            }
        );
        assert_eq!(
            v("v21.0").lifetime(date(2027, 1, 22)),
            Lifetime::Expired {
                on: date(2027, 1, 21)
            }
        );
        for current in ["v22.0", "v24.0", DEFAULT, "v26.0"] {
            assert_eq!(v(current).lifetime(today), Lifetime::Current, "{current}");
        }
        assert!(v("v21.0")
            .lifetime(today)
            .warning(v("v21.0"))
            .unwrap()
            .contains("2027-01-21"));
        let dec_4 = 1_796_342_400_000; // 2026-12-04T00:00:00Z
        assert_eq!(utc_day(dec_4), today);
        assert!(check("v20.0", dec_4)
            .unwrap_err()
            .contains("expired on 2026-09-24"));
        assert!(check("v21.0", dec_4).unwrap().unwrap().contains("48 days"));
        assert_eq!(check(DEFAULT, dec_4), Ok(None));
        assert_eq!(check("25", dec_4), Err("must look like v25.0".to_string()));
    }
}
