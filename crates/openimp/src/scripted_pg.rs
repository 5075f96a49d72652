//! A scripted live connector for the tests of the PG-neutral window, built only with the
//! `scripted-pg` feature (never in a release build): provider `scripted_pg`.
//!
//! It lets `tests/window_scripted.rs` drive every path of the service's hand-off and return
//! recording over real HTTP without a real PG: the test plays the PG's browser side and says
//! in the return's fields what the "PG" answers (`result=paid|key|declined|unknown|error`,
//! `approved_amount`, `net_cancel=fail`, `delay_ms` to hold the approval). It still checks what
//! a real connector must: the return is for this attempt (`oid`) and carries the state
//! `begin_window` gave out. Like a real PG it remembers each order: a second approval of an
//! order is declined, and a refund is refused for an order approved more than once or
//! net-cancelled, so a test's refund shows that the window approved its order exactly once.
//! The PG's real protocols, and their fakes, belong to the KG Inicis and KICC connectors.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use async_trait::async_trait;
use openimp_pg::window::{
    Handoff, NetCancel, WindowOrder, WindowPurpose, WindowResult, WindowReturn, WindowStart,
};
use openimp_pg::{
    Approval, CancelInquiry, CancelOutcome, CancelRequest, CardInfo, ChannelContext, ChargeOutcome,
    ChargeRequest, Connector, ConnectorError, Inquiry, IssueKeyRequest, IssuedKey,
};

/// The provider name it is registered under.
pub const PROVIDER: &str = "scripted_pg";

/// The scripted connector (the script is in each return; what it did per order is in
/// [`ORDERS`]).
pub struct ScriptedPg;

/// What the scripted PG did to an order: approvals asked for, and whether one was undone.
#[derive(Default)]
struct OrderLog {
    approvals: u32,
    net_cancelled: bool,
}

/// The scripted PG's memory of orders, by order id (the test binary's process lives for one
/// test server).
static ORDERS: Mutex<Option<HashMap<String, OrderLog>>> = Mutex::new(None);

fn with_order<T>(order_id: &str, f: impl FnOnce(&mut OrderLog) -> T) -> T {
    let mut orders = ORDERS.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    f(orders.get_or_insert_with(HashMap::new).entry(order_id.to_owned()).or_default())
}

/// The longest approval hold a return may ask for.
const MAX_DELAY: Duration = Duration::from_secs(2);

fn unsupported<T>() -> Result<T, ConnectorError> {
    Err(ConnectorError::Unsupported("the scripted PG only runs windows".to_owned()))
}

fn card() -> CardInfo {
    CardInfo {
        card_code: "361".to_owned(),
        card_name: "BC카드".to_owned(),
        card_type: Some(0),
        card_number: "910020******1234".to_owned(),
    }
}

#[async_trait]
impl Connector for ScriptedPg {
    async fn issue_billing_key(
        &self,
        _: &ChannelContext,
        _: IssueKeyRequest,
    ) -> Result<IssuedKey, ConnectorError> {
        unsupported()
    }

    async fn charge(
        &self,
        _: &ChannelContext,
        _: ChargeRequest,
    ) -> Result<ChargeOutcome, ConnectorError> {
        unsupported()
    }

    async fn cancel(
        &self,
        _: &ChannelContext,
        request: CancelRequest,
    ) -> Result<CancelOutcome, ConnectorError> {
        let (approvals, net_cancelled) =
            with_order(&request.order_id, |order| (order.approvals, order.net_cancelled));
        if approvals > 1 || net_cancelled {
            return Ok(CancelOutcome::Refused {
                code: "R001".to_owned(),
                message: format!(
                    "환불할 수 없는 거래입니다 (approved {approvals} times, net-cancelled: {net_cancelled})"
                ),
            });
        }
        Ok(CancelOutcome::Cancelled {
            pg_tid: format!("C{}", request.pg_tid),
            cancelled_at: openimp_core::time::now(),
            receipt_url: None,
        })
    }

    async fn delete_billing_key(&self, _: &ChannelContext, _: &str) -> Result<(), ConnectorError> {
        Ok(())
    }

    async fn inquire(&self, _: &ChannelContext, _: &str) -> Result<Inquiry, ConnectorError> {
        Ok(Inquiry::NotFound)
    }

    async fn inquire_cancel(
        &self,
        _: &ChannelContext,
        _: &str,
        _: &str,
    ) -> Result<CancelInquiry, ConnectorError> {
        Ok(CancelInquiry::NotFound)
    }

    /// Mobile: a redirect; `trans`: a script page; otherwise an auto-posted form. The form
    /// goes to the channel's `--endpoint` (the test's stand-in for the PG's host).
    async fn begin_window(
        &self,
        channel: &ChannelContext,
        order: &WindowOrder,
    ) -> Result<WindowStart, ConnectorError> {
        let host = channel.endpoint.clone().unwrap_or_else(|| "https://pg.invalid".to_owned());
        let fields = vec![
            ("oid".to_owned(), order.order_id.clone()),
            ("price".to_owned(), order.amount.to_string()),
            ("returnUrl".to_owned(), order.return_url.clone()),
            ("closeUrl".to_owned(), order.close_url.clone()),
        ];
        let handoff = if order.mobile {
            Handoff::Redirect { url: format!("{host}/pay?oid={}", order.order_id) }
        } else if order.pay_method == "trans" {
            Handoff::Script {
                script_url: format!("{host}/pay.js"),
                launcher: "ScriptedPg.pay".to_owned(),
                fields,
            }
        } else {
            Handoff::Post {
                action: format!("{host}/pay"),
                fields,
                accept_charset: Some("EUC-KR".to_owned()),
            }
        };
        Ok(WindowStart { handoff, state: format!("state-{}", order.order_id) })
    }

    async fn complete_window(
        &self,
        _: &ChannelContext,
        ret: WindowReturn,
    ) -> Result<WindowResult, ConnectorError> {
        if ret.field("oid") != Some(ret.order.order_id.as_str())
            || ret.state != format!("state-{}", ret.order.order_id)
        {
            return Ok(WindowResult::Declined {
                code: "V001".to_owned(),
                message: "위변조된 응답입니다 (the return is not for this order)".to_owned(),
            });
        }
        let net_cancel = ret.field("net_cancel").unwrap_or("ok").to_owned();
        let undo = NetCancel(format!("{}:{net_cancel}", ret.order.order_id));
        if let Some(delay) = ret.field("delay_ms").and_then(|ms| ms.parse().ok()) {
            tokio::time::sleep(Duration::from_millis(delay).min(MAX_DELAY)).await;
        }
        match ret.field("result").unwrap_or_default() {
            "paid"
                if with_order(&ret.order.order_id, |order| {
                    order.approvals += 1;
                    order.approvals > 1
                }) =>
            {
                Ok(WindowResult::Declined {
                    code: "D001".to_owned(),
                    message: "이미 승인된 주문입니다 (the order was approved already)".to_owned(),
                })
            }
            "paid" => {
                let amount = ret
                    .field("approved_amount")
                    .and_then(|a| a.parse().ok())
                    .unwrap_or(ret.order.amount);
                let approval = Approval {
                    pg_tid: format!("T{}", ret.order.order_id),
                    receipt_url: Some(format!("https://pg.invalid/receipt/{}", ret.order.order_id)),
                    apply_num: "12345678".to_owned(),
                    paid_at: openimp_core::time::now(),
                    amount,
                    card: card(),
                };
                Ok(WindowResult::Paid { approval, undo })
            }
            "key"
                if ret.order.purpose == WindowPurpose::BillingKey
                    || ret.field("force").is_some() =>
            {
                let key =
                    IssuedKey { billing_key: format!("BK{}", ret.order.order_id), card: card() };
                Ok(WindowResult::KeyIssued {
                    key,
                    pg_tid: Some(format!("K{}", ret.order.order_id)),
                    undo,
                })
            }
            "key" => Ok(WindowResult::Declined {
                code: "K001".to_owned(),
                message: "빌링키 발급 창이 아닙니다".to_owned(),
            }),
            "unknown" => Err(ConnectorError::Unknown("the scripted PG did not answer".to_owned())),
            "declined" => Ok(WindowResult::Declined {
                code: ret.field("code").unwrap_or("51").to_owned(),
                message: ret.field("message").unwrap_or("잔액부족").to_owned(),
            }),
            _ => Err(ConnectorError::NotSent("the scripted PG refused the request".to_owned())),
        }
    }

    async fn net_cancel(&self, _: &ChannelContext, undo: &NetCancel) -> Result<(), ConnectorError> {
        match undo.0.rsplit_once(':') {
            Some((_, "fail")) => {
                Err(ConnectorError::Unknown("the scripted net-cancel got no answer".to_owned()))
            }
            Some((order_id, _)) => {
                with_order(order_id, |order| order.net_cancelled = true);
                Ok(())
            }
            None => Err(ConnectorError::NotSent("not a scripted net-cancel".to_owned())),
        }
    }
}
