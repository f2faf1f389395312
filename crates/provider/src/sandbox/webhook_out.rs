//! Webhooks the sandbox sends: Meta's envelope, the `X-Hub-Signature-256` signature, and
//! at-least-once delivery with retries, each POST independent of the others.

use std::sync::Arc;
use std::time::Duration;

use hmac::{Hmac, KeyInit, Mac};
use reqwest::header::CONTENT_TYPE;
use serde::Serialize;
use sha2::Sha256;

use super::recipient::{StatusEntry, StatusEvent};
use super::{bump, lock, now_ms, LoggedStatus, Sandbox, SandboxSettings};

/// Attempts per webhook POST before it is abandoned (first retry after 100 ms, doubling).
const MAX_ATTEMPTS: u32 = 10;
const FIRST_BACKOFF: Duration = Duration::from_millis(100);

/// `sha256=<lowercase hex HMAC-SHA256(app_secret, body)>`, the `X-Hub-Signature-256` value.
pub fn sign(app_secret: &str, body: &[u8]) -> String {
    // HMAC accepts keys of any length, so this never fails in practice.
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(app_secret.as_bytes()) else {
        return String::new();
    };
    mac.update(body);
    format!(
        "sha256={}",
        hex::encode(mac.finalize().into_bytes().as_slice())
    )
}

/// Meta's webhook body: one entry for the WABA, one `messages` change per phone number id,
/// each `value` holding `messaging_product`, `metadata` and the given fields.
#[derive(Debug, Serialize)]
pub(super) struct Envelope<'a, F> {
    object: &'static str,
    entry: [Entry<'a, F>; 1],
}

#[derive(Debug, Serialize)]
struct Entry<'a, F> {
    id: &'a str,
    changes: Vec<Change<'a, F>>,
}

#[derive(Debug, Serialize)]
struct Change<'a, F> {
    field: &'static str,
    value: ChangeValue<'a, F>,
}

#[derive(Debug, Serialize)]
struct ChangeValue<'a, F> {
    messaging_product: &'static str,
    metadata: Metadata<'a>,
    #[serde(flatten)]
    fields: F,
}

#[derive(Debug, Serialize)]
struct Metadata<'a> {
    display_phone_number: &'a str,
    phone_number_id: String,
}

/// The `statuses` field of a change.
#[derive(Debug, Serialize)]
struct Statuses<'a> {
    statuses: Vec<StatusEntry<'a>>,
}

/// Builds the webhook body for `changes`: (phone number id, that change's fields).
pub(super) fn envelope<F: Serialize>(
    settings: &SandboxSettings,
    changes: Vec<(String, F)>,
) -> Envelope<'_, F> {
    let changes = changes
        .into_iter()
        .map(|(phone_number_id, fields)| Change {
            field: "messages",
            value: ChangeValue {
                messaging_product: "whatsapp",
                metadata: Metadata {
                    display_phone_number: &settings.display_phone_number,
                    phone_number_id,
                },
                fields,
            },
        })
        .collect();
    Envelope {
        object: "whatsapp_business_account",
        entry: [Entry {
            id: &settings.waba_id,
            changes,
        }],
    }
}

impl Sandbox {
    /// Logs a batch of due statuses, drops the "lost" ones, and posts the rest as one webhook.
    pub(super) fn emit_statuses(self: &Arc<Self>, events: Vec<StatusEvent>) {
        if events.is_empty() {
            return;
        }
        let settings = self.settings();
        let now = now_ms();
        let lost: Vec<bool> = {
            let mut state = lock(&self.state);
            events
                .iter()
                .map(|event| {
                    let lost = Self::roll(&mut state.rng, settings.lost_webhook_rate);
                    let logged = LoggedStatus {
                        status: event.kind.as_str().into(),
                        at_ms: now,
                        lost,
                    };
                    Self::log_status(&mut state, event.seq, logged);
                    lost
                })
                .collect()
        };
        let mut by_number: Vec<(String, Statuses)> = Vec::new();
        for (event, lost) in events.iter().zip(lost) {
            if lost {
                bump(&self.stats.statuses_lost);
                continue;
            }
            let user_id = settings.user_ids.get(&event.recipient).map(String::as_str);
            let entry = super::recipient::status_entry(event, now / 1000, user_id);
            match by_number
                .iter_mut()
                .find(|(id, _)| *id == event.phone_number_id)
            {
                Some((_, change)) => change.statuses.push(entry),
                None => by_number.push((
                    event.phone_number_id.clone(),
                    Statuses {
                        statuses: vec![entry],
                    },
                )),
            }
        }
        if by_number.is_empty() || settings.webhook_url.is_none() {
            return;
        }
        self.post_webhook(&envelope(&settings, by_number));
    }

    /// Sends a webhook body in the background, retrying until a 2xx or `MAX_ATTEMPTS`.
    pub(super) fn post_webhook(self: &Arc<Self>, payload: &impl Serialize) {
        match serde_json::to_vec(payload) {
            Ok(body) => {
                tokio::spawn(self.clone().deliver(body));
            }
            Err(e) => tracing::error!(error = %e, "sandbox webhook body could not be written"),
        }
    }

    async fn deliver(self: Arc<Self>, body: Vec<u8>) {
        let mut backoff = FIRST_BACKOFF;
        for attempt in 1..=MAX_ATTEMPTS {
            // Re-read each time, so fixing the URL or secret mid-retry takes effect.
            let settings = self.settings();
            let Some(url) = settings.webhook_url.as_deref() else {
                return;
            };
            let result = self
                .webhook_client
                .post(url)
                .header(CONTENT_TYPE, "application/json")
                .header("X-Hub-Signature-256", sign(&settings.app_secret, &body))
                .body(body.clone())
                .send()
                .await;
            match result {
                Ok(response) if response.status().is_success() => {
                    // Read the body so the connection goes back to the pool.
                    let _ = response.bytes().await;
                    bump(&self.stats.webhooks_sent);
                    return;
                }
                Ok(response) => {
                    tracing::debug!(status = %response.status(), attempt, "sandbox webhook refused");
                }
                Err(error) => tracing::debug!(%error, attempt, "sandbox webhook failed"),
            }
            if attempt < MAX_ATTEMPTS {
                bump(&self.stats.webhook_retries);
                tokio::time::sleep(backoff).await;
                backoff *= 2;
            }
        }
        tracing::warn!(attempts = MAX_ATTEMPTS, "sandbox webhook abandoned");
        bump(&self.stats.webhooks_failed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature_matches_a_known_vector() {
        // RFC 4231 test case 2.
        let sig = sign("Jefe", b"what do ya want for nothing?");
        assert_eq!(
            sig,
            "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    use serde_json::{json, Map};

    #[test]
    fn envelope_groups_by_phone_number_id() {
        let settings = SandboxSettings::default();
        let fields = |n: u64| Map::from_iter([("statuses".to_owned(), json!([n]))]);
        let body = serde_json::to_value(envelope(
            &settings,
            vec![("1".into(), fields(1)), ("2".into(), fields(2))],
        ))
        .unwrap();
        assert_eq!(body["object"], "whatsapp_business_account");
        assert_eq!(body["entry"][0]["id"], settings.waba_id);
        let changes = body["entry"][0]["changes"].as_array().unwrap();
        assert_eq!(changes.len(), 2);
        assert_eq!(changes[1]["field"], "messages");
        assert_eq!(changes[1]["value"]["metadata"]["phone_number_id"], "2");
        assert_eq!(changes[1]["value"]["messaging_product"], "whatsapp");
        assert_eq!(changes[1]["value"]["statuses"], json!([2]));
    }
}
