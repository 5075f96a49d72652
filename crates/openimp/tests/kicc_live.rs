//! A live KICC channel end to end (issue 11): `openimp serve` and `openimp fake-pg kicc` as
//! processes, a `kicc` channel with `--test-mode false --endpoint http://127.0.0.1:PORT
//! --kicc-secret-key ..`, and seed 001's flow over HTTP: the billing-key window (registration,
//! the fake's auth page, the return to openimp, the approval), charges again on the key,
//! partial and full cancels, a schedule, a key deletion that reaches KICC; keyed requests
//! refused with nothing sent; lost and unbelievable answers settled by the reconciler. The
//! fake's ledger is the oracle of what KICC charged.

#[macro_use]
mod common;
mod support;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::*;
use openimp_pg::test_support::form_of;
use serde_json::{json, Value};

dual_backend_tests!(
    key_window_again_cancels_schedule_and_deletion_reach_kicc,
    mobile_key_window_redirects_to_m_redirect_url,
    keyed_requests_are_refused_on_kicc_channels,
    lost_and_unbelievable_answers_are_settled_by_inquiry,
    payment_window_pays_and_net_cancels_another_amount,
);

const MALL: &str = "T5102001";
const SECRET: &str = "e2e-kicc-secret-key";
const ORIGIN: &str = "http://127.0.0.1:9";
const LANDING: &str = "https://yourservice.com/mobile/billing/landing";

/// `openimp fake-pg kicc` in a process of its own, stopped on drop.
struct FakeKicc {
    child: Child,
    endpoint: String,
    http: reqwest::Client,
}

impl FakeKicc {
    fn start() -> FakeKicc {
        let mut child = Command::new(BIN)
            .args(["fake-pg", "kicc", "--listen", "127.0.0.1:0", "--mall-id", MALL])
            .args(["--hang-secs", "10"])
            .env("OPENIMP_FAKE_KICC_SECRET_KEY", SECRET)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn openimp fake-pg kicc");
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("stdout"))
            .read_line(&mut line)
            .expect("the fake announces its address");
        let endpoint = line
            .trim()
            .strip_prefix("fake KICC listening on ")
            .unwrap_or_else(|| panic!("unexpected first line: {line:?}"))
            .to_owned();
        FakeKicc { child, endpoint, http: reqwest::Client::new() }
    }

    async fn ledger(&self) -> Value {
        let url = format!("{}/__fake/ledger", self.endpoint);
        self.http.get(url).send().await.unwrap().json().await.unwrap()
    }

    async fn fault(&self, faults: Value) {
        let url = format!("{}/__fake/faults", self.endpoint);
        let status = self.http.post(url).json(&faults).send().await.unwrap().status();
        assert_eq!(status, 200);
    }

    /// The fake's transactions of `amount` (payments, not key issues).
    async fn charges_of(&self, amount: i64) -> Vec<Value> {
        let ledger = self.ledger().await;
        ledger["transactions"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|t| t["payMethod"] == "11" && t["amount"] == amount)
            .cloned()
            .collect()
    }
}

impl Drop for FakeKicc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The merchant's KICC channel (T5102001) goes live on the fake, as the default channel.
fn go_live(server: &TestServer, m: &Merchant, fake: &FakeKicc) -> Value {
    let out = server.env.cli_json(&[
        "channel",
        "update",
        "--merchant",
        &m.imp_code,
        "--pg-provider",
        "kicc",
        "--mid",
        MALL,
        "--test-mode",
        "false",
        "--endpoint",
        &fake.endpoint,
        "--kicc-secret-key",
        SECRET,
        "--default",
    ]);
    assert_eq!(out["test_mode"], false, "{out}");
    out
}

/// Seed 001's request, as the SDK sends it.
fn seed001(merchant_uid: &str, customer_uid: &str) -> Value {
    json!({
        "pg": format!("kicc.{MALL}"), "pay_method": "card", "merchant_uid": merchant_uid,
        "name": "최초인증결제", "amount": 1000, "customer_uid": customer_uid,
        "buyer_email": "iamport@siot.do", "buyer_name": "아임포트", "buyer_tel": "02-1234-1234",
        "m_redirect_url": LANDING,
    })
}

fn no_redirects() -> reqwest::Client {
    reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap()
}

/// `POST /window/sessions` as the SDK sends it; the window's id.
async fn open_window(server: &TestServer, m: &Merchant, params: Value, mobile: bool) -> String {
    let resp = no_redirects()
        .post(server.url("/window/sessions"))
        .header("Origin", ORIGIN)
        .json(&json!({"imp_code": m.imp_code, "params": params, "mobile": mobile}))
        .send()
        .await
        .unwrap();
    let body = to_value(&resp.text().await.unwrap());
    assert_eq!(body["code"], 0, "open window: {body}");
    body["response"]["id"].as_str().unwrap().to_owned()
}

/// What the browser ends on after openimp's return page.
struct Landed {
    status: u16,
    location: Option<String>,
    body: String,
}

/// The browser leg of a window: openimp hands the browser to KICC's auth page (303), the
/// customer submits `card` there, and the page posts KICC's return to openimp.
async fn through_kicc(server: &TestServer, id: &str, card: &[(&str, &str)]) -> Landed {
    let http = no_redirects();
    let handoff = http.get(server.url(&format!("/window/{id}"))).send().await.unwrap();
    assert_eq!(handoff.status().as_u16(), 303, "openimp redirects to KICC");
    let auth_page = handoff.headers()["location"].to_str().unwrap().to_owned();
    let page = http.get(&auth_page).send().await.unwrap();
    assert_eq!(page.status().as_u16(), 200, "{auth_page}");
    assert!(page.text().await.unwrap().contains("card_number"));
    let returned = http.post(&auth_page).form(card).send().await.unwrap();
    assert_eq!(returned.status().as_u16(), 200);
    let (action, fields) = form_of(&returned.text().await.unwrap());
    assert!(action.starts_with(&server.base_url), "KICC returns to openimp: {action}");
    let landed = http.post(&action).form(&fields).send().await.unwrap();
    Landed {
        status: landed.status().as_u16(),
        location: landed.headers().get("location").map(|l| l.to_str().unwrap().to_owned()),
        body: landed.text().await.unwrap(),
    }
}

fn card(number: &str) -> Vec<(&str, &str)> {
    vec![
        ("card_number", number),
        ("expiry", "2031-12"),
        ("birth", BIRTH),
        ("pwd_2digit", PWD2),
        ("action", "pay"),
    ]
}

/// Issues `customer_uid`'s key in the PC window on the fake; the issue record.
async fn issue_in_window(
    server: &TestServer,
    m: &Merchant,
    client: &Client,
    customer_uid: &str,
    number: &str,
) -> Value {
    let merchant_uid = uid("order_monthly");
    let id = open_window(server, m, seed001(&merchant_uid, customer_uid), false).await;
    let landed = through_kicc(server, &id, &card(number)).await;
    assert_eq!(landed.status, 200, "{}", landed.body);
    let issued = assert_ok(&client.get(&format!("/payments/find/{merchant_uid}")).await, "issue");
    assert_eq!(issued["customer_uid_usage"], "issue", "{issued}");
    assert_eq!(issued["pg_provider"], "kicc", "{issued}");
    assert_eq!(issued["amount"], 0, "nothing is charged for a key: {issued}");
    issued
}

async fn key_window_again_cancels_schedule_and_deletion_reach_kicc(backend: Backend) {
    let fake = FakeKicc::start();
    let server = TestServer::start_with(&backend, support::fast_opts()).await;
    let (m, client) = server.merchant_client().await;
    go_live(&server, &m, &fake);
    let customer_uid = uid("kicc_cust");
    issue_in_window(&server, &m, &client, &customer_uid, CARD_OK).await;
    let key = assert_ok(&client.get(&format!("/subscribe/customers/{customer_uid}")).await, "key");
    assert_eq!(key["card_number"], "409202*********8", "{key}");
    let keys = fake.ledger().await["batchKeys"].clone();
    assert_eq!(keys.as_array().unwrap().len(), 1, "{keys}");

    // Again on the key: KICC's batch approval.
    let paid = client.again_paid(&customer_uid, &uid("again"), 3000).await;
    assert_eq!(paid["pg_provider"], "kicc", "{paid}");
    let charged = fake.charges_of(3000).await;
    assert_eq!(charged.len(), 1, "one batch approval at KICC");
    assert_eq!(paid["pg_tid"], charged[0]["pgCno"], "{paid}");

    // A partial, then a full cancel: KICC's revise 32 then 40.
    let imp_uid = paid["imp_uid"].as_str().unwrap();
    let partial = assert_ok(
        &client.cancel(&json!({"imp_uid": imp_uid, "amount": 1000, "reason": "부분 취소"})).await,
        "partial cancel",
    );
    assert_eq!(partial["cancel_amount"], 1000, "{partial}");
    let full = assert_ok(
        &client.cancel(&json!({"imp_uid": imp_uid, "reason": "전액 취소"})).await,
        "cancel",
    );
    assert_eq!(full["status"], "cancelled", "{full}");
    let ledger = fake.ledger().await;
    let txn = &fake.charges_of(3000).await[0];
    assert_eq!(txn["balance"], 0, "{ledger}");
    let codes: Vec<&Value> =
        ledger["cancels"].as_array().unwrap().iter().map(|c| &c["reviseTypeCode"]).collect();
    assert_eq!(codes, ["32", "40"], "{ledger}");

    // A schedule is charged through KICC too.
    let at =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() + 2;
    let scheduled_uid = uid("sched");
    assert_ok(
        &client
            .post_json(
                "/subscribe/payments/schedule",
                &json!({"customer_uid": customer_uid, "schedules": [
                    {"merchant_uid": scheduled_uid, "schedule_at": at, "amount": 4100, "name": "정기구독"}
                ]}),
            )
            .await,
        "schedule",
    );
    let executed = eventually(Duration::from_secs(30), "the schedule is charged", || async {
        let s = assert_ok(
            &client.get(&format!("/subscribe/payments/schedule/{scheduled_uid}")).await,
            "schedule",
        );
        (s["schedule_status"] == "executed").then_some(s)
    })
    .await;
    assert_eq!(executed["payment_status"], "paid", "{executed}");
    assert_eq!(fake.charges_of(4100).await.len(), 1);

    // Deleting the key removes it at KICC; a charge on it is then refused before any PG call.
    assert_ok(&client.delete(&format!("/subscribe/customers/{customer_uid}")).await, "delete");
    let removed = eventually(Duration::from_secs(10), "the key removed at KICC", || async {
        let keys = fake.ledger().await["batchKeys"].clone();
        (keys[0]["removed"] == true).then_some(keys)
    })
    .await;
    assert_eq!(removed.as_array().unwrap().len(), 1);
}

async fn mobile_key_window_redirects_to_m_redirect_url(backend: Backend) {
    let fake = FakeKicc::start();
    let server = TestServer::start(&backend).await;
    let (m, client) = server.merchant_client().await;
    go_live(&server, &m, &fake);
    let customer_uid = uid("kicc_mobile");
    let merchant_uid = uid("order_monthly");
    let id = open_window(&server, &m, seed001(&merchant_uid, &customer_uid), true).await;
    let landed = through_kicc(&server, &id, &card(CARD_OK)).await;
    let location = landed.location.unwrap_or_else(|| panic!("a redirect: {}", landed.body));
    assert!(location.starts_with(LANDING), "{location}");
    let url = reqwest::Url::parse(&location).unwrap();
    let query: std::collections::HashMap<_, _> = url.query_pairs().into_owned().collect();
    assert_eq!(query["imp_success"], "true", "{location}");
    assert_eq!(query["merchant_uid"], merchant_uid);
    let issued = assert_ok(&client.get(&format!("/payments/find/{merchant_uid}")).await, "issue");
    assert_eq!(issued["imp_uid"], query["imp_uid"].as_str());
    assert_eq!(issued["channel"], "mobile", "{issued}");
    // The key works.
    let paid = client.again_paid(&customer_uid, &uid("again"), 1200).await;
    assert_eq!(paid["pg_provider"], "kicc");
    assert_eq!(fake.charges_of(1200).await.len(), 1);

    // A card that fails KICC's authentication comes back as a failure, nothing stored.
    let failing_uid = uid("order_monthly");
    let failing_customer = uid("kicc_fail");
    let id = open_window(&server, &m, seed001(&failing_uid, &failing_customer), true).await;
    let landed = through_kicc(&server, &id, &card(&common::card("0005"))).await;
    let location = landed.location.unwrap_or_else(|| panic!("a redirect: {}", landed.body));
    assert!(location.contains("imp_success=false"), "{location}");
    let (_, missing) = client.get(&format!("/subscribe/customers/{failing_customer}")).await;
    assert_ne!(missing["code"], 0, "no key: {missing}");

    // A key whose card KICC declines (0002): the charge fails with KICC's code and message.
    let poor = uid("kicc_poor");
    issue_in_window(&server, &m, &client, &poor, &common::card("0002")).await;
    let declined = assert_ok(&client.again(&poor, &uid("again"), 1300).await, "declined again");
    assert_eq!(declined["status"], "failed", "{declined}");
    assert!(declined["fail_reason"].as_str().unwrap().contains("CD51"), "{declined}");
    assert!(fake.charges_of(1300).await.is_empty(), "nothing charged at KICC");
}

async fn keyed_requests_are_refused_on_kicc_channels(backend: Backend) {
    let fake = FakeKicc::start();
    let server = TestServer::start(&backend).await;
    let (m, client) = server.merchant_client().await;
    // In test mode first (the sandbox refuses what KICC cannot do), then live.
    for live in [false, true] {
        if live {
            go_live(&server, &m, &fake);
        }
        let issue = client
            .post_json(
                &format!("/subscribe/customers/{}", uid("keyed")),
                &json!({"card_number": CARD_OK, "expiry": EXPIRY, "birth": BIRTH,
                    "pwd_2digit": PWD2, "pg": "kicc"}),
            )
            .await;
        assert_failure(&issue, "keyed issue on kicc");
        assert!(issue.1["message"].as_str().unwrap().contains("결제창"), "{issue:?}");
        let onetime = client
            .post_json(
                "/subscribe/payments/onetime",
                &json!({"merchant_uid": uid("keyed"), "amount": 1000, "card_number": CARD_OK,
                    "expiry": EXPIRY, "birth": BIRTH, "pwd_2digit": PWD2, "pg": "kicc"}),
            )
            .await;
        assert_failure(&onetime, "keyed onetime on kicc");
    }
    assert!(server.ledger().is_empty(), "nothing reached the sandbox");
    let ledger = fake.ledger().await;
    assert!(ledger["transactions"].as_array().unwrap().is_empty(), "nothing reached KICC");
}

async fn lost_and_unbelievable_answers_are_settled_by_inquiry(backend: Backend) {
    let fake = FakeKicc::start();
    let opts = ServerOpts {
        reconcile_interval_secs: Some(1),
        reconcile_after_secs: Some(1),
        extra_args: vec!["--pg-timeout-secs".to_owned(), "2".to_owned()],
        ..ServerOpts::default()
    };
    let server = TestServer::start_with(&backend, opts).await;
    let (m, client) = server.merchant_client().await;
    go_live(&server, &m, &fake);
    let customer_uid = uid("kicc_lost");
    issue_in_window(&server, &m, &client, &customer_uid, CARD_OK).await;

    // KICC charges, but its answer never comes: ready, then paid by the reconciler.
    fake.fault(json!({"timeout_after_commit": 1})).await;
    let lost_uid = uid("lost");
    let ready = assert_ok(&client.again(&customer_uid, &lost_uid, 2200).await, "again");
    assert_eq!(ready["status"], "ready", "{ready}");
    let settled = eventually(Duration::from_secs(30), "the lost charge settled", || async {
        let p = assert_ok(&client.get(&format!("/payments/find/{lost_uid}")).await, "find");
        (p["status"] != "ready").then_some(p)
    })
    .await;
    assert_eq!(settled["status"], "paid", "{settled}");
    assert_eq!(settled["pg_tid"], fake.charges_of(2200).await[0]["pgCno"]);

    // An answer whose msgAuthValue is wrong is not believed: KICC's approval is cancelled and
    // the payment ends failed.
    fake.fault(json!({"wrong_msg_auth": 1})).await;
    let forged_uid = uid("forged");
    let ready = assert_ok(&client.again(&customer_uid, &forged_uid, 3300).await, "again");
    assert_eq!(ready["status"], "ready", "{ready}");
    let settled = eventually(Duration::from_secs(30), "the forged answer settled", || async {
        let p = assert_ok(&client.get(&format!("/payments/find/{forged_uid}")).await, "find");
        (p["status"] != "ready").then_some(p)
    })
    .await;
    assert_eq!(settled["status"], "failed", "{settled}");
    let charged = fake.charges_of(3300).await;
    assert_eq!(charged.len(), 1);
    assert_eq!(charged[0]["balance"], 0, "cancelled at KICC");
}

async fn payment_window_pays_and_net_cancels_another_amount(backend: Backend) {
    let fake = FakeKicc::start();
    let server = TestServer::start(&backend).await;
    let (m, client) = server.merchant_client().await;
    go_live(&server, &m, &fake);
    let payment = |merchant_uid: &str| {
        json!({"pg": "kicc", "pay_method": "card", "merchant_uid": merchant_uid,
            "name": "일반결제", "amount": 5100, "buyer_tel": "010-1234-5678"})
    };

    // A card payment in KICC's window.
    let paid_uid = uid("kicc_pay");
    let id = open_window(&server, &m, payment(&paid_uid), false).await;
    let landed = through_kicc(&server, &id, &card(CARD_OK)).await;
    assert_eq!(landed.status, 200, "{}", landed.body);
    let paid = assert_ok(&client.get(&format!("/payments/find/{paid_uid}")).await, "paid");
    assert_eq!(paid["status"], "paid", "{paid}");
    assert_eq!(paid["amount"], 5100, "{paid}");
    let charged = fake.charges_of(5100).await;
    assert_eq!(charged.len(), 1);
    assert_eq!(paid["pg_tid"], charged[0]["pgCno"], "{paid}");

    // Card 0013: KICC approves 1 KRW less; openimp net-cancels it and records a failure.
    let short_uid = uid("kicc_short");
    let id = open_window(&server, &m, payment(&short_uid), false).await;
    through_kicc(&server, &id, &card(&common::card("0013"))).await;
    let failed = assert_ok(&client.get(&format!("/payments/find/{short_uid}")).await, "short");
    assert_eq!(failed["status"], "failed", "{failed}");
    let short = fake.charges_of(5099).await;
    assert_eq!(short.len(), 1, "KICC approved 5099 once");
    assert_eq!(short[0]["balance"], 0, "and openimp cancelled it: {short:?}");

    // The customer closes KICC's window: nothing approved, the payment is not paid.
    let closed_uid = uid("kicc_closed");
    let id = open_window(&server, &m, payment(&closed_uid), false).await;
    through_kicc(&server, &id, &[("action", "cancel")]).await;
    let (_, found) = client.get(&format!("/payments/find/{closed_uid}")).await;
    assert_ne!(found["response"]["status"], "paid", "{found}");
    assert_eq!(fake.ledger().await["transactions"].as_array().unwrap().len(), 2);
}
