//! A `read` before `delivered` on both back ends: the implied `delivered` is recorded first, the
//! business webhook events of one message are handed to an endpoint one at a time in order (a
//! failed attempt holds the later ones back), and Meta's redeliveries and late `delivered`
//! write no second event.

use chasqui_domain::webhook::StatusUpdate;
use chasqui_domain::MessageStatus;
use chasqui_domain::{ChannelId, MessageId, WorkspaceId};
use chasqui_store::{AttemptOutcome, AttemptRecord, Channel, Store, WebhookEndpoint};

use crate::common::Db;

const NOW: i64 = 1_700_000_000_000;
const LEASE: i64 = 5_000;

fn channel() -> Channel {
    Channel {
        id: ChannelId::from_trusted("ch_1"),
        workspace_id: WorkspaceId::from_trusted("ws_1"),
        name: "one".into(),
        provider: chasqui_domain::ProviderKind::Sandbox,
        phone_number_id: "pn_1".into(),
        display_phone_number: "15550001111".into(),
        waba_id: None,
        base_url: None,
        api_version: "v23.0".into(),
        access_token: None,
        app_secret: None,
        verify_token: None,
        rate_per_sec: 0,
        pair_interval_ms: 0,
        pair_burst: 1,
        is_default: true,
        window_policy: chasqui_domain::window::WindowPolicy::Off,
        enabled: true,
        messaging_limit: None,
        auto_read: false,
        wolkvox_connector_id: None,
        respond_channel_id: None,
        window_fallback: None,
        marketing_messages: false,
        num: 0,
    }
}

fn status(s: MessageStatus) -> StatusUpdate {
    StatusUpdate {
        phone_number_id: "pn_1".into(),
        wamid: "wamid.1".into(),
        callback_data: Some("msg_1".into()),
        status: s,
        timestamp: NOW / 1000,
        recipient_id: None,
        recipient_user_id: None,
        error: None,
        conversation: None,
        pricing: None,
    }
}

fn pairs() -> Vec<(String, ChannelId)> {
    vec![("pn_1".to_string(), ChannelId::from_trusted("ch_1"))]
}

/// The event types `owner` claims at `at`.
async fn claim(s: &dyn Store, owner: &str, at: i64) -> Vec<(String, String)> {
    s.claim_webhook_deliveries(owner, at, LEASE, 10, &[])
        .await
        .expect("claim")
        .into_iter()
        .map(|d| (d.event_id, d.event_type))
        .collect()
}

async fn record(s: &dyn Store, owner: &str, event_id: &str, at: i64, outcome: AttemptOutcome) {
    let ok = outcome == AttemptOutcome::Delivered;
    s.record_webhook_attempt(&AttemptRecord {
        endpoint_id: "wh_1".into(),
        event_id: event_id.into(),
        owner: owner.into(),
        at,
        status: Some(if ok { 204 } else { 500 }),
        latency_ms: 1,
        error: (!ok).then(|| "HTTP 500".into()),
        outcome,
    })
    .await
    .expect("record");
}

async fn read_first_is_delivered_then_read_one_at_a_time(db: Db) {
    let s = db.open().await;
    let s = s.as_ref();
    s.ensure_workspace(&WorkspaceId::from_trusted("ws_1"), "One", NOW)
        .await
        .expect("ws");
    s.upsert_channel(&channel(), NOW).await.expect("channel");
    s.create_webhook_endpoint(&WebhookEndpoint {
        id: "wh_1".into(),
        workspace_id: WorkspaceId::from_trusted("ws_1"),
        url: "https://example.com/hook".into(),
        events: r#"["message.delivered","message.read"]"#.into(),
        secret: "sealed".into(),
        secret_hint: "whsec_…abcd".into(),
        enabled: true,
        created_at: NOW,
        updated_at: NOW,
    })
    .await
    .expect("endpoint");
    s.accept_message(chasqui_store::NewMessage {
        id: MessageId::from_trusted("msg_1"),
        workspace_id: WorkspaceId::from_trusted("ws_1"),
        channel_id: ChannelId::from_trusted("ch_1"),
        recipient: "593998445667".into(),
        kind: "text".into(),
        body: r#"{"type":"text","text":{"body":"hi"}}"#.into(),
        created_at: NOW,
        idempotency: None,
        rendered: None,
        client_message: None,
        failed: None,
    })
    .await
    .expect("accept");

    // Meta says `read` first: the implied `delivered` is recorded before it, both in one batch.
    let report = s
        .apply_statuses(&pairs(), vec![status(MessageStatus::Read)], NOW + 10)
        .await
        .expect("apply");
    assert_eq!(report.applied, 1);
    let detail = s
        .get_message(
            &WorkspaceId::from_trusted("ws_1"),
            &MessageId::from_trusted("msg_1"),
        )
        .await
        .expect("get")
        .expect("found");
    assert_eq!(detail.message.status, MessageStatus::Read);
    let timeline: Vec<(&str, bool)> = detail
        .events
        .iter()
        .map(|e| (e.status.as_str(), e.implied()))
        .collect();
    assert_eq!(
        timeline,
        [("queued", false), ("delivered", true), ("read", false)]
    );

    // One at a time, in order: `read` waits while `delivered` is pending, leased or in backoff.
    let t = NOW + 100;
    let first = claim(s, "a", t).await;
    assert_eq!(first.len(), 1, "{first:?}");
    let (delivered, ty) = first[0].clone();
    assert_eq!(ty, "message.delivered");
    assert!(
        claim(s, "b", t).await.is_empty(),
        "read overtook a leased delivered"
    );
    let retry_at = t + 1_000;
    record(
        s,
        "a",
        &delivered,
        t,
        AttemptOutcome::Retry {
            next_attempt_at: retry_at,
        },
    )
    .await;
    assert!(
        claim(s, "b", t + 500).await.is_empty(),
        "read overtook a delivered in backoff"
    );
    assert_eq!(
        claim(s, "b", retry_at).await,
        [(delivered.clone(), "message.delivered".to_string())]
    );
    record(s, "b", &delivered, retry_at, AttemptOutcome::Delivered).await;
    let next = claim(s, "a", retry_at + 1).await;
    assert_eq!(next.len(), 1, "{next:?}");
    assert_eq!(next[0].1, "message.read");
    assert!(next[0].0 > delivered, "event ids keep the order");
    record(s, "a", &next[0].0, retry_at + 1, AttemptOutcome::Delivered).await;

    // Meta redelivers `read`, then its own late `delivered` comes: history only, no event.
    let report = s
        .apply_statuses(&pairs(), vec![status(MessageStatus::Read)], NOW + 2_000)
        .await
        .expect("apply");
    assert_eq!((report.applied, report.duplicates), (0, 1));
    let report = s
        .apply_statuses(
            &pairs(),
            vec![status(MessageStatus::Delivered)],
            NOW + 3_000,
        )
        .await
        .expect("apply");
    assert_eq!(report.applied, 1);
    let after = s
        .get_message(
            &WorkspaceId::from_trusted("ws_1"),
            &MessageId::from_trusted("msg_1"),
        )
        .await
        .expect("get")
        .expect("found");
    assert_eq!(after.message.status, MessageStatus::Read);
    assert_eq!(after.message.updated_at, detail.message.updated_at);
    let late = after.events.last().expect("late entry");
    assert_eq!((late.status.as_str(), late.implied()), ("delivered", false));
    let log = s
        .list_webhook_deliveries(&WorkspaceId::from_trusted("ws_1"), "wh_1", 10)
        .await
        .expect("deliveries")
        .expect("endpoint");
    let mut types: Vec<(&str, &str)> = log
        .iter()
        .map(|d| (d.event_type.as_str(), d.state.as_str()))
        .collect();
    types.sort();
    assert_eq!(
        types,
        [
            ("message.delivered", "delivered"),
            ("message.read", "delivered")
        ]
    );
    assert!(claim(s, "a", NOW + 60_000).await.is_empty());
}

mod read_first_is_delivered_then_read_one_at_a_time {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sqlite() {
        super::read_first_is_delivered_then_read_one_at_a_time(super::Db::sqlite().await).await
    }
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn postgres() {
        super::read_first_is_delivered_then_read_one_at_a_time(super::Db::postgres().await).await
    }
}
