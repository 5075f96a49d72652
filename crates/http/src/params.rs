//! Request parameters: JSON or form-urlencoded bodies and query strings with PHP-style bracket
//! keys (`customer_uid[]=a`, `extra[requester]=admin`, `schedules[0][amount]=5`), all turned
//! into one `serde_json::Value` and then into a typed request, leniently: i'mport clients send
//! numbers as JSON numbers or as strings.

use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::header::CONTENT_TYPE;
use axum::http::request::Parts;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer};
use serde_json::{Map, Value};

use crate::envelope::HttpError;
use openimp_core::ApiError;

/// Largest request body accepted.
const MAX_BODY_BYTES: usize = 256 * 1024;

/// A typed body, from JSON or form-urlencoded (bracket keys), chosen by `Content-Type`.
pub struct Body<T>(pub T);

/// A typed query string (bracket keys allowed).
pub struct Query<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for Body<T> {
    type Rejection = HttpError;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        let content_type = request
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_ascii_lowercase();
        let bytes = axum::body::Bytes::from_request(request, state).await.map_err(|err| {
            HttpError(ApiError::invalid(format!("요청 본문을 읽을 수 없습니다. ({err})")))
        })?;
        if bytes.len() > MAX_BODY_BYTES {
            return Err(HttpError(ApiError::invalid("요청 본문이 너무 큽니다. (body too large)")));
        }
        let value = body_value(&content_type, &bytes)?;
        typed(value).map(Body)
    }
}

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for Query<T> {
    type Rejection = HttpError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let value = parse_brackets(parts.uri.query().unwrap_or("").as_bytes());
        typed(value).map(Query)
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
        return Ok(parse_brackets(bytes));
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

/// Turns `a[b][0]=x&a[b][1]=y&c[]=1&c[]=2&d=3` into nested JSON (strings at the leaves; a key
/// given several times becomes an array).
pub fn parse_brackets(input: &[u8]) -> Value {
    let mut root = Value::Object(Map::new());
    for (key, value) in form_urlencoded::parse(input) {
        let segments = split_key(&key);
        insert(&mut root, &segments, Value::String(value.into_owned()));
    }
    arrays_from_indexed(root)
}

fn split_key(key: &str) -> Vec<String> {
    match key.find('[') {
        Some(open) if key.ends_with(']') && open > 0 => {
            let mut segments = vec![key[..open].to_owned()];
            let rest = &key[open..];
            for part in rest.split('[').skip(1) {
                segments.push(part.trim_end_matches(']').to_owned());
            }
            segments
        }
        _ => vec![key.to_owned()],
    }
}

fn insert(node: &mut Value, segments: &[String], value: Value) {
    let Some((first, rest)) = segments.split_first() else { return };
    if !node.is_object() && !node.is_array() {
        *node = Value::Object(Map::new());
    }
    if first.is_empty() {
        // `key[]`: append.
        if !node.is_array() {
            *node = Value::Array(Vec::new());
        }
        if let Value::Array(items) = node {
            if rest.is_empty() {
                items.push(value);
            } else {
                let mut child = Value::Object(Map::new());
                insert(&mut child, rest, value);
                items.push(child);
            }
        }
        return;
    }
    if let Value::Array(items) = node {
        // Mixed styles: keep the array under its positions.
        let map: Map<String, Value> =
            items.drain(..).enumerate().map(|(i, v)| (i.to_string(), v)).collect();
        *node = Value::Object(map);
    }
    if let Value::Object(map) = node {
        if rest.is_empty() {
            match map.get_mut(first) {
                Some(Value::Array(items)) => items.push(value),
                Some(existing) if existing.is_string() => {
                    let previous = existing.take();
                    *existing = Value::Array(vec![previous, value]);
                }
                _ => {
                    map.insert(first.clone(), value);
                }
            }
        } else {
            let child = map.entry(first.clone()).or_insert_with(|| Value::Object(Map::new()));
            insert(child, rest, value);
        }
    }
}

/// Objects whose keys are all indexes (`schedules[0]`, `schedules[1]`) become arrays.
fn arrays_from_indexed(value: Value) -> Value {
    match value {
        Value::Object(map) => {
            let all_indexes = !map.is_empty() && map.keys().all(|k| k.parse::<usize>().is_ok());
            if all_indexes {
                let mut items: Vec<(usize, Value)> = map
                    .into_iter()
                    .map(|(k, v)| (k.parse::<usize>().unwrap_or(0), arrays_from_indexed(v)))
                    .collect();
                items.sort_by_key(|(i, _)| *i);
                Value::Array(items.into_iter().map(|(_, v)| v).collect())
            } else {
                Value::Object(map.into_iter().map(|(k, v)| (k, arrays_from_indexed(v))).collect())
            }
        }
        Value::Array(items) => Value::Array(items.into_iter().map(arrays_from_indexed).collect()),
        other => other,
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
