//! KG Inicis's hosts (§1.2) and the IDC whitelist rule: an approval or net-cancel URL is never
//! taken from the browser; it is rebuilt from `idc_name` ∈ {fc, ks, stg} and the posted one
//! must equal it, or nothing is called. With a channel `endpoint` (staging, a local fake) every
//! host is replaced by that one base URL and the PG's paths are kept.

use openimp_pg::transport::rebase;

/// INIAPI (v1 form and v2 JSON).
pub const INIAPI: &str = "https://iniapi.inicis.com";
/// INIStdPay's script and pay pages.
pub const STDPAY: &str = "https://stdpay.inicis.com";
/// INIpay Mobile's window.
pub const MOBILE: &str = "https://mobile.inicis.com";
/// INILite's billing-key window.
pub const INILITE: &str = "https://inilite.inicis.com";
/// KG Inicis's receipt pages.
pub const RECEIPT: &str = "https://iniweb.inicis.com";

/// The data centres KG Inicis names in `idc_name`.
pub const IDC_NAMES: [&str; 3] = ["fc", "ks", "stg"];

/// Where a channel's calls go: KG Inicis's production hosts, or one `endpoint` for all.
#[derive(Debug, Clone, Copy)]
pub struct Hosts<'a> {
    endpoint: Option<&'a str>,
}

impl<'a> Hosts<'a> {
    pub fn new(endpoint: Option<&'a str>) -> Hosts<'a> {
        Hosts { endpoint: endpoint.filter(|e| !e.trim().is_empty()) }
    }

    fn at(&self, host: &str, path: &str) -> String {
        rebase(&format!("{host}{path}"), self.endpoint)
    }

    /// `/api/v1/{billing,refund,formpay}`.
    pub fn iniapi_v1(&self, api: &str) -> String {
        self.at(INIAPI, &format!("/api/v1/{api}"))
    }

    /// `/v2/pg/{inquiry,...}`.
    pub fn iniapi_v2(&self, api: &str) -> String {
        self.at(INIAPI, &format!("/v2/pg/{api}"))
    }

    pub fn stdpay_script(&self) -> String {
        self.at(STDPAY, "/stdjs/INIStdPay.js")
    }

    pub fn mobile_window(&self) -> String {
        self.at(MOBILE, "/smart/payment/")
    }

    pub fn inilite_billing_window(&self) -> String {
        self.at(INILITE, "/inibill/inibill_card.jsp")
    }

    /// The receipt page of a transaction (the form seen in the wild, §1.4), rebased with the
    /// endpoint too so a fake's receipts are reachable offline.
    pub fn receipt(&self, tid: &str) -> String {
        self.at(
            RECEIPT,
            &format!("/DefaultWebApp/mall/cr/cm/mCmReceipt_head.jsp?noTid={tid}&noMethod=1"),
        )
    }

    /// The PC approval URL of `idc_name`; `None` outside the whitelist.
    pub fn stdpay_auth_url(&self, idc_name: &str) -> Option<String> {
        Some(self.at(&stdpay_idc_host(idc_name)?, "/api/payAuth"))
    }

    /// The PC net-cancel URL of `idc_name`; `None` outside the whitelist.
    pub fn stdpay_net_cancel_url(&self, idc_name: &str) -> Option<String> {
        Some(self.at(&stdpay_idc_host(idc_name)?, "/api/netCancel"))
    }

    /// The mobile approval URL (`P_REQ_URL`) of `idc_name`; `None` outside the whitelist.
    pub fn mobile_req_url(&self, idc_name: &str) -> Option<String> {
        Some(self.at(&mobile_idc_host(idc_name)?, "/smart/payReq.ini"))
    }

    /// The mobile net-cancel URL of `idc_name`; `None` outside the whitelist.
    pub fn mobile_net_cancel_url(&self, idc_name: &str) -> Option<String> {
        Some(self.at(&mobile_idc_host(idc_name)?, "/smart/payNetCancel.ini"))
    }
}

fn stdpay_idc_host(idc_name: &str) -> Option<String> {
    IDC_NAMES.contains(&idc_name).then(|| format!("https://{idc_name}stdpay.inicis.com"))
}

fn mobile_idc_host(idc_name: &str) -> Option<String> {
    IDC_NAMES.contains(&idc_name).then(|| format!("https://{idc_name}mobile.inicis.com"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn production_hosts_by_idc() {
        let hosts = Hosts::new(None);
        assert_eq!(hosts.stdpay_auth_url("fc").unwrap(), "https://fcstdpay.inicis.com/api/payAuth");
        assert_eq!(
            hosts.stdpay_net_cancel_url("ks").unwrap(),
            "https://ksstdpay.inicis.com/api/netCancel"
        );
        assert_eq!(
            hosts.stdpay_auth_url("stg").unwrap(),
            "https://stgstdpay.inicis.com/api/payAuth"
        );
        assert_eq!(
            hosts.mobile_req_url("fc").unwrap(),
            "https://fcmobile.inicis.com/smart/payReq.ini"
        );
        assert_eq!(
            hosts.mobile_net_cancel_url("stg").unwrap(),
            "https://stgmobile.inicis.com/smart/payNetCancel.ini"
        );
        assert_eq!(hosts.iniapi_v1("billing"), "https://iniapi.inicis.com/api/v1/billing");
        assert_eq!(hosts.iniapi_v2("inquiry"), "https://iniapi.inicis.com/v2/pg/inquiry");
        assert_eq!(hosts.stdpay_script(), "https://stdpay.inicis.com/stdjs/INIStdPay.js");
    }

    #[test]
    fn unknown_idc_names_have_no_url() {
        let hosts = Hosts::new(None);
        for idc in ["", "xx", "FC", "fc.evil.com/", "stg/../", "fcstdpay.inicis.com"] {
            assert_eq!(hosts.stdpay_auth_url(idc), None, "{idc}");
            assert_eq!(hosts.mobile_req_url(idc), None, "{idc}");
        }
    }

    #[test]
    fn an_endpoint_replaces_every_host() {
        let hosts = Hosts::new(Some("http://127.0.0.1:9100/"));
        assert_eq!(hosts.stdpay_auth_url("stg").unwrap(), "http://127.0.0.1:9100/api/payAuth");
        assert_eq!(hosts.stdpay_auth_url("fc").unwrap(), "http://127.0.0.1:9100/api/payAuth");
        assert_eq!(hosts.iniapi_v1("refund"), "http://127.0.0.1:9100/api/v1/refund");
        assert_eq!(
            hosts.receipt("T1"),
            "http://127.0.0.1:9100/DefaultWebApp/mall/cr/cm/mCmReceipt_head.jsp?noTid=T1&noMethod=1"
        );
        assert_eq!(hosts.stdpay_auth_url("zz"), None);
        assert_eq!(
            Hosts::new(Some(" ")).iniapi_v1("billing"),
            INIAPI.to_owned() + "/api/v1/billing"
        );
    }
}
