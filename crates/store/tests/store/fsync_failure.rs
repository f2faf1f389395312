//! A failed fdatasync of the SQLite WAL (the real call runs, then the test's fault makes it
//! report EIO, as a failing disk would): the writes of that commit and every write after it are
//! refused, nothing is acknowledged again even though the next fdatasync would succeed, reads go
//! on, the WAL is left for recovery, and a restart finds every acknowledged write.

use chasqui_domain::WorkspaceId;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use chasqui_store::{fault_injection, Store, StoreError};

use crate::common::Db;

const NOW: i64 = 1_700_000_000_000;

fn database(db: &Db) -> PathBuf {
    PathBuf::from(db.url.strip_prefix("sqlite://").expect("a sqlite URL"))
}

fn wal(database: &Path) -> PathBuf {
    let mut wal = database.as_os_str().to_owned();
    wal.push("-wal");
    PathBuf::from(wal)
}

/// Writes workspace `id`; answers whether it was acknowledged (any other error fails the test).
async fn write(s: &Arc<dyn Store>, id: String) -> Option<String> {
    match s
        .ensure_workspace(&WorkspaceId::from_trusted(id.clone()), "w", NOW)
        .await
    {
        Ok(_) => Some(id),
        Err(StoreError::Unavailable(why)) => {
            assert!(why.contains("fdatasync"), "{why}");
            None
        }
        Err(e) => panic!("{id}: {e}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_failed_fdatasync_stops_every_write_until_a_restart() {
    let db = Db::sqlite().await;
    let path = database(&db);
    let s = db.open().await;
    assert_eq!(s.writes_stopped(), None);
    let mut acknowledged: Vec<String> = Vec::new();
    acknowledged.extend(write(&s, "ws_before".into()).await);
    assert_eq!(acknowledged.len(), 1);

    // Writers in flight while an fdatasync fails: some are acknowledged before it, its commit's
    // callers and everyone after it are refused.
    let mut writers = tokio::task::JoinSet::new();
    let (started, mut running) = tokio::sync::mpsc::unbounded_channel();
    for w in 0..8 {
        let s = s.clone();
        let started = started.clone();
        writers.spawn(async move {
            let mut mine = Vec::new();
            for i in 0..40 {
                match write(&s, format!("ws_{w}_{i}")).await {
                    Some(id) => {
                        if mine.is_empty() {
                            let _ = started.send(w);
                        }
                        mine.push(id)
                    }
                    // Refused once, refused for good: the next one is refused too.
                    None => {
                        assert!(write(&s, format!("ws_{w}_{i}_again")).await.is_none());
                        return (mine, true);
                    }
                }
            }
            (mine, false)
        });
    }
    drop(started);
    // Every writer has been acknowledged once and goes on writing.
    for _ in 0..8 {
        running.recv().await.expect("a writer started");
    }
    fault_injection::fail_next_fdatasync(&path);
    let mut refused = 0;
    while let Some(done) = writers.join_next().await {
        let (mine, was_refused) = done.expect("writer");
        acknowledged.extend(mine);
        refused += usize::from(was_refused);
    }
    if refused == 0 {
        // They all finished before the next fdatasync: the fault is still armed.
        assert_eq!(write(&s, "ws_late".into()).await, None);
    }
    let reason = s.writes_stopped().expect("stopped");
    assert!(reason.contains("os error 5"), "{reason}");
    // Every write from now on is refused, though an fdatasync would succeed again.
    for i in 0..5 {
        assert_eq!(write(&s, format!("ws_after_{i}")).await, None);
    }
    let created = chasqui_store::WebhookEndpoint {
        id: "wh_1".into(),
        workspace_id: WorkspaceId::from_trusted("ws_before"),
        url: "https://example.com/hook".into(),
        events: "*".into(),
        secret: "sealed".into(),
        secret_hint: "whsec_…abcd".into(),
        enabled: true,
        created_at: NOW,
        updated_at: NOW,
    };
    assert!(matches!(
        s.create_webhook_endpoint(&created).await,
        Err(StoreError::Unavailable(_))
    ));
    // Reads go on.
    assert!(s
        .get_workspace(&WorkspaceId::from_trusted("ws_before"))
        .await
        .expect("read")
        .is_some());
    assert_eq!(s.writes_stopped(), Some(reason));

    // Closed after the failure, the store leaves the WAL for recovery instead of checkpointing
    // frames that may never have reached the disk.
    drop(s);
    assert!(
        wal(&path).exists(),
        "the WAL was checkpointed away at close"
    );

    // A restart recovers every acknowledged write and accepts writes again.
    let s = db.open().await;
    assert_eq!(s.writes_stopped(), None);
    for id in &acknowledged {
        assert!(
            s.get_workspace(&WorkspaceId::from_trusted(id))
                .await
                .expect("read")
                .is_some(),
            "acknowledged {id} lost"
        );
    }
    assert!(write(&s, "ws_restarted".into()).await.is_some());
}
