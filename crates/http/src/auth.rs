//! The access token of a request, in any of the forms i'mport clients send it:
//! `Authorization: <token>`, `Authorization: Bearer <token>`, `X-ImpTokenHeader: <token>`, or
//! the legacy `?_token=<token>` query parameter.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::HeaderMap;

use openimp_core::ApiError;
use openimp_service::MerchantId;

use crate::envelope::HttpError;
use crate::AppState;

/// The merchant a valid token speaks for.
pub struct Merchant(pub MerchantId);

impl FromRequestParts<AppState> for Merchant {
    type Rejection = HttpError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let token = token_from(&parts.headers, parts.uri.query())
            .ok_or(HttpError(ApiError::Unauthorized))?;
        Ok(Merchant(state.gateway.authenticate(&token).await?))
    }
}

/// Finds the token in headers or query.
pub fn token_from(headers: &HeaderMap, query: Option<&str>) -> Option<String> {
    let header = |name: &str| {
        headers.get(name).and_then(|v| v.to_str().ok()).map(str::trim).filter(|v| !v.is_empty())
    };
    if let Some(value) = header("authorization") {
        let token = match value.split_once(' ') {
            Some((scheme, rest)) if scheme.eq_ignore_ascii_case("bearer") => rest.trim(),
            _ => value,
        };
        return Some(token.to_owned());
    }
    if let Some(value) = header("x-imptokenheader") {
        return Some(value.to_owned());
    }
    query.and_then(|q| {
        form_urlencoded::parse(q.as_bytes())
            .find(|(k, _)| k == "_token")
            .map(|(_, v)| v.into_owned())
    })
}
