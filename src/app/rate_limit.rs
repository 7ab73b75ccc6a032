//! Counting requests per API token against a limit, in memory, for this instance only.
//!
//! Each token gets a window that opens with its first request and lasts one period; at most
//! `requests` pass in it, and once the period is over the next request opens a new window.
//! That is what the real API documents ("if you exceed this limit, all API calls for the next
//! five minutes will be blocked"), and it lets a 429 say exactly when the next request will
//! pass. Counts live in this process: several instances behind one load balancer each allow the
//! full limit, and a restart forgets them.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use crate::app::TokenDigest;
use crate::config::RateLimitPolicy;

/// Where the limiter reads the time; a test passes one it can move.
pub type Clock = Arc<dyn Fn() -> Instant + Send + Sync>;

/// Request counts per token. Keyed by the token's keyed digest, never by the token.
pub struct RateLimiter {
    policy: RateLimitPolicy,
    clock: Clock,
    /// One entry per token that has called since start-up. Only verified tokens are counted,
    /// and tokens are loaded at start-up, so this cannot grow past the `api_tokens` table.
    windows: Mutex<HashMap<TokenDigest, Window>>,
}

impl std::fmt::Debug for RateLimiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RateLimiter")
            .field("policy", &self.policy)
            .finish_non_exhaustive()
    }
}

#[derive(Clone, Copy)]
struct Window {
    opened: Instant,
    used: u32,
}

/// The outcome of counting one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Counted; `remaining` more may pass before the window ends in `resets_in`.
    Allowed { remaining: u32, resets_in: Duration },
    /// Not counted: the window is full until `retry_after` from now.
    Limited { retry_after: Duration },
}

impl RateLimiter {
    pub fn new(policy: RateLimitPolicy) -> Self {
        Self::with_clock(policy, Arc::new(Instant::now))
    }

    pub fn with_clock(policy: RateLimitPolicy, clock: Clock) -> Self {
        Self {
            policy,
            clock,
            windows: Mutex::new(HashMap::new()),
        }
    }

    pub fn policy(&self) -> RateLimitPolicy {
        self.policy
    }

    /// Counts one request of the token named `id`, unless its window is already full.
    pub fn check(&self, id: &TokenDigest) -> Decision {
        let now = (self.clock)();
        let period = self.policy.period;
        // Each update is a few assignments that cannot panic half-way, so a poisoned map is
        // still consistent.
        let mut windows = self.windows.lock().unwrap_or_else(PoisonError::into_inner);
        let window = windows.entry(*id).or_insert(Window {
            opened: now,
            used: 0,
        });
        if now.saturating_duration_since(window.opened) >= period {
            *window = Window {
                opened: now,
                used: 0,
            };
        }
        let resets_in = period.saturating_sub(now.saturating_duration_since(window.opened));
        if window.used >= self.policy.requests.get() {
            return Decision::Limited {
                retry_after: resets_in,
            };
        }
        window.used += 1;
        Decision::Allowed {
            remaining: self.policy.requests.get() - window.used,
            resets_in,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A clock that moves only when told.
    fn manual_clock() -> (Clock, Arc<Mutex<Instant>>) {
        let now = Arc::new(Mutex::new(Instant::now()));
        let read = Arc::clone(&now);
        (Arc::new(move || *read.lock().expect("clock lock")), now)
    }

    fn advance(now: &Mutex<Instant>, by: Duration) {
        *now.lock().expect("clock lock") += by;
    }

    fn policy(requests: u32, seconds: u64) -> RateLimitPolicy {
        format!("{requests}/{seconds}s").parse().expect("policy")
    }

    #[test]
    fn a_full_window_is_refused_until_it_ends() {
        let (clock, now) = manual_clock();
        let limiter = RateLimiter::with_clock(policy(3, 60), clock);
        let token = [1; 32];
        for remaining in [2, 1, 0] {
            assert_eq!(
                limiter.check(&token),
                Decision::Allowed {
                    remaining,
                    resets_in: Duration::from_secs(60)
                }
            );
        }
        assert_eq!(
            limiter.check(&token),
            Decision::Limited {
                retry_after: Duration::from_secs(60)
            }
        );
        advance(&now, Duration::from_secs(45));
        assert_eq!(
            limiter.check(&token),
            Decision::Limited {
                retry_after: Duration::from_secs(15)
            },
            "refused requests do not extend the window"
        );
        advance(&now, Duration::from_secs(15));
        assert_eq!(
            limiter.check(&token),
            Decision::Allowed {
                remaining: 2,
                resets_in: Duration::from_secs(60)
            },
            "a new window opens with the first request after the old one ended"
        );
    }

    #[test]
    fn tokens_are_counted_apart() {
        let (clock, _) = manual_clock();
        let limiter = RateLimiter::with_clock(policy(1, 60), clock);
        assert!(matches!(limiter.check(&[1; 32]), Decision::Allowed { .. }));
        assert!(matches!(limiter.check(&[1; 32]), Decision::Limited { .. }));
        assert!(matches!(limiter.check(&[2; 32]), Decision::Allowed { .. }));
    }
}
