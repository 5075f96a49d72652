//! `openimp webhooks list|resend` and the merchant's webhook settings
//! (`openimp merchant set-webhook`, `openimp merchant webhook-secret`).

use std::io::Write;
use std::sync::Arc;
use std::time::Duration;

use clap::{Args, Subcommand};
use openimp_pg::sandbox::SandboxPg;
use openimp_service::{Gateway, GatewayConfig};
use openimp_store::webhooks::OutboxFilter;

use crate::config::DataOptions;

async fn gateway(data: &DataOptions) -> anyhow::Result<Gateway> {
    let vault = data.open_vault()?;
    let db = data.open_db().await?;
    let sandbox = Arc::new(SandboxPg::new(data.open_sandbox_db(&db).await?, Duration::ZERO));
    Ok(Gateway::new(
        db,
        vault,
        sandbox,
        GatewayConfig {
            pg_timeout: Duration::from_secs(30),
            reconcile_after: Duration::from_secs(60),
            crash_after_pg_call: false,
            window_session_ttl_secs: openimp_service::window::SESSION_TTL_SECS,
            window_sessions_per_merchant: openimp_service::window::OPEN_SESSIONS_PER_MERCHANT,
        },
    ))
}

fn service_error(err: openimp_core::ApiError) -> anyhow::Error {
    anyhow::anyhow!("{err}")
}

#[derive(Debug, Subcommand)]
pub enum WebhooksCommand {
    /// Webhook deliveries (newest first) with every attempt: HTTP status, latency, response.
    List(WebhookList),
    /// Queue a webhook again now (same webhook-id and URL, a fresh round of tries).
    Resend {
        /// The webhook id (msg_...).
        #[arg(long)]
        id: String,
        /// Only if it belongs to this merchant.
        #[arg(long)]
        merchant: Option<String>,
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Args)]
pub struct WebhookList {
    /// Only this merchant's (imp + 8 digits).
    #[arg(long)]
    merchant: Option<String>,
    #[arg(long)]
    imp_uid: Option<String>,
    #[arg(long)]
    merchant_uid: Option<String>,
    /// pending, delivered or failed.
    #[arg(long)]
    state: Option<String>,
    #[arg(long, default_value_t = 1)]
    page: i64,
    #[arg(long, default_value_t = 100)]
    limit: i64,
    /// Print one JSON document ({total, previous, next, list}).
    #[arg(long)]
    json: bool,
}

impl WebhooksCommand {
    pub async fn run(self, data: &DataOptions) -> anyhow::Result<()> {
        let gateway = gateway(data).await?;
        let mut out = std::io::stdout().lock();
        match self {
            WebhooksCommand::List(args) => {
                let filter = OutboxFilter {
                    merchant_id: args.merchant,
                    imp_uid: args.imp_uid,
                    merchant_uid: args.merchant_uid,
                    state: args.state,
                };
                let page = gateway
                    .list_webhooks(&filter, args.page.max(1), args.limit.clamp(1, 1000))
                    .await
                    .map_err(service_error)?;
                if args.json {
                    writeln!(out, "{}", serde_json::to_string(&page)?)?;
                } else {
                    for w in &page.list {
                        writeln!(
                            out,
                            "{}\t{}\t{}\t{}\t{}\tattempts={}\t{}",
                            w.id, w.state, w.status, w.imp_uid, w.merchant_uid, w.attempts, w.url
                        )?;
                        for a in &w.attempt_log {
                            writeln!(
                                out,
                                "  #{} at={}ms status={} latency={}ms {}{}",
                                a.attempt,
                                a.attempted_at,
                                a.http_status.map_or("-".to_owned(), |s| s.to_string()),
                                a.latency_ms,
                                a.error.as_deref().unwrap_or(""),
                                a.response_snippet
                                    .as_deref()
                                    .map(|s| format!(
                                        " body={:?}",
                                        s.chars().take(80).collect::<String>()
                                    ))
                                    .unwrap_or_default()
                            )?;
                        }
                    }
                    writeln!(out, "{} of {}", page.list.len(), page.total)?;
                }
            }
            WebhooksCommand::Resend { id, merchant, json } => {
                let view = gateway
                    .resend_webhook(merchant.as_deref(), &id)
                    .await
                    .map_err(service_error)?;
                if json {
                    writeln!(out, "{}", serde_json::to_string(&view)?)?;
                } else {
                    writeln!(out, "queued {} again for {}", view.id, view.url)?;
                }
            }
        }
        Ok(())
    }
}

/// `openimp merchant set-webhook`.
pub async fn set_webhook(
    data: &DataOptions,
    merchant: &str,
    url: Option<&str>,
    format: &str,
) -> anyhow::Result<()> {
    let gateway = gateway(data).await?;
    let url = url.map(str::trim).filter(|u| !u.is_empty());
    gateway.set_webhook_endpoint(merchant, url, format).await.map_err(service_error)?;
    match url {
        Some(url) => println!("webhook URL of {merchant}: {url} ({format})"),
        None => println!("webhook URL of {merchant} cleared ({format})"),
    }
    Ok(())
}

/// `openimp merchant webhook-secret`: prints the whsec_ signing secret (created on first use).
pub async fn print_secret(data: &DataOptions, merchant: &str) -> anyhow::Result<()> {
    let gateway = gateway(data).await?;
    let secret = gateway.webhook_secret(merchant).await.map_err(service_error)?;
    println!("{secret}");
    Ok(())
}
