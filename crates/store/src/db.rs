//! Connecting, migrating, and the durability barrier that lets SQLite group its fsyncs.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use sqlx::any::AnyPoolOptions;
use sqlx::{Any, AnyPool, Executor, Row};

use crate::batch::{SqliteBatchWriter, Value};
use crate::pg_batch::PgBatchWriter;

/// Which database a [`Db`] talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// How SQLite makes a commit durable before openimp answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SqliteSync {
    /// `synchronous=FULL`: every commit fsyncs the WAL itself.
    Full,
    /// Group commit: commits run with `synchronous=NORMAL`, and [`Db::durable`] waits for one
    /// shared `fdatasync` of the WAL that covers every commit finished before it started.
    Group,
}

/// How to reach the database.
#[derive(Debug, Clone)]
pub struct DbConfig {
    /// `sqlite:///abs/path.db` or `postgres://...`.
    pub url: String,
    /// Pool size for PostgreSQL (SQLite always writes through one connection).
    pub max_connections: u32,
    pub acquire_timeout: Duration,
    pub sqlite_sync: SqliteSync,
    /// PostgreSQL: how many group-commit writers (each with a connection of its own, besides
    /// the pool) carry the hot writes.
    pub batch_writers: usize,
}

/// A store failure, in terms the services can act on.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A unique constraint refused the write (a duplicate `merchant_uid`, key, ...).
    #[error("conflict: {0}")]
    Conflict(String),
    /// The database cannot be reached or timed out handing out a connection.
    #[error("database unavailable: {0}")]
    Unavailable(String),
    /// The database refuses writes: disk full, a read-only file, directory or database, an I/O
    /// error. The failed statement (and, on SQLite, possibly its whole transaction) was undone.
    #[error("database cannot write: {0}")]
    Unwritable(String),
    /// Anything else: a bug, a corrupt row.
    #[error("database error: {0}")]
    Other(String),
}

impl From<sqlx::Error> for StoreError {
    fn from(err: sqlx::Error) -> Self {
        match &err {
            sqlx::Error::Database(db) if db.is_unique_violation() => {
                StoreError::Conflict(db.message().to_owned())
            }
            sqlx::Error::Database(db) if is_unwritable(db.code().as_deref()) => {
                StoreError::Unwritable(err.to_string())
            }
            sqlx::Error::PoolTimedOut
            | sqlx::Error::PoolClosed
            | sqlx::Error::Io(_)
            | sqlx::Error::Tls(_) => StoreError::Unavailable(err.to_string()),
            sqlx::Error::Database(db)
                if is_busy(db.message()) || is_connection_loss(db.code().as_deref()) =>
            {
                StoreError::Unavailable(err.to_string())
            }
            // A connection that broke under us (the server went away mid-session).
            sqlx::Error::Protocol(_) | sqlx::Error::WorkerCrashed => {
                StoreError::Unavailable(err.to_string())
            }
            _ => StoreError::Other(err.to_string()),
        }
    }
}

/// SQLSTATE classes 08 (connection exception) and 57P (operator intervention: shutdown,
/// crash, cannot connect now) mean the database went away, not that the query was wrong.
fn is_connection_loss(code: Option<&str>) -> bool {
    code.is_some_and(|code| code.starts_with("08") || code.starts_with("57P"))
}

/// Disk full, read-only, I/O error. SQLite reports its (extended) result code as a number:
/// SQLITE_READONLY 8, SQLITE_IOERR 10, SQLITE_FULL 13, SQLITE_CANTOPEN 14 in the low byte.
/// PostgreSQL reports a five-character SQLSTATE: 53100 disk_full, 25006
/// read_only_sql_transaction (a standby, or `default_transaction_read_only`), 58030 io_error.
pub(crate) fn is_unwritable(code: Option<&str>) -> bool {
    match code {
        Some(sqlstate) if sqlstate.len() == 5 => {
            matches!(sqlstate, "53100" | "25006" | "58030")
        }
        Some(sqlite) => {
            sqlite.parse::<i32>().is_ok_and(|code| matches!(code & 0xff, 8 | 10 | 13 | 14))
        }
        None => false,
    }
}

fn is_busy(message: &str) -> bool {
    message.contains("database is locked") || message.contains("the database system is")
}

impl StoreError {
    /// The same error, for answering several callers with it.
    pub(crate) fn duplicate(&self) -> StoreError {
        match self {
            StoreError::Conflict(m) => StoreError::Conflict(m.clone()),
            StoreError::Unavailable(m) => StoreError::Unavailable(m.clone()),
            StoreError::Unwritable(m) => StoreError::Unwritable(m.clone()),
            StoreError::Other(m) => StoreError::Other(m.clone()),
        }
    }
}

impl From<StoreError> for openimp_core::ApiError {
    fn from(err: StoreError) -> Self {
        match err {
            StoreError::Unavailable(detail) => openimp_core::ApiError::Unavailable(detail),
            StoreError::Unwritable(detail) => openimp_core::ApiError::Unwritable(detail),
            StoreError::Conflict(detail) | StoreError::Other(detail) => {
                openimp_core::ApiError::Internal(detail)
            }
        }
    }
}

/// An open write transaction.
pub type Tx = sqlx::Transaction<'static, Any>;

/// The database handle every store function takes. Cheap to clone.
#[derive(Clone)]
pub struct Db {
    inner: Arc<DbInner>,
}

struct DbInner {
    backend: Backend,
    /// Reads. On PostgreSQL the same pool as `writer`.
    reader: AnyPool,
    /// Writes. On SQLite one connection, so writers queue in the pool instead of spinning on
    /// `SQLITE_BUSY`.
    writer: AnyPool,
    wal_sync: Option<WalSync>,
    /// The group-commit writer for the hot single-statement writes.
    batch: Batch,
    /// Set by [`Db::watch_health`] while the database does not answer, so requests can be
    /// refused at once instead of each waiting out the pool's acquire timeout.
    down: AtomicBool,
    /// Wakes the health probe early (a request just found the database unreachable).
    probe_now: tokio::sync::Notify,
    /// Where the health probe connects (its own connection: a busy pool is not an outage).
    url: String,
}

/// Where [`Db::execute_durable`] sends its statement.
enum Batch {
    Sqlite(SqliteBatchWriter),
    Postgres(PgBatchWriter),
}

impl Db {
    /// Connects and runs the migrations.
    pub async fn connect(config: &DbConfig) -> Result<Db, StoreError> {
        let db = Db::connect_without_migrating(config).await?;
        db.migrate().await?;
        Ok(db)
    }

    /// Connects without touching the schema.
    pub async fn connect_without_migrating(config: &DbConfig) -> Result<Db, StoreError> {
        sqlx::any::install_default_drivers();
        let backend = if config.url.starts_with("sqlite:") {
            Backend::Sqlite
        } else if config.url.starts_with("postgres:") || config.url.starts_with("postgresql:") {
            Backend::Postgres
        } else {
            return Err(StoreError::Other(format!(
                "unsupported database url (expected sqlite: or postgres:): {}",
                redact_url(&config.url)
            )));
        };
        match backend {
            Backend::Sqlite => {
                let synchronous = match config.sqlite_sync {
                    SqliteSync::Full => "FULL",
                    SqliteSync::Group => "NORMAL",
                };
                let pool = |max: u32| {
                    AnyPoolOptions::new()
                        .max_connections(max)
                        .min_connections(1)
                        .acquire_timeout(config.acquire_timeout)
                        // sqlx already pings every connection when it comes back to the pool
                        // (and drops a broken one); a second ping on the way out would cost
                        // each query another round trip.
                        .test_before_acquire(false)
                        .after_connect(move |conn, _meta| {
                            Box::pin(async move {
                                conn.execute("PRAGMA busy_timeout = 10000").await?;
                                conn.execute("PRAGMA journal_mode = WAL").await?;
                                conn.execute(&*format!("PRAGMA synchronous = {synchronous}"))
                                    .await?;
                                Ok(())
                            })
                        })
                };
                let url = sqlite_url_with_create(&config.url);
                let writer = pool(1).connect(&url).await?;
                let reader = pool(4).connect(&url).await?;
                let wal_path = sqlite_wal_path(&config.url);
                let db_path = PathBuf::from(wal_path.to_string_lossy().trim_end_matches("-wal"));
                let batch = Batch::Sqlite(SqliteBatchWriter::open(&db_path)?);
                let wal_sync = match config.sqlite_sync {
                    SqliteSync::Full => None,
                    SqliteSync::Group => Some(WalSync::new(wal_path)),
                };
                Ok(Db {
                    inner: Arc::new(DbInner {
                        backend,
                        reader,
                        writer,
                        wal_sync,
                        batch,
                        down: AtomicBool::new(false),
                        probe_now: tokio::sync::Notify::new(),
                        url: config.url.clone(),
                    }),
                })
            }
            Backend::Postgres => {
                let pool = AnyPoolOptions::new()
                    .max_connections(config.max_connections)
                    .min_connections(0)
                    .acquire_timeout(config.acquire_timeout)
                    // See above: the release ping already weeds out broken connections.
                    .test_before_acquire(false)
                    .connect_lazy(&config.url)?;
                Ok(Db {
                    inner: Arc::new(DbInner {
                        backend,
                        reader: pool.clone(),
                        writer: pool,
                        wal_sync: None,
                        batch: Batch::Postgres(PgBatchWriter::start(
                            &config.url,
                            config.batch_writers,
                            config.acquire_timeout,
                        )),
                        down: AtomicBool::new(false),
                        probe_now: tokio::sync::Notify::new(),
                        url: config.url.clone(),
                    }),
                })
            }
        }
    }

    pub fn backend(&self) -> Backend {
        self.inner.backend
    }

    /// The pool for reads.
    pub fn reader(&self) -> &AnyPool {
        &self.inner.reader
    }

    /// The pool for single-statement writes.
    pub fn writer(&self) -> &AnyPool {
        &self.inner.writer
    }

    /// Starts a write transaction. On SQLite it takes the write lock at once (`BEGIN
    /// IMMEDIATE`), so a transaction that reads before writing cannot dead-end on `SQLITE_BUSY`.
    pub async fn begin(&self) -> Result<Tx, StoreError> {
        let tx = match self.inner.backend {
            Backend::Sqlite => match self.inner.writer.begin_with("BEGIN IMMEDIATE").await {
                Err(sqlx::Error::InvalidSavePointStatement) => {
                    // A COMMIT that failed (disk full, an I/O error) after SQLite had rolled the
                    // transaction back leaves sqlx counting an open transaction on the one write
                    // connection, and every later BEGIN fails: replace that connection.
                    tracing::warn!("replacing the SQLite write connection after a failed commit");
                    if let Ok(stuck) = self.inner.writer.acquire().await {
                        let _ = stuck.close().await;
                    }
                    self.inner.writer.begin_with("BEGIN IMMEDIATE").await?
                }
                begun => begun?,
            },
            Backend::Postgres => self.inner.writer.begin().await?,
        };
        Ok(tx)
    }

    /// Runs one write statement and returns once it is committed durably, with the number of
    /// rows it changed. It joins the next batch of a group-commit writer (`batch.rs` on
    /// SQLite, `pg_batch.rs` on PostgreSQL), so the statement must not depend on others
    /// committing with it or apart from it.
    pub async fn execute_durable(
        &self,
        sql: String,
        params: Vec<Value>,
    ) -> Result<u64, StoreError> {
        match &self.inner.batch {
            Batch::Sqlite(batch) => batch.execute(sql, params).await,
            Batch::Postgres(batch) => batch.execute(sql, params).await,
        }
    }

    /// Returns once every commit finished before the call is on stable storage. Call it after
    /// a commit and before answering the client. A no-op unless SQLite runs group commit.
    pub async fn durable(&self) -> Result<(), StoreError> {
        match &self.inner.wal_sync {
            Some(wal_sync) => wal_sync.sync().await,
            None => Ok(()),
        }
    }

    /// `FOR UPDATE SKIP LOCKED` where the backend has row locks (PostgreSQL), nothing on SQLite
    /// whose write transactions are already exclusive.
    pub fn skip_locked(&self) -> &'static str {
        match self.inner.backend {
            Backend::Sqlite => "",
            Backend::Postgres => " FOR UPDATE SKIP LOCKED",
        }
    }

    /// `FOR UPDATE` on PostgreSQL, nothing on SQLite.
    pub fn for_update(&self) -> &'static str {
        match self.inner.backend {
            Backend::Sqlite => "",
            Backend::Postgres => " FOR UPDATE",
        }
    }

    /// Whether the database answers a trivial query.
    pub async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").execute(&self.inner.reader).await?;
        Ok(())
    }

    /// Whether the database takes a write of some size: a 32 KB row inserted and deleted in
    /// one committed transaction (table `write_probe`, migration 0011). A full disk or a
    /// read-only data directory fails it with [`StoreError::Unwritable`]; a read ping would
    /// not notice either. The row never outlives the transaction, and the pages it used are
    /// reused by the next probe.
    pub async fn probe_write(&self) -> Result<(), StoreError> {
        let id = i64::from_str_radix(&openimp_core::ids::random_hex(7), 16)
            .map_err(|err| StoreError::Other(err.to_string()))?;
        // Random text: PostgreSQL would compress a repetitive one to nothing.
        let filler = openimp_core::ids::random_hex(16 * 1024);
        let mut tx = self.begin().await?;
        sqlx::query("INSERT INTO write_probe (id, filler) VALUES ($1, $2)")
            .bind(id)
            .bind(filler)
            .execute(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM write_probe WHERE id = $1").bind(id).execute(&mut *tx).await?;
        tx.commit().await?;
        self.durable().await
    }

    /// Whether the last health probe found the database unreachable (see [`Db::watch_health`]).
    pub fn is_down(&self) -> bool {
        self.inner.down.load(Ordering::Relaxed)
    }

    /// A request found PostgreSQL unreachable: refuse the next ones at once, and let the health
    /// probe check now (it clears the mark if the database answers). On SQLite an unavailable
    /// error means a busy lock, not an outage, so nothing changes.
    pub fn report_unavailable(&self) {
        if self.inner.backend == Backend::Postgres {
            self.inner.down.store(true, Ordering::Relaxed);
            self.inner.probe_now.notify_one();
        }
    }

    /// Probes the database every `interval` until `shutdown` fires, keeping [`Db::is_down`]
    /// current. The probe pings on a connection of its own, outside the pool (connecting again
    /// after a failure), each attempt given a second: a pool busy with load must not look like
    /// an outage. A failure is logged once per outage. PostgreSQL only (a server that can go
    /// away); on SQLite there is nothing to watch.
    pub fn watch_health(
        &self,
        interval: Duration,
        mut shutdown: tokio::sync::watch::Receiver<bool>,
    ) -> Option<tokio::task::JoinHandle<()>> {
        if self.inner.backend != Backend::Postgres {
            return None;
        }
        let db = self.clone();
        Some(tokio::spawn(async move {
            let mut conn: Option<sqlx::AnyConnection> = None;
            loop {
                let probe = tokio::time::timeout(Duration::from_secs(1), async {
                    if conn.is_none() {
                        conn = Some(
                            <sqlx::AnyConnection as sqlx::Connection>::connect(&db.inner.url)
                                .await?,
                        );
                    }
                    match conn.as_mut() {
                        Some(conn) => sqlx::Connection::ping(conn).await,
                        None => Ok(()),
                    }
                })
                .await;
                let down = !matches!(probe, Ok(Ok(())));
                if down {
                    conn = None;
                }
                let was_down = db.inner.down.swap(down, Ordering::Relaxed);
                match (was_down, down) {
                    (false, true) => tracing::error!(
                        "the database does not answer; requests get 503 until it does"
                    ),
                    (true, false) => tracing::info!("the database answers"),
                    _ => {}
                }
                tokio::select! {
                    _ = tokio::time::sleep(interval) => {}
                    _ = db.inner.probe_now.notified() => {}
                    _ = shutdown.changed() => return,
                }
            }
        }))
    }

    /// (connections in use, idle connections, max) of the main pool, for `/metrics`.
    pub fn pool_usage(&self) -> (u32, u32, u32) {
        let pool = &self.inner.writer;
        let size = pool.size();
        let idle = u32::try_from(pool.num_idle()).unwrap_or(u32::MAX);
        (size.saturating_sub(idle), idle, pool.options().get_max_connections())
    }

    /// Applies every migration not applied yet. Safe to run from several processes at once.
    pub async fn migrate(&self) -> Result<(), StoreError> {
        let mut conn = self.inner.writer.acquire().await?;
        if self.inner.backend == Backend::Postgres {
            // One migrator at a time across nodes; released when the session ends or below.
            sqlx::query("SELECT pg_advisory_lock(727274)").execute(&mut *conn).await?;
        }
        let result = self.migrate_locked(&mut conn).await;
        if self.inner.backend == Backend::Postgres {
            sqlx::query("SELECT pg_advisory_unlock(727274)").execute(&mut *conn).await?;
        }
        result
    }

    async fn migrate_locked(
        &self,
        conn: &mut sqlx::pool::PoolConnection<Any>,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "CREATE TABLE IF NOT EXISTS schema_migrations (version BIGINT PRIMARY KEY, name TEXT NOT NULL, applied_at BIGINT NOT NULL)",
        )
        .execute(&mut **conn)
        .await?;
        for (version, name, sql) in MIGRATIONS {
            let begin = match self.inner.backend {
                Backend::Sqlite => "BEGIN IMMEDIATE",
                Backend::Postgres => "BEGIN",
            };
            let mut tx = sqlx::Connection::begin_with(&mut **conn, begin).await?;
            let applied: Option<i64> =
                sqlx::query("SELECT version FROM schema_migrations WHERE version = $1")
                    .bind(*version)
                    .fetch_optional(&mut *tx)
                    .await?
                    .map(|row| row.get(0));
            if applied.is_some() {
                tx.rollback().await?;
                continue;
            }
            sqlx::raw_sql(sql).execute(&mut *tx).await?;
            sqlx::query(
                "INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)",
            )
            .bind(*version)
            .bind(*name)
            .bind(openimp_core::time::now())
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
            tracing::info!(version, name, "applied migration");
        }
        self.durable().await
    }

    /// Closes every connection (graceful shutdown).
    pub async fn close(&self) {
        self.inner.writer.close().await;
        self.inner.reader.close().await;
    }
}

/// The migrations, in order. Both backends run the same SQL: only `TEXT` and `BIGINT` columns,
/// partial unique indexes, and `ON CONFLICT`, which SQLite and PostgreSQL both understand.
const MIGRATIONS: &[(i64, &str, &str)] = &[
    (1, "core", include_str!("../migrations/0001_core.sql")),
    (2, "sandbox_pg", include_str!("../migrations/0002_sandbox_pg.sql")),
    (3, "schedules_webhooks", include_str!("../migrations/0003_schedules_webhooks.sql")),
    (4, "window", include_str!("../migrations/0004_window.sql")),
    (5, "pay_methods", include_str!("../migrations/0005_pay_methods.sql")),
    (6, "pending_index", include_str!("../migrations/0006_pending_index.sql")),
    (7, "idempotency_lease", include_str!("../migrations/0007_idempotency_lease.sql")),
    (10, "channel_keys", include_str!("../migrations/0010_channel_keys.sql")),
    (11, "cancel_inquiry", include_str!("../migrations/0011_cancel_inquiry.sql")),
    (12, "live_channels", include_str!("../migrations/0012_live_channels.sql")),
    (13, "console", include_str!("../migrations/0013_console.sql")),
];

/// Binds `params` in order.
pub(crate) fn bind_all<'q>(
    mut query: sqlx::query::Query<'q, Any, sqlx::any::AnyArguments<'q>>,
    params: &[Value],
) -> sqlx::query::Query<'q, Any, sqlx::any::AnyArguments<'q>> {
    for param in params {
        query = match param {
            Value::Int(v) => query.bind(*v),
            Value::Text(v) => query.bind(v.clone()),
            Value::NullInt => query.bind(None::<i64>),
            Value::NullText => query.bind(None::<String>),
        };
    }
    query
}

fn sqlite_url_with_create(url: &str) -> String {
    if url.contains("mode=") {
        url.to_owned()
    } else if url.contains('?') {
        format!("{url}&mode=rwc")
    } else {
        format!("{url}?mode=rwc")
    }
}

fn sqlite_wal_path(url: &str) -> PathBuf {
    let path = url.trim_start_matches("sqlite://").trim_start_matches("sqlite:");
    let path = path.split('?').next().unwrap_or(path);
    PathBuf::from(format!("{path}-wal"))
}

/// Hides the password of a database URL for messages.
pub fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme_end), Some(at)) if at > scheme_end => {
            let credentials = &url[scheme_end + 3..at];
            let user = credentials.split(':').next().unwrap_or("");
            format!("{}://{user}:***{}", &url[..scheme_end], &url[at..])
        }
        _ => url.to_owned(),
    }
}

/// Group commit for SQLite: many waiters, one `fdatasync` of the WAL file.
struct WalSync {
    wal_path: PathBuf,
    lock: tokio::sync::Mutex<()>,
    /// Tickets handed out: a ticket is taken after its commit finished.
    requested: AtomicU64,
    /// Every ticket up to this one is on stable storage.
    completed: AtomicU64,
}

impl WalSync {
    fn new(wal_path: PathBuf) -> WalSync {
        WalSync {
            wal_path,
            lock: tokio::sync::Mutex::new(()),
            requested: AtomicU64::new(0),
            completed: AtomicU64::new(0),
        }
    }

    async fn sync(&self) -> Result<(), StoreError> {
        let ticket = self.requested.fetch_add(1, Ordering::SeqCst) + 1;
        let _guard = self.lock.lock().await;
        if self.completed.load(Ordering::SeqCst) >= ticket {
            return Ok(());
        }
        // Every ticket up to `target` belongs to a commit that finished before this point, so
        // the fdatasync below covers all of them.
        let target = self.requested.load(Ordering::SeqCst);
        let path = self.wal_path.clone();
        tokio::task::spawn_blocking(move || {
            match std::fs::OpenOptions::new().write(true).open(&path) {
                Ok(file) => file.sync_data(),
                // No WAL file: the last connection checkpointed and removed it, and the
                // checkpoint already synced the database file.
                Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(()),
                Err(err) => Err(err),
            }
        })
        .await
        .map_err(|err| StoreError::Other(err.to_string()))?
        .map_err(|err| StoreError::Other(format!("fdatasync of the WAL failed: {err}")))?;
        self.completed.store(target, Ordering::SeqCst);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::is_unwritable;

    #[test]
    fn disk_full_read_only_and_io_errors_are_unwritable() {
        // SQLite: SQLITE_FULL, SQLITE_READONLY, SQLITE_READONLY_DBMOVED (1032), SQLITE_IOERR_WRITE
        // (778), SQLITE_CANTOPEN.
        for code in ["13", "8", "1032", "778", "14"] {
            assert!(is_unwritable(Some(code)), "{code}");
        }
        // PostgreSQL: disk_full, read_only_sql_transaction, io_error.
        for code in ["53100", "25006", "58030"] {
            assert!(is_unwritable(Some(code)), "{code}");
        }
        // A unique violation, a busy database, a syntax error, too many connections: not so.
        for code in ["2067", "5", "1", "23505", "53300", "42601"] {
            assert!(!is_unwritable(Some(code)), "{code}");
        }
        assert!(!is_unwritable(None));
    }
}
