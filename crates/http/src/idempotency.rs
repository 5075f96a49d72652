//! The `Idempotency-Key` layer: a POST with a key already answered replays that answer; the
//! same key with another request is refused. The request runs in a task that outlives a client
//! hanging up, and renews its claim while it runs, so a retry either replays the outcome or,
//! once a dead request's lease ran out, runs again.

use std::future::Future;
use std::time::Duration;

use axum::body::{to_bytes, Body};
use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};

use openimp_core::ApiError;
use openimp_service::idempotency::IdempotencyStart;
use openimp_service::MerchantId;

use crate::auth::token_from;
use crate::envelope::HttpError;
use crate::params::{too_large, unreadable_body, MAX_BODY_BYTES};
use crate::AppState;

/// How often a running request renews its claim (well inside the store's lease).
const RENEW_EVERY: Duration = Duration::from_secs(5);

/// Paths the layer never records: getToken's answer is a live access token, which must not be
/// stored in plaintext (nor replayed after it expired).
const EXEMPT_PATHS: &[&str] = &["/users/getToken"];

pub async fn layer(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let key =
        request.headers().get("idempotency-key").and_then(|v| v.to_str().ok()).map(str::to_owned);
    let Some(key) = key.filter(|_| {
        request.method() == Method::POST && !EXEMPT_PATHS.contains(&request.uri().path())
    }) else {
        return next.run(request).await;
    };
    // Keys are per merchant; a request without a valid token gets its 401 from the handler.
    let Some(token) = token_from(request.headers(), request.uri().query()) else {
        return next.run(request).await;
    };
    let merchant = match state.gateway.authenticate(&token).await {
        Ok(merchant) => merchant,
        Err(err) => return HttpError(err).into_response(),
    };
    let (parts, body) = request.into_parts();
    let bytes = match to_bytes(body, MAX_BODY_BYTES).await {
        Ok(bytes) => bytes,
        Err(err) if is_length_limit(&err) => return too_large(),
        Err(err) => return unreadable_body(&err),
    };
    let mut hasher = Sha256::new();
    hasher.update(parts.method.as_str().as_bytes());
    hasher.update(b" ");
    hasher.update(parts.uri.path().as_bytes());
    hasher.update(b"\n");
    hasher.update(&bytes);
    let request_hash = hex::encode(hasher.finalize());
    match state.gateway.idempotency_begin(&merchant, &key, &request_hash).await {
        Err(err) => HttpError(err).into_response(),
        Ok(IdempotencyStart::Replay { status, body }) => {
            let mut response = Response::new(Body::from(body));
            *response.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::OK);
            response
                .headers_mut()
                .insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
            response.headers_mut().insert("idempotent-replayed", HeaderValue::from_static("true"));
            response
        }
        Ok(IdempotencyStart::Proceed) => {
            // In a task of its own: a client that hangs up drops this future, not the request,
            // whose outcome is then recorded for the retry to replay.
            let request = Request::from_parts(parts, Body::from(bytes));
            let run = tokio::spawn(run_and_record(state, merchant, key, next.run(request)));
            match run.await {
                Ok(response) => response,
                // A panicking handler: its claim is no longer renewed, so a retry takes it
                // over once the lease runs out.
                Err(err) => HttpError(ApiError::internal(err)).into_response(),
            }
        }
    }
}

/// Runs the handler while renewing the key's claim, then records its answer.
async fn run_and_record(
    state: AppState,
    merchant: MerchantId,
    key: String,
    handler: impl Future<Output = Response>,
) -> Response {
    tokio::pin!(handler);
    let mut renew =
        tokio::time::interval_at(tokio::time::Instant::now() + RENEW_EVERY, RENEW_EVERY);
    let response = loop {
        tokio::select! {
            response = &mut handler => break response,
            _ = renew.tick() => {
                if let Err(err) = state.gateway.idempotency_renew(&merchant, &key).await {
                    tracing::warn!(%err, "could not renew an Idempotency-Key claim");
                }
            }
        }
    };
    let (parts, body) = response.into_parts();
    let bytes = match to_bytes(body, usize::MAX).await {
        Ok(bytes) => bytes,
        Err(err) => return HttpError(ApiError::internal(err)).into_response(),
    };
    let text = String::from_utf8_lossy(&bytes);
    if let Err(err) =
        state.gateway.idempotency_finish(&merchant, &key, parts.status.as_u16(), &text).await
    {
        tracing::warn!(%err, "could not record the idempotent response");
    }
    Response::from_parts(parts, Body::from(bytes))
}

/// Whether reading a body stopped at its size cap.
fn is_length_limit(err: &axum::Error) -> bool {
    let err: &(dyn std::error::Error + 'static) = err;
    std::iter::successors(Some(err), |err| err.source())
        .any(|err| err.is::<http_body_util::LengthLimitError>())
}
