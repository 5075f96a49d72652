//! KICC EasyPay's protocol rules that are pure functions: the `msgAuthValue` HMAC, the dates
//! (KICC works in Korean time), request ids, result codes and the text rules of its fields.
//!
//! Both the connector and the fake use these, so they are pinned by the reference's vectors
//! (`pg-test-vectors.py`, "KICC cancel msgAuthValue" and "KICC resp msgAuthValue").

use chrono::{DateTime, FixedOffset, NaiveDate, NaiveDateTime, TimeZone, Utc};
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// `resCd` of every successful answer.
pub const SUCCESS: &str = "0000";

/// The channel secret holding KICC's Secret Key (`channel add --kicc-secret-key`).
pub const SECRET_KEY_NAME: &str = "kicc_secret_key";

/// `payMethodTypeCode` of a card payment.
pub const PAY_METHOD_CARD: &str = "11";
/// `payMethodTypeCode` of a billing-key registration (빌키 발급).
pub const PAY_METHOD_BILLING_KEY: &str = "81";

/// `reviseTypeCode` of a full cancel (전체취소).
pub const REVISE_FULL: &str = "40";
/// `reviseTypeCode` of a partial card cancel (부분취소).
pub const REVISE_PARTIAL_CARD: &str = "32";

/// `statusCode` of an approved transaction (매입요청).
pub const STATUS_APPROVED: &str = "TS03";
/// `statusCode` of a transaction cancelled in full (승인취소).
pub const STATUS_CANCELLED: &str = "TS02";
/// `statusCode` of a partial cancel (부분매입취소).
pub const STATUS_PARTIALLY_CANCELLED: &str = "TS06";

/// Result codes openimp's connector reads beyond `0000`, and the fake answers with.
///
/// KICC does not publish its error-code table (reference §2.10); these are the fake's, and the
/// connector relies on only three of them ([`DUPLICATE_REQUEST`], [`NOT_FOUND`],
/// [`BATCH_KEY_REMOVED`]) to tell "already done" from "refused". Every other refusal is passed
/// on with KICC's own `resCd`/`resMsg`. See docs/decisions.md, KICC.
pub mod codes {
    /// The `shopTransactionId` was used already today (KICC's idempotency rule).
    pub const DUPLICATE_REQUEST: &str = "R201";
    /// `retrieveTransaction`: no transaction with that `shopTransactionId` on that date.
    pub const NOT_FOUND: &str = "R301";
    /// The batch key is unknown to the mall, or was removed already.
    pub const BATCH_KEY_REMOVED: &str = "B102";
}

/// Most characters of a `shopTransactionId` (String(60)).
pub const MAX_SHOP_TRANSACTION_ID: usize = 60;
/// Most characters of a `shopOrderNo` (String(40)).
pub const MAX_SHOP_ORDER_NO: usize = 40;
/// Most bytes of `orderInfo.goodsName` (50 Byte).
pub const MAX_GOODS_NAME_BYTES: usize = 50;
/// Most bytes of `reviseMessage` (100 Byte).
pub const MAX_REVISE_MESSAGE_BYTES: usize = 100;
/// Characters KICC refuses in free-text fields.
pub const FORBIDDEN_CHARS: [char; 9] = ['\'', '"', '<', '>', '\\', ';', '|', '\n', '\r'];

type HmacSha256 = Hmac<Sha256>;

/// Lowercase hex HMAC-SHA256 of `parts` joined by `|`, keyed by the Secret Key.
pub fn msg_auth_value(secret_key: &str, parts: &[&str]) -> String {
    hex::encode(mac_of(secret_key, parts).finalize().into_bytes())
}

/// `msgAuthValue` of a cancel request: `pgCno|shopTransactionId`.
pub fn revise_request_auth(secret_key: &str, pg_cno: &str, shop_transaction_id: &str) -> String {
    msg_auth_value(secret_key, &[pg_cno, shop_transaction_id])
}

/// `msgAuthValue` of an answer: `pgCno|amount|transactionDate`.
pub fn answer_auth(secret_key: &str, pg_cno: &str, amount: i64, transaction_date: &str) -> String {
    msg_auth_value(secret_key, &[pg_cno, &amount.to_string(), transaction_date])
}

/// Whether `given` is the `msgAuthValue` of `parts` (compared in constant time; hex of either
/// case accepted, anything else is not).
pub fn verify_msg_auth(secret_key: &str, parts: &[&str], given: &str) -> bool {
    let Ok(bytes) = hex::decode(given.trim()) else {
        return false;
    };
    mac_of(secret_key, parts).verify_slice(&bytes).is_ok()
}

fn mac_of(secret_key: &str, parts: &[&str]) -> HmacSha256 {
    let mut mac =
        HmacSha256::new_from_slice(secret_key.as_bytes()).expect("HMAC takes a key of any length");
    mac.update(parts.join("|").as_bytes());
    mac
}

/// Korean Standard Time, KICC's clock for every date it checks.
pub fn kst() -> FixedOffset {
    FixedOffset::east_opt(9 * 3600).expect("+09:00 is a valid offset")
}

/// Now, in Korean time.
pub fn now_kst() -> DateTime<FixedOffset> {
    Utc::now().with_timezone(&kst())
}

/// `yyyyMMdd` of a date (`approvalReqDate`, `cancelReqDate`, `removeReqDate`, ...).
pub fn ymd(date: NaiveDate) -> String {
    date.format("%Y%m%d").to_string()
}

/// `yyyyMMddHHmmss` of a Korean-time instant (`transactionDate` of an answer).
pub fn ymdhms(at: DateTime<FixedOffset>) -> String {
    at.format("%Y%m%d%H%M%S").to_string()
}

/// Today's `yyyyMMdd` in Korean time.
pub fn today_kst() -> String {
    ymd(now_kst().date_naive())
}

/// The Unix time of a `yyyyMMddHHmmss` Korean-time stamp; `None` when it is not one.
pub fn parse_transaction_date(stamp: &str) -> Option<i64> {
    if stamp.len() != 14 || !stamp.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let naive = NaiveDateTime::parse_from_str(stamp, "%Y%m%d%H%M%S").ok()?;
    kst().from_local_datetime(&naive).single().map(|at| at.timestamp())
}

/// Whether `value` is a `yyyyMMdd` date.
pub fn is_ymd(value: &str) -> bool {
    value.len() == 8 && NaiveDate::parse_from_str(value, "%Y%m%d").is_ok()
}

/// A fresh `shopTransactionId` for a request that no inquiry will look up (a key removal, a
/// net-cancel): `prefix-` and 24 random hex digits, unique per request as KICC requires.
pub fn new_shop_transaction_id(prefix: &str) -> String {
    let id = format!("{prefix}-{}", openimp_core::ids::random_hex(12));
    id.chars().take(MAX_SHOP_TRANSACTION_ID).collect()
}

/// Whether `value` is a valid `shopOrderNo`: 1 to 40 of letters, digits, `-` and `_`.
pub fn is_shop_order_no(value: &str) -> bool {
    !value.is_empty()
        && value.len() <= MAX_SHOP_ORDER_NO
        && value.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// Free text made acceptable to KICC: its forbidden characters dropped, cut to `max_bytes`
/// of UTF-8 on a character boundary.
pub fn clean_text(text: &str, max_bytes: usize) -> String {
    let mut out = String::new();
    for ch in text.chars().filter(|c| !FORBIDDEN_CHARS.contains(c)) {
        if out.len() + ch.len_utf8() > max_bytes {
            break;
        }
        out.push(ch);
    }
    out.trim().to_owned()
}

/// Whether free text obeys KICC's rules (no forbidden character, at most `max_bytes`).
pub fn is_clean_text(text: &str, max_bytes: usize) -> bool {
    text.len() <= max_bytes && !text.chars().any(|c| FORBIDDEN_CHARS.contains(&c))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The reference's dummy Secret Key (pg-test-vectors.py).
    const SECRET: &str = "DUMMY-SECRET-KEY";

    #[test]
    fn cancel_request_vector() {
        assert_eq!(
            revise_request_auth(SECRET, "24010112000012345678", "CX-0001"),
            "3c97ef57cbc6b05780611d818675d1860f0bd750d5541d3b275e82a64d253468"
        );
    }

    #[test]
    fn approval_answer_vector() {
        let value = answer_auth(SECRET, "24010112000012345678", 1000, "20240101120000");
        assert_eq!(value, "0ce78324a75313936afa45236d0259bc518e1fa97b940aef02bd1e12034bce3d");
        assert!(verify_msg_auth(
            SECRET,
            &["24010112000012345678", "1000", "20240101120000"],
            &value.to_uppercase()
        ));
    }

    #[test]
    fn a_wrong_or_malformed_value_does_not_verify() {
        let parts = ["24010112000012345678", "1000", "20240101120000"];
        let good = answer_auth(SECRET, parts[0], 1000, parts[2]);
        let mut flipped = good.clone().into_bytes();
        flipped[0] = if flipped[0] == b'0' { b'1' } else { b'0' };
        assert!(!verify_msg_auth(SECRET, &parts, std::str::from_utf8(&flipped).unwrap()));
        assert!(!verify_msg_auth(SECRET, &parts, "not hex"));
        assert!(!verify_msg_auth(SECRET, &parts, ""));
        assert!(!verify_msg_auth("another key", &parts, &good));
        // The amount is part of the MAC: 1001 does not verify a 1000 answer.
        assert!(!verify_msg_auth(SECRET, &[parts[0], "1001", parts[2]], &good));
    }

    #[test]
    fn dates_are_korean_time() {
        assert_eq!(parse_transaction_date("20240101120000"), Some(1_704_078_000));
        assert_eq!(parse_transaction_date("2024010112000"), None);
        assert_eq!(parse_transaction_date("20241301120000"), None);
        let at = kst().timestamp_opt(1_704_078_000, 0).unwrap();
        assert_eq!(ymdhms(at), "20240101120000");
        assert!(is_ymd("20240229"));
        assert!(!is_ymd("20230229"));
        assert!(!is_ymd("2024-01-01"));
    }

    #[test]
    fn ids_and_text_rules() {
        let id = new_shop_transaction_id("rk");
        assert!(id.starts_with("rk-") && id.len() == 27, "{id}");
        assert_ne!(id, new_shop_transaction_id("rk"));
        assert!(is_shop_order_no("imps_123456789012"));
        assert!(!is_shop_order_no("a b"));
        assert!(!is_shop_order_no(&"x".repeat(41)));
        assert_eq!(clean_text("정기<결제>|'월'", 50), "정기결제월");
        // 17 Hangul syllables are 51 bytes: cut to 16 (48 bytes), never mid-character.
        let long = "가".repeat(17);
        assert_eq!(clean_text(&long, MAX_GOODS_NAME_BYTES), "가".repeat(16));
        assert!(is_clean_text("월 구독료 (1개월)", 50));
        assert!(!is_clean_text("a;b", 50));
    }
}
