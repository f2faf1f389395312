//! Two-way messaging: the webhook inbox, contacts, conversations and inbound messages.

use async_trait::async_trait;
use chasqui_domain::consent::ConsentSource;
use chasqui_domain::{ChannelId, WorkspaceId};
use serde::Serialize;
use serde_json::Value;

use crate::sql::{greatest, Db};
use crate::{Millis, Result};

/// A verified Meta webhook delivery waiting to be processed.
#[derive(Debug, Clone)]
pub struct InboxItem {
    /// Position in the inbox.
    pub seq: i64,
    /// `(phone_number_id, channel_id)` of the channels whose app secret verified it.
    pub channels: Vec<(String, ChannelId)>,
    /// The body exactly as received.
    pub body: String,
    /// Processing attempts so far (this one excluded).
    pub attempts: i64,
}

/// How processing an inbox item ended.
#[derive(Debug, Clone)]
pub struct InboxFinish {
    /// The item's position in the inbox.
    pub seq: i64,
    /// `None`: processed; otherwise why it failed, to be tried again at `retry_at`.
    pub error: Option<String>,
    /// When a failed item is tried again.
    pub retry_at: Millis,
}

/// A person seen in a webhook (`contacts[]` or a message's sender).
#[derive(Debug, Clone, PartialEq)]
pub struct ContactSighting {
    /// The workspace of the channel it was seen on.
    pub workspace_id: WorkspaceId,
    /// WhatsApp id (phone digits), when Meta gave one.
    pub wa_id: Option<String>,
    /// Business-scoped user id (BSUID), when Meta gave one.
    pub user_id: Option<String>,
    /// Parent BSUID (`US.ENT.…`), when Meta gave one.
    pub parent_user_id: Option<String>,
    /// Profile name.
    pub name: Option<String>,
    /// The ids the person had before, when Meta reports that they changed.
    pub change: Option<IdentityChange>,
}

/// What a `user_changed_user_id` or `user_changed_number` system message says changed: the
/// contact that had the previous ids takes the new ones (`wa_id`/`user_id` of the sighting).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IdentityChange {
    /// The BSUID the person had (`system.previous_user_id`).
    pub previous_user_id: Option<String>,
    /// The phone digits they had, for a number change (the message's `from`).
    pub previous_wa_id: Option<String>,
}

/// An inbound message, normalised, ready to store.
#[derive(Debug, Clone, PartialEq)]
pub struct InboundRecord {
    /// Chasqui's id for it (`in_...`), used only when it is new.
    pub id: String,
    /// The channel's workspace.
    pub workspace_id: WorkspaceId,
    /// The channel it arrived on.
    pub channel_id: ChannelId,
    /// Meta's message id.
    pub meta_id: String,
    /// The sender: phone digits and/or BSUID; neither when Meta named no sender, and then the
    /// message is kept unattributed.
    pub from: ContactSighting,
    /// Normalised type (`text`, `image`, `button_reply`, ...).
    pub kind: String,
    /// Normalised content (JSON text).
    pub content: String,
    /// The message object exactly as Meta sent it (JSON text).
    pub raw: String,
    /// The replied-to message id, if a reply.
    pub context_id: Option<String>,
    /// Meta's timestamp.
    pub sent_at: Millis,
    /// Whether it opens (or renews) the 24-hour customer service window.
    pub opens_window: bool,
    /// The stop or resume keyword the whole message is, if any: applied to the sender's
    /// marketing consent when the message is first stored (a repeated delivery changes nothing).
    pub keyword: Option<KeywordConsent>,
}

/// A customer's message that stops or resumes marketing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeywordConsent {
    /// `true`: a stop keyword; `false`: a resume keyword.
    pub opted_out: bool,
    /// The message as written (the change's detail).
    pub text: String,
}

/// What `record_inbound` did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct InboundReport {
    /// Messages stored for the first time.
    pub stored: usize,
    /// Messages seen before (Meta's retries), ignored.
    pub duplicates: usize,
    /// Contacts created.
    pub contacts_created: usize,
    /// Messages kept without a sender (see [`Unattributed`]).
    pub unattributed: usize,
}

/// An inbound message whose sender Meta did not name: kept with its payload.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Unattributed {
    /// `in_...`.
    pub id: String,
    /// The channel it arrived on.
    pub channel_id: ChannelId,
    /// Meta's message id.
    pub meta_id: String,
    /// Normalised type.
    pub kind: String,
    /// Normalised content (JSON text).
    pub content: String,
    /// The message object exactly as Meta sent it (JSON text).
    pub raw: String,
    /// Meta's timestamp.
    pub sent_at: Millis,
    /// When Chasqui recorded it.
    pub received_at: Millis,
    /// Its position, for paging (newest first).
    pub seq: i64,
}

/// A contact of a workspace.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Contact {
    /// `ct_...`.
    pub id: String,
    /// Owning workspace.
    #[serde(skip)]
    pub workspace_id: WorkspaceId,
    /// WhatsApp id (phone digits).
    pub wa_id: Option<String>,
    /// Business-scoped user id (BSUID).
    pub user_id: Option<String>,
    /// Parent BSUID (`US.ENT.…`), shared by an enterprise's portfolios.
    pub parent_user_id: Option<String>,
    /// Phone number (E.164 digits).
    pub phone: Option<String>,
    /// Name (the WhatsApp profile name until the business sets one).
    pub name: Option<String>,
    /// The name on the person's WhatsApp profile, as last reported.
    pub profile_name: Option<String>,
    /// Email address.
    pub email: Option<String>,
    /// Tags.
    pub tags: Vec<String>,
    /// Free-form fields.
    pub custom_fields: Value,
    /// The person asked not to receive business-initiated messages.
    pub opted_out: bool,
    /// Whether they stopped marketing messages, and the latest change of it.
    pub marketing: MarketingConsent,
    /// Creation time.
    pub created_at: Millis,
    /// Last change.
    pub updated_at: Millis,
    /// Stable integer number, unique in the database, given by the store (what integer-id
    /// vendor dialects call `contactId`).
    #[serde(skip)]
    pub num: i64,
}

/// A contact's marketing consent: opted out or not, and its latest change (none: never changed).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct MarketingConsent {
    /// The contact stopped marketing messages.
    pub opted_out: bool,
    /// When it last changed.
    pub changed_at: Option<Millis>,
    /// What changed it last.
    pub source: Option<ConsentSource>,
    /// Meta's detail, the keyword written, or Meta's error title.
    pub detail: Option<String>,
}

/// A marketing consent change to record for a person (found, or created, by wa_id or BSUID).
#[derive(Debug, Clone, PartialEq)]
pub struct ConsentChange {
    /// The person.
    pub who: ContactSighting,
    /// The state asked for: `true` opts them out of marketing.
    pub opted_out: bool,
    /// What asked for it.
    pub source: ConsentSource,
    /// Meta's detail or the like.
    pub detail: Option<String>,
    /// Names the report, when it may be delivered again (a webhook): a key already in the
    /// contact's history changes nothing.
    pub event_key: Option<String>,
}

/// What `record_consent` did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct ConsentReport {
    /// Contacts whose consent changed.
    pub changed: usize,
    /// Changes that asked for the state the contact already had, or were seen before.
    pub unchanged: usize,
    /// Contacts created for them.
    pub contacts_created: usize,
}

/// One entry of a contact's history: a change of its marketing consent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ContactHistoryEntry {
    /// Its position (the cursor of the next page).
    pub seq: i64,
    /// `marketing_opt_out` or `marketing_opt_in`.
    pub change: String,
    /// The marketing opt-out after the change.
    pub marketing_opted_out: bool,
    /// What changed it.
    pub source: ConsentSource,
    /// Meta's detail, the keyword written, or Meta's error title.
    pub detail: Option<String>,
    /// When Chasqui recorded it.
    pub at: Millis,
}

/// A change to a contact (`None` leaves a field alone; `Some(None)` clears it).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ContactPatch {
    /// Name.
    pub name: Option<Option<String>>,
    /// Phone digits.
    pub phone: Option<Option<String>>,
    /// WhatsApp id.
    pub wa_id: Option<Option<String>>,
    /// BSUID.
    pub user_id: Option<Option<String>>,
    /// Email.
    pub email: Option<Option<String>>,
    /// Tags (replaced whole).
    pub tags: Option<Vec<String>>,
    /// Custom fields (replaced whole).
    pub custom_fields: Option<Value>,
    /// Opt-out flag.
    pub opted_out: Option<bool>,
    /// Marketing opt-out, set by the business (recorded in the history with source `api`).
    pub marketing_opted_out: Option<bool>,
}

/// Filters of a contact listing.
#[derive(Debug, Clone, Default)]
pub struct ContactFilter {
    /// Substring of name, phone, wa_id, user_id or email.
    pub search: Option<String>,
    /// Only contacts with this tag.
    pub tag: Option<String>,
    /// Only ids after this one (cursor).
    pub after_id: Option<String>,
    /// Page size.
    pub limit: i64,
}

/// The `seq` of the latest outbound message to a conversation's contact on its channel (0 when
/// none), for the conversation row named `cv` and its contact row named `ct`: one lookup per
/// form of the contact's number (`wa_id`, `phone`), each on `messages_workspace_recipient`
/// newest first. One `OR` of the two would be answered by walking the whole workspace's
/// messages, newest first, until one is the contact's.
pub(crate) fn latest_outbound_seq(db: &dyn Db, cv: &str, ct: &str) -> String {
    let latest = |column: &str| {
        format!(
            "COALESCE((SELECT m.seq FROM messages m WHERE m.workspace_id = {cv}.workspace_id \
             AND m.recipient = {ct}.{column} AND m.channel_id = {cv}.channel_id \
             ORDER BY m.seq DESC LIMIT 1), 0)"
        )
    };
    format!("{}({}, {})", greatest(db), latest("wa_id"), latest("phone"))
}

/// The columns a [`Conversation`] is read from, in its field order: the row's own, then its
/// latest outbound message's acceptance time, which no write on the send path keeps (an
/// accepted message must not cost a conversation row update).
pub(crate) fn conversation_columns(db: &dyn Db) -> String {
    format!(
        "id, workspace_id, channel_id, contact_id, last_inbound_at, last_message_at, created_at, \
         unread, (SELECT o.created_at FROM contacts ct JOIN messages o ON o.seq = {} \
         WHERE ct.id = conversations.contact_id)",
        latest_outbound_seq(db, "conversations", "ct")
    )
}

/// A conversation: one contact on one channel.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Conversation {
    /// `cv_...`.
    pub id: String,
    /// Owning workspace.
    #[serde(skip)]
    pub workspace_id: WorkspaceId,
    /// The channel.
    pub channel_id: ChannelId,
    /// The contact.
    pub contact_id: String,
    /// Last inbound user message (opens the window).
    pub last_inbound_at: Option<Millis>,
    /// Last message either way: an inbound one's receipt or an outbound one's acceptance (one
    /// clock, as the entries' `at`).
    pub last_message_at: Millis,
    /// Creation time.
    pub created_at: Millis,
    /// The contact's new messages since the conversation was last marked read (system notices,
    /// edits and deletions of earlier messages, and Meta's repeated deliveries not counted).
    pub unread: i64,
}

/// Where a page of [`ConversationStore::list_inbox`] continues: the last conversation shown, by
/// the activity time the inbox is ordered by and its id. Take it from
/// [`InboxConversation::cursor`]: the conversation's own `last_message_at` also counts messages
/// sent through the API, which do not move a conversation in the inbox (the send path writes no
/// conversation row), so it may be later than the inbox's order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InboxCursor {
    /// The inbox's activity time of the last conversation shown (the row's `last_message_at`).
    pub last_message_at: Millis,
    /// Its id.
    pub id: String,
}

impl InboxCursor {
    /// The cursor as opaque text, safe in a URL's query.
    pub fn encode(&self) -> String {
        format!("{}.{}", self.last_message_at, self.id)
    }

    /// The cursor [`encode`](Self::encode) wrote; `None` for text it could not have written.
    pub fn decode(text: &str) -> Option<Self> {
        let (at, id) = text.split_once('.')?;
        // Ids are the store's own (`cv_` and hex): anything else was not written by `encode`.
        let id_ok = !id.is_empty()
            && id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
        let digits_ok = !at.is_empty()
            && at
                .trim_start_matches('-')
                .bytes()
                .all(|b| b.is_ascii_digit());
        if !(id_ok && digits_ok) {
            return None;
        }
        Some(Self {
            last_message_at: at.parse().ok()?,
            id: id.to_string(),
        })
    }
}

/// One row of the inbox: a conversation, its contact and its latest message.
#[derive(Debug, Clone, PartialEq)]
pub struct InboxConversation {
    /// The conversation.
    pub conversation: Conversation,
    /// Its contact.
    pub contact: Contact,
    /// Its latest message either way; `None` when it has none.
    pub preview: Option<InboxPreview>,
    /// Where the next page starts when this is the last row of a page.
    pub cursor: InboxCursor,
}

/// A conversation's latest message, as the inbox shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InboxPreview {
    /// `inbound` or `outbound`.
    pub direction: &'static str,
    /// Message type (`text`, `image`, `template`, ...).
    pub kind: String,
    /// What a person reads of it: the text, a caption, a button's or list row's title, a
    /// reaction's emoji, a place's name, a template's filled text; `None` when there is none.
    pub text: Option<String>,
    /// When Chasqui got it (inbound: receipt; outbound: acceptance).
    pub at: Millis,
}

/// One entry of a conversation's history, in either direction.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ConversationEntry {
    /// `inbound` or `outbound`.
    pub direction: &'static str,
    /// Chasqui's id (`in_...` or `msg_...`).
    pub id: String,
    /// Message type.
    pub kind: String,
    /// Inbound: normalised content; outbound: the body sent.
    pub content: Value,
    /// Outbound: its status; inbound: `received`.
    pub status: String,
    /// Meta's id (wamid), when known.
    pub wamid: Option<String>,
    /// When Chasqui got it (inbound: receipt; outbound: acceptance): one clock, millisecond
    /// precision, so both directions interleave correctly (Meta's timestamps are whole seconds).
    pub at: Millis,
}

/// What the send path needs to know about a recipient on a channel.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RecipientState {
    /// The contact opted out.
    pub opted_out: bool,
    /// The contact stopped marketing messages.
    pub marketing_opted_out: bool,
    /// Their last window-opening message on this channel.
    pub last_inbound_at: Option<Millis>,
}

impl ContactPatch {
    /// Applies the patch to a contact (both back ends store the result).
    pub fn apply_to(&self, c: &mut Contact) {
        let set = |field: &mut Option<String>, v: &Option<Option<String>>| {
            if let Some(v) = v {
                field.clone_from(v);
            }
        };
        set(&mut c.name, &self.name);
        set(&mut c.phone, &self.phone);
        set(&mut c.wa_id, &self.wa_id);
        set(&mut c.user_id, &self.user_id);
        set(&mut c.email, &self.email);
        if let Some(tags) = &self.tags {
            c.tags.clone_from(tags);
        }
        if let Some(fields) = &self.custom_fields {
            c.custom_fields.clone_from(fields);
        }
        if let Some(o) = self.opted_out {
            c.opted_out = o;
        }
    }
}

/// The latest `limit` entries of both directions, oldest first (ties keep inbound first).
pub(crate) fn latest_in_order(
    mut entries: Vec<ConversationEntry>,
    limit: i64,
) -> Vec<ConversationEntry> {
    entries.sort_by(|a, b| a.at.cmp(&b.at).then(a.id.cmp(&b.id)));
    let keep = usize::try_from(limit).unwrap_or(0);
    let skip = entries.len().saturating_sub(keep);
    entries.split_off(skip)
}

/// Persistence of two-way messaging.
#[async_trait]
pub trait ConversationStore: Send + Sync {
    /// Stores a verified webhook body before it is answered; returns its inbox position.
    async fn enqueue_webhook(
        &self,
        channels: &[(String, ChannelId)],
        body: &str,
        now: Millis,
    ) -> Result<i64>;
    /// Leases up to `limit` unprocessed inbox items, oldest first.
    async fn claim_webhooks(
        &self,
        owner: &str,
        now: Millis,
        lease_ms: i64,
        limit: i64,
    ) -> Result<Vec<InboxItem>>;
    /// Extends to `now + lease_ms` the leases `owner` still holds on unprocessed items `seqs`
    /// (while it is still processing them); answers how many it still held.
    async fn renew_webhooks(
        &self,
        owner: &str,
        seqs: &[i64],
        now: Millis,
        lease_ms: i64,
    ) -> Result<u64>;
    /// Deliveries stored but not yet processed.
    async fn pending_webhooks(&self) -> Result<i64>;
    /// Marks inbox items processed or records their failed attempts, all in one transaction.
    async fn finish_webhooks(&self, items: Vec<InboxFinish>, now: Millis) -> Result<()>;
    /// Records contacts and inbound messages: contacts upserted, each message stored once,
    /// conversations created and their window renewed.
    async fn record_inbound(
        &self,
        sightings: Vec<ContactSighting>,
        messages: Vec<InboundRecord>,
        now: Millis,
    ) -> Result<InboundReport>;

    /// A workspace's inbound message, by Chasqui's id or Meta's wamid: its id, channel and
    /// wamid.
    async fn find_inbound(
        &self,
        workspace_id: &WorkspaceId,
        id_or_wamid: &str,
    ) -> Result<Option<(String, ChannelId, String)>>;

    /// A workspace's unattributed inbound messages, newest first, before `before_seq`.
    async fn list_unattributed(
        &self,
        workspace_id: &WorkspaceId,
        before_seq: Option<i64>,
        limit: i64,
    ) -> Result<Vec<Unattributed>>;

    /// A page of a workspace's contacts, by id.
    async fn list_contacts(
        &self,
        workspace_id: &WorkspaceId,
        filter: &ContactFilter,
    ) -> Result<Vec<Contact>>;
    /// One contact.
    async fn get_contact(&self, workspace_id: &WorkspaceId, id: &str) -> Result<Option<Contact>>;
    /// Changes a contact; `None` when there is no such contact. A wa_id or user_id already used
    /// by another contact of the workspace is a `StoreError::Conflict`.
    async fn update_contact(
        &self,
        workspace_id: &WorkspaceId,
        id: &str,
        patch: &ContactPatch,
        now: Millis,
    ) -> Result<Option<Contact>>;
    /// Creates a contact; a phone (WhatsApp id) already used by another contact of the
    /// workspace is a `StoreError::Conflict`.
    async fn create_contact(
        &self,
        workspace_id: &WorkspaceId,
        contact: &crate::NewContact,
        now: Millis,
    ) -> Result<Contact>;
    /// Deletes a contact, its conversations (their inbound messages and the outbound messages
    /// stay as the record of what was sent and received) and the ids other systems gave it;
    /// `false` when there is no such contact.
    async fn delete_contact(&self, workspace_id: &WorkspaceId, id: &str) -> Result<bool>;
    /// Records marketing consent changes, each in its own contact's history with a business
    /// webhook event, in one transaction; a change to the state a contact already has, or
    /// with an `event_key` already in its history, changes nothing.
    async fn record_consent(
        &self,
        workspace_id: &WorkspaceId,
        changes: Vec<ConsentChange>,
        now: Millis,
    ) -> Result<ConsentReport>;
    /// A contact's history, oldest first, after `after_seq`; `None` when there is no such
    /// contact.
    async fn contact_history(
        &self,
        workspace_id: &WorkspaceId,
        contact_id: &str,
        after_seq: Option<i64>,
        limit: i64,
    ) -> Result<Option<Vec<ContactHistoryEntry>>>;
    /// The opt-out flags and window of a recipient (phone digits, any of `wa_ids`: the at most two
    /// forms `wa_id_variants` gives) on a channel.
    async fn recipient_state(
        &self,
        workspace_id: &WorkspaceId,
        channel_id: &ChannelId,
        wa_ids: &[String],
    ) -> Result<RecipientState>;

    /// A page of a workspace's conversations, by id.
    async fn list_conversations(
        &self,
        workspace_id: &WorkspaceId,
        contact_id: Option<&str>,
        after_id: Option<&str>,
        limit: i64,
    ) -> Result<Vec<Conversation>>;
    /// One conversation.
    async fn get_conversation(
        &self,
        workspace_id: &WorkspaceId,
        id: &str,
    ) -> Result<Option<Conversation>>;
    /// A conversation's messages in both directions, oldest first, after `after` (time, id).
    async fn conversation_entries(
        &self,
        conversation: &Conversation,
        limit: i64,
    ) -> Result<Vec<ConversationEntry>>;

    /// A page of a workspace's inbox: up to `limit` conversations with their contacts and latest
    /// messages, the latest activity first (an inbound message, or a reply
    /// [`touch_conversation`](Self::touch_conversation) recorded; ties by id, descending), after
    /// `before` (the previous page's last [`InboxConversation::cursor`]).
    async fn list_inbox(
        &self,
        workspace_id: &WorkspaceId,
        before: Option<&InboxCursor>,
        limit: i64,
    ) -> Result<Vec<InboxConversation>>;
    /// Sets a conversation's unread count to 0; `false` when the workspace has no such
    /// conversation.
    async fn mark_conversation_read(&self, workspace_id: &WorkspaceId, id: &str) -> Result<bool>;
    /// Moves a conversation's latest activity up to `at` (never back), for a reply sent from the
    /// console; `false` when the workspace has no such conversation.
    async fn touch_conversation(
        &self,
        workspace_id: &WorkspaceId,
        id: &str,
        at: Millis,
    ) -> Result<bool>;
}

/// Columns read back as a [`Contact`], in its field order.
pub(crate) const CONTACT_COLUMNS: &str = "id, workspace_id, wa_id, user_id, phone, name, \
     profile_name, email, tags, custom_fields, opted_out, created_at, updated_at, num, \
     marketing_opted_out, marketing_changed_at, marketing_source, marketing_detail, \
     parent_user_id";

/// A JSON column, or corrupt data.
fn json_column<T: serde::de::DeserializeOwned>(r: &mut crate::sql::Row, what: &str) -> Result<T> {
    let text: String = r.get()?;
    serde_json::from_str(&text)
        .map_err(|e| crate::StoreError::Corrupt(format!("contact {what} {text:?}: {e}")))
}

/// Reads a contact from [`CONTACT_COLUMNS`].
pub(crate) fn contact(r: &mut crate::sql::Row) -> Result<Contact> {
    Ok(Contact {
        id: r.get()?,
        workspace_id: r.get()?,
        wa_id: r.get()?,
        user_id: r.get()?,
        phone: r.get()?,
        name: r.get()?,
        profile_name: r.get()?,
        email: r.get()?,
        tags: json_column(r, "tags")?,
        custom_fields: json_column(r, "custom_fields")?,
        opted_out: r.get()?,
        created_at: r.get()?,
        updated_at: r.get()?,
        // Given by the store on insert (a sequence or a trigger), so never missing.
        num: r.get()?,
        marketing: MarketingConsent {
            opted_out: r.get()?,
            changed_at: r.get()?,
            source: consent_source(r.get()?)?,
            detail: r.get()?,
        },
        parent_user_id: r.get()?,
    })
}

mod import;
/// A stored consent source, or corrupt data.
pub(crate) fn consent_source(name: Option<String>) -> Result<Option<ConsentSource>> {
    name.map(|n| {
        ConsentSource::parse(&n)
            .ok_or_else(|| crate::StoreError::Corrupt(format!("consent source {n:?}")))
    })
    .transpose()
}

pub(crate) mod consent;
pub(crate) mod identity;

mod store;

#[cfg(test)]
pub(crate) use store::inbox_sql;

pub use import::{
    ContactImportStore, ImportOutcome, ImportRow, EXTERNAL_SOURCE, IMPORT_BATCH, RESPOND_SOURCE,
};
