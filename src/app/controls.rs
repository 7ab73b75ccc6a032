//! The test controls' use cases (`--test-controls`): erase a scope's data, move edgecert's
//! clock, and force what a custom hostname's statuses show. Each one that changes what the
//! edge may serve tells the edge to re-read.

use std::collections::HashMap;

use time::{Duration, OffsetDateTime};
use uuid::Uuid;

use super::{AppState, InternalError};
use crate::store::{HostnameRecord, ResetCounts, Scope, StatusOverride, StoreError};

/// The earliest and latest instants the clock may be set to: timestamps outside these years
/// cannot be written as RFC 3339 (four-digit years) or predate the Unix epoch the stores count
/// from.
pub fn clock_range() -> (OffsetDateTime, OffsetDateTime) {
    use time::macros::datetime;
    (
        datetime!(1970-01-01 00:00:00 UTC),
        datetime!(9999-12-31 23:59:59 UTC),
    )
}

/// Removes everything of `scope` (everything with `None`), then has the edge stop serving it.
pub async fn reset(state: &AppState, scope: Option<&Scope>) -> Result<ResetCounts, InternalError> {
    let counts = state.store.reset(scope).await?;
    state.served_changes.changed();
    Ok(counts)
}

/// How to move the clock.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ClockChange {
    /// Make now read this instant.
    SetTo(OffsetDateTime),
    /// Move now by this much (back when negative).
    Advance(Duration),
    /// Back to the system clock.
    System,
}

/// The clock could not be moved there: now would leave [`clock_range`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the clock would leave the years 1970 to 9999")]
pub struct OutOfRange;

/// Moves the clock, then has the edge re-read: a certificate left out as expired is served
/// again once the clock moves back, and one that expired is dropped.
pub fn move_clock(state: &AppState, change: ClockChange) -> Result<(), OutOfRange> {
    let (earliest, latest) = clock_range();
    let within = |at: OffsetDateTime| (earliest..=latest).contains(&at);
    match change {
        ClockChange::SetTo(at) if within(at) => state.clock.set(at),
        // By the offset, not by setting the sum: the offset stays exactly what was asked.
        ClockChange::Advance(by) if state.clock.now().checked_add(by).is_some_and(within) => {
            state.clock.advance(by);
        }
        ClockChange::System => state.clock.reset(),
        ClockChange::SetTo(_) | ClockChange::Advance(_) => return Err(OutOfRange),
    }
    state.served_changes.changed();
    Ok(())
}

/// One forced field's change: absent leaves it, `Some(None)` shows the computed value again.
pub type FieldChange<T> = Option<Option<T>>;

/// What to force on a hostname, field by field; values are already checked.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StatusChange {
    pub status: FieldChange<String>,
    pub ssl_status: FieldChange<String>,
    pub verification_errors: FieldChange<Vec<String>>,
    pub ssl_validation_errors: FieldChange<Vec<String>>,
}

impl StatusChange {
    /// Every field back to its computed value.
    pub fn clear_all() -> Self {
        Self {
            status: Some(None),
            ssl_status: Some(None),
            verification_errors: Some(None),
            ssl_validation_errors: Some(None),
        }
    }

    fn apply(self, forced: &mut StatusOverride) {
        fn set<T>(field: &mut Option<T>, change: FieldChange<T>) {
            if let Some(value) = change {
                *field = value;
            }
        }
        set(&mut forced.status, self.status);
        set(&mut forced.ssl_status, self.ssl_status);
        set(&mut forced.verification_errors, self.verification_errors);
        set(
            &mut forced.ssl_validation_errors,
            self.ssl_validation_errors,
        );
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ForceError {
    #[error("custom hostname not found")]
    NotFound,
    #[error(transparent)]
    Internal(#[from] InternalError),
}

impl From<StoreError> for ForceError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::NotFound => ForceError::NotFound,
            other => ForceError::Internal(other.into()),
        }
    }
}

/// Applies `change` to what the hostname shows; returns the hostname and everything now
/// forced on it.
pub async fn force_status(
    state: &AppState,
    zone_id: &str,
    id: Uuid,
    change: StatusChange,
) -> Result<(HostnameRecord, StatusOverride), ForceError> {
    let record = state.store.get_hostname(zone_id, id).await?;
    let mut forced = state
        .store
        .status_overrides(zone_id, Some(id))
        .await?
        .into_iter()
        .next()
        .map(|(_, forced)| forced)
        .unwrap_or_default();
    change.apply(&mut forced);
    state
        .store
        .put_status_override(zone_id, id, &forced, state.clock.now())
        .await?;
    Ok((record, forced))
}

/// The statuses forced on the zone's hostnames (on one of them, with `id`), by hostname id.
/// Empty without a query when the test controls are off: forced values are shown only while
/// they can also be cleared.
pub async fn forced_statuses(
    state: &AppState,
    zone_id: &str,
    id: Option<Uuid>,
) -> Result<HashMap<Uuid, StatusOverride>, InternalError> {
    if !state.test_controls {
        return Ok(HashMap::new());
    }
    Ok(state
        .store
        .status_overrides(zone_id, id)
        .await?
        .into_iter()
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_change_sets_clears_or_leaves_each_field() {
        let mut forced = StatusOverride {
            status: Some("blocked".into()),
            ssl_status: Some("expired".into()),
            verification_errors: Some(vec!["no TXT record".into()]),
            ssl_validation_errors: None,
        };
        StatusChange {
            status: Some(None),
            ssl_validation_errors: Some(Some(vec!["CAA forbids".into()])),
            ..StatusChange::default()
        }
        .apply(&mut forced);
        assert_eq!(forced.status, None);
        assert_eq!(forced.ssl_status.as_deref(), Some("expired"));
        assert_eq!(
            forced.verification_errors,
            Some(vec!["no TXT record".into()])
        );
        assert_eq!(
            forced.ssl_validation_errors,
            Some(vec!["CAA forbids".into()])
        );
        StatusChange::clear_all().apply(&mut forced);
        assert!(forced.is_empty());
    }

    #[tokio::test]
    async fn the_clock_stays_within_the_years_it_can_write() {
        let test = super::super::testing::state(None).await;
        let state = &test.state;
        let (earliest, latest) = clock_range();
        assert_eq!(move_clock(state, ClockChange::SetTo(latest)), Ok(()));
        assert_eq!(
            move_clock(state, ClockChange::Advance(Duration::seconds(2))),
            Err(OutOfRange)
        );
        assert_eq!(
            move_clock(
                state,
                ClockChange::SetTo(earliest - Duration::microseconds(1))
            ),
            Err(OutOfRange)
        );
        assert!(
            state.clock.now() > latest - Duration::minutes(1),
            "unchanged"
        );
        move_clock(state, ClockChange::System).unwrap();
        assert_eq!(state.clock.offset(), Duration::ZERO);
    }
}
