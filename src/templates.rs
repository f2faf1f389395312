//! The template registry service: pulling each channel's templates from its provider (on
//! request, periodically, and when a webhook names a template the registry cannot follow) and
//! submitting new ones. The rules themselves are `chasqui_domain::template_registry`'s.

use chasqui_domain::ChannelId;
use std::sync::Arc;
use std::time::Duration;

use chasqui_domain::template_registry::{parse_template, NewTemplate, Template};
use chasqui_provider::ManageError;
use chasqui_store::{Store, StoreError, StoredTemplate};
use serde::Serialize;
use serde_json::Value;

use crate::channels::{ChannelDirectory, LiveChannel};
use crate::clock::now_ms;

/// Why a template call for a channel failed.
#[derive(Debug, thiserror::Error)]
pub enum TemplateError {
    /// The channel has no WhatsApp Business Account id, which owns templates.
    #[error("channel {0} has no waba_id; templates belong to a WhatsApp Business Account")]
    NoWaba(String),
    /// The provider refused or could not be reached.
    #[error(transparent)]
    Provider(#[from] ManageError),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What syncing one channel did.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ChannelSync {
    /// The channel.
    pub channel: ChannelId,
    /// Templates stored.
    pub templates: usize,
    /// Templates the provider listed that could not be read (kept out of the registry; while
    /// any are, templates missing from the listing are not removed either).
    pub unreadable: usize,
}

/// The WABA id that owns `live`'s templates.
fn waba_id(live: &LiveChannel) -> Result<&str, TemplateError> {
    live.channel
        .waba_id
        .as_deref()
        .filter(|w| !w.is_empty())
        .ok_or_else(|| TemplateError::NoWaba(live.channel.id.to_string()))
}

/// Meta's `quality_score.score` of a listed template, when it gives one.
fn quality(item: &Value) -> Option<String> {
    item.pointer("/quality_score/score")
        .and_then(Value::as_str)
        .map(str::to_ascii_uppercase)
}

/// Meta's `rejected_reason`, except its `NONE`.
fn rejected_reason(item: &Value) -> Option<String> {
    item.get("rejected_reason")
        .and_then(Value::as_str)
        .filter(|r| !r.eq_ignore_ascii_case("NONE"))
        .map(str::to_owned)
}

/// Replaces the channel's registry with what its provider lists now.
pub async fn sync_channel(
    store: &dyn Store,
    live: &LiveChannel,
) -> Result<ChannelSync, TemplateError> {
    let waba = waba_id(live)?;
    // Taken before the call: a webhook that lands meanwhile is newer than this listing.
    let started = now_ms();
    let items = live.provider.list_templates(waba).await?;
    let mut stored = Vec::with_capacity(items.len());
    let mut unreadable = 0;
    for item in &items {
        match parse_template(item) {
            Ok(template) => stored.push(StoredTemplate {
                workspace_id: live.channel.workspace_id.clone(),
                channel_id: live.channel.id.clone(),
                template,
                quality: quality(item),
                rejected_reason: rejected_reason(item),
                updated_at: now_ms(),
            }),
            Err(problems) => {
                unreadable += 1;
                tracing::warn!(
                    channel = %live.channel.id,
                    problems = ?problems.iter().map(|p| &p.field).collect::<Vec<_>>(),
                    "a listed template could not be read"
                );
            }
        }
    }
    let templates = store
        .upsert_templates(&stored, &live.channel.id, unreadable == 0, started)
        .await?;
    Ok(ChannelSync {
        channel: live.channel.id.clone(),
        templates,
        unreadable,
    })
}

/// Submits `new` through the channel's provider and stores it as the provider answered
/// (usually PENDING until review).
pub async fn submit(
    store: &dyn Store,
    live: &LiveChannel,
    new: &NewTemplate,
) -> Result<StoredTemplate, TemplateError> {
    let waba = waba_id(live)?;
    let started = now_ms();
    let answer = live
        .provider
        .create_template(waba, &new.to_meta_body())
        .await?;
    let template = submitted(new, &answer).ok_or_else(|| {
        ManageError::BadAnswer(format!("a submission answer without an id: {answer}"))
    })?;
    let (name, language) = (template.name.clone(), template.language.clone());
    let stored = StoredTemplate {
        workspace_id: live.channel.workspace_id.clone(),
        channel_id: live.channel.id.clone(),
        template,
        quality: None,
        rejected_reason: rejected_reason(&answer),
        updated_at: now_ms(),
    };
    store
        .upsert_templates(
            std::slice::from_ref(&stored),
            &live.channel.id,
            false,
            started,
        )
        .await?;
    // A review webhook may already have moved it on; answer what the registry holds.
    Ok(store
        .get_template(&live.channel.id, name.as_str(), &language)
        .await?
        .unwrap_or(stored))
}

/// The template a submission became, from Meta's `{"id","status","category"}` answer.
fn submitted(new: &NewTemplate, answer: &Value) -> Option<Template> {
    let id = match answer.get("id")? {
        Value::String(s) if !s.is_empty() => s.clone(),
        Value::Number(n) => n.to_string(),
        _ => return None,
    };
    let mut body = new.to_meta_body();
    let fields = body.as_object_mut()?;
    fields.remove("allow_category_change");
    fields.insert("id".into(), Value::from(id));
    let status = answer
        .get("status")
        .and_then(Value::as_str)
        .unwrap_or("PENDING");
    fields.insert("status".into(), Value::from(status));
    if let Some(category) = answer.get("category").and_then(Value::as_str) {
        fields.insert("category".into(), Value::from(category));
    }
    parse_template(&body).ok()
}

/// Syncs every channel that has a WABA id, logging failures (the periodic task's round).
pub async fn sync_all(store: &dyn Store, channels: &ChannelDirectory) {
    for live in channels.all() {
        if live.channel.waba_id.is_none() {
            continue;
        }
        match sync_channel(store, &live).await {
            Ok(done) => tracing::debug!(
                channel = %done.channel,
                templates = done.templates,
                "templates synced"
            ),
            Err(e) => {
                tracing::warn!(channel = %live.channel.id, error = %e, "template sync failed")
            }
        }
    }
}

/// Syncs one channel in the background (after a webhook the registry could not follow).
pub fn sync_later(store: Arc<dyn Store>, live: Arc<LiveChannel>) {
    tokio::spawn(async move {
        if let Err(e) = sync_channel(store.as_ref(), &live).await {
            tracing::warn!(channel = %live.channel.id, error = %e, "template sync failed");
        }
    });
}

/// Syncs, in the background, the channels that appeared or changed provider since the last
/// call: a new channel can send its approved templates without waiting for the periodic sync.
pub fn sync_changed(store: &Arc<dyn Store>, channels: &ChannelDirectory) {
    for live in channels.take_template_syncs() {
        if live.channel.waba_id.is_some() {
            sync_later(store.clone(), live);
        }
    }
}

/// Syncs `after`'s templates when it is new (`before` is `None`) or its provider changed, and
/// it has a WABA id; `None` when there was nothing to sync.
pub async fn sync_if_changed(
    store: &dyn Store,
    before: Option<&chasqui_store::Channel>,
    after: &LiveChannel,
) -> Option<Result<ChannelSync, TemplateError>> {
    let changed = before.is_none_or(|b| crate::channels::provider_changed(b, &after.channel));
    if !changed || after.channel.waba_id.is_none() {
        return None;
    }
    Some(sync_channel(store, after).await)
}

/// Syncs every channel at start and then every `interval`.
pub fn spawn_periodic(
    store: Arc<dyn Store>,
    channels: Arc<ChannelDirectory>,
    interval: Duration,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            sync_all(store.as_ref(), &channels).await;
            tokio::time::sleep(interval).await;
        }
    })
}
