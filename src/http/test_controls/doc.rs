//! Schema-only types of the OpenAPI document for the test controls: request bodies and
//! envelopes.

use serde_json::Value;

use super::{ClockView, ResetView};
use crate::http::custom_hostnames::view::HostnameView;
use crate::http::envelope::success_schema;

success_schema!(
    /// What a reset removed.
    ResetEnvelope, ResetView
);
success_schema!(
    /// edgecert's clock.
    ClockEnvelope, ClockView
);
success_schema!(
    /// The custom hostname as the API now shows it.
    ForcedHostnameEnvelope, HostnameView
);

/// The body of a reset: `{}` resets everything; or name one zone or one account.
#[derive(utoipa::ToSchema)]
#[schema(max_properties = 1)]
#[expect(
    dead_code,
    reason = "a schema for the OpenAPI document; the parser reads the request itself"
)]
pub struct ResetRequest {
    /// Reset only this zone: its CSRs, custom hostnames, custom certificates and fallback origin.
    #[schema(pattern = "^[0-9a-f]{32}$")]
    zone_id: Option<String>,
    /// Reset only this account: its CSRs. Not together with `zone_id`.
    #[schema(pattern = "^[0-9a-f]{32}$")]
    account_id: Option<String>,
}

/// The body of a clock change: exactly one of the two fields.
#[derive(utoipa::ToSchema)]
#[schema(max_properties = 1)]
#[expect(
    dead_code,
    reason = "a schema for the OpenAPI document; the parser reads the request itself"
)]
pub struct ClockRequest {
    /// Make now read this RFC 3339 date-time (years 1970 to 9999).
    #[schema(example = "2027-01-01T00:00:00Z")]
    now: Option<String>,
    /// Move the clock by this many seconds (decimals allowed; negative moves it back).
    #[schema(example = 7776000)]
    advance_seconds: Option<f64>,
}

/// The forced part of the hostname's `ssl` object.
#[derive(utoipa::ToSchema)]
#[expect(
    dead_code,
    reason = "a schema for the OpenAPI document; the parser reads the request itself"
)]
pub struct ForcedSsl {
    /// One of the real API's `ssl.status` values (`initializing`, `pending_validation`,
    /// `pending_issuance`, `pending_deployment`, `active`, `expired`, ... 21 in all); null
    /// shows the computed one again.
    #[schema(example = "pending_validation")]
    status: Option<String>,
    /// Shown as `ssl.validation_errors`: up to 20 messages of 1 to 1024 characters, as
    /// strings or `{"message": ...}` objects; null clears them.
    #[schema(value_type = Option<Vec<Object>>)]
    validation_errors: Option<Vec<Value>>,
}

/// What to force on a custom hostname. Absent fields stay as they are; null returns a field
/// to what edgecert computes.
#[derive(utoipa::ToSchema)]
#[expect(
    dead_code,
    reason = "a schema for the OpenAPI document; the parser reads the request itself"
)]
pub struct ForceStatusRequest {
    /// One of the real API's hostname `status` values (`active`, `pending`, `moved`,
    /// `blocked`, `pending_blocked`, `test_failed`, ... 16 in all); null shows the computed
    /// one again.
    #[schema(example = "blocked")]
    status: Option<String>,
    /// Shown as `verification_errors`: up to 20 messages of 1 to 1024 characters; null
    /// clears them.
    verification_errors: Option<Vec<String>>,
    /// Null clears everything forced under `ssl`.
    ssl: Option<ForcedSsl>,
}
