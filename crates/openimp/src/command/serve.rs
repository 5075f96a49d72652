//! `openimp serve`: the API server, its reconciler, and the demo merchant of a new database.

use std::io::Write;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use clap::Args;
use openimp_service::login_limit::LoginLimit;
use openimp_service::merchants::NewMerchant;
use openimp_service::{Gateway, GatewayConfig};

use crate::config::DataOptions;
use crate::datalock::LockMode;

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on (port 0 picks a free port).
    #[arg(long, env = "OPENIMP_LISTEN", default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    /// Delay the sandbox PG adds to every call, in milliseconds (to simulate a slow PG).
    #[arg(long, env = "OPENIMP_SANDBOX_DELAY_MS", default_value_t = 0)]
    sandbox_delay_ms: u64,
    /// How long a PG call may take before its outcome counts as unknown.
    #[arg(long, env = "OPENIMP_PG_TIMEOUT_SECS", default_value_t = 30)]
    pg_timeout_secs: u64,
    /// How often the reconciler looks for payments with an unknown outcome.
    #[arg(long, default_value_t = 30)]
    reconcile_interval_secs: u64,
    /// A payment pending for longer than this is settled by asking its PG.
    #[arg(long, default_value_t = 60)]
    reconcile_after_secs: u64,
    /// The address merchants reach this server at (behind a proxy, say), for absolute receipt
    /// links; `http://<listen address>` by default.
    #[arg(long, env = "OPENIMP_PUBLIC_URL")]
    public_url: Option<String>,
    /// Failed getToken attempts per imp_key, and per client address, before further attempts
    /// are refused (HTTP 429) until the window ends.
    #[arg(long, env = "OPENIMP_LOGIN_MAX_FAILURES", default_value_t = openimp_service::login_limit::DEFAULT_MAX_FAILURES)]
    login_max_failures: u32,
    /// The window, in seconds, in which failed getToken attempts are counted.
    #[arg(long, env = "OPENIMP_LOGIN_WINDOW_SECS", default_value_t = openimp_service::login_limit::DEFAULT_WINDOW.as_secs())]
    login_window_secs: u64,
    /// Log lines as JSON.
    #[arg(long)]
    log_json: bool,
    /// How long a payment window stays usable, in seconds.
    #[arg(long, env = "OPENIMP_WINDOW_SESSION_TTL_SECS", default_value_t = openimp_service::window::SESSION_TTL_SECS)]
    window_session_ttl_secs: i64,
    /// Open (unused, unexpired) payment windows a merchant may have at once; more are refused.
    #[arg(long, env = "OPENIMP_WINDOW_SESSIONS_PER_MERCHANT", default_value_t = openimp_service::window::OPEN_SESSIONS_PER_MERCHANT)]
    window_sessions_per_merchant: i64,
    /// Do not serve the merchant web console at /console.
    #[arg(long, env = "OPENIMP_NO_CONSOLE", action = clap::ArgAction::SetTrue, value_parser = clap::builder::BoolishValueParser::new())]
    no_console: bool,
    /// Behind a reverse proxy that sets X-Forwarded-Proto (and strips it from clients): mark
    /// console cookies Secure when it says https. Without it, cookies are Secure when
    /// --public-url is https.
    #[arg(long, env = "OPENIMP_CONSOLE_TRUST_FORWARDED_PROTO", action = clap::ArgAction::SetTrue, value_parser = clap::builder::BoolishValueParser::new())]
    console_trust_forwarded_proto: bool,
    /// Failed console sign-ins of one email, within --console-lockout-secs, after which its
    /// sign-ins are refused until the window passes.
    #[arg(long, env = "OPENIMP_CONSOLE_LOCKOUT_FAILURES", default_value_t = 5)]
    console_lockout_failures: i64,
    #[arg(long, env = "OPENIMP_CONSOLE_LOCKOUT_SECS", default_value_t = 900)]
    console_lockout_secs: i64,
    /// Test only: abort right after a PG approval, before recording it.
    #[arg(long, hide = true)]
    fault_crash_after_pg_call: bool,
    #[command(flatten)]
    worker: super::worker::WorkerOptions,
    #[command(flatten)]
    limits: crate::config::ServerLimitOptions,
}

pub async fn run(data: &DataOptions, args: ServeArgs) -> anyhow::Result<()> {
    init_logging(args.log_json);
    let limits = args.limits.limits(Duration::from_secs(args.pg_timeout_secs))?;
    let _master_key_lock = data.lock(LockMode::Shared).await?;
    survive_file_size_limit();
    let vault = data.open_vault()?;
    let db = data.open_db().await?;
    let pgs = crate::connectors::connectors(
        data,
        &db,
        crate::connectors::ConnectorOptions {
            sandbox_delay: Duration::from_millis(args.sandbox_delay_ms),
            pg_timeout: Duration::from_secs(args.pg_timeout_secs),
        },
    )
    .await?;
    let gateway = Arc::new(
        Gateway::new(
            db.clone(),
            vault,
            pgs.connectors,
            GatewayConfig {
                pg_timeout: Duration::from_secs(args.pg_timeout_secs),
                reconcile_after: Duration::from_secs(args.reconcile_after_secs),
                crash_after_pg_call: args.fault_crash_after_pg_call,
                window_session_ttl_secs: args.window_session_ttl_secs.max(1),
                window_sessions_per_merchant: args.window_sessions_per_merchant.max(1),
            },
        )
        .with_webhook_options(args.worker.webhook_options())
        .with_login_limit(LoginLimit {
            max_failures: args.login_max_failures,
            window: Duration::from_secs(args.login_window_secs),
        }),
    );
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("cannot listen on {}", args.listen))?;
    let address = listener.local_addr()?;
    let public_url = args.public_url.clone().unwrap_or_else(|| format!("http://{address}"));
    gateway.set_public_url(&public_url);
    ensure_demo_merchant(data, &gateway, address).await?;
    let (shutdown_tx, shutdown_rx) = tokio::sync::watch::channel(false);
    let health = db.watch_health(Duration::from_millis(500), shutdown_rx.clone());
    let reconciler = tokio::spawn(gateway.clone().run_reconciler(
        Duration::from_secs(args.reconcile_interval_secs.max(1)),
        shutdown_rx.clone(),
    ));
    let workers = if args.worker.no_worker {
        Vec::new()
    } else {
        gateway.spawn_workers(args.worker.worker_config(), shutdown_rx.clone())
    };
    let api = openimp_http::router(openimp_http::AppState {
        gateway: gateway.clone(),
        sales_slips: pgs.sales_slips,
    });
    let app = if args.no_console {
        api
    } else {
        let config = openimp_console::ConsoleConfig {
            https: public_url.to_ascii_lowercase().starts_with("https://"),
            trust_forwarded_proto: args.console_trust_forwarded_proto,
            lockout: openimp_console::Lockout {
                max_failures: args.console_lockout_failures.max(1),
                window_secs: args.console_lockout_secs.max(1),
            },
        };
        let console = openimp_console::router(openimp_console::ConsoleState::new(gateway, config));
        axum::Router::new().nest("/console", console).merge(api)
    };
    {
        let mut stdout = std::io::stdout().lock();
        writeln!(stdout, "openimp listening on http://{address}")?;
        stdout.flush()?;
    }
    tracing::info!(%address, "listening");
    // The server hands every request its peer address (ConnectInfo) for getToken's throttle.
    openimp_http::server::serve(listener, app, limits, shutdown_signal()).await?;
    let _ = shutdown_tx.send(true);
    let _ = reconciler.await;
    if let Some(health) = health {
        let _ = health.await;
    }
    for worker in workers {
        let _ = worker.await;
    }
    db.close().await;
    Ok(())
}

pub(crate) fn init_logging(json: bool) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,sqlx=warn,tower_http=info"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    if json {
        builder.json().init();
    } else {
        builder.init();
    }
}

/// A file size limit (`ulimit -f`) reached while writing the database would kill the process
/// with SIGXFSZ. With the signal taken over, the write fails (EFBIG) instead: SQLite reports an
/// I/O error, and the request answers 503 "the database cannot be written", like a full disk.
fn survive_file_size_limit() {
    #[cfg(unix)]
    {
        // The handler stays installed for the life of the process; the stream is not needed.
        let file_size_limit = tokio::signal::unix::SignalKind::from_raw(libc::SIGXFSZ);
        if let Err(err) = tokio::signal::unix::signal(file_size_limit) {
            tracing::warn!(%err, "cannot take over SIGXFSZ; a file size limit would stop the server");
        }
    }
}

pub(crate) async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = terminate => {},
    }
    tracing::info!("shutting down");
}

/// On the first start of an empty embedded (SQLite) database, creates a demo merchant, keeps
/// its credentials in `<data-dir>/demo-merchant.json` (0600) and prints its secret, this once.
/// Later starts print its code and key and where the secret is, never the secret (stdout ends
/// up in logs). PostgreSQL is a production setup: no demo merchant there.
async fn ensure_demo_merchant(
    data: &DataOptions,
    gateway: &Gateway,
    listen: SocketAddr,
) -> anyhow::Result<()> {
    if data.database_url.is_some() {
        return Ok(());
    }
    let base = format!("http://{listen}");
    let demo_file = data.demo_file();
    if openimp_store::merchants::count(&gateway.db).await? == 0 {
        let credentials = gateway
            .create_merchant(NewMerchant {
                name: "demo".to_owned(),
                imp_key: None,
                imp_secret: None,
            })
            .await
            .map_err(|err| anyhow::anyhow!("cannot create the demo merchant: {err}"))?;
        let json = serde_json::json!({
            "imp_code": credentials.imp_code,
            "imp_key": credentials.imp_key,
            "imp_secret": credentials.imp_secret,
        });
        write_private(&demo_file, &serde_json::to_string_pretty(&json)?)?;
        print_demo(&json, &base, &demo_file, true)?;
    } else if let Ok(text) = std::fs::read_to_string(&demo_file) {
        if let Ok(json) = serde_json::from_str::<serde_json::Value>(&text) {
            print_demo(&json, &base, &demo_file, false)?;
        }
    }
    Ok(())
}

fn print_demo(
    json: &serde_json::Value,
    base: &str,
    demo_file: &std::path::Path,
    created: bool,
) -> anyhow::Result<()> {
    let field = |name: &str| json.get(name).and_then(|v| v.as_str()).unwrap_or("").to_owned();
    let mut out = std::io::stdout().lock();
    writeln!(out, "demo merchant (sandbox PG, test mode):")?;
    writeln!(out, "  merchant code (IMP.init): {}", field("imp_code"))?;
    writeln!(out, "  REST API key:             {}", field("imp_key"))?;
    if created {
        writeln!(out, "  REST API secret:          {}", field("imp_secret"))?;
        writeln!(
            out,
            "  (printed this once; also kept in {}, readable only by you)",
            demo_file.display()
        )?;
        writeln!(
            out,
            "  try: curl -s -X POST {base}/users/getToken -H 'Content-Type: application/json' -d '{{\"imp_key\":\"{}\",\"imp_secret\":\"{}\"}}'",
            field("imp_key"),
            field("imp_secret")
        )?;
    } else {
        writeln!(out, "  REST API secret:          in {}", demo_file.display())?;
    }
    out.flush()?;
    Ok(())
}

fn write_private(path: &std::path::Path, text: &str) -> anyhow::Result<()> {
    use std::fs::OpenOptions;
    #[cfg(unix)]
    use std::os::unix::fs::OpenOptionsExt;
    let mut options = OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    options.mode(0o600);
    let mut file =
        options.open(path).with_context(|| format!("cannot write {}", path.display()))?;
    file.write_all(text.as_bytes())?;
    Ok(())
}
