//! The i'mport V1 response objects, field for field as `reference/iamport-v1-api.md` §3, §5
//! gives them: every field present, `null` for absent strings, `0` for absent timestamps.

use serde::Serialize;
use utoipa::ToSchema;

/// `PaymentAnnotation`.
#[derive(Debug, Clone, Serialize, ToSchema, PartialEq)]
pub struct Payment {
    pub imp_uid: String,
    pub merchant_uid: String,
    pub pay_method: Option<String>,
    pub channel: Option<String>,
    pub pg_provider: Option<String>,
    pub emb_pg_provider: Option<String>,
    pub pg_tid: Option<String>,
    pub pg_id: Option<String>,
    pub escrow: bool,
    pub apply_num: Option<String>,
    pub bank_code: Option<String>,
    pub bank_name: Option<String>,
    pub card_code: Option<String>,
    pub card_name: Option<String>,
    pub card_issuer_code: Option<String>,
    pub card_issuer_name: Option<String>,
    pub card_publisher_code: Option<String>,
    pub card_publisher_name: Option<String>,
    pub card_quota: i64,
    pub card_number: Option<String>,
    pub card_type: Option<i64>,
    pub vbank_code: Option<String>,
    pub vbank_name: Option<String>,
    pub vbank_num: Option<String>,
    pub vbank_holder: Option<String>,
    pub vbank_date: i64,
    pub vbank_issued_at: i64,
    pub name: Option<String>,
    pub amount: i64,
    pub cancel_amount: i64,
    pub currency: String,
    pub buyer_name: Option<String>,
    pub buyer_email: Option<String>,
    pub buyer_tel: Option<String>,
    pub buyer_addr: Option<String>,
    pub buyer_postcode: Option<String>,
    pub custom_data: Option<String>,
    pub user_agent: Option<String>,
    /// `ready`, `paid`, `cancelled` or `failed`.
    pub status: String,
    pub started_at: i64,
    pub paid_at: i64,
    pub failed_at: i64,
    pub cancelled_at: i64,
    pub fail_reason: Option<String>,
    pub cancel_reason: Option<String>,
    pub receipt_url: Option<String>,
    pub cancel_history: Vec<PaymentCancel>,
    pub cancel_receipt_urls: Vec<String>,
    pub cash_receipt_issued: bool,
    pub customer_uid: Option<String>,
    /// `null`, `issue`, `payment` or `payment.scheduled`.
    pub customer_uid_usage: Option<String>,
}

/// `PaymentCancelAnnotation`: one entry of `cancel_history`.
#[derive(Debug, Clone, Serialize, ToSchema, PartialEq)]
pub struct PaymentCancel {
    pub pg_tid: String,
    pub amount: i64,
    pub cancelled_at: i64,
    pub reason: String,
    pub cancellation_id: String,
    pub receipt_url: Option<String>,
}

/// `CustomerAnnotation`: a billing key as the merchant sees it (never the PG's key itself).
#[derive(Debug, Clone, Serialize, ToSchema, PartialEq)]
pub struct Customer {
    pub customer_uid: String,
    pub pg_provider: String,
    pub pg_id: String,
    pub customer_id: Option<String>,
    pub card_name: Option<String>,
    pub card_code: Option<String>,
    pub card_issuer_code: Option<String>,
    pub card_issuer_name: Option<String>,
    pub card_publisher_code: Option<String>,
    pub card_publisher_name: Option<String>,
    pub card_number: Option<String>,
    pub card_type: Option<i64>,
    pub customer_name: Option<String>,
    pub customer_tel: Option<String>,
    pub customer_email: Option<String>,
    pub customer_addr: Option<String>,
    pub customer_postcode: Option<String>,
    pub inserted: i64,
    pub updated: i64,
}

/// `PagedPaymentAnnotation` and friends: `previous` and `next` are page numbers, 0 for none.
#[derive(Debug, Clone, Serialize, ToSchema, PartialEq)]
pub struct Paged<T> {
    pub total: i64,
    pub previous: i64,
    pub next: i64,
    pub list: Vec<T>,
}

impl<T> Paged<T> {
    /// Builds the page envelope for page `page` (from 1) of `limit` items out of `total`.
    pub fn new(list: Vec<T>, total: i64, page: i64, limit: i64) -> Self {
        let previous = if page > 1 { page - 1 } else { 0 };
        let next = if page * limit < total { page + 1 } else { 0 };
        Paged { total, previous, next, list }
    }
}

/// The answer of `POST /users/getToken`.
#[derive(Debug, Clone, Serialize, ToSchema, PartialEq, Eq)]
pub struct AccessToken {
    pub access_token: String,
    pub now: i64,
    pub expired_at: i64,
}

/// `PaymentPrepareAnnotation`.
#[derive(Debug, Clone, Serialize, ToSchema, PartialEq, Eq)]
pub struct Prepared {
    pub merchant_uid: String,
    pub amount: i64,
    pub currency: Option<String>,
}

/// `ScheduleResultAnnotation` (§7): one scheduled payment.
#[derive(Debug, Clone, Serialize, ToSchema, PartialEq, Eq)]
pub struct ScheduleResult {
    pub customer_uid: String,
    pub merchant_uid: String,
    /// null until executed; also null if revoked before running.
    pub imp_uid: Option<String>,
    pub pg_provider: Option<String>,
    pub pg_id: Option<String>,
    pub customer_id: Option<String>,
    pub schedule_at: i64,
    pub executed_at: i64,
    pub revoked_at: i64,
    pub amount: i64,
    pub currency: String,
    pub name: Option<String>,
    pub buyer_name: Option<String>,
    pub buyer_email: Option<String>,
    pub buyer_tel: Option<String>,
    pub buyer_addr: Option<String>,
    pub buyer_postcode: Option<String>,
    pub custom_data: Option<String>,
    /// `scheduled`, `executed` or `revoked`.
    pub schedule_status: String,
    /// null until executed; then `paid`, `failed`, or `cancelled` once refunded.
    pub payment_status: Option<String>,
    pub fail_reason: Option<String>,
    pub promotion_id: Option<String>,
}
