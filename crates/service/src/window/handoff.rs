//! A window handed to the PG's own page, PG-neutral: whatever the channel's connector answers
//! to [`Connector::begin_window`](openimp_pg::Connector::begin_window), the service records,
//! remembers and completes it the same way.
//!
//! 1. [`Gateway::window_page`]: the connector says where the browser goes. `Hosted` (the
//!    sandbox PG) is openimp's own form, unchanged. Any other hand-off records the attempt
//!    (`pending`, its `imp_uid` the order id the PG sees) before the browser can reach the PG,
//!    and keeps the hand-off with the session, so a reload shows the same one.
//! 2. [`Gateway::window_return`]: the PG sends the browser back with its fields; the connector
//!    approves server to server inside [`Gateway::call_pg`], and the answer is recorded in the
//!    same task: paid (the approved amount checked), a billing key into the vault, declined,
//!    or left pending for the reconciler when the PG did not answer. Whatever cannot be kept
//!    after an approval (another amount, a failed write, a live key the window may not
//!    replace) is net-cancelled.
//! 3. [`Gateway::window_pg_close`]: the customer closed the PG's window: a user cancel.

use std::sync::Arc;

use openimp_core::states::PaymentStatus;
use openimp_core::time::now;
use openimp_core::ApiError;
use openimp_pg::registry::Mode;
use openimp_pg::window::{
    Handoff, NetCancel, WindowOrder, WindowPurpose, WindowResult, WindowReturn, WindowStart,
};
use openimp_pg::{ChannelContext, Connector, ConnectorError};
use openimp_store::customers::{self, CustomerRow, Replace, Stored};
use openimp_store::merchants::{self, ChannelRow};
use openimp_store::payments::{self, ApprovalRecord, PaymentRow};
use openimp_store::window::{self, SessionRow};
use openimp_store::Db;
use openimp_vault::Vault;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::rsp::{charge_rsp, failure};
use super::{WindowView, USER_CANCELLED};
use crate::pg_call::{timed, PgOperation};
use crate::{ApiResult, Gateway};

/// The most fields a PG return may carry, and the most bytes of all of them together: a PG's
/// return is a few dozen short fields.
pub const RETURN_MAX_FIELDS: usize = 200;
pub const RETURN_MAX_BYTES: usize = 64 * 1024;

/// What the window page is.
#[derive(Debug, Clone)]
pub enum WindowPage {
    /// openimp's own form (the sandbox PG), or the window's result once done.
    Hosted(WindowView),
    /// The browser goes to the PG: `handoff` says how.
    HandedOff { view: WindowView, handoff: Handoff },
}

/// What a handed-off session keeps (`window_sessions.pg_state`): no card data.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct KeptHandoff {
    start: WindowStart,
    order: WindowOrder,
    /// The mode the hand-off was made in: a return after the channel changed mode is refused.
    mode: String,
}

/// What the recording task needs (owned: it runs in a task of its own).
struct Recording {
    db: Db,
    vault: Arc<Vault>,
    connector: Arc<dyn Connector>,
    context: ChannelContext,
    timeout: std::time::Duration,
    row: PaymentRow,
    notify: Option<openimp_store::webhooks::NewWebhook>,
    /// The billing key a key window stores, ready but for the PG's key and card.
    key: Option<(CustomerRow, Replace)>,
}

/// What the recording task did.
struct Recorded {
    row: PaymentRow,
    /// A live key the new one replaced (deleted at its PG afterwards), and the new PG key.
    replaced: Option<(Box<CustomerRow>, String)>,
}

impl Gateway {
    /// The window page: the hand-off the channel's connector asks for (see the module doc).
    pub async fn window_page(&self, id: &str) -> ApiResult<WindowPage> {
        let view = self.window_view(id).await?;
        if let Some(kept) = &view.session.pg_state {
            let kept: KeptHandoff = serde_json::from_str(kept).map_err(ApiError::internal)?;
            return Ok(WindowPage::HandedOff { handoff: kept.start.handoff, view });
        }
        if view.result.is_some() || view.expired || view.session.state != "open" {
            return Ok(WindowPage::Hosted(view));
        }
        let channel = self.window_channel(&view.session).await?;
        let (connector, context) = self.connector_for(&channel)?;
        let imp_uid = openimp_core::ids::new_imp_uid(false);
        let order = self.window_order(&view, &imp_uid)?;
        let (call_order, call_context) = (order.clone(), context.clone());
        let call = async move { connector.begin_window(&call_context, &call_order).await };
        let start = self
            .ask_pg(PgOperation::BeginWindow, &context, call)
            .await?
            .map_err(|err| PgOperation::BeginWindow.failure(err))?;
        if start.handoff == Handoff::Hosted {
            return Ok(WindowPage::Hosted(view));
        }
        // Recorded before the browser can reach the PG: the order id it will approve is ours.
        let now = now();
        let mode = Mode::of_test_mode(channel.test_mode).as_str().to_owned();
        let mut row = PaymentRow {
            imp_uid: imp_uid.clone(),
            pg_mode: Some(mode.clone()),
            ..self.window_row(&view, now)
        };
        let same_id = || imp_uid.clone();
        if let Err(refusal) =
            payments::insert_attempt_with_ids(&self.db, &mut row, None, 1, &same_id).await?
        {
            // Another load of this page may have handed it off first: show that hand-off.
            let view = self.window_view(id).await?;
            if let Some(kept) = &view.session.pg_state {
                let kept: KeptHandoff = serde_json::from_str(kept).map_err(ApiError::internal)?;
                return Ok(WindowPage::HandedOff { handoff: kept.start.handoff, view });
            }
            return Err(self.insert_refusal_error(&row, refusal).await);
        }
        let kept = KeptHandoff { start: start.clone(), order, mode };
        let kept = serde_json::to_string(&kept).map_err(ApiError::internal)?;
        if !window::hand_off(&self.db, id, &imp_uid, &kept, now).await? {
            // Expired or used meanwhile: the browser never went to the PG with this attempt.
            payments::mark_failed(&self.db, &imp_uid, WINDOW_GONE, now).await?;
            return Err(ApiError::rejected(WINDOW_GONE));
        }
        let view = self.window_view(id).await?;
        Ok(WindowPage::HandedOff { view, handoff: start.handoff })
    }

    /// The PG's return to `/window/{id}/return` (see the module doc). Returns the callback's
    /// `rsp`; a return for a finished window answers its result again.
    pub async fn window_return(&self, id: &str, fields: Vec<(String, String)>) -> ApiResult<Value> {
        if fields.len() > RETURN_MAX_FIELDS
            || fields.iter().map(|(k, v)| k.len() + v.len()).sum::<usize>() > RETURN_MAX_BYTES
        {
            return Err(ApiError::invalid("PG 응답이 너무 큽니다. (the PG return is too large)"));
        }
        let Some((view, kept)) = self.claim_handed_off(id).await? else {
            return self.finished_result(id).await;
        };
        let session = &view.session;
        let imp_uid = session.imp_uid.clone().unwrap_or_default();
        let row = payments::get(&self.db, &session.merchant_id, &imp_uid)
            .await?
            .ok_or_else(ApiError::payment_not_found)?;
        if row.status != PaymentStatus::Pending {
            // Settled meanwhile (the reconciler failed a window left at its PG past its
            // expiry): nothing is approved, so nothing needs a net-cancel that could fail.
            let rsp = charge_rsp(&self.payment_view(&row).await?);
            window::finish(&self.db, id, Some(&imp_uid), &rsp.to_string(), now()).await?;
            return Ok(rsp);
        }
        let channel = self.window_channel(session).await?;
        if Mode::of_test_mode(channel.test_mode).as_str() != kept.mode {
            let reason = "결제창을 연 뒤 PG 채널의 모드가 바뀌어 승인하지 않았습니다. (the channel changed mode while the window was open; nothing was approved)";
            return self.end_without_approval(&view, row, reason, "F400").await;
        }
        let (connector, context) = self.payment_connector(&row, &channel)?;
        let key = match (&view.request.customer_uid, kept.order.purpose) {
            (Some(customer_uid), WindowPurpose::BillingKey) => {
                // A live key may have appeared since the window opened: ask before approving.
                match self.check_window_may_issue(&session.merchant_id, &view.request).await {
                    Ok(replace) => Some((self.key_row(&view, &channel, customer_uid), replace)),
                    Err(err) => {
                        let reason = err.envelope_parts().2;
                        return self.end_without_approval(&view, row, &reason, "F400").await;
                    }
                }
            }
            _ => None,
        };
        let notify = match key {
            Some(_) => None,
            None => self.webhook_for(&row.merchant_id, row.notice_url.as_deref(), None).await?,
        };
        let ret = WindowReturn { fields, state: kept.start.state.clone(), order: kept.order };
        let (call_connector, call_context) = (connector.clone(), context.clone());
        let call = async move { call_connector.complete_window(&call_context, ret).await };
        let recording = Recording {
            db: self.db.clone(),
            vault: self.vault.clone(),
            connector,
            context: context.clone(),
            timeout: self.config.pg_timeout,
            row,
            notify,
            key,
        };
        let recorded = self
            .call_pg(PgOperation::CompleteWindow, &context, call, move |answer| {
                record_window(recording, answer)
            })
            .await;
        let recorded = match recorded {
            Ok(recorded) => recorded,
            Err(err) => {
                let rsp = failure(
                    &view.request.merchant_uid,
                    Some(&imp_uid),
                    "F500",
                    &err.envelope_parts().2,
                );
                window::finish(&self.db, id, Some(&imp_uid), &rsp.to_string(), now()).await?;
                return Ok(rsp);
            }
        };
        if let Some((previous, new_key)) = &recorded.replaced {
            let merchant = crate::MerchantId(session.merchant_id.clone());
            self.delete_replaced_key(&merchant, previous, new_key).await;
        }
        let rsp = charge_rsp(&self.payment_view(&recorded.row).await?);
        window::finish(&self.db, id, Some(&imp_uid), &rsp.to_string(), now()).await?;
        Ok(rsp)
    }

    /// The PG's close (`/window/{id}/cancel`): the customer left the PG's window, nothing was
    /// approved (approval is openimp's own server-to-server call, never made): a user cancel.
    pub async fn window_pg_close(&self, id: &str) -> ApiResult<Value> {
        let Some((view, _)) = self.claim_handed_off(id).await? else {
            return self.finished_result(id).await;
        };
        let imp_uid = view.session.imp_uid.clone().unwrap_or_default();
        let row = payments::get(&self.db, &view.session.merchant_id, &imp_uid)
            .await?
            .ok_or_else(ApiError::payment_not_found)?;
        self.end_without_approval(&view, row, USER_CANCELLED, "F1002").await
    }

    /// Claims a handed-off session for its PG's return or close; `None` when it is not
    /// (any more) waiting for one.
    async fn claim_handed_off(&self, id: &str) -> ApiResult<Option<(WindowView, KeptHandoff)>> {
        let view = self.window_view(id).await?;
        let Some(kept) = view.session.pg_state.as_deref() else {
            return Err(ApiError::rejected(
                "PG 결제창으로 넘어간 결제창이 아닙니다. (this window was not handed to a PG)",
            ));
        };
        let kept: KeptHandoff = serde_json::from_str(kept).map_err(ApiError::internal)?;
        if !window::claim_return(&self.db, id, now()).await? {
            return Ok(None);
        }
        Ok(Some((view, kept)))
    }

    /// The result of a window whose return or close was already recorded (a PG posting
    /// twice, a reload), or a refusal while another request is recording it.
    async fn finished_result(&self, id: &str) -> ApiResult<Value> {
        let view = self.window_view(id).await?;
        view.result.ok_or_else(|| {
            ApiError::rejected(
                "결제 결과를 기록하는 중입니다. 잠시 후 다시 확인하세요. (the window's result is being recorded)",
            )
        })
    }

    /// Records a window that ends with nothing approved: the attempt failed with `reason`.
    async fn end_without_approval(
        &self,
        view: &WindowView,
        row: PaymentRow,
        reason: &str,
        code: &str,
    ) -> ApiResult<Value> {
        let now = now();
        payments::mark_failed(&self.db, &row.imp_uid, reason, now).await?;
        let rsp = failure(&view.request.merchant_uid, Some(&row.imp_uid), code, reason);
        window::finish(&self.db, &view.session.id, Some(&row.imp_uid), &rsp.to_string(), now)
            .await?;
        Ok(rsp)
    }

    /// The channel a session was opened on (a removed channel still completes its windows).
    async fn window_channel(&self, session: &SessionRow) -> ApiResult<ChannelRow> {
        merchants::get_channel(&self.db, &session.merchant_id, &session.channel_id)
            .await?
            .ok_or_else(|| {
                ApiError::rejected("결제창의 PG 채널이 없습니다. (the window's channel is gone)")
            })
    }

    /// The order the connector sees, with openimp's return and close pages (absolute).
    fn window_order(&self, view: &WindowView, imp_uid: &str) -> ApiResult<WindowOrder> {
        let base = self.public_url().ok_or_else(|| {
            ApiError::internal("the public URL is not set; a PG cannot return to this server")
        })?;
        let request = &view.request;
        let id = &view.session.id;
        Ok(WindowOrder {
            order_id: imp_uid.to_owned(),
            merchant_uid: request.merchant_uid.clone(),
            purpose: if request.issues_key() {
                WindowPurpose::BillingKey
            } else {
                WindowPurpose::Payment
            },
            pay_method: request.pay_method.clone(),
            amount: request.amount,
            tax_free: request.tax_free,
            name: request.name.clone(),
            buyer_name: request.buyer_name.clone(),
            buyer_email: request.buyer_email.clone(),
            buyer_tel: request.buyer_tel.clone(),
            mobile: view.session.device == "mobile",
            return_url: format!("{base}/window/{id}/return"),
            close_url: format!("{base}/window/{id}/cancel"),
        })
    }

    /// The billing-key row a key window stores once the PG issued the key (the key and card
    /// are filled in then).
    fn key_row(&self, view: &WindowView, channel: &ChannelRow, customer_uid: &str) -> CustomerRow {
        let request = &view.request;
        let (issued_mode, issued_connector) = self.key_issuer(channel);
        let now = now();
        CustomerRow {
            merchant_id: view.session.merchant_id.clone(),
            customer_uid: customer_uid.to_owned(),
            channel_id: channel.id.clone(),
            pg_provider: channel.pg_provider.clone(),
            pg_id: channel.mid.clone(),
            billing_key_sealed: String::new(),
            card_code: None,
            card_name: None,
            card_number: None,
            card_type: None,
            customer_id: request.customer_id.clone(),
            customer_name: request.buyer_name.clone(),
            customer_tel: request.buyer_tel.clone(),
            customer_email: request.buyer_email.clone(),
            customer_addr: request.buyer_addr.clone(),
            customer_postcode: request.buyer_postcode.clone(),
            inserted: now,
            updated: now,
            issued_mode: issued_mode.to_owned(),
            issued_connector,
        }
    }
}

/// Whether the attempt `imp_uid` is a window the customer may still be paying at its PG, or
/// whose return was claimed after `claimed_after` and is being approved.
pub(crate) async fn awaiting_pg_return(
    db: &Db,
    imp_uid: &str,
    now: i64,
    claimed_after: i64,
) -> ApiResult<bool> {
    Ok(window::awaiting_return(db, imp_uid, now, claimed_after).await?)
}

/// Why a handed-off attempt was dropped before the browser left.
const WINDOW_GONE: &str =
    "결제창이 만료되었거나 이미 사용되었습니다. (the window expired or was already used)";

/// Records the connector's answer to a window return (runs in [`Gateway::call_pg`]'s task).
async fn record_window(
    rec: Recording,
    answer: Result<WindowResult, ConnectorError>,
) -> ApiResult<Recorded> {
    let now = now();
    let imp_uid = rec.row.imp_uid.clone();
    let plain = |row| Ok(Recorded { row, replaced: None });
    match answer {
        Ok(WindowResult::Paid { approval, undo }) if approval.amount != rec.row.amount => {
            let reason = format!(
                "승인금액 불일치: PG가 요청금액 {}원이 아닌 {}원을 승인하여 승인을 취소했습니다. (the PG approved {} KRW for a {} KRW payment; that approval was net-cancelled)",
                rec.row.amount, approval.amount, approval.amount, rec.row.amount
            );
            if net_cancel(&rec, &undo).await {
                payments::mark_failed(&rec.db, &imp_uid, &reason, now).await?;
            } else {
                // The approval stands at the PG: pending, for the reconciler's inquiry, which
                // cancels another amount as charges do.
                tracing::error!(%imp_uid, "a window approval of another amount could not be net-cancelled; left pending");
            }
            plain(reread(&rec.db, &rec.row).await?)
        }
        Ok(WindowResult::Paid { approval, undo }) => {
            let pg_tid = approval.pg_tid.clone();
            let record = crate::charge::approval_record(approval);
            let written =
                payments::mark_paid_notify(&rec.db, &imp_uid, &record, rec.notify.as_ref()).await;
            let row = match written {
                Ok(true) => reread(&rec.db, &rec.row).await?,
                Ok(false) => {
                    // No longer pending: kept if it is recorded paid with this approval.
                    let row = reread(&rec.db, &rec.row).await?;
                    if !kept(&row, &pg_tid) {
                        net_cancel(&rec, &undo).await;
                    }
                    row
                }
                Err(err) => {
                    // A failed write may still have committed (an error after the commit):
                    // undo the approval only when the row is seen unpaid. Unread, it is left
                    // pending for the reconciler, whose inquiry keeps an approval the PG holds.
                    match reread(&rec.db, &rec.row).await {
                        Ok(row) if kept(&row, &pg_tid) => return plain(row),
                        Ok(row) if row.status == PaymentStatus::Pending => {
                            net_cancel(&rec, &undo).await;
                        }
                        Ok(_) => {}
                        Err(reread_err) => {
                            tracing::error!(%imp_uid, %reread_err, "a window approval's write failed and the payment cannot be read; left for the reconciler")
                        }
                    }
                    return Err(err.into());
                }
            };
            plain(row)
        }
        Ok(WindowResult::KeyIssued { key, pg_tid, undo }) => {
            let Some((mut customer, replace)) = rec.key.clone() else {
                // A key from a payment window: nothing asked for it, so nothing keeps it.
                net_cancel(&rec, &undo).await;
                let reason = "PG가 결제 대신 빌링키를 발급하여 취소했습니다. (the PG issued a billing key for a payment window; undone)";
                payments::mark_failed(&rec.db, &imp_uid, reason, now).await?;
                return plain(reread(&rec.db, &rec.row).await?);
            };
            let aad =
                crate::billing::billing_key_aad(&customer.merchant_id, &customer.customer_uid);
            customer.billing_key_sealed = match rec.vault.seal_str(&key.billing_key, &aad) {
                Ok(sealed) => sealed,
                Err(err) => {
                    net_cancel(&rec, &undo).await;
                    return Err(ApiError::internal(err));
                }
            };
            customer.card_code = Some(key.card.card_code.clone());
            customer.card_name = Some(key.card.card_name.clone());
            customer.card_number = Some(key.card.card_number.clone());
            customer.card_type = key.card.card_type;
            let previous = match customers::upsert(&rec.db, &customer, replace).await {
                Ok(Stored::Written { previous, .. }) => previous,
                Ok(Stored::LiveKeyKept) => {
                    net_cancel(&rec, &undo).await;
                    let reason = crate::billing::live_key_refusal().envelope_parts().2;
                    payments::mark_failed(&rec.db, &imp_uid, &reason, now).await?;
                    return plain(reread(&rec.db, &rec.row).await?);
                }
                Err(err) => {
                    net_cancel(&rec, &undo).await;
                    return Err(err.into());
                }
            };
            let record = ApprovalRecord {
                pg_tid: pg_tid.unwrap_or_default(),
                apply_num: String::new(),
                paid_at: now,
                card_code: key.card.card_code.clone(),
                card_name: key.card.card_name.clone(),
                card_number: key.card.card_number.clone(),
                card_type: key.card.card_type,
                receipt_url: None,
            };
            // The key is stored: the issue record is only its trace (amount 0).
            payments::mark_paid(&rec.db, &imp_uid, &record).await?;
            let replaced = previous.map(|previous| (previous, key.billing_key.clone()));
            Ok(Recorded { row: reread(&rec.db, &rec.row).await?, replaced })
        }
        Ok(WindowResult::Declined { code, message }) => {
            payments::mark_failed(&rec.db, &imp_uid, &format!("[{code}] {message}"), now).await?;
            plain(reread(&rec.db, &rec.row).await?)
        }
        Err(ConnectorError::Unknown(detail)) => {
            // Unknown is a state: pending for the reconciler (the connector already tried its
            // own net-cancel of an approval it could not confirm).
            tracing::warn!(%imp_uid, %detail, "window approval outcome unknown; left pending for the reconciler");
            plain(rec.row)
        }
        Err(ConnectorError::CardRejected { code, message }) => {
            payments::mark_failed(&rec.db, &imp_uid, &format!("[{code}] {message}"), now).await?;
            plain(reread(&rec.db, &rec.row).await?)
        }
        Err(ConnectorError::NotSent(detail)) | Err(ConnectorError::Unsupported(detail)) => {
            payments::mark_failed(&rec.db, &imp_uid, &format!("PG 요청 실패: {detail}"), now)
                .await?;
            plain(reread(&rec.db, &rec.row).await?)
        }
    }
}

/// Undoes a window approval (망취소); whether the PG confirmed it.
async fn net_cancel(rec: &Recording, undo: &NetCancel) -> bool {
    let call = rec.connector.net_cancel(&rec.context, undo);
    match timed(PgOperation::NetCancel, &rec.context.pg_provider, rec.timeout, call).await {
        Ok(()) => {
            tracing::warn!(imp_uid = %rec.row.imp_uid, "window approval net-cancelled");
            true
        }
        Err(err) => {
            tracing::error!(imp_uid = %rec.row.imp_uid, %err, "window net-cancel failed");
            false
        }
    }
}

async fn reread(db: &Db, row: &PaymentRow) -> ApiResult<PaymentRow> {
    payments::get(db, &row.merchant_id, &row.imp_uid).await?.ok_or_else(ApiError::payment_not_found)
}

/// Whether `row` is recorded paid with the approval `pg_tid`: an approval openimp keeps, never
/// to be net-cancelled.
fn kept(row: &PaymentRow, pg_tid: &str) -> bool {
    row.status == PaymentStatus::Paid && row.pg_tid.as_deref() == Some(pg_tid)
}
