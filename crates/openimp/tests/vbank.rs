//! Pay methods of the sandbox window over plain HTTP (no browser): a bank transfer, and a virtual
//! account paid by `POST /sandbox/vbank/{imp_uid}/deposit`, with its refusals.

#[macro_use]
mod common;

use common::*;
use serde_json::{json, Value};

dual_backend_tests!(vbank_deposit_rules,);

/// Opens a window as the SDK does, submits `form` with the page's CSRF token, and returns the
/// imp_uid the result page shows.
async fn window_pay(
    server: &TestServer,
    m: &Merchant,
    params: Value,
    form: &[(&str, &str)],
) -> String {
    let http = server.anon().http;
    let opened: Value = http
        .post(server.url("/window/sessions"))
        .header("Origin", "http://127.0.0.1:9")
        .json(&json!({"imp_code": m.imp_code, "params": params, "mobile": false}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(opened["code"], 0, "open: {opened}");
    let id = opened["response"]["id"].as_str().unwrap().to_owned();
    let result = submit_window(server, &id, form).await;
    let imp_uid = result.split("imp_uid</dt><dd>").nth(1).unwrap_or_else(|| panic!("{result}"));
    imp_uid.split('<').next().unwrap().to_owned()
}

async fn vbank_deposit_rules(backend: Backend) {
    let server = TestServer::start(&backend).await;
    let (m, client) = server.merchant_client().await;
    let (_, other) = server.merchant_client().await;

    // A bank transfer: paid at once, with its bank; not a virtual account.
    let trans = window_pay(
        &server,
        &m,
        json!({"pg": "html5_inicis", "pay_method": "trans", "merchant_uid": uid("trans"), "amount": 7000, "buyer_tel": "010-1234-5678"}),
        &[("bank_code", "004")],
    )
    .await;
    let p = client.payment(&trans).await;
    assert_eq!(p["status"], "paid", "{p}");
    assert_eq!(p["bank_code"], "004");
    assert_eq!(p["bank_name"], "국민은행");
    let (_, body) = client.post_json(&format!("/sandbox/vbank/{trans}/deposit"), &json!({})).await;
    assert_ne!(body["code"], 0, "{body}");
    assert!(body["message"].as_str().unwrap().contains("가상계좌 결제가 아닙니다"), "{body}");

    // A virtual account: ready until the deposit.
    let vbank = window_pay(
        &server,
        &m,
        json!({"pg": "kicc", "pay_method": "vbank", "merchant_uid": uid("vbank"), "amount": 12000,
               "vbank_due": "2099-01-31"}),
        &[("bank_code", "088"), ("vbank_holder", "홍길동")],
    )
    .await;
    let p = client.payment(&vbank).await;
    assert_eq!(p["status"], "ready", "{p}");
    assert_eq!(p["vbank_name"], "신한은행");
    assert_eq!(p["vbank_holder"], "홍길동");
    assert!(p["vbank_num"].as_str().is_some_and(|n| n.len() >= 10), "{p}");
    assert!(server.ledger_for(&vbank, "approval").is_empty());

    // Another merchant's token: the payment does not exist for it.
    let (status, body) =
        other.post_json(&format!("/sandbox/vbank/{vbank}/deposit"), &json!({})).await;
    assert_eq!(status, 404, "{body}");
    assert_eq!(client.payment(&vbank).await["status"], "ready");

    let paid = assert_ok(
        &client.post_json(&format!("/sandbox/vbank/{vbank}/deposit"), &json!({})).await,
        "deposit",
    );
    assert_eq!(paid["status"], "paid", "{paid}");
    assert!(paid["paid_at"].as_i64().is_some_and(|t| t > 0));
    let approvals = server.ledger_for(&vbank, "approval");
    assert_eq!(approvals.len(), 1);
    assert_eq!(approvals[0]["amount"], 12000);

    // Twice: refused, nothing more approved.
    let (_, body) = client.post_json(&format!("/sandbox/vbank/{vbank}/deposit"), &json!({})).await;
    assert_ne!(body["code"], 0, "{body}");
    assert_eq!(server.ledger_for(&vbank, "approval").len(), 1);

    // A refund after the deposit takes the refund account fields.
    let cancelled = assert_ok(
        &client
            .cancel(&json!({"imp_uid": vbank, "reason": "환불", "refund_holder": "홍길동",
                            "refund_bank": "088", "refund_account": "110123456789"}))
            .await,
        "vbank refund",
    );
    assert_eq!(cancelled["status"], "cancelled", "{cancelled}");
}
