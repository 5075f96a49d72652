//! `openimp worker`: the background loops alone (due schedules, webhook deliveries, the
//! reconciler), for running them on other nodes or in other processes than the API server.
//! Any number of workers (and servers) may share one database.

use std::io::Write;
use std::sync::Arc;
use std::time::Duration;

use clap::Args;
use openimp_service::webhook::WebhookOptions;
use openimp_service::worker::WorkerConfig;
use openimp_service::{Gateway, GatewayConfig};

use crate::config::DataOptions;
use crate::datalock::LockMode;

/// Options of the worker loops, shared by `openimp serve` and `openimp worker`.
#[derive(Debug, Clone, Args)]
pub struct WorkerOptions {
    /// `serve` only: do not run the schedule and webhook worker in this process.
    #[arg(long, env = "OPENIMP_NO_WORKER", action = clap::ArgAction::SetTrue, value_parser = clap::builder::BoolishValueParser::new())]
    pub no_worker: bool,
    /// Deliver webhooks to loopback, link-local and private addresses (refused by default).
    #[arg(long, env = "OPENIMP_ALLOW_PRIVATE_WEBHOOKS", action = clap::ArgAction::SetTrue, value_parser = clap::builder::BoolishValueParser::new())]
    pub allow_private_webhooks: bool,
    /// Delivery tries per webhook before giving up (a resend starts a new round).
    #[arg(long, env = "OPENIMP_WEBHOOK_MAX_ATTEMPTS", default_value_t = 10)]
    pub webhook_max_attempts: i64,
    /// Delay before a webhook's second try, doubled for each later one (default 3 min: 10 tries
    /// span about a day).
    #[arg(long, env = "OPENIMP_WEBHOOK_BACKOFF_BASE_MS", default_value_t = 180_000)]
    pub webhook_backoff_base_ms: u64,
    /// How long a worker's claim on a due schedule holds; a dead worker's schedules are taken
    /// over after this. Keep it well above the PG timeout.
    #[arg(long, env = "OPENIMP_SCHEDULE_LEASE_SECS", default_value_t = 120)]
    pub schedule_lease_secs: u64,
    /// How often an idle worker looks for due schedules.
    #[arg(long, env = "OPENIMP_WORKER_POLL_MS", default_value_t = 1000)]
    pub worker_poll_ms: u64,
    /// Schedules charged at once by one worker.
    #[arg(long, env = "OPENIMP_SCHEDULE_CONCURRENCY", default_value_t = 16)]
    pub schedule_concurrency: usize,
    /// Schedules claimed per pass.
    #[arg(long, env = "OPENIMP_SCHEDULE_BATCH", default_value_t = 64)]
    pub schedule_batch: i64,
}

impl WorkerOptions {
    pub fn webhook_options(&self) -> WebhookOptions {
        WebhookOptions {
            allow_private: self.allow_private_webhooks,
            max_attempts: self.webhook_max_attempts.max(1),
            backoff_base: Duration::from_millis(self.webhook_backoff_base_ms),
            ..WebhookOptions::default()
        }
    }

    pub fn worker_config(&self) -> WorkerConfig {
        let mut config = WorkerConfig::new(Duration::from_secs(self.schedule_lease_secs.max(1)));
        config.poll = Duration::from_millis(self.worker_poll_ms.max(10));
        config.schedule_concurrency = self.schedule_concurrency.max(1);
        config.schedule_batch = self.schedule_batch.max(1);
        config
    }
}

#[derive(Debug, Args)]
pub struct WorkerArgs {
    #[command(flatten)]
    worker: WorkerOptions,
    /// Delay the sandbox PG adds to every call, in milliseconds (to simulate a slow PG).
    #[arg(long, env = "OPENIMP_SANDBOX_DELAY_MS", default_value_t = 0)]
    sandbox_delay_ms: u64,
    /// How long a PG call may take before its outcome counts as unknown.
    #[arg(long, default_value_t = 30)]
    pg_timeout_secs: u64,
    /// How often the reconciler looks for payments with an unknown outcome.
    #[arg(long, default_value_t = 30)]
    reconcile_interval_secs: u64,
    /// A payment pending for longer than this is settled by asking its PG.
    #[arg(long, default_value_t = 60)]
    reconcile_after_secs: u64,
    /// Log lines as JSON.
    #[arg(long)]
    log_json: bool,
}

pub async fn run(data: &DataOptions, args: WorkerArgs) -> anyhow::Result<()> {
    super::serve::init_logging(args.log_json);
    let _master_key_lock = data.lock(LockMode::Shared).await?;
    let vault = data.open_vault()?;
    let db = data.open_db().await?;
    let pgs = crate::connectors::connectors(
        data,
        &db,
        crate::connectors::ConnectorOptions {
            sandbox_delay: Duration::from_millis(args.sandbox_delay_ms),
            pg_timeout: Duration::from_secs(args.pg_timeout_secs),
        },
    )
    .await?;
    let gateway = Arc::new(
        Gateway::new(
            db.clone(),
            vault,
            pgs.connectors,
            GatewayConfig {
                pg_timeout: Duration::from_secs(args.pg_timeout_secs),
                reconcile_after: Duration::from_secs(args.reconcile_after_secs),
                crash_after_pg_call: false,
                window_session_ttl_secs: openimp_service::window::SESSION_TTL_SECS,
                window_sessions_per_merchant: openimp_service::window::OPEN_SESSIONS_PER_MERCHANT,
            },
        )
        .with_webhook_options(args.worker.webhook_options()),
    );
    let (shutdown_tx, shutdown_rx) = tokio::sync::watch::channel(false);
    let config = args.worker.worker_config();
    let worker_id = config.worker_id.clone();
    let mut tasks = gateway.spawn_workers(config, shutdown_rx.clone());
    tasks.push(tokio::spawn(
        gateway
            .clone()
            .run_reconciler(Duration::from_secs(args.reconcile_interval_secs.max(1)), shutdown_rx),
    ));
    {
        let mut stdout = std::io::stdout().lock();
        writeln!(stdout, "openimp worker {worker_id} running")?;
        stdout.flush()?;
    }
    super::serve::shutdown_signal().await;
    let _ = shutdown_tx.send(true);
    for task in tasks {
        let _ = task.await;
    }
    db.close().await;
    Ok(())
}
