//! `/v1/contacts`: list with search and cursor, read one, update, and one's history.

use axum::extract::State;
use axum::Json;
use chasqui_domain::problem::code;
use chasqui_domain::{PhoneNumber, Problem, UserId};
use chasqui_store::{ContactFilter, ContactPatch};
use serde::Deserialize;
use serde_json::Value;
use utoipa::{IntoParams, ToSchema};

use super::auth::Caller;
use super::body::JsonBody;
use super::error::ApiError;
use super::extract::{Path, Query};
use super::paging::{Limit, Page};
use super::views::{ContactHistoryView, ContactView};
use super::AppState;
use crate::clock::now_ms;

/// Most tags a contact carries.
const MAX_TAGS: usize = 50;
/// Longest tag.
const MAX_TAG_CHARS: usize = 64;
/// Longest name or email.
const MAX_TEXT_CHARS: usize = 256;
/// Largest `custom_fields` object, as JSON.
const MAX_CUSTOM_FIELDS_BYTES: usize = 16 * 1024;

/// The filters of `GET /v1/contacts`.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ContactQuery {
    /// Part of a name, phone number, wa_id, user_id or email.
    search: Option<String>,
    /// Only contacts with this tag.
    tag: Option<String>,
    /// Page size.
    limit: Option<Limit>,
    /// The `next_cursor` of the page before.
    cursor: Option<String>,
}

/// `GET /v1/contacts`: by id, filtered by `search` (name, phone, wa_id, user_id, email) and `tag`.
#[utoipa::path(get, path = "/v1/contacts", tag = "Contacts", params(ContactQuery),
    responses((status = 200, description = "Contacts, by id", body = Page<ContactView>)))]
pub async fn list(
    State(state): State<AppState>,
    Caller(key): Caller,
    Query(q): Query<ContactQuery>,
) -> Result<Json<Page<ContactView>>, ApiError> {
    let limit = q.limit.unwrap_or_default();
    let f = ContactFilter {
        search: q.search.filter(|s| !s.trim().is_empty()),
        tag: q.tag,
        after_id: q.cursor,
        limit: limit.get(),
    };
    let page = state.store.list_contacts(&key.workspace_id, &f).await?;
    Ok(Json(Page::new(&page, limit, ContactView::from, |c| {
        c.id.clone()
    })))
}

/// `GET /v1/contacts/{id}`.
#[utoipa::path(get, path = "/v1/contacts/{id}", tag = "Contacts",
    params(("id" = String, Path, description = "Chasqui's contact id")),
    responses((status = 200, description = "The contact", body = ContactView)))]
pub async fn get_one(
    State(state): State<AppState>,
    Caller(key): Caller,
    Path(id): Path<String>,
) -> Result<Json<ContactView>, ApiError> {
    let contact = state
        .store
        .get_contact(&key.workspace_id, &id)
        .await?
        .ok_or(ApiError::NotFound(format!("contact {id}")))?;
    Ok(Json(ContactView::from(&contact)))
}

/// The paging of `GET /v1/contacts/{id}/history`.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct HistoryQuery {
    /// Page size.
    limit: Option<Limit>,
    /// The `next_cursor` of the page before.
    cursor: Option<String>,
}

/// `GET /v1/contacts/{id}/history`: every change of the contact's marketing consent, oldest
/// first, with what made it (`webhook`, `keyword`, `meta_error`, `api`).
#[utoipa::path(get, path = "/v1/contacts/{id}/history", tag = "Contacts",
    params(("id" = String, Path, description = "Chasqui's contact id"), HistoryQuery),
    responses((status = 200, description = "The contact's changes, oldest first",
        body = Page<ContactHistoryView>)))]
pub async fn history(
    State(state): State<AppState>,
    Caller(key): Caller,
    Path(id): Path<String>,
    Query(q): Query<HistoryQuery>,
) -> Result<Json<Page<ContactHistoryView>>, ApiError> {
    let limit = q.limit.unwrap_or_default();
    let after = match q.cursor.as_deref() {
        None => None,
        Some(c) => Some(c.parse::<i64>().map_err(|_| ApiError::BadParameter {
            field: "cursor".into(),
            message: "not a cursor this listing gave".into(),
        })?),
    };
    let entries = state
        .store
        .contact_history(&key.workspace_id, &id, after, limit.get())
        .await?
        .ok_or(ApiError::NotFound(format!("contact {id}")))?;
    Ok(Json(Page::new(
        &entries,
        limit,
        ContactHistoryView::from,
        |e| e.seq.to_string(),
    )))
}

/// The body of `PATCH /v1/contacts/{id}`: every field optional; `null` clears an optional one.
/// Read by [`parse_patch`], which lists every problem at once.
#[derive(Debug, ToSchema)]
#[schema(example = json!({"name": "Ana Pérez", "tags": ["vip"], "opted_out": false,
    "marketing_opted_out": true}))]
#[allow(dead_code)] // The spec's body schema; a field reader parses it, listing every problem.
pub struct ContactChanges {
    /// The name (1 to 256 characters), or `null`.
    #[schema(max_length = 256)]
    pub name: Option<String>,
    /// Phone number (E.164), or `null`.
    pub phone: Option<String>,
    /// WhatsApp's id of the user, or `null`.
    pub wa_id: Option<String>,
    /// Meta's business-scoped user id, or `null`.
    pub user_id: Option<String>,
    /// Email address, or `null`.
    pub email: Option<String>,
    /// Replaces the tags (at most 50, each 1 to 64 characters).
    #[schema(max_items = 50)]
    pub tags: Option<Vec<String>>,
    /// Replaces the free-form fields (an object of at most 16 KiB of JSON).
    pub custom_fields: Option<Value>,
    /// Opted out of messages.
    pub opted_out: Option<bool>,
    /// Opted out of marketing templates (the change is in the contact's history, source `api`).
    pub marketing_opted_out: Option<bool>,
}

/// `PATCH /v1/contacts/{id}`: changes the fields given; `null` clears an optional one.
#[utoipa::path(patch, path = "/v1/contacts/{id}", tag = "Contacts",
    params(("id" = String, Path, description = "Chasqui's contact id")),
    request_body = ContactChanges,
    responses(
        (status = 200, description = "The contact as changed", body = ContactView),
        (status = 409, description = "Another contact has that phone or wa_id: `conflict`"),
    ))]
pub async fn update(
    State(state): State<AppState>,
    Caller(key): Caller,
    Path(id): Path<String>,
    body: JsonBody,
) -> Result<Json<ContactView>, ApiError> {
    let patch = parse_patch(&body.value).map_err(ApiError::Validation)?;
    let contact = state
        .store
        .update_contact(&key.workspace_id, &id, &patch, now_ms())
        .await?
        .ok_or(ApiError::NotFound(format!("contact {id}")))?;
    Ok(Json(ContactView::from(&contact)))
}

/// Reads a contact change, listing every problem.
fn parse_patch(value: &Value) -> Result<ContactPatch, Vec<Problem>> {
    let Some(fields) = value.as_object() else {
        return Err(vec![Problem::new(
            "",
            code::INVALID_TYPE,
            "must be a JSON object",
        )]);
    };
    let mut patch = ContactPatch::default();
    let mut problems = Vec::new();
    for (k, v) in fields {
        // Marketing consent is changed here and by Meta's signals, not by an import.
        if k == "marketing_opted_out" {
            match v.as_bool() {
                Some(b) => patch.marketing_opted_out = Some(b),
                None => problems.push(Problem::new(k, code::INVALID_TYPE, "must be true or false")),
            }
        } else if !read_field(&mut patch, k, v, &mut problems) {
            problems.push(Problem::new(
                k,
                code::UNKNOWN_FIELD,
                "not a contact field (name, phone, wa_id, user_id, email, tags, custom_fields, \
                 opted_out, marketing_opted_out)",
            ));
        }
    }
    if problems.is_empty() {
        Ok(patch)
    } else {
        Err(problems)
    }
}

/// Reads contact field `k` into `patch`, adding what is wrong with it to `problems`; `false`
/// when `k` is no contact field. Shared by the change of one contact and the import.
pub(super) fn read_field(
    patch: &mut ContactPatch,
    k: &str,
    v: &Value,
    problems: &mut Vec<Problem>,
) -> bool {
    match k {
        "name" => patch.name = Some(text(k, v, MAX_TEXT_CHARS, problems)),
        "email" => {
            let email = text(k, v, MAX_TEXT_CHARS, problems);
            if email.as_ref().is_some_and(|e| !looks_like_email(e)) {
                problems.push(Problem::new(
                    k,
                    code::INVALID_VALUE,
                    "must be an email address",
                ));
            }
            patch.email = Some(email);
        }
        "user_id" => {
            let user_id = text(k, v, MAX_TEXT_CHARS, problems);
            if user_id.as_ref().is_some_and(|u| UserId::parse(u).is_err()) {
                problems.push(Problem::new(
                    k,
                    code::INVALID_VALUE,
                    "must be a business-scoped user id (BSUID), e.g. US.13491208655302741918",
                ));
            }
            patch.user_id = Some(user_id);
        }
        "phone" | "wa_id" => {
            let digits = text(k, v, 32, problems).and_then(|raw| match PhoneNumber::parse(&raw) {
                Ok(p) => Some(p.digits().to_string()),
                Err(e) => {
                    problems.push(Problem::new(k, code::INVALID_PHONE_NUMBER, e.to_string()));
                    None
                }
            });
            if k == "phone" {
                patch.phone = Some(digits);
            } else {
                patch.wa_id = Some(digits);
            }
        }
        "tags" => patch.tags = tags(v, problems),
        "custom_fields" => match v {
            Value::Object(_) if v.to_string().len() <= MAX_CUSTOM_FIELDS_BYTES => {
                patch.custom_fields = Some(v.clone())
            }
            Value::Object(_) => problems.push(Problem::new(
                k,
                code::TOO_LONG,
                format!("must be at most {MAX_CUSTOM_FIELDS_BYTES} bytes of JSON"),
            )),
            _ => problems.push(Problem::new(k, code::INVALID_TYPE, "must be an object")),
        },
        "opted_out" => match v.as_bool() {
            Some(b) => patch.opted_out = Some(b),
            None => problems.push(Problem::new(k, code::INVALID_TYPE, "must be true or false")),
        },
        _ => return false,
    }
    true
}

/// An optional string field: `null` clears it; anything but a non-blank string is a problem.
pub(super) fn text(
    field: &str,
    v: &Value,
    max: usize,
    problems: &mut Vec<Problem>,
) -> Option<String> {
    match v {
        Value::Null => None,
        Value::String(s) if s.trim().is_empty() => {
            problems.push(Problem::new(
                field,
                code::EMPTY,
                "must not be blank (use null to clear)",
            ));
            None
        }
        Value::String(s) if s.chars().count() > max => {
            problems.push(Problem::new(
                field,
                code::TOO_LONG,
                format!("must be at most {max} characters"),
            ));
            None
        }
        Value::String(s) => Some(s.trim().to_string()),
        _ => {
            problems.push(Problem::new(
                field,
                code::INVALID_TYPE,
                "must be a string or null",
            ));
            None
        }
    }
}

fn tags(v: &Value, problems: &mut Vec<Problem>) -> Option<Vec<String>> {
    let Some(items) = v.as_array() else {
        problems.push(Problem::new(
            "tags",
            code::INVALID_TYPE,
            "must be an array of strings",
        ));
        return None;
    };
    if items.len() > MAX_TAGS {
        problems.push(Problem::new(
            "tags",
            code::TOO_MANY,
            format!("at most {MAX_TAGS} tags"),
        ));
    }
    let mut out: Vec<String> = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let field = format!("tags[{i}]");
        match item.as_str().map(str::trim) {
            Some(t) if !t.is_empty() && t.chars().count() <= MAX_TAG_CHARS => {
                if !out.iter().any(|o| o == t) {
                    out.push(t.to_string());
                }
            }
            Some(_) => problems.push(Problem::new(
                field,
                code::INVALID_VALUE,
                format!("must be 1 to {MAX_TAG_CHARS} characters"),
            )),
            None => problems.push(Problem::new(field, code::INVALID_TYPE, "must be a string")),
        }
    }
    Some(out)
}

fn looks_like_email(s: &str) -> bool {
    s.split_once('@').is_some_and(|(local, domain)| {
        !local.is_empty() && domain.contains('.') && !s.contains(' ')
    })
}
