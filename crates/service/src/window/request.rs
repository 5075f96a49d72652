//! The window's request: the SDK's `request_pay` parameters, checked as the original SDK and
//! server do, into a [`WindowRequest`].

use openimp_core::card::card_company_by_code;
use openimp_core::money::INSTALMENT_MIN_AMOUNT;
use openimp_core::order::{check_length, field_limit, CUSTOMER_ID_MAX};
use openimp_core::time::now;
use openimp_core::ApiError;
use serde_json::{Map, Value};

use super::WindowRequest;
use crate::codes::CARD_CODES;
use crate::ApiResult;

/// The pay methods the sandbox window takes (`samsung` is the old name of `samsungpay`): every
/// one seed 003 lists for KG Inicis, and the other easy-pay brands.
pub const PAY_METHODS: [&str; 17] = [
    "card",
    "trans",
    "vbank",
    "phone",
    "kakaopay",
    "naverpay",
    "samsung",
    "samsungpay",
    "payco",
    "ssgpay",
    "tosspay",
    "lpay",
    "kpay",
    "chai",
    "cultureland",
    "smartculture",
    "happymoney",
];

/// Gift certificates (상품권): paid at their issuer, never an easy-pay brand inside a hub PG.
pub const GIFT_CERTIFICATES: [&str; 3] = ["cultureland", "smartculture", "happymoney"];

/// The longest URL a window session stores (notice_url's limit, for m_redirect_url too). The
/// order fields use the one table of `openimp_core::order::FIELD_LIMITS`, as REST does: the SDK
/// posts without credentials, so nothing unbounded reaches the database.
fn url_max() -> usize {
    field_limit("notice_url")
}

/// How the window names a pay method.
pub fn method_label(pay_method: &str) -> &'static str {
    match pay_method {
        "card" => "신용카드",
        "trans" => "실시간 계좌이체",
        "vbank" => "가상계좌",
        "phone" => "휴대폰 소액결제",
        "kakaopay" => "카카오페이",
        "naverpay" => "네이버페이",
        "samsung" | "samsungpay" => "삼성페이",
        "payco" => "페이코",
        "ssgpay" => "SSGPAY",
        "tosspay" => "토스페이",
        "lpay" => "L.pay",
        "kpay" => "KPAY",
        "chai" => "차이",
        "cultureland" => "문화상품권",
        "smartculture" => "스마트문화상품권",
        "happymoney" => "해피머니",
        _ => "결제",
    }
}

/// `vbank_due` as the SDK takes it (`YYYY-MM-DD`, `YYYYMMDD`, `YYYY-MM-DD HH:mm:ss`,
/// `YYYYMMDDHHmmss`, Korean time; a date alone means its last second), as unix seconds.
pub fn parse_vbank_due(value: &str) -> Option<i64> {
    use chrono::{NaiveDate, NaiveDateTime, NaiveTime};
    let value = value.trim();
    let at = NaiveDateTime::parse_from_str(value, "%Y-%m-%d %H:%M:%S")
        .or_else(|_| NaiveDateTime::parse_from_str(value, "%Y%m%d%H%M%S"))
        .ok()
        .filter(|_| value.len() == 19 || value.len() == 14)
        .or_else(|| {
            let date = NaiveDate::parse_from_str(value, "%Y-%m-%d")
                .ok()
                .filter(|_| value.len() == 10)
                .or_else(|| {
                    NaiveDate::parse_from_str(value, "%Y%m%d").ok().filter(|_| value.len() == 8)
                })?;
            Some(date.and_time(NaiveTime::from_hms_opt(23, 59, 59)?))
        })?;
    let kst = chrono::FixedOffset::east_opt(9 * 3600)?;
    at.and_local_timezone(kst).single().map(|t| t.timestamp())
}

pub(super) fn opt_string(params: &Map<String, Value>, key: &str) -> ApiResult<Option<String>> {
    match params.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.trim().to_owned()).filter(|s| !s.is_empty())),
        Some(Value::Number(n)) => Ok(Some(n.to_string())),
        Some(_) => {
            Err(ApiError::invalid(format!("{key}는 문자열이어야 합니다. ({key} must be a string)")))
        }
    }
}

pub(super) fn opt_amount(params: &Map<String, Value>, key: &str) -> ApiResult<Option<i64>> {
    match params.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => match n.as_i64() {
            Some(v) if v >= 0 => Ok(Some(v)),
            _ => Err(ApiError::invalid(format!(
                "{key}는 0 이상의 정수여야 합니다. ({key} must be a non-negative integer)"
            ))),
        },
        Some(_) => {
            Err(ApiError::invalid(format!("{key}는 숫자여야 합니다. ({key} must be a number)")))
        }
    }
}

/// A text parameter of at most `max` characters; longer is a 400 naming the field.
fn capped(params: &Map<String, Value>, key: &str, max: usize) -> ApiResult<Option<String>> {
    let value = opt_string(params, key)?;
    check_length(key, value.as_deref(), max)?;
    Ok(value)
}

/// An order field of the SDK's parameters, capped as REST caps it.
fn order_field(params: &Map<String, Value>, key: &str) -> ApiResult<Option<String>> {
    capped(params, key, field_limit(key))
}

/// The SDK's parameters, checked as the original SDK and server do.
pub(super) fn parse_request(
    params: &Map<String, Value>,
    pg: Option<String>,
) -> ApiResult<WindowRequest> {
    let merchant_uid = match params.get("merchant_uid") {
        // Trimmed as REST and prepare trim it (`required` in the HTTP handlers), so " pp_1"
        // cannot dodge the amount prepared for "pp_1".
        Some(Value::String(s)) => s.trim().to_owned(),
        _ => {
            return Err(ApiError::invalid(
                "merchant_uid는 문자열이어야 합니다. (merchant_uid must be a string)",
            ))
        }
    };
    let amount = match params.get("amount") {
        Some(Value::Number(_)) => opt_amount(params, "amount")?.unwrap_or(0),
        _ => return Err(ApiError::invalid("amount는 숫자여야 합니다. (amount must be a number)")),
    };
    let customer_uid = opt_string(params, "customer_uid")?;
    let pay_method = opt_string(params, "pay_method")?.unwrap_or_else(|| "card".to_owned());
    if pay_method != "card"
        && (customer_uid.is_some() || !PAY_METHODS.contains(&pay_method.as_str()))
    {
        let detail = if customer_uid.is_some() {
            "빌링키 발급 결제창은 pay_method 'card'만 지원합니다. (billing-key windows support pay_method 'card' only)".to_owned()
        } else {
            format!("지원하지 않는 결제수단입니다: {pay_method} (openimp's sandbox window supports pay_method {})", PAY_METHODS.join(", "))
        };
        return Err(ApiError::rejected(detail));
    }
    let currency =
        openimp_core::money::check_currency(opt_string(params, "currency")?.as_deref())?.to_owned();
    let custom_data = match params.get("custom_data") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(other) => Some(other.to_string()),
    };
    check_length("custom_data", custom_data.as_deref(), field_limit("custom_data"))?;
    let notice_url = match params.get("notice_url") {
        // Several URLs: the first one is honoured (one webhook target per payment).
        Some(Value::Array(urls)) => urls.iter().find_map(Value::as_str).map(str::to_owned),
        _ => opt_string(params, "notice_url")?,
    };
    check_length("notice_url", notice_url.as_deref(), url_max())?;
    let m_redirect_url = capped(params, "m_redirect_url", url_max())?;
    let vbank_due = match opt_string(params, "vbank_due")?.filter(|_| pay_method == "vbank") {
        None => None,
        Some(due) => match parse_vbank_due(&due) {
            Some(at) if at > now() => Some(at),
            Some(_) => {
                return Err(ApiError::invalid(format!(
                    "vbank_due {due}: 입금기한이 이미 지났습니다. (the deposit deadline is in the past)"
                )))
            }
            None => {
                return Err(ApiError::invalid(format!(
                    "vbank_due {due}: YYYY-MM-DD, YYYYMMDD, YYYY-MM-DD HH:mm:ss 또는 YYYYMMDDHHmmss 형식이어야 합니다. (bad vbank_due)"
                )))
            }
        },
    };
    if let Some(url) = &m_redirect_url {
        if !(url.starts_with("http://") || url.starts_with("https://")) {
            return Err(ApiError::invalid(
                "m_redirect_url은 http(s) URL이어야 합니다. (m_redirect_url must be an http(s) URL)",
            ));
        }
    }
    let quota_options = if amount < INSTALMENT_MIN_AMOUNT {
        Vec::new()
    } else {
        match params.get("display").and_then(|d| d.get("card_quota")) {
            Some(Value::Array(months)) => {
                let mut months: Vec<i64> = months
                    .iter()
                    .filter_map(Value::as_i64)
                    .filter(|m| (2..=36).contains(m))
                    .collect();
                months.sort_unstable();
                months.dedup();
                months
            }
            _ => (2..=12).collect(),
        }
    };
    let card = params.get("card");
    let direct = card.and_then(|c| c.get("direct")).filter(|d| d.is_object());
    let direct_code = match direct.and_then(|d| d.get("code")) {
        None => None,
        Some(code) => {
            let code = code.as_str().map(str::to_owned).unwrap_or_else(|| code.to_string());
            if card_company_by_code(&code).is_none() {
                return Err(ApiError::invalid(format!(
                    "card.direct.code {code}: 알 수 없는 카드사 코드입니다. (unknown card company code)"
                )));
            }
            Some(code)
        }
    };
    let direct_quota = direct.and_then(|d| d.get("quota")).and_then(Value::as_i64).unwrap_or(0);
    let direct_quota =
        if direct_quota >= 2 && amount >= INSTALMENT_MIN_AMOUNT { direct_quota } else { 0 };
    let mut enabled: Vec<(String, bool)> =
        CARD_CODES.iter().map(|code| ((*code).to_owned(), true)).collect();
    if let Some(Value::Array(details)) = card.and_then(|c| c.get("detail")) {
        for detail in details {
            let code = detail.get("card_code").and_then(Value::as_str).unwrap_or("");
            let on = detail.get("enabled").and_then(Value::as_bool).unwrap_or(true);
            for (c, state) in enabled.iter_mut() {
                if code == "*" || code == c {
                    *state = on;
                }
            }
        }
    }
    let mut enabled_cards: Vec<String> =
        enabled.into_iter().filter(|(_, on)| *on).map(|(c, _)| c).collect();
    if let Some(code) = &direct_code {
        enabled_cards = vec![code.clone()];
    }
    if enabled_cards.is_empty() {
        return Err(ApiError::invalid(
            "card.detail이 모든 카드사를 비활성화했습니다. (card.detail disables every card company)",
        ));
    }
    Ok(WindowRequest {
        pg,
        pay_method,
        merchant_uid,
        name: order_field(params, "name")?,
        amount,
        tax_free: opt_amount(params, "tax_free")?.unwrap_or(0),
        vat_amount: opt_amount(params, "vat_amount")?.or(opt_amount(params, "vat")?),
        currency,
        customer_uid,
        customer_id: capped(params, "customer_id", CUSTOMER_ID_MAX)?,
        buyer_name: order_field(params, "buyer_name")?,
        buyer_email: order_field(params, "buyer_email")?,
        buyer_tel: order_field(params, "buyer_tel")?,
        buyer_addr: order_field(params, "buyer_addr")?,
        buyer_postcode: order_field(params, "buyer_postcode")?,
        custom_data,
        notice_url,
        m_redirect_url,
        quota_options,
        direct_code,
        direct_quota,
        enabled_cards,
        vbank_due,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn params(value: Value) -> Map<String, Value> {
        value.as_object().cloned().unwrap()
    }

    #[test]
    fn types_are_checked_like_the_sdk() {
        // The SDK refuses a number where it wants a string, and a string where it wants a
        // number: each is a 400 naming the field.
        let refused = |value: Value, field: &str| {
            let err = parse_request(&params(value), None).unwrap_err();
            assert!(matches!(err, ApiError::InvalidRequest(_)), "{err:?}");
            assert!(err.to_string().contains(field), "{field}: {err}");
        };
        refused(json!({"merchant_uid": 5, "amount": 100}), "merchant_uid");
        refused(json!({"merchant_uid": "a", "amount": "100"}), "amount");
        let ok = parse_request(&params(json!({"merchant_uid": "a", "amount": 100})), None).unwrap();
        assert_eq!(ok.pay_method, "card");
        assert!(ok.quota_options.is_empty(), "no instalments under 50,000 KRW");
    }

    #[test]
    fn card_detail_and_direct() {
        let req = parse_request(
            &params(json!({"merchant_uid": "a", "amount": 60000,
                "display": {"card_quota": [6, 3]},
                "card": {"detail": [{"card_code": "*", "enabled": false}, {"card_code": "366", "enabled": true}]}})),
            None,
        )
        .unwrap();
        assert_eq!(req.enabled_cards, vec!["366"]);
        assert_eq!(req.quota_options, vec![3, 6]);
        let req = parse_request(
            &params(json!({"merchant_uid": "a", "amount": 60000, "card": {"direct": {"code": "367", "quota": 3}}})),
            None,
        )
        .unwrap();
        assert_eq!(req.direct_code.as_deref(), Some("367"));
        assert_eq!(req.direct_quota, 3);
    }

    #[test]
    fn pay_methods_and_vbank_due() {
        let req = |extra: Value| {
            let mut p = params(json!({"merchant_uid": "a", "amount": 1000}));
            p.extend(params(extra));
            parse_request(&p, None)
        };
        for method in ["trans", "vbank", "phone", "kakaopay", "samsung", "kpay"] {
            assert_eq!(req(json!({"pay_method": method})).unwrap().pay_method, method);
        }
        assert!(req(json!({"pay_method": "paypal"})).is_err());
        assert!(req(json!({"pay_method": "trans", "customer_uid": "c1"})).is_err());
        // 2030-12-31 18:00:00 KST = 09:00 UTC.
        let six_pm = 1_924_938_000;
        assert_eq!(parse_vbank_due("2030-12-31 18:00:00"), Some(six_pm));
        assert_eq!(parse_vbank_due("20301231180000"), Some(six_pm));
        assert_eq!(parse_vbank_due("2030-12-31"), Some(six_pm + 6 * 3600 - 1));
        assert_eq!(parse_vbank_due("20301231"), Some(six_pm + 6 * 3600 - 1));
        assert_eq!(parse_vbank_due("2030/12/31"), None);
        let due = req(json!({"pay_method": "vbank", "vbank_due": 20301231})).unwrap();
        assert_eq!(due.vbank_due, Some(six_pm + 6 * 3600 - 1));
        assert!(req(json!({"pay_method": "vbank", "vbank_due": "20200101"})).is_err());
        assert!(req(json!({"pay_method": "vbank", "vbank_due": "soon"})).is_err());
    }
}
