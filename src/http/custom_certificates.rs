//! `custom_certificates` (zone Custom SSL): upload, list, get, edit, delete, prioritize.

use axum::Router;
use axum::extract::{FromRequestParts, State};
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::routing::{get, put};
use serde::Serialize;
use serde_json::{Map, Value, json};
use uuid::Uuid;

use super::envelope::{Envelope, ResultInfo};
use super::error::{ApiError, ErrorDetail, code};
use super::extract::{JsonObject, QueryPairs, parse_uuid, path_param};
use super::openapi::{
    CertificateEnvelope, CertificateListEnvelope, CertificatesEnvelope, DeletedEnvelope,
    OperationErrors, codes,
};
use super::rfc3339;
use super::uploads::{self, KeySource, MIN_REMAINING_VALIDITY, Upload, UploadCodes};
use crate::app::AppState;
use crate::store::{CertificateOptions, CertificateRecord, PageRequest, Scope, StoreError};

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

const CODES: UploadCodes = UploadCodes {
    csr_id_invalid: code::HOSTNAME_CSR_ID_INVALID,
    csr_not_found: code::HOSTNAME_CSR_NOT_FOUND,
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

const BUNDLE_METHODS: [&str; 3] = ["ubiquitous", "optimal", "force"];
const TYPES: [&str; 2] = ["legacy_custom", "sni_custom"];
const GEO_LABELS: [&str; 3] = ["us", "eu", "highest_security"];

pub(super) struct CertificateId(Uuid);

impl<S: Send + Sync> FromRequestParts<S> for CertificateId {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let raw = path_param(parts, "custom_certificate_id")
            .await?
            .ok_or_else(|| ApiError::internal("route has no custom_certificate_id"))?;
        parse_uuid(&raw).map(CertificateId).ok_or_else(|| {
            ApiError::bad_request(
                code::CERT_ID_INVALID,
                format!(
                    "Invalid custom certificate ID {raw:?}: use the id returned by the upload."
                ),
            )
        })
    }
}

fn zone_of(scope: &Scope) -> Result<&str, ApiError> {
    match scope {
        Scope::Zone(zone_id) => Ok(zone_id),
        Scope::Account(_) => Err(ApiError::internal("custom certificates are zone-scoped")),
    }
}

fn store_error(error: StoreError) -> ApiError {
    match error {
        StoreError::NotFound => ApiError::new(
            StatusCode::NOT_FOUND,
            code::CERT_NOT_FOUND,
            "Custom certificate not found in this zone.",
        ),
        StoreError::ReferenceGone(_) => uploads::csr_not_found(&CODES),
        other => other.into(),
    }
}

/// A custom certificate as the API shows it; the private key is never part of it.
#[derive(Serialize, utoipa::ToSchema)]
pub(super) struct CertificateView {
    id: Uuid,
    zone_id: String,
    hosts: Vec<String>,
    issuer: String,
    signature: String,
    serial_number: String,
    /// Always `active`.
    #[schema(value_type = String, example = "active")]
    status: &'static str,
    bundle_method: String,
    /// `legacy_custom` or `sni_custom`.
    #[serde(rename = "type")]
    certificate_type: String,
    /// `{"label": "us" | "eu" | "highest_security"}`.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    geo_restrictions: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    policy_restrictions: Option<String>,
    priority: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    custom_csr_id: Option<Uuid>,
    uploaded_on: String,
    modified_on: String,
    expires_on: String,
    fingerprint_sha256: String,
    /// Always null.
    #[schema(value_type = Option<Object>)]
    keyless_server: Option<Value>,
}

impl From<CertificateRecord> for CertificateView {
    fn from(record: CertificateRecord) -> Self {
        let certificate = record.certificate;
        Self {
            id: record.id,
            zone_id: record.zone_id,
            hosts: certificate.hosts,
            issuer: certificate.issuer,
            signature: certificate.signature,
            serial_number: certificate.serial_number,
            status: "active",
            bundle_method: record.options.bundle_method,
            certificate_type: record.options.certificate_type,
            geo_restrictions: record.options.geo_restrictions,
            policy_restrictions: record.options.policy,
            priority: record.priority,
            custom_csr_id: record.custom_csr_id,
            uploaded_on: rfc3339(certificate.uploaded_on),
            modified_on: rfc3339(record.modified_on),
            expires_on: rfc3339(certificate.expires_on),
            fingerprint_sha256: certificate.fingerprint_sha256,
            keyless_server: None,
        }
    }
}

fn invalid(message: impl Into<String>, pointer: &str) -> ApiError {
    ApiError::many(
        StatusCode::BAD_REQUEST,
        vec![ErrorDetail::new(code::CERT_PARAMETERS, message).at(pointer)],
    )
}

fn text<'a>(
    body: &'a Map<String, Value>,
    field: &str,
    code: u32,
) -> Result<Option<&'a str>, ApiError> {
    match body.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(value)) => Ok(Some(value)),
        Some(_) => Err(ApiError::many(
            StatusCode::BAD_REQUEST,
            vec![
                ErrorDetail::new(code, format!("{field} must be a string."))
                    .at(format!("/{field}")),
            ],
        )),
    }
}

/// Applies the optional settings of a create or edit body onto `options`.
fn apply_options(
    body: &Map<String, Value>,
    options: &mut CertificateOptions,
) -> Result<(), ApiError> {
    if let Some(method) = text(body, "bundle_method", code::HOSTNAME_BUNDLE_METHOD)? {
        if !BUNDLE_METHODS.contains(&method) {
            return Err(ApiError::many(
                StatusCode::BAD_REQUEST,
                vec![ErrorDetail::new(
                    code::HOSTNAME_BUNDLE_METHOD,
                    format!("bundle_method {method:?} is not supported; use ubiquitous, optimal or force."),
                )
                .at("/bundle_method")],
            ));
        }
        options.bundle_method = method.to_string();
    }
    match body.get("geo_restrictions") {
        None => {}
        Some(Value::Null) => options.geo_restrictions = None,
        Some(Value::Object(geo))
            if geo
                .get("label")
                .and_then(Value::as_str)
                .is_some_and(|label| GEO_LABELS.contains(&label)) =>
        {
            options.geo_restrictions = Some(json!({ "label": geo["label"] }));
        }
        Some(_) => {
            return Err(invalid(
                "geo_restrictions must be {\"label\": \"us\"}, \"eu\" or \"highest_security\".",
                "/geo_restrictions",
            ));
        }
    }
    let policy = match text(body, "policy", code::CERT_PARAMETERS)? {
        Some(policy) => Some(policy),
        None => text(body, "policy_restrictions", code::CERT_PARAMETERS)?,
    };
    if let Some(policy) = policy {
        options.policy = Some(policy.to_string());
    }
    Ok(())
}

/// The key a create or edit names: `custom_csr_id` or `private_key`, or, for an edit that
/// names neither, the key the certificate already uses.
fn key_source<'a>(
    body: &'a Map<String, Value>,
    current: Option<&CertificateRecord>,
) -> Result<KeySource<'a>, ApiError> {
    match (
        text(body, "custom_csr_id", code::HOSTNAME_CSR_ID_INVALID)?,
        text(body, "private_key", code::CERT_KEY_INVALID)?,
        current,
    ) {
        (Some(csr_id), None, _) => Ok(KeySource::Csr(csr_id)),
        (None, Some(pem), _) => Ok(KeySource::Supplied(pem)),
        (Some(_), Some(_), _) => Err(invalid(
            "Give either custom_csr_id (the key stays in edgecert) or private_key, not both.",
            "/private_key",
        )),
        (None, None, Some(current)) => Ok(KeySource::Current {
            key: current.key,
            custom_csr_id: current.custom_csr_id,
        }),
        (None, None, None) => Err(ApiError::many(
            StatusCode::BAD_REQUEST,
            vec![ErrorDetail::new(
                code::CERT_KEY_INVALID,
                "The certificate needs its key: give custom_csr_id (of the CSR it was issued for) or private_key.",
            )
            .at("/private_key")],
        )),
    }
}

/// Checks a certificate against its key, in the documented order.
async fn check_upload(
    state: &AppState,
    zone_id: &str,
    key: KeySource<'_>,
    certificate_pem: &str,
    options: &CertificateOptions,
) -> Result<uploads::Accepted, ApiError> {
    let key_field = match key {
        KeySource::Supplied(_) => "/private_key",
        _ => "/custom_csr_id",
    };
    uploads::accept(
        state,
        Upload {
            zone_id,
            certificate_pem,
            key,
            hostname: None,
            // "force" is the documented way to upload a certificate the trust store cannot bundle.
            verify_trust: options.bundle_method != "force",
            min_remaining: Some(MIN_REMAINING_VALIDITY),
            certificate_field: "/certificate",
            key_field,
        },
        &CODES,
    )
    .await
}

/// The error answers of each operation, beyond those every route shares.
pub(super) const ERRORS: &[OperationErrors] = &[
    (
        "zone_custom_certificates_list",
        &[(400, codes![INVALID_REQUEST_PARAMETERS])],
    ),
    (
        "zone_custom_certificates_create",
        &[
            (
                400,
                codes![
                    CERT_INVALID,
                    CERT_PARAMETERS,
                    HOSTNAME_BUNDLE_METHOD,
                    HOSTNAME_CSR_ID_INVALID,
                    CERT_KEY_INVALID,
                    HOSTNAME_CERT_SEVERAL_LEAVES,
                    CERT_NO_LEAF,
                    CERT_KEY_MISMATCH,
                    CERT_UNTRUSTED,
                    CERT_EXPIRES_SOON,
                    HOSTNAME_CERT_SIGNATURE,
                ],
            ),
            (404, codes![HOSTNAME_CSR_NOT_FOUND]),
        ],
    ),
    (
        "zone_custom_certificates_get",
        &[
            (400, codes![CERT_ID_INVALID]),
            (404, codes![CERT_NOT_FOUND]),
        ],
    ),
    (
        "zone_custom_certificates_edit",
        &[
            (
                400,
                codes![
                    CERT_ID_INVALID,
                    CERT_INVALID,
                    CERT_PARAMETERS,
                    HOSTNAME_BUNDLE_METHOD,
                    HOSTNAME_CSR_ID_INVALID,
                    CERT_KEY_INVALID,
                    HOSTNAME_CERT_SEVERAL_LEAVES,
                    CERT_NO_LEAF,
                    CERT_KEY_MISMATCH,
                    CERT_UNTRUSTED,
                    CERT_EXPIRES_SOON,
                    HOSTNAME_CERT_SIGNATURE,
                ],
            ),
            (404, codes![CERT_NOT_FOUND, HOSTNAME_CSR_NOT_FOUND]),
        ],
    ),
    (
        "zone_custom_certificates_delete",
        &[
            (400, codes![CERT_ID_INVALID]),
            (404, codes![CERT_NOT_FOUND]),
        ],
    ),
    (
        "zone_custom_certificates_prioritize",
        &[
            (400, codes![CERT_PARAMETERS]),
            (404, codes![CERT_NOT_FOUND]),
        ],
    ),
];

/// The body of an upload.
#[derive(utoipa::ToSchema)]
#[expect(
    dead_code,
    reason = "a schema for the OpenAPI document; the parser reads the JSON itself"
)]
pub(super) struct CertificateCreateRequest {
    /// The PEM certificate, with its chain.
    certificate: String,
    /// The certificate's PEM private key; or give `custom_csr_id`, not both.
    private_key: Option<String>,
    /// The id of the custom CSR the certificate was issued for; its key stays in edgecert.
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
    policy: Option<String>,
    /// Read when `policy` is absent.
    policy_restrictions: Option<String>,
}

/// The body of an edit: absent fields stay as they are. A new certificate alone keeps the
/// current key; a new key alone is checked against the current certificate.
#[derive(utoipa::ToSchema)]
#[expect(
    dead_code,
    reason = "a schema for the OpenAPI document; the parser reads the JSON itself"
)]
pub(super) struct CertificateEditRequest {
    /// A new PEM certificate, with its chain.
    certificate: Option<String>,
    /// A new PEM private key; or give `custom_csr_id`, not both.
    private_key: Option<String>,
    /// The id of the custom CSR the certificate was issued for.
    custom_csr_id: Option<String>,
    /// `ubiquitous`, `optimal` or `force`.
    bundle_method: Option<String>,
    /// `{"label": "us" | "eu" | "highest_security"}`; null clears it.
    #[schema(value_type = Option<Object>)]
    geo_restrictions: Option<Value>,
    /// Policy restrictions, as text.
    policy: Option<String>,
    /// Read when `policy` is absent.
    policy_restrictions: Option<String>,
}

/// The body of a prioritize request.
#[derive(utoipa::ToSchema)]
#[expect(
    dead_code,
    reason = "a schema for the OpenAPI document; the parser reads the JSON itself"
)]
pub(super) struct PrioritizeRequest {
    #[schema(min_items = 1)]
    certificates: Vec<PriorityEntry>,
}

/// A certificate's new priority.
#[derive(utoipa::ToSchema)]
#[expect(
    dead_code,
    reason = "a schema for the OpenAPI document; the parser reads the JSON itself"
)]
pub(super) struct PriorityEntry {
    id: Uuid,
    priority: i64,
}

/// The certificate, settings and key of an upload, checked for shape in the documented order.
fn parse_create(
    body: &Map<String, Value>,
) -> Result<(&str, CertificateOptions, KeySource<'_>), ApiError> {
    let certificate_pem = text(body, "certificate", code::CERT_INVALID)?.unwrap_or_default();
    let mut options = CertificateOptions {
        bundle_method: "ubiquitous".into(),
        certificate_type: "legacy_custom".into(),
        geo_restrictions: None,
        policy: None,
    };
    if let Some(kind) = text(body, "type", code::CERT_PARAMETERS)? {
        if !TYPES.contains(&kind) {
            return Err(invalid(
                format!("type {kind:?} is not supported; use legacy_custom or sni_custom."),
                "/type",
            ));
        }
        options.certificate_type = kind.to_string();
    }
    apply_options(body, &mut options)?;
    let key = key_source(body, None)?;
    Ok((certificate_pem, options, key))
}

#[utoipa::path(
    post,
    path = "/client/v4/zones/{zone_id}/custom_certificates",
    operation_id = "zone_custom_certificates_create",
    tag = "Custom certificates",
    summary = "Upload a custom certificate",
    params(("zone_id" = String, Path, pattern = "^[0-9a-f]{32}$", description = "Zone identifier: 32 lowercase hexadecimal characters.")),
    request_body = CertificateCreateRequest,
    responses((status = 200, description = "The certificate was uploaded.", body = CertificateEnvelope)),
)]
pub(super) async fn create(
    State(state): State<AppState>,
    scope: Scope,
    JsonObject(body): JsonObject,
) -> Result<Envelope<CertificateView>, ApiError> {
    let zone_id = zone_of(&scope)?;
    let (certificate_pem, options, key) = parse_create(&body)?;
    let accepted = check_upload(&state, zone_id, key, certificate_pem, &options).await?;
    let record = CertificateRecord {
        id: Uuid::new_v4(),
        zone_id: zone_id.to_string(),
        key: accepted.key,
        custom_csr_id: accepted.custom_csr_id,
        modified_on: accepted.certificate.uploaded_on,
        uploaded_on: accepted.certificate.uploaded_on,
        certificate: accepted.certificate,
        options,
        priority: 0,
    };
    state
        .store
        .insert_certificate(&record, accepted.new_key.as_ref())
        .await
        .map_err(store_error)?;
    tracing::debug!(certificate_id = %record.id, "custom certificate uploaded");
    Ok(Envelope::ok(record.into()))
}

#[utoipa::path(
    patch,
    path = "/client/v4/zones/{zone_id}/custom_certificates/{custom_certificate_id}",
    operation_id = "zone_custom_certificates_edit",
    tag = "Custom certificates",
    summary = "Edit a custom certificate",
    params(
        ("zone_id" = String, Path, pattern = "^[0-9a-f]{32}$", description = "Zone identifier: 32 lowercase hexadecimal characters."),
        ("custom_certificate_id" = Uuid, Path, description = "The certificate's id, in hyphenated form."),
    ),
    request_body = CertificateEditRequest,
    responses((status = 200, description = "The certificate was changed.", body = CertificateEnvelope)),
)]
pub(super) async fn edit(
    State(state): State<AppState>,
    scope: Scope,
    CertificateId(id): CertificateId,
    JsonObject(body): JsonObject,
) -> Result<Envelope<CertificateView>, ApiError> {
    let zone_id = zone_of(&scope)?;
    let mut record = state
        .store
        .get_certificate(zone_id, id)
        .await
        .map_err(store_error)?;
    if body.contains_key("type") {
        return Err(invalid(
            "type cannot be changed: delete the certificate and upload it again with the new type.",
            "/type",
        ));
    }
    let replaced_key = record.key;
    apply_options(&body, &mut record.options)?;
    let replaces_certificate = ["certificate", "private_key", "custom_csr_id"]
        .iter()
        .any(|field| body.get(*field).is_some_and(|v| !v.is_null()));
    let mut new_key = None;
    if replaces_certificate {
        // A new key alone is checked against the current certificate, and vice versa.
        let certificate_pem = match text(&body, "certificate", code::CERT_INVALID)? {
            Some(pem) => pem.to_string(),
            None => record.certificate.bundle_pem.clone(),
        };
        let key = key_source(&body, Some(&record))?;
        let accepted =
            check_upload(&state, zone_id, key, &certificate_pem, &record.options).await?;
        record.key = accepted.key;
        record.custom_csr_id = accepted.custom_csr_id;
        record.certificate = accepted.certificate;
        new_key = accepted.new_key;
    }
    record.modified_on = crate::store::now();
    state
        .store
        .update_certificate(&record, new_key.as_ref(), replaced_key)
        .await
        .map_err(store_error)?;
    Ok(Envelope::ok(record.into()))
}

#[utoipa::path(
    get,
    path = "/client/v4/zones/{zone_id}/custom_certificates/{custom_certificate_id}",
    operation_id = "zone_custom_certificates_get",
    tag = "Custom certificates",
    summary = "Get a custom certificate",
    params(
        ("zone_id" = String, Path, pattern = "^[0-9a-f]{32}$", description = "Zone identifier: 32 lowercase hexadecimal characters."),
        ("custom_certificate_id" = Uuid, Path, description = "The certificate's id, in hyphenated form."),
    ),
    responses((status = 200, description = "The certificate.", body = CertificateEnvelope)),
)]
pub(super) async fn fetch(
    State(state): State<AppState>,
    scope: Scope,
    CertificateId(id): CertificateId,
) -> Result<Envelope<CertificateView>, ApiError> {
    let record = state
        .store
        .get_certificate(zone_of(&scope)?, id)
        .await
        .map_err(store_error)?;
    Ok(Envelope::ok(record.into()))
}

const MATCHES: [&str; 2] = ["any", "all"];

/// Query parameters of the list operation.
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[expect(
    dead_code,
    reason = "a schema for the OpenAPI document; the parser reads the JSON itself"
)]
struct ListQuery {
    /// Page number, from 1.
    #[param(minimum = 1, maximum = 4294967295_u64, default = 1)]
    page: Option<u64>,
    /// Items per page.
    #[param(minimum = 5, maximum = 50, default = 20)]
    per_page: Option<u64>,
    /// Accepted for the SDKs (`any` or `all`) and checked; there are no filters to combine.
    #[param(rename = "match", inline)]
    match_: Option<ListMatch>,
}

#[derive(utoipa::ToSchema)]
#[schema(rename_all = "snake_case")]
#[expect(
    dead_code,
    reason = "a schema for the OpenAPI document; the parser reads the JSON itself"
)]
enum ListMatch {
    Any,
    All,
}

#[utoipa::path(
    get,
    path = "/client/v4/zones/{zone_id}/custom_certificates",
    operation_id = "zone_custom_certificates_list",
    tag = "Custom certificates",
    summary = "List custom certificates",
    params(("zone_id" = String, Path, pattern = "^[0-9a-f]{32}$", description = "Zone identifier: 32 lowercase hexadecimal characters."), ListQuery),
    responses((status = 200, description = "A page of certificates, in priority order.", body = CertificateListEnvelope)),
)]
pub(super) async fn list(
    State(state): State<AppState>,
    scope: Scope,
    query: QueryPairs,
) -> Result<Envelope<Vec<CertificateView>>, ApiError> {
    let page = query.number("page", 1, 1..=u64::from(u32::MAX))?;
    let per_page = query.number("per_page", 20, 5..=50)?;
    query.choice("match", &MATCHES)?;
    let found = state
        .store
        .list_certificates(zone_of(&scope)?, PageRequest { page, per_page })
        .await?;
    let info = ResultInfo::new(page, per_page, found.items.len(), found.total_count);
    Ok(Envelope::list(
        found.items.into_iter().map(CertificateView::from).collect(),
        info,
    ))
}

#[utoipa::path(
    delete,
    path = "/client/v4/zones/{zone_id}/custom_certificates/{custom_certificate_id}",
    operation_id = "zone_custom_certificates_delete",
    tag = "Custom certificates",
    summary = "Delete a custom certificate",
    params(
        ("zone_id" = String, Path, pattern = "^[0-9a-f]{32}$", description = "Zone identifier: 32 lowercase hexadecimal characters."),
        ("custom_certificate_id" = Uuid, Path, description = "The certificate's id, in hyphenated form."),
    ),
    responses((status = 200, description = "The certificate was deleted.", body = DeletedEnvelope)),
)]
pub(super) async fn delete(
    State(state): State<AppState>,
    scope: Scope,
    CertificateId(id): CertificateId,
) -> Result<Envelope<Value>, ApiError> {
    state
        .store
        .delete_certificate(zone_of(&scope)?, id)
        .await
        .map_err(store_error)?;
    tracing::debug!(certificate_id = %id, "custom certificate deleted");
    Ok(Envelope::ok(json!({ "id": id })))
}

/// `PUT .../prioritize` with `{"certificates": [{"id", "priority"}]}`; answers every
/// certificate of the zone in priority order.
#[utoipa::path(
    put,
    path = "/client/v4/zones/{zone_id}/custom_certificates/prioritize",
    operation_id = "zone_custom_certificates_prioritize",
    tag = "Custom certificates",
    summary = "Set certificates' priorities",
    params(("zone_id" = String, Path, pattern = "^[0-9a-f]{32}$", description = "Zone identifier: 32 lowercase hexadecimal characters.")),
    request_body = PrioritizeRequest,
    responses((status = 200, description = "Every certificate of the zone, in priority order.", body = CertificatesEnvelope)),
)]
pub(super) async fn prioritize(
    State(state): State<AppState>,
    scope: Scope,
    JsonObject(body): JsonObject,
) -> Result<Envelope<Vec<CertificateView>>, ApiError> {
    let zone_id = zone_of(&scope)?;
    let priorities = parse_priorities(&body)?;
    state
        .store
        .prioritize_certificates(zone_id, &priorities)
        .await
        .map_err(store_error)?;
    let mut all = Vec::new();
    for page in 1.. {
        let found = state
            .store
            .list_certificates(zone_id, PageRequest { page, per_page: 50 })
            .await?;
        let done = found.items.len() < 50;
        all.extend(found.items.into_iter().map(CertificateView::from));
        if done {
            break;
        }
    }
    Ok(Envelope::ok(all))
}

fn parse_priorities(body: &Map<String, Value>) -> Result<Vec<(Uuid, i64)>, ApiError> {
    let entries = body
        .get("certificates")
        .and_then(Value::as_array)
        .filter(|entries| !entries.is_empty())
        .ok_or_else(|| {
            invalid(
                "certificates must be a non-empty array of {\"id\": ..., \"priority\": ...}.",
                "/certificates",
            )
        })?;
    let mut priorities = Vec::with_capacity(entries.len());
    for (index, entry) in entries.iter().enumerate() {
        let id = entry.get("id").and_then(Value::as_str).and_then(parse_uuid);
        let priority = entry.get("priority").and_then(Value::as_i64);
        match (id, priority) {
            (Some(id), Some(priority)) => priorities.push((id, priority)),
            _ => {
                return Err(invalid(
                    format!(
                        "certificates[{index}] needs an \"id\" (a certificate id) and a whole-number \"priority\"."
                    ),
                    &format!("/certificates/{index}"),
                ));
            }
        }
    }
    Ok(priorities)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::openapi::schema_tests::{object, pointers, properties};

    #[test]
    fn the_request_schemas_name_only_fields_the_parsers_read() {
        let create = properties::<CertificateCreateRequest>();
        assert_eq!(create.len(), 8);
        for property in &create {
            // A value of the wrong type is reported at the field only if the parser reads it.
            let body = object(json!({ property.as_str(): 12345 }));
            let error = parse_create(&body)
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
        let error = parse_priorities(&object(json!({"certificates": 12345}))).unwrap_err();
        assert_eq!(pointers(error), ["/certificates"]);
        let id = "7b163417-1d2b-4c84-a38a-2fb7a0cd7752";
        assert_eq!(properties::<PriorityEntry>(), ["id", "priority"]);
        let entry = json!({"id": id, "priority": 3});
        assert_eq!(
            parse_priorities(&object(json!({"certificates": [entry]}))).unwrap(),
            [(parse_uuid(id).unwrap(), 3)]
        );
        for property in properties::<PriorityEntry>() {
            let mut entry = entry.as_object().unwrap().clone();
            entry.remove(&property);
            assert!(parse_priorities(&object(json!({"certificates": [entry]}))).is_err());
        }
    }

    #[test]
    fn the_list_parameters_match_the_handler() {
        let schema = serde_json::to_value(<ListMatch as utoipa::PartialSchema>::schema()).unwrap();
        assert_eq!(schema["enum"], json!(MATCHES));
    }
}
