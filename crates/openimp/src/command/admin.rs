//! Administration commands: merchants, channels, the sandbox ledger, the vault, migrations.
//! They work while a server runs on the same database.

use std::collections::BTreeMap;
use std::io::Write;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context};
use clap::{Args, Subcommand};
use openimp_pg::sandbox::SandboxPg;
use openimp_service::merchants::{NewChannel, NewMerchant};
use openimp_service::{Gateway, GatewayConfig};
use openimp_vault::{Aad, Vault};

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

pub async fn migrate(data: &DataOptions) -> anyhow::Result<()> {
    data.open_db().await?;
    println!("migrations applied");
    Ok(())
}

#[derive(Debug, Subcommand)]
pub enum MerchantCommand {
    /// Add a merchant, with the two sandbox channels every merchant starts with.
    Create(MerchantCreate),
    /// List merchants.
    List {
        #[arg(long)]
        json: bool,
    },
    /// Set (or, with an empty --url, clear) the merchant's webhook URL and body format.
    SetWebhook {
        #[arg(long)]
        merchant: String,
        #[arg(long)]
        url: String,
        /// json or form (application/x-www-form-urlencoded).
        #[arg(long, default_value = "json", value_parser = ["json", "form"])]
        format: String,
    },
    /// Print the merchant's whsec_ webhook signing secret (created on first use).
    WebhookSecret {
        #[arg(long)]
        merchant: String,
    },
}

#[derive(Debug, Args)]
pub struct MerchantCreate {
    #[arg(long)]
    name: String,
    /// Keep the REST API key your servers already use with i'mport.
    #[arg(long, requires = "imp_secret")]
    imp_key: Option<String>,
    /// Keep the REST API secret your servers already use (stored only as a hash).
    #[arg(long, requires = "imp_key", hide_env_values = true)]
    imp_secret: Option<String>,
    /// Print exactly one JSON object.
    #[arg(long)]
    json: bool,
}

impl MerchantCommand {
    pub async fn run(self, data: &DataOptions) -> anyhow::Result<()> {
        match self {
            MerchantCommand::SetWebhook { merchant, url, format } => {
                return super::webhooks::set_webhook(data, &merchant, Some(&url), &format).await
            }
            MerchantCommand::WebhookSecret { merchant } => {
                return super::webhooks::print_secret(data, &merchant).await
            }
            _ => {}
        }
        let gateway = gateway(data).await?;
        match self {
            MerchantCommand::SetWebhook { .. } | MerchantCommand::WebhookSecret { .. } => {}
            MerchantCommand::Create(args) => {
                let credentials = gateway
                    .create_merchant(NewMerchant {
                        name: args.name,
                        imp_key: args.imp_key,
                        imp_secret: args.imp_secret,
                    })
                    .await
                    .map_err(service_error)?;
                if args.json {
                    let json = serde_json::json!({
                        "imp_code": credentials.imp_code,
                        "imp_key": credentials.imp_key,
                        "imp_secret": credentials.imp_secret,
                    });
                    println!("{json}");
                } else {
                    println!("merchant code (IMP.init): {}", credentials.imp_code);
                    println!("REST API key:             {}", credentials.imp_key);
                    println!("REST API secret:          {}", credentials.imp_secret);
                    println!("(the secret is stored only as a hash: keep it now)");
                }
            }
            MerchantCommand::List { json } => {
                let merchants = openimp_store::merchants::list(&gateway.db).await?;
                if json {
                    let list: Vec<_> = merchants
                        .iter()
                        .map(|m| serde_json::json!({"imp_code": m.imp_code, "name": m.name, "imp_key": m.imp_key, "created_at": m.created_at}))
                        .collect();
                    println!("{}", serde_json::Value::Array(list));
                } else {
                    for m in merchants {
                        println!("{}\t{}\t{}", m.imp_code, m.imp_key, m.name);
                    }
                }
            }
        }
        Ok(())
    }
}

#[derive(Debug, Subcommand)]
pub enum ChannelCommand {
    /// Add a PG channel (MID) to a merchant.
    Add(ChannelAdd),
    /// List a merchant's channels with their channel keys (secrets masked).
    List {
        #[arg(long)]
        merchant: String,
        #[arg(long)]
        json: bool,
    },
    /// Remove a channel.
    Remove {
        #[arg(long)]
        merchant: String,
        #[arg(long)]
        pg_provider: String,
        #[arg(long)]
        mid: String,
    },
}

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
    /// Test mode: the sandbox PG answers for this channel.
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
    test_mode: bool,
    /// Make this the merchant's default channel.
    #[arg(long)]
    default: bool,
    /// Refuse REST billing-key issue and keyed charges (a window-only billing contract).
    #[arg(long)]
    no_keyed_billing: bool,
    /// KG Inicis web-standard signKey.
    #[arg(long)]
    sign_key: Option<String>,
    /// KG Inicis INIAPI key.
    #[arg(long)]
    iniapi_key: Option<String>,
    /// KG Inicis INIAPI IV.
    #[arg(long)]
    iniapi_iv: Option<String>,
    /// KG Inicis billing merchantKey.
    #[arg(long)]
    merchant_key: Option<String>,
    /// KICC secret key.
    #[arg(long)]
    kicc_secret_key: Option<String>,
}

impl ChannelCommand {
    pub async fn run(self, data: &DataOptions) -> anyhow::Result<()> {
        let gateway = gateway(data).await?;
        match self {
            ChannelCommand::Add(args) => {
                let mut secrets = BTreeMap::new();
                for (name, value) in [
                    ("sign_key", args.sign_key),
                    ("iniapi_key", args.iniapi_key),
                    ("iniapi_iv", args.iniapi_iv),
                    ("merchant_key", args.merchant_key),
                    ("kicc_secret_key", args.kicc_secret_key),
                ] {
                    if let Some(value) = value {
                        secrets.insert(name.to_owned(), value);
                    }
                }
                let summary = gateway
                    .add_channel(
                        &args.merchant,
                        NewChannel {
                            pg_provider: args.pg_provider,
                            mid: args.mid,
                            test_mode: args.test_mode,
                            is_default: args.default,
                            keyed_billing: !args.no_keyed_billing,
                            secrets,
                        },
                    )
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
                            "{}.{}\t{}\t{}{}{}",
                            c.pg_provider,
                            c.mid,
                            c.channel_key,
                            if c.test_mode { "test" } else { "live" },
                            if c.is_default { "\tdefault" } else { "" },
                            if c.keyed_billing { "" } else { "\twindow-only" }
                        );
                    }
                }
            }
            ChannelCommand::Remove { merchant, pg_provider, mid } => {
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

#[derive(Debug, Subcommand)]
pub enum SandboxCommand {
    /// Every approval and cancel the sandbox PG recorded, oldest first.
    Ledger {
        #[arg(long)]
        json: bool,
    },
    /// Every billing key the sandbox PG issued (masked card, MID, deleted or not), oldest first.
    Keys {
        #[arg(long)]
        json: bool,
    },
    /// Simulate the customer's deposit into an issued virtual account (pay_method vbank,
    /// status ready): the payment becomes paid and a `paid` webhook is queued.
    Deposit {
        /// The payment's imp_uid.
        imp_uid: String,
        #[arg(long)]
        json: bool,
    },
}

impl SandboxCommand {
    pub async fn run(self, data: &DataOptions) -> anyhow::Result<()> {
        match self {
            SandboxCommand::Ledger { json } => {
                let main = data.open_db().await?;
                let db = data.open_sandbox_db(&main).await?;
                let entries = openimp_store::sandbox::list_ledger(&db).await?;
                let mut out = std::io::stdout().lock();
                if json {
                    writeln!(out, "{}", serde_json::to_string(&entries)?)?;
                } else {
                    for e in entries {
                        writeln!(
                            out,
                            "{}\t{}\t{}\t{}\t{}\t{}",
                            e.created_at, e.kind, e.mid, e.order_id, e.amount, e.tid
                        )?;
                    }
                }
            }
            SandboxCommand::Keys { json } => {
                let main = data.open_db().await?;
                let db = data.open_sandbox_db(&main).await?;
                let keys = openimp_store::sandbox::list_billing_keys(&db).await?;
                // The PG's key itself is never printed: the card and dates identify it.
                let keys: Vec<serde_json::Value> = keys
                    .into_iter()
                    .map(|k| {
                        serde_json::json!({
                            "mid": k.mid,
                            "card_name": k.card_name,
                            "card_number": k.card_number,
                            "created_at": k.created_at,
                            "deleted_at": k.deleted_at,
                        })
                    })
                    .collect();
                let mut out = std::io::stdout().lock();
                if json {
                    writeln!(out, "{}", serde_json::to_string(&keys)?)?;
                } else {
                    for k in keys {
                        writeln!(
                            out,
                            "{}\t{}\t{}\t{}",
                            k["created_at"], k["mid"], k["card_number"], k["deleted_at"]
                        )?;
                    }
                }
            }
            SandboxCommand::Deposit { imp_uid, json } => {
                let gateway = gateway(data).await?;
                let payment =
                    gateway.sandbox_deposit(None, &imp_uid).await.map_err(service_error)?;
                if json {
                    println!("{}", serde_json::to_string(&payment)?);
                } else {
                    println!(
                        "deposited {} won into {} {} ({}): {} is {}",
                        payment.amount,
                        payment.vbank_name.as_deref().unwrap_or("-"),
                        payment.vbank_num.as_deref().unwrap_or("-"),
                        payment.merchant_uid,
                        payment.imp_uid,
                        payment.status
                    );
                }
            }
        }
        Ok(())
    }
}

#[derive(Debug, Subcommand)]
pub enum VaultCommand {
    /// Re-wrap every data key under a new master key. Stop the servers first: they hold the
    /// old key in memory.
    Rotate {
        /// The new master key (hex or base64); generated when absent. Required when the
        /// current key comes from OPENIMP_MASTER_KEY.
        #[arg(long, hide_env_values = true)]
        new_master_key: Option<String>,
    },
}

impl VaultCommand {
    pub async fn run(self, data: &DataOptions) -> anyhow::Result<()> {
        match self {
            VaultCommand::Rotate { new_master_key } => rotate(data, new_master_key).await,
        }
    }
}

/// Rotation is restartable: the new key is written to `master.key.new` before any row changes,
/// rows already under the new key are skipped, and the key files swap only at the end.
async fn rotate(data: &DataOptions, new_master_key: Option<String>) -> anyhow::Result<()> {
    let from_env = data.master_key.is_some();
    if from_env && new_master_key.is_none() {
        bail!("the master key comes from OPENIMP_MASTER_KEY: pass --new-master-key and update the variable afterwards");
    }
    let old = data.open_vault()?;
    let pending_file = data.data_dir.join("master.key.new");
    let new = match (&new_master_key, pending_file.exists()) {
        (Some(key), _) => Vault::from_key_str(key).context("bad --new-master-key")?,
        (None, true) => {
            Vault::from_key_file(&pending_file).context("cannot read master.key.new")?
        }
        (None, false) => Vault::generate(),
    };
    if !from_env {
        std::fs::write(&pending_file, new.master_key_hex().as_bytes())?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&pending_file, std::fs::Permissions::from_mode(0o600))?;
        }
    }
    let db = data.open_db().await?;
    let mut rotated = 0usize;
    let needs = |sealed: &str| Vault::sealed_key_id(sealed) != Some(new.key_id());
    for (merchant_id, customer_uid, sealed) in openimp_store::customers::list_sealed(&db).await? {
        if needs(&sealed) {
            let aad =
                Aad { purpose: "billing_key", merchant_id: &merchant_id, subject: &customer_uid };
            let rewrapped = old.rewrap(&sealed, &aad, &new)?;
            openimp_store::customers::set_sealed(&db, &merchant_id, &customer_uid, &rewrapped)
                .await?;
            rotated += 1;
        }
    }
    for channel in openimp_store::merchants::list_all_channels(&db).await? {
        if let Some(sealed) = channel.secrets_sealed.as_deref().filter(|s| needs(s)) {
            let aad = Aad {
                purpose: "channel_secrets",
                merchant_id: &channel.merchant_id,
                subject: &channel.id,
            };
            let rewrapped = old.rewrap(sealed, &aad, &new)?;
            openimp_store::merchants::set_channel_secrets(&db, &channel.id, &rewrapped).await?;
            rotated += 1;
        }
    }
    for (token_hash, merchant_id, sealed) in openimp_store::tokens::list_all(&db).await? {
        if needs(&sealed) {
            let aad = Aad { purpose: "access_token", merchant_id: &merchant_id, subject: "" };
            let rewrapped = old.rewrap(&sealed, &aad, &new)?;
            openimp_store::tokens::set_sealed(&db, &token_hash, &rewrapped).await?;
            rotated += 1;
        }
    }
    for (merchant_id, sealed) in openimp_store::webhooks::list_sealed_secrets(&db).await? {
        if needs(&sealed) {
            let aad = Aad { purpose: "webhook_secret", merchant_id: &merchant_id, subject: "" };
            let rewrapped = old.rewrap(&sealed, &aad, &new)?;
            openimp_store::webhooks::set_sealed_secret(&db, &merchant_id, &rewrapped).await?;
            rotated += 1;
        }
    }
    if !from_env {
        std::fs::rename(&pending_file, data.key_file())?;
    }
    println!("re-wrapped {rotated} sealed values; master key is now {}", new.key_id());
    if from_env {
        println!("set OPENIMP_MASTER_KEY to the new key before starting the servers again");
    }
    Ok(())
}
