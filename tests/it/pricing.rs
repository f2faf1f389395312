//! Pricing: every status webhook's `pricing` is kept on the message, typed, and messages can be
//! listed by what Meta charges them as.

use std::time::Duration;

use reqwest::Method;
use serde_json::{json, Value};

use crate::on_both_backends;
use crate::support::{Backend, TestServer, APP_SECRET, PHONE_NUMBER_ID};
use crate::templates::submit_approved;

async fn each_message_keeps_what_meta_charges_it_as(backend: Backend) {
    let s = TestServer::start(backend).await;
    submit_approved(
        &s,
        &json!({"name": "oferta_dia", "language": "es", "category": "MARKETING", "components": [
            {"type": "BODY", "text": "Hoy {{1}} con descuento.",
             "example": {"body_text": [["zapatos"]]}}]}),
    )
    .await;
    submit_approved(
        &s,
        &json!({"name": "pedido_listo", "language": "es", "category": "UTILITY", "components": [
            {"type": "BODY", "text": "Su pedido {{1}} está listo.",
             "example": {"body_text": [["A-1"]]}}]}),
    )
    .await;
    let template = |name: &str, param: &str| {
        json!({"to": "+5215512347001", "type": "template", "template": {
            "name": name, "language": {"code": "es"}, "components": [
                {"type": "body", "parameters": [{"type": "text", "text": param}]}]}})
    };
    let marketing = s.send_ok(&template("oferta_dia", "zapatos")).await;
    let utility = s.send_ok(&template("pedido_listo", "B-7")).await;
    let service = s
        .send_ok(&json!({"to": "+5215512347001", "type": "text", "text": {"body": "hola"}}))
        .await;
    let ids = [marketing.clone(), utility.clone(), service.clone()];
    s.wait_for(&ids, &["delivered", "read"], Duration::from_secs(20))
        .await;

    let pricing = |m: &Value| m["pricing"].clone();
    assert_eq!(
        pricing(&s.message(&marketing).await),
        json!({"pricing_model": "PMP", "category": "marketing", "type": "regular",
            "billable": true, "charged": true})
    );
    assert_eq!(pricing(&s.message(&utility).await)["category"], "utility");
    let free = pricing(&s.message(&service).await);
    assert_eq!(
        (&free["category"], &free["type"], &free["charged"]),
        (
            &json!("service"),
            &json!("free_customer_service"),
            &json!(false)
        ),
        "{free}"
    );

    // Queryable: by category and by type.
    let listed = |query: &str| {
        let s = &s;
        let query = query.to_string();
        async move {
            let (status, page) = s.get_json(&format!("/v1/messages?{query}")).await;
            assert_eq!(status, 200, "{page}");
            let mut ids: Vec<String> = page["data"]
                .as_array()
                .expect("data")
                .iter()
                .map(|m| m["id"].as_str().expect("id").to_string())
                .collect();
            ids.sort();
            ids
        }
    };
    assert_eq!(
        listed("pricing_category=marketing").await,
        vec![marketing.clone()]
    );
    let mut charged = vec![marketing.clone(), utility.clone()];
    charged.sort();
    assert_eq!(listed("pricing_type=regular").await, charged);
    assert_eq!(
        listed("pricing_type=free_customer_service").await,
        vec![service.clone()]
    );
    assert!(listed("pricing_category=authentication").await.is_empty());

    // What is not a pricing token is a clear 400 naming the parameter.
    let (status, bad) = s
        .request_json(
            Method::GET,
            "/v1/messages?pricing_category=%3Cb%3E",
            &Value::Null,
        )
        .await;
    assert_eq!(status, 400, "{bad}");
    assert!(bad.to_string().contains("pricing_category"), "{bad}");
}

on_both_backends!(each_message_keeps_what_meta_charges_it_as);

/// A pricing Meta sends on a later status replaces the earlier one, and a category Meta added
/// after this release is kept as sent.
async fn the_latest_pricing_wins_and_new_categories_are_kept(backend: Backend) {
    let s = TestServer::start(backend).await;
    // The sandbox reports sent and delivered only: the `read` below is Meta's first.
    s.patch_sandbox(json!({"read_after_ms": null})).await;
    let id = s
        .send_ok(&json!({"to": "+5215512347002", "type": "text", "text": {"body": "hola"}}))
        .await;
    let m = s
        .wait_for(
            std::slice::from_ref(&id),
            &["delivered"],
            Duration::from_secs(20),
        )
        .await
        .remove(0);
    let wamid = m["wamid"].as_str().expect("wamid").to_string();
    let status = json!({"object": "whatsapp_business_account", "entry": [{"id": "1", "changes": [{
        "field": "messages", "value": {"messaging_product": "whatsapp",
        "metadata": {"display_phone_number": "15550001111", "phone_number_id": PHONE_NUMBER_ID},
        "statuses": [{"id": wamid, "status": "read", "timestamp": "1767225600",
            "recipient_id": "5215512347002",
            "pricing": {"pricing_model": "PMP", "category": "general_purpose_ai",
                "type": "regular"}}]}}]}]});
    let (code, _) = s.post_meta(&status, Some(APP_SECRET)).await;
    assert_eq!(code, 200);
    let m = s.message(&id).await;
    assert_eq!(
        m["pricing"],
        json!({"pricing_model": "PMP", "category": "general_purpose_ai", "type": "regular",
            "billable": null, "charged": true}),
        "{m}"
    );
}

on_both_backends!(the_latest_pricing_wins_and_new_categories_are_kept);
