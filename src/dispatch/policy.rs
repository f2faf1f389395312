//! What the dispatcher does with each provider answer: the retry, throttle and unknown-outcome
//! policy, decided in one place.

use std::time::Duration;

use chasqui_domain::backoff::Backoff;
use chasqui_domain::{classify, ErrorClass, MetaError};
use chasqui_provider::SendOutcome;
use chasqui_store::{Claimed, Millis, Outcome};

use crate::config::{DispatcherConfig, UnknownOutcomePolicy};

/// Chasqui's own error codes (negative, so they never collide with Meta's).
pub mod codes {
    /// The provider could not be reached, or answered without a Meta error code.
    pub const TRANSPORT: i64 = -1;
    /// A call's outcome stayed unknown and the policy is `fail`.
    pub const UNKNOWN_OUTCOME: i64 = -2;
    /// The stored body could not be read back.
    pub const CORRUPT_BODY: i64 = -3;
}

/// Back-pressure a provider answer asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Throttle {
    /// Hold the whole channel until then.
    Channel(Millis),
    /// Hold this recipient until then.
    Pair(String, Millis),
}

/// The outcome to record for a claimed message, and any throttling to apply.
pub fn decide(
    cfg: &DispatcherConfig,
    claimed: &Claimed,
    sent: SendOutcome,
    now: Millis,
    random: f64,
) -> (Outcome, Option<Throttle>) {
    let (error, class, retry_after) = match sent {
        SendOutcome::Accepted { wamid, .. } => return (Outcome::Sent { wamid, at: now }, None),
        SendOutcome::Unknown { reason } => {
            let reconcile_by = now + cfg.unknown_outcome_wait_ms;
            return (
                Outcome::Unknown {
                    at: now,
                    reason,
                    reconcile_by,
                },
                None,
            );
        }
        SendOutcome::NotSent { reason } => (
            MetaError {
                code: codes::TRANSPORT,
                title: "provider unreachable".into(),
                details: Some(reason),
            },
            ErrorClass::Retry,
            None,
        ),
        SendOutcome::Rejected {
            http_status,
            error,
            retry_after_secs,
        } => {
            let class = classify(error.code, Some(http_status));
            (error, class, retry_after_secs)
        }
    };
    if class == ErrorClass::Permanent {
        return (Outcome::Failed { at: now, error }, None);
    }
    let backoff = Backoff {
        base: Duration::from_millis(cfg.retry_base_ms),
        max: Duration::from_millis(cfg.retry_max_ms),
    };
    let attempt = u32::try_from(claimed.attempts + 1).unwrap_or(u32::MAX);
    let mut delay = backoff.delay(attempt, random).as_millis() as i64;
    if let Some(secs) = retry_after {
        delay = delay.max(
            i64::try_from(secs)
                .unwrap_or(i64::MAX / 2)
                .saturating_mul(1000),
        );
    }
    let next = now.saturating_add(delay);
    if next > claimed.created_at.saturating_add(cfg.retry_deadline_ms) {
        return (Outcome::Failed { at: now, error }, None);
    }
    let throttle = match class {
        ErrorClass::ThrottleChannel => Some(Throttle::Channel(next)),
        ErrorClass::ThrottlePair => Some(Throttle::Pair(claimed.recipient.clone(), next)),
        _ => None,
    };
    (
        Outcome::Retry {
            at: now,
            next_attempt_at: next,
            error,
        },
        throttle,
    )
}

/// The outcome for an unknown outcome whose wait ended with no status webhook.
pub fn unresolved(cfg: &DispatcherConfig, now: Millis) -> Outcome {
    match cfg.unknown_outcome_policy {
        UnknownOutcomePolicy::Resend => Outcome::Resend { at: now },
        UnknownOutcomePolicy::Fail => Outcome::Failed {
            at: now,
            error: MetaError {
                code: codes::UNKNOWN_OUTCOME,
                title: "outcome unknown".into(),
                details: Some(
                    "the provider call's outcome is unknown and no status webhook named the message in time".into(),
                ),
            },
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claimed(attempts: i64) -> Claimed {
        Claimed {
            message_id: chasqui_domain::MessageId::from_trusted("m"),
            recipient: "5215512345678".into(),
            body: "{}".into(),
            attempts,
            created_at: 0,
        }
    }

    fn rejected(code: i64, http_status: u16) -> SendOutcome {
        SendOutcome::Rejected {
            http_status,
            error: MetaError {
                code,
                title: "t".into(),
                details: None,
            },
            retry_after_secs: None,
        }
    }

    #[test]
    fn permanent_errors_fail_at_once() {
        let (out, t) = decide(
            &DispatcherConfig::default(),
            &claimed(0),
            rejected(131026, 400),
            10,
            0.5,
        );
        assert!(matches!(out, Outcome::Failed { error, .. } if error.code == 131026));
        assert_eq!(t, None);
    }

    #[test]
    fn throttling_retries_and_holds_the_channel_or_the_pair() {
        let cfg = DispatcherConfig::default();
        let (out, t) = decide(&cfg, &claimed(0), rejected(130429, 400), 10, 0.0);
        assert!(matches!(out, Outcome::Retry { next_attempt_at, .. } if next_attempt_at > 10));
        assert!(matches!(t, Some(Throttle::Channel(_))));
        let (_, t) = decide(&cfg, &claimed(0), rejected(131056, 400), 10, 0.0);
        assert!(matches!(t, Some(Throttle::Pair(r, _)) if r == "5215512345678"));
    }

    #[test]
    fn retries_stop_at_the_deadline() {
        let cfg = DispatcherConfig {
            retry_deadline_ms: 1_000,
            ..Default::default()
        };
        let (out, _) = decide(&cfg, &claimed(3), rejected(131000, 500), 900, 0.9);
        assert!(matches!(out, Outcome::Failed { .. }));
    }

    #[test]
    fn retry_after_is_honoured() {
        let cfg = DispatcherConfig::default();
        let sent = SendOutcome::Rejected {
            http_status: 503,
            error: MetaError {
                code: 2,
                title: "t".into(),
                details: None,
            },
            retry_after_secs: Some(120),
        };
        let (out, _) = decide(&cfg, &claimed(0), sent, 0, 0.0);
        assert!(
            matches!(out, Outcome::Retry { next_attempt_at, .. } if next_attempt_at >= 120_000)
        );
    }

    #[test]
    fn unknown_outcomes_wait_for_a_webhook_and_never_resend_at_once() {
        let cfg = DispatcherConfig::default();
        let (out, _) = decide(
            &cfg,
            &claimed(0),
            SendOutcome::Unknown {
                reason: "timeout".into(),
            },
            5,
            0.0,
        );
        assert!(
            matches!(out, Outcome::Unknown { reconcile_by, .. } if reconcile_by == 5 + cfg.unknown_outcome_wait_ms)
        );
        let fail = DispatcherConfig {
            unknown_outcome_policy: UnknownOutcomePolicy::Fail,
            ..Default::default()
        };
        assert!(
            matches!(unresolved(&fail, 1), Outcome::Failed { error, .. } if error.code == codes::UNKNOWN_OUTCOME)
        );
        assert!(matches!(unresolved(&cfg, 1), Outcome::Resend { .. }));
    }
}
