//! `openimp vault rotate`: every sealed value is re-wrapped under a new master key, the key file
//! is replaced, and the stored billing keys, tokens and channel secrets still open after a
//! restart.

#[macro_use]
mod common;

use common::*;
use serde_json::json;

dual_backend_tests!(rotate_master_key);

async fn rotate_master_key(backend: Backend) {
    let mut server = TestServer::start(&backend).await;
    let env = server.env.clone();
    let (merchant, client) = server.merchant_client().await;
    let customer_uid = uid("rot");
    client.issue_key_ok(&customer_uid, &card("5678")).await;
    client.again_paid(&customer_uid, &uid("before"), 1000).await;
    let added = env.cli_json(&[
        "channel",
        "add",
        "--merchant",
        &merchant.imp_code,
        "--pg-provider",
        "kicc",
        "--mid",
        "T5102002",
        "--kicc-secret-key",
        "kicc-secret-value-123",
    ]);
    assert_eq!(
        added["secrets"]["kicc_secret_key"], "ki******",
        "secrets are shown masked: {added}"
    );
    let key_file = env.path().join("master.key");
    let old_key = std::fs::read_to_string(&key_file).expect("master.key exists");

    // Rotation wants the servers stopped: they hold the old key in memory.
    server.kill();
    let out = env.cli(&["vault", "rotate"]);
    assert!(out.success, "vault rotate failed: {} {}", out.stdout, out.stderr);
    assert!(out.stdout.contains("re-wrapped"), "rotation reports its work: {}", out.stdout);
    let new_key = std::fs::read_to_string(&key_file).expect("master.key still exists");
    assert_ne!(old_key.trim(), new_key.trim(), "the key file holds a new key");
    assert!(!env.path().join("master.key.new").exists(), "no pending key file is left");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&key_file).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "the key file stays private");
    }
    let again = env.cli(&["vault", "rotate"]);
    assert!(again.success, "a second rotation works too: {}", again.stderr);

    // After a restart under the new key, the billing key still charges and secrets still open.
    let server = TestServer::start_in(env.clone(), ServerOpts::default()).await;
    let client = server.client(&merchant).await;
    let paid = client.again_paid(&customer_uid, &uid("after"), 2000).await;
    assert_eq!(paid["status"], "paid");
    let channels = env.cli_json(&["channel", "list", "--merchant", &merchant.imp_code, "--json"]);
    let kicc = channels
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["mid"] == "T5102002")
        .cloned()
        .unwrap_or(json!(null));
    assert_eq!(
        kicc["secrets"]["kicc_secret_key"], "ki******",
        "channel secrets open under the new key"
    );
}
