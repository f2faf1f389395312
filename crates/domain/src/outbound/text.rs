//! `text` messages.

use super::check::{Checker, Object, Str};

/// WhatsApp's limit on `text.body`.
pub(super) const MAX_BODY_CHARS: usize = 4096;

/// Checks a `text` object.
pub(super) fn check(c: &mut Checker, text: &Object, path: &str) {
    c.keys(text, path, &["body", "preview_url"], &[], "");
    c.string(text, path, "body", Str::required(MAX_BODY_CHARS));
    c.boolean(text, path, "preview_url");
}

#[cfg(test)]
mod tests {
    use super::super::test_support::*;
    use serde_json::json;

    #[test]
    fn accepts_the_reference_example() {
        assert_ok(&message(
            r#"{"messaging_product":"whatsapp","recipient_type":"individual","to":"16505551234",
 "type":"text","text":{"body":"Hello https://example.com","preview_url":true}}"#,
        ));
    }

    #[test]
    fn body_is_required_non_empty_and_bounded_in_characters() {
        assert_refused("text", json!({}), &[("text.body", "required")]);
        assert_refused("text", json!({"body": null}), &[("text.body", "required")]);
        assert_refused("text", json!({"body": ""}), &[("text.body", "empty")]);
        assert_refused("text", json!({"body": " \n "}), &[("text.body", "empty")]);
        assert_refused("text", json!({"body": 5}), &[("text.body", "invalid_type")]);
        // 4096 multi-byte characters are fine: the limit is in characters, not bytes.
        assert_accepted("text", json!({"body": "ñ".repeat(4096)}));
        assert_accepted("text", json!({"body": "😀".repeat(4096)}));
        assert_refused(
            "text",
            json!({"body": "ñ".repeat(4097)}),
            &[("text.body", "too_long")],
        );
    }

    #[test]
    fn preview_url_is_a_boolean_and_nothing_else_is_known() {
        assert_refused(
            "text",
            json!({"body": "x", "preview_url": "yes", "caption": "c"}),
            &[
                ("text.preview_url", "invalid_type"),
                ("text.caption", "unknown_field"),
            ],
        );
    }
}
