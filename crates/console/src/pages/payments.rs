//! 결제내역: the search (merchant_uid, imp_uid, customer_uid, status, pay method, PG, dates),
//! a payment's whole history (attempts of its merchant_uid, approval, cancels, the webhooks sent
//! and their answers), and 결제취소 through the gateway's cancel (the REST API's rules, the
//! cancelled webhook).

use std::collections::HashMap;

use axum::extract::{Path, Query};
use axum::http::{StatusCode, Uri};
use axum::response::Response;
use minijinja::context;
use openimp_core::wire::Paged;
use openimp_service::cancel::CancelCommand;
use openimp_store::payments::{self, PaymentFilter, Sorting};
use openimp_store::webhooks::OutboxFilter;

use super::settings::{done_notice, PROVIDERS};
use super::{
    field, frame, kst_day_start, message, page_number, query_without_page, see_other,
    MerchantChange, MerchantPage, PAGE_SIZE,
};
use crate::audit;
use crate::i18n::text;
use crate::render::Notice;
use crate::session::{Refusal, Scope, Signed};
use crate::ConsoleState;

/// The pay methods a search can pick.
const PAY_METHODS: &[&str] =
    &["card", "trans", "vbank", "phone", "kakaopay", "naverpay", "payco", "tosspay"];

/// `GET .../payments`.
pub async fn list(page: MerchantPage, Query(query): Query<HashMap<String, String>>) -> Response {
    let MerchantPage { state, signed, scope, uri } = page;
    let get = |name: &str| query.get(name).map(|v| v.trim().to_owned()).filter(|v| !v.is_empty());
    let mut notice = None;
    let mut date = |name: &str| match get(name) {
        None => None,
        Some(text_value) => {
            let parsed = kst_day_start(&text_value);
            if parsed.is_none() {
                notice = Some(Notice::error(text(signed.lang, "msg_bad_date")));
            }
            parsed
        }
    };
    let from = date("from");
    // The end date is inclusive: up to the last second of that KST day.
    let to = date("to").map(|start| start + 86_399);
    let status =
        get("status").filter(|s| ["ready", "paid", "failed", "cancelled"].contains(&s.as_str()));
    let filter = PaymentFilter {
        merchant_uid: get("merchant_uid"),
        imp_uid: get("imp_uid"),
        customer_uid: get("customer_uid"),
        status,
        pay_method: get("pay_method"),
        pg_provider: get("pg"),
        time_range: if from.is_some() || to.is_some() {
            Some(("started_at", from.unwrap_or(0), to.unwrap_or(i64::MAX / 2)))
        } else {
            None
        },
    };
    let page = page_number(&query);
    let found = payments::list(
        &state.gateway.db,
        scope.code(),
        &filter,
        Sorting::StartedDesc,
        page,
        PAGE_SIZE,
    )
    .await;
    let Ok((rows, total)) = found else {
        return super::refuse(&state, &signed, uri.path(), Refusal::Unavailable);
    };
    let Ok(views) = state.gateway.payment_views(&rows).await else {
        return super::refuse(&state, &signed, uri.path(), Refusal::Unavailable);
    };
    let extra = context! {
        paged => Paged::new(views, total, page, PAGE_SIZE),
        q => query.clone(),
        query => query_without_page(&query),
        pay_methods => PAY_METHODS,
        providers => PROVIDERS,
    };
    frame(&signed, &scope, "payments", &uri, notice).render(
        &state.templates,
        StatusCode::OK,
        "payments.html",
        extra,
    )
}

/// Renders a payment's page (also after a refused cancel, with its message).
async fn render_payment(
    state: &ConsoleState,
    signed: &Signed,
    scope: &Scope,
    imp_uid: &str,
    uri: &Uri,
    notice: Option<Notice>,
    status: StatusCode,
) -> Response {
    let payment = match state.gateway.get_payment(&scope.id, imp_uid).await {
        Ok(payment) => payment,
        Err(openimp_core::ApiError::NotFound(_)) => {
            return super::refuse(state, signed, uri.path(), Refusal::NotFound)
        }
        Err(_) => return super::refuse(state, signed, uri.path(), Refusal::Unavailable),
    };
    let attempts = match state
        .gateway
        .find_all_payments(
            &scope.id,
            &payment.merchant_uid,
            None,
            Sorting::StartedAsc,
            openimp_service::lookup::Page { page: 1, limit: 100 },
        )
        .await
    {
        Ok(paged) => paged.list,
        Err(_) => vec![payment.clone()],
    };
    let filter = OutboxFilter {
        merchant_id: Some(scope.code().to_owned()),
        imp_uid: Some(payment.imp_uid.clone()),
        ..OutboxFilter::default()
    };
    let webhooks = match state.gateway.list_webhooks(&filter, 1, 100).await {
        Ok(paged) => paged.list,
        Err(_) => return super::refuse(state, signed, uri.path(), Refusal::Unavailable),
    };
    let balance = payment.amount - payment.cancel_amount;
    let extra = context! {
        p => payment,
        attempts => attempts,
        webhooks => webhooks,
        show_resend => false,
        balance => balance,
    };
    frame(signed, scope, "payments", uri, notice).render(
        &state.templates,
        status,
        "payment.html",
        extra,
    )
}

/// `GET .../payments/{imp_uid}`.
pub async fn page(
    page: MerchantPage,
    Path((_, imp_uid)): Path<(String, String)>,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let MerchantPage { state, signed, scope, uri } = page;
    let notice = done_notice(signed.lang, &query);
    render_payment(&state, &signed, &scope, &imp_uid, &uri, notice, StatusCode::OK).await
}

/// `POST .../payments/{imp_uid}/cancel`: full (no amount) or partial, with a reason. The
/// balance the page showed goes along as the checksum, so a second press of the button (or a
/// cancel made meanwhile elsewhere) is refused instead of refunding twice.
pub async fn cancel(
    Path((_, imp_uid)): Path<(String, String)>,
    change: MerchantChange,
) -> Response {
    let MerchantChange { state, signed, scope, uri, form } = change;
    let page_uri: Uri = format!("/console/m/{}/payments/{}", scope.code(), urlencode(&imp_uid))
        .parse()
        .unwrap_or(uri);
    let number = |name: &str| field(&form, name).map(|v| v.replace(',', "").parse::<i64>());
    let (Ok(amount), Ok(checksum)) = (number("amount").transpose(), number("checksum").transpose())
    else {
        let notice = Some(Notice::error(text(signed.lang, "msg_bad_amount")));
        return render_payment(
            &state,
            &signed,
            &scope,
            &imp_uid,
            &page_uri,
            notice,
            StatusCode::UNPROCESSABLE_ENTITY,
        )
        .await;
    };
    let reason = field(&form, "reason").map(str::to_owned);
    let command = CancelCommand {
        imp_uid: Some(imp_uid.clone()),
        amount,
        checksum,
        reason: reason.clone(),
        ..CancelCommand::default()
    };
    match state.gateway.cancel_payment(&scope.id, command).await {
        Ok(payment) => {
            let cancelled = payment.cancel_history.last().map_or(0, |c| c.amount);
            let detail = format!(
                "{cancelled} KRW ({}) reason: {}",
                if payment.status == "cancelled" { "now fully cancelled" } else { "partial" },
                reason.as_deref().unwrap_or("취소요청")
            );
            audit::record(&state, &signed, Some(scope.code()), "payment.cancel", &imp_uid, detail)
                .await;
            see_other(&format!("{}?done=cancelled", page_uri.path()))
        }
        Err(err @ openimp_core::ApiError::NotFound(_)) => {
            tracing::debug!(%err, "console cancel of an unknown payment");
            super::refuse(&state, &signed, page_uri.path(), Refusal::NotFound)
        }
        Err(err) => {
            let notice = Some(Notice::error(message(&err)));
            render_payment(
                &state,
                &signed,
                &scope,
                &imp_uid,
                &page_uri,
                notice,
                StatusCode::UNPROCESSABLE_ENTITY,
            )
            .await
        }
    }
}

/// A path segment, percent-encoded.
pub fn urlencode(segment: &str) -> String {
    form_urlencoded::byte_serialize(segment.as_bytes()).collect::<String>().replace('+', "%20")
}
