//! What both back ends share about message rows: their columns, their row mapper, and the
//! timeline kept on the row as one JSON object per line.
//!
//! The timeline is appended to (`timeline || $n`) and never rewritten, so recording an event
//! writes the one row the status change writes anyway, and no earlier entry is decoded or
//! encoded again.

use async_trait::async_trait;
use chasqui_domain::pricing::{Pricing, PricingCategory, PricingModel, PricingType};
use chasqui_domain::MessageId;
use chasqui_domain::{ChannelId, WorkspaceId};
use chasqui_domain::{MessageStatus, MetaError};
use serde::{Deserialize, Serialize};

use crate::listing::{message_listing, Bound};
use crate::plan::{meta_error, NewEvent};
use crate::sql::{args, Db, Row, Sql, Value};
use crate::tenancy::{channel, CHANNEL_COLUMNS};
use crate::{
    Channel, MessageDetail, MessageEvent, MessageFilter, MessageRecord, Millis, Result, StoreError,
};

/// Columns read back as a [`MessageRecord`], in its field order.
pub(crate) const MESSAGE_COLUMNS: &str =
    "id, seq, workspace_id, channel_id, recipient, kind, body, status, wamid, \
     error_code, error_title, error_details, attempts, created_at, updated_at, \
     pricing_model, pricing_category, pricing_type, billable";

/// How many columns [`MESSAGE_COLUMNS`] names: the index of the first column after them.
pub(crate) const MESSAGE_COLUMN_COUNT: usize = 19;

/// The typed pricing of the stored columns `pricing_model`, `pricing_category`, `pricing_type`
/// and `billable`; `None` until a status webhook carried one.
pub(crate) fn pricing(
    model: Option<String>,
    category: Option<String>,
    kind: Option<String>,
    billable: Option<bool>,
) -> Result<Option<Pricing>> {
    let (Some(model), Some(category)) = (model, category) else {
        return Ok(None);
    };
    let corrupt = |what: &str, v: &str| StoreError::Corrupt(format!("pricing {what} {v:?}"));
    Ok(Some(Pricing {
        model: PricingModel::parse(&model).ok_or_else(|| corrupt("model", &model))?,
        category: PricingCategory::parse(&category)
            .ok_or_else(|| corrupt("category", &category))?,
        kind: match kind {
            Some(k) => Some(PricingType::parse(&k).ok_or_else(|| corrupt("type", &k))?),
            None => None,
        },
        billable,
    }))
}

/// The stored columns of `pricing`, in [`MESSAGE_COLUMNS`] order.
pub(crate) fn pricing_columns(
    pricing: Option<&Pricing>,
) -> (Option<&str>, Option<&str>, Option<&str>, Option<bool>) {
    match pricing {
        Some(p) => (
            Some(p.model.as_str()),
            Some(p.category.as_str()),
            p.kind.as_ref().map(|k| k.as_str()),
            p.billable,
        ),
        None => (None, None, None, None),
    }
}

/// A stored status, or corrupt data: never a guess.
pub(crate) fn parse_status(text: &str) -> Result<MessageStatus> {
    MessageStatus::parse(text)
        .ok_or_else(|| StoreError::Corrupt(format!("unknown status {text:?}")))
}

/// Reads a message from [`MESSAGE_COLUMNS`].
pub(crate) fn message(r: &mut Row) -> Result<MessageRecord> {
    Ok(MessageRecord {
        id: r.get()?,
        seq: r.get()?,
        workspace_id: r.get()?,
        channel_id: r.get()?,
        recipient: r.get()?,
        kind: r.get()?,
        body: r.get()?,
        status: parse_status(&r.get::<String>()?)?,
        wamid: r.get()?,
        error: meta_error(r.get()?, r.get()?, r.get()?),
        attempts: r.get()?,
        created_at: r.get()?,
        updated_at: r.get()?,
        pricing: pricing(r.get()?, r.get()?, r.get()?, r.get()?)?,
    })
}

/// One timeline line as stored.
#[derive(Serialize, Deserialize)]
struct Line<'a> {
    status: std::borrow::Cow<'a, str>,
    at: Millis,
    source: std::borrow::Cow<'a, str>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    wamid: Option<std::borrow::Cow<'a, str>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    error: Option<MetaError>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    detail: Option<std::borrow::Cow<'a, str>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    data: Option<serde_json::Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    dedupe_key: Option<std::borrow::Cow<'a, str>>,
}

/// The line that records `ev`, newline included.
pub(crate) fn line(ev: &NewEvent) -> String {
    let stored = Line {
        status: ev.status.as_str().into(),
        at: ev.at,
        source: ev.source.into(),
        wamid: ev.wamid.as_deref().map(Into::into),
        error: ev.error.clone(),
        detail: ev.detail.as_deref().map(Into::into),
        data: ev.data.clone(),
        dedupe_key: ev.dedupe_key.as_deref().map(Into::into),
    };
    // A struct of strings, numbers and JSON values always serializes.
    let mut text = serde_json::to_string(&stored).unwrap_or_default();
    text.push('\n');
    text
}

fn lines(timeline: &str) -> impl Iterator<Item = Result<Line<'_>>> {
    timeline.lines().filter(|l| !l.is_empty()).map(|l| {
        serde_json::from_str::<Line<'_>>(l)
            .map_err(|e| StoreError::Corrupt(format!("timeline entry {l:?}: {e}")))
    })
}

/// The stored entries of a timeline, oldest first.
pub(crate) fn events(timeline: &str) -> Result<Vec<MessageEvent>> {
    lines(timeline)
        .map(|l| {
            let l = l?;
            Ok(MessageEvent {
                status: l.status.into_owned(),
                at: l.at,
                source: l.source.into_owned(),
                wamid: l.wamid.map(|w| w.into_owned()),
                error: l.error,
                detail: l.detail.map(|d| d.into_owned()),
                data: l.data,
            })
        })
        .collect()
}

/// The dedupe keys a timeline holds (what makes a repeated webhook a no-op).
pub(crate) fn dedupe_keys(timeline: &str) -> Result<Vec<String>> {
    let mut keys = Vec::new();
    for l in lines(timeline) {
        if let Some(k) = l?.dedupe_key {
            keys.push(k.into_owned());
        }
    }
    Ok(keys)
}

/// One message as a dashboard counts it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecentOutcome {
    /// When it was accepted.
    pub created_at: Millis,
    /// Its status now.
    pub status: MessageStatus,
    /// Meta's error code, for a failure.
    pub error_code: Option<i64>,
    /// Meta's error title, for a failure.
    pub error_title: Option<String>,
}

/// The message reads and the work bookkeeping off the hot path, written once for both back ends.
#[async_trait]
pub trait MessageStore: Send + Sync {
    /// One message of a workspace with its whole timeline.
    async fn get_message(
        &self,
        workspace_id: &WorkspaceId,
        id: &MessageId,
    ) -> Result<Option<MessageDetail>>;
    /// A page of a workspace's messages, newest first.
    async fn list_messages(
        &self,
        workspace_id: &WorkspaceId,
        filter: &MessageFilter,
    ) -> Result<Vec<MessageRecord>>;
    /// The latest `limit` messages of a workspace, newest first, as much as a dashboard needs:
    /// when accepted, their status and Meta's error. One index range, whatever the workspace's
    /// size.
    async fn recent_outcomes(
        &self,
        workspace_id: &WorkspaceId,
        limit: i64,
    ) -> Result<Vec<RecentOutcome>>;
    /// Takes or renews dispatch leases on channels: those unowned, expired, or already `owner`'s.
    async fn lease_channels(&self, owner: &str, now: Millis, ttl_ms: i64) -> Result<Vec<Channel>>;
    /// Gives up `owner`'s channel leases (clean shutdown).
    async fn release_channels(&self, owner: &str) -> Result<()>;
    /// Returns `owner`'s claimed-but-unsent messages to the queue (clean shutdown).
    async fn release_claims(
        &self,
        owner: &str,
        message_ids: &[MessageId],
        now: Millis,
    ) -> Result<()>;
    /// Unknown outcomes of a channel whose reconciliation wait has ended.
    async fn expired_unknowns(
        &self,
        channel_id: &ChannelId,
        now: Millis,
        limit: i64,
    ) -> Result<Vec<MessageId>>;
}

impl From<Bound<'_>> for Value {
    fn from(b: Bound<'_>) -> Self {
        match b {
            Bound::Text(t) => t.into(),
            Bound::Int(n) => n.into(),
        }
    }
}

async fn get_message(db: &mut dyn Db, ws: &str, id: &MessageId) -> Result<Option<MessageDetail>> {
    let sql = format!(
        "SELECT {MESSAGE_COLUMNS}, rendered, timeline FROM messages \
         WHERE id = $1 AND workspace_id = $2"
    );
    let Some(mut row) = db.fetch_optional(&sql, args![id, ws]).await? else {
        return Ok(None);
    };
    let record = message(&mut row)?;
    let rendered: Option<String> = row.get()?;
    let timeline: String = row.get()?;
    let mut detail = MessageDetail::new(record, events(&timeline)?);
    detail.rendered = rendered;
    Ok(Some(detail))
}

#[async_trait]
impl<B: Sql> MessageStore for B {
    async fn get_message(
        &self,
        workspace_id: &WorkspaceId,
        id: &MessageId,
    ) -> Result<Option<MessageDetail>> {
        self.lookup((workspace_id.to_string(), id.clone()), |db, (ws, id)| {
            Box::pin(get_message(db, ws, id))
        })
        .await
    }

    async fn list_messages(
        &self,
        workspace_id: &WorkspaceId,
        filter: &MessageFilter,
    ) -> Result<Vec<MessageRecord>> {
        self.read((workspace_id.to_string(), filter.clone()), |db, (ws, f)| {
            Box::pin(async move {
                let (sql, values) = message_listing(MESSAGE_COLUMNS, ws, f, |n| format!("${n}"));
                let values = values.into_iter().map(Value::from).collect();
                db.fetch_map(&sql, values, message).await
            })
        })
        .await
    }

    async fn recent_outcomes(
        &self,
        workspace_id: &WorkspaceId,
        limit: i64,
    ) -> Result<Vec<RecentOutcome>> {
        self.read((workspace_id.to_string(), limit), |db, (ws, limit)| {
            Box::pin(async move {
                db.fetch_map(
                    "SELECT created_at, status, error_code, error_title FROM messages \
                     WHERE workspace_id = $1 ORDER BY seq DESC LIMIT $2",
                    args![ws, *limit],
                    |r| {
                        let created_at = r.get()?;
                        let status: String = r.get()?;
                        Ok(RecentOutcome {
                            created_at,
                            status: MessageStatus::parse(&status).ok_or_else(|| {
                                crate::StoreError::Corrupt(format!("message status {status:?}"))
                            })?,
                            error_code: r.get()?,
                            error_title: r.get()?,
                        })
                    },
                )
                .await
            })
        })
        .await
    }

    async fn lease_channels(&self, owner: &str, now: Millis, ttl_ms: i64) -> Result<Vec<Channel>> {
        self.write((owner.to_string(), now, ttl_ms), |db, (owner, now, ttl)| {
            Box::pin(async move {
                let sql = format!(
                    "UPDATE channels SET dispatch_owner = $1, dispatch_lease_until = $2 + $3 \
                     WHERE enabled AND (dispatch_owner = $1 OR dispatch_owner IS NULL \
                     OR dispatch_lease_until < $2) AND workspace_id NOT IN \
                     (SELECT id FROM workspaces WHERE disabled_at IS NOT NULL) \
                     RETURNING {CHANNEL_COLUMNS}"
                );
                db.fetch_map(&sql, args![owner, *now, *ttl], channel).await
            })
        })
        .await
    }

    async fn release_channels(&self, owner: &str) -> Result<()> {
        self.write(owner.to_string(), |db, owner| {
            Box::pin(async move {
                db.execute(
                    "UPDATE channels SET dispatch_owner = NULL, dispatch_lease_until = 0 \
                     WHERE dispatch_owner = $1",
                    args![owner],
                )
                .await?;
                Ok(())
            })
        })
        .await
    }

    async fn release_claims(
        &self,
        owner: &str,
        message_ids: &[MessageId],
        now: Millis,
    ) -> Result<()> {
        let state = (owner.to_string(), message_ids.to_vec(), now);
        self.write(state, |db, (owner, ids, now)| {
            Box::pin(async move {
                for id in ids {
                    db.execute(
                        "UPDATE messages SET state = 'ready', due_at = $3, lease_owner = NULL, \
                         lease_until = 0 WHERE id = $1 AND state = 'leased' AND lease_owner = $2",
                        args![id, owner, *now],
                    )
                    .await?;
                }
                Ok(())
            })
        })
        .await
    }

    async fn expired_unknowns(
        &self,
        channel_id: &ChannelId,
        now: Millis,
        limit: i64,
    ) -> Result<Vec<MessageId>> {
        self.read(
            (channel_id.to_string(), now, limit),
            |db, (ch, now, limit)| {
                Box::pin(async move {
                    let rows = db
                        .fetch_all(
                            "SELECT id FROM messages WHERE channel_id = $1 AND state = 'unknown' \
                         AND due_at <= $2 ORDER BY seq LIMIT $3",
                            args![ch, *now, *limit],
                        )
                        .await?;
                    rows.into_iter().map(|mut r| r.get()).collect()
                })
            },
        )
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_timeline_reads_back_what_was_appended_in_order() {
        let mut first = NewEvent::new("accepted", 10, "dispatcher");
        first.wamid = Some("wamid.X".into());
        first.dedupe_key = Some("provider:sent".into());
        let mut second = NewEvent::new("failed", 20, "webhook");
        second.error = Some(MetaError {
            code: 131047,
            title: "Re-engagement \"message\"\nneeded".into(),
            details: None,
        });
        second.data = Some(serde_json::json!({"timestamp": 5}));
        let timeline = line(&first) + &line(&second);
        let got = events(&timeline).unwrap();
        assert_eq!(got.len(), 2);
        assert_eq!(got[0].status, "accepted");
        assert_eq!(got[0].wamid.as_deref(), Some("wamid.X"));
        assert_eq!(got[1].error.as_ref().unwrap().code, 131047);
        assert_eq!(got[1].data, Some(serde_json::json!({"timestamp": 5})));
        assert_eq!(dedupe_keys(&timeline).unwrap(), ["provider:sent"]);
    }

    #[test]
    fn a_garbled_entry_is_corrupt_data() {
        assert!(matches!(
            events("{\"status\":1}\n"),
            Err(StoreError::Corrupt(_))
        ));
        assert!(matches!(parse_status("bogus"), Err(StoreError::Corrupt(_))));
    }
}
