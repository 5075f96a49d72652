//! Charges: `POST /subscribe/payments/again` (a stored billing key) and
//! `POST /subscribe/payments/onetime` (keyed card data, optionally stored as a key).
//!
//! The flow of DESIGN.md rule 1: insert the attempt as `pending` (the unique index on live
//! merchant_uids lets one racing request win), commit, call the PG with no transaction open,
//! then record the outcome. A PG that does not answer leaves the payment `pending` for the
//! reconciler; nothing is guessed.

use openimp_core::card::{CardInput, RawCard};
use openimp_core::ids::new_imp_uid;
use openimp_core::order::{check_length, Order, CUSTOMER_ID_MAX};
use openimp_core::states::{KeyUsage, PaymentStatus};
use openimp_core::time::now;
use openimp_core::wire::Payment;
use openimp_core::ApiError;
use openimp_pg::{
    CancelOutcome, ChannelContext, ChargeOutcome, ChargeRequest, Connector, ConnectorError,
    PaymentSource,
};
use openimp_store::customers::{self, Replace};
use openimp_store::merchants::ChannelRow;
use openimp_store::payments::{self, ApprovalRecord, InsertRefusal, MerchantUidTaken, PaymentRow};

use crate::billing::billing_key_aad;
use crate::pg_call::PgOperation;
use crate::{ApiResult, Gateway, MerchantId};

/// `POST /subscribe/payments/again`.
#[derive(Debug, Clone)]
pub struct AgainCommand {
    pub customer_uid: String,
    /// `channelKey`: must name the channel the key was issued on.
    pub channel_key: Option<String>,
    pub order: Order,
    /// `Payment`, or `Scheduled` when the scheduler charges.
    pub usage: KeyUsage,
}

/// `POST /subscribe/payments/onetime`.
#[derive(Debug, Clone)]
pub struct OnetimeCommand {
    pub card_number: Option<String>,
    pub expiry: Option<String>,
    pub birth: Option<String>,
    pub pwd_2digit: Option<String>,
    pub customer_uid: Option<String>,
    pub customer_id: Option<String>,
    pub pg: Option<String>,
    /// `channelKey`: picks the channel (wins over `pg`); an unknown key is refused.
    pub channel_key: Option<String>,
    pub order: Order,
}

const ALREADY_LIVE: &str = "이미 결제가 진행 중이거나 완료된 주문번호(merchant_uid)입니다. (this merchant_uid is already paid or being charged)";
const RESERVED_BY_SCHEDULE: &str = "예약결제에 등록된 주문번호(merchant_uid)입니다. 다른 결제에 사용할 수 없습니다. (this merchant_uid is reserved by a pending schedule)";

impl Gateway {
    /// Charges a stored billing key.
    pub async fn pay_again(
        &self,
        merchant: &MerchantId,
        command: AgainCommand,
    ) -> ApiResult<Payment> {
        let currency = command.order.check()?;
        if command.usage != KeyUsage::Scheduled {
            // A schedule's notice_url was checked when it was created.
            self.check_notice_url(command.order.notice_url.as_deref()).await?;
        }
        let found =
            customers::get_with_channel(&self.db, merchant.as_str(), &command.customer_uid).await?;
        let Some((customer, channel)) = found else {
            return Err(ApiError::rejected("등록되지 않은 구매자입니다."));
        };
        let channel = channel.ok_or_else(|| {
            ApiError::rejected("빌링키를 발급한 PG 채널이 삭제되었습니다. (the channel that issued this billing key was removed)")
        })?;
        self.check_key_usable(&customer, &channel)?;
        self.check_key_channel(merchant.as_str(), &channel.id, command.channel_key.as_deref())
            .await?;
        // The prepared amount is checked by the pending insert itself (see `charge_with`).
        let billing_key = self
            .vault
            .open_str(
                &customer.billing_key_sealed,
                &billing_key_aad(merchant.as_str(), &customer.customer_uid),
            )
            .map_err(ApiError::internal)?;
        let mut order = command.order;
        // The key's customer_* values fill the buyer fields the request leaves out.
        order.buyer_name = order.buyer_name.or(customer.customer_name.clone());
        order.buyer_email = order.buyer_email.or(customer.customer_email.clone());
        order.buyer_tel = order.buyer_tel.or(customer.customer_tel.clone());
        order.buyer_addr = order.buyer_addr.or(customer.customer_addr.clone());
        order.buyer_postcode = order.buyer_postcode.or(customer.customer_postcode.clone());
        let attempt = Attempt {
            merchant_id: merchant.as_str().to_owned(),
            channel,
            currency,
            customer_uid: Some(customer.customer_uid.clone()),
            usage: Some(command.usage),
            card_number: customer.card_number.clone(),
            channel_kind: "api",
            pay_method: "card",
            user_agent: None,
        };
        self.charge(attempt, order, PaymentSource::BillingKey(billing_key.to_string())).await
    }

    /// Charges keyed card data once; with a customer_uid, the card is first stored as a key.
    pub async fn pay_onetime(
        &self,
        merchant: &MerchantId,
        command: OnetimeCommand,
    ) -> ApiResult<Payment> {
        let currency = command.order.check()?;
        check_length("customer_id", command.customer_id.as_deref(), CUSTOMER_ID_MAX)?;
        self.check_notice_url(command.order.notice_url.as_deref()).await?;
        let card = CardInput::parse(
            RawCard {
                card_number: command.card_number.as_deref(),
                expiry: command.expiry.as_deref(),
                birth: command.birth.as_deref(),
                pwd_2digit: command.pwd_2digit.as_deref(),
            },
            chrono::Utc::now().date_naive(),
        )?;
        let choice = crate::channels::ChannelChoice::new(
            command.channel_key.as_deref(),
            command.pg.as_deref(),
        );
        let channel = self.resolve_channel(merchant.as_str(), choice).await?;
        crate::billing::require_keyed_billing(&channel)?;
        self.check_prepared(
            merchant.as_str(),
            &command.order.merchant_uid,
            command.order.amount(),
            currency,
        )
        .await?;
        self.check_merchant_uid_free(merchant.as_str(), &command.order.merchant_uid).await?;
        let order = command.order;
        match command.customer_uid.filter(|uid| !uid.trim().is_empty()) {
            Some(customer_uid) => {
                let issue = crate::billing::IssueKeyCommand {
                    customer_uid: customer_uid.clone(),
                    card_number: None,
                    expiry: None,
                    birth: None,
                    pwd_2digit: None,
                    pg: None,
                    channel_key: None,
                    customer_id: command.customer_id,
                    customer_name: order.buyer_name.clone(),
                    customer_tel: order.buyer_tel.clone(),
                    customer_email: order.buyer_email.clone(),
                    customer_addr: order.buyer_addr.clone(),
                    customer_postcode: order.buyer_postcode.clone(),
                };
                let (stored, billing_key) = self
                    .issue_on_channel(merchant, &channel, card, issue, Replace::Allowed)
                    .await?;
                let attempt = Attempt {
                    merchant_id: merchant.as_str().to_owned(),
                    channel,
                    currency,
                    customer_uid: Some(customer_uid),
                    usage: Some(KeyUsage::Issue),
                    card_number: stored.card_number.clone(),
                    channel_kind: "api",
                    pay_method: "card",
                    user_agent: None,
                };
                self.charge(attempt, order, PaymentSource::BillingKey(billing_key)).await
            }
            None => {
                let attempt = Attempt {
                    merchant_id: merchant.as_str().to_owned(),
                    channel,
                    currency,
                    customer_uid: None,
                    usage: None,
                    card_number: Some(card.masked()),
                    channel_kind: "api",
                    pay_method: "card",
                    user_agent: None,
                };
                self.charge(attempt, order, PaymentSource::Keyed(card)).await
            }
        }
    }

    /// Refuses early (before a PG is involved) a merchant_uid that is not free for a new
    /// payment: a live attempt has it, or a pending schedule reserves it (docs/decisions.md).
    /// REST charges and the payment window call it; the insert's guards still decide races.
    pub async fn check_merchant_uid_free(
        &self,
        merchant_id: &str,
        merchant_uid: &str,
    ) -> ApiResult<()> {
        match payments::merchant_uid_taken(&self.db, merchant_id, merchant_uid).await? {
            None => Ok(()),
            Some(MerchantUidTaken::LivePayment) => Err(ApiError::rejected(ALREADY_LIVE)),
            Some(MerchantUidTaken::Schedule) => Err(ApiError::rejected(RESERVED_BY_SCHEDULE)),
        }
    }

    /// The one mapping of a refused payment insert to the error the caller sees.
    pub(crate) async fn insert_refusal_error(
        &self,
        row: &PaymentRow,
        refusal: InsertRefusal,
    ) -> ApiError {
        match refusal {
            InsertRefusal::PreparedMismatch => {
                // Let the prepare check say how the order differs.
                match self
                    .check_prepared(&row.merchant_id, &row.merchant_uid, row.amount, &row.currency)
                    .await
                {
                    Err(err) => err,
                    Ok(()) => ApiError::rejected(
                        "사전등록된 결제정보와 일치하지 않습니다. (does not match the prepared order)",
                    ),
                }
            }
            InsertRefusal::LiveMerchantUid => ApiError::rejected(ALREADY_LIVE),
            InsertRefusal::ReservedBySchedule => ApiError::rejected(RESERVED_BY_SCHEDULE),
        }
    }

    /// Record, call, record. Runs in its own task so that a client hanging up cannot stop it
    /// between the PG call and the outcome write.
    pub(crate) async fn charge(
        &self,
        attempt: Attempt,
        order: Order,
        source: PaymentSource,
    ) -> ApiResult<Payment> {
        self.charge_with(attempt, order, source, payments::MethodDetails::default()).await
    }

    /// [`Gateway::charge`] for a pay method that records more than card facts (the window's
    /// bank transfer, phone and easy-pay payments).
    pub(crate) async fn charge_with(
        &self,
        attempt: Attempt,
        order: Order,
        source: PaymentSource,
        method: payments::MethodDetails,
    ) -> ApiResult<Payment> {
        let now = now();
        let (connector, context) = self.connector_for(&attempt.channel)?;
        let mut row = attempt.row(&order, now);
        row.method = method;
        // The webhook target is settled before anything is written (cached: no query per charge).
        let notify = self.webhook_for(&row.merchant_id, row.notice_url.as_deref(), None).await?;
        if let Err(refusal) = payments::insert_attempt(&self.db, &mut row, None).await? {
            return Err(self.insert_refusal_error(&row, refusal).await);
        }
        let request = ChargeRequest {
            order_id: row.imp_uid.clone(),
            source,
            amount: order.amounts.amount,
            tax_free: order.amounts.tax_free,
            vat_amount: order.amounts.effective_vat(),
            card_quota: order.amounts.card_quota,
            name: order.name,
            buyer_name: order.buyer_name,
            buyer_email: order.buyer_email,
            buyer_tel: order.buyer_tel,
        };
        let db = self.db.clone();
        let timeout = self.config.pg_timeout;
        let crash_after_pg_call = self.config.crash_after_pg_call;
        let (call_connector, call_context) = (connector.clone(), context.clone());
        let call = async move { call_connector.charge(&call_context, request).await };
        let record_context = context.clone();
        let record = move |outcome: Result<ChargeOutcome, ConnectorError>| async move {
            metrics::counter!("openimp_charges_total", "outcome" => outcome_label(&outcome))
                .increment(1);
            if crash_after_pg_call {
                tracing::error!(
                    "fault injection: aborting after the PG call, before recording its outcome"
                );
                std::process::abort();
            }
            let pg = PgCall { connector: connector.as_ref(), context: &record_context, timeout };
            record_outcome(&db, row, outcome, notify, pg).await
        };
        let row = self.call_pg(PgOperation::Charge, &context, call, record).await?;
        Ok(self.absolute_links(crate::view::payment(&row, &[])))
    }
}

/// How a PG approval is recorded on its payment. The receipt link is the PG's: absolute for a
/// real PG, gateway-relative for the sandbox (made absolute when shown).
pub(crate) fn approval_record(approval: openimp_pg::Approval) -> ApprovalRecord {
    ApprovalRecord {
        receipt_url: approval.receipt_url,
        pg_tid: approval.pg_tid,
        apply_num: approval.apply_num,
        paid_at: approval.paid_at,
        card_code: approval.card.card_code,
        card_name: approval.card.card_name,
        card_number: approval.card.card_number,
        card_type: approval.card.card_type,
    }
}

/// The `outcome` label of `openimp_charges_total`.
fn outcome_label(outcome: &Result<ChargeOutcome, ConnectorError>) -> &'static str {
    match outcome {
        Ok(ChargeOutcome::Approved(_)) => "approved",
        Ok(ChargeOutcome::Declined { .. }) | Err(ConnectorError::CardRejected { .. }) => "declined",
        Err(ConnectorError::NotSent(_)) | Err(ConnectorError::Unsupported(_)) => "not_sent",
        Err(ConnectorError::Unknown(_)) => "unknown",
    }
}

impl Attempt {
    /// The one payment row of an attempt: [`PaymentRow::for_order`] plus where it is charged.
    pub(crate) fn row(&self, order: &Order, now: i64) -> PaymentRow {
        PaymentRow {
            pay_method: Some(self.pay_method.to_owned()),
            channel: Some(self.channel_kind.to_owned()),
            channel_id: Some(self.channel.id.clone()),
            pg_provider: Some(self.channel.pg_provider.clone()),
            pg_id: Some(self.channel.mid.clone()),
            card_number: self.card_number.clone(),
            user_agent: self.user_agent.clone(),
            customer_uid: self.customer_uid.clone(),
            customer_uid_usage: self.usage,
            pg_mode: Some(
                openimp_pg::registry::Mode::of_test_mode(self.channel.test_mode)
                    .as_str()
                    .to_owned(),
            ),
            ..PaymentRow::for_order(
                new_imp_uid(self.channel_kind == "api"),
                &self.merchant_id,
                order,
                self.currency,
                now,
            )
        }
    }
}

/// Where a charge goes and what it is recorded as.
pub(crate) struct Attempt {
    pub(crate) merchant_id: String,
    pub(crate) channel: ChannelRow,
    pub(crate) currency: &'static str,
    pub(crate) customer_uid: Option<String>,
    pub(crate) usage: Option<KeyUsage>,
    pub(crate) card_number: Option<String>,
    /// `api` for REST charges (`imps_` ids); `pc` or `mobile` for the payment window (`imp_`).
    pub(crate) channel_kind: &'static str,
    pub(crate) pay_method: &'static str,
    pub(crate) user_agent: Option<String>,
}

/// Writes the PG's answer onto the pending payment and returns the payment as recorded.
///
/// `notify` is queued (outbox, same transaction) when the payment becomes paid, or failed if it
/// is a scheduled charge (i'mport sends no webhook for other failures).
async fn record_outcome(
    db: &openimp_store::Db,
    mut row: PaymentRow,
    outcome: Result<ChargeOutcome, ConnectorError>,
    notify: Option<openimp_store::webhooks::NewWebhook>,
    pg: PgCall<'_>,
) -> ApiResult<PaymentRow> {
    let now = now();
    match outcome {
        Ok(ChargeOutcome::Approved(approval)) if approval.amount != row.amount => {
            match cancel_mismatched_approval(&pg, &row, &approval).await {
                Ok(reason) => record_failure(db, row, reason, now, notify).await,
                // The wrong approval still stands at the PG: stay pending, so the reconciler's
                // inquiry finds it and tries the cancel again. Nothing is recorded as paid.
                Err(detail) => {
                    tracing::error!(imp_uid = %row.imp_uid, requested = row.amount, approved = approval.amount, %detail, "the PG approved another amount and the cancel did not go through; left pending");
                    Ok(row)
                }
            }
        }
        Ok(ChargeOutcome::Approved(approval)) => {
            let record = approval_record(approval);
            if payments::mark_paid_notify(db, &row.imp_uid, &record, notify.as_ref()).await? {
                row.status = PaymentStatus::Paid;
                row.pg_tid = Some(record.pg_tid);
                row.apply_num = Some(record.apply_num);
                row.paid_at = record.paid_at;
                // Pay methods other than card have no card facts (stored as NULL).
                let fact = |value: String| Some(value).filter(|v| !v.is_empty());
                row.card_code = fact(record.card_code);
                row.card_name = fact(record.card_name);
                row.card_number = fact(record.card_number);
                row.card_type = record.card_type;
                row.receipt_url = record.receipt_url;
                row.updated_at = record.paid_at;
                Ok(row)
            } else {
                reread(db, &row).await
            }
        }
        Ok(ChargeOutcome::Declined { code, message })
        | Err(ConnectorError::CardRejected { code, message }) => {
            record_failure(db, row, format!("[{code}] {message}"), now, notify).await
        }
        Err(ConnectorError::NotSent(detail)) | Err(ConnectorError::Unsupported(detail)) => {
            record_failure(db, row, format!("PG 요청 실패: {detail}"), now, notify).await
        }
        Err(ConnectorError::Unknown(detail)) => {
            // Unknown is a state (DESIGN.md rule 2): stay pending; the reconciler asks the PG.
            tracing::warn!(imp_uid = %row.imp_uid, %detail, "PG outcome unknown; left pending for the reconciler");
            Ok(row)
        }
    }
}

/// The connector a charge went to, for a call after the charge (the mismatch cancel).
pub(crate) struct PgCall<'a> {
    pub(crate) connector: &'a dyn Connector,
    pub(crate) context: &'a ChannelContext,
    pub(crate) timeout: std::time::Duration,
}

/// The PG approved another amount than the payment asked (issue 9, point 2): that approval is
/// cancelled in full at the PG, and the payment is to be recorded `failed` with the reason this
/// returns. `Err` when the PG did not confirm the cancel (the caller must not record failed).
pub(crate) async fn cancel_mismatched_approval(
    pg: &PgCall<'_>,
    row: &PaymentRow,
    approval: &openimp_pg::Approval,
) -> Result<String, String> {
    let reason = format!(
        "승인금액 불일치: PG가 요청금액 {}원이 아닌 {}원을 승인하여 승인을 취소했습니다. (the PG approved {} KRW for a {} KRW charge; that approval was cancelled)",
        row.amount, approval.amount, approval.amount, row.amount
    );
    let request = openimp_pg::CancelRequest {
        order_id: row.imp_uid.clone(),
        pg_tid: approval.pg_tid.clone(),
        amount: approval.amount,
        tax_free: 0,
        vat_amount: None,
        balance_before: approval.amount,
        reason: "승인금액 불일치 (approved amount differs from the request)".to_owned(),
        // The PG's request id for this cancel: one per payment, so a retried mismatch cancel
        // (by the reconciler) is the same request to the PG, never a second refund.
        cancel_id: format!("mismatch-{}", row.imp_uid),
    };
    let cancel = pg.connector.cancel(pg.context, request);
    match crate::pg_call::timed(PgOperation::Cancel, &pg.context.pg_provider, pg.timeout, cancel)
        .await
    {
        Ok(CancelOutcome::Cancelled { pg_tid, .. }) => {
            tracing::warn!(imp_uid = %row.imp_uid, requested = row.amount, approved = approval.amount, cancel_tid = %pg_tid, "the PG approved another amount; approval cancelled, payment failed");
            Ok(reason)
        }
        Ok(CancelOutcome::Refused { code, message }) => {
            Err(format!("cancel refused: [{code}] {message}"))
        }
        Err(err) => Err(format!("cancel failed: {err}")),
    }
}

async fn record_failure(
    db: &openimp_store::Db,
    mut row: PaymentRow,
    reason: String,
    now: i64,
    notify: Option<openimp_store::webhooks::NewWebhook>,
) -> ApiResult<PaymentRow> {
    let notify = notify.filter(|_| row.customer_uid_usage == Some(KeyUsage::Scheduled));
    if payments::mark_failed_notify(db, &row.imp_uid, &reason, now, notify.as_ref()).await? {
        row.status = PaymentStatus::Failed;
        row.fail_reason = Some(reason);
        row.failed_at = now;
        row.updated_at = now;
        Ok(row)
    } else {
        reread(db, &row).await
    }
}

async fn reread(db: &openimp_store::Db, row: &PaymentRow) -> ApiResult<PaymentRow> {
    payments::get(db, &row.merchant_id, &row.imp_uid).await?.ok_or_else(ApiError::payment_not_found)
}
