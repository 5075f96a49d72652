//! A pending schedule owns its merchant_uid (security review finding 2): no window, `again` or
//! `onetime` payment can take it, so nothing but the schedule's own charge can mark it
//! executed, and unschedule is never blocked by someone else's payment. The sandbox ledger is
//! the oracle for what was charged.

#[macro_use]
mod common;
mod support;

use std::time::Duration;

use common::*;
use serde_json::{json, Value};
use support::*;

dual_backend_tests!(schedule_reserves_its_merchant_uid, unschedule_frees_the_merchant_uid,);

/// The refusal every other payment under a reserved merchant_uid gets.
const RESERVED: &str = "예약결제에 등록된 주문번호(merchant_uid)입니다";

fn now() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64
}

async fn schedule(
    c: &Client,
    customer_uid: &str,
    merchant_uid: &str,
    at: i64,
    amount: i64,
) -> Resp {
    c.post_json(
        "/subscribe/payments/schedule",
        &json!({"customer_uid": customer_uid, "schedules": [
            {"merchant_uid": merchant_uid, "schedule_at": at, "amount": amount, "name": "정기구독"}
        ]}),
    )
    .await
}

/// `POST /window/sessions` as the SDK sends it, without credentials.
async fn open_window(server: &TestServer, imp_code: &str, params: Value) -> Value {
    server
        .anon()
        .http
        .post(server.url("/window/sessions"))
        .header("Origin", "http://evil.example")
        .json(&json!({"imp_code": imp_code, "params": params, "mobile": false}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

#[track_caller]
fn assert_reserved(resp: &Resp, what: &str) {
    let (status, body) = resp;
    assert_eq!(*status, 200, "{what}: {body}");
    assert_eq!(body["code"], 1, "{what}: {body}");
    let message = body["message"].as_str().unwrap_or_default();
    assert!(message.contains(RESERVED), "{what}: {body}");
}

async fn schedule_reserves_its_merchant_uid(backend: Backend) {
    let server = TestServer::start_with(&backend, fast_opts()).await;
    let (m, c) = server.merchant_client().await;
    let key = uid("cust");
    c.issue_key_ok(&key, CARD_OK).await;
    let reserved = uid("sub");
    assert_ok(&schedule(&c, &key, &reserved, now() + 4, 30_000).await, "schedule");

    // The review's reproduction: a billing-key window (amount 0) under the schedule's merchant_uid.
    let issue = open_window(
        &server,
        &m.imp_code,
        json!({"merchant_uid": reserved, "amount": 0, "customer_uid": "attacker_cu", "buyer_tel": "010-1234-5678"}),
    )
    .await;
    assert_eq!(issue["code"], 1, "billing-key window: {issue}");
    assert!(issue["message"].as_str().unwrap().contains(RESERVED), "{issue}");
    // Its variant: a small window payment.
    let pay = open_window(
        &server,
        &m.imp_code,
        json!({"merchant_uid": reserved, "amount": 1, "pay_method": "card", "buyer_tel": "010-1234-5678"}),
    )
    .await;
    assert_eq!(pay["code"], 1, "payment window: {pay}");
    assert!(pay["message"].as_str().unwrap().contains(RESERVED), "{pay}");
    // REST charges.
    assert_reserved(&c.onetime(&reserved, 1000, CARD_OK).await, "onetime");
    assert_reserved(&c.again(&key, &reserved, 1000).await, "again");

    // A merchant_uid paid before is not free for a schedule either.
    let paid_first = uid("paidfirst");
    c.onetime_paid(&paid_first, 2000).await;
    let (_, refused) = schedule(&c, &key, &paid_first, now() + 60, 2000).await;
    assert_eq!(refused["code"], 1, "{refused}");
    assert!(refused["message"].as_str().unwrap().contains("이미 등록된 merchant_uid"), "{refused}");

    // The schedule is executed by its own charge, and the ledger holds that approval.
    let done = eventually(Duration::from_secs(40), "schedule executed", || async {
        let s = assert_ok(
            &c.get(&format!("/subscribe/payments/schedule/{reserved}")).await,
            "GET schedule",
        );
        (s["schedule_status"] == "executed").then_some(s)
    })
    .await;
    assert_eq!(done["payment_status"], "paid", "{done}");
    let imp_uid = done["imp_uid"].as_str().expect("imp_uid").to_owned();
    let p = c.payment(&imp_uid).await;
    assert_eq!(p["customer_uid_usage"], "payment.scheduled", "{p}");
    assert_eq!(p["customer_uid"], key.as_str(), "{p}");
    assert_eq!(p["amount"], 30_000, "{p}");
    let approvals = server.ledger_for(&imp_uid, "approval");
    assert_eq!(approvals.len(), 1, "{approvals:?}");
    // The refused attempts left no payment: the schedule's is the only one of its merchant_uid.
    let attempts = assert_ok(&c.get(&format!("/payments/findAll/{reserved}")).await, "findAll");
    let n = attempts.as_array().map(Vec::len).or_else(|| attempts["list"].as_array().map(Vec::len));
    assert_eq!(n, Some(1), "{attempts}");
}

async fn unschedule_frees_the_merchant_uid(backend: Backend) {
    let server = TestServer::start(&backend).await;
    let (_, c) = server.merchant_client().await;
    let key = uid("cust");
    c.issue_key_ok(&key, CARD_OK).await;
    let later = uid("later");
    assert_ok(&schedule(&c, &key, &later, now() + 3600, 5000).await, "schedule");
    assert_reserved(&c.again(&key, &later, 5000).await, "again while scheduled");
    let revoked = assert_ok(
        &c.post_json("/subscribe/payments/unschedule", &json!({"merchant_uid": [later]})).await,
        "unschedule",
    );
    assert_eq!(revoked[0]["schedule_status"], "revoked", "{revoked}");
    // Revoked, the merchant_uid is the merchant's again.
    let paid = c.again_paid(&key, &later, 5000).await;
    assert_eq!(paid["customer_uid_usage"], "payment", "{paid}");
}
