//! Integer-number and plain-field lookups for vendor dialects, on PostgreSQL.

use async_trait::async_trait;

use super::conversations::{contact_from_row, CONTACT_COLUMNS};
use super::{channel_from_row, message_from_row, PgStore, CHANNEL_COLUMNS, MESSAGE_COLUMNS};
use crate::{Channel, Contact, DialectIdStore, MessageRecord, Result};

#[async_trait]
impl DialectIdStore for PgStore {
    async fn message_by_seq(&self, workspace_id: &str, seq: i64) -> Result<Option<MessageRecord>> {
        let sql =
            format!("SELECT {MESSAGE_COLUMNS} FROM messages WHERE workspace_id = $1 AND seq = $2");
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(workspace_id)
            .bind(seq)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(message_from_row).transpose()
    }

    async fn client_message(&self, workspace_id: &str, message_id: &str) -> Result<Option<String>> {
        let found: Option<Option<String>> = sqlx::query_scalar(
            "SELECT client_message FROM messages WHERE workspace_id = $1 AND id = $2",
        )
        .bind(workspace_id)
        .bind(message_id)
        .fetch_optional(&self.pool)
        .await?;
        Ok(found.flatten())
    }

    async fn contact_by_num(&self, workspace_id: &str, num: i64) -> Result<Option<Contact>> {
        let sql =
            format!("SELECT {CONTACT_COLUMNS} FROM contacts WHERE workspace_id = $1 AND num = $2");
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(workspace_id)
            .bind(num)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(contact_from_row).transpose()
    }

    async fn channel_by_num(&self, workspace_id: &str, num: i64) -> Result<Option<Channel>> {
        let sql =
            format!("SELECT {CHANNEL_COLUMNS} FROM channels WHERE workspace_id = $1 AND num = $2");
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(workspace_id)
            .bind(num)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(channel_from_row).transpose()
    }

    async fn contact_by_email(&self, workspace_id: &str, email: &str) -> Result<Option<Contact>> {
        let sql = format!(
            "SELECT {CONTACT_COLUMNS} FROM contacts WHERE workspace_id = $1 \
             AND lower(email) = lower($2) ORDER BY num LIMIT 1"
        );
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(workspace_id)
            .bind(email)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(contact_from_row).transpose()
    }

    async fn contact_by_phone(&self, workspace_id: &str, digits: &str) -> Result<Option<Contact>> {
        let sql = format!(
            "SELECT {CONTACT_COLUMNS} FROM contacts WHERE workspace_id = $1 \
             AND (wa_id = $2 OR phone = $2) ORDER BY num LIMIT 1"
        );
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(workspace_id)
            .bind(digits)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(contact_from_row).transpose()
    }
}
