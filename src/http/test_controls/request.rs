//! Parsing of the test controls' bodies. Unknown fields are refused: a misspelt control
//! (`advance_second`) must fail loudly rather than leave a test running on the wrong state.

use serde_json::{Map, Value};
use time::format_description::well_known::Rfc3339;
use time::{Duration, OffsetDateTime};

use crate::app::controls::{ClockChange, FieldChange, StatusChange};
use crate::http::custom_hostnames::request::{HOSTNAME_STATUSES, SSL_STATUSES};
use crate::http::error::{ApiError, Code, code};
use crate::http::extract::{echo, is_tag};
use crate::store::Scope;

/// Most messages in one forced error list.
pub const MAX_MESSAGES: usize = 20;
/// Longest forced error message, in characters.
pub const MAX_MESSAGE_CHARS: usize = 1024;
/// Furthest one `advance_seconds` may move the clock: about 31,700 years, beyond the whole
/// range the clock may take, so only nonsense is refused here.
const MAX_ADVANCE_SECONDS: f64 = 1e12;

/// Refuses any field of `body` not in `known`, pointing at the first one.
fn only(body: &Map<String, Value>, known: &[&str], at: &str, code: Code) -> Result<(), ApiError> {
    match body.keys().find(|key| !known.contains(&key.as_str())) {
        None => Ok(()),
        Some(key) => Err(ApiError::field(
            code,
            format!("{at}/{key}"),
            format!(
                "Unknown field {}: this control takes {}.",
                echo(key),
                known.join(", ")
            ),
        )),
    }
}

/// `{}` (everything), `{"zone_id": ...}` or `{"account_id": ...}`.
pub fn parse_reset(body: &Map<String, Value>) -> Result<Option<Scope>, ApiError> {
    let problem = code::CONTROL_RESET_SCOPE;
    only(body, &["zone_id", "account_id"], "", problem)?;
    let scope = |field: &str, kind: &str, make: fn(String) -> Scope| -> Result<_, ApiError> {
        let Some(value) = body.get(field) else {
            return Ok(None);
        };
        let Some(id) = value.as_str() else {
            return Err(ApiError::field(
                problem,
                format!("/{field}"),
                format!("{field} must be a string: the {kind} ID to reset."),
            ));
        };
        if !is_tag(id) {
            return Err(ApiError::field(
                code::INVALID_SCOPE_ID,
                format!("/{field}"),
                format!(
                    "Invalid {kind} ID {}: a {kind} ID is 32 lowercase hexadecimal characters.",
                    echo(id)
                ),
            ));
        }
        Ok(Some(make(id.to_string())))
    };
    match (
        scope("zone_id", "zone", Scope::Zone)?,
        scope("account_id", "account", Scope::Account)?,
    ) {
        (Some(_), Some(_)) => Err(ApiError::field(
            problem,
            "/account_id",
            "Give zone_id or account_id, not both: a reset covers one zone, one account, or \
             (with neither) everything.",
        )),
        (zone, account) => Ok(zone.or(account)),
    }
}

/// `{"now": "<RFC 3339>"}` or `{"advance_seconds": <number>}`.
pub fn parse_clock(body: &Map<String, Value>) -> Result<ClockChange, ApiError> {
    let problem = code::CONTROL_CLOCK;
    only(body, &["now", "advance_seconds"], "", problem)?;
    match (body.get("now"), body.get("advance_seconds")) {
        (Some(now), None) => {
            let at = now
                .as_str()
                .and_then(|text| OffsetDateTime::parse(text, &Rfc3339).ok())
                .ok_or_else(|| {
                    ApiError::field(
                        problem,
                        "/now",
                        format!(
                            "now must be an RFC 3339 date-time such as \
                             \"2027-01-01T00:00:00Z\", not {}.",
                            echo(&now.to_string())
                        ),
                    )
                })?;
            Ok(ClockChange::SetTo(at))
        }
        (None, Some(seconds)) => seconds
            .as_f64()
            .filter(|seconds| seconds.abs() <= MAX_ADVANCE_SECONDS)
            .and_then(Duration::checked_seconds_f64)
            .map(ClockChange::Advance)
            .ok_or_else(|| {
                ApiError::field(
                    problem,
                    "/advance_seconds",
                    format!(
                        "advance_seconds must be a number of seconds (negative moves the clock \
                         back), at most {MAX_ADVANCE_SECONDS:e} either way, not {}.",
                        echo(&seconds.to_string())
                    ),
                )
            }),
        _ => Err(ApiError::new(
            problem,
            "Give exactly one of now (an RFC 3339 date-time) or advance_seconds (a number); \
             DELETE /_edgecert/clock returns to the system clock.",
        )),
    }
}

/// `{"status", "verification_errors", "ssl": {"status", "validation_errors"}}`, each field
/// optional, `null` clearing what was forced.
pub fn parse_status(body: &Map<String, Value>) -> Result<StatusChange, ApiError> {
    let problem = code::CONTROL_STATUS;
    only(body, &["status", "verification_errors", "ssl"], "", problem)?;
    let mut change = StatusChange {
        status: status(body, "status", "/status", HOSTNAME_STATUSES)?,
        verification_errors: messages(body, "verification_errors", "/verification_errors")?,
        ..StatusChange::default()
    };
    match body.get("ssl") {
        None => {}
        // Null clears everything forced under ssl.
        Some(Value::Null) => {
            change.ssl_status = Some(None);
            change.ssl_validation_errors = Some(None);
        }
        Some(Value::Object(ssl)) => {
            only(ssl, &["status", "validation_errors"], "/ssl", problem)?;
            change.ssl_status = status(ssl, "status", "/ssl/status", SSL_STATUSES)?;
            change.ssl_validation_errors =
                messages(ssl, "validation_errors", "/ssl/validation_errors")?;
        }
        Some(_) => {
            return Err(ApiError::field(
                problem,
                "/ssl",
                "ssl must be an object with status and/or validation_errors, or null.",
            ));
        }
    }
    Ok(change)
}

/// A forced status: one of `allowed`, or null to show the computed one again.
fn status(
    body: &Map<String, Value>,
    field: &str,
    pointer: &str,
    allowed: &[&str],
) -> Result<FieldChange<String>, ApiError> {
    match body.get(field) {
        None => Ok(None),
        Some(Value::Null) => Ok(Some(None)),
        Some(Value::String(value)) if allowed.contains(&value.as_str()) => {
            Ok(Some(Some(value.clone())))
        }
        Some(other) => {
            let shown = other
                .as_str()
                .map_or_else(|| other.to_string(), str::to_string);
            Err(ApiError::field(
                code::CONTROL_STATUS,
                pointer,
                format!(
                    "{} is not a {} the real API shows: use one of {}, or null to show the \
                     computed status again.",
                    echo(&shown),
                    &pointer[1..].replace('/', "."),
                    allowed.join(", ")
                ),
            ))
        }
    }
}

/// A forced error list: messages as strings or `{"message"}` objects, or null to clear it.
fn messages(
    body: &Map<String, Value>,
    field: &str,
    pointer: &str,
) -> Result<FieldChange<Vec<String>>, ApiError> {
    let invalid = |at: String, why: &str| {
        ApiError::field(
            code::CONTROL_STATUS,
            at,
            format!(
                "{} {why}: give up to {MAX_MESSAGES} messages of 1 to {MAX_MESSAGE_CHARS} \
                 characters, as strings or {{\"message\": ...}} objects, or null to clear them.",
                &pointer[1..].replace('/', ".")
            ),
        )
    };
    let items = match body.get(field) {
        None => return Ok(None),
        Some(Value::Null) => return Ok(Some(None)),
        Some(Value::Array(items)) => items,
        Some(_) => return Err(invalid(pointer.to_string(), "is not an array")),
    };
    if items.len() > MAX_MESSAGES {
        return Err(invalid(pointer.to_string(), "has too many entries"));
    }
    let mut messages = Vec::with_capacity(items.len());
    for (at, item) in items.iter().enumerate() {
        let message = match item {
            Value::String(message) => Some(message),
            Value::Object(object) if object.len() == 1 => match object.get("message") {
                Some(Value::String(message)) => Some(message),
                _ => None,
            },
            _ => None,
        };
        let message = message
            .filter(|m| !m.is_empty() && m.chars().count() <= MAX_MESSAGE_CHARS)
            .ok_or_else(|| invalid(format!("{pointer}/{at}"), "holds an invalid message"))?;
        messages.push(message.clone());
    }
    Ok(Some(Some(messages)))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::http::openapi::schema_tests::{object, pointers};

    #[test]
    fn reset_takes_one_scope_or_none() {
        let zone = "023e105f4ecef8ad9ca31a8372d0c353";
        assert_eq!(parse_reset(&object(json!({}))).unwrap(), None);
        assert_eq!(
            parse_reset(&object(json!({ "zone_id": zone }))).unwrap(),
            Some(Scope::Zone(zone.into()))
        );
        assert_eq!(
            parse_reset(&object(json!({ "account_id": zone }))).unwrap(),
            Some(Scope::Account(zone.into()))
        );
        let both = parse_reset(&object(json!({ "zone_id": zone, "account_id": zone })));
        assert_eq!(pointers(both.unwrap_err()), ["/account_id"]);
        let bad = parse_reset(&object(json!({ "zone_id": "ZONE" }))).unwrap_err();
        assert_eq!(bad.errors()[0].code, code::INVALID_SCOPE_ID);
        let typo = parse_reset(&object(json!({ "zone": zone }))).unwrap_err();
        assert_eq!(typo.errors()[0].code, code::CONTROL_RESET_SCOPE);
        assert_eq!(pointers(typo), ["/zone"]);
    }

    #[test]
    fn the_clock_takes_exactly_one_of_now_or_advance_seconds() {
        assert_eq!(
            parse_clock(&object(json!({"advance_seconds": 90.5}))).unwrap(),
            ClockChange::Advance(Duration::milliseconds(90_500))
        );
        assert_eq!(
            parse_clock(&object(json!({"now": "2030-01-02T03:04:05Z"}))).unwrap(),
            ClockChange::SetTo(time::macros::datetime!(2030-01-02 03:04:05 UTC))
        );
        for body in [
            json!({}),
            json!({"now": "2030-01-02T03:04:05Z", "advance_seconds": 1}),
            json!({"now": "tomorrow"}),
            json!({"now": 5}),
            json!({"advance_seconds": "5"}),
            json!({"advance_seconds": 1e13}),
            json!({"advance_second": 5}),
        ] {
            let error = parse_clock(&object(body.clone())).expect_err(&body.to_string());
            assert_eq!(error.errors()[0].code, code::CONTROL_CLOCK, "{body}");
        }
    }

    #[test]
    fn statuses_are_the_real_apis_and_null_clears() {
        let change = parse_status(&object(json!({
            "status": "blocked",
            "verification_errors": ["custom hostname does not CNAME to this zone"],
            "ssl": {"status": null, "validation_errors": [{"message": "CAA forbids"}, "two"]},
        })))
        .unwrap();
        assert_eq!(change.status, Some(Some("blocked".into())));
        assert_eq!(change.ssl_status, Some(None));
        assert_eq!(
            change.ssl_validation_errors,
            Some(Some(vec!["CAA forbids".into(), "two".into()]))
        );
        assert_eq!(
            parse_status(&object(json!({}))).unwrap(),
            StatusChange::default()
        );
        let cleared = parse_status(&object(json!({"ssl": null}))).unwrap();
        assert_eq!(cleared.ssl_validation_errors, Some(None));

        for (body, pointer) in [
            (json!({"status": "expired"}), "/status"),
            (json!({"ssl": {"status": "pending"}}), "/ssl/status"),
            (json!({"ssl": {"status": 1}}), "/ssl/status"),
            (json!({"ssl": "active"}), "/ssl"),
            (json!({"ssl": {"state": "active"}}), "/ssl/state"),
            (json!({"verification_errors": "x"}), "/verification_errors"),
            (
                json!({"verification_errors": [""]}),
                "/verification_errors/0",
            ),
            (
                json!({"ssl": {"validation_errors": [{"message": "a", "x": 1}]}}),
                "/ssl/validation_errors/0",
            ),
            (
                json!({"verification_errors": vec!["x"; MAX_MESSAGES + 1]}),
                "/verification_errors",
            ),
            (
                json!({"verification_errors": ["é".repeat(MAX_MESSAGE_CHARS + 1)]}),
                "/verification_errors/0",
            ),
        ] {
            let error = parse_status(&object(body.clone())).expect_err(&body.to_string());
            assert_eq!(error.errors()[0].code, code::CONTROL_STATUS, "{body}");
            assert_eq!(pointers(error), [pointer], "{body}");
        }
        let error = parse_status(&object(json!({"status": "activ"}))).unwrap_err();
        assert!(error.errors()[0].message.contains("pending_blocked"));
    }
}
