//! The request types of the API: both the parser (JSON or form, numbers as numbers or strings)
//! and the schema of the OpenAPI document.

use openimp_core::money::ChargeAmounts;
use openimp_core::order::Order;
use openimp_core::ApiError;
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};

use crate::handlers::{required, required_i64};
use crate::params::{opt_i64, opt_string, string_list};

/// `POST /users/getToken`.
#[derive(Debug, Deserialize, ToSchema)]
pub struct TokenRequest {
    #[serde(default, deserialize_with = "opt_string")]
    pub imp_key: Option<String>,
    #[serde(default, deserialize_with = "opt_string")]
    pub imp_secret: Option<String>,
}

/// `POST /subscribe/customers/{customer_uid}`.
#[derive(Debug, Deserialize, ToSchema)]
pub struct IssueBillingKeyRequest {
    /// PortOne's `channelKey`: picks that channel; an unknown key is refused.
    #[serde(default, rename = "channelKey", deserialize_with = "opt_string")]
    pub channel_key: Option<String>,
    /// `dddd-dddd-dddd-dddd` (other spacing is normalised).
    #[serde(default, deserialize_with = "opt_string")]
    pub card_number: Option<String>,
    /// `YYYY-MM`.
    #[serde(default, deserialize_with = "opt_string")]
    pub expiry: Option<String>,
    /// `YYMMDD`, or a 10-digit business number.
    #[serde(default, deserialize_with = "opt_string")]
    pub birth: Option<String>,
    #[serde(default, deserialize_with = "opt_string")]
    pub pwd_2digit: Option<String>,
    /// Accepted and never stored.
    #[serde(default, deserialize_with = "opt_string")]
    pub cvc: Option<String>,
    /// `provider` or `provider.MID`; the default channel otherwise.
    #[serde(default, deserialize_with = "opt_string")]
    pub pg: Option<String>,
    #[serde(default, deserialize_with = "opt_string")]
    pub customer_id: Option<String>,
    #[serde(default, deserialize_with = "opt_string")]
    pub customer_name: Option<String>,
    #[serde(default, deserialize_with = "opt_string")]
    pub customer_tel: Option<String>,
    #[serde(default, deserialize_with = "opt_string")]
    pub customer_email: Option<String>,
    #[serde(default, deserialize_with = "opt_string")]
    pub customer_addr: Option<String>,
    #[serde(default, deserialize_with = "opt_string")]
    pub customer_postcode: Option<String>,
}

/// The order fields shared by `again`, `onetime` and each element of `schedules[]`.
#[derive(Debug, Deserialize, ToSchema)]
pub struct OrderRequest {
    #[serde(default, deserialize_with = "opt_string")]
    pub merchant_uid: Option<String>,
    #[serde(default, deserialize_with = "opt_i64")]
    pub amount: Option<i64>,
    #[serde(default, deserialize_with = "opt_string")]
    pub name: Option<String>,
    #[serde(default, deserialize_with = "opt_string")]
    pub currency: Option<String>,
    #[serde(default, deserialize_with = "opt_i64")]
    pub tax_free: Option<i64>,
    #[serde(default, deserialize_with = "opt_i64")]
    pub vat_amount: Option<i64>,
    #[serde(default, deserialize_with = "opt_i64")]
    pub card_quota: Option<i64>,
    #[serde(default, deserialize_with = "opt_string")]
    pub buyer_name: Option<String>,
    #[serde(default, deserialize_with = "opt_string")]
    pub buyer_email: Option<String>,
    #[serde(default, deserialize_with = "opt_string")]
    pub buyer_tel: Option<String>,
    #[serde(default, deserialize_with = "opt_string")]
    pub buyer_addr: Option<String>,
    #[serde(default, deserialize_with = "opt_string")]
    pub buyer_postcode: Option<String>,
    /// Kept as a string (objects are kept as their JSON text).
    #[serde(default, deserialize_with = "opt_string")]
    pub custom_data: Option<String>,
    #[serde(default, deserialize_with = "opt_string")]
    pub notice_url: Option<String>,
}

impl OrderRequest {
    /// The one request → order mapping (again, onetime, each schedule), with the money
    /// defaults: no tax-free part, no instalments. The rules are checked by [`Order::check`].
    pub fn into_order(self) -> Result<Order, ApiError> {
        Ok(Order {
            merchant_uid: required(self.merchant_uid, "merchant_uid")?,
            amounts: ChargeAmounts {
                amount: required_i64(self.amount, "amount")?,
                tax_free: self.tax_free.unwrap_or(0),
                vat_amount: self.vat_amount,
                card_quota: self.card_quota.unwrap_or(0),
            },
            currency: self.currency,
            name: self.name,
            buyer_name: self.buyer_name,
            buyer_email: self.buyer_email,
            buyer_tel: self.buyer_tel,
            buyer_addr: self.buyer_addr,
            buyer_postcode: self.buyer_postcode,
            custom_data: self.custom_data,
            notice_url: self.notice_url,
        })
    }
}

/// `POST /subscribe/payments/again`.
#[derive(Debug, Deserialize, ToSchema)]
pub struct AgainRequest {
    /// PortOne's `channelKey`: picks that channel; an unknown key is refused.
    #[serde(default, rename = "channelKey", deserialize_with = "opt_string")]
    pub channel_key: Option<String>,
    #[serde(default, deserialize_with = "opt_string")]
    pub customer_uid: Option<String>,
    #[serde(flatten)]
    pub order: OrderRequest,
}

/// `POST /subscribe/payments/onetime`.
#[derive(Debug, Deserialize, ToSchema)]
pub struct OnetimeRequest {
    /// PortOne's `channelKey`: picks that channel; an unknown key is refused.
    #[serde(default, rename = "channelKey", deserialize_with = "opt_string")]
    pub channel_key: Option<String>,
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
    /// If given, the card is also stored as this billing key.
    #[serde(default, deserialize_with = "opt_string")]
    pub customer_uid: Option<String>,
    #[serde(default, deserialize_with = "opt_string")]
    pub customer_id: Option<String>,
    #[serde(default, deserialize_with = "opt_string")]
    pub pg: Option<String>,
    #[serde(flatten)]
    pub order: OrderRequest,
}

/// `POST /payments/cancel`.
#[derive(Debug, Deserialize, ToSchema)]
pub struct CancelRequest {
    #[serde(default, deserialize_with = "opt_string")]
    pub imp_uid: Option<String>,
    #[serde(default, deserialize_with = "opt_string")]
    pub merchant_uid: Option<String>,
    /// Missing or 0: cancel everything that remains.
    #[serde(default, deserialize_with = "opt_i64")]
    pub amount: Option<i64>,
    #[serde(default, deserialize_with = "opt_i64")]
    pub tax_free: Option<i64>,
    #[serde(default, deserialize_with = "opt_i64")]
    pub vat_amount: Option<i64>,
    /// The cancellable balance as the caller sees it; refused without effect when it differs.
    #[serde(default, deserialize_with = "opt_i64")]
    pub checksum: Option<i64>,
    #[serde(default, deserialize_with = "opt_string")]
    pub reason: Option<String>,
}

/// `POST` and `PUT /payments/prepare`.
#[derive(Debug, Deserialize, ToSchema)]
pub struct PrepareRequest {
    #[serde(default, deserialize_with = "opt_string")]
    pub merchant_uid: Option<String>,
    #[serde(default, deserialize_with = "opt_i64")]
    pub amount: Option<i64>,
    #[serde(default, deserialize_with = "opt_string")]
    pub currency: Option<String>,
}

/// `GET /payments?imp_uid[]=..&merchant_uid[]=..`.
#[derive(Debug, Deserialize, IntoParams)]
pub struct MultiPaymentQuery {
    #[serde(default, deserialize_with = "string_list")]
    #[param(rename = "imp_uid[]")]
    pub imp_uid: Vec<String>,
    #[serde(default, deserialize_with = "string_list")]
    #[param(rename = "merchant_uid[]")]
    pub merchant_uid: Vec<String>,
}

/// `GET /subscribe/customers?customer_uid[]=..`.
#[derive(Debug, Deserialize, IntoParams)]
pub struct MultiCustomerQuery {
    #[serde(default, deserialize_with = "string_list")]
    #[param(rename = "customer_uid[]")]
    pub customer_uid: Vec<String>,
}

/// Paging, sorting and time window of the list endpoints.
#[derive(Debug, Deserialize, IntoParams)]
pub struct ListQuery {
    #[serde(default, deserialize_with = "opt_i64")]
    pub page: Option<i64>,
    #[serde(default, deserialize_with = "opt_i64")]
    pub limit: Option<i64>,
    #[serde(default, deserialize_with = "opt_i64")]
    pub from: Option<i64>,
    #[serde(default, deserialize_with = "opt_i64")]
    pub to: Option<i64>,
    /// `-started` (default), `started`, `-paid`, `paid`, `-updated`, `updated`.
    #[serde(default, deserialize_with = "opt_string")]
    pub sorting: Option<String>,
}

/// `DELETE /subscribe/customers/{customer_uid}`.
#[derive(Debug, Deserialize, IntoParams)]
pub struct DeleteCustomerQuery {
    #[serde(default, deserialize_with = "opt_string")]
    pub reason: Option<String>,
}
