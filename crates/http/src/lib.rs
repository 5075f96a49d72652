//! The i'mport V1 REST API over axum.
//!
//! Thin by design: [`params`] turns JSON or form bodies (bracket arrays) into typed
//! [`requests`], [`auth`] finds the merchant from the token, the [`handlers`] call one
//! [`openimp_service::Gateway`] method each, and [`envelope`] turns every result or error into
//! `{code, message, response}` in one place. No business rule lives here.

pub mod auth;
pub mod envelope;
pub mod handlers;
pub mod idempotency;
pub mod metrics;
pub mod params;
pub mod requests;
pub mod server;
pub mod window;

use std::sync::Arc;

use axum::routing::{get, post};
use axum::Router;
use utoipa::OpenApi;

use openimp_service::Gateway;

use handlers::{codes, meta, payments, pg_settings, schedules, subscribe, users};

/// What every handler can reach.
#[derive(Clone)]
pub struct AppState {
    pub gateway: Arc<Gateway>,
    /// The sandbox PG's sales slips (`/sandbox/receipts/{tid}`), handed over by the binary.
    pub sales_slips: Arc<dyn openimp_pg::SalesSlips>,
}

/// The OpenAPI document of the server, generated from the handlers' annotations.
#[derive(OpenApi)]
#[openapi(
    info(title = "openimp", description = "Self-hosted i'mport (PortOne V1) compatible payment gateway"),
    paths(
        users::get_token, pg_settings::list, codes::banks, codes::bank, codes::cards, codes::card,
        subscribe::issue_customer, subscribe::get_customer, subscribe::delete_customer, subscribe::get_customers,
        subscribe::customer_payments, subscribe::again, subscribe::onetime,
        schedules::schedule, schedules::unschedule, schedules::get_one, schedules::update, schedules::reschedule,
        schedules::retry, schedules::list, schedules::by_customer, schedules::webhooks, schedules::resend_webhook,
        payments::get_one, payments::get_many, payments::find, payments::find_with_status, payments::find_all,
        payments::find_all_with_status, payments::by_status, payments::cancel, payments::prepare,
        payments::update_prepare, payments::get_prepare, payments::sandbox_deposit,
    ),
    tags((name = "auth"), (name = "subscribe", description = "billing keys and charges on them"), (name = "payments"), (name = "webhooks", description = "beyond i'mport: delivery logs and resends"), (name = "codes", description = "bank and card company codes"))
)]
pub struct ApiDoc;

/// The whole API.
pub fn router(state: AppState) -> Router {
    metrics::init();
    Router::new()
        .route("/users/getToken", post(users::get_token))
        .route("/users/pg", get(pg_settings::list))
        .route("/banks", get(codes::banks))
        .route("/banks/{bank_standard_code}", get(codes::bank))
        .route("/cards", get(codes::cards))
        .route("/cards/{card_standard_code}", get(codes::card))
        .route("/subscribe/customers", get(subscribe::get_customers))
        .route(
            "/subscribe/customers/{customer_uid}",
            post(subscribe::issue_customer).get(subscribe::get_customer).delete(subscribe::delete_customer),
        )
        .route("/subscribe/customers/{customer_uid}/payments", get(subscribe::customer_payments))
        .route("/subscribe/payments/again", post(subscribe::again))
        .route("/subscribe/payments/onetime", post(subscribe::onetime))
        .route("/subscribe/payments/schedule", post(schedules::schedule).get(schedules::list))
        .route("/subscribe/payments/unschedule", post(schedules::unschedule))
        .route("/subscribe/payments/schedule/{merchant_uid}", get(schedules::get_one).put(schedules::update))
        .route("/subscribe/payments/schedule/{merchant_uid}/reschedule", post(schedules::reschedule))
        .route("/subscribe/payments/schedule/{merchant_uid}/retry", post(schedules::retry))
        .route("/subscribe/payments/schedule/customers/{customer_uid}", get(schedules::by_customer))
        .route("/subscribe/customers/{customer_uid}/schedules", get(schedules::by_customer))
        .route("/webhooks", get(schedules::webhooks))
        .route("/webhooks/{id}/resend", post(schedules::resend_webhook))
        .route("/payments", get(payments::get_many))
        .route("/payments/cancel", post(payments::cancel))
        .route("/payments/prepare", post(payments::prepare).put(payments::update_prepare))
        .route("/payments/prepare/{merchant_uid}", get(payments::get_prepare))
        .route("/payments/find/{merchant_uid}", get(payments::find))
        .route("/payments/find/{merchant_uid}/{payment_status}", get(payments::find_with_status))
        .route("/payments/findAll/{merchant_uid}", get(payments::find_all))
        .route("/payments/findAll/{merchant_uid}/{payment_status}", get(payments::find_all_with_status))
        .route("/payments/status/{payment_status}", get(payments::by_status))
        .route("/payments/{imp_uid}", get(payments::get_one))
        .route("/v1/iamport.js", get(window::sdk))
        .route("/js/iamport.payment-1.2.0.js", get(window::sdk))
        .route("/window/sessions", post(window::open).options(window::preflight))
        .route("/window/{id}", get(window::page).post(window::submit))
        .route("/window/{id}/close", post(window::close))
        .route("/window/{id}/return", get(window::pg_return).post(window::pg_return))
        .route("/window/{id}/cancel", get(window::pg_close).post(window::pg_close))
        .route("/openapi.json", get(meta::openapi))
        .route("/healthz", get(meta::healthz))
        .route("/readyz", get(meta::readyz))
        .route("/metrics", get(metrics::render))
        .route("/sandbox/receipts/{tid}", get(meta::receipt))
        .route("/sandbox/vbank/{imp_uid}/deposit", post(payments::sandbox_deposit))
        .fallback(meta::not_found)
        .method_not_allowed_fallback(meta::method_not_allowed)
        .layer(axum::middleware::from_fn_with_state(state.clone(), idempotency::layer))
        .layer(axum::middleware::from_fn_with_state(state.clone(), meta::refuse_while_db_down))
        .route_layer(axum::middleware::from_fn(metrics::track))
        .layer(axum::middleware::from_fn(envelope::ensure_envelope))
        .layer(tower_http::trace::TraceLayer::new_for_http().make_span_with(|request: &axum::http::Request<_>| {
            tracing::info_span!("request", method = %request.method(), path = %request.uri().path(), id = %openimp_core::ids::random_hex(6))
        }))
        .with_state(state)
}
