//! /subscribe/customers: issue, read, multi-get, delete, card rules, channel selection.

#[macro_use]
mod common;

use common::*;
use serde_json::{json, Value};

dual_backend_tests!(
    issue_get_delete,
    issue_form_urlencoded,
    sandbox_card_company_rule,
    reissue_replaces_card,
    multi_get_customers,
    invalid_cards_refused,
    customer_payments_list,
    pg_selects_channel,
    no_keyed_billing_channel,
    reissue_after_delete_and_unicode_uid,
    concurrent_issue_same_customer_uid,
);

#[track_caller]
fn assert_customer_shape(c: &Value, what: &str) {
    for k in ["customer_uid", "pg_provider", "pg_id", "card_name", "card_code", "card_number"] {
        assert!(c[k].is_string(), "{what}: customer.{k} must be a string: {c}");
    }
    for k in ["inserted", "updated"] {
        assert!(
            c[k].as_i64().is_some_and(|t| t > 1_600_000_000),
            "{what}: customer.{k} must be a UNIX time: {c}"
        );
    }
    assert!(c["card_type"].is_i64() || c["card_type"].is_null(), "{what}: card_type int|null: {c}");
}

async fn issue_get_delete(backend: Backend) {
    let server = TestServer::start(&backend).await;
    let (_, client) = server.merchant_client().await;
    let cu = uid("cust");

    let c = client.issue_key_ok(&cu, CARD_OK).await;
    assert_customer_shape(&c, "issue");
    assert_eq!(c["customer_uid"], cu.as_str());
    assert_eq!(c["pg_provider"], "html5_inicis", "default channel: {c}");
    assert_eq!(c["pg_id"], "INIBillTst", "default channel: {c}");
    assert_eq!(c["card_code"], "367", "6th digit 2 → 현대카드: {c}");
    assert_eq!(c["card_name"], "현대카드", "{c}");
    assert_eq!(c["card_type"], 0, "7th digit 3 → credit: {c}");
    assert_masked(&c["card_number"], CARD_OK, "issue");
    assert_eq!(c["customer_name"], "홍길동");
    assert_eq!(c["customer_email"], "hong@example.com");

    let got = assert_ok(&client.get(&format!("/subscribe/customers/{cu}")).await, "GET customer");
    assert_customer_shape(&got, "GET");
    for k in [
        "customer_uid",
        "pg_provider",
        "pg_id",
        "card_code",
        "card_name",
        "card_number",
        "card_type",
        "inserted",
    ] {
        assert_eq!(got[k], c[k], "GET customer.{k} differs from issue: {got} vs {c}");
    }
    assert!(!got.to_string().contains("4092023012345678"), "full card number leaked: {got}");

    let deleted = assert_ok(
        &client.delete(&format!("/subscribe/customers/{cu}?reason=test")).await,
        "DELETE",
    );
    assert_eq!(
        deleted["customer_uid"],
        cu.as_str(),
        "DELETE returns the deleted customer: {deleted}"
    );

    let gone = client.get(&format!("/subscribe/customers/{cu}")).await;
    assert_eq!(gone.0, 404, "GET after delete: {}", gone.1);
    assert_failure(&gone, "GET after delete");
    let again_delete = client.delete(&format!("/subscribe/customers/{cu}")).await;
    assert_eq!(again_delete.0, 404, "DELETE twice: {}", again_delete.1);
    assert_failure(&again_delete, "DELETE twice");

    // A deleted key cannot be charged.
    let charge = client.again(&cu, &uid("order"), 1000).await;
    assert_eq!(charge.0, 200, "again with a deleted key: {}", charge.1);
    assert_failure(&charge, "again with a deleted key");

    let unknown = client.get("/subscribe/customers/never-issued").await;
    assert_eq!(unknown.0, 404, "unknown customer: {}", unknown.1);
}

async fn issue_form_urlencoded(backend: Backend) {
    let server = TestServer::start(&backend).await;
    let (_, client) = server.merchant_client().await;
    let cu = uid("formcust");
    let resp = client
        .post_form(
            &format!("/subscribe/customers/{cu}"),
            &[
                ("card_number", "4092-0550-1111-2222"),
                ("expiry", EXPIRY),
                ("birth", BIRTH),
                ("pwd_2digit", PWD2),
                ("customer_name", "김철수"),
                ("customer_tel", "010-1234-5678"),
            ],
        )
        .await;
    let c = assert_ok(&resp, "issue (form)");
    assert_eq!(c["customer_uid"], cu.as_str());
    assert_eq!(c["card_code"], "371", "6th digit 5 → NH농협카드: {c}");
    assert_eq!(c["card_name"], "NH농협카드");
    assert_eq!(c["customer_name"], "김철수");
    assert_eq!(c["customer_tel"], "010-1234-5678");
    // And the key charges.
    client.again_paid(&cu, &uid("order"), 1500).await;
}

async fn sandbox_card_company_rule(backend: Backend) {
    let server = TestServer::start(&backend).await;
    let (_, client) = server.merchant_client().await;
    let table = [
        ("361", "BC카드"),
        ("381", "KB국민카드"),
        ("367", "현대카드"),
        ("365", "삼성카드"),
        ("368", "롯데카드"),
        ("371", "NH농협카드"),
        ("366", "신한카드"),
        ("041", "우리카드"),
        ("374", "하나카드"),
        ("370", "씨티카드"),
    ];
    for (d6, (code, name)) in table.iter().enumerate() {
        // 7th digit: 0-6 credit, 7-9 check. Alternate to cover both.
        let d7 = if d6 % 2 == 0 { 3 } else { 8 };
        let number = format!("40920{d6}{d7}123456789"); // 16 digits, no dashes, ends 6789
        assert_eq!(number.len(), 16);
        let cu = uid(&format!("rule{d6}"));
        let c = client.issue_key_ok(&cu, &number).await;
        assert_eq!(c["card_code"], *code, "6th digit {d6}: {c}");
        assert_eq!(c["card_name"], *name, "6th digit {d6}: {c}");
        assert_eq!(c["card_type"], if d7 >= 7 { 1 } else { 0 }, "7th digit {d7}: {c}");
        assert_masked(&c["card_number"], &number, "rule");
    }
    // The same rule on a payment.
    let (_, body) = client.onetime(&uid("rule_pay"), 1000, "4092-0670-1111-2222").await;
    assert_eq!(body["code"], 0, "onetime: {body}");
    let p = &body["response"];
    assert_eq!(p["card_code"], "366", "payment card_code: {p}");
    assert_eq!(p["card_name"], "신한카드", "payment card_name: {p}");
    assert_eq!(p["card_type"], 1, "7th digit 7 → check card: {p}");
}

async fn reissue_replaces_card(backend: Backend) {
    let server = TestServer::start(&backend).await;
    let (_, client) = server.merchant_client().await;
    let cu = uid("reissue");
    let first = client.issue_key_ok(&cu, CARD_OK).await;
    assert_eq!(first["card_code"], "367");
    let second = client.issue_key_ok(&cu, "4092-0160-5555-4444").await;
    assert_eq!(second["card_code"], "381", "re-issue replaces the card: {second}");
    let got = assert_ok(&client.get(&format!("/subscribe/customers/{cu}")).await, "GET");
    assert_eq!(got["card_code"], "381", "GET after re-issue: {got}");
    let p = client.again_paid(&cu, &uid("order"), 2000).await;
    assert_eq!(p["card_code"], "381", "a charge uses the newest card: {p}");
}

async fn multi_get_customers(backend: Backend) {
    let server = TestServer::start(&backend).await;
    let (_, client) = server.merchant_client().await;
    let a = uid("a");
    let b = uid("b");
    client.issue_key_ok(&a, CARD_OK).await;
    client.issue_key_ok(&b, "4092-0330-1234-5678").await;

    let uids = |v: &Value| -> Vec<String> {
        let mut out: Vec<String> = v
            .as_array()
            .unwrap_or_else(|| panic!("response must be an array: {v}"))
            .iter()
            .map(|c| c["customer_uid"].as_str().unwrap().to_owned())
            .collect();
        out.sort();
        out
    };
    let mut both = vec![a.clone(), b.clone()];
    both.sort();

    // Raw brackets.
    let all =
        client.get(&format!("/subscribe/customers?customer_uid[]={a}&customer_uid[]={b}")).await;
    let r = assert_ok(&all, "multi-get all found");
    assert_eq!(uids(&r), both);
    // Encoded brackets, as `qs` sends them.
    let all_enc = client
        .get(&format!("/subscribe/customers?customer_uid%5B%5D={a}&customer_uid%5B%5D={b}"))
        .await;
    let r = assert_ok(&all_enc, "multi-get (encoded brackets)");
    assert_eq!(uids(&r), both);

    let some = client
        .get(&format!("/subscribe/customers?customer_uid[]={a}&customer_uid[]=missing_one"))
        .await;
    assert_eq!(some.0, 207, "some missing → 207: {}", some.1);
    assert_eq!(some.1["code"], 0, "207 still code 0: {}", some.1);
    assert_eq!(uids(&some.1["response"]), vec![a.clone()], "only found ones listed");

    let none =
        client.get("/subscribe/customers?customer_uid[]=missing_1&customer_uid[]=missing_2").await;
    assert_eq!(none.0, 404, "none found → 404: {}", none.1);
    assert_ne!(none.1["code"], 0);
}

async fn invalid_cards_refused(backend: Backend) {
    let server = TestServer::start(&backend).await;
    let (_, client) = server.merchant_client().await;
    let base =
        json!({"card_number": CARD_OK, "expiry": EXPIRY, "birth": BIRTH, "pwd_2digit": PWD2});
    let with = |k: &str, v: Value| {
        let mut b = base.clone();
        if v.is_null() {
            b.as_object_mut().unwrap().remove(k);
        } else {
            b[k] = v;
        }
        b
    };
    // The PG's refusals of the card are business failures (HTTP 200, code -1); malformed input
    // is HTTP 400 (docs/decisions.md, "Business failures").
    let cases = [
        ("expired card", 200, with("expiry", json!("2020-01"))),
        ("malformed number", 400, with("card_number", json!("1234-56"))),
        ("letters in number", 400, with("card_number", json!("4092-0230-1234-56AB"))),
        ("missing number", 400, with("card_number", Value::Null)),
        ("missing expiry", 400, with("expiry", Value::Null)),
        ("malformed expiry", 400, with("expiry", json!("12/30"))),
        ("birth neither YYMMDD nor 10 digits", 400, with("birth", json!("12345"))),
        ("non-numeric birth", 400, with("birth", json!("82O213"))),
        ("non-numeric pwd_2digit", 400, with("pwd_2digit", json!("ab"))),
        ("sandbox: billing key refused (0005)", 200, with("card_number", json!(card("0005")))),
    ];
    for (what, status, body) in cases {
        let cu = uid("bad");
        let resp = client.post_json(&format!("/subscribe/customers/{cu}"), &body).await;
        assert_failure(&resp, what);
        assert_eq!(resp.0, status, "{what}: {}", resp.1);
        let got = client.get(&format!("/subscribe/customers/{cu}")).await;
        assert_eq!(got.0, 404, "{what}: nothing may be stored: {}", got.1);
        // The message must not echo the card number back.
        assert!(
            !resp.1.to_string().contains("4092023012345678"),
            "{what}: card number echoed: {}",
            resp.1
        );
    }
    // A 10-digit business number is a valid birth.
    let cu = uid("corp");
    let resp = client
        .post_json(&format!("/subscribe/customers/{cu}"), &with("birth", json!("1234567890")))
        .await;
    assert_ok(&resp, "10-digit business number as birth");
}

async fn customer_payments_list(backend: Backend) {
    let server = TestServer::start(&backend).await;
    let (_, client) = server.merchant_client().await;
    let cu = uid("paylist");
    client.issue_key_ok(&cu, CARD_OK).await;
    let other = uid("other");
    client.issue_key_ok(&other, CARD_OK).await;

    let p1 = client.again_paid(&cu, &uid("o1"), 1000).await;
    let p2 = client.again_paid(&cu, &uid("o2"), 2000).await;
    client.again_paid(&other, &uid("o3"), 3000).await;

    let list = assert_ok(
        &client.get(&format!("/subscribe/customers/{cu}/payments")).await,
        "customer payments",
    );
    assert_paged(&list, "customer payments");
    assert_eq!(list["total"], 2, "{list}");
    let mut got: Vec<&str> =
        list["list"].as_array().unwrap().iter().map(|p| p["imp_uid"].as_str().unwrap()).collect();
    got.sort();
    let mut want = vec![p1["imp_uid"].as_str().unwrap(), p2["imp_uid"].as_str().unwrap()];
    want.sort();
    assert_eq!(got, want, "{list}");
    for p in list["list"].as_array().unwrap() {
        assert_eq!(p["customer_uid"], cu.as_str(), "{p}");
    }
    let page2 = assert_ok(
        &client.get(&format!("/subscribe/customers/{cu}/payments?page=2")).await,
        "page 2",
    );
    assert_eq!(
        page2["list"].as_array().map(Vec::len),
        Some(0),
        "page 2 of 2 items (limit 20): {page2}"
    );
}

async fn pg_selects_channel(backend: Backend) {
    let server = TestServer::start(&backend).await;
    let (_, client) = server.merchant_client().await;
    for (pg, provider, mid) in [
        ("html5_inicis", "html5_inicis", "INIBillTst"),
        ("html5_inicis.INIBillTst", "html5_inicis", "INIBillTst"),
        ("kicc", "kicc", "T5102001"),
        ("kicc.T5102001", "kicc", "T5102001"),
        ("no_such_pg", "html5_inicis", "INIBillTst"),
    ] {
        let cu = uid("pgsel");
        let body = json!({
            "card_number": CARD_OK, "expiry": EXPIRY, "birth": BIRTH, "pwd_2digit": PWD2, "pg": pg,
        });
        if provider == "kicc" {
            // KICC has no keyed card API: the channel is picked, and refuses (test mode too).
            let ledger_before = server.ledger().len();
            let refused = client.post_json(&format!("/subscribe/customers/{cu}"), &body).await;
            assert_failure(&refused, pg);
            let message = refused.1["message"].as_str().unwrap();
            assert!(message.contains("kicc.T5102001") && message.contains("결제창"), "{message}");
            let mut onetime = body.clone();
            onetime["merchant_uid"] = json!(uid("onetime"));
            onetime["amount"] = json!(1200);
            let refused = client.post_json("/subscribe/payments/onetime", &onetime).await;
            assert_failure(&refused, pg);
            assert_eq!(server.ledger().len(), ledger_before, "nothing reached the sandbox");
            continue;
        }
        let c =
            assert_ok(&client.post_json(&format!("/subscribe/customers/{cu}"), &body).await, pg);
        assert_eq!(c["pg_provider"], provider, "pg={pg}: {c}");
        assert_eq!(c["pg_id"], mid, "pg={pg}: {c}");
        // The charge goes through the key's channel.
        let p = client.again_paid(&cu, &uid("order"), 1000).await;
        assert_eq!(p["pg_provider"], provider, "again with key from pg={pg}: {p}");
        assert_eq!(p["pg_id"], mid, "again with key from pg={pg}: {p}");
        // And the sandbox ledger shows the MID.
        let approvals = server.ledger_for(p["imp_uid"].as_str().unwrap(), "approval");
        assert_eq!(approvals.len(), 1, "pg={pg}: {approvals:?}");
        assert_eq!(approvals[0]["mid"], mid, "ledger mid for pg={pg}: {approvals:?}");

        // onetime with pg
        let mu = uid("onetime");
        let body = json!({
            "merchant_uid": mu, "amount": 1200, "card_number": CARD_OK, "expiry": EXPIRY,
            "birth": BIRTH, "pwd_2digit": PWD2, "pg": pg, "name": "pg test",
        });
        let p = assert_ok(&client.post_json("/subscribe/payments/onetime", &body).await, pg);
        assert_eq!(p["status"], "paid", "onetime pg={pg}: {p}");
        assert_eq!(p["pg_provider"], provider, "onetime pg={pg}: {p}");
        assert_eq!(p["pg_id"], mid, "onetime pg={pg}: {p}");
    }
}

async fn no_keyed_billing_channel(backend: Backend) {
    let server = TestServer::start(&backend).await;
    let (m, client) = server.merchant_client().await;

    let listed = server.env.cli_json(&["channel", "list", "--merchant", &m.imp_code, "--json"]);
    let listed_s = listed.to_string();
    assert!(
        listed_s.contains("INIBillTst") && listed_s.contains("T5102001"),
        "new merchant's channels: {listed}"
    );

    let out = server.env.cli(&[
        "channel",
        "add",
        "--merchant",
        &m.imp_code,
        "--pg-provider",
        "html5_inicis",
        "--mid",
        "INIpayTest",
        "--test-mode",
        "true",
        "--no-keyed-billing",
    ]);
    assert!(out.success, "channel add failed: {}\n{}", out.stdout, out.stderr);
    let listed = server.env.cli_json(&["channel", "list", "--merchant", &m.imp_code, "--json"]);
    assert!(listed.to_string().contains("INIpayTest"), "channel list after add: {listed}");

    let pg = "html5_inicis.INIpayTest";
    let cu = uid("nokeyed");
    let resp = client
        .post_json(
            &format!("/subscribe/customers/{cu}"),
            &json!({"card_number": CARD_OK, "expiry": EXPIRY, "birth": BIRTH, "pwd_2digit": PWD2, "pg": pg}),
        )
        .await;
    assert_failure(&resp, "issue on a channel without keyed billing");
    assert_eq!(client.get(&format!("/subscribe/customers/{cu}")).await.0, 404);

    let mu = uid("nokeyed_pay");
    let resp = client
        .post_json(
            "/subscribe/payments/onetime",
            &json!({"merchant_uid": mu, "amount": 1000, "card_number": CARD_OK, "expiry": EXPIRY,
                    "birth": BIRTH, "pwd_2digit": PWD2, "pg": pg}),
        )
        .await;
    assert_failure(&resp, "onetime on a channel without keyed billing");
    assert!(server.ledger().iter().all(|e| e["mid"] != "INIpayTest"), "no PG call on INIpayTest");

    // Removing it: the pg string then falls back to the default channel.
    let out = server.env.cli(&[
        "channel",
        "remove",
        "--merchant",
        &m.imp_code,
        "--pg-provider",
        "html5_inicis",
        "--mid",
        "INIpayTest",
    ]);
    assert!(out.success, "channel remove failed: {}\n{}", out.stdout, out.stderr);
    let listed = server.env.cli_json(&["channel", "list", "--merchant", &m.imp_code, "--json"]);
    assert!(!listed.to_string().contains("INIpayTest"), "channel list after remove: {listed}");
    let c = assert_ok(
        &client
            .post_json(
                &format!("/subscribe/customers/{cu}"),
                &json!({"card_number": CARD_OK, "expiry": EXPIRY, "birth": BIRTH, "pwd_2digit": PWD2, "pg": pg}),
            )
            .await,
        "issue after the channel was removed",
    );
    assert_eq!(c["pg_id"], "INIBillTst", "falls back to the default channel: {c}");
}

async fn reissue_after_delete_and_unicode_uid(backend: Backend) {
    let server = TestServer::start(&backend).await;
    let (_, client) = server.merchant_client().await;
    let cu = uid("gone");
    client.issue_key_ok(&cu, CARD_OK).await;
    assert_ok(&client.delete(&format!("/subscribe/customers/{cu}")).await, "DELETE");
    let again = client.issue_key_ok(&cu, "4092-0160-5555-4444").await;
    assert_eq!(again["card_code"], "381", "a deleted customer_uid can be issued again: {again}");
    assert_ok(&client.get(&format!("/subscribe/customers/{cu}")).await, "GET after re-issue");
    client.again_paid(&cu, &uid("after"), 1000).await;

    // A non-ASCII customer_uid with a space, percent-encoded in the path and the query.
    let raw = "고객 1호";
    let path_enc = "%EA%B3%A0%EA%B0%9D%201%ED%98%B8";
    let c = assert_ok(
        &client
            .post_json(
                &format!("/subscribe/customers/{path_enc}"),
                &json!({"card_number": CARD_OK, "expiry": EXPIRY}),
            )
            .await,
        "issue with a Korean customer_uid",
    );
    assert_eq!(c["customer_uid"], raw, "{c}");
    let got = assert_ok(&client.get(&format!("/subscribe/customers/{path_enc}")).await, "GET");
    assert_eq!(got["customer_uid"], raw);
    let list = assert_ok(
        &client.get(&format!("/subscribe/customers?customer_uid%5B%5D={}", enc(raw))).await,
        "multi-get with a Korean customer_uid",
    );
    assert_eq!(list[0]["customer_uid"], raw, "{list}");
    let p = client.again_paid(raw, &uid("ko"), 1000).await;
    assert_eq!(p["customer_uid"], raw);
}

/// Twenty issues of one customer_uid at once: each is a clean success or refusal, and one
/// key is left standing.
async fn concurrent_issue_same_customer_uid(backend: Backend) {
    let server = TestServer::start(&backend).await;
    let (_, client) = server.merchant_client().await;
    let cu = uid("race");
    let futs = (0..20).map(|i| {
        let client = client.clone();
        let cu = cu.clone();
        // Alternate two cards so the survivor is one of them.
        let number = if i % 2 == 0 { CARD_OK.to_owned() } else { "4092-0160-5555-4444".to_owned() };
        async move { client.issue_key(&cu, &number).await }
    });
    let results: Vec<Resp> = futures::future::join_all(futs).await;
    let mut ok = 0;
    for (status, body) in &results {
        assert!(*status < 500, "concurrent issue: HTTP {status}: {body}");
        if body["code"] == 0 {
            ok += 1;
        } else {
            assert!(body["message"].is_string(), "{body}");
        }
    }
    assert!(ok >= 1, "at least one issue succeeds: {results:?}");
    let got =
        assert_ok(&client.get(&format!("/subscribe/customers/{cu}")).await, "GET after the race");
    assert!(got["card_code"] == "367" || got["card_code"] == "381", "{got}");
    // The surviving key charges, and with the card it reports.
    let p = client.again_paid(&cu, &uid("after_race"), 1000).await;
    assert_eq!(p["card_code"], got["card_code"], "the charge uses the key GET shows: {p} vs {got}");
    let list = assert_ok(
        &client.get(&format!("/subscribe/customers?customer_uid[]={cu}")).await,
        "multi-get",
    );
    assert_eq!(list.as_array().unwrap().len(), 1, "one key per customer_uid: {list}");
}
