//! A Meta delivery Chasqui stored and acknowledged, then left leased by a process that died, is
//! applied by a live instance as soon as that lease runs out (`webhooks.inbox_lease_ms`, 5 s by
//! default), not 30 s later.

use std::time::{Duration, Instant};

use chasqui::clock::now_ms;
use chasqui::config::WebhooksConfig;
use serde_json::json;

use crate::on_both_backends;
use crate::support::{test_config, Backend, TestServer, PHONE_NUMBER_ID};

async fn a_dead_instances_delivery_is_applied_within_its_lease(backend: Backend) {
    let first = TestServer::start(backend).await;
    let (status, channels) = first
        .get_json("/v1/admin/workspaces/ws_default/channels")
        .await;
    assert_eq!(status, 200, "{channels}");
    let channel_id = channels["data"][0]["id"]
        .as_str()
        .expect("channel")
        .to_string();
    let key = first.key.clone();
    let db = first.stop().await;

    // What the dead process did: store the delivery (its receiver answered Meta 200), claim it
    // with the default lease, then nothing more.
    let lease = WebhooksConfig::default().inbox_lease_ms;
    let wamid = "wamid.HELD-BY-A-DEAD-OWNER";
    let payload = json!({"object": "whatsapp_business_account", "entry": [{"id": "1", "changes": [{
    "field": "messages",
    "value": {
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": "15550000001", "phone_number_id": PHONE_NUMBER_ID},
        "contacts": [{"profile": {"name": "Ana"}, "wa_id": "5215512349999"}],
        "messages": [{"from": "5215512349999", "id": wamid, "timestamp": "1750000000",
                      "type": "text", "text": {"body": "hola"}}]
    }}]}]});
    let claimed_at = {
        let store = chasqui_store::open(&db.url).await.expect("open the store");
        let pair = [(
            PHONE_NUMBER_ID.to_string(),
            chasqui_domain::ChannelId::from_trusted(channel_id),
        )];
        store
            .enqueue_webhook(&pair, &payload.to_string(), now_ms())
            .await
            .expect("enqueue");
        let claimed = store
            .claim_webhooks("ingest_dead", now_ms(), lease, 32)
            .await
            .expect("claim");
        assert_eq!(claimed.len(), 1);
        Instant::now()
    };

    let mut cfg = test_config(&db);
    cfg.webhooks = WebhooksConfig::default();
    cfg.dispatcher.unknown_outcome_wait_ms = 2 * lease;
    cfg.validate().expect("a valid configuration");
    let live = TestServer::start_again(db, cfg, key).await;
    let lease = Duration::from_millis(u64::try_from(lease).expect("positive"));
    // About the lease, plus the worker's one-second poll and some slack for a loaded machine.
    let deadline = lease + Duration::from_secs(4);
    while !live.inbound_seen(wamid).await {
        assert!(
            claimed_at.elapsed() < deadline,
            "the delivery was not applied within {deadline:?} of the dead owner's claim"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let waited = claimed_at.elapsed();
    // The dead owner's lease was honoured: nobody applied it while it held.
    assert!(
        waited + Duration::from_millis(200) >= lease,
        "applied after {waited:?}, before the {lease:?} lease ran out"
    );
    live.drain_webhooks().await;
    live.stop().await;
}

/// `chasqui serve` refuses to start when the unknown-outcome wait does not outlast the inbox
/// lease, and says which settings to change; nothing listens.
async fn serve_refuses_a_wait_shorter_than_the_lease(backend: Backend) {
    let db = crate::support::TestDb::create(backend).await;
    let out = crate::process::chasqui(&db)
        .args(["serve"])
        .env("CHASQUI_LISTEN", "127.0.0.1:0")
        .env("CHASQUI_WEBHOOKS__INBOX_LEASE_MS", "5000")
        .env("CHASQUI_DISPATCHER__UNKNOWN_OUTCOME_WAIT_MS", "3000")
        .output()
        .expect("run chasqui");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "serve must not start: {stderr}");
    assert!(
        stderr.contains("dispatcher.unknown_outcome_wait_ms (3000)")
            && stderr.contains("webhooks.inbox_lease_ms (5000)"),
        "{stderr}"
    );
}

on_both_backends!(
    a_dead_instances_delivery_is_applied_within_its_lease,
    serve_refuses_a_wait_shorter_than_the_lease,
);

/// Why a restarted process does not shorten the dispatcher's lease: it cannot tell a dead
/// predecessor's claims from a live peer's (owner ids are per process), and a lease shorter than
/// a live provider call turns that call into an unknown outcome while it is still running. Here
/// the lease (300 ms) is shorter than the provider's answer (800 ms): every send is recorded as
/// an unknown outcome first, and only the status webhook settles it.
async fn a_lease_shorter_than_a_live_call_makes_it_unknown(backend: Backend) {
    let s = TestServer::start_with(backend, |cfg| {
        cfg.dispatcher.lease_ms = 300;
        cfg.sandbox.latency_ms = 800;
        cfg.dispatcher.provider_timeout_ms = 3_000;
        cfg.dispatcher.unknown_outcome_wait_ms = 5_000;
    })
    .await;
    let mut ids = Vec::new();
    for n in 0..3 {
        ids.push(
            s.send_ok(&json!({"to": format!("+521551234100{n}"), "type": "text",
                              "text": {"body": "hola"}}))
                .await,
        );
    }
    let done = s
        .wait_for(&ids, &["delivered", "read"], Duration::from_secs(20))
        .await;
    for m in &done {
        let statuses: Vec<&str> = m["timeline"]
            .as_array()
            .expect("timeline")
            .iter()
            .filter_map(|e| e["status"].as_str())
            .collect();
        assert!(
            statuses.contains(&"unknown"),
            "a live call outlived its lease and was taken for dead: {statuses:?}"
        );
    }
    // Settled by the webhooks, not by a resend: each went out once.
    assert_eq!(s.sandbox_messages().await.len(), 3);
    s.stop().await;
}

on_both_backends!(a_lease_shorter_than_a_live_call_makes_it_unknown);
