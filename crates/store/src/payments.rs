//! Payments and the state changes that keep money safe (their cancels live in [`crate::cancels`]).
//!
//! Every state change is one conditional `UPDATE ... WHERE status = ...` whose affected-row count
//! is checked, so two writers racing on one payment cannot both win.

use sqlx::any::AnyRow;
use sqlx::Row;

use openimp_core::order::Order;
use openimp_core::states::{KeyUsage, PaymentStatus};

use crate::batch::Value;
use crate::db::{bind_all, Db, StoreError};
use crate::webhooks::NewWebhook;

/// A stored payment. `status` is internal: `pending` is shown as `ready` on the wire.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PaymentRow {
    pub imp_uid: String,
    pub merchant_id: String,
    pub merchant_uid: String,
    pub status: PaymentStatus,
    pub amount: i64,
    pub cancel_amount: i64,
    pub cancel_reserved: i64,
    pub tax_free: i64,
    pub vat_amount: Option<i64>,
    pub currency: String,
    pub pay_method: Option<String>,
    pub channel: Option<String>,
    pub channel_id: Option<String>,
    pub pg_provider: Option<String>,
    pub pg_id: Option<String>,
    pub pg_tid: Option<String>,
    pub apply_num: Option<String>,
    pub card_code: Option<String>,
    pub card_name: Option<String>,
    pub card_number: Option<String>,
    pub card_type: Option<i64>,
    pub card_quota: i64,
    pub name: Option<String>,
    pub buyer_name: Option<String>,
    pub buyer_email: Option<String>,
    pub buyer_tel: Option<String>,
    pub buyer_addr: Option<String>,
    pub buyer_postcode: Option<String>,
    pub custom_data: Option<String>,
    pub user_agent: Option<String>,
    pub notice_url: Option<String>,
    pub customer_uid: Option<String>,
    pub customer_uid_usage: Option<KeyUsage>,
    pub started_at: i64,
    pub paid_at: i64,
    pub failed_at: i64,
    pub cancelled_at: i64,
    pub fail_reason: Option<String>,
    pub cancel_reason: Option<String>,
    pub receipt_url: Option<String>,
    pub updated_at: i64,
    /// What pay methods other than card record (migration 0005).
    pub method: MethodDetails,
    /// The mode the attempt was sent in (`sandbox`, `live`): its cancels, inquiries and
    /// net-cancels go to the same PG whatever its channel became since. `None`: the channel's.
    pub pg_mode: Option<String>,
}

impl PaymentRow {
    /// A new `pending` attempt of `order` in `currency`, started `now`: the order's fields and
    /// nothing from a PG yet. Callers add where it is charged (channel, pay method, customer).
    pub fn for_order(
        imp_uid: String,
        merchant_id: &str,
        order: &Order,
        currency: &str,
        now: i64,
    ) -> PaymentRow {
        PaymentRow {
            imp_uid,
            merchant_id: merchant_id.to_owned(),
            merchant_uid: order.merchant_uid.clone(),
            status: PaymentStatus::Pending,
            amount: order.amounts.amount,
            tax_free: order.amounts.tax_free,
            vat_amount: order.amounts.vat_amount,
            card_quota: order.amounts.card_quota,
            currency: currency.to_owned(),
            name: order.name.clone(),
            buyer_name: order.buyer_name.clone(),
            buyer_email: order.buyer_email.clone(),
            buyer_tel: order.buyer_tel.clone(),
            buyer_addr: order.buyer_addr.clone(),
            buyer_postcode: order.buyer_postcode.clone(),
            custom_data: order.custom_data.clone(),
            notice_url: order.notice_url.clone(),
            started_at: now,
            updated_at: now,
            ..PaymentRow::default()
        }
    }
}

/// The bank, virtual account and easy-pay facts of a payment; all empty for a card payment.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MethodDetails {
    /// The easy-pay brand inside a hub PG (`kakaopay`, `naverpay`, ...).
    pub emb_pg_provider: Option<String>,
    /// Real-time bank transfer: the bank paid from.
    pub bank_code: Option<String>,
    pub bank_name: Option<String>,
    /// Virtual account: the account issued, its holder, deadline and issue time (unix).
    pub vbank_code: Option<String>,
    pub vbank_name: Option<String>,
    pub vbank_num: Option<String>,
    pub vbank_holder: Option<String>,
    pub vbank_date: i64,
    pub vbank_issued_at: i64,
}

const COLUMNS: &str = "imp_uid, merchant_id, merchant_uid, status, amount, cancel_amount, cancel_reserved, tax_free, vat_amount, currency, pay_method, channel, channel_id, pg_provider, pg_id, pg_tid, apply_num, card_code, card_name, card_number, card_type, card_quota, name, buyer_name, buyer_email, buyer_tel, buyer_addr, buyer_postcode, custom_data, user_agent, notice_url, customer_uid, customer_uid_usage, started_at, paid_at, failed_at, cancelled_at, fail_reason, cancel_reason, receipt_url, updated_at, emb_pg_provider, bank_code, bank_name, vbank_code, vbank_name, vbank_num, vbank_holder, vbank_date, vbank_issued_at, pg_mode";

fn from_row(row: &AnyRow) -> Result<PaymentRow, sqlx::Error> {
    Ok(PaymentRow {
        imp_uid: row.try_get(0)?,
        merchant_id: row.try_get(1)?,
        merchant_uid: row.try_get(2)?,
        status: decode(row.try_get::<String, _>(3)?, PaymentStatus::parse)?,
        amount: row.try_get(4)?,
        cancel_amount: row.try_get(5)?,
        cancel_reserved: row.try_get(6)?,
        tax_free: row.try_get(7)?,
        vat_amount: row.try_get(8)?,
        currency: row.try_get(9)?,
        pay_method: row.try_get(10)?,
        channel: row.try_get(11)?,
        channel_id: row.try_get(12)?,
        pg_provider: row.try_get(13)?,
        pg_id: row.try_get(14)?,
        pg_tid: row.try_get(15)?,
        apply_num: row.try_get(16)?,
        card_code: row.try_get(17)?,
        card_name: row.try_get(18)?,
        card_number: row.try_get(19)?,
        card_type: row.try_get(20)?,
        card_quota: row.try_get(21)?,
        name: row.try_get(22)?,
        buyer_name: row.try_get(23)?,
        buyer_email: row.try_get(24)?,
        buyer_tel: row.try_get(25)?,
        buyer_addr: row.try_get(26)?,
        buyer_postcode: row.try_get(27)?,
        custom_data: row.try_get(28)?,
        user_agent: row.try_get(29)?,
        notice_url: row.try_get(30)?,
        customer_uid: row.try_get(31)?,
        customer_uid_usage: row
            .try_get::<Option<String>, _>(32)?
            .map(|usage| decode(usage, KeyUsage::parse))
            .transpose()?,
        started_at: row.try_get(33)?,
        paid_at: row.try_get(34)?,
        failed_at: row.try_get(35)?,
        cancelled_at: row.try_get(36)?,
        fail_reason: row.try_get(37)?,
        cancel_reason: row.try_get(38)?,
        receipt_url: row.try_get(39)?,
        updated_at: row.try_get(40)?,
        method: MethodDetails {
            emb_pg_provider: row.try_get(41)?,
            bank_code: row.try_get(42)?,
            bank_name: row.try_get(43)?,
            vbank_code: row.try_get(44)?,
            vbank_name: row.try_get(45)?,
            vbank_num: row.try_get(46)?,
            vbank_holder: row.try_get(47)?,
            vbank_date: row.try_get(48)?,
            vbank_issued_at: row.try_get(49)?,
        },
        pg_mode: row.try_get(50)?,
    })
}

/// A stored state text as its enum; an unknown one is a corrupt row.
pub(crate) fn decode<T>(text: String, parse: fn(&str) -> Option<T>) -> Result<T, sqlx::Error> {
    parse(&text).ok_or_else(|| sqlx::Error::Decode(format!("unknown state {text:?}").into()))
}

fn rows(rows: &[AnyRow]) -> Result<Vec<PaymentRow>, StoreError> {
    Ok(rows.iter().map(from_row).collect::<Result<_, _>>()?)
}

/// Why [`insert_attempt`] wrote nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InsertRefusal {
    /// The merchant_uid was prepared with another amount or currency.
    PreparedMismatch,
    /// The merchant_uid already has a live (pending, ready, paid or cancelled) attempt.
    LiveMerchantUid,
    /// A `scheduled` schedule reserves the merchant_uid for its own charge.
    ReservedBySchedule,
}

/// Records a new attempt, or says why not: a prepared order it does not match (an attempt
/// recorded already `failed` moves no money and skips that check), a live attempt with the same
/// merchant_uid (the race guard of DESIGN.md rule 1), or a merchant_uid reserved by a pending
/// schedule (only the schedule's own charge, usage `payment.scheduled`, may use it).
/// The checks ride in the statement to spare the hot path a round trip, and the statement never
/// fails on the race (`ON CONFLICT (merchant_id, merchant_uid) WHERE ... DO NOTHING`), so it can
/// share a group commit with others; which check refused it is asked only when it was refused.
/// An imp_uid that is already taken is drawn again (same `imps_`/`imp_` prefix): the row's
/// imp_uid is the one recorded. `webhook` is queued in the same transaction (a virtual account issued `ready`).
pub async fn insert_attempt(
    db: &Db,
    payment: &mut PaymentRow,
    webhook: Option<&NewWebhook>,
) -> Result<Result<(), InsertRefusal>, StoreError> {
    let api = payment.imp_uid.starts_with("imps_");
    insert_attempt_with_ids(db, payment, webhook, IMP_UID_TRIES, &|| {
        openimp_core::ids::new_imp_uid(api)
    })
    .await
}

/// How many imp_uids one insert tries: 12 random digits collide with a chance of n/9e11 per
/// draw (n payments stored), so a second draw practically always succeeds.
const IMP_UID_TRIES: usize = 5;

/// [`insert_attempt`] with the imp_uid generator given: an imp_uid that is already taken (the
/// primary key, the only constraint the statement does not absorb) is replaced by a fresh one,
/// up to `tries` statements in all; it is never reported as a taken merchant_uid.
pub async fn insert_attempt_with_ids(
    db: &Db,
    payment: &mut PaymentRow,
    webhook: Option<&NewWebhook>,
    tries: usize,
    new_imp_uid: &(dyn Fn() -> String + Sync),
) -> Result<Result<(), InsertRefusal>, StoreError> {
    let mut tried = 0;
    loop {
        tried += 1;
        match insert_once(db, payment, webhook).await {
            Ok(true) => return Ok(Ok(())),
            Ok(false) => return refusal(db, payment).await.map(Err),
            Err(StoreError::Conflict(detail))
                if tried < tries && imp_uid_taken(db, &payment.imp_uid).await? =>
            {
                tracing::warn!(imp_uid = %payment.imp_uid, %detail, "imp_uid collision; drawing another");
                payment.imp_uid = new_imp_uid();
            }
            Err(err) => return Err(err),
        }
    }
}

/// One try of [`insert_statement`]: whether it wrote the row.
async fn insert_once(
    db: &Db,
    payment: &PaymentRow,
    webhook: Option<&NewWebhook>,
) -> Result<bool, StoreError> {
    let (sql, params) = insert_statement(payment);
    let Some(webhook) = webhook else { return Ok(db.execute_durable(sql, params).await? == 1) };
    let mut tx = db.begin().await?;
    let inserted =
        bind_all(sqlx::query(&sql), &params).execute(&mut *tx).await?.rows_affected() == 1;
    commit_with_webhook(db, tx, inserted, &payment.imp_uid, webhook).await
}

async fn imp_uid_taken(db: &Db, imp_uid: &str) -> Result<bool, StoreError> {
    Ok(sqlx::query("SELECT 1 FROM payments WHERE imp_uid = $1")
        .bind(imp_uid)
        .fetch_optional(db.reader())
        .await?
        .is_some())
}

/// Which of [`insert_statement`]'s guards refused it.
async fn refusal(db: &Db, payment: &PaymentRow) -> Result<InsertRefusal, StoreError> {
    let mismatch = sqlx::query(
        "SELECT 1 FROM prepares p WHERE p.merchant_id = $1 AND p.merchant_uid = $2 AND (p.amount <> $3 OR (p.currency IS NOT NULL AND p.currency <> $4))",
    )
    .bind(&payment.merchant_id)
    .bind(&payment.merchant_uid)
    .bind(payment.amount)
    .bind(&payment.currency)
    .fetch_optional(db.reader())
    .await?;
    if mismatch.is_some() && payment.status != PaymentStatus::Failed {
        return Ok(InsertRefusal::PreparedMismatch);
    }
    match merchant_uid_taken(db, &payment.merchant_id, &payment.merchant_uid).await? {
        Some(MerchantUidTaken::Schedule)
            if payment.customer_uid_usage != Some(KeyUsage::Scheduled) =>
        {
            Ok(InsertRefusal::ReservedBySchedule)
        }
        _ => Ok(InsertRefusal::LiveMerchantUid),
    }
}

/// What holds a merchant_uid that a new payment wants.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MerchantUidTaken {
    /// A live (pending, ready, paid or cancelled) payment.
    LivePayment,
    /// A `scheduled` schedule, waiting to charge it.
    Schedule,
}

/// Whether a merchant_uid is free for a new payment: no live payment has it and no pending
/// schedule reserves it. The insert's guards decide races; this answers early and clearly.
pub async fn merchant_uid_taken(
    db: &Db,
    merchant_id: &str,
    merchant_uid: &str,
) -> Result<Option<MerchantUidTaken>, StoreError> {
    let found = sqlx::query(
        "SELECT CASE WHEN EXISTS (SELECT 1 FROM payments WHERE merchant_id = $1 AND merchant_uid = $2 AND status IN ('pending', 'ready', 'paid', 'cancelled')) THEN 1 \
         WHEN EXISTS (SELECT 1 FROM schedules WHERE merchant_id = $1 AND merchant_uid = $2 AND schedule_status = 'scheduled') THEN 2 ELSE 0 END",
    )
    .bind(merchant_id)
    .bind(merchant_uid)
    .fetch_one(db.reader())
    .await?;
    let taken: i64 = found.try_get(0)?;
    Ok(match taken {
        1 => Some(MerchantUidTaken::LivePayment),
        2 => Some(MerchantUidTaken::Schedule),
        _ => None,
    })
}

/// The payment a schedule's current run made: the scheduler's own charge (usage
/// `payment.scheduled`) of this customer_uid and amount, started since the run began. A payment
/// anyone else made under the merchant_uid never counts.
pub async fn scheduled_run(
    db: &Db,
    merchant_id: &str,
    merchant_uid: &str,
    customer_uid: &str,
    amount: i64,
    since: i64,
) -> Result<Option<PaymentRow>, StoreError> {
    let found = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM payments WHERE merchant_id = $1 AND merchant_uid = $2 AND customer_uid_usage = '{}' \
         AND customer_uid = $3 AND amount = $4 AND started_at >= $5 ORDER BY started_at DESC, imp_uid DESC LIMIT 1",
        KeyUsage::Scheduled.as_str()
    ))
    .bind(merchant_id)
    .bind(merchant_uid)
    .bind(customer_uid)
    .bind(amount)
    .bind(since)
    .fetch_optional(db.reader())
    .await?;
    Ok(found.map(|row| from_row(&row)).transpose()?)
}

/// The conflict target of the live-merchant_uid index (migration 0005): only that race is
/// absorbed; an imp_uid collision still fails the statement so that it can be retried.
const LIVE_MERCHANT_UID: &str =
    "(merchant_id, merchant_uid) WHERE status IN ('pending', 'ready', 'paid', 'cancelled')";

fn insert_statement(payment: &PaymentRow) -> (String, Vec<Value>) {
    let placeholders: Vec<String> = (1..=51).map(|i| format!("${i}")).collect();
    // An attempt recorded already failed moves no money: the prepared order does not apply.
    // (SQLite needs some WHERE before `ON CONFLICT` in an INSERT ... SELECT.)
    let prepared = (payment.status != PaymentStatus::Failed).then_some(
        "NOT EXISTS (SELECT 1 FROM prepares p WHERE p.merchant_id = $2 AND p.merchant_uid = $3 AND (p.amount <> $5 OR (p.currency IS NOT NULL AND p.currency <> $10)))",
    );
    // A pending schedule reserves its merchant_uid for its own charge (docs/decisions.md).
    let reserved = (payment.customer_uid_usage != Some(KeyUsage::Scheduled)).then_some(
        "NOT EXISTS (SELECT 1 FROM schedules s WHERE s.merchant_id = $2 AND s.merchant_uid = $3 AND s.schedule_status = 'scheduled')",
    );
    let guards: Vec<&str> = prepared.into_iter().chain(reserved).collect();
    let guard = if guards.is_empty() { "1 = 1".to_owned() } else { guards.join(" AND ") };
    let sql = format!(
        "INSERT INTO payments ({COLUMNS}) SELECT {} WHERE {guard} ON CONFLICT {LIVE_MERCHANT_UID} DO NOTHING",
        placeholders.join(", ")
    );
    let params: Vec<Value> = vec![
        (&payment.imp_uid).into(),
        (&payment.merchant_id).into(),
        (&payment.merchant_uid).into(),
        payment.status.as_str().into(),
        payment.amount.into(),
        payment.cancel_amount.into(),
        payment.cancel_reserved.into(),
        payment.tax_free.into(),
        payment.vat_amount.into(),
        (&payment.currency).into(),
        (&payment.pay_method).into(),
        (&payment.channel).into(),
        (&payment.channel_id).into(),
        (&payment.pg_provider).into(),
        (&payment.pg_id).into(),
        (&payment.pg_tid).into(),
        (&payment.apply_num).into(),
        (&payment.card_code).into(),
        (&payment.card_name).into(),
        (&payment.card_number).into(),
        payment.card_type.into(),
        payment.card_quota.into(),
        (&payment.name).into(),
        (&payment.buyer_name).into(),
        (&payment.buyer_email).into(),
        (&payment.buyer_tel).into(),
        (&payment.buyer_addr).into(),
        (&payment.buyer_postcode).into(),
        (&payment.custom_data).into(),
        (&payment.user_agent).into(),
        (&payment.notice_url).into(),
        (&payment.customer_uid).into(),
        (&payment.customer_uid_usage.map(|usage| usage.as_str().to_owned())).into(),
        payment.started_at.into(),
        payment.paid_at.into(),
        payment.failed_at.into(),
        payment.cancelled_at.into(),
        (&payment.fail_reason).into(),
        (&payment.cancel_reason).into(),
        (&payment.receipt_url).into(),
        payment.updated_at.into(),
        (&payment.method.emb_pg_provider).into(),
        (&payment.method.bank_code).into(),
        (&payment.method.bank_name).into(),
        (&payment.method.vbank_code).into(),
        (&payment.method.vbank_name).into(),
        (&payment.method.vbank_num).into(),
        (&payment.method.vbank_holder).into(),
        payment.method.vbank_date.into(),
        payment.method.vbank_issued_at.into(),
        (&payment.pg_mode).into(),
    ];
    (sql, params)
}

/// `pending` → `paid`, with the PG's approval ($1..$8; empty card fields stay NULL for
/// non-card methods) on payment $9.
const MARK_PAID_SQL: &str = "UPDATE payments SET status = 'paid', pg_tid = $1, apply_num = $2, paid_at = $3, card_code = NULLIF($4, ''), card_name = NULLIF($5, ''), card_number = NULLIF($6, ''), card_type = $7, receipt_url = $8, updated_at = $3 \
         WHERE imp_uid = $9 AND status = 'pending'";

/// `pending` → `failed`, with the reason $1 at time $2, on payment $3.
const MARK_FAILED_SQL: &str = "UPDATE payments SET status = 'failed', fail_reason = $1, failed_at = $2, updated_at = $2 WHERE imp_uid = $3 AND status = 'pending'";

/// The PG's approval, as recorded on a payment.
#[derive(Debug, Clone)]
pub struct ApprovalRecord {
    pub pg_tid: String,
    pub apply_num: String,
    pub paid_at: i64,
    pub card_code: String,
    pub card_name: String,
    pub card_number: String,
    pub card_type: Option<i64>,
    pub receipt_url: Option<String>,
}

/// `pending` → `paid`. Returns false when the payment was no longer pending (settled already).
pub async fn mark_paid(
    db: &Db,
    imp_uid: &str,
    approval: &ApprovalRecord,
) -> Result<bool, StoreError> {
    let sql = MARK_PAID_SQL;
    let params = vec![
        (&approval.pg_tid).into(),
        (&approval.apply_num).into(),
        approval.paid_at.into(),
        (&approval.card_code).into(),
        (&approval.card_name).into(),
        (&approval.card_number).into(),
        approval.card_type.into(),
        (&approval.receipt_url).into(),
        imp_uid.into(),
    ];
    Ok(db.execute_durable(sql.to_owned(), params).await? == 1)
}

/// `pending` → `failed`. Returns false when the payment was no longer pending.
pub async fn mark_failed(
    db: &Db,
    imp_uid: &str,
    reason: &str,
    failed_at: i64,
) -> Result<bool, StoreError> {
    let sql = MARK_FAILED_SQL;
    let params = vec![reason.into(), failed_at.into(), imp_uid.into()];
    Ok(db.execute_durable(sql.to_owned(), params).await? == 1)
}

/// [`mark_paid`], and queues `webhook` in the same transaction. Without a webhook it is exactly
/// [`mark_paid`] (the hot path keeps its single statement).
pub async fn mark_paid_notify(
    db: &Db,
    imp_uid: &str,
    approval: &ApprovalRecord,
    webhook: Option<&NewWebhook>,
) -> Result<bool, StoreError> {
    let Some(webhook) = webhook else { return mark_paid(db, imp_uid, approval).await };
    let mut tx = db.begin().await?;
    let changed = sqlx::query(MARK_PAID_SQL)
        .bind(&approval.pg_tid)
        .bind(&approval.apply_num)
        .bind(approval.paid_at)
        .bind(&approval.card_code)
        .bind(&approval.card_name)
        .bind(&approval.card_number)
        .bind(approval.card_type)
        .bind(&approval.receipt_url)
        .bind(imp_uid)
        .execute(&mut *tx)
        .await?
        .rows_affected()
        == 1;
    commit_with_webhook(db, tx, changed, imp_uid, webhook).await
}

/// [`mark_failed`], and queues `webhook` in the same transaction.
pub async fn mark_failed_notify(
    db: &Db,
    imp_uid: &str,
    reason: &str,
    failed_at: i64,
    webhook: Option<&NewWebhook>,
) -> Result<bool, StoreError> {
    let Some(webhook) = webhook else { return mark_failed(db, imp_uid, reason, failed_at).await };
    let mut tx = db.begin().await?;
    let changed = sqlx::query(MARK_FAILED_SQL)
        .bind(reason)
        .bind(failed_at)
        .bind(imp_uid)
        .execute(&mut *tx)
        .await?
        .rows_affected()
        == 1;
    commit_with_webhook(db, tx, changed, imp_uid, webhook).await
}

/// Queues the webhook if the state change happened, then commits (else rolls back).
async fn commit_with_webhook(
    db: &Db,
    mut tx: crate::Tx,
    changed: bool,
    imp_uid: &str,
    webhook: &NewWebhook,
) -> Result<bool, StoreError> {
    if changed {
        crate::webhooks::insert_for_payment(&mut tx, imp_uid, webhook).await?;
        tx.commit().await?;
        db.durable().await?;
    } else {
        tx.rollback().await?;
    }
    Ok(changed)
}

/// A virtual account was paid into: `ready` → `paid`, with the PG's approval of the deposit, and
/// `webhook` queued in the same transaction. False when the payment was not a ready vbank.
pub async fn mark_deposited_notify(
    db: &Db,
    imp_uid: &str,
    approval: &ApprovalRecord,
    webhook: Option<&NewWebhook>,
) -> Result<bool, StoreError> {
    let mut tx = db.begin().await?;
    let changed = sqlx::query(
        "UPDATE payments SET status = 'paid', pg_tid = $1, apply_num = $2, paid_at = $3, receipt_url = $4, updated_at = $3 \
         WHERE imp_uid = $5 AND status = 'ready' AND pay_method = 'vbank'",
    )
    .bind(&approval.pg_tid)
    .bind(&approval.apply_num)
    .bind(approval.paid_at)
    .bind(&approval.receipt_url)
    .bind(imp_uid)
    .execute(&mut *tx)
    .await?
    .rows_affected()
        == 1;
    match webhook {
        Some(webhook) => commit_with_webhook(db, tx, changed, imp_uid, webhook).await,
        None => {
            if changed {
                tx.commit().await?;
                db.durable().await?;
            } else {
                tx.rollback().await?;
            }
            Ok(changed)
        }
    }
}

/// One payment by its imp_uid, whatever its merchant (the operator's CLI).
pub async fn get_any(db: &Db, imp_uid: &str) -> Result<Option<PaymentRow>, StoreError> {
    let row = sqlx::query(&format!("SELECT {COLUMNS} FROM payments WHERE imp_uid = $1"))
        .bind(imp_uid)
        .fetch_optional(db.reader())
        .await?;
    Ok(row.map(|row| from_row(&row)).transpose()?)
}

/// Notes that a pending payment was looked at by the reconciler (so it is retried later, not
/// in a tight loop).
pub async fn touch_pending(db: &Db, imp_uid: &str, now: i64) -> Result<(), StoreError> {
    sqlx::query("UPDATE payments SET updated_at = $1 WHERE imp_uid = $2 AND status = 'pending'")
        .bind(now)
        .bind(imp_uid)
        .execute(db.writer())
        .await?;
    db.durable().await
}

/// One payment, scoped to its merchant.
pub async fn get(
    db: &Db,
    merchant_id: &str,
    imp_uid: &str,
) -> Result<Option<PaymentRow>, StoreError> {
    let row = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM payments WHERE merchant_id = $1 AND imp_uid = $2"
    ))
    .bind(merchant_id)
    .bind(imp_uid)
    .fetch_optional(db.reader())
    .await?;
    Ok(row.map(|row| from_row(&row)).transpose()?)
}

/// Payments still pending whose last update is older than `before`, across all merchants.
pub async fn pending_before(
    db: &Db,
    before: i64,
    limit: i64,
) -> Result<Vec<PaymentRow>, StoreError> {
    let found = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM payments WHERE status = 'pending' AND updated_at <= $1 ORDER BY updated_at LIMIT $2"
    ))
    .bind(before)
    .bind(limit)
    .fetch_all(db.reader())
    .await?;
    rows(&found)
}

/// The sort orders of i'mport's list endpoints.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sorting {
    StartedDesc,
    StartedAsc,
    PaidDesc,
    PaidAsc,
    UpdatedDesc,
    UpdatedAsc,
}

impl Sorting {
    fn order_by(self) -> &'static str {
        match self {
            Sorting::StartedDesc => "started_at DESC, imp_uid DESC",
            Sorting::StartedAsc => "started_at ASC, imp_uid ASC",
            Sorting::PaidDesc => "paid_at DESC, imp_uid DESC",
            Sorting::PaidAsc => "paid_at ASC, imp_uid ASC",
            Sorting::UpdatedDesc => "updated_at DESC, imp_uid DESC",
            Sorting::UpdatedAsc => "updated_at ASC, imp_uid ASC",
        }
    }
}

/// Which payments a list asks for. Wire statuses: `ready` also matches internal `pending`.
#[derive(Debug, Clone, Default)]
pub struct PaymentFilter {
    pub merchant_uid: Option<String>,
    pub customer_uid: Option<String>,
    pub status: Option<String>,
    /// (column, from, to): both bounds inclusive.
    pub time_range: Option<(&'static str, i64, i64)>,
    /// The console's search: one imp_uid, a pay method, a PG provider.
    pub imp_uid: Option<String>,
    pub pay_method: Option<String>,
    pub pg_provider: Option<String>,
}

fn where_clause(merchant_id: &str, filter: &PaymentFilter) -> (String, Vec<String>, Vec<i64>) {
    let mut clauses = vec!["merchant_id = $1".to_owned()];
    let mut texts = vec![merchant_id.to_owned()];
    let mut numbers = Vec::new();
    if let Some(merchant_uid) = &filter.merchant_uid {
        texts.push(merchant_uid.clone());
        clauses.push(format!("merchant_uid = ${}", texts.len()));
    }
    for (column, value) in [
        ("customer_uid", &filter.customer_uid),
        ("imp_uid", &filter.imp_uid),
        ("pay_method", &filter.pay_method),
        ("pg_provider", &filter.pg_provider),
    ] {
        if let Some(value) = value {
            texts.push(value.clone());
            clauses.push(format!("{column} = ${}", texts.len()));
        }
    }
    match filter.status.as_deref() {
        Some("ready") => clauses.push("status IN ('ready', 'pending')".to_owned()),
        Some(status) => {
            texts.push(status.to_owned());
            clauses.push(format!("status = ${}", texts.len()));
        }
        None => {}
    }
    if let Some((column, from, to)) = filter.time_range {
        numbers.push(from);
        numbers.push(to);
        let base = texts.len();
        clauses.push(format!("{column} >= ${} AND {column} <= ${}", base + 1, base + 2));
    }
    (clauses.join(" AND "), texts, numbers)
}

/// A page of payments (page from 1) and the total count.
pub async fn list(
    db: &Db,
    merchant_id: &str,
    filter: &PaymentFilter,
    sorting: Sorting,
    page: i64,
    limit: i64,
) -> Result<(Vec<PaymentRow>, i64), StoreError> {
    let (clause, texts, numbers) = where_clause(merchant_id, filter);
    let n_params = texts.len() + numbers.len();
    let count_sql = format!("SELECT COUNT(*) FROM payments WHERE {clause}");
    let list_sql = format!(
        "SELECT {COLUMNS} FROM payments WHERE {clause} ORDER BY {} LIMIT ${} OFFSET ${}",
        sorting.order_by(),
        n_params + 1,
        n_params + 2
    );
    let mut count_query = sqlx::query(&count_sql);
    let mut list_query = sqlx::query(&list_sql);
    for text in &texts {
        count_query = count_query.bind(text.clone());
        list_query = list_query.bind(text.clone());
    }
    for number in &numbers {
        count_query = count_query.bind(*number);
        list_query = list_query.bind(*number);
    }
    let total: i64 = count_query.fetch_one(db.reader()).await?.try_get(0)?;
    let found = list_query.bind(limit).bind((page - 1) * limit).fetch_all(db.reader()).await?;
    Ok((rows(&found)?, total))
}

/// The first payment of a merchant_uid under `sorting`.
pub async fn find_one(
    db: &Db,
    merchant_id: &str,
    filter: &PaymentFilter,
    sorting: Sorting,
) -> Result<Option<PaymentRow>, StoreError> {
    let (found, _) = list(db, merchant_id, filter, sorting, 1, 1).await?;
    Ok(found.into_iter().next())
}

/// Payments by imp_uid or merchant_uid (latest attempt per merchant_uid), in the order asked,
/// without duplicates.
pub async fn get_many(
    db: &Db,
    merchant_id: &str,
    imp_uids: &[String],
    merchant_uids: &[String],
) -> Result<Vec<PaymentRow>, StoreError> {
    let mut found: Vec<PaymentRow> = Vec::new();
    for imp_uid in imp_uids {
        if let Some(row) = get(db, merchant_id, imp_uid).await? {
            if !found.iter().any(|p| p.imp_uid == row.imp_uid) {
                found.push(row);
            }
        }
    }
    for merchant_uid in merchant_uids {
        let filter =
            PaymentFilter { merchant_uid: Some(merchant_uid.clone()), ..PaymentFilter::default() };
        if let Some(row) = find_one(db, merchant_id, &filter, Sorting::StartedDesc).await? {
            if !found.iter().any(|p| p.imp_uid == row.imp_uid) {
                found.push(row);
            }
        }
    }
    Ok(found)
}
