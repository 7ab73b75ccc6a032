//! Invariants shared by the fuzz targets: what must hold of anything edgecert accepts, and
//! what its errors must never contain.

use edgecert::app::csrs::CsrDraft;
use edgecert::pki::names::{MAX_COMMON_NAME_LEN, check_san, is_country_code};

/// Longest DNS name a CA will issue for: 255 octets on the wire are 253 characters of text.
pub const MAX_DNS_NAME_LEN: usize = 253;

/// Panics unless `san`, which `check_san(san, strict)` accepted, is a DNS name a CA can issue
/// a certificate for, accepted whatever its case and in both modes.
#[track_caller]
pub fn assert_accepted_san(san: &str, strict: bool) {
    assert!(san.is_ascii(), "accepted SAN {san:?} is not ASCII");
    assert!(
        !san.is_empty() && san.len() <= MAX_DNS_NAME_LEN,
        "accepted SAN is {} characters long: {san:?}",
        san.len()
    );
    assert!(
        san.parse::<std::net::IpAddr>().is_err(),
        "accepted SAN {san:?} is an IP address"
    );
    let name = san.strip_prefix("*.").unwrap_or(san);
    let labels: Vec<&str> = name.split('.').collect();
    assert!(labels.len() >= 2, "accepted SAN {san:?} has one label");
    for label in labels {
        assert!(
            (1..=63).contains(&label.len())
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
                && !label.starts_with('-')
                && !label.ends_with('-'),
            "accepted SAN {san:?} has the label {label:?}"
        );
    }
    for variant in [san.to_ascii_lowercase(), san.to_ascii_uppercase()] {
        assert_eq!(
            check_san(&variant, strict),
            Ok(()),
            "{san:?} is accepted but {variant:?} is not"
        );
    }
    if strict {
        assert_eq!(
            check_san(san, false),
            Ok(()),
            "{san:?} passes strict mode only"
        );
    }
}

/// Panics unless every field of an accepted CSR draft is within its bounds.
#[track_caller]
pub fn assert_valid_draft(draft: &CsrDraft, strict: bool) {
    let subject = &draft.subject;
    assert!(
        is_country_code(&subject.country),
        "country {:?}",
        subject.country
    );
    for (field, value, max) in [
        ("state", Some(&subject.state), 128),
        ("locality", Some(&subject.locality), 128),
        ("organization", Some(&subject.organization), 64),
        (
            "organizational_unit",
            subject.organizational_unit.as_ref(),
            64,
        ),
        (
            "common_name",
            Some(&subject.common_name),
            MAX_COMMON_NAME_LEN,
        ),
        ("name", draft.name.as_ref(), usize::MAX),
        ("description", draft.description.as_ref(), usize::MAX),
    ] {
        let Some(value) = value else { continue };
        assert!(!value.trim().is_empty(), "{field} is blank: {value:?}");
        assert!(
            !value.chars().any(char::is_control),
            "{field} has a control character: {value:?}"
        );
        assert!(
            value.chars().count() <= max,
            "{field} is too long: {value:?}"
        );
    }
    assert!(!draft.sans.is_empty(), "a draft without SANs");
    for (index, san) in draft.sans.iter().enumerate() {
        assert_accepted_san(san, strict);
        assert!(
            !draft.sans[..index]
                .iter()
                .any(|seen| seen.eq_ignore_ascii_case(san)),
            "SAN {san:?} is listed twice"
        );
    }
}

/// The base64 lines of every private-key block in `text` (after the JSON-escape repair) that
/// occur nowhere else in it: what an error message must never repeat.
pub fn private_key_lines(text: &str) -> Vec<String> {
    let text = edgecert::pki::fuzzing::normalise(text);
    let mut secrets = Vec::new();
    let mut elsewhere = String::new();
    let mut inside = false;
    for line in text.lines() {
        if line.contains("-----BEGIN ") {
            inside = line.contains("PRIVATE KEY");
            elsewhere.push_str(line);
        } else if line.contains("-----END ") {
            inside = false;
            elsewhere.push_str(line);
        } else if inside && is_base64_line(line.trim()) {
            secrets.push(line.trim().to_string());
        } else {
            elsewhere.push_str(line);
        }
        elsewhere.push('\n');
    }
    secrets.retain(|secret| !elsewhere.contains(secret.as_str()));
    secrets
}

/// What of a value sent as a private key must never be shown: the base64 lines of its PEM
/// blocks, or the whole value when it is one long base64 token (a key without its armour).
pub fn key_parts(value: &str) -> Vec<String> {
    let lines = private_key_lines(value);
    if !lines.is_empty() {
        lines
    } else if value.len() >= 24 && is_base64_line(value) {
        vec![value.to_string()]
    } else {
        Vec::new()
    }
}

fn is_base64_line(line: &str) -> bool {
    line.len() >= 16
        && line
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'='))
}

/// Panics if `shown` (an error message, a `Debug`) repeats any of `secrets`.
#[track_caller]
pub fn assert_no_secret(shown: &str, secrets: &[String]) {
    for secret in secrets {
        assert!(
            !shown.contains(secret.as_str()),
            "key material {secret:?} appears in {shown:?}"
        );
    }
}
