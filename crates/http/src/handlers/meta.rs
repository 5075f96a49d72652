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

/// `GET /readyz`: the database answers and takes a write. A read alone would stay "ready"
/// while every write fails (a full disk, a data directory remounted read-only); those answer
/// 503 with the message of [`ApiError::Unwritable`] until writes succeed again.
pub async fn readyz(State(state): State<AppState>) -> Response {
    let db = &state.gateway.db;
    let ready = match db.ping().await {
        Ok(()) => db.probe_write().await,
        Err(err) => Err(err),
    };
    match ready {
        Ok(()) => ok(serde_json::json!({ "status": "ready" })),
        Err(err) => HttpError(ApiError::from(err)).into_response(),
    }
}

/// While the health probe finds the database down, requests that need it get 503 in the
/// envelope at once rather than each waiting out the pool's acquire timeout. What needs no
/// database (liveness, metrics, the SDK script, the API schema) is still served.
pub async fn refuse_while_db_down(
    State(state): State<AppState>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let exempt = matches!(
        request.uri().path(),
        "/healthz"
            | "/metrics"
            | "/openapi.json"
            | "/v1/iamport.js"
            | "/js/iamport.payment-1.2.0.js"
    );
    if exempt {
        return next.run(request).await;
    }
    if state.gateway.db.is_down() {
        return HttpError(ApiError::Unavailable(
            "데이터베이스에 연결할 수 없습니다. (the database does not answer)".to_owned(),
        ))
        .into_response();
    }
    let response = next.run(request).await;
    let refused_write = response.extensions().get::<crate::envelope::DatabaseRefusedWrite>();
    if response.status() == StatusCode::SERVICE_UNAVAILABLE && refused_write.is_none() {
        state.gateway.db.report_unavailable();
    }
    response
}

/// Unknown paths: 404 in the envelope.
pub async fn not_found() -> Response {
    (StatusCode::NOT_FOUND, Json(serde_json::json!({"code": -1, "message": "요청한 API를 찾을 수 없습니다. (no such endpoint)", "response": null}))).into_response()
}

/// A known path with the wrong method: 405 in the envelope.
pub async fn method_not_allowed() -> Response {
    HttpError(ApiError::MethodNotAllowed).into_response()
}

/// `GET /sandbox/receipts/{tid}`: the sandbox PG's sales slip (매출전표) for an approval or a
/// cancel. The tid is random and unguessable, like a real PG's receipt link.
pub async fn receipt(
    State(state): State<AppState>,
    crate::params::Path(tid): crate::params::Path<String>,
) -> Response {
    let entry = match state.sales_slips.sales_slip(&tid).await {
        Ok(Some(entry)) => entry,
        Ok(None) => return not_found().await,
        Err(err) => return HttpError(ApiError::internal(err)).into_response(),
    };
    let escape = |s: &str| {
        s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
    };
    let kind = if entry.is_cancel { "취소 (cancel)" } else { "승인 (approval)" };
    // Korea has no daylight saving: KST is UTC+9 all year.
    let when = chrono::DateTime::from_timestamp(entry.created_at + 9 * 3600, 0)
        .map(|t| t.format("%Y-%m-%d %H:%M:%S KST").to_string())
        .unwrap_or_default();
    let html = format!(
        "<!doctype html><html lang=\"ko\"><meta charset=\"utf-8\"><title>매출전표 (sandbox receipt)</title>\
         <body><h1>매출전표 <small>(sandbox, test mode)</small></h1><dl>\
         <dt>거래구분</dt><dd>{kind}</dd><dt>거래번호 (TID)</dt><dd>{}</dd><dt>상점아이디 (MID)</dt><dd>{}</dd>\
         <dt>금액 (amount)</dt><dd>{} 원</dd><dt>카드</dt><dd>{} {}</dd><dt>승인번호</dt><dd>{}</dd><dt>일시</dt><dd>{when}</dd>\
         </dl></body></html>",
        escape(&entry.tid),
        escape(&entry.mid),
        entry.amount,
        escape(&entry.card_name),
        escape(&entry.card_number),
        escape(&entry.apply_num),
    );
    ([(axum::http::header::CONTENT_TYPE, "text/html; charset=utf-8")], html).into_response()
}
