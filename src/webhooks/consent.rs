//! Marketing consent from Meta's webhooks: `user_preferences` changes, and customers' messages
//! that are a stop or resume keyword of their workspace.

use std::collections::HashMap;
use std::sync::Arc;

use chasqui_domain::consent::{
    fold, keyword_verdict, ConsentSource, MarketingKeywords, MAX_KEYWORD_CHARS,
};
use chasqui_domain::inbound::{InboundBatch, InboundContent, InboundMessage};
use chasqui_domain::{ChannelId, WorkspaceId};
use chasqui_store::{
    ConsentChange, ContactSighting, InboundRecord, KeywordConsent, Store, StoreError,
};

use super::inbound::workspace_of;
use crate::channels::ChannelDirectory;
use crate::clock::now_ms;

/// Records the marketing stops and resumes a batch's `user_preferences` report for the verified
/// channels' workspaces. A value Chasqui does not know (or another category) is logged and
/// changes nothing.
pub async fn apply_preferences(
    store: &Arc<dyn Store>,
    batch: &InboundBatch,
    verified: &[(String, ChannelId)],
    channels: &ChannelDirectory,
) -> Result<(), StoreError> {
    let mut by_workspace: Vec<(WorkspaceId, Vec<ConsentChange>)> = Vec::new();
    for p in &batch.preferences {
        let Some((workspace_id, channel_id)) = workspace_of(verified, channels, &p.phone_number_id)
        else {
            continue;
        };
        let Some(opted_out) = p.marketing_opt_out() else {
            tracing::info!(
                channel = %channel_id,
                category = p.category.as_deref().unwrap_or(""),
                value = %p.value,
                "a user_preferences report Chasqui does not apply (only marketing stop, resume \
                 and signup change consent)"
            );
            continue;
        };
        let detail = match &p.detail {
            Some(d) => format!("{}: {d}", p.value),
            None => p.value.clone(),
        };
        let change = ConsentChange {
            who: ContactSighting {
                workspace_id: workspace_id.clone(),
                wa_id: p.wa_id.clone(),
                user_id: p.user_id.clone(),
                name: None,
                parent_user_id: None,
                change: None,
            },
            opted_out,
            source: ConsentSource::Webhook,
            detail: Some(detail),
            event_key: Some(p.event_key()),
        };
        match by_workspace.iter_mut().find(|(ws, _)| *ws == workspace_id) {
            Some((_, changes)) => changes.push(change),
            None => by_workspace.push((workspace_id, vec![change])),
        }
    }
    for (workspace_id, changes) in by_workspace {
        let report = store
            .record_consent(&workspace_id, changes, now_ms())
            .await?;
        tracing::debug!(workspace = %workspace_id, ?report, "user_preferences applied");
    }
    Ok(())
}

/// The text of a message short enough to be a keyword.
fn candidate(m: &InboundMessage) -> Option<&str> {
    match &m.content {
        InboundContent::Text(t) if fold(&t.body).chars().count() <= MAX_KEYWORD_CHARS => {
            Some(&t.body)
        }
        _ => None,
    }
}

/// Marks the records whose message is a stop or resume keyword of their workspace. A
/// workspace's setting is read only when one of its messages is short enough to be one.
pub async fn mark_keywords(
    store: &Arc<dyn Store>,
    batch: &InboundBatch,
    records: &mut [InboundRecord],
) -> Result<(), StoreError> {
    let mut settings: HashMap<WorkspaceId, Option<MarketingKeywords>> = HashMap::new();
    for r in records.iter_mut() {
        if r.from.wa_id.is_none() && r.from.user_id.is_none() {
            continue;
        }
        let Some(text) = batch
            .messages
            .iter()
            .find(|m| m.id == r.meta_id)
            .and_then(candidate)
        else {
            continue;
        };
        if !settings.contains_key(&r.workspace_id) {
            let ws = store.get_workspace(&r.workspace_id).await?;
            settings.insert(
                r.workspace_id.clone(),
                ws.and_then(|w| w.marketing_keywords),
            );
        }
        let setting = settings.get(&r.workspace_id).and_then(Option::as_ref);
        r.keyword = keyword_verdict(setting, text).map(|v| KeywordConsent {
            opted_out: v.opted_out(),
            text: text.trim().to_string(),
        });
    }
    Ok(())
}
