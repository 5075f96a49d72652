//! Money safety: races on one merchant_uid, concurrent partial cancels, a crash between the PG
//! call and the outcome write, PG timeouts settled by the reconciler, and card data that never
//! reaches the database files or the logs.

#[macro_use]
mod common;

use std::time::Duration;

use common::*;
use serde_json::{json, Value};

dual_backend_tests!(
    concurrent_again_one_merchant_uid,
    concurrent_distinct_orders_all_paid,
    concurrent_partial_cancels,
    crash_after_pg_call_settles_paid,
    pg_timeout_reconciled_to_paid,
    card_number_never_stored_or_logged,
    concurrent_mixed_charges_one_merchant_uid,
    concurrent_full_and_partial_cancels,
    state_survives_restart,
);

fn approvals(server: &TestServer) -> Vec<Value> {
    server.ledger().into_iter().filter(|e| e["kind"] == "approval").collect()
}

async fn concurrent_again_one_merchant_uid(backend: Backend) {
    let server = TestServer::start_with(
        &backend,
        ServerOpts { sandbox_delay_ms: Some(100), ..Default::default() },
    )
    .await;
    let (_, client) = server.merchant_client().await;
    let cu = uid("cust");
    client.issue_key_ok(&cu, CARD_OK).await;
    let mu = uid("race");

    let futs = (0..50).map(|_| {
        let client = client.clone();
        let (cu, mu) = (cu.clone(), mu.clone());
        async move { client.again(&cu, &mu, 7_700).await }
    });
    let results: Vec<Resp> = futures::future::join_all(futs).await;

    let paid: Vec<&Value> = results
        .iter()
        .filter(|(_, b)| b["code"] == 0 && b["response"]["status"] == "paid")
        .map(|(_, b)| &b["response"])
        .collect();
    assert_eq!(
        paid.len(),
        1,
        "exactly one request wins: {:?}",
        results.iter().map(|r| &r.1).collect::<Vec<_>>()
    );
    for (status, body) in &results {
        if body["code"] == 0 {
            assert_eq!(
                body["response"]["status"], "paid",
                "a code-0 response must be the paid one: {body}"
            );
            continue;
        }
        assert!(
            *status < 500,
            "a losing request is a clear refusal, not a server error: HTTP {status}: {body}"
        );
        assert_failure(&(*status, body.clone()), "losing request");
    }

    let ledger = approvals(&server);
    assert_eq!(ledger.len(), 1, "exactly one approval: {ledger:?}");
    assert_eq!(ledger[0]["order_id"], paid[0]["imp_uid"]);
    let all = assert_ok(&client.get(&format!("/payments/findAll/{mu}")).await, "findAll");
    let live: Vec<&Value> =
        all["list"].as_array().unwrap().iter().filter(|p| p["status"] != "failed").collect();
    assert_eq!(live.len(), 1, "one live payment for the merchant_uid: {all}");
    assert_eq!(live[0]["status"], "paid");
}

async fn concurrent_distinct_orders_all_paid(backend: Backend) {
    let server = TestServer::start(&backend).await;
    let (_, client) = server.merchant_client().await;
    let cu = uid("cust");
    client.issue_key_ok(&cu, CARD_OK).await;
    let futs = (0..30).map(|i| {
        let client = client.clone();
        let cu = cu.clone();
        async move {
            if i % 2 == 0 {
                client.again(&cu, &uid("par"), 1000 + i).await
            } else {
                client.onetime(&uid("par"), 1000 + i, CARD_OK).await
            }
        }
    });
    let results: Vec<Resp> = futures::future::join_all(futs).await;
    for (status, body) in &results {
        assert_eq!(*status, 200, "{body}");
        assert_eq!(body["code"], 0, "parallel charges on distinct orders all succeed: {body}");
        assert_eq!(body["response"]["status"], "paid", "{body}");
    }
    assert_eq!(approvals(&server).len(), 30);
    let list = assert_ok(&client.get("/payments/status/paid?limit=100").await, "status/paid");
    assert_eq!(list["total"], 30, "{}", list["total"]);
}

async fn concurrent_partial_cancels(backend: Backend) {
    let server = TestServer::start_with(
        &backend,
        ServerOpts { sandbox_delay_ms: Some(50), ..Default::default() },
    )
    .await;
    let (_, client) = server.merchant_client().await;
    let p = client.onetime_paid(&uid("cancel_race"), 10_000).await;
    let imp_uid = p["imp_uid"].as_str().unwrap().to_owned();

    let futs = (0..20).map(|_| {
        let client = client.clone();
        let imp_uid = imp_uid.clone();
        async move {
            client.cancel(&json!({"imp_uid": imp_uid, "amount": 1000, "reason": "race"})).await
        }
    });
    let results: Vec<Resp> = futures::future::join_all(futs).await;
    let ok = results.iter().filter(|(_, b)| b["code"] == 0).count();
    assert_eq!(
        ok,
        10,
        "exactly ten 1,000 cancels fit in 10,000: {:?}",
        results.iter().map(|r| &r.1).collect::<Vec<_>>()
    );
    for (status, body) in &results {
        assert!(*status < 500, "HTTP {status}: {body}");
    }
    let after = client.payment(&imp_uid).await;
    assert_eq!(after["cancel_amount"], 10_000, "{after}");
    assert_eq!(after["status"], "cancelled", "{after}");
    assert_eq!(after["cancel_history"].as_array().unwrap().len(), 10, "{after}");
    let cancels = server.ledger_for(&imp_uid, "cancel");
    let sum: i64 = cancels.iter().map(|e| e["amount"].as_i64().unwrap()).sum();
    assert_eq!(sum, 10_000, "the PG refunded exactly the amount: {cancels:?}");
}

async fn crash_after_pg_call_settles_paid(backend: Backend) {
    let env = Env::new(&backend).await;
    let merchant;
    let mu = uid("crash");
    {
        let mut server = TestServer::start_in(
            env.clone(),
            ServerOpts { fault_crash_after_pg_call: true, ..Default::default() },
        )
        .await;
        merchant = server.create_merchant();
        let client = server.client(&merchant).await;
        let result = client
            .try_post_json(
                "/subscribe/payments/onetime",
                &json!({"merchant_uid": mu, "amount": 31_337, "card_number": CARD_OK, "expiry": EXPIRY,
                        "birth": BIRTH, "pwd_2digit": PWD2, "name": "crash"}),
            )
            .await;
        assert!(result.is_err(), "the client should see a broken connection, got {result:?}");
        let status = server.wait_exit(Duration::from_secs(15)).await;
        assert!(status.is_some(), "the server should have aborted; logs:\n{}", server.logs());
        let ledger = approvals(&server);
        assert_eq!(ledger.len(), 1, "the PG approved before the crash: {ledger:?}");
        assert_eq!(ledger[0]["amount"], 31_337);
    }

    let server = TestServer::start_in(
        env.clone(),
        ServerOpts {
            reconcile_interval_secs: Some(1),
            reconcile_after_secs: Some(0),
            ..Default::default()
        },
    )
    .await;
    let client = server.client(&merchant).await;
    let settled =
        eventually(Duration::from_secs(30), "the crashed payment is settled as paid", || {
            let client = client.clone();
            let mu = mu.clone();
            async move {
                let (status, body) = client.get(&format!("/payments/find/{mu}")).await;
                (status == 200 && body["response"]["status"] == "paid")
                    .then(|| body["response"].clone())
            }
        })
        .await;
    assert_eq!(settled["amount"], 31_337);
    assert!(settled["paid_at"].as_i64().unwrap() > 0, "{settled}");
    assert!(settled["pg_tid"].is_string(), "{settled}");

    let ledger = approvals(&server);
    assert_eq!(ledger.len(), 1, "still exactly one approval: {ledger:?}");
    assert_eq!(ledger[0]["order_id"], settled["imp_uid"], "the ledger's order is the payment");
    assert_eq!(ledger[0]["tid"], settled["pg_tid"]);

    // The settled merchant_uid cannot be charged again.
    let again = client.onetime(&mu, 31_337, CARD_OK).await;
    assert_failure(&again, "charge of a settled merchant_uid");
    assert_eq!(approvals(&server).len(), 1);
    // And it is a normal, cancellable payment.
    let r = assert_ok(&client.cancel(&json!({"merchant_uid": mu})).await, "cancel after reconcile");
    assert_eq!(r["status"], "cancelled");
}

async fn pg_timeout_reconciled_to_paid(backend: Backend) {
    let server = TestServer::start_with(
        &backend,
        ServerOpts {
            reconcile_interval_secs: Some(1),
            reconcile_after_secs: Some(3),
            ..Default::default()
        },
    )
    .await;
    let (_, client) = server.merchant_client().await;

    // Keyed one-time charge.
    let mu = uid("timeout");
    let resp = client.onetime(&mu, 9_009, &card("0009")).await;
    let p = assert_ok(&resp, "onetime with the timeout card");
    assert_eq!(p["status"], "ready", "a PG timeout leaves the payment pending (ready): {p}");
    assert_eq!(p["paid_at"], 0, "{p}");
    assert_eq!(p["failed_at"], 0, "{p}");
    let imp_uid = p["imp_uid"].as_str().unwrap().to_owned();
    // While pending, the merchant_uid is taken.
    let dup = client.onetime(&mu, 9_009, CARD_OK).await;
    assert_failure(&dup, "charge while the first is pending");
    let listed = assert_ok(&client.get("/payments/status/ready").await, "status/ready");
    let now_status = client.payment(&imp_uid).await["status"].clone();
    assert!(
        listed["total"] == 1 || now_status == "paid",
        "a pending payment is listed as ready: {listed} (now {now_status})"
    );

    // Billing-key charge.
    let cu = uid("cust");
    client.issue_key_ok(&cu, &card("0009")).await;
    let mu2 = uid("timeout_again");
    let p2 = assert_ok(&client.again(&cu, &mu2, 9_010).await, "again with the timeout card");
    assert_eq!(p2["status"], "ready", "{p2}");
    let imp_uid2 = p2["imp_uid"].as_str().unwrap().to_owned();

    for id in [&imp_uid, &imp_uid2] {
        let settled = eventually(
            Duration::from_secs(30),
            "the reconciler settles the timeout as paid",
            || {
                let client = client.clone();
                let id = id.clone();
                async move {
                    let (status, body) = client.get(&format!("/payments/{id}")).await;
                    (status == 200 && body["response"]["status"] == "paid")
                        .then(|| body["response"].clone())
                }
            },
        )
        .await;
        assert!(settled["paid_at"].as_i64().unwrap() > 0, "{settled}");
        assert!(settled["pg_tid"].is_string(), "{settled}");
        let ledger = server.ledger_for(id, "approval");
        assert_eq!(ledger.len(), 1, "exactly one approval for {id}: {ledger:?}");
        assert_eq!(ledger[0]["tid"], settled["pg_tid"]);
    }
    assert_eq!(approvals(&server).len(), 2, "nothing else was charged");
}

/// Every file under `dir`, recursively.
fn files_under(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else {
                out.push(path);
            }
        }
    }
    out
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

async fn card_number_never_stored_or_logged(backend: Backend) {
    let server = TestServer::start_with(
        &backend,
        ServerOpts { env: vec![("RUST_LOG".into(), "debug".into())], ..Default::default() },
    )
    .await;
    let (_, client) = server.merchant_client().await;
    let secret_ok = "4092-0230-9876-5432";
    let secret_decline = "4092-0230-9876-0002";
    let secret_refuse = "4092-0230-9876-0005";

    // Billing key, charges, declines, refusals, invalid input: every path a card takes.
    let cu = uid("cust");
    client.issue_key_ok(&cu, secret_ok).await;
    client.again_paid(&cu, &uid("a"), 1000).await;
    let (_, body) = client.onetime(&uid("b"), 1000, secret_ok).await;
    assert_eq!(body["response"]["status"], "paid", "{body}");
    let (_, body) = client.onetime(&uid("c"), 1000, secret_decline).await;
    assert_eq!(body["response"]["status"], "failed", "{body}");
    let resp = client.issue_key(&uid("refused"), secret_refuse).await;
    assert_failure(&resp, "0005 issue");
    let resp = client
        .post_json(
            &format!("/subscribe/customers/{}", uid("expired")),
            &json!({"card_number": secret_ok, "expiry": "2020-01", "birth": BIRTH, "pwd_2digit": PWD2}),
        )
        .await;
    assert_failure(&resp, "expired");
    let resp = client
        .post_json(
            &format!("/subscribe/customers/{}", uid("badbirth")),
            &json!({"card_number": secret_ok, "expiry": EXPIRY, "birth": "1", "pwd_2digit": PWD2}),
        )
        .await;
    assert_failure(&resp, "bad birth");
    let form = client
        .post_form(
            "/subscribe/payments/onetime",
            &[
                ("merchant_uid", &uid("d")),
                ("amount", "1000"),
                ("card_number", secret_ok),
                ("expiry", EXPIRY),
            ],
        )
        .await;
    assert_ok(&form, "onetime (form)");
    let cu2 = uid("cust2");
    let resp = client
        .post_json(
            "/subscribe/payments/onetime",
            &json!({"merchant_uid": uid("e"), "amount": 1000, "card_number": secret_ok, "expiry": EXPIRY,
                    "customer_uid": cu2}),
        )
        .await;
    assert_ok(&resp, "onetime storing a key");
    // Let the logs flush.
    tokio::time::sleep(Duration::from_millis(500)).await;

    let mut needles: Vec<String> = Vec::new();
    for n in [secret_ok, secret_decline, secret_refuse] {
        needles.push(n.to_owned());
        needles.push(n.replace('-', ""));
    }

    // Logs (stdout and stderr).
    let logs = server.logs();
    assert!(!logs.is_empty(), "expected some log output");
    for n in &needles {
        assert!(!logs.contains(n.as_str()), "the server's logs contain the card number {n}");
    }

    // Database files (SQLite) — every file in the data directory, WAL included.
    if backend.is_sqlite() {
        let files = files_under(&server.data_dir());
        assert!(files.iter().any(|f| f.ends_with("openimp.db")), "openimp.db exists: {files:?}");
        for f in &files {
            let bytes = std::fs::read(f).unwrap_or_default();
            for n in &needles {
                assert!(
                    !contains(&bytes, n.as_bytes()),
                    "{} contains the card number {n}",
                    f.display()
                );
            }
        }
    }
    // Database rows (PostgreSQL): every row of every table, as text.
    if let Some(url) = &server.env.database_url {
        use sqlx::{Connection, Row};
        let mut conn =
            sqlx::PgConnection::connect(url).await.expect("connect to the test database");
        let tables: Vec<String> = sqlx::query(
            "SELECT table_name::text FROM information_schema.tables WHERE table_schema = 'public' AND table_type = 'BASE TABLE'",
        )
        .fetch_all(&mut conn)
        .await
        .expect("list tables")
        .iter()
        .map(|r| r.get::<String, _>(0))
        .collect();
        assert!(tables.iter().any(|t| t == "payments"), "tables: {tables:?}");
        for t in &tables {
            let rows = sqlx::query(&format!("SELECT row_to_json(t)::text FROM \"{t}\" t"))
                .fetch_all(&mut conn)
                .await
                .expect("dump table");
            for r in rows {
                let text: String = r.get(0);
                for n in &needles {
                    assert!(
                        !text.contains(n.as_str()),
                        "table {t} holds the card number {n}: {text}"
                    );
                }
            }
        }
        let _ = conn.close().await;
    }
}

/// again and onetime racing on one merchant_uid (and on one prepared amount): one charge.
async fn concurrent_mixed_charges_one_merchant_uid(backend: Backend) {
    let server = TestServer::start_with(
        &backend,
        ServerOpts { sandbox_delay_ms: Some(50), ..Default::default() },
    )
    .await;
    let (_, client) = server.merchant_client().await;
    let cu = uid("cust");
    client.issue_key_ok(&cu, CARD_OK).await;
    let mu = uid("mixed");
    let futs = (0..30).map(|i| {
        let client = client.clone();
        let (cu, mu) = (cu.clone(), mu.clone());
        async move {
            match i % 3 {
                0 => client.again(&cu, &mu, 5_500).await,
                1 => client.onetime(&mu, 5_500, CARD_OK).await,
                _ => {
                    client
                        .post_json(
                            "/payments/prepare",
                            &json!({"merchant_uid": mu, "amount": 5_500}),
                        )
                        .await
                }
            }
        }
    });
    let results: Vec<Resp> = futures::future::join_all(futs).await;
    for (status, body) in &results {
        assert!(*status < 500, "HTTP {status}: {body}");
    }
    let paid =
        results.iter().filter(|(_, b)| b["code"] == 0 && b["response"]["status"] == "paid").count();
    assert_eq!(paid, 1, "one paid charge: {:?}", results.iter().map(|r| &r.1).collect::<Vec<_>>());
    let prepared = results
        .iter()
        .filter(|(_, b)| b["code"] == 0 && b["response"].get("status").is_none())
        .count();
    assert!(prepared <= 1, "at most one prepare registers: {prepared}");
    assert_eq!(approvals(&server).len(), 1, "one approval: {:?}", approvals(&server));
}

/// A full cancel racing partial cancels never refunds more than the payment.
async fn concurrent_full_and_partial_cancels(backend: Backend) {
    let server = TestServer::start_with(
        &backend,
        ServerOpts { sandbox_delay_ms: Some(50), ..Default::default() },
    )
    .await;
    let (_, client) = server.merchant_client().await;
    let p = client.onetime_paid(&uid("mixed_cancel"), 10_000).await;
    let imp_uid = p["imp_uid"].as_str().unwrap().to_owned();
    let futs = (0..12).map(|i| {
        let client = client.clone();
        let imp_uid = imp_uid.clone();
        async move {
            let body = if i % 4 == 0 {
                json!({"imp_uid": imp_uid, "reason": "full"})
            } else {
                json!({"imp_uid": imp_uid, "amount": 3000, "reason": "partial"})
            };
            client.cancel(&body).await
        }
    });
    let results: Vec<Resp> = futures::future::join_all(futs).await;
    for (status, body) in &results {
        assert!(*status < 500, "HTTP {status}: {body}");
    }
    let after = client.payment(&imp_uid).await;
    let history_sum: i64 = after["cancel_history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["amount"].as_i64().unwrap())
        .sum();
    assert_eq!(after["cancel_amount"].as_i64().unwrap(), history_sum, "{after}");
    assert!(history_sum <= 10_000, "refunded more than paid: {after}");
    let ledger_sum: i64 =
        server.ledger_for(&imp_uid, "cancel").iter().map(|e| e["amount"].as_i64().unwrap()).sum();
    assert_eq!(ledger_sum, history_sum, "the PG refunded what the payment records");
    let ok_sum: i64 = results.iter().filter(|(_, b)| b["code"] == 0).count() as i64;
    assert!(ok_sum >= 1, "some cancel succeeded");
    if after["status"] == "cancelled" {
        assert_eq!(history_sum, 10_000, "{after}");
    }
}

/// State survives a clean restart: tokens, sealed billing keys (the master key in the data
/// directory), payments, prepares.
async fn state_survives_restart(backend: Backend) {
    let env = Env::new(&backend).await;
    let (merchant, token, cu, imp_uid, prep) = {
        let server = TestServer::start_in(env.clone(), ServerOpts::default()).await;
        let (m, client) = server.merchant_client().await;
        let cu = uid("cust");
        client.issue_key_ok(&cu, CARD_OK).await;
        let p = client.again_paid(&cu, &uid("before"), 2_000).await;
        let prep = uid("prep");
        assert_ok(
            &client
                .post_json("/payments/prepare", &json!({"merchant_uid": prep, "amount": 4_000}))
                .await,
            "prepare",
        );
        (m, client.token.clone().unwrap(), cu, p["imp_uid"].as_str().unwrap().to_owned(), prep)
    };
    let server = TestServer::start_in(env.clone(), ServerOpts::default()).await;
    let client = server.anon().with_token(Some(&token));
    let p = client.payment(&imp_uid).await;
    assert_eq!(p["status"], "paid", "the old token and the payment survive a restart: {p}");
    assert_ok(&client.get(&format!("/subscribe/customers/{cu}")).await, "key after restart");
    let prep_got = assert_ok(&client.get(&format!("/payments/prepare/{prep}")).await, "prepare");
    assert_eq!(prep_got["amount"], 4_000);
    // The sealed billing key still opens: it charges.
    client.again_paid(&cu, &prep, 4_000).await;
    // getToken hands out the same token after the restart.
    let again = server.client(&merchant).await;
    assert_eq!(again.token.as_deref(), Some(token.as_str()), "same token after restart");
    assert_eq!(approvals(&server).len(), 2);
}
