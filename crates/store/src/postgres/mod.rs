//! The scale-out back end: PostgreSQL shared by several Chasqui instances. Work is claimed with
//! `FOR UPDATE SKIP LOCKED` and leases, so any instance may die and another finishes its work.

use chasqui_domain::{ChannelId, MessageId, WorkspaceId};
mod committer;
mod webhook_columns;

use async_trait::async_trait;
use chasqui_domain::webhook::StatusUpdate;
use chasqui_domain::MessageStatus;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions, PgRow};
use sqlx::{PgConnection, PgPool, Row};

use crate::batch::{self, RowWrite, Snapshot, Writes};
use crate::business_webhooks;
use crate::business_webhooks::WebhookEvent;
use crate::messages::{
    dedupe_keys, line, parse_status, pricing, pricing_columns, MESSAGE_COLUMNS,
    MESSAGE_COLUMN_COUNT,
};
use crate::plan::{meta_error, NewEvent, OutboxChange, OutboxRow};
use crate::sql::PgDb;
use crate::{
    AcceptOutcome, ApplyReport, ClaimRequest, Claimed, MessageRecord, Millis, NewMessage,
    OutcomeRecord, Result, Store, StoreError,
};
use webhook_columns::{emit_ctes, WebhookColumns};

/// PostgreSQL back end.
pub struct PgStore {
    pub(crate) pool: PgPool,
    /// Sessions that keep prepared statements' generic plans, for the per-request lookups whose
    /// only sensible plan is a unique-index probe whatever the tables' sizes: planning those
    /// afresh on every request cost PostgreSQL more than running them.
    pub(crate) probes: PgPool,
    committer: committer::Committer,
}

/// How often a transaction PostgreSQL chose as a deadlock victim is tried again.
pub(crate) const DEADLOCK_RETRIES: u32 = 5;

/// Whether PostgreSQL aborted the transaction to break a deadlock (SQLSTATE 40P01) or a
/// serialization conflict (40001): both are safe to run again from the start.
pub(crate) fn is_deadlock(e: &StoreError) -> bool {
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

fn message_from_row(r: &PgRow) -> Result<MessageRecord> {
    let status: String = r.try_get(7)?;
    Ok(MessageRecord {
        id: MessageId::from_trusted(r.try_get::<String, _>(0)?),
        seq: r.try_get(1)?,
        workspace_id: WorkspaceId::from_trusted(r.try_get::<String, _>(2)?),
        channel_id: ChannelId::from_trusted(r.try_get::<String, _>(3)?),
        recipient: r.try_get(4)?,
        kind: r.try_get(5)?,
        body: r.try_get(6)?,
        status: parse_status(&status)?,
        wamid: r.try_get(8)?,
        error: meta_error(r.try_get(9)?, r.try_get(10)?, r.try_get(11)?),
        attempts: r.try_get(12)?,
        created_at: r.try_get(13)?,
        updated_at: r.try_get(14)?,
        pricing: pricing(
            r.try_get(15)?,
            r.try_get(16)?,
            r.try_get(17)?,
            r.try_get(18)?,
        )?,
    })
}

async fn load_message(c: &mut PgConnection, id: &str) -> Result<Option<MessageRecord>> {
    let sql = format!("SELECT {MESSAGE_COLUMNS} FROM messages WHERE id = $1");
    let row = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(id)
        .fetch_optional(&mut *c)
        .await?;
    row.as_ref().map(message_from_row).transpose()
}

async fn accept(c: &mut PgConnection, m: &NewMessage) -> Result<AcceptOutcome> {
    if let Some(idem) = &m.idempotency {
        let claimed = sqlx::query(sql!(
            "INSERT INTO idempotency_keys (api_key_id, key, request_hash, message_id, created_at) "
            "VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING"
        ))
        .bind(idem.api_key_id.as_str())
        .bind(&idem.key)
        .bind(&idem.request_hash)
        .bind(m.id.as_str())
        .bind(m.created_at)
        .execute(&mut *c)
        .await?;
        if claimed.rows_affected() == 0 {
            let row = sqlx::query("SELECT request_hash, message_id FROM idempotency_keys WHERE api_key_id = $1 AND key = $2")
                .bind(idem.api_key_id.as_str())
                .bind(&idem.key)
                .fetch_one(&mut *c)
                .await?;
            let hash: String = row.try_get(0)?;
            let message_id = MessageId::from_trusted(row.try_get::<String, _>(1)?);
            if hash != idem.request_hash {
                return Ok(AcceptOutcome::Conflict { message_id });
            }
            let first = load_message(c, &message_id).await?.ok_or_else(|| {
                StoreError::Corrupt(format!("idempotency key names missing {message_id}"))
            })?;
            return Ok(AcceptOutcome::Replayed(first));
        }
    }
    let seq = insert_message(&mut *c, m).await?;
    let record = MessageRecord::accepted(m.clone(), seq);
    if m.failed.is_some() {
        let mut db = PgDb::new(c);
        if let Some(ev) = WebhookEvent::message(&record, m.created_at) {
            business_webhooks::emit(&mut db, &ev).await?;
        }
    }
    Ok(AcceptOutcome::Created(record))
}

/// The statement of `insert_message`, with its `message.queued` event in `$16..$21`. A message
/// failed on arrival is stored failed with its timeline entry and no pending work, so no worker
/// can ever claim it.
static INSERT_MESSAGE_SQL: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    format!(
        "WITH m AS (INSERT INTO messages (id, workspace_id, channel_id, recipient, kind, body, \
           status, created_at, updated_at, rendered, client_message, state, due_at, error_code, \
           error_title, error_details, timeline) \
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8, $9, $10, $11, $8, $12, $13, $14, \
           COALESCE($15, '')) RETURNING seq), {} \
         SELECT seq FROM m",
        emit_ctes(16)
    )
});

/// Inserts a message (with its pending work) and, when an endpoint wants it, its
/// `message.queued` business webhook in one statement (atomic on its own, or inside the caller's
/// transaction); returns its `seq`.
async fn insert_message<'e>(c: impl sqlx::PgExecutor<'e>, m: &NewMessage) -> Result<i64> {
    let events: Vec<WebhookEvent> =
        WebhookEvent::message(&MessageRecord::queued(m.clone(), 0), m.created_at)
            .into_iter()
            .collect();
    let ev = WebhookColumns::new(&events);
    let failure = m.failure_event();
    let error = failure.as_ref().and_then(|f| f.error.as_ref());
    let status = if failure.is_some() {
        MessageStatus::Failed
    } else {
        MessageStatus::Queued
    };
    Ok(
        sqlx::query_scalar(sqlx::AssertSqlSafe(INSERT_MESSAGE_SQL.as_str()))
            .bind(m.id.as_str())
            .bind(m.workspace_id.as_str())
            .bind(m.channel_id.as_str())
            .bind(&m.recipient)
            .bind(&m.kind)
            .bind(&m.body)
            .bind(status.as_str())
            .bind(m.created_at)
            .bind(&m.rendered)
            .bind(&m.client_message)
            .bind(failure.is_none().then_some("ready"))
            .bind(error.map(|e| e.code))
            .bind(error.map(|e| e.title.as_str()))
            .bind(error.and_then(|e| e.details.as_deref()))
            .bind(failure.as_ref().map(line))
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
        "SELECT EXISTS (SELECT 1 FROM messages WHERE channel_id = $1 AND state = 'leased' "
        "AND lease_until < $2)"
    ))
    .bind(req.channel_id.as_str())
    .bind(req.now)
    .fetch_one(pool)
    .await?)
}

/// Turns the channel's run-out leases into unknown outcomes, then claims as `claim_ready`.
async fn claim(c: &mut PgConnection, req: &ClaimRequest) -> Result<Vec<Claimed>> {
    let mut ev = NewEvent::new("unknown", req.now, "dispatcher");
    ev.detail = Some("the worker sending it stopped; waiting for a status webhook".into());
    sqlx::query(sql!(
        "UPDATE messages SET state = 'unknown', due_at = $3, lease_owner = NULL, lease_until = 0, "
        "timeline = timeline || $4 WHERE id IN (SELECT id FROM messages WHERE channel_id = $1 "
        "AND state = 'leased' AND lease_until < $2 FOR UPDATE SKIP LOCKED)"
    ))
    .bind(req.channel_id.as_str())
    .bind(req.now)
    .bind(req.now + req.reconcile_ms)
    .bind(line(&ev))
    .execute(&mut *c)
    .await?;
    claim_ready(c, req).await
}

/// Leases the channel's due heads of line (the oldest message with work left of each
/// recipient) in one statement, atomic on its own or inside the caller's transaction.
async fn claim_ready<'e>(c: impl sqlx::PgExecutor<'e>, req: &ClaimRequest) -> Result<Vec<Claimed>> {
    let heads = sqlx::query(sql!(
        "WITH h AS (UPDATE messages SET state = 'leased', lease_owner = $4, lease_until = $5 "
        "  WHERE seq IN (SELECT o.seq FROM messages o "
        "    WHERE o.channel_id = $1 AND o.state = 'ready' AND o.due_at <= $2 "
        "    AND NOT EXISTS (SELECT 1 FROM messages p WHERE p.channel_id = o.channel_id "
        "                    AND p.recipient = o.recipient AND p.state IS NOT NULL "
        "                    AND p.seq < o.seq) "
        "    ORDER BY o.seq LIMIT $3 FOR UPDATE SKIP LOCKED) "
        "  RETURNING id, recipient, body, attempts, created_at, seq) "
        "SELECT id, recipient, body, attempts, created_at FROM h ORDER BY seq"
    ))
    .bind(req.channel_id.as_str())
    .bind(req.now)
    .bind(req.limit)
    .bind(&req.owner)
    .bind(req.now + req.lease_ms)
    .fetch_all(c)
    .await?;
    heads
        .iter()
        .map(|r| {
            Ok(Claimed {
                message_id: MessageId::from_trusted(r.try_get::<String, _>(0)?),
                recipient: r.try_get(1)?,
                body: r.try_get(2)?,
                attempts: r.try_get(3)?,
                created_at: r.try_get(4)?,
            })
        })
        .collect()
}

/// Loads and locks, in id order (the one lock order of every writer), the messages a batch names
/// by id or by wamid, with their pending work and their timelines' dedupe keys.
async fn lock_snapshot(
    c: &mut PgConnection,
    ids: &[String],
    wamids: &[String],
) -> Result<Snapshot> {
    let sql = format!(
        "SELECT {MESSAGE_COLUMNS}, state, lease_owner, timeline FROM messages \
         WHERE id = ANY($1) OR wamid = ANY($2) ORDER BY id FOR UPDATE"
    );
    let found = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(ids)
        .bind(wamids)
        .fetch_all(&mut *c)
        .await?;
    let (mut messages, mut work, mut dedupe) = (Vec::new(), Vec::new(), Vec::new());
    for r in &found {
        let m = message_from_row(r)?;
        let n = MESSAGE_COLUMN_COUNT;
        if let Some(state) = r.try_get::<Option<String>, _>(n)? {
            let row = OutboxRow {
                state,
                lease_owner: r.try_get(n + 1)?,
            };
            work.push((m.id.clone(), row));
        }
        for key in dedupe_keys(r.try_get::<&str, _>(n + 2)?)? {
            dedupe.push((m.id.clone(), key));
        }
        messages.push(m);
    }
    let snap = Snapshot::new(messages, work, dedupe);
    let listeners = business_webhooks::listeners(&mut PgDb::new(c), snap.workspaces()).await?;
    Ok(snap.with_listeners(listeners))
}

/// The statement of `write`: every message row's update from column arrays `$1..$17`, the
/// business webhook events in `$18..$23`.
static WRITE_SQL: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    format!(
        sql!(
            "WITH m AS (UPDATE messages m SET status = v.status, "
            "  wamid = CASE WHEN v.wamid_changed THEN v.wamid ELSE m.wamid END, "
            "  error_code = v.code, error_title = v.title, error_details = v.details, "
            "  attempts = v.attempts, updated_at = v.updated_at, timeline = m.timeline || v.append, "
            "  state = CASE WHEN v.set_work THEN v.state ELSE m.state END, "
            "  due_at = CASE WHEN v.set_work THEN v.due_at ELSE m.due_at END, "
            "  lease_owner = CASE WHEN v.set_work THEN NULL ELSE m.lease_owner END, "
            "  lease_until = CASE WHEN v.set_work THEN 0 ELSE m.lease_until END, "
            "  pricing_model = v.pricing_model, pricing_category = v.pricing_category, "
            "  pricing_type = v.pricing_type, billable = v.billable "
            "  FROM UNNEST($1::text[], $2::text[], $3::text[], $4::bool[], $5::int8[], "
            "  $6::text[], $7::text[], $8::int8[], $9::int8[], $10::text[], $11::bool[], "
            "  $12::text[], $13::int8[], $14::text[], $15::text[], $16::text[], $17::bool[]) "
            "  AS v(id, status, wamid, wamid_changed, code, title, details, attempts, "
            "  updated_at, append, set_work, state, due_at, pricing_model, pricing_category, "
            "  pricing_type, billable) "
            "  WHERE m.id = v.id), "
            "{} SELECT 1"
        ),
        emit_ctes(18)
    )
});

/// Executes a batch's writes in one statement: one row update per message, then its business
/// webhook events.
async fn write(c: &mut PgConnection, w: &Writes) -> Result<()> {
    write_rows(c, w).await?;
    // Only a batch with a 131050 failure or a BSUID to link writes more, in the same
    // transaction.
    if !w.marketing_stops.is_empty() {
        crate::conversations::consent::apply_meta_stops(&mut PgDb::new(c), &w.marketing_stops)
            .await?;
    }
    if !w.user_id_links.is_empty() {
        crate::conversations::identity::link_user_ids(&mut PgDb::new(c), &w.user_id_links).await?;
    }
    Ok(())
}

/// The message rows and business webhook events of a batch, in one statement.
async fn write_rows(c: &mut PgConnection, w: &Writes) -> Result<()> {
    let rows = w.rows();
    if rows.is_empty() && w.webhooks.is_empty() {
        return Ok(());
    }
    let mut col = RowColumns::default();
    for row in &rows {
        col.push(row);
    }
    let hooks = WebhookColumns::new(&w.webhooks);
    sqlx::query(sqlx::AssertSqlSafe(WRITE_SQL.as_str()))
        .bind(col.id)
        .bind(col.status)
        .bind(col.wamid)
        .bind(col.wamid_changed)
        .bind(col.code)
        .bind(col.title)
        .bind(col.details)
        .bind(col.attempts)
        .bind(col.updated_at)
        .bind(col.append)
        .bind(col.set_work)
        .bind(col.state)
        .bind(col.due_at)
        .bind(col.pricing_model)
        .bind(col.pricing_category)
        .bind(col.pricing_type)
        .bind(col.billable)
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

/// Row writes as column arrays, for `UNNEST`.
#[derive(Default)]
struct RowColumns<'a> {
    id: Vec<&'a str>,
    status: Vec<&'static str>,
    wamid: Vec<Option<&'a str>>,
    wamid_changed: Vec<bool>,
    code: Vec<Option<i64>>,
    title: Vec<Option<&'a str>>,
    details: Vec<Option<&'a str>>,
    attempts: Vec<i64>,
    updated_at: Vec<i64>,
    append: Vec<&'a str>,
    set_work: Vec<bool>,
    state: Vec<Option<&'static str>>,
    due_at: Vec<i64>,
    pricing_model: Vec<Option<&'a str>>,
    pricing_category: Vec<Option<&'a str>>,
    pricing_type: Vec<Option<&'a str>>,
    billable: Vec<Option<bool>>,
}

impl<'a> RowColumns<'a> {
    fn push(&mut self, row: &'a RowWrite<'a>) {
        let m = row.message;
        let err = m.error.as_ref();
        self.id.push(&m.id);
        self.status.push(m.status.as_str());
        self.wamid.push(m.wamid.as_deref());
        self.wamid_changed.push(m.wamid_changed);
        self.code.push(err.map(|e| e.code));
        self.title.push(err.map(|e| e.title.as_str()));
        self.details.push(err.and_then(|e| e.details.as_deref()));
        self.attempts.push(m.attempts);
        self.updated_at.push(m.updated_at);
        self.append.push(&row.append);
        let (set, state, due) = match row.work {
            OutboxChange::Keep => (false, None, 0),
            OutboxChange::Delete => (true, None, 0),
            OutboxChange::Set { state, due_at } => (true, Some(state), due_at),
        };
        self.set_work.push(set);
        self.state.push(state);
        self.due_at.push(due);
        let (model, category, kind, billable) = pricing_columns(m.pricing.as_ref());
        self.pricing_model.push(model);
        self.pricing_category.push(category);
        self.pricing_type.push(kind);
        self.billable.push(billable);
    }
}

async fn record(c: &mut PgConnection, owner: &str, outcomes: Vec<OutcomeRecord>) -> Result<()> {
    let ids: Vec<String> = outcomes.iter().map(|o| o.message_id.to_string()).collect();
    let snap = lock_snapshot(c, &ids, &[]).await?;
    write(c, &batch::record_outcomes(snap, owner, outcomes)).await
}

async fn apply(
    c: &mut PgConnection,
    channels: &[(String, ChannelId)],
    updates: &[StatusUpdate],
    now: Millis,
) -> Result<ApplyReport> {
    let wamids: Vec<String> = updates.iter().map(|u| u.wamid.clone()).collect();
    let snap = lock_snapshot(c, &batch::callback_ids(updates), &wamids).await?;
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

    async fn accept_messages(&self, msgs: Vec<NewMessage>) -> Result<Vec<AcceptOutcome>> {
        let mut tx = self.pool.begin().await?;
        let mut created = Vec::with_capacity(msgs.len());
        let mut used = Vec::new();
        for m in &msgs {
            match accept(&mut tx, m).await? {
                out @ AcceptOutcome::Created(_) => created.push(out),
                out => used.push(out),
            }
        }
        if !used.is_empty() {
            // Dropping the transaction rolls back the messages written before the used key.
            return Ok(used);
        }
        tx.commit().await?;
        Ok(created)
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

    async fn apply_statuses(
        &self,
        channels: &[(String, ChannelId)],
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
