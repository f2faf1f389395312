//! Meta's Graph API errors and how the dispatcher treats each one.

use serde::{Deserialize, Serialize};

/// An error as Meta reports it, synchronously or in a `failed` status webhook.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct MetaError {
    /// Meta's numeric `code` (e.g. 131047).
    pub code: i64,
    /// Short title (`error_user_title`, status `title`, or the text of `message`).
    pub title: String,
    /// `error_data.details` when present.
    pub details: Option<String>,
}

/// What to do about an error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorClass {
    /// Try again later with backoff (server errors, transient failures).
    Retry,
    /// The channel's throughput was exceeded (130429, 4, 80007): slow the whole channel, retry.
    ThrottleChannel,
    /// The pair rate to this recipient was hit (131056): delay only this recipient, retry.
    ThrottlePair,
    /// Permanent: record the failure, never retry.
    Permanent,
}

/// Classifies Meta's error `code` (and the HTTP status when there is one), per the table in
/// meta-cloud-api.md §2.3/§2.4. Branches on the code, not the HTTP status, except that any HTTP
/// status ≥ 500 with an unknown code is retryable.
pub fn classify(code: i64, http_status: Option<u16>) -> ErrorClass {
    if let Some(class) = known_class(code) {
        return class;
    }
    // Unknown codes (and NO_CODE): only the HTTP status can tell a transient failure.
    match http_status {
        Some(status) if status >= 500 => ErrorClass::Retry,
        Some(429) => ErrorClass::ThrottleChannel,
        _ => ErrorClass::Permanent,
    }
}

/// The code to pass to [`classify`] when Meta's answer carried no error code at all.
pub const NO_CODE: i64 = -1;

/// Codes with a fixed class, from meta-cloud-api.md §2.3 (action column) and §2.4.
const CODE_CLASSES: &[(ErrorClass, &[i64])] = &[
    (ErrorClass::ThrottleChannel, &[4, 80007, 130429]),
    (ErrorClass::ThrottlePair, &[131056]),
    // 1 is "retry a few times, then fix": the dispatcher's deadline bounds the retries.
    // 131048 (spam rate limit) is retried slowly; the backoff cap keeps it from hammering.
    (
        ErrorClass::Retry,
        &[1, 2, 131000, 131016, 131048, 131057, 131064, 132069, 133004],
    ),
    // Listed so a 5xx answer does not turn them into retries. Among them: 131049 (Meta's
    // per-user marketing cap: sending again the same day meets the same cap, and campaigns may
    // try the recipient another day), 130472 (the user is in Meta's experiment group: it would
    // fail again), 131050 (the user stopped marketing messages: a consent change, not a fault)
    // and 132018 (the template's parameters do not match it: the request must change).
    (
        ErrorClass::Permanent,
        &[
            0, 3, 10, 33, 100, 190, 368, 130472, 130497, 131005, 131008, 131009, 131021, 131026,
            131031, 131037, 131042, 131045, 131047, 131049, 131050, 131051, 131052, 131053, 132000,
            132001, 132005, 132018, 132007, 132008, 132012, 132015, 132016, 132068, 133000, 133005,
            133006, 133007, 133008, 133009, 133010, 133015, 133016, 135000, 137000,
        ],
    ),
];

/// The fixed class of a code Meta documents, if it has one.
fn known_class(code: i64) -> Option<ErrorClass> {
    // 200–299 are the "API permission" family: an operator must grant access.
    if (200..=299).contains(&code) {
        return Some(ErrorClass::Permanent);
    }
    CODE_CLASSES
        .iter()
        .find(|(_, codes)| codes.contains(&code))
        .map(|(class, _)| *class)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn assert_class(class: ErrorClass, codes: &[i64]) {
        for &code in codes {
            for http in [None, Some(400), Some(403), Some(429), Some(500), Some(503)] {
                assert_eq!(classify(code, http), class, "code {code} http {http:?}");
            }
        }
    }

    #[test]
    fn channel_throughput_codes_throttle_the_channel() {
        assert_class(ErrorClass::ThrottleChannel, &[4, 80007, 130429]);
    }

    #[test]
    fn pair_rate_code_throttles_the_pair() {
        assert_class(ErrorClass::ThrottlePair, &[131056]);
    }

    #[test]
    fn transient_codes_are_retried_whatever_the_http_status() {
        assert_class(
            ErrorClass::Retry,
            &[1, 2, 131000, 131016, 131057, 133004, 131048, 131064, 132069],
        );
    }

    #[test]
    fn policy_and_caller_errors_are_permanent_even_with_a_5xx() {
        assert_class(
            ErrorClass::Permanent,
            &[
                131047, 131026, 131049, 131050, 368, 130497, 131031, 100, 131008, 131009, 132000,
                132001, 0, 190, 10, 3, 133000, 200, 250, 299, 130472,
            ],
        );
    }

    #[test]
    fn unknown_codes_follow_the_http_status() {
        for code in [NO_CODE, 999_999, 5, 131999] {
            assert_eq!(classify(code, Some(500)), ErrorClass::Retry, "{code}");
            assert_eq!(classify(code, Some(502)), ErrorClass::Retry, "{code}");
            assert_eq!(classify(code, Some(599)), ErrorClass::Retry, "{code}");
            assert_eq!(
                classify(code, Some(429)),
                ErrorClass::ThrottleChannel,
                "{code}"
            );
            assert_eq!(classify(code, Some(400)), ErrorClass::Permanent, "{code}");
            assert_eq!(classify(code, Some(404)), ErrorClass::Permanent, "{code}");
            assert_eq!(classify(code, None), ErrorClass::Permanent, "{code}");
        }
    }

    #[test]
    fn every_code_has_one_class_only() {
        let mut seen = std::collections::HashSet::new();
        for (_, codes) in CODE_CLASSES {
            for code in *codes {
                assert!(seen.insert(*code), "code {code} is listed twice");
            }
        }
    }
}
