//! The fake's browser-facing pages: the card forms of its windows (the card number is typed
//! here, at the "PG", never at openimp), the auto-posted returns, errors, receipts, and
//! `INIStdPay.js`.

use super::Txn;

/// HTML-escapes `text` for element content and quoted attribute values.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

fn page(title: &str, body: &str) -> String {
    format!(
        "<!doctype html><html lang=\"ko\"><head><meta charset=\"utf-8\">\
<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
<title>{title}</title><style>body{{font-family:sans-serif;max-width:28rem;margin:2rem auto;padding:0 1rem}}\
label{{display:block;margin:.6rem 0}}input{{width:100%;box-sizing:border-box;padding:.4rem;font-size:1rem}}\
button{{padding:.5rem 1rem;font-size:1rem}}.error{{color:#b00}}</style></head>\
<body><h1>KG이니시스 (fake)</h1>{body}</body></html>",
        title = escape(title)
    )
}

fn hidden(fields: &[(&str, &str)]) -> String {
    fields
        .iter()
        .map(|(k, v)| {
            format!("<input type=\"hidden\" name=\"{}\" value=\"{}\">", escape(k), escape(v))
        })
        .collect()
}

/// What a card form shows and where it posts.
pub struct CardForm<'a> {
    pub title: &'a str,
    pub action: &'a str,
    pub hidden: &'a [(&'a str, &'a str)],
    pub order_name: &'a str,
    pub amount: i64,
    /// A billing-key window (nothing is charged; the amount is only shown).
    pub billing: bool,
    /// Where "취소" goes (the merchant's close URL), if any.
    pub cancel_url: Option<&'a str>,
    pub error: Option<&'a str>,
}

/// The card form of a window.
pub fn card_form(form: &CardForm<'_>) -> String {
    let notice = if form.billing {
        "정기결제용 카드를 등록합니다. 표시 금액은 승인되지 않습니다.".to_owned()
    } else {
        format!("결제 금액: {}원", form.amount)
    };
    let error = form
        .error
        .map(|e| format!("<p class=\"error\" id=\"error\">{}</p>", escape(e)))
        .unwrap_or_default();
    let cancel = form
        .cancel_url
        .map(|url| format!(" <a id=\"cancel\" href=\"{}\">취소</a>", escape(url)))
        .unwrap_or_default();
    let button = if form.billing { "카드 등록" } else { "결제하기" };
    page(
        form.title,
        &format!(
            "<p id=\"order\">{order}</p><p id=\"amount\">{notice}</p>{error}\
<form id=\"cardForm\" method=\"post\" action=\"{action}\" accept-charset=\"UTF-8\">{hidden}\
<label>카드번호 <input id=\"cardNumber\" name=\"cardNumber\" inputmode=\"numeric\" autocomplete=\"off\" required></label>\
<label>유효기간 (MMYY) <input id=\"expiry\" name=\"expiry\" inputmode=\"numeric\" maxlength=\"4\" autocomplete=\"off\" required></label>\
<button id=\"pay\" type=\"submit\">{button}</button>{cancel}</form>",
            order = escape(form.order_name),
            action = escape(form.action),
            hidden = hidden(form.hidden),
        ),
    )
}

/// A page that posts `fields` to `action` at once (the PG sending the browser back).
pub fn autopost(action: &str, fields: &[(&str, &str)]) -> String {
    page(
        "결제 결과 전송",
        &format!(
            "<form id=\"returnForm\" method=\"post\" action=\"{}\" accept-charset=\"UTF-8\">{}\
<noscript><button type=\"submit\">계속</button></noscript></form>\
<script>document.getElementById('returnForm').submit();</script>",
            escape(action),
            hidden(fields)
        ),
    )
}

/// An error the window shows instead of going on (a request the PG refuses).
pub fn error(code: &str, message: &str) -> String {
    page(
        "오류",
        &format!(
            "<p class=\"error\" id=\"error\">[<span id=\"code\">{}</span>] {}</p>",
            escape(code),
            escape(message)
        ),
    )
}

/// A transaction's receipt.
pub fn receipt(tid: &str, txn: &Txn) -> String {
    let cancels: String = txn
        .cancels
        .iter()
        .map(|c| format!("<li>취소 {}원 ({})</li>", c.price, escape(&c.tid)))
        .collect();
    page(
        "영수증",
        &format!(
            "<p>거래번호 {}</p><p>주문번호 {}</p><p>승인금액 {}원</p><p>승인번호 {}</p>\
<p>카드 {}</p><p>취소 가능 잔액 {}원</p><ul>{}</ul>",
            escape(tid),
            escape(&txn.moid),
            txn.price,
            escape(&txn.auth_code),
            escape(&txn.card.masked()),
            txn.remaining,
            cancels
        ),
    )
}

/// `INIStdPay.js`: `INIStdPay.pay(formId)` posts the merchant's form to the pay page of the
/// host the script was loaded from (KG Inicis's opens an overlay; the fake navigates).
pub const STDPAY_SCRIPT: &str = r#"(function () {
  var script = document.currentScript;
  var origin = script ? new URL(script.src, location.href).origin : location.origin;
  window.INIStdPay = {
    pay: function (formId) {
      var form = document.getElementById(formId);
      if (!form) { throw new Error('INIStdPay.pay: no form #' + formId); }
      form.setAttribute('action', origin + '/payMain/pay');
      form.setAttribute('method', 'post');
      form.setAttribute('accept-charset', 'UTF-8');
      HTMLFormElement.prototype.submit.call(form);
    }
  };
})();
"#;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup() {
        assert_eq!(
            escape("<a href=\"x\">'&'</a>"),
            "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;"
        );
        let html = autopost("https://m.example/r?a=1&b=2", &[("k\"", "<v>")]);
        assert!(html.contains("action=\"https://m.example/r?a=1&amp;b=2\""));
        assert!(html.contains("name=\"k&quot;\" value=\"&lt;v&gt;\""));
    }
}
