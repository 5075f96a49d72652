//! `openimp channel add | update | list | remove`: a merchant's PG channels, seed 002's console
//! steps as commands. `add` and `update` take the same options and call the same service
//! settings ([`ChannelSettings`]) the web console uses; both print the channel as JSON with its
//! secrets masked.

use std::collections::BTreeMap;
use std::path::PathBuf;

use anyhow::bail;
use clap::{Args, Subcommand};
use openimp_service::merchants::{ChannelSettings, NewChannel};

use super::admin::{gateway, service_error};
use crate::config::DataOptions;
use crate::secret::SecretSource;

#[derive(Debug, Subcommand)]
pub enum ChannelCommand {
    /// Add a PG channel (MID) to a merchant (test mode unless --test-mode false).
    Add(Box<ChannelAdd>),
    /// Change a channel in place: its mode, endpoint, default flag, keyed-billing contract
    /// and secrets (the options not given keep their values).
    Update(Box<ChannelAdd>),
    /// List a merchant's channels with their channel keys (secrets masked).
    List {
        #[arg(long)]
        merchant: String,
        #[arg(long)]
        json: bool,
    },
    /// Remove a channel: it is no longer picked or listed, its payments can still be looked
    /// up, cancelled and reconciled, and its billing keys are refused.
    Remove {
        #[arg(long)]
        merchant: String,
        #[arg(long)]
        pg_provider: String,
        #[arg(long)]
        mid: String,
    },
}

/// The channel and its settings: the options of both `add` and `update`.
#[derive(Debug, Args)]
pub struct ChannelAdd {
    /// The merchant code (imp + 8 digits).
    #[arg(long)]
    merchant: String,
    /// html5_inicis, inicis or kicc.
    #[arg(long)]
    pg_provider: String,
    /// The PG merchant id (상점아이디).
    #[arg(long)]
    mid: String,
    /// Test mode: the sandbox PG answers for this channel (true on add unless given); false:
    /// the PG itself answers, at its production hosts unless --endpoint is set.
    #[arg(long, action = clap::ArgAction::Set)]
    test_mode: Option<bool>,
    /// One http(s) base URL replacing every host of the PG for this channel, the PG's paths
    /// kept (its staging hosts, a local fake); an empty value clears it.
    #[arg(long)]
    endpoint: Option<String>,
    /// Make this the merchant's default channel.
    #[arg(long)]
    default: bool,
    /// The merchant has the PG's keyed-billing (비인증) contract: REST billing-key issue and
    /// keyed charges are allowed (true on add unless given).
    #[arg(long, action = clap::ArgAction::Set, conflicts_with = "no_keyed_billing")]
    keyed_billing: Option<bool>,
    /// The same as --keyed-billing false (a window-only billing contract).
    #[arg(long)]
    no_keyed_billing: bool,
    /// KG Inicis web-standard signKey (or OPENIMP_SIGN_KEY, or --sign-key-file).
    #[arg(long, env = "OPENIMP_SIGN_KEY", hide_env_values = true)]
    sign_key: Option<String>,
    #[arg(long, env = "OPENIMP_SIGN_KEY_FILE")]
    sign_key_file: Option<PathBuf>,
    /// KG Inicis INIAPI key (or OPENIMP_INIAPI_KEY, or --iniapi-key-file).
    #[arg(long, env = "OPENIMP_INIAPI_KEY", hide_env_values = true)]
    iniapi_key: Option<String>,
    #[arg(long, env = "OPENIMP_INIAPI_KEY_FILE")]
    iniapi_key_file: Option<PathBuf>,
    /// KG Inicis INIAPI IV (or OPENIMP_INIAPI_IV, or --iniapi-iv-file).
    #[arg(long, env = "OPENIMP_INIAPI_IV", hide_env_values = true)]
    iniapi_iv: Option<String>,
    #[arg(long, env = "OPENIMP_INIAPI_IV_FILE")]
    iniapi_iv_file: Option<PathBuf>,
    /// KG Inicis billing merchantKey (or OPENIMP_MERCHANT_KEY, or --merchant-key-file).
    #[arg(long, env = "OPENIMP_MERCHANT_KEY", hide_env_values = true)]
    merchant_key: Option<String>,
    #[arg(long, env = "OPENIMP_MERCHANT_KEY_FILE")]
    merchant_key_file: Option<PathBuf>,
    /// KICC secret key (or OPENIMP_KICC_SECRET_KEY, or --kicc-secret-key-file).
    #[arg(long, env = "OPENIMP_KICC_SECRET_KEY", hide_env_values = true)]
    kicc_secret_key: Option<String>,
    #[arg(long, env = "OPENIMP_KICC_SECRET_KEY_FILE")]
    kicc_secret_key_file: Option<PathBuf>,
}

impl ChannelAdd {
    /// The settings the options give (secrets read from their flag, variable or file).
    fn settings(self) -> anyhow::Result<(String, NewChannel)> {
        let mut secrets = BTreeMap::new();
        for (name, value, file) in [
            ("sign_key", self.sign_key, self.sign_key_file),
            ("iniapi_key", self.iniapi_key, self.iniapi_key_file),
            ("iniapi_iv", self.iniapi_iv, self.iniapi_iv_file),
            ("merchant_key", self.merchant_key, self.merchant_key_file),
            ("kicc_secret_key", self.kicc_secret_key, self.kicc_secret_key_file),
        ] {
            let flag = name.replace('_', "-");
            if let Some(value) = (SecretSource { flag: &flag, value, file }).resolve()? {
                secrets.insert(name.to_owned(), value);
            }
        }
        let keyed_billing = if self.no_keyed_billing { Some(false) } else { self.keyed_billing };
        let settings = ChannelSettings {
            test_mode: self.test_mode,
            is_default: self.default.then_some(true),
            keyed_billing,
            endpoint: self.endpoint,
            secrets,
        };
        Ok((self.merchant, NewChannel { pg_provider: self.pg_provider, mid: self.mid, settings }))
    }
}

impl ChannelCommand {
    pub async fn run(self, data: &DataOptions) -> anyhow::Result<()> {
        let (gateway, _lock) = gateway(data).await?;
        match self {
            ChannelCommand::Add(args) => {
                let (merchant, new) = args.settings()?;
                let summary = gateway.add_channel(&merchant, new).await.map_err(service_error)?;
                println!("{}", serde_json::to_string(&summary)?);
            }
            ChannelCommand::Update(args) => {
                let (merchant, new) = args.settings()?;
                let summary = gateway
                    .update_channel(&merchant, &new.pg_provider, &new.mid, new.settings)
                    .await
                    .map_err(service_error)?;
                println!("{}", serde_json::to_string(&summary)?);
            }
            ChannelCommand::List { merchant, json } => {
                let channels = gateway.list_channels(&merchant).await.map_err(service_error)?;
                if json {
                    println!("{}", serde_json::to_string(&channels)?);
                } else {
                    for c in channels {
                        println!(
                            "{}.{}\t{}\t{}{}{}{}",
                            c.pg_provider,
                            c.mid,
                            c.channel_key,
                            if c.test_mode { "test" } else { "live" },
                            c.endpoint.as_deref().map(|e| format!(" via {e}")).unwrap_or_default(),
                            if c.is_default { "\tdefault" } else { "" },
                            if c.keyed_billing { "" } else { "\twindow-only" }
                        );
                    }
                }
            }
            ChannelCommand::Remove { merchant, pg_provider, mid } => {
                if pg_provider.trim().is_empty() || mid.trim().is_empty() {
                    bail!("--pg-provider and --mid name the channel to remove");
                }
                gateway
                    .remove_channel(&merchant, &pg_provider, &mid)
                    .await
                    .map_err(service_error)?;
                println!("removed {pg_provider}.{mid}");
            }
        }
        Ok(())
    }
}
