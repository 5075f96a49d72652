//! The webhook outbox, its delivery log, and each merchant's webhook settings.
//!
//! Outbox rows are written by the payment state changes themselves, in their transaction
//! (`payments::mark_paid_notify` and friends call [`insert_for_payment`]). Workers claim due
//! rows with a lease, deliver, and record each attempt together with the row's next state.

use std::collections::HashMap;

use sqlx::any::AnyRow;
use sqlx::Row;

use crate::db::{Db, StoreError};

/// A notification to queue with a payment's state change. The event's imp_uid, merchant_uid
/// and status are read from the payment row inside the same transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewWebhook {
    /// `msg_` + hex: the Standard Webhooks `webhook-id`.
    pub id: String,
    pub url: String,
    /// `json` or `form`.
    pub format: String,
    pub cancellation_id: Option<String>,
    /// Unix seconds.
    pub created_at: i64,
    /// Unix milliseconds: the first attempt's time (now).
    pub next_attempt_at: i64,
}

/// Queues `webhook` for the payment `imp_uid` inside `tx`.
pub async fn insert_for_payment(
    tx: &mut crate::Tx,
    imp_uid: &str,
    webhook: &NewWebhook,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO webhook_outbox (id, merchant_id, imp_uid, merchant_uid, status, cancellation_id, url, format, state, attempts, round_attempts, next_attempt_at, lease_until, created_at, delivered_at, updated_at) \
         SELECT $1, p.merchant_id, p.imp_uid, p.merchant_uid, CASE WHEN p.status = 'pending' THEN 'ready' ELSE p.status END, $2, $3, $4, 'pending', 0, 0, $5, 0, $6, 0, $6 FROM payments p WHERE p.imp_uid = $7",
    )
    .bind(&webhook.id)
    .bind(&webhook.cancellation_id)
    .bind(&webhook.url)
    .bind(&webhook.format)
    .bind(webhook.next_attempt_at)
    .bind(webhook.created_at)
    .bind(imp_uid)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// A queued notification.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OutboxRow {
    pub id: String,
    pub merchant_id: String,
    pub imp_uid: String,
    pub merchant_uid: String,
    pub status: String,
    pub cancellation_id: Option<String>,
    pub url: String,
    pub format: String,
    pub state: String,
    pub attempts: i64,
    pub round_attempts: i64,
    pub next_attempt_at: i64,
    pub lease_until: i64,
    pub last_status: Option<i64>,
    pub last_error: Option<String>,
    pub created_at: i64,
    pub delivered_at: i64,
    pub updated_at: i64,
}

const COLUMNS: &str = "id, merchant_id, imp_uid, merchant_uid, status, cancellation_id, url, format, state, attempts, round_attempts, next_attempt_at, lease_until, last_status, last_error, created_at, delivered_at, updated_at";

fn from_row(row: &AnyRow) -> Result<OutboxRow, sqlx::Error> {
    Ok(OutboxRow {
        id: row.try_get(0)?,
        merchant_id: row.try_get(1)?,
        imp_uid: row.try_get(2)?,
        merchant_uid: row.try_get(3)?,
        status: row.try_get(4)?,
        cancellation_id: row.try_get(5)?,
        url: row.try_get(6)?,
        format: row.try_get(7)?,
        state: row.try_get(8)?,
        attempts: row.try_get(9)?,
        round_attempts: row.try_get(10)?,
        next_attempt_at: row.try_get(11)?,
        lease_until: row.try_get(12)?,
        last_status: row.try_get(13)?,
        last_error: row.try_get(14)?,
        created_at: row.try_get(15)?,
        delivered_at: row.try_get(16)?,
        updated_at: row.try_get(17)?,
    })
}

fn rows(found: &[AnyRow]) -> Result<Vec<OutboxRow>, StoreError> {
    Ok(found.iter().map(from_row).collect::<Result<_, _>>()?)
}

/// Claims up to `limit` pending rows due at `now_ms`, leased until `lease_until_ms`.
pub async fn claim_due(
    db: &Db,
    now_ms: i64,
    lease_until_ms: i64,
    limit: i64,
) -> Result<Vec<OutboxRow>, StoreError> {
    let found = sqlx::query(&format!(
        "UPDATE webhook_outbox SET lease_until = $1 WHERE id IN (SELECT id FROM webhook_outbox WHERE state = 'pending' AND next_attempt_at <= $2 \
         AND lease_until <= $2 ORDER BY next_attempt_at LIMIT $3{}) AND state = 'pending' AND lease_until <= $2 RETURNING {COLUMNS}",
        db.skip_locked()
    ))
    .bind(lease_until_ms)
    .bind(now_ms)
    .bind(limit)
    .fetch_all(db.writer())
    .await?;
    db.durable().await?;
    rows(&found)
}

/// One delivery attempt, as logged.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct AttemptRow {
    pub webhook_id: String,
    pub attempt: i64,
    /// Unix milliseconds.
    pub attempted_at: i64,
    /// None: no HTTP answer (network error, timeout, refused address).
    pub http_status: Option<i64>,
    pub latency_ms: i64,
    pub error: Option<String>,
    pub response_snippet: Option<String>,
}

/// What the row becomes after an attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AfterAttempt {
    Delivered,
    /// Try again at this time (unix milliseconds).
    RetryAt(i64),
    /// Out of tries.
    GaveUp,
}

/// Logs an attempt and moves the row, in one transaction.
pub async fn record_attempt(
    db: &Db,
    attempt: &AttemptRow,
    after: AfterAttempt,
    now: i64,
) -> Result<(), StoreError> {
    let mut tx = db.begin().await?;
    sqlx::query(
        "INSERT INTO webhook_attempts (webhook_id, attempt, attempted_at, http_status, latency_ms, error, response_snippet) \
         VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (webhook_id, attempt) DO NOTHING",
    )
    .bind(&attempt.webhook_id)
    .bind(attempt.attempt)
    .bind(attempt.attempted_at)
    .bind(attempt.http_status)
    .bind(attempt.latency_ms)
    .bind(&attempt.error)
    .bind(&attempt.response_snippet)
    .execute(&mut *tx)
    .await?;
    let (state, next, delivered_at) = match after {
        AfterAttempt::Delivered => ("delivered", 0, now),
        AfterAttempt::RetryAt(at) => ("pending", at, 0),
        AfterAttempt::GaveUp => ("failed", 0, 0),
    };
    sqlx::query(
        "UPDATE webhook_outbox SET state = $1, next_attempt_at = CASE WHEN $2 > 0 THEN $2 ELSE next_attempt_at END, lease_until = 0, \
         attempts = attempts + 1, round_attempts = round_attempts + 1, last_status = $3, last_error = $4, \
         delivered_at = CASE WHEN $5 > 0 THEN $5 ELSE delivered_at END, updated_at = $6 WHERE id = $7",
    )
    .bind(state)
    .bind(next)
    .bind(attempt.http_status)
    .bind(&attempt.error)
    .bind(delivered_at)
    .bind(now)
    .bind(&attempt.webhook_id)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    db.durable().await
}

/// Which outbox rows a list asks for.
#[derive(Debug, Clone, Default)]
pub struct OutboxFilter {
    /// None: every merchant (the operator's CLI).
    pub merchant_id: Option<String>,
    pub imp_uid: Option<String>,
    pub merchant_uid: Option<String>,
    pub state: Option<String>,
}

/// A page of outbox rows (newest first) and the total count.
pub async fn list(
    db: &Db,
    filter: &OutboxFilter,
    page: i64,
    limit: i64,
) -> Result<(Vec<OutboxRow>, i64), StoreError> {
    let mut clauses = vec!["1 = 1".to_owned()];
    let mut texts = Vec::new();
    for (column, value) in [
        ("merchant_id", &filter.merchant_id),
        ("imp_uid", &filter.imp_uid),
        ("merchant_uid", &filter.merchant_uid),
        ("state", &filter.state),
    ] {
        if let Some(value) = value {
            texts.push(value.clone());
            clauses.push(format!("{column} = ${}", texts.len()));
        }
    }
    let clause = clauses.join(" AND ");
    let count_sql = format!("SELECT COUNT(*) FROM webhook_outbox WHERE {clause}");
    let mut count = sqlx::query_scalar::<_, i64>(&count_sql);
    let list_sql = format!(
        "SELECT {COLUMNS} FROM webhook_outbox WHERE {clause} ORDER BY created_at DESC, id DESC LIMIT ${} OFFSET ${}",
        texts.len() + 1,
        texts.len() + 2
    );
    let mut list = sqlx::query(&list_sql);
    for text in &texts {
        count = count.bind(text.clone());
        list = list.bind(text.clone());
    }
    let total = count.fetch_one(db.reader()).await?;
    let found = list.bind(limit).bind((page - 1) * limit).fetch_all(db.reader()).await?;
    Ok((rows(&found)?, total))
}

/// One outbox row (scoped to a merchant when given).
pub async fn get(
    db: &Db,
    merchant_id: Option<&str>,
    id: &str,
) -> Result<Option<OutboxRow>, StoreError> {
    let row = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM webhook_outbox WHERE id = $1 AND ($2 = '' OR merchant_id = $2)"
    ))
    .bind(id)
    .bind(merchant_id.unwrap_or(""))
    .fetch_optional(db.reader())
    .await?;
    Ok(row.map(|row| from_row(&row)).transpose()?)
}

/// The attempt log of the given rows, oldest attempt first.
pub async fn attempts_for(
    db: &Db,
    ids: &[&str],
) -> Result<HashMap<String, Vec<AttemptRow>>, StoreError> {
    let mut by_id: HashMap<String, Vec<AttemptRow>> = HashMap::new();
    for chunk in ids.chunks(200) {
        if chunk.is_empty() {
            continue;
        }
        let marks: Vec<String> = (1..=chunk.len()).map(|i| format!("${i}")).collect();
        let sql = format!(
            "SELECT webhook_id, attempt, attempted_at, http_status, latency_ms, error, response_snippet FROM webhook_attempts \
             WHERE webhook_id IN ({}) ORDER BY webhook_id, attempt",
            marks.join(", ")
        );
        let mut query = sqlx::query(&sql);
        for id in chunk {
            query = query.bind(id.to_string());
        }
        for row in query.fetch_all(db.reader()).await? {
            let attempt = AttemptRow {
                webhook_id: row.try_get(0)?,
                attempt: row.try_get(1)?,
                attempted_at: row.try_get(2)?,
                http_status: row.try_get(3)?,
                latency_ms: row.try_get(4)?,
                error: row.try_get(5)?,
                response_snippet: row.try_get(6)?,
            };
            by_id.entry(attempt.webhook_id.clone()).or_default().push(attempt);
        }
    }
    Ok(by_id)
}

/// Queues a row again for an immediate delivery with a fresh round of tries (same webhook-id,
/// same URL). Returns whether the row exists.
pub async fn resend(
    db: &Db,
    merchant_id: Option<&str>,
    id: &str,
    now: i64,
    now_ms: i64,
) -> Result<bool, StoreError> {
    let result = sqlx::query(
        "UPDATE webhook_outbox SET state = 'pending', round_attempts = 0, next_attempt_at = $1, lease_until = 0, updated_at = $2 \
         WHERE id = $3 AND ($4 = '' OR merchant_id = $4)",
    )
    .bind(now_ms)
    .bind(now)
    .bind(id)
    .bind(merchant_id.unwrap_or(""))
    .execute(db.writer())
    .await?;
    db.durable().await?;
    Ok(result.rows_affected() == 1)
}

/// A merchant's webhook settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookSettings {
    pub url: Option<String>,
    pub format: String,
    pub secret_sealed: Option<String>,
}

pub async fn settings(db: &Db, merchant_id: &str) -> Result<Option<WebhookSettings>, StoreError> {
    let row = sqlx::query(
        "SELECT webhook_url, webhook_format, webhook_secret_sealed FROM merchants WHERE imp_code = $1",
    )
    .bind(merchant_id)
    .fetch_optional(db.reader())
    .await?;
    let Some(row) = row else { return Ok(None) };
    Ok(Some(WebhookSettings {
        url: row.try_get(0)?,
        format: row.try_get(1)?,
        secret_sealed: row.try_get(2)?,
    }))
}

/// Sets the merchant's webhook URL (None: none) and body format. Returns whether it exists.
pub async fn set_endpoint(
    db: &Db,
    merchant_id: &str,
    url: Option<&str>,
    format: &str,
) -> Result<bool, StoreError> {
    let result = sqlx::query(
        "UPDATE merchants SET webhook_url = $1, webhook_format = $2 WHERE imp_code = $3",
    )
    .bind(url)
    .bind(format)
    .bind(merchant_id)
    .execute(db.writer())
    .await?;
    db.durable().await?;
    Ok(result.rows_affected() == 1)
}

/// Stores the sealed signing secret unless the merchant has one already (two nodes racing to
/// create it: the first wins, the other reads it back).
pub async fn set_secret_if_absent(
    db: &Db,
    merchant_id: &str,
    sealed: &str,
) -> Result<(), StoreError> {
    sqlx::query(
        "UPDATE merchants SET webhook_secret_sealed = $1 WHERE imp_code = $2 AND webhook_secret_sealed IS NULL",
    )
    .bind(sealed)
    .bind(merchant_id)
    .execute(db.writer())
    .await?;
    db.durable().await
}

/// (merchant_id, sealed secret) of every merchant with a secret (master-key rotation).
pub async fn list_sealed_secrets(db: &Db) -> Result<Vec<(String, String)>, StoreError> {
    let found = sqlx::query(
        "SELECT imp_code, webhook_secret_sealed FROM merchants WHERE webhook_secret_sealed IS NOT NULL",
    )
    .fetch_all(db.reader())
    .await?;
    Ok(found
        .iter()
        .map(|row| Ok::<_, sqlx::Error>((row.try_get(0)?, row.try_get(1)?)))
        .collect::<Result<_, _>>()?)
}

/// Replaces a sealed secret (master-key rotation).
pub async fn set_sealed_secret(db: &Db, merchant_id: &str, sealed: &str) -> Result<(), StoreError> {
    sqlx::query("UPDATE merchants SET webhook_secret_sealed = $1 WHERE imp_code = $2")
        .bind(sealed)
        .bind(merchant_id)
        .execute(db.writer())
        .await?;
    db.durable().await
}
