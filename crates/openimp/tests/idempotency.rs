//! The Idempotency-Key header on POSTs.

#[macro_use]
mod common;

use common::*;
use serde_json::{json, Value};

dual_backend_tests!(
    replay_same_body,
    other_body_is_422,
    keys_are_per_merchant,
    concurrent_same_key,
    replay_form_body,
);

async fn replay_same_body(backend: Backend) {
    let server = TestServer::start(&backend).await;
    let (_, client) = server.merchant_client().await;
    let cu = uid("cust");
    client.issue_key_ok(&cu, CARD_OK).await;
    let mu = uid("idem");
    let key = uid("key");
    let body = json!({"customer_uid": cu, "merchant_uid": mu, "amount": 3000, "name": "idem"});

    let first = client.post_json_idem("/subscribe/payments/again", &key, &body).await;
    let p = assert_ok(&first, "first");
    assert_eq!(p["status"], "paid");
    let second = client.post_json_idem("/subscribe/payments/again", &key, &body).await;
    assert_eq!(second.0, first.0, "replay status");
    assert_eq!(second.1, first.1, "a replay returns the first response exactly");

    let imp_uid = p["imp_uid"].as_str().unwrap();
    assert_eq!(server.ledger_for(imp_uid, "approval").len(), 1);
    let approvals = server.ledger().into_iter().filter(|e| e["kind"] == "approval").count();
    assert_eq!(approvals, 1, "one approval in the whole ledger");
    let all = assert_ok(&client.get(&format!("/payments/findAll/{mu}")).await, "findAll");
    assert_eq!(all["total"], 1, "{all}");

    // A failed request is replayed as well (the same error), and charges nothing.
    let key2 = uid("key");
    let bad = json!({"customer_uid": "no-such-customer", "merchant_uid": uid("m"), "amount": 1000});
    let f1 = client.post_json_idem("/subscribe/payments/again", &key2, &bad).await;
    assert_failure(&f1, "again with unknown customer");
    let f2 = client.post_json_idem("/subscribe/payments/again", &key2, &bad).await;
    assert_eq!(
        (f2.0, &f2.1["code"]),
        (f1.0, &f1.1["code"]),
        "a replayed failure: {} vs {}",
        f2.1,
        f1.1
    );

    // Replays of onetime and cancel.
    let key3 = uid("key");
    let onetime = json!({"merchant_uid": uid("ot"), "amount": 1100, "card_number": CARD_OK, "expiry": EXPIRY,
                         "birth": BIRTH, "pwd_2digit": PWD2});
    let o1 = client.post_json_idem("/subscribe/payments/onetime", &key3, &onetime).await;
    let o2 = client.post_json_idem("/subscribe/payments/onetime", &key3, &onetime).await;
    assert_eq!(o1.1, o2.1, "onetime replay");
    let o_uid = o1.1["response"]["imp_uid"].as_str().expect("onetime imp_uid").to_owned();
    assert_eq!(server.ledger_for(&o_uid, "approval").len(), 1);

    let key4 = uid("key");
    let cancel = json!({"imp_uid": o_uid, "amount": 100, "reason": "idem cancel"});
    let c1 = client.post_json_idem("/payments/cancel", &key4, &cancel).await;
    let c2 = client.post_json_idem("/payments/cancel", &key4, &cancel).await;
    assert_ok(&c1, "cancel");
    assert_eq!(c1.1, c2.1, "cancel replay");
    assert_eq!(server.ledger_for(&o_uid, "cancel").len(), 1, "a replayed cancel cancels once");
    assert_eq!(client.payment(&o_uid).await["cancel_amount"], 100);
}

async fn other_body_is_422(backend: Backend) {
    let server = TestServer::start(&backend).await;
    let (_, client) = server.merchant_client().await;
    let cu = uid("cust");
    client.issue_key_ok(&cu, CARD_OK).await;
    let key = uid("key");
    let mu = uid("idem");
    let body = json!({"customer_uid": cu, "merchant_uid": mu, "amount": 3000, "name": "idem"});
    let first = client.post_json_idem("/subscribe/payments/again", &key, &body).await;
    assert_ok(&first, "first");

    for (what, other) in [
        (
            "another amount",
            json!({"customer_uid": cu, "merchant_uid": mu, "amount": 3001, "name": "idem"}),
        ),
        (
            "another merchant_uid",
            json!({"customer_uid": cu, "merchant_uid": uid("m2"), "amount": 3000, "name": "idem"}),
        ),
    ] {
        let resp = client.post_json_idem("/subscribe/payments/again", &key, &other).await;
        assert_eq!(resp.0, 422, "same key, {what}: {}", resp.1);
        assert_failure(&resp, what);
    }
    // Same key on another endpoint is another request too.
    let resp = client
        .post_json_idem("/payments/prepare", &key, &json!({"merchant_uid": uid("p"), "amount": 1}))
        .await;
    assert_eq!(resp.0, 422, "same key on another path: {}", resp.1);

    let approvals = server.ledger().into_iter().filter(|e| e["kind"] == "approval").count();
    assert_eq!(approvals, 1);
}

async fn keys_are_per_merchant(backend: Backend) {
    let server = TestServer::start(&backend).await;
    let (_, a) = server.merchant_client().await;
    let (_, b) = server.merchant_client().await;
    let key = uid("shared-key");
    let cu = "same-customer";
    a.issue_key_ok(cu, CARD_OK).await;
    b.issue_key_ok(cu, CARD_OK).await;
    let body =
        json!({"customer_uid": cu, "merchant_uid": "same-order", "amount": 5000, "name": "x"});
    let ra = a.post_json_idem("/subscribe/payments/again", &key, &body).await;
    let rb = b.post_json_idem("/subscribe/payments/again", &key, &body).await;
    let pa = assert_ok(&ra, "merchant A");
    let pb = assert_ok(&rb, "merchant B, same key and body");
    assert_eq!(pa["status"], "paid");
    assert_eq!(pb["status"], "paid");
    assert_ne!(pa["imp_uid"], pb["imp_uid"], "B's request is not a replay of A's");
    let approvals = server.ledger().into_iter().filter(|e| e["kind"] == "approval").count();
    assert_eq!(approvals, 2);
}

async fn concurrent_same_key(backend: Backend) {
    let server = TestServer::start_with(
        &backend,
        ServerOpts { sandbox_delay_ms: Some(200), ..Default::default() },
    )
    .await;
    let (_, client) = server.merchant_client().await;
    let cu = uid("cust");
    client.issue_key_ok(&cu, CARD_OK).await;
    let key = uid("key");
    let body =
        json!({"customer_uid": cu, "merchant_uid": uid("race"), "amount": 4321, "name": "race"});
    let futs = (0..10).map(|_| {
        let client = client.clone();
        let key = key.clone();
        let body = body.clone();
        async move { client.post_json_idem("/subscribe/payments/again", &key, &body).await }
    });
    let results: Vec<(u16, Value)> = futures::future::join_all(futs).await;
    let oks: Vec<&Value> =
        results.iter().filter(|(_, b)| b["code"] == 0).map(|(_, b)| &b["response"]).collect();
    assert!(!oks.is_empty(), "at least one request succeeds: {results:?}");
    let first_uid = &oks[0]["imp_uid"];
    assert!(
        oks.iter().all(|p| &p["imp_uid"] == first_uid),
        "every success is the same payment: {results:?}"
    );
    for (status, b) in &results {
        if b["code"] != 0 {
            // A request that arrives while the first is in flight may be told so; never a 5xx.
            assert!(*status < 500, "concurrent duplicate: HTTP {status}: {b}");
            assert!(b["message"].is_string(), "{b}");
        }
    }
    let approvals: Vec<Value> =
        server.ledger().into_iter().filter(|e| e["kind"] == "approval").collect();
    assert_eq!(approvals.len(), 1, "exactly one approval: {approvals:?}");
    // After the dust settles, the key replays the payment.
    let replay = client.post_json_idem("/subscribe/payments/again", &key, &body).await;
    let p = assert_ok(&replay, "replay after the race");
    assert_eq!(&p["imp_uid"], first_uid);
}

async fn replay_form_body(backend: Backend) {
    let server = TestServer::start(&backend).await;
    let (_, client) = server.merchant_client().await;
    let cu = uid("cust");
    client.issue_key_ok(&cu, CARD_OK).await;
    let mu = uid("idem_form");
    let key = uid("key");
    let pairs = [("customer_uid", cu.as_str()), ("merchant_uid", mu.as_str()), ("amount", "1500")];
    let send = |pairs: Vec<(String, String)>| {
        let client = client.clone();
        let key = key.clone();
        async move {
            let body = pairs
                .iter()
                .map(|(k, v)| format!("{}={}", enc(k), enc(v)))
                .collect::<Vec<_>>()
                .join("&");
            client
                .send(
                    client
                        .request(reqwest::Method::POST, "/subscribe/payments/again")
                        .header("Idempotency-Key", key)
                        .header("Content-Type", "application/x-www-form-urlencoded")
                        .body(body),
                )
                .await
        }
    };
    let owned: Vec<(String, String)> =
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    let first = send(owned.clone()).await;
    let p = assert_ok(&first, "form again");
    let second = send(owned.clone()).await;
    assert_eq!(second.1, first.1, "form replay");
    assert_eq!(server.ledger_for(p["imp_uid"].as_str().unwrap(), "approval").len(), 1);
    let mut other = owned.clone();
    other[2].1 = "1501".to_owned();
    let third = send(other).await;
    assert_eq!(third.0, 422, "same key, other form body: {}", third.1);
}
