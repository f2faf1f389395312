//! Exponential backoff with jitter for retries.

use std::time::Duration;

/// Retry delay policy: `base * 2^(attempt-1)` capped at `max`, with "full jitter" scaled by a
/// caller-supplied random fraction so the function stays pure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    /// Delay before the first retry.
    pub base: Duration,
    /// Upper bound for any single delay.
    pub max: Duration,
}

impl Backoff {
    /// The delay before retry number `attempt` (1 = first retry). `random` is in `[0, 1)`; the
    /// result lies in `[d/2, d]` where `d` is the capped exponential delay.
    pub fn delay(&self, attempt: u32, random: f64) -> Duration {
        let capped = self.capped(attempt);
        let half = capped.as_nanos() / 2;
        // Clamp so a bad random source (NaN, out of range) cannot leave [d/2, d].
        let random = if random.is_finite() {
            random.clamp(0.0, 1.0)
        } else {
            0.0
        };
        // Float rounding may overshoot slightly on huge durations; `min` keeps the bound exact.
        let jitter = ((half as f64 * random) as u128).min(half);
        from_nanos(half + jitter)
    }

    /// `min(max, base * 2^(attempt-1))`, without overflow for any attempt (0 counts as 1).
    pub fn capped(&self, attempt: u32) -> Duration {
        let exponent = attempt.saturating_sub(1);
        let base = self.base.as_nanos();
        let max = self.max.as_nanos();
        // On overflow any non-zero base is far above the cap (a `Duration` fits in 2^94 ns).
        let exponential = 1u128
            .checked_shl(exponent)
            .and_then(|factor| base.checked_mul(factor));
        let nanos = match exponential {
            Some(n) => n.min(max),
            None if base == 0 => 0,
            None => max,
        };
        from_nanos(nanos)
    }
}

/// A duration from nanoseconds; callers pass at most a `Duration`'s own nanos, so it fits.
fn from_nanos(nanos: u128) -> Duration {
    const PER_SEC: u128 = 1_000_000_000;
    let secs = u64::try_from(nanos / PER_SEC).unwrap_or(u64::MAX);
    // The remainder is below 10^9, so it always fits in u32.
    let subsec = u32::try_from(nanos % PER_SEC).unwrap_or(0);
    Duration::new(secs, subsec)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn policy(base_ms: u64, max_ms: u64) -> Backoff {
        Backoff {
            base: Duration::from_millis(base_ms),
            max: Duration::from_millis(max_ms),
        }
    }

    #[test]
    fn doubles_from_base_until_the_cap() {
        let b = policy(500, 60_000);
        let caps: Vec<u64> = (1..=10).map(|a| b.capped(a).as_millis() as u64).collect();
        assert_eq!(
            caps,
            [500, 1000, 2000, 4000, 8000, 16000, 32000, 60000, 60000, 60000]
        );
        assert_eq!(b.capped(0), b.capped(1));
    }

    #[test]
    fn jitter_spans_half_to_full() {
        let b = policy(1000, 60_000);
        assert_eq!(b.delay(1, 0.0), Duration::from_millis(500));
        assert_eq!(b.delay(1, 0.5), Duration::from_millis(750));
        assert_eq!(b.delay(1, 1.0), Duration::from_millis(1000));
        assert_eq!(b.delay(3, 0.0), Duration::from_millis(2000));
    }

    #[test]
    fn huge_attempts_and_durations_do_not_overflow() {
        let b = Backoff {
            base: Duration::MAX,
            max: Duration::MAX,
        };
        assert_eq!(b.capped(u32::MAX), Duration::MAX);
        assert!(b.delay(u32::MAX, 1.0) <= Duration::MAX);
        let b = policy(1, 10_000);
        assert_eq!(b.capped(u32::MAX), Duration::from_secs(10));
        assert_eq!(b.capped(200), Duration::from_secs(10));
        assert_eq!(policy(0, 10).delay(u32::MAX, 0.7), Duration::ZERO);
    }

    #[test]
    fn bad_random_values_are_clamped() {
        let b = policy(1000, 1000);
        assert_eq!(b.delay(1, f64::NAN), Duration::from_millis(500));
        assert_eq!(b.delay(1, -3.0), Duration::from_millis(500));
        assert_eq!(b.delay(1, 7.0), Duration::from_millis(1000));
    }

    proptest! {
        #[test]
        fn delay_is_within_half_and_full_of_the_cap(
            base_ms in 0u64..100_000,
            max_ms in 0u64..10_000_000,
            attempt in any::<u32>(),
            random in 0.0f64..1.0,
        ) {
            let b = policy(base_ms, max_ms);
            let d = b.capped(attempt);
            let delay = b.delay(attempt, random);
            prop_assert!(delay.as_nanos() >= d.as_nanos() / 2);
            prop_assert!(delay <= d);
            prop_assert!(delay <= b.max);
        }

        #[test]
        fn cap_never_decreases_as_attempts_grow(
            base_ms in 0u64..100_000,
            max_ms in 0u64..10_000_000,
            attempt in 0u32..200,
        ) {
            let b = policy(base_ms, max_ms);
            prop_assert!(b.capped(attempt) <= b.capped(attempt + 1));
            prop_assert!(b.capped(attempt) <= b.max);
        }
    }
}
