//! What the connector-vs-fake suites share: a fake KG Inicis on a random loopback port, the
//! channels of the public test MIDs pointed at it, and a small "browser" that fills the fake's
//! card pages and follows its auto-posted returns over real HTTP.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::time::Duration;

use openimp_inicis::fake::{FakeInicis, FakeOptions, TEST_SIGN_KEY};
use openimp_inicis::{InicisConnector, InicisOptions};
use openimp_pg::test_support::form_of;
use openimp_pg::transport::PgHttp;
use openimp_pg::window::{Handoff, WindowOrder, WindowPurpose, WindowReturn, WindowStart};
use openimp_pg::ChannelContext;

pub const BILL_MID: &str = "INIBillTst";
pub const PAY_MID: &str = "INIpayTest";

/// A fake on a random port; it holds a withheld answer for 5 s (the connectors under test
/// give up long before).
pub async fn fake() -> FakeInicis {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    FakeInicis::start(listener, FakeOptions { hang: Duration::from_secs(5), ..Default::default() })
}

/// The connector, with a per-call timeout of `timeout`.
pub fn connector_with_timeout(timeout: Duration) -> InicisConnector {
    InicisConnector::new(PgHttp::new(timeout), InicisOptions::default())
}

pub fn connector() -> InicisConnector {
    connector_with_timeout(Duration::from_secs(5))
}

/// A live channel of a public test MID with its public keys, pointed at `fake`.
pub fn channel(fake: &FakeInicis, mid: &str) -> ChannelContext {
    let (key, iv, merchant_key) = match mid {
        BILL_MID => ("rKnPljRn5m6J9Mzz", "W2KLNKra6Wxc1P==", "b09LVzhuTGZVaEY1WmJoQnZzdXpRdz09"),
        PAY_MID => ("ItEQKi3rY7uvDS8l", "HYb3yQ4f65QL89==", "3CB8183A4BE283555ACC8363C0360223"),
        other => panic!("no keys for {other}"),
    };
    let secrets = [
        ("sign_key", TEST_SIGN_KEY),
        ("iniapi_key", key),
        ("iniapi_iv", iv),
        ("merchant_key", merchant_key),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    ChannelContext {
        pg_provider: "html5_inicis".to_owned(),
        mid: mid.to_owned(),
        test_mode: false,
        endpoint: Some(fake.base_url().to_owned()),
        keyed_billing: false,
        secrets,
    }
}

/// A unique order id.
pub fn order_id(prefix: &str) -> String {
    format!("{prefix}_{}", openimp_core::ids::random_hex(6))
}

pub fn window_order(purpose: WindowPurpose, amount: i64, mobile: bool) -> WindowOrder {
    WindowOrder {
        order_id: order_id("imp"),
        merchant_uid: order_id("merchant"),
        purpose,
        pay_method: "card".to_owned(),
        amount,
        tax_free: 0,
        name: Some("정기구독".to_owned()),
        buyer_name: Some("홍길동".to_owned()),
        buyer_email: Some("buyer@example.com".to_owned()),
        buyer_tel: Some("010-1234-5678".to_owned()),
        mobile,
        return_url: "http://127.0.0.1:1/window/return".to_owned(),
        close_url: "http://127.0.0.1:1/window/close".to_owned(),
    }
}

/// A browser that fills the fake's card page: opens the window from `start`, types `card`,
/// and answers what the fake posted back to `return_url` (or the error page's text).
pub async fn run_window(
    fake: &FakeInicis,
    start: &WindowStart,
    card: &str,
) -> Result<Vec<(String, String)>, String> {
    let http = reqwest::Client::new();
    let (action, fields) = match &start.handoff {
        Handoff::Script { script_url, launcher, fields } => {
            assert_eq!(launcher, "INIStdPay.pay");
            assert_eq!(script_url, &format!("{}/stdjs/INIStdPay.js", fake.base_url()));
            let script = http.get(script_url).send().await.unwrap().text().await.unwrap();
            assert!(script.contains("/payMain/pay"), "INIStdPay.js posts to the pay page");
            (format!("{}/payMain/pay", fake.base_url()), fields.clone())
        }
        Handoff::Post { action, fields, .. } => (action.clone(), fields.clone()),
        other => panic!("unexpected hand-off {other:?}"),
    };
    let page = http.post(&action).form(&fields).send().await.unwrap();
    let ok = page.status().is_success();
    let page = page.text().await.unwrap();
    if !ok {
        return Err(page);
    }
    let (card_action, mut card_fields) = form_of(&page);
    card_fields.push(("cardNumber".to_owned(), card.to_owned()));
    card_fields.push(("expiry".to_owned(), "1230".to_owned()));
    let url = format!("{}{card_action}", fake.base_url());
    let back = http.post(&url).form(&card_fields).send().await.unwrap().text().await.unwrap();
    let (return_to, returned) = form_of(&back);
    assert_eq!(return_to, "http://127.0.0.1:1/window/return");
    Ok(returned)
}

pub fn window_return(
    fields: Vec<(String, String)>,
    start: &WindowStart,
    order: &WindowOrder,
) -> WindowReturn {
    WindowReturn { fields, state: start.state.clone(), order: order.clone() }
}

pub fn set(fields: &mut [(String, String)], name: &str, value: &str) {
    let field = fields.iter_mut().find(|(k, _)| k == name).expect("the field is there");
    field.1 = value.to_owned();
}

pub fn get<'a>(fields: &'a [(String, String)], name: &str) -> &'a str {
    fields.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str()).unwrap_or("")
}

/// Posts a raw form to the fake (a client other than the connector, for tampering).
pub async fn post_raw(url: &str, fields: &[(&str, &str)]) -> serde_json::Value {
    let body = openimp_pg::transport::form_urlencode(fields);
    let answer = reqwest::Client::new()
        .post(url)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body)
        .send()
        .await
        .unwrap();
    answer.json().await.unwrap()
}

pub fn kinds(fake: &FakeInicis) -> BTreeMap<String, usize> {
    let mut kinds = BTreeMap::new();
    for entry in fake.ledger() {
        *kinds.entry(entry.kind).or_default() += 1;
    }
    kinds
}
