//! Integer-number and plain-field lookups for vendor dialects, on SQLite.

use async_trait::async_trait;
use rusqlite::{params, OptionalExtension};

use super::conversations::{contact_from_row, CONTACT_COLUMNS};
use super::{channel_from_row, message_from_row, SqliteStore, CHANNEL_COLUMNS, MESSAGE_COLUMNS};
use crate::{Channel, Contact, DialectIdStore, MessageRecord, Result};

#[async_trait]
impl DialectIdStore for SqliteStore {
    async fn message_by_seq(&self, workspace_id: &str, seq: i64) -> Result<Option<MessageRecord>> {
        let ws = workspace_id.to_string();
        self.rt
            .read(move |c| {
                let sql = format!(
                    "SELECT {MESSAGE_COLUMNS} FROM messages WHERE workspace_id = ?1 AND seq = ?2"
                );
                Ok(c.prepare_cached(&sql)?
                    .query_row(params![ws, seq], message_from_row)
                    .optional()?)
            })
            .await
    }

    async fn client_message(&self, workspace_id: &str, message_id: &str) -> Result<Option<String>> {
        let (ws, id) = (workspace_id.to_string(), message_id.to_string());
        self.rt
            .read(move |c| {
                let found: Option<Option<String>> = c
                    .prepare_cached(
                        "SELECT client_message FROM messages WHERE workspace_id = ?1 AND id = ?2",
                    )?
                    .query_row(params![ws, id], |r| r.get(0))
                    .optional()?;
                Ok(found.flatten())
            })
            .await
    }

    async fn contact_by_num(&self, workspace_id: &str, num: i64) -> Result<Option<Contact>> {
        let ws = workspace_id.to_string();
        self.rt
            .read(move |c| {
                let sql = format!(
                    "SELECT {CONTACT_COLUMNS} FROM contacts WHERE workspace_id = ?1 AND num = ?2"
                );
                Ok(c.prepare_cached(&sql)?
                    .query_row(params![ws, num], contact_from_row)
                    .optional()?)
            })
            .await
    }

    async fn channel_by_num(&self, workspace_id: &str, num: i64) -> Result<Option<Channel>> {
        let ws = workspace_id.to_string();
        self.rt
            .read(move |c| {
                let sql = format!(
                    "SELECT {CHANNEL_COLUMNS} FROM channels WHERE workspace_id = ?1 AND num = ?2"
                );
                Ok(c.prepare_cached(&sql)?
                    .query_row(params![ws, num], channel_from_row)
                    .optional()?)
            })
            .await
    }

    async fn contact_by_email(&self, workspace_id: &str, email: &str) -> Result<Option<Contact>> {
        let (ws, email) = (workspace_id.to_string(), email.to_string());
        self.rt
            .read(move |c| {
                let sql = format!(
                    "SELECT {CONTACT_COLUMNS} FROM contacts WHERE workspace_id = ?1 \
                     AND lower(email) = lower(?2) ORDER BY num LIMIT 1"
                );
                Ok(c.prepare_cached(&sql)?
                    .query_row(params![ws, email], contact_from_row)
                    .optional()?)
            })
            .await
    }

    async fn contact_by_phone(&self, workspace_id: &str, digits: &str) -> Result<Option<Contact>> {
        let (ws, digits) = (workspace_id.to_string(), digits.to_string());
        self.rt
            .read(move |c| {
                let sql = format!(
                    "SELECT {CONTACT_COLUMNS} FROM contacts WHERE workspace_id = ?1 \
                     AND (wa_id = ?2 OR phone = ?2) ORDER BY num LIMIT 1"
                );
                Ok(c.prepare_cached(&sql)?
                    .query_row(params![ws, digits], contact_from_row)
                    .optional()?)
            })
            .await
    }
}
