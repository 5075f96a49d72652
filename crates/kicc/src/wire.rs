//! The JSON bodies of KICC's ep9 API as the connector sends and reads them (field names as
//! KICC spells them). Answers are read leniently (every field defaults), since KICC adds fields
//! over time and omits empty ones; what a field must say is checked in `transformers`.

use serde::{Deserialize, Deserializer, Serialize};

/// `POST /api/ep9/trades/webpay`.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct WebpayRequest {
    pub mall_id: String,
    pub shop_order_no: String,
    pub amount: i64,
    pub pay_method_type_code: String,
    pub currency: String,
    pub return_url: String,
    pub device_type_code: String,
    pub client_type_code: String,
    pub lang_flag: String,
    pub order_info: OrderInfo,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pay_method_info: Option<WindowMethodInfo>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tax_info: Option<TaxInfo>,
    pub shop_value_info: ShopValueInfo,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct OrderInfo {
    pub goods_name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub customer_info: Option<CustomerInfo>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CustomerInfo {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub customer_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub customer_mail: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub customer_contact_no: Option<String>,
}

/// `payMethodInfo` of a window registration: the billing-key window's card authentication.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct WindowMethodInfo {
    pub bill_key_method_info: CertType,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CertType {
    /// `0`: number, expiry, birth date and the password's first two digits.
    pub cert_type: String,
}

/// `taxInfo` (복합과세): the three parts add up to `amount`.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TaxInfo {
    pub taxation_amount: i64,
    pub tax_free_amount: i64,
    pub vat_amount: i64,
}

/// `shopValueInfo`: values KICC hands back on the return (`shopValue1..7`).
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ShopValueInfo {
    /// The merchant's merchant_uid, for KICC's own records.
    pub value1: String,
}

/// `POST /api/ep9/trades/approval`.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ApprovalRequest {
    pub mall_id: String,
    pub shop_transaction_id: String,
    pub authorization_id: String,
    pub shop_order_no: String,
    pub approval_req_date: String,
}

/// `POST /api/trades/approval/batch`.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BatchRequest {
    pub mall_id: String,
    pub shop_transaction_id: String,
    pub shop_order_no: String,
    pub approval_req_date: String,
    pub amount: i64,
    pub currency: String,
    pub order_info: OrderInfo,
    pub pay_method_info: BatchMethodInfo,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tax_info: Option<TaxInfo>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BatchMethodInfo {
    pub bill_key_method_info: BatchKey,
    pub card_method_info: Installment,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BatchKey {
    pub batch_key: String,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Installment {
    pub installment_month: i64,
}

/// `POST /api/trades/revise`.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ReviseRequest {
    pub mall_id: String,
    pub shop_transaction_id: String,
    pub pg_cno: String,
    pub revise_type_code: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub amount: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub remain_amount: Option<i64>,
    pub cancel_req_date: String,
    pub msg_auth_value: String,
    pub revise_message: String,
}

/// `POST /api/trades/removeBatchKey`.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RemoveBatchKeyRequest {
    pub mall_id: String,
    pub shop_transaction_id: String,
    pub batch_key: String,
    pub remove_req_date: String,
}

/// `POST /api/trades/retrieveTransaction`.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RetrieveRequest {
    pub mall_id: String,
    pub shop_transaction_id: String,
    pub transaction_date: String,
}

/// Every answer's result, and the window registration's page.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct WebpayAnswer {
    pub res_cd: String,
    pub res_msg: String,
    pub auth_page_url: String,
}

/// The answer of an approval, a batch charge, a removal, a revise and a retrieval: one shape
/// with every field optional, as KICC answers them (a retrieval answers the shape of the
/// transaction it finds).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct TradeAnswer {
    pub res_cd: String,
    pub res_msg: String,
    pub mall_id: String,
    pub shop_transaction_id: String,
    pub shop_order_no: String,
    pub pg_cno: String,
    #[serde(deserialize_with = "lenient_amount")]
    pub amount: Option<i64>,
    pub transaction_date: String,
    pub status_code: String,
    pub status_message: String,
    pub msg_auth_value: Option<String>,
    pub payment_info: PaymentInfo,
    // Revise answers.
    pub ori_pg_cno: String,
    pub cancel_pg_cno: String,
    #[serde(deserialize_with = "lenient_amount")]
    pub cancel_amount: Option<i64>,
    #[serde(deserialize_with = "lenient_amount")]
    pub remain_amount: Option<i64>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct PaymentInfo {
    pub pay_method_type_code: String,
    pub approval_no: String,
    pub approval_date: String,
    pub card_info: CardInfo,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct CardInfo {
    /// The masked card number of a payment; the **batch key** of a billing-key issue.
    pub card_no: String,
    /// The masked card number of a billing-key issue.
    pub card_mask_no: String,
    pub issuer_code: String,
    pub issuer_name: String,
    pub acquirer_code: String,
    pub acquirer_name: String,
    #[serde(deserialize_with = "lenient_amount")]
    pub installment_month: Option<i64>,
    /// `N` credit, `Y` check, `G` gift.
    pub card_gubun: String,
}

/// A number KICC sends as a JSON number (as documented) or, leniently, a numeric string.
fn lenient_amount<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<i64>, D::Error> {
    let value = Option::<serde_json::Value>::deserialize(deserializer)?;
    Ok(match value {
        Some(serde_json::Value::Number(n)) => n.as_i64(),
        Some(serde_json::Value::String(s)) => s.trim().parse().ok(),
        _ => None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_a_published_batch_answer_shape() {
        let answer: TradeAnswer = serde_json::from_str(
            r#"{"resCd":"0000","resMsg":"단독승인 정상","mallId":"05574880","pgCno":"23110811420910846419",
            "amount":200,"transactionDate":"20231108114209","statusCode":"TS03","msgAuthValue":"95",
            "paymentInfo":{"payMethodTypeCode":"11","approvalNo":"62361024",
            "cardInfo":{"cardNo":"41918700****383*","issuerCode":"026","issuerName":"하나비씨카드",
            "installmentMonth":0,"cardGubun":"N","couponAmount":0}},"unknownField":{}}"#,
        )
        .unwrap();
        assert_eq!(answer.amount, Some(200));
        assert_eq!(answer.payment_info.card_info.card_no, "41918700****383*");
        assert_eq!(answer.payment_info.card_info.installment_month, Some(0));
        let revise: TradeAnswer = serde_json::from_str(
            r#"{"resCd":"0000","oriPgCno":"1","cancelPgCno":"2","cancelAmount":"200","remainAmount":0}"#,
        )
        .unwrap();
        assert_eq!((revise.cancel_amount, revise.remain_amount), (Some(200), Some(0)));
        assert_eq!(revise.msg_auth_value, None);
    }
}
