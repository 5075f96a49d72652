//! POST /subscribe/payments/onetime and /subscribe/payments/again: approvals, declines and
//! request validation. The sandbox ledger is the oracle for what was charged.

#[macro_use]
mod common;

use common::*;
use serde_json::{json, Value};

dual_backend_tests!(
    onetime_approved,
    onetime_stores_key,
    again_approved,
    declines_are_failed_payments,
    unknown_customer_is_code_1,
    paid_merchant_uid_not_charged_twice,
    card_quota_rules,
    amount_validation,
    again_form_urlencoded,
);

#[track_caller]
fn assert_payment_shape(p: &Value, what: &str) {
    let obj = p.as_object().unwrap_or_else(|| panic!("{what}: payment must be an object: {p}"));
    let fields = [
        "imp_uid",
        "merchant_uid",
        "pay_method",
        "channel",
        "pg_provider",
        "emb_pg_provider",
        "pg_tid",
        "pg_id",
        "escrow",
        "apply_num",
        "bank_code",
        "bank_name",
        "card_code",
        "card_name",
        "card_quota",
        "card_number",
        "card_type",
        "vbank_code",
        "vbank_name",
        "vbank_num",
        "vbank_holder",
        "vbank_date",
        "vbank_issued_at",
        "name",
        "amount",
        "cancel_amount",
        "currency",
        "buyer_name",
        "buyer_email",
        "buyer_tel",
        "buyer_addr",
        "buyer_postcode",
        "custom_data",
        "user_agent",
        "status",
        "started_at",
        "paid_at",
        "failed_at",
        "cancelled_at",
        "fail_reason",
        "cancel_reason",
        "receipt_url",
        "cancel_history",
        "cancel_receipt_urls",
        "cash_receipt_issued",
        "customer_uid",
        "customer_uid_usage",
    ];
    let missing: Vec<&str> = fields.iter().copied().filter(|f| !obj.contains_key(*f)).collect();
    assert!(missing.is_empty(), "{what}: payment lacks fields {missing:?}: {p}");
    for k in [
        "started_at",
        "paid_at",
        "failed_at",
        "cancelled_at",
        "vbank_date",
        "vbank_issued_at",
        "card_quota",
    ] {
        assert!(p[k].is_i64(), "{what}: {k} must be an integer (0 when absent): {p}");
    }
    for k in ["escrow", "cash_receipt_issued"] {
        assert!(p[k].is_boolean(), "{what}: {k} must be a boolean: {p}");
    }
    for k in ["amount", "cancel_amount"] {
        assert!(p[k].is_number(), "{what}: {k} must be a number: {p}");
    }
    assert!(p["cancel_history"].is_array(), "{what}: cancel_history must be an array: {p}");
    assert!(
        p["cancel_receipt_urls"].is_array(),
        "{what}: cancel_receipt_urls must be an array: {p}"
    );
    assert!(
        ["ready", "paid", "failed", "cancelled"].contains(&p["status"].as_str().unwrap_or("")),
        "{what}: status: {p}"
    );
}

async fn onetime_approved(backend: Backend) {
    let server = TestServer::start(&backend).await;
    let (_, client) = server.merchant_client().await;
    let mu = uid("onetime");
    let resp = client.onetime(&mu, 1004, CARD_OK).await;
    let p = assert_ok(&resp, "onetime");
    assert_payment_shape(&p, "onetime");
    let imp_uid = p["imp_uid"].as_str().unwrap().to_owned();
    assert!(imp_uid.starts_with("imps_"), "API payments are imps_…: {imp_uid}");
    assert!(imp_uid.len() <= 32);
    assert_eq!(p["merchant_uid"], mu.as_str());
    assert_eq!(p["status"], "paid");
    assert_eq!(p["amount"], 1004);
    assert_eq!(p["cancel_amount"], 0);
    assert_eq!(p["currency"], "KRW");
    assert_eq!(p["pay_method"], "card");
    assert_eq!(p["channel"], "api");
    assert_eq!(p["pg_provider"], "html5_inicis");
    assert_eq!(p["pg_id"], "INIBillTst");
    assert_eq!(p["name"], "단건결제");
    assert_eq!(p["buyer_name"], "홍길동");
    assert_eq!(p["card_code"], "367");
    assert_eq!(p["card_name"], "현대카드");
    assert_eq!(p["card_quota"], 0);
    assert_masked(&p["card_number"], CARD_OK, "onetime");
    assert!(p["apply_num"].as_str().is_some_and(|s| !s.is_empty()), "apply_num: {p}");
    assert!(p["pg_tid"].as_str().is_some_and(|s| !s.is_empty()), "pg_tid: {p}");
    assert!(p["paid_at"].as_i64().unwrap() > 0, "paid_at: {p}");
    assert_eq!(p["failed_at"], 0);
    assert_eq!(p["cancelled_at"], 0);
    assert!(p["fail_reason"].is_null());
    assert_eq!(p["cancel_history"], json!([]));
    assert!(p["customer_uid"].is_null(), "no key stored without customer_uid: {p}");

    // The stored payment matches the response.
    let got = client.payment(&imp_uid).await;
    assert_eq!(got, p, "GET /payments/{{imp_uid}} should equal the charge response");

    let approvals = server.ledger_for(&imp_uid, "approval");
    assert_eq!(approvals.len(), 1, "exactly one approval: {approvals:?}");
    let a = &approvals[0];
    assert_eq!(a["amount"], 1004);
    assert_eq!(a["mid"], "INIBillTst");
    assert_eq!(a["tid"], p["pg_tid"], "ledger tid is the payment's pg_tid");
    assert_eq!(a["apply_num"], p["apply_num"]);
    assert_eq!(a["card_code"], "367");
}

async fn onetime_stores_key(backend: Backend) {
    let server = TestServer::start(&backend).await;
    let (_, client) = server.merchant_client().await;
    let mu = uid("onetime_key");
    let cu = uid("cust");
    let resp = client
        .post_json(
            "/subscribe/payments/onetime",
            &json!({
                "merchant_uid": mu, "amount": 5000, "card_number": CARD_OK, "expiry": EXPIRY,
                "birth": BIRTH, "pwd_2digit": PWD2, "customer_uid": cu, "name": "첫 결제",
                "buyer_name": "이영희", "buyer_email": "lee@example.com", "buyer_tel": "010-0000-1111",
            }),
        )
        .await;
    let p = assert_ok(&resp, "onetime with customer_uid");
    assert_eq!(p["status"], "paid");
    assert_eq!(p["customer_uid"], cu.as_str(), "{p}");

    let c = assert_ok(
        &client.get(&format!("/subscribe/customers/{cu}")).await,
        "key stored by onetime",
    );
    assert_eq!(c["customer_uid"], cu.as_str());
    assert_eq!(c["card_code"], "367");
    assert_masked(&c["card_number"], CARD_OK, "key from onetime");
    assert_eq!(c["customer_name"], "이영희", "buyer_* become customer_*: {c}");
    assert_eq!(c["customer_email"], "lee@example.com", "{c}");

    // The stored key charges.
    let p2 = client.again_paid(&cu, &uid("second"), 5000).await;
    assert_eq!(p2["customer_uid"], cu.as_str());
}

async fn again_approved(backend: Backend) {
    let server = TestServer::start(&backend).await;
    let (_, client) = server.merchant_client().await;
    let cu = uid("cust");
    client.issue_key_ok(&cu, CARD_OK).await;
    let mu = uid("again");
    let resp = client
        .post_json(
            "/subscribe/payments/again",
            &json!({
                "customer_uid": cu, "merchant_uid": mu, "amount": 9900, "name": "월간 구독",
                "buyer_name": "박민수", "buyer_email": "park@example.com", "custom_data": "{\"plan\":\"pro\"}",
            }),
        )
        .await;
    let p = assert_ok(&resp, "again");
    assert_payment_shape(&p, "again");
    let imp_uid = p["imp_uid"].as_str().unwrap();
    assert!(imp_uid.starts_with("imps_"), "{imp_uid}");
    assert_eq!(p["status"], "paid");
    assert_eq!(p["channel"], "api");
    assert_eq!(p["customer_uid"], cu.as_str());
    assert_eq!(p["customer_uid_usage"], "payment");
    assert_eq!(p["amount"], 9900);
    assert_eq!(p["name"], "월간 구독");
    assert_eq!(p["buyer_name"], "박민수");
    assert_eq!(p["custom_data"], "{\"plan\":\"pro\"}");
    assert_eq!(p["pg_provider"], "html5_inicis");
    assert_eq!(p["pg_id"], "INIBillTst");
    assert_eq!(p["card_code"], "367");
    assert_masked(&p["card_number"], CARD_OK, "again");
    assert!(p["paid_at"].as_i64().unwrap() > 0);
    assert!(p["started_at"].as_i64().unwrap() > 0);

    let approvals = server.ledger_for(imp_uid, "approval");
    assert_eq!(approvals.len(), 1, "{approvals:?}");
    assert_eq!(approvals[0]["amount"], 9900);

    // A second, different order on the same key.
    let p2 = client.again_paid(&cu, &uid("again2"), 100).await;
    assert_ne!(p2["imp_uid"], p["imp_uid"]);
}

async fn declines_are_failed_payments(backend: Backend) {
    let server = TestServer::start(&backend).await;
    let (_, client) = server.merchant_client().await;

    // Keyed one-time charges declined by the sandbox.
    for last4 in ["0002", "0003", "0004"] {
        let mu = uid(&format!("decline{last4}"));
        let resp = client.onetime(&mu, 3000, &card(last4)).await;
        let p = assert_ok(&resp, &format!("onetime with {last4}"));
        assert_payment_shape(&p, last4);
        assert_eq!(p["status"], "failed", "card {last4}: {p}");
        assert!(
            p["fail_reason"].as_str().is_some_and(|s| !s.is_empty()),
            "card {last4}: fail_reason: {p}"
        );
        assert!(p["failed_at"].as_i64().unwrap() > 0, "card {last4}: failed_at: {p}");
        assert_eq!(p["paid_at"], 0, "card {last4}: {p}");
        let imp_uid = p["imp_uid"].as_str().unwrap();
        assert!(
            server.ledger_for(imp_uid, "approval").is_empty(),
            "card {last4}: a decline is no approval"
        );
        // The failed payment is stored.
        let got = client.payment(imp_uid).await;
        assert_eq!(got["status"], "failed");

        // A failed merchant_uid may be retried, and then it is paid.
        let retry = client.onetime(&mu, 3000, CARD_OK).await;
        let p2 = assert_ok(&retry, "retry after a decline");
        assert_eq!(p2["status"], "paid", "{p2}");
        assert_ne!(p2["imp_uid"], p["imp_uid"], "a retry is a new attempt");
    }

    // Billing keys for declining cards: issuance works, charges fail.
    for last4 in ["0341", "0002"] {
        let cu = uid(&format!("key{last4}"));
        client.issue_key_ok(&cu, &card(last4)).await;
        let mu = uid("again_decline");
        let resp = client.again(&cu, &mu, 7000).await;
        let p = assert_ok(&resp, &format!("again with {last4}"));
        assert_eq!(p["status"], "failed", "card {last4}: {p}");
        assert_eq!(p["customer_uid"], cu.as_str());
        assert!(p["fail_reason"].as_str().is_some_and(|s| !s.is_empty()), "fail_reason: {p}");
        assert!(server.ledger_for(p["imp_uid"].as_str().unwrap(), "approval").is_empty());
    }
}

async fn unknown_customer_is_code_1(backend: Backend) {
    let server = TestServer::start(&backend).await;
    let (_, client) = server.merchant_client().await;
    let mu = uid("nokey");
    let resp = client.again("never-issued", &mu, 1000).await;
    assert_eq!(resp.0, 200, "unknown customer_uid is a business failure: {}", resp.1);
    assert_eq!(resp.1["code"], 1, "{}", resp.1);
    assert_failure(&resp, "again with an unknown customer_uid");
    assert!(server.ledger().is_empty(), "nothing charged");
    let find = client.get(&format!("/payments/find/{mu}")).await;
    assert_eq!(find.0, 404, "no payment recorded: {}", find.1);
}

async fn paid_merchant_uid_not_charged_twice(backend: Backend) {
    let server = TestServer::start(&backend).await;
    let (_, client) = server.merchant_client().await;
    let cu = uid("cust");
    client.issue_key_ok(&cu, CARD_OK).await;
    let mu = uid("once");
    let p = client.again_paid(&cu, &mu, 4000).await;

    let second = client.again(&cu, &mu, 4000).await;
    assert_failure(&second, "again on a paid merchant_uid");
    let third = client.onetime(&mu, 4000, CARD_OK).await;
    assert_failure(&third, "onetime on a paid merchant_uid");

    let approvals: Vec<Value> =
        server.ledger().into_iter().filter(|e| e["kind"] == "approval").collect();
    assert_eq!(approvals.len(), 1, "one approval in the whole ledger: {approvals:?}");
    assert_eq!(approvals[0]["order_id"], p["imp_uid"]);

    let all = assert_ok(&client.get(&format!("/payments/findAll/{mu}")).await, "findAll");
    assert_eq!(all["total"], 1, "the refused attempts leave no payment: {all}");
}

async fn card_quota_rules(backend: Backend) {
    let server = TestServer::start(&backend).await;
    let (_, client) = server.merchant_client().await;
    let cu = uid("cust");
    client.issue_key_ok(&cu, CARD_OK).await;

    let mu = uid("quota_small");
    let resp = client
        .post_json(
            "/subscribe/payments/again",
            &json!({"customer_uid": cu, "merchant_uid": mu, "amount": 49_999, "name": "할부", "card_quota": 3}),
        )
        .await;
    assert_failure(&resp, "card_quota 3 under 50,000");
    assert_eq!(client.get(&format!("/payments/find/{mu}")).await.0, 404, "nothing recorded");

    let mu = uid("quota_big");
    let resp = client
        .post_json(
            "/subscribe/payments/again",
            &json!({"customer_uid": cu, "merchant_uid": mu, "amount": 50_000, "name": "할부", "card_quota": 3}),
        )
        .await;
    let p = assert_ok(&resp, "card_quota 3 at 50,000");
    assert_eq!(p["status"], "paid");
    assert_eq!(p["card_quota"], 3);

    let mu = uid("quota_onetime");
    let resp = client
        .post_json(
            "/subscribe/payments/onetime",
            &json!({"merchant_uid": mu, "amount": 10_000, "card_number": CARD_OK, "expiry": EXPIRY,
                    "birth": BIRTH, "pwd_2digit": PWD2, "card_quota": 2}),
        )
        .await;
    assert_failure(&resp, "onetime card_quota 2 under 50,000");

    // Only the one 50,000 charge was approved.
    let approvals: Vec<Value> =
        server.ledger().into_iter().filter(|e| e["kind"] == "approval").collect();
    assert_eq!(approvals.len(), 1, "{approvals:?}");
}

async fn amount_validation(backend: Backend) {
    let server = TestServer::start(&backend).await;
    let (_, client) = server.merchant_client().await;
    let cu = uid("cust");
    client.issue_key_ok(&cu, CARD_OK).await;

    let cases: Vec<(&str, Value)> = vec![
        ("amount 0", json!({"amount": 0})),
        ("negative amount", json!({"amount": -1000})),
        ("fractional amount", json!({"amount": 1000.5})),
        ("non-numeric amount", json!({"amount": "abc"})),
        ("missing amount", json!({})),
        ("tax_free above amount", json!({"amount": 1000, "tax_free": 1001})),
        ("negative tax_free", json!({"amount": 1000, "tax_free": -1})),
        ("amount above the maximum", json!({"amount": 10_000_000_001_i64})),
        ("amount i64::MAX", json!({"amount": i64::MAX})),
        ("amount i64::MAX as text", json!({"amount": "9223372036854775807"})),
    ];
    for (what, extra) in cases {
        let mu = uid("badamount");
        let mut body = json!({"customer_uid": cu, "merchant_uid": mu, "name": "검증"});
        for (k, v) in extra.as_object().unwrap() {
            body[k] = v.clone();
        }
        let resp = client.post_json("/subscribe/payments/again", &body).await;
        assert_failure(&resp, &format!("again: {what}"));
        assert_eq!(resp.0, 400, "again: {what}: {}", resp.1);
        assert_eq!(
            client.get(&format!("/payments/find/{mu}")).await.0,
            404,
            "{what}: nothing recorded"
        );

        let mut body = json!({"merchant_uid": mu, "card_number": CARD_OK, "expiry": EXPIRY,
                              "birth": BIRTH, "pwd_2digit": PWD2});
        for (k, v) in extra.as_object().unwrap() {
            body[k] = v.clone();
        }
        let resp = client.post_json("/subscribe/payments/onetime", &body).await;
        assert_failure(&resp, &format!("onetime: {what}"));
        assert_eq!(resp.0, 400, "onetime: {what}: {}", resp.1);
    }
    // The per-charge maximum applies to schedules too (every schedule or none is created).
    let at = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs()
        as i64
        + 3600;
    let over = uid("overmax");
    let resp = client
        .post_json(
            "/subscribe/payments/schedule",
            &json!({"customer_uid": cu, "schedules": [
                {"merchant_uid": uid("okmax"), "schedule_at": at, "amount": 1000},
                {"merchant_uid": over, "schedule_at": at, "amount": 10_000_000_001_i64},
            ]}),
        )
        .await;
    assert_failure(&resp, "schedule over the maximum");
    assert_eq!(resp.0, 400, "schedule over the maximum: {}", resp.1);
    assert!(resp.1["message"].as_str().unwrap().contains("10,000,000,000"), "{}", resp.1);
    assert_eq!(
        client.get(&format!("/subscribe/payments/schedule/{over}")).await.0,
        404,
        "nothing scheduled"
    );
    // Exactly the maximum is a valid charge (and a valid schedule).
    let max = assert_ok(&client.again(&cu, &uid("atmax"), 10_000_000_000).await, "again at max");
    assert_eq!(max["status"], "paid", "{max}");
    assert_eq!(max["amount"], 10_000_000_000_i64, "{max}");
    let resp = client
        .post_json(
            "/subscribe/payments/schedule",
            &json!({"customer_uid": cu, "schedules": [
                {"merchant_uid": uid("schedmax"), "schedule_at": at, "amount": 10_000_000_000_i64},
            ]}),
        )
        .await;
    assert_ok(&resp, "schedule at the maximum");
    // Missing ids.
    let resp = client
        .post_json("/subscribe/payments/again", &json!({"customer_uid": cu, "amount": 1000}))
        .await;
    assert_failure(&resp, "again without merchant_uid");
    let resp = client
        .post_json("/subscribe/payments/again", &json!({"merchant_uid": uid("x"), "amount": 1000}))
        .await;
    assert_failure(&resp, "again without customer_uid");

    // tax_free equal to the amount is fine; a whole-number float is a whole number.
    let mu = uid("taxfree");
    let resp = client
        .post_json(
            "/subscribe/payments/again",
            &json!({"customer_uid": cu, "merchant_uid": mu, "amount": 1000, "tax_free": 1000, "name": "면세"}),
        )
        .await;
    let p = assert_ok(&resp, "tax_free == amount");
    assert_eq!(p["status"], "paid");

    assert!(
        server.ledger().iter().filter(|e| e["kind"] == "approval").count() == 2,
        "only the valid requests were charged: {:?}",
        server.ledger()
    );
}

async fn again_form_urlencoded(backend: Backend) {
    let server = TestServer::start(&backend).await;
    let (_, client) = server.merchant_client().await;
    let cu = uid("cust");
    client.issue_key_ok(&cu, CARD_OK).await;
    let mu = uid("form");
    let resp = client
        .post_form(
            "/subscribe/payments/again",
            &[
                ("customer_uid", &cu),
                ("merchant_uid", &mu),
                ("amount", "2500"),
                ("name", "폼 결제 & 테스트"),
            ],
        )
        .await;
    let p = assert_ok(&resp, "again (form)");
    assert_eq!(p["status"], "paid");
    assert_eq!(p["amount"], 2500);
    assert_eq!(p["name"], "폼 결제 & 테스트", "form decoding keeps UTF-8 and '&': {p}");

    let mu2 = uid("form_onetime");
    let resp = client
        .post_form(
            "/subscribe/payments/onetime",
            &[
                ("merchant_uid", &mu2),
                ("amount", "1300"),
                ("card_number", CARD_OK),
                ("expiry", EXPIRY),
                ("birth", BIRTH),
                ("pwd_2digit", PWD2),
                ("name", "폼 단건"),
            ],
        )
        .await;
    let p = assert_ok(&resp, "onetime (form)");
    assert_eq!(p["status"], "paid");
    assert_eq!(p["amount"], 1300);
}
