//! Dialect id store tests on both back ends: contacts and channels get stable, unique integer
//! numbers (never reused after a delete), and messages, contacts and channels are found by them
//! only inside their own workspace.

use chasqui_domain::{ChannelId, MessageId, WorkspaceId};
use std::sync::Arc;

use chasqui_store::{Channel, ContactSighting, NewContact, Store, StoreError};

use crate::common::Db;

fn channel(id: &str, ws: &str, phone_number_id: &str) -> Channel {
    Channel {
        id: ChannelId::from_trusted(id),
        workspace_id: WorkspaceId::from_trusted(ws),
        name: id.into(),
        provider: chasqui_domain::ProviderKind::Sandbox,
        phone_number_id: phone_number_id.into(),
        display_phone_number: "15550001111".into(),
        waba_id: None,
        base_url: None,
        api_version: "v23.0".into(),
        access_token: None,
        app_secret: None,
        verify_token: None,
        rate_per_sec: 0,
        pair_interval_ms: 0,
        pair_burst: 1,
        is_default: true,
        window_policy: chasqui_domain::window::WindowPolicy::Enforce,
        enabled: true,
        messaging_limit: None,
        auto_read: false,
        wolkvox_connector_id: None,
        respond_channel_id: None,
        window_fallback: None,
        marketing_messages: false,
        num: 0,
    }
}

async fn numbers(store: Arc<dyn Store>) {
    let now = 1_700_000_000_000;
    store
        .ensure_workspace(&WorkspaceId::from_trusted("ws_a"), "A", now)
        .await
        .expect("ws a");
    store
        .ensure_workspace(&WorkspaceId::from_trusted("ws_b"), "B", now)
        .await
        .expect("ws b");
    store
        .upsert_channel(&channel("ch_a", "ws_a", "pn_a"), now)
        .await
        .expect("ch a");
    store
        .upsert_channel(&channel("ch_b", "ws_b", "pn_b"), now)
        .await
        .expect("ch b");
    let a = store
        .get_channel(&ChannelId::from_trusted("ch_a"))
        .await
        .expect("get")
        .expect("ch a");
    let b = store
        .get_channel(&ChannelId::from_trusted("ch_b"))
        .await
        .expect("get")
        .expect("ch b");
    assert!(
        a.num > 0 && b.num > 0 && a.num != b.num,
        "{} {}",
        a.num,
        b.num
    );
    // Saving again keeps the number.
    store.upsert_channel(&a, now + 1).await.expect("save");
    assert_eq!(
        store
            .get_channel(&ChannelId::from_trusted("ch_a"))
            .await
            .expect("get")
            .expect("a")
            .num,
        a.num
    );
    let found = store
        .channel_by_num(&WorkspaceId::from_trusted("ws_a"), a.num)
        .await
        .expect("by num")
        .expect("found");
    assert_eq!(found.id, "ch_a");
    assert!(store
        .channel_by_num(&WorkspaceId::from_trusted("ws_b"), a.num)
        .await
        .expect("by num")
        .is_none());

    let c1 = store
        .create_contact(
            &WorkspaceId::from_trusted("ws_a"),
            &NewContact {
                name: Some("Ana".into()),
                phone: Some("593998445667".into()),
                email: Some("Ana@Example.com".into()),
                tags: vec!["vip".into()],
                custom_fields: serde_json::json!({"city": "Quito"}),
            },
            now,
        )
        .await
        .expect("create");
    assert!(c1.num > 0);
    assert_eq!(c1.wa_id.as_deref(), Some("593998445667"));
    assert_eq!(c1.tags, vec!["vip".to_string()]);
    let dup = store
        .create_contact(
            &WorkspaceId::from_trusted("ws_a"),
            &NewContact {
                phone: Some("593998445667".into()),
                custom_fields: serde_json::json!({}),
                ..NewContact::default()
            },
            now,
        )
        .await;
    assert!(matches!(dup, Err(StoreError::Conflict(_))), "{dup:?}");
    // A contact first seen in a webhook gets a number too.
    store
        .record_inbound(
            vec![ContactSighting {
                workspace_id: WorkspaceId::from_trusted("ws_a"),
                wa_id: Some("593990000001".into()),
                user_id: None,
                name: Some("Beto".into()),
                parent_user_id: None,
                change: None,
            }],
            vec![],
            now,
        )
        .await
        .expect("inbound");
    let c2 = store
        .contact_by_phone(&WorkspaceId::from_trusted("ws_a"), "593990000001")
        .await
        .expect("by phone")
        .expect("found");
    assert!(c2.num > c1.num);
    let by_email = store
        .contact_by_email(&WorkspaceId::from_trusted("ws_a"), "ana@example.COM")
        .await
        .expect("email");
    assert_eq!(by_email.map(|c| c.id), Some(c1.id.clone()));
    assert!(store
        .contact_by_email(&WorkspaceId::from_trusted("ws_b"), "ana@example.com")
        .await
        .expect("email")
        .is_none());
    let by_num = store
        .contact_by_num(&WorkspaceId::from_trusted("ws_a"), c1.num)
        .await
        .expect("num");
    assert_eq!(by_num.map(|c| c.id), Some(c1.id.clone()));
    assert!(store
        .contact_by_num(&WorkspaceId::from_trusted("ws_b"), c1.num)
        .await
        .expect("num")
        .is_none());

    // Numbers are never reused: deleting the newest contact does not hand its number out again.
    assert!(store
        .delete_contact(&WorkspaceId::from_trusted("ws_a"), &c2.id)
        .await
        .expect("delete"));
    assert!(!store
        .delete_contact(&WorkspaceId::from_trusted("ws_a"), &c2.id)
        .await
        .expect("delete again"));
    assert!(store
        .contact_by_num(&WorkspaceId::from_trusted("ws_a"), c2.num)
        .await
        .expect("num")
        .is_none());
    let c3 = store
        .create_contact(
            &WorkspaceId::from_trusted("ws_a"),
            &NewContact {
                name: Some("Caro".into()),
                custom_fields: serde_json::json!({}),
                ..NewContact::default()
            },
            now,
        )
        .await
        .expect("create");
    assert!(c3.num > c2.num, "{} after {}", c3.num, c2.num);

    // Messages are found by their seq, only in their workspace.
    let accepted = store
        .accept_message(chasqui_store::NewMessage {
            id: MessageId::from_trusted("msg_1"),
            workspace_id: WorkspaceId::from_trusted("ws_a"),
            channel_id: ChannelId::from_trusted("ch_a"),
            recipient: "593998445667".into(),
            kind: "text".into(),
            body: r#"{"type":"text","text":{"body":"hi"}}"#.into(),
            created_at: now,
            idempotency: None,
            rendered: None,
            client_message: None,
            failed: None,
        })
        .await
        .expect("accept");
    let chasqui_store::AcceptOutcome::Created(m) = accepted else {
        panic!("not created: {accepted:?}");
    };
    let found = store
        .message_by_seq(&WorkspaceId::from_trusted("ws_a"), m.seq)
        .await
        .expect("seq");
    assert_eq!(found.map(|f| f.id.to_string()), Some("msg_1".to_string()));
    assert!(store
        .message_by_seq(&WorkspaceId::from_trusted("ws_b"), m.seq)
        .await
        .expect("seq")
        .is_none());

    // A message accepted already failed keeps its client's message, has a `failed` entry with
    // the reason, and is never handed to a worker.
    let accepted = store
        .accept_message(chasqui_store::NewMessage {
            id: MessageId::from_trusted("msg_2"),
            workspace_id: WorkspaceId::from_trusted("ws_a"),
            channel_id: ChannelId::from_trusted("ch_a"),
            recipient: "593998445667".into(),
            kind: "template".into(),
            body: r#"{"type":"template","template":{"name":"t","language":{"code":"es"}}}"#.into(),
            created_at: now,
            idempotency: None,
            rendered: None,
            client_message: Some(r#"{"type":"whatsapp_template"}"#.into()),
            failed: Some(chasqui_domain::MetaError {
                code: 132000,
                title: "Number of parameters does not match".into(),
                details: None,
            }),
        })
        .await
        .expect("accept failed");
    let chasqui_store::AcceptOutcome::Created(f) = accepted else {
        panic!("not created: {accepted:?}");
    };
    assert_eq!(f.status, chasqui_domain::MessageStatus::Failed);
    let detail = store
        .get_message(
            &WorkspaceId::from_trusted("ws_a"),
            &MessageId::from_trusted("msg_2"),
        )
        .await
        .expect("get")
        .expect("found");
    assert_eq!(detail.message.status, chasqui_domain::MessageStatus::Failed);
    let failed = detail
        .events
        .iter()
        .find(|e| e.status == "failed")
        .expect("failed entry");
    assert_eq!(failed.error.as_ref().map(|e| e.code), Some(132000));
    assert_eq!(
        store
            .client_message(
                &WorkspaceId::from_trusted("ws_a"),
                &MessageId::from_trusted("msg_2")
            )
            .await
            .expect("client")
            .as_deref(),
        Some(r#"{"type":"whatsapp_template"}"#)
    );
    assert!(store
        .client_message(
            &WorkspaceId::from_trusted("ws_b"),
            &MessageId::from_trusted("msg_2")
        )
        .await
        .expect("client")
        .is_none());
    let claimed = store
        .claim(&chasqui_store::ClaimRequest {
            owner: "w".into(),
            channel_id: ChannelId::from_trusted("ch_a"),
            now: now + 10,
            limit: 10,
            lease_ms: 1000,
            reconcile_ms: 1000,
        })
        .await
        .expect("claim");
    assert!(
        claimed.iter().all(|c| c.message_id != "msg_2"),
        "{claimed:?}"
    );
}

#[tokio::test]
async fn numbers_sqlite() {
    let db = Db::sqlite().await;
    numbers(db.open().await).await;
}

#[tokio::test]
async fn numbers_postgres() {
    let db = Db::postgres().await;
    numbers(db.open().await).await;
}
