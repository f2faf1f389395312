//! Button components of templates: `sub_type`, `index` and the parameters a sub type needs.

use std::collections::HashSet;

use serde_json::Value;

use super::super::check::{item, join, Checker, Count, Object, Str};
use crate::problem::code;

/// Button sub types; `flow`, `catalog`, `mpm` and `voice_call` are passed through.
const SUB_TYPES: [&str; 7] = [
    "quick_reply",
    "url",
    "copy_code",
    "flow",
    "catalog",
    "mpm",
    "voice_call",
];
/// A template has at most ten buttons, addressed 0–9.
const MAX_INDEX: u64 = 9;
/// Coupon codes are at most this long.
const MAX_COUPON_CHARS: usize = 15;

/// Checks a button component; `indexes` holds the indexes of earlier button components.
pub(super) fn check(c: &mut Checker, component: &Object, path: &str, indexes: &mut HashSet<u64>) {
    // Meta's own catalog-template example writes `CATALOG`.
    let sub_type = c.choice_ignoring_case(component, path, "sub_type", &SUB_TYPES, true);
    if let Some(index) = check_index(c, component, path) {
        if !indexes.insert(index) {
            let message = format!("another button component already uses index {index}");
            c.report(join(path, "index"), code::DUPLICATE, message);
        }
    }
    match sub_type {
        // Each parameter's `type` names the field that carries its value.
        Some("quick_reply") => check_single_parameter(c, component, path, "payload", Str::REQUIRED),
        Some("url") => check_single_parameter(c, component, path, "text", Str::REQUIRED),
        Some("copy_code") => {
            check_single_parameter(
                c,
                component,
                path,
                "coupon_code",
                Str::required(MAX_COUPON_CHARS),
            );
        }
        _ => {
            c.array(component, path, "parameters", false, Count::ANY);
        }
    }
}

/// `index`: the button's position in the template, an integer or a numeric string (Meta's
/// spec says string; integers are accepted in practice).
fn check_index(c: &mut Checker, component: &Object, path: &str) -> Option<u64> {
    let index = match c.field(component, path, "index", true)? {
        Value::Number(n) => n.as_u64(),
        Value::String(s) if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) => {
            s.parse().ok()
        }
        Value::String(_) => None,
        _ => {
            c.report(
                join(path, "index"),
                code::INVALID_TYPE,
                "must be an integer or a numeric string",
            );
            return None;
        }
    };
    let index = index.filter(|&i| i <= MAX_INDEX);
    c.ensure(
        index.is_some(),
        path,
        "index",
        "must be an integer from 0 to 9",
    );
    index
}

/// `parameters: [{"type": key, key: <string>}]`.
fn check_single_parameter(c: &mut Checker, component: &Object, path: &str, key: &str, rule: Str) {
    let Some(parameters) = c.array(component, path, "parameters", true, Count::exactly(1)) else {
        return;
    };
    let parameters_path = join(path, "parameters");
    for (i, parameter) in parameters.iter().enumerate() {
        let parameter_path = item(&parameters_path, i);
        let Some(parameter) = c.as_object(parameter, &parameter_path) else {
            continue;
        };
        c.choice(parameter, &parameter_path, "type", &[key], true);
        c.string(parameter, &parameter_path, key, rule);
    }
}

#[cfg(test)]
mod tests {
    use super::super::super::test_support::*;
    use serde_json::{json, Value};

    fn with(components: Value) -> Value {
        json!({"name": "t", "language": {"code": "pt_BR"}, "components": components})
    }

    fn button(sub_type: &str, index: Value, parameters: Value) -> Value {
        json!({"type": "button", "sub_type": sub_type, "index": index, "parameters": parameters})
    }

    #[test]
    fn accepts_each_sub_type() {
        assert_accepted(
            "template",
            with(json!([
                button("quick_reply", json!(0), json!([{"type": "payload", "payload": "STOP"}])),
                button("url", json!("1"), json!([{"type": "text", "text": "ABC123"}])),
                button("copy_code", json!(2), json!([{"type": "coupon_code", "coupon_code": "c".repeat(15)}])),
                button("flow", json!(3), json!([{"type": "action", "action": {"flow_token": "t"}}])),
                button("catalog", json!(4), json!([{"type": "action", "action": {"thumbnail_product_retailer_id": "sku"}}])),
                button("mpm", json!(5), json!([{"type": "action", "action": {"sections": []}}])),
                {"type": "button", "sub_type": "voice_call", "index": "9"},
            ])),
        );
    }

    #[test]
    fn sub_type_and_index_are_required() {
        assert_refused(
            "template",
            with(json!([{"type": "button"}])),
            &[
                ("template.components[0].sub_type", "required"),
                ("template.components[0].index", "required"),
            ],
        );
        assert_refused(
            "template",
            with(json!([{"type": "button", "sub_type": "phone_number", "index": 0}])),
            &[("template.components[0].sub_type", "invalid_value")],
        );
    }

    #[test]
    fn index_is_zero_to_nine() {
        for (index, code) in [
            (json!(10), "invalid_value"),
            (json!("10"), "invalid_value"),
            (json!(-1), "invalid_value"),
            (json!(1.5), "invalid_value"),
            (json!("one"), "invalid_value"),
            (json!(""), "invalid_value"),
            (json!(true), "invalid_type"),
        ] {
            assert_refused(
                "template",
                with(json!([{"type": "button", "sub_type": "voice_call", "index": index}])),
                &[("template.components[0].index", code)],
            );
        }
    }

    #[test]
    fn indexes_are_unique() {
        let payload = json!([{"type": "payload", "payload": "p"}]);
        assert_refused(
            "template",
            with(json!([
                button("quick_reply", json!(0), payload.clone()),
                button("quick_reply", json!("0"), payload)
            ])),
            &[("template.components[1].index", "duplicate")],
        );
    }

    #[test]
    fn parameters_per_sub_type() {
        assert_refused(
            "template",
            with(json!([
                button("quick_reply", json!(0), json!([{"type": "text", "payload": ""}])),
                button("url", json!(1), json!([])),
                button("copy_code", json!(2), json!([{"type": "coupon_code", "coupon_code": "c".repeat(16)}])),
                {"type": "button", "sub_type": "url", "index": 3},
            ])),
            &[
                ("template.components[0].parameters[0].type", "invalid_value"),
                ("template.components[0].parameters[0].payload", "empty"),
                ("template.components[1].parameters", "too_few"),
                (
                    "template.components[2].parameters[0].coupon_code",
                    "too_long",
                ),
                ("template.components[3].parameters", "required"),
            ],
        );
    }
}
