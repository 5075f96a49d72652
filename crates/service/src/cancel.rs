//! `POST /payments/cancel`: full and partial refunds.
//!
//! Reserve, call, record: the amount is reserved against the balance in one transaction (with
//! the checksum compared there), the PG is called with nothing open, and the outcome is written
//! in a second transaction. Two concurrent partial cancels can never refund more than was paid.
//! A cancel whose PG answer was lost stays reserved until the reconciler asks the PG about it
//! (`reconcile.rs`).

use openimp_core::ids::new_cancellation_id;
use openimp_core::time::now;
use openimp_core::wire::Payment;
use openimp_core::ApiError;
use openimp_pg::{CancelOutcome, CancelRequest, ConnectorError};
use openimp_store::cancels::{self, CancelRow, CancelState, ReserveRefusal};
use openimp_store::merchants;
use openimp_store::payments::{self, PaymentFilter, Sorting};

use crate::pg_call::PgOperation;
use crate::{ApiResult, Gateway, MerchantId};

/// The fields of a cancel request.
#[derive(Debug, Clone, Default)]
pub struct CancelCommand {
    pub imp_uid: Option<String>,
    pub merchant_uid: Option<String>,
    /// `None` or 0: cancel everything that remains.
    pub amount: Option<i64>,
    pub tax_free: Option<i64>,
    pub vat_amount: Option<i64>,
    /// The caller's view of the cancellable balance; refused without effect if it differs.
    pub checksum: Option<i64>,
    pub reason: Option<String>,
}

const NOTHING_TO_CANCEL: &str = "취소할 결제건이 존재하지 않습니다.";

impl Gateway {
    pub async fn cancel_payment(
        &self,
        merchant: &MerchantId,
        command: CancelCommand,
    ) -> ApiResult<Payment> {
        let imp_uid = command.imp_uid.as_deref().map(str::trim).filter(|s| !s.is_empty());
        let merchant_uid = command.merchant_uid.as_deref().map(str::trim).filter(|s| !s.is_empty());
        // imp_uid wins when both are given; an unknown imp_uid fails even with a good merchant_uid.
        let payment = match (imp_uid, merchant_uid) {
            (Some(imp_uid), _) => payments::get(&self.db, merchant.as_str(), imp_uid).await?,
            (None, Some(merchant_uid)) => {
                let paid = PaymentFilter { merchant_uid: Some(merchant_uid.to_owned()), status: Some("paid".to_owned()), ..Default::default() };
                match payments::find_one(&self.db, merchant.as_str(), &paid, Sorting::StartedDesc).await? {
                    Some(found) => Some(found),
                    None => {
                        let any = PaymentFilter { merchant_uid: Some(merchant_uid.to_owned()), ..Default::default() };
                        payments::find_one(&self.db, merchant.as_str(), &any, Sorting::StartedDesc).await?
                    }
                }
            }
            (None, None) => {
                return Err(ApiError::invalid("imp_uid 또는 merchant_uid 파라메터가 필요합니다. (imp_uid or merchant_uid is required)"))
            }
        };
        let Some(payment) = payment else { return Err(ApiError::rejected(NOTHING_TO_CANCEL)) };
        if payment.status == "cancelled" {
            return Err(ApiError::rejected(
                "이미 전액취소된 결제건입니다. (already fully cancelled)",
            ));
        }
        if payment.status != "paid" {
            return Err(ApiError::rejected(format!(
                "결제완료(paid) 상태의 결제건만 취소할 수 있습니다. 현재 상태: {} (only paid payments can be cancelled)",
                if payment.status == "pending" { "ready" } else { payment.status.as_str() }
            )));
        }
        let requested = command.amount.filter(|amount| *amount != 0);
        if requested.is_some_and(|amount| amount < 0) {
            return Err(ApiError::invalid(
                "취소금액(amount)은 0보다 커야 합니다. (amount must be positive)",
            ));
        }
        let amount = requested.unwrap_or(payment.amount - payment.cancel_reserved);
        let tax_free = command.tax_free.unwrap_or(0);
        if tax_free < 0 || tax_free > amount {
            return Err(ApiError::invalid("면세 취소금액(tax_free)은 0 이상, 취소금액 이하여야 합니다. (tax_free must be between 0 and the cancel amount)"));
        }
        if command.vat_amount.is_some_and(|vat| vat < 0 || vat > amount - tax_free) {
            return Err(ApiError::invalid("부가세 취소금액(vat_amount)은 0 이상, 과세 취소금액 이하여야 합니다. (vat_amount out of range)"));
        }
        let reason = command
            .reason
            .map(|r| r.trim().to_owned())
            .filter(|r| !r.is_empty())
            .unwrap_or_else(|| "취소요청".to_owned());
        let cancel = CancelRow {
            cancellation_id: new_cancellation_id(),
            imp_uid: payment.imp_uid.clone(),
            merchant_id: merchant.as_str().to_owned(),
            state: CancelState::Pending,
            pg_tid: None,
            amount,
            tax_free,
            vat_amount: command.vat_amount,
            reason: reason.clone(),
            receipt_url: None,
            requested_at: now(),
            cancelled_at: 0,
        };
        // Settled before the reservation, so that a failure here leaves nothing reserved.
        let notify = self
            .webhook_for(
                merchant.as_str(),
                payment.notice_url.as_deref(),
                Some(cancel.cancellation_id.clone()),
            )
            .await?;
        match cancels::reserve_cancel(&self.db, &cancel, command.checksum).await? {
            Ok(()) => {}
            Err(ReserveRefusal::ChecksumMismatch { balance }) => {
                return Err(ApiError::rejected(format!(
                    "checksum이 취소가능 잔액({balance})과 일치하지 않습니다. (checksum does not match the cancellable balance)"
                )))
            }
            Err(ReserveRefusal::BeyondBalance { balance }) => {
                return Err(ApiError::rejected(format!(
                    "취소요청금액이 취소가능 잔액({balance})을 초과합니다. (the amount exceeds the cancellable balance)"
                )))
            }
            Err(ReserveRefusal::NotCancellable { .. }) => {
                return Err(ApiError::rejected("취소가능 잔액이 없습니다. (nothing left to cancel)"))
            }
        }
        let channel = match &payment.channel_id {
            Some(channel_id) => {
                merchants::get_channel(&self.db, merchant.as_str(), channel_id).await?
            }
            None => None,
        };
        let Some(channel) = channel else {
            cancels::fail_cancel(&self.db, &cancel.cancellation_id).await?;
            return Err(ApiError::rejected(
                "결제한 PG 채널이 삭제되어 취소할 수 없습니다. (the payment's channel was removed)",
            ));
        };
        let (connector, context) = match self.payment_connector(&payment, &channel) {
            Ok(found) => found,
            Err(err) => {
                cancels::fail_cancel(&self.db, &cancel.cancellation_id).await?;
                return Err(err);
            }
        };
        let request = CancelRequest {
            order_id: payment.imp_uid.clone(),
            cancel_id: cancel.cancellation_id.clone(),
            pg_tid: payment.pg_tid.clone().unwrap_or_default(),
            amount,
            tax_free,
            vat_amount: command.vat_amount,
            balance_before: payment.amount - payment.cancel_amount,
            reason,
        };
        let db = self.db.clone();
        let cancellation_id = cancel.cancellation_id.clone();
        let call_context = context.clone();
        let call = async move { connector.cancel(&call_context, request).await };
        self.call_pg(PgOperation::Cancel, &context, call, |outcome| async move {
            match outcome {
                Ok(CancelOutcome::Cancelled { pg_tid, cancelled_at, receipt_url }) => {
                    cancels::complete_cancel_notify(
                        &db,
                        &cancellation_id,
                        &pg_tid,
                        cancelled_at,
                        receipt_url.as_deref(),
                        notify.as_ref(),
                    )
                    .await?;
                    Ok(())
                }
                Ok(CancelOutcome::Refused { code, message }) => {
                    cancels::fail_cancel(&db, &cancellation_id).await?;
                    Err(ApiError::rejected(format!("[{code}] {message}")))
                }
                // The amount stays reserved until the reconciler's cancel inquiry settles it.
                Err(err @ ConnectorError::Unknown(_)) => {
                    tracing::warn!(%cancellation_id, %err, "PG cancel outcome unknown; the amount stays reserved");
                    Err(PgOperation::Cancel.failure(err))
                }
                Err(err) => {
                    cancels::fail_cancel(&db, &cancellation_id).await?;
                    Err(PgOperation::Cancel.failure(err))
                }
            }
        })
        .await?;
        self.get_payment(merchant, &payment.imp_uid).await
    }
}
