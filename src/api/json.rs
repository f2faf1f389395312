//! Request JSON, read strictly: a key repeated in one object, or the NUL character (U+0000) in
//! any string, is refused instead of being resolved silently.
//!
//! `serde_json::Value` keeps the last of repeated keys, while other parsers (a proxy, a logging
//! gateway, the client's own library) may keep the first: the same bytes would then mean two
//! different messages. NUL is the one character PostgreSQL `text` cannot hold, and it has no
//! meaning in a WhatsApp message, so it is refused on every back end alike.

use std::cell::RefCell;
use std::fmt;

use serde::de::{self, DeserializeSeed, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Number, Value};

/// Most NUL-holding fields reported in one answer.
const MAX_NUL_FIELDS: usize = 20;

/// Why a request body is not acceptable JSON.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JsonError {
    /// Not JSON at all: syntax, a wrong token, trailing characters, too deep.
    #[error("{0}")]
    Syntax(String),
    /// An object names the same key twice.
    #[error("the key \"{key}\" appears more than once at `{path}`")]
    DuplicateKey {
        /// Where the repeated key is, as a field path (`text.body`, `items[2].id`).
        path: String,
        /// The key.
        key: String,
    },
    /// Strings holding the NUL character: the field paths (keys holding it are named too).
    #[error("the NUL character (U+0000) is not allowed (in {})", .0.join(", "))]
    Nul(Vec<String>),
}

/// Parses `bytes` into a `Value`, refusing repeated keys at any depth and NUL in any string.
pub fn parse(bytes: &[u8]) -> Result<Value, JsonError> {
    let state = RefCell::new(State::default());
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let parsed = Seed {
        parent: None,
        state: &state,
    }
    .deserialize(&mut de)
    .and_then(|v| de.end().map(|()| v));
    let state = state.into_inner();
    match (parsed, state.duplicate) {
        (_, Some((path, key))) => Err(JsonError::DuplicateKey { path, key }),
        (Err(e), None) => Err(JsonError::Syntax(e.to_string())),
        // Reported only for otherwise valid JSON, so a syntax error keeps its own answer.
        (Ok(_), None) if !state.nul.is_empty() => Err(JsonError::Nul(state.nul)),
        (Ok(v), None) => Ok(v),
    }
}

/// What the walk found besides the value.
#[derive(Default)]
struct State {
    duplicate: Option<(String, String)>,
    nul: Vec<String>,
}

impl State {
    fn nul_at(&mut self, node: Option<&Node<'_>>) {
        if self.nul.len() < MAX_NUL_FIELDS {
            self.nul.push(path_of(node));
        }
    }
}

/// One step of the path from the root to a value; built on the stack, so the walk allocates
/// no path unless something is refused.
#[derive(Clone, Copy)]
enum Step<'a> {
    Key(&'a str),
    Index(usize),
}

struct Node<'a> {
    step: Step<'a>,
    parent: Option<&'a Node<'a>>,
}

/// `a.b[2].c`, as validation problems name fields; the root is `""`.
fn path_of(node: Option<&Node<'_>>) -> String {
    let mut steps = Vec::new();
    let mut at = node;
    while let Some(n) = at {
        steps.push(n.step);
        at = n.parent;
    }
    let mut out = String::new();
    for step in steps.iter().rev() {
        match step {
            Step::Key(k) if out.is_empty() => out.push_str(k),
            Step::Key(k) => {
                out.push('.');
                out.push_str(k);
            }
            Step::Index(i) => out.push_str(&format!("[{i}]")),
        }
    }
    out
}

#[derive(Clone, Copy)]
struct Seed<'a> {
    parent: Option<&'a Node<'a>>,
    state: &'a RefCell<State>,
}

impl<'de> DeserializeSeed<'de> for Seed<'_> {
    type Value = Value;

    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Seed<'_> {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::Number(v.into()))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::Number(v.into()))
    }

    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        // As serde_json's own `Value`: a non-finite float (which JSON cannot spell) is null.
        Ok(Number::from_f64(v).map_or(Value::Null, Value::Number))
    }

    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        self.check(v);
        Ok(Value::String(v.to_owned()))
    }

    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        self.check(&v);
        Ok(Value::String(v))
    }

    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_some<D: de::Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        self.deserialize(d)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(64));
        loop {
            let node = Node {
                step: Step::Index(items.len()),
                parent: self.parent,
            };
            let child = Seed {
                parent: Some(&node),
                state: self.state,
            };
            match seq.next_element_seed(child)? {
                Some(v) => items.push(v),
                None => return Ok(Value::Array(items)),
            }
        }
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        use serde_json::map::Entry;
        let mut object = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            match object.entry(key) {
                Entry::Occupied(taken) => {
                    let key = taken.key().clone();
                    let node = Node {
                        step: Step::Key(&key),
                        parent: self.parent,
                    };
                    self.state.borrow_mut().duplicate = Some((path_of(Some(&node)), key.clone()));
                    return Err(de::Error::custom(format!("duplicate key \"{key}\"")));
                }
                Entry::Vacant(slot) => {
                    let node = Node {
                        step: Step::Key(slot.key()),
                        parent: self.parent,
                    };
                    if slot.key().contains('\0') {
                        self.state.borrow_mut().nul_at(Some(&node));
                    }
                    let child = Seed {
                        parent: Some(&node),
                        state: self.state,
                    };
                    let value = map.next_value_seed(child)?;
                    slot.insert(value);
                }
            }
        }
        Ok(Value::Object(object))
    }
}

impl Seed<'_> {
    fn check(&self, s: &str) {
        if s.as_bytes().contains(&0) {
            self.state.borrow_mut().nul_at(self.parent);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    fn dup(text: &str) -> (String, String) {
        match parse(text.as_bytes()) {
            Err(JsonError::DuplicateKey { path, key }) => (path, key),
            other => panic!("{text}: {other:?}"),
        }
    }

    #[test]
    fn parses_what_serde_json_parses() {
        let text = r#"{"to":"+1","n":[1,-2,3.5,1e400,null,true],"o":{"a":{"b":[]}},"s":"\u00e9\ud83d\ude00"}"#;
        // 1e400 overflows: serde_json refuses it, and so does the strict reader.
        assert!(serde_json::from_str::<Value>(text).is_err());
        assert!(matches!(parse(text.as_bytes()), Err(JsonError::Syntax(_))));
        let text = text.replace("1e400", "1e30");
        assert_eq!(
            parse(text.as_bytes()),
            Ok(serde_json::from_str::<Value>(&text).expect("valid"))
        );
    }

    #[test]
    fn refuses_a_repeated_key_naming_it_and_its_path() {
        assert_eq!(dup(r#"{"to":"a","to":"b"}"#), ("to".into(), "to".into()));
        assert_eq!(
            dup(r#"{"to":"a","text":{"body":"x","body":"y"}}"#),
            ("text.body".into(), "body".into())
        );
        assert_eq!(
            dup(r#"{"a":[{"id":1},{"id":2,"id":3}]}"#),
            ("a[1].id".into(), "id".into())
        );
        assert_eq!(dup(r#"[{"k":1,"k":1}]"#), ("[0].k".into(), "k".into()));
        // The same key in sibling objects is fine.
        assert!(parse(br#"{"a":{"k":1},"b":{"k":1}}"#).is_ok());
    }

    #[test]
    fn refuses_nul_in_values_and_keys_but_not_other_control_characters() {
        assert_eq!(
            parse(br#"{"text":{"body":"a\u0000b"},"x":["ok","\u0000"]}"#),
            Err(JsonError::Nul(vec!["text.body".into(), "x[1]".into()]))
        );
        assert_eq!(
            parse(br#"{"a\u0000":1}"#),
            Err(JsonError::Nul(vec!["a\0".into()]))
        );
        assert!(parse(br#"{"body":"\u0001\t\n\\u0000 \u202e"}"#).is_ok());
    }

    #[test]
    fn a_syntax_error_wins_over_nul_and_trailing_bytes_are_refused() {
        assert!(matches!(
            parse(br#"{"a":"\u0000","#),
            Err(JsonError::Syntax(_))
        ));
        assert!(matches!(parse(br#"{} {}"#), Err(JsonError::Syntax(_))));
        assert!(matches!(parse(b""), Err(JsonError::Syntax(_))));
    }

    #[test]
    fn deep_nesting_is_refused_not_overflowed() {
        let deep = "[".repeat(100_000);
        assert!(matches!(parse(deep.as_bytes()), Err(JsonError::Syntax(_))));
    }

    fn value() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(|n| json!(n)),
            "[a-z\u{e9}\u{1F600} ]{0,8}".prop_map(Value::String),
        ];
        leaf.prop_recursive(4, 64, 6, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
                prop::collection::btree_map("[a-c]{1,2}", inner, 0..6)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    proptest! {
        /// Whatever serde_json writes (never a repeated key) reads back the same.
        #[test]
        fn round_trips_what_serde_json_writes(v in value()) {
            let text = serde_json::to_vec(&v).expect("serializes");
            prop_assert_eq!(parse(&text), Ok(v));
        }

        /// Repeating any key of an object anywhere is refused, naming that key.
        #[test]
        fn a_repeated_key_anywhere_is_refused(v in value(), pick in any::<prop::sample::Index>()) {
            let text = serde_json::to_string(&v).expect("serializes");
            // Every `"key":` of the text; repeat one of them with a value before it.
            let keys: Vec<(usize, String)> = keys_of(&text);
            prop_assume!(!keys.is_empty());
            let (at, key) = &keys[pick.index(keys.len())];
            let mut doubled = text.clone();
            doubled.insert_str(*at, &format!("\"{key}\":0,"));
            match parse(doubled.as_bytes()) {
                Err(JsonError::DuplicateKey { key: found, .. }) => prop_assert_eq!(&found, key),
                other => prop_assert!(false, "{} gave {:?}", doubled, other),
            }
        }
    }

    /// Byte offsets of each object key in compact serde_json output (keys are `[a-c]{1,2}`).
    fn keys_of(text: &str) -> Vec<(usize, String)> {
        let b = text.as_bytes();
        let mut out = Vec::new();
        let mut in_string = false;
        let mut start = 0;
        for (i, &c) in b.iter().enumerate() {
            match (in_string, c) {
                (false, b'"') => {
                    in_string = true;
                    start = i;
                }
                (true, b'\\') => {}
                (true, b'"') if i == 0 || b[i - 1] != b'\\' => {
                    in_string = false;
                    let preceded = start > 0 && matches!(b[start - 1], b'{' | b',');
                    if preceded && b.get(i + 1) == Some(&b':') {
                        out.push((start, text[start + 1..i].to_string()));
                    }
                }
                _ => {}
            }
        }
        out
    }
}
