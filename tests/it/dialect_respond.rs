//! respond.io Developer API v2 (Ecuabots) at `/v2`: every request example of seed 001 posted
//! verbatim (only the host, the token and the path's `identifier` placeholder changed) reaches
//! `read`; every documented error answer; the template semantics (text mismatch accepted, a wrong
//! parameter count failing on the message); contacts, tags, lists with cursors, channels and
//! their templates; and a switched-off dialect answering 404.

use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::{json, Value};

use crate::on_both_backends;
use crate::support::{Backend, TestServer};
use crate::templates::submit_approved;

/// The customer of the examples, as a path identifier (`+` percent-encoded, as respond.io's
/// SDK sends it).
const CUSTOMER: &str = "phone:%2B593998445667";
const CUSTOMER_DIGITS: &str = "593998445667";

/// The seed's request bodies, byte for byte.
const EXAMPLES: &[(&str, &str)] = &[
    (
        "text",
        include_str!("../../fixtures/vendor-requests/respond/01_text.json"),
    ),
    (
        "template text only",
        include_str!("../../fixtures/vendor-requests/respond/02_template_text_only.json"),
    ),
    (
        "template with parameters",
        include_str!("../../fixtures/vendor-requests/respond/03_template_parameters.json"),
    ),
    (
        "template with header",
        include_str!("../../fixtures/vendor-requests/respond/04_template_header.json"),
    ),
    (
        "template with CTA buttons",
        include_str!("../../fixtures/vendor-requests/respond/05_template_cta_buttons.json"),
    ),
    (
        "template with quick replies",
        include_str!("../../fixtures/vendor-requests/respond/06_template_quick_replies.json"),
    ),
    (
        "template with footer",
        include_str!("../../fixtures/vendor-requests/respond/07_template_footer.json"),
    ),
];

/// The approved templates the examples name, as the business would have them in WhatsApp
/// Manager.
async fn register_templates(s: &TestServer) {
    let templates = [
        json!({"name": "bug_fixed", "language": "es", "category": "UTILITY", "components": [
            {"type": "BODY", "text": "¡Buenas noticias! 😀. Hemos arreglado el error que reportaste, por favor haz algunas pruebas y cuéntanos cómo funcionó."}]}),
        json!({"name": "account100", "language": "es", "category": "UTILITY", "components": [
            {"type": "BODY", "text": "Hola, {{1}}, tu cuenta ha alcanzado {{2}} de tu límite de contactos. Para evitar perder conversaciones, aumenta tu límite de contactos {{3}}. Siéntase libre de comunicarse con cualquier pregunta.",
             "example": {"body_text": [["Ana", "80%", "hoy"]]}}]}),
        json!({"name": "account_update_en", "language": "es", "category": "UTILITY", "components": [
            {"type": "HEADER", "format": "TEXT", "text": "El equipo de Ecuabots está aquí para usted"},
            {"type": "BODY", "text": "Hola, tu cuenta ha sido actualizada."},
            {"type": "FOOTER", "text": "Que tenga un lindo día"},
            {"type": "BUTTONS", "buttons": [
                {"type": "URL", "text": "Visítanos", "url": "https://www.ecuabots.com/"}]}]}),
        json!({"name": "delivery_order", "language": "en", "category": "UTILITY", "components": [
            {"type": "HEADER", "format": "IMAGE", "example": {"header_handle": ["4::aW1hZ2UvanBn:ARY"]}},
            {"type": "BODY", "text": "Hola, {{1}} tu pedido {{2}} está en camino. Para realizar un seguimiento de su entrega, simplemente haga clic en el enlace o las actualizaciones del socio de entrega.",
             "example": {"body_text": [["Ana", "123"]]}},
            {"type": "FOOTER", "text": "Para más consultas, simplemente responda a este mensaje."},
            {"type": "BUTTONS", "buttons": [
                {"type": "URL", "text": "Seguimiento de su paquete", "url": "https://www.ecuabots.com/"},
                {"type": "PHONE_NUMBER", "text": "Servicio al cliente", "phone_number": "+593997333444"}]}]}),
    ];
    for t in &templates {
        submit_approved(s, t).await;
    }
}

/// Sends `method path` with the body exactly as given and the seed's headers.
async fn call(
    s: &TestServer,
    token: &str,
    method: Method,
    path: &str,
    body: Option<&str>,
) -> reqwest::Response {
    let mut req = s
        .http
        .request(method, s.url(path))
        .header("Authorization", format!("Bearer {token}"));
    if let Some(b) = body {
        req = req
            .header("Content-Type", "application/json")
            .body(b.to_string());
    }
    req.send().await.expect("request")
}

async fn json_of(resp: reqwest::Response) -> (u16, Value) {
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
}

async fn v2(s: &TestServer, method: Method, path: &str, body: Option<Value>) -> (u16, Value) {
    let text = body.map(|b| b.to_string());
    json_of(call(s, &s.key, method, path, text.as_deref()).await).await
}

/// Polls GET `/v2/contact/{identifier}/message/{id}` until its status array shows `value`.
async fn wait_status(s: &TestServer, identifier: &str, id: i64, value: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let (status, record) = v2(
            s,
            Method::GET,
            &format!("/v2/contact/{identifier}/message/{id}"),
            None,
        )
        .await;
        assert_eq!(status, 200, "{record}");
        let statuses = record["status"].as_array().cloned().unwrap_or_default();
        if statuses.iter().any(|st| st["value"] == value) {
            return record;
        }
        assert!(
            Instant::now() < deadline,
            "message {id} never reached {value}: {record}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The customer writes first, which makes them a contact and opens the conversation whose
/// channel is their "last interacted channel".
async fn customer(s: &TestServer) {
    s.customer_writes(
        CUSTOMER_DIGITS,
        "Ana Pérez",
        json!({"type": "text", "text": {"body": "Hola"}}),
    )
    .await;
}

async fn seed_examples_reach_read(backend: Backend) {
    let s = TestServer::start(backend).await;
    register_templates(&s).await;
    customer(&s).await;
    let path = format!("/v2/contact/{CUSTOMER}/message");
    for (name, body) in EXAMPLES {
        let resp = call(&s, &s.key, Method::POST, &path, Some(body)).await;
        let (status, answer) = json_of(resp).await;
        assert_eq!(status, 200, "{name}: {answer}");
        let id = answer["messageId"]
            .as_i64()
            .unwrap_or_else(|| panic!("{name}: messageId is not an integer: {answer}"));
        assert_eq!(answer.as_object().map(|o| o.len()), Some(1), "{answer}");
        wait_status(&s, CUSTOMER, id, "read").await;
        // The sandbox posts each webhook on its own, like Meta, so `delivered` may land after
        // `read`: the whole history is there once both are.
        let record = wait_status(&s, CUSTOMER, id, "delivered").await;
        assert_eq!(record["messageId"], id);
        assert_eq!(record["traffic"], "outgoing");
        assert!(
            record["contactId"].as_i64().is_some_and(|n| n > 0),
            "{record}"
        );
        assert!(
            record["channelId"].as_i64().is_some_and(|n| n > 0),
            "{record}"
        );
        assert!(record["channelMessageId"].is_string(), "{record}");
        let values: Vec<&str> = record["status"]
            .as_array()
            .expect("status")
            .iter()
            .filter_map(|v| v["value"].as_str())
            .collect();
        assert_eq!(values, ["pending", "sent", "delivered", "read"], "{name}");
        assert!(record["status"][0]["timestamp"]
            .as_i64()
            .is_some_and(|t| t > 1_600_000_000 && t < 10_000_000_000));
        // The record shows the message as the request carried it.
        let sent: Value = serde_json::from_str(body).expect("seed json");
        assert_eq!(record["message"], sent["message"], "{name}");
    }
    // What reached WhatsApp is the approved template, by name and language, with the request's
    // parameters.
    let at_meta = s.sandbox_messages().await;
    assert_eq!(at_meta.len(), EXAMPLES.len(), "{at_meta:?}");
    let delivery = at_meta
        .iter()
        .find(|m| m.to_string().contains("delivery_order"))
        .expect("delivery_order reached the sandbox");
    assert!(delivery.to_string().contains("picsum.photos"), "{delivery}");

    // The message list pages with a cursor.
    let (status, page) = v2(
        &s,
        Method::GET,
        &format!("/v2/contact/{CUSTOMER}/message/list?limit=4"),
        None,
    )
    .await;
    assert_eq!(status, 200, "{page}");
    assert_eq!(page["items"].as_array().map(Vec::len), Some(4));
    let next = page["pagination"]["next"]
        .as_str()
        .expect("next page")
        .to_string();
    let (status, rest) = v2(&s, Method::GET, &next, None).await;
    assert_eq!(status, 200, "{rest}");
    assert_eq!(rest["items"].as_array().map(Vec::len), Some(3));
    assert!(rest["pagination"]["next"].is_null());
    let (status, bad) = v2(
        &s,
        Method::GET,
        &format!("/v2/contact/{CUSTOMER}/message/list?limit=101"),
        None,
    )
    .await;
    assert_eq!((status, bad["code"].as_i64()), (400, Some(400)));
    s.stop().await;
}

async fn error_rows(backend: Backend) {
    let s = TestServer::start(backend).await;
    register_templates(&s).await;
    customer(&s).await;
    let path = format!("/v2/contact/{CUSTOMER}/message");
    let text = EXAMPLES[0].1;

    // 401: no token, a wrong token.
    let resp = s
        .http
        .post(s.url(&path))
        .header("Content-Type", "application/json")
        .body(text)
        .send()
        .await
        .expect("request");
    assert_eq!(
        json_of(resp).await,
        (401, json!({"code": 401, "message": "UN_AUTHORIZED"}))
    );
    let (status, body) = json_of(
        call(
            &s,
            "123456789012345678901234567890",
            Method::POST,
            &path,
            Some(text),
        )
        .await,
    )
    .await;
    assert_eq!(
        (status, body),
        (401, json!({"code": 401, "message": "UN_AUTHORIZED"}))
    );

    // 400: not JSON, an unknown type, a text without text, a malformed identifier.
    for bad in [
        "{not json",
        r#"{"message": {"type": "carrier_pigeon"}}"#,
        r#"{"message": {"type": "text"}}"#,
        r#"{"channelId": "one", "message": {"type": "text", "text": "x"}}"#,
    ] {
        let (status, body) = json_of(call(&s, &s.key, Method::POST, &path, Some(bad)).await).await;
        assert_eq!(status, 400, "{bad}: {body}");
        assert_eq!(body["code"], 400);
        assert!(
            body["message"]
                .as_str()
                .is_some_and(|m| m.starts_with("Validation error.")),
            "{body}"
        );
    }
    let (status, body) = json_of(
        call(
            &s,
            &s.key,
            Method::POST,
            "/v2/contact/identifier/message",
            Some(text),
        )
        .await,
    )
    .await;
    assert_eq!(
        (status, body["message"].as_str()),
        (400, Some("Validation error."))
    );

    // A first outreach by phone creates the contact; an unknown id or channel is 404.
    let (status, body) = json_of(
        call(
            &s,
            &s.key,
            Method::POST,
            "/v2/contact/phone:+593987650001/message",
            Some(text),
        )
        .await,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let (status, created) = v2(&s, Method::GET, "/v2/contact/phone:+593987650001", None).await;
    assert_eq!(status, 200, "{created}");
    assert_eq!(created["phone"], "+593987650001");
    // A number no one can be sent to creates no contact.
    let (status, _) = json_of(
        call(
            &s,
            &s.key,
            Method::POST,
            "/v2/contact/phone:+5930000001/message",
            Some(text),
        )
        .await,
    )
    .await;
    assert_eq!(status, 400);
    let (status, _) = v2(&s, Method::GET, "/v2/contact/phone:+5930000001", None).await;
    assert_eq!(status, 404);
    let (status, body) = json_of(
        call(
            &s,
            &s.key,
            Method::POST,
            "/v2/contact/id:999999/message",
            Some(text),
        )
        .await,
    )
    .await;
    assert_eq!(status, 404, "{body}");
    let other_channel = r#"{"channelId": 987654, "message": {"type": "text", "text": "x"}}"#;
    let (status, body) =
        json_of(call(&s, &s.key, Method::POST, &path, Some(other_channel)).await).await;
    assert_eq!((status, body["code"].as_i64()), (404, Some(404)), "{body}");
    let (status, _) = v2(
        &s,
        Method::GET,
        &format!("/v2/contact/{CUSTOMER}/message/999999"),
        None,
    )
    .await;
    assert_eq!(status, 404);

    // An Idempotency-Key: the retry answers the first messageId; another body is a 409.
    let keyed = |body: &'static str| {
        s.http
            .post(s.url(&path))
            .header("Authorization", format!("Bearer {}", s.key))
            .header("Content-Type", "application/json")
            .header("Idempotency-Key", "respond-retry-1")
            .body(body)
            .send()
    };
    let (status, first) = json_of(keyed(text).await.expect("send")).await;
    assert_eq!(status, 200, "{first}");
    let (status, again) = json_of(keyed(text).await.expect("send")).await;
    assert_eq!((status, &again), (200, &first));
    let other = r#"{"message": {"type": "text", "text": "otro"}}"#;
    let (status, body) = json_of(keyed(other).await.expect("send")).await;
    assert_eq!((status, body["code"].as_i64()), (409, Some(409)), "{body}");

    // Template text that differs from the approved text is accepted and delivered; the record
    // keeps the request's text.
    let mismatch = json!({"message": {"type": "whatsapp_template", "template": {
        "name": "bug_fixed", "languageCode": "es",
        "components": [{"type": "body", "text": "Un texto que no es el aprobado"}]}}});
    let (status, answer) = v2(&s, Method::POST, &path, Some(mismatch)).await;
    assert_eq!(status, 200, "{answer}");
    let id = answer["messageId"].as_i64().expect("messageId");
    let record = wait_status(&s, CUSTOMER, id, "read").await;
    assert_eq!(
        record["message"]["template"]["components"][0]["text"],
        "Un texto que no es el aprobado"
    );

    // A wrong parameter count still gets a messageId; the message then fails with the reason
    // and never reaches WhatsApp.
    let before = s.sandbox_messages().await.len();
    let short = json!({"message": {"type": "whatsapp_template", "template": {
        "name": "account100", "languageCode": "es",
        "components": [{"type": "body", "text": "Hola, {{1}}", "parameters": [
            {"type": "text", "text": "Ana"}, {"type": "text", "text": "80%"}]}]}}});
    let (status, answer) = v2(&s, Method::POST, &path, Some(short)).await;
    assert_eq!(status, 200, "{answer}");
    let id = answer["messageId"].as_i64().expect("messageId");
    let record = wait_status(&s, CUSTOMER, id, "failed").await;
    let failed = record["status"]
        .as_array()
        .and_then(|a| a.iter().find(|v| v["value"] == "failed").cloned())
        .expect("failed entry");
    assert!(
        failed["message"]
            .as_str()
            .is_some_and(|m| m.contains("parameters")),
        "{failed}"
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(s.sandbox_messages().await.len(), before);

    // 429 with Retry-After and the rate headers, once the key's rate is spent.
    let (_, keys) = s.get_json("/v1/admin/workspaces/ws_default/keys").await;
    let key_id = keys["data"]
        .as_array()
        .and_then(|k| k.first())
        .and_then(|k| k["id"].as_str())
        .expect("key id")
        .to_string();
    let (status, patched) = s
        .request_json(
            Method::PATCH,
            &format!("/v1/admin/keys/{key_id}"),
            &json!({"rate_per_minute": 2}),
        )
        .await;
    assert!((200..300).contains(&status), "{patched}");
    let mut limited = None;
    for _ in 0..5 {
        let resp = call(
            &s,
            &s.key,
            Method::GET,
            &format!("/v2/contact/{CUSTOMER}"),
            None,
        )
        .await;
        if resp.status() == 429 {
            limited = Some(resp);
            break;
        }
        assert!(
            resp.headers().contains_key("x-ratelimit-limit"),
            "{:?}",
            resp.headers()
        );
        assert!(resp.headers().contains_key("x-ratelimit-remaining"));
    }
    let resp = limited.expect("the key's rate runs out");
    let retry: u64 = resp
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .expect("Retry-After");
    assert!(retry >= 1);
    assert_eq!(
        resp.headers()
            .get("x-ratelimit-remaining")
            .and_then(|v| v.to_str().ok()),
        Some("0")
    );
    let (status, body) = json_of(resp).await;
    assert_eq!((status, body["code"].as_i64()), (429, Some(429)));
    s.stop().await;
}

async fn contacts_tags_channels(backend: Backend) {
    let s = TestServer::start(backend).await;
    // Create: documented answer; the same identifier again is a conflict.
    let luis = json!({"firstName": "Luis", "lastName": "Andrade", "email": "luis@example.ec",
        "language": "es", "countryCode": "EC", "custom_fields": [{"name": "plan", "value": "oro"}]});
    let (status, body) = v2(
        &s,
        Method::POST,
        "/v2/contact/phone:+593990000111",
        Some(luis.clone()),
    )
    .await;
    assert_eq!(
        (status, body),
        (
            200,
            json!({"code": "200", "message": "Contact added successfully!"})
        )
    );
    let (status, body) = v2(
        &s,
        Method::POST,
        "/v2/contact/phone:593990000111",
        Some(luis),
    )
    .await;
    assert_eq!((status, body["code"].as_i64()), (409, Some(409)), "{body}");
    let (status, body) = v2(
        &s,
        Method::POST,
        "/v2/contact/email:x@example.ec",
        Some(json!({"lastName": "x"})),
    )
    .await;
    assert_eq!(
        (status, body["message"].as_str()),
        (400, Some("Validation error."))
    );
    let (status, _) = v2(
        &s,
        Method::POST,
        "/v2/contact/id:5",
        Some(json!({"firstName": "x"})),
    )
    .await;
    assert_eq!(status, 400);

    // Get by phone, email and id: the same contact.
    let (status, c) = v2(&s, Method::GET, "/v2/contact/phone:+593990000111", None).await;
    assert_eq!(status, 200, "{c}");
    assert_eq!(
        (c["firstName"].as_str(), c["lastName"].as_str()),
        (Some("Luis"), Some("Andrade"))
    );
    assert_eq!(c["phone"], "+593990000111");
    assert_eq!(c["countryCode"], "EC");
    assert_eq!(
        c["custom_fields"]
            .as_array()
            .map(|f| f.iter().any(|x| x["name"] == "plan" && x["value"] == "oro")),
        Some(true)
    );
    let id = c["id"].as_i64().expect("integer id");
    let (_, by_email) = v2(&s, Method::GET, "/v2/contact/email:LUIS@example.ec", None).await;
    assert_eq!(by_email["id"], id);
    let (_, by_id) = v2(&s, Method::GET, &format!("/v2/contact/id:{id}"), None).await;
    assert_eq!(by_id["email"], "luis@example.ec");

    // Update (partial) and create_or_update (existing, then new).
    let (status, body) = v2(
        &s,
        Method::PUT,
        &format!("/v2/contact/id:{id}"),
        Some(json!({"lastName": "Páez"})),
    )
    .await;
    assert_eq!((status, body), (200, json!({"contactId": id})));
    let (_, c) = v2(&s, Method::GET, &format!("/v2/contact/id:{id}"), None).await;
    assert_eq!(
        (c["firstName"].as_str(), c["lastName"].as_str()),
        (Some("Luis"), Some("Páez"))
    );
    let (status, body) = v2(
        &s,
        Method::POST,
        "/v2/contact/create_or_update/email:luis@example.ec",
        Some(json!({"firstName": "Lucho"})),
    )
    .await;
    assert_eq!((status, body), (200, json!({"contactId": id})));
    let (status, body) = v2(
        &s,
        Method::POST,
        "/v2/contact/create_or_update/phone:+593990000222",
        Some(json!({"firstName": "Marta"})),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let marta = body["contactId"].as_i64().expect("contactId");
    assert_ne!(marta, id);
    let (status, _) = v2(
        &s,
        Method::PUT,
        "/v2/contact/id:999999",
        Some(json!({"firstName": "x"})),
    )
    .await;
    assert_eq!(status, 404);

    // Tags: add, add again (no duplicates), remove; bad lists are refused.
    let tag_path = format!("/v2/contact/id:{id}/tag");
    let (status, body) = v2(&s, Method::POST, &tag_path, Some(json!(["vip", "quito"]))).await;
    assert_eq!((status, body), (200, json!({"contactId": id})));
    v2(&s, Method::POST, &tag_path, Some(json!(["vip"]))).await;
    let (status, _) = v2(&s, Method::DELETE, &tag_path, Some(json!(["quito"]))).await;
    assert_eq!(status, 200);
    let (_, c) = v2(&s, Method::GET, &format!("/v2/contact/id:{id}"), None).await;
    assert_eq!(c["tags"], json!(["vip"]));
    let (status, _) = v2(&s, Method::POST, &tag_path, Some(json!([]))).await;
    assert_eq!(status, 400);

    // The contact list pages with a cursor, and searches.
    let (status, page) = v2(
        &s,
        Method::POST,
        "/v2/contact/list?limit=1",
        Some(json!({"search": "", "timezone": "America/Guayaquil", "filter": {"$and": []}})),
    )
    .await;
    assert_eq!(status, 200, "{page}");
    assert_eq!(page["items"].as_array().map(Vec::len), Some(1));
    let next = page["pagination"]["next"]
        .as_str()
        .expect("next")
        .to_string();
    let (_, rest) = v2(&s, Method::POST, &next, Some(json!({}))).await;
    assert_eq!(rest["items"].as_array().map(Vec::len), Some(1));
    assert_ne!(rest["items"][0]["id"], page["items"][0]["id"]);
    assert!(rest["pagination"]["next"].is_null());
    let (_, found) = v2(
        &s,
        Method::POST,
        "/v2/contact/list",
        Some(json!({"search": "marta"})),
    )
    .await;
    assert_eq!(found["items"].as_array().map(Vec::len), Some(1));
    assert_eq!(found["items"][0]["id"], marta);

    // Delete, then the contact is gone.
    let (status, body) = v2(&s, Method::DELETE, &format!("/v2/contact/id:{marta}"), None).await;
    assert_eq!((status, body), (200, json!({"contactId": marta})));
    let (status, body) = v2(&s, Method::GET, &format!("/v2/contact/id:{marta}"), None).await;
    assert_eq!((status, body["code"].as_i64()), (404, Some(404)));

    // Channels, and the templates of one.
    let (status, channels) = v2(&s, Method::GET, "/v2/space/channel", None).await;
    assert_eq!(status, 200, "{channels}");
    let channel = channels["items"][0].clone();
    let channel_id = channel["id"].as_i64().expect("integer channel id");
    assert_eq!(channel["source"], "whatsapp_cloud");
    register_templates(&s).await;
    let (status, mtm) = v2(
        &s,
        Method::GET,
        &format!("/v2/space/channel/{channel_id}/mtm?limit=100"),
        None,
    )
    .await;
    assert_eq!(status, 200, "{mtm}");
    let items = mtm["items"].as_array().expect("items");
    let t = items
        .iter()
        .find(|t| t["name"] == "account100")
        .expect("account100");
    assert_eq!(
        (t["languageCode"].as_str(), t["status"].as_str()),
        (Some("es"), Some("approved"))
    );
    assert!(
        t["components"]
            .as_str()
            .is_some_and(|c| c.contains("{{3}}")),
        "{t}"
    );
    let (status, _) = v2(&s, Method::GET, "/v2/space/channel/999999/mtm", None).await;
    assert_eq!(status, 404);

    // A send to a contact created through the API, on an explicit channel.
    let send = json!({"channelId": channel_id, "message": {"type": "attachment",
        "attachment": {"type": "image", "url": "https://picsum.photos/200/300"}}});
    let (status, answer) = v2(
        &s,
        Method::POST,
        &format!("/v2/contact/id:{id}/message"),
        Some(send),
    )
    .await;
    assert_eq!(status, 200, "{answer}");
    let mid = answer["messageId"].as_i64().expect("messageId");
    let record = wait_status(&s, &format!("id:{id}"), mid, "read").await;
    assert_eq!(record["channelId"], channel_id);
    assert_eq!(record["contactId"], id);
    s.stop().await;
}

/// A respond.io customer's code sends the `channelId` respond.io gave the number: set on the
/// channel, it is listed, sent through and answered unchanged.
async fn the_channel_id_respond_gave_keeps_working(backend: Backend) {
    let s = TestServer::start(backend).await;
    let (status, bad) = s
        .request_json(
            Method::PATCH,
            "/v1/admin/channels/ch_default",
            &json!({"respond_channel_id": "whatsapp-1"}),
        )
        .await;
    assert_eq!(status, 422, "{bad}");
    assert_eq!(bad["errors"][0]["field"], "respond_channel_id");
    let (status, ch) = s
        .request_json(
            Method::PATCH,
            "/v1/admin/channels/ch_default",
            &json!({"respond_channel_id": "52001"}),
        )
        .await;
    assert_eq!(status, 200, "{ch}");
    let (_, channels) = v2(&s, Method::GET, "/v2/space/channel", None).await;
    assert_eq!(channels["items"][0]["id"], 52001, "{channels}");
    let (status, _) = v2(&s, Method::GET, "/v2/space/channel/52001/mtm", None).await;
    assert_eq!(status, 200);
    customer(&s).await;
    let send = json!({"channelId": 52001, "message": {"type": "text", "text": "hola"}});
    let (status, answer) = v2(
        &s,
        Method::POST,
        &format!("/v2/contact/{CUSTOMER}/message"),
        Some(send),
    )
    .await;
    assert_eq!(status, 200, "{answer}");
    let mid = answer["messageId"].as_i64().expect("messageId");
    let record = wait_status(&s, CUSTOMER, mid, "read").await;
    assert_eq!(record["channelId"], 52001, "{record}");
    s.stop().await;
}

/// `@contact.<field>` and `@field.<custom field>` in template parameters are filled from the
/// contact; one without a value refuses the send, naming it, and nothing goes out.
async fn contact_placeholders_are_filled_or_refused(backend: Backend) {
    let s = TestServer::start(backend).await;
    register_templates(&s).await;
    customer(&s).await;
    let (_, found) = s
        .get_json(&format!("/v1/contacts?search={CUSTOMER_DIGITS}"))
        .await;
    let contact = found["data"][0]["id"]
        .as_str()
        .expect("contact")
        .to_string();
    let (status, patched) = s
        .request_json(
            Method::PATCH,
            &format!("/v1/contacts/{contact}"),
            &json!({"custom_fields": {"uso": "80%"}}),
        )
        .await;
    assert_eq!(status, 200, "{patched}");
    let path = format!("/v2/contact/{CUSTOMER}/message");
    let send = |params: [&str; 3]| {
        json!({"message": {"type": "whatsapp_template", "template": {
            "name": "account100", "languageCode": "es",
            "components": [{"type": "body", "parameters": params.iter()
                .map(|t| json!({"type": "text", "text": t})).collect::<Vec<_>>()}]}}})
    };
    let (status, answer) = v2(
        &s,
        Method::POST,
        &path,
        Some(send([
            "@contact.firstName",
            "@field.uso",
            "hoy, @contact.firstName",
        ])),
    )
    .await;
    assert_eq!(status, 200, "{answer}");
    let id = answer["messageId"].as_i64().expect("messageId");
    wait_status(&s, CUSTOMER, id, "read").await;
    let got = s.sandbox_messages().await;
    let params = &got.last().expect("sent")["body"]["template"]["components"][0]["parameters"];
    let texts: Vec<&str> = params
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|p| p["text"].as_str())
        .collect();
    assert_eq!(texts, ["Ana", "80%", "hoy, Ana"]);

    let before = s.sandbox_messages().await.len();
    let (status, refused) = v2(
        &s,
        Method::POST,
        &path,
        Some(send(["@contact.firstName", "@field.plan", "x"])),
    )
    .await;
    assert_eq!(status, 400, "{refused}");
    assert!(
        refused["message"].as_str().unwrap().contains("@field.plan"),
        "{refused}"
    );
    let (_, page) = s
        .get_json(&format!("/v1/messages?to=%2B{CUSTOMER_DIGITS}"))
        .await;
    assert_eq!(
        page["data"].as_array().unwrap().len(),
        1,
        "nothing stored: {page}"
    );
    assert_eq!(s.sandbox_messages().await.len(), before, "nothing sent");
    s.stop().await;
}

async fn switched_off_answers_404(backend: Backend) {
    let s = TestServer::start_with(backend, |cfg| cfg.dialects.respond = false).await;
    let (status, _) = v2(&s, Method::GET, "/v2/space/channel", None).await;
    assert_eq!(status, 404);
    let resp = call(
        &s,
        &s.key,
        Method::POST,
        &format!("/v2/contact/{CUSTOMER}/message"),
        Some(EXAMPLES[0].1),
    )
    .await;
    assert_eq!(resp.status(), 404);
    s.stop().await;
}

/// Every route of the dialect's table refuses an anonymous call and a wrong token with
/// respond.io's 401 envelope, and a key without the route's scope with 403; nothing is stored.
async fn every_route_authenticates(backend: Backend) {
    let s = TestServer::start(backend).await;
    let cfg = chasqui::config::DialectsConfig::default();
    let routes = chasqui::api::dialects::table(&cfg);
    assert!(routes.iter().any(|r| r.dialect == "respond"));
    let (_, created) = s
        .request_json(
            Method::POST,
            "/v1/admin/workspaces/ws_default/keys",
            &json!({"name": "nothing", "scopes": ["webhooks"]}),
        )
        .await;
    let weak = created["key"].as_str().expect("key").to_string();
    for r in routes.iter().filter(|r| r.dialect == "respond") {
        let path = r
            .path
            .replace("{identifier}", "phone:+593998445667")
            .replace("{message_id}", "1")
            .replace("{channel_id}", "1");
        let method = Method::from_bytes(r.method.as_str().as_bytes()).expect("method");
        let body = r#"{"message": {"type": "text", "text": "x"}}"#;
        let anonymous = s
            .http
            .request(method.clone(), s.url(&path))
            .header("Content-Type", "application/json")
            .body(body)
            .send()
            .await
            .expect("request");
        assert_eq!(
            json_of(anonymous).await,
            (401, json!({"code": 401, "message": "UN_AUTHORIZED"})),
            "{} {path}",
            r.method
        );
        let (status, _) =
            json_of(call(&s, "chq_wrong", method.clone(), &path, Some(body)).await).await;
        assert_eq!(status, 401, "{} {path}", r.method);
        let (status, answer) = json_of(call(&s, &weak, method, &path, Some(body)).await).await;
        assert_eq!(
            (status, answer["code"].as_i64()),
            (403, Some(403)),
            "{} {path}",
            r.method
        );
    }
    let (_, listed) = s.get_json("/v1/messages").await;
    assert_eq!(listed["data"].as_array().map(Vec::len), Some(0), "{listed}");
    s.stop().await;
}

on_both_backends!(
    every_route_authenticates,
    seed_examples_reach_read,
    error_rows,
    contacts_tags_channels,
    the_channel_id_respond_gave_keeps_working,
    contact_placeholders_are_filled_or_refused,
    switched_off_answers_404,
);
