//! Template webhooks (status, category, quality, components; reference §5.5) applied to the
//! template registry of the channels whose app secret verified the delivery.

use chasqui_domain::ChannelId;
use std::sync::Arc;

use chasqui_domain::inbound::TemplateEvent;
use chasqui_store::{Store, StoreError};

use crate::channels::ChannelDirectory;
use crate::clock::now_ms;
use crate::templates::sync_later;

/// Applies template events to the verified channels (`(phone_number_id,
/// channel_id)` pairs) of the event's WABA; returns how many stored templates changed. An event
/// the registry cannot follow (an unknown template, new component texts) syncs those channels
/// from their provider in the background instead.
pub async fn apply_template_events(
    store: &Arc<dyn Store>,
    channels: &ChannelDirectory,
    verified: &[(String, ChannelId)],
    events: &[TemplateEvent],
) -> Result<usize, StoreError> {
    if events.is_empty() {
        return Ok(0);
    }
    let ids: Vec<ChannelId> = verified.iter().map(|(_, id)| id.clone()).collect();
    let mut updated = 0;
    for event in events {
        let report = store.apply_template_event(&ids, event, now_ms()).await?;
        updated += report.updated;
        if report.needs_sync {
            let owners = ids
                .iter()
                .filter_map(|id| channels.get(id))
                .filter(|live| live.channel.waba_id.as_deref() == Some(event.waba_id.as_str()));
            for live in owners {
                sync_later(store.clone(), live);
            }
        }
    }
    Ok(updated)
}
