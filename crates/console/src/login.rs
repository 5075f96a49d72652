//! Sign-in, sign-out and the language switch.
//!
//! The sign-in form has no session yet, so its CSRF token is a double submit: a random value in
//! an HttpOnly SameSite=Strict cookie and the same value in the form.

use std::collections::HashMap;
use std::net::SocketAddr;

use axum::extract::{ConnectInfo, Query, State};
use axum::http::header::SET_COOKIE;
use axum::http::{Extensions, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use openimp_core::ids::random_hex;

use crate::accounts::{self, SignIn};
use crate::i18n::{text, Lang};
use crate::render;
use crate::session::{
    self, cookie, is_https, set_cookie, Refusal, Signed, LANG_COOKIE, LOGIN_CSRF_COOKIE,
};
use crate::ConsoleState;

fn login_form(
    state: &ConsoleState,
    headers: &HeaderMap,
    status: StatusCode,
    email: &str,
    error: Option<&str>,
) -> Response {
    let lang = Lang::of(headers);
    let csrf = random_hex(16);
    let context = minijinja::context! {
        lang => lang.code(),
        other_lang => lang.other().code(),
        other_lang_name => lang.other().name(),
        csrf => csrf.as_str(),
        email => email,
        error => error.map(|key| text(lang, key)),
    };
    let mut response = render::render(&state.templates, status, "login.html", context);
    response
        .headers_mut()
        .append(SET_COOKIE, set_cookie(LOGIN_CSRF_COOKIE, &csrf, 3600, is_https(state, headers)));
    response
}

/// `GET /console/login`.
pub async fn page(State(state): State<ConsoleState>, headers: HeaderMap) -> Response {
    login_form(&state, &headers, StatusCode::OK, "", None)
}

/// `POST /console/login`.
pub async fn submit(
    State(state): State<ConsoleState>,
    headers: HeaderMap,
    extensions: Extensions,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    let field = |name: &str| form.get(name).map(String::as_str).unwrap_or("");
    let expected = cookie(&headers, LOGIN_CSRF_COOKIE).unwrap_or("");
    if expected.is_empty() || !session::same_secret(field("csrf"), expected) {
        return login_form(
            &state,
            &headers,
            StatusCode::FORBIDDEN,
            field("email"),
            Some("msg_bad_form"),
        );
    }
    let address = extensions.get::<ConnectInfo<SocketAddr>>().map(|info| info.0.ip().to_string());
    let outcome = accounts::sign_in(
        &state.gateway.db,
        state.config.lockout,
        field("email"),
        field("password"),
        address.as_deref(),
    )
    .await;
    let user = match outcome {
        Ok(SignIn::Ok(user)) => user,
        Ok(SignIn::Refused) => {
            return login_form(
                &state,
                &headers,
                StatusCode::UNAUTHORIZED,
                field("email"),
                Some("msg_bad_login"),
            )
        }
        Ok(SignIn::Locked) => {
            tracing::warn!(email = %accounts::normalize_email(field("email")), "console sign-in refused: locked out");
            return login_form(
                &state,
                &headers,
                StatusCode::TOO_MANY_REQUESTS,
                field("email"),
                Some("msg_locked"),
            );
        }
        Err(err) => {
            tracing::warn!(%err, "console sign-in failed");
            return render::bare_refusal(Lang::of(&headers), Refusal::Unavailable);
        }
    };
    let secure = is_https(&state, &headers);
    match session::start(&state, &user, secure).await {
        Ok(cookie) => {
            tracing::info!(user = %user.email, "console sign-in");
            let mut response = Redirect::to("/console").into_response();
            *response.status_mut() = StatusCode::SEE_OTHER;
            response.headers_mut().append(SET_COOKIE, cookie);
            response.headers_mut().append(SET_COOKIE, set_cookie(LOGIN_CSRF_COOKIE, "", 0, secure));
            response
        }
        Err(err) => {
            tracing::warn!(%err, "could not start a console session");
            render::bare_refusal(Lang::of(&headers), Refusal::Unavailable)
        }
    }
}

/// `POST /console/logout`: needs the session's CSRF token, as every change does.
pub async fn sign_out(
    State(state): State<ConsoleState>,
    signed: Signed,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    let token = form.get("csrf").map(String::as_str).unwrap_or("");
    if !session::same_secret(token, &signed.csrf) {
        return render::bare_refusal(signed.lang, Refusal::BadCsrf);
    }
    session::end(&state, &signed).await
}

/// `GET /console/lang?to=en&back=/console/...`: remembers the language, goes back (only to a
/// console page: never an open redirect).
pub async fn switch_language(
    State(state): State<ConsoleState>,
    headers: HeaderMap,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let lang = query.get("to").and_then(|code| Lang::parse(code)).unwrap_or(Lang::Ko);
    let back = query
        .get("back")
        .filter(|back| back.starts_with("/console") && !back.contains("//") && !back.contains('\\'))
        .map(String::as_str)
        .unwrap_or("/console");
    let mut response = Redirect::to(back).into_response();
    let secure = is_https(&state, &headers);
    response
        .headers_mut()
        .append(SET_COOKIE, set_cookie(LANG_COOKIE, lang.code(), 365 * 86400, secure));
    response
}
