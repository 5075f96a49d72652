//! The background worker: due schedules → charges, the webhook outbox → deliveries. It runs
//! inside `openimp serve` and alone as `openimp worker`; any number of workers may share one
//! database (leases keep them apart).

use std::sync::Arc;
use std::time::Duration;

use openimp_core::ids::random_hex;
use openimp_core::time::{now, now_millis};
use openimp_store::schedules;

use crate::schedule::Executed;
use crate::Gateway;

/// Knobs of the worker loops.
#[derive(Debug, Clone)]
pub struct WorkerConfig {
    /// Names this worker's leases (host, pid, random).
    pub worker_id: String,
    /// How often to look for due work when the last pass found none.
    pub poll: Duration,
    /// Schedules claimed per pass.
    pub schedule_batch: i64,
    /// Schedules charged at once.
    pub schedule_concurrency: usize,
    /// How long a claim holds. A dead worker's schedules are taken over after this.
    pub schedule_lease: Duration,
    /// Webhooks claimed (and sent at once) per pass.
    pub webhook_batch: i64,
    /// How long a webhook claim holds (longer than connect + read timeouts).
    pub webhook_lease: Duration,
}

impl WorkerConfig {
    pub fn new(schedule_lease: Duration) -> WorkerConfig {
        WorkerConfig {
            worker_id: format!("{}-{}", std::process::id(), random_hex(4)),
            poll: Duration::from_secs(1),
            schedule_batch: 64,
            schedule_concurrency: 16,
            schedule_lease,
            webhook_batch: 32,
            webhook_lease: Duration::from_secs(120),
        }
    }
}

/// What one schedule pass did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SchedulePassReport {
    pub claimed: usize,
    pub recorded: usize,
    pub unsettled: usize,
    pub errors: usize,
}

impl Gateway {
    /// Claims due schedules (one batch) and charges them, `schedule_concurrency` at a time.
    pub async fn run_due_schedules_once(
        self: &Arc<Self>,
        config: &WorkerConfig,
    ) -> crate::ApiResult<SchedulePassReport> {
        let lease_ms = i64::try_from(config.schedule_lease.as_millis()).unwrap_or(300_000);
        let now_ms = now_millis();
        let claimed = schedules::claim_due(
            &self.db,
            &config.worker_id,
            now(),
            now_ms,
            now_ms + lease_ms,
            config.schedule_batch,
        )
        .await?;
        let mut report = SchedulePassReport { claimed: claimed.len(), ..Default::default() };
        let semaphore = Arc::new(tokio::sync::Semaphore::new(config.schedule_concurrency.max(1)));
        let mut tasks = tokio::task::JoinSet::new();
        for row in claimed {
            let gateway = self.clone();
            let owner = config.worker_id.clone();
            let lease = config.schedule_lease;
            let permit = semaphore.clone().acquire_owned().await;
            tasks.spawn(async move {
                let _permit = permit;
                let result = gateway.execute_schedule(&row, &owner, lease).await;
                if let Err(err) = &result {
                    tracing::warn!(merchant_uid = %row.merchant_uid, %err, "scheduled charge failed to run; retried after the lease");
                }
                result
            });
        }
        while let Some(done) = tasks.join_next().await {
            match done {
                Ok(Ok(Executed::Recorded { .. })) | Ok(Ok(Executed::AlreadyDone)) => {
                    report.recorded += 1
                }
                Ok(Ok(Executed::Unsettled)) => report.unsettled += 1,
                Ok(Err(_)) | Err(_) => report.errors += 1,
            }
        }
        Ok(report)
    }

    /// The schedule loop, until `shutdown` fires.
    pub async fn run_schedule_worker(
        self: Arc<Self>,
        config: WorkerConfig,
        mut shutdown: tokio::sync::watch::Receiver<bool>,
    ) {
        loop {
            let busy = match self.run_due_schedules_once(&config).await {
                Ok(report) => {
                    if report.claimed > 0 {
                        tracing::debug!(?report, "schedule pass");
                    }
                    report.claimed as i64 >= config.schedule_batch
                }
                Err(err) => {
                    tracing::warn!(%err, "schedule pass failed");
                    false
                }
            };
            if *shutdown.borrow() {
                return;
            }
            if !busy {
                tokio::select! {
                    _ = tokio::time::sleep(config.poll) => {}
                    _ = shutdown.changed() => return,
                }
            }
        }
    }

    /// The webhook loop, until `shutdown` fires.
    pub async fn run_webhook_worker(
        self: Arc<Self>,
        config: WorkerConfig,
        mut shutdown: tokio::sync::watch::Receiver<bool>,
    ) {
        let poll = config.poll.min(Duration::from_millis(500));
        loop {
            let busy = match self
                .deliver_webhooks_once(config.webhook_batch, config.webhook_lease)
                .await
            {
                Ok(report) => {
                    let n = report.delivered + report.retrying + report.gave_up;
                    n as i64 >= config.webhook_batch
                }
                Err(err) => {
                    tracing::warn!(%err, "webhook pass failed");
                    false
                }
            };
            if *shutdown.borrow() {
                return;
            }
            if !busy {
                tokio::select! {
                    _ = tokio::time::sleep(poll) => {}
                    _ = shutdown.changed() => return,
                }
            }
        }
    }

    /// Starts both loops; they stop when `shutdown` fires.
    pub fn spawn_workers(
        self: &Arc<Self>,
        config: WorkerConfig,
        shutdown: tokio::sync::watch::Receiver<bool>,
    ) -> Vec<tokio::task::JoinHandle<()>> {
        tracing::info!(worker_id = %config.worker_id, "worker started (schedules, webhooks)");
        vec![
            tokio::spawn(self.clone().run_schedule_worker(config.clone(), shutdown.clone())),
            tokio::spawn(self.clone().run_webhook_worker(config, shutdown)),
        ]
    }
}
