//! CSR field validation: `check_san`, `is_country_code` and the CSR draft parser, on fields cut
//! from the input. Input: one flags byte (bit 0: strict), then UTF-8 text whose tab-separated
//! fields become country, state, locality, organization, organizational_unit, common_name,
//! sans (comma-separated), key_type, name and description.
#![no_main]

use edgecert::http::error::MAX_ERRORS;
use edgecert::http::fuzzing::{Parsed, parse_body};
use edgecert::pki::names::{check_san, is_country_code};
use edgecert::store::CertificateOptions;
use edgecert_fuzz::{assert_accepted_san, assert_valid_draft};
use libfuzzer_sys::fuzz_target;
use serde_json::{Map, Value};

const FIELDS: [&str; 10] = [
    "country",
    "state",
    "locality",
    "organization",
    "organizational_unit",
    "common_name",
    "sans",
    "key_type",
    "name",
    "description",
];

fuzz_target!(|data: &[u8]| {
    let Some((&flags, rest)) = data.split_first() else {
        return;
    };
    let Ok(text) = std::str::from_utf8(rest) else {
        return;
    };
    let strict = flags & 1 == 1;

    // The whole text as one name.
    if check_san(text, strict).is_ok() {
        assert_accepted_san(text, strict);
    }
    if is_country_code(text) {
        assert!(text.len() == 2 && text.bytes().all(|b| b.is_ascii_uppercase()));
    }

    // The text as a create request.
    let mut body = Map::new();
    for (field, value) in FIELDS.iter().zip(text.split('\t')) {
        let value = if *field == "sans" {
            Value::Array(value.split(',').map(Value::from).collect())
        } else {
            Value::from(value)
        };
        body.insert((*field).to_string(), value);
    }
    let current = CertificateOptions {
        bundle_method: "ubiquitous".into(),
        certificate_type: "legacy_custom".into(),
        geo_restrictions: None,
        policy: None,
        deploy: None,
    };
    match parse_body(0, &body, strict, &current) {
        Ok(Parsed::Csr(draft)) => {
            assert_valid_draft(&draft, strict);
            let given = body
                .get("sans")
                .and_then(Value::as_array)
                .map_or(0, Vec::len);
            assert_eq!(draft.sans.len(), given, "a SAN was dropped silently");
        }
        Ok(other) => panic!("resource 0 parsed as {other:?}"),
        Err(error) => {
            assert!(!error.errors().is_empty());
            for (index, detail) in error.errors().iter().enumerate() {
                assert!(
                    detail.code.status.is_client_error(),
                    "a bad field answered {}: {detail:?}",
                    detail.code.status
                );
                // A capped list ends with one entry counting the problems left out; it is
                // about no single field.
                if index == MAX_ERRORS {
                    assert!(detail.message.contains("more problems"), "{detail:?}");
                    continue;
                }
                let pointer = detail.source.as_ref().map(|s| s.pointer.as_str());
                assert!(
                    pointer.is_some_and(|p| p.starts_with('/')),
                    "an error names no field: {detail:?}"
                );
            }
        }
    }
});
