//! KG Inicis's hashes, signatures and encrypted fields as pure functions, so the connector and
//! the fake compute them one way and the published vectors pin them (pg-protocols.md §1.3-1.11).

pub mod iniapi;
pub mod mobile;
pub mod stdpay;

use sha2::{Digest, Sha256, Sha512};

/// Lowercase hex SHA-256 of `text`.
pub fn sha256_hex(text: &str) -> String {
    hex::encode(Sha256::digest(text.as_bytes()))
}

/// Lowercase hex SHA-512 of `text`.
pub fn sha512_hex(text: &str) -> String {
    hex::encode(Sha512::digest(text.as_bytes()))
}

/// Compares two hex/base64 texts in constant time, so a referee (the fake) or a checker (the
/// connector) leaks nothing about how much of a signature was right.
pub fn same_text(a: &str, b: &str) -> bool {
    use subtle::ConstantTimeEq;
    a.len() == b.len() && bool::from(a.as_bytes().ct_eq(b.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_text_compares_whole_texts() {
        assert!(same_text("abc", "abc"));
        assert!(!same_text("abc", "abd"));
        assert!(!same_text("abc", "abcd"));
        assert!(same_text("", ""));
    }
}
