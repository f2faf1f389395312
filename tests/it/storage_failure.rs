//! A failed fdatasync of the SQLite WAL seen over HTTP (the fault is compiled into test builds
//! only; the real fdatasync runs and then reports EIO): writes answer 503 `storage_unavailable`
//! and are never acknowledged, `/readyz` says why, reads go on, Meta's webhooks are refused so
//! Meta sends them again, and a restart serves again with every acknowledged message.

use std::path::Path;

use serde_json::{json, Value};

use crate::support::{sign_meta, test_config, Backend, TestServer, APP_SECRET, PHONE_NUMBER_ID};

fn text(n: u32) -> Value {
    json!({"to": format!("+52155123480{n:02}"), "type": "text", "text": {"body": "hola"}})
}

async fn assert_storage_unavailable(resp: reqwest::Response) -> Value {
    let status = resp.status().as_u16();
    let body: Value = resp.json().await.unwrap_or(Value::Null);
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["code"], "storage_unavailable", "{body}");
    body
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_fdatasync_is_never_acknowledged() {
    let s = TestServer::start(Backend::Sqlite).await;
    let database =
        s.db.url
            .strip_prefix("sqlite://")
            .expect("sqlite")
            .to_string();
    let before = s.send_ok(&text(1)).await;

    // The next fdatasync fails, whichever commit it covers (this send's or a worker's): from
    // then on no write is acknowledged.
    chasqui_store::fault_injection::fail_next_fdatasync(Path::new(&database));
    assert_storage_unavailable(s.send(&text(2)).await).await;
    assert_storage_unavailable(s.send(&text(3)).await).await;
    // With an Idempotency-Key too: a retry is safe, and refused the same way for now.
    let retried = s
        .http
        .post(s.url("/v1/messages"))
        .bearer_auth(&s.key)
        .header("idempotency-key", "after-the-failure")
        .json(&text(4))
        .send()
        .await
        .expect("send");
    assert_storage_unavailable(retried).await;

    // Not ready, with the reason.
    let ready = s.http.get(s.url("/readyz")).send().await.expect("readyz");
    let body = assert_storage_unavailable(ready).await;
    let detail = body["detail"].as_str().unwrap_or("");
    assert!(
        detail.contains("fdatasync") && detail.contains("os error 5"),
        "{body}"
    );

    // Meta's webhooks are not acknowledged either: Meta keeps them and retries.
    let payload = json!({"object": "whatsapp_business_account", "entry": [{"id": "1",
        "changes": [{"field": "messages", "value": {"messaging_product": "whatsapp",
        "metadata": {"display_phone_number": "15550000001", "phone_number_id": PHONE_NUMBER_ID},
        "statuses": []}}]}]});
    let raw = serde_json::to_vec(&payload).expect("json");
    let meta = s
        .http
        .post(s.url("/webhooks/meta"))
        .header("content-type", "application/json")
        .header("x-hub-signature-256", sign_meta(&raw, APP_SECRET))
        .body(raw)
        .send()
        .await
        .expect("meta webhook");
    assert_storage_unavailable(meta).await;

    // Reads go on.
    let (status, message) = s.get_json(&format!("/v1/messages/{before}")).await;
    assert_eq!(status, 200, "{message}");

    // A restart recovers what was acknowledged and accepts writes again.
    let key = s.key.clone();
    let db = s.stop().await;
    let cfg = test_config(&db);
    let s = TestServer::start_again(db, cfg, key).await;
    let (status, ready) = s.get_json("/readyz").await;
    assert_eq!(status, 200, "{ready}");
    let (status, message) = s.get_json(&format!("/v1/messages/{before}")).await;
    assert_eq!(status, 200, "{message}");
    s.send_ok(&text(5)).await;
    s.stop().await;
}
