//! Secrets and files (issue 9 point 3, review findings 7, 8, 19, 20): a fresh data directory and
//! every file in it are private, secret flags read the environment and files, `vault rotate`
//! refuses while a server or worker uses the master key and keeps the old key, and the demo
//! merchant's secret is printed once.

#[macro_use]
mod common;
mod support;

use std::io::{BufRead, BufReader};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

use common::*;
use serde_json::{json, Value};

dual_backend_tests!(
    rotate_refused_while_a_server_or_worker_runs,
    demo_merchant_secret_printed_once,
);

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .permissions()
        .mode()
        & 0o777
}

/// `openimp <args>` on `env`'s storage with extra environment variables.
fn cli_with(env: &Env, args: &[&str], vars: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(BIN);
    cmd.args(args).arg("--data-dir").arg(env.path());
    if let Some(url) = &env.database_url {
        cmd.arg("--database-url").arg(url);
    }
    cmd.env_remove("OPENIMP_MASTER_KEY");
    for (k, v) in vars {
        cmd.env(k, v);
    }
    cmd.stdin(Stdio::null()).output().expect("run openimp")
}

fn stdout_json(out: &Output, what: &str) -> Value {
    assert!(out.status.success(), "{what}: {}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8_lossy(&out.stdout);
    serde_json::from_str(text.trim()).unwrap_or_else(|e| panic!("{what}: {e}: {text}"))
}

/// A server process, killed (and reaped) when dropped.
struct Serve(Child);

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `openimp serve` on `data_dir`, until it announces its address; returns the process, the base
/// URL and what it printed before.
fn spawn_serve(data_dir: &Path) -> (Serve, String, String) {
    let mut child = Command::new(BIN)
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(data_dir)
        .env_remove("OPENIMP_MASTER_KEY")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn openimp serve");
    let stdout = child.stdout.take().expect("stdout");
    let child = Serve(child);
    let mut reader = BufReader::new(stdout);
    let mut printed = String::new();
    loop {
        let mut line = String::new();
        let n = reader.read_line(&mut line).expect("read stdout");
        assert!(n > 0, "serve exited before listening: {printed}");
        printed.push_str(&line);
        if let Some(url) = line.trim().strip_prefix("openimp listening on ") {
            let url = url.to_owned();
            // Keep draining stdout so the server never blocks on a full pipe.
            std::thread::spawn(move || for _ in reader.lines() {});
            return (child, url, printed);
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fresh_data_dir_and_every_file_in_it_are_private() {
    let root = tempfile::tempdir().unwrap();
    // A permissive parent, as a home directory often is: the modes below come from openimp.
    std::fs::set_permissions(root.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let data_dir = root.path().join("nested").join("data");
    let (server, base, _) = spawn_serve(&data_dir);
    // Writes through the API so the database, its WAL and the sandbox's exist with content.
    let demo: Value = serde_json::from_str(
        &std::fs::read_to_string(data_dir.join("demo-merchant.json")).unwrap(),
    )
    .unwrap();
    let http = reqwest::Client::new();
    let token: Value = http
        .post(format!("{base}/users/getToken"))
        .json(&json!({"imp_key": demo["imp_key"], "imp_secret": demo["imp_secret"]}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = token["response"]["access_token"].as_str().expect("token").to_owned();
    let paid: Value = http
        .post(format!("{base}/subscribe/payments/onetime"))
        .header("Authorization", &token)
        .json(&json!({"merchant_uid": uid("perm"), "amount": 1000, "card_number": CARD_OK, "expiry": EXPIRY, "birth": BIRTH, "pwd_2digit": PWD2}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(paid["response"]["status"], "paid", "{paid}");

    assert_eq!(mode(&data_dir), 0o700, "the data directory");
    assert_eq!(mode(&root.path().join("nested")), 0o700, "a parent openimp created");
    let mut names = Vec::new();
    for entry in std::fs::read_dir(&data_dir).unwrap() {
        let entry = entry.unwrap();
        let name = entry.file_name().to_string_lossy().into_owned();
        assert_eq!(mode(&entry.path()), 0o600, "{name}");
        names.push(name);
    }
    for expected in [
        "openimp.db",
        "openimp.db-wal",
        "openimp.db-shm",
        "sandbox.db",
        "master.key",
        "demo-merchant.json",
        "openimp.lock",
    ] {
        assert!(names.iter().any(|n| n == expected), "{expected} in {names:?}");
    }
    drop(server);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readable_data_dir_is_warned_about_and_its_files_made_private() {
    let root = tempfile::tempdir().unwrap();
    let data_dir = root.path().join("data");
    let run = || {
        Command::new(BIN)
            .args(["merchant", "list", "--data-dir"])
            .arg(&data_dir)
            .env_remove("OPENIMP_MASTER_KEY")
            .output()
            .expect("run openimp")
    };
    let first = run();
    assert!(first.status.success(), "{}", String::from_utf8_lossy(&first.stderr));
    assert!(!String::from_utf8_lossy(&first.stderr).contains("readable by other users"));
    // An install made before this fix: a 0755 directory and a 0644 database.
    std::fs::set_permissions(&data_dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    let db = data_dir.join("openimp.db");
    std::fs::set_permissions(&db, std::fs::Permissions::from_mode(0o644)).unwrap();
    let foreign = data_dir.join("notes.txt");
    std::fs::write(&foreign, "the operator's own file").unwrap();
    std::fs::set_permissions(&foreign, std::fs::Permissions::from_mode(0o644)).unwrap();
    let second = run();
    assert!(second.status.success());
    let stderr = String::from_utf8_lossy(&second.stderr);
    assert!(stderr.contains("readable by other users") && stderr.contains("chmod 700"), "{stderr}");
    assert_eq!(mode(&db), 0o600, "the database is made private");
    assert_eq!(mode(&foreign), 0o644, "files openimp does not own are left alone");
    assert_eq!(mode(&data_dir), 0o755, "an existing directory keeps the mode its owner chose");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn secret_flags_read_environment_variables_and_files() {
    let server = TestServer::start(&Backend::Sqlite).await;
    let env = server.env.clone();
    let files = tempfile::tempdir().unwrap();
    let file = |name: &str, text: &str| {
        let path = files.path().join(name);
        std::fs::write(&path, text).unwrap();
        path.display().to_string()
    };

    // imp_secret from OPENIMP_IMP_SECRET, then from --imp-secret-file.
    let from_env = stdout_json(
        &cli_with(
            &env,
            &["merchant", "create", "--name", "env", "--imp-key", "key-from-env", "--json"],
            &[("OPENIMP_IMP_SECRET", "secret-from-the-environment")],
        ),
        "merchant create with OPENIMP_IMP_SECRET",
    );
    let secret_file = file("imp_secret", "secret-from-a-file\n");
    let from_file = stdout_json(
        &cli_with(
            &env,
            &[
                "merchant",
                "create",
                "--name",
                "file",
                "--imp-key",
                "key-from-file",
                "--imp-secret-file",
                &secret_file,
                "--json",
            ],
            &[],
        ),
        "merchant create with --imp-secret-file",
    );
    for (merchant, secret) in
        [(&from_env, "secret-from-the-environment"), (&from_file, "secret-from-a-file")]
    {
        let m = Merchant {
            imp_code: merchant["imp_code"].as_str().unwrap().to_owned(),
            imp_key: merchant["imp_key"].as_str().unwrap().to_owned(),
            imp_secret: secret.to_owned(),
        };
        server.client(&m).await; // asserts getToken answers 200 with that secret
    }
    let both = cli_with(
        &env,
        &[
            "merchant",
            "create",
            "--name",
            "both",
            "--imp-key",
            "key-both",
            "--imp-secret",
            "inline-secret-value",
            "--imp-secret-file",
            &secret_file,
        ],
        &[],
    );
    let stderr = String::from_utf8_lossy(&both.stderr);
    assert!(!both.status.success() && stderr.contains("not both"), "{stderr}");
    assert!(!stderr.contains("inline-secret-value"), "the secret is never echoed: {stderr}");

    // Channel secrets: one from the environment, one from a file.
    let merchant = from_env["imp_code"].as_str().unwrap();
    let kicc_file = file("kicc", "file-kicc-secret\n");
    let added = stdout_json(
        &cli_with(
            &env,
            &[
                "channel",
                "add",
                "--merchant",
                merchant,
                "--pg-provider",
                "html5_inicis",
                "--mid",
                "INIBillT09",
                "--kicc-secret-key-file",
                &kicc_file,
            ],
            &[("OPENIMP_SIGN_KEY", "sk-from-environment")],
        ),
        "channel add",
    );
    assert_eq!(added["secrets"]["sign_key"], "sk******", "{added}");
    assert_eq!(added["secrets"]["kicc_secret_key"], "fi******", "{added}");

    // The master key from a file: the right one opens sealed values, a wrong one does not.
    let sealed_secret =
        stdout_line(&cli_with(&env, &["merchant", "webhook-secret", "--merchant", merchant], &[]));
    let right_key =
        file("master", &std::fs::read_to_string(env.path().join("master.key")).unwrap());
    let again = cli_with(
        &env,
        &["merchant", "webhook-secret", "--merchant", merchant, "--master-key-file", &right_key],
        &[],
    );
    assert_eq!(stdout_line(&again), sealed_secret);
    let wrong_key = file("wrong", &"11".repeat(32));
    let wrong = cli_with(
        &env,
        &["merchant", "webhook-secret", "--merchant", merchant, "--master-key-file", &wrong_key],
        &[],
    );
    assert!(!wrong.status.success(), "a wrong master key does not open the sealed secret");

    // The new master key of a rotation from a file.
    drop(server);
    let new_key = "22".repeat(32);
    let new_key_file = file("new", &format!("{new_key}\n"));
    let rotated = cli_with(&env, &["vault", "rotate", "--new-master-key-file", &new_key_file], &[]);
    assert!(rotated.status.success(), "{}", String::from_utf8_lossy(&rotated.stderr));
    let installed = std::fs::read_to_string(env.path().join("master.key")).unwrap();
    assert_eq!(installed.trim(), new_key);
}

fn stdout_line(out: &Output) -> String {
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

async fn rotate_refused_while_a_server_or_worker_runs(backend: Backend) {
    let mut server = TestServer::start(&backend).await;
    let env = server.env.clone();
    let (merchant, client) = server.merchant_client().await;
    let customer_uid = uid("rot");
    client.issue_key_ok(&customer_uid, CARD_OK).await;
    let key_file = env.path().join("master.key");
    let old_key = std::fs::read_to_string(&key_file).unwrap();

    let refused = env.cli(&["vault", "rotate"]);
    assert!(!refused.success, "rotate while serve runs: {}", refused.stdout);
    assert!(refused.stderr.contains("stop it before rotating"), "{}", refused.stderr);
    assert_eq!(std::fs::read_to_string(&key_file).unwrap(), old_key, "the key is unchanged");
    assert!(!env.path().join("master.key.new").exists(), "no pending key was written");
    // The server still opens its billing keys and charges.
    client.again_paid(&customer_uid, &uid("during"), 1000).await;
    // Other administration commands share the lock with the server.
    env.cli_json(&["merchant", "list", "--json"]);

    server.kill();
    let mut worker = support::Worker::start(&env, &[], &[]);
    eventually(Duration::from_secs(30), "the worker runs", || async {
        worker.logs().contains("running").then_some(())
    })
    .await;
    let refused = env.cli(&["vault", "rotate"]);
    assert!(!refused.success, "rotate while a worker runs: {}", refused.stdout);
    assert!(refused.stderr.contains("stop it before rotating"), "{}", refused.stderr);
    worker.kill();

    let rotated = env.cli(&["vault", "rotate"]);
    assert!(rotated.success, "rotate once stopped: {}", rotated.stderr);
    let new_key = std::fs::read_to_string(&key_file).unwrap();
    assert_ne!(new_key.trim(), old_key.trim());
    let old_id = rotated
        .stdout
        .lines()
        .find_map(|l| l.strip_prefix("the previous key is kept in "))
        .unwrap_or_else(|| panic!("where the old key is kept: {}", rotated.stdout))
        .to_owned();
    assert_eq!(std::fs::read_to_string(&old_id).unwrap(), old_key, "the old key is kept");
    assert_eq!(mode(Path::new(&old_id)), 0o600);
    assert_eq!(mode(&key_file), 0o600);

    // After a restart under the new key, sealed values open again.
    let server = TestServer::start_in(env.clone(), ServerOpts::default()).await;
    let client = server.client(&merchant).await;
    client.again_paid(&customer_uid, &uid("after"), 2000).await;
}

async fn demo_merchant_secret_printed_once(backend: Backend) {
    let mut server = TestServer::start(&backend).await;
    let env = server.env.clone();
    let demo_file = env.path().join("demo-merchant.json");
    if !backend.is_sqlite() {
        // PostgreSQL is a production database: no demo merchant, nothing printed.
        assert!(!demo_file.exists());
        assert_eq!(env.cli_json(&["merchant", "list", "--json"]), json!([]));
        assert!(!server.logs().contains("demo merchant"), "{}", server.logs());
        return;
    }
    let demo: Value = serde_json::from_str(&std::fs::read_to_string(&demo_file).unwrap()).unwrap();
    assert_eq!(mode(&demo_file), 0o600);
    let secret = demo["imp_secret"].as_str().unwrap().to_owned();
    let key = demo["imp_key"].as_str().unwrap().to_owned();
    assert!(server.logs().contains(&secret), "the first start prints the secret");
    server.kill();

    let server = TestServer::start_in(env.clone(), ServerOpts::default()).await;
    let logs = server.logs();
    assert!(logs.contains(&key) && logs.contains(&demo["imp_code"].as_str().unwrap().to_owned()));
    assert!(!logs.contains(&secret), "later starts never print the secret: {logs}");
    assert!(logs.contains(&format!("in {}", demo_file.display())), "{logs}");
    let merchants = env.cli_json(&["merchant", "list", "--json"]);
    assert_eq!(merchants.as_array().unwrap().len(), 1, "one demo merchant: {merchants}");
    // The kept credentials still work.
    let demo_merchant = Merchant {
        imp_code: demo["imp_code"].as_str().unwrap().to_owned(),
        imp_key: key,
        imp_secret: secret,
    };
    server.client(&demo_merchant).await;
}

/// PostgreSQL: a server whose lock connection breaks takes the lock again; if a rotation holds
/// it by then, the server stops (exit code 3) instead of sealing under a key being retired.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn server_that_loses_its_lock_to_a_rotation_stops() {
    use sqlx::Connection;
    let Some(backend) = Backend::postgres_from_env() else {
        skip(
            "secrets::server_that_loses_its_lock_to_a_rotation_stops",
            &format!("{POSTGRES_ENV} not set (PostgreSQL-only scenario)"),
            REQUIRE_POSTGRES_ENV,
        );
        return;
    };
    let mut server = TestServer::start(&backend).await;
    let url = server.env.database_url.clone().unwrap();
    let mut rotation = sqlx::PgConnection::connect(&url).await.unwrap();
    // Ends the server's lock connection and takes the lock exclusively, as `vault rotate` does;
    // again if the server happened to take it back in between.
    let mut taken = false;
    for _ in 0..5 {
        let terminated: Vec<bool> = sqlx::query_scalar(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'openimp master-key lock' AND datname = current_database()",
        )
        .fetch_all(&mut rotation)
        .await
        .unwrap();
        assert_eq!(terminated, vec![true], "the server's lock connection");
        taken = sqlx::query_scalar("SELECT pg_try_advisory_lock(8030029660491182198)")
            .fetch_one(&mut rotation)
            .await
            .unwrap();
        if taken {
            break;
        }
    }
    assert!(taken, "the lock is free once the server's connection ends");
    let status = server.wait_exit(Duration::from_secs(30)).await.expect("the server stops");
    assert_eq!(status.code(), Some(3), "{}", server.logs());
    assert!(server.logs().contains("never seals a value under a retired master key"));
}
