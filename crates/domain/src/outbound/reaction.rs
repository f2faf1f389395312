//! `reaction` messages.

use super::check::{Checker, Object, Str};

/// An emoji is one grapheme, but flags, skin tones and ZWJ sequences span several characters;
/// ten covers them without a grapheme library.
const MAX_EMOJI_CHARS: usize = 10;

/// Checks a `reaction` object.
pub(super) fn check(c: &mut Checker, reaction: &Object, path: &str) {
    c.keys(reaction, path, &["message_id", "emoji"], &[], "");
    c.string(reaction, path, "message_id", Str::REQUIRED);
    // The empty emoji removes a reaction.
    c.string(
        reaction,
        path,
        "emoji",
        Str::required(MAX_EMOJI_CHARS).or_empty(),
    );
}

#[cfg(test)]
mod tests {
    use super::super::test_support::*;
    use serde_json::json;

    #[test]
    fn accepts_the_reference_example_and_a_removal() {
        assert_ok(&message(
            r#"{"messaging_product":"whatsapp","to":"16505551234","type":"reaction",
 "reaction":{"message_id":"wamid.HBgLM...","emoji":"😀"}}"#,
        ));
        assert_accepted("reaction", json!({"message_id": "wamid.1", "emoji": ""}));
        assert_accepted("reaction", json!({"message_id": "wamid.1", "emoji": "👩‍👩‍👧‍👦"}));
        assert_accepted("reaction", json!({"message_id": "wamid.1", "emoji": "👍🏽"}));
    }

    #[test]
    fn needs_a_message_id_and_one_emoji() {
        assert_refused(
            "reaction",
            json!({}),
            &[
                ("reaction.message_id", "required"),
                ("reaction.emoji", "required"),
            ],
        );
        assert_refused(
            "reaction",
            json!({"message_id": "", "emoji": "this is not an emoji"}),
            &[
                ("reaction.message_id", "empty"),
                ("reaction.emoji", "too_long"),
            ],
        );
    }
}
