//! The window session's lifecycle: opened from the SDK's request (the checks that refuse before
//! a window opens), viewed, closed by the customer; the CSRF and origin checks.

use openimp_core::card::card_company_by_code;
use openimp_core::ids::{new_imp_uid, random_hex};
use openimp_core::states::{KeyUsage, PaymentStatus};
use openimp_core::time::now;
use openimp_core::ApiError;
use openimp_store::customers::{self, Replace};
use openimp_store::merchants::{self, ChannelRow};
use openimp_store::payments::{self, PaymentRow};
use openimp_store::prepares;
use openimp_store::window::{self, SessionRow};
use serde_json::Value;

use super::request::{opt_string, parse_request};
use super::rsp::{charge_rsp, failure, order_fields};
use super::{OpenCommand, Opened, WindowRequest, WindowView, USER_CANCELLED};
use crate::channels::ChannelChoice;
use crate::{ApiResult, Gateway, MerchantId};

/// How long a finished session (its result page) is kept.
pub const FINISHED_RETENTION_SECS: i64 = 24 * 3600;

/// Fields a channel's PG window requires (the provider's rules are openimp-pg's:
/// KG Inicis needs `buyer_tel`).
fn check_channel_fields(channel: &ChannelRow, request: &WindowRequest) -> ApiResult<()> {
    if openimp_pg::registry::window_requires_buyer_tel(&channel.pg_provider)
        && request.buyer_tel.is_none()
    {
        return Err(ApiError::invalid(
            "KG이니시스 결제창은 구매자 연락처(buyer_tel)가 필수입니다. (buyer_tel is required by the KG Inicis window)",
        ));
    }
    Ok(())
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
        let channel_key = opt_string(&params, "channelKey")?;
        let choice = ChannelChoice::new(channel_key.as_deref(), pg.as_deref());
        let channel = self.resolve_channel(merchant_id.as_str(), choice).await?;
        self.connector_for(&channel)?;
        let request = parse_request(&params, pg)?;
        check_channel_fields(&channel, &request)?;
        self.check_notice_url(request.notice_url.as_deref()).await?;
        // Every amount rule (the per-charge maximum too), as REST charges check them. An
        // issuance window charges nothing: its amount (often 0) is only checked when shown.
        if !request.issues_key() || request.amount != 0 {
            order_fields(&request, 0).check()?;
        }
        if let Some(customer_uid) = request.customer_uid.as_deref() {
            crate::billing::check_customer_uid(customer_uid)?;
            openimp_core::order::check_merchant_uid(&request.merchant_uid)?;
            // Nothing is charged: the issuance record is amount 0, and so is what a prepared
            // merchant_uid must say.
            self.check_prepared(merchant_id.as_str(), &request.merchant_uid, 0, &request.currency)
                .await?;
            self.check_window_may_issue(merchant_id.as_str(), &request).await?;
        } else {
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
            && !(request.issues_key()
                && openimp_pg::registry::key_window_calls_back_on_mobile(&channel.pg_provider));
        let now = now();
        // Expired unused sessions go when they expire; open ones are capped per merchant.
        window::delete_expired_of(&self.db, merchant_id.as_str(), now).await?;
        let open = window::count_open(&self.db, merchant_id.as_str(), now).await?;
        if open >= self.config.window_sessions_per_merchant {
            return Err(ApiError::rejected(format!(
                "열려 있는 결제창이 너무 많습니다(가맹점당 {}개). 잠시 후 다시 시도해주세요. (too many open payment windows for this merchant)",
                self.config.window_sessions_per_merchant
            )));
        }
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
            expires_at: now + self.config.window_session_ttl_secs,
            updated_at: now,
            pg_state: None,
        };
        window::insert(&self.db, &session).await?;
        Ok(Opened { id: session.id, mode: session.mode })
    }

    /// A billing-key window may write a customer_uid that has no live key; replacing a live
    /// key needs the merchant's server to have prepared the window's merchant_uid (an
    /// authenticated `POST /payments/prepare`, amount 0), since anyone who knows the merchant
    /// code can open a window. Checked when the window opens and again when the card comes
    /// back (the store re-checks atomically when [`Replace::Refused`]).
    pub(super) async fn check_window_may_issue(
        &self,
        merchant_id: &str,
        request: &WindowRequest,
    ) -> ApiResult<Replace> {
        let customer_uid = request.customer_uid.as_deref().unwrap_or_default();
        if prepares::get(&self.db, merchant_id, &request.merchant_uid).await?.is_some() {
            return Ok(Replace::Allowed);
        }
        if customers::get(&self.db, merchant_id, customer_uid).await?.is_some() {
            return Err(crate::billing::live_key_refusal());
        }
        Ok(Replace::Refused)
    }

    /// Housekeeping (the reconciler's loop): unused sessions go once expired, finished (or
    /// stuck) ones after [`FINISHED_RETENTION_SECS`] (the payment itself is kept).
    pub async fn purge_window_sessions(&self) -> ApiResult<u64> {
        let now = now();
        let expired = window::delete_expired(&self.db, now).await?;
        let finished = window::delete_finished(&self.db, now - FINISHED_RETENTION_SECS).await?;
        Ok(expired + finished)
    }

    /// The session and what its page shows. Unknown ids are a 404.
    pub async fn window_view(&self, id: &str) -> ApiResult<WindowView> {
        let session = window::get(&self.db, id).await?.ok_or_else(|| {
            ApiError::not_found(
                "존재하지 않거나 유효시간이 지난 결제창입니다. (unknown or expired window)",
            )
        })?;
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
            None if self.is_stuck(&session) => Some(self.stuck_result(&session, &request).await?),
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

    /// A session claimed by a submit that never finished (the server stopped between the
    /// claim and the result): a submit waits at most the PG timeout, so twice that is enough.
    fn is_stuck(&self, session: &SessionRow) -> bool {
        let pg_timeout = i64::try_from(self.config.pg_timeout.as_secs()).unwrap_or(i64::MAX);
        session.state == "processing"
            && now().saturating_sub(session.updated_at) > pg_timeout.saturating_mul(2)
    }

    /// What a stuck session shows: the payment its submit recorded (the reconciler settles a
    /// pending one; the page shows it as it stands), else that nothing was paid.
    async fn stuck_result(
        &self,
        session: &SessionRow,
        request: &WindowRequest,
    ) -> ApiResult<Value> {
        let filter = payments::PaymentFilter {
            merchant_uid: Some(request.merchant_uid.clone()),
            ..Default::default()
        };
        let (rows, _) = payments::list(
            &self.db,
            &session.merchant_id,
            &filter,
            payments::Sorting::StartedDesc,
            1,
            20,
        )
        .await?;
        match rows.iter().find(|row| row.started_at >= session.created_at) {
            Some(row) => Ok(charge_rsp(&self.payment_view(row).await?)),
            None => Ok(failure(
                &request.merchant_uid,
                None,
                "F500",
                "결제가 완료되지 않았습니다. 다시 시도해주세요. (the window stopped before a payment was recorded)",
            )),
        }
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
        row.status = PaymentStatus::Failed;
        row.failed_at = now;
        row.fail_reason = Some(USER_CANCELLED.to_owned());
        // Refused (the merchant_uid was taken meanwhile): the window ends with no payment.
        let imp_uid = match payments::insert_attempt(&self.db, &mut row, None).await? {
            Ok(()) => Some(row.imp_uid.clone()),
            Err(_) => None,
        };
        let rsp = failure(&request.merchant_uid, imp_uid.as_deref(), "F1002", USER_CANCELLED);
        window::finish(&self.db, id, imp_uid.as_deref(), &rsp.to_string(), now).await?;
        Ok(rsp)
    }
    /// A payment row for a window that records without charging (issuance, close).
    pub(super) fn window_row(&self, view: &WindowView, now: i64) -> PaymentRow {
        let request = &view.request;
        let session = &view.session;
        let issue = request.issues_key();
        // A billing-key window charges nothing: its record is amount 0, with the buyer, name,
        // custom_data and notice_url of the request all the same.
        let mut order = order_fields(request, 0);
        if issue {
            order.amounts = openimp_core::money::ChargeAmounts {
                amount: 0,
                tax_free: 0,
                vat_amount: None,
                card_quota: 0,
            };
        }
        PaymentRow {
            pay_method: Some(request.pay_method.clone()),
            channel: Some(session.device.clone()),
            channel_id: Some(session.channel_id.clone()),
            pg_provider: Some(view.pg_provider.clone()).filter(|p| !p.is_empty()),
            pg_id: Some(view.pg_id.clone()).filter(|p| !p.is_empty()),
            user_agent: session.user_agent.clone(),
            customer_uid: request.customer_uid.clone(),
            customer_uid_usage: issue.then_some(KeyUsage::Issue),
            started_at: session.created_at,
            ..PaymentRow::for_order(
                new_imp_uid(false),
                &session.merchant_id,
                &order,
                &request.currency,
                now,
            )
        }
    }
}

pub(super) fn check_csrf(session: &SessionRow, csrf: &str) -> ApiResult<()> {
    use sha2::{Digest, Sha256};
    // Compare digests so the comparison time says nothing about the token.
    if Sha256::digest(session.csrf_token.as_bytes()) == Sha256::digest(csrf.as_bytes()) {
        Ok(())
    } else {
        Err(ApiError::invalid("잘못된 요청입니다. 결제창을 다시 열어주세요. (bad CSRF token)"))
    }
}

/// `http(s)://host[:port]`, nothing else: the only target the result is posted to.
pub(super) fn check_origin(origin: &str) -> ApiResult<String> {
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
