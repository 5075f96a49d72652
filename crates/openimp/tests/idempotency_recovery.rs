//! An Idempotency-Key whose first request died does not answer 409 for a day: after a client
//! hang-up the retry replays the outcome; after the server was killed mid-request the retry
//! runs again once the claim's lease ran out. Either way the PG charged exactly once.

#[macro_use]
mod common;

use std::time::Duration;

use common::*;
use serde_json::{json, Value};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

dual_backend_tests!(
    retry_after_hang_up_replays,
    retry_after_crash_runs_again,
    retry_after_kill_during_the_pg_call_charges_once,
);

/// POSTs `body` with `key` and returns (status, replayed?, body).
async fn post_keyed(client: &Client, path: &str, key: &str, body: &Value) -> (u16, bool, Value) {
    let response = client
        .request(reqwest::Method::POST, path)
        .header("Idempotency-Key", key)
        .json(body)
        .send()
        .await
        .expect("POST");
    let status = response.status().as_u16();
    let replayed = response.headers().get("idempotent-replayed").is_some();
    let text = response.text().await.expect("body");
    (status, replayed, to_value(&text))
}

/// Retries until the key is no longer held by a running request (409).
async fn retry_until_settled(client: &Client, key: &str, body: &Value) -> (u16, bool, Value) {
    eventually(Duration::from_secs(90), "the key to stop answering 409", || async {
        let answer = post_keyed(client, "/subscribe/payments/again", key, body).await;
        (answer.0 != 409).then_some(answer)
    })
    .await
}

fn approvals(server: &TestServer) -> usize {
    server.ledger().iter().filter(|entry| entry["kind"] == "approval").count()
}

async fn retry_after_hang_up_replays(backend: Backend) {
    let server = TestServer::start_with(
        &backend,
        ServerOpts { sandbox_delay_ms: Some(2000), ..ServerOpts::default() },
    )
    .await;
    let (_, client) = server.merchant_client().await;
    let cu = uid("cust");
    client.issue_key_ok(&cu, CARD_OK).await;
    let mu = uid("hangup");
    let key = uid("key");
    let body = json!({"customer_uid": cu, "merchant_uid": mu, "amount": 4200, "name": "hang-up"});
    // The first request over a raw socket, closed while the PG is still working on it.
    let text = body.to_string();
    let mut socket =
        TcpStream::connect(server.base_url.trim_start_matches("http://")).await.expect("connect");
    let head = format!(
        "POST /subscribe/payments/again HTTP/1.1\r\nHost: x\r\nAuthorization: {}\r\nIdempotency-Key: {key}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        client.token.as_deref().expect("token"),
        text.len()
    );
    socket.write_all(head.as_bytes()).await.expect("write head");
    socket.write_all(text.as_bytes()).await.expect("write body");
    tokio::time::sleep(Duration::from_millis(500)).await;
    drop(socket);

    let (status, replayed, answer) = retry_until_settled(&client, &key, &body).await;
    assert_eq!(status, 200, "{answer}");
    assert!(replayed, "the retry replays the first request's outcome: {answer}");
    assert_eq!(answer["code"], 0, "{answer}");
    assert_eq!(answer["response"]["status"], "paid", "{answer}");
    let imp_uid = answer["response"]["imp_uid"].as_str().expect("imp_uid");
    assert_eq!(server.ledger_for(imp_uid, "approval").len(), 1);
    assert_eq!(approvals(&server), 1, "exactly one approval in the ledger");
}

async fn retry_after_crash_runs_again(backend: Backend) {
    let env = Env::new(&backend).await;
    let merchant = env.create_merchant();
    let cu = uid("cust");
    let mu = uid("crash");
    let key = uid("key");
    let body = json!({"customer_uid": cu, "merchant_uid": mu, "amount": 5100, "name": "crash"});
    {
        // This server dies right after the PG approved, before anything is recorded.
        let mut server = TestServer::start_in(
            env.clone(),
            ServerOpts { fault_crash_after_pg_call: true, ..ServerOpts::default() },
        )
        .await;
        let client = server.client(&merchant).await;
        client.issue_key_ok(&cu, CARD_OK).await;
        let lost = client
            .request(reqwest::Method::POST, "/subscribe/payments/again")
            .header("Idempotency-Key", &key)
            .json(&body)
            .send()
            .await;
        assert!(lost.is_err(), "the server should have died mid-request: {lost:?}");
        assert!(server.wait_exit(Duration::from_secs(10)).await.is_some(), "server still up");
    }
    let server = TestServer::start_in(
        env.clone(),
        ServerOpts {
            reconcile_interval_secs: Some(1),
            reconcile_after_secs: Some(0),
            ..ServerOpts::default()
        },
    )
    .await;
    let client = server.client(&merchant).await;
    // The reconciler settles the approved charge by inquiry.
    eventually(Duration::from_secs(30), "the reconciler to settle the charge", || async {
        let (status, found) = client.get(&format!("/payments/find/{mu}")).await;
        (status == 200 && found["response"]["status"] == "paid").then_some(())
    })
    .await;
    // Once the dead claim's lease runs out the retry runs again, and is refused: the
    // merchant_uid is already paid.
    let (status, replayed, answer) = retry_until_settled(&client, &key, &body).await;
    assert_eq!(status, 200, "{answer}");
    assert!(!replayed, "nothing was recorded to replay: {answer}");
    assert_eq!(answer["code"], 1, "{answer}");
    assert!(
        answer["message"].as_str().is_some_and(|m| m.contains("merchant_uid")),
        "refused as already paid: {answer}"
    );
    assert_eq!(approvals(&server), 1, "exactly one approval in the ledger");
}

async fn retry_after_kill_during_the_pg_call_charges_once(backend: Backend) {
    let env = Env::new(&backend).await;
    let merchant = env.create_merchant();
    let cu = uid("cust");
    let mu = uid("killed");
    let key = uid("key");
    let body = json!({"customer_uid": cu, "merchant_uid": mu, "amount": 6300, "name": "kill -9"});
    {
        let mut server = TestServer::start_in(
            env.clone(),
            ServerOpts { sandbox_delay_ms: Some(3000), ..ServerOpts::default() },
        )
        .await;
        let client = server.client(&merchant).await;
        client.issue_key_ok(&cu, CARD_OK).await;
        let request = client
            .request(reqwest::Method::POST, "/subscribe/payments/again")
            .header("Idempotency-Key", &key)
            .json(&body);
        let in_flight = tokio::spawn(request.send());
        // SIGKILL while the sandbox PG is still deciding: nothing was approved yet.
        tokio::time::sleep(Duration::from_millis(1500)).await;
        server.kill();
        assert!(in_flight.await.expect("join").is_err(), "the request should have been cut off");
    }
    // A short PG timeout lets the reconciler conclude "never charged" quickly.
    let server = TestServer::start_in(
        env.clone(),
        ServerOpts {
            reconcile_interval_secs: Some(1),
            reconcile_after_secs: Some(0),
            extra_args: vec!["--pg-timeout-secs".to_owned(), "1".to_owned()],
            ..ServerOpts::default()
        },
    )
    .await;
    let client = server.client(&merchant).await;
    eventually(Duration::from_secs(30), "the reconciler to fail the cut-off attempt", || async {
        let (status, found) = client.get(&format!("/payments/findAll/{mu}")).await;
        let list = found["response"]["list"].as_array().cloned().unwrap_or_default();
        let settled = list.iter().all(|payment| payment["status"] == "failed");
        (status != 200 || settled).then_some(())
    })
    .await;
    let (status, replayed, answer) = retry_until_settled(&client, &key, &body).await;
    assert_eq!(status, 200, "{answer}");
    assert!(!replayed, "nothing was recorded to replay: {answer}");
    assert_eq!(answer["code"], 0, "the retry runs again and charges: {answer}");
    assert_eq!(answer["response"]["status"], "paid", "{answer}");
    assert_eq!(approvals(&server), 1, "exactly one approval in the ledger");
}
