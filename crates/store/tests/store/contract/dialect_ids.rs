//! DialectIdStore: the integer numbers and plain fields vendor dialects name things by.

use chasqui_domain::{MessageId, WorkspaceId};
use chasqui_store::NewContact;

use super::*;

async fn things_are_found_by_number_email_and_phone(s: S, _db: &Db) {
    let ch = workspace_with_channel(&s, "ws_d", "ch_d", "9701").await;
    workspace_with_channel(&s, "ws_other", "ch_o", "9702").await;

    let seq = accept(&s, message("msg_1", "ws_d", "ch_d", "111", 100)).await;
    let mut with_client = message("msg_2", "ws_d", "ch_d", "111", 110);
    with_client.client_message = Some(r#"{"message":{"type":"text"}}"#.into());
    accept(&s, with_client).await;
    let found = s
        .message_by_seq(&WorkspaceId::from_trusted("ws_d"), seq)
        .await
        .expect("by seq")
        .expect("message");
    assert_eq!(found.id, "msg_1");
    assert!(s
        .message_by_seq(&WorkspaceId::from_trusted("ws_other"), seq)
        .await
        .expect("by seq")
        .is_none());
    assert!(s
        .message_by_seq(&WorkspaceId::from_trusted("ws_d"), seq + 1_000)
        .await
        .expect("by seq")
        .is_none());
    assert_eq!(
        s.client_message(
            &WorkspaceId::from_trusted("ws_d"),
            &MessageId::from_trusted("msg_2")
        )
        .await
        .expect("client")
        .as_deref(),
        Some(r#"{"message":{"type":"text"}}"#)
    );
    assert!(s
        .client_message(
            &WorkspaceId::from_trusted("ws_d"),
            &MessageId::from_trusted("msg_1")
        )
        .await
        .expect("client")
        .is_none());
    assert!(s
        .client_message(
            &WorkspaceId::from_trusted("ws_other"),
            &MessageId::from_trusted("msg_2")
        )
        .await
        .expect("client")
        .is_none());
    assert!(s
        .client_message(
            &WorkspaceId::from_trusted("ws_d"),
            &MessageId::from_trusted("msg_none")
        )
        .await
        .expect("client")
        .is_none());

    assert_eq!(
        s.channel_by_num(&WorkspaceId::from_trusted("ws_d"), ch.num)
            .await
            .expect("by num")
            .map(|c| c.id)
            .as_deref(),
        Some("ch_d")
    );
    assert!(s
        .channel_by_num(&WorkspaceId::from_trusted("ws_other"), ch.num)
        .await
        .expect("by num")
        .is_none());
    assert!(s
        .channel_by_num(&WorkspaceId::from_trusted("ws_d"), ch.num + 1_000)
        .await
        .expect("by num")
        .is_none());

    let contact = |phone: &str, email: &str| NewContact {
        phone: Some(phone.into()),
        email: Some(email.into()),
        ..NewContact::default()
    };
    let first = s
        .create_contact(
            &WorkspaceId::from_trusted("ws_d"),
            &contact("5215560000001", "Ana@Example.com"),
            10,
        )
        .await
        .expect("create");
    let second = s
        .create_contact(
            &WorkspaceId::from_trusted("ws_d"),
            &contact("5215560000002", "ana@example.com"),
            20,
        )
        .await
        .expect("create");
    assert!(second.num > first.num, "numbers grow");
    assert_eq!(
        s.contact_by_num(&WorkspaceId::from_trusted("ws_d"), second.num)
            .await
            .expect("by num"),
        Some(second.clone())
    );
    assert!(s
        .contact_by_num(&WorkspaceId::from_trusted("ws_other"), second.num)
        .await
        .expect("by num")
        .is_none());
    assert!(s
        .contact_by_num(&WorkspaceId::from_trusted("ws_d"), second.num + 1_000)
        .await
        .expect("by num")
        .is_none());
    // The lowest number wins, ignoring case.
    assert_eq!(
        s.contact_by_email(&WorkspaceId::from_trusted("ws_d"), "ANA@example.COM")
            .await
            .expect("by email")
            .map(|c| c.id),
        Some(first.id.clone())
    );
    assert!(s
        .contact_by_email(&WorkspaceId::from_trusted("ws_d"), "bob@example.com")
        .await
        .expect("by email")
        .is_none());
    assert!(s
        .contact_by_email(&WorkspaceId::from_trusted("ws_other"), "ana@example.com")
        .await
        .expect("by email")
        .is_none());
    assert_eq!(
        s.contact_by_phone(&WorkspaceId::from_trusted("ws_d"), "5215560000002")
            .await
            .expect("by phone")
            .map(|c| c.id),
        Some(second.id.clone())
    );
    assert!(s
        .contact_by_phone(&WorkspaceId::from_trusted("ws_d"), "5215569999999")
        .await
        .expect("by phone")
        .is_none());
    // A deleted contact's number is never handed out again.
    assert!(s
        .delete_contact(&WorkspaceId::from_trusted("ws_d"), &second.id)
        .await
        .expect("delete"));
    let third = s
        .create_contact(
            &WorkspaceId::from_trusted("ws_d"),
            &contact("5215560000003", "c@example.com"),
            30,
        )
        .await
        .expect("create");
    assert!(third.num > second.num, "{} after {}", third.num, second.num);
    assert!(s
        .contact_by_num(&WorkspaceId::from_trusted("ws_d"), second.num)
        .await
        .expect("by num")
        .is_none());
}

contract!(things_are_found_by_number_email_and_phone);
