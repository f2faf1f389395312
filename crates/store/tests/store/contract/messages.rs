//! Store: accepting, reading and listing messages, dispatch (leases, claims, outcomes) and
//! status webhooks.

use chasqui_domain::MessageId;
use chasqui_domain::{ChannelId, WorkspaceId};
use std::collections::HashSet;

use chasqui_domain::webhook::StatusUpdate;
use chasqui_domain::{MessageStatus, MetaError};
use chasqui_store::{AcceptOutcome, MessageFilter, Outcome, OutcomeRecord};

use super::*;

const TO: &str = "5215512345678";

fn meta_error(code: i64) -> MetaError {
    MetaError {
        code,
        title: format!("error {code}"),
        details: Some("details".into()),
    }
}

fn status(pnid: &str, wamid: &str, st: MessageStatus, callback: Option<&str>) -> StatusUpdate {
    StatusUpdate {
        phone_number_id: pnid.into(),
        wamid: wamid.into(),
        callback_data: callback.map(str::to_owned),
        status: st,
        timestamp: 1_700_000_000,
        recipient_id: Some(TO.into()),
        recipient_user_id: None,
        error: None,
        conversation: None,
        pricing: None,
    }
}

async fn migrate_and_ping(s: S, db: &Db) {
    s.ping().await.expect("ping");
    // Migrating again is a no-op, also from a second store on the same database.
    s.migrate().await.expect("migrate again");
    let other = db.open().await;
    other.ping().await.expect("ping");
    assert!(other.list_workspaces().await.expect("list").is_empty());
}

async fn accepted_messages_are_read_back(s: S, _db: &Db) {
    workspace_with_channel(&s, "ws_m", "ch_m", "6001").await;
    workspace(&s, "ws_other").await;

    let mut m = message("msg_1", "ws_m", "ch_m", TO, 100);
    m.rendered = Some("Hello Ana".into());
    m.kind = "template".into();
    let created = match s.accept_message(m.clone()).await.expect("accept") {
        AcceptOutcome::Created(r) => r,
        other => panic!("{other:?}"),
    };
    assert_eq!(
        (
            created.id.as_str(),
            created.status,
            created.attempts,
            created.created_at
        ),
        ("msg_1", MessageStatus::Queued, 0, 100)
    );
    let detail = s
        .get_message(
            &WorkspaceId::from_trusted("ws_m"),
            &MessageId::from_trusted("msg_1"),
        )
        .await
        .expect("get")
        .expect("message");
    assert_eq!(detail.message, created);
    assert_eq!(detail.rendered.as_deref(), Some("Hello Ana"));
    let timeline: Vec<&str> = detail.events.iter().map(|e| e.status.as_str()).collect();
    assert_eq!(timeline, ["queued"]);
    // Only in its own workspace.
    assert!(s
        .get_message(
            &WorkspaceId::from_trusted("ws_other"),
            &MessageId::from_trusted("msg_1")
        )
        .await
        .expect("get")
        .is_none());
    assert!(s
        .get_message(
            &WorkspaceId::from_trusted("ws_m"),
            &MessageId::from_trusted("msg_none")
        )
        .await
        .expect("get")
        .is_none());

    // Accepted already failed: stored with its error, never claimable.
    let mut refused = message("msg_2", "ws_m", "ch_m", "5215500000002", 200);
    refused.failed = Some(meta_error(131_026));
    refused.client_message = Some(r#"{"to":"x"}"#.into());
    let failed = match s.accept_message(refused).await.expect("accept") {
        AcceptOutcome::Created(r) => r,
        other => panic!("{other:?}"),
    };
    assert_eq!(failed.status, MessageStatus::Failed);
    assert_eq!(failed.error, Some(meta_error(131_026)));
    let detail = s
        .get_message(
            &WorkspaceId::from_trusted("ws_m"),
            &MessageId::from_trusted("msg_2"),
        )
        .await
        .expect("get")
        .expect("message");
    assert_eq!(detail.message.status, MessageStatus::Failed);
    assert_eq!(detail.message.error, Some(meta_error(131_026)));
    let timeline: Vec<&str> = detail.events.iter().map(|e| e.status.as_str()).collect();
    assert_eq!(timeline, ["queued", "failed"]);
    let claimed = s
        .claim(&claim_req("w", "ch_m", 1_000, 10))
        .await
        .expect("claim");
    let ids: Vec<&str> = claimed.iter().map(|c| c.message_id.as_str()).collect();
    assert_eq!(ids, ["msg_1"], "the failed message is never claimed");
}

async fn messages_are_listed_by_filter(s: S, _db: &Db) {
    workspace_with_channel(&s, "ws_m", "ch_m", "6101").await;
    workspace(&s, "ws_other").await;
    assert!(s
        .list_messages(
            &WorkspaceId::from_trusted("ws_m"),
            &MessageFilter {
                limit: 10,
                ..Default::default()
            }
        )
        .await
        .expect("list")
        .is_empty());
    accept(&s, message("msg_a", "ws_m", "ch_m", "111", 100)).await;
    accept(&s, message("msg_b", "ws_m", "ch_m", "222", 200)).await;
    accept(&s, message("msg_c", "ws_m", "ch_m", "111", 300)).await;
    let mut failed = message("msg_d", "ws_m", "ch_m", "333", 400);
    failed.failed = Some(meta_error(1));
    accept(&s, failed).await;

    let ids = |list: Vec<chasqui_store::MessageRecord>| {
        list.into_iter().map(|m| m.id).collect::<Vec<_>>()
    };
    let all = MessageFilter {
        limit: 10,
        ..Default::default()
    };
    assert_eq!(
        ids(s
            .list_messages(&WorkspaceId::from_trusted("ws_m"), &all)
            .await
            .expect("list")),
        ["msg_d", "msg_c", "msg_b", "msg_a"]
    );
    assert!(s
        .list_messages(&WorkspaceId::from_trusted("ws_other"), &all)
        .await
        .expect("list")
        .is_empty());
    let by_recipient = MessageFilter {
        recipient: Some("111".into()),
        ..all.clone()
    };
    assert_eq!(
        ids(s
            .list_messages(&WorkspaceId::from_trusted("ws_m"), &by_recipient)
            .await
            .expect("list")),
        ["msg_c", "msg_a"]
    );
    let by_status = MessageFilter {
        status: Some(MessageStatus::Failed),
        ..all.clone()
    };
    assert_eq!(
        ids(s
            .list_messages(&WorkspaceId::from_trusted("ws_m"), &by_status)
            .await
            .expect("list")),
        ["msg_d"]
    );
    let by_time = MessageFilter {
        created_from: Some(200),
        created_to: Some(400),
        ..all.clone()
    };
    assert_eq!(
        ids(s
            .list_messages(&WorkspaceId::from_trusted("ws_m"), &by_time)
            .await
            .expect("list")),
        ["msg_c", "msg_b"]
    );
}

/// Pages of `page` through the listing, following the cursor until an empty page.
async fn pages(s: &S, ws: &str, page: i64) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    let mut before = None;
    loop {
        let f = MessageFilter {
            before_seq: before,
            limit: page,
            ..Default::default()
        };
        let got = s
            .list_messages(&WorkspaceId::from_trusted(ws), &f)
            .await
            .expect("list");
        out.push(got.iter().map(|m| m.id.to_string()).collect::<Vec<_>>());
        match got.last() {
            Some(last) if out.len() < 10 => before = Some(last.seq),
            _ => return out,
        }
    }
}

async fn message_pages_end_at_their_boundaries(s: S, _db: &Db) {
    workspace_with_channel(&s, "ws_full", "ch_full", "6201").await;
    workspace_with_channel(&s, "ws_more", "ch_more", "6202").await;
    workspace(&s, "ws_empty").await;
    for i in 0..3 {
        accept(
            &s,
            message(&format!("msg_f{i}"), "ws_full", "ch_full", "1", 10 + i),
        )
        .await;
    }
    for i in 0..4 {
        accept(
            &s,
            message(&format!("msg_m{i}"), "ws_more", "ch_more", "1", 10 + i),
        )
        .await;
    }
    // Exactly a page full: the next page is empty.
    assert_eq!(
        pages(&s, "ws_full", 3).await,
        vec![vec!["msg_f2", "msg_f1", "msg_f0"], vec![]]
    );
    // One more than a page.
    assert_eq!(
        pages(&s, "ws_more", 3).await,
        vec![vec!["msg_m3", "msg_m2", "msg_m1"], vec!["msg_m0"], vec![]]
    );
    assert_eq!(pages(&s, "ws_empty", 3).await, vec![Vec::<String>::new()]);
}

async fn an_idempotency_key_replays_or_conflicts(s: S, _db: &Db) {
    workspace_with_channel(&s, "ws_i", "ch_i", "6301").await;
    assert!(!s.idempotency_key_used("key_1", "k-1").await.expect("used"));
    let first = idempotent(
        message("msg_1", "ws_i", "ch_i", TO, 10),
        "key_1",
        "k-1",
        "hash-a",
    );
    accept(&s, first).await;
    assert!(s.idempotency_key_used("key_1", "k-1").await.expect("used"));
    assert!(!s
        .idempotency_key_used("key_2", "k-1")
        .await
        .expect("scoped per API key"));

    let replay = idempotent(
        message("msg_2", "ws_i", "ch_i", TO, 20),
        "key_1",
        "k-1",
        "hash-a",
    );
    match s.accept_message(replay).await.expect("accept") {
        AcceptOutcome::Replayed(r) => assert_eq!(r.id, "msg_1"),
        other => panic!("expected a replay, got {other:?}"),
    }
    let reuse = idempotent(
        message("msg_3", "ws_i", "ch_i", TO, 30),
        "key_1",
        "k-1",
        "hash-b",
    );
    match s.accept_message(reuse).await.expect("accept") {
        AcceptOutcome::Conflict { message_id } => assert_eq!(message_id, "msg_1"),
        other => panic!("expected a conflict, got {other:?}"),
    }
    // Another API key's same header is its own.
    let other = idempotent(
        message("msg_4", "ws_i", "ch_i", TO, 40),
        "key_2",
        "k-1",
        "hash-b",
    );
    accept(&s, other).await;
    let listed = s
        .list_messages(
            &WorkspaceId::from_trusted("ws_i"),
            &MessageFilter {
                limit: 10,
                ..Default::default()
            },
        )
        .await
        .expect("list");
    assert_eq!(
        listed.iter().map(|m| m.id.as_str()).collect::<Vec<_>>(),
        ["msg_4", "msg_1"]
    );
}

async fn racing_first_uses_of_an_idempotency_key_make_one_message(s: S, db: &Db) {
    workspace_with_channel(&s, "ws_i", "ch_i", "6401").await;
    // Two stores: two instances on PostgreSQL, two processes on the SQLite file.
    let t = db.open().await;
    let rounds = 12;
    let mut tasks = Vec::new();
    for round in 0..rounds {
        // Even rounds: the same body twice (one created, one replayed); odd: different bodies.
        let second_hash = if round % 2 == 0 { "same" } else { "other" };
        for (side, store, hash) in [(0, s.clone(), "same"), (1, t.clone(), second_hash)] {
            let m = idempotent(
                message(
                    &format!("msg_{round}_{side}"),
                    "ws_i",
                    "ch_i",
                    TO,
                    10 + round,
                ),
                "key_1",
                &format!("race-{round}"),
                hash,
            );
            tasks.push((
                round,
                tokio::spawn(async move { store.accept_message(m).await }),
            ));
        }
    }
    let mut answers: Vec<Vec<AcceptOutcome>> = vec![Vec::new(); rounds as usize];
    for (round, task) in tasks {
        answers[round as usize].push(task.await.expect("task").expect("accept"));
    }
    for (round, pair) in answers.iter().enumerate() {
        let created: Vec<&str> = pair
            .iter()
            .filter_map(|a| match a {
                AcceptOutcome::Created(r) => Some(r.id.as_str()),
                _ => None,
            })
            .collect();
        assert_eq!(
            created.len(),
            1,
            "round {round}: exactly one message is created: {pair:?}"
        );
        let winner = created[0];
        for a in pair {
            match a {
                AcceptOutcome::Created(r) => assert_eq!(r.id, winner),
                AcceptOutcome::Replayed(r) => {
                    assert_eq!(round % 2, 0, "round {round}: a different body is no replay");
                    assert_eq!(
                        r.id, winner,
                        "round {round}: the replay names the first message"
                    );
                }
                AcceptOutcome::Conflict { message_id } => {
                    assert_eq!(round % 2, 1, "round {round}: the same body is no conflict");
                    assert_eq!(
                        message_id, winner,
                        "round {round}: the conflict names the first message"
                    );
                }
            }
        }
    }
    let listed = s
        .list_messages(
            &WorkspaceId::from_trusted("ws_i"),
            &MessageFilter {
                limit: 100,
                ..Default::default()
            },
        )
        .await
        .expect("list");
    assert_eq!(listed.len(), rounds as usize, "one message per key");
}

async fn channel_leases_are_owned_until_they_expire(s: S, _db: &Db) {
    workspace_with_channel(&s, "ws_l", "ch_1", "6501").await;
    let mut off = channel("ch_off", "ws_l", "6502");
    off.enabled = false;
    s.upsert_channel(&off, 3).await.expect("upsert");
    workspace_with_channel(&s, "ws_dis", "ch_dis", "6503").await;
    let mut ws = s
        .get_workspace(&WorkspaceId::from_trusted("ws_dis"))
        .await
        .expect("get")
        .expect("ws");
    ws.disabled_at = Some(5);
    s.save_workspace(&ws).await.expect("disable");

    let ids = |v: Vec<Channel>| v.into_iter().map(|c| c.id).collect::<Vec<_>>();
    // Enabled channels of enabled workspaces only.
    assert_eq!(
        ids(s.lease_channels("a", 1_000, 500).await.expect("lease")),
        ["ch_1"]
    );
    assert!(
        s.lease_channels("b", 1_200, 500)
            .await
            .expect("lease")
            .is_empty(),
        "held by a"
    );
    assert_eq!(
        ids(s.lease_channels("a", 1_300, 500).await.expect("renew")),
        ["ch_1"]
    );
    // Expired: anyone takes it.
    assert_eq!(
        ids(s.lease_channels("b", 1_801, 500).await.expect("lease")),
        ["ch_1"]
    );
    // Released: free at once.
    s.release_channels("b").await.expect("release");
    assert_eq!(
        ids(s.lease_channels("c", 1_900, 500).await.expect("lease")),
        ["ch_1"]
    );
    s.release_channels("nobody").await.expect("release nothing");
}

async fn claims_follow_recipient_order_and_outcomes(s: S, _db: &Db) {
    workspace_with_channel(&s, "ws_d", "ch_d", "6601").await;
    accept(&s, message("msg_a1", "ws_d", "ch_d", "111", 100)).await;
    accept(&s, message("msg_a2", "ws_d", "ch_d", "111", 110)).await;
    accept(&s, message("msg_b1", "ws_d", "ch_d", "222", 120)).await;
    accept(&s, message("msg_c1", "ws_d", "ch_d", "333", 130)).await;
    accept(&s, message("msg_e1", "ws_d", "ch_d", "444", 5_000)).await;

    let ids =
        |v: &[chasqui_store::Claimed]| v.iter().map(|c| c.message_id.clone()).collect::<Vec<_>>();
    assert!(s
        .claim(&claim_req("w", "ch_none", 1_000, 10))
        .await
        .expect("claim")
        .is_empty());
    // Heads of line only, oldest first, and only what is due.
    let first = s
        .claim(&claim_req("w", "ch_d", 1_000, 10))
        .await
        .expect("claim");
    assert_eq!(ids(&first), ["msg_a1", "msg_b1", "msg_c1"]);
    assert_eq!(first[0].recipient, "111");
    assert_eq!((first[0].attempts, first[0].created_at), (0, 100));
    assert!(first[0].body.contains("msg_a1"));
    // Claimed messages are nobody else's.
    assert!(s
        .claim(&claim_req("x", "ch_d", 1_001, 10))
        .await
        .expect("claim")
        .is_empty());

    s.record_outcomes(
        "w",
        vec![
            OutcomeRecord {
                message_id: MessageId::from_trusted("msg_a1"),
                started_at: Some(1_010),
                outcome: Outcome::Sent {
                    wamid: "wamid.A1".into(),
                    at: 1_020,
                },
            },
            OutcomeRecord {
                message_id: MessageId::from_trusted("msg_b1"),
                started_at: Some(1_010),
                outcome: Outcome::Retry {
                    at: 1_020,
                    next_attempt_at: 3_000,
                    error: meta_error(130_429),
                },
            },
            OutcomeRecord {
                message_id: MessageId::from_trusted("msg_c1"),
                started_at: Some(1_010),
                outcome: Outcome::Failed {
                    at: 1_020,
                    error: meta_error(131_026),
                },
            },
        ],
    )
    .await
    .expect("record");
    let a1 = s
        .get_message(
            &WorkspaceId::from_trusted("ws_d"),
            &MessageId::from_trusted("msg_a1"),
        )
        .await
        .expect("get")
        .expect("message");
    assert_eq!(
        (
            a1.message.status,
            a1.message.wamid.as_deref(),
            a1.message.attempts
        ),
        (MessageStatus::Sent, Some("wamid.A1"), 1)
    );
    let timeline: Vec<&str> = a1.events.iter().map(|e| e.status.as_str()).collect();
    assert_eq!(timeline, ["queued", "sending", "accepted"]);
    let c1 = s
        .get_message(
            &WorkspaceId::from_trusted("ws_d"),
            &MessageId::from_trusted("msg_c1"),
        )
        .await
        .expect("get")
        .expect("message");
    assert_eq!(
        (c1.message.status, c1.message.error.clone()),
        (MessageStatus::Failed, Some(meta_error(131_026)))
    );

    // a1 done: a2 is the head now; b1 waits for its retry time.
    assert_eq!(
        ids(&s
            .claim(&claim_req("w", "ch_d", 2_000, 10))
            .await
            .expect("claim")),
        ["msg_a2"]
    );
    let retried = s
        .claim(&claim_req("w", "ch_d", 3_000, 10))
        .await
        .expect("claim");
    assert_eq!(ids(&retried), ["msg_b1"]);
    assert_eq!(retried[0].attempts, 1);

    // Released claims go back to the queue at once (only the owner's).
    s.release_claims("someone-else", &[MessageId::from_trusted("msg_b1")], 3_100)
        .await
        .expect("release");
    assert!(s
        .claim(&claim_req("x", "ch_d", 3_100, 10))
        .await
        .expect("claim")
        .is_empty());
    s.release_claims(
        "w",
        &[
            MessageId::from_trusted("msg_a2"),
            MessageId::from_trusted("msg_b1"),
        ],
        3_100,
    )
    .await
    .expect("release");
    let again = s
        .claim(&claim_req("x", "ch_d", 3_100, 10))
        .await
        .expect("claim");
    assert_eq!(ids(&again), ["msg_a2", "msg_b1"]);

    // An unknown outcome waits for a webhook until its reconcile time, then may be resent.
    s.record_outcomes(
        "x",
        vec![OutcomeRecord {
            message_id: MessageId::from_trusted("msg_a2"),
            started_at: Some(3_200),
            outcome: Outcome::Unknown {
                at: 3_300,
                reason: "timeout".into(),
                reconcile_by: 9_000,
            },
        }],
    )
    .await
    .expect("record");
    assert!(s
        .expired_unknowns(&ChannelId::from_trusted("ch_d"), 8_999, 10)
        .await
        .expect("unknowns")
        .is_empty());
    assert_eq!(
        s.expired_unknowns(&ChannelId::from_trusted("ch_d"), 9_000, 10)
            .await
            .expect("unknowns"),
        ["msg_a2"]
    );
    s.record_outcomes(
        "x",
        vec![OutcomeRecord {
            message_id: MessageId::from_trusted("msg_a2"),
            started_at: None,
            outcome: Outcome::Resend { at: 9_100 },
        }],
    )
    .await
    .expect("record");
    assert!(s
        .expired_unknowns(&ChannelId::from_trusted("ch_d"), 9_100, 10)
        .await
        .expect("unknowns")
        .is_empty());
    let resent = s
        .claim(&claim_req("y", "ch_d", 9_200, 10))
        .await
        .expect("claim");
    assert!(
        ids(&resent).contains(&MessageId::from_trusted("msg_a2".to_string())),
        "{resent:?}"
    );

    // A deferred message is due again at its time, not counted as an attempt.
    let e1 = resent
        .iter()
        .find(|c| c.message_id == "msg_e1")
        .expect("msg_e1 is due");
    assert_eq!(e1.attempts, 0);
    s.record_outcomes(
        "y",
        vec![OutcomeRecord {
            message_id: MessageId::from_trusted("msg_e1"),
            started_at: None,
            outcome: Outcome::Defer { until: 20_000 },
        }],
    )
    .await
    .expect("record");
    assert!(!ids(&s
        .claim(&claim_req("y", "ch_d", 19_999, 10))
        .await
        .expect("claim"))
    .contains(&MessageId::from_trusted("msg_e1".to_string())));
    let later = s
        .claim(&claim_req("y", "ch_d", 20_000, 10))
        .await
        .expect("claim");
    assert_eq!(ids(&later), ["msg_e1"]);
    assert_eq!(later[0].attempts, 0);

    // Outcomes for unknown messages, or by a worker not holding the claim, change nothing.
    s.record_outcomes(
        "not-the-owner",
        vec![
            OutcomeRecord {
                message_id: MessageId::from_trusted("msg_e1"),
                started_at: None,
                outcome: Outcome::Failed {
                    at: 20_001,
                    error: meta_error(1),
                },
            },
            OutcomeRecord {
                message_id: MessageId::from_trusted("msg_none"),
                started_at: None,
                outcome: Outcome::Failed {
                    at: 20_001,
                    error: meta_error(1),
                },
            },
        ],
    )
    .await
    .expect("record");
    let e1 = s
        .get_message(
            &WorkspaceId::from_trusted("ws_d"),
            &MessageId::from_trusted("msg_e1"),
        )
        .await
        .expect("get")
        .expect("message");
    assert_eq!(e1.message.status, MessageStatus::Queued);
}

async fn an_expired_claim_becomes_an_unknown_outcome(s: S, _db: &Db) {
    workspace_with_channel(&s, "ws_d", "ch_d", "6701").await;
    accept(&s, message("msg_1", "ws_d", "ch_d", "111", 100)).await;
    let mut req = claim_req("crashed", "ch_d", 1_000, 10);
    req.lease_ms = 500;
    assert_eq!(s.claim(&req).await.expect("claim").len(), 1);
    // The worker went silent: the next claim after its lease finds the message unknown.
    let mut next = claim_req("alive", "ch_d", 1_501, 10);
    next.reconcile_ms = 2_000;
    assert!(s.claim(&next).await.expect("claim").is_empty());
    assert!(s
        .expired_unknowns(&ChannelId::from_trusted("ch_d"), 3_500, 10)
        .await
        .expect("unknowns")
        .is_empty());
    assert_eq!(
        s.expired_unknowns(&ChannelId::from_trusted("ch_d"), 3_501, 10)
            .await
            .expect("unknowns"),
        ["msg_1"]
    );
    let detail = s
        .get_message(
            &WorkspaceId::from_trusted("ws_d"),
            &MessageId::from_trusted("msg_1"),
        )
        .await
        .expect("get")
        .expect("message");
    assert_eq!(
        detail.events.last().map(|e| e.status.as_str()),
        Some("unknown")
    );
}

async fn two_owners_never_claim_the_same_message(s: S, db: &Db) {
    workspace_with_channel(&s, "ws_d", "ch_d", "6801").await;
    let total = 60;
    for i in 0..total {
        accept(
            &s,
            message(
                &format!("msg_{i:03}"),
                "ws_d",
                "ch_d",
                &format!("{i:03}"),
                100 + i,
            ),
        )
        .await;
    }
    let t = db.open().await;
    let mut tasks = Vec::new();
    for (owner, store) in [
        ("a", s.clone()),
        ("b", t.clone()),
        ("c", s.clone()),
        ("d", t.clone()),
    ] {
        tasks.push(tokio::spawn(async move {
            let mut mine = Vec::new();
            for round in 0..40 {
                let got = store
                    .claim(&claim_req(owner, "ch_d", 10_000 + round, 3))
                    .await
                    .expect("claim");
                mine.extend(got.into_iter().map(|c| c.message_id));
                tokio::task::yield_now().await;
            }
            mine
        }));
    }
    let mut seen = HashSet::new();
    for task in tasks {
        for id in task.await.expect("task") {
            assert!(seen.insert(id.clone()), "{id} was claimed twice");
        }
    }
    assert_eq!(seen.len(), total as usize, "every message was claimed once");
}

async fn statuses_apply_once_and_only_to_their_channels(s: S, _db: &Db) {
    workspace_with_channel(&s, "ws_s", "ch_s", "6901").await;
    workspace_with_channel(&s, "ws_t", "ch_t", "6902").await;
    accept(&s, message("msg_1", "ws_s", "ch_s", TO, 100)).await;
    accept(&s, message("msg_2", "ws_s", "ch_s", "5215500000002", 110)).await;
    accept(&s, message("msg_3", "ws_t", "ch_t", TO, 120)).await;
    let claimed = s
        .claim(&claim_req("w", "ch_s", 1_000, 10))
        .await
        .expect("claim");
    assert_eq!(claimed.len(), 2);
    s.record_outcomes(
        "w",
        vec![OutcomeRecord {
            message_id: MessageId::from_trusted("msg_1"),
            started_at: Some(1_000),
            outcome: Outcome::Sent {
                wamid: "wamid.1".into(),
                at: 1_010,
            },
        }],
    )
    .await
    .expect("record");
    let verified = [("6901".to_string(), ChannelId::from_trusted("ch_s"))];
    // By wamid; by callback data before any wamid is known; a channel not verified; a wamid
    // nobody has.
    let report = s
        .apply_statuses(
            &verified,
            vec![
                status("6901", "wamid.1", MessageStatus::Delivered, None),
                status("6901", "wamid.2", MessageStatus::Sent, Some("msg_2")),
                status("6902", "wamid.3", MessageStatus::Read, Some("msg_3")),
                status("6901", "wamid.nobody", MessageStatus::Read, None),
            ],
            2_000,
        )
        .await
        .expect("apply");
    assert_eq!(
        (report.applied, report.duplicates, report.unmatched),
        (2, 0, 2)
    );
    let one = s
        .get_message(
            &WorkspaceId::from_trusted("ws_s"),
            &MessageId::from_trusted("msg_1"),
        )
        .await
        .expect("get")
        .expect("message");
    assert_eq!(one.message.status, MessageStatus::Delivered);
    let two = s
        .get_message(
            &WorkspaceId::from_trusted("ws_s"),
            &MessageId::from_trusted("msg_2"),
        )
        .await
        .expect("get")
        .expect("message");
    assert_eq!(
        (two.message.status, two.message.wamid.as_deref()),
        (MessageStatus::Sent, Some("wamid.2"))
    );
    assert_eq!(
        s.get_message(
            &WorkspaceId::from_trusted("ws_t"),
            &MessageId::from_trusted("msg_3")
        )
        .await
        .expect("get")
        .expect("message")
        .message
        .status,
        MessageStatus::Queued
    );
    // The same status again is a duplicate; an older one does not undo progress.
    let report = s
        .apply_statuses(
            &verified,
            vec![
                status("6901", "wamid.1", MessageStatus::Delivered, None),
                status("6901", "wamid.1", MessageStatus::Sent, None),
            ],
            2_100,
        )
        .await
        .expect("apply");
    assert_eq!(report.duplicates, 1);
    assert_eq!(
        s.get_message(
            &WorkspaceId::from_trusted("ws_s"),
            &MessageId::from_trusted("msg_1")
        )
        .await
        .expect("get")
        .expect("message")
        .message
        .status,
        MessageStatus::Delivered
    );
    // A status proves Meta has the message: msg_2 is never claimed again.
    s.release_claims("w", &[MessageId::from_trusted("msg_2")], 2_200)
        .await
        .expect("release");
    assert!(s
        .claim(&claim_req("w", "ch_s", 2_300, 10))
        .await
        .expect("claim")
        .is_empty());
    assert_eq!(
        s.apply_statuses(&verified, Vec::new(), 2_400)
            .await
            .expect("apply nothing"),
        chasqui_store::ApplyReport::default()
    );
}

async fn an_unknown_message_status_is_corrupt(s: S, db: &Db) {
    workspace_with_channel(&s, "ws_x", "ch_x", "7001").await;
    let seq = accept(&s, message("msg_1", "ws_x", "ch_x", TO, 100)).await;
    assert!(
        corrupt(
            db,
            "UPDATE messages SET status = 'teleported' WHERE id = 'msg_1'"
        )
        .await
    );
    assert_corrupt(
        "get_message",
        s.get_message(
            &WorkspaceId::from_trusted("ws_x"),
            &MessageId::from_trusted("msg_1"),
        )
        .await,
    );
    assert_corrupt(
        "list_messages",
        s.list_messages(
            &WorkspaceId::from_trusted("ws_x"),
            &MessageFilter {
                limit: 10,
                ..Default::default()
            },
        )
        .await,
    );
    assert_corrupt(
        "message_by_seq",
        s.message_by_seq(&WorkspaceId::from_trusted("ws_x"), seq)
            .await,
    );
    // An idempotent replay reads the first message back: corrupt too, never a queued copy.
    let first = idempotent(message("msg_2", "ws_x", "ch_x", TO, 200), "key", "k", "h");
    accept(&s, first).await;
    assert!(
        corrupt(
            db,
            "UPDATE messages SET status = 'QUEUED' WHERE id = 'msg_2'"
        )
        .await
    );
    let replay = idempotent(message("msg_3", "ws_x", "ch_x", TO, 300), "key", "k", "h");
    assert_corrupt("replayed accept_message", s.accept_message(replay).await);
}

async fn garbage_in_a_message_number_is_corrupt(s: S, db: &Db) {
    workspace_with_channel(&s, "ws_x", "ch_x", "7101").await;
    accept(&s, message("msg_1", "ws_x", "ch_x", TO, 100)).await;
    if corrupt(
        db,
        "UPDATE messages SET attempts = 'many' WHERE id = 'msg_1'",
    )
    .await
    {
        assert_corrupt(
            "get_message",
            s.get_message(
                &WorkspaceId::from_trusted("ws_x"),
                &MessageId::from_trusted("msg_1"),
            )
            .await,
        );
        assert_corrupt(
            "list_messages",
            s.list_messages(
                &WorkspaceId::from_trusted("ws_x"),
                &MessageFilter {
                    limit: 10,
                    ..Default::default()
                },
            )
            .await,
        );
    }
}

contract!(
    migrate_and_ping,
    accepted_messages_are_read_back,
    messages_are_listed_by_filter,
    message_pages_end_at_their_boundaries,
    an_idempotency_key_replays_or_conflicts,
    racing_first_uses_of_an_idempotency_key_make_one_message,
    channel_leases_are_owned_until_they_expire,
    claims_follow_recipient_order_and_outcomes,
    an_expired_claim_becomes_an_unknown_outcome,
    two_owners_never_claim_the_same_message,
    statuses_apply_once_and_only_to_their_channels,
    an_unknown_message_status_is_corrupt,
    garbage_in_a_message_number_is_corrupt,
);
