//! Billing keys (`/subscribe/customers/{customer_uid}`): issue from keyed card data, look up,
//! delete. The PG's key is sealed in the vault, bound to the merchant and customer_uid; the
//! merchant only ever sees the masked card.

use openimp_core::card::{CardInput, RawCard};
use openimp_core::time::now;
use openimp_core::wire::{Customer, Paged, Payment};
use openimp_core::ApiError;
use openimp_pg::{ConnectorError, IssueKeyRequest};
use openimp_store::customers::{self, CustomerRow, Replace, Stored};
use openimp_store::merchants::{self, ChannelRow};
use openimp_store::payments::{self, PaymentFilter, Sorting};
use openimp_vault::Aad;

use crate::channels::ChannelChoice;
use crate::pg_call::PgOperation;
use crate::{ApiResult, Gateway, MerchantId};

/// `POST /subscribe/customers/{customer_uid}`.
#[derive(Debug, Clone, Default)]
pub struct IssueKeyCommand {
    pub customer_uid: String,
    pub card_number: Option<String>,
    pub expiry: Option<String>,
    pub birth: Option<String>,
    pub pwd_2digit: Option<String>,
    pub pg: Option<String>,
    /// `channelKey`: picks the channel (wins over `pg`); an unknown key is refused.
    pub channel_key: Option<String>,
    pub customer_id: Option<String>,
    pub customer_name: Option<String>,
    pub customer_tel: Option<String>,
    pub customer_email: Option<String>,
    pub customer_addr: Option<String>,
    pub customer_postcode: Option<String>,
}

/// The associated data that binds a sealed billing key to its merchant and customer_uid.
pub(crate) fn billing_key_aad<'a>(merchant_id: &'a str, customer_uid: &'a str) -> Aad<'a> {
    Aad { purpose: "billing_key", merchant_id, subject: customer_uid }
}

/// customer_uid: the shared identifier check (`openimp_core::order::check_uid`).
pub(crate) fn check_customer_uid(customer_uid: &str) -> ApiResult<()> {
    openimp_core::order::check_customer_uid(customer_uid)
}

/// KG Inicis window-billing contracts (seed 002) cannot issue keys or charge keyed cards over REST.
pub(crate) fn require_keyed_billing(channel: &ChannelRow) -> ApiResult<()> {
    if channel.keyed_billing {
        Ok(())
    } else {
        Err(ApiError::rejected(format!(
            "{}.{} 채널은 REST API 비인증 결제(/subscribe/customers, /subscribe/payments/onetime)를 지원하지 않습니다. 결제창(IMP.request_pay)으로 빌링키를 발급하세요. (this channel only issues billing keys through the payment window)",
            channel.pg_provider, channel.mid
        )))
    }
}

/// The refusal of a window that would replace a live key its merchant did not allow it to.
pub(crate) fn live_key_refusal() -> ApiError {
    ApiError::rejected(
        "이미 빌링키가 등록된 customer_uid입니다. 결제창으로 빌링키를 교체하려면 가맹점 서버가 먼저 POST /payments/prepare로 이 결제창의 merchant_uid를 amount 0으로 사전등록해야 합니다. (this customer_uid has a live billing key; the merchant's server allows a window to replace it by preparing the window's merchant_uid with amount 0 first)",
    )
}

fn trimmed(value: Option<String>, max: usize, field: &str) -> ApiResult<Option<String>> {
    match value.map(|v| v.trim().to_owned()).filter(|v| !v.is_empty()) {
        Some(v) if v.chars().count() > max => Err(ApiError::invalid(format!(
            "{field}는 {max}자 이내여야 합니다. ({field} is at most {max} characters)"
        ))),
        other => Ok(other),
    }
}

impl Gateway {
    /// Issues (or replaces) the billing key of a customer_uid from keyed card data.
    pub async fn issue_billing_key(
        &self,
        merchant: &MerchantId,
        command: IssueKeyCommand,
    ) -> ApiResult<Customer> {
        check_customer_uid(&command.customer_uid)?;
        let card = CardInput::parse(
            RawCard {
                card_number: command.card_number.as_deref(),
                expiry: command.expiry.as_deref(),
                birth: command.birth.as_deref(),
                pwd_2digit: command.pwd_2digit.as_deref(),
            },
            chrono::Utc::now().date_naive(),
        )?;
        let choice = ChannelChoice::new(command.channel_key.as_deref(), command.pg.as_deref());
        let channel = self.resolve_channel(merchant.as_str(), choice).await?;
        require_keyed_billing(&channel)?;
        // The merchant's own authenticated call: replacing the customer_uid's key is what it asks.
        let (stored, _) =
            self.issue_on_channel(merchant, &channel, card, command, Replace::Allowed).await?;
        Ok(crate::view::customer(&stored))
    }

    /// Asks the channel's PG for a key and stores it sealed. Returns the row and the PG key.
    /// The key it replaces (if `replace` allows one) is deleted at its PG once the new one is
    /// recorded; with [`Replace::Refused`] a live key is kept and the new PG key deleted.
    pub(crate) async fn issue_on_channel(
        &self,
        merchant: &MerchantId,
        channel: &ChannelRow,
        card: CardInput,
        command: IssueKeyCommand,
        replace: Replace,
    ) -> ApiResult<(CustomerRow, String)> {
        check_customer_uid(&command.customer_uid)?;
        let customer_name = trimmed(command.customer_name, 20, "customer_name")?;
        let customer_tel = trimmed(command.customer_tel, 20, "customer_tel")?;
        let customer_email = trimmed(command.customer_email, 200, "customer_email")?;
        let customer_addr = trimmed(command.customer_addr, 200, "customer_addr")?;
        let customer_postcode = trimmed(command.customer_postcode, 8, "customer_postcode")?;
        let (connector, context) = self.connector_for(channel)?;
        let request = IssueKeyRequest { card, customer_uid: command.customer_uid.clone() };
        let call_context = context.clone();
        let call = async move { connector.issue_billing_key(&call_context, request).await };
        let issued = match self.ask_pg(PgOperation::IssueBillingKey, &context, call).await? {
            Ok(issued) => issued,
            Err(ConnectorError::CardRejected { code, message }) => {
                return Err(ApiError::CardRejected(format!(
                    "카드정보 인증에 실패하였습니다. [{code}]{message}"
                )))
            }
            // No answer: no money moved, and a key the PG may have issued is never stored, so
            // it can never be charged; the merchant issues again.
            Err(ConnectorError::Unknown(detail)) => {
                return Err(ApiError::rejected(format!(
                    "빌링키 발급에 실패하였습니다. PG 응답 없음 (no answer from the PG: {detail}); 다시 시도하세요."
                )))
            }
            Err(err) => return Err(PgOperation::IssueBillingKey.failure(err)),
        };
        let sealed = self
            .vault
            .seal_str(
                &issued.billing_key,
                &billing_key_aad(merchant.as_str(), &command.customer_uid),
            )
            .map_err(ApiError::internal)?;
        let now = now();
        let (issued_mode, issued_connector) = self.key_issuer(channel);
        let row = CustomerRow {
            merchant_id: merchant.as_str().to_owned(),
            customer_uid: command.customer_uid,
            channel_id: channel.id.clone(),
            pg_provider: channel.pg_provider.clone(),
            pg_id: channel.mid.clone(),
            billing_key_sealed: sealed,
            card_code: Some(issued.card.card_code),
            card_name: Some(issued.card.card_name),
            card_number: Some(issued.card.card_number),
            card_type: issued.card.card_type,
            customer_id: command.customer_id,
            customer_name,
            customer_tel,
            customer_email,
            customer_addr,
            customer_postcode,
            inserted: now,
            updated: now,
            issued_mode: issued_mode.to_owned(),
            issued_connector,
        };
        match customers::upsert(&self.db, &row, replace).await? {
            Stored::Written { stored, previous } => {
                if let Some(previous) = previous {
                    self.delete_replaced_key(merchant, &previous, &issued.billing_key).await;
                }
                Ok((*stored, issued.billing_key))
            }
            Stored::LiveKeyKept => {
                self.delete_pg_key(self.connector_for(channel), &issued.billing_key).await;
                Err(live_key_refusal())
            }
        }
    }

    /// Deletes at its PG the key a new issue replaced (a failure is logged: the new key is
    /// recorded already and the old one can no longer be charged through openimp).
    pub(crate) async fn delete_replaced_key(
        &self,
        merchant: &MerchantId,
        previous: &CustomerRow,
        new_billing_key: &str,
    ) {
        let aad = billing_key_aad(merchant.as_str(), &previous.customer_uid);
        let old_key = match self.vault.open_str(&previous.billing_key_sealed, &aad) {
            Ok(old_key) if old_key.as_str() != new_billing_key => old_key,
            Ok(_) => return,
            Err(err) => {
                tracing::warn!(%err, "the replaced billing key could not be opened to delete it at the PG");
                return;
            }
        };
        match merchants::get_channel(&self.db, merchant.as_str(), &previous.channel_id).await {
            Ok(Some(channel)) => {
                self.delete_pg_key(self.issuing_connector(previous, &channel), &old_key).await
            }
            Ok(None) => tracing::warn!(
                "the replaced billing key's channel was removed; not deleted at the PG"
            ),
            Err(err) => {
                tracing::warn!(%err, "the replaced billing key's channel could not be read; not deleted at the PG")
            }
        }
    }

    /// Deletes a key at the PG that holds it (`connector`, from [`Gateway::connector_for`] or
    /// [`Gateway::issuing_connector`]); a failure is logged, never returned.
    async fn delete_pg_key(
        &self,
        connector: ApiResult<(
            std::sync::Arc<dyn openimp_pg::Connector>,
            openimp_pg::ChannelContext,
        )>,
        billing_key: &str,
    ) {
        let (connector, context) = match connector {
            Ok(found) => found,
            Err(err) => {
                tracing::warn!(%err, "no connector to delete the billing key at the PG");
                return;
            }
        };
        let (call_context, billing_key) = (context.clone(), billing_key.to_owned());
        let call = async move { connector.delete_billing_key(&call_context, &billing_key).await };
        match self.ask_pg(crate::pg_call::PgOperation::DeleteBillingKey, &context, call).await {
            Ok(Ok(())) => {}
            Ok(Err(err)) => tracing::warn!(%err, "the PG did not confirm the billing key deletion"),
            Err(err) => tracing::warn!(%err, "the billing key deletion task failed"),
        }
    }

    pub async fn get_billing_key(
        &self,
        merchant: &MerchantId,
        customer_uid: &str,
    ) -> ApiResult<Customer> {
        customers::get(&self.db, merchant.as_str(), customer_uid)
            .await?
            .map(|row| crate::view::customer(&row))
            .ok_or_else(|| {
                ApiError::not_found("등록되지 않은 구매자입니다. (unknown customer_uid)")
            })
    }

    /// The live keys among `customer_uids` (the HTTP layer answers 207 when some are missing).
    pub async fn get_billing_keys(
        &self,
        merchant: &MerchantId,
        customer_uids: &[String],
    ) -> ApiResult<Vec<Customer>> {
        if customer_uids.is_empty() {
            return Err(ApiError::invalid(
                "customer_uid[] 파라메터가 누락되었습니다. (customer_uid[] is required)",
            ));
        }
        if customer_uids.len() > 100 {
            return Err(ApiError::invalid(
                "한 번에 100개까지 조회할 수 있습니다. (at most 100 ids per request)",
            ));
        }
        let rows = customers::get_many(&self.db, merchant.as_str(), customer_uids).await?;
        Ok(rows.iter().map(crate::view::customer).collect())
    }

    /// Deletes a key: first locally (no new charge can use it; its pending schedules are revoked),
    /// then at the PG.
    pub async fn delete_billing_key(
        &self,
        merchant: &MerchantId,
        customer_uid: &str,
    ) -> ApiResult<Customer> {
        let found = customers::get_with_channel(&self.db, merchant.as_str(), customer_uid).await?;
        let Some((customer, channel)) = found else {
            return Err(ApiError::not_found("등록되지 않은 구매자입니다. (unknown customer_uid)"));
        };
        if !customers::mark_deleted(&self.db, merchant.as_str(), customer_uid, now()).await? {
            return Err(ApiError::not_found("등록되지 않은 구매자입니다. (unknown customer_uid)"));
        }
        // Its pending schedules can never be charged now: revoke them (docs/webhooks.md).
        self.revoke_schedules_of_deleted_key(merchant, customer_uid).await?;
        if let Some(channel) = channel {
            let billing_key = self
                .vault
                .open_str(
                    &customer.billing_key_sealed,
                    &billing_key_aad(merchant.as_str(), customer_uid),
                )
                .map_err(ApiError::internal)?;
            self.delete_pg_key(self.issuing_connector(&customer, &channel), &billing_key).await;
        }
        Ok(crate::view::customer(&customer))
    }

    /// `GET /subscribe/customers/{customer_uid}/payments`: payments made with a key, newest first.
    pub async fn billing_key_payments(
        &self,
        merchant: &MerchantId,
        customer_uid: &str,
        page: i64,
        limit: i64,
    ) -> ApiResult<Paged<Payment>> {
        if customers::get(&self.db, merchant.as_str(), customer_uid).await?.is_none() {
            return Err(ApiError::not_found("등록되지 않은 구매자입니다. (unknown customer_uid)"));
        }
        let filter = PaymentFilter {
            customer_uid: Some(customer_uid.to_owned()),
            ..PaymentFilter::default()
        };
        let (rows, total) =
            payments::list(&self.db, merchant.as_str(), &filter, Sorting::StartedDesc, page, limit)
                .await?;
        Ok(Paged::new(self.payment_views(&rows).await?, total, page, limit))
    }
}
