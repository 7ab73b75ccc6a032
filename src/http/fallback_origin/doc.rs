//! Schema-only types of the OpenAPI document: the request body and the envelope.

use super::view::FallbackOriginView;
use crate::http::envelope::success_schema;

success_schema!(
    /// The zone's fallback origin.
    FallbackOriginEnvelope, FallbackOriginView
);

/// The body of a PUT.
#[derive(utoipa::ToSchema)]
#[expect(
    dead_code,
    reason = "a schema for the OpenAPI document; the parser reads the request itself"
)]
pub struct FallbackOriginRequest {
    /// The hostname custom hostnames' traffic is sent to when they name no
    /// `custom_origin_server`, e.g. `fallback.saas-platform.com`. For local use it may carry
    /// a port and be `localhost` or an IP address: `localhost:3000`, `127.0.0.1:9000`.
    #[schema(max_length = 255)]
    origin: String,
}
