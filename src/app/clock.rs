//! edgecert's notion of now. Every rule that reads time (expiry, renewal, retry backoff,
//! timestamps written) reads it here, so the test controls can move it and every rule moves
//! with it. The offset is this instance's own.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use time::{Duration, OffsetDateTime};

/// The system clock plus an offset (zero unless the test controls set one). Cheap to clone;
/// clones share the offset.
#[derive(Clone, Debug, Default)]
pub struct Clock {
    offset_micros: Arc<AtomicI64>,
}

impl Clock {
    /// Now, at the precision both stores keep (microseconds), so an answer made from a value
    /// just written matches a later read of it.
    pub fn now(&self) -> OffsetDateTime {
        let now = OffsetDateTime::now_utc() + self.offset();
        now.replace_nanosecond(now.nanosecond() / 1_000 * 1_000)
            .unwrap_or(now)
    }

    /// How far this clock is ahead of the system clock (negative: behind).
    pub fn offset(&self) -> Duration {
        Duration::microseconds(self.offset_micros.load(Ordering::Relaxed))
    }

    /// Moves the clock so that [`Clock::now`] reads `at`.
    pub fn set(&self, at: OffsetDateTime) {
        self.set_offset(at - OffsetDateTime::now_utc());
    }

    /// Moves the clock forward by `by` (backward if negative).
    pub fn advance(&self, by: Duration) {
        self.set_offset(self.offset() + by);
    }

    /// Back to the system clock.
    pub fn reset(&self) {
        self.set_offset(Duration::ZERO);
    }

    fn set_offset(&self, offset: Duration) {
        let micros =
            i64::try_from(offset.whole_microseconds()).unwrap_or(if offset.is_negative() {
                i64::MIN
            } else {
                i64::MAX
            });
        self.offset_micros.store(micros, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clones_share_the_offset_and_reset_returns_to_the_system_clock() {
        let clock = Clock::default();
        let shared = clock.clone();
        clock.advance(Duration::days(30));
        let ahead = shared.now() - OffsetDateTime::now_utc();
        assert!(ahead > Duration::days(30) - Duration::minutes(1), "{ahead}");
        assert!(ahead <= Duration::days(30), "{ahead}");
        let target = OffsetDateTime::now_utc() - Duration::days(400);
        shared.set(target);
        assert!((clock.now() - target).abs() < Duration::minutes(1));
        clock.reset();
        assert!((shared.now() - OffsetDateTime::now_utc()).abs() < Duration::minutes(1));
        assert_eq!(clock.now().nanosecond() % 1_000, 0);
    }
}
