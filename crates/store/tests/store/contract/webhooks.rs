//! BusinessWebhookStore: endpoints, the events changes write, deliveries and their log.

use chasqui_domain::WorkspaceId;
use chasqui_store::{
    AttemptOutcome, AttemptRecord, ReplaySelection, WebhookEndpoint, WebhookEndpointPatch,
};

use super::*;

fn endpoint(id: &str, ws: &str, events: &str) -> WebhookEndpoint {
    WebhookEndpoint {
        id: id.into(),
        workspace_id: WorkspaceId::from_trusted(ws),
        url: format!("https://example.com/{id}"),
        events: events.into(),
        secret: "sealed".into(),
        secret_hint: "whsec_…abcd".into(),
        enabled: true,
        created_at: 5,
        updated_at: 5,
    }
}

fn attempt(
    endpoint: &str,
    event: &str,
    owner: &str,
    at: i64,
    status: Option<i64>,
    outcome: AttemptOutcome,
) -> AttemptRecord {
    AttemptRecord {
        endpoint_id: endpoint.into(),
        event_id: event.into(),
        owner: owner.into(),
        at,
        status,
        latency_ms: 12,
        error: status.filter(|s| *s >= 400).map(|s| format!("HTTP {s}")),
        outcome,
    }
}

async fn endpoints_are_created_changed_and_deleted(s: S, _db: &Db) {
    assert!(s
        .list_webhook_endpoints(&WorkspaceId::from_trusted("ws_w"))
        .await
        .expect("list")
        .is_empty());
    let one = endpoint("wh_1", "ws_w", "*");
    s.create_webhook_endpoint(&one).await.expect("create");
    s.create_webhook_endpoint(&endpoint("wh_2", "ws_w", r#"["message.failed"]"#))
        .await
        .expect("create");
    s.create_webhook_endpoint(&endpoint("wh_3", "ws_other", "*"))
        .await
        .expect("create");
    // The same id again: a conflict that names it, not a driver error.
    match s.create_webhook_endpoint(&one).await {
        Err(StoreError::Conflict(m)) => assert!(m.contains("wh_1"), "{m}"),
        other => panic!("a second wh_1: {other:?}"),
    }
    assert_eq!(
        s.get_webhook_endpoint(&WorkspaceId::from_trusted("ws_w"), "wh_1")
            .await
            .expect("get"),
        Some(one.clone())
    );
    assert!(s
        .get_webhook_endpoint(&WorkspaceId::from_trusted("ws_other"), "wh_1")
        .await
        .expect("get")
        .is_none());
    let ids: Vec<String> = s
        .list_webhook_endpoints(&WorkspaceId::from_trusted("ws_w"))
        .await
        .expect("list")
        .into_iter()
        .map(|e| e.id)
        .collect();
    assert_eq!(ids, ["wh_1", "wh_2"]);

    let patch = WebhookEndpointPatch {
        url: Some("https://example.com/new".into()),
        events: None,
        enabled: Some(false),
    };
    let changed = s
        .update_webhook_endpoint(&WorkspaceId::from_trusted("ws_w"), "wh_1", &patch, 50)
        .await
        .expect("update")
        .expect("endpoint");
    assert_eq!(
        changed,
        WebhookEndpoint {
            url: "https://example.com/new".into(),
            enabled: false,
            updated_at: 50,
            ..one
        }
    );
    assert_eq!(
        s.get_webhook_endpoint(&WorkspaceId::from_trusted("ws_w"), "wh_1")
            .await
            .expect("get"),
        Some(changed)
    );
    assert!(s
        .update_webhook_endpoint(&WorkspaceId::from_trusted("ws_w"), "wh_none", &patch, 51)
        .await
        .expect("update")
        .is_none());
    assert!(s
        .update_webhook_endpoint(&WorkspaceId::from_trusted("ws_other"), "wh_1", &patch, 51)
        .await
        .expect("update")
        .is_none());

    assert!(!s
        .delete_webhook_endpoint(&WorkspaceId::from_trusted("ws_other"), "wh_1")
        .await
        .expect("not its workspace"));
    assert!(s
        .delete_webhook_endpoint(&WorkspaceId::from_trusted("ws_w"), "wh_1")
        .await
        .expect("delete"));
    assert!(!s
        .delete_webhook_endpoint(&WorkspaceId::from_trusted("ws_w"), "wh_1")
        .await
        .expect("delete again"));
    assert!(s
        .get_webhook_endpoint(&WorkspaceId::from_trusted("ws_w"), "wh_1")
        .await
        .expect("get")
        .is_none());
}

async fn deliveries_are_claimed_attempted_logged_and_replayed(s: S, _db: &Db) {
    workspace_with_channel(&s, "ws_w", "ch_w", "9501").await;
    s.create_webhook_endpoint(&endpoint("wh_all", "ws_w", "*"))
        .await
        .expect("create");
    s.create_webhook_endpoint(&endpoint("wh_failed", "ws_w", r#"["message.failed"]"#))
        .await
        .expect("create");
    assert_eq!(
        s.list_webhook_deliveries(&WorkspaceId::from_trusted("ws_w"), "wh_all", 10)
            .await
            .expect("list"),
        Some(Vec::new())
    );
    assert!(s
        .list_webhook_deliveries(&WorkspaceId::from_trusted("ws_w"), "wh_none", 10)
        .await
        .expect("list")
        .is_none());
    assert!(s
        .list_webhook_deliveries(&WorkspaceId::from_trusted("ws_other"), "wh_all", 10)
        .await
        .expect("list")
        .is_none());

    // Accepting a message writes message.queued for the endpoints that want it.
    accept(&s, message("msg_1", "ws_w", "ch_w", "111", 100)).await;
    assert!(
        s.claim_webhook_deliveries("w", 99, 1_000, 10, &[])
            .await
            .expect("claim")
            .is_empty(),
        "not due yet"
    );
    assert!(
        s.claim_webhook_deliveries("w", 100, 1_000, 10, &["wh_all".into()])
            .await
            .expect("claim")
            .is_empty(),
        "skipped"
    );
    let due = s
        .claim_webhook_deliveries("w", 100, 1_000, 10, &[])
        .await
        .expect("claim");
    assert_eq!(due.len(), 1, "{due:?}");
    let d = &due[0];
    assert_eq!(
        (d.endpoint_id.as_str(), d.event_type.as_str(), d.attempts),
        ("wh_all", "message.queued", 0)
    );
    assert_eq!(
        (
            d.url.as_str(),
            d.secret.as_str(),
            d.event_created_at,
            d.queued_at
        ),
        ("https://example.com/wh_all", "sealed", 100, 100)
    );
    let data: serde_json::Value = serde_json::from_str(&d.data).expect("json data");
    assert_eq!(data["id"], "msg_1");
    let event = d.event_id.clone();
    // Leased: nobody else's until given back.
    assert!(s
        .claim_webhook_deliveries("x", 200, 1_000, 10, &[])
        .await
        .expect("claim")
        .is_empty());
    s.release_webhook_deliveries("x", &[("wh_all".into(), event.clone())])
        .await
        .expect("release: not x's");
    assert!(s
        .claim_webhook_deliveries("x", 200, 1_000, 10, &[])
        .await
        .expect("claim")
        .is_empty());
    s.release_webhook_deliveries("w", &[("wh_all".into(), event.clone())])
        .await
        .expect("release");
    let due = s
        .claim_webhook_deliveries("x", 200, 1_000, 10, &[])
        .await
        .expect("claim");
    assert_eq!(due.len(), 1);

    // A failed attempt, retried, then delivered; only the holder's attempts count.
    s.record_webhook_attempt(&attempt(
        "wh_all",
        &event,
        "w",
        210,
        Some(500),
        AttemptOutcome::Dead,
    ))
    .await
    .expect("not w's");
    s.record_webhook_attempt(&attempt(
        "wh_all",
        &event,
        "x",
        210,
        Some(500),
        AttemptOutcome::Retry {
            next_attempt_at: 2_000,
        },
    ))
    .await
    .expect("record");
    assert!(s
        .claim_webhook_deliveries("x", 1_999, 1_000, 10, &[])
        .await
        .expect("claim")
        .is_empty());
    let due = s
        .claim_webhook_deliveries("y", 2_000, 1_000, 10, &[])
        .await
        .expect("claim");
    assert_eq!(due.iter().map(|d| d.attempts).collect::<Vec<_>>(), [1]);
    s.record_webhook_attempt(&attempt(
        "wh_all",
        &event,
        "y",
        2_010,
        Some(200),
        AttemptOutcome::Delivered,
    ))
    .await
    .expect("record");
    assert!(s
        .claim_webhook_deliveries("y", 9_000, 1_000, 10, &[])
        .await
        .expect("claim")
        .is_empty());
    let log = s
        .list_webhook_deliveries(&WorkspaceId::from_trusted("ws_w"), "wh_all", 10)
        .await
        .expect("list")
        .expect("endpoint");
    assert_eq!(log.len(), 1);
    let d = &log[0];
    assert_eq!(
        (
            d.event_id.as_str(),
            d.event_type.as_str(),
            d.state.as_str(),
            d.attempts
        ),
        (event.as_str(), "message.queued", "delivered", 2)
    );
    assert_eq!(
        (d.last_status, d.last_latency_ms, d.delivered_at),
        (Some(200), Some(12), Some(2_022))
    );
    let attempts: Vec<(i64, i64, Option<i64>)> =
        d.log.iter().map(|a| (a.attempt, a.at, a.status)).collect();
    assert_eq!(attempts, [(1, 210, Some(500)), (2, 2_010, Some(200))]);
    assert_eq!(d.log[0].error.as_deref(), Some("HTTP 500"));
    assert_eq!(
        s.list_webhook_deliveries(&WorkspaceId::from_trusted("ws_w"), "wh_failed", 10)
            .await
            .expect("list"),
        Some(Vec::new())
    );

    // Replays: one event again (attempts start over), or everything since a time that the
    // endpoint's filter matches.
    assert_eq!(
        s.replay_webhook_events(
            &WorkspaceId::from_trusted("ws_w"),
            "wh_all",
            &ReplaySelection::Event(event.clone()),
            3_000
        )
        .await
        .expect("replay"),
        Some(1)
    );
    let log = s
        .list_webhook_deliveries(&WorkspaceId::from_trusted("ws_w"), "wh_all", 10)
        .await
        .expect("list")
        .expect("endpoint");
    assert_eq!((log[0].state.as_str(), log[0].attempts), ("pending", 0));
    assert_eq!(
        s.replay_webhook_events(
            &WorkspaceId::from_trusted("ws_w"),
            "wh_all",
            &ReplaySelection::Event("evt_none".into()),
            3_000
        )
        .await
        .expect("replay"),
        Some(0)
    );
    assert_eq!(
        s.replay_webhook_events(
            &WorkspaceId::from_trusted("ws_w"),
            "wh_failed",
            &ReplaySelection::Since(0),
            3_000
        )
        .await
        .expect("replay"),
        Some(0)
    );
    assert_eq!(
        s.replay_webhook_events(
            &WorkspaceId::from_trusted("ws_w"),
            "wh_all",
            &ReplaySelection::Since(0),
            3_000
        )
        .await
        .expect("replay"),
        Some(1)
    );
    assert!(s
        .replay_webhook_events(
            &WorkspaceId::from_trusted("ws_w"),
            "wh_none",
            &ReplaySelection::Since(0),
            3_000
        )
        .await
        .expect("replay")
        .is_none());
    assert!(s
        .replay_webhook_events(
            &WorkspaceId::from_trusted("ws_other"),
            "wh_all",
            &ReplaySelection::Since(0),
            3_000
        )
        .await
        .expect("replay")
        .is_none());

    // Deleting the endpoint deletes its deliveries.
    assert!(s
        .delete_webhook_endpoint(&WorkspaceId::from_trusted("ws_w"), "wh_all")
        .await
        .expect("delete"));
    assert!(s
        .claim_webhook_deliveries("z", 9_000, 1_000, 10, &[])
        .await
        .expect("claim")
        .is_empty());
}

async fn delivery_pages_are_newest_first_and_limited(s: S, _db: &Db) {
    workspace_with_channel(&s, "ws_w", "ch_w", "9601").await;
    s.create_webhook_endpoint(&endpoint("wh_all", "ws_w", r#"["message.queued"]"#))
        .await
        .expect("create");
    for i in 0..4 {
        accept(
            &s,
            message(
                &format!("msg_{i}"),
                "ws_w",
                "ch_w",
                &format!("{i}"),
                100 + i,
            ),
        )
        .await;
    }
    let page = s
        .list_webhook_deliveries(&WorkspaceId::from_trusted("ws_w"), "wh_all", 3)
        .await
        .expect("list")
        .expect("endpoint");
    assert_eq!(page.len(), 3);
    assert!(
        page.windows(2).all(|w| w[0].event_id > w[1].event_id),
        "newest first"
    );
    let all = s
        .list_webhook_deliveries(&WorkspaceId::from_trusted("ws_w"), "wh_all", 4)
        .await
        .expect("list")
        .expect("endpoint");
    assert_eq!(all.len(), 4);
    assert_eq!(all[..3], page[..]);
}

contract!(
    endpoints_are_created_changed_and_deleted,
    deliveries_are_claimed_attempted_logged_and_replayed,
    delivery_pages_are_newest_first_and_limited,
);
