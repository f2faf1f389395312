//! Reading an admin request's JSON object field by field, collecting every problem with its
//! field path, so one answer names everything that is wrong.

use chasqui_domain::problem::code;
use chasqui_domain::Problem;
use serde_json::{Map, Value};

/// The fields of one JSON object being read.
pub struct Fields {
    map: Map<String, Value>,
    /// Every problem found so far.
    pub problems: Vec<Problem>,
}

/// A field that may be absent (leave as is), `null` (clear) or a value (set).
pub type Patch<T> = Option<Option<T>>;

impl Fields {
    /// The fields of `value`, which must be an object.
    pub fn new(value: Value) -> Result<Self, Vec<Problem>> {
        match value {
            Value::Object(map) => Ok(Self {
                map,
                problems: Vec::new(),
            }),
            _ => Err(vec![Problem::new(
                "",
                code::INVALID_TYPE,
                "the body must be a JSON object",
            )]),
        }
    }

    fn problem(&mut self, field: &str, code: &'static str, message: String) {
        self.problems.push(Problem::new(field, code, message));
    }

    /// A string of 1..=`max` characters (trimmed).
    pub fn string(&mut self, field: &str, max: usize) -> Option<String> {
        match self.map.remove(field)? {
            Value::String(s) if !s.trim().is_empty() && s.trim().chars().count() <= max => {
                Some(s.trim().to_string())
            }
            Value::String(s) if s.trim().is_empty() => {
                self.problem(field, code::EMPTY, "must not be empty".into());
                None
            }
            Value::String(_) => {
                self.problem(
                    field,
                    code::TOO_LONG,
                    format!("must be at most {max} characters"),
                );
                None
            }
            _ => {
                self.problem(field, code::INVALID_TYPE, "must be a string".into());
                None
            }
        }
    }

    /// The field's value as given, for a caller that parses it itself.
    pub fn raw(&mut self, field: &str) -> Option<Value> {
        self.map.remove(field)
    }

    /// A string that may also be `null`.
    pub fn nullable_string(&mut self, field: &str, max: usize) -> Patch<String> {
        if self.map.get(field)?.is_null() {
            self.map.remove(field);
            return Some(None);
        }
        self.string(field, max).map(Some)
    }

    /// Records a problem when `field` is absent (its value is read later).
    pub fn require(&mut self, field: &str) {
        if !self.map.contains_key(field) {
            self.problem(field, code::REQUIRED, "is required".into());
        }
    }

    /// A required string.
    pub fn required_string(&mut self, field: &str, max: usize) -> Option<String> {
        if !self.map.contains_key(field) {
            self.problem(field, code::REQUIRED, "is required".into());
            return None;
        }
        self.string(field, max)
    }

    /// An integer in `min..=max`.
    pub fn int(&mut self, field: &str, min: i64, max: i64) -> Option<i64> {
        match self.map.remove(field)? {
            Value::Number(n) => match n.as_i64().filter(|v| (min..=max).contains(v)) {
                Some(v) => Some(v),
                None => {
                    self.problem(
                        field,
                        code::INVALID_VALUE,
                        format!("must be a whole number from {min} to {max}"),
                    );
                    None
                }
            },
            _ => {
                self.problem(field, code::INVALID_TYPE, "must be a number".into());
                None
            }
        }
    }

    /// An integer in `min..=max`, or `null` (no limit).
    pub fn nullable_int(&mut self, field: &str, min: i64, max: i64) -> Patch<i64> {
        if self.map.get(field)?.is_null() {
            self.map.remove(field);
            return Some(None);
        }
        self.int(field, min, max).map(Some)
    }

    /// A boolean.
    pub fn bool(&mut self, field: &str) -> Option<bool> {
        match self.map.remove(field)? {
            Value::Bool(b) => Some(b),
            _ => {
                self.problem(field, code::INVALID_TYPE, "must be true or false".into());
                None
            }
        }
    }

    /// An array of strings.
    pub fn strings(&mut self, field: &str) -> Option<Vec<String>> {
        match self.map.remove(field)? {
            Value::Array(items) if items.iter().all(Value::is_string) => Some(
                items
                    .into_iter()
                    .filter_map(|v| v.as_str().map(str::to_string))
                    .collect(),
            ),
            _ => {
                self.problem(
                    field,
                    code::INVALID_TYPE,
                    "must be an array of strings".into(),
                );
                None
            }
        }
    }

    /// Whether `field` already has a problem.
    pub fn has_problem(&self, field: &str) -> bool {
        self.problems.iter().any(|p| p.field == field)
    }

    /// Records a problem found by the caller's own check.
    pub fn reject(&mut self, field: &str, code: &'static str, message: impl Into<String>) {
        self.problem(field, code, message.into());
    }

    /// Ends reading: unknown fields are problems too (a typo must not be silently ignored).
    pub fn finish(mut self) -> Result<(), Vec<Problem>> {
        let unknown: Vec<String> = self.map.keys().cloned().collect();
        for field in unknown {
            self.problem(&field, code::UNKNOWN_FIELD, "is not a known field".into());
        }
        if self.problems.is_empty() {
            Ok(())
        } else {
            Err(self.problems)
        }
    }
}
