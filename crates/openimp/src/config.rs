//! Where the data lives and how to open it: the data directory, the database URL, the vault.
//! The environment is read here (through clap) and nowhere below the binary.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use clap::Args;
use openimp_store::{Db, DbConfig, SqliteSync};
use openimp_vault::Vault;

use crate::datalock::{DataLock, LockMode};
use crate::secret::SecretSource;

/// Options every command that opens the database shares.
#[derive(Debug, Clone, Args)]
pub struct DataOptions {
    /// Directory for the embedded SQLite database and the master key file.
    #[arg(long, env = "OPENIMP_DATA_DIR", default_value = "./openimp-data", global = true)]
    pub data_dir: PathBuf,
    /// PostgreSQL URL (postgres://...); without it, SQLite in the data directory.
    #[arg(long, env = "OPENIMP_DATABASE_URL", global = true, hide_env_values = true)]
    pub database_url: Option<String>,
    /// File holding the PostgreSQL URL (it may carry a password); `-` reads standard input.
    #[arg(long, env = "OPENIMP_DATABASE_URL_FILE", global = true)]
    pub database_url_file: Option<PathBuf>,
    /// Largest number of database connections (PostgreSQL).
    #[arg(long, env = "OPENIMP_MAX_CONNECTIONS", default_value_t = 16, global = true)]
    pub max_connections: u32,
    /// PostgreSQL: group-commit writers for the hot writes (charges' pending and outcome rows),
    /// each on a connection of its own besides the pool.
    #[arg(long, env = "OPENIMP_BATCH_WRITERS", default_value_t = 2, global = true)]
    pub batch_writers: usize,
    /// SQLite durability: `group` (commits fsync'd together before answering) or `full`
    /// (every commit fsyncs on its own).
    #[arg(long, env = "OPENIMP_SQLITE_SYNC", default_value = "group", value_parser = ["group", "full"], global = true)]
    pub sqlite_sync: String,
    /// Master key (64 hex characters or base64 of 32 bytes); without it, `<data-dir>/master.key`
    /// is used, created on first start.
    #[arg(long, env = "OPENIMP_MASTER_KEY", global = true, hide_env_values = true)]
    pub master_key: Option<String>,
    /// File holding the master key (instead of --master-key); `-` reads standard input.
    #[arg(long, env = "OPENIMP_MASTER_KEY_FILE", global = true)]
    pub master_key_file: Option<PathBuf>,
}

impl DataOptions {
    /// Run once before any command: reads the secret files and makes the data directory
    /// private (0700, created before anything else so nothing in it is ever readable by others).
    pub fn prepare(mut self) -> anyhow::Result<DataOptions> {
        self.master_key = SecretSource {
            flag: "master-key",
            value: self.master_key.take(),
            file: self.master_key_file.take(),
        }
        .resolve()?;
        self.database_url = SecretSource {
            flag: "database-url",
            value: self.database_url.take(),
            file: self.database_url_file.take(),
        }
        .resolve()?;
        make_private_dir(&self.data_dir)?;
        Ok(self)
    }

    /// The master-key lock ([`crate::datalock`]), held by whoever uses the vault.
    pub async fn lock(&self, mode: LockMode) -> anyhow::Result<DataLock> {
        crate::datalock::acquire(&self.data_dir, self.database_url.as_deref(), mode).await
    }

    pub fn db_config(&self) -> anyhow::Result<DbConfig> {
        let url = match &self.database_url {
            Some(url) => url.clone(),
            None => {
                std::fs::create_dir_all(&self.data_dir).with_context(|| {
                    format!("cannot create data directory {}", self.data_dir.display())
                })?;
                let dir = std::fs::canonicalize(&self.data_dir)?;
                format!("sqlite://{}", dir.join("openimp.db").display())
            }
        };
        Ok(DbConfig {
            url,
            max_connections: self.max_connections,
            acquire_timeout: Duration::from_secs(5),
            batch_writers: self.batch_writers.max(1),
            sqlite_sync: if self.sqlite_sync == "full" {
                SqliteSync::Full
            } else {
                SqliteSync::Group
            },
        })
    }

    /// Connects and migrates.
    pub async fn open_db(&self) -> anyhow::Result<Db> {
        let config = self.db_config()?;
        Db::connect(&config).await.with_context(|| {
            format!("cannot open the database {}", openimp_store_redact(&config.url))
        })
    }

    /// The sandbox PG's own database. On SQLite it is a file of its own (`sandbox.db`), as a
    /// real PG keeps its own database, and so its writes never queue behind the gateway's
    /// single SQLite writer; on PostgreSQL it shares the gateway's database (its tables are
    /// prefixed `sandbox_`).
    pub async fn open_sandbox_db(&self, main: &Db) -> anyhow::Result<Db> {
        if let Some(url) = &self.database_url {
            if !url.starts_with("postgres") {
                return Ok(main.clone());
            }
            // The sandbox's commits need not wait for their WAL flush: PostgreSQL writes WAL in
            // order, so the gateway's durable commit of the payment's outcome, which always
            // follows the approval, flushes the approval with it; a crash before that loses both
            // together, and the reconciler then finds an order the PG never approved.
            let separator = if url.contains('?') { '&' } else { '?' };
            let mut config = self.db_config()?;
            config.url = format!("{url}{separator}options%5Bsynchronous_commit%5D=off");
            config.max_connections = self.max_connections.clamp(1, 8);
            return openimp_sandbox::open(&config)
                .await
                .context("cannot open the sandbox PG's database");
        }
        let mut config = self.db_config()?;
        let dir = std::fs::canonicalize(&self.data_dir)?;
        config.url = format!("sqlite://{}", dir.join("sandbox.db").display());
        openimp_sandbox::open(&config).await.context("cannot open the sandbox PG's database")
    }

    /// The vault, from OPENIMP_MASTER_KEY or the key file in the data directory.
    pub fn open_vault(&self) -> anyhow::Result<Arc<Vault>> {
        let env_key = self.master_key.as_deref();
        std::fs::create_dir_all(&self.data_dir)
            .with_context(|| format!("cannot create data directory {}", self.data_dir.display()))?;
        let vault =
            Vault::load_or_create(&self.data_dir, env_key).context("cannot load the master key")?;
        Ok(Arc::new(vault))
    }

    pub fn demo_file(&self) -> PathBuf {
        Path::new(&self.data_dir).join("demo-merchant.json")
    }
}

fn openimp_store_redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme_end), Some(at)) if at > scheme_end => {
            format!("{}://***{}", &url[..scheme_end], &url[at..])
        }
        _ => url.to_owned(),
    }
}

/// The files openimp keeps in the data directory (by name prefix: `-wal`, `-shm`, `.old`...);
/// only these are ever re-moded, whatever else an operator keeps there.
const OWN_FILES: &[&str] =
    &["openimp.db", "sandbox.db", "master.key", "demo-merchant.json", "openimp.lock"];

/// Creates the data directory 0700 (parents too). An existing one keeps its mode, with a warning
/// when others can read it, and openimp's files in it that others can read are made 0600: databases
/// created by versions before the process umask was 077 were 0644.
fn make_private_dir(dir: &Path) -> anyhow::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    let existed = dir.is_dir();
    builder
        .create(dir)
        .with_context(|| format!("cannot create data directory {}", dir.display()))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir)?.permissions().mode();
        if existed && mode & 0o077 != 0 {
            eprintln!(
                "openimp: warning: data directory {} is readable by other users (mode {:o}); run `chmod 700 {}`",
                dir.display(),
                mode & 0o777,
                dir.display()
            );
        }
        for entry in std::fs::read_dir(dir)?.flatten() {
            let name = entry.file_name();
            let ours = OWN_FILES.iter().any(|own| name.to_string_lossy().starts_with(own));
            let Ok(meta) = entry.metadata() else { continue };
            if ours && meta.is_file() && meta.permissions().mode() & 0o077 != 0 {
                let _ =
                    std::fs::set_permissions(entry.path(), std::fs::Permissions::from_mode(0o600));
            }
        }
    }
    #[cfg(not(unix))]
    let _ = existed;
    Ok(())
}

/// `openimp serve`'s HTTP timeouts and connection cap (see `openimp_http::server`). The
/// defaults suit production behind a reverse proxy.
#[derive(Debug, Clone, Args)]
pub struct ServerLimitOptions {
    /// Seconds a client has to send a request's headers (slowloris); also closes idle
    /// keep-alive connections.
    #[arg(long, env = "OPENIMP_HEADER_TIMEOUT_SECS", default_value_t = 10)]
    pub header_timeout_secs: u64,
    /// Seconds a client has to send a request's body; then 408.
    #[arg(long, env = "OPENIMP_BODY_TIMEOUT_SECS", default_value_t = 30)]
    pub body_timeout_secs: u64,
    /// Seconds a request may take in all; then 408. Must exceed --pg-timeout-secs, so that a
    /// charge waiting on its PG is answered with its outcome.
    #[arg(long, env = "OPENIMP_REQUEST_TIMEOUT_SECS", default_value_t = 60)]
    pub request_timeout_secs: u64,
    /// Open HTTP connections at most; more clients wait in the listen backlog.
    #[arg(long, env = "OPENIMP_MAX_HTTP_CONNECTIONS", default_value_t = 10_000)]
    pub max_http_connections: usize,
}

impl ServerLimitOptions {
    /// The limits, refused when a request could time out before its PG call does.
    pub fn limits(
        &self,
        pg_timeout: Duration,
    ) -> anyhow::Result<openimp_http::server::ServerLimits> {
        let request_timeout = Duration::from_secs(self.request_timeout_secs);
        anyhow::ensure!(
            request_timeout > pg_timeout,
            "--request-timeout-secs ({}) must be longer than --pg-timeout-secs ({})",
            self.request_timeout_secs,
            pg_timeout.as_secs()
        );
        anyhow::ensure!(
            self.header_timeout_secs > 0 && self.body_timeout_secs > 0 && self.max_http_connections > 0,
            "--header-timeout-secs, --body-timeout-secs and --max-http-connections must be positive"
        );
        Ok(openimp_http::server::ServerLimits {
            header_read_timeout: Duration::from_secs(self.header_timeout_secs),
            body_timeout: Duration::from_secs(self.body_timeout_secs),
            request_timeout,
            max_connections: self.max_http_connections,
        })
    }
}
