//! Business webhooks on PostgreSQL. Deliveries are claimed with `FOR UPDATE SKIP LOCKED` and a
//! lease, so several instances share the queue and a dead one's claims expire.

use async_trait::async_trait;
use sqlx::postgres::PgRow;
use sqlx::{PgConnection, Row};

use super::PgStore;
use crate::business_webhooks::*;
use crate::{Millis, Result};

const ENDPOINT_COLUMNS: &str =
    "id, workspace_id, url, events, secret, secret_hint, enabled, created_at, updated_at";

fn endpoint_from_row(r: &PgRow) -> Result<WebhookEndpoint> {
    Ok(WebhookEndpoint {
        id: r.try_get(0)?,
        workspace_id: r.try_get(1)?,
        url: r.try_get(2)?,
        events: r.try_get(3)?,
        secret: r.try_get(4)?,
        secret_hint: r.try_get(5)?,
        enabled: r.try_get(6)?,
        created_at: r.try_get(7)?,
        updated_at: r.try_get(8)?,
    })
}

/// CTEs (to put after `WITH ... ,` in a batch's statement) that write events given as arrays in
/// placeholders `$n`..`$n+5` (id, workspace_id, type, data, at, subject) with one delivery per
/// matching endpoint; an event no endpoint wants is not written at all.
pub(super) fn emit_ctes(n: usize) -> String {
    format!(
        "wv AS (SELECT * FROM UNNEST(${a}::text[], ${b}::text[], ${c}::text[], ${d}::text[], ${e}::int8[], \
           ${f}::text[]) AS v(id, ws, type, data, at, subject)), \
         wd AS (INSERT INTO webhook_deliveries (endpoint_id, event_id, state, attempts, next_attempt_at, created_at) \
           SELECT p.id, v.id, 'pending', 0, v.at, v.at FROM wv v JOIN webhook_endpoints p \
           ON p.workspace_id = v.ws AND {m} RETURNING event_id), \
         we AS (INSERT INTO webhook_events (id, workspace_id, type, data, created_at, subject) \
           SELECT v.id, v.ws, v.type, v.data, v.at, v.subject FROM wv v \
           WHERE v.id IN (SELECT event_id FROM wd))",
        a = n,
        b = n + 1,
        c = n + 2,
        d = n + 3,
        e = n + 4,
        f = n + 5,
        m = matches_sql("v.type"),
    )
}

/// Events as column arrays, for `emit_ctes`.
#[derive(Default)]
pub(super) struct WebhookColumns<'a> {
    pub id: Vec<&'a str>,
    pub ws: Vec<&'a str>,
    pub kind: Vec<&'static str>,
    pub data: Vec<&'a str>,
    pub at: Vec<i64>,
    pub subject: Vec<Option<&'a str>>,
}

impl<'a> WebhookColumns<'a> {
    pub(super) fn new(events: &'a [WebhookEvent]) -> Self {
        let mut c = Self::default();
        for e in events {
            c.id.push(&e.id);
            c.ws.push(&e.workspace_id);
            c.kind.push(e.kind);
            c.data.push(&e.data);
            c.at.push(e.at);
            c.subject.push(e.subject.as_deref());
        }
        c
    }
}

/// Which of `workspaces` have an enabled endpoint: events of the others need not be built.
pub(super) async fn listeners(
    c: &mut PgConnection,
    workspaces: Vec<String>,
) -> Result<Vec<String>> {
    if workspaces.is_empty() {
        return Ok(workspaces);
    }
    Ok(sqlx::query_scalar(
        "SELECT DISTINCT workspace_id FROM webhook_endpoints \
         WHERE enabled AND workspace_id = ANY($1)",
    )
    .bind(workspaces)
    .fetch_all(&mut *c)
    .await?)
}

/// Writes events (with their deliveries) in the caller's transaction.
pub(super) async fn emit(c: &mut PgConnection, events: &[WebhookEvent]) -> Result<()> {
    if events.is_empty() {
        return Ok(());
    }
    let cols = WebhookColumns::new(events);
    let sql = format!("WITH {} SELECT 1", emit_ctes(1));
    sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(cols.id)
        .bind(cols.ws)
        .bind(cols.kind)
        .bind(cols.data)
        .bind(cols.at)
        .bind(cols.subject)
        .execute(&mut *c)
        .await?;
    Ok(())
}

#[async_trait]
impl BusinessWebhookStore for PgStore {
    async fn create_webhook_endpoint(&self, e: &WebhookEndpoint) -> Result<()> {
        sqlx::query(
            "INSERT INTO webhook_endpoints (id, workspace_id, url, events, secret, secret_hint, \
             enabled, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(&e.id)
        .bind(&e.workspace_id)
        .bind(&e.url)
        .bind(&e.events)
        .bind(&e.secret)
        .bind(&e.secret_hint)
        .bind(e.enabled)
        .bind(e.created_at)
        .bind(e.updated_at)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn list_webhook_endpoints(&self, workspace_id: &str) -> Result<Vec<WebhookEndpoint>> {
        let sql = format!(
            "SELECT {ENDPOINT_COLUMNS} FROM webhook_endpoints WHERE workspace_id = $1 ORDER BY id"
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(workspace_id)
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(endpoint_from_row).collect()
    }

    async fn get_webhook_endpoint(
        &self,
        workspace_id: &str,
        id: &str,
    ) -> Result<Option<WebhookEndpoint>> {
        let sql = format!(
            "SELECT {ENDPOINT_COLUMNS} FROM webhook_endpoints WHERE workspace_id = $1 AND id = $2"
        );
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(workspace_id)
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(endpoint_from_row).transpose()
    }

    async fn update_webhook_endpoint(
        &self,
        workspace_id: &str,
        id: &str,
        p: &WebhookEndpointPatch,
        now: Millis,
    ) -> Result<Option<WebhookEndpoint>> {
        let sql = format!(
            "UPDATE webhook_endpoints SET url = COALESCE($3, url), events = COALESCE($4, events), \
             enabled = COALESCE($5, enabled), updated_at = $6 WHERE workspace_id = $1 AND id = $2 \
             RETURNING {ENDPOINT_COLUMNS}"
        );
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(workspace_id)
            .bind(id)
            .bind(&p.url)
            .bind(&p.events)
            .bind(p.enabled)
            .bind(now)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(endpoint_from_row).transpose()
    }

    async fn delete_webhook_endpoint(&self, workspace_id: &str, id: &str) -> Result<bool> {
        let mut tx = self.pool.begin().await?;
        let n = sqlx::query("DELETE FROM webhook_endpoints WHERE workspace_id = $1 AND id = $2")
            .bind(workspace_id)
            .bind(id)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        if n > 0 {
            sqlx::query("DELETE FROM webhook_deliveries WHERE endpoint_id = $1")
                .bind(id)
                .execute(&mut *tx)
                .await?;
            sqlx::query("DELETE FROM webhook_attempts WHERE endpoint_id = $1")
                .bind(id)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(n > 0)
    }

    async fn claim_webhook_deliveries(
        &self,
        owner: &str,
        now: Millis,
        lease_ms: i64,
        limit: i64,
        skip: &[String],
    ) -> Result<Vec<DueDelivery>> {
        let sql = format!(
            "WITH c AS (SELECT d.endpoint_id, d.event_id FROM webhook_deliveries d \
               JOIN webhook_endpoints p ON p.id = d.endpoint_id \
               JOIN webhook_events e ON e.id = d.event_id \
               WHERE d.state = 'pending' AND d.next_attempt_at <= $1 AND d.lease_until < $1 \
               AND p.enabled AND NOT (d.endpoint_id = ANY($2)) AND {IN_ORDER_SQL} \
               ORDER BY d.next_attempt_at, d.event_id LIMIT $3 FOR UPDATE OF d SKIP LOCKED), \
             u AS (UPDATE webhook_deliveries d SET lease_owner = $4, lease_until = $5 FROM c \
               WHERE d.endpoint_id = c.endpoint_id AND d.event_id = c.event_id \
               RETURNING d.endpoint_id, d.event_id, d.attempts, d.created_at, d.next_attempt_at) \
             SELECT u.endpoint_id, u.event_id, p.url, p.secret, e.type, e.data, e.created_at, \
               u.attempts, u.created_at FROM u JOIN webhook_endpoints p ON p.id = u.endpoint_id \
               JOIN webhook_events e ON e.id = u.event_id ORDER BY u.next_attempt_at, u.event_id"
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(now)
            .bind(skip)
            .bind(limit)
            .bind(owner)
            .bind(now + lease_ms)
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|r| {
                Ok(DueDelivery {
                    endpoint_id: r.try_get(0)?,
                    event_id: r.try_get(1)?,
                    url: r.try_get(2)?,
                    secret: r.try_get(3)?,
                    event_type: r.try_get(4)?,
                    data: r.try_get(5)?,
                    event_created_at: r.try_get(6)?,
                    attempts: r.try_get(7)?,
                    queued_at: r.try_get(8)?,
                })
            })
            .collect()
    }

    async fn release_webhook_deliveries(
        &self,
        owner: &str,
        keys: &[(String, String)],
    ) -> Result<()> {
        let (endpoints, events): (Vec<&str>, Vec<&str>) =
            keys.iter().map(|(a, b)| (a.as_str(), b.as_str())).unzip();
        sqlx::query(
            "UPDATE webhook_deliveries d SET lease_owner = NULL, lease_until = 0 \
             FROM UNNEST($1::text[], $2::text[]) AS v(endpoint_id, event_id) \
             WHERE d.endpoint_id = v.endpoint_id AND d.event_id = v.event_id AND d.lease_owner = $3",
        )
        .bind(endpoints)
        .bind(events)
        .bind(owner)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn record_webhook_attempt(&self, a: &AttemptRecord) -> Result<()> {
        let (state, next, delivered_at) = match a.outcome {
            AttemptOutcome::Delivered => ("delivered", a.at, Some(a.at + a.latency_ms)),
            AttemptOutcome::Retry { next_attempt_at } => ("pending", next_attempt_at, None),
            AttemptOutcome::Dead => ("dead", a.at, None),
        };
        sqlx::query(
            "WITH u AS (UPDATE webhook_deliveries SET state = $4, attempts = attempts + 1, \
               next_attempt_at = $5, lease_owner = NULL, lease_until = 0, last_status = $6, \
               last_latency_ms = $7, last_error = $8, delivered_at = $9 \
               WHERE endpoint_id = $1 AND event_id = $2 AND lease_owner = $3 AND state = 'pending' \
               RETURNING attempts) \
             INSERT INTO webhook_attempts (endpoint_id, event_id, attempt, at, status, latency_ms, error) \
             SELECT $1, $2, attempts, $10, $6, $7, $8 FROM u",
        )
        .bind(&a.endpoint_id)
        .bind(&a.event_id)
        .bind(&a.owner)
        .bind(state)
        .bind(next)
        .bind(a.status)
        .bind(a.latency_ms)
        .bind(&a.error)
        .bind(delivered_at)
        .bind(a.at)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn list_webhook_deliveries(
        &self,
        workspace_id: &str,
        endpoint_id: &str,
        limit: i64,
    ) -> Result<Option<Vec<DeliveryRecord>>> {
        if self
            .get_webhook_endpoint(workspace_id, endpoint_id)
            .await?
            .is_none()
        {
            return Ok(None);
        }
        let rows = sqlx::query(
            "SELECT d.event_id, e.type, d.state, d.attempts, d.next_attempt_at, d.last_status, \
             d.last_latency_ms, d.last_error, d.delivered_at FROM webhook_deliveries d \
             JOIN webhook_events e ON e.id = d.event_id WHERE d.endpoint_id = $1 \
             ORDER BY d.event_id DESC LIMIT $2",
        )
        .bind(endpoint_id)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        let mut out = Vec::with_capacity(rows.len());
        for r in &rows {
            out.push(DeliveryRecord {
                event_id: r.try_get(0)?,
                event_type: r.try_get(1)?,
                state: r.try_get(2)?,
                attempts: r.try_get(3)?,
                next_attempt_at: r.try_get(4)?,
                last_status: r.try_get(5)?,
                last_latency_ms: r.try_get(6)?,
                last_error: r.try_get(7)?,
                delivered_at: r.try_get(8)?,
                log: Vec::new(),
            });
        }
        let ids: Vec<&str> = out.iter().map(|d| d.event_id.as_str()).collect();
        let logs = sqlx::query(
            "SELECT event_id, attempt, at, status, latency_ms, error FROM webhook_attempts \
             WHERE endpoint_id = $1 AND event_id = ANY($2) ORDER BY at, attempt",
        )
        .bind(endpoint_id)
        .bind(ids)
        .fetch_all(&self.pool)
        .await?;
        for r in &logs {
            let event_id: String = r.try_get(0)?;
            if let Some(d) = out.iter_mut().find(|d| d.event_id == event_id) {
                d.log.push(AttemptLog {
                    attempt: r.try_get(1)?,
                    at: r.try_get(2)?,
                    status: r.try_get(3)?,
                    latency_ms: r.try_get(4)?,
                    error: r.try_get(5)?,
                });
            }
        }
        Ok(Some(out))
    }

    async fn replay_webhook_events(
        &self,
        workspace_id: &str,
        endpoint_id: &str,
        sel: &ReplaySelection,
        now: Millis,
    ) -> Result<Option<u64>> {
        if self
            .get_webhook_endpoint(workspace_id, endpoint_id)
            .await?
            .is_none()
        {
            return Ok(None);
        }
        let (event_id, since) = match sel {
            ReplaySelection::Event(id) => (Some(id.as_str()), None),
            ReplaySelection::Since(t) => (None, Some(*t)),
        };
        // A replay is a fresh delivery of the same event: attempts and the retry window start over.
        let sql = format!(
            "INSERT INTO webhook_deliveries (endpoint_id, event_id, state, attempts, next_attempt_at, created_at) \
             SELECT p.id, e.id, 'pending', 0, $3, $3 FROM webhook_events e \
             JOIN webhook_endpoints p ON p.id = $2 AND p.workspace_id = e.workspace_id \
             WHERE e.workspace_id = $1 AND (e.id = $4 OR ($5::int8 IS NOT NULL AND e.created_at >= $5 AND {})) \
             ON CONFLICT (endpoint_id, event_id) DO UPDATE SET state = 'pending', attempts = 0, \
             next_attempt_at = excluded.next_attempt_at, created_at = excluded.created_at, \
             lease_owner = NULL, lease_until = 0, delivered_at = NULL",
            matches_sql("e.type")
        );
        let n = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(workspace_id)
            .bind(endpoint_id)
            .bind(now)
            .bind(event_id)
            .bind(since)
            .execute(&self.pool)
            .await?
            .rows_affected();
        Ok(Some(n))
    }
}
