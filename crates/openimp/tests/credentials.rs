//! REST credentials (issue 9 point 3, review finding 15): failed getToken attempts are throttled
//! per imp_key and per client address and logged without the secret; `merchant rotate-secret`
//! issues a new secret and revokes every token; tokens are never stored in plaintext.

#[macro_use]
mod common;

use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use common::*;
use serde_json::{json, Value};
use sqlx::{Connection, Row};

dual_backend_tests!(
    rotate_secret_revokes_tokens_and_the_old_secret,
    tokens_are_stored_hashed_and_sealed
);

/// A client whose connections come from `source` (any 127.x address reaches the loopback).
fn client_from(server: &TestServer, source: Ipv4Addr) -> Client {
    let http = reqwest::Client::builder()
        .local_address(IpAddr::V4(source))
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap();
    Client { base: server.base_url.clone(), http, token: None }
}

async fn get_token(c: &Client, m: &Merchant, secret: &str) -> (u16, Value) {
    c.post_json("/users/getToken", &json!({"imp_key": m.imp_key, "imp_secret": secret})).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn failed_get_tokens_lock_the_key_and_the_address_for_the_window() {
    let opts = ServerOpts {
        env: vec![("OPENIMP_LOGIN_WINDOW_SECS".to_owned(), "3".to_owned())],
        ..ServerOpts::default()
    };
    let server = TestServer::start_with(&Backend::Sqlite, opts).await;
    let a = server.create_merchant();
    let b = server.create_merchant();
    let here = client_from(&server, Ipv4Addr::new(127, 0, 0, 1));
    let elsewhere = client_from(&server, Ipv4Addr::new(127, 0, 0, 2));

    let wrong = "wrong-secret-7f3a9c";
    let mut statuses = Vec::new();
    for _ in 0..20 {
        let (status, body) = get_token(&here, &a, wrong).await;
        assert_failure(&(status, body.clone()), "wrong secret");
        statuses.push(status);
    }
    assert_eq!(statuses[..10], [401; 10], "the first 10 failures are plain 401s");
    assert_eq!(statuses[10..], [429; 10], "then the key and the address are locked out");

    // Locked out even with the right secret: by key (from another address) and by address
    // (for another merchant's key).
    let (status, body) = get_token(&here, &a, &a.imp_secret).await;
    assert_eq!(status, 429, "{body}");
    assert!(body["message"].as_str().unwrap().contains("too many failed attempts"), "{body}");
    assert_eq!(get_token(&elsewhere, &a, &a.imp_secret).await.0, 429, "the key is locked");
    assert_eq!(get_token(&here, &b, &b.imp_secret).await.0, 429, "the address is locked");
    assert_eq!(get_token(&elsewhere, &b, &b.imp_secret).await.0, 200, "others are not");

    // Once the window ends the right secret works again.
    eventually(Duration::from_secs(15), "the lockout ends", || async {
        (get_token(&here, &a, &a.imp_secret).await.0 == 200).then_some(())
    })
    .await;
    assert_eq!(get_token(&here, &b, &b.imp_secret).await.0, 200);

    let logs = server.logs();
    let prefix: String = a.imp_key.chars().take(4).collect();
    assert!(
        logs.contains("getToken failed") && logs.contains(&prefix) && logs.contains("127.0.0.1"),
        "failures are logged with the key prefix and the address: {logs}"
    );
    assert!(!logs.contains(wrong), "the secret tried is never logged");
    assert!(!logs.contains(&a.imp_key), "the whole key is never logged");
}

async fn rotate_secret_revokes_tokens_and_the_old_secret(backend: Backend) {
    let server = TestServer::start(&backend).await;
    let env = server.env.clone();
    let (m, old_client) = server.merchant_client().await;
    let customer_uid = uid("cust");
    old_client.issue_key_ok(&customer_uid, CARD_OK).await;

    let rotated = env.cli_json(&["merchant", "rotate-secret", "--merchant", &m.imp_code, "--json"]);
    assert_eq!(rotated["imp_code"], m.imp_code.as_str());
    assert_eq!(rotated["imp_key"], m.imp_key.as_str(), "the key stays");
    let new_secret = rotated["imp_secret"].as_str().unwrap().to_owned();
    assert_ne!(new_secret, m.imp_secret);
    assert_eq!(new_secret.len(), 80);

    // The server's token cache re-checks the database within a second.
    eventually(Duration::from_secs(10), "the old token is revoked", || async {
        (old_client.get(&format!("/subscribe/customers/{customer_uid}")).await.0 == 401)
            .then_some(())
    })
    .await;
    let (status, body) = get_token(&server.anon(), &m, &m.imp_secret).await;
    assert_eq!(status, 401, "the old secret: {body}");
    let renewed = Merchant { imp_secret: new_secret, ..m.clone() };
    let client = server.client(&renewed).await;
    assert_ne!(client.token, old_client.token, "a new token");
    client.again_paid(&customer_uid, &uid("after"), 1000).await;

    let unknown = env.cli(&["merchant", "rotate-secret", "--merchant", "imp00000000"]);
    assert!(!unknown.success && unknown.stderr.contains("unknown merchant"), "{}", unknown.stderr);
}

async fn tokens_are_stored_hashed_and_sealed(backend: Backend) {
    let server = TestServer::start(&backend).await;
    let (_m, c) = server.merchant_client().await;
    let token = c.token.clone().unwrap();
    let rows: Vec<Vec<String>> = match &server.env.database_url {
        Some(url) => {
            let mut conn = sqlx::PgConnection::connect(url).await.unwrap();
            sqlx::query("SELECT token_hash, merchant_id, token_sealed FROM access_tokens")
                .fetch_all(&mut conn)
                .await
                .unwrap()
                .iter()
                .map(|r| (0..3).map(|i| r.get::<String, _>(i)).collect())
                .collect()
        }
        None => {
            let url = format!("sqlite://{}", server.data_dir().join("openimp.db").display());
            let mut conn = sqlx::SqliteConnection::connect(&url).await.unwrap();
            sqlx::query("SELECT token_hash, merchant_id, token_sealed FROM access_tokens")
                .fetch_all(&mut conn)
                .await
                .unwrap()
                .iter()
                .map(|r| (0..3).map(|i| r.get::<String, _>(i)).collect())
                .collect()
        }
    };
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert!(rows[0].iter().all(|column| !column.contains(&token)), "no plaintext token: {rows:?}");
    assert!(rows[0][2].starts_with("v1."), "the token is sealed for re-issue: {rows:?}");
}
