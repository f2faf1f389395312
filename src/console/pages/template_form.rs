//! The template picker of a conversation: the channel's approved templates, a form with one
//! field per placeholder of the header and body, and a preview rendered and checked by the
//! domain's own template code, the same as the API's send check. Sending goes through the
//! send service like any template send.

use chasqui_domain::template_registry::{
    match_send, placeholders, render, ParameterFormat, PlaceholderKey, Template,
};
use chasqui_store::StoredTemplate;
use maud::{html, Markup};
use serde_json::{json, Value};

use crate::console::i18n::Lang;

/// The form's field of a placeholder: `h.1`, `b.2`, `b.first_name`.
fn field(part: char, key: &PlaceholderKey) -> String {
    match key {
        PlaceholderKey::Position(n) => format!("{part}.{n}"),
        PlaceholderKey::Name(n) => format!("{part}.{n}"),
    }
}

/// The placeholders of the template's header text and body text, as (part, key).
fn slots(t: &Template) -> Vec<(char, PlaceholderKey)> {
    let header = t
        .header()
        .and_then(|h| h.text.as_deref())
        .map(placeholders)
        .unwrap_or_default();
    let body = t
        .body()
        .and_then(|b| b.text.as_deref())
        .map(placeholders)
        .unwrap_or_default();
    header
        .into_iter()
        .map(|k| ('h', k))
        .chain(body.into_iter().map(|k| ('b', k)))
        .collect()
}

/// Meta's `template` object for a send of `t` with the form's values.
pub fn send_object(t: &Template, values: &[(String, String)]) -> Value {
    let named = t.parameter_format == ParameterFormat::Named;
    let params = |part: char| -> Vec<Value> {
        slots(t)
            .into_iter()
            .filter(|(p, _)| *p == part)
            .map(|(p, k)| {
                let text = super::field(values, &field(p, &k));
                match (&k, named) {
                    (PlaceholderKey::Name(n), true) => {
                        json!({"type": "text", "parameter_name": n, "text": text})
                    }
                    _ => json!({"type": "text", "text": text}),
                }
            })
            .collect()
    };
    let mut components = Vec::new();
    let header = params('h');
    if !header.is_empty() {
        components.push(json!({"type": "header", "parameters": header}));
    }
    let body = params('b');
    if !body.is_empty() {
        components.push(json!({"type": "body", "parameters": body}));
    }
    json!({"name": t.name.as_str(), "language": {"code": t.language}, "components": components})
}

/// The `template` query value naming `t`: `name:language`.
pub fn choice(t: &Template) -> String {
    format!("{}:{}", t.name.as_str(), t.language)
}

/// The template `choice` names among `templates`.
pub fn chosen<'a>(templates: &'a [StoredTemplate], choice_: &str) -> Option<&'a StoredTemplate> {
    templates.iter().find(|t| choice(&t.template) == choice_)
}

/// The picker: a list of templates, and for the chosen one its fields, preview and problems.
pub fn picker(
    lang: Lang,
    action: &str,
    page: &str,
    csrf: &str,
    templates: &[StoredTemplate],
    selected: Option<(&StoredTemplate, &[(String, String)])>,
) -> Markup {
    html! {
        div.template-picker {
            form.choose method="get" action=(page) {
                label {
                    (lang.t("template-choose"))
                    select name="template" {
                        option value="" { "—" }
                        @for t in templates {
                            option value=(choice(&t.template))
                                selected[selected.is_some_and(|(s, _)| choice(&s.template) == choice(&t.template))] {
                                (t.template.name.as_str()) " (" (t.template.language) ", " (t.template.category.as_str()) ")"
                            }
                        }
                    }
                }
                button type="submit" { (lang.t("template-pick")) }
            }
            @if templates.is_empty() {
                p.notice { (lang.t("template-none")) }
            }
            @if let Some((t, values)) = selected {
                @let send = send_object(&t.template, values);
                @let problems = match_send(&t.template, &send).err().unwrap_or_default();
                // Problems show once the form was sent, not on a fresh one.
                @let filled = values.iter().any(|(k, _)| k == "do");
                form.template-params method="post" action=(action) {
                    input type="hidden" name="_csrf" value=(csrf);
                    input type="hidden" name="template" value=(choice(&t.template));
                    @for (part, key) in slots(&t.template) {
                        @let name = field(part, &key);
                        label {
                            (if part == 'h' { lang.t("template-header") } else { lang.t("template-body") })
                            " {{" (key) "}}"
                            input name=(name) value=(super::field(values, &name)) dir="auto";
                        }
                    }
                    div.preview data-preview="template" {
                        strong { (lang.t("template-preview")) }
                        p.rendered dir="auto" { (render(&t.template, &send).to_text()) }
                    }
                    @if filled && !problems.is_empty() {
                        ul.error role="alert" { @for p in &problems { li { (p.message) } } }
                    }
                    button type="submit" name="do" value="preview" { (lang.t("template-preview-button")) }
                    button type="submit" name="do" value="send" { (lang.t("template-send")) }
                }
            }
        }
    }
}
