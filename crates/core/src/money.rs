//! Amount rules. KRW has no minor unit, so every amount is an `i64` of won.

use crate::error::ApiError;

/// Instalments (할부) are offered only from this amount up.
pub const INSTALMENT_MIN_AMOUNT: i64 = 50_000;

/// The largest amount one charge may carry (100억 원); far below where sums could overflow.
pub const MAX_AMOUNT: i64 = 10_000_000_000;

/// The one currency the sandbox and the domestic card PGs settle in.
pub const KRW: &str = "KRW";

/// The amounts of a charge request, before the PG sees them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChargeAmounts {
    pub amount: i64,
    pub tax_free: i64,
    pub vat_amount: Option<i64>,
    pub card_quota: i64,
}

impl ChargeAmounts {
    /// Checks the rules every charge obeys (again, onetime, schedules, the window): a positive
    /// amount up to [`MAX_AMOUNT`], tax-free and VAT inside it, and instalments of two months or
    /// more only from [`INSTALMENT_MIN_AMOUNT`].
    pub fn check(&self) -> Result<(), ApiError> {
        if self.amount <= 0 {
            return Err(ApiError::invalid(
                "결제금액(amount)은 0보다 큰 정수여야 합니다. (amount must be a positive integer)",
            ));
        }
        check_ceiling(self.amount)?;
        if self.tax_free < 0 || self.tax_free > self.amount {
            return Err(ApiError::invalid("면세금액(tax_free)은 0 이상, 결제금액 이하여야 합니다. (tax_free must be between 0 and amount)"));
        }
        if let Some(vat) = self.vat_amount {
            if vat < 0 || vat > self.amount - self.tax_free {
                return Err(ApiError::invalid("부가세(vat_amount)는 0 이상, 과세금액 이하여야 합니다. (vat_amount must be between 0 and amount - tax_free)"));
            }
        }
        if self.card_quota < 0 || self.card_quota == 1 || self.card_quota > 36 {
            return Err(ApiError::invalid("할부개월수(card_quota)는 0(일시불) 또는 2~36이어야 합니다. (card_quota must be 0 or 2..=36)"));
        }
        if self.card_quota >= 2 && self.amount < INSTALMENT_MIN_AMOUNT {
            return Err(ApiError::rejected("할부결제는 50,000원 이상 결제에만 가능합니다. (instalments need an amount of 50,000 KRW or more)"));
        }
        Ok(())
    }

    /// The VAT the PG is told: the given one, or a tenth of the taxable supply (taxable / 11).
    pub fn effective_vat(&self) -> i64 {
        self.vat_amount.unwrap_or((self.amount - self.tax_free) / 11)
    }
}

/// Refuses an amount above [`MAX_AMOUNT`]: the ceiling of every charge and of a prepared order.
/// (JavaScript numbers lose whole won above 2^53, so the SDK could not even show such amounts.)
pub fn check_ceiling(amount: i64) -> Result<(), ApiError> {
    if amount > MAX_AMOUNT {
        return Err(ApiError::invalid(
            "결제금액(amount)은 10,000,000,000원 이하여야 합니다. (amount must be at most 10,000,000,000 KRW)",
        ));
    }
    Ok(())
}

/// Checks the currency: openimp's PGs settle in KRW only.
pub fn check_currency(currency: Option<&str>) -> Result<&'static str, ApiError> {
    match currency.map(str::trim).filter(|c| !c.is_empty()) {
        None => Ok(KRW),
        Some(c) if c.eq_ignore_ascii_case(KRW) => Ok(KRW),
        Some(other) => Err(ApiError::invalid(format!(
            "지원하지 않는 통화입니다: {other} (only KRW is supported)"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn amounts(amount: i64, tax_free: i64, vat: Option<i64>, quota: i64) -> ChargeAmounts {
        ChargeAmounts { amount, tax_free, vat_amount: vat, card_quota: quota }
    }

    #[test]
    fn rules() {
        assert!(amounts(1000, 0, None, 0).check().is_ok());
        assert!(amounts(0, 0, None, 0).check().is_err());
        assert!(amounts(-5, 0, None, 0).check().is_err());
        assert!(amounts(1000, 1001, None, 0).check().is_err());
        assert!(amounts(1000, 100, Some(901), 0).check().is_err());
        assert!(amounts(49_999, 0, None, 3).check().is_err());
        assert!(amounts(50_000, 0, None, 3).check().is_ok());
        assert!(amounts(50_000, 0, None, 1).check().is_err());
        assert!(amounts(MAX_AMOUNT, 0, None, 0).check().is_ok());
        assert!(amounts(MAX_AMOUNT + 1, 0, None, 0).check().is_err());
        assert!(amounts(i64::MAX, 0, None, 0).check().is_err());
        assert_eq!(amounts(11_000, 0, None, 0).effective_vat(), 1000);
        assert!(check_currency(Some("usd")).is_err());
        assert_eq!(check_currency(Some("krw")).unwrap(), "KRW");
    }
}
