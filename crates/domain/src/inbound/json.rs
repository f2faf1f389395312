//! Small readers over `serde_json::Value` shared by the inbound parsers: Meta mixes strings and
//! numbers for ids and timestamps, and any field may be missing.

use serde_json::Value;

use crate::MetaError;

/// A non-empty string, or a number written as its digits (Meta sends ids both ways).
pub(super) fn id_text(value: &Value) -> Option<String> {
    match value {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// `object[key]` read with [`id_text`].
pub(super) fn id_at(object: &Value, key: &str) -> Option<String> {
    object.get(key).and_then(id_text)
}

/// `object[key]` when it is a string, kept even when empty (an empty caption is still a caption).
pub(super) fn str_at(object: &Value, key: &str) -> Option<String> {
    object.get(key).and_then(Value::as_str).map(str::to_owned)
}

/// `object[key]` when it is a non-empty string.
pub(super) fn text_at(object: &Value, key: &str) -> Option<String> {
    str_at(object, key).filter(|s| !s.is_empty())
}

/// `object[key]` as a boolean; Meta only ever sends real booleans here, anything else is absent.
pub(super) fn bool_at(object: &Value, key: &str) -> Option<bool> {
    object.get(key).and_then(Value::as_bool)
}

/// Unix seconds from a string (Meta's form) or an integer.
pub(super) fn unix_seconds(value: &Value) -> Option<i64> {
    match value {
        Value::String(s) => s.trim().parse().ok(),
        Value::Number(n) => n.as_i64(),
        _ => None,
    }
}

/// A number, also accepted as a numeric string (coordinates and prices have been seen as both).
pub(super) fn number_at(object: &Value, key: &str) -> Option<f64> {
    match object.get(key)? {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse().ok().filter(|f: &f64| f.is_finite()),
        _ => None,
    }
}

/// `object[key]` when it is an object, cloned as sent.
pub(super) fn object_at(object: &Value, key: &str) -> Option<Value> {
    object.get(key).filter(|v| v.is_object()).cloned()
}

/// Every readable entry of an `errors[]` array; entries without a numeric code are skipped.
pub(super) fn meta_errors(errors: Option<&Value>) -> Vec<MetaError> {
    errors
        .and_then(Value::as_array)
        .map(|errors| errors.iter().filter_map(meta_error).collect())
        .unwrap_or_default()
}

/// One `{code, title|message, error_data.details}` error object.
fn meta_error(error: &Value) -> Option<MetaError> {
    let code = match error.get("code")? {
        Value::Number(n) => n.as_i64()?,
        Value::String(s) => s.trim().parse().ok()?,
        _ => return None,
    };
    Some(MetaError {
        code,
        title: text_at(error, "title")
            .or_else(|| text_at(error, "message"))
            .unwrap_or_default(),
        details: error
            .pointer("/error_data/details")
            .and_then(Value::as_str)
            .map(str::to_owned),
    })
}
