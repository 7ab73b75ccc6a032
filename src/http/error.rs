//! The one error type of the HTTP edge: Cloudflare error objects whose HTTP status comes from
//! their typed code, always rendered as the v4 envelope.

use std::sync::Arc;

use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::{Serialize, Serializer};

/// A Cloudflare error code as edgecert answers it: the number on the wire, the HTTP status it
/// always comes with, and the name the OpenAPI document lists it under. The same number can
/// mean different things per resource (1406 is a CSR's state and a duplicate hostname), so
/// each meaning is its own constant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Code {
    pub value: u32,
    pub status: StatusCode,
    pub name: &'static str,
}

impl Serialize for Code {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_u32(self.value)
    }
}

macro_rules! codes {
    ($($(#[$doc:meta])* $name:ident = $value:literal, $status:ident;)*) => {
        $(
            $(#[$doc])*
            pub const $name: Code = Code {
                value: $value,
                status: StatusCode::$status,
                name: stringify!($name),
            };
        )*
        /// Every code edgecert answers with.
        pub const ALL: &[Code] = &[$($name),*];
    };
}

/// Cloudflare error codes used by edgecert, named for what they mean here.
pub mod code {
    use super::{Code, StatusCode};

    codes! {
        AUTH_INVALID_TOKEN = 1000, UNAUTHORIZED;
        /// The real API's 6003 "Invalid request headers": a malformed, missing or repeated
        /// credential header, or a body's Content-Type. The `error_chain` says which, with
        /// one of the `HEADER_*` codes below.
        REQUEST_HEADERS_INVALID = 6003, BAD_REQUEST;
        /// `error_chain` entries of a 6003; their status is the 6003's.
        HEADER_AUTH_EMAIL_MISSING = 6100, BAD_REQUEST;
        HEADER_AUTH_KEY_MISSING = 6101, BAD_REQUEST;
        HEADER_AUTH_EMAIL_FORMAT = 6102, BAD_REQUEST;
        HEADER_AUTH_KEY_FORMAT = 6103, BAD_REQUEST;
        HEADER_CONTENT_TYPE = 6105, BAD_REQUEST;
        HEADER_AUTHORIZATION_FORMAT = 6111, BAD_REQUEST;
        /// Over the per-token rate limit: the real API's 971 with 429 (see `http::rate_limit`).
        RATE_LIMITED = 971, TOO_MANY_REQUESTS;
        BODY_NOT_JSON = 1400, BAD_REQUEST;
        /// The body is over the size limit: the real API's 1400 with 413.
        BODY_TOO_LARGE = 1400, PAYLOAD_TOO_LARGE;
        /// The body did not arrive within the body-read timeout: 1400, the real API's code for
        /// a body it cannot read, with 408.
        BODY_TIMEOUT = 1400, REQUEST_TIMEOUT;
        /// A compressed (`Content-Encoding`) body, which the real API does not take either.
        BODY_ENCODING_UNSUPPORTED = 1400, UNSUPPORTED_MEDIA_TYPE;
        INVALID_SCOPE_ID = 1401, BAD_REQUEST;
        NO_CREDENTIALS = 1402, BAD_REQUEST;
        CSR_COUNTRY = 1405, BAD_REQUEST;
        CSR_STATE = 1406, BAD_REQUEST;
        CSR_LOCALITY = 1407, BAD_REQUEST;
        CSR_ORGANIZATION = 1408, BAD_REQUEST;
        CSR_COMMON_NAME = 1409, BAD_REQUEST;
        CSR_COMMON_NAME_TOO_LONG = 1410, BAD_REQUEST;
        CSR_SAN_REQUIRED = 1411, BAD_REQUEST;
        CSR_SAN_INVALID = 1412, BAD_REQUEST;
        CSR_SAN_NON_ASCII = 1413, BAD_REQUEST;
        CSR_SAN_RESERVED_TLD = 1414, BAD_REQUEST;
        CSR_SAN_NO_PUBLIC_SUFFIX = 1415, BAD_REQUEST;
        CSR_SAN_EXAMPLE_DOMAIN = 1416, BAD_REQUEST;
        CSR_KEY_TYPE = 1417, BAD_REQUEST;
        CSR_ID_INVALID = 1418, BAD_REQUEST;
        CSR_NOT_FOUND = 1419, NOT_FOUND;
        CSR_IN_USE = 1420, CONFLICT;
        /// The zone or account holds its quota of CSRs (`EDGECERT_QUOTA_CUSTOM_CSRS`): the real
        /// API's "no quota has been allocated", its only quota answer for CSRs.
        CSR_QUOTA = 1403, FORBIDDEN;

        // Custom hostnames: the same numbers as CSRs can mean other things here.
        HOSTNAME_METADATA = 1401, BAD_REQUEST;
        /// A hostname quota of zero: "No quota has been allocated for this zone".
        HOSTNAME_NO_QUOTA = 1404, FORBIDDEN;
        /// The zone holds its hard cap of custom hostnames: "Quota exceeded".
        HOSTNAME_QUOTA_EXCEEDED = 1405, FORBIDDEN;
        HOSTNAME_DUPLICATE = 1406, CONFLICT;
        HOSTNAME_INVALID = 1407, BAD_REQUEST;
        HOSTNAME_NON_ASCII = 1408, BAD_REQUEST;
        HOSTNAME_RESERVED_TLD = 1409, BAD_REQUEST;
        HOSTNAME_NO_PUBLIC_SUFFIX = 1410, BAD_REQUEST;
        HOSTNAME_EXAMPLE_DOMAIN = 1411, BAD_REQUEST;
        HOSTNAME_ORIGIN = 1415, BAD_REQUEST;
        HOSTNAME_SETTING_HTTP2 = 1422, BAD_REQUEST;
        HOSTNAME_SETTING_TLS12_ONLY = 1423, BAD_REQUEST;
        HOSTNAME_SETTING_TLS13 = 1424, BAD_REQUEST;
        HOSTNAME_SETTING_MIN_TLS = 1425, BAD_REQUEST;
        HOSTNAME_CERT_UNPARSABLE = 1426, BAD_REQUEST;
        HOSTNAME_CERT_EMPTY = 1427, BAD_REQUEST;
        HOSTNAME_KEY_INVALID = 1428, BAD_REQUEST;
        HOSTNAME_KEY_MISMATCH = 1429, BAD_REQUEST;
        HOSTNAME_CSR_ID_INVALID = 1430, BAD_REQUEST;
        HOSTNAME_CSR_NOT_FOUND = 1431, NOT_FOUND;
        HOSTNAME_SSL_METHOD = 1432, BAD_REQUEST;
        HOSTNAME_SSL_TYPE = 1433, BAD_REQUEST;
        HOSTNAME_SSL_ATTRIBUTE = 1434, BAD_REQUEST;
        HOSTNAME_ID_INVALID = 1435, BAD_REQUEST;
        HOSTNAME_NOT_FOUND = 1436, NOT_FOUND;
        HOSTNAME_FILTER_INVALID = 1437, BAD_REQUEST;
        HOSTNAME_FILTER_CONFLICT = 1438, BAD_REQUEST;
        HOSTNAME_IMMUTABLE = 1439, CONFLICT;
        HOSTNAME_CERT_UNTRUSTED = 1441, BAD_REQUEST;
        HOSTNAME_SETTING_CIPHERS = 1442, BAD_REQUEST;
        HOSTNAME_SETTING_CIPHERS_TLS13 = 1443, BAD_REQUEST;
        HOSTNAME_CERT_SEVERAL_LEAVES = 1444, BAD_REQUEST;
        HOSTNAME_CERT_NO_LEAF = 1445, BAD_REQUEST;
        HOSTNAME_NOT_COVERED = 1446, BAD_REQUEST;
        HOSTNAME_CERT_SIGNATURE = 1447, BAD_REQUEST;
        HOSTNAME_BUNDLE_METHOD = 1449, BAD_REQUEST;
        /// The zone has no fallback origin (GET or DELETE). The API documents no answer for
        /// this; 404 with 1551 is edgecert's choice.
        FALLBACK_ORIGIN_NOT_FOUND = 1551, NOT_FOUND;

        // Custom certificates. 1001 and 1003 are edgecert's choice: the API documents no code
        // for a malformed or unknown certificate id.
        CERT_ID_INVALID = 1001, BAD_REQUEST;
        CERT_INVALID = 1002, BAD_REQUEST;
        CERT_NOT_FOUND = 1003, NOT_FOUND;
        CERT_EXPIRES_SOON = 1206, BAD_REQUEST;
        /// The zone holds its quota of custom certificates (the real API's 1212).
        CERT_QUOTA = 1212, BAD_REQUEST;
        CERT_PARAMETERS = 2001, BAD_REQUEST;
        CERT_UNTRUSTED = 2100, BAD_REQUEST;
        CERT_NO_LEAF = 2101, BAD_REQUEST;
        CERT_KEY_INVALID = 2106, BAD_REQUEST;
        CERT_KEY_MISMATCH = 2200, BAD_REQUEST;

        // The test controls (`/_edgecert/`): edgecert's own codes, outside the ranges the real
        // API uses, as these routes have no counterpart there.
        /// A reset body that is not `{}`, `{"zone_id"}` or `{"account_id"}`.
        CONTROL_RESET_SCOPE = 99001, BAD_REQUEST;
        /// A clock body that is not one of `now` or `advance_seconds`, or would move the clock
        /// out of the years 1970 to 9999.
        CONTROL_CLOCK = 99002, BAD_REQUEST;
        /// A forced status the real API never shows, or a bad forced error list.
        CONTROL_STATUS = 99003, BAD_REQUEST;
        /// A DCV check asked for on a hostname edgecert issues no certificate for (one with
        /// an uploaded certificate, or a method other than `http`).
        CONTROL_CHECK_NOT_MANAGED = 99004, CONFLICT;
        /// A DCV check asked for while no ACME CA is configured (`EDGECERT_ACME_DIRECTORY`).
        CONTROL_CHECK_NO_ACME = 99005, CONFLICT;
        /// A DCV check asked for while another worker has held the hostname for the whole
        /// wait; asking again is safe.
        CONTROL_CHECK_BUSY = 99006, CONFLICT;

        INTERNAL = 1500, INTERNAL_SERVER_ERROR;
        /// At the connection cap, or shutting down: try again shortly.
        SERVER_UNAVAILABLE = 1500, SERVICE_UNAVAILABLE;
        /// The database is unreachable or unusable for now. The real API documents no code for
        /// an outage; 1500 is its catch-all for these resources, so clients that match on it
        /// keep working, and the status, `Retry-After` and `x-should-retry` say "try again".
        DATABASE_UNAVAILABLE = 1500, SERVICE_UNAVAILABLE;
        /// The database's disk is full: 1500 as above, with WebDAV's 507 so the operator's
        /// dashboards tell it from an outage.
        STORAGE_FULL = 1500, INSUFFICIENT_STORAGE;
        INVALID_REQUEST_PARAMETERS = 6008, BAD_REQUEST;
        NO_ROUTE = 7000, BAD_REQUEST;
        /// A path (with its query) too long to be any route: 7000, "no route", with 414.
        PATH_TOO_LONG = 7000, URI_TOO_LONG;
        METHOD_NOT_ALLOWED = 7001, METHOD_NOT_ALLOWED;
    }
}

/// The error answers of one operation beyond those every route shares, by operation id, as
/// groups of codes that operations share. The OpenAPI document lists them by each code's
/// status, in order.
pub type OperationErrors = (&'static str, &'static [&'static [Code]]);

/// Answers every `/client/v4` route can give, before its handler runs.
pub const COMMON_ERRORS: &[Code] = &[
    code::NO_CREDENTIALS,
    code::INVALID_SCOPE_ID,
    code::REQUEST_HEADERS_INVALID,
    code::AUTH_INVALID_TOKEN,
    code::PATH_TOO_LONG,
    code::RATE_LIMITED,
    code::INTERNAL,
    code::SERVER_UNAVAILABLE,
    code::DATABASE_UNAVAILABLE,
    code::STORAGE_FULL,
];

/// What a client retrying a 503 is told to wait, in seconds: a little over the default acquire
/// timeout, so a retry lands after the pool has tried to reconnect, not during that attempt.
pub const RETRY_AFTER_SECONDS: &str = "2";

/// Extra answers of the routes that read a JSON body.
pub const BODY_ERRORS: &[Code] = &[
    code::BODY_NOT_JSON,
    code::BODY_TIMEOUT,
    code::BODY_TOO_LARGE,
    code::BODY_ENCODING_UNSUPPORTED,
];

/// Most problems listed in one answer; one more entry says how many were left out.
pub const MAX_ERRORS: usize = 20;

/// Longest error message, in characters. Messages quote client values through
/// `extract::echo`, which keeps them far below this; the cut is a backstop.
pub const MAX_MESSAGE_CHARS: usize = 1024;

/// One entry of `errors` in the envelope.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct ErrorDetail {
    #[schema(value_type = u32)]
    pub code: Code,
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source: Option<ErrorSource>,
    /// The causes of a general error, most specific last, as the real API chains them
    /// (a 6003 "Invalid request headers" names the header with a 61xx entry).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub error_chain: Vec<ChainedError>,
}

/// One cause in an error's `error_chain`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct ChainedError {
    #[schema(value_type = u32)]
    pub code: Code,
    pub message: String,
}

/// JSON pointer to the request field an error is about.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct ErrorSource {
    pub pointer: String,
}

impl ErrorDetail {
    pub fn new(code: Code, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
            source: None,
            error_chain: Vec::new(),
        }
    }

    /// Points the error at a request field, as a JSON pointer (`/sans/2`).
    pub fn at(mut self, pointer: impl Into<String>) -> Self {
        self.source = Some(ErrorSource {
            pointer: pointer.into(),
        });
        self
    }
}

#[derive(Serialize)]
struct FailureBody<'a> {
    success: bool,
    errors: &'a [ErrorDetail],
    messages: [(); 0],
    result: (),
}

/// The Cloudflare codes of an error answer, in `errors` order, attached to the response as an
/// extension so middleware (metrics, request logs) can label it without parsing the body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ErrorCodes(pub Vec<u32>);

/// The cause of an internal error, attached to its response so the request's one log line
/// carries it; the client sees only the generic 1500.
#[derive(Debug, Clone)]
pub struct InternalCause(pub Arc<str>);

#[derive(Debug)]
pub struct ApiError {
    errors: Vec<ErrorDetail>,
    cause: Option<Arc<str>>,
}

/// Cloudflare's SDKs retry on `x-should-retry: true` whatever the status, and honour
/// `Retry-After`; a 503 says both.
pub(crate) fn retry_headers(status: StatusCode) -> &'static [(&'static str, &'static str)] {
    match status {
        StatusCode::CONFLICT => &[("x-should-retry", "false")],
        StatusCode::SERVICE_UNAVAILABLE => &[
            ("x-should-retry", "true"),
            ("retry-after", RETRY_AFTER_SECONDS),
        ],
        // A full disk stays full until an operator acts: immediate retries only add load.
        StatusCode::INSUFFICIENT_STORAGE => &[("x-should-retry", "false")],
        _ => &[],
    }
}

impl ApiError {
    pub fn new(code: Code, message: impl Into<String>) -> Self {
        Self::many(vec![ErrorDetail::new(code, message)])
    }

    /// The real API's 6003 "Invalid request headers", caused by `header_code` (one of the
    /// `HEADER_*` codes) with its `message`.
    pub fn headers(header_code: Code, message: impl Into<String>) -> Self {
        let mut detail = ErrorDetail::new(code::REQUEST_HEADERS_INVALID, "Invalid request headers");
        detail.error_chain.push(ChainedError {
            code: header_code,
            message: message.into(),
        });
        Self::many(vec![detail])
    }

    /// One problem with one request field, named by its JSON pointer.
    pub fn field(code: Code, pointer: impl Into<String>, message: impl Into<String>) -> Self {
        Self::many(vec![ErrorDetail::new(code, message).at(pointer)])
    }

    /// Several problems at once, most important first; the first one's code sets the status.
    /// At most `MAX_ERRORS` are listed, then one entry counting the rest, and each message is
    /// cut to `MAX_MESSAGE_CHARS`: a request of 150 bad SANs (or any future list) must not
    /// turn into an answer many times its own size.
    pub fn many(mut errors: Vec<ErrorDetail>) -> Self {
        if errors.len() > MAX_ERRORS {
            let more = errors.len() - MAX_ERRORS;
            let next = errors.swap_remove(MAX_ERRORS);
            errors.truncate(MAX_ERRORS);
            errors.push(ErrorDetail::new(
                next.code,
                format!(
                    "{more} more problems were found and are not listed; fix those above and \
                     send the request again to see the rest."
                ),
            ));
        }
        for error in &mut errors {
            if let Some((cut, _)) = error.message.char_indices().nth(MAX_MESSAGE_CHARS) {
                error.message.truncate(cut);
                error.message.push_str("...");
            }
        }
        Self {
            errors,
            cause: None,
        }
    }

    /// Answers with a generic 1500 that reveals nothing internal; the cause goes to the
    /// request's log line.
    pub fn internal(cause: impl std::fmt::Display) -> Self {
        Self {
            errors: vec![ErrorDetail::new(
                code::INTERNAL,
                "Internal server error. The request was not applied; try again later.",
            )],
            cause: Some(cause.to_string().into()),
        }
    }

    pub fn status(&self) -> StatusCode {
        self.errors
            .first()
            .map_or(StatusCode::INTERNAL_SERVER_ERROR, |e| e.code.status)
    }

    pub fn errors(&self) -> &[ErrorDetail] {
        &self.errors
    }

    /// The same answer with every source pointer under `from` moved under `to`: an upload's
    /// problems reported at the entry of a list it came from (`/ssl/custom_cert_bundle/1/`).
    pub fn repointed(mut self, from: &str, to: &str) -> Self {
        for error in &mut self.errors {
            if let Some(source) = &mut error.source
                && let Some(rest) = source.pointer.strip_prefix(from)
            {
                source.pointer = format!("{to}{rest}");
            }
        }
        self
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        let body = FailureBody {
            success: false,
            errors: &self.errors,
            messages: [],
            result: (),
        };
        let mut response = (status, axum::Json(body)).into_response();
        response.extensions_mut().insert(ErrorCodes(
            self.errors.iter().map(|e| e.code.value).collect(),
        ));
        if let Some(cause) = self.cause {
            response.extensions_mut().insert(InternalCause(cause));
        }
        // The official SDKs retry a 409 twice unless told not to; a conflict here is final.
        for (name, value) in retry_headers(status) {
            response
                .headers_mut()
                .insert(*name, HeaderValue::from_static(value));
        }
        response
    }
}

impl From<crate::app::InternalError> for ApiError {
    fn from(error: crate::app::InternalError) -> Self {
        use crate::app::InternalKind;
        let (code, message) = match error.kind() {
            InternalKind::Other => return ApiError::internal(error),
            InternalKind::Unavailable => (
                code::DATABASE_UNAVAILABLE,
                "The service is temporarily unavailable: its database cannot be reached. \
                 Retry after the seconds in Retry-After. A change whose connection was cut \
                 mid-request may still have been applied, as a whole or not at all.",
            ),
            InternalKind::StorageFull => (
                code::STORAGE_FULL,
                "The service has run out of storage. The request was not applied; \
                 retry once the operator has freed space.",
            ),
        };
        // The cause goes to the request's log line, never to the client.
        let mut api = ApiError::new(code, message);
        api.cause = Some(error.to_string().into());
        api
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt;
    use serde_json::json;

    async fn render(error: ApiError) -> (StatusCode, Option<HeaderValue>, serde_json::Value) {
        let response = error.into_response();
        let status = response.status();
        let retry = response.headers().get("x-should-retry").cloned();
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        (status, retry, serde_json::from_slice(&bytes).unwrap())
    }

    /// Every code's status, written out: a change here is a change of the API.
    #[test]
    fn every_code_has_its_status() {
        let expected: &[(&str, u32, u16)] = &[
            ("AUTH_INVALID_TOKEN", 1000, 401),
            ("REQUEST_HEADERS_INVALID", 6003, 400),
            ("HEADER_AUTH_EMAIL_MISSING", 6100, 400),
            ("HEADER_AUTH_KEY_MISSING", 6101, 400),
            ("HEADER_AUTH_EMAIL_FORMAT", 6102, 400),
            ("HEADER_AUTH_KEY_FORMAT", 6103, 400),
            ("HEADER_CONTENT_TYPE", 6105, 400),
            ("HEADER_AUTHORIZATION_FORMAT", 6111, 400),
            ("RATE_LIMITED", 971, 429),
            ("BODY_NOT_JSON", 1400, 400),
            ("BODY_TOO_LARGE", 1400, 413),
            ("BODY_TIMEOUT", 1400, 408),
            ("BODY_ENCODING_UNSUPPORTED", 1400, 415),
            ("INVALID_SCOPE_ID", 1401, 400),
            ("NO_CREDENTIALS", 1402, 400),
            ("CSR_COUNTRY", 1405, 400),
            ("CSR_STATE", 1406, 400),
            ("CSR_LOCALITY", 1407, 400),
            ("CSR_ORGANIZATION", 1408, 400),
            ("CSR_COMMON_NAME", 1409, 400),
            ("CSR_COMMON_NAME_TOO_LONG", 1410, 400),
            ("CSR_SAN_REQUIRED", 1411, 400),
            ("CSR_SAN_INVALID", 1412, 400),
            ("CSR_SAN_NON_ASCII", 1413, 400),
            ("CSR_SAN_RESERVED_TLD", 1414, 400),
            ("CSR_SAN_NO_PUBLIC_SUFFIX", 1415, 400),
            ("CSR_SAN_EXAMPLE_DOMAIN", 1416, 400),
            ("CSR_KEY_TYPE", 1417, 400),
            ("CSR_ID_INVALID", 1418, 400),
            ("CSR_NOT_FOUND", 1419, 404),
            ("CSR_IN_USE", 1420, 409),
            ("CSR_QUOTA", 1403, 403),
            ("HOSTNAME_METADATA", 1401, 400),
            ("HOSTNAME_NO_QUOTA", 1404, 403),
            ("HOSTNAME_QUOTA_EXCEEDED", 1405, 403),
            ("HOSTNAME_DUPLICATE", 1406, 409),
            ("HOSTNAME_INVALID", 1407, 400),
            ("HOSTNAME_NON_ASCII", 1408, 400),
            ("HOSTNAME_RESERVED_TLD", 1409, 400),
            ("HOSTNAME_NO_PUBLIC_SUFFIX", 1410, 400),
            ("HOSTNAME_EXAMPLE_DOMAIN", 1411, 400),
            ("HOSTNAME_ORIGIN", 1415, 400),
            ("HOSTNAME_SETTING_HTTP2", 1422, 400),
            ("HOSTNAME_SETTING_TLS12_ONLY", 1423, 400),
            ("HOSTNAME_SETTING_TLS13", 1424, 400),
            ("HOSTNAME_SETTING_MIN_TLS", 1425, 400),
            ("HOSTNAME_CERT_UNPARSABLE", 1426, 400),
            ("HOSTNAME_CERT_EMPTY", 1427, 400),
            ("HOSTNAME_KEY_INVALID", 1428, 400),
            ("HOSTNAME_KEY_MISMATCH", 1429, 400),
            ("HOSTNAME_CSR_ID_INVALID", 1430, 400),
            ("HOSTNAME_CSR_NOT_FOUND", 1431, 404),
            ("HOSTNAME_SSL_METHOD", 1432, 400),
            ("HOSTNAME_SSL_TYPE", 1433, 400),
            ("HOSTNAME_SSL_ATTRIBUTE", 1434, 400),
            ("HOSTNAME_ID_INVALID", 1435, 400),
            ("HOSTNAME_NOT_FOUND", 1436, 404),
            ("HOSTNAME_FILTER_INVALID", 1437, 400),
            ("HOSTNAME_FILTER_CONFLICT", 1438, 400),
            ("HOSTNAME_IMMUTABLE", 1439, 409),
            ("HOSTNAME_CERT_UNTRUSTED", 1441, 400),
            ("HOSTNAME_SETTING_CIPHERS", 1442, 400),
            ("HOSTNAME_SETTING_CIPHERS_TLS13", 1443, 400),
            ("HOSTNAME_CERT_SEVERAL_LEAVES", 1444, 400),
            ("HOSTNAME_CERT_NO_LEAF", 1445, 400),
            ("HOSTNAME_NOT_COVERED", 1446, 400),
            ("HOSTNAME_CERT_SIGNATURE", 1447, 400),
            ("HOSTNAME_BUNDLE_METHOD", 1449, 400),
            ("FALLBACK_ORIGIN_NOT_FOUND", 1551, 404),
            ("CERT_ID_INVALID", 1001, 400),
            ("CERT_INVALID", 1002, 400),
            ("CERT_NOT_FOUND", 1003, 404),
            ("CERT_EXPIRES_SOON", 1206, 400),
            ("CERT_QUOTA", 1212, 400),
            ("CERT_PARAMETERS", 2001, 400),
            ("CERT_UNTRUSTED", 2100, 400),
            ("CERT_NO_LEAF", 2101, 400),
            ("CERT_KEY_INVALID", 2106, 400),
            ("CERT_KEY_MISMATCH", 2200, 400),
            ("CONTROL_RESET_SCOPE", 99001, 400),
            ("CONTROL_CLOCK", 99002, 400),
            ("CONTROL_STATUS", 99003, 400),
            ("CONTROL_CHECK_NOT_MANAGED", 99004, 409),
            ("CONTROL_CHECK_NO_ACME", 99005, 409),
            ("CONTROL_CHECK_BUSY", 99006, 409),
            ("INTERNAL", 1500, 500),
            ("SERVER_UNAVAILABLE", 1500, 503),
            ("DATABASE_UNAVAILABLE", 1500, 503),
            ("STORAGE_FULL", 1500, 507),
            ("INVALID_REQUEST_PARAMETERS", 6008, 400),
            ("NO_ROUTE", 7000, 400),
            ("PATH_TOO_LONG", 7000, 414),
            ("METHOD_NOT_ALLOWED", 7001, 405),
        ];
        let actual: Vec<(&str, u32, u16)> = code::ALL
            .iter()
            .map(|c| (c.name, c.value, c.status.as_u16()))
            .collect();
        assert_eq!(actual, expected);
    }

    #[tokio::test]
    async fn renders_the_failure_envelope_with_the_status_of_its_code() {
        let (status, retry, body) = render(ApiError::new(code::CSR_KEY_TYPE, "bad key type")).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_eq!(retry, None);
        assert_eq!(
            body,
            json!({"success": false, "errors": [{"code": 1417, "message": "bad key type"}],
                   "messages": [], "result": null})
        );
        let (status, _, _) = render(ApiError::new(code::CSR_NOT_FOUND, "gone")).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
    }

    #[test]
    fn responses_carry_their_codes_for_middleware() {
        let error = ApiError::many(vec![
            ErrorDetail::new(code::CSR_COUNTRY, "bad country"),
            ErrorDetail::new(code::CSR_STATE, "bad state"),
        ]);
        let response = error.into_response();
        assert_eq!(
            response.extensions().get::<ErrorCodes>(),
            Some(&ErrorCodes(vec![1405, 1406]))
        );
        assert!(response.extensions().get::<InternalCause>().is_none());
    }

    #[tokio::test]
    async fn conflicts_tell_sdks_not_to_retry() {
        let (status, retry, _) = render(ApiError::new(code::CSR_IN_USE, "in use")).await;
        assert_eq!(status, StatusCode::CONFLICT);
        assert_eq!(retry.unwrap(), "false");
    }

    #[tokio::test]
    async fn internal_errors_hide_their_cause_from_the_client_but_not_the_log() {
        let response = ApiError::internal("secret table detail").into_response();
        let cause = response.extensions().get::<InternalCause>().cloned();
        assert_eq!(
            cause.map(|c| c.0.to_string()).as_deref(),
            Some("secret table detail")
        );
        let status = response.status();
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        let body: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(body["errors"][0]["code"], 1500);
        assert!(!body.to_string().contains("secret table detail"));
    }

    #[tokio::test]
    async fn an_unavailable_database_is_a_503_to_retry_and_a_full_disk_a_507() {
        use crate::app::InternalError;
        use crate::store::StoreError;
        let unavailable: InternalError = StoreError::from(sqlx::Error::PoolTimedOut).into();
        let response = ApiError::from(unavailable).into_response();
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(response.headers()["x-should-retry"], "true");
        assert_eq!(response.headers()["retry-after"], RETRY_AFTER_SECONDS);
        let cause = response.extensions().get::<InternalCause>().cloned();
        assert!(cause.is_some_and(|c| c.0.contains("pool timed out")));
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        let body: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(body["errors"][0]["code"], 1500);
        assert!(!body.to_string().contains("pool timed out"), "{body}");

        let refused = std::io::Error::from(std::io::ErrorKind::ConnectionRefused);
        let refused: InternalError = StoreError::from(sqlx::Error::Io(refused)).into();
        assert_eq!(
            ApiError::from(refused).status(),
            StatusCode::SERVICE_UNAVAILABLE
        );

        let full: InternalError =
            StoreError::StorageFull(sqlx::Error::Protocol("disk full".into())).into();
        let (status, retry, body) = render(ApiError::from(full)).await;
        assert_eq!(status, StatusCode::INSUFFICIENT_STORAGE);
        assert_eq!(retry.unwrap(), "false");
        assert_eq!(body["errors"][0]["code"], 1500);

        // Everything else stays the generic 500.
        let other: InternalError = StoreError::Corrupt("bad row".into()).into();
        let (status, retry, _) = render(ApiError::from(other)).await;
        assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(retry, None);
    }

    #[test]
    fn long_error_lists_are_cut_with_a_count_of_the_rest() {
        let mut errors: Vec<ErrorDetail> = (0..MAX_ERRORS)
            .map(|i| ErrorDetail::new(code::CSR_SAN_INVALID, format!("problem {i}")))
            .collect();
        errors.extend((0..980).map(|_| ErrorDetail::new(code::CSR_SAN_NON_ASCII, "later")));
        let error = ApiError::many(errors);
        let listed = error.errors();
        assert_eq!(listed.len(), MAX_ERRORS + 1);
        assert_eq!(
            listed[MAX_ERRORS - 1].message,
            format!("problem {}", MAX_ERRORS - 1)
        );
        assert_eq!(listed[MAX_ERRORS].code, code::CSR_SAN_NON_ASCII);
        assert!(listed[MAX_ERRORS].message.starts_with("980 more problems"));
        assert_eq!(error.status(), StatusCode::BAD_REQUEST);

        let exactly: Vec<ErrorDetail> = (0..MAX_ERRORS)
            .map(|_| ErrorDetail::new(code::CSR_SAN_INVALID, "bad"))
            .collect();
        assert_eq!(ApiError::many(exactly).errors().len(), MAX_ERRORS);
    }

    #[test]
    fn long_messages_are_cut() {
        let error = ApiError::new(code::CSR_KEY_TYPE, "é".repeat(10 * MAX_MESSAGE_CHARS));
        let message = &error.errors()[0].message;
        assert_eq!(message.chars().count(), MAX_MESSAGE_CHARS + 3);
        assert!(message.ends_with("..."));
    }

    #[test]
    fn field_errors_carry_a_pointer() {
        let error = ApiError::field(code::CSR_SAN_INVALID, "/sans/1", "bad");
        assert_eq!(
            serde_json::to_value(&error.errors()[0]).unwrap(),
            json!({"code": 1412, "message": "bad", "source": {"pointer": "/sans/1"}})
        );
    }
}
