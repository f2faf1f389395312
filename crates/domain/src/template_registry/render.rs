//! What the person received: a template with a send's parameters filled in, for logs and views.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::model::{Button, ButtonType, Header, HeaderFormat, Template};
use super::placeholder::{self, PlaceholderKey};
use super::send::{self, parameter_name, parameter_text, SendButton};

/// A template as the recipient sees it.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct RenderedTemplate {
    /// The header text, or a `[image: …]`-style stand-in for media and location headers.
    pub header: Option<String>,
    /// The body with its placeholders filled.
    pub body: String,
    /// The footer.
    pub footer: Option<String>,
    /// Each button's label, with what it opens, calls or copies in parentheses.
    pub buttons: Vec<String>,
}

impl RenderedTemplate {
    /// One plain-text block: header, body and footer separated by blank lines, then one
    /// `[button]` per line.
    pub fn to_text(&self) -> String {
        let sections: Vec<&str> = [
            self.header.as_deref(),
            Some(self.body.as_str()).filter(|b| !b.is_empty()),
            self.footer.as_deref(),
        ]
        .into_iter()
        .flatten()
        .collect();
        let mut text = sections.join("\n\n");
        if !self.buttons.is_empty() {
            if !text.is_empty() {
                text.push_str("\n\n");
            }
            let buttons: Vec<String> = self.buttons.iter().map(|b| format!("[{b}]")).collect();
            text.push_str(&buttons.join("\n"));
        }
        text
    }
}

/// Renders `template` with the parameters of `send` (the outbound `template` object). Text
/// parameters go in verbatim, currency and date_time as their `fallback_value` (what the Cloud
/// API shows); a placeholder without a parameter stays as written, so a gap is visible.
pub fn render(template: &Template, send: &Value) -> RenderedTemplate {
    let view = send::read(send);
    let header_parameters = view.header.as_ref().map_or(&[][..], |h| h.parameters);
    let body_parameters = view.body.as_ref().map_or(&[][..], |b| b.parameters);
    let body = template
        .body()
        .and_then(|b| b.text.as_deref())
        .map(|text| fill_text(text, body_parameters))
        .unwrap_or_default();
    let footer = template
        .footer()
        .and_then(|f| match (&f.text, f.code_expiration_minutes) {
            (Some(text), _) => Some(text.clone()),
            // Authentication footers are Meta's own sentence.
            (None, Some(minutes)) => Some(format!("This code expires in {minutes} minutes.")),
            (None, None) => None,
        });
    let buttons = template
        .buttons()
        .iter()
        .enumerate()
        .map(|(i, button)| {
            let sent = view.buttons.iter().find(|b| b.index == Some(i));
            render_button(button, sent)
        })
        .collect();
    RenderedTemplate {
        header: template
            .header()
            .map(|h| render_header(h, header_parameters)),
        body,
        footer,
        buttons,
    }
}

/// Fills `text` from `parameters`: `{{n}}` by position, `{{name}}` by `parameter_name`.
pub(super) fn fill_text(text: &str, parameters: &[Value]) -> String {
    placeholder::fill(text, |key| match key {
        PlaceholderKey::Position(n) => usize::try_from(*n)
            .ok()
            .and_then(|n| parameters.get(n.checked_sub(1)?))
            .and_then(parameter_text),
        PlaceholderKey::Name(name) => parameters
            .iter()
            .find(|p| parameter_name(p) == Some(name.as_str()))
            .and_then(parameter_text),
    })
}

/// A text header filled in, or a stand-in naming the media or place.
fn render_header(header: &Header, parameters: &[Value]) -> String {
    let parameter = parameters.first();
    match &header.format {
        HeaderFormat::Text => fill_text(header.text.as_deref().unwrap_or_default(), parameters),
        HeaderFormat::Location => {
            let place = parameter.and_then(|p| p.get("location"));
            let field = |key: &str| {
                place.and_then(|l| l.get(key)).and_then(|v| match v {
                    Value::String(s) => Some(s.clone()),
                    Value::Number(n) => Some(n.to_string()),
                    _ => None,
                })
            };
            let described = match (field("name"), field("address")) {
                (Some(name), Some(address)) => Some(format!("{name}, {address}")),
                (Some(one), None) | (None, Some(one)) => Some(one),
                (None, None) => match (field("latitude"), field("longitude")) {
                    (Some(lat), Some(long)) => Some(format!("{lat}, {long}")),
                    _ => None,
                },
            };
            stand_in("location", described)
        }
        format => {
            let kind = format.as_str().to_ascii_lowercase();
            // The object is keyed by the parameter's own type (`video` for GIF headers).
            let media = parameter
                .and_then(|p| send::parameter_type(p).and_then(|t| p.get(t)))
                .filter(|m| m.is_object());
            let described = media.and_then(|m| {
                ["filename", "link", "id"]
                    .into_iter()
                    .find_map(|key| m.get(key).and_then(Value::as_str))
                    .map(str::to_owned)
            });
            stand_in(&kind, described)
        }
    }
}

/// `[kind: detail]`, or `[kind]`.
fn stand_in(kind: &str, detail: Option<String>) -> String {
    match detail {
        Some(detail) => format!("[{kind}: {detail}]"),
        None => format!("[{kind}]"),
    }
}

/// A button's label with what it does for the person: the URL opened, the number called, the
/// code copied. Quick-reply payloads are not shown to the person, so they are left out.
fn render_button(button: &Button, sent: Option<&SendButton<'_>>) -> String {
    let parameter = sent.and_then(|b| b.parameters.first());
    let label = match (&button.text, &button.kind) {
        (Some(text), _) => text.as_str(),
        (None, ButtonType::CopyCode) => "Copy offer code",
        (None, ButtonType::Otp) => "Copy code",
        (None, kind) => kind.as_str(),
    };
    let detail = match button.kind {
        ButtonType::Url => button
            .url
            .as_deref()
            .map(|url| fill_text(url, sent.map_or(&[][..], |b| b.parameters))),
        ButtonType::PhoneNumber => button.phone_number.clone(),
        ButtonType::CopyCode | ButtonType::Otp => {
            parameter.and_then(parameter_text).map(str::to_owned)
        }
        _ => None,
    };
    match detail {
        Some(detail) => format!("{label} ({detail})"),
        None => label.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::super::model::parse_template;
    use super::super::test_support::*;
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    #[test]
    fn renders_every_parameter_kind() {
        let t = parse_template(
            &json!({"name": "order_update", "language": "en_US", "status": "APPROVED",
            "category": "UTILITY", "components": [
                {"type": "HEADER", "format": "TEXT", "text": "Order {{1}}"},
                {"type": "BODY", "text": "Hi {{1}}, you paid {{2}} on {{3}}. {{4}} stays."},
                {"type": "FOOTER", "text": "Thanks"},
                {"type": "BUTTONS", "buttons": [
                    {"type": "QUICK_REPLY", "text": "Stop"},
                    {"type": "URL", "text": "Track", "url": "https://x.com/t/{{1}}"},
                    {"type": "COPY_CODE", "example": "X"},
                    {"type": "PHONE_NUMBER", "text": "Call", "phone_number": "+16467043595"},
                    {"type": "URL", "text": "Site", "url": "https://x.com"}]}]}),
        )
        .unwrap();
        let send = json!({"name": "order_update", "language": {"code": "en_US"}, "components": [
            {"type": "header", "parameters": [{"type": "text", "text": "#42"}]},
            {"type": "body", "parameters": [
                {"type": "text", "text": "Jane"},
                {"type": "currency", "currency": {"fallback_value": "$100.99", "code": "USD", "amount_1000": 100990}},
                {"type": "date_time", "date_time": {"fallback_value": "February 25, 1977"}}]},
            {"type": "button", "sub_type": "quick_reply", "index": "0", "parameters": [{"type": "payload", "payload": "STOP"}]},
            {"type": "button", "sub_type": "url", "index": 1, "parameters": [{"type": "text", "text": "ABC123"}]},
            {"type": "button", "sub_type": "copy_code", "index": "2", "parameters": [{"type": "coupon_code", "coupon_code": "FALL25"}]}]});
        let r = render(&t, &send);
        assert_eq!(r.header.as_deref(), Some("Order #42"));
        assert_eq!(
            r.body,
            "Hi Jane, you paid $100.99 on February 25, 1977. {{4}} stays."
        );
        assert_eq!(r.footer.as_deref(), Some("Thanks"));
        assert_eq!(
            r.buttons,
            vec![
                "Stop",
                "Track (https://x.com/t/ABC123)",
                "Copy offer code (FALL25)",
                "Call (+16467043595)",
                "Site (https://x.com)",
            ]
        );
        assert_eq!(
            r.to_text(),
            "Order #42\n\nHi Jane, you paid $100.99 on February 25, 1977. {{4}} stays.\n\nThanks\n\n\
             [Stop]\n[Track (https://x.com/t/ABC123)]\n[Copy offer code (FALL25)]\n\
             [Call (+16467043595)]\n[Site (https://x.com)]"
        );
    }

    #[test]
    fn renders_named_parameters_by_name() {
        let t = named_template();
        let send = json!({"name": "named_order", "language": {"code": "en_US"}, "components": [
            {"type": "header", "parameters": [{"type": "text", "parameter_name": "shop", "text": "Luna"}]},
            {"type": "body", "parameters": [
                {"type": "text", "parameter_name": "order_id", "text": "860198"},
                {"type": "text", "parameter_name": "first_name", "text": "Ana"}]}]});
        let r = render(&t, &send);
        assert_eq!(r.header.as_deref(), Some("News from Luna"));
        assert_eq!(r.body, "Hi Ana, order 860198 is ready, Ana.");
        assert_eq!(
            r.to_text(),
            "News from Luna\n\nHi Ana, order 860198 is ready, Ana."
        );
    }

    #[test]
    fn media_and_location_headers_are_stand_ins() {
        let cases = [
            (
                "IMAGE",
                json!({"type": "image", "image": {"link": "https://x.com/a.jpg"}}),
                "[image: https://x.com/a.jpg]",
            ),
            (
                "VIDEO",
                json!({"type": "video", "video": {"id": "123"}}),
                "[video: 123]",
            ),
            (
                "DOCUMENT",
                json!({"type": "document", "document": {"link": "https://x.com/a", "filename": "invoice.pdf"}}),
                "[document: invoice.pdf]",
            ),
            (
                "GIF",
                json!({"type": "video", "video": {"id": "9"}}),
                "[gif: 9]",
            ),
            (
                "LOCATION",
                json!({"type": "location", "location": {"latitude": 1.5, "longitude": "2", "name": "HQ", "address": "1 Way"}}),
                "[location: HQ, 1 Way]",
            ),
            (
                "LOCATION",
                json!({"type": "location", "location": {"latitude": 1.5, "longitude": "2"}}),
                "[location: 1.5, 2]",
            ),
        ];
        for (format, parameter, expected) in cases {
            let t = with_header(format, None);
            let send = json!({"components": [{"type": "header", "parameters": [parameter]}]});
            assert_eq!(
                render(&t, &send).header.as_deref(),
                Some(expected),
                "{format}"
            );
        }
        let t = with_header("IMAGE", None);
        assert_eq!(render(&t, &json!({})).header.as_deref(), Some("[image]"));
    }

    #[test]
    fn authentication_template() {
        let t = auth_template();
        let send = json!({"components": [
            {"type": "body", "parameters": [{"type": "text", "text": "123456"}]},
            {"type": "button", "sub_type": "url", "index": "0", "parameters": [{"type": "text", "text": "123456"}]}]});
        let r = render(&t, &send);
        assert_eq!(r.body, "123456 is your verification code.");
        assert_eq!(
            r.footer.as_deref(),
            Some("This code expires in 10 minutes.")
        );
        assert_eq!(r.buttons, vec!["Copy code (123456)"]);
    }

    #[test]
    fn to_text_without_optional_parts() {
        let r = RenderedTemplate {
            body: "Only body".into(),
            ..RenderedTemplate::default()
        };
        assert_eq!(r.to_text(), "Only body");
        let r = RenderedTemplate {
            buttons: vec!["Ok".into()],
            ..RenderedTemplate::default()
        };
        assert_eq!(r.to_text(), "[Ok]");
    }

    /// Literal pieces that cannot form a placeholder themselves.
    fn literal() -> impl Strategy<Value = String> {
        "[^{}]{0,12}"
    }

    proptest! {
        /// Any text parameters, even ones that look like placeholders, land verbatim in order.
        #[test]
        fn positional_text_parameters_round_trip(
            parts in prop::collection::vec((literal(), any::<String>()), 1..8),
            tail in literal(),
        ) {
            let text: String = parts
                .iter()
                .enumerate()
                .map(|(i, (lit, _))| format!("{lit}{{{{{}}}}}", i + 1))
                .chain(std::iter::once(tail.clone()))
                .collect();
            let t = body_template(&text, "POSITIONAL");
            let parameters: Vec<Value> = parts
                .iter()
                .map(|(_, value)| json!({"type": "text", "text": value}))
                .collect();
            let send = json!({"components": [{"type": "body", "parameters": parameters}]});
            let expected: String = parts
                .iter()
                .map(|(lit, value)| format!("{lit}{value}"))
                .chain(std::iter::once(tail))
                .collect();
            prop_assert_eq!(render(&t, &send).body, expected);
        }

        /// The same for named parameters given in any order.
        #[test]
        fn named_text_parameters_round_trip(
            parts in prop::collection::vec((literal(), any::<String>()), 1..8),
            rotate in 0usize..8,
        ) {
            let text: String = parts
                .iter()
                .enumerate()
                .map(|(i, (lit, _))| format!("{lit}{{{{p_{i}}}}}"))
                .collect();
            let t = body_template(&text, "NAMED");
            let mut parameters: Vec<Value> = parts
                .iter()
                .enumerate()
                .map(|(i, (_, value))| json!({"type": "text", "parameter_name": format!("p_{i}"), "text": value}))
                .collect();
            let by = rotate % parameters.len();
            parameters.rotate_left(by);
            let send = json!({"components": [{"type": "body", "parameters": parameters}]});
            let expected: String = parts.iter().map(|(lit, value)| format!("{lit}{value}")).collect();
            prop_assert_eq!(render(&t, &send).body, expected);
        }
    }
}
