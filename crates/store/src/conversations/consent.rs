//! Marketing consent on either back end: the contact's state, its history and the business
//! webhook event of each change, all written in the transaction of what caused it (a
//! `user_preferences` webhook, a keyword message, Meta's 131050, or the API).

use chasqui_domain::consent::ConsentSource;
use chasqui_domain::phone::wa_id_variants;
use chasqui_domain::WorkspaceId;
use serde_json::json;

use super::store::upsert_contact;
use super::*;
use crate::business_webhooks::{self, WebhookEvent};
use crate::sql::{args, for_update, Db, Row};
use crate::Millis;

/// The business webhook event of an opt-out.
pub(crate) const OPT_OUT_EVENT: &str = "contact.marketing_opt_out";
/// The business webhook event of an opt-in (a stop lifted).
pub(crate) const OPT_IN_EVENT: &str = "contact.marketing_opt_in";

/// The longest detail kept (a keyword message is short; Meta's texts are a sentence).
const MAX_DETAIL_CHARS: usize = 256;

/// One change to apply to one contact.
pub(crate) struct Change<'a> {
    pub opted_out: bool,
    pub source: ConsentSource,
    pub detail: Option<&'a str>,
    pub event_key: Option<&'a str>,
}

/// Applies `change` to contact `contact_id` (locked while read): unless the contact already
/// has that state, or the change's key is in its history, sets the state, appends the history
/// entry and emits the business webhook event. Answers whether it changed anything.
pub(crate) async fn change_marketing(
    db: &mut dyn Db,
    workspace_id: &WorkspaceId,
    contact_id: &str,
    change: &Change<'_>,
    now: Millis,
) -> Result<bool> {
    if let Some(key) = change.event_key {
        let seen = db
            .fetch_optional(
                "SELECT 1 FROM contact_history WHERE contact_id = $1 AND event_key = $2",
                args![contact_id, key],
            )
            .await?;
        if seen.is_some() {
            return Ok(false);
        }
    }
    let sql = format!(
        "SELECT marketing_opted_out, wa_id, user_id, phone FROM contacts \
         WHERE workspace_id = $1 AND id = $2{}",
        for_update(db)
    );
    let Some(mut row) = db
        .fetch_optional(&sql, args![workspace_id, contact_id])
        .await?
    else {
        return Ok(false);
    };
    let current: bool = row.get()?;
    if current == change.opted_out {
        return Ok(false);
    }
    let (wa_id, user_id, phone): (Option<String>, Option<String>, Option<String>) =
        (row.get()?, row.get()?, row.get()?);
    let detail: Option<String> = change
        .detail
        .map(|d| d.trim().chars().take(MAX_DETAIL_CHARS).collect())
        .filter(|d: &String| !d.is_empty());
    db.execute(
        "UPDATE contacts SET marketing_opted_out = $3, marketing_changed_at = $4, \
         marketing_source = $5, marketing_detail = $6, updated_at = $4 \
         WHERE workspace_id = $1 AND id = $2",
        args![
            workspace_id,
            contact_id,
            change.opted_out,
            now,
            change.source.as_str(),
            &detail
        ],
    )
    .await?;
    let kind = if change.opted_out {
        OPT_OUT_EVENT
    } else {
        OPT_IN_EVENT
    };
    db.execute(
        "INSERT INTO contact_history (workspace_id, contact_id, change, source, detail, \
         event_key, at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
        args![
            workspace_id,
            contact_id,
            history_change(change.opted_out),
            change.source.as_str(),
            &detail,
            change.event_key,
            now
        ],
    )
    .await?;
    let data = json!({
        "contact_id": contact_id,
        "wa_id": wa_id,
        "user_id": user_id,
        "phone": phone,
        "marketing_opted_out": change.opted_out,
        "source": change.source.as_str(),
        "detail": detail,
        "at": now,
    });
    let mut event = WebhookEvent::new(workspace_id, kind, data.to_string(), now);
    // A contact's opt-out and opt-in reach the business in the order they happened.
    event.subject = Some(contact_id.to_string());
    business_webhooks::emit(db, &event).await?;
    Ok(true)
}

/// The history's name of a change to `opted_out`.
fn history_change(opted_out: bool) -> &'static str {
    if opted_out {
        "marketing_opt_out"
    } else {
        "marketing_opt_in"
    }
}

/// A recipient's marketing opt-out learnt from Meta refusing a send with 131050.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct MarketingStop {
    pub workspace_id: WorkspaceId,
    /// The message's recipient (phone digits, or a BSUID).
    pub recipient: String,
    /// The refused message.
    pub message_id: String,
    /// Meta's error title.
    pub title: String,
    /// When the failure was recorded.
    pub at: Millis,
}

/// Marks the recipients of `stops` opted out of marketing (their contact found by either
/// written form of the number, or created), in the writer's transaction.
pub(crate) async fn apply_meta_stops(db: &mut dyn Db, stops: &[MarketingStop]) -> Result<()> {
    for stop in stops {
        let now = stop.at;
        let forms = wa_id_variants(&stop.recipient);
        let first = forms
            .first()
            .cloned()
            .unwrap_or_else(|| stop.recipient.clone());
        let second = forms.get(1).cloned().unwrap_or_else(|| first.clone());
        // A send to a BSUID names the person by `user_id` (a BSUID holds a dot; digits never).
        let by_user_id = stop.recipient.contains('.');
        let sql = if by_user_id {
            "SELECT id FROM contacts WHERE workspace_id = $1 AND user_id IN ($2, $3) \
             ORDER BY id LIMIT 1"
        } else {
            "SELECT id FROM contacts WHERE workspace_id = $1 AND wa_id IN ($2, $3) \
             ORDER BY id LIMIT 1"
        };
        let found = db
            .fetch_optional(sql, args![&stop.workspace_id, &first, &second])
            .await?;
        let contact_id: String = match found {
            Some(mut r) => r.get()?,
            None => {
                let who = ContactSighting {
                    workspace_id: stop.workspace_id.clone(),
                    wa_id: (!by_user_id).then(|| stop.recipient.clone()),
                    user_id: by_user_id.then(|| stop.recipient.clone()),
                    name: None,
                    parent_user_id: None,
                    change: None,
                };
                upsert_contact(db, &who, now).await?.0
            }
        };
        let detail = format!("{} (message {})", stop.title, stop.message_id);
        let key = format!("meta_error:{}", stop.message_id);
        let change = Change {
            opted_out: true,
            source: ConsentSource::MetaError,
            detail: Some(&detail),
            event_key: Some(&key),
        };
        change_marketing(db, &stop.workspace_id, &contact_id, &change, now).await?;
    }
    Ok(())
}

/// Applies an inbound keyword message to its sender, contact `contact_id`.
pub(crate) async fn apply_keyword(
    db: &mut dyn Db,
    m: &InboundRecord,
    contact_id: &str,
    now: Millis,
) -> Result<()> {
    let Some(keyword) = &m.keyword else {
        return Ok(());
    };
    let change = Change {
        opted_out: keyword.opted_out,
        source: ConsentSource::Keyword,
        detail: Some(&keyword.text),
        event_key: None,
    };
    change_marketing(db, &m.workspace_id, contact_id, &change, now).await?;
    Ok(())
}

/// What [`ConversationStore::record_consent`] is given.
pub(super) struct Record {
    pub workspace_id: WorkspaceId,
    pub changes: Vec<ConsentChange>,
    pub now: Millis,
}

/// Records consent changes, each for the contact its sighting names (created if missing).
pub(super) async fn record_consent(db: &mut dyn Db, r: &Record) -> Result<ConsentReport> {
    let mut report = ConsentReport::default();
    for c in &r.changes {
        let (contact_id, created) = upsert_contact(db, &c.who, r.now).await?;
        report.contacts_created += usize::from(created);
        let change = Change {
            opted_out: c.opted_out,
            source: c.source,
            detail: c.detail.as_deref(),
            event_key: c.event_key.as_deref(),
        };
        if change_marketing(db, &r.workspace_id, &contact_id, &change, r.now).await? {
            report.changed += 1;
        } else {
            report.unchanged += 1;
        }
    }
    Ok(report)
}

fn history_entry(r: &mut Row) -> Result<ContactHistoryEntry> {
    let seq = r.get()?;
    let change: String = r.get()?;
    let source: String = r.get()?;
    let source = ConsentSource::parse(&source)
        .ok_or_else(|| crate::StoreError::Corrupt(format!("consent source {source:?}")))?;
    Ok(ContactHistoryEntry {
        seq,
        marketing_opted_out: change == history_change(true),
        change,
        source,
        detail: r.get()?,
        at: r.get()?,
    })
}

/// A contact's history after `after` (its seq), oldest first; `None` without such a contact.
pub(super) async fn history(
    db: &mut dyn Db,
    ws: &str,
    id: &str,
    after: Option<i64>,
    limit: i64,
) -> Result<Option<Vec<ContactHistoryEntry>>> {
    let exists = db
        .fetch_optional(
            "SELECT 1 FROM contacts WHERE workspace_id = $1 AND id = $2",
            args![ws, id],
        )
        .await?;
    if exists.is_none() {
        return Ok(None);
    }
    let entries = db
        .fetch_map(
            "SELECT seq, change, source, detail, at FROM contact_history \
             WHERE workspace_id = $1 AND contact_id = $2 \
             AND ($3 IS NULL OR seq > $3) ORDER BY seq LIMIT $4",
            args![ws, id, after, limit],
            history_entry,
        )
        .await?;
    Ok(Some(entries))
}
