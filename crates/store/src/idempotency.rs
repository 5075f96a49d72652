//! `Idempotency-Key` records: the first response to a key is kept for 24 hours and replayed.
//! An in-progress claim holds a lease its server renews while the request runs; a claim whose
//! lease ran out belongs to a request that died, and a retry of the same request takes it over.

use sqlx::Row;

use crate::db::{Db, StoreError};

/// What a key already holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Claim {
    /// The key was free and is now ours: run the request, then [`complete`] it.
    Claimed,
    /// A finished request used the key: (request hash, HTTP status, body).
    Done { request_hash: String, status: u16, body: String },
    /// The first request with the key is still running.
    InProgress { request_hash: String },
}

/// Keys live this long.
pub const RETENTION_SECS: i64 = 24 * 3600;

/// An in-progress claim not renewed for this long is taken over by a retry.
pub const LEASE_SECS: i64 = 15;

/// Claims `key` for a request, or reports what holds it.
pub async fn claim(
    db: &Db,
    merchant_id: &str,
    key: &str,
    request_hash: &str,
    now: i64,
) -> Result<Claim, StoreError> {
    let mut tx = db.begin().await?;
    sqlx::query(
        "DELETE FROM idempotency_keys WHERE merchant_id = $1 AND idem_key = $2 AND created_at < $3",
    )
    .bind(merchant_id)
    .bind(key)
    .bind(now - RETENTION_SECS)
    .execute(&mut *tx)
    .await?;
    let inserted = sqlx::query(
        "INSERT INTO idempotency_keys (merchant_id, idem_key, request_hash, state, created_at, lease_until) VALUES ($1, $2, $3, 'in_progress', $4, $5) ON CONFLICT (merchant_id, idem_key) DO NOTHING",
    )
    .bind(merchant_id)
    .bind(key)
    .bind(request_hash)
    .bind(now)
    .bind(now + LEASE_SECS)
    .execute(&mut *tx)
    .await?;
    // Or take over the claim of the same request when its lease ran out (its server died).
    let claimed = inserted.rows_affected() == 1
        || {
            let taken = sqlx::query(
            "UPDATE idempotency_keys SET lease_until = $1 WHERE merchant_id = $2 AND idem_key = $3 AND request_hash = $4 AND state = 'in_progress' AND (lease_until IS NULL OR lease_until < $5)",
        )
        .bind(now + LEASE_SECS)
        .bind(merchant_id)
        .bind(key)
        .bind(request_hash)
        .bind(now)
        .execute(&mut *tx)
        .await?;
            taken.rows_affected() == 1
        };
    if claimed {
        tx.commit().await?;
        db.durable().await?;
        return Ok(Claim::Claimed);
    }
    let row = sqlx::query(
        "SELECT request_hash, state, response_status, response_body FROM idempotency_keys WHERE merchant_id = $1 AND idem_key = $2",
    )
    .bind(merchant_id)
    .bind(key)
    .fetch_one(&mut *tx)
    .await?;
    tx.commit().await?;
    let request_hash: String = row.try_get(0)?;
    let state: String = row.try_get(1)?;
    if state == "done" {
        let status: i64 = row.try_get::<Option<i64>, _>(2)?.unwrap_or(200);
        let body: String = row.try_get::<Option<String>, _>(3)?.unwrap_or_default();
        Ok(Claim::Done { request_hash, status: u16::try_from(status).unwrap_or(200), body })
    } else {
        Ok(Claim::InProgress { request_hash })
    }
}

/// Renews the lease of a claim whose request is still running.
pub async fn renew(db: &Db, merchant_id: &str, key: &str, now: i64) -> Result<(), StoreError> {
    sqlx::query(
        "UPDATE idempotency_keys SET lease_until = $1 WHERE merchant_id = $2 AND idem_key = $3 AND state = 'in_progress'",
    )
    .bind(now + LEASE_SECS)
    .bind(merchant_id)
    .bind(key)
    .execute(db.writer())
    .await?;
    Ok(())
}

/// Records the response of a claimed key.
pub async fn complete(
    db: &Db,
    merchant_id: &str,
    key: &str,
    status: u16,
    body: &str,
) -> Result<(), StoreError> {
    sqlx::query(
        "UPDATE idempotency_keys SET state = 'done', response_status = $1, response_body = $2 WHERE merchant_id = $3 AND idem_key = $4",
    )
    .bind(i64::from(status))
    .bind(body)
    .bind(merchant_id)
    .bind(key)
    .execute(db.writer())
    .await?;
    db.durable().await
}

/// Frees a claimed key whose request could not be answered (so a retry can run).
pub async fn release(db: &Db, merchant_id: &str, key: &str) -> Result<(), StoreError> {
    sqlx::query("DELETE FROM idempotency_keys WHERE merchant_id = $1 AND idem_key = $2 AND state = 'in_progress'")
        .bind(merchant_id)
        .bind(key)
        .execute(db.writer())
        .await?;
    db.durable().await
}
