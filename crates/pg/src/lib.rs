//! PG connectors: the one trait every PG implements, the registry the binary fills, the
//! window hand-off, and the HTTP transport of real connectors. The sandbox PG is a connector
//! like the others, in its own crate (`openimp-sandbox`).
//!
//! Services call a [`Connector`] with no database transaction open (DESIGN.md rule 1). A
//! connector answers in three ways, and the difference matters for money:
//! - `Ok(..)`: the PG answered; a decline is data ([`ChargeOutcome::Declined`]), not an error;
//! - `Err(ConnectorError::NotSent(..))` / `Err(ConnectorError::Unsupported(..))`: nothing reached
//!   the PG, so nothing was charged;
//! - `Err(ConnectorError::Unknown(..))`: the request may have reached the PG but no answer came
//!   back (timeout, broken connection); the outcome must be settled by [`Connector::inquire`]
//!   (a charge) or [`Connector::inquire_cancel`] (a cancel).

pub mod registry;
#[cfg(feature = "test-support")]
pub mod test_support;
pub mod transport;
pub mod window;

use async_trait::async_trait;
use openimp_core::card::CardInput;

/// What a channel tells its connector: which PG account (MID) to act as, and its secrets.
#[derive(Clone)]
pub struct ChannelContext {
    /// `html5_inicis`, `kicc`, ...
    pub pg_provider: String,
    /// The PG merchant id (상점아이디), e.g. `INIBillTst`.
    pub mid: String,
    pub test_mode: bool,
    /// `--endpoint`: one base URL replacing every host of the PG for this channel (its staging
    /// hosts, a local fake), the PG's own paths kept ([`transport::rebase`]).
    pub endpoint: Option<String>,
    /// The merchant has the PG's keyed-billing (비인증) contract on this channel.
    pub keyed_billing: bool,
    /// PG secrets (signKey, INIAPI key/IV, KICC secret key...), opened from the vault only for
    /// the duration of a call.
    pub secrets: std::collections::BTreeMap<String, String>,
}

impl std::fmt::Debug for ChannelContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChannelContext")
            .field("pg_provider", &self.pg_provider)
            .field("mid", &self.mid)
            .field("test_mode", &self.test_mode)
            .field("endpoint", &self.endpoint)
            .field("keyed_billing", &self.keyed_billing)
            .field("secrets", &self.secrets.keys().collect::<Vec<_>>())
            .finish()
    }
}

/// The card facts a PG reports back; never the full number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CardInfo {
    pub card_code: String,
    pub card_name: String,
    /// 0 credit, 1 check; `None` when the PG does not say.
    pub card_type: Option<i64>,
    /// Masked as i'mport shows it.
    pub card_number: String,
}

/// Issue a billing key from keyed card data.
#[derive(Debug, Clone)]
pub struct IssueKeyRequest {
    pub card: CardInput,
    /// The merchant's `customer_uid`, passed to PGs that want a reference.
    pub customer_uid: String,
}

/// A billing key the PG issued.
#[derive(Clone, PartialEq, Eq)]
pub struct IssuedKey {
    /// The PG's billing key. Sealed in the vault as soon as it arrives.
    pub billing_key: String,
    pub card: CardInfo,
}

impl std::fmt::Debug for IssuedKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IssuedKey").field("card", &self.card).finish_non_exhaustive()
    }
}

/// How a charge is paid: by a stored billing key, or by card data typed in once.
#[derive(Debug, Clone)]
pub enum PaymentSource {
    BillingKey(String),
    Keyed(CardInput),
    /// A pay method other than card, approved in the PG's own window (bank transfer, a
    /// virtual account's deposit, phone billing, an easy-pay brand). `detail` is what the
    /// customer chose there (a bank code, a carrier), for the PG's records.
    Method {
        pay_method: String,
        detail: Option<String>,
    },
}

/// A charge request. `order_id` is openimp's `imp_uid`: unique per attempt, and the key the
/// PG's inquiry answers by.
#[derive(Debug, Clone)]
pub struct ChargeRequest {
    pub order_id: String,
    pub source: PaymentSource,
    pub amount: i64,
    pub tax_free: i64,
    pub vat_amount: i64,
    pub card_quota: i64,
    pub name: Option<String>,
    pub buyer_name: Option<String>,
    pub buyer_email: Option<String>,
    pub buyer_tel: Option<String>,
}

/// The PG's answer to a charge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChargeOutcome {
    Approved(Approval),
    /// The card was declined; nothing was charged.
    Declined {
        code: String,
        /// The PG's text without its code (the services show `[code] message`).
        message: String,
    },
}

/// An approved charge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Approval {
    pub pg_tid: String,
    /// The PG's receipt page for the transaction, when the PG has one.
    pub receipt_url: Option<String>,
    pub apply_num: String,
    pub paid_at: i64,
    pub amount: i64,
    pub card: CardInfo,
}

/// A full or partial cancel of an approved charge.
#[derive(Debug, Clone)]
pub struct CancelRequest {
    pub order_id: String,
    /// openimp's `cancellation_id`: unique per cancel, the key a cancel inquiry answers by (a
    /// PG's own request id, as KICC's `shopTransactionId`, or an idempotency key).
    pub cancel_id: String,
    pub pg_tid: String,
    /// What to cancel now.
    pub amount: i64,
    pub tax_free: i64,
    pub vat_amount: Option<i64>,
    /// What remains cancellable before this cancel (PGs want it for partial cancels).
    pub balance_before: i64,
    pub reason: String,
}

/// The PG's answer to a cancel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CancelOutcome {
    Cancelled { pg_tid: String, cancelled_at: i64, receipt_url: Option<String> },
    Refused { code: String, message: String },
}

/// What the PG knows of an order id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Inquiry {
    /// The PG has no record of the order: it was never charged.
    NotFound,
    Approved(Approval),
    Declined {
        code: String,
        message: String,
    },
}

/// What the PG knows of a cancel, asked by the id it was requested with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CancelInquiry {
    /// The PG has no record of the cancel: it never happened.
    NotFound,
    /// The PG cancelled `amount` under its cancel transaction `pg_tid`.
    Cancelled { pg_tid: String, amount: i64, cancelled_at: i64, receipt_url: Option<String> },
}

/// Why a connector call did not produce an answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConnectorError {
    /// The PG refused to issue a key for this card (authentication failed, bad card).
    #[error("{message}")]
    CardRejected { code: String, message: String },
    /// The request never reached the PG; nothing happened there.
    #[error("PG에 연결할 수 없습니다: {0}")]
    NotSent(String),
    /// The request may have reached the PG, but no answer came back in time. Settle by inquiry.
    #[error("PG 응답을 받지 못했습니다: {0}")]
    Unknown(String),
    /// This PG does not offer the operation on this channel.
    #[error("{0}")]
    Unsupported(String),
}

/// A sales slip (매출전표) that openimp shows itself, at `/sandbox/receipts/{tid}`: only the
/// sandbox PG's, whose receipts live with it (a real PG's `receipt_url` is the PG's own page).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SalesSlip {
    pub tid: String,
    /// An approval or a cancel.
    pub is_cancel: bool,
    pub mid: String,
    pub amount: i64,
    pub card_name: String,
    /// Masked.
    pub card_number: String,
    pub apply_num: String,
    pub created_at: i64,
}

/// The narrow door the binary hands the HTTP layer to the sandbox's receipts, so that neither
/// http nor the services hold the sandbox PG itself.
#[async_trait]
pub trait SalesSlips: Send + Sync {
    /// The slip of transaction `tid`, `None` when there is none.
    async fn sales_slip(&self, tid: &str) -> Result<Option<SalesSlip>, String>;
}

/// What every PG does. One method per operation, no default bodies: a PG that cannot do
/// something says so with [`ConnectorError::Unsupported`].
#[async_trait]
pub trait Connector: Send + Sync {
    /// Issues a billing key from keyed card data (REST, "비인증").
    async fn issue_billing_key(
        &self,
        channel: &ChannelContext,
        request: IssueKeyRequest,
    ) -> Result<IssuedKey, ConnectorError>;

    /// Charges a billing key or keyed card data.
    async fn charge(
        &self,
        channel: &ChannelContext,
        request: ChargeRequest,
    ) -> Result<ChargeOutcome, ConnectorError>;

    /// Cancels all or part of an approved charge.
    async fn cancel(
        &self,
        channel: &ChannelContext,
        request: CancelRequest,
    ) -> Result<CancelOutcome, ConnectorError>;

    /// Deletes a billing key at the PG.
    async fn delete_billing_key(
        &self,
        channel: &ChannelContext,
        billing_key: &str,
    ) -> Result<(), ConnectorError>;

    /// Looks an order up by its id, to settle an unknown outcome.
    async fn inquire(
        &self,
        channel: &ChannelContext,
        order_id: &str,
    ) -> Result<Inquiry, ConnectorError>;

    /// Looks a cancel up by the id it was requested with ([`CancelRequest::cancel_id`]) under
    /// the approval `pg_tid`, to settle a cancel whose answer was lost.
    async fn inquire_cancel(
        &self,
        channel: &ChannelContext,
        pg_tid: &str,
        cancel_id: &str,
    ) -> Result<CancelInquiry, ConnectorError>;

    /// Starts a payment window: where the browser goes, and what to remember (see
    /// [`window`]). The sandbox answers [`window::Handoff::Hosted`].
    async fn begin_window(
        &self,
        channel: &ChannelContext,
        order: &window::WindowOrder,
    ) -> Result<window::WindowStart, ConnectorError>;

    /// Completes a window from the PG's return: checks it, approves server to server, checks
    /// the approval. Net-cancels by itself whatever fails after the PG approved within this
    /// call; a timeout of the approval itself is [`ConnectorError::Unknown`] after the
    /// connector has tried a net-cancel. The service's PG timeout only stops its waiting:
    /// the call runs on in a task of its own, so these follow-ups are not cut off.
    async fn complete_window(
        &self,
        channel: &ChannelContext,
        ret: window::WindowReturn,
    ) -> Result<window::WindowResult, ConnectorError>;

    /// Undoes a window approval the service could not keep (amount differs, write failed).
    async fn net_cancel(
        &self,
        channel: &ChannelContext,
        undo: &window::NetCancel,
    ) -> Result<(), ConnectorError>;
}
