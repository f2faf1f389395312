//! Checks that happen before the domain parser: auth, envelope, transport outcomes.

use std::time::Duration;

use chasqui_provider::SendOutcome;
use serde_json::{json, Value};

use crate::support::*;

#[tokio::test]
async fn wrong_token_is_rejected_with_190() {
    let h = start(|s| s.access_token = Some("right-token".into())).await;
    let provider = h.provider_with("wrong-token", Duration::from_secs(5));
    let outcome = h.send_text(&provider, "m", PERU, "hola").await;
    let SendOutcome::Rejected {
        http_status, error, ..
    } = &outcome
    else {
        panic!("{outcome:?}")
    };
    assert_eq!(*http_status, 401);
    assert_eq!(error.code, 190);
    assert!(
        error.title.contains("Invalid OAuth access token"),
        "{}",
        error.title
    );
    assert_eq!(h.stats().await["rejected"], 1);
}

#[tokio::test]
async fn missing_token_and_bad_envelopes_get_meta_errors() {
    let h = start(|_| {}).await;
    let url = format!("{}/v23.0/{PHONE_NUMBER_ID}/messages", h.base);

    let no_auth = h.http.post(&url).json(&json!({})).send().await.unwrap();
    assert_eq!(no_auth.status(), 401);
    let body: Value = no_auth.json().await.unwrap();
    assert_eq!(body["error"]["code"], 190);
    assert_eq!(body["error"]["type"], "OAuthException");
    assert!(body["error"]["fbtrace_id"].is_string());

    let cases = [
        ("not json".to_owned(), "JSON"),
        (
            json!({"to": PERU, "type": "text", "text": {"body": "x"}}).to_string(),
            "messaging_product",
        ),
        (
            json!({"messaging_product": "sms", "to": PERU}).to_string(),
            "messaging_product",
        ),
    ];
    for (raw, needle) in cases {
        let answer = h
            .http
            .post(&url)
            .bearer_auth("t")
            .header("content-type", "application/json")
            .body(raw.clone())
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status(), 400, "{raw}");
        let body: Value = answer.json().await.unwrap();
        assert_eq!(body["error"]["code"], 100, "{raw}");
        let details = body["error"]["error_data"]["details"]
            .as_str()
            .unwrap_or_default();
        assert!(details.contains(needle), "{raw}: {details}");
    }
    assert!(h.messages().await.is_empty());
}

#[tokio::test]
async fn closed_port_is_not_sent() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let h = Harness {
        base: format!("http://{addr}"),
        http: chasqui_provider::http_client(Duration::from_secs(1)),
        hooks: Default::default(),
    };
    let outcome = h.send_text(&h.provider(), "m", PERU, "hola").await;
    assert!(
        matches!(outcome, SendOutcome::NotSent { .. }),
        "{outcome:?}"
    );
}
