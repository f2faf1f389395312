//! Helpers shared by the outbound tests.

use serde_json::{json, Value};

use super::{parse_outbound, OutboundMessage};

/// A full message of `kind` with `content` as its object.
pub(super) fn envelope(kind: &str, content: Value) -> Value {
    json!({"messaging_product": "whatsapp", "to": "16505551234", "type": kind, kind: content})
}

/// Parses `json` (a message as text), panicking on bad JSON.
pub(super) fn message(json: &str) -> Value {
    serde_json::from_str(json).unwrap_or_else(|e| panic!("bad test JSON: {e}\n{json}"))
}

/// The (field, code) pairs of every problem, or none when the message is accepted.
pub(super) fn problems(value: &Value) -> Vec<(String, &'static str)> {
    match parse_outbound(value) {
        Ok(_) => Vec::new(),
        Err(problems) => problems.into_iter().map(|p| (p.field, p.code)).collect(),
    }
}

/// Asserts the message is accepted and returns it.
pub(super) fn assert_ok(value: &Value) -> OutboundMessage {
    match parse_outbound(value) {
        Ok(message) => message,
        Err(problems) => panic!("expected acceptance, got {problems:#?}\nfor {value}"),
    }
}

/// Asserts the message is refused with exactly these problems. Order is ignored: unknown keys
/// are reported in the JSON map's order, which serde_json's `preserve_order` feature changes.
pub(super) fn assert_only(value: &Value, expected: &[(&str, &str)]) {
    let got = problems(value);
    let mut got: Vec<(&str, &str)> = got.iter().map(|(f, c)| (f.as_str(), *c)).collect();
    let mut expected = expected.to_vec();
    got.sort_unstable();
    expected.sort_unstable();
    assert_eq!(got, expected, "for {value}");
}

/// Asserts `content` as the object of a `kind` message is refused with exactly these problems.
pub(super) fn assert_refused(kind: &str, content: Value, expected: &[(&str, &str)]) {
    assert_only(&envelope(kind, content), expected);
}

/// Asserts `content` as the object of a `kind` message is accepted.
pub(super) fn assert_accepted(kind: &str, content: Value) {
    assert_ok(&envelope(kind, content));
}
