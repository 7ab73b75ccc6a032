//! Request extractors whose failures are `ApiError`s, so every rejection uses the envelope.

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, RawPathParams, Request};
use axum::http::request::Parts;
use serde_json::{Map, Value};
use uuid::Uuid;

use super::error::{ApiError, Code, code};
pub use crate::app::parse_id as parse_uuid;
use crate::store::{PageRequest, Scope};

/// A JSON object body. The Content-Type is not checked: curl's `-d` sends form encoding and
/// the tutorial's requests must work as written.
#[derive(Debug)]
pub struct JsonObject(pub Map<String, Value>);

impl<S: Send + Sync> FromRequest<S> for JsonObject {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
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
        match serde_json::from_slice::<Value>(&bytes) {
            Ok(Value::Object(object)) => Ok(Self(object)),
            Ok(_) => Err(ApiError::new(
                code::BODY_NOT_JSON,
                "The request body must be a JSON object.",
            )),
            Err(error) => Err(ApiError::new(
                code::BODY_NOT_JSON,
                format!("The request body is not valid JSON: {error}."),
            )),
        }
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

fn is_tag(id: &str) -> bool {
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
                        "Invalid zone ID {zone_id:?}: a zone ID is 32 lowercase hexadecimal characters."
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
                        "Invalid account ID {account_id:?}: an account ID is 32 lowercase hexadecimal characters."
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
                "{name} must be a whole number from {} to {}; got {raw:?}",
                range.start(),
                range.end()
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
                    "{name} must be one of {}; got {raw:?}",
                    allowed.join(", ")
                ))
            })
    }
}

/// The real API's shape for a bad query parameter: 6008 with the detail in `error_chain`.
fn invalid_parameter(detail: String) -> ApiError {
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
