//! The sandbox's templates through the real Cloud API provider: `hello_world` from the start,
//! listing pages, submission → PENDING → APPROVED with a signed webhook, and Meta's refusals of
//! template sends (132001, 132000).

use std::time::Duration;

use chasqui_provider::{ManageError, Provider, SendOutcome, SendPath, SendRequest};
use serde_json::{json, Value};

use crate::support::*;

/// The sandbox's default WABA id.
const WABA_ID: &str = "100000000000001";

fn submission(name: &str) -> Value {
    json!({"name": name, "language": "es", "category": "UTILITY", "components": [
        {"type": "BODY", "text": "Hola {{1}}, tu pedido está listo.", "example": {"body_text": [["Ana"]]}}]})
}

async fn send_template(
    provider: &impl Provider,
    name: &str,
    language: &str,
    parameters: Value,
) -> SendOutcome {
    let body = json!({"type": "template", "template": {"name": name, "language": {"code": language},
        "components": [{"type": "body", "parameters": parameters}]}});
    provider
        .send(SendRequest {
            message_id: "msg-t",
            to: PERU,
            body: &body,
            path: SendPath::Messages,
        })
        .await
}

#[tokio::test]
async fn a_new_account_lists_hello_world_and_sends_it() {
    require_domain();
    let h = start(|_| {}).await;
    let provider = h.provider();
    let listed = provider.list_templates(WABA_ID).await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0]["name"], "hello_world");
    assert_eq!(listed[0]["language"], "en_US");
    assert_eq!(listed[0]["status"], "APPROVED");
    let body = json!({"type": "template", "template": {"name": "hello_world", "language": {"code": "en_US"}}});
    let outcome = provider
        .send(SendRequest {
            message_id: "msg-h",
            to: PERU,
            body: &body,
            path: SendPath::Messages,
        })
        .await;
    accepted_wamid(&outcome);
    // Another WABA is not this token's to see.
    let other = provider.list_templates("999").await.unwrap_err();
    assert!(
        matches!(other, ManageError::Rejected { http_status: 400, ref error } if error.code == 100),
        "{other:?}"
    );
}

#[tokio::test]
async fn submissions_are_reviewed_and_announced_by_a_signed_webhook() {
    require_domain();
    let h = start(|s| s.template_approval_ms = 50).await;
    let provider = h.provider();
    let answer = provider
        .create_template(WABA_ID, &submission("order_ready"))
        .await
        .unwrap();
    assert_eq!(answer["status"], "PENDING");
    assert_eq!(answer["category"], "UTILITY");
    let id = answer["id"].as_str().unwrap().to_owned();
    // Pending templates cannot be sent yet.
    let early = send_template(
        &provider,
        "order_ready",
        "es",
        json!([{"type": "text", "text": "Ana"}]),
    )
    .await;
    assert!(
        matches!(early, SendOutcome::Rejected { http_status: 404, ref error, .. } if error.code == 132001),
        "{early:?}"
    );
    let announced = eventually(Duration::from_secs(5), || h.payload_count() > 0).await;
    assert!(announced, "no review webhook");
    let hooks = h.hooks.lock().unwrap().payloads.clone();
    let change = &hooks[0]["entry"][0]["changes"][0];
    assert_eq!(change["field"], "message_template_status_update");
    assert_eq!(change["value"]["event"], "APPROVED");
    assert_eq!(change["value"]["message_template_id"].to_string(), id);
    assert_eq!(change["value"]["message_template_name"], "order_ready");
    assert_eq!(hooks[0]["entry"][0]["id"], WABA_ID);
    assert_eq!(h.bad_signatures(), 0);
    let listed = provider.list_templates(WABA_ID).await.unwrap();
    let ready = listed.iter().find(|t| t["name"] == "order_ready").unwrap();
    assert_eq!(ready["status"], "APPROVED");
    assert!(ready.get("allow_category_change").is_none());
    // Now it goes, with the right count only.
    let ok = send_template(
        &provider,
        "order_ready",
        "es",
        json!([{"type": "text", "text": "Ana"}]),
    )
    .await;
    accepted_wamid(&ok);
    let wrong = send_template(&provider, "order_ready", "es", json!([])).await;
    assert!(
        matches!(wrong, SendOutcome::Rejected { ref error, .. } if error.code == 132000),
        "{wrong:?}"
    );
    // A name and language already taken, and an invalid submission, are refused with 100.
    for body in [
        submission("order_ready"),
        json!({"name": "Bad", "components": []}),
    ] {
        let err = provider.create_template(WABA_ID, &body).await.unwrap_err();
        assert!(
            matches!(err, ManageError::Rejected { ref error, .. } if error.code == 100),
            "{err:?}"
        );
    }
}

#[tokio::test]
async fn listings_are_paged_with_cursors() {
    require_domain();
    // Review is slow here, so the submissions are still pending when listed by status.
    let h = start(|s| s.template_approval_ms = 60_000).await;
    let provider = h.provider();
    for name in ["a_one", "a_two"] {
        provider
            .create_template(WABA_ID, &submission(name))
            .await
            .unwrap();
    }
    let url = format!("{}/v23.0/{WABA_ID}/message_templates?limit=2", h.base);
    let first: Value = h
        .http
        .get(&url)
        .bearer_auth("t")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(first["data"].as_array().unwrap().len(), 2);
    let after = first["paging"]["cursors"]["after"].as_str().unwrap();
    assert!(first["paging"]["next"].is_string());
    let second: Value = h
        .http
        .get(format!("{url}&after={after}"))
        .bearer_auth("t")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(second["data"].as_array().unwrap().len(), 1);
    assert!(second["paging"].get("next").is_none());
    assert_eq!(provider.list_templates(WABA_ID).await.unwrap().len(), 3);
    let pending: Value = h
        .http
        .get(format!(
            "{}/v23.0/{WABA_ID}/message_templates?status=PENDING",
            h.base
        ))
        .bearer_auth("t")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(pending["data"].as_array().unwrap().len(), 2);
}

/// The Marketing Messages API path takes MARKETING templates only, as Meta's does, and the
/// sandbox's log says which endpoint each message came through.
#[tokio::test]
async fn marketing_messages_takes_marketing_templates_only() {
    require_domain();
    let h = start(|s| s.template_approval_ms = 0).await;
    let provider = h.provider();
    let send = |body: Value| {
        let provider = &provider;
        async move {
            provider
                .send(SendRequest {
                    message_id: "msg-mm",
                    to: PERU,
                    body: &body,
                    path: SendPath::MarketingMessages,
                })
                .await
        }
    };
    // hello_world is a MARKETING template.
    let hello = json!({"type": "template", "template": {"name": "hello_world", "language": {"code": "en_US"}}});
    let wamid = accepted_wamid(&send(hello).await);
    let text = send(json!({"type": "text", "text": {"body": "hola"}})).await;
    assert!(
        matches!(&text, SendOutcome::Rejected { http_status: 400, error, .. }
            if error.code == 100 && error.details.as_deref() == Some("Message must be a template message.")),
        "{text:?}"
    );
    provider
        .create_template(WABA_ID, &submission("order_ready"))
        .await
        .unwrap();
    let approved = eventually(Duration::from_secs(5), || h.payload_count() > 0).await;
    assert!(approved, "no review webhook");
    let utility = send(
        json!({"type": "template", "template": {"name": "order_ready",
        "language": {"code": "es"}, "components": [{"type": "body",
        "parameters": [{"type": "text", "text": "Ana"}]}]}}),
    )
    .await;
    assert!(
        matches!(&utility, SendOutcome::Rejected { http_status: 400, error, .. } if error.code == 100),
        "{utility:?}"
    );
    let logged = h.messages().await;
    assert_eq!(
        logged.len(),
        1,
        "only the marketing template was accepted: {logged:?}"
    );
    assert_eq!(logged[0]["wamid"], wamid.as_str());
    assert_eq!(logged[0]["endpoint"], "marketing_messages");
}
