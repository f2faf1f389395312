//! The sandbox's knobs: timings of the simulated recipients, fault injection, webhook target.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// What redacted secrets look like in `GET /settings`; sending it back in a PATCH keeps the secret.
const REDACTED: &str = "***";

/// Everything the sandbox can be told; every field has a default, so `{}` is a valid config.
#[derive(Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(default)]
pub struct SandboxSettings {
    /// Where status and inbound webhooks go (Chasqui's `/webhooks/meta`); `None` keeps them in the log only.
    pub webhook_url: Option<String>,
    /// The Meta app secret webhooks are signed with (`X-Hub-Signature-256`).
    pub app_secret: String,
    /// The only Bearer token accepted; `None` accepts any non-empty token.
    pub access_token: Option<String>,
    /// `entry[].id` of every webhook.
    pub waba_id: String,
    /// `metadata.display_phone_number` of every webhook.
    pub display_phone_number: String,
    /// Delay from acceptance to the `sent` status.
    pub sent_after_ms: u64,
    /// Delay from acceptance to `delivered` (or `failed` for undeliverable recipients).
    pub delivered_after_ms: u64,
    /// Delay from acceptance to `read`; `None` means recipients never read.
    pub read_after_ms: Option<u64>,
    /// Swap the `delivered` and `read` webhooks on purpose, as Meta sometimes sends them: `read`
    /// goes out at `delivered_after_ms` and `delivered` at `read_after_ms`, so `read` arrives
    /// first and `delivered` late. No effect when recipients never read.
    pub read_before_delivered: bool,
    /// Extra latency before every Graph answer.
    pub latency_ms: u64,
    /// Accepted sends per phone number per one-second window before Meta's 130429; 0 = no limit.
    pub throttle_per_sec: u32,
    /// Probability of HTTP 500 / code 131000 with nothing recorded.
    pub error_5xx_rate: f64,
    /// Probability of recording a message, then hanging `hang_ms` (the caller times out; it was sent).
    pub timeout_after_accept_rate: f64,
    /// Probability of hanging `hang_ms` without recording anything (the caller times out; not sent).
    pub drop_rate: f64,
    /// How long injected hangs last.
    pub hang_ms: u64,
    /// Probability that each status webhook entry is silently lost.
    pub lost_webhook_rate: f64,
    /// Recipients (digits) whose messages fail with 131026 after `sent`.
    pub undeliverable_recipients: Vec<String>,
    /// Recipients (digits, or a BSUID) whose sends get this Meta error: the codes Meta answers in the call
    /// (131056, 132018) refuse it; the others (131026, 131047, 131049, 131050, 130472) are
    /// accepted and then reported `failed` in a status webhook, as Meta does.
    pub recipient_errors: BTreeMap<String, i64>,
    /// People known by a BSUID as well as their number (digits → BSUID): their statuses carry
    /// it as `recipient_user_id` beside `recipient_id`, as Meta's do from 2026.
    pub user_ids: BTreeMap<String, String>,
    /// Statuses due within this window go out together in one webhook POST.
    pub webhook_batch_ms: u64,
    /// Seed for the fault-injection RNG; `None` seeds from the OS.
    pub seed: Option<u64>,
    /// How long a submitted template stays PENDING before the simulated review approves it.
    pub template_approval_ms: u64,
}

impl Default for SandboxSettings {
    fn default() -> Self {
        Self {
            webhook_url: None,
            app_secret: "sandbox-app-secret".into(),
            access_token: None,
            waba_id: "100000000000001".into(),
            display_phone_number: "15550000001".into(),
            sent_after_ms: 50,
            delivered_after_ms: 150,
            read_after_ms: Some(300),
            read_before_delivered: false,
            latency_ms: 0,
            throttle_per_sec: 0,
            error_5xx_rate: 0.0,
            timeout_after_accept_rate: 0.0,
            drop_rate: 0.0,
            hang_ms: 30_000,
            lost_webhook_rate: 0.0,
            undeliverable_recipients: Vec::new(),
            recipient_errors: BTreeMap::new(),
            user_ids: BTreeMap::new(),
            webhook_batch_ms: 20,
            seed: None,
            template_approval_ms: 1_000,
        }
    }
}

// Shows the redacted form so the secrets never reach a log.
impl fmt::Debug for SandboxSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let shown = serde_json::to_string(&self.redacted()).map_err(|_| fmt::Error)?;
        write!(f, "SandboxSettings {shown}")
    }
}

/// A refused input, naming the field (answered as HTTP 422).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, thiserror::Error, utoipa::ToSchema)]
#[error("{field}: {message}")]
pub struct FieldError {
    /// The offending field.
    pub field: String,
    /// What is wrong with it.
    pub message: String,
}

impl FieldError {
    /// Builds an error for `field`.
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }
}

impl SandboxSettings {
    /// Checks every value (rates within [0, 1], an http(s) webhook URL, digit-only recipients).
    pub fn validate(&self) -> Result<(), FieldError> {
        let rates = [
            ("error_5xx_rate", self.error_5xx_rate),
            ("timeout_after_accept_rate", self.timeout_after_accept_rate),
            ("drop_rate", self.drop_rate),
            ("lost_webhook_rate", self.lost_webhook_rate),
        ];
        for (field, rate) in rates {
            if !(0.0..=1.0).contains(&rate) {
                return Err(FieldError::new(
                    field,
                    format!("must be between 0 and 1, got {rate}"),
                ));
            }
        }
        if let Some(url) = &self.webhook_url {
            let scheme_ok =
                reqwest::Url::parse(url).is_ok_and(|u| matches!(u.scheme(), "http" | "https"));
            if !scheme_ok {
                return Err(FieldError::new(
                    "webhook_url",
                    "must be an absolute http:// or https:// URL",
                ));
            }
        }
        for (i, number) in self.undeliverable_recipients.iter().enumerate() {
            if !is_phone_digits(number) {
                let field = format!("undeliverable_recipients[{i}]");
                return Err(FieldError::new(
                    field,
                    "must be a phone number in digits (wa_id form)",
                ));
            }
        }
        for (number, user_id) in &self.user_ids {
            let field = format!("user_ids.{number}");
            if !is_phone_digits(number) {
                return Err(FieldError::new(
                    field,
                    "must be a phone number in digits (wa_id form)",
                ));
            }
            if chasqui_domain::UserId::parse(user_id).is_err() {
                return Err(FieldError::new(field, "must be a business-scoped user id"));
            }
        }
        for (number, code) in &self.recipient_errors {
            let field = format!("recipient_errors.{number}");
            if !is_phone_digits(number) && chasqui_domain::UserId::parse(number).is_err() {
                return Err(FieldError::new(
                    field,
                    "must be a phone number in digits (wa_id form) or a business-scoped user id",
                ));
            }
            if super::meta_codes::injectable(*code).is_none() {
                let known: Vec<String> = super::meta_codes::INJECTABLE
                    .iter()
                    .map(|e| e.code.to_string())
                    .collect();
                return Err(FieldError::new(
                    field,
                    format!("must be one of Meta's codes {}", known.join(", ")),
                ));
            }
        }
        Ok(())
    }

    /// A copy with `app_secret` and `access_token` replaced by `***`.
    pub fn redacted(&self) -> Self {
        Self {
            app_secret: REDACTED.into(),
            access_token: self.access_token.as_ref().map(|_| REDACTED.into()),
            ..self.clone()
        }
    }

    /// Applies a JSON object of any subset of fields (`null` clears an optional one) and
    /// validates the result. Secrets sent back as `***` are left unchanged.
    pub fn merge_patch(&self, patch: &Value) -> Result<Self, FieldError> {
        let Value::Object(patch) = patch else {
            return Err(FieldError::new(
                "",
                "the body must be a JSON object of settings",
            ));
        };
        let Ok(Value::Object(mut merged)) = serde_json::to_value(self) else {
            return Err(FieldError::new(
                "",
                "current settings could not be serialised",
            ));
        };
        for (key, value) in patch {
            if !merged.contains_key(key) {
                return Err(FieldError::new(key.as_str(), "unknown setting"));
            }
            let keeps_secret = matches!(key.as_str(), "app_secret" | "access_token")
                && value.as_str() == Some(REDACTED);
            if keeps_secret {
                continue;
            }
            // Checked alone (other fields defaulted) so a type error names its field.
            let alone = Map::from_iter([(key.clone(), value.clone())]);
            if let Err(error) = serde_json::from_value::<Self>(Value::Object(alone)) {
                return Err(FieldError::new(key.as_str(), type_error_message(&error)));
            }
            merged.insert(key.clone(), value.clone());
        }
        let settings: Self = serde_json::from_value(Value::Object(merged))
            .map_err(|e| FieldError::new("", e.to_string()))?;
        settings.validate()?;
        Ok(settings)
    }

    /// Whether `digits` is listed in `undeliverable_recipients` (a leading `+` there is ignored).
    pub fn is_undeliverable(&self, digits: &str) -> bool {
        self.undeliverable_recipients
            .iter()
            .any(|n| n.trim_start_matches('+') == digits)
    }

    /// The error `recipient_errors` names for `digits`.
    pub(super) fn recipient_error(
        &self,
        digits: &str,
    ) -> Option<&'static super::meta_codes::InjectedError> {
        self.recipient_errors
            .iter()
            .find(|(n, _)| n.trim_start_matches('+') == digits)
            .and_then(|(_, code)| super::meta_codes::injectable(*code))
    }
}

/// serde's message without its " at line 1 column N" suffix.
fn type_error_message(error: &serde_json::Error) -> String {
    let text = error.to_string();
    match text.find(" at line ") {
        Some(at) => text[..at].to_owned(),
        None => text,
    }
}

/// Digits only (an optional leading `+`), at most 15 of them as E.164 allows.
pub(super) fn is_phone_digits(s: &str) -> bool {
    let digits = s.strip_prefix('+').unwrap_or(s);
    (1..=15).contains(&digits.len()) && digits.bytes().all(|b| b.is_ascii_digit())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn empty_object_is_the_defaults() {
        let parsed: SandboxSettings = serde_json::from_value(json!({})).unwrap();
        assert_eq!(parsed, SandboxSettings::default());
        assert!(parsed.validate().is_ok());
    }

    #[test]
    fn patch_merges_and_null_clears_options() {
        let patched = SandboxSettings::default()
            .merge_patch(&json!({"drop_rate": 0.5, "read_after_ms": null, "seed": 3}))
            .unwrap();
        assert_eq!(patched.drop_rate, 0.5);
        assert_eq!(patched.read_after_ms, None);
        assert_eq!(patched.seed, Some(3));
        assert_eq!(patched.sent_after_ms, 50);
        let swapped = patched
            .merge_patch(&json!({"read_before_delivered": true}))
            .unwrap();
        assert!(swapped.read_before_delivered);
        assert_eq!(
            patched
                .merge_patch(&json!({"read_before_delivered": 1}))
                .unwrap_err()
                .field,
            "read_before_delivered"
        );
    }

    #[test]
    fn patch_errors_name_the_field() {
        let base = SandboxSettings::default();
        assert_eq!(
            base.merge_patch(&json!({"drop_rate": 1.5}))
                .unwrap_err()
                .field,
            "drop_rate"
        );
        assert_eq!(
            base.merge_patch(&json!({"drop_rate": "x"}))
                .unwrap_err()
                .field,
            "drop_rate"
        );
        assert_eq!(
            base.merge_patch(&json!({"latency_ms": null}))
                .unwrap_err()
                .field,
            "latency_ms"
        );
        assert_eq!(
            base.merge_patch(&json!({"dropp_rate": 1}))
                .unwrap_err()
                .field,
            "dropp_rate"
        );
        assert_eq!(
            base.merge_patch(&json!({"webhook_url": "ftp://x"}))
                .unwrap_err()
                .field,
            "webhook_url"
        );
        let bad_number = json!({"undeliverable_recipients": ["51987654321", "abc"]});
        assert_eq!(
            base.merge_patch(&bad_number).unwrap_err().field,
            "undeliverable_recipients[1]"
        );
    }

    #[test]
    fn secrets_are_redacted_and_survive_a_round_trip() {
        let base = SandboxSettings {
            access_token: Some("tok".into()),
            ..Default::default()
        };
        let shown = serde_json::to_value(base.redacted()).unwrap();
        assert_eq!(shown["app_secret"], "***");
        assert_eq!(shown["access_token"], "***");
        assert!(!format!("{base:?}").contains("sandbox-app-secret"));
        let back = base.merge_patch(&shown).unwrap();
        assert_eq!(back, base);
    }
}
