//! Lookups by the integer numbers and plain fields that vendor dialects use to name things
//! (respond.io's `messageId`, `contactId`, `channelId`, `email:` and `phone:` identifiers).

use async_trait::async_trait;

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
    async fn message_by_seq(&self, workspace_id: &str, seq: i64) -> Result<Option<MessageRecord>>;
    /// The message object a vendor dialect's client sent for this message (JSON text), if any.
    async fn client_message(&self, workspace_id: &str, message_id: &str) -> Result<Option<String>>;
    /// The contact of a workspace whose number is `num`.
    async fn contact_by_num(&self, workspace_id: &str, num: i64) -> Result<Option<Contact>>;
    /// The channel of a workspace whose number is `num`.
    async fn channel_by_num(&self, workspace_id: &str, num: i64) -> Result<Option<Channel>>;
    /// The first contact (lowest number) of a workspace with this email, ignoring case.
    async fn contact_by_email(&self, workspace_id: &str, email: &str) -> Result<Option<Contact>>;
    /// The first contact (lowest number) of a workspace with this phone or WhatsApp id (digits).
    async fn contact_by_phone(&self, workspace_id: &str, digits: &str) -> Result<Option<Contact>>;
}
