//! MediaStore: uploaded and received files, and their downloads.

use chasqui_domain::ChannelId;
use chasqui_domain::WorkspaceId;
use chasqui_store::{MediaOutcome, NewMedia};

use super::*;

fn media(id: &str, ws: &str, provider_id: &str, next: i64) -> NewMedia {
    NewMedia {
        id: id.into(),
        workspace_id: WorkspaceId::from_trusted(ws),
        channel_id: ChannelId::from_trusted("ch_m"),
        direction: "inbound".into(),
        provider_media_id: provider_id.into(),
        mime_type: Some("image/jpeg".into()),
        size: None,
        sha256: Some("abc=".into()),
        filename: None,
        path: None,
        state: "pending".into(),
        message_meta_id: Some("wamid.m".into()),
        next_attempt_at: next,
    }
}

async fn media_is_stored_claimed_and_finished(s: S, _db: &Db) {
    assert!(s
        .get_media(&WorkspaceId::from_trusted("ws_m"), "md_none")
        .await
        .expect("get")
        .is_none());
    assert!(s
        .claim_media(1_000, 100, 10)
        .await
        .expect("claim")
        .is_empty());
    assert!(s
        .insert_media(&media("md_1", "ws_m", "pm_1", 100), 50)
        .await
        .expect("insert"));
    assert!(
        !s.insert_media(&media("md_1", "ws_m", "pm_other", 100), 60)
            .await
            .expect("insert twice"),
        "the first row stays"
    );
    assert!(s
        .insert_media(&media("md_2", "ws_m", "pm_2", 200), 50)
        .await
        .expect("insert"));
    assert!(s
        .insert_media(&media("md_3", "ws_m", "pm_3", 5_000), 50)
        .await
        .expect("insert"));

    let one = s
        .get_media(&WorkspaceId::from_trusted("ws_m"), "md_1")
        .await
        .expect("get")
        .expect("media");
    assert_eq!(
        (
            one.provider_media_id.as_str(),
            one.state.as_str(),
            one.attempts,
            one.next_attempt_at,
            one.created_at,
            one.updated_at
        ),
        ("pm_1", "pending", 0, 100, 50, 50)
    );
    assert_eq!(one.message_meta_id.as_deref(), Some("wamid.m"));
    assert_eq!(
        s.get_media(&WorkspaceId::from_trusted("ws_m"), "pm_1")
            .await
            .expect("get by provider id")
            .map(|m| m.id)
            .as_deref(),
        Some("md_1")
    );
    assert!(s
        .get_media(&WorkspaceId::from_trusted("ws_other"), "md_1")
        .await
        .expect("get")
        .is_none());

    // Due rows, oldest due first, leased by moving their next attempt and counted.
    let claimed = s.claim_media(1_000, 100, 1).await.expect("claim");
    assert_eq!(
        claimed
            .iter()
            .map(|m| (m.id.as_str(), m.attempts, m.next_attempt_at))
            .collect::<Vec<_>>(),
        [("md_1", 1, 1_100)]
    );
    let claimed = s.claim_media(1_000, 100, 10).await.expect("claim");
    assert_eq!(
        claimed.iter().map(|m| m.id.as_str()).collect::<Vec<_>>(),
        ["md_2"]
    );
    assert!(
        s.claim_media(1_050, 100, 10)
            .await
            .expect("claim")
            .is_empty(),
        "leased"
    );

    s.finish_media(
        "md_1",
        &MediaOutcome::Stored {
            path: "ab/md_1.jpg".into(),
            mime_type: Some("image/png".into()),
            size: 2_048,
            sha256: "ff00".into(),
        },
        1_060,
    )
    .await
    .expect("finish");
    let stored = s
        .get_media(&WorkspaceId::from_trusted("ws_m"), "md_1")
        .await
        .expect("get")
        .expect("media");
    assert_eq!(
        (
            stored.state.as_str(),
            stored.path.as_deref(),
            stored.mime_type.as_deref(),
            stored.size,
            stored.sha256.as_deref(),
            stored.updated_at
        ),
        (
            "stored",
            Some("ab/md_1.jpg"),
            Some("image/png"),
            Some(2_048),
            Some("ff00"),
            1_060
        )
    );
    s.finish_media(
        "md_2",
        &MediaOutcome::Retry {
            error: "timeout".into(),
            at: 3_000,
        },
        1_070,
    )
    .await
    .expect("finish");
    let retry = s
        .get_media(&WorkspaceId::from_trusted("ws_m"), "md_2")
        .await
        .expect("get")
        .expect("media");
    assert_eq!(
        (
            retry.state.as_str(),
            retry.last_error.as_deref(),
            retry.next_attempt_at
        ),
        ("pending", Some("timeout"), 3_000)
    );
    assert!(s
        .claim_media(2_999, 100, 10)
        .await
        .expect("claim")
        .is_empty());
    let again = s.claim_media(3_000, 100, 10).await.expect("claim");
    assert_eq!(
        again
            .iter()
            .map(|m| (m.id.as_str(), m.attempts))
            .collect::<Vec<_>>(),
        [("md_2", 2)]
    );
    s.finish_media(
        "md_2",
        &MediaOutcome::Failed {
            error: "gone".into(),
        },
        3_010,
    )
    .await
    .expect("finish");
    let failed = s
        .get_media(&WorkspaceId::from_trusted("ws_m"), "md_2")
        .await
        .expect("get")
        .expect("media");
    assert_eq!(
        (failed.state.as_str(), failed.last_error.as_deref()),
        ("failed", Some("gone"))
    );
    assert!(
        s.claim_media(100_000, 100, 10)
            .await
            .expect("claim")
            .iter()
            .all(|m| m.id == "md_3"),
        "only pending rows"
    );
    s.finish_media("md_none", &MediaOutcome::Failed { error: "x".into() }, 1)
        .await
        .expect("finish missing is a no-op");
}

async fn garbage_in_a_media_number_is_corrupt(s: S, db: &Db) {
    assert!(s
        .insert_media(&media("md_1", "ws_m", "pm_1", 100), 50)
        .await
        .expect("insert"));
    if corrupt(db, "UPDATE media SET size = 'big' WHERE id = 'md_1'").await {
        assert_corrupt(
            "get_media",
            s.get_media(&WorkspaceId::from_trusted("ws_m"), "md_1")
                .await,
        );
    }
}

contract!(
    media_is_stored_claimed_and_finished,
    garbage_in_a_media_number_is_corrupt
);
