//! Request extractors whose failures are `ApiError`s, so every rejection uses the envelope.

use std::fmt;

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, RawPathParams, Request};
use axum::http::request::Parts;
use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Number, Value};
use uuid::Uuid;

use super::error::{ApiError, Code, code};
pub use crate::app::parse_id as parse_uuid;
use crate::store::{Direction, PageRequest, Scope};

/// A JSON object body, sent as `application/json` (the tutorial's curl commands and both SDKs
/// say so). Anything else is the real API's 6003 with a 6105 cause, before the body is read.
#[derive(Debug)]
pub struct JsonObject(pub Map<String, Value>);

/// The real API's wording, which names the two types it takes.
const CONTENT_TYPE_MESSAGE: &str =
    "Invalid Content-Type header, valid values are application/json,multipart/form-data";

fn check_content_type(headers: &axum::http::HeaderMap) -> Result<(), ApiError> {
    let media_type = headers
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .map(|value| value.split(';').next().unwrap_or_default().trim());
    match media_type {
        Some(media) if media.eq_ignore_ascii_case("application/json") => Ok(()),
        // A valid type for the real API, where some routes take uploads as form parts;
        // these routes read JSON only, there and here.
        Some(media) if media.eq_ignore_ascii_case("multipart/form-data") => Err(ApiError::new(
            code::BODY_NOT_JSON,
            "This route reads a JSON object: send the fields as JSON with \
             Content-Type: application/json.",
        )),
        _ => Err(ApiError::headers(
            code::HEADER_CONTENT_TYPE,
            CONTENT_TYPE_MESSAGE,
        )),
    }
}

impl<S: Send + Sync> FromRequest<S> for JsonObject {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        check_content_type(req.headers())?;
        let bytes = Bytes::from_request(req, state).await.map_err(|rejection| {
            let code = if rejection.status() == code::BODY_TOO_LARGE.status {
                code::BODY_TOO_LARGE
            } else {
                code::BODY_NOT_JSON
            };
            ApiError::new(
                code,
                format!(
                    "The request body could not be read: {}",
                    rejection.body_text()
                ),
            )
        })?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Err(ApiError::new(
                code::BODY_NOT_JSON,
                "The request body is empty; send a JSON object.",
            ));
        }
        parse_object(&bytes).map(Self)
    }
}

/// Parses a request body that must be one JSON object with no key repeated at any depth.
/// serde_json's recursion limit (128 levels) still applies, so deep nesting fails fast.
pub fn parse_object(bytes: &[u8]) -> Result<Map<String, Value>, ApiError> {
    match serde_json::from_slice::<UniqueKeys>(bytes) {
        Ok(UniqueKeys(Value::Object(object))) => Ok(object),
        Ok(_) => Err(ApiError::new(
            code::BODY_NOT_JSON,
            "The request body must be a JSON object.",
        )),
        // Every JSON value is accepted by the visitor, so a data error is a repeated key.
        Err(error) if error.classify() == serde_json::error::Category::Data => Err(ApiError::new(
            code::BODY_NOT_JSON,
            format!("The request body is refused: {error}. Send each key of an object once."),
        )),
        Err(error) => Err(ApiError::new(
            code::BODY_NOT_JSON,
            format!("The request body is not valid JSON: {error}."),
        )),
    }
}

/// A JSON value whose objects never repeat a key. serde_json keeps the last of repeated keys
/// silently, so `{"sans": [..], "sans": [..]}` would check one list while the client's own
/// reading of its request (or a proxy's) saw the other.
struct UniqueKeys(Value);

impl<'de> Deserialize<'de> for UniqueKeys {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer
            .deserialize_any(UniqueKeysVisitor)
            .map(UniqueKeys)
    }
}

struct UniqueKeysVisitor;

impl<'de> Visitor<'de> for UniqueKeysVisitor {
    type Value = Value;

    fn expecting(&self, formatter: &mut fmt::Formatter) -> fmt::Result {
        formatter.write_str("a JSON value")
    }

    fn visit_bool<E: de::Error>(self, value: bool) -> Result<Value, E> {
        Ok(Value::Bool(value))
    }

    fn visit_i64<E: de::Error>(self, value: i64) -> Result<Value, E> {
        Ok(Value::from(value))
    }

    fn visit_u64<E: de::Error>(self, value: u64) -> Result<Value, E> {
        Ok(Value::from(value))
    }

    fn visit_f64<E: de::Error>(self, value: f64) -> Result<Value, E> {
        // As serde_json's own `Value`: JSON has no NaN or infinity, so this is only a guard.
        Ok(Number::from_f64(value).map_or(Value::Null, Value::Number))
    }

    fn visit_str<E: de::Error>(self, value: &str) -> Result<Value, E> {
        Ok(Value::String(value.to_owned()))
    }

    fn visit_string<E: de::Error>(self, value: String) -> Result<Value, E> {
        Ok(Value::String(value))
    }

    fn visit_unit<E: de::Error>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_none<E: de::Error>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        while let Some(UniqueKeys(item)) = seq.next_element()? {
            items.push(item);
        }
        Ok(Value::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<Value, A::Error> {
        let mut object = Map::new();
        while let Some(key) = access.next_key::<String>()? {
            match object.entry(key) {
                serde_json::map::Entry::Vacant(entry) => {
                    let UniqueKeys(value) = access.next_value()?;
                    entry.insert(value);
                }
                serde_json::map::Entry::Occupied(entry) => {
                    return Err(de::Error::custom(format_args!(
                        "the key {} appears more than once in one object",
                        echo(entry.key())
                    )));
                }
            }
        }
        Ok(Value::Object(object))
    }
}

// Limits on the PEM and id fields that custom hostnames and custom certificates share. The API
// documents none; these are edgecert's, far above real inputs and under the 256 KiB body limit.

/// A PEM certificate with its chain: a leaf and a few intermediates are under 10 KB.
pub const MAX_CERTIFICATE_PEM_LEN: usize = 64 * 1024;
/// A PEM private key: an RSA 8192-bit key is about 6.5 KB.
pub const MAX_KEY_PEM_LEN: usize = 16 * 1024;
/// A CSR id is a hyphenated UUID, 36 characters; anything longer cannot name one.
pub const MAX_CSR_ID_LEN: usize = 36;

/// Longest part of a client's value repeated in an error message, in characters.
pub const MAX_ECHO_CHARS: usize = 64;

/// A client's value quoted for an error message: escaped, and cut to its first
/// `MAX_ECHO_CHARS` characters with its full length, so an answer never repeats a huge input.
pub fn echo(value: &str) -> String {
    let mut chars = value.char_indices();
    match chars.nth(MAX_ECHO_CHARS) {
        None => format!("\"{}\"", value.escape_default()),
        Some((cut, _)) => format!(
            "\"{}\"... ({} characters)",
            value[..cut].escape_default(),
            value.chars().count()
        ),
    }
}

/// A raw path parameter by name, if the route has it.
pub async fn path_param(parts: &mut Parts, name: &str) -> Result<Option<String>, ApiError> {
    let params = RawPathParams::from_request_parts(parts, &())
        .await
        .map_err(|rejection| ApiError::internal(format_args!("path parameters: {rejection}")))?;
    Ok(params
        .iter()
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value.to_string()))
}

/// A zone or account ID: 32 lowercase hexadecimal characters.
pub(crate) fn is_tag(id: &str) -> bool {
    id.len() == 32 && id.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// The zone or account a request is about, from `{zone_id}` or `{account_id}` in the path.
impl<S: Send + Sync> FromRequestParts<S> for Scope {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        if let Some(zone_id) = path_param(parts, "zone_id").await? {
            return if is_tag(&zone_id) {
                Ok(Scope::Zone(zone_id))
            } else {
                Err(ApiError::new(
                    code::INVALID_SCOPE_ID,
                    format!(
                        "Invalid zone ID {}: a zone ID is 32 lowercase hexadecimal characters.",
                        echo(&zone_id)
                    ),
                ))
            };
        }
        if let Some(account_id) = path_param(parts, "account_id").await? {
            return if is_tag(&account_id) {
                Ok(Scope::Account(account_id))
            } else {
                Err(ApiError::new(
                    code::INVALID_SCOPE_ID,
                    format!(
                        "Invalid account ID {}: an account ID is 32 lowercase hexadecimal characters.",
                        echo(&account_id)
                    ),
                ))
            };
        }
        Err(ApiError::internal(
            "route has neither zone_id nor account_id",
        ))
    }
}

/// A path parameter naming one object by id: which parameter, and the answer when it is not
/// an id edgecert hands out.
pub trait IdParam {
    const NAME: &'static str;
    const INVALID: Code;
    fn invalid_message(raw: &str) -> String;
}

/// `{NAME}` from the path, as a UUID in its hyphenated form.
#[derive(Debug, Clone, Copy)]
pub struct PathId<K>(pub Uuid, std::marker::PhantomData<K>);

impl<K: IdParam, S: Send + Sync> FromRequestParts<S> for PathId<K> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let raw = path_param(parts, K::NAME)
            .await?
            .ok_or_else(|| ApiError::internal(format_args!("route has no {}", K::NAME)))?;
        parse_uuid(&raw)
            .map(|id| PathId(id, std::marker::PhantomData))
            .ok_or_else(|| ApiError::new(K::INVALID, K::invalid_message(&raw)))
    }
}

/// `{zone_id}` as the OpenAPI document describes it.
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Path)]
#[expect(dead_code, reason = "a schema for the OpenAPI document")]
pub struct ZonePath {
    /// Zone identifier: 32 lowercase hexadecimal characters.
    #[param(pattern = "^[0-9a-f]{32}$")]
    zone_id: String,
}

/// The zone of a zone-scoped resource, from `{zone_id}`.
#[derive(Debug, Clone)]
pub struct ZoneId(pub String);

impl<S: Send + Sync> FromRequestParts<S> for ZoneId {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match Scope::from_request_parts(parts, state).await? {
            Scope::Zone(zone_id) => Ok(Self(zone_id)),
            Scope::Account(_) => Err(ApiError::internal("a zone-scoped route has no zone_id")),
        }
    }
}

/// `page` and `per_page`, with the API's defaults and bounds.
#[derive(Debug, Clone, Copy)]
pub struct Pagination(pub PageRequest);

impl<S: Send + Sync> FromRequestParts<S> for Pagination {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let query = QueryPairs::from_request_parts(parts, state).await?;
        Ok(Self(PageRequest {
            page: query.number("page", 1, 1..=u64::from(u32::MAX))?,
            per_page: query.number("per_page", 20, 5..=50)?,
        }))
    }
}

/// Query parameters as ordered pairs; repeated keys keep their last value.
#[derive(Debug, Default)]
pub struct QueryPairs(Vec<(String, String)>);

impl<S: Send + Sync> FromRequestParts<S> for QueryPairs {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let query = parts.uri.query().unwrap_or_default();
        Ok(Self(
            form_urlencoded::parse(query.as_bytes())
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect(),
        ))
    }
}

impl QueryPairs {
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .rev()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
    }

    /// A whole number within `range`. Integral floats (`5.0`) are accepted because the official
    /// Python SDK sends numbers with `str()`.
    pub fn number(
        &self,
        name: &str,
        default: u64,
        range: std::ops::RangeInclusive<u64>,
    ) -> Result<u64, ApiError> {
        let Some(raw) = self.get(name) else {
            return Ok(default);
        };
        let parsed = raw.trim().parse::<u64>().ok().or_else(|| {
            raw.trim()
                .parse::<f64>()
                .ok()
                .filter(|f| f.is_finite() && f.fract() == 0.0 && *f >= 0.0 && *f <= u64::MAX as f64)
                .map(|f| f as u64)
        });
        match parsed {
            Some(value) if range.contains(&value) => Ok(value),
            _ => Err(invalid_parameter(format!(
                "{name} must be a whole number from {} to {}; got {}",
                range.start(),
                range.end(),
                echo(raw)
            ))),
        }
    }

    /// One of `allowed`, or `None` when absent.
    pub fn choice<'a>(&self, name: &str, allowed: &[&'a str]) -> Result<Option<&'a str>, ApiError> {
        let Some(raw) = self.get(name) else {
            return Ok(None);
        };
        allowed
            .iter()
            .find(|candidate| **candidate == raw)
            .copied()
            .map(Some)
            .ok_or_else(|| {
                invalid_parameter(format!(
                    "{name} must be one of {}; got {}",
                    allowed.join(", "),
                    echo(raw)
                ))
            })
    }

    /// A boolean filter, `true` or `false` as the SDKs send booleans.
    pub fn flag(&self, name: &str) -> Result<Option<bool>, ApiError> {
        Ok(self
            .choice(name, &["true", "false"])?
            .map(|value| value == "true"))
    }

    /// `direction`: `asc` or `desc`, `None` when absent.
    pub fn direction(&self) -> Result<Option<Direction>, ApiError> {
        Ok(match self.choice("direction", &["asc", "desc"])? {
            Some("asc") => Some(Direction::Asc),
            Some(_) => Some(Direction::Desc),
            None => None,
        })
    }
}

/// The real API's shape for a bad query parameter: 6008 with the detail in `error_chain`.
pub(crate) fn invalid_parameter(detail: String) -> ApiError {
    ApiError::new(
        code::INVALID_REQUEST_PARAMETERS,
        format!("Invalid request parameters: {detail}."),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(query: &str) -> QueryPairs {
        QueryPairs(
            form_urlencoded::parse(query.as_bytes())
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect(),
        )
    }

    #[test]
    fn numbers_accept_integral_floats_and_reject_the_rest() {
        let q = pairs("a=5.0&b=7&c=1.5&d=abc&e=0&f=-1&g=1e1");
        assert_eq!(q.number("a", 1, 1..=50).unwrap(), 5);
        assert_eq!(q.number("b", 1, 1..=50).unwrap(), 7);
        assert_eq!(q.number("g", 1, 1..=50).unwrap(), 10);
        assert_eq!(q.number("missing", 20, 5..=50).unwrap(), 20);
        for bad in ["c", "d", "e", "f"] {
            let err = q.number(bad, 1, 1..=50).unwrap_err();
            assert_eq!(err.errors()[0].code, code::INVALID_REQUEST_PARAMETERS);
        }
    }

    fn refusal(body: &str) -> String {
        let error = parse_object(body.as_bytes()).unwrap_err();
        assert_eq!(error.errors()[0].code, code::BODY_NOT_JSON, "{body}");
        error.errors()[0].message.clone()
    }

    #[test]
    fn bodies_with_a_repeated_key_at_any_depth_are_refused_naming_it() {
        let message = refusal(r#"{"name": "a", "sans": [], "name": "b"}"#);
        assert!(
            message.contains(r#"the key "name" appears more than once"#),
            "{message}"
        );
        let message = refusal(r#"{"ssl": {"settings": {"http2": "on", "http2": "off"}}}"#);
        assert!(message.contains(r#""http2""#), "{message}");
        let message = refusal(r#"{"a": [{"k": 1}, {"k": 2, "k": 3}]}"#);
        assert!(message.contains(r#""k""#), "{message}");
        let huge = "k".repeat(100_000);
        let message = refusal(&format!(r#"{{"{huge}": 1, "{huge}": 2}}"#));
        assert!(message.len() < 400, "{message}");
        assert!(message.contains("100000 characters"), "{message}");
    }

    #[test]
    fn bodies_keep_every_value_as_serde_json_reads_it() {
        let body = r#"{"a": [1, -2, 3.5, 18446744073709551615, true, null, "x\u00e9"],
            "b": {"c": {}, "d": []}, "e": ""}"#;
        let ours = Value::Object(parse_object(body.as_bytes()).unwrap());
        let theirs: Value = serde_json::from_str(body).unwrap();
        assert_eq!(ours, theirs);
        // The same key in different objects is not a repetition.
        assert!(parse_object(br#"{"k": {"k": {"k": 1}}, "l": [{"k": 1}, {"k": 2}]}"#).is_ok());
    }

    #[test]
    fn deep_nesting_is_refused_quickly() {
        for open in ["[", "{\"a\":"] {
            let body = format!("{{\"x\":{}", open.repeat(100_000));
            let started = std::time::Instant::now();
            let message = refusal(&body);
            assert!(message.contains("recursion limit"), "{message}");
            assert!(started.elapsed() < std::time::Duration::from_millis(500));
        }
        let nested = format!("{{\"x\":{}1{}}}", "[".repeat(100), "]".repeat(100));
        assert!(parse_object(nested.as_bytes()).is_ok());
    }

    #[test]
    fn non_objects_and_broken_json_are_refused() {
        assert!(refusal("[1]").contains("must be a JSON object"));
        assert!(refusal("{\"a\": ").contains("not valid JSON"));
    }

    #[test]
    fn echoes_are_escaped_and_cut() {
        assert_eq!(echo("app.example.com"), "\"app.example.com\"");
        assert_eq!(echo("a\"b\n"), r#""a\"b\n""#);
        let long = "é".repeat(1000);
        let shown = echo(&long);
        assert!(shown.ends_with("... (1000 characters)"), "{shown}");
        assert_eq!(shown.matches("\\u{e9}").count(), MAX_ECHO_CHARS);
        assert_eq!(echo(&"x".repeat(MAX_ECHO_CHARS)).len(), MAX_ECHO_CHARS + 2);
    }

    /// Not a test of behaviour: how much the duplicate-key check costs against serde_json's
    /// own `Value`, on a CSR create body. `cargo test --release --lib duplicate_key_cost -- --ignored --nocapture`
    #[test]
    #[ignore = "a measurement"]
    fn duplicate_key_cost() {
        let sans: Vec<String> = (0..150).map(|i| format!("host-{i}.example.com")).collect();
        let body = serde_json::json!({"country": "US", "state": "MA", "locality": "Boston",
            "organization": "City of Boston", "common_name": "app.example.com", "sans": sans,
            "key_type": "p256v1", "name": "a name", "description": "a description"})
        .to_string();
        let rounds = 20_000;
        let started = std::time::Instant::now();
        for _ in 0..rounds {
            std::hint::black_box(serde_json::from_str::<Value>(&body).unwrap());
        }
        let plain = started.elapsed();
        let started = std::time::Instant::now();
        for _ in 0..rounds {
            std::hint::black_box(parse_object(body.as_bytes()).unwrap());
        }
        let unique = started.elapsed();
        println!(
            "{} bytes: serde_json Value {:?}/body, unique keys {:?}/body",
            body.len(),
            plain / rounds,
            unique / rounds
        );
    }

    #[test]
    fn repeated_keys_keep_the_last_value() {
        assert_eq!(pairs("page=1&page=3").get("page"), Some("3"));
    }

    #[test]
    fn uuids_must_be_hyphenated() {
        assert!(parse_uuid("7b163417-1d2b-4c84-a38a-2fb7a0cd7752").is_some());
        assert!(parse_uuid("7b1634171d2b4c84a38a2fb7a0cd7752").is_none());
        assert!(parse_uuid("not-a-uuid").is_none());
    }

    #[test]
    fn tags_are_32_lowercase_hex() {
        assert!(is_tag("023e105f4ecef8ad9ca31a8372d0c353"));
        assert!(!is_tag("023E105F4ECEF8AD9CA31A8372D0C353"));
        assert!(!is_tag("023e105f4ecef8ad9ca31a8372d0c35"));
        assert!(!is_tag("zzze105f4ecef8ad9ca31a8372d0c353"));
    }
}
