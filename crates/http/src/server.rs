//! The HTTP server around the router: an accept loop capped at a number of open connections,
//! hyper's header-read timeout, a body timeout and a whole-request deadline (each answered in
//! the envelope where the server can still answer), URI and header size caps, trailing-slash
//! paths, and graceful shutdown. `axum::serve` has none of these knobs.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{ConnectInfo, Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::Response;
use axum::Router;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tower::{Layer, ServiceExt};
use tower_http::normalize_path::NormalizePathLayer;
use tower_http::timeout::RequestBodyTimeoutLayer;

use crate::envelope::failure;

/// Longest request target (path and query) answered by a handler; longer ones get a 414
/// envelope. Below hyper's own fixed cap (64 KB), which answers an empty 414.
pub const MAX_URI_BYTES: usize = 48 * 1024;
/// Most bytes of request headers (names and values) answered by a handler; more gets a 431
/// envelope. hyper's read buffer is set above it so that the layer sees such requests.
pub const MAX_HEADER_BYTES: usize = 64 * 1024;
/// Most request header lines answered by a handler; more gets a 431 envelope. hyper is allowed
/// twice as many before it answers an empty 431 itself.
pub const MAX_HEADER_COUNT: usize = 100;
/// hyper's read buffer: room for [`MAX_HEADER_BYTES`] plus the URI.
const HYPER_MAX_BUF: usize = 256 * 1024;

/// Timeouts and caps of the server. The defaults are meant for production, behind a reverse
/// proxy that has its own.
#[derive(Debug, Clone)]
pub struct ServerLimits {
    /// A client must send its whole request head within this (slowloris). Also closes an idle
    /// keep-alive connection.
    pub header_read_timeout: Duration,
    /// A client must send its whole body within this; otherwise 408.
    pub body_timeout: Duration,
    /// A request must be answered within this; otherwise 408. Longer than the PG timeout, so a
    /// charge that waits on the PG is answered with its outcome.
    pub request_timeout: Duration,
    /// Open connections at most; further clients wait in the listen backlog.
    pub max_connections: usize,
}

impl Default for ServerLimits {
    fn default() -> Self {
        ServerLimits {
            header_read_timeout: Duration::from_secs(10),
            body_timeout: Duration::from_secs(30),
            request_timeout: Duration::from_secs(60),
            max_connections: 10_000,
        }
    }
}

/// Serves `router` on `listener` until `shutdown` completes, then lets open requests finish.
/// Handlers can read the peer address with `ConnectInfo<SocketAddr>`.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: ServerLimits,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
    let app = NormalizePathLayer::trim_trailing_slash().layer(with_limits(router, &limits));
    // HTTP/1.1 only, as axum::serve was built here; a proxy in front may speak HTTP/2.
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout)
        .max_headers(MAX_HEADER_COUNT * 2)
        .max_buf_size(HYPER_MAX_BUF);
    let slots = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    let graceful = GracefulShutdown::new();
    tokio::pin!(shutdown);
    loop {
        let slot = tokio::select! {
            slot = slots.clone().acquire_owned() => slot.expect("the semaphore is never closed"),
            () = &mut shutdown => break,
        };
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(err) => {
                    // Out of file descriptors, say: wait instead of spinning.
                    tracing::warn!(%err, "accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let _ = stream.set_nodelay(true);
        let app = app.clone();
        let service =
            TowerToHyperService::new(tower::service_fn(move |mut request: Request<_>| {
                request.extensions_mut().insert(ConnectInfo(peer));
                app.clone().oneshot(request.map(axum::body::Body::new))
            }));
        let connection = graceful.watch(builder.serve_connection(TokioIo::new(stream), service));
        tokio::spawn(async move {
            if let Err(err) = connection.await {
                tracing::debug!(%err, %peer, "connection closed with an error");
            }
            drop(slot);
        });
    }
    drop(listener);
    // Requests in flight may finish; none may hold the shutdown past the request deadline.
    if tokio::time::timeout(limits.request_timeout, graceful.shutdown()).await.is_err() {
        tracing::warn!("connections still open at shutdown were dropped");
    }
    Ok(())
}

/// The router with the limits a handler can answer in the envelope.
fn with_limits(router: Router, limits: &ServerLimits) -> Router {
    router
        .layer(axum::middleware::from_fn_with_state(limits.request_timeout, request_deadline))
        .layer(RequestBodyTimeoutLayer::new(limits.body_timeout))
        .layer(axum::middleware::from_fn(refuse_oversized_head))
}

/// Answers 408 in the envelope when a request takes longer than its deadline. A charge keeps
/// running in its own task; its outcome can be looked up or replayed by Idempotency-Key.
async fn request_deadline(State(limit): State<Duration>, request: Request, next: Next) -> Response {
    match tokio::time::timeout(limit, next.run(request)).await {
        Ok(response) => response,
        Err(_) => failure(
            StatusCode::REQUEST_TIMEOUT,
            "요청 처리 시간이 초과되었습니다. 결제 여부는 조회로 확인하세요. (the request timed out; look the payment up before retrying)",
        ),
    }
}

/// 414 / 431 in the envelope for a request target or headers over the caps.
async fn refuse_oversized_head(request: Request, next: Next) -> Response {
    let uri_bytes = request.uri().path_and_query().map_or(0, |pq| pq.as_str().len());
    if uri_bytes > MAX_URI_BYTES {
        return failure(
            StatusCode::URI_TOO_LONG,
            format!("요청 주소가 너무 깁니다. (the request target is longer than {MAX_URI_BYTES} bytes)"),
        );
    }
    let headers = request.headers();
    let header_bytes: usize =
        headers.iter().map(|(name, value)| name.as_str().len() + value.len()).sum();
    if headers.len() > MAX_HEADER_COUNT || header_bytes > MAX_HEADER_BYTES {
        return failure(
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            format!("요청 헤더가 너무 큽니다. (more than {MAX_HEADER_COUNT} headers or {MAX_HEADER_BYTES} bytes of headers)"),
        );
    }
    next.run(request).await
}
