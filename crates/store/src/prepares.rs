//! Prepared orders (`/payments/prepare`): an amount registered ahead for a merchant_uid.

use sqlx::Row;

use crate::db::{Db, StoreError};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PrepareRow {
    pub merchant_uid: String,
    pub amount: i64,
    pub currency: Option<String>,
}

/// Registers a prepared amount. `Err(Conflict)` if the merchant_uid is already registered.
pub async fn insert(
    db: &Db,
    merchant_id: &str,
    prepare: &PrepareRow,
    now: i64,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO prepares (merchant_id, merchant_uid, amount, currency, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $5)",
    )
    .bind(merchant_id)
    .bind(&prepare.merchant_uid)
    .bind(prepare.amount)
    .bind(&prepare.currency)
    .bind(now)
    .execute(db.writer())
    .await?;
    db.durable().await
}

/// Changes a prepared amount. Returns whether the merchant_uid was registered.
pub async fn update(
    db: &Db,
    merchant_id: &str,
    prepare: &PrepareRow,
    now: i64,
) -> Result<bool, StoreError> {
    let result = sqlx::query(
        "UPDATE prepares SET amount = $1, currency = $2, updated_at = $3 WHERE merchant_id = $4 AND merchant_uid = $5",
    )
    .bind(prepare.amount)
    .bind(&prepare.currency)
    .bind(now)
    .bind(merchant_id)
    .bind(&prepare.merchant_uid)
    .execute(db.writer())
    .await?;
    db.durable().await?;
    Ok(result.rows_affected() > 0)
}

pub async fn get(
    db: &Db,
    merchant_id: &str,
    merchant_uid: &str,
) -> Result<Option<PrepareRow>, StoreError> {
    let row = sqlx::query(
        "SELECT merchant_uid, amount, currency FROM prepares WHERE merchant_id = $1 AND merchant_uid = $2",
    )
    .bind(merchant_id)
    .bind(merchant_uid)
    .fetch_optional(db.reader())
    .await?;
    row.map(|row| {
        Ok(PrepareRow {
            merchant_uid: row.try_get(0)?,
            amount: row.try_get(1)?,
            currency: row.try_get(2)?,
        })
    })
    .transpose()
    .map_err(|err: sqlx::Error| err.into())
}
