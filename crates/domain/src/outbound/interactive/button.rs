//! Reply-button messages: `action.buttons`.

use std::collections::HashSet;

use super::super::check::{item, join, Checker, Count, Object, Str};

/// Reply buttons per message.
const MAX_BUTTONS: usize = 3;
/// `reply.id` limit.
const MAX_ID_CHARS: usize = 256;
/// `reply.title` limit.
const MAX_TITLE_CHARS: usize = 20;

/// Checks the action of a `button` message.
pub(super) fn check(c: &mut Checker, action: &Object, path: &str) {
    let Some(buttons) = c.array(
        action,
        path,
        "buttons",
        true,
        Count::between(1, MAX_BUTTONS),
    ) else {
        return;
    };
    let list_path = join(path, "buttons");
    let mut ids = HashSet::new();
    let mut titles = HashSet::new();
    for (i, button) in buttons.iter().enumerate() {
        let button_path = item(&list_path, i);
        let Some(button) = c.as_object(button, &button_path) else {
            continue;
        };
        c.choice(button, &button_path, "type", &["reply"], true);
        let Some(reply) = c.object(button, &button_path, "reply", true) else {
            continue;
        };
        let reply_path = join(&button_path, "reply");
        if let Some(id) = c.string(reply, &reply_path, "id", Str::required(MAX_ID_CHARS)) {
            c.ensure(
                id.trim() == id,
                &reply_path,
                "id",
                "must not start or end with spaces",
            );
            c.unique(&mut ids, id, &join(&reply_path, "id"));
        }
        if let Some(title) = c.string(reply, &reply_path, "title", Str::required(MAX_TITLE_CHARS)) {
            c.unique(&mut titles, title, &join(&reply_path, "title"));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::super::test_support::*;
    use serde_json::{json, Value};

    fn with_buttons(buttons: Value) -> Value {
        json!({"type": "button", "body": {"text": "Pick"}, "action": {"buttons": buttons}})
    }

    fn reply(id: &str, title: &str) -> Value {
        json!({"type": "reply", "reply": {"id": id, "title": title}})
    }

    #[test]
    fn accepts_the_reference_example() {
        assert_ok(&message(
            r#"{"messaging_product":"whatsapp","to":"16505551234","type":"interactive","interactive":{
  "type":"button",
  "header":{"type":"text","text":"optional, <=60"},
  "body":{"text":"required, <=1024"},
  "footer":{"text":"optional, <=60"},
  "action":{"buttons":[
    {"type":"reply","reply":{"id":"yes-123","title":"Yes"}},
    {"type":"reply","reply":{"id":"no-123","title":"No"}}]}}}"#,
        ));
    }

    #[test]
    fn one_to_three_buttons() {
        assert_refused(
            "interactive",
            with_buttons(json!([])),
            &[("interactive.action.buttons", "too_few")],
        );
        assert_accepted(
            "interactive",
            with_buttons(json!([reply("a", "A"), reply("b", "B"), reply("c", "C")])),
        );
        assert_refused(
            "interactive",
            with_buttons(json!([
                reply("a", "A"),
                reply("b", "B"),
                reply("c", "C"),
                reply("d", "D")
            ])),
            &[("interactive.action.buttons", "too_many")],
        );
        assert_refused(
            "interactive",
            json!({"type": "button", "body": {"text": "Pick"}, "action": {}}),
            &[("interactive.action.buttons", "required")],
        );
    }

    #[test]
    fn reply_limits() {
        assert_accepted(
            "interactive",
            with_buttons(json!([reply(&"i".repeat(256), &"t".repeat(20))])),
        );
        assert_refused(
            "interactive",
            with_buttons(json!([reply(&"i".repeat(257), &"t".repeat(21))])),
            &[
                ("interactive.action.buttons[0].reply.id", "too_long"),
                ("interactive.action.buttons[0].reply.title", "too_long"),
            ],
        );
        assert_refused(
            "interactive",
            with_buttons(json!([reply("", ""), reply("x ", "B")])),
            &[
                ("interactive.action.buttons[0].reply.id", "empty"),
                ("interactive.action.buttons[0].reply.title", "empty"),
                ("interactive.action.buttons[1].reply.id", "invalid_value"),
            ],
        );
    }

    #[test]
    fn ids_and_titles_are_unique() {
        assert_refused(
            "interactive",
            with_buttons(json!([
                reply("a", "Yes"),
                reply("b", "Yes"),
                reply("a", "No")
            ])),
            &[
                ("interactive.action.buttons[1].reply.title", "duplicate"),
                ("interactive.action.buttons[2].reply.id", "duplicate"),
            ],
        );
    }

    #[test]
    fn buttons_are_reply_objects() {
        assert_refused(
            "interactive",
            with_buttons(
                json!([{"type": "url", "reply": {"id": "a", "title": "A"}}, {"type": "reply"}, "x"]),
            ),
            &[
                ("interactive.action.buttons[0].type", "invalid_value"),
                ("interactive.action.buttons[1].reply", "required"),
                ("interactive.action.buttons[2]", "invalid_type"),
            ],
        );
    }
}
