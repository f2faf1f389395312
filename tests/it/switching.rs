//! Switching from a vendor, as the README's migration guides say: each vendor's seed example runs
//! against a channel configured as its guide says, after the guide's import, and nothing but the
//! base URL and the key changed in the request.

use std::time::Duration;

use reqwest::Method;
use serde_json::{json, Value};

use crate::on_both_backends;
use crate::support::{Backend, TestServer};
use crate::templates::submit_approved;

/// The guides' window fallback: an approved UTILITY template whose one parameter carries the
/// text, set on the channel with window enforcement on.
async fn configure_window_fallback(s: &TestServer) {
    submit_approved(
        s,
        &json!({"name": "aviso_cliente", "language": "es", "category": "UTILITY", "components": [
            {"type": "BODY", "text": "Tiene un mensaje de su proveedor: {{1}}. Gracias.",
             "example": {"body_text": [["su pedido salió"]]}}]}),
    )
    .await;
    let (status, ch) = s
        .request_json(
            Method::PATCH,
            "/v1/admin/channels/ch_default",
            &json!({"window_policy": "enforce", "window_fallback":
                {"template": "aviso_cliente", "language": "es", "parameter": "1"}}),
        )
        .await;
    assert_eq!(status, 200, "{ch}");
}

/// The one message to `digits`, once it is delivered.
async fn the_delivered_message_to(s: &TestServer, digits: &str) -> Value {
    let (_, page) = s.get_json(&format!("/v1/messages?to=%2B{digits}")).await;
    let ids: Vec<String> = page["data"]
        .as_array()
        .expect("data")
        .iter()
        .map(|m| m["id"].as_str().expect("id").to_string())
        .collect();
    assert_eq!(ids.len(), 1, "{page}");
    s.wait_for(&ids, &["delivered", "read"], Duration::from_secs(20))
        .await
        .remove(0)
}

/// Wolkvox's guide: the numeric `connector_id` Wolkvox gave the line, the daily limit of its
/// licences, and the window fallback for `send_message_mobil`'s window-free habit.
async fn wolkvox_as_its_guide_says(backend: Backend) {
    let s = TestServer::start(backend).await;
    configure_window_fallback(&s).await;
    let (status, _) = s
        .request_json(
            Method::PATCH,
            "/v1/admin/channels/ch_default",
            &json!({"wolkvox_connector_id": "1"}),
        )
        .await;
    assert_eq!(status, 200);
    // The seed's request, its placeholder telephone filled in; nobody has written yet.
    let seed = r#"{
    "connector_id": "1",
    "telephone": "573001110001",
    "message": "it is a message"
}"#;
    let post = |api: &'static str| {
        let s = &s;
        async move {
            let resp = s
                .http
                .post(s.url(&format!("/api/v2/whatsapp.php?api={api}")))
                .header("wolkvox-token", &s.key)
                .header("Content-Type", "application/json")
                .body(seed)
                .send()
                .await
                .expect("request");
            let status = resp.status().as_u16();
            (status, resp.json::<Value>().await.unwrap_or(Value::Null))
        }
    };
    // `send_message_official` keeps Wolkvox's rule: only inside the window.
    let (status, refused) = post("send_message_official").await;
    assert_eq!(status, 400, "{refused}");
    // `send_message_mobil` goes, as the fallback template.
    let (status, sent) = post("send_message_mobil").await;
    assert_eq!(status, 201, "{sent}");
    let m = the_delivered_message_to(&s, "573001110001").await;
    assert_eq!(m["type"], "template", "{m}");
    assert_eq!(m["content"]["template"]["name"], "aviso_cliente");
    assert_eq!(m["requested"]["text"]["body"], "it is a message", "{m}");
}

on_both_backends!(wolkvox_as_its_guide_says);

/// respond.io's guide: contacts imported with the ids respond.io gave them, then the seed's send
/// to `id:<respond id>` reaches that person.
async fn respond_as_its_guide_says(backend: Backend) {
    let s = TestServer::start(backend).await;
    let csv =
        "respond_id,phone,name,tags\n123,+593987650001,Ana Pérez,vip\n124,+593987650002,Luis,\n";
    let resp = s
        .http
        .post(s.url("/v1/contacts/import"))
        .bearer_auth(&s.key)
        .header("Content-Type", "text/csv")
        .body(csv)
        .send()
        .await
        .expect("import");
    assert_eq!(resp.status(), 200);
    let report: Value = resp.json().await.expect("json");
    assert_eq!(report["created"], 2, "{report}");
    let seed = include_str!("../../fixtures/vendor-requests/respond/01_text.json");
    let resp = s
        .http
        .post(s.url("/v2/contact/id:123/message"))
        .bearer_auth(&s.key)
        .header("Content-Type", "application/json")
        .body(seed)
        .send()
        .await
        .expect("send");
    assert_eq!(resp.status(), 200);
    let answer: Value = resp.json().await.expect("json");
    assert!(answer["messageId"].is_i64(), "{answer}");
    let m = the_delivered_message_to(&s, "593987650001").await;
    assert_eq!(m["content"]["text"]["body"], "Message text");
    // The contact answers with the id respond.io gave it.
    let resp = s
        .http
        .get(s.url("/v2/contact/id:123"))
        .bearer_auth(&s.key)
        .send()
        .await
        .expect("get");
    let contact: Value = resp.json().await.expect("json");
    assert_eq!(contact["id"], 123, "{contact}");
    // An id nobody imported is 404 and sends nothing.
    let resp = s
        .http
        .post(s.url("/v2/contact/id:999/message"))
        .bearer_auth(&s.key)
        .header("Content-Type", "application/json")
        .body(seed)
        .send()
        .await
        .expect("send");
    assert_eq!(resp.status(), 404);
}

on_both_backends!(respond_as_its_guide_says);

/// InnovaAPI's guide: a WhatsApp-Web style API with no window, so the window fallback carries
/// its texts to people who have not written.
async fn innova_as_its_guide_says(backend: Backend) {
    let s = TestServer::start(backend).await;
    configure_window_fallback(&s).await;
    let seed =
        r#"{"numero":"573001110002","tipo":"text","mensaje":"Hola, este es un mensaje de prueba"}"#;
    let resp = s
        .http
        .post(s.url("/api/whatsapp/enviar"))
        .header("Authorization", format!("Bearer {}", s.key))
        .header("Content-Type", "application/json")
        .body(seed)
        .send()
        .await
        .expect("request");
    assert_eq!(resp.status(), 200);
    let m = the_delivered_message_to(&s, "573001110002").await;
    assert_eq!(m["content"]["template"]["name"], "aviso_cliente", "{m}");
    assert_eq!(
        m["rendered_text"],
        "Tiene un mensaje de su proveedor: Hola, este es un mensaje de prueba. Gracias."
    );
}

on_both_backends!(innova_as_its_guide_says);
