//! The fake KICC's books: window registrations and authentications, batch keys, approved
//! transactions with their balances and cancels, and the `shopTransactionId`s seen per day.
//! Each operation checks its request as KICC does, then either refuses (nothing changes) or
//! commits and answers in KICC's shape.
//!
//! Test cards (the last four digits of the number typed on the auth page), as the sandbox PG:
//!
//! | last 4 | billing key (81)         | payment approval or batch charge                  |
//! |--------|--------------------------|---------------------------------------------------|
//! | `0002` | issued                   | declined `CD51` 잔액부족                          |
//! | `0003` | issued                   | declined `CD61` 한도초과                          |
//! | `0004` | issued                   | declined `CD41` 분실/도난 카드                    |
//! | `0005` | authentication fails on the auth page (`CD55`), nothing to approve           |
//! | `0341` | issued                   | declined `CD05` 승인거절                          |
//! | `0009` | issued                   | approved and recorded, answer never sent (hangs)  |
//! | `0019` | issued                   | approved; each cancel recorded, answer never sent |
//! | `0013` | issued                   | approved for 1 KRW less than asked                |
//! | other  | issued                   | approved                                          |

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Days, FixedOffset};
use rand::Rng;
use serde::Serialize;
use serde_json::{json, Value};

use openimp_core::card::{mask_card_number, sandbox_card_profile};
use openimp_core::ids::random_hex;

use super::checks::{code, Fields, Refusal};
use crate::protocol::{self, PAY_METHOD_BILLING_KEY, PAY_METHOD_CARD};

/// What a test card does (see the module table).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Behavior {
    Approve,
    Decline(&'static str, &'static str),
    AuthFails,
    AnswerLost,
    CancelAnswerLost,
    ShortApproval,
}

impl Behavior {
    pub fn of_number(number: &str) -> Behavior {
        match &number[number.len().saturating_sub(4)..] {
            "0002" => Behavior::Decline("CD51", "잔액부족"),
            "0003" => Behavior::Decline("CD61", "한도초과"),
            "0004" => Behavior::Decline("CD41", "분실/도난 카드"),
            "0005" => Behavior::AuthFails,
            "0341" => Behavior::Decline("CD05", "승인거절 (카드사 승인 거절)"),
            "0009" => Behavior::AnswerLost,
            "0019" => Behavior::CancelAnswerLost,
            "0013" => Behavior::ShortApproval,
            _ => Behavior::Approve,
        }
    }
}

/// A card as the fake keeps it: never the full number.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Card {
    pub masked: String,
    pub issuer_code: String,
    pub issuer_name: String,
    /// `N` credit, `Y` check.
    pub gubun: String,
    #[serde(skip)]
    pub behavior: Behavior,
}

impl Card {
    pub fn of_number(number: &str) -> Card {
        let (company, card_type) = sandbox_card_profile(number);
        Card {
            masked: mask_card_number(number),
            issuer_code: company.code.to_owned(),
            issuer_name: company.name.to_owned(),
            gubun: if card_type == 1 { "Y" } else { "N" }.to_owned(),
            behavior: Behavior::of_number(number),
        }
    }
}

/// A registered window (거래등록), until its auth page is used.
#[derive(Debug, Clone)]
pub struct Registration {
    pub mall_id: String,
    pub shop_order_no: String,
    pub amount: i64,
    pub pay_method: String,
    pub return_url: String,
    pub device: String,
    pub goods_name: String,
    pub shop_value1: Option<String>,
    pub used: bool,
}

/// A customer's authentication on the auth page, waiting for its approval.
#[derive(Debug, Clone)]
struct Authorization {
    mall_id: String,
    shop_order_no: String,
    amount: i64,
    pay_method: String,
    card: Card,
    used: bool,
}

/// An approved transaction: a payment, or a billing-key issue (amount 0).
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Transaction {
    pub pg_cno: String,
    pub mall_id: String,
    pub shop_order_no: String,
    pub shop_transaction_id: String,
    pub pay_method: String,
    pub amount: i64,
    pub balance: i64,
    pub approval_no: String,
    pub transaction_date: String,
    pub card: Card,
    pub batch_key: Option<String>,
    pub cancels: Vec<String>,
}

/// A cancel (부분/전체 취소) of a transaction.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Cancel {
    pub cancel_pg_cno: String,
    pub ori_pg_cno: String,
    pub shop_transaction_id: String,
    pub revise_type_code: String,
    pub amount: i64,
    pub remain_amount: i64,
    pub transaction_date: String,
}

/// A billing key and the card behind it.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BatchKey {
    pub batch_key: String,
    pub mall_id: String,
    pub card: Card,
    pub removed: bool,
}

/// What a `shopTransactionId` was used for on a day.
#[derive(Debug, Clone)]
enum RequestUse {
    Approval(String),
    Cancel(String),
    Other,
}

/// What a committed operation answers, and whether its answer must be lost (a test card).
pub struct Committed {
    pub answer: Value,
    pub lose_answer: bool,
}

/// The fake's whole state.
#[derive(Default)]
pub struct Ledger {
    /// Mall id → Secret Key.
    pub malls: BTreeMap<String, String>,
    registrations: HashMap<String, Registration>,
    authorizations: HashMap<String, Authorization>,
    pub batch_keys: BTreeMap<String, BatchKey>,
    pub transactions: BTreeMap<String, Transaction>,
    pub cancels: BTreeMap<String, Cancel>,
    /// (mall, yyyyMMdd, shopTransactionId) → its use.
    requests: HashMap<(String, String, String), RequestUse>,
    seq: u64,
}

fn ok(mut answer: Value) -> Value {
    answer["resCd"] = json!(protocol::SUCCESS);
    if answer.get("resMsg").is_none() {
        answer["resMsg"] = json!("정상처리");
    }
    answer
}

impl Ledger {
    pub fn new(malls: BTreeMap<String, String>) -> Ledger {
        Ledger { malls, ..Ledger::default() }
    }

    fn secret(&self, fields: &Fields<'_>) -> Result<(String, String), Refusal> {
        let mall = fields.string("mallId", 8)?;
        let secret = self.malls.get(mall).ok_or_else(|| {
            Refusal::new(code::UNKNOWN_MALL, format!("등록되지 않은 상점입니다: {mall}"))
        })?;
        Ok((mall.to_owned(), secret.clone()))
    }

    fn next_pg_cno(&mut self, now: DateTime<FixedOffset>) -> String {
        self.seq += 1;
        format!("{}{:08}", now.format("%y%m%d%H%M%S"), self.seq)
    }

    fn unused_request(&self, mall: &str, day: &str, id: &str) -> Result<(), Refusal> {
        if self.requests.contains_key(&(mall.to_owned(), day.to_owned(), id.to_owned())) {
            return Err(Refusal::new(
                code::DUPLICATE_REQUEST,
                format!("이미 처리된 요청입니다 (shopTransactionId {id} was used today)"),
            ));
        }
        Ok(())
    }

    fn record_request(&mut self, mall: &str, day: &str, id: &str, used: RequestUse) {
        self.requests.insert((mall.to_owned(), day.to_owned(), id.to_owned()), used);
    }

    fn order_unapproved(&self, mall: &str, shop_order_no: &str) -> Result<(), Refusal> {
        let approved = self.transactions.values().any(|t| {
            t.mall_id == mall && t.shop_order_no == shop_order_no && t.pay_method == PAY_METHOD_CARD
        });
        if approved {
            return Err(Refusal::new(
                code::ORDER_ALREADY_APPROVED,
                format!("이미 승인된 주문번호입니다: {shop_order_no}"),
            ));
        }
        Ok(())
    }

    /// `POST /api/ep9/trades/webpay`: registers a window; answers the id of its auth page.
    pub fn register(&mut self, body: &Value) -> Result<String, Refusal> {
        let fields = Fields(body);
        let (mall, _) = self.secret(&fields)?;
        let shop_order_no = fields.shop_order_no()?;
        let amount = fields.number("amount")?;
        let method = fields.string("payMethodTypeCode", 2)?;
        fields.one_of("currency", &["00"])?;
        let return_url = fields.string("returnUrl", 256)?;
        if !(return_url.starts_with("http://") || return_url.starts_with("https://")) {
            return Err(Refusal::new(code::BAD_FIELD, "returnUrl은 http(s) URL이어야 합니다"));
        }
        let device = fields.one_of("deviceTypeCode", &["pc", "mobile"])?;
        fields.one_of("clientTypeCode", &["00"])?;
        let goods_name = fields.text("orderInfo.goodsName", protocol::MAX_GOODS_NAME_BYTES)?;
        fields.optional_text("orderInfo.customerInfo.customerName", 50)?;
        fields.optional_string("orderInfo.customerInfo.customerMail", 50)?;
        fields.optional_string("orderInfo.customerInfo.customerContactNo", 20)?;
        let shop_value1 = fields.optional_string("shopValueInfo.value1", 100)?;
        match method {
            PAY_METHOD_BILLING_KEY => {
                if amount != 0 {
                    return Err(Refusal::new(
                        code::BAD_AMOUNT,
                        "빌키 발급의 amount는 0이어야 합니다",
                    ));
                }
                fields.one_of("payMethodInfo.billKeyMethodInfo.certType", &["0", "1", "2"])?;
            }
            PAY_METHOD_CARD => {
                if amount <= 0 {
                    return Err(Refusal::new(code::BAD_AMOUNT, "결제금액이 올바르지 않습니다"));
                }
                fields.tax_info(amount)?;
                self.order_unapproved(&mall, shop_order_no)?;
            }
            other => {
                return Err(Refusal::new(
                    code::UNSUPPORTED_METHOD,
                    format!("이 가짜 KICC는 결제수단 {other}를 지원하지 않습니다 (11, 81 only)"),
                ))
            }
        }
        let id = random_hex(16);
        self.registrations.insert(
            id.clone(),
            Registration {
                mall_id: mall,
                shop_order_no: shop_order_no.to_owned(),
                amount,
                pay_method: method.to_owned(),
                return_url: return_url.to_owned(),
                device: device.to_owned(),
                goods_name: goods_name.to_owned(),
                shop_value1: shop_value1.map(str::to_owned),
                used: false,
            },
        );
        Ok(id)
    }

    /// The registration behind an auth page, while it is unused.
    pub fn registration(&self, id: &str) -> Option<&Registration> {
        self.registrations.get(id).filter(|r| !r.used)
    }

    /// The customer submitted the auth page: the registration is used up; an authorization id
    /// when the card authenticates, else the refusal the return carries.
    pub fn authenticate(&mut self, id: &str, number: &str) -> Result<String, Refusal> {
        let Some(registration) = self.registrations.get_mut(id).filter(|r| !r.used) else {
            return Err(Refusal::new(
                code::UNKNOWN_AUTHORIZATION,
                "만료되었거나 사용된 결제창입니다",
            ));
        };
        registration.used = true;
        let card = Card::of_number(number);
        if card.behavior == Behavior::AuthFails {
            return Err(Refusal::new("CD55", "카드 인증 실패 (생년월일 또는 비밀번호 불일치)"));
        }
        let authorization_id = format!("AU{}", random_hex(14));
        let registration = registration.clone();
        self.authorizations.insert(
            authorization_id.clone(),
            Authorization {
                mall_id: registration.mall_id,
                shop_order_no: registration.shop_order_no,
                amount: registration.amount,
                pay_method: registration.pay_method,
                card,
                used: false,
            },
        );
        Ok(authorization_id)
    }

    /// The customer closed the auth page: the registration is used up.
    pub fn abandon(&mut self, id: &str) {
        if let Some(registration) = self.registrations.get_mut(id) {
            registration.used = true;
        }
    }

    /// `POST /api/ep9/trades/approval`.
    pub fn approve(
        &mut self,
        body: &Value,
        now: DateTime<FixedOffset>,
    ) -> Result<Committed, Refusal> {
        let fields = Fields(body);
        let today = protocol::ymd(now.date_naive());
        let (mall, secret) = self.secret(&fields)?;
        let request_id = fields.shop_transaction_id()?;
        let authorization_id = fields.string("authorizationId", 60)?;
        let shop_order_no = fields.shop_order_no()?;
        fields.today("approvalReqDate", &today)?;
        self.unused_request(&mall, &today, request_id)?;
        let authorization = self
            .authorizations
            .get(authorization_id)
            .filter(|a| !a.used && a.mall_id == mall && a.shop_order_no == shop_order_no)
            .cloned()
            .ok_or_else(|| {
                Refusal::new(
                    code::UNKNOWN_AUTHORIZATION,
                    "인증 거래를 찾을 수 없거나 이미 승인되었습니다",
                )
            })?;
        if authorization.pay_method == PAY_METHOD_CARD {
            self.order_unapproved(&mall, shop_order_no)?;
        }
        if let Some(a) = self.authorizations.get_mut(authorization_id) {
            a.used = true;
        }
        let card = authorization.card;
        let batch_key = (authorization.pay_method == PAY_METHOD_BILLING_KEY)
            .then(|| format!("BK{}", random_hex(16).to_uppercase()));
        if let Some(key) = &batch_key {
            self.batch_keys.insert(
                key.clone(),
                BatchKey {
                    batch_key: key.clone(),
                    mall_id: mall.clone(),
                    card: card.clone(),
                    removed: false,
                },
            );
        } else if let Behavior::Decline(code, message) = card.behavior {
            return Err(Refusal::new(code, message));
        }
        let amount = match (card.behavior, &batch_key) {
            (Behavior::ShortApproval, None) => authorization.amount - 1,
            _ => authorization.amount,
        };
        let lose = batch_key.is_none() && card.behavior == Behavior::AnswerLost;
        let txn = self.commit_approval(
            &mall,
            shop_order_no,
            request_id,
            &authorization.pay_method,
            amount,
            card,
            batch_key,
            now,
        );
        Ok(Committed { answer: approval_answer(&txn, &secret), lose_answer: lose })
    }

    #[allow(clippy::too_many_arguments)]
    fn commit_approval(
        &mut self,
        mall: &str,
        shop_order_no: &str,
        request_id: &str,
        pay_method: &str,
        amount: i64,
        card: Card,
        batch_key: Option<String>,
        now: DateTime<FixedOffset>,
    ) -> Transaction {
        let pg_cno = self.next_pg_cno(now);
        let txn = Transaction {
            pg_cno: pg_cno.clone(),
            mall_id: mall.to_owned(),
            shop_order_no: shop_order_no.to_owned(),
            shop_transaction_id: request_id.to_owned(),
            pay_method: pay_method.to_owned(),
            amount,
            balance: amount,
            approval_no: format!("{:08}", rand::thread_rng().gen_range(0..100_000_000)),
            transaction_date: protocol::ymdhms(now),
            card,
            batch_key,
            cancels: Vec::new(),
        };
        self.transactions.insert(pg_cno.clone(), txn.clone());
        self.record_request(
            mall,
            &protocol::ymd(now.date_naive()),
            request_id,
            RequestUse::Approval(pg_cno),
        );
        txn
    }

    /// `POST /api/trades/approval/batch`.
    pub fn charge(
        &mut self,
        body: &Value,
        now: DateTime<FixedOffset>,
    ) -> Result<Committed, Refusal> {
        let fields = Fields(body);
        let today = protocol::ymd(now.date_naive());
        let (mall, secret) = self.secret(&fields)?;
        let request_id = fields.shop_transaction_id()?;
        let shop_order_no = fields.shop_order_no()?;
        fields.today("approvalReqDate", &today)?;
        let amount = fields.number("amount")?;
        if amount <= 0 {
            return Err(Refusal::new(code::BAD_AMOUNT, "결제금액이 올바르지 않습니다"));
        }
        fields.one_of("currency", &["00"])?;
        fields.text("orderInfo.goodsName", protocol::MAX_GOODS_NAME_BYTES)?;
        fields.optional_text("orderInfo.customerInfo.customerName", 50)?;
        let key = fields.string("payMethodInfo.billKeyMethodInfo.batchKey", 60)?;
        let installment = fields.number("payMethodInfo.cardMethodInfo.installmentMonth")?;
        if !(0..=36).contains(&installment) {
            return Err(Refusal::new(code::BAD_FIELD, "할부개월이 올바르지 않습니다"));
        }
        fields.tax_info(amount)?;
        self.unused_request(&mall, &today, request_id)?;
        let card = match self.batch_keys.get(key).filter(|k| k.mall_id == mall) {
            None => return Err(Refusal::new(code::UNKNOWN_BATCH_KEY, "등록되지 않은 빌키입니다")),
            Some(k) if k.removed => {
                return Err(Refusal::new(code::BATCH_KEY_REMOVED, "삭제된 빌키입니다"))
            }
            Some(k) => k.card.clone(),
        };
        self.order_unapproved(&mall, shop_order_no)?;
        let approved = match card.behavior {
            Behavior::Decline(code, message) => return Err(Refusal::new(code, message)),
            Behavior::ShortApproval => amount - 1,
            _ => amount,
        };
        let lose = card.behavior == Behavior::AnswerLost;
        let txn = self.commit_approval(
            &mall,
            shop_order_no,
            request_id,
            PAY_METHOD_CARD,
            approved,
            card,
            None,
            now,
        );
        Ok(Committed { answer: approval_answer(&txn, &secret), lose_answer: lose })
    }

    /// `POST /api/trades/revise`: full (`40`) or partial card (`32`) cancel.
    pub fn revise(
        &mut self,
        body: &Value,
        now: DateTime<FixedOffset>,
    ) -> Result<Committed, Refusal> {
        let fields = Fields(body);
        let today = protocol::ymd(now.date_naive());
        let (mall, secret) = self.secret(&fields)?;
        let request_id = fields.shop_transaction_id()?;
        let pg_cno = fields.string("pgCno", 20)?;
        let revise_type = fields.string("reviseTypeCode", 2)?;
        fields.today("cancelReqDate", &today)?;
        let given_mac = fields.string("msgAuthValue", 200)?;
        fields.optional_text("reviseMessage", protocol::MAX_REVISE_MESSAGE_BYTES)?;
        if !protocol::verify_msg_auth(&secret, &[pg_cno, request_id], given_mac) {
            return Err(Refusal::new(
                code::BAD_MAC,
                "메시지 인증값(msgAuthValue)이 올바르지 않습니다",
            ));
        }
        self.unused_request(&mall, &today, request_id)?;
        let txn = self
            .transactions
            .get(pg_cno)
            .filter(|t| t.mall_id == mall && t.pay_method == PAY_METHOD_CARD)
            .ok_or_else(|| Refusal::new(code::UNKNOWN_ORIGINAL, "원거래를 찾을 수 없습니다"))?;
        if txn.balance == 0 {
            return Err(Refusal::new(code::ALREADY_CANCELLED, "이미 취소된 거래입니다"));
        }
        let amount = match revise_type {
            protocol::REVISE_FULL => txn.balance,
            protocol::REVISE_PARTIAL_CARD => {
                let amount = fields.number("amount")?;
                let remain = fields.number("remainAmount")?;
                if amount <= 0 {
                    return Err(Refusal::new(code::BAD_AMOUNT, "취소금액이 올바르지 않습니다"));
                }
                if amount > txn.balance {
                    return Err(Refusal::new(
                        code::OVER_BALANCE,
                        format!("취소 가능 금액을 초과합니다 (잔액 {}원)", txn.balance),
                    ));
                }
                if remain != txn.balance - amount {
                    return Err(Refusal::new(
                        code::REMAIN_MISMATCH,
                        format!("취소 후 잔액이 맞지 않습니다 (잔액 {}원)", txn.balance),
                    ));
                }
                amount
            }
            other => {
                return Err(Refusal::new(
                    code::UNSUPPORTED_REVISE,
                    format!("지원하지 않는 변경구분입니다: {other}"),
                ))
            }
        };
        let lose = txn.card.behavior == Behavior::CancelAnswerLost;
        let cancel_pg_cno = self.next_pg_cno(now);
        let txn = self.transactions.get_mut(pg_cno).expect("looked up above");
        txn.balance -= amount;
        txn.cancels.push(cancel_pg_cno.clone());
        let cancel = Cancel {
            cancel_pg_cno: cancel_pg_cno.clone(),
            ori_pg_cno: pg_cno.to_owned(),
            shop_transaction_id: request_id.to_owned(),
            revise_type_code: revise_type.to_owned(),
            amount,
            remain_amount: txn.balance,
            transaction_date: protocol::ymdhms(now),
        };
        let txn = txn.clone();
        self.cancels.insert(cancel_pg_cno.clone(), cancel.clone());
        self.record_request(&mall, &today, request_id, RequestUse::Cancel(cancel_pg_cno));
        Ok(Committed { answer: revise_answer(&txn, &cancel, Some(&secret)), lose_answer: lose })
    }

    /// `POST /api/trades/removeBatchKey`.
    pub fn remove_key(
        &mut self,
        body: &Value,
        now: DateTime<FixedOffset>,
    ) -> Result<Committed, Refusal> {
        let fields = Fields(body);
        let today = protocol::ymd(now.date_naive());
        let (mall, _) = self.secret(&fields)?;
        let request_id = fields.shop_transaction_id()?;
        let key = fields.string("batchKey", 60)?;
        fields.today("removeReqDate", &today)?;
        self.unused_request(&mall, &today, request_id)?;
        match self.batch_keys.get_mut(key).filter(|k| k.mall_id == mall && !k.removed) {
            None => {
                return Err(Refusal::new(
                    code::BATCH_KEY_REMOVED,
                    "등록되지 않았거나 삭제된 빌키입니다",
                ))
            }
            Some(k) => k.removed = true,
        }
        self.record_request(&mall, &today, request_id, RequestUse::Other);
        Ok(Committed {
            answer: ok(json!({
                "mallId": mall, "shopTransactionId": request_id, "removeReqDate": today,
            })),
            lose_answer: false,
        })
    }

    /// `POST /api/trades/retrieveTransaction`: the transaction a `shopTransactionId` made on a
    /// day (today or yesterday only), in the shape of its own answer, without `msgAuthValue`.
    pub fn retrieve(&self, body: &Value, now: DateTime<FixedOffset>) -> Result<Value, Refusal> {
        let fields = Fields(body);
        let (mall, _) = self.secret(&fields)?;
        let request_id = fields.shop_transaction_id()?;
        let day = fields.string("transactionDate", 8)?;
        if !protocol::is_ymd(day) {
            return Err(Refusal::new(code::BAD_FIELD, "transactionDate는 yyyyMMdd입니다"));
        }
        let today = now.date_naive();
        let yesterday = today.checked_sub_days(Days::new(1)).unwrap_or(today);
        if day != protocol::ymd(today) && day != protocol::ymd(yesterday) {
            return Err(Refusal::new(
                code::OUT_OF_RANGE_DATE,
                "전일과 당일 거래만 조회할 수 있습니다",
            ));
        }
        let not_found = || Refusal::new(code::NOT_FOUND, "거래 내역이 없습니다");
        match self.requests.get(&(mall, day.to_owned(), request_id.to_owned())) {
            Some(RequestUse::Approval(pg_cno)) => {
                let txn = self.transactions.get(pg_cno).ok_or_else(not_found)?;
                let mut answer = approval_answer(txn, "");
                if let Some(object) = answer.as_object_mut() {
                    object.remove("msgAuthValue");
                }
                if txn.pay_method == PAY_METHOD_CARD && txn.balance == 0 {
                    answer["statusCode"] = json!(protocol::STATUS_CANCELLED);
                    answer["statusMessage"] = json!("승인취소");
                }
                Ok(answer)
            }
            Some(RequestUse::Cancel(cancel_pg_cno)) => {
                let cancel = self.cancels.get(cancel_pg_cno).ok_or_else(not_found)?;
                let txn = self.transactions.get(&cancel.ori_pg_cno).ok_or_else(not_found)?;
                Ok(revise_answer(txn, cancel, None))
            }
            Some(RequestUse::Other) | None => Err(not_found()),
        }
    }

    /// Everything the fake holds, for tests and `GET /__fake/ledger`.
    pub fn snapshot(&self) -> Value {
        json!({
            "transactions": self.transactions.values().collect::<Vec<_>>(),
            "cancels": self.cancels.values().collect::<Vec<_>>(),
            "batchKeys": self.batch_keys.values().collect::<Vec<_>>(),
        })
    }
}

/// An approval's answer; `secret` empty leaves out nothing but makes a MAC no one can check
/// (retrievals strip it).
fn approval_answer(txn: &Transaction, secret: &str) -> Value {
    let issue = txn.pay_method == PAY_METHOD_BILLING_KEY;
    let card_no =
        if issue { txn.batch_key.clone().unwrap_or_default() } else { txn.card.masked.clone() };
    ok(json!({
        "resMsg": if issue { "빌키 발급 정상" } else { "정상승인" },
        "mallId": txn.mall_id,
        "shopTransactionId": txn.shop_transaction_id,
        "shopOrderNo": txn.shop_order_no,
        "pgCno": txn.pg_cno,
        "amount": txn.amount,
        "transactionDate": txn.transaction_date,
        "statusCode": protocol::STATUS_APPROVED,
        "statusMessage": "매입요청",
        "msgAuthValue": protocol::answer_auth(secret, &txn.pg_cno, txn.amount, &txn.transaction_date),
        "escrowUsed": "N",
        "paymentInfo": {
            "payMethodTypeCode": txn.pay_method,
            "approvalNo": txn.approval_no,
            "approvalDate": txn.transaction_date,
            "cardInfo": {
                "cardNo": card_no,
                "cardMaskNo": if issue { txn.card.masked.clone() } else { String::new() },
                "issuerCode": txn.card.issuer_code,
                "issuerName": txn.card.issuer_name,
                "acquirerCode": txn.card.issuer_code,
                "acquirerName": txn.card.issuer_name,
                "installmentMonth": 0,
                "freeInstallmentTypeCode": "00",
                "cardGubun": txn.card.gubun,
                "cardBizGubun": "P",
                "partCancelUsed": "Y",
            },
        },
    }))
}

/// A revise's answer; with `secret`, signed over `cancelPgCno|cancelAmount|transactionDate`.
fn revise_answer(txn: &Transaction, cancel: &Cancel, secret: Option<&str>) -> Value {
    let full = cancel.remain_amount == 0;
    let mut answer = ok(json!({
        "resMsg": if full { "정상취소" } else { "정상처리" },
        "mallId": txn.mall_id,
        "shopTransactionId": cancel.shop_transaction_id,
        "shopOrderNo": txn.shop_order_no,
        "oriPgCno": cancel.ori_pg_cno,
        "cancelPgCno": cancel.cancel_pg_cno,
        "transactionDate": cancel.transaction_date,
        "cancelAmount": cancel.amount,
        "remainAmount": cancel.remain_amount,
        "statusCode": if full { protocol::STATUS_CANCELLED } else { protocol::STATUS_PARTIALLY_CANCELLED },
        "statusMessage": if full { "승인취소" } else { "부분매입취소" },
        "escrowUsed": "N",
        "reviseInfo": {
            "payMethodTypeCode": PAY_METHOD_CARD,
            "approvalNo": "",
            "approvalDate": cancel.transaction_date,
        },
    }));
    if let Some(secret) = secret {
        answer["msgAuthValue"] = json!(protocol::answer_auth(
            secret,
            &cancel.cancel_pg_cno,
            cancel.amount,
            &cancel.transaction_date
        ));
    }
    answer
}
