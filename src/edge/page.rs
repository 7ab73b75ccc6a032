//! The edge's own answers when a request cannot reach an origin: small HTML pages with the
//! status and error number Cloudflare's edge would give, and the request's Ray ID.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::origin::Failure;

/// The header that carries a request's id to the origin and back to the client.
pub const CF_RAY: &str = "cf-ray";

/// A request id in the shape of Cloudflare's `CF-Ray`: 16 lower-case hex digits and a
/// data-centre code (`EDG`, for edgecert).
pub fn ray_id() -> String {
    format!("{:016x}-EDG", rand::random::<u64>())
}

/// Why the edge answered itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Problem {
    /// The Host is no custom hostname. Cloudflare answers a request for a name it does not
    /// serve with error 1001 ("DNS resolution error", HTTP 530): the name points at its edge
    /// but belongs to no zone there.
    UnknownHost,
    /// A custom hostname with no `custom_origin_server` in a zone with no fallback origin.
    /// Cloudflare's SaaS troubleshooting names error 1016 ("Origin DNS error", HTTP 530)
    /// for exactly this: the hostname cannot be routed. A 52x would say an origin was tried.
    NoOrigin,
    /// No Host header and no `:authority`: nothing to route by.
    NoHost,
    Origin(Failure),
}

impl Problem {
    /// Status, Cloudflare error number, title and what to do about it.
    fn describe(self) -> (StatusCode, u16, &'static str, &'static str) {
        // 52x and 530 are Cloudflare's own statuses; `from_u16` takes any three digits.
        let status = |code| StatusCode::from_u16(code).unwrap_or(StatusCode::BAD_GATEWAY);
        match self {
            Problem::UnknownHost => (
                status(530),
                1001,
                "DNS resolution error",
                "This host is not a custom hostname of any zone on this edgecert. Create it \
                 with POST /zones/{zone_id}/custom_hostnames.",
            ),
            Problem::NoOrigin => (
                status(530),
                1016,
                "Origin DNS error",
                "This custom hostname has no custom_origin_server and its zone has no fallback \
                 origin. Set one with PUT /zones/{zone_id}/custom_hostnames/fallback_origin.",
            ),
            Problem::NoHost => (
                StatusCode::BAD_REQUEST,
                400,
                "Bad request",
                "The request names no host (no Host header): the edge routes by it.",
            ),
            Problem::Origin(failure) => match failure {
                Failure::Refused => (
                    status(521),
                    521,
                    "Web server is down",
                    "The origin refused the connection. Check that it is running and \
                     listening on the origin's address and port.",
                ),
                Failure::ConnectTimedOut => (
                    status(522),
                    522,
                    "Connection timed out",
                    "The origin did not accept the connection within \
                     EDGECERT_EDGE_ORIGIN_CONNECT_TIMEOUT.",
                ),
                Failure::Unreachable => (
                    status(523),
                    523,
                    "Origin is unreachable",
                    "The origin's name does not resolve or there is no route to it. Check \
                     custom_origin_server or the zone's fallback origin.",
                ),
                Failure::ResponseTimedOut => (
                    status(524),
                    524,
                    "A timeout occurred",
                    "The origin accepted the connection but sent no answer within \
                     EDGECERT_EDGE_ORIGIN_RESPONSE_TIMEOUT.",
                ),
                Failure::TlsHandshake => (
                    status(525),
                    525,
                    "SSL handshake failed",
                    "The TLS handshake with the origin failed. With EDGECERT_EDGE_ORIGIN_SSL \
                     full or strict the origin must serve HTTPS (flexible sends plain HTTP).",
                ),
                Failure::InvalidCertificate => (
                    status(526),
                    526,
                    "Invalid SSL certificate",
                    "The origin's certificate did not verify for its name (strict mode): \
                     check its chain, expiry and names, or EDGECERT_TRUST_ROOTS.",
                ),
                Failure::BadGateway => (
                    StatusCode::BAD_GATEWAY,
                    502,
                    "Bad gateway",
                    "The origin closed the connection or answered with something that is not \
                     HTTP.",
                ),
            },
        }
    }

    /// The page for this problem with `host` (as the client sent it) and `ray`.
    pub fn page(self, host: Option<&str>, ray: &str) -> Response {
        let (status, number, title, advice) = self.describe();
        let host = escape(host.unwrap_or("(no host)"));
        let ray = escape(ray);
        let body = format!(
            "<!DOCTYPE html>\n<html lang=\"en\">\n<head><meta charset=\"utf-8\">\
             <title>{host} | {number}: {title}</title></head>\n<body>\n\
             <h1>Error {number}</h1>\n<h2>{title}</h2>\n<p>{host}</p>\n<p>{advice}</p>\n\
             <p>Ray ID: <code>{ray}</code> &middot; edgecert edge</p>\n</body>\n</html>\n"
        );
        let mut response = (
            status,
            [
                (header::CONTENT_TYPE, "text/html; charset=UTF-8"),
                (header::CACHE_CONTROL, "no-store"),
                (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
            ],
            body,
        )
            .into_response();
        if let Ok(value) = HeaderValue::from_str(&ray) {
            response.headers_mut().insert(CF_RAY, value);
        }
        // hyper writes `<none>` for a status without a standard reason (52x, 530).
        if status.canonical_reason().is_none()
            && let Ok(reason) = hyper::ext::ReasonPhrase::try_from(title.as_bytes())
        {
            response.extensions_mut().insert(reason);
        }
        response
    }
}

/// The client's Host goes into the page: escaped, so it cannot inject markup.
fn escape(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => escaped.push_str("&amp;"),
            '<' => escaped.push_str("&lt;"),
            '>' => escaped.push_str("&gt;"),
            '"' => escaped.push_str("&quot;"),
            '\'' => escaped.push_str("&#39;"),
            c => escaped.push(c),
        }
    }
    escaped
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ray_ids_are_sixteen_hex_digits_and_a_code() {
        let ray = ray_id();
        let (hex, code) = ray.split_once('-').expect("a dash");
        assert_eq!(code, "EDG");
        assert_eq!(hex.len(), 16);
        assert!(
            hex.bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        );
        assert_ne!(ray_id(), ray);
    }

    #[test]
    fn each_problem_has_cloudflares_status_and_a_page() {
        for (problem, status, number) in [
            (Problem::UnknownHost, 530, "1001"),
            (Problem::NoOrigin, 530, "1016"),
            (Problem::NoHost, 400, "400"),
            (Problem::Origin(Failure::Refused), 521, "521"),
            (Problem::Origin(Failure::ConnectTimedOut), 522, "522"),
            (Problem::Origin(Failure::Unreachable), 523, "523"),
            (Problem::Origin(Failure::ResponseTimedOut), 524, "524"),
            (Problem::Origin(Failure::TlsHandshake), 525, "525"),
            (Problem::Origin(Failure::InvalidCertificate), 526, "526"),
            (Problem::Origin(Failure::BadGateway), 502, "502"),
        ] {
            let (code, number_given, title, _) = problem.describe();
            assert_eq!(code.as_u16(), status, "{problem:?}");
            assert_eq!(number_given.to_string(), number, "{problem:?}");
            let response = problem.page(Some("app.example.com"), "0123456789abcdef-EDG");
            assert_eq!(response.status().as_u16(), status);
            assert_eq!(response.headers()[CF_RAY], "0123456789abcdef-EDG");
            assert_eq!(
                response.headers()[header::CONTENT_TYPE],
                "text/html; charset=UTF-8"
            );
            let reason = response
                .extensions()
                .get::<hyper::ext::ReasonPhrase>()
                .map(|reason| reason.as_bytes().to_vec());
            let expected = code
                .canonical_reason()
                .is_none()
                .then(|| title.as_bytes().to_vec());
            assert_eq!(reason, expected, "{problem:?}: a reason phrase, not <none>");
        }
    }

    #[test]
    fn the_host_is_escaped() {
        assert_eq!(
            escape("<script>\"x\"&'y'</script>"),
            "&lt;script&gt;&quot;x&quot;&amp;&#39;y&#39;&lt;/script&gt;"
        );
    }
}
