//! The browser side: the `IMP` SDK (`/v1/iamport.js`), the window session endpoint the SDK
//! calls from the merchant's page (CORS), and the hosted window's server-rendered pages.
//!
//! No business rule here: the checks and the payment happen in `openimp_service::window`.

mod handoff;
mod pages;

use axum::body::Body as RawBody;
use axum::extract::{Path, State};
use axum::http::header::{self, HeaderMap, HeaderValue};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::Value;

use openimp_core::ApiError;
use openimp_service::window::{CardForm, OpenCommand, Submitted, WindowPage, WindowView};

use crate::envelope::HttpError;
use crate::params::Body;
use crate::AppState;

const SDK: &str = include_str!("iamport.js");

/// `GET /v1/iamport.js` and `GET /js/iamport.payment-1.2.0.js`.
pub async fn sdk() -> Response {
    (
        [
            (header::CONTENT_TYPE, "application/javascript; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=300"),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        ],
        SDK,
    )
        .into_response()
}

#[derive(Deserialize)]
struct OpenBody {
    #[serde(default)]
    imp_code: String,
    #[serde(default)]
    params: Value,
    #[serde(default)]
    mobile: bool,
}

fn cors(headers: &HeaderMap, mut response: Response) -> Response {
    if let Some(origin) = headers.get(header::ORIGIN) {
        let out = response.headers_mut();
        out.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin.clone());
        out.insert(header::VARY, HeaderValue::from_static("Origin"));
    }
    response
}

/// `OPTIONS /window/sessions`: the CORS preflight of the SDK's JSON POST.
pub async fn preflight(headers: HeaderMap) -> Response {
    let mut response = StatusCode::NO_CONTENT.into_response();
    let out = response.headers_mut();
    out.insert(header::ACCESS_CONTROL_ALLOW_METHODS, HeaderValue::from_static("POST"));
    out.insert(header::ACCESS_CONTROL_ALLOW_HEADERS, HeaderValue::from_static("content-type"));
    out.insert(header::ACCESS_CONTROL_MAX_AGE, HeaderValue::from_static("600"));
    cors(&headers, response)
}

/// The most a `POST /window/sessions` body may carry: a request_pay with every field at its
/// limit fits in a few KB, and the endpoint takes no credentials.
pub const OPEN_BODY_MAX_BYTES: usize = 16 * 1024;

/// `POST /window/sessions`: the SDK opens a window for `IMP.request_pay(params)`.
pub async fn open(State(state): State<AppState>, headers: HeaderMap, body: RawBody) -> Response {
    let Ok(body) = axum::body::to_bytes(body, OPEN_BODY_MAX_BYTES).await else {
        // The rest of the body is never read: the connection closes after this answer.
        let refusal = ApiError::invalid(format!(
            "요청 본문은 {}KB 이내여야 합니다. (the request body is at most {} KB)",
            OPEN_BODY_MAX_BYTES / 1024,
            OPEN_BODY_MAX_BYTES / 1024
        ));
        return cors(&headers, crate::envelope::closing(HttpError(refusal).into_response()));
    };
    let result = async {
        let body: OpenBody = serde_json::from_slice(&body).map_err(|err| {
            ApiError::invalid(format!("요청 본문이 올바른 JSON이 아닙니다. ({err})"))
        })?;
        let text = |name: header::HeaderName| {
            headers.get(name).and_then(|v| v.to_str().ok()).map(str::to_owned)
        };
        let command = OpenCommand {
            imp_code: body.imp_code,
            params: body.params,
            origin: text(header::ORIGIN).unwrap_or_default(),
            mobile: body.mobile,
            user_agent: text(header::USER_AGENT),
        };
        state.gateway.open_window(command).await
    }
    .await;
    let response = match result {
        Ok(opened) => crate::envelope::ok(opened),
        Err(err) => HttpError(err).into_response(),
    };
    cors(&headers, response)
}

/// `GET /window/{id}`: the window (openimp's form, the hand-off to the PG's own window, or
/// the result once done).
pub async fn page(State(state): State<AppState>, Path(id): Path<String>) -> Response {
    match state.gateway.window_page(&id).await {
        Ok(WindowPage::Hosted(view)) => show(&view, None),
        Ok(WindowPage::HandedOff { view, handoff }) => match &view.result {
            Some(rsp) => pages::result(&view, rsp),
            None => handoff::page(&view, &handoff),
        },
        Err(err) => pages::error(&err),
    }
}

/// `GET|POST /window/{id}/return`: the PG sends the browser back (form fields or query,
/// size-capped); the approval is made server to server and the window ends as any window.
pub async fn pg_return(
    State(state): State<AppState>,
    Path(id): Path<String>,
    uri: axum::http::Uri,
    body: RawBody,
) -> Response {
    let max = openimp_service::window::RETURN_MAX_BYTES;
    let Ok(body) = axum::body::to_bytes(body, max).await else {
        let refusal = ApiError::invalid("PG 응답이 너무 큽니다. (the PG return is too large)");
        return crate::envelope::closing(pages::error(&refusal));
    };
    let fields = handoff::return_fields(uri.query(), &body);
    match state.gateway.window_return(&id, fields).await {
        Ok(rsp) => finished(&state, &id, rsp).await,
        Err(err) => pages::error(&err),
    }
}

/// `GET|POST /window/{id}/cancel`: the customer closed the PG's window.
pub async fn pg_close(State(state): State<AppState>, Path(id): Path<String>) -> Response {
    match state.gateway.window_pg_close(&id).await {
        Ok(rsp) => finished(&state, &id, rsp).await,
        Err(err) => pages::error(&err),
    }
}

/// `POST /window/{id}`: the card form.
pub async fn submit(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Body(form): Body<Value>,
) -> Response {
    let form = match CardForm::from_params(&form) {
        Ok(form) => form,
        Err(err) => return pages::error(&err),
    };
    match state.gateway.submit_window(&id, form).await {
        Ok(Submitted::Retry(message)) => match state.gateway.window_view(&id).await {
            Ok(view) => show(&view, Some(&message)),
            Err(err) => pages::error(&err),
        },
        Ok(Submitted::Done(rsp)) => finished(&state, &id, rsp).await,
        Err(err) => pages::error(&err),
    }
}

#[derive(Deserialize)]
pub struct CloseForm {
    #[serde(default)]
    csrf: String,
}

/// `POST /window/{id}/close`: the 닫기 button.
pub async fn close(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Body(form): Body<CloseForm>,
) -> Response {
    match state.gateway.close_window(&id, &form.csrf).await {
        Ok(rsp) => finished(&state, &id, rsp).await,
        Err(err) => pages::error(&err),
    }
}

fn show(view: &WindowView, message: Option<&str>) -> Response {
    if let Some(rsp) = &view.result {
        return pages::result(view, rsp);
    }
    if view.expired {
        let rsp = openimp_service::window::failure(
            &view.request.merchant_uid,
            None,
            "F0408",
            "결제창 유효시간(15분)이 지났습니다. 다시 시도해주세요. (the payment window expired)",
        );
        return pages::result(view, &rsp);
    }
    pages::form(view, message)
}

/// The window is over: post the result to the opener, or redirect to m_redirect_url.
async fn finished(state: &AppState, id: &str, rsp: Value) -> Response {
    match state.gateway.window_view(id).await {
        Ok(view) => {
            if view.session.mode == "redirect" {
                if let Some(url) = &view.request.m_redirect_url {
                    return redirect(url, &rsp);
                }
            }
            pages::result(&view, &rsp)
        }
        Err(err) => pages::error(&err),
    }
}

/// 302 to `m_redirect_url` with imp_uid, merchant_uid, imp_success (and the error on failure).
fn redirect(url: &str, rsp: &Value) -> Response {
    let field = |key: &str| rsp.get(key).and_then(Value::as_str).unwrap_or("");
    let success = rsp.get("success").and_then(Value::as_bool).unwrap_or(false);
    let mut query = form_urlencoded::Serializer::new(String::new());
    query.append_pair("imp_uid", field("imp_uid"));
    query.append_pair("merchant_uid", field("merchant_uid"));
    query.append_pair("imp_success", if success { "true" } else { "false" });
    if !success {
        query.append_pair("error_code", field("error_code"));
        query.append_pair("error_msg", field("error_msg"));
    }
    let query = query.finish();
    let (head, fragment) = match url.split_once('#') {
        Some((head, fragment)) => (head, Some(fragment)),
        None => (url, None),
    };
    let separator = if head.contains('?') { '&' } else { '?' };
    let mut location = format!("{head}{separator}{query}");
    if let Some(fragment) = fragment {
        location.push('#');
        location.push_str(fragment);
    }
    match HeaderValue::from_str(&location) {
        Ok(location) => (
            StatusCode::FOUND,
            [
                (header::LOCATION, location),
                (header::REFERRER_POLICY, HeaderValue::from_static("no-referrer")),
                (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
            ],
        )
            .into_response(),
        Err(_) => pages::error(&ApiError::invalid("m_redirect_url이 올바르지 않습니다.")),
    }
}
