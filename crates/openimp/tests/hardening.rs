//! What a client sends cannot crash, hang or exhaust the server, and every answer is the
//! envelope: nested bracket keys, oversized URIs and headers, bad UTF-8 in a path, unknown
//! methods in metrics, trailing slashes, field and list caps.

#[macro_use]
mod common;

use common::*;
use serde_json::json;

dual_backend_tests!(
    deeply_nested_keys_are_refused,
    too_many_parameters_are_refused,
    bad_utf8_in_a_path_is_an_envelope,
    oversized_uri_and_headers_are_envelopes,
    unknown_methods_and_paths_add_no_metrics,
    routes_answer_with_a_trailing_slash,
    cancel_reason_is_capped,
    unschedule_list_is_capped,
    idempotency_key_length_is_capped,
    get_token_is_never_recorded_by_idempotency,
);

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

async fn bad_utf8_in_a_path_is_an_envelope(backend: Backend) {
    let server = TestServer::start(&backend).await;
    let (_, client) = server.merchant_client().await;
    for path in ["/payments/%ff%fe", "/subscribe/payments/schedule/%ff", "/window/%ff"] {
        let resp = client.get(path).await;
        assert_refused_naming(&resp, 400, "UTF-8", &format!("GET {path}"));
    }
}

async fn oversized_uri_and_headers_are_envelopes(backend: Backend) {
    let server = TestServer::start(&backend).await;
    let anon = server.anon();
    // A 50 KB request target: over the server's cap, under hyper's own (which cannot answer in
    // the envelope).
    let long_path = format!("/payments/{}", "x".repeat(50 * 1024));
    let resp = anon.get(&long_path).await;
    assert_refused_naming(&resp, 414, "49152", "a 50 KB path");
    // One 70 KB header.
    let request =
        anon.request(reqwest::Method::GET, "/healthz").header("X-Padding", "p".repeat(70 * 1024));
    let resp = anon.send(request).await;
    assert_refused_naming(&resp, 431, "65536", "a 70 KB header");
    // 150 header lines.
    let mut request = anon.request(reqwest::Method::GET, "/healthz");
    for i in 0..150 {
        request = request.header(format!("X-Many-{i}"), "v");
    }
    let resp = anon.send(request).await;
    assert_refused_naming(&resp, 431, "100", "150 headers");
    assert_alive(&server, "oversized heads").await;
}

/// The `openimp_http_*` series on /metrics (names and labels, without values).
async fn http_series(server: &TestServer) -> std::collections::BTreeSet<String> {
    let text = server
        .anon()
        .request(reqwest::Method::GET, "/metrics")
        .send()
        .await
        .expect("GET /metrics")
        .text()
        .await
        .expect("metrics text");
    text.lines()
        .filter(|line| line.starts_with("openimp_http_"))
        .filter_map(|line| line.rsplit_once(' ').map(|(series, _)| series.to_owned()))
        .collect()
}

async fn unknown_methods_and_paths_add_no_metrics(backend: Backend) {
    use rand::Rng;
    let server = TestServer::start(&backend).await;
    let anon = server.anon();
    let odd = |name: &str| reqwest::Method::from_bytes(name.as_bytes()).expect("a method token");
    // Every label the scenario can produce, once: an unknown method on a known route, an
    // unknown path, and /metrics itself.
    anon.send(anon.request(odd("WARMUP"), "/healthz")).await;
    anon.get("/no/such/path").await;
    http_series(&server).await;
    let before = http_series(&server).await;
    let mut rng = rand::thread_rng();
    for _ in 0..20 {
        let method = odd(&format!("M{}", rng.gen_range(0..u32::MAX)));
        let resp = anon.send(anon.request(method.clone(), "/healthz")).await;
        assert_refused_naming(&resp, 405, "Method", &format!("{method} /healthz"));
        let path = format!("/random/{}", rng.gen_range(0..u32::MAX));
        let resp = anon.send(anon.request(method, &path)).await;
        assert_eq!(resp.0, 404, "{path}: {}", resp.1);
    }
    let after = http_series(&server).await;
    let added: Vec<&String> = after.difference(&before).collect();
    assert!(added.is_empty(), "new metric series: {added:#?}");
    assert!(
        before.iter().any(|series| series.contains("method=\"OTHER\"")),
        "unknown methods share the OTHER label: {before:#?}"
    );
}

async fn routes_answer_with_a_trailing_slash(backend: Backend) {
    let server = TestServer::start(&backend).await;
    let (_, client) = server.merchant_client().await;
    let cu = uid("cust");
    client.issue_key_ok(&cu, CARD_OK).await;
    let mu = uid("slash");
    let resp = client
        .post_json(
            "/subscribe/payments/again/",
            &json!({"customer_uid": cu, "merchant_uid": mu, "amount": 1500, "name": "slash"}),
        )
        .await;
    let paid = assert_ok(&resp, "POST /subscribe/payments/again/");
    assert_eq!(paid["status"], "paid", "{paid}");
    let found = assert_ok(&client.get(&format!("/payments/findAll/{mu}/")).await, "findAll/");
    assert_eq!(found["total"], 1, "{found}");
    let imp_uid = paid["imp_uid"].as_str().expect("imp_uid");
    let one = assert_ok(&client.get(&format!("/payments/{imp_uid}/")).await, "payments/{id}/");
    assert_eq!(one["imp_uid"], imp_uid);
    // An unauthenticated POST reaches its handler too (401 for bad credentials, not 404).
    let resp = server
        .anon()
        .post_json("/users/getToken/", &json!({"imp_key": "nobody", "imp_secret": "wrong"}))
        .await;
    assert_refused_naming(&resp, 401, "API키", "POST /users/getToken/ with bad credentials");
}

async fn cancel_reason_is_capped(backend: Backend) {
    let server = TestServer::start(&backend).await;
    let (_, client) = server.merchant_client().await;
    let paid = client.onetime_paid(&uid("reason"), 2000).await;
    let imp_uid = paid["imp_uid"].as_str().expect("imp_uid");
    let resp = client
        .cancel(&json!({"imp_uid": imp_uid, "amount": 100, "reason": "사".repeat(1001)}))
        .await;
    assert_refused_naming(&resp, 400, "reason", "a 1,001-character reason");
    assert!(server.ledger_for(imp_uid, "cancel").is_empty(), "a refused cancel reached the PG");
    let resp = client
        .cancel(&json!({"imp_uid": imp_uid, "amount": 100, "reason": "사".repeat(1000)}))
        .await;
    let cancelled = assert_ok(&resp, "a 1,000-character reason");
    assert_eq!(cancelled["cancel_amount"], 100, "{cancelled}");
}

async fn unschedule_list_is_capped(backend: Backend) {
    let server = TestServer::start(&backend).await;
    let (_, client) = server.merchant_client().await;
    let cu = uid("cust");
    client.issue_key_ok(&cu, CARD_OK).await;
    let names: Vec<String> = (0..101).map(|i| format!("mu_{i}")).collect();
    let resp = client
        .post_json(
            "/subscribe/payments/unschedule",
            &json!({"customer_uid": cu, "merchant_uid": names}),
        )
        .await;
    assert_refused_naming(&resp, 400, "merchant_uid", "unschedule with 101 merchant_uids");
}

async fn idempotency_key_length_is_capped(backend: Backend) {
    let server = TestServer::start(&backend).await;
    let (_, client) = server.merchant_client().await;
    let body = json!({"merchant_uid": uid("m"), "amount": 1000});
    let resp = client.post_json_idem("/payments/prepare", &"k".repeat(256), &body).await;
    assert_refused_naming(&resp, 400, "Idempotency-Key", "a 256-character key");
    let resp = client.post_json_idem("/payments/prepare", &"k".repeat(255), &body).await;
    assert_ok(&resp, "a 255-character key");
    // A keyed body is read once, under the same cap as any body.
    let huge = json!({"merchant_uid": uid("m"), "amount": 1000, "padding": "p".repeat(300 * 1024)});
    let resp = client.post_json_idem("/payments/prepare", &uid("key"), &huge).await;
    assert_refused_naming(&resp, 400, "262144", "a 300 KB body with a key");
}

/// Rows in the idempotency table, read from the database itself.
async fn idempotency_rows(server: &TestServer) -> Vec<String> {
    use sqlx::Row;
    sqlx::any::install_default_drivers();
    let url = match &server.env.database_url {
        Some(url) => url.clone(),
        None => format!("sqlite://{}?mode=ro", server.data_dir().join("openimp.db").display()),
    };
    let pool = sqlx::AnyPool::connect(&url).await.expect("open the database");
    let rows = sqlx::query("SELECT idem_key, COALESCE(response_body, '') FROM idempotency_keys")
        .fetch_all(&pool)
        .await
        .expect("read idempotency_keys");
    pool.close().await;
    rows.iter()
        .map(|row| format!("{} {}", row.get::<String, _>(0), row.get::<String, _>(1)))
        .collect()
}

async fn get_token_is_never_recorded_by_idempotency(backend: Backend) {
    let server = TestServer::start(&backend).await;
    let (merchant, client) = server.merchant_client().await;
    let token_key = uid("gettoken");
    let resp = client
        .post_json_idem(
            "/users/getToken",
            &token_key,
            &json!({"imp_key": merchant.imp_key, "imp_secret": merchant.imp_secret}),
        )
        .await;
    let issued = assert_ok(&resp, "getToken with an Idempotency-Key");
    let token = issued["access_token"].as_str().expect("access_token").to_owned();
    // Another keyed POST is recorded, so the table is the right place to look.
    let prepare_key = uid("prepare");
    let body = json!({"merchant_uid": uid("m"), "amount": 1000});
    assert_ok(&client.post_json_idem("/payments/prepare", &prepare_key, &body).await, "prepare");
    let rows = idempotency_rows(&server).await;
    assert_eq!(rows.len(), 1, "only the prepare is recorded: {rows:#?}");
    assert!(rows[0].starts_with(&prepare_key), "{rows:#?}");
    assert!(rows.iter().all(|row| !row.contains(&token)), "an access token was stored: {rows:#?}");
}
