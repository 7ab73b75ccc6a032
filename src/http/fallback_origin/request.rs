//! Parsing a fallback origin request: `origin` is a DNS name, checked by the custom hostname
//! rules, optionally with a port; `localhost` and IP addresses are accepted for local use.

use std::net::{IpAddr, Ipv6Addr};

use serde_json::{Map, Value};

use crate::http::error::{ApiError, code};
use crate::http::extract::echo;
use crate::http::san::{HOSTNAME_CODES, san_error};
use crate::pki::names::check_san;

/// The API's own limit on `origin` (`maxLength: 255`).
pub const MAX_ORIGIN_LEN: usize = 255;

fn invalid(message: String) -> ApiError {
    ApiError::field(code::HOSTNAME_INVALID, "/origin", message)
}

/// The `origin` of a PUT body, checked and lower-cased: `host` or `host:port`, where `host`
/// is a DNS name (the custom hostname rules and codes, 1407 to 1411), `localhost`, an IPv4
/// address or a bracketed IPv6 address (`[::1]:8080`).
pub fn check_origin(body: &Map<String, Value>, strict: bool) -> Result<String, ApiError> {
    let origin = match body.get("origin") {
        Some(Value::String(origin)) if !origin.trim().is_empty() => origin,
        _ => {
            return Err(invalid(
                "origin is required: the hostname your custom hostnames' traffic is sent to, \
                 e.g. \"fallback.example.com\" (or \"localhost:3000\" locally)."
                    .into(),
            ));
        }
    };
    let length = origin.chars().count();
    if length > MAX_ORIGIN_LEN {
        return Err(invalid(format!(
            "origin is {length} characters long; the limit is {MAX_ORIGIN_LEN}."
        )));
    }
    let origin = origin.to_ascii_lowercase();
    let (host, _port) = split_port(&origin).ok_or_else(|| {
        invalid(format!(
            "origin {} is not host or host:port with a port from 1 to 65535.",
            echo(&origin)
        ))
    })?;
    if host == "localhost" || host.parse::<IpAddr>().is_ok() {
        return Ok(origin);
    }
    if host.starts_with("*.") {
        return Err(invalid(format!(
            "origin {} is a wildcard; name one host.",
            echo(&origin)
        )));
    }
    check_san(host, strict).map_err(|problem| {
        let subject = format!("origin {}", echo(host));
        ApiError::many(vec![
            san_error(problem, &subject, &HOSTNAME_CODES).at("/origin"),
        ])
    })?;
    Ok(origin)
}

/// `host[:port]` as (host, port); IPv6 hosts are bracketed when a port follows and are
/// returned without brackets. `None` when the port is not 1 to 65535.
fn split_port(origin: &str) -> Option<(&str, Option<u16>)> {
    if let Some(rest) = origin.strip_prefix('[') {
        let (host, after) = rest.split_once(']')?;
        host.parse::<Ipv6Addr>().ok()?;
        return match after {
            "" => Some((host, None)),
            _ => Some((host, Some(parse_port(after.strip_prefix(':')?)?))),
        };
    }
    if origin.parse::<Ipv6Addr>().is_ok() {
        return Some((origin, None));
    }
    match origin.rsplit_once(':') {
        None => Some((origin, None)),
        Some((host, port)) => Some((host, Some(parse_port(port)?))),
    }
}

fn parse_port(text: &str) -> Option<u16> {
    if text.is_empty() || text.len() > 5 || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse::<u16>().ok().filter(|port| *port > 0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn check(origin: Value) -> Result<String, u32> {
        let body = match json!({ "origin": origin }) {
            Value::Object(body) => body,
            _ => unreachable!("an object literal"),
        };
        check_origin(&body, false).map_err(|error| error.errors()[0].code.value)
    }

    #[test]
    fn origins_are_hosts_with_an_optional_port() {
        for (given, stored) in [
            ("Fallback.Saas-Platform.com", "fallback.saas-platform.com"),
            (
                "origin.saas-platform.com:8443",
                "origin.saas-platform.com:8443",
            ),
            ("localhost:3000", "localhost:3000"),
            ("localhost", "localhost"),
            ("127.0.0.1:9000", "127.0.0.1:9000"),
            ("[::1]:8080", "[::1]:8080"),
            ("::1", "::1"),
        ] {
            assert_eq!(check(json!(given)).as_deref(), Ok(stored), "{given}");
        }
    }

    #[test]
    fn bad_origins_get_the_custom_hostname_codes() {
        for (given, code) in [
            ("a..saas-platform.com", 1407),
            ("bücher.saas-platform.com", 1408),
            ("app.test", 1409),
            ("co.uk", 1410),
            ("*.saas-platform.com", 1407),
            ("origin.saas-platform.com:0", 1407),
            ("origin.saas-platform.com:65536", 1407),
            ("origin.saas-platform.com:", 1407),
            ("origin.saas-platform.com:http", 1407),
            ("[::1]8080", 1407),
            ("", 1407),
        ] {
            assert_eq!(check(json!(given)), Err(code), "{given}");
        }
        assert_eq!(check(json!(42)), Err(1407));
        assert_eq!(check(Value::Null), Err(1407));
        assert_eq!(check(json!("a".repeat(256))), Err(1407));
    }
}
