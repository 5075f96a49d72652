//! The one HTTP transport of the real connectors: form and JSON posts, with the mapping of
//! transport failures to what they mean for money.
//!
//! - the connection was never made (refused, DNS, TLS handshake): [`ConnectorError::NotSent`];
//! - anything after the request may have left (a timeout, a reset, an unreadable body, a 5xx):
//!   [`ConnectorError::Unknown`], settled by inquiry or net-cancel;
//! - an answer, whatever it says: the caller reads it.

use std::time::Duration;

use crate::ConnectorError;

/// Most bytes of a PG answer read (PG answers are a few KB).
pub const MAX_ANSWER_BYTES: usize = 1024 * 1024;

/// A PG's answer.
#[derive(Debug, Clone)]
pub struct Answer {
    pub status: u16,
    pub body: String,
}

/// A shared HTTP client for PG calls (rustls, no cookies, no redirects).
#[derive(Debug, Clone)]
pub struct PgHttp {
    client: reqwest::Client,
}

impl PgHttp {
    /// A client giving each call at most `timeout` (the service's PG timeout still applies on
    /// top; this one makes the connector's own follow-ups, such as a net-cancel, bounded too).
    pub fn new(timeout: Duration) -> PgHttp {
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout.min(Duration::from_secs(10)))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("a rustls HTTP client builds");
        PgHttp { client }
    }

    /// POSTs `fields` form-urlencoded (UTF-8, every value percent-encoded, so a `+` in base64
    /// survives).
    pub async fn post_form(
        &self,
        url: &str,
        fields: &[(&str, &str)],
    ) -> Result<Answer, ConnectorError> {
        let request = self
            .client
            .post(url)
            .header(
                reqwest::header::CONTENT_TYPE,
                "application/x-www-form-urlencoded; charset=utf-8",
            )
            .body(form_urlencode(fields));
        send(request).await
    }

    /// POSTs `body` as JSON (the exact bytes given, for PGs that hash the text sent).
    pub async fn post_json(&self, url: &str, body: Vec<u8>) -> Result<Answer, ConnectorError> {
        let request = self
            .client
            .post(url)
            .header(reqwest::header::CONTENT_TYPE, "application/json; charset=utf-8")
            .body(body);
        send(request).await
    }
}

async fn send(request: reqwest::RequestBuilder) -> Result<Answer, ConnectorError> {
    let response = request.send().await.map_err(|err| {
        if err.is_connect() || err.is_builder() {
            ConnectorError::NotSent(err.to_string())
        } else {
            ConnectorError::Unknown(err.to_string())
        }
    })?;
    let status = response.status().as_u16();
    let bytes = response.bytes().await.map_err(|err| ConnectorError::Unknown(err.to_string()))?;
    if bytes.len() > MAX_ANSWER_BYTES {
        return Err(ConnectorError::Unknown(format!("answer of {} bytes", bytes.len())));
    }
    let body = String::from_utf8_lossy(&bytes).into_owned();
    if status >= 500 {
        return Err(ConnectorError::Unknown(format!("HTTP {status} from the PG")));
    }
    Ok(Answer { status, body })
}

/// `application/x-www-form-urlencoded` of `fields`, in order.
pub fn form_urlencode(fields: &[(&str, &str)]) -> String {
    let mut out = url::form_urlencoded::Serializer::new(String::new());
    for (key, value) in fields {
        out.append_pair(key, value);
    }
    out.finish()
}

/// Parses an `application/x-www-form-urlencoded` body into its fields, in order.
pub fn form_decode(body: &str) -> Vec<(String, String)> {
    url::form_urlencoded::parse(body.as_bytes()).into_owned().collect()
}

/// `url` with its scheme and host replaced by `endpoint` (a base URL such as
/// `http://127.0.0.1:9100`), keeping the PG's own path and query. `None` keeps `url`.
pub fn rebase(url: &str, endpoint: Option<&str>) -> String {
    let Some(endpoint) = endpoint else {
        return url.to_owned();
    };
    let path = match url.find("://") {
        Some(scheme_end) => {
            let rest = &url[scheme_end + 3..];
            rest.find('/').map(|slash| &rest[slash..]).unwrap_or("")
        }
        None => url,
    };
    format!("{}{}", endpoint.trim_end_matches('/'), path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rebase_keeps_the_pg_path() {
        assert_eq!(
            rebase("https://iniapi.inicis.com/api/v1/billing", Some("http://127.0.0.1:9100/")),
            "http://127.0.0.1:9100/api/v1/billing"
        );
        assert_eq!(rebase("https://a.example/x?y=1", None), "https://a.example/x?y=1");
        assert_eq!(rebase("https://a.example", Some("http://h:1")), "http://h:1");
    }

    #[test]
    fn form_encoding_keeps_plus_signs() {
        let body = form_urlencode(&[("enc", "5l8u+BFb/Te50=="), ("msg", "취소 테스트")]);
        assert!(body.contains("5l8u%2BBFb%2FTe50%3D%3D"), "{body}");
        let back = form_decode(&body);
        assert_eq!(back[0].1, "5l8u+BFb/Te50==");
        assert_eq!(back[1].1, "취소 테스트");
    }
}
