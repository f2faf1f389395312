//! `template` messages: name, language and the parameters of each component.

mod button;
mod parameters;

use std::collections::HashSet;

use serde_json::Value;

use super::check::{item, join, Checker, Count, Object, Str};
use crate::problem::code;

/// Template names are at most this long.
const MAX_NAME_CHARS: usize = 512;
/// Component types; `limited_time_offer` and `carousel` are passed through.
const COMPONENT_TYPES: [&str; 5] = ["header", "body", "button", "limited_time_offer", "carousel"];

/// Checks a `template` object.
pub(super) fn check(c: &mut Checker, template: &Object, path: &str) {
    if let Some(name) = c.string(template, path, "name", Str::required(MAX_NAME_CHARS)) {
        let ok = name
            .chars()
            .all(|ch| ch.is_ascii_lowercase() || ch.is_ascii_digit() || ch == '_');
        c.ensure(
            ok,
            path,
            "name",
            "must contain only lowercase letters, digits and underscores",
        );
    }
    if let Some(language) = c.object(template, path, "language", true) {
        let language_path = join(path, "language");
        if let Some(code) = c.string(language, &language_path, "code", Str::REQUIRED) {
            let message = "must be a language code such as en, en_US or pt_BR";
            c.ensure(is_language_code(code), &language_path, "code", message);
        }
        c.choice(
            language,
            &language_path,
            "policy",
            &["deterministic"],
            false,
        );
    }
    if let Some(components) = c.array(template, path, "components", false, Count::ANY) {
        check_components(c, components, &join(path, "components"));
    }
}

/// `en`, `en_US`, `pt_BR`, `es_MX`, `zh_CN`...: 2–3 lowercase letters, optionally `_` and a
/// 2–4 letter or digit region.
pub(crate) fn is_language_code(code: &str) -> bool {
    let (language, region) = match code.split_once('_') {
        Some((language, region)) => (language, Some(region)),
        None => (code, None),
    };
    (2..=3).contains(&language.len())
        && language.bytes().all(|b| b.is_ascii_lowercase())
        && region.is_none_or(|r| {
            (2..=4).contains(&r.len()) && r.bytes().all(|b| b.is_ascii_alphanumeric())
        })
}

/// Checks every component, and what must hold between them.
fn check_components(c: &mut Checker, components: &[Value], path: &str) {
    let typed: Vec<(String, &Object, Option<&str>)> = components
        .iter()
        .enumerate()
        .filter_map(|(i, component)| {
            let component_path = item(path, i);
            let component = c.as_object(component, &component_path)?;
            let kind = c.choice(component, &component_path, "type", &COMPONENT_TYPES, true);
            Some((component_path, component, kind))
        })
        .collect();
    // Long body parameters are only allowed when the template is nothing but a body.
    let body_only = typed.iter().all(|(_, _, kind)| *kind == Some("body"));
    let body_text_max = if body_only {
        parameters::MAX_BODY_ONLY_TEXT_CHARS
    } else {
        parameters::MAX_BODY_TEXT_CHARS
    };

    let mut sections = HashSet::new();
    let mut button_indexes = HashSet::new();
    for (component_path, component, kind) in &typed {
        if let Some(kind @ ("header" | "body")) = kind {
            if !sections.insert(*kind) {
                let message = format!("only one {kind} component is allowed");
                c.report(join(component_path, "type"), code::DUPLICATE, message);
            }
        }
        match kind {
            Some("header") => {
                let count = Count::exactly(1);
                if let Some(list) = c.array(component, component_path, "parameters", true, count) {
                    let list_path = join(component_path, "parameters");
                    parameters::check_header(c, list, &list_path);
                }
            }
            Some("body") => {
                let count = Count::ANY;
                if let Some(list) = c.array(component, component_path, "parameters", false, count) {
                    let list_path = join(component_path, "parameters");
                    parameters::check_body(c, list, &list_path, body_text_max);
                }
            }
            Some("button") => button::check(c, component, component_path, &mut button_indexes),
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_support::*;
    use super::is_language_code;
    use serde_json::{json, Value};

    fn template(components: Value) -> Value {
        json!({"name": "order_update", "language": {"code": "en_US"}, "components": components})
    }

    #[test]
    fn accepts_the_reference_example() {
        assert_ok(&message(
            r#"{"messaging_product":"whatsapp","recipient_type":"individual","to":"16505551234","type":"template",
 "template":{
  "name":"order_update",
  "language":{"code":"en_US","policy":"deterministic"},
  "components":[
   {"type":"header","parameters":[{"type":"image","image":{"link":"https://.../banner.jpg"}}]},
   {"type":"body","parameters":[
      {"type":"text","text":"Jane"},
      {"type":"currency","currency":{"fallback_value":"$100.99","code":"USD","amount_1000":100990}},
      {"type":"date_time","date_time":{"fallback_value":"February 25, 1977"}}]},
   {"type":"button","sub_type":"quick_reply","index":"0","parameters":[{"type":"payload","payload":"STOP_PROMOS"}]},
   {"type":"button","sub_type":"url","index":"1","parameters":[{"type":"text","text":"ABC123"}]},
   {"type":"button","sub_type":"copy_code","index":"2","parameters":[{"type":"coupon_code","coupon_code":"FALL25"}]}]}}"#,
        ));
    }

    #[test]
    fn accepts_a_template_without_variables() {
        assert_accepted(
            "template",
            json!({"name": "hello_world", "language": {"code": "en_US"}}),
        );
    }

    #[test]
    fn name_rules() {
        assert_refused(
            "template",
            json!({"language": {"code": "en"}}),
            &[("template.name", "required")],
        );
        assert_refused(
            "template",
            json!({"name": "Order-Update", "language": {"code": "en"}}),
            &[("template.name", "invalid_value")],
        );
        assert_refused(
            "template",
            json!({"name": "a".repeat(513), "language": {"code": "en"}}),
            &[("template.name", "too_long")],
        );
    }

    #[test]
    fn language_rules() {
        for code in ["en", "en_US", "pt_BR", "es_MX", "fil", "zh_HK", "es_419"] {
            assert!(is_language_code(code), "{code}");
        }
        for code in [
            "", "e", "EN", "en-US", "english", "en_", "en_U", "en_USAAA", "en_US_x",
        ] {
            assert!(!is_language_code(code), "{code}");
        }
        assert_refused(
            "template",
            json!({"name": "a"}),
            &[("template.language", "required")],
        );
        assert_refused(
            "template",
            json!({"name": "a", "language": {"code": "en-US", "policy": "fallback"}}),
            &[
                ("template.language.code", "invalid_value"),
                ("template.language.policy", "invalid_value"),
            ],
        );
        assert_refused(
            "template",
            json!({"name": "a", "language": "en"}),
            &[("template.language", "invalid_type")],
        );
    }

    #[test]
    fn component_types() {
        assert_refused(
            "template",
            template(json!([{"type": "footer"}, {"parameters": []}, "body"])),
            &[
                ("template.components[0].type", "invalid_value"),
                ("template.components[1].type", "required"),
                ("template.components[2]", "invalid_type"),
            ],
        );
        assert_refused(
            "template",
            template(json!({})),
            &[("template.components", "invalid_type")],
        );
        assert_accepted(
            "template",
            template(json!([
                {"type": "limited_time_offer", "parameters": [{"type": "limited_time_offer", "limited_time_offer": {"expiration_time_ms": 1_700_000_000_000u64}}]},
                {"type": "carousel", "cards": [{"card_index": 0, "components": []}]},
            ])),
        );
    }

    #[test]
    fn one_header_and_one_body_at_most() {
        let body = json!({"type": "body", "parameters": [{"type": "text", "text": "x"}]});
        assert_refused(
            "template",
            template(json!([body.clone(), body])),
            &[("template.components[1].type", "duplicate")],
        );
    }

    #[test]
    fn header_takes_exactly_one_parameter() {
        assert_refused(
            "template",
            template(json!([{"type": "header", "parameters": []}])),
            &[("template.components[0].parameters", "too_few")],
        );
        assert_refused(
            "template",
            template(
                json!([{"type": "header", "parameters": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]}]),
            ),
            &[("template.components[0].parameters", "too_many")],
        );
        assert_refused(
            "template",
            template(json!([{"type": "header"}])),
            &[("template.components[0].parameters", "required")],
        );
    }
}
