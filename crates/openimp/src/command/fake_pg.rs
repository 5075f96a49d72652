//! `openimp fake-pg <pg>`: a fake of a PG's server side on this machine, for end-to-end tests
//! and demos of a live channel (`channel add --test-mode false --endpoint http://ADDR`) with no
//! network. Each PG's fake lives in its connector crate; this only starts it.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{bail, Context};
use clap::{Args, Subcommand, ValueEnum};

use crate::secret::SecretSource;

#[derive(Debug, Subcommand)]
pub enum FakePgCommand {
    /// A fake KICC EasyPay: the ep9 API and the auth page of its window.
    Kicc(KiccArgs),
}

impl FakePgCommand {
    pub async fn run(self) -> anyhow::Result<()> {
        match self {
            FakePgCommand::Kicc(args) => run_kicc(args).await,
        }
    }
}

/// A fault of the fake KICC's committed answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum KiccFault {
    /// Commit, then hold the answer back past the client's timeout.
    TimeoutAfterCommit,
    /// Answer with a msgAuthValue that is not the right one.
    WrongMsgAuth,
}

#[derive(Debug, Args)]
pub struct KiccArgs {
    /// Address to listen on (loopback only: a fake PG is never reachable from elsewhere).
    /// Port 0 picks a free port; the address is printed on standard output.
    #[arg(long, default_value = "127.0.0.1:0")]
    listen: SocketAddr,
    /// The mall id (the channel's MID) the fake accepts.
    #[arg(long, default_value = "T5102001")]
    mall_id: String,
    /// That mall's Secret Key (or OPENIMP_FAKE_KICC_SECRET_KEY, or --secret-key-file).
    #[arg(long, env = "OPENIMP_FAKE_KICC_SECRET_KEY", hide_env_values = true)]
    secret_key: Option<String>,
    #[arg(long, env = "OPENIMP_FAKE_KICC_SECRET_KEY_FILE")]
    secret_key_file: Option<PathBuf>,
    /// A fault applied to committed answers (repeat for both); see --fault-times.
    #[arg(long, value_enum)]
    fault: Vec<KiccFault>,
    /// How many committed answers each --fault affects (every one when not given).
    #[arg(long)]
    fault_times: Option<u32>,
    /// Seconds a held-back answer waits (longer than the client's 30 s timeout).
    #[arg(long, default_value_t = 60)]
    hang_secs: u64,
    /// The base URL browsers reach the fake at, for its auth pages (default http://ADDR).
    #[arg(long)]
    public_url: Option<String>,
}

async fn run_kicc(args: KiccArgs) -> anyhow::Result<()> {
    use openimp_kicc::fake::{self, FakeConfig, Faults, ALWAYS};

    if !args.listen.ip().is_loopback() {
        bail!("the fake KICC listens on a loopback address only, not {}", args.listen);
    }
    let source =
        SecretSource { flag: "secret-key", value: args.secret_key, file: args.secret_key_file };
    let Some(secret_key) = source.resolve()? else {
        bail!("give the mall's --secret-key (or --secret-key-file)");
    };
    let mut config = FakeConfig::single(&args.mall_id, &secret_key);
    let times = args.fault_times.unwrap_or(ALWAYS);
    config.faults = Faults {
        timeout_after_commit: if args.fault.contains(&KiccFault::TimeoutAfterCommit) {
            times
        } else {
            0
        },
        wrong_msg_auth: if args.fault.contains(&KiccFault::WrongMsgAuth) { times } else { 0 },
    };
    config.hang = Duration::from_secs(args.hang_secs);
    config.public_url = args.public_url;
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("cannot listen on {}", args.listen))?;
    let fake = fake::spawn(listener, config)?;
    println!("fake KICC listening on {}", fake.endpoint());
    tokio::signal::ctrl_c().await.context("waiting for Ctrl-C")?;
    Ok(())
}
