//! The embedded default back end: one SQLite file in WAL mode, written by a group-committing
//! writer thread (see `runtime`).

use chasqui_domain::{ChannelId, MessageId, WorkspaceId};
mod checkpoint;
pub(crate) mod runtime;
mod wal_sync;

#[cfg(any(test, feature = "fault-injection"))]
pub use wal_sync::fault_injection;

use std::path::PathBuf;
use std::sync::LazyLock;

use async_trait::async_trait;
use chasqui_domain::webhook::StatusUpdate;
use rusqlite::{params, Connection, OptionalExtension, Row};
use rusqlite_migration::{Migrations, M};

use crate::batch::{self, Snapshot, Writes};
use crate::business_webhooks;
use crate::business_webhooks::WebhookEvent;
use crate::messages::{
    dedupe_keys, line, parse_status, pricing, pricing_columns, MESSAGE_COLUMNS,
    MESSAGE_COLUMN_COUNT,
};
use crate::plan::{meta_error, NewEvent, OutboxChange, OutboxRow};
use crate::sql::{block, on};
use crate::{
    AcceptOutcome, ApplyReport, ClaimRequest, Claimed, MessageRecord, Millis, NewMessage,
    OutcomeRecord, Result, Store, StoreError,
};
use runtime::{open_writer, Runtime};

/// SQLite back end.
pub struct SqliteStore {
    pub(crate) rt: Runtime,
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
            "../../migrations/sqlite/0014_work_on_the_message_row.sql"
        )),
        M::up(include_str!(
            "../../migrations/sqlite/0015_webhook_event_subject.sql"
        )),
        M::up(include_str!(
            "../../migrations/sqlite/0016_unattributed_inbound.sql"
        )),
        M::up(include_str!("../../migrations/sqlite/0017_auto_read.sql")),
        M::up(include_str!(
            "../../migrations/sqlite/0018_vendor_channel_ids.sql"
        )),
        M::up(include_str!(
            "../../migrations/sqlite/0019_window_fallback.sql"
        )),
        M::up(include_str!(
            "../../migrations/sqlite/0020_message_pricing.sql"
        )),
        M::up(include_str!(
            "../../migrations/sqlite/0021_contact_import.sql"
        )),
        M::up(include_str!(
            "../../migrations/sqlite/0022_marketing_consent.sql"
        )),
        M::up(include_str!(
            "../../migrations/sqlite/0023_marketing_messages.sql"
        )),
        M::up(include_str!(
            "../../migrations/sqlite/0024_contact_parent_user_id.sql"
        )),
        M::up(include_str!(
            "../../migrations/sqlite/0025_conversation_inbox.sql"
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

fn message_from_row(r: &Row<'_>) -> rusqlite::Result<MessageRecord> {
    let status: String = r.get(7)?;
    let status = parse_status(&status).map_err(|e| {
        rusqlite::Error::FromSqlConversionFailure(7, rusqlite::types::Type::Text, Box::new(e))
    })?;
    Ok(MessageRecord {
        id: MessageId::from_trusted(r.get::<_, String>(0)?),
        seq: r.get(1)?,
        workspace_id: WorkspaceId::from_trusted(r.get::<_, String>(2)?),
        channel_id: ChannelId::from_trusted(r.get::<_, String>(3)?),
        recipient: r.get(4)?,
        kind: r.get(5)?,
        body: r.get(6)?,
        status,
        wamid: r.get(8)?,
        error: meta_error(r.get(9)?, r.get(10)?, r.get(11)?),
        attempts: r.get(12)?,
        created_at: r.get(13)?,
        updated_at: r.get(14)?,
        pricing: pricing(r.get(15)?, r.get(16)?, r.get(17)?, r.get(18)?).map_err(|e| {
            rusqlite::Error::FromSqlConversionFailure(15, rusqlite::types::Type::Text, Box::new(e))
        })?,
    })
}

fn load_message(conn: &Connection, id: &str) -> Result<Option<MessageRecord>> {
    let sql = format!("SELECT {MESSAGE_COLUMNS} FROM messages WHERE id = ?1");
    conn.prepare_cached(&sql)?
        .query_row([id], message_from_row)
        .optional()
        .map_err(Into::into)
}

/// Records an event on a message's timeline and sets its pending work, in one row write.
fn set_work(conn: &Connection, id: &str, state: &str, due_at: Millis, ev: &NewEvent) -> Result<()> {
    conn.prepare_cached(
        "UPDATE messages SET state = ?2, due_at = ?3, lease_owner = NULL, lease_until = 0, \
         timeline = timeline || ?4 WHERE id = ?1",
    )?
    .execute(params![id, state, due_at, line(ev)])?;
    Ok(())
}

/// [`Store::accept_messages`]: the writer runs one job at a time, so keys checked first are
/// still unused when the messages are written.
fn accept_all(conn: &mut Connection, msgs: &[NewMessage]) -> Result<Vec<AcceptOutcome>> {
    let mut used = Vec::new();
    for m in msgs {
        let Some(idem) = &m.idempotency else { continue };
        let known: Option<i64> = conn
            .prepare_cached("SELECT 1 FROM idempotency_keys WHERE api_key_id = ?1 AND key = ?2")?
            .query_row(params![idem.api_key_id, idem.key], |r| r.get(0))
            .optional()?;
        if known.is_some() {
            // A used key writes nothing: this answers the replay or the conflict.
            used.push(accept(conn, m)?);
        }
    }
    if !used.is_empty() {
        return Ok(used);
    }
    msgs.iter().map(|m| accept(conn, m)).collect()
}

fn accept(conn: &mut Connection, m: &NewMessage) -> Result<AcceptOutcome> {
    if let Some(idem) = &m.idempotency {
        let existing: Option<(String, MessageId)> = conn
            .prepare_cached(
                "SELECT request_hash, message_id FROM idempotency_keys WHERE api_key_id = ?1 AND key = ?2",
            )?
            .query_row(params![idem.api_key_id, idem.key], |r| {
                Ok((r.get(0)?, MessageId::from_trusted(r.get::<_, String>(1)?)))
            })
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
            m.id.as_str(),
            m.created_at
        ])?;
    }
    let failure = m.failure_event();
    let record = MessageRecord::accepted(m.clone(), 0);
    let error = record.error.as_ref();
    // Failed on arrival: no pending work, so no worker can ever claim it.
    conn.prepare_cached(
        "INSERT INTO messages (id, workspace_id, channel_id, recipient, kind, body, status, \
         created_at, updated_at, rendered, client_message, state, due_at, error_code, \
         error_title, error_details, timeline) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?8, ?9, ?10, ?11, ?8, ?12, ?13, ?14, ?15)",
    )?
    .execute(params![
        m.id.as_str(),
        m.workspace_id.as_str(),
        m.channel_id.as_str(),
        m.recipient,
        m.kind,
        m.body,
        record.status.as_str(),
        m.created_at,
        m.rendered,
        m.client_message,
        failure.is_none().then_some("ready"),
        error.map(|e| e.code),
        error.map(|e| e.title.as_str()),
        error.and_then(|e| e.details.as_deref()),
        failure.as_ref().map(line).unwrap_or_default(),
    ])?;
    let seq = conn.last_insert_rowid();
    let queued = MessageRecord::queued(m.clone(), seq);
    let record = MessageRecord { seq, ..record };
    if block(business_webhooks::listens(&mut on(conn), &m.workspace_id))? {
        let mut events: Vec<WebhookEvent> = WebhookEvent::message(&queued, m.created_at)
            .into_iter()
            .collect();
        if failure.is_some() {
            events.extend(WebhookEvent::message(&record, m.created_at));
        }
        emit(conn, &events)?;
    }
    Ok(AcceptOutcome::Created(if failure.is_some() {
        record
    } else {
        queued
    }))
}

fn claim(conn: &Connection, req: &ClaimRequest) -> Result<Vec<Claimed>> {
    // A worker that went silent may have been mid-call: its leases become unknown outcomes.
    let expired: Vec<String> = conn
        .prepare_cached(
            "SELECT id FROM messages WHERE channel_id = ?1 AND state = 'leased' \
             AND lease_until < ?2",
        )?
        .query_map(params![req.channel_id.as_str(), req.now], |r| r.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    for id in &expired {
        let mut ev = NewEvent::new("unknown", req.now, "dispatcher");
        ev.detail = Some("the worker sending it stopped; waiting for a status webhook".into());
        set_work(conn, id, "unknown", req.now + req.reconcile_ms, &ev)?;
    }
    // The heads of line: the oldest message with work left of each recipient.
    let mut out: Vec<(i64, Claimed)> = conn
        .prepare_cached(
            "UPDATE messages SET state = 'leased', lease_owner = ?4, lease_until = ?5 \
             WHERE seq IN (SELECT o.seq FROM messages o \
               WHERE o.channel_id = ?1 AND o.state = 'ready' AND o.due_at <= ?2 \
               AND NOT EXISTS (SELECT 1 FROM messages p WHERE p.channel_id = o.channel_id \
                 AND p.recipient = o.recipient AND p.state IS NOT NULL AND p.seq < o.seq) \
               ORDER BY o.seq LIMIT ?3) \
             RETURNING seq, id, recipient, body, attempts, created_at",
        )?
        .query_map(
            params![
                req.channel_id.as_str(),
                req.now,
                req.limit,
                req.owner,
                req.now + req.lease_ms
            ],
            |r| {
                Ok((
                    r.get(0)?,
                    Claimed {
                        message_id: MessageId::from_trusted(r.get::<_, String>(1)?),
                        recipient: r.get(2)?,
                        body: r.get(3)?,
                        attempts: r.get(4)?,
                        created_at: r.get(5)?,
                    },
                ))
            },
        )?
        .collect::<rusqlite::Result<_>>()?;
    // RETURNING promises no order: per-recipient order needs the queue's.
    out.sort_by_key(|(seq, _)| *seq);
    Ok(out.into_iter().map(|(_, c)| c).collect())
}

/// A message with its pending work and its timeline, in one query: `messages` columns, then
/// `state`, `lease_owner`, `timeline`.
static MESSAGE_WITH_WORK: LazyLock<String> = LazyLock::new(|| {
    format!("SELECT {MESSAGE_COLUMNS}, state, lease_owner, timeline FROM messages WHERE id = ?1")
});

/// Like [`MESSAGE_WITH_WORK`], found by wamid.
static MESSAGE_WITH_WORK_BY_WAMID: LazyLock<String> = LazyLock::new(|| {
    format!("SELECT {MESSAGE_COLUMNS}, state, lease_owner, timeline FROM messages WHERE wamid = ?1")
});

/// The rows a batch reads: its messages, their pending work and their timelines' dedupe keys.
#[derive(Default)]
struct Loaded {
    messages: Vec<MessageRecord>,
    work: Vec<(MessageId, OutboxRow)>,
    dedupe: Vec<(MessageId, String)>,
}

impl Loaded {
    fn has(&self, id: &str) -> bool {
        self.messages.iter().any(|m| m.id == id)
    }

    /// Adds the message `sql` finds by `key`, unless it is already loaded.
    fn load(&mut self, conn: &Connection, sql: &str, key: &str) -> Result<()> {
        let found = conn
            .prepare_cached(sql)?
            .query_row([key], |r| {
                let n = MESSAGE_COLUMN_COUNT;
                let work = match r.get::<_, Option<String>>(n)? {
                    Some(state) => Some(OutboxRow {
                        state,
                        lease_owner: r.get(n + 1)?,
                    }),
                    None => None,
                };
                Ok((message_from_row(r)?, work, r.get::<_, String>(n + 2)?))
            })
            .optional()?;
        let Some((message, work, timeline)) = found else {
            return Ok(());
        };
        if self.has(&message.id) {
            return Ok(());
        }
        if let Some(work) = work {
            self.work.push((message.id.clone(), work));
        }
        for key in dedupe_keys(&timeline)? {
            self.dedupe.push((message.id.clone(), key));
        }
        self.messages.push(message);
        Ok(())
    }

    /// The snapshot, with its workspaces' business webhook listeners.
    fn snapshot(self, conn: &mut Connection) -> Result<Snapshot> {
        let snap = Snapshot::new(self.messages, self.work, self.dedupe);
        let workspaces = snap.workspaces();
        let listeners = block(business_webhooks::listeners(&mut on(conn), workspaces))?;
        Ok(snap.with_listeners(listeners))
    }
}

/// Writes business webhook events (with their deliveries) in the writer's transaction.
fn emit(conn: &mut Connection, events: &[WebhookEvent]) -> Result<()> {
    let db: &mut dyn crate::sql::Db = &mut on(conn);
    block(async move {
        for ev in events {
            business_webhooks::emit(db, ev).await?;
        }
        Ok(())
    })
}

/// Executes a batch's writes: one `UPDATE` per message row, then its business webhook events.
fn write(conn: &mut Connection, w: &Writes) -> Result<()> {
    for row in w.rows() {
        let m = row.message;
        let e = m.error.as_ref();
        let (pm, pc, pt, pb) = pricing_columns(m.pricing.as_ref());
        let (set_work, state, due_at) = match row.work {
            OutboxChange::Keep => (false, None, 0),
            OutboxChange::Delete => (true, None, 0),
            OutboxChange::Set { state, due_at } => (true, Some(state), due_at),
        };
        // `wamid` is set only when it changed, so a status leaves the wamid index alone.
        let sql = if m.wamid_changed {
            WRITE_ROW_WITH_WAMID
        } else {
            WRITE_ROW
        };
        let mut stmt = conn.prepare_cached(sql)?;
        let columns = params![
            m.id.as_str(),
            m.status.as_str(),
            e.map(|e| e.code),
            e.map(|e| e.title.as_str()),
            e.and_then(|e| e.details.as_deref()),
            m.attempts,
            m.updated_at,
            row.append,
            set_work,
            state,
            due_at,
            pm,
            pc,
            pt,
            pb
        ];
        let wamid: &[&dyn rusqlite::ToSql] = if m.wamid_changed { &[&m.wamid] } else { &[] };
        stmt.execute(rusqlite::params_from_iter(columns.iter().chain(wamid)))?;
    }
    emit(conn, &w.webhooks)?;
    if !w.marketing_stops.is_empty() {
        let db: &mut dyn crate::sql::Db = &mut on(conn);
        block(crate::conversations::consent::apply_meta_stops(
            db,
            &w.marketing_stops,
        ))?;
    }
    if !w.user_id_links.is_empty() {
        let db: &mut dyn crate::sql::Db = &mut on(conn);
        block(crate::conversations::identity::link_user_ids(
            db,
            &w.user_id_links,
        ))?;
    }
    Ok(())
}

/// One message row's write: columns `?2..?7` and pricing `?12..?15`, timeline lines `?8`, and,
/// when `?9`, its pending work set to state `?10` due at `?11` (a NULL state: none left) with the
/// lease cleared.
const WRITE_ROW: &str = "UPDATE messages SET status = ?2, error_code = ?3, error_title = ?4, \
     error_details = ?5, attempts = ?6, updated_at = ?7, timeline = timeline || ?8, \
     pricing_model = ?12, pricing_category = ?13, pricing_type = ?14, billable = ?15, \
     state = CASE WHEN ?9 THEN ?10 ELSE state END, \
     due_at = CASE WHEN ?9 THEN ?11 ELSE due_at END, \
     lease_owner = CASE WHEN ?9 THEN NULL ELSE lease_owner END, \
     lease_until = CASE WHEN ?9 THEN 0 ELSE lease_until END WHERE id = ?1";

/// [`WRITE_ROW`] with the wamid in `?16`.
const WRITE_ROW_WITH_WAMID: &str = "UPDATE messages SET status = ?2, error_code = ?3, \
     error_title = ?4, error_details = ?5, attempts = ?6, updated_at = ?7, \
     timeline = timeline || ?8, state = CASE WHEN ?9 THEN ?10 ELSE state END, \
     pricing_model = ?12, pricing_category = ?13, pricing_type = ?14, billable = ?15, \
     due_at = CASE WHEN ?9 THEN ?11 ELSE due_at END, \
     lease_owner = CASE WHEN ?9 THEN NULL ELSE lease_owner END, \
     lease_until = CASE WHEN ?9 THEN 0 ELSE lease_until END, wamid = ?16 WHERE id = ?1";

fn record(conn: &mut Connection, owner: &str, outcomes: &[OutcomeRecord]) -> Result<()> {
    let mut loaded = Loaded::default();
    for o in outcomes {
        loaded.load(conn, &MESSAGE_WITH_WORK, &o.message_id)?;
    }
    let snap = loaded.snapshot(conn)?;
    write(
        conn,
        &batch::record_outcomes(snap, owner, outcomes.to_vec()),
    )
}

fn apply(
    conn: &mut Connection,
    channels: &[(String, ChannelId)],
    updates: &[StatusUpdate],
    now: Millis,
) -> Result<ApplyReport> {
    let mut loaded = Loaded::default();
    for id in batch::callback_ids(updates) {
        loaded.load(conn, &MESSAGE_WITH_WORK, &id)?;
    }
    for wamid in batch::unresolved_wamids(updates, channels, &loaded.messages) {
        if !loaded
            .messages
            .iter()
            .any(|m| m.wamid.as_deref() == Some(&wamid))
        {
            loaded.load(conn, &MESSAGE_WITH_WORK_BY_WAMID, &wamid)?;
        }
    }
    let (writes, report) = batch::apply_statuses(loaded.snapshot(conn)?, channels, updates, now);
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
        self.rt.write_mut(move |c| accept(c, &msg)).await
    }

    async fn accept_messages(&self, msgs: Vec<NewMessage>) -> Result<Vec<AcceptOutcome>> {
        self.rt.write_mut(move |c| accept_all(c, &msgs)).await
    }

    async fn claim(&self, req: &ClaimRequest) -> Result<Vec<Claimed>> {
        let req = req.clone();
        self.rt.write(move |c| claim(c, &req)).await
    }

    async fn record_outcomes(&self, owner: &str, outcomes: Vec<OutcomeRecord>) -> Result<()> {
        let owner = owner.to_string();
        self.rt
            .write_mut(move |c| record(c, &owner, &outcomes))
            .await
    }

    async fn apply_statuses(
        &self,
        channels: &[(String, ChannelId)],
        updates: Vec<StatusUpdate>,
        now: Millis,
    ) -> Result<ApplyReport> {
        let channels = channels.to_vec();
        self.rt
            .write_mut(move |c| apply(c, &channels, &updates, now))
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::listing::message_listing;
    use crate::MessageFilter;
    use chasqui_domain::MessageStatus;

    /// SQLite's plan for a message listing with `filter`, one line per step.
    fn listing_plan(filter: &MessageFilter) -> String {
        let mut conn = Connection::open_in_memory().unwrap();
        migrations().to_latest(&mut conn).unwrap();
        let (sql, values) = message_listing(MESSAGE_COLUMNS, "ws", filter, |n| format!("?{n}"));
        let values: Vec<crate::sql::Value> = values.into_iter().map(Into::into).collect();
        let mut stmt = conn.prepare(&format!("EXPLAIN QUERY PLAN {sql}")).unwrap();
        let steps = stmt
            .query_map(rusqlite::params_from_iter(values), |r| {
                r.get::<_, String>(3)
            })
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

    /// SQLite's plan for `sql` with `args`, one line per step.
    fn plan(sql: &str, args: Vec<crate::sql::Value>) -> String {
        let mut conn = Connection::open_in_memory().unwrap();
        migrations().to_latest(&mut conn).unwrap();
        let mut db = on(&mut conn);
        let rows = block(crate::sql::Db::fetch_all(
            &mut db,
            &format!("EXPLAIN QUERY PLAN {sql}"),
            args,
        ));
        let mut lines = Vec::new();
        for mut r in rows.unwrap() {
            let (_, _, _, detail): (i64, i64, i64, String) = (
                r.get().unwrap(),
                r.get().unwrap(),
                r.get().unwrap(),
                r.get().unwrap(),
            );
            lines.push(detail);
        }
        lines.join("\n")
    }

    #[test]
    fn the_inbox_reads_its_index_in_order_and_looks_up_each_latest_message() {
        use crate::conversations::inbox_sql;
        use crate::sql::args;
        // The SQL is built for this connection's dialect; `plan` reads it on a migrated one.
        let mut conn = Connection::open_in_memory().unwrap();
        for (after, args) in [
            (false, args!["ws", 50]),
            (true, args!["ws", 50, 1_700_000_000_000_i64, "cv_x"]),
        ] {
            let sql = inbox_sql(&on(&mut conn), after);
            let plan = plan(&sql, args);
            // The page is the index's order: no sort, and no row past the page is read.
            assert!(
                plan.contains("SEARCH cv USING INDEX conversations_inbox (workspace_id=?"),
                "{plan}"
            );
            assert!(!plan.contains("TEMP B-TREE"), "sorted in memory: {plan}");
            // Each latest message is one lookup by the conversation or by the recipient, never
            // a walk through the workspace's messages.
            assert!(plan.contains("inbound_messages_conversation"), "{plan}");
            assert_eq!(
                plan.matches("messages_workspace_recipient (workspace_id=? AND recipient=?)")
                    .count(),
                2,
                "{plan}"
            );
            assert!(!plan.contains("messages_workspace_seq"), "{plan}");
            assert!(!plan.contains("SCAN"), "{plan}");
        }

        // A conversation read alone finds its latest outbound message the same way.
        let sql = format!(
            "SELECT {} FROM conversations WHERE workspace_id = $1 AND id = $2",
            crate::conversations::conversation_columns(&on(&mut conn))
        );
        let plan = plan(&sql, args!["ws", "cv_x"]);
        assert_eq!(
            plan.matches("messages_workspace_recipient (workspace_id=? AND recipient=?)")
                .count(),
            2,
            "{plan}"
        );
        assert!(!plan.contains("messages_workspace_seq"), "{plan}");
        assert!(!plan.contains("SCAN"), "{plan}");
    }
}
