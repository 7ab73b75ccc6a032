//! `custom_hostnames` (zone scope): create, list, get, edit, delete, with uploaded certificates.

mod bundle;
pub mod doc;
pub mod packs;
pub mod quota;
pub(crate) mod request;
mod ssl_settings;
pub mod view;

use std::collections::HashMap;

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::{Value, json};
use tracing::instrument;

use self::doc::{
    HostnameCreateRequest, HostnameDeletedEnvelope, HostnameEditRequest, HostnameEnvelope,
    HostnameListEnvelope, ListQuery,
};
use self::view::HostnameView;
use super::envelope::Envelope;
use super::error::{ApiError, Code, OperationErrors, code};
use super::extract::{IdParam, JsonObject, Pagination, PathId, QueryPairs, ZoneId, ZonePath};
use super::uploads::{UploadCodes, UploadFields, upload_error};
use crate::app::hostnames::{self, HostnameError};
use crate::app::{AppState, controls};
use crate::store::HostnameRecord;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/zones/{zone_id}/custom_hostnames", get(list).post(create))
        // A sibling of the id route, registered so it is never parsed as a hostname id
        // (`fallback_origin`, the other, is in `http::fallback_origin`).
        .route("/zones/{zone_id}/custom_hostnames/quota", get(quota::fetch))
        .route(
            "/zones/{zone_id}/custom_hostnames/{custom_hostname_id}",
            get(fetch).patch(edit).delete(delete),
        )
        .route(
            "/zones/{zone_id}/custom_hostnames/{custom_hostname_id}/certificate_pack/\
             {certificate_pack_id}/certificates/{certificate_id}",
            axum::routing::put(packs::replace).delete(packs::delete),
        )
}

pub(super) const UPLOAD_CODES: UploadCodes = UploadCodes {
    csr_id_invalid: code::HOSTNAME_CSR_ID_INVALID,
    csr_not_found: code::HOSTNAME_CSR_NOT_FOUND,
    both_keys: code::HOSTNAME_SSL_ATTRIBUTE,
    no_key: code::HOSTNAME_KEY_INVALID,
    certificate_empty: code::HOSTNAME_CERT_EMPTY,
    certificate_unparsable: code::HOSTNAME_CERT_UNPARSABLE,
    several_leaves: code::HOSTNAME_CERT_SEVERAL_LEAVES,
    no_leaf: code::HOSTNAME_CERT_NO_LEAF,
    key_invalid: code::HOSTNAME_KEY_INVALID,
    key_mismatch: code::HOSTNAME_KEY_MISMATCH,
    untrusted: code::HOSTNAME_CERT_UNTRUSTED,
    validity: code::HOSTNAME_CERT_UNTRUSTED,
    hostname_not_covered: code::HOSTNAME_NOT_COVERED,
    weak_signature: code::HOSTNAME_CERT_SIGNATURE,
};

const UPLOAD_FIELDS: UploadFields = UploadFields {
    certificate: "/ssl/custom_certificate",
    csr_id: "/ssl/custom_csr_id",
    key: "/ssl/custom_key",
    certificate_noun: "ssl.custom_certificate",
};

/// `{custom_hostname_id}`.
#[derive(Debug, Clone, Copy)]
pub struct HostnameIdParam;

impl IdParam for HostnameIdParam {
    const NAME: &'static str = "custom_hostname_id";
    const INVALID: Code = code::HOSTNAME_ID_INVALID;
    fn invalid_message(raw: &str) -> String {
        format!(
            "Invalid custom hostname ID {raw:?}: use the id returned when the hostname was created."
        )
    }
}

pub(super) type HostnameId = PathId<HostnameIdParam>;

/// The answer to a refused hostname request; `named_csr` tells which key field an upload used.
pub(super) fn hostname_error(error: HostnameError, named_csr: bool) -> ApiError {
    match error {
        HostnameError::NotFound => ApiError::new(
            code::HOSTNAME_NOT_FOUND,
            "Custom hostname not found in this zone.",
        ),
        HostnameError::Duplicate => ApiError::new(
            code::HOSTNAME_DUPLICATE,
            "Duplicate custom hostname found: this zone already has it. Edit or delete the existing one.",
        ),
        HostnameError::Immutable => ApiError::new(
            code::HOSTNAME_IMMUTABLE,
            "Modifying the custom hostname is not supported: delete it and create the new one.",
        ),
        HostnameError::KeyWithoutCertificate => ApiError::field(
            code::HOSTNAME_CERT_EMPTY,
            "/ssl/custom_certificate",
            "ssl.custom_certificate is required with ssl.custom_csr_id or ssl.custom_key.",
        ),
        HostnameError::Upload(error) => {
            upload_error(error, &UPLOAD_CODES, &UPLOAD_FIELDS, named_csr)
        }
        HostnameError::BundleUpload {
            index,
            named_csr,
            error,
        } => upload_error(error, &UPLOAD_CODES, &UPLOAD_FIELDS, named_csr)
            .repointed("/ssl/", &format!("/ssl/custom_cert_bundle/{index}/")),
        // Cloudflare documents the rule (the create endpoint: "One certificate in the bundle
        // must use an RSA, and the other must use an ECDSA") but no code of its own for
        // breaking it: 1434, its "SSL attribute invalid" (developers.cloudflare.com, SSL for
        // SaaS > Status codes > Custom hostnames), with 400.
        HostnameError::BundleKeyTypes => ApiError::field(
            code::HOSTNAME_SSL_ATTRIBUTE,
            "/ssl/custom_cert_bundle",
            "ssl.custom_cert_bundle needs one RSA and one ECDSA certificate: both of these use \
             the same key type.",
        ),
        HostnameError::PackCertificateNotFound => ApiError::new(
            code::HOSTNAME_NOT_FOUND,
            "Certificate not found: this custom hostname has no such certificate pack \
             (its ssl.id) or no such certificate in it (one of ssl.certificates[].id).",
        ),
        HostnameError::PackKeyTypeChanged { expected } => ApiError::field(
            code::HOSTNAME_SSL_ATTRIBUTE,
            "/custom_certificate",
            format!(
                "The certificate replaced uses an {} key: replace it with an {} certificate \
                 (a pack holds one RSA and one ECDSA certificate).",
                expected.as_str(),
                expected.as_str()
            ),
        ),
        HostnameError::PackLastCertificate => ApiError::new(
            code::HOSTNAME_SSL_ATTRIBUTE,
            "This is the only certificate of the pack, which cannot be deleted: replace it \
             (PUT), or delete the custom hostname.",
        ),
        HostnameError::QuotaExceeded { limit: 0 } => ApiError::new(
            code::HOSTNAME_NO_QUOTA,
            "No quota has been allocated for this zone: EDGECERT_QUOTA_CUSTOM_HOSTNAMES is 0. \
             Raise it to create custom hostnames.",
        ),
        HostnameError::QuotaExceeded { limit } => ApiError::new(
            code::HOSTNAME_QUOTA_EXCEEDED,
            format!(
                "Quota exceeded: this zone already holds {limit} custom hostnames, its hard cap \
                 (EDGECERT_QUOTA_CUSTOM_HOSTNAMES_HARD_CAP, or EDGECERT_QUOTA_CUSTOM_HOSTNAMES). \
                 Delete unused hostnames or raise the cap, then try again."
            ),
        ),
        HostnameError::Internal(error) => error.into(),
    }
}

impl From<HostnameError> for ApiError {
    fn from(error: HostnameError) -> Self {
        hostname_error(error, false)
    }
}

/// Whether a body's upload names its key by `ssl.custom_csr_id`.
fn names_csr(body: &serde_json::Map<String, Value>) -> bool {
    body.get("ssl")
        .and_then(|ssl| ssl.get("custom_csr_id"))
        .is_some_and(|id| !id.is_null())
}

/// The error answers of each operation, beyond those every route shares.
pub const ERRORS: &[OperationErrors] = &[
    (
        "zone_custom_hostnames_list",
        &[&[
            code::INVALID_REQUEST_PARAMETERS,
            code::HOSTNAME_ID_INVALID,
            code::HOSTNAME_FILTER_INVALID,
            code::HOSTNAME_FILTER_CONFLICT,
        ]],
    ),
    (
        "zone_custom_hostnames_create",
        &[
            &[
                code::HOSTNAME_INVALID,
                code::HOSTNAME_NON_ASCII,
                code::HOSTNAME_RESERVED_TLD,
                code::HOSTNAME_NO_PUBLIC_SUFFIX,
                code::HOSTNAME_EXAMPLE_DOMAIN,
            ],
            SETTINGS,
            &[
                code::HOSTNAME_DUPLICATE,
                code::HOSTNAME_NO_QUOTA,
                code::HOSTNAME_QUOTA_EXCEEDED,
            ],
        ],
    ),
    ("zone_custom_hostnames_quota", &[]),
    ("zone_custom_hostnames_get", &[ONE_HOSTNAME]),
    (
        "zone_custom_hostnames_edit",
        &[
            ONE_HOSTNAME,
            SETTINGS,
            &[code::HOSTNAME_IMMUTABLE, code::HOSTNAME_DUPLICATE],
        ],
    ),
    ("zone_custom_hostnames_delete", &[ONE_HOSTNAME]),
    (
        "zone_custom_hostnames_pack_certificate_replace",
        &[ONE_HOSTNAME, packs::REPLACE_ERRORS],
    ),
    (
        "zone_custom_hostnames_pack_certificate_delete",
        &[ONE_HOSTNAME, &[code::HOSTNAME_SSL_ATTRIBUTE]],
    ),
];

/// The answers of an operation on one hostname named in the path.
const ONE_HOSTNAME: &[Code] = &[code::HOSTNAME_ID_INVALID, code::HOSTNAME_NOT_FOUND];

/// The answers to a create or edit body's settings and certificate upload.
const SETTINGS: &[Code] = &[
    code::HOSTNAME_METADATA,
    code::HOSTNAME_ORIGIN,
    code::HOSTNAME_SSL_METHOD,
    code::HOSTNAME_SSL_TYPE,
    code::HOSTNAME_BUNDLE_METHOD,
    code::HOSTNAME_SSL_ATTRIBUTE,
    code::HOSTNAME_CSR_ID_INVALID,
    code::HOSTNAME_CERT_EMPTY,
    code::HOSTNAME_CERT_UNPARSABLE,
    code::HOSTNAME_CERT_SEVERAL_LEAVES,
    code::HOSTNAME_CERT_NO_LEAF,
    code::HOSTNAME_KEY_INVALID,
    code::HOSTNAME_KEY_MISMATCH,
    code::HOSTNAME_CERT_UNTRUSTED,
    code::HOSTNAME_NOT_COVERED,
    code::HOSTNAME_CERT_SIGNATURE,
    code::HOSTNAME_CSR_NOT_FOUND,
];

#[utoipa::path(
    post,
    path = "/client/v4/zones/{zone_id}/custom_hostnames",
    operation_id = "zone_custom_hostnames_create",
    tag = "Custom hostnames",
    summary = "Create a custom hostname",
    params(ZonePath),
    request_body = HostnameCreateRequest,
    responses((status = 201, description = "The hostname was created.", body = HostnameEnvelope)),
)]
#[instrument(skip_all, fields(zone_id = %zone.0))]
pub async fn create(
    State(state): State<AppState>,
    zone: ZoneId,
    JsonObject(body): JsonObject,
) -> Result<Response, ApiError> {
    let hostname = request::check_hostname(&body, state.strict)?;
    let settings = request::parse_settings(&body)?;
    let record = hostnames::create(&state, &zone.0, hostname, settings)
        .await
        .map_err(|error| hostname_error(error, names_csr(&body)))?;
    // A new hostname has nothing forced on it yet.
    let view = HostnameView::new(record, state.clock.now(), None);
    let mut envelope = Envelope::created(view);
    if let Some(notice) = quota::past_allocation(&state, &zone.0).await? {
        envelope = envelope.with_notice(notice);
    }
    Ok(envelope.into_response())
}

#[utoipa::path(
    patch,
    path = "/client/v4/zones/{zone_id}/custom_hostnames/{custom_hostname_id}",
    operation_id = "zone_custom_hostnames_edit",
    tag = "Custom hostnames",
    summary = "Edit a custom hostname",
    params(
        ZonePath,
        ("custom_hostname_id" = Uuid, Path, description = "The custom hostname's id, in hyphenated form."),
    ),
    request_body = HostnameEditRequest,
    responses((status = 202, description = "The hostname was changed.", body = HostnameEnvelope)),
)]
#[instrument(skip_all, fields(zone_id = %zone.0, hostname_id = %id.0))]
pub async fn edit(
    State(state): State<AppState>,
    zone: ZoneId,
    id: HostnameId,
    JsonObject(body): JsonObject,
) -> Result<Response, ApiError> {
    let current = hostnames::get(&state, &zone.0, id.0).await?;
    let requested = body.get("hostname").map(Value::as_str);
    hostnames::check_unchanged(&current, requested)?;
    let settings = request::parse_settings(&body)?;
    let record = hostnames::edit(&state, current, settings)
        .await
        .map_err(|error| hostname_error(error, names_csr(&body)))?;
    let view = shown(&state, record).await?;
    let mut response = Envelope::ok(view).into_response();
    *response.status_mut() = StatusCode::ACCEPTED;
    Ok(response)
}

#[utoipa::path(
    get,
    path = "/client/v4/zones/{zone_id}/custom_hostnames/{custom_hostname_id}",
    operation_id = "zone_custom_hostnames_get",
    tag = "Custom hostnames",
    summary = "Get a custom hostname",
    params(
        ZonePath,
        ("custom_hostname_id" = Uuid, Path, description = "The custom hostname's id, in hyphenated form."),
    ),
    responses((status = 200, description = "The hostname.", body = HostnameEnvelope)),
)]
#[instrument(skip_all, fields(zone_id = %zone.0, hostname_id = %id.0))]
pub async fn fetch(
    State(state): State<AppState>,
    zone: ZoneId,
    id: HostnameId,
) -> Result<Envelope<HostnameView>, ApiError> {
    let record = hostnames::get(&state, &zone.0, id.0).await?;
    Ok(Envelope::ok(shown(&state, record).await?))
}

#[utoipa::path(
    get,
    path = "/client/v4/zones/{zone_id}/custom_hostnames",
    operation_id = "zone_custom_hostnames_list",
    tag = "Custom hostnames",
    summary = "List custom hostnames",
    params(ZonePath, ListQuery),
    responses((status = 200, description = "A page of hostnames.", body = HostnameListEnvelope)),
)]
#[instrument(skip_all, fields(zone_id = %zone.0))]
pub async fn list(
    State(state): State<AppState>,
    zone: ZoneId,
    Pagination(page): Pagination,
    query: QueryPairs,
) -> Result<Envelope<Vec<HostnameView>>, ApiError> {
    let filter = request::parse_filter(&query)?;
    let found = hostnames::list(&state, &zone.0, &filter, page).await?;
    let forced = if found.items.is_empty() {
        HashMap::new()
    } else {
        controls::forced_statuses(&state, &zone.0, None).await?
    };
    let now = state.clock.now();
    Ok(Envelope::page_with(found, page, |record| {
        let forced = forced.get(&record.id);
        HostnameView::new(record, now, forced)
    }))
}

/// One hostname as the API shows it now, with whatever the test controls force on it.
pub(super) async fn shown(
    state: &AppState,
    record: HostnameRecord,
) -> Result<HostnameView, ApiError> {
    let forced = controls::forced_statuses(state, &record.zone_id, Some(record.id)).await?;
    let forced = forced.get(&record.id);
    Ok(HostnameView::new(record, state.clock.now(), forced))
}

/// The official Python SDK reads the deleted id from the top level of the body, so it is
/// given there as well as in `result`.
#[utoipa::path(
    delete,
    path = "/client/v4/zones/{zone_id}/custom_hostnames/{custom_hostname_id}",
    operation_id = "zone_custom_hostnames_delete",
    tag = "Custom hostnames",
    summary = "Delete a custom hostname",
    params(
        ZonePath,
        ("custom_hostname_id" = Uuid, Path, description = "The custom hostname's id, in hyphenated form."),
    ),
    responses((status = 200, description = "The hostname was deleted.", body = HostnameDeletedEnvelope)),
)]
#[instrument(skip_all, fields(zone_id = %zone.0, hostname_id = %id.0))]
pub async fn delete(
    State(state): State<AppState>,
    zone: ZoneId,
    id: HostnameId,
) -> Result<Response, ApiError> {
    hostnames::delete(&state, &zone.0, id.0).await?;
    Ok(axum::Json(json!({
        "id": id.0,
        "success": true,
        "errors": [],
        "messages": [],
        "result": { "id": id.0 },
    }))
    .into_response())
}

#[cfg(test)]
mod tests {
    use super::doc::{HostnameCreateRequest, HostnameEditRequest, SslRequestBody};
    use super::*;
    use crate::http::openapi::schema_tests::{object, pointers, properties};

    #[test]
    fn the_request_schemas_name_only_fields_the_parsers_read() {
        let create = properties::<HostnameCreateRequest>();
        assert_eq!(create, properties::<HostnameEditRequest>());
        assert_eq!(create.len(), 5);
        for property in create {
            // A value of the wrong type is reported at the field only if a parser reads it.
            let body = object(json!({ property.as_str(): 12345 }));
            let error = if property == "hostname" {
                request::check_hostname(&body, false).err()
            } else {
                request::parse_settings(&body).err()
            };
            let error = error.unwrap_or_else(|| panic!("no parser reads {property}"));
            assert!(
                pointers(error).contains(&format!("/{property}")),
                "{property}"
            );
        }
        let ssl = properties::<SslRequestBody>();
        assert_eq!(ssl.len(), 11);
        for property in ssl {
            let body = object(json!({ "ssl": { property.as_str(): 12345 } }));
            match request::parse_settings(&body) {
                Err(error) => assert!(
                    pointers(error).contains(&format!("/ssl/{property}")),
                    "ssl.{property}"
                ),
                // Kept as given, whatever it is.
                Ok(settings) => {
                    assert_eq!(property, "settings");
                    assert_eq!(settings.ssl.unwrap().options.settings, Some(json!(12345)));
                }
            }
        }
    }
}
