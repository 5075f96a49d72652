//! Merchants and channels, as the CLI manages them.

use std::collections::BTreeMap;

use openimp_core::ids::{new_imp_code, random_hex};
use openimp_core::time::now;
use openimp_core::ApiError;
use openimp_store::merchants::{self, ChannelRow, MerchantRow};
use openimp_store::StoreError;
use openimp_vault::Aad;

use crate::{ApiResult, Gateway};

/// What a new merchant needs to call the API. The secret is shown once, then only its hash is kept.
#[derive(Debug, Clone)]
pub struct MerchantCredentials {
    pub imp_code: String,
    pub imp_key: String,
    pub imp_secret: String,
}

/// Input of [`Gateway::create_merchant`].
#[derive(Debug, Clone)]
pub struct NewMerchant {
    pub name: String,
    /// Keep the REST key and secret a merchant's servers already use with i'mport.
    pub imp_key: Option<String>,
    pub imp_secret: Option<String>,
}

/// Input of [`Gateway::add_channel`].
#[derive(Debug, Clone)]
pub struct NewChannel {
    pub pg_provider: String,
    pub mid: String,
    pub test_mode: bool,
    pub is_default: bool,
    pub keyed_billing: bool,
    /// PG secrets: signKey, iniapi_key, iniapi_iv, merchant_key, kicc_secret_key, ...
    pub secrets: BTreeMap<String, String>,
}

/// A channel as the CLI lists it: secrets only by name and a masked hint.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ChannelSummary {
    pub id: String,
    pub pg_provider: String,
    pub mid: String,
    pub test_mode: bool,
    pub is_default: bool,
    pub keyed_billing: bool,
    /// What a request's `channelKey` names to pick this channel.
    pub channel_key: String,
    /// Secret name → first two characters and stars (never the whole value).
    pub secrets: BTreeMap<String, String>,
}

/// The PG providers a channel may name.
pub const KNOWN_PROVIDERS: &[&str] = &["html5_inicis", "inicis", "kicc"];

fn channel_aad<'a>(merchant_id: &'a str, channel_id: &'a str) -> Aad<'a> {
    Aad { purpose: "channel_secrets", merchant_id, subject: channel_id }
}

impl Gateway {
    /// Creates a merchant with the two sandbox channels every new merchant starts with.
    pub async fn create_merchant(&self, new: NewMerchant) -> ApiResult<MerchantCredentials> {
        let name = new.name.trim();
        if name.is_empty() {
            return Err(ApiError::invalid("merchant name must not be empty"));
        }
        let (imp_key, imp_secret) = match (new.imp_key, new.imp_secret) {
            (Some(key), Some(secret)) if !key.trim().is_empty() && secret.len() >= 8 => (key.trim().to_owned(), secret),
            (None, None) => (random_digits(16), crate::auth::new_secret()),
            _ => {
                return Err(ApiError::invalid(
                    "--imp-key and --imp-secret go together, and the secret needs at least 8 characters",
                ))
            }
        };
        let now = now();
        for _ in 0..5 {
            let imp_code = new_imp_code();
            let salt = random_hex(16);
            let merchant = MerchantRow {
                imp_code: imp_code.clone(),
                name: name.to_owned(),
                imp_key: imp_key.clone(),
                secret_hash: crate::auth::hash_secret(&salt, &imp_secret),
                secret_salt: salt,
                webhook_url: None,
                webhook_format: "json".to_owned(),
                created_at: now,
            };
            let channels = [
                sandbox_channel(&imp_code, "html5_inicis", "INIBillTst", true, now),
                sandbox_channel(&imp_code, "kicc", "T5102001", false, now),
            ];
            match merchants::insert(&self.db, &merchant, &channels).await {
                Ok(()) => return Ok(MerchantCredentials { imp_code, imp_key, imp_secret }),
                Err(StoreError::Conflict(detail)) if detail.contains("imp_key") => {
                    return Err(ApiError::invalid("a merchant with this imp_key already exists"))
                }
                // An imp_code collision: draw another.
                Err(StoreError::Conflict(_)) => continue,
                Err(err) => return Err(err.into()),
            }
        }
        Err(ApiError::internal("could not allocate a merchant code"))
    }

    pub async fn add_channel(
        &self,
        merchant_id: &str,
        new: NewChannel,
    ) -> ApiResult<ChannelSummary> {
        self.require_merchant(merchant_id).await?;
        let provider = new.pg_provider.trim().to_owned();
        if !KNOWN_PROVIDERS.contains(&provider.as_str()) {
            return Err(ApiError::invalid(format!(
                "unknown PG provider {provider:?} (known: {})",
                KNOWN_PROVIDERS.join(", ")
            )));
        }
        if new.mid.trim().is_empty() {
            return Err(ApiError::invalid("the MID must not be empty"));
        }
        let id = format!("ch_{}", random_hex(8));
        let secrets_sealed = if new.secrets.is_empty() {
            None
        } else {
            let json = serde_json::to_string(&new.secrets).map_err(ApiError::internal)?;
            Some(
                self.vault
                    .seal_str(&json, &channel_aad(merchant_id, &id))
                    .map_err(ApiError::internal)?,
            )
        };
        let row = ChannelRow {
            id,
            merchant_id: merchant_id.to_owned(),
            pg_provider: provider,
            mid: new.mid.trim().to_owned(),
            test_mode: new.test_mode,
            is_default: new.is_default,
            keyed_billing: new.keyed_billing,
            secrets_sealed,
            created_at: now(),
            channel_key: crate::channels::new_channel_key(),
        };
        match merchants::add_channel(&self.db, &row).await {
            Ok(()) => self.summarize_channel(&row),
            Err(StoreError::Conflict(_)) => Err(ApiError::invalid(
                "this merchant already has a channel for that PG provider and MID",
            )),
            Err(err) => Err(err.into()),
        }
    }

    pub async fn list_channels(&self, merchant_id: &str) -> ApiResult<Vec<ChannelSummary>> {
        self.require_merchant(merchant_id).await?;
        let rows = merchants::list_channels(&self.db, merchant_id).await?;
        rows.iter().map(|row| self.summarize_channel(row)).collect()
    }

    pub async fn remove_channel(
        &self,
        merchant_id: &str,
        pg_provider: &str,
        mid: &str,
    ) -> ApiResult<()> {
        self.require_merchant(merchant_id).await?;
        if merchants::remove_channel(&self.db, merchant_id, pg_provider, mid).await? {
            Ok(())
        } else {
            Err(ApiError::not_found(format!(
                "no channel {pg_provider}.{mid} for merchant {merchant_id}"
            )))
        }
    }

    /// Opens a channel's PG secrets, for the duration of a PG call.
    pub(crate) fn channel_secrets(
        &self,
        channel: &ChannelRow,
    ) -> ApiResult<BTreeMap<String, String>> {
        match &channel.secrets_sealed {
            None => Ok(BTreeMap::new()),
            Some(sealed) => {
                let json = self
                    .vault
                    .open_str(sealed, &channel_aad(&channel.merchant_id, &channel.id))
                    .map_err(ApiError::internal)?;
                serde_json::from_str(&json).map_err(ApiError::internal)
            }
        }
    }

    fn summarize_channel(&self, row: &ChannelRow) -> ApiResult<ChannelSummary> {
        let secrets = self
            .channel_secrets(row)?
            .into_iter()
            .map(|(name, value)| {
                let hint: String = value.chars().take(2).collect();
                (name, format!("{hint}******"))
            })
            .collect();
        Ok(ChannelSummary {
            id: row.id.clone(),
            pg_provider: row.pg_provider.clone(),
            mid: row.mid.clone(),
            test_mode: row.test_mode,
            is_default: row.is_default,
            keyed_billing: row.keyed_billing,
            channel_key: row.channel_key.clone(),
            secrets,
        })
    }

    async fn require_merchant(&self, merchant_id: &str) -> ApiResult<()> {
        match merchants::get(&self.db, merchant_id).await? {
            Some(_) => Ok(()),
            None => Err(ApiError::not_found(format!("no merchant {merchant_id}"))),
        }
    }
}

fn sandbox_channel(
    merchant_id: &str,
    provider: &str,
    mid: &str,
    is_default: bool,
    now: i64,
) -> ChannelRow {
    ChannelRow {
        id: format!("ch_{}", random_hex(8)),
        merchant_id: merchant_id.to_owned(),
        pg_provider: provider.to_owned(),
        mid: mid.to_owned(),
        test_mode: true,
        is_default,
        keyed_billing: true,
        secrets_sealed: None,
        created_at: now,
        channel_key: crate::channels::new_channel_key(),
    }
}

fn random_digits(n: usize) -> String {
    use rand::Rng;
    let mut rng = rand::thread_rng();
    (0..n).map(|_| char::from(b'0' + rng.gen_range(0..10u8))).collect()
}
