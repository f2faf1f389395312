//! Business-scoped user ids (BSUID): a person who hides their number behind a WhatsApp username
//! writes with only a `user_id`; the business answers them by that id (Meta's `recipient`, or a
//! BSUID in `to`), inside the window the message opened. Authentication templates still need a
//! phone number.

use std::time::Duration;

use serde_json::{json, Value};

use crate::on_both_backends;
use crate::support::{Backend, TestServer, APP_SECRET, PHONE_NUMBER_ID};
use crate::templates::submit_approved;

const USER: &str = "US.13491208655302741918";

/// A message from `USER` with no phone number, as Meta sends it for username users.
fn username_user_writes(wamid: &str) -> Value {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs();
    json!({"object": "whatsapp_business_account", "entry": [{"id": "waba", "changes": [{
        "field": "messages", "value": {"messaging_product": "whatsapp",
        "metadata": {"display_phone_number": "15550000001", "phone_number_id": PHONE_NUMBER_ID},
        "contacts": [{"profile": {"name": "Nadia", "username": "nadia"}, "user_id": USER,
            "parent_user_id": "US.ENT.11815799212886844830"}],
        "messages": [{"from_user_id": USER, "id": wamid, "timestamp": now.to_string(),
            "type": "text", "text": {"body": "hola, ¿tienen envíos?"}}]}}]}]})
}

async fn a_username_user_is_answered_by_their_bsuid(backend: Backend) {
    let s = TestServer::start_with(backend, |c| {
        c.default_channel.window_policy = chasqui_domain::window::WindowPolicy::Enforce
    })
    .await;
    let (status, _) = s
        .post_meta(&username_user_writes("wamid.bsuid-1"), Some(APP_SECRET))
        .await;
    assert_eq!(status, 200);

    // Meta's `recipient` field, and a BSUID in `to`: both go, inside the window the message opened.
    let by_recipient = s
        .send_ok(&json!({"recipient": USER, "type": "text", "text": {"body": "¡Sí! ¿A dónde?"}}))
        .await;
    let by_to = s
        .send_ok(&json!({"to": USER, "type": "text", "text": {"body": "Envíos a todo el país."}}))
        .await;
    let done = s
        .wait_for(
            &[by_recipient.clone(), by_to.clone()],
            &["delivered", "read"],
            Duration::from_secs(20),
        )
        .await;
    for m in &done {
        assert_eq!(m["to"], USER, "{m}");
    }
    let logged = s.sandbox_messages().await;
    let to_user = logged.iter().filter(|m| m["to"] == USER).count();
    assert_eq!(to_user, 2, "{logged:?}");
    let (_, listed) = s.get_json(&format!("/v1/messages?to={USER}")).await;
    assert_eq!(listed["data"].as_array().map(Vec::len), Some(2), "{listed}");

    // A BSUID the window has not heard from is refused like any closed window.
    let stranger = s
        .send(&json!({"recipient": "US.99999999999999", "type": "text", "text": {"body": "hola"}}))
        .await;
    assert_eq!(stranger.status(), 422);
}

on_both_backends!(a_username_user_is_answered_by_their_bsuid);

async fn bad_recipients_and_authentication_templates_are_refused(backend: Backend) {
    let s = TestServer::start(backend).await;
    submit_approved(
        &s,
        &json!({"name": "codigo_acceso", "language": "es", "category": "AUTHENTICATION",
            "components": [{"type": "BODY", "add_security_recommendation": true},
                {"type": "BUTTONS", "buttons": [{"type": "OTP", "otp_type": "COPY_CODE",
                    "text": "Copiar"}]}]}),
    )
    .await;
    // Meta writes an authentication template's body itself: the registry learns it by a sync.
    let (status, synced) = s
        .request_json(reqwest::Method::POST, "/v1/templates/sync", &json!({}))
        .await;
    assert_eq!(status, 200, "{synced}");
    let (_, before) = s.get_json("/v1/messages").await;
    let code = |to_field: &str, to: &str| {
        json!({to_field: to, "type": "template", "template": {"name": "codigo_acceso",
            "language": {"code": "es"}, "components": [
                {"type": "body", "parameters": [{"type": "text", "text": "123456"}]},
                {"type": "button", "sub_type": "url", "index": "0",
                    "parameters": [{"type": "text", "text": "123456"}]}]}})
    };
    // Either way the problem names the recipient.
    for (field, body) in [
        ("recipient", code("recipient", USER)),
        ("recipient", code("to", USER)),
    ] {
        let resp = s.send(&body).await;
        assert_eq!(resp.status(), 422);
        let problem: Value = resp.json().await.expect("json");
        assert_eq!(problem["code"], "phone_number_required", "{problem}");
        assert_eq!(problem["errors"][0]["field"], field, "{problem}");
    }
    // To a phone number the same template goes.
    s.send_ok(&code("to", "+5215512349777")).await;

    for (body, field) in [
        (
            json!({"recipient": "US", "type": "text", "text": {"body": "x"}}),
            "recipient",
        ),
        (
            json!({"recipient": "+5215512349777", "type": "text", "text": {"body": "x"}}),
            "recipient",
        ),
        (
            json!({"to": "+5215512349777", "recipient": USER, "type": "text", "text": {"body": "x"}}),
            "recipient",
        ),
    ] {
        let resp = s.send(&body).await;
        assert_eq!(resp.status(), 422, "{body}");
        let problem: Value = resp.json().await.expect("json");
        assert_eq!(problem["errors"][0]["field"], field, "{problem}");
    }
    // Only the phone-number send was stored.
    let (_, after) = s.get_json("/v1/messages").await;
    assert_eq!(
        after["data"].as_array().map(Vec::len),
        before["data"].as_array().map(|d| d.len() + 1)
    );
}

on_both_backends!(bad_recipients_and_authentication_templates_are_refused);
