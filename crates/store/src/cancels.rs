//! Cancels: reserving part of a payment's balance before the PG is called, then recording the
//! PG's answer (done, or the reservation given back).
//!
//! The reservation and the cancel row are written in one transaction, so two cancels can never
//! reserve more than the payment's amount between them, and a cancel whose PG answer was lost
//! stays `pending` with its amount reserved until the reconciler settles it.

use std::collections::HashMap;

use sqlx::any::AnyRow;
use sqlx::Row;

use crate::db::{Db, StoreError};
use crate::webhooks::NewWebhook;

/// A cancel, as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CancelRow {
    pub cancellation_id: String,
    pub imp_uid: String,
    pub merchant_id: String,
    pub state: String,
    pub pg_tid: Option<String>,
    pub amount: i64,
    pub tax_free: i64,
    pub vat_amount: Option<i64>,
    pub reason: String,
    pub receipt_url: Option<String>,
    pub requested_at: i64,
    pub cancelled_at: i64,
}

const CANCEL_COLUMNS: &str = "cancellation_id, imp_uid, merchant_id, state, pg_tid, amount, tax_free, vat_amount, reason, receipt_url, requested_at, cancelled_at";

fn cancel_from_row(row: &AnyRow) -> Result<CancelRow, sqlx::Error> {
    Ok(CancelRow {
        cancellation_id: row.try_get(0)?,
        imp_uid: row.try_get(1)?,
        merchant_id: row.try_get(2)?,
        state: row.try_get(3)?,
        pg_tid: row.try_get(4)?,
        amount: row.try_get(5)?,
        tax_free: row.try_get(6)?,
        vat_amount: row.try_get(7)?,
        reason: row.try_get(8)?,
        receipt_url: row.try_get(9)?,
        requested_at: row.try_get(10)?,
        cancelled_at: row.try_get(11)?,
    })
}

/// Why a cancel could not be reserved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReserveRefusal {
    /// The payment is not paid (or already fully cancelled, or another cancel holds the rest).
    NotCancellable { status: String, balance: i64 },
    /// The caller's checksum is not the cancellable balance.
    ChecksumMismatch { balance: i64 },
    /// The amount is more than what remains.
    BeyondBalance { balance: i64 },
}

/// Reserves `cancel.amount` of the payment's balance and records the cancel as `pending`, in one
/// transaction. After this the PG may be called; two cancels can never reserve more than the
/// amount between them.
pub async fn reserve_cancel(
    db: &Db,
    cancel: &CancelRow,
    checksum: Option<i64>,
) -> Result<Result<(), ReserveRefusal>, StoreError> {
    let mut tx = db.begin().await?;
    let row = sqlx::query(&format!(
        "SELECT status, amount, cancel_amount, cancel_reserved FROM payments WHERE merchant_id = $1 AND imp_uid = $2{}",
        db.for_update()
    ))
    .bind(&cancel.merchant_id)
    .bind(&cancel.imp_uid)
    .fetch_one(&mut *tx)
    .await?;
    let status: String = row.try_get(0)?;
    let amount: i64 = row.try_get(1)?;
    let cancel_amount: i64 = row.try_get(2)?;
    let reserved: i64 = row.try_get(3)?;
    let balance = amount - cancel_amount;
    let free = amount - reserved;
    let refusal = if status != "paid" {
        Some(ReserveRefusal::NotCancellable { status, balance })
    } else if checksum.is_some_and(|checksum| checksum != balance) {
        Some(ReserveRefusal::ChecksumMismatch { balance })
    } else if free <= 0 {
        Some(ReserveRefusal::NotCancellable { status, balance })
    } else if cancel.amount > free {
        Some(ReserveRefusal::BeyondBalance { balance: free })
    } else {
        None
    };
    if let Some(refusal) = refusal {
        tx.rollback().await?;
        return Ok(Err(refusal));
    }
    sqlx::query("UPDATE payments SET cancel_reserved = cancel_reserved + $1 WHERE imp_uid = $2")
        .bind(cancel.amount)
        .bind(&cancel.imp_uid)
        .execute(&mut *tx)
        .await?;
    sqlx::query(&format!(
        "INSERT INTO payment_cancels ({CANCEL_COLUMNS}) VALUES ($1, $2, $3, 'pending', $4, $5, $6, $7, $8, $9, $10, 0)"
    ))
    .bind(&cancel.cancellation_id)
    .bind(&cancel.imp_uid)
    .bind(&cancel.merchant_id)
    .bind(&cancel.pg_tid)
    .bind(cancel.amount)
    .bind(cancel.tax_free)
    .bind(cancel.vat_amount)
    .bind(&cancel.reason)
    .bind(&cancel.receipt_url)
    .bind(cancel.requested_at)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    db.durable().await?;
    Ok(Ok(()))
}

/// The PG confirmed a reserved cancel: record it and move the payment's balance, in one
/// transaction. A payment becomes `cancelled` only once fully refunded.
pub async fn complete_cancel(
    db: &Db,
    cancellation_id: &str,
    pg_tid: &str,
    cancelled_at: i64,
    receipt_url: Option<&str>,
) -> Result<bool, StoreError> {
    complete_cancel_notify(db, cancellation_id, pg_tid, cancelled_at, receipt_url, None).await
}

/// [`complete_cancel`], and queues `webhook` (if any; its status is the payment's status after
/// the cancel: `cancelled`, or `paid` after a partial cancel) in the same transaction.
pub async fn complete_cancel_notify(
    db: &Db,
    cancellation_id: &str,
    pg_tid: &str,
    cancelled_at: i64,
    receipt_url: Option<&str>,
    webhook: Option<&NewWebhook>,
) -> Result<bool, StoreError> {
    let mut tx = db.begin().await?;
    let row = sqlx::query(
        "SELECT imp_uid, amount, reason FROM payment_cancels WHERE cancellation_id = $1 AND state = 'pending'",
    )
    .bind(cancellation_id)
    .fetch_optional(&mut *tx)
    .await?;
    let Some(row) = row else {
        tx.rollback().await?;
        return Ok(false);
    };
    let imp_uid: String = row.try_get(0)?;
    let amount: i64 = row.try_get(1)?;
    let reason: String = row.try_get(2)?;
    sqlx::query(
        "UPDATE payment_cancels SET state = 'done', pg_tid = $1, cancelled_at = $2, receipt_url = $3 WHERE cancellation_id = $4",
    )
    .bind(pg_tid)
    .bind(cancelled_at)
    .bind(receipt_url)
    .bind(cancellation_id)
    .execute(&mut *tx)
    .await?;
    sqlx::query(
        "UPDATE payments SET cancel_amount = cancel_amount + $1, cancel_reason = $2, cancelled_at = $3, updated_at = $3, \
         status = CASE WHEN cancel_amount + $1 >= amount THEN 'cancelled' ELSE status END WHERE imp_uid = $4",
    )
    .bind(amount)
    .bind(&reason)
    .bind(cancelled_at)
    .bind(&imp_uid)
    .execute(&mut *tx)
    .await?;
    if let Some(webhook) = webhook {
        crate::webhooks::insert_for_payment(&mut tx, &imp_uid, webhook).await?;
    }
    tx.commit().await?;
    db.durable().await?;
    Ok(true)
}

/// The PG refused a reserved cancel: give the reservation back.
pub async fn fail_cancel(db: &Db, cancellation_id: &str) -> Result<(), StoreError> {
    let mut tx = db.begin().await?;
    let row = sqlx::query("SELECT imp_uid, amount FROM payment_cancels WHERE cancellation_id = $1 AND state = 'pending'")
        .bind(cancellation_id)
        .fetch_optional(&mut *tx)
        .await?;
    if let Some(row) = row {
        let imp_uid: String = row.try_get(0)?;
        let amount: i64 = row.try_get(1)?;
        sqlx::query("UPDATE payment_cancels SET state = 'failed' WHERE cancellation_id = $1")
            .bind(cancellation_id)
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "UPDATE payments SET cancel_reserved = cancel_reserved - $1 WHERE imp_uid = $2",
        )
        .bind(amount)
        .bind(&imp_uid)
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    db.durable().await
}

/// Completed cancels of the given payments, oldest first, by imp_uid.
pub async fn cancels_for(
    db: &Db,
    imp_uids: &[&str],
) -> Result<HashMap<String, Vec<CancelRow>>, StoreError> {
    let mut by_payment: HashMap<String, Vec<CancelRow>> = HashMap::new();
    if imp_uids.is_empty() {
        return Ok(by_payment);
    }
    for chunk in imp_uids.chunks(200) {
        let placeholders: Vec<String> = (1..=chunk.len()).map(|i| format!("${i}")).collect();
        let sql = format!(
            "SELECT {CANCEL_COLUMNS} FROM payment_cancels WHERE state = 'done' AND imp_uid IN ({}) ORDER BY cancelled_at, requested_at",
            placeholders.join(", ")
        );
        let mut query = sqlx::query(&sql);
        for imp_uid in chunk {
            query = query.bind(imp_uid.to_string());
        }
        for row in query.fetch_all(db.reader()).await? {
            let cancel = cancel_from_row(&row)?;
            by_payment.entry(cancel.imp_uid.clone()).or_default().push(cancel);
        }
    }
    Ok(by_payment)
}

/// Cancels whose PG outcome is unknown, older than `before` (for the reconciler).
pub async fn pending_cancels_before(db: &Db, before: i64) -> Result<Vec<CancelRow>, StoreError> {
    let found = sqlx::query(&format!(
        "SELECT {CANCEL_COLUMNS} FROM payment_cancels WHERE state = 'pending' AND requested_at <= $1 ORDER BY requested_at LIMIT 100"
    ))
    .bind(before)
    .fetch_all(db.reader())
    .await?;
    Ok(found.iter().map(cancel_from_row).collect::<Result<_, _>>()?)
}
