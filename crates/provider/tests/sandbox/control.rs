//! The control API's settings endpoints.

use serde_json::{json, Value};

use crate::support::*;

#[tokio::test]
async fn settings_are_redacted_patched_and_validated() {
    let h = start(|s| s.access_token = Some("secret-token".into())).await;
    let shown = h.get("/settings").await;
    assert_eq!(shown["app_secret"], "***");
    assert_eq!(shown["access_token"], "***");
    assert_eq!(shown["sent_after_ms"], 10);

    let patch = |body: Value| h.http.patch(h.control("/settings")).json(&body).send();
    let ok = patch(json!({"drop_rate": 0.25, "read_after_ms": null}))
        .await
        .unwrap();
    assert_eq!(ok.status(), 200);
    let updated: Value = ok.json().await.unwrap();
    assert_eq!(updated["drop_rate"], 0.25);
    assert_eq!(updated["read_after_ms"], Value::Null);
    assert_eq!(updated["app_secret"], "***");
    assert_eq!(h.get("/settings").await["drop_rate"], 0.25);

    for (body, field) in [
        (json!({"drop_rate": 1.5}), "drop_rate"),
        (json!({"lost_webhook_rate": -0.1}), "lost_webhook_rate"),
        (json!({"throttle_per_sec": "fast"}), "throttle_per_sec"),
        (json!({"no_such_knob": 1}), "no_such_knob"),
    ] {
        let refused = patch(body.clone()).await.unwrap();
        assert_eq!(refused.status(), 422, "{body}");
        let error: Value = refused.json().await.unwrap();
        assert_eq!(error["error"]["field"], field, "{body}");
        assert!(error["error"]["message"].is_string());
    }
    // Refused patches change nothing; secrets survive a GET-then-PATCH round trip.
    assert_eq!(h.get("/settings").await["drop_rate"], 0.25);
    let round_trip = patch(h.get("/settings").await).await.unwrap();
    assert_eq!(round_trip.status(), 200);

    let stats = h.stats().await;
    for key in [
        "received",
        "rejected",
        "throttled",
        "faults_5xx",
        "timeouts",
        "dropped",
        "webhooks_sent",
        "webhooks_failed",
        "statuses_lost",
    ] {
        assert_eq!(stats[key], 0, "{key}");
    }
}
