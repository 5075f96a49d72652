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
    let http = PgHttp::new(options.pg_timeout);
    let connectors = Connectors::new(sandbox.clone());
    // Live connectors, one line each.
    let connectors = connectors.with_live(
        "html5_inicis",
        &["inicis"],
        Arc::new(openimp_inicis::InicisConnector::new(http.clone(), inicis_options())),
    );
    let connectors =
        connectors.with_live("kicc", &[], Arc::new(openimp_kicc::KiccConnector::with_http(http)));
    #[cfg(feature = "scripted-pg")]
    let connectors = connectors.with_live(
        crate::scripted_pg::PROVIDER,
        &[],
        Arc::new(crate::scripted_pg::ScriptedPg),
    );
    Ok(Pgs { connectors, sales_slips: sandbox })
}

/// What KG Inicis's INIAPI is told about the merchant's server: `OPENIMP_INICIS_CLIENT_IP`
/// (`clientIp`, the address registered with KG Inicis; default `127.0.0.1`) and
/// `OPENIMP_INICIS_SITE_URL` (`url`; default `http://localhost`).
fn inicis_options() -> openimp_inicis::InicisOptions {
    let mut options = openimp_inicis::InicisOptions::default();
    let set = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
    if let Some(ip) = set("OPENIMP_INICIS_CLIENT_IP") {
        options.client_ip = ip;
    }
    if let Some(url) = set("OPENIMP_INICIS_SITE_URL") {
        options.site_url = url;
    }
    options
}
