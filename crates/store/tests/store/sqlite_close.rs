//! A stopped Chasqui's SQLite database is one self-contained file: what an operator copies as a
//! backup after stopping the service must hold everything that was committed.

use crate::common::Db;
use chasqui_domain::WorkspaceId;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropping_the_store_folds_the_wal_into_the_database_file() {
    let db = Db::sqlite().await;
    let path = db.url.trim_start_matches("sqlite://").to_string();
    let store = db.open().await;
    for n in 0..50 {
        store
            .ensure_workspace(
                &WorkspaceId::from_trusted(format!("ws_{n}")),
                "Acme",
                1_700_000_000_000,
            )
            .await
            .expect("write");
    }
    // Readers are pooled: use one so that its connection is open at the drop too.
    assert_eq!(store.list_workspaces().await.expect("read").len(), 50);
    assert!(std::path::Path::new(&format!("{path}-wal")).exists());

    drop(store);

    assert!(
        !std::path::Path::new(&format!("{path}-wal")).exists(),
        "the WAL outlived the store"
    );
    // The file alone, copied elsewhere, has every committed row.
    let copy = format!("{path}.copy");
    std::fs::copy(&path, &copy).expect("copy");
    let conn = rusqlite::Connection::open(&copy).expect("open the copy");
    let count: i64 = conn
        .query_row(
            "SELECT count(*) FROM workspaces WHERE id LIKE 'ws_%'",
            [],
            |r| r.get(0),
        )
        .expect("count");
    assert_eq!(count, 50);
}
