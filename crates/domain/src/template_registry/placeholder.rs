//! `{{1}}` and `{{first_name}}` placeholders in template texts.

use std::fmt;

/// What a placeholder refers to.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum PlaceholderKey {
    /// `{{n}}` of a POSITIONAL template, numbered from 1.
    Position(u32),
    /// `{{name}}` of a NAMED template.
    Name(String),
}

impl fmt::Display for PlaceholderKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Position(n) => write!(f, "{{{{{n}}}}}"),
            Self::Name(name) => write!(f, "{{{{{name}}}}}"),
        }
    }
}

/// A piece of a template text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Segment<'a> {
    /// Text shown as is.
    Literal(&'a str),
    /// A placeholder filled at send time.
    Placeholder(PlaceholderKey),
    /// Something between `{{` and `}}` that is no placeholder (`{{ 1 }}`, `{{Name}}`, `{{0}}`):
    /// shown as is, and refused in submissions.
    Malformed(&'a str),
}

/// Splits `text` into literals and placeholders in one pass, so a value that itself looks like a
/// placeholder is never expanded again.
pub fn segments(text: &str) -> Vec<Segment<'_>> {
    let mut out = Vec::new();
    let mut literal_start = 0;
    let mut pos = 0;
    while let Some(offset) = text[pos..].find("{{") {
        let open = pos + offset;
        let inner_start = open + 2;
        let Some(close_offset) = text[inner_start..].find("}}") else {
            break;
        };
        let inner = &text[inner_start..inner_start + close_offset];
        let end = inner_start + close_offset + 2;
        let segment = match parse_key(inner) {
            Some(key) => Segment::Placeholder(key),
            // `{{{1}}}`: skip one brace and look again, so the real placeholder is found.
            None if inner.contains('{') => {
                pos = open + 1;
                continue;
            }
            None => Segment::Malformed(&text[open..end]),
        };
        if literal_start < open {
            out.push(Segment::Literal(&text[literal_start..open]));
        }
        out.push(segment);
        literal_start = end;
        pos = end;
    }
    if literal_start < text.len() {
        out.push(Segment::Literal(&text[literal_start..]));
    }
    out
}

/// `1`… (no leading zero) or a lowercase name (`[a-z_][a-z0-9_]*`).
fn parse_key(inner: &str) -> Option<PlaceholderKey> {
    let first = inner.bytes().next()?;
    if inner.bytes().all(|b| b.is_ascii_digit()) {
        if first == b'0' {
            return None;
        }
        return inner.parse().ok().map(PlaceholderKey::Position);
    }
    let name_ok = (first.is_ascii_lowercase() || first == b'_')
        && inner
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
    name_ok.then(|| PlaceholderKey::Name(inner.to_owned()))
}

/// The distinct placeholders of `text`, in order of first appearance.
pub fn placeholders(text: &str) -> Vec<PlaceholderKey> {
    let mut keys: Vec<PlaceholderKey> = Vec::new();
    for segment in segments(text) {
        if let Segment::Placeholder(key) = segment {
            if !keys.contains(&key) {
                keys.push(key);
            }
        }
    }
    keys
}

/// How many parameters fill `text`: the highest `{{n}}` when all are positional (Meta maps
/// parameters by position), else the number of distinct placeholders.
pub fn parameter_count(text: &str) -> usize {
    let keys = placeholders(text);
    let positions: Option<Vec<u32>> = keys
        .iter()
        .map(|k| match k {
            PlaceholderKey::Position(n) => Some(*n),
            PlaceholderKey::Name(_) => None,
        })
        .collect();
    match positions {
        Some(positions) => positions
            .into_iter()
            .max()
            .map_or(0, |n| usize::try_from(n).unwrap_or(usize::MAX)),
        None => keys.len(),
    }
}

/// Rewrites `text`, replacing each placeholder with `fill(key)`, or leaving it as written when
/// `fill` has no value for it.
pub fn fill<'v>(text: &str, mut fill: impl FnMut(&PlaceholderKey) -> Option<&'v str>) -> String {
    let mut out = String::with_capacity(text.len());
    for segment in segments(text) {
        match segment {
            Segment::Literal(s) | Segment::Malformed(s) => out.push_str(s),
            Segment::Placeholder(key) => match fill(&key) {
                Some(value) => out.push_str(value),
                None => out.push_str(&key.to_string()),
            },
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use PlaceholderKey::{Name, Position};

    #[test]
    fn splits_literals_and_placeholders() {
        assert_eq!(
            segments("Hi {{1}}, code {{2}}."),
            vec![
                Segment::Literal("Hi "),
                Segment::Placeholder(Position(1)),
                Segment::Literal(", code "),
                Segment::Placeholder(Position(2)),
                Segment::Literal("."),
            ]
        );
        assert_eq!(
            segments("{{first_name}}{{order_2}}"),
            vec![
                Segment::Placeholder(Name("first_name".into())),
                Segment::Placeholder(Name("order_2".into())),
            ]
        );
        assert_eq!(segments(""), vec![]);
        assert_eq!(segments("plain"), vec![Segment::Literal("plain")]);
    }

    #[test]
    fn malformed_and_unclosed() {
        assert_eq!(
            segments("a {{ 1 }} b {{Name}} {{0}} {{}} {{1"),
            vec![
                Segment::Literal("a "),
                Segment::Malformed("{{ 1 }}"),
                Segment::Literal(" b "),
                Segment::Malformed("{{Name}}"),
                Segment::Literal(" "),
                Segment::Malformed("{{0}}"),
                Segment::Literal(" "),
                Segment::Malformed("{{}}"),
                Segment::Literal(" {{1"),
            ]
        );
        assert_eq!(
            segments("{{{1}}}"),
            vec![
                Segment::Literal("{"),
                Segment::Placeholder(Position(1)),
                Segment::Literal("}"),
            ]
        );
        assert_eq!(segments("é{{1}}ü"), {
            vec![
                Segment::Literal("é"),
                Segment::Placeholder(Position(1)),
                Segment::Literal("ü"),
            ]
        });
    }

    #[test]
    fn counts() {
        assert_eq!(parameter_count("no placeholders"), 0);
        assert_eq!(parameter_count("{{1}} {{2}} {{1}}"), 2);
        assert_eq!(parameter_count("{{3}} only"), 3);
        assert_eq!(parameter_count("{{a}} {{b}} {{a}}"), 2);
        assert_eq!(
            placeholders("{{2}} {{1}} {{2}}"),
            vec![Position(2), Position(1)]
        );
    }

    #[test]
    fn fills_in_one_pass() {
        let filled = fill("{{1}} and {{2}} and {{3}}", |k| match k {
            Position(1) => Some("{{2}}"),
            Position(2) => Some("two"),
            _ => None,
        });
        assert_eq!(filled, "{{2}} and two and {{3}}");
        assert_eq!(Name("x".into()).to_string(), "{{x}}");
    }
}
