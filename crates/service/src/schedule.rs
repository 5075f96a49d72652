//! Scheduled payments (`/subscribe/payments/schedule...`, reference §7) and their execution.
//!
//! A schedule is charged through the same path as `/subscribe/payments/again`, with its own
//! merchant_uid and `customer_uid_usage = payment.scheduled` (DESIGN.md rule 3). Workers claim
//! due schedules with a lease; a schedule claimed a second time (its first worker died, or its
//! outcome was unknown) first looks for the payment of its current run and records that, so
//! it is charged once. The live-merchant_uid index backs this up against any race.

use std::time::Duration;

use openimp_core::ids::random_hex;
use openimp_core::money::ChargeAmounts;
use openimp_core::order::{check_length, Order, CUSTOMER_ID_MAX};
use openimp_core::states::{KeyUsage, PaymentStatus, ScheduleStatus};
use openimp_core::time::{now, now_millis};
use openimp_core::wire::{Paged, Payment, ScheduleResult};
use openimp_core::ApiError;
use openimp_store::customers;
use openimp_store::payments::{self, PaymentRow};
use openimp_store::schedules::{
    self, InsertRefusal, Outcome, RevokeTarget, ScheduleFilter, ScheduleRow,
};

use crate::billing::IssueKeyCommand;
use crate::charge::AgainCommand;
use crate::{ApiResult, Gateway, MerchantId};

/// At most this long between `from` and `to` in one list query ("3 months").
pub const MAX_RANGE_SECS: i64 = 92 * 24 * 3600;
/// The lease a `retry` takes while it charges inline.
const RETRY_LEASE: Duration = Duration::from_secs(300);

/// One element of `schedules[]`: an order and when to charge it.
#[derive(Debug, Clone)]
pub struct ScheduleItem {
    pub schedule_at: Option<i64>,
    pub order: Order,
}

/// `POST /subscribe/payments/schedule`.
#[derive(Debug, Clone, Default)]
pub struct ScheduleCommand {
    pub customer_uid: String,
    pub customer_id: Option<String>,
    pub checking_amount: i64,
    /// Used only when `customer_uid` has no key yet: the key is issued first.
    pub card_number: Option<String>,
    pub expiry: Option<String>,
    pub birth: Option<String>,
    pub pwd_2digit: Option<String>,
    pub pg: Option<String>,
    /// `channelKey`: the channel a key issued here goes to, or the one an existing key must be on.
    pub channel_key: Option<String>,
    pub schedules: Vec<ScheduleItem>,
}

/// A list query.
#[derive(Debug, Clone, Default)]
pub struct ScheduleQuery {
    pub customer_uid: Option<String>,
    pub from: Option<i64>,
    pub to: Option<i64>,
    pub schedule_status: Option<String>,
    pub page: i64,
    pub limit: i64,
    pub oldest_first: bool,
}

const NOT_FOUND: &str = "존재하지 않는 예약결제입니다. (unknown schedule)";

/// A stored schedule as the API shows it.
pub fn view(row: &ScheduleRow) -> ScheduleResult {
    ScheduleResult {
        customer_uid: row.customer_uid.clone(),
        merchant_uid: row.merchant_uid.clone(),
        imp_uid: row.imp_uid.clone(),
        pg_provider: row.pg_provider.clone(),
        pg_id: row.pg_id.clone(),
        customer_id: row.customer_id.clone(),
        schedule_at: row.schedule_at,
        executed_at: row.executed_at,
        revoked_at: row.revoked_at,
        amount: row.amount,
        currency: row.currency.clone(),
        name: row.name.clone(),
        buyer_name: row.buyer_name.clone(),
        buyer_email: row.buyer_email.clone(),
        buyer_tel: row.buyer_tel.clone(),
        buyer_addr: row.buyer_addr.clone(),
        buyer_postcode: row.buyer_postcode.clone(),
        custom_data: row.custom_data.clone(),
        schedule_status: row.schedule_status.as_str().to_owned(),
        payment_status: match row.schedule_status {
            ScheduleStatus::Executed => row.payment_status.map(|s| s.as_str().to_owned()),
            ScheduleStatus::Scheduled | ScheduleStatus::Revoked => None,
        },
        fail_reason: row.fail_reason.clone().or_else(|| row.revoke_reason.clone()),
        promotion_id: None,
    }
}

/// The order a schedule charges, as it was stored.
fn order_of(row: &ScheduleRow) -> Order {
    Order {
        merchant_uid: row.merchant_uid.clone(),
        amounts: ChargeAmounts {
            amount: row.amount,
            tax_free: row.tax_free,
            vat_amount: row.vat_amount,
            card_quota: row.card_quota,
        },
        currency: Some(row.currency.clone()),
        name: row.name.clone(),
        buyer_name: row.buyer_name.clone(),
        buyer_email: row.buyer_email.clone(),
        buyer_tel: row.buyer_tel.clone(),
        buyer_addr: row.buyer_addr.clone(),
        buyer_postcode: row.buyer_postcode.clone(),
        custom_data: row.custom_data.clone(),
        notice_url: row.notice_url.clone(),
    }
}

/// The settled state of a charge as the API showed it (`paid` or `failed`); None while unknown.
fn settled(wire_status: &str) -> Option<PaymentStatus> {
    match PaymentStatus::parse(wire_status)? {
        PaymentStatus::Paid => Some(PaymentStatus::Paid),
        PaymentStatus::Failed => Some(PaymentStatus::Failed),
        PaymentStatus::Pending | PaymentStatus::Ready | PaymentStatus::Cancelled => None,
    }
}

/// Names the schedule an invalid item belongs to (`schedules[2]: ...`).
fn within(what: &str, err: ApiError) -> ApiError {
    match err {
        ApiError::InvalidRequest(message) => ApiError::invalid(format!("{what}: {message}")),
        ApiError::Rejected(message) => ApiError::rejected(format!("{what}: {message}")),
        other => other,
    }
}

fn check_future(schedule_at: i64, now: i64, what: &str) -> ApiResult<()> {
    if schedule_at <= now {
        return Err(ApiError::invalid(format!(
            "{what}: schedule_at은 현재 시각 이후여야 합니다. (schedule_at {schedule_at} is not in the future; now is {now})"
        )));
    }
    if schedule_at > 253_402_300_799 {
        return Err(ApiError::invalid(format!(
            "{what}: schedule_at이 너무 큽니다. (schedule_at out of range)"
        )));
    }
    Ok(())
}

/// What a claimed schedule's execution did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Executed {
    /// The outcome is recorded on the schedule (paid or failed).
    Recorded { payment_status: PaymentStatus },
    /// The payment's outcome is not known yet (left leased; claimed again after the lease).
    Unsettled,
    /// The schedule was no longer `scheduled` (another worker recorded it first).
    AlreadyDone,
}

impl Gateway {
    /// `POST /subscribe/payments/schedule`: all schedules are created, or none.
    pub async fn create_schedules(
        &self,
        merchant: &MerchantId,
        command: ScheduleCommand,
    ) -> ApiResult<Vec<ScheduleResult>> {
        crate::billing::check_customer_uid(&command.customer_uid)?;
        check_length("customer_id", command.customer_id.as_deref(), CUSTOMER_ID_MAX)?;
        if command.schedules.is_empty() {
            return Err(ApiError::invalid(
                "schedules 파라메터가 누락되었습니다. (schedules is required)",
            ));
        }
        if command.schedules.len() > 1000 {
            return Err(ApiError::invalid(
                "한 번에 1000건까지 예약할 수 있습니다. (at most 1000 schedules per request)",
            ));
        }
        if command.checking_amount < 0 {
            return Err(ApiError::invalid(
                "checking_amount는 0 이상이어야 합니다. (checking_amount must not be negative)",
            ));
        }
        let now = now();
        let mut rows = Vec::with_capacity(command.schedules.len());
        for (i, item) in command.schedules.iter().enumerate() {
            let what = format!("schedules[{i}]");
            let schedule_at = item.schedule_at.ok_or_else(|| {
                ApiError::invalid(format!(
                    "{what}.schedule_at 파라메터가 누락되었습니다. (schedule_at is required)"
                ))
            })?;
            let order = &item.order;
            let currency = order.check().map_err(|err| within(&what, err))?.to_owned();
            check_future(schedule_at, now, &what)?;
            if command.schedules[..i]
                .iter()
                .any(|other| other.order.merchant_uid == order.merchant_uid)
            {
                return Err(ApiError::rejected(format!(
                    "{what}: 요청 안에 merchant_uid가 중복되었습니다: {} (duplicate merchant_uid in the request)",
                    order.merchant_uid
                )));
            }
            self.check_notice_url(order.notice_url.as_deref()).await?;
            rows.push(ScheduleRow {
                id: format!("sch_{}", random_hex(12)),
                merchant_id: merchant.as_str().to_owned(),
                merchant_uid: order.merchant_uid.clone(),
                customer_uid: command.customer_uid.clone(),
                customer_id: command.customer_id.clone(),
                schedule_at,
                amount: order.amounts.amount,
                tax_free: order.amounts.tax_free,
                vat_amount: order.amounts.vat_amount,
                card_quota: order.amounts.card_quota,
                currency,
                name: order.name.clone(),
                buyer_name: order.buyer_name.clone(),
                buyer_email: order.buyer_email.clone(),
                buyer_tel: order.buyer_tel.clone(),
                buyer_addr: order.buyer_addr.clone(),
                buyer_postcode: order.buyer_postcode.clone(),
                custom_data: order.custom_data.clone(),
                notice_url: order.notice_url.clone().filter(|u| !u.trim().is_empty()),
                pg_provider: None,
                pg_id: None,
                schedule_status: ScheduleStatus::Scheduled,
                scheduled_since: now,
                lease_owner: None,
                lease_until: 0,
                claims: 0,
                imp_uid: None,
                payment_status: None,
                fail_reason: None,
                executed_at: 0,
                late_secs: 0,
                revoked_at: 0,
                revoke_reason: None,
                created_at: now,
                updated_at: now,
            });
        }
        // The key: the stored one, or issued now from the card data.
        let customer =
            match customers::get(&self.db, merchant.as_str(), &command.customer_uid).await? {
                Some(customer) => {
                    self.check_key_channel(
                        merchant.as_str(),
                        &customer.channel_id,
                        command.channel_key.as_deref(),
                    )
                    .await?;
                    customer
                }
                None if command.card_number.as_deref().is_some_and(|c| !c.trim().is_empty()) => {
                    let issue = IssueKeyCommand {
                        customer_uid: command.customer_uid.clone(),
                        card_number: command.card_number.clone(),
                        expiry: command.expiry.clone(),
                        birth: command.birth.clone(),
                        pwd_2digit: command.pwd_2digit.clone(),
                        pg: command.pg.clone(),
                        channel_key: command.channel_key.clone(),
                        customer_id: command.customer_id.clone(),
                        customer_name: command.schedules[0].order.buyer_name.clone(),
                        customer_tel: command.schedules[0].order.buyer_tel.clone(),
                        customer_email: command.schedules[0].order.buyer_email.clone(),
                        customer_addr: command.schedules[0].order.buyer_addr.clone(),
                        customer_postcode: command.schedules[0].order.buyer_postcode.clone(),
                    };
                    match self.issue_billing_key(merchant, issue).await {
                        Ok(_) => {}
                        Err(ApiError::CardRejected(message)) | Err(ApiError::Rejected(message)) => {
                            return Err(ApiError::rejected(format!(
                                "카드정보 확인에 실패하였습니다. {message}"
                            )))
                        }
                        Err(other) => return Err(other),
                    }
                    customers::get(&self.db, merchant.as_str(), &command.customer_uid)
                        .await?
                        .ok_or_else(|| ApiError::internal("the issued key is gone"))?
                }
                None => return Err(ApiError::rejected("등록되지 않은 구매자입니다.")),
            };
        if command.checking_amount > 0 {
            self.checking_charge(merchant, &command.customer_uid, command.checking_amount).await?;
        }
        for row in &mut rows {
            row.pg_provider = Some(customer.pg_provider.clone());
            row.pg_id = Some(customer.pg_id.clone());
            if row.customer_id.is_none() {
                row.customer_id = customer.customer_id.clone();
            }
        }
        match schedules::insert_all(&self.db, &rows).await? {
            Ok(()) => Ok(rows.iter().map(view).collect()),
            Err(InsertRefusal::Duplicate(merchant_uid)) => Err(ApiError::rejected(format!(
                "이미 등록된 merchant_uid입니다: {merchant_uid} (this merchant_uid already has a schedule or a payment)"
            ))),
        }
    }

    /// `checking_amount`: a charge of the key, cancelled at once, that proves the card works.
    async fn checking_charge(
        &self,
        merchant: &MerchantId,
        customer_uid: &str,
        amount: i64,
    ) -> ApiResult<()> {
        let merchant_uid = format!("checking_{}", random_hex(10));
        let command = AgainCommand {
            customer_uid: customer_uid.to_owned(),
            channel_key: None,
            order: Order {
                name: Some("카드 확인 결제 (checking_amount)".to_owned()),
                ..Order::new(merchant_uid.clone(), amount)
            },
            usage: KeyUsage::Payment,
        };
        let payment = self
            .pay_again(merchant, command)
            .await
            .map_err(|err| ApiError::rejected(format!("카드정보 확인에 실패하였습니다. {err}")))?;
        if payment.status != "paid" {
            return Err(ApiError::rejected(format!(
                "카드정보 확인에 실패하였습니다. {}",
                payment.fail_reason.unwrap_or_default()
            )));
        }
        let cancel = crate::cancel::CancelCommand {
            imp_uid: Some(payment.imp_uid.clone()),
            reason: Some("checking_amount 확인 후 즉시 취소".to_owned()),
            ..crate::cancel::CancelCommand::default()
        };
        if let Err(err) = self.cancel_payment(merchant, cancel).await {
            tracing::error!(imp_uid = %payment.imp_uid, %err, "the checking_amount charge could not be cancelled; cancel it by hand");
        }
        Ok(())
    }

    /// `POST /subscribe/payments/unschedule`.
    pub async fn unschedule(
        &self,
        merchant: &MerchantId,
        customer_uid: Option<String>,
        merchant_uids: Vec<String>,
    ) -> ApiResult<Vec<ScheduleResult>> {
        let customer_uid = customer_uid.map(|c| c.trim().to_owned()).filter(|c| !c.is_empty());
        let merchant_uids: Vec<String> = merchant_uids
            .into_iter()
            .map(|m| m.trim().to_owned())
            .filter(|m| !m.is_empty())
            .collect();
        if customer_uid.is_none() && merchant_uids.is_empty() {
            return Err(ApiError::invalid(
                "customer_uid 또는 merchant_uid 파라메터가 필요합니다. (customer_uid or merchant_uid is required)",
            ));
        }
        let target = RevokeTarget {
            customer_uid: customer_uid.clone(),
            merchant_uids: merchant_uids.clone(),
        };
        let revoked =
            schedules::revoke(&self.db, merchant.as_str(), &target, None, now(), now_millis())
                .await?;
        if !revoked.is_empty() {
            return Ok(revoked.iter().map(view).collect());
        }
        // Say why nothing was revoked.
        for merchant_uid in &merchant_uids {
            if let Some(found) = schedules::get(&self.db, merchant.as_str(), merchant_uid).await? {
                if customer_uid.as_ref().is_some_and(|c| *c != found.customer_uid) {
                    continue;
                }
                match found.schedule_status {
                    ScheduleStatus::Executed => {
                        return Err(ApiError::rejected(format!(
                            "이미 결제가 실행된 예약건은 취소할 수 없습니다: {merchant_uid} (already executed)"
                        )))
                    }
                    ScheduleStatus::Scheduled => {
                        return Err(ApiError::rejected(format!(
                            "지금 결제가 진행 중인 예약건입니다: {merchant_uid} (being charged right now)"
                        )))
                    }
                    ScheduleStatus::Revoked => {}
                }
            }
        }
        Err(ApiError::rejected("취소할 예약결제 기록이 존재하지 않습니다."))
    }

    /// Revokes the pending schedules of a billing key being deleted.
    pub(crate) async fn revoke_schedules_of_deleted_key(
        &self,
        merchant: &MerchantId,
        customer_uid: &str,
    ) -> ApiResult<usize> {
        let target =
            RevokeTarget { customer_uid: Some(customer_uid.to_owned()), merchant_uids: Vec::new() };
        let revoked = schedules::revoke(
            &self.db,
            merchant.as_str(),
            &target,
            Some("빌링키가 삭제되어 예약결제가 해지되었습니다. (billing key deleted)"),
            now(),
            now_millis(),
        )
        .await?;
        if !revoked.is_empty() {
            tracing::info!(
                customer_uid,
                revoked = revoked.len(),
                "billing key deleted: its pending schedules were revoked"
            );
        }
        Ok(revoked.len())
    }

    /// `GET /subscribe/payments/schedule/{merchant_uid}`.
    pub async fn get_schedule(
        &self,
        merchant: &MerchantId,
        merchant_uid: &str,
    ) -> ApiResult<ScheduleResult> {
        schedules::get(&self.db, merchant.as_str(), merchant_uid)
            .await?
            .map(|row| view(&row))
            .ok_or_else(|| ApiError::not_found(NOT_FOUND))
    }

    /// `PUT /subscribe/payments/schedule/{merchant_uid}`: moves a pending schedule.
    pub async fn update_schedule(
        &self,
        merchant: &MerchantId,
        merchant_uid: &str,
        schedule_at: i64,
    ) -> ApiResult<ScheduleResult> {
        let now = now();
        let found = schedules::get(&self.db, merchant.as_str(), merchant_uid)
            .await?
            .ok_or_else(|| ApiError::not_found(NOT_FOUND))?;
        check_future(schedule_at, now, "schedule_at")?;
        if found.schedule_status != ScheduleStatus::Scheduled {
            return Err(ApiError::invalid(format!(
                "예약 대기 상태가 아닌 예약건은 변경할 수 없습니다. 현재 상태: {} (only scheduled schedules can be moved)",
                found.schedule_status
            )));
        }
        if !schedules::move_time(
            &self.db,
            merchant.as_str(),
            merchant_uid,
            schedule_at,
            now,
            now_millis(),
        )
        .await?
        {
            return Err(ApiError::invalid(
                "지금 결제가 진행 중인 예약건입니다. (being charged right now)",
            ));
        }
        self.get_schedule(merchant, merchant_uid).await
    }

    /// `POST .../reschedule`: a failed or revoked schedule goes back to `scheduled`.
    pub async fn reschedule(
        &self,
        merchant: &MerchantId,
        merchant_uid: &str,
        schedule_at: i64,
    ) -> ApiResult<ScheduleResult> {
        let now = now();
        let found = schedules::get(&self.db, merchant.as_str(), merchant_uid)
            .await?
            .ok_or_else(|| ApiError::not_found(NOT_FOUND))?;
        check_future(schedule_at, now, "schedule_at")?;
        self.require_retryable(&found)?;
        if customers::get(&self.db, merchant.as_str(), &found.customer_uid).await?.is_none() {
            return Err(ApiError::not_found(
                "등록되지 않은 구매자입니다. (the billing key was deleted)",
            ));
        }
        if !schedules::reschedule(&self.db, merchant.as_str(), merchant_uid, schedule_at, now)
            .await?
        {
            return Err(ApiError::invalid("실패했거나 해지된 예약건만 다시 예약할 수 있습니다. (only failed or revoked schedules)"));
        }
        self.get_schedule(merchant, merchant_uid).await
    }

    fn require_retryable(&self, found: &ScheduleRow) -> ApiResult<()> {
        let retryable = match found.schedule_status {
            ScheduleStatus::Revoked => true,
            ScheduleStatus::Executed => found.payment_status == Some(PaymentStatus::Failed),
            ScheduleStatus::Scheduled => false,
        };
        if retryable {
            Ok(())
        } else {
            Err(ApiError::invalid(format!(
                "실패했거나 해지된 예약건만 다시 시도할 수 있습니다. 현재 상태: {} / {} (only failed or revoked schedules)",
                found.schedule_status,
                found.payment_status.map_or("-", PaymentStatus::as_str)
            )))
        }
    }

    /// `POST .../retry`: charges a failed or revoked schedule now and returns the Payment.
    pub async fn retry_schedule(
        &self,
        merchant: &MerchantId,
        merchant_uid: &str,
    ) -> ApiResult<Payment> {
        let found = schedules::get(&self.db, merchant.as_str(), merchant_uid)
            .await?
            .ok_or_else(|| ApiError::not_found(NOT_FOUND))?;
        self.require_retryable(&found)?;
        if customers::get(&self.db, merchant.as_str(), &found.customer_uid).await?.is_none() {
            return Err(ApiError::not_found(
                "등록되지 않은 구매자입니다. (the billing key was deleted)",
            ));
        }
        let owner = format!("retry-{}", random_hex(6));
        let lease_ms = i64::try_from(RETRY_LEASE.as_millis()).unwrap_or(300_000);
        let Some(claimed) = schedules::claim_for_retry(
            &self.db,
            merchant.as_str(),
            merchant_uid,
            &owner,
            now(),
            now_millis() + lease_ms,
        )
        .await?
        else {
            return Err(ApiError::invalid("실패했거나 해지된 예약건만 다시 시도할 수 있습니다. (only failed or revoked schedules)"));
        };
        self.execute_schedule(&claimed, &owner, RETRY_LEASE).await?;
        let row = schedules::get(&self.db, merchant.as_str(), merchant_uid)
            .await?
            .ok_or_else(|| ApiError::not_found(NOT_FOUND))?;
        match row.imp_uid {
            Some(imp_uid) => self.get_payment(merchant, &imp_uid).await,
            None => match self.run_payment(merchant.as_str(), &row).await? {
                Some(payment) => Ok(crate::view::payment(&payment, &[])),
                None => Err(ApiError::rejected(row.fail_reason.unwrap_or_else(|| {
                    "예약결제를 실행하지 못했습니다. (the charge did not run)".to_owned()
                }))),
            },
        }
    }

    /// The lists: `GET /subscribe/payments/schedule` and the two customer-scoped ones.
    pub async fn list_schedules(
        &self,
        merchant: &MerchantId,
        query: ScheduleQuery,
    ) -> ApiResult<Paged<ScheduleResult>> {
        let (from_name, to_name) = if query.customer_uid.is_some() {
            ("from", "to")
        } else {
            ("schedule_from", "schedule_to")
        };
        let from = query.from.ok_or_else(|| {
            ApiError::invalid(format!(
                "{from_name} 파라메터가 누락되었습니다. ({from_name} is required)"
            ))
        })?;
        let to = query.to.ok_or_else(|| {
            ApiError::invalid(format!(
                "{to_name} 파라메터가 누락되었습니다. ({to_name} is required)"
            ))
        })?;
        if from < 0 || to <= from {
            return Err(ApiError::invalid(format!(
                "조회 기간이 올바르지 않습니다. ({from_name} must be before {to_name})"
            )));
        }
        if to - from > MAX_RANGE_SECS {
            return Err(ApiError::invalid(format!(
                "조회 기간은 최대 3개월(92일)입니다. (at most 3 months between {from_name} and {to_name})"
            )));
        }
        let status = query.schedule_status.map(|s| s.trim().to_owned()).filter(|s| !s.is_empty());
        if let Some(status) = &status {
            if ScheduleStatus::parse(status).is_none() {
                return Err(ApiError::invalid(format!(
                    "schedule_status는 scheduled, executed, revoked 중 하나여야 합니다: {status}"
                )));
            }
        }
        let filter = ScheduleFilter {
            customer_uid: query.customer_uid,
            schedule_status: status,
            from,
            to,
            oldest_first: query.oldest_first,
        };
        let (rows, total) =
            schedules::list(&self.db, merchant.as_str(), &filter, query.page, query.limit).await?;
        Ok(Paged::new(rows.iter().map(view).collect(), total, query.page, query.limit))
    }

    /// The payment of a schedule's current run, if one was started: only the scheduler's own
    /// charge counts (`payments::scheduled_run`), never another payment of the merchant_uid.
    async fn run_payment(
        &self,
        merchant_id: &str,
        row: &ScheduleRow,
    ) -> ApiResult<Option<PaymentRow>> {
        Ok(payments::scheduled_run(
            &self.db,
            merchant_id,
            &row.merchant_uid,
            &row.customer_uid,
            row.amount,
            row.scheduled_since,
        )
        .await?)
    }

    /// Charges one claimed schedule (leased to `owner`) and records the outcome on it.
    pub async fn execute_schedule(
        &self,
        row: &ScheduleRow,
        owner: &str,
        lease: Duration,
    ) -> ApiResult<Executed> {
        let merchant = MerchantId(row.merchant_id.clone());
        let started = now();
        let late_secs = (started - row.schedule_at).max(0);
        let lease_ms = i64::try_from(lease.as_millis()).unwrap_or(300_000);
        // Claimed before: the earlier claim may have charged already.
        if row.claims > 1 {
            // A payment the PG never received (its worker died before the call) moved no money:
            // charge again, as a new attempt of the same merchant_uid.
            let earlier = self.run_payment(&row.merchant_id, row).await?;
            if let Some(payment) = earlier
                .filter(|p| p.fail_reason.as_deref() != Some(crate::reconcile::NEVER_CHARGED))
            {
                return self.record_payment(row, owner, &payment, late_secs, lease_ms).await;
            }
        }
        if late_secs > 5 {
            tracing::warn!(merchant_uid = %row.merchant_uid, schedule_at = row.schedule_at, late_secs, "schedule runs late (it fell due while no worker ran)");
        }
        let command = AgainCommand {
            customer_uid: row.customer_uid.clone(),
            channel_key: None,
            order: order_of(row),
            usage: KeyUsage::Scheduled,
        };
        match self.pay_again(&merchant, command).await {
            Ok(payment) => match settled(&payment.status) {
                Some(payment_status) => {
                    let outcome = Outcome {
                        imp_uid: Some(payment.imp_uid.clone()),
                        payment_status,
                        fail_reason: payment.fail_reason.clone(),
                        executed_at: now(),
                        late_secs,
                    };
                    self.record(row, &outcome).await
                }
                None => {
                    tracing::warn!(merchant_uid = %row.merchant_uid, imp_uid = %payment.imp_uid, "scheduled charge outcome unknown; the reconciler settles it");
                    schedules::set_lease(&self.db, &row.id, owner, now_millis() + lease_ms).await?;
                    Ok(Executed::Unsettled)
                }
            },
            Err(
                err @ (ApiError::Unavailable(_) | ApiError::Unwritable(_) | ApiError::Internal(_)),
            ) => {
                // Try again after the lease.
                schedules::set_lease(&self.db, &row.id, owner, now_millis() + lease_ms).await?;
                Err(err)
            }
            Err(refusal) => {
                // A racing attempt may own this merchant_uid; otherwise the refusal is the outcome.
                if let Some(payment) = self.run_payment(&row.merchant_id, row).await? {
                    return self.record_payment(row, owner, &payment, late_secs, lease_ms).await;
                }
                let (_, _, message) = refusal.envelope_parts();
                let imp_uid = self.record_refused_run(row, &message).await?;
                let outcome = Outcome {
                    imp_uid,
                    payment_status: PaymentStatus::Failed,
                    fail_reason: Some(message),
                    executed_at: now(),
                    late_secs,
                };
                self.record(row, &outcome).await
            }
        }
    }

    /// A run refused before any payment existed (the key's channel removed, the key deleted
    /// meanwhile, a prepared amount that differs) is recorded as a failed payment, so the
    /// schedule shows an imp_uid and the `failed` webhook i'mport sends for a scheduled charge
    /// goes out like any other. None when even that record is refused (the merchant_uid is live).
    async fn record_refused_run(
        &self,
        row: &ScheduleRow,
        reason: &str,
    ) -> ApiResult<Option<String>> {
        let now = now();
        // The order fields the run would have charged with (`order_of`, as `pay_again` gets).
        let order = order_of(row);
        let notify = self.webhook_for(&row.merchant_id, order.notice_url.as_deref(), None).await?;
        let mut payment = PaymentRow {
            status: PaymentStatus::Failed,
            pay_method: Some("card".to_owned()),
            channel: Some("api".to_owned()),
            customer_uid: Some(row.customer_uid.clone()),
            customer_uid_usage: Some(KeyUsage::Scheduled),
            failed_at: now,
            fail_reason: Some(reason.to_owned()),
            ..PaymentRow::for_order(
                openimp_core::ids::new_imp_uid(true),
                &row.merchant_id,
                &order,
                &row.currency,
                now,
            )
        };
        match payments::insert_attempt(&self.db, &mut payment, notify.as_ref()).await? {
            Ok(()) => Ok(Some(payment.imp_uid)),
            Err(_) => Ok(None),
        }
    }

    async fn record_payment(
        &self,
        row: &ScheduleRow,
        owner: &str,
        payment: &PaymentRow,
        late_secs: i64,
        lease_ms: i64,
    ) -> ApiResult<Executed> {
        let status = match payment.status {
            PaymentStatus::Paid | PaymentStatus::Cancelled => PaymentStatus::Paid,
            PaymentStatus::Failed => PaymentStatus::Failed,
            PaymentStatus::Pending | PaymentStatus::Ready => {
                schedules::set_lease(&self.db, &row.id, owner, now_millis() + lease_ms).await?;
                return Ok(Executed::Unsettled);
            }
        };
        let outcome = Outcome {
            imp_uid: Some(payment.imp_uid.clone()),
            payment_status: status,
            fail_reason: payment.fail_reason.clone(),
            executed_at: now(),
            late_secs,
        };
        self.record(row, &outcome).await
    }

    async fn record(&self, row: &ScheduleRow, outcome: &Outcome) -> ApiResult<Executed> {
        if schedules::record_outcome(&self.db, &row.id, outcome).await? {
            tracing::info!(merchant_uid = %row.merchant_uid, imp_uid = ?outcome.imp_uid, status = %outcome.payment_status, late_secs = outcome.late_secs, "schedule executed");
            Ok(Executed::Recorded { payment_status: outcome.payment_status })
        } else {
            Ok(Executed::AlreadyDone)
        }
    }
}
