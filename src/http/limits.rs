//! Bounds on a request checked before its handler runs: path length, body encoding, declared
//! body size, and the body-read deadline (cut short when shutdown begins). Every answer also
//! gets `X-Content-Type-Options: nosniff`, so no browser reads a JSON error as a page.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::Request;
use axum::http::{HeaderMap, HeaderValue, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use http_body::{Frame, SizeHint};
use tokio::sync::watch;

use super::BODY_LIMIT;
use super::error::{ApiError, code};

/// Longest path with its query string. A CSR or hostname path is under 200 bytes; 8 KiB is
/// what nginx and most proxies allow in a request line.
pub const MAX_PATH_LEN: usize = 8 * 1024;

/// Put on each request by the connection server ([`super::connection`]): how long the body
/// may take once the head is in, and the signal that shutdown has begun. A router driven
/// without it (the in-process tests) reads bodies without a deadline.
#[derive(Clone, Debug)]
pub struct BodyReadLimits {
    pub timeout: Duration,
    /// Becomes `true` when shutdown begins: a body still arriving then is not waited for.
    pub draining: watch::Receiver<bool>,
}

/// Why a body read was cut off.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Cut {
    TimedOut,
    ShuttingDown,
}

/// Middleware on every route and the fallback, inside `observe` so its answers are logged
/// and counted like any other.
pub async fn guard(request: Request, next: Next) -> Response {
    let mut response = match refuse(&request) {
        Some(error) => {
            let mut response = error.into_response();
            // The body (if any) is left unread, so the connection cannot carry another
            // request; saying so lets the client know not to try.
            close_connection(&mut response);
            response
        }
        None => read_with_deadline(request, next).await,
    };
    response.headers_mut().insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    response
}

/// What can be refused from the head alone, before a byte of the body is read. hyper sends
/// `100 Continue` only once the body is read, so a refused `Expect: 100-continue` request
/// never gets one.
fn refuse(request: &Request) -> Option<ApiError> {
    let path_len = request
        .uri()
        .path_and_query()
        .map_or(0, |path| path.as_str().len());
    if path_len > MAX_PATH_LEN {
        return Some(ApiError::new(
            code::PATH_TOO_LONG,
            format!("The path is {path_len} bytes long; no route takes more than {MAX_PATH_LEN}."),
        ));
    }
    if compressed(request.headers()) {
        return Some(ApiError::new(
            code::BODY_ENCODING_UNSUPPORTED,
            "Compressed request bodies (Content-Encoding) are not supported; send the body \
             uncompressed, without a Content-Encoding header or with Content-Encoding: identity.",
        ));
    }
    // hyper has already refused a malformed or repeated-and-different Content-Length.
    let declared = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.trim().parse::<u64>().ok());
    if declared.is_some_and(|length| length > BODY_LIMIT as u64) {
        return Some(ApiError::new(
            code::BODY_TOO_LARGE,
            format!("The request body is larger than the limit of {BODY_LIMIT} bytes."),
        ));
    }
    None
}

/// Any `Content-Encoding` but `identity`: the body would be compressed bytes.
fn compressed(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::CONTENT_ENCODING)
        .iter()
        .any(|value| match value.to_str() {
            Ok(text) => text
                .split(',')
                .map(str::trim)
                .any(|coding| !coding.is_empty() && !coding.eq_ignore_ascii_case("identity")),
            Err(_) => true,
        })
}

/// Runs the request with its body behind the deadline, and answers 408 (or 503 when shutdown
/// cut it off) in place of whatever the handler made of the failed read.
async fn read_with_deadline(request: Request, next: Next) -> Response {
    let Some(limits) = request.extensions().get::<BodyReadLimits>().cloned() else {
        return next.run(request).await;
    };
    let cut = Arc::new(OnceLock::new());
    let request = request.map(|body| Body::new(DeadlineBody::new(body, limits, Arc::clone(&cut))));
    let response = next.run(request).await;
    let Some(&why) = cut.get() else {
        return response;
    };
    let (code, message) = match why {
        Cut::TimedOut => (
            code::BODY_TIMEOUT,
            "The request body did not arrive within the body-read timeout.",
        ),
        Cut::ShuttingDown => (
            code::SERVER_UNAVAILABLE,
            "edgecert is shutting down; the request body was not read. Try again shortly.",
        ),
    };
    let mut response = ApiError::new(code, message).into_response();
    close_connection(&mut response);
    response
}

fn close_connection(response: &mut Response) {
    response
        .headers_mut()
        .insert(header::CONNECTION, HeaderValue::from_static("close"));
}

/// A request body that fails once its deadline passes or shutdown begins, recording which in
/// `cut` so the middleware can answer for it.
struct DeadlineBody {
    inner: Body,
    stop: Pin<Box<dyn Future<Output = Cut> + Send>>,
    cut: Arc<OnceLock<Cut>>,
}

impl DeadlineBody {
    fn new(inner: Body, limits: BodyReadLimits, cut: Arc<OnceLock<Cut>>) -> Self {
        // Counted from now (the head is in), not from the first read of the body.
        let deadline = tokio::time::Instant::now() + limits.timeout;
        let mut draining = limits.draining;
        let stop = Box::pin(async move {
            tokio::select! {
                () = tokio::time::sleep_until(deadline) => Cut::TimedOut,
                // An `Err` (the server is gone) disables this branch; the deadline still holds.
                Ok(_) = draining.wait_for(|draining| *draining) => Cut::ShuttingDown,
            }
        });
        Self { inner, stop, cut }
    }
}

impl http_body::Body for DeadlineBody {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let this = self.get_mut();
        // Data already here is taken even at the deadline: only waiting is bounded.
        if let Poll::Ready(frame) = Pin::new(&mut this.inner).poll_frame(cx) {
            return Poll::Ready(frame);
        }
        match this.stop.as_mut().poll(cx) {
            Poll::Ready(why) => {
                let _ = this.cut.set(why);
                Poll::Ready(Some(Err(axum::Error::new(match why {
                    Cut::TimedOut => "request body timed out",
                    Cut::ShuttingDown => "request body cut off by shutdown",
                }))))
            }
            Poll::Pending => Poll::Pending,
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderName;

    fn with(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(
                HeaderName::from_bytes(name.as_bytes()).unwrap(),
                HeaderValue::from_str(value).unwrap(),
            );
        }
        map
    }

    #[test]
    fn only_identity_is_an_accepted_content_encoding() {
        assert!(!compressed(&HeaderMap::new()));
        assert!(!compressed(&with(&[("content-encoding", "identity")])));
        assert!(!compressed(&with(&[("content-encoding", "Identity, ")])));
        for encoded in ["gzip", "br", "identity, gzip", "deflate", "x-custom"] {
            assert!(
                compressed(&with(&[("content-encoding", encoded)])),
                "{encoded}"
            );
        }
        assert!(compressed(&with(&[
            ("content-encoding", "identity"),
            ("content-encoding", "zstd"),
        ])));
    }
}
