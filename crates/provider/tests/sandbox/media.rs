//! Media through the real Cloud API provider against the sandbox: upload, info, download, and
//! the refusals Meta answers.

use std::time::Duration;

use chasqui_provider::{ManageError, Provider};

use crate::support::*;

#[tokio::test]
async fn upload_info_and_download_round_trip() {
    let h = start(|s| s.access_token = Some("test-token".into())).await;
    let provider = h.provider();
    let bytes = b"\x89PNG\r\n\x1a\nsandbox".to_vec();
    let id = provider
        .upload_media("image/png", "a.png", bytes.clone())
        .await
        .expect("upload");
    assert!(id.bytes().all(|b| b.is_ascii_digit()), "{id}");

    let info = provider.media_info(&id).await.expect("info");
    assert_eq!(info.mime_type.as_deref(), Some("image/png"));
    assert_eq!(info.file_size, Some(bytes.len() as u64));
    assert_eq!(info.sha256.as_deref().map(str::len), Some(64));
    let downloaded = provider.download_media(&info.url).await.expect("download");
    assert_eq!(downloaded, bytes);

    // Without the token the URL is refused, like Meta's lookaside URL.
    let plain = h.http.get(&info.url).send().await.unwrap();
    assert_eq!(plain.status(), 401);
    let other = h.provider_with("wrong", Duration::from_secs(5));
    assert!(other.download_media(&info.url).await.is_err());
}

#[tokio::test]
async fn bad_uploads_get_meta_errors() {
    let h = start(|_| {}).await;
    let provider = h.provider();
    match provider
        .upload_media("application/x-msdownload", "a.exe", b"MZ".to_vec())
        .await
    {
        Err(ManageError::Rejected { http_status, error }) => {
            assert_eq!(http_status, 400);
            assert_eq!(error.code, 131053);
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
    match provider.media_info("999").await {
        Err(ManageError::Rejected { error, .. }) => assert_eq!(error.code, 100),
        other => panic!("expected a refusal, got {other:?}"),
    }
}

#[tokio::test]
async fn inbound_media_is_served_by_the_id_the_webhook_carries() {
    use base64::Engine as _;
    use serde_json::{json, Value};
    use sha2::{Digest, Sha256};

    let h = start(|_| {}).await;
    let file = b"%PDF-1.4 sandbox".to_vec();
    let request = json!({
        "phone_number_id": PHONE_NUMBER_ID,
        "from": PERU,
        "message": {"type": "document", "document": {"filename": "recibo.pdf"}},
        "media": {"mime_type": "application/pdf", "data_base64": base64::engine::general_purpose::STANDARD.encode(&file)},
    });
    let answer = h.post_inbound(&request).await;
    assert_eq!(answer.status(), 200);
    assert!(eventually(Duration::from_secs(3), || h.payload_count() == 1).await);
    let payload = h.hooks.lock().unwrap().payloads[0].clone();
    let document: Value =
        payload["entry"][0]["changes"][0]["value"]["messages"][0]["document"].clone();
    assert_eq!(document["filename"], "recibo.pdf");
    assert_eq!(document["mime_type"], "application/pdf");
    assert_eq!(
        document["sha256"],
        base64::engine::general_purpose::STANDARD.encode(Sha256::digest(&file))
    );
    let id = document["id"].as_str().unwrap();
    let provider = h.provider();
    let info = provider.media_info(id).await.expect("info");
    assert_eq!(provider.download_media(&info.url).await.unwrap(), file);

    // Media on a message type that carries none is refused.
    let bad = json!({
        "phone_number_id": PHONE_NUMBER_ID,
        "from": PERU,
        "message": {"type": "text", "text": {"body": "hola"}},
        "media": {"mime_type": "image/png", "data_base64": "AAAA"},
    });
    let answer = h.post_inbound(&bad).await;
    assert_eq!(answer.status(), 422);
}

/// 360dialog: `/media`, `/{media_id}` and the lookaside path re-rooted at its host, each with
/// `D360-API-KEY` (a stub, since no real one runs here).
#[tokio::test]
async fn dialog360_media_goes_through_its_host_with_the_key() {
    use axum::body::Bytes;
    use axum::http::{HeaderMap, StatusCode};
    use axum::response::IntoResponse;
    use axum::routing::{get, post};
    use axum::{Json, Router};
    use chasqui_provider::{http_client, Dialog360Config, ProviderConfig};
    use serde_json::json;

    fn key_ok(headers: &HeaderMap) -> bool {
        headers.get("d360-api-key").and_then(|v| v.to_str().ok()) == Some("d360-key")
    }
    async fn upload(headers: HeaderMap, body: Bytes) -> axum::response::Response {
        let multipart = String::from_utf8_lossy(&body).contains("name=\"messaging_product\"");
        if !key_ok(&headers) || !multipart {
            return StatusCode::UNAUTHORIZED.into_response();
        }
        Json(json!({"id": "360001"})).into_response()
    }
    async fn info(headers: HeaderMap) -> axum::response::Response {
        if !key_ok(&headers) {
            return StatusCode::UNAUTHORIZED.into_response();
        }
        Json(
            json!({"url": "https://lookaside.fbsbx.com/whatsapp_business/attachments/?mid=360001",
                    "mime_type": "image/jpeg", "sha256": "abc", "file_size": 3}),
        )
        .into_response()
    }
    async fn file(headers: HeaderMap) -> axum::response::Response {
        if !key_ok(&headers) {
            return StatusCode::UNAUTHORIZED.into_response();
        }
        b"jpg".to_vec().into_response()
    }
    let addr = serve(
        Router::new()
            .route("/media", post(upload))
            .route("/360001", get(info))
            .route("/whatsapp_business/attachments/", get(file)),
    )
    .await;
    let config = Dialog360Config {
        base_url: format!("http://{addr}"),
        api_key: "d360-key".into(),
    };
    let provider = ProviderConfig::Dialog360(config).build(http_client(Duration::from_secs(5)));
    let id = provider
        .upload_media("image/jpeg", "a.jpg", b"jpg".to_vec())
        .await
        .expect("upload");
    assert_eq!(id, "360001");
    let info = provider.media_info(&id).await.expect("info");
    assert_eq!(info.file_size, Some(3));
    assert_eq!(provider.download_media(&info.url).await.unwrap(), b"jpg");
}
