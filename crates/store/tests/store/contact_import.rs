//! Contact import on both back ends: rows match by external id, then phone (in either written
//! form) or wa_id, then user_id; a row is stored whole or not at all; importing again changes
//! nothing; later rows (across batches too) see earlier ones; external ids are per workspace and
//! go with a deleted contact.

use std::sync::Arc;

use chasqui_domain::WorkspaceId;
use chasqui_store::{
    ContactFilter, ContactPatch, ContactSighting, ImportOutcome, ImportRow, Store, IMPORT_BATCH,
};
use serde_json::json;

use crate::common::Db;

const NOW: i64 = 1_700_000_000_000;

fn ws(id: &str) -> WorkspaceId {
    WorkspaceId::from_trusted(id)
}

fn row(phone: Option<&str>, respond: Option<&str>, patch: ContactPatch) -> ImportRow {
    ImportRow {
        external_ids: respond
            .map(|id| vec![("respond".to_string(), id.to_string())])
            .unwrap_or_default(),
        patch: ContactPatch {
            phone: phone.map(|p| Some(p.to_string())),
            ..patch
        },
    }
}

fn named(name: &str) -> ContactPatch {
    ContactPatch {
        name: Some(Some(name.into())),
        ..Default::default()
    }
}

async fn contacts(store: &Arc<dyn Store>, ws_id: &str) -> Vec<chasqui_store::Contact> {
    store
        .list_contacts(
            &ws(ws_id),
            &ContactFilter {
                limit: 10_000,
                ..Default::default()
            },
        )
        .await
        .expect("list")
}

async fn matching_and_idempotency(store: Arc<dyn Store>) {
    for w in ["ws_a", "ws_b"] {
        store.ensure_workspace(&ws(w), w, NOW).await.expect("ws");
    }
    // A person who wrote first, known by the legacy Mexican form of their number.
    store
        .record_inbound(
            vec![ContactSighting {
                workspace_id: ws("ws_a"),
                wa_id: Some("5215512345678".into()),
                user_id: None,
                name: Some("Ana WhatsApp".into()),
                parent_user_id: None,
                change: None,
            }],
            vec![],
            NOW,
        )
        .await
        .expect("sighting");
    let rows = vec![
        // The modern form of Ana's number finds her.
        row(
            Some("525512345678"),
            Some("10"),
            ContactPatch {
                custom_fields: Some(json!({"plan": "gold"})),
                ..named("Ana")
            },
        ),
        row(Some("593998445667"), Some("11"), named("Beto")),
        // The same person twice in one batch: the second row sees the first.
        row(
            Some("593998445667"),
            None,
            ContactPatch {
                tags: Some(vec!["vip".into()]),
                ..Default::default()
            },
        ),
        // A BSUID-only person.
        ImportRow {
            external_ids: vec![],
            patch: ContactPatch {
                user_id: Some(Some("US.1".into())),
                ..named("Cam")
            },
        },
        // Ana's respond id with Beto's phone: two people; nothing of it is stored.
        row(Some("593998445667"), Some("10"), named("Mezcla")),
    ];
    let outcomes = store
        .import_contacts(&ws("ws_a"), rows.clone(), NOW + 1)
        .await
        .expect("import");
    assert_eq!(
        &outcomes[..4],
        &[
            ImportOutcome::Updated,
            ImportOutcome::Created,
            ImportOutcome::Updated,
            ImportOutcome::Created
        ]
    );
    assert!(
        matches!(&outcomes[4], ImportOutcome::Conflict { field, .. } if field == "phone"),
        "{outcomes:?}"
    );
    let all = contacts(&store, "ws_a").await;
    assert_eq!(all.len(), 3, "{all:?}");
    let ana = all
        .iter()
        .find(|c| c.wa_id.as_deref() == Some("5215512345678"))
        .expect("ana");
    assert_eq!(ana.name.as_deref(), Some("Ana"));
    assert_eq!(ana.profile_name.as_deref(), Some("Ana WhatsApp"));
    assert_eq!(ana.phone.as_deref(), Some("525512345678"));
    let beto = all
        .iter()
        .find(|c| c.phone.as_deref() == Some("593998445667"))
        .expect("beto");
    assert_eq!(
        (beto.name.as_deref(), beto.wa_id.as_deref(), &beto.tags[..]),
        (Some("Beto"), Some("593998445667"), &["vip".to_string()][..])
    );
    assert!(all.iter().all(|c| c.name.as_deref() != Some("Mezcla")));

    // Imported ids name their contacts, in their workspace only.
    let by_id = |w: &'static str, id: &'static str| {
        let store = store.clone();
        async move {
            store
                .contact_by_external_id(&ws(w), "respond", id)
                .await
                .expect("lookup")
                .map(|c| c.id)
        }
    };
    assert_eq!(by_id("ws_a", "10").await, Some(ana.id.clone()));
    assert_eq!(by_id("ws_a", "11").await, Some(beto.id.clone()));
    assert_eq!(by_id("ws_b", "10").await, None);
    assert_eq!(by_id("ws_a", "12").await, None);
    let ids: Vec<String> = all.iter().map(|c| c.id.clone()).collect();
    let known = store
        .external_ids(&ws("ws_a"), "respond", &ids)
        .await
        .expect("ids");
    assert_eq!(known.len(), 2, "Cam has none: {known:?}");
    assert_eq!(
        (known.get(&ana.id), known.get(&beto.id)),
        (Some(&"10".to_string()), Some(&"11".to_string()))
    );
    assert!(store
        .external_ids(&ws("ws_b"), "respond", &ids)
        .await
        .expect("ids")
        .is_empty());

    // Again: nothing changes; custom fields given are added to the contact's.
    let again = store
        .import_contacts(&ws("ws_a"), rows[..4].to_vec(), NOW + 2)
        .await
        .expect("again");
    assert!(
        again.iter().all(|o| *o == ImportOutcome::Unchanged),
        "{again:?}"
    );
    assert_eq!(contacts(&store, "ws_a").await, all);
    let more = ContactPatch {
        custom_fields: Some(json!({"city": "CDMX"})),
        ..Default::default()
    };
    let outcomes = store
        .import_contacts(&ws("ws_a"), vec![row(None, Some("10"), more)], NOW + 3)
        .await
        .expect("by id alone");
    assert_eq!(outcomes, vec![ImportOutcome::Updated]);
    let ana = store
        .get_contact(&ws("ws_a"), &ana.id)
        .await
        .expect("get")
        .expect("ana");
    assert_eq!(ana.custom_fields, json!({"plan": "gold", "city": "CDMX"}));
    assert_eq!(ana.updated_at, NOW + 3);

    // A deleted contact's ids go with it: importing its row again creates a new one.
    assert!(store
        .delete_contact(&ws("ws_a"), &beto.id)
        .await
        .expect("delete"));
    assert_eq!(by_id("ws_a", "11").await, None);
    let outcomes = store
        .import_contacts(&ws("ws_a"), vec![rows[1].clone()], NOW + 4)
        .await
        .expect("re-create");
    assert_eq!(outcomes, vec![ImportOutcome::Created]);
    assert!(by_id("ws_a", "11").await.is_some_and(|id| id != beto.id));
}

async fn rows_beyond_one_batch(store: Arc<dyn Store>) {
    store
        .ensure_workspace(&ws("ws_a"), "A", NOW)
        .await
        .expect("ws");
    let total = IMPORT_BATCH * 2 + 100;
    let mut rows: Vec<ImportRow> = (0..total)
        .map(|i| {
            let phone = format!("5215540{i:06}");
            row(
                Some(&phone),
                Some(&(1000 + i).to_string()),
                named(&format!("C{i}")),
            )
        })
        .collect();
    // The first row's person again, in the last batch: found, not created twice.
    rows.push(row(None, Some("1000"), named("C0 again")));
    let outcomes = store
        .import_contacts(&ws("ws_a"), rows, NOW)
        .await
        .expect("import");
    assert_eq!(outcomes.len(), total + 1);
    assert!(outcomes[..total]
        .iter()
        .all(|o| *o == ImportOutcome::Created));
    assert_eq!(outcomes[total], ImportOutcome::Updated);
    let all = contacts(&store, "ws_a").await;
    assert_eq!(all.len(), total);
    let first = store
        .contact_by_external_id(&ws("ws_a"), "respond", "1000")
        .await
        .expect("lookup")
        .expect("first");
    assert_eq!(
        (first.name.as_deref(), first.wa_id.as_deref()),
        (Some("C0 again"), Some("5215540000000"))
    );
    assert!(first.num > 0, "numbered on insert");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn matching_and_idempotency_sqlite() {
    let db = Db::sqlite().await;
    matching_and_idempotency(db.open().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn matching_and_idempotency_postgres() {
    let db = Db::postgres_named("store_import").await;
    matching_and_idempotency(db.open().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn rows_beyond_one_batch_sqlite() {
    let db = Db::sqlite().await;
    rows_beyond_one_batch(db.open().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn rows_beyond_one_batch_postgres() {
    let db = Db::postgres_named("store_import").await;
    rows_beyond_one_batch(db.open().await).await;
}
