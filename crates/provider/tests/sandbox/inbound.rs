//! Simulated people writing in (`POST /sandbox/inbound`).

use std::time::Duration;

use serde_json::{json, Value};

use crate::support::*;

#[tokio::test]
async fn inbound_text_arrives_as_a_signed_meta_webhook() {
    let h = start(|_| {}).await;
    let request = json!({
        "phone_number_id": PHONE_NUMBER_ID,
        "from": PERU,
        "name": "Rosa",
        "message": {"type": "text", "text": {"body": "hola"}},
    });
    let answer = h.post_inbound(&request).await;
    assert_eq!(answer.status(), 200);
    let answer: Value = answer.json().await.unwrap();
    let id = answer["id"].as_str().unwrap().to_owned();
    assert!(id.starts_with("wamid."));
    assert_eq!(answer["posted"], true);

    assert!(eventually(Duration::from_secs(3), || h.payload_count() == 1).await);
    assert_eq!(h.bad_signatures(), 0);
    let payload = h.hooks.lock().unwrap().payloads[0].clone();
    let value = &payload["entry"][0]["changes"][0]["value"];
    assert_eq!(value["metadata"]["phone_number_id"], PHONE_NUMBER_ID);
    assert_eq!(value["contacts"][0]["wa_id"], PERU);
    assert_eq!(value["contacts"][0]["profile"]["name"], "Rosa");
    let message = &value["messages"][0];
    assert_eq!(message["id"], id.as_str());
    assert_eq!(message["from"], PERU);
    assert_eq!(message["type"], "text");
    assert_eq!(message["text"]["body"], "hola");
    assert!(message["timestamp"]
        .as_str()
        .is_some_and(|t| t.parse::<i64>().is_ok()));
}

#[tokio::test]
async fn inbound_button_reply_keeps_the_message_object() {
    let h = start(|_| {}).await;
    let request = json!({
        "phone_number_id": PHONE_NUMBER_ID,
        "from": COLOMBIA,
        "message": {"type": "interactive", "context": {"from": "15550000001", "id": "wamid.original"},
                    "interactive": {"type": "button_reply", "button_reply": {"id": "yes", "title": "Sí"}}},
    });
    let answer = h.post_inbound(&request).await;
    assert_eq!(answer.status(), 200);
    assert!(eventually(Duration::from_secs(3), || h.inbound_messages().len() == 1).await);
    let message = h.inbound_messages()[0].clone();
    assert_eq!(message["interactive"]["button_reply"]["title"], "Sí");
    assert_eq!(message["context"]["id"], "wamid.original");
    assert_eq!(
        h.bad_signatures(),
        0,
        "non-ASCII bodies must verify over the raw bytes"
    );
}

#[tokio::test]
async fn inbound_without_from_or_message_is_422() {
    let h = start(|_| {}).await;
    for (body, field) in [
        (
            json!({"phone_number_id": PHONE_NUMBER_ID, "message": {"type": "text", "text": {"body": "x"}}}),
            "from",
        ),
        (
            json!({"phone_number_id": PHONE_NUMBER_ID, "from": PERU}),
            "message",
        ),
        (
            json!({"phone_number_id": PHONE_NUMBER_ID, "from": "not-a-number", "message": {"type": "text"}}),
            "from",
        ),
    ] {
        let answer = h.post_inbound(&body).await;
        assert_eq!(answer.status(), 422, "{body}");
        let error: Value = answer.json().await.unwrap();
        assert_eq!(error["error"]["field"], field, "{body}");
    }
}
