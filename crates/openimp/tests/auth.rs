//! POST /users/getToken, the three ways to pass a token, and the OpenAPI document.

#[macro_use]
mod common;

use common::*;
use serde_json::{json, Value};

dual_backend_tests!(
    get_token_json_and_form,
    get_token_failures,
    token_headers,
    openapi_document,
    content_type_variants,
    errors_are_json_envelopes,
    concurrent_get_token_all_valid,
    concurrent_get_token_same_token,
);

async fn get_token_json_and_form(backend: Backend) {
    let server = TestServer::start(&backend).await;
    let m = server.create_merchant();
    assert!(
        m.imp_code.starts_with("imp")
            && m.imp_code.len() == 11
            && m.imp_code[3..].bytes().all(|b| b.is_ascii_digit()),
        "imp_code should be imp + 8 digits: {}",
        m.imp_code
    );
    let anon = server.anon();

    let first = anon
        .post_json("/users/getToken", &json!({"imp_key": m.imp_key, "imp_secret": m.imp_secret}))
        .await;
    let r = assert_ok(&first, "getToken (JSON)");
    let token = r["access_token"].as_str().expect("access_token is a string").to_owned();
    assert!(token.len() >= 20, "token looks too short: {token}");
    let now = r["now"].as_i64().expect("now is an integer");
    let expired_at = r["expired_at"].as_i64().expect("expired_at is an integer");
    assert_eq!(expired_at - now, 1800, "a fresh token lives 30 minutes: {r}");
    let wall = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs()
        as i64;
    assert!((now - wall).abs() <= 5, "now is the server's clock in UNIX seconds: {now} vs {wall}");

    // Form-urlencoded: the same token, the same expiry.
    let second = anon
        .post_form("/users/getToken", &[("imp_key", &m.imp_key), ("imp_secret", &m.imp_secret)])
        .await;
    let r2 = assert_ok(&second, "getToken (form)");
    assert_eq!(
        r2["access_token"],
        token.as_str(),
        "getToken before expiry hands out the same token"
    );
    assert_eq!(r2["expired_at"], expired_at, "and the same expired_at");

    // A second merchant gets a different token.
    let other = server.create_merchant();
    let third = anon
        .post_json(
            "/users/getToken",
            &json!({"imp_key": other.imp_key, "imp_secret": other.imp_secret}),
        )
        .await;
    let r3 = assert_ok(&third, "getToken (other merchant)");
    assert_ne!(r3["access_token"], token.as_str(), "two merchants never share a token");
}

async fn get_token_failures(backend: Backend) {
    let server = TestServer::start(&backend).await;
    let m = server.create_merchant();
    let anon = server.anon();

    let wrong_secret = anon
        .post_json("/users/getToken", &json!({"imp_key": m.imp_key, "imp_secret": "wrong-secret"}))
        .await;
    assert_eq!(wrong_secret.0, 401, "wrong secret: {}", wrong_secret.1);
    assert_eq!(wrong_secret.1["code"], -1, "wrong secret: {}", wrong_secret.1);
    assert_failure(&wrong_secret, "wrong secret");

    let unknown_key = anon
        .post_json(
            "/users/getToken",
            &json!({"imp_key": "no-such-key", "imp_secret": m.imp_secret}),
        )
        .await;
    assert_eq!(unknown_key.0, 401, "unknown key: {}", unknown_key.1);
    assert_eq!(unknown_key.1["code"], -1, "unknown key: {}", unknown_key.1);

    // The secret of one merchant does not open another.
    let other = server.create_merchant();
    let crossed = anon
        .post_json(
            "/users/getToken",
            &json!({"imp_key": m.imp_key, "imp_secret": other.imp_secret}),
        )
        .await;
    assert_eq!(crossed.0, 401, "key of A with secret of B: {}", crossed.1);

    for (what, body) in [
        ("missing both", json!({})),
        ("missing secret", json!({"imp_key": m.imp_key})),
        ("missing key", json!({"imp_secret": m.imp_secret})),
    ] {
        let resp = anon.post_json("/users/getToken", &body).await;
        assert_eq!(resp.0, 400, "{what}: {}", resp.1);
        assert_failure(&resp, what);
    }
    let form_missing = anon.post_form("/users/getToken", &[("imp_key", &m.imp_key)]).await;
    assert_eq!(form_missing.0, 400, "form, missing secret: {}", form_missing.1);
    assert_failure(&form_missing, "form, missing secret");
}

async fn token_headers(backend: Backend) {
    let server = TestServer::start(&backend).await;
    let m = server.create_merchant();
    let client = server.client(&m).await;
    let token = client.token.clone().unwrap();
    let path = "/payments/status/all";

    // Authorization: <token> (the client's default)
    let bare = client.get(path).await;
    assert_ok(&bare, "Authorization: <token>");

    let anon = server.anon();
    let bearer = anon
        .send(
            anon.request(reqwest::Method::GET, path)
                .header("Authorization", format!("Bearer {token}")),
        )
        .await;
    assert_ok(&bearer, "Authorization: Bearer <token>");

    let imp_header = anon
        .send(anon.request(reqwest::Method::GET, path).header("X-ImpTokenHeader", &token))
        .await;
    assert_ok(&imp_header, "X-ImpTokenHeader");

    let none = anon.get(path).await;
    assert_eq!(none.0, 401, "no token: {}", none.1);
    assert_eq!(none.1["code"], -1, "no token: {}", none.1);
    assert_failure(&none, "no token");

    for bad in ["deadbeef", "Bearer deadbeef", "Bearer ", ""] {
        let resp =
            anon.send(anon.request(reqwest::Method::GET, path).header("Authorization", bad)).await;
        assert_eq!(resp.0, 401, "Authorization: {bad:?}: {}", resp.1);
        assert_ne!(resp.1["code"], 0, "Authorization: {bad:?}: {}", resp.1);
    }
    let bad_imp = anon
        .send(anon.request(reqwest::Method::GET, path).header("X-ImpTokenHeader", "nope"))
        .await;
    assert_eq!(bad_imp.0, 401, "bad X-ImpTokenHeader: {}", bad_imp.1);

    // Protected POST endpoints too.
    let post = anon
        .post_json(
            "/subscribe/payments/again",
            &json!({"customer_uid": "x", "merchant_uid": "y", "amount": 1000}),
        )
        .await;
    assert_eq!(post.0, 401, "again without a token: {}", post.1);
    let post =
        anon.post_json("/payments/prepare", &json!({"merchant_uid": "y", "amount": 1000})).await;
    assert_eq!(post.0, 401, "prepare without a token: {}", post.1);
}

async fn openapi_document(backend: Backend) {
    let server = TestServer::start(&backend).await;
    // A public document: no token needed.
    let doc = server.anon().get("/openapi.json").await;
    assert_eq!(doc.0, 200, "GET /openapi.json: {}", doc.1);
    let v: &Value = &doc.1;
    assert!(
        v["openapi"].as_str().is_some_and(|version| version.starts_with("3.")),
        "not an OpenAPI document: {}",
        &v.to_string()[..v.to_string().len().min(300)]
    );
    let paths = v["paths"].as_object().expect("paths object");
    let has = |p: &str| {
        // Accept {param} names of the server's choosing: compare with the braces' contents erased.
        let norm = |s: &str| {
            let mut out = String::new();
            let mut depth = 0;
            for c in s.chars() {
                match c {
                    '{' => {
                        depth += 1;
                        out.push('{');
                    }
                    '}' => {
                        depth -= 1;
                        out.push('}');
                    }
                    _ if depth > 0 => {}
                    _ => out.push(c),
                }
            }
            out
        };
        paths.keys().any(|k| norm(k) == norm(p))
    };
    let expected = [
        "/users/getToken",
        "/users/pg",
        "/banks",
        "/banks/{bank_standard_code}",
        "/cards",
        "/cards/{card_standard_code}",
        "/subscribe/customers/{customer_uid}",
        "/subscribe/customers",
        "/subscribe/customers/{customer_uid}/payments",
        "/subscribe/payments/onetime",
        "/subscribe/payments/again",
        "/payments/{imp_uid}",
        "/payments",
        "/payments/find/{merchant_uid}",
        "/payments/findAll/{merchant_uid}",
        "/payments/status/{payment_status}",
        "/payments/cancel",
        "/payments/prepare",
        "/payments/prepare/{merchant_uid}",
    ];
    // find/findAll may be documented with their optional status segment only.
    let missing: Vec<&str> = expected
        .iter()
        .copied()
        .filter(|p| !(has(p) || has(&format!("{p}/{{payment_status}}"))))
        .collect();
    assert!(
        missing.is_empty(),
        "OpenAPI paths missing {missing:?}; has {:?}",
        paths.keys().collect::<Vec<_>>()
    );
}

async fn content_type_variants(backend: Backend) {
    let server = TestServer::start(&backend).await;
    let m = server.create_merchant();
    let anon = server.anon();
    // Java/PHP clients send a charset; jQuery sends one with forms.
    let json_body = json!({"imp_key": m.imp_key, "imp_secret": m.imp_secret}).to_string();
    for ct in ["application/json; charset=utf-8", "application/json;charset=UTF-8"] {
        let resp = anon
            .send(
                anon.request(reqwest::Method::POST, "/users/getToken")
                    .header("Content-Type", ct)
                    .body(json_body.clone()),
            )
            .await;
        assert_ok(&resp, ct);
    }
    let form_body = form_encode(&[("imp_key", &m.imp_key), ("imp_secret", &m.imp_secret)]);
    let ct = "application/x-www-form-urlencoded; charset=UTF-8";
    let resp = anon
        .send(
            anon.request(reqwest::Method::POST, "/users/getToken")
                .header("Content-Type", ct)
                .body(form_body),
        )
        .await;
    assert_ok(&resp, ct);

    // A lower-case scheme is still Bearer.
    let token = resp.1["response"]["access_token"].as_str().unwrap().to_owned();
    let lower = anon
        .send(
            anon.request(reqwest::Method::GET, "/payments/status/all")
                .header("Authorization", format!("bearer {token}")),
        )
        .await;
    assert_ok(&lower, "Authorization: bearer <token>");
}

async fn errors_are_json_envelopes(backend: Backend) {
    let server = TestServer::start(&backend).await;
    let (_, client) = server.merchant_client().await;
    // Every error carries the envelope, so the Java client can read `message` on a 4xx.
    let cases = [
        ("unknown route", client.get("/no/such/route").await, 404),
        (
            "method not allowed",
            client.send(client.request(reqwest::Method::PATCH, "/payments/prepare")).await,
            405,
        ),
        (
            "malformed JSON",
            client
                .send(
                    client
                        .request(reqwest::Method::POST, "/payments/prepare")
                        .header("Content-Type", "application/json")
                        .body("{not json"),
                )
                .await,
            400,
        ),
        ("bad status", client.get("/payments/status/nope").await, 400),
        ("bad page", client.get("/payments/status/all?page=0").await, 400),
        ("non-integer limit", client.get("/payments/status/all?limit=abc").await, 400),
    ];
    for (what, resp, status) in cases {
        assert_eq!(resp.0, status, "{what}: {}", resp.1);
        assert_failure(&resp, what);
    }
}

async fn concurrent_get_token(server: &TestServer, m: &Merchant) -> Vec<String> {
    let anon = server.anon();
    let futs = (0..20).map(|_| {
        let anon = anon.clone();
        let body = json!({"imp_key": m.imp_key, "imp_secret": m.imp_secret});
        async move { anon.post_json("/users/getToken", &body).await }
    });
    let results = futures::future::join_all(futs).await;
    results
        .iter()
        .map(|r| {
            let resp = assert_ok(r, "concurrent getToken");
            resp["access_token"].as_str().unwrap().to_owned()
        })
        .collect()
}

/// Twenty merchant servers asking for a token at once (no token yet): every token handed out
/// must authenticate.
async fn concurrent_get_token_all_valid(backend: Backend) {
    let server = TestServer::start(&backend).await;
    let m = server.create_merchant();
    let tokens = concurrent_get_token(&server, &m).await;
    let anon = server.anon();
    for t in &tokens {
        let resp = anon.with_token(Some(t)).get("/payments/status/all").await;
        assert_ok(&resp, &format!("token {t} from a concurrent getToken"));
    }
    // A later getToken returns one of them.
    let later = server.client(&m).await.token.unwrap();
    assert!(tokens.contains(&later), "a later getToken returns an issued token");
}

/// The contract says a getToken before expiry returns the same token; that should hold when
/// the first calls race too (several web servers sharing one token is the point of the rule).
async fn concurrent_get_token_same_token(backend: Backend) {
    let server = TestServer::start(&backend).await;
    let m = server.create_merchant();
    let tokens = concurrent_get_token(&server, &m).await;
    let mut distinct = tokens;
    distinct.sort();
    distinct.dedup();
    assert_eq!(
        distinct.len(),
        1,
        "20 concurrent first getToken calls got {} distinct tokens",
        distinct.len()
    );
}
