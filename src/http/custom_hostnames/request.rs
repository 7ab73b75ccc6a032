//! Parsing custom hostname requests: the hostname, its settings and the list filters.

use serde_json::{Map, Value};

use crate::app::hostnames::{HostnameSettings, SslDraft};
use crate::http::error::{ApiError, Code, ErrorDetail, code};
use crate::http::extract::{
    MAX_CERTIFICATE_PEM_LEN, MAX_CSR_ID_LEN, MAX_KEY_PEM_LEN, QueryPairs, echo, invalid_parameter,
    parse_uuid,
};
use crate::http::san::{HOSTNAME_CODES, san_error};
use crate::pki::names::check_san;
use crate::store::{HostnameFilter, HostnameMatch, HostnameOrder, SslOptions};

// Limits on what a client can make a hostname store and echo. The API documents none for these
// fields; each is edgecert's choice, generous for real use and small enough that a page of 50
// hostnames stays a few megabytes at worst (README, "Request limits").

/// `custom_origin_server` and `custom_origin_sni` are DNS names (or `:request_host_header:`):
/// 255, like the API's own `hostname` (`maxLength: 255`) and RFC 1035.
pub const MAX_ORIGIN_LEN: usize = 255;
/// `custom_metadata`: keys, values, and the whole object as JSON.
pub const MAX_METADATA_KEY_LEN: usize = 128;
pub const MAX_METADATA_VALUE_LEN: usize = 1024;
pub const MAX_METADATA_BYTES: usize = 4096;

/// Every key of `ssl` the SDKs send; another is refused (1434) rather than ignored.
const SSL_KEYS: [&str; 11] = [
    "bundle_method",
    "certificate_authority",
    "cloudflare_branding",
    "custom_cert_bundle",
    "custom_certificate",
    "custom_csr_id",
    "custom_key",
    "method",
    "settings",
    "type",
    "wildcard",
];

/// `field is N characters long; the limit is M.` when `text` is longer than `max_len`.
fn too_long(field: &str, text: &str, max_len: usize) -> Option<String> {
    let length = text.chars().count();
    (length > max_len)
        .then(|| format!("{field} is {length} characters long; the limit is {max_len}."))
}

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
            let shown = match other {
                Value::String(text) => echo(text),
                _ => echo(&other.to_string()),
            };
            errors.push(
                ErrorDetail::new(
                    code,
                    format!(
                        "ssl.{field} {shown} is not supported; use one of: {}.",
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
    max_len: usize,
    code: Code,
    errors: &mut Vec<ErrorDetail>,
) -> Option<String> {
    let pointer = format!("/ssl/{field}");
    match object.get(field) {
        None | Some(Value::Null) => None,
        Some(Value::String(value)) => match too_long(&format!("ssl.{field}"), value, max_len) {
            None => Some(value.clone()),
            Some(message) => {
                errors.push(ErrorDetail::new(code, message).at(pointer));
                None
            }
        },
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
            for key in ssl.keys() {
                if !SSL_KEYS.contains(&key.as_str()) {
                    errors.push(
                        ErrorDetail::new(
                            code::HOSTNAME_SSL_ATTRIBUTE,
                            format!(
                                "ssl.{} is not an ssl attribute; use one of: {}.",
                                echo(key),
                                SSL_KEYS.join(", ")
                            ),
                        )
                        .at(format!("/ssl/{key}")),
                    );
                }
            }
            let custom_cert_bundle = super::bundle::parse_bundle(ssl, &mut errors);
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
                settings: super::ssl_settings::parse(ssl, &mut errors),
            };
            Some(SslDraft {
                options,
                custom_certificate: optional_string(
                    ssl,
                    "custom_certificate",
                    MAX_CERTIFICATE_PEM_LEN,
                    code::HOSTNAME_CERT_UNPARSABLE,
                    &mut errors,
                ),
                custom_key: optional_string(
                    ssl,
                    "custom_key",
                    MAX_KEY_PEM_LEN,
                    code::HOSTNAME_KEY_INVALID,
                    &mut errors,
                ),
                custom_csr_id: optional_string(
                    ssl,
                    "custom_csr_id",
                    MAX_CSR_ID_LEN,
                    code::HOSTNAME_CSR_ID_INVALID,
                    &mut errors,
                ),
                custom_cert_bundle,
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
            match metadata_problem(map) {
                None => Some(Some(Value::Object(map.clone()))),
                Some(message) => {
                    errors.push(
                        ErrorDetail::new(code::HOSTNAME_METADATA, message).at("/custom_metadata"),
                    );
                    None
                }
            }
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
        Some(Value::String(value)) => match too_long(field, value, MAX_ORIGIN_LEN) {
            None => Some(Some(value.clone())),
            Some(message) => {
                errors
                    .push(ErrorDetail::new(code::HOSTNAME_ORIGIN, message).at(format!("/{field}")));
                None
            }
        },
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

/// What is wrong with an object of string values as `custom_metadata`, if anything.
fn metadata_problem(map: &Map<String, Value>) -> Option<String> {
    for (key, value) in map {
        if key.is_empty() {
            return Some("custom_metadata keys must not be empty.".into());
        }
        if key.chars().count() > MAX_METADATA_KEY_LEN {
            return Some(format!(
                "custom_metadata key {} is longer than {MAX_METADATA_KEY_LEN} characters.",
                echo(key)
            ));
        }
        let value = value.as_str().unwrap_or_default();
        if value.chars().count() > MAX_METADATA_VALUE_LEN {
            return Some(format!(
                "custom_metadata value of {} is {} characters long; the limit is {MAX_METADATA_VALUE_LEN}.",
                echo(key),
                value.chars().count()
            ));
        }
    }
    let size = Value::Object(map.clone()).to_string().len();
    (size > MAX_METADATA_BYTES).then(|| {
        format!("custom_metadata is {size} bytes as JSON; the limit is {MAX_METADATA_BYTES}.")
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
            let subject = format!("hostname {}", echo(hostname));
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
                format!(
                    "id filter {} is not a custom hostname id (36 characters).",
                    echo(raw)
                ),
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
                        "{key} {} is not part of a hostname: use letters, digits, '.', '-' and '*'.",
                        echo(value)
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
        // The SDKs type it as 0 or 1 (not a boolean).
        ssl: query.choice("ssl", &["0", "1"])?.map(|value| value == "1"),
        ssl_status: query.choice("ssl_status", SSL_STATUSES)?.map(str::to_owned),
        hostname_status: query
            .choice("hostname_status", HOSTNAME_STATUSES)?
            .map(str::to_owned),
        wildcard: query.flag("wildcard")?,
        certificate_authority: query
            .choice("certificate_authority", &CERTIFICATE_AUTHORITIES)?
            .map(str::to_owned),
        custom_origin_server: custom_origin_filter(query)?,
        order: match query.choice("order", &ORDERS)? {
            Some("ssl") => HostnameOrder::Ssl,
            Some(_) => HostnameOrder::SslStatus,
            None => HostnameOrder::CreatedAt,
        },
        direction: query.direction()?,
    })
}

/// Every `ssl.status` the real API can show (the SDKs' enum, cloudflare-python 5.9.0), also
/// the list filter's values; edgecert produces some of them, the test controls any.
pub const SSL_STATUSES: &[&str] = &[
    "initializing",
    "pending_validation",
    "deleted",
    "pending_issuance",
    "pending_deployment",
    "pending_deletion",
    "pending_expiration",
    "expired",
    "active",
    "initializing_timed_out",
    "validation_timed_out",
    "issuance_timed_out",
    "deployment_timed_out",
    "deletion_timed_out",
    "pending_cleanup",
    "staging_deployment",
    "staging_active",
    "deactivating",
    "inactive",
    "backup_issued",
    "holding_deployment",
];

/// Every hostname `status` the real API can show (same source), also the filter's values.
pub const HOSTNAME_STATUSES: &[&str] = &[
    "active",
    "pending",
    "active_redeploying",
    "moved",
    "pending_deletion",
    "deleted",
    "pending_blocked",
    "pending_migration",
    "pending_provisioned",
    "test_pending",
    "test_active",
    "test_active_apex",
    "test_blocked",
    "test_failed",
    "provisioned",
    "blocked",
];

/// The list's sort fields besides the default (creation time).
pub const ORDERS: [&str; 2] = ["ssl", "ssl_status"];

/// The certificate authorities a hostname can ask for (`ssl.certificate_authority`).
pub const CERTIFICATE_AUTHORITIES: [&str; 3] = ["google", "lets_encrypt", "ssl_com"];

/// `custom_origin_server`: a hostname, compared the way it is stored (lower case).
fn custom_origin_filter(query: &QueryPairs) -> Result<Option<String>, ApiError> {
    let Some(value) = query.get("custom_origin_server") else {
        return Ok(None);
    };
    if value.is_empty()
        || value.len() > 255
        || !value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-'))
    {
        return Err(invalid_parameter(format!(
            "custom_origin_server {} is not a hostname",
            echo(value)
        )));
    }
    Ok(Some(value.to_ascii_lowercase()))
}
