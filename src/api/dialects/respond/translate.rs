//! Pure translation between respond.io's Developer API v2 shapes and Chasqui's: identifiers,
//! the send body → Meta's message object, the `{code, message}` error envelope, and the message,
//! contact and channel objects. No I/O; everything here is unit-tested.

use axum::http::StatusCode;
use chasqui_domain::ProviderKind;
use chasqui_store::{Channel, Contact, ContactPatch, MessageEvent, MessageRecord, NewContact};
use serde_json::{json, Map, Value};

use crate::api::error::ApiError;
use crate::limits::LimitError;

/// How a path's `{identifier}` names a contact.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Identifier {
    /// `id:<int>`: the respond.io id a contact was imported with, or the contact's number.
    Id(i64),
    /// `email:<addr>`.
    Email(String),
    /// `phone:<E.164>`: digits only here (the `+` is optional on the way in).
    Phone(String),
}

impl Identifier {
    /// Parses `id:123`, `email:a@b.c` or `phone:+593998445667` (`+` raw, as `%2B` already decoded
    /// by the router, or absent). `None` for anything else.
    pub fn parse(raw: &str) -> Option<Self> {
        let (kind, value) = raw.split_once(':')?;
        let value = value.trim();
        match kind.trim().to_ascii_lowercase().as_str() {
            "id" => value.parse::<i64>().ok().filter(|n| *n > 0).map(Self::Id),
            "email" => {
                let ok = value.len() <= 320
                    && value
                        .split_once('@')
                        .is_some_and(|(l, d)| !l.is_empty() && !d.is_empty());
                ok.then(|| Self::Email(value.to_string()))
            }
            "phone" => {
                // `%2B` is decoded by the path extractor; a `+` some clients leave raw in a
                // query-like path would arrive as a space, which is accepted too.
                let digits = value.strip_prefix('+').unwrap_or(value);
                let ok = (7..=15).contains(&digits.len())
                    && digits.bytes().all(|b| b.is_ascii_digit())
                    && !digits.starts_with('0');
                ok.then(|| Self::Phone(digits.to_string()))
            }
            _ => None,
        }
    }
}

/// respond.io's error: an HTTP status and the `{code, message}` body.
#[derive(Debug, Clone, PartialEq)]
pub struct RespondError {
    /// HTTP status (the body's `code` is the same number).
    pub status: StatusCode,
    /// The body's `message`.
    pub message: String,
    /// For 429: seconds to wait (`Retry-After`).
    pub retry_after_secs: Option<u64>,
    /// For 429: the limit and what remains (`X-RateLimit-Limit`, `X-RateLimit-Remaining`).
    pub rate: Option<(i64, i64)>,
}

/// The documented texts.
pub const VALIDATION_ERROR: &str = "Validation error.";
/// 401's text.
pub const UNAUTHORIZED: &str = "UN_AUTHORIZED";
/// 500's text.
pub const UNEXPECTED: &str = "Unexpected error occurred";

impl RespondError {
    /// An error with `status` and `message`.
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
            retry_after_secs: None,
            rate: None,
        }
    }

    /// 400 `Validation error.`
    pub fn validation() -> Self {
        Self::new(StatusCode::BAD_REQUEST, VALIDATION_ERROR)
    }

    /// 404 with `what` named.
    pub fn not_found(what: &str) -> Self {
        Self::new(StatusCode::NOT_FOUND, format!("{what} not found"))
    }

    /// The body.
    pub fn body(&self) -> Value {
        json!({ "code": self.status.as_u16(), "message": self.message })
    }
}

impl From<ApiError> for RespondError {
    fn from(e: ApiError) -> Self {
        use ApiError as E;
        match e {
            E::MissingApiKey | E::InvalidApiKey | E::InvalidCredentials => {
                Self::new(StatusCode::UNAUTHORIZED, UNAUTHORIZED)
            }
            // respond.io tokens have no scopes; a Chasqui key without the scope is refused with
            // 403 and the scope named (inferred).
            E::InsufficientScope(scope) => Self::new(
                StatusCode::FORBIDDEN,
                format!("this token lacks the \"{}\" scope", scope.as_str()),
            ),
            // The documented text for every bad request; the problems say which field.
            E::Validation(problems) => {
                let detail: Vec<String> = problems
                    .iter()
                    .map(|p| format!("{}: {}", p.field, p.message))
                    .collect();
                Self::new(
                    StatusCode::BAD_REQUEST,
                    format!("{VALIDATION_ERROR} {}", detail.join("; ")),
                )
            }
            e @ (E::InvalidJson(_)
            | E::DuplicateKey { .. }
            | E::NulInParameter { .. }
            | E::UnsupportedMediaType
            | E::UnsupportedContentType(_)
            | E::InvalidCsv(_)
            | E::PayloadTooLarge(_)
            | E::Refused(_)
            | E::TemplateNotFound { .. }
            | E::ProviderRejected(_)) => {
                Self::new(StatusCode::BAD_REQUEST, format!("{VALIDATION_ERROR} {e}"))
            }
            E::BadParameter { field, message } => Self::new(
                StatusCode::BAD_REQUEST,
                format!("{VALIDATION_ERROR} {field}: {message}"),
            ),
            e @ (E::Conflict(_) | E::IdempotencyConflict(_)) => {
                Self::new(StatusCode::CONFLICT, e.to_string())
            }
            E::NotFound(what) => Self::not_found(&what),
            E::Limited(LimitError::Exceeded {
                headers,
                retry_after_secs,
                ..
            }) => Self {
                status: StatusCode::TOO_MANY_REQUESTS,
                message: "Too many requests".into(),
                retry_after_secs: Some(retry_after_secs),
                rate: Some((headers.limit, headers.remaining)),
            },
            E::LoginThrottled { retry_after_secs } => Self {
                retry_after_secs: Some(retry_after_secs),
                ..Self::new(StatusCode::TOO_MANY_REQUESTS, "Too many requests")
            },
            E::MethodNotAllowed => Self::new(StatusCode::METHOD_NOT_ALLOWED, "Method not allowed"),
            e @ E::RequestTimeout => Self::new(StatusCode::REQUEST_TIMEOUT, e.to_string()),
            E::Internal(detail) | E::Limited(LimitError::Store(detail)) => {
                tracing::error!(error = %detail, "internal error (respond.io dialect)");
                Self::new(StatusCode::INTERNAL_SERVER_ERROR, UNEXPECTED)
            }
            E::Unavailable | E::ProviderUnavailable(_) => {
                Self::new(StatusCode::INTERNAL_SERVER_ERROR, UNEXPECTED)
            }
            // Nothing was acknowledged: a 503 tells the client to send it again later.
            E::StorageUnavailable(_) | E::Limited(LimitError::StoreUnavailable(_)) => {
                Self::new(StatusCode::SERVICE_UNAVAILABLE, UNEXPECTED)
            }
        }
    }
}

fn str_field<'a>(v: &'a Value, key: &str) -> Option<&'a str> {
    v.get(key).and_then(Value::as_str)
}

/// Translates a respond.io `message` (the send body's) into Meta's message object for `to`
/// (`+digits`). Fields WhatsApp has no use for (a text's `messageTag`, a template component's
/// display `text`, static header/footer/button components) are dropped: WhatsApp delivers the
/// approved template whatever text the request carries.
pub fn to_meta(message: &Value, to: &str) -> Result<Value, RespondError> {
    let kind = str_field(message, "type").ok_or_else(RespondError::validation)?;
    let mut out = json!({ "messaging_product": "whatsapp", "to": to });
    match kind {
        "text" => {
            let text = str_field(message, "text").ok_or_else(RespondError::validation)?;
            out["type"] = json!("text");
            out["text"] = json!({ "body": text });
        }
        "attachment" => {
            let a = message
                .get("attachment")
                .ok_or_else(RespondError::validation)?;
            let url = str_field(a, "url").ok_or_else(RespondError::validation)?;
            let meta_type = match str_field(a, "type") {
                Some("image") => "image",
                Some("video") => "video",
                Some("audio") => "audio",
                Some("file") => "document",
                _ => return Err(RespondError::validation()),
            };
            let mut media = json!({ "link": url });
            // respond.io's SDK also carries a file name for files; Meta shows it.
            if let (Some(name), "document") = (str_field(a, "fileName"), meta_type) {
                media["filename"] = json!(name);
            }
            out["type"] = json!(meta_type);
            out[meta_type] = media;
        }
        "quick_reply" => {
            let title = str_field(message, "title").ok_or_else(RespondError::validation)?;
            let replies: Vec<&str> = message
                .get("replies")
                .and_then(Value::as_array)
                .ok_or_else(RespondError::validation)?
                .iter()
                .map(|r| r.as_str().ok_or_else(RespondError::validation))
                .collect::<Result<_, _>>()?;
            out["type"] = json!("interactive");
            out["interactive"] = quick_reply(title, &replies);
        }
        "whatsapp_template" => {
            let t = message
                .get("template")
                .ok_or_else(RespondError::validation)?;
            out["type"] = json!("template");
            out["template"] = template(t)?;
        }
        // `custom_payload` is for Telegram, Facebook, Viber and LINE; `email` for email
        // channels: neither exists on a WhatsApp channel.
        _ => return Err(RespondError::validation()),
    }
    Ok(out)
}

/// Quick replies: up to 3 become WhatsApp reply buttons; more (respond.io allows 10) become a
/// list, WhatsApp's only interactive type with more choices. Each choice's id is its text, so
/// the customer's answer reads the same either way.
fn quick_reply(title: &str, replies: &[&str]) -> Value {
    if replies.len() <= 3 {
        let buttons: Vec<Value> = replies
            .iter()
            .map(|r| json!({ "type": "reply", "reply": { "id": r, "title": r } }))
            .collect();
        json!({
            "type": "button",
            "body": { "text": title },
            "action": { "buttons": buttons },
        })
    } else {
        let rows: Vec<Value> = replies
            .iter()
            .map(|r| json!({ "id": r, "title": r }))
            .collect();
        json!({
            "type": "list",
            "body": { "text": title },
            "action": { "button": "Options", "sections": [{ "rows": rows }] },
        })
    }
}

/// One template parameter, respond.io → Meta (the same shapes but for location's strings).
fn parameter(p: &Value) -> Result<Value, RespondError> {
    let kind = str_field(p, "type").ok_or_else(RespondError::validation)?;
    match kind {
        "text" => Ok(json!({ "type": "text", "text": str_field(p, "text").unwrap_or_default() })),
        "image" | "video" | "document" => {
            let media = p.get(kind).ok_or_else(RespondError::validation)?;
            let mut m = Map::new();
            for key in ["link", "caption", "filename"] {
                if let Some(v) = str_field(media, key) {
                    m.insert(key.into(), json!(v));
                }
            }
            if !m.contains_key("link") {
                return Err(RespondError::validation());
            }
            Ok(json!({ "type": kind, kind: m }))
        }
        "location" => {
            let l = p.get("location").ok_or_else(RespondError::validation)?;
            // respond.io sends the coordinates as strings; Meta takes numbers.
            let coord = |key: &str| -> Result<f64, RespondError> {
                match l.get(key) {
                    Some(Value::Number(n)) => n.as_f64().ok_or_else(RespondError::validation),
                    Some(Value::String(s)) => {
                        s.trim().parse().map_err(|_| RespondError::validation())
                    }
                    _ => Err(RespondError::validation()),
                }
            };
            let mut loc =
                json!({ "latitude": coord("latitude")?, "longitude": coord("longitude")? });
            for key in ["name", "address"] {
                if let Some(v) = str_field(l, key) {
                    loc[key] = json!(v);
                }
            }
            Ok(json!({ "type": "location", "location": loc }))
        }
        _ => Err(RespondError::validation()),
    }
}

fn parameters(c: &Value) -> Result<Vec<Value>, RespondError> {
    match c.get("parameters") {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Array(ps)) => ps.iter().map(parameter).collect(),
        Some(_) => Err(RespondError::validation()),
    }
}

/// `template:{name, languageCode, components?}` → Meta's `template` object. Components without
/// parameters (static headers, footers, buttons without a URL suffix) carry only display text
/// and are left out: Meta needs parameters, not texts.
pub fn template(t: &Value) -> Result<Value, RespondError> {
    let name = str_field(t, "name").ok_or_else(RespondError::validation)?;
    let language = str_field(t, "languageCode").ok_or_else(RespondError::validation)?;
    let mut components = Vec::new();
    let given = match t.get("components") {
        None | Some(Value::Null) => &[][..],
        Some(Value::Array(cs)) => cs.as_slice(),
        Some(_) => return Err(RespondError::validation()),
    };
    for c in given {
        match str_field(c, "type") {
            Some(kind @ ("header" | "body")) => {
                let ps = parameters(c)?;
                if !ps.is_empty() {
                    components.push(json!({ "type": kind, "parameters": ps }));
                }
            }
            Some("footer") => {}
            Some("buttons") => {
                let buttons = match c.get("buttons") {
                    Some(Value::Array(bs)) => bs.as_slice(),
                    None | Some(Value::Null) => &[][..],
                    Some(_) => return Err(RespondError::validation()),
                };
                for (index, b) in buttons.iter().enumerate() {
                    let ps = parameters(b)?;
                    if ps.is_empty() {
                        continue;
                    }
                    let sub_type = match str_field(b, "type") {
                        Some("url") => "url",
                        Some("quick_reply") => "quick_reply",
                        Some("catalog") => "catalog",
                        Some("mpm") => "mpm",
                        _ => return Err(RespondError::validation()),
                    };
                    components.push(json!({
                        "type": "button",
                        "sub_type": sub_type,
                        "index": index.to_string(),
                        "parameters": ps,
                    }));
                }
            }
            _ => return Err(RespondError::validation()),
        }
    }
    let mut out = json!({ "name": name, "language": { "code": language } });
    if !components.is_empty() {
        out["components"] = Value::Array(components);
    }
    Ok(out)
}

/// respond.io's status values in the order a message moves through them.
const STATUS_ORDER: [&str; 5] = ["pending", "sent", "delivered", "read", "failed"];

/// A message's status array: each transition once (`queued` → `pending`), in the order a
/// message moves through them even when Meta's webhooks arrived out of order (a `delivered`
/// applied after `read`); the dispatcher's own steps (`sending`, `retry`, `unknown`, `resend`)
/// are not respond.io's.
pub fn status_array(events: &[MessageEvent]) -> Vec<Value> {
    let mut out: Vec<Value> = Vec::new();
    let mut seen: Vec<&'static str> = Vec::new();
    for e in events {
        let value = match e.status.as_str() {
            "queued" => "pending",
            // Meta's API accepting it is the first moment respond.io calls it sent.
            "accepted" | "sent" => "sent",
            "delivered" => "delivered",
            "read" => "read",
            "failed" => "failed",
            _ => continue,
        };
        if seen.contains(&value) {
            continue;
        }
        seen.push(value);
        let mut entry = json!({ "value": value, "timestamp": e.at.div_euclid(1000) });
        if value == "failed" {
            let reason = match &e.error {
                Some(err) => match &err.details {
                    Some(d) => format!("{} ({}): {d}", err.title, err.code),
                    None => format!("{} ({})", err.title, err.code),
                },
                None => e.detail.clone().unwrap_or_else(|| "failed".into()),
            };
            entry["message"] = json!(reason);
        }
        out.push(entry);
    }
    out.sort_by_key(|entry| {
        STATUS_ORDER
            .iter()
            .position(|v| entry["value"] == *v)
            .unwrap_or(STATUS_ORDER.len())
    });
    out
}

/// respond.io's `message` for a message sent without one (through `/v1`): rebuilt from Meta's
/// object, as far as the shapes correspond.
pub fn from_meta(body: &Value) -> Value {
    let kind = str_field(body, "type").unwrap_or_default();
    match kind {
        "text" => json!({
            "type": "text",
            "text": body.pointer("/text/body").and_then(Value::as_str).unwrap_or_default(),
        }),
        "image" | "video" | "audio" | "document" => json!({
            "type": "attachment",
            "attachment": {
                "type": if kind == "document" { "file" } else { kind },
                "url": body.pointer(&format!("/{kind}/link")).and_then(Value::as_str),
            },
        }),
        "template" => json!({
            "type": "whatsapp_template",
            "template": {
                "name": body.pointer("/template/name"),
                "languageCode": body.pointer("/template/language/code"),
            },
        }),
        other => json!({ "type": other }),
    }
}

/// The message record of GET `/contact/{identifier}/message/{messageId}` and the list.
pub fn message_record(
    m: &MessageRecord,
    events: &[MessageEvent],
    contact_num: i64,
    channel_num: i64,
    client_message: Option<&str>,
) -> Value {
    let message = client_message
        .and_then(|c| serde_json::from_str::<Value>(c).ok())
        .unwrap_or_else(|| from_meta(&serde_json::from_str(&m.body).unwrap_or_default()));
    json!({
        "messageId": m.seq,
        "channelMessageId": m.wamid,
        "contactId": contact_num,
        "channelId": channel_num,
        "traffic": "outgoing",
        "message": message,
        "status": status_array(events),
    })
}

/// `name` split at its first space: respond.io keeps first and last names apart, Chasqui one
/// name.
pub fn split_name(name: Option<&str>) -> (Option<String>, Option<String>) {
    match name.map(str::trim).filter(|n| !n.is_empty()) {
        None => (None, None),
        Some(n) => match n.split_once(' ') {
            Some((first, last)) => (Some(first.to_string()), Some(last.trim().to_string())),
            None => (Some(n.to_string()), None),
        },
    }
}

/// respond.io's contact object; `id` is the one its clients know it by (see the dialect's
/// `respond_ids`).
pub fn contact_object(c: &Contact, id: i64) -> Value {
    let (first, last) = split_name(c.name.as_deref().or(c.profile_name.as_deref()));
    let fields: Vec<Value> = match &c.custom_fields {
        Value::Object(m) => m
            .iter()
            .map(|(k, v)| json!({ "name": k, "value": v }))
            .collect(),
        _ => Vec::new(),
    };
    json!({
        "id": id,
        "firstName": first,
        "lastName": last,
        "phone": c.phone.as_ref().or(c.wa_id.as_ref()).map(|p| format!("+{p}")),
        "email": c.email,
        "language": c.custom_fields.get("language"),
        "profilePic": null,
        "countryCode": c.custom_fields.get("countryCode"),
        "custom_fields": fields,
        "status": "open",
        "tags": c.tags,
        "assignee": null,
        "lifecycle": null,
        "created_at": c.created_at.div_euclid(1000),
    })
}

/// The contact fields of a create or update body (`firstName`, `lastName`, `phone`, `email`,
/// `language`, `countryCode`, `custom_fields:[{name, value}]`). `language` and `countryCode`
/// have no Chasqui field and are kept among the custom fields.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ContactFields {
    /// First name.
    pub first_name: Option<String>,
    /// Last name.
    pub last_name: Option<String>,
    /// Phone digits.
    pub phone: Option<String>,
    /// Email.
    pub email: Option<String>,
    /// Custom fields to set (merged into the contact's).
    pub custom_fields: Map<String, Value>,
}

impl ContactFields {
    /// Reads a body; a malformed field is a validation error.
    pub fn parse(body: &Value) -> Result<Self, RespondError> {
        let obj = body.as_object().ok_or_else(RespondError::validation)?;
        let text = |key: &str| -> Result<Option<String>, RespondError> {
            match obj.get(key) {
                None | Some(Value::Null) => Ok(None),
                Some(Value::String(s)) if s.len() <= 255 => Ok(Some(s.trim().to_string())),
                Some(_) => Err(RespondError::validation()),
            }
        };
        let phone = match text("phone")? {
            None => None,
            Some(p) if p.is_empty() => None,
            Some(p) => match Identifier::parse(&format!("phone:{p}")) {
                Some(Identifier::Phone(d)) => Some(d),
                _ => return Err(RespondError::validation()),
            },
        };
        let email = match text("email")? {
            Some(e) if !e.is_empty() => match Identifier::parse(&format!("email:{e}")) {
                Some(Identifier::Email(e)) => Some(e),
                _ => return Err(RespondError::validation()),
            },
            _ => None,
        };
        let mut custom_fields = Map::new();
        for key in ["language", "countryCode"] {
            if let Some(v) = text(key)? {
                custom_fields.insert(key.into(), json!(v));
            }
        }
        match obj.get("custom_fields") {
            None | Some(Value::Null) => {}
            Some(Value::Array(fields)) => {
                for f in fields {
                    let name = str_field(f, "name").ok_or_else(RespondError::validation)?;
                    custom_fields.insert(name.into(), f.get("value").cloned().unwrap_or_default());
                }
            }
            Some(_) => return Err(RespondError::validation()),
        }
        Ok(Self {
            first_name: text("firstName")?,
            last_name: text("lastName")?,
            phone,
            email,
            custom_fields,
        })
    }

    fn name(&self) -> Option<String> {
        let parts: Vec<&str> = [&self.first_name, &self.last_name]
            .into_iter()
            .flatten()
            .map(String::as_str)
            .filter(|s| !s.is_empty())
            .collect();
        (!parts.is_empty()).then(|| parts.join(" "))
    }

    /// A new contact; `firstName` is required on create (respond.io's SDK).
    pub fn to_new(&self) -> Result<NewContact, RespondError> {
        if self.first_name.as_deref().is_none_or(str::is_empty) {
            return Err(RespondError::validation());
        }
        Ok(NewContact {
            name: self.name(),
            phone: self.phone.clone(),
            email: self.email.clone(),
            tags: Vec::new(),
            custom_fields: Value::Object(self.custom_fields.clone()),
        })
    }

    /// A partial update of `current`: only the fields given change (a name part left out keeps
    /// the current one).
    pub fn to_patch(&self, current: &Contact) -> ContactPatch {
        let mut patch = ContactPatch::default();
        if self.first_name.is_some() || self.last_name.is_some() {
            let (first, last) = split_name(current.name.as_deref());
            let merged = ContactFields {
                first_name: self.first_name.clone().or(first),
                last_name: self.last_name.clone().or(last),
                ..Self::default()
            };
            patch.name = Some(merged.name());
        }
        if let Some(p) = &self.phone {
            patch.phone = Some(Some(p.clone()));
            if current.wa_id.is_none() {
                patch.wa_id = Some(Some(p.clone()));
            }
        }
        if let Some(e) = &self.email {
            patch.email = Some(Some(e.clone()));
        }
        if !self.custom_fields.is_empty() {
            let mut fields = current
                .custom_fields
                .as_object()
                .cloned()
                .unwrap_or_default();
            fields.extend(self.custom_fields.clone());
            patch.custom_fields = Some(Value::Object(fields));
        }
        patch
    }
}

/// A tag list body: 1–10 strings of at most 255 characters.
pub fn tags(body: &Value) -> Result<Vec<String>, RespondError> {
    let list = body.as_array().ok_or_else(RespondError::validation)?;
    if list.is_empty() || list.len() > 10 {
        return Err(RespondError::validation());
    }
    list.iter()
        .map(|t| match t.as_str() {
            Some(s) if !s.trim().is_empty() && s.chars().count() <= 255 => Ok(s.trim().to_string()),
            _ => Err(RespondError::validation()),
        })
        .collect()
}

/// A channel's `source`: the respond.io name of its provider.
pub fn channel_source(provider: ProviderKind) -> &'static str {
    match provider {
        ProviderKind::Dialog360 => "360dialog_whatsapp",
        ProviderKind::CloudApi | ProviderKind::Sandbox => "whatsapp_cloud",
    }
}

/// The `channelId` respond.io clients know a channel by: the one respond.io gave it, else
/// Chasqui's stable number.
pub fn respond_channel_id(c: &Channel) -> i64 {
    c.respond_channel_id
        .as_deref()
        .and_then(|id| id.parse().ok())
        .unwrap_or(c.num)
}

/// respond.io's channel object (`GET /space/channel`).
pub fn channel_object(c: &Channel) -> Value {
    json!({
        "id": respond_channel_id(c),
        "name": c.name,
        "source": channel_source(c.provider),
        "created_at": null,
    })
}

#[cfg(test)]
mod tests;
