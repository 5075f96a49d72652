//! Group commit for SQLite's hot writes: one OS thread owns a write connection, drains every
//! write queued while it was busy, runs them in one `BEGIN IMMEDIATE ... COMMIT`
//! (`synchronous=FULL`, so one fsync covers the batch), then answers each caller.
//!
//! Each job is a single statement; a statement that fails (a unique violation) is undone alone,
//! as SQLite does inside a transaction, and the others still commit. Callers get their answer
//! only after the commit, so every answer is durable.
//!
//! Some errors (disk full, an I/O error) make SQLite roll the **whole** transaction back. The
//! writer then notices that the connection is back in autocommit and stops: the statements run
//! before were undone, and the ones after are never executed (they would each commit on their
//! own). Every job of that batch is answered with an error, so no write reported failed was
//! committed and none reported done was lost.

use std::path::Path;
use std::sync::mpsc;

use rusqlite::types::{ToSqlOutput, Value as SqliteValue};
use rusqlite::ToSql;

use crate::db::StoreError;

/// A bound parameter, typed so that PostgreSQL also gets the right type for a NULL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    Int(i64),
    Text(String),
    NullInt,
    NullText,
}

impl From<i64> for Value {
    fn from(v: i64) -> Self {
        Value::Int(v)
    }
}

impl From<Option<i64>> for Value {
    fn from(v: Option<i64>) -> Self {
        v.map_or(Value::NullInt, Value::Int)
    }
}

impl From<&str> for Value {
    fn from(v: &str) -> Self {
        Value::Text(v.to_owned())
    }
}

impl From<&String> for Value {
    fn from(v: &String) -> Self {
        Value::Text(v.clone())
    }
}

impl From<&Option<String>> for Value {
    fn from(v: &Option<String>) -> Self {
        v.as_ref().map_or(Value::NullText, |s| Value::Text(s.clone()))
    }
}

impl ToSql for Value {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(match self {
            Value::Int(v) => ToSqlOutput::Owned(SqliteValue::Integer(*v)),
            Value::Text(v) => ToSqlOutput::Owned(SqliteValue::Text(v.clone())),
            Value::NullInt | Value::NullText => ToSqlOutput::Owned(SqliteValue::Null),
        })
    }
}

struct Job {
    sql: String,
    params: Vec<Value>,
    reply: tokio::sync::oneshot::Sender<Result<u64, StoreError>>,
}

/// The writer thread's mailbox.
pub(crate) struct SqliteBatchWriter {
    sender: mpsc::Sender<Job>,
}

/// Most statements one commit carries.
const MAX_BATCH: usize = 512;

impl SqliteBatchWriter {
    /// Opens the write connection on `path` and starts its thread.
    pub(crate) fn open(path: &Path) -> Result<SqliteBatchWriter, StoreError> {
        SqliteBatchWriter::start(connect(path)?)
    }

    /// Starts the writer thread on a connection [`connect`] opened.
    fn start(conn: rusqlite::Connection) -> Result<SqliteBatchWriter, StoreError> {
        let (sender, receiver) = mpsc::channel::<Job>();
        std::thread::Builder::new()
            .name("openimp-sqlite-writer".to_owned())
            .spawn(move || run(&conn, &receiver))
            .map_err(|err| StoreError::Other(format!("cannot start the SQLite writer: {err}")))?;
        Ok(SqliteBatchWriter { sender })
    }

    /// Runs one statement in the next batch; answers the number of rows it changed, once the
    /// batch is committed.
    pub(crate) async fn execute(&self, sql: String, params: Vec<Value>) -> Result<u64, StoreError> {
        let (reply, answer) = tokio::sync::oneshot::channel();
        self.sender
            .send(Job { sql, params, reply })
            .map_err(|_| StoreError::Unavailable("the SQLite writer has stopped".to_owned()))?;
        answer
            .await
            .map_err(|_| StoreError::Unavailable("the SQLite writer has stopped".to_owned()))?
    }
}

/// Opens and configures the write connection on `path`.
fn connect(path: &Path) -> Result<rusqlite::Connection, StoreError> {
    let conn = rusqlite::Connection::open(path).map_err(map_error)?;
    conn.busy_timeout(std::time::Duration::from_secs(10)).map_err(map_error)?;
    conn.pragma_update(None, "journal_mode", "WAL").map_err(map_error)?;
    conn.pragma_update(None, "synchronous", "FULL").map_err(map_error)?;
    // This thread checkpoints (SQLite's automatic PASSIVE checkpoint after a commit that
    // leaves more than 1000 pages in the WAL). Between its batches nothing else appends, so
    // the checkpoint can copy every frame back and the next batch restarts the WAL from its
    // start. A checkpoint on another connection, racing the commits, never catches up: the
    // WAL then grows without end and each commit pays for extending the file.
    conn.pragma_update(None, "wal_autocheckpoint", 1000).map_err(map_error)?;
    conn.set_prepared_statement_cache_capacity(64);
    Ok(conn)
}

fn run(conn: &rusqlite::Connection, receiver: &mpsc::Receiver<Job>) {
    while let Ok(first) = receiver.recv() {
        let mut jobs = vec![first];
        while jobs.len() < MAX_BATCH {
            match receiver.try_recv() {
                Ok(job) => jobs.push(job),
                Err(_) => break,
            }
        }
        if let Err(err) = conn.execute_batch("BEGIN IMMEDIATE") {
            let err = map_error(err);
            for job in jobs {
                let _ = job.reply.send(Err(err.duplicate()));
            }
            continue;
        }
        let (results, rolled_back_by) = execute_all(conn, &jobs);
        let commit = match rolled_back_by {
            // SQLite already undid the transaction: there is nothing to commit.
            Some(cause) => Err(rolled_back(&cause)),
            None => conn.execute_batch("COMMIT").map_err(map_error),
        };
        if commit.is_err() && !conn.is_autocommit() {
            let _ = conn.execute_batch("ROLLBACK");
        }
        for (job, result) in jobs.into_iter().zip(results) {
            let answer = match (&commit, result) {
                // A failed statement keeps its own error (its caller learns why).
                (Err(_), Err(own)) => Err(own),
                (Err(err), Ok(_)) => Err(err.duplicate()),
                (Ok(()), result) => result,
            };
            let _ = job.reply.send(answer);
        }
    }
}

/// Runs the batch's statements in order inside the open transaction. Returns each result and,
/// if SQLite rolled the whole transaction back, the error that made it: the statements after
/// it are then not executed (each would commit on its own, in autocommit).
fn execute_all(
    conn: &rusqlite::Connection,
    jobs: &[Job],
) -> (Vec<Result<u64, StoreError>>, Option<StoreError>) {
    let mut results = Vec::with_capacity(jobs.len());
    let mut stopped_by: Option<StoreError> = None;
    for job in jobs {
        if let Some(cause) = &stopped_by {
            results.push(Err(rolled_back(cause)));
            continue;
        }
        let result = execute_one(conn, job);
        if let Err(err) = &result {
            if conn.is_autocommit() {
                stopped_by = Some(err.duplicate());
            }
        }
        results.push(result);
    }
    (results, stopped_by)
}

fn execute_one(conn: &rusqlite::Connection, job: &Job) -> Result<u64, StoreError> {
    let mut statement = conn.prepare_cached(&job.sql).map_err(map_error)?;
    let changed =
        statement.execute(rusqlite::params_from_iter(job.params.iter())).map_err(map_error)?;
    Ok(u64::try_from(changed).unwrap_or(u64::MAX))
}

/// The answer of a statement undone or never executed because SQLite rolled its batch back:
/// nothing of it was written. A database refusing writes says so (the merchant learns the disk
/// is full); anything else is a plain outage.
fn rolled_back(cause: &StoreError) -> StoreError {
    let detail = format!("SQLite rolled the batch back: {cause}");
    match cause {
        StoreError::Unwritable(_) => StoreError::Unwritable(detail),
        StoreError::Conflict(_) | StoreError::Unavailable(_) | StoreError::Other(_) => {
            StoreError::Unavailable(detail)
        }
    }
}

fn map_error(err: rusqlite::Error) -> StoreError {
    match &err {
        rusqlite::Error::SqliteFailure(code, _)
            if code.code == rusqlite::ErrorCode::ConstraintViolation =>
        {
            StoreError::Conflict(err.to_string())
        }
        rusqlite::Error::SqliteFailure(code, _)
            if matches!(
                code.code,
                rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked
            ) =>
        {
            StoreError::Unavailable(err.to_string())
        }
        rusqlite::Error::SqliteFailure(code, _)
            if matches!(
                code.code,
                rusqlite::ErrorCode::DiskFull
                    | rusqlite::ErrorCode::ReadOnly
                    | rusqlite::ErrorCode::SystemIoFailure
                    | rusqlite::ErrorCode::CannotOpen
            ) =>
        {
            StoreError::Unwritable(err.to_string())
        }
        _ => StoreError::Other(err.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A fresh database file with table `t`, and the writer's connection on it.
    struct Scratch {
        dir: std::path::PathBuf,
        path: std::path::PathBuf,
    }

    impl Scratch {
        fn new() -> Scratch {
            let dir = std::env::temp_dir()
                .join(format!("openimp-batch-{}", openimp_core::ids::random_hex(6)));
            std::fs::create_dir_all(&dir).unwrap();
            let path = dir.join("test.db");
            let setup = rusqlite::Connection::open(&path).unwrap();
            setup.pragma_update(None, "journal_mode", "WAL").unwrap();
            setup.execute_batch("CREATE TABLE t (id INTEGER PRIMARY KEY, v BLOB)").unwrap();
            Scratch { dir, path }
        }

        fn rows(&self) -> Vec<i64> {
            let conn = rusqlite::Connection::open(&self.path).unwrap();
            let mut statement = conn.prepare("SELECT id FROM t ORDER BY id").unwrap();
            let ids = statement.query_map([], |row| row.get(0)).unwrap();
            ids.collect::<Result<_, _>>().unwrap()
        }
    }

    impl Drop for Scratch {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }

    fn insert(id: i64, bytes: i64) -> (String, Vec<Value>) {
        (
            "INSERT INTO t (id, v) VALUES ($1, zeroblob($2))".to_owned(),
            vec![id.into(), bytes.into()],
        )
    }

    /// Runs `statements` as one batch of the writer on `conn`; the answers, in order.
    fn run_batch(
        conn: &rusqlite::Connection,
        statements: Vec<(String, Vec<Value>)>,
    ) -> Vec<Result<u64, StoreError>> {
        let (sender, receiver) = mpsc::channel();
        let answers: Vec<_> = statements
            .into_iter()
            .map(|(sql, params)| {
                let (reply, answer) = tokio::sync::oneshot::channel();
                sender.send(Job { sql, params, reply }).unwrap();
                answer
            })
            .collect();
        drop(sender);
        run(conn, &receiver);
        answers.into_iter().map(|answer| answer.blocking_recv().unwrap()).collect()
    }

    #[test]
    fn a_full_disk_fails_the_whole_batch_and_commits_nothing() {
        let scratch = Scratch::new();
        let conn = connect(&scratch.path).unwrap();
        // A full disk: the file may not grow by a single page.
        conn.pragma_update(None, "max_page_count", 1).unwrap();
        let answers = run_batch(&conn, vec![insert(1, 10), insert(2, 1_000_000), insert(3, 10)]);
        assert!(
            matches!(answers[1], Err(StoreError::Unwritable(_))),
            "the statement that hit the full disk: {answers:?}"
        );
        for answer in &answers {
            assert!(matches!(answer, Err(StoreError::Unwritable(_))), "{answers:?}");
        }
        assert_eq!(scratch.rows(), Vec::<i64>::new(), "no write reported failed was committed");

        // Once there is room again, the writer works.
        conn.pragma_update(None, "max_page_count", 1_000_000).unwrap();
        let answers = run_batch(&conn, vec![insert(4, 10), insert(5, 1_000_000)]);
        assert!(answers.iter().all(Result::is_ok), "{answers:?}");
        assert_eq!(scratch.rows(), vec![4, 5]);
    }

    #[test]
    fn a_statement_error_undoes_that_statement_alone() {
        let scratch = Scratch::new();
        let conn = connect(&scratch.path).unwrap();
        let answers = run_batch(&conn, vec![insert(1, 10), insert(1, 10), insert(2, 10)]);
        assert!(answers[0].is_ok(), "{answers:?}");
        assert!(matches!(answers[1], Err(StoreError::Conflict(_))), "{answers:?}");
        assert!(answers[2].is_ok(), "{answers:?}");
        assert_eq!(scratch.rows(), vec![1, 2]);
    }

    #[test]
    fn a_read_only_database_is_unwritable() {
        let scratch = Scratch::new();
        let conn = connect(&scratch.path).unwrap();
        conn.pragma_update(None, "query_only", true).unwrap();
        let answers = run_batch(&conn, vec![insert(1, 10)]);
        assert!(matches!(answers[0], Err(StoreError::Unwritable(_))), "{answers:?}");
        assert_eq!(scratch.rows(), Vec::<i64>::new());
    }
}
