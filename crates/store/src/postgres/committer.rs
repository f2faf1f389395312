//! Group commit for plain message acceptance: concurrent `accept_message` calls that need nothing
//! but the queued rows (no idempotency key, no client message, no failure on arrival) share one
//! set-based statement, and so one transaction and one WAL flush.
//!
//! A message on its own costs PostgreSQL a round trip, an executor start-up and a commit flush;
//! under load those, not the rows, were the bulk of the server's work. Each caller is answered
//! only after the statement that holds its message has committed (`synchronous_commit = on`).

use chasqui_domain::MessageId;
use std::collections::HashMap;
use std::sync::Arc;

use sqlx::{PgPool, Row};
use tokio::sync::{mpsc, oneshot, Mutex};

use super::insert_message;
use super::webhook_columns::{emit_ctes, WebhookColumns};
use crate::business_webhooks::WebhookEvent;
use crate::{MessageRecord, NewMessage, Result, StoreError};

/// Most messages one statement takes, so a burst still commits in bounded time.
const MAX_BATCH: usize = 256;

/// Statements in flight at once: while some commit, the next batch gathers.
const WORKERS: usize = 2;

/// One waiting `accept_message` call.
struct Job {
    msg: NewMessage,
    done: oneshot::Sender<Result<MessageRecord>>,
}

type Queue = Arc<Mutex<mpsc::UnboundedReceiver<Job>>>;

/// The handle `PgStore` inserts plain messages through.
pub(super) struct Committer {
    jobs: mpsc::UnboundedSender<Job>,
}

impl Committer {
    /// Starts the workers on the current Tokio runtime; they stop when the handle is dropped.
    pub(super) fn start(pool: PgPool) -> Self {
        let (jobs, rx) = mpsc::unbounded_channel();
        let queue: Queue = Arc::new(Mutex::new(rx));
        for _ in 0..WORKERS {
            tokio::spawn(worker(pool.clone(), queue.clone()));
        }
        Self { jobs }
    }

    /// Inserts `msg` with its outbox row and `message.queued` event; returns the queued message
    /// once committed.
    pub(super) async fn insert(&self, msg: NewMessage) -> Result<MessageRecord> {
        let (done, answer) = oneshot::channel();
        self.jobs
            .send(Job { msg, done })
            .map_err(|_| StoreError::Closed)?;
        answer.await.map_err(|_| StoreError::Closed)?
    }
}

async fn worker(pool: PgPool, queue: Queue) {
    while let Some(batch) = next_batch(&queue).await {
        commit(&pool, batch).await;
    }
}

/// Waits for one job, then takes whatever else is already queued, up to `MAX_BATCH`.
async fn next_batch(queue: &Queue) -> Option<Vec<Job>> {
    let mut rx = queue.lock().await;
    let first = rx.recv().await?;
    let mut batch = vec![first];
    while batch.len() < MAX_BATCH {
        match rx.try_recv() {
            Ok(job) => batch.push(job),
            Err(_) => break,
        }
    }
    Some(batch)
}

/// Writes a batch in one statement and answers each caller. When PostgreSQL refuses the
/// statement, each message is tried on its own, so one bad message fails alone, as it would
/// without batching.
async fn commit(pool: &PgPool, batch: Vec<Job>) {
    if batch.len() > 1 {
        let msgs: Vec<&NewMessage> = batch.iter().map(|j| &j.msg).collect();
        match insert_batch(pool, &msgs).await {
            Ok(mut seqs) => {
                for job in batch {
                    let answer = match seqs.remove(&job.msg.id) {
                        Some(seq) => Ok(MessageRecord::queued(job.msg, seq)),
                        None => Err(StoreError::Corrupt(format!("no seq for {}", job.msg.id))),
                    };
                    let _ = job.done.send(answer);
                }
                return;
            }
            // Without a connection, trying each message again would only make each caller wait
            // out the pool's timeout once more.
            Err(e) if !is_statement_error(&e) => {
                let why = e.to_string();
                for job in batch {
                    let _ = job.done.send(Err(StoreError::Commit(why.clone())));
                }
                return;
            }
            Err(e) => {
                tracing::warn!(error = %e, size = batch.len(), "batched accept failed; retrying one by one")
            }
        }
    }
    for job in batch {
        let answer = insert_message(pool, &job.msg).await;
        let _ = job
            .done
            .send(answer.map(|seq| MessageRecord::queued(job.msg, seq)));
    }
}

/// Whether PostgreSQL refused the statement itself (a constraint, say), which may be one
/// message's fault, rather than the connection failing.
fn is_statement_error(e: &StoreError) -> bool {
    matches!(e, StoreError::Postgres(sqlx::Error::Database(_)))
}

/// The statement of `insert_batch`: messages as column arrays in `$1..$8` (kept in array order,
/// so `seq` follows arrival), their `message.queued` events in `$9..$14`.
static INSERT_BATCH_SQL: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    format!(
        "WITH v AS (SELECT * FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[], \
           $5::text[], $6::text[], $7::int8[], $8::text[]) WITH ORDINALITY \
           AS v(id, ws, channel, recipient, kind, body, at, rendered, n)), \
         m AS (INSERT INTO messages (id, workspace_id, channel_id, recipient, kind, body, \
           status, created_at, updated_at, rendered, state, due_at) \
           SELECT id, ws, channel, recipient, kind, body, 'queued', at, at, rendered, 'ready', at \
           FROM v ORDER BY n RETURNING id, seq), {} \
         SELECT id, seq FROM m",
        emit_ctes(9)
    )
});

/// Inserts messages (with their pending work) and `message.queued` events in one statement (its own
/// transaction); returns each message's `seq` by id.
async fn insert_batch(pool: &PgPool, msgs: &[&NewMessage]) -> Result<HashMap<MessageId, i64>> {
    let events: Vec<WebhookEvent> = msgs
        .iter()
        .flat_map(|m| WebhookEvent::message(&MessageRecord::queued((*m).clone(), 0), m.created_at))
        .collect();
    let ev = WebhookColumns::new(&events);
    let rows = sqlx::query(sqlx::AssertSqlSafe(INSERT_BATCH_SQL.as_str()))
        .bind(msgs.iter().map(|m| m.id.as_str()).collect::<Vec<_>>())
        .bind(
            msgs.iter()
                .map(|m| m.workspace_id.as_str())
                .collect::<Vec<_>>(),
        )
        .bind(
            msgs.iter()
                .map(|m| m.channel_id.as_str())
                .collect::<Vec<_>>(),
        )
        .bind(
            msgs.iter()
                .map(|m| m.recipient.as_str())
                .collect::<Vec<_>>(),
        )
        .bind(msgs.iter().map(|m| m.kind.as_str()).collect::<Vec<_>>())
        .bind(msgs.iter().map(|m| m.body.as_str()).collect::<Vec<_>>())
        .bind(msgs.iter().map(|m| m.created_at).collect::<Vec<_>>())
        .bind(
            msgs.iter()
                .map(|m| m.rendered.as_deref())
                .collect::<Vec<_>>(),
        )
        .bind(ev.id)
        .bind(ev.ws)
        .bind(ev.kind)
        .bind(ev.data)
        .bind(ev.at)
        .bind(ev.subject)
        .fetch_all(pool)
        .await?;
    rows.iter()
        .map(|r| {
            Ok((
                MessageId::from_trusted(r.try_get::<String, _>(0)?),
                r.try_get(1)?,
            ))
        })
        .collect()
}
