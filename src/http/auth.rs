//! Authentication of every `/client/v4` request, with the headers the official SDKs send,
//! and the per-token rate limit, which only a verified token is counted against.

use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderName, header};
use axum::middleware::Next;
use axum::response::Response;

use super::error::{ApiError, code};
use crate::app::AppState;

const X_AUTH_EMAIL: HeaderName = HeaderName::from_static("x-auth-email");
const X_AUTH_KEY: HeaderName = HeaderName::from_static("x-auth-key");
const X_AUTH_USER_SERVICE_KEY: HeaderName = HeaderName::from_static("x-auth-user-service-key");

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

/// The credential a request presents: a bearer token, a global API key with its
/// `X-Auth-Email`, or a user service key, in the order the SDKs prefer them. A malformed,
/// incomplete or repeated credential is the real API's 400 6003 with the header's 61xx cause.
fn credential(headers: &HeaderMap) -> Result<&str, ApiError> {
    // Two values of one credential header would leave it to edgecert which one counts and
    // to a proxy in front of it another; the real API refuses them too.
    let repeated = |name: &HeaderName| headers.get_all(name).iter().nth(1).is_some();
    if repeated(&header::AUTHORIZATION) {
        return Err(authorization_format());
    }
    if repeated(&X_AUTH_KEY) {
        return Err(auth_key_format());
    }
    if repeated(&X_AUTH_EMAIL) {
        return Err(auth_email_format());
    }
    if repeated(&X_AUTH_USER_SERVICE_KEY) {
        return Err(ApiError::new(
            code::REQUEST_HEADERS_INVALID,
            "Invalid request headers: X-Auth-User-Service-Key is sent more than once; send \
             exactly one credential.",
        ));
    }
    if let Some(value) = headers.get(header::AUTHORIZATION) {
        return value
            .to_str()
            .ok()
            .and_then(|text| text.split_once(' '))
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
            .map(|(_, token)| token.trim())
            .filter(|token| is_token_text(token))
            .ok_or_else(authorization_format);
    }
    match (headers.get(&X_AUTH_KEY), headers.get(&X_AUTH_EMAIL)) {
        (Some(key), Some(email)) => {
            let key = key
                .to_str()
                .ok()
                .map(str::trim)
                .filter(|key| is_token_text(key))
                .ok_or_else(auth_key_format)?;
            email
                .to_str()
                .ok()
                .map(str::trim)
                .filter(|email| is_email(email))
                .ok_or_else(auth_email_format)?;
            return Ok(key);
        }
        (Some(_), None) => {
            return Err(ApiError::headers(
                code::HEADER_AUTH_EMAIL_MISSING,
                "Missing X-Auth-Email header",
            ));
        }
        (None, Some(_)) => {
            return Err(ApiError::headers(
                code::HEADER_AUTH_KEY_MISSING,
                "Missing X-Auth-Key header",
            ));
        }
        (None, None) => {}
    }
    if let Some(value) = headers.get(&X_AUTH_USER_SERVICE_KEY) {
        return value
            .to_str()
            .ok()
            .map(str::trim)
            .filter(|key| is_token_text(key))
            .ok_or_else(|| {
                ApiError::new(
                    code::REQUEST_HEADERS_INVALID,
                    "Invalid request headers: X-Auth-User-Service-Key must be printable ASCII \
                     without spaces.",
                )
            });
    }
    Err(ApiError::new(
        code::NO_CREDENTIALS,
        "No credentials: send 'Authorization: Bearer <API token>', or 'X-Auth-Key: <key>' \
         with 'X-Auth-Email: <email>', or 'X-Auth-User-Service-Key: <key>'.",
    ))
}

fn authorization_format() -> ApiError {
    ApiError::headers(
        code::HEADER_AUTHORIZATION_FORMAT,
        "Invalid format for Authorization header",
    )
}

fn auth_key_format() -> ApiError {
    ApiError::headers(
        code::HEADER_AUTH_KEY_FORMAT,
        "Invalid format for X-Auth-Key header",
    )
}

fn auth_email_format() -> ApiError {
    ApiError::headers(
        code::HEADER_AUTH_EMAIL_FORMAT,
        "Invalid format for X-Auth-Email header",
    )
}

/// A credential as it can be written in a header: visible ASCII, no spaces, not empty.
fn is_token_text(text: &str) -> bool {
    !text.is_empty() && text.bytes().all(|byte| byte.is_ascii_graphic())
}

/// Enough of an address to be one: the real API checks the format, not the mailbox.
fn is_email(text: &str) -> bool {
    is_token_text(text)
        && text
            .split_once('@')
            .is_some_and(|(local, domain)| !local.is_empty() && !domain.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn chain_of(headers: &[(&str, &str)]) -> Vec<u32> {
        let mut map = HeaderMap::new();
        for (name, value) in headers {
            map.append(
                HeaderName::from_bytes(name.as_bytes()).expect("name"),
                HeaderValue::from_str(value).expect("value"),
            );
        }
        match credential(&map) {
            Ok(_) => Vec::new(),
            Err(error) => {
                let detail = &error.errors()[0];
                std::iter::once(detail.code.value)
                    .chain(detail.error_chain.iter().map(|link| link.code.value))
                    .collect()
            }
        }
    }

    /// Headers sent, and the codes answered (the error, then its chain; none when accepted).
    type Case = (&'static [(&'static str, &'static str)], &'static [u32]);

    #[test]
    fn each_header_problem_has_its_cause() {
        let cases: &[Case] = &[
            (&[("authorization", "Bearer abc")], &[]),
            (&[("authorization", "Basic dXNlcjpwYXNz")], &[6003, 6111]),
            (&[("authorization", "Bearer ")], &[6003, 6111]),
            (&[("authorization", "abc")], &[6003, 6111]),
            (
                &[("authorization", "Bearer a"), ("authorization", "Bearer a")],
                &[6003, 6111],
            ),
            (&[("x-auth-key", "k"), ("x-auth-email", "a@b.c")], &[]),
            (&[("x-auth-key", "k")], &[6003, 6100]),
            (&[("x-auth-email", "a@b.c")], &[6003, 6101]),
            (
                &[("x-auth-key", "k"), ("x-auth-email", "nobody")],
                &[6003, 6102],
            ),
            (
                &[("x-auth-key", "k k"), ("x-auth-email", "a@b.c")],
                &[6003, 6103],
            ),
            (
                &[
                    ("x-auth-key", "k"),
                    ("x-auth-key", "k"),
                    ("x-auth-email", "a@b.c"),
                ],
                &[6003, 6103],
            ),
            (&[("x-auth-user-service-key", "v1.0-k")], &[]),
            (&[], &[1402]),
        ];
        for (headers, expected) in cases {
            assert_eq!(&chain_of(headers), expected, "{headers:?}");
        }
    }
}
