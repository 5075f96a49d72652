//! The sandbox PG's own tables (its billing keys and its ledger of approvals and cancels).
//!
//! These rows simulate a PG's own database: only the sandbox connector writes them, and tests
//! read the ledger as the oracle for what was really charged (`openimp sandbox ledger`). Writes
//! are committed durably before the function returns (ledger entries through the group-commit
//! writer of [`Db::execute_durable`]).

use std::fmt;

use sqlx::any::AnyRow;
use sqlx::Row;

use openimp_store::{Db, StoreError, Value};

/// A billing key the sandbox issued. Never holds the full card number, birth date or password.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BillingKeyRow {
    pub billing_key: String,
    pub mid: String,
    /// What the test card decides for every charge on this key (`approve`, `decline_all`, ...);
    /// the sandbox connector owns the vocabulary.
    pub behavior: String,
    pub card_code: String,
    pub card_name: String,
    /// Masked.
    pub card_number: String,
    /// 0 credit, 1 check.
    pub card_type: i64,
    pub created_at: i64,
    /// 0 while the key is live.
    pub deleted_at: i64,
}

/// Whether a ledger entry approved money or gave some back.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum LedgerKind {
    Approval,
    Cancel,
}

impl LedgerKind {
    /// The value stored in `sandbox_ledger.kind`.
    pub fn as_str(self) -> &'static str {
        match self {
            LedgerKind::Approval => "approval",
            LedgerKind::Cancel => "cancel",
        }
    }

    fn parse(value: &str) -> Result<LedgerKind, StoreError> {
        match value {
            "approval" => Ok(LedgerKind::Approval),
            "cancel" => Ok(LedgerKind::Cancel),
            other => Err(StoreError::Other(format!("unknown sandbox ledger kind {other:?}"))),
        }
    }
}

impl fmt::Display for LedgerKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One line of the sandbox PG's ledger: an approval, or a (partial) cancel of one.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct LedgerEntry {
    /// The PG transaction id (`pg_tid`).
    pub tid: String,
    pub kind: LedgerKind,
    pub mid: String,
    /// openimp's `imp_uid`; a cancel repeats its approval's.
    pub order_id: String,
    /// Approved amount, or the amount this cancel gave back.
    pub amount: i64,
    /// For a cancel, the tid of the approval it refers to.
    pub ref_tid: Option<String>,
    pub card_code: String,
    pub card_name: String,
    /// Masked.
    pub card_number: String,
    /// 0 credit, 1 check.
    pub card_type: i64,
    /// The 8-digit approval number; a cancel repeats its approval's.
    pub apply_num: String,
    pub created_at: i64,
    /// For a cancel, the id it was requested with (openimp's cancellation_id).
    pub request_id: Option<String>,
    /// For an approval, what its test card decided (the sandbox connector's vocabulary).
    pub behavior: Option<String>,
}

/// A cancel to record against an approval; card facts and order id are copied from it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewCancel {
    pub tid: String,
    pub mid: String,
    /// The approval's tid.
    pub ref_tid: String,
    /// The id the cancel was requested with; a second request with it records nothing.
    pub request_id: String,
    pub amount: i64,
    pub created_at: i64,
}

/// What [`record_cancel`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CancelRecord {
    /// The cancel was written.
    Recorded(Box<LedgerEntry>),
    /// No approval with that tid belongs to that MID.
    ApprovalNotFound,
    /// The amount is more than what remains; `remaining` is approved minus already cancelled.
    Exceeds { remaining: i64 },
}

const KEY_COLUMNS: &str = "billing_key, mid, behavior, card_code, card_name, card_number, \
                           card_type, created_at, deleted_at";
const LEDGER_COLUMNS: &str = "tid, kind, mid, order_id, amount, ref_tid, card_code, card_name, \
                              card_number, card_type, apply_num, created_at, request_id, behavior";

/// Stores a newly issued billing key. A duplicate key is a [`StoreError::Conflict`].
pub async fn insert_billing_key(db: &Db, key: &BillingKeyRow) -> Result<(), StoreError> {
    sqlx::query(&format!(
        "INSERT INTO sandbox_billing_keys ({KEY_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"
    ))
    .bind(&key.billing_key)
    .bind(&key.mid)
    .bind(&key.behavior)
    .bind(&key.card_code)
    .bind(&key.card_name)
    .bind(&key.card_number)
    .bind(key.card_type)
    .bind(key.created_at)
    .bind(key.deleted_at)
    .execute(db.writer())
    .await?;
    db.durable().await
}

/// A billing key by its value, deleted or not, whatever its MID.
pub async fn get_billing_key(
    db: &Db,
    billing_key: &str,
) -> Result<Option<BillingKeyRow>, StoreError> {
    let row = sqlx::query(&format!(
        "SELECT {KEY_COLUMNS} FROM sandbox_billing_keys WHERE billing_key = $1"
    ))
    .bind(billing_key)
    .fetch_optional(db.reader())
    .await?;
    row.as_ref().map(key_from_row).transpose()
}

/// Every key the sandbox issued, oldest first (`openimp sandbox keys`).
pub async fn list_billing_keys(db: &Db) -> Result<Vec<BillingKeyRow>, StoreError> {
    let rows = sqlx::query(&format!(
        "SELECT {KEY_COLUMNS} FROM sandbox_billing_keys ORDER BY created_at, billing_key"
    ))
    .fetch_all(db.reader())
    .await?;
    rows.iter().map(key_from_row).collect()
}

/// Marks a live key of `mid` deleted at `now`. Returns false when no live key matched (it never
/// existed for this MID, or it was deleted already).
pub async fn mark_billing_key_deleted(
    db: &Db,
    mid: &str,
    billing_key: &str,
    now: i64,
) -> Result<bool, StoreError> {
    let result = sqlx::query(
        "UPDATE sandbox_billing_keys SET deleted_at = $1 \
         WHERE billing_key = $2 AND mid = $3 AND deleted_at = 0",
    )
    .bind(now)
    .bind(billing_key)
    .bind(mid)
    .execute(db.writer())
    .await?;
    let deleted = result.rows_affected() == 1;
    if deleted {
        db.durable().await?;
    }
    Ok(deleted)
}

/// Writes a ledger entry. A second approval of one (mid, order_id), or a reused tid, is a
/// [`StoreError::Conflict`].
pub async fn insert_ledger_entry(db: &Db, entry: &LedgerEntry) -> Result<(), StoreError> {
    let params: Vec<Value> = vec![
        (&entry.tid).into(),
        entry.kind.as_str().into(),
        (&entry.mid).into(),
        (&entry.order_id).into(),
        entry.amount.into(),
        (&entry.ref_tid).into(),
        (&entry.card_code).into(),
        (&entry.card_name).into(),
        (&entry.card_number).into(),
        entry.card_type.into(),
        (&entry.apply_num).into(),
        entry.created_at.into(),
        (&entry.request_id).into(),
        (&entry.behavior).into(),
        now_micros().into(),
    ];
    db.execute_durable(insert_ledger_sql(), params).await?;
    Ok(())
}

/// The approval of `order_id` under `mid`, if the sandbox approved it.
pub async fn find_approval(
    db: &Db,
    mid: &str,
    order_id: &str,
) -> Result<Option<LedgerEntry>, StoreError> {
    let row = sqlx::query(&format!(
        "SELECT {LEDGER_COLUMNS} FROM sandbox_ledger \
         WHERE mid = $1 AND order_id = $2 AND kind = 'approval'"
    ))
    .bind(mid)
    .bind(order_id)
    .fetch_optional(db.reader())
    .await?;
    row.as_ref().map(entry_from_row).transpose()
}

/// The cancel `mid` recorded under the approval `ref_tid` for the request `request_id`, if any.
pub async fn find_cancel(
    db: &Db,
    mid: &str,
    ref_tid: &str,
    request_id: &str,
) -> Result<Option<LedgerEntry>, StoreError> {
    let row = sqlx::query(&format!(
        "SELECT {LEDGER_COLUMNS} FROM sandbox_ledger \
         WHERE mid = $1 AND request_id = $2 AND ref_tid = $3 AND kind = 'cancel'"
    ))
    .bind(mid)
    .bind(request_id)
    .bind(ref_tid)
    .fetch_optional(db.reader())
    .await?;
    row.as_ref().map(entry_from_row).transpose()
}

/// A ledger entry by its tid.
pub async fn get_ledger_entry(db: &Db, tid: &str) -> Result<Option<LedgerEntry>, StoreError> {
    let row = sqlx::query(&format!("SELECT {LEDGER_COLUMNS} FROM sandbox_ledger WHERE tid = $1"))
        .bind(tid)
        .fetch_optional(db.reader())
        .await?;
    row.as_ref().map(entry_from_row).transpose()
}

/// The sum of the cancels recorded against the approval `tid` (0 when none).
pub async fn cancelled_total(db: &Db, tid: &str) -> Result<i64, StoreError> {
    let row = sqlx::query(CANCELLED_TOTAL_SQL).bind(tid).fetch_one(db.reader()).await?;
    Ok(row.try_get(0)?)
}

/// Records a cancel if the approval `cancel.ref_tid` belongs to `cancel.mid` and still has at
/// least `cancel.amount` left. The check and the write run in one transaction, with the
/// approval row locked, so two racing partial cancels can never together exceed the approval.
/// A request id recorded already answers its first cancel again, writing nothing.
pub async fn record_cancel(db: &Db, cancel: &NewCancel) -> Result<CancelRecord, StoreError> {
    let mut tx = db.begin().await?;
    let approval = sqlx::query(&format!(
        "SELECT {LEDGER_COLUMNS} FROM sandbox_ledger WHERE tid = $1 AND kind = 'approval'{}",
        db.for_update()
    ))
    .bind(&cancel.ref_tid)
    .fetch_optional(&mut *tx)
    .await?;
    let approval = match approval.as_ref().map(entry_from_row).transpose()? {
        Some(approval) if approval.mid == cancel.mid => approval,
        _ => {
            tx.rollback().await?;
            return Ok(CancelRecord::ApprovalNotFound);
        }
    };
    let earlier = sqlx::query(&format!(
        "SELECT {LEDGER_COLUMNS} FROM sandbox_ledger \
         WHERE mid = $1 AND request_id = $2 AND kind = 'cancel'"
    ))
    .bind(&cancel.mid)
    .bind(&cancel.request_id)
    .fetch_optional(&mut *tx)
    .await?;
    if let Some(earlier) = earlier.as_ref().map(entry_from_row).transpose()? {
        tx.rollback().await?;
        return Ok(CancelRecord::Recorded(Box::new(earlier)));
    }
    let cancelled: i64 = sqlx::query(CANCELLED_TOTAL_SQL)
        .bind(&approval.tid)
        .fetch_one(&mut *tx)
        .await?
        .try_get(0)?;
    let remaining = approval.amount - cancelled;
    if cancel.amount > remaining {
        tx.rollback().await?;
        return Ok(CancelRecord::Exceeds { remaining });
    }
    let entry = LedgerEntry {
        tid: cancel.tid.clone(),
        kind: LedgerKind::Cancel,
        mid: approval.mid,
        order_id: approval.order_id,
        amount: cancel.amount,
        ref_tid: Some(approval.tid),
        card_code: approval.card_code,
        card_name: approval.card_name,
        card_number: approval.card_number,
        card_type: approval.card_type,
        apply_num: approval.apply_num,
        created_at: cancel.created_at,
        request_id: Some(cancel.request_id.clone()),
        behavior: None,
    };
    bind_entry(sqlx::query(&insert_ledger_sql()), &entry).execute(&mut *tx).await?;
    tx.commit().await?;
    db.durable().await?;
    Ok(CancelRecord::Recorded(Box::new(entry)))
}

/// Every ledger entry, oldest first.
pub async fn list_ledger(db: &Db) -> Result<Vec<LedgerEntry>, StoreError> {
    let rows = sqlx::query(&format!(
        "SELECT {LEDGER_COLUMNS} FROM sandbox_ledger ORDER BY created_at_us, tid"
    ))
    .fetch_all(db.reader())
    .await?;
    rows.iter().map(entry_from_row).collect()
}

const CANCELLED_TOTAL_SQL: &str = "SELECT CAST(COALESCE(SUM(amount), 0) AS BIGINT) \
                                   FROM sandbox_ledger WHERE ref_tid = $1 AND kind = 'cancel'";

fn insert_ledger_sql() -> String {
    format!(
        "INSERT INTO sandbox_ledger ({LEDGER_COLUMNS}, created_at_us) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)"
    )
}

type AnyQuery<'q> = sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>>;

fn bind_entry<'q>(query: AnyQuery<'q>, entry: &'q LedgerEntry) -> AnyQuery<'q> {
    query
        .bind(&entry.tid)
        .bind(entry.kind.as_str())
        .bind(&entry.mid)
        .bind(&entry.order_id)
        .bind(entry.amount)
        .bind(entry.ref_tid.as_deref())
        .bind(&entry.card_code)
        .bind(&entry.card_name)
        .bind(&entry.card_number)
        .bind(entry.card_type)
        .bind(&entry.apply_num)
        .bind(entry.created_at)
        .bind(entry.request_id.as_deref())
        .bind(entry.behavior.as_deref())
        .bind(now_micros())
}

/// Orders ledger entries within one second; only ever compared, never shown.
fn now_micros() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |elapsed| i64::try_from(elapsed.as_micros()).unwrap_or(i64::MAX))
}

fn key_from_row(row: &AnyRow) -> Result<BillingKeyRow, StoreError> {
    Ok(BillingKeyRow {
        billing_key: row.try_get("billing_key")?,
        mid: row.try_get("mid")?,
        behavior: row.try_get("behavior")?,
        card_code: row.try_get("card_code")?,
        card_name: row.try_get("card_name")?,
        card_number: row.try_get("card_number")?,
        card_type: row.try_get("card_type")?,
        created_at: row.try_get("created_at")?,
        deleted_at: row.try_get("deleted_at")?,
    })
}

fn entry_from_row(row: &AnyRow) -> Result<LedgerEntry, StoreError> {
    let kind: String = row.try_get("kind")?;
    Ok(LedgerEntry {
        tid: row.try_get("tid")?,
        kind: LedgerKind::parse(&kind)?,
        mid: row.try_get("mid")?,
        order_id: row.try_get("order_id")?,
        amount: row.try_get("amount")?,
        ref_tid: row.try_get("ref_tid")?,
        card_code: row.try_get("card_code")?,
        card_name: row.try_get("card_name")?,
        card_number: row.try_get("card_number")?,
        card_type: row.try_get("card_type")?,
        apply_num: row.try_get("apply_num")?,
        created_at: row.try_get("created_at")?,
        request_id: row.try_get("request_id")?,
        behavior: row.try_get("behavior")?,
    })
}
