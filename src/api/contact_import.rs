//! `POST /v1/contacts/import`: contacts from a JSON array or a CSV file (read as it streams in),
//! each row matched to the contact it names and updated, or created; rows with problems are
//! reported with their line and left out, the others imported.

mod csv_records;

use axum::body::Body;
use axum::extract::State;
use axum::http::{header, HeaderMap};
use axum::Json;
use chasqui_domain::problem::code;
use chasqui_domain::Problem;
use chasqui_store::{
    ContactPatch, ImportOutcome, ImportRow, EXTERNAL_SOURCE, IMPORT_BATCH, RESPOND_SOURCE,
};
use serde::Serialize;
use serde_json::{Map, Value};
use utoipa::ToSchema;

use super::auth::Caller;
use super::body;
use super::contacts::{read_field, text};
use super::error::ApiError;
use super::AppState;
use crate::clock::now_ms;
use csv_records::{Records, Stop};

/// Largest CSV body: read as it arrives, never held whole.
pub const MAX_CSV_BYTES: usize = 32 * 1024 * 1024;
/// Largest JSON body: parsed whole.
pub const MAX_JSON_BYTES: usize = 8 * 1024 * 1024;
/// Most row problems an answer lists; `errors_omitted` counts the rest.
const MAX_REPORTED_ERRORS: usize = 1000;
/// Longest external id.
const MAX_EXTERNAL_ID_CHARS: usize = 128;

/// A CSV row with more or fewer fields than the header names.
const COLUMN_COUNT: &str = "column_count";
/// A row's key held by another contact than the one the row names.
const CONFLICT: &str = "conflict";

/// The fields a row may carry (CSV: its columns, besides `field.<name>`).
const FIELDS: &[&str] = &[
    "phone",
    "user_id",
    "name",
    "email",
    "tags",
    "custom_fields",
    "opted_out",
    "respond_id",
    "external_id",
];

/// A JSON import: the rows, or an array of them alone.
#[derive(Debug, ToSchema)]
#[schema(example = json!({"contacts": [
    {"phone": "+5215512345678", "name": "Ana Pérez", "email": "ana@example.com",
     "tags": ["vip", "2024"], "custom_fields": {"plan": "gold"}, "respond_id": 1024},
    {"user_id": "US.13491208655302741918", "opted_out": true}]}))]
#[allow(dead_code)] // The spec's body schema; the rows are read one by one, each problem listed.
pub struct ContactImport {
    /// The rows.
    pub contacts: Vec<ImportedContact>,
}

/// One row. `phone` or `user_id` is required; fields left out are left alone on an existing
/// contact, and `null` clears one.
#[derive(Debug, ToSchema)]
#[allow(dead_code)] // As above.
pub struct ImportedContact {
    /// Phone number (E.164).
    pub phone: Option<String>,
    /// Meta's business-scoped user id (BSUID).
    pub user_id: Option<String>,
    /// Name (1 to 256 characters).
    pub name: Option<String>,
    /// Email address.
    pub email: Option<String>,
    /// Replaces the tags (at most 50, each 1 to 64 characters).
    pub tags: Option<Vec<String>>,
    /// Set on the contact, its other custom fields kept (at most 16 KiB of JSON).
    pub custom_fields: Option<Value>,
    /// Opted out of messages (`true`/`false`, also `1`/`0`, `yes`/`no`).
    pub opted_out: Option<bool>,
    /// respond.io's numeric contact id: its `id:N` identifiers then name this contact.
    pub respond_id: Option<i64>,
    /// Any other system's id for the person (up to 128 characters).
    pub external_id: Option<String>,
}

/// A row left out, and why.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct RowError {
    /// CSV: the physical line the row starts on (the header is line 1); JSON: the row's index
    /// in the array (from 0).
    pub line: u64,
    /// The field or CSV column; `null` for the row as a whole.
    pub field: Option<String>,
    /// A stable code: `required`, `invalid_phone_number`, `invalid_value`, `too_long`,
    /// `conflict`, `column_count`, ...
    #[schema(value_type = String)]
    pub code: &'static str,
    /// What is wrong, for a person.
    pub message: String,
}

/// What an import did.
#[derive(Debug, Default, Serialize, ToSchema)]
#[schema(example = json!({"created": 2, "updated": 1, "unchanged": 0, "failed": 1,
    "errors": [{"line": 4, "field": "phone", "code": "invalid_phone_number",
        "message": "not a valid phone number for its country"}], "errors_omitted": 0}))]
pub struct ImportReport {
    /// Contacts created.
    pub created: u64,
    /// Contacts changed (or given an external id).
    pub updated: u64,
    /// Rows that matched a contact already as they say.
    pub unchanged: u64,
    /// Rows left out: nothing of them is stored.
    pub failed: u64,
    /// The problems of the rows left out, in order (the first 1000).
    pub errors: Vec<RowError>,
    /// Problems beyond those listed.
    pub errors_omitted: u64,
}

/// The rows read so far: the report, and the rows waiting to be written in one batch.
struct Import<'a> {
    state: &'a AppState,
    workspace_id: &'a chasqui_domain::WorkspaceId,
    report: ImportReport,
    pending: Vec<(u64, ImportRow)>,
}

impl Import<'_> {
    fn error(&mut self, line: u64, field: Option<String>, code: &'static str, message: String) {
        if self.report.errors.len() < MAX_REPORTED_ERRORS {
            self.report.errors.push(RowError {
                line,
                field,
                code,
                message,
            });
        } else {
            self.report.errors_omitted += 1;
        }
    }

    fn fail(&mut self, line: u64, problems: Vec<Problem>) {
        self.report.failed += 1;
        for p in problems {
            let field = (!p.field.is_empty()).then_some(p.field);
            self.error(line, field, p.code, p.message);
        }
    }

    /// A read row: left out with its problems, or queued (and a full batch written).
    async fn row(
        &mut self,
        line: u64,
        read: Result<ImportRow, Vec<Problem>>,
    ) -> Result<(), ApiError> {
        match read {
            Err(problems) => self.fail(line, problems),
            Ok(row) => {
                self.pending.push((line, row));
                if self.pending.len() >= IMPORT_BATCH {
                    self.flush().await?;
                }
            }
        }
        Ok(())
    }

    /// Writes the queued rows (one transaction) and counts what became of each.
    async fn flush(&mut self) -> Result<(), ApiError> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let (lines, rows): (Vec<u64>, Vec<ImportRow>) =
            std::mem::take(&mut self.pending).into_iter().unzip();
        let outcomes = self
            .state
            .store
            .import_contacts(self.workspace_id, rows, now_ms())
            .await?;
        for (line, outcome) in lines.into_iter().zip(outcomes) {
            match outcome {
                ImportOutcome::Created => self.report.created += 1,
                ImportOutcome::Updated => self.report.updated += 1,
                ImportOutcome::Unchanged => self.report.unchanged += 1,
                ImportOutcome::Conflict { field, message } => {
                    self.report.failed += 1;
                    self.error(line, Some(field), CONFLICT, message);
                }
            }
        }
        Ok(())
    }
}

/// `POST /v1/contacts/import`: imports contacts from JSON (an array of rows, or
/// `{"contacts": [...]}`) or CSV (a header row naming the columns). Each row finds its contact by
/// `respond_id` or `external_id`, then by phone (or wa_id), then by `user_id`, and updates the
/// fields it gives, or creates one; sending the same file again changes nothing. Rows with
/// problems are left out and listed with their line; the others are imported, 500 to a
/// transaction as they arrive.
#[utoipa::path(post, path = "/v1/contacts/import", tag = "Contacts",
    request_body(description = "JSON rows, or CSV: a header row naming the columns (`phone`, \
        `user_id`, `name`, `email`, `tags` separated by `;` or `|`, `opted_out`, `respond_id`, \
        `external_id`, and a custom field per `field.<name>` column), one contact per line. \
        Empty cells leave a field alone.",
        content(
            (ContactImport = "application/json"),
            (String = "text/csv", example = "phone,name,email,tags,field.plan,respond_id\n\
                +5215512345678,Ana Pérez,ana@example.com,vip;2024,gold,1024\n"),
        )),
    responses(
        (status = 200, description = "What became of the rows", body = ImportReport),
        (status = 400, description = "The CSV has no header row, or is not text: `invalid_csv`"),
        (status = 413, description = "Over 8 MiB of JSON or 32 MiB of CSV: `payload_too_large`"),
        (status = 415, description = "Neither JSON nor CSV: `unsupported_media_type`"),
        (status = 422, description = "A column or top-level field that is not an import field, \
            or a header without `phone` or `user_id`: `validation_failed`"),
    ))]
pub async fn import(
    State(state): State<AppState>,
    Caller(key): Caller,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<ImportReport>, ApiError> {
    let media_type = body::media_type(&headers).unwrap_or_default();
    let csv = match media_type.as_str() {
        "text/csv" | "application/csv" => true,
        m if body::is_json(m) => false,
        _ => {
            return Err(ApiError::UnsupportedContentType(
                "JSON (application/json) or CSV (text/csv)",
            ))
        }
    };
    let limit = if csv { MAX_CSV_BYTES } else { MAX_JSON_BYTES };
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        return Err(ApiError::PayloadTooLarge(limit));
    }
    let mut import = Import {
        state: &state,
        workspace_id: &key.workspace_id,
        report: ImportReport::default(),
        pending: Vec::new(),
    };
    if csv {
        import_csv(&mut import, body).await?;
    } else {
        import_json(&mut import, body).await?;
    }
    import.flush().await?;
    Ok(Json(import.report))
}

async fn import_json(import: &mut Import<'_>, body: Body) -> Result<(), ApiError> {
    let raw = body::read_at_most(body, MAX_JSON_BYTES).await?;
    let value = super::json::parse(&raw)?;
    let shape = || {
        ApiError::Validation(vec![Problem::new(
            "",
            code::INVALID_TYPE,
            "must be an array of contacts, or an object {\"contacts\": [...]}",
        )])
    };
    let rows = match value {
        Value::Array(rows) => rows,
        Value::Object(mut top) => {
            let unknown: Vec<Problem> = top
                .keys()
                .filter(|k| *k != "contacts")
                .map(|k| Problem::new(k, code::UNKNOWN_FIELD, "not an import field (contacts)"))
                .collect();
            if !unknown.is_empty() {
                return Err(ApiError::Validation(unknown));
            }
            match top.remove("contacts") {
                Some(Value::Array(rows)) => rows,
                _ => return Err(shape()),
            }
        }
        _ => return Err(shape()),
    };
    for (i, row) in rows.iter().enumerate() {
        import.row(i as u64, read_row(row)).await?;
    }
    Ok(())
}

async fn import_csv(import: &mut Import<'_>, body: Body) -> Result<(), ApiError> {
    let unreadable =
        |why: String| ApiError::InvalidCsv(format!("the body could not be read: {why}"));
    let mut records = match Records::start(body, MAX_CSV_BYTES).await {
        Ok(r) => r,
        Err(Stop::TooLarge { .. }) => return Err(ApiError::PayloadTooLarge(MAX_CSV_BYTES)),
        Err(Stop::Unreadable(why)) => return Err(unreadable(why)),
    };
    let header = match records.next().await {
        Ok(Some(h)) => h,
        Ok(None) => {
            return Err(ApiError::InvalidCsv(
                "the body is empty: it must start with a header row naming the columns".into(),
            ))
        }
        Err(Stop::TooLarge { .. }) => return Err(ApiError::PayloadTooLarge(MAX_CSV_BYTES)),
        Err(Stop::Unreadable(why)) => return Err(unreadable(why)),
    };
    let columns = Columns::parse(&header.fields)?;
    loop {
        match records.next().await {
            Ok(Some(record)) => {
                if let Some(read) = columns.row(&record.fields) {
                    import.row(record.line, read).await?;
                }
            }
            Ok(None) => return Ok(()),
            // The rows read whole before the limit are imported; the answer says where it
            // stopped.
            Err(Stop::TooLarge { line }) => {
                import.error(
                    line,
                    None,
                    "payload_too_large",
                    format!(
                        "the body is over {MAX_CSV_BYTES} bytes: the rows from this line on \
                         were not read; import them in another request"
                    ),
                );
                return Ok(());
            }
            Err(Stop::Unreadable(why)) => return Err(unreadable(why)),
        }
    }
}

/// What a CSV column holds.
enum Column {
    /// A row field (one of [`FIELDS`] but `custom_fields`).
    Field(&'static str),
    /// The custom field of this name.
    Custom(String),
}

/// A CSV header, read.
struct Columns(Vec<(String, Column)>);

impl Columns {
    /// Reads the header row: every column a row field or `field.<name>` (or
    /// `custom_fields.<name>`), none twice, `phone` or `user_id` among them.
    fn parse(header: &[Vec<u8>]) -> Result<Self, ApiError> {
        let mut columns = Vec::new();
        let mut problems = Vec::new();
        for raw in header {
            let name = std::str::from_utf8(raw)
                .map_err(|_| ApiError::InvalidCsv("the header row is not UTF-8 text".into()))?
                .trim()
                .to_string();
            if name.contains('\0') {
                return Err(ApiError::InvalidCsv(
                    "the header row holds a NUL character".into(),
                ));
            }
            let lower = name.to_ascii_lowercase();
            let custom = ["field.", "custom_fields."]
                .iter()
                .find_map(|p| {
                    lower
                        .starts_with(p)
                        .then(|| name[p.len()..].trim().to_string())
                })
                .filter(|n| !n.is_empty());
            let column = match (custom, FIELDS.iter().find(|f| **f == lower)) {
                (Some(c), _) => Column::Custom(c),
                (None, Some(f)) if *f != "custom_fields" => Column::Field(f),
                _ => {
                    problems.push(Problem::new(
                        name.clone(),
                        code::UNKNOWN_FIELD,
                        "not an import column (phone, user_id, name, email, tags, opted_out, \
                         respond_id, external_id, field.<name>)",
                    ));
                    continue;
                }
            };
            let same = |(_, c): &&(String, Column)| match (c, &column) {
                (Column::Field(a), Column::Field(b)) => a == b,
                (Column::Custom(a), Column::Custom(b)) => a == b,
                _ => false,
            };
            if columns.iter().any(|c| same(&c)) {
                problems.push(Problem::new(name.clone(), code::DUPLICATE, "named twice"));
            }
            columns.push((name, column));
        }
        let identifies = columns
            .iter()
            .any(|(_, c)| matches!(c, Column::Field("phone" | "user_id")));
        if !identifies && problems.is_empty() {
            problems.push(Problem::new(
                "header",
                code::REQUIRED,
                "needs a phone or a user_id column",
            ));
        }
        if problems.is_empty() {
            Ok(Self(columns))
        } else {
            Err(ApiError::Validation(problems))
        }
    }

    /// Reads a record as the JSON row it stands for; `None` for a row of empty cells (a
    /// spreadsheet's trailing rows), which counts for nothing.
    fn row(&self, fields: &[Vec<u8>]) -> Option<Result<ImportRow, Vec<Problem>>> {
        if fields.iter().all(|f| f.iter().all(u8::is_ascii_whitespace)) {
            return None;
        }
        if fields.len() != self.0.len() {
            return Some(Err(vec![Problem::new(
                "",
                COLUMN_COUNT,
                format!(
                    "has {} fields; the header names {}",
                    fields.len(),
                    self.0.len()
                ),
            )]));
        }
        let mut row = Map::new();
        let mut custom = Map::new();
        let mut problems = Vec::new();
        for ((name, column), raw) in self.0.iter().zip(fields) {
            let cell = match std::str::from_utf8(raw) {
                Ok(c) if c.contains('\0') => {
                    problems.push(Problem::new(
                        name,
                        super::error::INVALID_CHARACTER,
                        super::error::NUL_MESSAGE,
                    ));
                    continue;
                }
                Ok(c) => c.trim(),
                Err(_) => {
                    problems.push(Problem::new(name, code::INVALID_VALUE, "is not UTF-8 text"));
                    continue;
                }
            };
            // An empty cell leaves the field alone.
            if cell.is_empty() {
                continue;
            }
            let value = Value::String(cell.to_string());
            match column {
                Column::Field("tags") => {
                    let tags = cell
                        .split([';', '|'])
                        .map(str::trim)
                        .filter(|t| !t.is_empty())
                        .map(|t| Value::String(t.to_string()))
                        .collect();
                    row.insert("tags".into(), Value::Array(tags));
                }
                Column::Field(f) => {
                    row.insert((*f).into(), value);
                }
                Column::Custom(c) => {
                    custom.insert(c.clone(), value);
                }
            }
        }
        if !custom.is_empty() {
            row.insert("custom_fields".into(), Value::Object(custom));
        }
        let read = read_row(&Value::Object(row));
        Some(match (read, problems.is_empty()) {
            (Ok(row), true) => Ok(row),
            (Ok(_), false) => Err(problems),
            (Err(more), _) => {
                problems.extend(more);
                Err(problems)
            }
        })
    }
}

/// Reads one row (a JSON object, or a CSV record made one), listing every problem.
fn read_row(value: &Value) -> Result<ImportRow, Vec<Problem>> {
    let Some(fields) = value.as_object() else {
        return Err(vec![Problem::new(
            "",
            code::INVALID_TYPE,
            "must be an object",
        )]);
    };
    let mut patch = ContactPatch::default();
    let mut respond = None;
    let mut external = None;
    let mut problems = Vec::new();
    for (k, v) in fields {
        match k.as_str() {
            "respond_id" => respond = respond_id(v, &mut problems),
            "external_id" => {
                let id = match v {
                    Value::Number(n) => Some(n.to_string()),
                    v => text(k, v, MAX_EXTERNAL_ID_CHARS, &mut problems),
                };
                external = id;
            }
            "opted_out" => {
                let v = flag(v).map(Value::Bool).unwrap_or_else(|| v.clone());
                read_field(&mut patch, k, &v, &mut problems);
            }
            f if FIELDS.contains(&f) => {
                read_field(&mut patch, k, v, &mut problems);
            }
            _ => problems.push(Problem::new(
                k,
                code::UNKNOWN_FIELD,
                "not an import field (phone, user_id, name, email, tags, custom_fields, \
                 opted_out, respond_id, external_id)",
            )),
        }
    }
    let names = |f: &Option<Option<String>>| f.as_ref().is_some_and(Option::is_some);
    if !names(&patch.phone) && !names(&patch.user_id) && problems.is_empty() {
        problems.push(Problem::new(
            "phone",
            code::REQUIRED,
            "a contact needs a phone or a user_id",
        ));
    }
    if !problems.is_empty() {
        return Err(problems);
    }
    // respond.io's id is matched first: it is what the respond.io dialect resolves.
    let external_ids = [(RESPOND_SOURCE, respond), (EXTERNAL_SOURCE, external)]
        .into_iter()
        .filter_map(|(source, id)| id.map(|id| (source.to_string(), id)))
        .collect();
    Ok(ImportRow {
        external_ids,
        patch,
    })
}

/// respond.io's contact id: a positive integer, as a number or its digits.
fn respond_id(v: &Value, problems: &mut Vec<Problem>) -> Option<String> {
    let n = match v {
        Value::Null => return None,
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.trim().parse::<i64>().ok(),
        _ => None,
    };
    match n.filter(|n| *n > 0) {
        Some(n) => Some(n.to_string()),
        None => {
            problems.push(Problem::new(
                "respond_id",
                code::INVALID_VALUE,
                "must be respond.io's contact id, a positive integer",
            ));
            None
        }
    }
}

/// A yes/no value as spreadsheets write it: `true`/`false`, `1`/`0`, `yes`/`no`.
fn flag(v: &Value) -> Option<bool> {
    match v {
        Value::Bool(b) => Some(*b),
        Value::Number(n) => match n.as_u64() {
            Some(1) => Some(true),
            Some(0) => Some(false),
            _ => None,
        },
        Value::String(s) => match s.trim().to_ascii_lowercase().as_str() {
            "true" | "1" | "yes" => Some(true),
            "false" | "0" | "no" => Some(false),
            _ => None,
        },
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn header(names: &[&str]) -> Vec<Vec<u8>> {
        names.iter().map(|n| n.as_bytes().to_vec()).collect()
    }

    #[test]
    fn a_csv_record_reads_as_its_json_row() {
        let columns = Columns::parse(&header(&[
            "Phone",
            "tags",
            "field.Plan",
            "opted_out",
            "respond_id",
        ]))
        .expect("header");
        let row = columns
            .row(&header(&[
                "+5215512345678",
                "vip; 2024|x",
                "gold",
                "yes",
                "1024",
            ]))
            .expect("a row")
            .expect("read");
        assert_eq!(row.patch.phone, Some(Some("5215512345678".into())));
        assert_eq!(
            row.patch.tags,
            Some(vec!["vip".into(), "2024".into(), "x".into()])
        );
        assert_eq!(row.patch.custom_fields, Some(json!({"Plan": "gold"})));
        assert_eq!(row.patch.opted_out, Some(true));
        assert_eq!(row.external_ids, vec![("respond".into(), "1024".into())]);
        // Empty cells leave fields alone; a row of them is no row.
        let row = columns
            .row(&header(&["+5215512345678", "", "", "", ""]))
            .expect("a row")
            .expect("read");
        assert_eq!((row.patch.tags, row.patch.opted_out), (None, None));
        assert!(columns.row(&header(&["", " ", "", "", ""])).is_none());
    }

    #[test]
    fn a_header_names_only_import_columns_once_with_an_identity() {
        let problems = |names: &[&str]| match Columns::parse(&header(names)) {
            Err(ApiError::Validation(p)) => {
                p.into_iter().map(|p| (p.field, p.code)).collect::<Vec<_>>()
            }
            _ => vec![],
        };
        assert_eq!(
            problems(&["phone", "nickname"]),
            vec![("nickname".to_string(), code::UNKNOWN_FIELD)]
        );
        assert_eq!(
            problems(&["phone", "PHONE"]),
            vec![("PHONE".to_string(), code::DUPLICATE)]
        );
        assert_eq!(
            problems(&["name"]),
            vec![("header".to_string(), code::REQUIRED)]
        );
        assert!(Columns::parse(&header(&["user_id", "custom_fields.tier"])).is_ok());
    }

    #[test]
    fn rows_name_every_problem() {
        let err = read_row(
            &json!({"phone": "+1", "respond_id": -3, "opted_out": "maybe",
            "colour": "red"}),
        )
        .unwrap_err();
        let mut fields: Vec<&str> = err.iter().map(|p| p.field.as_str()).collect();
        fields.sort();
        assert_eq!(fields, ["colour", "opted_out", "phone", "respond_id"]);
        assert_eq!(
            read_row(&json!({"name": "Ana"})).unwrap_err()[0].code,
            code::REQUIRED
        );
        let row = read_row(
            &json!({"user_id": "US.13491208655302741918", "external_id": 77,
            "respond_id": "12"}),
        )
        .unwrap();
        assert_eq!(
            row.external_ids,
            vec![
                ("respond".to_string(), "12".to_string()),
                ("external".to_string(), "77".to_string())
            ]
        );
    }
}
