//! KG Inicis live channels end to end: a real openimp server and an `openimp fake-pg inicis`
//! process, the merchant's channel switched to test mode off with `--endpoint` on the fake
//! (seed 002's console steps as `openimp channel update`). REST billing keys, charges on them
//! (seed 002 step 3), declines as i'mport shows them, partial and full cancels, the keyed
//! refusal without the contract, and a lost answer settled by the reconciler's inquiry. The
//! fake's ledger is the oracle for what KG Inicis charged.

#[macro_use]
mod common;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::*;
use serde_json::{json, Value};

dual_backend_tests!(
    rest_charges_and_cancels_on_a_live_channel,
    declines_reach_the_merchant_as_fail_reason,
    keyed_operations_are_refused_without_the_contract,
    a_lost_answer_is_settled_by_the_reconciler,
    the_inicis_provider_name_is_served_too,
);

const SIGN_KEY: &str = "SU5JTElURV9UUklQTEVERVNfS0VZU1RS";

/// `openimp fake-pg inicis` on a random port, stopped on drop.
struct FakeInicis {
    child: Child,
    base_url: String,
}

impl FakeInicis {
    fn start() -> FakeInicis {
        let mut child = Command::new(BIN)
            .args(["fake-pg", "inicis", "--listen", "127.0.0.1:0", "--hang-secs", "5"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn openimp fake-pg inicis");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
        let base_url = line
            .trim()
            .strip_prefix("fake KG Inicis listening on ")
            .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
            .to_owned();
        FakeInicis { child, base_url }
    }

    async fn ledger(&self) -> Vec<Value> {
        let url = format!("{}/__fake/ledger", self.base_url);
        reqwest::get(url).await.unwrap().json().await.unwrap()
    }

    /// Amounts of the fake's ledger entries of `kind`.
    async fn amounts(&self, kind: &str) -> Vec<i64> {
        let ledger = self.ledger().await;
        ledger.iter().filter(|e| e["kind"] == kind).map(|e| e["amount"].as_i64().unwrap()).collect()
    }
}

impl Drop for FakeInicis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Seed 002's steps: the merchant's INIBillTst channel, test mode off, on the fake.
fn go_live(server: &TestServer, merchant: &Merchant, fake: &FakeInicis, keyed: bool) -> Value {
    server.env.cli_json(&[
        "channel",
        "update",
        "--merchant",
        &merchant.imp_code,
        "--pg-provider",
        "html5_inicis",
        "--mid",
        "INIBillTst",
        "--test-mode",
        "false",
        "--endpoint",
        &fake.base_url,
        "--keyed-billing",
        if keyed { "true" } else { "false" },
        "--sign-key",
        SIGN_KEY,
        "--merchant-key",
        "b09LVzhuTGZVaEY1WmJoQnZzdXpRdz09",
        "--iniapi-key",
        "rKnPljRn5m6J9Mzz",
        "--iniapi-iv",
        "W2KLNKra6Wxc1P==",
    ])
}

async fn live_merchant(server: &TestServer, fake: &FakeInicis, keyed: bool) -> Client {
    let (merchant, client) = server.merchant_client().await;
    let channel = go_live(server, &merchant, fake, keyed);
    assert_eq!(channel["test_mode"], false, "{channel}");
    assert!(!channel.to_string().contains("rKnPljRn5m6J9Mzz"), "secrets are masked: {channel}");
    client
}

async fn rest_charges_and_cancels_on_a_live_channel(backend: Backend) {
    let server = TestServer::start(&backend).await;
    let fake = FakeInicis::start();
    let client = live_merchant(&server, &fake, true).await;
    let customer_uid = uid("cust");
    let key = client.issue_key_ok(&customer_uid, CARD_OK).await;
    assert_masked(&key["card_number"], CARD_OK, "live key");
    let paid = client.again_paid(&customer_uid, &uid("order"), 3000).await;
    assert_eq!(paid["pg_provider"], "html5_inicis");
    let tid = paid["pg_tid"].as_str().unwrap().to_owned();
    assert!(tid.contains("INIBillTst"), "a KG Inicis tid: {tid}");
    let receipt = paid["receipt_url"].as_str().unwrap();
    assert!(receipt.starts_with(&fake.base_url) && receipt.contains(&tid), "{receipt}");
    assert_eq!(fake.amounts("approval").await, vec![3000]);
    // Partial, then the rest.
    let imp_uid = paid["imp_uid"].as_str().unwrap();
    let partial =
        assert_ok(&client.cancel(&json!({ "imp_uid": imp_uid, "amount": 1000 })).await, "partial");
    assert_eq!(partial["cancel_amount"], 1000);
    assert_eq!(partial["status"], "paid");
    let full = assert_ok(&client.cancel(&json!({ "imp_uid": imp_uid })).await, "the rest");
    assert_eq!(full["cancel_amount"], 3000);
    assert_eq!(full["status"], "cancelled");
    assert_eq!(fake.amounts("cancel").await, vec![1000, 2000]);
    // Nothing left to cancel: refused by openimp, nothing sent.
    assert_failure(&client.cancel(&json!({ "imp_uid": imp_uid })).await, "a third cancel");
    assert_eq!(fake.amounts("cancel").await.len(), 2);
}

async fn declines_reach_the_merchant_as_fail_reason(backend: Backend) {
    let server = TestServer::start(&backend).await;
    let fake = FakeInicis::start();
    let client = live_merchant(&server, &fake, true).await;
    for (last4, reason) in [("0002", "[51] 잔액부족"), ("0341", "[05] 승인거절")] {
        let customer_uid = uid("cust");
        client.issue_key_ok(&customer_uid, &card(last4)).await;
        let (status, body) = client.again(&customer_uid, &uid("order"), 1000).await;
        assert_eq!(status, 200, "{body}");
        let failed = &body["response"];
        assert_eq!(failed["status"], "failed", "{body}");
        assert!(failed["fail_reason"].as_str().unwrap().contains(reason), "{body}");
    }
    // Card 0005 fails authentication: no key.
    let (_, body) = client.issue_key(&uid("cust"), &card("0005")).await;
    assert_ne!(body["code"], 0, "{body}");
    assert!(fake.amounts("approval").await.is_empty());
}

async fn keyed_operations_are_refused_without_the_contract(backend: Backend) {
    let server = TestServer::start(&backend).await;
    let fake = FakeInicis::start();
    let client = live_merchant(&server, &fake, false).await;
    let refused = client.issue_key(&uid("cust"), CARD_OK).await;
    assert_failure(&refused, "keyed issue without the contract");
    // Seed 002: the REST keyed APIs are not supported, the window issues the key.
    let message = refused.1["message"].as_str().unwrap();
    assert!(message.contains("/subscribe/customers") && message.contains("결제창"), "{message}");
    let refused = client.onetime(&uid("order"), 1000, CARD_OK).await;
    assert_ne!(refused.1["code"], 0, "{:?}", refused.1);
    assert!(fake.ledger().await.is_empty(), "nothing reached KG Inicis");
}

async fn a_lost_answer_is_settled_by_the_reconciler(backend: Backend) {
    let server = TestServer::start_with(
        &backend,
        ServerOpts {
            reconcile_interval_secs: Some(1),
            reconcile_after_secs: Some(1),
            extra_args: vec!["--pg-timeout-secs".to_owned(), "1".to_owned()],
            ..Default::default()
        },
    )
    .await;
    let fake = FakeInicis::start();
    let client = live_merchant(&server, &fake, true).await;
    let customer_uid = uid("cust");
    client.issue_key_ok(&customer_uid, &card("0009")).await;
    let (_, body) = client.again(&customer_uid, &uid("order"), 2500).await;
    let imp_uid = body["response"]["imp_uid"]
        .as_str()
        .map(str::to_owned)
        .unwrap_or_else(|| panic!("the attempt is recorded: {body}"));
    assert_eq!(body["response"]["status"], "ready", "{body}");
    let paid = eventually(Duration::from_secs(20), "the reconciler settles it", || {
        let client = &client;
        let imp_uid = &imp_uid;
        async move {
            let payment = client.payment(imp_uid).await;
            (payment["status"] == "paid").then_some(payment)
        }
    })
    .await;
    assert_eq!(paid["amount"], 2500);
    assert_eq!(fake.amounts("approval").await, vec![2500]);
}

/// `inicis` (i'mport's older name for KG Inicis) is answered by the same connector.
async fn the_inicis_provider_name_is_served_too(backend: Backend) {
    let server = TestServer::start(&backend).await;
    let fake = FakeInicis::start();
    let (merchant, client) = server.merchant_client().await;
    server.env.cli_json(&[
        "channel",
        "add",
        "--merchant",
        &merchant.imp_code,
        "--pg-provider",
        "inicis",
        "--mid",
        "iniescrow0",
        "--test-mode",
        "false",
        "--endpoint",
        &fake.base_url,
        "--default",
        "--sign-key",
        SIGN_KEY,
        "--iniapi-key",
        "yERbIlJ3NhTeObsA",
        "--iniapi-iv",
        "tOGDXbfoajk2DQ==",
    ]);
    let customer_uid = uid("cust");
    client.issue_key_ok(&customer_uid, CARD_OK).await;
    let paid = client.again_paid(&customer_uid, &uid("order"), 1500).await;
    assert_eq!(paid["pg_provider"], "inicis");
    assert!(paid["pg_tid"].as_str().unwrap().contains("iniescrow0"), "{paid}");
    assert_eq!(fake.amounts("approval").await, vec![1500]);
}
