//! The PG-neutral window over HTTP: the routes a PG's own window comes back to
//! (`/window/{id}/return`, `/window/{id}/cancel`) and the pages that hand the browser over.
//!
//! This build's only connector is the sandbox PG, whose window openimp hosts itself, so these
//! scenarios prove what holds for every connector: a hosted window records nothing before its
//! form is posted and accepts no PG return or close; returns are size-capped; unknown windows
//! are 404. A live connector's suite (KG Inicis, KICC, against their fakes) adds its scenarios
//! here with [`open_window`], [`pg_return`] and [`pg_close`]: a `Post`/`Script`/`Redirect`
//! hand-off, the return approved, declined, of another amount (net-cancelled), closed.

#[macro_use]
mod common;

use common::*;
use serde_json::{json, Value};

dual_backend_tests!(
    hosted_window_takes_no_pg_return,
    pg_return_is_size_capped,
    unknown_window_return_is_404,
);

const ORIGIN: &str = "http://127.0.0.1:9";

/// `POST /window/sessions` as the SDK sends it; the window's id.
pub async fn open_window(server: &TestServer, m: &Merchant, params: Value, mobile: bool) -> String {
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
    assert_eq!(body["code"], 0, "open window: {body}");
    body["response"]["id"].as_str().unwrap().to_owned()
}

/// The PG's return: `fields` posted as a form (`post`) or in the query (GET). Status and page.
pub async fn pg_return(
    server: &TestServer,
    id: &str,
    fields: &[(&str, &str)],
    post: bool,
) -> (u16, String) {
    let http = server.anon().http;
    let url = server.url(&format!("/window/{id}/return"));
    let request = if post {
        http.post(url)
            .header("Content-Type", "application/x-www-form-urlencoded")
            .body(form_encode(fields))
    } else {
        http.get(format!("{url}?{}", form_encode(fields)))
    };
    let resp = request.send().await.unwrap();
    (resp.status().as_u16(), resp.text().await.unwrap())
}

/// The PG's close (`close_url`).
pub async fn pg_close(server: &TestServer, id: &str) -> (u16, String) {
    let resp =
        server.anon().http.get(server.url(&format!("/window/{id}/cancel"))).send().await.unwrap();
    (resp.status().as_u16(), resp.text().await.unwrap())
}

fn payment_params(merchant_uid: &str) -> Value {
    json!({"pg": "html5_inicis", "pay_method": "card", "merchant_uid": merchant_uid,
           "amount": 1000, "name": "handoff", "buyer_tel": "010-1234-5678"})
}

async fn hosted_window_takes_no_pg_return(backend: Backend) {
    let server = TestServer::start(&backend).await;
    let (m, client) = server.merchant_client().await;
    let mu = uid("hosted");
    let id = open_window(&server, &m, payment_params(&mu), false).await;

    // The sandbox's hosted form: nothing recorded before it is posted.
    let page = server.anon().http.get(server.url(&format!("/window/{id}"))).send().await.unwrap();
    assert_eq!(page.status().as_u16(), 200);
    let page = page.text().await.unwrap();
    assert!(page.contains("name=\"card_number\""), "the hosted card form: {page}");
    let (_, found) = client.get(&format!("/payments/find/{mu}")).await;
    assert_ne!(found["code"], 0, "no attempt before the form is posted: {found}");

    // No PG return or close is taken for it, by POST or GET; nothing is recorded.
    for post in [true, false] {
        let (status, text) = pg_return(&server, &id, &[("resultCode", "0000")], post).await;
        assert_eq!(status, 409, "return (post={post}): {text}");
        assert!(text.contains("not handed to a PG"), "{text}");
    }
    let (status, text) = pg_close(&server, &id).await;
    assert_eq!(status, 409, "close: {text}");
    let (_, found) = client.get(&format!("/payments/find/{mu}")).await;
    assert_ne!(found["code"], 0, "still nothing recorded: {found}");

    // The window still works as the sandbox's.
    let result = submit_window(
        &server,
        &id,
        &[("card_number", CARD_OK), ("expiry", "12/39"), ("birth", BIRTH), ("pwd_2digit", PWD2)],
    )
    .await;
    assert!(result.contains("결제가 완료되었습니다"), "{result}");
    let paid = assert_ok(&client.get(&format!("/payments/find/{mu}")).await, "paid");
    assert_eq!(paid["status"], "paid", "{paid}");
    let (status, _) = pg_return(&server, &id, &[("resultCode", "0000")], true).await;
    assert_eq!(status, 409, "a finished hosted window takes no return either");
    assert_eq!(server.ledger_for(paid["imp_uid"].as_str().unwrap(), "approval").len(), 1);
}

async fn pg_return_is_size_capped(backend: Backend) {
    let server = TestServer::start(&backend).await;
    let m = server.create_merchant();
    let id = open_window(&server, &m, payment_params(&uid("big")), false).await;
    let big = "x".repeat(70 * 1024);
    let (status, text) = pg_return(&server, &id, &[("P_NOTI", &big)], true).await;
    assert_eq!(status, 400, "{text}");
    assert!(text.contains("too large"), "{text}");
    let many: Vec<(String, String)> = (0..300).map(|i| (format!("f{i}"), "1".to_owned())).collect();
    let many: Vec<(&str, &str)> = many.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let (status, text) = pg_return(&server, &id, &many, false).await;
    assert_eq!(status, 400, "{text}");
    // The window is untouched: its form still opens.
    let page = server.anon().http.get(server.url(&format!("/window/{id}"))).send().await.unwrap();
    assert!(page.text().await.unwrap().contains("name=\"card_number\""));
}

async fn unknown_window_return_is_404(backend: Backend) {
    let server = TestServer::start(&backend).await;
    let (status, _) = pg_return(&server, "win_00000000000000000000000000000000", &[], true).await;
    assert_eq!(status, 404);
    let (status, _) = pg_close(&server, "win_00000000000000000000000000000000").await;
    assert_eq!(status, 404);
}
