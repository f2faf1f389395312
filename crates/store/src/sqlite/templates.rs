//! The template registry on SQLite.

use std::collections::HashSet;

use async_trait::async_trait;
use chasqui_domain::inbound::TemplateEvent;
use rusqlite::{params, Connection, OptionalExtension, Row};

use super::SqliteStore;
use crate::business_webhooks::{TemplateChange, WebhookEvent, TEMPLATE_EVENT_COLUMNS};
use crate::templates::{
    EventChanges, TemplateEventReport, TemplateRow, TemplateValues, TEMPLATE_COLUMNS,
};
use crate::{Millis, Result, StoredTemplate, TemplateFilter, TemplateStore};

fn row(r: &Row<'_>) -> rusqlite::Result<TemplateRow> {
    Ok(TemplateRow {
        workspace_id: r.get(0)?,
        channel_id: r.get(1)?,
        meta_id: r.get(2)?,
        name: r.get(3)?,
        language: r.get(4)?,
        category: r.get(5)?,
        status: r.get(6)?,
        quality: r.get(7)?,
        parameter_format: r.get(8)?,
        components: r.get(9)?,
        rejected_reason: r.get(10)?,
        updated_at: r.get(11)?,
    })
}

fn upsert(
    c: &Connection,
    templates: &[StoredTemplate],
    channel_id: &str,
    complete: bool,
    status_at: Millis,
) -> Result<usize> {
    // A status (or category, reason) learned before the stored one is older news: kept out.
    let mut stmt = c.prepare_cached(
        "INSERT INTO templates (workspace_id, channel_id, meta_id, name, language, category, \
         status, quality, parameter_format, components, rejected_reason, status_at, updated_at) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13) \
         ON CONFLICT (channel_id, name, language) DO UPDATE SET \
         meta_id = COALESCE(excluded.meta_id, templates.meta_id), \
         parameter_format = excluded.parameter_format, components = excluded.components, \
         quality = CASE WHEN excluded.status_at >= templates.status_at \
           THEN COALESCE(excluded.quality, templates.quality) ELSE templates.quality END, \
         category = CASE WHEN excluded.status_at >= templates.status_at \
           THEN excluded.category ELSE templates.category END, \
         status = CASE WHEN excluded.status_at >= templates.status_at \
           THEN excluded.status ELSE templates.status END, \
         rejected_reason = CASE WHEN excluded.status_at >= templates.status_at \
           THEN excluded.rejected_reason ELSE templates.rejected_reason END, \
         status_at = MAX(excluded.status_at, templates.status_at), \
         updated_at = excluded.updated_at",
    )?;
    let mut kept = HashSet::new();
    for t in templates.iter().filter(|t| t.channel_id == channel_id) {
        let v = TemplateValues::of(&t.template);
        stmt.execute(params![
            t.workspace_id,
            t.channel_id,
            v.meta_id,
            v.name,
            v.language,
            v.category,
            v.status,
            t.quality,
            v.parameter_format,
            v.components,
            t.rejected_reason,
            status_at,
            t.updated_at
        ])?;
        kept.insert((v.name, v.language));
    }
    if complete {
        // Only rows known before this sync began: a template submitted meanwhile stays.
        let stored: Vec<(String, String)> = c
            .prepare_cached(
                "SELECT name, language FROM templates WHERE channel_id = ?1 AND status_at < ?2",
            )?
            .query_map(params![channel_id, status_at], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })?
            .collect::<rusqlite::Result<_>>()?;
        let mut delete = c.prepare_cached(
            "DELETE FROM templates WHERE channel_id = ?1 AND name = ?2 AND language = ?3",
        )?;
        for (name, language) in stored.iter().filter(|k| !kept.contains(*k)) {
            delete.execute(params![channel_id, name, language])?;
        }
    }
    Ok(kept.len())
}

fn apply_event(
    c: &Connection,
    channel_ids: &[String],
    event: &TemplateEvent,
    now: Millis,
) -> Result<TemplateEventReport> {
    let changes = EventChanges::of(event);
    let (set_reason, reason) = match &changes.rejected_reason {
        Some(reason) => (true, reason.clone()),
        None => (false, None),
    };
    let sql = format!(
        "UPDATE templates SET meta_id = ?3, \
         status = COALESCE(?6, status), category = COALESCE(?7, category), \
         quality = COALESCE(?8, quality), \
         rejected_reason = CASE WHEN ?9 THEN ?10 ELSE rejected_reason END, \
         status_at = MAX(status_at, ?11), updated_at = ?11 \
         WHERE channel_id = ?1 \
         AND channel_id IN (SELECT id FROM channels WHERE waba_id = ?2) \
         AND (meta_id = ?3 OR (name = ?4 AND language = ?5)) RETURNING {TEMPLATE_EVENT_COLUMNS}"
    );
    let mut stmt = c.prepare_cached(&sql)?;
    let mut changed = Vec::new();
    for channel_id in channel_ids {
        let rows = stmt.query_map(
            params![
                channel_id,
                event.waba_id,
                event.template_id,
                event.name,
                event.language,
                changes.status,
                changes.category,
                changes.quality,
                set_reason,
                reason,
                now
            ],
            |r| {
                Ok(TemplateChange {
                    workspace_id: r.get(0)?,
                    channel_id: r.get(1)?,
                    meta_id: r.get(2)?,
                    name: r.get(3)?,
                    language: r.get(4)?,
                    category: r.get(5)?,
                    status: r.get(6)?,
                    quality: r.get(7)?,
                    rejected_reason: r.get(8)?,
                })
            },
        )?;
        for row in rows {
            changed.push(row?);
        }
    }
    drop(stmt);
    for t in &changed {
        super::business_webhooks::emit(c, &WebhookEvent::template(t, now))?;
    }
    let updated = changed.len();
    Ok(TemplateEventReport {
        updated,
        needs_sync: changes.needs_sync || updated == 0,
    })
}

#[async_trait]
impl TemplateStore for SqliteStore {
    async fn upsert_templates(
        &self,
        templates: &[StoredTemplate],
        channel_id: &str,
        complete: bool,
        status_at: Millis,
    ) -> Result<usize> {
        let (templates, channel_id) = (templates.to_vec(), channel_id.to_owned());
        self.rt
            .write(move |c| upsert(c, &templates, &channel_id, complete, status_at))
            .await
    }

    async fn get_template(
        &self,
        channel_id: &str,
        name: &str,
        language: &str,
    ) -> Result<Option<StoredTemplate>> {
        let key = (channel_id.to_owned(), name.to_owned(), language.to_owned());
        let found = self
            .rt
            .read(move |c| {
                let sql = format!(
                    "SELECT {TEMPLATE_COLUMNS} FROM templates \
                     WHERE channel_id = ?1 AND name = ?2 AND language = ?3"
                );
                Ok(c.prepare_cached(&sql)?
                    .query_row(params![key.0, key.1, key.2], row)
                    .optional()?)
            })
            .await?;
        found.map(TemplateRow::into_stored).transpose()
    }

    async fn list_templates(
        &self,
        workspace_id: &str,
        f: &TemplateFilter,
    ) -> Result<Vec<StoredTemplate>> {
        let (ws, f) = (workspace_id.to_owned(), f.clone());
        let rows = self
            .rt
            .read(move |c| {
                let sql = format!(
                    "SELECT {TEMPLATE_COLUMNS} FROM templates WHERE workspace_id = ?1 \
                     AND (?2 IS NULL OR channel_id = ?2) AND (?3 IS NULL OR status = ?3) \
                     AND (?4 IS NULL OR name = ?4) AND (?5 IS NULL OR language = ?5) \
                     ORDER BY name, language, channel_id"
                );
                let rows = c
                    .prepare_cached(&sql)?
                    .query_map(params![ws, f.channel_id, f.status, f.name, f.language], row)?
                    .collect::<rusqlite::Result<Vec<_>>>()?;
                Ok(rows)
            })
            .await?;
        rows.into_iter().map(TemplateRow::into_stored).collect()
    }

    async fn apply_template_event(
        &self,
        channel_ids: &[String],
        event: &TemplateEvent,
        now: Millis,
    ) -> Result<TemplateEventReport> {
        let (ids, event) = (channel_ids.to_vec(), event.clone());
        self.rt
            .write(move |c| apply_event(c, &ids, &event, now))
            .await
    }
}
