//! What each state change writes, decided once for both back ends. The back ends only read the
//! current rows, ask this module what to change, and execute the plan in their own SQL.

use chasqui_domain::webhook::StatusUpdate;
use chasqui_domain::{MessageStatus, MetaError};

use crate::{MessageRecord, Millis, Outcome};

/// The outbox row of a message, as read inside the writing transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct OutboxRow {
    pub state: String,
    pub lease_owner: Option<String>,
}

/// A change to the outbox row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum OutboxChange {
    Keep,
    Delete,
    /// Set state and due time, clearing the lease.
    Set {
        state: &'static str,
        due_at: Millis,
    },
}

/// An event row to insert (ignored when its dedupe key exists).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct NewEvent {
    pub status: String,
    pub at: Millis,
    pub source: &'static str,
    pub wamid: Option<String>,
    pub error: Option<MetaError>,
    pub detail: Option<String>,
    pub data: Option<serde_json::Value>,
    pub dedupe_key: Option<String>,
}

impl NewEvent {
    pub(crate) fn new(status: &str, at: Millis, source: &'static str) -> Self {
        Self {
            status: status.to_string(),
            at,
            source,
            wamid: None,
            error: None,
            detail: None,
            data: None,
            dedupe_key: None,
        }
    }
}

/// Everything one outcome writes.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct OutcomePlan {
    pub outbox: OutboxChange,
    /// Count one more provider call.
    pub attempt: bool,
    /// New status (applied only if it is forward progress, except `queued` after a retry).
    pub status: Option<MessageStatus>,
    pub wamid: Option<String>,
    pub error: Option<MetaError>,
    pub events: Vec<NewEvent>,
    pub at: Millis,
}

/// Decides what recording `outcome` for a message means, given its outbox row. An outcome from a
/// worker that no longer holds the lease only records what is still true (a wamid it learnt).
pub(crate) fn plan_outcome(
    row: Option<&OutboxRow>,
    owner: &str,
    started_at: Option<Millis>,
    outcome: Outcome,
) -> Option<OutcomePlan> {
    let leased_by_owner =
        row.is_some_and(|r| r.state == "leased" && r.lease_owner.as_deref() == Some(owner));
    let unknown = row.is_some_and(|r| r.state == "unknown");
    let sending = |events: &mut Vec<NewEvent>| {
        if let Some(t) = started_at {
            events.push(NewEvent::new("sending", t, "dispatcher"));
        }
    };
    let mut events = Vec::new();
    match outcome {
        Outcome::Sent { wamid, at } => {
            // The attempt happened even if a status webhook already settled the message.
            sending(&mut events);
            // Meta's API took it and named its wamid; the webhook's own `sent` follows.
            let mut ev = NewEvent::new("accepted", at, "dispatcher");
            ev.wamid = Some(wamid.clone());
            ev.dedupe_key = Some("provider:sent".into());
            events.push(ev);
            Some(OutcomePlan {
                // Meta has it: whoever holds the row now, no further attempt may go out.
                outbox: if row.is_some() {
                    OutboxChange::Delete
                } else {
                    OutboxChange::Keep
                },
                attempt: true,
                status: Some(MessageStatus::Sent),
                wamid: Some(wamid),
                error: None,
                events,
                at,
            })
        }
        Outcome::Retry {
            at,
            next_attempt_at,
            error,
        } if leased_by_owner => {
            sending(&mut events);
            let mut ev = NewEvent::new("retry", at, "dispatcher");
            ev.detail = Some(format!("next attempt at {next_attempt_at}"));
            ev.error = Some(error);
            events.push(ev);
            Some(OutcomePlan {
                outbox: OutboxChange::Set {
                    state: "ready",
                    due_at: next_attempt_at,
                },
                attempt: true,
                status: Some(MessageStatus::Queued),
                wamid: None,
                error: None,
                events,
                at,
            })
        }
        Outcome::Failed { at, error } if leased_by_owner || unknown => {
            if leased_by_owner {
                sending(&mut events);
            }
            let mut ev = NewEvent::new("failed", at, "dispatcher");
            ev.error = Some(error.clone());
            events.push(ev);
            Some(OutcomePlan {
                outbox: OutboxChange::Delete,
                attempt: leased_by_owner,
                status: Some(MessageStatus::Failed),
                wamid: None,
                error: Some(error),
                events,
                at,
            })
        }
        Outcome::Unknown {
            at,
            reason,
            reconcile_by,
        } if leased_by_owner => {
            sending(&mut events);
            let mut ev = NewEvent::new("unknown", at, "dispatcher");
            ev.detail = Some(reason);
            events.push(ev);
            Some(OutcomePlan {
                outbox: OutboxChange::Set {
                    state: "unknown",
                    due_at: reconcile_by,
                },
                attempt: true,
                status: Some(MessageStatus::Sending),
                wamid: None,
                error: None,
                events,
                at,
            })
        }
        Outcome::Defer { until } if leased_by_owner => Some(OutcomePlan {
            outbox: OutboxChange::Set {
                state: "ready",
                due_at: until,
            },
            attempt: false,
            status: None,
            wamid: None,
            error: None,
            events,
            at: until,
        }),
        Outcome::Resend { at } if unknown => {
            let mut ev = NewEvent::new("resend", at, "dispatcher");
            ev.detail = Some("no status webhook named the message in time; sending again".into());
            events.push(ev);
            Some(OutcomePlan {
                outbox: OutboxChange::Set {
                    state: "ready",
                    due_at: at,
                },
                attempt: false,
                status: Some(MessageStatus::Queued),
                wamid: None,
                error: None,
                events,
                at,
            })
        }
        _ => None,
    }
}

/// Whether a plan's status should replace the current one. `queued` after a retry or resend is
/// the one step back allowed, and only from `sending`.
pub(crate) fn status_applies(current: MessageStatus, next: MessageStatus) -> bool {
    if next == MessageStatus::Queued {
        return current == MessageStatus::Sending;
    }
    current.advances_to(next)
}

/// A message's columns after a change: what both back ends write.
pub(crate) struct MessageColumns<'a> {
    pub status: MessageStatus,
    pub wamid: Option<&'a str>,
    pub error: Option<&'a MetaError>,
}

/// Decides a message's new status, wamid and error: the status only if it is progress, a wamid
/// never replaced once known, Meta's error only while the message is failed.
pub(crate) fn message_columns<'a>(
    msg: &'a MessageRecord,
    status: Option<MessageStatus>,
    wamid: Option<&'a str>,
    error: Option<&'a MetaError>,
) -> MessageColumns<'a> {
    let new_status = status.filter(|s| status_applies(msg.status, *s));
    let status = new_status.unwrap_or(msg.status);
    let error = match (status, new_status) {
        (MessageStatus::Failed, Some(_)) => error.or(msg.error.as_ref()),
        (MessageStatus::Failed, None) => msg.error.as_ref(),
        _ => None,
    };
    MessageColumns {
        status,
        wamid: msg.wamid.as_deref().or(wamid),
        error,
    }
}

impl MessageColumns<'_> {
    /// Whether writing these columns would change `msg` at all.
    pub(crate) fn differ_from(&self, msg: &MessageRecord) -> bool {
        self.status != msg.status
            || self.wamid != msg.wamid.as_deref()
            || self.error != msg.error.as_ref()
    }
}

/// Whether a message in this status can still have an outbox row (its work is not finished).
pub(crate) fn may_have_work(status: MessageStatus) -> bool {
    matches!(status, MessageStatus::Queued | MessageStatus::Sending)
}

/// Meta's error from its three stored columns.
pub(crate) fn meta_error(
    code: Option<i64>,
    title: Option<String>,
    details: Option<String>,
) -> Option<MetaError> {
    code.map(|code| MetaError {
        code,
        title: title.unwrap_or_default(),
        details,
    })
}

/// The event a webhook status writes; its dedupe key makes a repeated status a no-op.
pub(crate) fn webhook_event(u: &StatusUpdate, now: Millis) -> NewEvent {
    // Recorded at Chasqui's own clock, as every other entry: Meta's whole-second `timestamp`
    // would sort before the dispatcher's millisecond entries it follows. Meta's time is kept.
    let mut ev = NewEvent::new(u.status.as_str(), now, "webhook");
    ev.wamid = Some(u.wamid.clone());
    ev.error = u.error.clone();
    ev.dedupe_key = Some(format!("webhook:{}", u.status.as_str()));
    let mut data = serde_json::Map::new();
    data.insert("timestamp".into(), u.timestamp.into());
    if let Some(c) = &u.conversation {
        data.insert("conversation".into(), c.clone());
    }
    if let Some(p) = u
        .pricing
        .as_ref()
        .and_then(|p| serde_json::to_value(p).ok())
    {
        data.insert("pricing".into(), p);
    }
    ev.data = Some(serde_json::Value::Object(data));
    ev
}

/// The status a webhook status implies first when the message has not reached it: Meta may
/// report `read` without `delivered`, or before it, and a message read was delivered. `None` when
/// nothing is skipped.
pub(crate) fn implied_before(current: MessageStatus, next: MessageStatus) -> Option<MessageStatus> {
    let skipped = MessageStatus::Delivered;
    (next == MessageStatus::Read && current.rank() < skipped.rank()).then_some(skipped)
}

/// The timeline entry of `implied`, a status the webhook status `u` proves without Meta having
/// reported it (yet). Its own dedupe key: Meta's own `delivered`, if it comes later, is still kept
/// in the history, and changes nothing.
pub(crate) fn implied_event(u: &StatusUpdate, implied: MessageStatus, now: Millis) -> NewEvent {
    let mut ev = NewEvent::new(implied.as_str(), now, "webhook");
    ev.wamid = Some(u.wamid.clone());
    ev.detail = Some(format!(
        "implied by {}: Meta reported it without {} first",
        u.status.as_str(),
        implied.as_str()
    ));
    ev.data = Some(serde_json::json!({ "implied": true }));
    ev.dedupe_key = Some(format!("implied:{}", implied.as_str()));
    ev
}

#[cfg(test)]
mod tests {
    use super::*;

    fn leased(owner: &str) -> OutboxRow {
        OutboxRow {
            state: "leased".into(),
            lease_owner: Some(owner.into()),
        }
    }

    fn err() -> MetaError {
        MetaError {
            code: 131000,
            title: "Something went wrong".into(),
            details: None,
        }
    }

    #[test]
    fn sent_by_the_lease_holder_finishes_the_work() {
        let p = plan_outcome(
            Some(&leased("w1")),
            "w1",
            Some(5),
            Outcome::Sent {
                wamid: "wamid.1".into(),
                at: 9,
            },
        )
        .expect("plan");
        assert_eq!(p.outbox, OutboxChange::Delete);
        assert_eq!(
            p.events
                .iter()
                .map(|e| e.status.as_str())
                .collect::<Vec<_>>(),
            ["sending", "accepted"]
        );
    }

    #[test]
    fn sent_after_losing_the_lease_still_ends_the_work() {
        // The lease expired (the row is now an unknown outcome, or another worker's): the
        // provider's acceptance still proves Meta has the message, so nothing may resend it.
        for row in [
            leased("w2"),
            OutboxRow {
                state: "unknown".into(),
                lease_owner: None,
            },
        ] {
            let sent = Outcome::Sent {
                wamid: "wamid.1".into(),
                at: 9,
            };
            let p = plan_outcome(Some(&row), "w1", Some(5), sent).expect("plan");
            assert_eq!(p.outbox, OutboxChange::Delete);
            assert_eq!(p.wamid.as_deref(), Some("wamid.1"));
        }
    }

    #[test]
    fn a_retry_from_a_worker_without_the_lease_changes_nothing() {
        let out = Outcome::Retry {
            at: 1,
            next_attempt_at: 2,
            error: err(),
        };
        assert!(plan_outcome(Some(&leased("w2")), "w1", None, out.clone()).is_none());
        assert!(plan_outcome(None, "w1", None, out).is_none());
    }

    #[test]
    fn resend_only_resolves_unknown_outcomes() {
        let unknown = OutboxRow {
            state: "unknown".into(),
            lease_owner: None,
        };
        assert!(plan_outcome(Some(&unknown), "x", None, Outcome::Resend { at: 3 }).is_some());
        assert!(plan_outcome(Some(&leased("x")), "x", None, Outcome::Resend { at: 3 }).is_none());
    }

    #[test]
    fn queued_may_only_follow_sending() {
        assert!(status_applies(
            MessageStatus::Sending,
            MessageStatus::Queued
        ));
        assert!(!status_applies(MessageStatus::Sent, MessageStatus::Queued));
        assert!(!status_applies(
            MessageStatus::Read,
            MessageStatus::Delivered
        ));
        assert!(status_applies(MessageStatus::Sent, MessageStatus::Failed));
    }

    #[test]
    fn read_implies_delivered_only_when_skipped() {
        use MessageStatus::*;
        for current in [Queued, Sending, Sent, Failed] {
            assert_eq!(implied_before(current, Read), Some(Delivered), "{current}");
        }
        for current in [Delivered, Read] {
            assert_eq!(implied_before(current, Read), None, "{current}");
        }
        // Only `read` implies anything: a jump to `delivered` or `failed` skips nothing Meta
        // proves.
        for next in [Sent, Delivered, Failed] {
            assert_eq!(implied_before(Sending, next), None, "{next}");
        }
    }

    #[test]
    fn an_implied_entry_is_marked_and_has_its_own_dedupe_key() {
        let u = StatusUpdate {
            phone_number_id: "pn".into(),
            wamid: "wamid.1".into(),
            callback_data: None,
            status: MessageStatus::Read,
            timestamp: 3,
            recipient_id: None,
            recipient_user_id: None,
            error: None,
            conversation: None,
            pricing: None,
        };
        let ev = implied_event(&u, MessageStatus::Delivered, 9);
        assert_eq!(
            (ev.status.as_str(), ev.at, ev.source),
            ("delivered", 9, "webhook")
        );
        assert_eq!(ev.wamid.as_deref(), Some("wamid.1"));
        assert_eq!(ev.dedupe_key.as_deref(), Some("implied:delivered"));
        assert_ne!(ev.dedupe_key, webhook_event(&u, 9).dedupe_key);
        assert_eq!(ev.data, Some(serde_json::json!({"implied": true})));
    }
}
