//! A database outage: while its PostgreSQL is down the server answers HTTP 503 with the envelope,
//! promptly (at once, once its health probe has seen the outage), keeps `/healthz` at 200, and
//! serves again once the database is back.
//!
//! The test runs its own PostgreSQL (initdb + pg_ctl on a free loopback port, in a temporary
//! directory) so it can stop and start it; it never touches a shared server. It needs only the
//! PostgreSQL binaries (`/usr/lib/postgresql/*/bin`) and skips cleanly without them.

#[allow(unused_macros)]
mod common;

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use common::*;
use serde_json::{json, Value};

// ---------------------------------------------------------------------------------------------
// A private PostgreSQL
// ---------------------------------------------------------------------------------------------

struct PrivatePg {
    bin: PathBuf,
    dir: tempfile::TempDir,
    port: u16,
    /// Run the binaries as `postgres` (PostgreSQL refuses to run as root).
    as_postgres: bool,
    running: bool,
}

/// The newest `/usr/lib/postgresql/<version>/bin` holding initdb and pg_ctl.
fn find_pg_bin() -> Option<PathBuf> {
    let mut candidates: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .flatten()
        .filter_map(|e| {
            let version = e.file_name().to_string_lossy().split('.').next()?.parse().ok()?;
            let bin = e.path().join("bin");
            (bin.join("initdb").is_file() && bin.join("pg_ctl").is_file()).then_some((version, bin))
        })
        .collect();
    candidates.sort();
    candidates.pop().map(|(_, bin)| bin)
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

fn free_port() -> std::io::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

impl PrivatePg {
    /// initdb and start; Err(reason) when that is not possible here.
    fn start_new() -> Result<PrivatePg, String> {
        let bin = find_pg_bin().ok_or("no initdb/pg_ctl under /usr/lib/postgresql/*/bin")?;
        let dir = tempfile::Builder::new()
            .prefix("openimp-pg-")
            .tempdir()
            .map_err(|e| format!("tempdir: {e}"))?;
        let as_postgres = is_root();
        if as_postgres {
            let out = Command::new("chown")
                .args(["-R", "postgres:postgres"])
                .arg(dir.path())
                .output()
                .map_err(|e| format!("chown: {e}"))?;
            if !out.status.success() {
                return Err(format!("chown postgres: {}", String::from_utf8_lossy(&out.stderr)));
            }
        }
        let port = free_port().map_err(|e| format!("free port: {e}"))?;
        let mut pg = PrivatePg { bin, dir, port, as_postgres, running: false };
        let data = pg.data_dir();
        pg.run("initdb", &["-D", &data, "-A", "trust", "-U", "postgres", "--no-sync"])?;
        pg.start()?;
        Ok(pg)
    }

    fn data_dir(&self) -> String {
        self.dir.path().join("data").display().to_string()
    }

    fn admin_url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    fn run(&self, tool: &str, args: &[&str]) -> Result<(), String> {
        let exe = self.bin.join(tool);
        let mut cmd = if self.as_postgres {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(&exe);
            c
        } else {
            Command::new(&exe)
        };
        // Output to files or pipes only: the server must not inherit a pipe we wait on (pg_ctl
        // gets a log file for that).
        let out = cmd.args(args).current_dir(self.dir.path()).output().map_err(|e| {
            format!("{} {tool}: {e}", if self.as_postgres { "runuser" } else { "run" })
        })?;
        if out.status.success() {
            Ok(())
        } else {
            Err(format!(
                "{tool} {args:?} failed ({}): {}{}",
                out.status,
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ))
        }
    }

    fn start(&mut self) -> Result<(), String> {
        let data = self.data_dir();
        let log = self.dir.path().join("postgres.log").display().to_string();
        let socket_dir = self.dir.path().display().to_string();
        let options = format!(
            "-p {} -k {socket_dir} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=50",
            self.port
        );
        self.run("pg_ctl", &["-D", &data, "-l", &log, "-o", &options, "-t", "60", "-w", "start"])?;
        self.running = true;
        Ok(())
    }

    fn stop(&mut self) -> Result<(), String> {
        let data = self.data_dir();
        self.run("pg_ctl", &["-D", &data, "-m", "fast", "-t", "60", "-w", "stop"])?;
        self.running = false;
        Ok(())
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("postgres.log")).unwrap_or_default()
    }
}

impl Drop for PrivatePg {
    fn drop(&mut self) {
        let data = self.data_dir();
        // Always try: `running` may be stale if a start half-succeeded.
        if self.run("pg_ctl", &["-D", &data, "-m", "fast", "-t", "30", "-w", "stop"]).is_err()
            && self.running
        {
            let _ = self.run("pg_ctl", &["-D", &data, "-m", "immediate", "-w", "stop"]);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The outage
// ---------------------------------------------------------------------------------------------

/// One request's answer and how long it took.
#[derive(Debug)]
struct Observed {
    what: String,
    elapsed: Duration,
    /// (HTTP status, body), or the transport error / "no answer within ..." .
    result: Result<(u16, Value), String>,
}

impl std::fmt::Display for Observed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.result {
            Ok((status, body)) => {
                write!(f, "{}: HTTP {status} after {:?}: {body}", self.what, self.elapsed)
            }
            Err(err) => write!(f, "{}: {err} after {:?}", self.what, self.elapsed),
        }
    }
}

/// Requests here are cut off after this long: anything slower counts as a hang.
const NO_HANG: Duration = Duration::from_secs(8);

/// Once the health probe has seen the outage, refusals come at once (no pool wait); this
/// bound only separates "at once" from "after the 5 s acquire timeout".
const PROMPT: Duration = Duration::from_secs(2);

async fn observe(what: &str, rb: reqwest::RequestBuilder) -> Observed {
    let started = Instant::now();
    let result = match tokio::time::timeout(NO_HANG, async {
        let resp = rb.send().await.map_err(|e| format!("transport error: {e}"))?;
        let status = resp.status().as_u16();
        let text = resp.text().await.map_err(|e| format!("body error: {e}"))?;
        Ok::<_, String>((status, to_value(&text)))
    })
    .await
    {
        Ok(r) => r,
        Err(_) => Err(format!("no answer within {NO_HANG:?} (hang)")),
    };
    Observed { what: what.to_owned(), elapsed: started.elapsed(), result }
}

/// HTTP 503 with `{"code": -1, "message": <non-empty>, "response": null}`.
fn is_unavailable_envelope(o: &Observed) -> bool {
    match &o.result {
        Ok((503, body)) => {
            body["code"] == -1
                && body["message"].as_str().is_some_and(|m| !m.trim().is_empty())
                && body.get("response").is_some_and(Value::is_null)
        }
        _ => false,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn database_outage_answers_503_and_recovers() {
    // Declared first: dropped (stopped) after the server and its environment.
    let mut pg = match tokio::task::spawn_blocking(PrivatePg::start_new).await.expect("join") {
        Ok(pg) => pg,
        Err(reason) => {
            skip(
                "outage::database_outage_answers_503_and_recovers",
                &format!("cannot start a private PostgreSQL ({reason})"),
                REQUIRE_POSTGRES_ENV,
            );
            return;
        }
    };
    let backend = Backend::Postgres(pg.admin_url());
    let server = TestServer::start(&backend).await;
    let (_, client) = server.merchant_client().await;
    let cu = uid("cust");
    client.issue_key_ok(&cu, CARD_OK).await;
    let before = client.again_paid(&cu, &uid("before"), 1_000).await;
    let imp_uid = before["imp_uid"].as_str().unwrap().to_owned();
    assert_ok(&client.get("/readyz").await, "readyz while the database is up");

    // A request client of our own: the harness's waits 60 s, we cut off at NO_HANG.
    let http = reqwest::Client::builder().timeout(Duration::from_secs(30)).build().unwrap();
    let token = client.token.clone().unwrap();
    let get = |path: &str| http.get(server.url(path)).header("Authorization", &token);
    let charge = |mu: &str| {
        http.post(server.url("/subscribe/payments/again")).header("Authorization", &token).json(
            &json!({"customer_uid": cu, "merchant_uid": mu, "amount": 2_000, "name": "outage"}),
        )
    };

    // ---- the database goes away ----
    pg.stop().unwrap_or_else(|e| panic!("stop the private PostgreSQL: {e}"));
    let stopped_at = Instant::now();

    // Within ~10 s, /readyz reports it.
    let mut seen: Vec<Observed> = Vec::new();
    loop {
        let o = observe("GET /readyz (waiting for 503)", http.get(server.url("/readyz"))).await;
        let done = is_unavailable_envelope(&o);
        seen.push(o);
        if done {
            break;
        }
        if stopped_at.elapsed() > Duration::from_secs(10) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    let mu_outage = uid("outage");
    let mut outage = vec![
        observe("POST /subscribe/payments/again", charge(&mu_outage)).await,
        observe(&format!("GET /payments/{imp_uid}"), get(&format!("/payments/{imp_uid}"))).await,
        observe("GET /readyz", http.get(server.url("/readyz"))).await,
        observe(
            "POST /users/getToken",
            http.post(server.url("/users/getToken"))
                .json(&json!({"imp_key": "whatever", "imp_secret": "whatever"})),
        )
        .await,
    ];
    // Concurrent requests during the outage must not pile up into a hang either.
    let burst = futures::future::join_all((0..8).map(|i| {
        let rb = get(&format!("/payments/{imp_uid}"));
        async move { observe(&format!("GET /payments/{{imp_uid}} (concurrent #{i})"), rb).await }
    }))
    .await;
    outage.extend(burst);
    let health = observe("GET /healthz", http.get(server.url("/healthz"))).await;

    eprintln!("--- while the database is down ({:?} after the stop) ---", stopped_at.elapsed());
    for o in seen.iter().chain(&outage).chain(std::iter::once(&health)) {
        eprintln!("{o}");
    }
    let bad: Vec<String> =
        outage.iter().filter(|o| !is_unavailable_envelope(o)).map(ToString::to_string).collect();
    let slow: Vec<String> =
        outage.iter().filter(|o| o.elapsed > PROMPT).map(ToString::to_string).collect();
    let readyz_503 = seen.last().is_some_and(is_unavailable_envelope);

    // ---- the database comes back ----
    pg.start().unwrap_or_else(|e| panic!("restart the private PostgreSQL: {e}\n{}", pg.log()));
    let restarted_at = Instant::now();
    let mut attempts: Vec<Observed> = Vec::new();
    let recovered = loop {
        let o = observe("POST /subscribe/payments/again (recovery)", charge(&uid("after"))).await;
        let paid = matches!(&o.result, Ok((200, b)) if b["code"] == 0 && b["response"]["status"] == "paid");
        let body = o.result.as_ref().ok().map(|(_, b)| b["response"].clone());
        attempts.push(o);
        if paid {
            break body;
        }
        if restarted_at.elapsed() > Duration::from_secs(15) {
            break None;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    eprintln!("--- after the restart ---");
    for o in &attempts {
        eprintln!("{o}");
    }

    // Report everything before judging, so one run shows the whole picture.
    assert!(
        readyz_503,
        "GET /readyz did not answer 503 with the envelope within 10 s of the stop: {}",
        seen.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n")
    );
    assert!(
        bad.is_empty(),
        "while the database is down every request must answer HTTP 503 {{code: -1, message, response: null}} within {NO_HANG:?}; these did not:\n{}",
        bad.join("\n")
    );
    assert!(
        slow.is_empty(),
        "once /readyz reports the outage, refusals must come within {PROMPT:?} (no pool wait); these did not:\n{}",
        slow.join("\n")
    );
    assert!(
        matches!(&health.result, Ok((200, _))),
        "GET /healthz must stay 200 while the database is down: {health}"
    );
    let recovered =
        recovered.expect("charges must succeed again within 15 s of the database's return");
    eprintln!("recovered {:?} after the restart", restarted_at.elapsed());

    // Nothing was charged or recorded for the request refused during the outage.
    let (status, body) = client.get(&format!("/payments/find/{mu_outage}")).await;
    assert_eq!(status, 404, "the refused charge left no payment: {body}");
    assert_ok(&client.get("/readyz").await, "readyz after the restart");
    assert_eq!(client.payment(&imp_uid).await["status"], "paid");
    let approvals: Vec<Value> =
        server.ledger().into_iter().filter(|e| e["kind"] == "approval").collect();
    let paid_after = attempts
        .iter()
        .filter(|o| matches!(&o.result, Ok((_, b)) if b["code"] == 0 && b["response"]["status"] == "paid"))
        .count();
    assert_eq!(approvals.len(), 1 + paid_after, "one approval per paid charge: {approvals:?}");
    assert!(approvals.iter().any(|e| e["order_id"] == recovered["imp_uid"]), "{approvals:?}");
}
