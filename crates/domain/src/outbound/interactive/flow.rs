//! Call-to-action subtypes: `cta_url` (a URL button) and `flow` (opens a WhatsApp Flow). Both
//! name themselves in `action.name` and carry `action.parameters`.

use super::super::check::{join, Checker, Object, Str};
use super::named_action;

/// `cta_url`'s `display_text` limit.
const MAX_CTA_CHARS: usize = 20;
/// `flow_cta` limit: Meta's flow messages allow 30 characters.
const MAX_FLOW_CTA_CHARS: usize = 30;

/// Checks the action of a `cta_url` message.
pub(super) fn check_cta_url(c: &mut Checker, action: &Object, path: &str) {
    let Some(parameters) = named_action(c, action, path, "cta_url") else {
        return;
    };
    let parameters_path = join(path, "parameters");
    c.string(
        parameters,
        &parameters_path,
        "display_text",
        Str::required(MAX_CTA_CHARS),
    );
    c.url(parameters, &parameters_path, "url", true);
}

/// Checks the action of a `flow` message.
pub(super) fn check_flow(c: &mut Checker, action: &Object, path: &str) {
    let Some(parameters) = named_action(c, action, path, "flow") else {
        return;
    };
    let parameters_path = join(path, "parameters");
    c.string(
        parameters,
        &parameters_path,
        "flow_cta",
        Str::required(MAX_FLOW_CTA_CHARS),
    );
    if let Some(key) = c.exactly_one_of(parameters, &parameters_path, &["flow_id", "flow_name"]) {
        c.string(parameters, &parameters_path, key, Str::REQUIRED);
    }
}

#[cfg(test)]
mod tests {
    use super::super::super::test_support::*;
    use serde_json::{json, Value};

    fn flow(parameters: Value) -> Value {
        json!({"type": "flow", "body": {"text": "Book"}, "action": {"name": "flow", "parameters": parameters}})
    }

    #[test]
    fn accepts_the_cta_url_reference_example() {
        assert_ok(&message(
            r#"{"messaging_product":"whatsapp","to":"16505551234","type":"interactive","interactive":{
  "type":"cta_url",
  "header":{"type":"text","text":"optional"},
  "body":{"text":"Track your order"},
  "footer":{"text":"optional"},
  "action":{"name":"cta_url","parameters":{"display_text":"Track","url":"https://example.com/t/42"}}}}"#,
        ));
    }

    #[test]
    fn cta_url_allows_media_headers() {
        assert_accepted(
            "interactive",
            json!({"type": "cta_url", "header": {"type": "image", "image": {"link": "https://x.com/a.png"}},
                   "body": {"text": "See"}, "action": {"name": "cta_url", "parameters": {"display_text": "Open", "url": "http://x.com"}}}),
        );
    }

    #[test]
    fn cta_url_rules() {
        assert_refused(
            "interactive",
            json!({"type": "cta_url", "body": {"text": "See"},
                   "action": {"name": "url", "parameters": {"display_text": "d".repeat(21), "url": "www.x.com"}}}),
            &[
                ("interactive.action.name", "invalid_value"),
                ("interactive.action.parameters.display_text", "too_long"),
                ("interactive.action.parameters.url", "invalid_url"),
            ],
        );
        assert_refused(
            "interactive",
            json!({"type": "cta_url", "body": {"text": "See"}, "action": {}}),
            &[
                ("interactive.action.name", "required"),
                ("interactive.action.parameters", "required"),
            ],
        );
    }

    #[test]
    fn accepts_flows_by_id_or_name() {
        assert_accepted(
            "interactive",
            flow(
                json!({"flow_message_version": "3", "flow_id": "123", "flow_cta": "Book now",
                        "flow_token": "tok", "mode": "published", "flow_action": "navigate",
                        "flow_action_payload": {"screen": "START", "data": {"x": 1}}}),
            ),
        );
        assert_accepted(
            "interactive",
            flow(json!({"flow_name": "booking", "flow_cta": "Book"})),
        );
    }

    #[test]
    fn flow_cta_takes_30_characters_and_display_text_20() {
        assert_accepted(
            "interactive",
            flow(json!({"flow_id": "1", "flow_cta": "c".repeat(30)})),
        );
        assert_refused(
            "interactive",
            json!({"type": "cta_url", "body": {"text": "Visit"}, "action": {"name": "cta_url",
                "parameters": {"display_text": "d".repeat(21), "url": "https://example.com"}}}),
            &[("interactive.action.parameters.display_text", "too_long")],
        );
    }

    #[test]
    fn flow_rules() {
        assert_refused(
            "interactive",
            flow(json!({"flow_id": "1", "flow_name": "n", "flow_cta": "c".repeat(31)})),
            &[
                ("interactive.action.parameters.flow_cta", "too_long"),
                ("interactive.action.parameters", "exactly_one_of"),
            ],
        );
        assert_refused(
            "interactive",
            flow(json!({"flow_id": ""})),
            &[
                ("interactive.action.parameters.flow_cta", "required"),
                ("interactive.action.parameters.flow_id", "empty"),
            ],
        );
    }
}
