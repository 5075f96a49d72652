//! Administration commands: merchants, channels, the sandbox ledger, the vault, migrations.
//! They work while a server runs on the same database.

use std::io::Write;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{bail, Context};
use clap::{Args, Subcommand};
use openimp_service::merchants::{MerchantCredentials, NewMerchant};
use openimp_service::{Gateway, GatewayConfig};
use openimp_vault::{Aad, Vault};

use crate::config::DataOptions;
use crate::datalock::{DataLock, LockMode};
use crate::secret::SecretSource;

/// A gateway for one administration command, with the shared master-key lock it holds while
/// it runs (so `vault rotate` cannot retire the key under it).
pub(super) async fn gateway(data: &DataOptions) -> anyhow::Result<(Gateway, DataLock)> {
    let lock = data.lock(LockMode::Shared).await?;
    let vault = data.open_vault()?;
    let db = data.open_db().await?;
    let pg_timeout = Duration::from_secs(30);
    let options = crate::connectors::ConnectorOptions { sandbox_delay: Duration::ZERO, pg_timeout };
    let pgs = crate::connectors::connectors(data, &db, options).await?;
    let gateway = Gateway::new(
        db,
        vault,
        pgs.connectors,
        GatewayConfig {
            pg_timeout,
            reconcile_after: Duration::from_secs(60),
            crash_after_pg_call: false,
            window_session_ttl_secs: openimp_service::window::SESSION_TTL_SECS,
            window_sessions_per_merchant: openimp_service::window::OPEN_SESSIONS_PER_MERCHANT,
        },
    );
    Ok((gateway, lock))
}

pub(super) fn service_error(err: openimp_core::ApiError) -> anyhow::Error {
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
        /// Accept a loopback, private or other special-purpose address (the servers need
        /// --allow-private-webhooks too, or they refuse to deliver there).
        #[arg(long, env = "OPENIMP_ALLOW_PRIVATE_WEBHOOKS", action = clap::ArgAction::SetTrue, value_parser = clap::builder::BoolishValueParser::new())]
        allow_private_webhooks: bool,
    },
    /// Issue a new REST API secret (printed once) and revoke all the merchant's access tokens;
    /// the old secret stops working at once, old tokens within a second on every node.
    RotateSecret {
        #[arg(long)]
        merchant: String,
        /// Print exactly one JSON object.
        #[arg(long)]
        json: bool,
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
    #[arg(long)]
    imp_key: Option<String>,
    /// Keep the REST API secret your servers already use (stored only as a hash).
    #[arg(long, env = "OPENIMP_IMP_SECRET", requires = "imp_key", hide_env_values = true)]
    imp_secret: Option<String>,
    /// File holding --imp-secret (`-`: standard input).
    #[arg(long, env = "OPENIMP_IMP_SECRET_FILE", requires = "imp_key")]
    imp_secret_file: Option<PathBuf>,
    /// Print exactly one JSON object.
    #[arg(long)]
    json: bool,
}

impl MerchantCommand {
    pub async fn run(self, data: &DataOptions) -> anyhow::Result<()> {
        match self {
            MerchantCommand::SetWebhook { merchant, url, format, allow_private_webhooks } => {
                return super::webhooks::set_webhook(
                    data,
                    &merchant,
                    Some(&url),
                    &format,
                    allow_private_webhooks,
                )
                .await
            }
            MerchantCommand::WebhookSecret { merchant } => {
                return super::webhooks::print_secret(data, &merchant).await
            }
            _ => {}
        }
        let (gateway, _lock) = gateway(data).await?;
        match self {
            MerchantCommand::SetWebhook { .. } | MerchantCommand::WebhookSecret { .. } => {}
            MerchantCommand::RotateSecret { merchant, json } => {
                let credentials = gateway.rotate_secret(&merchant).await.map_err(service_error)?;
                print_credentials(&credentials, json, "new REST API secret");
            }
            MerchantCommand::Create(args) => {
                let imp_secret = SecretSource {
                    flag: "imp-secret",
                    value: args.imp_secret,
                    file: args.imp_secret_file,
                }
                .resolve()?;
                if args.imp_key.is_some() != imp_secret.is_some() {
                    bail!("--imp-key and --imp-secret (or --imp-secret-file) go together");
                }
                let credentials = gateway
                    .create_merchant(NewMerchant {
                        name: args.name,
                        imp_key: args.imp_key,
                        imp_secret,
                    })
                    .await
                    .map_err(service_error)?;
                print_credentials(&credentials, args.json, "REST API secret");
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

/// A merchant's credentials, shown once: the secret is stored only as a hash.
fn print_credentials(credentials: &MerchantCredentials, json: bool, secret_label: &str) {
    if json {
        let json = serde_json::json!({
            "imp_code": credentials.imp_code,
            "imp_key": credentials.imp_key,
            "imp_secret": credentials.imp_secret,
        });
        println!("{json}");
    } else {
        println!("merchant code (IMP.init): {}", credentials.imp_code);
        println!("REST API key:             {}", credentials.imp_key);
        println!("{:<26}{}", format!("{secret_label}:"), credentials.imp_secret);
        println!("(the secret is stored only as a hash: keep it now)");
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
                let entries = openimp_sandbox::ledger::list_ledger(&db).await?;
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
                let keys = openimp_sandbox::ledger::list_billing_keys(&db).await?;
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
                let (gateway, _lock) = gateway(data).await?;
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
        /// The new master key (hex or base64; or OPENIMP_NEW_MASTER_KEY, or
        /// --new-master-key-file); generated when absent. Required when the current key comes
        /// from OPENIMP_MASTER_KEY.
        #[arg(long, env = "OPENIMP_NEW_MASTER_KEY", hide_env_values = true)]
        new_master_key: Option<String>,
        #[arg(long, env = "OPENIMP_NEW_MASTER_KEY_FILE")]
        new_master_key_file: Option<PathBuf>,
    },
}

impl VaultCommand {
    pub async fn run(self, data: &DataOptions) -> anyhow::Result<()> {
        match self {
            VaultCommand::Rotate { new_master_key, new_master_key_file } => {
                let new_master_key = SecretSource {
                    flag: "new-master-key",
                    value: new_master_key,
                    file: new_master_key_file,
                }
                .resolve()?;
                rotate(data, new_master_key).await
            }
        }
    }
}

/// Rotation holds the master-key lock exclusively, so no server or command uses the old key
/// meanwhile. It is restartable: the new key is durably in `master.key.new` before any row
/// changes, rows already under the new key are skipped, and the key files swap only at the end,
/// the old one kept as `master.key.<old id>.old`.
async fn rotate(data: &DataOptions, new_master_key: Option<String>) -> anyhow::Result<()> {
    let _exclusive = data.lock(LockMode::Exclusive).await?;
    let from_env = data.master_key.is_some();
    if from_env && new_master_key.is_none() {
        bail!("the master key comes from OPENIMP_MASTER_KEY: pass --new-master-key and update the variable afterwards");
    }
    let old = data.open_vault()?;
    let pending_file = data.data_dir.join("master.key.new");
    let pending = if pending_file.exists() {
        Some(Vault::from_key_file(&pending_file).context("cannot read master.key.new")?)
    } else {
        None
    };
    let new = match (&new_master_key, pending) {
        (Some(key), pending) => {
            let new = Vault::from_key_str(key).context("bad --new-master-key")?;
            if pending.as_ref().is_some_and(|p| p.key_id() != new.key_id()) {
                bail!("a rotation to another key did not finish (master.key.new): run `openimp vault rotate` without --new-master-key to finish it first");
            }
            new
        }
        (None, Some(pending)) => pending,
        (None, None) => Vault::generate(),
    };
    if !from_env && !pending_file.exists() {
        new.write_key_file(&pending_file)?;
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
    println!("re-wrapped {rotated} sealed values; master key is now {}", new.key_id());
    if !from_env {
        let kept = Vault::install_key_file(&data.data_dir, &pending_file, old.key_id())?;
        println!("the previous key is kept in {}", kept.display());
    }
    if from_env {
        println!("set OPENIMP_MASTER_KEY to the new key before starting the servers again");
    }
    Ok(())
}
