//! The fake's INIStdPay (PC window): `INIStdPay.js`, the pay page that checks the merchant's
//! form (mKey, signature, verification), the card page, the return to `returnUrl` with an
//! `authToken`, and `/api/payAuth` and `/api/netCancel` checking the approval's signature and
//! verification and answering a correct `authSignature` (unless told otherwise).
//!
//! A refusal is the answer itself (`Err(Response)`), built once per request.
#![allow(clippy::result_large_err)]

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};

use super::iniapi::kst_date_time;
use super::pages::{self, CardForm};
use super::{field, form, Behaviour, Card, Shared, AUTH_FAILED};
use crate::protocol::{same_text, stdpay};

/// A checked window request waiting for its card.
#[derive(Debug, Clone)]
pub(crate) struct PayRequest {
    mid: String,
    oid: String,
    price: i64,
    billing: bool,
    return_url: String,
    close_url: String,
    goods: String,
    buyer: (String, String, String),
    merchant_data: String,
    use_chkfake: bool,
}

/// An authenticated window: what `/api/payAuth` approves once.
#[derive(Debug, Clone)]
pub(crate) struct Authenticated {
    request: PayRequest,
    card: Card,
    /// The approval's tid (a payment) or billing key (a key), once approved.
    approved: Option<Approved>,
    /// Net-cancelled (or abandoned): never approvable again.
    closed: bool,
}

#[derive(Debug, Clone)]
enum Approved {
    Payment(String),
    BillingKey(String),
}

#[derive(Debug, Default)]
pub(crate) struct Sessions {
    pending: HashMap<String, PayRequest>,
    tokens: HashMap<String, Authenticated>,
}

pub(super) async fn script() -> Response {
    ([(header::CONTENT_TYPE, "application/javascript; charset=utf-8")], pages::STDPAY_SCRIPT)
        .into_response()
}

fn window_error(code: &str, message: &str) -> Response {
    (StatusCode::BAD_REQUEST, Html(pages::error(code, message))).into_response()
}

/// The merchant's form, checked as KG Inicis checks it before showing the window.
pub(super) async fn pay_page(State(shared): State<Arc<Shared>>, body: String) -> Response {
    shared.count("/payMain/pay");
    let fields = form(&body);
    let Some(keys) = shared.mids.get(field(&fields, "mid")) else {
        return window_error("V001", "등록되지 않은 상점아이디입니다");
    };
    for name in [
        "version",
        "oid",
        "price",
        "timestamp",
        "signature",
        "mKey",
        "goodname",
        "buyername",
        "buyertel",
        "buyeremail",
        "currency",
        "returnUrl",
    ] {
        if field(&fields, name).trim().is_empty() {
            return window_error("V002", &format!("필수 파라미터 누락: {name}"));
        }
    }
    let (oid, price_text, ts) =
        (field(&fields, "oid"), field(&fields, "price"), field(&fields, "timestamp"));
    let Ok(price) = price_text.parse::<i64>() else {
        return window_error("V002", "price 형식 오류");
    };
    if !same_text(field(&fields, "mKey"), &stdpay::m_key(&keys.sign_key)) {
        return window_error("V003", "mKey 검증 실패");
    }
    if !same_text(field(&fields, "signature"), &stdpay::signature(oid, price_text, ts)) {
        return window_error("V004", "signature 검증 실패 (위변조 의심)");
    }
    let use_chkfake = field(&fields, "use_chkfake") == "Y";
    let verification = field(&fields, "verification");
    if use_chkfake && verification.is_empty() {
        return window_error("R508", "Verification 필수 파라미터가 누락되었습니다");
    }
    if !verification.is_empty()
        && !same_text(verification, &stdpay::verification(oid, price_text, &keys.sign_key, ts))
    {
        return window_error("V005", "verification 검증 실패 (위변조 의심)");
    }
    let billing = field(&fields, "acceptmethod").to_ascii_uppercase().contains("BILLAUTH");
    if !billing && (price <= 0 || !matches!(field(&fields, "gopaymethod"), "Card" | "")) {
        return window_error("V006", "결제 금액 또는 결제수단이 올바르지 않습니다");
    }
    if field(&fields, "currency") != "WON" {
        return window_error("V007", "지원하지 않는 통화입니다");
    }
    let request = PayRequest {
        mid: keys.mid.clone(),
        oid: oid.to_owned(),
        price,
        billing,
        return_url: field(&fields, "returnUrl").to_owned(),
        close_url: field(&fields, "closeUrl").to_owned(),
        goods: field(&fields, "goodname").to_owned(),
        buyer: (
            field(&fields, "buyername").to_owned(),
            field(&fields, "buyeremail").to_owned(),
            field(&fields, "buyertel").to_owned(),
        ),
        merchant_data: field(&fields, "merchantData").to_owned(),
        use_chkfake,
    };
    let session = openimp_core::ids::random_hex(16);
    shared.ledger().stdpay.pending.insert(session.clone(), request.clone());
    Html(card_page(&request, &session, None)).into_response()
}

fn card_page(request: &PayRequest, session: &str, error: Option<&str>) -> String {
    pages::card_form(&CardForm {
        title: "KG이니시스 결제",
        action: "/payMain/card",
        hidden: &[("session", session)],
        order_name: &request.goods,
        amount: request.price,
        billing: request.billing,
        cancel_url: Some(&request.close_url).filter(|u| !u.is_empty()).map(String::as_str),
        error,
    })
}

/// The typed card: authenticates it and sends the browser back to the merchant.
pub(super) async fn card_submit(State(shared): State<Arc<Shared>>, body: String) -> Response {
    shared.count("/payMain/card");
    let fields = form(&body);
    let session = field(&fields, "session");
    let Some(request) = shared.ledger().stdpay.pending.get(session).cloned() else {
        return window_error("V010", "결제 요청이 만료되었습니다");
    };
    let expiry = field(&fields, "expiry");
    let card = Card::parse(field(&fields, "cardNumber"));
    let (Some(card), true) =
        (card, expiry.len() == 4 && expiry.bytes().all(|b| b.is_ascii_digit()))
    else {
        let page = card_page(&request, session, Some("카드번호 또는 유효기간을 확인하세요"));
        return Html(page).into_response();
    };
    shared.ledger().stdpay.pending.remove(session);
    let mut back = vec![("mid", request.mid.clone()), ("orderNumber", request.oid.clone())];
    if card.behaviour() == Behaviour::AuthFails {
        back.extend([("resultCode", "V013".to_owned()), ("resultMsg", AUTH_FAILED.1.to_owned())]);
    } else {
        let token = openimp_core::ids::random_hex(32);
        let base = shared.approval_base();
        back.extend([
            ("resultCode", "0000".to_owned()),
            ("resultMsg", "성공".to_owned()),
            ("authToken", token.clone()),
            ("authUrl", format!("{base}/api/payAuth")),
            ("netCancelUrl", format!("{base}/api/netCancel")),
            ("idc_name", "stg".to_owned()),
            ("charset", "UTF-8".to_owned()),
            ("merchantData", request.merchant_data.clone()),
        ]);
        let authenticated =
            Authenticated { request: request.clone(), card, approved: None, closed: false };
        shared.ledger().stdpay.tokens.insert(token, authenticated);
    }
    let back: Vec<(&str, &str)> = back.iter().map(|(k, v)| (*k, v.as_str())).collect();
    Html(pages::autopost(&request.return_url, &back)).into_response()
}

fn refuse(code: &str, message: &str) -> Response {
    Json(json!({ "resultCode": code, "resultMsg": message })).into_response()
}

/// The checks `/api/payAuth` and `/api/netCancel` share: a known token of this MID, the
/// signature, and the verification (required when the window used `use_chkfake=Y`).
fn check_approval_form(
    shared: &Shared,
    fields: &std::collections::BTreeMap<String, String>,
) -> Result<(String, Authenticated), Response> {
    for name in ["mid", "authToken", "timestamp", "signature"] {
        if field(fields, name).is_empty() {
            return Err(refuse("R501", &format!("필수 파라미터 누락: {name}")));
        }
    }
    let token = field(fields, "authToken");
    let Some(auth) = shared.ledger().stdpay.tokens.get(token).cloned() else {
        return Err(refuse("R502", "유효하지 않은 authToken입니다"));
    };
    let keys = shared.mids.get(&auth.request.mid).expect("a token of a known MID");
    if field(fields, "mid") != auth.request.mid {
        return Err(refuse("R503", "상점아이디가 인증 결과와 다릅니다"));
    }
    let ts = field(fields, "timestamp");
    if !same_text(field(fields, "signature"), &stdpay::approval_signature(token, ts)) {
        return Err(refuse("R504", "signature 검증 실패"));
    }
    let verification = field(fields, "verification");
    if auth.request.use_chkfake && verification.is_empty() {
        return Err(refuse("R508", "Verification 필수 파라미터가 누락되었습니다"));
    }
    if !verification.is_empty()
        && !same_text(verification, &stdpay::approval_verification(token, &keys.sign_key, ts))
    {
        return Err(refuse("R505", "verification 검증 실패"));
    }
    Ok((token.to_owned(), auth))
}

pub(super) async fn pay_auth(State(shared): State<Arc<Shared>>, body: String) -> Response {
    shared.count("/api/payAuth");
    let fields = form(&body);
    let (token, auth) = match check_approval_form(&shared, &fields) {
        Ok(found) => found,
        Err(refusal) => return refusal,
    };
    if field(&fields, "price") != auth.request.price.to_string() {
        return refuse("R509", "결제 금액이 인증 금액과 다릅니다 (가격 위변조 의심)");
    }
    if auth.closed {
        return refuse("R511", "망취소된 인증입니다");
    }
    if auth.approved.is_some() {
        return refuse("R510", "이미 승인 처리된 인증입니다");
    }
    let request = &auth.request;
    let ts = field(&fields, "timestamp");
    let lost = !request.billing && auth.card.behaviour() == Behaviour::AnswerLost;
    let (date, time) = kst_date_time(openimp_core::time::now_millis());
    let answer = {
        let mut ledger = shared.ledger();
        let (tid, approved, auth_code, bill_key) = if request.billing {
            let key = ledger.new_billing_key(&request.mid, auth.card.clone());
            let tid = ledger.new_tid("StdpayBILL", &request.mid);
            (tid, Approved::BillingKey(key.clone()), ledger.new_auth_code(), key)
        } else {
            if let Some((code, message)) = auth.card.decline() {
                ledger.decline(&request.mid, &request.oid, request.price, code, message);
                if let Some(entry) = ledger.stdpay.tokens.get_mut(&token) {
                    entry.closed = true;
                }
                return refuse("01", message);
            }
            if ledger.tid_of(&request.mid, &request.oid).is_some() {
                return refuse("R512", "[94] 이미 승인된 주문번호입니다");
            }
            let txn = ledger.approve(
                "StdpayCARD",
                &request.mid,
                &request.oid,
                request.price,
                auth.card.clone(),
            );
            let tid = ledger.tid_of(&request.mid, &request.oid).expect("just approved");
            (tid.clone(), Approved::Payment(tid), txn.auth_code, String::new())
        };
        if let Some(entry) = ledger.stdpay.tokens.get_mut(&token) {
            entry.approved = Some(approved);
        }
        let price = request.price.to_string();
        let signature = if shared.faults().wrong_auth_signature {
            crate::protocol::sha256_hex(&format!("forged{ts}"))
        } else {
            stdpay::auth_signature(&request.mid, ts, &request.oid, &price).unwrap_or_default()
        };
        json!({
            "resultCode": "0000",
            "resultMsg": "성공적으로 처리 하였습니다.",
            "tid": tid,
            "mid": request.mid,
            "MOID": request.oid,
            "TotPrice": price,
            "goodName": request.goods,
            "payMethod": if request.billing { "Auth" } else { "Card" },
            "payMethodDetail": if request.billing { "BILL_CARD" } else { "Card" },
            "applDate": date,
            "applTime": time,
            "applNum": auth_code,
            "CARD_Num": auth.card.masked(),
            "CARD_Quota": "00",
            "CARD_Interest": "0",
            "CARD_Code": auth.card.inicis_code(),
            "CARD_BankCode": "",
            "CARD_PRTC_CODE": "1",
            "CARD_CheckFlag": auth.card.check_flag(),
            "CARD_BillKey": bill_key,
            "authSignature": signature,
            "buyerName": request.buyer.0,
            "buyerEmail": request.buyer.1,
            "buyerTel": request.buyer.2,
            "currency": "WON",
            "payDevice": "PC",
        })
    };
    shared.maybe_hang(lost).await;
    Json::<Value>(answer).into_response()
}

/// `/api/netCancel`: undoes the approval of this token (a payment, or the billing key it
/// issued); an unapproved token is closed so it can never be approved.
pub(super) async fn net_cancel(State(shared): State<Arc<Shared>>, body: String) -> Response {
    shared.count("/api/netCancel");
    let fields = form(&body);
    let (token, auth) = match check_approval_form(&shared, &fields) {
        Ok(found) => found,
        Err(refusal) => return refusal,
    };
    let mut ledger = shared.ledger();
    match &auth.approved {
        Some(Approved::Payment(tid)) => ledger.net_cancel(tid),
        Some(Approved::BillingKey(key)) if ledger.billing_keys.remove(key).is_some() => {
            ledger.entries.push(super::LedgerEntry {
                kind: "net_cancel".to_owned(),
                mid: auth.request.mid.clone(),
                moid: auth.request.oid.clone(),
                tid: String::new(),
                amount: 0,
            });
        }
        Some(Approved::BillingKey(_)) | None => {}
    }
    if let Some(entry) = ledger.stdpay.tokens.get_mut(&token) {
        entry.closed = true;
    }
    let message = if auth.approved.is_some() {
        "망취소 성공"
    } else {
        "승인 내역 없음: 인증 폐기"
    };
    Json(json!({ "resultCode": "0000", "resultMsg": message })).into_response()
}
