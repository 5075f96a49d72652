//! The SDK callback's `rsp` object, and the order fields a window request charges with.

use openimp_core::wire::Payment;
use serde_json::{json, Value};

use super::WindowRequest;
use openimp_core::money::ChargeAmounts;
use openimp_core::order::Order;

/// The callback's `rsp` for a charge made in the window.
pub(super) fn charge_rsp(payment: &Payment) -> Value {
    match payment.status.as_str() {
        "paid" => rsp_of(payment, None),
        "failed" => {
            let reason = payment.fail_reason.clone().unwrap_or_default();
            rsp_of(payment, Some((error_code(&reason), reason.as_str())))
        }
        _ => rsp_of(
            payment,
            Some((
                "F0009".to_owned(),
                "PG 응답을 받지 못해 결제 결과를 확인 중입니다. GET /payments/{imp_uid}로 확인하세요. (outcome unknown, being settled)",
            )),
        ),
    }
}

pub(super) fn order_fields(request: &WindowRequest, card_quota: i64) -> Order {
    Order {
        merchant_uid: request.merchant_uid.clone(),
        amounts: ChargeAmounts {
            amount: request.amount,
            tax_free: request.tax_free,
            vat_amount: request.vat_amount,
            card_quota,
        },
        currency: Some(request.currency.clone()),
        name: request.name.clone(),
        buyer_name: request.buyer_name.clone(),
        buyer_email: request.buyer_email.clone(),
        buyer_tel: request.buyer_tel.clone(),
        buyer_addr: request.buyer_addr.clone(),
        buyer_postcode: request.buyer_postcode.clone(),
        custom_data: request.custom_data.clone(),
        notice_url: request.notice_url.clone(),
    }
}

/// The PG's code from a `[51] 잔액부족`-style reason, else a generic one.
pub(super) fn error_code(reason: &str) -> String {
    reason
        .find('[')
        .and_then(|start| {
            let rest = &reason[start + 1..];
            rest.find(']').map(|end| rest[..end].to_owned())
        })
        .filter(|code| !code.is_empty() && code.len() <= 8)
        .unwrap_or_else(|| "F400".to_owned())
}

/// A failure `rsp` with no payment behind it (or only its id).
pub fn failure(merchant_uid: &str, imp_uid: Option<&str>, code: &str, message: &str) -> Value {
    json!({
        "success": false,
        "imp_success": false,
        "imp_uid": imp_uid,
        "merchant_uid": merchant_uid,
        "error_code": code,
        "error_msg": message,
    })
}

/// The callback's `rsp` for a recorded payment (reference §9.5).
pub(super) fn rsp_of(payment: &Payment, error: Option<(String, &str)>) -> Value {
    let custom_data = payment
        .custom_data
        .as_deref()
        .map(|s| serde_json::from_str::<Value>(s).unwrap_or_else(|_| Value::String(s.to_owned())));
    let mut rsp = json!({
        "success": error.is_none(),
        "imp_success": error.is_none(),
        "imp_uid": payment.imp_uid,
        "merchant_uid": payment.merchant_uid,
        "pay_method": payment.pay_method,
        "paid_amount": if payment.status == "paid" { payment.amount } else { 0 },
        "status": payment.status,
        "name": payment.name,
        "pg_provider": payment.pg_provider,
        "emb_pg_provider": payment.emb_pg_provider,
        "pg_tid": payment.pg_tid,
        "pg_type": "payment",
        "buyer_name": payment.buyer_name,
        "buyer_email": payment.buyer_email,
        "buyer_tel": payment.buyer_tel,
        "buyer_addr": payment.buyer_addr,
        "buyer_postcode": payment.buyer_postcode,
        "custom_data": custom_data,
        "paid_at": payment.paid_at,
        "receipt_url": payment.receipt_url,
        "currency": payment.currency,
        "apply_num": payment.apply_num,
        "card_name": payment.card_name,
        "card_number": payment.card_number,
        "card_quota": payment.card_quota,
        "customer_uid": payment.customer_uid,
        "customer_uid_usage": payment.customer_uid_usage,
        "bank_code": payment.bank_code,
        "bank_name": payment.bank_name,
        "vbank_code": payment.vbank_code,
        "vbank_name": payment.vbank_name,
        "vbank_num": payment.vbank_num,
        "vbank_holder": payment.vbank_holder,
        "vbank_date": payment.vbank_date,
        "vbank_issued_at": payment.vbank_issued_at,
    });
    if let (Some((code, message)), Some(map)) = (error, rsp.as_object_mut()) {
        map.insert("error_code".to_owned(), Value::String(code));
        map.insert("error_msg".to_owned(), Value::String(message.to_owned()));
    }
    rsp
}
