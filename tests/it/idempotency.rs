//! The same `Idempotency-Key` with the same body returns the first answer and creates nothing;
//! with a different body it is a conflict.

use serde_json::{json, Value};

use crate::on_both_backends;
use crate::support::{Backend, TestServer};

async fn idempotent_sends_create_one_message(backend: Backend) {
    let server = TestServer::start(backend).await;
    let body = json!({"to": "+573001234567", "type": "text", "text": {"body": "Su pedido salió"}});
    let send = |key: &'static str, body: Value| {
        let req = server
            .http
            .post(server.url("/v1/messages"))
            .bearer_auth(&server.key)
            .header("idempotency-key", key)
            .json(&body);
        async move { req.send().await.expect("send") }
    };
    let first = send("order-42", body.clone()).await;
    assert_eq!(first.status(), 202);
    let first: Value = first.json().await.expect("json");

    // Concurrent replays race on the server; all return the first answer.
    let mut replays = tokio::task::JoinSet::new();
    for _ in 0..3 {
        replays.spawn(send("order-42", body.clone()));
    }
    while let Some(r) = replays.join_next().await {
        let r = r.expect("join");
        assert_eq!(r.status(), 202);
        let again: Value = r.json().await.expect("json");
        assert_eq!(
            again, first,
            "a replay answers exactly what the first request did"
        );
    }

    let other = json!({"to": "+573001234567", "type": "text", "text": {"body": "otro"}});
    let conflict = send("order-42", other).await;
    assert_eq!(conflict.status(), 409);
    let conflict: Value = conflict.json().await.expect("json");
    assert_eq!(conflict["code"], "idempotency_conflict");

    let fresh = send("order-43", body.clone()).await;
    assert_eq!(fresh.status(), 202);

    let (_, list) = server.get_json("/v1/messages?limit=10").await;
    assert_eq!(list["data"].as_array().map(Vec::len), Some(2), "{list}");
    server.stop().await;
}

on_both_backends!(idempotent_sends_create_one_message);
