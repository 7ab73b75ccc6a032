//! Authentication of every `/client/v4` request, with the headers the official SDKs send.

use axum::extract::{Request, State};
use axum::http::{HeaderMap, header};
use axum::middleware::Next;
use axum::response::Response;

use super::error::{ApiError, code};
use crate::app::AppState;

pub async fn require_credentials(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Result<Response, ApiError> {
    let presented = credential(request.headers())?;
    if !state.tokens.verify(presented) {
        return Err(ApiError::new(
            code::AUTH_INVALID_TOKEN,
            "Invalid API token: it is not one this edgecert instance knows. Use the token printed \
             at first start or the one set in EDGECERT_BOOTSTRAP_TOKEN.",
        ));
    }
    Ok(next.run(request).await)
}

/// The credential a request presents: a bearer token, a global API key (with or without
/// `X-Auth-Email`) or a user service key, in the order the SDKs prefer them.
fn credential(headers: &HeaderMap) -> Result<&str, ApiError> {
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
    for name in ["x-auth-key", "x-auth-user-service-key"] {
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
