//! Card input rules, masking, and the sandbox's documented card-company rule.
//!
//! Raw card data only passes through here on its way into the vault or a PG call; nothing here
//! logs or keeps it. [`CardInput`]'s `Debug` is redacted so it cannot leak through a log line.

use std::fmt;

use chrono::{Datelike, NaiveDate};

use crate::error::ApiError;

/// A validated card as typed by the customer. Never logged, never stored outside the vault.
#[derive(Clone, PartialEq, Eq)]
pub struct CardInput {
    /// Digits only, 14 to 16 of them.
    pub number: String,
    pub expiry_year: i32,
    pub expiry_month: u32,
    /// `YYMMDD`, or a 10-digit business registration number for corporate cards.
    pub birth: Option<String>,
    pub pwd_2digit: Option<String>,
}

impl fmt::Debug for CardInput {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CardInput").field("number", &mask_card_number(&self.number)).finish()
    }
}

/// The raw fields of a card as they arrive in a request.
#[derive(Clone, Copy)]
pub struct RawCard<'a> {
    pub card_number: Option<&'a str>,
    pub expiry: Option<&'a str>,
    pub birth: Option<&'a str>,
    pub pwd_2digit: Option<&'a str>,
}

impl CardInput {
    /// Validates raw request fields against today's date (`today`).
    pub fn parse(raw: RawCard<'_>, today: NaiveDate) -> Result<CardInput, ApiError> {
        let number_raw = raw.card_number.filter(|s| !s.trim().is_empty()).ok_or_else(|| {
            ApiError::invalid("card_number 파라메터가 누락되었습니다. (card_number is required)")
        })?;
        let number: String = number_raw.chars().filter(|c| !matches!(c, '-' | ' ')).collect();
        if !(14..=16).contains(&number.len()) || !number.bytes().all(|b| b.is_ascii_digit()) {
            return Err(ApiError::invalid(
                "카드번호 형식이 올바르지 않습니다. (card_number must be 14 to 16 digits, dashes allowed)",
            ));
        }
        let expiry_raw = raw.expiry.filter(|s| !s.trim().is_empty()).ok_or_else(|| {
            ApiError::invalid("expiry 파라메터가 누락되었습니다. (expiry is required, YYYY-MM)")
        })?;
        let (expiry_year, expiry_month) = parse_expiry(expiry_raw.trim())?;
        let expired = (expiry_year, expiry_month) < (today.year(), today.month());
        if expired {
            return Err(ApiError::CardRejected(
                "카드 유효기간이 만료되었습니다. (the card has expired)".to_owned(),
            ));
        }
        let birth = match raw.birth.map(str::trim).filter(|s| !s.is_empty()) {
            None => None,
            Some(birth) => Some(parse_birth(birth)?),
        };
        let pwd_2digit = match raw.pwd_2digit.map(str::trim).filter(|s| !s.is_empty()) {
            None => None,
            Some(pwd) if pwd.len() == 2 && pwd.bytes().all(|b| b.is_ascii_digit()) => {
                Some(pwd.to_owned())
            }
            Some(_) => {
                return Err(ApiError::invalid(
                    "pwd_2digit는 카드 비밀번호 앞 2자리 숫자여야 합니다. (pwd_2digit must be two digits)",
                ))
            }
        };
        Ok(CardInput { number, expiry_year, expiry_month, birth, pwd_2digit })
    }

    /// The last four digits: the sandbox PG picks its test behaviour from them.
    pub fn last4(&self) -> &str {
        &self.number[self.number.len() - 4..]
    }

    pub fn masked(&self) -> String {
        mask_card_number(&self.number)
    }
}

fn parse_expiry(expiry: &str) -> Result<(i32, u32), ApiError> {
    let bad = || ApiError::invalid("유효기간 형식이 올바르지 않습니다. (expiry must be YYYY-MM)");
    let digits: String = expiry.chars().filter(|c| c.is_ascii_digit()).collect();
    let separators_ok = expiry.chars().all(|c| c.is_ascii_digit() || c == '-' || c == '/');
    if digits.len() != 6 || !separators_ok {
        return Err(bad());
    }
    let year: i32 = digits[..4].parse().map_err(|_| bad())?;
    let month: u32 = digits[4..].parse().map_err(|_| bad())?;
    if !(1..=12).contains(&month) || year < 2000 {
        return Err(bad());
    }
    Ok((year, month))
}

fn parse_birth(birth: &str) -> Result<String, ApiError> {
    let bad = || {
        ApiError::invalid(
            "birth는 생년월일 6자리(YYMMDD) 또는 사업자번호 10자리여야 합니다. (birth must be YYMMDD or a 10-digit business number)",
        )
    };
    if !birth.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    match birth.len() {
        10 => Ok(birth.to_owned()),
        6 => {
            let month: u32 = birth[2..4].parse().map_err(|_| bad())?;
            let day: u32 = birth[4..6].parse().map_err(|_| bad())?;
            // Any century will do for checking the date itself; 2000 is a leap year.
            NaiveDate::from_ymd_opt(2000, month, day).ok_or_else(bad)?;
            Ok(birth.to_owned())
        }
        _ => Err(bad()),
    }
}

/// Masks a card number the way i'mport shows it: the first six digits, then stars, then the
/// last digit (`559410*********4`).
pub fn mask_card_number(digits: &str) -> String {
    let n = digits.chars().count();
    if n <= 7 {
        return "*".repeat(n);
    }
    let head: String = digits.chars().take(6).collect();
    let tail: String = digits.chars().skip(n - 1).collect();
    format!("{head}{}{tail}", "*".repeat(n - 7))
}

/// A card company by its KFTC (금융결제원) code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CardCompany {
    pub code: &'static str,
    pub name: &'static str,
}

/// The card companies the sandbox assigns, indexed by the sixth digit of the card number.
pub const SANDBOX_CARD_COMPANIES: [CardCompany; 10] = [
    CardCompany { code: "361", name: "BC카드" },
    CardCompany { code: "381", name: "KB국민카드" },
    CardCompany { code: "367", name: "현대카드" },
    CardCompany { code: "365", name: "삼성카드" },
    CardCompany { code: "368", name: "롯데카드" },
    CardCompany { code: "371", name: "NH농협카드" },
    CardCompany { code: "366", name: "신한카드" },
    CardCompany { code: "041", name: "우리카드" },
    CardCompany { code: "374", name: "하나카드" },
    CardCompany { code: "370", name: "씨티카드" },
];

/// Every KFTC code openimp knows a Korean name for (window card lists, `card.direct`).
pub fn card_company_by_code(code: &str) -> Option<CardCompany> {
    const EXTRA: [CardCompany; 9] = [
        CardCompany { code: "045", name: "MG새마을금고" },
        CardCompany { code: "373", name: "제주카드" },
        CardCompany { code: "364", name: "광주카드" },
        CardCompany { code: "002", name: "산업은행카드" },
        CardCompany { code: "369", name: "수협카드" },
        CardCompany { code: "048", name: "신협카드" },
        CardCompany { code: "071", name: "우체국카드" },
        CardCompany { code: "372", name: "전북카드" },
        CardCompany { code: "090", name: "카카오뱅크카드" },
    ];
    SANDBOX_CARD_COMPANIES.iter().chain(EXTRA.iter()).find(|c| c.code == code).copied()
}

/// The sandbox rule: the sixth digit of the number picks the company from
/// [`SANDBOX_CARD_COMPANIES`]; the seventh digit gives the type, 0-6 credit (0) and 7-9 check (1).
pub fn sandbox_card_profile(digits: &str) -> (CardCompany, i64) {
    let digit_at = |i: usize| digits.as_bytes().get(i).map_or(0, |b| usize::from(b - b'0'));
    let company = SANDBOX_CARD_COMPANIES[digit_at(5) % 10];
    let card_type = if digit_at(6) >= 7 { 1 } else { 0 };
    (company, card_type)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn today() -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 11, 25).unwrap()
    }

    fn parse(
        number: &str,
        expiry: &str,
        birth: Option<&str>,
        pwd: Option<&str>,
    ) -> Result<CardInput, ApiError> {
        CardInput::parse(
            RawCard { card_number: Some(number), expiry: Some(expiry), birth, pwd_2digit: pwd },
            today(),
        )
    }

    #[test]
    fn accepts_dashed_and_plain_numbers() {
        let card = parse("4092-0230-1234-5678", "2030-12", Some("820213"), Some("00")).unwrap();
        assert_eq!(card.number, "4092023012345678");
        assert_eq!(card.last4(), "5678");
        assert_eq!(card.masked(), "409202*********8");
        assert_eq!(parse("378282246310005", "203012", None, None).unwrap().number.len(), 15);
    }

    #[test]
    fn refuses_bad_inputs() {
        assert!(matches!(parse("1234", "2030-12", None, None), Err(ApiError::InvalidRequest(_))));
        assert!(matches!(
            parse("4092-0230-1234-567x", "2030-12", None, None),
            Err(ApiError::InvalidRequest(_))
        ));
        assert!(matches!(
            parse("4092023012345678", "2019-01", None, None),
            Err(ApiError::CardRejected(_))
        ));
        assert!(matches!(
            parse("4092023012345678", "2030-13", None, None),
            Err(ApiError::InvalidRequest(_))
        ));
        assert!(matches!(
            parse("4092023012345678", "2030-12", Some("821313"), None),
            Err(ApiError::InvalidRequest(_))
        ));
        assert!(matches!(
            parse("4092023012345678", "2030-12", Some("12345"), None),
            Err(ApiError::InvalidRequest(_))
        ));
        assert!(parse("4092023012345678", "2030-12", Some("1234567890"), None).is_ok());
        assert!(matches!(
            parse("4092023012345678", "2030-12", None, Some("a1")),
            Err(ApiError::InvalidRequest(_))
        ));
        // The current month is still valid.
        assert!(parse("4092023012345678", "2026-11", None, None).is_ok());
    }

    #[test]
    fn derives_company_from_sixth_digit() {
        assert_eq!(sandbox_card_profile("4092063012345678").0.code, "366");
        assert_eq!(sandbox_card_profile("4092003012345678").0.name, "BC카드");
        assert_eq!(sandbox_card_profile("4092028812345678").1, 1);
        assert_eq!(card_company_by_code("367").unwrap().name, "현대카드");
    }
}
