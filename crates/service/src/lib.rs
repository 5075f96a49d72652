//! The business rules of openimp: tokens, billing keys, charges, cancels, prepared orders, and
//! the reconciler that settles unknown PG outcomes.
//!
//! [`Gateway`] holds what every rule needs (the store, the vault, the connectors) and exposes one
//! method per operation of the API. The HTTP layer turns requests into the command structs of
//! these modules and the results into the i'mport envelope; nothing here knows about HTTP.
//!
//! **Architecture invariant:** a connector is never called while a database transaction is
//! open. Every charge is record (pending) → call → record (outcome), DESIGN.md rule 1.

pub mod auth;
pub mod billing;
pub mod cancel;
pub mod channels;
pub mod charge;
pub mod codes;
pub mod idempotency;
pub mod login_limit;
pub mod lookup;
pub mod merchants;
mod pg_call;
pub mod prepare;
pub mod public_ip;
pub mod reconcile;
pub mod schedule;
pub mod view;
pub mod webhook;
pub mod window;
pub mod worker;

use std::sync::Arc;
use std::time::Duration;

use openimp_pg::registry::Connectors;
use openimp_store::Db;
use openimp_vault::Vault;

pub use openimp_core::{error::ApiResult, ApiError};

/// Knobs of the services, fixed at startup.
#[derive(Debug, Clone)]
pub struct GatewayConfig {
    /// How long a PG call may take before its outcome counts as unknown.
    pub pg_timeout: Duration,
    /// Pending payments older than this are settled by the reconciler.
    pub reconcile_after: Duration,
    /// Test-only fault injection: abort the process right after a PG approval, before the
    /// outcome is recorded (proves that the reconciler settles such payments).
    pub crash_after_pg_call: bool,
    /// How long a payment window session stays usable (15 minutes by default).
    pub window_session_ttl_secs: i64,
    /// Open (unused, unexpired) window sessions a merchant may have at once.
    pub window_sessions_per_merchant: i64,
}

/// Everything the rules need. Cheap to share behind an `Arc`.
pub struct Gateway {
    pub db: Db,
    pub vault: Arc<Vault>,
    /// The connectors the binary registered: services pick one per channel
    /// ([`Gateway::connector_for`]) and never name a PG.
    pub connectors: Connectors,
    pub config: GatewayConfig,
    tokens: auth::TokenCache,
    logins: login_limit::LoginLimiter,
    webhooks: webhook::WebhookState,
    /// The address merchants reach this server at; makes stored receipt paths absolute.
    public_url: std::sync::OnceLock<String>,
}

impl Gateway {
    pub fn new(
        db: Db,
        vault: Arc<Vault>,
        connectors: Connectors,
        config: GatewayConfig,
    ) -> Gateway {
        Gateway {
            db,
            vault,
            connectors,
            config,
            tokens: auth::TokenCache::default(),
            logins: login_limit::LoginLimiter::default(),
            public_url: std::sync::OnceLock::new(),
            webhooks: webhook::WebhookState::new(webhook::WebhookOptions::default()),
        }
    }

    /// Replaces the getToken failure throttle (defaults: 10 failures per key or address in 5 min).
    pub fn with_login_limit(mut self, limit: login_limit::LoginLimit) -> Gateway {
        self.logins = login_limit::LoginLimiter::new(limit);
        self
    }

    /// Replaces the webhook options (timeouts, back-off, private addresses).
    pub fn with_webhook_options(mut self, options: webhook::WebhookOptions) -> Gateway {
        self.webhooks = webhook::WebhookState::new(options);
        self
    }
}

/// The merchant a request acts for, established by its token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MerchantId(pub String);

impl MerchantId {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}
