//! Every request example of Meta's send operation (`POST /{Phone-Number-ID}/messages` in Meta's
//! OpenAPI file, copied to `fixtures/meta-send-examples/`), placeholders filled in, is accepted,
//! or refused for the reason named here.

use serde_json::{Map, Value};

use super::test_support::problems;
use super::{parse_outbound, MessageKind};

const EXAMPLES: &str = include_str!("../../../../fixtures/meta-send-examples/examples.json");

/// An example Chasqui refuses: its name, why, and the (field, code) problems it gets.
type Refused = (
    &'static str,
    &'static str,
    &'static [(&'static str, &'static str)],
);

/// Examples Chasqui refuses, and why.
const REFUSED: &[Refused] = &[
    (
        "Send Reply to List Message",
        "it leaves `type` out but carries `interactive`: a message without `type` is a text \
         message, as Meta's Messages object defaults it, so `text` is missing",
        &[("text", "required"), ("interactive", "not_allowed")],
    ),
    (
        "Send Sample Issue Resolution Template",
        "its quick-reply buttons carry `{\"type\": \"text\", \"text\": true}`, where Meta's \
         own ButtonParameterObject needs a `payload` string",
        &[
            ("template.components[1].parameters[0].type", "invalid_value"),
            ("template.components[1].parameters[0].payload", "required"),
            ("template.components[2].parameters[0].type", "invalid_value"),
            ("template.components[2].parameters[0].payload", "required"),
        ],
    ),
    (
        "Send typing indicator and read receipt",
        "it is not a message but a read receipt for one: `POST /v1/messages/{id}/read`",
        &[
            ("to", "required"),
            ("text", "required"),
            ("message_id", "unknown_field"),
            ("status", "unknown_field"),
            ("typing_indicator", "unknown_field"),
        ],
    ),
];

/// A value for a `<PLACEHOLDER>` or `{{Placeholder}}` string, by the key that holds it.
fn fill(key: &str, value: &str) -> Value {
    let placeholder = value.contains('<') && value.contains('>')
        || value.contains("{{")
        || value.starts_with("http(s)://")
        // Named placeholders; Meta's `reference_id` one is longer than the 35 characters
        // Meta's payments guide allows.
        || ["template-name", "language-and-locale-code", "unique-reference-id-from-order-details-msg"]
            .contains(&value);
    if !placeholder {
        return Value::from(value);
    }
    // Distinct placeholders stay distinct (list rows need unique ids), and short enough for
    // the tightest limit they meet (a button title's 20 characters).
    let named: String = value
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '_')
        .collect::<String>()
        .to_lowercase();
    Value::from(match key {
        "to" => "+5215512345678".to_string(),
        "link" => "https://example.com/media/file".to_string(),
        "message_id" => "wamid.HBgLMTY1MDUwNzY1MjAVAgARGBI5QTNDQTVCM0Q0Q0Q2RTY3RTcA".to_string(),
        "type" => "text".to_string(),
        "code" => "en_US".to_string(),
        "reference_id" => "order-2026-0001".to_string(),
        "name" => "order_update".to_string(),
        "id" | "flow_id" | "product_retailer_id" => named,
        _ => named.chars().take(20).collect(),
    })
}

fn filled(value: &Value, key: &str) -> Value {
    match value {
        Value::String(s) => fill(key, s),
        Value::Array(items) => Value::Array(items.iter().map(|v| filled(v, key)).collect()),
        Value::Object(obj) => Value::Object(
            obj.iter()
                .map(|(k, v)| (k.clone(), filled(v, k)))
                .collect::<Map<_, _>>(),
        ),
        other => other.clone(),
    }
}

#[test]
fn every_send_example_in_metas_openapi_file_is_accepted_or_refused_for_a_named_reason() {
    let examples: Map<String, Value> = serde_json::from_str(EXAMPLES).expect("examples.json");
    assert!(examples.len() >= 50, "{} examples", examples.len());
    let mut kinds = std::collections::HashSet::new();
    for (name, example) in &examples {
        let message = filled(example, "");
        match REFUSED.iter().find(|(n, _, _)| n == name) {
            Some((_, why, expected)) => {
                let mut got = problems(&message);
                let mut expected: Vec<(String, &str)> =
                    expected.iter().map(|(f, c)| (f.to_string(), *c)).collect();
                got.sort();
                expected.sort();
                assert_eq!(got, expected, "{name} is refused because {why}");
            }
            None => match parse_outbound(&message) {
                Ok(parsed) => {
                    kinds.insert(parsed.kind);
                }
                Err(problems) => {
                    panic!("Meta's example {name:?} is refused: {problems:?}\n{message}")
                }
            },
        }
    }
    // The examples cover every message type.
    for kind in MessageKind::ALL {
        assert!(kinds.contains(&kind), "no accepted example of {kind:?}");
    }
}
