//! 가맹점 관리, for operators: every merchant, and creating one (its REST secret shown once).

use axum::extract::{OriginalUri, State};
use axum::http::{StatusCode, Uri};
use axum::response::Response;
use axum::Form;
use minijinja::context;
use openimp_service::merchants::NewMerchant;
use openimp_store::merchants;

use super::{field, message, path_and_query, refuse, FormFields};
use crate::audit;
use crate::render::{Notice, Page};
use crate::session::{Refusal, Signed};
use crate::ConsoleState;

async fn render_list(
    state: &ConsoleState,
    signed: &Signed,
    uri: &Uri,
    created: Option<serde_json::Value>,
    notice: Option<Notice>,
    status: StatusCode,
) -> Response {
    let Ok(list) = merchants::list(&state.gateway.db).await else {
        return refuse(state, signed, uri.path(), Refusal::Unavailable);
    };
    let rows: Vec<_> = list
        .iter()
        .map(|m| serde_json::json!({"imp_code": m.imp_code, "name": m.name, "imp_key": m.imp_key, "created_at": m.created_at}))
        .collect();
    let page = Page { signed, scope: None, nav: "merchants", path: path_and_query(uri), notice };
    page.render(
        &state.templates,
        status,
        "merchants.html",
        context! { merchants => rows, created => created },
    )
}

/// `GET /console/merchants` (operators only; others get 404, as for any page not theirs).
pub async fn list(
    State(state): State<ConsoleState>,
    signed: Signed,
    OriginalUri(uri): OriginalUri,
) -> Response {
    if !signed.is_operator() {
        return refuse(&state, &signed, uri.path(), Refusal::NotFound);
    }
    render_list(&state, &signed, &uri, None, None, StatusCode::OK).await
}

/// `POST /console/merchants`: a new merchant with the two sandbox channels every merchant
/// starts with.
pub async fn create(
    State(state): State<ConsoleState>,
    signed: Signed,
    OriginalUri(uri): OriginalUri,
    Form(form): Form<FormFields>,
) -> Response {
    if !signed.is_operator() {
        return refuse(&state, &signed, uri.path(), Refusal::NotFound);
    }
    if let Err(refusal) = signed.check_change(form.get("csrf").map(String::as_str)) {
        return refuse(&state, &signed, uri.path(), refusal);
    }
    let name = field(&form, "name").unwrap_or("").to_owned();
    match state
        .gateway
        .create_merchant(NewMerchant { name: name.clone(), imp_key: None, imp_secret: None })
        .await
    {
        Ok(credentials) => {
            audit::record(
                &state,
                &signed,
                Some(&credentials.imp_code),
                "merchant.create",
                &credentials.imp_code,
                name,
            )
            .await;
            let created = serde_json::json!({
                "imp_code": credentials.imp_code,
                "imp_key": credentials.imp_key,
                "imp_secret": credentials.imp_secret,
            });
            render_list(&state, &signed, &uri, Some(created), None, StatusCode::OK).await
        }
        Err(err) => {
            let notice = Some(Notice::error(message(&err)));
            render_list(&state, &signed, &uri, None, notice, StatusCode::UNPROCESSABLE_ENTITY).await
        }
    }
}
