//! Business webhooks on either back end: endpoints, the events a change emits (in the change's
//! own transaction), and deliveries claimed with a lease (and `SKIP LOCKED` on PostgreSQL, so
//! several instances share the queue and a dead one's claims expire).

use async_trait::async_trait;
use chasqui_domain::WorkspaceId;

use super::*;
use crate::error::Constraint;
use crate::sql::{args, placeholders, Db, Dialect, Row, Sql, Value};
use crate::StoreError;

const ENDPOINT_COLUMNS: &str =
    "id, workspace_id, url, events, secret, secret_hint, enabled, created_at, updated_at";

fn endpoint(r: &mut Row) -> Result<WebhookEndpoint> {
    Ok(WebhookEndpoint {
        id: r.get()?,
        workspace_id: r.get()?,
        url: r.get()?,
        events: r.get()?,
        secret: r.get()?,
        secret_hint: r.get()?,
        enabled: r.get()?,
        created_at: r.get()?,
        updated_at: r.get()?,
    })
}

fn due_delivery(r: &mut Row) -> Result<DueDelivery> {
    Ok(DueDelivery {
        endpoint_id: r.get()?,
        event_id: r.get()?,
        url: r.get()?,
        secret: r.get()?,
        event_type: r.get()?,
        data: r.get()?,
        event_created_at: r.get()?,
        attempts: r.get()?,
        queued_at: r.get()?,
    })
}

fn delivery(r: &mut Row) -> Result<DeliveryRecord> {
    Ok(DeliveryRecord {
        event_id: r.get()?,
        event_type: r.get()?,
        state: r.get()?,
        attempts: r.get()?,
        next_attempt_at: r.get()?,
        last_status: r.get()?,
        last_latency_ms: r.get()?,
        last_error: r.get()?,
        delivered_at: r.get()?,
        log: Vec::new(),
    })
}

fn attempt_log(r: &mut Row) -> Result<AttemptLog> {
    Ok(AttemptLog {
        attempt: r.get()?,
        at: r.get()?,
        status: r.get()?,
        latency_ms: r.get()?,
        error: r.get()?,
    })
}

/// Whether the workspace has an enabled endpoint: when it has none, an event need not be built.
pub(crate) async fn listens(db: &mut dyn Db, workspace_id: &WorkspaceId) -> Result<bool> {
    Ok(!listeners(db, vec![workspace_id.clone()]).await?.is_empty())
}

/// Which of `workspaces` have an enabled endpoint.
pub(crate) async fn listeners(
    db: &mut dyn Db,
    workspaces: Vec<WorkspaceId>,
) -> Result<Vec<WorkspaceId>> {
    if workspaces.is_empty() {
        return Ok(workspaces);
    }
    let sql = format!(
        "SELECT DISTINCT workspace_id FROM webhook_endpoints WHERE enabled \
         AND workspace_id IN ({})",
        placeholders(1, workspaces.len())
    );
    let args = workspaces.into_iter().map(Value::from).collect();
    let rows = db.fetch_all(&sql, args).await?;
    rows.into_iter().map(|mut r| r.get()).collect()
}

/// Writes `ev` with one pending delivery per matching endpoint, or nothing when none matches
/// (so a workspace without endpoints pays one indexed lookup).
pub(crate) async fn emit(db: &mut dyn Db, ev: &WebhookEvent) -> Result<()> {
    let sql = format!(
        "INSERT INTO webhook_deliveries (endpoint_id, event_id, state, attempts, \
         next_attempt_at, created_at) SELECT p.id, $1, 'pending', 0, $3, $3 \
         FROM webhook_endpoints p WHERE p.workspace_id = $2 AND {}",
        matches_sql("$4")
    );
    let n = db
        .execute(&sql, args![&ev.id, &ev.workspace_id, ev.at, ev.kind])
        .await?;
    if n > 0 {
        db.execute(
            "INSERT INTO webhook_events (id, workspace_id, type, data, created_at, subject) \
             VALUES ($1, $2, $3, $4, $5, $6)",
            args![
                &ev.id,
                &ev.workspace_id,
                ev.kind,
                &ev.data,
                ev.at,
                &ev.subject
            ],
        )
        .await?;
    }
    Ok(())
}

async fn get_endpoint(db: &mut dyn Db, ws: &str, id: &str) -> Result<Option<WebhookEndpoint>> {
    let sql = format!(
        "SELECT {ENDPOINT_COLUMNS} FROM webhook_endpoints WHERE workspace_id = $1 AND id = $2"
    );
    db.fetch_one_map(&sql, args![ws, id], endpoint).await
}

/// What [`BusinessWebhookStore::claim_webhook_deliveries`] is given.
struct Claim {
    owner: String,
    now: Millis,
    lease_ms: i64,
    limit: i64,
    skip: Vec<String>,
}

async fn claim(db: &mut dyn Db, c: &Claim) -> Result<Vec<DueDelivery>> {
    let skip = if c.skip.is_empty() {
        String::new()
    } else {
        format!(
            " AND d.endpoint_id NOT IN ({})",
            placeholders(3, c.skip.len())
        )
    };
    // Instances sharing a PostgreSQL database take different deliveries.
    let lock = match db.dialect() {
        Dialect::Postgres => " FOR UPDATE OF d SKIP LOCKED",
        Dialect::Sqlite => "",
    };
    let sql = format!(
        "SELECT d.endpoint_id, d.event_id, p.url, p.secret, e.type, e.data, e.created_at, \
         d.attempts, d.created_at FROM webhook_deliveries d \
         JOIN webhook_endpoints p ON p.id = d.endpoint_id \
         JOIN webhook_events e ON e.id = d.event_id \
         WHERE d.state = 'pending' AND d.next_attempt_at <= $1 AND d.lease_until < $1 \
         AND p.enabled{skip} AND {IN_ORDER_SQL} \
         ORDER BY d.next_attempt_at, d.event_id LIMIT $2{lock}"
    );
    let mut values = args![c.now, c.limit];
    values.extend(c.skip.iter().map(Value::from));
    let due = db.fetch_map(&sql, values, due_delivery).await?;
    for d in &due {
        db.execute(
            "UPDATE webhook_deliveries SET lease_owner = $3, lease_until = $4 \
             WHERE endpoint_id = $1 AND event_id = $2",
            args![&d.endpoint_id, &d.event_id, &c.owner, c.now + c.lease_ms],
        )
        .await?;
    }
    Ok(due)
}

async fn record(db: &mut dyn Db, a: &AttemptRecord) -> Result<()> {
    let (state, next, delivered_at) = match a.outcome {
        AttemptOutcome::Delivered => ("delivered", a.at, Some(a.at + a.latency_ms)),
        AttemptOutcome::Retry { next_attempt_at } => ("pending", next_attempt_at, None),
        AttemptOutcome::Dead => ("dead", a.at, None),
    };
    let n = db
        .execute(
            "UPDATE webhook_deliveries SET state = $4, attempts = attempts + 1, \
             next_attempt_at = $5, lease_owner = NULL, lease_until = 0, last_status = $6, \
             last_latency_ms = $7, last_error = $8, delivered_at = $9 \
             WHERE endpoint_id = $1 AND event_id = $2 AND lease_owner = $3 AND state = 'pending'",
            args![
                &a.endpoint_id,
                &a.event_id,
                &a.owner,
                state,
                next,
                a.status,
                a.latency_ms,
                &a.error,
                delivered_at
            ],
        )
        .await?;
    if n == 1 {
        db.execute(
            "INSERT INTO webhook_attempts (endpoint_id, event_id, attempt, at, status, \
             latency_ms, error) SELECT $1, $2, attempts, $3, $4, $5, $6 \
             FROM webhook_deliveries WHERE endpoint_id = $1 AND event_id = $2",
            args![
                &a.endpoint_id,
                &a.event_id,
                a.at,
                a.status,
                a.latency_ms,
                &a.error
            ],
        )
        .await?;
    }
    Ok(())
}

async fn deliveries(
    db: &mut dyn Db,
    ws: &str,
    endpoint_id: &str,
    limit: i64,
) -> Result<Option<Vec<DeliveryRecord>>> {
    if get_endpoint(db, ws, endpoint_id).await?.is_none() {
        return Ok(None);
    }
    let mut out = db
        .fetch_map(
            "SELECT d.event_id, e.type, d.state, d.attempts, d.next_attempt_at, d.last_status, \
             d.last_latency_ms, d.last_error, d.delivered_at FROM webhook_deliveries d \
             JOIN webhook_events e ON e.id = d.event_id WHERE d.endpoint_id = $1 \
             ORDER BY d.event_id DESC LIMIT $2",
            args![endpoint_id, limit],
            delivery,
        )
        .await?;
    for d in &mut out {
        d.log = db
            .fetch_map(
                "SELECT attempt, at, status, latency_ms, error FROM webhook_attempts \
                 WHERE endpoint_id = $1 AND event_id = $2 ORDER BY at, attempt",
                args![endpoint_id, &d.event_id],
                attempt_log,
            )
            .await?;
    }
    Ok(Some(out))
}

async fn replay(
    db: &mut dyn Db,
    ws: &str,
    endpoint_id: &str,
    sel: &ReplaySelection,
    now: Millis,
) -> Result<Option<u64>> {
    if get_endpoint(db, ws, endpoint_id).await?.is_none() {
        return Ok(None);
    }
    let (event_id, since) = match sel {
        ReplaySelection::Event(id) => (Some(id.as_str()), None),
        ReplaySelection::Since(t) => (None, Some(*t)),
    };
    // A replay is a fresh delivery of the same event: attempts and the retry window start over.
    let sql = format!(
        "INSERT INTO webhook_deliveries (endpoint_id, event_id, state, attempts, \
         next_attempt_at, created_at) SELECT p.id, e.id, 'pending', 0, $3, $3 \
         FROM webhook_events e JOIN webhook_endpoints p ON p.id = $2 \
         AND p.workspace_id = e.workspace_id WHERE e.workspace_id = $1 \
         AND (e.id = $4 OR ($5 IS NOT NULL AND e.created_at >= $5 AND {})) \
         ON CONFLICT (endpoint_id, event_id) DO UPDATE SET state = 'pending', attempts = 0, \
         next_attempt_at = excluded.next_attempt_at, created_at = excluded.created_at, \
         lease_owner = NULL, lease_until = 0, delivered_at = NULL",
        matches_sql("e.type")
    );
    let n = db
        .execute(&sql, args![ws, endpoint_id, now, event_id, since])
        .await?;
    Ok(Some(n))
}

#[async_trait]
impl<B: Sql> BusinessWebhookStore for B {
    async fn create_webhook_endpoint(&self, endpoint: &WebhookEndpoint) -> Result<()> {
        self.write(endpoint.clone(), |db, e| {
            Box::pin(async move {
                db.execute(
                    "INSERT INTO webhook_endpoints (id, workspace_id, url, events, secret, \
                     secret_hint, enabled, created_at, updated_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
                    args![
                        &e.id,
                        &e.workspace_id,
                        &e.url,
                        &e.events,
                        &e.secret,
                        &e.secret_hint,
                        e.enabled,
                        e.created_at,
                        e.updated_at
                    ],
                )
                .await
                .map_err(|err| match err.constraint() {
                    Some(Constraint::Unique) => {
                        StoreError::Conflict(format!("a webhook endpoint {} exists", e.id))
                    }
                    _ => err,
                })?;
                Ok(())
            })
        })
        .await
    }

    async fn list_webhook_endpoints(
        &self,
        workspace_id: &WorkspaceId,
    ) -> Result<Vec<WebhookEndpoint>> {
        self.read(workspace_id.to_string(), |db, ws| {
            Box::pin(async move {
                let sql = format!(
                    "SELECT {ENDPOINT_COLUMNS} FROM webhook_endpoints WHERE workspace_id = $1 \
                     ORDER BY id"
                );
                db.fetch_map(&sql, args![ws], endpoint).await
            })
        })
        .await
    }

    async fn get_webhook_endpoint(
        &self,
        workspace_id: &WorkspaceId,
        id: &str,
    ) -> Result<Option<WebhookEndpoint>> {
        self.lookup(
            (workspace_id.to_string(), id.to_string()),
            |db, (ws, id)| Box::pin(get_endpoint(db, ws, id)),
        )
        .await
    }

    async fn update_webhook_endpoint(
        &self,
        workspace_id: &WorkspaceId,
        id: &str,
        patch: &WebhookEndpointPatch,
        now: Millis,
    ) -> Result<Option<WebhookEndpoint>> {
        let state = (workspace_id.to_string(), id.to_string(), patch.clone(), now);
        self.write(state, |db, (ws, id, p, now)| {
            Box::pin(async move {
                db.execute(
                    "UPDATE webhook_endpoints SET url = COALESCE($3, url), \
                     events = COALESCE($4, events), enabled = COALESCE($5, enabled), \
                     updated_at = $6 WHERE workspace_id = $1 AND id = $2",
                    args![ws, id, &p.url, &p.events, p.enabled, *now],
                )
                .await?;
                get_endpoint(db, ws, id).await
            })
        })
        .await
    }

    async fn delete_webhook_endpoint(&self, workspace_id: &WorkspaceId, id: &str) -> Result<bool> {
        self.write(
            (workspace_id.to_string(), id.to_string()),
            |db, (ws, id)| {
                Box::pin(async move {
                    let n = db
                        .execute(
                            "DELETE FROM webhook_endpoints WHERE workspace_id = $1 AND id = $2",
                            args![ws, id],
                        )
                        .await?;
                    if n > 0 {
                        for table in ["webhook_deliveries", "webhook_attempts"] {
                            let sql = format!("DELETE FROM {table} WHERE endpoint_id = $1");
                            db.execute(&sql, args![id]).await?;
                        }
                    }
                    Ok(n > 0)
                })
            },
        )
        .await
    }

    async fn claim_webhook_deliveries(
        &self,
        owner: &str,
        now: Millis,
        lease_ms: i64,
        limit: i64,
        skip: &[String],
    ) -> Result<Vec<DueDelivery>> {
        let c = Claim {
            owner: owner.to_string(),
            now,
            lease_ms,
            limit,
            skip: skip.to_vec(),
        };
        self.write(c, |db, c| Box::pin(claim(db, c))).await
    }

    async fn release_webhook_deliveries(
        &self,
        owner: &str,
        keys: &[(String, String)],
    ) -> Result<()> {
        self.write((owner.to_string(), keys.to_vec()), |db, (owner, keys)| {
            Box::pin(async move {
                for (endpoint, event) in keys {
                    db.execute(
                        "UPDATE webhook_deliveries SET lease_owner = NULL, lease_until = 0 \
                         WHERE endpoint_id = $1 AND event_id = $2 AND lease_owner = $3",
                        args![endpoint, event, owner],
                    )
                    .await?;
                }
                Ok(())
            })
        })
        .await
    }

    async fn record_webhook_attempt(&self, attempt: &AttemptRecord) -> Result<()> {
        self.write(attempt.clone(), |db, a| Box::pin(record(db, a)))
            .await
    }

    async fn list_webhook_deliveries(
        &self,
        workspace_id: &WorkspaceId,
        endpoint_id: &str,
        limit: i64,
    ) -> Result<Option<Vec<DeliveryRecord>>> {
        let state = (workspace_id.to_string(), endpoint_id.to_string(), limit);
        self.read(state, |db, (ws, id, limit)| {
            Box::pin(deliveries(db, ws, id, *limit))
        })
        .await
    }

    async fn replay_webhook_events(
        &self,
        workspace_id: &WorkspaceId,
        endpoint_id: &str,
        selection: &ReplaySelection,
        now: Millis,
    ) -> Result<Option<u64>> {
        let state = (
            workspace_id.to_string(),
            endpoint_id.to_string(),
            selection.clone(),
            now,
        );
        self.write(state, |db, (ws, id, sel, now)| {
            Box::pin(replay(db, ws, id, sel, *now))
        })
        .await
    }
}
