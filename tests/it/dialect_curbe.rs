//! Curbe "Corporativo API": login with a Chasqui user, the documented image example and the
//! inferred types, every answer in `{ref_code, ref_message, ref_success, ref_data}`.

use std::time::Duration;

use reqwest::Method;
use serde_json::{json, Value};

use crate::on_both_backends;
use crate::support::{Backend, TestServer};

/// The seed's sender number, as a channel of the default workspace.
const FROM: &str = "593999999999";

async fn setup(server: &TestServer) -> String {
    let (status, ch) = server
        .request_json(
            Method::POST,
            "/v1/admin/workspaces/ws_default/channels",
            &json!({"provider": "sandbox", "phone_number_id": "500000000000005",
                    "display_phone_number": format!("+{FROM}"), "window_policy": "off"}),
        )
        .await;
    assert_eq!(status, 201, "{ch}");
    let (status, user) = server
        .request_json(
            Method::POST,
            "/v1/admin/workspaces/ws_default/users",
            &json!({"username": "ventas", "password": "clave-segura-1", "scopes": ["send", "read"]}),
        )
        .await;
    assert_eq!(status, 201, "{user}");
    let (status, body) = post(
        server,
        "/api/login",
        None,
        &json!({"id": "ventas", "clave": "clave-segura-1", "project": 4}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["usuario"]["nombre_completo"], "ventas");
    assert!(body["usuario"]["roles"].is_array());
    body["token"].as_str().expect("token").to_string()
}

async fn post(server: &TestServer, path: &str, token: Option<&str>, body: &Value) -> (u16, Value) {
    let mut req = server.http.post(server.url(path)).json(body);
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    let resp = req.send().await.expect("request");
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
}

fn envelope(code: u16, success: bool) -> impl Fn(&Value) {
    move |body: &Value| {
        assert_eq!(body["ref_code"], code, "{body}");
        assert_eq!(body["ref_success"], success, "{body}");
        assert!(
            body["ref_message"].is_string() && body["ref_data"].is_null(),
            "{body}"
        );
    }
}

/// Messages of the default workspace to `to`, oldest first.
async fn sent_to(server: &TestServer, to: &str) -> Vec<Value> {
    let (status, list) = server
        .get_json(&format!("/v1/messages?to=%2B{to}&limit=200"))
        .await;
    assert_eq!(status, 200, "{list}");
    let mut items = list["data"].as_array().cloned().unwrap_or_default();
    items.reverse();
    items
}

const SEND: &str = "/api/WhatsappIntegration/send/message";

async fn the_image_example_is_sent_and_read(backend: Backend) {
    let server = TestServer::start(backend).await;
    let token = setup(&server).await;
    // The seed's example, with its one placeholder that no server can fetch ("url") replaced by
    // a real address: two images, so two messages.
    let example = json!({
        "ref_number_to": "593999999999",
        "ref_number_from": "593999999999",
        "ref_whatssap_type": "image",
        "ref_type_message": 3,
        "ref_images": [
            {"link": "https://example.com/a.jpg", "caption": "string"},
            {"link": "https://example.com/b.jpg"}
        ]
    });
    let (status, body) = post(&server, SEND, Some(&token), &example).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body,
        json!({"ref_code": 200, "ref_message": "Mensaje enviado", "ref_success": true, "ref_data": null})
    );
    let msgs = sent_to(&server, "593999999999").await;
    assert_eq!(msgs.len(), 2, "one message per image");
    let ids: Vec<String> = msgs
        .iter()
        .map(|m| m["id"].as_str().unwrap().to_string())
        .collect();
    let done = server
        .wait_for(&ids, &["read"], Duration::from_secs(15))
        .await;
    assert!(
        done.iter().all(|m| m["channel"] != "ch_default"),
        "sent from ref_number_from's channel"
    );
    let first = server.message(&ids[0]).await;
    assert_eq!(first["content"]["image"]["caption"], "string");

    // Any case of the path, and an API key instead of a login token.
    let text = json!({"ref_number_to": "593988000111", "ref_number_from": FROM,
                      "ref_whatssap_type": "text", "ref_type_message": 3, "ref_text": "hola"});
    let (status, body) = post(&server, &SEND.to_lowercase(), Some(&server.key), &text).await;
    assert_eq!(status, 200, "{body}");
    let loc = json!({"ref_number_to": "593988000111", "ref_number_from": FROM,
                     "ref_whatssap_type": "location", "ref_type_message": 3,
                     "ref_location": {"latitude": "-2.19", "longitude": -79.88, "name": "Guayaquil"}});
    let (status, body) = post(
        &server,
        "/API/whatsappintegration/SEND/message",
        Some(&token),
        &loc,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let msgs = sent_to(&server, "593988000111").await;
    assert_eq!(msgs.len(), 2);
    assert_eq!(msgs[1]["type"], "location");
    server.stop().await;
}

/// With an `Idempotency-Key`, a retried multi-image send answers the same and sends each image
/// once.
async fn a_retried_send_with_a_key_sends_each_image_once(backend: Backend) {
    let server = TestServer::start(backend).await;
    let token = setup(&server).await;
    let to = "593988000111";
    let images = json!({"ref_number_to": to, "ref_number_from": FROM,
        "ref_whatssap_type": "image", "ref_type_message": 3,
        "ref_images": [{"link": "https://example.com/a.jpg"}, {"link": "https://example.com/b.jpg"},
                       {"link": "https://example.com/c.jpg"}]});
    for _ in 0..2 {
        let resp = server
            .http
            .post(server.url(SEND))
            .bearer_auth(&token)
            .header("Idempotency-Key", "pedido-7")
            .json(&images)
            .send()
            .await
            .expect("request");
        let status = resp.status();
        let body: Value = resp.json().await.unwrap_or(Value::Null);
        assert_eq!(status, 200, "{body}");
    }
    let msgs = sent_to(&server, to).await;
    assert_eq!(msgs.len(), 3, "one message per image, once: {msgs:?}");
    // The same key on a request with a fourth image is another request: refused, none sent.
    let mut more = images.clone();
    more["ref_images"]
        .as_array_mut()
        .expect("images")
        .push(json!({"link": "https://example.com/d.jpg"}));
    let resp = server
        .http
        .post(server.url(SEND))
        .bearer_auth(&token)
        .header("Idempotency-Key", "pedido-7")
        .json(&more)
        .send()
        .await
        .expect("request");
    assert_eq!(resp.status(), 400);
    let body: Value = resp.json().await.expect("json");
    assert!(
        body["ref_message"]
            .as_str()
            .is_some_and(|m| m.starts_with("idempotency_conflict")),
        "{body}"
    );
    assert_eq!(sent_to(&server, to).await.len(), 3);
    server.stop().await;
}

/// Several images are all sent or none: with two sends left in the day's quota, three images
/// are refused and none goes; two then go.
async fn several_images_go_all_or_none(backend: Backend) {
    let server = TestServer::start(backend).await;
    let token = setup(&server).await;
    let (status, ws) = server
        .request_json(
            Method::PATCH,
            "/v1/admin/workspaces/ws_default",
            &json!({"daily_quota": 2}),
        )
        .await;
    assert_eq!(status, 200, "{ws}");
    let to = "593988000222";
    let images = |n: usize| {
        let links: Vec<Value> = (0..n)
            .map(|i| json!({"link": format!("https://example.com/{i}.jpg")}))
            .collect();
        json!({"ref_number_to": to, "ref_number_from": FROM, "ref_whatssap_type": "image",
               "ref_type_message": 3, "ref_images": links})
    };
    let (status, body) = post(&server, SEND, Some(&token), &images(3)).await;
    assert_eq!(status, 429, "{body}");
    envelope(429, false)(&body);
    assert!(
        sent_to(&server, to).await.is_empty(),
        "a refused send stored images"
    );
    let (status, body) = post(&server, SEND, Some(&token), &images(2)).await;
    assert_eq!(status, 200, "the refusal charged the quota: {body}");
    assert_eq!(sent_to(&server, to).await.len(), 2);
    server.stop().await;
}

async fn every_refusal_uses_the_envelope(backend: Backend) {
    let server = TestServer::start(backend).await;
    let token = setup(&server).await;
    let good = json!({"ref_number_to": "593988000222", "ref_number_from": FROM,
                      "ref_whatssap_type": "text", "ref_type_message": 3, "ref_text": "hola"});

    let (status, body) = post(&server, SEND, None, &good).await;
    assert_eq!(status, 401);
    envelope(401, false)(&body);
    let (status, body) = post(&server, SEND, Some("chs_not-a-session"), &good).await;
    assert_eq!(status, 401);
    envelope(401, false)(&body);

    for (field, value) in [
        ("ref_number_to", Value::Null),
        ("ref_whatssap_type", json!("fax")),
        ("ref_type_message", Value::Null),
    ] {
        let mut bad = good.clone();
        bad[field] = value;
        let (status, body) = post(&server, SEND, Some(&token), &bad).await;
        assert_eq!(status, 400, "{field}: {body}");
        envelope(400, false)(&body);
        assert_eq!(body["ref_message"], format!("{field} invalido"));
    }
    let mut no_images = good.clone();
    no_images["ref_whatssap_type"] = json!("image");
    let (status, body) = post(&server, SEND, Some(&token), &no_images).await;
    assert_eq!(
        (status, body["ref_message"].clone()),
        (400, json!("ref_images invalido"))
    );
    // One bad image of two: nothing is sent.
    let mut images = no_images.clone();
    images["ref_images"] = json!([{"link": "https://example.com/ok.jpg"}, {"link": "url"}]);
    let (status, body) = post(&server, SEND, Some(&token), &images).await;
    assert_eq!(status, 400, "{body}");
    let mut bad_to = good.clone();
    bad_to["ref_number_to"] = json!("593000");
    let (status, body) = post(&server, SEND, Some(&token), &bad_to).await;
    assert_eq!(status, 400, "{body}");
    assert!(
        body["ref_message"]
            .as_str()
            .unwrap()
            .starts_with("ref_number_to invalido"),
        "{body}"
    );
    let mut unknown_from = good.clone();
    unknown_from["ref_number_from"] = json!("593911111111");
    let (status, body) = post(&server, SEND, Some(&token), &unknown_from).await;
    assert_eq!(status, 400, "{body}");
    envelope(400, false)(&body);
    let mut template = good.clone();
    template["ref_whatssap_type"] = json!("template");
    template["ref_template_name"] = json!("no_such_template");
    let (status, body) = post(&server, SEND, Some(&token), &template).await;
    assert_eq!(
        (status, body["ref_message"].clone()),
        (400, json!("ref_template_name invalido"))
    );
    assert!(
        sent_to(&server, "593988000222").await.is_empty(),
        "nothing stored"
    );

    // Login refusals answer `{message}`.
    let (status, body) = post(
        &server,
        "/api/login",
        None,
        &json!({"id": "ventas", "clave": "otra-clave", "project": 4}),
    )
    .await;
    assert_eq!(status, 401, "{body}");
    assert!(body["message"].is_string());
    let (status, body) = post(&server, "/api/login", None, &json!({"project": 4})).await;
    assert_eq!(status, 400, "{body}");
    server.stop().await;
}

async fn a_switched_off_dialect_is_not_served(backend: Backend) {
    let server = TestServer::start_with(backend, |c| c.dialects.curbe = false).await;
    let (status, _) = post(&server, SEND, Some(&server.key), &json!({})).await;
    assert_eq!(status, 404);
    let (status, _) = post(
        &server,
        "/api/login",
        None,
        &json!({"id": "a", "clave": "b"}),
    )
    .await;
    assert_eq!(status, 404);
    server.stop().await;
}

on_both_backends!(
    the_image_example_is_sent_and_read,
    a_retried_send_with_a_key_sends_each_image_once,
    several_images_go_all_or_none,
    every_refusal_uses_the_envelope,
    a_switched_off_dialect_is_not_served,
);
