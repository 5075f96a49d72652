//! Hosted payment window sessions: one per `IMP.request_pay`, bound to its merchant and request.
//!
//! States: `open` → `processing` (one submit claimed it) → `done` (the result is recorded).
//! A window handed to a PG's own page goes `open` → `handed_off` (its attempt recorded, the
//! connector's state kept) → `processing` (the PG's return, or its close, claimed it) → `done`.
//! Every change is a conditional `UPDATE` whose affected-row count is checked, so two submits of
//! one window cannot both reach the PG.

use sqlx::any::AnyRow;
use sqlx::Row;

use crate::db::{Db, StoreError};

/// A window session row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionRow {
    pub id: String,
    pub merchant_id: String,
    pub channel_id: String,
    pub csrf_token: String,
    pub origin: String,
    pub mode: String,
    pub device: String,
    pub request_json: String,
    pub user_agent: Option<String>,
    pub state: String,
    pub imp_uid: Option<String>,
    pub result_json: Option<String>,
    pub created_at: i64,
    pub expires_at: i64,
    pub updated_at: i64,
    /// A window handed to a PG: the hand-off and the connector's state (JSON, no card data).
    pub pg_state: Option<String>,
}

const COLUMNS: &str = "id, merchant_id, channel_id, csrf_token, origin, mode, device, request_json, user_agent, state, imp_uid, result_json, created_at, expires_at, updated_at, pg_state";

fn from_row(row: &AnyRow) -> Result<SessionRow, sqlx::Error> {
    Ok(SessionRow {
        id: row.try_get(0)?,
        merchant_id: row.try_get(1)?,
        channel_id: row.try_get(2)?,
        csrf_token: row.try_get(3)?,
        origin: row.try_get(4)?,
        mode: row.try_get(5)?,
        device: row.try_get(6)?,
        request_json: row.try_get(7)?,
        user_agent: row.try_get(8)?,
        state: row.try_get(9)?,
        imp_uid: row.try_get(10)?,
        result_json: row.try_get(11)?,
        created_at: row.try_get(12)?,
        expires_at: row.try_get(13)?,
        updated_at: row.try_get(14)?,
        pg_state: row.try_get(15)?,
    })
}

pub async fn insert(db: &Db, session: &SessionRow) -> Result<(), StoreError> {
    let placeholders: Vec<String> = (1..=16).map(|i| format!("${i}")).collect();
    sqlx::query(&format!(
        "INSERT INTO window_sessions ({COLUMNS}) VALUES ({})",
        placeholders.join(", ")
    ))
    .bind(&session.id)
    .bind(&session.merchant_id)
    .bind(&session.channel_id)
    .bind(&session.csrf_token)
    .bind(&session.origin)
    .bind(&session.mode)
    .bind(&session.device)
    .bind(&session.request_json)
    .bind(&session.user_agent)
    .bind(&session.state)
    .bind(&session.imp_uid)
    .bind(&session.result_json)
    .bind(session.created_at)
    .bind(session.expires_at)
    .bind(session.updated_at)
    .bind(&session.pg_state)
    .execute(db.writer())
    .await?;
    db.durable().await?;
    Ok(())
}

pub async fn get(db: &Db, id: &str) -> Result<Option<SessionRow>, StoreError> {
    let row = sqlx::query(&format!("SELECT {COLUMNS} FROM window_sessions WHERE id = $1"))
        .bind(id)
        .fetch_optional(db.reader())
        .await?;
    Ok(row.as_ref().map(from_row).transpose()?)
}

/// `open` → `processing`, if the CSRF token matches and the session has not expired.
/// Returns false when another submit claimed it first (or it expired meanwhile).
pub async fn claim(db: &Db, id: &str, csrf_token: &str, now: i64) -> Result<bool, StoreError> {
    let result = sqlx::query(
        "UPDATE window_sessions SET state = 'processing', updated_at = $1 \
         WHERE id = $2 AND csrf_token = $3 AND state = 'open' AND expires_at > $1",
    )
    .bind(now)
    .bind(id)
    .bind(csrf_token)
    .execute(db.writer())
    .await?;
    Ok(result.rows_affected() == 1)
}

/// `open` → `handed_off`: the window went to its PG's page, with its recorded attempt
/// (`imp_uid`) and the hand-off (`pg_state`). False when another request handed it off first,
/// it was used, or it expired.
pub async fn hand_off(
    db: &Db,
    id: &str,
    imp_uid: &str,
    pg_state: &str,
    now: i64,
) -> Result<bool, StoreError> {
    let result = sqlx::query(
        "UPDATE window_sessions SET state = 'handed_off', imp_uid = $1, pg_state = $2, updated_at = $3 \
         WHERE id = $4 AND state = 'open' AND expires_at > $3",
    )
    .bind(imp_uid)
    .bind(pg_state)
    .bind(now)
    .bind(id)
    .execute(db.writer())
    .await?;
    db.durable().await?;
    Ok(result.rows_affected() == 1)
}

/// `handed_off` → `processing`: the PG's return (or close) is being recorded. Not bound to the
/// session's expiry: a PG may return after it, and its return must still be settled.
pub async fn claim_return(db: &Db, id: &str, now: i64) -> Result<bool, StoreError> {
    let result = sqlx::query(
        "UPDATE window_sessions SET state = 'processing', updated_at = $1 WHERE id = $2 AND state = 'handed_off'",
    )
    .bind(now)
    .bind(id)
    .execute(db.writer())
    .await?;
    Ok(result.rows_affected() == 1)
}

/// Whether the attempt `imp_uid` is a window still at its PG (handed off, not returned, not
/// expired), or whose return was claimed after `claimed_after` and is being approved: either
/// way "the PG has no record" means nothing yet (a reconciler failing it meanwhile would have
/// the return's approval net-cancelled). A claim older than that is a crashed return.
pub async fn awaiting_return(
    db: &Db,
    imp_uid: &str,
    now: i64,
    claimed_after: i64,
) -> Result<bool, StoreError> {
    let row = sqlx::query(
        "SELECT COUNT(*) FROM window_sessions WHERE imp_uid = $1 \
         AND ((state = 'handed_off' AND expires_at > $2) OR (state = 'processing' AND updated_at > $3))",
    )
    .bind(imp_uid)
    .bind(now)
    .bind(claimed_after)
    .fetch_one(db.reader())
    .await?;
    Ok(row.try_get::<i64, _>(0)? > 0)
}

/// `processing` → `done`, recording the payment and the callback's result.
pub async fn finish(
    db: &Db,
    id: &str,
    imp_uid: Option<&str>,
    result_json: &str,
    now: i64,
) -> Result<bool, StoreError> {
    let result = sqlx::query(
        "UPDATE window_sessions SET state = 'done', imp_uid = $1, result_json = $2, updated_at = $3 \
         WHERE id = $4 AND state = 'processing'",
    )
    .bind(imp_uid)
    .bind(result_json)
    .bind(now)
    .bind(id)
    .execute(db.writer())
    .await?;
    db.durable().await?;
    Ok(result.rows_affected() == 1)
}

/// The merchant's open sessions that have not expired (the per-merchant cap counts them).
pub async fn count_open(db: &Db, merchant_id: &str, now: i64) -> Result<i64, StoreError> {
    let row = sqlx::query(
        "SELECT COUNT(*) FROM window_sessions WHERE merchant_id = $1 AND state = 'open' AND expires_at > $2",
    )
    .bind(merchant_id)
    .bind(now)
    .fetch_one(db.reader())
    .await?;
    Ok(row.try_get(0)?)
}

/// Deletes one merchant's sessions that expired unused (before the cap counts its open ones).
pub async fn delete_expired_of(db: &Db, merchant_id: &str, now: i64) -> Result<u64, StoreError> {
    let result = sqlx::query(
        "DELETE FROM window_sessions WHERE merchant_id = $1 AND state = 'open' AND expires_at <= $2",
    )
    .bind(merchant_id)
    .bind(now)
    .execute(db.writer())
    .await?;
    Ok(result.rows_affected())
}

/// Deletes finished sessions (and ones a stopped server left `processing`, or a PG never
/// returned from: their attempt is the reconciler's) last changed before
/// `before`; their payment stays.
pub async fn delete_finished(db: &Db, before: i64) -> Result<u64, StoreError> {
    let result = sqlx::query(
        "DELETE FROM window_sessions WHERE state IN ('done', 'processing', 'handed_off') AND updated_at < $1",
    )
    .bind(before)
    .execute(db.writer())
    .await?;
    Ok(result.rows_affected())
}

/// Deletes sessions that expired before `before` and were never used (housekeeping).
pub async fn delete_expired(db: &Db, before: i64) -> Result<u64, StoreError> {
    let result =
        sqlx::query("DELETE FROM window_sessions WHERE state = 'open' AND expires_at < $1")
            .bind(before)
            .execute(db.writer())
            .await?;
    Ok(result.rows_affected())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{DbConfig, SqliteSync};

    async fn sqlite() -> (Db, tempfile::TempDir) {
        let dir = tempfile::tempdir().expect("tempdir");
        let config = DbConfig {
            url: format!("sqlite://{}", dir.path().join("openimp.db").display()),
            max_connections: 2,
            acquire_timeout: std::time::Duration::from_secs(5),
            sqlite_sync: SqliteSync::Group,
            batch_writers: 1,
        };
        (Db::connect(&config).await.expect("connect sqlite"), dir)
    }

    fn session(id: &str, now: i64) -> SessionRow {
        SessionRow {
            id: id.to_owned(),
            merchant_id: "imp12345678".to_owned(),
            channel_id: "ch_1".to_owned(),
            csrf_token: "csrf".to_owned(),
            origin: "https://shop.example".to_owned(),
            mode: "overlay".to_owned(),
            device: "pc".to_owned(),
            request_json: "{}".to_owned(),
            user_agent: None,
            state: "open".to_owned(),
            imp_uid: None,
            result_json: None,
            created_at: now,
            expires_at: now + 900,
            updated_at: now,
            pg_state: None,
        }
    }

    #[tokio::test]
    async fn a_return_being_approved_is_awaited_until_its_claim_is_stale() {
        let (db, _dir) = sqlite().await;
        let now = 1_000_000;
        insert(&db, &session("win_a", now)).await.unwrap();
        assert!(hand_off(&db, "win_a", "imp_a", "{}", now).await.unwrap());
        assert!(awaiting_return(&db, "imp_a", now + 60, now).await.unwrap(), "at the PG");

        // The PG's return is claimed at now + 100: its approval is in flight.
        assert!(claim_return(&db, "win_a", now + 100).await.unwrap());
        assert!(!claim_return(&db, "win_a", now + 101).await.unwrap(), "claimed once");
        assert!(
            awaiting_return(&db, "imp_a", now + 110, now + 50).await.unwrap(),
            "a return being approved is not settled under it"
        );
        // Claimed longer ago than the caller allows: a crashed return, left to be settled.
        assert!(!awaiting_return(&db, "imp_a", now + 400, now + 100).await.unwrap());

        assert!(finish(&db, "win_a", Some("imp_a"), "{}", now + 120).await.unwrap());
        assert!(!awaiting_return(&db, "imp_a", now + 130, now + 50).await.unwrap(), "done");
    }
}
