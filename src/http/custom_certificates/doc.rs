//! Schema-only types of the OpenAPI document: request bodies, query parameters, envelopes.

use serde_json::Value;
use uuid::Uuid;

use super::view::CertificateView;
use crate::http::envelope::success_schema;

success_schema!(
    /// One custom certificate.
    CertificateEnvelope, CertificateView
);
success_schema!(
    /// A page of custom certificates.
    CertificateListEnvelope, CertificateView, list
);
success_schema!(
    /// Every custom certificate of the zone, in priority order.
    CertificatesEnvelope, Vec<CertificateView>
);

/// The body of an upload.
#[derive(utoipa::ToSchema)]
#[expect(
    dead_code,
    reason = "a schema for the OpenAPI document; the parser reads the request itself"
)]
pub struct CertificateCreateRequest {
    /// The PEM certificate, with its chain.
    #[schema(max_length = 65536)]
    certificate: String,
    /// The certificate's PEM private key; or give `custom_csr_id`, not both.
    #[schema(max_length = 16384)]
    private_key: Option<String>,
    /// The id of the custom CSR the certificate was issued for; its key stays in edgecert.
    #[schema(max_length = 36)]
    custom_csr_id: Option<String>,
    /// `legacy_custom` (default) or `sni_custom`.
    #[schema(rename = "type")]
    certificate_type: Option<String>,
    /// `ubiquitous` (default), `optimal` or `force` (skips the trust check).
    bundle_method: Option<String>,
    /// `{"label": "us" | "eu" | "highest_security"}`; null clears it.
    #[schema(value_type = Option<Object>)]
    geo_restrictions: Option<Value>,
    /// Policy restrictions, as text.
    #[schema(max_length = 1024)]
    policy: Option<String>,
    /// Read when `policy` is absent.
    #[schema(max_length = 1024)]
    policy_restrictions: Option<String>,
    /// `production` (default) or `staging`. edgecert's edge is production: a `staging`
    /// certificate is stored and listed but not served.
    deploy: Option<String>,
}

/// The body of an edit: absent fields stay as they are. A new certificate alone keeps the
/// current key; a new key alone is checked against the current certificate.
#[derive(utoipa::ToSchema)]
#[expect(
    dead_code,
    reason = "a schema for the OpenAPI document; the parser reads the request itself"
)]
pub struct CertificateEditRequest {
    /// A new PEM certificate, with its chain.
    #[schema(max_length = 65536)]
    certificate: Option<String>,
    /// A new PEM private key; or give `custom_csr_id`, not both.
    #[schema(max_length = 16384)]
    private_key: Option<String>,
    /// The id of the custom CSR the certificate was issued for.
    #[schema(max_length = 36)]
    custom_csr_id: Option<String>,
    /// `ubiquitous`, `optimal` or `force`.
    bundle_method: Option<String>,
    /// `{"label": "us" | "eu" | "highest_security"}`; null clears it.
    #[schema(value_type = Option<Object>)]
    geo_restrictions: Option<Value>,
    /// Policy restrictions, as text.
    #[schema(max_length = 1024)]
    policy: Option<String>,
    /// Read when `policy` is absent.
    #[schema(max_length = 1024)]
    policy_restrictions: Option<String>,
    /// `production` (default) or `staging`. edgecert's edge is production: a `staging`
    /// certificate is stored and listed but not served.
    deploy: Option<String>,
}

/// The body of a prioritize request.
#[derive(utoipa::ToSchema)]
#[expect(
    dead_code,
    reason = "a schema for the OpenAPI document; the parser reads the request itself"
)]
pub struct PrioritizeRequest {
    #[schema(min_items = 1)]
    certificates: Vec<PriorityEntry>,
}

/// A certificate's new priority.
#[derive(utoipa::ToSchema)]
#[expect(
    dead_code,
    reason = "a schema for the OpenAPI document; the parser reads the request itself"
)]
pub struct PriorityEntry {
    id: Uuid,
    priority: i64,
}

/// Query parameters of the list operation.
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[expect(
    dead_code,
    reason = "a schema for the OpenAPI document; the parser reads the request itself"
)]
pub struct ListQuery {
    /// Page number, from 1.
    #[param(minimum = 1, maximum = 4294967295_u64, default = 1)]
    page: Option<u64>,
    /// Items per page.
    #[param(minimum = 5, maximum = 50, default = 20)]
    per_page: Option<u64>,
    /// Only certificates with this status, as shown now (edgecert shows `active` and
    /// `expired`; the other values match nothing).
    #[param(schema_with = statuses)]
    status: Option<String>,
    /// `any` or `all`: how filters combine; with `status` the only filter, both are the same.
    #[param(rename = "match", inline)]
    match_: Option<ListMatch>,
}

fn statuses() -> utoipa::openapi::Object {
    utoipa::openapi::ObjectBuilder::new()
        .schema_type(utoipa::openapi::Type::String)
        .enum_values(Some(super::STATUSES))
        .build()
}

#[derive(utoipa::ToSchema)]
#[schema(rename_all = "snake_case")]
#[expect(
    dead_code,
    reason = "a schema for the OpenAPI document; the parser reads the request itself"
)]
pub enum ListMatch {
    Any,
    All,
}
