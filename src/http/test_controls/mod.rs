//! The test controls under `/_edgecert/` (only with `--test-controls`): reset data, move the
//! clock, force a custom hostname's statuses, run its pending DCV check now. Authenticated
//! and enveloped like the API, so a test suite drives them with the client it already has.

pub mod doc;
pub(super) mod request;

use axum::Router;
use axum::extract::State;
use axum::routing::{get, patch, post};
use serde::Serialize;
use tracing::instrument;

use self::doc::{
    ClockEnvelope, ClockRequest, ForceStatusRequest, ForcedHostnameEnvelope, ResetEnvelope,
    ResetRequest,
};
use super::custom_hostnames::HostnameIdParam;
use super::custom_hostnames::shown;
use super::custom_hostnames::view::HostnameView;
use super::envelope::Envelope;
use super::error::{ApiError, OperationErrors, code};
use super::extract::{JsonObject, PathId, ZoneId, ZonePath};
use super::rfc3339;
use crate::app::controls::{self, ClockChange, ForceError, StatusChange};
use crate::app::managed::{self, ManagedError};
use crate::app::{AppState, Clock};
use crate::store::{ResetCounts, Scope};

/// The routes, relative to `/_edgecert`.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/reset", post(reset))
        .route("/clock", get(clock).put(set_clock).delete(system_clock))
        .route(
            "/zones/{zone_id}/custom_hostnames/{custom_hostname_id}/status",
            patch(force_status).delete(clear_status),
        )
        .route(
            "/zones/{zone_id}/custom_hostnames/{custom_hostname_id}/check",
            post(check_now),
        )
}

/// The error answers of each operation, beyond those every route shares.
pub const ERRORS: &[OperationErrors] = &[
    ("edgecert_reset", &[&[code::CONTROL_RESET_SCOPE]]),
    ("edgecert_clock_get", &[]),
    ("edgecert_clock_set", &[&[code::CONTROL_CLOCK]]),
    ("edgecert_clock_reset", &[]),
    (
        "edgecert_hostname_status_force",
        &[&[
            code::HOSTNAME_ID_INVALID,
            code::CONTROL_STATUS,
            code::HOSTNAME_NOT_FOUND,
        ]],
    ),
    (
        "edgecert_hostname_status_clear",
        &[&[code::HOSTNAME_ID_INVALID, code::HOSTNAME_NOT_FOUND]],
    ),
    (
        "edgecert_hostname_check",
        &[&[
            code::HOSTNAME_ID_INVALID,
            code::HOSTNAME_NOT_FOUND,
            code::CONTROL_CHECK_NOT_MANAGED,
            code::CONTROL_CHECK_NO_ACME,
            code::CONTROL_CHECK_BUSY,
        ]],
    ),
];

/// What a reset covered and removed.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ResetView {
    /// `everything`, `zone` or `account`.
    #[schema(example = "zone")]
    scope: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    zone_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    account_id: Option<String>,
    removed: RemovedView,
}

/// Rows removed, by kind.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct RemovedView {
    custom_csrs: u64,
    custom_hostnames: u64,
    custom_certificates: u64,
    fallback_origins: u64,
    /// The CSRs' keys and the keys uploaded with hostnames and certificates.
    private_keys: u64,
}

impl ResetView {
    fn new(scope: Option<Scope>, counts: ResetCounts) -> Self {
        let (name, zone_id, account_id) = match scope {
            None => ("everything", None, None),
            Some(Scope::Zone(id)) => ("zone", Some(id), None),
            Some(Scope::Account(id)) => ("account", None, Some(id)),
        };
        Self {
            scope: name,
            zone_id,
            account_id,
            removed: RemovedView {
                custom_csrs: counts.custom_csrs,
                custom_hostnames: counts.custom_hostnames,
                custom_certificates: counts.custom_certificates,
                fallback_origins: counts.fallback_origins,
                private_keys: counts.private_keys,
            },
        }
    }
}

/// edgecert's clock: what every rule that reads time uses.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ClockView {
    /// edgecert's now, RFC 3339 in UTC.
    now: String,
    /// The system clock's now at the same moment.
    system_now: String,
    /// How far edgecert's clock is ahead of the system clock (negative: behind), in seconds
    /// with microseconds.
    #[schema(example = 86400.0)]
    offset_seconds: f64,
}

impl ClockView {
    fn read(clock: &Clock) -> Self {
        let offset = clock.offset();
        let now = clock.now();
        Self {
            now: rfc3339(now),
            system_now: rfc3339(now - offset),
            offset_seconds: offset.as_seconds_f64(),
        }
    }
}

#[utoipa::path(
    post,
    path = "/_edgecert/reset",
    operation_id = "edgecert_reset",
    tag = "Test controls",
    summary = "Reset data",
    description = "Removes, in one transaction, everything (`{}`), one zone's data \
        (`{\"zone_id\"}`: CSRs and their keys, custom hostnames, custom certificates, keys \
        uploaded with them, the fallback origin, forced statuses) or one account's CSRs \
        (`{\"account_id\"}`). API tokens, settings and the RSA key pool stay. The edge stops \
        serving what was removed before the next handshake it reads the change for.",
    request_body = ResetRequest,
    responses((status = 200, description = "What was removed.", body = ResetEnvelope)),
)]
#[instrument(skip_all)]
pub async fn reset(
    State(state): State<AppState>,
    JsonObject(body): JsonObject,
) -> Result<Envelope<ResetView>, ApiError> {
    let scope = request::parse_reset(&body)?;
    let counts = controls::reset(&state, scope.as_ref()).await?;
    Ok(Envelope::ok(ResetView::new(scope, counts)))
}

#[utoipa::path(
    get,
    path = "/_edgecert/clock",
    operation_id = "edgecert_clock_get",
    tag = "Test controls",
    summary = "Read the clock",
    description = "edgecert's now: the system clock plus an offset that the test controls \
        set. Expiry, the edge and every timestamp edgecert writes use it. The offset is this \
        instance's own and is forgotten at restart.",
    responses((status = 200, description = "The clock.", body = ClockEnvelope)),
)]
#[instrument(skip_all)]
pub async fn clock(State(state): State<AppState>) -> Envelope<ClockView> {
    Envelope::ok(ClockView::read(&state.clock))
}

#[utoipa::path(
    put,
    path = "/_edgecert/clock",
    operation_id = "edgecert_clock_set",
    tag = "Test controls",
    summary = "Move the clock",
    description = "`{\"now\": \"2027-01-01T00:00:00Z\"}` sets now; `{\"advance_seconds\": 86400}` \
        moves it (negative: back). The clock keeps running from there. The edge re-reads what \
        it serves, so certificates past their `expires_on` stop being served.",
    request_body = ClockRequest,
    responses((status = 200, description = "The clock after the change.", body = ClockEnvelope)),
)]
#[instrument(skip_all)]
pub async fn set_clock(
    State(state): State<AppState>,
    JsonObject(body): JsonObject,
) -> Result<Envelope<ClockView>, ApiError> {
    let change = request::parse_clock(&body)?;
    controls::move_clock(&state, change).map_err(|_| {
        ApiError::new(
            code::CONTROL_CLOCK,
            "The clock can only be set within the years 1970 to 9999 (UTC); this change would \
             leave them.",
        )
    })?;
    Ok(Envelope::ok(ClockView::read(&state.clock)))
}

#[utoipa::path(
    delete,
    path = "/_edgecert/clock",
    operation_id = "edgecert_clock_reset",
    tag = "Test controls",
    summary = "Return to the system clock",
    responses((status = 200, description = "The clock, now the system clock.", body = ClockEnvelope)),
)]
#[instrument(skip_all)]
pub async fn system_clock(State(state): State<AppState>) -> Envelope<ClockView> {
    // Returning to the system clock is always within range.
    let _ = controls::move_clock(&state, ClockChange::System);
    Envelope::ok(ClockView::read(&state.clock))
}

fn force_error(error: ForceError) -> ApiError {
    match error {
        ForceError::NotFound => ApiError::new(
            code::HOSTNAME_NOT_FOUND,
            "Custom hostname not found in this zone.",
        ),
        ForceError::Internal(error) => error.into(),
    }
}

type HostnameId = PathId<HostnameIdParam>;

#[utoipa::path(
    patch,
    path = "/_edgecert/zones/{zone_id}/custom_hostnames/{custom_hostname_id}/status",
    operation_id = "edgecert_hostname_status_force",
    tag = "Test controls",
    summary = "Force a custom hostname's statuses",
    description = "Shows the given `status`, `ssl.status`, `verification_errors` and \
        `ssl.validation_errors` on the hostname in every answer (get, list, edit) over what \
        edgecert computes, until cleared with null or DELETE, or the hostname is deleted. Only \
        what the API shows changes: a forced `ssl.status: active` does not make the edge serve \
        a hostname that has no certificate, and a forced `expired` does not stop it serving one.",
    params(
        ZonePath,
        ("custom_hostname_id" = Uuid, Path, description = "The custom hostname's id, in hyphenated form."),
    ),
    request_body = ForceStatusRequest,
    responses((status = 200, description = "The hostname as the API now shows it.", body = ForcedHostnameEnvelope)),
)]
#[instrument(skip_all, fields(zone_id = %zone.0, hostname_id = %id.0))]
pub async fn force_status(
    State(state): State<AppState>,
    zone: ZoneId,
    id: HostnameId,
    JsonObject(body): JsonObject,
) -> Result<Envelope<HostnameView>, ApiError> {
    let change = request::parse_status(&body)?;
    apply(&state, &zone.0, id, change).await
}

#[utoipa::path(
    delete,
    path = "/_edgecert/zones/{zone_id}/custom_hostnames/{custom_hostname_id}/status",
    operation_id = "edgecert_hostname_status_clear",
    tag = "Test controls",
    summary = "Clear a custom hostname's forced statuses",
    params(
        ZonePath,
        ("custom_hostname_id" = Uuid, Path, description = "The custom hostname's id, in hyphenated form."),
    ),
    responses((status = 200, description = "The hostname with its computed statuses.", body = ForcedHostnameEnvelope)),
)]
#[instrument(skip_all, fields(zone_id = %zone.0, hostname_id = %id.0))]
pub async fn clear_status(
    State(state): State<AppState>,
    zone: ZoneId,
    id: HostnameId,
) -> Result<Envelope<HostnameView>, ApiError> {
    apply(&state, &zone.0, id, StatusChange::clear_all()).await
}

async fn apply(
    state: &AppState,
    zone_id: &str,
    id: HostnameId,
    change: StatusChange,
) -> Result<Envelope<HostnameView>, ApiError> {
    let (record, forced) = controls::force_status(state, zone_id, id.0, change)
        .await
        .map_err(force_error)?;
    let view = HostnameView::new(record, state.clock.now(), Some(&forced));
    Ok(Envelope::ok(view))
}

#[utoipa::path(
    post,
    path = "/_edgecert/zones/{zone_id}/custom_hostnames/{custom_hostname_id}/check",
    operation_id = "edgecert_hostname_check",
    tag = "Test controls",
    summary = "Run a custom hostname's pending DCV check now",
    description = "Runs the next step of the hostname's managed certificate at once, whatever \
        its retry backoff says, and answers when that step is done: the order placed, the CA \
        asked to validate the HTTP-01 answer, and on success the certificate issued and \
        deployed, or the CA's refusal in `ssl.validation_errors`. When edgecert's own worker \
        is on the hostname, waits for it and checks again. No body. An active certificate \
        not yet due for renewal is left as it is.",
    params(
        ZonePath,
        ("custom_hostname_id" = Uuid, Path, description = "The custom hostname's id, in hyphenated form."),
    ),
    responses((status = 200, description = "The hostname as the API shows it after the check.", body = ForcedHostnameEnvelope)),
)]
#[instrument(skip_all, fields(zone_id = %zone.0, hostname_id = %id.0))]
pub async fn check_now(
    State(state): State<AppState>,
    zone: ZoneId,
    id: HostnameId,
) -> Result<Envelope<HostnameView>, ApiError> {
    let record = managed::check_now(&state, &zone.0, id.0)
        .await
        .map_err(check_error)?;
    Ok(Envelope::ok(shown(&state, record).await?))
}

fn check_error(error: ManagedError) -> ApiError {
    match error {
        ManagedError::NotFound => ApiError::new(
            code::HOSTNAME_NOT_FOUND,
            "Custom hostname not found in this zone.",
        ),
        ManagedError::NotManaged => ApiError::new(
            code::CONTROL_CHECK_NOT_MANAGED,
            "edgecert issues no certificate for this custom hostname: it has an uploaded \
             certificate, or its ssl.method is not http. Only http validation is checked.",
        ),
        ManagedError::NotConfigured => ApiError::new(
            code::CONTROL_CHECK_NO_ACME,
            "No ACME CA is configured (EDGECERT_ACME_DIRECTORY), so edgecert issues no \
             certificates and has no validation to check.",
        ),
        ManagedError::Busy => ApiError::new(
            code::CONTROL_CHECK_BUSY,
            "A worker (another edgecert instance's, or one that stopped) has held this custom \
             hostname for the whole wait; try again.",
        ),
        ManagedError::Internal(error) => error.into(),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::doc::{ClockRequest, ForceStatusRequest, ForcedSsl, ResetRequest};
    use super::*;
    use crate::http::openapi::schema_tests::{object, pointers, properties};

    /// Each documented field is read by its parser: a value of the wrong type is refused at
    /// that field.
    #[test]
    fn the_request_schemas_name_only_fields_the_parsers_read() {
        for property in properties::<ResetRequest>() {
            let error = request::parse_reset(&object(json!({ property.as_str(): 5 }))).unwrap_err();
            assert_eq!(pointers(error), [format!("/{property}")]);
        }
        for property in properties::<ClockRequest>() {
            let error = request::parse_clock(&object(json!({ property.as_str(): "x" })));
            let error = error.err().or_else(|| {
                request::parse_clock(&object(json!({ property.as_str(): true }))).err()
            });
            assert_eq!(pointers(error.unwrap()), [format!("/{property}")]);
        }
        for property in properties::<ForceStatusRequest>() {
            let body = object(json!({ property.as_str(): 5 }));
            let error = request::parse_status(&body).unwrap_err();
            assert_eq!(pointers(error), [format!("/{property}")]);
        }
        for property in properties::<ForcedSsl>() {
            let body = object(json!({ "ssl": { property.as_str(): 5 } }));
            let error = request::parse_status(&body).unwrap_err();
            assert_eq!(pointers(error), [format!("/ssl/{property}")]);
        }
    }

    #[test]
    fn the_clock_shows_now_and_the_system_clock_an_offset_apart() {
        let clock = Clock::default();
        clock.advance(time::Duration::hours(36));
        let view = serde_json::to_value(ClockView::read(&clock)).unwrap();
        assert_eq!(view["offset_seconds"], json!(129_600.0));
        let parse = |field: &str| {
            time::OffsetDateTime::parse(
                view[field].as_str().unwrap(),
                &time::format_description::well_known::Rfc3339,
            )
            .unwrap()
        };
        assert_eq!(
            parse("now") - parse("system_now"),
            time::Duration::hours(36)
        );
    }
}
