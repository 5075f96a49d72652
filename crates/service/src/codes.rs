//! Reference codes (금융결제원 standard codes): the banks and card companies openimp knows, for
//! `GET /banks`, `GET /cards` and the payment window's lists.

use openimp_core::card::card_company_by_code;
use openimp_core::ApiError;
use serde::Serialize;

use crate::ApiResult;

/// Banks (KFTC standard codes) offered for bank transfers and virtual accounts, in display order.
pub const BANKS: [(&str, &str); 14] = [
    ("004", "국민은행"),
    ("088", "신한은행"),
    ("020", "우리은행"),
    ("081", "하나은행"),
    ("011", "농협은행"),
    ("003", "기업은행"),
    ("023", "SC제일은행"),
    ("027", "한국씨티은행"),
    ("032", "부산은행"),
    ("031", "대구은행"),
    ("071", "우체국"),
    ("090", "카카오뱅크"),
    ("089", "케이뱅크"),
    ("092", "토스뱅크"),
];

/// KFTC card company codes the window lists, in display order.
pub const CARD_CODES: [&str; 19] = [
    "361", "381", "367", "365", "368", "371", "366", "041", "374", "370", "045", "373", "364",
    "002", "369", "048", "071", "372", "090",
];

/// A bank of [`BANKS`] by code.
pub fn bank_by_code(code: &str) -> Option<(&'static str, &'static str)> {
    BANKS.iter().copied().find(|(c, _)| *c == code)
}

/// `StandardCodeAnnotation`: a bank or card company by its KFTC code.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct StandardCode {
    pub code: String,
    pub name: String,
}

/// `GET /banks`: every bank, in display order.
pub fn banks() -> Vec<StandardCode> {
    BANKS
        .iter()
        .map(|(code, name)| StandardCode { code: (*code).into(), name: (*name).into() })
        .collect()
}

/// `GET /banks/{code}`.
pub fn bank(code: &str) -> ApiResult<StandardCode> {
    bank_by_code(code.trim())
        .map(|(code, name)| StandardCode { code: code.into(), name: name.into() })
        .ok_or_else(|| {
            ApiError::not_found("코드에 해당되는 은행정보를 찾을 수 없습니다. (unknown bank code)")
        })
}

/// `GET /cards`: every card company, in display order.
pub fn cards() -> Vec<StandardCode> {
    CARD_CODES.iter().filter_map(|code| card(code).ok()).collect()
}

/// `GET /cards/{code}`.
pub fn card(code: &str) -> ApiResult<StandardCode> {
    card_company_by_code(code.trim())
        .map(|c| StandardCode { code: c.code.into(), name: c.name.into() })
        .ok_or_else(|| {
            ApiError::not_found(
                "코드에 해당되는 카드사정보를 찾을 수 없습니다. (unknown card code)",
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_listed_code_resolves() {
        assert_eq!(banks().len(), BANKS.len());
        assert_eq!(cards().len(), CARD_CODES.len(), "every window card code has a name");
        assert_eq!(bank("004").unwrap().name, "국민은행");
        assert_eq!(card("366").unwrap().name, "신한카드");
        assert!(bank("999").is_err());
        assert!(card("999").is_err());
    }
}
