//! Domain vocabulary shared by every layer of openimp.
//!
//! - [`error::ApiError`]: the one error type; each variant maps to (HTTP status, `code`, message)
//!   in [`error::ApiError::envelope_parts`], the only place that mapping lives.
//! - [`card`]: card input rules (number, expiry, birth, password digits), masking, and the
//!   documented rule that derives a KFTC card company from a card number.
//! - [`wire`]: the i'mport V1 response objects (`Payment`, `Customer`, ...), exactly as the
//!   reference spells them.
//! - [`money`]: amount rules (positive integers, tax-free and VAT bounds, instalments).
//! - [`order`]: the one order type of every charge, its validation, and the merchant_uid /
//!   customer_uid check.
//! - [`states`]: payment and schedule states and `customer_uid_usage` as enums.

pub mod card;
pub mod error;
pub mod ids;
pub mod money;
pub mod order;
pub mod states;
pub mod time;
pub mod wire;

pub use error::ApiError;
