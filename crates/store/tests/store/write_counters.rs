//! The store's own count of its writes (`chasqui bench` prints it per message): SQLite counts
//! every row changed, and only those; PostgreSQL leaves it to `pg_stat_user_tables`.

use crate::common::Db;
use chasqui_domain::WorkspaceId;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_counts_the_rows_it_changes() {
    let db = Db::sqlite().await;
    let store = db.open().await;
    let before = store.rows_changed().expect("SQLite counts its writes");
    for n in 0..3 {
        store
            .ensure_workspace(
                &WorkspaceId::from_trusted(format!("ws_{n}")),
                "Acme",
                1_700_000_000_000,
            )
            .await
            .expect("write");
    }
    // Already there: `ON CONFLICT DO NOTHING` changes no row.
    store
        .ensure_workspace(
            &WorkspaceId::from_trusted("ws_0"),
            "Acme",
            1_700_000_000_000,
        )
        .await
        .expect("write");
    assert_eq!(store.rows_changed(), Some(before + 3));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_leaves_counting_to_its_statistics() {
    let db = Db::postgres().await;
    let store = db.open().await;
    assert_eq!(store.rows_changed(), None);
}
