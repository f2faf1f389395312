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
