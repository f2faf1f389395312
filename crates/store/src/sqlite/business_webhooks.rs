//! Business webhooks on SQLite.

use async_trait::async_trait;
use rusqlite::{params, Connection, OptionalExtension, Row};

use super::SqliteStore;
use crate::business_webhooks::*;
use crate::{Millis, Result};

const ENDPOINT_COLUMNS: &str =
    "id, workspace_id, url, events, secret, secret_hint, enabled, created_at, updated_at";

fn endpoint_from_row(r: &Row<'_>) -> rusqlite::Result<WebhookEndpoint> {
    Ok(WebhookEndpoint {
        id: r.get(0)?,
        workspace_id: r.get(1)?,
        url: r.get(2)?,
        events: r.get(3)?,
        secret: r.get(4)?,
        secret_hint: r.get(5)?,
        enabled: r.get(6)?,
        created_at: r.get(7)?,
        updated_at: r.get(8)?,
    })
}

/// Writes `ev` with one pending delivery per matching endpoint, or nothing when none matches
/// (so a workspace without endpoints pays one indexed lookup).
/// Whether the workspace has an enabled endpoint: when it has none, an event need not be built.
pub(super) fn listens(conn: &Connection, workspace_id: &str) -> Result<bool> {
    Ok(conn
        .prepare_cached(
            "SELECT 1 FROM webhook_endpoints WHERE workspace_id = ?1 AND enabled LIMIT 1",
        )?
        .query_row([workspace_id], |_| Ok(()))
        .optional()?
        .is_some())
}

/// Which of `workspaces` have an enabled endpoint.
pub(super) fn listeners(conn: &Connection, workspaces: Vec<String>) -> Result<Vec<String>> {
    let mut out = Vec::new();
    for ws in workspaces {
        if listens(conn, &ws)? {
            out.push(ws);
        }
    }
    Ok(out)
}

pub(super) fn emit(conn: &Connection, ev: &WebhookEvent) -> Result<()> {
    let sql = format!(
        "INSERT INTO webhook_deliveries (endpoint_id, event_id, state, attempts, next_attempt_at, created_at) \
         SELECT p.id, ?1, 'pending', 0, ?3, ?3 FROM webhook_endpoints p \
         WHERE p.workspace_id = ?2 AND {}",
        matches_sql("?4")
    );
    let n = conn
        .prepare_cached(&sql)?
        .execute(params![ev.id, ev.workspace_id, ev.at, ev.kind])?;
    if n > 0 {
        conn.prepare_cached(
            "INSERT INTO webhook_events (id, workspace_id, type, data, created_at, subject) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        )?
        .execute(params![
            ev.id,
            ev.workspace_id,
            ev.kind,
            ev.data,
            ev.at,
            ev.subject
        ])?;
    }
    Ok(())
}

fn get_endpoint(conn: &Connection, ws: &str, id: &str) -> Result<Option<WebhookEndpoint>> {
    let sql = format!(
        "SELECT {ENDPOINT_COLUMNS} FROM webhook_endpoints WHERE workspace_id = ?1 AND id = ?2"
    );
    Ok(conn
        .prepare_cached(&sql)?
        .query_row(params![ws, id], endpoint_from_row)
        .optional()?)
}

/// The claim's statement: due deliveries, oldest due first, each only once the earlier events of
/// its subject are no longer pending for its endpoint.
fn claim_sql() -> String {
    format!(
        "SELECT d.endpoint_id, d.event_id, p.url, p.secret, e.type, e.data, e.created_at, \
         d.attempts, d.created_at FROM webhook_deliveries d \
         JOIN webhook_endpoints p ON p.id = d.endpoint_id \
         JOIN webhook_events e ON e.id = d.event_id \
         WHERE d.state = 'pending' AND d.next_attempt_at <= ?1 AND d.lease_until < ?1 \
         AND p.enabled AND d.endpoint_id NOT IN (SELECT value FROM json_each(?2)) AND {IN_ORDER_SQL} \
         ORDER BY d.next_attempt_at, d.event_id LIMIT ?3"
    )
}

fn claim(
    conn: &Connection,
    owner: &str,
    now: Millis,
    lease_ms: i64,
    limit: i64,
    skip: &[String],
) -> Result<Vec<DueDelivery>> {
    let skip = serde_json::to_string(skip).unwrap_or_else(|_| "[]".into());
    let rows: Vec<DueDelivery> = conn
        .prepare_cached(&claim_sql())?
        .query_map(params![now, skip, limit], |r| {
            Ok(DueDelivery {
                endpoint_id: r.get(0)?,
                event_id: r.get(1)?,
                url: r.get(2)?,
                secret: r.get(3)?,
                event_type: r.get(4)?,
                data: r.get(5)?,
                event_created_at: r.get(6)?,
                attempts: r.get(7)?,
                queued_at: r.get(8)?,
            })
        })?
        .collect::<rusqlite::Result<_>>()?;
    for d in &rows {
        conn.prepare_cached(
            "UPDATE webhook_deliveries SET lease_owner = ?3, lease_until = ?4 \
             WHERE endpoint_id = ?1 AND event_id = ?2",
        )?
        .execute(params![d.endpoint_id, d.event_id, owner, now + lease_ms])?;
    }
    Ok(rows)
}

fn record(conn: &Connection, a: &AttemptRecord) -> Result<()> {
    let (state, next, delivered_at) = match a.outcome {
        AttemptOutcome::Delivered => ("delivered", a.at, Some(a.at + a.latency_ms)),
        AttemptOutcome::Retry { next_attempt_at } => ("pending", next_attempt_at, None),
        AttemptOutcome::Dead => ("dead", a.at, None),
    };
    let n = conn
        .prepare_cached(
            "UPDATE webhook_deliveries SET state = ?4, attempts = attempts + 1, next_attempt_at = ?5, \
             lease_owner = NULL, lease_until = 0, last_status = ?6, last_latency_ms = ?7, \
             last_error = ?8, delivered_at = ?9 \
             WHERE endpoint_id = ?1 AND event_id = ?2 AND lease_owner = ?3 AND state = 'pending'",
        )?
        .execute(params![
            a.endpoint_id,
            a.event_id,
            a.owner,
            state,
            next,
            a.status,
            a.latency_ms,
            a.error,
            delivered_at
        ])?;
    if n == 1 {
        conn.prepare_cached(
            "INSERT INTO webhook_attempts (endpoint_id, event_id, attempt, at, status, latency_ms, error) \
             SELECT ?1, ?2, attempts, ?3, ?4, ?5, ?6 FROM webhook_deliveries \
             WHERE endpoint_id = ?1 AND event_id = ?2",
        )?
        .execute(params![
            a.endpoint_id,
            a.event_id,
            a.at,
            a.status,
            a.latency_ms,
            a.error
        ])?;
    }
    Ok(())
}

fn deliveries(
    conn: &Connection,
    ws: &str,
    endpoint_id: &str,
    limit: i64,
) -> Result<Option<Vec<DeliveryRecord>>> {
    if get_endpoint(conn, ws, endpoint_id)?.is_none() {
        return Ok(None);
    }
    let mut out: Vec<DeliveryRecord> = conn
        .prepare_cached(
            "SELECT d.event_id, e.type, d.state, d.attempts, d.next_attempt_at, d.last_status, \
             d.last_latency_ms, d.last_error, d.delivered_at FROM webhook_deliveries d \
             JOIN webhook_events e ON e.id = d.event_id WHERE d.endpoint_id = ?1 \
             ORDER BY d.event_id DESC LIMIT ?2",
        )?
        .query_map(params![endpoint_id, limit], |r| {
            Ok(DeliveryRecord {
                event_id: r.get(0)?,
                event_type: r.get(1)?,
                state: r.get(2)?,
                attempts: r.get(3)?,
                next_attempt_at: r.get(4)?,
                last_status: r.get(5)?,
                last_latency_ms: r.get(6)?,
                last_error: r.get(7)?,
                delivered_at: r.get(8)?,
                log: Vec::new(),
            })
        })?
        .collect::<rusqlite::Result<_>>()?;
    for d in &mut out {
        d.log = conn
            .prepare_cached(
                "SELECT attempt, at, status, latency_ms, error FROM webhook_attempts \
                 WHERE endpoint_id = ?1 AND event_id = ?2 ORDER BY at, attempt",
            )?
            .query_map(params![endpoint_id, d.event_id], |r| {
                Ok(AttemptLog {
                    attempt: r.get(0)?,
                    at: r.get(1)?,
                    status: r.get(2)?,
                    latency_ms: r.get(3)?,
                    error: r.get(4)?,
                })
            })?
            .collect::<rusqlite::Result<_>>()?;
    }
    Ok(Some(out))
}

fn replay(
    conn: &Connection,
    ws: &str,
    endpoint_id: &str,
    sel: &ReplaySelection,
    now: Millis,
) -> Result<Option<u64>> {
    if get_endpoint(conn, ws, endpoint_id)?.is_none() {
        return Ok(None);
    }
    let (event_id, since) = match sel {
        ReplaySelection::Event(id) => (Some(id.as_str()), None),
        ReplaySelection::Since(t) => (None, Some(*t)),
    };
    // A replay is a fresh delivery of the same event: attempts and the retry window start over.
    let sql = format!(
        "INSERT INTO webhook_deliveries (endpoint_id, event_id, state, attempts, next_attempt_at, created_at) \
         SELECT p.id, e.id, 'pending', 0, ?3, ?3 FROM webhook_events e \
         JOIN webhook_endpoints p ON p.id = ?2 AND p.workspace_id = e.workspace_id \
         WHERE e.workspace_id = ?1 AND (e.id = ?4 OR (?5 IS NOT NULL AND e.created_at >= ?5 AND {})) \
         ON CONFLICT (endpoint_id, event_id) DO UPDATE SET state = 'pending', attempts = 0, \
         next_attempt_at = excluded.next_attempt_at, created_at = excluded.created_at, \
         lease_owner = NULL, lease_until = 0, delivered_at = NULL",
        matches_sql("e.type")
    );
    let n = conn
        .prepare_cached(&sql)?
        .execute(params![ws, endpoint_id, now, event_id, since])?;
    Ok(Some(n as u64))
}

#[async_trait]
impl BusinessWebhookStore for SqliteStore {
    async fn create_webhook_endpoint(&self, e: &WebhookEndpoint) -> Result<()> {
        let e = e.clone();
        self.rt
            .write(move |c| {
                c.execute(
                    "INSERT INTO webhook_endpoints (id, workspace_id, url, events, secret, secret_hint, \
                     enabled, created_at, updated_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
                    params![
                        e.id, e.workspace_id, e.url, e.events, e.secret, e.secret_hint, e.enabled,
                        e.created_at, e.updated_at
                    ],
                )?;
                Ok(())
            })
            .await
    }

    async fn list_webhook_endpoints(&self, workspace_id: &str) -> Result<Vec<WebhookEndpoint>> {
        let ws = workspace_id.to_string();
        self.rt
            .read(move |c| {
                let sql = format!(
                    "SELECT {ENDPOINT_COLUMNS} FROM webhook_endpoints WHERE workspace_id = ?1 ORDER BY id"
                );
                let rows = c
                    .prepare_cached(&sql)?
                    .query_map([ws], endpoint_from_row)?
                    .collect::<rusqlite::Result<_>>()?;
                Ok(rows)
            })
            .await
    }

    async fn get_webhook_endpoint(
        &self,
        workspace_id: &str,
        id: &str,
    ) -> Result<Option<WebhookEndpoint>> {
        let (ws, id) = (workspace_id.to_string(), id.to_string());
        self.rt.read(move |c| get_endpoint(c, &ws, &id)).await
    }

    async fn update_webhook_endpoint(
        &self,
        workspace_id: &str,
        id: &str,
        patch: &WebhookEndpointPatch,
        now: Millis,
    ) -> Result<Option<WebhookEndpoint>> {
        let (ws, id, p) = (workspace_id.to_string(), id.to_string(), patch.clone());
        self.rt
            .write(move |c| {
                c.execute(
                    "UPDATE webhook_endpoints SET url = COALESCE(?3, url), events = COALESCE(?4, events), \
                     enabled = COALESCE(?5, enabled), updated_at = ?6 WHERE workspace_id = ?1 AND id = ?2",
                    params![ws, id, p.url, p.events, p.enabled, now],
                )?;
                get_endpoint(c, &ws, &id)
            })
            .await
    }

    async fn delete_webhook_endpoint(&self, workspace_id: &str, id: &str) -> Result<bool> {
        let (ws, id) = (workspace_id.to_string(), id.to_string());
        self.rt
            .write(move |c| {
                let n = c.execute(
                    "DELETE FROM webhook_endpoints WHERE workspace_id = ?1 AND id = ?2",
                    params![ws, id],
                )?;
                if n > 0 {
                    c.execute(
                        "DELETE FROM webhook_deliveries WHERE endpoint_id = ?1",
                        [&id],
                    )?;
                    c.execute("DELETE FROM webhook_attempts WHERE endpoint_id = ?1", [&id])?;
                }
                Ok(n > 0)
            })
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
        let (owner, skip) = (owner.to_string(), skip.to_vec());
        self.rt
            .write(move |c| claim(c, &owner, now, lease_ms, limit, &skip))
            .await
    }

    async fn release_webhook_deliveries(
        &self,
        owner: &str,
        keys: &[(String, String)],
    ) -> Result<()> {
        let (owner, keys) = (owner.to_string(), keys.to_vec());
        self.rt
            .write(move |c| {
                for (endpoint, event) in &keys {
                    c.prepare_cached(
                        "UPDATE webhook_deliveries SET lease_owner = NULL, lease_until = 0 \
                         WHERE endpoint_id = ?1 AND event_id = ?2 AND lease_owner = ?3",
                    )?
                    .execute(params![endpoint, event, owner])?;
                }
                Ok(())
            })
            .await
    }

    async fn record_webhook_attempt(&self, attempt: &AttemptRecord) -> Result<()> {
        let a = attempt.clone();
        self.rt.write(move |c| record(c, &a)).await
    }

    async fn list_webhook_deliveries(
        &self,
        workspace_id: &str,
        endpoint_id: &str,
        limit: i64,
    ) -> Result<Option<Vec<DeliveryRecord>>> {
        let (ws, id) = (workspace_id.to_string(), endpoint_id.to_string());
        self.rt.read(move |c| deliveries(c, &ws, &id, limit)).await
    }

    async fn replay_webhook_events(
        &self,
        workspace_id: &str,
        endpoint_id: &str,
        selection: &ReplaySelection,
        now: Millis,
    ) -> Result<Option<u64>> {
        let (ws, id, sel) = (
            workspace_id.to_string(),
            endpoint_id.to_string(),
            selection.clone(),
        );
        self.rt.write(move |c| replay(c, &ws, &id, &sel, now)).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_order_check_reads_a_subject_not_an_endpoints_history() {
        let mut conn = Connection::open_in_memory().unwrap();
        super::super::migrations().to_latest(&mut conn).unwrap();
        let mut stmt = conn
            .prepare(&format!("EXPLAIN QUERY PLAN {}", claim_sql()))
            .unwrap();
        let plan: Vec<String> = stmt
            .query_map(params![0, "[]", 10], |r| r.get::<_, String>(3))
            .unwrap()
            .map(Result::unwrap)
            .collect();
        let plan = plan.join("\n");
        assert!(
            plan.contains("webhook_events_subject (subject=? AND id<?)"),
            "{plan}"
        );
        assert!(plan.contains("(endpoint_id=? AND event_id=?)"), "{plan}");
        assert!(
            !plan.contains("event_id<?"),
            "scans an endpoint's deliveries: {plan}"
        );
    }
}
