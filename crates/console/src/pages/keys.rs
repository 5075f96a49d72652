//! 빌링키 (list, search, a key's page with its payments and schedules, delete) and 예약결제
//! (upcoming and executed by date, a schedule's page, revoke). Deletion and revocation go
//! through the gateway (a deleted key's schedules are revoked with it, at the PG too).

use std::collections::HashMap;

use axum::extract::{Path, Query};
use axum::http::{StatusCode, Uri};
use axum::response::Response;
use minijinja::context;
use openimp_core::time::now;
use openimp_core::wire::Paged;
use openimp_core::wire::ScheduleResult;
use openimp_core::ApiError;
use openimp_service::schedule::view;
use openimp_store::customers;
use openimp_store::schedules::{self, ScheduleFilter};

use super::settings::done_notice;
use super::{
    frame, kst_day_start, message, page_number, query_without_page, see_other, MerchantChange,
    MerchantPage, PAGE_SIZE,
};
use crate::audit;
use crate::i18n::text;
use crate::pages::payments::urlencode;
use crate::render::Notice;
use crate::session::{Refusal, Scope, Signed};
use crate::ConsoleState;

/// How many schedules one section of a page lists.
const SCHEDULES_SHOWN: i64 = 100;

/// `GET .../billing-keys?q=`.
pub async fn list(page: MerchantPage, Query(query): Query<HashMap<String, String>>) -> Response {
    let MerchantPage { state, signed, scope, uri } = page;
    let search = query.get("q").map(|q| q.trim()).filter(|q| !q.is_empty());
    let page = page_number(&query);
    let Ok((rows, total)) =
        customers::list(&state.gateway.db, scope.code(), search, page, PAGE_SIZE).await
    else {
        return super::refuse(&state, &signed, uri.path(), Refusal::Unavailable);
    };
    let keys: Vec<_> = rows.iter().map(openimp_service::view::customer).collect();
    let extra = context! {
        paged => Paged::new(keys, total, page, PAGE_SIZE),
        q => search.unwrap_or(""),
        query => query_without_page(&query),
    };
    let notice = done_notice(signed.lang, &query);
    frame(&signed, &scope, "billing_keys", &uri, notice).render(
        &state.templates,
        StatusCode::OK,
        "billing_keys.html",
        extra,
    )
}

async fn schedules_of(
    state: &ConsoleState,
    scope: &Scope,
    filter: ScheduleFilter,
) -> Result<Vec<ScheduleResult>, openimp_store::StoreError> {
    let (rows, _) =
        schedules::list(&state.gateway.db, scope.code(), &filter, 1, SCHEDULES_SHOWN).await?;
    Ok(rows.iter().map(view).collect())
}

/// `GET .../billing-keys/{customer_uid}`.
pub async fn page(page: MerchantPage, Path((_, customer_uid)): Path<(String, String)>) -> Response {
    let MerchantPage { state, signed, scope, uri } = page;
    let found = customers::get_with_channel(&state.gateway.db, scope.code(), &customer_uid).await;
    let (row, channel) = match found {
        Ok(Some(found)) => found,
        Ok(None) => return super::refuse(&state, &signed, uri.path(), Refusal::NotFound),
        Err(_) => return super::refuse(&state, &signed, uri.path(), Refusal::Unavailable),
    };
    let payments = match state.gateway.billing_key_payments(&scope.id, &customer_uid, 1, 100).await
    {
        Ok(paged) => paged.list,
        Err(_) => return super::refuse(&state, &signed, uri.path(), Refusal::Unavailable),
    };
    let filter = ScheduleFilter {
        customer_uid: Some(customer_uid.clone()),
        schedule_status: None,
        from: 0,
        to: i64::MAX / 2,
        oldest_first: false,
    };
    let Ok(schedules) = schedules_of(&state, &scope, filter).await else {
        return super::refuse(&state, &signed, uri.path(), Refusal::Unavailable);
    };
    let extra = context! {
        k => openimp_service::view::customer(&row),
        channel_key => channel.map(|c| c.channel_key),
        payments => payments,
        schedules => schedules,
    };
    frame(&signed, &scope, "billing_keys", &uri, None).render(
        &state.templates,
        StatusCode::OK,
        "billing_key.html",
        extra,
    )
}

/// `POST .../billing-keys/{customer_uid}/delete`.
pub async fn delete(
    Path((_, customer_uid)): Path<(String, String)>,
    change: MerchantChange,
) -> Response {
    let MerchantChange { state, signed, scope, uri, .. } = change;
    match state.gateway.delete_billing_key(&scope.id, &customer_uid).await {
        Ok(key) => {
            let detail = format!(
                "{} {}.{}",
                key.card_number.as_deref().unwrap_or("-"),
                key.pg_provider,
                key.pg_id
            );
            audit::record(
                &state,
                &signed,
                Some(scope.code()),
                "billing_key.delete",
                &customer_uid,
                detail,
            )
            .await;
            see_other(&format!("/console/m/{}/billing-keys?done=key_deleted", scope.code()))
        }
        Err(ApiError::NotFound(_)) => super::refuse(&state, &signed, uri.path(), Refusal::NotFound),
        Err(err) => {
            let notice = Some(Notice::error(message(&err)));
            let page_uri: Uri =
                format!("/console/m/{}/billing-keys", scope.code()).parse().unwrap_or(uri);
            frame(&signed, &scope, "billing_keys", &page_uri, notice).render(
                &state.templates,
                StatusCode::UNPROCESSABLE_ENTITY,
                "billing_keys.html",
                context! { paged => Paged::<()>::new(Vec::new(), 0, 1, PAGE_SIZE), q => "", query => "" },
            )
        }
    }
}

/// `GET .../schedules?from=&to=`: upcoming (oldest first) and executed and revoked (newest
/// first) schedules whose time falls in the dates (default: 30 days back to 60 days ahead).
pub async fn schedules(
    page: MerchantPage,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let MerchantPage { state, signed, scope, uri } = page;
    let mut notice = done_notice(signed.lang, &query);
    let mut date = |name: &str| {
        let value = query.get(name).map(|v| v.trim()).filter(|v| !v.is_empty())?;
        let parsed = kst_day_start(value);
        if parsed.is_none() {
            notice = Some(Notice::error(text(signed.lang, "msg_bad_date")));
        }
        parsed
    };
    let at = now();
    let from = date("from").unwrap_or(at - 30 * 86400);
    let to = date("to").map(|start| start + 86400).unwrap_or(at + 60 * 86400);
    let section = |status: &str, oldest_first: bool| ScheduleFilter {
        customer_uid: None,
        schedule_status: Some(status.to_owned()),
        from,
        to,
        oldest_first,
    };
    let found = async {
        Ok::<_, openimp_store::StoreError>((
            schedules_of(&state, &scope, section("scheduled", true)).await?,
            schedules_of(&state, &scope, section("executed", false)).await?,
            schedules_of(&state, &scope, section("revoked", false)).await?,
        ))
    }
    .await;
    let Ok((upcoming, executed, revoked)) = found else {
        return super::refuse(&state, &signed, uri.path(), Refusal::Unavailable);
    };
    let extra = context! { upcoming => upcoming, executed => executed, revoked => revoked, q => query.clone() };
    frame(&signed, &scope, "schedules", &uri, notice).render(
        &state.templates,
        StatusCode::OK,
        "schedules.html",
        extra,
    )
}

async fn render_schedule(
    state: &ConsoleState,
    signed: &Signed,
    scope: &Scope,
    merchant_uid: &str,
    uri: &Uri,
    notice: Option<Notice>,
    status: StatusCode,
) -> Response {
    match state.gateway.get_schedule(&scope.id, merchant_uid).await {
        Ok(schedule) => frame(signed, scope, "schedules", uri, notice).render(
            &state.templates,
            status,
            "schedule.html",
            context! { s => schedule },
        ),
        Err(ApiError::NotFound(_)) => super::refuse(state, signed, uri.path(), Refusal::NotFound),
        Err(_) => super::refuse(state, signed, uri.path(), Refusal::Unavailable),
    }
}

/// `GET .../schedules/{merchant_uid}`.
pub async fn schedule(
    page: MerchantPage,
    Path((_, merchant_uid)): Path<(String, String)>,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let MerchantPage { state, signed, scope, uri } = page;
    let notice = done_notice(signed.lang, &query);
    render_schedule(&state, &signed, &scope, &merchant_uid, &uri, notice, StatusCode::OK).await
}

/// `POST .../schedules/{merchant_uid}/revoke`: the REST unschedule of one merchant_uid.
pub async fn revoke(
    Path((_, merchant_uid)): Path<(String, String)>,
    change: MerchantChange,
) -> Response {
    let MerchantChange { state, signed, scope, uri, .. } = change;
    let page_path = format!("/console/m/{}/schedules/{}", scope.code(), urlencode(&merchant_uid));
    match state.gateway.unschedule(&scope.id, None, vec![merchant_uid.clone()]).await {
        Ok(revoked) => {
            let detail = revoked.first().map_or_else(String::new, |s| {
                format!("{} KRW, customer_uid {}", s.amount, s.customer_uid)
            });
            audit::record(
                &state,
                &signed,
                Some(scope.code()),
                "schedule.revoke",
                &merchant_uid,
                detail,
            )
            .await;
            see_other(&format!("{page_path}?done=revoked"))
        }
        Err(ApiError::NotFound(_)) => super::refuse(&state, &signed, uri.path(), Refusal::NotFound),
        Err(err) => {
            let page_uri: Uri = page_path.parse().unwrap_or(uri);
            let notice = Some(Notice::error(message(&err)));
            render_schedule(
                &state,
                &signed,
                &scope,
                &merchant_uid,
                &page_uri,
                notice,
                StatusCode::UNPROCESSABLE_ENTITY,
            )
            .await
        }
    }
}
