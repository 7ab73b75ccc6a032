//! Parsing custom certificate requests: the certificate, its key, its settings, priorities.

use serde_json::{Map, Value, json};
use uuid::Uuid;

use crate::app::certificates::Replacement;
use crate::app::uploads::KeyChoice;
use crate::http::error::{ApiError, Code, code};
use crate::http::extract::{
    MAX_CERTIFICATE_PEM_LEN, MAX_CSR_ID_LEN, MAX_KEY_PEM_LEN, echo, parse_uuid,
};
use crate::store::CertificateOptions;

const BUNDLE_METHODS: [&str; 3] = ["ubiquitous", "optimal", "force"];
const TYPES: [&str; 2] = ["legacy_custom", "sni_custom"];
const GEO_LABELS: [&str; 3] = ["us", "eu", "highest_security"];
/// Cloudflare's two environments; the edge edgecert runs is production.
const DEPLOY_TARGETS: [&str; 2] = ["staging", "production"];

/// `policy` is stored and echoed as `policy_restrictions`. The API documents no limit; real
/// expressions such as `(country: US) or (region: EU)` are a few dozen characters.
pub const MAX_POLICY_LEN: usize = 1024;

fn invalid(message: impl Into<String>, pointer: &str) -> ApiError {
    ApiError::field(code::CERT_PARAMETERS, pointer, message)
}

/// A string field of at most `max_len` characters, refused with `code` otherwise.
fn text<'a>(
    body: &'a Map<String, Value>,
    field: &str,
    code: Code,
    max_len: usize,
) -> Result<Option<&'a str>, ApiError> {
    match body.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(value)) => {
            let length = value.chars().count();
            if length > max_len {
                return Err(ApiError::field(
                    code,
                    format!("/{field}"),
                    format!("{field} is {length} characters long; the limit is {max_len}."),
                ));
            }
            Ok(Some(value))
        }
        Some(_) => Err(ApiError::field(
            code,
            format!("/{field}"),
            format!("{field} must be a string."),
        )),
    }
}

/// Applies the optional settings of a create or edit body onto `options`.
pub fn apply_options(
    body: &Map<String, Value>,
    options: &mut CertificateOptions,
) -> Result<(), ApiError> {
    if let Some(method) = text(
        body,
        "bundle_method",
        code::HOSTNAME_BUNDLE_METHOD,
        usize::MAX,
    )? {
        if !BUNDLE_METHODS.contains(&method) {
            return Err(ApiError::field(
                code::HOSTNAME_BUNDLE_METHOD,
                "/bundle_method",
                format!(
                    "bundle_method {} is not supported; use ubiquitous, optimal or force.",
                    echo(method)
                ),
            ));
        }
        options.bundle_method = method.to_string();
    }
    match body.get("geo_restrictions") {
        None => {}
        Some(Value::Null) => options.geo_restrictions = None,
        Some(Value::Object(geo))
            if geo
                .get("label")
                .and_then(Value::as_str)
                .is_some_and(|label| GEO_LABELS.contains(&label)) =>
        {
            options.geo_restrictions = Some(json!({ "label": geo["label"] }));
        }
        Some(_) => {
            return Err(invalid(
                "geo_restrictions must be {\"label\": \"us\"}, \"eu\" or \"highest_security\".",
                "/geo_restrictions",
            ));
        }
    }
    let policy = match text(body, "policy", code::CERT_PARAMETERS, MAX_POLICY_LEN)? {
        Some(policy) => Some(policy),
        None => text(
            body,
            "policy_restrictions",
            code::CERT_PARAMETERS,
            MAX_POLICY_LEN,
        )?,
    };
    if let Some(policy) = policy {
        options.policy = Some(policy.to_string());
    }
    if let Some(deploy) = text(body, "deploy", code::CERT_PARAMETERS, usize::MAX)? {
        if !DEPLOY_TARGETS.contains(&deploy) {
            return Err(invalid(
                format!(
                    "deploy {} is not supported; use staging or production.",
                    echo(deploy)
                ),
                "/deploy",
            ));
        }
        options.deploy = Some(deploy.to_string());
    }
    Ok(())
}

/// `custom_csr_id` and `private_key`, each checked to be a string.
fn key_choice(body: &Map<String, Value>) -> Result<KeyChoice<'_>, ApiError> {
    Ok(KeyChoice {
        custom_csr_id: text(
            body,
            "custom_csr_id",
            code::HOSTNAME_CSR_ID_INVALID,
            MAX_CSR_ID_LEN,
        )?,
        supplied_pem: text(body, "private_key", code::CERT_KEY_INVALID, MAX_KEY_PEM_LEN)?,
    })
}

/// The certificate, settings and key of an upload, checked for shape in the documented order.
pub fn parse_create(
    body: &Map<String, Value>,
) -> Result<(&str, CertificateOptions, KeyChoice<'_>), ApiError> {
    let certificate_pem = text(
        body,
        "certificate",
        code::CERT_INVALID,
        MAX_CERTIFICATE_PEM_LEN,
    )?
    .unwrap_or_default();
    let mut options = CertificateOptions {
        bundle_method: "ubiquitous".into(),
        certificate_type: "legacy_custom".into(),
        geo_restrictions: None,
        policy: None,
        deploy: None,
    };
    if let Some(kind) = text(body, "type", code::CERT_PARAMETERS, usize::MAX)? {
        if !TYPES.contains(&kind) {
            return Err(invalid(
                format!(
                    "type {} is not supported; use legacy_custom or sni_custom.",
                    echo(kind)
                ),
                "/type",
            ));
        }
        options.certificate_type = kind.to_string();
    }
    apply_options(body, &mut options)?;
    let key = key_choice(body)?;
    Ok((certificate_pem, options, key))
}

/// The settings of an edit applied to `current`, and the new certificate or key it brings.
pub fn parse_edit<'a>(
    body: &'a Map<String, Value>,
    current: &CertificateOptions,
) -> Result<(CertificateOptions, Option<Replacement<'a>>), ApiError> {
    if body.contains_key("type") {
        return Err(invalid(
            "type cannot be changed: delete the certificate and upload it again with the new type.",
            "/type",
        ));
    }
    let mut options = current.clone();
    apply_options(body, &mut options)?;
    let replaces_certificate = ["certificate", "private_key", "custom_csr_id"]
        .iter()
        .any(|field| body.get(*field).is_some_and(|v| !v.is_null()));
    if !replaces_certificate {
        return Ok((options, None));
    }
    let certificate_pem = text(
        body,
        "certificate",
        code::CERT_INVALID,
        MAX_CERTIFICATE_PEM_LEN,
    )?;
    let key = key_choice(body)?;
    Ok((
        options,
        Some(Replacement {
            certificate_pem,
            key,
        }),
    ))
}

/// `{"certificates": [{"id", "priority"}]}`.
pub fn parse_priorities(body: &Map<String, Value>) -> Result<Vec<(Uuid, i64)>, ApiError> {
    let entries = body
        .get("certificates")
        .and_then(Value::as_array)
        .filter(|entries| !entries.is_empty())
        .ok_or_else(|| {
            invalid(
                "certificates must be a non-empty array of {\"id\": ..., \"priority\": ...}.",
                "/certificates",
            )
        })?;
    let mut priorities = Vec::with_capacity(entries.len());
    for (index, entry) in entries.iter().enumerate() {
        let id = entry.get("id").and_then(Value::as_str).and_then(parse_uuid);
        // The SDKs type `priority` as a number, so `2.0` must mean 2; `2.5` means nothing.
        let priority = entry.get("priority").and_then(|value| {
            value.as_i64().or_else(|| {
                value
                    .as_f64()
                    .filter(|float| float.fract() == 0.0 && float.abs() < 1e15)
                    .map(|float| float as i64)
            })
        });
        match (id, priority) {
            (Some(id), Some(priority)) => priorities.push((id, priority)),
            _ => {
                return Err(invalid(
                    format!(
                        "certificates[{index}] needs an \"id\" (a certificate id) and a whole-number \"priority\"."
                    ),
                    &format!("/certificates/{index}"),
                ));
            }
        }
    }
    Ok(priorities)
}
