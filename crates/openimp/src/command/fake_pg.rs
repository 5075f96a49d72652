//! `openimp fake-pg <pg> --listen ADDR`: a fake of a PG's server side on its own port, for the
//! end-to-end tests and for a merchant who wants to try a live channel offline (point the
//! channel's `--endpoint` at it). It referees every hash and signature as the PG does.

use std::time::Duration;

use clap::{Args, Subcommand, ValueEnum};
use openimp_inicis::fake::{FakeOptions, Faults, MidKeys};

#[derive(Debug, Subcommand)]
pub enum FakePgCommand {
    /// KG Inicis: INIAPI, the INIStdPay PC window, INIpay Mobile and INILite.
    Inicis(InicisArgs),
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

#[cfg(test)]
mod tests {
    use super::*;

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
