//! Parsing the certificate pack parts of requests: `ssl.custom_cert_bundle` of a create or
//! edit, and the body of a pack certificate's replacement.

use serde_json::{Map, Value};

use crate::app::hostnames::BundleEntry;
use crate::http::error::{ApiError, Code, ErrorDetail, code};
use crate::http::extract::{MAX_CERTIFICATE_PEM_LEN, MAX_CSR_ID_LEN, MAX_KEY_PEM_LEN};

/// A bundle holds one or two certificates: the SDKs' "Array of custom certificate and key
/// pairs (1 or 2 pairs allowed)".
pub const MAX_BUNDLE_ENTRIES: usize = 2;

/// The fields of one bundle entry: the API's two, and `custom_csr_id`, edgecert's extension
/// for a certificate issued for one of its CSRs (whose key never leaves edgecert).
const ENTRY_KEYS: [&str; 3] = ["custom_certificate", "custom_key", "custom_csr_id"];

/// The single-upload fields a bundle replaces; a request gives one or the other.
const SINGLE_UPLOAD_KEYS: [&str; 3] = ["custom_certificate", "custom_key", "custom_csr_id"];

fn present(object: &Map<String, Value>, field: &str) -> bool {
    object.get(field).is_some_and(|value| !value.is_null())
}

/// A string field of an entry at `pointer`, within `max_len` characters.
fn entry_string(
    entry: &Map<String, Value>,
    field: &str,
    pointer: &str,
    max_len: usize,
    code: Code,
    errors: &mut Vec<ErrorDetail>,
) -> Option<String> {
    let at = format!("{pointer}/{field}");
    match entry.get(field) {
        None | Some(Value::Null) => None,
        Some(Value::String(text)) => {
            let length = text.chars().count();
            if length > max_len {
                errors.push(
                    ErrorDetail::new(
                        code,
                        format!("{field} is {length} characters long; the limit is {max_len}."),
                    )
                    .at(at),
                );
                return None;
            }
            Some(text.clone())
        }
        Some(_) => {
            errors.push(ErrorDetail::new(code, format!("{field} must be a string.")).at(at));
            None
        }
    }
}

/// One certificate and its key at `pointer` (`/ssl/custom_cert_bundle/0`, or `` for a
/// replacement body), every problem reported.
fn parse_entry(
    entry: &Map<String, Value>,
    pointer: &str,
    errors: &mut Vec<ErrorDetail>,
) -> Option<BundleEntry> {
    let before = errors.len();
    for key in entry.keys() {
        if !ENTRY_KEYS.contains(&key.as_str()) {
            errors.push(
                ErrorDetail::new(
                    code::HOSTNAME_SSL_ATTRIBUTE,
                    format!(
                        "{} is not a field of a bundled certificate; use custom_certificate \
                         with custom_key (or custom_csr_id).",
                        crate::http::extract::echo(key)
                    ),
                )
                .at(format!("{pointer}/{key}")),
            );
        }
    }
    let certificate = entry_string(
        entry,
        "custom_certificate",
        pointer,
        MAX_CERTIFICATE_PEM_LEN,
        code::HOSTNAME_CERT_UNPARSABLE,
        errors,
    );
    let key = entry_string(
        entry,
        "custom_key",
        pointer,
        MAX_KEY_PEM_LEN,
        code::HOSTNAME_KEY_INVALID,
        errors,
    );
    let csr_id = entry_string(
        entry,
        "custom_csr_id",
        pointer,
        MAX_CSR_ID_LEN,
        code::HOSTNAME_CSR_ID_INVALID,
        errors,
    );
    if !present(entry, "custom_certificate") {
        errors.push(
            ErrorDetail::new(
                code::HOSTNAME_CERT_EMPTY,
                "custom_certificate is required: the PEM certificate, with its chain.",
            )
            .at(format!("{pointer}/custom_certificate")),
        );
    }
    match (
        present(entry, "custom_key"),
        present(entry, "custom_csr_id"),
    ) {
        (true, true) => errors.push(
            ErrorDetail::new(
                code::HOSTNAME_SSL_ATTRIBUTE,
                "Give either custom_csr_id (the key stays in edgecert) or custom_key, not both.",
            )
            .at(format!("{pointer}/custom_key")),
        ),
        (false, false) => errors.push(
            ErrorDetail::new(
                code::HOSTNAME_KEY_INVALID,
                "custom_key is required: the certificate's PEM private key (or, with \
                 edgecert, custom_csr_id of the CSR it was issued for).",
            )
            .at(format!("{pointer}/custom_key")),
        ),
        _ => {}
    }
    if errors.len() > before {
        return None;
    }
    Some(BundleEntry {
        custom_certificate: certificate?,
        custom_key: key,
        custom_csr_id: csr_id,
    })
}

/// `ssl.custom_cert_bundle`, if given: one or two entries, and not with a single upload.
pub fn parse_bundle(
    ssl: &Map<String, Value>,
    errors: &mut Vec<ErrorDetail>,
) -> Option<Vec<BundleEntry>> {
    let value = ssl.get("custom_cert_bundle").filter(|v| !v.is_null())?;
    let before = errors.len();
    let entries = match value {
        Value::Array(entries) if (1..=MAX_BUNDLE_ENTRIES).contains(&entries.len()) => entries,
        _ => {
            errors.push(
                ErrorDetail::new(
                    code::HOSTNAME_SSL_ATTRIBUTE,
                    "ssl.custom_cert_bundle must be a list of one or two \
                     {\"custom_certificate\", \"custom_key\"} objects: one RSA and one ECDSA \
                     certificate.",
                )
                .at("/ssl/custom_cert_bundle"),
            );
            return None;
        }
    };
    for field in SINGLE_UPLOAD_KEYS {
        if present(ssl, field) {
            errors.push(
                ErrorDetail::new(
                    code::HOSTNAME_SSL_ATTRIBUTE,
                    format!(
                        "ssl.{field} cannot be given with ssl.custom_cert_bundle: put each \
                         certificate and its key in the bundle."
                    ),
                )
                .at(format!("/ssl/{field}")),
            );
        }
    }
    let mut parsed = Vec::with_capacity(entries.len());
    for (index, entry) in entries.iter().enumerate() {
        let pointer = format!("/ssl/custom_cert_bundle/{index}");
        match entry {
            Value::Object(entry) => parsed.extend(parse_entry(entry, &pointer, errors)),
            _ => errors.push(
                ErrorDetail::new(
                    code::HOSTNAME_SSL_ATTRIBUTE,
                    "Each bundled certificate is an object: {\"custom_certificate\", \
                     \"custom_key\"}.",
                )
                .at(pointer),
            ),
        }
    }
    (errors.len() == before).then_some(parsed)
}

/// The body of a pack certificate's replacement: `{custom_certificate, custom_key}` (or
/// `custom_csr_id` instead of the key).
pub fn parse_replacement(body: &Map<String, Value>) -> Result<BundleEntry, ApiError> {
    let mut errors = Vec::new();
    match parse_entry(body, "", &mut errors) {
        Some(entry) if errors.is_empty() => Ok(entry),
        _ => Err(ApiError::many(errors)),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::http::openapi::schema_tests::{object, pointers};

    fn bundle_errors(bundle: Value) -> Vec<String> {
        let ssl = object(json!({ "custom_cert_bundle": bundle }));
        let mut errors = Vec::new();
        let parsed = parse_bundle(&ssl, &mut errors);
        assert_eq!(parsed.is_none(), !errors.is_empty());
        pointers(ApiError::many(errors))
    }

    #[test]
    fn a_bundle_holds_one_or_two_certificates_each_with_one_key() {
        let entry = json!({ "custom_certificate": "PEM", "custom_key": "KEY" });
        assert!(bundle_errors(json!([entry])).is_empty());
        assert!(bundle_errors(json!([entry, entry])).is_empty());
        for wrong in [
            json!([]),
            json!([entry, entry, entry]),
            json!("x"),
            json!({}),
        ] {
            assert_eq!(bundle_errors(wrong), ["/ssl/custom_cert_bundle"]);
        }
        assert_eq!(
            bundle_errors(json!([entry, { "custom_certificate": "PEM" }])),
            ["/ssl/custom_cert_bundle/1/custom_key"]
        );
        assert_eq!(
            bundle_errors(json!([{ "custom_key": "KEY", "custom_csr_id": "id", "x": 1 }])),
            [
                "/ssl/custom_cert_bundle/0/x",
                "/ssl/custom_cert_bundle/0/custom_certificate",
                "/ssl/custom_cert_bundle/0/custom_key",
            ]
        );
    }

    #[test]
    fn a_bundle_excludes_a_single_upload_and_hides_its_keys() {
        let ssl = object(json!({
            "custom_certificate": "PEM",
            "custom_cert_bundle": [{ "custom_certificate": "PEM", "custom_key": "SECRET-KEY" }],
        }));
        let mut errors = Vec::new();
        assert!(parse_bundle(&ssl, &mut errors).is_none());
        assert_eq!(
            pointers(ApiError::many(errors)),
            ["/ssl/custom_certificate"]
        );
        let entry = parse_replacement(&object(
            json!({ "custom_certificate": "PEM", "custom_key": "SECRET-KEY" }),
        ))
        .unwrap();
        assert!(!format!("{entry:?}").contains("SECRET-KEY"));
    }
}
