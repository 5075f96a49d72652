//! Cancels whose PG answer was lost (security review finding 5): the reconciler asks the PG by
//! the cancel's id, so the reserved amount is either recorded as cancelled (the PG has it) or
//! released (the PG never got it), never stuck; a later full cancel refunds exactly the rest.

#[macro_use]
mod common;

use std::time::Duration;

use common::*;
use serde_json::{json, Value};

dual_backend_tests!(
    crash_mid_cancel_releases_the_reservation,
    lost_cancel_answer_is_completed_by_inquiry,
    crash_after_pg_cancel_completes_on_restart,
);

/// A fast reconciler with a short PG timeout (so "not found" is final after 2 s).
fn fast_reconciler() -> ServerOpts {
    ServerOpts {
        reconcile_interval_secs: Some(1),
        reconcile_after_secs: Some(1),
        extra_args: vec!["--pg-timeout-secs".to_owned(), "1".to_owned()],
        ..Default::default()
    }
}

fn cancels_of(server: &TestServer, imp_uid: &str) -> Vec<Value> {
    server.ledger_for(imp_uid, "cancel")
}

/// A merchant with a payment of 5,000 made with a key on `card_number`; (merchant, imp_uid).
async fn paid_5000(server: &TestServer, card_number: &str) -> (Merchant, String) {
    let (merchant, client) = server.merchant_client().await;
    let customer_uid = uid("cust");
    client.issue_key_ok(&customer_uid, card_number).await;
    let paid = client.again_paid(&customer_uid, &uid("order"), 5_000).await;
    (merchant, paid["imp_uid"].as_str().unwrap().to_owned())
}

/// Waits until the payment's recorded cancels add up to `cancel_amount`; returns the payment.
async fn wait_cancel_amount(client: &Client, imp_uid: &str, cancel_amount: i64) -> Value {
    eventually(Duration::from_secs(40), "the reconciler records the cancel", || {
        let client = client.clone();
        let imp_uid = imp_uid.to_owned();
        async move {
            let payment = client.payment(&imp_uid).await;
            (payment["cancel_amount"] == cancel_amount).then_some(payment)
        }
    })
    .await
}

/// The review's reproduction: the server is killed while the PG call of a partial cancel is in
/// flight (before the PG recorded it). After a restart the reconciler finds no such cancel at
/// the PG and releases the 2,000 it reserved: a full cancel of 5,000 then goes through.
async fn crash_mid_cancel_releases_the_reservation(backend: Backend) {
    let env = Env::new(&backend).await;
    let (merchant, imp_uid) = {
        let server = TestServer::start_in(env.clone(), ServerOpts::default()).await;
        paid_5000(&server, CARD_OK).await
    };
    {
        let mut server = TestServer::start_in(
            env.clone(),
            ServerOpts {
                sandbox_delay_ms: Some(3_000),
                reconcile_interval_secs: Some(2),
                reconcile_after_secs: Some(2),
                ..Default::default()
            },
        )
        .await;
        let client = server.client(&merchant).await;
        let body = json!({"imp_uid": imp_uid, "amount": 2_000});
        let cancel =
            tokio::spawn(async move { client.try_post_json("/payments/cancel", &body).await });
        tokio::time::sleep(Duration::from_millis(1_200)).await;
        server.kill();
        let answer = cancel.await.unwrap();
        assert!(answer.is_err(), "the client sees the connection break: {answer:?}");
        assert!(cancels_of(&server, &imp_uid).is_empty(), "the PG never got the cancel");
    }

    let server = TestServer::start_in(env.clone(), fast_reconciler()).await;
    let client = server.client(&merchant).await;
    // While 2,000 is reserved a cancel of 5,000 is refused without effect; once the reconciler
    // released it, the same request refunds everything.
    let refunded = eventually(Duration::from_secs(40), "the reservation is released", || {
        let client = client.clone();
        let imp_uid = imp_uid.clone();
        async move {
            let (status, body) = client.cancel(&json!({"imp_uid": imp_uid, "amount": 5_000})).await;
            (status == 200 && body["code"] == 0).then(|| body["response"].clone())
        }
    })
    .await;
    assert_eq!(refunded["status"], "cancelled", "{refunded}");
    assert_eq!(refunded["cancel_amount"], 5_000, "{refunded}");
    let history = refunded["cancel_history"].as_array().unwrap();
    assert_eq!(history.len(), 1, "only the full cancel happened: {refunded}");
    let ledger = cancels_of(&server, &imp_uid);
    assert_eq!(ledger.len(), 1, "one cancel at the PG: {ledger:?}");
    assert_eq!(ledger[0]["amount"], 5_000);
    assert_eq!(ledger[0]["tid"], history[0]["pg_tid"]);
}

/// Card 0019: the PG records every cancel but its answer is lost (as after a PG timeout). The
/// merchant is told the cancel is being confirmed; the reconciler, asking the PG by the
/// cancel's id, records it. The full cancel after it refunds exactly the rest, and is settled
/// the same way.
async fn lost_cancel_answer_is_completed_by_inquiry(backend: Backend) {
    let server = TestServer::start_with(&backend, fast_reconciler()).await;
    let (merchant, imp_uid) = paid_5000(&server, &card("0019")).await;
    let client = server.client(&merchant).await;

    let answer = client.cancel(&json!({"imp_uid": imp_uid, "amount": 2_000})).await;
    assert_failure(&answer, "a cancel whose answer was lost");
    let message = answer.1["message"].as_str().unwrap();
    assert!(message.contains("취소 여부를 확인 중"), "{message}");
    let ledger = cancels_of(&server, &imp_uid);
    assert_eq!(ledger.len(), 1, "the PG has the cancel: {ledger:?}");
    assert_eq!(ledger[0]["amount"], 2_000);

    let payment = wait_cancel_amount(&client, &imp_uid, 2_000).await;
    assert_eq!(payment["status"], "paid", "a partial cancel leaves it paid: {payment}");
    let history = payment["cancel_history"].as_array().unwrap();
    assert_eq!(history.len(), 1, "{payment}");
    assert_eq!(history[0]["pg_tid"], ledger[0]["tid"], "recorded with the PG's cancel tid");
    assert_eq!(history[0]["amount"], 2_000);

    // A full cancel: what remains is 3,000.
    let answer = client.cancel(&json!({"imp_uid": imp_uid})).await;
    assert_failure(&answer, "the full cancel, answer lost too");
    let payment = wait_cancel_amount(&client, &imp_uid, 5_000).await;
    assert_eq!(payment["status"], "cancelled", "{payment}");
    let amounts: Vec<i64> =
        cancels_of(&server, &imp_uid).iter().map(|e| e["amount"].as_i64().unwrap()).collect();
    assert_eq!(amounts, vec![2_000, 3_000], "the PG refunded exactly the rest");
}

/// The PG recorded a cancel, then the server died before writing it down. After a restart the
/// reconciler finds the cancel at the PG and records it; a full cancel refunds the rest.
async fn crash_after_pg_cancel_completes_on_restart(backend: Backend) {
    let env = Env::new(&backend).await;
    let (merchant, imp_uid) = {
        let server = TestServer::start_in(env.clone(), ServerOpts::default()).await;
        let (merchant, imp_uid) = paid_5000(&server, &card("0019")).await;
        let client = server.client(&merchant).await;
        let answer = client.cancel(&json!({"imp_uid": imp_uid, "amount": 1_500})).await;
        assert_failure(&answer, "a cancel whose answer was lost");
        // The default reconciler waits 60 s: nothing settles it before the crash.
        assert_eq!(client.payment(&imp_uid).await["cancel_amount"], 0);
        (merchant, imp_uid)
    };
    let server = TestServer::start_in(env.clone(), fast_reconciler()).await;
    let client = server.client(&merchant).await;
    let payment = wait_cancel_amount(&client, &imp_uid, 1_500).await;
    assert_eq!(payment["cancel_history"].as_array().unwrap().len(), 1, "{payment}");

    let answer = client.cancel(&json!({"imp_uid": imp_uid})).await;
    assert_failure(&answer, "the full cancel, answer lost too");
    let payment = wait_cancel_amount(&client, &imp_uid, 5_000).await;
    assert_eq!(payment["status"], "cancelled", "{payment}");
    let amounts: Vec<i64> =
        cancels_of(&server, &imp_uid).iter().map(|e| e["amount"].as_i64().unwrap()).collect();
    assert_eq!(amounts, vec![1_500, 3_500], "the PG refunded exactly the rest");
}
