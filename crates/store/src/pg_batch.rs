//! Group commit for PostgreSQL's hot writes, the counterpart of [`crate::batch`] for SQLite.
//!
//! A few writer tasks each own one connection outside the pool. A writer takes every write
//! queued while it was busy, runs them in one `BEGIN ... COMMIT`, then answers each caller. A
//! charge's three writes (pending insert, the sandbox's ledger line, the outcome) then cost one
//! round trip each instead of two (sqlx pings every pooled connection on its way back) and share
//! their commit, its WAL flush and its wake-ups with the rest of the batch.
//!
//! PostgreSQL aborts a whole transaction when one statement fails, so a batch that fails is
//! rolled back and its statements run again one by one, each in its own transaction; only the
//! failing one reports its error. The hot statements are written not to fail in the normal run
//! (the pending insert absorbs the merchant_uid race with `ON CONFLICT ... DO NOTHING`; only an
//! imp_uid collision, retried with a fresh id, fails it), so that slow path is rare.
//!
//! A database refusing writes (disk full, read-only: [`StoreError::Unwritable`]) takes the same
//! path, and it is safe for the reason the SQLite writer needs its autocommit check: PostgreSQL
//! never runs a statement of an aborted transaction, and a failed `COMMIT` commits nothing, so
//! every answer is that of the statement's own transaction. Only a lost connection leaves a
//! commit in doubt; those jobs are answered `Unavailable` (an unknown outcome), never retried.

use std::sync::Arc;
use std::time::{Duration, Instant};

use sqlx::{AnyConnection, Connection};
use tokio::sync::{mpsc, oneshot, Mutex};

use crate::batch::Value;
use crate::db::StoreError;

struct Job {
    sql: String,
    params: Vec<Value>,
    reply: oneshot::Sender<Result<u64, StoreError>>,
}

/// The writers' shared mailbox.
pub(crate) struct PgBatchWriter {
    sender: mpsc::UnboundedSender<Job>,
}

/// Most statements one commit carries.
const MAX_BATCH: usize = 256;

impl PgBatchWriter {
    /// Starts `writers` tasks; each connects to `url` when it first has work (and again after a
    /// lost connection), giving up on a connection attempt after `connect_timeout`.
    pub(crate) fn start(url: &str, writers: usize, connect_timeout: Duration) -> PgBatchWriter {
        let (sender, receiver) = mpsc::unbounded_channel::<Job>();
        let receiver = Arc::new(Mutex::new(receiver));
        for _ in 0..writers.max(1) {
            let writer = Writer {
                url: url.to_owned(),
                connect_timeout,
                conn: None,
                last_used: Instant::now(),
            };
            tokio::spawn(writer.run(Arc::clone(&receiver)));
        }
        PgBatchWriter { sender }
    }

    /// Runs one statement in the next batch; answers the number of rows it changed once the
    /// batch is committed.
    pub(crate) async fn execute(&self, sql: String, params: Vec<Value>) -> Result<u64, StoreError> {
        let (reply, answer) = oneshot::channel();
        self.sender.send(Job { sql, params, reply }).map_err(|_| {
            StoreError::Unavailable("the PostgreSQL writers have stopped".to_owned())
        })?;
        answer
            .await
            .map_err(|_| StoreError::Unavailable("the PostgreSQL writer stopped".to_owned()))?
    }
}

struct Writer {
    url: String,
    connect_timeout: Duration,
    conn: Option<AnyConnection>,
    /// When `conn` last ran a batch: a connection idle for a while is pinged before use, so a
    /// database restart or an idle cut costs a reconnect, not a batch of 503s.
    last_used: Instant,
}

/// Idle longer than this, the connection is pinged before the next batch.
const IDLE_CHECK: Duration = Duration::from_secs(2);

impl Writer {
    async fn run(mut self, receiver: Arc<Mutex<mpsc::UnboundedReceiver<Job>>>) {
        loop {
            let jobs = {
                let mut receiver = receiver.lock().await;
                let Some(first) = receiver.recv().await else { return };
                let mut jobs = vec![first];
                while jobs.len() < MAX_BATCH {
                    match receiver.try_recv() {
                        Ok(job) => jobs.push(job),
                        Err(_) => break,
                    }
                }
                jobs
            };
            self.run_jobs(jobs).await;
        }
    }

    async fn run_jobs(&mut self, jobs: Vec<Job>) {
        if self.last_used.elapsed() > IDLE_CHECK {
            if let Some(conn) = self.conn.as_mut() {
                let ping = tokio::time::timeout(self.connect_timeout, conn.ping()).await;
                if !matches!(ping, Ok(Ok(()))) {
                    self.conn = None;
                }
            }
        }
        self.last_used = Instant::now();
        let conn = match self.connection().await {
            Ok(conn) => conn,
            Err(err) => return answer_all(jobs, &err),
        };
        match run_batch(conn, &jobs).await {
            Ok(changed) => {
                for (job, changed) in jobs.into_iter().zip(changed) {
                    let _ = job.reply.send(Ok(changed));
                }
            }
            Err(err) if is_lost(&err) => {
                // The commit may or may not have happened; callers treat Unavailable as an
                // unknown outcome (a pending payment is settled by the reconciler's inquiry).
                self.conn = None;
                answer_all(jobs, &err);
            }
            Err(_) => {
                // One statement failed and took the transaction with it: run each alone.
                for job in jobs {
                    let result = match self.connection().await {
                        Ok(conn) => execute(conn, &job.sql, &job.params).await,
                        Err(err) => Err(err),
                    };
                    if result.as_ref().is_err_and(is_lost) {
                        self.conn = None;
                    }
                    let _ = job.reply.send(result);
                }
            }
        }
    }

    async fn connection(&mut self) -> Result<&mut AnyConnection, StoreError> {
        if self.conn.is_none() {
            let connect = AnyConnection::connect(&self.url);
            let conn =
                tokio::time::timeout(self.connect_timeout, connect).await.map_err(|_| {
                    StoreError::Unavailable("timed out connecting to PostgreSQL".to_owned())
                })??;
            self.conn = Some(conn);
        }
        self.conn.as_mut().ok_or_else(|| StoreError::Other("no connection".to_owned()))
    }
}

/// One transaction for every job; the rows each statement changed, in order.
async fn run_batch(conn: &mut AnyConnection, jobs: &[Job]) -> Result<Vec<u64>, StoreError> {
    if let [job] = jobs {
        // Alone in its batch: autocommit spares the BEGIN and COMMIT round trips.
        return Ok(vec![execute(conn, &job.sql, &job.params).await?]);
    }
    let mut tx = conn.begin().await?;
    let mut changed = Vec::with_capacity(jobs.len());
    for job in jobs {
        changed.push(execute(&mut tx, &job.sql, &job.params).await?);
    }
    tx.commit().await?;
    Ok(changed)
}

async fn execute(conn: &mut AnyConnection, sql: &str, params: &[Value]) -> Result<u64, StoreError> {
    let result = crate::db::bind_all(sqlx::query(sql), params).execute(conn).await?;
    Ok(result.rows_affected())
}

fn is_lost(err: &StoreError) -> bool {
    matches!(err, StoreError::Unavailable(_))
}

fn answer_all(jobs: Vec<Job>, err: &StoreError) {
    for job in jobs {
        let _ = job.reply.send(Err(err.duplicate()));
    }
}
