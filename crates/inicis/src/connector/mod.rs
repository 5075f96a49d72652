//! The live KG Inicis connector (`html5_inicis`, `inicis` channels with test mode off): INIAPI
//! for billing charges, refunds, inquiries and the keyed (비인증) operations, and the windows
//! in [`crate::connector::window`] (INIStdPay on PC, INIpay Mobile, INILite for mobile billing
//! keys).
//!
//! Money rules: a call that never left is `NotSent`; one whose answer is lost or unreadable is
//! `Unknown`, settled by [`Connector::inquire`] (by order id) or
//! [`Connector::inquire_cancel`] (by the cancel id carried in the refund's `msg`).

mod window;

use async_trait::async_trait;
use openimp_core::card::CardInput;
use openimp_pg::transport::{Answer, PgHttp};
use openimp_pg::window::{NetCancel, WindowOrder, WindowResult, WindowReturn, WindowStart};
use openimp_pg::{
    CancelInquiry, CancelOutcome, CancelRequest, ChannelContext, ChargeOutcome, ChargeRequest,
    Connector, ConnectorError, Inquiry, IssueKeyRequest, IssuedKey, PaymentSource,
};
use serde_json::Value;

use crate::hosts::Hosts;
use crate::protocol::iniapi::{self, timestamp14};
use crate::transformers::{amount, card_info, iniapi_approval, text};

/// The v2 inquiry's `resultCode` for "no such transaction" (a choice to confirm with KG
/// Inicis, docs/decisions.md): only this code settles an unknown charge as never made.
pub const INQUIRY_NOT_FOUND: &str = "02";

/// What the binary tells the connector about the merchant's server (INIAPI wants both) and how
/// to fill the buyer fields KG Inicis requires when a request leaves them out.
#[derive(Debug, Clone)]
pub struct InicisOptions {
    /// `clientIp`: the merchant server's address as registered with KG Inicis.
    pub client_ip: String,
    /// `url`: the merchant's site.
    pub site_url: String,
    /// `buyerName` when a charge has none (INIAPI refuses an empty one with ER0102).
    pub default_buyer_name: String,
    /// `buyerEmail` when a charge has none.
    pub default_buyer_email: String,
    /// `buyerTel` when a charge has none.
    pub default_buyer_tel: String,
    /// `goodName` when a charge has no `name`.
    pub default_goods_name: String,
}

impl Default for InicisOptions {
    fn default() -> InicisOptions {
        InicisOptions {
            client_ip: "127.0.0.1".to_owned(),
            site_url: "http://localhost".to_owned(),
            default_buyer_name: "구매자".to_owned(),
            default_buyer_email: "buyer@localhost".to_owned(),
            default_buyer_tel: "0000000000".to_owned(),
            default_goods_name: "결제".to_owned(),
        }
    }
}

/// KG Inicis, live.
#[derive(Debug, Clone)]
pub struct InicisConnector {
    http: PgHttp,
    options: InicisOptions,
}

/// The refusal of keyed operations on a channel without KG Inicis's keyed-billing contract
/// (seed 002: window-issued billing keys only).
pub const KEYED_REFUSAL: &str = "KG이니시스 비인증(키인) 결제 계약이 없는 채널입니다. \
/subscribe/payments/onetime 과 /subscribe/customers/{customer_uid} 는 지원되지 않으니, 결제창(IMP.request_pay에 customer_uid)으로 빌링키를 발급한 뒤 /subscribe/payments/again 으로 결제하세요. \
(This KG Inicis channel has no keyed-billing contract: issue the billing key in the payment window, then charge it with /subscribe/payments/again.)";

impl InicisConnector {
    pub fn new(http: PgHttp, options: InicisOptions) -> InicisConnector {
        InicisConnector { http, options }
    }

    fn buyer<'a>(&'a self, value: &'a Option<String>, default: &'a str) -> &'a str {
        value.as_deref().map(str::trim).filter(|v| !v.is_empty()).unwrap_or(default)
    }

    /// POSTs an INIAPI v1 form and reads its JSON answer. An unreadable answer is `Unknown`:
    /// the PG may have acted on the request.
    async fn iniapi_v1(
        &self,
        channel: &ChannelContext,
        api: &str,
        fields: &[(&str, &str)],
    ) -> Result<Value, ConnectorError> {
        let url = Hosts::new(channel.endpoint.as_deref()).iniapi_v1(api);
        let answer = self.http.post_form(&url, fields).await?;
        json_answer(&answer)
    }

    /// POSTs an INIAPI v2 request of `kind` with `data` and reads its JSON answer.
    async fn iniapi_v2(
        &self,
        channel: &ChannelContext,
        kind: &str,
        data: &Value,
    ) -> Result<Value, ConnectorError> {
        let keys = Keys::iniapi(channel)?;
        let timestamp = timestamp14(openimp_core::time::now_millis());
        let data_json = data.to_string();
        let hash = iniapi::hash_data_v2(keys.key, &channel.mid, kind, &timestamp, &data_json);
        // The body embeds the exact data text that was hashed.
        let body = format!(
            "{{\"mid\":{},\"type\":{},\"timestamp\":{},\"clientIp\":{},\"data\":{data_json},\"hashData\":{}}}",
            Value::from(channel.mid.as_str()),
            Value::from(kind),
            Value::from(timestamp.as_str()),
            Value::from(self.options.client_ip.as_str()),
            Value::from(hash),
        );
        let url = Hosts::new(channel.endpoint.as_deref()).iniapi_v2(kind);
        let answer = self.http.post_json(&url, body.into_bytes()).await?;
        json_answer(&answer)
    }

    /// A charge on a billing key: `/api/v1/billing` `type=Billing`.
    async fn charge_billing_key(
        &self,
        channel: &ChannelContext,
        request: &ChargeRequest,
        bill_key: &str,
    ) -> Result<ChargeOutcome, ConnectorError> {
        let keys = Keys::iniapi(channel)?;
        let source = [("billKey", bill_key), ("authentification", "00")];
        self.post_charge(channel, "Billing", &keys, request, bill_key, &source).await
    }

    /// One-time keyed charge: `/api/v1/formpay` `type=Pay` `paymethod=Card`. KG Inicis's hash
    /// list for cards is not public; the one used mirrors `type=Auth` (decisions.md).
    async fn charge_keyed(
        &self,
        channel: &ChannelContext,
        request: &ChargeRequest,
        card: &CardInput,
    ) -> Result<ChargeOutcome, ConnectorError> {
        let keys = Keys::iniapi(channel)?;
        let enc = EncryptedCard::of(card, &keys)?;
        let source = [
            ("cardNumber", enc.number.as_str()),
            ("cardExpire", enc.expiry.as_str()),
            ("regNo", enc.reg_no.as_str()),
            ("cardPw", enc.password.as_str()),
        ];
        self.post_charge(channel, "Pay", &keys, request, &enc.number, &source).await
    }

    /// The one INIAPI v1 card charge both kinds send (`Billing` to `/api/v1/billing`, `Pay` to
    /// `/api/v1/formpay`): the order, the buyer (defaults where the merchant gave none), the
    /// price and instalment around `source` (what is charged: the key or the encrypted card);
    /// `hashData` ends with `hashed_source` (the key, or the encrypted card number).
    async fn post_charge(
        &self,
        channel: &ChannelContext,
        kind: &str,
        keys: &Keys<'_>,
        request: &ChargeRequest,
        hashed_source: &str,
        source: &[(&str, &str)],
    ) -> Result<ChargeOutcome, ConnectorError> {
        let timestamp = timestamp14(openimp_core::time::now_millis());
        let price = request.amount.to_string();
        let quota = format!("{:02}", request.card_quota.clamp(0, 99));
        let (paymethod, ip, mid) = ("Card", &self.options.client_ip, &channel.mid);
        let hash = iniapi::hash_data(
            keys.key,
            &[kind, paymethod, &timestamp, ip, mid, &request.order_id, &price, hashed_source],
        );
        let mut fields: Vec<(&str, &str)> = vec![
            ("type", kind),
            ("paymethod", paymethod),
            ("timestamp", &timestamp),
            ("clientIp", ip),
            ("mid", mid),
            ("url", &self.options.site_url),
            ("moid", &request.order_id),
            ("goodName", self.buyer(&request.name, &self.options.default_goods_name)),
            ("buyerName", self.buyer(&request.buyer_name, &self.options.default_buyer_name)),
            ("buyerEmail", self.buyer(&request.buyer_email, &self.options.default_buyer_email)),
            ("buyerTel", self.buyer(&request.buyer_tel, &self.options.default_buyer_tel)),
            ("price", &price),
        ];
        fields.extend_from_slice(source);
        fields.extend([
            ("cardQuota", quota.as_str()),
            ("quotaInterest", "0"),
            ("currency", "WON"),
            ("hashData", hash.as_str()),
        ]);
        let api = if kind == "Pay" { "formpay" } else { "billing" };
        let answer = self.iniapi_v1(channel, api, &fields).await?;
        self.charge_outcome(channel, &answer)
    }

    fn charge_outcome(
        &self,
        channel: &ChannelContext,
        answer: &Value,
    ) -> Result<ChargeOutcome, ConnectorError> {
        let code = text(answer, "resultCode");
        if code != "00" {
            return Ok(ChargeOutcome::Declined { code, message: text(answer, "resultMsg") });
        }
        let hosts = Hosts::new(channel.endpoint.as_deref());
        iniapi_approval(answer, |tid| hosts.receipt(tid)).map(ChargeOutcome::Approved).ok_or_else(
            || {
                ConnectorError::Unknown(
                    "KG이니시스 승인 응답에 tid 또는 price가 없습니다".to_owned(),
                )
            },
        )
    }

    /// What KG Inicis knows of one transaction (v2 inquiry by `tid`, or by `moid` for a charge
    /// whose tid never came back). `None`: the PG has no such transaction.
    async fn inquiry(
        &self,
        channel: &ChannelContext,
        data: Value,
    ) -> Result<Option<Value>, ConnectorError> {
        let answer = self.iniapi_v2(channel, "inquiry", &data).await?;
        match text(&answer, "resultCode").as_str() {
            "00" => Ok(Some(answer)),
            INQUIRY_NOT_FOUND => Ok(None),
            code => Err(ConnectorError::Unknown(format!(
                "KG이니시스 거래조회 실패 [{code}] {}",
                text(&answer, "resultMsg")
            ))),
        }
    }
}

/// The INIAPI key and IV of a channel.
struct Keys<'a> {
    key: &'a str,
    iv: &'a str,
}

impl<'a> Keys<'a> {
    fn iniapi(channel: &'a ChannelContext) -> Result<Keys<'a>, ConnectorError> {
        Ok(Keys {
            key: secret(channel, "iniapi_key", "--iniapi-key")?,
            iv: secret(channel, "iniapi_iv", "--iniapi-iv")?,
        })
    }
}

/// A channel secret, or a refusal naming the flag that sets it (nothing is sent).
fn secret<'a>(
    channel: &'a ChannelContext,
    name: &str,
    flag: &str,
) -> Result<&'a str, ConnectorError> {
    channel.secrets.get(name).map(String::as_str).filter(|v| !v.is_empty()).ok_or_else(|| {
        ConnectorError::Unsupported(format!(
            "KG이니시스 채널({})에 {name}가 설정되지 않았습니다. `openimp channel update {flag} ...`로 설정하세요. (the channel has no {name})",
            channel.mid
        ))
    })
}

/// The `[ENC]` card fields of the keyed operations.
struct EncryptedCard {
    number: String,
    /// `YYMM` (a choice; the reference could not confirm the format).
    expiry: String,
    reg_no: String,
    password: String,
}

impl EncryptedCard {
    fn of(card: &CardInput, keys: &Keys<'_>) -> Result<EncryptedCard, ConnectorError> {
        let enc = |plain: &str| {
            iniapi::encrypt(plain, keys.key, keys.iv).map_err(|_| {
                ConnectorError::Unsupported(
                    "KG이니시스 INIAPI key와 IV는 각각 16자여야 합니다. (INIAPI key and IV must be 16 bytes each)"
                        .to_owned(),
                )
            })
        };
        let expiry = format!("{:02}{:02}", card.expiry_year % 100, card.expiry_month);
        Ok(EncryptedCard {
            number: enc(&card.number)?,
            expiry: enc(&expiry)?,
            reg_no: enc(card.birth.as_deref().unwrap_or(""))?,
            password: enc(card.pwd_2digit.as_deref().unwrap_or(""))?,
        })
    }
}

/// A JSON answer; anything else is `Unknown` (the PG may have acted).
fn json_answer(answer: &Answer) -> Result<Value, ConnectorError> {
    serde_json::from_str::<Value>(&answer.body).ok().filter(Value::is_object).ok_or_else(|| {
        ConnectorError::Unknown(format!(
            "KG이니시스 응답을 읽을 수 없습니다 (HTTP {}, {} bytes)",
            answer.status,
            answer.body.len()
        ))
    })
}

/// `[cancel_id] reason`, cut to what KG Inicis keeps: the cancel id is how a lost cancel is
/// found again by inquiry (decisions.md).
fn refund_message(cancel_id: &str, reason: &str) -> String {
    let message = format!("[{cancel_id}] {reason}");
    message.chars().take(100).collect()
}

#[async_trait]
impl Connector for InicisConnector {
    /// Keyed billing-key issue (`type=Auth`, [L]), only with the keyed-billing contract.
    async fn issue_billing_key(
        &self,
        channel: &ChannelContext,
        request: IssueKeyRequest,
    ) -> Result<IssuedKey, ConnectorError> {
        if !channel.keyed_billing {
            return Err(ConnectorError::Unsupported(KEYED_REFUSAL.to_owned()));
        }
        let keys = Keys::iniapi(channel)?;
        let enc = EncryptedCard::of(&request.card, &keys)?;
        let now = openimp_core::time::now_millis();
        let timestamp = timestamp14(now);
        // A billing-key issue has no order of its own: one id per attempt.
        let moid = format!("KEY{now}{}", openimp_core::ids::random_hex(4));
        let (kind, paymethod, ip, mid) = ("Auth", "Card", &self.options.client_ip, &channel.mid);
        let hash = iniapi::hash_data(
            keys.key,
            &[kind, paymethod, &timestamp, ip, mid, &moid, "0", &enc.number],
        );
        let fields = [
            ("type", kind),
            ("paymethod", paymethod),
            ("timestamp", &timestamp),
            ("clientIp", ip),
            ("mid", mid),
            ("url", &self.options.site_url),
            ("moid", &moid),
            ("goodName", &self.options.default_goods_name),
            ("buyerName", &self.options.default_buyer_name),
            ("buyerEmail", &self.options.default_buyer_email),
            ("buyerTel", &self.options.default_buyer_tel),
            ("price", "0"),
            ("cardNumber", &enc.number),
            ("cardExpire", &enc.expiry),
            ("regNo", &enc.reg_no),
            ("cardPw", &enc.password),
            ("hashData", &hash),
        ];
        let answer = self.iniapi_v1(channel, "billing", &fields).await?;
        let code = text(&answer, "resultCode");
        let bill_key = text(&answer, "billKey");
        if code != "00" || bill_key.is_empty() {
            return Err(ConnectorError::CardRejected { code, message: text(&answer, "resultMsg") });
        }
        let mut card =
            card_info(&text(&answer, "cardCode"), &text(&answer, "checkFlg"), &request.card.number);
        card.card_number = request.card.masked();
        Ok(IssuedKey { billing_key: bill_key, card })
    }

    async fn charge(
        &self,
        channel: &ChannelContext,
        request: ChargeRequest,
    ) -> Result<ChargeOutcome, ConnectorError> {
        match &request.source {
            PaymentSource::BillingKey(key) => self.charge_billing_key(channel, &request, key).await,
            PaymentSource::Keyed(card) if channel.keyed_billing => {
                self.charge_keyed(channel, &request, card).await
            }
            PaymentSource::Keyed(_) => Err(ConnectorError::Unsupported(KEYED_REFUSAL.to_owned())),
            PaymentSource::Method { pay_method, .. } => Err(ConnectorError::Unsupported(format!(
                "KG이니시스 결제수단 {pay_method}은(는) 결제창에서만 결제할 수 있습니다. ({pay_method} is paid in KG Inicis's window only)"
            ))),
        }
    }

    /// `Refund` when the whole original amount is cancelled at once, `PartialRefund`
    /// otherwise (also for what remains after partial cancels, `confirmPrice` 0): KG Inicis
    /// refuses a full `Refund` of a partially cancelled transaction, so a cancel of the whole
    /// balance first asks the PG whether anything was cancelled before.
    async fn cancel(
        &self,
        channel: &ChannelContext,
        request: CancelRequest,
    ) -> Result<CancelOutcome, ConnectorError> {
        let keys = Keys::iniapi(channel)?;
        let remaining = request.balance_before - request.amount;
        let full = if remaining == 0 {
            // Nothing is cancelled by an inquiry, so a failed one means nothing was sent.
            let known =
                match self.inquiry(channel, serde_json::json!({ "tid": request.pg_tid })).await {
                    Ok(known) => known,
                    Err(ConnectorError::Unknown(why)) => return Err(ConnectorError::NotSent(why)),
                    Err(err) => return Err(err),
                };
            match known {
                Some(known) => amount(&known, "price") == Some(request.amount),
                None => true,
            }
        } else {
            false
        };
        let timestamp = timestamp14(openimp_core::time::now_millis());
        let (paymethod, ip, mid) = ("Card", &self.options.client_ip, &channel.mid);
        let msg = refund_message(&request.cancel_id, &request.reason);
        let price = request.amount.to_string();
        let confirm = remaining.to_string();
        let tax_free = request.tax_free.to_string();
        let tax = request.vat_amount.map(|v| v.to_string());
        let answer = if full {
            let kind = "Refund";
            let hash = iniapi::hash_data(
                keys.key,
                &[kind, paymethod, &timestamp, ip, mid, &request.pg_tid],
            );
            let fields = [
                ("type", kind),
                ("paymethod", paymethod),
                ("timestamp", &timestamp),
                ("clientIp", ip),
                ("mid", mid),
                ("tid", &request.pg_tid),
                ("msg", &msg),
                ("hashData", &hash),
            ];
            self.iniapi_v1(channel, "refund", &fields).await?
        } else {
            let kind = "PartialRefund";
            let hash = iniapi::hash_data(
                keys.key,
                &[kind, paymethod, &timestamp, ip, mid, &request.pg_tid, &price, &confirm],
            );
            let mut fields = vec![
                ("type", kind),
                ("paymethod", paymethod),
                ("timestamp", timestamp.as_str()),
                ("clientIp", ip),
                ("mid", mid),
                ("tid", &request.pg_tid),
                ("msg", &msg),
                ("price", &price),
                ("confirmPrice", &confirm),
                ("currency", "WON"),
            ];
            if request.tax_free > 0 {
                fields.push(("taxfree", &tax_free));
            }
            if let Some(tax) = &tax {
                fields.push(("tax", tax));
            }
            fields.push(("hashData", &hash));
            self.iniapi_v1(channel, "refund", &fields).await?
        };
        let code = text(&answer, "resultCode");
        if code != "00" {
            return Ok(CancelOutcome::Refused { code, message: text(&answer, "resultMsg") });
        }
        // A partial cancel has its own tid; a full one is known by the original's.
        let cancel_tid = Some(text(&answer, "tid"))
            .filter(|tid| !full && !tid.is_empty())
            .unwrap_or_else(|| request.pg_tid.clone());
        let (date, time) = if full {
            (text(&answer, "cancelDate"), text(&answer, "cancelTime"))
        } else {
            (text(&answer, "prtcDate"), text(&answer, "prtcTime"))
        };
        let cancelled_at = iniapi::parse_kst(&date, &time).unwrap_or_else(openimp_core::time::now);
        Ok(CancelOutcome::Cancelled {
            receipt_url: Some(Hosts::new(channel.endpoint.as_deref()).receipt(&cancel_tid)),
            pg_tid: cancel_tid,
            cancelled_at,
        })
    }

    /// KG Inicis has no public API to delete a billing key (§1.8): the delete is openimp's own.
    async fn delete_billing_key(
        &self,
        _channel: &ChannelContext,
        _billing_key: &str,
    ) -> Result<(), ConnectorError> {
        Ok(())
    }

    /// v2 inquiry by `moid` (the order id every charge and window uses): the one key an
    /// unknown charge has, since its tid never came back.
    async fn inquire(
        &self,
        channel: &ChannelContext,
        order_id: &str,
    ) -> Result<Inquiry, ConnectorError> {
        let Some(answer) = self.inquiry(channel, serde_json::json!({ "moid": order_id })).await?
        else {
            return Ok(Inquiry::NotFound);
        };
        match text(&answer, "transactionStatus").as_str() {
            "FAIL" => Ok(Inquiry::Declined {
                code: text(&answer, "failCode"),
                message: text(&answer, "failMsg"),
            }),
            // An approval undone by a net-cancel (a window whose answer was lost, or one openimp
            // refused): nothing stands, so the charge failed.
            "NET_CANCEL" => Ok(Inquiry::Declined {
                code: "NET_CANCEL".to_owned(),
                message: "KG이니시스 승인이 망취소되었습니다".to_owned(),
            }),
            "APPROVAL" | "PART_CANCEL" | "CANCEL" => {
                let hosts = Hosts::new(channel.endpoint.as_deref());
                // The inquiry's fields are named like the v1 billing answer's (decisions.md).
                iniapi_approval(&answer, |tid| hosts.receipt(tid))
                    .map(Inquiry::Approved)
                    .ok_or_else(|| {
                        ConnectorError::Unknown(
                            "KG이니시스 거래조회 응답에 tid/price가 없습니다".to_owned(),
                        )
                    })
            }
            other => Err(ConnectorError::Unknown(format!(
                "KG이니시스 거래조회: 알 수 없는 거래상태 {other:?}"
            ))),
        }
    }

    /// v2 inquiry by the approval's tid; the cancel is the one whose `msg` starts with its
    /// `[cancel_id]`.
    async fn inquire_cancel(
        &self,
        channel: &ChannelContext,
        pg_tid: &str,
        cancel_id: &str,
    ) -> Result<CancelInquiry, ConnectorError> {
        let Some(answer) = self.inquiry(channel, serde_json::json!({ "tid": pg_tid })).await?
        else {
            return Ok(CancelInquiry::NotFound);
        };
        let marker = format!("[{cancel_id}]");
        let cancels = answer.get("partCancelTransInfo").and_then(Value::as_array);
        let found =
            cancels.into_iter().flatten().find(|cancel| text(cancel, "msg").starts_with(&marker));
        let Some(cancel) = found else {
            return Ok(CancelInquiry::NotFound);
        };
        let tid = Some(text(cancel, "tid"))
            .filter(|t| !t.is_empty())
            .unwrap_or_else(|| pg_tid.to_owned());
        Ok(CancelInquiry::Cancelled {
            receipt_url: Some(Hosts::new(channel.endpoint.as_deref()).receipt(&tid)),
            amount: amount(cancel, "price").unwrap_or(0),
            cancelled_at: iniapi::parse_kst(
                &text(cancel, "cancelDate"),
                &text(cancel, "cancelTime"),
            )
            .unwrap_or_else(openimp_core::time::now),
            pg_tid: tid,
        })
    }

    async fn begin_window(
        &self,
        channel: &ChannelContext,
        order: &WindowOrder,
    ) -> Result<WindowStart, ConnectorError> {
        window::begin(&self.options, channel, order)
    }

    async fn complete_window(
        &self,
        channel: &ChannelContext,
        ret: WindowReturn,
    ) -> Result<WindowResult, ConnectorError> {
        window::complete(&self.http, channel, ret).await
    }

    async fn net_cancel(
        &self,
        channel: &ChannelContext,
        undo: &NetCancel,
    ) -> Result<(), ConnectorError> {
        window::net_cancel(&self.http, channel, undo).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refund_messages_carry_the_cancel_id() {
        assert_eq!(refund_message("cancel_ab", "고객 요청"), "[cancel_ab] 고객 요청");
        let long = "가".repeat(300);
        assert_eq!(refund_message("c", &long).chars().count(), 100);
    }

    #[test]
    fn unreadable_answers_are_unknown() {
        let err = json_answer(&Answer { status: 200, body: "<html>".to_owned() }).unwrap_err();
        assert!(matches!(err, ConnectorError::Unknown(_)));
        assert!(json_answer(&Answer { status: 200, body: "[1]".to_owned() }).is_err());
        assert!(json_answer(&Answer { status: 200, body: "{\"a\":1}".to_owned() }).is_ok());
    }
}
