//! Lookups by the integer numbers and plain fields that vendor dialects use to name things
//! (respond.io's `messageId`, `contactId`, `channelId`, `email:` and `phone:` identifiers).

use std::collections::HashMap;

use async_trait::async_trait;
use chasqui_domain::{MessageId, WorkspaceId};

use crate::conversations::{contact, CONTACT_COLUMNS};
use crate::messages::{message, MESSAGE_COLUMNS};
use crate::sql::{args, placeholders, Sql, Value};
use crate::tenancy::{channel, CHANNEL_COLUMNS};
use crate::{Channel, Contact, MessageRecord, Result};

/// A contact to create.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct NewContact {
    /// Name.
    pub name: Option<String>,
    /// Phone number (E.164 digits); also becomes its WhatsApp id, so the person's replies find
    /// this contact instead of creating another.
    pub phone: Option<String>,
    /// Email address.
    pub email: Option<String>,
    /// Tags.
    pub tags: Vec<String>,
    /// Free-form fields (a JSON object).
    pub custom_fields: serde_json::Value,
}

/// Lookups for integer-id vendor dialects. Every lookup is scoped to a workspace.
#[async_trait]
pub trait DialectIdStore: Send + Sync {
    /// The message of a workspace whose `seq` is `seq`.
    async fn message_by_seq(
        &self,
        workspace_id: &WorkspaceId,
        seq: i64,
    ) -> Result<Option<MessageRecord>>;
    /// The message object a vendor dialect's client sent for this message (JSON text), if any.
    async fn client_message(
        &self,
        workspace_id: &WorkspaceId,
        message_id: &MessageId,
    ) -> Result<Option<String>>;
    /// The contact of a workspace whose number is `num`.
    async fn contact_by_num(&self, workspace_id: &WorkspaceId, num: i64)
        -> Result<Option<Contact>>;
    /// The contact of a workspace that another system (`source`, e.g. respond.io) knows by
    /// `external_id`, as a contact import recorded it.
    async fn contact_by_external_id(
        &self,
        workspace_id: &WorkspaceId,
        source: &str,
        external_id: &str,
    ) -> Result<Option<Contact>>;
    /// The id `source` knows each of `contact_ids` by (the first recorded, when several), for
    /// those it knows: contact id → external id.
    async fn external_ids(
        &self,
        workspace_id: &WorkspaceId,
        source: &str,
        contact_ids: &[String],
    ) -> Result<HashMap<String, String>>;
    /// The channel of a workspace whose number is `num`.
    async fn channel_by_num(&self, workspace_id: &WorkspaceId, num: i64)
        -> Result<Option<Channel>>;
    /// The first contact (lowest number) of a workspace with this email, ignoring case.
    async fn contact_by_email(
        &self,
        workspace_id: &WorkspaceId,
        email: &str,
    ) -> Result<Option<Contact>>;
    /// The first contact (lowest number) of a workspace with this phone or WhatsApp id (digits).
    async fn contact_by_phone(
        &self,
        workspace_id: &WorkspaceId,
        digits: &str,
    ) -> Result<Option<Contact>>;
}

#[async_trait]
impl<B: Sql> DialectIdStore for B {
    async fn message_by_seq(
        &self,
        workspace_id: &WorkspaceId,
        seq: i64,
    ) -> Result<Option<MessageRecord>> {
        self.lookup((workspace_id.to_string(), seq), |db, (ws, seq)| {
            Box::pin(async move {
                let sql = format!(
                    "SELECT {MESSAGE_COLUMNS} FROM messages WHERE workspace_id = $1 AND seq = $2"
                );
                db.fetch_one_map(&sql, args![ws, *seq], message).await
            })
        })
        .await
    }

    async fn client_message(
        &self,
        workspace_id: &WorkspaceId,
        message_id: &MessageId,
    ) -> Result<Option<String>> {
        self.lookup(
            (workspace_id.to_string(), message_id.to_string()),
            |db, (ws, id)| {
                Box::pin(async move {
                    let row = db
                    .fetch_optional(
                        "SELECT client_message FROM messages WHERE workspace_id = $1 AND id = $2",
                        args![ws, id],
                    )
                    .await?;
                    Ok(match row {
                        Some(mut r) => r.get::<Option<String>>()?,
                        None => None,
                    })
                })
            },
        )
        .await
    }

    async fn contact_by_num(
        &self,
        workspace_id: &WorkspaceId,
        num: i64,
    ) -> Result<Option<Contact>> {
        self.lookup((workspace_id.to_string(), num), |db, (ws, num)| {
            Box::pin(async move {
                let sql = format!(
                    "SELECT {CONTACT_COLUMNS} FROM contacts WHERE workspace_id = $1 AND num = $2"
                );
                db.fetch_one_map(&sql, args![ws, *num], contact).await
            })
        })
        .await
    }

    async fn contact_by_external_id(
        &self,
        workspace_id: &WorkspaceId,
        source: &str,
        external_id: &str,
    ) -> Result<Option<Contact>> {
        let key = (
            workspace_id.to_string(),
            source.to_string(),
            external_id.to_string(),
        );
        self.lookup(key, |db, (ws, source, id)| {
            Box::pin(async move {
                let sql = format!(
                    "SELECT {CONTACT_COLUMNS} FROM contacts WHERE workspace_id = $1 AND id = \
                     (SELECT contact_id FROM contact_external_ids WHERE workspace_id = $1 \
                      AND source = $2 AND external_id = $3)"
                );
                db.fetch_one_map(&sql, args![ws, source, id], contact).await
            })
        })
        .await
    }

    async fn external_ids(
        &self,
        workspace_id: &WorkspaceId,
        source: &str,
        contact_ids: &[String],
    ) -> Result<HashMap<String, String>> {
        if contact_ids.is_empty() {
            return Ok(HashMap::new());
        }
        let key = (
            workspace_id.to_string(),
            source.to_string(),
            contact_ids.to_vec(),
        );
        self.lookup(key, |db, (ws, source, ids)| {
            Box::pin(async move {
                // Newest first, so that the first recorded is the one kept.
                let sql = format!(
                    "SELECT contact_id, external_id FROM contact_external_ids \
                     WHERE workspace_id = $1 AND source = $2 AND contact_id IN ({}) \
                     ORDER BY created_at DESC, external_id DESC",
                    placeholders(3, ids.len())
                );
                let mut args = args![ws, source];
                args.extend(ids.iter().map(Value::from));
                let rows = db
                    .fetch_map(&sql, args, |r| Ok((r.get()?, r.get()?)))
                    .await?;
                Ok(rows.into_iter().collect())
            })
        })
        .await
    }

    async fn channel_by_num(
        &self,
        workspace_id: &WorkspaceId,
        num: i64,
    ) -> Result<Option<Channel>> {
        self.lookup((workspace_id.to_string(), num), |db, (ws, num)| {
            Box::pin(async move {
                let sql = format!(
                    "SELECT {CHANNEL_COLUMNS} FROM channels WHERE workspace_id = $1 AND num = $2"
                );
                db.fetch_one_map(&sql, args![ws, *num], channel).await
            })
        })
        .await
    }

    async fn contact_by_email(
        &self,
        workspace_id: &WorkspaceId,
        email: &str,
    ) -> Result<Option<Contact>> {
        self.read(
            (workspace_id.to_string(), email.to_string()),
            |db, (ws, email)| {
                Box::pin(async move {
                    let sql = format!(
                        "SELECT {CONTACT_COLUMNS} FROM contacts WHERE workspace_id = $1 \
                     AND lower(email) = lower($2) ORDER BY num LIMIT 1"
                    );
                    db.fetch_one_map(&sql, args![ws, email], contact).await
                })
            },
        )
        .await
    }

    async fn contact_by_phone(
        &self,
        workspace_id: &WorkspaceId,
        digits: &str,
    ) -> Result<Option<Contact>> {
        self.read(
            (workspace_id.to_string(), digits.to_string()),
            |db, (ws, digits)| {
                Box::pin(async move {
                    let sql = format!(
                        "SELECT {CONTACT_COLUMNS} FROM contacts WHERE workspace_id = $1 \
                     AND (wa_id = $2 OR phone = $2) ORDER BY num LIMIT 1"
                    );
                    db.fetch_one_map(&sql, args![ws, digits], contact).await
                })
            },
        )
        .await
    }
}
