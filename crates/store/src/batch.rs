//! Group commit for SQLite's hot writes: one OS thread owns a write connection, drains every
//! write queued while it was busy, runs them in one `BEGIN IMMEDIATE ... COMMIT`
//! (`synchronous=FULL`, so one fsync covers the batch), then answers each caller.
//!
//! Each job is a single statement; a statement that fails (a unique violation) is undone alone,
//! as SQLite does inside a transaction, and the others still commit. Callers get their answer
//! only after the commit, so every answer is durable.

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
        let results: Vec<Result<u64, StoreError>> = jobs
            .iter()
            .map(|job| {
                let mut statement = conn.prepare_cached(&job.sql).map_err(map_error)?;
                let changed = statement
                    .execute(rusqlite::params_from_iter(job.params.iter()))
                    .map_err(map_error)?;
                Ok(u64::try_from(changed).unwrap_or(u64::MAX))
            })
            .collect();
        let commit = conn.execute_batch("COMMIT").map_err(map_error);
        if commit.is_err() {
            let _ = conn.execute_batch("ROLLBACK");
        }
        for (job, result) in jobs.into_iter().zip(results) {
            let answer = match (&commit, result) {
                (Err(err), _) => Err(err.duplicate()),
                (Ok(()), result) => result,
            };
            let _ = job.reply.send(answer);
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
        _ => StoreError::Other(err.to_string()),
    }
}
