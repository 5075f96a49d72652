//! The merchant web console (issue 12), served under `/console` on the API's port.
//!
//! Server-rendered HTML (minijinja templates shipped in the binary, one small script, a CSP
//! that allows only this server). A merchant signs in with an email and password (argon2id),
//! sets up its PG channels as seed 002 shows, and watches, searches and refunds its payments.
//! Every change goes through the same [`openimp_service::Gateway`] methods as the REST API
//! (the same cancel rules, the same webhooks); the console writes only its own tables (users,
//! sessions, login failures, the audit log).
//!
//! Routes are under `/console/m/{merchant code}/...`: a merchant's user may open only its own
//! code (anything else answers 404, as an unknown object does); an operator may open any.

pub mod accounts;
mod audit;
mod i18n;
mod login;
mod pages;
mod render;
mod session;

use std::sync::Arc;

use axum::routing::{get, post};
use axum::Router;
use openimp_service::Gateway;

pub use accounts::{Lockout, Role};

/// Knobs of the console, fixed at startup.
#[derive(Debug, Clone, Default)]
pub struct ConsoleConfig {
    /// The server is reached over https (its public URL says so): cookies are `Secure`.
    pub https: bool,
    /// Believe `X-Forwarded-Proto: https` from the proxy in front (only when one is there and
    /// strips the header from clients).
    pub trust_forwarded_proto: bool,
    pub lockout: Lockout,
}

/// What every console handler reaches.
#[derive(Clone)]
pub struct ConsoleState {
    pub gateway: Arc<Gateway>,
    pub config: ConsoleConfig,
    templates: Arc<minijinja::Environment<'static>>,
}

impl ConsoleState {
    pub fn new(gateway: Arc<Gateway>, config: ConsoleConfig) -> ConsoleState {
        ConsoleState { gateway, config, templates: Arc::new(render::environment()) }
    }
}

/// The console's routes, to be nested at `/console` (the server trims trailing slashes, so
/// `/console/` arrives as `/console`).
pub fn router(state: ConsoleState) -> Router {
    use pages::{dashboard, keys, merchants, payments, settings, webhooks};
    let m = |path: &str| format!("/m/{{code}}{path}");
    Router::new()
        .route("/", get(pages::home))
        .route("/login", get(login::page).post(login::submit))
        .route("/logout", post(login::sign_out))
        .route("/lang", get(login::switch_language))
        .route(
            "/static/console.css",
            get(|| async { render::asset("text/css; charset=utf-8", render::CSS) }),
        )
        .route(
            "/static/console.js",
            get(|| async { render::asset("text/javascript; charset=utf-8", render::JS) }),
        )
        .route("/merchants", get(merchants::list).post(merchants::create))
        .route(&m(""), get(dashboard::page))
        .route(&m("/settings"), get(settings::pg_tab))
        .route(&m("/settings/account"), get(settings::account_tab))
        .route(&m("/settings/channels/new"), get(settings::new_channel))
        .route(&m("/settings/channels"), post(settings::add_channel))
        .route(
            &m("/settings/channels/{id}"),
            get(settings::edit_channel).post(settings::save_channel),
        )
        .route(&m("/settings/channels/{id}/delete"), post(settings::remove_channel))
        .route(&m("/settings/secret"), post(settings::regenerate_secret))
        .route(&m("/settings/webhook"), post(settings::save_webhook))
        .route(&m("/settings/webhook/test"), post(settings::test_webhook))
        .route(&m("/settings/webhook/secret"), post(settings::reveal_webhook_secret))
        .route(&m("/payments"), get(payments::list))
        .route(&m("/payments/{imp_uid}"), get(payments::page))
        .route(&m("/payments/{imp_uid}/cancel"), post(payments::cancel))
        .route(&m("/billing-keys"), get(keys::list))
        .route(&m("/billing-keys/{customer_uid}"), get(keys::page))
        .route(&m("/billing-keys/{customer_uid}/delete"), post(keys::delete))
        .route(&m("/schedules"), get(keys::schedules))
        .route(&m("/schedules/{merchant_uid}"), get(keys::schedule))
        .route(&m("/schedules/{merchant_uid}/revoke"), post(keys::revoke))
        .route(&m("/webhooks"), get(webhooks::list))
        .route(&m("/webhooks/{id}/resend"), post(webhooks::resend))
        .route(&m("/audit"), get(webhooks::audit))
        .fallback(pages::not_found)
        .layer(axum::middleware::from_fn(render::security_headers))
        .with_state(state)
}
