//! The template object as Meta returns it from `GET /{waba-id}/message_templates`, read leniently
//! and written back in Meta's own shape for storage.

use std::fmt;

use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{json, Map, Value};

use super::placeholder::{self, PlaceholderKey};
use crate::problem::code;
use crate::Problem;

/// Template names are at most this long.
pub const MAX_TEMPLATE_NAME_CHARS: usize = 512;

/// A template name: lowercase letters, digits and underscores, 1–512 characters.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TemplateName(String);

/// Why a string is not a template name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TemplateNameError {
    /// The name is empty.
    #[error("must not be empty")]
    Empty,
    /// The name is longer than 512 characters.
    #[error("must be at most {MAX_TEMPLATE_NAME_CHARS} characters")]
    TooLong,
    /// The name has a character other than `a-z`, `0-9` and `_`.
    #[error("must contain only lowercase letters, digits and underscores")]
    InvalidCharacter,
}

impl TemplateNameError {
    /// The [`Problem`] code for this error.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Empty => code::EMPTY,
            Self::TooLong => code::TOO_LONG,
            Self::InvalidCharacter => code::INVALID_VALUE,
        }
    }
}

impl TemplateName {
    /// Parses a name as Meta requires it.
    pub fn parse(name: &str) -> Result<Self, TemplateNameError> {
        if name.is_empty() {
            return Err(TemplateNameError::Empty);
        }
        // Only ASCII is allowed, so bytes and characters agree.
        if !name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
        {
            return Err(TemplateNameError::InvalidCharacter);
        }
        if name.len() > MAX_TEMPLATE_NAME_CHARS {
            return Err(TemplateNameError::TooLong);
        }
        Ok(Self(name.to_owned()))
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for TemplateName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl Serialize for TemplateName {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for TemplateName {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let name = String::deserialize(d)?;
        Self::parse(&name).map_err(D::Error::custom)
    }
}

/// An enum of Meta's upper-case wire values that keeps values it does not know, since Meta adds
/// statuses and types over time and a cache must not drop templates for that.
macro_rules! wire_enum {
    ($(#[$meta:meta])* $name:ident { $($(#[$vmeta:meta])* $variant:ident = $wire:literal,)* }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash)]
        pub enum $name {
            $($(#[$vmeta])* $variant,)*
            /// A value Chasqui does not know, kept as Meta sent it.
            Other(String),
        }

        impl $name {
            /// Every value Chasqui knows.
            pub const KNOWN: &'static [$name] = &[$(Self::$variant,)*];

            /// The wire value (upper case).
            pub fn as_str(&self) -> &str {
                match self {
                    $(Self::$variant => $wire,)*
                    Self::Other(other) => other,
                }
            }

            /// Parses a wire value case-insensitively; an unknown one becomes [`Self::Other`].
            pub fn parse(value: &str) -> Self {
                match value.to_ascii_uppercase().as_str() {
                    $($wire => Self::$variant,)*
                    _ => Self::Other(value.to_owned()),
                }
            }

            /// Whether this is a value Chasqui knows.
            pub fn is_known(&self) -> bool {
                !matches!(self, Self::Other(_))
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                String::deserialize(d).map(|s| Self::parse(&s))
            }
        }
    };
}

wire_enum! {
    /// A template's category, which decides its price.
    TemplateCategory {
        /// `MARKETING`
        Marketing = "MARKETING",
        /// `UTILITY`
        Utility = "UTILITY",
        /// `AUTHENTICATION`
        Authentication = "AUTHENTICATION",
    }
}

wire_enum! {
    /// A template's review status; only `APPROVED` can be sent.
    TemplateStatus {
        /// `APPROVED`: sendable.
        Approved = "APPROVED",
        /// `PENDING`: in review.
        Pending = "PENDING",
        /// `REJECTED`
        Rejected = "REJECTED",
        /// `PAUSED`: paused for low quality.
        Paused = "PAUSED",
        /// `DISABLED`
        Disabled = "DISABLED",
        /// `IN_APPEAL`
        InAppeal = "IN_APPEAL",
        /// `PENDING_DELETION`
        PendingDeletion = "PENDING_DELETION",
        /// `DELETED`
        Deleted = "DELETED",
        /// `LIMIT_EXCEEDED`
        LimitExceeded = "LIMIT_EXCEEDED",
        /// `ARCHIVED`
        Archived = "ARCHIVED",
        /// `UNARCHIVED`
        Unarchived = "UNARCHIVED",
        /// `LOCKED`
        Locked = "LOCKED",
        /// `REINSTATED`
        Reinstated = "REINSTATED",
        /// `FLAGGED`
        Flagged = "FLAGGED",
    }
}

wire_enum! {
    /// What a header shows, which decides the parameter a send must give it.
    HeaderFormat {
        /// `TEXT`, with at most one placeholder.
        Text = "TEXT",
        /// `IMAGE`
        Image = "IMAGE",
        /// `VIDEO`
        Video = "VIDEO",
        /// `GIF` (an mp4 sent as a video)
        Gif = "GIF",
        /// `DOCUMENT` (PDF only)
        Document = "DOCUMENT",
        /// `LOCATION`
        Location = "LOCATION",
        /// `PRODUCT`
        Product = "PRODUCT",
    }
}

wire_enum! {
    /// A template button's type.
    ButtonType {
        /// `QUICK_REPLY`: returns a payload by webhook.
        QuickReply = "QUICK_REPLY",
        /// `URL`: static, or dynamic with a `{{1}}` suffix.
        Url = "URL",
        /// `PHONE_NUMBER`: calls a number.
        PhoneNumber = "PHONE_NUMBER",
        /// `COPY_CODE`: copies a coupon code.
        CopyCode = "COPY_CODE",
        /// `OTP`: one-time password of authentication templates.
        Otp = "OTP",
        /// `FLOW`: opens a WhatsApp Flow.
        Flow = "FLOW",
        /// `MPM`: multi-product message.
        Mpm = "MPM",
        /// `SPM`: single-product message.
        Spm = "SPM",
        /// `CATALOG`: opens the catalog.
        Catalog = "CATALOG",
        /// `VOICE_CALL`: calls the business on WhatsApp.
        VoiceCall = "VOICE_CALL",
        /// `APP`
        App = "APP",
        /// `CALL_PERMISSION_REQUEST`
        CallPermissionRequest = "CALL_PERMISSION_REQUEST",
        /// `REQUEST_CONTACT_INFO`
        RequestContactInfo = "REQUEST_CONTACT_INFO",
    }
}

/// How a template's placeholders are written: `{{1}}` or `{{first_name}}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum ParameterFormat {
    /// `POSITIONAL` (Meta's default): `{{1}}`, `{{2}}`, …
    #[default]
    Positional,
    /// `NAMED`: `{{first_name}}`; each send parameter carries `parameter_name`.
    Named,
}

impl ParameterFormat {
    /// The wire value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Positional => "POSITIONAL",
            Self::Named => "NAMED",
        }
    }

    /// Parses a wire value case-insensitively.
    pub fn parse(value: &str) -> Option<Self> {
        match value.to_ascii_uppercase().as_str() {
            "POSITIONAL" => Some(Self::Positional),
            "NAMED" => Some(Self::Named),
            _ => None,
        }
    }
}

impl Serialize for ParameterFormat {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for ParameterFormat {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let value = String::deserialize(d)?;
        Self::parse(&value)
            .ok_or_else(|| D::Error::custom(format!("not POSITIONAL or NAMED: {value:?}")))
    }
}

/// One example value of a named placeholder: `{"param_name": "order_id", "example": "860198"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NamedExample {
    /// The placeholder's name, without braces.
    pub param_name: String,
    /// The example value.
    pub example: String,
}

/// The `example` of a header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HeaderExample {
    /// `header_text`: the value of `{{1}}`.
    Text(Vec<String>),
    /// `header_text_named_params`.
    Named(Vec<NamedExample>),
    /// `header_handle`: Resumable Upload handles of the sample media.
    Handle(Vec<String>),
}

/// The `example` of a body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BodyExample {
    /// `body_text`: one row of values for `{{1}}`…`{{n}}` (Meta nests it: `[[..]]`).
    Positional(Vec<String>),
    /// `body_text_named_params`.
    Named(Vec<NamedExample>),
}

/// A `HEADER` component.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    /// What the header shows.
    pub format: HeaderFormat,
    /// The text of a `TEXT` header.
    pub text: Option<String>,
    /// Example values, required at creation when there is a placeholder or media.
    pub example: Option<HeaderExample>,
}

/// A `BODY` component.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Body {
    /// The text with its placeholders (authentication templates get Meta's preset text).
    pub text: Option<String>,
    /// Authentication templates: add Meta's "do not share this code" line.
    pub add_security_recommendation: Option<bool>,
    /// Example values, required at creation when there are placeholders.
    pub example: Option<BodyExample>,
}

/// A `FOOTER` component.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Footer {
    /// The text; footers have no placeholders.
    pub text: Option<String>,
    /// Authentication templates: "this code expires in N minutes".
    pub code_expiration_minutes: Option<u32>,
}

/// One button of a `BUTTONS` component.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Button {
    /// The button type.
    pub kind: ButtonType,
    /// The label (absent on buttons whose label Meta sets).
    pub text: Option<String>,
    /// `URL` buttons: the address, possibly ending in `{{1}}`.
    pub url: Option<String>,
    /// `PHONE_NUMBER` buttons: the number called.
    pub phone_number: Option<String>,
    /// `URL` buttons: the example suffix; `COPY_CODE` buttons: the example code.
    pub example: Option<String>,
    /// Every other field (`otp_type`, `flow_id`, `package_name`, …), kept so nothing is lost.
    pub extra: Map<String, Value>,
}

impl Button {
    /// Whether a `URL` button's address has a placeholder, so each send must give its suffix.
    pub fn is_dynamic_url(&self) -> bool {
        self.kind == ButtonType::Url
            && self
                .url
                .as_deref()
                .is_some_and(|url| !placeholder::placeholders(url).is_empty())
    }

    /// `otp_type` of an `OTP` button (`COPY_CODE`, `ONE_TAP`, `ZERO_TAP`).
    pub fn otp_type(&self) -> Option<&str> {
        self.extra.get("otp_type").and_then(Value::as_str)
    }

    /// The label, or the type when the button has none.
    pub fn label(&self) -> &str {
        self.text.as_deref().unwrap_or_else(|| self.kind.as_str())
    }
}

/// A template component.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Component {
    /// `HEADER`
    Header(Header),
    /// `BODY`
    Body(Body),
    /// `FOOTER`
    Footer(Footer),
    /// `BUTTONS`, in template order (a send addresses them by this position).
    Buttons(Vec<Button>),
    /// `CAROUSEL`, `LIMITED_TIME_OFFER` and others, kept as Meta sent them.
    Other(Value),
}

/// A message template as cached from Meta.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    /// Meta's template id (`hsm_id`).
    pub id: Option<String>,
    /// The name; one name has one template per language.
    pub name: TemplateName,
    /// The locale of this translation (`en_US`, `pt_BR`, …).
    pub language: String,
    /// The category.
    pub category: TemplateCategory,
    /// The review status.
    pub status: TemplateStatus,
    /// Positional or named placeholders.
    pub parameter_format: ParameterFormat,
    /// The components, in Meta's order.
    pub components: Vec<Component>,
}

impl Template {
    /// Only approved templates can be sent.
    pub fn is_sendable(&self) -> bool {
        self.status == TemplateStatus::Approved
    }

    /// The header, if any.
    pub fn header(&self) -> Option<&Header> {
        self.components.iter().find_map(|c| match c {
            Component::Header(h) => Some(h),
            _ => None,
        })
    }

    /// The body, if any.
    pub fn body(&self) -> Option<&Body> {
        self.components.iter().find_map(|c| match c {
            Component::Body(b) => Some(b),
            _ => None,
        })
    }

    /// The footer, if any.
    pub fn footer(&self) -> Option<&Footer> {
        self.components.iter().find_map(|c| match c {
            Component::Footer(f) => Some(f),
            _ => None,
        })
    }

    /// The buttons, in the order a send's `index` counts them.
    pub fn buttons(&self) -> &[Button] {
        self.components
            .iter()
            .find_map(|c| match c {
                Component::Buttons(b) => Some(b.as_slice()),
                _ => None,
            })
            .unwrap_or_default()
    }

    /// The template in Meta's JSON shape, which [`parse_template`] reads back.
    pub fn to_json(&self) -> Value {
        let mut out = Map::new();
        if let Some(id) = &self.id {
            out.insert("id".into(), Value::from(id.as_str()));
        }
        out.insert("name".into(), Value::from(self.name.as_str()));
        out.insert("language".into(), Value::from(self.language.as_str()));
        out.insert("category".into(), Value::from(self.category.as_str()));
        out.insert("status".into(), Value::from(self.status.as_str()));
        out.insert(
            "parameter_format".into(),
            Value::from(self.parameter_format.as_str()),
        );
        out.insert("components".into(), components_json(&self.components));
        Value::Object(out)
    }
}

impl Serialize for Template {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.to_json().serialize(s)
    }
}

impl<'de> Deserialize<'de> for Template {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let value = Value::deserialize(d)?;
        parse_template(&value).map_err(|problems| {
            let list: Vec<String> = problems
                .iter()
                .map(|p| format!("{}: {}", p.field, p.message))
                .collect();
            D::Error::custom(format!("not a template: {}", list.join("; ")))
        })
    }
}

/// One page of `GET /{waba-id}/message_templates`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TemplatePage {
    /// Every item that could be read.
    pub templates: Vec<Template>,
    /// Why the other items were skipped, with paths such as `data[3].name`.
    pub problems: Vec<Problem>,
    /// `paging.cursors.after` when `paging.next` says there is another page.
    pub next_cursor: Option<String>,
}

/// Reads a page of templates; unreadable items are skipped and reported, so one odd template
/// does not hide the others.
pub fn parse_template_page(page: &Value) -> TemplatePage {
    let mut out = TemplatePage::default();
    let Some(items) = page.get("data").and_then(Value::as_array) else {
        out.problems.push(Problem::new(
            "data",
            code::REQUIRED,
            "a page of templates has a `data` array",
        ));
        return out;
    };
    for (i, item) in items.iter().enumerate() {
        match parse_template(item) {
            Ok(template) => out.templates.push(template),
            Err(problems) => out.problems.extend(problems.into_iter().map(|p| Problem {
                field: prefixed(&format!("data[{i}]"), &p.field),
                ..p
            })),
        }
    }
    let paging = page.get("paging");
    if paging.and_then(|p| p.get("next")).is_some() {
        out.next_cursor = paging
            .and_then(|p| p.pointer("/cursors/after"))
            .and_then(Value::as_str)
            .map(str::to_owned);
    }
    out
}

/// `prefix.field`, or `prefix` for the item itself.
fn prefixed(prefix: &str, field: &str) -> String {
    if field.is_empty() {
        prefix.to_owned()
    } else {
        format!("{prefix}.{field}")
    }
}

/// Reads one template of Meta's `data[]`. Only `name`, `language`, `category` and `status` must be
/// present and well formed; unknown fields are ignored and odd components are kept as they are.
pub fn parse_template(value: &Value) -> Result<Template, Vec<Problem>> {
    let Some(obj) = value.as_object() else {
        return Err(vec![Problem::new(
            "",
            code::INVALID_TYPE,
            "a template must be a JSON object",
        )]);
    };
    let mut problems = Vec::new();
    let mut text = |key: &str| match obj.get(key) {
        Some(Value::String(s)) if !s.is_empty() => Some(s.as_str()),
        Some(Value::String(_)) => {
            problems.push(Problem::new(key, code::EMPTY, "must not be empty"));
            None
        }
        None | Some(Value::Null) => {
            problems.push(Problem::new(key, code::REQUIRED, "is required"));
            None
        }
        Some(_) => {
            problems.push(Problem::new(key, code::INVALID_TYPE, "must be a string"));
            None
        }
    };
    let name = text("name");
    let language = text("language").map(str::to_owned);
    let category = text("category").map(TemplateCategory::parse);
    let status = text("status").map(TemplateStatus::parse);
    let name = name.and_then(|name| match TemplateName::parse(name) {
        Ok(name) => Some(name),
        Err(e) => {
            problems.push(Problem::new("name", e.code(), e.to_string()));
            None
        }
    });
    let components: Vec<Component> = obj
        .get("components")
        .and_then(Value::as_array)
        .map(|list| list.iter().map(read_component).collect())
        .unwrap_or_default();
    // Meta omits `parameter_format` on older templates: judge by the placeholders then.
    let parameter_format = obj
        .get("parameter_format")
        .and_then(Value::as_str)
        .and_then(ParameterFormat::parse)
        .unwrap_or_else(|| infer_format(&components));
    match (name, language, category, status) {
        (Some(name), Some(language), Some(category), Some(status)) if problems.is_empty() => {
            Ok(Template {
                id: read_id(obj.get("id")),
                name,
                language,
                category,
                status,
                parameter_format,
                components,
            })
        }
        _ => Err(problems),
    }
}

/// Ids are strings, but a number is read too.
fn read_id(value: Option<&Value>) -> Option<String> {
    match value? {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// NAMED when the header or body has a named placeholder.
fn infer_format(components: &[Component]) -> ParameterFormat {
    let texts = components.iter().filter_map(|c| match c {
        Component::Header(h) => h.text.as_deref(),
        Component::Body(b) => b.text.as_deref(),
        _ => None,
    });
    let named = texts
        .flat_map(placeholder::placeholders)
        .any(|k| matches!(k, PlaceholderKey::Name(_)));
    if named {
        ParameterFormat::Named
    } else {
        ParameterFormat::Positional
    }
}

/// `obj[key]` as a string.
fn string(obj: &Map<String, Value>, key: &str) -> Option<String> {
    obj.get(key).and_then(Value::as_str).map(str::to_owned)
}

/// A string array (skipping anything else).
fn strings(value: &Value) -> Vec<String> {
    value
        .as_array()
        .map(|items| {
            items
                .iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default()
}

/// `[{"param_name", "example"}]` (skipping malformed items).
fn named_examples(value: &Value) -> Vec<NamedExample> {
    value
        .as_array()
        .map(|items| {
            items
                .iter()
                .filter_map(|item| {
                    Some(NamedExample {
                        param_name: item.get("param_name")?.as_str()?.to_owned(),
                        example: item.get("example")?.as_str()?.to_owned(),
                    })
                })
                .collect()
        })
        .unwrap_or_default()
}

/// One component, leniently: what cannot be read as a known component is kept raw.
fn read_component(value: &Value) -> Component {
    let Some(obj) = value.as_object() else {
        return Component::Other(value.clone());
    };
    let kind = obj
        .get("type")
        .and_then(Value::as_str)
        .map(str::to_ascii_uppercase);
    match kind.as_deref() {
        Some("HEADER") => Component::Header(read_header(obj)),
        Some("BODY") => Component::Body(read_body(obj)),
        Some("FOOTER") => Component::Footer(Footer {
            text: string(obj, "text"),
            code_expiration_minutes: obj
                .get("code_expiration_minutes")
                .and_then(Value::as_u64)
                .and_then(|n| u32::try_from(n).ok()),
        }),
        Some("BUTTONS") => Component::Buttons(
            obj.get("buttons")
                .and_then(Value::as_array)
                .map(|list| list.iter().filter_map(read_button).collect())
                .unwrap_or_default(),
        ),
        _ => Component::Other(value.clone()),
    }
}

/// A header; a missing `format` means TEXT when there is text.
fn read_header(obj: &Map<String, Value>) -> Header {
    let text = string(obj, "text");
    let format = match obj.get("format").and_then(Value::as_str) {
        Some(format) => HeaderFormat::parse(format),
        None if text.is_some() => HeaderFormat::Text,
        None => HeaderFormat::Other(String::new()),
    };
    let example = obj.get("example").and_then(|e| {
        if let Some(handles) = e.get("header_handle") {
            Some(HeaderExample::Handle(strings(handles)))
        } else if let Some(named) = e.get("header_text_named_params") {
            Some(HeaderExample::Named(named_examples(named)))
        } else {
            e.get("header_text")
                .map(|texts| HeaderExample::Text(strings(texts)))
        }
    });
    Header {
        format,
        text,
        example,
    }
}

/// A body.
fn read_body(obj: &Map<String, Value>) -> Body {
    let example = obj.get("example").and_then(|e| {
        if let Some(named) = e.get("body_text_named_params") {
            Some(BodyExample::Named(named_examples(named)))
        } else {
            // `[[..]]`: Meta only uses the first row.
            e.get("body_text")
                .map(|rows| BodyExample::Positional(rows.get(0).map(strings).unwrap_or_default()))
        }
    });
    Body {
        text: string(obj, "text"),
        add_security_recommendation: obj
            .get("add_security_recommendation")
            .and_then(Value::as_bool),
        example,
    }
}

/// Button fields with a typed home; the rest go to [`Button::extra`].
const BUTTON_FIELDS: [&str; 5] = ["type", "text", "url", "phone_number", "example"];

/// A button; one without a `type` is dropped, since it cannot be addressed meaningfully.
fn read_button(value: &Value) -> Option<Button> {
    let obj = value.as_object()?;
    let kind = ButtonType::parse(obj.get("type")?.as_str()?);
    // URL examples are `["suffix"]`, COPY_CODE examples a plain string.
    let example = match obj.get("example") {
        Some(Value::String(s)) => Some(s.clone()),
        Some(Value::Array(items)) => items.first().and_then(Value::as_str).map(str::to_owned),
        _ => None,
    };
    let extra = obj
        .iter()
        .filter(|(k, _)| !BUTTON_FIELDS.contains(&k.as_str()))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    Some(Button {
        kind,
        text: string(obj, "text"),
        url: string(obj, "url"),
        phone_number: string(obj, "phone_number"),
        example,
        extra,
    })
}

/// Components in Meta's shape.
pub(super) fn components_json(components: &[Component]) -> Value {
    Value::Array(components.iter().map(Component::to_json).collect())
}

impl Component {
    /// The component in Meta's shape.
    pub fn to_json(&self) -> Value {
        match self {
            Self::Header(h) => {
                let mut out = Map::new();
                out.insert("type".into(), json!("HEADER"));
                out.insert("format".into(), Value::from(h.format.as_str()));
                insert_opt(&mut out, "text", h.text.as_deref());
                if let Some(example) = &h.example {
                    let example = match example {
                        HeaderExample::Text(texts) => json!({"header_text": texts}),
                        HeaderExample::Named(named) => json!({"header_text_named_params": named}),
                        HeaderExample::Handle(handles) => json!({"header_handle": handles}),
                    };
                    out.insert("example".into(), example);
                }
                Value::Object(out)
            }
            Self::Body(b) => {
                let mut out = Map::new();
                out.insert("type".into(), json!("BODY"));
                insert_opt(&mut out, "text", b.text.as_deref());
                if let Some(add) = b.add_security_recommendation {
                    out.insert("add_security_recommendation".into(), Value::from(add));
                }
                if let Some(example) = &b.example {
                    let example = match example {
                        BodyExample::Positional(row) => json!({"body_text": [row]}),
                        BodyExample::Named(named) => json!({"body_text_named_params": named}),
                    };
                    out.insert("example".into(), example);
                }
                Value::Object(out)
            }
            Self::Footer(f) => {
                let mut out = Map::new();
                out.insert("type".into(), json!("FOOTER"));
                insert_opt(&mut out, "text", f.text.as_deref());
                if let Some(minutes) = f.code_expiration_minutes {
                    out.insert("code_expiration_minutes".into(), Value::from(minutes));
                }
                Value::Object(out)
            }
            Self::Buttons(buttons) => json!({
                "type": "BUTTONS",
                "buttons": buttons.iter().map(Button::to_json).collect::<Vec<_>>(),
            }),
            Self::Other(raw) => raw.clone(),
        }
    }
}

impl Button {
    /// The button in Meta's shape.
    pub fn to_json(&self) -> Value {
        let mut out = self.extra.clone();
        out.insert("type".into(), Value::from(self.kind.as_str()));
        insert_opt(&mut out, "text", self.text.as_deref());
        insert_opt(&mut out, "url", self.url.as_deref());
        insert_opt(&mut out, "phone_number", self.phone_number.as_deref());
        if let Some(example) = &self.example {
            let example = if self.kind == ButtonType::Url {
                json!([example])
            } else {
                json!(example)
            };
            out.insert("example".into(), example);
        }
        Value::Object(out)
    }
}

/// Inserts `key` only when there is a value.
fn insert_opt(out: &mut Map<String, Value>, key: &str, value: Option<&str>) {
    if let Some(value) = value {
        out.insert(key.into(), Value::from(value));
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_support::reference_template;
    use super::*;

    #[test]
    fn template_names() {
        assert!(TemplateName::parse("order_update_2").is_ok());
        assert!(TemplateName::parse(&"a".repeat(512)).is_ok());
        assert_eq!(
            TemplateName::parse(&"a".repeat(513)),
            Err(TemplateNameError::TooLong)
        );
        assert_eq!(TemplateName::parse(""), Err(TemplateNameError::Empty));
        for bad in ["Order", "order-update", "order update", "pedido_ñ"] {
            assert_eq!(
                TemplateName::parse(bad),
                Err(TemplateNameError::InvalidCharacter),
                "{bad}"
            );
        }
        let name: TemplateName = serde_json::from_value(json!("abc")).unwrap();
        assert_eq!(serde_json::to_value(&name).unwrap(), json!("abc"));
        assert!(serde_json::from_value::<TemplateName>(json!("A")).is_err());
    }

    #[test]
    fn wire_enums_keep_unknown_values() {
        assert_eq!(TemplateStatus::parse("approved"), TemplateStatus::Approved);
        assert_eq!(TemplateStatus::parse("IN_APPEAL"), TemplateStatus::InAppeal);
        assert_eq!(
            TemplateStatus::parse("SOMETHING_NEW"),
            TemplateStatus::Other("SOMETHING_NEW".into())
        );
        assert_eq!(
            TemplateCategory::parse("ACCOUNT_UPDATE").as_str(),
            "ACCOUNT_UPDATE"
        );
        assert!(!TemplateCategory::parse("ACCOUNT_UPDATE").is_known());
        for status in TemplateStatus::KNOWN {
            assert_eq!(&TemplateStatus::parse(status.as_str()), status);
        }
        for kind in ButtonType::KNOWN {
            let json = serde_json::to_value(kind).unwrap();
            assert_eq!(&serde_json::from_value::<ButtonType>(json).unwrap(), kind);
        }
        assert_eq!(
            ParameterFormat::parse("named"),
            Some(ParameterFormat::Named)
        );
        assert_eq!(ParameterFormat::parse("other"), None);
        let named: ParameterFormat = serde_json::from_value(json!("NAMED")).unwrap();
        assert_eq!(serde_json::to_value(named).unwrap(), json!("NAMED"));
        assert!(serde_json::from_value::<ParameterFormat>(json!("x")).is_err());
    }

    #[test]
    fn parses_the_reference_template() {
        let t = parse_template(&reference_template()).unwrap();
        assert_eq!(t.id.as_deref(), Some("920070352646140"));
        assert_eq!(t.name.as_str(), "2023_april_promo");
        assert_eq!(t.language, "en_US");
        assert_eq!(t.status, TemplateStatus::Approved);
        assert!(t.is_sendable());
        assert_eq!(t.category, TemplateCategory::Marketing);
        assert_eq!(t.parameter_format, ParameterFormat::Positional);
        let header = t.header().unwrap();
        assert_eq!(header.format, HeaderFormat::Text);
        assert_eq!(header.text.as_deref(), Some("Fall Sale"));
        let body = t.body().unwrap();
        assert_eq!(
            body.example,
            Some(BodyExample::Positional(vec![
                "Mark".into(),
                "FALL25".into()
            ]))
        );
        assert_eq!(
            t.footer().unwrap().text.as_deref(),
            Some("Tap Stop Promotions to opt out")
        );
        assert_eq!(t.buttons().len(), 1);
        assert_eq!(t.buttons()[0].kind, ButtonType::QuickReply);
        assert_eq!(t.buttons()[0].label(), "Stop promotions");
    }

    #[test]
    fn round_trips_through_json_for_storage() {
        let t = parse_template(&reference_template()).unwrap();
        let stored = serde_json::to_string(&t).unwrap();
        let back: Template = serde_json::from_str(&stored).unwrap();
        assert_eq!(back, t);

        let rich = json!({"name":"rich","language":"pt_BR","status":"PAUSED","category":"UTILITY",
          "parameter_format":"NAMED",
          "components":[
            {"type":"HEADER","format":"IMAGE","example":{"header_handle":["4::abc"]}},
            {"type":"BODY","text":"Oi {{first_name}}","example":{"body_text_named_params":[{"param_name":"first_name","example":"Ana"}]}},
            {"type":"BUTTONS","buttons":[
              {"type":"URL","text":"Track","url":"https://x.com/t/{{1}}","example":["abc"]},
              {"type":"COPY_CODE","example":"FALL25"},
              {"type":"PHONE_NUMBER","text":"Call","phone_number":"16467043595"},
              {"type":"FLOW","text":"Open","flow_id":"123","navigate_screen":"A"}]},
            {"type":"CAROUSEL","cards":[{"components":[]}]},
            {"type":"LIMITED_TIME_OFFER","limited_time_offer":{"text":"Hurry"}}]});
        let t = parse_template(&rich).unwrap();
        assert_eq!(t.status, TemplateStatus::Paused);
        assert_eq!(t.buttons()[3].extra.get("flow_id"), Some(&json!("123")));
        assert!(t.buttons()[0].is_dynamic_url());
        assert!(matches!(t.components[3], Component::Other(_)));
        let back: Template = serde_json::from_value(serde_json::to_value(&t).unwrap()).unwrap();
        assert_eq!(back, t);
        // The stored JSON is Meta's own shape.
        assert_eq!(
            t.to_json()["components"][2]["buttons"][0],
            json!({"type":"URL","text":"Track","url":"https://x.com/t/{{1}}","example":["abc"]})
        );
        assert_eq!(
            t.to_json()["components"][2]["buttons"][1],
            json!({"type":"COPY_CODE","example":"FALL25"})
        );
    }

    #[test]
    fn lenient_with_unknown_fields_and_odd_components() {
        let t = parse_template(&json!({
            "id": 42, "name": "x", "language": "en", "status": "NEW_STATUS", "category": "FUTURE",
            "quality_score": {"score": "GREEN"}, "rejected_reason": "NONE",
            "components": [
                "nonsense",
                {"type": "body", "text": "Hello {{name}}", "unknown": 1},
                {"type": "HEADER", "text": "Hi"},
                {"type": "BUTTONS", "buttons": [{"text": "no type"}, {"type": "QUICK_REPLY", "text": "Ok"}]},
            ],
        }))
        .unwrap();
        assert_eq!(t.id.as_deref(), Some("42"));
        assert_eq!(t.status, TemplateStatus::Other("NEW_STATUS".into()));
        assert!(!t.is_sendable());
        assert_eq!(t.category, TemplateCategory::Other("FUTURE".into()));
        // No parameter_format: named placeholders make it NAMED.
        assert_eq!(t.parameter_format, ParameterFormat::Named);
        assert_eq!(t.components[0], Component::Other(json!("nonsense")));
        assert_eq!(t.header().unwrap().format, HeaderFormat::Text);
        assert_eq!(t.buttons().len(), 1);
    }

    #[test]
    fn refuses_templates_without_identity() {
        let problems =
            parse_template(&json!({"name": "Bad Name", "language": 3, "status": ""})).unwrap_err();
        let got: Vec<(&str, &str)> = problems
            .iter()
            .map(|p| (p.field.as_str(), p.code))
            .collect();
        assert_eq!(
            got,
            vec![
                ("language", "invalid_type"),
                ("category", "required"),
                ("status", "empty"),
                ("name", "invalid_value"),
            ]
        );
        assert_eq!(
            parse_template(&json!([])).unwrap_err()[0].code,
            "invalid_type"
        );
        assert!(serde_json::from_value::<Template>(json!({"name": "x"})).is_err());
    }

    #[test]
    fn reads_a_page() {
        let page = parse_template_page(&json!({
            "data": [reference_template(), {"name": "x"}],
            "paging": {"cursors": {"before": "B", "after": "A"}, "next": "https://graph..."},
        }));
        assert_eq!(page.templates.len(), 1);
        assert_eq!(page.next_cursor.as_deref(), Some("A"));
        let fields: Vec<&str> = page.problems.iter().map(|p| p.field.as_str()).collect();
        assert_eq!(
            fields,
            vec!["data[1].language", "data[1].category", "data[1].status"]
        );
        let last = parse_template_page(&json!({"data": [], "paging": {"cursors": {"after": "A"}}}));
        assert_eq!(last.next_cursor, None);
        let bad = parse_template_page(&json!({}));
        assert_eq!(bad.problems[0].field, "data");
    }
}
