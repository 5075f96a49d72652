//! Scheduled payments (reference §7): the API, the worker charging due schedules once with
//! webhooks, several `openimp worker` processes with one killed mid-run, and billing-key
//! deletion revoking pending schedules. The sandbox ledger is the oracle for what was charged.

#[macro_use]
mod common;
mod support;

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use common::*;
use serde_json::{json, Value};
use support::*;

dual_backend_tests!(
    due_schedules_execute_once_with_webhooks,
    schedule_errors_and_lists,
    unschedule_reschedule_retry,
    deleting_key_revokes_pending_schedules,
    refused_run_records_failed_payment_with_webhook,
    two_workers_one_killed_charge_each_once,
    three_workers_one_killed_charge_each_once,
);

fn now() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64
}

fn item(merchant_uid: &str, at: i64, amount: i64) -> Value {
    json!({"merchant_uid": merchant_uid, "schedule_at": at, "amount": amount, "name": "정기구독"})
}

async fn schedule(c: &Client, customer_uid: &str, items: Vec<Value>) -> Resp {
    c.post_json(
        "/subscribe/payments/schedule",
        &json!({"customer_uid": customer_uid, "schedules": items}),
    )
    .await
}

async fn get_schedule(c: &Client, merchant_uid: &str) -> Value {
    assert_ok(&c.get(&format!("/subscribe/payments/schedule/{merchant_uid}")).await, "GET schedule")
}

/// Waits until every merchant_uid's schedule is executed; returns them by merchant_uid.
async fn wait_executed(
    c: &Client,
    merchant_uids: &[String],
    timeout: Duration,
) -> HashMap<String, Value> {
    eventually(timeout, "all schedules executed", || async {
        let mut done = HashMap::new();
        for m in merchant_uids {
            let s = get_schedule(c, m).await;
            if s["schedule_status"] != "executed" {
                return None;
            }
            done.insert(m.clone(), s);
        }
        Some(done)
    })
    .await
}

async fn due_schedules_execute_once_with_webhooks(backend: Backend) {
    let server = TestServer::start_with(&backend, fast_opts()).await;
    let receiver = Receiver::start(0).await;
    let (m, c) = server.merchant_client().await;
    let out = server.env.cli(&[
        "merchant",
        "set-webhook",
        "--allow-private-webhooks",
        "--merchant",
        &m.imp_code,
        "--url",
        &receiver.url("/merchant"),
        "--format",
        "json",
    ]);
    assert!(out.success, "{}", out.stderr);
    let ok_key = uid("cust");
    let poor_key = uid("poor");
    c.issue_key_ok(&ok_key, CARD_OK).await;
    c.issue_key_ok(&poor_key, &card("0002")).await; // charges decline: insufficient balance
    let at = now() + 3;
    let paid_uids: Vec<String> = (0..4).map(|i| uid(&format!("sched{i}"))).collect();
    let mut items: Vec<Value> = paid_uids
        .iter()
        .enumerate()
        .map(|(i, m)| item(m, at + (i as i64 % 2), 1000 + i as i64))
        .collect();
    items[0]["notice_url"] = json!(receiver.url("/notice"));
    let created = assert_ok(&schedule(&c, &ok_key, items).await, "schedule");
    assert_eq!(created.as_array().unwrap().len(), 4, "{created}");
    for s in created.as_array().unwrap() {
        assert_eq!(s["schedule_status"], "scheduled");
        assert!(s["imp_uid"].is_null() && s["payment_status"].is_null(), "{s}");
        assert_eq!(s["executed_at"], 0);
        assert_eq!(s["customer_uid"], ok_key.as_str());
    }
    let failing = uid("schedfail");
    assert_ok(&schedule(&c, &poor_key, vec![item(&failing, at, 5000)]).await, "schedule failing");

    let mut all = paid_uids.clone();
    all.push(failing.clone());
    let done = wait_executed(&c, &all, Duration::from_secs(40)).await;
    for m in &paid_uids {
        let s = &done[m];
        assert_eq!(s["payment_status"], "paid", "{s}");
        assert!(s["executed_at"].as_i64().unwrap() >= s["schedule_at"].as_i64().unwrap(), "{s}");
        let imp_uid = s["imp_uid"].as_str().expect("imp_uid").to_owned();
        let p = c.payment(&imp_uid).await;
        assert_eq!(p["status"], "paid");
        assert_eq!(p["merchant_uid"], m.as_str());
        assert_eq!(p["customer_uid_usage"], "payment.scheduled");
        assert_eq!(p["channel"], "api");
        assert_eq!(server.ledger_for(&imp_uid, "approval").len(), 1, "charged once: {m}");
        // Each merchant_uid was attempted exactly once.
        let all_attempts = assert_ok(&c.get(&format!("/payments/findAll/{m}")).await, "findAll");
        let n = all_attempts
            .as_array()
            .map(Vec::len)
            .or_else(|| all_attempts["list"].as_array().map(Vec::len))
            .unwrap_or(0);
        assert_eq!(n, 1, "{m}: {all_attempts}");
    }
    let f = &done[&failing];
    assert_eq!(f["payment_status"], "failed", "{f}");
    assert!(f["fail_reason"].as_str().is_some_and(|r| !r.is_empty()), "{f}");
    assert!(f["imp_uid"].is_string(), "{f}");

    // Webhooks: one per schedule (paid, and failed for the scheduled failure); the one with a
    // notice_url went there and not to the merchant URL.
    let webhooks = eventually(Duration::from_secs(20), "webhooks received", || async {
        let got: Vec<Received> =
            receiver.received().into_iter().filter(|r| r.answered == 200).collect();
        (got.len() >= 5).then_some(got)
    })
    .await;
    for m in all.iter() {
        let s = &done[m];
        let imp_uid = s["imp_uid"].as_str().unwrap();
        let hits = receiver.accepted_for(imp_uid);
        assert_eq!(hits.len(), 1, "{m}: {hits:?}");
        let body = hits[0].fields();
        assert_eq!(body["merchant_uid"], m.as_str());
        assert_eq!(body["status"], s["payment_status"]);
        let expected_path = if *m == paid_uids[0] { "/notice" } else { "/merchant" };
        assert_eq!(hits[0].path, expected_path, "{m}");
        assert!(hits[0].header("webhook-signature").starts_with("v1,"), "{:?}", hits[0].headers);
    }
    assert_eq!(webhooks.len(), 5, "{webhooks:?}");
    // The list API with both status spellings.
    let from = at - 100;
    let to = at + 100;
    let page = assert_ok(&c.get(&format!("/subscribe/payments/schedule?schedule_from={from}&schedule_to={to}&schedule_status=executed&limit=3")).await, "list");
    assert_paged(&page, "list");
    assert_eq!(page["total"], 5);
    assert_eq!(page["list"].as_array().unwrap().len(), 3);
    assert_eq!(page["next"], 2);
}

async fn schedule_errors_and_lists(backend: Backend) {
    let server = TestServer::start_with(&backend, fast_opts()).await;
    let (_m, c) = server.merchant_client().await;
    let key = uid("cust");
    c.issue_key_ok(&key, CARD_OK).await;
    let far = now() + 3600;
    // In the past.
    let r = schedule(&c, &key, vec![item(&uid("past"), now() - 10, 1000)]).await;
    assert_failure(&r, "past schedule_at");
    // Unknown customer_uid without card data.
    let r = schedule(&c, &uid("nobody"), vec![item(&uid("x"), far, 1000)]).await;
    assert_failure(&r, "unknown customer");
    assert_eq!(r.0, 200);
    assert_eq!(r.1["code"], 1);
    // Missing schedules.
    assert_failure(&schedule(&c, &key, vec![]).await, "no schedules");
    // Duplicate merchant_uid: in one request, and against an existing schedule.
    let dup = uid("dup");
    let r = schedule(&c, &key, vec![item(&dup, far, 1000), item(&dup, far + 1, 1000)]).await;
    assert_failure(&r, "duplicate in request");
    assert_ok(&schedule(&c, &key, vec![item(&dup, far, 1000)]).await, "first");
    let r =
        schedule(&c, &key, vec![item(&uid("other"), far, 1000), item(&dup, far + 5, 1000)]).await;
    assert_failure(&r, "duplicate merchant_uid");
    assert_eq!(r.1["code"], 1, "{}", r.1);
    // All or nothing: the other one was not created.
    // A merchant_uid already paid cannot be scheduled.
    let paid = uid("paid");
    c.again_paid(&key, &paid, 1000).await;
    assert_failure(&schedule(&c, &key, vec![item(&paid, far, 1000)]).await, "paid merchant_uid");
    // With card data for a new customer_uid: the key is issued first.
    let new_key = uid("newcust");
    let m2 = uid("withcard");
    let r = c
        .post_json(
            "/subscribe/payments/schedule",
            &json!({"customer_uid": new_key, "card_number": CARD_OK, "expiry": EXPIRY, "birth": BIRTH, "pwd_2digit": PWD2,
                    "checking_amount": 1000, "schedules": [item(&m2, far, 2000)]}),
        )
        .await;
    let created = assert_ok(&r, "schedule with card data");
    assert_eq!(created[0]["merchant_uid"], m2.as_str());
    assert_ok(&c.get(&format!("/subscribe/customers/{new_key}")).await, "key issued");
    // checking_amount: charged and cancelled at once.
    let approvals = server
        .ledger()
        .into_iter()
        .filter(|e| e["kind"] == "approval" && e["amount"] == 1000)
        .count();
    let cancels = server
        .ledger()
        .into_iter()
        .filter(|e| e["kind"] == "cancel" && e["amount"] == 1000)
        .count();
    assert!(approvals >= 2 && cancels >= 1, "checking charge and its cancel in the ledger");
    // Bad card data for a new key: code != 0, nothing scheduled.
    let m3 = uid("badcard");
    let r = c
        .post_json(
            "/subscribe/payments/schedule",
            &json!({"customer_uid": uid("bad"), "card_number": card("0005"), "expiry": EXPIRY, "birth": BIRTH, "pwd_2digit": PWD2,
                    "schedules": [item(&m3, far, 2000)]}),
        )
        .await;
    assert_failure(&r, "bad card");
    assert_eq!(c.get(&format!("/subscribe/payments/schedule/{m3}")).await.0, 404);

    // GET / PUT.
    assert_eq!(c.get(&format!("/subscribe/payments/schedule/{}", uid("none"))).await.0, 404);
    let moved = assert_ok(
        &c.put_json(
            &format!("/subscribe/payments/schedule/{dup}"),
            &json!({"schedule_at": far + 60}),
        )
        .await,
        "PUT",
    );
    assert_eq!(moved["schedule_at"], far + 60);
    let r = c
        .put_json(
            &format!("/subscribe/payments/schedule/{dup}"),
            &json!({"schedule_at": now() - 5}),
        )
        .await;
    assert_failure(&r, "PUT into the past");
    assert_eq!(r.0, 400);

    // Lists: range required, at most 3 months, both status spellings, both customer paths.
    assert_eq!(c.get("/subscribe/payments/schedule").await.0, 400);
    let r = c
        .get(&format!(
            "/subscribe/payments/schedule?schedule_from={}&schedule_to={}",
            far - 10,
            far + 100 * 86400
        ))
        .await;
    assert_failure(&r, "range too long");
    assert_eq!(r.0, 400);
    let r = c
        .get(&format!(
            "/subscribe/payments/schedule?schedule_from={}&schedule_to={}&schedule_status=bogus",
            far - 10,
            far + 100
        ))
        .await;
    assert_eq!(r.0, 400);
    let all = assert_ok(
        &c.get(&format!(
            "/subscribe/payments/schedule?schedule_from={}&schedule_to={}&sorting=scheduled",
            far - 10,
            far + 1000
        ))
        .await,
        "range",
    );
    assert_paged(&all, "range");
    assert_eq!(all["total"], 2, "{all}");
    assert_eq!(all["list"][0]["merchant_uid"], m2.as_str(), "oldest first: {all}");
    for path in [
        format!("/subscribe/customers/{key}/schedules"),
        format!("/subscribe/payments/schedule/customers/{key}"),
    ] {
        for status_key in ["schedule-status", "schedule_status"] {
            let v = assert_ok(
                &c.get(&format!(
                    "{path}?from={}&to={}&{status_key}=scheduled",
                    far - 10,
                    far + 1000
                ))
                .await,
                &path,
            );
            assert_paged(&v, &path);
            assert_eq!(v["total"], 1, "{path} {status_key}: {v}");
            assert_eq!(v["list"][0]["merchant_uid"], dup.as_str());
            let v = assert_ok(
                &c.get(&format!("{path}?from={}&to={}&{status_key}=revoked", far - 10, far + 1000))
                    .await,
                &path,
            );
            assert_eq!(v["total"], 0, "{path} {status_key}: {v}");
        }
    }
    // Unscheduling nothing.
    let r = c
        .post_json("/subscribe/payments/unschedule", &json!({"merchant_uid": [uid("none")]}))
        .await;
    assert_failure(&r, "nothing to unschedule");
    assert_eq!(r.1["code"], 1);
    assert_eq!(r.1["message"], "취소할 예약결제 기록이 존재하지 않습니다.");
}

async fn unschedule_reschedule_retry(backend: Backend) {
    let server = TestServer::start_with(&backend, fast_opts()).await;
    let (_m, c) = server.merchant_client().await;
    let key = uid("cust");
    c.issue_key_ok(&key, CARD_OK).await;
    let far = now() + 3600;
    let a = uid("a");
    let b = uid("b");
    let soon = uid("soon");
    assert_ok(
        &schedule(
            &c,
            &key,
            vec![item(&a, far, 1000), item(&b, far + 10, 1000), item(&soon, now() + 2, 1500)],
        )
        .await,
        "create",
    );
    // Unschedule by merchant_uid (form-encoded, bracket array).
    let r = c
        .post_form(
            "/subscribe/payments/unschedule",
            &[("customer_uid", &key), ("merchant_uid[]", &a)],
        )
        .await;
    let revoked = assert_ok(&r, "unschedule");
    assert_eq!(revoked.as_array().unwrap().len(), 1);
    assert_eq!(revoked[0]["schedule_status"], "revoked");
    assert!(revoked[0]["revoked_at"].as_i64().unwrap() > 0);
    assert!(revoked[0]["imp_uid"].is_null());
    // Executed schedules cannot be unscheduled.
    let done = wait_executed(&c, std::slice::from_ref(&soon), Duration::from_secs(30)).await;
    assert_eq!(done[&soon]["payment_status"], "paid");
    let r = c.post_json("/subscribe/payments/unschedule", &json!({"merchant_uid": [soon]})).await;
    assert_failure(&r, "unschedule executed");
    assert!(r.1["message"].as_str().unwrap().contains("already executed"), "{}", r.1);
    // Reschedule: only failed or revoked; not the paid one, not a pending one.
    assert_eq!(
        c.post_json(
            &format!("/subscribe/payments/schedule/{soon}/reschedule"),
            &json!({"schedule_at": far})
        )
        .await
        .0,
        400
    );
    assert_eq!(
        c.post_json(
            &format!("/subscribe/payments/schedule/{b}/reschedule"),
            &json!({"schedule_at": far})
        )
        .await
        .0,
        400
    );
    let re = assert_ok(
        &c.post_json(
            &format!("/subscribe/payments/schedule/{a}/reschedule"),
            &json!({"schedule_at": far + 20}),
        )
        .await,
        "reschedule",
    );
    assert_eq!(re["schedule_status"], "scheduled");
    assert_eq!(re["revoked_at"], 0);
    // Retry: revoke all of the customer's, then charge one now.
    let revoked = assert_ok(
        &c.post_json("/subscribe/payments/unschedule", &json!({"customer_uid": key})).await,
        "unschedule all",
    );
    assert_eq!(revoked.as_array().unwrap().len(), 2, "{revoked}");
    let p = assert_ok(
        &c.post_json(&format!("/subscribe/payments/schedule/{b}/retry"), &json!({})).await,
        "retry",
    );
    assert_eq!(p["status"], "paid", "{p}");
    assert_eq!(p["merchant_uid"], b.as_str());
    assert_eq!(p["customer_uid_usage"], "payment.scheduled");
    let s = get_schedule(&c, &b).await;
    assert_eq!(s["schedule_status"], "executed");
    assert_eq!(s["imp_uid"], p["imp_uid"]);
    assert_eq!(server.ledger_for(p["imp_uid"].as_str().unwrap(), "approval").len(), 1);
    // A retry of a paid schedule is refused.
    assert_eq!(
        c.post_json(&format!("/subscribe/payments/schedule/{b}/retry"), &json!({})).await.0,
        400
    );
    // A refunded scheduled payment shows payment_status cancelled.
    assert_ok(&c.cancel(&json!({"imp_uid": p["imp_uid"]})).await, "cancel");
    assert_eq!(get_schedule(&c, &b).await["payment_status"], "cancelled");
}

async fn deleting_key_revokes_pending_schedules(backend: Backend) {
    let server = TestServer::start_with(&backend, fast_opts()).await;
    let (_m, c) = server.merchant_client().await;
    let key = uid("cust");
    c.issue_key_ok(&key, CARD_OK).await;
    let far = now() + 3600;
    let a = uid("a");
    let b = uid("b");
    assert_ok(
        &schedule(&c, &key, vec![item(&a, far, 1000), item(&b, far + 60, 1000)]).await,
        "create",
    );
    assert_ok(&c.delete(&format!("/subscribe/customers/{key}")).await, "delete key");
    for m in [&a, &b] {
        let s = get_schedule(&c, m).await;
        assert_eq!(s["schedule_status"], "revoked", "{s}");
        assert!(s["revoked_at"].as_i64().unwrap() > 0);
        assert!(s["fail_reason"].as_str().unwrap().contains("billing key deleted"), "{s}");
    }
    // It cannot come back to life without a key.
    assert_eq!(
        c.post_json(
            &format!("/subscribe/payments/schedule/{a}/reschedule"),
            &json!({"schedule_at": far})
        )
        .await
        .0,
        404
    );
    assert_eq!(
        c.post_json(&format!("/subscribe/payments/schedule/{a}/retry"), &json!({})).await.0,
        404
    );
}

/// A run the gateway refuses before any PG call (here: the key's channel was removed after
/// scheduling) still ends as a failed payment with an imp_uid and its `failed` webhook, as a
/// declined scheduled charge does; nothing reaches the PG.
async fn refused_run_records_failed_payment_with_webhook(backend: Backend) {
    let server = TestServer::start_with(&backend, fast_opts()).await;
    let receiver = Receiver::start(0).await;
    let (m, c) = server.merchant_client().await;
    let key = uid("cust");
    let issued = c.issue_key_ok(&key, CARD_OK).await;
    let mu = uid("orphan");
    let mut it = item(&mu, now() + 4, 3000);
    it["notice_url"] = json!(receiver.url("/notice"));
    assert_ok(&schedule(&c, &key, vec![it]).await, "schedule");
    let pg_provider = issued["pg_provider"].as_str().expect("pg_provider").to_owned();
    let mid = issued["pg_id"].as_str().expect("pg_id").to_owned();
    let out = server.env.cli(&[
        "channel",
        "remove",
        "--merchant",
        &m.imp_code,
        "--pg-provider",
        &pg_provider,
        "--mid",
        &mid,
    ]);
    assert!(out.success, "channel remove: {}\n{}", out.stdout, out.stderr);

    let done = wait_executed(&c, std::slice::from_ref(&mu), Duration::from_secs(30)).await;
    let s = &done[&mu];
    assert_eq!(s["payment_status"], "failed", "{s}");
    let reason = s["fail_reason"].as_str().unwrap_or_default().to_owned();
    assert!(reason.contains("channel"), "{s}");
    let imp_uid = s["imp_uid"].as_str().unwrap_or_else(|| panic!("imp_uid: {s}")).to_owned();
    let p = c.payment(&imp_uid).await;
    assert_eq!(p["status"], "failed", "{p}");
    assert_eq!(p["merchant_uid"], mu.as_str());
    assert_eq!(p["amount"], 3000);
    assert_eq!(p["customer_uid"], key.as_str());
    assert_eq!(p["customer_uid_usage"], "payment.scheduled");
    assert_eq!(p["fail_reason"], reason.as_str());
    assert!(p["failed_at"].as_i64().unwrap() > 0, "{p}");
    assert!(server.ledger_for(&imp_uid, "approval").is_empty(), "nothing reached the PG");

    let hits = eventually(Duration::from_secs(20), "failed webhook", || async {
        let hits = receiver.accepted_for(&imp_uid);
        (!hits.is_empty()).then_some(hits)
    })
    .await;
    assert_eq!(hits.len(), 1, "{hits:?}");
    assert_eq!(hits[0].path, "/notice");
    let body = hits[0].fields();
    assert_eq!(body["status"], "failed", "{body}");
    assert_eq!(body["merchant_uid"], mu.as_str());
}

/// `n_workers` `openimp worker` processes share the database; one is killed (SIGKILL) while
/// charging. Every schedule is charged exactly once (the sandbox ledger says so).
async fn workers_one_killed(backend: Backend, n_workers: usize) {
    let mut opts = fast_opts();
    opts.env.push(("OPENIMP_NO_WORKER".to_owned(), "1".to_owned()));
    let server = TestServer::start_with(&backend, opts).await;
    let (_m, c) = server.merchant_client().await;
    let key = uid("cust");
    c.issue_key_ok(&key, CARD_OK).await;
    let n = 60;
    let at = now() + 4;
    let uids: Vec<String> = (0..n).map(|i| uid(&format!("w{i}"))).collect();
    for chunk in uids.chunks(20) {
        let items = chunk.iter().map(|m| item(m, at, 1000)).collect();
        assert_ok(&schedule(&c, &key, items).await, "create");
    }
    let worker_args = [
        "--schedule-lease-secs",
        "3",
        "--worker-poll-ms",
        "200",
        "--schedule-batch",
        "8",
        "--schedule-concurrency",
        "4",
        "--pg-timeout-secs",
        "1",
        "--reconcile-after-secs",
        "2",
        "--reconcile-interval-secs",
        "1",
    ];
    let env = [("OPENIMP_SANDBOX_DELAY_MS", "40"), ("OPENIMP_ALLOW_PRIVATE_WEBHOOKS", "1")];
    let mut workers: Vec<Worker> =
        (0..n_workers).map(|_| Worker::start(&server.env, &worker_args, &env)).collect();
    // Kill the first worker once charges are under way.
    eventually(Duration::from_secs(30), "first charges", || async {
        let approvals = server.ledger().into_iter().filter(|e| e["kind"] == "approval").count();
        (approvals >= 5).then_some(())
    })
    .await;
    workers[0].kill();
    let done = wait_executed(&c, &uids, Duration::from_secs(90)).await;
    let ledger = server.ledger();
    let approvals: Vec<&Value> = ledger.iter().filter(|e| e["kind"] == "approval").collect();
    let mut seen = HashSet::new();
    for m in &uids {
        let s = &done[m];
        assert_eq!(s["payment_status"], "paid", "{m}: {s}");
        let imp_uid = s["imp_uid"].as_str().unwrap();
        let hits = approvals.iter().filter(|e| e["order_id"] == imp_uid).count();
        assert_eq!(hits, 1, "{m} charged {hits} times");
        assert!(seen.insert(imp_uid.to_owned()));
        // One paid attempt; an attempt whose worker died before reaching the PG may have been
        // settled as failed ("the PG has no record") and charged again.
        let attempts = assert_ok(&c.get(&format!("/payments/findAll/{m}")).await, "findAll");
        let list = attempts
            .as_array()
            .cloned()
            .or_else(|| attempts["list"].as_array().cloned())
            .unwrap_or_default();
        assert_eq!(
            list.iter().filter(|p| p["status"] == "paid").count(),
            1,
            "{m}: one paid attempt: {attempts}"
        );
    }
    assert_eq!(approvals.len(), n, "exactly {n} approvals in the sandbox ledger");
    drop(workers);
}

async fn two_workers_one_killed_charge_each_once(backend: Backend) {
    workers_one_killed(backend, 2).await
}

async fn three_workers_one_killed_charge_each_once(backend: Backend) {
    workers_one_killed(backend, 3).await
}
