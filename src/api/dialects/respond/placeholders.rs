//! respond.io's placeholders in template parameters: `@contact.<field>` (a field of the contact
//! as respond.io shows it: `firstName`, `lastName`, `phone`, `email`, ...) and
//! `@field.<custom field>`, filled from the contact the message goes to. A placeholder with no
//! value refuses the send, naming it: it never goes out literally. Pure: no I/O.

use chasqui_store::Contact;
use serde_json::Value;

use super::translate::contact_object;

/// The kinds of placeholder, by prefix.
const PREFIXES: [&str; 2] = ["@contact.", "@field."];

/// Fills every placeholder of the text parameters of Meta's `template` object in `message`
/// (`@contact.id` is `id`, the one respond.io's clients know the contact by); the error names
/// the first placeholder without a value.
pub fn fill(message: &mut Value, contact: &Contact, id: i64) -> Result<(), String> {
    let Some(components) = message
        .pointer_mut("/template/components")
        .and_then(Value::as_array_mut)
    else {
        return Ok(());
    };
    let shown = contact_object(contact, id);
    for component in components {
        let Some(parameters) = component
            .get_mut("parameters")
            .and_then(Value::as_array_mut)
        else {
            continue;
        };
        for p in parameters {
            if let Some(Value::String(text)) = p.get_mut("text") {
                *text = fill_text(text, &shown, contact)?;
            }
        }
    }
    Ok(())
}

/// `text` with each placeholder replaced by its value.
fn fill_text(text: &str, shown: &Value, contact: &Contact) -> Result<String, String> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some((at, prefix)) = PREFIXES
        .iter()
        .filter_map(|p| rest.find(p).map(|i| (i, *p)))
        .min_by_key(|(i, _)| *i)
    {
        let name_start = at + prefix.len();
        let name_len = rest[name_start..]
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(rest.len() - name_start);
        let name = &rest[name_start..name_start + name_len];
        out.push_str(&rest[..at]);
        if name.is_empty() {
            // `@contact.` alone names nothing: it is text.
            out.push_str(prefix);
        } else {
            let value = match prefix {
                "@contact." => shown.get(name),
                _ => contact.custom_fields.get(name),
            };
            let placeholder = format!("{prefix}{name}");
            out.push_str(
                &text_of(value)
                    .ok_or_else(|| format!("{placeholder} has no value for this contact"))?,
            );
        }
        rest = &rest[name_start + name_len..];
    }
    out.push_str(rest);
    Ok(out)
}

/// A field's value as parameter text: strings and numbers; nothing for null or blank.
fn text_of(value: Option<&Value>) -> Option<String> {
    match value? {
        Value::String(s) if !s.trim().is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn contact() -> Contact {
        Contact {
            id: "ct_1".into(),
            parent_user_id: None,
            workspace_id: chasqui_domain::WorkspaceId::from_trusted("ws"),
            wa_id: Some("593998445667".into()),
            user_id: None,
            phone: Some("593998445667".into()),
            name: Some("Ana Pérez".into()),
            profile_name: None,
            email: None,
            tags: vec![],
            custom_fields: json!({"pedido": "A-17", "puntos": 120}),
            opted_out: false,
            marketing: Default::default(),
            created_at: 0,
            updated_at: 0,
            num: 7,
        }
    }

    fn message(texts: &[&str]) -> Value {
        let params: Vec<Value> = texts
            .iter()
            .map(|t| json!({"type": "text", "text": t}))
            .collect();
        json!({"type": "template", "template": {"name": "t", "language": {"code": "es"},
            "components": [{"type": "body", "parameters": params}]}})
    }

    #[test]
    fn placeholders_are_filled_from_the_contact() {
        let mut m = message(&[
            "@contact.firstName",
            "pedido @field.pedido, @field.puntos pts",
            "a@b.c",
        ]);
        fill(&mut m, &contact(), contact().num).unwrap();
        let p = &m["template"]["components"][0]["parameters"];
        assert_eq!(p[0]["text"], "Ana");
        assert_eq!(p[1]["text"], "pedido A-17, 120 pts");
        assert_eq!(p[2]["text"], "a@b.c");
    }

    #[test]
    fn a_placeholder_without_a_value_is_named_and_never_sent() {
        for (text, named) in [
            ("hola @contact.email", "@contact.email"),
            ("@field.nope!", "@field.nope"),
        ] {
            let mut m = message(&[text]);
            let e = fill(&mut m, &contact(), contact().num).unwrap_err();
            assert!(e.starts_with(named), "{e}");
        }
    }
}
