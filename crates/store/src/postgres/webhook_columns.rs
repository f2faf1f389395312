//! Business webhook events written by PostgreSQL's hot-path statements themselves, as CTEs over
//! column arrays (the rest of business webhooks is shared: `crate::business_webhooks`).

use crate::business_webhooks::{matches_sql, WebhookEvent};

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
