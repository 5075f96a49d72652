//! Payment lookups: by imp_uid, by merchant_uid, by status, several at once.

use openimp_core::time::now;
use openimp_core::wire::{Paged, Payment};
use openimp_core::ApiError;
use openimp_store::payments::{self, PaymentFilter, Sorting};

use crate::{ApiResult, Gateway, MerchantId};

/// The status search window: at most 90 days.
const STATUS_WINDOW_SECS: i64 = 90 * 24 * 3600;
/// Page size limits of every list.
pub const MAX_LIMIT: i64 = 1000;
pub const DEFAULT_LIMIT: i64 = 20;
/// Deeper pages than this are refused (and keep offsets far from overflow).
const MAX_PAGE: i64 = 1_000_000;
/// Timestamps beyond the year 9999 are refused.
const MAX_TIMESTAMP: i64 = 253_402_300_799;

/// Paging as the lists take it.
#[derive(Debug, Clone, Copy)]
pub struct Page {
    pub page: i64,
    pub limit: i64,
}

impl Page {
    /// Checks `page` (from 1) and `limit` (1..=1000, default 20).
    pub fn new(page: Option<i64>, limit: Option<i64>) -> ApiResult<Page> {
        let page = page.unwrap_or(1);
        let limit = limit.unwrap_or(DEFAULT_LIMIT);
        if !(1..=MAX_PAGE).contains(&page) {
            return Err(ApiError::invalid(
                "page는 1 이상 1,000,000 이하여야 합니다. (page must be 1..=1000000)",
            ));
        }
        if !(1..=MAX_LIMIT).contains(&limit) {
            return Err(ApiError::invalid(
                "limit는 1 이상 1000 이하여야 합니다. (limit must be 1..=1000)",
            ));
        }
        Ok(Page { page, limit })
    }
}

/// Parses the `sorting` query value.
pub fn parse_sorting(value: Option<&str>) -> ApiResult<Sorting> {
    match value.map(str::trim).filter(|s| !s.is_empty()) {
        None | Some("-started") => Ok(Sorting::StartedDesc),
        Some("started") => Ok(Sorting::StartedAsc),
        Some("-paid") => Ok(Sorting::PaidDesc),
        Some("paid") => Ok(Sorting::PaidAsc),
        Some("-updated") => Ok(Sorting::UpdatedDesc),
        Some("updated") => Ok(Sorting::UpdatedAsc),
        Some(other) => Err(ApiError::invalid(format!(
            "sorting은 -started, started, -paid, paid, -updated, updated 중 하나여야 합니다: {other}"
        ))),
    }
}

/// A payment status as a path segment: `ready`, `paid`, `failed`, `cancelled` (and `all` where
/// allowed).
pub fn parse_status(value: &str, allow_all: bool) -> ApiResult<Option<String>> {
    match value {
        "all" if allow_all => Ok(None),
        "ready" | "paid" | "failed" | "cancelled" => Ok(Some(value.to_owned())),
        other => Err(ApiError::invalid(format!(
            "payment_status는 {}ready, paid, failed, cancelled 중 하나여야 합니다: {other}",
            if allow_all { "all, " } else { "" }
        ))),
    }
}

impl Gateway {
    pub async fn get_payment(&self, merchant: &MerchantId, imp_uid: &str) -> ApiResult<Payment> {
        let row = payments::get(&self.db, merchant.as_str(), imp_uid)
            .await?
            .ok_or_else(ApiError::payment_not_found)?;
        self.payment_view(&row).await
    }

    /// `GET /payments?imp_uid[]=..&merchant_uid[]=..`: what was found (the HTTP layer answers
    /// 207 when some ids are missing, 404 when none is found).
    pub async fn get_payments(
        &self,
        merchant: &MerchantId,
        imp_uids: &[String],
        merchant_uids: &[String],
    ) -> ApiResult<Vec<Payment>> {
        if imp_uids.is_empty() && merchant_uids.is_empty() {
            return Err(ApiError::invalid("imp_uid[] 또는 merchant_uid[] 파라메터가 필요합니다. (imp_uid[] or merchant_uid[] is required)"));
        }
        if imp_uids.len() + merchant_uids.len() > 100 {
            return Err(ApiError::invalid(
                "한 번에 100개까지 조회할 수 있습니다. (at most 100 ids per request)",
            ));
        }
        let rows = payments::get_many(&self.db, merchant.as_str(), imp_uids, merchant_uids).await?;
        self.payment_views(&rows).await
    }

    /// `GET /payments/find/{merchant_uid}[/{status}]`: the first match under `sorting`.
    pub async fn find_payment(
        &self,
        merchant: &MerchantId,
        merchant_uid: &str,
        status: Option<String>,
        sorting: Sorting,
    ) -> ApiResult<Payment> {
        let filter = PaymentFilter {
            merchant_uid: Some(merchant_uid.to_owned()),
            status,
            ..PaymentFilter::default()
        };
        let row = payments::find_one(&self.db, merchant.as_str(), &filter, sorting)
            .await?
            .ok_or_else(ApiError::payment_not_found)?;
        self.payment_view(&row).await
    }

    /// `GET /payments/findAll/{merchant_uid}[/{status}]`: every attempt of a merchant_uid.
    pub async fn find_all_payments(
        &self,
        merchant: &MerchantId,
        merchant_uid: &str,
        status: Option<String>,
        sorting: Sorting,
        page: Page,
    ) -> ApiResult<Paged<Payment>> {
        let filter = PaymentFilter {
            merchant_uid: Some(merchant_uid.to_owned()),
            status,
            ..PaymentFilter::default()
        };
        let (rows, total) =
            payments::list(&self.db, merchant.as_str(), &filter, sorting, page.page, page.limit)
                .await?;
        if total == 0 {
            return Err(ApiError::payment_not_found());
        }
        Ok(Paged::new(self.payment_views(&rows).await?, total, page.page, page.limit))
    }

    /// `GET /payments/status/{status}`: a time window of at most 90 days on the field that fits
    /// the status (started_at for ready and all, paid_at, cancelled_at, failed_at).
    pub async fn payments_by_status(
        &self,
        merchant: &MerchantId,
        status: Option<String>,
        from: Option<i64>,
        to: Option<i64>,
        sorting: Sorting,
        page: Page,
    ) -> ApiResult<Paged<Payment>> {
        let in_range = |t: Option<i64>| t.is_none_or(|t| (0..=MAX_TIMESTAMP).contains(&t));
        if !in_range(from) || !in_range(to) {
            return Err(ApiError::invalid("from, to는 0 이상의 UNIX 시각(초)이어야 합니다. (from and to must be UNIX seconds)"));
        }
        let to = to.unwrap_or_else(now);
        let from = from.unwrap_or(to.saturating_sub(STATUS_WINDOW_SECS).max(0));
        if from > to {
            return Err(ApiError::invalid(
                "from은 to보다 클 수 없습니다. (from must not be after to)",
            ));
        }
        if to - from > STATUS_WINDOW_SECS {
            return Err(ApiError::invalid(
                "조회 기간은 최대 90일입니다. (the window is at most 90 days)",
            ));
        }
        let column = match status.as_deref() {
            Some("paid") => "paid_at",
            Some("cancelled") => "cancelled_at",
            Some("failed") => "failed_at",
            _ => "started_at",
        };
        let filter = PaymentFilter {
            status,
            time_range: Some((column, from, to)),
            ..PaymentFilter::default()
        };
        let (rows, total) =
            payments::list(&self.db, merchant.as_str(), &filter, sorting, page.page, page.limit)
                .await?;
        Ok(Paged::new(self.payment_views(&rows).await?, total, page.page, page.limit))
    }
}
