//! KG Inicis's answers turned into the trait's types: JSON and url-encoded fields read leniently
//! (numbers or strings), card codes to the KFTC codes i'mport shows, dates to Unix seconds.

use openimp_core::card::{card_company_by_code, mask_card_number};
use openimp_pg::{Approval, CardInfo};
use serde_json::Value;

use crate::protocol::iniapi::parse_kst;

/// KG Inicis's own card-company codes and the KFTC code i'mport reports for each.
/// Codes with no KFTC counterpart (foreign brands) are passed through unchanged.
pub const INICIS_CARD_CODES: [(&str, &str); 22] = [
    ("11", "361"), // BC
    ("06", "381"), // KB국민
    ("04", "367"), // 현대
    ("12", "365"), // 삼성
    ("03", "368"), // 롯데
    ("16", "371"), // NH농협
    ("41", "371"), // NH농협 (new code)
    ("14", "366"), // 신한
    ("44", "041"), // 우리
    ("34", "374"), // 하나
    ("01", "374"), // 하나 (외환)
    ("17", "374"), // 하나SK
    ("43", "370"), // 씨티
    ("54", "045"), // MG새마을금고
    ("52", "373"), // 제주
    ("32", "364"), // 광주
    ("35", "002"), // 산업
    ("51", "369"), // 수협
    ("48", "048"), // 신협
    ("71", "071"), // 우체국
    ("33", "372"), // 전북
    ("56", "090"), // 카카오뱅크
];

/// The KFTC code of a KG Inicis card code.
pub fn kftc_card_code(inicis_code: &str) -> String {
    INICIS_CARD_CODES
        .iter()
        .find(|(inicis, _)| *inicis == inicis_code)
        .map_or_else(|| inicis_code.to_owned(), |(_, kftc)| (*kftc).to_owned())
}

/// The KG Inicis code of a KFTC card code (the fake reports cards as the PG does).
pub fn inicis_card_code(kftc_code: &str) -> String {
    INICIS_CARD_CODES
        .iter()
        .find(|(_, kftc)| *kftc == kftc_code)
        .map_or_else(|| kftc_code.to_owned(), |(inicis, _)| (*inicis).to_owned())
}

/// A field of a JSON answer as text, whether KG Inicis sent a string or a number.
pub fn text(answer: &Value, key: &str) -> String {
    match answer.get(key) {
        Some(Value::String(s)) => s.trim().to_owned(),
        Some(Value::Number(n)) => n.to_string(),
        _ => String::new(),
    }
}

/// A field of a JSON answer as an amount.
pub fn amount(answer: &Value, key: &str) -> Option<i64> {
    text(answer, key).parse().ok()
}

/// A card as i'mport reports it: KFTC code and name, type from KG Inicis's check flag
/// (0 credit, 1 check; gift cards and unknowns `None`), number masked again (the PG may send
/// it masked its own way or, where enabled for the MID, in full).
pub fn card_info(inicis_code: &str, check_flag: &str, number: &str) -> CardInfo {
    let card_code =
        if inicis_code.is_empty() { String::new() } else { kftc_card_code(inicis_code) };
    let card_name = card_company_by_code(&card_code).map(|c| c.name.to_owned()).unwrap_or_default();
    let card_type = match check_flag {
        "0" => Some(0),
        "1" => Some(1),
        _ => None,
    };
    CardInfo { card_code, card_name, card_type, card_number: mask_number(number) }
}

/// Masks a card number as i'mport does, keeping KG Inicis's own masking characters masked.
pub fn mask_number(number: &str) -> String {
    let cleaned: String = number.chars().filter(|c| !matches!(c, '-' | ' ')).collect();
    if cleaned.is_empty() {
        return String::new();
    }
    if cleaned.bytes().all(|b| b.is_ascii_digit()) {
        return mask_card_number(&cleaned);
    }
    // Already masked by the PG (`123456******1234`): mask what i'mport masks too.
    let chars: Vec<char> = cleaned.chars().collect();
    let n = chars.len();
    chars.iter().enumerate().map(|(i, c)| if i < 6 || i == n - 1 { *c } else { '*' }).collect()
}

/// The approval of an INIAPI v1 billing or formpay answer (`resultCode` 00 checked by the
/// caller); `None` when the answer lacks the approved amount or tid.
pub fn iniapi_approval(answer: &Value, receipt_url: impl Fn(&str) -> String) -> Option<Approval> {
    let tid = text(answer, "tid");
    let amount = amount(answer, "price")?;
    if tid.is_empty() {
        return None;
    }
    let paid_at = parse_kst(&text(answer, "payDate"), &text(answer, "payTime"))
        .unwrap_or_else(openimp_core::time::now);
    Some(Approval {
        receipt_url: Some(receipt_url(&tid)),
        apply_num: text(answer, "payAuthCode"),
        paid_at,
        amount,
        card: card_info(
            &text(answer, "cardCode"),
            &text(answer, "checkFlg"),
            &text(answer, "cardNumber"),
        ),
        pg_tid: tid,
    })
}

/// Unix seconds of a KST `YYYYMMDDhhmmss` (mobile `P_AUTH_DT`), or now.
pub fn kst14_or_now(stamp: &str) -> i64 {
    if stamp.len() == 14 {
        if let Some(at) = parse_kst(&stamp[..8], &stamp[8..]) {
            return at;
        }
    }
    openimp_core::time::now()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn card_codes_map_both_ways() {
        assert_eq!(kftc_card_code("11"), "361");
        assert_eq!(kftc_card_code("06"), "381");
        assert_eq!(kftc_card_code("21"), "21");
        assert_eq!(inicis_card_code("366"), "14");
        assert_eq!(inicis_card_code("999"), "999");
        for (inicis, kftc) in INICIS_CARD_CODES {
            assert_eq!(kftc_card_code(inicis), kftc);
            assert_eq!(kftc_card_code(&inicis_card_code(kftc)), kftc);
        }
    }

    #[test]
    fn answers_read_strings_and_numbers() {
        let answer = serde_json::json!({ "price": 1000, "tid": "T1", "resultCode": "00 " });
        assert_eq!(text(&answer, "price"), "1000");
        assert_eq!(amount(&answer, "price"), Some(1000));
        assert_eq!(text(&answer, "resultCode"), "00");
        assert_eq!(text(&answer, "missing"), "");
    }

    #[test]
    fn card_facts() {
        let card = card_info("14", "1", "4111-1111-1111-1111");
        assert_eq!(card.card_code, "366");
        assert_eq!(card.card_name, "신한카드");
        assert_eq!(card.card_type, Some(1));
        assert_eq!(card.card_number, "411111*********1");
        assert_eq!(mask_number("41111111****1111"), "411111*********1");
        assert_eq!(card_info("", "2", "").card_type, None);
    }

    #[test]
    fn approvals_need_a_tid_and_an_amount() {
        let ok = serde_json::json!({
            "resultCode": "00", "tid": "T1", "price": "1000", "payDate": "20240101",
            "payTime": "120000", "payAuthCode": "30001234", "cardCode": "11", "checkFlg": "0",
        });
        let approval = iniapi_approval(&ok, |tid| format!("r/{tid}")).unwrap();
        assert_eq!(approval.amount, 1000);
        assert_eq!(approval.paid_at, 1_704_078_000);
        assert_eq!(approval.receipt_url.as_deref(), Some("r/T1"));
        assert_eq!(approval.card.card_code, "361");
        assert!(iniapi_approval(&serde_json::json!({ "tid": "T1" }), |t| t.to_owned()).is_none());
        assert!(iniapi_approval(&serde_json::json!({ "price": 1 }), |t| t.to_owned()).is_none());
    }
}
