//! Curbe's send body → Meta message objects. Pure: no I/O.
//!
//! Documented: the envelope fields, `image` (`ref_images`, several images → several messages)
//! and `interactive` (`ref_parameters_header`, `ref_parameters_body_template`,
//! `ref_text_buttons`). Inferred, and accepted leniently: the field names of `text`, `location`
//! and `template` (seed-vendors.md §1), element shapes (plain strings or Meta-style objects).

use serde_json::{json, Map, Value};

/// A translated send: the sender number that picks the channel and the messages to send.
#[derive(Debug, Clone, PartialEq)]
pub struct CurbeSend {
    /// `ref_number_from`, digits: the channel's sender number.
    pub from: String,
    /// Meta message objects, in order.
    pub messages: Vec<Value>,
}

/// The field Curbe's answer names: `"<campo> invalido"`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invalid(pub String);

fn text_of(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Object(o) => o
            .get("text")
            .or_else(|| o.get("body"))
            .or_else(|| o.get("title"))
            .and_then(text_of),
        _ => None,
    }
    .filter(|s| !s.trim().is_empty())
}

fn digits(body: &Map<String, Value>, field: &str) -> Result<String, Invalid> {
    let raw = body.get(field).and_then(text_of).unwrap_or_default();
    let d: String = raw.chars().filter(char::is_ascii_digit).collect();
    if d.len() < 8 || raw.chars().any(|c| c.is_ascii_alphabetic()) {
        return Err(Invalid(field.into()));
    }
    Ok(d)
}

fn array<'a>(body: &'a Map<String, Value>, field: &str) -> Result<&'a Vec<Value>, Invalid> {
    body.get(field)
        .and_then(Value::as_array)
        .ok_or_else(|| Invalid(field.into()))
}

/// An optional array: absent or `null` is empty.
fn opt_array<'a>(body: &'a Map<String, Value>, field: &str) -> Result<&'a [Value], Invalid> {
    match body.get(field) {
        None | Some(Value::Null) => Ok(&[]),
        Some(Value::Array(a)) => Ok(a),
        Some(_) => Err(Invalid(field.into())),
    }
}

fn number(v: Option<&Value>) -> Option<f64> {
    match v? {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// A template or header parameter: a plain string is text; a Meta-style object passes as is.
fn parameter(v: &Value) -> Option<Value> {
    match v {
        Value::Object(o) if o.contains_key("type") => Some(v.clone()),
        other => text_of(other).map(|t| json!({"type": "text", "text": t})),
    }
}

fn parameters(items: &[Value], field: &str) -> Result<Vec<Value>, Invalid> {
    items
        .iter()
        .map(|v| parameter(v).ok_or_else(|| Invalid(field.into())))
        .collect()
}

fn text_message(to: &str, body: &Map<String, Value>) -> Result<Vec<Value>, Invalid> {
    let single = ["ref_text", "ref_text_message", "ref_body", "ref_message"]
        .iter()
        .find_map(|f| body.get(*f).and_then(text_of));
    let texts: Vec<String> = match single {
        Some(t) => vec![t],
        None => opt_array(body, "ref_texts")?
            .iter()
            .filter_map(text_of)
            .collect(),
    };
    if texts.is_empty() {
        return Err(Invalid("ref_text".into()));
    }
    Ok(texts
        .into_iter()
        .map(|t| json!({"to": to, "type": "text", "text": {"body": t}}))
        .collect())
}

fn image_messages(to: &str, body: &Map<String, Value>) -> Result<Vec<Value>, Invalid> {
    let images = array(body, "ref_images")?;
    if images.is_empty() {
        return Err(Invalid("ref_images".into()));
    }
    images
        .iter()
        .map(|img| {
            let link = img
                .get("link")
                .and_then(text_of)
                .ok_or_else(|| Invalid("ref_images.link".into()))?;
            let mut image = json!({ "link": link });
            if let Some(caption) = img.get("caption").and_then(text_of) {
                image["caption"] = json!(caption);
            }
            Ok(json!({"to": to, "type": "image", "image": image}))
        })
        .collect()
}

fn location_messages(to: &str, body: &Map<String, Value>) -> Result<Vec<Value>, Invalid> {
    let places: Vec<&Value> = match body.get("ref_location") {
        Some(one @ Value::Object(_)) => vec![one],
        _ => opt_array(body, "ref_locations")?.iter().collect(),
    };
    if places.is_empty() {
        return Err(Invalid("ref_location".into()));
    }
    places
        .into_iter()
        .map(|p| {
            let (Some(lat), Some(lon)) = (number(p.get("latitude")), number(p.get("longitude")))
            else {
                return Err(Invalid("ref_location".into()));
            };
            let mut location = json!({"latitude": lat, "longitude": lon});
            for f in ["name", "address"] {
                if let Some(v) = p.get(f).and_then(text_of) {
                    location[f] = json!(v);
                }
            }
            Ok(json!({"to": to, "type": "location", "location": location}))
        })
        .collect()
}

fn interactive_message(to: &str, body: &Map<String, Value>) -> Result<Vec<Value>, Invalid> {
    let header = opt_array(body, "ref_parameters_header")?;
    let text: Vec<String> = opt_array(body, "ref_parameters_body_template")?
        .iter()
        .filter_map(text_of)
        .collect();
    if text.is_empty() {
        return Err(Invalid("ref_parameters_body_template".into()));
    }
    let buttons: Vec<Value> = opt_array(body, "ref_text_buttons")?
        .iter()
        .enumerate()
        .filter_map(|(i, b)| {
            let title = text_of(b)?;
            let id = b
                .get("id")
                .and_then(text_of)
                .unwrap_or_else(|| format!("btn_{}", i + 1));
            Some(json!({"type": "reply", "reply": {"id": id, "title": title}}))
        })
        .collect();
    if buttons.is_empty() {
        return Err(Invalid("ref_text_buttons".into()));
    }
    let mut interactive = json!({
        "type": "button",
        "body": {"text": text.join("\n")},
        "action": {"buttons": buttons},
    });
    if let Some(h) = header.first().and_then(text_of) {
        interactive["header"] = json!({"type": "text", "text": h});
    }
    Ok(vec![
        json!({"to": to, "type": "interactive", "interactive": interactive}),
    ])
}

fn template_message(to: &str, body: &Map<String, Value>) -> Result<Vec<Value>, Invalid> {
    let name = body
        .get("ref_template_name")
        .and_then(text_of)
        .ok_or_else(|| Invalid("ref_template_name".into()))?;
    let language = ["ref_language", "ref_language_code"]
        .iter()
        .find_map(|f| body.get(*f).and_then(text_of))
        .unwrap_or_else(|| "es".into());
    let mut components = Vec::new();
    let header = parameters(
        opt_array(body, "ref_parameters_header")?,
        "ref_parameters_header",
    )?;
    if !header.is_empty() {
        components.push(json!({"type": "header", "parameters": header}));
    }
    let body_params = parameters(
        opt_array(body, "ref_parameters_body_template")?,
        "ref_parameters_body_template",
    )?;
    if !body_params.is_empty() {
        components.push(json!({"type": "body", "parameters": body_params}));
    }
    for (i, b) in opt_array(body, "ref_parameters_buttons")?
        .iter()
        .enumerate()
    {
        // A button is a Meta button component, or the text of a URL button's suffix.
        match b {
            Value::Object(o) if o.contains_key("sub_type") => components.push(b.clone()),
            other => {
                let p = parameter(other).ok_or_else(|| Invalid("ref_parameters_buttons".into()))?;
                components.push(json!({"type": "button", "sub_type": "url",
                                       "index": i.to_string(), "parameters": [p]}));
            }
        }
    }
    let mut template = json!({"name": name, "language": {"code": language}});
    if !components.is_empty() {
        template["components"] = json!(components);
    }
    Ok(vec![
        json!({"to": to, "type": "template", "template": template}),
    ])
}

/// Translates a send body; the error names the first invalid field.
pub fn translate(body: &Value) -> Result<CurbeSend, Invalid> {
    let body = body.as_object().ok_or_else(|| Invalid("body".into()))?;
    let to = format!("+{}", digits(body, "ref_number_to")?);
    let from = digits(body, "ref_number_from")?;
    if number(body.get("ref_type_message")).is_none() {
        return Err(Invalid("ref_type_message".into()));
    }
    let kind = body
        .get("ref_whatssap_type")
        .and_then(Value::as_str)
        .map(|k| k.trim().to_ascii_lowercase())
        .ok_or_else(|| Invalid("ref_whatssap_type".into()))?;
    let messages = match kind.as_str() {
        "text" => text_message(&to, body)?,
        "image" => image_messages(&to, body)?,
        "location" => location_messages(&to, body)?,
        "interactive" | "button" => interactive_message(&to, body)?,
        "template" => template_message(&to, body)?,
        _ => return Err(Invalid("ref_whatssap_type".into())),
    };
    Ok(CurbeSend { from, messages })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base(kind: &str) -> Value {
        json!({"ref_number_to": "593999999999", "ref_number_from": "593988888888",
               "ref_whatssap_type": kind, "ref_type_message": 3})
    }

    #[test]
    fn the_documented_image_example_makes_one_image_message_per_image() {
        let mut b = base("image");
        b["ref_images"] = json!([{"link": "https://x.test/a.jpg", "caption": "uno"},
                                 {"link": "https://x.test/b.jpg"}]);
        let send = translate(&b).unwrap();
        assert_eq!(send.from, "593988888888");
        assert_eq!(send.messages.len(), 2);
        assert_eq!(
            send.messages[0],
            json!({"to": "+593999999999", "type": "image",
                   "image": {"link": "https://x.test/a.jpg", "caption": "uno"}})
        );
        assert_eq!(
            send.messages[1]["image"],
            json!({"link": "https://x.test/b.jpg"})
        );
    }

    #[test]
    fn the_envelope_fields_are_required() {
        for field in [
            "ref_number_to",
            "ref_number_from",
            "ref_whatssap_type",
            "ref_type_message",
        ] {
            let mut b = base("text");
            b["ref_text"] = json!("hola");
            b.as_object_mut().unwrap().remove(field);
            assert_eq!(translate(&b), Err(Invalid(field.into())), "{field}");
        }
        let mut b = base("fax");
        b["ref_text"] = json!("hola");
        assert_eq!(translate(&b), Err(Invalid("ref_whatssap_type".into())));
    }

    #[test]
    fn text_is_read_from_any_of_its_inferred_names() {
        for field in ["ref_text", "ref_text_message", "ref_body", "ref_message"] {
            let mut b = base("text");
            b[field] = json!("hola");
            let m = &translate(&b).unwrap().messages[0];
            assert_eq!(m["text"]["body"], "hola", "{field}");
        }
        let mut b = base("text");
        b["ref_texts"] = json!([{"body": "a"}, {"body": "b"}]);
        assert_eq!(translate(&b).unwrap().messages.len(), 2);
        assert_eq!(translate(&base("text")), Err(Invalid("ref_text".into())));
    }

    #[test]
    fn locations_take_numbers_or_numeric_strings() {
        let mut b = base("location");
        b["ref_location"] = json!({"latitude": "-0.18", "longitude": -78.47, "name": "Quito"});
        let m = &translate(&b).unwrap().messages[0];
        assert_eq!(
            m["location"],
            json!({"latitude": -0.18, "longitude": -78.47, "name": "Quito"})
        );
        b["ref_location"] = json!({"latitude": "norte"});
        assert_eq!(translate(&b), Err(Invalid("ref_location".into())));
    }

    #[test]
    fn buttons_become_reply_buttons_with_the_body_text() {
        let mut b = base("interactive");
        b["ref_parameters_header"] = json!(["Oferta"]);
        b["ref_parameters_body_template"] = json!(["¿Le interesa?"]);
        b["ref_text_buttons"] = json!(["Sí", {"id": "no", "title": "No"}]);
        let m = &translate(&b).unwrap().messages[0];
        assert_eq!(
            m["interactive"]["header"],
            json!({"type": "text", "text": "Oferta"})
        );
        assert_eq!(m["interactive"]["body"]["text"], "¿Le interesa?");
        assert_eq!(
            m["interactive"]["action"]["buttons"],
            json!([{"type": "reply", "reply": {"id": "btn_1", "title": "Sí"}},
                   {"type": "reply", "reply": {"id": "no", "title": "No"}}])
        );
        // The documented example's empty arrays say nothing to send.
        let mut b = base("interactive");
        for f in [
            "ref_parameters_header",
            "ref_parameters_body_template",
            "ref_text_buttons",
        ] {
            b[f] = json!([]);
        }
        assert_eq!(
            translate(&b),
            Err(Invalid("ref_parameters_body_template".into()))
        );
    }

    #[test]
    fn templates_take_string_or_meta_parameters() {
        let mut b = base("template");
        b["ref_template_name"] = json!("pedido_listo");
        b["ref_parameters_body_template"] = json!(["Ana", {"type": "text", "text": "123"}]);
        b["ref_parameters_buttons"] = json!(["abc"]);
        let m = &translate(&b).unwrap().messages[0];
        assert_eq!(m["template"]["language"]["code"], "es");
        assert_eq!(
            m["template"]["components"],
            json!([{"type": "body", "parameters": [{"type": "text", "text": "Ana"},
                                                   {"type": "text", "text": "123"}]},
                   {"type": "button", "sub_type": "url", "index": "0",
                    "parameters": [{"type": "text", "text": "abc"}]}])
        );
        assert_eq!(
            translate(&base("template")),
            Err(Invalid("ref_template_name".into()))
        );
    }
}
