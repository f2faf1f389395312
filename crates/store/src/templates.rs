//! The template registry's persistence: each channel's message templates as its provider last
//! reported them, from syncs, submissions and template webhooks.

use async_trait::async_trait;
use chasqui_domain::inbound::{TemplateChange, TemplateEvent};
use chasqui_domain::template_registry::{parse_template, Template};
use chasqui_domain::{ChannelId, WorkspaceId};
use serde_json::{json, Value};

use crate::business_webhooks::TEMPLATE_EVENT_COLUMNS;
use crate::business_webhooks::{self, TemplateChange as ChangedTemplate, WebhookEvent};
use crate::sql::{args, greatest, Db, Row, Sql};
use crate::{Millis, Result, StoreError};

/// One channel's template, with what Meta reports beside the template itself.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredTemplate {
    /// Owning workspace.
    pub workspace_id: WorkspaceId,
    /// The channel whose WhatsApp Business Account holds it.
    pub channel_id: ChannelId,
    /// The template (id, name, language, category, status, parameter format, components).
    pub template: Template,
    /// Meta's quality rating (`GREEN`, `YELLOW`, `RED`, `UNKNOWN`), once given.
    pub quality: Option<String>,
    /// Why Meta rejected it (`INVALID_FORMAT`, ...), for rejected templates.
    pub rejected_reason: Option<String>,
    /// Last change.
    pub updated_at: Millis,
}

/// Filters for listing templates.
#[derive(Debug, Clone, Default)]
pub struct TemplateFilter {
    /// Only this channel (id).
    pub channel_id: Option<ChannelId>,
    /// Only this status (upper case, e.g. `APPROVED`).
    pub status: Option<String>,
    /// Only this name.
    pub name: Option<String>,
    /// Only this language.
    pub language: Option<String>,
}

/// What applying one template webhook did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TemplateEventReport {
    /// Stored templates changed.
    pub updated: usize,
    /// Whether the registry cannot follow the change from the webhook alone (an unknown
    /// template, or new component texts) and the channel should be synced from the provider.
    pub needs_sync: bool,
}

/// Reads and writes the template registry.
#[async_trait]
pub trait TemplateStore: Send + Sync {
    /// Stores a channel's templates as its provider reported them at `status_at` (matched by name
    /// and language). A status learned earlier than the stored one is not applied. With
    /// `complete`, the channel's other templates (deleted at the provider) are removed.
    /// Returns how many were written.
    async fn upsert_templates(
        &self,
        templates: &[StoredTemplate],
        channel_id: &ChannelId,
        complete: bool,
        status_at: Millis,
    ) -> Result<usize>;
    /// A channel's template by name and language.
    async fn get_template(
        &self,
        channel_id: &ChannelId,
        name: &str,
        language: &str,
    ) -> Result<Option<StoredTemplate>>;
    /// A workspace's templates, by name, language and channel.
    async fn list_templates(
        &self,
        workspace_id: &WorkspaceId,
        filter: &TemplateFilter,
    ) -> Result<Vec<StoredTemplate>>;
    /// Applies a template webhook to the templates of `channel_ids` (the channels whose app
    /// secret verified it) that belong to the event's WABA, matched by Meta's template id or
    /// else by name and language.
    async fn apply_template_event(
        &self,
        channel_ids: &[ChannelId],
        event: &TemplateEvent,
        now: Millis,
    ) -> Result<TemplateEventReport>;
}

/// A stored row's columns, as both back ends read them.
struct TemplateRow {
    pub workspace_id: WorkspaceId,
    pub channel_id: ChannelId,
    pub meta_id: Option<String>,
    pub name: String,
    pub language: String,
    pub category: String,
    pub status: String,
    pub quality: Option<String>,
    pub parameter_format: String,
    pub components: String,
    pub rejected_reason: Option<String>,
    pub updated_at: Millis,
}

/// The column list [`TemplateRow`] is read from, in order.
const TEMPLATE_COLUMNS: &str =
    "workspace_id, channel_id, meta_id, name, language, category, status, quality, \
     parameter_format, components, rejected_reason, updated_at";

impl TemplateRow {
    /// Rebuilds the template through the domain's own reader, so stored and fetched templates
    /// are read by the same rules.
    pub(crate) fn into_stored(self) -> Result<StoredTemplate> {
        let components: Value = serde_json::from_str(&self.components)
            .map_err(|e| StoreError::Corrupt(format!("template components: {e}")))?;
        let mut value = json!({
            "name": self.name,
            "language": self.language,
            "category": self.category,
            "status": self.status,
            "parameter_format": self.parameter_format,
            "components": components,
        });
        if let Some(id) = &self.meta_id {
            value["id"] = Value::from(id.as_str());
        }
        let template = parse_template(&value).map_err(|problems| {
            StoreError::Corrupt(format!(
                "template {} ({}): {}",
                self.name,
                self.language,
                problems
                    .iter()
                    .map(|p| format!("{} {}", p.field, p.message))
                    .collect::<Vec<_>>()
                    .join("; ")
            ))
        })?;
        Ok(StoredTemplate {
            workspace_id: self.workspace_id,
            channel_id: self.channel_id,
            template,
            quality: self.quality,
            rejected_reason: self.rejected_reason,
            updated_at: self.updated_at,
        })
    }
}

/// The values a [`StoredTemplate`] is written with.
pub(crate) struct TemplateValues {
    pub meta_id: Option<String>,
    pub name: String,
    pub language: String,
    pub category: String,
    pub status: String,
    pub parameter_format: String,
    pub components: String,
}

impl TemplateValues {
    /// The columns of `t`.
    pub(crate) fn of(t: &Template) -> Self {
        let json = t.to_json();
        Self {
            meta_id: t.id.clone(),
            name: t.name.as_str().to_owned(),
            language: t.language.clone(),
            category: t.category.as_str().to_owned(),
            status: t.status.as_str().to_owned(),
            parameter_format: t.parameter_format.as_str().to_owned(),
            components: json["components"].to_string(),
        }
    }
}

/// What one template webhook sets: each `Some` column is written.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct EventChanges {
    pub status: Option<String>,
    pub category: Option<String>,
    pub quality: Option<String>,
    /// `Some(None)` clears the reason (a template approved after a rejection).
    pub rejected_reason: Option<Option<String>>,
    /// The component texts changed: only a sync can bring them in.
    pub needs_sync: bool,
}

impl EventChanges {
    /// The columns a template event changes.
    pub(crate) fn of(event: &TemplateEvent) -> Self {
        let upper = |s: &str| s.to_ascii_uppercase();
        match &event.change {
            TemplateChange::Status {
                event: status,
                reason,
                category,
                ..
            } => {
                let status = upper(status);
                let rejected_reason = if status == "REJECTED" {
                    Some(reason.clone().filter(|r| !r.eq_ignore_ascii_case("NONE")))
                } else {
                    Some(None)
                };
                Self {
                    status: Some(status),
                    category: category.as_deref().map(upper),
                    rejected_reason,
                    ..Self::default()
                }
            }
            TemplateChange::Category { new_category, .. } => Self {
                category: Some(upper(new_category)),
                ..Self::default()
            },
            TemplateChange::Quality {
                new_quality_score, ..
            } => Self {
                quality: Some(upper(new_quality_score)),
                ..Self::default()
            },
            TemplateChange::Components { .. } => Self {
                needs_sync: true,
                ..Self::default()
            },
        }
    }
}

fn template_row(r: &mut Row) -> Result<TemplateRow> {
    Ok(TemplateRow {
        workspace_id: r.get()?,
        channel_id: r.get()?,
        meta_id: r.get()?,
        name: r.get()?,
        language: r.get()?,
        category: r.get()?,
        status: r.get()?,
        quality: r.get()?,
        parameter_format: r.get()?,
        components: r.get()?,
        rejected_reason: r.get()?,
        updated_at: r.get()?,
    })
}

fn template(r: &mut Row) -> Result<StoredTemplate> {
    template_row(r)?.into_stored()
}

fn changed_template(r: &mut Row) -> Result<ChangedTemplate> {
    Ok(ChangedTemplate {
        workspace_id: r.get()?,
        channel_id: r.get()?,
        meta_id: r.get()?,
        name: r.get()?,
        language: r.get()?,
        category: r.get()?,
        status: r.get()?,
        quality: r.get()?,
        rejected_reason: r.get()?,
    })
}

/// What [`TemplateStore::upsert_templates`] is given.
struct Upsert {
    templates: Vec<StoredTemplate>,
    channel_id: ChannelId,
    complete: bool,
    status_at: Millis,
}

async fn upsert(db: &mut dyn Db, u: &Upsert) -> Result<usize> {
    // A status (or category, reason) learned before the stored one is older news: kept out.
    let sql = format!(
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
         status_at = {}(excluded.status_at, templates.status_at), \
         updated_at = excluded.updated_at",
        greatest(db)
    );
    let mut kept = std::collections::HashSet::new();
    for t in u.templates.iter().filter(|t| t.channel_id == u.channel_id) {
        let v = TemplateValues::of(&t.template);
        db.execute(
            &sql,
            args![
                &t.workspace_id,
                &t.channel_id,
                &v.meta_id,
                &v.name,
                &v.language,
                &v.category,
                &v.status,
                &t.quality,
                &v.parameter_format,
                &v.components,
                &t.rejected_reason,
                u.status_at,
                t.updated_at
            ],
        )
        .await?;
        kept.insert((v.name, v.language));
    }
    if u.complete {
        // Only rows known before this sync began: a template submitted meanwhile stays.
        let stored = db
            .fetch_all(
                "SELECT name, language FROM templates WHERE channel_id = $1 AND status_at < $2",
                args![&u.channel_id, u.status_at],
            )
            .await?;
        for mut row in stored {
            let key: (String, String) = (row.get()?, row.get()?);
            if !kept.contains(&key) {
                db.execute(
                    "DELETE FROM templates WHERE channel_id = $1 AND name = $2 AND language = $3",
                    args![&u.channel_id, &key.0, &key.1],
                )
                .await?;
            }
        }
    }
    Ok(kept.len())
}

async fn apply_event(
    db: &mut dyn Db,
    channel_ids: &[ChannelId],
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
         status_at = {}(status_at, $11), updated_at = $11 \
         WHERE channel_id = $1 \
         AND channel_id IN (SELECT id FROM channels WHERE waba_id = $2) \
         AND (meta_id = $3 OR (name = $4 AND language = $5)) RETURNING {TEMPLATE_EVENT_COLUMNS}",
        greatest(db)
    );
    let mut changed = Vec::new();
    for channel_id in channel_ids {
        let args = args![
            channel_id,
            &event.waba_id,
            &event.template_id,
            &event.name,
            &event.language,
            &changes.status,
            &changes.category,
            &changes.quality,
            set_reason,
            &reason,
            now
        ];
        changed.extend(db.fetch_map(&sql, args, changed_template).await?);
    }
    for t in &changed {
        business_webhooks::emit(db, &WebhookEvent::template(t, now)).await?;
    }
    let updated = changed.len();
    Ok(TemplateEventReport {
        updated,
        needs_sync: changes.needs_sync || updated == 0,
    })
}

#[async_trait]
impl<B: Sql> TemplateStore for B {
    async fn upsert_templates(
        &self,
        templates: &[StoredTemplate],
        channel_id: &ChannelId,
        complete: bool,
        status_at: Millis,
    ) -> Result<usize> {
        let u = Upsert {
            templates: templates.to_vec(),
            channel_id: channel_id.clone(),
            complete,
            status_at,
        };
        self.write(u, |db, u| Box::pin(upsert(db, u))).await
    }

    async fn get_template(
        &self,
        channel_id: &ChannelId,
        name: &str,
        language: &str,
    ) -> Result<Option<StoredTemplate>> {
        let key = (
            channel_id.to_string(),
            name.to_string(),
            language.to_string(),
        );
        self.lookup(key, |db, (channel, name, language)| {
            Box::pin(async move {
                let sql = format!(
                    "SELECT {TEMPLATE_COLUMNS} FROM templates \
                     WHERE channel_id = $1 AND name = $2 AND language = $3"
                );
                db.fetch_one_map(&sql, args![channel, name, language], template)
                    .await
            })
        })
        .await
    }

    async fn list_templates(
        &self,
        workspace_id: &WorkspaceId,
        filter: &TemplateFilter,
    ) -> Result<Vec<StoredTemplate>> {
        self.read((workspace_id.to_string(), filter.clone()), |db, (ws, f)| {
            Box::pin(async move {
                let sql = format!(
                    "SELECT {TEMPLATE_COLUMNS} FROM templates WHERE workspace_id = $1 \
                     AND ($2 IS NULL OR channel_id = $2) AND ($3 IS NULL OR status = $3) \
                     AND ($4 IS NULL OR name = $4) AND ($5 IS NULL OR language = $5) \
                     ORDER BY name, language, channel_id"
                );
                let args = args![ws, &f.channel_id, &f.status, &f.name, &f.language];
                db.fetch_map(&sql, args, template).await
            })
        })
        .await
    }

    async fn apply_template_event(
        &self,
        channel_ids: &[ChannelId],
        event: &TemplateEvent,
        now: Millis,
    ) -> Result<TemplateEventReport> {
        let state = (channel_ids.to_vec(), event.clone(), now);
        self.write(state, |db, (ids, event, now)| {
            Box::pin(apply_event(db, ids, event, *now))
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(change: TemplateChange) -> TemplateEvent {
        TemplateEvent {
            waba_id: "1".into(),
            time: None,
            template_id: "2".into(),
            name: Some("t".into()),
            language: Some("en".into()),
            change,
            raw: Value::Null,
        }
    }

    #[test]
    fn a_rejection_keeps_its_reason_and_an_approval_clears_it() {
        let rejected = EventChanges::of(&event(TemplateChange::Status {
            event: "rejected".into(),
            reason: Some("INVALID_FORMAT".into()),
            category: Some("marketing".into()),
            rejection_info: None,
        }));
        assert_eq!(rejected.status.as_deref(), Some("REJECTED"));
        assert_eq!(rejected.category.as_deref(), Some("MARKETING"));
        assert_eq!(
            rejected.rejected_reason,
            Some(Some("INVALID_FORMAT".into()))
        );
        let approved = EventChanges::of(&event(TemplateChange::Status {
            event: "APPROVED".into(),
            reason: Some("NONE".into()),
            category: None,
            rejection_info: None,
        }));
        assert_eq!(approved.rejected_reason, Some(None));
        assert_eq!(approved.category, None);
    }

    #[test]
    fn component_changes_need_a_sync() {
        let changes = EventChanges::of(&event(TemplateChange::Components {
            title: None,
            body: Some("new".into()),
            footer: None,
            buttons: vec![],
        }));
        assert!(changes.needs_sync);
        assert_eq!(changes.status, None);
    }
}
