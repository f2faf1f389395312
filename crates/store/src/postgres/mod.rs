//! The scale-out back end: PostgreSQL shared by several Chasqui instances. Work is claimed with
//! `FOR UPDATE SKIP LOCKED` and leases, so any instance may die and another finishes its work.

mod business_webhooks;
mod committer;
mod conversations;
mod dialect_ids;
mod media;
mod quotas;
mod templates;
mod tenancy;
mod users;

use async_trait::async_trait;
use chasqui_domain::webhook::StatusUpdate;
use chasqui_domain::MessageStatus;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions, PgRow};
use sqlx::{PgConnection, PgPool, Row};

use crate::batch::{self, MessageUpdate, Snapshot, Writes};
use crate::business_webhooks::WebhookEvent;
use crate::listing::{message_listing, Bound};
use crate::plan::{meta_error, NewEvent, OutboxChange, OutboxRow};
use crate::{
    AcceptOutcome, ApplyReport, Channel, ClaimRequest, Claimed, MessageDetail, MessageEvent,
    MessageFilter, MessageRecord, Millis, NewMessage, OutcomeRecord, Result, Store, StoreError,
};
use business_webhooks::{emit_ctes, WebhookColumns};

/// PostgreSQL back end.
pub struct PgStore {
    pool: PgPool,
    /// Sessions that keep prepared statements' generic plans, for the per-request lookups whose
    /// only sensible plan is a unique-index probe whatever the tables' sizes: planning those
    /// afresh on every request cost PostgreSQL more than running them.
    probes: PgPool,
    committer: committer::Committer,
}

/// How often a transaction PostgreSQL chose as a deadlock victim is tried again.
pub(super) const DEADLOCK_RETRIES: u32 = 5;

/// Whether PostgreSQL aborted the transaction to break a deadlock (SQLSTATE 40P01) or a
/// serialization conflict (40001): both are safe to run again from the start.
pub(super) fn is_deadlock(e: &StoreError) -> bool {
    match e {
        StoreError::Postgres(sqlx::Error::Database(db)) => {
            matches!(db.code().as_deref(), Some("40P01") | Some("40001"))
        }
        _ => false,
    }
}

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

impl PgStore {
    /// Connects to `url` (the schema is applied by `migrate`).
    pub async fn connect(url: &str) -> Result<Self> {
        let opts: PgConnectOptions = url
            .parse()
            .map_err(|e| StoreError::Config(format!("bad PostgreSQL URL: {e}")))?;
        // Random reads cost about what sequential ones do once the working set is cached (or on
        // SSDs); with the default cost of 4 the planner scans whole tables for batch lookups.
        // JIT compilation costs milliseconds per statement: it pays off for long analytic
        // queries, never for these short ones, yet tables without statistics yet can push an
        // estimate over `jit_above_cost`.
        let opts = opts.options([("random_page_cost", "1.1"), ("jit", "off")]);
        // Statements are prepared once per connection, often while the tables are still empty; a
        // generic plan made then (a sequential scan) would stay cached as the tables grow. Plans
        // made for each execution follow the tables' real size.
        let custom_plans = opts
            .clone()
            .options([("plan_cache_mode", "force_custom_plan")]);
        let pool = PgPoolOptions::new()
            .max_connections(32)
            .acquire_timeout(std::time::Duration::from_secs(10))
            .connect_with(custom_plans)
            .await?;
        let probes = PgPoolOptions::new()
            .max_connections(8)
            .acquire_timeout(std::time::Duration::from_secs(10))
            .connect_lazy_with(opts);
        let committer = committer::Committer::start(pool.clone());
        Ok(Self {
            pool,
            probes,
            committer,
        })
    }
}

macro_rules! sql {
    ($($s:literal)+) => {
        concat!($($s),+)
    };
}

const MESSAGE_COLUMNS: &str =
    "id, seq, workspace_id, channel_id, recipient, kind, body, status, wamid, \
     error_code, error_title, error_details, attempts, created_at, updated_at";

const CHANNEL_COLUMNS: &str =
    "id, workspace_id, name, provider, phone_number_id, display_phone_number, \
     waba_id, base_url, api_version, access_token, app_secret, verify_token, rate_per_sec, \
     pair_interval_ms, pair_burst, is_default, window_policy, enabled, messaging_limit, num";

fn message_from_row(r: &PgRow) -> Result<MessageRecord> {
    let status: String = r.try_get(7)?;
    Ok(MessageRecord {
        id: r.try_get(0)?,
        seq: r.try_get(1)?,
        workspace_id: r.try_get(2)?,
        channel_id: r.try_get(3)?,
        recipient: r.try_get(4)?,
        kind: r.try_get(5)?,
        body: r.try_get(6)?,
        status: MessageStatus::parse(&status)
            .ok_or_else(|| StoreError::Corrupt(format!("status {status}")))?,
        wamid: r.try_get(8)?,
        error: meta_error(r.try_get(9)?, r.try_get(10)?, r.try_get(11)?),
        attempts: r.try_get(12)?,
        created_at: r.try_get(13)?,
        updated_at: r.try_get(14)?,
    })
}

fn channel_from_row(r: &PgRow) -> Result<Channel> {
    Ok(Channel {
        id: r.try_get(0)?,
        workspace_id: r.try_get(1)?,
        name: r.try_get(2)?,
        provider: r.try_get(3)?,
        phone_number_id: r.try_get(4)?,
        display_phone_number: r.try_get(5)?,
        waba_id: r.try_get(6)?,
        base_url: r.try_get(7)?,
        api_version: r.try_get(8)?,
        access_token: r.try_get(9)?,
        app_secret: r.try_get(10)?,
        verify_token: r.try_get(11)?,
        rate_per_sec: r.try_get(12)?,
        pair_interval_ms: r.try_get(13)?,
        pair_burst: r.try_get(14)?,
        is_default: r.try_get(15)?,
        window_policy: r.try_get(16)?,
        enabled: r.try_get(17)?,
        messaging_limit: r.try_get(18)?,
        num: r.try_get(19)?,
    })
}

fn rows<T>(rows: Vec<PgRow>, f: fn(&PgRow) -> Result<T>) -> Result<Vec<T>> {
    rows.iter().map(f).collect()
}

async fn load_message(c: &mut PgConnection, id: &str, lock: bool) -> Result<Option<MessageRecord>> {
    let sql = if lock {
        format!("SELECT {MESSAGE_COLUMNS} FROM messages WHERE id = $1 FOR UPDATE")
    } else {
        format!("SELECT {MESSAGE_COLUMNS} FROM messages WHERE id = $1")
    };
    let row = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(id)
        .fetch_optional(&mut *c)
        .await?;
    row.as_ref().map(message_from_row).transpose()
}

async fn insert_event(c: &mut PgConnection, message_id: &str, ev: &NewEvent) -> Result<bool> {
    let (code, title, details) = match &ev.error {
        Some(e) => (Some(e.code), Some(e.title.clone()), e.details.clone()),
        None => (None, None, None),
    };
    let done = sqlx::query(sql!(
        "INSERT INTO message_events (message_id, status, at, source, wamid, error_code, "
        "error_title, error_details, detail, data, dedupe_key) "
        "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) "
        "ON CONFLICT (message_id, dedupe_key) DO NOTHING"
    ))
    .bind(message_id)
    .bind(&ev.status)
    .bind(ev.at)
    .bind(ev.source)
    .bind(&ev.wamid)
    .bind(code)
    .bind(title)
    .bind(details)
    .bind(&ev.detail)
    .bind(&ev.data)
    .bind(&ev.dedupe_key)
    .execute(&mut *c)
    .await?;
    Ok(done.rows_affected() == 1)
}

async fn change_outbox(
    c: &mut PgConnection,
    message_id: &str,
    change: &OutboxChange,
) -> Result<()> {
    match change {
        OutboxChange::Keep => {}
        OutboxChange::Delete => {
            sqlx::query("DELETE FROM outbox WHERE message_id = $1")
                .bind(message_id)
                .execute(&mut *c)
                .await?;
        }
        OutboxChange::Set { state, due_at } => {
            sqlx::query(sql!(
                "UPDATE outbox SET state = $2, due_at = $3, lease_owner = NULL, lease_until = 0 "
                "WHERE message_id = $1"
            ))
            .bind(message_id)
            .bind(*state)
            .bind(*due_at)
            .execute(&mut *c)
            .await?;
        }
    }
    Ok(())
}

async fn accept(c: &mut PgConnection, m: &NewMessage) -> Result<AcceptOutcome> {
    if let Some(idem) = &m.idempotency {
        let claimed = sqlx::query(sql!(
            "INSERT INTO idempotency_keys (api_key_id, key, request_hash, message_id, created_at) "
            "VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING"
        ))
        .bind(&idem.api_key_id)
        .bind(&idem.key)
        .bind(&idem.request_hash)
        .bind(&m.id)
        .bind(m.created_at)
        .execute(&mut *c)
        .await?;
        if claimed.rows_affected() == 0 {
            let row = sqlx::query("SELECT request_hash, message_id FROM idempotency_keys WHERE api_key_id = $1 AND key = $2")
                .bind(&idem.api_key_id)
                .bind(&idem.key)
                .fetch_one(&mut *c)
                .await?;
            let (hash, message_id): (String, String) = (row.try_get(0)?, row.try_get(1)?);
            if hash != idem.request_hash {
                return Ok(AcceptOutcome::Conflict { message_id });
            }
            let first = load_message(c, &message_id, false).await?.ok_or_else(|| {
                StoreError::Corrupt(format!("idempotency key names missing {message_id}"))
            })?;
            return Ok(AcceptOutcome::Replayed(first));
        }
    }
    let seq = insert_message(&mut *c, m).await?;
    finish_accept(c, m, seq).await
}

/// What a message accepted by a vendor dialect carries beyond the queued row (its client's
/// message, a failure on arrival), written in the accepting transaction.
async fn finish_accept(c: &mut PgConnection, m: &NewMessage, seq: i64) -> Result<AcceptOutcome> {
    if let Some(client) = &m.client_message {
        sqlx::query("UPDATE messages SET client_message = $2 WHERE id = $1")
            .bind(&m.id)
            .bind(client)
            .execute(&mut *c)
            .await?;
    }
    let Some(failure) = m.failure_event() else {
        return Ok(AcceptOutcome::Created(MessageRecord::queued(
            m.clone(),
            seq,
        )));
    };
    // Failed on arrival: its outbox row goes in the same transaction, so no worker can ever
    // claim it.
    sqlx::query("DELETE FROM outbox WHERE message_id = $1")
        .bind(&m.id)
        .execute(&mut *c)
        .await?;
    let record = MessageRecord::accepted(m.clone(), seq);
    if let Some(error) = &record.error {
        sqlx::query(
            "UPDATE messages SET status = 'failed', error_code = $2, error_title = $3, \
             error_details = $4 WHERE id = $1",
        )
        .bind(&m.id)
        .bind(error.code)
        .bind(&error.title)
        .bind(&error.details)
        .execute(&mut *c)
        .await?;
    }
    insert_event(c, &m.id, &failure).await?;
    let events: Vec<WebhookEvent> = WebhookEvent::message(&record, m.created_at)
        .into_iter()
        .collect();
    business_webhooks::emit(c, &events).await?;
    Ok(AcceptOutcome::Created(record))
}

/// The statement of `insert_message`, with its `message.queued` event in `$9..$14`.
static INSERT_MESSAGE_SQL: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    format!(
        "WITH m AS (INSERT INTO messages (id, workspace_id, channel_id, recipient, kind, body, \
           status, created_at, updated_at, rendered) VALUES ($1, $2, $3, $4, $5, $6, 'queued', $7, $7, $8) RETURNING seq), \
         o AS (INSERT INTO outbox (message_id, seq, channel_id, recipient, state, due_at) \
           SELECT $1, seq, $3, $4, 'ready', $7 FROM m), {} \
         SELECT seq FROM m",
        emit_ctes(9)
    )
});

/// Inserts a message, its outbox row and (when an endpoint wants it) its `message.queued`
/// business webhook in one statement (atomic on its own, or inside the caller's transaction);
/// returns its `seq`.
async fn insert_message<'e>(c: impl sqlx::PgExecutor<'e>, m: &NewMessage) -> Result<i64> {
    let events: Vec<WebhookEvent> =
        WebhookEvent::message(&MessageRecord::queued(m.clone(), 0), m.created_at)
            .into_iter()
            .collect();
    let ev = WebhookColumns::new(&events);
    Ok(
        sqlx::query_scalar(sqlx::AssertSqlSafe(INSERT_MESSAGE_SQL.as_str()))
            .bind(&m.id)
            .bind(&m.workspace_id)
            .bind(&m.channel_id)
            .bind(&m.recipient)
            .bind(&m.kind)
            .bind(&m.body)
            .bind(m.created_at)
            .bind(&m.rendered)
            .bind(ev.id)
            .bind(ev.ws)
            .bind(ev.kind)
            .bind(ev.data)
            .bind(ev.at)
            .bind(ev.subject)
            .fetch_one(c)
            .await?,
    )
}

/// Whether a lease on this channel has run out (its worker stopped), without locking anything.
async fn has_expired_leases(pool: &PgPool, req: &ClaimRequest) -> Result<bool> {
    Ok(sqlx::query_scalar(sql!(
        "SELECT EXISTS (SELECT 1 FROM outbox WHERE channel_id = $1 AND state = 'leased' "
        "AND lease_until < $2)"
    ))
    .bind(&req.channel_id)
    .bind(req.now)
    .fetch_one(pool)
    .await?)
}

/// Turns the channel's run-out leases into unknown outcomes, then claims as `claim_ready`.
async fn claim(c: &mut PgConnection, req: &ClaimRequest) -> Result<Vec<Claimed>> {
    let expired: Vec<String> = sqlx::query_scalar(sql!(
        "SELECT message_id FROM outbox WHERE channel_id = $1 AND state = 'leased' AND lease_until < $2 "
        "FOR UPDATE SKIP LOCKED"
    ))
    .bind(&req.channel_id)
    .bind(req.now)
    .fetch_all(&mut *c)
    .await?;
    for id in &expired {
        let mut ev = NewEvent::new("unknown", req.now, "dispatcher");
        ev.detail = Some("the worker sending it stopped; waiting for a status webhook".into());
        insert_event(c, id, &ev).await?;
        change_outbox(
            c,
            id,
            &OutboxChange::Set {
                state: "unknown",
                due_at: req.now + req.reconcile_ms,
            },
        )
        .await?;
    }
    claim_ready(c, req).await
}

/// Leases the channel's due heads of line (the oldest message of each recipient) in one
/// statement, atomic on its own or inside the caller's transaction.
async fn claim_ready<'e>(c: impl sqlx::PgExecutor<'e>, req: &ClaimRequest) -> Result<Vec<Claimed>> {
    let heads = sqlx::query(sql!(
        "WITH h AS (UPDATE outbox SET state = 'leased', lease_owner = $4, lease_until = $5 "
        "  WHERE message_id IN (SELECT o.message_id FROM outbox o "
        "    WHERE o.channel_id = $1 AND o.state = 'ready' AND o.due_at <= $2 "
        "    AND NOT EXISTS (SELECT 1 FROM outbox p WHERE p.channel_id = o.channel_id "
        "                    AND p.recipient = o.recipient AND p.seq < o.seq) "
        "    ORDER BY o.seq LIMIT $3 FOR UPDATE SKIP LOCKED) "
        "  RETURNING message_id, recipient, seq) "
        "SELECT h.message_id, h.recipient, m.body, m.attempts, m.created_at "
        "FROM h JOIN messages m ON m.id = h.message_id ORDER BY h.seq"
    ))
    .bind(&req.channel_id)
    .bind(req.now)
    .bind(req.limit)
    .bind(&req.owner)
    .bind(req.now + req.lease_ms)
    .fetch_all(c)
    .await?;
    let out = heads
        .iter()
        .map(|r| {
            Ok(Claimed {
                message_id: r.try_get(0)?,
                recipient: r.try_get(1)?,
                body: r.try_get(2)?,
                attempts: r.try_get(3)?,
                created_at: r.try_get(4)?,
            })
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(out)
}

/// Loads and locks, in id order (the one lock order of every writer), the messages a batch names
/// by id or by wamid.
async fn lock_messages(
    c: &mut PgConnection,
    ids: &[String],
    wamids: &[String],
) -> Result<Vec<MessageRecord>> {
    let sql = format!(
        "SELECT {MESSAGE_COLUMNS} FROM messages WHERE id = ANY($1) OR wamid = ANY($2) \
         ORDER BY id FOR UPDATE"
    );
    let found = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(ids)
        .bind(wamids)
        .fetch_all(&mut *c)
        .await?;
    rows(found, message_from_row)
}

/// Loads and locks the outbox rows of these messages.
async fn lock_outbox(c: &mut PgConnection, ids: &[String]) -> Result<Vec<(String, OutboxRow)>> {
    let found = sqlx::query(sql!(
        "SELECT message_id, state, lease_owner FROM outbox WHERE message_id = ANY($1) "
        "ORDER BY message_id FOR UPDATE"
    ))
    .bind(ids)
    .fetch_all(&mut *c)
    .await?;
    found
        .iter()
        .map(|r| {
            let row = OutboxRow {
                state: r.try_get(1)?,
                lease_owner: r.try_get(2)?,
            };
            Ok((r.try_get(0)?, row))
        })
        .collect()
}

/// The dedupe keys of these messages' stored events.
async fn dedupe_keys(c: &mut PgConnection, ids: &[String]) -> Result<Vec<(String, String)>> {
    // One index probe per message, whatever the planner thinks of the table: with `= ANY($1)`
    // and no statistics yet (a young or fast-growing table) it scans the whole table, and a
    // plain join becomes a merge join over the whole index. `OFFSET 0` keeps the subquery a
    // per-message probe.
    let found = sqlx::query(sql!(
        "SELECT e.message_id, e.dedupe_key FROM UNNEST($1::text[]) AS ids(id) "
        "CROSS JOIN LATERAL (SELECT message_id, dedupe_key FROM message_events "
        "WHERE message_id = ids.id AND dedupe_key IS NOT NULL OFFSET 0) e"
    ))
    .bind(ids)
    .fetch_all(&mut *c)
    .await?;
    found
        .iter()
        .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
        .collect()
}

/// Executes a batch's writes in one statement: outbox deletes and updates, events, messages.
/// The statement of `write`, with the business webhook events in `$24..$29`.
static WRITE_SQL: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    format!(
        sql!(
            "WITH d AS (DELETE FROM outbox WHERE message_id = ANY($1)), "
            "s AS (UPDATE outbox o SET state = v.state, due_at = v.due_at, lease_owner = NULL, lease_until = 0 "
            "  FROM UNNEST($2::text[], $3::text[], $4::int8[]) AS v(id, state, due_at) WHERE o.message_id = v.id), "
            "e AS (INSERT INTO message_events (message_id, status, at, source, wamid, error_code, "
            "  error_title, error_details, detail, data, dedupe_key) "
            "  SELECT * FROM UNNEST($5::text[], $6::text[], $7::int8[], $8::text[], $9::text[], "
            "  $10::int8[], $11::text[], $12::text[], $13::text[], $14::text[], $15::text[]) "
            "  ON CONFLICT (message_id, dedupe_key) DO NOTHING), "
            "m AS (UPDATE messages m SET status = v.status, wamid = v.wamid, error_code = v.code, "
            "  error_title = v.title, error_details = v.details, attempts = v.attempts, updated_at = v.updated_at "
            "  FROM UNNEST($16::text[], $17::text[], $18::text[], $19::int8[], $20::text[], $21::text[], "
            "  $22::int8[], $23::int8[]) AS v(id, status, wamid, code, title, details, attempts, updated_at) "
            "  WHERE m.id = v.id), "
            "{} SELECT 1"
        ),
        emit_ctes(24)
    )
});

async fn write(c: &mut PgConnection, w: &Writes) -> Result<()> {
    if w.is_empty() {
        return Ok(());
    }
    let (set_ids, set_states, set_due): (Vec<&str>, Vec<&str>, Vec<i64>) = w
        .outbox_sets
        .iter()
        .map(|(id, state, due)| (id.as_str(), *state, *due))
        .collect();
    let mut ev = EventColumns::default();
    for (id, e) in &w.events {
        ev.push(id, e);
    }
    let mut msg = MessageColumns::default();
    for m in &w.messages {
        msg.push(m);
    }
    let hooks = WebhookColumns::new(&w.webhooks);
    sqlx::query(sqlx::AssertSqlSafe(WRITE_SQL.as_str()))
        .bind(&w.outbox_deletes)
        .bind(set_ids)
        .bind(set_states)
        .bind(set_due)
        .bind(ev.message_id)
        .bind(ev.status)
        .bind(ev.at)
        .bind(ev.source)
        .bind(ev.wamid)
        .bind(ev.error_code)
        .bind(ev.error_title)
        .bind(ev.error_details)
        .bind(ev.detail)
        .bind(ev.data)
        .bind(ev.dedupe_key)
        .bind(msg.id)
        .bind(msg.status)
        .bind(msg.wamid)
        .bind(msg.code)
        .bind(msg.title)
        .bind(msg.details)
        .bind(msg.attempts)
        .bind(msg.updated_at)
        .bind(hooks.id)
        .bind(hooks.ws)
        .bind(hooks.kind)
        .bind(hooks.data)
        .bind(hooks.at)
        .bind(hooks.subject)
        .execute(&mut *c)
        .await?;
    Ok(())
}

/// Events as column arrays, for `UNNEST`.
#[derive(Default)]
struct EventColumns<'a> {
    message_id: Vec<&'a str>,
    status: Vec<&'a str>,
    at: Vec<i64>,
    source: Vec<&'a str>,
    wamid: Vec<Option<&'a str>>,
    error_code: Vec<Option<i64>>,
    error_title: Vec<Option<&'a str>>,
    error_details: Vec<Option<&'a str>>,
    detail: Vec<Option<&'a str>>,
    data: Vec<Option<&'a str>>,
    dedupe_key: Vec<Option<&'a str>>,
}

impl<'a> EventColumns<'a> {
    fn push(&mut self, id: &'a str, e: &'a NewEvent) {
        let err = e.error.as_ref();
        self.message_id.push(id);
        self.status.push(&e.status);
        self.at.push(e.at);
        self.source.push(e.source);
        self.wamid.push(e.wamid.as_deref());
        self.error_code.push(err.map(|e| e.code));
        self.error_title.push(err.map(|e| e.title.as_str()));
        self.error_details
            .push(err.and_then(|e| e.details.as_deref()));
        self.detail.push(e.detail.as_deref());
        self.data.push(e.data.as_deref());
        self.dedupe_key.push(e.dedupe_key.as_deref());
    }
}

/// Message updates as column arrays, for `UNNEST`.
#[derive(Default)]
struct MessageColumns<'a> {
    id: Vec<&'a str>,
    status: Vec<&'static str>,
    wamid: Vec<Option<&'a str>>,
    code: Vec<Option<i64>>,
    title: Vec<Option<&'a str>>,
    details: Vec<Option<&'a str>>,
    attempts: Vec<i64>,
    updated_at: Vec<i64>,
}

impl<'a> MessageColumns<'a> {
    fn push(&mut self, m: &'a MessageUpdate) {
        let err = m.error.as_ref();
        self.id.push(&m.id);
        self.status.push(m.status.as_str());
        self.wamid.push(m.wamid.as_deref());
        self.code.push(err.map(|e| e.code));
        self.title.push(err.map(|e| e.title.as_str()));
        self.details.push(err.and_then(|e| e.details.as_deref()));
        self.attempts.push(m.attempts);
        self.updated_at.push(m.updated_at);
    }
}

async fn record(c: &mut PgConnection, owner: &str, outcomes: Vec<OutcomeRecord>) -> Result<()> {
    let ids: Vec<String> = outcomes.iter().map(|o| o.message_id.clone()).collect();
    let messages = lock_messages(c, &ids, &[]).await?;
    let outbox = lock_outbox(c, &ids).await?;
    let snap = with_listeners(c, Snapshot::new(messages, outbox, Vec::new())).await?;
    write(c, &batch::record_outcomes(snap, owner, outcomes)).await
}

/// The snapshot with its workspaces' business webhook listeners.
async fn with_listeners(c: &mut PgConnection, snap: Snapshot) -> Result<Snapshot> {
    let listeners = business_webhooks::listeners(c, snap.workspaces()).await?;
    Ok(snap.with_listeners(listeners))
}

async fn apply(
    c: &mut PgConnection,
    channels: &[(String, String)],
    updates: &[StatusUpdate],
    now: Millis,
) -> Result<ApplyReport> {
    let wamids: Vec<String> = updates.iter().map(|u| u.wamid.clone()).collect();
    let messages = lock_messages(c, &batch::callback_ids(updates), &wamids).await?;
    let ids: Vec<String> = messages.iter().map(|m| m.id.clone()).collect();
    let dedupe = dedupe_keys(c, &ids).await?;
    let snap = with_listeners(c, Snapshot::new(messages, Vec::new(), dedupe)).await?;
    let (writes, report) = batch::apply_statuses(snap, channels, updates, now);
    write(c, &writes).await?;
    Ok(report)
}

#[async_trait]
impl Store for PgStore {
    async fn migrate(&self) -> Result<()> {
        MIGRATOR.run(&self.pool).await?;
        Ok(())
    }

    async fn ping(&self) -> Result<()> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    async fn accept_message(&self, msg: NewMessage) -> Result<AcceptOutcome> {
        if msg.idempotency.is_none() && msg.client_message.is_none() && msg.failed.is_none() {
            // The common case: batched with concurrent ones into one statement and one commit.
            return Ok(AcceptOutcome::Created(self.committer.insert(msg).await?));
        }
        let mut tx = self.pool.begin().await?;
        let out = accept(&mut tx, &msg).await?;
        if matches!(out, AcceptOutcome::Created(_)) {
            tx.commit().await?;
        }
        Ok(out)
    }

    async fn get_message(&self, workspace_id: &str, id: &str) -> Result<Option<MessageDetail>> {
        let mut c = self.pool.acquire().await?;
        let Some(message) = load_message(&mut c, id, false)
            .await?
            .filter(|m| m.workspace_id == workspace_id)
        else {
            return Ok(None);
        };
        let events = sqlx::query(sql!(
            "SELECT status, at, source, wamid, error_code, error_title, error_details, detail, data "
            "FROM message_events WHERE message_id = $1 ORDER BY id"
        ))
        .bind(id)
        .fetch_all(&mut *c)
        .await?
        .iter()
        .map(|r| {
            let data: Option<String> = r.try_get(8)?;
            Ok(MessageEvent {
                status: r.try_get(0)?,
                at: r.try_get(1)?,
                source: r.try_get(2)?,
                wamid: r.try_get(3)?,
                error: meta_error(r.try_get(4)?, r.try_get(5)?, r.try_get(6)?),
                detail: r.try_get(7)?,
                data: data.and_then(|d| serde_json::from_str(&d).ok()),
            })
        })
        .collect::<Result<_>>()?;
        let mut detail = MessageDetail::new(message, events);
        detail.rendered = sqlx::query_scalar("SELECT rendered FROM messages WHERE id = $1")
            .bind(id)
            .fetch_one(&mut *c)
            .await?;
        Ok(Some(detail))
    }

    async fn list_messages(
        &self,
        workspace_id: &str,
        f: &MessageFilter,
    ) -> Result<Vec<MessageRecord>> {
        let (sql, values) = message_listing(MESSAGE_COLUMNS, workspace_id, f, |n| format!("${n}"));
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
        for value in values {
            query = match value {
                Bound::Text(text) => query.bind(text),
                Bound::Int(n) => query.bind(n),
            };
        }
        let found = query.fetch_all(&self.pool).await?;
        rows(found, message_from_row)
    }

    async fn lease_channels(&self, owner: &str, now: Millis, ttl_ms: i64) -> Result<Vec<Channel>> {
        let sql = format!(
            "UPDATE channels SET dispatch_owner = $1, dispatch_lease_until = $2 + $3 \
             WHERE enabled AND (dispatch_owner = $1 OR dispatch_owner IS NULL OR dispatch_lease_until < $2) \
                     AND workspace_id NOT IN (SELECT id FROM workspaces WHERE disabled_at IS NOT NULL) \
             RETURNING {CHANNEL_COLUMNS}"
        );
        let found = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(owner)
            .bind(now)
            .bind(ttl_ms)
            .fetch_all(&self.pool)
            .await?;
        rows(found, channel_from_row)
    }

    async fn release_channels(&self, owner: &str) -> Result<()> {
        sqlx::query("UPDATE channels SET dispatch_owner = NULL, dispatch_lease_until = 0 WHERE dispatch_owner = $1")
            .bind(owner)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn claim(&self, req: &ClaimRequest) -> Result<Vec<Claimed>> {
        // Leases rarely run out: checking first spares the usual claim a transaction's BEGIN
        // and COMMIT round trips (it claims in one statement). One that runs out just after the
        // check is handled by the next claim.
        if !has_expired_leases(&self.pool, req).await? {
            return claim_ready(&self.pool, req).await;
        }
        let mut tx = self.pool.begin().await?;
        let out = claim(&mut tx, req).await?;
        tx.commit().await?;
        Ok(out)
    }

    async fn record_outcomes(&self, owner: &str, outcomes: Vec<OutcomeRecord>) -> Result<()> {
        let mut attempt = 0;
        loop {
            let mut tx = self.pool.begin().await?;
            match record(&mut tx, owner, outcomes.clone()).await {
                Ok(()) => return Ok(tx.commit().await?),
                Err(e) if is_deadlock(&e) && attempt < DEADLOCK_RETRIES => attempt += 1,
                Err(e) => return Err(e),
            }
        }
    }

    async fn release_claims(&self, owner: &str, message_ids: &[String], now: Millis) -> Result<()> {
        sqlx::query(sql!(
            "UPDATE outbox SET state = 'ready', due_at = $3, lease_owner = NULL, lease_until = 0 "
            "WHERE message_id = ANY($1) AND state = 'leased' AND lease_owner = $2"
        ))
        .bind(message_ids)
        .bind(owner)
        .bind(now)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn expired_unknowns(
        &self,
        channel_id: &str,
        now: Millis,
        limit: i64,
    ) -> Result<Vec<String>> {
        Ok(sqlx::query_scalar(sql!(
            "SELECT message_id FROM outbox WHERE channel_id = $1 AND state = 'unknown' "
            "AND due_at <= $2 ORDER BY seq LIMIT $3"
        ))
        .bind(channel_id)
        .bind(now)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?)
    }

    async fn apply_statuses(
        &self,
        channels: &[(String, String)],
        updates: Vec<StatusUpdate>,
        now: Millis,
    ) -> Result<ApplyReport> {
        let updates = updates.as_slice();
        let mut attempt = 0;
        loop {
            let mut tx = self.pool.begin().await?;
            match apply(&mut tx, channels, updates, now).await {
                Ok(report) => {
                    tx.commit().await?;
                    return Ok(report);
                }
                Err(e) if is_deadlock(&e) && attempt < DEADLOCK_RETRIES => attempt += 1,
                Err(e) => return Err(e),
            }
        }
    }
}
