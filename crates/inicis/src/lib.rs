//! KG Inicis for openimp: the live connector for `html5_inicis` and `inicis` channels, and a
//! fake of KG Inicis's server side that referees it (tests, and merchants trying live mode
//! offline with `openimp fake-pg inicis`).
//!
//! - [`protocol`]: every hash, signature and encrypted field, pinned by the published vectors;
//! - [`hosts`]: KG Inicis's hosts and the IDC whitelist for approval URLs;
//! - [`connector`]: the [`openimp_pg::Connector`] implementation;
//! - [`fake`]: the referee.

pub mod connector;
pub mod fake;
pub mod hosts;
pub mod protocol;
mod transformers;

pub use connector::{InicisConnector, InicisOptions};
