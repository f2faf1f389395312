//! Templates shared by the registry's tests.

use serde_json::{json, Value};

use super::model::{parse_template, Template};

/// The template object of the reference (§5.2).
pub(super) fn reference_template() -> Value {
    json!({"id":"920070352646140","name":"2023_april_promo","language":"en_US","status":"APPROVED",
     "category":"MARKETING","previous_category":"ACCOUNT_UPDATE","parameter_format":"POSITIONAL",
     "components":[
      {"type":"HEADER","format":"TEXT","text":"Fall Sale"},
      {"type":"BODY","text":"Hi {{1}}, use promo code {{2}}","example":{"body_text":[["Mark","FALL25"]]}},
      {"type":"FOOTER","text":"Tap Stop Promotions to opt out"},
      {"type":"BUTTONS","buttons":[{"type":"QUICK_REPLY","text":"Stop promotions"}]}]})
}

/// Parses a test template, panicking when it is not one.
pub(super) fn template(value: Value) -> Template {
    parse_template(&value).unwrap_or_else(|p| panic!("bad test template: {p:#?}"))
}

/// An approved template whose only component is a body with `text`.
pub(super) fn body_template(text: &str, parameter_format: &str) -> Template {
    template(
        json!({"name": "body_only", "language": "en_US", "status": "APPROVED",
        "category": "UTILITY", "parameter_format": parameter_format,
        "components": [{"type": "BODY", "text": text}]}),
    )
}

/// An approved NAMED template: header `News from {{shop}}`, body with `{{first_name}}` twice.
pub(super) fn named_template() -> Template {
    template(
        json!({"name": "named_order", "language": "en_US", "status": "APPROVED",
        "category": "UTILITY", "parameter_format": "NAMED", "components": [
            {"type": "HEADER", "format": "TEXT", "text": "News from {{shop}}"},
            {"type": "BODY", "text": "Hi {{first_name}}, order {{order_id}} is ready, {{first_name}}."}]}),
    )
}

/// An approved template with a `format` header (with `text` for TEXT) and a plain body.
pub(super) fn with_header(format: &str, text: Option<&str>) -> Template {
    let mut header = json!({"type": "HEADER", "format": format});
    if let Some(text) = text {
        header["text"] = json!(text);
    }
    template(
        json!({"name": "with_header", "language": "en_US", "status": "APPROVED",
        "category": "MARKETING", "components": [header, {"type": "BODY", "text": "Hello"}]}),
    )
}

/// An approved authentication template with a copy-code OTP button.
pub(super) fn auth_template() -> Template {
    template(
        json!({"name": "login_code", "language": "en_US", "status": "APPROVED",
        "category": "AUTHENTICATION", "components": [
            {"type": "BODY", "text": "{{1}} is your verification code.", "add_security_recommendation": true},
            {"type": "FOOTER", "code_expiration_minutes": 10},
            {"type": "BUTTONS", "buttons": [{"type": "OTP", "otp_type": "COPY_CODE", "text": "Copy code"}]}]}),
    )
}

/// An approved template with the given buttons after a plain body.
pub(super) fn with_buttons(buttons: Value) -> Template {
    template(
        json!({"name": "with_buttons", "language": "en_US", "status": "APPROVED",
        "category": "MARKETING", "components": [
            {"type": "BODY", "text": "Hello"},
            {"type": "BUTTONS", "buttons": buttons}]}),
    )
}
