//! The template registry's domain: templates as Meta returns them, the send-time check of a
//! `template` message against its cached template, rendering what the person received, and new
//! template submissions (reference §5).
//!
//! The send-side structure of a `template` message is checked by [`crate::outbound`]; this module
//! only adds what needs the template itself.

mod matching;
mod model;
mod placeholder;
mod render;
mod send;
mod submission;
#[cfg(test)]
mod test_support;

pub use matching::{
    match_send, MAX_BODY_ONLY_TEXT_CHARS, MAX_BODY_TEXT_CHARS, MAX_HEADER_TEXT_CHARS,
};
pub use model::{
    parse_template, parse_template_page, Body, BodyExample, Button, ButtonType, Component, Footer,
    Header, HeaderExample, HeaderFormat, NamedExample, ParameterFormat, Template, TemplateCategory,
    TemplateName, TemplateNameError, TemplatePage, TemplateStatus, MAX_TEMPLATE_NAME_CHARS,
};
pub use placeholder::{placeholders, PlaceholderKey};
pub use render::{render, RenderedTemplate};
pub use submission::{parse_submission, NewTemplate};

/// No template has the send's name and language (the caller's lookup reports it; Meta says 132001).
pub const TEMPLATE_NOT_FOUND: &str = "template_not_found";
/// The template exists but its status is not `APPROVED`.
pub const TEMPLATE_NOT_APPROVED: &str = "template_not_approved";
/// A component has more or fewer parameters than the template has placeholders (Meta: 132000).
pub const TEMPLATE_PARAM_COUNT: &str = "template_param_count";
/// A parameter's type does not fit the template, e.g. text for an IMAGE header (Meta: 132012).
pub const TEMPLATE_PARAM_TYPE: &str = "template_param_type";
/// A `parameter_name` is missing, unknown, repeated, or given to a positional template.
pub const TEMPLATE_PARAM_NAME: &str = "template_param_name";
/// A button component's `index` points past the template's buttons.
pub const TEMPLATE_BUTTON_NOT_FOUND: &str = "template_button_not_found";
/// A button component's `sub_type` does not fit the template's button at that index.
pub const TEMPLATE_BUTTON_TYPE: &str = "template_button_type";
