//! The HTTP server: an accept loop over hyper's HTTP/1 connections with a watchdog per
//! connection (header, idle and body timeouts), a cap on open connections, and graceful
//! shutdown.
//!
//! hyper's own `header_read_timeout` is not used: in hyper 1.x its clock also runs while a
//! kept-alive connection waits for its next request, so it cannot tell a slow head from an idle
//! connection. The watchdog sees both: bytes read (through [`Tracked`]) and requests in flight
//! (through the service wrapper).

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::body::{Body, Bytes};
use axum::http::{header, HeaderValue, Request, Response};
use axum::response::IntoResponse;
use http_body::{Body as _, Frame, SizeHint};
use hyper::body::Incoming;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{watch, Notify, OwnedSemaphorePermit, Semaphore};

use crate::api::error::ApiError;
use crate::config::ServerConfig;

/// How long a connection told to close (shutdown, or evicted for a new client) may take to do
/// it once it has no request in flight: enough to flush a response just written.
const CLOSE_GRACE: Duration = Duration::from_millis(500);

/// "Not set" in the millisecond fields of [`ConnState`].
const NONE: u64 = u64::MAX;

/// The timeouts and the connection cap, from `[server]`.
#[derive(Debug, Clone, Copy)]
pub struct Settings {
    header: Duration,
    body: Duration,
    idle: Duration,
    max_connections: usize,
}

impl From<&ServerConfig> for Settings {
    fn from(c: &ServerConfig) -> Self {
        Self {
            header: Duration::from_millis(c.header_timeout_ms.max(1)),
            body: Duration::from_millis(c.body_timeout_ms.max(1)),
            idle: Duration::from_millis(c.idle_timeout_ms.max(1)),
            max_connections: c.max_connections.max(1),
        }
    }
}

/// What the watchdog of one connection knows; times are milliseconds since `opened`.
struct ConnState {
    opened: Instant,
    in_flight: AtomicUsize,
    /// When the current request head began (its first byte); `NONE` while idle or while a
    /// request is in flight.
    head_since: AtomicU64,
    /// When the last response finished.
    idle_since: AtomicU64,
    /// When the connection must be gone if it has no request in flight (shutdown, eviction).
    close_at: AtomicU64,
    changed: Notify,
}

impl ConnState {
    fn new() -> Self {
        Self {
            opened: Instant::now(),
            in_flight: AtomicUsize::new(0),
            // A new connection is idle until its first byte: an HTTP client's pool may open one
            // before it has a request for it (hyper's does, racing a busy connection), and
            // closing it at the header timeout would reset the request it later sends.
            head_since: AtomicU64::new(NONE),
            idle_since: AtomicU64::new(0),
            close_at: AtomicU64::new(NONE),
            changed: Notify::new(),
        }
    }

    fn now_ms(&self) -> u64 {
        u64::try_from(self.opened.elapsed().as_millis()).unwrap_or(NONE - 1)
    }

    /// Bytes arrived: while idle, they start the next request's head (and its header clock).
    fn on_bytes(&self) {
        if self.in_flight.load(Ordering::Acquire) == 0
            && self.head_since.load(Ordering::Acquire) == NONE
            && self
                .head_since
                .compare_exchange(NONE, self.now_ms(), Ordering::AcqRel, Ordering::Acquire)
                .is_ok()
        {
            self.changed.notify_one();
        }
    }

    /// When the connection is to be closed, unless a request is in flight.
    fn deadline(&self, settings: &Settings) -> Option<Instant> {
        if self.in_flight.load(Ordering::Acquire) > 0 {
            return None;
        }
        let ms = |d: Duration| u64::try_from(d.as_millis()).unwrap_or(NONE - 1);
        let phase = match self.head_since.load(Ordering::Acquire) {
            NONE => self
                .idle_since
                .load(Ordering::Acquire)
                .saturating_add(ms(settings.idle)),
            head => head.saturating_add(ms(settings.header)),
        };
        let at = phase.min(self.close_at.load(Ordering::Acquire));
        Some(self.opened + Duration::from_millis(at))
    }

    /// When the current phase (head or idle) began, to find the oldest idle connection.
    fn quiet_since(&self) -> Instant {
        let at = match self.head_since.load(Ordering::Acquire) {
            NONE => self.idle_since.load(Ordering::Acquire),
            head => head,
        };
        self.opened + Duration::from_millis(at)
    }

    /// Asks the connection to close: after its request if one is in flight; at once while a
    /// head is coming in (nothing of ours is left to send); otherwise within [`CLOSE_GRACE`].
    fn close_soon(&self) {
        let grace = if self.head_since.load(Ordering::Acquire) == NONE {
            CLOSE_GRACE.as_millis() as u64
        } else {
            0
        };
        let at = self.now_ms().saturating_add(grace);
        if self
            .close_at
            .compare_exchange(NONE, at, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
        {
            self.changed.notify_one();
        }
    }

    fn closing(&self) -> bool {
        self.close_at.load(Ordering::Acquire) != NONE
    }
}

/// Counts a request in flight from its head to the end of its response body.
struct InFlight(Arc<ConnState>);

impl InFlight {
    fn start(state: Arc<ConnState>) -> Self {
        state.in_flight.fetch_add(1, Ordering::AcqRel);
        state.head_since.store(NONE, Ordering::Release);
        Self(state)
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        let s = &self.0;
        s.idle_since.store(s.now_ms(), Ordering::Release);
        if s.in_flight.fetch_sub(1, Ordering::AcqRel) == 1 {
            s.changed.notify_one();
        }
    }
}

/// The open connections, for evicting the oldest idle one when the cap is reached.
#[derive(Default)]
struct Registry {
    next: AtomicU64,
    open: Mutex<std::collections::HashMap<u64, Arc<ConnState>>>,
}

impl Registry {
    fn add(&self, state: Arc<ConnState>) -> u64 {
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        self.lock().insert(id, state);
        id
    }

    fn remove(&self, id: u64) {
        self.lock().remove(&id);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, std::collections::HashMap<u64, Arc<ConnState>>> {
        self.open.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Tells the connection quiet the longest (no request in flight) to close.
    fn evict_oldest_idle(&self) {
        let open = self.lock();
        let oldest = open
            .values()
            .filter(|c| c.in_flight.load(Ordering::Acquire) == 0 && !c.closing())
            .min_by_key(|c| c.quiet_since());
        if let Some(c) = oldest {
            tracing::debug!("connection cap reached: closing the oldest idle connection");
            c.close_soon();
        }
    }
}

/// The socket, telling the watchdog when bytes arrive.
struct Tracked {
    tcp: TcpStream,
    state: Arc<ConnState>,
}

impl AsyncRead for Tracked {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let polled = Pin::new(&mut this.tcp).poll_read(cx, buf);
        if matches!(polled, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            this.state.on_bytes();
        }
        polled
    }
}

impl AsyncWrite for Tracked {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.get_mut().tcp).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.get_mut().tcp).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.tcp.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().tcp).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().tcp).poll_shutdown(cx)
    }
}

/// The request body did not arrive within `server.body_timeout_ms`.
#[derive(Debug, thiserror::Error)]
#[error("the request body was not received in time")]
pub struct BodyTimeout;

/// A request body with one deadline for all of it (tower-http's `TimeoutBody` restarts its
/// clock at every frame, so a byte at a time would never time out).
struct DeadlineBody {
    inner: Incoming,
    deadline: Pin<Box<tokio::time::Sleep>>,
    timed_out: Arc<AtomicBool>,
}

impl http_body::Body for DeadlineBody {
    type Data = Bytes;
    type Error = Box<dyn std::error::Error + Send + Sync>;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let this = self.get_mut();
        if this.timed_out.load(Ordering::Acquire) {
            return Poll::Ready(Some(Err(Box::new(BodyTimeout))));
        }
        if let Poll::Ready(frame) = Pin::new(&mut this.inner).poll_frame(cx) {
            return Poll::Ready(frame.map(|f| f.map_err(Into::into)));
        }
        if this.deadline.as_mut().poll(cx).is_ready() {
            this.timed_out.store(true, Ordering::Release);
            return Poll::Ready(Some(Err(Box::new(BodyTimeout))));
        }
        Poll::Pending
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// A response body that keeps its request counted in flight until it is sent.
struct Counted {
    inner: Body,
    _in_flight: InFlight,
}

impl http_body::Body for Counted {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        Pin::new(&mut self.get_mut().inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// The app as hyper calls it, per connection.
struct Service<S> {
    app: S,
    state: Arc<ConnState>,
    body_timeout: Duration,
}

type Answer = Pin<Box<dyn Future<Output = Result<Response<Body>, Infallible>> + Send>>;

impl<S> hyper::service::Service<Request<Incoming>> for Service<S>
where
    S: tower::Service<Request<Body>, Response = Response<Body>, Error = Infallible>
        + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
{
    type Response = Response<Body>;
    type Error = Infallible;
    type Future = Answer;

    fn call(&self, req: Request<Incoming>) -> Self::Future {
        let in_flight = InFlight::start(self.state.clone());
        let timed_out = Arc::new(AtomicBool::new(false));
        let req = req.map(|inner| {
            if inner.is_end_stream() {
                Body::new(inner)
            } else {
                Body::new(DeadlineBody {
                    inner,
                    deadline: Box::pin(tokio::time::sleep(self.body_timeout)),
                    timed_out: timed_out.clone(),
                })
            }
        });
        let mut app = self.app.clone();
        Box::pin(async move {
            let Ok(()) = std::future::poll_fn(|cx| app.poll_ready(cx)).await;
            let Ok(resp) = app.call(req).await;
            // Whatever the handler made of the failed read, the answer is the timeout.
            let resp = if timed_out.load(Ordering::Acquire) {
                let mut r = crate::telemetry::request::with_id_of(&resp, || {
                    ApiError::RequestTimeout.into_response()
                });
                if let Some(id) = resp.headers().get(&crate::telemetry::request::REQUEST_ID) {
                    r.headers_mut()
                        .insert(crate::telemetry::request::REQUEST_ID.clone(), id.clone());
                }
                r.headers_mut()
                    .insert(header::CONNECTION, HeaderValue::from_static("close"));
                r
            } else {
                resp
            };
            Ok(resp.map(|inner| {
                Body::new(Counted {
                    inner,
                    _in_flight: in_flight,
                })
            }))
        })
    }
}

/// Serves `app` on `listener` until `shutdown` completes; then stops accepting, lets requests
/// in flight finish, closes idle connections and returns once every connection is gone.
pub async fn serve<S>(
    listener: TcpListener,
    app: S,
    settings: Settings,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()>
where
    S: tower::Service<Request<Body>, Response = Response<Body>, Error = Infallible>
        + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
{
    let slots = Arc::new(Semaphore::new(settings.max_connections));
    let registry = Arc::new(Registry::default());
    let (stop_tx, stop_rx) = watch::channel(false);
    tokio::pin!(shutdown);
    loop {
        let tcp = tokio::select! {
            _ = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok((tcp, _)) => tcp,
                Err(e) => {
                    // Out of file descriptors, mostly: wait for connections to close rather
                    // than spin on accept.
                    tracing::warn!(error = %e, "accepting a connection failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
        };
        // At the cap, the longest-idle connection makes room: a new client (a health check
        // among them) is served at once rather than after an idle timeout.
        let permit = match slots.clone().try_acquire_owned() {
            Ok(p) => p,
            Err(_) => {
                registry.evict_oldest_idle();
                tokio::select! {
                    _ = &mut shutdown => break,
                    p = slots.clone().acquire_owned() => match p {
                        Ok(p) => p,
                        Err(_) => break,
                    },
                }
            }
        };
        if let Err(e) = tcp.set_nodelay(true) {
            // An answer would wait behind the peer's delayed ACK; serve anyway.
            tracing::debug!(error = %e, "cannot set TCP_NODELAY; serving the connection anyway");
        }
        tokio::spawn(connection(
            tcp,
            app.clone(),
            settings,
            registry.clone(),
            stop_rx.clone(),
            permit,
        ));
    }
    drop(listener);
    let _ = stop_tx.send(true);
    let all = u32::try_from(settings.max_connections).unwrap_or(u32::MAX);
    let _ = slots.acquire_many(all).await;
    Ok(())
}

/// Drives one connection under its watchdog.
async fn connection<S>(
    tcp: TcpStream,
    app: S,
    settings: Settings,
    registry: Arc<Registry>,
    mut stop: watch::Receiver<bool>,
    _permit: OwnedSemaphorePermit,
) where
    S: tower::Service<Request<Body>, Response = Response<Body>, Error = Infallible>
        + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
{
    let state = Arc::new(ConnState::new());
    let id = registry.add(state.clone());
    let io = hyper_util::rt::TokioIo::new(Tracked {
        tcp,
        state: state.clone(),
    });
    let service = Service {
        app,
        state: state.clone(),
        body_timeout: settings.body,
    };
    let conn = hyper::server::conn::http1::Builder::new()
        .keep_alive(true)
        .header_read_timeout(None::<Duration>)
        .serve_connection(io, service);
    tokio::pin!(conn);
    let mut told_to_close = false;
    loop {
        if state.closing() && !told_to_close {
            told_to_close = true;
            conn.as_mut().graceful_shutdown();
        }
        let deadline = state.deadline(&settings);
        let far = Instant::now() + Duration::from_secs(86_400);
        let sleep = tokio::time::sleep_until(deadline.unwrap_or(far).into());
        tokio::select! {
            done = conn.as_mut() => {
                if let Err(e) = done {
                    tracing::debug!(error = %e, "connection ended with an error");
                }
                break;
            }
            _ = state.changed.notified() => {}
            changed = stop.changed(), if !state.closing() => {
                if changed.is_err() || *stop.borrow() {
                    state.close_soon();
                }
            }
            _ = sleep, if deadline.is_some() => {
                if state.deadline(&settings).is_some_and(|d| d <= Instant::now()) {
                    tracing::debug!("closing a slow or idle connection");
                    break;
                }
            }
        }
    }
    registry.remove(id);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> Settings {
        Settings {
            header: Duration::from_secs(10),
            body: Duration::from_secs(60),
            idle: Duration::from_secs(75),
            max_connections: 4,
        }
    }

    fn after(state: &ConnState, d: Option<Instant>) -> Option<Duration> {
        d.map(|d| d.saturating_duration_since(state.opened))
    }

    #[test]
    fn each_phase_has_its_own_clock() {
        let s = settings();
        let state = Arc::new(ConnState::new());
        // A new connection is idle until its first byte, then owes its head.
        assert_eq!(after(&state, state.deadline(&s)), Some(s.idle));
        state.on_bytes();
        let head = after(&state, state.deadline(&s)).expect("deadline");
        assert!(head >= s.header && head < s.idle, "{head:?}");
        // In flight: no deadline here (the body has its own, the handler none).
        let request = InFlight::start(state.clone());
        state.on_bytes();
        assert_eq!(state.deadline(&s), None);
        drop(request);
        // Idle: the idle timeout from the end of the response.
        let idle = after(&state, state.deadline(&s)).expect("deadline");
        assert!(idle >= s.idle && idle < s.idle + s.header, "{idle:?}");
        // The next head's first byte starts the header clock.
        state.on_bytes();
        let head = after(&state, state.deadline(&s)).expect("deadline");
        assert!(head >= s.header && head < s.idle, "{head:?}");
    }

    #[test]
    fn a_connection_told_to_close_goes_at_once_while_a_head_comes_in() {
        let s = settings();
        let state = ConnState::new();
        state.on_bytes();
        state.close_soon();
        assert!(state.closing());
        let at = after(&state, state.deadline(&s)).expect("deadline");
        assert!(at < Duration::from_millis(100), "{at:?}");
    }
}
