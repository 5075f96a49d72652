//! Webhook addresses (issue 9 point 3, review finding 11): only global unicast is accepted. The
//! special-purpose ranges the review found open (IPv4-compatible and -translated IPv6, NAT64,
//! 6to4, Teredo, 198.18/15, 240/4, documentation...) are refused at every registration entry
//! point (a request's notice_url, a schedule's, `merchant set-webhook`) and at delivery.
//! The unit tests of `openimp_service::public_ip` cover every range; these prove each entry
//! point uses that check.

#[macro_use]
mod common;
mod support;

use std::time::Duration;

use common::*;
use serde_json::json;
use support::Receiver;

dual_backend_tests!(special_ranges_refused_at_registration, special_ranges_refused_at_delivery);

/// One address of each range the review listed as accepted before.
const SPECIAL: &[&str] = &[
    "http://[::7f00:1]:18999/h",
    "http://[64:ff9b::7f00:1]:18999/i",
    "http://[64:ff9b:1::a00:1]/j",
    "http://[::ffff:0:7f00:1]:18999/k",
    "http://[2002:7f00:1::1]/l",
    "http://[2001:0:a00:1::8000:0]/m",
    "http://198.18.0.1:18999/n",
    "http://240.0.0.1/o",
    "http://192.0.0.8/p",
    "http://203.0.113.9/q",
    "http://100.64.0.1/r",
];

async fn special_ranges_refused_at_registration(backend: Backend) {
    let server = TestServer::start(&backend).await; // no --allow-private-webhooks
    let (m, c) = server.merchant_client().await;
    let key = uid("cust");
    c.issue_key_ok(&key, CARD_OK).await;
    for url in SPECIAL {
        let r = c
            .post_json(
                "/subscribe/payments/again",
                &json!({"customer_uid": key, "merchant_uid": uid("order"), "amount": 1000, "name": "x", "notice_url": url}),
            )
            .await;
        assert_failure(&r, url);
        assert!(r.1["message"].as_str().unwrap().contains("global unicast"), "{url}: {}", r.1);
        let r = c
            .post_json(
                "/subscribe/payments/schedule",
                &json!({"customer_uid": key, "schedules": [{"merchant_uid": uid("sched"), "schedule_at": 4_000_000_000i64, "amount": 1000, "notice_url": url}]}),
            )
            .await;
        assert_failure(&r, url);
        let out =
            server.env.cli(&["merchant", "set-webhook", "--merchant", &m.imp_code, "--url", url]);
        assert!(!out.success && out.stderr.contains("global unicast"), "{url}: {}", out.stderr);
    }
    assert!(server.ledger().iter().all(|e| e["kind"] != "approval"), "nothing charged");
    // A global address is accepted, and the operator may allow private receivers explicitly.
    for args in [
        vec!["--url", "http://8.8.8.8/hook"],
        vec!["--url", "http://198.18.0.1/hook", "--allow-private-webhooks"],
    ] {
        let mut all = vec!["merchant", "set-webhook", "--merchant", m.imp_code.as_str()];
        all.extend(args);
        let out = server.env.cli(&all);
        assert!(out.success, "{all:?}: {}", out.stderr);
    }
}

async fn special_ranges_refused_at_delivery(backend: Backend) {
    let receiver = Receiver::start(0).await;
    let port = receiver.base.rsplit(':').next().unwrap().to_owned();
    // Registered while private receivers were allowed (and no worker ran)...
    let env = Env::new(&backend).await;
    let allowing = ServerOpts {
        env: vec![
            ("OPENIMP_ALLOW_PRIVATE_WEBHOOKS".to_owned(), "1".to_owned()),
            ("OPENIMP_NO_WORKER".to_owned(), "1".to_owned()),
        ],
        ..ServerOpts::default()
    };
    let mut first = TestServer::start_in(env.clone(), allowing).await;
    let (m, c) = first.merchant_client().await;
    let key = uid("cust");
    c.issue_key_ok(&key, CARD_OK).await;
    let url = format!("http://[64:ff9b::7f00:1]:{port}/hook");
    let r = c
        .post_json(
            "/subscribe/payments/again",
            &json!({"customer_uid": key, "merchant_uid": uid("order"), "amount": 1000, "name": "x", "notice_url": url}),
        )
        .await;
    let imp_uid = assert_ok(&r, "again")["imp_uid"].as_str().unwrap().to_owned();
    first.kill();
    // ...then delivered by a server that refuses them: the NAT64 form of 127.0.0.1 is refused.
    let refusing = ServerOpts {
        env: vec![
            ("OPENIMP_WORKER_POLL_MS".to_owned(), "200".to_owned()),
            ("OPENIMP_WEBHOOK_BACKOFF_BASE_MS".to_owned(), "200".to_owned()),
        ],
        ..ServerOpts::default()
    };
    let server = TestServer::start_in(env.clone(), refusing).await;
    let c = server.client(&m).await;
    let webhook = eventually(Duration::from_secs(20), "a delivery attempt", || async {
        let v = assert_ok(&c.get(&format!("/webhooks?imp_uid={imp_uid}")).await, "GET /webhooks");
        let w = v["list"][0].clone();
        (w["attempts"].as_i64().unwrap_or(0) >= 1).then_some(w)
    })
    .await;
    let error = webhook["last_error"].as_str().unwrap_or_default();
    assert!(error.contains("refused") && error.contains("global unicast"), "{webhook}");
    assert!(receiver.received().is_empty(), "nothing reached the receiver");
}
