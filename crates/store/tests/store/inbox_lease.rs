//! Webhook inbox leases on both back ends: a claimed delivery is nobody else's until its lease
//! runs out, its owner can renew it while processing, and only its owner can.

use crate::common::Db;
use chasqui_domain::ChannelId;

const LEASE: i64 = 1_000;

async fn a_renewed_lease_holds_and_a_lapsed_one_is_taken(db: Db) {
    let s = db.open().await;
    let pair = [(
        "100000000000001".to_string(),
        ChannelId::from_trusted("ch_1"),
    )];
    let seq = s.enqueue_webhook(&pair, "{}", 0).await.expect("enqueue");
    let t = 10_000;
    let mine = s
        .claim_webhooks("alive", t, LEASE, 32)
        .await
        .expect("claim");
    assert_eq!(mine.iter().map(|i| i.seq).collect::<Vec<_>>(), vec![seq]);
    // Renewed before it ran out: another owner finds nothing after the first lease would have
    // ended.
    assert_eq!(
        s.renew_webhooks("alive", &[seq], t + 600, LEASE)
            .await
            .expect("renew"),
        1
    );
    let taken = s
        .claim_webhooks("other", t + LEASE + 100, LEASE, 32)
        .await
        .expect("claim");
    assert!(taken.is_empty(), "a renewed lease holds");
    // Not renewed again: once it runs out another owner takes it, and the first can no longer
    // renew it.
    let taken = s
        .claim_webhooks("other", t + 600 + LEASE + 1, LEASE, 32)
        .await
        .expect("claim");
    assert_eq!(taken.iter().map(|i| i.seq).collect::<Vec<_>>(), vec![seq]);
    assert_eq!(
        s.renew_webhooks("alive", &[seq], t + 2_000, LEASE)
            .await
            .expect("renew"),
        0
    );
    // A processed delivery is not renewed either.
    s.finish_webhooks(
        vec![chasqui_store::InboxFinish {
            seq,
            error: None,
            retry_at: 0,
        }],
        t + 2_000,
    )
    .await
    .expect("finish");
    assert_eq!(
        s.renew_webhooks("other", &[seq], t + 2_100, LEASE)
            .await
            .expect("renew"),
        0
    );
}

mod a_renewed_lease_holds_and_a_lapsed_one_is_taken {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sqlite() {
        super::a_renewed_lease_holds_and_a_lapsed_one_is_taken(super::Db::sqlite().await).await
    }
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn postgres() {
        super::a_renewed_lease_holds_and_a_lapsed_one_is_taken(super::Db::postgres().await).await
    }
}
