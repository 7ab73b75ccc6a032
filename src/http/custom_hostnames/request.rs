//! Parsing custom hostname requests: the hostname, its settings and the list filters.

use serde_json::{Map, Value};

use crate::app::hostnames::{HostnameSettings, SslDraft};
use crate::http::error::{ApiError, Code, ErrorDetail, code};
use crate::http::extract::{QueryPairs, parse_uuid};
use crate::http::san::{HOSTNAME_CODES, san_error};
use crate::pki::names::check_san;
use crate::store::{HostnameFilter, HostnameMatch, SslOptions};

fn one_of(
    ssl: &Map<String, Value>,
    field: &str,
    allowed: &[&str],
    code: Code,
    errors: &mut Vec<ErrorDetail>,
) -> Option<String> {
    match ssl.get(field) {
        None | Some(Value::Null) => None,
        Some(Value::String(value)) if allowed.contains(&value.as_str()) => Some(value.clone()),
        Some(other) => {
            errors.push(
                ErrorDetail::new(
                    code,
                    format!(
                        "ssl.{field} {other} is not supported; use one of: {}.",
                        allowed.join(", ")
                    ),
                )
                .at(format!("/ssl/{field}")),
            );
            None
        }
    }
}

fn optional_string(
    object: &Map<String, Value>,
    field: &str,
    pointer: &str,
    code: Code,
    errors: &mut Vec<ErrorDetail>,
) -> Option<String> {
    match object.get(field) {
        None | Some(Value::Null) => None,
        Some(Value::String(value)) => Some(value.clone()),
        Some(_) => {
            errors.push(ErrorDetail::new(code, format!("{field} must be a string.")).at(pointer));
            None
        }
    }
}

fn optional_bool(
    object: &Map<String, Value>,
    field: &str,
    errors: &mut Vec<ErrorDetail>,
) -> Option<bool> {
    match object.get(field) {
        None | Some(Value::Null) => None,
        Some(Value::Bool(value)) => Some(*value),
        Some(_) => {
            errors.push(
                ErrorDetail::new(
                    code::HOSTNAME_SSL_ATTRIBUTE,
                    format!("ssl.{field} must be true or false."),
                )
                .at(format!("/ssl/{field}")),
            );
            None
        }
    }
}

/// The settings of a create or edit body, every problem reported at once.
pub fn parse_settings(body: &Map<String, Value>) -> Result<HostnameSettings, ApiError> {
    let mut errors = Vec::new();
    let ssl = match body.get("ssl") {
        None | Some(Value::Null) => None,
        Some(Value::Object(ssl)) => {
            let options = SslOptions {
                method: one_of(
                    ssl,
                    "method",
                    &["http", "txt", "email"],
                    code::HOSTNAME_SSL_METHOD,
                    &mut errors,
                ),
                ssl_type: one_of(ssl, "type", &["dv"], code::HOSTNAME_SSL_TYPE, &mut errors),
                bundle_method: one_of(
                    ssl,
                    "bundle_method",
                    &["ubiquitous", "optimal", "force"],
                    code::HOSTNAME_BUNDLE_METHOD,
                    &mut errors,
                )
                .or_else(|| Some("ubiquitous".to_string())),
                certificate_authority: one_of(
                    ssl,
                    "certificate_authority",
                    &["digicert", "google", "lets_encrypt", "ssl_com"],
                    code::HOSTNAME_SSL_ATTRIBUTE,
                    &mut errors,
                ),
                wildcard: optional_bool(ssl, "wildcard", &mut errors),
                cloudflare_branding: optional_bool(ssl, "cloudflare_branding", &mut errors),
                settings: ssl.get("settings").filter(|v| !v.is_null()).cloned(),
            };
            Some(SslDraft {
                options,
                custom_certificate: optional_string(
                    ssl,
                    "custom_certificate",
                    "/ssl/custom_certificate",
                    code::HOSTNAME_CERT_UNPARSABLE,
                    &mut errors,
                ),
                custom_key: optional_string(
                    ssl,
                    "custom_key",
                    "/ssl/custom_key",
                    code::HOSTNAME_KEY_INVALID,
                    &mut errors,
                ),
                custom_csr_id: optional_string(
                    ssl,
                    "custom_csr_id",
                    "/ssl/custom_csr_id",
                    code::HOSTNAME_CSR_ID_INVALID,
                    &mut errors,
                ),
            })
        }
        Some(_) => {
            errors.push(
                ErrorDetail::new(code::HOSTNAME_SSL_ATTRIBUTE, "ssl must be an object.").at("/ssl"),
            );
            None
        }
    };
    let custom_metadata = match body.get("custom_metadata") {
        None => None,
        Some(Value::Null) => Some(None),
        Some(Value::Object(map)) if map.values().all(Value::is_string) => {
            Some(Some(Value::Object(map.clone())))
        }
        Some(_) => {
            errors.push(
                ErrorDetail::new(
                    code::HOSTNAME_METADATA,
                    "custom_metadata must be an object of string values, e.g. {\"customer\": \"acme\"}.",
                )
                .at("/custom_metadata"),
            );
            None
        }
    };
    let mut text = |field: &str| match body.get(field) {
        None => None,
        Some(Value::Null) => Some(None),
        Some(Value::String(value)) => Some(Some(value.clone())),
        Some(_) => {
            errors.push(
                ErrorDetail::new(code::HOSTNAME_ORIGIN, format!("{field} must be a string."))
                    .at(format!("/{field}")),
            );
            None
        }
    };
    let custom_origin_server = text("custom_origin_server");
    let custom_origin_sni = text("custom_origin_sni");
    if !errors.is_empty() {
        return Err(ApiError::many(errors));
    }
    Ok(HostnameSettings {
        ssl,
        custom_metadata,
        custom_origin_server,
        custom_origin_sni,
    })
}

/// The hostname of a create request, checked and lower-cased.
pub fn check_hostname(body: &Map<String, Value>, strict: bool) -> Result<String, ApiError> {
    let hostname = match body.get("hostname") {
        Some(Value::String(hostname)) if !hostname.trim().is_empty() => hostname,
        _ => {
            return Err(ApiError::field(
                code::HOSTNAME_INVALID,
                "/hostname",
                "hostname is required: the customer's domain name, e.g. \"app.example.com\".",
            ));
        }
    };
    check_san(hostname, strict)
        .map(|()| hostname.to_ascii_lowercase())
        .map_err(|problem| {
            let subject = format!("hostname \"{}\"", hostname.escape_default());
            ApiError::many(vec![
                san_error(problem, &subject, &HOSTNAME_CODES).at("/hostname"),
            ])
        })
}

/// The list filters: `id`, or one of the hostname matches. The SDK sends `hostname.exact`,
/// `hostname.contain` and `hostname.startsWith`; older clients a plain `hostname`.
pub fn parse_filter(query: &QueryPairs) -> Result<HostnameFilter, ApiError> {
    let id = match query.get("id") {
        Some(raw) => Some(parse_uuid(raw).ok_or_else(|| {
            ApiError::new(
                code::HOSTNAME_ID_INVALID,
                format!("id filter {raw:?} is not a custom hostname id (36 characters)."),
            )
        })?),
        None => None,
    };
    let mut matches = Vec::new();
    for (key, make) in [
        (
            "hostname",
            HostnameMatch::Exact as fn(String) -> HostnameMatch,
        ),
        ("hostname.exact", HostnameMatch::Exact),
        ("hostname.contain", HostnameMatch::Contains),
        ("hostname.startsWith", HostnameMatch::StartsWith),
    ] {
        if let Some(value) = query.get(key) {
            if value.is_empty()
                || value.len() > 255
                || !value
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '*'))
            {
                return Err(ApiError::new(
                    code::HOSTNAME_FILTER_INVALID,
                    format!(
                        "{key} {value:?} is not part of a hostname: use letters, digits, '.', '-' and '*'."
                    ),
                ));
            }
            matches.push(make(value.to_ascii_lowercase()));
        }
    }
    if matches.len() > 1 || (id.is_some() && !matches.is_empty()) {
        return Err(ApiError::new(
            code::HOSTNAME_FILTER_CONFLICT,
            "Use one filter at a time: id, hostname.exact, hostname.contain or hostname.startsWith.",
        ));
    }
    Ok(HostnameFilter {
        id,
        hostname: matches.pop(),
    })
}
