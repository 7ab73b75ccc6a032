//! A zone's fallback origin as the API shows it.

use serde::Serialize;

use crate::http::rfc3339;
use crate::store::FallbackOriginRecord;

/// The fallback origin. `status` is `active` as soon as it is set: Cloudflare shows
/// `pending_deployment` until its edge has the change, edgecert has nothing to wait for.
#[derive(Serialize, utoipa::ToSchema)]
pub struct FallbackOriginView {
    /// `host` or `host:port`.
    #[schema(example = "fallback.saas-platform.com")]
    origin: String,
    /// Always `active`.
    #[schema(value_type = String, example = "active")]
    status: &'static str,
    /// Problems met while activating it; always empty.
    errors: Vec<String>,
    #[schema(example = "2026-12-02T04:11:23.374110Z")]
    created_at: String,
    #[schema(example = "2026-12-02T04:11:23.374110Z")]
    updated_at: String,
}

impl From<FallbackOriginRecord> for FallbackOriginView {
    fn from(record: FallbackOriginRecord) -> Self {
        Self {
            origin: record.origin,
            status: "active",
            errors: Vec::new(),
            created_at: rfc3339(record.created_at),
            updated_at: rfc3339(record.updated_at),
        }
    }
}
