//! Meta's 2025–2026 error codes, produced by the sandbox's simulated recipients, each handled
//! as the classification table says: failed without a retry (131049, 130472, 131050, 132018),
//! or backed off for that one recipient while others go on (131056).

use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::on_both_backends;
use crate::support::{Backend, TestServer};

fn text(to: &str) -> Value {
    json!({"to": to, "type": "text", "text": {"body": "Hola"}})
}

/// The timeline's statuses, in order.
fn steps(message: &Value) -> Vec<String> {
    message["timeline"]
        .as_array()
        .map(|t| {
            t.iter()
                .filter_map(|e| e["status"].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

/// The message once the worker has recorded at least one attempt on it.
async fn attempted(s: &TestServer, id: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let m = s.message(id).await;
        if m["attempts"].as_i64().unwrap_or(0) >= 1 {
            return m;
        }
        assert!(Instant::now() < deadline, "no attempt recorded: {m}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn meta_error_codes_follow_their_policy(backend: Backend) {
    let s = TestServer::start(backend).await;
    let failing = [
        ("5215510049049", 131049),
        ("5215510472472", 130472),
        ("5215510050050", 131050),
        ("5215510018018", 132018),
    ];
    let pair_limited = "5215510056056";
    let mut errors = serde_json::Map::new();
    for (number, code) in failing {
        errors.insert(number.into(), json!(code));
    }
    errors.insert(pair_limited.into(), json!(131056));
    s.patch_sandbox(json!({ "recipient_errors": errors })).await;

    let mut failed_ids = Vec::new();
    for (number, _) in failing {
        failed_ids.push(s.send_ok(&text(&format!("+{number}"))).await);
    }
    let limited = s.send_ok(&text(&format!("+{pair_limited}"))).await;
    let other = s.send_ok(&text("+5215510000001")).await;

    let done = s
        .wait_for(&failed_ids, &["failed"], Duration::from_secs(30))
        .await;
    for ((_, code), message) in failing.iter().zip(&done) {
        assert_eq!(message["error"]["code"], *code, "{message}");
        // A failure Meta reports by webhook can land before the worker records its attempt.
        let message = &attempted(&s, message["id"].as_str().unwrap()).await;
        assert_eq!(message["attempts"], 1, "{code} is not retried: {message}");
        assert!(
            !steps(message).contains(&"retry".to_string()),
            "{code}: {message}"
        );
    }

    // 131056 backs off that recipient only: the other message goes meanwhile.
    s.wait_for(
        std::slice::from_ref(&other),
        &["read"],
        Duration::from_secs(30),
    )
    .await;
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let m = s.message(&limited).await;
        if steps(&m).iter().filter(|s| *s == "retry").count() >= 2 {
            assert_ne!(m["status"], "failed", "{m}");
            break;
        }
        assert!(Instant::now() < deadline, "131056 was not retried: {m}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Once the pair may talk again, the message goes.
    s.patch_sandbox(json!({ "recipient_errors": {} })).await;
    let sent = s
        .wait_for(
            std::slice::from_ref(&limited),
            &["read"],
            Duration::from_secs(30),
        )
        .await;
    assert!(sent[0]["attempts"].as_i64().unwrap() >= 3, "{}", sent[0]);
    s.stop().await;
}

on_both_backends!(meta_error_codes_follow_their_policy);
