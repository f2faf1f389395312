//! ConversationStore's inbox: unread counts, newest-activity-first pages and their previews.

use chasqui_domain::WorkspaceId;
use chasqui_store::{
    ContactPatch, Conversation, InboundRecord, InboxConversation, InboxCursor, InboxPreview,
};
use serde_json::json;

use super::conversations::inbound;
use super::*;

fn ws(id: &str) -> WorkspaceId {
    WorkspaceId::from_trusted(id)
}

/// `inbound` with another kind and content.
fn inbound_of(
    id: &str,
    (ws, ch, from): (&str, &str, &str),
    kind: &str,
    content: serde_json::Value,
) -> InboundRecord {
    InboundRecord {
        kind: kind.into(),
        content: content.to_string(),
        ..inbound(id, ws, ch, from, &format!("wamid.{id}"), 1_000)
    }
}

/// Records messages received at `now`.
async fn receive(s: &S, messages: Vec<InboundRecord>, now: i64) {
    s.record_inbound(Vec::new(), messages, now)
        .await
        .expect("record");
}

/// The one conversation of `ws`.
async fn only_conversation(s: &S, ws_id: &str) -> Conversation {
    let mut all = s
        .list_conversations(&ws(ws_id), None, None, 10)
        .await
        .expect("list");
    assert_eq!(all.len(), 1, "{all:?}");
    all.remove(0)
}

async fn unread(s: &S, ws_id: &str, id: &str) -> i64 {
    s.get_conversation(&ws(ws_id), id)
        .await
        .expect("get")
        .expect("conversation")
        .unread
}

async fn unread_counts_new_messages_until_marked_read(s: S, _db: &Db) {
    workspace_with_channel(&s, "ws_u", "ch_u", "8401").await;
    workspace_with_channel(&s, "ws_u2", "ch_u2", "8402").await;
    let ana = ("ws_u", "ch_u", "5215540000001");
    receive(
        &s,
        vec![inbound_of("in_1", ana, "text", json!({"body": "hola"}))],
        1_000,
    )
    .await;
    let cv = only_conversation(&s, "ws_u").await;
    assert_eq!(cv.unread, 1);

    // Meta's repeated delivery is not a new message, also when it comes in the same batch as a
    // new one; both new ones of a batch count.
    let repeat = inbound("in_9", "ws_u", "ch_u", ana.2, "wamid.in_1", 1_000);
    receive(&s, vec![repeat.clone()], 1_100).await;
    assert_eq!(unread(&s, "ws_u", &cv.id).await, 1, "a repeated delivery");
    receive(
        &s,
        vec![
            repeat,
            inbound_of("in_2", ana, "image", json!({"id": "m1", "caption": "mira"})),
            inbound_of(
                "in_3",
                ana,
                "reaction",
                json!({"message_id": "wamid.x", "emoji": "👍"}),
            ),
        ],
        1_200,
    )
    .await;
    assert_eq!(unread(&s, "ws_u", &cv.id).await, 3);

    // What a person sees as a new message counts, whatever its kind; WhatsApp's notices and the
    // edit or deletion of a message already counted do not.
    let news = [
        ("location", json!({"latitude": 19.4, "longitude": -99.1})),
        ("button_reply", json!({"id": "b1", "title": "Sí"})),
        ("list_reply", json!({"id": "r1", "title": "Lunes"})),
        ("button", json!({"payload": "p", "text": "Confirmar"})),
        ("voice", json!({"id": "m2"})),
        ("unsupported", json!({})),
    ];
    let not_news = [
        (
            "system",
            json!({"type": "user_changed_number", "body": "cambió"}),
        ),
        ("edit", json!({"original_message_id": "wamid.in_1"})),
        ("revoke", json!({"original_message_id": "wamid.in_1"})),
    ];
    let records = news
        .iter()
        .chain(&not_news)
        .enumerate()
        .map(|(i, (kind, content))| inbound_of(&format!("in_k{i}"), ana, kind, content.clone()))
        .collect();
    receive(&s, records, 1_300).await;
    assert_eq!(unread(&s, "ws_u", &cv.id).await, 3 + news.len() as i64);

    // A message Meta names no sender of belongs to no conversation.
    let mut nobody = inbound("in_n", "ws_u", "ch_u", ana.2, "wamid.in_n", 1_000);
    nobody.from.wa_id = None;
    receive(&s, vec![nobody], 1_400).await;
    assert_eq!(unread(&s, "ws_u", &cv.id).await, 3 + news.len() as i64);

    // Another workspace cannot mark it read, nor can an unknown id.
    assert!(!s
        .mark_conversation_read(&ws("ws_u2"), &cv.id)
        .await
        .expect("mark"));
    assert!(!s
        .mark_conversation_read(&ws("ws_u"), "cv_none")
        .await
        .expect("mark"));
    assert_eq!(unread(&s, "ws_u", &cv.id).await, 3 + news.len() as i64);

    assert!(s
        .mark_conversation_read(&ws("ws_u"), &cv.id)
        .await
        .expect("mark"));
    assert_eq!(unread(&s, "ws_u", &cv.id).await, 0);
    assert!(
        s.mark_conversation_read(&ws("ws_u"), &cv.id)
            .await
            .expect("mark"),
        "marking a read conversation read again still finds it"
    );
    assert_eq!(
        only_conversation(&s, "ws_u").await.unread,
        0,
        "listings read it too"
    );

    receive(
        &s,
        vec![inbound_of("in_4", ana, "text", json!({"body": "¿sigues?"}))],
        1_500,
    )
    .await;
    assert_eq!(unread(&s, "ws_u", &cv.id).await, 1, "counts again from 0");
    let page = s.list_inbox(&ws("ws_u"), None, 10).await.expect("inbox");
    assert_eq!(page[0].conversation.unread, 1);
}

/// Every page of `ws`'s inbox of `limit` rows, following each page's last cursor (through its
/// text, as a client would) until a page is short; each page's ids.
async fn inbox_pages(s: &S, ws_id: &str, limit: i64) -> Vec<Vec<String>> {
    let mut pages = Vec::new();
    let mut before: Option<InboxCursor> = None;
    loop {
        let page = s
            .list_inbox(&ws(ws_id), before.as_ref(), limit)
            .await
            .expect("inbox");
        assert!(page.len() as i64 <= limit);
        pages.push(page.iter().map(|r| r.conversation.id.clone()).collect());
        match page.last() {
            Some(last) if page.len() as i64 == limit && pages.len() < 20 => {
                let text = last.cursor.encode();
                before = Some(InboxCursor::decode(&text).expect("the cursor reads back"));
            }
            _ => return pages,
        }
    }
}

/// `ws`'s conversation ids by activity time, newest first, ties by id descending: the inbox's
/// order.
async fn expected_order(s: &S, ws_id: &str, activity: &[(String, i64)]) -> Vec<String> {
    let all = s
        .list_conversations(&ws(ws_id), None, None, 100)
        .await
        .expect("list");
    assert_eq!(all.len(), activity.len());
    let mut sorted = activity.to_vec();
    sorted.sort_by(|a, b| b.1.cmp(&a.1).then(b.0.cmp(&a.0)));
    sorted.into_iter().map(|(id, _)| id).collect()
}

async fn the_inbox_pages_newest_activity_first_across_ties(s: S, _db: &Db) {
    workspace_with_channel(&s, "ws_p", "ch_p", "8501").await;
    workspace_with_channel(&s, "ws_q", "ch_q", "8502").await;
    assert!(s
        .list_inbox(&ws("ws_p"), None, 10)
        .await
        .expect("inbox")
        .is_empty());
    // Seven people, four of them last heard from at the same time.
    let times = [1_000, 4_000, 2_000, 2_000, 2_000, 2_000, 3_000];
    let mut activity = Vec::new();
    for (i, at) in times.iter().enumerate() {
        let from = format!("52155410000{i:02}");
        let m = inbound(
            &format!("in_p{i}"),
            "ws_p",
            "ch_p",
            &from,
            &format!("wamid.p{i}"),
            10,
        );
        receive(&s, vec![m], *at).await;
        let found = s
            .list_conversations(&ws("ws_p"), None, None, 100)
            .await
            .expect("list");
        let new = found
            .iter()
            .find(|c| !activity.iter().any(|(id, _)| id == &c.id))
            .expect("a new conversation");
        activity.push((new.id.clone(), *at));
    }
    // Another workspace's conversation, newer than all of them, is never listed.
    receive(
        &s,
        vec![inbound(
            "in_q",
            "ws_q",
            "ch_q",
            "5215541000000",
            "wamid.q",
            10,
        )],
        9_000,
    )
    .await;
    let theirs = only_conversation(&s, "ws_q").await;

    let order = expected_order(&s, "ws_p", &activity).await;
    for limit in [1, 2, 3, 7, 100] {
        let pages = inbox_pages(&s, "ws_p", limit).await;
        let seen: Vec<String> = pages.concat();
        assert_eq!(seen, order, "pages of {limit}: {pages:?}");
    }
    let first = s.list_inbox(&ws("ws_p"), None, 100).await.expect("inbox");
    for row in &first {
        let at = activity
            .iter()
            .find(|(id, _)| id == &row.conversation.id)
            .unwrap()
            .1;
        assert_eq!(
            row.cursor,
            InboxCursor {
                last_message_at: at,
                id: row.conversation.id.clone()
            }
        );
    }

    // A reply from the console moves its conversation up; an earlier time never moves it down.
    let oldest = order.last().unwrap().clone();
    assert!(s
        .touch_conversation(&ws("ws_p"), &oldest, 5_000)
        .await
        .expect("touch"));
    assert!(s
        .touch_conversation(&ws("ws_p"), &oldest, 500)
        .await
        .expect("touch"));
    let at =
        |activity: &[(String, i64)], id: &str| activity.iter().position(|(c, _)| c == id).unwrap();
    let oldest_at = at(&activity, &oldest);
    activity[oldest_at].1 = 5_000;
    let order = expected_order(&s, "ws_p", &activity).await;
    assert_eq!(order[0], oldest);
    assert_eq!(inbox_pages(&s, "ws_p", 2).await.concat(), order);
    let touched = s
        .get_conversation(&ws("ws_p"), &oldest)
        .await
        .expect("get")
        .expect("conversation");
    assert_eq!(touched.last_message_at, 5_000);

    // Another workspace's id, or an unknown one, is not touched.
    assert!(!s
        .touch_conversation(&ws("ws_p"), &theirs.id, 99_000)
        .await
        .expect("touch"));
    assert!(!s
        .touch_conversation(&ws("ws_p"), "cv_none", 99_000)
        .await
        .expect("touch"));
    assert_eq!(only_conversation(&s, "ws_q").await.last_message_at, 9_000);
    assert_eq!(inbox_pages(&s, "ws_p", 100).await.concat(), order);
    let mine = s.list_inbox(&ws("ws_q"), None, 10).await.expect("inbox");
    assert_eq!(
        mine.iter().map(|r| &r.conversation.id).collect::<Vec<_>>(),
        [&theirs.id]
    );

    // A message sent through the API shows in the conversation's latest activity and preview,
    // but does not move it: its cursor keeps the inbox's order.
    let second = order[1].clone();
    let contact = s
        .get_conversation(&ws("ws_p"), &second)
        .await
        .expect("get")
        .expect("conversation")
        .contact_id;
    let to = s
        .get_contact(&ws("ws_p"), &contact)
        .await
        .expect("contact")
        .expect("contact")
        .wa_id
        .expect("wa_id");
    accept(&s, message("msg_p", "ws_p", "ch_p", &to, 8_000)).await;
    let page = s.list_inbox(&ws("ws_p"), None, 100).await.expect("inbox");
    assert_eq!(
        page.iter()
            .map(|r| r.conversation.id.clone())
            .collect::<Vec<_>>(),
        order
    );
    let row = &page[1];
    assert_eq!(row.conversation.last_message_at, 8_000);
    assert_eq!(
        row.cursor.last_message_at,
        activity[at(&activity, &second)].1
    );
    assert_eq!(row.preview.as_ref().map(|p| p.direction), Some("outbound"));
    assert_eq!(inbox_pages(&s, "ws_p", 1).await.concat(), order);
}

/// The inbox row of the conversation whose contact is `phone`.
fn row_of<'a>(page: &'a [InboxConversation], phone: &str) -> &'a InboxConversation {
    page.iter()
        .find(|r| r.contact.wa_id.as_deref() == Some(phone))
        .unwrap_or_else(|| panic!("no inbox row for {phone}"))
}

fn preview(direction: &'static str, kind: &str, text: Option<&str>, at: i64) -> InboxPreview {
    InboxPreview {
        direction,
        kind: kind.into(),
        text: text.map(str::to_string),
        at,
    }
}

async fn the_inbox_shows_each_contact_and_latest_message(s: S, _db: &Db) {
    workspace_with_channel(&s, "ws_r", "ch_r", "8601").await;
    // One person per kind of last message, each received at its own time.
    let cases: [(&str, serde_json::Value, Option<&str>); 9] = [
        (
            "text",
            json!({"body": "¿Tienen envío?"}),
            Some("¿Tienen envío?"),
        ),
        (
            "image",
            json!({"id": "m1", "caption": "esta"}),
            Some("esta"),
        ),
        ("image", json!({"id": "m2"}), None),
        ("audio", json!({"id": "m3", "mime_type": "audio/ogg"}), None),
        (
            "button_reply",
            json!({"id": "b1", "title": "Sí, confirmo"}),
            Some("Sí, confirmo"),
        ),
        (
            "button",
            json!({"payload": "p", "text": "Detener"}),
            Some("Detener"),
        ),
        (
            "reaction",
            json!({"message_id": "wamid.z", "emoji": "❤️"}),
            Some("❤️"),
        ),
        (
            "location",
            json!({"latitude": 19.4, "longitude": -99.1, "name": "Oficina"}),
            Some("Oficina"),
        ),
        (
            "contacts",
            json!({"contacts": [{"name": {"formatted_name": "Luis"}}]}),
            None,
        ),
    ];
    for (i, (kind, content, _)) in cases.iter().enumerate() {
        let from = format!("52155420000{i:02}");
        let first = inbound_of(
            &format!("in_r{i}a"),
            ("ws_r", "ch_r", &from),
            "text",
            json!({"body": "antes"}),
        );
        let last = inbound_of(
            &format!("in_r{i}b"),
            ("ws_r", "ch_r", &from),
            kind,
            content.clone(),
        );
        // Two deliveries: the preview is the later one, not the first stored.
        receive(&s, vec![first], 100 + i as i64).await;
        receive(&s, vec![last], 1_000 + i as i64).await;
    }
    let page = s.list_inbox(&ws("ws_r"), None, 100).await.expect("inbox");
    assert_eq!(page.len(), cases.len());
    for (i, (kind, _, text)) in cases.iter().enumerate() {
        let row = row_of(&page, &format!("52155420000{i:02}"));
        assert_eq!(
            row.preview,
            Some(preview("inbound", kind, *text, 1_000 + i as i64)),
            "{kind}"
        );
        assert_eq!(row.conversation.unread, 2);
        assert_eq!(row.contact.id, row.conversation.contact_id);
    }

    // The contact as the business keeps it: its name and tags.
    let ana = row_of(&page, "5215542000000");
    assert_eq!(ana.contact.name.as_deref(), Some("Ana"));
    s.update_contact(
        &ws("ws_r"),
        &ana.contact.id,
        &ContactPatch {
            name: Some(Some("Ana López".into())),
            tags: Some(vec!["vip".into(), "mayoreo".into()]),
            ..ContactPatch::default()
        },
        2_000,
    )
    .await
    .expect("update")
    .expect("contact");

    // Replies, later than the last inbound message, are the preview: a text, a template (its
    // filled text), a media message (its caption).
    let reply = |id: &str, to: &str, kind: &str, body: serde_json::Value, at: i64| NewMessage {
        kind: kind.into(),
        body: body.to_string(),
        ..message(id, "ws_r", "ch_r", to, at)
    };
    accept(
        &s,
        reply(
            "msg_r0",
            "5215542000000",
            "text",
            json!({"type": "text", "text": {"body": "Sí, a todo el país"}}),
            3_000,
        ),
    )
    .await;
    let mut template = reply(
        "msg_r1",
        "5215542000001",
        "template",
        json!({"type": "template", "template": {"name": "pedido", "language": {"code": "es_MX"}}}),
        3_001,
    );
    template.rendered = Some("Hola Ana, tu pedido 7 va en camino".into());
    accept(&s, template).await;
    accept(
        &s,
        reply(
            "msg_r2",
            "5215542000002",
            "image",
            json!({"type": "image", "image": {"id": "m9", "caption": "Catálogo"}}),
            3_002,
        ),
    )
    .await;
    // Sent before the last message came in: the inbound message stays the preview.
    accept(
        &s,
        reply(
            "msg_r3",
            "5215542000003",
            "text",
            json!({"type": "text", "text": {"body": "antes"}}),
            500,
        ),
    )
    .await;

    let page = s.list_inbox(&ws("ws_r"), None, 100).await.expect("inbox");
    let ana = row_of(&page, "5215542000000");
    assert_eq!(ana.contact.name.as_deref(), Some("Ana López"));
    assert_eq!(ana.contact.tags, ["vip", "mayoreo"]);
    assert_eq!(
        ana.preview,
        Some(preview(
            "outbound",
            "text",
            Some("Sí, a todo el país"),
            3_000
        ))
    );
    assert_eq!(
        row_of(&page, "5215542000001").preview,
        Some(preview(
            "outbound",
            "template",
            Some("Hola Ana, tu pedido 7 va en camino"),
            3_001
        ))
    );
    assert_eq!(
        row_of(&page, "5215542000002").preview,
        Some(preview("outbound", "image", Some("Catálogo"), 3_002))
    );
    assert_eq!(
        row_of(&page, "5215542000003").preview,
        Some(preview("inbound", "audio", None, 1_003))
    );
    // The conversation in the row is the one `get_conversation` answers.
    for row in &page {
        let cv = s
            .get_conversation(&ws("ws_r"), &row.conversation.id)
            .await
            .expect("get")
            .expect("conversation");
        assert_eq!(row.conversation, cv);
        let contact = s
            .get_contact(&ws("ws_r"), &cv.contact_id)
            .await
            .expect("get")
            .expect("contact");
        assert_eq!(row.contact, contact);
    }
}

contract!(
    unread_counts_new_messages_until_marked_read,
    the_inbox_pages_newest_activity_first_across_ties,
    the_inbox_shows_each_contact_and_latest_message,
);

#[test]
fn an_inbox_cursor_reads_back_only_from_its_own_text() {
    let c = InboxCursor {
        last_message_at: 1_760_000_000_123,
        id: "cv_0192f3c4a1b27c3d9e8f7a6b5c4d3e2f".into(),
    };
    let text = c.encode();
    assert!(
        text.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b)),
        "safe in a URL: {text}"
    );
    assert_eq!(InboxCursor::decode(&text), Some(c));
    for bad in [
        "",
        ".",
        "cv_1",
        "1760000000123",
        "1760000000123.",
        ".cv_1",
        "x.cv_1",
        "1e3.cv_1",
        "1.cv 1",
        "1.cv_1.2",
        "1.cv_1'--",
        "99999999999999999999.cv_1",
    ] {
        assert_eq!(InboxCursor::decode(bad), None, "{bad:?}");
    }
}
