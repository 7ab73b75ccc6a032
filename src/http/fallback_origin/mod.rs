//! `custom_hostnames/fallback_origin` (zone scope): where custom hostnames' traffic goes when
//! they name no `custom_origin_server`. Get, set (PUT) and delete; one per zone.

pub mod doc;
mod request;
pub mod view;

use axum::Router;
use axum::extract::State;
use axum::routing::get;
use tracing::instrument;

use self::doc::{FallbackOriginEnvelope, FallbackOriginRequest};
use self::view::FallbackOriginView;
use super::envelope::Envelope;
use super::error::{ApiError, OperationErrors, code};
use super::extract::{JsonObject, ZoneId, ZonePath};
use crate::app::AppState;
use crate::app::fallback_origins::{self, FallbackOriginError};

pub fn routes() -> Router<AppState> {
    Router::new().route(
        "/zones/{zone_id}/custom_hostnames/fallback_origin",
        get(fetch).put(update).delete(delete),
    )
}

impl From<FallbackOriginError> for ApiError {
    fn from(error: FallbackOriginError) -> Self {
        match error {
            FallbackOriginError::NotFound => ApiError::new(
                code::FALLBACK_ORIGIN_NOT_FOUND,
                "This zone has no fallback origin: set one with PUT and a body {\"origin\": \"...\"}.",
            ),
            FallbackOriginError::Internal(error) => error.into(),
        }
    }
}

/// The error answers of each operation, beyond those every route shares.
pub const ERRORS: &[OperationErrors] = &[
    (
        "zone_custom_hostnames_fallback_origin_get",
        &[&[code::FALLBACK_ORIGIN_NOT_FOUND]],
    ),
    (
        "zone_custom_hostnames_fallback_origin_update",
        &[&[
            code::HOSTNAME_INVALID,
            code::HOSTNAME_NON_ASCII,
            code::HOSTNAME_RESERVED_TLD,
            code::HOSTNAME_NO_PUBLIC_SUFFIX,
            code::HOSTNAME_EXAMPLE_DOMAIN,
        ]],
    ),
    (
        "zone_custom_hostnames_fallback_origin_delete",
        &[&[code::FALLBACK_ORIGIN_NOT_FOUND]],
    ),
];

#[utoipa::path(
    get,
    path = "/client/v4/zones/{zone_id}/custom_hostnames/fallback_origin",
    operation_id = "zone_custom_hostnames_fallback_origin_get",
    tag = "Custom hostnames",
    summary = "Get the fallback origin for custom hostnames",
    params(ZonePath),
    responses((status = 200, description = "The zone's fallback origin.", body = FallbackOriginEnvelope)),
)]
#[instrument(skip_all, fields(zone_id = %zone.0))]
pub async fn fetch(
    State(state): State<AppState>,
    zone: ZoneId,
) -> Result<Envelope<FallbackOriginView>, ApiError> {
    let record = fallback_origins::get(&state, &zone.0).await?;
    Ok(Envelope::ok(record.into()))
}

/// Sets or replaces the zone's fallback origin. It is `active` at once (Cloudflare shows
/// `pending_deployment` first).
#[utoipa::path(
    put,
    path = "/client/v4/zones/{zone_id}/custom_hostnames/fallback_origin",
    operation_id = "zone_custom_hostnames_fallback_origin_update",
    tag = "Custom hostnames",
    summary = "Set the fallback origin for custom hostnames",
    params(ZonePath),
    request_body = FallbackOriginRequest,
    responses((status = 200, description = "The fallback origin as now set.", body = FallbackOriginEnvelope)),
)]
#[instrument(skip_all, fields(zone_id = %zone.0))]
pub async fn update(
    State(state): State<AppState>,
    zone: ZoneId,
    JsonObject(body): JsonObject,
) -> Result<Envelope<FallbackOriginView>, ApiError> {
    let origin = request::check_origin(&body, state.strict)?;
    let record = fallback_origins::put(&state, &zone.0, &origin).await?;
    Ok(Envelope::ok(record.into()))
}

/// Removes the zone's fallback origin and answers it as it was.
#[utoipa::path(
    delete,
    path = "/client/v4/zones/{zone_id}/custom_hostnames/fallback_origin",
    operation_id = "zone_custom_hostnames_fallback_origin_delete",
    tag = "Custom hostnames",
    summary = "Delete the fallback origin for custom hostnames",
    params(ZonePath),
    responses((status = 200, description = "The fallback origin was removed.", body = FallbackOriginEnvelope)),
)]
#[instrument(skip_all, fields(zone_id = %zone.0))]
pub async fn delete(
    State(state): State<AppState>,
    zone: ZoneId,
) -> Result<Envelope<FallbackOriginView>, ApiError> {
    let record = fallback_origins::delete(&state, &zone.0).await?;
    Ok(Envelope::ok(record.into()))
}
