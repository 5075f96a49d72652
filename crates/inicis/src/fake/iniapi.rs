//! The fake's INIAPI: `/api/v1/billing` (Billing, Auth), `/api/v1/formpay` (Pay),
//! `/api/v1/refund` (Refund, PartialRefund) and `/v2/pg/inquiry`. Every request's hashData is
//! recomputed with the MID's INIAPI key and every `[ENC]` field decrypted with its key and IV;
//! a mismatch answers `resultCode` 01, a missing field `ER0102`, as KG Inicis does.
//!
//! A refusal is the answer itself (`Err(Response)`), built once per request.
#![allow(clippy::result_large_err)]

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};

use super::{
    field, form, Attempt, Behaviour, CancelRecord, Card, MidKeys, Shared, Txn, AUTH_FAILED,
};
use crate::protocol::iniapi::{decrypt, hash_data, hash_data_v2, kst};
use crate::protocol::same_text;

type Fields = BTreeMap<String, String>;

fn answer(value: Value) -> Response {
    Json(value).into_response()
}

fn fail(code: &str, message: &str) -> Response {
    answer(json!({ "resultCode": code, "resultMsg": message }))
}

fn missing(name: &str) -> Response {
    fail("ER0102", &format!("[ER0102] 파라미터 값 오류: {name} 값이 없습니다"))
}

fn bad_hash() -> Response {
    fail("01", "[R201] hashData 검증에 실패했습니다")
}

/// KST `YYYYMMDD` and `hhmmss` of a Unix time in milliseconds.
pub(super) fn kst_date_time(millis: i64) -> (String, String) {
    let at = kst(millis);
    (at.format("%Y%m%d").to_string(), at.format("%H%M%S").to_string())
}

/// Every field of `names` present and non-empty, or `ER0102` naming the first missing one.
fn require(fields: &Fields, names: &[&str]) -> Result<(), Response> {
    match names.iter().find(|name| field(fields, name).trim().is_empty()) {
        Some(name) => Err(missing(name)),
        None => Ok(()),
    }
}

/// hashData over `names`' values, in order, with the MID's INIAPI key.
fn check_hash(keys: &MidKeys, fields: &Fields, names: &[&str]) -> Result<(), Response> {
    let values: Vec<&str> = names.iter().map(|name| field(fields, name)).collect();
    let expected = hash_data(&keys.iniapi_key, &values);
    if same_text(field(fields, "hashData"), &expected) {
        Ok(())
    } else {
        Err(bad_hash())
    }
}

fn check_timestamp(fields: &Fields) -> Result<(), Response> {
    let ts = field(fields, "timestamp");
    if ts.len() == 14 && ts.bytes().all(|b| b.is_ascii_digit()) {
        Ok(())
    } else {
        Err(fail("ER0102", "[ER0102] 파라미터 값 오류: timestamp는 YYYYMMDDhhmmss"))
    }
}

fn price_of(fields: &Fields, name: &str, positive: bool) -> Result<i64, Response> {
    match field(fields, name).parse::<i64>() {
        Ok(price) if price > 0 || (!positive && price == 0) => Ok(price),
        _ => Err(fail("ER0102", &format!("[ER0102] 파라미터 값 오류: {name}"))),
    }
}

fn keys_of(shared: &Shared, fields: &Fields) -> Result<MidKeys, Response> {
    shared
        .mids
        .get(field(fields, "mid"))
        .cloned()
        .ok_or_else(|| fail("01", "[R101] 등록되지 않은 상점아이디입니다"))
}

/// The plain text of an `[ENC]` field; `01` when it does not decrypt with the MID's key.
fn decrypted(keys: &MidKeys, fields: &Fields, name: &str) -> Result<String, Response> {
    let value = field(fields, name);
    if value.is_empty() {
        return Ok(String::new());
    }
    decrypt(value, &keys.iniapi_key, &keys.iniapi_iv)
        .map_err(|_| fail("01", &format!("[R301] {name} 복호화에 실패했습니다")))
}

/// The card of a keyed request (`cardNumber`, `cardExpire` YYMM, [ENC]).
fn keyed_card(keys: &MidKeys, fields: &Fields) -> Result<Card, Response> {
    let number = decrypted(keys, fields, "cardNumber")?;
    let expiry = decrypted(keys, fields, "cardExpire")?;
    decrypted(keys, fields, "regNo")?;
    decrypted(keys, fields, "cardPw")?;
    let expiry_ok = expiry.len() == 4
        && expiry.bytes().all(|b| b.is_ascii_digit())
        && (1..=12).contains(&expiry[2..].parse::<u32>().unwrap_or(0));
    if !expiry_ok {
        return Err(fail("01", "[R302] 카드 유효기간(cardExpire, YYMM)이 올바르지 않습니다"));
    }
    Card::parse(&number).ok_or_else(|| fail("01", "[R303] 카드번호가 올바르지 않습니다"))
}

/// The v1 answer of an approved charge.
fn approval_answer(tid: &str, txn: &Txn, quota: &str) -> Value {
    let (date, time) = kst_date_time(txn.at_millis);
    json!({
        "resultCode": "00",
        "resultMsg": "정상처리되었습니다.",
        "payDate": date,
        "payTime": time,
        "payAuthCode": txn.auth_code,
        "tid": tid,
        "price": txn.price.to_string(),
        "cardCode": txn.card.inicis_code(),
        "cardQuota": quota,
        "checkFlg": txn.card.check_flag(),
        "prtcCode": "1",
        "cardNumber": txn.card.masked(),
    })
}

/// Charges `card` for `moid` (approve, decline, or approve and withhold the answer).
async fn charge(
    shared: &Shared,
    kind: &str,
    mid: &str,
    moid: &str,
    price: i64,
    card: Card,
    quota: &str,
) -> Response {
    let lost = card.behaviour() == Behaviour::AnswerLost;
    let answer_value = {
        let mut ledger = shared.ledger();
        if ledger.tid_of(mid, moid).is_some() {
            return fail("01", "[94] 이미 승인된 주문번호입니다 (중복 주문번호)");
        }
        if let Some((code, message)) = card.decline() {
            ledger.decline(mid, moid, price, code, message);
            return answer(json!({
                "resultCode": "01",
                "resultMsg": message,
                "detailResultCode": code,
            }));
        }
        let txn = ledger.approve(kind, mid, moid, price, card);
        let tid = ledger.tid_of(mid, moid).expect("just approved");
        approval_answer(&tid, &txn, quota)
    };
    shared.maybe_hang(lost).await;
    answer(answer_value)
}

pub(super) async fn billing(State(shared): State<Arc<Shared>>, body: String) -> Response {
    shared.count("/api/v1/billing");
    let fields = form(&body);
    let result = match field(&fields, "type") {
        "Billing" => billing_charge(&shared, &fields).await,
        "Auth" => billing_auth(&shared, &fields),
        "" => Err(missing("type")),
        other => Err(fail("ER0102", &format!("[ER0102] 파라미터 값 오류: type {other}"))),
    };
    result.unwrap_or_else(|refusal| refusal)
}

async fn billing_charge(shared: &Shared, fields: &Fields) -> Result<Response, Response> {
    require(fields, &["paymethod", "timestamp", "clientIp", "mid", "moid", "price", "billKey"])?;
    let keys = keys_of(shared, fields)?;
    check_hash(
        &keys,
        fields,
        &["type", "paymethod", "timestamp", "clientIp", "mid", "moid", "price", "billKey"],
    )?;
    require(fields, &["url", "goodName", "buyerName", "buyerEmail", "buyerTel"])?;
    check_timestamp(fields)?;
    if field(fields, "paymethod") != "Card" {
        return Err(fail("ER0102", "[ER0102] 파라미터 값 오류: paymethod"));
    }
    let price = price_of(fields, "price", true)?;
    let card = {
        let ledger = shared.ledger();
        match ledger.billing_keys.get(field(fields, "billKey")) {
            Some((mid, card)) if mid == &keys.mid => card.clone(),
            _ => return Err(fail("01", "[14] 등록되지 않은 빌링키입니다")),
        }
    };
    let quota = Some(field(fields, "cardQuota")).filter(|q| !q.is_empty()).unwrap_or("00");
    Ok(charge(shared, "INIAPIBILL", &keys.mid, field(fields, "moid"), price, card, quota).await)
}

/// Keyed billing-key issue (`type=Auth`, [L]): the hash ends with the encrypted card number.
fn billing_auth(shared: &Shared, fields: &Fields) -> Result<Response, Response> {
    require(fields, &["paymethod", "timestamp", "clientIp", "mid", "moid", "price", "cardNumber"])?;
    let keys = keys_of(shared, fields)?;
    check_hash(
        &keys,
        fields,
        &["type", "paymethod", "timestamp", "clientIp", "mid", "moid", "price", "cardNumber"],
    )?;
    require(fields, &["url", "cardExpire", "buyerName", "buyerEmail", "buyerTel"])?;
    check_timestamp(fields)?;
    price_of(fields, "price", false)?;
    let card = keyed_card(&keys, fields)?;
    if card.behaviour() == Behaviour::AuthFails {
        return Ok(answer(json!({
            "resultCode": "01",
            "resultMsg": AUTH_FAILED.1,
            "detailResultCode": AUTH_FAILED.0,
        })));
    }
    let (code, flag, masked) = (card.inicis_code(), card.check_flag(), card.masked());
    let bill_key = shared.ledger().new_billing_key(&keys.mid, card);
    Ok(answer(json!({
        "resultCode": "00",
        "resultMsg": "정상처리되었습니다.",
        "billKey": bill_key,
        "cardCode": code,
        "checkFlg": flag,
        "cardNumber": masked,
    })))
}

/// One-time keyed payment (`type=Pay`, `paymethod=Card`); the hash list is the connector's
/// documented choice (KG Inicis's is not public).
pub(super) async fn formpay(State(shared): State<Arc<Shared>>, body: String) -> Response {
    shared.count("/api/v1/formpay");
    let fields = form(&body);
    let result = async {
        require(&fields, &["type", "paymethod", "timestamp", "clientIp", "mid", "moid", "price"])?;
        let keys = keys_of(&shared, &fields)?;
        if field(&fields, "type") != "Pay" || field(&fields, "paymethod") != "Card" {
            return Err(fail("ER0102", "[ER0102] 파라미터 값 오류: type/paymethod"));
        }
        require(&fields, &["cardNumber"])?;
        check_hash(
            &keys,
            &fields,
            &["type", "paymethod", "timestamp", "clientIp", "mid", "moid", "price", "cardNumber"],
        )?;
        require(
            &fields,
            &["url", "goodName", "buyerName", "buyerEmail", "buyerTel", "cardExpire"],
        )?;
        check_timestamp(&fields)?;
        let price = price_of(&fields, "price", true)?;
        let card = keyed_card(&keys, &fields)?;
        let quota = Some(field(&fields, "cardQuota")).filter(|q| !q.is_empty()).unwrap_or("00");
        Ok(charge(&shared, "INIAPIPAY_", &keys.mid, field(&fields, "moid"), price, card, quota)
            .await)
    }
    .await;
    result.unwrap_or_else(|refusal| refusal)
}

pub(super) async fn refund(State(shared): State<Arc<Shared>>, body: String) -> Response {
    shared.count("/api/v1/refund");
    let fields = form(&body);
    let result = refund_inner(&shared, &fields);
    match result {
        Ok(value) => {
            shared.maybe_hang(false).await;
            answer(value)
        }
        Err(refusal) => refusal,
    }
}

/// Checks and commits a refund; answers the JSON to send once committed.
fn refund_inner(shared: &Shared, fields: &Fields) -> Result<Value, Response> {
    require(fields, &["type", "paymethod", "timestamp", "clientIp", "mid", "tid"])?;
    let keys = keys_of(shared, fields)?;
    let partial = match field(fields, "type") {
        "Refund" => false,
        "PartialRefund" => true,
        other => return Err(fail("ER0102", &format!("[ER0102] 파라미터 값 오류: type {other}"))),
    };
    let mut hashed = vec!["type", "paymethod", "timestamp", "clientIp", "mid", "tid"];
    if partial {
        require(fields, &["price", "confirmPrice"])?;
        hashed.extend(["price", "confirmPrice"]);
    }
    check_hash(&keys, fields, &hashed)?;
    check_timestamp(fields)?;
    let tid = field(fields, "tid");
    let now = openimp_core::time::now_millis();
    let (date, time) = kst_date_time(now);
    let mut ledger = shared.ledger();
    let Some(txn) = ledger.txns.get(tid).filter(|txn| txn.mid == keys.mid).cloned() else {
        return Err(fail("01", "[C1] 원거래를 찾을 수 없습니다"));
    };
    if txn.remaining == 0 {
        return Err(answer(json!({
            "resultCode": "01",
            "resultMsg": "기 취소 거래",
            "detailResultCode": "512626",
        })));
    }
    let msg = field(fields, "msg").to_owned();
    if !partial {
        if !txn.cancels.is_empty() {
            return Err(fail(
                "01",
                "[C4] 부분취소된 거래는 전체취소할 수 없습니다 (PartialRefund로 잔액을 취소하세요)",
            ));
        }
        let cancel =
            CancelRecord { tid: tid.to_owned(), price: txn.remaining, msg, at_millis: now };
        record_cancel(&mut ledger, tid, cancel);
        return Ok(json!({
            "resultCode": "00",
            "resultMsg": "정상처리되었습니다.",
            "cancelDate": date,
            "cancelTime": time,
            "cshrCancelNum": "",
            "detailResultCode": "0000",
            "receiptInfo": "",
        }));
    }
    let price = price_of(fields, "price", true)?;
    if price > txn.remaining {
        return Err(fail(
            "01",
            &format!(
                "[C2] 취소 요청 금액이 취소 가능 잔액을 초과합니다 (잔액 {}원)",
                txn.remaining
            ),
        ));
    }
    let confirm = field(fields, "confirmPrice").parse::<i64>().ok();
    if confirm != Some(txn.remaining - price) {
        return Err(fail(
            "01",
            &format!(
                "[C5] 재승인 요청금액(confirmPrice)이 취소 후 잔액({}원)과 다릅니다",
                txn.remaining - price
            ),
        ));
    }
    let cancel_tid = ledger.new_tid("StdpayPRTC", &keys.mid);
    let cancel = CancelRecord { tid: cancel_tid.clone(), price, msg, at_millis: now };
    record_cancel(&mut ledger, tid, cancel);
    let txn = ledger.txns.get(tid).expect("just cancelled");
    Ok(json!({
        "resultCode": "00",
        "resultMsg": "정상처리되었습니다.",
        "tid": cancel_tid,
        "prtcTid": tid,
        "prtcPrice": price.to_string(),
        "prtcRemains": txn.remaining.to_string(),
        "prtcCnt": txn.cancels.len().to_string(),
        "prtcType": "1",
        "prtcDate": date,
        "prtcTime": time,
    }))
}

fn record_cancel(ledger: &mut super::Ledger, tid: &str, cancel: CancelRecord) {
    let Some(txn) = ledger.txns.get_mut(tid) else {
        return;
    };
    txn.remaining -= cancel.price;
    let entry = super::LedgerEntry {
        kind: "cancel".to_owned(),
        mid: txn.mid.clone(),
        moid: txn.moid.clone(),
        tid: cancel.tid.clone(),
        amount: cancel.price,
    };
    txn.cancels.push(cancel);
    ledger.entries.push(entry);
}

/// An INIAPI v2 request, `data` kept as the exact text sent (the hash covers it).
#[derive(Deserialize)]
struct V2Request {
    #[serde(default)]
    mid: String,
    #[serde(rename = "type", default)]
    kind: String,
    #[serde(default)]
    timestamp: String,
    #[serde(rename = "clientIp", default)]
    client_ip: String,
    data: Box<serde_json::value::RawValue>,
    #[serde(rename = "hashData", default)]
    hash_data: String,
}

#[derive(Deserialize)]
struct InquiryData {
    #[serde(default)]
    tid: String,
    #[serde(default)]
    moid: String,
}

/// `/v2/pg/inquiry` by `tid` or by `moid`. "No such transaction" is `resultCode` 02.
pub(super) async fn inquiry(State(shared): State<Arc<Shared>>, body: String) -> Response {
    shared.count("/v2/pg/inquiry");
    let Ok(request) = serde_json::from_str::<V2Request>(&body) else {
        return fail("ER0102", "[ER0102] 요청 형식 오류 (JSON)");
    };
    for (name, value) in [
        ("mid", &request.mid),
        ("type", &request.kind),
        ("timestamp", &request.timestamp),
        ("clientIp", &request.client_ip),
    ] {
        if value.is_empty() {
            return missing(name);
        }
    }
    let Some(keys) = shared.mids.get(&request.mid) else {
        return fail("01", "[R101] 등록되지 않은 상점아이디입니다");
    };
    let expected = hash_data_v2(
        &keys.iniapi_key,
        &request.mid,
        &request.kind,
        &request.timestamp,
        request.data.get(),
    );
    if !same_text(&request.hash_data, &expected) {
        return bad_hash();
    }
    if request.kind != "inquiry" {
        return fail("ER0102", "[ER0102] 파라미터 값 오류: type");
    }
    let Ok(data) = serde_json::from_str::<InquiryData>(request.data.get()) else {
        return fail("ER0102", "[ER0102] 파라미터 값 오류: data");
    };
    let ledger = shared.ledger();
    let tid = if !data.tid.is_empty() {
        Some(data.tid)
    } else if !data.moid.is_empty() {
        match ledger.attempts.get(&(request.mid.clone(), data.moid.clone())) {
            Some(Attempt::Approved(tid)) => Some(tid.clone()),
            Some(Attempt::Declined { code, message }) => {
                return answer(json!({
                    "resultCode": "00",
                    "resultMsg": "정상",
                    "moid": data.moid,
                    "transactionStatus": "FAIL",
                    "failCode": code,
                    "failMsg": message,
                }))
            }
            None => None,
        }
    } else {
        return missing("data.tid");
    };
    let Some((tid, txn)) = tid
        .and_then(|tid| ledger.txns.get(&tid).map(|txn| (tid, txn)))
        .filter(|(_, txn)| txn.mid == request.mid)
    else {
        return fail("02", "조회된 거래가 없습니다");
    };
    let status = if txn.net_cancelled {
        "NET_CANCEL"
    } else if txn.remaining == 0 {
        "CANCEL"
    } else if txn.cancels.is_empty() {
        "APPROVAL"
    } else {
        "PART_CANCEL"
    };
    let cancels: Vec<Value> = txn
        .cancels
        .iter()
        .map(|cancel| {
            let (date, time) = kst_date_time(cancel.at_millis);
            json!({
                "tid": cancel.tid,
                "price": cancel.price.to_string(),
                "msg": cancel.msg,
                "cancelDate": date,
                "cancelTime": time,
            })
        })
        .collect();
    let mut value = approval_answer(&tid, txn, "00");
    value["resultMsg"] = json!("정상");
    value["moid"] = json!(txn.moid);
    value["transactionStatus"] = json!(status);
    value["availablePartCancelPrice"] = json!(txn.remaining.to_string());
    value["partCancelTransInfo"] = json!(cancels);
    answer(value)
}
