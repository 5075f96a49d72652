//! The fake's mobile windows: INIpay Mobile (`/smart/payment/` checking `P_CHKFAKE`, the card
//! page, the return with `P_REQ_URL`, `/smart/payReq.ini` answering url-encoded, and
//! `/smart/payNetCancel.ini`) and INILite's billing-key window (`inibill_card.jsp` checking
//! `hashdata`, the key sent back in the return).

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use axum::extract::{Query, State};
use axum::http::{header, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use openimp_pg::transport::form_urlencode;
use serde::Deserialize;

use super::pages::{self, CardForm};
use super::{field, form, Behaviour, Card, MidKeys, Shared, AUTH_FAILED};
use crate::protocol::iniapi::timestamp14;
use crate::protocol::{mobile, same_text};

#[derive(Debug, Clone)]
pub(crate) struct MobileRequest {
    mid: String,
    oid: String,
    amount: i64,
    goods: String,
    uname: String,
    next_url: String,
    noti: String,
}

#[derive(Debug, Clone)]
pub(crate) struct MobileAuth {
    request: MobileRequest,
    card: Card,
    approved: bool,
    closed: bool,
}

#[derive(Debug, Clone)]
pub(crate) struct IniliteRequest {
    mid: String,
    order_id: String,
    price: i64,
    goods: String,
    return_url: String,
    noti: String,
}

#[derive(Debug, Default)]
pub(crate) struct Sessions {
    pending: HashMap<String, MobileRequest>,
    tids: HashMap<String, MobileAuth>,
    inilite: HashMap<String, IniliteRequest>,
}

type Fields = BTreeMap<String, String>;

fn window_error(code: &str, message: &str) -> Response {
    (StatusCode::BAD_REQUEST, Html(pages::error(code, message))).into_response()
}

fn missing_field<'a>(fields: &Fields, names: &[&'a str]) -> Option<&'a str> {
    names.iter().find(|name| field(fields, name).trim().is_empty()).copied()
}

fn mobile_keys<'a>(shared: &'a Shared, mid: &str) -> Option<(&'a MidKeys, &'a str)> {
    let keys = shared.mids.get(mid)?;
    Some((keys, keys.mobile_hash_key.as_deref()?))
}

pub(super) async fn pay_page(State(shared): State<Arc<Shared>>, body: String) -> Response {
    shared.count("/smart/payment/");
    let fields = form(&body);
    let Some((keys, hash_key)) = mobile_keys(&shared, field(&fields, "P_MID")) else {
        return window_error("01", "등록되지 않은 상점아이디입니다 (P_MID)");
    };
    let required =
        ["P_INI_PAYMENT", "P_OID", "P_AMT", "P_GOODS", "P_NEXT_URL", "P_TIMESTAMP", "P_CHKFAKE"];
    if let Some(name) = missing_field(&fields, &required) {
        return window_error("01", &format!("필수 파라미터 누락: {name}"));
    }
    let (amount, oid, ts) =
        (field(&fields, "P_AMT"), field(&fields, "P_OID"), field(&fields, "P_TIMESTAMP"));
    if !same_text(field(&fields, "P_CHKFAKE"), &mobile::p_chkfake(amount, oid, ts, hash_key)) {
        return window_error("01", "P_CHKFAKE 검증 실패 (위변조 의심)");
    }
    let Some(amount) = amount.parse::<i64>().ok().filter(|a| *a > 0) else {
        return window_error("01", "P_AMT 형식 오류");
    };
    if field(&fields, "P_INI_PAYMENT") != "CARD" {
        return window_error("01", "지원하지 않는 결제수단입니다 (P_INI_PAYMENT)");
    }
    let request = MobileRequest {
        mid: keys.mid.clone(),
        oid: oid.to_owned(),
        amount,
        goods: field(&fields, "P_GOODS").to_owned(),
        uname: field(&fields, "P_UNAME").to_owned(),
        next_url: field(&fields, "P_NEXT_URL").to_owned(),
        noti: field(&fields, "P_NOTI").to_owned(),
    };
    let session = openimp_core::ids::random_hex(16);
    shared.ledger().mobile.pending.insert(session.clone(), request.clone());
    Html(mobile_card_page(&request, &session, None)).into_response()
}

fn mobile_card_page(request: &MobileRequest, session: &str, error: Option<&str>) -> String {
    let cancel = format!("/smart/cancel?session={session}");
    pages::card_form(&CardForm {
        title: "KG이니시스 모바일 결제",
        action: "/smart/card",
        hidden: &[("session", session)],
        order_name: &request.goods,
        amount: request.amount,
        billing: false,
        cancel_url: Some(&cancel),
        error,
    })
}

#[derive(Deserialize)]
pub(super) struct SessionQuery {
    #[serde(default)]
    session: String,
}

/// The customer gave up: back to `P_NEXT_URL` with a failed status.
pub(super) async fn cancel(
    State(shared): State<Arc<Shared>>,
    Query(query): Query<SessionQuery>,
) -> Response {
    let Some(request) = shared.ledger().mobile.pending.remove(&query.session) else {
        return window_error("01", "결제 요청이 만료되었습니다");
    };
    let back = [
        ("P_STATUS", "01"),
        ("P_RMESG1", "사용자가 결제를 취소했습니다"),
        ("P_NOTI", &request.noti),
    ];
    Html(pages::autopost(&request.next_url, &back)).into_response()
}

pub(super) async fn card_submit(State(shared): State<Arc<Shared>>, body: String) -> Response {
    shared.count("/smart/card");
    let fields = form(&body);
    let session = field(&fields, "session");
    let Some(request) = shared.ledger().mobile.pending.get(session).cloned() else {
        return window_error("01", "결제 요청이 만료되었습니다");
    };
    let expiry = field(&fields, "expiry");
    let card = Card::parse(field(&fields, "cardNumber"));
    let (Some(card), true) =
        (card, expiry.len() == 4 && expiry.bytes().all(|b| b.is_ascii_digit()))
    else {
        let page = mobile_card_page(&request, session, Some("카드번호 또는 유효기간을 확인하세요"));
        return Html(page).into_response();
    };
    let mut ledger = shared.ledger();
    ledger.mobile.pending.remove(session);
    let amount = request.amount.to_string();
    if card.behaviour() == Behaviour::AuthFails {
        drop(ledger);
        let back = [
            ("P_STATUS", "01"),
            ("P_RMESG1", AUTH_FAILED.1),
            ("P_NOTI", &request.noti),
            ("P_AMT", &amount),
        ];
        return Html(pages::autopost(&request.next_url, &back)).into_response();
    }
    let tid = ledger.new_tid("INIMX_CARD", &request.mid);
    ledger.mobile.tids.insert(
        tid.clone(),
        MobileAuth { request: request.clone(), card, approved: false, closed: false },
    );
    drop(ledger);
    let req_url = format!("{}/smart/payReq.ini", shared.approval_base());
    let back = [
        ("P_STATUS", "00"),
        ("P_RMESG1", "정상처리되었습니다"),
        ("P_TID", &tid),
        ("P_REQ_URL", &req_url),
        ("P_NOTI", &request.noti),
        ("P_AMT", &amount),
        ("idc_name", "stg"),
    ];
    Html(pages::autopost(&request.next_url, &back)).into_response()
}

fn url_encoded(fields: &[(&str, &str)]) -> Response {
    ([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], form_urlencode(fields)).into_response()
}

fn mobile_refusal(message: &str) -> Response {
    url_encoded(&[("P_STATUS", "01"), ("P_RMESG1", message)])
}

/// `P_REQ_URL`: approves an authenticated mobile transaction, answering url-encoded.
pub(super) async fn pay_req(State(shared): State<Arc<Shared>>, body: String) -> Response {
    shared.count("/smart/payReq.ini");
    let fields = form(&body);
    let (mid, tid) = (field(&fields, "P_MID"), field(&fields, "P_TID"));
    let (answer, lost) = {
        let mut ledger = shared.ledger();
        let Some(auth) = ledger.mobile.tids.get(tid).filter(|a| a.request.mid == mid).cloned()
        else {
            return mobile_refusal("거래를 찾을 수 없습니다 (P_TID)");
        };
        if auth.closed {
            return mobile_refusal("망취소된 거래입니다");
        }
        let request = &auth.request;
        if !auth.approved {
            if let Some((_, message)) = auth.card.decline() {
                let code = auth.card.decline().map(|(code, _)| code).unwrap_or("01");
                ledger.decline(mid, &request.oid, request.amount, code, message);
                if let Some(entry) = ledger.mobile.tids.get_mut(tid) {
                    entry.closed = true;
                }
                return mobile_refusal(message);
            }
            if ledger.tid_of(mid, &request.oid).is_some() {
                return mobile_refusal("[94] 이미 승인된 주문번호입니다");
            }
            ledger.approve_as(tid.to_owned(), mid, &request.oid, request.amount, auth.card.clone());
            if let Some(entry) = ledger.mobile.tids.get_mut(tid) {
                entry.approved = true;
            }
        }
        let txn = ledger.txns.get(tid).expect("approved").clone();
        let answer: Vec<(String, String)> = [
            ("P_STATUS", "00".to_owned()),
            ("P_RMESG1", "정상처리되었습니다".to_owned()),
            ("P_TID", tid.to_owned()),
            ("P_TYPE", "CARD".to_owned()),
            ("P_AUTH_DT", timestamp14(txn.at_millis)),
            ("P_MID", mid.to_owned()),
            ("P_OID", request.oid.clone()),
            ("P_AMT", request.amount.to_string()),
            ("P_UNAME", request.uname.clone()),
            ("P_NOTI", request.noti.clone()),
            ("P_AUTH_NO", txn.auth_code.clone()),
            ("P_CARD_NUM", txn.card.masked()),
            ("P_FN_CD1", txn.card.inicis_code()),
            ("P_CARD_ISSUER_CODE", txn.card.inicis_code()),
            ("P_CARD_INTEREST", "0".to_owned()),
            ("P_RMESG2", "00".to_owned()),
            ("P_CARD_PRTC_CODE", "1".to_owned()),
            ("P_CARD_CHECKFLAG", txn.card.check_flag()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect();
        (answer, auth.card.behaviour() == Behaviour::AnswerLost)
    };
    shared.maybe_hang(lost).await;
    let answer: Vec<(&str, &str)> = answer.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    url_encoded(&answer)
}

/// `payNetCancel.ini`: undoes a mobile approval. The request carries its own `P_CHKFAKE`
/// (over P_AMT, P_OID, P_TIMESTAMP), checked with the MID's hashKey.
pub(super) async fn net_cancel(State(shared): State<Arc<Shared>>, body: String) -> Response {
    shared.count("/smart/payNetCancel.ini");
    let fields = form(&body);
    let required = ["P_TID", "P_MID", "P_AMT", "P_OID", "P_TIMESTAMP", "P_CHKFAKE"];
    if let Some(name) = missing_field(&fields, &required) {
        return mobile_refusal(&format!("필수 파라미터 누락: {name}"));
    }
    let Some((_, hash_key)) = mobile_keys(&shared, field(&fields, "P_MID")) else {
        return mobile_refusal("등록되지 않은 상점아이디입니다");
    };
    let (amount, oid) = (field(&fields, "P_AMT"), field(&fields, "P_OID"));
    let expected = mobile::p_chkfake(amount, oid, field(&fields, "P_TIMESTAMP"), hash_key);
    if !same_text(field(&fields, "P_CHKFAKE"), &expected) {
        return mobile_refusal("P_CHKFAKE 검증 실패");
    }
    let tid = field(&fields, "P_TID");
    let mut ledger = shared.ledger();
    let Some(auth) = ledger.mobile.tids.get(tid).cloned() else {
        return mobile_refusal("거래를 찾을 수 없습니다 (P_TID)");
    };
    if auth.request.mid != field(&fields, "P_MID")
        || auth.request.oid != oid
        || auth.request.amount.to_string() != amount
    {
        return mobile_refusal("망취소 요청이 원거래와 다릅니다");
    }
    if auth.approved {
        ledger.net_cancel(tid);
    }
    if let Some(entry) = ledger.mobile.tids.get_mut(tid) {
        entry.closed = true;
    }
    url_encoded(&[("P_STATUS", "00"), ("P_RMESG1", "망취소 성공")])
}

/// INILite `inibill_card.jsp`: checks `hashdata` with the MID's INILite key.
pub(super) async fn inilite_page(State(shared): State<Arc<Shared>>, body: String) -> Response {
    shared.count("/inibill/inibill_card.jsp");
    let fields = form(&body);
    let Some(keys) = shared.mids.get(field(&fields, "mid")) else {
        return window_error("01", "등록되지 않은 상점아이디입니다");
    };
    let Some(inilite_key) = keys.inilite_key.as_deref() else {
        return window_error("01", "빌링 서비스가 등록되지 않은 상점아이디입니다");
    };
    let required = [
        "orderid",
        "timestamp",
        "returnurl",
        "hashdata",
        "goodname",
        "buyername",
        "buyertel",
        "buyeremail",
    ];
    if let Some(name) = missing_field(&fields, &required) {
        return window_error("01", &format!("필수 파라미터 누락: {name}"));
    }
    let (order_id, ts) = (field(&fields, "orderid"), field(&fields, "timestamp"));
    let expected = mobile::inilite_hashdata(&keys.mid, order_id, ts, inilite_key);
    if !same_text(field(&fields, "hashdata"), &expected) {
        return window_error("01", "hashdata 검증 실패 (위변조 의심)");
    }
    let request = IniliteRequest {
        mid: keys.mid.clone(),
        order_id: order_id.to_owned(),
        price: field(&fields, "price").parse().unwrap_or(0),
        goods: field(&fields, "goodname").to_owned(),
        return_url: field(&fields, "returnurl").to_owned(),
        noti: field(&fields, "p_noti").to_owned(),
    };
    let session = openimp_core::ids::random_hex(16);
    shared.ledger().mobile.inilite.insert(session.clone(), request.clone());
    Html(inilite_card_page(&request, &session, None)).into_response()
}

fn inilite_card_page(request: &IniliteRequest, session: &str, error: Option<&str>) -> String {
    let cancel = format!("/inibill/cancel?session={session}");
    pages::card_form(&CardForm {
        title: "KG이니시스 카드 등록",
        action: "/inibill/card",
        hidden: &[("session", session)],
        order_name: &request.goods,
        amount: request.price,
        billing: true,
        cancel_url: Some(&cancel),
        error,
    })
}

pub(super) async fn inilite_cancel(
    State(shared): State<Arc<Shared>>,
    Query(query): Query<SessionQuery>,
) -> Response {
    let Some(request) = shared.ledger().mobile.inilite.remove(&query.session) else {
        return window_error("01", "요청이 만료되었습니다");
    };
    let back = [
        ("resultcode", "01"),
        ("resultmsg", "사용자가 카드 등록을 취소했습니다"),
        ("orderid", &request.order_id),
        ("p_noti", &request.noti),
    ];
    Html(pages::autopost(&request.return_url, &back)).into_response()
}

pub(super) async fn inilite_submit(State(shared): State<Arc<Shared>>, body: String) -> Response {
    shared.count("/inibill/card");
    let fields = form(&body);
    let session = field(&fields, "session");
    let Some(request) = shared.ledger().mobile.inilite.get(session).cloned() else {
        return window_error("01", "요청이 만료되었습니다");
    };
    let expiry = field(&fields, "expiry");
    let card = Card::parse(field(&fields, "cardNumber"));
    let (Some(card), true) =
        (card, expiry.len() == 4 && expiry.bytes().all(|b| b.is_ascii_digit()))
    else {
        let page =
            inilite_card_page(&request, session, Some("카드번호 또는 유효기간을 확인하세요"));
        return Html(page).into_response();
    };
    let mut ledger = shared.ledger();
    ledger.mobile.inilite.remove(session);
    if card.behaviour() == Behaviour::AuthFails {
        drop(ledger);
        let back = [
            ("resultcode", "01"),
            ("resultmsg", AUTH_FAILED.1),
            ("orderid", &request.order_id),
            ("p_noti", &request.noti),
        ];
        return Html(pages::autopost(&request.return_url, &back)).into_response();
    }
    let (masked, code, kind) = (card.masked(), card.inicis_code(), card.check_flag());
    let bill_key = ledger.new_billing_key(&request.mid, card);
    let tid = ledger.new_tid("INILITEBIL", &request.mid);
    drop(ledger);
    let date = timestamp14(openimp_core::time::now_millis());
    let back = [
        ("resultcode", "00"),
        ("resultmsg", "정상처리되었습니다"),
        ("billkey", &bill_key),
        ("cardno", &masked),
        ("cardcd", &code),
        ("cardkind", &kind),
        ("pgauthdate", &date[..8]),
        ("tid", &tid),
        ("orderid", &request.order_id),
        ("p_noti", &request.noti),
    ];
    Html(pages::autopost(&request.return_url, &back)).into_response()
}
