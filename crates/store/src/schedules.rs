//! Scheduled payments (예약결제): creation, the lease-based claim of due schedules, outcomes,
//! revocation and the lists.
//!
//! A due schedule is claimed by one statement that sets a lease (`lease_owner`, `lease_until`)
//! on rows picked with `FOR UPDATE SKIP LOCKED` on PostgreSQL (on SQLite the statement runs
//! under the database's single write lock). A worker that dies leaves its lease to expire; the
//! next worker claims the schedule again and finds the payment the first one made (DESIGN.md
//! rule 3: the charge path's merchant_uid rule keeps a schedule claimed twice from charging
//! twice).

use sqlx::any::AnyRow;
use sqlx::Row;

use openimp_core::states::{PaymentStatus, ScheduleStatus};

use crate::db::{Db, StoreError};
use crate::payments::decode;

/// A stored schedule. `payment_status` is the effective one: a later cancel of the payment
/// shows as `cancelled` (read from the payment).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScheduleRow {
    pub id: String,
    pub merchant_id: String,
    pub merchant_uid: String,
    pub customer_uid: String,
    pub customer_id: Option<String>,
    pub schedule_at: i64,
    pub amount: i64,
    pub tax_free: i64,
    pub vat_amount: Option<i64>,
    pub card_quota: i64,
    pub currency: String,
    pub name: Option<String>,
    pub buyer_name: Option<String>,
    pub buyer_email: Option<String>,
    pub buyer_tel: Option<String>,
    pub buyer_addr: Option<String>,
    pub buyer_postcode: Option<String>,
    pub custom_data: Option<String>,
    pub notice_url: Option<String>,
    pub pg_provider: Option<String>,
    pub pg_id: Option<String>,
    pub schedule_status: ScheduleStatus,
    pub scheduled_since: i64,
    pub lease_owner: Option<String>,
    pub lease_until: i64,
    pub claims: i64,
    pub imp_uid: Option<String>,
    pub payment_status: Option<PaymentStatus>,
    pub fail_reason: Option<String>,
    pub executed_at: i64,
    pub late_secs: i64,
    pub revoked_at: i64,
    pub revoke_reason: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
}

const NAMES: [&str; 35] = [
    "id",
    "merchant_id",
    "merchant_uid",
    "customer_uid",
    "customer_id",
    "schedule_at",
    "amount",
    "tax_free",
    "vat_amount",
    "card_quota",
    "currency",
    "name",
    "buyer_name",
    "buyer_email",
    "buyer_tel",
    "buyer_addr",
    "buyer_postcode",
    "custom_data",
    "notice_url",
    "pg_provider",
    "pg_id",
    "schedule_status",
    "scheduled_since",
    "lease_owner",
    "lease_until",
    "claims",
    "imp_uid",
    "payment_status",
    "fail_reason",
    "executed_at",
    "late_secs",
    "revoked_at",
    "revoke_reason",
    "created_at",
    "updated_at",
];
const PAYMENT_STATUS_INDEX: usize = 27;

fn columns() -> String {
    NAMES.join(", ")
}

/// The columns for a `SELECT ... FROM schedules s LEFT JOIN payments p`: the payment's current
/// status wins over the recorded one (a refunded payment shows `cancelled`).
fn view_columns() -> String {
    NAMES
        .iter()
        .enumerate()
        .map(|(i, name)| {
            if i == PAYMENT_STATUS_INDEX {
                "CASE WHEN p.status IN ('paid', 'cancelled', 'failed') THEN p.status ELSE s.payment_status END".to_owned()
            } else {
                format!("s.{name}")
            }
        })
        .collect::<Vec<_>>()
        .join(", ")
}

const VIEW_FROM: &str =
    "schedules s LEFT JOIN payments p ON p.imp_uid = s.imp_uid AND p.merchant_id = s.merchant_id";

fn from_row(row: &AnyRow) -> Result<ScheduleRow, sqlx::Error> {
    Ok(ScheduleRow {
        id: row.try_get(0)?,
        merchant_id: row.try_get(1)?,
        merchant_uid: row.try_get(2)?,
        customer_uid: row.try_get(3)?,
        customer_id: row.try_get(4)?,
        schedule_at: row.try_get(5)?,
        amount: row.try_get(6)?,
        tax_free: row.try_get(7)?,
        vat_amount: row.try_get(8)?,
        card_quota: row.try_get(9)?,
        currency: row.try_get(10)?,
        name: row.try_get(11)?,
        buyer_name: row.try_get(12)?,
        buyer_email: row.try_get(13)?,
        buyer_tel: row.try_get(14)?,
        buyer_addr: row.try_get(15)?,
        buyer_postcode: row.try_get(16)?,
        custom_data: row.try_get(17)?,
        notice_url: row.try_get(18)?,
        pg_provider: row.try_get(19)?,
        pg_id: row.try_get(20)?,
        schedule_status: decode(row.try_get::<String, _>(21)?, ScheduleStatus::parse)?,
        scheduled_since: row.try_get(22)?,
        lease_owner: row.try_get(23)?,
        lease_until: row.try_get(24)?,
        claims: row.try_get(25)?,
        imp_uid: row.try_get(26)?,
        payment_status: row
            .try_get::<Option<String>, _>(27)?
            .map(|status| decode(status, PaymentStatus::parse))
            .transpose()?,
        fail_reason: row.try_get(28)?,
        executed_at: row.try_get(29)?,
        late_secs: row.try_get(30)?,
        revoked_at: row.try_get(31)?,
        revoke_reason: row.try_get(32)?,
        created_at: row.try_get(33)?,
        updated_at: row.try_get(34)?,
    })
}

fn rows(found: &[AnyRow]) -> Result<Vec<ScheduleRow>, StoreError> {
    Ok(found.iter().map(from_row).collect::<Result<_, _>>()?)
}

/// Why schedules could not be created.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InsertRefusal {
    /// This merchant_uid already has a schedule, or a live (pending, paid, cancelled) payment.
    Duplicate(String),
}

/// Creates every schedule or none, in one transaction.
pub async fn insert_all(
    db: &Db,
    schedules: &[ScheduleRow],
) -> Result<Result<(), InsertRefusal>, StoreError> {
    let mut tx = db.begin().await?;
    let placeholders: Vec<String> = (1..=NAMES.len()).map(|i| format!("${i}")).collect();
    let sql = format!(
        "INSERT INTO schedules ({}) SELECT {} WHERE NOT EXISTS (SELECT 1 FROM payments WHERE merchant_id = $2 AND merchant_uid = $3 AND status IN ('pending', 'ready', 'paid', 'cancelled'))",
        columns(),
        placeholders.join(", ")
    );
    for s in schedules {
        let result = sqlx::query(&sql)
            .bind(&s.id)
            .bind(&s.merchant_id)
            .bind(&s.merchant_uid)
            .bind(&s.customer_uid)
            .bind(&s.customer_id)
            .bind(s.schedule_at)
            .bind(s.amount)
            .bind(s.tax_free)
            .bind(s.vat_amount)
            .bind(s.card_quota)
            .bind(&s.currency)
            .bind(&s.name)
            .bind(&s.buyer_name)
            .bind(&s.buyer_email)
            .bind(&s.buyer_tel)
            .bind(&s.buyer_addr)
            .bind(&s.buyer_postcode)
            .bind(&s.custom_data)
            .bind(&s.notice_url)
            .bind(&s.pg_provider)
            .bind(&s.pg_id)
            .bind(s.schedule_status.as_str())
            .bind(s.scheduled_since)
            .bind(&s.lease_owner)
            .bind(s.lease_until)
            .bind(s.claims)
            .bind(&s.imp_uid)
            .bind(s.payment_status.map(PaymentStatus::as_str))
            .bind(&s.fail_reason)
            .bind(s.executed_at)
            .bind(s.late_secs)
            .bind(s.revoked_at)
            .bind(&s.revoke_reason)
            .bind(s.created_at)
            .bind(s.updated_at)
            .execute(&mut *tx)
            .await;
        let duplicate = match result {
            Ok(done) => done.rows_affected() == 0,
            Err(err) => match StoreError::from(err) {
                StoreError::Conflict(_) => true,
                other => {
                    let _ = tx.rollback().await;
                    return Err(other);
                }
            },
        };
        if duplicate {
            let _ = tx.rollback().await;
            return Ok(Err(InsertRefusal::Duplicate(s.merchant_uid.clone())));
        }
    }
    tx.commit().await?;
    db.durable().await?;
    Ok(Ok(()))
}

/// One schedule, scoped to its merchant.
pub async fn get(
    db: &Db,
    merchant_id: &str,
    merchant_uid: &str,
) -> Result<Option<ScheduleRow>, StoreError> {
    let row = sqlx::query(&format!(
        "SELECT {} FROM {VIEW_FROM} WHERE s.merchant_id = $1 AND s.merchant_uid = $2",
        view_columns()
    ))
    .bind(merchant_id)
    .bind(merchant_uid)
    .fetch_optional(db.reader())
    .await?;
    Ok(row.map(|row| from_row(&row)).transpose()?)
}

/// Which schedules a list asks for: `from <= schedule_at < to`.
#[derive(Debug, Clone, Default)]
pub struct ScheduleFilter {
    pub customer_uid: Option<String>,
    pub schedule_status: Option<String>,
    pub from: i64,
    pub to: i64,
    /// Oldest first (`sorting=scheduled`); newest first otherwise.
    pub oldest_first: bool,
}

/// A page of schedules (page from 1) and the total count.
pub async fn list(
    db: &Db,
    merchant_id: &str,
    filter: &ScheduleFilter,
    page: i64,
    limit: i64,
) -> Result<(Vec<ScheduleRow>, i64), StoreError> {
    let mut clauses = vec!["s.merchant_id = $1".to_owned(), "s.schedule_at >= $2".to_owned()];
    clauses.push("s.schedule_at < $3".to_owned());
    let mut texts: Vec<String> = Vec::new();
    if let Some(customer_uid) = &filter.customer_uid {
        texts.push(customer_uid.clone());
        clauses.push(format!("s.customer_uid = ${}", 3 + texts.len()));
    }
    if let Some(status) = &filter.schedule_status {
        texts.push(status.clone());
        clauses.push(format!("s.schedule_status = ${}", 3 + texts.len()));
    }
    let clause = clauses.join(" AND ");
    let order = if filter.oldest_first {
        "s.schedule_at ASC, s.merchant_uid ASC"
    } else {
        "s.schedule_at DESC, s.merchant_uid DESC"
    };
    let n = 3 + texts.len();
    let count_sql = format!("SELECT COUNT(*) FROM schedules s WHERE {clause}");
    let list_sql = format!(
        "SELECT {} FROM {VIEW_FROM} WHERE {clause} ORDER BY {order} LIMIT ${} OFFSET ${}",
        view_columns(),
        n + 1,
        n + 2
    );
    let mut count = sqlx::query(&count_sql).bind(merchant_id).bind(filter.from).bind(filter.to);
    let mut list = sqlx::query(&list_sql).bind(merchant_id).bind(filter.from).bind(filter.to);
    for text in &texts {
        count = count.bind(text.clone());
        list = list.bind(text.clone());
    }
    let total: i64 = count.fetch_one(db.reader()).await?.try_get(0)?;
    let found = list.bind(limit).bind((page - 1) * limit).fetch_all(db.reader()).await?;
    Ok((rows(&found)?, total))
}

/// Claims up to `limit` schedules due at `now` (seconds) whose lease is free at `now_ms`,
/// leasing them to `owner` until `lease_until_ms`. One statement: two workers never claim the
/// same row while its lease holds.
pub async fn claim_due(
    db: &Db,
    owner: &str,
    now: i64,
    now_ms: i64,
    lease_until_ms: i64,
    limit: i64,
) -> Result<Vec<ScheduleRow>, StoreError> {
    let found = sqlx::query(&format!(
        "UPDATE schedules SET lease_owner = $1, lease_until = $2, claims = claims + 1 \
         WHERE id IN (SELECT id FROM schedules WHERE schedule_status = 'scheduled' AND schedule_at <= $3 AND lease_until <= $4 \
         ORDER BY schedule_at LIMIT $5{}) AND schedule_status = 'scheduled' AND lease_until <= $4 RETURNING {}",
        db.skip_locked(),
        columns()
    ))
    .bind(owner)
    .bind(lease_until_ms)
    .bind(now)
    .bind(now_ms)
    .bind(limit)
    .fetch_all(db.writer())
    .await?;
    db.durable().await?;
    rows(&found)
}

/// Leases one schedule now, whatever its `schedule_at` (`retry`): a failed-executed or revoked
/// schedule goes back to `scheduled` with `schedule_at = now`, leased to `owner`.
pub async fn claim_for_retry(
    db: &Db,
    merchant_id: &str,
    merchant_uid: &str,
    owner: &str,
    now: i64,
    lease_until_ms: i64,
) -> Result<Option<ScheduleRow>, StoreError> {
    let found = sqlx::query(&format!(
        "UPDATE schedules SET schedule_status = 'scheduled', schedule_at = $1, scheduled_since = $1, lease_owner = $2, lease_until = $3, \
         claims = claims + 1, imp_uid = NULL, payment_status = NULL, fail_reason = NULL, executed_at = 0, late_secs = 0, revoked_at = 0, revoke_reason = NULL, updated_at = $1 \
         WHERE merchant_id = $4 AND merchant_uid = $5 AND (schedule_status = 'revoked' OR (schedule_status = 'executed' AND payment_status = 'failed')) \
         RETURNING {}",
        columns()
    ))
    .bind(now)
    .bind(owner)
    .bind(lease_until_ms)
    .bind(merchant_id)
    .bind(merchant_uid)
    .fetch_optional(db.writer())
    .await?;
    db.durable().await?;
    Ok(found.map(|row| from_row(&row)).transpose()?)
}

/// The outcome of a schedule's charge.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub imp_uid: Option<String>,
    /// `Paid` or `Failed`.
    pub payment_status: PaymentStatus,
    pub fail_reason: Option<String>,
    pub executed_at: i64,
    pub late_secs: i64,
}

/// `scheduled` → `executed`. Returns false when the schedule was no longer `scheduled`.
pub async fn record_outcome(db: &Db, id: &str, outcome: &Outcome) -> Result<bool, StoreError> {
    let result = sqlx::query(
        "UPDATE schedules SET schedule_status = 'executed', imp_uid = $1, payment_status = $2, fail_reason = $3, executed_at = $4, \
         late_secs = $5, lease_owner = NULL, lease_until = 0, updated_at = $4 WHERE id = $6 AND schedule_status = 'scheduled'",
    )
    .bind(&outcome.imp_uid)
    .bind(outcome.payment_status.as_str())
    .bind(&outcome.fail_reason)
    .bind(outcome.executed_at)
    .bind(outcome.late_secs)
    .bind(id)
    .execute(db.writer())
    .await?;
    db.durable().await?;
    Ok(result.rows_affected() == 1)
}

/// Moves a held lease (the outcome is not known yet, or the charge must be tried again later).
pub async fn set_lease(
    db: &Db,
    id: &str,
    owner: &str,
    lease_until_ms: i64,
) -> Result<(), StoreError> {
    sqlx::query(
        "UPDATE schedules SET lease_until = $1 WHERE id = $2 AND lease_owner = $3 AND schedule_status = 'scheduled'",
    )
    .bind(lease_until_ms)
    .bind(id)
    .bind(owner)
    .execute(db.writer())
    .await?;
    db.durable().await
}

/// What to revoke: the listed merchant_uids (of one customer, if given), or every schedule of
/// the customer.
#[derive(Debug, Clone, Default)]
pub struct RevokeTarget {
    pub customer_uid: Option<String>,
    pub merchant_uids: Vec<String>,
}

/// `scheduled` → `revoked`, for schedules no worker holds and with no live payment of their
/// current run. Returns the revoked schedules.
pub async fn revoke(
    db: &Db,
    merchant_id: &str,
    target: &RevokeTarget,
    reason: Option<&str>,
    now: i64,
    now_ms: i64,
) -> Result<Vec<ScheduleRow>, StoreError> {
    if target.customer_uid.is_none() && target.merchant_uids.is_empty() {
        return Ok(Vec::new());
    }
    let mut clauses = vec![
        "merchant_id = $1".to_owned(),
        "schedule_status = 'scheduled'".to_owned(),
        "lease_until <= $3".to_owned(),
        // Only the schedule's own charge (as `payments::scheduled_run` finds it) holds it.
        "NOT EXISTS (SELECT 1 FROM payments p WHERE p.merchant_id = schedules.merchant_id AND p.merchant_uid = schedules.merchant_uid \
         AND p.status IN ('pending', 'paid', 'cancelled') AND p.started_at >= schedules.scheduled_since \
         AND p.customer_uid_usage = 'payment.scheduled' AND p.customer_uid = schedules.customer_uid AND p.amount = schedules.amount)"
            .to_owned(),
    ];
    let mut texts: Vec<String> = Vec::new();
    if let Some(customer_uid) = &target.customer_uid {
        texts.push(customer_uid.clone());
        clauses.push(format!("customer_uid = ${}", 4 + texts.len()));
    }
    if !target.merchant_uids.is_empty() {
        let mut marks = Vec::new();
        for merchant_uid in &target.merchant_uids {
            texts.push(merchant_uid.clone());
            marks.push(format!("${}", 4 + texts.len()));
        }
        clauses.push(format!("merchant_uid IN ({})", marks.join(", ")));
    }
    let sql = format!(
        "UPDATE schedules SET schedule_status = 'revoked', revoked_at = $2, revoke_reason = $4, updated_at = $2 WHERE {} RETURNING {}",
        clauses.join(" AND "),
        columns()
    );
    let mut query = sqlx::query(&sql).bind(merchant_id).bind(now).bind(now_ms).bind(reason);
    for text in &texts {
        query = query.bind(text.clone());
    }
    let found = query.fetch_all(db.writer()).await?;
    db.durable().await?;
    rows(&found)
}

/// `PUT /subscribe/payments/schedule/{merchant_uid}`: moves a `scheduled`, unleased schedule.
pub async fn move_time(
    db: &Db,
    merchant_id: &str,
    merchant_uid: &str,
    schedule_at: i64,
    now: i64,
    now_ms: i64,
) -> Result<bool, StoreError> {
    let result = sqlx::query(
        "UPDATE schedules SET schedule_at = $1, updated_at = $2 WHERE merchant_id = $3 AND merchant_uid = $4 \
         AND schedule_status = 'scheduled' AND lease_until <= $5",
    )
    .bind(schedule_at)
    .bind(now)
    .bind(merchant_id)
    .bind(merchant_uid)
    .bind(now_ms)
    .execute(db.writer())
    .await?;
    db.durable().await?;
    Ok(result.rows_affected() == 1)
}

/// `reschedule`: a failed-executed or revoked schedule goes back to `scheduled`.
pub async fn reschedule(
    db: &Db,
    merchant_id: &str,
    merchant_uid: &str,
    schedule_at: i64,
    now: i64,
) -> Result<bool, StoreError> {
    let result = sqlx::query(
        "UPDATE schedules SET schedule_status = 'scheduled', schedule_at = $1, scheduled_since = $2, lease_owner = NULL, lease_until = 0, \
         imp_uid = NULL, payment_status = NULL, fail_reason = NULL, executed_at = 0, late_secs = 0, revoked_at = 0, revoke_reason = NULL, updated_at = $2 \
         WHERE merchant_id = $3 AND merchant_uid = $4 AND (schedule_status = 'revoked' OR (schedule_status = 'executed' AND payment_status = 'failed'))",
    )
    .bind(schedule_at)
    .bind(now)
    .bind(merchant_id)
    .bind(merchant_uid)
    .execute(db.writer())
    .await?;
    db.durable().await?;
    Ok(result.rows_affected() == 1)
}

/// Counts of schedules by status (for the benchmark and operators).
pub async fn count_by_status(db: &Db) -> Result<Vec<(String, i64)>, StoreError> {
    let found = sqlx::query(
        "SELECT schedule_status, COUNT(*) FROM schedules GROUP BY schedule_status ORDER BY schedule_status",
    )
    .fetch_all(db.reader())
    .await?;
    Ok(found
        .iter()
        .map(|row| Ok::<_, sqlx::Error>((row.try_get(0)?, row.try_get(1)?)))
        .collect::<Result<_, _>>()?)
}
