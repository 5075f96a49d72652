//! Console accounts: argon2id password hashes, users (created by `openimp user create`), and the
//! sign-in check with its lockout after repeated failures. Sessions live in [`crate::session`].

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use openimp_core::ids::random_hex;
use openimp_core::time::now;
use openimp_store::console::{self, UserRow};
use openimp_store::{merchants, Db, StoreError};

/// What a console user may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Changes its merchant's settings and money (cancels, key deletion, revokes).
    Owner,
    /// Sees everything of its merchant, changes nothing.
    Viewer,
    /// Every merchant, as an owner; creates merchants.
    Operator,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Owner => "owner",
            Role::Viewer => "viewer",
            Role::Operator => "operator",
        }
    }

    pub fn parse(value: &str) -> Option<Role> {
        match value {
            "owner" => Some(Role::Owner),
            "viewer" => Some(Role::Viewer),
            "operator" => Some(Role::Operator),
            _ => None,
        }
    }
}

/// Shortest password accepted.
pub const MIN_PASSWORD_CHARS: usize = 10;

/// Why an account could not be created.
#[derive(Debug, thiserror::Error)]
pub enum AccountError {
    #[error("{0}")]
    Invalid(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Who a new account is for.
#[derive(Debug, Clone)]
pub struct NewUser {
    pub email: String,
    /// None for an operator.
    pub merchant_id: Option<String>,
    pub role: Role,
    pub password: String,
}

/// The one spelling of an email the store keys on.
pub fn normalize_email(email: &str) -> String {
    email.trim().to_lowercase()
}

/// An argon2id PHC string with a fresh salt (the crate's default cost: 19 MiB, 2 passes).
pub fn hash_password(password: &str) -> Result<String, AccountError> {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|hash| hash.to_string())
        .map_err(|err| AccountError::Invalid(format!("cannot hash the password: {err}")))
}

/// Whether `password` matches a stored PHC string (any argon2 variant it names).
pub fn verify_password(password: &str, phc: &str) -> bool {
    match PasswordHash::new(phc) {
        Ok(parsed) => Argon2::default().verify_password(password.as_bytes(), &parsed).is_ok(),
        Err(_) => false,
    }
}

/// Creates a console user. The email must look like one and be free; a merchant user's
/// merchant must exist; an operator has no merchant.
pub async fn create_user(db: &Db, new: NewUser) -> Result<UserRow, AccountError> {
    let email = normalize_email(&new.email);
    let looks_like_email = email.len() <= 254
        && email.split_once('@').is_some_and(|(local, domain)| {
            !local.is_empty() && domain.contains('.') && !domain.starts_with('.')
        })
        && !email.chars().any(|c| c.is_whitespace() || c.is_control());
    if !looks_like_email {
        return Err(AccountError::Invalid(format!("not an email address: {:?}", new.email)));
    }
    if new.password.chars().count() < MIN_PASSWORD_CHARS {
        return Err(AccountError::Invalid(format!(
            "the password needs at least {MIN_PASSWORD_CHARS} characters"
        )));
    }
    match (&new.merchant_id, new.role) {
        (None, Role::Operator) => {}
        (Some(code), Role::Owner | Role::Viewer) => {
            if merchants::get(db, code).await?.is_none() {
                return Err(AccountError::Invalid(format!("no merchant {code}")));
            }
        }
        (Some(_), Role::Operator) => {
            return Err(AccountError::Invalid("an operator belongs to no merchant".to_owned()))
        }
        (None, _) => {
            return Err(AccountError::Invalid("give --merchant CODE, or --operator".to_owned()))
        }
    }
    let at = now();
    let user = UserRow {
        id: format!("cu_{}", random_hex(8)),
        email,
        merchant_id: new.merchant_id,
        role: new.role.as_str().to_owned(),
        password_hash: hash_password(&new.password)?,
        created_at: at,
        updated_at: at,
    };
    match console::insert_user(db, &user).await {
        Ok(()) => Ok(user),
        Err(StoreError::Conflict(_)) => {
            Err(AccountError::Invalid(format!("a console user {} already exists", user.email)))
        }
        Err(err) => Err(err.into()),
    }
}

/// When sign-ins of one email are refused for a while.
#[derive(Debug, Clone, Copy)]
pub struct Lockout {
    /// Failures within `window_secs` after which even the right password is refused.
    pub max_failures: i64,
    pub window_secs: i64,
}

impl Default for Lockout {
    /// 5 failures in 15 minutes.
    fn default() -> Self {
        Lockout { max_failures: 5, window_secs: 900 }
    }
}

/// What a sign-in attempt came to.
#[derive(Debug)]
pub enum SignIn {
    Ok(UserRow),
    /// Wrong email or password (the two are not told apart).
    Refused,
    /// Too many recent failures: refused without looking at the password.
    Locked,
}

/// A PHC string to verify against when the email has no account, so both cases take as long.
fn dummy_hash() -> &'static str {
    static DUMMY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DUMMY.get_or_init(|| hash_password("no such user: a password nobody has").unwrap_or_default())
}

/// Checks an email and password, counting failures per email across every node (the store).
pub async fn sign_in(
    db: &Db,
    lockout: Lockout,
    email: &str,
    password: &str,
    address: Option<&str>,
) -> Result<SignIn, StoreError> {
    let email = normalize_email(email);
    let at = now();
    let since = at - lockout.window_secs;
    let failures = console::login_failures_since(db, &email, since).await?;
    if failures >= lockout.max_failures {
        return Ok(SignIn::Locked);
    }
    let user = console::user_by_email(db, &email).await?;
    let phc = user.as_ref().map_or_else(|| dummy_hash().to_owned(), |u| u.password_hash.clone());
    let password = password.to_owned();
    // argon2 is CPU-bound for tens of milliseconds: off the async threads.
    let matches = tokio::task::spawn_blocking(move || verify_password(&password, &phc))
        .await
        .unwrap_or(false);
    match user {
        Some(user) if matches => {
            // Most sign-ins follow no failure: no write (and no fsync) for them.
            if failures > 0 {
                console::clear_login_failures(db, &email).await?;
            }
            Ok(SignIn::Ok(user))
        }
        _ => {
            let id = format!("lf_{}", random_hex(8));
            console::record_login_failure(db, &id, &email, address, at, since).await?;
            Ok(SignIn::Refused)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn argon2id_hashes_verify_and_differ() {
        let one = hash_password("correct horse battery").unwrap();
        let two = hash_password("correct horse battery").unwrap();
        assert!(one.starts_with("$argon2id$"), "{one}");
        assert_ne!(one, two, "a fresh salt each time");
        assert!(verify_password("correct horse battery", &one));
        assert!(!verify_password("correct horse batterY", &one));
        assert!(!verify_password("correct horse battery", "not a phc string"));
    }

    #[test]
    fn emails_and_roles() {
        assert_eq!(normalize_email("  Owner@Example.COM "), "owner@example.com");
        assert_eq!(Role::parse("viewer"), Some(Role::Viewer));
        assert_eq!(Role::parse("admin"), None);
        assert_eq!(Role::Operator.as_str(), "operator");
    }
}
