//! Every outbound message type goes end to end, through the sandbox, until `read`.

use std::time::Duration;

use serde_json::{json, Value};

use crate::on_both_backends;
use crate::support::{Backend, TestServer};

/// One valid request per Cloud API outbound type and subtype, each to its own recipient.
pub fn every_type() -> Vec<Value> {
    let media_link = "https://cdn.example.com/files/a";
    vec![
        json!({"to": "+5215512345001", "type": "text", "text": {"body": "Hola https://example.com", "preview_url": true}}),
        json!({"to": "5215512345002", "type": "image", "image": {"link": format!("{media_link}.jpg"), "caption": "Factura"}}),
        json!({"to": "+5215512345003", "type": "image", "image": {"id": "1234567890"}}),
        json!({"to": "+5215512345004", "type": "video", "video": {"link": format!("{media_link}.mp4"), "caption": "Video"}}),
        json!({"to": "+5215512345005", "type": "audio", "audio": {"link": format!("{media_link}.ogg")}}),
        json!({"to": "+5215512345006", "type": "document", "document": {"link": format!("{media_link}.pdf"), "caption": "Invoice", "filename": "invoice-42.pdf"}}),
        json!({"to": "+5215512345007", "type": "sticker", "sticker": {"id": "987654321"}}),
        json!({"to": "+5215512345008", "type": "location", "location": {"latitude": "19.4326", "longitude": "-99.1332", "name": "Zócalo", "address": "Centro, CDMX"}}),
        json!({"to": "+5215512345009", "type": "contacts", "contacts": [{
            "name": {"formatted_name": "John Smith", "first_name": "John"},
            "phones": [{"phone": "+1 (650) 555-1234", "type": "WORK", "wa_id": "16505551234"}],
            "emails": [{"email": "j@example.com", "type": "WORK"}],
            "birthday": "2012-08-18"}]}),
        json!({"to": "+5215512345010", "type": "reaction", "reaction": {"message_id": "wamid.HBgLMTY1MDM4Nzk0MzkVAgARGBI5QTNDQTVCM0Q0Q0Q2RTY3RTcA", "emoji": "😀"}}),
        json!({"to": "+5215512345011", "type": "interactive", "interactive": {
            "type": "button", "header": {"type": "text", "text": "Pedido"}, "body": {"text": "¿Confirmas?"}, "footer": {"text": "Chasqui"},
            "action": {"buttons": [
                {"type": "reply", "reply": {"id": "yes-1", "title": "Sí"}},
                {"type": "reply", "reply": {"id": "no-1", "title": "No"}}]}}}),
        json!({"to": "+5215512345012", "type": "interactive", "interactive": {
            "type": "list", "header": {"type": "text", "text": "Menú"}, "body": {"text": "Elige uno"},
            "action": {"button": "Opciones", "sections": [
                {"title": "Pizzas", "rows": [{"id": "p1", "title": "Margarita", "description": "Tomate"}]},
                {"title": "Bebidas", "rows": [{"id": "d1", "title": "Agua"}]}]}}}),
        json!({"to": "+5215512345013", "type": "interactive", "interactive": {
            "type": "cta_url", "body": {"text": "Sigue tu pedido"},
            "action": {"name": "cta_url", "parameters": {"display_text": "Seguir", "url": "https://example.com/t/42"}}}}),
        json!({"to": "+5215512345014", "type": "template", "template": {
            "name": "order_update", "language": {"code": "es_MX", "policy": "deterministic"},
            "components": [
                {"type": "header", "parameters": [{"type": "image", "image": {"link": "https://cdn.example.com/banner.jpg"}}]},
                {"type": "body", "parameters": [
                    {"type": "text", "text": "Juana"},
                    {"type": "currency", "currency": {"fallback_value": "$100.99", "code": "MXN", "amount_1000": 100990}},
                    {"type": "date_time", "date_time": {"fallback_value": "25 de febrero de 1977"}}]},
                {"type": "button", "sub_type": "quick_reply", "index": "0", "parameters": [{"type": "payload", "payload": "STOP"}]},
                {"type": "button", "sub_type": "url", "index": "1", "parameters": [{"type": "text", "text": "ABC123"}]},
                {"type": "button", "sub_type": "copy_code", "index": "2", "parameters": [{"type": "coupon_code", "coupon_code": "FALL25"}]}]}}),
        json!({"to": "+5215512345015", "type": "template", "template": {
            "name": "welcome_named", "language": {"code": "es"},
            "components": [
                {"type": "header", "parameters": [{"type": "location", "location": {"latitude": "-0.1807", "longitude": "-78.4678", "name": "Quito"}}]},
                {"type": "body", "parameters": [{"type": "text", "parameter_name": "first_name", "text": "Ana"}]}]}}),
        json!({"to": "+5215512345016", "type": "text", "text": {"body": "Respuesta"}, "context": {"message_id": "wamid.HBgLMTY1MDM4Nzk0MzkVAgARGBI5QTNDQTVCM0Q0Q0Q2RTY3RTcA"}}),
    ]
}

async fn every_message_type_reaches_read(backend: Backend) {
    let server = TestServer::start(backend).await;
    crate::templates::register_send_templates(&server).await;
    let bodies = every_type();
    let mut ids = Vec::new();
    for body in &bodies {
        let resp = server.send(body).await;
        assert_eq!(resp.status(), 202);
        let json: Value = resp.json().await.expect("json");
        assert_eq!(json["status"], "queued");
        assert!(json["id"].as_str().expect("id").starts_with("msg_"));
        assert_eq!(json["channel"], "ch_default");
        ids.push(json["id"].as_str().expect("id").to_string());
    }
    server
        .wait_for(&ids, &["read"], Duration::from_secs(30))
        .await;
    // Status webhooks can settle a message before the dispatcher's batched outcome write lands;
    // its `sending` entry follows shortly. Each webhook is posted on its own, like Meta's, so a
    // `delivered` can also land after `read`.
    let mut done = Vec::new();
    for id in &ids {
        server.wait_for_timeline(id, "sending").await;
        done.push(server.wait_for_timeline(id, "delivered").await);
    }
    let received = server.sandbox_messages().await;
    for (body, msg) in bodies.iter().zip(&done) {
        let statuses: Vec<&str> = msg["timeline"]
            .as_array()
            .expect("timeline")
            .iter()
            .filter_map(|e| e["status"].as_str())
            .collect();
        for s in ["queued", "sending", "sent", "delivered", "read"] {
            assert!(
                statuses.contains(&s),
                "{} timeline lacks {s}: {statuses:?}",
                msg["id"]
            );
        }
        assert!(
            msg["wamid"]
                .as_str()
                .is_some_and(|w| w.starts_with("wamid.")),
            "{msg}"
        );
        assert_eq!(msg["attempts"], 1);
        let kind = body["type"].as_str().expect("type");
        assert_eq!(msg["type"], kind);
        assert_eq!(
            msg["content"][kind], body[kind],
            "stored content is what was sent"
        );
        // The sandbox got exactly this message once, in Meta's shape, naming Chasqui's id.
        let copies: Vec<&Value> = received
            .iter()
            .filter(|r| r["callback_data"] == msg["id"])
            .collect();
        assert_eq!(copies.len(), 1, "{}", msg["id"]);
        assert_eq!(copies[0]["body"][kind], body[kind]);
        assert_eq!(
            copies[0]["to"],
            msg["to"].as_str().expect("to").trim_start_matches('+')
        );
        if body.get("context").is_some() {
            assert_eq!(copies[0]["body"]["context"], body["context"]);
        }
    }
    server.stop().await;
}

async fn a_channel_can_be_named_by_id_or_number(backend: Backend) {
    let server = TestServer::start(backend).await;
    for channel in ["ch_default", "+15550000001", "15550000001"] {
        let body = json!({"to": "+593991234567", "type": "text", "text": {"body": "hi"}, "channel": channel});
        let resp = server.send(&body).await;
        assert_eq!(resp.status(), 202, "{channel}");
    }
    let resp = server.send(&json!({"to": "+593991234567", "type": "text", "text": {"body": "hi"}, "channel": "ch_nope"})).await;
    assert_eq!(resp.status(), 422);
    let json: Value = resp.json().await.expect("json");
    assert_eq!(json["errors"][0]["field"], "channel");
    assert_eq!(json["errors"][0]["code"], "unknown_channel");
    server.stop().await;
}

on_both_backends!(
    every_message_type_reaches_read,
    a_channel_can_be_named_by_id_or_number
);
