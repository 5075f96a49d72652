//! Billing keys (`/subscribe/customers`): the merchant's `customer_uid` mapped to a sealed PG key.

use sqlx::any::AnyRow;
use sqlx::Row;

use crate::db::{Db, StoreError};
use crate::merchants::{channel_from_row, ChannelRow};

/// A billing key row. `billing_key_sealed` opens only with the vault, for this merchant and
/// customer_uid.
#[derive(Debug, Clone)]
pub struct CustomerRow {
    pub merchant_id: String,
    pub customer_uid: String,
    pub channel_id: String,
    pub pg_provider: String,
    pub pg_id: String,
    pub billing_key_sealed: String,
    pub card_code: Option<String>,
    pub card_name: Option<String>,
    pub card_number: Option<String>,
    pub card_type: Option<i64>,
    pub customer_id: Option<String>,
    pub customer_name: Option<String>,
    pub customer_tel: Option<String>,
    pub customer_email: Option<String>,
    pub customer_addr: Option<String>,
    pub customer_postcode: Option<String>,
    pub inserted: i64,
    pub updated: i64,
    /// The mode that issued the key (`sandbox` or `live`): it is only charged in that mode.
    pub issued_mode: String,
    /// The connector (canonical PG provider) that issued a live key; `None` for the sandbox.
    pub issued_connector: Option<String>,
}

const COLUMNS: &str = "merchant_id, customer_uid, channel_id, pg_provider, pg_id, billing_key_sealed, card_code, card_name, card_number, card_type, customer_id, customer_name, customer_tel, customer_email, customer_addr, customer_postcode, inserted, updated, issued_mode, issued_connector";

fn from_row(row: &AnyRow) -> Result<CustomerRow, sqlx::Error> {
    Ok(CustomerRow {
        merchant_id: row.try_get(0)?,
        customer_uid: row.try_get(1)?,
        channel_id: row.try_get(2)?,
        pg_provider: row.try_get(3)?,
        pg_id: row.try_get(4)?,
        billing_key_sealed: row.try_get(5)?,
        card_code: row.try_get(6)?,
        card_name: row.try_get(7)?,
        card_number: row.try_get(8)?,
        card_type: row.try_get(9)?,
        customer_id: row.try_get(10)?,
        customer_name: row.try_get(11)?,
        customer_tel: row.try_get(12)?,
        customer_email: row.try_get(13)?,
        customer_addr: row.try_get(14)?,
        customer_postcode: row.try_get(15)?,
        inserted: row.try_get(16)?,
        updated: row.try_get(17)?,
        issued_mode: row.try_get(18)?,
        issued_connector: row.try_get(19)?,
    })
}

/// Whether storing a key may replace a live key of the same customer_uid.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Replace {
    /// The merchant asked for it (REST) or allowed it (a prepared window).
    Allowed,
    /// Only a new or deleted customer_uid may be written (an unprepared window).
    Refused,
}

/// What [`upsert`] did.
#[derive(Debug, Clone)]
pub enum Stored {
    /// The key is stored; `previous` is the live key it replaced, whose PG key is now orphaned
    /// (the caller deletes it at the PG).
    Written { stored: Box<CustomerRow>, previous: Option<Box<CustomerRow>> },
    /// [`Replace::Refused`] and the customer_uid has a live key: nothing was written.
    LiveKeyKept,
}

/// Stores a key. Issuing again under an existing (or deleted) customer_uid replaces the
/// mapping with the newest card, keeping the first `inserted` time of a live key. The previous
/// row is read in the same transaction (locked on PostgreSQL; SQLite's write lock is taken by
/// `BEGIN IMMEDIATE`), so two racing issues each learn the key they replaced.
pub async fn upsert(
    db: &Db,
    customer: &CustomerRow,
    replace: Replace,
) -> Result<Stored, StoreError> {
    let mut tx = db.begin().await?;
    let previous = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM customers WHERE merchant_id = $1 AND customer_uid = $2 AND deleted_at = 0{}",
        db.for_update()
    ))
    .bind(&customer.merchant_id)
    .bind(&customer.customer_uid)
    .fetch_optional(&mut *tx)
    .await?
    .map(|row| from_row(&row))
    .transpose()?;
    if previous.is_some() && replace == Replace::Refused {
        tx.rollback().await?;
        return Ok(Stored::LiveKeyKept);
    }
    let written = sqlx::query(&format!(
        "INSERT INTO customers ({COLUMNS}, deleted_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, 0) \
         ON CONFLICT (merchant_id, customer_uid) DO UPDATE SET channel_id = excluded.channel_id, pg_provider = excluded.pg_provider, pg_id = excluded.pg_id, \
         billing_key_sealed = excluded.billing_key_sealed, card_code = excluded.card_code, card_name = excluded.card_name, card_number = excluded.card_number, \
         card_type = excluded.card_type, customer_id = excluded.customer_id, customer_name = excluded.customer_name, customer_tel = excluded.customer_tel, \
         customer_email = excluded.customer_email, customer_addr = excluded.customer_addr, customer_postcode = excluded.customer_postcode, issued_mode = excluded.issued_mode, issued_connector = excluded.issued_connector, \
         inserted = CASE WHEN customers.deleted_at = 0 THEN customers.inserted ELSE excluded.inserted END, updated = excluded.updated, deleted_at = 0{}",
        // A live key written by a racing transaction since the read above is kept too.
        if replace == Replace::Refused { " WHERE customers.deleted_at <> 0" } else { "" }
    ))
    .bind(&customer.merchant_id)
    .bind(&customer.customer_uid)
    .bind(&customer.channel_id)
    .bind(&customer.pg_provider)
    .bind(&customer.pg_id)
    .bind(&customer.billing_key_sealed)
    .bind(&customer.card_code)
    .bind(&customer.card_name)
    .bind(&customer.card_number)
    .bind(customer.card_type)
    .bind(&customer.customer_id)
    .bind(&customer.customer_name)
    .bind(&customer.customer_tel)
    .bind(&customer.customer_email)
    .bind(&customer.customer_addr)
    .bind(&customer.customer_postcode)
    .bind(customer.inserted)
    .bind(customer.updated)
    .bind(&customer.issued_mode)
    .bind(&customer.issued_connector)
    .execute(&mut *tx)
    .await?;
    if written.rows_affected() == 0 {
        tx.rollback().await?;
        return Ok(Stored::LiveKeyKept);
    }
    let row = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM customers WHERE merchant_id = $1 AND customer_uid = $2"
    ))
    .bind(&customer.merchant_id)
    .bind(&customer.customer_uid)
    .fetch_one(&mut *tx)
    .await?;
    let stored = from_row(&row)?;
    tx.commit().await?;
    db.durable().await?;
    Ok(Stored::Written { stored: Box::new(stored), previous: previous.map(Box::new) })
}

/// A live key, scoped to its merchant.
pub async fn get(
    db: &Db,
    merchant_id: &str,
    customer_uid: &str,
) -> Result<Option<CustomerRow>, StoreError> {
    let row = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM customers WHERE merchant_id = $1 AND customer_uid = $2 AND deleted_at = 0"
    ))
    .bind(merchant_id)
    .bind(customer_uid)
    .fetch_optional(db.reader())
    .await?;
    Ok(row.map(|row| from_row(&row)).transpose()?)
}

/// A live key together with its channel, in one query (the hot path of every charge).
pub async fn get_with_channel(
    db: &Db,
    merchant_id: &str,
    customer_uid: &str,
) -> Result<Option<(CustomerRow, Option<ChannelRow>)>, StoreError> {
    let columns: String =
        COLUMNS.split(", ").map(|c| format!("c.{c}")).collect::<Vec<_>>().join(", ");
    let row = sqlx::query(&format!(
        "SELECT {columns}, {} \
         FROM customers c LEFT JOIN channels ch ON ch.id = c.channel_id AND ch.merchant_id = c.merchant_id \
         WHERE c.merchant_id = $1 AND c.customer_uid = $2 AND c.deleted_at = 0",
        crate::merchants::channel_columns("ch")
    ))
    .bind(merchant_id)
    .bind(customer_uid)
    .fetch_optional(db.reader())
    .await?;
    let Some(row) = row else { return Ok(None) };
    let customer = from_row(&row)?;
    let channel_id: Option<String> = row.try_get(20)?;
    let channel = match channel_id {
        Some(_) => Some(channel_from_row(&row, 20)?),
        None => None,
    };
    Ok(Some((customer, channel)))
}

/// A page of a merchant's live keys, newest first, and their total: all of them, or those
/// whose customer_uid contains `search` (the console's list).
pub async fn list(
    db: &Db,
    merchant_id: &str,
    search: Option<&str>,
    page: i64,
    limit: i64,
) -> Result<(Vec<CustomerRow>, i64), StoreError> {
    // LIKE's own wildcards in the search text match themselves.
    let pattern = search.map(|s| {
        let escaped = s.replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_");
        format!("%{escaped}%")
    });
    let clause =
        "merchant_id = $1 AND deleted_at = 0 AND ($2 = '' OR customer_uid LIKE $2 ESCAPE '\\')";
    let total: i64 = sqlx::query(&format!("SELECT COUNT(*) FROM customers WHERE {clause}"))
        .bind(merchant_id)
        .bind(pattern.clone().unwrap_or_default())
        .fetch_one(db.reader())
        .await?
        .try_get(0)?;
    let found = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM customers WHERE {clause} ORDER BY inserted DESC, customer_uid LIMIT $3 OFFSET $4"
    ))
    .bind(merchant_id)
    .bind(pattern.unwrap_or_default())
    .bind(limit)
    .bind((page - 1) * limit)
    .fetch_all(db.reader())
    .await?;
    let list = found.iter().map(from_row).collect::<Result<Vec<_>, _>>()?;
    Ok((list, total))
}

/// Live keys among `customer_uids`, in the order asked.
pub async fn get_many(
    db: &Db,
    merchant_id: &str,
    customer_uids: &[String],
) -> Result<Vec<CustomerRow>, StoreError> {
    let mut found = Vec::new();
    for uid in customer_uids {
        if let Some(row) = get(db, merchant_id, uid).await? {
            if !found.iter().any(|c: &CustomerRow| c.customer_uid == row.customer_uid) {
                found.push(row);
            }
        }
    }
    Ok(found)
}

/// Marks a key deleted. Returns whether a live key was deleted.
pub async fn mark_deleted(
    db: &Db,
    merchant_id: &str,
    customer_uid: &str,
    now: i64,
) -> Result<bool, StoreError> {
    let result = sqlx::query(
        "UPDATE customers SET deleted_at = $1, updated = $1 WHERE merchant_id = $2 AND customer_uid = $3 AND deleted_at = 0",
    )
    .bind(now)
    .bind(merchant_id)
    .bind(customer_uid)
    .execute(db.writer())
    .await?;
    db.durable().await?;
    Ok(result.rows_affected() > 0)
}

/// (merchant_id, customer_uid, sealed key) of every stored key, live or deleted (rotation).
pub async fn list_sealed(db: &Db) -> Result<Vec<(String, String, String)>, StoreError> {
    let rows = sqlx::query("SELECT merchant_id, customer_uid, billing_key_sealed FROM customers")
        .fetch_all(db.reader())
        .await?;
    Ok(rows
        .iter()
        .map(|row| Ok::<_, sqlx::Error>((row.try_get(0)?, row.try_get(1)?, row.try_get(2)?)))
        .collect::<Result<_, _>>()?)
}

pub async fn set_sealed(
    db: &Db,
    merchant_id: &str,
    customer_uid: &str,
    sealed: &str,
) -> Result<(), StoreError> {
    sqlx::query(
        "UPDATE customers SET billing_key_sealed = $1 WHERE merchant_id = $2 AND customer_uid = $3",
    )
    .bind(sealed)
    .bind(merchant_id)
    .bind(customer_uid)
    .execute(db.writer())
    .await?;
    db.durable().await
}
