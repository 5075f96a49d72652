//! The window's HTML: plain server-rendered pages in Korean with English, no third-party
//! requests, one inline script (nonce'd) on the result page only.

use axum::http::header::{self, HeaderValue};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{json, Value};

use openimp_core::ApiError;
use openimp_service::window::{method_label, WindowView, BANKS, CARRIERS};

const STYLE: &str = r#"
*{box-sizing:border-box}
body{margin:0;font:16px/1.5 system-ui,-apple-system,"Apple SD Gothic Neo","Malgun Gothic",sans-serif;color:#1a1a1a;background:#fff}
main{max-width:440px;margin:0 auto;padding:20px}
header{display:flex;justify-content:space-between;align-items:baseline;gap:8px;border-bottom:2px solid #1a1a1a;padding-bottom:8px}
h1{font-size:1.15rem;margin:0}
.badge{font-size:.75rem;background:#fff3cd;color:#5c4300;border:1px solid #c9a227;border-radius:4px;padding:1px 6px;white-space:nowrap}
dl{display:grid;grid-template-columns:auto 1fr;gap:4px 12px;margin:14px 0}
dt{color:#444}dd{margin:0;text-align:right;font-weight:600}
.note{font-size:.85rem;color:#444;margin:0 0 12px}
label{display:block;font-weight:600;margin:12px 0 4px}
input,select{width:100%;font-size:1rem;padding:10px;border:1px solid #767676;border-radius:6px;background:#fff;color:#1a1a1a}
input:focus,select:focus,button:focus{outline:3px solid #1d5bd6;outline-offset:1px}
.row{display:grid;grid-template-columns:1fr 1fr;gap:12px}
.actions{display:flex;gap:10px;margin-top:18px}
button{flex:1;font-size:1rem;font-weight:700;padding:12px;border-radius:6px;border:1px solid #1a1a1a;cursor:pointer}
.pay{background:#1d5bd6;color:#fff;border-color:#1d5bd6}
.close{background:#fff;color:#1a1a1a}
.error{background:#fde8e8;color:#8a1010;border:1px solid #d33;border-radius:6px;padding:8px 10px}
.ok{background:#e6f4ea;color:#0b5323;border:1px solid #2e7d32;border-radius:6px;padding:8px 10px}
footer{margin-top:16px;font-size:.75rem;color:#555}
"#;

pub(crate) fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

fn won(amount: i64) -> String {
    let digits = amount.abs().to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    if amount < 0 {
        out.insert(0, '-');
    }
    out
}

/// An HTML response with the window's security headers.
fn html(
    status: StatusCode,
    body: String,
    nonce: Option<&str>,
    frame_origin: Option<&str>,
) -> Response {
    let script = nonce.map_or("'none'".to_owned(), |n| format!("'nonce-{n}'"));
    let ancestors = frame_origin.map_or("'none'".to_owned(), str::to_owned);
    let csp = format!(
        "default-src 'none'; style-src 'unsafe-inline'; script-src {script}; img-src 'self' data:; base-uri 'none'; frame-ancestors {ancestors}"
    );
    let mut response = (status, body).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/html; charset=utf-8"));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    if let Ok(csp) = HeaderValue::from_str(&csp) {
        headers.insert(header::CONTENT_SECURITY_POLICY, csp);
    }
    response
}

fn layout(title: &str, merchant: &str, content: &str) -> String {
    format!(
        r#"<!doctype html>
<html lang="ko">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<style>{STYLE}</style>
</head>
<body>
<main>
<header><h1>{merchant}</h1><span class="badge">테스트 결제창 (Sandbox)</span></header>
{content}
<footer>openimp 샌드박스 PG · 실제 카드 승인이 일어나지 않습니다. (openimp sandbox PG: no real card is charged.)</footer>
</main>
</body>
</html>"#,
        title = escape(title),
        merchant = escape(if merchant.is_empty() { "openimp" } else { merchant }),
    )
}

/// The card form.
pub fn form(view: &WindowView, message: Option<&str>) -> Response {
    if view.request.pay_method != "card" {
        return method_form(view, message);
    }
    let request = &view.request;
    let issue = request.issues_key();
    let id = escape(&view.session.id);
    let csrf = escape(&view.session.csrf_token);
    let mut content = String::new();
    content.push_str(r#"<section aria-label="주문 정보 (Order)"><dl>"#);
    if let Some(name) = &request.name {
        content.push_str(&format!("<dt>주문명 (Order)</dt><dd>{}</dd>", escape(name)));
    }
    content.push_str(&format!(
        "<dt>{} (Amount)</dt><dd>{}원</dd>",
        if issue { "표시 금액" } else { "결제금액" },
        won(request.amount)
    ));
    content.push_str(&format!(
        "<dt>PG</dt><dd>{}</dd></dl>",
        escape(&format!("{}.{}", view.pg_provider, view.pg_id))
    ));
    if issue {
        content.push_str(r#"<p class="note">정기결제용 카드 등록(빌링키 발급)입니다. 표시된 금액은 승인되지 않습니다. (Card registration for recurring payments: the amount above is not charged.)</p>"#);
    }
    content.push_str("</section>");
    if let Some(message) = message {
        content.push_str(&format!(r#"<p class="error" role="alert">{}</p>"#, escape(message)));
    }
    content.push_str(&format!(
        r#"<form method="post" action="/window/{id}" autocomplete="off"><input type="hidden" name="csrf" value="{csrf}">"#
    ));
    match &request.direct_code {
        Some(code) => {
            let name = view.cards.iter().find(|(c, _)| c == code).map_or(code.as_str(), |(_, n)| n);
            content.push_str(&format!(
                r#"<p><strong>카드사 (Card company):</strong> {}</p>"#,
                escape(name)
            ));
        }
        None => {
            content.push_str(r#"<label for="card_code">카드사 (Card company)</label><select id="card_code" name="card_code"><option value="">카드번호로 자동 선택 (detect from number)</option>"#);
            for (code, name) in &view.cards {
                content.push_str(&format!(
                    r#"<option value="{}">{}</option>"#,
                    escape(code),
                    escape(name)
                ));
            }
            content.push_str("</select>");
        }
    }
    content.push_str(
        r#"<label for="card_number">카드번호 (Card number)</label>
<input id="card_number" name="card_number" inputmode="numeric" autocomplete="cc-number" placeholder="0000-0000-0000-0000" required>
<div class="row"><div><label for="expiry">유효기간 (MM/YY) (Expiry)</label>
<input id="expiry" name="expiry" inputmode="numeric" autocomplete="cc-exp" placeholder="MM/YY" required></div>
<div><label for="pwd_2digit">비밀번호 앞 2자리 (Password, first 2 digits)</label>
<input id="pwd_2digit" name="pwd_2digit" type="password" inputmode="numeric" maxlength="2" autocomplete="off" required></div></div>
<label for="birth">생년월일 (또는 사업자번호) (Birth date YYMMDD, or business number)</label>
<input id="birth" name="birth" inputmode="numeric" maxlength="12" autocomplete="off" placeholder="YYMMDD" required>"#,
    );
    if !issue {
        if request.direct_code.is_some() {
            let quota = if request.direct_quota >= 2 {
                format!("{}개월", request.direct_quota)
            } else {
                "일시불".to_owned()
            };
            content.push_str(&format!(r#"<p><strong>할부 (Instalments):</strong> {quota}</p>"#));
        } else if !request.quota_options.is_empty() {
            content.push_str(r#"<label for="quota">할부 (Instalments)</label><select id="quota" name="quota"><option value="0">일시불 (Lump sum)</option>"#);
            for months in &request.quota_options {
                content.push_str(&format!(r#"<option value="{months}">{months}개월</option>"#));
            }
            content.push_str("</select>");
        }
    }
    let submit = if issue {
        "카드 등록 (Register card)".to_owned()
    } else {
        format!("{}원 결제하기 (Pay)", won(request.amount))
    };
    content.push_str(&format!(
        r#"<div class="actions"><button type="submit" class="pay">{submit}</button></div></form>
<form method="post" action="/window/{id}/close"><input type="hidden" name="csrf" value="{csrf}"><div class="actions"><button type="submit" class="close">닫기 (Close)</button></div></form>"#
    ));
    let title = if issue { "카드 등록 (Card registration)" } else { "결제 (Payment)" };
    let frame = (view.session.mode == "overlay").then_some(view.session.origin.as_str());
    html(StatusCode::OK, layout(title, &view.merchant_name, &content), None, frame)
}

/// The sandbox page of a pay method other than card: a bank, a virtual account, a phone, or an
/// easy-pay brand's approval.
fn method_form(view: &WindowView, message: Option<&str>) -> Response {
    let request = &view.request;
    let pay_method = request.pay_method.as_str();
    let label = method_label(pay_method);
    let id = escape(&view.session.id);
    let csrf = escape(&view.session.csrf_token);
    let mut content = String::new();
    content.push_str(r#"<section aria-label="주문 정보 (Order)"><dl>"#);
    if let Some(name) = &request.name {
        content.push_str(&format!("<dt>주문명 (Order)</dt><dd>{}</dd>", escape(name)));
    }
    content.push_str(&format!("<dt>결제금액 (Amount)</dt><dd>{}원</dd>", won(request.amount)));
    content.push_str(&format!("<dt>결제수단 (Method)</dt><dd>{}</dd>", escape(label)));
    content.push_str(&format!(
        "<dt>PG</dt><dd>{}</dd></dl></section>",
        escape(&format!("{}.{}", view.pg_provider, view.pg_id))
    ));
    if let Some(message) = message {
        content.push_str(&format!(r#"<p class="error" role="alert">{}</p>"#, escape(message)));
    }
    content.push_str(&format!(
        r#"<form method="post" action="/window/{id}" autocomplete="off"><input type="hidden" name="csrf" value="{csrf}">"#
    ));
    let bank_select = |content: &mut String, what: &str| {
        content.push_str(&format!(
            r#"<label for="bank_code">{what}</label><select id="bank_code" name="bank_code" required><option value="">은행 선택 (choose)</option>"#
        ));
        for (code, name) in BANKS {
            content.push_str(&format!(r#"<option value="{code}">{name}</option>"#));
        }
        content.push_str("</select>");
    };
    let submit = match pay_method {
        "trans" => {
            bank_select(&mut content, "출금 은행 (Bank)");
            content.push_str(r#"<p class="note">샌드박스 계좌이체: 은행을 고르고 확인하면 승인됩니다. (Sandbox bank transfer: choose a bank and confirm.)</p>"#);
            format!("{}원 계좌이체 결제하기 (Pay)", won(request.amount))
        }
        "vbank" => {
            bank_select(&mut content, "입금 은행 (Bank)");
            let holder = escape(request.buyer_name.as_deref().unwrap_or(""));
            content.push_str(&format!(
                r#"<label for="vbank_holder">입금자명 (Depositor)</label>
<input id="vbank_holder" name="vbank_holder" maxlength="20" value="{holder}" required>
<p class="note">가상계좌가 발급되고, 입금(샌드박스: POST /sandbox/vbank/{{imp_uid}}/deposit)되면 결제가 완료됩니다. (A virtual account is issued; the payment completes on the deposit.)</p>"#
            ));
            "가상계좌 발급받기 (Issue account)".to_owned()
        }
        "phone" => {
            content.push_str(r#"<label for="carrier">통신사 (Carrier)</label><select id="carrier" name="carrier" required><option value="">통신사 선택 (choose)</option>"#);
            for carrier in CARRIERS {
                content.push_str(&format!(
                    r#"<option value="{}">{}</option>"#,
                    escape(carrier),
                    escape(carrier)
                ));
            }
            let tel = escape(request.buyer_tel.as_deref().unwrap_or(""));
            content.push_str(&format!(
                r#"</select><label for="phone">휴대폰 번호 (Phone number)</label>
<input id="phone" name="phone" inputmode="tel" autocomplete="off" placeholder="010-0000-0000" value="{tel}" required>"#
            ));
            format!("{}원 결제하기 (Pay)", won(request.amount))
        }
        _ => {
            content.push_str(&format!(
                r#"<p class="note">샌드박스 {0}: 확인을 누르면 승인됩니다. (Sandbox {0}: confirm to approve.)</p>"#,
                escape(label)
            ));
            format!("{label}로 결제 (Pay with {pay_method})")
        }
    };
    content.push_str(&format!(
        r#"<div class="actions"><button type="submit" class="pay">{}</button></div></form>
<form method="post" action="/window/{id}/close"><input type="hidden" name="csrf" value="{csrf}"><div class="actions"><button type="submit" class="close">닫기 (Close)</button></div></form>"#,
        escape(&submit)
    ));
    let frame = (view.session.mode == "overlay").then_some(view.session.origin.as_str());
    html(StatusCode::OK, layout(label, &view.merchant_name, &content), None, frame)
}

/// The end of the window: tells the opener (postMessage to its origin only) and shows the result.
pub fn result(view: &WindowView, rsp: &Value) -> Response {
    let success = rsp.get("success").and_then(Value::as_bool).unwrap_or(false);
    let text = |key: &str| rsp.get(key).and_then(Value::as_str).unwrap_or("").to_owned();
    let mut content = String::new();
    if success {
        let what = if view.request.issues_key() {
            "카드가 등록되었습니다. (Card registered.)"
        } else if text("status") == "ready" && view.request.pay_method == "vbank" {
            "가상계좌가 발급되었습니다. 입금기한 안에 입금해주세요. (Virtual account issued.)"
        } else if text("status") == "ready" {
            "결제가 접수되었습니다. (Payment accepted.)"
        } else {
            "결제가 완료되었습니다. (Payment complete.)"
        };
        content.push_str(&format!(r#"<p class="ok" role="status">{what}</p>"#));
    } else {
        content.push_str(&format!(
            r#"<p class="error" role="alert">{}</p>"#,
            escape(&format!("{} ({})", text("error_msg"), text("error_code")))
        ));
    }
    let imp_uid = text("imp_uid");
    if !imp_uid.is_empty() {
        content.push_str(&format!("<dl><dt>imp_uid</dt><dd>{}</dd>", escape(&imp_uid)));
        if success && !text("vbank_num").is_empty() {
            let due = rsp.get("vbank_date").and_then(Value::as_i64).unwrap_or(0);
            let due = chrono::FixedOffset::east_opt(9 * 3600)
                .zip(chrono::DateTime::from_timestamp(due, 0))
                .map(|(kst, at)| at.with_timezone(&kst).format("%Y-%m-%d %H:%M").to_string())
                .unwrap_or_default();
            content.push_str(&format!(
                "<dt>은행 (Bank)</dt><dd>{}</dd><dt>계좌번호 (Account)</dt><dd>{}</dd><dt>예금주 (Holder)</dt><dd>{}</dd><dt>입금기한 (Due, KST)</dt><dd>{}</dd>",
                escape(&text("vbank_name")),
                escape(&text("vbank_num")),
                escape(&text("vbank_holder")),
                escape(&due)
            ));
        }
        content.push_str("</dl>");
    }
    let nonce = openimp_core::ids::random_hex(12);
    let message = json!({ "type": "openimp:result", "session": view.session.id, "rsp": rsp });
    // JSON inside a script element: `<` escaped so no `</script>` can end it.
    let message = message.to_string().replace('<', "\\u003c");
    let origin =
        serde_json::to_string(&view.session.origin).unwrap_or_default().replace('<', "\\u003c");
    // A PG's return lands inside the PG's frame within the window: the outermost openimp
    // window page above it (same origin, under /window/) is sent back to the window's own
    // URL, which shows this result again where the SDK listens (its frame's postMessage).
    let window_url = serde_json::to_string(&format!("/window/{}", view.session.id))
        .unwrap_or_default()
        .replace('<', "\\u003c");
    content.push_str(&format!(
        r#"<script nonce="{nonce}">(function(){{var m={message};var w=window;try{{while(w.parent!==w&&w.parent.location.origin===location.origin&&w.parent.location.pathname.indexOf('/window/')===0){{w=w.parent;}}}}catch(e){{}}if(w!==window){{w.location.replace({window_url});return;}}if(window.parent&&window.parent!==window){{window.parent.postMessage(m,{origin});}}}})();</script>"#
    ));
    // 'self': the result of a PG's return is framed by openimp's own window page.
    let frame = (view.session.mode == "overlay").then(|| format!("'self' {}", view.session.origin));
    let frame = frame.as_deref();
    html(
        StatusCode::OK,
        layout("결제 결과 (Result)", &view.merchant_name, &content),
        Some(&nonce),
        frame,
    )
}

/// A page for an error (unknown window, bad CSRF token, already used).
pub fn error(err: &ApiError) -> Response {
    let (status, _, message) = err.envelope_parts();
    let status = match status {
        200 => StatusCode::CONFLICT,
        other => StatusCode::from_u16(other).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
    };
    let content = format!(r#"<p class="error" role="alert">{}</p>"#, escape(&message));
    html(status, layout("오류 (Error)", "", &content), None, None)
}
