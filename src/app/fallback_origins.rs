//! The zone's fallback origin for custom hostnames: set, read and removed. It is active as
//! soon as it is stored (Cloudflare deploys it first; edgecert has nothing to deploy).

use super::{AppState, InternalError};
use crate::store::{FallbackOriginRecord, StoreError};

#[derive(Debug, thiserror::Error)]
pub enum FallbackOriginError {
    #[error("the zone has no fallback origin")]
    NotFound,
    #[error(transparent)]
    Internal(#[from] InternalError),
}

impl From<StoreError> for FallbackOriginError {
    fn from(error: StoreError) -> Self {
        Self::Internal(error.into())
    }
}

/// Sets the zone's fallback origin (`origin` already checked), replacing any earlier one.
pub async fn put(
    state: &AppState,
    zone_id: &str,
    origin: &str,
) -> Result<FallbackOriginRecord, FallbackOriginError> {
    let record = state
        .store
        .put_fallback_origin(zone_id, origin, state.clock.now())
        .await?;
    // Where the edge sends a zone's traffic is part of what it serves.
    state.served_changes.changed();
    Ok(record)
}

pub async fn get(
    state: &AppState,
    zone_id: &str,
) -> Result<FallbackOriginRecord, FallbackOriginError> {
    state
        .store
        .get_fallback_origin(zone_id)
        .await?
        .ok_or(FallbackOriginError::NotFound)
}

/// Removes the zone's fallback origin and returns what it was.
pub async fn delete(
    state: &AppState,
    zone_id: &str,
) -> Result<FallbackOriginRecord, FallbackOriginError> {
    let record = state
        .store
        .delete_fallback_origin(zone_id)
        .await?
        .ok_or(FallbackOriginError::NotFound)?;
    state.served_changes.changed();
    Ok(record)
}
