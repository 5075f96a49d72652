//! The sandbox PG's schema, created by the sandbox itself: idempotent, portable SQL (SQLite
//! and PostgreSQL), run every time its database is opened.
//!
//! The gateway's migrations 0002 and 0011 created these tables in the past (in the gateway's
//! database, and in `sandbox.db`, which was migrated like it); they stay in that history, since
//! applied migrations cannot be taken back. A database they built already has every table and
//! column here: each step below is then a no-op.

use openimp_store::{Db, StoreError};

/// The tables and indexes as they are now (migration 0002 plus 0011's columns).
const TABLES: &[&str] = &[
    "CREATE TABLE IF NOT EXISTS sandbox_billing_keys (
        billing_key TEXT PRIMARY KEY,
        mid TEXT NOT NULL,
        behavior TEXT NOT NULL,
        card_code TEXT NOT NULL,
        card_name TEXT NOT NULL,
        card_number TEXT NOT NULL,
        card_type BIGINT NOT NULL,
        created_at BIGINT NOT NULL,
        deleted_at BIGINT NOT NULL DEFAULT 0
    )",
    "CREATE TABLE IF NOT EXISTS sandbox_ledger (
        tid TEXT PRIMARY KEY,
        kind TEXT NOT NULL,
        mid TEXT NOT NULL,
        order_id TEXT NOT NULL,
        amount BIGINT NOT NULL,
        ref_tid TEXT,
        card_code TEXT NOT NULL,
        card_name TEXT NOT NULL,
        card_number TEXT NOT NULL,
        card_type BIGINT NOT NULL,
        apply_num TEXT NOT NULL,
        created_at BIGINT NOT NULL,
        created_at_us BIGINT NOT NULL,
        request_id TEXT,
        behavior TEXT
    )",
];

/// Columns added after a table's first shape: (table, column, its definition).
const ADDED_COLUMNS: &[(&str, &str, &str)] =
    &[("sandbox_ledger", "request_id", "TEXT"), ("sandbox_ledger", "behavior", "TEXT")];

const INDEXES: &[&str] = &[
    "CREATE INDEX IF NOT EXISTS sandbox_ledger_order ON sandbox_ledger (mid, order_id)",
    "CREATE INDEX IF NOT EXISTS sandbox_ledger_ref ON sandbox_ledger (ref_tid)",
    // A PG approves an order id at most once per MID.
    "CREATE UNIQUE INDEX IF NOT EXISTS sandbox_ledger_one_approval ON sandbox_ledger (mid, order_id) WHERE kind = 'approval'",
    // A cancel request id is recorded once.
    "CREATE UNIQUE INDEX IF NOT EXISTS sandbox_ledger_cancel_request ON sandbox_ledger (mid, request_id) WHERE request_id IS NOT NULL",
];

/// Creates whatever of the sandbox's schema is missing.
pub async fn ensure(db: &Db) -> Result<(), StoreError> {
    for statement in TABLES {
        sqlx::query(statement).execute(db.writer()).await?;
    }
    for (table, column, definition) in ADDED_COLUMNS {
        // A table made before the column was added (a database last opened before 0011).
        let probe = format!("SELECT {column} FROM {table} WHERE 1 = 0");
        if sqlx::query(&probe).fetch_optional(db.writer()).await.is_err() {
            sqlx::query(&format!("ALTER TABLE {table} ADD COLUMN {column} {definition}"))
                .execute(db.writer())
                .await?;
        }
    }
    for statement in INDEXES {
        sqlx::query(statement).execute(db.writer()).await?;
    }
    db.durable().await
}
