//! The approved amount the PG reports is compared with the requested one (issue 9, point 2):
//! an approval of another amount is cancelled at the PG and the payment recorded `failed` with
//! a clear reason, never `paid`. Sandbox card `0013` approves 1 KRW less than asked. The
//! sandbox ledger is the oracle.

#[macro_use]
mod common;

use common::*;
use serde_json::{json, Value};

dual_backend_tests!(mismatched_approval_is_cancelled_and_failed,);

/// The ledger's cancels of one approval (by its tid).
fn cancels_of(server: &TestServer, tid: &str) -> Vec<Value> {
    server.ledger().into_iter().filter(|e| e["kind"] == "cancel" && e["ref_tid"] == tid).collect()
}

#[track_caller]
fn assert_mismatch_failed(server: &TestServer, payment: &Value, requested: i64) {
    assert_eq!(payment["status"], "failed", "{payment}");
    let reason = payment["fail_reason"].as_str().unwrap_or_default();
    assert!(reason.contains("승인금액 불일치"), "{payment}");
    assert!(reason.contains(&requested.to_string()), "{payment}");
    let imp_uid = payment["imp_uid"].as_str().unwrap();
    let approvals = server.ledger_for(imp_uid, "approval");
    assert_eq!(approvals.len(), 1, "{approvals:?}");
    assert_eq!(approvals[0]["amount"], requested - 1, "{approvals:?}");
    let cancels = cancels_of(server, approvals[0]["tid"].as_str().unwrap());
    assert_eq!(cancels.len(), 1, "the wrong approval is cancelled in full: {cancels:?}");
    assert_eq!(cancels[0]["amount"], requested - 1, "{cancels:?}");
}

async fn mismatched_approval_is_cancelled_and_failed(backend: Backend) {
    let server = TestServer::start(&backend).await;
    let (_, c) = server.merchant_client().await;
    let short = card("0013");

    // A billing key charged with `again`.
    let key = uid("short");
    c.issue_key_ok(&key, &short).await;
    let mu = uid("again");
    let payment = assert_ok(&c.again(&key, &mu, 10_000).await, "again");
    assert_mismatch_failed(&server, &payment, 10_000);
    // Recorded so: a lookup says failed, and the merchant_uid may be charged again.
    let stored = c.payment(payment["imp_uid"].as_str().unwrap()).await;
    assert_eq!(stored["status"], "failed", "{stored}");
    assert_eq!(stored["paid_at"], 0, "{stored}");

    // Keyed card data with `onetime`.
    let resp = c
        .post_json(
            "/subscribe/payments/onetime",
            &json!({"merchant_uid": uid("onetime"), "amount": 5000, "card_number": short,
                    "expiry": EXPIRY, "birth": BIRTH, "pwd_2digit": PWD2}),
        )
        .await;
    let payment = assert_ok(&resp, "onetime");
    assert_mismatch_failed(&server, &payment, 5000);

    // A PG that approves the amount asked is recorded paid, with nothing cancelled.
    let ok_key = uid("ok");
    c.issue_key_ok(&ok_key, CARD_OK).await;
    let paid = c.again_paid(&ok_key, &mu, 10_000).await;
    let approvals = server.ledger_for(paid["imp_uid"].as_str().unwrap(), "approval");
    assert_eq!(approvals[0]["amount"], 10_000, "{approvals:?}");
    assert!(cancels_of(&server, approvals[0]["tid"].as_str().unwrap()).is_empty());
}
