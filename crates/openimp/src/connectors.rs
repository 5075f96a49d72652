//! The connector registry of this build, filled in one place: every command that runs the
//! services (`serve`, `worker`, the administration commands) gets its PGs from [`connectors`].
//!
//! Adding a PG is one line in [`connectors`] (`.with_live(provider, aliases, connector)`) and
//! the connector's own crate; no service code changes (ARCHITECTURE.md, "Adding a third PG").

use std::sync::Arc;
use std::time::Duration;

use openimp_pg::registry::Connectors;
use openimp_pg::transport::PgHttp;
use openimp_pg::SalesSlips;
use openimp_sandbox::SandboxPg;
use openimp_store::Db;

use crate::config::DataOptions;

/// What the connectors are built with.
#[derive(Debug, Clone, Copy)]
pub struct ConnectorOptions {
    /// The delay the sandbox PG adds to every call (a slow PG, for tests and benchmarks).
    pub sandbox_delay: Duration,
    /// The PG timeout: each live connector's own HTTP calls (its follow-ups such as a
    /// net-cancel included) are bounded by it too.
    pub pg_timeout: Duration,
}

/// The PGs of this process: the registry the services pick from, and the sandbox's sales
/// slips for the HTTP layer's receipt page.
pub struct Pgs {
    pub connectors: Connectors,
    pub sales_slips: Arc<dyn SalesSlips>,
}

/// Builds the registry: the sandbox PG (on its own database) answers every test-mode channel,
/// and each live connector of this build its provider's live channels.
pub async fn connectors(
    data: &DataOptions,
    main: &Db,
    options: ConnectorOptions,
) -> anyhow::Result<Pgs> {
    let sandbox =
        Arc::new(SandboxPg::new(data.open_sandbox_db(main).await?, options.sandbox_delay));
    // The one HTTP client of the live connectors.
    let _http = PgHttp::new(options.pg_timeout);
    let connectors = Connectors::new(sandbox.clone());
    // Live connectors, one line each, e.g.:
    // let connectors = connectors.with_live("html5_inicis", &["inicis"], Arc::new(openimp_inicis::Inicis::new(_http.clone())));
    #[cfg(feature = "scripted-pg")]
    let connectors = connectors.with_live(
        crate::scripted_pg::PROVIDER,
        &[],
        Arc::new(crate::scripted_pg::ScriptedPg),
    );
    Ok(Pgs { connectors, sales_slips: sandbox })
}
