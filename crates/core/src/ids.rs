//! Identifier formats: `imp_`/`imps_` + 12 digits for payments, random hex for secrets.

use rand::Rng;

/// A payment id as i'mport shapes them: `imps_` for API (subscribe) payments, `imp_` for window ones.
pub fn new_imp_uid(api: bool) -> String {
    let digits: u64 = rand::thread_rng().gen_range(100_000_000_000..1_000_000_000_000);
    if api {
        format!("imps_{digits}")
    } else {
        format!("imp_{digits}")
    }
}

/// `imp` + 8 digits, the merchant code (가맹점 식별코드) used by `IMP.init`.
pub fn new_imp_code() -> String {
    let digits: u32 = rand::thread_rng().gen_range(10_000_000..100_000_000);
    format!("imp{digits}")
}

/// Lowercase hex of `bytes` random bytes.
pub fn random_hex(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    rand::thread_rng().fill(buf.as_mut_slice());
    buf.iter().map(|b| format!("{b:02x}")).collect()
}

/// Alphanumeric random string, like i'mport's REST API secrets.
pub fn random_alnum(len: usize) -> String {
    rand::thread_rng()
        .sample_iter(&rand::distributions::Alphanumeric)
        .take(len)
        .map(char::from)
        .collect()
}

/// A cancellation id, unique per cancel.
pub fn new_cancellation_id() -> String {
    format!("cancel_{}", random_hex(10))
}
