//! Prepared orders (`/payments/prepare`): a merchant registers the amount of a merchant_uid
//! ahead, and a charge of another amount under it is refused.

use openimp_core::time::now;
use openimp_core::wire::Prepared;
use openimp_core::ApiError;
use openimp_store::prepares::{self, PrepareRow};
use openimp_store::StoreError;

use crate::{ApiResult, Gateway, MerchantId};

/// Input of prepare POST and PUT.
#[derive(Debug, Clone)]
pub struct PrepareCommand {
    pub merchant_uid: String,
    pub amount: i64,
    /// `None`: the currency is not checked.
    pub currency: Option<String>,
}

fn view(row: PrepareRow) -> Prepared {
    Prepared { merchant_uid: row.merchant_uid, amount: row.amount, currency: row.currency }
}

impl Gateway {
    pub async fn prepare(
        &self,
        merchant: &MerchantId,
        command: PrepareCommand,
    ) -> ApiResult<Prepared> {
        let row = check(command)?;
        match prepares::insert(&self.db, merchant.as_str(), &row, now()).await {
            Ok(()) => Ok(view(row)),
            Err(StoreError::Conflict(_)) => Err(ApiError::rejected(
                "결제정보 사전등록에 실패하였습니다(이미 등록된 merchant_uid입니다).",
            )),
            Err(err) => Err(err.into()),
        }
    }

    pub async fn update_prepare(
        &self,
        merchant: &MerchantId,
        command: PrepareCommand,
    ) -> ApiResult<Prepared> {
        let row = check(command)?;
        if prepares::update(&self.db, merchant.as_str(), &row, now()).await? {
            Ok(view(row))
        } else {
            Err(ApiError::not_found(
                "사전등록되지 않은 merchant_uid입니다. (merchant_uid is not prepared)",
            ))
        }
    }

    pub async fn get_prepare(
        &self,
        merchant: &MerchantId,
        merchant_uid: &str,
    ) -> ApiResult<Prepared> {
        prepares::get(&self.db, merchant.as_str(), merchant_uid).await?.map(view).ok_or_else(|| {
            ApiError::not_found(
                "사전등록되지 않은 merchant_uid입니다. (merchant_uid is not prepared)",
            )
        })
    }

    /// Refuses a charge whose amount or currency differs from the prepared one.
    pub(crate) async fn check_prepared(
        &self,
        merchant_id: &str,
        merchant_uid: &str,
        amount: i64,
        currency: &str,
    ) -> ApiResult<()> {
        let Some(prepared) = prepares::get(&self.db, merchant_id, merchant_uid).await? else {
            return Ok(());
        };
        if prepared.amount != amount {
            return Err(ApiError::rejected(format!(
                "사전등록된 결제금액({})과 요청 금액({amount})이 일치하지 않습니다. (amount differs from the prepared amount)",
                prepared.amount
            )));
        }
        if let Some(prepared_currency) = &prepared.currency {
            if !prepared_currency.eq_ignore_ascii_case(currency) {
                return Err(ApiError::rejected("사전등록된 통화와 요청 통화가 일치하지 않습니다. (currency differs from the prepared one)"));
            }
        }
        Ok(())
    }
}

fn check(command: PrepareCommand) -> ApiResult<PrepareRow> {
    openimp_core::order::check_merchant_uid(&command.merchant_uid)?;
    if command.amount < 0 {
        return Err(ApiError::invalid(
            "amount는 0 이상이어야 합니다. (amount must be 0..=10,000,000,000)",
        ));
    }
    openimp_core::money::check_ceiling(command.amount)?;
    let currency = match command.currency.as_deref().map(str::trim).filter(|c| !c.is_empty()) {
        None => None,
        Some(currency) => Some(openimp_core::money::check_currency(Some(currency))?.to_owned()),
    };
    Ok(PrepareRow { merchant_uid: command.merchant_uid, amount: command.amount, currency })
}
