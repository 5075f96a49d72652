//! Service endpoints: the OpenAPI document and health checks.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use utoipa::OpenApi;

use openimp_core::ApiError;

use crate::envelope::{ok, HttpError};
use crate::AppState;

/// `GET /openapi.json`: generated from the handlers' annotations.
pub async fn openapi() -> Response {
    Json(crate::ApiDoc::openapi()).into_response()
}

/// `GET /healthz`: the process is up.
pub async fn healthz() -> Response {
    ok(serde_json::json!({ "status": "ok" }))
}

/// `GET /readyz`: the database answers.
pub async fn readyz(State(state): State<AppState>) -> Response {
    match state.gateway.db.ping().await {
        Ok(()) => ok(serde_json::json!({ "status": "ready" })),
        Err(err) => HttpError(ApiError::Unavailable(err.to_string())).into_response(),
    }
}

/// Unknown paths: 404 in the envelope.
pub async fn not_found() -> Response {
    (StatusCode::NOT_FOUND, Json(serde_json::json!({"code": -1, "message": "요청한 API를 찾을 수 없습니다. (no such endpoint)", "response": null}))).into_response()
}

/// A known path with the wrong method: 405 in the envelope.
pub async fn method_not_allowed() -> Response {
    HttpError(ApiError::MethodNotAllowed).into_response()
}
