//! Send-time check of a `template` message against the cached template (reference §5.4): what
//! Meta would otherwise refuse with 132000, 132001 or 132012 after a round trip.

use std::collections::HashSet;

use serde_json::Value;

use super::model::{Button, ButtonType, HeaderFormat, ParameterFormat, Template};
use super::placeholder::{self, PlaceholderKey};
use super::render::fill_text;
use super::send::{
    self, item, join, parameter_name, parameter_type, SendButton, SendComponent, SendView, ROOT,
};
use super::{
    TEMPLATE_BUTTON_NOT_FOUND, TEMPLATE_BUTTON_TYPE, TEMPLATE_NOT_APPROVED, TEMPLATE_PARAM_COUNT,
    TEMPLATE_PARAM_NAME, TEMPLATE_PARAM_TYPE,
};
use crate::problem::code;
use crate::Problem;

/// A filled header text is at most this long.
pub const MAX_HEADER_TEXT_CHARS: usize = 60;
/// A filled body is at most this long when the template has other components.
pub const MAX_BODY_TEXT_CHARS: usize = 1024;
/// A filled body is at most this long when the template is only a body.
pub const MAX_BODY_ONLY_TEXT_CHARS: usize = 32768;

/// Checks that `send` (the outbound `template` object, already through the send-side structure
/// checks) fits `template`: approved, the same name and language, and header, body and button
/// parameters that match the template's placeholders and formats in count, type, name and length.
/// Every problem is returned at once, with paths such as `template.components[1].parameters`.
pub fn match_send(template: &Template, send: &Value) -> Result<(), Vec<Problem>> {
    let view = send::read(send);
    let mut m = Matcher {
        template,
        problems: Vec::new(),
    };
    m.status();
    m.identity(&view);
    m.header(view.header.as_ref());
    m.body(view.body.as_ref());
    m.buttons(&view.buttons);
    if m.problems.is_empty() {
        Ok(())
    } else {
        Err(m.problems)
    }
}

/// Collects the problems of one send.
struct Matcher<'t> {
    template: &'t Template,
    problems: Vec<Problem>,
}

impl Matcher<'_> {
    fn report(&mut self, field: impl Into<String>, code: &'static str, message: impl Into<String>) {
        self.problems.push(Problem::new(field, code, message));
    }

    fn status(&mut self) {
        if !self.template.is_sendable() {
            let t = self.template;
            let message = format!(
                "template \"{}\" ({}) is {}; only APPROVED templates can be sent",
                t.name, t.language, t.status
            );
            self.report(join(ROOT, "name"), TEMPLATE_NOT_APPROVED, message);
        }
    }

    /// The caller looks the template up by name and language; a different one is a caller bug.
    fn identity(&mut self, view: &SendView<'_>) {
        let t = self.template;
        if let Some(name) = view.name.filter(|n| *n != t.name.as_str()) {
            let message = format!("is \"{name}\" but the template checked is \"{}\"", t.name);
            self.report(join(ROOT, "name"), code::MISMATCH, message);
        }
        if let Some(language) = view.language.filter(|l| *l != t.language) {
            let message = format!(
                "is \"{language}\" but the template checked is in \"{}\"",
                t.language
            );
            self.report(join(ROOT, "language.code"), code::MISMATCH, message);
        }
    }

    /// Reports a parameter count mismatch at the component's parameters, or at `components`
    /// when the send left the component out.
    fn count(
        &mut self,
        sent_path: Option<String>,
        label: &str,
        expected: usize,
        given: usize,
        hint: &str,
    ) {
        let field = sent_path.unwrap_or_else(|| join(ROOT, "components"));
        let noun = if expected == 1 {
            "parameter"
        } else {
            "parameters"
        };
        let mut message = format!("{label}: expected {expected} {noun}, given {given}");
        if !hint.is_empty() {
            message.push_str(&format!(" ({hint})"));
        }
        self.report(field, TEMPLATE_PARAM_COUNT, message);
    }

    fn header(&mut self, sent: Option<&SendComponent<'_>>) {
        let given = sent.map_or(0, |s| s.parameters.len());
        let sent_path = sent.map(SendComponent::parameters_path);
        let Some(header) = self.template.header() else {
            if given > 0 {
                self.count(sent_path, "header", 0, given, "the template has no header");
            }
            return;
        };
        let text = header.text.as_deref().unwrap_or_default();
        // The parameter type each header format takes; GIF headers are mp4 videos.
        let (expected, types): (usize, &[&str]) = match &header.format {
            HeaderFormat::Text => (placeholder::parameter_count(text), &["text"]),
            HeaderFormat::Image => (1, &["image"]),
            HeaderFormat::Video => (1, &["video"]),
            HeaderFormat::Gif => (1, &["video", "gif"]),
            HeaderFormat::Document => (1, &["document"]),
            HeaderFormat::Location => (1, &["location"]),
            HeaderFormat::Product => (1, &["product"]),
            // An unknown format: nothing is known about what it takes.
            HeaderFormat::Other(_) => return,
        };
        if given != expected {
            let hint = match &header.format {
                HeaderFormat::Text if expected == 0 => "the header text has no placeholder".into(),
                HeaderFormat::Text => "the header text has a placeholder".into(),
                format => format!(
                    "the template's header is {format}, so each send gives the {}",
                    types[0]
                ),
            };
            self.count(sent_path, "header", expected, given, &hint);
            return;
        }
        let Some(sent) = sent else { return };
        let mut types_ok = true;
        for (j, parameter) in sent.parameters.iter().enumerate() {
            // A missing type is the send-side validator's to report.
            let Some(kind) = parameter_type(parameter) else {
                types_ok = false;
                continue;
            };
            if !types.contains(&kind) {
                types_ok = false;
                let field = join(&item(&sent.parameters_path(), j), "type");
                let message = format!(
                    "the template's header is {}, so its parameter must be of type {}, not {kind}",
                    header.format,
                    types.join(" or ")
                );
                self.report(field, TEMPLATE_PARAM_TYPE, message);
            }
        }
        if types_ok && header.format == HeaderFormat::Text {
            self.text_parameters("header", text, sent, MAX_HEADER_TEXT_CHARS);
        }
    }

    fn body(&mut self, sent: Option<&SendComponent<'_>>) {
        let text = self
            .template
            .body()
            .and_then(|b| b.text.as_deref())
            .unwrap_or_default();
        let expected = placeholder::parameter_count(text);
        let given = sent.map_or(0, |s| s.parameters.len());
        if given != expected {
            let hint = match placeholder::placeholders(text).as_slice() {
                [] => "the template's body has no placeholders".to_owned(),
                keys => format!("the template's body has {}", list(keys)),
            };
            let sent_path = sent.map(SendComponent::parameters_path);
            self.count(sent_path, "body", expected, given, &hint);
            return;
        }
        let Some(sent) = sent else { return };
        // Long parameters are only allowed when the template is nothing but a body.
        let body_only = self
            .template
            .components
            .iter()
            .all(|c| matches!(c, super::model::Component::Body(_)));
        let max = if body_only {
            MAX_BODY_ONLY_TEXT_CHARS
        } else {
            MAX_BODY_TEXT_CHARS
        };
        self.text_parameters("body", text, sent, max);
    }

    /// Names of a header or body's parameters (counts already match), then the filled length.
    fn text_parameters(&mut self, label: &str, text: &str, sent: &SendComponent<'_>, max: usize) {
        let keys = placeholder::placeholders(text);
        let parameters_path = sent.parameters_path();
        let mut names_ok = true;
        match self.template.parameter_format {
            ParameterFormat::Named => {
                let mut seen = HashSet::new();
                for (j, parameter) in sent.parameters.iter().enumerate() {
                    let field = join(&item(&parameters_path, j), "parameter_name");
                    let message = match parameter_name(parameter) {
                        None => format!(
                            "is required: the template's {label} has named placeholders {}",
                            list(&keys)
                        ),
                        Some(name) if !keys.contains(&PlaceholderKey::Name(name.to_owned())) => {
                            format!(
                                "the template's {label} has no {{{{{name}}}}}; it has {}",
                                list(&keys)
                            )
                        }
                        Some(name) if !seen.insert(name) => {
                            format!("{{{{{name}}}}} is given more than once")
                        }
                        Some(_) => continue,
                    };
                    names_ok = false;
                    self.report(field, TEMPLATE_PARAM_NAME, message);
                }
            }
            ParameterFormat::Positional => {
                for (j, parameter) in sent.parameters.iter().enumerate() {
                    if parameter_name(parameter).is_some() {
                        names_ok = false;
                        let field = join(&item(&parameters_path, j), "parameter_name");
                        let message = format!(
                            "is not allowed: the template's {label} has positional placeholders ({}), filled in order",
                            list(&keys)
                        );
                        self.report(field, TEMPLATE_PARAM_NAME, message);
                    }
                }
            }
        }
        if names_ok {
            let filled = fill_text(text, sent.parameters).chars().count();
            if filled > max {
                let message = format!(
                    "the {label} with its parameters would be {filled} characters; at most {max} are allowed"
                );
                self.report(parameters_path, code::TOO_LONG, message);
            }
        }
    }

    fn buttons(&mut self, sent: &[SendButton<'_>]) {
        let buttons = self.template.buttons();
        let mut addressed = HashSet::new();
        for b in sent {
            // A missing or malformed index is the send-side validator's to report.
            let Some(index) = b.index else { continue };
            let Some(button) = buttons.get(index) else {
                let message = match buttons.len() {
                    0 => "the template has no buttons".to_owned(),
                    1 => format!("the template has no button {index}; its only button is 0"),
                    n => format!(
                        "the template has no button {index}; its buttons are 0 to {}",
                        n - 1
                    ),
                };
                self.report(join(&b.path, "index"), TEMPLATE_BUTTON_NOT_FOUND, message);
                continue;
            };
            addressed.insert(index);
            let Some(sub_type) = b.sub_type else { continue };
            let label = format!("button {index} ({})", button.kind);
            match send_sub_type(&button.kind) {
                SubType::Takes(expected) if expected != sub_type => {
                    let message = format!(
                        "{label} \"{}\" is addressed with sub_type {expected}, not {sub_type}",
                        button.label()
                    );
                    self.report(join(&b.path, "sub_type"), TEMPLATE_BUTTON_TYPE, message);
                    continue;
                }
                SubType::None => {
                    let message = format!(
                        "{label} \"{}\" takes nothing at send time; leave this component out",
                        button.label()
                    );
                    self.report(join(&b.path, "sub_type"), TEMPLATE_BUTTON_TYPE, message);
                    continue;
                }
                SubType::Takes(_) | SubType::Unknown => {}
            }
            if let Some(expected) = parameters_when_addressed(button) {
                let given = b.parameters.len();
                if given != expected {
                    let hint = if button.kind == ButtonType::Url {
                        "its URL has no placeholder, so leave this component out"
                    } else {
                        ""
                    };
                    let path = Some(join(&b.path, "parameters"));
                    self.count(path, &label, expected, given, hint);
                }
            }
        }
        for (index, button) in buttons.iter().enumerate() {
            let required = parameters_required(button);
            if required > 0 && !addressed.contains(&index) {
                let label = format!("button {index} ({})", button.kind);
                let hint = match button.kind {
                    ButtonType::CopyCode => "give its coupon_code in a copy_code button component",
                    ButtonType::Otp => "give the code in a url button component",
                    _ => "give its URL suffix in a url button component",
                };
                self.count(None, &label, required, 0, hint);
            }
        }
    }
}

/// The `sub_type` a send uses for a template button.
enum SubType {
    /// This sub type.
    Takes(&'static str),
    /// The button has no send-time component (phone number, app buttons…).
    None,
    /// A button type Chasqui does not know.
    Unknown,
}

/// Authentication OTP buttons are filled through a `url` component (reference §1.3).
fn send_sub_type(kind: &ButtonType) -> SubType {
    match kind {
        ButtonType::QuickReply => SubType::Takes("quick_reply"),
        ButtonType::Url | ButtonType::Otp => SubType::Takes("url"),
        ButtonType::CopyCode => SubType::Takes("copy_code"),
        ButtonType::Flow => SubType::Takes("flow"),
        ButtonType::Catalog => SubType::Takes("catalog"),
        ButtonType::Mpm => SubType::Takes("mpm"),
        ButtonType::VoiceCall => SubType::Takes("voice_call"),
        ButtonType::PhoneNumber => SubType::None,
        _ => SubType::Unknown,
    }
}

/// How many parameters a button component must carry, where the template decides it (the send
/// side already fixes one parameter for quick_reply and copy_code).
fn parameters_when_addressed(button: &Button) -> Option<usize> {
    match button.kind {
        ButtonType::Url => Some(usize::from(button.is_dynamic_url())),
        ButtonType::Otp => Some(1),
        _ => None,
    }
}

/// How many parameters a button needs even when the send does not mention it.
fn parameters_required(button: &Button) -> usize {
    match button.kind {
        ButtonType::Url => usize::from(button.is_dynamic_url()),
        ButtonType::CopyCode | ButtonType::Otp => 1,
        _ => 0,
    }
}

/// `{{1}}, {{2}}`.
fn list(keys: &[PlaceholderKey]) -> String {
    let keys: Vec<String> = keys.iter().map(ToString::to_string).collect();
    keys.join(", ")
}

#[cfg(test)]
mod tests {
    use super::super::test_support::*;
    use super::*;
    use serde_json::json;

    /// (field, code) of every problem, sorted.
    fn problems(template: &Template, send: &Value) -> Vec<(String, &'static str)> {
        let mut got: Vec<(String, &'static str)> = match match_send(template, send) {
            Ok(()) => Vec::new(),
            Err(problems) => problems.into_iter().map(|p| (p.field, p.code)).collect(),
        };
        got.sort();
        got
    }

    fn assert_problems(template: &Template, send: &Value, expected: &[(&str, &str)]) {
        let got = problems(template, send);
        let mut expected: Vec<(String, &str)> = expected
            .iter()
            .map(|(f, c)| ((*f).to_owned(), *c))
            .collect();
        expected.sort();
        assert_eq!(got, expected, "for {send}");
    }

    /// The messages of every problem.
    fn messages(template: &Template, send: &Value) -> Vec<String> {
        match match_send(template, send) {
            Ok(()) => Vec::new(),
            Err(problems) => problems.into_iter().map(|p| p.message).collect(),
        }
    }

    fn send(components: Value) -> Value {
        // No name or language: the identity check has its own test.
        json!({"components": components})
    }

    fn body(parameters: Value) -> Value {
        json!({"type": "body", "parameters": parameters})
    }

    fn header(parameter: Value) -> Value {
        json!({"type": "header", "parameters": [parameter]})
    }

    fn text(value: &str) -> Value {
        json!({"type": "text", "text": value})
    }

    fn named(name: &str, value: &str) -> Value {
        json!({"type": "text", "parameter_name": name, "text": value})
    }

    fn button(sub_type: &str, index: Value, parameters: Value) -> Value {
        json!({"type": "button", "sub_type": sub_type, "index": index, "parameters": parameters})
    }

    #[test]
    fn accepts_a_matching_positional_send() {
        let t = template(reference_template());
        let s = json!({"name": "2023_april_promo", "language": {"code": "en_US", "policy": "deterministic"},
        "components": [
            body(json!([text("Mark"), {"type": "currency", "currency": {"fallback_value": "$1", "code": "USD", "amount_1000": 1000}}])),
            button("quick_reply", json!("0"), json!([{"type": "payload", "payload": "STOP"}])),
        ]});
        assert_eq!(match_send(&t, &s), Ok(()));
    }

    #[test]
    fn refuses_templates_that_are_not_approved() {
        for status in [
            "PENDING",
            "REJECTED",
            "PAUSED",
            "DISABLED",
            "IN_APPEAL",
            "SOMETHING_NEW",
        ] {
            let mut value = reference_template();
            value["status"] = json!(status);
            let t = template(value);
            let s = send(json!([body(json!([text("a"), text("b")]))]));
            let problems = match_send(&t, &s).unwrap_err();
            assert_eq!(problems.len(), 1, "{status}");
            assert_eq!(problems[0].code, TEMPLATE_NOT_APPROVED);
            assert_eq!(problems[0].field, "template.name");
            assert!(
                problems[0].message.contains(status),
                "{}",
                problems[0].message
            );
        }
    }

    #[test]
    fn name_and_language_must_be_the_templates() {
        let t = template(reference_template());
        let s = json!({"name": "other", "language": {"code": "pt_BR"},
            "components": [body(json!([text("a"), text("b")]))]});
        assert_problems(
            &t,
            &s,
            &[
                ("template.name", "mismatch"),
                ("template.language.code", "mismatch"),
            ],
        );
    }

    #[test]
    fn body_count_names_expected_and_given() {
        let t = template(reference_template());
        let s = send(json!([body(json!([text("a"), text("b"), text("c")]))]));
        assert_problems(
            &t,
            &s,
            &[("template.components[0].parameters", TEMPLATE_PARAM_COUNT)],
        );
        let message = &messages(&t, &s)[0];
        assert!(
            message.starts_with("body: expected 2 parameters, given 3"),
            "{message}"
        );
        assert!(message.contains("{{1}}, {{2}}"), "{message}");

        // Leaving the body out entirely is a count problem at `components`.
        let s = send(json!([]));
        assert_problems(&t, &s, &[("template.components", TEMPLATE_PARAM_COUNT)]);
        assert!(messages(&t, &s)[0].starts_with("body: expected 2 parameters, given 0"));
        assert_problems(
            &t,
            &json!({"name": "2023_april_promo"}),
            &[("template.components", TEMPLATE_PARAM_COUNT)],
        );

        // A body without placeholders takes no parameters.
        let t = body_template("Hello there", "POSITIONAL");
        let s = send(json!([{"type": "header", "parameters": []}, body(json!([text("a")]))]));
        assert_problems(
            &t,
            &s,
            &[("template.components[1].parameters", TEMPLATE_PARAM_COUNT)],
        );
        assert!(messages(&t, &s)[0].starts_with("body: expected 0 parameters, given 1"));
        assert_eq!(match_send(&t, &send(json!([]))), Ok(()));
    }

    #[test]
    fn positional_parameters_carry_no_names() {
        let t = template(reference_template());
        let s = send(json!([body(json!([named("first", "a"), text("b")]))]));
        assert_problems(
            &t,
            &s,
            &[(
                "template.components[0].parameters[0].parameter_name",
                TEMPLATE_PARAM_NAME,
            )],
        );
    }

    #[test]
    fn named_parameters_must_match_the_placeholders() {
        let t = named_template();
        let ok = send(json!([
            header(named("shop", "Luna")),
            body(json!([named("order_id", "1"), named("first_name", "Ana")])),
        ]));
        assert_eq!(match_send(&t, &ok), Ok(()));

        let s = send(json!([
            header(text("Luna")),
            body(json!([named("order_id", "1"), named("order_id", "2")])),
        ]));
        assert_problems(
            &t,
            &s,
            &[
                (
                    "template.components[0].parameters[0].parameter_name",
                    TEMPLATE_PARAM_NAME,
                ),
                (
                    "template.components[1].parameters[1].parameter_name",
                    TEMPLATE_PARAM_NAME,
                ),
            ],
        );
        let s = send(json!([
            header(named("shop", "Luna")),
            body(json!([named("order_id", "1"), named("last_name", "Ana")])),
        ]));
        assert_problems(
            &t,
            &s,
            &[(
                "template.components[1].parameters[1].parameter_name",
                TEMPLATE_PARAM_NAME,
            )],
        );
        let message = &messages(&t, &s)[0];
        assert!(message.contains("no {{last_name}}"), "{message}");
        assert!(
            message.contains("{{first_name}}, {{order_id}}"),
            "{message}"
        );

        // Repeated placeholders count once.
        let s = send(json!([
            header(named("shop", "Luna")),
            body(json!([named("first_name", "Ana")])),
        ]));
        assert_problems(
            &t,
            &s,
            &[("template.components[1].parameters", TEMPLATE_PARAM_COUNT)],
        );
        assert!(messages(&t, &s)[0].starts_with("body: expected 2 parameters, given 1"));
    }

    #[test]
    fn text_headers() {
        let t = with_header("TEXT", Some("Sale for {{1}}"));
        assert_eq!(match_send(&t, &send(json!([header(text("Ana"))]))), Ok(()));
        let s = send(json!([]));
        assert_problems(&t, &s, &[("template.components", TEMPLATE_PARAM_COUNT)]);
        assert!(messages(&t, &s)[0].starts_with("header: expected 1 parameter, given 0"));
        let s = send(json!([header(
            json!({"type": "image", "image": {"id": "1"}})
        )]));
        assert_problems(
            &t,
            &s,
            &[(
                "template.components[0].parameters[0].type",
                TEMPLATE_PARAM_TYPE,
            )],
        );
        // The filled header must fit in 60 characters: "Sale for " is 9.
        assert_eq!(
            match_send(&t, &send(json!([header(text(&"é".repeat(51)))]))),
            Ok(())
        );
        let s = send(json!([header(text(&"é".repeat(52)))]));
        assert_problems(&t, &s, &[("template.components[0].parameters", "too_long")]);
        assert!(messages(&t, &s)[0].contains("61 characters; at most 60"));

        // A static text header takes nothing.
        let t = with_header("TEXT", Some("Sale"));
        assert_eq!(match_send(&t, &send(json!([]))), Ok(()));
        let s = send(json!([header(text("x"))]));
        assert_problems(
            &t,
            &s,
            &[("template.components[0].parameters", TEMPLATE_PARAM_COUNT)],
        );
        assert!(messages(&t, &s)[0].starts_with("header: expected 0 parameters, given 1"));

        // Nor does a template without a header.
        let t = body_template("Hello", "POSITIONAL");
        assert_problems(
            &t,
            &s,
            &[("template.components[0].parameters", TEMPLATE_PARAM_COUNT)],
        );
    }

    #[test]
    fn media_and_location_headers_need_their_type() {
        let image = json!({"type": "image", "image": {"link": "https://x.com/a.jpg"}});
        let video = json!({"type": "video", "video": {"id": "1"}});
        let document = json!({"type": "document", "document": {"id": "1", "filename": "a.pdf"}});
        let location = json!({"type": "location", "location": {"latitude": 1, "longitude": 2}});
        let cases = [
            ("IMAGE", &image),
            ("VIDEO", &video),
            ("GIF", &video),
            ("DOCUMENT", &document),
            ("LOCATION", &location),
        ];
        for (format, good) in cases {
            let t = with_header(format, None);
            assert_eq!(
                match_send(&t, &send(json!([header(good.clone())]))),
                Ok(()),
                "{format}"
            );
            let s = send(json!([]));
            assert_problems(&t, &s, &[("template.components", TEMPLATE_PARAM_COUNT)]);
            assert!(messages(&t, &s)[0].starts_with("header: expected 1 parameter, given 0"));
            for wrong in [&image, &video, &document, &location, &text("x")] {
                if wrong == good {
                    continue;
                }
                let s = send(json!([header(wrong.clone())]));
                assert_problems(
                    &t,
                    &s,
                    &[(
                        "template.components[0].parameters[0].type",
                        TEMPLATE_PARAM_TYPE,
                    )],
                );
                assert!(messages(&t, &s)[0].contains(format), "{format}");
            }
        }
        // An unknown header format is not second-guessed.
        let t = with_header("HOLOGRAM", None);
        assert_eq!(match_send(&t, &send(json!([]))), Ok(()));
    }

    #[test]
    fn body_length_counts_the_template_text() {
        // "Hi " + param + "!" with other components: 1024 at most.
        let t = template(
            json!({"name": "x", "language": "en", "status": "APPROVED", "category": "UTILITY",
            "components": [{"type": "BODY", "text": "Hi {{1}}!"}, {"type": "FOOTER", "text": "f"}]}),
        );
        assert_eq!(
            match_send(&t, &send(json!([body(json!([text(&"a".repeat(1020))]))]))),
            Ok(())
        );
        let s = send(json!([body(json!([text(&"a".repeat(1021))]))]));
        assert_problems(&t, &s, &[("template.components[0].parameters", "too_long")]);
        assert!(messages(&t, &s)[0].contains("1025 characters; at most 1024"));
        // Currency and date_time count with their fallback value.
        let s = send(json!([body(
            json!([{"type": "currency", "currency": {"fallback_value": "a".repeat(1021), "code": "USD", "amount_1000": 1}}])
        )]));
        assert_problems(&t, &s, &[("template.components[0].parameters", "too_long")]);

        // Body-only templates allow long parameters.
        let t = body_template("Hi {{1}}!", "POSITIONAL");
        assert_eq!(
            match_send(&t, &send(json!([body(json!([text(&"a".repeat(32764))]))]))),
            Ok(())
        );
        let s = send(json!([body(json!([text(&"a".repeat(32765))]))]));
        assert_problems(&t, &s, &[("template.components[0].parameters", "too_long")]);
    }

    #[test]
    fn url_buttons() {
        let t = with_buttons(json!([
            {"type": "URL", "text": "Track", "url": "https://x.com/t/{{1}}", "example": ["a"]},
            {"type": "URL", "text": "Site", "url": "https://x.com"},
        ]));
        let suffix = json!([text("ABC")]);
        assert_eq!(
            match_send(&t, &send(json!([button("url", json!(0), suffix.clone())]))),
            Ok(())
        );
        // The dynamic one must be given.
        let s = send(json!([]));
        assert_problems(&t, &s, &[("template.components", TEMPLATE_PARAM_COUNT)]);
        assert!(messages(&t, &s)[0].starts_with("button 0 (URL): expected 1 parameter, given 0"));
        // The static one takes nothing.
        let s = send(json!([
            button("url", json!(0), suffix.clone()),
            button("url", json!("1"), suffix.clone())
        ]));
        assert_problems(
            &t,
            &s,
            &[("template.components[1].parameters", TEMPLATE_PARAM_COUNT)],
        );
        assert!(messages(&t, &s)[0].starts_with("button 1 (URL): expected 0 parameters, given 1"));
        // Index past the buttons.
        let s = send(json!([
            button("url", json!(0), suffix.clone()),
            button("url", json!(2), suffix.clone())
        ]));
        assert_problems(
            &t,
            &s,
            &[("template.components[1].index", TEMPLATE_BUTTON_NOT_FOUND)],
        );
        assert!(messages(&t, &s)[0].contains("buttons are 0 to 1"));
        // Wrong sub type for the button at that index.
        let s = send(json!([
            button("url", json!(0), suffix),
            button(
                "quick_reply",
                json!(1),
                json!([{"type": "payload", "payload": "p"}])
            )
        ]));
        assert_problems(
            &t,
            &s,
            &[("template.components[1].sub_type", TEMPLATE_BUTTON_TYPE)],
        );
    }

    #[test]
    fn copy_code_buttons_need_their_code() {
        let t = with_buttons(
            json!([{"type": "QUICK_REPLY", "text": "Ok"}, {"type": "COPY_CODE", "example": "X"}]),
        );
        let code = button(
            "copy_code",
            json!(1),
            json!([{"type": "coupon_code", "coupon_code": "FALL25"}]),
        );
        assert_eq!(match_send(&t, &send(json!([code]))), Ok(()));
        let s = send(json!([]));
        assert_problems(&t, &s, &[("template.components", TEMPLATE_PARAM_COUNT)]);
        let message = &messages(&t, &s)[0];
        assert!(
            message.starts_with("button 1 (COPY_CODE): expected 1 parameter, given 0"),
            "{message}"
        );
        assert!(message.contains("coupon_code"), "{message}");
        let s = send(json!([button(
            "copy_code",
            json!(0),
            json!([{"type": "coupon_code", "coupon_code": "X"}])
        )]));
        assert_problems(
            &t,
            &s,
            &[
                ("template.components", TEMPLATE_PARAM_COUNT),
                ("template.components[0].sub_type", TEMPLATE_BUTTON_TYPE),
            ],
        );
    }

    #[test]
    fn quick_reply_buttons_are_optional() {
        let t = template(reference_template());
        let b = body(json!([text("a"), text("b")]));
        assert_eq!(match_send(&t, &send(json!([b.clone()]))), Ok(()));
        let payload = json!([{"type": "payload", "payload": "STOP"}]);
        assert_eq!(
            match_send(
                &t,
                &send(json!([
                    b.clone(),
                    button("quick_reply", json!(0), payload.clone())
                ]))
            ),
            Ok(())
        );
        let s = send(json!([b, button("quick_reply", json!(1), payload)]));
        assert_problems(
            &t,
            &s,
            &[("template.components[1].index", TEMPLATE_BUTTON_NOT_FOUND)],
        );
        assert!(messages(&t, &s)[0].contains("only button is 0"));
    }

    #[test]
    fn phone_buttons_take_nothing_and_templates_without_buttons_have_none() {
        let t = with_buttons(
            json!([{"type": "PHONE_NUMBER", "text": "Call", "phone_number": "+1646"}]),
        );
        assert_eq!(match_send(&t, &send(json!([]))), Ok(()));
        let s = send(json!([button("url", json!(0), json!([text("x")]))]));
        assert_problems(
            &t,
            &s,
            &[("template.components[0].sub_type", TEMPLATE_BUTTON_TYPE)],
        );
        let t = body_template("Hello", "POSITIONAL");
        assert_problems(
            &t,
            &s,
            &[("template.components[0].index", TEMPLATE_BUTTON_NOT_FOUND)],
        );
        assert_eq!(messages(&t, &s)[0], "the template has no buttons");
    }

    #[test]
    fn authentication_templates_take_the_code_twice() {
        let t = auth_template();
        let ok = send(json!([
            body(json!([text("123456")])),
            button("url", json!("0"), json!([text("123456")])),
        ]));
        assert_eq!(match_send(&t, &ok), Ok(()));
        let s = send(json!([body(json!([text("123456")]))]));
        assert_problems(&t, &s, &[("template.components", TEMPLATE_PARAM_COUNT)]);
        assert!(messages(&t, &s)[0].starts_with("button 0 (OTP): expected 1 parameter, given 0"));
    }

    #[test]
    fn reports_every_problem_at_once() {
        let mut value = reference_template();
        value["status"] = json!("PAUSED");
        let t = template(value);
        let s = send(json!([
            header(text("x")),
            body(json!([text("a")])),
            button("url", json!(3), json!([text("x")])),
        ]));
        assert_problems(
            &t,
            &s,
            &[
                ("template.name", TEMPLATE_NOT_APPROVED),
                ("template.components[0].parameters", TEMPLATE_PARAM_COUNT),
                ("template.components[1].parameters", TEMPLATE_PARAM_COUNT),
                ("template.components[2].index", TEMPLATE_BUTTON_NOT_FOUND),
            ],
        );
    }

    #[test]
    fn malformed_sends_do_not_panic() {
        let t = template(reference_template());
        for s in [
            json!(null),
            json!([]),
            json!({"components": "x"}),
            json!({"components": [1, {"type": "body", "parameters": "x"}, {"type": "button", "index": "a"}]}),
        ] {
            let _ = match_send(&t, &s);
        }
    }
}
