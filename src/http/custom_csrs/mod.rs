//! `custom_csrs` at zone and account scope: create, list, get, delete.

pub mod doc;
pub(super) mod request;
pub mod view;

use axum::Router;
use axum::extract::State;
use axum::routing::get;
use serde_json::{Value, json};
use tracing::instrument;

use self::doc::{CsrCreateRequest, CsrEnvelope, CsrListEnvelope, ListQuery};
use self::view::CsrView;
use super::envelope::{DeletedEnvelope, Envelope};
use super::error::{ApiError, Code, OperationErrors, code};
use super::extract::{IdParam, JsonObject, Pagination, PathId, QueryPairs, ZonePath};
use crate::app::AppState;
use crate::app::csrs::{self, CsrError};
use crate::store::{CsrOrder, Direction, Scope};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/zones/{zone_id}/custom_csrs", get(list).post(create))
        .route(
            "/zones/{zone_id}/custom_csrs/{custom_csr_id}",
            get(fetch).delete(delete),
        )
        .route("/accounts/{account_id}/custom_csrs", get(list).post(create))
        .route(
            "/accounts/{account_id}/custom_csrs/{custom_csr_id}",
            get(fetch).delete(delete),
        )
}

/// `{custom_csr_id}`.
#[derive(Debug, Clone, Copy)]
pub struct CsrIdParam;

impl IdParam for CsrIdParam {
    const NAME: &'static str = "custom_csr_id";
    const INVALID: Code = code::CSR_ID_INVALID;
    fn invalid_message(raw: &str) -> String {
        format!(
            "Invalid custom CSR ID {raw:?}: use the id returned when the CSR was created, e.g. 7b163417-1d2b-4c84-a38a-2fb7a0cd7752."
        )
    }
}

type CsrId = PathId<CsrIdParam>;

impl From<CsrError> for ApiError {
    fn from(error: CsrError) -> Self {
        match error {
            CsrError::NotFound => ApiError::new(
                code::CSR_NOT_FOUND,
                "Custom CSR not found: no CSR with this id exists in this zone or account.",
            ),
            CsrError::InUse => ApiError::new(
                code::CSR_IN_USE,
                "This CSR's private key is used by a custom hostname or custom certificate; delete \
                 those (or replace their certificate) first, then delete the CSR.",
            ),
            CsrError::QuotaExceeded { limit } => ApiError::new(
                code::CSR_QUOTA,
                format!(
                    "Quota reached: this zone or account already holds {limit} custom CSRs, its \
                     quota (EDGECERT_QUOTA_CUSTOM_CSRS). Delete CSRs that are no longer used, or \
                     raise the quota, then try again."
                ),
            ),
            CsrError::Internal(error) => error.into(),
        }
    }
}

/// The error answers of each operation, beyond those every route shares.
pub const ERRORS: &[OperationErrors] = &[
    (
        "zone_custom_csrs_list",
        &[&[code::INVALID_REQUEST_PARAMETERS]],
    ),
    (
        "zone_custom_csrs_create",
        &[&[
            code::CSR_COUNTRY,
            code::CSR_STATE,
            code::CSR_LOCALITY,
            code::CSR_ORGANIZATION,
            code::CSR_COMMON_NAME,
            code::CSR_COMMON_NAME_TOO_LONG,
            code::CSR_SAN_REQUIRED,
            code::CSR_SAN_INVALID,
            code::CSR_SAN_NON_ASCII,
            code::CSR_SAN_RESERVED_TLD,
            code::CSR_SAN_NO_PUBLIC_SUFFIX,
            code::CSR_SAN_EXAMPLE_DOMAIN,
            code::CSR_KEY_TYPE,
            code::CSR_QUOTA,
        ]],
    ),
    ("zone_custom_csrs_get", &[ONE_CSR]),
    ("zone_custom_csrs_delete", &[ONE_CSR, &[code::CSR_IN_USE]]),
];

/// The answers of an operation on one CSR named in the path.
const ONE_CSR: &[Code] = &[code::CSR_ID_INVALID, code::CSR_NOT_FOUND];

#[utoipa::path(
    post,
    path = "/client/v4/zones/{zone_id}/custom_csrs",
    operation_id = "zone_custom_csrs_create",
    tag = "Custom CSRs",
    summary = "Create a CSR",
    description = "Generates a private key (kept encrypted in edgecert, never returned) and a CSR signed with it.",
    params(ZonePath),
    request_body = CsrCreateRequest,
    responses((status = 201, description = "The CSR was created.", body = CsrEnvelope)),
)]
#[instrument(skip_all, fields(scope = scope.kind()))]
pub async fn create(
    State(state): State<AppState>,
    scope: Scope,
    JsonObject(body): JsonObject,
) -> Result<Envelope<CsrView>, ApiError> {
    let draft = request::parse_draft(&body, state.strict).map_err(ApiError::many)?;
    let record = csrs::create(&state, scope, draft).await?;
    Ok(Envelope::created(record.into()))
}

#[utoipa::path(
    get,
    path = "/client/v4/zones/{zone_id}/custom_csrs/{custom_csr_id}",
    operation_id = "zone_custom_csrs_get",
    tag = "Custom CSRs",
    summary = "Get a CSR",
    params(
        ZonePath,
        ("custom_csr_id" = Uuid, Path, description = "The CSR's id, in hyphenated form."),
    ),
    responses((status = 200, description = "The CSR.", body = CsrEnvelope)),
)]
#[instrument(skip_all, fields(scope = scope.kind(), csr_id = %id.0))]
pub async fn fetch(
    State(state): State<AppState>,
    scope: Scope,
    id: CsrId,
) -> Result<Envelope<CsrView>, ApiError> {
    let record = csrs::get(&state, &scope, id.0).await?;
    Ok(Envelope::ok(record.into()))
}

pub(crate) const ORDERS: [&str; 3] = ["created_at", "name", "account_tag"];
pub(crate) const DIRECTIONS: [&str; 2] = ["asc", "desc"];

#[utoipa::path(
    get,
    path = "/client/v4/zones/{zone_id}/custom_csrs",
    operation_id = "zone_custom_csrs_list",
    tag = "Custom CSRs",
    summary = "List CSRs",
    params(
        ZonePath,
        ListQuery,
    ),
    responses((status = 200, description = "A page of CSRs.", body = CsrListEnvelope)),
)]
#[instrument(skip_all, fields(scope = scope.kind()))]
pub async fn list(
    State(state): State<AppState>,
    scope: Scope,
    Pagination(page): Pagination,
    query: QueryPairs,
) -> Result<Envelope<Vec<CsrView>>, ApiError> {
    let order = match query.choice("order", &ORDERS)? {
        Some("name") => CsrOrder::Name,
        Some("account_tag") => CsrOrder::AccountTag,
        _ => CsrOrder::CreatedAt,
    };
    let direction = match query.choice("direction", &DIRECTIONS)? {
        Some("asc") => Direction::Asc,
        Some(_) => Direction::Desc,
        None if order == CsrOrder::CreatedAt => Direction::Desc,
        None => Direction::Asc,
    };
    let found = csrs::list(&state, &scope, order, direction, page).await?;
    Ok(Envelope::page(found, page))
}

#[utoipa::path(
    delete,
    path = "/client/v4/zones/{zone_id}/custom_csrs/{custom_csr_id}",
    operation_id = "zone_custom_csrs_delete",
    tag = "Custom CSRs",
    summary = "Delete a CSR and its private key",
    params(
        ZonePath,
        ("custom_csr_id" = Uuid, Path, description = "The CSR's id, in hyphenated form."),
    ),
    responses((status = 200, description = "The CSR and its key were deleted.", body = DeletedEnvelope)),
)]
#[instrument(skip_all, fields(scope = scope.kind(), csr_id = %id.0))]
pub async fn delete(
    State(state): State<AppState>,
    scope: Scope,
    id: CsrId,
) -> Result<Envelope<Value>, ApiError> {
    csrs::delete(&state, &scope, id.0).await?;
    Ok(Envelope::ok(json!({ "id": id.0 })))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::doc::{CsrCreateRequest, ListDirection, ListOrder};
    use super::*;
    use crate::http::openapi::schema_tests::properties;

    fn enum_values<T: utoipa::PartialSchema>() -> Vec<String> {
        let schema = serde_json::to_value(T::schema()).unwrap();
        serde_json::from_value(schema["enum"].clone()).unwrap()
    }

    #[test]
    fn the_request_schema_names_only_fields_the_parser_reads() {
        let properties = properties::<CsrCreateRequest>();
        assert_eq!(properties.len(), 10);
        for property in properties {
            // A value of the wrong type is reported at the field only if the parser reads it.
            let body = json!({ property.as_str(): 12345 });
            let errors = request::parse_draft(body.as_object().unwrap(), false).unwrap_err();
            let pointer = format!("/{property}");
            assert!(
                errors
                    .iter()
                    .any(|e| e.source.as_ref().is_some_and(|s| s.pointer == pointer)),
                "the parser does not read {property}: {errors:?}"
            );
        }
    }

    #[test]
    fn the_request_schema_shows_the_parser_limits() {
        let schema =
            serde_json::to_value(<CsrCreateRequest as utoipa::PartialSchema>::schema()).unwrap();
        let properties = &schema["properties"];
        assert_eq!(properties["sans"]["maxItems"], request::MAX_SANS);
        assert_eq!(properties["name"]["maxLength"], request::MAX_NAME_LEN);
        assert_eq!(
            properties["description"]["maxLength"],
            request::MAX_DESCRIPTION_LEN
        );
    }

    #[test]
    fn the_list_parameters_match_the_handler() {
        assert_eq!(enum_values::<ListOrder>(), ORDERS);
        assert_eq!(enum_values::<ListDirection>(), DIRECTIONS);
    }
}
