//! Envelope encryption for card data, PG billing keys, PG secrets and tokens.
//!
//! Every value is sealed with its own random AES-256-GCM data key; the data key is wrapped
//! (AES-256-GCM) by the master key. Both layers take an [`Aad`] as associated data, so a sealed
//! value copied to another row, merchant or purpose does not open. Rotating the master key only
//! re-wraps data keys ([`Vault::rewrap`]); ciphertexts are never touched.
//!
//! Sealed values are ASCII: `v1.<key_id>.<wrapped data key>.<nonce+ciphertext>` (base64url, no
//! padding), so they fit in a TEXT column.

mod envelope;
mod keyfile;

use std::fmt;
use std::path::Path;

use sha2::{Digest, Sha256};
use zeroize::{Zeroize, Zeroizing};

use envelope::{SecretKey, KEY_ID_LEN};

/// What a sealed value is bound to; sealed under one Aad, it opens only under the same Aad.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Aad<'a> {
    /// What the value is, e.g. `"card"`, `"billing_key"`, `"pg_secret"`.
    pub purpose: &'a str,
    pub merchant_id: &'a str,
    /// The row the value belongs to, e.g. the `customer_uid`.
    pub subject: &'a str,
}

#[derive(Debug, thiserror::Error)]
pub enum VaultError {
    /// The master key given (env value or key file) is not 32 bytes of hex or base64.
    /// The message describes the problem, never the key.
    #[error("bad master key: {0}")]
    BadMasterKey(String),
    #[error("master key file: {0}")]
    Io(String),
    /// Not a sealed value this version understands (or, when sealing, a plaintext too large for AES-GCM).
    #[error("malformed sealed value")]
    Malformed,
    /// Authentication failed: wrong key, wrong Aad, or the value was altered.
    #[error("sealed value does not open (wrong key, wrong binding, or tampered)")]
    OpenFailed,
    /// The value was sealed under a master key with another id.
    #[error("sealed value was sealed under another master key")]
    KeyMismatch,
}

/// Holds the master key; the key is wiped from memory when the vault is dropped.
pub struct Vault {
    master: SecretKey,
    key_id: String,
}

/// Redacted: only the public key id is shown.
impl fmt::Debug for Vault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Vault").field("key_id", &self.key_id).finish_non_exhaustive()
    }
}

impl Vault {
    pub fn from_master_key(key: [u8; 32]) -> Vault {
        let mut key = key;
        let mut master = envelope::zero_key();
        master.copy_from_slice(&key);
        key.zeroize();
        Self::from_secret(master)
    }

    fn from_secret(master: SecretKey) -> Vault {
        let digest = Sha256::digest(&master[..]);
        let key_id = hex::encode(&digest[..KEY_ID_LEN / 2]);
        Vault { master, key_id }
    }

    /// Master key from `env_value` (64 hex chars or base64 of 32 bytes) if Some, else from
    /// `<data_dir>/master.key`, creating that file (32 random bytes, hex, mode 0600, created
    /// atomically with create_new) on first use.
    pub fn load_or_create(data_dir: &Path, env_value: Option<&str>) -> Result<Vault, VaultError> {
        match env_value {
            Some(value) => Self::from_key_str(value),
            None => {
                keyfile::load_or_create(data_dir, envelope::random_key()).map(Self::from_secret)
            }
        }
    }

    /// Parses a key string (64 hex chars or base64 of 32 bytes) without creating anything.
    pub fn from_key_str(s: &str) -> Result<Vault, VaultError> {
        keyfile::parse_key(s).map(Self::from_secret)
    }

    /// Reads a key file (as written by [`Vault::load_or_create`] or `master_key_hex`) without
    /// creating anything; for rotation tools that take the old/new key as a file.
    pub fn from_key_file(path: &Path) -> Result<Vault, VaultError> {
        keyfile::read_key_file(path).map(Self::from_secret)
    }

    /// A fresh random master key.
    pub fn generate() -> Vault {
        Self::from_secret(envelope::random_key())
    }

    /// Writes this key durably to `path` (a temporary file created 0600, fsynced, renamed into
    /// place, directory fsynced): rotation's pending key, on disk before any row changes.
    pub fn write_key_file(&self, path: &Path) -> Result<(), VaultError> {
        keyfile::write_key_file(path, &self.master)
            .map_err(|e| VaultError::Io(format!("{}: {e}", path.display())))
    }

    /// Makes the key file `pending` the data directory's `master.key`, keeping the key it
    /// replaces as `master.key.<retired_key_id>.old`; returns where the old key was kept.
    pub fn install_key_file(
        data_dir: &Path,
        pending: &Path,
        retired_key_id: &str,
    ) -> Result<std::path::PathBuf, VaultError> {
        keyfile::install_key_file(data_dir, pending, retired_key_id)
            .map_err(|e| VaultError::Io(format!("{}: {e}", data_dir.display())))
    }

    /// The master key as 64 lowercase hex characters, for writing a new key file during rotation.
    pub fn master_key_hex(&self) -> Zeroizing<String> {
        keyfile::key_hex(&self.master)
    }

    /// Short public fingerprint of the master key (first 8 bytes of SHA-256 of the key, hex);
    /// safe to print and log.
    pub fn key_id(&self) -> &str {
        &self.key_id
    }

    /// Seals with a fresh random 256-bit data key (AES-256-GCM, random 96-bit nonce); the data key
    /// is wrapped by the master key under the same Aad.
    pub fn seal(&self, plaintext: &[u8], aad: &Aad<'_>) -> Result<String, VaultError> {
        let aad = envelope::aad_bytes(aad);
        let data_key = envelope::random_key();
        let payload = envelope::encrypt(&data_key, plaintext, &aad)?;
        let wrapped = envelope::wrap(&self.master, &data_key, &aad)?;
        Ok(envelope::format(&self.key_id, &wrapped, &envelope::encode(&payload)))
    }

    pub fn open(&self, sealed: &str, aad: &Aad<'_>) -> Result<Zeroizing<Vec<u8>>, VaultError> {
        let parts = self.parts(sealed)?;
        let aad = envelope::aad_bytes(aad);
        let data_key = envelope::unwrap_key(&self.master, parts.wrapped, &aad)?;
        envelope::open_payload(&data_key, parts.payload, &aad)
    }

    pub fn seal_str(&self, plaintext: &str, aad: &Aad<'_>) -> Result<String, VaultError> {
        self.seal(plaintext.as_bytes(), aad)
    }

    /// Like [`Vault::open`]; a value that opens but is not UTF-8 (it was sealed as bytes) is `Malformed`.
    pub fn open_str(&self, sealed: &str, aad: &Aad<'_>) -> Result<Zeroizing<String>, VaultError> {
        let mut bytes = self.open(sealed, aad)?;
        // Moves the buffer (no copy); on error the bytes are wiped before returning.
        match String::from_utf8(std::mem::take(&mut *bytes)) {
            Ok(s) => Ok(Zeroizing::new(s)),
            Err(e) => {
                e.into_bytes().zeroize();
                Err(VaultError::Malformed)
            }
        }
    }

    /// Re-wraps only the data key under `new` (the ciphertext text is copied unchanged). Needs the
    /// Aad because the wrap is bound to it. The payload is authenticated first, so a rewrap that
    /// succeeds guarantees the result opens with `new`.
    pub fn rewrap(&self, sealed: &str, aad: &Aad<'_>, new: &Vault) -> Result<String, VaultError> {
        let parts = self.parts(sealed)?;
        let aad = envelope::aad_bytes(aad);
        let data_key = envelope::unwrap_key(&self.master, parts.wrapped, &aad)?;
        drop(envelope::open_payload(&data_key, parts.payload, &aad)?);
        let wrapped = envelope::wrap(&new.master, &data_key, &aad)?;
        Ok(envelope::format(&new.key_id, &wrapped, parts.payload))
    }

    /// The key id a sealed value was sealed under (to skip values already rotated); None if the
    /// text is not a sealed value.
    pub fn sealed_key_id(sealed: &str) -> Option<&str> {
        envelope::split(sealed).map(|p| p.key_id)
    }

    fn parts<'s>(&self, sealed: &'s str) -> Result<envelope::Parts<'s>, VaultError> {
        let parts = envelope::split(sealed).ok_or(VaultError::Malformed)?;
        if parts.key_id != self.key_id {
            return Err(VaultError::KeyMismatch);
        }
        Ok(parts)
    }
}

#[cfg(test)]
mod tests;
