//! A fake of KG Inicis's server side: the referee the connector is tested against, and what
//! `openimp fake-pg inicis` serves to a merchant trying live mode offline.
//!
//! It checks every hash, signature and encrypted field with the MID's keys exactly as
//! pg-protocols.md says KG Inicis does, and refuses a wrong one the way KG Inicis answers
//! (`resultCode` 01, `ER0102`, `R508` ...); it never approves one. It keeps its own state in
//! memory (billing keys → card, transactions with their balance and cancels, a ledger), serves
//! the browser's pages (INIStdPay.js, the card pages of the PC, mobile and INILite windows) and
//! can be told to misbehave ([`Faults`]).
//!
//! # Test cards (the sandbox PG's rules, by the last four digits)
//!
//! | last 4 | billing key / window authentication | charge or approval                     |
//! |--------|-------------------------------------|----------------------------------------|
//! | `0002` | issued                              | declined `[51] 잔액부족`                |
//! | `0003` | issued                              | declined `[61] 한도초과`                |
//! | `0004` | issued                              | declined `[41] 분실/도난 카드`          |
//! | `0005` | refused `[55] 카드 인증 실패`        | declined `[55]`                        |
//! | `0341` | issued                              | declined `[05] 승인거절`                |
//! | `0009` | issued                              | approved and recorded, answer withheld |
//! | other  | issued                              | approved                               |

mod iniapi;
mod mobile;
mod pages;
mod stdpay;

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use axum::extract::{Query, State as AxumState};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use openimp_core::card::{mask_card_number, sandbox_card_profile};
use serde::{Deserialize, Serialize};

use crate::transformers::inicis_card_code;

/// A MID the fake knows, with its keys (pg-protocols.md §1.1 for the public ones).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MidKeys {
    pub mid: String,
    pub sign_key: String,
    pub iniapi_key: String,
    pub iniapi_iv: String,
    /// INIpay Mobile's hashKey (`P_CHKFAKE`); without one, mobile payments are refused.
    pub mobile_hash_key: Option<String>,
    /// INILite's key (the billing `merchantKey`); without one, the INILite window is refused.
    pub inilite_key: Option<String>,
}

/// The public test signKey shared by KG Inicis's test MIDs.
pub const TEST_SIGN_KEY: &str = "SU5JTElURV9UUklQTEVERVNfS0VZU1RS";

/// KG Inicis's public test MIDs.
pub fn public_test_mids() -> Vec<MidKeys> {
    vec![
        MidKeys {
            mid: "INIpayTest".to_owned(),
            sign_key: TEST_SIGN_KEY.to_owned(),
            iniapi_key: "ItEQKi3rY7uvDS8l".to_owned(),
            iniapi_iv: "HYb3yQ4f65QL89==".to_owned(),
            mobile_hash_key: Some("3CB8183A4BE283555ACC8363C0360223".to_owned()),
            inilite_key: None,
        },
        MidKeys {
            mid: "INIBillTst".to_owned(),
            sign_key: TEST_SIGN_KEY.to_owned(),
            iniapi_key: "rKnPljRn5m6J9Mzz".to_owned(),
            iniapi_iv: "W2KLNKra6Wxc1P==".to_owned(),
            mobile_hash_key: None,
            inilite_key: Some("b09LVzhuTGZVaEY1WmJoQnZzdXpRdz09".to_owned()),
        },
        MidKeys {
            mid: "iniescrow0".to_owned(),
            sign_key: TEST_SIGN_KEY.to_owned(),
            iniapi_key: "yERbIlJ3NhTeObsA".to_owned(),
            iniapi_iv: "tOGDXbfoajk2DQ==".to_owned(),
            mobile_hash_key: None,
            inilite_key: None,
        },
    ]
}

/// Misbehaviours a test (or a merchant rehearsing failures) can switch on.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Faults {
    /// Commit an approval or cancel, then withhold the answer (the caller times out).
    pub timeout_after_commit: bool,
    /// Answer PC approvals with a wrong `authSignature`.
    pub wrong_auth_signature: bool,
    /// Send the browser back with an approval URL outside KG Inicis's hosts.
    pub auth_url_outside: bool,
}

/// How the fake is run.
#[derive(Debug, Clone)]
pub struct FakeOptions {
    /// The base URL browsers and connectors reach the fake at (its `authUrl`s point there);
    /// `None`: `http://` + the listener's address.
    pub public_url: Option<String>,
    /// MIDs besides the public test ones.
    pub extra_mids: Vec<MidKeys>,
    pub faults: Faults,
    /// How long a withheld answer is held before the connection is dropped.
    pub hang: Duration,
}

impl Default for FakeOptions {
    fn default() -> FakeOptions {
        FakeOptions {
            public_url: None,
            extra_mids: Vec::new(),
            faults: Faults::default(),
            hang: Duration::from_secs(30),
        }
    }
}

/// The URL the fake sends browsers back with when told to leave the whitelist. `.invalid`
/// never resolves, so even a broken connector could not reach it.
pub const OUTSIDE_AUTH_HOST: &str = "https://fcstdpay.inicis.com.attacker.invalid";

/// One line of the fake's ledger: what happened to money, in order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LedgerEntry {
    /// `approval`, `decline`, `cancel`, `net_cancel`, `billing_key`.
    pub kind: String,
    pub mid: String,
    pub moid: String,
    pub tid: String,
    pub amount: i64,
}

/// A card as the fake keeps it (the full number stays at the "PG").
#[derive(Debug, Clone)]
pub(crate) struct Card {
    pub number: String,
}

/// What a test card does when charged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Behaviour {
    Approve,
    Decline(&'static str, &'static str),
    AuthFails,
    AnswerLost,
}

pub(crate) const AUTH_FAILED: (&str, &str) =
    ("55", "[55] 카드 인증 실패 (생년월일 또는 비밀번호 불일치)");

impl Card {
    pub fn behaviour(&self) -> Behaviour {
        match &self.number[self.number.len().saturating_sub(4)..] {
            "0002" => Behaviour::Decline("51", "[51] 잔액부족"),
            "0003" => Behaviour::Decline("61", "[61] 한도초과"),
            "0004" => Behaviour::Decline("41", "[41] 분실/도난 카드"),
            "0005" => Behaviour::AuthFails,
            "0341" => Behaviour::Decline("05", "[05] 승인거절 (카드사 승인 거절)"),
            "0009" => Behaviour::AnswerLost,
            _ => Behaviour::Approve,
        }
    }

    /// The decline of a charge on this card, if it is declined.
    pub fn decline(&self) -> Option<(&'static str, &'static str)> {
        match self.behaviour() {
            Behaviour::Decline(code, message) => Some((code, message)),
            Behaviour::AuthFails => Some(AUTH_FAILED),
            Behaviour::Approve | Behaviour::AnswerLost => None,
        }
    }

    /// KG Inicis's card-company code for this card.
    pub fn inicis_code(&self) -> String {
        inicis_card_code(sandbox_card_profile(&self.number).0.code)
    }

    /// `0` credit, `1` check.
    pub fn check_flag(&self) -> String {
        sandbox_card_profile(&self.number).1.to_string()
    }

    pub fn masked(&self) -> String {
        mask_card_number(&self.number)
    }

    /// A typed card number, if plausible (14 to 16 digits, dashes and spaces allowed).
    pub fn parse(typed: &str) -> Option<Card> {
        let number: String = typed.chars().filter(|c| !matches!(c, '-' | ' ')).collect();
        ((14..=16).contains(&number.len()) && number.bytes().all(|b| b.is_ascii_digit()))
            .then_some(Card { number })
    }
}

/// A cancel of a transaction.
#[derive(Debug, Clone)]
pub(crate) struct CancelRecord {
    pub tid: String,
    pub price: i64,
    pub msg: String,
    pub at_millis: i64,
}

/// An approved transaction.
#[derive(Debug, Clone)]
pub(crate) struct Txn {
    pub mid: String,
    pub moid: String,
    pub price: i64,
    pub remaining: i64,
    pub card: Card,
    pub auth_code: String,
    pub at_millis: i64,
    pub cancels: Vec<CancelRecord>,
    /// Undone by a net-cancel (a window approval the merchant did not keep).
    pub net_cancelled: bool,
}

/// The last attempt on an order id, for the inquiry.
#[derive(Debug, Clone)]
pub(crate) enum Attempt {
    Approved(String),
    Declined { code: String, message: String },
}

/// Everything the fake remembers.
#[derive(Debug, Default)]
pub(crate) struct Ledger {
    pub billing_keys: HashMap<String, (String, Card)>,
    pub txns: HashMap<String, Txn>,
    pub attempts: HashMap<(String, String), Attempt>,
    pub entries: Vec<LedgerEntry>,
    pub stdpay: stdpay::Sessions,
    pub mobile: mobile::Sessions,
    seq: u64,
}

impl Ledger {
    /// A 40-character tid in KG Inicis's shape: 10 characters of kind, the MID in 10, a KST
    /// timestamp, a sequence (the mobile sample reads the MID at offset 10).
    pub fn new_tid(&mut self, kind: &str, mid: &str) -> String {
        self.seq += 1;
        let stamp = crate::protocol::iniapi::timestamp14(openimp_core::time::now_millis());
        format!("{kind:_<10.10}{mid:_<10.10}{stamp}{:06}", self.seq % 1_000_000)
    }

    pub fn new_auth_code(&mut self) -> String {
        self.seq += 1;
        format!("{:08}", (self.seq * 7_919 + 30_000_000) % 100_000_000)
    }

    pub fn new_billing_key(&mut self, mid: &str, card: Card) -> String {
        let key = openimp_core::ids::random_hex(20);
        self.billing_keys.insert(key.clone(), (mid.to_owned(), card));
        self.entries.push(LedgerEntry {
            kind: "billing_key".to_owned(),
            mid: mid.to_owned(),
            moid: String::new(),
            tid: String::new(),
            amount: 0,
        });
        key
    }

    /// Records an approval under a new tid of `kind`.
    pub fn approve(&mut self, kind: &str, mid: &str, moid: &str, price: i64, card: Card) -> Txn {
        let tid = self.new_tid(kind, mid);
        self.approve_as(tid, mid, moid, price, card)
    }

    /// Records an approval under `tid` (mobile: the tid was given at authentication).
    pub fn approve_as(
        &mut self,
        tid: String,
        mid: &str,
        moid: &str,
        price: i64,
        card: Card,
    ) -> Txn {
        let txn = Txn {
            mid: mid.to_owned(),
            moid: moid.to_owned(),
            price,
            remaining: price,
            card,
            auth_code: self.new_auth_code(),
            at_millis: openimp_core::time::now_millis(),
            cancels: Vec::new(),
            net_cancelled: false,
        };
        self.txns.insert(tid.clone(), txn.clone());
        self.attempts.insert((mid.to_owned(), moid.to_owned()), Attempt::Approved(tid.clone()));
        self.entries.push(LedgerEntry {
            kind: "approval".to_owned(),
            mid: mid.to_owned(),
            moid: moid.to_owned(),
            tid,
            amount: price,
        });
        txn
    }

    /// The tid of an approval just recorded for `moid`.
    pub fn tid_of(&self, mid: &str, moid: &str) -> Option<String> {
        match self.attempts.get(&(mid.to_owned(), moid.to_owned())) {
            Some(Attempt::Approved(tid)) => Some(tid.clone()),
            _ => None,
        }
    }

    pub fn decline(&mut self, mid: &str, moid: &str, price: i64, code: &str, message: &str) {
        let key = (mid.to_owned(), moid.to_owned());
        // An order approved once stays approved.
        if !matches!(self.attempts.get(&key), Some(Attempt::Approved(_))) {
            self.attempts.insert(
                key,
                Attempt::Declined { code: code.to_owned(), message: message.to_owned() },
            );
        }
        self.entries.push(LedgerEntry {
            kind: "decline".to_owned(),
            mid: mid.to_owned(),
            moid: moid.to_owned(),
            tid: String::new(),
            amount: price,
        });
    }

    /// Undoes a window approval entirely (망취소).
    pub fn net_cancel(&mut self, tid: &str) {
        if let Some(txn) = self.txns.get_mut(tid) {
            if txn.net_cancelled {
                return;
            }
            txn.net_cancelled = true;
            let amount = txn.remaining;
            txn.remaining = 0;
            let entry = LedgerEntry {
                kind: "net_cancel".to_owned(),
                mid: txn.mid.clone(),
                moid: txn.moid.clone(),
                tid: tid.to_owned(),
                amount,
            };
            self.entries.push(entry);
        }
    }
}

/// The fake's shared state.
pub(crate) struct Shared {
    pub mids: HashMap<String, MidKeys>,
    pub base_url: String,
    pub hang: Duration,
    faults: Mutex<Faults>,
    ledger: Mutex<Ledger>,
    calls: Mutex<BTreeMap<String, u64>>,
}

impl Shared {
    pub fn ledger(&self) -> MutexGuard<'_, Ledger> {
        self.ledger.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    pub fn faults(&self) -> Faults {
        self.faults.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).clone()
    }

    pub fn count(&self, path: &str) {
        let mut calls = self.calls.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        *calls.entry(path.to_owned()).or_default() += 1;
    }

    /// Withholds an answer after a commit when told to (or for card 0009).
    pub async fn maybe_hang(&self, lost: bool) {
        if lost || self.faults().timeout_after_commit {
            tokio::time::sleep(self.hang).await;
        }
    }

    /// Where the browser is sent back to approve (`authUrl`), honouring the fault.
    pub fn approval_base(&self) -> String {
        if self.faults().auth_url_outside {
            OUTSIDE_AUTH_HOST.to_owned()
        } else {
            self.base_url.clone()
        }
    }
}

/// A running fake.
pub struct FakeInicis {
    shared: Arc<Shared>,
    task: tokio::task::JoinHandle<()>,
}

impl FakeInicis {
    /// Serves the fake on `listener` until the returned handle is dropped.
    pub fn start(listener: tokio::net::TcpListener, options: FakeOptions) -> FakeInicis {
        let address = listener.local_addr().expect("a bound listener has an address");
        let shared = shared(&options, format!("http://{address}"));
        let app = router(shared.clone());
        let task = tokio::spawn(async move {
            if let Err(err) = axum::serve(listener, app).await {
                tracing::error!(error = %err, "the KG Inicis fake stopped");
            }
        });
        FakeInicis { shared, task }
    }

    /// The base URL to give a channel as `--endpoint`.
    pub fn base_url(&self) -> &str {
        &self.shared.base_url
    }

    /// How many requests reached `path` (e.g. `/api/payAuth`).
    pub fn calls(&self, path: &str) -> u64 {
        let calls = self.shared.calls.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        calls.get(path).copied().unwrap_or(0)
    }

    pub fn set_faults(&self, faults: Faults) {
        *self.shared.faults.lock().unwrap_or_else(|poisoned| poisoned.into_inner()) = faults;
    }

    pub fn ledger(&self) -> Vec<LedgerEntry> {
        self.shared.ledger().entries.clone()
    }

    /// What remains cancellable of `tid`, if the fake approved it.
    pub fn remaining(&self, tid: &str) -> Option<i64> {
        self.shared.ledger().txns.get(tid).map(|txn| txn.remaining)
    }

    /// Registers a billing key for `card_number` directly (tests of charges that need a key
    /// without driving a window); answers the key.
    pub fn issue_billing_key(&self, mid: &str, card_number: &str) -> String {
        let card = Card::parse(card_number).expect("a test card number");
        self.shared.ledger().new_billing_key(mid, card)
    }
}

impl Drop for FakeInicis {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Runs the fake on `listener` until the process stops (`openimp fake-pg inicis`).
pub async fn serve(listener: tokio::net::TcpListener, options: FakeOptions) -> std::io::Result<()> {
    let address = listener.local_addr()?;
    let shared = shared(&options, format!("http://{address}"));
    axum::serve(listener, router(shared)).await
}

fn shared(options: &FakeOptions, listener_url: String) -> Arc<Shared> {
    let mut mids: HashMap<String, MidKeys> =
        public_test_mids().into_iter().map(|keys| (keys.mid.clone(), keys)).collect();
    for keys in &options.extra_mids {
        mids.insert(keys.mid.clone(), keys.clone());
    }
    let base_url = options
        .public_url
        .clone()
        .map(|url| url.trim_end_matches('/').to_owned())
        .unwrap_or(listener_url);
    Arc::new(Shared {
        mids,
        base_url,
        hang: options.hang,
        faults: Mutex::new(options.faults.clone()),
        ledger: Mutex::new(Ledger::default()),
        calls: Mutex::new(BTreeMap::new()),
    })
}

fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/api/v1/billing", post(iniapi::billing))
        .route("/api/v1/formpay", post(iniapi::formpay))
        .route("/api/v1/refund", post(iniapi::refund))
        .route("/v2/pg/inquiry", post(iniapi::inquiry))
        .route("/stdjs/INIStdPay.js", get(stdpay::script))
        .route("/payMain/pay", post(stdpay::pay_page))
        .route("/payMain/card", post(stdpay::card_submit))
        .route("/api/payAuth", post(stdpay::pay_auth))
        .route("/api/netCancel", post(stdpay::net_cancel))
        .route("/smart/payment/", post(mobile::pay_page))
        .route("/smart/card", post(mobile::card_submit))
        .route("/smart/cancel", get(mobile::cancel))
        .route("/smart/payReq.ini", post(mobile::pay_req))
        .route("/smart/payNetCancel.ini", post(mobile::net_cancel))
        .route("/inibill/inibill_card.jsp", post(mobile::inilite_page))
        .route("/inibill/card", post(mobile::inilite_submit))
        .route("/inibill/cancel", get(mobile::inilite_cancel))
        .route("/DefaultWebApp/mall/cr/cm/mCmReceipt_head.jsp", get(receipt))
        .route("/__fake/faults", get(get_faults).post(set_faults))
        .route("/__fake/calls", get(calls))
        .route("/__fake/ledger", get(ledger))
        .with_state(shared)
}

async fn get_faults(AxumState(shared): AxumState<Arc<Shared>>) -> Json<Faults> {
    Json(shared.faults())
}

async fn set_faults(
    AxumState(shared): AxumState<Arc<Shared>>,
    Json(faults): Json<Faults>,
) -> Json<Faults> {
    *shared.faults.lock().unwrap_or_else(|poisoned| poisoned.into_inner()) = faults.clone();
    Json(faults)
}

async fn calls(AxumState(shared): AxumState<Arc<Shared>>) -> Json<BTreeMap<String, u64>> {
    Json(shared.calls.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).clone())
}

async fn ledger(AxumState(shared): AxumState<Arc<Shared>>) -> Json<Vec<LedgerEntry>> {
    Json(shared.ledger().entries.clone())
}

#[derive(Deserialize)]
struct ReceiptQuery {
    #[serde(rename = "noTid", default)]
    no_tid: String,
}

async fn receipt(
    AxumState(shared): AxumState<Arc<Shared>>,
    Query(query): Query<ReceiptQuery>,
) -> Response {
    let ledger = shared.ledger();
    // A partial cancel's own tid shows its original.
    let found =
        ledger.txns.get(&query.no_tid).map(|txn| (query.no_tid.clone(), txn)).or_else(|| {
            ledger.txns.iter().find_map(|(tid, txn)| {
                txn.cancels.iter().any(|c| c.tid == query.no_tid).then(|| (tid.clone(), txn))
            })
        });
    match found {
        Some((tid, txn)) => Html(pages::receipt(&tid, txn)).into_response(),
        None => (
            axum::http::StatusCode::NOT_FOUND,
            Html(pages::error("R404", "거래를 찾을 수 없습니다")),
        )
            .into_response(),
    }
}

/// A form body's fields, in order (the browser and INIAPI post url-encoded UTF-8).
pub(crate) fn form(body: &str) -> BTreeMap<String, String> {
    let mut fields = BTreeMap::new();
    for (key, value) in openimp_pg::transport::form_decode(body) {
        fields.entry(key).or_insert(value);
    }
    fields
}

/// A field of a form, `""` when absent.
pub(crate) fn field<'a>(fields: &'a BTreeMap<String, String>, name: &str) -> &'a str {
    fields.get(name).map(String::as_str).unwrap_or("")
}
