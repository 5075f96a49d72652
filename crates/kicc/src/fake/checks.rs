//! The fake's field checks: each request field read from the raw JSON, with KICC's types
//! (strings as strings, amounts as JSON numbers) and lengths, independently of the connector's
//! own structs, so a field the connector misspells or mistypes is refused rather than agreed
//! with.

use serde_json::Value;

use crate::protocol;

/// A refusal: KICC's `resCd`/`resMsg`, answered with HTTP 200 as KICC does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub code: &'static str,
    pub message: String,
}

impl Refusal {
    pub fn new(code: &'static str, message: impl Into<String>) -> Refusal {
        Refusal { code, message: message.into() }
    }
}

/// The fake's refusal codes (protocol::codes lists the ones the connector reads).
pub mod code {
    pub const BAD_FIELD: &str = "A102";
    pub const BAD_DATE: &str = "A103";
    pub const BAD_AMOUNT: &str = "A104";
    pub const BAD_MAC: &str = "A101";
    pub const UNKNOWN_MALL: &str = "M101";
    pub const DUPLICATE_REQUEST: &str = crate::protocol::codes::DUPLICATE_REQUEST;
    pub const NOT_FOUND: &str = crate::protocol::codes::NOT_FOUND;
    pub const OUT_OF_RANGE_DATE: &str = "R302";
    pub const UNSUPPORTED_METHOD: &str = "W101";
    pub const CUSTOMER_CANCELLED: &str = "W002";
    pub const UNKNOWN_AUTHORIZATION: &str = "P101";
    pub const ORDER_ALREADY_APPROVED: &str = "P102";
    pub const UNKNOWN_BATCH_KEY: &str = "B101";
    pub const BATCH_KEY_REMOVED: &str = crate::protocol::codes::BATCH_KEY_REMOVED;
    pub const UNKNOWN_ORIGINAL: &str = "C101";
    pub const ALREADY_CANCELLED: &str = "C102";
    pub const OVER_BALANCE: &str = "C103";
    pub const REMAIN_MISMATCH: &str = "C104";
    pub const UNSUPPORTED_REVISE: &str = "C105";
}

/// A request body's fields.
pub struct Fields<'a>(pub &'a Value);

impl<'a> Fields<'a> {
    fn at(&self, path: &str) -> Option<&'a Value> {
        path.split('.').try_fold(self.0, |value, key| value.get(key))
    }

    fn missing(path: &str) -> Refusal {
        Refusal::new(code::BAD_FIELD, format!("필수 항목 누락 또는 형식 오류: {path}"))
    }

    /// A required, non-empty string of at most `max` characters.
    pub fn string(&self, path: &str, max: usize) -> Result<&'a str, Refusal> {
        match self.at(path) {
            Some(Value::String(s)) if !s.is_empty() && s.chars().count() <= max => Ok(s),
            _ => Err(Self::missing(path)),
        }
    }

    /// An optional string (absent or null is `None`); present, it must be a string of at most
    /// `max` characters.
    pub fn optional_string(&self, path: &str, max: usize) -> Result<Option<&'a str>, Refusal> {
        match self.at(path) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) if s.chars().count() <= max => Ok(Some(s)),
            _ => Err(Self::missing(path)),
        }
    }

    /// A required string equal to one of `allowed`.
    pub fn one_of(&self, path: &str, allowed: &[&str]) -> Result<&'a str, Refusal> {
        let value = self.string(path, 20)?;
        if allowed.contains(&value) {
            Ok(value)
        } else {
            Err(Refusal::new(code::BAD_FIELD, format!("허용되지 않는 값: {path}={value}")))
        }
    }

    /// A required JSON integer (KICC's `Number`; a string is refused).
    pub fn number(&self, path: &str) -> Result<i64, Refusal> {
        self.at(path).and_then(Value::as_i64).ok_or_else(|| Self::missing(path))
    }

    /// An optional JSON integer.
    pub fn optional_number(&self, path: &str) -> Result<Option<i64>, Refusal> {
        match self.at(path) {
            None | Some(Value::Null) => Ok(None),
            Some(value) => value.as_i64().map(Some).ok_or_else(|| Self::missing(path)),
        }
    }

    /// A required `yyyyMMdd` that is `today` (KICC's request dates must be the current date).
    pub fn today(&self, path: &str, today: &str) -> Result<(), Refusal> {
        let value = self.string(path, 8)?;
        if !protocol::is_ymd(value) {
            return Err(Self::missing(path));
        }
        if value != today {
            return Err(Refusal::new(
                code::BAD_DATE,
                format!("요청일자가 오늘({today})이 아닙니다: {path}={value}"),
            ));
        }
        Ok(())
    }

    /// A required `shopTransactionId` (1 to 60 characters).
    pub fn shop_transaction_id(&self) -> Result<&'a str, Refusal> {
        self.string("shopTransactionId", protocol::MAX_SHOP_TRANSACTION_ID)
    }

    /// A required `shopOrderNo` (letters, digits, `-`, `_`; at most 40).
    pub fn shop_order_no(&self) -> Result<&'a str, Refusal> {
        let value = self.string("shopOrderNo", protocol::MAX_SHOP_ORDER_NO)?;
        if protocol::is_shop_order_no(value) {
            Ok(value)
        } else {
            Err(Self::missing("shopOrderNo"))
        }
    }

    /// A required free-text field obeying KICC's character rules and byte limit.
    pub fn text(&self, path: &str, max_bytes: usize) -> Result<&'a str, Refusal> {
        let value = self.string(path, max_bytes)?;
        self.check_text(path, value, max_bytes)
    }

    /// An optional free-text field obeying KICC's rules when present.
    pub fn optional_text(&self, path: &str, max_bytes: usize) -> Result<Option<&'a str>, Refusal> {
        match self.optional_string(path, max_bytes)? {
            None => Ok(None),
            Some(value) => self.check_text(path, value, max_bytes).map(Some),
        }
    }

    fn check_text(&self, path: &str, value: &'a str, max_bytes: usize) -> Result<&'a str, Refusal> {
        if protocol::is_clean_text(value, max_bytes) {
            Ok(value)
        } else {
            Err(Refusal::new(code::BAD_FIELD, format!("허용되지 않는 문자 또는 길이 초과: {path}")))
        }
    }

    /// `taxInfo`, when present: three numbers that add up to `amount`.
    pub fn tax_info(&self, amount: i64) -> Result<(), Refusal> {
        if self.at("taxInfo").is_none_or(Value::is_null) {
            return Ok(());
        }
        let taxation = self.number("taxInfo.taxationAmount")?;
        let tax_free = self.number("taxInfo.taxFreeAmount")?;
        let vat = self.number("taxInfo.vatAmount")?;
        if taxation < 0 || tax_free < 0 || vat < 0 || taxation + tax_free + vat != amount {
            return Err(Refusal::new(
                code::BAD_AMOUNT,
                "복합과세 금액의 합이 결제금액과 다릅니다 (taxInfo does not add up to amount)",
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn types_and_lengths() {
        let body = serde_json::json!({
            "mallId": "T5102001", "amount": "1000", "n": 5, "d": "20240101",
            "o": {"goodsName": "a;b"}, "shopOrderNo": "imp_1"
        });
        let fields = Fields(&body);
        assert_eq!(fields.string("mallId", 8), Ok("T5102001"));
        assert!(fields.string("mallId", 7).is_err());
        assert!(fields.number("amount").is_err(), "a string amount is refused");
        assert_eq!(fields.number("n"), Ok(5));
        assert_eq!(fields.optional_number("nope"), Ok(None));
        assert!(fields.today("d", "20240101").is_ok());
        assert_eq!(fields.today("d", "20240102").unwrap_err().code, code::BAD_DATE);
        assert!(fields.text("o.goodsName", 50).is_err());
        assert_eq!(fields.shop_order_no(), Ok("imp_1"));
        assert!(fields.tax_info(1000).is_ok());
    }
}
