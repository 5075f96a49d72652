//! The command tree. Each subcommand lives in its own module with a `run`.

mod admin;
mod channel;
mod fake_pg;
mod serve;
mod users;
mod webhooks;
mod worker;

use clap::{Parser, Subcommand};

use crate::config::DataOptions;

/// Self-hosted payment gateway speaking the i'mport (PortOne V1) API.
#[derive(Debug, Parser)]
#[command(name = "openimp", version, about)]
pub struct Cli {
    #[command(flatten)]
    data: DataOptions,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the API server (with its reconciler).
    Serve(serve::ServeArgs),
    /// Apply the database migrations and exit.
    Migrate,
    /// Manage merchants.
    #[command(subcommand)]
    Merchant(admin::MerchantCommand),
    /// Manage a merchant's PG channels.
    #[command(subcommand)]
    Channel(channel::ChannelCommand),
    /// Inspect the sandbox PG.
    #[command(subcommand)]
    Sandbox(admin::SandboxCommand),
    /// Manage the card vault's master key.
    #[command(subcommand)]
    Vault(admin::VaultCommand),
    /// Run the background worker alone: due schedules, webhook deliveries, the reconciler.
    Worker(worker::WorkerArgs),
    /// Webhook deliveries: list them with their attempts, resend one.
    #[command(subcommand)]
    Webhooks(webhooks::WebhooksCommand),
    /// Run a fake of a PG's server side (tests, trying a live channel offline).
    #[command(subcommand)]
    FakePg(fake_pg::FakePgCommand),
    /// Console users (the web console at /console).
    #[command(subcommand)]
    User(users::UserCommand),
}

impl Cli {
    pub async fn run(self) -> anyhow::Result<()> {
        let data = self.data.prepare()?;
        match self.command {
            Command::Serve(args) => serve::run(&data, args).await,
            Command::Migrate => admin::migrate(&data).await,
            Command::Merchant(command) => command.run(&data).await,
            Command::Channel(command) => command.run(&data).await,
            Command::Sandbox(command) => command.run(&data).await,
            Command::Vault(command) => command.run(&data).await,
            Command::Worker(args) => worker::run(&data, args).await,
            Command::Webhooks(command) => command.run(&data).await,
            Command::FakePg(command) => command.run().await,
            Command::User(command) => command.run(&data).await,
        }
    }
}
