//! Batches of outcomes and status webhooks, decided in memory for both back ends.
//!
//! A back end loads (and, on PostgreSQL, locks) the rows a batch touches into a [`Snapshot`];
//! this module replays the batch over it exactly as if each item were applied alone and in order,
//! using the rules of `plan`; the back end then writes the resulting [`Writes`] at once: a few
//! set-based statements on PostgreSQL instead of several round trips per message.

use chasqui_domain::{ChannelId, MessageId, WorkspaceId};
use std::collections::{BTreeMap, HashMap, HashSet};

use chasqui_domain::consent::MARKETING_STOPPED;
use chasqui_domain::pricing::Pricing;
use chasqui_domain::webhook::StatusUpdate;
use chasqui_domain::{MessageStatus, MetaError};

use crate::business_webhooks::WebhookEvent;
use crate::conversations::consent::MarketingStop;
use crate::conversations::identity::UserIdLink;
use crate::plan::{self, NewEvent, OutboxChange, OutboxRow};
use crate::{ApplyReport, MessageRecord, Millis, OutcomeRecord, StatusChange};

/// The rows a batch reads before deciding.
#[derive(Debug, Default)]
pub(crate) struct Snapshot {
    messages: HashMap<MessageId, MessageRecord>,
    by_wamid: HashMap<String, MessageId>,
    outbox: HashMap<MessageId, OutboxRow>,
    dedupe: HashSet<(MessageId, String)>,
    /// The workspaces with an enabled business webhook endpoint; `None`: assume every one.
    /// A status change no endpoint can hear builds no event.
    listeners: Option<HashSet<WorkspaceId>>,
}

impl Snapshot {
    /// Builds a snapshot from the loaded messages, their outbox rows and the dedupe keys of their
    /// stored events.
    pub(crate) fn new(
        messages: Vec<MessageRecord>,
        outbox: Vec<(MessageId, OutboxRow)>,
        dedupe: Vec<(MessageId, String)>,
    ) -> Self {
        let by_wamid = messages
            .iter()
            .filter_map(|m| Some((m.wamid.clone()?, m.id.clone())))
            .collect();
        Self {
            messages: messages.into_iter().map(|m| (m.id.clone(), m)).collect(),
            by_wamid,
            outbox: outbox.into_iter().collect(),
            dedupe: dedupe.into_iter().collect(),
            listeners: None,
        }
    }

    /// Sets the workspaces that have an enabled business webhook endpoint.
    pub(crate) fn with_listeners(
        mut self,
        workspaces: impl IntoIterator<Item = WorkspaceId>,
    ) -> Self {
        self.listeners = Some(workspaces.into_iter().collect());
        self
    }

    /// The distinct workspaces of the loaded messages, for the back end's listener lookup.
    pub(crate) fn workspaces(&self) -> Vec<WorkspaceId> {
        let set: HashSet<&WorkspaceId> = self.messages.values().map(|m| &m.workspace_id).collect();
        set.into_iter().cloned().collect()
    }
}

/// Whether a workspace has an endpoint that may hear its events (`None`: unknown, so yes).
fn heard(listeners: Option<&HashSet<WorkspaceId>>, workspace_id: &WorkspaceId) -> bool {
    listeners.is_none_or(|l| l.contains(workspace_id))
}

/// A message's columns after the batch (absolute values: the rows are the writer's alone).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct MessageUpdate {
    pub id: MessageId,
    pub status: MessageStatus,
    pub wamid: Option<String>,
    /// Whether the batch changed `wamid`: writing an unchanged one would still rewrite its entry
    /// in the wamid index, a random page per status on SQLite.
    pub wamid_changed: bool,
    pub error: Option<MetaError>,
    pub attempts: i64,
    pub updated_at: Millis,
    pub pricing: Option<Pricing>,
}

/// Everything a batch writes.
#[derive(Debug, Default)]
pub(crate) struct Writes {
    /// Outbox rows to delete, by message id (sorted).
    pub outbox_deletes: Vec<MessageId>,
    /// Outbox rows to set to (state, due_at) with the lease cleared, by message id (sorted).
    pub outbox_sets: Vec<(MessageId, &'static str, Millis)>,
    /// Events to insert, in timeline order (a known dedupe key is skipped by the insert too).
    pub events: Vec<(MessageId, NewEvent)>,
    /// Messages whose columns changed (sorted by id).
    pub messages: Vec<MessageUpdate>,
    /// Business webhook events of the status changes, in order (written only where an endpoint
    /// wants them).
    pub webhooks: Vec<WebhookEvent>,
    /// Recipients Meta refused a message to with 131050: they stopped marketing. Empty for
    /// every other batch, so the hot path writes nothing more.
    pub marketing_stops: Vec<MarketingStop>,
    /// Phone recipients whose `sent` status named their BSUID (`recipient_user_id`), once per
    /// message.
    pub user_id_links: Vec<UserIdLink>,
}

impl Writes {
    /// Whether the batch writes nothing.
    #[cfg(test)]
    pub(crate) fn is_empty(&self) -> bool {
        self.outbox_deletes.is_empty()
            && self.outbox_sets.is_empty()
            && self.events.is_empty()
            && self.messages.is_empty()
    }
}

/// Everything a batch writes to one message row: the work (former outbox row) and timeline
/// live on the row, so this is one `UPDATE`.
#[derive(Debug)]
pub(crate) struct RowWrite<'a> {
    /// The row's columns after the batch.
    pub message: &'a MessageUpdate,
    /// What becomes of its pending work.
    pub work: OutboxChange,
    /// Timeline lines to append, in order (empty: none).
    pub append: String,
}

impl Writes {
    /// The writes grouped per message row, in id order. Every message with an event or a work
    /// change is among `messages`, so each row is written once.
    pub(crate) fn rows(&self) -> Vec<RowWrite<'_>> {
        let mut rows: BTreeMap<&str, RowWrite<'_>> = self
            .messages
            .iter()
            .map(|m| {
                let row = RowWrite {
                    message: m,
                    work: OutboxChange::Keep,
                    append: String::new(),
                };
                (m.id.as_str(), row)
            })
            .collect();
        for id in &self.outbox_deletes {
            if let Some(r) = rows.get_mut(id.as_str()) {
                r.work = OutboxChange::Delete;
            }
        }
        for (id, state, due_at) in &self.outbox_sets {
            if let Some(r) = rows.get_mut(id.as_str()) {
                r.work = OutboxChange::Set {
                    state,
                    due_at: *due_at,
                };
            }
        }
        for (id, ev) in &self.events {
            if let Some(r) = rows.get_mut(id.as_str()) {
                r.append.push_str(&crate::messages::line(ev));
            }
        }
        rows.into_values().collect()
    }
}

/// The replay of one batch over a snapshot.
struct Replay {
    snap: Snapshot,
    outbox: BTreeMap<MessageId, OutboxChange>,
    events: Vec<(MessageId, NewEvent)>,
    dirty: HashSet<MessageId>,
    new_wamids: HashSet<MessageId>,
    webhooks: Vec<WebhookEvent>,
    marketing_stops: Vec<MarketingStop>,
    user_id_links: Vec<UserIdLink>,
}

impl Replay {
    fn new(snap: Snapshot) -> Self {
        Self {
            snap,
            outbox: BTreeMap::new(),
            events: Vec::new(),
            dirty: HashSet::new(),
            new_wamids: HashSet::new(),
            webhooks: Vec::new(),
            marketing_stops: Vec::new(),
            user_id_links: Vec::new(),
        }
    }

    fn change_outbox(&mut self, id: &MessageId, change: OutboxChange) {
        match change {
            OutboxChange::Keep => {}
            OutboxChange::Delete => {
                self.snap.outbox.remove(id);
                self.outbox.insert(id.clone(), OutboxChange::Delete);
                self.dirty.insert(id.clone());
            }
            OutboxChange::Set { state, due_at } => {
                // An update of a missing row changes nothing.
                if let Some(row) = self.snap.outbox.get_mut(id) {
                    row.state = state.to_string();
                    row.lease_owner = None;
                    self.outbox
                        .insert(id.clone(), OutboxChange::Set { state, due_at });
                    self.dirty.insert(id.clone());
                }
            }
        }
    }

    /// Whether an event with `ev`'s dedupe key is stored or already in the batch.
    fn seen(&self, id: &MessageId, ev: &NewEvent) -> bool {
        ev.dedupe_key
            .as_ref()
            .is_some_and(|key| self.snap.dedupe.contains(&(id.clone(), key.clone())))
    }

    /// Adds an event unless its dedupe key was seen; answers whether it was added.
    fn add_event(&mut self, id: &MessageId, ev: NewEvent) -> bool {
        if let Some(key) = &ev.dedupe_key {
            if !self.snap.dedupe.insert((id.clone(), key.clone())) {
                return false;
            }
        }
        self.events.push((id.clone(), ev));
        self.dirty.insert(id.clone());
        true
    }

    fn update_message(
        &mut self,
        id: &MessageId,
        status: Option<MessageStatus>,
        wamid: Option<&str>,
        error: Option<&MetaError>,
        attempt: bool,
        at: Millis,
    ) {
        let Some(msg) = self.snap.messages.get_mut(id) else {
            return;
        };
        let cols = plan::message_columns(msg, status, wamid, error);
        if !attempt && !cols.differ_from(msg) {
            return;
        }
        let (status, wamid, error) = (
            cols.status,
            cols.wamid.map(str::to_string),
            cols.error.cloned(),
        );
        if let Some(w) = &wamid {
            self.snap.by_wamid.insert(w.clone(), msg.id.clone());
        }
        if msg.wamid != wamid {
            self.new_wamids.insert(id.clone());
        }
        let changed = msg.status != status;
        msg.status = status;
        msg.wamid = wamid;
        msg.error = error;
        msg.attempts += i64::from(attempt);
        msg.updated_at = msg.updated_at.max(at);
        if changed && heard(self.snap.listeners.as_ref(), &msg.workspace_id) {
            self.webhooks.extend(WebhookEvent::message(msg, at));
        }
        if let Some(e) = msg.error.as_ref().filter(|e| {
            changed && msg.status == MessageStatus::Failed && e.code == MARKETING_STOPPED
        }) {
            self.marketing_stops.push(MarketingStop {
                workspace_id: msg.workspace_id.clone(),
                recipient: msg.recipient.clone(),
                message_id: msg.id.to_string(),
                title: e.title.clone(),
                at,
            });
        }
        self.dirty.insert(id.clone());
    }

    /// Keeps the pricing a status reports: Meta repeats it on later statuses, and the latest
    /// one is what it bills.
    fn set_pricing(&mut self, id: &MessageId, pricing: &Pricing) {
        let Some(msg) = self.snap.messages.get_mut(id) else {
            return;
        };
        if msg.pricing.as_ref() != Some(pricing) {
            msg.pricing = Some(pricing.clone());
            self.dirty.insert(id.clone());
        }
    }

    fn finish(self) -> Writes {
        let mut writes = Writes {
            events: self.events,
            webhooks: self.webhooks,
            marketing_stops: self.marketing_stops,
            user_id_links: self.user_id_links,
            ..Writes::default()
        };
        for (id, change) in self.outbox {
            match change {
                OutboxChange::Delete => writes.outbox_deletes.push(id),
                OutboxChange::Set { state, due_at } => writes.outbox_sets.push((id, state, due_at)),
                OutboxChange::Keep => {}
            }
        }
        let mut dirty: Vec<MessageId> = self.dirty.into_iter().collect();
        dirty.sort();
        writes.messages = dirty
            .into_iter()
            .filter_map(|id| self.snap.messages.get(&id))
            .map(|m| MessageUpdate {
                id: m.id.clone(),
                status: m.status,
                wamid: m.wamid.clone(),
                wamid_changed: self.new_wamids.contains(&m.id),
                error: m.error.clone(),
                attempts: m.attempts,
                updated_at: m.updated_at,
                pricing: m.pricing.clone(),
            })
            .collect();
        writes
    }
}

/// What recording `outcomes` (reported by worker `owner`) writes.
pub(crate) fn record_outcomes(snap: Snapshot, owner: &str, outcomes: Vec<OutcomeRecord>) -> Writes {
    let mut r = Replay::new(snap);
    for o in outcomes {
        if !r.snap.messages.contains_key(&o.message_id) {
            continue;
        }
        let row = r.snap.outbox.get(&o.message_id);
        let Some(p) = plan::plan_outcome(row, owner, o.started_at, o.outcome) else {
            continue;
        };
        r.change_outbox(&o.message_id, p.outbox);
        for ev in p.events {
            r.add_event(&o.message_id, ev);
        }
        r.update_message(
            &o.message_id,
            p.status,
            p.wamid.as_deref(),
            p.error.as_ref(),
            p.attempt,
            p.at,
        );
    }
    r.finish()
}

/// What applying status webhooks writes, and the report. `channels` maps `phone_number_id` →
/// channel id of the channels the webhook was verified for.
pub(crate) fn apply_statuses(
    snap: Snapshot,
    channels: &[(String, ChannelId)],
    updates: &[StatusUpdate],
    now: Millis,
) -> (Writes, ApplyReport) {
    let mut r = Replay::new(snap);
    let mut report = ApplyReport::default();
    for u in updates {
        let Some((_, channel_id)) = channels.iter().find(|(pnid, _)| *pnid == u.phone_number_id)
        else {
            report.unmatched += 1;
            continue;
        };
        let known = |id: &str| {
            r.snap
                .messages
                .get(id)
                .filter(|m| m.channel_id == *channel_id)
                .map(|m| m.id.clone())
        };
        let id = u
            .callback_data
            .as_deref()
            .and_then(known)
            .or_else(|| r.snap.by_wamid.get(&u.wamid).and_then(|id| known(id)));
        let Some(id) = id else {
            report.unmatched += 1;
            continue;
        };
        let event = plan::webhook_event(u, now);
        let Some(current) = r.snap.messages.get(&id).map(|m| m.status) else {
            report.unmatched += 1;
            continue;
        };
        if r.seen(&id, &event) {
            report.duplicates += 1;
            continue;
        }
        report.applied += 1;
        // A status naming the message proves Meta has it: no further attempt may go out.
        if plan::may_have_work(current) {
            r.change_outbox(&id, OutboxChange::Delete);
        }
        // A status that skips one (`read` before `delivered`) records the skipped one first,
        // marked implied, with its own change and business webhook event: the business hears
        // `message.delivered` then `message.read` whatever order Meta used. Meta's own late
        // `delivered` is then history only.
        if let Some(implied) = plan::implied_before(current, u.status) {
            if r.add_event(&id, plan::implied_event(u, implied, now)) {
                r.update_message(&id, Some(implied), Some(&u.wamid), None, false, now);
                note_change(&r, &id, current, &mut report);
            }
        }
        let before = r.snap.messages.get(&id).map_or(current, |m| m.status);
        r.add_event(&id, event);
        r.update_message(
            &id,
            Some(u.status),
            Some(&u.wamid),
            u.error.as_ref(),
            false,
            now,
        );
        if let Some(p) = &u.pricing {
            r.set_pricing(&id, p);
        }
        // Meta's `sent` comes once per message: the one status that links the number it was
        // sent to with the person's BSUID (a BSUID holds a dot, a number never).
        if let (MessageStatus::Sent, Some(user_id)) = (u.status, &u.recipient_user_id) {
            if let Some(m) = r
                .snap
                .messages
                .get(&id)
                .filter(|m| !m.recipient.contains('.'))
            {
                r.user_id_links.push(UserIdLink {
                    workspace_id: m.workspace_id.clone(),
                    wa_id: m.recipient.clone(),
                    user_id: user_id.clone(),
                    at: now,
                });
            }
        }
        // Chasqui's own `sent` (Meta's API took it) usually comes first, so Meta's `sent` is
        // counted as its first webhook; every later status as the move it makes.
        if u.status == MessageStatus::Sent {
            note(&r, &id, Some(MessageStatus::Sent), &mut report);
        } else {
            note_change(&r, &id, before, &mut report);
        }
    }
    (r.finish(), report)
}

/// Adds to `report` the status message `id` moved to from `before`, if it moved.
fn note_change(r: &Replay, id: &str, before: MessageStatus, report: &mut ApplyReport) {
    if r.snap.messages.get(id).is_some_and(|m| m.status != before) {
        note(r, id, None, report);
    }
}

/// Adds to `report` that message `id` reached `status` (`None`: the one it has now).
fn note(r: &Replay, id: &str, status: Option<MessageStatus>, report: &mut ApplyReport) {
    if let Some(m) = r.snap.messages.get(id) {
        report.changes.push(StatusChange {
            workspace_id: m.workspace_id.clone(),
            channel_id: m.channel_id.clone(),
            status: status.unwrap_or(m.status),
            error_code: m.error.as_ref().map(|e| e.code),
            created_at: m.created_at,
        });
    }
}

/// The message ids a status batch names through `biz_opaque_callback_data` (sorted, unique).
pub(crate) fn callback_ids(updates: &[StatusUpdate]) -> Vec<String> {
    let mut ids: Vec<String> = updates
        .iter()
        .filter_map(|u| u.callback_data.clone())
        .collect();
    ids.sort();
    ids.dedup();
    ids
}

/// The wamids of statuses whose callback data names no message of `loaded` in the status's
/// channel: those are looked up by wamid.
pub(crate) fn unresolved_wamids(
    updates: &[StatusUpdate],
    channels: &[(String, ChannelId)],
    loaded: &[MessageRecord],
) -> Vec<String> {
    let resolved = |u: &StatusUpdate| {
        let channel = channels.iter().find(|(pnid, _)| *pnid == u.phone_number_id);
        u.callback_data.as_ref().is_some_and(|id| {
            loaded
                .iter()
                .any(|m| m.id == *id && channel.is_some_and(|(_, ch)| *ch == m.channel_id))
        })
    };
    let mut wamids: Vec<String> = updates
        .iter()
        .filter(|u| !resolved(u))
        .map(|u| u.wamid.clone())
        .collect();
    wamids.sort();
    wamids.dedup();
    wamids
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{NewMessage, Outcome};

    fn message(id: &str, status: MessageStatus) -> MessageRecord {
        let mut m = MessageRecord::queued(
            NewMessage {
                id: MessageId::from_trusted(id),
                workspace_id: WorkspaceId::from_trusted("ws"),
                channel_id: ChannelId::from_trusted("ch"),
                recipient: "+15550001".into(),
                kind: "text".into(),
                body: "{}".into(),
                created_at: 1,
                idempotency: None,
                rendered: None,
                client_message: None,
                failed: None,
            },
            1,
        );
        m.status = status;
        m
    }

    fn status(id: &str, wamid: &str, s: MessageStatus, ts: i64) -> StatusUpdate {
        StatusUpdate {
            phone_number_id: "pn".into(),
            wamid: wamid.into(),
            callback_data: Some(id.into()),
            status: s,
            timestamp: ts,
            recipient_id: None,
            recipient_user_id: None,
            error: None,
            conversation: None,
            pricing: None,
        }
    }

    fn channels() -> Vec<(String, ChannelId)> {
        vec![("pn".into(), ChannelId::from_trusted("ch"))]
    }

    #[test]
    fn statuses_in_one_batch_apply_in_order_once_each() {
        let snap = Snapshot::new(vec![message("m1", MessageStatus::Sent)], vec![], vec![]);
        let updates = [
            status("m1", "w1", MessageStatus::Delivered, 2),
            status("m1", "w1", MessageStatus::Delivered, 2),
            status("m1", "w1", MessageStatus::Read, 3),
        ];
        let (writes, report) = apply_statuses(snap, &channels(), &updates, 5_123);
        assert_eq!((report.applied, report.duplicates), (2, 1));
        assert_eq!(writes.events.len(), 2);
        // Recorded at Chasqui's clock, Meta's own second kept beside it.
        let (_, read) = &writes.events[1];
        assert_eq!(read.at, 5_123);
        assert_eq!(read.data.as_ref().expect("data")["timestamp"], 3);
        assert_eq!(writes.messages.len(), 1);
        assert_eq!(writes.messages[0].status, MessageStatus::Read);
        assert_eq!(writes.messages[0].wamid.as_deref(), Some("w1"));
        assert_eq!(writes.messages[0].updated_at, 5_123);
        let kinds: Vec<_> = writes.webhooks.iter().map(|w| w.kind).collect();
        assert_eq!(kinds, ["message.delivered", "message.read"]);
    }

    fn timeline(writes: &Writes) -> Vec<(&str, &str)> {
        writes
            .events
            .iter()
            .map(|(_, e)| {
                let key = e.dedupe_key.as_deref().unwrap_or("");
                (e.status.as_str(), key)
            })
            .collect()
    }

    fn kinds(writes: &Writes) -> Vec<&'static str> {
        writes.webhooks.iter().map(|w| w.kind).collect()
    }

    /// The snapshot of message `m` after `batches` of writes, as the next batch would load it.
    fn reloaded(mut m: MessageRecord, batches: &[&Writes]) -> Snapshot {
        let mut keys = Vec::new();
        for writes in batches {
            if let Some(u) = writes.messages.iter().find(|u| u.id == m.id) {
                m.status = u.status;
                m.wamid = u.wamid.clone();
            }
            keys.extend(
                writes
                    .events
                    .iter()
                    .filter_map(|(id, e)| Some((id.clone(), e.dedupe_key.clone()?))),
            );
        }
        Snapshot::new(vec![m], vec![], keys)
    }

    #[test]
    fn read_before_delivered_records_the_implied_delivered_first() {
        let sent = message("m1", MessageStatus::Sent);
        let snap = Snapshot::new(vec![sent.clone()], vec![], vec![]);
        let read = [status("m1", "w1", MessageStatus::Read, 3)];
        let (writes, report) = apply_statuses(snap, &channels(), &read, 7);
        assert_eq!((report.applied, report.duplicates), (1, 0));
        assert_eq!(
            timeline(&writes),
            [("delivered", "implied:delivered"), ("read", "webhook:read")]
        );
        let (_, implied) = &writes.events[0];
        assert_eq!(implied.data, Some(serde_json::json!({"implied": true})));
        assert_eq!(writes.messages.len(), 1);
        assert_eq!(writes.messages[0].status, MessageStatus::Read);
        assert_eq!(kinds(&writes), ["message.delivered", "message.read"]);
        let data: serde_json::Value =
            serde_json::from_str(&writes.webhooks[0].data).expect("event data");
        assert_eq!(data["status"], "delivered");
        assert!(
            writes.webhooks[0].id < writes.webhooks[1].id,
            "event ids order delivered first"
        );

        // Meta's late `delivered` is kept in the history and changes nothing else.
        let late = [status("m1", "w1", MessageStatus::Delivered, 2)];
        let snap = reloaded(sent.clone(), &[&writes]);
        let (after, report) = apply_statuses(snap, &channels(), &late, 9);
        assert_eq!((report.applied, report.duplicates), (1, 0));
        assert_eq!(timeline(&after), [("delivered", "webhook:delivered")]);
        // Its row is written for the history line alone: the columns stay as they were.
        let rows = after.rows();
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].message.status, MessageStatus::Read);
        assert!(rows[0].append.contains("\"webhook:delivered\""));
        assert!(after.webhooks.is_empty());

        // Meta redelivers: either status again is a duplicate and writes nothing.
        let snap = reloaded(sent, &[&writes, &after]);
        let again = [late[0].clone(), read[0].clone()];
        let (nothing, report) = apply_statuses(snap, &channels(), &again, 11);
        assert_eq!((report.applied, report.duplicates), (0, 2));
        assert!(nothing.is_empty() && nothing.webhooks.is_empty());
    }

    #[test]
    fn read_then_delivered_in_one_batch_is_delivered_then_read_once_each() {
        let snap = Snapshot::new(vec![message("m1", MessageStatus::Sent)], vec![], vec![]);
        let updates = [
            status("m1", "w1", MessageStatus::Read, 3),
            status("m1", "w1", MessageStatus::Delivered, 2),
            status("m1", "w1", MessageStatus::Read, 3),
        ];
        let (writes, report) = apply_statuses(snap, &channels(), &updates, 7);
        assert_eq!((report.applied, report.duplicates), (2, 1));
        assert_eq!(
            timeline(&writes),
            [
                ("delivered", "implied:delivered"),
                ("read", "webhook:read"),
                ("delivered", "webhook:delivered")
            ]
        );
        assert_eq!(writes.messages[0].status, MessageStatus::Read);
        assert_eq!(kinds(&writes), ["message.delivered", "message.read"]);
    }

    #[test]
    fn read_settling_an_unknown_outcome_implies_delivered_and_ends_the_work() {
        let snap = Snapshot::new(
            vec![message("m1", MessageStatus::Sending)],
            vec![(
                MessageId::from_trusted("m1"),
                OutboxRow {
                    state: "unknown".into(),
                    lease_owner: None,
                },
            )],
            vec![],
        );
        let updates = [status("m1", "w1", MessageStatus::Read, 3)];
        let (writes, _) = apply_statuses(snap, &channels(), &updates, 7);
        assert_eq!(writes.outbox_deletes, ["m1"]);
        assert_eq!(writes.messages[0].status, MessageStatus::Read);
        assert_eq!(writes.messages[0].wamid.as_deref(), Some("w1"));
        assert_eq!(kinds(&writes), ["message.delivered", "message.read"]);
    }

    #[test]
    fn read_after_delivered_implies_nothing() {
        let snap = Snapshot::new(
            vec![message("m1", MessageStatus::Delivered)],
            vec![],
            vec![(MessageId::from_trusted("m1"), "webhook:delivered".into())],
        );
        let updates = [status("m1", "w1", MessageStatus::Read, 3)];
        let (writes, _) = apply_statuses(snap, &channels(), &updates, 7);
        assert_eq!(timeline(&writes), [("read", "webhook:read")]);
        assert_eq!(kinds(&writes), ["message.read"]);
    }

    #[test]
    fn a_workspace_without_endpoints_gets_no_events_but_the_same_writes() {
        let updates = [status("m1", "w1", MessageStatus::Delivered, 2)];
        let snap = || Snapshot::new(vec![message("m1", MessageStatus::Sent)], vec![], vec![]);
        let (heard, _) = apply_statuses(
            snap().with_listeners([WorkspaceId::from_trusted("ws")]),
            &channels(),
            &updates,
            7,
        );
        let (unheard, _) = apply_statuses(
            snap().with_listeners([WorkspaceId::from_trusted("other")]),
            &channels(),
            &updates,
            7,
        );
        assert_eq!(heard.webhooks.len(), 1);
        assert!(unheard.webhooks.is_empty());
        assert_eq!(heard.messages, unheard.messages);
        assert_eq!(heard.events.len(), unheard.events.len());
    }

    #[test]
    fn only_a_131050_failure_names_its_recipient_as_a_marketing_stop() {
        let failed = |code: i64| {
            let mut u = status("m1", "w1", MessageStatus::Failed, 2);
            u.error = Some(MetaError {
                code,
                title: "stopped".into(),
                details: None,
            });
            u
        };
        let snap = || Snapshot::new(vec![message("m1", MessageStatus::Sent)], vec![], vec![]);
        let (writes, _) = apply_statuses(snap(), &channels(), &[failed(131050)], 7);
        assert_eq!(
            writes.marketing_stops,
            [MarketingStop {
                workspace_id: WorkspaceId::from_trusted("ws"),
                recipient: "+15550001".into(),
                message_id: "m1".into(),
                title: "stopped".into(),
                at: 7,
            }]
        );
        let (other, _) = apply_statuses(snap(), &channels(), &[failed(131049)], 7);
        assert!(other.marketing_stops.is_empty());
        let delivered = [status("m1", "w1", MessageStatus::Delivered, 2)];
        let (normal, _) = apply_statuses(snap(), &channels(), &delivered, 7);
        assert!(normal.marketing_stops.is_empty());
        // A message already failed changes no more: Meta repeating itself names no one again.
        let mut gone = message("m1", MessageStatus::Failed);
        gone.error = failed(131050).error;
        let snap = Snapshot::new(vec![gone], vec![], vec![]);
        let (again, _) = apply_statuses(snap, &channels(), &[failed(131050)], 9);
        assert!(again.marketing_stops.is_empty());
    }

    #[test]
    fn a_stored_dedupe_key_makes_a_status_a_duplicate() {
        let snap = Snapshot::new(
            vec![message("m1", MessageStatus::Delivered)],
            vec![],
            vec![(MessageId::from_trusted("m1"), "webhook:delivered".into())],
        );
        let updates = [status("m1", "w1", MessageStatus::Delivered, 2)];
        let (writes, report) = apply_statuses(snap, &channels(), &updates, 7);
        assert_eq!(report.duplicates, 1);
        assert!(writes.is_empty());
    }

    #[test]
    fn a_status_for_another_channel_is_unmatched_and_writes_nothing() {
        let mut m = message("m1", MessageStatus::Sent);
        m.channel_id = ChannelId::from_trusted("other");
        let (writes, report) = apply_statuses(
            Snapshot::new(vec![m], vec![], vec![]),
            &channels(),
            &[status("m1", "w1", MessageStatus::Delivered, 2)],
            7,
        );
        assert_eq!(report.unmatched, 1);
        assert!(writes.is_empty());
    }

    #[test]
    fn a_status_found_by_wamid_set_earlier_in_the_batch() {
        let snap = Snapshot::new(
            vec![message("m1", MessageStatus::Sending)],
            vec![(
                MessageId::from_trusted("m1"),
                OutboxRow {
                    state: "unknown".into(),
                    lease_owner: None,
                },
            )],
            vec![],
        );
        let mut by_wamid = status("m1", "w9", MessageStatus::Delivered, 5);
        by_wamid.callback_data = None;
        let updates = [status("m1", "w9", MessageStatus::Sent, 4), by_wamid];
        let (writes, report) = apply_statuses(snap, &channels(), &updates, 7);
        assert_eq!(report.applied, 2);
        assert_eq!(writes.outbox_deletes, ["m1"]);
        assert_eq!(writes.messages[0].status, MessageStatus::Delivered);
    }

    #[test]
    fn outcomes_write_final_columns_and_count_attempts() {
        let leased = OutboxRow {
            state: "leased".into(),
            lease_owner: Some("w".into()),
        };
        let snap = Snapshot::new(
            vec![
                message("m1", MessageStatus::Queued),
                message("m2", MessageStatus::Queued),
            ],
            vec![
                (MessageId::from_trusted("m1"), leased.clone()),
                (MessageId::from_trusted("m2"), leased),
            ],
            vec![],
        );
        let err = MetaError {
            code: 131000,
            title: "Something went wrong".into(),
            details: None,
        };
        let outcomes = vec![
            OutcomeRecord {
                message_id: MessageId::from_trusted("m2"),
                started_at: Some(1),
                outcome: Outcome::Retry {
                    at: 2,
                    next_attempt_at: 50,
                    error: err,
                },
            },
            OutcomeRecord {
                message_id: MessageId::from_trusted("m1"),
                started_at: Some(1),
                outcome: Outcome::Sent {
                    wamid: "wamid.1".into(),
                    at: 3,
                },
            },
            OutcomeRecord {
                message_id: MessageId::from_trusted("missing"),
                started_at: Some(1),
                outcome: Outcome::Sent {
                    wamid: "wamid.2".into(),
                    at: 3,
                },
            },
        ];
        let writes = record_outcomes(snap, "w", outcomes);
        assert_eq!(writes.outbox_deletes, ["m1"]);
        assert_eq!(
            writes.outbox_sets,
            [(MessageId::from_trusted("m2"), "ready", 50)]
        );
        let statuses: Vec<_> = writes
            .events
            .iter()
            .map(|(id, e)| (id.as_str(), e.status.as_str()))
            .collect();
        assert_eq!(
            statuses,
            [
                ("m2", "sending"),
                ("m2", "retry"),
                ("m1", "sending"),
                ("m1", "accepted")
            ]
        );
        assert_eq!(writes.messages.len(), 2);
        assert_eq!(writes.messages[0].id, "m1");
        assert_eq!(writes.messages[0].status, MessageStatus::Sent);
        assert_eq!(writes.messages[0].attempts, 1);
        assert_eq!(writes.messages[1].attempts, 1);
        assert_eq!(writes.messages[1].status, MessageStatus::Queued);
    }
}
