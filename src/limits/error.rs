//! A refused request: which limit, and what the `429` answer's headers say.

use axum::http::{HeaderMap, HeaderValue};

/// Which limit refused a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LimitKind {
    /// The key's messages per day.
    DailyQuota,
    /// The workspace's messages per day (all its keys together).
    WorkspaceDailyQuota,
    /// The key's requests per minute.
    Rate,
    /// The key's requests in flight.
    Concurrency,
    /// The channel's distinct business-initiated recipients per rolling 24 hours.
    MessagingLimit,
}

impl LimitKind {
    /// The answer's stable machine code.
    pub fn code(self) -> &'static str {
        match self {
            Self::DailyQuota | Self::WorkspaceDailyQuota => "daily_quota_exceeded",
            Self::Rate => "rate_limited",
            Self::Concurrency => "too_many_concurrent_requests",
            Self::MessagingLimit => "messaging_limit_reached",
        }
    }
}

/// The `RateLimit-Limit`, `RateLimit-Remaining` and `RateLimit-Reset` values of one limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimitHeaders {
    /// The limit.
    pub limit: i64,
    /// Units left now.
    pub remaining: i64,
    /// Seconds until units come back.
    pub reset_secs: u64,
}

impl RateLimitHeaders {
    /// Writes the three headers into `headers`.
    pub fn apply(&self, headers: &mut HeaderMap) {
        headers.insert("ratelimit-limit", HeaderValue::from(self.limit.max(0)));
        headers.insert(
            "ratelimit-remaining",
            HeaderValue::from(self.remaining.max(0)),
        );
        headers.insert("ratelimit-reset", HeaderValue::from(self.reset_secs));
    }
}

/// A request refused by a limit (answered `429 Too Many Requests`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LimitError {
    /// Over a limit.
    #[error("{}", describe(.kind, .headers))]
    Exceeded {
        /// Which limit.
        kind: LimitKind,
        /// Its `RateLimit-*` values.
        headers: RateLimitHeaders,
        /// Seconds to wait before trying again (`Retry-After`).
        retry_after_secs: u64,
    },
    /// The database did not answer while counting.
    #[error("counting the request against its limits failed: {0}")]
    Store(String),
    /// The store stopped accepting writes (a failed fsync): answered 503 `storage_unavailable`.
    #[error("{0}")]
    StoreUnavailable(String),
}

fn describe(kind: &LimitKind, h: &RateLimitHeaders) -> String {
    let wait = h.reset_secs;
    match kind {
        LimitKind::DailyQuota => format!(
            "this API key's daily quota of {} messages is used up; it resets in {wait} s",
            h.limit
        ),
        LimitKind::WorkspaceDailyQuota => format!(
            "the workspace's daily quota of {} messages is used up; it resets in {wait} s",
            h.limit
        ),
        LimitKind::Rate => format!(
            "this API key may make {} requests per minute; try again in {wait} s",
            h.limit
        ),
        LimitKind::Concurrency => format!(
            "this API key may have {} requests in flight at once; try again when one finishes",
            h.limit
        ),
        LimitKind::MessagingLimit => format!(
            "the channel's messaging limit of {} business-initiated recipients per 24 hours is \
             reached; a slot frees up in {wait} s (replies inside a customer's 24-hour window and \
             messages to recipients already counted still go)",
            h.limit
        ),
    }
}

impl LimitError {
    /// Over `kind`'s `limit` with `remaining` left; units return in `reset_secs`, try again in
    /// `retry_after_secs`.
    pub fn new(
        kind: LimitKind,
        limit: i64,
        remaining: i64,
        reset_secs: u64,
        retry_after_secs: u64,
    ) -> Self {
        Self::Exceeded {
            kind,
            headers: RateLimitHeaders {
                limit,
                remaining,
                reset_secs,
            },
            retry_after_secs,
        }
    }
}

impl From<chasqui_store::StoreError> for LimitError {
    fn from(e: chasqui_store::StoreError) -> Self {
        match e {
            e @ chasqui_store::StoreError::Unavailable(_) => Self::StoreUnavailable(e.to_string()),
            e => Self::Store(e.to_string()),
        }
    }
}
