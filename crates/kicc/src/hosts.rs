//! Where KICC's ep9 API lives: its test and production hosts, each path once, and the
//! channel's `--endpoint` (KICC's staging host, or a local fake) replacing the host.

use openimp_pg::transport::rebase;
use openimp_pg::ChannelContext;

/// KICC's test (개발) API host: a test MID with simulated approvals.
pub const TEST_HOST: &str = "https://testpgapi.easypay.co.kr";
/// KICC's production (운영) API host.
pub const PRODUCTION_HOST: &str = "https://pgapi.easypay.co.kr";

/// Registers a transaction and opens the window (거래등록).
pub const WEBPAY: &str = "/api/ep9/trades/webpay";
/// Approves a window's authentication: a payment, or a billing-key issue (승인).
pub const APPROVAL: &str = "/api/ep9/trades/approval";
/// Charges a billing key (빌키 결제).
pub const BATCH_APPROVAL: &str = "/api/trades/approval/batch";
/// Cancels in full or in part (취소).
pub const REVISE: &str = "/api/trades/revise";
/// Deletes a billing key (빌키 삭제).
pub const REMOVE_BATCH_KEY: &str = "/api/trades/removeBatchKey";
/// Looks a transaction up by its `shopTransactionId` (거래상태 조회).
pub const RETRIEVE_TRANSACTION: &str = "/api/trades/retrieveTransaction";

/// The URL of `path` for a channel: KICC's production host unless the channel names another
/// base with `--endpoint` (its test host, a fake on this machine).
///
/// A live channel always talks to production unless told otherwise: "test mode" in openimp
/// means the in-process sandbox, never KICC's test host.
pub fn url(channel: &ChannelContext, path: &str) -> String {
    rebase(&format!("{PRODUCTION_HOST}{path}"), channel.endpoint.as_deref())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn channel(endpoint: Option<&str>) -> ChannelContext {
        ChannelContext {
            pg_provider: "kicc".to_owned(),
            mid: "T5102001".to_owned(),
            test_mode: false,
            endpoint: endpoint.map(str::to_owned),
            keyed_billing: false,
            secrets: Default::default(),
        }
    }

    #[test]
    fn production_unless_an_endpoint_is_given() {
        assert_eq!(url(&channel(None), REVISE), "https://pgapi.easypay.co.kr/api/trades/revise");
        assert_eq!(
            url(&channel(Some(TEST_HOST)), APPROVAL),
            "https://testpgapi.easypay.co.kr/api/ep9/trades/approval"
        );
        assert_eq!(
            url(&channel(Some("http://127.0.0.1:9200/")), BATCH_APPROVAL),
            "http://127.0.0.1:9200/api/trades/approval/batch"
        );
    }
}
