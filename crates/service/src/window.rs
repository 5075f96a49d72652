//! The hosted payment window behind `IMP.request_pay`: the sandbox PG's window for test-mode
//! channels.
//!
//! 1. [`Gateway::open_window`]: the SDK on the merchant page posts the request; the checks that
//!    refuse before a window opens run here (types, channel, prepared amount, a merchant_uid
//!    already paid), and a session bound to the merchant, the request and the page's origin is
//!    stored (random id, CSRF token, 15 minutes).
//! 2. [`Gateway::window_view`]: what the window shows (amount, card companies, instalments).
//! 3. [`Gateway::submit_window`] / [`Gateway::close_window`]: the form posts back; a billing key
//!    is issued (`customer_uid` given: recorded as a Payment with `customer_uid_usage` `issue`,
//!    amount 0, nothing charged) or the card is charged through the same charge path as the REST
//!    API (`imp_` id, channel `pc`/`mobile`). The result is the SDK callback's `rsp` object.
//!
//! Other pay methods (`trans`, `vbank`, `phone`, the easy-pay brands) show their own sandbox
//! page and are approved by the sandbox PG through the same charge path; a virtual account is
//! recorded `ready` (webhook `ready`) and paid by [`Gateway::sandbox_deposit`].
//!
//! Card data crosses this module once, from the form to the PG; it is never stored here.

use openimp_core::card::{card_company_by_code, sandbox_card_profile, CardInput, RawCard};
use openimp_core::ids::{new_imp_uid, random_hex};
use openimp_core::money::{ChargeAmounts, INSTALMENT_MIN_AMOUNT};
use openimp_core::time::now;
use openimp_core::wire::Payment;
use openimp_core::ApiError;
use openimp_pg::{ChargeOutcome, ChargeRequest, PaymentSource};
use openimp_store::merchants::{self, ChannelRow};
use openimp_store::payments::{self, ApprovalRecord, MethodDetails, PaymentRow};
use openimp_store::window::{self, SessionRow};
use openimp_store::StoreError;
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use crate::billing::IssueKeyCommand;
use crate::charge::{Attempt, OrderFields};
use crate::{ApiResult, Gateway, MerchantId};

/// The pay methods the sandbox window takes (`samsung` is the old name of `samsungpay`).
pub const PAY_METHODS: [&str; 13] = [
    "card",
    "trans",
    "vbank",
    "phone",
    "kakaopay",
    "naverpay",
    "samsung",
    "samsungpay",
    "payco",
    "ssgpay",
    "tosspay",
    "lpay",
    "kpay",
];

/// Banks (KFTC standard codes) offered for bank transfers and virtual accounts, in display order.
pub const BANKS: [(&str, &str); 14] = [
    ("004", "국민은행"),
    ("088", "신한은행"),
    ("020", "우리은행"),
    ("081", "하나은행"),
    ("011", "농협은행"),
    ("003", "기업은행"),
    ("023", "SC제일은행"),
    ("027", "한국씨티은행"),
    ("032", "부산은행"),
    ("031", "대구은행"),
    ("071", "우체국"),
    ("090", "카카오뱅크"),
    ("089", "케이뱅크"),
    ("092", "토스뱅크"),
];

/// Mobile carriers offered for phone payments (휴대폰 소액결제).
pub const CARRIERS: [&str; 3] = ["SKT", "KT", "LGU+"];

/// Hub PGs: an easy-pay brand paid through them is recorded as `emb_pg_provider`.
const HUB_PGS: [&str; 2] = ["html5_inicis", "kicc"];

/// How the window names a pay method.
pub fn method_label(pay_method: &str) -> &'static str {
    match pay_method {
        "card" => "신용카드",
        "trans" => "실시간 계좌이체",
        "vbank" => "가상계좌",
        "phone" => "휴대폰 소액결제",
        "kakaopay" => "카카오페이",
        "naverpay" => "네이버페이",
        "samsung" | "samsungpay" => "삼성페이",
        "payco" => "페이코",
        "ssgpay" => "SSGPAY",
        "tosspay" => "토스페이",
        "lpay" => "L.pay",
        "kpay" => "KPAY",
        _ => "결제",
    }
}

/// A bank of [`BANKS`] by code.
pub fn bank_by_code(code: &str) -> Option<(&'static str, &'static str)> {
    BANKS.iter().copied().find(|(c, _)| *c == code)
}

/// `vbank_due` as the SDK takes it (`YYYY-MM-DD`, `YYYYMMDD`, `YYYY-MM-DD HH:mm:ss`,
/// `YYYYMMDDHHmmss`, Korean time; a date alone means its last second), as unix seconds.
pub fn parse_vbank_due(value: &str) -> Option<i64> {
    use chrono::{NaiveDate, NaiveDateTime, NaiveTime};
    let value = value.trim();
    let at = NaiveDateTime::parse_from_str(value, "%Y-%m-%d %H:%M:%S")
        .or_else(|_| NaiveDateTime::parse_from_str(value, "%Y%m%d%H%M%S"))
        .ok()
        .filter(|_| value.len() == 19 || value.len() == 14)
        .or_else(|| {
            let date = NaiveDate::parse_from_str(value, "%Y-%m-%d")
                .ok()
                .filter(|_| value.len() == 10)
                .or_else(|| {
                    NaiveDate::parse_from_str(value, "%Y%m%d").ok().filter(|_| value.len() == 8)
                })?;
            Some(date.and_time(NaiveTime::from_hms_opt(23, 59, 59)?))
        })?;
    let kst = chrono::FixedOffset::east_opt(9 * 3600)?;
    at.and_local_timezone(kst).single().map(|t| t.timestamp())
}

/// How long a window session stays usable.
pub const SESSION_TTL_SECS: i64 = 15 * 60;

/// The message of a window the user closed.
pub const USER_CANCELLED: &str = "사용자가 결제를 취소하셨습니다";

/// KFTC card company codes the window lists, in display order.
const CARD_CODES: [&str; 19] = [
    "361", "381", "367", "365", "368", "371", "366", "041", "374", "370", "045", "373", "364",
    "002", "369", "048", "071", "372", "090",
];

/// `IMP.request_pay` as the SDK sends it.
#[derive(Debug, Clone)]
pub struct OpenCommand {
    /// The merchant code given to `IMP.init`.
    pub imp_code: String,
    /// The `params` object, as the page passed it.
    pub params: Value,
    /// The merchant page's origin (the `Origin` header of the SDK's request).
    pub origin: String,
    /// The SDK saw a mobile browser.
    pub mobile: bool,
    pub user_agent: Option<String>,
}

/// A checked request, stored with its session.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct WindowRequest {
    pub pg: Option<String>,
    pub pay_method: String,
    pub merchant_uid: String,
    pub name: Option<String>,
    pub amount: i64,
    pub tax_free: i64,
    pub vat_amount: Option<i64>,
    pub currency: String,
    pub customer_uid: Option<String>,
    pub customer_id: Option<String>,
    pub buyer_name: Option<String>,
    pub buyer_email: Option<String>,
    pub buyer_tel: Option<String>,
    pub buyer_addr: Option<String>,
    pub buyer_postcode: Option<String>,
    pub custom_data: Option<String>,
    pub notice_url: Option<String>,
    pub m_redirect_url: Option<String>,
    /// Instalment months offered besides 일시불 (empty below 50,000 KRW).
    pub quota_options: Vec<i64>,
    /// `card.direct`: the one card company the window opens on, and its fixed instalment.
    pub direct_code: Option<String>,
    pub direct_quota: i64,
    /// Card companies the customer may pay with (`card.detail`).
    pub enabled_cards: Vec<String>,
    /// `vbank_due`: the virtual account's deposit deadline (unix), if the page gave one.
    #[serde(default)]
    pub vbank_due: Option<i64>,
}

impl WindowRequest {
    /// A billing-key issuance window (the amount is shown, nothing is charged).
    pub fn issues_key(&self) -> bool {
        self.customer_uid.is_some()
    }
}

/// A session just opened.
#[derive(Debug, Clone, Serialize)]
pub struct Opened {
    pub id: String,
    /// `overlay`: the window opens in an iframe and the callback gets the result;
    /// `redirect`: the page navigates to the window, which ends on `m_redirect_url`.
    pub mode: String,
}

/// Everything a window page needs.
#[derive(Debug, Clone)]
pub struct WindowView {
    pub session: SessionRow,
    pub request: WindowRequest,
    pub merchant_name: String,
    pub pg_provider: String,
    pub pg_id: String,
    /// (code, Korean name) of the companies the customer may choose.
    pub cards: Vec<(String, String)>,
    pub expired: bool,
    /// The callback's `rsp`, once the session is done.
    pub result: Option<Value>,
}

/// The card form as posted.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct CardForm {
    #[serde(default)]
    pub csrf: String,
    pub card_number: Option<String>,
    /// `MM/YY` (also `MMYY`, `YYYY-MM`).
    pub expiry: Option<String>,
    pub birth: Option<String>,
    pub pwd_2digit: Option<String>,
    /// The chosen card company, empty for "by card number".
    pub card_code: Option<String>,
    pub quota: Option<String>,
    /// `trans` / `vbank`: the chosen bank (KFTC code).
    pub bank_code: Option<String>,
    /// `vbank`: the depositor's name (예금주/입금자명).
    pub vbank_holder: Option<String>,
    /// `phone`: the carrier (SKT, KT, LGU+) and the number.
    pub carrier: Option<String>,
    pub phone: Option<String>,
}

/// What a submit led to.
#[derive(Debug, Clone)]
pub enum Submitted {
    /// The form had a mistake the customer can fix; show it again with this message.
    Retry(String),
    /// The window is over: this is the callback's `rsp`.
    Done(Value),
}

impl Gateway {
    /// Checks a `request_pay` and opens a window session for it.
    pub async fn open_window(&self, command: OpenCommand) -> ApiResult<Opened> {
        let merchant = merchants::get(&self.db, command.imp_code.trim()).await?.ok_or_else(|| {
            ApiError::rejected(
                "등록되지 않은 가맹점 식별코드입니다. IMP.init의 값을 확인하세요. (unknown merchant code)",
            )
        })?;
        let origin = check_origin(&command.origin)?;
        let merchant_id = MerchantId(merchant.imp_code.clone());
        let params = command.params.as_object().cloned().unwrap_or_default();
        let pg = opt_string(&params, "pg")?;
        let channel = self.window_channel(merchant_id.as_str(), pg.as_deref()).await?;
        self.connector_for(&channel)?;
        let request = parse_request(&params, pg)?;
        if request.issues_key() {
            crate::billing::check_customer_uid(request.customer_uid.as_deref().unwrap_or(""))?;
            crate::charge::check_merchant_uid(&request.merchant_uid)?;
            // Nothing is charged: the issuance record is amount 0, and so is what a prepared
            // merchant_uid must say.
            self.check_prepared(merchant_id.as_str(), &request.merchant_uid, 0, &request.currency)
                .await?;
        } else {
            crate::charge::check_order(&order_fields(&request, 0))?;
            self.check_prepared(
                merchant_id.as_str(),
                &request.merchant_uid,
                request.amount,
                &request.currency,
            )
            .await?;
        }
        self.check_merchant_uid_free(merchant_id.as_str(), &request.merchant_uid).await?;
        let redirects = command.mobile
            && request.m_redirect_url.is_some()
            // KG Inicis billing-key windows call back on mobile too (seed 000).
            && !(request.issues_key()
                && crate::channels::provider_matches(&channel.pg_provider, "html5_inicis"));
        let now = now();
        let session = SessionRow {
            id: format!("win_{}", random_hex(16)),
            merchant_id: merchant_id.0.clone(),
            channel_id: channel.id.clone(),
            csrf_token: random_hex(16),
            origin,
            mode: if redirects { "redirect" } else { "overlay" }.to_owned(),
            device: if command.mobile { "mobile" } else { "pc" }.to_owned(),
            request_json: serde_json::to_string(&request).map_err(ApiError::internal)?,
            user_agent: command.user_agent.map(|ua| ua.chars().take(512).collect()),
            state: "open".to_owned(),
            imp_uid: None,
            result_json: None,
            created_at: now,
            expires_at: now + SESSION_TTL_SECS,
            updated_at: now,
        };
        window::insert(&self.db, &session).await?;
        Ok(Opened { id: session.id, mode: session.mode })
    }

    /// The channel for a window's `pg`: `provider.MID` exactly, else the provider's channel
    /// (default first), else the merchant's default channel.
    async fn window_channel(&self, merchant_id: &str, pg: Option<&str>) -> ApiResult<ChannelRow> {
        let channels = merchants::list_channels(&self.db, merchant_id).await?;
        if let Some(pg) = pg.map(str::trim).filter(|s| !s.is_empty()) {
            let (provider, mid) = match pg.split_once('.') {
                Some((provider, mid)) => (provider, Some(mid)),
                None => (pg, None),
            };
            let of_provider = || {
                channels
                    .iter()
                    .filter(|c| crate::channels::provider_matches(&c.pg_provider, provider))
            };
            let exact = of_provider().find(|c| mid.is_none_or(|mid| c.mid == mid));
            let by_provider = || of_provider().find(|c| c.is_default).or(of_provider().next());
            if let Some(found) = exact.or_else(by_provider) {
                return Ok(found.clone());
            }
        }
        self.resolve_channel(merchant_id, None).await
    }

    /// The session and what its page shows. Unknown ids are a 404.
    pub async fn window_view(&self, id: &str) -> ApiResult<WindowView> {
        let session = window::get(&self.db, id)
            .await?
            .ok_or_else(|| ApiError::not_found("존재하지 않는 결제창입니다. (unknown window)"))?;
        let request: WindowRequest =
            serde_json::from_str(&session.request_json).map_err(ApiError::internal)?;
        let merchant = merchants::get(&self.db, &session.merchant_id).await?;
        let channel = merchants::get_channel(&self.db, &session.merchant_id, &session.channel_id)
            .await
            .ok()
            .flatten();
        let cards = request
            .enabled_cards
            .iter()
            .filter_map(|code| card_company_by_code(code))
            .map(|c| (c.code.to_owned(), c.name.to_owned()))
            .collect();
        let result = match &session.result_json {
            Some(json) => Some(serde_json::from_str(json).map_err(ApiError::internal)?),
            None => None,
        };
        Ok(WindowView {
            expired: session.state == "open" && session.expires_at <= now(),
            merchant_name: merchant.map(|m| m.name).unwrap_or_default(),
            pg_provider: channel.as_ref().map(|c| c.pg_provider.clone()).unwrap_or_default(),
            pg_id: channel.as_ref().map(|c| c.mid.clone()).unwrap_or_default(),
            session,
            request,
            cards,
            result,
        })
    }

    /// The card form came back: issue the key or charge the card.
    pub async fn submit_window(&self, id: &str, form: CardForm) -> ApiResult<Submitted> {
        let view = self.window_view(id).await?;
        let session = &view.session;
        check_csrf(session, &form.csrf)?;
        if session.state != "open" {
            return Err(ApiError::rejected(
                "이미 처리된 결제창입니다. (this window was already used)",
            ));
        }
        if view.expired {
            return Err(ApiError::rejected(
                "결제창 유효시간(15분)이 지났습니다. 다시 시도해주세요. (the window expired)",
            ));
        }
        let request = &view.request;
        if request.pay_method != "card" {
            return self.submit_method(id, &view, form).await;
        }
        let card = match parse_card(&form) {
            Ok(card) => card,
            Err(err) => return Ok(Submitted::Retry(err.envelope_parts().2)),
        };
        let (company, _) = sandbox_card_profile(&card.number);
        let chosen = form.card_code.as_deref().map(str::trim).filter(|c| !c.is_empty());
        if let Some(chosen) = chosen.or(request.direct_code.as_deref()) {
            if chosen != company.code {
                let name = card_company_by_code(chosen).map_or(chosen, |c| c.name);
                return Ok(Submitted::Retry(format!(
                    "{name} 카드가 아닙니다. 카드번호를 확인하세요. (the card number is not a {name} card)"
                )));
            }
        }
        if !request.enabled_cards.iter().any(|c| c == company.code) {
            return Ok(Submitted::Retry(format!(
                "{}는 이 주문에서 사용할 수 없습니다. (this card company is not accepted for this order)",
                company.name
            )));
        }
        let quota = if request.direct_code.is_some() {
            request.direct_quota
        } else {
            match form.quota.as_deref().map(str::trim).filter(|q| !q.is_empty()) {
                None => 0,
                Some(q) => match q.parse::<i64>() {
                    Ok(0) => 0,
                    Ok(q) if request.quota_options.contains(&q) => q,
                    _ => {
                        return Ok(Submitted::Retry(
                            "선택할 수 없는 할부개월입니다. (instalment not offered)".to_owned(),
                        ))
                    }
                },
            }
        };
        if !window::claim(&self.db, id, &form.csrf, now()).await? {
            return Err(ApiError::rejected(
                "이미 처리된 결제창입니다. (this window was already used)",
            ));
        }
        let rsp = self.complete(&view, card, quota).await;
        let rsp = match rsp {
            Ok(rsp) => rsp,
            Err(err) => failure(&request.merchant_uid, None, "F500", &err.envelope_parts().2),
        };
        let imp_uid = rsp.get("imp_uid").and_then(Value::as_str).map(str::to_owned);
        window::finish(&self.db, id, imp_uid.as_deref(), &rsp.to_string(), now()).await?;
        Ok(Submitted::Done(rsp))
    }

    /// The customer closed the window: the payment is recorded as failed, never paid.
    pub async fn close_window(&self, id: &str, csrf: &str) -> ApiResult<Value> {
        let view = self.window_view(id).await?;
        check_csrf(&view.session, csrf)?;
        if let Some(result) = view.result {
            return Ok(result);
        }
        if !window::claim(&self.db, id, csrf, now()).await? {
            // Expired (or claimed by a submit that is still running): no payment to record.
            return Ok(failure(&view.request.merchant_uid, None, "F1002", USER_CANCELLED));
        }
        let request = &view.request;
        let now = now();
        let mut row = self.window_row(&view, now);
        row.status = "failed".to_owned();
        row.failed_at = now;
        row.fail_reason = Some(USER_CANCELLED.to_owned());
        let imp_uid = match payments::insert(&self.db, &row).await {
            Ok(true) => Some(row.imp_uid.clone()),
            Ok(false) | Err(StoreError::Conflict(_)) => None,
            Err(err) => return Err(err.into()),
        };
        let rsp = failure(&request.merchant_uid, imp_uid.as_deref(), "F1002", USER_CANCELLED);
        window::finish(&self.db, id, imp_uid.as_deref(), &rsp.to_string(), now).await?;
        Ok(rsp)
    }

    async fn complete(&self, view: &WindowView, card: CardInput, quota: i64) -> ApiResult<Value> {
        let session = &view.session;
        let request = &view.request;
        let merchant = MerchantId(session.merchant_id.clone());
        let channel = merchants::get_channel(&self.db, &session.merchant_id, &session.channel_id)
            .await?
            .ok_or_else(|| {
                ApiError::rejected("결제창의 PG 채널이 삭제되었습니다. (the channel was removed)")
            })?;
        if let Some(customer_uid) = &request.customer_uid {
            let issue = IssueKeyCommand {
                customer_uid: customer_uid.clone(),
                customer_id: request.customer_id.clone(),
                customer_name: request.buyer_name.clone(),
                customer_tel: request.buyer_tel.clone(),
                customer_email: request.buyer_email.clone(),
                customer_addr: request.buyer_addr.clone(),
                customer_postcode: request.buyer_postcode.clone(),
                ..IssueKeyCommand::default()
            };
            let masked = card.masked();
            let issued = self.issue_on_channel(&merchant, &channel, card, issue).await;
            let now = now();
            let mut row = self.window_row(view, now);
            let error = match &issued {
                Ok((stored, _)) => {
                    row.status = "paid".to_owned();
                    row.paid_at = now;
                    row.card_code = stored.card_code.clone();
                    row.card_name = stored.card_name.clone();
                    row.card_number = stored.card_number.clone();
                    row.card_type = stored.card_type;
                    None
                }
                Err(err) => {
                    let message = err.envelope_parts().2;
                    row.status = "failed".to_owned();
                    row.failed_at = now;
                    row.fail_reason = Some(message.clone());
                    row.card_number = Some(masked);
                    Some(message)
                }
            };
            match payments::insert(&self.db, &row).await {
                Ok(true) => {}
                Ok(false) => return Err(ApiError::rejected(
                    "사전등록된 결제정보와 일치하지 않습니다. (does not match the prepared order)",
                )),
                Err(StoreError::Conflict(_)) => return Err(ApiError::rejected(
                    "이미 결제가 완료된 주문번호(merchant_uid)입니다. (merchant_uid already paid)",
                )),
                Err(err) => return Err(err.into()),
            }
            let payment = crate::view::payment(&row, &[]);
            return Ok(match error {
                None => rsp_of(&payment, None),
                Some(message) => rsp_of(&payment, Some((error_code(&message), message.as_str()))),
            });
        }
        let mut order = order_fields(request, quota);
        order.card_quota = quota;
        let attempt = Attempt {
            merchant_id: session.merchant_id.clone(),
            channel,
            currency: openimp_core::money::check_currency(Some(&request.currency))?,
            customer_uid: None,
            usage: None,
            card_number: Some(card.masked()),
            channel_kind: if session.device == "mobile" { "mobile" } else { "pc" },
            pay_method: "card",
            user_agent: session.user_agent.clone(),
        };
        let payment = self.charge(attempt, order, PaymentSource::Keyed(card)).await?;
        Ok(charge_rsp(&payment))
    }
}

/// The callback's `rsp` for a charge made in the window.
fn charge_rsp(payment: &Payment) -> Value {
    match payment.status.as_str() {
        "paid" => rsp_of(payment, None),
        "failed" => {
            let reason = payment.fail_reason.clone().unwrap_or_default();
            rsp_of(payment, Some((error_code(&reason), reason.as_str())))
        }
        _ => rsp_of(
            payment,
            Some((
                "F0009".to_owned(),
                "PG 응답을 받지 못해 결제 결과를 확인 중입니다. GET /payments/{imp_uid}로 확인하세요. (outcome unknown, being settled)",
            )),
        ),
    }
}

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
    async fn submit_method(
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
                if HUB_PGS
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
        row.status = "ready".to_owned();
        row.method = method;
        let notify = self.webhook_for(&row.merchant_id, row.notice_url.as_deref(), None).await?;
        match payments::insert_notify(&self.db, &row, notify.as_ref()).await {
            Ok(true) => {}
            Ok(false) => {
                return Err(ApiError::rejected(
                    "사전등록된 결제정보와 일치하지 않습니다. (does not match the prepared order)",
                ))
            }
            Err(StoreError::Conflict(_)) => {
                return Err(ApiError::rejected(
                    "이미 결제가 진행 중이거나 완료된 주문번호(merchant_uid)입니다. (this merchant_uid is already paid or being charged)",
                ))
            }
            Err(err) => return Err(err.into()),
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
        let (connector, context) = self.connector_for(&channel)?;
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
        let pg_timeout = self.config.pg_timeout;
        let imp_uid = row.imp_uid.clone();
        tokio::spawn(async move {
            let outcome = tokio::time::timeout(pg_timeout, connector.charge(&context, request)).await;
            let approval = match outcome {
                Ok(Ok(ChargeOutcome::Approved(approval))) => approval,
                Ok(Ok(ChargeOutcome::Declined { code, message })) => {
                    return Err(ApiError::rejected(format!("[{code}] {message}")))
                }
                Ok(Err(err)) => return Err(ApiError::rejected(err.to_string())),
                Err(_) => {
                    return Err(ApiError::rejected(
                        "PG 응답을 받지 못했습니다. (no answer from the sandbox PG)",
                    ))
                }
            };
            let record = ApprovalRecord {
                receipt_url: Some(format!("/sandbox/receipts/{}", approval.pg_tid)),
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
        })
        .await
        .map_err(ApiError::internal)??;
        let row = payments::get(&self.db, &row.merchant_id, &row.imp_uid)
            .await?
            .ok_or_else(ApiError::payment_not_found)?;
        self.payment_view(&row).await
    }

    /// A payment row for a window that records without charging (issuance, close).
    fn window_row(&self, view: &WindowView, now: i64) -> PaymentRow {
        let request = &view.request;
        let session = &view.session;
        let issue = request.issues_key();
        PaymentRow {
            imp_uid: new_imp_uid(false),
            merchant_id: session.merchant_id.clone(),
            merchant_uid: request.merchant_uid.clone(),
            status: "pending".to_owned(),
            amount: if issue { 0 } else { request.amount },
            cancel_amount: 0,
            cancel_reserved: 0,
            tax_free: if issue { 0 } else { request.tax_free },
            vat_amount: if issue { None } else { request.vat_amount },
            currency: request.currency.clone(),
            pay_method: Some(request.pay_method.clone()),
            channel: Some(session.device.clone()),
            channel_id: Some(session.channel_id.clone()),
            pg_provider: Some(view.pg_provider.clone()).filter(|p| !p.is_empty()),
            pg_id: Some(view.pg_id.clone()).filter(|p| !p.is_empty()),
            pg_tid: None,
            apply_num: None,
            card_code: None,
            card_name: None,
            card_number: None,
            card_type: None,
            card_quota: 0,
            name: request.name.clone(),
            buyer_name: request.buyer_name.clone(),
            buyer_email: request.buyer_email.clone(),
            buyer_tel: request.buyer_tel.clone(),
            buyer_addr: request.buyer_addr.clone(),
            buyer_postcode: request.buyer_postcode.clone(),
            custom_data: request.custom_data.clone(),
            user_agent: session.user_agent.clone(),
            notice_url: request.notice_url.clone(),
            customer_uid: request.customer_uid.clone(),
            customer_uid_usage: issue.then(|| "issue".to_owned()),
            started_at: session.created_at,
            paid_at: 0,
            failed_at: 0,
            cancelled_at: 0,
            fail_reason: None,
            cancel_reason: None,
            receipt_url: None,
            updated_at: now,
            method: MethodDetails::default(),
        }
    }
}

fn check_csrf(session: &SessionRow, csrf: &str) -> ApiResult<()> {
    use sha2::{Digest, Sha256};
    // Compare digests so the comparison time says nothing about the token.
    if Sha256::digest(session.csrf_token.as_bytes()) == Sha256::digest(csrf.as_bytes()) {
        Ok(())
    } else {
        Err(ApiError::invalid("잘못된 요청입니다. 결제창을 다시 열어주세요. (bad CSRF token)"))
    }
}

/// `http(s)://host[:port]`, nothing else: the only target the result is posted to.
fn check_origin(origin: &str) -> ApiResult<String> {
    let origin = origin.trim();
    let rest = origin.strip_prefix("https://").or_else(|| origin.strip_prefix("http://"));
    match rest {
        Some(host)
            if !host.is_empty()
                && host.bytes().all(|b| b.is_ascii_alphanumeric() || b"-.:[]".contains(&b)) =>
        {
            Ok(origin.to_owned())
        }
        _ => Err(ApiError::invalid(
            "결제창은 http(s) 웹페이지에서만 열 수 있습니다. (the page's Origin is required)",
        )),
    }
}

fn order_fields(request: &WindowRequest, card_quota: i64) -> OrderFields {
    OrderFields {
        merchant_uid: request.merchant_uid.clone(),
        amount: request.amount,
        tax_free: request.tax_free,
        vat_amount: request.vat_amount,
        card_quota,
        currency: Some(request.currency.clone()),
        name: request.name.clone(),
        buyer_name: request.buyer_name.clone(),
        buyer_email: request.buyer_email.clone(),
        buyer_tel: request.buyer_tel.clone(),
        buyer_addr: request.buyer_addr.clone(),
        buyer_postcode: request.buyer_postcode.clone(),
        custom_data: request.custom_data.clone(),
        notice_url: request.notice_url.clone(),
    }
}

fn opt_string(params: &Map<String, Value>, key: &str) -> ApiResult<Option<String>> {
    match params.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.trim().to_owned()).filter(|s| !s.is_empty())),
        Some(Value::Number(n)) => Ok(Some(n.to_string())),
        Some(_) => {
            Err(ApiError::invalid(format!("{key}는 문자열이어야 합니다. ({key} must be a string)")))
        }
    }
}

fn opt_amount(params: &Map<String, Value>, key: &str) -> ApiResult<Option<i64>> {
    match params.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => match n.as_i64() {
            Some(v) if v >= 0 => Ok(Some(v)),
            _ => Err(ApiError::invalid(format!(
                "{key}는 0 이상의 정수여야 합니다. ({key} must be a non-negative integer)"
            ))),
        },
        Some(_) => {
            Err(ApiError::invalid(format!("{key}는 숫자여야 합니다. ({key} must be a number)")))
        }
    }
}

/// The SDK's parameters, checked as the original SDK and server do.
fn parse_request(params: &Map<String, Value>, pg: Option<String>) -> ApiResult<WindowRequest> {
    let merchant_uid = match params.get("merchant_uid") {
        Some(Value::String(s)) => s.clone(),
        _ => {
            return Err(ApiError::invalid(
                "merchant_uid는 문자열이어야 합니다. (merchant_uid must be a string)",
            ))
        }
    };
    let amount = match params.get("amount") {
        Some(Value::Number(_)) => opt_amount(params, "amount")?.unwrap_or(0),
        _ => return Err(ApiError::invalid("amount는 숫자여야 합니다. (amount must be a number)")),
    };
    let customer_uid = opt_string(params, "customer_uid")?;
    let pay_method = opt_string(params, "pay_method")?.unwrap_or_else(|| "card".to_owned());
    if pay_method != "card"
        && (customer_uid.is_some() || !PAY_METHODS.contains(&pay_method.as_str()))
    {
        let detail = if customer_uid.is_some() {
            "빌링키 발급 결제창은 pay_method 'card'만 지원합니다. (billing-key windows support pay_method 'card' only)".to_owned()
        } else {
            format!("지원하지 않는 결제수단입니다: {pay_method} (openimp's sandbox window supports pay_method {})", PAY_METHODS.join(", "))
        };
        return Err(ApiError::rejected(detail));
    }
    let currency =
        openimp_core::money::check_currency(opt_string(params, "currency")?.as_deref())?.to_owned();
    let custom_data = match params.get("custom_data") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(other) => Some(other.to_string()),
    };
    let notice_url = match params.get("notice_url") {
        // Several URLs: the first one is honoured (one webhook target per payment).
        Some(Value::Array(urls)) => urls.iter().find_map(Value::as_str).map(str::to_owned),
        _ => opt_string(params, "notice_url")?,
    };
    let m_redirect_url = opt_string(params, "m_redirect_url")?;
    let vbank_due = match opt_string(params, "vbank_due")?.filter(|_| pay_method == "vbank") {
        None => None,
        Some(due) => match parse_vbank_due(&due) {
            Some(at) if at > now() => Some(at),
            Some(_) => {
                return Err(ApiError::invalid(format!(
                    "vbank_due {due}: 입금기한이 이미 지났습니다. (the deposit deadline is in the past)"
                )))
            }
            None => {
                return Err(ApiError::invalid(format!(
                    "vbank_due {due}: YYYY-MM-DD, YYYYMMDD, YYYY-MM-DD HH:mm:ss 또는 YYYYMMDDHHmmss 형식이어야 합니다. (bad vbank_due)"
                )))
            }
        },
    };
    if let Some(url) = &m_redirect_url {
        if !(url.starts_with("http://") || url.starts_with("https://")) {
            return Err(ApiError::invalid(
                "m_redirect_url은 http(s) URL이어야 합니다. (m_redirect_url must be an http(s) URL)",
            ));
        }
    }
    let quota_options = if amount < INSTALMENT_MIN_AMOUNT {
        Vec::new()
    } else {
        match params.get("display").and_then(|d| d.get("card_quota")) {
            Some(Value::Array(months)) => {
                let mut months: Vec<i64> = months
                    .iter()
                    .filter_map(Value::as_i64)
                    .filter(|m| (2..=36).contains(m))
                    .collect();
                months.sort_unstable();
                months.dedup();
                months
            }
            _ => (2..=12).collect(),
        }
    };
    let card = params.get("card");
    let direct = card.and_then(|c| c.get("direct")).filter(|d| d.is_object());
    let direct_code = match direct.and_then(|d| d.get("code")) {
        None => None,
        Some(code) => {
            let code = code.as_str().map(str::to_owned).unwrap_or_else(|| code.to_string());
            if card_company_by_code(&code).is_none() {
                return Err(ApiError::invalid(format!(
                    "card.direct.code {code}: 알 수 없는 카드사 코드입니다. (unknown card company code)"
                )));
            }
            Some(code)
        }
    };
    let direct_quota = direct.and_then(|d| d.get("quota")).and_then(Value::as_i64).unwrap_or(0);
    let direct_quota =
        if direct_quota >= 2 && amount >= INSTALMENT_MIN_AMOUNT { direct_quota } else { 0 };
    let mut enabled: Vec<(String, bool)> =
        CARD_CODES.iter().map(|code| ((*code).to_owned(), true)).collect();
    if let Some(Value::Array(details)) = card.and_then(|c| c.get("detail")) {
        for detail in details {
            let code = detail.get("card_code").and_then(Value::as_str).unwrap_or("");
            let on = detail.get("enabled").and_then(Value::as_bool).unwrap_or(true);
            for (c, state) in enabled.iter_mut() {
                if code == "*" || code == c {
                    *state = on;
                }
            }
        }
    }
    let mut enabled_cards: Vec<String> =
        enabled.into_iter().filter(|(_, on)| *on).map(|(c, _)| c).collect();
    if let Some(code) = &direct_code {
        enabled_cards = vec![code.clone()];
    }
    if enabled_cards.is_empty() {
        return Err(ApiError::invalid(
            "card.detail이 모든 카드사를 비활성화했습니다. (card.detail disables every card company)",
        ));
    }
    Ok(WindowRequest {
        pg,
        pay_method,
        merchant_uid,
        name: opt_string(params, "name")?,
        amount,
        tax_free: opt_amount(params, "tax_free")?.unwrap_or(0),
        vat_amount: opt_amount(params, "vat_amount")?.or(opt_amount(params, "vat")?),
        currency,
        customer_uid,
        customer_id: opt_string(params, "customer_id")?,
        buyer_name: opt_string(params, "buyer_name")?,
        buyer_email: opt_string(params, "buyer_email")?,
        buyer_tel: opt_string(params, "buyer_tel")?,
        buyer_addr: opt_string(params, "buyer_addr")?,
        buyer_postcode: opt_string(params, "buyer_postcode")?,
        custom_data,
        notice_url,
        m_redirect_url,
        quota_options,
        direct_code,
        direct_quota,
        enabled_cards,
        vbank_due,
    })
}

/// The form's card, with the expiry typed as `MM/YY`.
fn parse_card(form: &CardForm) -> ApiResult<CardInput> {
    let expiry = form.expiry.as_deref().map(str::trim).unwrap_or("");
    let digits: String = expiry.chars().filter(char::is_ascii_digit).collect();
    let expiry = if expiry.contains('-') && digits.len() == 6 {
        format!("{}-{}", &digits[..4], &digits[4..])
    } else if digits.len() == 4 {
        format!("20{}-{}", &digits[2..], &digits[..2])
    } else if expiry.is_empty() {
        String::new()
    } else {
        return Err(ApiError::invalid(
            "유효기간은 MM/YY 형식으로 입력하세요. (expiry must be MM/YY)",
        ));
    };
    let birth = form.birth.as_deref().map(str::trim).unwrap_or("");
    if birth.is_empty() {
        return Err(ApiError::invalid(
            "생년월일 6자리 또는 사업자번호 10자리를 입력하세요. (birth date or business number is required)",
        ));
    }
    let pwd = form.pwd_2digit.as_deref().map(str::trim).unwrap_or("");
    if pwd.is_empty() {
        return Err(ApiError::invalid(
            "비밀번호 앞 2자리를 입력하세요. (the first two password digits are required)",
        ));
    }
    CardInput::parse(
        RawCard {
            card_number: form.card_number.as_deref(),
            expiry: Some(&expiry),
            birth: Some(birth),
            pwd_2digit: Some(pwd),
        },
        chrono::Utc::now().date_naive(),
    )
}

/// The PG's code from a `[51] 잔액부족`-style reason, else a generic one.
fn error_code(reason: &str) -> String {
    reason
        .find('[')
        .and_then(|start| {
            let rest = &reason[start + 1..];
            rest.find(']').map(|end| rest[..end].to_owned())
        })
        .filter(|code| !code.is_empty() && code.len() <= 8)
        .unwrap_or_else(|| "F400".to_owned())
}

/// A failure `rsp` with no payment behind it (or only its id).
pub fn failure(merchant_uid: &str, imp_uid: Option<&str>, code: &str, message: &str) -> Value {
    json!({
        "success": false,
        "imp_success": false,
        "imp_uid": imp_uid,
        "merchant_uid": merchant_uid,
        "error_code": code,
        "error_msg": message,
    })
}

/// The callback's `rsp` for a recorded payment (reference §9.5).
fn rsp_of(payment: &Payment, error: Option<(String, &str)>) -> Value {
    let custom_data = payment
        .custom_data
        .as_deref()
        .map(|s| serde_json::from_str::<Value>(s).unwrap_or_else(|_| Value::String(s.to_owned())));
    let mut rsp = json!({
        "success": error.is_none(),
        "imp_success": error.is_none(),
        "imp_uid": payment.imp_uid,
        "merchant_uid": payment.merchant_uid,
        "pay_method": payment.pay_method,
        "paid_amount": if payment.status == "paid" { payment.amount } else { 0 },
        "status": payment.status,
        "name": payment.name,
        "pg_provider": payment.pg_provider,
        "emb_pg_provider": payment.emb_pg_provider,
        "pg_tid": payment.pg_tid,
        "pg_type": "payment",
        "buyer_name": payment.buyer_name,
        "buyer_email": payment.buyer_email,
        "buyer_tel": payment.buyer_tel,
        "buyer_addr": payment.buyer_addr,
        "buyer_postcode": payment.buyer_postcode,
        "custom_data": custom_data,
        "paid_at": payment.paid_at,
        "receipt_url": payment.receipt_url,
        "currency": payment.currency,
        "apply_num": payment.apply_num,
        "card_name": payment.card_name,
        "card_number": payment.card_number,
        "card_quota": payment.card_quota,
        "customer_uid": payment.customer_uid,
        "customer_uid_usage": payment.customer_uid_usage,
        "bank_code": payment.bank_code,
        "bank_name": payment.bank_name,
        "vbank_code": payment.vbank_code,
        "vbank_name": payment.vbank_name,
        "vbank_num": payment.vbank_num,
        "vbank_holder": payment.vbank_holder,
        "vbank_date": payment.vbank_date,
        "vbank_issued_at": payment.vbank_issued_at,
    });
    if let (Some((code, message)), Some(map)) = (error, rsp.as_object_mut()) {
        map.insert("error_code".to_owned(), Value::String(code));
        map.insert("error_msg".to_owned(), Value::String(message.to_owned()));
    }
    rsp
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(value: Value) -> Map<String, Value> {
        value.as_object().cloned().unwrap()
    }

    #[test]
    fn types_are_checked_like_the_sdk() {
        let err = parse_request(&params(json!({"merchant_uid": 5, "amount": 100})), None);
        assert!(err.is_err());
        let err = parse_request(&params(json!({"merchant_uid": "a", "amount": "100"})), None);
        assert!(err.is_err());
        let ok = parse_request(&params(json!({"merchant_uid": "a", "amount": 100})), None).unwrap();
        assert_eq!(ok.pay_method, "card");
        assert!(ok.quota_options.is_empty(), "no instalments under 50,000 KRW");
    }

    #[test]
    fn card_detail_and_direct() {
        let req = parse_request(
            &params(json!({"merchant_uid": "a", "amount": 60000,
                "display": {"card_quota": [6, 3]},
                "card": {"detail": [{"card_code": "*", "enabled": false}, {"card_code": "366", "enabled": true}]}})),
            None,
        )
        .unwrap();
        assert_eq!(req.enabled_cards, vec!["366"]);
        assert_eq!(req.quota_options, vec![3, 6]);
        let req = parse_request(
            &params(json!({"merchant_uid": "a", "amount": 60000, "card": {"direct": {"code": "367", "quota": 3}}})),
            None,
        )
        .unwrap();
        assert_eq!(req.direct_code.as_deref(), Some("367"));
        assert_eq!(req.direct_quota, 3);
    }

    #[test]
    fn pay_methods_and_vbank_due() {
        let req = |extra: Value| {
            let mut p = params(json!({"merchant_uid": "a", "amount": 1000}));
            p.extend(params(extra));
            parse_request(&p, None)
        };
        for method in ["trans", "vbank", "phone", "kakaopay", "samsung", "kpay"] {
            assert_eq!(req(json!({"pay_method": method})).unwrap().pay_method, method);
        }
        assert!(req(json!({"pay_method": "paypal"})).is_err());
        assert!(req(json!({"pay_method": "trans", "customer_uid": "c1"})).is_err());
        // 2030-12-31 18:00:00 KST = 09:00 UTC.
        let six_pm = 1_924_938_000;
        assert_eq!(parse_vbank_due("2030-12-31 18:00:00"), Some(six_pm));
        assert_eq!(parse_vbank_due("20301231180000"), Some(six_pm));
        assert_eq!(parse_vbank_due("2030-12-31"), Some(six_pm + 6 * 3600 - 1));
        assert_eq!(parse_vbank_due("20301231"), Some(six_pm + 6 * 3600 - 1));
        assert_eq!(parse_vbank_due("2030/12/31"), None);
        let due = req(json!({"pay_method": "vbank", "vbank_due": 20301231})).unwrap();
        assert_eq!(due.vbank_due, Some(six_pm + 6 * 3600 - 1));
        assert!(req(json!({"pay_method": "vbank", "vbank_due": "20200101"})).is_err());
        assert!(req(json!({"pay_method": "vbank", "vbank_due": "soon"})).is_err());
    }

    #[test]
    fn expiry_forms() {
        let form = |expiry: &str| CardForm {
            card_number: Some("4092-0230-1234-5678".into()),
            expiry: Some(expiry.into()),
            birth: Some("820213".into()),
            pwd_2digit: Some("00".into()),
            ..CardForm::default()
        };
        assert_eq!(parse_card(&form("12/39")).unwrap().expiry_year, 2039);
        assert_eq!(parse_card(&form("2039-12")).unwrap().expiry_month, 12);
        assert!(parse_card(&form("1/1/1")).is_err());
        assert_eq!(error_code("[51] 잔액부족"), "51");
    }
}
