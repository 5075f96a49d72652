//! The store suites' backends: a fresh SQLite file, or a fresh PostgreSQL database when
//! `OPENIMP_TEST_POSTGRES_URL` is set (dropped by the test at its end).

use std::time::Duration;

use openimp_store::{Db, DbConfig, SqliteSync};

pub const POSTGRES_ENV: &str = "OPENIMP_TEST_POSTGRES_URL";

pub fn config(url: String) -> DbConfig {
    DbConfig {
        url,
        max_connections: 4,
        acquire_timeout: Duration::from_secs(5),
        sqlite_sync: SqliteSync::Group,
        batch_writers: 1,
    }
}

/// A fresh SQLite store in a temporary directory (kept alive by the returned guard).
pub async fn sqlite() -> (Db, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("tempdir");
    let url = format!("sqlite://{}", dir.path().join("openimp.db").display());
    (Db::connect(&config(url)).await.expect("connect sqlite"), dir)
}

/// A fresh PostgreSQL database (its admin url and name, to drop it), or None when the variable
/// is not set (said on stderr, as the integration suites do).
pub async fn postgres() -> Option<(Db, String, String)> {
    let Some(admin) = std::env::var(POSTGRES_ENV).ok().filter(|s| !s.trim().is_empty()) else {
        eprintln!("skipped: {POSTGRES_ENV} not set");
        return None;
    };
    use sqlx::Connection;
    let name = format!("openimp_store_test_{}", openimp_core::ids::random_hex(6));
    let mut conn = sqlx::PgConnection::connect(&admin).await.expect("connect admin");
    sqlx::query(&format!("CREATE DATABASE {name}")).execute(&mut conn).await.expect("create db");
    let (base, _) = admin.rsplit_once('/').expect("a database in the url");
    let db = Db::connect(&config(format!("{base}/{name}"))).await.expect("connect postgres");
    Some((db, admin, name))
}

pub async fn drop_postgres(admin: &str, name: &str) {
    use sqlx::Connection;
    let mut conn = sqlx::PgConnection::connect(admin).await.expect("connect admin");
    sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        .execute(&mut conn)
        .await
        .expect("drop db");
}
