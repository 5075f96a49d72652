//! The fake's auth page (KICC's `authPageUrl`): a card form the customer fills in, and the
//! auto-submitted form that carries KICC's return (`resCd`, `resMsg`, `shopOrderNo`,
//! `authorizationId`, `shopValue1`) back to the merchant's `returnUrl`.

use super::ledger::Registration;
use crate::protocol::PAY_METHOD_BILLING_KEY;

/// HTML-escapes text for an element or a double-quoted attribute.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for ch in text.chars() {
        match ch {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(ch),
        }
    }
    out
}

/// The card form of a registration. A billing-key window (81, certType 0) asks for the number,
/// expiry, birth date and the password's first two digits; a payment for number and expiry.
pub fn card_form(id: &str, registration: &Registration, error: Option<&str>) -> String {
    let issue = registration.pay_method == PAY_METHOD_BILLING_KEY;
    let title = if issue { "카드 등록 (빌키 발급)" } else { "카드 결제" };
    let extra = if issue {
        r#"<label>생년월일(YYMMDD) <input name="birth" id="birth" inputmode="numeric" required></label>
<label>비밀번호 앞 2자리 <input name="pwd_2digit" id="pwd_2digit" type="password" inputmode="numeric" required></label>"#
    } else {
        ""
    };
    let amount = if issue {
        "결제되지 않습니다 (카드 등록)".to_owned()
    } else {
        format!("{}원", registration.amount)
    };
    let error = error
        .map(|e| format!(r#"<p class="error" id="error">{}</p>"#, escape(e)))
        .unwrap_or_default();
    format!(
        r#"<!doctype html>
<html lang="ko"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width">
<title>KICC EasyPay (fake) - {title}</title>
<style>body{{font-family:sans-serif;max-width:30em;margin:2em auto}}label{{display:block;margin:.6em 0}}.error{{color:#b00}}</style></head>
<body class="device-{device}">
<h1>KICC EasyPay <small>(fake)</small></h1>
<p>{goods} · <span id="amount">{amount}</span></p>
{error}
<form method="post" action="/auth/{id}" id="card-form">
<label>카드번호 <input name="card_number" id="card_number" inputmode="numeric" autocomplete="off" required></label>
<label>유효기간(YYYY-MM) <input name="expiry" id="expiry" required></label>
{extra}
<button type="submit" name="action" value="pay" id="pay">{submit}</button>
<button type="submit" name="action" value="cancel" id="cancel" formnovalidate>취소</button>
</form></body></html>"#,
        device = escape(&registration.device),
        submit = if issue { "카드 등록" } else { "결제" },
        goods = escape(&registration.goods_name),
        id = escape(id),
    )
}

/// The page that posts KICC's return to the merchant at once.
pub fn return_form(return_url: &str, fields: &[(&str, &str)]) -> String {
    let inputs: String = fields
        .iter()
        .map(|(name, value)| {
            format!(r#"<input type="hidden" name="{}" value="{}">"#, escape(name), escape(value))
        })
        .collect();
    format!(
        r#"<!doctype html>
<html lang="ko"><head><meta charset="utf-8"><title>KICC EasyPay (fake)</title></head>
<body><form method="post" action="{action}" id="kicc-return">{inputs}
<noscript><button type="submit">계속</button></noscript></form>
<script>document.getElementById('kicc-return').submit();</script></body></html>"#,
        action = escape(return_url),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn return_form_escapes_everything() {
        let html = return_form("https://a.example/r?x=1&y=\"2\"", &[("resMsg", "<b>'x'</b>")]);
        assert!(html.contains(r#"action="https://a.example/r?x=1&amp;y=&quot;2&quot;""#));
        assert!(html.contains("&lt;b&gt;&#39;x&#39;&lt;/b&gt;"));
    }
}
