//! The window session's lifecycle: opened from the SDK's request (the checks that refuse before
//! a window opens), viewed, closed by the customer; the CSRF and origin checks.

use openimp_core::card::card_company_by_code;
use openimp_core::ids::{new_imp_uid, random_hex};
use openimp_core::order::Order;
use openimp_core::states::{KeyUsage, PaymentStatus};
use openimp_core::time::now;
use openimp_core::ApiError;
use openimp_store::merchants::{self, ChannelRow};
use openimp_store::payments::{self, PaymentRow};
use openimp_store::window::{self, SessionRow};
use serde_json::Value;

use super::request::{opt_string, parse_request};
use super::rsp::{failure, order_fields};
use super::{OpenCommand, Opened, WindowRequest, WindowView, SESSION_TTL_SECS, USER_CANCELLED};
use crate::{ApiResult, Gateway, MerchantId};

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
            openimp_core::order::check_merchant_uid(&request.merchant_uid)?;
            // Nothing is charged: the issuance record is amount 0, and so is what a prepared
            // merchant_uid must say.
            self.check_prepared(merchant_id.as_str(), &request.merchant_uid, 0, &request.currency)
                .await?;
        } else {
            order_fields(&request, 0).check()?;
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
        // A billing-key window charges nothing: its record is amount 0.
        let order = if issue {
            Order::new(request.merchant_uid.clone(), 0)
        } else {
            order_fields(request, 0)
        };
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
