//! A database that refuses writes (security review finding 22): charges answer 503 with a
//! clear message, `/readyz` reports not ready, nothing reported failed is committed, and the
//! server recovers once writes succeed again.
//!
//! On PostgreSQL the test switches its own database to read-only
//! (`default_transaction_read_only`, as a standby or an operator would) and ends the server's
//! sessions so they reconnect under it. On SQLite it forbids the server's process to extend any
//! file (a file size limit, which fails writes as a full disk does). The SQLite writer's batch
//! rules (a batch SQLite rolled back) are unit tests in `crates/store/src/batch.rs`.

#[allow(unused_macros)]
mod common;

use std::time::Duration;

use common::*;
use serde_json::Value;
use sqlx::Connection;

const UNWRITABLE: &str = "데이터베이스에 기록할 수 없습니다";

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn read_only_database_answers_503_and_recovers() {
    let Some(backend) = Backend::postgres_from_env() else {
        skip(
            "unwritable::read_only_database_answers_503_and_recovers",
            &format!("{POSTGRES_ENV} not set (PostgreSQL-only scenario)"),
            REQUIRE_POSTGRES_ENV,
        );
        return;
    };
    let Backend::Postgres(admin_url) = &backend else { unreachable!() };
    let server = TestServer::start(&backend).await;
    let database = database_name(server.env.database_url.as_deref().unwrap());
    let (_, client) = server.merchant_client().await;
    let customer_uid = uid("cust");
    client.issue_key_ok(&customer_uid, CARD_OK).await;
    client.again_paid(&customer_uid, &uid("before"), 1_000).await;

    set_read_only(admin_url, &database, true).await;
    // Charges while the database refuses writes: each fails, and once the server's sessions
    // are back, with the message that says why.
    let mut refused: Vec<String> = Vec::new();
    let last = eventually(Duration::from_secs(30), "a charge refused as unwritable", || {
        let merchant_uid = uid("during");
        refused.push(merchant_uid.clone());
        let client = client.clone();
        let customer_uid = customer_uid.clone();
        async move {
            let (status, body) = client.again(&customer_uid, &merchant_uid, 1_000).await;
            assert_eq!(status, 503, "a write to a read-only database: {body}");
            is_unwritable(&body).then_some(body)
        }
    })
    .await;
    assert_failure(&(503, last), "charge on a read-only database");
    let readyz = eventually(Duration::from_secs(10), "/readyz reports the refusal", || {
        let client = client.clone();
        async move {
            let (status, body) = client.get("/readyz").await;
            (status == 503 && is_unwritable(&body)).then_some(body)
        }
    })
    .await;
    assert_eq!(readyz["code"], -1, "{readyz}");

    set_read_only(admin_url, &database, false).await;
    // The server's sessions were ended again: a request that meets one of them before the pool
    // notices gets a plain 503 (nothing written); then charges go through.
    eventually(Duration::from_secs(30), "a charge goes through again", || {
        let client = client.clone();
        let customer_uid = customer_uid.clone();
        async move {
            let (status, body) = client.again(&customer_uid, &uid("after"), 1_000).await;
            if status != 200 {
                assert_eq!(status, 503, "while sessions reconnect: {body}");
            }
            (status == 200 && body["response"]["status"] == "paid").then_some(())
        }
    })
    .await;
    let readyz = client.get("/readyz").await;
    assert_ok(&readyz, "/readyz once writes succeed");

    // Nothing reported failed was committed: the refused charges do not exist (so no PG was
    // ever asked to charge them: a charge is recorded pending before the PG is called).
    for merchant_uid in &refused {
        let (status, body) = client.get(&format!("/payments/find/{merchant_uid}")).await;
        assert_eq!(status, 404, "{merchant_uid} was refused, so it must not exist: {body}");
    }
}

fn is_unwritable(body: &Value) -> bool {
    body["message"].as_str().is_some_and(|message| message.contains(UNWRITABLE))
}

fn database_name(url: &str) -> String {
    let path = url.split('?').next().unwrap();
    path.rsplit('/').next().unwrap().to_owned()
}

/// Makes `database` read-only (or writable again) for new sessions, and ends its current ones
/// so that the server reconnects under the new default.
async fn set_read_only(admin_url: &str, database: &str, read_only: bool) {
    let mut admin = sqlx::PgConnection::connect(admin_url).await.unwrap();
    let value = if read_only { "on" } else { "off" };
    sqlx::query(&format!("ALTER DATABASE {database} SET default_transaction_read_only = {value}"))
        .execute(&mut admin)
        .await
        .unwrap();
    sqlx::query(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
         WHERE datname = $1 AND pid <> pg_backend_pid()",
    )
    .bind(database)
    .execute(&mut admin)
    .await
    .unwrap();
    admin.close().await.unwrap();
}

/// SQLite: the server's process may no longer extend any file (`prlimit --fsize`, as a full
/// disk: every commit's WAL write fails). Charges answer 503 with the message, `/readyz` says
/// not ready, nothing refused is committed; once the limit is lifted, the server recovers.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn full_disk_sqlite_answers_503_and_recovers() {
    let server = TestServer::start(&Backend::Sqlite).await;
    let (_, client) = server.merchant_client().await;
    let customer_uid = uid("cust");
    client.issue_key_ok(&customer_uid, CARD_OK).await;
    client.again_paid(&customer_uid, &uid("before"), 1_000).await;
    let pid = server.pid().unwrap();

    limit_file_size(pid, "1");
    let mut refused = Vec::new();
    for _ in 0..3 {
        let merchant_uid = uid("during");
        let (status, body) = client.again(&customer_uid, &merchant_uid, 1_000).await;
        assert_eq!(status, 503, "a charge on a full disk: {body}");
        assert!(is_unwritable(&body), "the message says why: {body}");
        assert_failure(&(status, body), "charge on a full disk");
        refused.push(merchant_uid);
    }
    let (status, body) = client.get("/readyz").await;
    assert_eq!(status, 503, "/readyz on a full disk: {body}");
    assert!(is_unwritable(&body), "{body}");

    limit_file_size(pid, "unlimited");
    let readyz = client.get("/readyz").await;
    assert_ok(&readyz, "/readyz once the disk has room");
    client.again_paid(&customer_uid, &uid("after"), 1_000).await;
    for merchant_uid in &refused {
        let (status, body) = client.get(&format!("/payments/find/{merchant_uid}")).await;
        assert_eq!(status, 404, "{merchant_uid} was refused, so it must not exist: {body}");
    }
    let approvals = server.ledger().into_iter().filter(|e| e["kind"] == "approval").count();
    assert_eq!(approvals, 2, "only the charges before and after the full disk were approved");
}

/// Sets the soft file size limit of process `pid` (`prlimit`, util-linux).
fn limit_file_size(pid: u32, soft: &str) {
    let status = std::process::Command::new("prlimit")
        .arg("--pid")
        .arg(pid.to_string())
        .arg(format!("--fsize={soft}:"))
        .status()
        .expect("run prlimit (util-linux)");
    assert!(status.success(), "prlimit --fsize={soft}: {status}");
}
