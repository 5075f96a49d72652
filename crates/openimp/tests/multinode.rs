//! Several nodes on one PostgreSQL database (issue 3): `migrate` on a fresh database, tokens and
//! sealed billing keys shared between nodes, duplicate charges racing across nodes, a node
//! killed mid-charge and settled by another node's reconciler. Plus the `/metrics` names, on
//! both backends.
//!
//! The PostgreSQL tests run only when `OPENIMP_TEST_POSTGRES_URL` is set. Every node has a data
//! directory of its own but all of them, and the CLI, get the same `OPENIMP_MASTER_KEY`: a
//! billing key sealed by one node must open on another.

#[macro_use]
mod common;

use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::*;
use serde_json::{json, Value};

dual_backend_tests!(metrics_after_a_charge);

// ---------------------------------------------------------------------------------------------
// A cluster: one fresh PostgreSQL database, one master key, any number of nodes
// ---------------------------------------------------------------------------------------------

struct Cluster {
    /// Owns the fresh database (dropped with it) and the CLI's data directory. Declared before
    /// the nodes in every test, so it is dropped after them.
    db: Arc<Env>,
    url: String,
    master_key: String,
}

impl Cluster {
    /// A fresh database on the server named by `OPENIMP_TEST_POSTGRES_URL`, or None (the skip is
    /// recorded, or fails the test when CI requires PostgreSQL).
    async fn new(test: &str) -> Option<Cluster> {
        let Some(backend) = Backend::postgres_from_env() else {
            skip(test, &format!("{POSTGRES_ENV} not set"), REQUIRE_POSTGRES_ENV);
            return None;
        };
        let db = Env::new(&backend).await;
        let url = db.database_url.clone().expect("a PostgreSQL environment has a database url");
        let master_key = {
            use rand::RngCore;
            let mut bytes = [0u8; 32];
            rand::thread_rng().fill_bytes(&mut bytes);
            hex::encode(bytes)
        };
        assert_eq!(master_key.len(), 64);
        Some(Cluster { db, url, master_key })
    }

    /// `openimp <args> --data-dir <cli dir> --database-url <db>` with the cluster's master key.
    fn cli(&self, args: &[&str]) -> CliOutput {
        let out = Command::new(BIN)
            .args(args)
            .arg("--data-dir")
            .arg(self.db.path())
            .arg("--database-url")
            .arg(&self.url)
            .env("OPENIMP_MASTER_KEY", &self.master_key)
            .output()
            .expect("run openimp CLI");
        CliOutput {
            success: out.status.success(),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    fn cli_json(&self, args: &[&str]) -> Value {
        let out = self.cli(args);
        assert!(
            out.success,
            "openimp {args:?} failed:\nstdout: {}\nstderr: {}",
            out.stdout, out.stderr
        );
        let text = out.stdout.trim();
        let start = text.find(['{', '[']).unwrap_or_else(|| panic!("{args:?}: no JSON: {text}"));
        serde_json::Deserializer::from_str(&text[start..])
            .into_iter::<Value>()
            .next()
            .and_then(Result::ok)
            .unwrap_or_else(|| panic!("openimp {args:?}: no JSON on stdout: {text}"))
    }

    fn create_merchant(&self) -> Merchant {
        let v = self.cli_json(&["merchant", "create", "--name", &uid("merchant"), "--json"]);
        let s = |k: &str| v[k].as_str().unwrap_or_else(|| panic!("no {k} in {v}")).to_owned();
        Merchant { imp_code: s("imp_code"), imp_key: s("imp_key"), imp_secret: s("imp_secret") }
    }

    fn approvals(&self) -> Vec<Value> {
        let v = self.cli_json(&["sandbox", "ledger", "--json"]);
        v.as_array()
            .unwrap_or_else(|| panic!("sandbox ledger: not an array: {v}"))
            .iter()
            .filter(|e| e["kind"] == "approval")
            .cloned()
            .collect()
    }

    /// Runs `openimp migrate` alone on the (fresh) database and checks what it did.
    async fn migrate(&self) -> i64 {
        let before = self.migrations_applied().await;
        assert_eq!(before, None, "a fresh database has no schema_migrations table");
        let out = self.cli(&["migrate"]);
        assert!(
            out.success,
            "openimp migrate failed:\nstdout: {}\nstderr: {}",
            out.stdout, out.stderr
        );
        let applied = self.migrations_applied().await.expect("schema_migrations after migrate");
        assert!(applied >= 1, "migrate applied no migration");
        // Idempotent: a second run changes nothing.
        let out = self.cli(&["migrate"]);
        assert!(out.success, "second migrate failed: {}", out.stderr);
        assert_eq!(self.migrations_applied().await, Some(applied));
        for table in ["merchants", "access_tokens", "customers", "payments", "sandbox_ledger"] {
            assert!(self.table_exists(table).await, "migrate created {table}");
        }
        applied
    }

    async fn table_exists(&self, table: &str) -> bool {
        use sqlx::{Connection, Row};
        let mut conn =
            sqlx::PgConnection::connect(&self.url).await.expect("connect to the test db");
        let exists: bool = sqlx::query("SELECT to_regclass($1) IS NOT NULL")
            .bind(format!("public.{table}"))
            .fetch_one(&mut conn)
            .await
            .expect("to_regclass")
            .get(0);
        let _ = conn.close().await;
        exists
    }

    /// Rows in `schema_migrations`, or None when the table does not exist.
    async fn migrations_applied(&self) -> Option<i64> {
        use sqlx::{Connection, Row};
        let mut conn =
            sqlx::PgConnection::connect(&self.url).await.expect("connect to the test db");
        let exists: bool =
            sqlx::query("SELECT to_regclass('public.schema_migrations') IS NOT NULL")
                .fetch_one(&mut conn)
                .await
                .expect("to_regclass")
                .get(0);
        let n = if exists {
            Some(
                sqlx::query("SELECT count(*) FROM schema_migrations")
                    .fetch_one(&mut conn)
                    .await
                    .expect("count schema_migrations")
                    .get::<i64, _>(0),
            )
        } else {
            None
        };
        let _ = conn.close().await;
        n
    }

    /// Starts a node: a data directory of its own, the cluster's database and master key.
    async fn node(&self, mut opts: ServerOpts) -> TestServer {
        // A fresh data directory that owns no database, pointed at the cluster's database.
        let mut env = Arc::try_unwrap(Env::new(&Backend::Sqlite).await)
            .ok()
            .expect("a fresh environment has one owner");
        env.backend = self.db.backend.clone();
        env.database_url = Some(self.url.clone());
        opts.env.push(("OPENIMP_MASTER_KEY".to_owned(), self.master_key.clone()));
        TestServer::start_in(Arc::new(env), opts).await
    }

    /// Starts `n` nodes at once.
    async fn nodes(&self, n: usize, opts: ServerOpts) -> Vec<TestServer> {
        futures::future::join_all((0..n).map(|_| self.node(opts.clone()))).await
    }
}

/// A client on `node` holding `token` (issued by any node).
fn on(node: &TestServer, token: &str) -> Client {
    node.anon().with_token(Some(token))
}

/// getToken on `node`; returns the access token.
async fn get_token(node: &TestServer, m: &Merchant) -> String {
    let resp = node
        .anon()
        .post_json("/users/getToken", &json!({"imp_key": m.imp_key, "imp_secret": m.imp_secret}))
        .await;
    let r = assert_ok(&resp, "getToken");
    r["access_token"].as_str().expect("access_token").to_owned()
}

// ---------------------------------------------------------------------------------------------
// Tokens and billing keys across nodes
// ---------------------------------------------------------------------------------------------

/// migrate alone, then `n` nodes: a token from node 0 works everywhere and getToken on every node
/// hands out the same one; a key issued through one node is charged through every other.
async fn nodes_share_tokens_and_keys(n: usize) {
    let test = format!("multinode::nodes_share_tokens_and_keys({n} nodes)");
    let Some(cluster) = Cluster::new(&test).await else { return };
    let applied = cluster.migrate().await;
    let nodes = cluster.nodes(n, ServerOpts::default()).await;
    assert_eq!(
        cluster.migrations_applied().await,
        Some(applied),
        "starting nodes on a migrated database applies nothing again"
    );
    let m = cluster.create_merchant();

    // A token issued by node 0 works on every node, and every node hands out the same one.
    let token = get_token(&nodes[0], &m).await;
    for (i, node) in nodes.iter().enumerate() {
        let (status, body) = on(node, &token).get("/payments/status/paid").await;
        assert_eq!(status, 200, "node {i} accepts node 0's token: {body}");
        assert_eq!(body["code"], 0, "node {i} accepts node 0's token: {body}");
        assert_eq!(get_token(node, &m).await, token, "getToken on node {i} returns the same token");
    }
    // Without a token, or with a wrong one, every node refuses.
    for node in &nodes {
        let (status, _) = on(node, "not-a-token").get("/payments/status/paid").await;
        assert_eq!(status, 401, "a bogus token is refused");
    }

    // A billing key issued through node 0 is charged through every other node.
    let cu = uid("cust");
    on(&nodes[0], &token).issue_key_ok(&cu, CARD_OK).await;
    let mut paid: Vec<(String, i64)> = Vec::new();
    for (i, node) in nodes.iter().enumerate().skip(1) {
        let client = on(node, &token);
        let got = assert_ok(&client.get(&format!("/subscribe/customers/{cu}")).await, "key");
        assert_eq!(got["customer_uid"], cu.as_str(), "node {i} sees the key: {got}");
        let amount = 1_000 + i as i64;
        let p = client.again_paid(&cu, &uid(&format!("node{i}")), amount).await;
        assert_eq!(p["amount"], amount);
        paid.push((p["imp_uid"].as_str().unwrap().to_owned(), amount));
    }
    // And a key issued through the last node is charged through node 0.
    let cu2 = uid("cust");
    on(&nodes[n - 1], &token).issue_key_ok(&cu2, &card("4321")).await;
    let p = on(&nodes[0], &token).again_paid(&cu2, &uid("back"), 2_500).await;
    paid.push((p["imp_uid"].as_str().unwrap().to_owned(), 2_500));

    // Every payment is visible on every node, and the PG charged each exactly once.
    for (imp_uid, amount) in &paid {
        for node in &nodes {
            let got = on(node, &token).payment(imp_uid).await;
            assert_eq!(got["status"], "paid", "{got}");
            assert_eq!(got["amount"], *amount, "{got}");
        }
    }
    let approvals = cluster.approvals();
    assert_eq!(approvals.len(), paid.len(), "one approval per charge: {approvals:?}");
    for (imp_uid, amount) in &paid {
        let mine: Vec<&Value> = approvals.iter().filter(|e| e["order_id"] == *imp_uid).collect();
        assert_eq!(mine.len(), 1, "exactly one approval for {imp_uid}: {approvals:?}");
        assert_eq!(mine[0]["amount"], *amount);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_nodes_share_tokens_and_keys() {
    nodes_share_tokens_and_keys(2).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn three_nodes_share_tokens_and_keys() {
    nodes_share_tokens_and_keys(3).await
}

// ---------------------------------------------------------------------------------------------
// Duplicate charges racing across nodes
// ---------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_again_one_merchant_uid_across_three_nodes() {
    let test = "multinode::concurrent_again_one_merchant_uid_across_three_nodes";
    let Some(cluster) = Cluster::new(test).await else { return };
    cluster.migrate().await;
    // A slow PG widens the window in which the requests overlap.
    let nodes =
        cluster.nodes(3, ServerOpts { sandbox_delay_ms: Some(100), ..Default::default() }).await;
    let m = cluster.create_merchant();
    let token = get_token(&nodes[0], &m).await;
    let cu = uid("cust");
    on(&nodes[1], &token).issue_key_ok(&cu, CARD_OK).await;
    let mu = uid("race");

    let clients: Vec<Client> = nodes.iter().map(|n| on(n, &token)).collect();
    let futs = (0..30).map(|i| {
        let client = clients[i % clients.len()].clone();
        let (cu, mu) = (cu.clone(), mu.clone());
        async move { (i % 3, client.again(&cu, &mu, 7_700).await) }
    });
    let results: Vec<(usize, Resp)> = futures::future::join_all(futs).await;
    let bodies = || {
        results.iter().map(|(n, r)| format!("node {n}: HTTP {} {}", r.0, r.1)).collect::<Vec<_>>()
    };

    let paid: Vec<&Value> = results
        .iter()
        .filter(|(_, (_, b))| b["code"] == 0 && b["response"]["status"] == "paid")
        .map(|(_, (_, b))| &b["response"])
        .collect();
    assert_eq!(paid.len(), 1, "exactly one request wins across the nodes: {:#?}", bodies());
    for (node, (status, body)) in &results {
        if body["code"] == 0 {
            assert_eq!(
                body["response"]["status"], "paid",
                "node {node}: a code-0 answer is the paid one: {body}"
            );
            continue;
        }
        assert!(
            *status < 500,
            "node {node}: a losing request is a refusal, not a server error: HTTP {status}: {body}"
        );
        assert_failure(&(*status, body.clone()), "losing request");
    }

    // Exactly one approval for the merchant (the only merchant on this fresh database).
    let approvals = cluster.approvals();
    assert_eq!(approvals.len(), 1, "exactly one approval: {approvals:?}");
    assert_eq!(approvals[0]["order_id"], paid[0]["imp_uid"]);
    assert_eq!(approvals[0]["amount"], 7_700);
    for (i, client) in clients.iter().enumerate() {
        let all = assert_ok(&client.get(&format!("/payments/findAll/{mu}")).await, "findAll");
        let live: Vec<&Value> =
            all["list"].as_array().unwrap().iter().filter(|p| p["status"] != "failed").collect();
        assert_eq!(live.len(), 1, "node {i}: one live payment for the merchant_uid: {all}");
        assert_eq!(live[0]["imp_uid"], paid[0]["imp_uid"]);
    }

    // Distinct orders spread over the nodes are all charged, once each.
    let futs = (0..15).map(|i| {
        let client = clients[i % clients.len()].clone();
        let cu = cu.clone();
        async move { client.again(&cu, &uid("par"), 1_000 + i as i64).await }
    });
    for resp in futures::future::join_all(futs).await {
        let p = assert_ok(&resp, "distinct order");
        assert_eq!(p["status"], "paid", "{p}");
    }
    assert_eq!(cluster.approvals().len(), 16);
}

// ---------------------------------------------------------------------------------------------
// A node killed mid-charge, settled by another node
// ---------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn node_killed_mid_charge_is_settled_by_another_node() {
    let test = "multinode::node_killed_mid_charge_is_settled_by_another_node";
    let Some(cluster) = Cluster::new(test).await else { return };
    cluster.migrate().await;
    let mut a =
        cluster.node(ServerOpts { fault_crash_after_pg_call: true, ..Default::default() }).await;
    // B reconciles every second anything pending. The reconciler's grace period (two PG
    // timeouts before "not found" may mean "never charged") keeps it from failing A's
    // in-flight charge while it runs.
    let b = cluster
        .node(ServerOpts {
            reconcile_interval_secs: Some(1),
            reconcile_after_secs: Some(0),
            ..Default::default()
        })
        .await;
    let m = cluster.create_merchant();
    let token = get_token(&b, &m).await;
    let cu = uid("cust");
    on(&b, &token).issue_key_ok(&cu, CARD_OK).await;
    let mu = uid("crash");

    let result = on(&a, &token)
        .try_post_json(
            "/subscribe/payments/again",
            &json!({"customer_uid": cu, "merchant_uid": mu, "amount": 31_337, "name": "crash"}),
        )
        .await;
    assert!(result.is_err(), "the client of node A should see a broken connection: {result:?}");
    let status = a.wait_exit(Duration::from_secs(15)).await;
    assert!(status.is_some(), "node A should have aborted; logs:\n{}", a.logs());
    let killed_at = Instant::now();

    let approvals = cluster.approvals();
    assert_eq!(approvals.len(), 1, "the PG approved before node A died: {approvals:?}");
    assert_eq!(approvals[0]["amount"], 31_337);
    let imp_uid = approvals[0]["order_id"].as_str().expect("order_id").to_owned();

    // Node B sees A's payment at once (whatever its reconciler has done yet): the row is in the
    // shared database, pending (`ready`) or already settled.
    let client = on(&b, &token);
    let seen = client.payment(&imp_uid).await;
    assert_eq!(seen["merchant_uid"], mu.as_str(), "{seen}");
    assert_eq!(seen["amount"], 31_337, "{seen}");
    assert!(
        seen["status"] == "ready" || seen["status"] == "paid",
        "A's payment is pending or paid on B, never failed: {seen}"
    );

    // B's reconciler settles it as paid within a few seconds.
    let settled = eventually(Duration::from_secs(15), "node B settles A's payment as paid", || {
        let client = client.clone();
        let imp_uid = imp_uid.clone();
        async move {
            let (status, body) = client.get(&format!("/payments/{imp_uid}")).await;
            (status == 200 && body["response"]["status"] == "paid")
                .then(|| body["response"].clone())
        }
    })
    .await;
    eprintln!("settled {:?} after node A died", killed_at.elapsed());
    assert!(settled["paid_at"].as_i64().unwrap() > 0, "{settled}");
    assert_eq!(settled["pg_tid"], approvals[0]["tid"], "{settled}");
    let by_mu = assert_ok(&client.get(&format!("/payments/find/{mu}")).await, "find");
    assert_eq!(by_mu["imp_uid"], imp_uid.as_str());
    assert_eq!(by_mu["status"], "paid");

    // Still one approval; the merchant_uid cannot be charged again through B.
    let again = client.again(&cu, &mu, 31_337).await;
    assert_failure(&again, "charge of a settled merchant_uid");
    let approvals = cluster.approvals();
    assert_eq!(approvals.len(), 1, "still exactly one approval: {approvals:?}");
    // And it is a normal, cancellable payment.
    let r = assert_ok(&client.cancel(&json!({"imp_uid": imp_uid})).await, "cancel");
    assert_eq!(r["status"], "cancelled");
}

// ---------------------------------------------------------------------------------------------
// Metrics (both backends)
// ---------------------------------------------------------------------------------------------

/// The sample lines of `name` (its own lines, `name{...} v` or `name v`).
fn samples<'a>(text: &'a str, name: &str) -> Vec<&'a str> {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter(|l| {
            l.strip_prefix(name).is_some_and(|rest| rest.starts_with('{') || rest.starts_with(' '))
        })
        .collect()
}

/// The value of a sample line.
fn value(line: &str) -> f64 {
    line.rsplit(' ').next().and_then(|v| v.parse().ok()).unwrap_or(f64::NAN)
}

async fn metrics_after_a_charge(backend: Backend) {
    let server = TestServer::start(&backend).await;
    let (_, client) = server.merchant_client().await;
    let cu = uid("cust");
    client.issue_key_ok(&cu, CARD_OK).await;
    client.again_paid(&cu, &uid("metrics"), 1_000).await;

    let resp = server.anon().http.get(server.url("/metrics")).send().await.expect("GET /metrics");
    assert_eq!(resp.status().as_u16(), 200);
    let content_type =
        resp.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
    assert!(content_type.starts_with("text/plain"), "Prometheus text format: {content_type}");
    let text = resp.text().await.expect("metrics body");

    for name in [
        "openimp_http_requests_total",
        "openimp_http_request_duration_seconds",
        "openimp_charges_total",
        "openimp_pg_call_duration_seconds",
        "openimp_db_pool_connections",
    ] {
        assert!(text.lines().any(|l| l.starts_with(name)), "/metrics has no {name}:\n{text}");
    }

    // Requests counted by route template, never by the raw path.
    let again = samples(&text, "openimp_http_requests_total");
    assert!(
        again.iter().any(|l| l.contains("/subscribe/payments/again")
            && l.contains("status=\"200\"")
            && value(l) >= 1.0),
        "the again request is counted: {again:#?}"
    );
    assert!(
        !text.contains(&cu),
        "metrics must label routes by template, not by raw path (customer_uid leaked):\n{text}"
    );
    assert!(
        !samples(&text, "openimp_http_request_duration_seconds_count").is_empty()
            || !samples(&text, "openimp_http_request_duration_seconds").is_empty(),
        "{text}"
    );
    // One approved charge.
    let charges = samples(&text, "openimp_charges_total");
    assert!(
        charges.iter().any(|l| l.contains("outcome=\"approved\"") && value(l) >= 1.0),
        "an approved charge is counted: {charges:#?}"
    );
    // PG latency recorded for the charge.
    let pg_count = samples(&text, "openimp_pg_call_duration_seconds_count");
    let pg_any = samples(&text, "openimp_pg_call_duration_seconds");
    assert!(
        pg_count.iter().any(|l| value(l) >= 1.0) || pg_any.iter().any(|l| value(l) >= 1.0),
        "the PG call is timed: {pg_count:#?} {pg_any:#?}"
    );
    // Pool gauges, with a positive maximum.
    let pool = samples(&text, "openimp_db_pool_connections");
    assert!(
        pool.iter().any(|l| l.contains("state=\"max\"") && value(l) >= 1.0),
        "pool maximum exposed: {pool:#?}"
    );
    for state in ["in_use", "idle"] {
        assert!(
            pool.iter().any(|l| l.contains(&format!("state=\"{state}\""))),
            "pool {state} exposed: {pool:#?}"
        );
    }
}
