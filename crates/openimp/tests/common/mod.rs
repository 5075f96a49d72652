//! Harness for the integration suite: runs the real `openimp` binary on a random port, talks
//! to it over HTTP, and drives its CLI (merchants, channels, the sandbox ledger).
//!
//! Every scenario is an `async fn(Backend)`; [`dual_backend_tests!`] turns it into a SQLite test
//! and a PostgreSQL test. The PostgreSQL one runs only when `OPENIMP_TEST_POSTGRES_URL` names an
//! admin connection (e.g. `postgres://postgres@127.0.0.1:5432/postgres`); the harness then
//! creates a fresh database per server environment and drops it afterwards.

#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

pub const BIN: &str = env!("CARGO_BIN_EXE_openimp");
pub const POSTGRES_ENV: &str = "OPENIMP_TEST_POSTGRES_URL";
/// Set to `1` by CI when PostgreSQL answers: a PostgreSQL scenario that cannot run then fails.
pub const REQUIRE_POSTGRES_ENV: &str = "OPENIMP_TEST_REQUIRE_POSTGRES";
/// Set to `1` by CI once it installed the Python packages the tests use as independent oracles.
pub const REQUIRE_PYTHON_ENV: &str = "OPENIMP_TEST_REQUIRE_PYTHON";
/// A file CI names: every skipped scenario appends one line to it, so the summary counts skips.
pub const SKIP_LOG_ENV: &str = "OPENIMP_TEST_SKIP_LOG";

/// A scenario (or part of one) that cannot run on this machine. A skip must never look like a
/// pass: it fails when `required_by` (an environment variable set to `1`) says the missing piece
/// is there, and otherwise is written to `OPENIMP_TEST_SKIP_LOG` for CI's summary.
pub fn skip(test: &str, reason: &str, required_by: &str) {
    if std::env::var(required_by).is_ok_and(|v| v == "1") {
        panic!("{test} cannot run ({reason}), but {required_by}=1 says it must");
    }
    eprintln!("skipped: {test}: {reason}");
    if let Ok(path) = std::env::var(SKIP_LOG_ENV) {
        use std::io::Write;
        let mut log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .unwrap_or_else(|e| panic!("open {SKIP_LOG_ENV}={path}: {e}"));
        writeln!(log, "{test}: {reason}").expect("write the skip log");
    }
}

/// An approved sandbox card (6th digit 2: 현대카드 367, 7th digit 3: credit).
pub const CARD_OK: &str = "4092-0230-1234-5678";
pub const EXPIRY: &str = "2030-12";
pub const BIRTH: &str = "820213";
pub const PWD2: &str = "00";

/// A sandbox card ending in `last4` (see the sandbox's test-card table).
pub fn card(last4: &str) -> String {
    format!("4092-0230-1234-{last4}")
}

/// Generates `mod $name { fn sqlite(); fn postgres(); }` tests for `async fn $name(Backend)`.
macro_rules! dual_backend_tests {
    ($($name:ident),* $(,)?) => {
        $(
            mod $name {
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn sqlite() {
                    super::$name(crate::common::Backend::Sqlite).await
                }

                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn postgres() {
                    match crate::common::Backend::postgres_from_env() {
                        Some(backend) => super::$name(backend).await,
                        None => crate::common::skip(
                            concat!(module_path!(), "::postgres"),
                            &format!("{} not set", crate::common::POSTGRES_ENV),
                            crate::common::REQUIRE_POSTGRES_ENV,
                        ),
                    }
                }
            }
        )*
    };
}

// ---------------------------------------------------------------------------------------------
// Backends and environments
// ---------------------------------------------------------------------------------------------

#[derive(Clone, Debug)]
pub enum Backend {
    Sqlite,
    /// Admin URL of a PostgreSQL server; a database is created per environment.
    Postgres(String),
}

impl Backend {
    pub fn postgres_from_env() -> Option<Backend> {
        std::env::var(POSTGRES_ENV).ok().filter(|s| !s.trim().is_empty()).map(Backend::Postgres)
    }

    pub fn is_sqlite(&self) -> bool {
        matches!(self, Backend::Sqlite)
    }
}

/// A data directory plus (for PostgreSQL) a database: what a server needs to be restarted on
/// the same state.
pub struct Env {
    pub dir: tempfile::TempDir,
    pub backend: Backend,
    pub database_url: Option<String>,
    pg_cleanup: Option<(String, String)>, // (admin url, db name)
}

fn random_suffix() -> String {
    use rand::Rng;
    let mut rng = rand::thread_rng();
    (0..12).map(|_| char::from(b'a' + rng.gen_range(0..26u8))).collect()
}

/// A short unique id for merchant_uid / customer_uid values.
pub fn uid(prefix: &str) -> String {
    format!("{prefix}_{}", random_suffix())
}

fn replace_db_name(admin_url: &str, db: &str) -> String {
    // postgres://user@host:port/dbname?params
    let (base, query) = match admin_url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (admin_url, None),
    };
    let scheme_end = base.find("://").map(|i| i + 3).unwrap_or(0);
    let without_db = match base[scheme_end..].find('/') {
        Some(i) => &base[..scheme_end + i],
        None => base,
    };
    match query {
        Some(q) => format!("{without_db}/{db}?{q}"),
        None => format!("{without_db}/{db}"),
    }
}

impl Env {
    pub async fn new(backend: &Backend) -> Arc<Env> {
        let dir = tempfile::Builder::new().prefix("openimp-it-").tempdir().expect("tempdir");
        let (database_url, pg_cleanup) = match backend {
            Backend::Sqlite => (None, None),
            Backend::Postgres(admin) => {
                use sqlx::Connection;
                let name = format!("openimp_test_{}", random_suffix());
                let mut conn = sqlx::PgConnection::connect(admin)
                    .await
                    .unwrap_or_else(|e| panic!("connect to {POSTGRES_ENV}={admin}: {e}"));
                sqlx::query(&format!("CREATE DATABASE {name}"))
                    .execute(&mut conn)
                    .await
                    .expect("CREATE DATABASE");
                let _ = conn.close().await;
                (Some(replace_db_name(admin, &name)), Some((admin.clone(), name)))
            }
        };
        Arc::new(Env { dir, backend: backend.clone(), database_url, pg_cleanup })
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    fn storage_args(&self) -> Vec<String> {
        let mut args = vec!["--data-dir".to_owned(), self.dir.path().display().to_string()];
        if let Some(url) = &self.database_url {
            args.push("--database-url".to_owned());
            args.push(url.clone());
        }
        args
    }

    /// Runs `openimp <args> --data-dir .. [--database-url ..]` to completion.
    pub fn cli(&self, args: &[&str]) -> CliOutput {
        let mut cmd = Command::new(BIN);
        cmd.args(args).args(self.storage_args());
        cmd.env_remove("OPENIMP_MASTER_KEY");
        let out = cmd.output().expect("run openimp CLI");
        CliOutput {
            success: out.status.success(),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    /// Runs a CLI command that must succeed and print JSON on stdout.
    pub fn cli_json(&self, args: &[&str]) -> Value {
        let out = self.cli(args);
        assert!(
            out.success,
            "openimp {args:?} failed:\nstdout: {}\nstderr: {}",
            out.stdout, out.stderr
        );
        parse_json_from_stdout(&out.stdout)
            .unwrap_or_else(|| panic!("openimp {args:?}: no JSON on stdout: {}", out.stdout))
    }

    pub fn create_merchant(&self) -> Merchant {
        let name = uid("merchant");
        let v = self.cli_json(&["merchant", "create", "--name", &name, "--json"]);
        let s = |k: &str| {
            v.get(k)
                .and_then(Value::as_str)
                .unwrap_or_else(|| panic!("merchant create: no {k} in {v}"))
                .to_owned()
        };
        Merchant { imp_code: s("imp_code"), imp_key: s("imp_key"), imp_secret: s("imp_secret") }
    }

    /// The sandbox PG's ledger: every approval and cancel it performed.
    pub fn ledger(&self) -> Vec<Value> {
        let v = self.cli_json(&["sandbox", "ledger", "--json"]);
        v.as_array().unwrap_or_else(|| panic!("sandbox ledger: not an array: {v}")).clone()
    }

    /// Ledger entries of `kind` for one imp_uid (the ledger's order_id).
    pub fn ledger_for(&self, imp_uid: &str, kind: &str) -> Vec<Value> {
        self.ledger()
            .into_iter()
            .filter(|e| e["order_id"] == imp_uid && e["kind"] == kind)
            .collect()
    }
}

impl Drop for Env {
    fn drop(&mut self) {
        if let Some((admin, name)) = self.pg_cleanup.take() {
            // Best effort, on a thread of its own: Drop may run inside a runtime.
            let _ = std::thread::spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().ok()?;
                rt.block_on(async move {
                    use sqlx::Connection;
                    let mut conn = sqlx::PgConnection::connect(&admin).await.ok()?;
                    let _ = sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                        .execute(&mut conn)
                        .await;
                    let _ = conn.close().await;
                    Some(())
                })
            })
            .join();
        }
    }
}

pub struct CliOutput {
    pub success: bool,
    pub stdout: String,
    pub stderr: String,
}

/// The JSON document on stdout: the whole output, or the first line/block that parses.
fn parse_json_from_stdout(stdout: &str) -> Option<Value> {
    if let Ok(v) = serde_json::from_str::<Value>(stdout.trim()) {
        return Some(v);
    }
    for line in stdout.lines() {
        let t = line.trim();
        if t.starts_with('{') || t.starts_with('[') {
            if let Ok(v) = serde_json::from_str::<Value>(t) {
                return Some(v);
            }
        }
    }
    // A pretty-printed document after some other lines.
    let start = stdout.find(['{', '['])?;
    let mut de = serde_json::Deserializer::from_str(&stdout[start..]).into_iter::<Value>();
    de.next()?.ok()
}

#[derive(Clone, Debug)]
pub struct Merchant {
    pub imp_code: String,
    pub imp_key: String,
    pub imp_secret: String,
}

// ---------------------------------------------------------------------------------------------
// The server process
// ---------------------------------------------------------------------------------------------

#[derive(Clone, Debug, Default)]
pub struct ServerOpts {
    pub sandbox_delay_ms: Option<u64>,
    pub reconcile_interval_secs: Option<u64>,
    pub reconcile_after_secs: Option<u64>,
    pub fault_crash_after_pg_call: bool,
    /// Extra `serve` arguments, e.g. `["--pg-timeout-secs", "1"]`.
    pub extra_args: Vec<String>,
    /// Extra environment, e.g. `RUST_LOG`.
    pub env: Vec<(String, String)>,
}

pub struct TestServer {
    pub env: Arc<Env>,
    pub base_url: String,
    child: Option<Child>,
    logs: Arc<Mutex<String>>,
    http: reqwest::Client,
}

impl TestServer {
    /// Starts a server on a fresh environment.
    pub async fn start(backend: &Backend) -> TestServer {
        Self::start_with(backend, ServerOpts::default()).await
    }

    pub async fn start_with(backend: &Backend, opts: ServerOpts) -> TestServer {
        let env = Env::new(backend).await;
        Self::start_in(env, opts).await
    }

    /// Starts a server on an existing environment (a restart).
    pub async fn start_in(env: Arc<Env>, opts: ServerOpts) -> TestServer {
        let env2 = env.clone();
        tokio::task::spawn_blocking(move || Self::spawn_blocking(env2, opts))
            .await
            .expect("spawn server task")
    }

    fn spawn_blocking(env: Arc<Env>, opts: ServerOpts) -> TestServer {
        let mut cmd = Command::new(BIN);
        cmd.arg("serve").arg("--listen").arg("127.0.0.1:0").args(env.storage_args());
        if let Some(ms) = opts.sandbox_delay_ms {
            cmd.arg("--sandbox-delay-ms").arg(ms.to_string());
        }
        if let Some(s) = opts.reconcile_interval_secs {
            cmd.arg("--reconcile-interval-secs").arg(s.to_string());
        }
        if let Some(s) = opts.reconcile_after_secs {
            cmd.arg("--reconcile-after-secs").arg(s.to_string());
        }
        if opts.fault_crash_after_pg_call {
            cmd.arg("--fault-crash-after-pg-call");
        }
        cmd.args(&opts.extra_args);
        cmd.env_remove("OPENIMP_MASTER_KEY");
        for (k, v) in &opts.env {
            cmd.env(k, v);
        }
        cmd.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
        let mut child = cmd.spawn().expect("spawn openimp serve");

        let logs = Arc::new(Mutex::new(String::new()));
        let (tx, rx) = mpsc::channel::<String>();
        let stdout = child.stdout.take().expect("stdout");
        let stderr = child.stderr.take().expect("stderr");
        {
            let logs = logs.clone();
            std::thread::spawn(move || {
                let mut reader = BufReader::new(stdout);
                let mut line = String::new();
                let mut announced = false;
                loop {
                    line.clear();
                    match reader.read_line(&mut line) {
                        Ok(0) | Err(_) => break,
                        Ok(_) => {
                            logs.lock().unwrap().push_str(&line);
                            if !announced {
                                if let Some(rest) =
                                    line.trim().strip_prefix("openimp listening on ")
                                {
                                    announced = true;
                                    let _ = tx.send(rest.trim().to_owned());
                                }
                            }
                        }
                    }
                }
            });
        }
        {
            let logs = logs.clone();
            std::thread::spawn(move || {
                let mut reader = BufReader::new(stderr);
                let mut buf = [0u8; 8192];
                loop {
                    match reader.read(&mut buf) {
                        Ok(0) | Err(_) => break,
                        Ok(n) => logs.lock().unwrap().push_str(&String::from_utf8_lossy(&buf[..n])),
                    }
                }
            });
        }

        let deadline = Instant::now() + Duration::from_secs(60);
        let base_url = loop {
            match rx.recv_timeout(Duration::from_millis(100)) {
                Ok(url) => break url,
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    if let Ok(Some(status)) = child.try_wait() {
                        std::thread::sleep(Duration::from_millis(200));
                        panic!(
                            "openimp serve exited ({status}) before listening; output:\n{}",
                            logs.lock().unwrap()
                        );
                    }
                    if Instant::now() > deadline {
                        let _ = child.kill();
                        let _ = child.wait();
                        panic!(
                            "openimp serve did not announce its address; output:\n{}",
                            logs.lock().unwrap()
                        );
                    }
                }
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    let status = child.wait().ok();
                    std::thread::sleep(Duration::from_millis(200));
                    panic!(
                        "openimp serve closed stdout before listening ({status:?}); output:\n{}",
                        logs.lock().unwrap()
                    );
                }
            }
        };
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(60))
            .pool_max_idle_per_host(64)
            .build()
            .expect("reqwest client");
        TestServer {
            env,
            base_url: base_url.trim_end_matches('/').to_owned(),
            child: Some(child),
            logs,
            http,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base_url, path)
    }

    /// Everything the server printed on stdout and stderr so far.
    pub fn logs(&self) -> String {
        self.logs.lock().unwrap().clone()
    }

    pub fn create_merchant(&self) -> Merchant {
        self.env.create_merchant()
    }

    pub fn ledger(&self) -> Vec<Value> {
        self.env.ledger()
    }

    pub fn ledger_for(&self, imp_uid: &str, kind: &str) -> Vec<Value> {
        self.env.ledger_for(imp_uid, kind)
    }

    /// A client without a token.
    pub fn anon(&self) -> Client {
        Client { base: self.base_url.clone(), http: self.http.clone(), token: None }
    }

    /// A client holding a fresh token for `merchant`.
    pub async fn client(&self, merchant: &Merchant) -> Client {
        let mut c = self.anon();
        let (status, body) = c
            .post_json(
                "/users/getToken",
                &json!({"imp_key": merchant.imp_key, "imp_secret": merchant.imp_secret}),
            )
            .await;
        assert_eq!(status, 200, "getToken: {body}");
        assert_eq!(body["code"], 0, "getToken: {body}");
        let token = body["response"]["access_token"].as_str().expect("access_token").to_owned();
        c.token = Some(token);
        c
    }

    /// A new merchant and a client logged in as it.
    pub async fn merchant_client(&self) -> (Merchant, Client) {
        let m = self.create_merchant();
        let c = self.client(&m).await;
        (m, c)
    }

    /// Whether the process has exited; waits up to `timeout`.
    pub async fn wait_exit(&mut self, timeout: Duration) -> Option<std::process::ExitStatus> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(child) = self.child.as_mut() {
                if let Ok(Some(status)) = child.try_wait() {
                    return Some(status);
                }
            } else {
                return None;
            }
            if Instant::now() > deadline {
                return None;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The server's process id, while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    pub fn data_dir(&self) -> PathBuf {
        self.env.path().to_path_buf()
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.kill();
    }
}

// ---------------------------------------------------------------------------------------------
// HTTP client
// ---------------------------------------------------------------------------------------------

#[derive(Clone)]
pub struct Client {
    pub base: String,
    pub http: reqwest::Client,
    pub token: Option<String>,
}

/// Percent-encodes a form/query component (application/x-www-form-urlencoded).
pub fn enc(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'*' => {
                out.push(b as char)
            }
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// `k1=v1&k2=v2` with both sides encoded (brackets in keys become `%5B%5D`, as `qs` does).
pub fn form_encode(pairs: &[(&str, &str)]) -> String {
    pairs.iter().map(|(k, v)| format!("{}={}", enc(k), enc(v))).collect::<Vec<_>>().join("&")
}

pub type Resp = (u16, Value);

impl Client {
    pub fn with_token(&self, token: Option<&str>) -> Client {
        Client { base: self.base.clone(), http: self.http.clone(), token: token.map(str::to_owned) }
    }

    fn auth(&self, rb: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        match &self.token {
            Some(t) => rb.header("Authorization", t),
            None => rb,
        }
    }

    pub async fn send(&self, rb: reqwest::RequestBuilder) -> Resp {
        let resp = rb.send().await.expect("HTTP request failed");
        read_resp(resp).await
    }

    pub fn request(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        self.auth(self.http.request(method, format!("{}{}", self.base, path)))
    }

    pub async fn get(&self, path: &str) -> Resp {
        self.send(self.request(reqwest::Method::GET, path)).await
    }

    pub async fn delete(&self, path: &str) -> Resp {
        self.send(self.request(reqwest::Method::DELETE, path)).await
    }

    pub async fn post_json(&self, path: &str, body: &Value) -> Resp {
        self.send(self.request(reqwest::Method::POST, path).json(body)).await
    }

    pub async fn put_json(&self, path: &str, body: &Value) -> Resp {
        self.send(self.request(reqwest::Method::PUT, path).json(body)).await
    }

    pub async fn post_form(&self, path: &str, pairs: &[(&str, &str)]) -> Resp {
        self.send(
            self.request(reqwest::Method::POST, path)
                .header("Content-Type", "application/x-www-form-urlencoded")
                .body(form_encode(pairs)),
        )
        .await
    }

    /// POST JSON with an `Idempotency-Key` header.
    pub async fn post_json_idem(&self, path: &str, key: &str, body: &Value) -> Resp {
        self.send(
            self.request(reqwest::Method::POST, path).header("Idempotency-Key", key).json(body),
        )
        .await
    }

    /// POST JSON without panicking on transport errors (for the crash test).
    pub async fn try_post_json(&self, path: &str, body: &Value) -> Result<Resp, reqwest::Error> {
        let resp = self.request(reqwest::Method::POST, path).json(body).send().await?;
        let status = resp.status().as_u16();
        let text = resp.text().await?;
        Ok((status, to_value(&text)))
    }

    // ---- domain helpers ---------------------------------------------------------------------

    /// Issues a billing key with `card_number`; returns the whole response.
    pub async fn issue_key(&self, customer_uid: &str, card_number: &str) -> Resp {
        self.post_json(
            &format!("/subscribe/customers/{customer_uid}"),
            &json!({
                "card_number": card_number,
                "expiry": EXPIRY,
                "birth": BIRTH,
                "pwd_2digit": PWD2,
                "customer_name": "홍길동",
                "customer_email": "hong@example.com",
            }),
        )
        .await
    }

    /// Issues a billing key that must succeed.
    pub async fn issue_key_ok(&self, customer_uid: &str, card_number: &str) -> Value {
        let (status, body) = self.issue_key(customer_uid, card_number).await;
        assert_eq!(status, 200, "issue key {customer_uid}: {body}");
        assert_eq!(body["code"], 0, "issue key {customer_uid}: {body}");
        body["response"].clone()
    }

    pub async fn again(&self, customer_uid: &str, merchant_uid: &str, amount: i64) -> Resp {
        self.post_json(
            "/subscribe/payments/again",
            &json!({
                "customer_uid": customer_uid,
                "merchant_uid": merchant_uid,
                "amount": amount,
                "name": "정기결제",
            }),
        )
        .await
    }

    /// An again-charge that must come back code 0 and paid; returns the Payment.
    pub async fn again_paid(&self, customer_uid: &str, merchant_uid: &str, amount: i64) -> Value {
        let (status, body) = self.again(customer_uid, merchant_uid, amount).await;
        assert_eq!(status, 200, "again {merchant_uid}: {body}");
        assert_eq!(body["code"], 0, "again {merchant_uid}: {body}");
        assert_eq!(body["response"]["status"], "paid", "again {merchant_uid}: {body}");
        body["response"].clone()
    }

    pub async fn onetime(&self, merchant_uid: &str, amount: i64, card_number: &str) -> Resp {
        self.post_json(
            "/subscribe/payments/onetime",
            &json!({
                "merchant_uid": merchant_uid,
                "amount": amount,
                "card_number": card_number,
                "expiry": EXPIRY,
                "birth": BIRTH,
                "pwd_2digit": PWD2,
                "name": "단건결제",
                "buyer_name": "홍길동",
            }),
        )
        .await
    }

    /// A keyed one-time charge that must be paid; returns the Payment.
    pub async fn onetime_paid(&self, merchant_uid: &str, amount: i64) -> Value {
        let (status, body) = self.onetime(merchant_uid, amount, CARD_OK).await;
        assert_eq!(status, 200, "onetime {merchant_uid}: {body}");
        assert_eq!(body["code"], 0, "onetime {merchant_uid}: {body}");
        assert_eq!(body["response"]["status"], "paid", "onetime {merchant_uid}: {body}");
        body["response"].clone()
    }

    /// GET /payments/{imp_uid}, must be found.
    pub async fn payment(&self, imp_uid: &str) -> Value {
        let (status, body) = self.get(&format!("/payments/{imp_uid}")).await;
        assert_eq!(status, 200, "GET /payments/{imp_uid}: {body}");
        assert_eq!(body["code"], 0, "GET /payments/{imp_uid}: {body}");
        body["response"].clone()
    }

    pub async fn cancel(&self, body: &Value) -> Resp {
        self.post_json("/payments/cancel", body).await
    }
}

pub fn to_value(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|_| Value::String(format!("<non-JSON body> {text}")))
}

async fn read_resp(resp: reqwest::Response) -> Resp {
    let status = resp.status().as_u16();
    let text = resp.text().await.expect("read body");
    (status, to_value(&text))
}

// ---------------------------------------------------------------------------------------------
// Assertions
// ---------------------------------------------------------------------------------------------

/// The envelope of a failure: non-zero code, a message, no response.
#[track_caller]
pub fn assert_failure(resp: &Resp, what: &str) {
    let (status, body) = resp;
    let code = body["code"]
        .as_i64()
        .unwrap_or_else(|| panic!("{what}: no integer code (HTTP {status}): {body}"));
    assert_ne!(code, 0, "{what}: expected a non-zero code (HTTP {status}): {body}");
    assert!(
        body["message"].as_str().is_some_and(|m| !m.trim().is_empty()),
        "{what}: a failure must carry a message (HTTP {status}): {body}"
    );
    assert!(
        body["response"].is_null(),
        "{what}: a failure's response must be null (HTTP {status}): {body}"
    );
}

/// HTTP 200, code 0, message null; returns `response`.
#[track_caller]
pub fn assert_ok(resp: &Resp, what: &str) -> Value {
    let (status, body) = resp;
    assert_eq!(*status, 200, "{what}: HTTP status: {body}");
    assert_eq!(body["code"], 0, "{what}: code: {body}");
    assert!(body["message"].is_null(), "{what}: message must be null on success: {body}");
    body["response"].clone()
}

/// A paged list `{total, previous, next, list}`; returns it.
#[track_caller]
pub fn assert_paged(v: &Value, what: &str) -> Value {
    for k in ["total", "previous", "next"] {
        assert!(v[k].is_i64() || v[k].is_u64(), "{what}: paged.{k} must be an integer: {v}");
    }
    assert!(v["list"].is_array(), "{what}: paged.list must be an array: {v}");
    v.clone()
}

/// Masked: never the full digits, never the dashed number; starts with the first 6 digits.
#[track_caller]
pub fn assert_masked(masked: &Value, full: &str, what: &str) {
    let digits: String = full.chars().filter(char::is_ascii_digit).collect();
    let s =
        masked.as_str().unwrap_or_else(|| panic!("{what}: card_number must be a string: {masked}"));
    assert!(!s.contains(&digits) && !s.contains(full), "{what}: card number not masked: {s}");
    assert!(s.contains('*'), "{what}: masked card number should contain '*': {s}");
    let shown: usize = s.chars().filter(char::is_ascii_digit).count();
    assert!(shown < digits.len(), "{what}: too many digits shown: {s}");
}

/// Polls `f` until it returns Some, or panics after `timeout`.
pub async fn eventually<T, F, Fut>(timeout: Duration, what: &str, mut f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = f().await {
            return v;
        }
        if Instant::now() > deadline {
            panic!("timed out after {timeout:?} waiting for: {what}");
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// Posts a payment window's form as the browser does: urlencoded, with the CSRF token of the
/// window's page. Returns the result page.
pub async fn submit_window(server: &TestServer, id: &str, form: &[(&str, &str)]) -> String {
    let http = server.anon().http;
    let page = http.get(server.url(&format!("/window/{id}"))).send().await.unwrap();
    let page = page.text().await.unwrap();
    let csrf = page
        .split("name=\"csrf\" value=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .unwrap_or_else(|| panic!("no CSRF token on the window page: {page}"));
    let mut pairs = vec![("csrf", csrf)];
    pairs.extend_from_slice(form);
    http.post(server.url(&format!("/window/{id}")))
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body(form_encode(&pairs))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}
