//! The per-token rate limit at the HTTP edge: the real API's 429 and its rate-limit headers.
//!
//! What the real API answers, and where that is recorded:
//! - 429 with `{"success":false,"errors":[{"code":971,"message":"Please wait and consider
//!   throttling your request speed"}],"messages":[],"result":null}`: quoted from real responses
//!   in cloudflare/terraform-provider-cloudflare issues #5494 (2025-04) and #6502 (2025-12), and
//!   #5505. Older reports (issue #435, 2019; lablabs/cloudflare-exporter #74, 2022) show code
//!   10100 "More than 1200 requests per 300 seconds reached. Please wait and consider
//!   throttling your request speed"; 971 is what the API answers today.
//! - Headers, from developers.cloudflare.com/fundamentals/api/reference/limits/ and the
//!   changelog entry 2025-09-03 "Introducing new headers for rate limiting on Cloudflare's API":
//!   `Ratelimit: "default";r=50;t=30` (remaining, seconds until the window resets) and
//!   `Ratelimit-Policy: "burst";q=100;w=60` (quota, window seconds) on every REST answer, and
//!   `Retry-After` (seconds, rounded up) only on a 429. The same page gives the default limit,
//!   1,200 requests per 5 minutes per user or account token.
//!
//! `x-should-retry: true` is edgecert's addition: the official SDKs already retry a 429, and
//! honour `Retry-After` up to 60 s; the header makes the intent explicit for any client that
//! reads it, the way the 409 answers say `false`.

use std::time::Duration;

use axum::extract::Request;
use axum::http::{HeaderMap, HeaderValue};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::error::{ApiError, code};
use crate::app::TokenDigest;
use crate::app::rate_limit::{Decision, RateLimiter};
use crate::config::RateLimitPolicy;

/// The policy's name in the `Ratelimit` headers: the real API's example uses "default".
const POLICY_NAME: &str = "default";

/// Counts the request against its token's window and runs it, or answers 429 without running it.
pub async fn run_limited(
    limiter: &RateLimiter,
    token: &TokenDigest,
    request: Request,
    next: Next,
) -> Response {
    let policy = limiter.policy();
    match limiter.check(token) {
        Decision::Allowed {
            remaining,
            resets_in,
        } => {
            let mut response = next.run(request).await;
            describe(response.headers_mut(), policy, remaining, resets_in);
            response
        }
        Decision::Limited { retry_after } => {
            let wait = whole_seconds(retry_after).max(1);
            let mut response = ApiError::new(
                code::RATE_LIMITED,
                format!(
                    "Please wait and consider throttling your request speed: this token has \
                     made the {} requests EDGECERT_RATE_LIMIT allows in its {} s window; retry \
                     in {wait} s.",
                    policy.requests,
                    policy.period.as_secs()
                ),
            )
            .into_response();
            let headers = response.headers_mut();
            describe(headers, policy, 0, retry_after);
            headers.insert(axum::http::header::RETRY_AFTER, HeaderValue::from(wait));
            headers.insert("x-should-retry", HeaderValue::from_static("true"));
            response
        }
    }
}

/// The `Ratelimit` and `Ratelimit-Policy` headers, in the real API's syntax.
fn describe(headers: &mut HeaderMap, policy: RateLimitPolicy, remaining: u32, resets_in: Duration) {
    let state = format!(
        "\"{POLICY_NAME}\";r={remaining};t={}",
        whole_seconds(resets_in)
    );
    let quota = format!(
        "\"{POLICY_NAME}\";q={};w={}",
        policy.requests,
        policy.period.as_secs()
    );
    // Digits, quotes and ASCII letters only, so both are always valid header values.
    if let Ok(value) = HeaderValue::try_from(state) {
        headers.insert("ratelimit", value);
    }
    if let Ok(value) = HeaderValue::try_from(quota) {
        headers.insert("ratelimit-policy", value);
    }
}

/// Rounded up, as the real API rounds `Retry-After`: waiting that long is always enough.
fn whole_seconds(duration: Duration) -> u64 {
    duration.as_secs() + u64::from(duration.subsec_nanos() > 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_round_up_to_whole_seconds() {
        assert_eq!(whole_seconds(Duration::ZERO), 0);
        assert_eq!(whole_seconds(Duration::from_millis(1)), 1);
        assert_eq!(whole_seconds(Duration::from_millis(20_000)), 20);
        assert_eq!(whole_seconds(Duration::from_millis(20_001)), 21);
    }
}
