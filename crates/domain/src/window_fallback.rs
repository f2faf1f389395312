//! The window fallback: a channel may name an approved template whose one body parameter
//! carries a text, so a free-form text to a person whose 24-hour window is closed goes as that
//! template instead of being refused (for customers of window-free vendor APIs). Meta's rules
//! still hold: the template is business-initiated and billed by its category (a UTILITY
//! template must be about something the person asked for; anything else is MARKETING).

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::outbound::{is_language_code, parse_outbound, MessageKind, OutboundMessage};

/// What a channel's fallback names.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WindowFallback {
    /// The approved template's name.
    #[schema(example = "aviso_general")]
    pub template: String,
    /// Its language.
    #[schema(example = "es")]
    pub language: String,
    /// The body parameter that carries the text: `1` (`{{1}}`, the body's one positional
    /// parameter) or, for a template with named parameters, its name.
    #[schema(example = "1")]
    pub parameter: String,
}

impl WindowFallback {
    /// Parses and checks a fallback (a JSON object); the error says what is wrong.
    pub fn parse(value: &Value) -> Result<Self, String> {
        let fb: Self = serde_json::from_value(value.clone())
            .map_err(|e| format!("must be {{\"template\", \"language\", \"parameter\"}}: {e}"))?;
        let name_ok = !fb.template.is_empty()
            && fb.template.len() <= 512
            && fb
                .template
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
        if !name_ok {
            return Err("template must be a template name (lowercase letters, digits, _)".into());
        }
        if !is_language_code(&fb.language) {
            return Err("language must be a language code such as es or pt_BR".into());
        }
        let param_ok = !fb.parameter.is_empty()
            && fb.parameter.len() <= 64
            && fb
                .parameter
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
        let positional = fb.parameter.bytes().all(|b| b.is_ascii_digit());
        if !param_ok || (positional && fb.parameter != "1") {
            return Err(
                "parameter must be 1 (the body's one {{1}}) or a named parameter's name".into(),
            );
        }
        Ok(fb)
    }

    /// `text` (a text message) as this template, with its body as the parameter; `None` for
    /// any other kind of message.
    pub fn apply(&self, text: &OutboundMessage) -> Option<OutboundMessage> {
        if text.kind != MessageKind::Text {
            return None;
        }
        let body = text.body.pointer("/text/body")?.as_str()?;
        let mut parameter = json!({"type": "text", "text": body});
        let positional = self.parameter.bytes().all(|b| b.is_ascii_digit());
        if !positional {
            parameter["parameter_name"] = json!(self.parameter);
        }
        let mut message = json!({
            "to": text.recipient.key(),
            "type": "template",
            "template": {"name": self.template, "language": {"code": self.language},
                "components": [{"type": "body", "parameters": [parameter]}]},
        });
        if let Some(context) = text.body.get("context") {
            message["context"] = context.clone();
        }
        parse_outbound(&message).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_text_becomes_the_template_with_its_body_as_the_parameter() {
        let fb = WindowFallback::parse(
            &json!({"template": "aviso", "language": "es", "parameter": "1"}),
        )
        .unwrap();
        let text = parse_outbound(&json!({"to": "+5215512345678", "type": "text",
            "text": {"body": "Su pedido salió"}}))
        .unwrap();
        let sent = fb.apply(&text).unwrap();
        assert_eq!(sent.kind, MessageKind::Template);
        assert_eq!(sent.recipient, text.recipient);
        assert_eq!(
            sent.body["template"]["components"][0]["parameters"][0]["text"],
            "Su pedido salió"
        );
        let named = WindowFallback::parse(
            &json!({"template": "aviso", "language": "es", "parameter": "mensaje"}),
        )
        .unwrap();
        let sent = named.apply(&text).unwrap();
        assert_eq!(
            sent.body["template"]["components"][0]["parameters"][0]["parameter_name"],
            "mensaje"
        );
        let image = parse_outbound(&json!({"to": "+5215512345678", "type": "image",
            "image": {"link": "https://example.com/a.png"}}))
        .unwrap();
        assert!(fb.apply(&image).is_none(), "only texts fall back");
    }

    #[test]
    fn a_bad_fallback_is_refused_saying_why() {
        for bad in [
            json!({"template": "Aviso", "language": "es", "parameter": "1"}),
            json!({"template": "aviso", "language": "español", "parameter": "1"}),
            json!({"template": "aviso", "language": "es", "parameter": ""}),
            json!({"template": "aviso", "language": "es", "parameter": "2"}),
            json!({"template": "aviso", "language": "es"}),
            json!({"template": "aviso", "language": "es", "parameter": "1", "extra": 1}),
            json!("aviso"),
        ] {
            assert!(WindowFallback::parse(&bad).is_err(), "{bad}");
        }
    }
}
