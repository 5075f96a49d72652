//! openimp's PG-neutral requests turned into KICC's bodies, and KICC's answers turned back
//! into outcomes, with every check an answer must pass before openimp believes it.

use openimp_pg::window::{WindowOrder, WindowPurpose};
use openimp_pg::{Approval, CancelRequest, CardInfo, ChargeRequest};

use crate::protocol::{self, SUCCESS};
use crate::wire::{
    BatchKey, BatchMethodInfo, BatchRequest, CertType, CustomerInfo, Installment, OrderInfo,
    ReviseRequest, ShopValueInfo, TaxInfo, TradeAnswer, WebpayRequest, WindowMethodInfo,
};

/// What goes in `goodsName` when the order has no name (KICC requires one).
const DEFAULT_GOODS_NAME: &str = "주문";
/// `goodsName` of a billing-key window with no name.
const DEFAULT_KEY_GOODS_NAME: &str = "카드 등록";

fn customer_info(
    name: Option<&str>,
    email: Option<&str>,
    tel: Option<&str>,
) -> Option<CustomerInfo> {
    let clean = |value: Option<&str>, max: usize| {
        value.map(|v| protocol::clean_text(v, max)).filter(|v| !v.is_empty())
    };
    let info = CustomerInfo {
        customer_name: clean(name, 50),
        customer_mail: clean(email, 50),
        customer_contact_no: tel
            .map(|t| t.chars().filter(char::is_ascii_digit).take(20).collect::<String>())
            .filter(|t| !t.is_empty()),
    };
    let empty = info.customer_name.is_none()
        && info.customer_mail.is_none()
        && info.customer_contact_no.is_none();
    (!empty).then_some(info)
}

fn goods_name(name: Option<&str>, default: &str) -> String {
    let cleaned = protocol::clean_text(name.unwrap_or(""), protocol::MAX_GOODS_NAME_BYTES);
    if cleaned.is_empty() {
        default.to_owned()
    } else {
        cleaned
    }
}

/// `taxInfo` when part of the amount is tax-free (복합과세); `None` otherwise, since KICC wants
/// it only from merchants with that contract.
fn tax_info(amount: i64, tax_free: i64, vat: i64) -> Option<TaxInfo> {
    (tax_free > 0).then(|| TaxInfo {
        taxation_amount: amount - tax_free - vat,
        tax_free_amount: tax_free,
        vat_amount: vat,
    })
}

/// The registration of a window: a card payment (`11`) or a billing-key issue (`81`, amount 0,
/// authenticated by number, expiry, birth date and password).
pub fn webpay_request(mall_id: &str, order: &WindowOrder) -> WebpayRequest {
    let customer = customer_info(
        order.buyer_name.as_deref(),
        order.buyer_email.as_deref(),
        order.buyer_tel.as_deref(),
    );
    let (code, amount, method_info, tax, default_name) = match order.purpose {
        WindowPurpose::BillingKey => (
            protocol::PAY_METHOD_BILLING_KEY,
            0,
            Some(WindowMethodInfo { bill_key_method_info: CertType { cert_type: "0".to_owned() } }),
            None,
            DEFAULT_KEY_GOODS_NAME,
        ),
        WindowPurpose::Payment => {
            // The window's VAT is not given: KICC's rule for the taxable part (10/110) is used.
            let vat = (order.amount - order.tax_free) / 11;
            (
                protocol::PAY_METHOD_CARD,
                order.amount,
                None,
                tax_info(order.amount, order.tax_free, vat),
                DEFAULT_GOODS_NAME,
            )
        }
    };
    WebpayRequest {
        mall_id: mall_id.to_owned(),
        shop_order_no: order.order_id.clone(),
        amount,
        pay_method_type_code: code.to_owned(),
        currency: "00".to_owned(),
        return_url: order.return_url.clone(),
        device_type_code: if order.mobile { "mobile" } else { "pc" }.to_owned(),
        client_type_code: "00".to_owned(),
        lang_flag: "KOR".to_owned(),
        order_info: OrderInfo {
            goods_name: goods_name(order.name.as_deref(), default_name),
            customer_info: customer,
        },
        pay_method_info: method_info,
        tax_info: tax,
        shop_value_info: ShopValueInfo { value1: protocol::clean_text(&order.merchant_uid, 100) },
    }
}

/// A charge on a billing key. `shopTransactionId` and `shopOrderNo` are both the attempt's
/// order id (openimp's imp_uid, unique per attempt), so an inquiry finds it by that id alone.
pub fn batch_request(
    mall_id: &str,
    request: &ChargeRequest,
    batch_key: &str,
    today: &str,
) -> BatchRequest {
    BatchRequest {
        mall_id: mall_id.to_owned(),
        shop_transaction_id: request.order_id.clone(),
        shop_order_no: request.order_id.clone(),
        approval_req_date: today.to_owned(),
        amount: request.amount,
        currency: "00".to_owned(),
        order_info: OrderInfo {
            goods_name: goods_name(request.name.as_deref(), DEFAULT_GOODS_NAME),
            customer_info: customer_info(
                request.buyer_name.as_deref(),
                request.buyer_email.as_deref(),
                request.buyer_tel.as_deref(),
            ),
        },
        pay_method_info: BatchMethodInfo {
            bill_key_method_info: BatchKey { batch_key: batch_key.to_owned() },
            card_method_info: Installment { installment_month: request.card_quota.max(0) },
        },
        tax_info: tax_info(request.amount, request.tax_free, request.vat_amount),
    }
}

/// A cancel: full (`40`) when it takes exactly all that remains, partial card (`32`) with the amount and
/// what must remain after it otherwise. `shopTransactionId` is openimp's cancel id, so a cancel
/// inquiry finds it.
pub fn revise_request(
    mall_id: &str,
    secret_key: &str,
    request: &CancelRequest,
    today: &str,
) -> ReviseRequest {
    // More than the balance is sent as a partial cancel, for KICC to refuse, never widened
    // into a full cancel of something else.
    let full = request.amount == request.balance_before;
    let (code, amount, remain) = if full {
        (protocol::REVISE_FULL, None, None)
    } else {
        (
            protocol::REVISE_PARTIAL_CARD,
            Some(request.amount),
            Some(request.balance_before - request.amount),
        )
    };
    ReviseRequest {
        mall_id: mall_id.to_owned(),
        shop_transaction_id: request.cancel_id.clone(),
        pg_cno: request.pg_tid.clone(),
        revise_type_code: code.to_owned(),
        amount,
        remain_amount: remain,
        cancel_req_date: today.to_owned(),
        msg_auth_value: protocol::revise_request_auth(
            secret_key,
            &request.pg_tid,
            &request.cancel_id,
        ),
        revise_message: protocol::clean_text(&request.reason, protocol::MAX_REVISE_MESSAGE_BYTES),
    }
}

/// A full cancel that undoes an approval openimp will not keep (망취소).
pub fn undo_request(mall_id: &str, secret_key: &str, pg_cno: &str, today: &str) -> ReviseRequest {
    let shop_transaction_id = protocol::new_shop_transaction_id("nc");
    ReviseRequest {
        mall_id: mall_id.to_owned(),
        msg_auth_value: protocol::revise_request_auth(secret_key, pg_cno, &shop_transaction_id),
        shop_transaction_id,
        pg_cno: pg_cno.to_owned(),
        revise_type_code: protocol::REVISE_FULL.to_owned(),
        amount: None,
        remain_amount: None,
        cancel_req_date: today.to_owned(),
        revise_message: "승인 확인 불가 망취소".to_owned(),
    }
}

/// Whether an approval answer's `msgAuthValue` is KICC's (`pgCno|amount|transactionDate`).
/// An answer without one, or without the fields it covers, is not.
pub fn approval_is_authentic(secret_key: &str, answer: &TradeAnswer) -> bool {
    let (Some(amount), Some(given)) = (answer.amount, answer.msg_auth_value.as_deref()) else {
        return false;
    };
    !answer.pg_cno.is_empty()
        && protocol::verify_msg_auth(
            secret_key,
            &[&answer.pg_cno, &amount.to_string(), &answer.transaction_date],
            given,
        )
}

/// Whether a revise answer's `msgAuthValue`, when it carries one, is KICC's: the answer formula
/// over the cancel transaction (`cancelPgCno|cancelAmount|transactionDate`). KICC's published
/// revise answers carry none; one that is there must verify (docs/decisions.md, KICC).
pub fn revise_is_authentic(secret_key: &str, answer: &TradeAnswer) -> bool {
    match answer.msg_auth_value.as_deref() {
        None => true,
        Some(given) => {
            let amount = answer.cancel_amount.unwrap_or_default().to_string();
            protocol::verify_msg_auth(
                secret_key,
                &[&answer.cancel_pg_cno, &amount, &answer.transaction_date],
                given,
            )
        }
    }
}

/// Whether an answer says success.
pub fn succeeded(answer: &TradeAnswer) -> bool {
    answer.res_cd == SUCCESS
}

/// The card facts of an approval. `masked` is the masked number to show (`cardNo` of a payment,
/// `cardMaskNo` of a billing-key issue). KICC's issuer code is passed as the card code.
pub fn card_of(answer: &TradeAnswer, masked: &str) -> CardInfo {
    let card = &answer.payment_info.card_info;
    CardInfo {
        card_code: card.issuer_code.clone(),
        card_name: card.issuer_name.clone(),
        card_type: match card.card_gubun.as_str() {
            "N" => Some(0),
            "Y" => Some(1),
            _ => None,
        },
        card_number: masked.to_owned(),
    }
}

/// An approved payment as openimp records it; `None` when the answer lacks what an approval
/// must carry (a pgCno, an amount, a readable transaction date).
pub fn approval_of(answer: &TradeAnswer) -> Option<Approval> {
    let amount = answer.amount?;
    let paid_at = protocol::parse_transaction_date(&answer.transaction_date)?;
    if answer.pg_cno.is_empty() {
        return None;
    }
    Some(Approval {
        pg_tid: answer.pg_cno.clone(),
        receipt_url: None,
        apply_num: answer.payment_info.approval_no.clone(),
        paid_at,
        amount,
        card: card_of(answer, &answer.payment_info.card_info.card_no),
    })
}

/// `[resCd] resMsg`, as openimp shows a PG's refusal.
pub fn refusal_message(answer: &TradeAnswer) -> String {
    format!("[{}] {}", answer.res_cd, answer.res_msg)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cancel(amount: i64, balance_before: i64) -> CancelRequest {
        CancelRequest {
            order_id: "imps_1".to_owned(),
            cancel_id: "cancel_ab".to_owned(),
            pg_tid: "24010112000012345678".to_owned(),
            amount,
            tax_free: 0,
            vat_amount: None,
            balance_before,
            reason: "고객 요청; \"환불\"".to_owned(),
        }
    }

    #[test]
    fn full_and_partial_revises() {
        let full = revise_request("T5102001", "DUMMY-SECRET-KEY", &cancel(1000, 1000), "20240101");
        assert_eq!(full.revise_type_code, "40");
        assert_eq!((full.amount, full.remain_amount), (None, None));
        assert_eq!(
            full.msg_auth_value,
            protocol::revise_request_auth("DUMMY-SECRET-KEY", "24010112000012345678", "cancel_ab")
        );
        assert_eq!(full.revise_message, "고객 요청 환불");
        let partial =
            revise_request("T5102001", "DUMMY-SECRET-KEY", &cancel(300, 1000), "20240101");
        assert_eq!(partial.revise_type_code, "32");
        assert_eq!((partial.amount, partial.remain_amount), (Some(300), Some(700)));
        let json = serde_json::to_value(&partial).unwrap();
        assert_eq!(json["remainAmount"], 700);
        assert_eq!(json["shopTransactionId"], "cancel_ab");
    }

    #[test]
    fn answers_must_carry_their_mac() {
        let secret = "DUMMY-SECRET-KEY";
        let mut answer = TradeAnswer {
            res_cd: "0000".to_owned(),
            pg_cno: "24010112000012345678".to_owned(),
            amount: Some(1000),
            transaction_date: "20240101120000".to_owned(),
            msg_auth_value: Some(
                "0ce78324a75313936afa45236d0259bc518e1fa97b940aef02bd1e12034bce3d".to_owned(),
            ),
            ..TradeAnswer::default()
        };
        assert!(approval_is_authentic(secret, &answer));
        answer.amount = Some(100);
        assert!(!approval_is_authentic(secret, &answer));
        answer.amount = Some(1000);
        answer.msg_auth_value = None;
        assert!(!approval_is_authentic(secret, &answer));
        // A revise answer without a MAC is read; with a wrong one it is not.
        let mut revise = TradeAnswer {
            cancel_pg_cno: "c1".to_owned(),
            cancel_amount: Some(300),
            transaction_date: "20240101120000".to_owned(),
            ..TradeAnswer::default()
        };
        assert!(revise_is_authentic(secret, &revise));
        revise.msg_auth_value = Some(protocol::answer_auth(secret, "c1", 300, "20240101120000"));
        assert!(revise_is_authentic(secret, &revise));
        revise.cancel_amount = Some(301);
        assert!(!revise_is_authentic(secret, &revise));
    }
}
