//! /payments/prepare: register, update, read, and the amount check on charges.

#[macro_use]
mod common;

use common::*;
use serde_json::json;

dual_backend_tests!(prepare_crud, prepared_amount_enforced);

async fn prepare_crud(backend: Backend) {
    let server = TestServer::start(&backend).await;
    let (_, client) = server.merchant_client().await;
    let mu = uid("prep");

    let r = assert_ok(
        &client
            .post_json("/payments/prepare", &json!({"merchant_uid": mu, "amount": 12_000}))
            .await,
        "prepare",
    );
    assert_eq!(r["merchant_uid"], mu.as_str());
    assert_eq!(r["amount"], 12_000);
    assert!(r.as_object().unwrap().contains_key("currency"), "prepare response has currency: {r}");

    let got = assert_ok(&client.get(&format!("/payments/prepare/{mu}")).await, "GET prepare");
    assert_eq!(got["merchant_uid"], mu.as_str());
    assert_eq!(got["amount"], 12_000);

    let dup =
        client.post_json("/payments/prepare", &json!({"merchant_uid": mu, "amount": 15_000})).await;
    assert_eq!(dup.0, 200, "duplicate prepare is a business failure: {}", dup.1);
    assert_eq!(dup.1["code"], 1, "duplicate prepare → code 1: {}", dup.1);
    assert_failure(&dup, "duplicate prepare");
    let got = assert_ok(&client.get(&format!("/payments/prepare/{mu}")).await, "GET after dup");
    assert_eq!(got["amount"], 12_000, "a refused duplicate changes nothing");

    let put = assert_ok(
        &client.put_json("/payments/prepare", &json!({"merchant_uid": mu, "amount": 15_000})).await,
        "PUT",
    );
    assert_eq!(put["amount"], 15_000);
    let got = assert_ok(&client.get(&format!("/payments/prepare/{mu}")).await, "GET after PUT");
    assert_eq!(got["amount"], 15_000);

    let put_unknown = client
        .put_json("/payments/prepare", &json!({"merchant_uid": uid("nope"), "amount": 1}))
        .await;
    assert_eq!(put_unknown.0, 404, "PUT of an unregistered merchant_uid: {}", put_unknown.1);
    assert_failure(&put_unknown, "PUT unknown");

    let get_unknown = client.get("/payments/prepare/never_prepared").await;
    assert_eq!(get_unknown.0, 404, "GET unknown prepare: {}", get_unknown.1);
    assert_failure(&get_unknown, "GET unknown prepare");

    // Form body.
    let mu2 = uid("prep_form");
    let r = assert_ok(
        &client.post_form("/payments/prepare", &[("merchant_uid", &mu2), ("amount", "3300")]).await,
        "prepare (form)",
    );
    assert_eq!(r["amount"], 3300);

    // Validation.
    for (what, body) in [
        ("no merchant_uid", json!({"amount": 1000})),
        ("no amount", json!({"merchant_uid": uid("x")})),
        ("negative amount", json!({"merchant_uid": uid("x"), "amount": -5})),
        ("non-numeric amount", json!({"merchant_uid": uid("x"), "amount": "many"})),
    ] {
        let resp = client.post_json("/payments/prepare", &body).await;
        assert_failure(&resp, what);
    }
}

async fn prepared_amount_enforced(backend: Backend) {
    let server = TestServer::start(&backend).await;
    let (_, client) = server.merchant_client().await;
    let cu = uid("cust");
    client.issue_key_ok(&cu, CARD_OK).await;

    // again
    let mu = uid("prep_again");
    assert_ok(
        &client
            .post_json("/payments/prepare", &json!({"merchant_uid": mu, "amount": 20_000}))
            .await,
        "prepare",
    );
    let wrong = client.again(&cu, &mu, 19_999).await;
    assert_failure(&wrong, "again with another amount than prepared");
    assert!(
        server.ledger().iter().all(|e| e["amount"] != 19_999),
        "the wrong amount never reaches the PG"
    );
    let p = client.again_paid(&cu, &mu, 20_000).await;
    assert_eq!(p["amount"], 20_000);
    assert_eq!(server.ledger_for(p["imp_uid"].as_str().unwrap(), "approval").len(), 1);

    // onetime
    let mu = uid("prep_onetime");
    assert_ok(
        &client.post_json("/payments/prepare", &json!({"merchant_uid": mu, "amount": 7_000})).await,
        "prepare",
    );
    let wrong = client.onetime(&mu, 7_001, CARD_OK).await;
    assert_failure(&wrong, "onetime with another amount than prepared");
    let (_, ok) = client.onetime(&mu, 7_000, CARD_OK).await;
    assert_eq!(ok["code"], 0, "{ok}");
    assert_eq!(ok["response"]["status"], "paid", "{ok}");

    // After PUT, the new amount is the one enforced.
    let mu = uid("prep_put");
    assert_ok(
        &client.post_json("/payments/prepare", &json!({"merchant_uid": mu, "amount": 1_000})).await,
        "prepare",
    );
    assert_ok(
        &client.put_json("/payments/prepare", &json!({"merchant_uid": mu, "amount": 2_000})).await,
        "PUT",
    );
    let wrong = client.again(&cu, &mu, 1_000).await;
    assert_failure(&wrong, "again with the amount before PUT");
    client.again_paid(&cu, &mu, 2_000).await;

    // A merchant_uid that was not prepared is not checked.
    client.again_paid(&cu, &uid("unprepared"), 12_345).await;

    let approvals = server.ledger().into_iter().filter(|e| e["kind"] == "approval").count();
    assert_eq!(approvals, 4, "only the four matching charges were approved");
}
