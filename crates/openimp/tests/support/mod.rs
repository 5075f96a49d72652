//! Helpers of the schedule and webhook suites: a webhook receiver (a tiny axum server on
//! 127.0.0.1), `openimp worker` processes, and server options for fast workers.

#![allow(dead_code)]

use std::collections::HashMap;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::routing::post;
use axum::Router;

use crate::common::{Env, ServerOpts, BIN};

/// One request the receiver got.
#[derive(Debug, Clone)]
pub struct Received {
    pub path: String,
    pub headers: HashMap<String, String>,
    pub body: String,
    /// The status the receiver answered.
    pub answered: u16,
}

impl Received {
    pub fn header(&self, name: &str) -> &str {
        self.headers.get(name).map(String::as_str).unwrap_or("")
    }

    /// The body's fields (JSON or form).
    pub fn fields(&self) -> serde_json::Value {
        if self.header("content-type").starts_with("application/json") {
            serde_json::from_str(&self.body).unwrap_or(serde_json::Value::Null)
        } else {
            let mut map = serde_json::Map::new();
            for pair in self.body.split('&') {
                let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
                map.insert(decode(k), serde_json::Value::String(decode(v)));
            }
            serde_json::Value::Object(map)
        }
    }
}

fn decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("00");
                out.push(u8::from_str_radix(hex, 16).unwrap_or(b'?'));
                i += 2;
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[derive(Clone)]
struct ReceiverState {
    received: Arc<Mutex<Vec<Received>>>,
    fail_first: Arc<AtomicUsize>,
}

/// A webhook receiver on 127.0.0.1 that records every POST and answers 500 to the first
/// `fail_first` ones, 200 afterwards.
pub struct Receiver {
    pub base: String,
    received: Arc<Mutex<Vec<Received>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Receiver {
    pub async fn start(fail_first: usize) -> Receiver {
        let state = ReceiverState {
            received: Arc::new(Mutex::new(Vec::new())),
            fail_first: Arc::new(AtomicUsize::new(fail_first)),
        };
        let app = Router::new().fallback(post(receive)).with_state(state.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind receiver");
        let address = listener.local_addr().expect("receiver address");
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Receiver { base: format!("http://{address}"), received: state.received, task }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    pub fn received(&self) -> Vec<Received> {
        self.received.lock().unwrap().clone()
    }

    /// Requests answered 200 whose body names `imp_uid`.
    pub fn accepted_for(&self, imp_uid: &str) -> Vec<Received> {
        self.received()
            .into_iter()
            .filter(|r| r.answered == 200 && r.fields()["imp_uid"] == imp_uid)
            .collect()
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn receive(
    State(state): State<ReceiverState>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> StatusCode {
    let fail = state
        .fail_first
        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
        .is_ok();
    let answered = if fail { StatusCode::INTERNAL_SERVER_ERROR } else { StatusCode::OK };
    let headers = headers
        .iter()
        .map(|(k, v)| (k.as_str().to_owned(), v.to_str().unwrap_or("").to_owned()))
        .collect();
    state.received.lock().unwrap().push(Received {
        path: uri.path().to_owned(),
        headers,
        body: String::from_utf8_lossy(&body).into_owned(),
        answered: answered.as_u16(),
    });
    answered
}

/// Server options for these suites: private webhook addresses allowed (the receiver is on
/// 127.0.0.1), fast polling, short back-off.
pub fn fast_opts() -> ServerOpts {
    ServerOpts {
        env: vec![
            ("OPENIMP_ALLOW_PRIVATE_WEBHOOKS".to_owned(), "1".to_owned()),
            ("OPENIMP_WORKER_POLL_MS".to_owned(), "200".to_owned()),
            ("OPENIMP_WEBHOOK_BACKOFF_BASE_MS".to_owned(), "200".to_owned()),
        ],
        ..ServerOpts::default()
    }
}

/// An `openimp worker` process on `env`'s database.
pub struct Worker {
    child: Option<Child>,
    pub logs: Arc<Mutex<String>>,
}

impl Worker {
    pub fn start(env: &Env, extra_args: &[&str], extra_env: &[(&str, &str)]) -> Worker {
        let mut cmd = Command::new(BIN);
        cmd.arg("worker").args(extra_args);
        cmd.arg("--data-dir").arg(env.path());
        if let Some(url) = &env.database_url {
            cmd.arg("--database-url").arg(url);
        }
        cmd.env_remove("OPENIMP_MASTER_KEY");
        for (k, v) in extra_env {
            cmd.env(k, v);
        }
        cmd.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
        let mut child = cmd.spawn().expect("spawn openimp worker");
        let logs = Arc::new(Mutex::new(String::new()));
        for stream in [
            Box::new(child.stdout.take().expect("stdout")) as Box<dyn std::io::Read + Send>,
            Box::new(child.stderr.take().expect("stderr")),
        ] {
            let logs = logs.clone();
            std::thread::spawn(move || {
                let mut stream = stream;
                let mut buf = [0u8; 8192];
                loop {
                    match stream.read(&mut buf) {
                        Ok(0) | Err(_) => break,
                        Ok(n) => logs.lock().unwrap().push_str(&String::from_utf8_lossy(&buf[..n])),
                    }
                }
            });
        }
        Worker { child: Some(child), logs }
    }

    /// SIGKILL: the worker dies without releasing anything.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    pub fn logs(&self) -> String {
        self.logs.lock().unwrap().clone()
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        self.kill();
    }
}

use std::io::Read as _;

/// Waits `d`.
pub async fn sleep(d: Duration) {
    tokio::time::sleep(d).await;
}
