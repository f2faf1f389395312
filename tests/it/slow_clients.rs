//! Slow and idle clients are closed, and cannot keep others from being served: a connection
//! that never finishes its head, one that sends nothing and one whose body never arrives are
//! closed after `[server]`'s timeouts, and at `max_connections` the longest-idle connection
//! makes room for a new client.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::support::{http, Backend, TestServer};

/// How long a test waits for something that should take a fraction of it.
const PATIENCE: Duration = Duration::from_secs(10);

async fn connect(s: &TestServer) -> TcpStream {
    let addr = s.base.trim_start_matches("http://");
    TcpStream::connect(addr).await.expect("connect")
}

/// Reads until the server closes the connection (EOF or reset); answers what it sent.
/// Panics if it is still open after `PATIENCE`.
async fn read_until_closed(tcp: &mut TcpStream, what: &str) -> String {
    let mut got = Vec::new();
    let closed = tokio::time::timeout(PATIENCE, async {
        let mut buf = [0u8; 4096];
        loop {
            match tcp.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => got.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await;
    assert!(closed.is_ok(), "{what}: still open after {PATIENCE:?}");
    String::from_utf8_lossy(&got).into_owned()
}

/// Reads one whole small response (head and a `Content-Length` body) off a kept-alive connection.
async fn read_response(tcp: &mut TcpStream) -> String {
    let mut got = Vec::new();
    tokio::time::timeout(PATIENCE, async {
        let mut buf = [0u8; 4096];
        loop {
            let n = tcp.read(&mut buf).await.expect("read");
            assert!(n > 0, "closed before the response: {got:?}");
            got.extend_from_slice(&buf[..n]);
            let text = String::from_utf8_lossy(&got).to_lowercase();
            if let Some((head, body)) = text.split_once("\r\n\r\n") {
                let len = head
                    .lines()
                    .find_map(|l| l.strip_prefix("content-length:"))
                    .and_then(|v| v.trim().parse::<usize>().ok())
                    .unwrap_or(0);
                if body.len() >= len {
                    return;
                }
            }
        }
    })
    .await
    .expect("a response in time");
    String::from_utf8_lossy(&got).into_owned()
}

async fn healthz_ok(base: &str) {
    // A fresh client: a new connection, not one kept alive from before.
    let resp = tokio::time::timeout(PATIENCE, http().get(format!("{base}/healthz")).send())
        .await
        .expect("/healthz answered in time")
        .expect("request");
    assert_eq!(resp.status(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_and_silent_connections_are_closed_while_others_are_served() {
    let s = TestServer::start_with(Backend::Sqlite, |c| {
        c.server.header_timeout_ms = 300;
        c.server.body_timeout_ms = 300;
        c.server.idle_timeout_ms = 300;
    })
    .await;
    let mut partial_head = connect(&s).await;
    partial_head
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: chasqui\r\nX-Slow: ")
        .await
        .expect("write");
    let mut silent = connect(&s).await;
    let mut short_body = connect(&s).await;
    short_body
        .write_all(
            b"POST /webhooks/meta HTTP/1.1\r\nHost: chasqui\r\nContent-Type: application/json\r\n\
              Content-Length: 1000\r\n\r\n{",
        )
        .await
        .expect("write");
    let mut kept_alive = connect(&s).await;
    kept_alive
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: chasqui\r\n\r\n")
        .await
        .expect("write");
    assert!(read_response(&mut kept_alive)
        .await
        .starts_with("HTTP/1.1 200"));

    // While they hang, others are served.
    healthz_ok(&s.base).await;

    let sent = read_until_closed(&mut partial_head, "a head never finished").await;
    assert_eq!(sent, "", "nothing is answered to half a head");
    read_until_closed(&mut silent, "a connection that sends nothing").await;
    read_until_closed(&mut kept_alive, "an idle kept-alive connection").await;
    let answer = read_until_closed(&mut short_body, "a body that never arrives").await;
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    let lower = answer.to_lowercase();
    assert!(
        lower.contains("content-type: application/problem+json"),
        "{answer}"
    );
    assert!(lower.contains("connection: close"), "{answer}");
    assert!(answer.contains("\"code\":\"request_timeout\""), "{answer}");

    healthz_ok(&s.base).await;
    s.stop().await;
}

/// At the cap, a new client is served long before any timeout would free a slot: the
/// connection idle the longest is closed for it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn at_the_connection_cap_the_longest_idle_connection_makes_room() {
    let s = TestServer::start_with(Backend::Sqlite, |c| {
        c.server.max_connections = 2;
        // Far beyond PATIENCE: only the cap can close these connections in time.
        c.server.header_timeout_ms = 120_000;
        c.server.idle_timeout_ms = 120_000;
    })
    .await;
    let mut kept_alive = connect(&s).await;
    kept_alive
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: chasqui\r\n\r\n")
        .await
        .expect("write");
    assert!(read_response(&mut kept_alive)
        .await
        .starts_with("HTTP/1.1 200"));
    let mut silent = connect(&s).await;
    // Accepted (and counted) before the next client comes.
    silent.write_all(b"G").await.expect("write");

    healthz_ok(&s.base).await;
    // The kept-alive connection was idle longest (the silent one opened after it).
    read_until_closed(&mut kept_alive, "the longest-idle connection").await;
    s.stop().await;
    // Shutdown closes the silent one too, though its timeouts are far off.
    read_until_closed(&mut silent, "a silent connection at shutdown").await;
}

/// A connection opened before its client has a request for it (as HTTP client pools do) is
/// idle, not a slow head: it lives until the idle timeout, and its first request is served.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_opened_ahead_of_its_request_is_served() {
    let server = TestServer::start_with(Backend::Sqlite, |c| {
        c.server.header_timeout_ms = 200;
        c.server.idle_timeout_ms = 60_000;
    })
    .await;
    let mut tcp = connect(&server).await;
    // Three header timeouts without a byte: the server must neither answer nor close.
    let mut buf = [0u8; 1];
    let quiet = tokio::time::timeout(Duration::from_millis(600), tcp.read(&mut buf)).await;
    assert!(
        quiet.is_err(),
        "closed or answered a silent new connection: {quiet:?}"
    );
    tcp.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .expect("write");
    let answer = read_response(&mut tcp).await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    server.stop().await;
}
