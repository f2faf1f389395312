//! Media: uploads checked against WhatsApp's limits and sent by id, and files customers send
//! downloaded by Chasqui and served from `GET /v1/media/{id}`, over HTTP on both back ends.

use std::time::{Duration, Instant};

use base64::Engine as _;
use reqwest::Method;
use serde_json::{json, Value};

use crate::on_both_backends;
use crate::support::{Backend, TestServer, PHONE_NUMBER_ID};

/// A PNG signature and a few bytes: the sandbox, like the gateway, judges MIME type and size.
fn png(len: usize) -> Vec<u8> {
    let mut bytes = vec![0x89, b'P', b'N', b'G', 0x0d, 0x0a, 0x1a, 0x0a];
    bytes.extend((0..len).map(|i| (i % 251) as u8));
    bytes
}

async fn start(backend: Backend) -> TestServer {
    TestServer::start_with(backend, |cfg| {
        cfg.media.dir = std::env::temp_dir().join(format!(
            "chasqui-media-test-{}",
            uuid::Uuid::now_v7().simple()
        ));
    })
    .await
}

/// Posts `bytes` to `/v1/media` as `mime`; answers status and JSON.
async fn upload(server: &TestServer, mime: &str, bytes: Vec<u8>) -> (u16, Value) {
    let resp = server
        .http
        .post(server.url("/v1/media?filename=photo.png"))
        .bearer_auth(&server.key)
        .header("content-type", mime)
        .body(bytes)
        .send()
        .await
        .expect("request");
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
}

async fn upload_then_send_by_id(backend: Backend) {
    let server = start(backend).await;
    let (status, body) = upload(&server, "image/png", png(1000)).await;
    assert_eq!(status, 201, "{body}");
    let media_id = body["id"].as_str().expect("id").to_string();
    assert_eq!(body["mime_type"], "image/png");
    assert_eq!(body["size"], 1008);
    assert_eq!(body["sha256"].as_str().map(str::len), Some(64));

    let id = server
        .send_ok(&json!({"to": "+5215512347001", "type": "image", "image": {"id": media_id, "caption": "factura"}}))
        .await;
    server
        .wait_for(&[id], &["read"], Duration::from_secs(20))
        .await;
    let log = server.sandbox_messages().await;
    assert!(
        log.iter()
            .any(|m| m["body"]["image"]["id"] == media_id.as_str()),
        "sandbox log lacks media {media_id}: {log:?}"
    );
    // The upload is readable back by either id.
    let resp = server
        .http
        .get(server.url(&format!("/v1/media/{media_id}")))
        .bearer_auth(&server.key)
        .send()
        .await
        .expect("get");
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.bytes().await.expect("bytes").to_vec(), png(1000));
    server.stop().await;
}

async fn refused_before_upload(backend: Backend) {
    let server = start(backend).await;
    let (status, body) = upload(&server, "application/x-msdownload", vec![b'M', b'Z', 0, 0]).await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["code"], "unsupported_media_type", "{body}");

    let (status, body) = upload(&server, "image/png", png(5_000_001)).await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["code"], "too_large", "{body}");

    let (status, body) = upload(&server, "text/html", b"<p>".to_vec()).await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["code"], "unsupported_media_type");

    // Nothing reached the sandbox: an image sent by a made-up id is the only one it knows of.
    let (status, _) = server.get_json("/v1/media/md_nothing").await;
    assert_eq!(status, 404);
    server.stop().await;
}

async fn inbound_media_is_downloaded_and_served(backend: Backend) {
    let server = start(backend).await;
    let file = png(3000);
    let data = base64::engine::general_purpose::STANDARD.encode(&file);
    let (status, body) = server
        .request_json(
            Method::POST,
            "/v1/sandbox/inbound",
            &json!({
                "phone_number_id": PHONE_NUMBER_ID,
                "from": "5215512347002",
                "name": "Ana",
                "message": {"type": "image", "image": {"caption": "mi recibo"}},
                "media": {"mime_type": "image/png", "data_base64": data},
            }),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let wamid = body["id"].as_str().expect("wamid").to_string();

    // The conversation entry names the Chasqui media id.
    let deadline = Instant::now() + Duration::from_secs(20);
    let media_id = loop {
        server.drain_webhooks().await;
        let (_, page) = server.get_json("/v1/conversations?limit=200").await;
        let mut found = None;
        for c in page["data"].as_array().cloned().unwrap_or_default() {
            let id = c["id"].as_str().unwrap_or("");
            let (_, conv) = server.get_json(&format!("/v1/conversations/{id}")).await;
            for m in conv["messages"].as_array().cloned().unwrap_or_default() {
                if m["wamid"] == wamid.as_str() {
                    found = m["media_id"].as_str().map(str::to_owned);
                }
            }
        }
        if let Some(id) = found {
            break id;
        }
        assert!(Instant::now() < deadline, "inbound {wamid} never shown");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(media_id.starts_with("md_"), "{media_id}");

    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let resp = server
            .http
            .get(server.url(&format!("/v1/media/{media_id}")))
            .bearer_auth(&server.key)
            .send()
            .await
            .expect("get");
        if resp.status() == 200 {
            assert_eq!(resp.headers()["content-type"], "image/png");
            assert_eq!(resp.bytes().await.expect("bytes").to_vec(), file);
            break;
        }
        assert_eq!(resp.status(), 409, "pending media answers 409");
        assert!(Instant::now() < deadline, "media {media_id} never stored");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // Another workspace would see 404 like an unknown id; only one workspace exists here.
    let (status, body) = server.get_json("/v1/media/md_0000").await;
    assert_eq!(status, 404, "{body}");
    let (status, _) = server
        .http
        .get(server.url(&format!("/v1/media/{media_id}")))
        .send()
        .await
        .map(|r| (r.status().as_u16(), ()))
        .expect("get");
    assert_eq!(status, 401, "no API key, no media");
    server.stop().await;
}

on_both_backends!(
    upload_then_send_by_id,
    refused_before_upload,
    inbound_media_is_downloaded_and_served
);
