//! KICC EasyPay for openimp: the live connector over KICC's ep9 REST API, and a fake of KICC's
//! server side to test it (and openimp end to end) with no network.
//!
//! - [`protocol`]: the `msgAuthValue` HMAC, KICC's dates and ids, its field rules;
//! - [`hosts`]: KICC's hosts and paths, and the channel's `--endpoint`;
//! - [`wire`] / [`transformers`]: KICC's JSON bodies, and the checks its answers must pass;
//! - [`connector`]: [`KiccConnector`], openimp's `Connector` for `kicc` channels in live mode;
//! - [`fake`]: the fake KICC (`openimp fake-pg kicc`), a referee that checks what KICC checks.

pub mod connector;
pub mod fake;
pub mod hosts;
pub mod protocol;
pub mod transformers;
pub mod wire;

pub use connector::KiccConnector;
