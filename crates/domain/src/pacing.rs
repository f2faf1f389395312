//! Token buckets for a channel's throughput and the per-recipient pair rate. Time is passed in as
//! milliseconds so the arithmetic stays pure and testable.

/// A token bucket: `rate` tokens per second, holding at most `burst`.
#[derive(Debug, Clone, PartialEq)]
pub struct TokenBucket {
    rate_per_sec: f64,
    burst: f64,
    tokens: f64,
    last_ms: u64,
}

impl TokenBucket {
    /// A full bucket at time `now_ms`. A rate of 0 means unlimited.
    pub fn new(rate_per_sec: f64, burst: f64, now_ms: u64) -> Self {
        Self {
            rate_per_sec,
            burst: burst.max(1.0),
            tokens: burst.max(1.0),
            last_ms: now_ms,
        }
    }

    /// Takes one token at `now_ms`: `Ok(())`, or `Err(wait_ms)` until one is available.
    pub fn try_take(&mut self, now_ms: u64) -> Result<(), u64> {
        // `last_ms` ahead of `now_ms` means a pause (or a clock that went back): wait it out.
        if now_ms < self.last_ms {
            return Err(self.last_ms - now_ms + self.ms_until_whole_token());
        }
        if !self.is_limited() {
            return Ok(());
        }
        let elapsed = (now_ms - self.last_ms) as f64;
        self.tokens = (self.tokens + elapsed * self.rate_per_sec / 1000.0).min(self.burst);
        self.last_ms = now_ms;
        if self.tokens >= 1.0 - EPSILON {
            self.tokens = (self.tokens - 1.0).max(0.0);
            Ok(())
        } else {
            Err(self.ms_until_whole_token())
        }
    }

    /// Empties the bucket until `until_ms` (used when the provider says we were throttled).
    pub fn pause_until(&mut self, until_ms: u64) {
        // Exactly one token becomes available at `until_ms` (never earlier than an earlier pause
        // asked for); sending then resumes at the configured rate rather than in a burst.
        self.last_ms = self.last_ms.max(until_ms);
        self.tokens = 1.0;
    }

    /// Whether the bucket limits anything: a rate of 0 (or less, or not finite) is unlimited.
    pub fn is_limited(&self) -> bool {
        self.rate_per_sec > 0.0 && self.rate_per_sec.is_finite()
    }

    /// Milliseconds of refill needed, from `last_ms`, before a whole token is in the bucket.
    fn ms_until_whole_token(&self) -> u64 {
        if !self.is_limited() || self.tokens >= 1.0 - EPSILON {
            return 0;
        }
        // Shaving a ten-millionth of a ms keeps float noise from adding a whole ms to the wait.
        let ms = ((1.0 - self.tokens) * 1000.0 / self.rate_per_sec - 1e-7).ceil();
        // Float-to-int `as` saturates, so a tiny rate yields u64::MAX rather than wrapping.
        (ms as u64).max(1)
    }
}

/// Slack for float rounding, so a wait computed as "until one token" is always honoured. At
/// Meta's rates it lets through at most one extra message per million.
const EPSILON: f64 = 1e-6;

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn a_full_bucket_allows_a_burst_then_paces() {
        let mut b = TokenBucket::new(10.0, 3.0, 1_000);
        assert_eq!(b.try_take(1_000), Ok(()));
        assert_eq!(b.try_take(1_000), Ok(()));
        assert_eq!(b.try_take(1_000), Ok(()));
        assert_eq!(b.try_take(1_000), Err(100));
        assert_eq!(b.try_take(1_050), Err(50));
        assert_eq!(b.try_take(1_100), Ok(()));
        assert_eq!(b.try_take(1_100), Err(100));
    }

    #[test]
    fn refill_stops_at_burst() {
        let mut b = TokenBucket::new(1.0, 2.0, 0);
        assert_eq!(b.try_take(1_000_000), Ok(()));
        assert_eq!(b.try_take(1_000_000), Ok(()));
        assert_eq!(b.try_take(1_000_000), Err(1_000));
    }

    #[test]
    fn pair_rate_of_one_per_six_seconds() {
        let mut b = TokenBucket::new(1.0 / 6.0, 1.0, 0);
        assert_eq!(b.try_take(0), Ok(()));
        assert_eq!(b.try_take(1), Err(5_999));
        assert_eq!(b.try_take(5_999), Err(1));
        assert_eq!(b.try_take(6_000), Ok(()));
    }

    #[test]
    fn zero_or_negative_rate_is_unlimited() {
        for rate in [0.0, -1.0, f64::NAN] {
            let mut b = TokenBucket::new(rate, 1.0, 0);
            for _ in 0..1000 {
                assert_eq!(b.try_take(0), Ok(()));
            }
        }
    }

    #[test]
    fn pause_blocks_until_the_given_time() {
        let mut b = TokenBucket::new(80.0, 80.0, 0);
        b.pause_until(5_000);
        assert_eq!(b.try_take(0), Err(5_000));
        assert_eq!(b.try_take(4_999), Err(1));
        assert_eq!(b.try_take(5_000), Ok(()));
        // Then it resumes at the rate, not with a full burst.
        assert_eq!(b.try_take(5_000), Err(13));
    }

    #[test]
    fn a_shorter_pause_does_not_cut_a_longer_one() {
        let mut b = TokenBucket::new(10.0, 10.0, 0);
        b.pause_until(5_000);
        b.pause_until(1_000);
        assert_eq!(b.try_take(2_000), Err(3_000));
    }

    #[test]
    fn pause_applies_to_unlimited_buckets_too() {
        let mut b = TokenBucket::new(0.0, 1.0, 0);
        b.pause_until(2_000);
        assert_eq!(b.try_take(500), Err(1_500));
        assert_eq!(b.try_take(2_000), Ok(()));
        assert_eq!(b.try_take(2_000), Ok(()));
    }

    /// A sequence of (gap since previous attempt in ms) values.
    fn gaps() -> impl Strategy<Value = Vec<u64>> {
        prop::collection::vec(prop_oneof![Just(0u64), 0u64..20, 0u64..2_000], 1..300)
    }

    proptest! {
        #[test]
        fn never_exceeds_burst_plus_rate_in_any_window(
            rate in 0.1f64..200.0,
            burst in 1.0f64..20.0,
            gaps in gaps(),
            window in 0u64..5_000,
        ) {
            let mut b = TokenBucket::new(rate, burst, 0);
            let mut now = 0u64;
            let mut taken = Vec::new();
            for gap in gaps {
                now += gap;
                if b.try_take(now).is_ok() {
                    taken.push(now);
                }
            }
            let allowed = burst + rate * window as f64 / 1000.0 + 1.0;
            for (i, &start) in taken.iter().enumerate() {
                let in_window = taken[i..].iter().take_while(|&&t| t <= start + window).count();
                prop_assert!(in_window as f64 <= allowed, "{in_window} takes in {window} ms, allowed {allowed}");
            }
        }

        #[test]
        fn waits_are_honest(
            rate in 0.01f64..1_000.0,
            burst in 1.0f64..20.0,
            gaps in gaps(),
            pause in prop::option::of(0u64..10_000),
        ) {
            let mut b = TokenBucket::new(rate, burst, 0);
            if let Some(until) = pause {
                b.pause_until(until);
            }
            let mut now = 0u64;
            for gap in gaps {
                now += gap;
                if let Err(wait) = b.try_take(now) {
                    prop_assert!(wait >= 1);
                    let mut probe = b.clone();
                    prop_assert!(probe.try_take(now + wait).is_ok(), "wait {wait} at {now} was not enough");
                    // Not needlessly long either: at most the pause left plus one token's time.
                    let bound = b.last_ms.saturating_sub(now) + (1000.0 / rate).ceil() as u64 + 1;
                    prop_assert!(wait <= bound, "wait {wait} at {now} exceeds {bound}");
                }
            }
        }

        #[test]
        fn nothing_is_taken_before_a_pause_ends(
            rate in 0.0f64..1_000.0,
            until in 0u64..100_000,
            probe in 0u64..100_000,
        ) {
            let mut b = TokenBucket::new(rate, 10.0, 0);
            b.pause_until(until);
            prop_assert_eq!(b.try_take(probe).is_ok(), probe >= until);
        }
    }
}
