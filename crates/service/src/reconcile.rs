//! The reconciler: settles payments whose PG outcome is unknown by asking the PG (DESIGN.md
//! rule 2). A pending payment is never guessed paid or failed.

use std::sync::Arc;
use std::time::Duration;

use openimp_core::time::now;
use openimp_core::ApiError;
use openimp_pg::Inquiry;
use openimp_store::merchants;
use openimp_store::payments::{self, PaymentRow};

use crate::{ApiResult, Gateway};

/// What one reconciliation pass did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReconcileReport {
    pub examined: usize,
    pub paid: usize,
    pub failed: usize,
    pub still_pending: usize,
}

impl Gateway {
    /// One pass over the payments pending for longer than `reconcile_after`.
    pub async fn reconcile_once(&self) -> ApiResult<ReconcileReport> {
        let now = now();
        let after = i64::try_from(self.config.reconcile_after.as_secs()).unwrap_or(i64::MAX);
        // A PG with no record of an order may simply not have received it yet: only after two
        // PG timeouts can "not found" mean "never charged".
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
        if report.examined > 0 {
            tracing::info!(?report, "reconciliation pass");
        }
        Ok(report)
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
        let (connector, context) = self.connector_for(&channel)?;
        let inquiry =
            tokio::time::timeout(self.config.pg_timeout, connector.inquire(&context, &row.imp_uid))
                .await;
        let notify = self.webhook_for(&row.merchant_id, row.notice_url.as_deref(), None).await?;
        // i'mport notifies failures only of scheduled charges.
        let notify_failure = notify
            .clone()
            .filter(|_| row.customer_uid_usage == Some(openimp_core::states::KeyUsage::Scheduled));
        match inquiry {
            // Another amount than asked: cancelled at the PG and failed, as `charge` does.
            Ok(Ok(Inquiry::Approved(approval))) if approval.amount != row.amount => {
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
            Ok(Ok(Inquiry::Approved(approval))) => {
                let record = crate::charge::approval_record(approval);
                payments::mark_paid_notify(&self.db, &row.imp_uid, &record, notify.as_ref())
                    .await?;
                tracing::info!(imp_uid = %row.imp_uid, "reconciled: the PG reports the charge approved");
                Ok(Settled::Paid)
            }
            Ok(Ok(Inquiry::Declined { code, message })) => {
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
            Ok(Ok(Inquiry::NotFound)) if row.started_at <= now - grace => {
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
            Ok(Ok(Inquiry::NotFound)) | Ok(Err(_)) | Err(_) => {
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
            // Housekeeping rides on the same loop: payment windows opened and never used are
            // kept a day past their expiry (their page says "expired"), then deleted.
            match openimp_store::window::delete_expired(
                &self.db,
                openimp_core::time::now() - 86_400,
            )
            .await
            {
                Ok(0) => {}
                Ok(deleted) => tracing::debug!(deleted, "expired payment windows deleted"),
                Err(err) => tracing::warn!(%err, "deleting expired payment windows failed"),
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
