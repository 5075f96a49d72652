//! Server-rendered pages: the templates (shipped in the binary), their filters (KRW amounts,
//! KST times), the context every page shares (user, merchant, CSRF token, language), the
//! pages for refusals, and the security headers of every console answer (a CSP that allows
//! nothing but this server).

use std::collections::BTreeMap;

use axum::extract::Request;
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE};
use axum::http::{HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{Html, IntoResponse, Response};
use chrono::{FixedOffset, TimeZone};
use minijinja::value::Value;
use minijinja::{Environment, State};

use crate::i18n::{text, Lang};
use crate::session::{Refusal, Scope, Signed};

/// (name, source) of every template, embedded at build time.
pub const TEMPLATES: &[(&str, &str)] = &[
    ("base.html", include_str!("../templates/base.html")),
    ("login.html", include_str!("../templates/login.html")),
    ("error.html", include_str!("../templates/error.html")),
    ("pager.html", include_str!("../templates/pager.html")),
    ("settings.html", include_str!("../templates/settings.html")),
    ("channel_form.html", include_str!("../templates/channel_form.html")),
    ("payments.html", include_str!("../templates/payments.html")),
    ("payment.html", include_str!("../templates/payment.html")),
    ("webhook_rows.html", include_str!("../templates/webhook_rows.html")),
    ("webhooks.html", include_str!("../templates/webhooks.html")),
    ("billing_keys.html", include_str!("../templates/billing_keys.html")),
    ("billing_key.html", include_str!("../templates/billing_key.html")),
    ("schedule_rows.html", include_str!("../templates/schedule_rows.html")),
    ("schedules.html", include_str!("../templates/schedules.html")),
    ("schedule.html", include_str!("../templates/schedule.html")),
    ("audit.html", include_str!("../templates/audit.html")),
    ("dashboard.html", include_str!("../templates/dashboard.html")),
    ("merchants.html", include_str!("../templates/merchants.html")),
];

pub const CSS: &str = include_str!("../static/console.css");
pub const JS: &str = include_str!("../static/console.js");

/// Only this server: no inline script or style, no third-party anything, no framing.
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

fn lang_of(state: &State<'_, '_>) -> Lang {
    state.lookup("lang").and_then(|v| v.as_str().and_then(Lang::parse)).unwrap_or(Lang::Ko)
}

/// The template environment, built once. Auto-escaping is on for every `.html` template.
pub fn environment() -> Environment<'static> {
    let mut env = Environment::new();
    for (name, source) in TEMPLATES {
        env.add_template(name, source).expect("console templates parse");
    }
    env.add_function("t", |state: &State<'_, '_>, key: &str| text(lang_of(state), key));
    env.add_filter("won", |state: &State<'_, '_>, amount: i64| won(lang_of(state), amount));
    env.add_filter("kst", |secs: i64| kst(secs));
    env.add_filter("kst_ms", |millis: i64| kst(millis.div_euclid(1000)));
    env
}

/// `12,345원` (Korean) or `KRW 12,345`.
pub fn won(lang: Lang, amount: i64) -> String {
    let digits = amount.unsigned_abs().to_string();
    let mut grouped = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            grouped.push(',');
        }
        grouped.push(c);
    }
    let sign = if amount < 0 { "-" } else { "" };
    match lang {
        Lang::Ko => format!("{sign}{grouped}원"),
        Lang::En => format!("KRW {sign}{grouped}"),
    }
}

/// Korea's offset; the console shows every time in KST.
pub fn kst_offset() -> FixedOffset {
    FixedOffset::east_opt(9 * 3600).expect("valid offset")
}

/// UNIX seconds as `YYYY-MM-DD HH:MM:SS` in KST; `-` for 0 (never happened).
pub fn kst(secs: i64) -> String {
    if secs <= 0 {
        return "-".to_owned();
    }
    match kst_offset().timestamp_opt(secs, 0).single() {
        Some(at) => at.format("%Y-%m-%d %H:%M:%S").to_string(),
        None => "-".to_owned(),
    }
}

/// A line at the top of a page after an action.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Notice {
    pub kind: &'static str,
    pub text: String,
}

impl Notice {
    pub fn ok(text: String) -> Notice {
        Notice { kind: "ok", text }
    }

    pub fn error(text: String) -> Notice {
        Notice { kind: "error", text }
    }
}

/// The shared part of a signed-in page.
pub struct Page<'a> {
    pub signed: &'a Signed,
    pub scope: Option<&'a Scope>,
    /// Which menu entry is current.
    pub nav: &'a str,
    /// The path shown, for the language switch to come back to.
    pub path: String,
    pub notice: Option<Notice>,
}

impl Page<'_> {
    /// Renders `template` with the shared context and `extra` (a serializable map).
    pub fn render(
        &self,
        env: &Environment<'static>,
        status: StatusCode,
        template: &str,
        extra: Value,
    ) -> Response {
        let lang = self.signed.lang;
        let mut context: BTreeMap<String, Value> = BTreeMap::new();
        context.insert("lang".into(), lang.code().into());
        context.insert("other_lang".into(), lang.other().code().into());
        context.insert("other_lang_name".into(), lang.other().name().into());
        context.insert("user_email".into(), self.signed.user.email.clone().into());
        context.insert("role".into(), self.signed.role.as_str().into());
        context.insert("can_write".into(), self.signed.can_write().into());
        context.insert("is_operator".into(), self.signed.is_operator().into());
        context.insert("csrf".into(), self.signed.csrf.clone().into());
        context.insert("nav".into(), self.nav.into());
        context.insert("path".into(), self.path.clone().into());
        context.insert("notice".into(), Value::from_serialize(&self.notice));
        if let Some(scope) = self.scope {
            let merchant = BTreeMap::from([
                ("code", scope.merchant.imp_code.clone()),
                ("name", scope.merchant.name.clone()),
                ("imp_key", scope.merchant.imp_key.clone()),
            ]);
            context.insert("merchant".into(), Value::from_serialize(&merchant));
        }
        if let Ok(entries) = extra.try_iter() {
            for key in entries {
                if let (Some(name), Ok(value)) = (key.as_str(), extra.get_item(&key)) {
                    context.insert(name.to_owned(), value);
                }
            }
        }
        render(env, status, template, Value::from_serialize(&context))
    }

    /// The page of a refusal (403, 404, ...), inside the console's frame.
    pub fn refusal(&self, env: &Environment<'static>, refusal: Refusal) -> Response {
        let lang = self.signed.lang;
        let (status, heading, message) = refusal_texts(refusal);
        let extra =
            minijinja::context! { heading => text(lang, heading), message => text(lang, message) };
        self.render(env, status, "error.html", extra)
    }
}

fn refusal_texts(refusal: Refusal) -> (StatusCode, &'static str, &'static str) {
    match refusal {
        Refusal::Forbidden => (StatusCode::FORBIDDEN, "msg_forbidden", "msg_forbidden_detail"),
        Refusal::BadCsrf => (StatusCode::FORBIDDEN, "msg_csrf", "msg_csrf_detail"),
        Refusal::NotFound => (StatusCode::NOT_FOUND, "msg_not_found", "msg_not_found_detail"),
        Refusal::Unavailable => {
            (StatusCode::SERVICE_UNAVAILABLE, "msg_unavailable", "msg_unavailable_detail")
        }
    }
}

/// A refusal outside any page frame (no session to draw a menu for).
pub fn bare_refusal(lang: Lang, refusal: Refusal) -> Response {
    let (status, heading, message) = refusal_texts(refusal);
    let body = format!(
        "<!doctype html><html lang=\"{}\"><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><link rel=\"stylesheet\" href=\"/console/static/console.css\"><title>{heading}</title><main><h1>{heading}</h1><p>{message}</p><p><a href=\"/console\">openimp</a></p></main></html>",
        lang.code(),
        heading = text(lang, heading),
        message = text(lang, message),
    );
    (status, Html(body)).into_response()
}

/// Renders a template (a failure is logged and answered 500 without details).
pub fn render(
    env: &Environment<'static>,
    status: StatusCode,
    template: &str,
    context: Value,
) -> Response {
    match env.get_template(template).and_then(|t| t.render(context)) {
        Ok(html) => (status, Html(html)).into_response(),
        Err(err) => {
            tracing::error!(template, error = %format!("{err:#}"), "console template failed");
            (StatusCode::INTERNAL_SERVER_ERROR, "console page failed").into_response()
        }
    }
}

/// The console's two static files.
pub fn asset(content_type: &'static str, body: &'static str) -> Response {
    let mut response = body.into_response();
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("public, max-age=300"));
    response
}

/// Headers on every console answer: the CSP, no framing, no sniffing, no caching of pages.
pub async fn security_headers(request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    headers.insert("content-security-policy", HeaderValue::from_static(CSP));
    headers.insert("x-frame-options", HeaderValue::from_static("DENY"));
    headers.insert("x-content-type-options", HeaderValue::from_static("nosniff"));
    headers.insert("referrer-policy", HeaderValue::from_static("same-origin"));
    if !headers.contains_key(CACHE_CONTROL) {
        headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts_and_times() {
        assert_eq!(won(Lang::Ko, 1234567), "1,234,567원");
        assert_eq!(won(Lang::En, 1000), "KRW 1,000");
        assert_eq!(won(Lang::Ko, 0), "0원");
        assert_eq!(won(Lang::Ko, -500), "-500원");
        // 2026-01-01 00:00:00 UTC is 09:00 in Seoul.
        assert_eq!(kst(1_767_225_600), "2026-01-01 09:00:00");
        assert_eq!(kst(0), "-");
    }

    /// Every page template renders with a context holding one of everything it lists (a
    /// missing filter or a bad expression fails only when reached).
    #[test]
    fn every_page_renders_with_full_data() {
        let env = environment();
        let payment = serde_json::json!({
            "imp_uid": "imps_1", "merchant_uid": "o1", "status": "paid", "name": "주문", "amount": 1000,
            "cancel_amount": 300, "pay_method": "card", "pg_provider": "kicc", "pg_id": "T1",
            "card_name": "현대카드", "card_number": "409202******5678", "customer_uid": "c1",
            "buyer_name": "홍길동", "buyer_email": "a@b.c", "buyer_tel": "010", "started_at": 1_767_225_600,
            "paid_at": 1_767_225_601, "failed_at": 0, "apply_num": "123", "pg_tid": "tid", "receipt_url": "/r",
            "fail_reason": null,
            "cancel_history": [{"cancelled_at": 1_767_225_700, "amount": 300, "reason": "부분", "cancellation_id": "cancel_1"}],
        });
        let webhook = serde_json::json!({
            "id": "msg_1", "imp_uid": "imps_1", "status": "paid", "cancellation_id": "cancel_1", "url": "http://x",
            "state": "delivered", "created_at": 1_767_225_600,
            "attempt_log": [{"attempted_at": 1_767_225_600_000i64, "http_status": 200, "latency_ms": 3, "error": null, "response_snippet": "OK".repeat(60)},
                            {"attempted_at": 1_767_225_600_000i64, "http_status": null, "latency_ms": 3, "error": "connect error", "response_snippet": null}],
        });
        let schedule = serde_json::json!({
            "merchant_uid": "s1", "customer_uid": "c1", "schedule_at": 1_767_225_600, "amount": 4900, "name": "구독",
            "schedule_status": "executed", "executed_at": 1_767_225_600, "revoked_at": 0, "imp_uid": "imps_1",
            "payment_status": "paid", "fail_reason": null,
        });
        let key = serde_json::json!({
            "customer_uid": "c1", "card_name": "현대카드", "card_number": "409202******5678", "pg_provider": "kicc",
            "pg_id": "T1", "inserted": 1_767_225_600, "customer_name": "홍", "customer_email": null, "customer_tel": null,
        });
        let channel = serde_json::json!({
            "id": "ch_1", "pg_provider": "html5_inicis", "mid": "INIBillTst", "test_mode": false, "is_default": true,
            "keyed_billing": true, "channel_key": "channel-key-1", "endpoint": "https://pg.test", "secrets": {"sign_key": "SU******"},
        });
        let paged = |list: serde_json::Value| serde_json::json!({"total": 41, "previous": 1, "next": 3, "list": list});
        let base = serde_json::json!({
            "lang": "ko", "other_lang": "en", "other_lang_name": "English", "user_email": "u@example.com",
            "role": "owner", "can_write": true, "is_operator": true, "csrf": "tok", "nav": "payments", "path": "/console",
            "notice": {"kind": "error", "text": "문제"},
            "merchant": {"code": "imp12345678", "name": "상점", "imp_key": "1234"},
        });
        let pages = [
            (
                "payments.html",
                serde_json::json!({"paged": paged(serde_json::json!([payment])), "q": {"status": "paid"}, "query": "status=paid&", "pay_methods": ["card"], "providers": [["kicc", "KICC"]]}),
            ),
            (
                "payment.html",
                serde_json::json!({"p": payment, "attempts": [payment], "webhooks": [webhook], "show_resend": false, "balance": 700}),
            ),
            (
                "webhooks.html",
                serde_json::json!({"webhooks": [webhook], "paged": paged(serde_json::json!([webhook])), "show_resend": true, "q": {}, "query": ""}),
            ),
            (
                "billing_keys.html",
                serde_json::json!({"paged": paged(serde_json::json!([key])), "q": "c", "query": "q=c&"}),
            ),
            (
                "billing_key.html",
                serde_json::json!({"k": key, "channel_key": "channel-key-1", "payments": [payment], "schedules": [schedule]}),
            ),
            (
                "schedules.html",
                serde_json::json!({"upcoming": [schedule], "executed": [schedule], "revoked": [], "q": {"from": "2026-01-01"}}),
            ),
            ("schedule.html", serde_json::json!({"s": schedule})),
            (
                "audit.html",
                serde_json::json!({"paged": paged(serde_json::json!([{"at": 1, "user_email": "u", "action": "payment.cancel", "subject": "imps_1", "detail": "d"}])), "query": ""}),
            ),
            (
                "dashboard.html",
                serde_json::json!({"total_amount": 1000, "total_approved": 1, "rate_text": "50%", "volume_svg": "<svg></svg>", "rate_svg": "<svg></svg>", "failures": [payment]}),
            ),
            (
                "merchants.html",
                serde_json::json!({"merchants": [{"imp_code": "imp1", "name": "n", "imp_key": "k", "created_at": 1}], "created": {"imp_code": "imp1", "imp_key": "k", "imp_secret": "s"}}),
            ),
            (
                "settings.html",
                serde_json::json!({"tab": "pg", "channels": [channel], "provider_names": {"html5_inicis": "KG이니시스(웹표준결제창)"}, "secret_labels": {"sign_key": "웹표준결제 signKey"}}),
            ),
            (
                "settings.html",
                serde_json::json!({"tab": "account", "webhook_url": "http://x", "webhook_format": "json", "webhook_secret": "whsec_x", "new_secret": "sec", "test": {"url": "http://x", "http_status": 200, "latency_ms": 1, "response": "OK", "error": null}}),
            ),
            (
                "channel_form.html",
                serde_json::json!({"channel": channel, "form": {"pg_provider": "kicc", "mid": "T1", "test_mode": true, "is_default": false, "keyed_billing": true, "endpoint": ""}, "providers": [["kicc", "KICC"]], "secret_fields": [["sign_key", "웹표준결제 signKey"]], "masked": {"sign_key": "SU******"}, "supports_endpoint": true}),
            ),
            ("error.html", serde_json::json!({"heading": "h", "message": "m"})),
        ];
        for (name, extra) in pages {
            let mut context = base.as_object().unwrap().clone();
            context.extend(extra.as_object().unwrap().clone());
            let html = env
                .get_template(name)
                .and_then(|t| t.render(Value::from_serialize(&context)))
                .unwrap_or_else(|err| panic!("{name}: {err:#}"));
            assert!(html.contains("</html>"), "{name}");
        }
        let login = env.get_template("login.html").unwrap();
        let html = login
            .render(minijinja::context! { lang => "ko", csrf => "t", email => "", error => "e" })
            .unwrap();
        assert!(html.contains("로그인"));
    }

    #[test]
    fn templates_parse_and_escape() {
        let env = environment();
        let page = env
            .get_template("error.html")
            .unwrap()
            .render(minijinja::context! { heading => "<b>", message => "m", lang => "ko" })
            .unwrap();
        assert!(page.contains("&lt;b&gt;") && !page.contains("<b>"), "{page}");
    }
}
