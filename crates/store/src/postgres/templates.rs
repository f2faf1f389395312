//! The template registry on PostgreSQL.

use async_trait::async_trait;
use chasqui_domain::inbound::TemplateEvent;
use sqlx::postgres::PgRow;
use sqlx::Row;

use super::PgStore;
use crate::business_webhooks::{TemplateChange, WebhookEvent, TEMPLATE_EVENT_COLUMNS};
use crate::templates::{
    EventChanges, TemplateEventReport, TemplateRow, TemplateValues, TEMPLATE_COLUMNS,
};
use crate::{Millis, Result, StoredTemplate, TemplateFilter, TemplateStore};

fn row(r: &PgRow) -> Result<TemplateRow> {
    Ok(TemplateRow {
        workspace_id: r.try_get(0)?,
        channel_id: r.try_get(1)?,
        meta_id: r.try_get(2)?,
        name: r.try_get(3)?,
        language: r.try_get(4)?,
        category: r.try_get(5)?,
        status: r.try_get(6)?,
        quality: r.try_get(7)?,
        parameter_format: r.try_get(8)?,
        components: r.try_get(9)?,
        rejected_reason: r.try_get(10)?,
        updated_at: r.try_get(11)?,
    })
}

#[async_trait]
impl TemplateStore for PgStore {
    async fn upsert_templates(
        &self,
        templates: &[StoredTemplate],
        channel_id: &str,
        complete: bool,
        status_at: Millis,
    ) -> Result<usize> {
        let mut tx = self.pool.begin().await?;
        let mut names = Vec::new();
        let mut languages = Vec::new();
        for t in templates.iter().filter(|t| t.channel_id == channel_id) {
            let v = TemplateValues::of(&t.template);
            // A status (or category, reason) learned before the stored one is older news.
            sqlx::query(
                "INSERT INTO templates (workspace_id, channel_id, meta_id, name, language, category, \
                 status, quality, parameter_format, components, rejected_reason, status_at, updated_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) \
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
                 status_at = GREATEST(excluded.status_at, templates.status_at), \
                 updated_at = excluded.updated_at",
            )
            .bind(&t.workspace_id)
            .bind(&t.channel_id)
            .bind(&v.meta_id)
            .bind(&v.name)
            .bind(&v.language)
            .bind(&v.category)
            .bind(&v.status)
            .bind(&t.quality)
            .bind(&v.parameter_format)
            .bind(&v.components)
            .bind(&t.rejected_reason)
            .bind(status_at)
            .bind(t.updated_at)
            .execute(&mut *tx)
            .await?;
            names.push(v.name);
            languages.push(v.language);
        }
        if complete {
            // Only rows known before this sync began: a template submitted meanwhile stays.
            sqlx::query(
                "DELETE FROM templates WHERE channel_id = $1 AND status_at < $2 \
                 AND (name, language) NOT IN (SELECT * FROM UNNEST($3::text[], $4::text[]))",
            )
            .bind(channel_id)
            .bind(status_at)
            .bind(&names)
            .bind(&languages)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(names.len())
    }

    async fn get_template(
        &self,
        channel_id: &str,
        name: &str,
        language: &str,
    ) -> Result<Option<StoredTemplate>> {
        let sql = format!(
            "SELECT {TEMPLATE_COLUMNS} FROM templates \
             WHERE channel_id = $1 AND name = $2 AND language = $3"
        );
        let found = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(channel_id)
            .bind(name)
            .bind(language)
            .fetch_optional(&self.pool)
            .await?;
        found
            .as_ref()
            .map(|r| row(r).and_then(TemplateRow::into_stored))
            .transpose()
    }

    async fn list_templates(
        &self,
        workspace_id: &str,
        f: &TemplateFilter,
    ) -> Result<Vec<StoredTemplate>> {
        let sql = format!(
            "SELECT {TEMPLATE_COLUMNS} FROM templates WHERE workspace_id = $1 \
             AND ($2::text IS NULL OR channel_id = $2) AND ($3::text IS NULL OR status = $3) \
             AND ($4::text IS NULL OR name = $4) AND ($5::text IS NULL OR language = $5) \
             ORDER BY name, language, channel_id"
        );
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(workspace_id)
            .bind(&f.channel_id)
            .bind(&f.status)
            .bind(&f.name)
            .bind(&f.language)
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(|r| row(r).and_then(TemplateRow::into_stored))
            .collect()
    }

    async fn apply_template_event(
        &self,
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
            "UPDATE templates SET meta_id = $3, \
             status = COALESCE($6, status), category = COALESCE($7, category), \
             quality = COALESCE($8, quality), \
             rejected_reason = CASE WHEN $9 THEN $10 ELSE rejected_reason END, \
             status_at = GREATEST(status_at, $11), updated_at = $11 \
             WHERE channel_id = ANY($1) \
             AND channel_id IN (SELECT id FROM channels WHERE waba_id = $2) \
             AND (meta_id = $3 OR (name = $4 AND language = $5)) RETURNING {TEMPLATE_EVENT_COLUMNS}"
        );
        let mut tx = self.pool.begin().await?;
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(channel_ids)
            .bind(&event.waba_id)
            .bind(&event.template_id)
            .bind(&event.name)
            .bind(&event.language)
            .bind(&changes.status)
            .bind(&changes.category)
            .bind(&changes.quality)
            .bind(set_reason)
            .bind(&reason)
            .bind(now)
            .fetch_all(&mut *tx)
            .await?;
        let mut events = Vec::with_capacity(rows.len());
        for r in &rows {
            let t = TemplateChange {
                workspace_id: r.try_get(0)?,
                channel_id: r.try_get(1)?,
                meta_id: r.try_get(2)?,
                name: r.try_get(3)?,
                language: r.try_get(4)?,
                category: r.try_get(5)?,
                status: r.try_get(6)?,
                quality: r.try_get(7)?,
                rejected_reason: r.try_get(8)?,
            };
            events.push(WebhookEvent::template(&t, now));
        }
        super::business_webhooks::emit(&mut tx, &events).await?;
        tx.commit().await?;
        let updated = rows.len();
        Ok(TemplateEventReport {
            updated,
            needs_sync: changes.needs_sync || updated == 0,
        })
    }
}
