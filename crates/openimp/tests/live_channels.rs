//! Channels that can go live (issue 10, part 2): `channel add | update` with the mode, the
//! endpoint and the secrets; a live channel without a connector in this build refused by
//! name; billing keys that remember the mode that issued them; removed channels that never
//! strand money. Everything over HTTP against a real server, the sandbox ledger as the oracle
//! of what reached a PG.

#[macro_use]
mod common;

use common::*;
use serde_json::{json, Value};

dual_backend_tests!(
    update_changes_a_channel_in_place,
    live_kicc_channel_refuses_keyed_requests_by_name,
    sandbox_key_refused_after_the_channel_goes_live,
    removed_channel_keeps_its_payments_cancellable,
    payment_cancelled_where_it_was_charged_after_a_mode_change,
);

/// `openimp channel <args> --merchant M`, which must succeed; its JSON.
fn channel(server: &TestServer, merchant: &Merchant, args: &[&str]) -> Value {
    let mut all = args.to_vec();
    all.extend(["--merchant", &merchant.imp_code]);
    server.env.cli_json(&all)
}

/// The merchant's channel `mid` as `channel list --json` shows it, if listed.
fn listed(server: &TestServer, merchant: &Merchant, mid: &str) -> Option<Value> {
    let list = channel(server, merchant, &["channel", "list", "--json"]);
    list.as_array().unwrap().iter().find(|c| c["mid"] == mid).cloned()
}

async fn update_changes_a_channel_in_place(backend: Backend) {
    let server = TestServer::start(&backend).await;
    let m = server.create_merchant();
    let before = listed(&server, &m, "INIBillTst").expect("the merchant's Inicis channel");

    // Every option, secrets from a flag and from a file.
    let key_file = server.env.dir.path().join("iniapi.key");
    std::fs::write(&key_file, "ItEQKi3rY7uvDS8l\n").unwrap();
    let updated = channel(
        &server,
        &m,
        &[
            "channel",
            "update",
            "--pg-provider",
            "html5_inicis",
            "--mid",
            "INIBillTst",
            "--test-mode",
            "false",
            "--endpoint",
            "http://127.0.0.1:9/",
            "--keyed-billing",
            "false",
            "--sign-key",
            "SU5JTElURV9UUklQTEVERVNfS0VZU1RS",
            "--iniapi-key-file",
            key_file.to_str().unwrap(),
            "--iniapi-iv",
            "HYb3yQ4f65QL89==",
        ],
    );
    assert_eq!(updated["id"], before["id"], "changed in place: {updated}");
    assert_eq!(updated["channel_key"], before["channel_key"], "{updated}");
    assert_eq!(updated["test_mode"], false, "{updated}");
    assert_eq!(updated["keyed_billing"], false, "{updated}");
    assert_eq!(updated["endpoint"], "http://127.0.0.1:9", "{updated}");
    assert_eq!(updated["is_default"], true, "the default flag is kept: {updated}");
    let secrets = updated["secrets"].as_object().expect("masked secrets");
    assert_eq!(secrets.len(), 3, "{updated}");
    for (name, full) in [
        ("sign_key", "SU5JTElURV9UUklQTEVERVNfS0VZU1RS"),
        ("iniapi_key", "ItEQKi3rY7uvDS8l"),
        ("iniapi_iv", "HYb3yQ4f65QL89=="),
    ] {
        let shown = secrets[name].as_str().unwrap();
        assert!(shown.ends_with("******") && !shown.contains(&full[2..]), "{name}: {shown}");
    }
    assert!(!updated.to_string().contains("ItEQKi3rY7uvDS8l"), "never printed whole: {updated}");
    assert_eq!(listed(&server, &m, "INIBillTst").unwrap(), updated, "list shows the same");

    // Options not given keep their values; an empty endpoint clears it; --default moves.
    let back = channel(
        &server,
        &m,
        &[
            "channel",
            "update",
            "--pg-provider",
            "html5_inicis",
            "--mid",
            "INIBillTst",
            "--test-mode",
            "true",
            "--endpoint",
            "",
        ],
    );
    assert_eq!(back["test_mode"], true, "{back}");
    assert!(back["endpoint"].is_null(), "{back}");
    assert_eq!(back["keyed_billing"], false, "kept: {back}");
    assert_eq!(back["secrets"].as_object().unwrap().len(), 3, "kept: {back}");
    let kicc = channel(
        &server,
        &m,
        &["channel", "update", "--pg-provider", "kicc", "--mid", "T5102001", "--default"],
    );
    assert_eq!(kicc["is_default"], true, "{kicc}");
    assert_eq!(listed(&server, &m, "INIBillTst").unwrap()["is_default"], false);

    // `add` takes the same options.
    let added = channel(
        &server,
        &m,
        &[
            "channel",
            "add",
            "--pg-provider",
            "kicc",
            "--mid",
            "T0000001",
            "--test-mode",
            "false",
            "--endpoint",
            "https://testpgapi.easypay.co.kr",
            "--kicc-secret-key",
            "easypay!KICCTEST",
        ],
    );
    assert_eq!(added["test_mode"], false, "{added}");
    assert_eq!(added["keyed_billing"], false, "KICC has no keyed API: {added}");
    let asked = channel(
        &server,
        &m,
        &[
            "channel",
            "update",
            "--pg-provider",
            "kicc",
            "--mid",
            "T0000001",
            "--keyed-billing",
            "true",
        ],
    );
    assert_eq!(asked["keyed_billing"], false, "still window-only: {asked}");
    assert_eq!(added["endpoint"], "https://testpgapi.easypay.co.kr", "{added}");
    assert_eq!(added["secrets"]["kicc_secret_key"], "ea******", "{added}");

    // Refusals: not a base URL, an unknown channel, an unknown secret name is impossible by
    // flag, a keyed-billing flag given twice contradicting itself.
    for (what, args) in [
        ("ftp endpoint", vec!["--endpoint", "ftp://example.com"]),
        ("endpoint without a scheme", vec!["--endpoint", "example.com"]),
        ("endpoint with a query", vec!["--endpoint", "http://127.0.0.1:9/?x=1"]),
        ("contradicting flags", vec!["--keyed-billing", "true", "--no-keyed-billing"]),
    ] {
        let mut all = vec!["channel", "update", "--pg-provider", "kicc", "--mid", "T0000001"];
        all.extend(args);
        all.extend(["--merchant", &m.imp_code]);
        let out = server.env.cli(&all);
        assert!(!out.success, "{what}: accepted: {}", out.stdout);
    }
    let out = server.env.cli(&[
        "channel",
        "update",
        "--pg-provider",
        "kicc",
        "--mid",
        "NOPE",
        "--test-mode",
        "false",
        "--merchant",
        &m.imp_code,
    ]);
    assert!(!out.success && out.stderr.contains("no channel kicc.NOPE"), "{}", out.stderr);
    assert_eq!(
        listed(&server, &m, "T0000001").unwrap()["endpoint"],
        "https://testpgapi.easypay.co.kr",
        "a refused update changes nothing"
    );
}

async fn live_kicc_channel_refuses_keyed_requests_by_name(backend: Backend) {
    // Every known provider has a live connector now; a live KICC channel refuses keyed
    // requests by name (KICC has no keyed API), before anything reaches a PG.
    let server = TestServer::start(&backend).await;
    let (m, client) = server.merchant_client().await;
    channel(
        &server,
        &m,
        &[
            "channel",
            "update",
            "--pg-provider",
            "kicc",
            "--mid",
            "T5102001",
            "--test-mode",
            "false",
            "--default",
        ],
    );
    let ledger_before = server.ledger().len();
    let refusal = client.onetime(&uid("live"), 1000, CARD_OK).await;
    assert_failure(&refusal, "keyed onetime on a live KICC channel");
    let message = refusal.1["message"].as_str().unwrap();
    assert!(message.contains("kicc") && message.contains("T5102001"), "{message}");
    let refusal = client.issue_key(&uid("live_key"), CARD_OK).await;
    assert_failure(&refusal, "key issue on the live channel");
    assert_eq!(server.ledger().len(), ledger_before, "nothing reached any PG");

    // Another channel (still in test mode) keeps working.
    channel(
        &server,
        &m,
        &["channel", "add", "--pg-provider", "html5_inicis", "--mid", "INIpayTest"],
    );
    let p = assert_ok(
        &client
            .post_json(
                "/subscribe/payments/onetime",
                &json!({"merchant_uid": uid("inicis"), "amount": 1000, "card_number": CARD_OK,
                        "expiry": EXPIRY, "birth": BIRTH, "pwd_2digit": PWD2, "pg": "html5_inicis"}),
            )
            .await,
        "a test-mode channel",
    );
    assert_eq!(p["status"], "paid", "{p}");
}

async fn sandbox_key_refused_after_the_channel_goes_live(backend: Backend) {
    let server = TestServer::start(&backend).await;
    let (m, client) = server.merchant_client().await;
    let cu = uid("mode");
    client.issue_key_ok(&cu, CARD_OK).await;
    client.again_paid(&cu, &uid("before"), 1000).await;

    channel(
        &server,
        &m,
        &[
            "channel",
            "update",
            "--pg-provider",
            "html5_inicis",
            "--mid",
            "INIBillTst",
            "--test-mode",
            "false",
            "--endpoint",
            "http://127.0.0.1:9",
        ],
    );
    let ledger_before = server.ledger().len();
    let mu = uid("after");
    let refusal = client.again(&cu, &mu, 1000).await;
    assert_failure(&refusal, "a sandbox key charged on a live channel");
    let message = refusal.1["message"].as_str().unwrap();
    assert!(message.contains("테스트 모드") && message.contains("실거래"), "{message}");
    assert!(message.contains("not sent to any PG"), "{message}");
    assert_eq!(server.ledger().len(), ledger_before, "nothing sent to any PG");
    let (_, found) = client.get(&format!("/payments/find/{mu}")).await;
    assert_ne!(found["code"], 0, "no payment was recorded: {found}");

    // Back in test mode the key charges again: the refusal was about the mode, not the key.
    channel(
        &server,
        &m,
        &[
            "channel",
            "update",
            "--pg-provider",
            "html5_inicis",
            "--mid",
            "INIBillTst",
            "--test-mode",
            "true",
        ],
    );
    client.again_paid(&cu, &uid("back"), 1000).await;
}

async fn removed_channel_keeps_its_payments_cancellable(backend: Backend) {
    let server = TestServer::start(&backend).await;
    let (m, client) = server.merchant_client().await;
    let cu = uid("removed");
    client.issue_key_ok(&cu, CARD_OK).await;
    let paid = client.again_paid(&cu, &uid("pay"), 5000).await;
    let other = client.again_paid(&cu, &uid("pay2"), 3000).await;
    let imp_uid = paid["imp_uid"].as_str().unwrap();

    let out = server.env.cli(&[
        "channel",
        "remove",
        "--merchant",
        &m.imp_code,
        "--pg-provider",
        "html5_inicis",
        "--mid",
        "INIBillTst",
    ]);
    assert!(out.success, "{}", out.stderr);
    assert!(listed(&server, &m, "INIBillTst").is_none(), "no longer listed");
    let (_, pg) = client.get("/users/pg").await;
    assert!(!pg.to_string().contains("INIBillTst"), "no longer a PG setting: {pg}");

    // Its payments: looked up, cancelled in part then in full, at the PG that charged them.
    assert_eq!(client.payment(imp_uid).await["status"], "paid");
    let partial = assert_ok(
        &client.cancel(&json!({"imp_uid": imp_uid, "amount": 2000, "reason": "부분"})).await,
        "partial cancel after the channel was removed",
    );
    assert_eq!(partial["cancel_amount"], 2000, "{partial}");
    let full = assert_ok(
        &client.cancel(&json!({"imp_uid": imp_uid, "reason": "나머지"})).await,
        "full cancel after the channel was removed",
    );
    assert_eq!(full["status"], "cancelled", "{full}");
    assert_eq!(full["cancel_amount"], 5000, "{full}");
    let cancels: i64 =
        server.ledger_for(imp_uid, "cancel").iter().map(|e| e["amount"].as_i64().unwrap()).sum();
    assert_eq!(cancels, 5000, "the sandbox gave back exactly the payment");
    let by_merchant_uid = assert_ok(
        &client.get(&format!("/payments/find/{}", other["merchant_uid"].as_str().unwrap())).await,
        "lookup by merchant_uid",
    );
    assert_eq!(by_merchant_uid["pg_id"], "INIBillTst", "{by_merchant_uid}");

    // Its billing key: refused with a clear message, nothing sent.
    let ledger_before = server.ledger().len();
    let refusal = client.again(&cu, &uid("after_removal"), 1000).await;
    assert_failure(&refusal, "a key of a removed channel");
    let message = refusal.1["message"].as_str().unwrap();
    assert!(message.contains("삭제") && message.contains("INIBillTst"), "{message}");
    assert_eq!(server.ledger().len(), ledger_before, "nothing sent to any PG");

    // Adding it again brings the same channel back, with its payments and keys.
    let back = channel(
        &server,
        &m,
        &["channel", "add", "--pg-provider", "html5_inicis", "--mid", "INIBillTst"],
    );
    assert_eq!(back["test_mode"], true, "{back}");
    client.again_paid(&cu, &uid("after_readd"), 1000).await;
}

async fn payment_cancelled_where_it_was_charged_after_a_mode_change(backend: Backend) {
    let server = TestServer::start(&backend).await;
    let (m, client) = server.merchant_client().await;
    let paid = client.onetime_paid(&uid("moded"), 4000).await;
    let imp_uid = paid["imp_uid"].as_str().unwrap();
    // The channel goes live (on KG Inicis, without the keys it needs): the sandbox payment
    // is still the sandbox's to cancel, never sent to the live PG nor refused.
    channel(
        &server,
        &m,
        &[
            "channel",
            "update",
            "--pg-provider",
            "html5_inicis",
            "--mid",
            "INIBillTst",
            "--test-mode",
            "false",
        ],
    );
    let ledger_before = server.ledger().len();
    let (_, live) = client.onetime(&uid("live_now"), 1000, CARD_OK).await;
    assert_ne!(live["response"]["status"], "paid", "new charges go to the live PG: {live}");
    let reason = live["response"]["fail_reason"].as_str().or(live["message"].as_str()).unwrap();
    assert!(reason.contains("iniapi_key"), "refused for the missing INIAPI key: {reason}");
    assert_eq!(server.ledger().len(), ledger_before, "nothing reached the sandbox");
    let cancelled = assert_ok(
        &client.cancel(&json!({"imp_uid": imp_uid, "reason": "모드 변경 후 취소"})).await,
        "cancel of a sandbox payment after its channel went live",
    );
    assert_eq!(cancelled["status"], "cancelled", "{cancelled}");
    let cancels = server.ledger_for(imp_uid, "cancel");
    assert_eq!(cancels.len(), 1, "the sandbox, which charged it, cancelled it: {cancels:?}");
    assert_eq!(cancels[0]["amount"], 4000);
}
