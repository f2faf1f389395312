//! The embedded default back end: one SQLite file in WAL mode, written by a group-committing
//! writer thread (see `runtime`).

mod business_webhooks;
mod checkpoint;
mod conversations;
mod dialect_ids;
mod media;
mod quotas;
mod runtime;
mod templates;
mod tenancy;
mod users;
mod wal_sync;

#[cfg(any(test, feature = "fault-injection"))]
pub use wal_sync::fault_injection;

use std::path::PathBuf;
use std::sync::LazyLock;

use async_trait::async_trait;
use chasqui_domain::webhook::StatusUpdate;
use chasqui_domain::MessageStatus;
use rusqlite::types::ToSqlOutput;
use rusqlite::{params, params_from_iter, Connection, OptionalExtension, Row, ToSql};
use rusqlite_migration::{Migrations, M};

use crate::batch::{self, Snapshot, Writes};
use crate::business_webhooks::WebhookEvent;
use crate::listing::{message_listing, Bound};
use crate::plan::{meta_error, NewEvent, OutboxChange, OutboxRow};
use crate::{
    AcceptOutcome, ApplyReport, Channel, ClaimRequest, Claimed, MessageDetail, MessageEvent,
    MessageFilter, MessageRecord, Millis, NewMessage, OutcomeRecord, Result, Store, StoreError,
};
use runtime::{open_writer, Runtime};

/// SQLite back end.
pub struct SqliteStore {
    rt: Runtime,
}

fn migrations() -> Migrations<'static> {
    Migrations::new(vec![
        M::up(include_str!("../../migrations/sqlite/0001_init.sql")),
        M::up(include_str!(
            "../../migrations/sqlite/0002_one_event_index.sql"
        )),
        M::up(include_str!(
            "../../migrations/sqlite/0003_derived_queued_event.sql"
        )),
        M::up(include_str!(
            "../../migrations/sqlite/0004_conversations.sql"
        )),
        M::up(include_str!("../../migrations/sqlite/0005_templates.sql")),
        M::up(include_str!(
            "../../migrations/sqlite/0006_business_webhooks.sql"
        )),
        M::up(include_str!("../../migrations/sqlite/0007_media.sql")),
        M::up(include_str!("../../migrations/sqlite/0008_tenancy.sql")),
        M::up(include_str!("../../migrations/sqlite/0009_users.sql")),
        M::up(include_str!("../../migrations/sqlite/0010_quotas.sql")),
        M::up(include_str!("../../migrations/sqlite/0011_dialect_ids.sql")),
        M::up(include_str!(
            "../../migrations/sqlite/0012_outbox_clustered.sql"
        )),
        M::up(include_str!(
            "../../migrations/sqlite/0013_messages_by_status.sql"
        )),
        M::up(include_str!(
            "../../migrations/sqlite/0014_webhook_event_subject.sql"
        )),
    ])
}

impl SqliteStore {
    /// Opens (creating if missing) and migrates the database file at `path`.
    pub fn open(path: &str) -> Result<Self> {
        let path = PathBuf::from(path);
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)
                .map_err(|e| StoreError::Config(format!("cannot create {}: {e}", dir.display())))?;
        }
        let mut conn = open_writer(&path)?;
        migrations().to_latest(&mut conn)?;
        Ok(Self {
            rt: Runtime::start(path, conn)?,
        })
    }
}

const MESSAGE_COLUMNS: &str =
    "id, seq, workspace_id, channel_id, recipient, kind, body, status, wamid, \
     error_code, error_title, error_details, attempts, created_at, updated_at";

const CHANNEL_COLUMNS: &str =
    "id, workspace_id, name, provider, phone_number_id, display_phone_number, \
     waba_id, base_url, api_version, access_token, app_secret, verify_token, rate_per_sec, \
     pair_interval_ms, pair_burst, is_default, window_policy, enabled, messaging_limit, num";

impl ToSql for Bound<'_> {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        match self {
            Bound::Text(text) => text.to_sql(),
            Bound::Int(n) => n.to_sql(),
        }
    }
}

fn message_from_row(r: &Row<'_>) -> rusqlite::Result<MessageRecord> {
    let status: String = r.get(7)?;
    Ok(MessageRecord {
        id: r.get(0)?,
        seq: r.get(1)?,
        workspace_id: r.get(2)?,
        channel_id: r.get(3)?,
        recipient: r.get(4)?,
        kind: r.get(5)?,
        body: r.get(6)?,
        status: MessageStatus::parse(&status).unwrap_or(MessageStatus::Queued),
        wamid: r.get(8)?,
        error: meta_error(r.get(9)?, r.get(10)?, r.get(11)?),
        attempts: r.get(12)?,
        created_at: r.get(13)?,
        updated_at: r.get(14)?,
    })
}

fn channel_from_row(r: &Row<'_>) -> rusqlite::Result<Channel> {
    Ok(Channel {
        id: r.get(0)?,
        workspace_id: r.get(1)?,
        name: r.get(2)?,
        provider: r.get(3)?,
        phone_number_id: r.get(4)?,
        display_phone_number: r.get(5)?,
        waba_id: r.get(6)?,
        base_url: r.get(7)?,
        api_version: r.get(8)?,
        access_token: r.get(9)?,
        app_secret: r.get(10)?,
        verify_token: r.get(11)?,
        rate_per_sec: r.get(12)?,
        pair_interval_ms: r.get(13)?,
        pair_burst: r.get(14)?,
        is_default: r.get(15)?,
        window_policy: r.get(16)?,
        enabled: r.get(17)?,
        messaging_limit: r.get(18)?,
        num: r.get::<_, Option<i64>>(19)?.unwrap_or_default(),
    })
}

fn load_message(conn: &Connection, id: &str) -> Result<Option<MessageRecord>> {
    let sql = format!("SELECT {MESSAGE_COLUMNS} FROM messages WHERE id = ?1");
    Ok(conn
        .prepare_cached(&sql)?
        .query_row([id], message_from_row)
        .optional()?)
}

fn insert_event(conn: &Connection, message_id: &str, ev: &NewEvent) -> Result<bool> {
    let (code, title, details) = match &ev.error {
        Some(e) => (Some(e.code), Some(e.title.as_str()), e.details.as_deref()),
        None => (None, None, None),
    };
    let n = conn
        .prepare_cached(
            "INSERT INTO message_events (message_id, status, at, source, wamid, error_code, \
             error_title, error_details, detail, data, dedupe_key) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11) \
             ON CONFLICT (message_id, dedupe_key) DO NOTHING",
        )?
        .execute(params![
            message_id,
            ev.status,
            ev.at,
            ev.source,
            ev.wamid,
            code,
            title,
            details,
            ev.detail,
            ev.data,
            ev.dedupe_key
        ])?;
    Ok(n == 1)
}

fn change_outbox(conn: &Connection, message_id: &str, change: &OutboxChange) -> Result<()> {
    match change {
        OutboxChange::Keep => {}
        OutboxChange::Delete => {
            conn.prepare_cached("DELETE FROM outbox WHERE message_id = ?1")?
                .execute([message_id])?;
        }
        OutboxChange::Set { state, due_at } => {
            conn.prepare_cached(
                "UPDATE outbox SET state = ?2, due_at = ?3, lease_owner = NULL, lease_until = 0 \
                 WHERE message_id = ?1",
            )?
            .execute(params![message_id, state, due_at])?;
        }
    }
    Ok(())
}

fn accept(conn: &Connection, m: &NewMessage) -> Result<AcceptOutcome> {
    if let Some(idem) = &m.idempotency {
        let existing: Option<(String, String)> = conn
            .prepare_cached(
                "SELECT request_hash, message_id FROM idempotency_keys WHERE api_key_id = ?1 AND key = ?2",
            )?
            .query_row(params![idem.api_key_id, idem.key], |r| Ok((r.get(0)?, r.get(1)?)))
            .optional()?;
        if let Some((hash, message_id)) = existing {
            if hash != idem.request_hash {
                return Ok(AcceptOutcome::Conflict { message_id });
            }
            let first = load_message(conn, &message_id)?.ok_or_else(|| {
                StoreError::Corrupt(format!("idempotency key names missing {message_id}"))
            })?;
            return Ok(AcceptOutcome::Replayed(first));
        }
        conn.prepare_cached(
            "INSERT INTO idempotency_keys (api_key_id, key, request_hash, message_id, created_at) \
             VALUES (?1, ?2, ?3, ?4, ?5)",
        )?
        .execute(params![
            idem.api_key_id,
            idem.key,
            idem.request_hash,
            m.id,
            m.created_at
        ])?;
    }
    conn.prepare_cached(
        "INSERT INTO messages (id, workspace_id, channel_id, recipient, kind, body, status, \
         created_at, updated_at, rendered) VALUES (?1, ?2, ?3, ?4, ?5, ?6, 'queued', ?7, ?7, ?8)",
    )?
    .execute(params![
        m.id,
        m.workspace_id,
        m.channel_id,
        m.recipient,
        m.kind,
        m.body,
        m.created_at,
        m.rendered
    ])?;
    let seq = conn.last_insert_rowid();
    let queued = MessageRecord::queued(m.clone(), seq);
    let heard = business_webhooks::listens(conn, &m.workspace_id)?;
    if let Some(ev) = heard
        .then(|| WebhookEvent::message(&queued, m.created_at))
        .flatten()
    {
        business_webhooks::emit(conn, &ev)?;
    }
    if let Some(client) = &m.client_message {
        conn.prepare_cached("UPDATE messages SET client_message = ?2 WHERE id = ?1")?
            .execute(params![m.id, client])?;
    }
    let Some(failure) = m.failure_event() else {
        conn.prepare_cached(
            "INSERT INTO outbox (message_id, seq, channel_id, recipient, state, due_at) \
             VALUES (?1, ?2, ?3, ?4, 'ready', ?5)",
        )?
        .execute(params![m.id, seq, m.channel_id, m.recipient, m.created_at])?;
        return Ok(AcceptOutcome::Created(queued));
    };
    // Failed on arrival: no outbox row, so no worker can ever claim it.
    let record = MessageRecord::accepted(m.clone(), seq);
    if let Some(error) = &record.error {
        conn.prepare_cached(
            "UPDATE messages SET status = 'failed', error_code = ?2, error_title = ?3, \
             error_details = ?4 WHERE id = ?1",
        )?
        .execute(params![m.id, error.code, error.title, error.details])?;
    }
    insert_event(conn, &m.id, &failure)?;
    if let Some(ev) = heard
        .then(|| WebhookEvent::message(&record, m.created_at))
        .flatten()
    {
        business_webhooks::emit(conn, &ev)?;
    }
    Ok(AcceptOutcome::Created(record))
}

fn claim(conn: &Connection, req: &ClaimRequest) -> Result<Vec<Claimed>> {
    // A worker that went silent may have been mid-call: its leases become unknown outcomes.
    let expired: Vec<String> = conn
        .prepare_cached(
            "SELECT message_id FROM outbox WHERE channel_id = ?1 AND state = 'leased' AND lease_until < ?2",
        )?
        .query_map(params![req.channel_id, req.now], |r| r.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    for id in &expired {
        let mut ev = NewEvent::new("unknown", req.now, "dispatcher");
        ev.detail = Some("the worker sending it stopped; waiting for a status webhook".into());
        insert_event(conn, id, &ev)?;
        change_outbox(
            conn,
            id,
            &OutboxChange::Set {
                state: "unknown",
                due_at: req.now + req.reconcile_ms,
            },
        )?;
    }
    // An outbox row's seq is its message's rowid.
    let out: Vec<Claimed> = conn
        .prepare_cached(
            "SELECT o.message_id, o.recipient, m.body, m.attempts, m.created_at \
             FROM outbox o JOIN messages m ON m.seq = o.seq \
             WHERE o.channel_id = ?1 AND o.state = 'ready' AND o.due_at <= ?2 \
             AND NOT EXISTS (SELECT 1 FROM outbox p WHERE p.channel_id = o.channel_id \
                             AND p.recipient = o.recipient AND p.seq < o.seq) \
             ORDER BY o.seq LIMIT ?3",
        )?
        .query_map(params![req.channel_id, req.now, req.limit], |r| {
            Ok(Claimed {
                message_id: r.get(0)?,
                recipient: r.get(1)?,
                body: r.get(2)?,
                attempts: r.get(3)?,
                created_at: r.get(4)?,
            })
        })?
        .collect::<rusqlite::Result<_>>()?;
    for claimed in &out {
        conn.prepare_cached(
            "UPDATE outbox SET state = 'leased', lease_owner = ?2, lease_until = ?3 WHERE message_id = ?1",
        )?
        .execute(params![claimed.message_id, req.owner, req.now + req.lease_ms])?;
    }
    Ok(out)
}

/// Loads messages by id, skipping missing ones.
fn load_messages(conn: &Connection, ids: &[String]) -> Result<Vec<MessageRecord>> {
    let mut messages = Vec::with_capacity(ids.len());
    for id in ids {
        messages.extend(load_message(conn, id)?);
    }
    Ok(messages)
}

/// Adds the messages with these wamids to `messages` (those not already there).
fn load_by_wamids(
    conn: &Connection,
    wamids: &[String],
    messages: &mut Vec<MessageRecord>,
) -> Result<()> {
    let sql = format!("SELECT {MESSAGE_COLUMNS} FROM messages WHERE wamid = ?1");
    for wamid in wamids {
        if messages.iter().any(|m| m.wamid.as_deref() == Some(wamid)) {
            continue;
        }
        let found = conn
            .prepare_cached(&sql)?
            .query_row([wamid], message_from_row)
            .optional()?;
        if let Some(m) = found.filter(|f| messages.iter().all(|m| m.id != f.id)) {
            messages.push(m);
        }
    }
    Ok(())
}

/// A message with its outbox row (if any), in one query: `messages` columns, then the row's.
static MESSAGE_WITH_OUTBOX: LazyLock<String> = LazyLock::new(|| {
    let columns: Vec<String> = MESSAGE_COLUMNS
        .split(',')
        .map(|c| format!("m.{}", c.trim()))
        .collect();
    format!(
        "SELECT {}, o.state, o.lease_owner FROM messages m \
         LEFT JOIN outbox o ON o.message_id = m.id WHERE m.id = ?1",
        columns.join(", ")
    )
});

/// The snapshot for recording outcomes: the messages with their outbox rows.
fn outcome_snapshot(conn: &Connection, ids: &[String]) -> Result<Snapshot> {
    let mut messages = Vec::with_capacity(ids.len());
    let mut outbox = Vec::with_capacity(ids.len());
    let mut stmt = conn.prepare_cached(&MESSAGE_WITH_OUTBOX)?;
    for id in ids {
        let found = stmt
            .query_row([id], |r| {
                let row = match r.get::<_, Option<String>>(15)? {
                    Some(state) => Some(OutboxRow {
                        state,
                        lease_owner: r.get(16)?,
                    }),
                    None => None,
                };
                Ok((message_from_row(r)?, row))
            })
            .optional()?;
        if let Some((message, row)) = found {
            if let Some(row) = row {
                outbox.push((message.id.clone(), row));
            }
            messages.push(message);
        }
    }
    with_listeners(conn, Snapshot::new(messages, outbox, Vec::new()))
}

/// The snapshot for applying statuses: the messages with their stored dedupe keys.
fn status_snapshot(conn: &Connection, messages: Vec<MessageRecord>) -> Result<Snapshot> {
    let mut dedupe = Vec::new();
    let mut stmt = conn.prepare_cached(
        "SELECT dedupe_key FROM message_events WHERE message_id = ?1 AND dedupe_key IS NOT NULL",
    )?;
    for m in &messages {
        for key in stmt.query_map([&m.id], |r| r.get::<_, String>(0))? {
            dedupe.push((m.id.clone(), key?));
        }
    }
    with_listeners(conn, Snapshot::new(messages, Vec::new(), dedupe))
}

/// The snapshot with its workspaces' business webhook listeners.
fn with_listeners(conn: &Connection, snap: Snapshot) -> Result<Snapshot> {
    let listeners = business_webhooks::listeners(conn, snap.workspaces())?;
    Ok(snap.with_listeners(listeners))
}

/// Executes a batch's writes.
fn write(conn: &Connection, w: &Writes) -> Result<()> {
    if w.is_empty() {
        return Ok(());
    }
    for id in &w.outbox_deletes {
        change_outbox(conn, id, &OutboxChange::Delete)?;
    }
    for (id, state, due_at) in &w.outbox_sets {
        let change = OutboxChange::Set {
            state,
            due_at: *due_at,
        };
        change_outbox(conn, id, &change)?;
    }
    for (id, ev) in &w.events {
        insert_event(conn, id, ev)?;
    }
    for m in &w.messages {
        let e = m.error.as_ref();
        // `wamid` is set only when it changed, so a status leaves the wamid index alone.
        let sql = if m.wamid_changed {
            "UPDATE messages SET status = ?2, error_code = ?3, error_title = ?4, \
             error_details = ?5, attempts = ?6, updated_at = ?7, wamid = ?8 WHERE id = ?1"
        } else {
            "UPDATE messages SET status = ?2, error_code = ?3, error_title = ?4, \
             error_details = ?5, attempts = ?6, updated_at = ?7 WHERE id = ?1"
        };
        let mut stmt = conn.prepare_cached(sql)?;
        let columns = params![
            m.id,
            m.status.as_str(),
            e.map(|e| e.code),
            e.map(|e| e.title.as_str()),
            e.and_then(|e| e.details.as_deref()),
            m.attempts,
            m.updated_at
        ];
        let wamid: &[&dyn rusqlite::ToSql] = if m.wamid_changed { &[&m.wamid] } else { &[] };
        stmt.execute(rusqlite::params_from_iter(columns.iter().chain(wamid)))?;
    }
    for ev in &w.webhooks {
        business_webhooks::emit(conn, ev)?;
    }
    Ok(())
}

fn record(conn: &Connection, owner: &str, outcomes: &[OutcomeRecord]) -> Result<()> {
    let ids: Vec<String> = outcomes.iter().map(|o| o.message_id.clone()).collect();
    let snap = outcome_snapshot(conn, &ids)?;
    write(
        conn,
        &batch::record_outcomes(snap, owner, outcomes.to_vec()),
    )
}

fn apply(
    conn: &Connection,
    channels: &[(String, String)],
    updates: &[StatusUpdate],
    now: Millis,
) -> Result<ApplyReport> {
    let mut messages = load_messages(conn, &batch::callback_ids(updates))?;
    load_by_wamids(
        conn,
        &batch::unresolved_wamids(updates, channels, &messages),
        &mut messages,
    )?;
    let (writes, report) =
        batch::apply_statuses(status_snapshot(conn, messages)?, channels, updates, now);
    write(conn, &writes)?;
    Ok(report)
}

#[async_trait]
impl Store for SqliteStore {
    async fn migrate(&self) -> Result<()> {
        // Migrations run when the file is opened; nothing is left to do.
        Ok(())
    }

    fn writes_stopped(&self) -> Option<String> {
        self.rt.stopped()
    }

    async fn ping(&self) -> Result<()> {
        self.rt
            .read(|c| Ok(c.query_row("SELECT 1", [], |r| r.get::<_, i64>(0))?))
            .await
            .map(|_| ())
    }

    async fn accept_message(&self, msg: NewMessage) -> Result<AcceptOutcome> {
        self.rt.write(move |c| accept(c, &msg)).await
    }

    async fn get_message(&self, workspace_id: &str, id: &str) -> Result<Option<MessageDetail>> {
        let (ws, id) = (workspace_id.to_string(), id.to_string());
        self.rt
            .read(move |c| {
                let Some(message) = load_message(c, &id)?.filter(|m| m.workspace_id == ws) else {
                    return Ok(None);
                };
                let events = c
                    .prepare_cached(
                        "SELECT status, at, source, wamid, error_code, error_title, error_details, detail, data \
                         FROM message_events WHERE message_id = ?1 ORDER BY id",
                    )?
                    .query_map([&id], |r| {
                        let data: Option<String> = r.get(8)?;
                        Ok(MessageEvent {
                            status: r.get(0)?,
                            at: r.get(1)?,
                            source: r.get(2)?,
                            wamid: r.get(3)?,
                            error: meta_error(r.get(4)?, r.get(5)?, r.get(6)?),
                            detail: r.get(7)?,
                            data: data.and_then(|d| serde_json::from_str(&d).ok()),
                        })
                    })?
                    .collect::<rusqlite::Result<_>>()?;
                let mut detail = MessageDetail::new(message, events);
                detail.rendered = c
                    .prepare_cached("SELECT rendered FROM messages WHERE id = ?1")?
                    .query_row([&id], |r| r.get(0))?;
                Ok(Some(detail))
            })
            .await
    }

    async fn list_messages(
        &self,
        workspace_id: &str,
        f: &MessageFilter,
    ) -> Result<Vec<MessageRecord>> {
        let ws = workspace_id.to_string();
        let f = f.clone();
        self.rt
            .read(move |c| {
                let (sql, values) = message_listing(MESSAGE_COLUMNS, &ws, &f, |n| format!("?{n}"));
                let rows = c
                    .prepare_cached(&sql)?
                    .query_map(params_from_iter(values), message_from_row)?
                    .collect::<rusqlite::Result<_>>()?;
                Ok(rows)
            })
            .await
    }

    async fn lease_channels(&self, owner: &str, now: Millis, ttl_ms: i64) -> Result<Vec<Channel>> {
        let owner = owner.to_string();
        self.rt
            .write(move |c| {
                let sql = format!(
                    "UPDATE channels SET dispatch_owner = ?1, dispatch_lease_until = ?2 + ?3 \
                     WHERE enabled AND (dispatch_owner = ?1 OR dispatch_owner IS NULL OR dispatch_lease_until < ?2) \
                     AND workspace_id NOT IN (SELECT id FROM workspaces WHERE disabled_at IS NOT NULL) \
                     RETURNING {CHANNEL_COLUMNS}"
                );
                let rows = c
                    .prepare_cached(&sql)?
                    .query_map(params![owner, now, ttl_ms], channel_from_row)?
                    .collect::<rusqlite::Result<_>>()?;
                Ok(rows)
            })
            .await
    }

    async fn release_channels(&self, owner: &str) -> Result<()> {
        let owner = owner.to_string();
        self.rt
            .write(move |c| {
                c.execute(
                    "UPDATE channels SET dispatch_owner = NULL, dispatch_lease_until = 0 WHERE dispatch_owner = ?1",
                    [&owner],
                )?;
                Ok(())
            })
            .await
    }

    async fn claim(&self, req: &ClaimRequest) -> Result<Vec<Claimed>> {
        let req = req.clone();
        self.rt.write(move |c| claim(c, &req)).await
    }

    async fn record_outcomes(&self, owner: &str, outcomes: Vec<OutcomeRecord>) -> Result<()> {
        let owner = owner.to_string();
        self.rt.write(move |c| record(c, &owner, &outcomes)).await
    }

    async fn release_claims(&self, owner: &str, message_ids: &[String], now: Millis) -> Result<()> {
        let (owner, ids) = (owner.to_string(), message_ids.to_vec());
        self.rt
            .write(move |c| {
                for id in &ids {
                    c.prepare_cached(
                        "UPDATE outbox SET state = 'ready', due_at = ?3, lease_owner = NULL, lease_until = 0 \
                         WHERE message_id = ?1 AND state = 'leased' AND lease_owner = ?2",
                    )?
                    .execute(params![id, owner, now])?;
                }
                Ok(())
            })
            .await
    }

    async fn expired_unknowns(
        &self,
        channel_id: &str,
        now: Millis,
        limit: i64,
    ) -> Result<Vec<String>> {
        let ch = channel_id.to_string();
        self.rt
            .read(move |c| {
                let rows = c
                    .prepare_cached(
                        "SELECT message_id FROM outbox WHERE channel_id = ?1 AND state = 'unknown' \
                         AND due_at <= ?2 ORDER BY seq LIMIT ?3",
                    )?
                    .query_map(params![ch, now, limit], |r| r.get(0))?
                    .collect::<rusqlite::Result<_>>()?;
                Ok(rows)
            })
            .await
    }

    async fn apply_statuses(
        &self,
        channels: &[(String, String)],
        updates: Vec<StatusUpdate>,
        now: Millis,
    ) -> Result<ApplyReport> {
        let channels = channels.to_vec();
        self.rt
            .write(move |c| apply(c, &channels, &updates, now))
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// SQLite's plan for a message listing with `filter`, one line per step.
    fn listing_plan(filter: &MessageFilter) -> String {
        let mut conn = Connection::open_in_memory().unwrap();
        migrations().to_latest(&mut conn).unwrap();
        let (sql, values) = message_listing(MESSAGE_COLUMNS, "ws", filter, |n| format!("?{n}"));
        let mut stmt = conn.prepare(&format!("EXPLAIN QUERY PLAN {sql}")).unwrap();
        let steps = stmt
            .query_map(params_from_iter(values), |r| r.get::<_, String>(3))
            .unwrap();
        steps.map(Result::unwrap).collect::<Vec<_>>().join("\n")
    }

    #[test]
    fn a_status_or_recipient_filter_reads_its_own_index() {
        let by_status = MessageFilter {
            status: Some(MessageStatus::Failed),
            limit: 50,
            ..MessageFilter::default()
        };
        let plan = listing_plan(&by_status);
        assert!(plan.contains("messages_workspace_status"), "{plan}");
        assert!(!plan.contains("TEMP B-TREE"), "sorted in memory: {plan}");

        let by_recipient = MessageFilter {
            recipient: Some("5215512345678".into()),
            before_seq: Some(1_000),
            limit: 50,
            ..MessageFilter::default()
        };
        let plan = listing_plan(&by_recipient);
        assert!(plan.contains("messages_workspace_recipient"), "{plan}");
        assert!(!plan.contains("TEMP B-TREE"), "sorted in memory: {plan}");
    }
}
