//! INIStdPay (the PC web-standard window): mKey, the request signature and verification, the
//! approval's signature and verification, and the approval answer's `authSignature` (§1.9).
//!
//! Timestamps here are 13-digit epoch milliseconds. The signature texts are the parameters
//! sorted by name and joined as `k=v&k=v`, hashed with SHA-256 (lowercase hex).

use super::sha256_hex;

/// `mKey = sha256(signKey)`.
pub fn m_key(sign_key: &str) -> String {
    sha256_hex(sign_key)
}

/// The window request's `signature` (without the signKey).
pub fn signature(oid: &str, price: &str, timestamp: &str) -> String {
    sha256_hex(&format!("oid={oid}&price={price}&timestamp={timestamp}"))
}

/// The window request's `verification` (with the signKey; required when `use_chkfake=Y`).
pub fn verification(oid: &str, price: &str, sign_key: &str, timestamp: &str) -> String {
    sha256_hex(&format!("oid={oid}&price={price}&signKey={sign_key}&timestamp={timestamp}"))
}

/// The approval request's `signature`.
pub fn approval_signature(auth_token: &str, timestamp: &str) -> String {
    sha256_hex(&format!("authToken={auth_token}&timestamp={timestamp}"))
}

/// The approval request's `verification`.
pub fn approval_verification(auth_token: &str, sign_key: &str, timestamp: &str) -> String {
    sha256_hex(&format!("authToken={auth_token}&signKey={sign_key}&timestamp={timestamp}"))
}

/// The approval answer's `authSignature`: the last digit of `tstamp` (the timestamp of the
/// approval request) picks one of ten orders of the fields; `None` if `tstamp` does not end in a
/// digit.
pub fn auth_signature(mid: &str, tstamp: &str, moid: &str, tot_price: &str) -> Option<String> {
    let digit = tstamp.chars().last()?.to_digit(10)?;
    let m = format!("mid={mid}");
    let t = format!("tstamp={tstamp}");
    let o = format!("MOID={moid}");
    let p = format!("TotPrice={tot_price}");
    let order = match digit {
        1 => [&o, &m, &t],
        2 => [&o, &t, &m],
        3 => [&m, &o, &t],
        4 => [&m, &t, &o],
        5 => [&t, &m, &o],
        6 => [&t, &o, &m],
        7 => [&p, &m, &t],
        8 => [&p, &t, &m],
        9 => [&p, &o, &t],
        _ => [&p, &t, &o],
    };
    Some(sha256_hex(&order.map(String::as_str).join("&")))
}

#[cfg(test)]
mod tests {
    use super::*;

    const SIGN_KEY: &str = "SU5JTElURV9UUklQTEVERVNfS0VZU1RS";
    const TS: &str = "1704078000000";
    const OID: &str = "INIpayTest_1704078000000";

    #[test]
    fn regression_vectors() {
        assert_eq!(
            m_key(SIGN_KEY),
            "3a9503069192f207491d4b19bd743fc249a761ed94246c8c42fed06c3cd15a33"
        );
        assert_eq!(
            signature(OID, "1000", TS),
            "e3f5a23129db612dfbcc9d733471a947bcc6d72f33059f7ab1fd7804ccaf38a2"
        );
        assert_eq!(
            verification(OID, "1000", SIGN_KEY, TS),
            "07669b492a2d4140481dd77d40d23d3dfe02662e127ebf5b8aad164e0888d96c"
        );
        assert_eq!(
            approval_signature("AUTHTOKEN-EXAMPLE", TS),
            "b8d0da8a74cef9823df5ebae672303b2694455187a5d831fa30265cdd820b0db"
        );
        assert_eq!(
            approval_verification("AUTHTOKEN-EXAMPLE", SIGN_KEY, TS),
            "6b11c38d5fa19c5a95c78952fa8adb0ebdc2f86c8e7e576519ceb82a14aa53ca"
        );
        assert_eq!(
            auth_signature("INIpayTest", TS, OID, "1000").unwrap(),
            "4e0abdd7569d4b40d522989e63fa7ea0d1951d46ae9a88c9c67cf136e732edc5"
        );
    }

    /// Every one of the ten layouts, against the string the reference's table gives for it.
    #[test]
    fn auth_signature_layouts() {
        let (mid, moid, price) = ("INIpayTest", "ORD-1", "1000");
        let expected = [
            (0, "TotPrice={p}&tstamp={t}&MOID={o}"),
            (1, "MOID={o}&mid={m}&tstamp={t}"),
            (2, "MOID={o}&tstamp={t}&mid={m}"),
            (3, "mid={m}&MOID={o}&tstamp={t}"),
            (4, "mid={m}&tstamp={t}&MOID={o}"),
            (5, "tstamp={t}&mid={m}&MOID={o}"),
            (6, "tstamp={t}&MOID={o}&mid={m}"),
            (7, "TotPrice={p}&mid={m}&tstamp={t}"),
            (8, "TotPrice={p}&tstamp={t}&mid={m}"),
            (9, "TotPrice={p}&MOID={o}&tstamp={t}"),
        ];
        let mut seen = std::collections::BTreeSet::new();
        for (digit, layout) in expected {
            let ts = format!("170407800000{digit}");
            let text = layout
                .replace("{p}", price)
                .replace("{t}", &ts)
                .replace("{o}", moid)
                .replace("{m}", mid);
            let got = auth_signature(mid, &ts, moid, price).unwrap();
            assert_eq!(got, sha256_hex(&text), "layout for digit {digit}");
            seen.insert(got);
        }
        assert_eq!(seen.len(), 10);
        assert_eq!(auth_signature(mid, "17040780000x", moid, price), None);
        assert_eq!(auth_signature(mid, "", moid, price), None);
    }
}
