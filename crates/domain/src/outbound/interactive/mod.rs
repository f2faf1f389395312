//! `interactive` messages: the shared header, body and footer, and each subtype's action.

mod button;
mod flow;
mod list;
mod order;

use super::check::{join, Checker, Object, Str};
use super::media;

/// `interactive.type` values Chasqui accepts. `button`, `list`, `cta_url`, `flow` and the two
/// order types are checked in detail; the rest only need their objects and are passed through
/// for Meta to judge.
const TYPES: [&str; 11] = [
    "button",
    "list",
    "cta_url",
    "flow",
    "product",
    "product_list",
    "catalog_message",
    "location_request_message",
    "call_permission_request",
    "order_details",
    "order_status",
];

/// `body.text` limit.
const MAX_BODY_CHARS: usize = 1024;
/// `header.text`, `header.sub_text` and `footer.text` limit.
const MAX_HEADER_CHARS: usize = 60;
/// Header types; media headers carry a media object under the type's name.
const HEADER_TYPES: [&str; 4] = ["text", "image", "video", "document"];

/// Checks an `interactive` object.
pub(super) fn check(c: &mut Checker, interactive: &Object, path: &str) {
    c.keys(
        interactive,
        path,
        &["type", "header", "body", "footer", "action"],
        &[],
        "",
    );
    let kind = c.choice(interactive, path, "type", &TYPES, true);

    // Product messages show the product itself, so their body is optional.
    let body_required = !matches!(kind, Some("product" | "product_list"));
    if let Some(body) = c.object(interactive, path, "body", body_required) {
        let body_path = join(path, "body");
        c.keys(body, &body_path, &["text"], &[], "");
        c.string(body, &body_path, "text", Str::required(MAX_BODY_CHARS));
    }
    check_header(c, interactive, path, kind);
    if let Some(footer) = c.object(interactive, path, "footer", false) {
        let footer_path = join(path, "footer");
        c.keys(footer, &footer_path, &["text"], &[], "");
        c.string(
            footer,
            &footer_path,
            "text",
            Str::required(MAX_HEADER_CHARS),
        );
    }

    let Some(action) = c.object(interactive, path, "action", true) else {
        return;
    };
    let action_path = join(path, "action");
    match kind {
        Some("button") => button::check(c, action, &action_path),
        Some("list") => list::check(c, action, &action_path),
        Some("cta_url") => flow::check_cta_url(c, action, &action_path),
        Some("flow") => flow::check_flow(c, action, &action_path),
        Some("order_details") => order::check_details(c, action, &action_path),
        Some("order_status") => order::check_status(c, action, &action_path),
        _ => {}
    }
}

/// Checks `action.name == name` and returns `action.parameters`.
fn named_action<'a>(
    c: &mut Checker,
    action: &'a Object,
    path: &str,
    name: &str,
) -> Option<&'a Object> {
    c.choice(action, path, "name", &[name], true);
    c.object(action, path, "parameters", true)
}

/// The optional header; which types it may have depends on the subtype.
fn check_header(c: &mut Checker, interactive: &Object, path: &str, kind: Option<&str>) {
    let header_path = join(path, "header");
    if kind == Some("product") && interactive.contains_key("header") {
        c.report(
            header_path,
            crate::problem::code::NOT_ALLOWED,
            "is not allowed in product messages",
        );
        return;
    }
    // Lists and product lists only take text headers; a product list requires one.
    let text_only = matches!(kind, Some("list" | "product_list"));
    let required = kind == Some("product_list");
    let Some(header) = c.object(interactive, path, "header", required) else {
        return;
    };
    let types: &[&str] = if text_only {
        &HEADER_TYPES[..1]
    } else {
        &HEADER_TYPES
    };
    let Some(header_type) = c.choice(header, &header_path, "type", types, true) else {
        return;
    };

    let mut allowed = vec!["type", header_type];
    if header_type == "text" {
        allowed.push("sub_text");
    }
    let mut known = HEADER_TYPES.to_vec();
    known.push("sub_text");
    c.keys(
        header,
        &header_path,
        &allowed,
        &known,
        &format!("in a {header_type} header"),
    );
    if header_type == "text" {
        c.string(
            header,
            &header_path,
            "text",
            Str::required(MAX_HEADER_CHARS),
        );
        c.string(
            header,
            &header_path,
            "sub_text",
            Str::optional(MAX_HEADER_CHARS),
        );
    } else {
        media::check_in_header(c, header, &header_path, header_type);
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_support::*;
    use serde_json::{json, Value};

    fn buttons(header: Value) -> Value {
        json!({
            "type": "button",
            "header": header,
            "body": {"text": "Pick"},
            "action": {"buttons": [{"type": "reply", "reply": {"id": "y", "title": "Yes"}}]},
        })
    }

    #[test]
    fn subtype_is_required_and_known() {
        assert_refused(
            "interactive",
            json!({"body": {"text": "x"}, "action": {}}),
            &[("interactive.type", "required")],
        );
        assert_refused(
            "interactive",
            json!({"type": "carousel", "body": {"text": "x"}, "action": {}}),
            &[("interactive.type", "invalid_value")],
        );
    }

    #[test]
    fn body_text_is_required_and_bounded() {
        let mut m = buttons(json!({"type": "text", "text": "h"}));
        m["body"] = json!({"text": "b".repeat(1025)});
        assert_refused(
            "interactive",
            m.clone(),
            &[("interactive.body.text", "too_long")],
        );
        m["body"] = json!({});
        assert_refused(
            "interactive",
            m.clone(),
            &[("interactive.body.text", "required")],
        );
        m.as_object_mut().unwrap().remove("body");
        assert_refused("interactive", m, &[("interactive.body", "required")]);
    }

    #[test]
    fn footer_text_is_bounded_and_unknown_keys_refused() {
        let mut m = buttons(json!({"type": "text", "text": "h"}));
        m["footer"] = json!({"text": "f".repeat(61)});
        m["lang"] = json!("en");
        assert_refused(
            "interactive",
            m,
            &[
                ("interactive.footer.text", "too_long"),
                ("interactive.lang", "unknown_field"),
            ],
        );
    }

    #[test]
    fn headers_of_button_messages() {
        assert_accepted(
            "interactive",
            buttons(json!({"type": "text", "text": "h".repeat(60), "sub_text": "s"})),
        );
        assert_accepted(
            "interactive",
            buttons(json!({"type": "image", "image": {"id": "1"}})),
        );
        assert_accepted(
            "interactive",
            buttons(json!({"type": "video", "video": {"link": "https://x.com/v.mp4"}})),
        );
        assert_accepted(
            "interactive",
            buttons(json!({"type": "document", "document": {"id": "1", "filename": "a.pdf"}})),
        );
        assert_refused(
            "interactive",
            buttons(json!({"type": "text", "text": "h".repeat(61)})),
            &[("interactive.header.text", "too_long")],
        );
        assert_refused(
            "interactive",
            buttons(json!({"type": "image", "image": {"id": "1", "link": "https://x.com/a.png"}})),
            &[("interactive.header.image", "exactly_one_of")],
        );
        assert_refused(
            "interactive",
            buttons(json!({"type": "image", "image": {"id": "1", "caption": "c"}})),
            &[("interactive.header.image.caption", "not_allowed")],
        );
        assert_refused(
            "interactive",
            buttons(json!({"type": "image", "text": "t"})),
            &[
                ("interactive.header.text", "not_allowed"),
                ("interactive.header.image", "required"),
            ],
        );
        assert_refused(
            "interactive",
            buttons(json!({"type": "sticker"})),
            &[("interactive.header.type", "invalid_value")],
        );
    }

    #[test]
    fn pass_through_subtypes_need_body_and_action() {
        assert_accepted(
            "interactive",
            json!({"type": "location_request_message", "body": {"text": "Where are you?"}, "action": {"name": "send_location"}}),
        );
        assert_accepted(
            "interactive",
            json!({"type": "catalog_message", "body": {"text": "Shop"},
                   "action": {"name": "catalog_message", "parameters": {"thumbnail_product_retailer_id": "sku"}}}),
        );
        assert_accepted(
            "interactive",
            json!({"type": "call_permission_request", "body": {"text": "May we call?"}, "action": {"name": "call_permission_request"}}),
        );
        assert_accepted(
            "interactive",
            json!({"type": "product", "action": {"catalog_id": "1", "product_retailer_id": "sku"}}),
        );
        assert_accepted(
            "interactive",
            json!({"type": "product_list", "header": {"type": "text", "text": "Menu"},
                   "action": {"catalog_id": "1", "sections": [{"title": "A", "product_items": [{"product_retailer_id": "sku"}]}]}}),
        );
        assert_refused(
            "interactive",
            json!({"type": "location_request_message"}),
            &[
                ("interactive.body", "required"),
                ("interactive.action", "required"),
            ],
        );
        assert_refused(
            "interactive",
            json!({"type": "product", "header": {"type": "text", "text": "x"}, "action": {}}),
            &[("interactive.header", "not_allowed")],
        );
        assert_refused(
            "interactive",
            json!({"type": "product_list", "header": {"type": "image", "image": {"id": "1"}}, "action": {}}),
            &[("interactive.header.type", "invalid_value")],
        );
        assert_refused(
            "interactive",
            json!({"type": "product_list", "action": {}}),
            &[("interactive.header", "required")],
        );
    }
}
