//! The order: what every charge carries, whoever asks for it (REST `again` and `onetime`, a
//! schedule, the payment window), and its one validation. Also the shared check of the
//! merchant's identifiers (`merchant_uid`, `customer_uid`).

use crate::error::ApiError;
use crate::money::{check_currency, ChargeAmounts};

/// At most this many characters in a merchant_uid (the official schema's `maxLength`).
pub const MERCHANT_UID_MAX: usize = 40;
/// At most this many characters in a customer_uid (reference §6).
pub const CUSTOMER_UID_MAX: usize = 80;
/// At most this many characters in a `customer_id` (the schema gives none; chosen).
pub const CUSTOMER_ID_MAX: usize = 100;

/// The order of one charge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Order {
    pub merchant_uid: String,
    pub amounts: ChargeAmounts,
    /// As asked; [`Order::check`] answers the one currency it settles in.
    pub currency: Option<String>,
    pub name: Option<String>,
    pub buyer_name: Option<String>,
    pub buyer_email: Option<String>,
    pub buyer_tel: Option<String>,
    pub buyer_addr: Option<String>,
    pub buyer_postcode: Option<String>,
    /// Kept as text (a JSON object is kept as its JSON text).
    pub custom_data: Option<String>,
    pub notice_url: Option<String>,
}

/// The longest free-text fields of an order, in characters: the official schema's `maxLength`
/// where it gives one, else chosen (docs/decisions.md).
pub const FIELD_LIMITS: [(&str, usize); 8] = [
    ("name", 40),
    ("buyer_name", 16),
    ("buyer_email", 64),
    ("buyer_tel", 16),
    ("buyer_addr", 128),
    ("buyer_postcode", 8),
    ("custom_data", 4096),
    ("notice_url", 2048),
];

impl Order {
    /// An order of `amount` with no tax-free part, default VAT and no instalments.
    pub fn new(merchant_uid: impl Into<String>, amount: i64) -> Order {
        Order {
            merchant_uid: merchant_uid.into(),
            amounts: ChargeAmounts { amount, tax_free: 0, vat_amount: None, card_quota: 0 },
            currency: None,
            name: None,
            buyer_name: None,
            buyer_email: None,
            buyer_tel: None,
            buyer_addr: None,
            buyer_postcode: None,
            custom_data: None,
            notice_url: None,
        }
    }

    pub fn amount(&self) -> i64 {
        self.amounts.amount
    }

    /// The one validation of an order: its merchant_uid, the amount rules, the length of every
    /// free-text field. Answers the currency it is charged in.
    pub fn check(&self) -> Result<&'static str, ApiError> {
        check_merchant_uid(&self.merchant_uid)?;
        self.amounts.check()?;
        self.check_fields()?;
        check_currency(self.currency.as_deref())
    }

    /// The length limits alone (a billing-key window carries an order with amount 0).
    pub fn check_fields(&self) -> Result<(), ApiError> {
        let values = [
            &self.name,
            &self.buyer_name,
            &self.buyer_email,
            &self.buyer_tel,
            &self.buyer_addr,
            &self.buyer_postcode,
            &self.custom_data,
            &self.notice_url,
        ];
        for ((field, max), value) in FIELD_LIMITS.iter().zip(values) {
            check_length(field, value.as_deref(), *max)?;
        }
        Ok(())
    }
}

/// The limit [`FIELD_LIMITS`] gives `field` (every order field has one).
pub fn field_limit(field: &str) -> usize {
    FIELD_LIMITS
        .iter()
        .find(|(name, _)| *name == field)
        .map(|(_, max)| *max)
        .unwrap_or_else(|| panic!("no length limit for order field {field}"))
}

/// Refuses a free-text value longer than `max` characters, naming the field.
pub fn check_length(field: &str, value: Option<&str>, max: usize) -> Result<(), ApiError> {
    match value {
        Some(value) if value.chars().count() > max => Err(ApiError::invalid(format!(
            "{field}은(는) {max}자 이내여야 합니다. ({field} is at most {max} characters)"
        ))),
        _ => Ok(()),
    }
}

/// merchant_uid: see [`check_uid`].
pub fn check_merchant_uid(merchant_uid: &str) -> Result<(), ApiError> {
    check_uid("merchant_uid", merchant_uid, MERCHANT_UID_MAX)
}

/// customer_uid: see [`check_uid`].
pub fn check_customer_uid(customer_uid: &str) -> Result<(), ApiError> {
    check_uid("customer_uid", customer_uid, CUSTOMER_UID_MAX)
}

/// The merchant's identifiers, one rule for REST, prepare and the window: present, at most
/// `max` characters, no control characters, and no leading or trailing whitespace (callers trim
/// what they parse; a padded value that reaches here is refused, since a merchant database
/// comparing with PAD SPACE would take `pp_1 ` for `pp_1`).
pub fn check_uid(field: &str, value: &str, max: usize) -> Result<(), ApiError> {
    if value.trim().is_empty() {
        return Err(ApiError::invalid(format!(
            "{field} 파라메터가 누락되었습니다. ({field} is required)"
        )));
    }
    if value.chars().count() > max {
        return Err(ApiError::invalid(format!(
            "{field}는 {max}자 이내여야 합니다. ({field} is at most {max} characters)"
        )));
    }
    if value.trim() != value || value.chars().any(char::is_control) {
        return Err(ApiError::invalid(format!(
            "{field}에 앞뒤 공백이나 제어문자를 쓸 수 없습니다. ({field} must not have leading or trailing whitespace or control characters)"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uids() {
        assert!(check_merchant_uid("order_1").is_ok());
        assert!(check_merchant_uid(&"a".repeat(40)).is_ok());
        assert!(check_merchant_uid(&"a".repeat(41)).is_err());
        assert!(check_merchant_uid("  ").is_err());
        assert!(check_merchant_uid("pp_1 ").is_err());
        assert!(check_merchant_uid(" pp_1").is_err());
        assert!(check_merchant_uid("pp\u{0}1").is_err());
        assert!(check_merchant_uid("pp\n1").is_err());
        assert!(check_customer_uid(&"가".repeat(80)).is_ok());
        assert!(check_customer_uid(&"가".repeat(81)).is_err());
    }

    #[test]
    fn order_rules() {
        let mut order = Order::new("o1", 1000);
        assert_eq!(order.check().unwrap(), "KRW");
        order.buyer_name = Some("가".repeat(16));
        assert!(order.check().is_ok());
        order.buyer_name = Some("가".repeat(17));
        let err = order.check().unwrap_err();
        assert!(err.to_string().contains("buyer_name"), "{err}");
        order.buyer_name = None;
        order.custom_data = Some("x".repeat(4097));
        assert!(order.check().unwrap_err().to_string().contains("custom_data"));
        order.custom_data = None;
        order.amounts.amount = crate::money::MAX_AMOUNT + 1;
        assert!(order.check().is_err());
    }
}
