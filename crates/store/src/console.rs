//! The merchant web console's own tables (migration 0013): users, sessions, failed sign-ins,
//! the audit log; and the read-only aggregates its dashboard draws. The console never writes a
//! money table: changes go through the services like every REST request.

use sqlx::any::AnyRow;
use sqlx::Row;

use crate::db::{Db, StoreError};

/// A console user. `merchant_id` is None for an operator.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserRow {
    pub id: String,
    /// Lower-cased.
    pub email: String,
    pub merchant_id: Option<String>,
    /// `owner`, `viewer` or `operator`.
    pub role: String,
    /// argon2id PHC string.
    pub password_hash: String,
    pub created_at: i64,
    pub updated_at: i64,
}

/// A signed-in browser: the hash of its cookie token and its CSRF token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionRow {
    pub token_hash: String,
    pub user_id: String,
    pub csrf_token: String,
    pub created_at: i64,
    pub expires_at: i64,
}

/// One audit entry: who did what to which object, and when.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct AuditRow {
    pub id: String,
    pub merchant_id: Option<String>,
    pub user_id: String,
    pub user_email: String,
    pub action: String,
    pub subject: String,
    pub detail: String,
    pub at: i64,
}

/// One day of a merchant's payments, for the dashboard (day = days since the epoch in KST).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct DailyVolume {
    pub day: i64,
    /// Sum of amounts of the attempts started that day that were approved (paid or cancelled
    /// later): what was charged.
    pub approved_amount: i64,
    pub approved: i64,
    pub failed: i64,
    /// Attempts started that day, whatever their outcome.
    pub attempts: i64,
}

const USER_COLUMNS: &str = "id, email, merchant_id, role, password_hash, created_at, updated_at";
const AUDIT_COLUMNS: &str = "id, merchant_id, user_id, user_email, action, subject, detail, at";
/// Korea's offset from UTC: the dashboard's days are KST days.
pub const KST_OFFSET_SECS: i64 = 9 * 3600;

fn user_from_row(row: &AnyRow, offset: usize) -> Result<UserRow, sqlx::Error> {
    Ok(UserRow {
        id: row.try_get(offset)?,
        email: row.try_get(offset + 1)?,
        merchant_id: row.try_get(offset + 2)?,
        role: row.try_get(offset + 3)?,
        password_hash: row.try_get(offset + 4)?,
        created_at: row.try_get(offset + 5)?,
        updated_at: row.try_get(offset + 6)?,
    })
}

fn audit_from_row(row: &AnyRow) -> Result<AuditRow, sqlx::Error> {
    Ok(AuditRow {
        id: row.try_get(0)?,
        merchant_id: row.try_get(1)?,
        user_id: row.try_get(2)?,
        user_email: row.try_get(3)?,
        action: row.try_get(4)?,
        subject: row.try_get(5)?,
        detail: row.try_get(6)?,
        at: row.try_get(7)?,
    })
}

/// Adds a user; a taken email is [`StoreError::Conflict`].
pub async fn insert_user(db: &Db, user: &UserRow) -> Result<(), StoreError> {
    sqlx::query(&format!(
        "INSERT INTO console_users ({USER_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7)"
    ))
    .bind(&user.id)
    .bind(&user.email)
    .bind(&user.merchant_id)
    .bind(&user.role)
    .bind(&user.password_hash)
    .bind(user.created_at)
    .bind(user.updated_at)
    .execute(db.writer())
    .await?;
    db.durable().await
}

pub async fn user_by_email(db: &Db, email: &str) -> Result<Option<UserRow>, StoreError> {
    let row = sqlx::query(&format!("SELECT {USER_COLUMNS} FROM console_users WHERE email = $1"))
        .bind(email)
        .fetch_optional(db.reader())
        .await?;
    Ok(row.map(|row| user_from_row(&row, 0)).transpose()?)
}

/// Users of one merchant (or, with None, the operators), oldest first.
pub async fn list_users(db: &Db, merchant_id: Option<&str>) -> Result<Vec<UserRow>, StoreError> {
    let rows = sqlx::query(&format!(
        "SELECT {USER_COLUMNS} FROM console_users WHERE ($1 = '' AND merchant_id IS NULL) OR merchant_id = $1 ORDER BY created_at, email"
    ))
    .bind(merchant_id.unwrap_or(""))
    .fetch_all(db.reader())
    .await?;
    Ok(rows.iter().map(|row| user_from_row(row, 0)).collect::<Result<_, _>>()?)
}

pub async fn insert_session(db: &Db, session: &SessionRow) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO console_sessions (token_hash, user_id, csrf_token, created_at, expires_at) VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(&session.token_hash)
    .bind(&session.user_id)
    .bind(&session.csrf_token)
    .bind(session.created_at)
    .bind(session.expires_at)
    .execute(db.writer())
    .await?;
    db.durable().await
}

/// The unexpired session with this token hash, and its user.
pub async fn session_user(
    db: &Db,
    token_hash: &str,
    now: i64,
) -> Result<Option<(SessionRow, UserRow)>, StoreError> {
    let user_columns: String =
        USER_COLUMNS.split(", ").map(|c| format!("u.{c}")).collect::<Vec<_>>().join(", ");
    let row = sqlx::query(&format!(
        "SELECT s.token_hash, s.user_id, s.csrf_token, s.created_at, s.expires_at, {user_columns} \
         FROM console_sessions s JOIN console_users u ON u.id = s.user_id \
         WHERE s.token_hash = $1 AND s.expires_at > $2"
    ))
    .bind(token_hash)
    .bind(now)
    .fetch_optional(db.reader())
    .await?;
    let Some(row) = row else { return Ok(None) };
    let session = SessionRow {
        token_hash: row.try_get(0)?,
        user_id: row.try_get(1)?,
        csrf_token: row.try_get(2)?,
        created_at: row.try_get(3)?,
        expires_at: row.try_get(4)?,
    };
    Ok(Some((session, user_from_row(&row, 5)?)))
}

/// Signs a browser out. Returns whether the session existed.
pub async fn delete_session(db: &Db, token_hash: &str) -> Result<bool, StoreError> {
    let done = sqlx::query("DELETE FROM console_sessions WHERE token_hash = $1")
        .bind(token_hash)
        .execute(db.writer())
        .await?;
    db.durable().await?;
    Ok(done.rows_affected() > 0)
}

/// Drops the sessions that expired before `now` (done at each sign-in).
pub async fn delete_expired_sessions(db: &Db, now: i64) -> Result<u64, StoreError> {
    let done = sqlx::query("DELETE FROM console_sessions WHERE expires_at <= $1")
        .bind(now)
        .execute(db.writer())
        .await?;
    Ok(done.rows_affected())
}

/// Records a failed sign-in, and forgets every failure (any email) older than `forget_before`,
/// so the table stays small however many addresses are tried.
pub async fn record_login_failure(
    db: &Db,
    id: &str,
    email: &str,
    address: Option<&str>,
    at: i64,
    forget_before: i64,
) -> Result<(), StoreError> {
    sqlx::query("DELETE FROM console_login_failures WHERE failed_at < $1")
        .bind(forget_before)
        .execute(db.writer())
        .await?;
    sqlx::query(
        "INSERT INTO console_login_failures (id, email, address, failed_at) VALUES ($1, $2, $3, $4)",
    )
    .bind(id)
    .bind(email)
    .bind(address)
    .bind(at)
    .execute(db.writer())
    .await?;
    db.durable().await
}

/// Failed sign-ins of `email` at or after `since`.
pub async fn login_failures_since(db: &Db, email: &str, since: i64) -> Result<i64, StoreError> {
    let count: i64 = sqlx::query(
        "SELECT COUNT(*) FROM console_login_failures WHERE email = $1 AND failed_at >= $2",
    )
    .bind(email)
    .bind(since)
    .fetch_one(db.reader())
    .await?
    .try_get(0)?;
    Ok(count)
}

/// Forgets the failures of `email` (after a good sign-in).
pub async fn clear_login_failures(db: &Db, email: &str) -> Result<(), StoreError> {
    sqlx::query("DELETE FROM console_login_failures WHERE email = $1")
        .bind(email)
        .execute(db.writer())
        .await?;
    db.durable().await
}

pub async fn insert_audit(db: &Db, entry: &AuditRow) -> Result<(), StoreError> {
    sqlx::query(&format!(
        "INSERT INTO console_audit ({AUDIT_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"
    ))
    .bind(&entry.id)
    .bind(&entry.merchant_id)
    .bind(&entry.user_id)
    .bind(&entry.user_email)
    .bind(&entry.action)
    .bind(&entry.subject)
    .bind(&entry.detail)
    .bind(entry.at)
    .execute(db.writer())
    .await?;
    db.durable().await
}

/// A page of a merchant's audit entries (None: entries of no merchant, i.e. the operators'
/// own), newest first, and their total.
pub async fn list_audit(
    db: &Db,
    merchant_id: Option<&str>,
    page: i64,
    limit: i64,
) -> Result<(Vec<AuditRow>, i64), StoreError> {
    let clause = "(($1 = '' AND merchant_id IS NULL) OR merchant_id = $1)";
    let total: i64 = sqlx::query(&format!("SELECT COUNT(*) FROM console_audit WHERE {clause}"))
        .bind(merchant_id.unwrap_or(""))
        .fetch_one(db.reader())
        .await?
        .try_get(0)?;
    let rows = sqlx::query(&format!(
        "SELECT {AUDIT_COLUMNS} FROM console_audit WHERE {clause} ORDER BY at DESC, id DESC LIMIT $2 OFFSET $3"
    ))
    .bind(merchant_id.unwrap_or(""))
    .bind(limit)
    .bind((page - 1) * limit)
    .fetch_all(db.reader())
    .await?;
    Ok((rows.iter().map(audit_from_row).collect::<Result<_, _>>()?, total))
}

/// The merchant's attempts started in [`from`, `to`) (UNIX seconds), grouped by KST day; days
/// without attempts are absent.
pub async fn daily_volume(
    db: &Db,
    merchant_id: &str,
    from: i64,
    to: i64,
) -> Result<Vec<DailyVolume>, StoreError> {
    // Integer division on BIGINT is integral on both backends; PostgreSQL's SUM of BIGINT is
    // NUMERIC, hence the casts.
    let rows = sqlx::query(
        "SELECT (started_at + $4) / 86400, \
                CAST(COALESCE(SUM(CASE WHEN status IN ('paid', 'cancelled') THEN amount ELSE 0 END), 0) AS BIGINT), \
                CAST(COALESCE(SUM(CASE WHEN status IN ('paid', 'cancelled') THEN 1 ELSE 0 END), 0) AS BIGINT), \
                CAST(COALESCE(SUM(CASE WHEN status = 'failed' THEN 1 ELSE 0 END), 0) AS BIGINT), \
                CAST(COUNT(*) AS BIGINT) \
         FROM payments WHERE merchant_id = $1 AND started_at >= $2 AND started_at < $3 \
         GROUP BY 1 ORDER BY 1",
    )
    .bind(merchant_id)
    .bind(from)
    .bind(to)
    .bind(KST_OFFSET_SECS)
    .fetch_all(db.reader())
    .await?;
    rows.iter()
        .map(|row| {
            Ok(DailyVolume {
                day: row.try_get(0)?,
                approved_amount: row.try_get(1)?,
                approved: row.try_get(2)?,
                failed: row.try_get(3)?,
                attempts: row.try_get(4)?,
            })
        })
        .collect::<Result<_, sqlx::Error>>()
        .map_err(StoreError::from)
}
