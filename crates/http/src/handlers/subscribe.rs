//! `/subscribe/...`: billing keys and charges on them.

use axum::extract::State;
use axum::http::StatusCode;

use openimp_core::states::KeyUsage;
use openimp_core::wire::{Customer, Paged, Payment};
use openimp_core::ApiError;
use openimp_service::billing::IssueKeyCommand;
use openimp_service::charge::{AgainCommand, OnetimeCommand};
use openimp_service::lookup::Page;

use super::required;
use crate::auth::Merchant;
use crate::envelope::{ok, with_status, Envelope, HttpResult};
use crate::params::{Body, Path, Query};
use crate::requests::{
    AgainRequest, DeleteCustomerQuery, IssueBillingKeyRequest, ListQuery, MultiCustomerQuery,
    OnetimeRequest,
};
use crate::AppState;

/// Issues (or replaces) the billing key of `customer_uid` from card data.
#[utoipa::path(post, path = "/subscribe/customers/{customer_uid}", tag = "subscribe", request_body = IssueBillingKeyRequest,
    params(("customer_uid" = String, Path)), responses((status = 200, body = Envelope<Customer>)))]
pub async fn issue_customer(
    State(state): State<AppState>,
    Merchant(merchant): Merchant,
    Path(customer_uid): Path<String>,
    Body(request): Body<IssueBillingKeyRequest>,
) -> HttpResult {
    let command = IssueKeyCommand {
        customer_uid,
        card_number: request.card_number,
        expiry: request.expiry,
        birth: request.birth,
        pwd_2digit: request.pwd_2digit,
        pg: request.pg,
        channel_key: request.channel_key,
        customer_id: request.customer_id,
        customer_name: request.customer_name,
        customer_tel: request.customer_tel,
        customer_email: request.customer_email,
        customer_addr: request.customer_addr,
        customer_postcode: request.customer_postcode,
    };
    Ok(ok(state.gateway.issue_billing_key(&merchant, command).await?))
}

#[utoipa::path(get, path = "/subscribe/customers/{customer_uid}", tag = "subscribe",
    params(("customer_uid" = String, Path)), responses((status = 200, body = Envelope<Customer>), (status = 404)))]
pub async fn get_customer(
    State(state): State<AppState>,
    Merchant(merchant): Merchant,
    Path(customer_uid): Path<String>,
) -> HttpResult {
    Ok(ok(state.gateway.get_billing_key(&merchant, &customer_uid).await?))
}

/// Deletes a billing key (it cannot be undone). Pending schedules are not touched here.
#[utoipa::path(delete, path = "/subscribe/customers/{customer_uid}", tag = "subscribe",
    params(("customer_uid" = String, Path), DeleteCustomerQuery), responses((status = 200, body = Envelope<Customer>), (status = 404)))]
pub async fn delete_customer(
    State(state): State<AppState>,
    Merchant(merchant): Merchant,
    Path(customer_uid): Path<String>,
    Query(_query): Query<DeleteCustomerQuery>,
) -> HttpResult {
    Ok(ok(state.gateway.delete_billing_key(&merchant, &customer_uid).await?))
}

/// Several billing keys at once: 200 if all are found, 207 with the found ones, 404 if none.
#[utoipa::path(get, path = "/subscribe/customers", tag = "subscribe", params(MultiCustomerQuery),
    responses((status = 200, body = Envelope<Vec<Customer>>), (status = 207), (status = 404)))]
pub async fn get_customers(
    State(state): State<AppState>,
    Merchant(merchant): Merchant,
    Query(query): Query<MultiCustomerQuery>,
) -> HttpResult {
    let found = state.gateway.get_billing_keys(&merchant, &query.customer_uid).await?;
    let mut asked = query.customer_uid.clone();
    asked.sort();
    asked.dedup();
    if found.is_empty() {
        return Err(ApiError::not_found(
            "등록되지 않은 구매자입니다. (none of the customer_uids exists)",
        )
        .into());
    }
    let status = if found.len() < asked.len() { StatusCode::MULTI_STATUS } else { StatusCode::OK };
    Ok(with_status(status, found))
}

#[utoipa::path(get, path = "/subscribe/customers/{customer_uid}/payments", tag = "subscribe",
    params(("customer_uid" = String, Path), ListQuery), responses((status = 200, body = Envelope<Paged<Payment>>), (status = 404)))]
pub async fn customer_payments(
    State(state): State<AppState>,
    Merchant(merchant): Merchant,
    Path(customer_uid): Path<String>,
    Query(query): Query<ListQuery>,
) -> HttpResult {
    let page = Page::new(query.page, query.limit)?;
    Ok(ok(state
        .gateway
        .billing_key_payments(&merchant, &customer_uid, page.page, page.limit)
        .await?))
}

/// Charges a stored billing key. code 0 means the PG answered: check `status` (paid / failed).
#[utoipa::path(post, path = "/subscribe/payments/again", tag = "subscribe", request_body = AgainRequest,
    responses((status = 200, body = Envelope<Payment>)))]
pub async fn again(
    State(state): State<AppState>,
    Merchant(merchant): Merchant,
    Body(request): Body<AgainRequest>,
) -> HttpResult {
    let command = AgainCommand {
        customer_uid: required(request.customer_uid, "customer_uid")?,
        channel_key: request.channel_key,
        order: request.order.into_order()?,
        usage: KeyUsage::Payment,
    };
    Ok(ok(state.gateway.pay_again(&merchant, command).await?))
}

/// Charges card data once; with `customer_uid`, also stores it as a billing key.
#[utoipa::path(post, path = "/subscribe/payments/onetime", tag = "subscribe", request_body = OnetimeRequest,
    responses((status = 200, body = Envelope<Payment>)))]
pub async fn onetime(
    State(state): State<AppState>,
    Merchant(merchant): Merchant,
    Body(request): Body<OnetimeRequest>,
) -> HttpResult {
    let command = OnetimeCommand {
        card_number: request.card_number,
        expiry: request.expiry,
        birth: request.birth,
        pwd_2digit: request.pwd_2digit,
        customer_uid: request.customer_uid,
        customer_id: request.customer_id,
        pg: request.pg,
        channel_key: request.channel_key,
        order: request.order.into_order()?,
    };
    Ok(ok(state.gateway.pay_onetime(&merchant, command).await?))
}
