//! The PG-neutral window end to end over HTTP, against the scripted live connector (built
//! with `--features scripted-pg`; see `crates/openimp/src/scripted_pg.rs`): the test plays the
//! PG's browser side. Every hand-off kind, and every way a return is recorded: paid, another
//! amount (net-cancelled, or pending when the net-cancel fails), declined, tampered, unknown,
//! closed, a billing key into the vault, a key the window may not keep; the redirect (mobile)
//! ending, a refund of a window payment, a return posted twice at once approved once, a late
//! return of a payment the reconciler failed not approved at all.
//!
//! Run: `cargo test -p openimp --features scripted-pg --test window_scripted`.

#[macro_use]
mod common;

use common::*;
use serde_json::{json, Value};

dual_backend_tests!(
    post_handoff_then_paid,
    other_amount_is_net_cancelled,
    declined_tampered_unknown_and_closed,
    key_window_stores_the_key_in_the_vault,
    script_and_redirect_handoffs,
    a_return_posted_twice_at_once_is_approved_once,
    a_late_return_of_a_failed_payment_is_not_approved,
);

const ORIGIN: &str = "http://127.0.0.1:9";
const PG_HOST: &str = "http://127.0.0.1:9";

/// A merchant with a live `scripted_pg` channel (its `--endpoint` stands in for the PG host).
async fn live_merchant(server: &TestServer) -> (Merchant, Client) {
    let (m, client) = server.merchant_client().await;
    let added = server.env.cli_json(&[
        "channel",
        "add",
        "--merchant",
        &m.imp_code,
        "--pg-provider",
        "scripted_pg",
        "--mid",
        "SCRIPT01",
        "--test-mode",
        "false",
        "--endpoint",
        PG_HOST,
    ]);
    assert_eq!(added["test_mode"], false, "{added}");
    (m, client)
}

async fn open(server: &TestServer, m: &Merchant, params: Value, mobile: bool) -> String {
    let resp = server
        .anon()
        .http
        .post(server.url("/window/sessions"))
        .header("Origin", ORIGIN)
        .json(&json!({"imp_code": m.imp_code, "params": params, "mobile": mobile}))
        .send()
        .await
        .unwrap();
    let body = to_value(&resp.text().await.unwrap());
    assert_eq!(body["code"], 0, "open: {body}");
    body["response"]["id"].as_str().unwrap().to_owned()
}

fn params(merchant_uid: &str, amount: i64) -> Value {
    json!({"pg": "scripted_pg", "pay_method": "card", "merchant_uid": merchant_uid,
           "amount": amount, "name": "scripted", "buyer_tel": "010-1234-5678",
           "buyer_name": "홍길동"})
}

/// The window page: status, CSP, Location, body.
async fn page(server: &TestServer, id: &str) -> (u16, String, String, String) {
    let http =
        reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let resp = http.get(server.url(&format!("/window/{id}"))).send().await.unwrap();
    let header = |name: &str| {
        resp.headers().get(name).map(|v| v.to_str().unwrap().to_owned()).unwrap_or_default()
    };
    let (status, csp, location) =
        (resp.status().as_u16(), header("content-security-policy"), header("location"));
    (status, csp, location, resp.text().await.unwrap())
}

/// The value of hidden field `name` on a hand-off page.
fn hidden(page: &str, name: &str) -> String {
    page.split(&format!(r#"name="{name}" value=""#))
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .unwrap_or_else(|| panic!("no hidden {name} in {page}"))
        .replace("&amp;", "&")
}

/// The PG's return (a form POST, as the PG's page sends the browser back); status and page.
async fn pg_return(
    server: &TestServer,
    id: &str,
    fields: &[(&str, &str)],
) -> (u16, String, String) {
    let http =
        reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let resp = http
        .post(server.url(&format!("/window/{id}/return")))
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body(form_encode(fields))
        .send()
        .await
        .unwrap();
    let location =
        resp.headers().get("location").map(|v| v.to_str().unwrap().to_owned()).unwrap_or_default();
    (resp.status().as_u16(), location, resp.text().await.unwrap())
}

/// The callback's `rsp` posted by a result page.
fn rsp_of(page: &str) -> Value {
    let json = page
        .split("var m=")
        .nth(1)
        .and_then(|rest| rest.split(";var w=").next())
        .unwrap_or_else(|| panic!("no result message in {page}"));
    serde_json::from_str::<Value>(json).unwrap()["rsp"].clone()
}

async fn find(client: &Client, merchant_uid: &str) -> Value {
    assert_ok(&client.get(&format!("/payments/find/{merchant_uid}")).await, merchant_uid)
}

async fn post_handoff_then_paid(backend: Backend) {
    let server = TestServer::start(&backend).await;
    let (m, client) = live_merchant(&server).await;
    let mu = uid("post");
    let id = open(&server, &m, params(&mu, 12000), false).await;

    let (status, csp, _, body) = page(&server, &id).await;
    assert_eq!(status, 200, "{body}");
    assert!(body.contains(&format!(r#"action="{PG_HOST}/pay""#)), "{body}");
    assert!(body.contains(r#"accept-charset="EUC-KR""#), "{body}");
    assert!(csp.contains(&format!("form-action {PG_HOST}")), "{csp}");
    assert!(csp.contains("script-src 'nonce-") && !csp.contains("unsafe-eval"), "{csp}");
    assert!(csp.contains(&format!("frame-ancestors {ORIGIN}")), "{csp}");
    let oid = hidden(&body, "oid");
    assert_eq!(hidden(&body, "price"), "12000");
    assert!(hidden(&body, "returnUrl").ends_with(&format!("/window/{id}/return")), "{body}");
    assert!(hidden(&body, "closeUrl").ends_with(&format!("/window/{id}/cancel")), "{body}");

    // Recorded before the browser left for the PG, under the order id the PG sees.
    let pending = find(&client, &mu).await;
    assert_eq!(pending["imp_uid"], oid, "{pending}");
    assert_eq!(pending["status"], "ready", "{pending}");
    assert_eq!(pending["pg_provider"], "scripted_pg", "{pending}");
    // A reload shows the same hand-off: no second attempt.
    let (_, _, _, again) = page(&server, &id).await;
    assert_eq!(hidden(&again, "oid"), oid);

    let (status, _, result) = pg_return(&server, &id, &[("oid", &oid), ("result", "paid")]).await;
    assert_eq!(status, 200, "{result}");
    let rsp = rsp_of(&result);
    assert_eq!(rsp["success"], true, "{rsp}");
    assert_eq!(rsp["imp_uid"], oid);
    let paid = find(&client, &mu).await;
    assert_eq!(paid["status"], "paid", "{paid}");
    assert_eq!(paid["amount"], 12000);
    assert_eq!(paid["pg_tid"], format!("T{oid}"));
    assert_eq!(paid["receipt_url"], format!("https://pg.invalid/receipt/{oid}"));
    assert_eq!(paid["card_name"], "BC카드");

    // The PG posting twice gets the recorded result, nothing recorded twice.
    let (_, _, twice) = pg_return(&server, &id, &[("oid", &oid), ("result", "declined")]).await;
    assert_eq!(rsp_of(&twice)["success"], true);
    assert_eq!(find(&client, &mu).await["status"], "paid");

    // The window payment is refunded through the connector that charged it.
    let cancelled =
        assert_ok(&client.cancel(&json!({"imp_uid": oid, "reason": "환불"})).await, "refund");
    assert_eq!(cancelled["status"], "cancelled", "{cancelled}");
    assert_eq!(cancelled["cancel_history"][0]["pg_tid"], format!("CT{oid}"), "{cancelled}");
}

async fn other_amount_is_net_cancelled(backend: Backend) {
    let server = TestServer::start(&backend).await;
    let (m, client) = live_merchant(&server).await;
    for (net_cancel, status) in [("ok", "failed"), ("fail", "ready")] {
        let mu = uid("mismatch");
        let id = open(&server, &m, params(&mu, 5000), false).await;
        let oid = hidden(&page(&server, &id).await.3, "oid");
        let fields = [
            ("oid", oid.as_str()),
            ("result", "paid"),
            ("approved_amount", "4999"),
            ("net_cancel", net_cancel),
        ];
        let (_, _, result) = pg_return(&server, &id, &fields).await;
        let rsp = rsp_of(&result);
        assert_eq!(rsp["success"], false, "{rsp}");
        let payment = find(&client, &mu).await;
        assert_eq!(payment["status"], status, "net_cancel={net_cancel}: {payment}");
        if status == "failed" {
            assert!(
                payment["fail_reason"].as_str().unwrap().contains("승인금액 불일치"),
                "{payment}"
            );
        }
    }
}

async fn declined_tampered_unknown_and_closed(backend: Backend) {
    let server = TestServer::start(&backend).await;
    let (m, client) = live_merchant(&server).await;

    let mu = uid("declined");
    let id = open(&server, &m, params(&mu, 3000), false).await;
    let oid = hidden(&page(&server, &id).await.3, "oid");
    let (_, _, result) = pg_return(&server, &id, &[("oid", &oid), ("result", "declined")]).await;
    assert_eq!(rsp_of(&result)["error_code"], "51", "{result}");
    let failed = find(&client, &mu).await;
    assert_eq!(failed["status"], "failed");
    assert_eq!(failed["fail_reason"], "[51] 잔액부족");

    let mu = uid("tampered");
    let id = open(&server, &m, params(&mu, 3000), false).await;
    hidden(&page(&server, &id).await.3, "oid");
    let (_, _, result) =
        pg_return(&server, &id, &[("oid", "imp_000000000000"), ("result", "paid")]).await;
    assert_eq!(rsp_of(&result)["success"], false, "{result}");
    assert_eq!(find(&client, &mu).await["status"], "failed", "a return for another order");

    let mu = uid("unknown");
    let id = open(&server, &m, params(&mu, 3000), false).await;
    let oid = hidden(&page(&server, &id).await.3, "oid");
    let (_, _, result) = pg_return(&server, &id, &[("oid", &oid), ("result", "unknown")]).await;
    assert_eq!(rsp_of(&result)["error_code"], "F0009", "{result}");
    assert_eq!(find(&client, &mu).await["status"], "ready", "left for the reconciler");

    let mu = uid("closed");
    let id = open(&server, &m, params(&mu, 3000), false).await;
    let oid = hidden(&page(&server, &id).await.3, "oid");
    let closed = server.anon().http.get(server.url(&format!("/window/{id}/cancel"))).send().await;
    let closed = closed.unwrap().text().await.unwrap();
    let rsp = rsp_of(&closed);
    assert_eq!(rsp["error_code"], "F1002", "{rsp}");
    assert_eq!(rsp["imp_uid"], oid);
    let payment = find(&client, &mu).await;
    assert_eq!(payment["status"], "failed");
    assert_eq!(payment["fail_reason"], "사용자가 결제를 취소하셨습니다");
    // A late return after the close is not approved: the recorded result stands.
    let (_, _, late) = pg_return(&server, &id, &[("oid", &oid), ("result", "paid")]).await;
    assert_eq!(rsp_of(&late)["success"], false);
    assert_eq!(find(&client, &mu).await["status"], "failed");

    // A payment window answered with a billing key: nothing asked for it, undone.
    let mu = uid("stray_key");
    let id = open(&server, &m, params(&mu, 3000), false).await;
    let oid = hidden(&page(&server, &id).await.3, "oid");
    let fields = [("oid", oid.as_str()), ("result", "key"), ("force", "1")];
    pg_return(&server, &id, &fields).await;
    assert_eq!(find(&client, &mu).await["status"], "failed");
}

async fn key_window_stores_the_key_in_the_vault(backend: Backend) {
    let server = TestServer::start(&backend).await;
    let (m, client) = live_merchant(&server).await;
    let cu = uid("live_key");
    let mu = uid("issue");
    let mut p = params(&mu, 0);
    p["customer_uid"] = json!(cu);
    let id = open(&server, &m, p.clone(), false).await;
    // A second window for the same customer_uid, opened before the key exists.
    let mu2 = uid("issue2");
    let mut p2 = p.clone();
    p2["merchant_uid"] = json!(mu2);
    let id2 = open(&server, &m, p2, false).await;

    let oid = hidden(&page(&server, &id).await.3, "oid");
    let (_, _, result) = pg_return(&server, &id, &[("oid", &oid), ("result", "key")]).await;
    let rsp = rsp_of(&result);
    assert_eq!(rsp["success"], true, "{rsp}");
    let key = assert_ok(&client.get(&format!("/subscribe/customers/{cu}")).await, "the key");
    assert_eq!(key["pg_provider"], "scripted_pg", "{key}");
    assert_eq!(key["card_number"], "910020******1234", "{key}");
    let record = find(&client, &mu).await;
    assert_eq!(record["status"], "paid", "{record}");
    assert_eq!(record["amount"], 0, "the issue record charges nothing: {record}");
    assert_eq!(record["customer_uid_usage"], "issue", "{record}");

    // The second window may not replace the live key (nothing prepared): refused before any
    // approval, the first key kept.
    let oid2 = hidden(&page(&server, &id2).await.3, "oid");
    let (_, _, result) = pg_return(&server, &id2, &[("oid", &oid2), ("result", "key")]).await;
    assert_eq!(rsp_of(&result)["success"], false, "{result}");
    assert_eq!(find(&client, &mu2).await["status"], "failed");

    // The key is live: it is sent to the connector that issued it (which charges nothing by
    // key: a failure from the PG, not a refusal before it) ...
    let charged = assert_ok(&client.again(&cu, &uid("again"), 1000).await, "again on a live key");
    assert_eq!(charged["status"], "failed", "{charged}");
    assert!(charged["fail_reason"].as_str().unwrap().contains("PG 요청 실패"), "{charged}");
    // ... and refused once its channel is back in test mode.
    server.env.cli_json(&[
        "channel",
        "update",
        "--merchant",
        &m.imp_code,
        "--pg-provider",
        "scripted_pg",
        "--mid",
        "SCRIPT01",
        "--test-mode",
        "true",
    ]);
    let refusal = client.again(&cu, &uid("again_test"), 1000).await;
    assert_failure(&refusal, "a live key on a test-mode channel");
    assert!(
        refusal.1["message"].as_str().unwrap().contains("실거래 모드(scripted_pg)"),
        "{refusal:?}"
    );
}

async fn script_and_redirect_handoffs(backend: Backend) {
    let server = TestServer::start(&backend).await;
    let (m, client) = live_merchant(&server).await;

    let mu = uid("script");
    let mut p = params(&mu, 2000);
    p["pay_method"] = json!("trans");
    let id = open(&server, &m, p, false).await;
    let (status, csp, _, body) = page(&server, &id).await;
    assert_eq!(status, 200);
    assert!(body.contains(&format!(r#"src="{PG_HOST}/pay.js""#)), "{body}");
    assert!(body.contains("ScriptedPg.pay('pg')"), "{body}");
    assert!(
        csp.contains("script-src 'nonce-") && csp.contains(&format!("{PG_HOST}; connect-src")),
        "{csp}"
    );
    // The PG's frame may show the PG, and then openimp's return page; nothing else.
    assert!(csp.contains(&format!("frame-src {PG_HOST} 'self';")), "{csp}");

    // Mobile with m_redirect_url: the browser is redirected to the PG, and back to the shop.
    let mu = uid("mobile");
    let mut p = params(&mu, 2500);
    p["m_redirect_url"] = json!("https://shop.example/done?x=1");
    let id = open(&server, &m, p, true).await;
    let (status, _, location, _) = page(&server, &id).await;
    assert_eq!(status, 303);
    let oid = location.split("oid=").nth(1).unwrap().to_owned();
    assert_eq!(location, format!("{PG_HOST}/pay?oid={oid}"));
    let http =
        reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let back = http
        .get(server.url(&format!("/window/{id}/return?oid={oid}&result=paid")))
        .send()
        .await
        .unwrap();
    assert_eq!(back.status().as_u16(), 302);
    let shop = back.headers()["location"].to_str().unwrap().to_owned();
    assert!(shop.starts_with("https://shop.example/done?x=1&imp_uid="), "{shop}");
    assert!(
        shop.contains(&format!("imp_uid={oid}")) && shop.contains("imp_success=true"),
        "{shop}"
    );
    assert_eq!(find(&client, &mu).await["status"], "paid");
}

/// A double submit (or the back button) posts the PG's return twice at once: one of them
/// claims the window and approves; the other is told the result is being recorded (or gets
/// the recorded result), never a second approval, and the kept approval is not net-cancelled
/// (the scripted PG refuses to refund an order approved twice or net-cancelled).
async fn a_return_posted_twice_at_once_is_approved_once(backend: Backend) {
    let server = TestServer::start(&backend).await;
    let (m, client) = live_merchant(&server).await;
    let mu = uid("twice");
    let id = open(&server, &m, params(&mu, 7000), false).await;
    let oid = hidden(&page(&server, &id).await.3, "oid");
    // The approval is held long enough for both posts to reach the window before it ends.
    let fields = [("oid", oid.as_str()), ("result", "paid"), ("delay_ms", "300")];
    let (first, second) =
        tokio::join!(pg_return(&server, &id, &fields), pg_return(&server, &id, &fields));
    let mut approved = 0;
    for (status, _, body) in [&first, &second] {
        if *status == 200 {
            let rsp = rsp_of(body);
            assert_eq!(rsp["success"], true, "{rsp}");
            assert_eq!(rsp["imp_uid"], oid, "{rsp}");
            approved += 1;
        } else {
            assert_eq!(*status, 409, "{body}");
            assert!(body.contains("결제 결과를 기록하는 중입니다"), "{body}");
        }
    }
    assert!(approved >= 1, "one of the posts shows the payment: {first:?} {second:?}");
    let paid = find(&client, &mu).await;
    assert_eq!(paid["status"], "paid", "{paid}");
    assert_eq!(paid["pg_tid"], format!("T{oid}"), "{paid}");
    // Posted again afterwards: the recorded result, still one approval.
    let (_, _, again) = pg_return(&server, &id, &fields).await;
    assert_eq!(rsp_of(&again)["success"], true, "{again}");

    let cancelled =
        assert_ok(&client.cancel(&json!({"imp_uid": oid, "reason": "환불"})).await, "refund");
    assert_eq!(cancelled["status"], "cancelled", "approved once, never undone: {cancelled}");
}

/// The customer stays at the PG past the window's expiry; the reconciler, finding nothing at
/// the PG, fails the payment. The return that comes afterwards is not approved (the PG's
/// authentication lapses): no approval, so no net-cancel that could fail and leave the money
/// at the PG under a failed record.
async fn a_late_return_of_a_failed_payment_is_not_approved(backend: Backend) {
    let opts = ServerOpts {
        reconcile_interval_secs: Some(1),
        reconcile_after_secs: Some(0),
        extra_args: ["--pg-timeout-secs", "1", "--window-session-ttl-secs", "1"]
            .map(str::to_owned)
            .to_vec(),
        ..ServerOpts::default()
    };
    let server = TestServer::start_with(&backend, opts).await;
    let (m, client) = live_merchant(&server).await;
    let mu = uid("late");
    let id = open(&server, &m, params(&mu, 4000), false).await;
    let oid = hidden(&page(&server, &id).await.3, "oid");
    let mut status = String::new();
    for _ in 0..100 {
        status = find(&client, &mu).await["status"].as_str().unwrap_or_default().to_owned();
        if status == "failed" {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(status, "failed", "the reconciler fails a window left at its PG past its expiry");

    let (_, _, late) = pg_return(&server, &id, &[("oid", &oid), ("result", "paid")]).await;
    let rsp = rsp_of(&late);
    assert_eq!(rsp["success"], false, "{rsp}");
    assert_eq!(rsp["imp_uid"], oid, "{rsp}");
    assert_eq!(find(&client, &mu).await["status"], "failed");
    let metrics = server.anon().http.get(server.url("/metrics")).send().await.unwrap();
    let metrics = metrics.text().await.unwrap();
    let approvals: Vec<&str> = metrics
        .lines()
        .filter(|l| l.starts_with("openimp_pg_calls_total") && l.contains("complete_window"))
        .collect();
    assert!(approvals.is_empty(), "no approval was asked of the PG: {approvals:?}");
}
