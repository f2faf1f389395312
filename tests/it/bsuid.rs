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

/// A `system` message of one change, as Meta sends identity changes (Meta's 2026-08-11
/// changelog: `user_id_update` is not a subscribable field; changes come on `messages`).
fn system_change(sender: Value, system: Value) -> Value {
    let mut message = json!({"id": format!("wamid.sys-{}", uuid::Uuid::now_v7().simple()),
        "timestamp": "1767225600", "type": "system", "system": system});
    for (k, v) in sender.as_object().expect("sender") {
        message[k] = v.clone();
    }
    json!({"object": "whatsapp_business_account", "entry": [{"id": "waba", "changes": [{
        "field": "messages", "value": {"messaging_product": "whatsapp",
        "metadata": {"display_phone_number": "15550000001", "phone_number_id": PHONE_NUMBER_ID},
        "messages": [message]}}]}]})
}

async fn contacts(s: &TestServer, search: &str) -> Vec<Value> {
    let (_, page) = s.get_json(&format!("/v1/contacts?search={search}")).await;
    page["data"].as_array().cloned().unwrap_or_default()
}

async fn identity_changes_move_the_contact_to_its_new_ids(backend: Backend) {
    let s = TestServer::start(backend).await;
    s.post_meta(&username_user_writes("wamid.bsuid-2"), Some(APP_SECRET))
        .await;
    let before = contacts(&s, USER).await;
    assert_eq!(before.len(), 1);
    assert_eq!(before[0]["parent_user_id"], "US.ENT.11815799212886844830");
    let id = before[0]["id"].clone();

    // The BSUID changed: the same contact takes the new one; nobody new appears.
    let renamed = "US.20000000000000000001";
    let change = system_change(
        json!({"from_user_id": USER}),
        json!({"type": "user_changed_user_id", "body": "User changed their id",
            "user_id": renamed, "previous_user_id": USER}),
    );
    assert_eq!(s.post_meta(&change, Some(APP_SECRET)).await.0, 200);
    assert!(contacts(&s, USER).await.is_empty(), "the old id is gone");
    let after = contacts(&s, renamed).await;
    assert_eq!(after.len(), 1, "{after:?}");
    assert_eq!(after[0]["id"], id);
    assert_eq!(after[0]["parent_user_id"], "US.ENT.11815799212886844830");

    // A number change: the contact with the old number takes the new one.
    s.customer_writes(
        "+5215512340777",
        "Olga",
        json!({"type": "text", "text": {"body": "hola"}}),
    )
    .await;
    let olga = contacts(&s, "5215512340777").await;
    assert_eq!(olga.len(), 1, "{olga:?}");
    let change = system_change(
        json!({"from": "5215512340777"}),
        json!({"type": "user_changed_number", "wa_id": "5215512340888",
            "body": "User Olga changed from 5215512340777 to 5215512340888"}),
    );
    assert_eq!(s.post_meta(&change, Some(APP_SECRET)).await.0, 200);
    let moved = contacts(&s, "5215512340888").await;
    assert_eq!(moved.len(), 1, "{moved:?}");
    assert_eq!(moved[0]["id"], olga[0]["id"]);
    assert!(contacts(&s, "5215512340777").await.is_empty());
}

on_both_backends!(identity_changes_move_the_contact_to_its_new_ids);

/// Meta's 131050 on a send to a BSUID marks that person, found by their `user_id`, and makes no
/// contact out of the BSUID as if it were a number.
async fn a_131050_to_a_bsuid_marks_that_person(backend: Backend) {
    let s = TestServer::start(backend).await;
    submit_approved(
        &s,
        &json!({"name": "promo_bsuid", "language": "es", "category": "MARKETING", "components": [
            {"type": "BODY", "text": "Ofertas de hoy para {{1}}.", "example": {"body_text": [["Ana"]]}}]}),
    )
    .await;
    s.post_meta(&username_user_writes("wamid.bsuid-3"), Some(APP_SECRET))
        .await;
    s.patch_sandbox(json!({"recipient_errors": {USER: 131050}}))
        .await;
    let id = s
        .send_ok(&json!({"recipient": USER, "type": "template", "template": {
            "name": "promo_bsuid", "language": {"code": "es"}, "components": [
                {"type": "body", "parameters": [{"type": "text", "text": "Nadia"}]}]}}))
        .await;
    s.wait_for(
        std::slice::from_ref(&id),
        &["failed"],
        Duration::from_secs(20),
    )
    .await;
    let found = contacts(&s, USER).await;
    assert_eq!(found.len(), 1, "one person: {found:?}");
    assert_eq!(found[0]["marketing_opted_out"], true, "{}", found[0]);
    assert_eq!(found[0]["wa_id"], Value::Null);
}

on_both_backends!(a_131050_to_a_bsuid_marks_that_person);

/// A person sent to by number whose `sent` status names their BSUID (`recipient_user_id`):
/// their contact keeps it, so a send naming them by BSUID finds their open window.
async fn a_status_links_the_number_with_the_bsuid(backend: Backend) {
    let s = TestServer::start_with(backend, |c| {
        c.default_channel.window_policy = chasqui_domain::window::WindowPolicy::Enforce
    })
    .await;
    let number = "5215512340077";
    let user = "US.77712340077";
    s.patch_sandbox(json!({"user_ids": {number: user}})).await;
    s.customer_writes(
        number,
        "Rosa",
        json!({"type": "text", "text": {"body": "hola"}}),
    )
    .await;
    let before = contacts(&s, number).await;
    assert_eq!(before.len(), 1, "{before:?}");
    assert_eq!(before[0]["user_id"], Value::Null, "{}", before[0]);

    let answer = s
        .send_ok(&json!({"to": format!("+{number}"), "type": "text", "text": {"body": "¿Qué necesita?"}}))
        .await;
    s.wait_for(
        std::slice::from_ref(&answer),
        &["delivered", "read"],
        Duration::from_secs(20),
    )
    .await;
    let after = contacts(&s, number).await;
    assert_eq!(after.len(), 1, "still one person: {after:?}");
    assert_eq!(after[0]["user_id"], user, "{}", after[0]);
    assert_eq!(after[0]["id"], before[0]["id"]);

    // By BSUID, the same person: their window is open.
    let by_user = s
        .send_ok(&json!({"recipient": user, "type": "text", "text": {"body": "Listo."}}))
        .await;
    s.wait_for(&[by_user], &["delivered", "read"], Duration::from_secs(20))
        .await;

    // A bad mapping is refused and changes nothing.
    let (status, body) = s
        .request_json(
            reqwest::Method::PATCH,
            "/v1/sandbox/settings",
            &json!({"user_ids": {number: "not a bsuid"}}),
        )
        .await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(
        body["error"]["field"],
        format!("user_ids.{number}"),
        "{body}"
    );
}

on_both_backends!(a_status_links_the_number_with_the_bsuid);
