//! `/subscribe/payments/schedule...` (reference §7) and the webhook log (`/webhooks`, beyond
//! i'mport).

use axum::extract::State;
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};

use openimp_core::wire::{Paged, Payment, ScheduleResult};
use openimp_core::ApiError;
use openimp_service::lookup::Page;
use openimp_service::schedule::{ScheduleCommand, ScheduleItem, ScheduleQuery};
use openimp_store::webhooks::OutboxFilter;

use super::required;
use crate::auth::Merchant;
use crate::envelope::{ok, Envelope, HttpResult};
use crate::params::{opt_i64, opt_string, string_list, Body, Path, Query};
use crate::requests::OrderRequest;
use crate::AppState;

/// One element of `schedules[]`: the order fields of `again`, and when to charge.
#[derive(Debug, Deserialize, ToSchema)]
pub struct ScheduleItemRequest {
    /// Unix seconds, in the future.
    #[serde(default, deserialize_with = "opt_i64")]
    pub schedule_at: Option<i64>,
    #[serde(flatten)]
    pub order: OrderRequest,
}

/// `POST /subscribe/payments/schedule`.
#[derive(Debug, Deserialize, ToSchema)]
pub struct ScheduleRequest {
    /// PortOne's `channelKey`: picks that channel; an unknown key is refused.
    #[serde(default, rename = "channelKey", deserialize_with = "opt_string")]
    pub channel_key: Option<String>,
    #[serde(default, deserialize_with = "opt_string")]
    pub customer_uid: Option<String>,
    #[serde(default, deserialize_with = "opt_string")]
    pub customer_id: Option<String>,
    /// A verification charge, cancelled at once; 0 = none.
    #[serde(default, deserialize_with = "opt_i64")]
    pub checking_amount: Option<i64>,
    /// Card data: used only when `customer_uid` has no key yet (the key is issued first).
    #[serde(default, deserialize_with = "opt_string")]
    pub card_number: Option<String>,
    #[serde(default, deserialize_with = "opt_string")]
    pub expiry: Option<String>,
    #[serde(default, deserialize_with = "opt_string")]
    pub birth: Option<String>,
    #[serde(default, deserialize_with = "opt_string")]
    pub pwd_2digit: Option<String>,
    #[serde(default, deserialize_with = "opt_string")]
    pub cvc: Option<String>,
    #[serde(default, deserialize_with = "opt_string")]
    pub pg: Option<String>,
    #[serde(default)]
    pub schedules: Option<Vec<ScheduleItemRequest>>,
}

/// `POST /subscribe/payments/unschedule`.
#[derive(Debug, Deserialize, ToSchema)]
pub struct UnscheduleRequest {
    #[serde(default, deserialize_with = "opt_string")]
    pub customer_uid: Option<String>,
    /// A list (or one string) of merchant_uids.
    #[serde(default, deserialize_with = "string_list")]
    pub merchant_uid: Vec<String>,
}

/// `PUT .../schedule/{merchant_uid}` and `POST .../reschedule`.
#[derive(Debug, Deserialize, ToSchema)]
pub struct ScheduleAtRequest {
    #[serde(default, deserialize_with = "opt_i64")]
    pub schedule_at: Option<i64>,
}

/// `GET /subscribe/payments/schedule`.
#[derive(Debug, Deserialize, IntoParams)]
pub struct ScheduleListQuery {
    #[serde(default, deserialize_with = "opt_i64")]
    pub schedule_from: Option<i64>,
    #[serde(default, deserialize_with = "opt_i64")]
    pub schedule_to: Option<i64>,
    /// `scheduled`, `executed` or `revoked`.
    #[serde(default, deserialize_with = "opt_string", alias = "schedule-status")]
    pub schedule_status: Option<String>,
    #[serde(default, deserialize_with = "opt_i64")]
    pub page: Option<i64>,
    #[serde(default, deserialize_with = "opt_i64")]
    pub limit: Option<i64>,
    /// `scheduled`: oldest first; `-scheduled` (default): newest first.
    #[serde(default, deserialize_with = "opt_string")]
    pub sorting: Option<String>,
}

/// The customer-scoped lists (`schedule-status` with a hyphen; the underscore is accepted).
#[derive(Debug, Deserialize, IntoParams)]
pub struct CustomerScheduleQuery {
    #[serde(default, deserialize_with = "opt_i64")]
    pub from: Option<i64>,
    #[serde(default, deserialize_with = "opt_i64")]
    pub to: Option<i64>,
    #[serde(
        default,
        deserialize_with = "opt_string",
        rename = "schedule-status",
        alias = "schedule_status"
    )]
    #[param(rename = "schedule-status")]
    pub schedule_status: Option<String>,
    #[serde(default, deserialize_with = "opt_i64")]
    pub page: Option<i64>,
    #[serde(default, deserialize_with = "opt_i64")]
    pub limit: Option<i64>,
}

/// `GET /webhooks`.
#[derive(Debug, Deserialize, IntoParams)]
pub struct WebhookListQuery {
    #[serde(default, deserialize_with = "opt_string")]
    pub imp_uid: Option<String>,
    #[serde(default, deserialize_with = "opt_string")]
    pub merchant_uid: Option<String>,
    /// `pending`, `delivered` or `failed`.
    #[serde(default, deserialize_with = "opt_string")]
    pub state: Option<String>,
    #[serde(default, deserialize_with = "opt_i64")]
    pub page: Option<i64>,
    #[serde(default, deserialize_with = "opt_i64")]
    pub limit: Option<i64>,
}

/// `schedules[i]`: its order through the one request → order mapping, its index in any error.
fn item(i: usize, request: ScheduleItemRequest) -> Result<ScheduleItem, ApiError> {
    let order = request.order.into_order().map_err(|err| match err {
        ApiError::InvalidRequest(message) => {
            ApiError::invalid(format!("schedules[{i}]: {message}"))
        }
        other => other,
    })?;
    Ok(ScheduleItem { schedule_at: request.schedule_at, order })
}

fn oldest_first(sorting: Option<&str>) -> Result<bool, ApiError> {
    match sorting.map(str::trim).filter(|s| !s.is_empty()) {
        None | Some("-scheduled") => Ok(false),
        Some("scheduled") => Ok(true),
        Some(other) => Err(ApiError::invalid(format!(
            "sorting은 scheduled 또는 -scheduled여야 합니다: {other} (sorting must be scheduled or -scheduled)"
        ))),
    }
}

/// Creates schedules for a billing key (issuing it first from card data if it has none).
#[utoipa::path(post, path = "/subscribe/payments/schedule", tag = "subscribe", request_body = ScheduleRequest,
    responses((status = 200, body = Envelope<Vec<ScheduleResult>>)))]
pub async fn schedule(
    State(state): State<AppState>,
    Merchant(merchant): Merchant,
    Body(request): Body<ScheduleRequest>,
) -> HttpResult {
    let schedules = request
        .schedules
        .unwrap_or_default()
        .into_iter()
        .enumerate()
        .map(|(i, request)| item(i, request))
        .collect::<Result<Vec<_>, _>>()?;
    let command = ScheduleCommand {
        customer_uid: required(request.customer_uid, "customer_uid")?,
        customer_id: request.customer_id,
        checking_amount: request.checking_amount.unwrap_or(0),
        card_number: request.card_number,
        expiry: request.expiry,
        birth: request.birth,
        pwd_2digit: request.pwd_2digit,
        pg: request.pg,
        channel_key: request.channel_key,
        schedules,
    };
    Ok(ok(state.gateway.create_schedules(&merchant, command).await?))
}

/// Revokes the listed merchant_uids, or every pending schedule of a customer_uid.
#[utoipa::path(post, path = "/subscribe/payments/unschedule", tag = "subscribe", request_body = UnscheduleRequest,
    responses((status = 200, body = Envelope<Vec<ScheduleResult>>)))]
pub async fn unschedule(
    State(state): State<AppState>,
    Merchant(merchant): Merchant,
    Body(request): Body<UnscheduleRequest>,
) -> HttpResult {
    super::at_most_items(&request.merchant_uid, "merchant_uid", MAX_UNSCHEDULE_ITEMS)?;
    Ok(ok(state.gateway.unschedule(&merchant, request.customer_uid, request.merchant_uid).await?))
}

/// Most merchant_uids one unschedule request may name (each may need a lookup).
pub const MAX_UNSCHEDULE_ITEMS: usize = 100;

#[utoipa::path(get, path = "/subscribe/payments/schedule/{merchant_uid}", tag = "subscribe",
    params(("merchant_uid" = String, Path)), responses((status = 200, body = Envelope<ScheduleResult>), (status = 404)))]
pub async fn get_one(
    State(state): State<AppState>,
    Merchant(merchant): Merchant,
    Path(merchant_uid): Path<String>,
) -> HttpResult {
    Ok(ok(state.gateway.get_schedule(&merchant, &merchant_uid).await?))
}

/// Moves a pending schedule to another time.
#[utoipa::path(put, path = "/subscribe/payments/schedule/{merchant_uid}", tag = "subscribe", request_body = ScheduleAtRequest,
    params(("merchant_uid" = String, Path)), responses((status = 200, body = Envelope<ScheduleResult>), (status = 400), (status = 404)))]
pub async fn update(
    State(state): State<AppState>,
    Merchant(merchant): Merchant,
    Path(merchant_uid): Path<String>,
    Body(request): Body<ScheduleAtRequest>,
) -> HttpResult {
    let schedule_at = super::required_i64(request.schedule_at, "schedule_at")?;
    Ok(ok(state.gateway.update_schedule(&merchant, &merchant_uid, schedule_at).await?))
}

/// Schedules a failed or revoked schedule again.
#[utoipa::path(post, path = "/subscribe/payments/schedule/{merchant_uid}/reschedule", tag = "subscribe", request_body = ScheduleAtRequest,
    params(("merchant_uid" = String, Path)), responses((status = 200, body = Envelope<ScheduleResult>), (status = 400), (status = 404)))]
pub async fn reschedule(
    State(state): State<AppState>,
    Merchant(merchant): Merchant,
    Path(merchant_uid): Path<String>,
    Body(request): Body<ScheduleAtRequest>,
) -> HttpResult {
    let schedule_at = super::required_i64(request.schedule_at, "schedule_at")?;
    Ok(ok(state.gateway.reschedule(&merchant, &merchant_uid, schedule_at).await?))
}

/// Charges a failed or revoked schedule now; answers the Payment (check `status`).
#[utoipa::path(post, path = "/subscribe/payments/schedule/{merchant_uid}/retry", tag = "subscribe",
    params(("merchant_uid" = String, Path)), responses((status = 200, body = Envelope<Payment>), (status = 400), (status = 404)))]
pub async fn retry(
    State(state): State<AppState>,
    Merchant(merchant): Merchant,
    Path(merchant_uid): Path<String>,
) -> HttpResult {
    Ok(ok(state.gateway.retry_schedule(&merchant, &merchant_uid).await?))
}

/// Schedules by time range (at most 3 months), status, page; newest first by default.
#[utoipa::path(get, path = "/subscribe/payments/schedule", tag = "subscribe", params(ScheduleListQuery),
    responses((status = 200, body = Envelope<Paged<ScheduleResult>>), (status = 400)))]
pub async fn list(
    State(state): State<AppState>,
    Merchant(merchant): Merchant,
    Query(query): Query<ScheduleListQuery>,
) -> HttpResult {
    let page = Page::new(query.page, query.limit)?;
    let query = ScheduleQuery {
        customer_uid: None,
        from: query.schedule_from,
        to: query.schedule_to,
        schedule_status: query.schedule_status,
        page: page.page,
        limit: page.limit,
        oldest_first: oldest_first(query.sorting.as_deref())?,
    };
    Ok(ok(state.gateway.list_schedules(&merchant, query).await?))
}

/// A customer's schedules (`/subscribe/payments/schedule/customers/{customer_uid}` and
/// `/subscribe/customers/{customer_uid}/schedules`), newest first.
#[utoipa::path(get, path = "/subscribe/customers/{customer_uid}/schedules", tag = "subscribe",
    params(("customer_uid" = String, Path), CustomerScheduleQuery), responses((status = 200, body = Envelope<Paged<ScheduleResult>>), (status = 400)))]
pub async fn by_customer(
    State(state): State<AppState>,
    Merchant(merchant): Merchant,
    Path(customer_uid): Path<String>,
    Query(query): Query<CustomerScheduleQuery>,
) -> HttpResult {
    let page = Page::new(query.page, query.limit)?;
    let query = ScheduleQuery {
        customer_uid: Some(customer_uid),
        from: query.from,
        to: query.to,
        schedule_status: query.schedule_status,
        page: page.page,
        limit: page.limit,
        oldest_first: false,
    };
    Ok(ok(state.gateway.list_schedules(&merchant, query).await?))
}

/// The merchant's webhook deliveries with their attempt logs, newest first (beyond i'mport).
#[utoipa::path(get, path = "/webhooks", tag = "webhooks",
    params(("page" = Option<i64>, Query), ("limit" = Option<i64>, Query), ("imp_uid" = Option<String>, Query),
        ("merchant_uid" = Option<String>, Query), ("state" = Option<String>, Query)),
    responses((status = 200, description = "paged deliveries {total, previous, next, list}")))]
pub async fn webhooks(
    State(state): State<AppState>,
    Merchant(merchant): Merchant,
    Query(query): Query<WebhookListQuery>,
) -> HttpResult {
    let page = Page::new(query.page, query.limit)?;
    let filter = OutboxFilter {
        merchant_id: Some(merchant.as_str().to_owned()),
        imp_uid: query.imp_uid,
        merchant_uid: query.merchant_uid,
        state: query.state,
    };
    Ok(ok(state.gateway.list_webhooks(&filter, page.page, page.limit).await?))
}

/// Sends a webhook again now (same webhook-id, same URL, a fresh round of tries).
#[utoipa::path(post, path = "/webhooks/{id}/resend", tag = "webhooks", params(("id" = String, Path)),
    responses((status = 200, description = "the delivery, queued again"), (status = 404)))]
pub async fn resend_webhook(
    State(state): State<AppState>,
    Merchant(merchant): Merchant,
    Path(id): Path<String>,
) -> HttpResult {
    Ok(ok(state.gateway.resend_webhook(Some(merchant.as_str()), &id).await?))
}
