//! The sandbox's message templates: `GET/POST /{version}/{waba_id}/message_templates` in
//! Meta's shapes, review (PENDING, then APPROVED after `template_approval_ms`, announced by a
//! signed `message_template_status_update` webhook), and the send-time check that makes the
//! simulated Graph refuse unknown or unapproved templates as Meta does (132001 and siblings).
//!
//! The sandbox is one WhatsApp Business Account (`waba_id` in the settings); like a new real
//! account it starts with Meta's `hello_world` (en_US) template approved.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use chasqui_domain::template_registry::{
    match_send, parse_submission, parse_template, TEMPLATE_PARAM_COUNT, TEMPLATE_PARAM_TYPE,
};
use chasqui_domain::OutboundMessage;
use rand::Rng;
use serde_json::{json, Value};

use super::graph::{check_token, meta_error, Refusal};
use super::{lock, now_ms, Sandbox};

/// Meta's default page size for template listings.
const DEFAULT_LIMIT: usize = 25;

/// The templates of the sandbox's WABA, each in Meta's shape with its `id` and `status`.
pub(super) struct Book {
    templates: Vec<Value>,
}

impl Default for Book {
    fn default() -> Self {
        Self {
            templates: vec![hello_world()],
        }
    }
}

/// Meta's sample template as the reference's OpenAPI file lists it (`GET message_templates`
/// example): what every new WhatsApp Business Account starts with.
fn hello_world() -> Value {
    json!({
        "id": "1192339204654487",
        "name": "hello_world",
        "language": "en_US",
        "status": "APPROVED",
        "category": "MARKETING",
        "previous_category": "ACCOUNT_UPDATE",
        "parameter_format": "POSITIONAL",
        "components": [
            {"type": "HEADER", "format": "TEXT", "text": "Hello World"},
            {"type": "BODY", "text": "Welcome and congratulations!! This message demonstrates your ability to send a message notification from WhatsApp Business Platform\u{2019}s Cloud API. Thank you for taking the time to test with us."},
            {"type": "FOOTER", "text": "WhatsApp Business API Team"}
        ]
    })
}

fn text<'v>(value: &'v Value, key: &str) -> &'v str {
    value.get(key).and_then(Value::as_str).unwrap_or_default()
}

/// Meta's answer for a WABA id the token cannot see.
fn unknown_object(id: &str) -> Response {
    meta_error(
        StatusCode::BAD_REQUEST,
        100,
        &format!(
            "Unsupported request. Object with ID '{id}' does not exist, cannot be loaded due to \
             missing permissions, or does not support this operation."
        ),
        None,
    )
}

/// The auth and WABA checks both template routes make: the refusal, if any.
fn refuse_access(sandbox: &Sandbox, headers: &HeaderMap, waba_id: &str) -> Option<Response> {
    let settings = sandbox.settings();
    if let Err(refusal) = check_token(&settings, headers) {
        return Some(refusal.into_response());
    }
    (waba_id != settings.waba_id).then(|| unknown_object(waba_id))
}

/// `GET /{version}/{waba_id}/message_templates`: filters `name`, `status`, `category`,
/// `language`; pages of `limit` (default 25) with `paging.cursors.after` and `paging.next`.
pub(super) async fn list(
    State(sandbox): State<Arc<Sandbox>>,
    Path((version, waba_id)): Path<(String, String)>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    if let Some(refusal) = refuse_access(&sandbox, &headers, &waba_id) {
        return refusal;
    }
    let limit = match query.get("limit").map(|l| l.parse::<usize>()) {
        None => DEFAULT_LIMIT,
        Some(Ok(l)) if l > 0 => l,
        Some(_) => {
            return meta_error(
                StatusCode::BAD_REQUEST,
                100,
                "(#100) Invalid parameter",
                Some("limit: must be a positive integer"),
            )
        }
    };
    let start = match query.get("after").map(|a| a.parse::<usize>()) {
        None => 0,
        Some(Ok(a)) => a,
        Some(Err(_)) => {
            return meta_error(
                StatusCode::BAD_REQUEST,
                100,
                "(#100) Invalid parameter",
                Some("after: not a cursor of this listing"),
            )
        }
    };
    let matches = |t: &Value| {
        ["name", "status", "category", "language"]
            .iter()
            .all(|key| {
                query
                    .get(*key)
                    .is_none_or(|v| text(t, key).eq_ignore_ascii_case(v))
            })
    };
    let selected: Vec<Value> = lock(&sandbox.state)
        .templates
        .templates
        .iter()
        .filter(|t| matches(t))
        .cloned()
        .collect();
    let end = start.saturating_add(limit).min(selected.len());
    let page = selected.get(start..end).unwrap_or_default().to_vec();
    let mut paging = json!({"cursors": {"before": start.to_string(), "after": end.to_string()}});
    if end < selected.len() {
        paging["next"] = json!(format!(
            "https://graph.facebook.com/{version}/{waba_id}/message_templates?limit={limit}&after={end}"
        ));
    }
    Json(json!({"data": page, "paging": paging})).into_response()
}

/// `POST /{version}/{waba_id}/message_templates`: checked with Meta's creation rules, stored
/// as PENDING, approved after `template_approval_ms`.
pub(super) async fn create(
    State(sandbox): State<Arc<Sandbox>>,
    Path((_version, waba_id)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Some(refusal) = refuse_access(&sandbox, &headers, &waba_id) {
        return refusal;
    }
    let invalid = |details: &str| {
        meta_error(
            StatusCode::BAD_REQUEST,
            100,
            "(#100) Invalid parameter",
            Some(details),
        )
    };
    let Ok(value) = serde_json::from_slice::<Value>(&body) else {
        return invalid("the request body is not valid JSON");
    };
    let submission = match parse_submission(&value) {
        Ok(s) => s,
        Err(problems) => {
            let details: Vec<String> = problems
                .iter()
                .map(|p| format!("{}: {}", p.field, p.message))
                .collect();
            return invalid(&details.join("; "));
        }
    };
    let mut template = submission.to_meta_body();
    if let Some(fields) = template.as_object_mut() {
        fields.remove("allow_category_change");
    }
    preset_authentication_text(&mut template);
    let (id, category) = {
        let mut state = lock(&sandbox.state);
        let state = &mut *state;
        let taken = state.templates.templates.iter().any(|t| {
            text(t, "name") == submission.name.as_str()
                && text(t, "language") == submission.language
        });
        if taken {
            return meta_error(
                StatusCode::BAD_REQUEST,
                100,
                "(#100) Invalid parameter",
                Some(
                    format!(
                        "Content in this language already exists: {} ({})",
                        submission.name, submission.language
                    )
                    .as_str(),
                ),
            );
        }
        let id = state
            .rng
            .random_range(1_000_000_000_000_000u64..10_000_000_000_000_000)
            .to_string();
        template["id"] = json!(id);
        template["status"] = json!("PENDING");
        state.templates.templates.push(template);
        (id, submission.category.as_str().to_owned())
    };
    let delay = Duration::from_millis(sandbox.settings().template_approval_ms);
    let reviewer = sandbox.clone();
    let review_id = id.clone();
    tokio::spawn(async move {
        tokio::time::sleep(delay).await;
        reviewer.approve_template(&review_id);
    });
    Json(json!({"id": id, "status": "PENDING", "category": category})).into_response()
}

/// Meta writes an authentication template's body itself (the submission gives only
/// `add_security_recommendation`): the code is its one parameter, as Meta lists it back.
fn preset_authentication_text(template: &mut Value) {
    if template.get("category").and_then(Value::as_str) != Some("AUTHENTICATION") {
        return;
    }
    let components = template.get_mut("components").and_then(Value::as_array_mut);
    for c in components.into_iter().flatten() {
        if c.get("type").and_then(Value::as_str) == Some("BODY") && c.get("text").is_none() {
            c["text"] = json!("{{1}} is your verification code.");
        }
    }
}

impl Sandbox {
    /// Approves a pending template and announces it with a status webhook, as Meta's review does.
    fn approve_template(self: &Arc<Self>, id: &str) {
        let approved = {
            let mut state = lock(&self.state);
            let found = state
                .templates
                .templates
                .iter_mut()
                .find(|t| text(t, "id") == id && text(t, "status") == "PENDING");
            found.map(|t| {
                t["status"] = json!("APPROVED");
                t.clone()
            })
        };
        let Some(template) = approved else { return };
        let settings = self.settings();
        if settings.webhook_url.is_none() {
            return;
        }
        let payload = json!({
            "object": "whatsapp_business_account",
            "entry": [{
                "id": settings.waba_id,
                "time": now_ms() / 1000,
                "changes": [{
                    "field": "message_template_status_update",
                    "value": {
                        "event": "APPROVED",
                        // Meta sends the template id as a number.
                        "message_template_id": id.parse::<u64>().map_or(json!(id), |n| json!(n)),
                        "message_template_name": template["name"],
                        "message_template_language": template["language"],
                        "message_template_category": template["category"],
                        "reason": "NONE",
                    }
                }]
            }]
        });
        self.post_webhook(&payload);
    }

    /// The pricing category of a template send, from the stored template (`None`: not a
    /// template). A template the sandbox does not hold is priced as marketing, Meta's default.
    pub(super) fn template_category(&self, body: &Value) -> Option<&'static str> {
        let send = body.get("template")?;
        let (name, language) = (text(send, "name"), send.pointer("/language/code"));
        let language = language.and_then(Value::as_str).unwrap_or_default();
        let state = lock(&self.state);
        let stored = state
            .templates
            .templates
            .iter()
            .find(|t| text(t, "name") == name && text(t, "language") == language);
        Some(match stored.map(|t| text(t, "category")) {
            Some("UTILITY") => "utility",
            Some("AUTHENTICATION") => "authentication",
            _ => "marketing",
        })
    }

    /// Meta's refusal of a template send: unknown in that language or not approved (132001),
    /// paused (132015), disabled (132016), parameters that do not fit (132000, 132012).
    pub(super) fn template_refusal(&self, message: &OutboundMessage) -> Option<Refusal> {
        if message.kind.as_str() != "template" {
            return None;
        }
        let send = message.body.get("template")?;
        let name = text(send, "name");
        let language = send
            .pointer("/language/code")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let stored = lock(&self.state)
            .templates
            .templates
            .iter()
            .find(|t| text(t, "name") == name && text(t, "language") == language)
            .cloned();
        let refusal = |status, code: i64, title: &str, details: String| Refusal {
            status,
            code,
            message: format!("(#{code}) {title}"),
            details: Some(details),
        };
        let Some(stored) = stored else {
            return Some(refusal(
                StatusCode::NOT_FOUND,
                132001,
                "Template name does not exist in the translation",
                format!("template name ({name}) does not exist in {language}"),
            ));
        };
        match text(&stored, "status") {
            "APPROVED" => {}
            "PAUSED" => {
                return Some(refusal(
                    StatusCode::BAD_REQUEST,
                    132015,
                    "Template is paused",
                    format!("template {name} ({language}) is paused because of low quality"),
                ))
            }
            "DISABLED" => {
                return Some(refusal(
                    StatusCode::BAD_REQUEST,
                    132016,
                    "Template is disabled",
                    format!("template {name} ({language}) has been disabled"),
                ))
            }
            other => {
                return Some(refusal(
                    StatusCode::NOT_FOUND,
                    132001,
                    "Template name does not exist in the translation",
                    format!("template {name} ({language}) is {other}, not APPROVED"),
                ))
            }
        }
        let template = parse_template(&stored).ok()?;
        let problems = match_send(&template, send).err()?;
        let details: Vec<String> = problems
            .iter()
            .map(|p| format!("{}: {}", p.field, p.message))
            .collect();
        let details = details.join("; ");
        Some(if problems.iter().any(|p| p.code == TEMPLATE_PARAM_COUNT) {
            refusal(
                StatusCode::BAD_REQUEST,
                132000,
                "Number of parameters does not match the expected number of params",
                details,
            )
        } else if problems.iter().any(|p| p.code == TEMPLATE_PARAM_TYPE) {
            refusal(
                StatusCode::BAD_REQUEST,
                132012,
                "Parameter format does not match format in the created template",
                details,
            )
        } else {
            Refusal::invalid(details)
        })
    }
}
