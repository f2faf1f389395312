//! The Marketing Messages API: a channel that opts in sends its MARKETING templates to
//! `/marketing_messages`, and everything else still to `/messages`.

use std::time::Duration;

use reqwest::Method;
use serde_json::{json, Value};

use crate::on_both_backends;
use crate::support::{Backend, TestServer};
use crate::templates::submit_approved;

/// The endpoint the sandbox logged for the message with Chasqui's wamid.
fn endpoint_of(log: &[Value], wamid: &str) -> String {
    log.iter()
        .find(|m| m["wamid"] == wamid)
        .and_then(|m| m["endpoint"].as_str())
        .unwrap_or_else(|| panic!("{wamid} not in the sandbox log"))
        .to_string()
}

async fn marketing_templates_go_through_the_marketing_messages_api(backend: Backend) {
    let s = TestServer::start(backend).await;
    for (name, category) in [("promo_mm", "MARKETING"), ("aviso_mm", "UTILITY")] {
        submit_approved(
            &s,
            &json!({"name": name, "language": "es", "category": category, "components": [
                {"type": "BODY", "text": "Hola {{1}}.", "example": {"body_text": [["Ana"]]}}]}),
        )
        .await;
    }
    let template = |name: &str| {
        json!({"to": "+5215512348001", "type": "template", "template": {
            "name": name, "language": {"code": "es"}, "components": [
                {"type": "body", "parameters": [{"type": "text", "text": "Ana"}]}]}})
    };
    let delivered = |ids: Vec<String>| {
        let s = &s;
        async move {
            s.wait_for(&ids, &["delivered", "read"], Duration::from_secs(20))
                .await
                .into_iter()
                .map(|m| m["wamid"].as_str().expect("wamid").to_string())
                .collect::<Vec<_>>()
        }
    };

    // Off by default: marketing goes through /messages.
    let before = delivered(vec![s.send_ok(&template("promo_mm")).await]).await;
    assert_eq!(
        endpoint_of(&s.sandbox_messages().await, &before[0]),
        "messages"
    );

    // A value that is not a boolean is refused and changes nothing.
    let (status, bad) = s
        .request_json(
            Method::PATCH,
            "/v1/admin/channels/ch_default",
            &json!({"marketing_messages": "yes"}),
        )
        .await;
    assert_eq!(status, 422, "{bad}");
    assert_eq!(bad["errors"][0]["field"], "marketing_messages");
    let (_, ch) = s.get_json("/v1/admin/channels/ch_default").await;
    assert_eq!(ch["marketing_messages"], false, "{ch}");

    let (status, ch) = s
        .request_json(
            Method::PATCH,
            "/v1/admin/channels/ch_default",
            &json!({"marketing_messages": true}),
        )
        .await;
    assert_eq!(status, 200, "{ch}");
    assert_eq!(ch["marketing_messages"], true);

    let ids = vec![
        s.send_ok(&template("promo_mm")).await,
        s.send_ok(&template("aviso_mm")).await,
        s.send_ok(&json!({"to": "+5215512348001", "type": "text", "text": {"body": "hola"}}))
            .await,
    ];
    let wamids = delivered(ids).await;
    let log = s.sandbox_messages().await;
    let endpoints: Vec<String> = wamids.iter().map(|w| endpoint_of(&log, w)).collect();
    assert_eq!(endpoints, ["marketing_messages", "messages", "messages"]);
}

on_both_backends!(marketing_templates_go_through_the_marketing_messages_api);
