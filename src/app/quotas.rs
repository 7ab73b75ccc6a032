//! Configured limits on what one zone or account may hold, as a Cloudflare for SaaS plan
//! sets them. Unlimited unless configured. Enforcement is the store's, inside the insert's
//! transaction, so concurrent creates cannot overshoot a limit.

use super::{AppState, InternalError};
use crate::config::ServeArgs;

/// What the quota endpoint reports for a limit that is not configured: the largest integer
/// that every client (JavaScript numbers included) reads exactly.
pub const UNLIMITED: u64 = 9_007_199_254_740_991;

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Quotas {
    /// Custom hostnames per zone: the allocation. Creates past it still succeed, with a
    /// warning, as Cloudflare's soft quota does.
    pub hostnames_allocated: Option<u64>,
    /// Custom hostnames per zone past which creates are refused (defaults to the allocation).
    pub hostnames_hard_cap: Option<u64>,
    /// Custom certificates per zone.
    pub certificates: Option<u64>,
    /// Custom CSRs per zone or account.
    pub csrs: Option<u64>,
}

impl Quotas {
    pub fn from_args(args: &ServeArgs) -> Self {
        Self {
            hostnames_allocated: args.quota_custom_hostnames,
            hostnames_hard_cap: args.quota_custom_hostnames_hard_cap,
            certificates: args.quota_custom_certificates,
            csrs: args.quota_custom_csrs,
        }
    }

    /// The count at which custom hostname creates are refused.
    pub fn hostname_hard_cap(&self) -> Option<u64> {
        self.hostnames_hard_cap.or(self.hostnames_allocated)
    }

    /// A configuration that cannot mean anything: a hard cap below the allocation.
    pub fn check(&self) -> Result<(), String> {
        match (self.hostnames_allocated, self.hostnames_hard_cap) {
            (Some(allocated), Some(cap)) if cap < allocated => Err(format!(
                "EDGECERT_QUOTA_CUSTOM_HOSTNAMES_HARD_CAP ({cap}) is below \
                 EDGECERT_QUOTA_CUSTOM_HOSTNAMES ({allocated}); the hard cap must be at least \
                 the allocation"
            )),
            (None, Some(_)) => Err(
                "EDGECERT_QUOTA_CUSTOM_HOSTNAMES_HARD_CAP needs EDGECERT_QUOTA_CUSTOM_HOSTNAMES \
                 (the allocation it caps)"
                    .into(),
            ),
            _ => Ok(()),
        }
    }
}

/// A zone's custom hostname quota and usage, in the shape of the quota endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HostnameUsage {
    pub allocated: u64,
    pub used: u64,
    pub hard_cap: u64,
}

impl HostnameUsage {
    /// Cloudflare: `exceeded` is true once usage reaches the allocation.
    pub fn exceeded(&self) -> bool {
        self.used >= self.allocated
    }
}

pub async fn hostname_usage(
    state: &AppState,
    zone_id: &str,
) -> Result<HostnameUsage, InternalError> {
    let used = state.store.count_hostnames(zone_id).await?;
    Ok(HostnameUsage {
        allocated: state.quotas.hostnames_allocated.unwrap_or(UNLIMITED),
        used,
        hard_cap: state.quotas.hostname_hard_cap().unwrap_or(UNLIMITED),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_hard_cap_defaults_to_the_allocation_and_never_sits_below_it() {
        let quotas = Quotas {
            hostnames_allocated: Some(10),
            ..Quotas::default()
        };
        assert_eq!(quotas.hostname_hard_cap(), Some(10));
        assert!(quotas.check().is_ok());
        let below = Quotas {
            hostnames_hard_cap: Some(5),
            ..quotas
        };
        assert!(below.check().is_err());
        let alone = Quotas {
            hostnames_hard_cap: Some(5),
            ..Quotas::default()
        };
        assert!(alone.check().is_err());
        assert_eq!(Quotas::default().hostname_hard_cap(), None);
    }
}
