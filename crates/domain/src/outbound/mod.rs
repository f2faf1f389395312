//! Outbound messages: Meta's message object, validated against WhatsApp's own limits.

mod check;
mod contacts;
mod interactive;
mod location;
mod media;
#[cfg(test)]
mod meta_examples;
#[cfg(test)]
mod properties;
mod reaction;
mod template;
#[cfg(test)]
mod test_support;
mod text;

/// Shared with the template registry, whose submissions follow the same rules.
pub(crate) use check::is_http_url;
pub(crate) use template::is_language_code;

use serde::Serialize;
use serde_json::{Map, Value};

use crate::problem::code;
use crate::recipient::{Recipient, UserId};
use crate::Problem;
use check::{Checker, Count, Object, Str};

/// The outbound message types of the Cloud API.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum MessageKind {
    /// `text`
    Text,
    /// `image`
    Image,
    /// `video`
    Video,
    /// `audio`
    Audio,
    /// `document`
    Document,
    /// `sticker`
    Sticker,
    /// `location`
    Location,
    /// `contacts`
    Contacts,
    /// `reaction`
    Reaction,
    /// `interactive`
    Interactive,
    /// `template`
    Template,
}

impl MessageKind {
    /// The wire name, which is also the key of the type's object.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Text => "text",
            Self::Image => "image",
            Self::Video => "video",
            Self::Audio => "audio",
            Self::Document => "document",
            Self::Sticker => "sticker",
            Self::Location => "location",
            Self::Contacts => "contacts",
            Self::Reaction => "reaction",
            Self::Interactive => "interactive",
            Self::Template => "template",
        }
    }

    /// Parses a wire name.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }

    /// Every message type.
    pub const ALL: [MessageKind; 11] = [
        Self::Text,
        Self::Image,
        Self::Video,
        Self::Audio,
        Self::Document,
        Self::Sticker,
        Self::Location,
        Self::Contacts,
        Self::Reaction,
        Self::Interactive,
        Self::Template,
    ];
}

/// A message that passed every check, ready to store and send.
#[derive(Debug, Clone, PartialEq)]
pub struct OutboundMessage {
    /// The parsed recipient: a phone number (`to`) or a BSUID (`recipient`, or `to` holding
    /// one).
    pub recipient: Recipient,
    /// The message type.
    pub kind: MessageKind,
    /// The normalised Meta body without envelope fields: `{"type": .., "<type>": {..}, "context"?: {..}}`.
    /// The provider adds `messaging_product`, `recipient_type`, `to` and `biz_opaque_callback_data`.
    pub body: Value,
}

/// Parses and validates a Cloud API message object (`to`, `type`, the object named by `type`,
/// optional `context`; `messaging_product` tolerated when it is `"whatsapp"`, `recipient_type`
/// when `"individual"`). Returns every problem found, each with its field path, or the message.
pub fn parse_outbound(value: &Value) -> Result<OutboundMessage, Vec<Problem>> {
    let Some(message) = value.as_object() else {
        // The empty path stands for the message itself.
        return Err(vec![Problem::new(
            "",
            code::INVALID_TYPE,
            "the message must be a JSON object",
        )]);
    };
    let mut c = Checker::default();
    let recipient = check_recipient(&mut c, message);
    let type_names = MessageKind::ALL.map(MessageKind::as_str);
    // Meta's Messages object defaults `type` to `text` (one of its own examples leaves it out).
    let kind = if message.contains_key("type") {
        c.choice(message, "", "type", &type_names, true)
            .and_then(MessageKind::parse)
    } else {
        Some(MessageKind::Text)
    };
    check_envelope(&mut c, message, kind);
    let content = kind.and_then(|kind| check_content(&mut c, message, kind));

    match (recipient, kind, content) {
        (Some(recipient), Some(kind), Some(content)) if c.is_clean() => {
            let mut body = Map::new();
            body.insert("type".into(), Value::from(kind.as_str()));
            body.insert(kind.as_str().into(), content.clone());
            if let Some(context) = message.get("context") {
                body.insert("context".into(), context.clone());
            }
            Ok(OutboundMessage {
                recipient,
                kind,
                body: Value::Object(body),
            })
        }
        _ => Err(c.into_problems()),
    }
}

/// Top-level keys Chasqui accepts besides the object named by `type`.
const ENVELOPE_KEYS: [&str; 6] = [
    "to",
    "recipient",
    "type",
    "context",
    "messaging_product",
    "recipient_type",
];

/// `to` (a phone number or a BSUID) or `recipient` (a BSUID, Meta's field for them).
fn check_recipient(c: &mut Checker, message: &Object) -> Option<Recipient> {
    if message.contains_key("recipient") {
        if message.contains_key("to") {
            c.report(
                "recipient",
                code::NOT_ALLOWED,
                "give `to` (a phone number) or `recipient` (a business-scoped user id), not both",
            );
            return None;
        }
        let user = c.string(message, "", "recipient", Str::REQUIRED)?;
        return match UserId::parse(user) {
            Ok(user) => Some(Recipient::User(user)),
            Err(e) => {
                c.report("recipient", code::INVALID_VALUE, e.to_string());
                None
            }
        };
    }
    let to = c.string(message, "", "to", Str::REQUIRED)?;
    match Recipient::parse(to) {
        Ok(recipient) => Some(recipient),
        Err(e) => {
            c.report("to", code::INVALID_PHONE_NUMBER, e.to_string());
            None
        }
    }
}

/// Everything at the top level except `to`, `type` and the type's own object.
fn check_envelope(c: &mut Checker, message: &Object, kind: Option<MessageKind>) {
    for key in message.keys() {
        let key = key.as_str();
        if ENVELOPE_KEYS.contains(&key) || kind.is_some_and(|k| k.as_str() == key) {
            continue;
        }
        if key == "biz_opaque_callback_data" {
            c.report(
                key,
                code::RESERVED,
                "is set by Chasqui, which puts its own message id there",
            );
        } else if MessageKind::parse(key).is_some() {
            // With no valid `type`, that problem already says what is wrong.
            if let Some(kind) = kind {
                let message = format!("is not allowed in a message of type \"{}\"", kind.as_str());
                c.report(key, code::NOT_ALLOWED, message);
            }
        } else {
            c.report(
                key,
                code::UNKNOWN_FIELD,
                "is not a known field of a message",
            );
        }
    }
    c.choice(message, "", "messaging_product", &["whatsapp"], false);
    // Group messages (`recipient_type: group`) are not supported.
    c.choice(message, "", "recipient_type", &["individual"], false);
    if let Some(context) = c.object(message, "", "context", false) {
        c.keys(context, "context", &["message_id"], &[], "");
        c.string(context, "context", "message_id", Str::REQUIRED);
    }
}

/// Checks the object named by `type`, returning it as given.
fn check_content<'a>(c: &mut Checker, message: &'a Object, kind: MessageKind) -> Option<&'a Value> {
    let path = kind.as_str();
    if kind == MessageKind::Contacts {
        let contacts = c.array(
            message,
            "",
            path,
            true,
            Count::between(1, contacts::MAX_CONTACTS),
        )?;
        contacts::check(c, contacts, path);
        return message.get(path);
    }
    let content = c.object(message, "", path, true)?;
    match kind {
        MessageKind::Text => text::check(c, content, path),
        MessageKind::Image
        | MessageKind::Video
        | MessageKind::Audio
        | MessageKind::Document
        | MessageKind::Sticker => media::check_message(c, content, path),
        MessageKind::Location => location::check(c, content, path),
        MessageKind::Reaction => reaction::check(c, content, path),
        MessageKind::Interactive => interactive::check(c, content, path),
        MessageKind::Template => template::check(c, content, path),
        MessageKind::Contacts => {}
    }
    message.get(path)
}

#[cfg(test)]
mod tests {
    use super::test_support::*;
    use super::*;
    use serde_json::json;

    #[test]
    fn body_keeps_type_object_and_context_but_drops_the_envelope() {
        let message = assert_ok(&json!({
            "messaging_product": "whatsapp", "recipient_type": "individual", "to": "+1 650 555 1234",
            "type": "text", "text": {"body": "hi"}, "context": {"message_id": "wamid.X"},
        }));
        assert_eq!(message.recipient.key(), "16505551234");
        assert_eq!(message.kind, MessageKind::Text);
        assert_eq!(
            message.body,
            json!({"type": "text", "text": {"body": "hi"}, "context": {"message_id": "wamid.X"}})
        );
        let minimal =
            assert_ok(&json!({"to": "16505551234", "type": "text", "text": {"body": "hi"}}));
        assert_eq!(
            minimal.body,
            json!({"type": "text", "text": {"body": "hi"}})
        );
    }

    #[test]
    fn kinds_round_trip_their_wire_names() {
        for kind in MessageKind::ALL {
            assert_eq!(MessageKind::parse(kind.as_str()), Some(kind));
            assert_eq!(serde_json::to_value(kind).unwrap(), json!(kind.as_str()));
        }
        assert_eq!(MessageKind::parse("Text"), None);
    }

    #[test]
    fn refuses_a_message_that_is_not_an_object() {
        for value in [json!(null), json!([]), json!("text"), json!(4)] {
            assert_only(&value, &[("", "invalid_type")]);
        }
    }

    #[test]
    fn envelope_problems() {
        assert_only(
            &json!({"type": "text", "text": {"body": "x"}}),
            &[("to", "required")],
        );
        assert_only(
            &json!({"to": 16505551234u64, "type": "text", "text": {"body": "x"}}),
            &[("to", "invalid_type")],
        );
        assert_only(
            &json!({"to": "12", "type": "text", "text": {"body": "x"}}),
            &[("to", "invalid_phone_number")],
        );
        assert_only(
            &json!({"to": "phone", "type": "text", "text": {"body": "x"}}),
            &[("to", "invalid_phone_number")],
        );
        // No `type` is a text message, as Meta's Messages object defaults it.
        let untyped = assert_ok(&json!({"to": "16505551234", "text": {"body": "x"}}));
        assert_eq!(untyped.kind, MessageKind::Text);
        assert_eq!(untyped.body, json!({"type": "text", "text": {"body": "x"}}));
        assert_only(
            &json!({"to": "16505551234", "image": {"link": "https://example.com/a.png"}}),
            &[("text", "required"), ("image", "not_allowed")],
        );
        assert_only(
            &json!({"to": "16505551234", "type": "txt", "text": {"body": "x"}}),
            &[("type", "invalid_value")],
        );
        assert_only(
            &json!({"to": "16505551234", "type": "text"}),
            &[("text", "required")],
        );
        assert_only(
            &json!({"to": "16505551234", "type": "text", "text": "hi"}),
            &[("text", "invalid_type")],
        );
        assert_only(
            &json!({"to": "16505551234", "type": "contacts", "contacts": {}}),
            &[("contacts", "invalid_type")],
        );
    }

    #[test]
    fn envelope_fields_must_have_their_only_values() {
        let mut m = envelope("text", json!({"body": "x"}));
        m["messaging_product"] = json!("sms");
        m["recipient_type"] = json!("group");
        assert_only(
            &m,
            &[
                ("messaging_product", "invalid_value"),
                ("recipient_type", "invalid_value"),
            ],
        );
    }

    #[test]
    fn callback_data_is_reserved_and_unknown_keys_are_refused() {
        let mut m = envelope("text", json!({"body": "x"}));
        m["biz_opaque_callback_data"] = json!("mine");
        m["priority"] = json!("high");
        assert_only(
            &m,
            &[
                ("biz_opaque_callback_data", "reserved"),
                ("priority", "unknown_field"),
            ],
        );
    }

    #[test]
    fn another_types_object_is_not_allowed() {
        let mut m = envelope("text", json!({"body": "x"}));
        m["image"] = json!({"id": "1"});
        assert_only(&m, &[("image", "not_allowed")]);
    }

    #[test]
    fn context_needs_a_message_id() {
        let mut m = envelope("text", json!({"body": "x"}));
        m["context"] = json!({});
        assert_only(&m, &[("context.message_id", "required")]);
        m["context"] = json!({"message_id": ""});
        assert_only(&m, &[("context.message_id", "empty")]);
        m["context"] = json!({"message_id": "wamid.1", "from": "x"});
        assert_only(&m, &[("context.from", "unknown_field")]);
        m["context"] = json!("wamid.1");
        assert_only(&m, &[("context", "invalid_type")]);
    }

    #[test]
    fn reports_every_problem_at_once() {
        let m = json!({
            "to": "not a number",
            "type": "interactive",
            "biz_opaque_callback_data": "x",
            "interactive": {
                "type": "button",
                "body": {"text": ""},
                "footer": {"text": "f".repeat(61)},
                "action": {"buttons": [
                    {"type": "reply", "reply": {"id": "a", "title": "Yes"}},
                    {"type": "reply", "reply": {"id": "a", "title": "This title is far too long"}},
                    {"type": "reply", "reply": {"id": " b", "title": "Yes"}},
                    {"type": "reply", "reply": {"id": "c", "title": "Maybe"}},
                ]},
            },
        });
        assert_only(
            &m,
            &[
                ("to", "invalid_phone_number"),
                ("biz_opaque_callback_data", "reserved"),
                ("interactive.body.text", "empty"),
                ("interactive.footer.text", "too_long"),
                ("interactive.action.buttons", "too_many"),
                ("interactive.action.buttons[1].reply.id", "duplicate"),
                ("interactive.action.buttons[1].reply.title", "too_long"),
                ("interactive.action.buttons[2].reply.id", "invalid_value"),
                ("interactive.action.buttons[2].reply.title", "duplicate"),
            ],
        );
    }

    #[test]
    fn messages_name_the_limit() {
        let problems =
            parse_outbound(&envelope("text", json!({"body": "x".repeat(4097)}))).unwrap_err();
        assert_eq!(problems.len(), 1);
        assert_eq!(problems[0].field, "text.body");
        assert_eq!(problems[0].code, "too_long");
        assert_eq!(problems[0].message, "must be at most 4096 characters");
    }
}
