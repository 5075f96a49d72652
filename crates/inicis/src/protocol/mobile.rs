//! INIpay Mobile's `P_CHKFAKE` (§1.10) and INILite's billing-key window `hashdata` (§1.11).

use base64::Engine;
use sha2::{Digest, Sha512};

use super::sha256_hex;

/// `P_CHKFAKE = base64(raw SHA-512(P_AMT + P_OID + P_TIMESTAMP + mobile hashKey))`.
pub fn p_chkfake(amount: &str, oid: &str, timestamp: &str, hash_key: &str) -> String {
    let digest = Sha512::digest(format!("{amount}{oid}{timestamp}{hash_key}").as_bytes());
    base64::engine::general_purpose::STANDARD.encode(digest)
}

/// INILite `inibill_card.jsp` hashdata: `sha256_hex(mid + orderid + timestamp + INILite key)`.
pub fn inilite_hashdata(mid: &str, order_id: &str, timestamp: &str, inilite_key: &str) -> String {
    sha256_hex(&format!("{mid}{order_id}{timestamp}{inilite_key}"))
}

/// The newer INILite billing window (`inilitepay.inicis.com/pay/card/billing`) hashdata:
/// `sha512_hex(price + mid + orderId + timestamp + INILite key)`. Kept with its vector for the
/// day that flow replaces `inibill_card.jsp`; the connector uses the older flow (decisions.md).
pub fn inilite_pay_hashdata(
    price: &str,
    mid: &str,
    order_id: &str,
    timestamp: &str,
    inilite_key: &str,
) -> String {
    super::sha512_hex(&format!("{price}{mid}{order_id}{timestamp}{inilite_key}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn regression_vectors() {
        assert_eq!(
            p_chkfake(
                "1000",
                "INIpayTest_1704078000000",
                "1704078000000",
                "3CB8183A4BE283555ACC8363C0360223"
            ),
            "R8AQbiB9HBVoiquXudU9Y4DqgD30p1xqWCaPZUuLfoZdAljtYRREfAF9OuVk3kp+iqwAkS/fuHHcaoHS927uMQ=="
        );
        assert_eq!(
            inilite_hashdata(
                "INIBillTst",
                "ORD-0001",
                "20240101120000",
                "b09LVzhuTGZVaEY1WmJoQnZzdXpRdz09"
            ),
            "76be27bd04df33d704f4d34faaff654b3f8c0db5ac000370a6d8272157c1cf2e"
        );
        assert_eq!(
            inilite_pay_hashdata(
                "0",
                "INIBillTst",
                "ORD-0001",
                "20240101120000",
                "b09LVzhuTGZVaEY1WmJoQnZzdXpRdz09"
            ),
            "81793eee62c7b39ac24f659b594e208544e8abf67efdcb0f82cad1348d61da76693262b97811da92edbb0d6cd36709ab5e79845814550f3db5271cfe337481cd"
        );
    }
}
