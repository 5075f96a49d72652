//! The `Idempotency-Key` layer: a POST with a key already answered replays that answer; the
//! same key with another request is refused.

use axum::body::{to_bytes, Body};
use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};

use openimp_core::ApiError;
use openimp_service::idempotency::IdempotencyStart;

use crate::auth::token_from;
use crate::envelope::HttpError;
use crate::AppState;

const MAX_BYTES: usize = 1024 * 1024;

pub async fn layer(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let key =
        request.headers().get("idempotency-key").and_then(|v| v.to_str().ok()).map(str::to_owned);
    let Some(key) = key.filter(|_| request.method() == Method::POST) else {
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
    let Ok(bytes) = to_bytes(body, MAX_BYTES).await else {
        return HttpError(ApiError::invalid("요청 본문이 너무 큽니다. (body too large)"))
            .into_response();
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
            let response = next.run(Request::from_parts(parts, Body::from(bytes))).await;
            let (parts, body) = response.into_parts();
            let bytes = match to_bytes(body, usize::MAX).await {
                Ok(bytes) => bytes,
                Err(err) => return HttpError(ApiError::internal(err)).into_response(),
            };
            let text = String::from_utf8_lossy(&bytes);
            if let Err(err) = state
                .gateway
                .idempotency_finish(&merchant, &key, parts.status.as_u16(), &text)
                .await
            {
                tracing::warn!(%err, "could not record the idempotent response");
            }
            Response::from_parts(parts, Body::from(bytes))
        }
    }
}
