//! Authentication of every `/client/v4` request, with the headers the official SDKs send,
//! and the per-token rate limit, which only a verified token is counted against.

use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderName, header};
use axum::middleware::Next;
use axum::response::Response;

use super::error::{ApiError, code};
use crate::app::AppState;

/// The headers that can carry a credential, in the order the SDKs prefer them.
const CREDENTIAL_HEADERS: [HeaderName; 3] = [
    header::AUTHORIZATION,
    HeaderName::from_static("x-auth-key"),
    HeaderName::from_static("x-auth-user-service-key"),
];

pub async fn require_credentials(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Result<Response, ApiError> {
    let presented = credential(request.headers())?;
    let Some(verified) = state.tokens.verify(presented) else {
        return Err(ApiError::new(
            code::AUTH_INVALID_TOKEN,
            "Invalid API token: it is not one this edgecert instance knows. Use the token printed \
             at first start or the one set in EDGECERT_BOOTSTRAP_TOKEN.",
        ));
    };
    if verified.is_legacy() {
        state.tokens.upgrade(state.store.as_ref(), &verified).await;
    }
    Ok(match &state.rate_limit {
        Some(limiter) => {
            super::rate_limit::run_limited(limiter, verified.id(), request, next).await
        }
        None => next.run(request).await,
    })
}

/// The credential a request presents: a bearer token, a global API key (with or without
/// `X-Auth-Email`) or a user service key, in the order the SDKs prefer them.
fn credential(headers: &HeaderMap) -> Result<&str, ApiError> {
    // Two values of one credential header would leave it to edgecert which one counts (the
    // first, before this check) and to a proxy in front of it another; refuse instead.
    if let Some(name) = CREDENTIAL_HEADERS
        .iter()
        .find(|name| headers.get_all(*name).iter().nth(1).is_some())
    {
        return Err(ApiError::new(
            code::AUTH_HEADERS_INVALID,
            format!(
                "Invalid request headers: the {name} header is sent more than once; send \
                 exactly one credential."
            ),
        ));
    }
    if let Some(value) = headers.get(header::AUTHORIZATION) {
        return value
            .to_str()
            .ok()
            .and_then(|text| text.split_once(' '))
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
            .map(|(_, token)| token.trim())
            .filter(|token| !token.is_empty())
            .ok_or_else(|| {
                ApiError::new(
                    code::AUTH_MALFORMED_HEADER,
                    "Malformed Authorization header: expected 'Authorization: Bearer <API token>'.",
                )
            });
    }
    for name in &CREDENTIAL_HEADERS[1..] {
        if let Some(value) = headers.get(name) {
            return value.to_str().map(str::trim).map_err(|_| {
                ApiError::new(
                    code::AUTH_MALFORMED_HEADER,
                    format!("Malformed {name} header: it must be printable ASCII."),
                )
            });
        }
    }
    Err(ApiError::new(
        code::NO_CREDENTIALS,
        "No credentials: send 'Authorization: Bearer <API token>', or 'X-Auth-Key: <key>' \
         (optionally with X-Auth-Email), or 'X-Auth-User-Service-Key: <key>'.",
    ))
}
