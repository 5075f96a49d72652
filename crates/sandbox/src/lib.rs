//! The sandbox PG, apart from the gateway: a connector like any other ([`SandboxPg`]), with
//! its own tables ([`ledger`]) in a database of its own, as a real PG keeps its own.
//!
//! The binary registers it for every test-mode channel (`openimp_pg::registry::Connectors`)
//! and opens its database with [`open`]; services never name it. Its schema is its own
//! ([`schema::ensure`]), not the gateway's migration history (docs/decisions.md, "The sandbox
//! PG's own crate and schema").

pub mod ledger;
mod pg;
pub mod schema;

pub use pg::SandboxPg;

use openimp_store::{Db, DbConfig, StoreError};

/// Connects to the sandbox's database and makes sure its tables exist; the gateway's
/// migrations are not run there.
pub async fn open(config: &DbConfig) -> Result<Db, StoreError> {
    let db = Db::connect_without_migrating(config).await?;
    schema::ensure(&db).await?;
    Ok(db)
}
