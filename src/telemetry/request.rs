//! One span per HTTP request (method, matched route, status, latency, request id), and the
//! request id itself: the caller's `X-Request-Id` when it is a sane token, else a new one,
//! echoed on every answer and in every problem body.

use std::time::Instant;

use axum::extract::{MatchedPath, Request};
use axum::http::{HeaderName, HeaderValue};
use axum::middleware::Next;
use axum::response::Response;
use tracing::Instrument;

/// The header that carries the request id both ways.
pub static REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Longest caller request id kept; a longer one is replaced, as is one with other characters.
const MAX_LEN: usize = 128;

tokio::task_local! {
    static CURRENT: HeaderValue;
}

/// The id of the request being handled on this task, if any (for problem bodies).
pub fn current() -> Option<String> {
    CURRENT
        .try_with(|v| v.to_str().ok().map(str::to_string))
        .ok()
        .flatten()
}

/// Runs `f` as if handling the request whose answer is `resp` (its `X-Request-Id`), so a
/// problem made outside the router (a body timeout) carries the same id.
pub fn with_id_of<T>(resp: &Response, f: impl FnOnce() -> T) -> T {
    match resp.headers().get(&REQUEST_ID) {
        Some(id) => CURRENT.sync_scope(id.clone(), f),
        None => f(),
    }
}

/// The caller's id when it is 1 to 128 characters of letters, digits and `-_.:`; a log line
/// or a header cannot be forged through it.
fn valid(v: &HeaderValue) -> bool {
    let b = v.as_bytes();
    !b.is_empty()
        && b.len() <= MAX_LEN
        && b.iter()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.' | b':'))
}

fn request_id(req: &Request) -> HeaderValue {
    match req.headers().get(&REQUEST_ID) {
        Some(v) if valid(v) => v.clone(),
        // A UUID's simple form is always a valid header value.
        _ => HeaderValue::from_str(&uuid::Uuid::now_v7().simple().to_string())
            .unwrap_or_else(|_| HeaderValue::from_static("unknown")),
    }
}

/// The outer layer: opens the request's span, runs the request inside it with its id, and
/// records status and latency; the id goes back in `X-Request-Id`.
pub async fn trace(mut req: Request, next: Next) -> Response {
    let started = Instant::now();
    let id = request_id(&req);
    req.headers_mut().insert(REQUEST_ID.clone(), id.clone());
    let span = tracing::info_span!(
        "request",
        method = %req.method(),
        route = tracing::field::Empty,
        status = tracing::field::Empty,
        latency_ms = tracing::field::Empty,
        request_id = id.to_str().unwrap_or(""),
    );
    let mut resp = CURRENT
        .scope(id.clone(), next.run(req).instrument(span.clone()))
        .await;
    let latency_ms = started.elapsed().as_secs_f64() * 1e3;
    let status = resp.status().as_u16();
    span.record("status", status);
    span.record("latency_ms", latency_ms);
    // Debug: at thousands of requests a second an access line each would be most of the log.
    span.in_scope(|| tracing::debug!(target: "chasqui::request", status, latency_ms, "answered"));
    resp.headers_mut().insert(REQUEST_ID.clone(), id);
    resp
}

/// The inner layer, run once routing matched: names the route (its template, never the
/// concrete path, which holds ids) in the request's span.
pub async fn note_route(req: Request, next: Next) -> Response {
    if let Some(path) = req.extensions().get::<MatchedPath>() {
        tracing::Span::current().record("route", path.as_str());
    }
    next.run(req).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_sane_caller_ids_are_kept() {
        for ok in ["abc", "req-1_2.3:4", &"a".repeat(128)] {
            assert!(valid(&HeaderValue::from_str(ok).expect("value")), "{ok}");
        }
        for bad in ["", "a b", "x\"y", "é", &"a".repeat(129), "a\tb"] {
            let v = HeaderValue::from_bytes(bad.as_bytes());
            assert!(v.map_or(true, |v| !valid(&v)), "{bad:?}");
        }
    }
}
