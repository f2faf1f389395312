//! The window fallback: a free-form text to a person whose window is closed goes as the
//! channel's approved fallback template, the text as its parameter, and the message shows both
//! what was asked and what was sent; without a fallback, or inside the window, nothing changes.

use std::time::Duration;

use reqwest::Method;
use serde_json::{json, Value};

use crate::on_both_backends;
use crate::support::{Backend, TestServer};
use crate::templates::submit_approved;

async fn a_text_outside_the_window_goes_as_the_fallback_template(backend: Backend) {
    let s = TestServer::start(backend).await;
    submit_approved(
        &s,
        &json!({"name": "aviso", "language": "es", "category": "UTILITY", "components": [
            {"type": "BODY", "text": "Aviso de su pedido: {{1}}. Gracias.",
             "example": {"body_text": [["salió hoy"]]}}]}),
    )
    .await;
    let (status, _) = s
        .request_json(
            Method::PATCH,
            "/v1/admin/channels/ch_default",
            &json!({"window_policy": "enforce"}),
        )
        .await;
    assert_eq!(status, 200);
    let text = |body: &str| json!({"to": "+5215512340009", "type": "text", "text": {"body": body}});
    // Off by default: refused as before.
    let resp = s.send(&text("Su pedido salió")).await;
    assert_eq!(resp.status(), 422);
    let refused: Value = resp.json().await.unwrap();
    assert_eq!(refused["code"], "window_closed");

    // A fallback that is not a template name is refused, naming the field.
    let (status, bad) = s
        .request_json(
            Method::PATCH,
            "/v1/admin/channels/ch_default",
            &json!({"window_fallback": {"template": "Aviso", "language": "es", "parameter": "1"}}),
        )
        .await;
    assert_eq!(status, 422, "{bad}");
    assert_eq!(bad["errors"][0]["field"], "window_fallback");
    let (status, ch) = s
        .request_json(
            Method::PATCH,
            "/v1/admin/channels/ch_default",
            &json!({"window_fallback": {"template": "aviso", "language": "es", "parameter": "1"}}),
        )
        .await;
    assert_eq!(status, 200, "{ch}");
    assert_eq!(ch["window_fallback"]["template"], "aviso");

    let id = s.send_ok(&text("Su pedido salió")).await;
    let done = s
        .wait_for(
            std::slice::from_ref(&id),
            &["read"],
            Duration::from_secs(20),
        )
        .await;
    let m = &done[0];
    assert_eq!(m["type"], "template", "{m}");
    assert_eq!(m["content"]["template"]["name"], "aviso");
    assert_eq!(
        m["content"]["template"]["components"][0]["parameters"][0]["text"],
        "Su pedido salió"
    );
    assert_eq!(
        m["requested"]["text"]["body"], "Su pedido salió",
        "what was asked: {m}"
    );
    assert_eq!(
        m["rendered_text"],
        "Aviso de su pedido: Su pedido salió. Gracias."
    );
    let got = s.sandbox_messages().await;
    assert_eq!(got.last().unwrap()["type"], "template");

    // Inside the window, a text is a text.
    s.customer_writes(
        "5215512340009",
        "Rosa",
        json!({"type": "text", "text": {"body": "gracias"}}),
    )
    .await;
    let id = s.send_ok(&text("De nada")).await;
    let m = s.message(&id).await;
    assert_eq!(m["type"], "text", "{m}");
    assert!(m.get("requested").is_none(), "{m}");

    // A fallback naming no approved template refuses the text as the template check does.
    let (status, _) = s
        .request_json(
            Method::PATCH,
            "/v1/admin/channels/ch_default",
            &json!({"window_fallback": {"template": "no_existe", "language": "es", "parameter": "1"}}),
        )
        .await;
    assert_eq!(status, 200);
    let resp = s
        .send(&json!({"to": "+5215512340010", "type": "text", "text": {"body": "hola"}}))
        .await;
    assert_eq!(resp.status(), 422);
    let refused: Value = resp.json().await.unwrap();
    assert_eq!(refused["code"], "template_not_found", "{refused}");
    s.stop().await;
}

on_both_backends!(a_text_outside_the_window_goes_as_the_fallback_template);
