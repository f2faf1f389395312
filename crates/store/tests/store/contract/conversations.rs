//! ConversationStore: the webhook inbox, contacts, conversations and inbound messages.

use chasqui_domain::{ChannelId, WorkspaceId};
use chasqui_store::{
    ContactFilter, ContactPatch, ContactSighting, InboundRecord, InboxFinish, NewContact,
    RecipientState,
};
use serde_json::json;

use super::*;

pub(super) fn sighting(ws: &str, wa_id: &str, name: &str) -> ContactSighting {
    ContactSighting {
        workspace_id: WorkspaceId::from_trusted(ws),
        wa_id: Some(wa_id.into()),
        user_id: None,
        name: Some(name.into()),
        parent_user_id: None,
        change: None,
    }
}

pub(super) fn inbound(
    id: &str,
    ws: &str,
    ch: &str,
    from: &str,
    meta_id: &str,
    sent_at: i64,
) -> InboundRecord {
    InboundRecord {
        id: id.into(),
        workspace_id: WorkspaceId::from_trusted(ws),
        channel_id: ChannelId::from_trusted(ch),
        meta_id: meta_id.into(),
        from: sighting(ws, from, "Ana"),
        kind: "text".into(),
        content: json!({"body": format!("hi from {id}")}).to_string(),
        raw: json!({"id": meta_id}).to_string(),
        context_id: None,
        sent_at,
        opens_window: true,
        keyword: None,
    }
}

fn new_contact(phone: &str, name: &str, tags: &[&str]) -> NewContact {
    NewContact {
        name: Some(name.into()),
        phone: Some(phone.into()),
        email: Some(format!("{name}@example.com")),
        tags: tags.iter().map(|t| t.to_string()).collect(),
        custom_fields: json!({"tier": "gold"}),
    }
}

async fn the_inbox_leases_retries_and_finishes(s: S, _db: &Db) {
    assert_eq!(s.pending_webhooks().await.expect("pending"), 0);
    assert!(s
        .claim_webhooks("w", 0, 1_000, 10)
        .await
        .expect("claim")
        .is_empty());
    let pair = vec![("8001".to_string(), ChannelId::from_trusted("ch_1"))];
    let one = s
        .enqueue_webhook(&pair, r#"{"n":1}"#, 10)
        .await
        .expect("enqueue");
    let two = s
        .enqueue_webhook(&[], r#"{"n":2}"#, 11)
        .await
        .expect("enqueue");
    assert!(two > one, "inbox positions grow");
    assert_eq!(s.pending_webhooks().await.expect("pending"), 2);

    let items = s.claim_webhooks("w", 100, 1_000, 1).await.expect("claim");
    assert_eq!(items.len(), 1, "at most limit");
    assert_eq!(
        (items[0].seq, items[0].body.as_str(), items[0].attempts),
        (one, r#"{"n":1}"#, 0)
    );
    assert_eq!(items[0].channels, pair);
    let rest = s.claim_webhooks("x", 100, 1_000, 10).await.expect("claim");
    assert_eq!(
        rest.iter().map(|i| i.seq).collect::<Vec<_>>(),
        [two],
        "leased items are skipped"
    );
    assert!(rest[0].channels.is_empty());
    assert_eq!(
        s.renew_webhooks("w", &[one, two], 500, 1_000)
            .await
            .expect("renew"),
        1,
        "only its own"
    );

    // One processed, one failed and retried later with its attempt counted.
    s.finish_webhooks(
        vec![
            InboxFinish {
                seq: one,
                error: None,
                retry_at: 0,
            },
            InboxFinish {
                seq: two,
                error: Some("boom".into()),
                retry_at: 5_000,
            },
        ],
        600,
    )
    .await
    .expect("finish");
    s.finish_webhooks(Vec::new(), 601)
        .await
        .expect("finish nothing");
    assert_eq!(s.pending_webhooks().await.expect("pending"), 1);
    assert!(s
        .claim_webhooks("w", 4_999, 1_000, 10)
        .await
        .expect("claim")
        .is_empty());
    let retried = s
        .claim_webhooks("w", 5_001, 1_000, 10)
        .await
        .expect("claim");
    assert_eq!(
        retried
            .iter()
            .map(|i| (i.seq, i.attempts))
            .collect::<Vec<_>>(),
        [(two, 1)]
    );
}

async fn corrupt_inbox_channels_are_corrupt(s: S, db: &Db) {
    let pair = vec![("8101".to_string(), ChannelId::from_trusted("ch_1"))];
    let seq = s.enqueue_webhook(&pair, "{}", 10).await.expect("enqueue");
    // Read as "verified by no channel", its statuses would be dropped without a trace.
    assert!(
        corrupt(
            db,
            &format!("UPDATE webhook_inbox SET channels = 'not json' WHERE seq = {seq}")
        )
        .await
    );
    assert_corrupt(
        "claim_webhooks",
        s.claim_webhooks("w", 100, 1_000, 10).await,
    );
}

async fn inbound_messages_make_contacts_and_conversations(s: S, _db: &Db) {
    workspace_with_channel(&s, "ws_v", "ch_v", "8201").await;
    workspace(&s, "ws_other").await;
    let report = s
        .record_inbound(
            vec![sighting("ws_v", "5215511111111", "Bea")],
            vec![
                inbound("in_1", "ws_v", "ch_v", "5215522222222", "wamid.in1", 1_000),
                inbound("in_2", "ws_v", "ch_v", "5215522222222", "wamid.in2", 2_000),
            ],
            3_000,
        )
        .await
        .expect("record");
    assert_eq!(
        (report.stored, report.duplicates, report.contacts_created),
        (2, 0, 2)
    );
    // Meta's retry of the same message is a duplicate.
    let again = s
        .record_inbound(
            Vec::new(),
            vec![inbound(
                "in_9",
                "ws_v",
                "ch_v",
                "5215522222222",
                "wamid.in1",
                1_000,
            )],
            3_500,
        )
        .await
        .expect("record");
    assert_eq!(
        (again.stored, again.duplicates, again.contacts_created),
        (0, 1, 0)
    );

    let ana = s
        .contact_by_phone(&WorkspaceId::from_trusted("ws_v"), "5215522222222")
        .await
        .expect("by phone")
        .expect("contact");
    assert_eq!(
        (ana.name.as_deref(), ana.profile_name.as_deref()),
        (Some("Ana"), Some("Ana"))
    );
    let convs = s
        .list_conversations(&WorkspaceId::from_trusted("ws_v"), None, None, 10)
        .await
        .expect("list");
    assert_eq!(convs.len(), 1);
    let cv = &convs[0];
    assert_eq!(
        (cv.channel_id.as_str(), cv.contact_id.as_str()),
        ("ch_v", ana.id.as_str())
    );
    assert_eq!(cv.last_inbound_at, Some(2_000));
    assert_eq!(
        s.get_conversation(&WorkspaceId::from_trusted("ws_v"), &cv.id)
            .await
            .expect("get"),
        Some(cv.clone())
    );
    assert!(s
        .get_conversation(&WorkspaceId::from_trusted("ws_other"), &cv.id)
        .await
        .expect("get")
        .is_none());
    assert!(s
        .get_conversation(&WorkspaceId::from_trusted("ws_v"), "cv_none")
        .await
        .expect("get")
        .is_none());
    assert_eq!(
        s.list_conversations(&WorkspaceId::from_trusted("ws_v"), Some(&ana.id), None, 10)
            .await
            .expect("list")
            .len(),
        1
    );
    assert!(s
        .list_conversations(
            &WorkspaceId::from_trusted("ws_v"),
            Some("ct_none"),
            None,
            10
        )
        .await
        .expect("list")
        .is_empty());

    // A reply goes into the same history, in time order.
    accept(
        &s,
        message("msg_out", "ws_v", "ch_v", "5215522222222", 4_000),
    )
    .await;
    let entries = s.conversation_entries(cv, 10).await.expect("entries");
    let seen: Vec<(&str, &str)> = entries
        .iter()
        .map(|e| (e.direction, e.id.as_str()))
        .collect();
    assert_eq!(
        seen,
        [
            ("inbound", "in_1"),
            ("inbound", "in_2"),
            ("outbound", "msg_out")
        ]
    );
    assert_eq!(entries[0].content, json!({"body": "hi from in_1"}));
    assert_eq!(entries[2].status, "queued");
    let latest = s.conversation_entries(cv, 1).await.expect("entries");
    assert_eq!(
        latest.iter().map(|e| e.id.as_str()).collect::<Vec<_>>(),
        ["msg_out"]
    );
    let cv = s
        .get_conversation(&WorkspaceId::from_trusted("ws_v"), &cv.id)
        .await
        .expect("get")
        .expect("conversation");
    assert_eq!(cv.last_message_at, 4_000, "the outbound message counts");

    // The send path's view of the recipient.
    let state = s
        .recipient_state(
            &WorkspaceId::from_trusted("ws_v"),
            &ChannelId::from_trusted("ch_v"),
            &["5215522222222".into()],
        )
        .await
        .expect("state");
    assert_eq!(
        state,
        RecipientState {
            opted_out: false,
            marketing_opted_out: false,
            last_inbound_at: Some(2_000)
        }
    );
    let nobody = s
        .recipient_state(
            &WorkspaceId::from_trusted("ws_v"),
            &ChannelId::from_trusted("ch_v"),
            &["5215599999999".into()],
        )
        .await
        .expect("state");
    assert_eq!(nobody, RecipientState::default());
    assert_eq!(
        s.recipient_state(
            &WorkspaceId::from_trusted("ws_v"),
            &ChannelId::from_trusted("ch_v"),
            &[]
        )
        .await
        .expect("state"),
        RecipientState::default()
    );
    s.update_contact(
        &WorkspaceId::from_trusted("ws_v"),
        &ana.id,
        &ContactPatch {
            opted_out: Some(true),
            ..Default::default()
        },
        5_000,
    )
    .await
    .expect("update")
    .expect("contact");
    let state = s
        .recipient_state(
            &WorkspaceId::from_trusted("ws_v"),
            &ChannelId::from_trusted("ch_v"),
            &["521522222222".into(), "5215522222222".into()],
        )
        .await
        .expect("state");
    assert!(state.opted_out);

    // Deleting the contact deletes its conversations.
    assert!(s
        .delete_contact(&WorkspaceId::from_trusted("ws_v"), &ana.id)
        .await
        .expect("delete"));
    assert!(s
        .list_conversations(&WorkspaceId::from_trusted("ws_v"), None, None, 10)
        .await
        .expect("list")
        .is_empty());
    assert!(!s
        .delete_contact(&WorkspaceId::from_trusted("ws_v"), &ana.id)
        .await
        .expect("delete again"));
}

async fn contacts_are_created_found_changed_and_deleted(s: S, _db: &Db) {
    workspace(&s, "ws_c").await;
    workspace(&s, "ws_other").await;
    let ana = s
        .create_contact(
            &WorkspaceId::from_trusted("ws_c"),
            &new_contact("5215510000001", "ana", &["vip", "mx"]),
            10,
        )
        .await
        .expect("create");
    assert_eq!(
        (ana.wa_id.as_deref(), ana.phone.as_deref()),
        (Some("5215510000001"), Some("5215510000001"))
    );
    assert_eq!(ana.tags, ["vip", "mx"]);
    assert_eq!(ana.custom_fields, json!({"tier": "gold"}));
    assert!(ana.num > 0);
    assert_eq!(
        s.get_contact(&WorkspaceId::from_trusted("ws_c"), &ana.id)
            .await
            .expect("get"),
        Some(ana.clone())
    );
    assert!(s
        .get_contact(&WorkspaceId::from_trusted("ws_other"), &ana.id)
        .await
        .expect("get")
        .is_none());
    assert!(s
        .get_contact(&WorkspaceId::from_trusted("ws_c"), "ct_none")
        .await
        .expect("get")
        .is_none());
    let bob = s
        .create_contact(
            &WorkspaceId::from_trusted("ws_c"),
            &new_contact("5215510000002", "bob", &["mx"]),
            20,
        )
        .await
        .expect("create");
    // The same phone in another workspace is another person's contact.
    s.create_contact(
        &WorkspaceId::from_trusted("ws_other"),
        &new_contact("5215510000001", "ana", &[]),
        30,
    )
    .await
    .expect("create");

    let ids = |v: Vec<chasqui_store::Contact>| v.into_iter().map(|c| c.id).collect::<Vec<_>>();
    let f = |search: Option<&str>, tag: Option<&str>| ContactFilter {
        search: search.map(str::to_owned),
        tag: tag.map(str::to_owned),
        after_id: None,
        limit: 10,
    };
    assert_eq!(
        ids(s
            .list_contacts(&WorkspaceId::from_trusted("ws_c"), &f(None, None))
            .await
            .expect("list")),
        [ana.id.clone(), bob.id.clone()]
    );
    assert_eq!(
        ids(s
            .list_contacts(&WorkspaceId::from_trusted("ws_c"), &f(Some("BOB"), None))
            .await
            .expect("list")),
        [bob.id.as_str()]
    );
    assert_eq!(
        ids(s
            .list_contacts(&WorkspaceId::from_trusted("ws_c"), &f(None, Some("vip")))
            .await
            .expect("list")),
        [ana.id.as_str()]
    );
    assert!(s
        .list_contacts(&WorkspaceId::from_trusted("ws_c"), &f(Some("nobody"), None))
        .await
        .expect("list")
        .is_empty());

    let patch = ContactPatch {
        name: Some(Some("Ana María".into())),
        email: Some(None),
        tags: Some(vec!["new".into()]),
        custom_fields: Some(json!({"tier": "silver"})),
        ..Default::default()
    };
    let changed = s
        .update_contact(&WorkspaceId::from_trusted("ws_c"), &ana.id, &patch, 40)
        .await
        .expect("update")
        .expect("contact");
    assert_eq!(
        (
            changed.name.as_deref(),
            changed.email.as_deref(),
            changed.updated_at
        ),
        (Some("Ana María"), None, 40)
    );
    assert_eq!(
        s.get_contact(&WorkspaceId::from_trusted("ws_c"), &ana.id)
            .await
            .expect("get"),
        Some(changed.clone())
    );
    assert!(s
        .update_contact(&WorkspaceId::from_trusted("ws_c"), "ct_none", &patch, 41)
        .await
        .expect("update")
        .is_none());
    assert!(s
        .update_contact(&WorkspaceId::from_trusted("ws_other"), &ana.id, &patch, 41)
        .await
        .expect("update")
        .is_none());

    // Taken ids are conflicts, and change nothing.
    let steal = ContactPatch {
        wa_id: Some(Some("5215510000002".into())),
        ..Default::default()
    };
    assert_conflict(
        "a taken wa_id",
        s.update_contact(&WorkspaceId::from_trusted("ws_c"), &ana.id, &steal, 50)
            .await,
        "wa_id",
        &[],
    );
    assert_eq!(
        s.get_contact(&WorkspaceId::from_trusted("ws_c"), &ana.id)
            .await
            .expect("get"),
        Some(changed)
    );
    assert_conflict(
        "a taken phone",
        s.create_contact(
            &WorkspaceId::from_trusted("ws_c"),
            &new_contact("5215510000002", "bobby", &[]),
            60,
        )
        .await,
        "phone",
        &[],
    );

    assert!(s
        .delete_contact(&WorkspaceId::from_trusted("ws_c"), &bob.id)
        .await
        .expect("delete"));
    assert!(!s
        .delete_contact(&WorkspaceId::from_trusted("ws_other"), &ana.id)
        .await
        .expect("not in that workspace"));
    assert_eq!(
        ids(s
            .list_contacts(&WorkspaceId::from_trusted("ws_c"), &f(None, None))
            .await
            .expect("list")),
        [ana.id.as_str()]
    );
}

/// Pages of `page` contacts, following the cursor until an empty page.
async fn contact_pages(s: &S, ws: &str, page: i64) -> Vec<usize> {
    let mut sizes = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let f = ContactFilter {
            after_id: after.clone(),
            limit: page,
            ..Default::default()
        };
        let got = s
            .list_contacts(&WorkspaceId::from_trusted(ws), &f)
            .await
            .expect("list");
        sizes.push(got.len());
        match got.last() {
            Some(last) if sizes.len() < 10 => after = Some(last.id.clone()),
            _ => return sizes,
        }
    }
}

/// Pages of `page` conversations, following the cursor until an empty page.
async fn conversation_pages(s: &S, ws: &str, page: i64) -> Vec<usize> {
    let mut sizes = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let got = s
            .list_conversations(&WorkspaceId::from_trusted(ws), None, after.as_deref(), page)
            .await
            .expect("list");
        sizes.push(got.len());
        match got.last() {
            Some(last) if sizes.len() < 10 => after = Some(last.id.clone()),
            _ => return sizes,
        }
    }
}

async fn contact_and_conversation_pages_end_at_their_boundaries(s: S, _db: &Db) {
    workspace_with_channel(&s, "ws_full", "ch_full", "8301").await;
    workspace_with_channel(&s, "ws_more", "ch_more", "8302").await;
    workspace(&s, "ws_empty").await;
    for (ws, ch, n) in [("ws_full", "ch_full", 3), ("ws_more", "ch_more", 4)] {
        let messages = (0..n)
            .map(|i| {
                inbound(
                    &format!("in_{ws}_{i}"),
                    ws,
                    ch,
                    &format!("52155300000{i}"),
                    &format!("wamid.{ws}.{i}"),
                    10,
                )
            })
            .collect();
        s.record_inbound(Vec::new(), messages, 20)
            .await
            .expect("record");
    }
    assert_eq!(contact_pages(&s, "ws_full", 3).await, [3, 0]);
    assert_eq!(contact_pages(&s, "ws_more", 3).await, [3, 1, 0]);
    assert_eq!(contact_pages(&s, "ws_empty", 3).await, [0]);
    assert_eq!(conversation_pages(&s, "ws_full", 3).await, [3, 0]);
    assert_eq!(conversation_pages(&s, "ws_more", 3).await, [3, 1, 0]);
    assert_eq!(conversation_pages(&s, "ws_empty", 3).await, [0]);
}

async fn a_contact_with_unreadable_fields_is_corrupt(s: S, db: &Db) {
    workspace(&s, "ws_c").await;
    let ana = s
        .create_contact(
            &WorkspaceId::from_trusted("ws_c"),
            &new_contact("5215540000001", "ana", &["vip"]),
            10,
        )
        .await
        .expect("create");
    let bob = s
        .create_contact(
            &WorkspaceId::from_trusted("ws_c"),
            &new_contact("5215540000002", "bob", &[]),
            10,
        )
        .await
        .expect("create");
    // Read as "no tags", the next update would write the loss back.
    assert!(
        corrupt(
            db,
            &format!(
                "UPDATE contacts SET tags = 'vip,gold' WHERE id = '{}'",
                ana.id
            )
        )
        .await
    );
    assert_corrupt(
        "get_contact",
        s.get_contact(&WorkspaceId::from_trusted("ws_c"), &ana.id)
            .await,
    );
    assert_corrupt(
        "list_contacts",
        s.list_contacts(
            &WorkspaceId::from_trusted("ws_c"),
            &ContactFilter {
                limit: 10,
                ..Default::default()
            },
        )
        .await,
    );
    assert_corrupt(
        "contact_by_phone",
        s.contact_by_phone(&WorkspaceId::from_trusted("ws_c"), "5215540000001")
            .await,
    );
    assert_corrupt(
        "update_contact",
        s.update_contact(
            &WorkspaceId::from_trusted("ws_c"),
            &ana.id,
            &ContactPatch {
                name: Some(None),
                ..Default::default()
            },
            20,
        )
        .await,
    );
    assert!(
        corrupt(
            db,
            &format!(
                "UPDATE contacts SET custom_fields = '{{oops' WHERE id = '{}'",
                bob.id
            )
        )
        .await
    );
    assert_corrupt(
        "get_contact",
        s.get_contact(&WorkspaceId::from_trusted("ws_c"), &bob.id)
            .await,
    );
}

async fn a_contact_without_its_number_is_corrupt(s: S, db: &Db) {
    workspace(&s, "ws_c").await;
    let ana = s
        .create_contact(
            &WorkspaceId::from_trusted("ws_c"),
            &new_contact("5215550000001", "ana", &[]),
            10,
        )
        .await
        .expect("create");
    if corrupt(
        db,
        &format!("UPDATE contacts SET num = NULL WHERE id = '{}'", ana.id),
    )
    .await
    {
        assert_corrupt(
            "get_contact",
            s.get_contact(&WorkspaceId::from_trusted("ws_c"), &ana.id)
                .await,
        );
    }
}

contract!(
    the_inbox_leases_retries_and_finishes,
    corrupt_inbox_channels_are_corrupt,
    inbound_messages_make_contacts_and_conversations,
    contacts_are_created_found_changed_and_deleted,
    contact_and_conversation_pages_end_at_their_boundaries,
    a_contact_with_unreadable_fields_is_corrupt,
    a_contact_without_its_number_is_corrupt,
);
