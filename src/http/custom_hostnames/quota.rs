//! `GET /zones/{zone_id}/custom_hostnames/quota`: the zone's custom hostname allocation, its
//! usage and the hard cap, in the SDK's shape.

use axum::extract::State;
use serde::Serialize;
use tracing::instrument;

use crate::app::AppState;
use crate::app::quotas::{self, HostnameUsage};
use crate::http::envelope::{Envelope, Notice, success_schema};
use crate::http::error::ApiError;
use crate::http::extract::{ZoneId, ZonePath};

/// The zone's custom hostname quota. A limit edgecert is not configured with shows as
/// 9007199254740991.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct QuotaView {
    /// The allocation (a soft limit: creates past it succeed, with a warning).
    allocated: u64,
    /// Custom hostnames in the zone, whatever their status.
    used: u64,
    /// Whether `used` has reached `allocated`.
    exceeded: bool,
    /// The count past which creates are refused (403 1405).
    hard_cap: u64,
}

impl From<HostnameUsage> for QuotaView {
    fn from(usage: HostnameUsage) -> Self {
        Self {
            allocated: usage.allocated,
            used: usage.used,
            exceeded: usage.exceeded(),
            hard_cap: usage.hard_cap,
        }
    }
}

success_schema!(
    /// The quota answer.
    QuotaEnvelope,
    QuotaView
);

#[utoipa::path(
    get,
    path = "/client/v4/zones/{zone_id}/custom_hostnames/quota",
    operation_id = "zone_custom_hostnames_quota",
    tag = "Custom hostnames",
    summary = "Get the zone's custom hostname quota",
    params(ZonePath),
    responses((status = 200, description = "The quota and its usage.", body = QuotaEnvelope)),
)]
#[instrument(skip_all, fields(zone_id = %zone.0))]
pub async fn fetch(
    State(state): State<AppState>,
    zone: ZoneId,
) -> Result<Envelope<QuotaView>, ApiError> {
    let usage = quotas::hostname_usage(&state, &zone.0).await?;
    Ok(Envelope::ok(usage.into()))
}

/// The warning a create past the allocation answers with (the hostname was created). The API
/// documents a "billing warning" without its code; 1405, its quota code, is edgecert's choice.
pub async fn past_allocation(state: &AppState, zone_id: &str) -> Result<Option<Notice>, ApiError> {
    if state.quotas.hostnames_allocated.is_none() {
        return Ok(None);
    }
    let usage = quotas::hostname_usage(state, zone_id).await?;
    Ok((usage.used > usage.allocated).then(|| Notice {
        code: 1405,
        message: format!(
            "This zone now holds {} custom hostnames, past its allocation of {}; hostnames past \
             the allocation are billed. Creates are refused at the hard cap of {}.",
            usage.used, usage.allocated, usage.hard_cap
        ),
    }))
}
