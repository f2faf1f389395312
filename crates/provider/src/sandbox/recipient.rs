//! Simulated recipients: each accepted message is followed by `sent`, then `delivered` and
//! `read` (or `failed` with 131026 for undeliverable recipients, or at once with the error
//! `recipient_errors` names), on the configured delays;
//! `read_before_delivered` swaps the last two.
//! One scheduler task holds the timer queue, so no lock is held while waiting.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::sync::Weak;
use std::time::Duration;

use serde::Serialize;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use tokio::sync::mpsc;
use tokio::time::Instant;

use super::meta_codes::{self, InjectedError};
use super::{ReceivedMessage, Sandbox, SandboxSettings};

/// A status a recipient will produce.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    Sent,
    Delivered,
    Read,
    /// With Meta's error.
    Failed(&'static InjectedError),
}

impl Kind {
    pub(super) fn as_str(self) -> &'static str {
        match self {
            Self::Sent => "sent",
            Self::Delivered => "delivered",
            Self::Read => "read",
            Self::Failed(_) => "failed",
        }
    }
}

/// One scheduled status of one message.
#[derive(Debug, Clone)]
pub(super) struct StatusEvent {
    pub(super) due: Instant,
    pub(super) kind: Kind,
    pub(super) seq: u64,
    pub(super) wamid: String,
    pub(super) phone_number_id: String,
    pub(super) recipient: String,
    pub(super) callback_data: Option<String>,
    /// The pricing category of a template send (`None`: a session message, free service).
    pub(super) template_category: Option<&'static str>,
}

/// The statuses an accepted message will get, in order (delays never go backwards).
pub(super) fn plan(
    settings: &SandboxSettings,
    message: &ReceivedMessage,
    template_category: Option<&'static str>,
) -> Vec<StatusEvent> {
    let start = Instant::now();
    let sent = settings.sent_after_ms;
    let delivered = settings.delivered_after_ms.max(sent);
    let mut steps = vec![(Kind::Sent, sent)];
    if let Some(error) = settings.recipient_error(&message.to).filter(|e| !e.at_once) {
        // Meta holds these back: the message never counts as sent.
        steps = vec![(Kind::Failed(error), sent)];
    } else if settings.is_undeliverable(&message.to) {
        let error = meta_codes::injectable(131026).expect("131026 is injectable");
        steps.push((Kind::Failed(error), delivered));
    } else {
        let read = settings.read_after_ms.map(|read| read.max(delivered));
        match read {
            // The two webhooks change places; the times stay where they were.
            Some(read) if settings.read_before_delivered => {
                steps.push((Kind::Read, delivered));
                steps.push((Kind::Delivered, read));
            }
            Some(read) => {
                steps.push((Kind::Delivered, delivered));
                steps.push((Kind::Read, read));
            }
            None => steps.push((Kind::Delivered, delivered)),
        }
    }
    steps
        .into_iter()
        .map(|(kind, after_ms)| StatusEvent {
            due: start + Duration::from_millis(after_ms),
            kind,
            seq: message.seq,
            wamid: message.wamid.clone(),
            phone_number_id: message.phone_number_id.clone(),
            recipient: message.to.clone(),
            callback_data: message.callback_data.clone(),
            template_category,
        })
        .collect()
}

/// One `statuses[]` entry as Meta writes it. Typed rather than built as a `Value`: the sandbox
/// writes one per status, and under load that serialization is a visible share of the CPU.
#[derive(Debug, Serialize)]
pub(super) struct StatusEntry<'a> {
    id: &'a str,
    status: &'static str,
    timestamp: String,
    /// The phone number a message was sent to.
    #[serde(skip_serializing_if = "Option::is_none")]
    recipient_id: Option<&'a str>,
    /// The BSUID a message was sent to (Meta's 2026 field; the number stays hidden).
    #[serde(skip_serializing_if = "Option::is_none")]
    recipient_user_id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    biz_opaque_callback_data: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    errors: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    conversation: Option<Conversation>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pricing: Option<Pricing>,
}

#[derive(Debug, Serialize)]
struct Conversation {
    id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    expiration_timestamp: Option<String>,
    origin: Origin,
}

#[derive(Debug, Serialize)]
struct Origin {
    #[serde(rename = "type")]
    kind: &'static str,
}

#[derive(Debug, Serialize)]
struct Pricing {
    billable: bool,
    pricing_model: &'static str,
    #[serde(rename = "type")]
    kind: &'static str,
    category: &'static str,
}

/// Whether a logged recipient is a BSUID (they hold a dot; phone digits never do).
fn is_user_id(recipient: &str) -> bool {
    recipient.contains('.')
}

/// The `statuses[]` entry Meta would send for `event` at `unix_secs`; `user_id` is the BSUID
/// of a person sent to by number, if they have one.
pub(super) fn status_entry<'a>(
    event: &'a StatusEvent,
    unix_secs: i64,
    user_id: Option<&'a str>,
) -> StatusEntry<'a> {
    let mut entry = StatusEntry {
        id: &event.wamid,
        status: event.kind.as_str(),
        timestamp: unix_secs.to_string(),
        recipient_id: (!is_user_id(&event.recipient)).then_some(event.recipient.as_str()),
        recipient_user_id: if is_user_id(&event.recipient) {
            Some(event.recipient.as_str())
        } else {
            user_id
        },
        biz_opaque_callback_data: event.callback_data.as_deref(),
        errors: None,
        conversation: None,
        pricing: None,
    };
    if let Kind::Failed(error) = event.kind {
        // Meta sends no conversation or pricing for a message that never arrived.
        entry.errors = Some(json!([{
            "code": error.code,
            "title": error.title,
            "message": error.title,
            "error_data": {"details": error.details},
            "href": "https://developers.facebook.com/docs/whatsapp/cloud-api/support/error-codes/",
        }]));
        return entry;
    }
    // Session messages are free customer service; templates are billed in their category.
    let (pricing_type, category) = match event.template_category {
        None => ("free_customer_service", "service"),
        Some(category) => ("regular", category),
    };
    entry.conversation = Some(Conversation {
        id: conversation_id(&event.phone_number_id, &event.recipient),
        expiration_timestamp: (event.kind == Kind::Sent)
            .then(|| (unix_secs + 24 * 3600).to_string()),
        origin: Origin { kind: category },
    });
    entry.pricing = Some(Pricing {
        billable: pricing_type == "regular",
        pricing_model: "PMP",
        kind: pricing_type,
        category,
    });
    entry
}

/// A stable conversation id per (business number, person), like Meta's 32 hex characters.
fn conversation_id(phone_number_id: &str, recipient: &str) -> String {
    let digest = Sha256::digest(format!("{phone_number_id}:{recipient}").as_bytes());
    hex::encode(&digest.as_slice()[..16])
}

/// Heap entry ordered by due time, then arrival, so equal times keep plan order.
struct Queued {
    key: (Instant, u64),
    event: StatusEvent,
}

impl PartialEq for Queued {
    fn eq(&self, other: &Self) -> bool {
        self.key == other.key
    }
}
impl Eq for Queued {}
impl PartialOrd for Queued {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Queued {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.key.cmp(&other.key)
    }
}

/// Waits for due statuses and hands each batch (everything due within `webhook_batch_ms` of
/// the first) to the webhook sender. Ends when the sandbox is dropped.
pub(super) async fn run_scheduler(
    sandbox: Weak<Sandbox>,
    mut rx: mpsc::UnboundedReceiver<StatusEvent>,
) {
    let mut queue: BinaryHeap<Reverse<Queued>> = BinaryHeap::new();
    let mut arrivals: u64 = 0;
    loop {
        let next_due = queue.peek().map(|Reverse(q)| q.key.0);
        tokio::select! {
            received = rx.recv() => {
                let Some(event) = received else { return };
                arrivals += 1;
                queue.push(Reverse(Queued { key: (event.due, arrivals), event }));
            }
            () = sleep_until(next_due), if next_due.is_some() => {
                let Some(sandbox) = sandbox.upgrade() else { return };
                let window = Duration::from_millis(sandbox.settings().webhook_batch_ms);
                let cutoff = Instant::now() + window;
                let mut batch = Vec::new();
                while queue.peek().is_some_and(|Reverse(q)| q.key.0 <= cutoff) {
                    if let Some(Reverse(q)) = queue.pop() {
                        batch.push(q.event);
                    }
                }
                sandbox.emit_statuses(batch);
            }
        }
    }
}

async fn sleep_until(due: Option<Instant>) {
    if let Some(due) = due {
        tokio::time::sleep_until(due).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn received() -> ReceivedMessage {
        ReceivedMessage {
            seq: 1,
            wamid: "wamid.1".into(),
            phone_number_id: "pn".into(),
            to: "51987654321".into(),
            callback_data: None,
            kind: "text".into(),
            endpoint: "messages".into(),
            body: json!({"type": "text", "text": {"body": "hola"}}),
            received_at_ms: 0,
            statuses: Vec::new(),
        }
    }

    /// (status, delay from the first status) of a plan.
    fn steps(settings: &SandboxSettings) -> Vec<(&'static str, u128)> {
        let plan = plan(settings, &received(), None);
        let start = plan[0].due;
        plan.iter()
            .map(|e| (e.kind.as_str(), (e.due - start).as_millis()))
            .collect()
    }

    #[test]
    fn read_before_delivered_swaps_the_two_webhooks_not_the_times() {
        let mut settings = SandboxSettings {
            sent_after_ms: 10,
            delivered_after_ms: 20,
            read_after_ms: Some(50),
            ..SandboxSettings::default()
        };
        assert_eq!(
            steps(&settings),
            [("sent", 0), ("delivered", 10), ("read", 40)]
        );
        settings.read_before_delivered = true;
        assert_eq!(
            steps(&settings),
            [("sent", 0), ("read", 10), ("delivered", 40)]
        );
        // Recipients who never read have nothing to swap.
        settings.read_after_ms = None;
        assert_eq!(steps(&settings), [("sent", 0), ("delivered", 10)]);
    }
}
