//! REST credentials and access tokens (`POST /users/getToken`).
//!
//! i'mport's token rules: 30 minutes; asked again while valid, the same token comes back with
//! the same expiry, except in its last minute, when the expiry moves 5 minutes later. Tokens are
//! stored (hashed for lookup, sealed for re-issue), so every node sharing the database accepts
//! them; never in plaintext.
//!
//! Failed attempts are logged (key prefix and address, never the secret) and throttled per key
//! and per address ([`crate::login_limit`]). `rotate_secret` replaces a merchant's REST secret
//! and deletes its tokens; every node's token cache re-checks an entry against the database once
//! it is [`TOKEN_CACHE_TTL`] old, so a revoked token stops working everywhere within that time.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::RwLock;
use std::time::{Duration, Instant};

use openimp_core::ids::{random_alnum, random_hex};
use openimp_core::time::now;
use openimp_core::wire::AccessToken;
use openimp_core::ApiError;
use openimp_store::{merchants, tokens};
use openimp_vault::Aad;
use sha2::{Digest, Sha256};

use crate::merchants::MerchantCredentials;
use crate::{ApiResult, Gateway, MerchantId};

/// Token lifetime.
pub const TOKEN_TTL_SECS: i64 = 30 * 60;
/// A token asked for within this many seconds of its expiry is extended.
const EXTEND_WINDOW_SECS: i64 = 60;
const EXTEND_BY_SECS: i64 = 5 * 60;

/// How long a node trusts a cached token without asking the database again: the longest a token
/// revoked on another node (or by `openimp merchant rotate-secret`) keeps working here.
pub const TOKEN_CACHE_TTL: Duration = Duration::from_secs(1);

/// token hash → (merchant, expiry, when the database last vouched for it). Only ever shortens a
/// database round trip: an entry older than [`TOKEN_CACHE_TTL`], or that looks expired, is
/// checked against the database again (another node may have extended or revoked it).
#[derive(Default)]
pub(crate) struct TokenCache {
    entries: RwLock<HashMap<String, (String, i64, Instant)>>,
}

/// `sha256(salt || secret)` in hex: how REST secrets are stored.
pub fn hash_secret(salt: &str, secret: &str) -> String {
    let mut hasher = Sha256::new();
    hasher.update(salt.as_bytes());
    hasher.update(b"\0");
    hasher.update(secret.as_bytes());
    hex::encode(hasher.finalize())
}

/// A generated REST secret: 80 alphanumeric characters.
pub(crate) fn new_secret() -> String {
    random_alnum(80)
}

/// What a log line may show of an imp_key: its first 4 characters.
fn key_prefix(imp_key: &str) -> String {
    let prefix: String = imp_key.chars().take(4).collect();
    format!("{prefix}…")
}

fn hash_token(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// Compares two strings in time independent of where they differ.
fn constant_time_eq(a: &str, b: &str) -> bool {
    a.len() == b.len() && a.bytes().zip(b.bytes()).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn token_aad(merchant_id: &str) -> Aad<'_> {
    Aad { purpose: "access_token", merchant_id, subject: "" }
}

impl Gateway {
    /// `POST /users/getToken`, from `client` (the peer address, when known). Refused without
    /// looking at the secret while the key or the address is locked out.
    pub async fn get_token(
        &self,
        imp_key: &str,
        imp_secret: &str,
        client: Option<IpAddr>,
    ) -> ApiResult<AccessToken> {
        let key_prefix = key_prefix(imp_key);
        let address = client.map_or_else(|| "unknown".to_owned(), |ip| ip.to_string());
        if self.logins.locked_out(imp_key, client) {
            tracing::debug!(key_prefix, address, "getToken refused: too many failed attempts");
            return Err(ApiError::TooManyAttempts);
        }
        let merchant = merchants::find_by_imp_key(&self.db, imp_key).await?;
        let verified = merchant.filter(|merchant| {
            constant_time_eq(&hash_secret(&merchant.secret_salt, imp_secret), &merchant.secret_hash)
        });
        let Some(merchant) = verified else {
            self.logins.record_failure(imp_key, client);
            tracing::warn!(key_prefix, address, "getToken failed: wrong imp_key or imp_secret");
            return Err(ApiError::BadCredentials);
        };
        let now = now();
        if let Some(current) =
            tokens::current_for_merchant(&self.db, &merchant.imp_code, now).await?
        {
            let token = self
                .vault
                .open_str(&current.token_sealed, &token_aad(&merchant.imp_code))
                .map_err(ApiError::internal)?;
            let mut expires_at = current.expires_at;
            if expires_at - now <= EXTEND_WINDOW_SECS {
                expires_at =
                    tokens::extend(&self.db, &current.token_hash, expires_at + EXTEND_BY_SECS)
                        .await?;
            }
            self.cache_token(&current.token_hash, &merchant.imp_code, expires_at);
            return Ok(AccessToken {
                access_token: token.to_string(),
                now,
                expired_at: expires_at,
            });
        }
        // No valid token seen: mint one, unless a concurrent call stored one first.
        let token = openimp_core::ids::random_hex(20);
        let sealed = self
            .vault
            .seal_str(&token, &token_aad(&merchant.imp_code))
            .map_err(ApiError::internal)?;
        let candidate = tokens::TokenRow {
            token_hash: hash_token(&token),
            merchant_id: merchant.imp_code.clone(),
            token_sealed: sealed,
            issued_at: now,
            expires_at: now + TOKEN_TTL_SECS,
        };
        // None: the secret was rotated after we checked it, so this login no longer counts.
        let stored = tokens::current_or_insert(&self.db, &candidate, &merchant.secret_hash)
            .await?
            .ok_or(ApiError::BadCredentials)?;
        let access_token = if stored.token_hash == candidate.token_hash {
            token
        } else {
            self.vault
                .open_str(&stored.token_sealed, &token_aad(&merchant.imp_code))
                .map_err(ApiError::internal)?
                .to_string()
        };
        self.cache_token(&stored.token_hash, &merchant.imp_code, stored.expires_at);
        Ok(AccessToken { access_token, now, expired_at: stored.expires_at })
    }

    /// The merchant a token belongs to, if the token is valid now.
    pub async fn authenticate(&self, token: &str) -> ApiResult<MerchantId> {
        if token.is_empty() {
            return Err(ApiError::Unauthorized);
        }
        let token_hash = hash_token(token);
        let now = now();
        let cached =
            self.tokens.entries.read().ok().and_then(|entries| entries.get(&token_hash).cloned());
        if let Some((merchant_id, expires_at, vouched_at)) = cached {
            if expires_at > now && vouched_at.elapsed() < TOKEN_CACHE_TTL {
                return Ok(MerchantId(merchant_id));
            }
        }
        match tokens::lookup(&self.db, &token_hash).await? {
            Some((merchant_id, expires_at)) if expires_at > now => {
                self.cache_token(&token_hash, &merchant_id, expires_at);
                Ok(MerchantId(merchant_id))
            }
            _ => {
                if let Ok(mut entries) = self.tokens.entries.write() {
                    entries.remove(&token_hash);
                }
                Err(ApiError::Unauthorized)
            }
        }
    }

    /// `openimp merchant rotate-secret`: a new REST secret (returned once, stored as a salted
    /// hash) and every token of the merchant deleted, in one transaction. Nodes' caches drop the
    /// tokens within [`TOKEN_CACHE_TTL`].
    pub async fn rotate_secret(&self, merchant_id: &str) -> ApiResult<MerchantCredentials> {
        let merchant = merchants::get(&self.db, merchant_id)
            .await?
            .ok_or_else(|| ApiError::not_found("존재하지 않는 가맹점입니다. (unknown merchant)"))?;
        let imp_secret = new_secret();
        let salt = random_hex(16);
        let secret_hash = hash_secret(&salt, &imp_secret);
        let revoked =
            merchants::replace_secret(&self.db, &merchant.imp_code, &salt, &secret_hash).await?;
        if let Ok(mut entries) = self.tokens.entries.write() {
            entries.retain(|_, (owner, _, _)| owner != &merchant.imp_code);
        }
        tracing::info!(merchant = %merchant.imp_code, revoked, "REST secret rotated; tokens revoked");
        Ok(MerchantCredentials {
            imp_code: merchant.imp_code,
            imp_key: merchant.imp_key,
            imp_secret,
        })
    }

    fn cache_token(&self, token_hash: &str, merchant_id: &str, expires_at: i64) {
        if let Ok(mut entries) = self.tokens.entries.write() {
            if entries.len() > 100_000 {
                let now = now();
                entries.retain(|_, (_, expiry, _)| *expiry > now);
            }
            entries.insert(
                token_hash.to_owned(),
                (merchant_id.to_owned(), expires_at, Instant::now()),
            );
        }
    }
}
