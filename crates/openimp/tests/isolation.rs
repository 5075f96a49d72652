//! Tenants never meet: merchant B sees none of merchant A's objects.

#[macro_use]
mod common;

use common::*;
use serde_json::json;

dual_backend_tests!(merchant_b_sees_nothing_of_a, same_ids_in_two_merchants);

async fn merchant_b_sees_nothing_of_a(backend: Backend) {
    let server = TestServer::start(&backend).await;
    let (_, a) = server.merchant_client().await;
    let (_, b) = server.merchant_client().await;

    let cu = uid("a_cust");
    a.issue_key_ok(&cu, CARD_OK).await;
    let mu = uid("a_order");
    let pa = a.again_paid(&cu, &mu, 10_000).await;
    let imp_uid = pa["imp_uid"].as_str().unwrap();
    let prep = uid("a_prep");
    assert_ok(
        &a.post_json("/payments/prepare", &json!({"merchant_uid": prep, "amount": 500})).await,
        "A prepare",
    );

    let not_found = |resp: &Resp, what: &str| {
        assert_eq!(resp.0, 404, "B: {what}: {}", resp.1);
        assert_failure(resp, what);
    };
    not_found(&b.get(&format!("/payments/{imp_uid}")).await, "GET A's payment");
    not_found(
        &b.get(&format!("/payments?imp_uid[]={imp_uid}&merchant_uid[]={mu}")).await,
        "multi-get A's payment",
    );
    not_found(&b.get(&format!("/payments/find/{mu}")).await, "find A's merchant_uid");
    not_found(&b.get(&format!("/payments/findAll/{mu}")).await, "findAll A's merchant_uid");
    not_found(&b.get(&format!("/subscribe/customers/{cu}")).await, "GET A's billing key");
    not_found(
        &b.get(&format!("/subscribe/customers?customer_uid[]={cu}")).await,
        "multi-get A's billing key",
    );
    not_found(&b.get(&format!("/payments/prepare/{prep}")).await, "GET A's prepare");
    let resp = b.put_json("/payments/prepare", &json!({"merchant_uid": prep, "amount": 1})).await;
    not_found(&resp, "PUT A's prepare");
    let resp = b.delete(&format!("/subscribe/customers/{cu}")).await;
    not_found(&resp, "DELETE A's billing key");

    // A's customer_uid under B: either unknown (404) or an empty list.
    let resp = b.get(&format!("/subscribe/customers/{cu}/payments")).await;
    if resp.0 != 404 {
        let list = assert_ok(&resp, "B: A's customer payments");
        assert_eq!(list["total"], 0, "B sees no payments for A's customer_uid: {list}");
    }
    let status = assert_ok(&b.get("/payments/status/all").await, "B status/all");
    assert_eq!(status["total"], 0, "B's list is empty: {status}");

    // B cannot charge A's key.
    let resp = b.again(&cu, &uid("b_order"), 1000).await;
    assert_eq!(resp.1["code"], 1, "B charging A's key: unknown customer: {}", resp.1);
    // B cannot cancel A's payment, by either id.
    let resp = b.cancel(&json!({"imp_uid": imp_uid})).await;
    assert_failure(&resp, "B cancels A's payment by imp_uid");
    let resp = b.cancel(&json!({"merchant_uid": mu})).await;
    assert_failure(&resp, "B cancels A's payment by merchant_uid");

    // A's objects are untouched.
    let still = a.payment(imp_uid).await;
    assert_eq!(still["status"], "paid");
    assert_eq!(still["cancel_amount"], 0);
    assert!(server.ledger_for(imp_uid, "cancel").is_empty());
    assert_ok(&a.get(&format!("/subscribe/customers/{cu}")).await, "A's key still there");
    let prep_a = assert_ok(&a.get(&format!("/payments/prepare/{prep}")).await, "A's prepare");
    assert_eq!(prep_a["amount"], 500, "B's PUT did not change A's prepare");
    assert_eq!(server.ledger().iter().filter(|e| e["kind"] == "approval").count(), 1);
}

async fn same_ids_in_two_merchants(backend: Backend) {
    let server = TestServer::start(&backend).await;
    let (_, a) = server.merchant_client().await;
    let (_, b) = server.merchant_client().await;
    // The same customer_uid and merchant_uid in two merchants are two objects.
    for c in [&a, &b] {
        c.issue_key_ok("shared-cust", CARD_OK).await;
        assert_ok(
            &c.post_json(
                "/payments/prepare",
                &json!({"merchant_uid": "shared-order", "amount": 1000}),
            )
            .await,
            "prepare",
        );
    }
    let pa = a.again_paid("shared-cust", "shared-order", 1000).await;
    let pb = b.again_paid("shared-cust", "shared-order", 1000).await;
    assert_ne!(pa["imp_uid"], pb["imp_uid"]);
    // Each sees only its own.
    let fa = assert_ok(&a.get("/payments/find/shared-order").await, "A find");
    let fb = assert_ok(&b.get("/payments/find/shared-order").await, "B find");
    assert_eq!(fa["imp_uid"], pa["imp_uid"]);
    assert_eq!(fb["imp_uid"], pb["imp_uid"]);
    // A deleting its key leaves B's.
    assert_ok(&a.delete("/subscribe/customers/shared-cust").await, "A delete");
    assert_ok(&b.get("/subscribe/customers/shared-cust").await, "B's key survives");
    // A cancelling leaves B's payment paid.
    assert_ok(&a.cancel(&json!({"merchant_uid": "shared-order"})).await, "A cancel");
    let fb = b.payment(pb["imp_uid"].as_str().unwrap()).await;
    assert_eq!(fb["status"], "paid");
}
