//! Request parameters: JSON or form-urlencoded bodies and query strings with PHP-style bracket
//! keys (`customer_uid[]=a`, `extra[requester]=admin`, `schedules[0][amount]=5`), all turned
//! into one `serde_json::Value` and then into a typed request, leniently: i'mport clients send
//! numbers as JSON numbers or as strings.

use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::header::CONTENT_TYPE;
use axum::http::request::Parts;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer};
use serde_json::{Map, Value};

use crate::envelope::{failure, HttpError};
use openimp_core::ApiError;

/// Largest request body accepted.
pub const MAX_BODY_BYTES: usize = 256 * 1024;

/// A typed body, from JSON or form-urlencoded (bracket keys), chosen by `Content-Type`.
pub struct Body<T>(pub T);

/// A typed query string (bracket keys allowed).
pub struct Query<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for Body<T> {
    type Rejection = Response;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        let content_type = request
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_ascii_lowercase();
        let bytes = axum::body::Bytes::from_request(request, state)
            .await
            .map_err(|err| unreadable_body(&err))?;
        if bytes.len() > MAX_BODY_BYTES {
            return Err(too_large());
        }
        let value = body_value(&content_type, &bytes).map_err(IntoResponse::into_response)?;
        typed(value).map(Body).map_err(IntoResponse::into_response)
    }
}

/// The refusal of a body larger than [`MAX_BODY_BYTES`] (the rest of it is never read, so the
/// connection closes after the answer).
pub fn too_large() -> Response {
    crate::envelope::closing(
        HttpError(ApiError::invalid(format!(
            "요청 본문이 너무 큽니다. (the body is larger than {MAX_BODY_BYTES} bytes)"
        )))
        .into_response(),
    )
}

/// The answer to a body that could not be read: 408 when the client was too slow to send it
/// (the server's body timeout), 400 otherwise.
pub fn unreadable_body(err: &(dyn std::error::Error + 'static)) -> Response {
    let timed_out = std::iter::successors(Some(err), |err| err.source())
        .any(|err| err.is::<tower_http::timeout::TimeoutError>());
    if timed_out {
        return failure(
            StatusCode::REQUEST_TIMEOUT,
            "요청 본문을 제시간에 받지 못했습니다. (the request body did not arrive in time)",
        );
    }
    HttpError(ApiError::invalid(format!("요청 본문을 읽을 수 없습니다. ({err})"))).into_response()
}

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for Query<T> {
    type Rejection = HttpError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let value = parse_brackets(parts.uri.query().unwrap_or("").as_bytes())?;
        typed(value).map(Query)
    }
}

/// A typed path parameter (`/payments/{imp_uid}`) whose rejection, bad UTF-8 in a
/// percent-encoded segment say, is the 400 envelope instead of axum's plain text.
pub struct Path<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned + Send> FromRequestParts<S> for Path<T> {
    type Rejection = HttpError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match axum::extract::Path::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Path(value)) => Ok(Path(value)),
            Err(rejection) => Err(HttpError(ApiError::invalid(format!(
                "요청 주소가 올바르지 않습니다. (invalid path: {})",
                rejection.body_text()
            )))),
        }
    }
}

/// Parses a body into a JSON value. An empty body is an empty object.
pub fn body_value(content_type: &str, bytes: &[u8]) -> Result<Value, HttpError> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(Value::Object(Map::new()));
    }
    let looks_json =
        matches!(bytes.iter().find(|b| !b.is_ascii_whitespace()), Some(b'{') | Some(b'['));
    if content_type.starts_with("application/x-www-form-urlencoded")
        || (!content_type.contains("json") && !looks_json)
    {
        return parse_brackets(bytes);
    }
    let value: Value = serde_json::from_slice(bytes).map_err(|err| {
        HttpError(ApiError::invalid(format!(
            "요청 본문이 올바른 JSON이 아닙니다. (invalid JSON body: {err})"
        )))
    })?;
    if !value.is_object() {
        return Err(HttpError(ApiError::invalid(
            "요청 본문은 JSON 객체여야 합니다. (the body must be a JSON object)",
        )));
    }
    Ok(value)
}

fn typed<T: DeserializeOwned>(value: Value) -> Result<T, HttpError> {
    serde_json::from_value(value).map_err(|err| {
        HttpError(ApiError::invalid(format!(
            "요청 파라메터가 올바르지 않습니다. (invalid parameters: {err})"
        )))
    })
}

/// Most bracket segments one key may have (`a[b][c]` has 3). i'mport's own forms nest 2 deep;
/// without a cap a 9 KB key of `[x]`s once nested deep enough to overflow a worker's stack.
pub const MAX_KEY_SEGMENTS: usize = 8;

/// Most parameters one body or query string may carry (the largest i'mport form, a batch of
/// schedules, has well under this).
pub const MAX_PARAMETERS: usize = 1000;

/// Turns `a[b][0]=x&a[b][1]=y&c[]=1&c[]=2&d=3` into nested JSON (strings at the leaves; a key
/// given several times becomes an array). Refuses more than [`MAX_PARAMETERS`] keys or a key
/// of more than [`MAX_KEY_SEGMENTS`] segments. Iterative throughout: no recursion per segment.
pub fn parse_brackets(input: &[u8]) -> Result<Value, HttpError> {
    let mut root = Value::Object(Map::new());
    for (count, (key, value)) in form_urlencoded::parse(input).enumerate() {
        if count >= MAX_PARAMETERS {
            return Err(HttpError(ApiError::invalid(format!(
                "요청 파라메터가 너무 많습니다. (more than {MAX_PARAMETERS} parameters)"
            ))));
        }
        let segments = split_key(&key)?;
        insert(&mut root, &segments, Value::String(value.into_owned()));
    }
    arrays_from_indexed(&mut root);
    Ok(root)
}

fn split_key(key: &str) -> Result<Vec<String>, HttpError> {
    match key.find('[') {
        Some(open) if key.ends_with(']') && open > 0 => {
            let name = &key[..open];
            let rest = &key[open..];
            if rest.matches('[').count() + 1 > MAX_KEY_SEGMENTS {
                let shown: String = name.chars().take(64).collect();
                return Err(HttpError(ApiError::invalid(format!(
                    "요청 파라메터 {shown}의 중첩이 너무 깊습니다. (parameter `{shown}` has more than {MAX_KEY_SEGMENTS} bracket segments)"
                ))));
            }
            let mut segments = vec![name.to_owned()];
            for part in rest.split('[').skip(1) {
                segments.push(part.trim_end_matches(']').to_owned());
            }
            Ok(segments)
        }
        _ => Ok(vec![key.to_owned()]),
    }
}

/// Puts `value` at the path `segments` under `root`, walking down one level per segment.
fn insert(root: &mut Value, segments: &[String], value: Value) {
    let Some(last) = segments.len().checked_sub(1) else { return };
    let mut node = root;
    for (index, segment) in segments.iter().enumerate() {
        let is_leaf = index == last;
        if !node.is_object() && !node.is_array() {
            *node = Value::Object(Map::new());
        }
        if segment.is_empty() {
            // `key[]`: append.
            if !node.is_array() {
                *node = Value::Array(Vec::new());
            }
            let Value::Array(items) = node else { return };
            if is_leaf {
                items.push(value);
                return;
            }
            items.push(Value::Object(Map::new()));
            let Some(child) = items.last_mut() else { return };
            node = child;
            continue;
        }
        if let Value::Array(items) = node {
            // Mixed styles: keep the array under its positions.
            let map: Map<String, Value> =
                items.drain(..).enumerate().map(|(i, v)| (i.to_string(), v)).collect();
            *node = Value::Object(map);
        }
        let Value::Object(map) = node else { return };
        if is_leaf {
            match map.get_mut(segment) {
                Some(Value::Array(items)) => items.push(value),
                Some(existing) if existing.is_string() => {
                    let previous = existing.take();
                    *existing = Value::Array(vec![previous, value]);
                }
                _ => {
                    map.insert(segment.clone(), value);
                }
            }
            return;
        }
        node = map.entry(segment.clone()).or_insert_with(|| Value::Object(Map::new()));
    }
}

/// Objects whose keys are all indexes (`schedules[0]`, `schedules[1]`) become arrays, at every
/// level. Whether an object becomes an array depends only on its own keys, so the walk goes top
/// down with an explicit stack.
fn arrays_from_indexed(root: &mut Value) {
    let mut pending: Vec<&mut Value> = vec![root];
    while let Some(node) = pending.pop() {
        if let Value::Object(map) = node {
            let all_indexes = !map.is_empty() && map.keys().all(|k| k.parse::<usize>().is_ok());
            if all_indexes {
                let mut items: Vec<(usize, Value)> = std::mem::take(map)
                    .into_iter()
                    .map(|(k, v)| (k.parse::<usize>().unwrap_or(0), v))
                    .collect();
                items.sort_by_key(|(i, _)| *i);
                *node = Value::Array(items.into_iter().map(|(_, v)| v).collect());
            }
        }
        match node {
            Value::Object(map) => pending.extend(map.values_mut()),
            Value::Array(items) => pending.extend(items.iter_mut()),
            _ => {}
        }
    }
}

/// An optional integer given as a JSON number (whole) or a numeric string; `null` and `""` are
/// absent.
pub fn opt_i64<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<i64>, D::Error> {
    let value = Option::<Value>::deserialize(deserializer)?;
    match value {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.trim().is_empty() => Ok(None),
        Some(Value::String(s)) => {
            let s = s.trim();
            if let Ok(n) = s.parse::<i64>() {
                return Ok(Some(n));
            }
            match s.parse::<f64>() {
                Ok(f) => whole(f).map(Some).map_err(serde::de::Error::custom),
                Err(_) => Err(serde::de::Error::custom(format!("expected an integer, got {s:?}"))),
            }
        }
        Some(Value::Number(n)) => match n.as_i64() {
            Some(i) => Ok(Some(i)),
            None => {
                whole(n.as_f64().unwrap_or(f64::NAN)).map(Some).map_err(serde::de::Error::custom)
            }
        },
        Some(Value::Bool(_)) | Some(Value::Array(_)) | Some(Value::Object(_)) => {
            Err(serde::de::Error::custom("expected an integer"))
        }
    }
}

#[expect(clippy::cast_possible_truncation, reason = "checked to be whole and in range first")]
fn whole(f: f64) -> Result<i64, String> {
    if f.is_finite() && f.fract() == 0.0 && f.abs() < 9.0e15 {
        Ok(f as i64)
    } else {
        Err(format!("expected a whole number (KRW has no minor unit), got {f}"))
    }
}

/// An optional string; numbers are taken as their text; `null` is absent.
pub fn opt_string<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<String>, D::Error> {
    let value = Option::<Value>::deserialize(deserializer)?;
    match value {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(Value::Number(n)) => Ok(Some(n.to_string())),
        Some(Value::Bool(b)) => Ok(Some(b.to_string())),
        // custom_data objects are kept as their JSON text.
        Some(other @ Value::Object(_)) | Some(other @ Value::Array(_)) => {
            Ok(Some(other.to_string()))
        }
    }
}

/// A list of strings, given as an array or as one string.
pub fn string_list<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<String>, D::Error> {
    let value = Option::<Value>::deserialize(deserializer)?;
    match value {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::String(s)) => Ok(vec![s]),
        Some(Value::Array(items)) => items
            .into_iter()
            .map(|item| match item {
                Value::String(s) => Ok(s),
                Value::Number(n) => Ok(n.to_string()),
                _ => Err(serde::de::Error::custom("expected a list of strings")),
            })
            .collect(),
        Some(_) => Err(serde::de::Error::custom("expected a list of strings")),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn brackets() {
        let parse_brackets = |input: &[u8]| super::parse_brackets(input).expect("parses");
        assert_eq!(
            parse_brackets(b"customer_uid[]=a&customer_uid[]=b"),
            json!({"customer_uid": ["a", "b"]})
        );
        assert_eq!(parse_brackets(b"customer_uid%5B%5D=a"), json!({"customer_uid": ["a"]}));
        assert_eq!(
            parse_brackets(b"reason=x&extra[requester]=admin"),
            json!({"reason": "x", "extra": {"requester": "admin"}})
        );
        assert_eq!(
            parse_brackets(
                b"schedules[0][merchant_uid]=x&schedules[0][amount]=5&schedules[1][merchant_uid]=y"
            ),
            json!({"schedules": [{"merchant_uid": "x", "amount": "5"}, {"merchant_uid": "y"}]})
        );
        assert_eq!(parse_brackets(b"x=1&x=2"), json!({"x": ["1", "2"]}));
        assert_eq!(
            parse_brackets(b"amount=3000&name=%ED%85%8C"),
            json!({"amount": "3000", "name": "테"})
        );
    }

    #[test]
    fn deep_and_many_keys_are_refused() {
        let deep = format!("a{}=1", "[x]".repeat(10_000));
        let err = parse_brackets(deep.as_bytes()).expect_err("too deep");
        assert!(err.0.to_string().contains("`a`"), "{err:?}");
        let at_cap = format!("a{}=1", "[x]".repeat(MAX_KEY_SEGMENTS - 1));
        assert!(parse_brackets(at_cap.as_bytes()).is_ok());
        let over_cap = format!("a{}=1", "[x]".repeat(MAX_KEY_SEGMENTS));
        assert!(parse_brackets(over_cap.as_bytes()).is_err());
        let many: Vec<String> = (0..=MAX_PARAMETERS).map(|i| format!("k{i}=v")).collect();
        assert!(parse_brackets(many.join("&").as_bytes()).is_err());
        let enough: Vec<String> = (0..MAX_PARAMETERS).map(|i| format!("k{i}=v")).collect();
        assert!(parse_brackets(enough.join("&").as_bytes()).is_ok());
    }

    #[test]
    fn nested_indexes_become_arrays_at_every_level() {
        assert_eq!(
            parse_brackets(b"s[0][t][1]=b&s[0][t][0]=a&s[1][u]=c").expect("parses"),
            json!({"s": [{"t": ["a", "b"]}, {"u": "c"}]})
        );
        assert_eq!(
            parse_brackets(b"m[]=a&m[x]=b").expect("parses"),
            json!({"m": {"0": "a", "x": "b"}})
        );
    }

    #[derive(Deserialize, Debug)]
    struct Sample {
        #[serde(default, deserialize_with = "opt_i64")]
        amount: Option<i64>,
    }

    #[test]
    fn lenient_numbers() {
        let parse = |v: Value| serde_json::from_value::<Sample>(v).map(|s| s.amount);
        assert_eq!(parse(json!({"amount": 3000})).unwrap(), Some(3000));
        assert_eq!(parse(json!({"amount": "3000"})).unwrap(), Some(3000));
        assert_eq!(parse(json!({"amount": 3000.0})).unwrap(), Some(3000));
        assert_eq!(parse(json!({})).unwrap(), None);
        assert!(parse(json!({"amount": 10.5})).is_err());
        assert!(parse(json!({"amount": "abc"})).is_err());
    }
}
