//! The payment window hand-off: what the browser is sent to, and how the PG's return is
//! approved server to server.
//!
//! A window runs in three steps, the connector owning the PG's half of each:
//! 1. [`crate::Connector::begin_window`]: openimp has recorded the attempt; the connector says
//!    where the browser goes ([`Handoff`]) and what it must remember ([`WindowStart::state`]).
//! 2. The PG sends the browser back to [`WindowOrder::return_url`] with its fields.
//! 3. [`crate::Connector::complete_window`]: the connector checks the return (the approval URL
//!    against the PG's own hosts, hashes), approves server to server, checks the approval's
//!    signature, and answers a [`WindowResult`]. Anything that fails *inside* this call after
//!    the PG approved is net-cancelled by the connector before it answers; anything that fails
//!    *after* it answered (an amount that differs, a write that fails) is net-cancelled by the
//!    service with [`crate::Connector::net_cancel`] and the result's [`NetCancel`].

use serde::{Deserialize, Serialize};

use crate::{Approval, IssuedKey};

/// What a window is opened for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WindowPurpose {
    /// A payment of `amount`.
    Payment,
    /// A billing key (`customer_uid` given); `amount` is only shown, nothing is charged.
    BillingKey,
}

/// The order a window is opened for, in PG-neutral terms.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct WindowOrder {
    /// openimp's `imp_uid` for this attempt: the order id the PG sees (Inicis `oid`, KICC
    /// `shopOrderNo`). Unique per attempt.
    pub order_id: String,
    pub merchant_uid: String,
    pub purpose: WindowPurpose,
    /// i'mport's `pay_method` (`card`, `trans`, `vbank`, `phone`, ...).
    pub pay_method: String,
    pub amount: i64,
    pub tax_free: i64,
    pub name: Option<String>,
    pub buyer_name: Option<String>,
    pub buyer_email: Option<String>,
    pub buyer_tel: Option<String>,
    /// The customer is on a phone (the PG's mobile window), else the PC window.
    pub mobile: bool,
    /// openimp's page the PG returns the browser to (absolute URL).
    pub return_url: String,
    /// openimp's page the PG sends the browser to when the customer closes its window.
    pub close_url: String,
}

/// Where the browser goes to meet the PG.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Handoff {
    /// openimp's own window page collects what the PG needs (the sandbox PG).
    Hosted,
    /// The browser posts `fields` to `action` (an auto-submitted form).
    Post { action: String, fields: Vec<(String, String)>, accept_charset: Option<String> },
    /// The page loads `script_url` and calls `launcher(formId)` on a form holding `fields`
    /// (KG Inicis's `INIStdPay.pay`).
    Script { script_url: String, launcher: String, fields: Vec<(String, String)> },
    /// The browser goes to `url` (KICC's `authPageUrl`).
    Redirect { url: String },
}

/// What [`crate::Connector::begin_window`] answers.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct WindowStart {
    pub handoff: Handoff,
    /// Opaque to openimp: stored with the window's session and given back to
    /// [`crate::Connector::complete_window`] (a timestamp the PG's hashes used, a PG
    /// transaction id). Never holds card data.
    pub state: String,
}

/// The PG's return, as the browser posted it to [`WindowOrder::return_url`].
#[derive(Debug, Clone)]
pub struct WindowReturn {
    /// The posted (or query) fields, in order.
    pub fields: Vec<(String, String)>,
    /// [`WindowStart::state`] of this window.
    pub state: String,
    /// The order the window was opened for: what the approval must match.
    pub order: WindowOrder,
}

impl WindowReturn {
    /// The first value of `name`, if posted.
    pub fn field(&self, name: &str) -> Option<&str> {
        self.fields.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }
}

/// What a connector needs to undo a window approval (망취소): opaque to openimp, and never
/// holding card data.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NetCancel(pub String);

/// The outcome of a window's return.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WindowResult {
    /// The PG approved a payment. `approval.amount` is what the PG says it approved; the
    /// service compares it with the order and net-cancels on a difference.
    Paid { approval: Approval, undo: NetCancel },
    /// The PG issued a billing key (nothing charged). `pg_tid` is the transaction id,
    /// when the PG gives one.
    KeyIssued { key: IssuedKey, pg_tid: Option<String>, undo: NetCancel },
    /// The customer closed the window, failed authentication, or the PG refused: nothing
    /// was approved.
    Declined { code: String, message: String },
}
