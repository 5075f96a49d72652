//! The reconciler: settles payments and cancels whose PG outcome is unknown by asking the PG
//! (DESIGN.md rule 2). A pending payment is never guessed paid or failed, and a pending cancel
//! never keeps its reserved amount for good: the PG's record completes it, and only a PG that
//! still has no record of it after its grace period releases the reservation.

use std::sync::Arc;
use std::time::Duration;

use openimp_core::time::now;
use openimp_core::ApiError;
use openimp_pg::{CancelInquiry, Inquiry};
use openimp_store::cancels::{self, CancelRow};
use openimp_store::merchants;
use openimp_store::payments::{self, PaymentRow};

use crate::pg_call::PgOperation;
use crate::{ApiResult, Gateway};

/// What one reconciliation pass did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReconcileReport {
    pub examined: usize,
    pub paid: usize,
    pub failed: usize,
    pub still_pending: usize,
    /// Pending cancels looked at, and what became of them.
    pub cancels_examined: usize,
    pub cancels_completed: usize,
    pub cancels_released: usize,
    pub cancels_still_pending: usize,
}

impl Gateway {
    /// One pass over the payments and cancels pending for longer than `reconcile_after`.
    pub async fn reconcile_once(&self) -> ApiResult<ReconcileReport> {
        let now = now();
        let after = i64::try_from(self.config.reconcile_after.as_secs()).unwrap_or(i64::MAX);
        // A PG with no record of an order or a cancel may simply not have received it yet: only
        // after two PG timeouts can "not found" mean "never happened".
        let grace =
            i64::try_from(self.config.pg_timeout.as_secs()).unwrap_or(30).saturating_mul(2).max(1);
        let pending = payments::pending_before(&self.db, now.saturating_sub(after), 200).await?;
        let mut report = ReconcileReport { examined: pending.len(), ..ReconcileReport::default() };
        for row in pending {
            match self.settle(&row, now, grace).await {
                Ok(Settled::Paid) => report.paid += 1,
                Ok(Settled::Failed) => report.failed += 1,
                Ok(Settled::Pending) => report.still_pending += 1,
                Err(err) => {
                    report.still_pending += 1;
                    tracing::warn!(imp_uid = %row.imp_uid, %err, "could not settle a pending payment");
                }
            }
        }
        let cancels =
            cancels::pending_cancels_before(&self.db, now.saturating_sub(after), 100).await?;
        report.cancels_examined = cancels.len();
        for cancel in cancels {
            match self.settle_cancel(&cancel, now, grace).await {
                Ok(SettledCancel::Completed) => report.cancels_completed += 1,
                Ok(SettledCancel::Released) => report.cancels_released += 1,
                Ok(SettledCancel::Pending) => report.cancels_still_pending += 1,
                Err(err) => {
                    report.cancels_still_pending += 1;
                    cancels::touch_pending_cancel(&self.db, &cancel.cancellation_id, now).await?;
                    tracing::warn!(cancellation_id = %cancel.cancellation_id, %err, "could not settle a pending cancel");
                }
            }
        }
        if report.examined > 0 || report.cancels_examined > 0 {
            tracing::info!(?report, "reconciliation pass");
        }
        Ok(report)
    }

    /// Asks the PG about one cancel whose answer was lost, and records what it says.
    async fn settle_cancel(
        &self,
        cancel: &CancelRow,
        now: i64,
        grace: i64,
    ) -> ApiResult<SettledCancel> {
        let payment = payments::get_any(&self.db, &cancel.imp_uid)
            .await?
            .ok_or_else(|| ApiError::internal("the cancelled payment is gone"))?;
        let channel = match &payment.channel_id {
            Some(id) => merchants::get_channel(&self.db, &payment.merchant_id, id).await?,
            None => None,
        };
        let Some(channel) = channel else {
            return Err(ApiError::internal("the payment's channel is gone; settle it by hand"));
        };
        let (connector, context) = self.payment_connector(&payment, &channel)?;
        let pg_tid = payment.pg_tid.clone().unwrap_or_default();
        let cancel_id = cancel.cancellation_id.clone();
        let call_context = context.clone();
        let inquiry = self
            .ask_pg(PgOperation::InquireCancel, &context, async move {
                connector.inquire_cancel(&call_context, &pg_tid, &cancel_id).await
            })
            .await?;
        match inquiry {
            Ok(CancelInquiry::Cancelled { pg_tid, amount, cancelled_at, receipt_url })
                if amount == cancel.amount =>
            {
                let notify = self
                    .webhook_for(
                        &payment.merchant_id,
                        payment.notice_url.as_deref(),
                        Some(cancel.cancellation_id.clone()),
                    )
                    .await?;
                cancels::complete_cancel_notify(
                    &self.db,
                    &cancel.cancellation_id,
                    &pg_tid,
                    cancelled_at,
                    receipt_url.as_deref(),
                    notify.as_ref(),
                )
                .await?;
                tracing::info!(cancellation_id = %cancel.cancellation_id, "reconciled: the PG reports the cancel done");
                Ok(SettledCancel::Completed)
            }
            Ok(CancelInquiry::Cancelled { amount, .. }) => Err(ApiError::internal(format!(
                "the PG cancelled {amount} where {} was requested; settle it by hand",
                cancel.amount
            ))),
            Ok(CancelInquiry::NotFound) if cancel.requested_at <= now - grace => {
                cancels::fail_cancel(&self.db, &cancel.cancellation_id).await?;
                tracing::info!(cancellation_id = %cancel.cancellation_id, "reconciled: the PG never received the cancel; its amount is released");
                Ok(SettledCancel::Released)
            }
            Ok(CancelInquiry::NotFound) | Err(_) => {
                cancels::touch_pending_cancel(&self.db, &cancel.cancellation_id, now).await?;
                Ok(SettledCancel::Pending)
            }
        }
    }

    async fn settle(&self, row: &PaymentRow, now: i64, grace: i64) -> ApiResult<Settled> {
        let channel = match &row.channel_id {
            Some(id) => merchants::get_channel(&self.db, &row.merchant_id, id).await?,
            None => None,
        };
        let Some(channel) = channel else {
            payments::touch_pending(&self.db, &row.imp_uid, now).await?;
            return Err(ApiError::internal("the payment's channel is gone; settle it by hand"));
        };
        let (connector, context) = self.payment_connector(row, &channel)?;
        let (call_connector, call_context) = (connector.clone(), context.clone());
        let imp_uid = row.imp_uid.clone();
        let inquiry = self
            .ask_pg(PgOperation::Inquire, &context, async move {
                call_connector.inquire(&call_context, &imp_uid).await
            })
            .await?;
        let notify = self.webhook_for(&row.merchant_id, row.notice_url.as_deref(), None).await?;
        // i'mport notifies failures only of scheduled charges.
        let notify_failure = notify
            .clone()
            .filter(|_| row.customer_uid_usage == Some(openimp_core::states::KeyUsage::Scheduled));
        match inquiry {
            // Another amount than asked: cancelled at the PG and failed, as `charge` does.
            Ok(Inquiry::Approved(approval)) if approval.amount != row.amount => {
                let pg = crate::charge::PgCall {
                    connector: connector.as_ref(),
                    context: &context,
                    timeout: self.config.pg_timeout,
                };
                match crate::charge::cancel_mismatched_approval(&pg, row, &approval).await {
                    Ok(reason) => {
                        payments::mark_failed_notify(
                            &self.db,
                            &row.imp_uid,
                            &reason,
                            now,
                            notify_failure.as_ref(),
                        )
                        .await?;
                        Ok(Settled::Failed)
                    }
                    Err(detail) => {
                        tracing::error!(imp_uid = %row.imp_uid, %detail, "the PG approved another amount and the cancel did not go through; still pending");
                        payments::touch_pending(&self.db, &row.imp_uid, now).await?;
                        Ok(Settled::Pending)
                    }
                }
            }
            Ok(Inquiry::Approved(approval)) => {
                let record = crate::charge::approval_record(approval);
                payments::mark_paid_notify(&self.db, &row.imp_uid, &record, notify.as_ref())
                    .await?;
                tracing::info!(imp_uid = %row.imp_uid, "reconciled: the PG reports the charge approved");
                Ok(Settled::Paid)
            }
            Ok(Inquiry::Declined { code, message }) => {
                payments::mark_failed_notify(
                    &self.db,
                    &row.imp_uid,
                    &format!("[{code}] {message}"),
                    now,
                    notify_failure.as_ref(),
                )
                .await?;
                Ok(Settled::Failed)
            }
            // A window still at its PG: the customer may yet pay there; or its return is being
            // approved (a return takes at most a PG timeout, a net-cancel another: claims older
            // than twice the grace are crashed returns, settled here).
            Ok(Inquiry::NotFound)
                if crate::window::awaiting_pg_return(
                    &self.db,
                    &row.imp_uid,
                    now,
                    now.saturating_sub(grace.saturating_mul(2)),
                )
                .await? =>
            {
                payments::touch_pending(&self.db, &row.imp_uid, now).await?;
                Ok(Settled::Pending)
            }
            Ok(Inquiry::NotFound) if row.started_at <= now - grace => {
                payments::mark_failed_notify(
                    &self.db,
                    &row.imp_uid,
                    NEVER_CHARGED,
                    now,
                    notify_failure.as_ref(),
                )
                .await?;
                tracing::info!(imp_uid = %row.imp_uid, "reconciled: the PG never charged it");
                Ok(Settled::Failed)
            }
            Ok(Inquiry::NotFound) | Err(_) => {
                payments::touch_pending(&self.db, &row.imp_uid, now).await?;
                Ok(Settled::Pending)
            }
        }
    }

    /// Runs [`Gateway::reconcile_once`] now and then every `interval`, until `shutdown` fires.
    pub async fn run_reconciler(
        self: Arc<Self>,
        interval: Duration,
        mut shutdown: tokio::sync::watch::Receiver<bool>,
    ) {
        loop {
            if let Err(err) = self.reconcile_once().await {
                tracing::warn!(%err, "reconciliation pass failed");
            }
            // Housekeeping rides on the same loop: expired and old finished payment windows.
            match self.purge_window_sessions().await {
                Ok(0) => {}
                Ok(deleted) => tracing::debug!(deleted, "payment windows purged"),
                Err(err) => tracing::warn!(%err, "purging payment windows failed"),
            }
            tokio::select! {
                _ = tokio::time::sleep(interval) => {}
                _ = shutdown.changed() => return,
            }
        }
    }
}

/// The fail_reason of a payment the PG never received (a scheduled charge may run again).
pub const NEVER_CHARGED: &str = "PG에 승인 기록이 없습니다. (the PG has no record of this charge)";

enum Settled {
    Paid,
    Failed,
    Pending,
}

enum SettledCancel {
    /// The PG has it: recorded done, its amount moved from reserved to cancelled.
    Completed,
    /// The PG never received it: its reservation was given back.
    Released,
    /// Not known yet (no answer, or the PG's grace period is not over).
    Pending,
}
