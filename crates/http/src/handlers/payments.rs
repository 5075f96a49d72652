//! `/payments/...`: lookups, cancels and prepared orders.

use axum::extract::State;
use axum::http::StatusCode;

use openimp_core::wire::{Paged, Payment, Prepared};
use openimp_core::ApiError;
use openimp_service::cancel::CancelCommand;
use openimp_service::lookup::{parse_sorting, parse_status, Page};
use openimp_service::prepare::PrepareCommand;

use super::{required, required_i64};
use crate::auth::Merchant;
use crate::envelope::{ok, with_status, Envelope, HttpResult};
use crate::params::{Body, Path, Query};
use crate::requests::{CancelRequest, ListQuery, MultiPaymentQuery, PrepareRequest};
use crate::AppState;

#[utoipa::path(get, path = "/payments/{imp_uid}", tag = "payments",
    params(("imp_uid" = String, Path)), responses((status = 200, body = Envelope<Payment>), (status = 404)))]
pub async fn get_one(
    State(state): State<AppState>,
    Merchant(merchant): Merchant,
    Path(imp_uid): Path<String>,
) -> HttpResult {
    Ok(ok(state.gateway.get_payment(&merchant, &imp_uid).await?))
}

/// The sandbox's simulated deposit into an issued virtual account: `ready` → `paid`, with a
/// `paid` webhook. The merchant's own payments only (another's is a 404).
#[utoipa::path(post, path = "/sandbox/vbank/{imp_uid}/deposit", tag = "payments",
    params(("imp_uid" = String, Path)), responses((status = 200, body = Envelope<Payment>), (status = 404)))]
pub async fn sandbox_deposit(
    State(state): State<AppState>,
    Merchant(merchant): Merchant,
    Path(imp_uid): Path<String>,
) -> HttpResult {
    Ok(ok(state.gateway.sandbox_deposit(Some(&merchant), &imp_uid).await?))
}

/// Several payments at once: 200 if all are found, 207 with the found ones, 404 if none.
#[utoipa::path(get, path = "/payments", tag = "payments", params(MultiPaymentQuery),
    responses((status = 200, body = Envelope<Vec<Payment>>), (status = 207), (status = 404)))]
pub async fn get_many(
    State(state): State<AppState>,
    Merchant(merchant): Merchant,
    Query(query): Query<MultiPaymentQuery>,
) -> HttpResult {
    let found = state.gateway.get_payments(&merchant, &query.imp_uid, &query.merchant_uid).await?;
    if found.is_empty() {
        return Err(ApiError::payment_not_found().into());
    }
    let all_found = query.imp_uid.iter().all(|id| found.iter().any(|p| &p.imp_uid == id))
        && query.merchant_uid.iter().all(|id| found.iter().any(|p| &p.merchant_uid == id));
    let status = if all_found { StatusCode::OK } else { StatusCode::MULTI_STATUS };
    Ok(with_status(status, found))
}

#[utoipa::path(get, path = "/payments/find/{merchant_uid}", tag = "payments",
    params(("merchant_uid" = String, Path), ListQuery), responses((status = 200, body = Envelope<Payment>), (status = 404)))]
pub async fn find(
    State(state): State<AppState>,
    Merchant(merchant): Merchant,
    Path(merchant_uid): Path<String>,
    Query(query): Query<ListQuery>,
) -> HttpResult {
    let sorting = parse_sorting(query.sorting.as_deref())?;
    Ok(ok(state.gateway.find_payment(&merchant, &merchant_uid, None, sorting).await?))
}

#[utoipa::path(get, path = "/payments/find/{merchant_uid}/{payment_status}", tag = "payments",
    params(("merchant_uid" = String, Path), ("payment_status" = String, Path), ListQuery), responses((status = 200, body = Envelope<Payment>), (status = 404)))]
pub async fn find_with_status(
    State(state): State<AppState>,
    Merchant(merchant): Merchant,
    Path((merchant_uid, status)): Path<(String, String)>,
    Query(query): Query<ListQuery>,
) -> HttpResult {
    let status = parse_status(&status, false)?;
    let sorting = parse_sorting(query.sorting.as_deref())?;
    Ok(ok(state.gateway.find_payment(&merchant, &merchant_uid, status, sorting).await?))
}

#[utoipa::path(get, path = "/payments/findAll/{merchant_uid}", tag = "payments",
    params(("merchant_uid" = String, Path), ListQuery), responses((status = 200, body = Envelope<Paged<Payment>>), (status = 404)))]
pub async fn find_all(
    State(state): State<AppState>,
    Merchant(merchant): Merchant,
    Path(merchant_uid): Path<String>,
    Query(query): Query<ListQuery>,
) -> HttpResult {
    let sorting = parse_sorting(query.sorting.as_deref())?;
    let page = Page::new(query.page, query.limit)?;
    Ok(ok(state.gateway.find_all_payments(&merchant, &merchant_uid, None, sorting, page).await?))
}

#[utoipa::path(get, path = "/payments/findAll/{merchant_uid}/{payment_status}", tag = "payments",
    params(("merchant_uid" = String, Path), ("payment_status" = String, Path), ListQuery), responses((status = 200, body = Envelope<Paged<Payment>>), (status = 404)))]
pub async fn find_all_with_status(
    State(state): State<AppState>,
    Merchant(merchant): Merchant,
    Path((merchant_uid, status)): Path<(String, String)>,
    Query(query): Query<ListQuery>,
) -> HttpResult {
    let status = parse_status(&status, false)?;
    let sorting = parse_sorting(query.sorting.as_deref())?;
    let page = Page::new(query.page, query.limit)?;
    Ok(ok(state.gateway.find_all_payments(&merchant, &merchant_uid, status, sorting, page).await?))
}

/// Payments by status within a window of at most 90 days.
#[utoipa::path(get, path = "/payments/status/{payment_status}", tag = "payments",
    params(("payment_status" = String, Path), ListQuery), responses((status = 200, body = Envelope<Paged<Payment>>), (status = 400)))]
pub async fn by_status(
    State(state): State<AppState>,
    Merchant(merchant): Merchant,
    Path(status): Path<String>,
    Query(query): Query<ListQuery>,
) -> HttpResult {
    let status = parse_status(&status, true)?;
    let sorting = parse_sorting(query.sorting.as_deref())?;
    let page = Page::new(query.page, query.limit)?;
    Ok(ok(state
        .gateway
        .payments_by_status(&merchant, status, query.from, query.to, sorting, page)
        .await?))
}

/// Cancels all or part of a payment. HTTP 200 with a non-zero code means the cancel failed.
#[utoipa::path(post, path = "/payments/cancel", tag = "payments", request_body = CancelRequest,
    responses((status = 200, body = Envelope<Payment>)))]
pub async fn cancel(
    State(state): State<AppState>,
    Merchant(merchant): Merchant,
    Body(request): Body<CancelRequest>,
) -> HttpResult {
    openimp_core::order::check_length(
        "reason",
        request.reason.as_deref(),
        MAX_CANCEL_REASON_CHARS,
    )?;
    let command = CancelCommand {
        imp_uid: request.imp_uid,
        merchant_uid: request.merchant_uid,
        amount: request.amount,
        tax_free: request.tax_free,
        vat_amount: request.vat_amount,
        checksum: request.checksum,
        reason: request.reason,
    };
    Ok(ok(state.gateway.cancel_payment(&merchant, command).await?))
}

/// Longest cancel reason kept (it is stored with the payment and sent to the PG).
pub const MAX_CANCEL_REASON_CHARS: usize = 1000;

fn prepare_command(request: PrepareRequest) -> Result<PrepareCommand, ApiError> {
    Ok(PrepareCommand {
        merchant_uid: required(request.merchant_uid, "merchant_uid")?,
        amount: required_i64(request.amount, "amount")?,
        currency: request.currency,
    })
}

/// Registers the amount of a merchant_uid ahead; a payment of another amount is then refused.
#[utoipa::path(post, path = "/payments/prepare", tag = "payments", request_body = PrepareRequest,
    responses((status = 200, body = Envelope<Prepared>)))]
pub async fn prepare(
    State(state): State<AppState>,
    Merchant(merchant): Merchant,
    Body(request): Body<PrepareRequest>,
) -> HttpResult {
    Ok(ok(state.gateway.prepare(&merchant, prepare_command(request)?).await?))
}

#[utoipa::path(put, path = "/payments/prepare", tag = "payments", request_body = PrepareRequest,
    responses((status = 200, body = Envelope<Prepared>), (status = 404)))]
pub async fn update_prepare(
    State(state): State<AppState>,
    Merchant(merchant): Merchant,
    Body(request): Body<PrepareRequest>,
) -> HttpResult {
    Ok(ok(state.gateway.update_prepare(&merchant, prepare_command(request)?).await?))
}

#[utoipa::path(get, path = "/payments/prepare/{merchant_uid}", tag = "payments",
    params(("merchant_uid" = String, Path)), responses((status = 200, body = Envelope<Prepared>), (status = 404)))]
pub async fn get_prepare(
    State(state): State<AppState>,
    Merchant(merchant): Merchant,
    Path(merchant_uid): Path<String>,
) -> HttpResult {
    Ok(ok(state.gateway.get_prepare(&merchant, &merchant_uid).await?))
}
