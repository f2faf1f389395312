//! The inbox at the size the console promises to stay fast at: 10,000 conversations and
//! 100,000 messages in one workspace. The rows are written with plain SQL (the store's own
//! paths would take minutes to write them); the inbox is then read through the store, every
//! page of it, each row once and in order. How fast is `chasqui bench --console`'s to say (no
//! test asserts a time); the plan tests in `sqlite/mod.rs` hold the index use.

use std::collections::HashSet;

use chasqui_domain::WorkspaceId;
use chasqui_store::{InboxConversation, InboxCursor};

use crate::common::{Backend, Db};
use crate::contract::{workspace_with_channel, S};

const CONVERSATIONS: i64 = 10_000;
/// Inbound and outbound alike: 100,000 messages in all.
const MESSAGES_EACH_WAY: i64 = 50_000;

/// `n` rows of `insert`, which selects from `n(i)`, `i` counting from 1: one statement both back
/// ends run.
async fn insert_numbered(db: &Db, n: i64, insert: &str) {
    let sql = format!(
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {n}) {insert}"
    );
    let written = db.exec(&sql).await.unwrap_or_else(|e| panic!("{sql}: {e}"));
    assert_eq!(written, n as u64, "{sql}");
}

/// Ten thousand people, each with one conversation, three of them at each activity time (so
/// every page boundary falls among ties), five messages from each and five to each, the newer
/// conversations' messages the newer (so the older conversations' latest messages lie deep in
/// the workspace's history, where a lookup that walks it from the newest would take long).
async fn seed(db: &Db) {
    insert_numbered(
        db,
        CONVERSATIONS,
        "INSERT INTO contacts (id, workspace_id, wa_id, phone, name, created_at, updated_at) \
         SELECT 'ct_big' || i, 'ws_big', '5215' || (100000000 + i), '5215' || (100000000 + i), \
         'Cliente ' || i, 0, 0 FROM n",
    )
    .await;
    insert_numbered(
        db,
        CONVERSATIONS,
        "INSERT INTO conversations (id, workspace_id, channel_id, contact_id, last_inbound_at, \
         last_message_at, created_at, unread) \
         SELECT 'cv_big' || i, 'ws_big', 'ch_big', 'ct_big' || i, (i / 3) * 1000, \
         (i / 3) * 1000, 0, i % 4 FROM n",
    )
    .await;
    insert_numbered(
        db,
        MESSAGES_EACH_WAY,
        "INSERT INTO inbound_messages (id, workspace_id, channel_id, conversation_id, \
         contact_id, meta_id, kind, content, raw, sent_at, received_at) \
         SELECT 'in_big' || i, 'ws_big', 'ch_big', 'cv_big' || (1 + (i - 1) / 5), \
         'ct_big' || (1 + (i - 1) / 5), 'wamid.big' || i, 'text', \
         '{\"body\": \"mensaje ' || i || '\"}', '{}', i, i FROM n",
    )
    .await;
    insert_numbered(
        db,
        MESSAGES_EACH_WAY,
        "INSERT INTO messages (id, workspace_id, channel_id, recipient, kind, body, status, \
         created_at, updated_at) \
         SELECT 'msg_big' || i, 'ws_big', 'ch_big', '5215' || (100000000 + 1 + (i - 1) / 5), \
         'text', '{\"type\": \"text\", \"text\": {\"body\": \"respuesta ' || i || '\"}}', \
         'delivered', i + 1, i + 1 FROM n",
    )
    .await;
}

/// One page of the big workspace's inbox.
async fn page(s: &S, before: Option<&InboxCursor>, limit: i64) -> Vec<InboxConversation> {
    let ws = WorkspaceId::from_trusted("ws_big");
    s.list_inbox(&ws, before, limit).await.expect("inbox")
}

async fn every_row_is_listed_once(backend: Backend) {
    let db = match backend {
        Backend::Sqlite => Db::sqlite().await,
        Backend::Postgres => Db::postgres_named("inbox_scale").await,
    };
    let s = db.open().await;
    workspace_with_channel(&s, "ws_big", "ch_big", "8701").await;
    seed(&db).await;

    let mut seen = HashSet::new();
    let mut before: Option<InboxCursor> = None;
    let mut previous: Option<(i64, String)> = None;
    loop {
        let page = page(&s, before.as_ref(), 100).await;
        for row in &page {
            let key = (row.cursor.last_message_at, row.cursor.id.clone());
            if let Some(p) = &previous {
                assert!(key < *p, "out of order: {key:?} after {p:?}");
            }
            previous = Some(key);
            assert!(seen.insert(row.conversation.id.clone()), "listed twice");
            let preview = row
                .preview
                .as_ref()
                .expect("every conversation has messages");
            assert_eq!(
                preview.direction, "outbound",
                "the replies are the later ones"
            );
            assert!(preview
                .text
                .as_deref()
                .unwrap_or("")
                .starts_with("respuesta "));
            assert_eq!(row.contact.id, row.conversation.contact_id);
        }
        match page.last() {
            Some(last) if page.len() == 100 => before = Some(last.cursor.clone()),
            _ => break,
        }
    }
    assert_eq!(seen.len() as i64, CONVERSATIONS);

    // The oldest conversation, opened: its latest messages lie deepest in the history.
    let ws = WorkspaceId::from_trusted("ws_big");
    let cv = s
        .get_conversation(&ws, "cv_big1")
        .await
        .expect("get")
        .expect("conversation");
    let entries = s.conversation_entries(&cv, 50).await.expect("entries");
    assert_eq!(entries.len(), 10, "five each way");
    assert_eq!(cv.last_message_at, 5 + 1, "its latest reply");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_inbox_row_is_listed_once_at_ten_thousand_conversations_sqlite() {
    every_row_is_listed_once(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_inbox_row_is_listed_once_at_ten_thousand_conversations_postgres() {
    every_row_is_listed_once(Backend::Postgres).await;
}
