//! Parsing a CSR create request into a checked draft.

use serde_json::{Map, Value};

use crate::app::csrs::CsrDraft;
use crate::http::error::{Code, ErrorDetail, code};
use crate::http::extract::echo;
use crate::http::san::{CSR_SAN_CODES, san_error};
use crate::pki::KeyType;
use crate::pki::csr::Subject;
use crate::pki::names::{MAX_COMMON_NAME_LEN, check_san, is_country_code};

/// X.520 upper bounds for subject attributes; a CA refuses longer values.
const MAX_STATE_LEN: usize = 128;
const MAX_LOCALITY_LEN: usize = 128;
const MAX_ORGANIZATION_LEN: usize = 64;
const MAX_UNIT_LEN: usize = 64;

/// Most SANs in one CSR: the real API's schema (`cloudflare/api-schemas` openapi.json,
/// `tls-certificates-and-hostnames_custom_csr_create_request`, `sans.maxItems`). It also
/// bounds what a CSR costs to store and to list: with 255-character names a CSR is ~90 KB.
pub const MAX_SANS: usize = 150;
/// The API documents no limit for `name` and `description`; these are edgecert's, long
/// enough for a label and a sentence or two, short enough that a page of 50 stays small.
pub const MAX_NAME_LEN: usize = 255;
pub const MAX_DESCRIPTION_LEN: usize = 1024;

/// Checks every field of a create request and reports every problem, in the order of the form
/// a user fills in.
pub fn parse_draft(body: &Map<String, Value>, strict: bool) -> Result<CsrDraft, Vec<ErrorDetail>> {
    let mut errors = Vec::new();
    let country = keep(
            &mut errors,
            required_text(body, "country", code::CSR_COUNTRY, 2).and_then(|country| {
                if is_country_code(&country) {
                    Ok(country)
                } else {
                    Err(ErrorDetail::new(
                        code::CSR_COUNTRY,
                        format!(
                            "country {country:?} is not an ISO 3166-1 alpha-2 code; use two capital letters such as \"US\" or \"GB\"."
                        ),
                    )
                    .at("/country"))
                }
            }),
        );
    let state = keep(
        &mut errors,
        required_text(body, "state", code::CSR_STATE, MAX_STATE_LEN),
    );
    let locality = keep(
        &mut errors,
        required_text(body, "locality", code::CSR_LOCALITY, MAX_LOCALITY_LEN),
    );
    let organization = keep(
        &mut errors,
        required_text(
            body,
            "organization",
            code::CSR_ORGANIZATION,
            MAX_ORGANIZATION_LEN,
        ),
    );
    let organizational_unit = keep(
        &mut errors,
        optional_text(body, "organizational_unit", Some(MAX_UNIT_LEN)),
    );
    let common_name = keep(
            &mut errors,
            required_text(body, "common_name", code::CSR_COMMON_NAME, usize::MAX).and_then(
                |name| {
                    let length = name.chars().count();
                    if length > MAX_COMMON_NAME_LEN {
                        Err(ErrorDetail::new(
                            code::CSR_COMMON_NAME_TOO_LONG,
                            format!(
                                "common_name is {length} characters long; the limit is {MAX_COMMON_NAME_LEN} (RFC 5280). Put longer names in sans only."
                            ),
                        )
                        .at("/common_name"))
                    } else {
                        Ok(name)
                    }
                },
            ),
        );
    let sans = parse_sans(body.get("sans"), strict).unwrap_or_else(|mut problems| {
        errors.append(&mut problems);
        Vec::new()
    });
    let key_type = keep(&mut errors, parse_key_type(body.get("key_type")));
    let name = keep(&mut errors, optional_text(body, "name", Some(MAX_NAME_LEN)));
    let description = keep(
        &mut errors,
        optional_text(body, "description", Some(MAX_DESCRIPTION_LEN)),
    );
    if !errors.is_empty() {
        return Err(errors);
    }
    Ok(CsrDraft {
        subject: Subject {
            country,
            state,
            locality,
            organization,
            organizational_unit,
            common_name,
        },
        sans,
        key_type,
        name,
        description,
    })
}

/// Records a field's problem and carries on with a placeholder, so one request reports
/// every problem at once; the placeholder is never used because any problem fails the parse.
fn keep<T: Default>(errors: &mut Vec<ErrorDetail>, result: Result<T, ErrorDetail>) -> T {
    result.unwrap_or_else(|error| {
        errors.push(error);
        T::default()
    })
}

fn required_text(
    body: &Map<String, Value>,
    field: &str,
    code: Code,
    max_len: usize,
) -> Result<String, ErrorDetail> {
    let pointer = format!("/{field}");
    match body.get(field) {
        None | Some(Value::Null) => {
            Err(ErrorDetail::new(code, format!("{field} is required.")).at(pointer))
        }
        Some(Value::String(text)) if text.trim().is_empty() => Err(ErrorDetail::new(
            code,
            format!("{field} is required and must not be empty."),
        )
        .at(pointer)),
        Some(Value::String(text)) => check_text(field, text, max_len)
            .map(|()| text.clone())
            .map_err(|message| ErrorDetail::new(code, message).at(pointer)),
        Some(_) => Err(ErrorDetail::new(code, format!("{field} must be a string.")).at(pointer)),
    }
}

fn optional_text(
    body: &Map<String, Value>,
    field: &str,
    max_len: Option<usize>,
) -> Result<Option<String>, ErrorDetail> {
    let pointer = format!("/{field}");
    match body.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(text)) if text.is_empty() => Ok(None),
        Some(Value::String(text)) => check_text(field, text, max_len.unwrap_or(usize::MAX))
            .map(|()| Some(text.clone()))
            .map_err(|message| ErrorDetail::new(code::BODY_NOT_JSON, message).at(pointer)),
        Some(_) => Err(
            ErrorDetail::new(code::BODY_NOT_JSON, format!("{field} must be a string.")).at(pointer),
        ),
    }
}

fn check_text(field: &str, text: &str, max_len: usize) -> Result<(), String> {
    if text.chars().any(char::is_control) {
        return Err(format!(
            "{field} must not contain control characters such as newlines."
        ));
    }
    let length = text.chars().count();
    if length > max_len {
        return Err(format!(
            "{field} is {length} characters long; the limit is {max_len}."
        ));
    }
    Ok(())
}

fn parse_sans(value: Option<&Value>, strict: bool) -> Result<Vec<String>, Vec<ErrorDetail>> {
    let items = match value {
        None | Some(Value::Null) => {
            return Err(vec![ErrorDetail::new(
                code::CSR_SAN_REQUIRED,
                "sans is required: list at least one DNS name, normally including the common name.",
            )
            .at("/sans")]);
        }
        Some(Value::Array(items)) if items.is_empty() => {
            return Err(vec![
                ErrorDetail::new(
                    code::CSR_SAN_REQUIRED,
                    "sans must list at least one DNS name, normally including the common name.",
                )
                .at("/sans"),
            ]);
        }
        Some(Value::Array(items)) if items.len() > MAX_SANS => {
            // One answer for the whole list: checking each name of an oversized list would
            // only produce a longer refusal.
            return Err(vec![
                ErrorDetail::new(
                    code::CSR_SAN_REQUIRED,
                    format!(
                        "sans lists {} names; the limit is {MAX_SANS} per CSR.",
                        items.len()
                    ),
                )
                .at("/sans"),
            ]);
        }
        Some(Value::Array(items)) => items,
        Some(_) => {
            return Err(vec![
                ErrorDetail::new(
                    code::CSR_SAN_REQUIRED,
                    "sans must be an array of DNS names, e.g. [\"app.example.com\"].",
                )
                .at("/sans"),
            ]);
        }
    };
    let mut sans = Vec::with_capacity(items.len());
    let mut errors = Vec::new();
    for (index, item) in items.iter().enumerate() {
        let pointer = format!("/sans/{index}");
        let Some(san) = item.as_str() else {
            errors.push(
                ErrorDetail::new(
                    code::CSR_SAN_INVALID,
                    format!("sans[{index}] must be a string."),
                )
                .at(pointer),
            );
            continue;
        };
        if let Err(problem) = check_san(san, strict) {
            let subject = format!("SAN {} (sans[{index}])", echo(san));
            errors.push(san_error(problem, &subject, &CSR_SAN_CODES).at(pointer));
            continue;
        }
        if sans
            .iter()
            .any(|seen: &String| seen.eq_ignore_ascii_case(san))
        {
            errors.push(
                ErrorDetail::new(
                    code::CSR_SAN_INVALID,
                    format!(
                        "SAN {} is listed more than once; list each name once.",
                        echo(san)
                    ),
                )
                .at(pointer),
            );
            continue;
        }
        sans.push(san.to_string());
    }
    if errors.is_empty() {
        Ok(sans)
    } else {
        Err(errors)
    }
}

fn parse_key_type(value: Option<&Value>) -> Result<KeyType, ErrorDetail> {
    match value {
        None | Some(Value::Null) => Ok(KeyType::Rsa2048),
        Some(Value::String(name)) => KeyType::parse(name).ok_or_else(|| {
            ErrorDetail::new(
                code::CSR_KEY_TYPE,
                format!(
                    "key_type {} is not supported; use \"rsa2048\" (the default) or \"p256v1\".",
                    echo(name)
                ),
            )
            .at("/key_type")
        }),
        Some(_) => Err(ErrorDetail::new(
            code::CSR_KEY_TYPE,
            "key_type must be the string \"rsa2048\" or \"p256v1\".",
        )
        .at("/key_type")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn body(value: Value) -> Map<String, Value> {
        value.as_object().unwrap().clone()
    }

    #[test]
    fn reports_every_missing_field_in_form_order() {
        let codes: Vec<u32> = parse_draft(&body(json!({})), false)
            .unwrap_err()
            .iter()
            .map(|e| e.code.value)
            .collect();
        assert_eq!(codes, vec![1405, 1406, 1407, 1408, 1409, 1411]);
    }

    #[test]
    fn defaults_to_rsa2048_and_ignores_unknown_fields() {
        let draft = parse_draft(
            &body(json!({"country": "US", "state": "MA", "locality": "Boston",
                "organization": "City", "common_name": "app.example.com",
                "sans": ["app.example.com"], "unexpected": 42})),
            false,
        )
        .unwrap();
        assert_eq!(draft.key_type, KeyType::Rsa2048);
        assert_eq!(draft.subject.organizational_unit, None);
    }
}
