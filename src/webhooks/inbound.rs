//! Meta's inbound messages and contacts, turned into what the store records.

use chasqui_domain::inbound::{InboundBatch, InboundContent, InboundMessage};
use chasqui_domain::{ChannelId, WorkspaceId};
use chasqui_store::{ContactSighting, IdentityChange, InboundRecord};

use crate::channels::ChannelDirectory;
use crate::ids;

/// The workspace of the verified channel a change names by `phone_number_id`.
pub(super) fn workspace_of(
    verified: &[(String, ChannelId)],
    channels: &ChannelDirectory,
    phone_number_id: &str,
) -> Option<(WorkspaceId, ChannelId)> {
    let (_, channel_id) = verified.iter().find(|(p, _)| p == phone_number_id)?;
    let live = channels.get(channel_id)?;
    Some((live.channel.workspace_id.clone(), channel_id.clone()))
}

/// Contacts and messages of a batch for the verified channels; anything for another channel is
/// left out. A message naming no sender is kept, unattributed (its sighting names no one).
pub fn records(
    batch: &InboundBatch,
    verified: &[(String, ChannelId)],
    channels: &ChannelDirectory,
) -> (Vec<ContactSighting>, Vec<InboundRecord>) {
    let sightings = batch
        .contacts
        .iter()
        .filter(|c| c.wa_id.is_some() || c.user_id.is_some())
        .filter_map(|c| {
            let (workspace_id, _) = workspace_of(verified, channels, &c.phone_number_id)?;
            Some(ContactSighting {
                workspace_id,
                wa_id: c.wa_id.clone(),
                user_id: c.user_id.clone(),
                name: c.name.clone(),
                parent_user_id: c.parent_user_id.clone(),
                change: None,
            })
        })
        .collect();
    let messages = batch
        .messages
        .iter()
        .filter_map(|m| record(batch, m, verified, channels))
        .collect();
    (sightings, messages)
}

/// Who sent `m`. A system message that reports changed ids names the person by the new ones,
/// with the previous ones to find them by.
fn sender(workspace_id: WorkspaceId, m: &InboundMessage, name: Option<String>) -> ContactSighting {
    let mut who = ContactSighting {
        workspace_id,
        wa_id: m.from.clone(),
        user_id: m.user_id.clone(),
        parent_user_id: m.parent_user_id.clone(),
        name,
        change: None,
    };
    let moved = match &m.content {
        InboundContent::System(s) => s.identity_move(m.from.as_deref()),
        _ => None,
    };
    if let Some(moved) = moved {
        who.wa_id = moved.wa_id.or(who.wa_id);
        if moved.user_id.is_some() {
            who.user_id = moved.user_id;
            who.parent_user_id = moved.parent_user_id.or(who.parent_user_id);
        }
        who.change = Some(IdentityChange {
            previous_user_id: moved.previous_user_id,
            previous_wa_id: moved.previous_wa_id,
        });
    }
    who
}

fn record(
    batch: &InboundBatch,
    m: &InboundMessage,
    verified: &[(String, ChannelId)],
    channels: &ChannelDirectory,
) -> Option<InboundRecord> {
    let (workspace_id, channel_id) = workspace_of(verified, channels, &m.phone_number_id)?;
    if m.from.is_none() && m.user_id.is_none() {
        tracing::warn!(
            channel = %channel_id,
            wamid = %m.id,
            "an inbound message names no sender (no from, no from_user_id, not one contact): \
             kept unattributed, see GET /v1/inbound/unattributed"
        );
    }
    let name = batch
        .contacts
        .iter()
        .find(|c| {
            c.phone_number_id == m.phone_number_id
                && ((m.from.is_some() && c.wa_id == m.from)
                    || (m.user_id.is_some() && c.user_id == m.user_id))
        })
        .and_then(|c| c.name.clone());
    Some(InboundRecord {
        id: ids::prefixed("in_"),
        workspace_id: workspace_id.clone(),
        channel_id,
        meta_id: m.id.clone(),
        from: sender(workspace_id, m, name),
        kind: m.kind.as_str().to_string(),
        content: serde_json::to_string(&m.content).unwrap_or_else(|_| "null".into()),
        raw: m.raw.to_string(),
        context_id: m.context.as_ref().and_then(|c| c.id.clone()),
        sent_at: m.timestamp_ms(),
        opens_window: m.opens_window(),
        // Set afterwards, from the workspace's keywords (`super::consent::mark_keywords`).
        keyword: None,
    })
}
