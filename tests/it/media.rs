//! Media: uploads checked against WhatsApp's limits and sent by id, and files customers send
//! downloaded by Chasqui and served from `GET /v1/media/{id}`, over HTTP on both back ends.

use chasqui_domain::WorkspaceId;
use std::path::{Path, PathBuf};
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

/// A server keeping media in a fresh directory (answered too, removed by the caller).
async fn start(backend: Backend) -> (TestServer, PathBuf) {
    let dir = std::env::temp_dir().join(format!(
        "chasqui-media-test-{}",
        uuid::Uuid::now_v7().simple()
    ));
    let media_dir = dir.clone();
    let server = TestServer::start_with(backend, move |cfg| cfg.media.dir = media_dir).await;
    (server, dir)
}

/// Files in `dir` (none when it does not exist).
fn files_in(dir: &Path) -> usize {
    std::fs::read_dir(dir).map(|d| d.count()).unwrap_or(0)
}

/// The sandbox's count of accepted uploads.
async fn sandbox_uploads(server: &TestServer) -> u64 {
    let (status, stats) = server.get_json("/v1/sandbox/stats").await;
    assert_eq!(status, 200, "{stats}");
    stats["media_uploaded"].as_u64().expect("media_uploaded")
}

/// GETs `path` with `key`; answers the response.
async fn get_with(server: &TestServer, key: &str, path: &str) -> reqwest::Response {
    server
        .http
        .get(server.url(path))
        .bearer_auth(key)
        .send()
        .await
        .expect("get")
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
    let (server, dir) = start(backend).await;
    let (status, body) = upload(&server, "image/png", png(1000)).await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(sandbox_uploads(&server).await, 1);
    assert!(body["media_id"]
        .as_str()
        .is_some_and(|id| id.starts_with("md_")));
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
    let _ = std::fs::remove_dir_all(&dir);
}

async fn refused_before_upload(backend: Backend) {
    let (server, dir) = start(backend).await;
    let (status, body) = upload(&server, "application/x-msdownload", vec![b'M', b'Z', 0, 0]).await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["code"], "unsupported_media_type", "{body}");

    let (status, body) = upload(&server, "image/png", png(5_000_001)).await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["code"], "too_large", "{body}");

    let (status, body) = upload(&server, "text/html", b"<p>".to_vec()).await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["code"], "unsupported_media_type");

    // Nothing reached the provider, nothing was kept.
    assert_eq!(sandbox_uploads(&server).await, 0);
    assert_eq!(files_in(&dir), 0);
    let (status, body) = server.get_json("/v1/media/md_nothing").await;
    assert_eq!(status, 404, "{body}");
    assert_eq!(body["code"], "not_found");
    server.stop().await;
    let _ = std::fs::remove_dir_all(&dir);
}

async fn inbound_media_is_downloaded_and_served(backend: Backend) {
    let (server, dir) = start(backend).await;
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

    // Another workspace's key sees nothing, by either id.
    let store = chasqui_store::open(&server.db.url).await.expect("store");
    store
        .ensure_workspace(&WorkspaceId::from_trusted("ws_other"), "Other", 0)
        .await
        .expect("workspace");
    let other = chasqui::bootstrap::create_api_key(
        store.as_ref(),
        &WorkspaceId::from_trusted("ws_other"),
        "other",
    )
    .await
    .expect("key");
    let resp = get_with(&server, &other, &format!("/v1/media/{media_id}")).await;
    assert_eq!(resp.status(), 404);
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
    let _ = std::fs::remove_dir_all(&dir);
}

/// A media message whose file the provider does not have stays pending (409), not served.
async fn undownloadable_media_is_not_served(backend: Backend) {
    let (server, dir) = start(backend).await;
    let wamid = server
        .customer_writes(
            "5215512347003",
            "Luis",
            json!({"type": "image", "image": {"id": "4490709327384033", "mime_type": "image/png", "sha256": "x"}}),
        )
        .await;
    let media_id = chasqui::media::inbound_media_id(&wamid);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (status, body) = server.get_json(&format!("/v1/media/{media_id}")).await;
        if status == 409 {
            assert_eq!(body["code"], "conflict", "{body}");
            break;
        }
        assert_eq!(status, 404, "{body}");
        assert!(Instant::now() < deadline, "media row never created");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // By the provider's id too.
    let (status, _) = server.get_json("/v1/media/4490709327384033").await;
    assert_eq!(status, 409);
    server.stop().await;
    let _ = std::fs::remove_dir_all(&dir);
}

/// Meta's multipart form is accepted too, checked the same way.
async fn multipart_upload(backend: Backend) {
    let (server, dir) = start(backend).await;
    let post = |form: reqwest::multipart::Form| {
        server
            .http
            .post(server.url("/v1/media"))
            .bearer_auth(&server.key)
            .multipart(form)
            .send()
    };
    let part = reqwest::multipart::Part::bytes(png(10))
        .file_name("scan.png")
        .mime_str("image/png")
        .expect("mime");
    let form = reqwest::multipart::Form::new()
        .text("messaging_product", "whatsapp")
        .text("type", "image/png")
        .part("file", part);
    let resp = post(form).await.expect("post");
    assert_eq!(resp.status(), 201);
    let body: Value = resp.json().await.expect("json");
    assert_eq!(body["size"], 18, "{body}");
    assert_eq!(body["mime_type"], "image/png");

    let part = reqwest::multipart::Part::bytes(b"GIF89a".to_vec())
        .file_name("a.gif")
        .mime_str("image/gif")
        .expect("mime");
    let resp = post(reqwest::multipart::Form::new().part("file", part))
        .await
        .expect("post");
    assert_eq!(resp.status(), 422);
    let body: Value = resp.json().await.expect("json");
    assert_eq!(body["code"], "unsupported_media_type", "{body}");
    assert_eq!(sandbox_uploads(&server).await, 1);
    server.stop().await;
    let _ = std::fs::remove_dir_all(&dir);
}

on_both_backends!(
    multipart_upload,
    undownloadable_media_is_not_served,
    upload_then_send_by_id,
    refused_before_upload,
    inbound_media_is_downloaded_and_served
);
