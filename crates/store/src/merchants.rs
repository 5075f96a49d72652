//! Merchants (가맹점) and their PG channels.

use sqlx::any::AnyRow;
use sqlx::Row;

use crate::db::{Db, StoreError};

/// A merchant account. The REST secret is kept only as a salted hash.
#[derive(Debug, Clone)]
pub struct MerchantRow {
    pub imp_code: String,
    pub name: String,
    pub imp_key: String,
    pub secret_salt: String,
    pub secret_hash: String,
    pub webhook_url: Option<String>,
    pub webhook_format: String,
    pub created_at: i64,
}

/// A PG channel: one PG merchant account (MID) a merchant can charge through.
#[derive(Debug, Clone)]
pub struct ChannelRow {
    pub id: String,
    pub merchant_id: String,
    pub pg_provider: String,
    pub mid: String,
    pub test_mode: bool,
    pub is_default: bool,
    /// Whether REST billing-key issue and keyed charges (비인증 API) are allowed.
    pub keyed_billing: bool,
    /// JSON map of PG secrets, sealed by the vault.
    pub secrets_sealed: Option<String>,
    pub created_at: i64,
    /// The key a request's `channelKey` names (`channel-key-…`), unique across merchants.
    pub channel_key: String,
    /// `--endpoint`: a base URL replacing every host of the PG; `None`: production hosts.
    pub endpoint: Option<String>,
    /// When the channel was removed (0: it was not). A removed channel keeps serving its
    /// payments' lookups, cancels and reconciliation, and nothing else.
    pub removed_at: i64,
}

const MERCHANT_COLUMNS: &str =
    "imp_code, name, imp_key, secret_salt, secret_hash, webhook_url, webhook_format, created_at";
const CHANNEL_COLUMNS: &str =
    "id, merchant_id, pg_provider, mid, test_mode, is_default, keyed_billing, secrets_sealed, created_at, channel_key, endpoint, removed_at";

/// The channel columns a join selects, under `alias`.
pub fn channel_columns(alias: &str) -> String {
    CHANNEL_COLUMNS.split(", ").map(|c| format!("{alias}.{c}")).collect::<Vec<_>>().join(", ")
}

fn merchant_from_row(row: &AnyRow) -> Result<MerchantRow, sqlx::Error> {
    Ok(MerchantRow {
        imp_code: row.try_get(0)?,
        name: row.try_get(1)?,
        imp_key: row.try_get(2)?,
        secret_salt: row.try_get(3)?,
        secret_hash: row.try_get(4)?,
        webhook_url: row.try_get(5)?,
        webhook_format: row.try_get(6)?,
        created_at: row.try_get(7)?,
    })
}

pub(crate) fn channel_from_row(row: &AnyRow, offset: usize) -> Result<ChannelRow, sqlx::Error> {
    Ok(ChannelRow {
        id: row.try_get(offset)?,
        merchant_id: row.try_get(offset + 1)?,
        pg_provider: row.try_get(offset + 2)?,
        mid: row.try_get(offset + 3)?,
        test_mode: row.try_get::<i64, _>(offset + 4)? != 0,
        is_default: row.try_get::<i64, _>(offset + 5)? != 0,
        keyed_billing: row.try_get::<i64, _>(offset + 6)? != 0,
        secrets_sealed: row.try_get(offset + 7)?,
        created_at: row.try_get(offset + 8)?,
        // Backfilled by migration 0010; NULL only for a row a LEFT JOIN found no channel for.
        channel_key: row.try_get::<Option<String>, _>(offset + 9)?.unwrap_or_default(),
        endpoint: row.try_get(offset + 10)?,
        removed_at: row.try_get::<Option<i64>, _>(offset + 11)?.unwrap_or_default(),
    })
}

/// Creates a merchant together with its first channels, in one transaction.
pub async fn insert(
    db: &Db,
    merchant: &MerchantRow,
    channels: &[ChannelRow],
) -> Result<(), StoreError> {
    let mut tx = db.begin().await?;
    sqlx::query(&format!(
        "INSERT INTO merchants ({MERCHANT_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"
    ))
    .bind(&merchant.imp_code)
    .bind(&merchant.name)
    .bind(&merchant.imp_key)
    .bind(&merchant.secret_salt)
    .bind(&merchant.secret_hash)
    .bind(&merchant.webhook_url)
    .bind(&merchant.webhook_format)
    .bind(merchant.created_at)
    .execute(&mut *tx)
    .await?;
    for channel in channels {
        insert_channel_in(&mut tx, channel).await?;
    }
    tx.commit().await?;
    db.durable().await
}

async fn insert_channel_in(tx: &mut crate::Tx, channel: &ChannelRow) -> Result<(), StoreError> {
    if channel.is_default {
        sqlx::query("UPDATE channels SET is_default = 0 WHERE merchant_id = $1")
            .bind(&channel.merchant_id)
            .execute(&mut **tx)
            .await?;
    }
    sqlx::query(&format!(
        "INSERT INTO channels ({CHANNEL_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)"
    ))
    .bind(&channel.id)
    .bind(&channel.merchant_id)
    .bind(&channel.pg_provider)
    .bind(&channel.mid)
    .bind(i64::from(channel.test_mode))
    .bind(i64::from(channel.is_default))
    .bind(i64::from(channel.keyed_billing))
    .bind(&channel.secrets_sealed)
    .bind(channel.created_at)
    .bind(&channel.channel_key)
    .bind(&channel.endpoint)
    .bind(channel.removed_at)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Adds a channel; a default channel takes the default flag from the others.
pub async fn add_channel(db: &Db, channel: &ChannelRow) -> Result<(), StoreError> {
    let mut tx = db.begin().await?;
    insert_channel_in(&mut tx, channel).await?;
    tx.commit().await?;
    db.durable().await
}

/// Removes a channel: it keeps its row (its payments need it), marked removed, and loses the
/// default flag. Returns whether a channel that was not removed yet was found.
pub async fn remove_channel(
    db: &Db,
    merchant_id: &str,
    pg_provider: &str,
    mid: &str,
    now: i64,
) -> Result<bool, StoreError> {
    let result = sqlx::query(
        "UPDATE channels SET removed_at = $1, is_default = 0 WHERE merchant_id = $2 AND pg_provider = $3 AND mid = $4 AND removed_at = 0",
    )
    .bind(now.max(1))
    .bind(merchant_id)
    .bind(pg_provider)
    .bind(mid)
    .execute(db.writer())
    .await?;
    db.durable().await?;
    Ok(result.rows_affected() > 0)
}

/// A channel by its PG provider and MID, removed or not.
pub async fn find_channel(
    db: &Db,
    merchant_id: &str,
    pg_provider: &str,
    mid: &str,
) -> Result<Option<ChannelRow>, StoreError> {
    let row = sqlx::query(&format!(
        "SELECT {CHANNEL_COLUMNS} FROM channels WHERE merchant_id = $1 AND pg_provider = $2 AND mid = $3"
    ))
    .bind(merchant_id)
    .bind(pg_provider)
    .bind(mid)
    .fetch_optional(db.reader())
    .await?;
    Ok(row.map(|row| channel_from_row(&row, 0)).transpose()?)
}

/// Rewrites a channel's settings in place (`channel update`, and `channel add` of a removed
/// channel, which brings it back). The default flag moves to it when it becomes the default.
/// Returns whether the row was found.
pub async fn update_channel(db: &Db, channel: &ChannelRow) -> Result<bool, StoreError> {
    let mut tx = db.begin().await?;
    if channel.is_default {
        sqlx::query("UPDATE channels SET is_default = 0 WHERE merchant_id = $1 AND id <> $2")
            .bind(&channel.merchant_id)
            .bind(&channel.id)
            .execute(&mut *tx)
            .await?;
    }
    let result = sqlx::query(
        "UPDATE channels SET test_mode = $1, is_default = $2, keyed_billing = $3, secrets_sealed = $4, endpoint = $5, removed_at = $6 \
         WHERE merchant_id = $7 AND id = $8",
    )
    .bind(i64::from(channel.test_mode))
    .bind(i64::from(channel.is_default))
    .bind(i64::from(channel.keyed_billing))
    .bind(&channel.secrets_sealed)
    .bind(&channel.endpoint)
    .bind(channel.removed_at)
    .bind(&channel.merchant_id)
    .bind(&channel.id)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    db.durable().await?;
    Ok(result.rows_affected() > 0)
}

/// The merchant's channels (not removed), the default first.
pub async fn list_channels(db: &Db, merchant_id: &str) -> Result<Vec<ChannelRow>, StoreError> {
    let rows = sqlx::query(&format!(
        "SELECT {CHANNEL_COLUMNS} FROM channels WHERE merchant_id = $1 AND removed_at = 0 ORDER BY is_default DESC, created_at, pg_provider, mid"
    ))
    .bind(merchant_id)
    .fetch_all(db.reader())
    .await?;
    Ok(rows.iter().map(|row| channel_from_row(row, 0)).collect::<Result<_, _>>()?)
}

/// One channel by id, scoped to its merchant, removed or not (a payment's or a key's channel).
pub async fn get_channel(
    db: &Db,
    merchant_id: &str,
    channel_id: &str,
) -> Result<Option<ChannelRow>, StoreError> {
    let row = sqlx::query(&format!(
        "SELECT {CHANNEL_COLUMNS} FROM channels WHERE merchant_id = $1 AND id = $2"
    ))
    .bind(merchant_id)
    .bind(channel_id)
    .fetch_optional(db.reader())
    .await?;
    Ok(row.map(|row| channel_from_row(&row, 0)).transpose()?)
}

/// Every channel with sealed secrets (for master-key rotation).
pub async fn list_all_channels(db: &Db) -> Result<Vec<ChannelRow>, StoreError> {
    let rows = sqlx::query(&format!("SELECT {CHANNEL_COLUMNS} FROM channels"))
        .fetch_all(db.reader())
        .await?;
    Ok(rows.iter().map(|row| channel_from_row(row, 0)).collect::<Result<_, _>>()?)
}

/// Replaces a channel's sealed secrets (master-key rotation).
pub async fn set_channel_secrets(db: &Db, id: &str, sealed: &str) -> Result<(), StoreError> {
    sqlx::query("UPDATE channels SET secrets_sealed = $1 WHERE id = $2")
        .bind(sealed)
        .bind(id)
        .execute(db.writer())
        .await?;
    db.durable().await
}

/// Replaces the merchant's REST secret hash and deletes all its access tokens, in one
/// transaction; returns how many tokens were revoked.
pub async fn replace_secret(
    db: &Db,
    imp_code: &str,
    secret_salt: &str,
    secret_hash: &str,
) -> Result<u64, StoreError> {
    let mut tx = db.begin().await?;
    sqlx::query("UPDATE merchants SET secret_salt = $1, secret_hash = $2 WHERE imp_code = $3")
        .bind(secret_salt)
        .bind(secret_hash)
        .bind(imp_code)
        .execute(&mut *tx)
        .await?;
    let revoked = sqlx::query("DELETE FROM access_tokens WHERE merchant_id = $1")
        .bind(imp_code)
        .execute(&mut *tx)
        .await?
        .rows_affected();
    tx.commit().await?;
    db.durable().await?;
    Ok(revoked)
}

pub async fn find_by_imp_key(db: &Db, imp_key: &str) -> Result<Option<MerchantRow>, StoreError> {
    let row = sqlx::query(&format!("SELECT {MERCHANT_COLUMNS} FROM merchants WHERE imp_key = $1"))
        .bind(imp_key)
        .fetch_optional(db.reader())
        .await?;
    Ok(row.map(|row| merchant_from_row(&row)).transpose()?)
}

pub async fn get(db: &Db, imp_code: &str) -> Result<Option<MerchantRow>, StoreError> {
    let row = sqlx::query(&format!("SELECT {MERCHANT_COLUMNS} FROM merchants WHERE imp_code = $1"))
        .bind(imp_code)
        .fetch_optional(db.reader())
        .await?;
    Ok(row.map(|row| merchant_from_row(&row)).transpose()?)
}

pub async fn list(db: &Db) -> Result<Vec<MerchantRow>, StoreError> {
    let rows =
        sqlx::query(&format!("SELECT {MERCHANT_COLUMNS} FROM merchants ORDER BY created_at"))
            .fetch_all(db.reader())
            .await?;
    Ok(rows.iter().map(merchant_from_row).collect::<Result<_, _>>()?)
}

pub async fn count(db: &Db) -> Result<i64, StoreError> {
    let row = sqlx::query("SELECT COUNT(*) FROM merchants").fetch_one(db.reader()).await?;
    Ok(row.try_get(0)?)
}
