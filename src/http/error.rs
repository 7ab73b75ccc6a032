//! The one error type of the HTTP edge: an HTTP status plus Cloudflare error objects, always
//! rendered as the v4 envelope.

use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use crate::pki::PkiError;
use crate::store::StoreError;

/// Cloudflare error codes used by edgecert, named for what they mean here.
pub mod code {
    pub const AUTH_INVALID_TOKEN: u32 = 1000;
    pub const AUTH_MALFORMED_HEADER: u32 = 1002;
    pub const BODY_NOT_JSON: u32 = 1400;
    pub const INVALID_SCOPE_ID: u32 = 1401;
    pub const NO_CREDENTIALS: u32 = 1402;
    pub const CSR_COUNTRY: u32 = 1405;
    pub const CSR_STATE: u32 = 1406;
    pub const CSR_LOCALITY: u32 = 1407;
    pub const CSR_ORGANIZATION: u32 = 1408;
    pub const CSR_COMMON_NAME: u32 = 1409;
    pub const CSR_COMMON_NAME_TOO_LONG: u32 = 1410;
    pub const CSR_SAN_REQUIRED: u32 = 1411;
    pub const CSR_SAN_INVALID: u32 = 1412;
    pub const CSR_SAN_NON_ASCII: u32 = 1413;
    pub const CSR_SAN_RESERVED_TLD: u32 = 1414;
    pub const CSR_SAN_NO_PUBLIC_SUFFIX: u32 = 1415;
    pub const CSR_SAN_EXAMPLE_DOMAIN: u32 = 1416;
    pub const CSR_KEY_TYPE: u32 = 1417;
    pub const CSR_ID_INVALID: u32 = 1418;
    pub const CSR_NOT_FOUND: u32 = 1419;
    pub const CSR_IN_USE: u32 = 1420;

    // Custom hostnames: the same numbers as CSRs can mean other things here.
    pub const HOSTNAME_METADATA: u32 = 1401;
    pub const HOSTNAME_DUPLICATE: u32 = 1406;
    pub const HOSTNAME_INVALID: u32 = 1407;
    pub const HOSTNAME_NON_ASCII: u32 = 1408;
    pub const HOSTNAME_RESERVED_TLD: u32 = 1409;
    pub const HOSTNAME_NO_PUBLIC_SUFFIX: u32 = 1410;
    pub const HOSTNAME_EXAMPLE_DOMAIN: u32 = 1411;
    pub const HOSTNAME_ORIGIN: u32 = 1415;
    pub const HOSTNAME_CERT_UNPARSABLE: u32 = 1426;
    pub const HOSTNAME_CERT_EMPTY: u32 = 1427;
    pub const HOSTNAME_KEY_INVALID: u32 = 1428;
    pub const HOSTNAME_KEY_MISMATCH: u32 = 1429;
    pub const HOSTNAME_CSR_ID_INVALID: u32 = 1430;
    pub const HOSTNAME_CSR_NOT_FOUND: u32 = 1431;
    pub const HOSTNAME_SSL_METHOD: u32 = 1432;
    pub const HOSTNAME_SSL_TYPE: u32 = 1433;
    pub const HOSTNAME_SSL_ATTRIBUTE: u32 = 1434;
    pub const HOSTNAME_ID_INVALID: u32 = 1435;
    pub const HOSTNAME_NOT_FOUND: u32 = 1436;
    pub const HOSTNAME_FILTER_INVALID: u32 = 1437;
    pub const HOSTNAME_FILTER_CONFLICT: u32 = 1438;
    pub const HOSTNAME_IMMUTABLE: u32 = 1439;
    pub const HOSTNAME_CERT_UNTRUSTED: u32 = 1441;
    pub const HOSTNAME_CERT_SEVERAL_LEAVES: u32 = 1444;
    pub const HOSTNAME_CERT_NO_LEAF: u32 = 1445;
    pub const HOSTNAME_NOT_COVERED: u32 = 1446;
    pub const HOSTNAME_CERT_SIGNATURE: u32 = 1447;
    pub const HOSTNAME_BUNDLE_METHOD: u32 = 1449;

    // Custom certificates. 1001 and 1003 are edgecert's choice: the API documents no code
    // for a malformed or unknown certificate id.
    pub const CERT_ID_INVALID: u32 = 1001;
    pub const CERT_INVALID: u32 = 1002;
    pub const CERT_NOT_FOUND: u32 = 1003;
    pub const CERT_EXPIRES_SOON: u32 = 1206;
    pub const CERT_PARAMETERS: u32 = 2001;
    pub const CERT_UNTRUSTED: u32 = 2100;
    pub const CERT_NO_LEAF: u32 = 2101;
    pub const CERT_KEY_INVALID: u32 = 2106;
    pub const CERT_KEY_MISMATCH: u32 = 2200;
    pub const INTERNAL: u32 = 1500;
    pub const INVALID_REQUEST_PARAMETERS: u32 = 6008;
    pub const NO_ROUTE: u32 = 7000;
    pub const METHOD_NOT_ALLOWED: u32 = 7001;
}

/// One entry of `errors` in the envelope.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct ErrorDetail {
    pub code: u32,
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source: Option<ErrorSource>,
}

/// JSON pointer to the request field an error is about.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct ErrorSource {
    pub pointer: String,
}

impl ErrorDetail {
    pub fn new(code: u32, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
            source: None,
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

#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    errors: Vec<ErrorDetail>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: u32, message: impl Into<String>) -> Self {
        Self::many(status, vec![ErrorDetail::new(code, message)])
    }

    /// Several problems at once, most important first.
    pub fn many(status: StatusCode, errors: Vec<ErrorDetail>) -> Self {
        Self { status, errors }
    }

    pub fn bad_request(code: u32, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, message)
    }

    /// Logs the cause in full and answers with a generic 1500 that reveals nothing internal.
    pub fn internal(cause: impl std::fmt::Display) -> Self {
        tracing::error!(error = %cause, "internal error");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            code::INTERNAL,
            "Internal server error. The request was not applied; try again later.",
        )
    }

    pub fn status(&self) -> StatusCode {
        self.status
    }

    pub fn errors(&self) -> &[ErrorDetail] {
        &self.errors
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = FailureBody {
            success: false,
            errors: &self.errors,
            messages: [],
            result: (),
        };
        let mut response = (self.status, axum::Json(body)).into_response();
        response
            .extensions_mut()
            .insert(ErrorCodes(self.errors.iter().map(|e| e.code).collect()));
        if self.status == StatusCode::CONFLICT {
            // The official SDKs retry a 409 twice unless told not to; a conflict here is final.
            response
                .headers_mut()
                .insert("x-should-retry", HeaderValue::from_static("false"));
        }
        response
    }
}

impl From<StoreError> for ApiError {
    fn from(error: StoreError) -> Self {
        ApiError::internal(format_args!("store: {error}"))
    }
}

impl From<PkiError> for ApiError {
    fn from(error: PkiError) -> Self {
        ApiError::internal(format_args!("pki: {error}"))
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

    #[tokio::test]
    async fn renders_the_failure_envelope() {
        let (status, retry, body) =
            render(ApiError::bad_request(code::CSR_KEY_TYPE, "bad key type")).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_eq!(retry, None);
        assert_eq!(
            body,
            json!({"success": false, "errors": [{"code": 1417, "message": "bad key type"}],
                   "messages": [], "result": null})
        );
    }

    #[test]
    fn responses_carry_their_codes_for_middleware() {
        let error = ApiError::many(
            StatusCode::BAD_REQUEST,
            vec![
                ErrorDetail::new(code::CSR_COUNTRY, "bad country"),
                ErrorDetail::new(code::CSR_STATE, "bad state"),
            ],
        );
        let response = error.into_response();
        assert_eq!(
            response.extensions().get::<ErrorCodes>(),
            Some(&ErrorCodes(vec![1405, 1406]))
        );
    }

    #[tokio::test]
    async fn conflicts_tell_sdks_not_to_retry() {
        let (status, retry, _) = render(ApiError::new(StatusCode::CONFLICT, 1420, "in use")).await;
        assert_eq!(status, StatusCode::CONFLICT);
        assert_eq!(retry.unwrap(), "false");
    }

    #[tokio::test]
    async fn internal_errors_hide_their_cause() {
        let error: ApiError = StoreError::Corrupt("secret table detail".into()).into();
        let (status, _, body) = render(error).await;
        assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(body["errors"][0]["code"], 1500);
        assert!(!body.to_string().contains("secret table detail"));
    }

    #[test]
    fn details_carry_a_pointer_when_given() {
        let detail = ErrorDetail::new(code::CSR_SAN_INVALID, "bad").at("/sans/1");
        assert_eq!(
            serde_json::to_value(detail).unwrap(),
            json!({"code": 1412, "message": "bad", "source": {"pointer": "/sans/1"}})
        );
    }
}
