//! A lenient view of an outbound `template` object. Its structure is the send-side validator's
//! job (`outbound::template`); here anything malformed is simply skipped.

use serde_json::Value;

/// Field paths of a send start here, as in the outbound validator's problems.
pub(super) const ROOT: &str = "template";

/// `path.key`.
pub(super) fn join(path: &str, key: &str) -> String {
    format!("{path}.{key}")
}

/// `path[index]`.
pub(super) fn item(path: &str, index: usize) -> String {
    format!("{path}[{index}]")
}

/// A header or body component of a send.
#[derive(Debug)]
pub(super) struct SendComponent<'a> {
    /// `template.components[i]`.
    pub path: String,
    /// Its `parameters` (empty when absent).
    pub parameters: &'a [Value],
}

impl SendComponent<'_> {
    /// `template.components[i].parameters`.
    pub fn parameters_path(&self) -> String {
        join(&self.path, "parameters")
    }
}

/// A button component of a send.
#[derive(Debug)]
pub(super) struct SendButton<'a> {
    /// `template.components[i]`.
    pub path: String,
    /// `sub_type`, lower case as sent.
    pub sub_type: Option<&'a str>,
    /// `index`, an integer or a numeric string.
    pub index: Option<usize>,
    /// Its `parameters` (empty when absent).
    pub parameters: &'a [Value],
}

/// The parts of a send that a template is matched against.
#[derive(Debug, Default)]
pub(super) struct SendView<'a> {
    /// `name`.
    pub name: Option<&'a str>,
    /// `language.code`.
    pub language: Option<&'a str>,
    /// The first `header` component.
    pub header: Option<SendComponent<'a>>,
    /// The first `body` component.
    pub body: Option<SendComponent<'a>>,
    /// Every `button` component, in send order.
    pub buttons: Vec<SendButton<'a>>,
}

/// Reads `send` (the outbound `template` object).
pub(super) fn read(send: &Value) -> SendView<'_> {
    let mut view = SendView {
        name: send.get("name").and_then(Value::as_str),
        language: send.pointer("/language/code").and_then(Value::as_str),
        ..SendView::default()
    };
    let components = send
        .get("components")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default();
    for (i, component) in components.iter().enumerate() {
        let path = item(&join(ROOT, "components"), i);
        let parameters = component
            .get("parameters")
            .and_then(Value::as_array)
            .map(Vec::as_slice)
            .unwrap_or_default();
        match component.get("type").and_then(Value::as_str) {
            // Duplicates are the send-side validator's to report; the first one counts.
            Some("header") if view.header.is_none() => {
                view.header = Some(SendComponent { path, parameters });
            }
            Some("body") if view.body.is_none() => {
                view.body = Some(SendComponent { path, parameters });
            }
            Some("button") => view.buttons.push(SendButton {
                path,
                sub_type: component.get("sub_type").and_then(Value::as_str),
                index: component.get("index").and_then(read_index),
                parameters,
            }),
            _ => {}
        }
    }
    view
}

/// `0` or `"0"`.
fn read_index(value: &Value) -> Option<usize> {
    match value {
        Value::Number(n) => n.as_u64().and_then(|n| usize::try_from(n).ok()),
        Value::String(s) if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) => {
            s.parse().ok()
        }
        _ => None,
    }
}

/// A parameter's `type`.
pub(super) fn parameter_type(parameter: &Value) -> Option<&str> {
    parameter.get("type").and_then(Value::as_str)
}

/// A parameter's `parameter_name` (named templates).
pub(super) fn parameter_name(parameter: &Value) -> Option<&str> {
    parameter.get("parameter_name").and_then(Value::as_str)
}

/// The text a parameter puts in the message: `text` verbatim, the `fallback_value` of currency
/// and date_time (the Cloud API always shows the fallback), and the payload or coupon code of
/// button parameters.
pub(super) fn parameter_text(parameter: &Value) -> Option<&str> {
    let kind = parameter_type(parameter)?;
    let value = match kind {
        "text" => parameter.get("text"),
        "currency" | "date_time" => parameter.get(kind).and_then(|v| v.get("fallback_value")),
        "payload" => parameter.get("payload"),
        "coupon_code" => parameter.get("coupon_code"),
        _ => None,
    };
    value.and_then(Value::as_str)
}
