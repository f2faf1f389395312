//! Successful sends and validation refusals (need the domain parser).

use chasqui_provider::{Provider, SendOutcome, SendPath, SendRequest};
use serde_json::json;

use crate::support::*;

#[tokio::test]
async fn text_is_accepted_and_logged_with_callback_data() {
    require_domain();
    let h = start(|_| {}).await;
    let provider = h.provider();
    let outcome = h.send_text(&provider, "msg-1", PERU, "hola").await;
    let SendOutcome::Accepted { wamid, wa_id } = &outcome else {
        panic!("{outcome:?}")
    };
    assert!(wamid.starts_with("wamid."), "{wamid}");
    assert_eq!(wa_id.as_deref(), Some(PERU));

    let log = h.messages().await;
    assert_eq!(log.len(), 1);
    assert_eq!(log[0]["seq"], 1);
    assert_eq!(log[0]["wamid"], wamid.as_str());
    assert_eq!(log[0]["callback_data"], "msg-1");
    assert_eq!(log[0]["phone_number_id"], PHONE_NUMBER_ID);
    assert_eq!(log[0]["to"], PERU);
    assert_eq!(log[0]["type"], "text");
    assert_eq!(log[0]["body"]["text"]["body"], "hola");
    assert_eq!(h.stats().await["received"], 1);
}

#[tokio::test]
async fn log_keeps_per_recipient_order_and_filters() {
    require_domain();
    let h = start(|_| {}).await;
    let provider = h.provider();
    for i in 0..4 {
        let to = if i % 2 == 0 { PERU } else { COLOMBIA };
        accepted_wamid(
            &h.send_text(&provider, &format!("m{i}"), to, &format!("n{i}"))
                .await,
        );
    }
    let peru = h.get(&format!("/messages?to={PERU}")).await["messages"]
        .as_array()
        .cloned()
        .unwrap();
    let ids: Vec<_> = peru
        .iter()
        .map(|m| m["callback_data"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(ids, ["m0", "m2"]);
    let page = h.get("/messages?after=1&limit=2").await["messages"]
        .as_array()
        .cloned()
        .unwrap();
    let seqs: Vec<_> = page.iter().map(|m| m["seq"].as_u64().unwrap()).collect();
    assert_eq!(seqs, [2, 3]);

    let cleared = h.http.delete(h.control("/messages")).send().await.unwrap();
    assert!(cleared.status().is_success());
    assert!(h.messages().await.is_empty());
}

#[tokio::test]
async fn invalid_body_is_rejected_with_code_100_and_details() {
    require_domain();
    let h = start(|_| {}).await;
    let provider = h.provider();
    let body = json!({"type": "text", "text": {}});
    let outcome = provider
        .send(SendRequest {
            message_id: "bad",
            to: PERU,
            body: &body,
            path: SendPath::Messages,
        })
        .await;
    let SendOutcome::Rejected {
        http_status, error, ..
    } = &outcome
    else {
        panic!("{outcome:?}")
    };
    assert_eq!(*http_status, 400);
    assert_eq!(error.code, 100);
    assert_eq!(error.title, "Invalid parameter");
    let details = error.details.as_deref().unwrap_or_default();
    assert!(
        details.contains("text"),
        "details should name the field: {details}"
    );
    assert!(h.messages().await.is_empty());
    assert_eq!(h.stats().await["rejected"], 1);
}

#[tokio::test]
async fn oversized_callback_data_is_rejected() {
    require_domain();
    let h = start(|_| {}).await;
    let long = "x".repeat(513);
    let outcome = h.send_text(&h.provider(), &long, PERU, "hola").await;
    let SendOutcome::Rejected { error, .. } = &outcome else {
        panic!("{outcome:?}")
    };
    assert_eq!(error.code, 100);
    assert!(error
        .details
        .as_deref()
        .unwrap_or_default()
        .contains("biz_opaque_callback_data"));
}
