//! Pay methods other than card in the sandbox window (bank transfer, virtual account, phone,
//! easy pay), and the sandbox's simulated deposit into a virtual account.

use openimp_core::money::ChargeAmounts;
use openimp_core::states::PaymentStatus;
use openimp_core::time::now;
use openimp_core::wire::Payment;
use openimp_core::ApiError;
use openimp_pg::{ChargeOutcome, ChargeRequest, ConnectorError, PaymentSource};
use openimp_store::merchants::{self, ChannelRow};
use openimp_store::payments::{self, ApprovalRecord, MethodDetails};
use openimp_store::window::{self, SessionRow};
use serde_json::Value;

use super::request::{GIFT_CERTIFICATES, PAY_METHODS};
use super::rsp::{charge_rsp, failure, order_fields, rsp_of};
use super::{CardForm, Submitted, WindowView};
use crate::charge::Attempt;
use crate::codes::bank_by_code;
use crate::pg_call::PgOperation;
use crate::{ApiResult, Gateway, MerchantId};

/// Mobile carriers offered for phone payments (휴대폰 소액결제).
pub const CARRIERS: [&str; 3] = ["SKT", "KT", "LGU+"];

/// Hub PGs: an easy-pay brand paid through them is recorded as `emb_pg_provider`.
const HUB_PGS: [&str; 2] = ["html5_inicis", "kicc"];

/// A form field, trimmed; None when empty.
fn field(value: &Option<String>) -> Option<String> {
    value.as_deref().map(str::trim).filter(|v| !v.is_empty()).map(str::to_owned)
}

/// A virtual account number: the sandbox's own, 14 random digits.
fn new_vbank_num() -> String {
    use rand::Rng;
    let mut rng = rand::thread_rng();
    (0..14).map(|_| char::from(b'0' + rng.gen_range(0..10u8))).collect()
}

impl Gateway {
    /// The sandbox page of a pay method other than card came back: check the choice, then
    /// charge through the sandbox PG (or issue the virtual account).
    pub(super) async fn submit_method(
        &self,
        id: &str,
        view: &WindowView,
        form: CardForm,
    ) -> ApiResult<Submitted> {
        let request = &view.request;
        let pay_method = request.pay_method.as_str();
        let mut method = MethodDetails::default();
        let mut detail = None;
        match pay_method {
            "trans" | "vbank" => {
                let Some((code, name)) = field(&form.bank_code).and_then(|c| bank_by_code(&c))
                else {
                    return Ok(Submitted::Retry("은행을 선택하세요. (choose a bank)".to_owned()));
                };
                detail = Some(code.to_owned());
                if pay_method == "trans" {
                    method.bank_code = Some(code.to_owned());
                    method.bank_name = Some(name.to_owned());
                } else {
                    let Some(holder) = field(&form.vbank_holder) else {
                        return Ok(Submitted::Retry(
                            "입금자명을 입력하세요. (the depositor's name is required)".to_owned(),
                        ));
                    };
                    if holder.chars().count() > 20 {
                        return Ok(Submitted::Retry(
                            "입금자명은 20자 이내여야 합니다. (the depositor's name is at most 20 characters)".to_owned(),
                        ));
                    }
                    method.vbank_code = Some(code.to_owned());
                    method.vbank_name = Some(name.to_owned());
                    method.vbank_holder = Some(holder);
                }
            }
            "phone" => {
                let Some(carrier) = field(&form.carrier).filter(|c| CARRIERS.contains(&c.as_str()))
                else {
                    return Ok(Submitted::Retry(
                        "통신사를 선택하세요. (choose a carrier)".to_owned(),
                    ));
                };
                let digits: String = field(&form.phone)
                    .unwrap_or_default()
                    .chars()
                    .filter(|c| !matches!(c, '-' | ' '))
                    .collect();
                if !(digits.starts_with("01")
                    && (10..=11).contains(&digits.len())
                    && digits.bytes().all(|b| b.is_ascii_digit()))
                {
                    return Ok(Submitted::Retry(
                        "휴대폰 번호를 확인하세요 (예: 010-1234-5678). (check the phone number)"
                            .to_owned(),
                    ));
                }
                detail = Some(carrier);
            }
            _ => {
                if !GIFT_CERTIFICATES.contains(&pay_method)
                    && HUB_PGS
                        .iter()
                        .any(|hub| crate::channels::provider_matches(&view.pg_provider, hub))
                {
                    method.emb_pg_provider = Some(pay_method.to_owned());
                }
            }
        }
        if !window::claim(&self.db, id, &form.csrf, now()).await? {
            return Err(ApiError::rejected(
                "이미 처리된 결제창입니다. (this window was already used)",
            ));
        }
        let rsp = if pay_method == "vbank" {
            self.issue_vbank(view, method).await
        } else {
            self.charge_method(view, method, detail).await
        };
        let rsp = match rsp {
            Ok(rsp) => rsp,
            Err(err) => failure(&request.merchant_uid, None, "F500", &err.envelope_parts().2),
        };
        let imp_uid = rsp.get("imp_uid").and_then(Value::as_str).map(str::to_owned);
        window::finish(&self.db, id, imp_uid.as_deref(), &rsp.to_string(), now()).await?;
        Ok(Submitted::Done(rsp))
    }

    async fn session_channel(&self, session: &SessionRow) -> ApiResult<ChannelRow> {
        merchants::get_channel(&self.db, &session.merchant_id, &session.channel_id)
            .await?
            .ok_or_else(|| {
                ApiError::rejected("결제창의 PG 채널이 삭제되었습니다. (the channel was removed)")
            })
    }

    /// Bank transfer, phone, easy pay: the charge path of cards, with the method's facts.
    async fn charge_method(
        &self,
        view: &WindowView,
        method: MethodDetails,
        detail: Option<String>,
    ) -> ApiResult<Value> {
        let session = &view.session;
        let request = &view.request;
        let channel = self.session_channel(session).await?;
        let pay_method = PAY_METHODS
            .iter()
            .copied()
            .find(|m| *m == request.pay_method)
            .ok_or_else(|| ApiError::invalid("지원하지 않는 결제수단입니다."))?;
        let attempt = Attempt {
            merchant_id: session.merchant_id.clone(),
            channel,
            currency: openimp_core::money::check_currency(Some(&request.currency))?,
            customer_uid: None,
            usage: None,
            card_number: None,
            channel_kind: if session.device == "mobile" { "mobile" } else { "pc" },
            pay_method,
            user_agent: session.user_agent.clone(),
        };
        let source = PaymentSource::Method { pay_method: pay_method.to_owned(), detail };
        let payment = self.charge_with(attempt, order_fields(request, 0), source, method).await?;
        Ok(charge_rsp(&payment))
    }

    /// A virtual account: recorded `ready` with its number and deadline, and a `ready` webhook
    /// queued in the same transaction. Nothing is approved until the deposit.
    async fn issue_vbank(&self, view: &WindowView, mut method: MethodDetails) -> ApiResult<Value> {
        let request = &view.request;
        let now = now();
        method.vbank_num = Some(new_vbank_num());
        method.vbank_date = request.vbank_due.unwrap_or(now + 3 * 24 * 3600);
        method.vbank_issued_at = now;
        let mut row = self.window_row(view, now);
        row.status = PaymentStatus::Ready;
        row.method = method;
        let notify = self.webhook_for(&row.merchant_id, row.notice_url.as_deref(), None).await?;
        if let Err(refusal) = payments::insert_attempt(&self.db, &mut row, notify.as_ref()).await? {
            return Err(self.insert_refusal_error(&row, refusal).await);
        }
        Ok(rsp_of(&crate::view::payment(&row, &[]), None))
    }

    /// The sandbox's simulated deposit into a virtual account (`POST
    /// /sandbox/vbank/{imp_uid}/deposit`, `openimp sandbox deposit`): the sandbox PG records the
    /// approval in its ledger, then the payment moves `ready` → `paid` with a `paid` webhook
    /// queued in the same transaction. `merchant` scopes the lookup (None: the operator's CLI).
    pub async fn sandbox_deposit(
        &self,
        merchant: Option<&MerchantId>,
        imp_uid: &str,
    ) -> ApiResult<Payment> {
        let imp_uid = imp_uid.trim();
        let row = match merchant {
            Some(merchant) => payments::get(&self.db, merchant.as_str(), imp_uid).await?,
            None => payments::get_any(&self.db, imp_uid).await?,
        }
        .ok_or_else(ApiError::payment_not_found)?;
        if row.pay_method.as_deref() != Some("vbank") {
            return Err(ApiError::rejected(format!(
                "가상계좌 결제가 아닙니다 (pay_method: {}). 입금은 발급된 가상계좌에만 할 수 있습니다. (a deposit applies only to a virtual-account payment)",
                row.pay_method.as_deref().unwrap_or("-")
            )));
        }
        if row.status != "ready" {
            let status = if row.status == "pending" { "ready" } else { row.status.as_str() };
            return Err(ApiError::rejected(format!(
                "입금 대기 중인 가상계좌가 아닙니다 (status: {status}). (the virtual account is not awaiting a deposit)"
            )));
        }
        if row.method.vbank_date > 0 && row.method.vbank_date < now() {
            return Err(ApiError::rejected(
                "가상계좌 입금기한이 지났습니다. (the deposit deadline has passed)",
            ));
        }
        let channel = merchants::get_channel(
            &self.db,
            &row.merchant_id,
            row.channel_id.as_deref().unwrap_or_default(),
        )
        .await?
        .ok_or_else(|| {
            ApiError::rejected(
                "가상계좌를 발급한 PG 채널이 삭제되었습니다. (the channel was removed)",
            )
        })?;
        // A simulated deposit is the test mode's: a live PG reports real deposits itself.
        let mode = row.pg_mode.clone().unwrap_or_else(|| {
            openimp_pg::registry::Mode::of_test_mode(channel.test_mode).as_str().to_owned()
        });
        if mode != openimp_pg::registry::Mode::Sandbox.as_str() {
            return Err(ApiError::rejected(
                "실거래 가상계좌에는 입금을 흉내낼 수 없습니다. (a simulated deposit applies only to a test-mode virtual account)",
            ));
        }
        let (connector, context) = self.payment_connector(&row, &channel)?;
        let request = ChargeRequest {
            order_id: row.imp_uid.clone(),
            source: PaymentSource::Method {
                pay_method: "vbank".to_owned(),
                detail: row.method.vbank_code.clone(),
            },
            amount: row.amount,
            tax_free: row.tax_free,
            vat_amount: ChargeAmounts {
                amount: row.amount,
                tax_free: row.tax_free,
                vat_amount: row.vat_amount,
                card_quota: 0,
            }
            .effective_vat(),
            card_quota: 0,
            name: row.name.clone(),
            buyer_name: row.buyer_name.clone(),
            buyer_email: row.buyer_email.clone(),
            buyer_tel: row.buyer_tel.clone(),
        };
        let notify = self.webhook_for(&row.merchant_id, row.notice_url.as_deref(), None).await?;
        // The call and its record run in a task of their own, as a charge's do: a client that
        // hangs up cannot leave an approval in the PG's ledger with the account still `ready`.
        let db = self.db.clone();
        let imp_uid = row.imp_uid.clone();
        let call_context = context.clone();
        let call = async move { connector.charge(&call_context, request).await };
        let record = move |outcome: Result<ChargeOutcome, ConnectorError>| async move {
            let approval = match outcome {
                Ok(ChargeOutcome::Approved(approval)) => approval,
                Ok(ChargeOutcome::Declined { code, message }) => {
                    return Err(ApiError::rejected(format!("[{code}] {message}")))
                }
                Err(err) => return Err(PgOperation::Charge.failure(err)),
            };
            let record = ApprovalRecord {
                receipt_url: approval.receipt_url,
                pg_tid: approval.pg_tid,
                apply_num: approval.apply_num,
                paid_at: approval.paid_at,
                card_code: String::new(),
                card_name: String::new(),
                card_number: String::new(),
                card_type: None,
            };
            if !payments::mark_deposited_notify(&db, &imp_uid, &record, notify.as_ref()).await? {
                return Err(ApiError::rejected(
                    "입금 대기 중인 가상계좌가 아닙니다. (the virtual account is not awaiting a deposit)",
                ));
            }
            Ok(())
        };
        self.call_pg(PgOperation::Charge, &context, call, record).await?;
        let row = payments::get(&self.db, &row.merchant_id, &row.imp_uid)
            .await?
            .ok_or_else(ApiError::payment_not_found)?;
        self.payment_view(&row).await
    }
}
