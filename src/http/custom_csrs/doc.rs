//! Schema-only types of the OpenAPI document: request bodies, query parameters, envelopes.

use super::view::CsrView;
use crate::http::envelope::success_schema;

success_schema!(
    /// One custom CSR.
    CsrEnvelope, CsrView
);
success_schema!(
    /// A page of custom CSRs.
    CsrListEnvelope, CsrView, list
);

/// The body of a create request. Unknown fields are ignored; every problem is reported at once.
#[derive(utoipa::ToSchema)]
#[expect(
    dead_code,
    reason = "a schema for the OpenAPI document; the parser reads the request itself"
)]
pub struct CsrCreateRequest {
    /// ISO 3166-1 alpha-2 country code, e.g. `US`.
    #[schema(min_length = 2, max_length = 2, example = "US")]
    country: String,
    /// State or province.
    #[schema(max_length = 128)]
    state: String,
    /// City.
    #[schema(max_length = 128)]
    locality: String,
    /// Organization name.
    #[schema(max_length = 64)]
    organization: String,
    /// Organizational unit.
    #[schema(max_length = 64)]
    organizational_unit: Option<String>,
    /// The certificate's common name; at most 64 characters.
    #[schema(max_length = 64, example = "app.example.com")]
    common_name: String,
    /// DNS names the certificate will cover: at least one and at most 150, each once and
    /// each at most 255 characters.
    #[schema(min_items = 1, max_items = 150)]
    sans: Vec<String>,
    /// `rsa2048` (default) or `p256v1`.
    #[schema(example = "rsa2048")]
    key_type: Option<String>,
    /// A label for the CSR.
    #[schema(max_length = 255)]
    name: Option<String>,
    /// A description of the CSR.
    #[schema(max_length = 1024)]
    description: Option<String>,
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
    /// Sort field: `created_at` (default), `name` or `account_tag`.
    #[param(inline)]
    order: Option<ListOrder>,
    /// `asc` or `desc`; the default is `desc` for `created_at` and `asc` otherwise.
    #[param(inline)]
    direction: Option<ListDirection>,
}

#[derive(utoipa::ToSchema)]
#[schema(rename_all = "snake_case")]
#[expect(
    dead_code,
    reason = "a schema for the OpenAPI document; the parser reads the request itself"
)]
pub enum ListOrder {
    CreatedAt,
    Name,
    AccountTag,
}

#[derive(utoipa::ToSchema)]
#[schema(rename_all = "snake_case")]
#[expect(
    dead_code,
    reason = "a schema for the OpenAPI document; the parser reads the request itself"
)]
pub enum ListDirection {
    Asc,
    Desc,
}
