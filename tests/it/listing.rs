//! `GET /v1/messages`: filters and cursor pagination.

use std::time::Duration;

use serde_json::{json, Value};

use crate::on_both_backends;
use crate::support::{Backend, TestServer};

async fn lists_filter_and_page(backend: Backend) {
    let server = TestServer::start(backend).await;
    let mut ids = Vec::new();
    for i in 0..5 {
        let to = if i % 2 == 0 {
            "+5511987654321"
        } else {
            "+5491123456789"
        };
        ids.push(
            server
                .send_ok(&json!({"to": to, "type": "text", "text": {"body": format!("n{i}")}}))
                .await,
        );
    }
    server
        .wait_for(&ids, &["read"], Duration::from_secs(20))
        .await;

    // Pages of two, newest first, cover all five exactly once.
    let mut seen = Vec::new();
    let mut path = "/v1/messages?limit=2".to_string();
    loop {
        let (status, page) = server.get_json(&path).await;
        assert_eq!(status, 200, "{page}");
        seen.extend(
            page["data"]
                .as_array()
                .expect("data")
                .iter()
                .map(|m| m["id"].as_str().expect("id").to_string()),
        );
        match page["next_cursor"].as_str() {
            Some(c) => path = format!("/v1/messages?limit=2&cursor={c}"),
            None => break,
        }
    }
    let mut newest_first = ids.clone();
    newest_first.reverse();
    assert_eq!(seen, newest_first);

    let (_, br) = server.get_json("/v1/messages?to=%2B5511987654321").await;
    assert_eq!(br["data"].as_array().map(Vec::len), Some(3));
    let (_, read) = server.get_json("/v1/messages?status=read").await;
    assert_eq!(read["data"].as_array().map(Vec::len), Some(5));
    let (_, queued) = server.get_json("/v1/messages?status=queued").await;
    assert_eq!(queued["data"].as_array().map(Vec::len), Some(0));
    let (_, future) = server
        .get_json("/v1/messages?since=2999-01-01T00:00:00Z")
        .await;
    assert_eq!(future["data"].as_array().map(Vec::len), Some(0));
    let (_, past) = server
        .get_json("/v1/messages?until=2999-01-01T00:00:00Z&since=2000-01-01T00:00:00Z")
        .await;
    assert_eq!(past["data"].as_array().map(Vec::len), Some(5));

    for bad in [
        "status=lost",
        "limit=0",
        "limit=abc",
        "since=yesterday",
        "to=12",
        "cursor=zz",
        "colour=red",
    ] {
        let (status, json): (u16, Value) = server.get_json(&format!("/v1/messages?{bad}")).await;
        assert_eq!(status, 400, "{bad}: {json}");
        assert_eq!(json["code"], "invalid_parameter");
    }
    server.stop().await;
}

on_both_backends!(lists_filter_and_page);
