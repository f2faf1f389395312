//! Every error answer of the native API, described once. An operation's error responses come
//! from what it has (authentication, path or query parameters, a JSON or multipart body) and
//! from the codes its own annotation names in backticks; each is `application/problem+json`
//! with the `code` values that status can carry.

use std::collections::BTreeMap;

use serde_json::{json, Map, Value};

#[rustfmt::skip]
/// Every problem code the native API answers, with its status and what it means.
pub const CATALOGUE: &[(&str, u16, &str)] = &[
    ("invalid_json", 400, "the body is not JSON, or JSON of the wrong shape"),
    ("invalid_csv", 400, "the body is not CSV, or its header row is missing"),
    ("invalid_parameter", 400, "a path segment, query parameter or header is malformed"),
    ("missing_api_key", 401, "no `Authorization: Bearer` header"),
    ("invalid_api_key", 401, "the key or session is unknown, expired or revoked"),
    ("invalid_credentials", 401, "the username or password is not valid"),
    ("missing_signature", 401, "no `X-Hub-Signature-256`"),
    ("invalid_signature", 401, "the signature matches no channel's app secret"),
    ("insufficient_scope", 403, "the credential lacks the operation's scope"),
    ("verification_failed", 403, "the verify token is no channel's"),
    ("not_found", 404, "no such resource in this workspace"),
    ("method_not_allowed", 405, "the path exists, not for this method"),
    ("request_timeout", 408, "the body did not arrive in time"),
    ("conflict", 409, "the change would take another resource's value"),
    ("idempotency_conflict", 409, "the `Idempotency-Key` was used with another body"),
    ("payload_too_large", 413, "the body is over the limit"),
    ("unsupported_media_type", 415, "the body is not of the documented content type"),
    ("validation_failed", 422, "the request broke WhatsApp's rules: every problem under `errors`"),
    ("window_closed", 422, "the 24-hour window is closed: only a template may be sent"),
    ("contact_opted_out", 422, "the contact opted out"),
    ("phone_number_required", 422, "an authentication template sent to a business-scoped user id: Meta sends them to phone numbers only"),
    ("contact_opted_out_marketing", 422, "a MARKETING template to a contact who stopped marketing"),
    ("template_not_found", 422, "no such template in that language on the channel"),
    ("too_large", 422, "the file is over WhatsApp's limit for its type"),
    ("media_unsupported", 422, "the channel's provider takes no uploads"),
    ("provider_rejected", 422, "Meta refused the call: its error under `provider_error`"),
    ("daily_quota_exceeded", 429, "the key's or workspace's daily quota is used up"),
    ("messaging_limit_reached", 429, "the channel's messaging limit is reached"),
    ("rate_limited", 429, "too many requests: wait `Retry-After` seconds"),
    ("too_many_concurrent_requests", 429, "too many requests in flight for this key"),
    ("login_throttled", 429, "too many failed logins for this username"),
    ("internal_error", 500, "an unexpected failure, logged with the request id"),
    ("provider_unavailable", 502, "the provider did not answer"),
    ("not_ready", 503, "the database does not answer"),
    ("storage_unavailable", 503, "the store stopped accepting writes: retry later"),
];

/// Codes any operation may answer.
const EVERY_OPERATION: &[&str] = &["internal_error", "storage_unavailable"];
/// Codes of an operation behind the bearer scheme.
const AUTHENTICATED: &[&str] = &[
    "missing_api_key",
    "invalid_api_key",
    "insufficient_scope",
    "rate_limited",
    "too_many_concurrent_requests",
];
/// Codes of an operation with path parameters.
const WITH_PATH: &[&str] = &["invalid_parameter", "not_found"];
/// Codes of an operation with query or header parameters.
const WITH_PARAMETERS: &[&str] = &["invalid_parameter"];
/// Codes of an operation with a JSON body.
const WITH_JSON: &[&str] = &[
    "invalid_json",
    "request_timeout",
    "payload_too_large",
    "unsupported_media_type",
    "validation_failed",
];
/// Codes of an operation with a multipart body.
const WITH_MULTIPART: &[&str] = &[
    "invalid_parameter",
    "request_timeout",
    "payload_too_large",
    "unsupported_media_type",
    "validation_failed",
];

/// The status a catalogued code answers with.
fn status_of(code: &str) -> Option<u16> {
    CATALOGUE
        .iter()
        .find(|(c, _, _)| *c == code)
        .map(|(_, s, _)| *s)
}

/// Backticked words in `text` that are catalogued codes.
fn named_codes(text: &str) -> Vec<&'static str> {
    text.split('`')
        .skip(1)
        .step_by(2)
        .filter_map(|word| CATALOGUE.iter().find(|(c, _, _)| *c == word).map(|e| e.0))
        .collect()
}

/// Describes every error answer of every operation.
pub fn apply(doc: &mut Value) {
    super::for_each_operation(doc, |path, _, op| describe(path, op));
}

fn describe(path: &str, op: &mut Map<String, Value>) {
    let field = |name: &str| op.get(name).cloned().unwrap_or(Value::Null);
    let authenticated = field("security")
        .as_array()
        .is_some_and(|s| s.iter().any(|r| r.get(super::scopes::BEARER).is_some()));
    let params = field("parameters").as_array().cloned().unwrap_or_default();
    let has = |place: &str| params.iter().any(|p| p["in"] == place);
    let body_types: Vec<String> = field("requestBody")["content"]
        .as_object()
        .map(|c| c.keys().cloned().collect())
        .unwrap_or_default();

    let mut codes: BTreeMap<u16, Vec<&'static str>> = BTreeMap::new();
    let mut add = |list: &[&'static str]| {
        for code in list {
            if let Some(status) = status_of(code) {
                let at = codes.entry(status).or_default();
                if !at.contains(code) {
                    at.push(code);
                }
            }
        }
    };
    add(EVERY_OPERATION);
    if authenticated {
        add(AUTHENTICATED);
    }
    if path.contains('{') {
        add(WITH_PATH);
    }
    if has("query") || has("header") {
        add(WITH_PARAMETERS);
    }
    if body_types.iter().any(|t| t == "application/json") {
        add(WITH_JSON);
    }
    if body_types.iter().any(|t| t == "multipart/form-data") {
        add(WITH_MULTIPART);
    }
    let responses = op
        .entry("responses")
        .or_insert_with(|| json!({}))
        .as_object_mut()
        .expect("responses is an object");
    // A code an annotation names counts at the annotation's status: `unsupported_media_type`
    // is a 415 for a body's type, and a 422 for an uploaded file's.
    for (status, response) in responses.iter() {
        let text = response["description"].as_str().unwrap_or_default();
        if let Ok(status) = status.parse::<u16>() {
            if status >= 400 && response.get("content").is_none() {
                let at = codes.entry(status).or_default();
                for code in named_codes(text) {
                    if !at.contains(&code) {
                        at.push(code);
                    }
                }
            }
        }
    }
    for (status, list) in codes {
        let key = status.to_string();
        let existing = responses.get(&key);
        if existing.is_some_and(|r| r.get("content").is_some()) {
            // Answered in its own shape (the sandbox's `{ "error": ... }`).
            continue;
        }
        let description = existing
            .and_then(|r| r["description"].as_str())
            .map(str::to_string)
            .unwrap_or_else(|| describe_codes(&list));
        responses.insert(key, response(&description, &list, status));
    }
}

/// A description listing each code with its meaning.
fn describe_codes(list: &[&str]) -> String {
    list.iter()
        .filter_map(|code| CATALOGUE.iter().find(|(c, _, _)| c == code))
        .map(|(code, _, meaning)| format!("`{code}`: {meaning}"))
        .collect::<Vec<_>>()
        .join("; ")
}

/// A problem+json response whose `code` is one of `codes`.
fn response(description: &str, codes: &[&str], status: u16) -> Value {
    let mut code = json!({ "type": "string" });
    if !codes.is_empty() {
        code["enum"] = json!(codes);
    }
    let mut resp = json!({
        "description": description,
        "content": { "application/problem+json": { "schema": { "allOf": [
            { "$ref": "#/components/schemas/Problem" },
            { "type": "object", "properties": { "code": code, "status": { "const": status } } },
        ]}}},
    });
    if status == 429 || status == 503 {
        resp["headers"] = json!({ "Retry-After": {
            "description": "Seconds to wait before trying again",
            "schema": { "type": "integer" },
        }});
    }
    resp
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::error::ApiError;
    use crate::limits::{LimitError, LimitKind, RateLimitHeaders};
    use chasqui_domain::{Problem, Scope};

    #[test]
    fn every_code_the_api_answers_is_catalogued_with_its_status() {
        let headers = RateLimitHeaders {
            limit: 1,
            remaining: 0,
            reset_secs: 1,
        };
        let limited = |kind| {
            ApiError::Limited(LimitError::Exceeded {
                kind,
                headers,
                retry_after_secs: 1,
            })
        };
        let errors = [
            ApiError::MissingApiKey,
            ApiError::InvalidApiKey,
            ApiError::InsufficientScope(Scope::Send),
            ApiError::InvalidCredentials,
            ApiError::LoginThrottled {
                retry_after_secs: 1,
            },
            ApiError::UnsupportedMediaType,
            ApiError::UnsupportedContentType("CSV"),
            ApiError::InvalidCsv(String::new()),
            ApiError::PayloadTooLarge(1),
            ApiError::InvalidJson(String::new()),
            ApiError::Validation(vec![]),
            ApiError::Refused(Problem::new("to", "window_closed", "closed")),
            ApiError::Refused(Problem::new("to", "contact_opted_out", "opted out")),
            ApiError::Refused(Problem::new(
                "to",
                "contact_opted_out_marketing",
                "marketing",
            )),
            ApiError::Conflict(String::new()),
            ApiError::BadParameter {
                field: "limit".into(),
                message: String::new(),
            },
            ApiError::IdempotencyConflict("01J".parse().unwrap()),
            ApiError::NotFound(String::new()),
            ApiError::TemplateNotFound {
                name: String::new(),
                language: String::new(),
            },
            ApiError::ProviderUnavailable(String::new()),
            limited(LimitKind::DailyQuota),
            limited(LimitKind::WorkspaceDailyQuota),
            limited(LimitKind::Rate),
            limited(LimitKind::Concurrency),
            limited(LimitKind::MessagingLimit),
            ApiError::MethodNotAllowed,
            ApiError::RequestTimeout,
            ApiError::Unavailable,
            ApiError::StorageUnavailable(String::new()),
            ApiError::Internal(String::new()),
        ];
        for e in errors {
            let (code, status) = e.code_and_status();
            assert_eq!(
                status_of(code),
                Some(status.as_u16()),
                "{code} is not catalogued at {status}"
            );
        }
    }

    #[test]
    fn an_operation_gets_the_errors_of_what_it_has() {
        let mut op = json!({
            "security": [{ "bearer": [] }],
            "parameters": [{ "name": "id", "in": "path" }],
            "requestBody": { "content": { "application/json": {} } },
            "responses": { "200": { "description": "ok" },
                "409": { "description": "`conflict`" } },
        });
        describe("/v1/things/{id}", op.as_object_mut().unwrap());
        let codes = |status: &str| {
            op["responses"][status]["content"]["application/problem+json"]["schema"]["allOf"][1]
                ["properties"]["code"]["enum"]
                .clone()
        };
        assert_eq!(codes("401"), json!(["missing_api_key", "invalid_api_key"]));
        assert_eq!(codes("404"), json!(["not_found"]));
        assert_eq!(codes("409"), json!(["conflict"]));
        assert_eq!(codes("422"), json!(["validation_failed"]));
        assert_eq!(codes("400"), json!(["invalid_parameter", "invalid_json"]));
        assert_eq!(op["responses"]["409"]["description"], "`conflict`");
        assert!(op["responses"]["200"].get("content").is_none());
    }
}
