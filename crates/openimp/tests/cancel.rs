//! POST /payments/cancel: partial and full cancels, checksum, balance and state checks.

#[macro_use]
mod common;

use common::*;
use serde_json::{json, Value};

dual_backend_tests!(
    partial_then_full_cancel,
    full_cancel_variants,
    cancel_refusals,
    cancel_form_urlencoded,
);

/// The sandbox's cancel entries for a payment, as amounts.
fn ledger_cancel_amounts(server: &TestServer, imp_uid: &str) -> Vec<i64> {
    server.ledger_for(imp_uid, "cancel").iter().map(|e| e["amount"].as_i64().unwrap()).collect()
}

async fn partial_then_full_cancel(backend: Backend) {
    let server = TestServer::start(&backend).await;
    let (_, client) = server.merchant_client().await;
    let mu = uid("cancel");
    let p = client.onetime_paid(&mu, 10_000).await;
    let imp_uid = p["imp_uid"].as_str().unwrap().to_owned();

    // Partial 3,000 by imp_uid.
    let r = assert_ok(
        &client.cancel(&json!({"imp_uid": imp_uid, "amount": 3000, "reason": "부분 환불 1"})).await,
        "partial cancel 1",
    );
    assert_eq!(r["imp_uid"], imp_uid.as_str());
    assert_eq!(r["status"], "paid", "a partial cancel keeps paid: {r}");
    assert_eq!(r["amount"], 10_000);
    assert_eq!(r["cancel_amount"], 3000, "{r}");
    let history = r["cancel_history"].as_array().expect("cancel_history");
    assert_eq!(history.len(), 1, "{r}");
    let h = &history[0];
    assert_eq!(h["amount"], 3000, "{h}");
    assert_eq!(h["reason"], "부분 환불 1", "{h}");
    assert!(h["cancellation_id"].as_str().is_some_and(|s| !s.is_empty()), "cancellation_id: {h}");
    assert!(h["pg_tid"].is_string(), "pg_tid: {h}");
    assert!(h["cancelled_at"].as_i64().is_some_and(|t| t > 0), "cancelled_at: {h}");
    assert!(h.as_object().unwrap().contains_key("receipt_url"), "receipt_url key: {h}");
    assert_eq!(ledger_cancel_amounts(&server, &imp_uid), vec![3000]);

    // Partial 2,000 with the right checksum (the balance, 7,000), by merchant_uid.
    let r = assert_ok(
        &client
            .cancel(&json!({"merchant_uid": mu, "amount": 2000, "checksum": 7000, "reason": "부분 환불 2"}))
            .await,
        "partial cancel 2 with checksum",
    );
    assert_eq!(r["status"], "paid");
    assert_eq!(r["cancel_amount"], 5000, "{r}");
    let history = r["cancel_history"].as_array().unwrap();
    assert_eq!(history.len(), 2, "{r}");
    let ids: Vec<&str> = history.iter().map(|h| h["cancellation_id"].as_str().unwrap()).collect();
    assert_ne!(ids[0], ids[1], "each cancel has its own cancellation_id");
    let mut amounts: Vec<i64> = history.iter().map(|h| h["amount"].as_i64().unwrap()).collect();
    amounts.sort();
    assert_eq!(amounts, vec![2000, 3000]);

    // Beyond the balance: HTTP 200, non-zero code, nothing changes.
    let over =
        client.cancel(&json!({"imp_uid": imp_uid, "amount": 6000, "reason": "too much"})).await;
    assert_eq!(over.0, 200, "cancel beyond balance is a business failure: {}", over.1);
    assert_failure(&over, "cancel beyond balance");
    // Wrong checksum: refused, nothing changes.
    let wrong =
        client.cancel(&json!({"imp_uid": imp_uid, "amount": 1000, "checksum": 10_000})).await;
    assert_eq!(wrong.0, 200, "wrong checksum: {}", wrong.1);
    assert_failure(&wrong, "wrong checksum");
    // tax_free larger than the cancel amount.
    let bad_tax =
        client.cancel(&json!({"imp_uid": imp_uid, "amount": 1000, "tax_free": 1500})).await;
    assert_failure(&bad_tax, "cancel tax_free above the cancel amount");

    let unchanged = client.payment(&imp_uid).await;
    assert_eq!(unchanged["cancel_amount"], 5000, "refused cancels change nothing: {unchanged}");
    assert_eq!(unchanged["status"], "paid");
    assert_eq!(unchanged["cancel_history"].as_array().unwrap().len(), 2);
    assert_eq!(
        ledger_cancel_amounts(&server, &imp_uid).len(),
        2,
        "refused cancels never reach the PG"
    );

    // Full cancel of the rest (no amount), with the right checksum.
    let r = assert_ok(
        &client.cancel(&json!({"imp_uid": imp_uid, "checksum": 5000, "reason": "전액 환불"})).await,
        "full cancel of the rest",
    );
    assert_eq!(r["status"], "cancelled", "{r}");
    assert_eq!(r["cancel_amount"], 10_000, "{r}");
    assert!(r["cancelled_at"].as_i64().unwrap() > 0, "{r}");
    assert_eq!(r["cancel_reason"], "전액 환불", "{r}");
    assert_eq!(r["cancel_history"].as_array().unwrap().len(), 3, "{r}");
    let last: Vec<&Value> =
        r["cancel_history"].as_array().unwrap().iter().filter(|h| h["amount"] == 5000).collect();
    assert_eq!(last.len(), 1, "the final cancel is of the remaining 5,000: {r}");

    let mut ledger = ledger_cancel_amounts(&server, &imp_uid);
    ledger.sort();
    assert_eq!(ledger, vec![2000, 3000, 5000], "sandbox cancels");
    for e in server.ledger_for(&imp_uid, "cancel") {
        assert_eq!(e["ref_tid"], p["pg_tid"], "a cancel refers to the approval's tid: {e}");
    }

    // Already fully cancelled.
    let again = client.cancel(&json!({"imp_uid": imp_uid})).await;
    assert_failure(&again, "cancel of a cancelled payment");
    let again = client.cancel(&json!({"imp_uid": imp_uid, "amount": 100})).await;
    assert_failure(&again, "partial cancel of a cancelled payment");
    assert_eq!(ledger_cancel_amounts(&server, &imp_uid).len(), 3);

    // The cancelled payment shows up under status/cancelled, and find/{mu}/cancelled.
    let list = assert_ok(&client.get("/payments/status/cancelled").await, "status/cancelled");
    assert_eq!(list["total"], 1, "{list}");
    let found =
        assert_ok(&client.get(&format!("/payments/find/{mu}/cancelled")).await, "find cancelled");
    assert_eq!(found["imp_uid"], imp_uid.as_str());
}

async fn full_cancel_variants(backend: Backend) {
    let server = TestServer::start(&backend).await;
    let (_, client) = server.merchant_client().await;

    // amount: 0 means full.
    let p = client.onetime_paid(&uid("zero"), 4000).await;
    let id = p["imp_uid"].as_str().unwrap();
    let r = assert_ok(
        &client.cancel(&json!({"imp_uid": id, "amount": 0, "reason": "zero"})).await,
        "amount 0",
    );
    assert_eq!(r["status"], "cancelled", "{r}");
    assert_eq!(r["cancel_amount"], 4000);
    assert_eq!(ledger_cancel_amounts(&server, id), vec![4000]);

    // An explicit amount equal to the whole payment.
    let p = client.onetime_paid(&uid("exact"), 2500).await;
    let id = p["imp_uid"].as_str().unwrap();
    let r =
        assert_ok(&client.cancel(&json!({"imp_uid": id, "amount": 2500})).await, "amount == total");
    assert_eq!(r["status"], "cancelled", "{r}");
    assert_eq!(r["cancel_amount"], 2500);

    // By merchant_uid only, on a billing-key payment.
    let cu = uid("cust");
    client.issue_key_ok(&cu, CARD_OK).await;
    let mu = uid("bykey");
    let p = client.again_paid(&cu, &mu, 8800).await;
    let r = assert_ok(
        &client.cancel(&json!({"merchant_uid": mu, "reason": "구독 해지"})).await,
        "by merchant_uid",
    );
    assert_eq!(r["imp_uid"], p["imp_uid"]);
    assert_eq!(r["status"], "cancelled");
    assert_eq!(r["cancel_amount"], 8800);
    // A cancelled merchant_uid cannot be charged again.
    let resp = client.again(&cu, &mu, 8800).await;
    assert_failure(&resp, "again on a cancelled merchant_uid");
}

async fn cancel_refusals(backend: Backend) {
    let server = TestServer::start(&backend).await;
    let (_, client) = server.merchant_client().await;
    let mu = uid("refuse");
    let p = client.onetime_paid(&mu, 3000).await;
    let imp_uid = p["imp_uid"].as_str().unwrap();

    let cases: Vec<(&str, Value)> = vec![
        ("unknown imp_uid", json!({"imp_uid": "imps_000000000000"})),
        ("unknown merchant_uid", json!({"merchant_uid": "no_such_order"})),
        (
            "invalid imp_uid with a valid merchant_uid",
            json!({"imp_uid": "imps_000000000000", "merchant_uid": mu}),
        ),
        ("neither id", json!({"amount": 100})),
        ("negative amount", json!({"imp_uid": imp_uid, "amount": -100})),
        ("fractional amount", json!({"imp_uid": imp_uid, "amount": 10.5})),
        ("checksum mismatch on a full cancel", json!({"imp_uid": imp_uid, "checksum": 2999})),
    ];
    for (what, body) in cases {
        let resp = client.cancel(&body).await;
        assert_failure(&resp, what);
    }
    let unchanged = client.payment(imp_uid).await;
    assert_eq!(unchanged["status"], "paid", "{unchanged}");
    assert_eq!(unchanged["cancel_amount"], 0, "{unchanged}");
    assert!(server.ledger_for(imp_uid, "cancel").is_empty());

    // A failed payment has nothing to cancel.
    let (_, declined) = client.onetime(&uid("declined"), 3000, &card("0004")).await;
    assert_eq!(declined["response"]["status"], "failed", "{declined}");
    let resp = client.cancel(&json!({"imp_uid": declined["response"]["imp_uid"]})).await;
    assert_failure(&resp, "cancel of a failed payment");
    assert_eq!(resp.0, 200, "{}", resp.1);
}

async fn cancel_form_urlencoded(backend: Backend) {
    let server = TestServer::start(&backend).await;
    let (_, client) = server.merchant_client().await;
    let p = client.onetime_paid(&uid("form"), 6000).await;
    let imp_uid = p["imp_uid"].as_str().unwrap();
    let r = assert_ok(
        &client
            .post_form(
                "/payments/cancel",
                &[
                    ("imp_uid", imp_uid),
                    ("amount", "1000"),
                    ("checksum", "6000"),
                    ("reason", "폼 취소"),
                ],
            )
            .await,
        "cancel (form)",
    );
    assert_eq!(r["cancel_amount"], 1000, "{r}");
    assert_eq!(r["status"], "paid");
    assert_eq!(r["cancel_history"][0]["reason"], "폼 취소");
    let r = assert_ok(
        &client
            .post_form("/payments/cancel", &[("imp_uid", imp_uid), ("extra[requester]", "admin")])
            .await,
        "full cancel (form, bracket field)",
    );
    assert_eq!(r["status"], "cancelled", "{r}");
    assert_eq!(r["cancel_amount"], 6000);
}
