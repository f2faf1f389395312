//! Wolkvox's `whatsapp.php?api=…` requests → Meta's message and template shapes, and Chasqui's
//! errors → Wolkvox's `{code, error, msg}` envelope with its documented response-code table.
//! Pure: no I/O.

use axum::http::StatusCode;
use chasqui_store::{Channel, StoredTemplate};
use serde_json::{json, Map, Value};

use crate::api::error::ApiError;
use crate::limits::{LimitError, LimitKind};

/// The `msg` of an accepted send.
pub const SENT: &str = "Message has been sent successfully";
/// Documented: unknown `api=`.
pub const NO_SUCH_API: &str = "THE API YOU WANT TO CONSULT DOES NOT EXIST";
/// Documented: a required field is missing.
pub const PARAMS_REQUIRED: &str = "SOME PARAMETERS ARE REQUIRED";
/// Documented: no `wolkvox-token` header.
pub const ENTER_TOKEN: &str = "PLEASE ENTER THE WOLKVOX-TOKEN";
/// Documented: the token's daily quota is spent.
pub const TOKEN_LIMIT: &str = "TOKEN LIMIT EXCEEDED";
/// Documented: more than two requests at once with one token.
pub const SIMULTANEOUS: &str = "EXCEEDS THE LIMIT OF SIMULTANEOUS REQUESTS PER TOKEN (2)";
/// Documented: the token is wrong, expired or unlinked.
pub const VALIDATE_TOKEN: &str = "PLEASE VALIDATE TOKEN";
/// Wolkvox's documented maximum of simultaneous requests per token.
pub const MAX_SIMULTANEOUS: i64 = 2;
/// Wolkvox's documented daily requests per licence.
pub const DAILY_PER_LICENCE: i64 = 1_000;

/// One `whatsapp.php` operation, named by the `api` query parameter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Api {
    /// `send_message_mobil`: text, or an image with the text as caption.
    SendMessageMobil,
    /// `send_template_official`: an approved template with `;`-separated variables.
    SendTemplateOfficial,
    /// `send_message_official`: free-form text inside the open 24-hour window only.
    SendMessageOfficial,
    /// `create_template`, `create_auth_template`, `create_utility_template`: the category.
    CreateTemplate(&'static str),
    /// `list_templates` (GET).
    ListTemplates,
    /// `sync_templates`.
    SyncTemplates,
}

impl Api {
    /// The operation `api=` names, if it is one.
    pub fn parse(name: &str) -> Option<Self> {
        Some(match name.trim() {
            "send_message_mobil" => Self::SendMessageMobil,
            "send_template_official" => Self::SendTemplateOfficial,
            "send_message_official" => Self::SendMessageOfficial,
            "create_template" => Self::CreateTemplate("MARKETING"),
            "create_auth_template" => Self::CreateTemplate("AUTHENTICATION"),
            "create_utility_template" => Self::CreateTemplate("UTILITY"),
            "list_templates" => Self::ListTemplates,
            "sync_templates" => Self::SyncTemplates,
            _ => return None,
        })
    }

    /// The fields the operation cannot do without.
    pub fn required(self) -> &'static [&'static str] {
        match self {
            Self::SendMessageMobil | Self::SendMessageOfficial => {
                &["connector_id", "telephone", "message"]
            }
            Self::SendTemplateOfficial => &["connector_id", "telephone", "template_name"],
            Self::CreateTemplate(_) => &["connector_id", "name", "language", "components"],
            Self::ListTemplates | Self::SyncTemplates => &["connector_id"],
        }
    }

    /// Whether the operation sends a message (and so is answered 201).
    pub fn is_send(self) -> bool {
        matches!(
            self,
            Self::SendMessageMobil | Self::SendTemplateOfficial | Self::SendMessageOfficial
        )
    }
}

/// A Wolkvox answer: `code` (also the HTTP status), `error`, `msg` and, for queries, `data`.
#[derive(Debug, Clone, PartialEq)]
pub struct Envelope {
    /// The HTTP status and `code`.
    pub status: StatusCode,
    /// `error`: `null` on success, else the error's name (`BAD REQUEST`, `FORBIDDEN`...).
    pub error: Option<&'static str>,
    /// `msg`.
    pub msg: String,
    /// `data`, for the operations that answer some.
    pub data: Option<Value>,
}

impl Envelope {
    /// A success answer.
    pub fn ok(status: StatusCode, msg: impl Into<String>, data: Option<Value>) -> Self {
        Self {
            status,
            error: None,
            msg: msg.into(),
            data,
        }
    }

    /// A refusal.
    pub fn err(status: StatusCode, error: &'static str, msg: impl Into<String>) -> Self {
        Self {
            status,
            error: Some(error),
            msg: msg.into(),
            data: None,
        }
    }

    /// `400 BAD REQUEST` with `msg`.
    pub fn bad_request(msg: impl Into<String>) -> Self {
        Self::err(StatusCode::BAD_REQUEST, "BAD REQUEST", msg)
    }

    /// The JSON body.
    pub fn body(&self) -> Value {
        let mut body = json!({"code": self.status.as_u16(), "error": self.error, "msg": self.msg});
        if let Some(data) = &self.data {
            body["data"] = data.clone();
        }
        body
    }
}

/// The request's fields: the JSON body's object merged over the query's parameters (so
/// `connector_id` may come either way). A blank body is no fields.
pub fn fields(
    query: &std::collections::HashMap<String, String>,
    body: &[u8],
) -> Result<Map<String, Value>, Envelope> {
    let mut fields: Map<String, Value> = query
        .iter()
        .filter(|(k, _)| k.as_str() != "api")
        .map(|(k, v)| (k.clone(), Value::String(v.clone())))
        .collect();
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(fields);
    }
    match crate::api::json::parse(body) {
        Ok(Value::Object(o)) => {
            fields.extend(o);
            Ok(fields)
        }
        Ok(_) => Err(Envelope::bad_request("THE BODY MUST BE A JSON OBJECT")),
        Err(crate::api::json::JsonError::Syntax(e)) => Err(Envelope::bad_request(format!(
            "THE BODY IS NOT VALID JSON: {e}"
        ))),
        Err(e) => Err(from_api_error(&e.into())),
    }
}

/// A field as text: Wolkvox fields are strings, but numbers (a numeric `connector_id`, say) are
/// taken as their text. Absent, `null` and blank are `None`.
pub fn text(fields: &Map<String, Value>, name: &str) -> Option<String> {
    match fields.get(name)? {
        Value::String(s) if !s.trim().is_empty() => Some(s.trim().to_owned()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// Refuses with the documented "SOME PARAMETERS ARE REQUIRED" when a required field is missing.
pub fn check_required(api: Api, fields: &Map<String, Value>) -> Result<(), Envelope> {
    let present = |name: &&str| match fields.get(*name) {
        Some(Value::Array(a)) => !a.is_empty(),
        _ => text(fields, name).is_some(),
    };
    if api.required().iter().all(present) {
        Ok(())
    } else {
        Err(Envelope::bad_request(PARAMS_REQUIRED))
    }
}

/// Meta's `to` for a Wolkvox `telephone` (digits with the country code, no `+`).
fn to(telephone: &str) -> String {
    format!("+{}", telephone.trim().trim_start_matches('+'))
}

/// `send_message_mobil`: the text, or an image with the text as its caption when `url_attach`
/// is set.
pub fn mobil_message(telephone: &str, message: &str, url_attach: Option<&str>) -> Value {
    match url_attach {
        Some(url) => json!({"to": to(telephone), "type": "image",
            "image": {"link": url, "caption": message}}),
        None => official_message(telephone, message),
    }
}

/// `send_message_official`: free-form text.
pub fn official_message(telephone: &str, message: &str) -> Value {
    json!({"to": to(telephone), "type": "text", "text": {"body": message}})
}

/// The body parameters of `template_vars`: split on `;`, each trimmed; trailing empty pieces
/// (a final `;`) are dropped, so `"a;b;"` is two parameters. Blank = none.
pub fn split_vars(vars: Option<&str>) -> Vec<String> {
    let mut out: Vec<String> = vars
        .unwrap_or("")
        .split(';')
        .map(|v| v.trim().to_owned())
        .collect();
    while out.last().is_some_and(String::is_empty) {
        out.pop();
    }
    out
}

/// `send_template_official`: the template in `language`, `template_vars` as body text
/// parameters and `url_attach` as an image header parameter.
pub fn template_message(
    telephone: &str,
    name: &str,
    language: &str,
    vars: &[String],
    url_attach: Option<&str>,
) -> Value {
    let mut components = Vec::new();
    if let Some(url) = url_attach {
        components.push(json!({"type": "header",
            "parameters": [{"type": "image", "image": {"link": url}}]}));
    }
    if !vars.is_empty() {
        let parameters: Vec<Value> = vars
            .iter()
            .map(|v| json!({"type": "text", "text": v}))
            .collect();
        components.push(json!({"type": "body", "parameters": parameters}));
    }
    let mut template = json!({"name": name, "language": {"code": language}});
    if !components.is_empty() {
        template["components"] = Value::Array(components);
    }
    json!({"to": to(telephone), "type": "template", "template": template})
}

/// Which language of template `name` to send, from the channel's registry entries of that name
/// as `(language, approved)`: an approved one; among several, `es`, then another Spanish
/// variant, then the first by code. With none approved, any (the send's template check then
/// says why it cannot go); with none at all, `None`.
pub fn pick_language(candidates: &[(String, bool)]) -> Option<String> {
    let rank = |(lang, approved): &(String, bool)| {
        let spanish = if lang == "es" {
            0
        } else if lang.starts_with("es") {
            1
        } else {
            2
        };
        (!approved, spanish, lang.clone())
    };
    candidates
        .iter()
        .min_by_key(|c| rank(c))
        .map(|c| c.0.clone())
}

/// The Meta template-creation body of a `create_*_template` request, its category forced by
/// the operation; Meta's own fields pass through, the domain checks them.
pub fn template_submission(fields: &Map<String, Value>, category: &str) -> Value {
    let mut out = Map::new();
    for name in [
        "name",
        "language",
        "components",
        "parameter_format",
        "allow_category_change",
    ] {
        if let Some(v) = fields.get(name) {
            out.insert(name.to_owned(), v.clone());
        }
    }
    out.insert("category".into(), json!(category));
    Value::Object(out)
}

/// A template as `list_templates` shows it in `data.meta_templates`.
pub fn meta_template(t: &StoredTemplate) -> Value {
    let full = t.template.to_json();
    json!({
        "id": t.template.id,
        "name": t.template.name.as_str(),
        "language": t.template.language,
        "status": t.template.status.as_str(),
        "category": t.template.category.as_str(),
        "previous_category": Value::Null,
        "parameter_format": t.template.parameter_format.as_str(),
        "components": full["components"],
    })
}

/// A template as `sync_templates` lists it: `{name_template, body_template, idiom, category}`.
pub fn synced_template(t: &StoredTemplate) -> Value {
    let full = t.template.to_json();
    let body = full["components"]
        .as_array()
        .and_then(|cs| {
            cs.iter().find(|c| {
                c["type"]
                    .as_str()
                    .is_some_and(|k| k.eq_ignore_ascii_case("body"))
            })
        })
        .and_then(|c| c["text"].as_str())
        .unwrap_or("");
    json!({
        "name_template": t.template.name.as_str(),
        "body_template": body,
        "idiom": t.template.language,
        "category": t.template.category.as_str(),
    })
}

/// A channel as `information.php?api=connectors` lists it.
pub fn connector(c: &Channel) -> Value {
    json!({
        "connector_id": c.wolkvox_connector_id.clone().unwrap_or_else(|| c.id.to_string()),
        "rp_id": c.phone_number_id,
        "name": c.name,
        "channel": "whatsapp",
    })
}

/// Chasqui's error in Wolkvox's table: token problems and Wolkvox's own limits are `403
/// FORBIDDEN` with the documented texts; anything the table lacks is `400 BAD REQUEST` with a
/// descriptive `msg`; failures of the gateway are `500`.
pub fn from_api_error(e: &ApiError) -> Envelope {
    let forbidden = |msg: &str| Envelope::err(StatusCode::FORBIDDEN, "FORBIDDEN", msg);
    match e {
        ApiError::MissingApiKey => {
            Envelope::err(StatusCode::UNAUTHORIZED, "UNAUTHORIZED", ENTER_TOKEN)
        }
        ApiError::InvalidApiKey | ApiError::InsufficientScope(_) => forbidden(VALIDATE_TOKEN),
        ApiError::Limited(LimitError::Exceeded { kind, .. }) => match kind {
            LimitKind::DailyQuota | LimitKind::WorkspaceDailyQuota | LimitKind::Rate => {
                forbidden(TOKEN_LIMIT)
            }
            LimitKind::Concurrency => forbidden(SIMULTANEOUS),
            LimitKind::MessagingLimit => Envelope::bad_request(e.to_string()),
        },
        ApiError::Validation(problems) => Envelope::bad_request(
            problems
                .iter()
                .map(|p| format!("{}: {}", p.field, p.message))
                .collect::<Vec<_>>()
                .join("; "),
        ),
        ApiError::Refused(p) => Envelope::bad_request(format!("{}: {}", p.code, p.message)),
        ApiError::ProviderUnavailable(_) => {
            Envelope::err(StatusCode::BAD_GATEWAY, "BAD GATEWAY", e.to_string())
        }
        ApiError::Internal(_) | ApiError::Unavailable | ApiError::Limited(LimitError::Store(_)) => {
            Envelope::err(
                StatusCode::INTERNAL_SERVER_ERROR,
                "INTERNAL SERVER ERROR",
                "INTERNAL SERVER ERROR",
            )
        }
        // Nothing was acknowledged: a 503 tells the client to send it again later.
        ApiError::StorageUnavailable(_) | ApiError::Limited(LimitError::StoreUnavailable(_)) => {
            Envelope::err(
                StatusCode::SERVICE_UNAVAILABLE,
                "SERVICE UNAVAILABLE",
                "SERVICE UNAVAILABLE",
            )
        }
        other => Envelope::bad_request(other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chasqui_domain::Problem;
    use std::collections::HashMap;

    #[test]
    fn api_names_route_and_unknown_ones_do_not() {
        assert_eq!(
            Api::parse("send_message_official"),
            Some(Api::SendMessageOfficial)
        );
        assert_eq!(
            Api::parse("create_auth_template"),
            Some(Api::CreateTemplate("AUTHENTICATION"))
        );
        assert_eq!(Api::parse("send_sms"), None);
    }

    #[test]
    fn fields_merge_query_and_body_and_take_numbers_as_text() {
        let q = HashMap::from([
            ("api".to_string(), "list_templates".to_string()),
            ("connector_id".to_string(), "7".to_string()),
        ]);
        let f = fields(&q, b"").unwrap();
        assert_eq!(text(&f, "connector_id").as_deref(), Some("7"));
        assert!(!f.contains_key("api"));
        let f = fields(&q, br#"{"connector_id": 9, "telephone": "573"}"#).unwrap();
        assert_eq!(text(&f, "connector_id").as_deref(), Some("9"));
        assert_eq!(
            fields(&q, b"[1]").unwrap_err().status,
            StatusCode::BAD_REQUEST
        );
        assert_eq!(
            fields(&q, b"{").unwrap_err().status,
            StatusCode::BAD_REQUEST
        );
    }

    #[test]
    fn a_missing_or_blank_required_field_is_the_documented_400() {
        let f = fields(&HashMap::new(), br#"{"connector_id":"1","telephone":"  "}"#).unwrap();
        let e = check_required(Api::SendMessageOfficial, &f).unwrap_err();
        assert_eq!(
            e.body(),
            json!({"code":400,"error":"BAD REQUEST","msg":PARAMS_REQUIRED})
        );
        let f = fields(
            &HashMap::new(),
            br#"{"connector_id":"1","telephone":"9319","message":"it is a message"}"#,
        )
        .unwrap();
        assert!(check_required(Api::SendMessageOfficial, &f).is_ok());
    }

    #[test]
    fn messages_translate() {
        assert_eq!(
            official_message("9319000", "hi"),
            json!({"to":"+9319000","type":"text","text":{"body":"hi"}})
        );
        assert_eq!(
            mobil_message("57", "look", Some("https://e.com/i.jpg"))["image"],
            json!({"link":"https://e.com/i.jpg","caption":"look"})
        );
        let vars = split_vars(Some("var1; var2;var3;"));
        assert_eq!(vars, ["var1", "var2", "var3"]);
        assert!(split_vars(Some("")).is_empty());
        let t = template_message("57", "promo", "es", &vars, Some("https://e.com/i.jpg"));
        assert_eq!(
            t["template"],
            json!({"name":"promo","language":{"code":"es"},"components":[
                {"type":"header","parameters":[{"type":"image","image":{"link":"https://e.com/i.jpg"}}]},
                {"type":"body","parameters":[{"type":"text","text":"var1"},
                    {"type":"text","text":"var2"},{"type":"text","text":"var3"}]}]})
        );
        let bare = template_message("57", "hello", "en_US", &[], None);
        assert!(bare["template"].get("components").is_none());
    }

    #[test]
    fn the_approved_language_wins_and_spanish_among_several() {
        let c = |l: &str, a: bool| (l.to_string(), a);
        assert_eq!(pick_language(&[c("en", true)]).as_deref(), Some("en"));
        assert_eq!(
            pick_language(&[c("en", true), c("es", true), c("es_MX", true)]).as_deref(),
            Some("es")
        );
        assert_eq!(
            pick_language(&[c("en", true), c("es_MX", true)]).as_deref(),
            Some("es_MX")
        );
        assert_eq!(
            pick_language(&[c("es", false), c("pt_BR", true)]).as_deref(),
            Some("pt_BR")
        );
        assert_eq!(pick_language(&[]), None);
    }

    #[test]
    fn template_creation_forces_the_category() {
        let f = fields(
            &HashMap::new(),
            br#"{"connector_id":"1","name":"otp","language":"es","category":"MARKETING",
                "components":[{"type":"BODY","text":"Code {{1}}"}]}"#,
        )
        .unwrap();
        let s = template_submission(&f, "AUTHENTICATION");
        assert_eq!(s["category"], "AUTHENTICATION");
        assert_eq!(s["name"], "otp");
        assert!(s.get("connector_id").is_none());
    }

    #[test]
    fn errors_follow_the_response_code_table() {
        let limited = |kind| ApiError::Limited(LimitError::new(kind, 2, 0, 1, 1));
        let cases = [
            (
                ApiError::MissingApiKey,
                json!({"code":401,"error":"UNAUTHORIZED","msg":ENTER_TOKEN}),
            ),
            (
                ApiError::InvalidApiKey,
                json!({"code":403,"error":"FORBIDDEN","msg":VALIDATE_TOKEN}),
            ),
            (
                limited(LimitKind::DailyQuota),
                json!({"code":403,"error":"FORBIDDEN","msg":TOKEN_LIMIT}),
            ),
            (
                limited(LimitKind::Concurrency),
                json!({"code":403,"error":"FORBIDDEN","msg":SIMULTANEOUS}),
            ),
            (
                ApiError::Refused(Problem::new("to", "window_closed", "closed")),
                json!({"code":400,"error":"BAD REQUEST","msg":"window_closed: closed"}),
            ),
            (
                ApiError::Internal("x".into()),
                json!({"code":500,"error":"INTERNAL SERVER ERROR","msg":"INTERNAL SERVER ERROR"}),
            ),
        ];
        for (e, want) in cases {
            assert_eq!(from_api_error(&e).body(), want);
        }
        assert_eq!(
            Envelope::ok(StatusCode::CREATED, SENT, None).body(),
            json!({"code":201,"error":null,"msg":SENT})
        );
    }
}
