//! Signed-in browsers: the session cookie (HttpOnly, SameSite=Strict, Secure behind https), its
//! CSRF token, the language choice, and the checks every page makes (signed in, allowed to
//! change things, allowed to see this merchant).

use axum::extract::FromRequestParts;
use axum::http::header::{COOKIE, SET_COOKIE};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use openimp_core::ids::random_hex;
use openimp_core::time::now;
use openimp_service::MerchantId;
use openimp_store::console::{self, SessionRow, UserRow};
use openimp_store::merchants::{self, MerchantRow};
use sha2::{Digest, Sha256};

use crate::accounts::Role;
use crate::i18n::Lang;
use crate::ConsoleState;

/// The session cookie. Scoped to the console's path.
pub const SESSION_COOKIE: &str = "openimp_console";
/// The sign-in form's CSRF cookie (double submit: no session exists yet).
pub const LOGIN_CSRF_COOKIE: &str = "openimp_console_login";
pub const LANG_COOKIE: &str = "openimp_console_lang";
/// How long a session lasts from sign-in.
pub const SESSION_SECS: i64 = 12 * 3600;

/// A cookie's value in the request, if sent.
pub fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|line| line.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value)
}

/// Whether this request reached us over https: the public URL says so, or (when the operator
/// trusts the proxy in front) its `X-Forwarded-Proto`.
pub fn is_https(state: &ConsoleState, headers: &HeaderMap) -> bool {
    state.config.https
        || (state.config.trust_forwarded_proto
            && headers
                .get("x-forwarded-proto")
                .and_then(|v| v.to_str().ok())
                .is_some_and(|proto| proto.trim().eq_ignore_ascii_case("https")))
}

/// A `Set-Cookie` value for the console's path; `max_age` 0 deletes the cookie.
pub fn set_cookie(name: &str, value: &str, max_age: i64, secure: bool) -> HeaderValue {
    let secure = if secure { "; Secure" } else { "" };
    HeaderValue::from_str(&format!(
        "{name}={value}; Path=/console; Max-Age={max_age}; HttpOnly; SameSite=Strict{secure}"
    ))
    .expect("cookie values are hex")
}

pub fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// Compares two secrets in time independent of where they differ.
pub fn same_secret(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Starts a session for `user`: the cookie to set (the token itself never reaches the store).
pub async fn start(
    state: &ConsoleState,
    user: &UserRow,
    secure: bool,
) -> Result<HeaderValue, openimp_store::StoreError> {
    let token = random_hex(32);
    let at = now();
    console::delete_expired_sessions(&state.gateway.db, at).await?;
    let session = SessionRow {
        token_hash: token_hash(&token),
        user_id: user.id.clone(),
        csrf_token: random_hex(16),
        created_at: at,
        expires_at: at + SESSION_SECS,
    };
    console::insert_session(&state.gateway.db, &session).await?;
    Ok(set_cookie(SESSION_COOKIE, &token, SESSION_SECS, secure))
}

/// The signed-in user of a request. Extracting it sends anyone else to the sign-in page.
#[derive(Debug, Clone)]
pub struct Signed {
    pub user: UserRow,
    pub role: Role,
    pub csrf: String,
    pub token_hash: String,
    pub lang: Lang,
    pub secure: bool,
}

impl FromRequestParts<ConsoleState> for Signed {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &ConsoleState,
    ) -> Result<Self, Self::Rejection> {
        let to_login = || Redirect::to("/console/login").into_response();
        let Some(token) = cookie(&parts.headers, SESSION_COOKIE) else { return Err(to_login()) };
        let hash = token_hash(token);
        let found =
            console::session_user(&state.gateway.db, &hash, now()).await.map_err(|err| {
                tracing::warn!(%err, "console session lookup failed");
                StatusCode::SERVICE_UNAVAILABLE.into_response()
            })?;
        let Some((session, user)) = found else { return Err(to_login()) };
        let Some(role) = Role::parse(&user.role) else { return Err(to_login()) };
        Ok(Signed {
            role,
            csrf: session.csrf_token,
            token_hash: hash,
            lang: Lang::of(&parts.headers),
            secure: is_https(state, &parts.headers),
            user,
        })
    }
}

/// Why a page is not shown: each becomes a page of its own status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// A viewer tried to change something.
    Forbidden,
    /// A form without this session's CSRF token.
    BadCsrf,
    /// Not there, or not this user's to see (never told apart).
    NotFound,
    /// The store could not answer.
    Unavailable,
}

impl Signed {
    pub fn is_operator(&self) -> bool {
        self.role == Role::Operator
    }

    pub fn can_write(&self) -> bool {
        matches!(self.role, Role::Owner | Role::Operator)
    }

    /// The merchant `code` as this user may see it: its own, or any for an operator; anything
    /// else is [`Refusal::NotFound`], as for a merchant that does not exist.
    pub async fn scope(&self, state: &ConsoleState, code: &str) -> Result<Scope, Refusal> {
        let allowed = self.is_operator() || self.user.merchant_id.as_deref() == Some(code);
        if !allowed {
            return Err(Refusal::NotFound);
        }
        match merchants::get(&state.gateway.db, code).await {
            Ok(Some(merchant)) => Ok(Scope { id: MerchantId(code.to_owned()), merchant }),
            Ok(None) => Err(Refusal::NotFound),
            Err(_) => Err(Refusal::Unavailable),
        }
    }

    /// A change: the form's CSRF token must be this session's, and the user no viewer.
    pub fn check_change(&self, form_csrf: Option<&str>) -> Result<(), Refusal> {
        if !form_csrf.is_some_and(|token| same_secret(token, &self.csrf)) {
            return Err(Refusal::BadCsrf);
        }
        if !self.can_write() {
            return Err(Refusal::Forbidden);
        }
        Ok(())
    }
}

/// A merchant the signed-in user may see.
#[derive(Debug, Clone)]
pub struct Scope {
    pub id: MerchantId,
    pub merchant: MerchantRow,
}

impl Scope {
    pub fn code(&self) -> &str {
        self.id.as_str()
    }
}

/// Ends a session and deletes its cookie.
pub async fn end(state: &ConsoleState, signed: &Signed) -> Response {
    if let Err(err) = console::delete_session(&state.gateway.db, &signed.token_hash).await {
        tracing::warn!(%err, "could not delete a console session");
    }
    let mut response = Redirect::to("/console/login").into_response();
    response.headers_mut().append(SET_COOKIE, set_cookie(SESSION_COOKIE, "", 0, signed.secure));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cookies_are_found_by_exact_name() {
        let mut headers = HeaderMap::new();
        headers.append(
            COOKIE,
            HeaderValue::from_static("openimp_console_lang=en; openimp_console=abc"),
        );
        headers.append(COOKIE, HeaderValue::from_static("other=1"));
        assert_eq!(cookie(&headers, SESSION_COOKIE), Some("abc"));
        assert_eq!(cookie(&headers, LANG_COOKIE), Some("en"));
        assert_eq!(cookie(&headers, "other"), Some("1"));
        assert_eq!(cookie(&headers, "openimp"), None);
    }

    #[test]
    fn cookie_flags_and_secret_comparison() {
        let plain = set_cookie(SESSION_COOKIE, "t", 60, false);
        assert_eq!(
            plain,
            "openimp_console=t; Path=/console; Max-Age=60; HttpOnly; SameSite=Strict"
        );
        assert!(set_cookie(SESSION_COOKIE, "t", 60, true).to_str().unwrap().ends_with("; Secure"));
        assert!(same_secret("abcd", "abcd"));
        assert!(
            !same_secret("abcd", "abce") && !same_secret("abc", "abcd") && !same_secret("", "a")
        );
        assert_eq!(token_hash("x").len(), 64);
    }
}
