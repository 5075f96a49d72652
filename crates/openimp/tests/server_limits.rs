//! The server's timeouts and connection cap, over raw TCP (a slow client is something reqwest
//! will not pretend to be): a half-sent head is dropped after the header timeout, a half-sent
//! body is answered 408 after the body timeout, and with every connection slot taken by slow
//! clients a new client waits, then is served once they are dropped. A request past its
//! deadline is answered 408, and the deadline must exceed the PG timeout.

#[macro_use]
mod common;

use std::time::Duration;

use common::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

dual_backend_tests!(
    half_sent_head_is_dropped,
    half_sent_body_is_answered_408,
    slow_clients_do_not_starve_others,
    a_request_past_its_deadline_is_answered_408,
);

fn opts(vars: &[(&str, &str)]) -> ServerOpts {
    ServerOpts {
        env: vars.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect(),
        ..ServerOpts::default()
    }
}

async fn connect(server: &TestServer) -> TcpStream {
    let address = server.base_url.trim_start_matches("http://");
    TcpStream::connect(address).await.expect("connect")
}

/// Reads until the server closes the connection (or resets it); what it sent first.
async fn read_until_closed(stream: &mut TcpStream, what: &str) -> String {
    let mut received = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match tokio::time::timeout(Duration::from_secs(60), stream.read(&mut buf)).await {
            Err(_) => panic!("{what}: the server kept the connection open for 60 s"),
            Ok(Ok(0)) | Ok(Err(_)) => break,
            Ok(Ok(n)) => received.extend_from_slice(&buf[..n]),
        }
    }
    String::from_utf8_lossy(&received).into_owned()
}

/// The JSON body of a raw HTTP/1.1 answer.
fn body_of(raw: &str) -> serde_json::Value {
    let body = raw.split_once("\r\n\r\n").map_or("", |(_, body)| body);
    to_value(body.trim())
}

async fn half_sent_head_is_dropped(backend: Backend) {
    let server =
        TestServer::start_with(&backend, opts(&[("OPENIMP_HEADER_TIMEOUT_SECS", "1")])).await;
    let mut slow = connect(&server).await;
    slow.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n").await.expect("write");
    let received = read_until_closed(&mut slow, "half-sent head").await;
    assert!(!received.contains(" 200 "), "no answer to a head never finished: {received}");
    assert_ok(&server.anon().get("/healthz").await, "a full request afterwards");
}

async fn half_sent_body_is_answered_408(backend: Backend) {
    let server =
        TestServer::start_with(&backend, opts(&[("OPENIMP_BODY_TIMEOUT_SECS", "1")])).await;
    let mut slow = connect(&server).await;
    slow.write_all(
        b"POST /users/getToken HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{",
    )
    .await
    .expect("write");
    let received = read_until_closed(&mut slow, "half-sent body").await;
    assert!(received.starts_with("HTTP/1.1 408"), "a body that never came: {received}");
    let body = body_of(&received);
    assert_failure(&(408, body.clone()), "408 answer");
    assert_eq!(body["code"], -1, "{body}");
    assert_ok(&server.anon().get("/healthz").await, "a full request afterwards");
}

async fn slow_clients_do_not_starve_others(backend: Backend) {
    let server = TestServer::start_with(
        &backend,
        opts(&[("OPENIMP_MAX_HTTP_CONNECTIONS", "5"), ("OPENIMP_HEADER_TIMEOUT_SECS", "5")]),
    )
    .await;
    let mut slow = Vec::new();
    for _ in 0..5 {
        let mut stream = connect(&server).await;
        stream.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n").await.expect("write");
        slow.push(stream);
    }
    // Every slot is taken: a sixth client is not served while the slow ones hold them.
    let mut patient = connect(&server).await;
    patient
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .await
        .expect("write");
    let mut first = [0u8; 1];
    let early = tokio::time::timeout(Duration::from_secs(1), patient.read(&mut first)).await;
    assert!(early.is_err(), "the sixth connection was served while five slots were held");
    // The server drops the slow clients at their header timeout; the sixth is then served.
    let answer = read_until_closed(&mut patient, "the sixth client").await;
    assert!(answer.starts_with("HTTP/1.1 200"), "the sixth client: {answer}");
    assert_eq!(body_of(&answer)["response"]["status"], "ok", "{answer}");
    for (i, stream) in slow.iter_mut().enumerate() {
        let left = read_until_closed(stream, "a slow client").await;
        assert!(!left.contains(" 200 "), "slow client {i} was answered: {left}");
    }
}

async fn a_request_past_its_deadline_is_answered_408(backend: Backend) {
    let env = Env::new(&backend).await;
    let merchant = env.create_merchant();
    let cu = uid("cust");
    {
        let server = TestServer::start_in(env.clone(), ServerOpts::default()).await;
        server.client(&merchant).await.issue_key_ok(&cu, CARD_OK).await;
    }
    // A deadline no longer than the PG timeout is refused at start.
    let refused = env.cli(&["serve", "--listen", "127.0.0.1:0", "--request-timeout-secs", "30"]);
    assert!(!refused.success, "serve started with a deadline equal to the PG timeout");
    assert!(refused.stderr.contains("--request-timeout-secs"), "{}", refused.stderr);
    // Every PG call is bounded by the PG timeout, so a request outlives the deadline only when
    // something else stalls it: here the database, locked by another session for longer.
    let server = TestServer::start_in(
        env.clone(),
        ServerOpts {
            extra_args: ["--pg-timeout-secs", "1", "--request-timeout-secs", "2"]
                .map(str::to_owned)
                .to_vec(),
            ..ServerOpts::default()
        },
    )
    .await;
    let client = server.client(&merchant).await;
    let lock = DatabaseLock::take(&env).await;
    let resp = client
        .post_json(
            "/payments/prepare",
            &serde_json::json!({"merchant_uid": uid("pp"), "amount": 1000}),
        )
        .await;
    lock.release().await;
    assert_eq!(resp.0, 408, "{}", resp.1);
    assert_failure(&resp, "a request past its deadline");
    assert_eq!(resp.1["code"], -1, "{}", resp.1);
    assert_ok(&server.anon().get("/healthz").await, "a request afterwards");
}

/// A write lock on the server's database held by another session (SQLite: `BEGIN IMMEDIATE` on
/// the file; PostgreSQL: the `prepares` table locked), so the server's writes wait behind it.
enum DatabaseLock {
    Sqlite(sqlx::SqliteConnection),
    Postgres(sqlx::PgConnection),
}

impl DatabaseLock {
    async fn take(env: &Env) -> DatabaseLock {
        use sqlx::Connection;
        match &env.database_url {
            Some(url) => {
                let mut conn = sqlx::PgConnection::connect(url).await.unwrap();
                sqlx::query("BEGIN").execute(&mut conn).await.unwrap();
                sqlx::query("LOCK TABLE prepares IN ACCESS EXCLUSIVE MODE")
                    .execute(&mut conn)
                    .await
                    .unwrap();
                DatabaseLock::Postgres(conn)
            }
            None => {
                let url = format!("sqlite://{}", env.path().join("openimp.db").display());
                let mut conn = sqlx::SqliteConnection::connect(&url).await.unwrap();
                sqlx::query("BEGIN IMMEDIATE").execute(&mut conn).await.unwrap();
                DatabaseLock::Sqlite(conn)
            }
        }
    }

    async fn release(self) {
        match self {
            DatabaseLock::Sqlite(mut conn) => {
                sqlx::query("ROLLBACK").execute(&mut conn).await.unwrap();
            }
            DatabaseLock::Postgres(mut conn) => {
                sqlx::query("ROLLBACK").execute(&mut conn).await.unwrap();
            }
        }
    }
}
