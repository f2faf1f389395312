//! One reason a request was refused, naming the field it concerns.

use serde::Serialize;

/// A validation problem: the JSON path of the field, a stable machine code and a message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[schema(as = FieldProblem)]
pub struct Problem {
    /// JSON path of the offending field, e.g. `interactive.action.buttons[1].reply.title`.
    pub field: String,
    /// Stable machine code, e.g. `too_long`, `required`, `invalid_phone_number`.
    #[schema(value_type = String, example = "too_long")]
    pub code: &'static str,
    /// Human-readable explanation naming the limit that was broken.
    pub message: String,
}

impl Problem {
    /// Builds a problem for `field` with `code` and `message`.
    pub fn new(field: impl Into<String>, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            code,
            message: message.into(),
        }
    }
}

/// The stable machine codes a [`Problem`] can carry, so callers can match on them by name.
pub mod code {
    /// A required field is missing (or `null`).
    pub const REQUIRED: &str = "required";
    /// The field has the wrong JSON type.
    pub const INVALID_TYPE: &str = "invalid_type";
    /// A string that must carry text is empty or blank.
    pub const EMPTY: &str = "empty";
    /// A string is longer than WhatsApp allows.
    pub const TOO_LONG: &str = "too_long";
    /// An array has more items than allowed.
    pub const TOO_MANY: &str = "too_many";
    /// An array has fewer items than required.
    pub const TOO_FEW: &str = "too_few";
    /// The value is not one of the accepted values or forms.
    pub const INVALID_VALUE: &str = "invalid_value";
    /// Exactly one of a set of alternative fields must be given.
    pub const EXACTLY_ONE_OF: &str = "exactly_one_of";
    /// A known field that is not allowed in this kind of object.
    pub const NOT_ALLOWED: &str = "not_allowed";
    /// A field WhatsApp does not know here.
    pub const UNKNOWN_FIELD: &str = "unknown_field";
    /// The recipient is not a valid phone number.
    pub const INVALID_PHONE_NUMBER: &str = "invalid_phone_number";
    /// A value that must be unique appears more than once.
    pub const DUPLICATE: &str = "duplicate";
    /// Not an http or https URL.
    pub const INVALID_URL: &str = "invalid_url";
    /// A URL Chasqui would fetch points to an internal address (loopback, private, ...).
    pub const FORBIDDEN_URL: &str = "forbidden_url";
    /// A field Chasqui sets itself.
    pub const RESERVED: &str = "reserved";
    /// Parts that must agree with each other do not.
    pub const MISMATCH: &str = "mismatch";
}
