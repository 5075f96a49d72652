//! A fake of KICC EasyPay's server side, for tests and `openimp fake-pg kicc`: the ep9 API
//! (window registration, approval, batch charge, revise, key removal, retrieval) and the auth
//! page the browser is sent to, with its state in memory.
//!
//! It is a referee, not a mock: every request is checked field by field as KICC does (types,
//! lengths, today's date, the mall, its `msgAuthValue`, `shopTransactionId` used once a day,
//! cancels within the balance), and a wrong one is refused with a `resCd` as KICC refuses,
//! never approved. Answers carry `msgAuthValue` signed with the mall's Secret Key.
//!
//! Faults, set with `--fault` or `POST /__fake/faults` (`{"timeout_after_commit": n,
//! "wrong_msg_auth": n}`, counts of the next committed answers, `4294967295` for all):
//! - `timeout_after_commit`: the operation is committed, its answer is held back for the
//!   configured hang (longer than the client waits);
//! - `wrong_msg_auth`: the answer's `msgAuthValue` is not the right one.
//!
//! `GET /__fake/ledger` shows every transaction, cancel and batch key: the oracle of what was
//! charged.

pub mod checks;
pub mod ledger;
pub mod page;

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Form, Json, Router};
use chrono::{DateTime, FixedOffset};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use openimp_core::card::{CardInput, RawCard};

use self::checks::{code, Refusal};
use self::ledger::{Committed, Ledger};
use crate::hosts;
use crate::protocol::{self, PAY_METHOD_BILLING_KEY};

/// Every fault count means "this many of the next committed answers"; this one means all.
pub const ALWAYS: u32 = u32::MAX;

/// The faults pending on the next committed answers.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Faults {
    pub timeout_after_commit: u32,
    pub wrong_msg_auth: u32,
}

/// How a fake KICC starts.
#[derive(Debug, Clone)]
pub struct FakeConfig {
    /// Mall id (`mallId`, the channel's MID) → its Secret Key.
    pub malls: BTreeMap<String, String>,
    pub faults: Faults,
    /// How long a lost answer is held back (longer than any client waits).
    pub hang: Duration,
    /// The base URL browsers reach the fake at (its auth pages); `http://<listen address>`
    /// when `None`.
    pub public_url: Option<String>,
}

impl FakeConfig {
    /// One mall with its Secret Key, no faults, lost answers held for 60 s.
    pub fn single(mall_id: &str, secret_key: &str) -> FakeConfig {
        FakeConfig {
            malls: BTreeMap::from([(mall_id.to_owned(), secret_key.to_owned())]),
            faults: Faults::default(),
            hang: Duration::from_secs(60),
            public_url: None,
        }
    }
}

struct Shared {
    ledger: Mutex<Ledger>,
    faults: Mutex<Faults>,
    hang: Duration,
    base_url: String,
}

/// A running fake KICC.
#[derive(Clone)]
pub struct FakeKicc {
    shared: Arc<Shared>,
    addr: SocketAddr,
}

impl FakeKicc {
    /// Where it listens (`http://{addr}` is the channel's `--endpoint`).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://{addr}`.
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Sets the faults of the next committed answers.
    pub fn set_faults(&self, faults: Faults) {
        *lock(&self.shared.faults) = faults;
    }

    /// Everything the fake holds (transactions, cancels, batch keys) as JSON.
    pub fn ledger(&self) -> Value {
        lock(&self.shared.ledger).snapshot()
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Serves a fake KICC on `listener` in a task of its own.
pub fn spawn(listener: tokio::net::TcpListener, config: FakeConfig) -> std::io::Result<FakeKicc> {
    let addr = listener.local_addr()?;
    let base_url = config
        .public_url
        .clone()
        .unwrap_or_else(|| format!("http://{addr}"))
        .trim_end_matches('/')
        .to_owned();
    let shared = Arc::new(Shared {
        ledger: Mutex::new(Ledger::new(config.malls)),
        faults: Mutex::new(config.faults),
        hang: config.hang,
        base_url,
    });
    let app = router(shared.clone());
    tokio::spawn(async move {
        if let Err(err) = axum::serve(listener, app).await {
            tracing::error!(%err, "the fake KICC stopped");
        }
    });
    Ok(FakeKicc { shared, addr })
}

fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route(hosts::WEBPAY, post(webpay))
        .route(hosts::APPROVAL, post(approval))
        .route(hosts::BATCH_APPROVAL, post(batch))
        .route(hosts::REVISE, post(revise))
        .route(hosts::REMOVE_BATCH_KEY, post(remove_batch_key))
        .route(hosts::RETRIEVE_TRANSACTION, post(retrieve))
        .route("/auth/{id}", get(auth_page).post(auth_submit))
        .route("/__fake/faults", get(get_faults).post(set_faults))
        .route("/__fake/ledger", get(ledger_snapshot))
        .with_state(shared)
}

fn refusal(refusal: Refusal) -> Response {
    Json(json!({"resCd": refusal.code, "resMsg": refusal.message})).into_response()
}

/// The JSON body of an API call; KICC takes `application/json` only.
fn json_body(headers: &HeaderMap, body: &Bytes) -> Result<Value, Refusal> {
    let json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim_start().to_ascii_lowercase().starts_with("application/json"));
    if !json {
        return Err(Refusal::new(code::BAD_FIELD, "Content-Type은 application/json이어야 합니다"));
    }
    match serde_json::from_slice::<Value>(body) {
        Ok(value @ Value::Object(_)) => Ok(value),
        _ => Err(Refusal::new(code::BAD_FIELD, "요청 본문이 JSON 객체가 아닙니다")),
    }
}

type Operation = fn(&mut Ledger, &Value, DateTime<FixedOffset>) -> Result<Committed, Refusal>;

/// Runs a committing operation, then applies the pending faults to its answer.
async fn commit(
    shared: &Shared,
    headers: &HeaderMap,
    body: &Bytes,
    operation: Operation,
) -> Response {
    let result = json_body(headers, body).and_then(|body| {
        let mut ledger = lock(&shared.ledger);
        operation(&mut ledger, &body, protocol::now_kst())
    });
    let Committed { mut answer, lose_answer } = match result {
        Ok(committed) => committed,
        Err(refused) => return refusal(refused),
    };
    let (hang, tamper) = {
        let mut faults = lock(&shared.faults);
        let hang = take(&mut faults.timeout_after_commit);
        let tamper = answer.get("msgAuthValue").is_some() && take(&mut faults.wrong_msg_auth);
        (hang, tamper)
    };
    if tamper {
        if let Some(Value::String(mac)) = answer.get_mut("msgAuthValue") {
            *mac = tampered(mac);
        }
    }
    if hang || lose_answer {
        tokio::time::sleep(shared.hang).await;
    }
    Json(answer).into_response()
}

fn take(count: &mut u32) -> bool {
    match *count {
        0 => false,
        ALWAYS => true,
        _ => {
            *count -= 1;
            true
        }
    }
}

/// A MAC that is wrong by one hex digit.
fn tampered(mac: &str) -> String {
    let mut chars: Vec<char> = mac.chars().collect();
    if let Some(first) = chars.first_mut() {
        *first = if *first == '0' { '1' } else { '0' };
    }
    chars.into_iter().collect()
}

async fn webpay(State(shared): State<Arc<Shared>>, headers: HeaderMap, body: Bytes) -> Response {
    let result = json_body(&headers, &body).and_then(|body| lock(&shared.ledger).register(&body));
    match result {
        Ok(id) => Json(json!({
            "resCd": protocol::SUCCESS,
            "resMsg": "정상처리",
            "authPageUrl": format!("{}/auth/{id}", shared.base_url),
        }))
        .into_response(),
        Err(refused) => refusal(refused),
    }
}

async fn approval(State(shared): State<Arc<Shared>>, headers: HeaderMap, body: Bytes) -> Response {
    commit(&shared, &headers, &body, Ledger::approve).await
}

async fn batch(State(shared): State<Arc<Shared>>, headers: HeaderMap, body: Bytes) -> Response {
    commit(&shared, &headers, &body, Ledger::charge).await
}

async fn revise(State(shared): State<Arc<Shared>>, headers: HeaderMap, body: Bytes) -> Response {
    commit(&shared, &headers, &body, Ledger::revise).await
}

async fn remove_batch_key(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    commit(&shared, &headers, &body, Ledger::remove_key).await
}

async fn retrieve(State(shared): State<Arc<Shared>>, headers: HeaderMap, body: Bytes) -> Response {
    let result = json_body(&headers, &body)
        .and_then(|body| lock(&shared.ledger).retrieve(&body, protocol::now_kst()));
    match result {
        Ok(answer) => Json(answer).into_response(),
        Err(refused) => refusal(refused),
    }
}

fn gone() -> Response {
    (
        StatusCode::NOT_FOUND,
        Html("<!doctype html><meta charset=utf-8><p id=\"error\">만료되었거나 이미 사용된 결제창입니다 (this window is used or unknown)</p>"),
    )
        .into_response()
}

async fn auth_page(State(shared): State<Arc<Shared>>, Path(id): Path<String>) -> Response {
    let ledger = lock(&shared.ledger);
    match ledger.registration(&id) {
        Some(registration) => Html(page::card_form(&id, registration, None)).into_response(),
        None => gone(),
    }
}

async fn auth_submit(
    State(shared): State<Arc<Shared>>,
    Path(id): Path<String>,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    let mut ledger = lock(&shared.ledger);
    let Some(registration) = ledger.registration(&id).cloned() else {
        return gone();
    };
    let field = |name: &str| form.get(name).map(String::as_str).filter(|v| !v.trim().is_empty());
    let shop_value1 = registration.shop_value1.clone().unwrap_or_default();
    let back = |fields: &[(&str, &str)]| {
        let mut all = fields.to_vec();
        all.push(("shopOrderNo", registration.shop_order_no.as_str()));
        all.push(("shopValue1", shop_value1.as_str()));
        Html(page::return_form(&registration.return_url, &all)).into_response()
    };
    if field("action") == Some("cancel") {
        ledger.abandon(&id);
        return back(&[
            ("resCd", code::CUSTOMER_CANCELLED),
            ("resMsg", "고객이 결제를 취소했습니다"),
        ]);
    }
    let issue = registration.pay_method == PAY_METHOD_BILLING_KEY;
    let raw = RawCard {
        card_number: field("card_number"),
        expiry: field("expiry"),
        birth: field("birth"),
        pwd_2digit: field("pwd_2digit"),
    };
    let checked = CardInput::parse(raw, protocol::now_kst().date_naive())
        .map_err(|err| err.to_string())
        .and_then(|card| {
            let complete = card.birth.is_some() && card.pwd_2digit.is_some();
            if issue && !complete {
                Err("생년월일과 비밀번호 앞 2자리를 입력하세요".to_owned())
            } else {
                Ok(card)
            }
        });
    let card = match checked {
        Ok(card) => card,
        Err(message) => {
            return (
                StatusCode::BAD_REQUEST,
                Html(page::card_form(&id, &registration, Some(&message))),
            )
                .into_response()
        }
    };
    match ledger.authenticate(&id, &card.number) {
        Ok(authorization_id) => back(&[
            ("resCd", protocol::SUCCESS),
            ("resMsg", "정상처리"),
            ("authorizationId", authorization_id.as_str()),
        ]),
        Err(refused) => back(&[("resCd", refused.code), ("resMsg", refused.message.as_str())]),
    }
}

async fn get_faults(State(shared): State<Arc<Shared>>) -> Json<Faults> {
    Json(*lock(&shared.faults))
}

async fn set_faults(State(shared): State<Arc<Shared>>, Json(faults): Json<Faults>) -> Json<Faults> {
    *lock(&shared.faults) = faults;
    Json(faults)
}

async fn ledger_snapshot(State(shared): State<Arc<Shared>>) -> Json<Value> {
    Json(lock(&shared.ledger).snapshot())
}
