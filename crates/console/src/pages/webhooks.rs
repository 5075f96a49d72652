//! 웹훅 (the delivery log with every attempt, resend) and 감사 로그 (the audit log).

use std::collections::HashMap;

use axum::extract::{Path, Query};
use axum::http::StatusCode;
use axum::response::Response;
use minijinja::context;
use openimp_core::wire::Paged;
use openimp_core::ApiError;
use openimp_store::console;
use openimp_store::webhooks::OutboxFilter;

use super::settings::done_notice;
use super::{
    frame, page_number, query_without_page, see_other, MerchantChange, MerchantPage, PAGE_SIZE,
};
use crate::audit;
use crate::session::Refusal;

/// `GET .../webhooks?imp_uid=&state=`.
pub async fn list(page: MerchantPage, Query(query): Query<HashMap<String, String>>) -> Response {
    let MerchantPage { state, signed, scope, uri } = page;
    let get = |name: &str| query.get(name).map(|v| v.trim().to_owned()).filter(|v| !v.is_empty());
    let filter = OutboxFilter {
        merchant_id: Some(scope.code().to_owned()),
        imp_uid: get("imp_uid"),
        merchant_uid: None,
        state: get("state").filter(|s| ["pending", "delivered", "failed"].contains(&s.as_str())),
    };
    let page = page_number(&query);
    let Ok(paged) = state.gateway.list_webhooks(&filter, page, PAGE_SIZE).await else {
        return super::refuse(&state, &signed, uri.path(), Refusal::Unavailable);
    };
    let notice = done_notice(signed.lang, &query);
    let extra = context! {
        webhooks => &paged.list,
        paged => paged,
        show_resend => true,
        q => query.clone(),
        query => query_without_page(&query),
    };
    frame(&signed, &scope, "webhooks", &uri, notice).render(
        &state.templates,
        StatusCode::OK,
        "webhooks.html",
        extra,
    )
}

/// `POST .../webhooks/{id}/resend`: the same notification again now, with a fresh round of tries.
pub async fn resend(Path((_, id)): Path<(String, String)>, change: MerchantChange) -> Response {
    let MerchantChange { state, signed, scope, uri, .. } = change;
    match state.gateway.resend_webhook(Some(scope.code()), &id).await {
        Ok(webhook) => {
            let detail = format!("{} {} → {}", webhook.imp_uid, webhook.status, webhook.url);
            audit::record(&state, &signed, Some(scope.code()), "webhook.resend", &id, detail).await;
            see_other(&format!("/console/m/{}/webhooks?done=resent", scope.code()))
        }
        Err(ApiError::NotFound(_)) => super::refuse(&state, &signed, uri.path(), Refusal::NotFound),
        Err(_) => super::refuse(&state, &signed, uri.path(), Refusal::Unavailable),
    }
}

/// `GET .../audit`.
pub async fn audit(page: MerchantPage, Query(query): Query<HashMap<String, String>>) -> Response {
    let MerchantPage { state, signed, scope, uri } = page;
    let page = page_number(&query);
    let Ok((entries, total)) =
        console::list_audit(&state.gateway.db, Some(scope.code()), page, PAGE_SIZE).await
    else {
        return super::refuse(&state, &signed, uri.path(), Refusal::Unavailable);
    };
    let extra = context! {
        paged => Paged::new(entries, total, page, PAGE_SIZE),
        query => query_without_page(&query),
    };
    frame(&signed, &scope, "audit", &uri, None).render(
        &state.templates,
        StatusCode::OK,
        "audit.html",
        extra,
    )
}
