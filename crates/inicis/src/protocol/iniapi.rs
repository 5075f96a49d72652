//! INIAPI (v1 form, v2 JSON): `hashData` and the AES-128-CBC `[ENC]` fields (§1.3, §1.7).
//!
//! v1: `hashData = sha512_hex(key + field values in the API's order)`, no separator.
//! v2: `hashData = sha512_hex(key + mid + type + timestamp + the exact JSON text of data)`.
//! `[ENC]` fields are base64(AES-128-CBC, PKCS#7) with the INIAPI key and IV used as raw bytes;
//! hashData covers the encrypted text.

use aes::cipher::{block_padding::Pkcs7, BlockDecryptMut, BlockEncryptMut, KeyIvInit};
use base64::Engine;

use super::sha512_hex;

type Enc = cbc::Encryptor<aes::Aes128>;
type Dec = cbc::Decryptor<aes::Aes128>;

/// Why an INIAPI key or an `[ENC]` field is unusable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CryptoError {
    /// The key or IV is not 16 bytes.
    KeyLength,
    /// The text is not base64, or its padding is wrong after decryption.
    BadCiphertext,
}

/// v1 hashData: the INIAPI key followed by `values`, in order.
pub fn hash_data(key: &str, values: &[&str]) -> String {
    let mut text = String::from(key);
    for value in values {
        text.push_str(value);
    }
    sha512_hex(&text)
}

/// v2 hashData over the exact `data_json` text sent.
pub fn hash_data_v2(key: &str, mid: &str, kind: &str, timestamp: &str, data_json: &str) -> String {
    sha512_hex(&format!("{key}{mid}{kind}{timestamp}{data_json}"))
}

/// An `[ENC]` field: base64 of AES-128-CBC(PKCS#7) with the INIAPI key and IV bytes.
pub fn encrypt(plain: &str, key: &str, iv: &str) -> Result<String, CryptoError> {
    let cipher =
        Enc::new_from_slices(key.as_bytes(), iv.as_bytes()).map_err(|_| CryptoError::KeyLength)?;
    let bytes = cipher.encrypt_padded_vec_mut::<Pkcs7>(plain.as_bytes());
    Ok(base64::engine::general_purpose::STANDARD.encode(bytes))
}

/// The plain text of an `[ENC]` field (what the PG does on receipt).
pub fn decrypt(encoded: &str, key: &str, iv: &str) -> Result<String, CryptoError> {
    let cipher =
        Dec::new_from_slices(key.as_bytes(), iv.as_bytes()).map_err(|_| CryptoError::KeyLength)?;
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(encoded)
        .map_err(|_| CryptoError::BadCiphertext)?;
    let plain =
        cipher.decrypt_padded_vec_mut::<Pkcs7>(&bytes).map_err(|_| CryptoError::BadCiphertext)?;
    String::from_utf8(plain).map_err(|_| CryptoError::BadCiphertext)
}

/// `YYYYMMDDhhmmss` in Korean time, the INIAPI and INILite timestamp.
pub fn timestamp14(unix_millis: i64) -> String {
    kst(unix_millis).format("%Y%m%d%H%M%S").to_string()
}

/// A Unix time as a Korean wall-clock time (KG Inicis speaks KST).
pub fn kst(unix_millis: i64) -> chrono::DateTime<chrono::FixedOffset> {
    let offset = chrono::FixedOffset::east_opt(9 * 3600).expect("+09:00 is a valid offset");
    chrono::DateTime::from_timestamp_millis(unix_millis).unwrap_or_default().with_timezone(&offset)
}

/// Unix seconds of a KST `YYYYMMDD` date and `hhmmss` time (approval dates), if well formed.
pub fn parse_kst(date: &str, time: &str) -> Option<i64> {
    let digits = |s: &str, n: usize| s.len() == n && s.bytes().all(|b| b.is_ascii_digit());
    if !digits(date, 8) || !digits(time, 6) {
        return None;
    }
    let naive =
        chrono::NaiveDateTime::parse_from_str(&format!("{date}{time}"), "%Y%m%d%H%M%S").ok()?;
    let offset = chrono::FixedOffset::east_opt(9 * 3600)?;
    Some(naive.and_local_timezone(offset).single()?.timestamp())
}

#[cfg(test)]
mod tests {
    use super::*;

    const PAY_KEY: &str = "ItEQKi3rY7uvDS8l";
    const PAY_IV: &str = "HYb3yQ4f65QL89==";
    const BILL_KEY: &str = "rKnPljRn5m6J9Mzz";
    const BILL_IV: &str = "W2KLNKra6Wxc1P==";
    const TS: &str = "20240101120000";
    const IP: &str = "127.0.0.1";
    const TID: &str = "StdpayCARDINIpayTest20240101120000000001";

    #[test]
    fn published_aes_vectors() {
        assert_eq!(encrypt("01011112222", PAY_KEY, PAY_IV).unwrap(), "5l8uENBFbTe50/9F3/7o0g==");
        assert_eq!(encrypt("123456789", PAY_KEY, PAY_IV).unwrap(), "qwMHVJqsmXKoR+d8wQTS4g==");
        assert_eq!(
            encrypt("4111111111111111", BILL_KEY, BILL_IV).unwrap(),
            "SS/AEA7onevep2jndK44QkHntiLSDQgZacpkAc96mXE="
        );
    }

    #[test]
    fn decrypt_reverses_and_refuses_garbage() {
        assert_eq!(decrypt("5l8uENBFbTe50/9F3/7o0g==", PAY_KEY, PAY_IV).unwrap(), "01011112222");
        // Right length, wrong key: the padding check fails (or, rarely, the text differs).
        assert_ne!(
            decrypt("5l8uENBFbTe50/9F3/7o0g==", BILL_KEY, BILL_IV),
            Ok("01011112222".to_owned())
        );
        assert_eq!(decrypt("not base64!", PAY_KEY, PAY_IV), Err(CryptoError::BadCiphertext));
        assert_eq!(decrypt("qwMHVJqsmXKo", PAY_KEY, PAY_IV), Err(CryptoError::BadCiphertext));
        assert_eq!(encrypt("x", "short", PAY_IV), Err(CryptoError::KeyLength));
    }

    #[test]
    fn published_hash_vector_issue_receipt() {
        let hash = hash_data(
            PAY_KEY,
            &[
                "IssueReceipt",
                "20191128121211",
                "123.123.123.123",
                "INIpayTest",
                "1000",
                "100",
                "100",
                "5l8uENBFbTe50/9F3/7o0g==",
            ],
        );
        assert_eq!(hash, "e55083c6e4d492b0f4c3f3145348c20d9d9d8fbafbe530245e77ea4db824d81a412073195f86110224568c613efd146bada7755b2113fa94a82007ce1795e8c8");
    }

    #[test]
    fn regression_vectors_v1() {
        let billing = hash_data(
            BILL_KEY,
            &["Billing", "Card", TS, IP, "INIBillTst", "ORD-0001", "1000", "BILLKEY0001"],
        );
        assert_eq!(billing, "af17134965cabe1ce6f156c063721bbdd8e8ae54a02671a297884fa98cab05a6dd54712a84fc7f5c05cbd663d0d856f9ce92f8138956c48b4f4c38638a0fe8ee");
        let refund = hash_data(PAY_KEY, &["Refund", "Card", TS, IP, "INIpayTest", TID]);
        assert_eq!(refund, "b30de43da5f979d76d13c26b6caae03f3759a0ee4b8cc17c7cf0773e7a33e679cf26315b23ba1626c1acdbfed8a28a28ba7db30009f4a577bb055348ab233787");
        let partial =
            hash_data(PAY_KEY, &["PartialRefund", "Card", TS, IP, "INIpayTest", TID, "300", "700"]);
        assert_eq!(partial, "cdafbf87b8b4b507afd71eefb500672d29cf8416f654d2dc492aaaa54e0d814fd9cf98c210feaf3264ac90ee6044cc3d54a198ae985a2cc88412cf1ee2021edc");
    }

    #[test]
    fn regression_vectors_v2() {
        let data = serde_json::json!({ "tid": TID, "msg": "취소 테스트" }).to_string();
        assert_eq!(data, format!("{{\"tid\":\"{TID}\",\"msg\":\"취소 테스트\"}}"));
        assert_eq!(hash_data_v2(PAY_KEY, "INIpayTest", "refund", TS, &data), "3ebf683d3badcb1b2ddf636842d49cbdaa4d64a3ab21fa3436d5d032fcbb5fff39548b2b748708c9d114cc901260fa25eaced952b9ad0b74cf8f75f1b95e81a0");
        let billing = serde_json::json!({
            "url": "www.example.com", "moid": "ORD-0001", "goodName": "구독",
            "buyerName": "홍길동", "buyerEmail": "a@b.c", "buyerTel": "01012345678",
            "price": "1000", "billKey": "BILLKEY0001", "authentification": "00",
            "cardQuota": "00", "quotaInterest": "0",
        })
        .to_string();
        assert_eq!(hash_data_v2(BILL_KEY, "INIBillTst", "billing", TS, &billing), "e09bf0fe906a67d01076b82d47692cd22a4037d4c97cc6bdd1ae9ac3a30ad1d80d8d728df889ea51a9c21e66bd81cfa7501156e8b18955605b6faa88077a907d");
    }

    #[test]
    fn kst_timestamps() {
        // 2024-01-01 03:00:00 UTC is noon in Seoul.
        assert_eq!(timestamp14(1_704_078_000_000), TS);
        assert_eq!(parse_kst("20240101", "120000"), Some(1_704_078_000));
        assert_eq!(parse_kst("2024011", "120000"), None);
    }
}
