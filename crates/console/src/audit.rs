//! The audit log: every change made through the console (channel edits, cancels, key
//! deletions, revokes, secret regenerations, ...) with who made it and when. Written after the
//! change succeeded; a failure to write it is logged loudly but does not undo the change (the
//! money moved already).

use openimp_core::ids::random_hex;
use openimp_core::time::now;
use openimp_store::console::{self, AuditRow};

use crate::session::Signed;
use crate::ConsoleState;

/// Every action the log records (each has a label `audit_<action>` in both languages).
pub const ACTIONS: &[&str] = &[
    "channel.add",
    "channel.edit",
    "channel.remove",
    "payment.cancel",
    "billing_key.delete",
    "schedule.revoke",
    "secret.regenerate",
    "webhook.update",
    "webhook.test",
    "webhook.secret_reveal",
    "webhook.resend",
    "merchant.create",
];

/// Records that `signed` did `action` on `subject` of `merchant_id`. `detail` never holds a
/// secret.
pub async fn record(
    state: &ConsoleState,
    signed: &Signed,
    merchant_id: Option<&str>,
    action: &'static str,
    subject: &str,
    detail: String,
) {
    debug_assert!(ACTIONS.contains(&action), "unlisted audit action {action}");
    let entry = AuditRow {
        id: format!("au_{}", random_hex(10)),
        merchant_id: merchant_id.map(str::to_owned),
        user_id: signed.user.id.clone(),
        user_email: signed.user.email.clone(),
        action: action.to_owned(),
        subject: subject.to_owned(),
        detail,
        at: now(),
    };
    if let Err(err) = console::insert_audit(&state.gateway.db, &entry).await {
        tracing::error!(%err, action, subject, user = %signed.user.email, "could not write the console audit log");
    }
}
