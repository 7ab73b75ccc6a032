//! Schema-only types of the OpenAPI document: request bodies, query parameters, envelopes.

use std::collections::HashMap;

use serde_json::Value;
use uuid::Uuid;

use super::view::HostnameView;
use crate::http::envelope::{DeletedId, success_schema};

success_schema!(
    /// One custom hostname.
    HostnameEnvelope, HostnameView
);
success_schema!(
    /// A page of custom hostnames.
    HostnameListEnvelope, HostnameView, list
);

/// A deleted custom hostname: the id is given at the top level as well, for the Python SDK.
#[derive(utoipa::ToSchema)]
#[expect(dead_code, reason = "a schema for the OpenAPI document")]
pub struct HostnameDeletedEnvelope {
    /// The deleted hostname's id.
    id: Uuid,
    /// Always true.
    success: bool,
    /// Always empty.
    #[schema(value_type = Vec<Object>)]
    errors: Vec<Value>,
    /// Always empty.
    #[schema(value_type = Vec<Object>)]
    messages: Vec<Value>,
    result: DeletedId,
}

/// The `ssl` object of a create or edit request.
#[derive(utoipa::ToSchema)]
#[expect(
    dead_code,
    reason = "a schema for the OpenAPI document; the parser reads the request itself"
)]
pub struct SslRequestBody {
    /// Domain control validation method: `http`, `txt` or `email`.
    method: Option<String>,
    /// Certificate type: `dv`.
    #[schema(rename = "type")]
    ssl_type: Option<String>,
    /// `ubiquitous` (default), `optimal` or `force`.
    bundle_method: Option<String>,
    /// `digicert`, `google`, `lets_encrypt` or `ssl_com`.
    certificate_authority: Option<String>,
    wildcard: Option<bool>,
    cloudflare_branding: Option<bool>,
    /// Stored and echoed back as given; at most 4096 bytes as JSON.
    #[schema(value_type = Option<Object>)]
    settings: Option<Value>,
    /// A PEM certificate (with its chain) to use instead of a managed one.
    #[schema(max_length = 65536)]
    custom_certificate: Option<String>,
    /// The certificate's PEM private key; or give `custom_csr_id`, not both.
    #[schema(max_length = 16384)]
    custom_key: Option<String>,
    /// The id of the custom CSR the certificate was issued for; its key stays in edgecert.
    #[schema(max_length = 36)]
    custom_csr_id: Option<String>,
    /// A certificate pack: one or two certificates with their keys, instead of
    /// `custom_certificate`; two must be one RSA and one ECDSA certificate. The edge serves
    /// the ECDSA one to clients that offer ECDSA signatures, the RSA one to the others.
    #[schema(min_items = 1, max_items = 2)]
    custom_cert_bundle: Option<Vec<PackCertificateRequest>>,
}

/// One certificate of a pack and its key: in `ssl.custom_cert_bundle`, and the body of a
/// pack certificate's replacement.
#[derive(utoipa::ToSchema)]
#[expect(
    dead_code,
    reason = "a schema for the OpenAPI document; the parser reads the request itself"
)]
pub struct PackCertificateRequest {
    /// The PEM certificate, with its chain.
    #[schema(max_length = 65536)]
    custom_certificate: String,
    /// Its PEM private key, sealed at rest and never shown again; or give `custom_csr_id`.
    #[schema(max_length = 16384)]
    custom_key: Option<String>,
    /// edgecert's extension: the id of the custom CSR the certificate was issued for, whose
    /// key stays in edgecert, instead of `custom_key`.
    #[schema(max_length = 36)]
    custom_csr_id: Option<String>,
}

/// A deleted pack certificate: its id, at the top level as well, for the Python SDK.
#[derive(utoipa::ToSchema)]
#[expect(dead_code, reason = "a schema for the OpenAPI document")]
pub struct PackCertificateDeletedEnvelope {
    /// The deleted certificate's id.
    id: Uuid,
    /// Always true.
    success: bool,
    /// Always empty.
    #[schema(value_type = Vec<Object>)]
    errors: Vec<Value>,
    /// Always empty.
    #[schema(value_type = Vec<Object>)]
    messages: Vec<Value>,
    result: DeletedId,
}

/// The body of a create request.
#[derive(utoipa::ToSchema)]
#[expect(
    dead_code,
    reason = "a schema for the OpenAPI document; the parser reads the request itself"
)]
pub struct HostnameCreateRequest {
    /// The customer's domain name, e.g. `app.example.com`.
    #[schema(max_length = 255)]
    hostname: String,
    ssl: Option<SslRequestBody>,
    /// An object of string values; null clears it. Keys are 1 to 128 characters, values at
    /// most 1024, and the whole object at most 4096 bytes as JSON.
    custom_metadata: Option<HashMap<String, String>>,
    /// Origin server for this hostname; null clears it.
    #[schema(max_length = 255)]
    custom_origin_server: Option<String>,
    /// SNI sent to the origin; null clears it.
    #[schema(max_length = 255)]
    custom_origin_sni: Option<String>,
}

/// The body of an edit request: fields that are absent stay as they are.
#[derive(utoipa::ToSchema)]
#[expect(
    dead_code,
    reason = "a schema for the OpenAPI document; the parser reads the request itself"
)]
pub struct HostnameEditRequest {
    /// Must be the current hostname if given: a hostname cannot be changed.
    hostname: Option<String>,
    /// Replaces the `ssl` settings; without `custom_certificate`, switches to a managed
    /// certificate.
    ssl: Option<SslRequestBody>,
    /// An object of string values; null clears it. Keys are 1 to 128 characters, values at
    /// most 1024, and the whole object at most 4096 bytes as JSON.
    custom_metadata: Option<HashMap<String, String>>,
    /// Origin server for this hostname; null clears it.
    #[schema(max_length = 255)]
    custom_origin_server: Option<String>,
    /// SNI sent to the origin; null clears it.
    #[schema(max_length = 255)]
    custom_origin_sni: Option<String>,
}

/// Query parameters of the list operation. At most one filter, and not with `id`.
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
    /// Only the hostname with this id.
    id: Option<Uuid>,
    /// Only this hostname (older clients' spelling of `hostname.exact`).
    #[param(pattern = "^[A-Za-z0-9.*-]{1,255}$")]
    hostname: Option<String>,
    /// Only this hostname.
    #[param(rename = "hostname.exact", pattern = "^[A-Za-z0-9.*-]{1,255}$")]
    hostname_exact: Option<String>,
    /// Hostnames containing this text.
    #[param(rename = "hostname.contain", pattern = "^[A-Za-z0-9.*-]{1,255}$")]
    hostname_contain: Option<String>,
    /// Hostnames starting with this text.
    #[param(rename = "hostname.startsWith", pattern = "^[A-Za-z0-9.*-]{1,255}$")]
    hostname_starts_with: Option<String>,
    /// `1`: hostnames with SSL (a DCV method or a certificate); `0`: those without.
    #[param(schema_with = zero_or_one)]
    ssl: Option<u8>,
    /// Only hostnames whose `ssl.status` is this, as shown now.
    #[param(schema_with = ssl_statuses)]
    ssl_status: Option<String>,
    /// Only hostnames whose `status` is this, as shown now.
    #[param(schema_with = hostname_statuses)]
    hostname_status: Option<String>,
    /// Only `*.` hostnames and those whose certificate covers `*.hostname` (`true`), or the
    /// others (`false`).
    wildcard: Option<bool>,
    /// Only hostnames that asked for this certificate authority.
    #[param(schema_with = certificate_authorities)]
    certificate_authority: Option<String>,
    /// Only hostnames routed to this custom origin server.
    #[param(pattern = "^[A-Za-z0-9.-]{1,255}$")]
    custom_origin_server: Option<String>,
    /// Sort field: `ssl` (the DCV method) or `ssl_status`; creation time by default.
    #[param(schema_with = orders)]
    order: Option<String>,
    /// `asc` (default) or `desc`.
    #[param(inline)]
    direction: Option<crate::http::custom_csrs::doc::ListDirection>,
}

fn one_of(values: &[&str]) -> utoipa::openapi::Object {
    utoipa::openapi::ObjectBuilder::new()
        .schema_type(utoipa::openapi::Type::String)
        .enum_values(Some(values.iter().copied()))
        .build()
}

fn zero_or_one() -> utoipa::openapi::Object {
    utoipa::openapi::ObjectBuilder::new()
        .schema_type(utoipa::openapi::Type::Integer)
        .enum_values(Some([0, 1]))
        .build()
}

fn ssl_statuses() -> utoipa::openapi::Object {
    one_of(super::request::SSL_STATUSES)
}

fn hostname_statuses() -> utoipa::openapi::Object {
    one_of(super::request::HOSTNAME_STATUSES)
}

fn certificate_authorities() -> utoipa::openapi::Object {
    one_of(&super::request::CERTIFICATE_AUTHORITIES)
}

fn orders() -> utoipa::openapi::Object {
    one_of(&super::request::ORDERS)
}
