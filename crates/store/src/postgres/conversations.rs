//! Two-way messaging on PostgreSQL.

use async_trait::async_trait;
use sqlx::postgres::PgRow;
use sqlx::{PgConnection, Row};

use super::{is_deadlock, PgStore, DEADLOCK_RETRIES};
use crate::business_webhooks::WebhookEvent;
use crate::conversations::*;
use crate::{Millis, Result, StoreError};

pub(super) const CONTACT_COLUMNS: &str =
    "id, workspace_id, wa_id, user_id, phone, name, profile_name, \
     email, tags, custom_fields, opted_out, created_at, updated_at, num";

pub(super) fn contact_from_row(r: &PgRow) -> Result<Contact> {
    let tags: String = r.try_get(8)?;
    let fields: String = r.try_get(9)?;
    Ok(Contact {
        id: r.try_get(0)?,
        workspace_id: r.try_get(1)?,
        wa_id: r.try_get(2)?,
        user_id: r.try_get(3)?,
        phone: r.try_get(4)?,
        name: r.try_get(5)?,
        profile_name: r.try_get(6)?,
        email: r.try_get(7)?,
        tags: serde_json::from_str(&tags).unwrap_or_default(),
        custom_fields: serde_json::from_str(&fields).unwrap_or_default(),
        opted_out: r.try_get(10)?,
        created_at: r.try_get(11)?,
        updated_at: r.try_get(12)?,
        num: r.try_get(13)?,
    })
}

fn conversation_from_row(r: &PgRow) -> Result<Conversation> {
    Ok(Conversation {
        id: r.try_get(0)?,
        workspace_id: r.try_get(1)?,
        channel_id: r.try_get(2)?,
        contact_id: r.try_get(3)?,
        last_inbound_at: r.try_get(4)?,
        last_message_at: r
            .try_get::<Millis, _>(5)?
            .max(r.try_get::<Option<Millis>, _>(7)?.unwrap_or(0)),
        created_at: r.try_get(6)?,
    })
}

fn is_unique_violation(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(db) if db.code().as_deref() == Some("23505"))
}

/// Finds the contact a sighting names (by wa_id, then by user_id), creating or completing it.
async fn upsert_contact(
    c: &mut PgConnection,
    s: &ContactSighting,
    now: Millis,
) -> Result<(String, bool)> {
    // Two tries: a concurrent insert of the same person makes ours conflict, then it is found.
    for _ in 0..2 {
        let found: Option<String> = sqlx::query_scalar(
            "SELECT id FROM contacts WHERE workspace_id = $1 \
             AND (($2::text IS NOT NULL AND wa_id = $2) OR ($3::text IS NOT NULL AND user_id = $3)) \
             ORDER BY (wa_id = $2) DESC NULLS LAST LIMIT 1 FOR UPDATE",
        )
        .bind(&s.workspace_id)
        .bind(&s.wa_id)
        .bind(&s.user_id)
        .fetch_optional(&mut *c)
        .await?;
        if let Some(id) = found {
            sqlx::query(
                "UPDATE contacts SET \
                   wa_id = CASE WHEN wa_id IS NULL AND NOT EXISTS (SELECT 1 FROM contacts o \
                     WHERE o.workspace_id = $2 AND o.wa_id = $3) THEN $3 ELSE wa_id END, \
                   phone = COALESCE(phone, $3), \
                   user_id = CASE WHEN user_id IS NULL AND NOT EXISTS (SELECT 1 FROM contacts o \
                     WHERE o.workspace_id = $2 AND o.user_id = $4) THEN $4 ELSE user_id END, \
                   profile_name = COALESCE($5, profile_name), \
                   name = COALESCE(name, $5), \
                   updated_at = $6 \
                 WHERE id = $1",
            )
            .bind(&id)
            .bind(&s.workspace_id)
            .bind(&s.wa_id)
            .bind(&s.user_id)
            .bind(&s.name)
            .bind(now)
            .execute(&mut *c)
            .await?;
            return Ok((id, false));
        }
        let created: Option<String> = sqlx::query_scalar(
            "INSERT INTO contacts (id, workspace_id, wa_id, user_id, phone, name, profile_name, \
             created_at, updated_at) VALUES ($1, $2, $3, $4, $3, $5, $5, $6, $6) \
             ON CONFLICT DO NOTHING RETURNING id",
        )
        .bind(crate::new_id("ct_"))
        .bind(&s.workspace_id)
        .bind(&s.wa_id)
        .bind(&s.user_id)
        .bind(&s.name)
        .bind(now)
        .fetch_optional(&mut *c)
        .await?;
        if let Some(id) = created {
            return Ok((id, true));
        }
    }
    Err(StoreError::Conflict(
        "a contact kept changing while it was recorded".into(),
    ))
}

async fn record_inbound(
    c: &mut PgConnection,
    sightings: &[ContactSighting],
    messages: &[InboundRecord],
    now: Millis,
) -> Result<InboundReport> {
    let mut report = InboundReport::default();
    let mut events = Vec::new();
    for s in sightings {
        report.contacts_created += usize::from(upsert_contact(c, s, now).await?.1);
    }
    for m in messages {
        let (contact_id, created) = upsert_contact(c, &m.from, now).await?;
        report.contacts_created += usize::from(created);
        sqlx::query(
            "INSERT INTO conversations (id, workspace_id, channel_id, contact_id, last_message_at, \
             created_at) VALUES ($1, $2, $3, $4, $5, $5) ON CONFLICT (channel_id, contact_id) DO NOTHING",
        )
        .bind(crate::new_id("cv_"))
        .bind(&m.workspace_id)
        .bind(&m.channel_id)
        .bind(&contact_id)
        .bind(now)
        .execute(&mut *c)
        .await?;
        let conversation: String = sqlx::query_scalar(
            "SELECT id FROM conversations WHERE channel_id = $1 AND contact_id = $2",
        )
        .bind(&m.channel_id)
        .bind(&contact_id)
        .fetch_one(&mut *c)
        .await?;
        let inserted = sqlx::query(
            "INSERT INTO inbound_messages (id, workspace_id, channel_id, conversation_id, \
             contact_id, meta_id, kind, content, raw, context_id, sent_at, received_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) \
             ON CONFLICT (channel_id, meta_id) DO NOTHING",
        )
        .bind(&m.id)
        .bind(&m.workspace_id)
        .bind(&m.channel_id)
        .bind(&conversation)
        .bind(&contact_id)
        .bind(&m.meta_id)
        .bind(&m.kind)
        .bind(&m.content)
        .bind(&m.raw)
        .bind(&m.context_id)
        .bind(m.sent_at)
        .bind(now)
        .execute(&mut *c)
        .await?;
        if inserted.rows_affected() == 0 {
            report.duplicates += 1;
            continue;
        }
        report.stored += 1;
        events.push(WebhookEvent::inbound(m, &contact_id, &conversation, now));
        sqlx::query(
            "UPDATE conversations SET last_message_at = GREATEST(last_message_at, $4), \
             last_inbound_at = CASE WHEN $3 THEN GREATEST(COALESCE(last_inbound_at, 0), $2) \
             ELSE last_inbound_at END WHERE id = $1",
        )
        .bind(&conversation)
        .bind(m.sent_at)
        .bind(m.opens_window)
        .bind(now)
        .execute(&mut *c)
        .await?;
    }
    super::business_webhooks::emit(c, &events).await?;
    Ok(report)
}

/// A recipient's opt-out and last inbound message over any of its `wa_id` forms (`$3`).
const RECIPIENT_STATE_SQL: &str = "SELECT ct.opted_out, cv.last_inbound_at FROM contacts ct \
     LEFT JOIN conversations cv ON cv.contact_id = ct.id AND cv.channel_id = $2 \
     WHERE ct.workspace_id = $1 AND ct.wa_id = ANY($3) \
     ORDER BY cv.last_inbound_at DESC NULLS LAST LIMIT 1";

/// `RECIPIENT_STATE_SQL` for at most two forms (`$3`, `$4`; the same twice for one), written
/// as one probe of the contacts' and one of the conversations' unique index per form.
const RECIPIENT_PROBE_SQL: &str = "SELECT ct.opted_out, (SELECT cv.last_inbound_at \
     FROM conversations cv WHERE cv.channel_id = $2 AND cv.contact_id = ct.id) AS last_inbound_at \
     FROM contacts ct WHERE ct.workspace_id = $1 AND ct.wa_id = $3 \
     UNION ALL SELECT ct.opted_out, (SELECT cv.last_inbound_at \
     FROM conversations cv WHERE cv.channel_id = $2 AND cv.contact_id = ct.id) \
     FROM contacts ct WHERE ct.workspace_id = $1 AND ct.wa_id = $4 \
     ORDER BY 2 DESC NULLS LAST LIMIT 1";

#[async_trait]
impl ConversationStore for PgStore {
    async fn enqueue_webhook(
        &self,
        channels: &[(String, String)],
        body: &str,
        now: Millis,
    ) -> Result<i64> {
        let channels =
            serde_json::to_string(channels).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        Ok(sqlx::query_scalar(
            "INSERT INTO webhook_inbox (channels, body, received_at) VALUES ($1, $2, $3) RETURNING seq",
        )
        .bind(channels)
        .bind(body)
        .bind(now)
        .fetch_one(&self.pool)
        .await?)
    }

    async fn claim_webhooks(
        &self,
        owner: &str,
        now: Millis,
        lease_ms: i64,
        limit: i64,
    ) -> Result<Vec<InboxItem>> {
        let rows = sqlx::query(
            "UPDATE webhook_inbox SET lease_owner = $1, lease_until = $2 + $3 \
             WHERE seq IN (SELECT seq FROM webhook_inbox WHERE processed_at IS NULL \
               AND lease_until < $2 ORDER BY seq LIMIT $4 FOR UPDATE SKIP LOCKED) \
             RETURNING seq, channels, body, attempts",
        )
        .bind(owner)
        .bind(now)
        .bind(lease_ms)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        let mut items = rows
            .iter()
            .map(|r| {
                let channels: String = r.try_get(1)?;
                Ok(InboxItem {
                    seq: r.try_get(0)?,
                    channels: serde_json::from_str(&channels).unwrap_or_default(),
                    body: r.try_get(2)?,
                    attempts: r.try_get(3)?,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        items.sort_by_key(|i| i.seq);
        Ok(items)
    }

    async fn renew_webhooks(
        &self,
        owner: &str,
        seqs: &[i64],
        now: Millis,
        lease_ms: i64,
    ) -> Result<u64> {
        let done = sqlx::query(
            "UPDATE webhook_inbox SET lease_until = $3 + $4 \
             WHERE seq = ANY($2) AND lease_owner = $1 AND processed_at IS NULL",
        )
        .bind(owner)
        .bind(seqs)
        .bind(now)
        .bind(lease_ms)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected())
    }

    async fn pending_webhooks(&self) -> Result<i64> {
        Ok(
            sqlx::query_scalar("SELECT count(*) FROM webhook_inbox WHERE processed_at IS NULL")
                .fetch_one(&self.pool)
                .await?,
        )
    }

    async fn finish_webhooks(&self, items: Vec<InboxFinish>, now: Millis) -> Result<()> {
        if items.is_empty() {
            return Ok(());
        }
        let seqs: Vec<i64> = items.iter().map(|i| i.seq).collect();
        let errors: Vec<Option<String>> = items.iter().map(|i| i.error.clone()).collect();
        let retry_at: Vec<i64> = items.iter().map(|i| i.retry_at).collect();
        sqlx::query(
            "UPDATE webhook_inbox w SET attempts = w.attempts + 1, last_error = f.error, \
             processed_at = CASE WHEN f.error IS NULL THEN $4 ELSE NULL END, \
             lease_owner = NULL, lease_until = CASE WHEN f.error IS NULL THEN 0 ELSE f.retry_at END \
             FROM UNNEST($1::int8[], $2::text[], $3::int8[]) AS f(seq, error, retry_at) \
             WHERE w.seq = f.seq",
        )
        .bind(seqs)
        .bind(errors)
        .bind(retry_at)
        .bind(now)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn record_inbound(
        &self,
        sightings: Vec<ContactSighting>,
        messages: Vec<InboundRecord>,
        now: Millis,
    ) -> Result<InboundReport> {
        let mut attempt = 0;
        loop {
            let mut tx = self.pool.begin().await?;
            match record_inbound(&mut tx, &sightings, &messages, now).await {
                Ok(report) => {
                    tx.commit().await?;
                    return Ok(report);
                }
                Err(e) if is_deadlock(&e) && attempt < DEADLOCK_RETRIES => attempt += 1,
                Err(e) => return Err(e),
            }
        }
    }

    async fn list_contacts(&self, workspace_id: &str, f: &ContactFilter) -> Result<Vec<Contact>> {
        let sql = format!(
            "SELECT {CONTACT_COLUMNS} FROM contacts WHERE workspace_id = $1 \
             AND ($2::text IS NULL OR position(lower($2) IN lower(concat_ws(' ', name, \
               profile_name, phone, wa_id, user_id, email))) > 0) \
             AND ($3::text IS NULL OR jsonb_exists(tags::jsonb, $3)) \
             AND ($4::text IS NULL OR id > $4) ORDER BY id LIMIT $5"
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(workspace_id)
            .bind(&f.search)
            .bind(&f.tag)
            .bind(&f.after_id)
            .bind(f.limit)
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(contact_from_row).collect()
    }

    async fn get_contact(&self, workspace_id: &str, id: &str) -> Result<Option<Contact>> {
        let sql =
            format!("SELECT {CONTACT_COLUMNS} FROM contacts WHERE workspace_id = $1 AND id = $2");
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(workspace_id)
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(contact_from_row).transpose()
    }

    async fn update_contact(
        &self,
        workspace_id: &str,
        id: &str,
        patch: &ContactPatch,
        now: Millis,
    ) -> Result<Option<Contact>> {
        let mut tx = self.pool.begin().await?;
        let sql = format!(
            "SELECT {CONTACT_COLUMNS} FROM contacts WHERE workspace_id = $1 AND id = $2 FOR UPDATE"
        );
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(workspace_id)
            .bind(id)
            .fetch_optional(&mut *tx)
            .await?;
        let Some(mut c) = row.as_ref().map(contact_from_row).transpose()? else {
            return Ok(None);
        };
        patch.apply_to(&mut c);
        c.updated_at = now;
        let tags =
            serde_json::to_string(&c.tags).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let result = sqlx::query(
            "UPDATE contacts SET wa_id = $3, user_id = $4, phone = $5, name = $6, email = $7, \
             tags = $8, custom_fields = $9, opted_out = $10, updated_at = $11 \
             WHERE workspace_id = $1 AND id = $2",
        )
        .bind(workspace_id)
        .bind(id)
        .bind(&c.wa_id)
        .bind(&c.user_id)
        .bind(&c.phone)
        .bind(&c.name)
        .bind(&c.email)
        .bind(tags)
        .bind(c.custom_fields.to_string())
        .bind(c.opted_out)
        .bind(now)
        .execute(&mut *tx)
        .await;
        match result {
            Ok(_) => {
                super::business_webhooks::emit(&mut tx, &[WebhookEvent::contact(&c, now)]).await?;
                tx.commit().await?;
                Ok(Some(c))
            }
            Err(e) if is_unique_violation(&e) => Err(StoreError::Conflict(
                "another contact of this workspace has that wa_id or user_id".into(),
            )),
            Err(e) => Err(e.into()),
        }
    }

    async fn create_contact(
        &self,
        workspace_id: &str,
        n: &crate::NewContact,
        now: Millis,
    ) -> Result<Contact> {
        let tags =
            serde_json::to_string(&n.tags).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let sql = format!(
            "INSERT INTO contacts (id, workspace_id, wa_id, phone, name, email, tags, \
             custom_fields, created_at, updated_at) \
             VALUES ($1, $2, $3, $3, $4, $5, $6, $7, $8, $8) RETURNING {CONTACT_COLUMNS}"
        );
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(crate::new_id("ct_"))
            .bind(workspace_id)
            .bind(&n.phone)
            .bind(&n.name)
            .bind(&n.email)
            .bind(tags)
            .bind(n.custom_fields.to_string())
            .bind(now)
            .fetch_one(&self.pool)
            .await;
        match row {
            Ok(row) => contact_from_row(&row),
            Err(e) if is_unique_violation(&e) => Err(StoreError::Conflict(
                "another contact of this workspace has that phone".into(),
            )),
            Err(e) => Err(e.into()),
        }
    }

    async fn delete_contact(&self, workspace_id: &str, id: &str) -> Result<bool> {
        let mut tx = self.pool.begin().await?;
        let gone = sqlx::query("DELETE FROM contacts WHERE workspace_id = $1 AND id = $2")
            .bind(workspace_id)
            .bind(id)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        sqlx::query("DELETE FROM conversations WHERE workspace_id = $1 AND contact_id = $2")
            .bind(workspace_id)
            .bind(id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(gone > 0)
    }

    async fn recipient_state(
        &self,
        workspace_id: &str,
        channel_id: &str,
        wa_ids: &[String],
    ) -> Result<RecipientState> {
        let query = match wa_ids {
            // A number has one or two forms: probes of unique indexes, so the cached plan is
            // always right and this per-send lookup is not planned afresh each time.
            [one] | [one, _] => sqlx::query(RECIPIENT_PROBE_SQL)
                .bind(workspace_id)
                .bind(channel_id)
                .bind(one)
                .bind(wa_ids.last()),
            _ => sqlx::query(RECIPIENT_STATE_SQL)
                .bind(workspace_id)
                .bind(channel_id)
                .bind(wa_ids),
        };
        let pool = if wa_ids.len() <= 2 {
            &self.probes
        } else {
            &self.pool
        };
        let row = query.fetch_optional(pool).await?;
        Ok(match row {
            Some(r) => RecipientState {
                opted_out: r.try_get(0)?,
                last_inbound_at: r.try_get(1)?,
            },
            None => RecipientState::default(),
        })
    }

    async fn list_conversations(
        &self,
        workspace_id: &str,
        contact_id: Option<&str>,
        after_id: Option<&str>,
        limit: i64,
    ) -> Result<Vec<Conversation>> {
        let sql = format!(
            "SELECT {CONVERSATION_COLUMNS} FROM conversations WHERE workspace_id = $1 \
             AND ($2::text IS NULL OR contact_id = $2) AND ($3::text IS NULL OR id > $3) \
             ORDER BY id LIMIT $4"
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(workspace_id)
            .bind(contact_id)
            .bind(after_id)
            .bind(limit)
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(conversation_from_row).collect()
    }

    async fn get_conversation(&self, workspace_id: &str, id: &str) -> Result<Option<Conversation>> {
        let sql = format!(
            "SELECT {CONVERSATION_COLUMNS} FROM conversations WHERE workspace_id = $1 AND id = $2"
        );
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(workspace_id)
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(conversation_from_row).transpose()
    }

    async fn conversation_entries(
        &self,
        cv: &Conversation,
        limit: i64,
    ) -> Result<Vec<ConversationEntry>> {
        let inbound = sqlx::query(
            "SELECT id, kind, content, meta_id, received_at FROM inbound_messages \
             WHERE conversation_id = $1 ORDER BY seq DESC LIMIT $2",
        )
        .bind(&cv.id)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        let outbound = sqlx::query(
            "SELECT m.id, m.kind, m.body, m.status, m.wamid, m.created_at FROM messages m \
             JOIN contacts ct ON ct.id = $2 \
             WHERE m.workspace_id = $1 AND m.channel_id = $3 \
             AND (m.recipient = ct.wa_id OR m.recipient = ct.phone) ORDER BY m.seq DESC LIMIT $4",
        )
        .bind(&cv.workspace_id)
        .bind(&cv.contact_id)
        .bind(&cv.channel_id)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        let mut entries = Vec::with_capacity(inbound.len() + outbound.len());
        for r in &inbound {
            let content: String = r.try_get(2)?;
            entries.push(ConversationEntry {
                direction: "inbound",
                id: r.try_get(0)?,
                kind: r.try_get(1)?,
                content: serde_json::from_str(&content).unwrap_or_default(),
                status: "received".into(),
                wamid: r.try_get(3)?,
                at: r.try_get(4)?,
            });
        }
        for r in &outbound {
            let body: String = r.try_get(2)?;
            entries.push(ConversationEntry {
                direction: "outbound",
                id: r.try_get(0)?,
                kind: r.try_get(1)?,
                content: serde_json::from_str(&body).unwrap_or_default(),
                status: r.try_get(3)?,
                wamid: r.try_get(4)?,
                at: r.try_get(5)?,
            });
        }
        Ok(latest_in_order(entries, limit))
    }
}
