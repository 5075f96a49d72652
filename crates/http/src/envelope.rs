//! The `{code, message, response}` envelope of every answer, and the one place where an
//! [`ApiError`] becomes an HTTP response.

use axum::body::to_bytes;
use axum::extract::Request;
use axum::http::header::CONTENT_TYPE;
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;
use serde_json::json;
use utoipa::ToSchema;

use openimp_core::ApiError;

/// The i'mport envelope, for the OpenAPI document.
#[derive(Serialize, ToSchema)]
pub struct Envelope<T> {
    /// 0 on success; non-zero on failure.
    pub code: i64,
    /// null on success; a (Korean) explanation on failure.
    pub message: Option<String>,
    /// null on failure.
    pub response: Option<T>,
}

/// A successful answer: HTTP 200, `code` 0.
pub fn ok<T: Serialize>(response: T) -> Response {
    with_status(StatusCode::OK, response)
}

/// A successful answer with another status (207 for partial multi-gets).
pub fn with_status<T: Serialize>(status: StatusCode, response: T) -> Response {
    (status, Json(json!({ "code": 0, "message": null, "response": response }))).into_response()
}

/// An error on its way to the wire.
#[derive(Debug)]
pub struct HttpError(pub ApiError);

impl From<ApiError> for HttpError {
    fn from(err: ApiError) -> Self {
        HttpError(err)
    }
}

impl IntoResponse for HttpError {
    fn into_response(self) -> Response {
        let (status, code, message) = self.0.envelope_parts();
        match &self.0 {
            ApiError::Internal(detail) => tracing::error!(%detail, "internal error"),
            ApiError::Unavailable(detail) => tracing::warn!(%detail, "dependency unavailable"),
            ApiError::Unwritable(detail) => tracing::error!(%detail, "the database refuses writes"),
            _ => {}
        }
        let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let mut response =
            (status, Json(json!({ "code": code, "message": message, "response": null })))
                .into_response();
        if matches!(self.0, ApiError::Unwritable(_)) {
            response.extensions_mut().insert(DatabaseRefusedWrite);
        }
        response
    }
}

/// Marks a 503 that came from a database which answers but refuses writes (disk full, read
/// only): the database is not down, so the outage gate must not start refusing every route.
#[derive(Debug, Clone, Copy)]
pub struct DatabaseRefusedWrite;

/// Marks an answer given before the request body was read to its end (a body over its cap):
/// the server closes the connection after it, so the client must not send another request on
/// it (without the header, a pooled client connection races the close and loses its request).
pub fn closing(mut response: Response) -> Response {
    response
        .headers_mut()
        .insert(axum::http::header::CONNECTION, axum::http::HeaderValue::from_static("close"));
    response
}

/// A refusal with an HTTP status no [`ApiError`] maps to (408, 414, 431): `code` -1 and a
/// message, like every other failure.
pub fn failure(status: StatusCode, message: impl Into<String>) -> Response {
    let message = message.into();
    (status, Json(json!({ "code": -1, "message": message, "response": null }))).into_response()
}

/// Wraps an error answer that is not already JSON or an HTML page (a rejection of an axum
/// extractor the handlers do not replace, say) in the envelope, keeping its status.
pub async fn ensure_envelope(request: Request, next: Next) -> Response {
    let response = next.run(request).await;
    let status = response.status();
    let content_type = response
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_ascii_lowercase();
    if status.as_u16() < 400 || content_type.contains("json") || content_type.contains("html") {
        return response;
    }
    let detail = match to_bytes(response.into_body(), 4096).await {
        Ok(bytes) => String::from_utf8_lossy(&bytes).trim().to_owned(),
        Err(_) => String::new(),
    };
    let reason = status.canonical_reason().unwrap_or("error");
    let detail = if detail.is_empty() { reason.to_owned() } else { detail };
    failure(status, format!("요청을 처리할 수 없습니다. ({detail})"))
}

pub type HttpResult = Result<Response, HttpError>;
