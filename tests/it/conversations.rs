//! Two-way messaging: inbound messages from every pywa fixture, contacts, conversations, the
//! 24-hour window and opt-outs, over HTTP with the sandbox playing the customers.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use reqwest::Method;
use serde_json::{json, Value};

use crate::on_both_backends;
use crate::support::{Backend, TestServer, APP_SECRET, PHONE_NUMBER_ID};

const FIXTURE_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/meta-webhooks/pywa");

/// Every fixture file and case, re-addressed to the test channel.
fn fixture_cases() -> Vec<(String, Value)> {
    let mut cases = Vec::new();
    let mut files: Vec<_> = std::fs::read_dir(FIXTURE_DIR)
        .expect("fixture dir")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    files.sort();
    for path in files {
        let all: Value =
            serde_json::from_str(&std::fs::read_to_string(&path).expect("read")).expect("json");
        let file = path
            .file_stem()
            .expect("stem")
            .to_string_lossy()
            .to_string();
        for (case, payload) in all.as_object().expect("cases") {
            let mut payload = payload.clone();
            for entry in payload["entry"].as_array_mut().into_iter().flatten() {
                for change in entry["changes"].as_array_mut().into_iter().flatten() {
                    if change["value"]["metadata"].is_object() {
                        change["value"]["metadata"]["phone_number_id"] = json!(PHONE_NUMBER_ID);
                    }
                }
            }
            cases.push((format!("{file}/{case}"), payload));
        }
    }
    cases
}

/// Meta message ids of the `messages` changes of a payload that name a sender.
fn message_ids(payload: &Value) -> Vec<String> {
    let mut ids = Vec::new();
    for entry in payload["entry"].as_array().into_iter().flatten() {
        for change in entry["changes"].as_array().into_iter().flatten() {
            if change["field"] != "messages" {
                continue;
            }
            for m in change["value"]["messages"].as_array().into_iter().flatten() {
                let has_sender = m["from"].is_string() || m["from_user_id"].is_string();
                if let (Some(id), true) = (m["id"].as_str(), has_sender) {
                    ids.push(id.to_string());
                }
            }
        }
    }
    ids
}

/// Every inbound entry of every conversation: wamid → how many times it is listed.
async fn inbound_counts(server: &TestServer) -> BTreeMap<String, usize> {
    let mut counts = BTreeMap::new();
    let (_, page) = server.get_json("/v1/conversations?limit=200").await;
    for c in page["data"].as_array().cloned().unwrap_or_default() {
        let path = format!(
            "/v1/conversations/{}?limit=200",
            c["id"].as_str().expect("id")
        );
        let (_, conv) = server.get_json(&path).await;
        for m in conv["messages"].as_array().into_iter().flatten() {
            if m["direction"] == "inbound" {
                *counts
                    .entry(m["wamid"].as_str().unwrap_or("").to_string())
                    .or_insert(0) += 1;
            }
        }
    }
    counts
}

async fn every_fixture_message_is_recorded_exactly_once(backend: Backend) {
    let server = TestServer::start(backend).await;
    let cases = fixture_cases();
    assert!(cases.len() > 50, "walked {} cases", cases.len());
    let mut expected = BTreeSet::new();
    for (name, payload) in &cases {
        // Meta retries: every delivery arrives twice.
        for _ in 0..2 {
            let (status, answer) = server.post_meta(payload, Some(APP_SECRET)).await;
            assert_eq!(status, 200, "{name}: {answer}");
        }
        expected.extend(message_ids(payload));
    }
    assert!(
        expected.len() >= 10,
        "fixtures hold {} messages",
        expected.len()
    );
    let counts = inbound_counts(&server).await;
    for id in &expected {
        assert_eq!(counts.get(id), Some(&1), "message {id} recorded once");
    }
    assert_eq!(
        counts.keys().cloned().collect::<BTreeSet<_>>(),
        expected,
        "nothing else recorded"
    );
    server.stop().await;
}

async fn unknown_types_are_kept_and_bsuid_only_senders_recorded(backend: Backend) {
    let server = TestServer::start(backend).await;
    let payload = json!({
        "object": "whatsapp_business_account",
        "entry": [{"id": "waba", "changes": [{"field": "messages", "value": {
            "messaging_product": "whatsapp",
            "metadata": {"display_phone_number": "15550000001", "phone_number_id": PHONE_NUMBER_ID},
            "contacts": [{"profile": {"name": "Nadie"}, "user_id": "US.1234567890"}],
            "messages": [{
                "from_user_id": "US.1234567890", "id": "wamid.future-1", "timestamp": "1760000000",
                "type": "hologram", "hologram": {"shape": "cube"}, "brand_new_field": true
            }]
        }}]}]
    });
    let (status, _) = server.post_meta(&payload, Some(APP_SECRET)).await;
    assert_eq!(status, 200);
    let (_, contacts) = server.get_json("/v1/contacts?search=US.1234567890").await;
    let contact = &contacts["data"][0];
    assert_eq!(contact["user_id"], "US.1234567890");
    assert_eq!(contact["wa_id"], Value::Null);
    assert_eq!(contact["profile_name"], "Nadie");
    let (_, convs) = server
        .get_json(&format!(
            "/v1/conversations?contact={}",
            contact["id"].as_str().expect("id")
        ))
        .await;
    let id = convs["data"][0]["id"].as_str().expect("conversation");
    let (_, conv) = server.get_json(&format!("/v1/conversations/{id}")).await;
    assert_eq!(conv["messages"][0]["type"], "hologram");
    assert_eq!(conv["messages"][0]["wamid"], "wamid.future-1");
    server.stop().await;
}

async fn the_window_decides_free_form_sends(backend: Backend) {
    let server = TestServer::start_with(backend, |c| {
        c.default_channel.window_policy = chasqui_domain::window::WindowPolicy::Enforce
    })
    .await;
    let to = "+5215512349001";
    let text = json!({"to": to, "type": "text", "text": {"body": "hola"}});

    // Nobody wrote yet: refused at once, nothing stored.
    let resp = server.send(&text).await;
    assert_eq!(resp.status(), 422);
    let body: Value = resp.json().await.expect("json");
    assert_eq!(body["code"], "window_closed", "{body}");
    let (_, page) = server.get_json(&format!("/v1/messages?to={to}")).await;
    assert_eq!(page["data"].as_array().map(Vec::len), Some(0));

    // A reaction does not open the window.
    server
        .customer_writes(
            "5215512349001",
            "Ana",
            json!({"type": "reaction", "reaction": {"message_id": "wamid.x", "emoji": "👍"}}),
        )
        .await;
    assert_eq!(server.send(&text).await.status(), 422);

    // The customer writes: the window opens and a free-form reply goes out, read in the end.
    let inbound = server
        .customer_writes(
            "5215512349001",
            "Ana",
            json!({"type": "text", "text": {"body": "¿hay pan?"}}),
        )
        .await;
    let reply = server.send_ok(&text).await;
    server
        .wait_for(
            std::slice::from_ref(&reply),
            &["read"],
            Duration::from_secs(20),
        )
        .await;

    let (_, convs) = server.get_json("/v1/conversations").await;
    let conv = convs["data"]
        .as_array()
        .expect("data")
        .iter()
        .find(|c| c["window"]["open"] == true)
        .cloned()
        .expect("an open conversation");
    assert!(conv["window"]["expires_at"].is_string());
    // The reaction opened no window, but it is a message to read, like the text.
    assert_eq!(conv["unread"], 2, "{conv}");
    let (_, detail) = server
        .get_json(&format!(
            "/v1/conversations/{}",
            conv["id"].as_str().expect("id")
        ))
        .await;
    assert_eq!(detail["unread"], 2, "{detail}");
    let flow: Vec<(String, String)> = detail["messages"]
        .as_array()
        .expect("messages")
        .iter()
        .map(|m| {
            (
                m["direction"].as_str().unwrap_or("").into(),
                m["id"].as_str().unwrap_or("").into(),
            )
        })
        .collect();
    let pos_in = detail["messages"]
        .as_array()
        .expect("messages")
        .iter()
        .position(|m| m["wamid"] == inbound.as_str());
    let pos_out = flow
        .iter()
        .position(|(d, id)| d == "outbound" && *id == reply);
    assert!(
        pos_in.is_some() && pos_out.is_some() && pos_in < pos_out,
        "{flow:?}"
    );
    assert_eq!(detail["contact"]["profile_name"], "Ana");
    server.stop().await;
}

async fn the_warn_policy_sends_and_says_so(backend: Backend) {
    let server = TestServer::start_with(backend, |c| {
        c.default_channel.window_policy = chasqui_domain::window::WindowPolicy::Warn
    })
    .await;
    let resp = server
        .send(&json!({"to": "+5215512349002", "type": "text", "text": {"body": "hola"}}))
        .await;
    assert_eq!(resp.status(), 202);
    let body: Value = resp.json().await.expect("json");
    assert_eq!(body["warnings"][0]["code"], "window_closed", "{body}");
    server.stop().await;
}

async fn contacts_are_searched_updated_and_opted_out(backend: Backend) {
    let server = TestServer::start(backend).await;
    server
        .customer_writes(
            "5215512349003",
            "Beatriz",
            json!({"type": "text", "text": {"body": "hola"}}),
        )
        .await;
    server
        .customer_writes(
            "5215512349004",
            "Carlos",
            json!({"type": "text", "text": {"body": "hola"}}),
        )
        .await;

    let (_, found) = server.get_json("/v1/contacts?search=beatr").await;
    let data = found["data"].as_array().expect("data");
    assert_eq!(data.len(), 1, "{found}");
    let id = data[0]["id"].as_str().expect("id").to_string();
    assert_eq!(data[0]["wa_id"], "5215512349003");
    assert_eq!(data[0]["phone"], "+5215512349003");

    // Cursor pagination walks both, once each.
    let (_, first) = server.get_json("/v1/contacts?limit=1").await;
    let cursor = first["next_cursor"].as_str().expect("cursor");
    let (_, second) = server
        .get_json(&format!("/v1/contacts?limit=1&cursor={cursor}"))
        .await;
    assert_ne!(first["data"][0]["id"], second["data"][0]["id"]);

    let path = format!("/v1/contacts/{id}");
    let (status, updated) = server
        .request_json(
            Method::PATCH,
            &path,
            &json!({"name": "Bea", "email": "bea@example.com", "tags": ["vip", "vip", "mx"],
                    "custom_fields": {"plan": "oro"}, "opted_out": true}),
        )
        .await;
    assert_eq!(status, 200, "{updated}");
    assert_eq!(updated["name"], "Bea");
    assert_eq!(updated["profile_name"], "Beatriz");
    assert_eq!(updated["tags"], json!(["vip", "mx"]));
    let (_, tagged) = server.get_json("/v1/contacts?tag=vip").await;
    assert_eq!(tagged["data"].as_array().map(Vec::len), Some(1));

    // A bad change lists every problem and changes nothing.
    let (status, refused) = server
        .request_json(
            Method::PATCH,
            &path,
            &json!({"email": "not-an-email", "tags": "vip", "opted_out": "yes", "shoe_size": 42}),
        )
        .await;
    assert_eq!(status, 422, "{refused}");
    assert_eq!(
        refused["errors"].as_array().map(Vec::len),
        Some(4),
        "{refused}"
    );
    let (_, unchanged) = server.get_json(&path).await;
    assert_eq!(unchanged["email"], "bea@example.com");

    // Opted out: a template (business-initiated) is refused; a reply in the open window is not.
    let template = json!({"to": "+5215512349003", "type": "template",
        "template": {"name": "hello_world", "language": {"code": "en_US"}}});
    let resp = server.send(&template).await;
    assert_eq!(resp.status(), 422);
    let body: Value = resp.json().await.expect("json");
    assert_eq!(body["code"], "contact_opted_out", "{body}");
    server
        .send_ok(&json!({"to": "+5215512349003", "type": "text", "text": {"body": "claro"}}))
        .await;

    // The other contact's wa_id cannot be taken; an unknown contact is 404.
    let (status, _) = server
        .request_json(Method::PATCH, &path, &json!({"wa_id": "+5215512349004"}))
        .await;
    assert_eq!(status, 409);
    let (status, _) = server.get_json("/v1/contacts/ct_nope").await;
    assert_eq!(status, 404);
    server.stop().await;
}

async fn a_stored_delivery_is_processed_after_a_crash(backend: Backend) {
    // The receiver stored a delivery and the process died before processing it: the next
    // process applies it.
    let db = crate::support::TestDb::create(backend).await;
    let payload = json!({
        "object": "whatsapp_business_account",
        "entry": [{"id": "waba", "changes": [{"field": "messages", "value": {
            "messaging_product": "whatsapp",
            "metadata": {"display_phone_number": "15550000001", "phone_number_id": PHONE_NUMBER_ID},
            "contacts": [{"profile": {"name": "Dora"}, "wa_id": "5215512349005"}],
            "messages": [{"from": "5215512349005", "id": "wamid.after-crash", "timestamp": "1760000000",
                          "type": "text", "text": {"body": "¿siguen abiertos?"}}]
        }}]}]
    });
    {
        let store = chasqui_store::open(&db.url).await.expect("store");
        store.migrate().await.expect("migrate");
        let verified = [(
            PHONE_NUMBER_ID.to_string(),
            chasqui_domain::ChannelId::from_trusted(chasqui::bootstrap::DEFAULT_CHANNEL),
        )];
        store
            .enqueue_webhook(&verified, &payload.to_string(), 1)
            .await
            .expect("enqueue");
    }
    let cfg = crate::support::test_config(&db);
    let server = TestServer::start_on(db, cfg).await;
    server.drain_webhooks().await;
    assert!(server.inbound_seen("wamid.after-crash").await);
    let (_, found) = server.get_json("/v1/contacts?search=Dora").await;
    assert_eq!(found["data"][0]["wa_id"], "5215512349005");
    server.stop().await;
}

on_both_backends!(
    a_stored_delivery_is_processed_after_a_crash,
    every_fixture_message_is_recorded_exactly_once,
    unknown_types_are_kept_and_bsuid_only_senders_recorded,
    the_window_decides_free_form_sends,
    the_warn_policy_sends_and_says_so,
    contacts_are_searched_updated_and_opted_out,
);

/// Issue: a message with neither `from` nor `from_user_id` was answered 200 and then lost.
async fn a_message_naming_no_sender_is_never_dropped(backend: Backend) {
    let server = TestServer::start(backend).await;
    let change = |contacts: Value, wamid: &str| {
        json!({
            "object": "whatsapp_business_account",
            "entry": [{"id": "waba", "changes": [{"field": "messages", "value": {
                "messaging_product": "whatsapp",
                "metadata": {"display_phone_number": "15550000001", "phone_number_id": PHONE_NUMBER_ID},
                "contacts": contacts,
                "messages": [{"id": wamid, "timestamp": "1760000000",
                              "type": "text", "text": {"body": "¿quién soy?"}}]
            }}]}]
        })
    };
    // One contact, known only by its BSUID: the message is that contact's.
    let one = change(
        json!([{"profile": {"name": "Ana"}, "user_id": "US.555000111"}]),
        "wamid.one",
    );
    assert_eq!(server.post_meta(&one, Some(APP_SECRET)).await.0, 200);
    // Two contacts: which sent it is unknown, so it is kept unattributed; twice (Meta retries).
    let two = change(
        json!([{"user_id": "US.555000222"}, {"user_id": "US.555000333"}]),
        "wamid.two",
    );
    for _ in 0..2 {
        assert_eq!(server.post_meta(&two, Some(APP_SECRET)).await.0, 200);
    }
    server.drain_webhooks().await;

    let (_, contacts) = server.get_json("/v1/contacts?search=US.555000111").await;
    let ana = contacts["data"][0]["id"]
        .as_str()
        .expect("Ana's contact")
        .to_string();
    let (_, convs) = server
        .get_json(&format!("/v1/conversations?contact={ana}"))
        .await;
    let conv = convs["data"][0]["id"].as_str().expect("Ana's conversation");
    let (_, conv) = server.get_json(&format!("/v1/conversations/{conv}")).await;
    assert_eq!(conv["messages"][0]["wamid"], "wamid.one", "{conv}");

    let (status, kept) = server.get_json("/v1/inbound/unattributed").await;
    assert_eq!(status, 200, "{kept}");
    let data = kept["data"].as_array().expect("data");
    assert_eq!(data.len(), 1, "kept once: {kept}");
    assert_eq!(data[0]["wamid"], "wamid.two");
    assert_eq!(data[0]["type"], "text");
    assert_eq!(data[0]["raw"]["text"]["body"], "¿quién soy?");
    assert_eq!(data[0]["channel"], "ch_default");
    // Neither of the two contacts was given the message.
    for who in ["US.555000222", "US.555000333"] {
        let (_, found) = server.get_json(&format!("/v1/contacts?search={who}")).await;
        let id = found["data"][0]["id"].as_str().expect("sighted contact");
        let (_, convs) = server
            .get_json(&format!("/v1/conversations?contact={id}"))
            .await;
        assert_eq!(convs["data"].as_array().unwrap().len(), 0, "{who}: {convs}");
    }
    // A bad cursor is a 400 naming it.
    let (status, bad) = server.get_json("/v1/inbound/unattributed?cursor=x").await;
    assert_eq!(status, 400);
    assert_eq!(bad["errors"][0]["field"], "cursor");
    server.stop().await;
}

on_both_backends!(a_message_naming_no_sender_is_never_dropped);
