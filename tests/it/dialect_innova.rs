//! InnovaAPI's `POST /api/whatsapp/enviar`: every request example of the vendor's document runs
//! verbatim (only the host and the API key changed) and its message is read in the sandbox; each
//! documented status (401, 400 for parameters and for a channel that is not connected, 429) is
//! exercised; a switched-off dialect is not there.

use std::time::Duration;

use reqwest::Method;
use serde_json::{json, Value};

use crate::on_both_backends;
use crate::support::{Backend, TestServer};

const SENT: &str = "Mensaje enviado correctamente";

/// Posts `body` as raw JSON text with `Authorization: <auth>` (when given).
async fn enviar(s: &TestServer, auth: Option<&str>, body: &str) -> (u16, Value) {
    let mut req = s
        .http
        .post(s.url("/api/whatsapp/enviar"))
        .header("Content-Type", "application/json")
        .body(body.to_string());
    if let Some(a) = auth {
        req = req.header("Authorization", a);
    }
    let resp = req.send().await.expect("request");
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
}

/// The seed's examples, with `TU_API_KEY` → the server's key.
fn seed_examples() -> Vec<&'static str> {
    vec![
        // JavaScript / Python / PHP (the same JSON).
        r#"{"numero":"573001234567","tipo":"text","mensaje":"Hola, este es un mensaje de prueba"}"#,
        r#"{"numero":"573001234567","tipo":"image","url":"https://ejemplo.com/imagen.jpg","caption":"Mira esta imagen"}"#,
        r#"{"numero":"573001234567","tipo":"location","latitud":4.7110,"longitud":-74.0086,"nombre":"Bogotá, Colombia"}"#,
        // curl.
        r#"{"numero":"573001234567","tipo":"text","mensaje":"Hola mundo"}"#,
        r#"{"numero":"573001234567","tipo":"image","url":"https://ejemplo.com/img.jpg","caption":"Texto"}"#,
        r#"{"numero":"573001234567","tipo":"document","url":"https://ejemplo.com/doc.pdf"}"#,
        r#"{"numero":"573001234567","tipo":"location","latitud":4.7110,"longitud":-74.0086,"nombre":"Bogotá"}"#,
    ]
}

async fn seed_examples_are_sent_and_read(backend: Backend) {
    let s = TestServer::start(backend).await;
    let auth = format!("Bearer {}", s.key);
    let examples = seed_examples();
    for body in &examples {
        let (status, answer) = enviar(&s, Some(&auth), body).await;
        assert_eq!(status, 200, "{body}: {answer}");
        assert_eq!(answer, json!({"success": true, "message": SENT}));
    }
    let (_, page) = s.get_json("/v1/messages?to=%2B573001234567&limit=50").await;
    let ids: Vec<String> = page["data"]
        .as_array()
        .expect("data")
        .iter()
        .filter_map(|m| m["id"].as_str().map(str::to_owned))
        .collect();
    assert_eq!(ids.len(), examples.len(), "{page}");
    s.wait_for(&ids, &["read"], Duration::from_secs(20)).await;
    // What went out is the translation: the document's file name, the location's name.
    let sent = s.sandbox_messages().await;
    let document = sent
        .iter()
        .find(|m| m["type"] == "document" || m["body"]["type"] == "document")
        .map(|m| m.to_string())
        .unwrap_or_default();
    assert!(document.contains("doc.pdf"), "{sent:?}");
    assert!(
        sent.iter()
            .any(|m| m.to_string().contains("Bogotá, Colombia")),
        "{sent:?}"
    );
}

async fn documented_refusals(backend: Backend) {
    let s = TestServer::start(backend).await;
    let auth = format!("Bearer {}", s.key);
    let text = r#"{"numero":"573001234567","tipo":"text","mensaje":"Hola mundo"}"#;
    let bad_key = json!({"success": false, "message": "API Key inválida o no enviada"});
    assert_eq!(enviar(&s, None, text).await, (401, bad_key.clone()));
    assert_eq!(
        enviar(&s, Some("Bearer chq_not_a_key"), text).await,
        (401, bad_key)
    );
    for (body, detail) in [
        (r#"{"tipo":"text","mensaje":"x"}"#, "numero es requerido"),
        (
            r#"{"numero":"573001234567","tipo":"text"}"#,
            "mensaje es requerido",
        ),
        (
            r#"{"numero":"573001234567","tipo":"image"}"#,
            "url es requerido",
        ),
        (
            r#"{"numero":"573001234567","tipo":"location","latitud":"norte","longitud":1}"#,
            "latitud",
        ),
        (r#"{"numero":"573001234567","tipo":"sticker"}"#, "tipo"),
        (r#"{"numero":"57","tipo":"text","mensaje":"x"}"#, "to"),
        ("{not json", "JSON"),
    ] {
        let (status, answer) = enviar(&s, Some(&auth), body).await;
        assert_eq!(status, 400, "{body}: {answer}");
        assert_eq!(answer["success"], false);
        let message = answer["message"].as_str().unwrap_or("");
        assert!(
            message.starts_with("Parámetros incorrectos: ") && message.contains(detail),
            "{body}: {message}"
        );
    }
    // Nothing was stored for any refusal.
    let (_, page) = s.get_json("/v1/messages").await;
    assert_eq!(page["data"].as_array().map(Vec::len), Some(0), "{page}");

    // A disabled channel is "not connected".
    let (_, channels) = s.get_json("/v1/admin/workspaces/ws_default/channels").await;
    let id = channels["data"][0]["id"].as_str().expect("channel id");
    let (status, _) = s
        .request_json(
            Method::PATCH,
            &format!("/v1/admin/channels/{id}"),
            &json!({"enabled": false}),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(
        enviar(&s, Some(&auth), text).await,
        (
            400,
            json!({"success": false, "message": "WhatsApp no está conectado"})
        )
    );
}

/// Chasqui's `Idempotency-Key` works through the dialect too: a retried request is answered the
/// same and stores nothing new.
async fn a_retry_with_the_same_idempotency_key_sends_once(backend: Backend) {
    let s = TestServer::start(backend).await;
    let text = r#"{"numero":"573001234567","tipo":"text","mensaje":"Hola mundo"}"#;
    for _ in 0..2 {
        let resp = s
            .http
            .post(s.url("/api/whatsapp/enviar"))
            .bearer_auth(&s.key)
            .header("Content-Type", "application/json")
            .header("Idempotency-Key", "pedido-42")
            .body(text)
            .send()
            .await
            .expect("request");
        assert_eq!(resp.status(), 200);
    }
    let (_, page) = s.get_json("/v1/messages?to=%2B573001234567").await;
    assert_eq!(page["data"].as_array().map(Vec::len), Some(1), "{page}");
}

async fn daily_limit_is_429(backend: Backend) {
    let s = TestServer::start_with(backend, |c| c.dialects.innova.daily_limit = Some(2)).await;
    let auth = format!("Bearer {}", s.key);
    let text = r#"{"numero":"573001234567","tipo":"text","mensaje":"Hola mundo"}"#;
    for _ in 0..2 {
        assert_eq!(enviar(&s, Some(&auth), text).await.0, 200);
    }
    assert_eq!(
        enviar(&s, Some(&auth), text).await,
        (
            429,
            json!({"success": false, "message": "Límite de mensajes diarios alcanzado"})
        )
    );
    // The dialect's limit is its own: the native API is not held to it.
    assert_eq!(
        s.send(&json!({"to": "+573001234567", "type": "text", "text": {"body": "x"}}))
            .await
            .status(),
        202
    );
}

/// A rate limit is not the daily limit: the answer says which, with `Retry-After`.
async fn a_rate_limit_says_so_with_retry_after(backend: Backend) {
    let s = TestServer::start(backend).await;
    let tenant = s.new_workspace("innova rate").await;
    let (status, key) = s
        .request_json(
            reqwest::Method::PATCH,
            &format!("/v1/admin/keys/{}", tenant.key_id),
            &json!({"rate_per_minute": 1}),
        )
        .await;
    assert_eq!(status, 200, "{key}");
    let auth = format!("Bearer {}", tenant.key);
    let text = r#"{"numero":"573001234567","tipo":"text","mensaje":"Hola mundo"}"#;
    assert_eq!(enviar(&s, Some(&auth), text).await.0, 200);
    let resp = s
        .http
        .post(s.url("/api/whatsapp/enviar"))
        .header("Authorization", &auth)
        .header("Content-Type", "application/json")
        .body(text)
        .send()
        .await
        .expect("request");
    assert_eq!(resp.status(), 429);
    let retry_after: u64 = resp.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&retry_after), "{retry_after}");
    let body: Value = resp.json().await.unwrap();
    let message = body["message"].as_str().unwrap();
    assert!(
        message.starts_with("Demasiadas solicitudes por minuto"),
        "{body}"
    );
    assert!(!message.contains("diarios"), "{body}");
    assert_eq!(body["success"], false);
}

async fn switched_off_is_not_found(backend: Backend) {
    let s = TestServer::start_with(backend, |c| c.dialects.innova.enabled = false).await;
    let auth = format!("Bearer {}", s.key);
    let (status, _) = enviar(
        &s,
        Some(&auth),
        r#"{"numero":"573001234567","tipo":"text","mensaje":"Hola mundo"}"#,
    )
    .await;
    assert_eq!(status, 404);
}

/// Every authenticated route of the dialect table refuses a caller with no credential (401 or
/// 403, in its vendor's envelope) and stores nothing, even with a body that would send.
async fn every_dialect_route_refuses_anonymous_callers(backend: Backend) {
    let s = TestServer::start(backend).await;
    let table = chasqui::api::dialects::table(&chasqui::config::DialectsConfig::default());
    assert!(!table.is_empty());
    for r in table.iter().filter(|r| r.scope.is_some()) {
        let resp = s
            .http
            .request(r.method.clone(), s.url(r.path))
            .header("Content-Type", "application/json")
            .body(r#"{"numero":"573001234567","tipo":"text","mensaje":"x","connector_id":"1","telephone":"573001234567","message":"x"}"#)
            .send()
            .await
            .expect("request");
        let status = resp.status().as_u16();
        let body: Value = resp.json().await.unwrap_or(Value::Null);
        assert!(
            [401, 403].contains(&status) && body.is_object(),
            "{} {} ({}): {status} {body}",
            r.method,
            r.path,
            r.dialect
        );
    }
    let (_, page) = s.get_json("/v1/messages").await;
    assert_eq!(page["data"].as_array().map(Vec::len), Some(0), "{page}");
}

on_both_backends!(
    every_dialect_route_refuses_anonymous_callers,
    seed_examples_are_sent_and_read,
    documented_refusals,
    a_retry_with_the_same_idempotency_key_sends_once,
    daily_limit_is_429,
    a_rate_limit_says_so_with_retry_after,
    switched_off_is_not_found,
);
