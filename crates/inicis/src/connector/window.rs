//! KG Inicis's windows: what the browser is sent to, and the PG's return approved server to
//! server.
//!
//! - PC (INIStdPay, §1.9): the page loads `INIStdPay.js` and calls `INIStdPay.pay(formId)`;
//!   the return is approved at `authUrl` after it is rebuilt from `idc_name`, the answer's
//!   `authSignature` is checked, and anything wrong after the approval is net-cancelled.
//! - Mobile payment (INIpay Mobile, §1.10): a form posted to `/smart/payment/` with
//!   `P_CHKFAKE`; the return is approved at `P_REQ_URL` under the same whitelist rule.
//! - Mobile billing key (INILite `inibill_card.jsp`, §1.11): the key arrives in the return
//!   itself; nothing is approved, so nothing needs a net-cancel.

use openimp_pg::transport::{form_decode, PgHttp};
use openimp_pg::window::{
    Handoff, NetCancel, WindowOrder, WindowPurpose, WindowResult, WindowReturn, WindowStart,
};
use openimp_pg::{Approval, ChannelContext, ConnectorError, IssuedKey};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{secret, InicisOptions};
use crate::hosts::{self, Hosts};
use crate::protocol::{iniapi, mobile, same_text, stdpay};
use crate::transformers::{amount, card_info, kst14_or_now, mask_number, text};

/// Which window a session opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum Flow {
    Stdpay,
    Mobile,
    Inilite,
}

/// [`WindowStart::state`]: what completing the window needs. No card data, no secret.
#[derive(Debug, Serialize, Deserialize)]
struct State {
    flow: Flow,
    mid: String,
    /// The timestamp the window's own hashes used.
    timestamp: String,
    purpose: WindowPurpose,
}

/// [`NetCancel`]'s content: where the net-cancel goes and the form it posts (the approval's
/// own form on PC, the transaction's ids on mobile). No card data.
#[derive(Debug, Serialize, Deserialize)]
struct Undo {
    flow: Flow,
    url: String,
    fields: Vec<(String, String)>,
}

/// The code of a return openimp refused before calling anything.
pub const RETURN_REFUSED: &str = "RETURN_REFUSED";
/// The code of an approval openimp refused and net-cancelled.
pub const APPROVAL_REFUSED: &str = "APPROVAL_REFUSED";

fn or_default<'a>(value: &'a Option<String>, default: &'a str) -> &'a str {
    value.as_deref().map(str::trim).filter(|v| !v.is_empty()).unwrap_or(default)
}

pub(super) fn begin(
    options: &InicisOptions,
    channel: &ChannelContext,
    order: &WindowOrder,
) -> Result<WindowStart, ConnectorError> {
    if order.pay_method != "card" {
        return Err(ConnectorError::Unsupported(format!(
            "KG이니시스 연동은 카드 결제창만 지원합니다 (pay_method {} is not supported on KG Inicis channels yet)",
            order.pay_method
        )));
    }
    let hosts = Hosts::new(channel.endpoint.as_deref());
    let now = openimp_core::time::now_millis();
    let price = order.amount.to_string();
    let goods = or_default(&order.name, &options.default_goods_name);
    let buyer_name = or_default(&order.buyer_name, &options.default_buyer_name);
    let buyer_email = or_default(&order.buyer_email, &options.default_buyer_email);
    let buyer_tel = or_default(&order.buyer_tel, &options.default_buyer_tel);
    let (flow, timestamp, handoff) = match (order.mobile, order.purpose) {
        (false, purpose) => {
            let sign_key = secret(channel, "sign_key", "--sign-key")?;
            let timestamp = now.to_string();
            let billing = purpose == WindowPurpose::BillingKey;
            let fields = [
                ("version", "1.0"),
                ("mid", &channel.mid),
                ("oid", &order.order_id),
                ("price", &price),
                ("timestamp", &timestamp),
                ("use_chkfake", "Y"),
                ("signature", &stdpay::signature(&order.order_id, &price, &timestamp)),
                (
                    "verification",
                    &stdpay::verification(&order.order_id, &price, sign_key, &timestamp),
                ),
                ("mKey", &stdpay::m_key(sign_key)),
                ("currency", "WON"),
                ("goodname", goods),
                ("buyername", buyer_name),
                ("buyertel", buyer_tel),
                ("buyeremail", buyer_email),
                ("returnUrl", &order.return_url),
                ("closeUrl", &order.close_url),
                ("gopaymethod", if billing { "" } else { "Card" }),
                (
                    "acceptmethod",
                    if billing { "centerCd(Y):BILLAUTH(Card)" } else { "centerCd(Y)" },
                ),
                ("charset", "UTF-8"),
            ];
            let handoff = Handoff::Script {
                script_url: hosts.stdpay_script(),
                launcher: "INIStdPay.pay".to_owned(),
                fields: owned(&fields),
            };
            (Flow::Stdpay, timestamp, handoff)
        }
        (true, WindowPurpose::Payment) => {
            let hash_key = mobile_hash_key(channel)?;
            let timestamp = now.to_string();
            let fields = [
                ("P_INI_PAYMENT", "CARD"),
                ("P_MID", &channel.mid),
                ("P_OID", &order.order_id),
                ("P_AMT", &price),
                ("P_GOODS", goods),
                ("P_UNAME", buyer_name),
                ("P_MOBILE", buyer_tel),
                ("P_EMAIL", buyer_email),
                ("P_NEXT_URL", &order.return_url),
                ("P_NOTI", &order.order_id),
                ("P_CHARSET", "utf8"),
                ("P_RESERVED", "centerCd=Y"),
                ("P_TIMESTAMP", &timestamp),
                ("P_CHKFAKE", &mobile::p_chkfake(&price, &order.order_id, &timestamp, hash_key)),
            ];
            let handoff = Handoff::Post {
                action: hosts.mobile_window(),
                fields: owned(&fields),
                accept_charset: Some("UTF-8".to_owned()),
            };
            (Flow::Mobile, timestamp, handoff)
        }
        (true, WindowPurpose::BillingKey) => {
            let inilite_key = secret(channel, "merchant_key", "--merchant-key")?;
            let timestamp = iniapi::timestamp14(now);
            let fields = [
                ("mid", channel.mid.as_str()),
                ("authtype", "D"),
                ("orderid", &order.order_id),
                ("price", &price),
                ("goodname", goods),
                ("buyername", buyer_name),
                ("buyeremail", buyer_email),
                ("buyertel", buyer_tel),
                ("returnurl", &order.return_url),
                ("timestamp", &timestamp),
                ("p_noti", &order.order_id),
                ("merchantreserved", "below1000=Y"),
                (
                    "hashdata",
                    &mobile::inilite_hashdata(
                        &channel.mid,
                        &order.order_id,
                        &timestamp,
                        inilite_key,
                    ),
                ),
            ];
            let handoff = Handoff::Post {
                action: hosts.inilite_billing_window(),
                fields: owned(&fields),
                accept_charset: Some("UTF-8".to_owned()),
            };
            (Flow::Inilite, timestamp, handoff)
        }
    };
    let state = State { flow, mid: channel.mid.clone(), timestamp, purpose: order.purpose };
    let state = serde_json::to_string(&state).expect("the window state serializes");
    Ok(WindowStart { handoff, state })
}

/// The mobile hashKey: its own secret `mobile_hash_key`, else the channel's `merchant_key`.
fn mobile_hash_key(channel: &ChannelContext) -> Result<&str, ConnectorError> {
    match channel.secrets.get("mobile_hash_key").filter(|v| !v.is_empty()) {
        Some(key) => Ok(key),
        None => secret(channel, "merchant_key", "--merchant-key"),
    }
}

fn owned(fields: &[(&str, &str)]) -> Vec<(String, String)> {
    fields.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
}

fn refused(message: impl Into<String>) -> WindowResult {
    WindowResult::Declined { code: RETURN_REFUSED.to_owned(), message: message.into() }
}

pub(super) async fn complete(
    http: &PgHttp,
    channel: &ChannelContext,
    ret: WindowReturn,
) -> Result<WindowResult, ConnectorError> {
    let state: State = serde_json::from_str(&ret.state).map_err(|_| {
        ConnectorError::NotSent("KG이니시스 결제창 상태를 읽을 수 없습니다".to_owned())
    })?;
    if state.mid != channel.mid {
        return Ok(refused("결제창을 연 상점아이디와 채널의 상점아이디가 다릅니다"));
    }
    match state.flow {
        Flow::Stdpay => complete_stdpay(http, channel, &state, &ret).await,
        Flow::Mobile => complete_mobile(http, channel, &ret).await,
        Flow::Inilite => Ok(complete_inilite(&ret)),
    }
}

async fn complete_stdpay(
    http: &PgHttp,
    channel: &ChannelContext,
    state: &State,
    ret: &WindowReturn,
) -> Result<WindowResult, ConnectorError> {
    let field = |name: &str| ret.field(name).unwrap_or("").trim().to_owned();
    let code = field("resultCode");
    if code != "0000" {
        let message = Some(field("resultMsg")).filter(|m| !m.is_empty());
        return Ok(WindowResult::Declined {
            code: if code.is_empty() { "CLOSED".to_owned() } else { code },
            message: message.unwrap_or_else(|| "결제창에서 결제를 완료하지 않았습니다".to_owned()),
        });
    }
    if field("mid") != channel.mid {
        return Ok(refused("KG이니시스 인증결과의 상점아이디가 채널과 다릅니다"));
    }
    let hosts = Hosts::new(channel.endpoint.as_deref());
    let idc = field("idc_name");
    let (Some(auth_url), Some(net_cancel_url)) =
        (hosts.stdpay_auth_url(&idc), hosts.stdpay_net_cancel_url(&idc))
    else {
        return Ok(refused(format!("허용되지 않은 idc_name {idc:?}: 승인을 요청하지 않았습니다")));
    };
    if field("authUrl") != auth_url || field("netCancelUrl") != net_cancel_url {
        tracing::warn!(mid = %channel.mid, idc = %idc, "KG Inicis return with an approval URL outside the whitelist refused");
        return Ok(refused(
            "승인 URL이 KG이니시스의 허용 목록과 다릅니다: 승인을 요청하지 않았습니다",
        ));
    }
    let auth_token = field("authToken");
    if auth_token.is_empty() {
        return Ok(refused("KG이니시스 인증결과에 authToken이 없습니다"));
    }
    let sign_key = secret(channel, "sign_key", "--sign-key")?;
    let timestamp = openimp_core::time::now_millis().to_string();
    let price = ret.order.amount.to_string();
    let form = owned(&[
        ("mid", &channel.mid),
        ("authToken", &auth_token),
        ("timestamp", &timestamp),
        ("signature", &stdpay::approval_signature(&auth_token, &timestamp)),
        ("verification", &stdpay::approval_verification(&auth_token, sign_key, &timestamp)),
        ("charset", "UTF-8"),
        ("format", "JSON"),
        ("price", &price),
    ]);
    let undo = Undo { flow: Flow::Stdpay, url: net_cancel_url, fields: form };
    let answer = match http.post_form(&auth_url, &borrowed(&undo.fields)).await {
        Ok(answer) => answer,
        Err(ConnectorError::Unknown(why)) => {
            // The approval may have happened: undo it if it did, and let inquiry settle.
            if let Err(err) = post_undo(http, &undo).await {
                tracing::warn!(mid = %channel.mid, error = %err, "net-cancel after a lost KG Inicis approval failed");
            }
            return Err(ConnectorError::Unknown(format!("KG이니시스 승인 응답 없음: {why}")));
        }
        Err(err) => return Err(err),
    };
    let Some(answer) = serde_json::from_str::<Value>(&answer.body).ok().filter(Value::is_object)
    else {
        return undo_after_approval(http, &undo, "KG이니시스 승인 응답을 읽을 수 없습니다").await;
    };
    let code = text(&answer, "resultCode");
    if code != "0000" {
        // Nothing approved by this call. No net-cancel: a return posted twice gets "already
        // approved" here, and a net-cancel would undo the first, kept approval.
        return Ok(WindowResult::Declined { code, message: text(&answer, "resultMsg") });
    }
    let (moid, tot_price) = (text(&answer, "MOID"), text(&answer, "TotPrice"));
    let expected = stdpay::auth_signature(&channel.mid, &timestamp, &moid, &tot_price)
        .expect("a millisecond timestamp ends in a digit");
    if !same_text(&text(&answer, "authSignature"), &expected) {
        return undo_after_approval(
            http,
            &undo,
            "KG이니시스 승인 응답의 authSignature가 맞지 않습니다",
        )
        .await;
    }
    if moid != ret.order.order_id || amount(&answer, "TotPrice") != Some(ret.order.amount) {
        return undo_after_approval(
            http,
            &undo,
            &format!(
                "KG이니시스 승인 내용(주문 {moid}, 금액 {tot_price})이 주문(주문 {}, 금액 {})과 다릅니다",
                ret.order.order_id, ret.order.amount
            ),
        )
        .await;
    }
    let tid = text(&answer, "tid");
    let card = card_info(
        &text(&answer, "CARD_Code"),
        &text(&answer, "CARD_CheckFlag"),
        &text(&answer, "CARD_Num"),
    );
    let net_cancel = NetCancel(serde_json::to_string(&undo).expect("the net-cancel serializes"));
    if state.purpose == WindowPurpose::BillingKey {
        let bill_key = text(&answer, "CARD_BillKey");
        if bill_key.is_empty() {
            return undo_after_approval(http, &undo, "KG이니시스 승인 응답에 빌링키가 없습니다")
                .await;
        }
        return Ok(WindowResult::KeyIssued {
            key: IssuedKey { billing_key: bill_key, card },
            pg_tid: Some(tid).filter(|t| !t.is_empty()),
            undo: net_cancel,
        });
    }
    if tid.is_empty() {
        return undo_after_approval(http, &undo, "KG이니시스 승인 응답에 tid가 없습니다").await;
    }
    let paid_at = iniapi::parse_kst(&text(&answer, "applDate"), &text(&answer, "applTime"))
        .unwrap_or_else(openimp_core::time::now);
    Ok(WindowResult::Paid {
        approval: Approval {
            receipt_url: Some(Hosts::new(channel.endpoint.as_deref()).receipt(&tid)),
            apply_num: text(&answer, "applNum"),
            paid_at,
            amount: ret.order.amount,
            card,
            pg_tid: tid,
        },
        undo: net_cancel,
    })
}

async fn complete_mobile(
    http: &PgHttp,
    channel: &ChannelContext,
    ret: &WindowReturn,
) -> Result<WindowResult, ConnectorError> {
    let field = |name: &str| ret.field(name).unwrap_or("").trim().to_owned();
    let status = field("P_STATUS");
    if status != "00" {
        let message = Some(field("P_RMESG1")).filter(|m| !m.is_empty());
        return Ok(WindowResult::Declined {
            code: if status.is_empty() { "CLOSED".to_owned() } else { status },
            message: message.unwrap_or_else(|| "결제창에서 결제를 완료하지 않았습니다".to_owned()),
        });
    }
    let hosts = Hosts::new(channel.endpoint.as_deref());
    let idc = field("idc_name");
    let (Some(req_url), Some(net_cancel_url)) =
        (hosts.mobile_req_url(&idc), hosts.mobile_net_cancel_url(&idc))
    else {
        return Ok(refused(format!("허용되지 않은 idc_name {idc:?}: 승인을 요청하지 않았습니다")));
    };
    if field("P_REQ_URL") != req_url {
        tracing::warn!(mid = %channel.mid, idc = %idc, "KG Inicis mobile return with P_REQ_URL outside the whitelist refused");
        return Ok(refused(
            "승인 URL(P_REQ_URL)이 KG이니시스의 허용 목록과 다릅니다: 승인을 요청하지 않았습니다",
        ));
    }
    let tid = field("P_TID");
    if tid.is_empty() {
        return Ok(refused("KG이니시스 인증결과에 P_TID가 없습니다"));
    }
    let hash_key = mobile_hash_key(channel)?;
    let price = ret.order.amount.to_string();
    // The net-cancel names the transaction as the PG approved it; until its answer is read,
    // as the order says.
    let mobile_undo = |amount: &str, oid: &str| {
        let timestamp = openimp_core::time::now_millis().to_string();
        Undo {
            flow: Flow::Mobile,
            url: net_cancel_url.clone(),
            fields: owned(&[
                ("P_TID", &tid),
                ("P_MID", &channel.mid),
                ("P_AMT", amount),
                ("P_OID", oid),
                ("P_TIMESTAMP", &timestamp),
                ("P_CHKFAKE", &mobile::p_chkfake(amount, oid, &timestamp, hash_key)),
            ]),
        }
    };
    let undo = mobile_undo(&price, &ret.order.order_id);
    let answer = match http.post_form(&req_url, &[("P_MID", &channel.mid), ("P_TID", &tid)]).await {
        Ok(answer) => answer,
        Err(ConnectorError::Unknown(why)) => {
            if let Err(err) = post_undo(http, &undo).await {
                tracing::warn!(mid = %channel.mid, error = %err, "net-cancel after a lost KG Inicis mobile approval failed");
            }
            return Err(ConnectorError::Unknown(format!("KG이니시스 승인 응답 없음: {why}")));
        }
        Err(err) => return Err(err),
    };
    let answer: std::collections::BTreeMap<String, String> =
        form_decode(answer.body.trim()).into_iter().collect();
    let get = |name: &str| answer.get(name).map(|v| v.trim().to_owned()).unwrap_or_default();
    if answer.is_empty() || get("P_STATUS").is_empty() {
        return undo_after_approval(http, &undo, "KG이니시스 승인 응답을 읽을 수 없습니다").await;
    }
    let undo = if get("P_AMT").is_empty() || get("P_OID").is_empty() {
        undo
    } else {
        mobile_undo(&get("P_AMT"), &get("P_OID"))
    };
    if get("P_STATUS") != "00" {
        return Ok(WindowResult::Declined { code: get("P_STATUS"), message: get("P_RMESG1") });
    }
    if get("P_OID") != ret.order.order_id || get("P_AMT") != price || get("P_TID") != tid {
        return undo_after_approval(
            http,
            &undo,
            &format!(
                "KG이니시스 승인 내용(주문 {}, 금액 {})이 주문(주문 {}, 금액 {price})과 다릅니다",
                get("P_OID"),
                get("P_AMT"),
                ret.order.order_id
            ),
        )
        .await;
    }
    Ok(WindowResult::Paid {
        approval: Approval {
            receipt_url: Some(hosts.receipt(&tid)),
            apply_num: get("P_AUTH_NO"),
            paid_at: kst14_or_now(&get("P_AUTH_DT")),
            amount: ret.order.amount,
            card: card_info(&get("P_FN_CD1"), &get("P_CARD_CHECKFLAG"), &get("P_CARD_NUM")),
            pg_tid: tid,
        },
        undo: NetCancel(serde_json::to_string(&undo).expect("the net-cancel serializes")),
    })
}

/// INILite's return carries the key itself. A forged return can only name a key the PG
/// issued to this MID (charges go to the PG with the MID's INIAPI key), so the checks are
/// the result code and the order id.
fn complete_inilite(ret: &WindowReturn) -> WindowResult {
    let field = |name: &str| ret.field(name).unwrap_or("").trim().to_owned();
    let code = field("resultcode");
    if code != "00" {
        let message = Some(field("resultmsg")).filter(|m| !m.is_empty());
        return WindowResult::Declined {
            code: if code.is_empty() { "CLOSED".to_owned() } else { code },
            message: message.unwrap_or_else(|| "빌링키 발급을 완료하지 않았습니다".to_owned()),
        };
    }
    if field("orderid") != ret.order.order_id {
        return refused("KG이니시스 발급 결과의 주문번호가 결제창의 주문번호와 다릅니다");
    }
    let bill_key = field("billkey");
    if bill_key.is_empty() {
        return refused("KG이니시스 발급 결과에 빌링키가 없습니다");
    }
    let mut card = card_info(&field("cardcd"), &field("cardkind"), "");
    card.card_number = mask_number(&field("cardno"));
    let undo = Undo { flow: Flow::Inilite, url: String::new(), fields: Vec::new() };
    WindowResult::KeyIssued {
        key: IssuedKey { billing_key: bill_key, card },
        pg_tid: Some(field("tid")).filter(|t| !t.is_empty()),
        undo: NetCancel(serde_json::to_string(&undo).expect("the net-cancel serializes")),
    }
}

fn borrowed(fields: &[(String, String)]) -> Vec<(&str, &str)> {
    fields.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect()
}

/// Net-cancels an approval openimp will not keep and answers why: declined when the
/// net-cancel went through, unknown when it did not (the inquiry then settles it).
async fn undo_after_approval(
    http: &PgHttp,
    undo: &Undo,
    why: &str,
) -> Result<WindowResult, ConnectorError> {
    match post_undo(http, undo).await {
        Ok(()) => Ok(WindowResult::Declined {
            code: APPROVAL_REFUSED.to_owned(),
            message: format!("{why} (승인을 망취소했습니다)"),
        }),
        Err(err) => Err(ConnectorError::Unknown(format!("{why}; 망취소 실패: {err}"))),
    }
}

/// POSTs a net-cancel and reads whether KG Inicis took it.
async fn post_undo(http: &PgHttp, undo: &Undo) -> Result<(), ConnectorError> {
    match undo.flow {
        // An INILite key was issued, not approved: nothing to call.
        Flow::Inilite => Ok(()),
        Flow::Stdpay => {
            let answer = http.post_form(&undo.url, &borrowed(&undo.fields)).await?;
            let parsed = serde_json::from_str::<Value>(&answer.body).unwrap_or(Value::Null);
            match text(&parsed, "resultCode").as_str() {
                "0000" | "00" => Ok(()),
                code => Err(ConnectorError::Unknown(format!(
                    "KG이니시스 망취소 실패 [{code}] {}",
                    text(&parsed, "resultMsg")
                ))),
            }
        }
        Flow::Mobile => {
            let answer = http.post_form(&undo.url, &borrowed(&undo.fields)).await?;
            let parsed: std::collections::BTreeMap<String, String> =
                form_decode(answer.body.trim()).into_iter().collect();
            match parsed.get("P_STATUS").map(String::as_str) {
                Some("00") => Ok(()),
                code => Err(ConnectorError::Unknown(format!(
                    "KG이니시스 모바일 망취소 실패 [{}] {}",
                    code.unwrap_or(""),
                    parsed.get("P_RMESG1").map(String::as_str).unwrap_or("")
                ))),
            }
        }
    }
}

pub(super) async fn net_cancel(
    http: &PgHttp,
    channel: &ChannelContext,
    undo: &NetCancel,
) -> Result<(), ConnectorError> {
    let undo: Undo = serde_json::from_str(&undo.0).map_err(|_| {
        ConnectorError::NotSent("KG이니시스 망취소 정보를 읽을 수 없습니다".to_owned())
    })?;
    // The URL was rebuilt from the whitelist when the window completed; it must still be one.
    let hosts = Hosts::new(channel.endpoint.as_deref());
    let allowed = hosts::IDC_NAMES.iter().any(|idc| match undo.flow {
        Flow::Stdpay => hosts.stdpay_net_cancel_url(idc).as_deref() == Some(undo.url.as_str()),
        Flow::Mobile => hosts.mobile_net_cancel_url(idc).as_deref() == Some(undo.url.as_str()),
        Flow::Inilite => true,
    });
    if !allowed {
        return Err(ConnectorError::NotSent(
            "망취소 URL이 KG이니시스의 허용 목록에 없습니다".to_owned(),
        ));
    }
    post_undo(http, &undo).await
}
