//! QuotaStore: counters, in-flight slots, messaging-limit recipients and their races.

use chasqui_domain::ChannelId;
use chasqui_store::{
    ChargeOutcome, Counter, InflightOutcome, RecipientOutcome, MESSAGING_WINDOW_MS,
};

use super::*;

fn counter(subject: &str, limit: i64, expires_at: i64) -> Counter {
    Counter {
        subject: subject.into(),
        period: "2026-01-01".into(),
        limit,
        expires_at,
    }
}

fn key(subject: &str) -> (String, String) {
    (subject.into(), "2026-01-01".into())
}

async fn counters_slots_and_recipients_count_and_prune(s: S, _db: &Db) {
    assert_eq!(s.counter("key:a", "2026-01-01").await.expect("counter"), 0);
    let both = [counter("key:a", 3, 1_000), counter("ws:w", 10, 1_000)];
    assert_eq!(
        s.charge(&both, 2).await.expect("charge"),
        ChargeOutcome::Charged(vec![2, 2])
    );
    assert_eq!(
        s.charge(&both, 2).await.expect("charge"),
        ChargeOutcome::Refused { index: 0, count: 2 }
    );
    assert_eq!(
        s.counter("ws:w", "2026-01-01").await.expect("counter"),
        2,
        "nothing charged on a refusal"
    );
    s.refund(&[key("key:a"), key("ws:w")], 5)
        .await
        .expect("refund");
    assert_eq!(
        s.counter("key:a", "2026-01-01").await.expect("counter"),
        0,
        "never below zero"
    );
    s.refund(&[key("key:none")], 1)
        .await
        .expect("refund of nothing");
    assert_eq!(
        s.charge(&[], 1).await.expect("charge nothing"),
        ChargeOutcome::Charged(Vec::new())
    );

    // In-flight slots: a limit, expiry, release, and re-acquiring one's own slot.
    assert_eq!(
        s.acquire_inflight("key:a", "req_1", 2, 500, 100)
            .await
            .expect("acquire"),
        InflightOutcome::Acquired { in_flight: 1 }
    );
    assert_eq!(
        s.acquire_inflight("key:a", "req_2", 2, 150, 100)
            .await
            .expect("acquire"),
        InflightOutcome::Acquired { in_flight: 2 }
    );
    assert_eq!(
        s.acquire_inflight("key:a", "req_3", 2, 500, 100)
            .await
            .expect("acquire"),
        InflightOutcome::Refused { in_flight: 2 }
    );
    assert_eq!(
        s.acquire_inflight("key:a", "req_3", 2, 500, 150)
            .await
            .expect("acquire"),
        InflightOutcome::Acquired { in_flight: 2 },
        "req_2 expired"
    );
    s.release_inflight("req_1").await.expect("release");
    s.release_inflight("req_none")
        .await
        .expect("release nothing");
    assert_eq!(
        s.acquire_inflight("key:a", "req_4", 2, 500, 160)
            .await
            .expect("acquire"),
        InflightOutcome::Acquired { in_flight: 2 }
    );

    // Recipients: counted once per rolling window; a refusal says when a slot frees.
    let t = 10 * MESSAGING_WINDOW_MS;
    assert_eq!(
        s.admit_recipient(&ChannelId::from_trusted("ch_1"), "111", 2, t)
            .await
            .expect("admit"),
        RecipientOutcome::Admitted {
            count: 1,
            counted_at: Some(t)
        }
    );
    assert_eq!(
        s.admit_recipient(&ChannelId::from_trusted("ch_1"), "111", 2, t + 1)
            .await
            .expect("admit"),
        RecipientOutcome::Admitted {
            count: 1,
            counted_at: None
        }
    );
    assert_eq!(
        s.admit_recipient(&ChannelId::from_trusted("ch_1"), "222", 2, t + 2)
            .await
            .expect("admit"),
        RecipientOutcome::Admitted {
            count: 2,
            counted_at: Some(t + 2)
        }
    );
    assert_eq!(
        s.admit_recipient(&ChannelId::from_trusted("ch_1"), "333", 2, t + 3)
            .await
            .expect("admit"),
        RecipientOutcome::Refused {
            count: 2,
            frees_at: t + MESSAGING_WINDOW_MS
        }
    );
    assert!(
        matches!(
            s.admit_recipient(&ChannelId::from_trusted("ch_2"), "333", 2, t + 3)
                .await
                .expect("admit"),
            RecipientOutcome::Admitted { count: 1, .. }
        ),
        "per channel"
    );
    // Forgetting a slot taken since does nothing; forgetting the one taken frees it.
    s.forget_recipient(&ChannelId::from_trusted("ch_1"), "222", t)
        .await
        .expect("forget a stale slot");
    assert!(matches!(
        s.admit_recipient(&ChannelId::from_trusted("ch_1"), "333", 2, t + 4)
            .await
            .expect("admit"),
        RecipientOutcome::Refused { .. }
    ));
    s.forget_recipient(&ChannelId::from_trusted("ch_1"), "222", t + 2)
        .await
        .expect("forget");
    assert!(matches!(
        s.admit_recipient(&ChannelId::from_trusted("ch_1"), "333", 2, t + 5)
            .await
            .expect("admit"),
        RecipientOutcome::Admitted { count: 2, .. }
    ));
    // After the window, the slot is free again.
    assert!(matches!(
        s.admit_recipient(
            &ChannelId::from_trusted("ch_1"),
            "444",
            2,
            t + MESSAGING_WINDOW_MS + 1
        )
        .await
        .expect("admit"),
        RecipientOutcome::Admitted {
            counted_at: Some(_),
            ..
        }
    ));

    // Pruning drops what no longer counts: the counters (expired at 1 000), the slots (expired
    // by 500) and the recipients older than the window.
    let pruned = s
        .prune_quotas(t + 2 * MESSAGING_WINDOW_MS + 10)
        .await
        .expect("prune");
    assert!(pruned >= 2 + 3 + 4, "pruned {pruned}");
    assert_eq!(s.counter("ws:w", "2026-01-01").await.expect("counter"), 0);
    assert_eq!(
        s.prune_quotas(t + 2 * MESSAGING_WINDOW_MS + 10)
            .await
            .expect("prune again"),
        0
    );
    assert!(!s.idempotency_key_used("key_1", "k").await.expect("used"));
}

async fn racing_charges_never_pass_the_limit(s: S, db: &Db) {
    // Two stores: two instances on PostgreSQL, two processes on the SQLite file.
    let stores = [s.clone(), db.open().await];
    let limit = 7;
    let mut tasks = Vec::new();
    for i in 0..24 {
        let store = stores[i % 2].clone();
        tasks.push(tokio::spawn(async move {
            let both = [
                counter("key:race", limit, 1_000),
                counter("ws:race", 1_000, 1_000),
            ];
            store.charge(&both, 1).await.expect("charge")
        }));
    }
    let mut charged = 0;
    for t in tasks {
        if let ChargeOutcome::Charged(counts) = t.await.expect("task") {
            assert!(counts[0] <= limit, "{counts:?}");
            charged += 1;
        }
    }
    assert_eq!(charged, limit);
    assert_eq!(
        s.counter("key:race", "2026-01-01").await.expect("counter"),
        limit
    );
    assert_eq!(
        s.counter("ws:race", "2026-01-01").await.expect("counter"),
        limit,
        "refusals charge nothing"
    );

    let mut tasks = Vec::new();
    for i in 0..12 {
        let store = stores[i % 2].clone();
        tasks.push(tokio::spawn(async move {
            store
                .acquire_inflight("key:race", &format!("req_{i}"), 3, 10_000, 100)
                .await
                .expect("acquire")
        }));
    }
    let mut acquired = 0;
    for t in tasks {
        if let InflightOutcome::Acquired { in_flight } = t.await.expect("task") {
            assert!(in_flight <= 3);
            acquired += 1;
        }
    }
    assert_eq!(acquired, 3);
}

contract!(
    counters_slots_and_recipients_count_and_prune,
    racing_charges_never_pass_the_limit
);
