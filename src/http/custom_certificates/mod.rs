//! `custom_certificates` (zone Custom SSL): upload, list, get, edit, delete, prioritize.

pub mod doc;
pub(super) mod request;
pub mod view;

use axum::Router;
use axum::extract::State;
use axum::routing::{get, put};
use serde_json::{Map, Value, json};
use tracing::instrument;

use self::doc::{
    CertificateCreateRequest, CertificateEditRequest, CertificateEnvelope, CertificateListEnvelope,
    CertificatesEnvelope, ListQuery, PrioritizeRequest,
};
use self::view::CertificateView;
use super::envelope::{DeletedEnvelope, Envelope};
use super::error::{ApiError, Code, OperationErrors, code};
use super::extract::{IdParam, JsonObject, Pagination, PathId, QueryPairs, ZoneId, ZonePath};
use super::uploads::{UploadCodes, UploadFields, upload_error};
use crate::app::AppState;
use crate::app::certificates::{self, CertificateError};
use crate::store::CertificateFilter;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route(
            "/zones/{zone_id}/custom_certificates",
            get(list).post(create),
        )
        // Registered as its own path so "prioritize" is never taken for a certificate id.
        .route(
            "/zones/{zone_id}/custom_certificates/prioritize",
            put(prioritize),
        )
        .route(
            "/zones/{zone_id}/custom_certificates/{custom_certificate_id}",
            get(fetch).patch(edit).delete(delete),
        )
}

const UPLOAD_CODES: UploadCodes = UploadCodes {
    csr_id_invalid: code::HOSTNAME_CSR_ID_INVALID,
    csr_not_found: code::HOSTNAME_CSR_NOT_FOUND,
    both_keys: code::CERT_PARAMETERS,
    no_key: code::CERT_KEY_INVALID,
    certificate_empty: code::CERT_INVALID,
    certificate_unparsable: code::CERT_INVALID,
    several_leaves: code::HOSTNAME_CERT_SEVERAL_LEAVES,
    no_leaf: code::CERT_NO_LEAF,
    key_invalid: code::CERT_KEY_INVALID,
    key_mismatch: code::CERT_KEY_MISMATCH,
    untrusted: code::CERT_UNTRUSTED,
    validity: code::CERT_EXPIRES_SOON,
    hostname_not_covered: code::CERT_PARAMETERS,
    weak_signature: code::HOSTNAME_CERT_SIGNATURE,
};

const UPLOAD_FIELDS: UploadFields = UploadFields {
    certificate: "/certificate",
    csr_id: "/custom_csr_id",
    key: "/private_key",
    certificate_noun: "The certificate",
};

/// `{custom_certificate_id}`.
#[derive(Debug, Clone, Copy)]
pub struct CertificateIdParam;

impl IdParam for CertificateIdParam {
    const NAME: &'static str = "custom_certificate_id";
    const INVALID: Code = code::CERT_ID_INVALID;
    fn invalid_message(raw: &str) -> String {
        format!("Invalid custom certificate ID {raw:?}: use the id returned by the upload.")
    }
}

type CertificateId = PathId<CertificateIdParam>;

/// The answer to a refused certificate request. A key mismatch points at the key field the
/// request used; without one, the certificate's current key was used, named by its CSR id.
fn certificate_error(error: CertificateError, body: Option<&Map<String, Value>>) -> ApiError {
    match error {
        CertificateError::NotFound => ApiError::new(
            code::CERT_NOT_FOUND,
            "Custom certificate not found in this zone.",
        ),
        CertificateError::Upload(error) => {
            let named_key =
                body.is_some_and(|body| body.get("private_key").is_some_and(|key| !key.is_null()));
            upload_error(error, &UPLOAD_CODES, &UPLOAD_FIELDS, !named_key)
        }
        CertificateError::QuotaExceeded { limit } => ApiError::new(
            code::CERT_QUOTA,
            format!(
                "Quota reached: this zone already holds {limit} custom certificates, its quota \
                 (EDGECERT_QUOTA_CUSTOM_CERTIFICATES). Replace a certificate with PATCH instead \
                 of uploading another, or delete one, then try again."
            ),
        ),
        CertificateError::Internal(error) => error.into(),
    }
}

impl From<CertificateError> for ApiError {
    fn from(error: CertificateError) -> Self {
        certificate_error(error, None)
    }
}

/// The error answers of each operation, beyond those every route shares.
pub const ERRORS: &[OperationErrors] = &[
    (
        "zone_custom_certificates_list",
        &[&[code::INVALID_REQUEST_PARAMETERS]],
    ),
    (
        "zone_custom_certificates_create",
        &[UPLOAD, &[code::CERT_QUOTA]],
    ),
    ("zone_custom_certificates_get", &[ONE_CERTIFICATE]),
    ("zone_custom_certificates_edit", &[ONE_CERTIFICATE, UPLOAD]),
    ("zone_custom_certificates_delete", &[ONE_CERTIFICATE]),
    (
        "zone_custom_certificates_prioritize",
        &[&[code::CERT_PARAMETERS, code::CERT_NOT_FOUND]],
    ),
];

/// The answers of an operation on one certificate named in the path.
const ONE_CERTIFICATE: &[Code] = &[code::CERT_ID_INVALID, code::CERT_NOT_FOUND];

/// The answers to an upload's settings, certificate and key.
const UPLOAD: &[Code] = &[
    code::CERT_INVALID,
    code::CERT_PARAMETERS,
    code::HOSTNAME_BUNDLE_METHOD,
    code::HOSTNAME_CSR_ID_INVALID,
    code::CERT_KEY_INVALID,
    code::HOSTNAME_CERT_SEVERAL_LEAVES,
    code::CERT_NO_LEAF,
    code::CERT_KEY_MISMATCH,
    code::CERT_UNTRUSTED,
    code::CERT_EXPIRES_SOON,
    code::HOSTNAME_CERT_SIGNATURE,
    code::HOSTNAME_CSR_NOT_FOUND,
];

#[utoipa::path(
    post,
    path = "/client/v4/zones/{zone_id}/custom_certificates",
    operation_id = "zone_custom_certificates_create",
    tag = "Custom certificates",
    summary = "Upload a custom certificate",
    params(ZonePath),
    request_body = CertificateCreateRequest,
    responses((status = 200, description = "The certificate was uploaded.", body = CertificateEnvelope)),
)]
#[instrument(skip_all, fields(zone_id = %zone.0))]
pub async fn create(
    State(state): State<AppState>,
    zone: ZoneId,
    JsonObject(body): JsonObject,
) -> Result<Envelope<CertificateView>, ApiError> {
    let (certificate_pem, options, key) = request::parse_create(&body)?;
    let record = certificates::create(&state, &zone.0, certificate_pem, key, options)
        .await
        .map_err(|error| certificate_error(error, Some(&body)))?;
    Ok(Envelope::ok(CertificateView::at(record, state.clock.now())))
}

#[utoipa::path(
    patch,
    path = "/client/v4/zones/{zone_id}/custom_certificates/{custom_certificate_id}",
    operation_id = "zone_custom_certificates_edit",
    tag = "Custom certificates",
    summary = "Edit a custom certificate",
    params(
        ZonePath,
        ("custom_certificate_id" = Uuid, Path, description = "The certificate's id, in hyphenated form."),
    ),
    request_body = CertificateEditRequest,
    responses((status = 200, description = "The certificate was changed.", body = CertificateEnvelope)),
)]
#[instrument(skip_all, fields(zone_id = %zone.0, certificate_id = %id.0))]
pub async fn edit(
    State(state): State<AppState>,
    zone: ZoneId,
    id: CertificateId,
    JsonObject(body): JsonObject,
) -> Result<Envelope<CertificateView>, ApiError> {
    let current = certificates::get(&state, &zone.0, id.0).await?;
    let (options, replacement) = request::parse_edit(&body, &current.options)?;
    let record = certificates::edit(&state, current, options, replacement)
        .await
        .map_err(|error| certificate_error(error, Some(&body)))?;
    Ok(Envelope::ok(CertificateView::at(record, state.clock.now())))
}

#[utoipa::path(
    get,
    path = "/client/v4/zones/{zone_id}/custom_certificates/{custom_certificate_id}",
    operation_id = "zone_custom_certificates_get",
    tag = "Custom certificates",
    summary = "Get a custom certificate",
    params(
        ZonePath,
        ("custom_certificate_id" = Uuid, Path, description = "The certificate's id, in hyphenated form."),
    ),
    responses((status = 200, description = "The certificate.", body = CertificateEnvelope)),
)]
#[instrument(skip_all, fields(zone_id = %zone.0, certificate_id = %id.0))]
pub async fn fetch(
    State(state): State<AppState>,
    zone: ZoneId,
    id: CertificateId,
) -> Result<Envelope<CertificateView>, ApiError> {
    let record = certificates::get(&state, &zone.0, id.0).await?;
    Ok(Envelope::ok(CertificateView::at(record, state.clock.now())))
}

pub(crate) const MATCHES: [&str; 2] = ["any", "all"];

/// The list's `status` filter values, as the SDKs enumerate them; edgecert shows only
/// `active` and `expired`, so the others match nothing.
pub(crate) const STATUSES: [&str; 5] = ["active", "expired", "deleted", "pending", "initializing"];

#[utoipa::path(
    get,
    path = "/client/v4/zones/{zone_id}/custom_certificates",
    operation_id = "zone_custom_certificates_list",
    tag = "Custom certificates",
    summary = "List custom certificates",
    params(ZonePath, ListQuery),
    responses((status = 200, description = "A page of certificates, in priority order.", body = CertificateListEnvelope)),
)]
#[instrument(skip_all, fields(zone_id = %zone.0))]
pub async fn list(
    State(state): State<AppState>,
    zone: ZoneId,
    Pagination(page): Pagination,
    query: QueryPairs,
) -> Result<Envelope<Vec<CertificateView>>, ApiError> {
    // With `status` the only filter, `any` and `all` select the same certificates.
    query.choice("match", &MATCHES)?;
    let filter = CertificateFilter {
        status: query.choice("status", &STATUSES)?.map(str::to_owned),
    };
    let found = certificates::list(&state, &zone.0, &filter, page).await?;
    let now = state.clock.now();
    Ok(Envelope::page_with(found, page, |record| {
        CertificateView::at(record, now)
    }))
}

#[utoipa::path(
    delete,
    path = "/client/v4/zones/{zone_id}/custom_certificates/{custom_certificate_id}",
    operation_id = "zone_custom_certificates_delete",
    tag = "Custom certificates",
    summary = "Delete a custom certificate",
    params(
        ZonePath,
        ("custom_certificate_id" = Uuid, Path, description = "The certificate's id, in hyphenated form."),
    ),
    responses((status = 200, description = "The certificate was deleted.", body = DeletedEnvelope)),
)]
#[instrument(skip_all, fields(zone_id = %zone.0, certificate_id = %id.0))]
pub async fn delete(
    State(state): State<AppState>,
    zone: ZoneId,
    id: CertificateId,
) -> Result<Envelope<Value>, ApiError> {
    certificates::delete(&state, &zone.0, id.0).await?;
    Ok(Envelope::ok(json!({ "id": id.0 })))
}

/// `PUT .../prioritize` with `{"certificates": [{"id", "priority"}]}`; answers every
/// certificate of the zone in priority order.
#[utoipa::path(
    put,
    path = "/client/v4/zones/{zone_id}/custom_certificates/prioritize",
    operation_id = "zone_custom_certificates_prioritize",
    tag = "Custom certificates",
    summary = "Set certificates' priorities",
    params(ZonePath),
    request_body = PrioritizeRequest,
    responses((status = 200, description = "Every certificate of the zone, in priority order.", body = CertificatesEnvelope)),
)]
#[instrument(skip_all, fields(zone_id = %zone.0))]
pub async fn prioritize(
    State(state): State<AppState>,
    zone: ZoneId,
    JsonObject(body): JsonObject,
) -> Result<Envelope<Vec<CertificateView>>, ApiError> {
    let priorities = request::parse_priorities(&body)?;
    let all = certificates::prioritize(&state, &zone.0, &priorities).await?;
    let now = state.clock.now();
    Ok(Envelope::ok(
        all.into_iter()
            .map(|record| CertificateView::at(record, now))
            .collect(),
    ))
}

#[cfg(test)]
mod tests {
    use super::doc::{CertificateCreateRequest, CertificateEditRequest, ListMatch, PriorityEntry};
    use super::*;
    use crate::http::extract::parse_uuid;
    use crate::http::openapi::schema_tests::{object, pointers, properties};

    #[test]
    fn the_request_schemas_name_only_fields_the_parsers_read() {
        let create = properties::<CertificateCreateRequest>();
        assert_eq!(create.len(), 9);
        for property in &create {
            // A value of the wrong type is reported at the field only if the parser reads it.
            let body = object(json!({ property.as_str(): 12345 }));
            let error = request::parse_create(&body)
                .err()
                .unwrap_or_else(|| panic!("{property}"));
            assert!(
                pointers(error).contains(&format!("/{property}")),
                "{property}"
            );
        }
        // An edit reads the same fields through the same helpers, except `type`, refused.
        for property in properties::<CertificateEditRequest>() {
            assert!(
                create.contains(&property) && property != "type",
                "{property}"
            );
        }
        assert_eq!(properties::<PrioritizeRequest>(), ["certificates"]);
        let error = request::parse_priorities(&object(json!({"certificates": 12345}))).unwrap_err();
        assert_eq!(pointers(error), ["/certificates"]);
        let id = "7b163417-1d2b-4c84-a38a-2fb7a0cd7752";
        assert_eq!(properties::<PriorityEntry>(), ["id", "priority"]);
        let entry = json!({"id": id, "priority": 3});
        assert_eq!(
            request::parse_priorities(&object(json!({"certificates": [entry]}))).unwrap(),
            [(parse_uuid(id).unwrap(), 3)]
        );
        for property in properties::<PriorityEntry>() {
            let mut entry = entry.as_object().unwrap().clone();
            entry.remove(&property);
            assert!(request::parse_priorities(&object(json!({"certificates": [entry]}))).is_err());
        }
    }

    #[test]
    fn the_list_parameters_match_the_handler() {
        let schema = serde_json::to_value(<ListMatch as utoipa::PartialSchema>::schema()).unwrap();
        assert_eq!(schema["enum"], json!(MATCHES));
    }
}
