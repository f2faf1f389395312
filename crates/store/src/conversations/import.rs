//! Contact import on either back end: each row finds its contact (by an id another system gave
//! it, then by phone or wa_id, then by user_id) and updates it, or creates one. A row is stored
//! whole or not at all; a batch of rows is one transaction, read with a few queries and written
//! with a few statements, whatever its size.

use std::collections::{BTreeSet, HashMap, HashSet};

use async_trait::async_trait;
use chasqui_domain::phone::wa_id_variants;
use chasqui_domain::WorkspaceId;
use serde_json::Value as Json;

use super::{contact, Contact, ContactPatch, CONTACT_COLUMNS};
use crate::business_webhooks::{self, WebhookEvent};
use crate::error::Constraint;
use crate::sql::{for_update, json_records, placeholders, Db, Sql, Value};
use crate::{Millis, Result, StoreError};

/// The source of respond.io's contact ids (what its `id:N` identifiers name).
pub const RESPOND_SOURCE: &str = "respond";
/// The source of a generic external id (a CRM's, say).
pub const EXTERNAL_SOURCE: &str = "external";
/// Rows written per transaction: large enough that a batch costs a few statements per hundred
/// rows, small enough that its statements stay far below either back end's parameter limit.
pub const IMPORT_BATCH: usize = 500;

/// Why a batch is run again: another instance created a contact with a number or user id the
/// batch was about to give a new one (PostgreSQL only; SQLite has one writer).
const RACED: &str = "a contact the import was creating was created concurrently";
/// How often a raced batch is run again before the race is reported.
const RACE_RETRIES: usize = 2;

/// One row of an import, read and checked by the caller.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ImportRow {
    /// Ids other systems gave the person, `(source, id)`, matched in this order.
    pub external_ids: Vec<(String, String)>,
    /// What to set (`None` leaves a field alone, `Some(None)` clears it). `phone` also becomes
    /// the wa_id of a contact that has none; `custom_fields` (an object) is merged into the
    /// contact's rather than replacing them.
    pub patch: ContactPatch,
}

/// What became of a row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ImportOutcome {
    /// A new contact.
    Created,
    /// An existing contact changed, or got an external id.
    Updated,
    /// The contact already was as the row says.
    Unchanged,
    /// Nothing of the row was stored: its `field` names another contact than the rest of it.
    Conflict {
        /// The row's field (`phone`, `user_id`, `external_id`, ...).
        field: String,
        /// What collided.
        message: String,
    },
}

/// Contact import.
#[async_trait]
pub trait ContactImportStore: Send + Sync {
    /// Imports `rows` in order (a row sees what the rows before it did), each
    /// [`IMPORT_BATCH`] rows in one transaction; answers each row's outcome, in order.
    async fn import_contacts(
        &self,
        workspace_id: &WorkspaceId,
        rows: Vec<ImportRow>,
        now: Millis,
    ) -> Result<Vec<ImportOutcome>>;
}

/// What one transaction is given.
struct Batch {
    workspace_id: WorkspaceId,
    rows: Vec<ImportRow>,
    now: Millis,
}

/// The contacts a batch may touch, indexed by every key a row can match on, as the rows
/// before the current one left them.
#[derive(Default)]
struct Known {
    contacts: HashMap<String, Contact>,
    /// Ids of the contacts this batch creates, in order.
    created: Vec<String>,
    /// Ids of existing contacts this batch changes.
    changed: BTreeSet<String>,
    by_external: HashMap<(String, String), String>,
    /// External ids to store: `(source, id, contact id)`.
    new_links: Vec<(String, String, String)>,
    /// Phone and wa_id digits.
    by_number: HashMap<String, String>,
    by_user: HashMap<String, String>,
}

impl Known {
    fn index(&mut self, c: &Contact) {
        for n in [&c.wa_id, &c.phone].into_iter().flatten() {
            self.by_number.insert(n.clone(), c.id.clone());
        }
        if let Some(u) = &c.user_id {
            self.by_user.insert(u.clone(), c.id.clone());
        }
    }

    fn unindex(&mut self, c: &Contact) {
        for n in [&c.wa_id, &c.phone].into_iter().flatten() {
            if self.by_number.get(n) == Some(&c.id) {
                self.by_number.remove(n);
            }
        }
        if let Some(u) = &c.user_id {
            if self.by_user.get(u) == Some(&c.id) {
                self.by_user.remove(u);
            }
        }
    }

    /// The contact holding `digits` in any of its written forms.
    fn by_phone(&self, digits: &str) -> Option<&String> {
        wa_id_variants(digits)
            .iter()
            .find_map(|v| self.by_number.get(v))
    }

    /// Applies one row; on a conflict nothing changes.
    fn apply(&mut self, ws: &WorkspaceId, row: &ImportRow, now: Millis) -> ImportOutcome {
        let conflict = |field: &str, message: String| ImportOutcome::Conflict {
            field: field.to_string(),
            message,
        };
        let mut by_external: Option<&String> = None;
        for key in &row.external_ids {
            match (self.by_external.get(key), by_external) {
                (Some(id), Some(first)) if id != first => {
                    return conflict(
                        source_field(&key.0),
                        format!("names another contact than the row's other ids ({first})"),
                    )
                }
                (Some(id), _) => by_external = Some(id),
                (None, _) => {}
            }
        }
        let phone = given(&row.patch.phone);
        let user_id = given(&row.patch.user_id);
        let by_phone = phone.and_then(|p| self.by_phone(p));
        let by_user = user_id.and_then(|u| self.by_user.get(u));
        let target = by_external.or(by_phone).or(by_user).cloned();
        // A key of another contact than the one the row names would merge two people.
        if let Some(t) = &target {
            if by_phone.is_some_and(|p| p != t) {
                let other = by_phone.cloned().unwrap_or_default();
                return conflict("phone", format!("contact {other} has this phone number"));
            }
            if by_user.is_some_and(|u| u != t) {
                let other = by_user.cloned().unwrap_or_default();
                return conflict("user_id", format!("contact {other} has this user_id"));
            }
        }
        let before = match &target {
            Some(id) => self.contacts[id].clone(),
            None => blank(ws, now),
        };
        let mut after = before.clone();
        let mut patch = row.patch.clone();
        if let Some(Json::Object(fields)) = &patch.custom_fields {
            let mut merged = after.custom_fields.as_object().cloned().unwrap_or_default();
            merged.extend(fields.clone());
            patch.custom_fields = Some(Json::Object(merged));
        }
        // The person's replies name the number as their wa_id: they find this contact.
        if let (Some(p), None) = (phone, &after.wa_id) {
            patch.wa_id = Some(Some(p.to_string()));
        }
        patch.apply_to(&mut after);
        let links: Vec<(String, String)> = row
            .external_ids
            .iter()
            .filter(|k| self.by_external.get(*k) != Some(&after.id))
            .cloned()
            .collect();
        for (source, id) in &links {
            self.by_external
                .insert((source.clone(), id.clone()), after.id.clone());
            self.new_links
                .push((source.clone(), id.clone(), after.id.clone()));
        }
        let outcome = match &target {
            None => {
                self.created.push(after.id.clone());
                ImportOutcome::Created
            }
            Some(_) if after == before && links.is_empty() => return ImportOutcome::Unchanged,
            Some(id) => {
                if after != before {
                    after.updated_at = now;
                    if !self.created.contains(id) {
                        self.changed.insert(id.clone());
                    }
                }
                ImportOutcome::Updated
            }
        };
        self.unindex(&before);
        self.index(&after);
        self.contacts.insert(after.id.clone(), after);
        outcome
    }
}

/// The row field an external id of `source` comes from.
fn source_field(source: &str) -> &str {
    match source {
        RESPOND_SOURCE => "respond_id",
        EXTERNAL_SOURCE => "external_id",
        other => other,
    }
}

/// A value a patch sets (not clears, not leaves alone).
fn given(v: &Option<Option<String>>) -> Option<&str> {
    v.as_ref().and_then(|v| v.as_deref())
}

/// A contact about to be created.
fn blank(ws: &WorkspaceId, now: Millis) -> Contact {
    Contact {
        id: crate::new_id("ct_"),
        parent_user_id: None,
        workspace_id: ws.clone(),
        wa_id: None,
        user_id: None,
        phone: None,
        name: None,
        profile_name: None,
        email: None,
        tags: Vec::new(),
        custom_fields: Json::Object(Default::default()),
        opted_out: false,
        marketing: Default::default(),
        created_at: now,
        updated_at: now,
        // Given by the store on insert; nothing here reads it.
        num: 0,
    }
}

/// Every distinct value, in first-seen order.
fn distinct<'a>(values: impl IntoIterator<Item = &'a str>) -> Vec<String> {
    let mut seen = HashSet::new();
    values
        .into_iter()
        .filter(|v| seen.insert(*v))
        .map(str::to_string)
        .collect()
}

/// Reads every contact and external id the batch's rows name, locked on PostgreSQL. The keys
/// are listed as parameters: the planner then knows how many there are and probes the index for
/// each, however stale its statistics of a table an import is filling are.
async fn load(db: &mut dyn Db, b: &Batch) -> Result<Known> {
    let ws = &b.workspace_id;
    let mut known = Known::default();
    let sources = distinct(
        b.rows
            .iter()
            .flat_map(|r| &r.external_ids)
            .map(|k| k.0.as_str()),
    );
    for source in &sources {
        let ids = distinct(
            b.rows
                .iter()
                .flat_map(|r| &r.external_ids)
                .filter(|k| &k.0 == source)
                .map(|k| k.1.as_str()),
        );
        let sql = format!(
            "SELECT external_id, contact_id FROM contact_external_ids \
             WHERE workspace_id = $1 AND source = $2 AND external_id IN ({})",
            placeholders(3, ids.len())
        );
        let mut args = vec![Value::from(ws), Value::from(source)];
        args.extend(ids.into_iter().map(Value::from));
        for mut r in db.fetch_all(&sql, args).await? {
            let id: String = r.get()?;
            known.by_external.insert((source.clone(), id), r.get()?);
        }
    }
    let linked = distinct(known.by_external.values().map(String::as_str));
    let variants: Vec<String> = b
        .rows
        .iter()
        .filter_map(|r| given(&r.patch.phone))
        .flat_map(wa_id_variants)
        .collect();
    let numbers = distinct(variants.iter().map(String::as_str));
    let users = distinct(b.rows.iter().filter_map(|r| given(&r.patch.user_id)));
    // One query: PostgreSQL ORs the indexes' matches (a bitmap), SQLite probes each index.
    let mut args = vec![Value::from(ws)];
    let mut matches = Vec::new();
    for (columns, values) in [
        (&["id"][..], linked),
        (&["wa_id", "phone"][..], numbers),
        (&["user_id"][..], users),
    ] {
        if values.is_empty() {
            continue;
        }
        let list = placeholders(args.len() + 1, values.len());
        for column in columns {
            matches.push(format!("{column} IN ({list})"));
        }
        args.extend(values.into_iter().map(Value::from));
    }
    if !matches.is_empty() {
        let sql = format!(
            "SELECT {CONTACT_COLUMNS} FROM contacts WHERE workspace_id = $1 AND ({}){}",
            matches.join(" OR "),
            for_update(db)
        );
        for c in db.fetch_map(&sql, args, contact).await? {
            known.index(&c);
            known.contacts.insert(c.id.clone(), c);
        }
    }
    // An id left behind by a contact deleted before its ids were deleted with it names nobody.
    let contacts = &known.contacts;
    known.by_external.retain(|_, id| contacts.contains_key(id));
    Ok(known)
}

/// A value (a list of keys, the records to write) as one JSON parameter.
fn json_param<T: serde::Serialize + ?Sized>(value: &T) -> Result<Value> {
    serde_json::to_string(value)
        .map(Value::from)
        .map_err(|e| StoreError::Corrupt(e.to_string()))
}

/// The columns a new contact is written with, and their PostgreSQL types.
const CONTACT_RECORD: &[(&str, &str)] = &[
    ("id", "text"),
    ("workspace_id", "text"),
    ("wa_id", "text"),
    ("user_id", "text"),
    ("phone", "text"),
    ("name", "text"),
    ("email", "text"),
    ("tags", "text"),
    ("custom_fields", "text"),
    ("opted_out", "boolean"),
    ("created_at", "bigint"),
    ("updated_at", "bigint"),
];

/// A contact as a [`CONTACT_RECORD`] object.
fn record(c: &Contact) -> Json {
    serde_json::json!({
        "id": c.id, "workspace_id": c.workspace_id.as_str(), "wa_id": c.wa_id,
        "user_id": c.user_id, "phone": c.phone, "name": c.name, "email": c.email,
        "tags": Json::from(c.tags.clone()).to_string(), "custom_fields": c.custom_fields.to_string(),
        "opted_out": c.opted_out, "created_at": c.created_at, "updated_at": c.updated_at,
    })
}

/// The columns an external id is written with, and their PostgreSQL types.
const LINK_RECORD: &[(&str, &str)] = &[
    ("workspace_id", "text"),
    ("source", "text"),
    ("external_id", "text"),
    ("contact_id", "text"),
    ("created_at", "bigint"),
];

/// `INSERT INTO table (columns) SELECT columns FROM` the records of parameter `$1`.
fn insert_records(db: &dyn Db, table: &str, columns: &[(&str, &str)]) -> String {
    let names: Vec<&str> = columns.iter().map(|c| c.0).collect();
    let names = names.join(", ");
    // `WHERE true` tells SQLite's parser the `ON CONFLICT` that follows is the insert's.
    format!(
        "INSERT INTO {table} ({names}) SELECT {names} FROM {} WHERE true",
        json_records(db, "$1", columns)
    )
}

/// A unique index refusing a write means another instance got there first: run it again.
fn raced(e: StoreError) -> StoreError {
    match e.constraint() {
        Some(Constraint::Unique) => StoreError::Conflict(RACED.into()),
        _ => e,
    }
}

async fn import_batch(db: &mut dyn Db, b: &Batch) -> Result<Vec<ImportOutcome>> {
    let mut known = load(db, b).await?;
    let outcomes: Vec<ImportOutcome> = b
        .rows
        .iter()
        .map(|row| known.apply(&b.workspace_id, row, b.now))
        .collect();
    if !known.created.is_empty() {
        let records: Vec<Json> = known
            .created
            .iter()
            .map(|id| record(&known.contacts[id]))
            .collect();
        let sql = format!(
            "{} ON CONFLICT DO NOTHING",
            insert_records(db, "contacts", CONTACT_RECORD)
        );
        let inserted = db.execute(&sql, vec![json_param(&records)?]).await?;
        if inserted != known.created.len() as u64 {
            return Err(StoreError::Conflict(RACED.into()));
        }
    }
    let listens =
        !known.changed.is_empty() && business_webhooks::listens(db, &b.workspace_id).await?;
    for id in &known.changed {
        let c = &known.contacts[id];
        let tags = json_param(&c.tags)?;
        db.execute(
            "UPDATE contacts SET wa_id = $3, user_id = $4, phone = $5, name = $6, email = $7, \
             tags = $8, custom_fields = $9, opted_out = $10, updated_at = $11 \
             WHERE workspace_id = $1 AND id = $2",
            vec![
                Value::from(&c.workspace_id),
                Value::from(&c.id),
                Value::from(&c.wa_id),
                Value::from(&c.user_id),
                Value::from(&c.phone),
                Value::from(&c.name),
                Value::from(&c.email),
                tags,
                Value::from(c.custom_fields.to_string()),
                Value::from(c.opted_out),
                Value::from(c.updated_at),
            ],
        )
        .await
        .map_err(raced)?;
        if listens {
            business_webhooks::emit(db, &WebhookEvent::contact(c, b.now)).await?;
        }
    }
    if !known.new_links.is_empty() {
        let records: Vec<Json> = known
            .new_links
            .iter()
            .map(|(source, id, contact_id)| {
                serde_json::json!({"workspace_id": b.workspace_id.as_str(), "source": source,
                    "external_id": id, "contact_id": contact_id, "created_at": b.now})
            })
            .collect();
        // An id of a deleted contact is taken over.
        let sql = format!(
            "{} ON CONFLICT (workspace_id, source, external_id) \
             DO UPDATE SET contact_id = excluded.contact_id, created_at = excluded.created_at",
            insert_records(db, "contact_external_ids", LINK_RECORD)
        );
        db.execute(&sql, vec![json_param(&records)?]).await?;
    }
    Ok(outcomes)
}

#[async_trait]
impl<B: Sql> ContactImportStore for B {
    async fn import_contacts(
        &self,
        workspace_id: &WorkspaceId,
        rows: Vec<ImportRow>,
        now: Millis,
    ) -> Result<Vec<ImportOutcome>> {
        let mut outcomes = Vec::with_capacity(rows.len());
        for chunk in rows.chunks(IMPORT_BATCH) {
            let mut attempt = 0;
            loop {
                let batch = Batch {
                    workspace_id: workspace_id.clone(),
                    rows: chunk.to_vec(),
                    now,
                };
                match self
                    .write(batch, |db, b| Box::pin(import_batch(db, b)))
                    .await
                {
                    Err(StoreError::Conflict(why)) if why == RACED && attempt < RACE_RETRIES => {
                        attempt += 1
                    }
                    done => {
                        outcomes.extend(done?);
                        break;
                    }
                }
            }
        }
        Ok(outcomes)
    }
}
