//! Property tests: `parse_outbound` never panics, and the text limit holds exactly.

use proptest::prelude::*;
use serde_json::{json, Map, Value};

use super::test_support::{envelope, problems};
use super::{parse_outbound, MessageKind};

/// Keys the validator looks at, so random objects reach deep into its branches.
const KEYS: &[&str] = &[
    "to",
    "type",
    "text",
    "body",
    "image",
    "id",
    "link",
    "caption",
    "filename",
    "voice",
    "interactive",
    "header",
    "footer",
    "action",
    "buttons",
    "reply",
    "title",
    "sections",
    "rows",
    "button",
    "name",
    "parameters",
    "display_text",
    "url",
    "flow_cta",
    "flow_id",
    "template",
    "language",
    "code",
    "policy",
    "components",
    "sub_type",
    "index",
    "payload",
    "coupon_code",
    "currency",
    "amount_1000",
    "fallback_value",
    "date_time",
    "parameter_name",
    "location",
    "latitude",
    "longitude",
    "contacts",
    "formatted_name",
    "birthday",
    "phones",
    "reaction",
    "emoji",
    "message_id",
    "context",
    "messaging_product",
    "recipient_type",
    "description",
];

/// Strings the validator treats specially, plus arbitrary ones.
fn string() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(KEYS).prop_map(str::to_owned),
        prop::sample::select(
            &[
                "button",
                "list",
                "cta_url",
                "flow",
                "reply",
                "header",
                "body",
                "quick_reply",
                "url",
                "copy_code",
                "whatsapp",
                "individual",
                "16505551234",
                "https://x.com/a",
                "en_US",
                "USD",
                "0",
                "-91",
                ""
            ][..]
        )
        .prop_map(str::to_owned),
        ".{0,30}",
    ]
}

/// Arbitrary JSON whose object keys mostly come from `KEYS`.
fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(|f| json!(f)),
        string().prop_map(Value::from),
    ];
    leaf.prop_recursive(5, 64, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::from),
            prop::collection::vec(
                (
                    prop_oneof![prop::sample::select(KEYS).prop_map(str::to_owned), ".{0,8}"],
                    inner
                ),
                0..6
            )
            .prop_map(|entries| Value::Object(entries.into_iter().collect::<Map<_, _>>())),
        ]
    })
}

/// A non-blank text of `len` characters drawn from varied scripts.
fn text_of(len: usize) -> impl Strategy<Value = String> {
    prop::collection::vec(
        prop::sample::select(&['a', 'Z', ' ', 'ñ', '😀', '中', '\n', '9'][..]),
        len - 1,
    )
    .prop_map(|rest| std::iter::once('x').chain(rest).collect())
}

/// Valid messages of every shape, to be mutated one node at a time.
const VALID: &[&str] = &[
    r#"{"to":"16505551234","type":"text","text":{"body":"hi","preview_url":true},"context":{"message_id":"wamid.1"}}"#,
    r#"{"to":"16505551234","type":"document","document":{"link":"https://x.com/a.pdf","caption":"c","filename":"a.pdf"}}"#,
    r#"{"to":"16505551234","type":"audio","audio":{"id":"1","voice":true}}"#,
    r#"{"to":"16505551234","type":"location","location":{"latitude":"1.5","longitude":2,"name":"n","address":"a"}}"#,
    r#"{"to":"16505551234","type":"contacts","contacts":[{"name":{"formatted_name":"A"},"phones":[{"phone":"1"}],"birthday":"2000-01-01"}]}"#,
    r#"{"to":"16505551234","type":"reaction","reaction":{"message_id":"wamid.1","emoji":"👍"}}"#,
    r#"{"to":"16505551234","type":"interactive","interactive":{"type":"button","header":{"type":"image","image":{"id":"1"}},"body":{"text":"b"},"footer":{"text":"f"},"action":{"buttons":[{"type":"reply","reply":{"id":"a","title":"A"}},{"type":"reply","reply":{"id":"b","title":"B"}}]}}}"#,
    r#"{"to":"16505551234","type":"interactive","interactive":{"type":"list","header":{"type":"text","text":"h"},"body":{"text":"b"},"action":{"button":"Open","sections":[{"title":"S","rows":[{"id":"r1","title":"R","description":"d"}]},{"title":"T","rows":[{"id":"r2","title":"R2"}]}]}}}"#,
    r#"{"to":"16505551234","type":"interactive","interactive":{"type":"cta_url","body":{"text":"b"},"action":{"name":"cta_url","parameters":{"display_text":"Go","url":"https://x.com"}}}}"#,
    r#"{"to":"16505551234","type":"interactive","interactive":{"type":"flow","body":{"text":"b"},"action":{"name":"flow","parameters":{"flow_cta":"Go","flow_id":"1"}}}}"#,
    r#"{"to":"16505551234","type":"template","template":{"name":"t","language":{"code":"en_US","policy":"deterministic"},"components":[{"type":"header","parameters":[{"type":"location","location":{"latitude":1,"longitude":2}}]},{"type":"body","parameters":[{"type":"text","parameter_name":"n","text":"x"},{"type":"currency","currency":{"fallback_value":"$1","code":"USD","amount_1000":1000}},{"type":"date_time","date_time":{"fallback_value":"today"}}]},{"type":"button","sub_type":"quick_reply","index":"0","parameters":[{"type":"payload","payload":"p"}]},{"type":"button","sub_type":"copy_code","index":1,"parameters":[{"type":"coupon_code","coupon_code":"C"}]}]}}"#,
];

/// Replaces the node reached by following `choices` (child positions, modulo the number of
/// children) with `new`.
fn replace_at(value: &mut Value, choices: &[usize], new: Value) {
    let child = match (value, choices.split_first()) {
        (Value::Object(map), Some((choice, rest))) if !map.is_empty() => {
            let key = map
                .keys()
                .nth(choice % map.len())
                .cloned()
                .unwrap_or_default();
            map.get_mut(&key).map(|child| (child, rest))
        }
        (Value::Array(items), Some((choice, rest))) if !items.is_empty() => {
            let len = items.len();
            items.get_mut(choice % len).map(|child| (child, rest))
        }
        (value, _) => {
            *value = new;
            return;
        }
    };
    if let Some((child, rest)) = child {
        replace_at(child, rest, new);
    }
}

proptest! {
    #[test]
    fn valid_examples_are_accepted(index in 0..VALID.len()) {
        let value: Value = serde_json::from_str(VALID[index]).unwrap();
        prop_assert!(parse_outbound(&value).is_ok(), "{}", value);
    }

    #[test]
    fn never_panics_when_one_node_of_a_valid_message_is_replaced(
        index in 0..VALID.len(),
        choices in prop::collection::vec(any::<usize>(), 0..8),
        new in json_value(),
    ) {
        let mut value: Value = serde_json::from_str(VALID[index]).unwrap();
        replace_at(&mut value, &choices, new);
        if let Err(problems) = parse_outbound(&value) {
            prop_assert!(!problems.is_empty());
        }
    }

    #[test]
    fn never_panics_on_arbitrary_json(value in json_value()) {
        let _ = parse_outbound(&value);
    }

    #[test]
    fn never_panics_on_any_message_type_with_arbitrary_content(
        kind in prop::sample::select(&MessageKind::ALL[..]),
        content in json_value(),
        to in string(),
    ) {
        let mut message = envelope(kind.as_str(), content);
        message["to"] = Value::from(to);
        match parse_outbound(&message) {
            Ok(ok) => prop_assert_eq!(ok.kind, kind),
            Err(problems) => prop_assert!(!problems.is_empty()),
        }
    }

    #[test]
    fn never_panics_on_arbitrary_strings_in_any_field(key in prop::sample::select(KEYS), value in string()) {
        for kind in MessageKind::ALL {
            let mut message = envelope(kind.as_str(), json!({key: value}));
            message[key] = Value::from(value.clone());
            let _ = parse_outbound(&message);
        }
    }

    #[test]
    fn text_up_to_4096_characters_is_accepted(
        // Short texts, and always some right at the limit.
        body in prop_oneof![(1usize..=4096).prop_flat_map(text_of), (4090usize..=4096).prop_flat_map(text_of)],
    ) {
        prop_assert_eq!(problems(&envelope("text", json!({"body": body}))), vec![]);
    }

    #[test]
    fn text_over_4096_characters_is_refused(body in (4097usize..6000).prop_flat_map(text_of)) {
        prop_assert_eq!(
            problems(&envelope("text", json!({"body": body}))),
            vec![("text.body".to_owned(), "too_long")]
        );
    }
}
