//! Header and body parameters of template components.

use serde_json::Value;

use super::super::check::{item, join, Checker, Object, Str};
use super::super::{location, media};
use crate::problem::code;

/// Header `text` parameter limit.
const MAX_HEADER_TEXT_CHARS: usize = 60;
/// Body `text` parameter limit when the template has other components.
pub(super) const MAX_BODY_TEXT_CHARS: usize = 1024;
/// Body `text` parameter limit when the template is only a body.
pub(super) const MAX_BODY_ONLY_TEXT_CHARS: usize = 32768;
/// `parameter_name` limit (named-parameter templates).
const MAX_PARAMETER_NAME_CHARS: usize = 20;

/// Parameter types a header accepts.
const HEADER_TYPES: [&str; 5] = ["text", "image", "video", "document", "location"];
/// Parameter types a body accepts.
const BODY_TYPES: [&str; 3] = ["text", "currency", "date_time"];

/// Checks the parameters of a header component.
pub(super) fn check_header(c: &mut Checker, parameters: &[Value], path: &str) {
    check(c, parameters, path, &HEADER_TYPES, MAX_HEADER_TEXT_CHARS);
}

/// Checks the parameters of a body component; text ones may be `text_max` characters long.
pub(super) fn check_body(c: &mut Checker, parameters: &[Value], path: &str, text_max: usize) {
    check(c, parameters, path, &BODY_TYPES, text_max);
}

/// Checks each parameter, and that text parameters are all named or all positional.
fn check(c: &mut Checker, parameters: &[Value], path: &str, types: &[&str], text_max: usize) {
    let (mut named, mut positional) = (0, 0);
    for (i, parameter) in parameters.iter().enumerate() {
        let parameter_path = item(path, i);
        let Some(parameter) = c.as_object(parameter, &parameter_path) else {
            continue;
        };
        check_parameter_name(c, parameter, &parameter_path);
        let Some(kind) = c.choice(parameter, &parameter_path, "type", types, true) else {
            continue;
        };
        match kind {
            "text" => {
                c.string(parameter, &parameter_path, "text", Str::required(text_max));
                if parameter.contains_key("parameter_name") {
                    named += 1;
                } else {
                    positional += 1;
                }
            }
            "currency" => check_currency(c, parameter, &parameter_path),
            "date_time" => {
                if let Some(date_time) = c.object(parameter, &parameter_path, "date_time", true) {
                    c.string(
                        date_time,
                        &join(&parameter_path, "date_time"),
                        "fallback_value",
                        Str::REQUIRED,
                    );
                }
            }
            "location" => {
                if let Some(place) = c.object(parameter, &parameter_path, "location", true) {
                    location::check(c, place, &join(&parameter_path, "location"));
                }
            }
            "image" | "video" | "document" => {
                media::check_in_header(c, parameter, &parameter_path, kind);
            }
            _ => {}
        }
    }
    if named > 0 && positional > 0 {
        let message = "mixes named and positional text parameters: give every text parameter a parameter_name, or none";
        c.report(path, code::MISMATCH, message);
    }
}

/// `parameter_name` of named-parameter templates: lowercase letters and underscores.
fn check_parameter_name(c: &mut Checker, parameter: &Object, path: &str) {
    let rule = Str::optional(MAX_PARAMETER_NAME_CHARS);
    if let Some(name) = c.string(parameter, path, "parameter_name", rule) {
        let ok = !name.is_empty() && name.bytes().all(|b| b.is_ascii_lowercase() || b == b'_');
        c.ensure(
            ok,
            path,
            "parameter_name",
            "must be lowercase letters and underscores only",
        );
    }
}

/// `{"fallback_value", "code" (ISO 4217), "amount_1000" (amount × 1000, an integer)}`.
fn check_currency(c: &mut Checker, parameter: &Object, path: &str) {
    let Some(currency) = c.object(parameter, path, "currency", true) else {
        return;
    };
    let currency_path = join(path, "currency");
    c.string(currency, &currency_path, "fallback_value", Str::REQUIRED);
    if let Some(iso) = c.string(currency, &currency_path, "code", Str::REQUIRED) {
        let ok = iso.len() == 3 && iso.bytes().all(|b| b.is_ascii_uppercase());
        c.ensure(
            ok,
            &currency_path,
            "code",
            "must be an ISO 4217 code of three uppercase letters, e.g. USD",
        );
    }
    c.integer(currency, &currency_path, "amount_1000", true);
}

#[cfg(test)]
mod tests {
    use super::super::super::test_support::*;
    use serde_json::{json, Value};

    fn with(components: Value) -> Value {
        json!({"name": "t", "language": {"code": "es_MX"}, "components": components})
    }

    fn body(parameters: Value) -> Value {
        json!({"type": "body", "parameters": parameters})
    }

    fn header(parameter: Value) -> Value {
        json!({"type": "header", "parameters": [parameter]})
    }

    #[test]
    fn header_parameter_types() {
        for parameter in [
            json!({"type": "text", "text": "h".repeat(60)}),
            json!({"type": "image", "image": {"id": "1"}}),
            json!({"type": "video", "video": {"link": "https://x.com/v.mp4"}}),
            json!({"type": "document", "document": {"link": "https://x.com/a.pdf", "filename": "a.pdf"}}),
            json!({"type": "location", "location": {"latitude": "1.5", "longitude": 2, "name": "HQ", "address": "Street"}}),
        ] {
            assert_accepted("template", with(json!([header(parameter)])));
        }
    }

    #[test]
    fn header_parameter_refusals() {
        let cases = [
            (
                json!({"type": "text", "text": "h".repeat(61)}),
                "template.components[0].parameters[0].text",
                "too_long",
            ),
            (
                json!({"type": "image", "image": {}}),
                "template.components[0].parameters[0].image",
                "exactly_one_of",
            ),
            (
                json!({"type": "image", "image": {"id": "1", "caption": "c"}}),
                "template.components[0].parameters[0].image.caption",
                "not_allowed",
            ),
            (
                json!({"type": "video"}),
                "template.components[0].parameters[0].video",
                "required",
            ),
            (
                json!({"type": "location", "location": {"latitude": 1}}),
                "template.components[0].parameters[0].location.longitude",
                "required",
            ),
            (
                json!({"type": "currency"}),
                "template.components[0].parameters[0].type",
                "invalid_value",
            ),
            (
                json!({"text": "x"}),
                "template.components[0].parameters[0].type",
                "required",
            ),
        ];
        for (parameter, field, code) in cases {
            assert_refused(
                "template",
                with(json!([header(parameter)])),
                &[(field, code)],
            );
        }
    }

    #[test]
    fn body_text_is_long_only_in_body_only_templates() {
        let long = json!([{"type": "text", "text": "x".repeat(32768)}]);
        assert_accepted("template", with(json!([body(long.clone())])));
        assert_refused(
            "template",
            with(json!([body(
                json!([{"type": "text", "text": "x".repeat(32769)}])
            )])),
            &[("template.components[0].parameters[0].text", "too_long")],
        );
        let with_header = with(json!([
            header(json!({"type": "text", "text": "h"})),
            body(long)
        ]));
        assert_refused(
            "template",
            with_header,
            &[("template.components[1].parameters[0].text", "too_long")],
        );
        let quick_reply = json!({"type": "button", "sub_type": "quick_reply", "index": 0, "parameters": [{"type": "payload", "payload": "p"}]});
        assert_accepted(
            "template",
            with(json!([
                body(json!([{"type": "text", "text": "x".repeat(1024)}])),
                quick_reply.clone()
            ])),
        );
        assert_refused(
            "template",
            with(json!([
                body(json!([{"type": "text", "text": "x".repeat(1025)}])),
                quick_reply
            ])),
            &[("template.components[0].parameters[0].text", "too_long")],
        );
    }

    #[test]
    fn body_parameter_refusals() {
        assert_refused(
            "template",
            with(json!([body(json!([
                {"type": "text", "text": ""},
                {"type": "currency", "currency": {"fallback_value": "", "code": "usd", "amount_1000": 1.5}},
                {"type": "currency", "currency": {}},
                {"type": "date_time", "date_time": {}},
                {"type": "image", "image": {"id": "1"}},
                "x",
            ]))])),
            &[
                ("template.components[0].parameters[0].text", "empty"),
                (
                    "template.components[0].parameters[1].currency.fallback_value",
                    "empty",
                ),
                (
                    "template.components[0].parameters[1].currency.code",
                    "invalid_value",
                ),
                (
                    "template.components[0].parameters[1].currency.amount_1000",
                    "invalid_type",
                ),
                (
                    "template.components[0].parameters[2].currency.fallback_value",
                    "required",
                ),
                (
                    "template.components[0].parameters[2].currency.code",
                    "required",
                ),
                (
                    "template.components[0].parameters[2].currency.amount_1000",
                    "required",
                ),
                (
                    "template.components[0].parameters[3].date_time.fallback_value",
                    "required",
                ),
                ("template.components[0].parameters[4].type", "invalid_value"),
                ("template.components[0].parameters[5]", "invalid_type"),
            ],
        );
    }

    #[test]
    fn named_parameters() {
        assert_accepted(
            "template",
            with(json!([body(json!([
                {"type": "text", "parameter_name": "first_name", "text": "Jane"},
                {"type": "text", "parameter_name": "order_id", "text": "42"},
            ]))])),
        );
        assert_refused(
            "template",
            with(json!([body(json!([
                {"type": "text", "parameter_name": "first_name", "text": "Jane"},
                {"type": "text", "text": "42"},
            ]))])),
            &[("template.components[0].parameters", "mismatch")],
        );
        assert_refused(
            "template",
            with(json!([body(json!([
                {"type": "text", "parameter_name": "First-Name", "text": "Jane"},
                {"type": "text", "parameter_name": "a_very_long_parameter_name", "text": "42"},
            ]))])),
            &[
                (
                    "template.components[0].parameters[0].parameter_name",
                    "invalid_value",
                ),
                (
                    "template.components[0].parameters[1].parameter_name",
                    "too_long",
                ),
            ],
        );
    }
}
