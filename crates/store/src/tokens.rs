//! REST access tokens. Looked up by hash; the token itself is kept sealed so that getToken can
//! hand the same token out again while it is valid (i'mport's rule), on any node.

use sqlx::Row;

use crate::db::{Db, StoreError};

#[derive(Debug, Clone)]
pub struct TokenRow {
    pub token_hash: String,
    pub merchant_id: String,
    pub token_sealed: String,
    pub issued_at: i64,
    pub expires_at: i64,
}

/// The merchant's token that is still valid at `now`, the one expiring last.
pub async fn current_for_merchant(
    db: &Db,
    merchant_id: &str,
    now: i64,
) -> Result<Option<TokenRow>, StoreError> {
    let row = sqlx::query(
        "SELECT token_hash, merchant_id, token_sealed, issued_at, expires_at FROM access_tokens WHERE merchant_id = $1 AND expires_at > $2 ORDER BY expires_at DESC LIMIT 1",
    )
    .bind(merchant_id)
    .bind(now)
    .fetch_optional(db.reader())
    .await?;
    row.map(|row| {
        Ok(TokenRow {
            token_hash: row.try_get(0)?,
            merchant_id: row.try_get(1)?,
            token_sealed: row.try_get(2)?,
            issued_at: row.try_get(3)?,
            expires_at: row.try_get(4)?,
        })
    })
    .transpose()
    .map_err(|err: sqlx::Error| err.into())
}

/// The merchant's valid token, or `new` stored as that token if it has none: one transaction
/// that holds the merchant's row, so concurrent first calls all get the same token. None when
/// the merchant's secret is no longer `secret_hash` (rotated since the caller checked it): no
/// token may outlive a rotation.
pub async fn current_or_insert(
    db: &Db,
    new: &TokenRow,
    secret_hash: &str,
) -> Result<Option<TokenRow>, StoreError> {
    let mut tx = db.begin().await?;
    let current_hash: Option<String> = sqlx::query_scalar(&format!(
        "SELECT secret_hash FROM merchants WHERE imp_code = $1{}",
        db.for_update()
    ))
    .bind(&new.merchant_id)
    .fetch_optional(&mut *tx)
    .await?;
    if current_hash.as_deref() != Some(secret_hash) {
        tx.rollback().await?;
        return Ok(None);
    }
    let row = sqlx::query(
        "SELECT token_hash, merchant_id, token_sealed, issued_at, expires_at FROM access_tokens WHERE merchant_id = $1 AND expires_at > $2 ORDER BY expires_at DESC LIMIT 1",
    )
    .bind(&new.merchant_id)
    .bind(new.issued_at)
    .fetch_optional(&mut *tx)
    .await?;
    if let Some(row) = row {
        let current = TokenRow {
            token_hash: row.try_get(0)?,
            merchant_id: row.try_get(1)?,
            token_sealed: row.try_get(2)?,
            issued_at: row.try_get(3)?,
            expires_at: row.try_get(4)?,
        };
        tx.rollback().await?;
        return Ok(Some(current));
    }
    sqlx::query("DELETE FROM access_tokens WHERE merchant_id = $1 AND expires_at < $2")
        .bind(&new.merchant_id)
        .bind(new.issued_at - 86_400)
        .execute(&mut *tx)
        .await?;
    sqlx::query(
        "INSERT INTO access_tokens (token_hash, merchant_id, token_sealed, issued_at, expires_at) VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(&new.token_hash)
    .bind(&new.merchant_id)
    .bind(&new.token_sealed)
    .bind(new.issued_at)
    .bind(new.expires_at)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    db.durable().await?;
    Ok(Some(new.clone()))
}

/// Moves a token's expiry forward (never backward: another node may have extended it already).
pub async fn extend(db: &Db, token_hash: &str, expires_at: i64) -> Result<i64, StoreError> {
    sqlx::query(
        "UPDATE access_tokens SET expires_at = $1 WHERE token_hash = $2 AND expires_at < $1",
    )
    .bind(expires_at)
    .bind(token_hash)
    .execute(db.writer())
    .await?;
    db.durable().await?;
    let row = sqlx::query("SELECT expires_at FROM access_tokens WHERE token_hash = $1")
        .bind(token_hash)
        .fetch_one(db.reader())
        .await?;
    Ok(row.try_get(0)?)
}

/// (merchant_id, expires_at) of a token, by its hash.
pub async fn lookup(db: &Db, token_hash: &str) -> Result<Option<(String, i64)>, StoreError> {
    let row =
        sqlx::query("SELECT merchant_id, expires_at FROM access_tokens WHERE token_hash = $1")
            .bind(token_hash)
            .fetch_optional(db.reader())
            .await?;
    Ok(row.map(|row| Ok::<_, sqlx::Error>((row.try_get(0)?, row.try_get(1)?))).transpose()?)
}

/// Every token (master-key rotation re-wraps their sealed copies).
pub async fn list_all(db: &Db) -> Result<Vec<(String, String, String)>, StoreError> {
    let rows = sqlx::query("SELECT token_hash, merchant_id, token_sealed FROM access_tokens")
        .fetch_all(db.reader())
        .await?;
    Ok(rows
        .iter()
        .map(|row| Ok::<_, sqlx::Error>((row.try_get(0)?, row.try_get(1)?, row.try_get(2)?)))
        .collect::<Result<_, _>>()?)
}

pub async fn set_sealed(db: &Db, token_hash: &str, sealed: &str) -> Result<(), StoreError> {
    sqlx::query("UPDATE access_tokens SET token_sealed = $1 WHERE token_hash = $2")
        .bind(sealed)
        .bind(token_hash)
        .execute(db.writer())
        .await?;
    db.durable().await
}
