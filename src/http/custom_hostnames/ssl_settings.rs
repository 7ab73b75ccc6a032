//! `ssl.settings` of a custom hostname: each documented setting checked with the real API's
//! code, unknown settings refused, so a typo is an answer rather than a silent default.

use serde_json::{Map, Value};

use crate::http::error::{Code, ErrorDetail, code};
use crate::http::extract::echo;

/// `ssl.settings` as JSON: the real settings fit in well under 1 KB.
pub const MAX_SSL_SETTINGS_BYTES: usize = 4096;

/// The cipher names Cloudflare's edge accepts in `ciphers` (BoringSSL's names, TLS 1.2 and
/// below; TLS 1.3 suites are not configurable).
const CIPHERS: [&str; 21] = [
    "ECDHE-ECDSA-AES128-GCM-SHA256",
    "ECDHE-ECDSA-CHACHA20-POLY1305",
    "ECDHE-RSA-AES128-GCM-SHA256",
    "ECDHE-RSA-CHACHA20-POLY1305",
    "ECDHE-ECDSA-AES128-SHA256",
    "ECDHE-ECDSA-AES128-SHA",
    "ECDHE-RSA-AES128-SHA256",
    "ECDHE-RSA-AES128-SHA",
    "AES128-GCM-SHA256",
    "AES128-SHA256",
    "AES128-SHA",
    "ECDHE-RSA-AES256-GCM-SHA384",
    "ECDHE-ECDSA-AES256-GCM-SHA384",
    "ECDHE-ECDSA-AES256-SHA384",
    "ECDHE-ECDSA-AES256-SHA",
    "ECDHE-RSA-AES256-SHA384",
    "ECDHE-RSA-AES256-SHA",
    "AES256-GCM-SHA384",
    "AES256-SHA256",
    "AES256-SHA",
    "DES-CBC3-SHA",
];

/// The switches, each `on` or `off`, with the code the real API answers for another value.
const SWITCHES: [(&str, Code); 4] = [
    ("http2", code::HOSTNAME_SETTING_HTTP2),
    ("tls_1_2_only", code::HOSTNAME_SETTING_TLS12_ONLY),
    ("tls_1_3", code::HOSTNAME_SETTING_TLS13),
    ("early_hints", code::HOSTNAME_SSL_ATTRIBUTE),
];

const MIN_TLS_VERSIONS: [&str; 4] = ["1.0", "1.1", "1.2", "1.3"];

/// The checked settings to store and echo, or `None` after adding each problem to `errors`.
pub fn parse(ssl: &Map<String, Value>, errors: &mut Vec<ErrorDetail>) -> Option<Value> {
    let settings = ssl.get("settings").filter(|v| !v.is_null())?;
    let Value::Object(settings) = settings else {
        errors.push(problem(
            code::HOSTNAME_SSL_ATTRIBUTE,
            "",
            "ssl.settings must be an object, e.g. {\"min_tls_version\": \"1.2\"}.".into(),
        ));
        return None;
    };
    let size = Value::Object(settings.clone()).to_string().len();
    if size > MAX_SSL_SETTINGS_BYTES {
        errors.push(problem(
            code::HOSTNAME_SSL_ATTRIBUTE,
            "",
            format!("ssl.settings is {size} bytes as JSON; the limit is {MAX_SSL_SETTINGS_BYTES}."),
        ));
        return None;
    }
    let before = errors.len();
    for (name, value) in settings {
        if let Some((_, switch_code)) = SWITCHES.iter().find(|(switch, _)| switch == name) {
            if !matches!(value.as_str(), Some("on" | "off")) {
                errors.push(problem(
                    *switch_code,
                    name,
                    format!(
                        "ssl.settings.{name} must be \"on\" or \"off\", not {}.",
                        shown(value)
                    ),
                ));
            }
            continue;
        }
        match name.as_str() {
            "min_tls_version" => {
                if !value
                    .as_str()
                    .is_some_and(|version| MIN_TLS_VERSIONS.contains(&version))
                {
                    errors.push(problem(
                        code::HOSTNAME_SETTING_MIN_TLS,
                        name,
                        format!(
                            "ssl.settings.min_tls_version must be one of \"1.0\", \"1.1\", \
                             \"1.2\", \"1.3\", not {}.",
                            shown(value)
                        ),
                    ));
                }
            }
            "ciphers" => check_ciphers(settings, value, errors),
            _ => errors.push(problem(
                code::HOSTNAME_SSL_ATTRIBUTE,
                name,
                format!(
                    "ssl.settings.{} is not a setting; use ciphers, early_hints, http2, \
                     min_tls_version, tls_1_2_only or tls_1_3.",
                    echo(name)
                ),
            )),
        }
    }
    (errors.len() == before).then(|| Value::Object(settings.clone()))
}

fn check_ciphers(settings: &Map<String, Value>, value: &Value, errors: &mut Vec<ErrorDetail>) {
    let Some(names) = value.as_array() else {
        errors.push(problem(
            code::HOSTNAME_SETTING_CIPHERS,
            "ciphers",
            "ssl.settings.ciphers must be an array of cipher names, e.g. \
             [\"ECDHE-ECDSA-AES128-GCM-SHA256\"]."
                .into(),
        ));
        return;
    };
    if settings.get("min_tls_version").and_then(Value::as_str) == Some("1.3") {
        errors.push(problem(
            code::HOSTNAME_SETTING_CIPHERS_TLS13,
            "ciphers",
            "ssl.settings.ciphers cannot be set with min_tls_version 1.3: TLS 1.3 cipher \
             suites are not configurable. Remove ciphers or lower min_tls_version."
                .into(),
        ));
        return;
    }
    for (index, name) in names.iter().enumerate() {
        if !name.as_str().is_some_and(|name| CIPHERS.contains(&name)) {
            errors.push(
                ErrorDetail::new(
                    code::HOSTNAME_SETTING_CIPHERS,
                    format!(
                        "ssl.settings.ciphers[{index}] {} is not a cipher the edge offers; use \
                         BoringSSL names such as ECDHE-ECDSA-AES128-GCM-SHA256.",
                        shown(name)
                    ),
                )
                .at(format!("/ssl/settings/ciphers/{index}")),
            );
        }
    }
}

fn problem(code: Code, setting: &str, message: String) -> ErrorDetail {
    let pointer = if setting.is_empty() {
        "/ssl/settings".to_string()
    } else {
        format!("/ssl/settings/{setting}")
    };
    ErrorDetail::new(code, message).at(pointer)
}

fn shown(value: &Value) -> String {
    match value {
        Value::String(text) => echo(text),
        other => echo(&other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn codes(settings: Value) -> Vec<u32> {
        let ssl = json!({ "settings": settings });
        let mut errors = Vec::new();
        let parsed = parse(ssl.as_object().expect("object"), &mut errors);
        assert_eq!(parsed.is_some(), errors.is_empty());
        errors.iter().map(|error| error.code.value).collect()
    }

    #[test]
    fn each_setting_is_checked_with_its_code() {
        let valid = json!({
            "http2": "on", "tls_1_3": "off", "tls_1_2_only": "off", "early_hints": "on",
            "min_tls_version": "1.2", "ciphers": ["ECDHE-RSA-AES128-GCM-SHA256"],
        });
        assert_eq!(codes(valid), Vec::<u32>::new());
        assert_eq!(codes(json!({"http2": true})), [1422]);
        assert_eq!(codes(json!({"tls_1_2_only": "yes"})), [1423]);
        assert_eq!(codes(json!({"tls_1_3": "enabled"})), [1424]);
        assert_eq!(codes(json!({"min_tls_version": "1.4"})), [1425]);
        assert_eq!(codes(json!({"min_tls_version": 1.2})), [1425]);
        assert_eq!(codes(json!({"early_hints": 1})), [1434]);
        assert_eq!(codes(json!({"ciphers": ["RC4-MD5", "AES128-SHA"]})), [1442]);
        assert_eq!(codes(json!({"ciphers": "AES128-SHA"})), [1442]);
        assert_eq!(
            codes(json!({"min_tls_version": "1.3", "ciphers": ["AES128-SHA"]})),
            [1443]
        );
        assert_eq!(codes(json!({"min_tls": "1.2"})), [1434]);
        assert_eq!(codes(json!(["http2"])), [1434]);
    }
}
