//! Two-way messaging on either back end: the webhook inbox, contacts, conversations and inbound
//! messages.

use async_trait::async_trait;
use chasqui_domain::consent::ConsentSource;
use chasqui_domain::{ChannelId, WorkspaceId};

use super::*;
use crate::business_webhooks::{self, WebhookEvent};
use crate::error::Constraint;
use crate::sql::{args, for_update, greatest, skip_locked, Db, Dialect, Row, Sql};
use crate::{Millis, NewContact, Result, StoreError};

fn conversation(r: &mut Row) -> Result<Conversation> {
    let id = r.get()?;
    let workspace_id = r.get()?;
    let channel_id = r.get()?;
    let contact_id = r.get()?;
    let last_inbound_at = r.get()?;
    let last_message_at: Millis = r.get()?;
    let created_at = r.get()?;
    let unread = r.get()?;
    let last_outbound: Option<Millis> = r.get()?;
    Ok(Conversation {
        id,
        workspace_id,
        channel_id,
        contact_id,
        last_inbound_at,
        last_message_at: last_message_at.max(last_outbound.unwrap_or(0)),
        created_at,
        unread,
    })
}

/// Whether an inbound message of `kind` is one more for someone to read: everything a person
/// wrote or sent, reactions included, but not WhatsApp's own notices nor the edit or deletion
/// of a message already counted. Matched kind by kind, so a new kind is decided here.
fn counts_as_unread(kind: &str) -> bool {
    use chasqui_domain::inbound::InboundKind as K;
    match K::parse(kind) {
        K::System | K::Edit | K::Revoke => false,
        K::Text
        | K::Image
        | K::Video
        | K::Audio
        | K::Voice
        | K::Document
        | K::Sticker
        | K::Location
        | K::Contacts
        | K::Reaction
        | K::ButtonReply
        | K::ListReply
        | K::FlowReply
        | K::CallPermissionReply
        | K::Button
        | K::Order
        | K::Unsupported
        | K::Other(_) => true,
    }
}

fn inbox_item(r: &mut Row) -> Result<InboxItem> {
    let seq = r.get()?;
    let channels: String = r.get()?;
    Ok(InboxItem {
        seq,
        channels: serde_json::from_str(&channels)
            .map_err(|e| StoreError::Corrupt(format!("inbox item {seq} channels: {e}")))?,
        body: r.get()?,
        attempts: r.get()?,
    })
}

/// A JSON column written by the store itself.
fn json_text<T: serde::Serialize>(value: &T) -> Result<String> {
    serde_json::to_string(value).map_err(|e| StoreError::Corrupt(e.to_string()))
}

/// A JSON column of a history entry, or corrupt data.
fn json_value(text: &str, what: &str) -> Result<serde_json::Value> {
    serde_json::from_str(text).map_err(|e| StoreError::Corrupt(format!("{what}: {e}")))
}

/// Finds the contact a sighting names (by wa_id, then by user_id), creating or completing it.
/// Returns its id and whether it was created.
pub(super) async fn upsert_contact(
    db: &mut dyn Db,
    s: &ContactSighting,
    now: Millis,
) -> Result<(String, bool)> {
    if let Some(change) = &s.change {
        apply_identity_change(db, s, change, now).await?;
    }
    let find = format!(
        "SELECT id FROM contacts WHERE workspace_id = $1 \
         AND (($2 IS NOT NULL AND wa_id = $2) OR ($3 IS NOT NULL AND user_id = $3)) \
         ORDER BY (wa_id = $2) DESC NULLS LAST LIMIT 1{}",
        for_update(db)
    );
    // Two tries: a concurrent insert of the same person (another PostgreSQL instance) makes
    // ours conflict, then it is found.
    for _ in 0..2 {
        let found = db
            .fetch_optional(&find, args![&s.workspace_id, &s.wa_id, &s.user_id])
            .await?;
        if let Some(mut row) = found {
            let id: String = row.get()?;
            // Fill what was missing; never take an id another contact already holds.
            db.execute(
                "UPDATE contacts SET \
                   wa_id = CASE WHEN wa_id IS NULL AND NOT EXISTS (SELECT 1 FROM contacts o \
                     WHERE o.workspace_id = $2 AND o.wa_id = $3) THEN $3 ELSE wa_id END, \
                   phone = COALESCE(phone, $3), \
                   user_id = CASE WHEN user_id IS NULL AND NOT EXISTS (SELECT 1 FROM contacts o \
                     WHERE o.workspace_id = $2 AND o.user_id = $4) THEN $4 ELSE user_id END, \
                   profile_name = COALESCE($5, profile_name), \
                   name = COALESCE(name, $5), \
                   parent_user_id = COALESCE($7, parent_user_id), \
                   updated_at = $6 \
                 WHERE id = $1",
                args![
                    &id,
                    &s.workspace_id,
                    &s.wa_id,
                    &s.user_id,
                    &s.name,
                    now,
                    &s.parent_user_id
                ],
            )
            .await?;
            return Ok((id, false));
        }
        let created = db
            .fetch_optional(
                "INSERT INTO contacts (id, workspace_id, wa_id, user_id, phone, name, \
                 profile_name, created_at, updated_at, parent_user_id) \
                 VALUES ($1, $2, $3, $4, $3, $5, $5, $6, $6, $7) \
                 ON CONFLICT DO NOTHING RETURNING id",
                args![
                    crate::new_id("ct_"),
                    &s.workspace_id,
                    &s.wa_id,
                    &s.user_id,
                    &s.name,
                    now,
                    &s.parent_user_id
                ],
            )
            .await?;
        if let Some(mut row) = created {
            return Ok((row.get()?, true));
        }
    }
    Err(StoreError::Conflict(format!(
        "contact {:?} of workspace {} kept changing while it was recorded",
        s.wa_id, s.workspace_id
    )))
}

/// Moves the contact that had the previous ids to the new ones Meta reports (a number change, or
/// a BSUID change), unless another contact already holds a new one: that one is then the person,
/// and nothing is guessed.
async fn apply_identity_change(
    db: &mut dyn Db,
    s: &ContactSighting,
    change: &IdentityChange,
    now: Millis,
) -> Result<()> {
    if let (Some(previous), Some(new)) = (&change.previous_user_id, &s.user_id) {
        db.execute(
            "UPDATE contacts SET user_id = $3, parent_user_id = COALESCE($4, parent_user_id), \
             updated_at = $5 WHERE workspace_id = $1 AND user_id = $2 AND NOT EXISTS \
             (SELECT 1 FROM contacts o WHERE o.workspace_id = $1 AND o.user_id = $3)",
            args![&s.workspace_id, previous, new, &s.parent_user_id, now],
        )
        .await?;
    }
    if let (Some(previous), Some(new)) = (&change.previous_wa_id, &s.wa_id) {
        db.execute(
            "UPDATE contacts SET wa_id = $3, phone = $3, updated_at = $4 \
             WHERE workspace_id = $1 AND wa_id = $2 AND NOT EXISTS \
             (SELECT 1 FROM contacts o WHERE o.workspace_id = $1 AND o.wa_id = $3)",
            args![&s.workspace_id, previous, new, now],
        )
        .await?;
    }
    Ok(())
}

/// The conversation of a contact on a channel, created if missing.
async fn conversation_id(
    db: &mut dyn Db,
    workspace_id: &WorkspaceId,
    channel_id: &ChannelId,
    contact_id: &str,
    now: Millis,
) -> Result<String> {
    db.execute(
        "INSERT INTO conversations (id, workspace_id, channel_id, contact_id, last_message_at, \
         created_at) VALUES ($1, $2, $3, $4, $5, $5) ON CONFLICT (channel_id, contact_id) DO NOTHING",
        args![crate::new_id("cv_"), workspace_id, channel_id, contact_id, now],
    )
    .await?;
    db.scalar(
        "SELECT id FROM conversations WHERE channel_id = $1 AND contact_id = $2",
        args![channel_id, contact_id],
    )
    .await
}

/// What [`ConversationStore::record_inbound`] is given.
struct Inbound {
    sightings: Vec<ContactSighting>,
    messages: Vec<InboundRecord>,
    now: Millis,
}

async fn record_inbound(db: &mut dyn Db, i: &Inbound) -> Result<InboundReport> {
    let now = i.now;
    let mut report = InboundReport::default();
    for s in &i.sightings {
        report.contacts_created += usize::from(upsert_contact(db, s, now).await?.1);
    }
    let touch = format!(
        "UPDATE conversations SET last_message_at = {g}(last_message_at, $4), \
         last_inbound_at = CASE WHEN $3 THEN {g}(COALESCE(last_inbound_at, 0), $2) \
         ELSE last_inbound_at END, unread = unread + CASE WHEN $5 THEN 1 ELSE 0 END \
         WHERE id = $1",
        g = greatest(db)
    );
    for m in &i.messages {
        if m.from.wa_id.is_none() && m.from.user_id.is_none() {
            let kept = db
                .execute(
                    "INSERT INTO unattributed_inbound (id, workspace_id, channel_id, meta_id, \
                     kind, content, raw, sent_at, received_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) \
                     ON CONFLICT (channel_id, meta_id) DO NOTHING",
                    args![
                        &m.id,
                        &m.workspace_id,
                        &m.channel_id,
                        &m.meta_id,
                        &m.kind,
                        &m.content,
                        &m.raw,
                        m.sent_at,
                        now
                    ],
                )
                .await?;
            report.unattributed += kept as usize;
            report.duplicates += usize::from(kept == 0);
            continue;
        }
        let (contact_id, created) = upsert_contact(db, &m.from, now).await?;
        report.contacts_created += usize::from(created);
        let conversation =
            conversation_id(db, &m.workspace_id, &m.channel_id, &contact_id, now).await?;
        let inserted = db
            .execute(
                "INSERT INTO inbound_messages (id, workspace_id, channel_id, conversation_id, \
                 contact_id, meta_id, kind, content, raw, context_id, sent_at, received_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) \
                 ON CONFLICT (channel_id, meta_id) DO NOTHING",
                args![
                    &m.id,
                    &m.workspace_id,
                    &m.channel_id,
                    &conversation,
                    &contact_id,
                    &m.meta_id,
                    &m.kind,
                    &m.content,
                    &m.raw,
                    &m.context_id,
                    m.sent_at,
                    now
                ],
            )
            .await?;
        if inserted == 0 {
            report.duplicates += 1;
            continue;
        }
        report.stored += 1;
        let ev = WebhookEvent::inbound(m, &contact_id, &conversation, now);
        business_webhooks::emit(db, &ev).await?;
        consent::apply_keyword(db, m, &contact_id, now).await?;
        let unread = counts_as_unread(&m.kind);
        db.execute(
            &touch,
            args![&conversation, m.sent_at, m.opens_window, now, unread],
        )
        .await?;
    }
    Ok(report)
}

async fn load_contact(db: &mut dyn Db, ws: &str, id: &str, lock: bool) -> Result<Option<Contact>> {
    let sql = format!(
        "SELECT {CONTACT_COLUMNS} FROM contacts WHERE workspace_id = $1 AND id = $2{}",
        if lock { for_update(db) } else { "" }
    );
    db.fetch_one_map(&sql, args![ws, id], contact).await
}

/// What [`ConversationStore::update_contact`] is given.
struct Update {
    workspace_id: WorkspaceId,
    id: String,
    patch: ContactPatch,
    now: Millis,
}

async fn update_contact(db: &mut dyn Db, u: &Update) -> Result<Option<Contact>> {
    let Some(mut c) = load_contact(db, &u.workspace_id, &u.id, true).await? else {
        return Ok(None);
    };
    u.patch.apply_to(&mut c);
    c.updated_at = u.now;
    if let Some(opted_out) = u.patch.marketing_opted_out {
        let change = consent::Change {
            opted_out,
            source: ConsentSource::Api,
            detail: None,
            event_key: None,
        };
        if consent::change_marketing(db, &u.workspace_id, &u.id, &change, u.now).await? {
            c.marketing = MarketingConsent {
                opted_out,
                changed_at: Some(u.now),
                source: Some(ConsentSource::Api),
                detail: None,
            };
        }
    }
    let result = db
        .execute(
            "UPDATE contacts SET wa_id = $3, user_id = $4, phone = $5, name = $6, email = $7, \
             tags = $8, custom_fields = $9, opted_out = $10, updated_at = $11 \
             WHERE workspace_id = $1 AND id = $2",
            args![
                &u.workspace_id,
                &u.id,
                &c.wa_id,
                &c.user_id,
                &c.phone,
                &c.name,
                &c.email,
                json_text(&c.tags)?,
                c.custom_fields.to_string(),
                c.opted_out,
                u.now
            ],
        )
        .await;
    match result {
        Ok(_) => {
            business_webhooks::emit(db, &WebhookEvent::contact(&c, u.now)).await?;
            Ok(Some(c))
        }
        Err(e) if e.constraint() == Some(Constraint::Unique) => Err(StoreError::Conflict(
            "another contact of this workspace has that wa_id or user_id".into(),
        )),
        Err(e) => Err(e),
    }
}

async fn create_contact(db: &mut dyn Db, ws: &str, n: &NewContact, now: Millis) -> Result<Contact> {
    let id = crate::new_id("ct_");
    let inserted = db
        .execute(
            "INSERT INTO contacts (id, workspace_id, wa_id, phone, name, email, tags, \
             custom_fields, created_at, updated_at) \
             VALUES ($1, $2, $3, $3, $4, $5, $6, $7, $8, $8)",
            args![
                &id,
                ws,
                &n.phone,
                &n.name,
                &n.email,
                json_text(&n.tags)?,
                n.custom_fields.to_string(),
                now
            ],
        )
        .await;
    match inserted {
        Ok(_) => {}
        Err(e) => {
            return Err(match e.constraint() {
                Some(Constraint::Unique) => {
                    StoreError::Conflict("another contact of this workspace has that phone".into())
                }
                Some(Constraint::ForeignKey) => StoreError::Conflict(format!("no workspace {ws}")),
                _ => e,
            })
        }
    }
    load_contact(db, ws, &id, false)
        .await?
        .ok_or_else(|| StoreError::Corrupt(format!("contact {id} vanished")))
}

/// The SQL that matches contacts against a search (case-insensitive substring of their names,
/// numbers and email, `$2`) and a tag (`$3`), in each back end's own functions.
fn contact_search(db: &dyn Db) -> &'static str {
    match db.dialect() {
        Dialect::Sqlite => {
            "($2 IS NULL OR instr(lower(COALESCE(name, '') || ' ' || \
             COALESCE(profile_name, '') || ' ' || COALESCE(phone, '') || ' ' || \
             COALESCE(wa_id, '') || ' ' || COALESCE(user_id, '') || ' ' || \
             COALESCE(email, '')), lower($2)) > 0) \
             AND ($3 IS NULL OR EXISTS (SELECT 1 FROM json_each(tags) WHERE value = $3))"
        }
        Dialect::Postgres => {
            "($2 IS NULL OR position(lower($2) IN lower(concat_ws(' ', name, profile_name, \
             phone, wa_id, user_id, email))) > 0) \
             AND ($3 IS NULL OR jsonb_exists(tags::jsonb, $3))"
        }
    }
}

/// A recipient's opt-outs and last inbound time on a channel, found by `$column` (`wa_id` for
/// the two written forms of a number, `user_id` for a BSUID) equal to `$3` or `$4`.
macro_rules! recipient_state_sql {
    ($column:literal) => {
        concat!(
            "SELECT ct.opted_out, ct.marketing_opted_out, cv.last_inbound_at FROM contacts ct \
             LEFT JOIN conversations cv ON cv.contact_id = ct.id AND cv.channel_id = $2 \
             WHERE ct.workspace_id = $1 AND ct.",
            $column,
            " IN ($3, $4) ORDER BY cv.last_inbound_at DESC NULLS LAST LIMIT 1"
        )
    };
}

/// [`recipient_state_sql`] by phone number.
const RECIPIENT_STATE_BY_WA_ID: &str = recipient_state_sql!("wa_id");

/// [`recipient_state_sql`] by BSUID.
const RECIPIENT_STATE_BY_USER_ID: &str = recipient_state_sql!("user_id");

async fn conversation_entries(
    db: &mut dyn Db,
    cv: &Conversation,
    limit: i64,
) -> Result<Vec<ConversationEntry>> {
    let mut entries = Vec::new();
    let inbound = db
        .fetch_all(
            "SELECT id, kind, content, meta_id, received_at FROM inbound_messages \
             WHERE conversation_id = $1 ORDER BY seq DESC LIMIT $2",
            args![&cv.id, limit],
        )
        .await?;
    for mut r in inbound {
        let id: String = r.get()?;
        let kind = r.get()?;
        let content: String = r.get()?;
        entries.push(ConversationEntry {
            direction: "inbound",
            content: json_value(&content, &format!("inbound message {id}"))?,
            id,
            kind,
            status: "received".into(),
            wamid: r.get()?,
            at: r.get()?,
        });
    }
    // One query per form of the contact's number, each read newest first from
    // `messages_workspace_recipient` (one `OR` of the two walks the whole workspace's messages,
    // on SQLite); the same message found by both is kept once.
    let mut outbound = Vec::new();
    for column in ["wa_id", "phone"] {
        let sql = format!(
            "SELECT m.id, m.kind, m.body, m.status, m.wamid, m.created_at FROM messages m \
             JOIN contacts ct ON ct.id = $2 \
             WHERE m.workspace_id = $1 AND m.recipient = ct.{column} AND m.channel_id = $3 \
             ORDER BY m.seq DESC LIMIT $4"
        );
        let args = args![&cv.workspace_id, &cv.contact_id, &cv.channel_id, limit];
        outbound.extend(db.fetch_all(&sql, args).await?);
    }
    let mut seen = std::collections::HashSet::new();
    for mut r in outbound {
        let id: String = r.get()?;
        if !seen.insert(id.clone()) {
            continue;
        }
        let kind = r.get()?;
        let body: String = r.get()?;
        entries.push(ConversationEntry {
            direction: "outbound",
            content: json_value(&body, &format!("message {id}"))?,
            id,
            kind,
            status: r.get()?,
            wamid: r.get()?,
            at: r.get()?,
        });
    }
    Ok(super::latest_in_order(entries, limit))
}

/// A page of the inbox ([`ConversationStore::list_inbox`]), the first (`$1` the workspace, `$2`
/// the limit) or one after a cursor (`$3`, `$4`). Its columns: the conversation's as
/// [`conversation_columns`] has them (its latest outbound message being the joined `o`), the
/// contact's, the latest inbound message's, the latest outbound message's, then the row's own
/// activity time, for the cursor. The page is read in the order of `conversations_inbox`, and
/// each conversation costs three lookups by index (`inbound_messages_conversation`, and
/// [`latest_outbound_seq`]'s two), so its time does not grow with the workspace.
pub(crate) fn inbox_sql(db: &dyn Db, after_cursor: bool) -> String {
    let contact: Vec<String> = CONTACT_COLUMNS
        .split(',')
        .map(|c| format!("k.{}", c.trim()))
        .collect();
    // After a cursor, the first condition is the index range, the second drops the ties
    // already shown.
    let after = if after_cursor {
        " AND cv.last_message_at <= $3 AND (cv.last_message_at < $3 OR cv.id < $4)"
    } else {
        ""
    };
    format!(
        "SELECT cv.id, cv.workspace_id, cv.channel_id, cv.contact_id, cv.last_inbound_at, \
         cv.last_message_at, cv.created_at, cv.unread, o.created_at, {contact}, \
         i.kind, i.content, i.received_at, o.kind, o.body, o.rendered, o.created_at, \
         cv.last_message_at \
         FROM conversations cv JOIN contacts k ON k.id = cv.contact_id \
         LEFT JOIN inbound_messages i ON i.seq = (SELECT l.seq FROM inbound_messages l \
           WHERE l.conversation_id = cv.id ORDER BY l.seq DESC LIMIT 1) \
         LEFT JOIN messages o ON o.seq = {outbound} \
         WHERE cv.workspace_id = $1{after} \
         ORDER BY cv.last_message_at DESC, cv.id DESC LIMIT $2",
        contact = contact.join(", "),
        outbound = latest_outbound_seq(db, "cv", "k"),
    )
}

/// A string field of a JSON object, when it holds some text.
fn text_at(v: &serde_json::Value, key: &str) -> Option<String> {
    v.get(key)
        .and_then(serde_json::Value::as_str)
        .filter(|t| !t.is_empty())
        .map(str::to_string)
}

/// What a person reads of an inbound message, from its normalised content.
fn inbound_text(kind: &str, content: &serde_json::Value) -> Option<String> {
    match kind {
        "text" | "nfm_reply" | "system" => text_at(content, "body"),
        "image" | "video" | "document" => text_at(content, "caption"),
        "button_reply" | "list_reply" => text_at(content, "title"),
        "button" | "order" => text_at(content, "text"),
        "reaction" => text_at(content, "emoji"),
        "location" => text_at(content, "name").or_else(|| text_at(content, "address")),
        // The new content, read as its own kind.
        "edit" => {
            let kind = content.get("kind").and_then(serde_json::Value::as_str)?;
            inbound_text(kind, content.get("content")?)
        }
        _ => None,
    }
}

/// What a person reads of an outbound message, from the Meta body sent (the type's object is
/// under the kind's name), or a template's filled text.
fn outbound_text(kind: &str, body: &serde_json::Value, rendered: Option<String>) -> Option<String> {
    let object = body.get(kind).unwrap_or(&serde_json::Value::Null);
    match kind {
        "text" => text_at(object, "body"),
        "image" | "video" | "document" => text_at(object, "caption"),
        "interactive" => object.get("body").and_then(|b| text_at(b, "text")),
        "reaction" => text_at(object, "emoji"),
        "location" => text_at(object, "name").or_else(|| text_at(object, "address")),
        "template" => rendered.filter(|t| !t.is_empty()),
        _ => None,
    }
}

/// Reads one row of [`inbox_sql`].
fn inbox_row(r: &mut Row) -> Result<InboxConversation> {
    let conversation = conversation(r)?;
    let contact = contact(r)?;
    let inbound: (Option<String>, Option<String>, Option<Millis>) = (r.get()?, r.get()?, r.get()?);
    let outbound: (
        Option<String>,
        Option<String>,
        Option<String>,
        Option<Millis>,
    ) = (r.get()?, r.get()?, r.get()?, r.get()?);
    let sort_at: Millis = r.get()?;
    let inbound = match inbound {
        (Some(kind), Some(content), Some(at)) => {
            let what = format!("inbound message of conversation {}", conversation.id);
            let text = inbound_text(&kind, &json_value(&content, &what)?);
            Some(InboxPreview {
                direction: "inbound",
                kind,
                text,
                at,
            })
        }
        _ => None,
    };
    let outbound = match outbound {
        (Some(kind), Some(body), rendered, Some(at)) => {
            let what = format!("outbound message of conversation {}", conversation.id);
            let text = outbound_text(&kind, &json_value(&body, &what)?, rendered);
            Some(InboxPreview {
                direction: "outbound",
                kind,
                text,
                at,
            })
        }
        _ => None,
    };
    // The later of the two; on a tie the reply, which answers the message.
    let preview = match (inbound, outbound) {
        (Some(i), Some(o)) => Some(if i.at > o.at { i } else { o }),
        (i, o) => i.or(o),
    };
    Ok(InboxConversation {
        cursor: InboxCursor {
            last_message_at: sort_at,
            id: conversation.id.clone(),
        },
        conversation,
        contact,
        preview,
    })
}

#[async_trait]
impl<B: Sql> ConversationStore for B {
    async fn enqueue_webhook(
        &self,
        channels: &[(String, ChannelId)],
        body: &str,
        now: Millis,
    ) -> Result<i64> {
        let state = (json_text(&channels)?, body.to_string(), now);
        self.write(state, |db, (channels, body, now)| {
            Box::pin(db.scalar(
                "INSERT INTO webhook_inbox (channels, body, received_at) VALUES ($1, $2, $3) \
                 RETURNING seq",
                args![channels, body, *now],
            ))
        })
        .await
    }

    async fn claim_webhooks(
        &self,
        owner: &str,
        now: Millis,
        lease_ms: i64,
        limit: i64,
    ) -> Result<Vec<InboxItem>> {
        self.write(
            (owner.to_string(), now, lease_ms, limit),
            |db, (owner, now, lease, limit)| {
                Box::pin(async move {
                    let sql = format!(
                        "UPDATE webhook_inbox SET lease_owner = $1, lease_until = $2 + $3 \
                     WHERE seq IN (SELECT seq FROM webhook_inbox WHERE processed_at IS NULL \
                       AND lease_until < $2 ORDER BY seq LIMIT $4{}) \
                     RETURNING seq, channels, body, attempts",
                        skip_locked(db)
                    );
                    let mut items = db
                        .fetch_map(&sql, args![owner, *now, *lease, *limit], inbox_item)
                        .await?;
                    // RETURNING promises no order; deliveries apply in arrival order.
                    items.sort_by_key(|i| i.seq);
                    Ok(items)
                })
            },
        )
        .await
    }

    async fn renew_webhooks(
        &self,
        owner: &str,
        seqs: &[i64],
        now: Millis,
        lease_ms: i64,
    ) -> Result<u64> {
        let state = (owner.to_string(), seqs.to_vec(), now, lease_ms);
        self.write(state, |db, (owner, seqs, now, lease)| {
            Box::pin(async move {
                let mut renewed = 0;
                for seq in seqs {
                    renewed += db
                        .execute(
                            "UPDATE webhook_inbox SET lease_until = $3 + $4 \
                             WHERE seq = $2 AND lease_owner = $1 AND processed_at IS NULL",
                            args![owner, *seq, *now, *lease],
                        )
                        .await?;
                }
                Ok(renewed)
            })
        })
        .await
    }

    async fn pending_webhooks(&self) -> Result<i64> {
        self.read((), |db, ()| {
            Box::pin(db.scalar(
                "SELECT count(*) FROM webhook_inbox WHERE processed_at IS NULL",
                args![],
            ))
        })
        .await
    }

    async fn finish_webhooks(&self, items: Vec<InboxFinish>, now: Millis) -> Result<()> {
        self.write((items, now), |db, (items, now)| {
            Box::pin(async move {
                for item in items {
                    db.execute(
                        "UPDATE webhook_inbox SET attempts = attempts + 1, last_error = $2, \
                         processed_at = CASE WHEN $2 IS NULL THEN $3 ELSE NULL END, \
                         lease_owner = NULL, \
                         lease_until = CASE WHEN $2 IS NULL THEN 0 ELSE $4 END WHERE seq = $1",
                        args![item.seq, &item.error, *now, item.retry_at],
                    )
                    .await?;
                }
                Ok(())
            })
        })
        .await
    }

    async fn record_inbound(
        &self,
        sightings: Vec<ContactSighting>,
        messages: Vec<InboundRecord>,
        now: Millis,
    ) -> Result<InboundReport> {
        let i = Inbound {
            sightings,
            messages,
            now,
        };
        self.write(i, |db, i| Box::pin(record_inbound(db, i))).await
    }

    async fn find_inbound(
        &self,
        workspace_id: &WorkspaceId,
        id_or_wamid: &str,
    ) -> Result<Option<(String, ChannelId, String)>> {
        self.read(
            (workspace_id.to_string(), id_or_wamid.to_string()),
            |db, (ws, id)| {
                Box::pin(async move {
                    // Two lookups, each on its own index, rather than one OR that uses neither.
                    for column in ["id", "meta_id"] {
                        let sql = format!(
                            "SELECT id, channel_id, meta_id FROM inbound_messages \
                         WHERE workspace_id = $1 AND {column} = $2 LIMIT 1"
                        );
                        let found = db
                            .fetch_map(&sql, args![ws, id], |r| Ok((r.get()?, r.get()?, r.get()?)))
                            .await?;
                        if let Some(hit) = found.into_iter().next() {
                            return Ok(Some(hit));
                        }
                    }
                    Ok(None)
                })
            },
        )
        .await
    }

    async fn list_unattributed(
        &self,
        workspace_id: &WorkspaceId,
        before_seq: Option<i64>,
        limit: i64,
    ) -> Result<Vec<Unattributed>> {
        self.read(
            (workspace_id.to_string(), before_seq, limit),
            |db, (ws, before, limit)| {
                Box::pin(async move {
                    db.fetch_map(
                    "SELECT id, channel_id, meta_id, kind, content, raw, sent_at, received_at, \
                     seq FROM unattributed_inbound WHERE workspace_id = $1 \
                     AND ($2 IS NULL OR seq < $2) ORDER BY seq DESC LIMIT $3",
                    args![ws, *before, *limit],
                    |r| {
                        Ok(Unattributed {
                            id: r.get()?,
                            channel_id: r.get()?,
                            meta_id: r.get()?,
                            kind: r.get()?,
                            content: r.get()?,
                            raw: r.get()?,
                            sent_at: r.get()?,
                            received_at: r.get()?,
                            seq: r.get()?,
                        })
                    },
                )
                .await
                })
            },
        )
        .await
    }

    async fn list_contacts(
        &self,
        workspace_id: &WorkspaceId,
        f: &ContactFilter,
    ) -> Result<Vec<Contact>> {
        self.read((workspace_id.to_string(), f.clone()), |db, (ws, f)| {
            Box::pin(async move {
                let sql = format!(
                    "SELECT {CONTACT_COLUMNS} FROM contacts WHERE workspace_id = $1 AND {} \
                     AND ($4 IS NULL OR id > $4) ORDER BY id LIMIT $5",
                    contact_search(db)
                );
                let args = args![ws, &f.search, &f.tag, &f.after_id, f.limit];
                db.fetch_map(&sql, args, contact).await
            })
        })
        .await
    }

    async fn get_contact(&self, workspace_id: &WorkspaceId, id: &str) -> Result<Option<Contact>> {
        self.lookup(
            (workspace_id.to_string(), id.to_string()),
            |db, (ws, id)| Box::pin(load_contact(db, ws, id, false)),
        )
        .await
    }

    async fn update_contact(
        &self,
        workspace_id: &WorkspaceId,
        id: &str,
        patch: &ContactPatch,
        now: Millis,
    ) -> Result<Option<Contact>> {
        let u = Update {
            workspace_id: workspace_id.clone(),
            id: id.to_string(),
            patch: patch.clone(),
            now,
        };
        self.write(u, |db, u| Box::pin(update_contact(db, u))).await
    }

    async fn create_contact(
        &self,
        workspace_id: &WorkspaceId,
        contact: &NewContact,
        now: Millis,
    ) -> Result<Contact> {
        self.write(
            (workspace_id.to_string(), contact.clone(), now),
            |db, (ws, n, now)| Box::pin(create_contact(db, ws, n, *now)),
        )
        .await
    }

    async fn delete_contact(&self, workspace_id: &WorkspaceId, id: &str) -> Result<bool> {
        self.write(
            (workspace_id.to_string(), id.to_string()),
            |db, (ws, id)| {
                Box::pin(async move {
                    let gone = db
                        .execute(
                            "DELETE FROM contacts WHERE workspace_id = $1 AND id = $2",
                            args![ws, id],
                        )
                        .await?;
                    for table in ["conversations", "contact_external_ids", "contact_history"] {
                        let sql = format!(
                            "DELETE FROM {table} WHERE workspace_id = $1 AND contact_id = $2"
                        );
                        db.execute(&sql, args![ws, id]).await?;
                    }
                    Ok(gone > 0)
                })
            },
        )
        .await
    }

    async fn record_consent(
        &self,
        workspace_id: &WorkspaceId,
        changes: Vec<ConsentChange>,
        now: Millis,
    ) -> Result<ConsentReport> {
        if changes.is_empty() {
            return Ok(ConsentReport::default());
        }
        let r = consent::Record {
            workspace_id: workspace_id.clone(),
            changes,
            now,
        };
        self.write(r, |db, r| Box::pin(consent::record_consent(db, r)))
            .await
    }

    async fn contact_history(
        &self,
        workspace_id: &WorkspaceId,
        contact_id: &str,
        after_seq: Option<i64>,
        limit: i64,
    ) -> Result<Option<Vec<ContactHistoryEntry>>> {
        let state = (
            workspace_id.to_string(),
            contact_id.to_string(),
            after_seq,
            limit,
        );
        self.read(state, |db, (ws, id, after, limit)| {
            Box::pin(consent::history(db, ws, id, *after, *limit))
        })
        .await
    }

    async fn recipient_state(
        &self,
        workspace_id: &WorkspaceId,
        channel_id: &ChannelId,
        wa_ids: &[String],
    ) -> Result<RecipientState> {
        // A number has at most two written forms (Mexican and Argentine mobiles); two plain
        // parameters cost less per send than a list.
        let (Some(first), second) = (wa_ids.first(), wa_ids.get(1)) else {
            return Ok(RecipientState::default());
        };
        let state = (
            workspace_id.to_string(),
            channel_id.to_string(),
            first.clone(),
            second.unwrap_or(first).clone(),
        );
        // A BSUID recipient (it holds a dot; digits never do) is found by `user_id`.
        let sql = if first.contains('.') {
            RECIPIENT_STATE_BY_USER_ID
        } else {
            RECIPIENT_STATE_BY_WA_ID
        };
        self.lookup(state, move |db, (ws, channel, first, second)| {
            Box::pin(async move {
                let found = db
                    .fetch_optional(sql, args![ws, channel, first, second])
                    .await?;
                match found {
                    Some(mut r) => Ok(RecipientState {
                        opted_out: r.get()?,
                        marketing_opted_out: r.get()?,
                        last_inbound_at: r.get()?,
                    }),
                    None => Ok(RecipientState::default()),
                }
            })
        })
        .await
    }

    async fn list_conversations(
        &self,
        workspace_id: &WorkspaceId,
        contact_id: Option<&str>,
        after_id: Option<&str>,
        limit: i64,
    ) -> Result<Vec<Conversation>> {
        let state = (
            workspace_id.to_string(),
            contact_id.map(str::to_string),
            after_id.map(str::to_string),
            limit,
        );
        self.read(state, |db, (ws, contact, after, limit)| {
            Box::pin(async move {
                let sql = format!(
                    "SELECT {} FROM conversations WHERE workspace_id = $1 \
                     AND ($2 IS NULL OR contact_id = $2) AND ($3 IS NULL OR id > $3) \
                     ORDER BY id LIMIT $4",
                    conversation_columns(db)
                );
                db.fetch_map(&sql, args![ws, contact, after, *limit], conversation)
                    .await
            })
        })
        .await
    }

    async fn get_conversation(
        &self,
        workspace_id: &WorkspaceId,
        id: &str,
    ) -> Result<Option<Conversation>> {
        self.lookup(
            (workspace_id.to_string(), id.to_string()),
            |db, (ws, id)| {
                Box::pin(async move {
                    let sql = format!(
                        "SELECT {} FROM conversations WHERE workspace_id = $1 AND id = $2",
                        conversation_columns(db)
                    );
                    db.fetch_one_map(&sql, args![ws, id], conversation).await
                })
            },
        )
        .await
    }

    async fn conversation_entries(
        &self,
        cv: &Conversation,
        limit: i64,
    ) -> Result<Vec<ConversationEntry>> {
        self.read((cv.clone(), limit), |db, (cv, limit)| {
            Box::pin(conversation_entries(db, cv, *limit))
        })
        .await
    }

    async fn list_inbox(
        &self,
        workspace_id: &WorkspaceId,
        before: Option<&InboxCursor>,
        limit: i64,
    ) -> Result<Vec<InboxConversation>> {
        let state = (workspace_id.to_string(), before.cloned(), limit);
        self.read(state, |db, (ws, before, limit)| {
            Box::pin(async move {
                let sql = inbox_sql(db, before.is_some());
                let args = match before {
                    None => args![ws, *limit],
                    Some(c) => args![ws, *limit, c.last_message_at, &c.id],
                };
                db.fetch_map(&sql, args, inbox_row).await
            })
        })
        .await
    }

    async fn mark_conversation_read(&self, workspace_id: &WorkspaceId, id: &str) -> Result<bool> {
        self.write(
            (workspace_id.to_string(), id.to_string()),
            |db, (ws, id)| {
                Box::pin(async move {
                    let found = db
                        .execute(
                            "UPDATE conversations SET unread = 0 \
                             WHERE workspace_id = $1 AND id = $2",
                            args![ws, id],
                        )
                        .await?;
                    Ok(found > 0)
                })
            },
        )
        .await
    }

    async fn touch_conversation(
        &self,
        workspace_id: &WorkspaceId,
        id: &str,
        at: Millis,
    ) -> Result<bool> {
        self.write(
            (workspace_id.to_string(), id.to_string(), at),
            |db, (ws, id, at)| {
                Box::pin(async move {
                    let sql = format!(
                        "UPDATE conversations SET last_message_at = {}(last_message_at, $3) \
                         WHERE workspace_id = $1 AND id = $2",
                        greatest(db)
                    );
                    Ok(db.execute(&sql, args![ws, id, *at]).await? > 0)
                })
            },
        )
        .await
    }
}
