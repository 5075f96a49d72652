//! The console's pages, one module per menu entry, and what they share: finding the merchant a
//! URL names (404 unless the user may see it), checking a change (CSRF, role), reading forms
//! and search parameters, and turning a service error into a message.

pub mod dashboard;
pub mod keys;
pub mod merchants;
pub mod payments;
pub mod settings;
pub mod webhooks;

use std::collections::HashMap;

use axum::extract::{FromRequest, FromRequestParts, OriginalUri, RawPathParams, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use chrono::{NaiveDate, TimeZone};
use openimp_core::ApiError;

use crate::i18n::Lang;
use crate::render::{self, kst_offset, Notice, Page};
use crate::session::{Refusal, Scope, Signed};
use crate::ConsoleState;

/// A form's fields.
pub type FormFields = HashMap<String, String>;

/// A trimmed, non-empty field.
pub fn field<'a>(form: &'a FormFields, name: &str) -> Option<&'a str> {
    form.get(name).map(|v| v.trim()).filter(|v| !v.is_empty())
}

/// A checkbox: present means on.
pub fn checked(form: &FormFields, name: &str) -> bool {
    form.get(name).is_some_and(|v| !v.is_empty() && v != "off")
}

/// `GET /console`: a merchant's user goes to its dashboard, an operator to the merchants.
pub async fn home(signed: Signed) -> Response {
    match &signed.user.merchant_id {
        Some(code) if !signed.is_operator() => {
            Redirect::to(&format!("/console/m/{code}")).into_response()
        }
        _ => Redirect::to("/console/merchants").into_response(),
    }
}

/// Any other console path: the console's 404 page (signed in) or the sign-in page.
pub async fn not_found(
    State(state): State<ConsoleState>,
    signed: Result<Signed, Response>,
    headers: HeaderMap,
    OriginalUri(uri): OriginalUri,
) -> Response {
    match signed {
        Ok(signed) => refuse(&state, &signed, uri.path(), Refusal::NotFound),
        Err(_) => render::bare_refusal(Lang::of(&headers), Refusal::NotFound),
    }
}

/// A refusal page in the console's frame.
pub fn refuse(state: &ConsoleState, signed: &Signed, path: &str, refusal: Refusal) -> Response {
    let page = Page { signed, scope: None, nav: "", path: path.to_owned(), notice: None };
    page.refusal(&state.templates, refusal)
}

/// The merchant `code` if this user may see it; the 404 page otherwise.
pub async fn scoped(
    state: &ConsoleState,
    signed: &Signed,
    code: &str,
    uri: &Uri,
) -> Result<Scope, Response> {
    signed.scope(state, code).await.map_err(|refusal| refuse(state, signed, uri.path(), refusal))
}

/// A request for a page of the merchant `/console/m/{code}/...` names: the signed-in user, that
/// merchant if the user may see it (the 404 page otherwise, before anything else is looked at),
/// and the URI as the browser sent it. Every merchant page starts from it.
pub struct MerchantPage {
    pub state: ConsoleState,
    pub signed: Signed,
    pub scope: Scope,
    pub uri: Uri,
}

impl FromRequestParts<ConsoleState> for MerchantPage {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &ConsoleState,
    ) -> Result<Self, Self::Rejection> {
        let signed = Signed::from_request_parts(parts, state).await?;
        let Ok(OriginalUri(uri)) = OriginalUri::from_request_parts(parts, state).await;
        let params = RawPathParams::from_request_parts(parts, state)
            .await
            .map_err(IntoResponse::into_response)?;
        let code = params.iter().find(|(name, _)| *name == "code").map_or("", |(_, code)| code);
        let scope = scoped(state, &signed, code, &uri).await?;
        Ok(MerchantPage { state: state.clone(), signed, scope, uri })
    }
}

/// A change to a merchant's objects: a [`MerchantPage`] (so a foreign merchant answers 404
/// whatever the form), then the form, whose CSRF token must be this session's, from a user who
/// is no viewer.
pub struct MerchantChange {
    pub state: ConsoleState,
    pub signed: Signed,
    pub scope: Scope,
    pub uri: Uri,
    pub form: FormFields,
}

impl FromRequest<ConsoleState> for MerchantChange {
    type Rejection = Response;

    async fn from_request(request: Request, state: &ConsoleState) -> Result<Self, Response> {
        let (mut parts, body) = request.into_parts();
        let page = MerchantPage::from_request_parts(&mut parts, state).await?;
        let Form(form) = Form::<FormFields>::from_request(Request::from_parts(parts, body), state)
            .await
            .map_err(IntoResponse::into_response)?;
        let MerchantPage { state, signed, scope, uri } = page;
        if let Err(refusal) = signed.check_change(form.get("csrf").map(String::as_str)) {
            return Err(refuse(&state, &signed, uri.path(), refusal));
        }
        Ok(MerchantChange { state, signed, scope, uri, form })
    }
}

/// A page frame for `scope`.
pub fn frame<'a>(
    signed: &'a Signed,
    scope: &'a Scope,
    nav: &'a str,
    uri: &Uri,
    notice: Option<Notice>,
) -> Page<'a> {
    Page { signed, scope: Some(scope), nav, path: path_and_query(uri), notice }
}

pub fn path_and_query(uri: &Uri) -> String {
    uri.path_and_query().map(|pq| pq.as_str().to_owned()).unwrap_or_else(|| uri.path().to_owned())
}

/// A redirect after a change (303: the browser follows with GET).
pub fn see_other(location: &str) -> Response {
    let mut response = Redirect::to(location).into_response();
    *response.status_mut() = StatusCode::SEE_OTHER;
    response
}

/// The merchant-facing message of a service error (never internal details).
pub fn message(err: &ApiError) -> String {
    err.envelope_parts().2
}

/// `YYYY-MM-DD` as the UNIX second its KST day starts at.
pub fn kst_day_start(date: &str) -> Option<i64> {
    let day = NaiveDate::parse_from_str(date.trim(), "%Y-%m-%d").ok()?;
    let midnight = day.and_hms_opt(0, 0, 0)?;
    kst_offset().from_local_datetime(&midnight).single().map(|at| at.timestamp())
}

/// The page number of a list (from 1, at most 100,000).
pub fn page_number(query: &HashMap<String, String>) -> i64 {
    query.get("page").and_then(|p| p.parse::<i64>().ok()).unwrap_or(1).clamp(1, 100_000)
}

/// The query string of a search without its page, ending in `&` when not empty, for the
/// pager's links.
pub fn query_without_page(query: &HashMap<String, String>) -> String {
    let mut pairs: Vec<(&String, &String)> =
        query.iter().filter(|(k, v)| k.as_str() != "page" && !v.is_empty()).collect();
    pairs.sort();
    let mut out = form_urlencoded::Serializer::new(String::new());
    for (key, value) in pairs {
        out.append_pair(key, value);
    }
    let text = out.finish();
    if text.is_empty() {
        text
    } else {
        format!("{text}&")
    }
}

/// The list sizes of the console's pages.
pub const PAGE_SIZE: i64 = 20;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_and_queries() {
        // 2026-01-01 00:00 KST is 2025-12-31 15:00 UTC.
        assert_eq!(kst_day_start("2026-01-01"), Some(1_767_225_600 - 9 * 3600));
        assert_eq!(kst_day_start("2026-13-01"), None);
        let query = HashMap::from([
            ("page".to_owned(), "3".to_owned()),
            ("status".to_owned(), "paid".to_owned()),
            ("merchant_uid".to_owned(), "a b&c".to_owned()),
            ("pg".to_owned(), String::new()),
        ]);
        assert_eq!(query_without_page(&query), "merchant_uid=a+b%26c&status=paid&");
        assert_eq!(page_number(&query), 3);
        assert_eq!(page_number(&HashMap::new()), 1);
    }
}
