//! The payment window behind `IMP.request_pay`: openimp's own window for the sandbox PG
//! (test mode), or the hand-off to a PG's own window ([`handoff`]) for any connector that asks
//! for one.
//!
//! 1. [`Gateway::open_window`]: the SDK on the merchant page posts the request; the checks that
//!    refuse before a window opens run here (types, channel, prepared amount, a merchant_uid
//!    already paid), and a session bound to the merchant, the request and the page's origin is
//!    stored (random id, CSRF token, 15 minutes).
//! 2. [`Gateway::window_view`]: what the window shows (amount, card companies, instalments).
//! 3. [`Gateway::submit_window`] / [`Gateway::close_window`]: the form posts back; a billing key
//!    is issued (`customer_uid` given: recorded as a Payment with `customer_uid_usage` `issue`,
//!    amount 0, nothing charged) or the card is charged through the same charge path as the REST
//!    API (`imp_` id, channel `pc`/`mobile`). The result is the SDK callback's `rsp` object.
//!
//! Other pay methods (`trans`, `vbank`, `phone`, the easy-pay brands) show their own sandbox
//! page and are approved by the sandbox PG through the same charge path; a virtual account is
//! recorded `ready` (webhook `ready`) and paid by [`Gateway::sandbox_deposit`].
//!
//! Card data crosses this module once, from the form to the PG; it is never stored here.
mod card;
mod handoff;
mod methods;
mod request;
mod rsp;
mod session;

use openimp_store::window::SessionRow;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

pub use crate::codes::{bank_by_code, BANKS};
pub(crate) use handoff::awaiting_pg_return;
pub use handoff::{WindowPage, RETURN_MAX_BYTES, RETURN_MAX_FIELDS};
pub use methods::CARRIERS;
pub use request::{method_label, parse_vbank_due, PAY_METHODS};
pub use rsp::failure;

/// How long a window session stays usable.
pub const SESSION_TTL_SECS: i64 = 15 * 60;

/// Open (unused, unexpired) sessions a merchant may have at once, by default: the SDK opens
/// them without credentials, so each is a durable write anyone can cause.
pub const OPEN_SESSIONS_PER_MERCHANT: i64 = 1_000;

/// The message of a window the user closed.
pub const USER_CANCELLED: &str = "사용자가 결제를 취소하셨습니다";

/// `IMP.request_pay` as the SDK sends it.
#[derive(Debug, Clone)]
pub struct OpenCommand {
    /// The merchant code given to `IMP.init`.
    pub imp_code: String,
    /// The `params` object, as the page passed it.
    pub params: Value,
    /// The merchant page's origin (the `Origin` header of the SDK's request).
    pub origin: String,
    /// The SDK saw a mobile browser.
    pub mobile: bool,
    pub user_agent: Option<String>,
}

/// A checked request, stored with its session.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct WindowRequest {
    pub pg: Option<String>,
    pub pay_method: String,
    pub merchant_uid: String,
    pub name: Option<String>,
    pub amount: i64,
    pub tax_free: i64,
    pub vat_amount: Option<i64>,
    pub currency: String,
    pub customer_uid: Option<String>,
    pub customer_id: Option<String>,
    pub buyer_name: Option<String>,
    pub buyer_email: Option<String>,
    pub buyer_tel: Option<String>,
    pub buyer_addr: Option<String>,
    pub buyer_postcode: Option<String>,
    pub custom_data: Option<String>,
    pub notice_url: Option<String>,
    pub m_redirect_url: Option<String>,
    /// Instalment months offered besides 일시불 (empty below 50,000 KRW).
    pub quota_options: Vec<i64>,
    /// `card.direct`: the one card company the window opens on, and its fixed instalment.
    pub direct_code: Option<String>,
    pub direct_quota: i64,
    /// Card companies the customer may pay with (`card.detail`).
    pub enabled_cards: Vec<String>,
    /// `vbank_due`: the virtual account's deposit deadline (unix), if the page gave one.
    #[serde(default)]
    pub vbank_due: Option<i64>,
}

impl WindowRequest {
    /// A billing-key issuance window (the amount is shown, nothing is charged).
    pub fn issues_key(&self) -> bool {
        self.customer_uid.is_some()
    }
}

/// A session just opened.
#[derive(Debug, Clone, Serialize)]
pub struct Opened {
    pub id: String,
    /// `overlay`: the window opens in an iframe and the callback gets the result;
    /// `redirect`: the page navigates to the window, which ends on `m_redirect_url`.
    pub mode: String,
}

/// Everything a window page needs.
#[derive(Debug, Clone)]
pub struct WindowView {
    pub session: SessionRow,
    pub request: WindowRequest,
    pub merchant_name: String,
    pub pg_provider: String,
    pub pg_id: String,
    /// (code, Korean name) of the companies the customer may choose.
    pub cards: Vec<(String, String)>,
    pub expired: bool,
    /// The callback's `rsp`, once the session is done.
    pub result: Option<Value>,
}

/// The card form as posted. Built by [`CardForm::from_params`], never by serde: a refusal
/// names the field only, so no card number, birth date or expiry is echoed in an error.
#[derive(Debug, Clone, Default)]
pub struct CardForm {
    pub csrf: String,
    pub card_number: Option<String>,
    /// `MM/YY` (also `MMYY`, `YYYY-MM`).
    pub expiry: Option<String>,
    pub birth: Option<String>,
    pub pwd_2digit: Option<String>,
    /// The chosen card company, empty for "by card number".
    pub card_code: Option<String>,
    pub quota: Option<String>,
    /// `trans` / `vbank`: the chosen bank (KFTC code).
    pub bank_code: Option<String>,
    /// `vbank`: the depositor's name (예금주/입금자명).
    pub vbank_holder: Option<String>,
    /// `phone`: the carrier (SKT, KT, LGU+) and the number.
    pub carrier: Option<String>,
    pub phone: Option<String>,
}

impl CardForm {
    /// The posted form (urlencoded or JSON): each field a string, or a number taken as its
    /// digits; anything else is a 400 that names the field and not its value.
    pub fn from_params(params: &Value) -> crate::ApiResult<CardForm> {
        let empty = Map::new();
        let params = params.as_object().unwrap_or(&empty);
        let text = |key: &str| request::opt_string(params, key);
        Ok(CardForm {
            csrf: text("csrf")?.unwrap_or_default(),
            card_number: text("card_number")?,
            expiry: text("expiry")?,
            birth: text("birth")?,
            pwd_2digit: text("pwd_2digit")?,
            card_code: text("card_code")?,
            quota: text("quota")?,
            bank_code: text("bank_code")?,
            vbank_holder: text("vbank_holder")?,
            carrier: text("carrier")?,
            phone: text("phone")?,
        })
    }
}

/// What a submit led to.
#[derive(Debug, Clone)]
pub enum Submitted {
    /// The form had a mistake the customer can fix; show it again with this message.
    Retry(String),
    /// The window is over: this is the callback's `rsp`.
    Done(Value),
}
