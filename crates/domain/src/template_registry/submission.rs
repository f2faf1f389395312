//! New templates for `POST /{waba-id}/message_templates`, checked against Meta's creation rules
//! (reference §5.3) so a submission is refused here rather than rejected in review.

use crate::outbound::{is_http_url, is_language_code};
use std::collections::HashSet;

use serde::{Serialize, Serializer};
use serde_json::{Map, Value};

use super::model::{
    components_json, Body, BodyExample, Button, ButtonType, Component, Footer, Header,
    HeaderExample, HeaderFormat, NamedExample, ParameterFormat, TemplateCategory, TemplateName,
};
use super::placeholder::{segments, PlaceholderKey, Segment};
use crate::problem::code;
use crate::{PhoneNumber, Problem};

/// A header text is at most this long.
const MAX_HEADER_CHARS: usize = 60;
/// A body text is at most this long.
const MAX_BODY_CHARS: usize = 1024;
/// A footer text is at most this long.
const MAX_FOOTER_CHARS: usize = 60;
/// A template has at most this many buttons.
const MAX_BUTTONS: usize = 10;
/// At most this many URL buttons.
const MAX_URL_BUTTONS: usize = 2;
/// At most this many phone-number buttons.
const MAX_PHONE_BUTTONS: usize = 1;
/// A button label is at most this long.
const MAX_BUTTON_TEXT_CHARS: usize = 25;
/// A button URL is at most this long.
const MAX_URL_CHARS: usize = 2000;
/// A button phone number is at most this long.
const MAX_PHONE_CHARS: usize = 20;
/// Coupon codes (COPY_CODE examples) are at most this long.
const MAX_COUPON_CHARS: usize = 15;
/// Named placeholders are at most this long, as send-time `parameter_name`s are.
const MAX_PARAMETER_NAME_CHARS: usize = 20;
/// Authentication codes expire after 1 to 90 minutes.
const CODE_EXPIRATION_MINUTES: std::ops::RangeInclusive<u64> = 1..=90;
/// Top-level fields with a typed home; the rest are passed through to Meta.
const KNOWN_FIELDS: [&str; 6] = [
    "name",
    "language",
    "category",
    "parameter_format",
    "allow_category_change",
    "components",
];

/// A template ready to submit to Meta.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewTemplate {
    /// The name.
    pub name: TemplateName,
    /// The locale (`en_US`, `pt_BR`, …).
    pub language: String,
    /// MARKETING, UTILITY or AUTHENTICATION.
    pub category: TemplateCategory,
    /// Positional (`{{1}}`) or named (`{{first_name}}`) placeholders.
    pub parameter_format: ParameterFormat,
    /// Whether Meta may recategorise instead of rejecting.
    pub allow_category_change: Option<bool>,
    /// The components, with their examples.
    pub components: Vec<Component>,
    /// Other top-level fields (`message_send_ttl_seconds`, …), passed through as given.
    pub extra: Map<String, Value>,
}

impl NewTemplate {
    /// The JSON body of `POST /{waba-id}/message_templates`.
    pub fn to_meta_body(&self) -> Value {
        let mut out = self.extra.clone();
        out.insert("name".into(), Value::from(self.name.as_str()));
        out.insert("language".into(), Value::from(self.language.as_str()));
        out.insert("category".into(), Value::from(self.category.as_str()));
        out.insert(
            "parameter_format".into(),
            Value::from(self.parameter_format.as_str()),
        );
        if let Some(allow) = self.allow_category_change {
            out.insert("allow_category_change".into(), Value::from(allow));
        }
        out.insert("components".into(), components_json(&self.components));
        Value::Object(out)
    }
}

impl Serialize for NewTemplate {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.to_meta_body().serialize(s)
    }
}

/// Parses and checks a template submission in Meta's creation shape (`name`, `language`,
/// `category`, `parameter_format?`, `allow_category_change?`, `components[]` with `example`s).
/// Returns every problem at once, with paths such as `components[1].example.body_text`.
pub fn parse_submission(value: &Value) -> Result<NewTemplate, Vec<Problem>> {
    let Some(obj) = value.as_object() else {
        return Err(vec![Problem::new(
            "",
            code::INVALID_TYPE,
            "a template submission must be a JSON object",
        )]);
    };
    let mut c = Checker::default();
    let name = c
        .string(obj, "", "name", true)
        .and_then(|name| match TemplateName::parse(name) {
            Ok(name) => Some(name),
            Err(e) => {
                c.report("name", e.code(), e.to_string());
                None
            }
        });
    let language = c.string(obj, "", "language", true).and_then(|language| {
        if is_language_code(language) {
            Some(language.to_owned())
        } else {
            c.report(
                "language",
                code::INVALID_VALUE,
                "must be a language code such as en, en_US or pt_BR",
            );
            None
        }
    });
    let category = c.string(obj, "", "category", true).and_then(|category| {
        let category = TemplateCategory::parse(category);
        if category.is_known() {
            Some(category)
        } else {
            c.report(
                "category",
                code::INVALID_VALUE,
                "must be one of: MARKETING, UTILITY, AUTHENTICATION",
            );
            None
        }
    });
    let parameter_format = match c.string(obj, "", "parameter_format", false) {
        None => ParameterFormat::Positional,
        Some(format) => ParameterFormat::parse(format).unwrap_or_else(|| {
            c.report(
                "parameter_format",
                code::INVALID_VALUE,
                "must be one of: POSITIONAL, NAMED",
            );
            ParameterFormat::Positional
        }),
    };
    let allow_category_change = match obj.get("allow_category_change") {
        None => None,
        Some(Value::Bool(b)) => Some(*b),
        Some(_) => {
            c.report(
                "allow_category_change",
                code::INVALID_TYPE,
                "must be true or false",
            );
            None
        }
    };
    let ctx = Ctx {
        format: parameter_format,
        authentication: category == Some(TemplateCategory::Authentication),
    };
    let components = c.components(obj, &ctx);
    let extra = obj
        .iter()
        .filter(|(k, _)| !KNOWN_FIELDS.contains(&k.as_str()))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    match (name, language, category) {
        (Some(name), Some(language), Some(category)) if c.problems.is_empty() => Ok(NewTemplate {
            name,
            language,
            category,
            parameter_format,
            allow_category_change,
            components,
            extra,
        }),
        _ => Err(c.problems),
    }
}

/// What the component rules depend on.
struct Ctx {
    format: ParameterFormat,
    authentication: bool,
}

/// `path.key`, or `key` at the root.
fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_owned()
    } else {
        format!("{path}.{key}")
    }
}

/// `path[index]`.
fn item(path: &str, index: usize) -> String {
    format!("{path}[{index}]")
}

/// `{{1}}, {{2}}`.
fn list(keys: &[PlaceholderKey]) -> String {
    let keys: Vec<String> = keys.iter().map(ToString::to_string).collect();
    keys.join(", ")
}

/// `1 value` / `2 values`.
fn plural(n: usize, noun: &str) -> String {
    if n == 1 {
        format!("{n} {noun}")
    } else {
        format!("{n} {noun}s")
    }
}

/// Collects the problems of one submission.
#[derive(Default)]
struct Checker {
    problems: Vec<Problem>,
}

impl Checker {
    fn report(&mut self, field: impl Into<String>, code: &'static str, message: impl Into<String>) {
        self.problems.push(Problem::new(field, code, message));
    }

    /// `obj[key]` as a non-blank string.
    fn string<'a>(
        &mut self,
        obj: &'a Map<String, Value>,
        path: &str,
        key: &str,
        required: bool,
    ) -> Option<&'a str> {
        let field = join(path, key);
        match obj.get(key) {
            None | Some(Value::Null) => {
                if required {
                    self.report(field, code::REQUIRED, "is required");
                }
                None
            }
            Some(Value::String(s)) if s.trim().is_empty() => {
                self.report(field, code::EMPTY, "must not be empty");
                None
            }
            Some(Value::String(s)) => Some(s),
            Some(_) => {
                self.report(field, code::INVALID_TYPE, "must be a string");
                None
            }
        }
    }

    /// `obj[key]` as a non-blank string of at most `max` characters (kept even when too long,
    /// so its placeholders are still checked).
    fn text<'a>(
        &mut self,
        obj: &'a Map<String, Value>,
        path: &str,
        key: &str,
        required: bool,
        max: usize,
    ) -> Option<&'a str> {
        let text = self.string(obj, path, key, required)?;
        // WhatsApp counts characters, not bytes.
        if text.chars().count() > max {
            let message = format!("must be at most {max} characters");
            self.report(join(path, key), code::TOO_LONG, message);
        }
        Some(text)
    }

    /// `obj[key]` as an array.
    fn array<'a>(
        &mut self,
        obj: &'a Map<String, Value>,
        path: &str,
        key: &str,
    ) -> Option<&'a [Value]> {
        let field = join(path, key);
        match obj.get(key) {
            None | Some(Value::Null) => {
                self.report(field, code::REQUIRED, "is required");
                None
            }
            Some(Value::Array(items)) => Some(items),
            Some(_) => {
                self.report(field, code::INVALID_TYPE, "must be an array");
                None
            }
        }
    }

    /// `value` as an object.
    fn object<'a>(&mut self, value: &'a Value, field: &str) -> Option<&'a Map<String, Value>> {
        let obj = value.as_object();
        if obj.is_none() {
            self.report(field, code::INVALID_TYPE, "must be an object");
        }
        obj
    }

    fn components(&mut self, obj: &Map<String, Value>, ctx: &Ctx) -> Vec<Component> {
        let Some(items) = self.array(obj, "", "components") else {
            return Vec::new();
        };
        let mut seen = HashSet::new();
        let mut components = Vec::new();
        for (i, value) in items.iter().enumerate() {
            let path = item("components", i);
            let Some(component) = self.object(value, &path) else {
                continue;
            };
            let Some(kind) = self.string(component, &path, "type", true) else {
                continue;
            };
            let kind = kind.to_ascii_uppercase();
            let parsed = match kind.as_str() {
                "HEADER" => Some(Component::Header(self.header(component, &path, ctx))),
                "BODY" => Some(Component::Body(self.body(component, &path, ctx))),
                "FOOTER" => Some(Component::Footer(self.footer(component, &path, ctx))),
                "BUTTONS" => Some(Component::Buttons(self.buttons(component, &path, ctx))),
                // Carousels and offers have rules of their own; Meta judges them.
                "CAROUSEL" | "LIMITED_TIME_OFFER" => Some(Component::Other(value.clone())),
                _ => {
                    self.report(
                        join(&path, "type"),
                        code::INVALID_VALUE,
                        "must be one of: HEADER, BODY, FOOTER, BUTTONS, CAROUSEL, LIMITED_TIME_OFFER",
                    );
                    None
                }
            };
            if !seen.insert(kind.clone()) {
                let message = format!("only one {kind} component is allowed");
                self.report(join(&path, "type"), code::DUPLICATE, message);
            }
            components.extend(parsed);
        }
        if items.is_empty() {
            self.report("components", code::TOO_FEW, "must have at least 1 item");
        } else if !seen.contains("BODY") {
            self.report("components", code::REQUIRED, "a BODY component is required");
        }
        let has_otp = components.iter().any(|c| match c {
            Component::Buttons(buttons) => buttons.iter().any(|b| b.kind == ButtonType::Otp),
            _ => false,
        });
        if ctx.authentication && !has_otp && !items.is_empty() {
            self.report(
                "components",
                code::REQUIRED,
                "authentication templates need a BUTTONS component with an OTP button",
            );
        }
        components
    }

    fn header(&mut self, obj: &Map<String, Value>, path: &str, ctx: &Ctx) -> Header {
        let format = self
            .string(obj, path, "format", true)
            .map(HeaderFormat::parse);
        let format = match format {
            Some(format) if format.is_known() => format,
            Some(format) => {
                self.report(
                    join(path, "format"),
                    code::INVALID_VALUE,
                    "must be one of: TEXT, IMAGE, VIDEO, GIF, DOCUMENT, LOCATION, PRODUCT",
                );
                format
            }
            None => HeaderFormat::Other(String::new()),
        };
        let mut header = Header {
            format: format.clone(),
            text: None,
            example: None,
        };
        match format {
            HeaderFormat::Text => {
                let Some(text) = self.text(obj, path, "text", true, MAX_HEADER_CHARS) else {
                    return header;
                };
                let field = join(path, "text");
                let keys = self.placeholders(&field, text, ctx.format, false);
                if keys.len() > 1 {
                    self.report(
                        field,
                        code::TOO_MANY,
                        "a header has at most one placeholder",
                    );
                }
                header.text = Some(text.to_owned());
                header.example = self.header_text_example(obj, path, &keys, ctx);
            }
            HeaderFormat::Image
            | HeaderFormat::Video
            | HeaderFormat::Gif
            | HeaderFormat::Document => {
                self.no_text(obj, path, &format);
                header.example = self.header_handle(obj, path).map(HeaderExample::Handle);
            }
            HeaderFormat::Location | HeaderFormat::Product => self.no_text(obj, path, &format),
            HeaderFormat::Other(_) => {}
        }
        header
    }

    /// Media and location headers carry no text.
    fn no_text(&mut self, obj: &Map<String, Value>, path: &str, format: &HeaderFormat) {
        if obj.contains_key("text") {
            let message = format!("is not allowed in a {format} header");
            self.report(join(path, "text"), code::NOT_ALLOWED, message);
        }
    }

    /// `example.header_handle`: the sample media, required for media headers.
    fn header_handle(&mut self, obj: &Map<String, Value>, path: &str) -> Option<Vec<String>> {
        let example_path = join(path, "example");
        let Some(example) = obj.get("example") else {
            self.report(
                example_path,
                code::REQUIRED,
                "is required: media headers need example.header_handle, a Resumable Upload handle of a sample",
            );
            return None;
        };
        let example = self.object(example, &example_path)?;
        let handles = self.array(example, &example_path, "header_handle")?;
        let field = join(&example_path, "header_handle");
        let handles = self.example_strings(handles, &field)?;
        if handles.is_empty() {
            self.report(field, code::TOO_FEW, "must have at least 1 item");
            return None;
        }
        Some(handles)
    }

    /// The example of a text header: `header_text` or `header_text_named_params`.
    fn header_text_example(
        &mut self,
        obj: &Map<String, Value>,
        path: &str,
        keys: &[PlaceholderKey],
        ctx: &Ctx,
    ) -> Option<HeaderExample> {
        let key = match ctx.format {
            ParameterFormat::Positional => "header_text",
            ParameterFormat::Named => "header_text_named_params",
        };
        let example = self.example(obj, path, key, keys, "header")?;
        let field = join(&join(path, "example"), key);
        match ctx.format {
            ParameterFormat::Positional => self
                .positional_examples(example, &field, keys.len(), "header")
                .map(HeaderExample::Text),
            ParameterFormat::Named => self
                .named_examples(example, &field, keys, "header")
                .map(HeaderExample::Named),
        }
    }

    /// `example[key]` of a text component: required when there are placeholders; when there are
    /// none, an example is a mismatch.
    fn example<'a>(
        &mut self,
        obj: &'a Map<String, Value>,
        path: &str,
        key: &str,
        keys: &[PlaceholderKey],
        label: &str,
    ) -> Option<&'a Value> {
        let example_path = join(path, "example");
        let example = obj.get("example");
        if keys.is_empty() {
            if example.is_some() {
                let message = format!("the {label} has no placeholders, so it takes no example");
                self.report(example_path, code::MISMATCH, message);
            }
            return None;
        }
        let Some(example) = example else {
            let message = format!(
                "is required: the {label} has placeholders {}; give example.{key} with a value for each",
                list(keys)
            );
            self.report(example_path, code::REQUIRED, message);
            return None;
        };
        let example = self.object(example, &example_path)?;
        match example.get(key) {
            Some(value) => Some(value),
            None => {
                let message = format!("is required: the {label} has placeholders {}", list(keys));
                self.report(join(&example_path, key), code::REQUIRED, message);
                None
            }
        }
    }

    /// An array of non-blank strings.
    fn example_strings(&mut self, values: &[Value], field: &str) -> Option<Vec<String>> {
        let mut out = Vec::new();
        let mut ok = true;
        for (i, value) in values.iter().enumerate() {
            match value.as_str() {
                Some(s) if !s.trim().is_empty() => out.push(s.to_owned()),
                Some(_) => {
                    ok = false;
                    self.report(item(field, i), code::EMPTY, "must not be empty");
                }
                None => {
                    ok = false;
                    self.report(item(field, i), code::INVALID_TYPE, "must be a string");
                }
            }
        }
        ok.then_some(out)
    }

    /// Positional examples: one value per placeholder.
    fn positional_examples(
        &mut self,
        value: &Value,
        field: &str,
        expected: usize,
        label: &str,
    ) -> Option<Vec<String>> {
        let Some(values) = value.as_array() else {
            self.report(field, code::INVALID_TYPE, "must be an array");
            return None;
        };
        let values = self.example_strings(values, field)?;
        if values.len() != expected {
            let message = format!(
                "the {label} has {} but {} given",
                plural(expected, "placeholder"),
                if values.len() == 1 {
                    "1 example value was".to_owned()
                } else {
                    format!("{} example values were", values.len())
                }
            );
            self.report(field, code::MISMATCH, message);
            return None;
        }
        Some(values)
    }

    /// Named examples: `[{"param_name", "example"}]`, one per placeholder.
    fn named_examples(
        &mut self,
        value: &Value,
        field: &str,
        keys: &[PlaceholderKey],
        label: &str,
    ) -> Option<Vec<NamedExample>> {
        let Some(items) = value.as_array() else {
            self.report(field, code::INVALID_TYPE, "must be an array");
            return None;
        };
        let mut out = Vec::new();
        let mut ok = true;
        let mut seen = HashSet::new();
        for (i, entry) in items.iter().enumerate() {
            let path = item(field, i);
            let Some(entry) = self.object(entry, &path) else {
                ok = false;
                continue;
            };
            let name = self.string(entry, &path, "param_name", true);
            let example = self.string(entry, &path, "example", true);
            let (Some(name), Some(example)) = (name, example) else {
                ok = false;
                continue;
            };
            if !keys.contains(&PlaceholderKey::Name(name.to_owned())) {
                ok = false;
                let message = format!("the {label} has no {{{{{name}}}}}; it has {}", list(keys));
                self.report(join(&path, "param_name"), code::MISMATCH, message);
            } else if !seen.insert(name) {
                ok = false;
                let message = format!("{{{{{name}}}}} has more than one example");
                self.report(join(&path, "param_name"), code::DUPLICATE, message);
            }
            out.push(NamedExample {
                param_name: name.to_owned(),
                example: example.to_owned(),
            });
        }
        let missing: Vec<PlaceholderKey> = keys
            .iter()
            .filter(|k| match k {
                PlaceholderKey::Name(name) => !seen.contains(name.as_str()),
                PlaceholderKey::Position(_) => false,
            })
            .cloned()
            .collect();
        if ok && !missing.is_empty() {
            ok = false;
            let message = format!("has no example for {}", list(&missing));
            self.report(field, code::MISMATCH, message);
        }
        ok.then_some(out)
    }

    fn body(&mut self, obj: &Map<String, Value>, path: &str, ctx: &Ctx) -> Body {
        // Authentication bodies are Meta's preset text; a text is optional there.
        let text = self.text(obj, path, "text", !ctx.authentication, MAX_BODY_CHARS);
        let add_security_recommendation = match obj.get("add_security_recommendation") {
            None => None,
            Some(Value::Bool(b)) => Some(*b),
            Some(_) => {
                self.report(
                    join(path, "add_security_recommendation"),
                    code::INVALID_TYPE,
                    "must be true or false",
                );
                None
            }
        };
        let mut body = Body {
            text: text.map(str::to_owned),
            add_security_recommendation,
            example: None,
        };
        let Some(text) = text else {
            return body;
        };
        let keys = self.placeholders(&join(path, "text"), text, ctx.format, true);
        body.example = match ctx.format {
            ParameterFormat::Positional => {
                let rows = self.example(obj, path, "body_text", &keys, "body");
                rows.and_then(|rows| self.body_rows(rows, path, keys.len()))
                    .map(BodyExample::Positional)
            }
            ParameterFormat::Named => {
                let key = "body_text_named_params";
                let named = self.example(obj, path, key, &keys, "body");
                let field = join(&join(path, "example"), key);
                named
                    .and_then(|named| self.named_examples(named, &field, &keys, "body"))
                    .map(BodyExample::Named)
            }
        };
        body
    }

    /// `body_text`: `[[v1, …, vn]]`, a nested array holding one row.
    fn body_rows(&mut self, rows: &Value, path: &str, expected: usize) -> Option<Vec<String>> {
        let field = join(&join(path, "example"), "body_text");
        let Some(rows) = rows.as_array() else {
            self.report(
                field,
                code::INVALID_TYPE,
                "must be an array holding one array of values, e.g. [[\"Mark\", \"FALL25\"]]",
            );
            return None;
        };
        let Some(row) = rows.first() else {
            self.report(field, code::TOO_FEW, "must hold one array of values");
            return None;
        };
        if row.is_string() {
            self.report(field, code::INVALID_TYPE, "must be nested: one array of values inside an array, e.g. [[\"Mark\", \"FALL25\"]]");
            return None;
        }
        self.positional_examples(row, &item(&field, 0), expected, "body")
    }

    fn footer(&mut self, obj: &Map<String, Value>, path: &str, ctx: &Ctx) -> Footer {
        let text = self.text(obj, path, "text", !ctx.authentication, MAX_FOOTER_CHARS);
        if let Some(text) = text {
            let has_placeholder = segments(text)
                .iter()
                .any(|s| matches!(s, Segment::Placeholder(_)));
            if has_placeholder {
                self.report(
                    join(path, "text"),
                    code::NOT_ALLOWED,
                    "footers cannot have placeholders",
                );
            }
        }
        let field = join(path, "code_expiration_minutes");
        let minutes = match obj.get("code_expiration_minutes") {
            None => None,
            Some(_) if !ctx.authentication => {
                self.report(
                    field,
                    code::NOT_ALLOWED,
                    "is only allowed in AUTHENTICATION templates",
                );
                None
            }
            Some(value) => match value.as_u64() {
                Some(n) if CODE_EXPIRATION_MINUTES.contains(&n) => u32::try_from(n).ok(),
                _ => {
                    self.report(
                        field,
                        code::INVALID_VALUE,
                        "must be a whole number of minutes from 1 to 90",
                    );
                    None
                }
            },
        };
        Footer {
            text: text.map(str::to_owned),
            code_expiration_minutes: minutes,
        }
    }

    fn buttons(&mut self, obj: &Map<String, Value>, path: &str, ctx: &Ctx) -> Vec<Button> {
        let Some(items) = self.array(obj, path, "buttons") else {
            return Vec::new();
        };
        let list_path = join(path, "buttons");
        if items.is_empty() {
            self.report(&list_path, code::TOO_FEW, "must have at least 1 item");
        } else if items.len() > MAX_BUTTONS {
            let message = format!("must have at most {MAX_BUTTONS} items");
            self.report(&list_path, code::TOO_MANY, message);
        }
        let buttons: Vec<Button> = items
            .iter()
            .enumerate()
            .filter_map(|(i, value)| self.button(value, &item(&list_path, i), ctx))
            .collect();
        let limits = [
            (ButtonType::Url, MAX_URL_BUTTONS),
            (ButtonType::PhoneNumber, MAX_PHONE_BUTTONS),
            (ButtonType::CopyCode, 1),
            (ButtonType::Otp, 1),
        ];
        for (kind, max) in limits {
            if buttons.iter().filter(|b| b.kind == kind).count() > max {
                let message = format!("must have at most {} of type {kind}", plural(max, "button"));
                self.report(&list_path, code::TOO_MANY, message);
            }
        }
        buttons
    }

    fn button(&mut self, value: &Value, path: &str, ctx: &Ctx) -> Option<Button> {
        let obj = self.object(value, path)?;
        let kind = ButtonType::parse(self.string(obj, path, "type", true)?);
        let type_field = join(path, "type");
        if !kind.is_known() {
            let names: Vec<&str> = ButtonType::KNOWN.iter().map(ButtonType::as_str).collect();
            let message = format!("must be one of: {}", names.join(", "));
            self.report(type_field, code::INVALID_VALUE, message);
            return None;
        }
        if ctx.authentication && kind != ButtonType::Otp {
            self.report(
                &type_field,
                code::NOT_ALLOWED,
                "authentication templates only have OTP buttons",
            );
        } else if !ctx.authentication && kind == ButtonType::Otp {
            self.report(
                &type_field,
                code::NOT_ALLOWED,
                "OTP buttons are only allowed in AUTHENTICATION templates",
            );
        }
        // Meta sets the label of code buttons itself when none is given.
        let label_required = !matches!(kind, ButtonType::CopyCode | ButtonType::Otp);
        let text = self.text(obj, path, "text", label_required, MAX_BUTTON_TEXT_CHARS);
        let mut button = Button {
            kind: kind.clone(),
            text: text.map(str::to_owned),
            url: None,
            phone_number: None,
            example: None,
            extra: obj
                .iter()
                .filter(|(k, _)| {
                    !["type", "text", "url", "phone_number", "example"].contains(&k.as_str())
                })
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
        };
        match kind {
            ButtonType::Url => {
                let url = self.text(obj, path, "url", true, MAX_URL_CHARS);
                if let Some(url) = url {
                    // A misplaced placeholder says nothing about the example; skip it then.
                    if let Some(dynamic) = self.button_url(url, &join(path, "url")) {
                        button.example = self.button_example(obj, path, dynamic, MAX_URL_CHARS);
                    }
                    button.url = Some(url.to_owned());
                }
            }
            ButtonType::PhoneNumber => {
                button.phone_number = self
                    .text(obj, path, "phone_number", true, MAX_PHONE_CHARS)
                    .and_then(|number| match PhoneNumber::parse(number) {
                        Ok(_) => Some(number.to_owned()),
                        Err(e) => {
                            let field = join(path, "phone_number");
                            self.report(field, code::INVALID_PHONE_NUMBER, e.to_string());
                            None
                        }
                    });
            }
            ButtonType::CopyCode => {
                button.example = self.button_example(obj, path, true, MAX_COUPON_CHARS);
            }
            ButtonType::Otp => self.otp(obj, path),
            _ => {}
        }
        Some(button)
    }

    /// A button URL: http(s), with at most a `{{1}}` at its very end. Returns whether it has
    /// one, or `None` when its placeholders are wrong.
    fn button_url(&mut self, url: &str, field: &str) -> Option<bool> {
        let parts = segments(url);
        let placeholders: Vec<&Segment<'_>> = parts
            .iter()
            .filter(|s| !matches!(s, Segment::Literal(_)))
            .collect();
        let dynamic = match (placeholders.as_slice(), parts.last()) {
            ([], _) => false,
            (
                [Segment::Placeholder(PlaceholderKey::Position(1))],
                Some(Segment::Placeholder(_)),
            ) => true,
            _ => {
                self.report(
                    field,
                    code::INVALID_VALUE,
                    "a URL may only have one placeholder, {{1}}, at its very end",
                );
                return None;
            }
        };
        let prefix = url.strip_suffix("{{1}}").unwrap_or(url);
        if !is_http_url(prefix) {
            self.report(field, code::INVALID_URL, "must be an http or https URL");
        }
        Some(dynamic)
    }

    /// A URL button's `["suffix"]` (required when `needed`) or a COPY_CODE button's code.
    fn button_example(
        &mut self,
        obj: &Map<String, Value>,
        path: &str,
        needed: bool,
        max: usize,
    ) -> Option<String> {
        let field = join(path, "example");
        let value = match obj.get("example") {
            None if needed => {
                self.report(field, code::REQUIRED, "is required: give an example value");
                return None;
            }
            None => return None,
            Some(_) if !needed => {
                self.report(
                    field,
                    code::MISMATCH,
                    "the URL has no placeholder, so it takes no example",
                );
                return None;
            }
            Some(value) => value,
        };
        // Meta writes URL examples as `["x"]` and code examples as `"x"`; either is read.
        let text = match value {
            Value::String(s) => Some(s.as_str()),
            Value::Array(items) if items.len() == 1 => items[0].as_str(),
            _ => None,
        };
        match text {
            Some(s) if s.trim().is_empty() => {
                self.report(field, code::EMPTY, "must not be empty");
                None
            }
            Some(s) if s.chars().count() > max => {
                self.report(
                    field,
                    code::TOO_LONG,
                    format!("must be at most {max} characters"),
                );
                None
            }
            Some(s) => Some(s.to_owned()),
            None => {
                self.report(field, code::INVALID_TYPE, "must be one example string");
                None
            }
        }
    }

    /// `otp_type`, and the app of one-tap and zero-tap autofill.
    fn otp(&mut self, obj: &Map<String, Value>, path: &str) {
        let Some(otp_type) = self.string(obj, path, "otp_type", true) else {
            return;
        };
        match otp_type.to_ascii_uppercase().as_str() {
            "COPY_CODE" => {}
            "ONE_TAP" | "ZERO_TAP" => {
                if !obj.contains_key("supported_apps") {
                    self.string(obj, path, "package_name", true);
                    self.string(obj, path, "signature_hash", true);
                }
            }
            _ => self.report(
                join(path, "otp_type"),
                code::INVALID_VALUE,
                "must be one of: COPY_CODE, ONE_TAP, ZERO_TAP",
            ),
        }
    }

    /// Checks the placeholders of a header or body text and returns them. Bodies (`strict`) also
    /// may not start or end with a placeholder nor have two side by side.
    fn placeholders(
        &mut self,
        field: &str,
        text: &str,
        format: ParameterFormat,
        strict: bool,
    ) -> Vec<PlaceholderKey> {
        let parts = segments(text);
        let mut keys: Vec<PlaceholderKey> = Vec::new();
        for part in &parts {
            match part {
                Segment::Malformed(s) => {
                    let message = format!(
                        "{s} is not a placeholder: write {{{{1}}}}, {{{{2}}}}… or, with parameter_format NAMED, {{{{lowercase_name}}}}"
                    );
                    self.report(field, code::INVALID_VALUE, message);
                }
                Segment::Placeholder(key) if !keys.contains(key) => keys.push(key.clone()),
                _ => {}
            }
        }
        match format {
            ParameterFormat::Positional => {
                if let Some(PlaceholderKey::Name(name)) =
                    keys.iter().find(|k| matches!(k, PlaceholderKey::Name(_)))
                {
                    let message = format!(
                        "{{{{{name}}}}} is a named placeholder: set parameter_format to NAMED, or use {{{{1}}}}, {{{{2}}}}…"
                    );
                    self.report(field, code::INVALID_VALUE, message);
                } else {
                    let mut positions: Vec<u32> = keys
                        .iter()
                        .filter_map(|k| match k {
                            PlaceholderKey::Position(n) => Some(*n),
                            PlaceholderKey::Name(_) => None,
                        })
                        .collect();
                    positions.sort_unstable();
                    let sequential = positions.iter().zip(1u32..).all(|(n, want)| *n == want);
                    if !sequential {
                        let found: Vec<String> =
                            positions.iter().map(|n| format!("{{{{{n}}}}}")).collect();
                        let message = format!(
                            "placeholders must be numbered from {{{{1}}}} without gaps; found {}",
                            found.join(", ")
                        );
                        self.report(field, code::INVALID_VALUE, message);
                    }
                }
            }
            ParameterFormat::Named => {
                for key in &keys {
                    match key {
                        PlaceholderKey::Position(n) => {
                            let message = format!(
                                "{{{{{n}}}}} is positional but parameter_format is NAMED: use {{{{lowercase_name}}}}"
                            );
                            self.report(field, code::INVALID_VALUE, message);
                        }
                        // Send-time `parameter_name`s are lowercase letters and `_`, ≤20.
                        PlaceholderKey::Name(name)
                            if name.len() > MAX_PARAMETER_NAME_CHARS
                                || !name.bytes().all(|b| b.is_ascii_lowercase() || b == b'_') =>
                        {
                            let message = format!(
                                "{{{{{name}}}}}: placeholder names are lowercase letters and underscores, at most {MAX_PARAMETER_NAME_CHARS} characters"
                            );
                            self.report(field, code::INVALID_VALUE, message);
                        }
                        PlaceholderKey::Name(_) => {}
                    }
                }
            }
        }
        if strict {
            self.placement(field, &parts);
        }
        keys
    }

    /// Meta refuses a body that starts or ends with a placeholder or has two with nothing but
    /// spaces between them.
    fn placement(&mut self, field: &str, parts: &[Segment<'_>]) {
        let visible: Vec<&Segment<'_>> = parts
            .iter()
            .filter(|s| !matches!(s, Segment::Literal(l) if l.trim().is_empty()))
            .collect();
        if let Some(Segment::Placeholder(key)) = visible.first() {
            let message = format!("may not start with a placeholder ({key}); put text before it");
            self.report(field, code::INVALID_VALUE, message);
        }
        if let Some(Segment::Placeholder(key)) = visible.last() {
            let message = format!("may not end with a placeholder ({key}); put text after it");
            self.report(field, code::INVALID_VALUE, message);
        }
        for pair in visible.windows(2) {
            if let [Segment::Placeholder(a), Segment::Placeholder(b)] = pair {
                let message =
                    format!("placeholders {a} and {b} are side by side; put text between them");
                self.report(field, code::INVALID_VALUE, message);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn submission(category: &str, components: Value) -> Value {
        json!({"name": "order_update", "language": "en_US", "category": category, "components": components})
    }

    /// (field, code) of every problem, sorted.
    fn problems(value: &Value) -> Vec<(String, &'static str)> {
        let mut got: Vec<(String, &'static str)> = match parse_submission(value) {
            Ok(_) => Vec::new(),
            Err(problems) => problems.into_iter().map(|p| (p.field, p.code)).collect(),
        };
        got.sort();
        got
    }

    fn assert_problems(value: &Value, expected: &[(&str, &str)]) {
        let mut expected: Vec<(String, &str)> = expected
            .iter()
            .map(|(f, c)| ((*f).to_owned(), *c))
            .collect();
        expected.sort();
        assert_eq!(problems(value), expected, "for {value}");
    }

    fn message(value: &Value) -> String {
        parse_submission(value).unwrap_err()[0].message.clone()
    }

    fn body(text: &str, example: Value) -> Value {
        json!({"type": "BODY", "text": text, "example": example})
    }

    fn plain_body() -> Value {
        json!({"type": "BODY", "text": "Your order shipped."})
    }

    #[test]
    fn accepts_the_reference_examples_and_builds_metas_body() {
        // Reference §5.3 / the spec's "image header, text body, footer, 2 CTA buttons".
        let value = json!({"name": "limited_time_offer_tuscan_getaway_2023", "language": "en_US",
          "category": "MARKETING", "allow_category_change": true, "message_send_ttl_seconds": 3600,
          "components": [
            {"type": "HEADER", "format": "IMAGE", "example": {"header_handle": ["4::aW1hZ2UvanBn:ARY"]}},
            {"type": "BODY", "text": "Hi {{1}}! For a limited time only you can get our {{2}} for as low as {{3}}. Tap the Offer Details button for more information.",
             "example": {"body_text": [["Mark", "Tuscan Getaway package", "800"]]}},
            {"type": "FOOTER", "text": "Offer valid until May 31, 2023"},
            {"type": "BUTTONS", "buttons": [
              {"type": "PHONE_NUMBER", "text": "Call", "phone_number": "16467043595"},
              {"type": "URL", "text": "Shop Now", "url": "https://damp-sea-63235.herokuapp.com/shop?promo={{1}}", "example": ["summer2023"]}]}]});
        let t = parse_submission(&value).unwrap();
        assert_eq!(t.name.as_str(), "limited_time_offer_tuscan_getaway_2023");
        assert_eq!(t.category, TemplateCategory::Marketing);
        assert_eq!(t.parameter_format, ParameterFormat::Positional);
        let mut expected = value.clone();
        expected["parameter_format"] = json!("POSITIONAL");
        assert_eq!(t.to_meta_body(), expected);
        assert_eq!(serde_json::to_value(&t).unwrap(), expected);

        let text_header = json!({"name": "abandoned_cart", "language": "en_US", "category": "MARKETING",
          "components": [
            {"type": "HEADER", "format": "TEXT", "text": "Forget something {{1}}?", "example": {"header_text": ["Pablo"]}},
            {"type": "BODY", "text": "Looks like you left some items in your cart! Use code {{1}} and you can get 10% off of all of them!",
             "example": {"body_text": [["10OFF"]]}},
            {"type": "BUTTONS", "buttons": [{"type": "MPM", "text": "View items"}, {"type": "COPY_CODE", "example": "250FF"}, {"type": "QUICK_REPLY", "text": "Stop"}]}]});
        let t = parse_submission(&text_header).unwrap();
        assert_eq!(t.to_meta_body()["components"], text_header["components"]);

        let location = submission(
            "UTILITY",
            json!([
            {"type": "HEADER", "format": "LOCATION"},
            body("Good news {{1}}! Your order #{{2}} is on its way.", json!({"body_text": [["Mark", "566701"]]})),
            {"type": "FOOTER", "text": "To stop receiving delivery updates, tap the button below."},
            {"type": "BUTTONS", "buttons": [{"type": "QUICK_REPLY", "text": "Stop Delivery Updates"}]}]),
        );
        assert_problems(&location, &[]);
    }

    #[test]
    fn named_templates() {
        let value = json!({"name": "order_named", "language": "pt_BR", "category": "utility", "parameter_format": "named",
          "components": [
            {"type": "header", "format": "text", "text": "Pedido {{order_id}}",
             "example": {"header_text_named_params": [{"param_name": "order_id", "example": "860198"}]}},
            body("Oi {{first_name}}, o pedido {{order_id}} saiu.", json!({"body_text_named_params": [
                {"param_name": "order_id", "example": "860198"}, {"param_name": "first_name", "example": "Ana"}]}))]});
        let t = parse_submission(&value).unwrap();
        assert_eq!(t.parameter_format, ParameterFormat::Named);
        assert_eq!(t.category, TemplateCategory::Utility);
        let meta = t.to_meta_body();
        assert_eq!(meta["parameter_format"], "NAMED");
        assert_eq!(meta["category"], "UTILITY");
        assert_eq!(meta["components"][0]["type"], "HEADER");
        assert_eq!(meta["components"][0]["format"], "TEXT");
        assert_eq!(
            meta["components"][1]["example"]["body_text_named_params"][1],
            json!({"param_name": "first_name", "example": "Ana"})
        );

        // Missing, unknown and duplicate example names.
        let named = |examples: Value| {
            json!({"name": "n", "language": "en", "category": "UTILITY", "parameter_format": "NAMED",
              "components": [body("Hi {{first_name}}, order {{order_id}} is ready.", json!({"body_text_named_params": examples}))]})
        };
        assert_problems(
            &named(json!([{"param_name": "first_name", "example": "Ana"}])),
            &[("components[0].example.body_text_named_params", "mismatch")],
        );
        assert!(message(&named(
            json!([{"param_name": "first_name", "example": "Ana"}])
        ))
        .contains("{{order_id}}"));
        assert_problems(
            &named(
                json!([{"param_name": "first_name", "example": "Ana"}, {"param_name": "last", "example": "x"}]),
            ),
            &[(
                "components[0].example.body_text_named_params[1].param_name",
                "mismatch",
            )],
        );
        assert_problems(
            &named(
                json!([{"param_name": "first_name", "example": "Ana"}, {"param_name": "first_name", "example": "x"}, {"param_name": "order_id", "example": ""}]),
            ),
            &[
                (
                    "components[0].example.body_text_named_params[1].param_name",
                    "duplicate",
                ),
                (
                    "components[0].example.body_text_named_params[2].example",
                    "empty",
                ),
            ],
        );
        // Positional placeholders in a NAMED template, and names the send side cannot address.
        assert_problems(
            &json!({"name": "n", "language": "en", "category": "UTILITY", "parameter_format": "NAMED",
              "components": [body("Hi {{1}} and {{line_2}} and {{a_very_long_name_indeed}}.", json!({}))]}),
            &[
                ("components[0].text", "invalid_value"),
                ("components[0].text", "invalid_value"),
                ("components[0].text", "invalid_value"),
                ("components[0].example.body_text_named_params", "required"),
            ],
        );
        // Named placeholders without parameter_format NAMED.
        assert_problems(
            &submission(
                "UTILITY",
                json!([body("Hi {{first_name}}.", json!({"body_text": [["Ana"]]}))]),
            ),
            &[("components[0].text", "invalid_value")],
        );
    }

    #[test]
    fn top_level_fields() {
        assert_problems(
            &json!({"name": "Order Update", "language": "en-US", "category": "PROMO", "parameter_format": "x",
              "allow_category_change": "yes", "components": []}),
            &[
                ("name", "invalid_value"),
                ("language", "invalid_value"),
                ("category", "invalid_value"),
                ("parameter_format", "invalid_value"),
                ("allow_category_change", "invalid_type"),
                ("components", "too_few"),
            ],
        );
        assert_problems(
            &json!({}),
            &[
                ("name", "required"),
                ("language", "required"),
                ("category", "required"),
                ("components", "required"),
            ],
        );
        assert_problems(
            &json!({"name": "a".repeat(513), "language": "en", "category": "MARKETING", "components": [plain_body()]}),
            &[("name", "too_long")],
        );
        assert_problems(&json!([]), &[("", "invalid_type")]);
    }

    #[test]
    fn components_structure() {
        assert_problems(
            &submission(
                "MARKETING",
                json!([
                    {"type": "FOOTER", "text": "f"},
                    {"type": "FOOTER", "text": "g"},
                    {"type": "STICKER"},
                    "x",
                    {"text": "no type"},
                ]),
            ),
            &[
                ("components", "required"),
                ("components[1].type", "duplicate"),
                ("components[2].type", "invalid_value"),
                ("components[3]", "invalid_type"),
                ("components[4].type", "required"),
            ],
        );
        // Carousels are passed through for Meta to judge.
        let t = parse_submission(&submission(
            "MARKETING",
            json!([plain_body(), {"type": "CAROUSEL", "cards": []}]),
        ))
        .unwrap();
        assert_eq!(
            t.to_meta_body()["components"][1],
            json!({"type": "CAROUSEL", "cards": []})
        );
    }

    #[test]
    fn body_examples_are_required_and_counted() {
        let text = "Hi {{1}}, use promo code {{2}} today.";
        assert_problems(
            &submission("MARKETING", json!([{"type": "BODY", "text": text}])),
            &[("components[0].example", "required")],
        );
        assert_problems(
            &submission(
                "MARKETING",
                json!([body(text, json!({"header_text": ["x"]}))]),
            ),
            &[("components[0].example.body_text", "required")],
        );
        let short = submission(
            "MARKETING",
            json!([body(text, json!({"body_text": [["Mark"]]}))]),
        );
        assert_problems(
            &short,
            &[("components[0].example.body_text[0]", "mismatch")],
        );
        assert_eq!(
            message(&short),
            "the body has 2 placeholders but 1 example value was given"
        );
        assert_problems(
            &submission(
                "MARKETING",
                json!([body(text, json!({"body_text": ["Mark", "FALL25"]}))]),
            ),
            &[("components[0].example.body_text", "invalid_type")],
        );
        assert_problems(
            &submission("MARKETING", json!([body(text, json!({"body_text": []}))])),
            &[("components[0].example.body_text", "too_few")],
        );
        assert_problems(
            &submission(
                "MARKETING",
                json!([body(text, json!({"body_text": [["Mark", 25]]}))]),
            ),
            &[("components[0].example.body_text[0][1]", "invalid_type")],
        );
        // No placeholders: no example.
        assert_problems(
            &submission(
                "MARKETING",
                json!([body("Plain.", json!({"body_text": [["x"]]}))]),
            ),
            &[("components[0].example", "mismatch")],
        );
    }

    #[test]
    fn placeholders_are_sequential_and_well_placed() {
        let check = |text: &str, example: Value| {
            problems(&submission(
                "MARKETING",
                json!([body(text, json!({"body_text": [example]}))]),
            ))
        };
        assert_eq!(
            check("Hi {{1}}, code {{3}}.", json!(["a", "b"])),
            vec![("components[0].text".to_owned(), "invalid_value")]
        );
        assert_eq!(
            check("Hi {{2}}, code {{1}} and {{2}}.", json!(["a", "b"])),
            vec![]
        );
        for text in [
            "{{1}} is here.",
            "Here is {{1}}",
            "  {{1}} is here.",
            "Here is {{1}}  ",
            "Hi {{1}} {{2}} there.",
        ] {
            let example = if text.contains("{{2}}") {
                json!(["a", "b"])
            } else {
                json!(["a"])
            };
            assert_eq!(
                check(text, example),
                vec![("components[0].text".to_owned(), "invalid_value")],
                "{text}"
            );
        }
        assert_eq!(
            check("Hi {{ 1 }} there.", json!(["a"])),
            vec![
                ("components[0].example".to_owned(), "mismatch"),
                ("components[0].text".to_owned(), "invalid_value"),
            ]
        );
        assert!(message(&submission(
            "MARKETING",
            json!([body(
                "Hi {{1}}, code {{3}}.",
                json!({"body_text": [["a", "b"]]})
            )])
        ))
        .contains("{{1}}, {{3}}"));
    }

    #[test]
    fn length_limits() {
        let long_body = format!("Hi {{{{1}}}}{}", "x".repeat(1024 - 8));
        assert_eq!(long_body.chars().count(), 1024);
        assert_problems(
            &submission(
                "MARKETING",
                json!([body(&long_body, json!({"body_text": [["a"]]}))]),
            ),
            &[],
        );
        let too_long = format!("{long_body}y");
        assert_problems(
            &submission(
                "MARKETING",
                json!([body(&too_long, json!({"body_text": [["a"]]}))]),
            ),
            &[("components[0].text", "too_long")],
        );
        let header = |text: String| {
            submission(
                "MARKETING",
                json!([{"type": "HEADER", "format": "TEXT", "text": text}, plain_body()]),
            )
        };
        assert_problems(&header("h".repeat(60)), &[]);
        assert_problems(
            &header("h".repeat(61)),
            &[("components[0].text", "too_long")],
        );
        let footer = |text: String| {
            submission(
                "MARKETING",
                json!([plain_body(), {"type": "FOOTER", "text": text}]),
            )
        };
        assert_problems(&footer("f".repeat(60)), &[]);
        assert_problems(
            &footer("f".repeat(61)),
            &[("components[1].text", "too_long")],
        );
        assert_problems(
            &footer("Hi {{1}}.".into()),
            &[("components[1].text", "not_allowed")],
        );
    }

    #[test]
    fn headers() {
        let with = |header: Value| submission("MARKETING", json!([header, plain_body()]));
        assert_problems(
            &with(json!({"type": "HEADER", "format": "TEXT", "text": "Sale for {{1}}!"})),
            &[("components[0].example", "required")],
        );
        assert_problems(
            &with(
                json!({"type": "HEADER", "format": "TEXT", "text": "Sale for {{1}}!", "example": {"header_text": ["a", "b"]}}),
            ),
            &[("components[0].example.header_text", "mismatch")],
        );
        assert_problems(
            &with(
                json!({"type": "HEADER", "format": "TEXT", "text": "{{1}} and {{2}}", "example": {"header_text": ["a", "b"]}}),
            ),
            &[("components[0].text", "too_many")],
        );
        // A header may start or end with its placeholder.
        assert_problems(
            &with(
                json!({"type": "HEADER", "format": "TEXT", "text": "{{1}}", "example": {"header_text": ["Ana"]}}),
            ),
            &[],
        );
        assert_problems(
            &with(json!({"type": "HEADER", "format": "TEXT"})),
            &[("components[0].text", "required")],
        );
        assert_problems(
            &with(json!({"type": "HEADER", "format": "AUDIO"})),
            &[("components[0].format", "invalid_value")],
        );
        assert_problems(
            &with(json!({"type": "HEADER"})),
            &[("components[0].format", "required")],
        );
        for format in ["IMAGE", "VIDEO", "GIF", "DOCUMENT"] {
            assert_problems(
                &with(
                    json!({"type": "HEADER", "format": format, "example": {"header_handle": ["4::h"]}}),
                ),
                &[],
            );
            assert_problems(
                &with(json!({"type": "HEADER", "format": format})),
                &[("components[0].example", "required")],
            );
            assert_problems(
                &with(
                    json!({"type": "HEADER", "format": format, "text": "x", "example": {"header_handle": []}}),
                ),
                &[
                    ("components[0].text", "not_allowed"),
                    ("components[0].example.header_handle", "too_few"),
                ],
            );
        }
        assert_problems(
            &with(json!({"type": "HEADER", "format": "LOCATION", "text": "x"})),
            &[("components[0].text", "not_allowed")],
        );
    }

    #[test]
    fn buttons() {
        let with = |buttons: Value| {
            submission(
                "MARKETING",
                json!([plain_body(), {"type": "BUTTONS", "buttons": buttons}]),
            )
        };
        let quick = |i: usize| json!({"type": "QUICK_REPLY", "text": format!("Option {i}")});
        assert_problems(&with(Value::Array((0..10).map(quick).collect())), &[]);
        assert_problems(
            &with(Value::Array((0..11).map(quick).collect())),
            &[("components[1].buttons", "too_many")],
        );
        assert_problems(&with(json!([])), &[("components[1].buttons", "too_few")]);
        let url = |url: &str, example: Option<Value>| {
            let mut b = json!({"type": "URL", "text": "Open", "url": url});
            if let Some(example) = example {
                b["example"] = example;
            }
            b
        };
        assert_problems(
            &with(json!([
                url("https://x.com/a", None),
                url("https://x.com/t/{{1}}", Some(json!(["abc"]))),
                url("https://x.com/c", None),
            ])),
            &[("components[1].buttons", "too_many")],
        );
        assert_problems(
            &with(json!([
                url("https://x.com/t/{{1}}", None),
                url("https://x.com/{{1}}/t", Some(json!(["a"]))),
            ])),
            &[
                ("components[1].buttons[0].example", "required"),
                ("components[1].buttons[1].url", "invalid_value"),
            ],
        );
        assert_problems(
            &with(json!([
                url("ftp://x.com/", None),
                url("https://x.com/s", Some(json!(["a"])))
            ])),
            &[
                ("components[1].buttons[0].url", "invalid_url"),
                ("components[1].buttons[1].example", "mismatch"),
            ],
        );
        assert_problems(
            &with(json!([
                {"type": "PHONE_NUMBER", "text": "Call", "phone_number": "16467043595"},
                {"type": "PHONE_NUMBER", "text": "Call 2", "phone_number": "12"},
            ])),
            &[
                ("components[1].buttons", "too_many"),
                (
                    "components[1].buttons[1].phone_number",
                    "invalid_phone_number",
                ),
            ],
        );
        assert_problems(
            &with(json!([
                {"type": "COPY_CODE"},
                {"type": "COPY_CODE", "example": "c".repeat(16)},
                {"type": "QUICK_REPLY", "text": "t".repeat(26)},
                {"type": "QUICK_REPLY"},
                {"type": "SMOKE_SIGNAL", "text": "x"},
                {"type": "OTP", "otp_type": "COPY_CODE"},
            ])),
            &[
                ("components[1].buttons", "too_many"),
                ("components[1].buttons[0].example", "required"),
                ("components[1].buttons[1].example", "too_long"),
                ("components[1].buttons[2].text", "too_long"),
                ("components[1].buttons[3].text", "required"),
                ("components[1].buttons[4].type", "invalid_value"),
                ("components[1].buttons[5].type", "not_allowed"),
            ],
        );
        // Flow buttons keep their own fields.
        let t = parse_submission(&with(
            json!([{"type": "FLOW", "text": "Book", "flow_id": "123", "navigate_screen": "A"}]),
        ))
        .unwrap();
        assert_eq!(
            t.to_meta_body()["components"][1]["buttons"][0],
            json!({"type": "FLOW", "text": "Book", "flow_id": "123", "navigate_screen": "A"})
        );
    }

    #[test]
    fn authentication_templates() {
        // The spec's "authentication_code_autofill_button".
        let value = json!({"name": "authentication_code_autofill_button", "language": "en_US", "category": "AUTHENTICATION",
          "components": [
            {"type": "BODY", "add_security_recommendation": true},
            {"type": "FOOTER", "code_expiration_minutes": 10},
            {"type": "BUTTONS", "buttons": [{"type": "OTP", "otp_type": "ONE_TAP", "text": "Copy Code",
              "autofill_text": "Autofill", "package_name": "com.example.luckyshrub", "signature_hash": "K8a%2FAINcGX7"}]}]});
        let t = parse_submission(&value).unwrap();
        let mut expected = value.clone();
        expected["parameter_format"] = json!("POSITIONAL");
        assert_eq!(t.to_meta_body(), expected);

        assert_problems(
            &submission(
                "AUTHENTICATION",
                json!([
                {"type": "BODY", "add_security_recommendation": "yes"},
                {"type": "FOOTER", "code_expiration_minutes": 91},
                {"type": "BUTTONS", "buttons": [
                    {"type": "OTP", "otp_type": "ZERO_TAP"},
                    {"type": "QUICK_REPLY", "text": "No"},
                    {"type": "OTP", "otp_type": "SMS"}]}]),
            ),
            &[
                ("components[0].add_security_recommendation", "invalid_type"),
                ("components[1].code_expiration_minutes", "invalid_value"),
                ("components[2].buttons", "too_many"),
                ("components[2].buttons[0].package_name", "required"),
                ("components[2].buttons[0].signature_hash", "required"),
                ("components[2].buttons[1].type", "not_allowed"),
                ("components[2].buttons[2].otp_type", "invalid_value"),
            ],
        );
        assert_problems(
            &submission("AUTHENTICATION", json!([{"type": "BODY"}])),
            &[("components", "required")],
        );
        assert_problems(
            &submission(
                "MARKETING",
                json!([plain_body(), {"type": "FOOTER", "text": "f", "code_expiration_minutes": 5}]),
            ),
            &[("components[1].code_expiration_minutes", "not_allowed")],
        );
    }
}
