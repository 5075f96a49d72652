//! Choosing the channel a request charges through, from its `pg` field.

use openimp_core::ApiError;
use openimp_pg::{ChannelContext, Connector};
use openimp_store::merchants::{self, ChannelRow};

use crate::{ApiResult, Gateway};

/// `inicis` is the older name of the KG Inicis window; openimp serves both with one channel kind.
pub(crate) fn provider_matches(channel_provider: &str, asked: &str) -> bool {
    let normalize = |p: &str| if p == "inicis" { "html5_inicis".to_owned() } else { p.to_owned() };
    normalize(channel_provider) == normalize(asked)
}

impl Gateway {
    /// The channel for `pg` (`provider` or `provider.MID`). As i'mport does, an absent or
    /// unknown `pg` falls back to the default channel.
    pub async fn resolve_channel(
        &self,
        merchant_id: &str,
        pg: Option<&str>,
    ) -> ApiResult<ChannelRow> {
        let channels = merchants::list_channels(&self.db, merchant_id).await?;
        let pg = pg.map(str::trim).filter(|s| !s.is_empty());
        if let Some(pg) = pg {
            let (provider, mid) = match pg.split_once('.') {
                Some((provider, mid)) => (provider, Some(mid)),
                None => (pg, None),
            };
            let found = channels.iter().find(|c| {
                provider_matches(&c.pg_provider, provider) && mid.is_none_or(|mid| c.mid == mid)
            });
            if let Some(found) = found {
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

    /// The connector behind a channel and the context it needs.
    pub(crate) fn connector_for(
        &self,
        channel: &ChannelRow,
    ) -> ApiResult<(std::sync::Arc<dyn Connector>, ChannelContext)> {
        if !channel.test_mode {
            return Err(ApiError::rejected(format!(
                "{}.{} 채널은 실거래 모드입니다. 이 openimp 빌드는 실제 PG 연동을 포함하지 않으니 테스트 모드 채널을 사용하세요. (live PG connectors are not part of this build; use a test-mode channel)",
                channel.pg_provider, channel.mid
            )));
        }
        let context = ChannelContext {
            pg_provider: channel.pg_provider.clone(),
            mid: channel.mid.clone(),
            test_mode: channel.test_mode,
            secrets: self.channel_secrets(channel)?,
        };
        let connector: std::sync::Arc<dyn Connector> = self.sandbox.clone();
        Ok((connector, context))
    }
}
