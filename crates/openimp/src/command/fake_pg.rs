//! `openimp fake-pg <pg> --listen ADDR`: a fake of a PG's server side on its own port, for the
//! end-to-end tests and for a merchant who wants to try a live channel offline (point the
//! channel's `--endpoint` at it). It referees every hash and signature as the PG does. Each
//! PG's fake lives in its connector crate; this only starts it.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{bail, Context};
use clap::{Args, Subcommand, ValueEnum};
use openimp_inicis::fake::{FakeOptions, Faults, MidKeys};

use crate::secret::SecretSource;

#[derive(Debug, Subcommand)]
pub enum FakePgCommand {
    /// KG Inicis: INIAPI, the INIStdPay PC window, INIpay Mobile and INILite.
    Inicis(InicisArgs),
    /// KICC EasyPay: the ep9 API and the auth page of its window.
    Kicc(KiccArgs),
}

/// Misbehaviours the fake starts with (also switched at run time with
/// `POST /__fake/faults {"timeout_after_commit": true, ...}`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum InicisFault {
    /// Commit approvals and cancels, then withhold the answer.
    TimeoutAfterCommit,
    /// Answer PC approvals with a wrong authSignature.
    WrongAuthSignature,
    /// Send the browser back with an approval URL outside KG Inicis's hosts.
    AuthUrlOutside,
}

#[derive(Debug, Args)]
pub struct InicisArgs {
    /// Address to listen on (keep it on loopback unless the browser runs elsewhere).
    #[arg(long, default_value = "127.0.0.1:9100")]
    listen: String,
    /// The base URL browsers and openimp reach the fake at, if not http://<listen>.
    #[arg(long)]
    public_url: Option<String>,
    /// A MID besides KG Inicis's public test MIDs:
    /// `MID:signKey:iniapiKey:iniapiIv[:mobileHashKey[:iniliteKey]]` (repeatable).
    #[arg(long = "mid", value_name = "SPEC")]
    mids: Vec<String>,
    /// Start with this fault on (repeatable).
    #[arg(long = "fault", value_enum)]
    faults: Vec<InicisFault>,
    /// Seconds a withheld answer is held before the connection is dropped.
    #[arg(long, default_value_t = 30)]
    hang_secs: u64,
}

impl FakePgCommand {
    pub async fn run(self) -> anyhow::Result<()> {
        match self {
            FakePgCommand::Inicis(args) => run_inicis(args).await,
            FakePgCommand::Kicc(args) => run_kicc(args).await,
        }
    }
}

fn parse_mid(spec: &str) -> anyhow::Result<MidKeys> {
    let parts: Vec<&str> = spec.split(':').collect();
    if !(4..=6).contains(&parts.len()) || parts.iter().take(4).any(|p| p.is_empty()) {
        anyhow::bail!(
            "--mid wants MID:signKey:iniapiKey:iniapiIv[:mobileHashKey[:iniliteKey]], got {} parts",
            parts.len()
        );
    }
    let optional = |i: usize| parts.get(i).filter(|p| !p.is_empty()).map(|p| (*p).to_owned());
    Ok(MidKeys {
        mid: parts[0].to_owned(),
        sign_key: parts[1].to_owned(),
        iniapi_key: parts[2].to_owned(),
        iniapi_iv: parts[3].to_owned(),
        mobile_hash_key: optional(4),
        inilite_key: optional(5),
    })
}

async fn run_inicis(args: InicisArgs) -> anyhow::Result<()> {
    let extra_mids = args.mids.iter().map(|spec| parse_mid(spec)).collect::<Result<_, _>>()?;
    let faults = Faults {
        timeout_after_commit: args.faults.contains(&InicisFault::TimeoutAfterCommit),
        wrong_auth_signature: args.faults.contains(&InicisFault::WrongAuthSignature),
        auth_url_outside: args.faults.contains(&InicisFault::AuthUrlOutside),
    };
    let listener = tokio::net::TcpListener::bind(&args.listen)
        .await
        .map_err(|err| anyhow::anyhow!("cannot listen on {}: {err}", args.listen))?;
    let address = listener.local_addr()?;
    // The line tests and scripts wait for.
    println!("fake KG Inicis listening on http://{address}");
    let options = FakeOptions {
        public_url: args.public_url,
        extra_mids,
        faults,
        hang: Duration::from_secs(args.hang_secs),
    };
    tokio::select! {
        served = openimp_inicis::fake::serve(listener, options) => Ok(served?),
        _ = tokio::signal::ctrl_c() => Ok(()),
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
    use openimp_kicc::fake::{self, FakeConfig};

    if !args.listen.ip().is_loopback() {
        bail!("the fake KICC listens on a loopback address only, not {}", args.listen);
    }
    let source =
        SecretSource { flag: "secret-key", value: args.secret_key, file: args.secret_key_file };
    let Some(secret_key) = source.resolve()? else {
        bail!("give the mall's --secret-key (or --secret-key-file)");
    };
    let mut config = FakeConfig::single(&args.mall_id, &secret_key);
    config.faults = kicc_faults(&args.fault, args.fault_times);
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

/// The fake KICC's starting faults: each `--fault` for `times` committed answers (all when
/// not given).
fn kicc_faults(faults: &[KiccFault], times: Option<u32>) -> openimp_kicc::fake::Faults {
    let times = times.unwrap_or(openimp_kicc::fake::ALWAYS);
    let count = |fault| if faults.contains(&fault) { times } else { 0 };
    openimp_kicc::fake::Faults {
        timeout_after_commit: count(KiccFault::TimeoutAfterCommit),
        wrong_msg_auth: count(KiccFault::WrongMsgAuth),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kicc_fault_flags() {
        let none = kicc_faults(&[], None);
        assert_eq!((none.timeout_after_commit, none.wrong_msg_auth), (0, 0));
        let always = kicc_faults(&[KiccFault::WrongMsgAuth], None);
        assert_eq!((always.timeout_after_commit, always.wrong_msg_auth), (0, u32::MAX));
        let both = kicc_faults(&[KiccFault::WrongMsgAuth, KiccFault::TimeoutAfterCommit], Some(2));
        assert_eq!((both.timeout_after_commit, both.wrong_msg_auth), (2, 2));
    }

    #[test]
    fn mid_specs() {
        let keys = parse_mid("MyMid:sign:0123456789abcdef:fedcba9876543210::lite").unwrap();
        assert_eq!(keys.mid, "MyMid");
        assert_eq!(keys.mobile_hash_key, None);
        assert_eq!(keys.inilite_key.as_deref(), Some("lite"));
        assert!(parse_mid("MyMid:sign:key").is_err());
        assert!(parse_mid("MyMid::key:iv").is_err());
    }
}
