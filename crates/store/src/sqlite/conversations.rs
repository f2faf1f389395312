//! Two-way messaging on SQLite.

use async_trait::async_trait;
use rusqlite::{params, Connection, OptionalExtension, Row};

use super::SqliteStore;
use crate::business_webhooks::WebhookEvent;
use crate::conversations::*;
use crate::{Millis, Result, StoreError};

pub(super) const CONTACT_COLUMNS: &str =
    "id, workspace_id, wa_id, user_id, phone, name, profile_name, \
     email, tags, custom_fields, opted_out, created_at, updated_at, num";

pub(super) fn contact_from_row(r: &Row<'_>) -> rusqlite::Result<Contact> {
    let tags: String = r.get(8)?;
    let fields: String = r.get(9)?;
    Ok(Contact {
        id: r.get(0)?,
        workspace_id: r.get(1)?,
        wa_id: r.get(2)?,
        user_id: r.get(3)?,
        phone: r.get(4)?,
        name: r.get(5)?,
        profile_name: r.get(6)?,
        email: r.get(7)?,
        tags: serde_json::from_str(&tags).unwrap_or_default(),
        custom_fields: serde_json::from_str(&fields).unwrap_or_default(),
        opted_out: r.get(10)?,
        created_at: r.get(11)?,
        updated_at: r.get(12)?,
        num: r.get::<_, Option<i64>>(13)?.unwrap_or_default(),
    })
}

fn conversation_from_row(r: &Row<'_>) -> rusqlite::Result<Conversation> {
    Ok(Conversation {
        id: r.get(0)?,
        workspace_id: r.get(1)?,
        channel_id: r.get(2)?,
        contact_id: r.get(3)?,
        last_inbound_at: r.get(4)?,
        last_message_at: r
            .get::<_, Millis>(5)?
            .max(r.get::<_, Option<Millis>>(7)?.unwrap_or(0)),
        created_at: r.get(6)?,
    })
}

/// Finds the contact a sighting names (by wa_id, then by user_id), creating or completing it.
/// Returns its id and whether it was created.
fn upsert_contact(conn: &Connection, s: &ContactSighting, now: Millis) -> Result<(String, bool)> {
    let found: Option<String> = conn
        .prepare_cached(
            "SELECT id FROM contacts WHERE workspace_id = ?1 \
             AND ((?2 IS NOT NULL AND wa_id = ?2) OR (?3 IS NOT NULL AND user_id = ?3)) \
             ORDER BY wa_id = ?2 DESC LIMIT 1",
        )?
        .query_row(params![s.workspace_id, s.wa_id, s.user_id], |r| r.get(0))
        .optional()?;
    if let Some(id) = found {
        // Fill what was missing; never take an id another contact already holds.
        conn.prepare_cached(
            "UPDATE contacts SET \
               wa_id = CASE WHEN wa_id IS NULL AND NOT EXISTS (SELECT 1 FROM contacts o \
                 WHERE o.workspace_id = ?2 AND o.wa_id = ?3) THEN ?3 ELSE wa_id END, \
               phone = COALESCE(phone, ?3), \
               user_id = CASE WHEN user_id IS NULL AND NOT EXISTS (SELECT 1 FROM contacts o \
                 WHERE o.workspace_id = ?2 AND o.user_id = ?4) THEN ?4 ELSE user_id END, \
               profile_name = COALESCE(?5, profile_name), \
               name = COALESCE(name, ?5), \
               updated_at = ?6 \
             WHERE id = ?1",
        )?
        .execute(params![id, s.workspace_id, s.wa_id, s.user_id, s.name, now])?;
        return Ok((id, false));
    }
    let id = crate::new_id("ct_");
    conn.prepare_cached(
        "INSERT INTO contacts (id, workspace_id, wa_id, user_id, phone, name, profile_name, \
         created_at, updated_at) VALUES (?1, ?2, ?3, ?4, ?3, ?5, ?5, ?6, ?6)",
    )?
    .execute(params![id, s.workspace_id, s.wa_id, s.user_id, s.name, now])?;
    Ok((id, true))
}

/// The conversation of a contact on a channel, created if missing.
fn conversation_id(
    conn: &Connection,
    workspace_id: &str,
    channel_id: &str,
    contact_id: &str,
    now: Millis,
) -> Result<String> {
    conn.prepare_cached(
        "INSERT INTO conversations (id, workspace_id, channel_id, contact_id, last_message_at, \
         created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?5) ON CONFLICT (channel_id, contact_id) DO NOTHING",
    )?
    .execute(params![
        crate::new_id("cv_"),
        workspace_id,
        channel_id,
        contact_id,
        now
    ])?;
    Ok(conn
        .prepare_cached("SELECT id FROM conversations WHERE channel_id = ?1 AND contact_id = ?2")?
        .query_row(params![channel_id, contact_id], |r| r.get(0))?)
}

fn record_inbound(
    conn: &Connection,
    sightings: &[ContactSighting],
    messages: &[InboundRecord],
    now: Millis,
) -> Result<InboundReport> {
    let mut report = InboundReport::default();
    for s in sightings {
        report.contacts_created += usize::from(upsert_contact(conn, s, now)?.1);
    }
    for m in messages {
        let (contact_id, created) = upsert_contact(conn, &m.from, now)?;
        report.contacts_created += usize::from(created);
        let conversation = conversation_id(conn, &m.workspace_id, &m.channel_id, &contact_id, now)?;
        let inserted = conn
            .prepare_cached(
                "INSERT INTO inbound_messages (id, workspace_id, channel_id, conversation_id, \
                 contact_id, meta_id, kind, content, raw, context_id, sent_at, received_at) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12) \
                 ON CONFLICT (channel_id, meta_id) DO NOTHING",
            )?
            .execute(params![
                m.id,
                m.workspace_id,
                m.channel_id,
                conversation,
                contact_id,
                m.meta_id,
                m.kind,
                m.content,
                m.raw,
                m.context_id,
                m.sent_at,
                now
            ])?;
        if inserted == 0 {
            report.duplicates += 1;
            continue;
        }
        report.stored += 1;
        let ev = WebhookEvent::inbound(m, &contact_id, &conversation, now);
        super::business_webhooks::emit(conn, &ev)?;
        conn.prepare_cached(
            "UPDATE conversations SET last_message_at = max(last_message_at, ?4), \
             last_inbound_at = CASE WHEN ?3 THEN max(COALESCE(last_inbound_at, 0), ?2) \
             ELSE last_inbound_at END WHERE id = ?1",
        )?
        .execute(params![conversation, m.sent_at, m.opens_window, now])?;
    }
    Ok(report)
}

fn update_contact(
    conn: &Connection,
    workspace_id: &str,
    id: &str,
    p: &ContactPatch,
    now: Millis,
) -> Result<Option<Contact>> {
    let sql = format!("SELECT {CONTACT_COLUMNS} FROM contacts WHERE workspace_id = ?1 AND id = ?2");
    let Some(mut c) = conn
        .prepare_cached(&sql)?
        .query_row(params![workspace_id, id], contact_from_row)
        .optional()?
    else {
        return Ok(None);
    };
    p.apply_to(&mut c);
    c.updated_at = now;
    let tags = serde_json::to_string(&c.tags).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    let result = conn
        .prepare_cached(
            "UPDATE contacts SET wa_id = ?3, user_id = ?4, phone = ?5, name = ?6, email = ?7, \
             tags = ?8, custom_fields = ?9, opted_out = ?10, updated_at = ?11 \
             WHERE workspace_id = ?1 AND id = ?2",
        )?
        .execute(params![
            workspace_id,
            id,
            c.wa_id,
            c.user_id,
            c.phone,
            c.name,
            c.email,
            tags,
            c.custom_fields.to_string(),
            c.opted_out,
            now
        ]);
    match result {
        Ok(_) => {
            super::business_webhooks::emit(conn, &WebhookEvent::contact(&c, now))?;
            Ok(Some(c))
        }
        Err(rusqlite::Error::SqliteFailure(e, _))
            if e.code == rusqlite::ErrorCode::ConstraintViolation =>
        {
            Err(StoreError::Conflict(
                "another contact of this workspace has that wa_id or user_id".into(),
            ))
        }
        Err(e) => Err(e.into()),
    }
}

#[async_trait]
impl ConversationStore for SqliteStore {
    async fn enqueue_webhook(
        &self,
        channels: &[(String, String)],
        body: &str,
        now: Millis,
    ) -> Result<i64> {
        let channels =
            serde_json::to_string(channels).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let body = body.to_string();
        self.rt
            .write(move |c| {
                c.prepare_cached(
                    "INSERT INTO webhook_inbox (channels, body, received_at) VALUES (?1, ?2, ?3)",
                )?
                .execute(params![channels, body, now])?;
                Ok(c.last_insert_rowid())
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
        let owner = owner.to_string();
        self.rt
            .write(move |c| {
                let rows = c
                    .prepare_cached(
                        "UPDATE webhook_inbox SET lease_owner = ?1, lease_until = ?2 + ?3 \
                         WHERE seq IN (SELECT seq FROM webhook_inbox WHERE processed_at IS NULL \
                           AND lease_until < ?2 ORDER BY seq LIMIT ?4) \
                         RETURNING seq, channels, body, attempts",
                    )?
                    .query_map(params![owner, now, lease_ms, limit], |r| {
                        Ok((r.get(0)?, r.get::<_, String>(1)?, r.get(2)?, r.get(3)?))
                    })?
                    .collect::<rusqlite::Result<Vec<(i64, String, String, i64)>>>()?;
                let mut items: Vec<InboxItem> = rows
                    .into_iter()
                    .map(|(seq, channels, body, attempts)| InboxItem {
                        seq,
                        channels: serde_json::from_str(&channels).unwrap_or_default(),
                        body,
                        attempts,
                    })
                    .collect();
                items.sort_by_key(|i| i.seq);
                Ok(items)
            })
            .await
    }

    async fn renew_webhooks(
        &self,
        owner: &str,
        seqs: &[i64],
        now: Millis,
        lease_ms: i64,
    ) -> Result<u64> {
        let (owner, seqs) = (owner.to_string(), seqs.to_vec());
        self.rt
            .write(move |c| {
                let mut stmt = c.prepare_cached(
                    "UPDATE webhook_inbox SET lease_until = ?3 + ?4 \
                     WHERE seq = ?2 AND lease_owner = ?1 AND processed_at IS NULL",
                )?;
                let mut renewed = 0u64;
                for seq in &seqs {
                    renewed += stmt.execute(params![owner, seq, now, lease_ms])? as u64;
                }
                Ok(renewed)
            })
            .await
    }

    async fn pending_webhooks(&self) -> Result<i64> {
        self.rt
            .read(|c| {
                Ok(c.prepare_cached(
                    "SELECT count(*) FROM webhook_inbox WHERE processed_at IS NULL",
                )?
                .query_row([], |r| r.get(0))?)
            })
            .await
    }

    async fn finish_webhooks(&self, items: Vec<InboxFinish>, now: Millis) -> Result<()> {
        self.rt
            .write(move |c| {
                let mut stmt = c.prepare_cached(
                    "UPDATE webhook_inbox SET attempts = attempts + 1, last_error = ?2, \
                     processed_at = CASE WHEN ?2 IS NULL THEN ?3 ELSE NULL END, \
                     lease_owner = NULL, lease_until = CASE WHEN ?2 IS NULL THEN 0 ELSE ?4 END \
                     WHERE seq = ?1",
                )?;
                for item in &items {
                    stmt.execute(params![item.seq, item.error, now, item.retry_at])?;
                }
                Ok(())
            })
            .await
    }

    async fn record_inbound(
        &self,
        sightings: Vec<ContactSighting>,
        messages: Vec<InboundRecord>,
        now: Millis,
    ) -> Result<InboundReport> {
        self.rt
            .write(move |c| record_inbound(c, &sightings, &messages, now))
            .await
    }

    async fn list_contacts(&self, workspace_id: &str, f: &ContactFilter) -> Result<Vec<Contact>> {
        let (ws, f) = (workspace_id.to_string(), f.clone());
        self.rt
            .read(move |c| {
                let sql = format!(
                    "SELECT {CONTACT_COLUMNS} FROM contacts WHERE workspace_id = ?1 \
                     AND (?2 IS NULL OR instr(lower(COALESCE(name, '') || ' ' || \
                       COALESCE(profile_name, '') || ' ' || COALESCE(phone, '') || ' ' || \
                       COALESCE(wa_id, '') || ' ' || COALESCE(user_id, '') || ' ' || \
                       COALESCE(email, '')), lower(?2)) > 0) \
                     AND (?3 IS NULL OR EXISTS (SELECT 1 FROM json_each(tags) WHERE value = ?3)) \
                     AND (?4 IS NULL OR id > ?4) ORDER BY id LIMIT ?5"
                );
                let rows = c
                    .prepare_cached(&sql)?
                    .query_map(
                        params![ws, f.search, f.tag, f.after_id, f.limit],
                        contact_from_row,
                    )?
                    .collect::<rusqlite::Result<_>>()?;
                Ok(rows)
            })
            .await
    }

    async fn get_contact(&self, workspace_id: &str, id: &str) -> Result<Option<Contact>> {
        let (ws, id) = (workspace_id.to_string(), id.to_string());
        self.rt
            .read(move |c| {
                let sql = format!(
                    "SELECT {CONTACT_COLUMNS} FROM contacts WHERE workspace_id = ?1 AND id = ?2"
                );
                Ok(c.prepare_cached(&sql)?
                    .query_row(params![ws, id], contact_from_row)
                    .optional()?)
            })
            .await
    }

    async fn update_contact(
        &self,
        workspace_id: &str,
        id: &str,
        patch: &ContactPatch,
        now: Millis,
    ) -> Result<Option<Contact>> {
        let (ws, id, patch) = (workspace_id.to_string(), id.to_string(), patch.clone());
        self.rt
            .write(move |c| update_contact(c, &ws, &id, &patch, now))
            .await
    }

    async fn create_contact(
        &self,
        workspace_id: &str,
        contact: &crate::NewContact,
        now: Millis,
    ) -> Result<Contact> {
        let (ws, n) = (workspace_id.to_string(), contact.clone());
        let tags =
            serde_json::to_string(&n.tags).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        self.rt
            .write(move |c| {
                let id = crate::new_id("ct_");
                let inserted = c
                    .prepare_cached(
                        "INSERT INTO contacts (id, workspace_id, wa_id, phone, name, email, tags, \
                         custom_fields, created_at, updated_at) \
                         VALUES (?1, ?2, ?3, ?3, ?4, ?5, ?6, ?7, ?8, ?8)",
                    )?
                    .execute(params![
                        id,
                        ws,
                        n.phone,
                        n.name,
                        n.email,
                        tags,
                        n.custom_fields.to_string(),
                        now
                    ]);
                match inserted {
                    Ok(_) => {}
                    Err(rusqlite::Error::SqliteFailure(e, _))
                        if e.code == rusqlite::ErrorCode::ConstraintViolation =>
                    {
                        return Err(StoreError::Conflict(
                            "another contact of this workspace has that phone".into(),
                        ))
                    }
                    Err(e) => return Err(e.into()),
                }
                let sql = format!("SELECT {CONTACT_COLUMNS} FROM contacts WHERE id = ?1");
                Ok(c.prepare_cached(&sql)?.query_row([id], contact_from_row)?)
            })
            .await
    }

    async fn delete_contact(&self, workspace_id: &str, id: &str) -> Result<bool> {
        let (ws, id) = (workspace_id.to_string(), id.to_string());
        self.rt
            .write(move |c| {
                let gone = c
                    .prepare_cached("DELETE FROM contacts WHERE workspace_id = ?1 AND id = ?2")?
                    .execute(params![ws, id])?;
                c.prepare_cached(
                    "DELETE FROM conversations WHERE workspace_id = ?1 AND contact_id = ?2",
                )?
                .execute(params![ws, id])?;
                Ok(gone > 0)
            })
            .await
    }

    async fn recipient_state(
        &self,
        workspace_id: &str,
        channel_id: &str,
        wa_ids: &[String],
    ) -> Result<RecipientState> {
        // A number has at most two written forms (Mexican and Argentine mobiles); two plain
        // parameters cost less per send than expanding a JSON list.
        let (Some(first), second) = (wa_ids.first(), wa_ids.get(1)) else {
            return Ok(RecipientState::default());
        };
        let second = second.unwrap_or(first);
        debug_assert!(wa_ids.len() <= 2, "wa_id_variants gives at most two forms");
        self.rt
            .lookup(move |c| {
                let found = c
                    .prepare_cached(
                        "SELECT ct.opted_out, cv.last_inbound_at FROM contacts ct \
                         LEFT JOIN conversations cv ON cv.contact_id = ct.id AND cv.channel_id = ?2 \
                         WHERE ct.workspace_id = ?1 AND ct.wa_id IN (?3, ?4) \
                         ORDER BY cv.last_inbound_at DESC LIMIT 1",
                    )?
                    .query_row(params![workspace_id, channel_id, first, second], |r| {
                        Ok(RecipientState {
                            opted_out: r.get(0)?,
                            last_inbound_at: r.get(1)?,
                        })
                    })
                    .optional()?;
                Ok(found.unwrap_or_default())
            })
    }

    async fn list_conversations(
        &self,
        workspace_id: &str,
        contact_id: Option<&str>,
        after_id: Option<&str>,
        limit: i64,
    ) -> Result<Vec<Conversation>> {
        let (ws, contact, after) = (
            workspace_id.to_string(),
            contact_id.map(str::to_string),
            after_id.map(str::to_string),
        );
        self.rt
            .read(move |c| {
                let sql = format!(
                    "SELECT {CONVERSATION_COLUMNS} FROM conversations WHERE workspace_id = ?1 \
                     AND (?2 IS NULL OR contact_id = ?2) AND (?3 IS NULL OR id > ?3) \
                     ORDER BY id LIMIT ?4"
                );
                let rows = c
                    .prepare_cached(&sql)?
                    .query_map(params![ws, contact, after, limit], conversation_from_row)?
                    .collect::<rusqlite::Result<_>>()?;
                Ok(rows)
            })
            .await
    }

    async fn get_conversation(&self, workspace_id: &str, id: &str) -> Result<Option<Conversation>> {
        let (ws, id) = (workspace_id.to_string(), id.to_string());
        self.rt
            .read(move |c| {
                let sql = format!(
                    "SELECT {CONVERSATION_COLUMNS} FROM conversations WHERE workspace_id = ?1 AND id = ?2"
                );
                Ok(c.prepare_cached(&sql)?
                    .query_row(params![ws, id], conversation_from_row)
                    .optional()?)
            })
            .await
    }

    async fn conversation_entries(
        &self,
        cv: &Conversation,
        limit: i64,
    ) -> Result<Vec<ConversationEntry>> {
        let cv = cv.clone();
        self.rt
            .read(move |c| {
                let mut entries: Vec<ConversationEntry> = c
                    .prepare_cached(
                        "SELECT id, kind, content, meta_id, received_at FROM inbound_messages \
                         WHERE conversation_id = ?1 ORDER BY seq DESC LIMIT ?2",
                    )?
                    .query_map(params![cv.id, limit], |r| {
                        let content: String = r.get(2)?;
                        Ok(ConversationEntry {
                            direction: "inbound",
                            id: r.get(0)?,
                            kind: r.get(1)?,
                            content: serde_json::from_str(&content).unwrap_or_default(),
                            status: "received".into(),
                            wamid: r.get(3)?,
                            at: r.get(4)?,
                        })
                    })?
                    .collect::<rusqlite::Result<_>>()?;
                let outbound: Vec<ConversationEntry> = c
                    .prepare_cached(
                        "SELECT m.id, m.kind, m.body, m.status, m.wamid, m.created_at FROM messages m \
                         JOIN contacts ct ON ct.id = ?2 \
                         WHERE m.workspace_id = ?1 AND m.channel_id = ?3 \
                         AND m.recipient IN (ct.wa_id, ct.phone) ORDER BY m.seq DESC LIMIT ?4",
                    )?
                    .query_map(params![cv.workspace_id, cv.contact_id, cv.channel_id, limit], |r| {
                        let body: String = r.get(2)?;
                        Ok(ConversationEntry {
                            direction: "outbound",
                            id: r.get(0)?,
                            kind: r.get(1)?,
                            content: serde_json::from_str(&body).unwrap_or_default(),
                            status: r.get(3)?,
                            wamid: r.get(4)?,
                            at: r.get(5)?,
                        })
                    })?
                    .collect::<rusqlite::Result<_>>()?;
                entries.extend(outbound);
                Ok(crate::conversations::latest_in_order(entries, limit))
            })
            .await
    }
}
