//! The KICC connector against the fake KICC over real HTTP on loopback: every operation, the
//! browser leg driven through the fake's auth page with reqwest, and the failures that matter
//! for money (a tampered HMAC each way, a revise beyond the balance, answers lost after
//! commit and settled by inquiry).

use std::collections::BTreeMap;
use std::time::Duration;

use openimp_kicc::fake::{self, FakeConfig, FakeKicc, Faults};
use openimp_kicc::{protocol, KiccConnector};
use openimp_pg::test_support::form_of;
use openimp_pg::window::{Handoff, WindowOrder, WindowPurpose, WindowResult, WindowReturn};
use openimp_pg::{
    CancelInquiry, CancelOutcome, CancelRequest, ChannelContext, ChargeOutcome, ChargeRequest,
    Connector, ConnectorError, Inquiry, IssueKeyRequest, PaymentSource,
};
use serde_json::Value;

const MALL: &str = "T5102001";
const SECRET: &str = "fake-kicc-secret-key-0001";
const GOOD_CARD: &str = "4092023012345678";

struct Kicc {
    fake: FakeKicc,
    channel: ChannelContext,
    /// KICC's own 30 s timeout: never reached by a call the fake answers.
    connector: KiccConnector,
    /// A connector that gives up after 1 s, for the fake's answers held back after commit.
    impatient: KiccConnector,
}

async fn start() -> Kicc {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let mut config = FakeConfig::single(MALL, SECRET);
    config.hang = Duration::from_secs(10);
    let fake = fake::spawn(listener, config).unwrap();
    let channel = channel_for(&fake.endpoint(), Some(SECRET));
    Kicc {
        fake,
        channel,
        connector: KiccConnector::new(),
        impatient: KiccConnector::with_timeout(Duration::from_secs(1)),
    }
}

fn channel_for(endpoint: &str, secret: Option<&str>) -> ChannelContext {
    let mut secrets = BTreeMap::new();
    if let Some(secret) = secret {
        secrets.insert(protocol::SECRET_KEY_NAME.to_owned(), secret.to_owned());
    }
    ChannelContext {
        pg_provider: "kicc".to_owned(),
        mid: MALL.to_owned(),
        test_mode: false,
        endpoint: Some(endpoint.to_owned()),
        keyed_billing: false,
        secrets,
    }
}

fn order_id() -> String {
    format!("imps_{}", openimp_core::ids::random_hex(6))
}

fn window_order(purpose: WindowPurpose, amount: i64) -> WindowOrder {
    WindowOrder {
        order_id: format!("imp_{}", openimp_core::ids::random_hex(6)),
        merchant_uid: format!("order_{}", openimp_core::ids::random_hex(4)),
        purpose,
        pay_method: "card".to_owned(),
        amount,
        tax_free: 0,
        name: Some("정기구독 <월간>".to_owned()),
        buyer_name: Some("홍길동".to_owned()),
        buyer_email: Some("buyer@example.com".to_owned()),
        buyer_tel: Some("010-1234-5678".to_owned()),
        mobile: false,
        return_url: "http://127.0.0.1:9/window/return".to_owned(),
        close_url: "http://127.0.0.1:9/window/close".to_owned(),
    }
}

fn charge_request(key: &str, amount: i64) -> ChargeRequest {
    ChargeRequest {
        order_id: order_id(),
        source: PaymentSource::BillingKey(key.to_owned()),
        amount,
        tax_free: 0,
        vat_amount: amount / 11,
        card_quota: 0,
        name: Some("월 구독료".to_owned()),
        buyer_name: Some("홍길동".to_owned()),
        buyer_email: None,
        buyer_tel: None,
    }
}

fn cancel_request(pg_tid: &str, amount: i64, balance_before: i64) -> CancelRequest {
    CancelRequest {
        order_id: "imps_x".to_owned(),
        cancel_id: format!("cancel_{}", openimp_core::ids::random_hex(10)),
        pg_tid: pg_tid.to_owned(),
        amount,
        tax_free: 0,
        vat_amount: None,
        balance_before,
        reason: "고객 요청".to_owned(),
    }
}

/// The browser leg: opens the auth page KICC's registration pointed to, submits `form`, and
/// reads the return the page posts to openimp.
async fn browse(url: &str, form: &[(&str, &str)]) -> (String, Vec<(String, String)>) {
    let http = reqwest::Client::new();
    let page = http.get(url).send().await.unwrap();
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    assert!(html.contains("card_number"), "{html}");
    let answer = http.post(url).form(form).send().await.unwrap();
    assert_eq!(answer.status(), 200);
    form_of(&answer.text().await.unwrap())
}

fn card_form(number: &str) -> Vec<(&str, &str)> {
    vec![
        ("card_number", number),
        ("expiry", "2031-12"),
        ("birth", "820213"),
        ("pwd_2digit", "12"),
        ("action", "pay"),
    ]
}

/// Opens a window of `purpose`, pays it with `number` on the auth page, and returns what the
/// connector makes of KICC's return.
async fn run_window(
    kicc: &Kicc,
    connector: &KiccConnector,
    purpose: WindowPurpose,
    amount: i64,
    number: &str,
) -> (Result<WindowResult, ConnectorError>, WindowReturn) {
    let order = window_order(purpose, amount);
    let start = kicc.connector.begin_window(&kicc.channel, &order).await.unwrap();
    let Handoff::Redirect { url } = &start.handoff else { panic!("{:?}", start.handoff) };
    assert!(url.starts_with(&kicc.fake.endpoint()), "{url}");
    let (action, fields) = browse(url, &card_form(number)).await;
    assert_eq!(action, order.return_url);
    let ret = WindowReturn { fields, state: start.state, order };
    (connector.complete_window(&kicc.channel, ret.clone()).await, ret)
}

async fn issue_key(kicc: &Kicc, number: &str) -> String {
    match run_window(kicc, &kicc.connector, WindowPurpose::BillingKey, 0, number).await.0 {
        Ok(WindowResult::KeyIssued { key, pg_tid, .. }) => {
            assert!(pg_tid.is_some());
            assert_eq!(key.card.card_number, openimp_core::card::mask_card_number(number));
            key.billing_key
        }
        other => panic!("{other:?}"),
    }
}

fn transaction<'a>(ledger: &'a Value, pg_cno: &str) -> &'a Value {
    ledger["transactions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["pgCno"] == pg_cno)
        .unwrap_or_else(|| panic!("{pg_cno} not in {ledger}"))
}

async fn approved(kicc: &Kicc, request: ChargeRequest) -> openimp_pg::Approval {
    match kicc.connector.charge(&kicc.channel, request).await {
        Ok(ChargeOutcome::Approved(approval)) => approval,
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn key_window_then_charge_partial_and_full_cancel_and_inquiries() {
    let kicc = start().await;
    let key = issue_key(&kicc, GOOD_CARD).await;
    let request = charge_request(&key, 1000);
    let order = request.order_id.clone();
    let approval = approved(&kicc, request).await;
    assert_eq!(approval.amount, 1000);
    assert_eq!(approval.card.card_number, "409202*********8");
    assert_eq!(approval.card.card_type, Some(0));
    assert_eq!(approval.apply_num.len(), 8);

    let partial = cancel_request(&approval.pg_tid, 300, 1000);
    let partial_id = partial.cancel_id.clone();
    let CancelOutcome::Cancelled { pg_tid: partial_tid, .. } =
        kicc.connector.cancel(&kicc.channel, partial).await.unwrap()
    else {
        panic!("partial cancel refused")
    };
    assert_eq!(transaction(&kicc.fake.ledger(), &approval.pg_tid)["balance"], 700);

    let full = cancel_request(&approval.pg_tid, 700, 700);
    let outcome = kicc.connector.cancel(&kicc.channel, full).await.unwrap();
    assert!(matches!(outcome, CancelOutcome::Cancelled { .. }), "{outcome:?}");
    let ledger = kicc.fake.ledger();
    assert_eq!(transaction(&ledger, &approval.pg_tid)["balance"], 0);
    let codes: Vec<&Value> =
        ledger["cancels"].as_array().unwrap().iter().map(|c| &c["reviseTypeCode"]).collect();
    assert_eq!(codes, ["32", "40"]);

    // The cancel inquiry finds the partial cancel by its id; the order inquiry sees an
    // approval cancelled in full (nothing charged).
    let found = kicc.connector.inquire_cancel(&kicc.channel, &approval.pg_tid, &partial_id).await;
    assert!(
        matches!(&found, Ok(CancelInquiry::Cancelled { pg_tid, amount: 300, .. }) if *pg_tid == partial_tid),
        "{found:?}"
    );
    let inquiry = kicc.connector.inquire(&kicc.channel, &order).await.unwrap();
    assert!(matches!(inquiry, Inquiry::Declined { ref code, .. } if code == "TS02"), "{inquiry:?}");
    let nothing = kicc.connector.inquire(&kicc.channel, "imps_000000000000").await.unwrap();
    assert_eq!(nothing, Inquiry::NotFound);
    let no_cancel = kicc.connector.inquire_cancel(&kicc.channel, &approval.pg_tid, "cancel_none");
    assert_eq!(no_cancel.await.unwrap(), CancelInquiry::NotFound);
}

#[tokio::test]
async fn a_revise_beyond_the_balance_is_refused_and_changes_nothing() {
    let kicc = start().await;
    let key = issue_key(&kicc, GOOD_CARD).await;
    let approval = approved(&kicc, charge_request(&key, 1000)).await;
    let first = kicc.connector.cancel(&kicc.channel, cancel_request(&approval.pg_tid, 800, 1000));
    assert!(matches!(first.await.unwrap(), CancelOutcome::Cancelled { .. }));
    // A stale balance: 500 of a claimed 1000, while 200 remain.
    let over = cancel_request(&approval.pg_tid, 500, 1000);
    let refused = kicc.connector.cancel(&kicc.channel, over).await.unwrap();
    assert!(
        matches!(&refused, CancelOutcome::Refused { code, message } if code == "C103" && message.contains("200")),
        "{refused:?}"
    );
    // More than the balance is never widened into a full cancel.
    let too_much = cancel_request(&approval.pg_tid, 1200, 200);
    let refused = kicc.connector.cancel(&kicc.channel, too_much).await.unwrap();
    assert!(matches!(&refused, CancelOutcome::Refused { code, .. } if code == "C103"));
    // A remainAmount that is not the balance left is refused as well.
    let wrong_remain = cancel_request(&approval.pg_tid, 100, 1000);
    let refused = kicc.connector.cancel(&kicc.channel, wrong_remain).await.unwrap();
    assert!(matches!(&refused, CancelOutcome::Refused { code, .. } if code == "C104"));
    let ledger = kicc.fake.ledger();
    assert_eq!(transaction(&ledger, &approval.pg_tid)["balance"], 200);
    assert_eq!(ledger["cancels"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn a_request_signed_with_another_key_is_refused() {
    let kicc = start().await;
    let key = issue_key(&kicc, GOOD_CARD).await;
    let approval = approved(&kicc, charge_request(&key, 1000)).await;
    let forged = channel_for(&kicc.fake.endpoint(), Some("not-the-secret-key"));
    let refused =
        kicc.connector.cancel(&forged, cancel_request(&approval.pg_tid, 1000, 1000)).await;
    assert!(
        matches!(&refused, Ok(CancelOutcome::Refused { code, .. }) if code == "A101"),
        "{refused:?}"
    );
    // The same by hand: a revise whose msgAuthValue does not cover its own fields.
    let body = serde_json::json!({
        "mallId": MALL, "shopTransactionId": "cancel_by_hand", "pgCno": approval.pg_tid,
        "reviseTypeCode": "40", "cancelReqDate": protocol::today_kst(),
        "msgAuthValue": protocol::revise_request_auth(SECRET, &approval.pg_tid, "another_id"),
    });
    let answer: Value = reqwest::Client::new()
        .post(format!("{}/api/trades/revise", kicc.fake.endpoint()))
        .json(&body)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(answer["resCd"], "A101", "{answer}");
    let ledger = kicc.fake.ledger();
    assert_eq!(transaction(&ledger, &approval.pg_tid)["balance"], 1000);
    assert!(ledger["cancels"].as_array().unwrap().is_empty());
}

#[tokio::test]
async fn a_wrong_mac_on_a_cancel_answer_is_unknown_and_settled_by_inquiry() {
    let kicc = start().await;
    let key = issue_key(&kicc, GOOD_CARD).await;
    let approval = approved(&kicc, charge_request(&key, 1000)).await;
    // Faults through the fake's control endpoint, as `openimp fake-pg kicc` is driven.
    let set: Faults = reqwest::Client::new()
        .post(format!("{}/__fake/faults", kicc.fake.endpoint()))
        .json(&serde_json::json!({"wrong_msg_auth": 1}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(set, Faults { wrong_msg_auth: 1, timeout_after_commit: 0 });
    let request = cancel_request(&approval.pg_tid, 400, 1000);
    let cancel_id = request.cancel_id.clone();
    let result = kicc.connector.cancel(&kicc.channel, request).await;
    assert!(matches!(result, Err(ConnectorError::Unknown(_))), "{result:?}");
    let settled = kicc.connector.inquire_cancel(&kicc.channel, &approval.pg_tid, &cancel_id).await;
    assert!(matches!(settled, Ok(CancelInquiry::Cancelled { amount: 400, .. })), "{settled:?}");
}

#[tokio::test]
async fn a_wrong_mac_on_a_charge_answer_cancels_the_approval_and_is_unknown() {
    let kicc = start().await;
    let key = issue_key(&kicc, GOOD_CARD).await;
    kicc.fake.set_faults(Faults { wrong_msg_auth: 1, ..Faults::default() });
    let request = charge_request(&key, 1500);
    let order = request.order_id.clone();
    let result = kicc.connector.charge(&kicc.channel, request).await;
    assert!(matches!(result, Err(ConnectorError::Unknown(_))), "{result:?}");
    // What the answer claimed was cancelled at KICC; the inquiry settles it as not charged.
    let ledger = kicc.fake.ledger();
    let charged: Vec<&Value> =
        ledger["transactions"].as_array().unwrap().iter().filter(|t| t["amount"] == 1500).collect();
    assert_eq!(charged.len(), 1);
    assert_eq!(charged[0]["balance"], 0);
    let inquiry = kicc.connector.inquire(&kicc.channel, &order).await.unwrap();
    assert!(matches!(inquiry, Inquiry::Declined { .. }), "{inquiry:?}");
}

#[tokio::test]
async fn a_charge_whose_answer_is_lost_after_commit_is_settled_by_inquiry() {
    let kicc = start().await;
    let key = issue_key(&kicc, GOOD_CARD).await;
    kicc.fake.set_faults(Faults { timeout_after_commit: 1, ..Faults::default() });
    let request = charge_request(&key, 2500);
    let order = request.order_id.clone();
    let result = kicc.impatient.charge(&kicc.channel, request).await;
    assert!(matches!(result, Err(ConnectorError::Unknown(_))), "{result:?}");
    let inquiry = kicc.connector.inquire(&kicc.channel, &order).await.unwrap();
    let Inquiry::Approved(approval) = inquiry else { panic!("{inquiry:?}") };
    assert_eq!(approval.amount, 2500);
    assert_eq!(transaction(&kicc.fake.ledger(), &approval.pg_tid)["balance"], 2500);

    // Test card 0009 loses every charge's answer the same way.
    let lost_key = issue_key(&kicc, "4092023012340009").await;
    let request = charge_request(&lost_key, 700);
    let order = request.order_id.clone();
    assert!(matches!(
        kicc.impatient.charge(&kicc.channel, request).await,
        Err(ConnectorError::Unknown(_))
    ));
    let inquiry = kicc.connector.inquire(&kicc.channel, &order).await.unwrap();
    assert!(matches!(inquiry, Inquiry::Approved(ref a) if a.amount == 700), "{inquiry:?}");
}

#[tokio::test]
async fn a_cancel_whose_answer_is_lost_is_found_by_its_id() {
    let kicc = start().await;
    let key = issue_key(&kicc, "4092023012340019").await;
    let approval = approved(&kicc, charge_request(&key, 900)).await;
    let request = cancel_request(&approval.pg_tid, 900, 900);
    let cancel_id = request.cancel_id.clone();
    let result = kicc.impatient.cancel(&kicc.channel, request).await;
    assert!(matches!(result, Err(ConnectorError::Unknown(_))), "{result:?}");
    let found = kicc.connector.inquire_cancel(&kicc.channel, &approval.pg_tid, &cancel_id).await;
    assert!(matches!(found, Ok(CancelInquiry::Cancelled { amount: 900, .. })), "{found:?}");
    // The same id is KICC's idempotency key: sent again, it is not a second cancel.
    let again = CancelRequest { cancel_id, ..cancel_request(&approval.pg_tid, 900, 900) };
    let result = kicc.connector.cancel(&kicc.channel, again).await;
    assert!(matches!(result, Err(ConnectorError::Unknown(_))), "{result:?}");
    assert_eq!(kicc.fake.ledger()["cancels"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn test_cards_decline_as_the_sandbox_does() {
    let kicc = start().await;
    for (number, code) in [
        ("4092023012340002", "CD51"),
        ("4092023012340003", "CD61"),
        ("4092023012340004", "CD41"),
        ("4092023012340341", "CD05"),
    ] {
        let key = issue_key(&kicc, number).await;
        let outcome = kicc.connector.charge(&kicc.channel, charge_request(&key, 1000)).await;
        assert!(
            matches!(&outcome, Ok(ChargeOutcome::Declined { code: c, message }) if c == code && message.starts_with(&format!("[{code}]"))),
            "{number}: {outcome:?}"
        );
    }
    // 0013: KICC approves 1 KRW less; the connector reports what KICC approved.
    let short = issue_key(&kicc, "4092023012340013").await;
    assert_eq!(approved(&kicc, charge_request(&short, 1000)).await.amount, 999);
    // 0005: authentication fails on the auth page; nothing to approve.
    let (result, _) =
        run_window(&kicc, &kicc.connector, WindowPurpose::BillingKey, 0, "4092023012340005").await;
    assert!(
        matches!(&result, Ok(WindowResult::Declined { code, .. }) if code == "CD55"),
        "{result:?}"
    );
    let ledger = kicc.fake.ledger();
    let approved_amounts: Vec<&Value> = ledger["transactions"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| t["payMethod"] == "11")
        .map(|t| &t["amount"])
        .collect();
    assert_eq!(approved_amounts, [999]);
}

#[tokio::test]
async fn a_payment_window_approves_once_and_net_cancels() {
    let kicc = start().await;
    let (result, ret) =
        run_window(&kicc, &kicc.connector, WindowPurpose::Payment, 4300, GOOD_CARD).await;
    let Ok(WindowResult::Paid { approval, undo }) = result else { panic!("{result:?}") };
    assert_eq!(approval.amount, 4300);
    // The same return again (a duplicate callback) approves nothing more.
    let again = kicc.connector.complete_window(&kicc.channel, ret).await;
    assert!(again.is_err() || matches!(again, Ok(WindowResult::Declined { .. })), "{again:?}");
    assert_eq!(kicc.fake.ledger()["transactions"].as_array().unwrap().len(), 1);
    kicc.connector.net_cancel(&kicc.channel, &undo).await.unwrap();
    assert_eq!(transaction(&kicc.fake.ledger(), &approval.pg_tid)["balance"], 0);
}

#[tokio::test]
async fn a_window_approval_that_cannot_be_confirmed_is_cancelled_at_kicc() {
    let kicc = start().await;
    // The approval's answer is lost: the connector finds it by retrieval and cancels it.
    kicc.fake.set_faults(Faults { timeout_after_commit: 1, ..Faults::default() });
    let (result, ret) =
        run_window(&kicc, &kicc.impatient, WindowPurpose::Payment, 5000, GOOD_CARD).await;
    assert!(matches!(result, Err(ConnectorError::Unknown(_))), "{result:?}");
    let ledger = kicc.fake.ledger();
    assert_eq!(ledger["transactions"][0]["amount"], 5000);
    assert_eq!(ledger["transactions"][0]["balance"], 0);
    let inquiry = kicc.connector.inquire(&kicc.channel, &ret.order.order_id).await.unwrap();
    assert!(matches!(inquiry, Inquiry::Declined { .. }), "{inquiry:?}");

    // A wrong msgAuthValue on a key issue: the key is removed at KICC.
    kicc.fake.set_faults(Faults { wrong_msg_auth: 1, ..Faults::default() });
    let (result, _) =
        run_window(&kicc, &kicc.connector, WindowPurpose::BillingKey, 0, GOOD_CARD).await;
    assert!(matches!(result, Err(ConnectorError::Unknown(_))), "{result:?}");
    let keys = kicc.fake.ledger()["batchKeys"].clone();
    assert_eq!(keys.as_array().unwrap().len(), 1);
    assert_eq!(keys[0]["removed"], true);
}

#[tokio::test]
async fn the_customer_closing_the_window_declines() {
    let kicc = start().await;
    let mut order = window_order(WindowPurpose::BillingKey, 0);
    order.mobile = true;
    let start = kicc.connector.begin_window(&kicc.channel, &order).await.unwrap();
    let Handoff::Redirect { url } = &start.handoff else { panic!() };
    let page = reqwest::get(url).await.unwrap().text().await.unwrap();
    assert!(page.contains("device-mobile") && page.contains("카드 등록"), "{page}");
    let (_, fields) = browse(url, &[("action", "cancel")]).await;
    let ret = WindowReturn { fields, state: start.state, order };
    let result = kicc.connector.complete_window(&kicc.channel, ret).await;
    assert!(matches!(&result, Ok(WindowResult::Declined { code, .. }) if code == "W002"));
    // The page is used up.
    let page = reqwest::get(url).await.unwrap();
    assert_eq!(page.status(), 404);
}

#[tokio::test]
async fn key_deletion_reaches_kicc() {
    let kicc = start().await;
    let key = issue_key(&kicc, GOOD_CARD).await;
    kicc.connector.delete_billing_key(&kicc.channel, &key).await.unwrap();
    let ledger = kicc.fake.ledger();
    assert_eq!(ledger["batchKeys"][0]["removed"], true);
    let refused = kicc.connector.charge(&kicc.channel, charge_request(&key, 1000)).await;
    assert!(
        matches!(&refused, Ok(ChargeOutcome::Declined { code, .. }) if code == "B102"),
        "{refused:?}"
    );
    // Deleting again is not an error: the key is gone either way.
    kicc.connector.delete_billing_key(&kicc.channel, &key).await.unwrap();
}

#[tokio::test]
async fn keyed_requests_and_missing_secrets_send_nothing() {
    // Nothing listens on port 9: a request that left would be NotSent, not Unsupported.
    let nowhere = channel_for("http://127.0.0.1:9", Some(SECRET));
    let connector = KiccConnector::new();
    let card = openimp_core::card::CardInput {
        number: GOOD_CARD.to_owned(),
        expiry_year: 2031,
        expiry_month: 12,
        birth: Some("820213".to_owned()),
        pwd_2digit: Some("12".to_owned()),
    };
    let issued = connector
        .issue_billing_key(
            &nowhere,
            IssueKeyRequest { card: card.clone(), customer_uid: "c1".into() },
        )
        .await;
    assert!(
        matches!(&issued, Err(ConnectorError::Unsupported(m)) if m.contains("KICC")),
        "{issued:?}"
    );
    let mut keyed = charge_request("unused", 1000);
    keyed.source = PaymentSource::Keyed(card);
    assert!(matches!(connector.charge(&nowhere, keyed).await, Err(ConnectorError::Unsupported(_))));
    let no_secret = channel_for("http://127.0.0.1:9", None);
    let result = connector.charge(&no_secret, charge_request("k", 1000)).await;
    assert!(
        matches!(&result, Err(ConnectorError::Unsupported(m)) if m.contains("kicc-secret-key"))
    );
    let window =
        connector.begin_window(&no_secret, &window_order(WindowPurpose::BillingKey, 0)).await;
    assert!(matches!(window, Err(ConnectorError::Unsupported(_))));
    // With a secret, a closed port is NotSent: nothing reached KICC.
    let unreachable = connector.charge(&nowhere, charge_request("k", 1000)).await;
    assert!(matches!(unreachable, Err(ConnectorError::NotSent(_))), "{unreachable:?}");
}

#[tokio::test]
async fn the_fake_refuses_what_kicc_refuses() {
    let kicc = start().await;
    let http = reqwest::Client::new();
    let post = |path: &str, body: Value| {
        let request = http.post(format!("{}{path}", kicc.fake.endpoint())).json(&body);
        async move { request.send().await.unwrap().json::<Value>().await.unwrap() }
    };
    let today = protocol::today_kst();
    // An amount sent as a string, an unknown mall, a date that is not today.
    let base = serde_json::json!({
        "mallId": MALL, "shopOrderNo": "imp_1", "amount": 1000, "payMethodTypeCode": "11",
        "currency": "00", "returnUrl": "http://127.0.0.1:9/r", "deviceTypeCode": "pc",
        "clientTypeCode": "00", "orderInfo": {"goodsName": "상품"},
    });
    assert_eq!(post("/api/ep9/trades/webpay", base.clone()).await["resCd"], "0000");
    let mut string_amount = base.clone();
    string_amount["amount"] = "1000".into();
    assert_eq!(post("/api/ep9/trades/webpay", string_amount).await["resCd"], "A102");
    let mut other_mall = base.clone();
    other_mall["mallId"] = "T0000000".into();
    assert_eq!(post("/api/ep9/trades/webpay", other_mall).await["resCd"], "M101");
    let mut bad_name = base.clone();
    bad_name["orderInfo"]["goodsName"] = "a|b".into();
    assert_eq!(post("/api/ep9/trades/webpay", bad_name).await["resCd"], "A102");
    let mut key_with_amount = base;
    key_with_amount["payMethodTypeCode"] = "81".into();
    key_with_amount["payMethodInfo"] = serde_json::json!({"billKeyMethodInfo": {"certType": "0"}});
    assert_eq!(post("/api/ep9/trades/webpay", key_with_amount).await["resCd"], "A104");
    let stale = serde_json::json!({
        "mallId": MALL, "shopTransactionId": "t1", "batchKey": "BK1", "removeReqDate": "20200101",
    });
    assert_eq!(post("/api/trades/removeBatchKey", stale).await["resCd"], "A103");
    let old = serde_json::json!({"mallId": MALL, "shopTransactionId": "t1", "transactionDate": "20200101"});
    assert_eq!(post("/api/trades/retrieveTransaction", old).await["resCd"], "R302");
    let unknown =
        serde_json::json!({"mallId": MALL, "shopTransactionId": "t1", "transactionDate": today});
    assert_eq!(post("/api/trades/retrieveTransaction", unknown).await["resCd"], "R301");
    // Not JSON.
    let form = http
        .post(format!("{}/api/trades/approval/batch", kicc.fake.endpoint()))
        .form(&[("mallId", MALL)])
        .send()
        .await
        .unwrap()
        .json::<Value>()
        .await
        .unwrap();
    assert_eq!(form["resCd"], "A102");
}

#[tokio::test]
async fn a_caller_that_gives_up_does_not_stop_the_cancel_of_a_lost_approval() {
    let kicc = start().await;
    kicc.fake.set_faults(Faults { timeout_after_commit: 1, ..Faults::default() });
    let order = window_order(WindowPurpose::Payment, 6100);
    let start = kicc.connector.begin_window(&kicc.channel, &order).await.unwrap();
    let Handoff::Redirect { url } = &start.handoff else { panic!("{:?}", start.handoff) };
    let (_, fields) = browse(url, &card_form(GOOD_CARD)).await;
    let ret = WindowReturn { fields, state: start.state, order };
    // The service stops waiting long before the connector's own timeout (1 s) passes.
    let gave_up = tokio::time::timeout(
        Duration::from_millis(100),
        kicc.impatient.complete_window(&kicc.channel, ret),
    )
    .await;
    assert!(gave_up.is_err(), "{gave_up:?}");
    // The approval KICC committed is still found and cancelled.
    for _ in 0..100 {
        let ledger = kicc.fake.ledger();
        if ledger["transactions"][0]["balance"] == 0 {
            assert_eq!(ledger["transactions"][0]["amount"], 6100);
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the lost approval was not cancelled: {}", kicc.fake.ledger());
}
