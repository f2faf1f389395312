//! 360dialog: same body at `/messages` with `D360-API-KEY` (a stub, since no real one runs here).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::State;
use axum::http::HeaderMap;
use axum::routing::post;
use axum::{Json, Router};
use chasqui_provider::{
    http_client, Dialog360Config, ProviderConfig, SendOutcome, SendPath, SendRequest,
};
use serde_json::{json, Value};

use crate::support::*;

type Seen = Arc<Mutex<Vec<(Option<String>, Value)>>>;

#[tokio::test]
async fn posts_the_cloud_body_to_messages_with_the_api_key() {
    async fn messages(
        State(seen): State<Seen>,
        headers: HeaderMap,
        Json(body): Json<Value>,
    ) -> Json<Value> {
        let key = headers
            .get("d360-api-key")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        seen.lock().unwrap().push((key, body));
        Json(
            json!({"messaging_product": "whatsapp", "contacts": [{"input": PERU, "wa_id": PERU}],
                    "messages": [{"id": "wamid.d360"}]}),
        )
    }
    let seen: Seen = Default::default();
    let addr = serve(
        Router::new()
            .route("/messages", post(messages))
            .with_state(seen.clone()),
    )
    .await;

    let config = ProviderConfig::Dialog360(Dialog360Config {
        base_url: format!("http://{addr}/"),
        api_key: "d360-key".into(),
    });
    let provider = config.build(http_client(Duration::from_secs(5)));
    let body = json!({"type": "text", "text": {"body": "hola"}});
    let outcome = provider
        .send(SendRequest {
            message_id: "msg-9",
            to: PERU,
            body: &body,
            path: SendPath::Messages,
        })
        .await;
    assert_eq!(
        outcome,
        SendOutcome::Accepted {
            wamid: "wamid.d360".into(),
            wa_id: Some(PERU.into())
        }
    );

    let seen = seen.lock().unwrap();
    let (key, sent) = &seen[0];
    assert_eq!(key.as_deref(), Some("d360-key"));
    assert_eq!(sent["messaging_product"], "whatsapp");
    assert_eq!(sent["to"], PERU);
    assert_eq!(sent["biz_opaque_callback_data"], "msg-9");
    assert_eq!(sent["text"]["body"], "hola");
}
