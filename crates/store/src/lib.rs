//! Persistence for openimp, on SQLite (the embedded default) or PostgreSQL.
//!
//! One SQL dialect serves both backends through sqlx's `Any` driver: the schema uses only
//! `TEXT` and `BIGINT` columns, statements use `$1` placeholders (which SQLite also accepts),
//! and the few differences (transaction start, row locks) sit behind [`Db`]'s methods.
//!
//! - [`Db`]: the connection pools, migrations and the durability barrier.
//! - One module per aggregate: [`merchants`], [`tokens`], [`customers`], [`payments`], [`cancels`],
//!   [`prepares`], [`idempotency`], [`console`] (the web console's users, sessions, audit); each exposes plain async functions over a [`Db`].
//!
//! **Architecture invariant:** nothing here reads the environment or calls a PG; sealed values
//! arrive already sealed (base64 text) and leave sealed.

mod batch;
pub mod cancels;
pub mod console;
pub mod customers;
mod db;
pub mod idempotency;
pub mod merchants;
pub mod payments;
mod pg_batch;
pub mod prepares;
pub mod schedules;
pub mod tokens;
pub mod webhooks;
pub mod window;

pub use batch::Value;
pub use db::{Backend, Db, DbConfig, SqliteSync, StoreError, Tx};
