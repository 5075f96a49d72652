//! The live KICC EasyPay connector: openimp's [`Connector`] over KICC's ep9 REST API.
//!
//! What it means for money:
//! - every answer that says an approval happened must carry KICC's `msgAuthValue`
//!   (`pgCno|amount|transactionDate`); one that does not verify is not believed: what it claims
//!   to have approved is cancelled at KICC, and the call answers [`ConnectorError::Unknown`], so
//!   the outcome is settled by inquiry (which then finds the approval cancelled);
//! - a window approval whose answer is lost is looked up (`retrieveTransaction`) and cancelled
//!   if it happened, then answered `Unknown`;
//! - the ids KICC is asked by: a charge's and a window approval's `shopTransactionId` is the
//!   attempt's order id, a cancel's is openimp's cancel id, so [`Connector::inquire`] and
//!   [`Connector::inquire_cancel`] find them with nothing stored here.
//!
//! KICC has no public keyed (card-number) API: keyed key issues and keyed charges are
//! [`ConnectorError::Unsupported`] and nothing is sent.

use std::time::Duration;

use async_trait::async_trait;
use chrono::Days;
use serde::{Deserialize, Serialize};

use openimp_pg::transport::PgHttp;
use openimp_pg::window::{
    Handoff, NetCancel, WindowOrder, WindowPurpose, WindowResult, WindowReturn, WindowStart,
};
use openimp_pg::{
    CancelInquiry, CancelOutcome, CancelRequest, ChannelContext, ChargeOutcome, ChargeRequest,
    Connector, ConnectorError, Inquiry, IssueKeyRequest, IssuedKey, PaymentSource,
};

use crate::hosts;
use crate::protocol::{self, codes};
use crate::transformers::{self as tf};
use crate::wire::{
    ApprovalRequest, RemoveBatchKeyRequest, RetrieveRequest, TradeAnswer, WebpayAnswer,
};

/// KICC asks for a 30-second timeout on approvals, issues and cancels.
pub const KICC_TIMEOUT: Duration = Duration::from_secs(30);

/// Why a keyed request is refused on a KICC channel.
pub const KEYED_UNSUPPORTED: &str = "KICC는 카드정보로 결제하거나 빌링키를 발급하는 API를 제공하지 않습니다. 결제창(IMP.request_pay, 빌링키는 customer_uid 지정)을 이용하세요. (KICC has no keyed card API: use the payment window, with customer_uid for a billing key)";

/// The live KICC connector. Cheap to clone; holds only the HTTP client.
#[derive(Debug, Clone)]
pub struct KiccConnector {
    http: PgHttp,
}

impl Default for KiccConnector {
    fn default() -> Self {
        KiccConnector::new()
    }
}

/// What a window remembers between its registration and KICC's return.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct WindowState {
    shop_order_no: String,
    mall_id: String,
    purpose: WindowPurpose,
    amount: i64,
}

/// How to undo a window approval: a full revise of a payment, or removing an issued key.
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
enum Undo {
    Revise { pg_cno: String },
    RemoveKey { batch_key: String },
}

impl Undo {
    fn token(&self) -> NetCancel {
        NetCancel(serde_json::to_string(self).expect("an undo serializes"))
    }
}

impl KiccConnector {
    /// A connector with KICC's 30-second timeout.
    pub fn new() -> KiccConnector {
        KiccConnector::with_timeout(KICC_TIMEOUT)
    }

    /// A connector giving each call at most `timeout` (tests use a short one against the
    /// fake's "time out after committing" fault).
    pub fn with_timeout(timeout: Duration) -> KiccConnector {
        KiccConnector::with_http(PgHttp::new(timeout))
    }

    /// A connector on the process's shared PG client (its timeout is the service's PG
    /// timeout, KICC's 30 s by default).
    pub fn with_http(http: PgHttp) -> KiccConnector {
        KiccConnector { http }
    }

    /// POSTs `body` as JSON to `path` and reads KICC's answer. An answer that is not JSON may
    /// still follow a processed request: [`ConnectorError::Unknown`].
    async fn post<B: Serialize, A: for<'de> Deserialize<'de>>(
        &self,
        channel: &ChannelContext,
        path: &str,
        body: &B,
    ) -> Result<A, ConnectorError> {
        let bytes = serde_json::to_vec(body)
            .map_err(|err| ConnectorError::NotSent(format!("KICC request: {err}")))?;
        let answer = self.http.post_json(&hosts::url(channel, path), bytes).await?;
        serde_json::from_str(&answer.body).map_err(|err| {
            ConnectorError::Unknown(format!(
                "KICC {path} answered HTTP {} with a body that is not its JSON: {err}",
                answer.status
            ))
        })
    }

    /// Cancels an approval openimp cannot keep; `true` when KICC confirmed it. It runs in a
    /// task of its own, so a caller that stops waiting (the service's PG timeout) does not
    /// stop the cancel of money KICC holds.
    async fn undo(&self, channel: &ChannelContext, secret: &str, undo: Undo) -> bool {
        let (this, channel, secret) = (self.clone(), channel.clone(), secret.to_owned());
        let task = tokio::spawn(async move {
            let result = match &undo {
                Undo::Revise { pg_cno } => this.revise_all(&channel, &secret, pg_cno).await,
                Undo::RemoveKey { batch_key } => this.remove_key(&channel, batch_key).await,
            };
            if let Err(err) = &result {
                tracing::error!(undo = undo_kind(&undo), %err, "KICC did not confirm the cancel of an approval openimp did not keep");
            }
            result.is_ok()
        });
        task.await.unwrap_or(false)
    }

    async fn revise_all(
        &self,
        channel: &ChannelContext,
        secret: &str,
        pg_cno: &str,
    ) -> Result<(), ConnectorError> {
        let body = tf::undo_request(&channel.mid, secret, pg_cno, &protocol::today_kst());
        let answer: TradeAnswer = self.post(channel, hosts::REVISE, &body).await?;
        if tf::succeeded(&answer) && tf::revise_is_authentic(secret, &answer) {
            Ok(())
        } else if tf::succeeded(&answer) {
            Err(ConnectorError::Unknown("KICC 취소 응답의 msgAuthValue가 맞지 않습니다".into()))
        } else {
            Err(ConnectorError::Unknown(tf::refusal_message(&answer)))
        }
    }

    async fn remove_key(
        &self,
        channel: &ChannelContext,
        batch_key: &str,
    ) -> Result<(), ConnectorError> {
        let body = RemoveBatchKeyRequest {
            mall_id: channel.mid.clone(),
            shop_transaction_id: protocol::new_shop_transaction_id("rk"),
            batch_key: batch_key.to_owned(),
            remove_req_date: protocol::today_kst(),
        };
        let answer: TradeAnswer = self.post(channel, hosts::REMOVE_BATCH_KEY, &body).await?;
        if tf::succeeded(&answer) || answer.res_cd == codes::BATCH_KEY_REMOVED {
            Ok(())
        } else {
            Err(ConnectorError::CardRejected {
                code: answer.res_cd.clone(),
                message: tf::refusal_message(&answer),
            })
        }
    }

    /// Looks a transaction up by `shopTransactionId`, today and then yesterday (Korean time):
    /// KICC keeps nothing older for this API. `None` when neither day has it.
    async fn retrieve(
        &self,
        channel: &ChannelContext,
        shop_transaction_id: &str,
    ) -> Result<Option<TradeAnswer>, ConnectorError> {
        let today = protocol::now_kst().date_naive();
        let yesterday = today.checked_sub_days(Days::new(1)).unwrap_or(today);
        for day in [today, yesterday] {
            let body = RetrieveRequest {
                mall_id: channel.mid.clone(),
                shop_transaction_id: shop_transaction_id.to_owned(),
                transaction_date: protocol::ymd(day),
            };
            let answer: TradeAnswer =
                self.post(channel, hosts::RETRIEVE_TRANSACTION, &body).await?;
            if tf::succeeded(&answer) {
                return Ok(Some(answer));
            }
            if answer.res_cd != codes::NOT_FOUND {
                return Err(ConnectorError::Unknown(format!(
                    "KICC 거래조회 실패 {}",
                    tf::refusal_message(&answer)
                )));
            }
        }
        Ok(None)
    }

    /// A window approval whose answer was lost or cannot be believed: find what KICC recorded
    /// under the order id and cancel it. Always `Unknown`: the inquiry settles the payment.
    /// Runs in a task of its own, as [`KiccConnector::undo`].
    async fn settle_unconfirmed_approval(
        &self,
        channel: &ChannelContext,
        secret: &str,
        order_id: &str,
        purpose: WindowPurpose,
        why: String,
    ) -> ConnectorError {
        let (this, channel, secret, order_id) =
            (self.clone(), channel.clone(), secret.to_owned(), order_id.to_owned());
        let task = tokio::spawn(async move {
            this.find_and_undo(&channel, &secret, &order_id, purpose, why).await
        });
        task.await
            .unwrap_or_else(|err| ConnectorError::Unknown(format!("KICC 승인 정리 실패: {err}")))
    }

    async fn find_and_undo(
        &self,
        channel: &ChannelContext,
        secret: &str,
        order_id: &str,
        purpose: WindowPurpose,
        why: String,
    ) -> ConnectorError {
        match self.retrieve(channel, order_id).await {
            Ok(Some(found)) => {
                let undo = match purpose {
                    WindowPurpose::Payment => Undo::Revise { pg_cno: found.pg_cno.clone() },
                    WindowPurpose::BillingKey => {
                        Undo::RemoveKey { batch_key: found.payment_info.card_info.card_no.clone() }
                    }
                };
                let confirmed = self.undo(channel, secret, undo).await;
                ConnectorError::Unknown(format!(
                    "{why}; KICC의 승인을 {} (the approval KICC recorded was {})",
                    if confirmed { "취소했습니다" } else { "취소하지 못했습니다" },
                    if confirmed { "cancelled" } else { "not cancelled" },
                ))
            }
            Ok(None) => ConnectorError::Unknown(format!("{why}; KICC에 승인 기록이 없습니다")),
            Err(err) => ConnectorError::Unknown(format!("{why}; 조회 실패: {err}")),
        }
    }
    /// Approves a window's authentication and checks KICC's answer (see
    /// [`Connector::complete_window`]).
    async fn approve_window(
        &self,
        channel: &ChannelContext,
        secret: &str,
        state: WindowState,
        body: ApprovalRequest,
    ) -> Result<WindowResult, ConnectorError> {
        let refused = |code: &str, message: String| {
            Ok(WindowResult::Declined { code: code.to_owned(), message })
        };
        let order_id = state.shop_order_no.as_str();
        let answer: TradeAnswer = match self.post(channel, hosts::APPROVAL, &body).await {
            Ok(answer) => answer,
            Err(ConnectorError::Unknown(why)) => {
                let why = format!("KICC 승인 응답을 받지 못했습니다: {why}");
                return Err(self
                    .settle_unconfirmed_approval(channel, secret, order_id, state.purpose, why)
                    .await);
            }
            Err(other) => return Err(other),
        };
        if !tf::succeeded(&answer) {
            if answer.res_cd == codes::DUPLICATE_REQUEST {
                return Err(ConnectorError::Unknown(tf::refusal_message(&answer)));
            }
            return refused(&answer.res_cd, tf::refusal_message(&answer));
        }
        let echoed = |value: &str| value.is_empty() || value == order_id;
        let believable = tf::approval_is_authentic(secret, &answer)
            && echoed(&answer.shop_order_no)
            && echoed(&answer.shop_transaction_id);
        let result = match state.purpose {
            WindowPurpose::BillingKey => {
                let card = &answer.payment_info.card_info;
                let key_ok = !card.card_no.is_empty() && answer.amount == Some(0);
                (believable && key_ok).then(|| WindowResult::KeyIssued {
                    key: IssuedKey {
                        billing_key: card.card_no.clone(),
                        card: tf::card_of(&answer, &card.card_mask_no),
                    },
                    pg_tid: Some(answer.pg_cno.clone()).filter(|tid| !tid.is_empty()),
                    undo: Undo::RemoveKey { batch_key: card.card_no.clone() }.token(),
                })
            }
            WindowPurpose::Payment => {
                tf::approval_of(&answer).filter(|_| believable).map(|approval| WindowResult::Paid {
                    undo: Undo::Revise { pg_cno: approval.pg_tid.clone() }.token(),
                    approval,
                })
            }
        };
        match result {
            Some(result) => Ok(result),
            None => {
                let why = "KICC 승인 응답을 확인할 수 없습니다 (msgAuthValue 또는 필드 불일치)";
                let undo = match state.purpose {
                    WindowPurpose::Payment => Undo::Revise { pg_cno: answer.pg_cno.clone() },
                    WindowPurpose::BillingKey => {
                        Undo::RemoveKey { batch_key: answer.payment_info.card_info.card_no.clone() }
                    }
                };
                let confirmed = self.undo(channel, secret, undo).await;
                Err(ConnectorError::Unknown(format!(
                    "{why}; KICC의 승인을 {}",
                    if confirmed { "취소했습니다" } else { "취소하지 못했습니다" }
                )))
            }
        }
    }
}

fn undo_kind(undo: &Undo) -> &'static str {
    match undo {
        Undo::Revise { .. } => "revise",
        Undo::RemoveKey { .. } => "remove_key",
    }
}

/// The channel's Secret Key; without it no KICC request can be signed or checked.
fn secret_key(channel: &ChannelContext) -> Result<&str, ConnectorError> {
    channel
        .secrets
        .get(protocol::SECRET_KEY_NAME)
        .map(String::as_str)
        .filter(|key| !key.is_empty())
        .ok_or_else(|| {
            ConnectorError::Unsupported(
                "KICC 채널에 시크릿 키가 없습니다: channel add --kicc-secret-key (the KICC channel has no secret key)".to_owned(),
            )
        })
}

fn declined(answer: &TradeAnswer) -> Result<ChargeOutcome, ConnectorError> {
    if answer.res_cd == codes::DUPLICATE_REQUEST {
        return Err(ConnectorError::Unknown(format!(
            "KICC가 같은 shopTransactionId의 요청을 이미 받았습니다 {}",
            tf::refusal_message(answer)
        )));
    }
    Ok(ChargeOutcome::Declined {
        code: answer.res_cd.clone(),
        message: tf::refusal_message(answer),
    })
}

#[async_trait]
impl Connector for KiccConnector {
    async fn issue_billing_key(
        &self,
        _channel: &ChannelContext,
        _request: IssueKeyRequest,
    ) -> Result<IssuedKey, ConnectorError> {
        Err(ConnectorError::Unsupported(KEYED_UNSUPPORTED.to_owned()))
    }

    async fn charge(
        &self,
        channel: &ChannelContext,
        request: ChargeRequest,
    ) -> Result<ChargeOutcome, ConnectorError> {
        let batch_key = match &request.source {
            PaymentSource::BillingKey(key) => key.clone(),
            PaymentSource::Keyed(_) => {
                return Err(ConnectorError::Unsupported(KEYED_UNSUPPORTED.to_owned()))
            }
            PaymentSource::Method { pay_method, .. } => {
                return Err(ConnectorError::Unsupported(format!(
                    "KICC 연동은 {pay_method} 결제를 결제창 밖에서 승인할 수 없습니다 (only billing-key charges are server to server)"
                )))
            }
        };
        let secret = secret_key(channel)?;
        let body = tf::batch_request(&channel.mid, &request, &batch_key, &protocol::today_kst());
        let answer: TradeAnswer = self.post(channel, hosts::BATCH_APPROVAL, &body).await?;
        if !tf::succeeded(&answer) {
            return declined(&answer);
        }
        let believable = tf::approval_is_authentic(secret, &answer)
            && (answer.shop_transaction_id.is_empty()
                || answer.shop_transaction_id == request.order_id);
        match tf::approval_of(&answer).filter(|_| believable) {
            Some(approval) => {
                if approval.amount != request.amount {
                    tracing::warn!(order_id = %request.order_id, requested = request.amount, approved = approval.amount, "KICC approved another amount");
                }
                Ok(ChargeOutcome::Approved(approval))
            }
            None => {
                let why = "KICC 승인 응답을 확인할 수 없습니다 (msgAuthValue 또는 필드 불일치)";
                if !answer.pg_cno.is_empty() {
                    let undo = Undo::Revise { pg_cno: answer.pg_cno.clone() };
                    let confirmed = self.undo(channel, secret, undo).await;
                    tracing::warn!(order_id = %request.order_id, confirmed, "an unverifiable KICC approval was cancelled");
                }
                Err(ConnectorError::Unknown(why.to_owned()))
            }
        }
    }

    async fn cancel(
        &self,
        channel: &ChannelContext,
        request: CancelRequest,
    ) -> Result<CancelOutcome, ConnectorError> {
        let secret = secret_key(channel)?;
        let body = tf::revise_request(&channel.mid, secret, &request, &protocol::today_kst());
        let answer: TradeAnswer = self.post(channel, hosts::REVISE, &body).await?;
        if !tf::succeeded(&answer) {
            if answer.res_cd == codes::DUPLICATE_REQUEST {
                return Err(ConnectorError::Unknown(tf::refusal_message(&answer)));
            }
            return Ok(CancelOutcome::Refused {
                code: answer.res_cd.clone(),
                message: tf::refusal_message(&answer),
            });
        }
        let amount_matches = answer.cancel_amount.is_none_or(|amount| amount == request.amount);
        let original_matches = answer.ori_pg_cno.is_empty() || answer.ori_pg_cno == request.pg_tid;
        if !tf::revise_is_authentic(secret, &answer)
            || !amount_matches
            || !original_matches
            || answer.cancel_pg_cno.is_empty()
        {
            return Err(ConnectorError::Unknown(
                "KICC 취소 응답을 확인할 수 없습니다 (msgAuthValue, 금액 또는 원거래 불일치)"
                    .to_owned(),
            ));
        }
        Ok(CancelOutcome::Cancelled {
            pg_tid: answer.cancel_pg_cno.clone(),
            cancelled_at: protocol::parse_transaction_date(&answer.transaction_date)
                .unwrap_or_else(openimp_core::time::now),
            receipt_url: None,
        })
    }

    async fn delete_billing_key(
        &self,
        channel: &ChannelContext,
        billing_key: &str,
    ) -> Result<(), ConnectorError> {
        self.remove_key(channel, billing_key).await
    }

    async fn inquire(
        &self,
        channel: &ChannelContext,
        order_id: &str,
    ) -> Result<Inquiry, ConnectorError> {
        let Some(found) = self.retrieve(channel, order_id).await? else {
            return Ok(Inquiry::NotFound);
        };
        if found.status_code == protocol::STATUS_CANCELLED {
            // Approved, then cancelled in full before openimp recorded it (an approval it could
            // not believe, or a net-cancel): nothing is charged.
            return Ok(Inquiry::Declined {
                code: found.status_code.clone(),
                message: format!(
                    "[{}] 승인 후 전액 취소된 거래입니다 (approved, then cancelled in full)",
                    found.status_code
                ),
            });
        }
        tf::approval_of(&found).map(Inquiry::Approved).ok_or_else(|| {
            ConnectorError::Unknown("KICC 거래조회 응답에 승인 정보가 없습니다".to_owned())
        })
    }

    async fn inquire_cancel(
        &self,
        channel: &ChannelContext,
        pg_tid: &str,
        cancel_id: &str,
    ) -> Result<CancelInquiry, ConnectorError> {
        let Some(found) = self.retrieve(channel, cancel_id).await? else {
            return Ok(CancelInquiry::NotFound);
        };
        if found.ori_pg_cno != pg_tid || found.cancel_pg_cno.is_empty() {
            return Err(ConnectorError::Unknown(format!(
                "KICC의 {cancel_id} 거래는 {pg_tid}의 취소가 아닙니다"
            )));
        }
        let amount = found.cancel_amount.ok_or_else(|| {
            ConnectorError::Unknown("KICC 취소 조회 응답에 취소 금액이 없습니다".to_owned())
        })?;
        Ok(CancelInquiry::Cancelled {
            pg_tid: found.cancel_pg_cno.clone(),
            amount,
            cancelled_at: protocol::parse_transaction_date(&found.transaction_date)
                .unwrap_or_else(openimp_core::time::now),
            receipt_url: None,
        })
    }

    async fn begin_window(
        &self,
        channel: &ChannelContext,
        order: &WindowOrder,
    ) -> Result<WindowStart, ConnectorError> {
        secret_key(channel)?;
        if order.purpose == WindowPurpose::Payment && order.pay_method != "card" {
            return Err(ConnectorError::Unsupported(format!(
                "KICC 결제창 연동은 카드 결제만 지원합니다 (pay_method {} is not supported on KICC channels)",
                order.pay_method
            )));
        }
        if !protocol::is_shop_order_no(&order.order_id) {
            return Err(ConnectorError::NotSent(format!(
                "KICC shopOrderNo로 쓸 수 없는 주문번호입니다: {}",
                order.order_id
            )));
        }
        let body = tf::webpay_request(&channel.mid, order);
        let answer: WebpayAnswer = self.post(channel, hosts::WEBPAY, &body).await?;
        if answer.res_cd != protocol::SUCCESS {
            return Err(ConnectorError::CardRejected {
                code: answer.res_cd.clone(),
                message: format!("[{}] {}", answer.res_cd, answer.res_msg),
            });
        }
        let url = answer.auth_page_url.trim();
        if !(url.starts_with("https://") || url.starts_with("http://")) {
            return Err(ConnectorError::Unknown(format!(
                "KICC 거래등록 응답의 authPageUrl이 올바르지 않습니다: {url:?}"
            )));
        }
        let state = WindowState {
            shop_order_no: order.order_id.clone(),
            mall_id: channel.mid.clone(),
            purpose: order.purpose,
            amount: body.amount,
        };
        Ok(WindowStart {
            handoff: Handoff::Redirect { url: url.to_owned() },
            state: serde_json::to_string(&state).expect("a window state serializes"),
        })
    }

    async fn complete_window(
        &self,
        channel: &ChannelContext,
        ret: WindowReturn,
    ) -> Result<WindowResult, ConnectorError> {
        let secret = secret_key(channel)?;
        let refused = |code: &str, message: String| {
            Ok(WindowResult::Declined { code: code.to_owned(), message })
        };
        let Ok(state) = serde_json::from_str::<WindowState>(&ret.state) else {
            return refused("KICC_STATE", "결제창 상태를 읽을 수 없습니다".to_owned());
        };
        let res_cd = ret.field("resCd").unwrap_or_default();
        if res_cd != protocol::SUCCESS {
            let message = ret
                .field("resMsg")
                .filter(|m| !m.is_empty())
                .unwrap_or("결제가 완료되지 않았습니다");
            let code = if res_cd.is_empty() { "KICC_RETURN" } else { res_cd };
            return refused(code, format!("[{code}] {message}"));
        }
        let shop_order_no = ret.field("shopOrderNo").unwrap_or_default();
        if shop_order_no != state.shop_order_no
            || shop_order_no != ret.order.order_id
            || state.mall_id != channel.mid
        {
            return refused(
                "KICC_ORDER",
                "KICC의 반환 주문번호가 이 결제창의 것이 아닙니다 (the return is for another order)"
                    .to_owned(),
            );
        }
        let authorization_id = ret.field("authorizationId").unwrap_or_default();
        if authorization_id.is_empty() {
            return refused("KICC_RETURN", "KICC의 반환에 authorizationId가 없습니다".to_owned());
        }
        let body = ApprovalRequest {
            mall_id: channel.mid.clone(),
            shop_transaction_id: state.shop_order_no.clone(),
            authorization_id: authorization_id.to_owned(),
            shop_order_no: state.shop_order_no.clone(),
            approval_req_date: protocol::today_kst(),
        };
        // The approval and whatever must follow it (checking, or cancelling what cannot be
        // kept) run in a task of their own: the service giving up on this call at its PG
        // timeout must not stop the cancel of money KICC holds.
        let (this, channel, secret) = (self.clone(), channel.clone(), secret.to_owned());
        tokio::spawn(async move { this.approve_window(&channel, &secret, state, body).await })
            .await
            .unwrap_or_else(|err| {
                Err(ConnectorError::Unknown(format!("KICC 승인 작업 실패: {err}")))
            })
    }

    async fn net_cancel(
        &self,
        channel: &ChannelContext,
        undo: &NetCancel,
    ) -> Result<(), ConnectorError> {
        let secret = secret_key(channel)?;
        let undo: Undo = serde_json::from_str(&undo.0).map_err(|err| {
            ConnectorError::NotSent(format!("KICC 망취소 정보를 읽을 수 없습니다: {err}"))
        })?;
        match &undo {
            Undo::Revise { pg_cno } => self.revise_all(channel, secret, pg_cno).await,
            Undo::RemoveKey { batch_key } => self.remove_key(channel, batch_key).await,
        }
    }
}
