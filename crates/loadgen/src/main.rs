//! `openimp-loadgen`: drives N concurrent clients against a running openimp server for a fixed
//! time and reports throughput and latency.
//!
//! Scenarios:
//! - `again` (default): gets a token (`POST /users/getToken`), issues one billing key
//!   (`POST /subscribe/customers/{customer_uid}`), then every client loops on
//!   `POST /subscribe/payments/again` with a fresh `merchant_uid` per request. A request succeeds
//!   only on HTTP 200, body `code` 0 and `response.status == "paid"`.
//! - `healthz`: `GET /healthz` without auth; a request succeeds on HTTP 200.
//!
//! The run is bounded: clients stop starting requests after `warmup + duration`, and every
//! request has a timeout. Requests started during warmup are counted apart and left out of
//! every figure. Only the given URL is contacted, and it must be a loopback address unless
//! `--allow-remote` is given.

mod report;

use std::net::IpAddr;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::Context as _;
use clap::{Parser, ValueEnum};
use serde_json::{json, Value};

use crate::report::{Latency, Report, Tally};

/// Load driver for an openimp server (i'mport V1 API).
#[derive(Debug, Parser)]
#[command(name = "openimp-loadgen", version)]
struct Args {
    /// Base URL of the server, e.g. http://127.0.0.1:8080. Several nodes: separate them with
    /// commas; client N talks to node N mod count (setup goes to the first).
    #[arg(long, env = "OPENIMP_URL")]
    url: String,
    /// REST API key of a merchant (needed by `again`).
    #[arg(long, env = "OPENIMP_IMP_KEY")]
    imp_key: Option<String>,
    /// REST API secret of that merchant (needed by `again`).
    #[arg(long, env = "OPENIMP_IMP_SECRET", hide_env_values = true)]
    imp_secret: Option<String>,
    /// Number of concurrent clients.
    #[arg(long, default_value_t = 64, value_parser = clap::value_parser!(u16).range(1..=4096))]
    clients: u16,
    /// Length of the measured window, in seconds.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..=3600))]
    duration_secs: u64,
    /// Warmup before the measured window, in seconds; its requests are not counted.
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u64).range(0..=600))]
    warmup_secs: u64,
    /// Timeout of each request, in seconds.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..=300))]
    timeout_secs: u64,
    /// What the clients do.
    #[arg(long, value_enum, default_value_t = Scenario::Again)]
    scenario: Scenario,
    /// The billing key (`customer_uid`) issued before the run and charged by `again`.
    #[arg(long, default_value = "bench-customer")]
    customer_uid: String,
    /// Print one JSON object instead of the text report.
    #[arg(long)]
    json: bool,
    /// Allow a URL whose host is not a loopback address.
    #[arg(long)]
    allow_remote: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Scenario {
    /// `POST /subscribe/payments/again` with a stored billing key.
    Again,
    /// `GET /healthz`.
    Healthz,
}

impl Scenario {
    fn name(self) -> &'static str {
        match self {
            Scenario::Again => "again",
            Scenario::Healthz => "healthz",
        }
    }
}

/// The card the billing key is issued with: the sandbox approves it.
const BENCH_CARD: &str = "4092-0230-1234-5678";

/// How long a client waits after a connection error before its next request.
const CONNECT_ERROR_PAUSE: Duration = Duration::from_millis(20);

fn main() -> ExitCode {
    let args = Args::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("openimp-loadgen: cannot start the async runtime: {err}");
            return ExitCode::from(2);
        }
    };
    match runtime.block_on(run(args)) {
        Ok(report) if report.successes > 0 => ExitCode::SUCCESS,
        Ok(_) => {
            eprintln!("openimp-loadgen: no request succeeded");
            ExitCode::from(1)
        }
        Err(err) => {
            eprintln!("openimp-loadgen: {err:#}");
            ExitCode::from(2)
        }
    }
}

/// Shared by every client task.
struct Ctx {
    http: reqwest::Client,
    scenario: Scenario,
    /// Every node's base URL.
    base_urls: Vec<String>,
    authorization: String,
    customer_uid: String,
    run_id: String,
    measure_from: Instant,
    end: Instant,
}

impl Ctx {
    /// The node a client talks to.
    fn node(&self, client_idx: usize) -> &str {
        &self.base_urls[client_idx % self.base_urls.len()]
    }
}

async fn run(args: Args) -> anyhow::Result<Report> {
    let base_urls: Vec<String> = args
        .url
        .split(',')
        .map(|u| u.trim().trim_end_matches('/').to_owned())
        .filter(|u| !u.is_empty())
        .collect();
    for url in &base_urls {
        check_url(url, args.allow_remote)?;
    }
    let base_url = base_urls.first().cloned().context("--url is empty")?;
    let clients = usize::from(args.clients);
    let timeout = Duration::from_secs(args.timeout_secs);

    // One client for everyone, its idle pool big enough that no client has to reconnect.
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(clients)
        .timeout(timeout)
        .connect_timeout(timeout)
        .tcp_nodelay(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .context("building the HTTP client")?;

    let authorization = match args.scenario {
        Scenario::Again => {
            let imp_key = args.imp_key.as_deref().context("--imp-key is required for `again`")?;
            let imp_secret =
                args.imp_secret.as_deref().context("--imp-secret is required for `again`")?;
            let token = get_token(&http, &base_url, imp_key, imp_secret).await?;
            let authorization = format!("Bearer {token}");
            issue_billing_key(&http, &base_url, &authorization, &args.customer_uid).await?;
            authorization
        }
        Scenario::Healthz => String::new(),
    };

    let start = Instant::now();
    let measure_from = start + Duration::from_secs(args.warmup_secs);
    let end = measure_from + Duration::from_secs(args.duration_secs);
    let ctx = Arc::new(Ctx {
        http,
        scenario: args.scenario,
        base_urls,
        authorization,
        customer_uid: args.customer_uid.clone(),
        run_id: run_id(),
        measure_from,
        end,
    });

    let mut tasks = Vec::with_capacity(clients);
    for client_idx in 0..clients {
        tasks.push(tokio::spawn(client_loop(Arc::clone(&ctx), client_idx)));
    }
    let mut total = Tally::default();
    let mut last_finish = end;
    for task in tasks {
        let (tally, finished_at) = task.await.context("a client task panicked")?;
        total.merge(tally);
        last_finish = last_finish.max(finished_at);
    }

    let measured_secs = last_finish.duration_since(measure_from).as_secs_f64();
    let latency = Latency::from_samples(&mut total.latencies_us);
    let report = Report {
        scenario: args.scenario.name(),
        url: args.url.clone(),
        clients,
        warmup_secs: args.warmup_secs,
        duration_secs: args.duration_secs,
        measured_secs,
        requests: total.requests,
        successes: total.successes,
        errors: total.errors,
        warmup_requests: total.warmup_requests,
        throughput_rps: total.successes as f64 / measured_secs,
        latency,
    };
    if args.json {
        println!("{}", report.to_json());
    } else {
        print!("{}", report.to_text());
    }
    Ok(report)
}

/// One client: requests back to back until the end of the run. Returns its tally and the
/// instant its last request finished.
async fn client_loop(ctx: Arc<Ctx>, client_idx: usize) -> (Tally, Instant) {
    let mut tally = Tally::default();
    let mut seq: u64 = 0;
    loop {
        let started = Instant::now();
        if started >= ctx.end {
            return (tally, started);
        }
        let outcome = match ctx.scenario {
            Scenario::Again => again_once(&ctx, client_idx, seq).await,
            Scenario::Healthz => healthz_once(&ctx, client_idx).await,
        };
        seq += 1;
        // A refused connection comes back at once; pause so a dead server is not spun on.
        let refused = matches!(&outcome, Err(kind) if kind == "connect");
        if started >= ctx.measure_from {
            tally.record(outcome, started.elapsed());
        } else {
            tally.warmup_requests += 1;
        }
        if refused {
            tokio::time::sleep(CONNECT_ERROR_PAUSE).await;
        }
    }
}

/// One `POST /subscribe/payments/again`; `Err` carries the error kind.
async fn again_once(ctx: &Ctx, client_idx: usize, seq: u64) -> Result<(), String> {
    let merchant_uid = format!("bench-{}-{client_idx}-{seq}", ctx.run_id);
    let body = json!({
        "customer_uid": ctx.customer_uid,
        "merchant_uid": merchant_uid,
        "amount": 1000,
        "name": "bench",
    });
    let response = ctx
        .http
        .post(format!("{}/subscribe/payments/again", ctx.node(client_idx)))
        .header(reqwest::header::AUTHORIZATION, &ctx.authorization)
        .json(&body)
        .send()
        .await
        .map_err(|err| transport_kind(&err))?;
    let status = response.status();
    let bytes = response.bytes().await.map_err(|err| transport_kind(&err))?;
    if status != reqwest::StatusCode::OK {
        return Err(format!("http_{}", status.as_u16()));
    }
    let envelope: Value = serde_json::from_slice(&bytes).map_err(|_| "bad_json".to_owned())?;
    match envelope.get("code").and_then(Value::as_i64) {
        Some(0) => {}
        Some(code) => return Err(format!("code_{code}")),
        None => return Err("no_code".to_owned()),
    }
    match envelope.pointer("/response/status").and_then(Value::as_str) {
        Some("paid") => Ok(()),
        Some(other) => Err(format!("status_{other}")),
        None => Err("no_status".to_owned()),
    }
}

/// One `GET /healthz`; `Err` carries the error kind.
async fn healthz_once(ctx: &Ctx, client_idx: usize) -> Result<(), String> {
    let response = ctx
        .http
        .get(format!("{}/healthz", ctx.node(client_idx)))
        .send()
        .await
        .map_err(|err| transport_kind(&err))?;
    let status = response.status();
    // Read the body so the connection goes back to the pool.
    response.bytes().await.map_err(|err| transport_kind(&err))?;
    if status == reqwest::StatusCode::OK {
        Ok(())
    } else {
        Err(format!("http_{}", status.as_u16()))
    }
}

fn transport_kind(err: &reqwest::Error) -> String {
    let kind = if err.is_timeout() {
        "timeout"
    } else if err.is_connect() {
        "connect"
    } else if err.is_body() || err.is_decode() {
        "body"
    } else {
        "transport"
    };
    kind.to_owned()
}

async fn get_token(
    http: &reqwest::Client,
    base_url: &str,
    imp_key: &str,
    imp_secret: &str,
) -> anyhow::Result<String> {
    let envelope = post_json(
        http,
        &format!("{base_url}/users/getToken"),
        None,
        &json!({ "imp_key": imp_key, "imp_secret": imp_secret }),
    )
    .await
    .context("getting a token")?;
    envelope
        .pointer("/response/access_token")
        .and_then(Value::as_str)
        .map(str::to_owned)
        .context("getToken: no response.access_token in the answer")
}

async fn issue_billing_key(
    http: &reqwest::Client,
    base_url: &str,
    authorization: &str,
    customer_uid: &str,
) -> anyhow::Result<()> {
    let body = json!({
        "card_number": BENCH_CARD,
        "expiry": "2030-12",
        "birth": "820213",
        "pwd_2digit": "00",
    });
    post_json(
        http,
        &format!("{base_url}/subscribe/customers/{customer_uid}"),
        Some(authorization),
        &body,
    )
    .await
    .with_context(|| format!("issuing the billing key {customer_uid}"))?;
    Ok(())
}

/// Posts JSON and returns the envelope; anything but HTTP 200 with `code` 0 is an error that
/// quotes the start of the body.
async fn post_json(
    http: &reqwest::Client,
    url: &str,
    authorization: Option<&str>,
    body: &Value,
) -> anyhow::Result<Value> {
    let mut request = http.post(url).json(body);
    if let Some(authorization) = authorization {
        request = request.header(reqwest::header::AUTHORIZATION, authorization);
    }
    let response = request.send().await.with_context(|| format!("POST {url}"))?;
    let status = response.status();
    let text = response.text().await.with_context(|| format!("reading the answer of {url}"))?;
    let snippet: String = text.chars().take(300).collect();
    anyhow::ensure!(status == reqwest::StatusCode::OK, "POST {url}: HTTP {status}: {snippet}");
    let envelope: Value = serde_json::from_str(&text)
        .with_context(|| format!("POST {url}: the answer is not JSON: {snippet}"))?;
    anyhow::ensure!(
        envelope.get("code").and_then(Value::as_i64) == Some(0),
        "POST {url}: code is not 0: {snippet}"
    );
    Ok(envelope)
}

/// Refuses anything but http(s) to a loopback host, unless remote targets are allowed.
fn check_url(base_url: &str, allow_remote: bool) -> anyhow::Result<()> {
    let url = reqwest::Url::parse(base_url).with_context(|| format!("bad --url {base_url}"))?;
    anyhow::ensure!(
        matches!(url.scheme(), "http" | "https"),
        "--url must be http or https, not {}",
        url.scheme()
    );
    let host = url.host_str().context("--url has no host")?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let loopback = host.eq_ignore_ascii_case("localhost")
        || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback());
    anyhow::ensure!(
        loopback || allow_remote,
        "--url host {host} is not a loopback address; pass --allow-remote to load it anyway"
    );
    Ok(())
}

/// A short id that keeps `merchant_uid`s of different runs apart (and within 40 characters).
fn run_id() -> String {
    let nanos = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0);
    format!("{:08x}", nanos % 0x1_0000_0000)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_urls_pass() {
        for url in [
            "http://127.0.0.1:8080",
            "http://localhost:1",
            "http://[::1]:3000/",
            "http://127.9.9.9",
        ] {
            assert!(check_url(url, false).is_ok(), "{url}");
        }
    }

    #[test]
    fn remote_urls_need_the_flag() {
        assert!(check_url("http://10.0.0.1:8080", false).is_err());
        assert!(check_url("http://example.com", false).is_err());
        assert!(check_url("http://example.com", true).is_ok());
        assert!(check_url("ftp://127.0.0.1", true).is_err());
    }

    #[test]
    fn merchant_uid_fits_forty_characters() {
        let merchant_uid = format!("bench-{}-{}-{}", run_id(), 4095, 9_999_999);
        assert!(merchant_uid.len() <= 40, "{merchant_uid}");
    }
}
