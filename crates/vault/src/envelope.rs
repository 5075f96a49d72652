//! The sealed-value text format and the AES-256-GCM primitives behind it.
//!
//! A sealed value is `v1.<key_id>.<wrapped>.<payload>` where `wrapped` is
//! `nonce(12) || AES-GCM(master, data_key)(32) || tag(16)` and `payload` is
//! `nonce(12) || AES-GCM(data_key, plaintext) || tag(16)`, both base64url without padding.

use aes_gcm::aead::AeadInPlace;
use aes_gcm::{Aes256Gcm, Key, KeyInit, Nonce, Tag};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use rand::rngs::OsRng;
use rand::RngCore;
use zeroize::Zeroizing;

use crate::{Aad, VaultError};

pub(crate) const VERSION: &str = "v1";
pub(crate) const KEY_LEN: usize = 32;
const NONCE_LEN: usize = 12;
const TAG_LEN: usize = 16;
/// Length of a key id: 8 bytes of SHA-256, hex.
pub(crate) const KEY_ID_LEN: usize = 16;
pub(crate) const WRAPPED_LEN: usize = NONCE_LEN + KEY_LEN + TAG_LEN;
const MIN_PAYLOAD_LEN: usize = NONCE_LEN + TAG_LEN;

/// A 256-bit key kept behind a pointer so moving it around never leaves stray copies, wiped on drop.
pub(crate) type SecretKey = Box<Zeroizing<[u8; KEY_LEN]>>;

pub(crate) fn zero_key() -> SecretKey {
    Box::new(Zeroizing::new([0u8; KEY_LEN]))
}

pub(crate) fn random_key() -> SecretKey {
    let mut key = zero_key();
    OsRng.fill_bytes(&mut key[..]);
    key
}

/// The parts of a sealed value, still encoded as in the text (the payload is kept verbatim so a
/// rewrap can copy it without re-encoding).
pub(crate) struct Parts<'a> {
    pub key_id: &'a str,
    pub wrapped: &'a str,
    pub payload: &'a str,
}

pub(crate) fn split(sealed: &str) -> Option<Parts<'_>> {
    let mut it = sealed.split('.');
    let (version, key_id, wrapped, payload) = (it.next()?, it.next()?, it.next()?, it.next()?);
    if it.next().is_some() || version != VERSION || !is_key_id(key_id) {
        return None;
    }
    Some(Parts { key_id, wrapped, payload })
}

/// Key ids are produced as lowercase hex; anything else cannot be ours.
fn is_key_id(s: &str) -> bool {
    s.len() == KEY_ID_LEN && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

pub(crate) fn format(key_id: &str, wrapped: &[u8], payload: &str) -> String {
    format!("{VERSION}.{key_id}.{}.{payload}", URL_SAFE_NO_PAD.encode(wrapped))
}

pub(crate) fn encode(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Strict decode: the engine rejects padding and non-canonical trailing bits, so every change to
/// the text either fails here or changes the bytes (and then fails authentication).
pub(crate) fn decode(s: &str) -> Result<Vec<u8>, VaultError> {
    URL_SAFE_NO_PAD.decode(s).map_err(|_| VaultError::Malformed)
}

/// The associated data: a version tag, then each field length-prefixed so that
/// ("ab", "c") and ("a", "bc") can never produce the same bytes.
pub(crate) fn aad_bytes(aad: &Aad<'_>) -> Vec<u8> {
    const TAG: &[u8] = b"openimp-vault/v1";
    let fields = [aad.purpose, aad.merchant_id, aad.subject];
    let mut out = Vec::with_capacity(TAG.len() + fields.iter().map(|f| 8 + f.len()).sum::<usize>());
    out.extend_from_slice(TAG);
    for field in fields {
        out.extend_from_slice(&(field.len() as u64).to_be_bytes());
        out.extend_from_slice(field.as_bytes());
    }
    out
}

fn cipher(key: &[u8; KEY_LEN]) -> Aes256Gcm {
    Aes256Gcm::new(Key::<Aes256Gcm>::from_slice(key))
}

/// Encrypts under a fresh random nonce, returning `nonce || ciphertext || tag`. The output is
/// sized up front so the buffer never reallocates while it still holds plaintext.
pub(crate) fn encrypt(
    key: &[u8; KEY_LEN],
    plaintext: &[u8],
    aad: &[u8],
) -> Result<Vec<u8>, VaultError> {
    let mut out = Vec::with_capacity(NONCE_LEN + plaintext.len() + TAG_LEN);
    let mut nonce = [0u8; NONCE_LEN];
    OsRng.fill_bytes(&mut nonce);
    out.extend_from_slice(&nonce);
    out.extend_from_slice(plaintext);
    let tag = cipher(key)
        .encrypt_in_place_detached(Nonce::from_slice(&nonce), aad, &mut out[NONCE_LEN..])
        // Only fails for messages beyond AES-GCM's limit (~64 GiB), which no caller has.
        .map_err(|_| VaultError::Malformed)?;
    out.extend_from_slice(&tag);
    Ok(out)
}

/// Splits `nonce || ciphertext || tag` and authenticates/decrypts into `out`, which must be
/// exactly as long as the ciphertext.
fn decrypt_into(
    key: &[u8; KEY_LEN],
    sealed: &[u8],
    aad: &[u8],
    out: &mut [u8],
) -> Result<(), VaultError> {
    if sealed.len() != NONCE_LEN + out.len() + TAG_LEN {
        return Err(VaultError::Malformed);
    }
    let (nonce, rest) = sealed.split_at(NONCE_LEN);
    let (ciphertext, tag) = rest.split_at(rest.len() - TAG_LEN);
    out.copy_from_slice(ciphertext);
    cipher(key)
        .decrypt_in_place_detached(Nonce::from_slice(nonce), aad, out, Tag::from_slice(tag))
        .map_err(|_| VaultError::OpenFailed)
}

pub(crate) fn wrap(
    master: &[u8; KEY_LEN],
    data_key: &[u8; KEY_LEN],
    aad: &[u8],
) -> Result<Vec<u8>, VaultError> {
    encrypt(master, data_key, aad)
}

pub(crate) fn unwrap_key(
    master: &[u8; KEY_LEN],
    wrapped: &str,
    aad: &[u8],
) -> Result<SecretKey, VaultError> {
    let wrapped = decode(wrapped)?;
    if wrapped.len() != WRAPPED_LEN {
        return Err(VaultError::Malformed);
    }
    let mut key = zero_key();
    decrypt_into(master, &wrapped, aad, &mut key[..])?;
    Ok(key)
}

pub(crate) fn open_payload(
    data_key: &[u8; KEY_LEN],
    payload: &str,
    aad: &[u8],
) -> Result<Zeroizing<Vec<u8>>, VaultError> {
    let payload = decode(payload)?;
    if payload.len() < MIN_PAYLOAD_LEN {
        return Err(VaultError::Malformed);
    }
    let mut plain = Zeroizing::new(vec![0u8; payload.len() - MIN_PAYLOAD_LEN]);
    decrypt_into(data_key, &payload, aad, &mut plain)?;
    Ok(plain)
}
