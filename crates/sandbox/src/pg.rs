//! The in-process sandbox PG: what every test-mode channel talks to instead of a real PG.
//!
//! From the merchant's side it behaves like KG Inicis or KICC: it issues billing keys, approves
//! or declines charges, cancels fully or in part, and answers an inquiry by order id. It keeps
//! its own state in its own tables ([`crate::ledger`]), in a database of its own, as a PG
//! keeps its own database; it is the one connector that stores anything. Its ledger is the
//! oracle tests read for what was really charged.
//!
//! # Test cards
//!
//! The **last four digits** of the card number decide what happens (the card company and type
//! come from [`sandbox_card_profile`]):
//!
//! | last 4 | billing key                    | charge (by key or keyed)                       |
//! |--------|--------------------------------|------------------------------------------------|
//! | `0002` | issued                         | declined `51` 잔액부족 (insufficient balance)  |
//! | `0003` | issued                         | declined `61` 한도초과 (over the limit)        |
//! | `0004` | issued                         | declined `41` 분실/도난 카드 (lost or stolen)  |
//! | `0005` | refused `55` (card auth fails) | keyed: declined `55`                           |
//! | `0341` | issued                         | declined `05` 승인거절 (every charge)          |
//! | `0009` | issued                         | approved and recorded, but the answer is lost: |
//! |        |                                | `Err(Unknown)`; a later inquiry says approved  |
//! | `0019` | issued                         | approved; every **cancel** of it is recorded   |
//! |        |                                | but its answer is lost (`Err(Unknown)`); a     |
//! |        |                                | later cancel inquiry finds it                  |
//! | `0013` | issued                         | approved for 1 KRW less than asked (a PG that  |
//! |        |                                | approves another amount; cancellable as usual) |
//! | other  | issued                         | approved                                       |
//!
//! Other pay methods ([`PaymentSource::Method`]: bank transfer, a virtual account's deposit,
//! phone, easy-pay brands) are approved in the sandbox window and recorded in the ledger like a
//! card approval, with empty card facts and tid kinds `BANK`, `VBNK`, `MOBI`, `EASY`.
//!
//! # Decline and refusal codes
//!
//! A decline or refusal carries the code and the PG's own text apart, as KG Inicis and KICC
//! answer them; the services write them once as `[code] text` (the form shown here), so the
//! text never repeats the code.
//!
//! | code | message                                                         | when                          |
//! |------|-----------------------------------------------------------------|-------------------------------|
//! | `51` | `[51] 잔액부족`                                                 | card ending 0002              |
//! | `61` | `[61] 한도초과`                                                 | card ending 0003              |
//! | `41` | `[41] 분실/도난 카드`                                           | card ending 0004              |
//! | `55` | `[55] 카드 인증 실패 (생년월일 또는 비밀번호 불일치)`           | card ending 0005              |
//! | `05` | `[05] 승인거절 (카드사 승인 거절)`                              | card ending 0341              |
//! | `13` | `[13] 결제 금액이 올바르지 않습니다`                            | charge amount <= 0            |
//! | `14` | `[14] 등록되지 않은 빌링키입니다`                               | unknown key, or another MID's |
//! | `15` | `[15] 삭제된 빌링키입니다`                                      | deleted key                   |
//! | `94` | `[94] 이미 승인된 주문번호입니다 (중복 주문번호)`               | order id approved already     |
//! | `C1` | `[C1] 원거래를 찾을 수 없습니다`                                | cancel: unknown tid / MID     |
//! | `01` | `[01] 기 취소 거래`                                             | cancel: nothing left          |
//! | `C2` | `[C2] 취소 요청 금액이 취소 가능 잔액을 초과합니다 (잔액 N원)`  | cancel: amount > what is left |
//! | `C3` | `[C3] 취소 금액이 올바르지 않습니다`                            | cancel amount <= 0            |
//!
//! # Cancels and their inquiry
//!
//! A cancel is recorded with the id it was requested with ([`CancelRequest::cancel_id`]); the
//! same id sent again answers the first cancel and records nothing, and
//! [`Connector::inquire_cancel`] finds a cancel by it. A cancel the sandbox received is
//! processed even if the caller stops waiting (it runs in a task of its own, as a real PG
//! finishes what it received), so a PG timeout leaves a recorded cancel whose answer was lost.
//!
//! # Store failures
//!
//! A store failure before anything was written is [`ConnectorError::NotSent`] (nothing happened
//! at the "PG"); a failure while or after a charge or cancel is written is
//! [`ConnectorError::Unknown`], to be settled by [`Connector::inquire`].

use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, FixedOffset};
use rand::Rng;

use openimp_core::card::{mask_card_number, sandbox_card_profile, CardInput};
use openimp_core::ids::random_hex;
use openimp_core::time;
use openimp_pg::window::{
    Handoff, NetCancel, WindowOrder, WindowResult, WindowReturn, WindowStart,
};
use openimp_pg::{
    Approval, CancelInquiry, CancelOutcome, CancelRequest, CardInfo, ChannelContext, ChargeOutcome,
    ChargeRequest, Connector, ConnectorError, Inquiry, IssueKeyRequest, IssuedKey, PaymentSource,
};
use openimp_store::{Db, StoreError};

use crate::ledger::{self, BillingKeyRow, CancelRecord, LedgerEntry, LedgerKind};

/// The sandbox PG. Cheap to clone: it holds a [`Db`] handle and the simulated latency.
#[derive(Clone)]
pub struct SandboxPg {
    db: Db,
    /// Slept before answering every call, to simulate a slow PG (zero by default).
    delay: Duration,
    /// Live billing keys already read, to spare every charge a database read. A key deleted
    /// through another process stays here until restart; harmless, because the gateway refuses
    /// a deleted customer_uid before it ever calls the PG.
    live_keys: std::sync::Arc<std::sync::RwLock<std::collections::HashMap<String, BillingKeyRow>>>,
}

/// Most keys [`SandboxPg::live_keys`] holds before it starts over.
const LIVE_KEY_CACHE_MAX: usize = 100_000;

impl SandboxPg {
    /// A sandbox PG keeping its state in `db`, answering every call after `delay`.
    pub fn new(db: Db, delay: Duration) -> SandboxPg {
        SandboxPg { db, delay, live_keys: Default::default() }
    }

    /// The ledger entry behind a receipt link (`/sandbox/receipts/{tid}`).
    pub async fn receipt(&self, tid: &str) -> Result<Option<LedgerEntry>, StoreError> {
        ledger::get_ledger_entry(&self.db, tid).await
    }

    /// A billing key, from the cache of live keys or the database.
    async fn billing_key(
        &self,
        billing_key: &str,
    ) -> Result<Option<BillingKeyRow>, ConnectorError> {
        let cached = self.live_keys.read().ok().and_then(|keys| keys.get(billing_key).cloned());
        if let Some(key) = cached {
            return Ok(Some(key));
        }
        let key = ledger::get_billing_key(&self.db, billing_key).await.map_err(read_failed)?;
        if let Some(key) = key.as_ref().filter(|key| key.deleted_at == 0) {
            if let Ok(mut keys) = self.live_keys.write() {
                if keys.len() >= LIVE_KEY_CACHE_MAX {
                    keys.clear();
                }
                keys.insert(billing_key.to_owned(), key.clone());
            }
        }
        Ok(key)
    }

    /// [`Connector::cancel`], run to the end whoever waits for it.
    async fn process_cancel(
        &self,
        channel: &ChannelContext,
        request: CancelRequest,
    ) -> Result<CancelOutcome, ConnectorError> {
        self.pause().await;
        if request.amount <= 0 {
            return Ok(INVALID_CANCEL_AMOUNT.refused());
        }
        let approval =
            ledger::get_ledger_entry(&self.db, &request.pg_tid).await.map_err(read_failed)?;
        let approval = match approval {
            Some(entry) if entry.kind == LedgerKind::Approval && entry.mid == channel.mid => entry,
            _ => return Ok(NO_ORIGINAL.refused()),
        };
        let answer_lost = approval.behavior.as_deref() == Some(Behavior::CancelAnswerLost.as_str());
        let now = time::now();
        let cancel = ledger::NewCancel {
            tid: new_tid("CNCL", &channel.mid, now),
            mid: channel.mid.clone(),
            ref_tid: approval.tid,
            request_id: request.cancel_id.clone(),
            amount: request.amount,
            created_at: now,
        };
        // The balance check runs again inside the transaction that writes the cancel.
        match ledger::record_cancel(&self.db, &cancel).await {
            Ok(CancelRecord::Recorded(_)) if answer_lost => {
                tracing::debug!(mid = %channel.mid, cancel_id = %request.cancel_id, "sandbox recorded a cancel and dropped the answer");
                Err(ConnectorError::Unknown(
                    "sandbox PG 응답 시간 초과 (card ending 0019: cancelled, answer lost)"
                        .to_owned(),
                ))
            }
            Ok(CancelRecord::Recorded(entry)) => Ok(CancelOutcome::Cancelled {
                receipt_url: Some(format!("/sandbox/receipts/{}", entry.tid)),
                pg_tid: entry.tid,
                cancelled_at: entry.created_at,
            }),
            Ok(CancelRecord::ApprovalNotFound) => Ok(NO_ORIGINAL.refused()),
            Ok(CancelRecord::Exceeds { remaining }) if remaining <= 0 => {
                Ok(ALREADY_CANCELLED.refused())
            }
            Ok(CancelRecord::Exceeds { remaining }) => Ok(CancelOutcome::Refused {
                code: "C2".to_owned(),
                message: format!(
                    "취소 요청 금액이 취소 가능 잔액을 초과합니다 (잔액 {remaining}원)"
                ),
            }),
            // A reused tid, or the same request id racing itself: the transaction rolled back,
            // nothing was written.
            Err(StoreError::Conflict(_)) => {
                Err(ConnectorError::NotSent("sandbox tid or request id collision".to_owned()))
            }
            Err(err) => Err(ConnectorError::Unknown(format!("sandbox ledger: {err}"))),
        }
    }

    async fn pause(&self) {
        if !self.delay.is_zero() {
            tokio::time::sleep(self.delay).await;
        }
    }
}

/// A decline or refusal the sandbox answers with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Reason {
    code: &'static str,
    message: &'static str,
}

const INSUFFICIENT_BALANCE: Reason = Reason { code: "51", message: "잔액부족" };
const OVER_LIMIT: Reason = Reason { code: "61", message: "한도초과" };
const LOST_CARD: Reason = Reason { code: "41", message: "분실/도난 카드" };
const AUTH_FAILED: Reason = Reason {
    code: "55",
    message: "카드 인증 실패 (생년월일 또는 비밀번호 불일치)",
};
const REFUSED_BY_ISSUER: Reason =
    Reason { code: "05", message: "승인거절 (카드사 승인 거절)" };
const INVALID_AMOUNT: Reason =
    Reason { code: "13", message: "결제 금액이 올바르지 않습니다" };
const UNKNOWN_KEY: Reason =
    Reason { code: "14", message: "등록되지 않은 빌링키입니다" };
const DELETED_KEY: Reason = Reason { code: "15", message: "삭제된 빌링키입니다" };
const DUPLICATE_ORDER: Reason =
    Reason { code: "94", message: "이미 승인된 주문번호입니다 (중복 주문번호)" };
const NO_ORIGINAL: Reason = Reason { code: "C1", message: "원거래를 찾을 수 없습니다" };
const ALREADY_CANCELLED: Reason = Reason { code: "01", message: "기 취소 거래" };
const INVALID_CANCEL_AMOUNT: Reason =
    Reason { code: "C3", message: "취소 금액이 올바르지 않습니다" };

impl Reason {
    fn declined(self) -> ChargeOutcome {
        ChargeOutcome::Declined { code: self.code.to_owned(), message: self.message.to_owned() }
    }

    fn refused(self) -> CancelOutcome {
        CancelOutcome::Refused { code: self.code.to_owned(), message: self.message.to_owned() }
    }
}

/// What a test card decides for its charges; stored with a billing key as its `behavior`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Behavior {
    Approve,
    /// 0341: the key issues, every charge declines.
    DeclineAll,
    InsufficientBalance,
    OverLimit,
    LostCard,
    /// 0005: card authentication fails; never stored, since no key is issued.
    AuthFailed,
    /// 0009: approved and recorded, but the answer never arrives.
    Timeout,
    /// 0019: approved; its cancels are recorded, but their answers never arrive.
    CancelAnswerLost,
    /// 0013: approved, for 1 KRW less than the amount asked.
    ShortApproval,
}

impl Behavior {
    fn of_card(card: &CardInput) -> Behavior {
        match card.last4() {
            "0002" => Behavior::InsufficientBalance,
            "0003" => Behavior::OverLimit,
            "0004" => Behavior::LostCard,
            "0005" => Behavior::AuthFailed,
            "0009" => Behavior::Timeout,
            "0019" => Behavior::CancelAnswerLost,
            "0013" => Behavior::ShortApproval,
            "0341" => Behavior::DeclineAll,
            _ => Behavior::Approve,
        }
    }

    fn as_str(self) -> &'static str {
        match self {
            Behavior::Approve => "approve",
            Behavior::DeclineAll => "decline_all",
            Behavior::InsufficientBalance => "decline_insufficient_balance",
            Behavior::OverLimit => "decline_over_limit",
            Behavior::LostCard => "decline_lost_card",
            Behavior::AuthFailed => "decline_auth_failed",
            Behavior::Timeout => "timeout",
            Behavior::CancelAnswerLost => "cancel_answer_lost",
            Behavior::ShortApproval => "approve_short",
        }
    }

    fn parse(value: &str) -> Option<Behavior> {
        [
            Behavior::Approve,
            Behavior::DeclineAll,
            Behavior::InsufficientBalance,
            Behavior::OverLimit,
            Behavior::LostCard,
            Behavior::AuthFailed,
            Behavior::Timeout,
            Behavior::CancelAnswerLost,
            Behavior::ShortApproval,
        ]
        .into_iter()
        .find(|behavior| behavior.as_str() == value)
    }

    /// The decline every charge under this behaviour gets, if any.
    fn charge_decline(self) -> Option<Reason> {
        match self {
            Behavior::Approve
            | Behavior::Timeout
            | Behavior::CancelAnswerLost
            | Behavior::ShortApproval => None,
            Behavior::DeclineAll => Some(REFUSED_BY_ISSUER),
            Behavior::InsufficientBalance => Some(INSUFFICIENT_BALANCE),
            Behavior::OverLimit => Some(OVER_LIMIT),
            Behavior::LostCard => Some(LOST_CARD),
            Behavior::AuthFailed => Some(AUTH_FAILED),
        }
    }
}

#[async_trait]
impl openimp_pg::SalesSlips for SandboxPg {
    async fn sales_slip(&self, tid: &str) -> Result<Option<openimp_pg::SalesSlip>, String> {
        let entry = self.receipt(tid).await.map_err(|err| err.to_string())?;
        Ok(entry.map(|e| openimp_pg::SalesSlip {
            is_cancel: e.kind.as_str() == "cancel",
            tid: e.tid,
            mid: e.mid,
            amount: e.amount,
            card_name: e.card_name,
            card_number: e.card_number,
            apply_num: e.apply_num,
            created_at: e.created_at,
        }))
    }
}

#[async_trait]
impl Connector for SandboxPg {
    async fn issue_billing_key(
        &self,
        channel: &ChannelContext,
        request: IssueKeyRequest,
    ) -> Result<IssuedKey, ConnectorError> {
        self.pause().await;
        let behavior = Behavior::of_card(&request.card);
        if behavior == Behavior::AuthFailed {
            return Err(ConnectorError::CardRejected {
                code: AUTH_FAILED.code.to_owned(),
                message: AUTH_FAILED.message.to_owned(),
            });
        }
        let card = card_info(&request.card);
        let row = BillingKeyRow {
            billing_key: format!("sbx_{}", random_hex(18)),
            mid: channel.mid.clone(),
            behavior: behavior.as_str().to_owned(),
            card_code: card.card_code.clone(),
            card_name: card.card_name.clone(),
            card_number: card.card_number.clone(),
            card_type: card.card_type.unwrap_or(0),
            created_at: time::now(),
            deleted_at: 0,
        };
        ledger::insert_billing_key(&self.db, &row).await.map_err(write_failed)?;
        tracing::debug!(mid = %channel.mid, behavior = behavior.as_str(), "sandbox issued a billing key");
        Ok(IssuedKey { billing_key: row.billing_key, card })
    }

    async fn charge(
        &self,
        channel: &ChannelContext,
        request: ChargeRequest,
    ) -> Result<ChargeOutcome, ConnectorError> {
        self.pause().await;
        if request.amount <= 0 {
            return Ok(INVALID_AMOUNT.declined());
        }
        let (behavior, card, tid_kind) = match &request.source {
            PaymentSource::BillingKey(billing_key) => {
                let key = self.billing_key(billing_key).await?;
                let key = match key {
                    Some(key) if key.mid == channel.mid => key,
                    _ => return Ok(UNKNOWN_KEY.declined()),
                };
                if key.deleted_at != 0 {
                    return Ok(DELETED_KEY.declined());
                }
                let Some(behavior) = Behavior::parse(&key.behavior) else {
                    return Err(ConnectorError::NotSent(format!(
                        "sandbox billing key has an unknown behavior {:?}",
                        key.behavior
                    )));
                };
                let card = CardInfo {
                    card_code: key.card_code,
                    card_name: key.card_name,
                    card_type: Some(key.card_type),
                    card_number: key.card_number,
                };
                (behavior, card, "BILL")
            }
            PaymentSource::Keyed(card) => (Behavior::of_card(card), card_info(card), "CARD"),
            // Approved in the sandbox window; no card facts.
            PaymentSource::Method { pay_method, .. } => {
                let card = CardInfo {
                    card_code: String::new(),
                    card_name: String::new(),
                    card_type: None,
                    card_number: String::new(),
                };
                let kind = match pay_method.as_str() {
                    "trans" => "BANK",
                    "vbank" => "VBNK",
                    "phone" => "MOBI",
                    _ => "EASY",
                };
                (Behavior::Approve, card, kind)
            }
        };
        if let Some(reason) = behavior.charge_decline() {
            tracing::debug!(mid = %channel.mid, order_id = %request.order_id, code = reason.code, "sandbox declined a charge");
            return Ok(reason.declined());
        }

        let now = time::now();
        let entry = LedgerEntry {
            tid: new_tid(tid_kind, &channel.mid, now),
            kind: LedgerKind::Approval,
            mid: channel.mid.clone(),
            order_id: request.order_id.clone(),
            amount: if behavior == Behavior::ShortApproval {
                request.amount - 1
            } else {
                request.amount
            },
            ref_tid: None,
            card_code: card.card_code.clone(),
            card_name: card.card_name.clone(),
            card_number: card.card_number.clone(),
            card_type: card.card_type.unwrap_or(0),
            apply_num: format!("{:08}", rand::thread_rng().gen_range(0..100_000_000)),
            created_at: now,
            request_id: None,
            behavior: Some(behavior.as_str().to_owned()),
        };
        match ledger::insert_ledger_entry(&self.db, &entry).await {
            Ok(()) => {}
            // A real PG refuses an order id it approved already. A conflict can also be a reused
            // tid (48 random bits: never in practice), in which case nothing was written.
            Err(StoreError::Conflict(_)) => {
                return match ledger::find_approval(&self.db, &channel.mid, &request.order_id).await
                {
                    Ok(Some(_)) => Ok(DUPLICATE_ORDER.declined()),
                    Ok(None) => Err(ConnectorError::NotSent("sandbox tid collision".to_owned())),
                    // Either way this charge wrote nothing.
                    Err(err) => Err(read_failed(err)),
                };
            }
            // The row may have been written: only an inquiry can tell.
            Err(err) => return Err(ConnectorError::Unknown(format!("sandbox ledger: {err}"))),
        }
        if behavior == Behavior::Timeout {
            tracing::debug!(mid = %channel.mid, order_id = %request.order_id, "sandbox approved a charge and dropped the answer");
            return Err(ConnectorError::Unknown(
                "sandbox PG 응답 시간 초과 (card ending 0009: approved, answer lost)".to_owned(),
            ));
        }
        Ok(ChargeOutcome::Approved(approval_of(entry)))
    }

    async fn cancel(
        &self,
        channel: &ChannelContext,
        request: CancelRequest,
    ) -> Result<CancelOutcome, ConnectorError> {
        // A PG finishes a cancel it received even when the caller stops waiting.
        let pg = self.clone();
        let channel = channel.clone();
        tokio::spawn(async move { pg.process_cancel(&channel, request).await })
            .await
            .map_err(|err| ConnectorError::Unknown(format!("sandbox cancel task: {err}")))?
    }

    async fn delete_billing_key(
        &self,
        channel: &ChannelContext,
        billing_key: &str,
    ) -> Result<(), ConnectorError> {
        self.pause().await;
        if let Ok(mut keys) = self.live_keys.write() {
            keys.remove(billing_key);
        }
        let deleted =
            ledger::mark_billing_key_deleted(&self.db, &channel.mid, billing_key, time::now())
                .await
                .map_err(write_failed)?;
        if deleted {
            return Ok(());
        }
        // Deleting twice is fine; a key this MID never had is not.
        match ledger::get_billing_key(&self.db, billing_key).await.map_err(read_failed)? {
            Some(key) if key.mid == channel.mid => Ok(()),
            _ => Err(ConnectorError::NotSent("unknown billing key".to_owned())),
        }
    }

    async fn inquire(
        &self,
        channel: &ChannelContext,
        order_id: &str,
    ) -> Result<Inquiry, ConnectorError> {
        self.pause().await;
        let approval =
            ledger::find_approval(&self.db, &channel.mid, order_id).await.map_err(read_failed)?;
        Ok(approval.map_or(Inquiry::NotFound, |entry| Inquiry::Approved(approval_of(entry))))
    }

    async fn inquire_cancel(
        &self,
        channel: &ChannelContext,
        pg_tid: &str,
        cancel_id: &str,
    ) -> Result<CancelInquiry, ConnectorError> {
        self.pause().await;
        let cancel = ledger::find_cancel(&self.db, &channel.mid, pg_tid, cancel_id)
            .await
            .map_err(read_failed)?;
        Ok(cancel.map_or(CancelInquiry::NotFound, |entry| CancelInquiry::Cancelled {
            receipt_url: Some(format!("/sandbox/receipts/{}", entry.tid)),
            pg_tid: entry.tid,
            amount: entry.amount,
            cancelled_at: entry.created_at,
        }))
    }

    /// The sandbox's window is openimp's own page: nothing to hand off.
    async fn begin_window(
        &self,
        _channel: &ChannelContext,
        _order: &WindowOrder,
    ) -> Result<WindowStart, ConnectorError> {
        Ok(WindowStart { handoff: Handoff::Hosted, state: String::new() })
    }

    /// Never called: a hosted window posts its form to openimp, which charges through
    /// [`Connector::charge`] / [`Connector::issue_billing_key`].
    async fn complete_window(
        &self,
        _channel: &ChannelContext,
        _ret: WindowReturn,
    ) -> Result<WindowResult, ConnectorError> {
        Err(ConnectorError::Unsupported(
            "the sandbox PG's window is hosted by openimp; it has no PG return".to_owned(),
        ))
    }

    /// Nothing to undo: a hosted window's charge is cancelled as any charge.
    async fn net_cancel(
        &self,
        _channel: &ChannelContext,
        _undo: &NetCancel,
    ) -> Result<(), ConnectorError> {
        Err(ConnectorError::Unsupported(
            "the sandbox PG's window approves nothing a net-cancel could undo".to_owned(),
        ))
    }
}

/// The card facts the sandbox reports for a typed-in card.
fn card_info(card: &CardInput) -> CardInfo {
    let (company, card_type) = sandbox_card_profile(&card.number);
    CardInfo {
        card_code: company.code.to_owned(),
        card_name: company.name.to_owned(),
        card_type: Some(card_type),
        card_number: mask_card_number(&card.number),
    }
}

fn approval_of(entry: LedgerEntry) -> Approval {
    Approval {
        receipt_url: Some(format!("/sandbox/receipts/{}", entry.tid)),
        pg_tid: entry.tid,
        apply_num: entry.apply_num,
        paid_at: entry.created_at,
        amount: entry.amount,
        card: CardInfo {
            card_code: entry.card_code,
            card_name: entry.card_name,
            card_type: Some(entry.card_type),
            card_number: entry.card_number,
        },
    }
}

/// An Inicis-shaped tid: `Stdpay` + kind (`BILL`, `CARD`, `CNCL`) + MID + KST time + 12 random
/// hex digits, e.g. `StdpayBILLINIBillTst20261125103000a1b2c3d4e5f6`.
fn new_tid(kind: &str, mid: &str, now: i64) -> String {
    let stamp = FixedOffset::east_opt(9 * 3600)
        .zip(DateTime::from_timestamp(now, 0))
        .map(|(kst, at)| at.with_timezone(&kst).format("%Y%m%d%H%M%S").to_string())
        .unwrap_or_default();
    format!("Stdpay{kind}{mid}{stamp}{}", random_hex(6))
}

/// A store failure before anything was written: nothing happened at the "PG".
fn read_failed(err: StoreError) -> ConnectorError {
    ConnectorError::NotSent(format!("sandbox store: {err}"))
}

/// A failed single write: `Unavailable` means the statement never ran, `Unwritable` that it
/// was undone (disk full, read-only); anything else may have happened after the row was written.
fn write_failed(err: StoreError) -> ConnectorError {
    match err {
        StoreError::Unavailable(_) | StoreError::Unwritable(_) => read_failed(err),
        StoreError::Conflict(_) | StoreError::Other(_) => {
            ConnectorError::Unknown(format!("sandbox store: {err}"))
        }
    }
}
