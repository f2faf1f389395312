//! Reusable field checks. Each one records its problems and returns what it could read, so
//! validation carries on and every problem of a message is reported at once.

use std::collections::HashSet;

use serde_json::{Map, Value};

use crate::problem::code;
use crate::Problem;

/// A JSON object.
pub(super) type Object = Map<String, Value>;

/// `path.key`, or `key` at the root.
pub(super) fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_owned()
    } else {
        format!("{path}.{key}")
    }
}

/// `path[index]`.
pub(super) fn item(path: &str, index: usize) -> String {
    format!("{path}[{index}]")
}

/// Rules for a string field.
#[derive(Debug, Clone, Copy)]
pub(super) struct Str {
    required: bool,
    allow_empty: bool,
    max_chars: Option<usize>,
}

impl Str {
    /// Required and not blank, with no length limit of its own.
    pub(super) const REQUIRED: Self = Self {
        required: true,
        allow_empty: false,
        max_chars: None,
    };
    /// Optional, any length; present and empty is fine.
    pub(super) const OPTIONAL: Self = Self {
        required: false,
        allow_empty: true,
        max_chars: None,
    };

    /// Required, not blank, at most `max` characters.
    pub(super) const fn required(max: usize) -> Self {
        Self {
            required: true,
            allow_empty: false,
            max_chars: Some(max),
        }
    }

    /// Optional; when present at most `max` characters (empty is fine).
    pub(super) const fn optional(max: usize) -> Self {
        Self {
            required: false,
            allow_empty: true,
            max_chars: Some(max),
        }
    }

    /// The same rule, but the empty string is also accepted.
    pub(super) const fn or_empty(self) -> Self {
        Self {
            allow_empty: true,
            ..self
        }
    }
}

/// Bounds on the number of items of an array.
#[derive(Debug, Clone, Copy)]
pub(super) struct Count {
    min: usize,
    max: Option<usize>,
}

impl Count {
    /// Any number of items.
    pub(super) const ANY: Self = Self { min: 0, max: None };

    /// From `min` to `max` items.
    pub(super) const fn between(min: usize, max: usize) -> Self {
        Self {
            min,
            max: Some(max),
        }
    }

    /// Exactly `n` items.
    pub(super) const fn exactly(n: usize) -> Self {
        Self::between(n, n)
    }

    /// At least `min` items.
    pub(super) const fn at_least(min: usize) -> Self {
        Self { min, max: None }
    }
}

/// Collects the problems of one message.
#[derive(Debug, Default)]
pub(super) struct Checker {
    problems: Vec<Problem>,
}

impl Checker {
    /// Records a problem.
    pub(super) fn report(
        &mut self,
        field: impl Into<String>,
        code: &'static str,
        message: impl Into<String>,
    ) {
        self.problems.push(Problem::new(field, code, message));
    }

    /// Every problem recorded, in the order found.
    pub(super) fn into_problems(self) -> Vec<Problem> {
        self.problems
    }

    /// Whether nothing was wrong so far.
    pub(super) fn is_clean(&self) -> bool {
        self.problems.is_empty()
    }

    /// `obj[key]`. A missing or `null` required field is reported; an optional `null` is returned
    /// so the typed checks refuse it, since Meta does not accept `null` in place of a value.
    pub(super) fn field<'a>(
        &mut self,
        obj: &'a Object,
        path: &str,
        key: &str,
        required: bool,
    ) -> Option<&'a Value> {
        match obj.get(key) {
            None | Some(Value::Null) if required => {
                self.report(join(path, key), code::REQUIRED, "is required");
                None
            }
            value => value,
        }
    }

    /// `obj[key]` as an object.
    pub(super) fn object<'a>(
        &mut self,
        obj: &'a Object,
        path: &str,
        key: &str,
        required: bool,
    ) -> Option<&'a Object> {
        let value = self.field(obj, path, key, required)?;
        self.as_object(value, &join(path, key))
    }

    /// `value` as an object, or an `invalid_type` problem at `field`.
    pub(super) fn as_object<'a>(&mut self, value: &'a Value, field: &str) -> Option<&'a Object> {
        let obj = value.as_object();
        if obj.is_none() {
            self.report(field, code::INVALID_TYPE, "must be an object");
        }
        obj
    }

    /// `obj[key]` as an array whose length is checked against `count`. The items are returned even
    /// when there are too many or too few, so each can still be checked.
    pub(super) fn array<'a>(
        &mut self,
        obj: &'a Object,
        path: &str,
        key: &str,
        required: bool,
        count: Count,
    ) -> Option<&'a [Value]> {
        let field = join(path, key);
        let value = self.field(obj, path, key, required)?;
        let Some(items) = value.as_array() else {
            self.report(field, code::INVALID_TYPE, "must be an array");
            return None;
        };
        self.count(items.len(), &field, count, "items");
        Some(items)
    }

    /// Checks that `n` things of kind `noun` at `field` fit `count`.
    pub(super) fn count(&mut self, n: usize, field: &str, count: Count, noun: &str) {
        let exact = count.max == Some(count.min);
        if n < count.min {
            let message = if exact {
                format!("must have exactly {} {noun}", count.min)
            } else {
                format!("must have at least {} {noun}", count.min)
            };
            self.report(field, code::TOO_FEW, message);
        } else if let Some(max) = count.max.filter(|&max| n > max) {
            let message = if exact {
                format!("must have exactly {max} {noun}")
            } else {
                format!("must have at most {max} {noun}")
            };
            self.report(field, code::TOO_MANY, message);
        }
    }

    /// `obj[key]` as a string that follows `rule`; returned only when it does.
    pub(super) fn string<'a>(
        &mut self,
        obj: &'a Object,
        path: &str,
        key: &str,
        rule: Str,
    ) -> Option<&'a str> {
        let field = join(path, key);
        let value = self.field(obj, path, key, rule.required)?;
        let Some(text) = value.as_str() else {
            self.report(field, code::INVALID_TYPE, "must be a string");
            return None;
        };
        if !rule.allow_empty && text.trim().is_empty() {
            self.report(field, code::EMPTY, "must not be empty");
            return None;
        }
        // WhatsApp counts characters, not bytes.
        if let Some(max) = rule.max_chars.filter(|&max| text.chars().count() > max) {
            self.report(
                field,
                code::TOO_LONG,
                format!("must be at most {max} characters"),
            );
            return None;
        }
        Some(text)
    }

    /// Optional `obj[key]` that must be a boolean when present.
    pub(super) fn boolean(&mut self, obj: &Object, path: &str, key: &str) {
        if let Some(value) = self.field(obj, path, key, false) {
            if !value.is_boolean() {
                self.report(join(path, key), code::INVALID_TYPE, "must be true or false");
            }
        }
    }

    /// `obj[key]` as one of `allowed`.
    pub(super) fn choice<'a>(
        &mut self,
        obj: &'a Object,
        path: &str,
        key: &str,
        allowed: &[&str],
        required: bool,
    ) -> Option<&'a str> {
        let rule = Str {
            required,
            allow_empty: true,
            max_chars: None,
        };
        let value = self.string(obj, path, key, rule)?;
        if allowed.contains(&value) {
            return Some(value);
        }
        let message = match allowed {
            [only] => format!("must be \"{only}\""),
            _ => format!("must be one of: {}", allowed.join(", ")),
        };
        self.report(join(path, key), code::INVALID_VALUE, message);
        None
    }

    /// [`choice`](Self::choice), matching case-insensitively (Meta writes `CATALOG` where its
    /// enum says `catalog`); answers the allowed spelling.
    pub(super) fn choice_ignoring_case<'s>(
        &mut self,
        obj: &Object,
        path: &str,
        key: &str,
        allowed: &[&'s str],
        required: bool,
    ) -> Option<&'s str> {
        let rule = Str {
            required,
            allow_empty: true,
            max_chars: None,
        };
        let value = self.string(obj, path, key, rule)?;
        if let Some(known) = allowed.iter().find(|a| a.eq_ignore_ascii_case(value)) {
            return Some(known);
        }
        let message = format!("must be one of: {}", allowed.join(", "));
        self.report(join(path, key), code::INVALID_VALUE, message);
        None
    }

    /// Reports `invalid_value` at `path.key` unless `ok`.
    pub(super) fn ensure(&mut self, ok: bool, path: &str, key: &str, message: &str) {
        if !ok {
            self.report(join(path, key), code::INVALID_VALUE, message);
        }
    }

    /// `obj[key]` as an http or https URL.
    pub(super) fn url<'a>(
        &mut self,
        obj: &'a Object,
        path: &str,
        key: &str,
        required: bool,
    ) -> Option<&'a str> {
        let rule = Str {
            required,
            allow_empty: true,
            max_chars: None,
        };
        let value = self.string(obj, path, key, rule)?;
        if is_http_url(value) {
            Some(value)
        } else {
            self.report(
                join(path, key),
                code::INVALID_URL,
                "must be an http or https URL",
            );
            None
        }
    }

    /// `obj[key]` as a number (or a string holding one) within `[min, max]`.
    pub(super) fn number_in(
        &mut self,
        obj: &Object,
        path: &str,
        key: &str,
        required: bool,
        (min, max): (f64, f64),
    ) -> Option<f64> {
        let field = join(path, key);
        let number = match self.field(obj, path, key, required)? {
            Value::Number(n) => n.as_f64(),
            Value::String(s) => s.trim().parse::<f64>().ok().filter(|n| n.is_finite()),
            _ => {
                self.report(
                    field,
                    code::INVALID_TYPE,
                    "must be a number or a numeric string",
                );
                return None;
            }
        };
        match number {
            Some(n) if (min..=max).contains(&n) => Some(n),
            Some(_) => {
                self.report(
                    field,
                    code::INVALID_VALUE,
                    format!("must be between {min} and {max}"),
                );
                None
            }
            None => {
                self.report(field, code::INVALID_VALUE, "must be a number");
                None
            }
        }
    }

    /// `obj[key]` as a JSON integer.
    pub(super) fn integer(
        &mut self,
        obj: &Object,
        path: &str,
        key: &str,
        required: bool,
    ) -> Option<i64> {
        let value = self.field(obj, path, key, required)?;
        let n = value.as_i64();
        if n.is_none() {
            self.report(join(path, key), code::INVALID_TYPE, "must be an integer");
        }
        n
    }

    /// Reports every key of `obj` not in `allowed`: `not_allowed` when it is one of `elsewhere`
    /// (known, but not in this `context`), `unknown_field` otherwise.
    pub(super) fn keys(
        &mut self,
        obj: &Object,
        path: &str,
        allowed: &[&str],
        elsewhere: &[&str],
        context: &str,
    ) {
        for key in obj.keys().filter(|k| !allowed.contains(&k.as_str())) {
            if elsewhere.contains(&key.as_str()) {
                self.report(
                    join(path, key),
                    code::NOT_ALLOWED,
                    format!("is not allowed {context}"),
                );
            } else {
                self.report(
                    join(path, key),
                    code::UNKNOWN_FIELD,
                    "is not a known field here",
                );
            }
        }
    }

    /// Which one of `keys` `obj` has; anything but exactly one is reported at `path`.
    pub(super) fn exactly_one_of<'k>(
        &mut self,
        obj: &Object,
        path: &str,
        keys: &[&'k str],
    ) -> Option<&'k str> {
        let present: Vec<&'k str> = keys
            .iter()
            .copied()
            .filter(|k| obj.contains_key(*k))
            .collect();
        match present.as_slice() {
            [one] => Some(one),
            _ => {
                let names: Vec<String> = keys.iter().map(|k| format!("`{k}`")).collect();
                let found = if present.is_empty() {
                    "none was given"
                } else {
                    "several were given"
                };
                self.report(
                    path,
                    code::EXACTLY_ONE_OF,
                    format!("must have exactly one of {} ({found})", names.join(" or ")),
                );
                None
            }
        }
    }

    /// Records `value` as seen; a second sighting is a `duplicate` at `field`.
    pub(super) fn unique<'a>(&mut self, seen: &mut HashSet<&'a str>, value: &'a str, field: &str) {
        if !seen.insert(value) {
            self.report(
                field,
                code::DUPLICATE,
                format!("\"{value}\" is used more than once; it must be unique"),
            );
        }
    }
}

/// A minimal http(s) URL check: scheme, then a host made of URL host characters, then anything
/// without whitespace. Enough to catch the usual mistakes without a URL parser.
pub(crate) fn is_http_url(url: &str) -> bool {
    let Some((scheme, rest)) = url.split_once("://") else {
        return false;
    };
    if !(scheme.eq_ignore_ascii_case("http") || scheme.eq_ignore_ascii_case("https")) {
        return false;
    }
    if url.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return false;
    }
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let host_port = authority.rsplit('@').next().unwrap_or_default();
    let (host, port) = match host_port.strip_prefix('[') {
        // IPv6 literal: `[::1]:8080`.
        Some(v6) => match v6.split_once(']') {
            Some((host, port)) if host.chars().all(|c| c.is_ascii_hexdigit() || c == ':') => {
                (host, port.strip_prefix(':'))
            }
            _ => return false,
        },
        None => match host_port.split_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (host_port, None),
        },
    };
    let host_ok = !host.is_empty()
        && host
            .chars()
            .all(|c| c.is_alphanumeric() || matches!(c, '.' | '-' | '_' | ':'));
    let port_ok =
        port.is_none_or(|p| !p.is_empty() && p.len() <= 5 && p.bytes().all(|b| b.is_ascii_digit()));
    host_ok && port_ok
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        for ok in [
            "https://example.com",
            "http://example.com/a/b?c=d#e",
            "HTTPS://cdn.example.com:8443/invoice.pdf",
            "https://user:pw@example.com/x",
            "https://[::1]:8080/x",
            "https://.../note.ogg",
            "https://bücher.example/",
        ] {
            assert!(is_http_url(ok), "{ok}");
        }
        for bad in [
            "",
            "example.com",
            "ftp://example.com/x",
            "https://",
            "https:///path",
            "https://exa mple.com",
            "https://example.com/a b",
            "javascript://alert(1)",
            "https://example.com:port/",
            "https://example.com:/",
            "https://[zz]/",
        ] {
            assert!(!is_http_url(bad), "{bad}");
        }
    }
}
