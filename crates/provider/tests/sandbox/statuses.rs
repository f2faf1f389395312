//! Simulated recipients: signed, batched status webhooks (need the domain parser).

use std::time::Duration;

use serde_json::Value;

use crate::support::*;

#[tokio::test]
async fn sent_delivered_read_arrive_signed_batched_with_callback_data() {
    require_domain();
    let h = start(|s| s.webhook_batch_ms = 50).await;
    let provider = h.provider();
    let mut sent = Vec::new();
    for i in 0..5 {
        let id = format!("msg-{i}");
        let wamid = accepted_wamid(&h.send_text(&provider, &id, PERU, "hola").await);
        sent.push((id, wamid));
    }
    let all_read = eventually(Duration::from_secs(5), || {
        let statuses = h.statuses();
        sent.iter().all(|(_, wamid)| {
            ["sent", "delivered", "read"].iter().all(|st| {
                statuses
                    .iter()
                    .any(|s| s["id"] == wamid.as_str() && s["status"] == *st)
            })
        })
    })
    .await;
    assert!(all_read, "statuses so far: {:?}", h.statuses());
    assert_eq!(h.bad_signatures(), 0);

    let statuses = h.statuses();
    for (id, wamid) in &sent {
        for status in statuses.iter().filter(|s| s["id"] == wamid.as_str()) {
            assert_eq!(status["biz_opaque_callback_data"], id.as_str());
            assert_eq!(status["recipient_id"], PERU);
            assert!(status["timestamp"]
                .as_str()
                .is_some_and(|t| t.parse::<i64>().is_ok()));
            assert_eq!(status["pricing"]["category"], "service");
            assert_eq!(status["pricing"]["pricing_model"], "PMP");
        }
    }
    let payloads = h.hooks.lock().unwrap().payloads.clone();
    let batched = payloads.iter().any(|p| entries(p, "statuses").len() > 1);
    assert!(batched, "expected one webhook carrying several statuses");
    let first = &payloads[0];
    assert_eq!(first["object"], "whatsapp_business_account");
    assert_eq!(first["entry"][0]["changes"][0]["field"], "messages");
    let metadata = &first["entry"][0]["changes"][0]["value"]["metadata"];
    assert_eq!(metadata["phone_number_id"], PHONE_NUMBER_ID);

    // The log mirrors what the recipient did.
    let log = h.messages().await;
    let logged: Vec<&str> = log[0]["statuses"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["status"].as_str().unwrap())
        .collect();
    assert_eq!(logged, ["sent", "delivered", "read"]);
    assert!(h.stats().await["webhooks_sent"].as_u64().unwrap() >= 1);
}

#[tokio::test]
async fn lost_webhooks_never_arrive() {
    require_domain();
    let h = start(|s| s.lost_webhook_rate = 1.0).await;
    accepted_wamid(&h.send_text(&h.provider(), "m", PERU, "x").await);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(3);
    while h.stats().await["statuses_lost"] != 3 && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(h.stats().await["statuses_lost"], 3);
    // Give a (wrongly) sent webhook time to land before checking none did.
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(h.payload_count(), 0);
    let log = h.messages().await;
    assert!(log[0]["statuses"]
        .as_array()
        .unwrap()
        .iter()
        .all(|s| s["lost"] == Value::Bool(true)));
}

#[tokio::test]
async fn undeliverable_recipient_gets_failed_131026() {
    require_domain();
    let h = start(|s| s.undeliverable_recipients = vec![COLOMBIA.into()]).await;
    let wamid = accepted_wamid(&h.send_text(&h.provider(), "m", COLOMBIA, "x").await);
    let failed = eventually(Duration::from_secs(3), || {
        h.statuses()
            .iter()
            .any(|s| s["id"] == wamid.as_str() && s["status"] == "failed")
    })
    .await;
    assert!(failed);
    let statuses = h.statuses();
    let failed = statuses.iter().find(|s| s["status"] == "failed").unwrap();
    assert_eq!(failed["errors"][0]["code"], 131026);
    assert_eq!(failed["errors"][0]["title"], "Message undeliverable");
    assert_eq!(failed["biz_opaque_callback_data"], "m");
    tokio::time::sleep(Duration::from_millis(150)).await;
    assert!(!h
        .statuses()
        .iter()
        .any(|s| s["status"] == "delivered" || s["status"] == "read"));
}
