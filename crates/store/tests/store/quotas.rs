//! Quota store tests on both back ends: atomic check-and-count, all-or-nothing charges, in-flight
//! slots that expire, the rolling 24-hour messaging limit, and races for the last unit (on
//! PostgreSQL between two separate connection pools, as two instances would be).

use chasqui_domain::ChannelId;
use std::sync::Arc;

use chasqui_store::{
    ChargeOutcome, Counter, InflightOutcome, RecipientOutcome, Store, MESSAGING_WINDOW_MS,
};

use crate::common::Db;

fn counter(subject: &str, limit: i64) -> Counter {
    Counter {
        subject: subject.into(),
        period: "2026-11-21".into(),
        limit,
        expires_at: 1_000_000,
    }
}

fn key(subject: &str) -> (String, String) {
    (subject.into(), "2026-11-21".into())
}

async fn charges_up_to_the_limit(db: Db) {
    let s = db.open().await;
    let k = [counter("key:a", 3)];
    for expected in 1..=3 {
        assert_eq!(
            s.charge(&k, 1).await.expect("charge"),
            ChargeOutcome::Charged(vec![expected])
        );
    }
    assert_eq!(
        s.charge(&k, 1).await.expect("charge"),
        ChargeOutcome::Refused { index: 0, count: 3 }
    );
    // Another period starts at zero.
    let next = Counter {
        period: "2026-11-22".into(),
        ..k[0].clone()
    };
    assert_eq!(
        s.charge(&[next], 2).await.expect("charge"),
        ChargeOutcome::Charged(vec![2])
    );
    // More than the limit at once is refused even on a fresh counter.
    assert_eq!(
        s.charge(&[counter("key:b", 2)], 3).await.expect("charge"),
        ChargeOutcome::Refused { index: 0, count: 0 }
    );
    assert_eq!(s.counter("key:b", "2026-11-21").await.expect("read"), 0);
    // A refund gives units back, never below zero.
    s.refund(&[key("key:a")], 2).await.expect("refund");
    assert_eq!(s.counter("key:a", "2026-11-21").await.expect("read"), 1);
    s.refund(&[key("key:a")], 5).await.expect("refund");
    assert_eq!(s.counter("key:a", "2026-11-21").await.expect("read"), 0);
}

async fn charges_all_counters_or_none(db: Db) {
    let s = db.open().await;
    // The key allows 5, its workspace 2.
    let both = [counter("key:a", 5), counter("ws:w", 2)];
    assert_eq!(
        s.charge(&both, 1).await.expect("charge"),
        ChargeOutcome::Charged(vec![1, 1])
    );
    assert_eq!(
        s.charge(&both, 1).await.expect("charge"),
        ChargeOutcome::Charged(vec![2, 2])
    );
    assert_eq!(
        s.charge(&both, 1).await.expect("charge"),
        ChargeOutcome::Refused { index: 1, count: 2 }
    );
    // The key's counter was not charged for the refused send.
    assert_eq!(s.counter("key:a", "2026-11-21").await.expect("read"), 2);
    // Order given is order answered, whatever order the store charges in.
    let reversed = [counter("ws:other", 9), counter("key:a", 5)];
    assert_eq!(
        s.charge(&reversed, 1).await.expect("charge"),
        ChargeOutcome::Charged(vec![1, 3])
    );
}

/// `tasks` callers race for `limit` units on `stores` (one store per simulated instance).
async fn race_for_the_last_units(stores: Vec<Arc<dyn Store>>) {
    let limit = 10;
    let mut tasks = Vec::new();
    for i in 0..40 {
        let s = stores[i % stores.len()].clone();
        tasks.push(tokio::spawn(async move {
            let both = [counter("key:race", limit), counter("ws:race", 100)];
            s.charge(&both, 1).await.expect("charge")
        }));
    }
    let mut charged = 0;
    for t in tasks {
        if let ChargeOutcome::Charged(_) = t.await.expect("task") {
            charged += 1;
        }
    }
    assert_eq!(charged, limit);
    let s = &stores[0];
    assert_eq!(
        s.counter("key:race", "2026-11-21").await.expect("read"),
        limit
    );
    // Refused sends charged nothing on the workspace either.
    assert_eq!(
        s.counter("ws:race", "2026-11-21").await.expect("read"),
        limit
    );

    // The same for in-flight slots and messaging-limit recipients.
    let mut tasks = Vec::new();
    for i in 0..20 {
        let s = stores[i % stores.len()].clone();
        tasks.push(tokio::spawn(async move {
            s.acquire_inflight("key:race", &format!("req{i}"), 5, 10_000, 0)
                .await
                .expect("acquire")
        }));
    }
    let mut acquired = 0;
    for t in tasks {
        if let InflightOutcome::Acquired { .. } = t.await.expect("task") {
            acquired += 1;
        }
    }
    assert_eq!(acquired, 5);

    let mut tasks = Vec::new();
    for i in 0..20 {
        let s = stores[i % stores.len()].clone();
        tasks.push(tokio::spawn(async move {
            s.admit_recipient(
                &ChannelId::from_trusted("ch_race"),
                &format!("52155{i:08}"),
                5,
                1_000,
            )
            .await
            .expect("admit")
        }));
    }
    let mut admitted = 0;
    for t in tasks {
        if let RecipientOutcome::Admitted { .. } = t.await.expect("task") {
            admitted += 1;
        }
    }
    assert_eq!(admitted, 5);
}

async fn inflight_slots(db: Db) {
    let s = db.open().await;
    let acquire = |id: &'static str, now: i64| {
        let s = s.clone();
        async move {
            s.acquire_inflight("key:a", id, 2, now + 1_000, now)
                .await
                .expect("acquire")
        }
    };
    assert_eq!(
        acquire("r1", 0).await,
        InflightOutcome::Acquired { in_flight: 1 }
    );
    assert_eq!(
        acquire("r2", 0).await,
        InflightOutcome::Acquired { in_flight: 2 }
    );
    assert_eq!(
        acquire("r3", 0).await,
        InflightOutcome::Refused { in_flight: 2 }
    );
    s.release_inflight("r1").await.expect("release");
    assert_eq!(
        acquire("r3", 0).await,
        InflightOutcome::Acquired { in_flight: 2 }
    );
    // Slots of a crashed instance stop counting once they expire (r2 and r3 at 1000).
    assert_eq!(
        acquire("r4", 1_000).await,
        InflightOutcome::Acquired { in_flight: 1 }
    );
    // Another subject has its own slots.
    assert_eq!(
        s.acquire_inflight("key:b", "r5", 1, 2_000, 0)
            .await
            .expect("acquire"),
        InflightOutcome::Acquired { in_flight: 1 }
    );
    // Pruning drops what expired (r2, r3) and keeps the rest.
    assert_eq!(s.prune_quotas(1_500).await.expect("prune"), 2);
}

async fn messaging_limit(db: Db) {
    let s = db.open().await;
    let t0 = 10 * MESSAGING_WINDOW_MS;
    let admit = |to: &'static str, now: i64| {
        let s = s.clone();
        async move {
            s.admit_recipient(&ChannelId::from_trusted("ch_a"), to, 2, now)
                .await
                .expect("admit")
        }
    };
    assert_eq!(
        admit("111", t0).await,
        RecipientOutcome::Admitted {
            count: 1,
            counted_at: Some(t0)
        }
    );
    assert_eq!(
        admit("222", t0 + 10).await,
        RecipientOutcome::Admitted {
            count: 2,
            counted_at: Some(t0 + 10)
        }
    );
    // A recipient already counted is free.
    assert_eq!(
        admit("111", t0 + 20).await,
        RecipientOutcome::Admitted {
            count: 2,
            counted_at: None
        }
    );
    // A third distinct one waits until the oldest slot frees up.
    assert_eq!(
        admit("333", t0 + 30).await,
        RecipientOutcome::Refused {
            count: 2,
            frees_at: t0 + MESSAGING_WINDOW_MS
        }
    );
    // Another channel has its own limit.
    assert!(matches!(
        s.admit_recipient(&ChannelId::from_trusted("ch_b"), "333", 1, t0)
            .await
            .expect("admit"),
        RecipientOutcome::Admitted { .. }
    ));
    // 24 hours after the first, its slot frees up for someone else.
    assert_eq!(
        admit("333", t0 + MESSAGING_WINDOW_MS).await,
        RecipientOutcome::Admitted {
            count: 2,
            counted_at: Some(t0 + MESSAGING_WINDOW_MS)
        }
    );
    // A slot given back (the send was not accepted) is free again.
    s.forget_recipient(
        &ChannelId::from_trusted("ch_a"),
        "333",
        t0 + MESSAGING_WINDOW_MS,
    )
    .await
    .expect("forget");
    assert_eq!(
        admit("111", t0 + MESSAGING_WINDOW_MS + 1).await,
        RecipientOutcome::Admitted {
            count: 2,
            counted_at: Some(t0 + MESSAGING_WINDOW_MS + 1)
        }
    );
    // Forgetting an older slot than the one held changes nothing.
    s.forget_recipient(&ChannelId::from_trusted("ch_a"), "111", t0)
        .await
        .expect("forget");
    assert_eq!(
        admit("111", t0 + MESSAGING_WINDOW_MS + 2).await,
        RecipientOutcome::Admitted {
            count: 2,
            counted_at: None
        }
    );
}

async fn prunes_finished_periods(db: Db) {
    let s = db.open().await;
    let old = Counter {
        expires_at: 100,
        ..counter("key:a", 5)
    };
    let current = Counter {
        expires_at: 10_000,
        ..counter("key:b", 5)
    };
    s.charge(&[old, current], 1).await.expect("charge");
    s.admit_recipient(&ChannelId::from_trusted("ch"), "1", 5, 0)
        .await
        .expect("admit");
    assert_eq!(s.prune_quotas(200).await.expect("prune"), 1);
    assert_eq!(s.counter("key:a", "2026-11-21").await.expect("read"), 0);
    assert_eq!(s.counter("key:b", "2026-11-21").await.expect("read"), 1);
    // A day later the other counter's period is over and the recipient's slot too.
    assert_eq!(s.prune_quotas(MESSAGING_WINDOW_MS).await.expect("prune"), 2);
}

macro_rules! on_both {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn $name() { super::$name(super::Db::sqlite().await).await; })*

            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn race_for_the_last_units() {
                // Two stores on one file: two processes, each with its own writer.
                let db = super::Db::sqlite().await;
                super::race_for_the_last_units(vec![db.open().await, db.open().await]).await;
            }
        }
        mod postgres {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn $name() { super::$name(super::Db::postgres().await).await; })*

            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn race_for_the_last_units() {
                // Two pools on one database: two instances.
                let db = super::Db::postgres().await;
                super::race_for_the_last_units(vec![db.open().await, db.open().await]).await;
            }
        }
    };
}

on_both!(
    charges_up_to_the_limit,
    charges_all_counters_or_none,
    inflight_slots,
    messaging_limit,
    prunes_finished_periods,
);
