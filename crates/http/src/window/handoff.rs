//! The pages that hand the browser to a PG's own window, one per [`Handoff`] kind, and the
//! reading of the PG's return. Each page keeps the window's strict CSP and opens it only to
//! the PG's origin: its form may post there, its script load from there, its frames show it.

use axum::http::header::{self, HeaderValue};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use openimp_core::ApiError;
use openimp_pg::window::Handoff;
use openimp_service::window::WindowView;

use super::pages::{self, escape};

/// `scheme://host[:port]` of an http(s) URL: what a CSP source names.
pub(crate) fn origin_of(url: &str) -> Option<String> {
    let (scheme, rest) = url.split_once("://")?;
    if !scheme.eq_ignore_ascii_case("http") && !scheme.eq_ignore_ascii_case("https") {
        return None;
    }
    let authority = rest.split(['/', '?', '#']).next()?;
    let valid = !authority.is_empty()
        && !authority.contains('@')
        && authority.bytes().all(|b| b.is_ascii_alphanumeric() || b"-.:[]".contains(&b));
    valid.then(|| format!("{}://{}", scheme.to_ascii_lowercase(), authority.to_ascii_lowercase()))
}

/// `INIStdPay.pay`: a dotted JavaScript name, nothing that could be code.
fn is_function_name(name: &str) -> bool {
    !name.is_empty()
        && name.split('.').all(|part| {
            let mut chars = part.chars();
            chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == '$')
                && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '$')
        })
}

/// The page (or redirect) that sends the browser to the PG.
pub fn page(view: &WindowView, handoff: &Handoff) -> Response {
    let refused = |what: &str| {
        pages::error(&ApiError::internal(format!(
            "the PG connector's hand-off is unusable: {what}"
        )))
    };
    match handoff {
        Handoff::Hosted => pages::form(view, None),
        Handoff::Redirect { url } => {
            let (Some(_), Ok(location)) = (origin_of(url), HeaderValue::from_str(url)) else {
                return refused("the redirect URL is not an http(s) URL");
            };
            (
                StatusCode::SEE_OTHER,
                [
                    (header::LOCATION, location),
                    (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
                    (header::REFERRER_POLICY, HeaderValue::from_static("no-referrer")),
                ],
            )
                .into_response()
        }
        Handoff::Post { action, fields, accept_charset } => {
            let Some(origin) = origin_of(action) else {
                return refused("the form's action is not an http(s) URL");
            };
            let nonce = openimp_core::ids::random_hex(12);
            let charset = accept_charset
                .as_deref()
                .map(|c| format!(r#" accept-charset="{}""#, escape(c)))
                .unwrap_or_default();
            let body = format!(
                r#"<form id="pg" method="post" action="{}"{charset}>{}<noscript><button type="submit">PG 결제창으로 이동 (Continue to the PG)</button></noscript></form>
<script nonce="{nonce}">document.getElementById('pg').submit();</script>"#,
                escape(action),
                hidden_fields(fields),
            );
            let csp = format!(
                "default-src 'none'; style-src 'unsafe-inline'; script-src 'nonce-{nonce}'; form-action {origin}; base-uri 'none'; frame-ancestors {}",
                ancestors(view)
            );
            handoff_page(view, &body, &csp)
        }
        Handoff::Script { script_url, launcher, fields } => {
            let Some(origin) = origin_of(script_url) else {
                return refused("the script URL is not an http(s) URL");
            };
            if !is_function_name(launcher) {
                return refused("the launcher is not a function name");
            }
            let nonce = openimp_core::ids::random_hex(12);
            let body = format!(
                r#"<form id="pg" method="post">{}</form>
<script nonce="{nonce}" src="{}"></script>
<script nonce="{nonce}">window.addEventListener('load',function(){{{launcher}('pg');}});</script>"#,
                hidden_fields(fields),
                escape(script_url),
            );
            // The PG's script opens the PG's own pages (frames, posts, its images and styles);
            // its frame ends on openimp's return page ('self').
            let csp = format!(
                "default-src 'none'; style-src 'unsafe-inline' {origin}; img-src {origin} data:; script-src 'nonce-{nonce}' {origin}; connect-src {origin}; frame-src {origin} 'self'; child-src {origin} 'self'; form-action {origin}; base-uri 'none'; frame-ancestors {}",
                ancestors(view)
            );
            handoff_page(view, &body, &csp)
        }
    }
}

/// Who may frame the window: the merchant page in overlay mode, nobody in redirect mode.
fn ancestors(view: &WindowView) -> String {
    if view.session.mode == "overlay" {
        view.session.origin.clone()
    } else {
        "'none'".to_owned()
    }
}

fn hidden_fields(fields: &[(String, String)]) -> String {
    fields
        .iter()
        .map(|(name, value)| {
            format!(r#"<input type="hidden" name="{}" value="{}">"#, escape(name), escape(value))
        })
        .collect()
}

fn handoff_page(view: &WindowView, body: &str, csp: &str) -> Response {
    let html = format!(
        r#"<!doctype html>
<html lang="ko">
<head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><title>{}</title></head>
<body>
<p>PG 결제창으로 이동합니다... (Opening the PG's payment window)</p>
{body}
</body>
</html>"#,
        escape(&format!("{} 결제 (Payment)", view.pg_provider)),
    );
    let mut response = (StatusCode::OK, html).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/html; charset=utf-8"));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    if let Ok(csp) = HeaderValue::from_str(csp) {
        headers.insert(header::CONTENT_SECURITY_POLICY, csp);
    }
    response
}

/// The PG's return fields: the query string's, then the form body's (a PG posts its return;
/// some also put fields in the URL). UTF-8; a PG that posts another charset gets its bytes
/// replaced where invalid, and its connector reads the fields it signs as ASCII.
pub fn return_fields(query: Option<&str>, body: &[u8]) -> Vec<(String, String)> {
    let mut fields: Vec<(String, String)> = Vec::new();
    if let Some(query) = query {
        fields.extend(form_urlencoded::parse(query.as_bytes()).into_owned());
    }
    fields.extend(form_urlencoded::parse(body).into_owned());
    fields
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins_of_http_urls_only() {
        assert_eq!(
            origin_of("https://stdpay.inicis.com/stdjs/INIStdPay.js").as_deref(),
            Some("https://stdpay.inicis.com")
        );
        assert_eq!(
            origin_of("http://127.0.0.1:9100/smart/payment/").as_deref(),
            Some("http://127.0.0.1:9100")
        );
        for bad in [
            "javascript:alert(1)",
            "data:text/html,x",
            "ftp://x",
            "https://",
            "https://a@b/",
            "https://a b/",
        ] {
            assert_eq!(origin_of(bad), None, "{bad}");
        }
    }

    #[test]
    fn launchers_are_names() {
        assert!(is_function_name("INIStdPay.pay"));
        assert!(is_function_name("$pay"));
        for bad in ["", "a.", ".a", "alert(1)", "a;b", "a b", "1a", "a['x']"] {
            assert!(!is_function_name(bad), "{bad}");
        }
    }

    #[test]
    fn return_fields_from_query_and_body() {
        let fields = return_fields(
            Some("orderNumber=imp_1&x=%ED%95%9C"),
            b"resultCode=0000&authToken=a%2Bb",
        );
        assert_eq!(
            fields,
            vec![
                ("orderNumber".to_owned(), "imp_1".to_owned()),
                ("x".to_owned(), "한".to_owned()),
                ("resultCode".to_owned(), "0000".to_owned()),
                ("authToken".to_owned(), "a+b".to_owned()),
            ]
        );
    }
}
