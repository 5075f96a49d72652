//! The connector's INIAPI operations against the fake KG Inicis over HTTP on loopback: billing
//! charges and their declines, full and partial refunds, the inquiry that settles a lost
//! answer, keyed operations with and without the contract, and tampered requests refused.

mod common;

use std::time::Duration;

use common::*;
use openimp_inicis::fake::Faults;
use openimp_inicis::protocol::iniapi;
use openimp_pg::{
    CancelInquiry, CancelOutcome, CancelRequest, ChargeOutcome, ChargeRequest, Connector,
    ConnectorError, Inquiry, IssueKeyRequest, PaymentSource,
};

fn charge_request(order_id: &str, key: &str, amount: i64) -> ChargeRequest {
    ChargeRequest {
        order_id: order_id.to_owned(),
        source: PaymentSource::BillingKey(key.to_owned()),
        amount,
        tax_free: 0,
        vat_amount: 0,
        card_quota: 0,
        name: Some("월 구독".to_owned()),
        // No buyer fields, as in seed 002's /subscribe/payments/again: the connector fills them.
        buyer_name: None,
        buyer_email: None,
        buyer_tel: None,
    }
}

fn cancel_request(tid: &str, amount: i64, balance_before: i64) -> CancelRequest {
    CancelRequest {
        order_id: "unused".to_owned(),
        cancel_id: openimp_core::ids::new_cancellation_id(),
        pg_tid: tid.to_owned(),
        amount,
        tax_free: 0,
        vat_amount: None,
        balance_before,
        reason: "고객 요청".to_owned(),
    }
}

fn test_card(last4: &str) -> openimp_core::card::CardInput {
    openimp_core::card::CardInput {
        number: format!("411111111111{last4}"),
        expiry_year: 2030,
        expiry_month: 12,
        birth: Some("880101".to_owned()),
        pwd_2digit: Some("12".to_owned()),
    }
}

#[tokio::test]
async fn billing_charge_is_approved_with_the_pgs_amount_and_card() {
    let fake = fake().await;
    let channel = channel(&fake, BILL_MID);
    let key = fake.issue_billing_key(BILL_MID, "4111-1111-1111-1111");
    let order = order_id("imp");
    let outcome = connector().charge(&channel, charge_request(&order, &key, 3000)).await.unwrap();
    let ChargeOutcome::Approved(approval) = outcome else { panic!("{outcome:?}") };
    assert_eq!(approval.amount, 3000);
    assert_eq!(approval.pg_tid.len(), 40);
    assert!(approval.pg_tid.contains(BILL_MID));
    assert_eq!(approval.apply_num.len(), 8);
    assert_eq!(approval.card.card_number, "411111*********1");
    assert!(!approval.card.card_code.is_empty());
    assert_eq!(
        approval.receipt_url.unwrap(),
        format!(
            "{}/DefaultWebApp/mall/cr/cm/mCmReceipt_head.jsp?noTid={}&noMethod=1",
            fake.base_url(),
            approval.pg_tid
        )
    );
    assert_eq!(fake.remaining(&approval.pg_tid), Some(3000));
    // The same order id again: the PG refuses a second approval.
    let again = connector().charge(&channel, charge_request(&order, &key, 3000)).await.unwrap();
    assert!(
        matches!(again, ChargeOutcome::Declined { ref message, .. } if message.contains("[94]"))
    );
    assert_eq!(kinds(&fake).get("approval"), Some(&1));
}

#[tokio::test]
async fn declines_carry_the_pgs_code_and_message() {
    let fake = fake().await;
    let channel = channel(&fake, BILL_MID);
    for (last4, reason) in [
        ("0002", "[51] 잔액부족"),
        ("0003", "[61] 한도초과"),
        ("0004", "[41] 분실/도난 카드"),
        ("0341", "[05] 승인거절"),
    ] {
        let key = fake.issue_billing_key(BILL_MID, &format!("411111111111{last4}"));
        let order = order_id("imp");
        let outcome =
            connector().charge(&channel, charge_request(&order, &key, 1000)).await.unwrap();
        let ChargeOutcome::Declined { code, message } = outcome else { panic!("{last4}") };
        assert_eq!(code, "01");
        assert!(message.starts_with(reason), "{last4}: {message}");
        // The inquiry knows the decline too.
        let inquiry = connector().inquire(&channel, &order).await.unwrap();
        assert!(
            matches!(inquiry, Inquiry::Declined { ref message, .. } if message.starts_with(reason))
        );
    }
    assert_eq!(kinds(&fake).get("approval"), None);
    // A key the PG never issued (or another MID's) is refused.
    let other = fake.issue_billing_key(PAY_MID, "4111111111111111");
    let outcome =
        connector().charge(&channel, charge_request(&order_id("imp"), &other, 1000)).await.unwrap();
    assert!(
        matches!(outcome, ChargeOutcome::Declined { ref message, .. } if message.contains("[14]"))
    );
}

#[tokio::test]
async fn full_refund_and_refund_refusals() {
    let fake = fake().await;
    let channel = channel(&fake, BILL_MID);
    let key = fake.issue_billing_key(BILL_MID, "4111111111111111");
    let ChargeOutcome::Approved(approval) =
        connector().charge(&channel, charge_request(&order_id("imp"), &key, 5000)).await.unwrap()
    else {
        panic!()
    };
    let outcome = connector().cancel(&channel, cancel_request(&approval.pg_tid, 5000, 5000)).await;
    let CancelOutcome::Cancelled { pg_tid, receipt_url, .. } = outcome.unwrap() else { panic!() };
    // A full refund is known by the original tid.
    assert_eq!(pg_tid, approval.pg_tid);
    assert!(receipt_url.unwrap().contains(&approval.pg_tid));
    assert_eq!(fake.remaining(&approval.pg_tid), Some(0));
    // Nothing left: KG Inicis's "기 취소 거래".
    let again = connector().cancel(&channel, cancel_request(&approval.pg_tid, 5000, 5000)).await;
    assert!(
        matches!(again.unwrap(), CancelOutcome::Refused { ref code, ref message } if code == "01" && message == "기 취소 거래")
    );
    // An unknown tid.
    let unknown = connector().cancel(&channel, cancel_request("StdpayCARDnope", 100, 100)).await;
    assert!(
        matches!(unknown, Ok(CancelOutcome::Refused { .. }) | Err(ConnectorError::NotSent(_))),
        "{unknown:?}"
    );
}

#[tokio::test]
async fn partial_then_full_refund_with_confirm_price_checked() {
    let fake = fake().await;
    let channel = channel(&fake, BILL_MID);
    let key = fake.issue_billing_key(BILL_MID, "4111111111111111");
    let ChargeOutcome::Approved(approval) =
        connector().charge(&channel, charge_request(&order_id("imp"), &key, 10000)).await.unwrap()
    else {
        panic!()
    };
    let tid = approval.pg_tid;
    let first = connector().cancel(&channel, cancel_request(&tid, 3000, 10000)).await.unwrap();
    let CancelOutcome::Cancelled { pg_tid: first_tid, .. } = first else { panic!("{first:?}") };
    assert_ne!(first_tid, tid, "a partial cancel has its own tid");
    assert_eq!(fake.remaining(&tid), Some(7000));
    // A balance the PG does not share: confirmPrice is wrong and the PG refuses it.
    let wrong = connector().cancel(&channel, cancel_request(&tid, 1000, 9000)).await.unwrap();
    assert!(
        matches!(wrong, CancelOutcome::Refused { ref message, .. } if message.contains("confirmPrice")),
        "{wrong:?}"
    );
    assert_eq!(fake.remaining(&tid), Some(7000));
    // More than what remains.
    let too_much = connector().cancel(&channel, cancel_request(&tid, 8000, 8000)).await.unwrap();
    assert!(matches!(too_much, CancelOutcome::Refused { .. }));
    // The rest: a PartialRefund to confirmPrice 0 (a Refund is refused after a partial one).
    let rest = connector().cancel(&channel, cancel_request(&tid, 7000, 7000)).await.unwrap();
    assert!(matches!(rest, CancelOutcome::Cancelled { .. }), "{rest:?}");
    assert_eq!(fake.remaining(&tid), Some(0));
    let cancels: i64 = fake.ledger().iter().filter(|e| e.kind == "cancel").map(|e| e.amount).sum();
    assert_eq!(cancels, 10000);
}

#[tokio::test]
async fn a_tampered_hash_is_refused_and_nothing_is_charged() {
    let fake = fake().await;
    let key = fake.issue_billing_key(BILL_MID, "4111111111111111");
    // The connector with a wrong INIAPI key: KG Inicis's hash check fails.
    let mut wrong = channel(&fake, BILL_MID);
    wrong.secrets.insert("iniapi_key".to_owned(), "AAAAAAAAAAAAAAAA".to_owned());
    let outcome =
        connector().charge(&wrong, charge_request(&order_id("imp"), &key, 1000)).await.unwrap();
    assert!(
        matches!(outcome, ChargeOutcome::Declined { ref code, .. } if code == "01"),
        "{outcome:?}"
    );
    // A correct request whose price is changed after hashing.
    let ts = "20240101120000";
    let moid = order_id("imp");
    let hash = iniapi::hash_data(
        "rKnPljRn5m6J9Mzz",
        &["Billing", "Card", ts, "127.0.0.1", BILL_MID, &moid, "1000", &key],
    );
    let url = format!("{}/api/v1/billing", fake.base_url());
    let mut fields = vec![
        ("type", "Billing"),
        ("paymethod", "Card"),
        ("timestamp", ts),
        ("clientIp", "127.0.0.1"),
        ("mid", BILL_MID),
        ("url", "http://localhost"),
        ("moid", &moid),
        ("goodName", "x"),
        ("buyerName", "x"),
        ("buyerEmail", "x@x"),
        ("buyerTel", "0"),
        ("price", "100000"),
        ("billKey", &key),
        ("hashData", &hash),
    ];
    let answer = post_raw(&url, &fields).await;
    assert_eq!(answer["resultCode"], "01");
    // With the right price it passes, so the refusal was the hash; an empty buyer is ER0102.
    fields[11].1 = "1000";
    fields[8].1 = "";
    let answer = post_raw(&url, &fields).await;
    assert_eq!(answer["resultCode"], "ER0102", "{answer}");
    fields[8].1 = "x";
    let answer = post_raw(&url, &fields).await;
    assert_eq!(answer["resultCode"], "00", "{answer}");
    assert_eq!(kinds(&fake).get("approval"), Some(&1));
}

#[tokio::test]
async fn keyed_operations_are_refused_without_the_contract() {
    let fake = fake().await;
    let channel = channel(&fake, BILL_MID);
    assert!(!channel.keyed_billing);
    let issue = connector()
        .issue_billing_key(
            &channel,
            IssueKeyRequest { card: test_card("1111"), customer_uid: "c1".to_owned() },
        )
        .await;
    let Err(ConnectorError::Unsupported(message)) = issue else { panic!("{issue:?}") };
    assert!(message.contains("/subscribe/payments/again"), "{message}");
    let mut request = charge_request(&order_id("imp"), "", 1000);
    request.source = PaymentSource::Keyed(test_card("1111"));
    let charge = connector().charge(&channel, request).await;
    assert!(matches!(charge, Err(ConnectorError::Unsupported(_))));
    assert_eq!(fake.calls("/api/v1/billing") + fake.calls("/api/v1/formpay"), 0);
    // Deleting a key is local: no call either.
    connector().delete_billing_key(&channel, "any").await.unwrap();
    assert!(fake.ledger().is_empty());
}

#[tokio::test]
async fn keyed_operations_with_the_contract() {
    let fake = fake().await;
    let mut channel = channel(&fake, BILL_MID);
    channel.keyed_billing = true;
    let issued = connector()
        .issue_billing_key(
            &channel,
            IssueKeyRequest { card: test_card("1111"), customer_uid: "c1".to_owned() },
        )
        .await
        .unwrap();
    assert_eq!(issued.card.card_number, "411111*********1");
    assert_eq!(issued.billing_key.len(), 40);
    let outcome = connector()
        .charge(&channel, charge_request(&order_id("imp"), &issued.billing_key, 2500))
        .await
        .unwrap();
    assert!(matches!(outcome, ChargeOutcome::Approved(ref a) if a.amount == 2500));
    // Card 0005 fails authentication: no key.
    let refused = connector()
        .issue_billing_key(
            &channel,
            IssueKeyRequest { card: test_card("0005"), customer_uid: "c2".to_owned() },
        )
        .await;
    assert!(
        matches!(refused, Err(ConnectorError::CardRejected { ref message, .. }) if message.contains("[55]"))
    );
    // A one-time keyed charge.
    let mut request = charge_request(&order_id("imp"), "", 1200);
    request.source = PaymentSource::Keyed(test_card("1111"));
    let outcome = connector().charge(&channel, request).await.unwrap();
    assert!(matches!(outcome, ChargeOutcome::Approved(ref a) if a.amount == 1200), "{outcome:?}");
    let mut request = charge_request(&order_id("imp"), "", 1200);
    request.source = PaymentSource::Keyed(test_card("0002"));
    let outcome = connector().charge(&channel, request).await.unwrap();
    assert!(
        matches!(outcome, ChargeOutcome::Declined { ref message, .. } if message.contains("[51]"))
    );
    // A wrong IV: the [ENC] fields do not decrypt at the PG.
    channel.secrets.insert("iniapi_iv".to_owned(), "0000000000000000".to_owned());
    let refused = connector()
        .issue_billing_key(
            &channel,
            IssueKeyRequest { card: test_card("1111"), customer_uid: "c3".to_owned() },
        )
        .await;
    assert!(
        matches!(refused, Err(ConnectorError::CardRejected { ref code, .. }) if code == "01"),
        "{refused:?}"
    );
}

#[tokio::test]
async fn a_timeout_after_commit_is_unknown_and_settled_by_inquiry() {
    let fake = fake().await;
    let channel = channel(&fake, BILL_MID);
    let key = fake.issue_billing_key(BILL_MID, "4111111111111111");
    let impatient = connector_with_timeout(Duration::from_millis(500));
    fake.set_faults(Faults { timeout_after_commit: true, ..Faults::default() });
    let order = order_id("imp");
    let outcome = impatient.charge(&channel, charge_request(&order, &key, 4000)).await;
    assert!(matches!(outcome, Err(ConnectorError::Unknown(_))), "{outcome:?}");
    fake.set_faults(Faults::default());
    let Inquiry::Approved(approval) = connector().inquire(&channel, &order).await.unwrap() else {
        panic!("the PG committed the charge")
    };
    assert_eq!(approval.amount, 4000);
    assert_eq!(fake.remaining(&approval.pg_tid), Some(4000));
    // Card 0009 loses its answer the same way.
    let lost_key = fake.issue_billing_key(BILL_MID, "4111111111110009");
    let lost_order = order_id("imp");
    let outcome = impatient.charge(&channel, charge_request(&lost_order, &lost_key, 900)).await;
    assert!(matches!(outcome, Err(ConnectorError::Unknown(_))));
    assert!(
        matches!(connector().inquire(&channel, &lost_order).await.unwrap(), Inquiry::Approved(ref a) if a.amount == 900)
    );
    // An order the PG never saw.
    assert_eq!(connector().inquire(&channel, "imp_never").await.unwrap(), Inquiry::NotFound);

    // A cancel whose answer is lost: found again by its cancel id.
    fake.set_faults(Faults { timeout_after_commit: true, ..Faults::default() });
    let request = cancel_request(&approval.pg_tid, 1500, 4000);
    let cancel_id = request.cancel_id.clone();
    let outcome = impatient.cancel(&channel, request).await;
    assert!(matches!(outcome, Err(ConnectorError::Unknown(_))), "{outcome:?}");
    fake.set_faults(Faults::default());
    let found = connector().inquire_cancel(&channel, &approval.pg_tid, &cancel_id).await.unwrap();
    let CancelInquiry::Cancelled { amount, pg_tid, .. } = found else { panic!("{found:?}") };
    assert_eq!(amount, 1500);
    assert_ne!(pg_tid, approval.pg_tid);
    let other = connector().inquire_cancel(&channel, &approval.pg_tid, "cancel_other").await;
    assert_eq!(other.unwrap(), CancelInquiry::NotFound);
}

#[tokio::test]
async fn missing_secrets_and_an_unreachable_pg_send_nothing() {
    let fake = fake().await;
    let mut channel = channel(&fake, BILL_MID);
    channel.secrets.remove("iniapi_key");
    let outcome = connector().charge(&channel, charge_request("imp_x", "k", 1000)).await;
    assert!(matches!(outcome, Err(ConnectorError::Unsupported(ref m)) if m.contains("iniapi_key")));
    let mut closed = common::channel(&fake, BILL_MID);
    // A port nothing listens on: the connection is refused, so nothing was sent.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    closed.endpoint = Some(format!("http://127.0.0.1:{port}"));
    let outcome = connector().charge(&closed, charge_request("imp_y", "k", 1000)).await;
    assert!(matches!(outcome, Err(ConnectorError::NotSent(_))), "{outcome:?}");
}

#[tokio::test]
async fn a_tampered_inquiry_is_refused() {
    let fake = fake().await;
    let key = fake.issue_billing_key(BILL_MID, "4111111111111111");
    let order = order_id("imp");
    let channel = channel(&fake, BILL_MID);
    let outcome = connector().charge(&channel, charge_request(&order, &key, 1000)).await;
    assert!(matches!(outcome.unwrap(), ChargeOutcome::Approved(_)));
    let ts = "20240101120000";
    let hashed = format!("{{\"moid\":\"{order}\"}}");
    let hash = iniapi::hash_data_v2("rKnPljRn5m6J9Mzz", BILL_MID, "inquiry", ts, &hashed);
    let body = |data: &str| {
        format!(
            "{{\"mid\":\"{BILL_MID}\",\"type\":\"inquiry\",\"timestamp\":\"{ts}\",\"clientIp\":\"127.0.0.1\",\"data\":{data},\"hashData\":\"{hash}\"}}"
        )
    };
    let url = format!("{}/v2/pg/inquiry", fake.base_url());
    let post = |body: String| {
        let url = url.clone();
        async move {
            let answer = reqwest::Client::new()
                .post(url)
                .header("content-type", "application/json")
                .body(body)
                .send()
                .await
                .unwrap();
            answer.json::<serde_json::Value>().await.unwrap()
        }
    };
    let answer = post(body(&hashed)).await;
    assert_eq!(answer["resultCode"], "00", "{answer}");
    assert_eq!(answer["price"], "1000");
    // The same object with a space: not the text that was hashed.
    let answer = post(body(&format!("{{\"moid\": \"{order}\"}}"))).await;
    assert_eq!(answer["resultCode"], "01", "{answer}");
}

#[tokio::test]
async fn faults_are_switched_over_http() {
    let fake = fake().await;
    let http = reqwest::Client::new();
    let url = format!("{}/__fake/faults", fake.base_url());
    let set: Faults = http
        .post(&url)
        .json(&serde_json::json!({ "timeout_after_commit": true }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(set, Faults { timeout_after_commit: true, ..Faults::default() });
    let now: Faults = http.get(&url).send().await.unwrap().json().await.unwrap();
    assert_eq!(now, set);
    let channel = channel(&fake, BILL_MID);
    let key = fake.issue_billing_key(BILL_MID, "4111111111111111");
    let impatient = connector_with_timeout(Duration::from_millis(300));
    let outcome = impatient.charge(&channel, charge_request(&order_id("imp"), &key, 10)).await;
    assert!(matches!(outcome, Err(ConnectorError::Unknown(_))));
    let ledger: Vec<serde_json::Value> = http
        .get(format!("{}/__fake/ledger", fake.base_url()))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(ledger.iter().any(|e| e["kind"] == "approval" && e["amount"] == 10), "{ledger:?}");
}
