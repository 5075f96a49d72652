//! Choosing the channel a request charges through: one matcher for REST charges, billing keys,
//! schedules and the payment window. A request names its channel with `channelKey` (PortOne's
//! channel key) or the older `pg` (`provider` or `provider.MID`).

use openimp_core::ids::random_hex;
use openimp_core::ApiError;
use openimp_pg::registry::Mode;
use openimp_pg::{ChannelContext, Connector};
use openimp_store::customers::CustomerRow;
use openimp_store::merchants::{self, ChannelRow};
use openimp_store::payments::PaymentRow;

use serde::Serialize;

use crate::{ApiResult, Gateway, MerchantId};

/// How a request names its channel. `channel_key` wins over `pg` when both are given.
#[derive(Debug, Clone, Copy, Default)]
pub struct ChannelChoice<'a> {
    /// `channelKey`: must name one of the merchant's channels, else the request is refused.
    pub channel_key: Option<&'a str>,
    /// `pg`: `provider` or `provider.MID`; an unknown value falls back as i'mport does.
    pub pg: Option<&'a str>,
}

impl<'a> ChannelChoice<'a> {
    pub fn new(channel_key: Option<&'a str>, pg: Option<&'a str>) -> Self {
        let given = |v: Option<&'a str>| v.map(str::trim).filter(|s| !s.is_empty());
        ChannelChoice { channel_key: given(channel_key), pg: given(pg) }
    }

    /// Only `pg` (the callers that have no channelKey field).
    pub fn pg(pg: Option<&'a str>) -> Self {
        Self::new(None, pg)
    }
}

/// A new channel's key: `channel-key-` and a random UUID (version 4), as PortOne's look.
pub fn new_channel_key() -> String {
    let hex = random_hex(16);
    let variant = ["8", "9", "a", "b"][usize::from(hex.as_bytes()[16] % 4)];
    format!(
        "channel-key-{}-{}-4{}-{}{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[13..16],
        variant,
        &hex[17..20],
        &hex[20..32]
    )
}

/// Whether a channel of `channel_provider` serves `asked` (`inicis` and `html5_inicis` are
/// one channel kind: [`openimp_pg::registry::canonical_provider`]).
pub(crate) fn provider_matches(channel_provider: &str, asked: &str) -> bool {
    use openimp_pg::registry::canonical_provider;
    canonical_provider(channel_provider) == canonical_provider(asked)
}

/// The refusal of a channelKey the merchant does not have (never a silent fallback).
fn unknown_channel_key(channel_key: &str) -> ApiError {
    ApiError::rejected(format!(
        "존재하지 않는 채널키(channelKey)입니다: {channel_key}. `openimp channel list`로 확인하세요. (unknown channelKey; it is never sent to the default channel)"
    ))
}

/// The channel `choice` names among `channels` (listed default first):
/// 1. `channelKey`: that channel, or a refusal;
/// 2. `pg` = `provider.MID`: that channel; `provider` (or a MID it does not have): the
///    provider's channel, its default first;
/// 3. otherwise (no `pg`, or an unknown provider, as i'mport does): the default channel.
pub(crate) fn pick_channel(
    channels: &[ChannelRow],
    choice: ChannelChoice<'_>,
) -> ApiResult<ChannelRow> {
    if let Some(key) = choice.channel_key {
        return channels
            .iter()
            .find(|c| c.channel_key == key)
            .cloned()
            .ok_or_else(|| unknown_channel_key(key));
    }
    if let Some(pg) = choice.pg {
        let (provider, mid) = match pg.split_once('.') {
            Some((provider, mid)) => (provider, Some(mid)),
            None => (pg, None),
        };
        let of_provider = || channels.iter().filter(|c| provider_matches(&c.pg_provider, provider));
        let exact = mid.and_then(|mid| of_provider().find(|c| c.mid == mid));
        if let Some(found) = exact.or_else(|| of_provider().next()) {
            return Ok(found.clone());
        }
    }
    channels
        .iter()
        .find(|c| c.is_default)
        .or_else(|| channels.first())
        .cloned()
        .ok_or_else(|| ApiError::rejected("등록된 PG 설정이 없습니다. (the merchant has no PG channel; add one with `openimp channel add`)"))
}

/// Refuses a key whose issuer (its stored mode and connector) is not the channel's current one
/// (`mode`, `connector`, from [`Gateway::key_issuer`]).
fn check_key_issuer(
    customer: &CustomerRow,
    channel: &ChannelRow,
    mode: &str,
    connector: Option<&str>,
) -> ApiResult<()> {
    if customer.issued_mode == mode && customer.issued_connector.as_deref() == connector {
        return Ok(());
    }
    let describe = |mode: &str, connector: Option<&str>| match (mode, connector) {
        ("sandbox", _) => "테스트 모드(openimp 샌드박스 PG) (test mode, the sandbox PG)".to_owned(),
        (_, Some(connector)) => format!("실거래 모드({connector}) (live, {connector})"),
        (mode, None) => mode.to_owned(),
    };
    Err(ApiError::rejected(format!(
        "이 빌링키는 {}에서 발급되었지만 {}.{} 채널은 지금 {}입니다. 발급한 PG가 아닌 곳에는 빌링키를 보내지 않으니, 빌링키를 다시 발급받으세요. (the billing key was issued in another mode than the channel's current one; it is not sent to any PG: issue a new key)",
        describe(&customer.issued_mode, customer.issued_connector.as_deref()),
        channel.pg_provider,
        channel.mid,
        describe(mode, connector),
    )))
}

/// `PgSettingAnnotation` of `GET /users/pg`: one PG setting of the merchant.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct PgSetting {
    pub pg_provider: String,
    pub pg_id: String,
    /// Test mode (the sandbox PG answers).
    pub sandbox: bool,
    /// `payment` (the window: 인증결제) or `api_payment` (REST keyed charges: 비인증/키인결제).
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// openimp channels have no console name: `provider.MID`.
    pub channel_name: String,
    pub channel_key: String,
}

/// Whether REST key issues and keyed charges are allowed on the channel: its keyed-billing
/// contract, and a PG that has a keyed API at all.
fn keyed_allowed(channel: &ChannelRow) -> bool {
    channel.keyed_billing && openimp_pg::registry::has_keyed_api(&channel.pg_provider)
}

impl Gateway {
    /// `GET /users/pg`: every channel as a `payment` setting (every channel opens windows),
    /// and again as `api_payment` when it allows REST keyed charges, as PortOne's console
    /// lists a MID under each tab it is registered in. Default channel first.
    pub async fn pg_settings(&self, merchant: &MerchantId) -> ApiResult<Vec<PgSetting>> {
        let channels = merchants::list_channels(&self.db, merchant.as_str()).await?;
        let setting = |c: &ChannelRow, kind| PgSetting {
            pg_provider: c.pg_provider.clone(),
            pg_id: c.mid.clone(),
            sandbox: c.test_mode,
            kind,
            channel_name: format!("{}.{}", c.pg_provider, c.mid),
            channel_key: c.channel_key.clone(),
        };
        let mut settings: Vec<PgSetting> = channels.iter().map(|c| setting(c, "payment")).collect();
        settings.extend(
            channels.iter().filter(|c| keyed_allowed(c)).map(|c| setting(c, "api_payment")),
        );
        Ok(settings)
    }

    /// The channel a request names (see [`pick_channel`]).
    pub async fn resolve_channel(
        &self,
        merchant_id: &str,
        choice: ChannelChoice<'_>,
    ) -> ApiResult<ChannelRow> {
        let channels = merchants::list_channels(&self.db, merchant_id).await?;
        pick_channel(&channels, choice)
    }

    /// Refuses a `channelKey` that names another channel than the one a billing key was issued
    /// on (a key only charges through the PG that issued it), or no channel at all.
    pub(crate) async fn check_key_channel(
        &self,
        merchant_id: &str,
        key_channel_id: &str,
        channel_key: Option<&str>,
    ) -> ApiResult<()> {
        let choice = ChannelChoice::new(channel_key, None);
        if choice.channel_key.is_none() {
            return Ok(());
        }
        let named = self.resolve_channel(merchant_id, choice).await?;
        if named.id == key_channel_id {
            return Ok(());
        }
        Err(ApiError::rejected(format!(
            "이 빌링키는 channelKey가 가리키는 {}.{} 채널에서 발급되지 않았습니다. (the billing key was issued on another channel than channelKey names)",
            named.pg_provider, named.mid
        )))
    }

    /// The mode (`sandbox`, `live`) and the live connector (canonical provider) a channel
    /// issues billing keys with now: stored with every key it issues.
    pub(crate) fn key_issuer(&self, channel: &ChannelRow) -> (&'static str, Option<String>) {
        match Mode::of_test_mode(channel.test_mode) {
            Mode::Sandbox => (Mode::Sandbox.as_str(), None),
            Mode::Live => (
                Mode::Live.as_str(),
                Some(self.connectors.canonical(&channel.pg_provider).to_owned()),
            ),
        }
    }

    /// Refuses to charge a billing key through a channel that was removed, or whose mode or
    /// connector is no longer the one that issued the key (a sandbox key after the channel
    /// went live, and the reverse): the PG answering now never saw that key, so nothing is
    /// sent to any PG.
    pub(crate) fn check_key_usable(
        &self,
        customer: &CustomerRow,
        channel: &ChannelRow,
    ) -> ApiResult<()> {
        if channel.removed_at != 0 {
            return Err(ApiError::rejected(format!(
                "빌링키를 발급한 PG 채널({}.{})이 삭제되었습니다. 다른 채널에서 빌링키를 다시 발급받으세요. (the channel that issued this billing key was removed; issue a new key on another channel)",
                channel.pg_provider, channel.mid
            )));
        }
        let (mode, connector) = self.key_issuer(channel);
        check_key_issuer(customer, channel, mode, connector.as_deref())
    }

    /// The connector that issued a billing key, whatever the channel's mode is now (to delete
    /// the key where it lives), with the channel's context.
    pub(crate) fn issuing_connector(
        &self,
        customer: &CustomerRow,
        channel: &ChannelRow,
    ) -> ApiResult<(std::sync::Arc<dyn Connector>, ChannelContext)> {
        self.connector_in_mode(channel, Some(&customer.issued_mode))
    }

    /// The connector that a payment was sent to (its recorded mode), with its channel's
    /// context: its cancels, inquiries and deposits go there, whatever the channel became.
    pub(crate) fn payment_connector(
        &self,
        payment: &PaymentRow,
        channel: &ChannelRow,
    ) -> ApiResult<(std::sync::Arc<dyn Connector>, ChannelContext)> {
        self.connector_in_mode(channel, payment.pg_mode.as_deref())
    }

    /// [`Gateway::connector_for`] in a recorded mode (`None`: the channel's own).
    fn connector_in_mode(
        &self,
        channel: &ChannelRow,
        mode: Option<&str>,
    ) -> ApiResult<(std::sync::Arc<dyn Connector>, ChannelContext)> {
        match mode {
            Some(mode) => {
                let test_mode = mode == Mode::Sandbox.as_str();
                self.connector_for(&ChannelRow { test_mode, ..channel.clone() })
            }
            None => self.connector_for(channel),
        }
    }

    /// The connector behind a channel and the context it needs: the sandbox PG in test mode,
    /// the provider's registered connector when live, or a refusal naming the provider when
    /// this build has none (nothing is sent anywhere).
    pub(crate) fn connector_for(
        &self,
        channel: &ChannelRow,
    ) -> ApiResult<(std::sync::Arc<dyn Connector>, ChannelContext)> {
        let mode = Mode::of_test_mode(channel.test_mode);
        let connector = self.connectors.get(&channel.pg_provider, mode).ok_or_else(|| {
            ApiError::rejected(format!(
                "{}.{} 채널은 실거래 모드이지만 이 openimp 빌드에는 {} PG 연동이 없습니다. 테스트 모드로 바꾸거나 연동이 포함된 빌드를 사용하세요. (no live connector for PG provider {}; live providers in this build: {})",
                channel.pg_provider,
                channel.mid,
                channel.pg_provider,
                channel.pg_provider,
                match self.connectors.live_providers() {
                    providers if providers.is_empty() => "none".to_owned(),
                    providers => providers.join(", "),
                }
            ))
        })?;
        let context = ChannelContext {
            pg_provider: channel.pg_provider.clone(),
            mid: channel.mid.clone(),
            test_mode: channel.test_mode,
            endpoint: channel.endpoint.clone(),
            keyed_billing: channel.keyed_billing,
            secrets: self.channel_secrets(channel)?,
        };
        Ok((connector, context))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn channel(provider: &str, mid: &str, is_default: bool) -> ChannelRow {
        ChannelRow {
            id: format!("ch_{provider}_{mid}"),
            merchant_id: "imp1".into(),
            pg_provider: provider.into(),
            mid: mid.into(),
            test_mode: true,
            is_default,
            keyed_billing: true,
            secrets_sealed: None,
            created_at: 0,
            channel_key: format!("channel-key-{provider}-{mid}"),
            endpoint: None,
            removed_at: 0,
        }
    }

    #[test]
    fn one_matcher_for_every_request() {
        // Listed default first, as the store lists them.
        let channels = [
            channel("kicc", "T1", true),
            channel("html5_inicis", "A", false),
            channel("html5_inicis", "B", false),
        ];
        let pick = |key: Option<&str>, pg: Option<&str>| {
            pick_channel(&channels, ChannelChoice::new(key, pg)).map(|c| c.id)
        };
        assert_eq!(pick(None, None).unwrap(), "ch_kicc_T1");
        assert_eq!(pick(None, Some("html5_inicis.B")).unwrap(), "ch_html5_inicis_B");
        assert_eq!(pick(None, Some("inicis")).unwrap(), "ch_html5_inicis_A");
        assert_eq!(pick(None, Some("html5_inicis.ZZ")).unwrap(), "ch_html5_inicis_A");
        assert_eq!(pick(None, Some("nice")).unwrap(), "ch_kicc_T1");
        assert_eq!(
            pick(Some("channel-key-html5_inicis-B"), Some("kicc")).unwrap(),
            "ch_html5_inicis_B"
        );
        assert!(pick(Some("channel-key-nope"), None).is_err());
        assert!(pick(Some("channel-key-nope"), Some("kicc")).is_err());
    }

    fn key(mode: &str, connector: Option<&str>) -> CustomerRow {
        CustomerRow {
            merchant_id: "imp1".into(),
            customer_uid: "c1".into(),
            channel_id: "ch_html5_inicis_A".into(),
            pg_provider: "html5_inicis".into(),
            pg_id: "A".into(),
            billing_key_sealed: String::new(),
            card_code: None,
            card_name: None,
            card_number: None,
            card_type: None,
            customer_id: None,
            customer_name: None,
            customer_tel: None,
            customer_email: None,
            customer_addr: None,
            customer_postcode: None,
            inserted: 0,
            updated: 0,
            issued_mode: mode.into(),
            issued_connector: connector.map(str::to_owned),
        }
    }

    #[test]
    fn a_key_charges_only_where_it_was_issued() {
        let ch = channel("html5_inicis", "A", true);
        let sandbox_key = key("sandbox", None);
        let live_key = key("live", Some("html5_inicis"));
        assert!(check_key_issuer(&sandbox_key, &ch, "sandbox", None).is_ok());
        assert!(check_key_issuer(&live_key, &ch, "live", Some("html5_inicis")).is_ok());
        // A sandbox key after the channel went live, and the reverse.
        let refused = check_key_issuer(&sandbox_key, &ch, "live", Some("html5_inicis"));
        let (_, code, message) = refused.unwrap_err().envelope_parts();
        assert_eq!(code, 1);
        assert!(message.contains("테스트 모드") && message.contains("실거래 모드(html5_inicis)"));
        let refused = check_key_issuer(&live_key, &ch, "sandbox", None);
        let (_, code, message) = refused.unwrap_err().envelope_parts();
        assert_eq!(code, 1);
        assert!(message.starts_with("이 빌링키는 실거래 모드(html5_inicis)"), "{message}");
        // Another live connector than the one that issued it.
        assert!(check_key_issuer(&live_key, &ch, "live", Some("kicc")).is_err());
    }

    #[test]
    fn channel_keys_look_like_portone_keys() {
        let key = new_channel_key();
        assert!(key.starts_with("channel-key-"), "{key}");
        let uuid = &key["channel-key-".len()..];
        let groups: Vec<usize> = uuid.split('-').map(str::len).collect();
        assert_eq!(groups, [8, 4, 4, 4, 12], "{key}");
        assert_eq!(&uuid[14..15], "4");
        assert_ne!(new_channel_key(), key);
    }
}
