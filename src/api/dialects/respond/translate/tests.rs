use super::*;
use chasqui_domain::{ChannelId, MessageId, WorkspaceId};

#[test]
fn identifiers() {
    assert_eq!(Identifier::parse("id:123"), Some(Identifier::Id(123)));
    assert_eq!(Identifier::parse("id:abc"), None);
    assert_eq!(Identifier::parse("id:0"), None);
    assert_eq!(
        Identifier::parse("email:ana@example.com"),
        Some(Identifier::Email("ana@example.com".into()))
    );
    assert_eq!(Identifier::parse("email:nope"), None);
    for raw in ["phone:+593998445667", "phone:593998445667"] {
        assert_eq!(
            Identifier::parse(raw),
            Some(Identifier::Phone("593998445667".into())),
            "{raw}"
        );
    }
    assert_eq!(Identifier::parse("phone:+59399abc"), None);
    assert_eq!(Identifier::parse("identifier"), None);
    assert_eq!(Identifier::parse("name:ana"), None);
}

#[test]
fn text_and_attachments() {
    let m = to_meta(
        &json!({"type": "text", "text": "Message text", "messageTag": "ACCOUNT_UPDATE"}),
        "+593998445667",
    )
    .expect("text");
    assert_eq!(m["type"], "text");
    assert_eq!(m["text"]["body"], "Message text");
    assert_eq!(m["to"], "+593998445667");
    for (kind, meta) in [
        ("image", "image"),
        ("video", "video"),
        ("audio", "audio"),
        ("file", "document"),
    ] {
        let m = to_meta(
            &json!({"type": "attachment", "attachment": {"type": kind, "url": "https://x.test/a"}}),
            "+1",
        )
        .expect("attachment");
        assert_eq!(m["type"], meta);
        assert_eq!(m[meta]["link"], "https://x.test/a");
    }
    let bad = to_meta(
        &json!({"type": "attachment", "attachment": {"type": "gif", "url": "u"}}),
        "+1",
    );
    assert_eq!(bad.map_err(|e| e.status), Err(StatusCode::BAD_REQUEST));
    assert!(to_meta(&json!({"type": "custom_payload", "payload": {}}), "+1").is_err());
    assert!(to_meta(&json!({"type": "text"}), "+1").is_err());
}

#[test]
fn quick_replies_are_buttons_up_to_three_then_a_list() {
    let m = to_meta(
        &json!({"type": "quick_reply", "title": "¿Confirma?", "replies": ["Si", "No"]}),
        "+1",
    )
    .expect("buttons");
    assert_eq!(m["interactive"]["type"], "button");
    assert_eq!(
        m["interactive"]["action"]["buttons"][1]["reply"]["title"],
        "No"
    );
    let many: Vec<String> = (1..=5).map(|i| format!("Opción {i}")).collect();
    let m = to_meta(
        &json!({"type": "quick_reply", "title": "Elija", "replies": many}),
        "+1",
    )
    .expect("list");
    assert_eq!(m["interactive"]["type"], "list");
    assert_eq!(
        m["interactive"]["action"]["sections"][0]["rows"][4]["title"],
        "Opción 5"
    );
}

#[test]
fn templates_keep_parameters_and_drop_display_text() {
    let t = json!({
        "name": "delivery_order",
        "languageCode": "en",
        "components": [
            {"type": "header", "format": "image",
             "parameters": [{"type": "image", "image": {"link": "https://picsum.photos/200/300"}}]},
            {"type": "body", "text": "Hola, {{1}} tu pedido {{2}}",
             "parameters": [{"type": "text", "text": "abc"}, {"type": "text", "text": "abc"}]},
            {"type": "footer", "text": "Para más consultas"},
            {"type": "buttons", "buttons": [
                {"type": "url", "text": "Seguimiento", "url": "https://www.ecuabots.com/"},
                {"type": "phone_number", "text": "Servicio", "phone_number": "+593997333444"},
                {"type": "url", "text": "Pedido", "url": "https://x.test/{{1}}",
                 "parameters": [{"type": "text", "text": "A1"}]}
            ]}
        ]
    });
    let m = template(&t).expect("template");
    assert_eq!(m["name"], "delivery_order");
    assert_eq!(m["language"]["code"], "en");
    let cs = m["components"].as_array().expect("components");
    assert_eq!(cs.len(), 3, "{cs:?}");
    assert_eq!(cs[0]["type"], "header");
    assert_eq!(
        cs[0]["parameters"][0]["image"]["link"],
        "https://picsum.photos/200/300"
    );
    assert_eq!(cs[1]["parameters"][1]["text"], "abc");
    assert_eq!(cs[2]["type"], "button");
    assert_eq!(cs[2]["sub_type"], "url");
    assert_eq!(cs[2]["index"], "2");
    // A text-only template has no components at all.
    let m = template(&json!({"name": "bug_fixed", "languageCode": "es",
        "components": [{"type": "body", "text": "¡Buenas noticias!"}]}))
    .expect("plain");
    assert!(m.get("components").is_none());
    // Locations take string coordinates.
    let p = parameter(&json!({"type": "location",
        "location": {"latitude": "-0.18", "longitude": "-78.47", "name": "Quito"}}))
    .expect("location");
    assert_eq!(p["location"]["latitude"], -0.18);
    assert!(template(&json!({"name": "x"})).is_err());
}

#[test]
fn errors_use_the_documented_envelope() {
    let e = RespondError::from(ApiError::InvalidApiKey);
    assert_eq!(e.body(), json!({"code": 401, "message": "UN_AUTHORIZED"}));
    let e = RespondError::from(ApiError::Internal("boom".into()));
    assert_eq!(
        e.body(),
        json!({"code": 500, "message": "Unexpected error occurred"})
    );
    let e = RespondError::from(ApiError::Validation(vec![chasqui_domain::Problem::new(
        "text.body",
        "required",
        "missing",
    )]));
    assert_eq!(e.status, StatusCode::BAD_REQUEST);
    assert!(e.message.starts_with("Validation error."), "{}", e.message);
    assert_eq!(
        RespondError::validation().body()["message"],
        "Validation error."
    );
    assert_eq!(RespondError::not_found("contact").body()["code"], 404);
    let e = RespondError::from(ApiError::Conflict("taken".into()));
    assert_eq!(e.status, StatusCode::CONFLICT);
}

fn event(status: &str, at: i64) -> MessageEvent {
    MessageEvent {
        status: status.into(),
        at,
        source: "x".into(),
        wamid: None,
        error: None,
        detail: None,
        data: None,
    }
}

#[test]
fn status_array_keeps_the_transitions_order_when_webhooks_came_out_of_order() {
    let events = vec![
        event("queued", 1_000),
        event("sent", 2_000),
        event("read", 3_000),
        event("delivered", 4_000),
    ];
    let s = status_array(&events);
    let values: Vec<&str> = s.iter().filter_map(|e| e["value"].as_str()).collect();
    assert_eq!(values, ["pending", "sent", "delivered", "read"]);
    // Each keeps the time Chasqui learned it.
    assert_eq!(s[2]["timestamp"], 4);
    assert_eq!(s[3]["timestamp"], 3);
}

#[test]
fn status_array_is_transitions_in_seconds() {
    let mut failed = event("failed", 9_000);
    failed.error = Some(chasqui_domain::MetaError {
        code: 132000,
        title: "Number of parameters does not match".into(),
        details: Some("body: 3 expected".into()),
    });
    let events = vec![
        event("queued", 1_500),
        event("sending", 2_000),
        event("retry", 2_500),
        event("sent", 3_000),
        event("delivered", 4_000),
        event("read", 5_999),
        failed,
    ];
    let s = status_array(&events);
    let values: Vec<&str> = s.iter().filter_map(|e| e["value"].as_str()).collect();
    assert_eq!(values, ["pending", "sent", "delivered", "read", "failed"]);
    assert_eq!(s[0]["timestamp"], 1);
    assert_eq!(s[3]["timestamp"], 5);
    assert!(s[4]["message"]
        .as_str()
        .is_some_and(|m| m.contains("132000") && m.contains("3 expected")));
}

fn contact() -> Contact {
    Contact {
        id: "ct_1".into(),
        parent_user_id: None,
        workspace_id: WorkspaceId::from_trusted("ws"),
        wa_id: Some("593998445667".into()),
        user_id: None,
        phone: Some("593998445667".into()),
        name: Some("Ana María Pérez".into()),
        profile_name: None,
        email: Some("ana@example.com".into()),
        tags: vec!["vip".into()],
        custom_fields: json!({"city": "Quito", "language": "es"}),
        opted_out: false,
        marketing: Default::default(),
        created_at: 1_700_000_000_123,
        updated_at: 0,
        num: 42,
    }
}

#[test]
fn contact_object_and_fields() {
    let c = contact_object(&contact(), 42);
    assert_eq!(c["id"], 42);
    assert_eq!(c["firstName"], "Ana");
    assert_eq!(c["lastName"], "María Pérez");
    assert_eq!(c["phone"], "+593998445667");
    assert_eq!(c["language"], "es");
    assert_eq!(c["created_at"], 1_700_000_000);
    assert_eq!(c["tags"], json!(["vip"]));

    let f = ContactFields::parse(&json!({
        "firstName": "Luis", "phone": "+593990000001", "email": "l@x.ec",
        "custom_fields": [{"name": "plan", "value": "gold"}]
    }))
    .expect("fields");
    let n = f.to_new().expect("new");
    assert_eq!(n.name.as_deref(), Some("Luis"));
    assert_eq!(n.phone.as_deref(), Some("593990000001"));
    assert_eq!(n.custom_fields["plan"], "gold");
    assert!(ContactFields::parse(&json!({"lastName": "x"}))
        .expect("fields")
        .to_new()
        .is_err());
    assert!(ContactFields::parse(&json!({"phone": "abc"})).is_err());

    let p = ContactFields::parse(&json!({"lastName": "Gómez"}))
        .expect("fields")
        .to_patch(&contact());
    assert_eq!(p.name, Some(Some("Ana Gómez".into())));
    assert!(p.phone.is_none());
}

#[test]
fn tag_lists() {
    assert_eq!(tags(&json!(["a", "b"])).expect("tags"), ["a", "b"]);
    assert!(tags(&json!([])).is_err());
    assert!(tags(&json!(vec!["x"; 11])).is_err());
    assert!(tags(&json!(["x".repeat(256)])).is_err());
    assert!(tags(&json!({"tag": "a"})).is_err());
}

#[test]
fn message_record_prefers_the_clients_message() {
    let m = MessageRecord {
        id: MessageId::from_trusted("msg_1"),
        seq: 7,
        workspace_id: WorkspaceId::from_trusted("ws"),
        channel_id: ChannelId::from_trusted("ch"),
        recipient: "593998445667".into(),
        kind: "text".into(),
        body: json!({"type": "text", "text": {"body": "hola"}}).to_string(),
        status: chasqui_domain::MessageStatus::Sent,
        wamid: Some("wamid.X".into()),
        error: None,
        attempts: 1,
        created_at: 1_000,
        updated_at: 2_000,
        pricing: None,
    };
    let r = message_record(&m, &[event("queued", 1_000)], 3, 4, None);
    assert_eq!(r["messageId"], 7);
    assert_eq!(r["channelMessageId"], "wamid.X");
    assert_eq!(r["contactId"], 3);
    assert_eq!(r["channelId"], 4);
    assert_eq!(r["traffic"], "outgoing");
    assert_eq!(r["message"], json!({"type": "text", "text": "hola"}));
    let client = r#"{"type":"text","text":"hola","messageTag":"ACCOUNT_UPDATE"}"#;
    let r = message_record(&m, &[], 3, 4, Some(client));
    assert_eq!(r["message"]["messageTag"], "ACCOUNT_UPDATE");
}
