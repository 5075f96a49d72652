//! Webhooks (i'mport V1 "Notification", §8), delivered from an outbox (DESIGN.md rule 4).
//!
//! A payment state change that the reference lists (paid; failed for scheduled charges;
//! cancelled) queues a row in `webhook_outbox` in its own transaction; [`Gateway::webhook_for`]
//! decides the target: the request's `notice_url`, else the merchant's webhook URL, else nothing
//! (and then the state change stays one statement). Workers deliver at least once, with
//! exponential back-off, logging every attempt. Every delivery carries Standard Webhooks
//! signature headers (`webhook-id`, `webhook-timestamp`, `webhook-signature`) made with the
//! merchant's `whsec_` secret (see docs/webhooks.md).

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine;
use hmac::{Hmac, Mac};
use openimp_core::ids::random_hex;
use openimp_core::time::{now, now_millis};
use openimp_core::wire::Paged;
use openimp_core::ApiError;
use openimp_store::webhooks::{
    self, AfterAttempt, AttemptRow, NewWebhook, OutboxFilter, OutboxRow,
};
use openimp_vault::Aad;
use serde::Serialize;

use crate::{ApiResult, Gateway};

/// How webhooks are sent. Fixed at startup.
#[derive(Debug, Clone)]
pub struct WebhookOptions {
    /// Deliver to loopback, link-local and private addresses (`--allow-private-webhooks`).
    pub allow_private: bool,
    /// Tries per round (a resend starts a new round).
    pub max_attempts: i64,
    /// Delay before the second try; doubled for each later try.
    pub backoff_base: Duration,
    pub connect_timeout: Duration,
    pub read_timeout: Duration,
}

impl Default for WebhookOptions {
    /// 10 tries over about a day (3 min, 6 min, ... 12.8 h: 25.5 h in all); the timeouts of the
    /// original service.
    fn default() -> Self {
        WebhookOptions {
            allow_private: false,
            max_attempts: 10,
            backoff_base: Duration::from_secs(180),
            connect_timeout: Duration::from_secs(10),
            read_timeout: Duration::from_secs(30),
        }
    }
}

/// How long a merchant's webhook settings are cached (a change made on another node or with
/// the CLI shows within this time).
const SETTINGS_TTL: Duration = Duration::from_secs(5);

/// (fetched at, webhook URL, format) of one merchant.
type CachedSettings = (Instant, Option<String>, String);

/// Webhook state kept by the gateway: options, caches and the HTTP client.
pub(crate) struct WebhookState {
    options: WebhookOptions,
    settings: Mutex<HashMap<String, CachedSettings>>,
    secrets: Mutex<HashMap<String, Arc<Vec<u8>>>>,
    client: reqwest::Client,
}

impl WebhookState {
    pub(crate) fn new(options: WebhookOptions) -> WebhookState {
        let client = reqwest::Client::builder()
            .connect_timeout(options.connect_timeout)
            .read_timeout(options.read_timeout)
            .timeout(options.connect_timeout + options.read_timeout)
            .redirect(reqwest::redirect::Policy::none())
            .dns_resolver(Arc::new(GuardedResolver { allow_private: options.allow_private }))
            .user_agent(concat!("openimp-webhook/", env!("CARGO_PKG_VERSION")))
            .build()
            .unwrap_or_default();
        WebhookState {
            options,
            settings: Mutex::new(HashMap::new()),
            secrets: Mutex::new(HashMap::new()),
            client,
        }
    }
}

/// Resolves names for deliveries, dropping refused addresses (so a DNS answer that changes
/// after the notice_url was checked still cannot reach a private address).
struct GuardedResolver {
    allow_private: bool,
}

impl reqwest::dns::Resolve for GuardedResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let allow_private = self.allow_private;
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let found: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0))
                .await?
                .filter(|addr| allow_private || is_public(addr.ip()))
                .collect();
            if found.is_empty() {
                return Err(format!("{host} resolves only to refused (private) addresses").into());
            }
            let addrs: reqwest::dns::Addrs = Box::new(found.into_iter());
            Ok(addrs)
        })
    }
}

pub use crate::public_ip::is_public;

/// The Standard Webhooks signature header value: `v1,` + base64(HMAC-SHA256(secret, id.ts.body)).
pub fn sign(secret: &[u8], id: &str, timestamp: i64, body: &[u8]) -> String {
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(secret).expect("HMAC takes any key length");
    mac.update(id.as_bytes());
    mac.update(b".");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    format!("v1,{}", base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes()))
}

/// The key bytes of a `whsec_` secret.
pub fn secret_key(secret: &str) -> Option<Vec<u8>> {
    base64::engine::general_purpose::STANDARD.decode(secret.strip_prefix("whsec_")?).ok()
}

fn secret_aad(merchant_id: &str) -> Aad<'_> {
    Aad { purpose: "webhook_secret", merchant_id, subject: "" }
}

/// The body of a notification, as i'mport sends it.
pub fn body(row: &OutboxRow) -> (Vec<u8>, &'static str) {
    let mut fields = vec![
        ("imp_uid", row.imp_uid.as_str()),
        ("merchant_uid", row.merchant_uid.as_str()),
        ("status", row.status.as_str()),
    ];
    if let Some(cancellation_id) = &row.cancellation_id {
        fields.push(("cancellation_id", cancellation_id));
    }
    if row.format == "form" {
        let text = fields
            .iter()
            .map(|(k, v)| format!("{}={}", form_encode(k), form_encode(v)))
            .collect::<Vec<_>>()
            .join("&");
        (text.into_bytes(), "application/x-www-form-urlencoded")
    } else {
        let map: serde_json::Map<String, serde_json::Value> = fields
            .into_iter()
            .map(|(k, v)| (k.to_owned(), serde_json::Value::String(v.to_owned())))
            .collect();
        (serde_json::Value::Object(map).to_string().into_bytes(), "application/json")
    }
}

fn form_encode(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'*' => {
                out.push(char::from(b))
            }
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// An outbox row with its attempt log, as the API and CLI list it.
#[derive(Debug, Clone, Serialize)]
pub struct WebhookView {
    pub id: String,
    pub imp_uid: String,
    pub merchant_uid: String,
    pub status: String,
    pub cancellation_id: Option<String>,
    pub url: String,
    pub format: String,
    /// `pending`, `delivered`, or `failed` (out of tries; resend to try again).
    pub state: String,
    pub attempts: i64,
    /// Unix milliseconds; 0 unless pending.
    pub next_attempt_at: i64,
    pub created_at: i64,
    pub delivered_at: i64,
    pub last_status: Option<i64>,
    pub last_error: Option<String>,
    pub attempt_log: Vec<AttemptRow>,
}

/// What one delivery pass did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeliveryReport {
    pub delivered: usize,
    pub retrying: usize,
    pub gave_up: usize,
}

impl Gateway {
    pub fn webhook_options(&self) -> &WebhookOptions {
        &self.webhooks.options
    }

    /// The merchant's (webhook URL, format), cached for a few seconds.
    async fn webhook_settings(&self, merchant_id: &str) -> ApiResult<(Option<String>, String)> {
        if let Some((at, url, format)) = self.webhooks.settings.lock().unwrap().get(merchant_id) {
            if at.elapsed() < SETTINGS_TTL {
                return Ok((url.clone(), format.clone()));
            }
        }
        let settings = webhooks::settings(&self.db, merchant_id).await?;
        let (url, format) = match settings {
            Some(s) => (s.url.filter(|u| !u.trim().is_empty()), s.format),
            None => (None, "json".to_owned()),
        };
        self.webhooks
            .settings
            .lock()
            .unwrap()
            .insert(merchant_id.to_owned(), (Instant::now(), url.clone(), format.clone()));
        Ok((url, format))
    }

    /// The notification to queue with a state change of a payment of `merchant_id`: to its
    /// `notice_url`, else to the merchant's webhook URL; None when neither exists.
    pub async fn webhook_for(
        &self,
        merchant_id: &str,
        notice_url: Option<&str>,
        cancellation_id: Option<String>,
    ) -> ApiResult<Option<NewWebhook>> {
        let (merchant_url, format) = self.webhook_settings(merchant_id).await?;
        let url = notice_url.map(str::trim).filter(|u| !u.is_empty()).map(str::to_owned);
        let Some(url) = url.or(merchant_url) else { return Ok(None) };
        Ok(Some(NewWebhook {
            id: format!("msg_{}", random_hex(12)),
            url,
            format,
            cancellation_id,
            created_at: now(),
            next_attempt_at: now_millis(),
        }))
    }

    /// Refuses a notice_url that is not http(s), or whose host resolves to an address that is
    /// not global unicast ([`is_public`]), unless the operator allows those.
    pub async fn check_notice_url(&self, notice_url: Option<&str>) -> ApiResult<()> {
        self.check_webhook_target("notice_url", notice_url).await
    }

    /// The registration-time check of every webhook address (a request's notice_url, the
    /// merchant's webhook URL); delivery checks the address again, as it resolves then.
    async fn check_webhook_target(&self, field: &str, target: Option<&str>) -> ApiResult<()> {
        let Some(text) = target.map(str::trim).filter(|u| !u.is_empty()) else {
            return Ok(());
        };
        let refused = |why: &str| {
            ApiError::invalid(format!("{field}을 사용할 수 없습니다: {why} ({field} refused)"))
        };
        let url =
            reqwest::Url::parse(text).map_err(|_| refused("올바른 URL이 아닙니다 (not a URL)"))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(refused("http 또는 https만 허용됩니다 (only http and https)"));
        }
        let host = url.host_str().ok_or_else(|| refused("호스트가 없습니다 (no host)"))?;
        if self.webhooks.options.allow_private {
            return Ok(());
        }
        let host = host.trim_start_matches('[').trim_end_matches(']');
        let port = url.port_or_known_default().unwrap_or(80);
        let addrs: Vec<IpAddr> = match host.parse::<IpAddr>() {
            Ok(ip) => vec![ip],
            Err(_) => {
                let lookup = tokio::time::timeout(
                    Duration::from_secs(5),
                    tokio::net::lookup_host((host, port)),
                )
                .await;
                match lookup {
                    Ok(Ok(found)) => found.map(|a| a.ip()).collect(),
                    _ => return Err(refused("호스트를 찾을 수 없습니다 (host does not resolve)")),
                }
            }
        };
        if addrs.is_empty() || addrs.iter().any(|ip| !is_public(*ip)) {
            return Err(refused(
                "공인 주소가 아닙니다 (not a global unicast address: loopback, private, link-local or another special-purpose range; see --allow-private-webhooks)",
            ));
        }
        Ok(())
    }

    /// The merchant's `whsec_` signing secret, created on first use.
    pub async fn webhook_secret(&self, merchant_id: &str) -> ApiResult<String> {
        for _ in 0..2 {
            let settings = webhooks::settings(&self.db, merchant_id).await?.ok_or_else(|| {
                ApiError::not_found("존재하지 않는 가맹점입니다. (unknown merchant)")
            })?;
            if let Some(sealed) = settings.secret_sealed {
                let secret = self
                    .vault
                    .open_str(&sealed, &secret_aad(merchant_id))
                    .map_err(ApiError::internal)?;
                return Ok(secret.to_string());
            }
            let mut key = [0u8; 32];
            rand::Rng::fill(&mut rand::thread_rng(), &mut key[..]);
            let secret = format!("whsec_{}", base64::engine::general_purpose::STANDARD.encode(key));
            let sealed = self
                .vault
                .seal_str(&secret, &secret_aad(merchant_id))
                .map_err(ApiError::internal)?;
            webhooks::set_secret_if_absent(&self.db, merchant_id, &sealed).await?;
        }
        Err(ApiError::internal("could not create the webhook secret"))
    }

    async fn secret_bytes(&self, merchant_id: &str) -> ApiResult<Arc<Vec<u8>>> {
        if let Some(found) = self.webhooks.secrets.lock().unwrap().get(merchant_id) {
            return Ok(found.clone());
        }
        let secret = self.webhook_secret(merchant_id).await?;
        let key =
            Arc::new(secret_key(&secret).ok_or_else(|| ApiError::internal("bad whsec_ secret"))?);
        self.webhooks.secrets.lock().unwrap().insert(merchant_id.to_owned(), key.clone());
        Ok(key)
    }

    /// Sets a merchant's webhook URL (None clears it) and format (`json` or `form`).
    pub async fn set_webhook_endpoint(
        &self,
        merchant_id: &str,
        url: Option<&str>,
        format: &str,
    ) -> ApiResult<()> {
        if !matches!(format, "json" | "form") {
            return Err(ApiError::invalid(
                "format은 json 또는 form이어야 합니다. (format must be json or form)",
            ));
        }
        self.check_webhook_target("webhook URL", url).await?;
        if !webhooks::set_endpoint(&self.db, merchant_id, url, format).await? {
            return Err(ApiError::not_found("존재하지 않는 가맹점입니다. (unknown merchant)"));
        }
        self.webhooks.settings.lock().unwrap().remove(merchant_id);
        Ok(())
    }

    /// Lists outbox rows with their attempt logs, newest first (`merchant_id` None: all).
    pub async fn list_webhooks(
        &self,
        filter: &OutboxFilter,
        page: i64,
        limit: i64,
    ) -> ApiResult<Paged<WebhookView>> {
        let (rows, total) = webhooks::list(&self.db, filter, page, limit).await?;
        let ids: Vec<&str> = rows.iter().map(|r| r.id.as_str()).collect();
        let mut logs = webhooks::attempts_for(&self.db, &ids).await?;
        let list = rows
            .into_iter()
            .map(|r| WebhookView {
                attempt_log: logs.remove(&r.id).unwrap_or_default(),
                id: r.id,
                imp_uid: r.imp_uid,
                merchant_uid: r.merchant_uid,
                status: r.status,
                cancellation_id: r.cancellation_id,
                url: r.url,
                format: r.format,
                next_attempt_at: if r.state == "pending" { r.next_attempt_at } else { 0 },
                state: r.state,
                attempts: r.attempts,
                created_at: r.created_at,
                delivered_at: r.delivered_at,
                last_status: r.last_status,
                last_error: r.last_error,
            })
            .collect();
        Ok(Paged::new(list, total, page, limit))
    }

    /// Queues a webhook again now, with a fresh round of tries (same id, same URL).
    pub async fn resend_webhook(
        &self,
        merchant_id: Option<&str>,
        id: &str,
    ) -> ApiResult<WebhookView> {
        if !webhooks::resend(&self.db, merchant_id, id, now(), now_millis()).await? {
            return Err(ApiError::not_found("존재하지 않는 웹훅입니다. (unknown webhook id)"));
        }
        let row = webhooks::get(&self.db, merchant_id, id)
            .await?
            .ok_or_else(|| ApiError::not_found("존재하지 않는 웹훅입니다. (unknown webhook id)"))?;
        let filter = OutboxFilter {
            merchant_id: Some(row.merchant_id.clone()),
            imp_uid: Some(row.imp_uid.clone()),
            ..OutboxFilter::default()
        };
        let page = self.list_webhooks(&filter, 1, 1000).await?;
        page.list
            .into_iter()
            .find(|w| w.id == id)
            .ok_or_else(|| ApiError::not_found("존재하지 않는 웹훅입니다. (unknown webhook id)"))
    }

    /// Claims the due outbox rows (up to `limit`) and delivers them concurrently.
    pub async fn deliver_webhooks_once(
        self: &Arc<Self>,
        limit: i64,
        lease: Duration,
    ) -> ApiResult<DeliveryReport> {
        let now_ms = now_millis();
        let lease_ms = i64::try_from(lease.as_millis()).unwrap_or(i64::MAX / 2);
        let due = webhooks::claim_due(&self.db, now_ms, now_ms + lease_ms, limit).await?;
        let mut report = DeliveryReport::default();
        let mut tasks = tokio::task::JoinSet::new();
        for row in due {
            let gateway = self.clone();
            tasks.spawn(async move { gateway.deliver(row).await });
        }
        while let Some(done) = tasks.join_next().await {
            match done {
                Ok(Ok(AfterAttempt::Delivered)) => report.delivered += 1,
                Ok(Ok(AfterAttempt::RetryAt(_))) => report.retrying += 1,
                Ok(Ok(AfterAttempt::GaveUp)) => report.gave_up += 1,
                Ok(Err(err)) => tracing::warn!(%err, "could not record a webhook attempt"),
                Err(err) => tracing::warn!(%err, "webhook delivery task failed"),
            }
        }
        Ok(report)
    }

    /// One attempt of one row, logged.
    async fn deliver(&self, row: OutboxRow) -> ApiResult<AfterAttempt> {
        let options = &self.webhooks.options;
        let attempted_at = now_millis();
        let started = Instant::now();
        let (payload, content_type) = body(&row);
        let outcome =
            self.send_signed(&row.merchant_id, &row.url, &row.id, payload, content_type).await;
        let latency_ms = i64::try_from(started.elapsed().as_millis()).unwrap_or(i64::MAX);
        let attempt_no = row.attempts + 1;
        let round = row.round_attempts + 1;
        let (http_status, error, snippet, ok) = match &outcome {
            Ok((status, snippet)) => (
                Some(i64::from(*status)),
                if (200..300).contains(status) { None } else { Some(format!("HTTP {status}")) },
                Some(snippet.clone()).filter(|s| !s.is_empty()),
                (200..300).contains(status),
            ),
            Err(err) => (None, Some(err.clone()), None, false),
        };
        let after = if ok {
            AfterAttempt::Delivered
        } else if round >= options.max_attempts {
            AfterAttempt::GaveUp
        } else {
            let base = i64::try_from(options.backoff_base.as_millis()).unwrap_or(i64::MAX / 4);
            let factor = 1i64 << (round - 1).clamp(0, 20);
            AfterAttempt::RetryAt(now_millis().saturating_add(base.saturating_mul(factor)))
        };
        tracing::info!(webhook_id = %row.id, imp_uid = %row.imp_uid, attempt = attempt_no, status = ?http_status, latency_ms, error = ?error, ?after, "webhook attempt");
        let attempt = AttemptRow {
            webhook_id: row.id.clone(),
            attempt: attempt_no,
            attempted_at,
            http_status,
            latency_ms,
            error,
            response_snippet: snippet,
        };
        webhooks::record_attempt(&self.db, &attempt, after, now()).await?;
        Ok(after)
    }
}

impl Gateway {
    /// One signed POST of `payload` to `url` for a merchant: the answer's status and the first
    /// 512 bytes of its body, or why nothing was answered. Deliveries and the console's test
    /// share it, so a test goes exactly as a delivery would (address guard, signature, timeouts).
    async fn send_signed(
        &self,
        merchant_id: &str,
        url: &str,
        id: &str,
        payload: Vec<u8>,
        content_type: &'static str,
    ) -> Result<(u16, String), String> {
        let options = &self.webhooks.options;
        let url = reqwest::Url::parse(url).map_err(|e| format!("bad URL: {e}"))?;
        if let Some(host) = url.host_str() {
            let bare = host.trim_start_matches('[').trim_end_matches(']');
            if let Ok(ip) = bare.parse::<IpAddr>() {
                if !options.allow_private && !is_public(ip) {
                    return Err(format!(
                        "refused: {ip} is not a global unicast address (loopback, private or special-purpose)"
                    ));
                }
            }
        }
        let key = self.secret_bytes(merchant_id).await.map_err(|e| e.to_string())?;
        let timestamp = now();
        let signature = sign(&key, id, timestamp, &payload);
        let mut response = self
            .webhooks
            .client
            .post(url)
            .header("content-type", content_type)
            .header("webhook-id", id)
            .header("webhook-timestamp", timestamp.to_string())
            .header("webhook-signature", signature)
            .body(payload)
            .send()
            .await
            .map_err(|e| describe(&e))?;
        let status = response.status().as_u16();
        let mut snippet = Vec::new();
        while snippet.len() < 512 {
            match response.chunk().await {
                Ok(Some(chunk)) => snippet.extend_from_slice(&chunk),
                _ => break,
            }
        }
        snippet.truncate(512);
        Ok((status, String::from_utf8_lossy(&snippet).into_owned()))
    }

    /// The console's 호출 테스트: sends a signed test notification to the merchant's webhook URL
    /// now, outside the outbox (nothing is queued or retried), and reports the answer.
    pub async fn test_webhook(&self, merchant_id: &str) -> ApiResult<WebhookTest> {
        let settings = webhooks::settings(&self.db, merchant_id)
            .await?
            .ok_or_else(|| ApiError::not_found("존재하지 않는 가맹점입니다. (unknown merchant)"))?;
        let Some(url) = settings.url.filter(|u| !u.trim().is_empty()) else {
            return Err(ApiError::rejected(
                "웹훅 URL이 설정되지 않았습니다. (no webhook URL is set)",
            ));
        };
        let row = OutboxRow {
            id: format!("msg_test_{}", random_hex(8)),
            merchant_id: merchant_id.to_owned(),
            imp_uid: TEST_IMP_UID.to_owned(),
            merchant_uid: TEST_MERCHANT_UID.to_owned(),
            status: "paid".to_owned(),
            cancellation_id: None,
            url: url.clone(),
            format: settings.format,
            ..OutboxRow::default()
        };
        let (payload, content_type) = body(&row);
        let started = Instant::now();
        let outcome = self.send_signed(merchant_id, &url, &row.id, payload, content_type).await;
        let latency_ms = i64::try_from(started.elapsed().as_millis()).unwrap_or(i64::MAX);
        let (http_status, response, error) = match outcome {
            Ok((status, snippet)) => (Some(status), snippet, None),
            Err(err) => (None, String::new(), Some(err)),
        };
        Ok(WebhookTest { id: row.id, url, http_status, response, error, latency_ms })
    }
}

/// The test notification's ids: recognisably not a payment (a lookup of them answers 404).
pub const TEST_IMP_UID: &str = "imp_webhook_test";
pub const TEST_MERCHANT_UID: &str = "openimp_webhook_test";

/// What a test notification got back.
#[derive(Debug, Clone, Serialize)]
pub struct WebhookTest {
    pub id: String,
    pub url: String,
    /// None when nothing answered (see `error`).
    pub http_status: Option<u16>,
    /// The first 512 bytes of the answer's body.
    pub response: String,
    pub error: Option<String>,
    pub latency_ms: i64,
}

fn describe(err: &reqwest::Error) -> String {
    use std::error::Error;
    let kind = if err.is_timeout() {
        "timeout"
    } else if err.is_connect() {
        "connect error"
    } else {
        "request error"
    };
    let mut text = format!("{kind}: {err}");
    let mut source = err.source();
    while let Some(inner) = source {
        text.push_str(&format!(": {inner}"));
        source = inner.source();
    }
    text.chars().take(300).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn standard_webhooks_vector() {
        // The example of the Standard Webhooks specification / reference libraries.
        let key = secret_key("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
        let body = br#"{"test": 2432232314}"#;
        let sig = sign(&key, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body);
        assert_eq!(sig, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
    }
}
