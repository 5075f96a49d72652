//! The sandbox's own schema (docs/decisions.md): a fresh sandbox database holds only the
//! sandbox's tables; a database the gateway's migrations built (every `sandbox.db` before the
//! sandbox had its own crate) opens unchanged, its ledger intact; one last opened before
//! migration 0011 gets the columns added since.

use std::time::Duration;

use openimp_sandbox::ledger::{insert_billing_key, list_billing_keys, BillingKeyRow};
use openimp_store::{Db, DbConfig, SqliteSync};

fn sqlite(path: &std::path::Path) -> DbConfig {
    DbConfig {
        url: format!("sqlite://{}", path.display()),
        max_connections: 2,
        acquire_timeout: Duration::from_secs(5),
        sqlite_sync: SqliteSync::Group,
        batch_writers: 1,
    }
}

async fn has_table(db: &Db, table: &str) -> bool {
    sqlx::query(&format!("SELECT 1 FROM {table} WHERE 1 = 0"))
        .fetch_optional(db.reader())
        .await
        .is_ok()
}

fn key(billing_key: &str) -> BillingKeyRow {
    BillingKeyRow {
        billing_key: billing_key.to_owned(),
        mid: "INIBillTst".to_owned(),
        behavior: "approve".to_owned(),
        card_code: "361".to_owned(),
        card_name: "BC카드".to_owned(),
        card_number: "409202******5678".to_owned(),
        card_type: 0,
        created_at: 1,
        deleted_at: 0,
    }
}

#[tokio::test]
async fn a_fresh_sandbox_database_holds_only_the_sandbox() {
    let dir = tempfile::tempdir().unwrap();
    let db = openimp_sandbox::open(&sqlite(&dir.path().join("sandbox.db"))).await.unwrap();
    assert!(has_table(&db, "sandbox_ledger").await && has_table(&db, "sandbox_billing_keys").await);
    for gateway_table in ["payments", "merchants", "channels", "schema_migrations"] {
        assert!(!has_table(&db, gateway_table).await, "{gateway_table} in the sandbox's database");
    }
    // Opening again is a no-op that keeps the rows.
    insert_billing_key(&db, &key("bk_fresh")).await.unwrap();
    db.close().await;
    let db = openimp_sandbox::open(&sqlite(&dir.path().join("sandbox.db"))).await.unwrap();
    assert_eq!(list_billing_keys(&db).await.unwrap().len(), 1);
}

#[tokio::test]
async fn a_database_the_gateway_migrations_built_opens_unchanged() {
    let dir = tempfile::tempdir().unwrap();
    let config = sqlite(&dir.path().join("sandbox.db"));
    let migrated = Db::connect(&config).await.unwrap();
    insert_billing_key(&migrated, &key("bk_old")).await.unwrap();
    migrated.close().await;
    let db = openimp_sandbox::open(&config).await.unwrap();
    let keys = list_billing_keys(&db).await.unwrap();
    assert_eq!(keys.len(), 1);
    assert_eq!(keys[0].billing_key, "bk_old");
}

#[tokio::test]
async fn a_ledger_from_before_0011_gets_its_new_columns() {
    let dir = tempfile::tempdir().unwrap();
    let config = sqlite(&dir.path().join("sandbox.db"));
    let old = Db::connect_without_migrating(&config).await.unwrap();
    sqlx::raw_sql(include_str!("../../store/migrations/0002_sandbox_pg.sql"))
        .execute(old.writer())
        .await
        .unwrap();
    assert!(sqlx::query("SELECT request_id FROM sandbox_ledger")
        .fetch_all(old.reader())
        .await
        .is_err());
    old.close().await;
    let db = openimp_sandbox::open(&config).await.unwrap();
    sqlx::query("SELECT request_id, behavior FROM sandbox_ledger")
        .fetch_all(db.reader())
        .await
        .unwrap();
}
