//! The one order validation (security review findings 12 and 21): length limits on every
//! free-text field of REST charges and schedules (i'mport's where the schema gives them), and the
//! shared merchant_uid / customer_uid check. Over a limit: a 400 envelope naming the field, and
//! nothing charged.

#[macro_use]
mod common;

use common::*;
use serde_json::{json, Value};

dual_backend_tests!(field_limits_on_charges_and_schedules, identifier_check,);

fn now() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64
}

#[track_caller]
fn assert_invalid_field(resp: &Resp, field: &str, what: &str) {
    assert_failure(resp, what);
    let (status, body) = resp;
    assert_eq!(*status, 400, "{what}: {body}");
    assert!(body["message"].as_str().unwrap().contains(field), "{what}: names {field}: {body}");
}

async fn field_limits_on_charges_and_schedules(backend: Backend) {
    let server = TestServer::start(&backend).await;
    let (_, c) = server.merchant_client().await;
    let key = uid("cust");
    c.issue_key_ok(&key, CARD_OK).await;

    // (field, the longest value accepted); one character more is refused.
    let limits: Vec<(&str, usize)> = vec![
        ("name", 40),
        ("buyer_name", 16),
        ("buyer_email", 64),
        ("buyer_tel", 16),
        ("buyer_addr", 128),
        ("buyer_postcode", 8),
        ("custom_data", 4096),
    ];
    for (field, max) in &limits {
        let over = "가".repeat(max + 1);
        let mu = uid("over");
        let body = json!({"customer_uid": key, "merchant_uid": mu, "amount": 1000, *field: over});
        let resp = c.post_json("/subscribe/payments/again", &body).await;
        assert_invalid_field(&resp, field, &format!("again {field}"));
        assert_eq!(
            c.get(&format!("/payments/find/{mu}")).await.0,
            404,
            "{field}: nothing recorded"
        );

        let body = json!({"merchant_uid": uid("over"), "amount": 1000, "card_number": CARD_OK,
                          "expiry": EXPIRY, "birth": BIRTH, "pwd_2digit": PWD2, *field: over});
        let resp = c.post_json("/subscribe/payments/onetime", &body).await;
        assert_invalid_field(&resp, field, &format!("onetime {field}"));

        let mut item =
            json!({"merchant_uid": uid("over"), "schedule_at": now() + 3600, "amount": 1000});
        item[*field] = Value::String(over.clone());
        let resp = c
            .post_json(
                "/subscribe/payments/schedule",
                &json!({"customer_uid": key, "schedules": [item]}),
            )
            .await;
        assert_invalid_field(&resp, field, &format!("schedule {field}"));
        assert!(resp.1["message"].as_str().unwrap().contains("schedules[0]"), "{}", resp.1);
    }
    // notice_url: a long URL is refused for its length before any address check.
    let long_url = format!("https://example.com/{}", "a".repeat(2048));
    let resp = c
        .post_json(
            "/subscribe/payments/again",
            &json!({"customer_uid": key, "merchant_uid": uid("url"), "amount": 1000, "notice_url": long_url}),
        )
        .await;
    assert_invalid_field(&resp, "notice_url", "again notice_url");
    // customer_id on onetime and schedule.
    let resp = c
        .post_json(
            "/subscribe/payments/schedule",
            &json!({"customer_uid": key, "customer_id": "x".repeat(101),
                    "schedules": [{"merchant_uid": uid("cid"), "schedule_at": now() + 3600, "amount": 1000}]}),
        )
        .await;
    assert_invalid_field(&resp, "customer_id", "schedule customer_id");

    // Every field at its limit is accepted and kept as sent.
    let mut body = json!({"customer_uid": key, "merchant_uid": uid("atlimit"), "amount": 1000});
    for (field, max) in &limits {
        body[*field] = Value::String("가".repeat(*max));
    }
    let paid = assert_ok(&c.post_json("/subscribe/payments/again", &body).await, "at the limits");
    assert_eq!(paid["status"], "paid", "{paid}");
    assert_eq!(paid["buyer_name"], "가".repeat(16));
    assert_eq!(paid["custom_data"], "가".repeat(4096));
    assert_eq!(
        server.ledger().iter().filter(|e| e["kind"] == "approval").count(),
        1,
        "only the valid charge reached the PG"
    );
}

async fn identifier_check(backend: Backend) {
    let server = TestServer::start(&backend).await;
    let (_, c) = server.merchant_client().await;
    let key = uid("cust");
    c.issue_key_ok(&key, CARD_OK).await;
    // Control characters are refused in a merchant_uid, on charges and on prepare alike.
    let resp = c.again(&key, "order\u{1}x", 1000).await;
    assert_invalid_field(&resp, "merchant_uid", "again with a control character");
    let resp = c
        .post_json("/payments/prepare", &json!({"merchant_uid": "pp\u{7f}1", "amount": 1000}))
        .await;
    assert_invalid_field(&resp, "merchant_uid", "prepare with a control character");
    // REST trims surrounding whitespace (as it always did): the charge is recorded trimmed.
    let mu = uid("trim");
    let paid = c.again_paid(&key, &format!("  {mu} "), 1000).await;
    assert_eq!(paid["merchant_uid"], mu.as_str(), "{paid}");
    // A customer_uid with a control character is refused where keys are issued.
    let resp = c.issue_key("bad\u{1}cu", CARD_OK).await;
    assert_invalid_field(&resp, "customer_uid", "issue with a control character");
}
