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

/// Input of [`Gateway::add_channel`]: which PG account, and its settings.
#[derive(Debug, Clone)]
pub struct NewChannel {
    pub pg_provider: String,
    pub mid: String,
    pub settings: ChannelSettings,
}

/// The settings of a channel, as `channel add` and `channel update` (and the web console) give
/// them: `None` keeps the current value on an update and takes the default on an add.
#[derive(Debug, Clone, Default)]
pub struct ChannelSettings {
    /// Test mode (the sandbox PG answers); default on.
    pub test_mode: Option<bool>,
    /// `Some(true)` makes it the merchant's default channel (the flag moves from the others).
    pub is_default: Option<bool>,
    /// The keyed-billing (비인증) contract; default on.
    pub keyed_billing: Option<bool>,
    /// An http(s) base URL replacing every host of the PG; `Some("")` clears it.
    pub endpoint: Option<String>,
    /// PG secrets by name ([`SECRET_NAMES`]): each given one is set, or removed when empty;
    /// the others are kept.
    pub secrets: BTreeMap<String, String>,
}

/// The PG secrets a channel may hold, by the names connectors read them under.
pub const SECRET_NAMES: &[&str] =
    &["sign_key", "iniapi_key", "iniapi_iv", "merchant_key", "kicc_secret_key"];

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
    /// The base URL replacing the PG's hosts, if any.
    pub endpoint: Option<String>,
    /// Secret name → first two characters and stars (never the whole value).
    pub secrets: BTreeMap<String, String>,
}

/// The PG providers a channel may name (besides any provider a live connector is registered
/// for in this build).
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

    /// Adds a channel. Adding a channel that was removed brings it back (the same row, so its
    /// old payments and keys find it again) with the settings given.
    pub async fn add_channel(
        &self,
        merchant_id: &str,
        new: NewChannel,
    ) -> ApiResult<ChannelSummary> {
        self.require_merchant(merchant_id).await?;
        let provider = new.pg_provider.trim().to_owned();
        let live = self.connectors.live_providers();
        if !KNOWN_PROVIDERS.contains(&provider.as_str()) && !live.contains(&provider.as_str()) {
            let mut known: Vec<&str> = KNOWN_PROVIDERS.to_vec();
            known.extend(live.iter().filter(|p| !KNOWN_PROVIDERS.contains(p)));
            return Err(ApiError::invalid(format!(
                "unknown PG provider {provider:?} (known: {})",
                known.join(", ")
            )));
        }
        let mid = new.mid.trim().to_owned();
        if mid.is_empty() {
            return Err(ApiError::invalid("the MID must not be empty"));
        }
        let existing = merchants::find_channel(&self.db, merchant_id, &provider, &mid).await?;
        if let Some(removed) = existing.filter(|c| c.removed_at != 0) {
            // Back from removal: fresh settings (defaults for what is not given), same row.
            let base = ChannelRow {
                test_mode: true,
                is_default: false,
                keyed_billing: true,
                secrets_sealed: None,
                endpoint: None,
                removed_at: 0,
                ..removed
            };
            let row = self.apply_settings(base, new.settings)?;
            merchants::update_channel(&self.db, &row).await?;
            return self.summarize_channel(&row);
        }
        let base = ChannelRow {
            id: format!("ch_{}", random_hex(8)),
            merchant_id: merchant_id.to_owned(),
            pg_provider: provider,
            mid,
            test_mode: true,
            is_default: false,
            keyed_billing: true,
            secrets_sealed: None,
            created_at: now(),
            channel_key: crate::channels::new_channel_key(),
            endpoint: None,
            removed_at: 0,
        };
        let row = self.apply_settings(base, new.settings)?;
        match merchants::add_channel(&self.db, &row).await {
            Ok(()) => self.summarize_channel(&row),
            Err(StoreError::Conflict(_)) => Err(ApiError::invalid(
                "this merchant already has a channel for that PG provider and MID (change it with `openimp channel update`)",
            )),
            Err(err) => Err(err.into()),
        }
    }

    /// Changes a channel in place (`openimp channel update`, the console): what `settings`
    /// gives replaces the current value, the rest is kept. Payments and billing keys keep
    /// pointing at the channel; a key issued in the other mode is refused when charged.
    pub async fn update_channel(
        &self,
        merchant_id: &str,
        pg_provider: &str,
        mid: &str,
        settings: ChannelSettings,
    ) -> ApiResult<ChannelSummary> {
        self.require_merchant(merchant_id).await?;
        let (pg_provider, mid) = (pg_provider.trim(), mid.trim());
        let current = merchants::find_channel(&self.db, merchant_id, pg_provider, mid)
            .await?
            .filter(|c| c.removed_at == 0)
            .ok_or_else(|| {
                ApiError::not_found(format!(
                    "no channel {pg_provider}.{mid} for merchant {merchant_id}"
                ))
            })?;
        let row = self.apply_settings(current, settings)?;
        if !merchants::update_channel(&self.db, &row).await? {
            return Err(ApiError::not_found(format!(
                "no channel {pg_provider}.{mid} for merchant {merchant_id}"
            )));
        }
        self.summarize_channel(&row)
    }

    /// `row` with `settings` applied: the endpoint checked, the secrets merged and sealed.
    fn apply_settings(
        &self,
        mut row: ChannelRow,
        settings: ChannelSettings,
    ) -> ApiResult<ChannelRow> {
        if let Some(test_mode) = settings.test_mode {
            row.test_mode = test_mode;
        }
        if settings.is_default == Some(true) {
            row.is_default = true;
        }
        if let Some(keyed_billing) = settings.keyed_billing {
            row.keyed_billing = keyed_billing;
        }
        if let Some(endpoint) = settings.endpoint {
            row.endpoint = check_endpoint(&endpoint)?;
        }
        if !settings.secrets.is_empty() {
            let mut secrets = self.channel_secrets(&row)?;
            for (name, value) in settings.secrets {
                if !SECRET_NAMES.contains(&name.as_str()) {
                    return Err(ApiError::invalid(format!(
                        "unknown channel secret {name:?} (known: {})",
                        SECRET_NAMES.join(", ")
                    )));
                }
                if value.is_empty() {
                    secrets.remove(&name);
                } else {
                    secrets.insert(name, value);
                }
            }
            row.secrets_sealed = if secrets.is_empty() {
                None
            } else {
                let json = serde_json::to_string(&secrets).map_err(ApiError::internal)?;
                Some(
                    self.vault
                        .seal_str(&json, &channel_aad(&row.merchant_id, &row.id))
                        .map_err(ApiError::internal)?,
                )
            };
        }
        Ok(row)
    }

    pub async fn list_channels(&self, merchant_id: &str) -> ApiResult<Vec<ChannelSummary>> {
        self.require_merchant(merchant_id).await?;
        let rows = merchants::list_channels(&self.db, merchant_id).await?;
        rows.iter().map(|row| self.summarize_channel(row)).collect()
    }

    /// Removes a channel from picking and listing. Its row stays: the payments made through
    /// it can still be looked up, cancelled and reconciled; its billing keys are refused.
    pub async fn remove_channel(
        &self,
        merchant_id: &str,
        pg_provider: &str,
        mid: &str,
    ) -> ApiResult<()> {
        self.require_merchant(merchant_id).await?;
        if merchants::remove_channel(&self.db, merchant_id, pg_provider, mid, now()).await? {
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
            endpoint: row.endpoint.clone(),
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
        endpoint: None,
        removed_at: 0,
    }
}

fn random_digits(n: usize) -> String {
    use rand::Rng;
    let mut rng = rand::thread_rng();
    (0..n).map(|_| char::from(b'0' + rng.gen_range(0..10u8))).collect()
}

/// `--endpoint`: an http(s) base URL (scheme and host, optionally a port and a path prefix; no
/// query, fragment or credentials), kept without its trailing slash. Empty: none.
fn check_endpoint(endpoint: &str) -> ApiResult<Option<String>> {
    let endpoint = endpoint.trim();
    if endpoint.is_empty() {
        return Ok(None);
    }
    let refuse = |why: &str| {
        Err(ApiError::invalid(format!(
            "--endpoint must be an http(s) base URL such as https://stgstdpay.inicis.com or http://127.0.0.1:9100 ({why}): {endpoint:?}"
        )))
    };
    let Some((scheme, rest)) = endpoint.split_once("://") else {
        return refuse("no scheme");
    };
    if !scheme.eq_ignore_ascii_case("http") && !scheme.eq_ignore_ascii_case("https") {
        return refuse("the scheme is not http or https");
    }
    if rest.contains(['?', '#', '@']) || rest.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return refuse("no query, fragment, credentials or spaces");
    }
    let host_port = rest.split('/').next().unwrap_or_default();
    let host = match host_port.rsplit_once(':') {
        Some((host, port)) if !host.ends_with(']') || host_port.starts_with('[') => {
            if port.is_empty() || port.parse::<u16>().is_err() {
                return refuse("the port is not a number");
            }
            host
        }
        _ => host_port,
    };
    if host.is_empty() {
        return refuse("no host");
    }
    Ok(Some(format!("{}://{}", scheme.to_ascii_lowercase(), rest.trim_end_matches('/'))))
}

#[cfg(test)]
mod tests {
    use super::check_endpoint;

    #[test]
    fn endpoints_are_http_base_urls() {
        assert_eq!(
            check_endpoint("http://127.0.0.1:9100/").unwrap().as_deref(),
            Some("http://127.0.0.1:9100")
        );
        assert_eq!(
            check_endpoint(" HTTPS://stgstdpay.inicis.com ").unwrap().as_deref(),
            Some("https://stgstdpay.inicis.com")
        );
        assert_eq!(
            check_endpoint("http://[::1]:8080/fake").unwrap().as_deref(),
            Some("http://[::1]:8080/fake")
        );
        assert_eq!(check_endpoint("").unwrap(), None);
        for bad in [
            "ftp://example.com",
            "example.com",
            "http://",
            "http://:80",
            "http://host:port",
            "http://user@host",
            "http://host/?a=b",
            "http://host/#x",
            "http://ho st",
        ] {
            assert!(check_endpoint(bad).is_err(), "{bad} accepted");
        }
    }
}
