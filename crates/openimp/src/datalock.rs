//! Who may use the master key now. Every command that opens the vault (serve, worker, the admin
//! commands) holds a shared lock for as long as it runs; `vault rotate` needs it exclusively and
//! refuses while anyone else holds it, since a running process keeps the old key in memory and
//! would seal new values under a key the rotation retires.
//!
//! SQLite: `flock` on `<data-dir>/openimp.lock` (released by the kernel when the process dies).
//! PostgreSQL: a session advisory lock on a connection of its own, so servers on other nodes
//! count too (released by PostgreSQL when the connection ends).

use std::fs::{File, OpenOptions};
use std::path::Path;
use std::time::Duration;

use anyhow::Context;
use sqlx::postgres::PgConnectOptions;
use sqlx::{Connection, PgConnection};

/// The advisory lock id (any constant works; this one spells "openimpv" in ASCII).
const PG_LOCK_ID: i64 = 0x6f70_656e_696d_7076;
const LOCK_FILE_NAME: &str = "openimp.lock";
/// How often a server checks that its PostgreSQL lock connection is still alive.
const PG_KEEPALIVE: Duration = Duration::from_secs(5);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LockMode {
    /// Uses the master key (every command but rotation).
    Shared,
    /// Replaces the master key (`vault rotate`).
    Exclusive,
}

/// Held until dropped (or the process ends).
pub struct DataLock {
    _file: Option<File>,
    _pg: Option<tokio::task::JoinHandle<()>>,
}

impl Drop for DataLock {
    fn drop(&mut self) {
        if let Some(keeper) = self._pg.take() {
            keeper.abort();
        }
    }
}

const BUSY_SHARED: &str =
    "`openimp vault rotate` is running on this data directory or database: wait for it to finish";
const BUSY_EXCLUSIVE: &str = "a server (serve or worker) or another openimp command is using this data directory or database: stop it before rotating the master key";

/// Someone holds the lock in a conflicting mode.
#[derive(Debug)]
struct Busy(LockMode);

impl std::fmt::Display for Busy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self.0 {
            LockMode::Shared => BUSY_SHARED,
            LockMode::Exclusive => BUSY_EXCLUSIVE,
        })
    }
}

impl std::error::Error for Busy {}

/// Takes the lock of the data directory (SQLite) or of the database (PostgreSQL), or refuses
/// with a message that says who holds it.
pub async fn acquire(
    data_dir: &Path,
    database_url: Option<&str>,
    mode: LockMode,
) -> anyhow::Result<DataLock> {
    match database_url.filter(|url| url.starts_with("postgres")) {
        Some(url) => {
            let conn = pg_lock(url, mode).await?;
            Ok(DataLock {
                _file: None,
                _pg: Some(tokio::spawn(keep_pg_lock(conn, url.to_owned(), mode))),
            })
        }
        None => Ok(DataLock { _file: Some(file_lock(data_dir, mode)?), _pg: None }),
    }
}

fn file_lock(data_dir: &Path, mode: LockMode) -> anyhow::Result<File> {
    let path = data_dir.join(LOCK_FILE_NAME);
    let mut options = OpenOptions::new();
    options.read(true).write(true).create(true).truncate(false);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let file = options.open(&path).with_context(|| format!("cannot open {}", path.display()))?;
    let taken = match mode {
        LockMode::Shared => file.try_lock_shared(),
        LockMode::Exclusive => file.try_lock(),
    };
    match taken {
        Ok(()) => Ok(file),
        Err(std::fs::TryLockError::WouldBlock) => Err(Busy(mode).into()),
        Err(std::fs::TryLockError::Error(err)) => {
            Err(err).with_context(|| format!("cannot lock {}", path.display()))
        }
    }
}

/// The lock connection's `application_name`, so operators can find it in `pg_stat_activity`.
pub const PG_APPLICATION_NAME: &str = "openimp master-key lock";

async fn pg_lock(url: &str, mode: LockMode) -> anyhow::Result<PgConnection> {
    let options = url
        .parse::<PgConnectOptions>()
        .context("bad PostgreSQL URL")?
        .application_name(PG_APPLICATION_NAME);
    let mut conn = PgConnection::connect_with(&options)
        .await
        .context("cannot connect to PostgreSQL for the master-key lock")?;
    let sql = match mode {
        LockMode::Shared => "SELECT pg_try_advisory_lock_shared($1)",
        LockMode::Exclusive => "SELECT pg_try_advisory_lock($1)",
    };
    let taken: bool = sqlx::query_scalar(sql)
        .bind(PG_LOCK_ID)
        .fetch_one(&mut conn)
        .await
        .context("cannot take the master-key lock")?;
    if !taken {
        return Err(Busy(mode).into());
    }
    Ok(conn)
}

/// Keeps the lock's connection alive. If it breaks (PostgreSQL restarted, the connection was
/// killed), the lock is gone: take it again, and if a rotation took it meanwhile, stop the
/// process rather than seal anything under the key being retired.
async fn keep_pg_lock(mut conn: PgConnection, url: String, mode: LockMode) {
    loop {
        tokio::time::sleep(PG_KEEPALIVE).await;
        if conn.ping().await.is_ok() {
            continue;
        }
        tracing::warn!("the master-key lock connection to PostgreSQL broke; taking the lock again");
        loop {
            match pg_lock(&url, mode).await {
                Ok(fresh) => {
                    conn = fresh;
                    break;
                }
                Err(err) if err.is::<Busy>() => {
                    tracing::error!("{err}; this process stops so that it never seals a value under a retired master key");
                    std::process::exit(3);
                }
                Err(err) => {
                    tracing::warn!(error = %format!("{err:#}"), "cannot take the master-key lock again yet");
                    tokio::time::sleep(PG_KEEPALIVE).await;
                }
            }
        }
    }
}
