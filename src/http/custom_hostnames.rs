//! `custom_hostnames` (zone scope): create, list, get, edit, delete, with uploaded certificates.

use std::collections::HashMap;

use axum::Router;
use axum::extract::{FromRequestParts, OriginalUri, State};
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::Serialize;
use serde_json::{Map, Value, json};
use uuid::Uuid;

use super::envelope::{Envelope, ResultInfo};
use super::error::{ApiError, ErrorDetail, code};
use super::extract::{JsonObject, QueryPairs, parse_uuid, path_param};
use super::openapi::{
    HostnameDeletedEnvelope, HostnameEnvelope, HostnameListEnvelope, OperationErrors, codes,
};
use super::rfc3339;
use super::uploads::{self, KeySource, Upload, UploadCodes};
use crate::app::AppState;
use crate::pki::names::{SanProblem, check_san};
use crate::store::{
    HostnameFilter, HostnameMatch, HostnameRecord, PageRequest, Scope, SslOptions, StoreError,
};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/zones/{zone_id}/custom_hostnames", get(list).post(create))
        // Siblings of the id route, registered so they are never parsed as hostname ids.
        .route(
            "/zones/{zone_id}/custom_hostnames/fallback_origin",
            get(not_implemented)
                .put(not_implemented)
                .delete(not_implemented),
        )
        .route(
            "/zones/{zone_id}/custom_hostnames/quota",
            get(not_implemented),
        )
        .route(
            "/zones/{zone_id}/custom_hostnames/{custom_hostname_id}",
            get(fetch).patch(edit).delete(delete),
        )
}

const CODES: UploadCodes = UploadCodes {
    csr_id_invalid: code::HOSTNAME_CSR_ID_INVALID,
    csr_not_found: code::HOSTNAME_CSR_NOT_FOUND,
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

/// `{custom_hostname_id}` from the path.
pub(super) struct HostnameId(Uuid);

impl<S: Send + Sync> FromRequestParts<S> for HostnameId {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let raw = path_param(parts, "custom_hostname_id")
            .await?
            .ok_or_else(|| ApiError::internal("route has no custom_hostname_id"))?;
        parse_uuid(&raw).map(HostnameId).ok_or_else(|| {
            ApiError::bad_request(
                code::HOSTNAME_ID_INVALID,
                format!("Invalid custom hostname ID {raw:?}: use the id returned when the hostname was created."),
            )
        })
    }
}

async fn not_implemented(OriginalUri(uri): OriginalUri) -> ApiError {
    ApiError::bad_request(
        code::NO_ROUTE,
        format!(
            "{} exists in Cloudflare's API but edgecert does not implement it.",
            uri.path()
        ),
    )
}

fn zone_of(scope: &Scope) -> Result<&str, ApiError> {
    match scope {
        Scope::Zone(zone_id) => Ok(zone_id),
        Scope::Account(_) => Err(ApiError::internal("custom hostnames are zone-scoped")),
    }
}

fn not_found(error: StoreError) -> ApiError {
    match error {
        StoreError::NotFound => ApiError::new(
            StatusCode::NOT_FOUND,
            code::HOSTNAME_NOT_FOUND,
            "Custom hostname not found in this zone.",
        ),
        other => write_error(other),
    }
}

fn write_error(error: StoreError) -> ApiError {
    match error {
        StoreError::Duplicate(_) => ApiError::new(
            StatusCode::CONFLICT,
            code::HOSTNAME_DUPLICATE,
            "Duplicate custom hostname found: this zone already has it. Edit or delete the existing one.",
        ),
        // The CSR (and its key) was deleted while the upload was being checked.
        StoreError::ReferenceGone(_) => uploads::csr_not_found(&CODES),
        other => other.into(),
    }
}

/// The hostname's `ssl` object as the API shows it. The private key is never part of it.
#[derive(Serialize, utoipa::ToSchema)]
pub(super) struct SslView {
    id: Uuid,
    /// `active` once a certificate is uploaded, `pending_validation` before.
    #[schema(value_type = String, example = "pending_validation")]
    status: &'static str,
    #[serde(flatten)]
    options: SslOptions,
    #[serde(skip_serializing_if = "Option::is_none")]
    custom_csr_id: Option<Uuid>,
    #[serde(skip_serializing_if = "Option::is_none")]
    custom_certificate: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    issuer: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    serial_number: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    signature: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    hosts: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    uploaded_on: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    expires_on: Option<String>,
    /// The uploaded certificate's facts: id, issuer, serial_number, signature, issued_on,
    /// expires_on, fingerprint_sha256.
    #[schema(value_type = Vec<Object>)]
    certificates: Vec<Value>,
    /// While pending: one record shaped by the DCV method (`txt_name`/`txt_value`,
    /// `http_url`/`http_body`, or `emails`), with `status`.
    #[schema(value_type = Vec<Object>)]
    validation_records: Vec<Value>,
    /// Always empty.
    #[schema(value_type = Vec<Object>)]
    validation_errors: Vec<Value>,
}

/// A custom hostname as the API shows it.
#[derive(Serialize, utoipa::ToSchema)]
pub(super) struct HostnameView {
    id: Uuid,
    hostname: String,
    /// RFC 3339, UTC.
    created_at: String,
    /// `active` once a certificate is uploaded, `pending` before.
    #[schema(value_type = String, example = "pending")]
    status: &'static str,
    ssl: SslView,
    /// Always empty.
    verification_errors: Vec<String>,
    /// `{"type": "txt", "name", "value"}`.
    #[schema(value_type = Object)]
    ownership_verification: Value,
    /// `{"http_url", "http_body"}`.
    #[schema(value_type = Object)]
    ownership_verification_http: Value,
    /// String values only.
    #[schema(value_type = Option<HashMap<String, String>>)]
    #[serde(skip_serializing_if = "Option::is_none")]
    custom_metadata: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    custom_origin_server: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    custom_origin_sni: Option<String>,
}

impl From<HostnameRecord> for HostnameView {
    fn from(record: HostnameRecord) -> Self {
        let token = record.ownership_token.to_string();
        let (status, ssl_status) = if record.certificate.is_some() {
            // edgecert deploys nothing: an accepted certificate is live at once.
            ("active", "active")
        } else {
            ("pending", "pending_validation")
        };
        let certificate = record.certificate;
        // The record shape follows the DCV method, as the real API's does.
        let validation_records = if certificate.is_some() {
            Vec::new()
        } else {
            vec![match record.ssl_options.method.as_deref() {
                Some("http") => json!({
                    "http_url": format!(
                        "http://{}/.well-known/acme-challenge/{}",
                        record.hostname, record.ssl_id
                    ),
                    "http_body": token,
                    "status": "pending",
                }),
                Some("email") => {
                    let emails = [
                        "admin",
                        "administrator",
                        "hostmaster",
                        "postmaster",
                        "webmaster",
                    ]
                    .map(|mailbox| format!("{mailbox}@{}", record.hostname));
                    json!({ "emails": emails, "status": "pending" })
                }
                _ => json!({
                    "txt_name": format!("_acme-challenge.{}", record.hostname),
                    "txt_value": token,
                    "status": "pending",
                }),
            }]
        };
        let ssl = SslView {
            id: record.ssl_id,
            status: ssl_status,
            options: record.ssl_options,
            custom_csr_id: record.custom_csr_id,
            certificates: certificate
                .iter()
                .map(|c| {
                    json!({
                        "id": record.ssl_id,
                        "issuer": c.issuer,
                        "serial_number": c.serial_number,
                        "signature": c.signature,
                        "issued_on": rfc3339(c.issued_on),
                        "expires_on": rfc3339(c.expires_on),
                        "fingerprint_sha256": c.fingerprint_sha256,
                    })
                })
                .collect(),
            validation_records,
            validation_errors: Vec::new(),
            custom_certificate: certificate.as_ref().map(|c| c.bundle_pem.clone()),
            issuer: certificate.as_ref().map(|c| c.issuer.clone()),
            serial_number: certificate.as_ref().map(|c| c.serial_number.clone()),
            signature: certificate.as_ref().map(|c| c.signature.clone()),
            hosts: certificate.as_ref().map(|c| c.hosts.clone()),
            uploaded_on: certificate.as_ref().map(|c| rfc3339(c.uploaded_on)),
            expires_on: certificate.as_ref().map(|c| rfc3339(c.expires_on)),
        };
        Self {
            ownership_verification: json!({
                "type": "txt",
                "name": format!("_cf-custom-hostname.{}", record.hostname),
                "value": token,
            }),
            ownership_verification_http: json!({
                "http_url": format!(
                    "http://{}/.well-known/cf-custom-hostname-challenge/{}",
                    record.hostname, record.id
                ),
                "http_body": token,
            }),
            id: record.id,
            hostname: record.hostname,
            created_at: rfc3339(record.created_at),
            status,
            ssl,
            verification_errors: Vec::new(),
            custom_metadata: record.custom_metadata,
            custom_origin_server: record.custom_origin_server,
            custom_origin_sni: record.custom_origin_sni,
        }
    }
}

/// The parts of a create or edit request that are not the hostname.
struct Settings {
    ssl: Option<SslRequest>,
    custom_metadata: Option<Option<Value>>,
    custom_origin_server: Option<Option<String>>,
    custom_origin_sni: Option<Option<String>>,
}

struct SslRequest {
    options: SslOptions,
    custom_certificate: Option<String>,
    custom_key: Option<String>,
    custom_csr_id: Option<String>,
}

fn one_of(
    ssl: &Map<String, Value>,
    field: &str,
    allowed: &[&str],
    code: u32,
    errors: &mut Vec<ErrorDetail>,
) -> Option<String> {
    match ssl.get(field) {
        None | Some(Value::Null) => None,
        Some(Value::String(value)) if allowed.contains(&value.as_str()) => Some(value.clone()),
        Some(other) => {
            errors.push(
                ErrorDetail::new(
                    code,
                    format!(
                        "ssl.{field} {other} is not supported; use one of: {}.",
                        allowed.join(", ")
                    ),
                )
                .at(format!("/ssl/{field}")),
            );
            None
        }
    }
}

fn optional_string(
    object: &Map<String, Value>,
    field: &str,
    pointer: &str,
    code: u32,
    errors: &mut Vec<ErrorDetail>,
) -> Option<String> {
    match object.get(field) {
        None | Some(Value::Null) => None,
        Some(Value::String(value)) => Some(value.clone()),
        Some(_) => {
            errors.push(ErrorDetail::new(code, format!("{field} must be a string.")).at(pointer));
            None
        }
    }
}

fn optional_bool(
    object: &Map<String, Value>,
    field: &str,
    errors: &mut Vec<ErrorDetail>,
) -> Option<bool> {
    match object.get(field) {
        None | Some(Value::Null) => None,
        Some(Value::Bool(value)) => Some(*value),
        Some(_) => {
            errors.push(
                ErrorDetail::new(
                    code::HOSTNAME_SSL_ATTRIBUTE,
                    format!("ssl.{field} must be true or false."),
                )
                .at(format!("/ssl/{field}")),
            );
            None
        }
    }
}

fn parse_settings(body: &Map<String, Value>) -> Result<Settings, ApiError> {
    let mut errors = Vec::new();
    let ssl = match body.get("ssl") {
        None | Some(Value::Null) => None,
        Some(Value::Object(ssl)) => {
            let options = SslOptions {
                method: one_of(
                    ssl,
                    "method",
                    &["http", "txt", "email"],
                    code::HOSTNAME_SSL_METHOD,
                    &mut errors,
                ),
                ssl_type: one_of(ssl, "type", &["dv"], code::HOSTNAME_SSL_TYPE, &mut errors),
                bundle_method: one_of(
                    ssl,
                    "bundle_method",
                    &["ubiquitous", "optimal", "force"],
                    code::HOSTNAME_BUNDLE_METHOD,
                    &mut errors,
                )
                .or_else(|| Some("ubiquitous".to_string())),
                certificate_authority: one_of(
                    ssl,
                    "certificate_authority",
                    &["digicert", "google", "lets_encrypt", "ssl_com"],
                    code::HOSTNAME_SSL_ATTRIBUTE,
                    &mut errors,
                ),
                wildcard: optional_bool(ssl, "wildcard", &mut errors),
                cloudflare_branding: optional_bool(ssl, "cloudflare_branding", &mut errors),
                settings: ssl.get("settings").filter(|v| !v.is_null()).cloned(),
            };
            Some(SslRequest {
                options,
                custom_certificate: optional_string(
                    ssl,
                    "custom_certificate",
                    "/ssl/custom_certificate",
                    code::HOSTNAME_CERT_UNPARSABLE,
                    &mut errors,
                ),
                custom_key: optional_string(
                    ssl,
                    "custom_key",
                    "/ssl/custom_key",
                    code::HOSTNAME_KEY_INVALID,
                    &mut errors,
                ),
                custom_csr_id: optional_string(
                    ssl,
                    "custom_csr_id",
                    "/ssl/custom_csr_id",
                    code::HOSTNAME_CSR_ID_INVALID,
                    &mut errors,
                ),
            })
        }
        Some(_) => {
            errors.push(
                ErrorDetail::new(code::HOSTNAME_SSL_ATTRIBUTE, "ssl must be an object.").at("/ssl"),
            );
            None
        }
    };
    let custom_metadata = match body.get("custom_metadata") {
        None => None,
        Some(Value::Null) => Some(None),
        Some(Value::Object(map)) if map.values().all(Value::is_string) => {
            Some(Some(Value::Object(map.clone())))
        }
        Some(_) => {
            errors.push(
                ErrorDetail::new(
                    code::HOSTNAME_METADATA,
                    "custom_metadata must be an object of string values, e.g. {\"customer\": \"acme\"}.",
                )
                .at("/custom_metadata"),
            );
            None
        }
    };
    let mut text = |field: &str| match body.get(field) {
        None => None,
        Some(Value::Null) => Some(None),
        Some(Value::String(value)) => Some(Some(value.clone())),
        Some(_) => {
            errors.push(
                ErrorDetail::new(code::HOSTNAME_ORIGIN, format!("{field} must be a string."))
                    .at(format!("/{field}")),
            );
            None
        }
    };
    let custom_origin_server = text("custom_origin_server");
    let custom_origin_sni = text("custom_origin_sni");
    if !errors.is_empty() {
        return Err(ApiError::many(StatusCode::BAD_REQUEST, errors));
    }
    Ok(Settings {
        ssl,
        custom_metadata,
        custom_origin_server,
        custom_origin_sni,
    })
}

fn check_hostname(body: &Map<String, Value>, strict: bool) -> Result<String, ApiError> {
    let hostname = match body.get("hostname") {
        Some(Value::String(hostname)) if !hostname.trim().is_empty() => hostname,
        _ => {
            return Err(ApiError::many(
                StatusCode::BAD_REQUEST,
                vec![ErrorDetail::new(code::HOSTNAME_INVALID, "hostname is required: the customer's domain name, e.g. \"app.example.com\".").at("/hostname")],
            ));
        }
    };
    let detail = |code: u32, message: String| {
        ApiError::many(
            StatusCode::BAD_REQUEST,
            vec![ErrorDetail::new(code, message).at("/hostname")],
        )
    };
    match check_san(hostname, strict) {
        Ok(()) => Ok(hostname.to_ascii_lowercase()),
        Err(SanProblem::Invalid(reason)) => Err(detail(
            code::HOSTNAME_INVALID,
            format!("hostname {hostname:?} is not a valid DNS name: {reason}."),
        )),
        Err(SanProblem::NonAscii) => Err(detail(
            code::HOSTNAME_NON_ASCII,
            format!(
                "hostname {:?} contains non-ASCII characters; use its xn-- (punycode) form.",
                hostname.escape_default().to_string()
            ),
        )),
        Err(SanProblem::ReservedTld(tld)) => Err(detail(
            code::HOSTNAME_RESERVED_TLD,
            format!("hostname {hostname:?} is under the reserved top-level domain .{tld}."),
        )),
        Err(SanProblem::NoPublicSuffix) => Err(detail(
            code::HOSTNAME_NO_PUBLIC_SUFFIX,
            format!("hostname {hostname:?} has no registrable domain under a public suffix."),
        )),
        Err(SanProblem::ExampleDomain(domain)) => Err(detail(
            code::HOSTNAME_EXAMPLE_DOMAIN,
            format!("hostname {hostname:?} is under {domain}, which strict mode refuses."),
        )),
    }
}

/// Applies an `ssl` request: checks an uploaded certificate, or switches to a managed one.
async fn apply_ssl(
    state: &AppState,
    record: &mut HostnameRecord,
    ssl: SslRequest,
) -> Result<Option<crate::store::StoredKey>, ApiError> {
    record.ssl_options = ssl.options;
    let Some(certificate_pem) = ssl.custom_certificate else {
        if ssl.custom_csr_id.is_some() || ssl.custom_key.is_some() {
            return Err(ApiError::many(
                StatusCode::BAD_REQUEST,
                vec![ErrorDetail::new(
                    code::HOSTNAME_CERT_EMPTY,
                    "ssl.custom_certificate is required with ssl.custom_csr_id or ssl.custom_key.",
                )
                .at("/ssl/custom_certificate")],
            ));
        }
        record.key = None;
        record.custom_csr_id = None;
        record.certificate = None;
        return Ok(None);
    };
    let key = match (&ssl.custom_csr_id, &ssl.custom_key, record.key) {
        (Some(csr_id), None, _) => KeySource::Csr(csr_id),
        (None, Some(pem), _) => KeySource::Supplied(pem),
        (Some(_), Some(_), _) => {
            return Err(ApiError::many(
                StatusCode::BAD_REQUEST,
                vec![ErrorDetail::new(
                    code::HOSTNAME_SSL_ATTRIBUTE,
                    "Give either ssl.custom_csr_id (the key stays in edgecert) or ssl.custom_key, not both.",
                )
                .at("/ssl/custom_key")],
            ));
        }
        // A renewal with the key the hostname already uses.
        (None, None, Some(key)) => KeySource::Current {
            key,
            custom_csr_id: record.custom_csr_id,
        },
        (None, None, None) => {
            return Err(ApiError::many(
                StatusCode::BAD_REQUEST,
                vec![ErrorDetail::new(
                    code::HOSTNAME_KEY_INVALID,
                    "ssl.custom_certificate needs its key: give ssl.custom_csr_id (of the CSR it was issued for) or ssl.custom_key.",
                )
                .at("/ssl/custom_key")],
            ));
        }
    };
    let key_field = if ssl.custom_csr_id.is_some() {
        "/ssl/custom_csr_id"
    } else {
        "/ssl/custom_key"
    };
    let accepted = uploads::accept(
        state,
        Upload {
            zone_id: &record.zone_id,
            certificate_pem: &certificate_pem,
            key,
            hostname: Some(&record.hostname),
            verify_trust: true,
            min_remaining: None,
            certificate_field: "/ssl/custom_certificate",
            key_field,
        },
        &CODES,
    )
    .await?;
    record.key = Some(accepted.key);
    record.custom_csr_id = accepted.custom_csr_id;
    record.certificate = Some(accepted.certificate);
    Ok(accepted.new_key)
}

fn apply_settings(record: &mut HostnameRecord, settings: &mut Settings) {
    if let Some(metadata) = settings.custom_metadata.take() {
        record.custom_metadata = metadata;
    }
    if let Some(server) = settings.custom_origin_server.take() {
        record.custom_origin_server = server;
    }
    if let Some(sni) = settings.custom_origin_sni.take() {
        record.custom_origin_sni = sni;
    }
}

/// The error answers of each operation, beyond those every route shares.
pub(super) const ERRORS: &[OperationErrors] = &[
    (
        "zone_custom_hostnames_list",
        &[(
            400,
            codes![
                INVALID_REQUEST_PARAMETERS,
                HOSTNAME_ID_INVALID,
                HOSTNAME_FILTER_INVALID,
                HOSTNAME_FILTER_CONFLICT,
            ],
        )],
    ),
    (
        "zone_custom_hostnames_create",
        &[
            (
                400,
                codes![
                    HOSTNAME_INVALID,
                    HOSTNAME_NON_ASCII,
                    HOSTNAME_RESERVED_TLD,
                    HOSTNAME_NO_PUBLIC_SUFFIX,
                    HOSTNAME_EXAMPLE_DOMAIN,
                    HOSTNAME_METADATA,
                    HOSTNAME_ORIGIN,
                    HOSTNAME_SSL_METHOD,
                    HOSTNAME_SSL_TYPE,
                    HOSTNAME_BUNDLE_METHOD,
                    HOSTNAME_SSL_ATTRIBUTE,
                    HOSTNAME_CSR_ID_INVALID,
                    HOSTNAME_CERT_EMPTY,
                    HOSTNAME_CERT_UNPARSABLE,
                    HOSTNAME_CERT_SEVERAL_LEAVES,
                    HOSTNAME_CERT_NO_LEAF,
                    HOSTNAME_KEY_INVALID,
                    HOSTNAME_KEY_MISMATCH,
                    HOSTNAME_CERT_UNTRUSTED,
                    HOSTNAME_NOT_COVERED,
                    HOSTNAME_CERT_SIGNATURE,
                ],
            ),
            (404, codes![HOSTNAME_CSR_NOT_FOUND]),
            (409, codes![HOSTNAME_DUPLICATE]),
        ],
    ),
    (
        "zone_custom_hostnames_get",
        &[
            (400, codes![HOSTNAME_ID_INVALID]),
            (404, codes![HOSTNAME_NOT_FOUND]),
        ],
    ),
    (
        "zone_custom_hostnames_edit",
        &[
            (
                400,
                codes![
                    HOSTNAME_ID_INVALID,
                    HOSTNAME_METADATA,
                    HOSTNAME_ORIGIN,
                    HOSTNAME_SSL_METHOD,
                    HOSTNAME_SSL_TYPE,
                    HOSTNAME_BUNDLE_METHOD,
                    HOSTNAME_SSL_ATTRIBUTE,
                    HOSTNAME_CSR_ID_INVALID,
                    HOSTNAME_CERT_EMPTY,
                    HOSTNAME_CERT_UNPARSABLE,
                    HOSTNAME_CERT_SEVERAL_LEAVES,
                    HOSTNAME_CERT_NO_LEAF,
                    HOSTNAME_KEY_INVALID,
                    HOSTNAME_KEY_MISMATCH,
                    HOSTNAME_CERT_UNTRUSTED,
                    HOSTNAME_NOT_COVERED,
                    HOSTNAME_CERT_SIGNATURE,
                ],
            ),
            (404, codes![HOSTNAME_NOT_FOUND, HOSTNAME_CSR_NOT_FOUND]),
            (409, codes![HOSTNAME_IMMUTABLE, HOSTNAME_DUPLICATE]),
        ],
    ),
    (
        "zone_custom_hostnames_delete",
        &[
            (400, codes![HOSTNAME_ID_INVALID]),
            (404, codes![HOSTNAME_NOT_FOUND]),
        ],
    ),
];

/// The `ssl` object of a create or edit request.
#[derive(utoipa::ToSchema)]
#[expect(
    dead_code,
    reason = "a schema for the OpenAPI document; the parser reads the JSON itself"
)]
pub(super) struct SslRequestBody {
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
    /// Stored and echoed back as given.
    #[schema(value_type = Option<Object>)]
    settings: Option<Value>,
    /// A PEM certificate (with its chain) to use instead of a managed one.
    custom_certificate: Option<String>,
    /// The certificate's PEM private key; or give `custom_csr_id`, not both.
    custom_key: Option<String>,
    /// The id of the custom CSR the certificate was issued for; its key stays in edgecert.
    custom_csr_id: Option<String>,
}

/// The body of a create request.
#[derive(utoipa::ToSchema)]
#[expect(
    dead_code,
    reason = "a schema for the OpenAPI document; the parser reads the JSON itself"
)]
pub(super) struct HostnameCreateRequest {
    /// The customer's domain name, e.g. `app.example.com`.
    hostname: String,
    ssl: Option<SslRequestBody>,
    /// An object of string values; null clears it.
    custom_metadata: Option<HashMap<String, String>>,
    /// Origin server for this hostname; null clears it.
    custom_origin_server: Option<String>,
    /// SNI sent to the origin; null clears it.
    custom_origin_sni: Option<String>,
}

/// The body of an edit request: fields that are absent stay as they are.
#[derive(utoipa::ToSchema)]
#[expect(
    dead_code,
    reason = "a schema for the OpenAPI document; the parser reads the JSON itself"
)]
pub(super) struct HostnameEditRequest {
    /// Must be the current hostname if given: a hostname cannot be changed.
    hostname: Option<String>,
    /// Replaces the `ssl` settings; without `custom_certificate`, switches to a managed
    /// certificate.
    ssl: Option<SslRequestBody>,
    /// An object of string values; null clears it.
    custom_metadata: Option<HashMap<String, String>>,
    /// Origin server for this hostname; null clears it.
    custom_origin_server: Option<String>,
    /// SNI sent to the origin; null clears it.
    custom_origin_sni: Option<String>,
}

#[utoipa::path(
    post,
    path = "/client/v4/zones/{zone_id}/custom_hostnames",
    operation_id = "zone_custom_hostnames_create",
    tag = "Custom hostnames",
    summary = "Create a custom hostname",
    params(("zone_id" = String, Path, pattern = "^[0-9a-f]{32}$", description = "Zone identifier: 32 lowercase hexadecimal characters.")),
    request_body = HostnameCreateRequest,
    responses((status = 201, description = "The hostname was created.", body = HostnameEnvelope)),
)]
pub(super) async fn create(
    State(state): State<AppState>,
    scope: Scope,
    JsonObject(body): JsonObject,
) -> Result<Response, ApiError> {
    let zone_id = zone_of(&scope)?.to_string();
    let hostname = check_hostname(&body, state.strict)?;
    let mut settings = parse_settings(&body)?;
    let mut record = HostnameRecord {
        id: Uuid::new_v4(),
        zone_id,
        hostname,
        ssl_id: Uuid::new_v4(),
        ssl_options: SslOptions {
            bundle_method: Some("ubiquitous".into()),
            ..SslOptions::default()
        },
        key: None,
        custom_csr_id: None,
        certificate: None,
        custom_metadata: None,
        custom_origin_server: None,
        custom_origin_sni: None,
        ownership_token: Uuid::new_v4(),
        created_at: crate::store::now(),
    };
    apply_settings(&mut record, &mut settings);
    let new_key = match settings.ssl {
        Some(ssl) => apply_ssl(&state, &mut record, ssl).await?,
        None => None,
    };
    state
        .store
        .insert_hostname(&record, new_key.as_ref())
        .await
        .map_err(write_error)?;
    tracing::debug!(hostname_id = %record.id, with_certificate = record.certificate.is_some(), "custom hostname created");
    Ok(Envelope::created(HostnameView::from(record)).into_response())
}

#[utoipa::path(
    patch,
    path = "/client/v4/zones/{zone_id}/custom_hostnames/{custom_hostname_id}",
    operation_id = "zone_custom_hostnames_edit",
    tag = "Custom hostnames",
    summary = "Edit a custom hostname",
    params(
        ("zone_id" = String, Path, pattern = "^[0-9a-f]{32}$", description = "Zone identifier: 32 lowercase hexadecimal characters."),
        ("custom_hostname_id" = Uuid, Path, description = "The custom hostname's id, in hyphenated form."),
    ),
    request_body = HostnameEditRequest,
    responses((status = 202, description = "The hostname was changed.", body = HostnameEnvelope)),
)]
pub(super) async fn edit(
    State(state): State<AppState>,
    scope: Scope,
    HostnameId(id): HostnameId,
    JsonObject(body): JsonObject,
) -> Result<Response, ApiError> {
    let zone_id = zone_of(&scope)?;
    let mut record = state
        .store
        .get_hostname(zone_id, id)
        .await
        .map_err(not_found)?;
    if let Some(hostname) = body.get("hostname")
        && hostname.as_str().map(str::to_ascii_lowercase).as_deref()
            != Some(record.hostname.as_str())
    {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            code::HOSTNAME_IMMUTABLE,
            "Modifying the custom hostname is not supported: delete it and create the new one.",
        ));
    }
    let mut settings = parse_settings(&body)?;
    let previous_key = record.key;
    apply_settings(&mut record, &mut settings);
    let new_key = match settings.ssl {
        Some(ssl) => apply_ssl(&state, &mut record, ssl).await?,
        None => None,
    };
    state
        .store
        .update_hostname(&record, new_key.as_ref(), previous_key)
        .await
        .map_err(not_found)?;
    let mut response = Envelope::ok(HostnameView::from(record)).into_response();
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
        ("zone_id" = String, Path, pattern = "^[0-9a-f]{32}$", description = "Zone identifier: 32 lowercase hexadecimal characters."),
        ("custom_hostname_id" = Uuid, Path, description = "The custom hostname's id, in hyphenated form."),
    ),
    responses((status = 200, description = "The hostname.", body = HostnameEnvelope)),
)]
pub(super) async fn fetch(
    State(state): State<AppState>,
    scope: Scope,
    HostnameId(id): HostnameId,
) -> Result<Envelope<HostnameView>, ApiError> {
    let record = state
        .store
        .get_hostname(zone_of(&scope)?, id)
        .await
        .map_err(not_found)?;
    Ok(Envelope::ok(record.into()))
}

/// Query parameters of the list operation. At most one filter, and not with `id`.
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
}

#[utoipa::path(
    get,
    path = "/client/v4/zones/{zone_id}/custom_hostnames",
    operation_id = "zone_custom_hostnames_list",
    tag = "Custom hostnames",
    summary = "List custom hostnames",
    params(("zone_id" = String, Path, pattern = "^[0-9a-f]{32}$", description = "Zone identifier: 32 lowercase hexadecimal characters."), ListQuery),
    responses((status = 200, description = "A page of hostnames.", body = HostnameListEnvelope)),
)]
pub(super) async fn list(
    State(state): State<AppState>,
    scope: Scope,
    query: QueryPairs,
) -> Result<Envelope<Vec<HostnameView>>, ApiError> {
    let page = query.number("page", 1, 1..=u64::from(u32::MAX))?;
    let per_page = query.number("per_page", 20, 5..=50)?;
    let id = match query.get("id") {
        Some(raw) => Some(parse_uuid(raw).ok_or_else(|| {
            ApiError::bad_request(
                code::HOSTNAME_ID_INVALID,
                format!("id filter {raw:?} is not a custom hostname id (36 characters)."),
            )
        })?),
        None => None,
    };
    // The SDK sends `hostname.exact`, `hostname.contain` and `hostname.startsWith`; older
    // clients a plain `hostname`. At most one of them, and not with `id`.
    let mut matches = Vec::new();
    for (key, make) in [
        (
            "hostname",
            HostnameMatch::Exact as fn(String) -> HostnameMatch,
        ),
        ("hostname.exact", HostnameMatch::Exact),
        ("hostname.contain", HostnameMatch::Contains),
        ("hostname.startsWith", HostnameMatch::StartsWith),
    ] {
        if let Some(value) = query.get(key) {
            if value.is_empty()
                || value.len() > 255
                || !value
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '*'))
            {
                return Err(ApiError::bad_request(
                    code::HOSTNAME_FILTER_INVALID,
                    format!(
                        "{key} {value:?} is not part of a hostname: use letters, digits, '.', '-' and '*'."
                    ),
                ));
            }
            matches.push(make(value.to_ascii_lowercase()));
        }
    }
    if matches.len() > 1 || (id.is_some() && !matches.is_empty()) {
        return Err(ApiError::bad_request(
            code::HOSTNAME_FILTER_CONFLICT,
            "Use one filter at a time: id, hostname.exact, hostname.contain or hostname.startsWith.",
        ));
    }
    let hostname = matches.pop();
    let found = state
        .store
        .list_hostnames(
            zone_of(&scope)?,
            &HostnameFilter { id, hostname },
            PageRequest { page, per_page },
        )
        .await?;
    let info = ResultInfo::new(page, per_page, found.items.len(), found.total_count);
    Ok(Envelope::list(
        found.items.into_iter().map(HostnameView::from).collect(),
        info,
    ))
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
        ("zone_id" = String, Path, pattern = "^[0-9a-f]{32}$", description = "Zone identifier: 32 lowercase hexadecimal characters."),
        ("custom_hostname_id" = Uuid, Path, description = "The custom hostname's id, in hyphenated form."),
    ),
    responses((status = 200, description = "The hostname was deleted.", body = HostnameDeletedEnvelope)),
)]
pub(super) async fn delete(
    State(state): State<AppState>,
    scope: Scope,
    HostnameId(id): HostnameId,
) -> Result<Response, ApiError> {
    state
        .store
        .delete_hostname(zone_of(&scope)?, id)
        .await
        .map_err(not_found)?;
    tracing::debug!(hostname_id = %id, "custom hostname deleted");
    Ok(axum::Json(json!({
        "id": id,
        "success": true,
        "errors": [],
        "messages": [],
        "result": { "id": id },
    }))
    .into_response())
}

#[cfg(test)]
mod tests {
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
                check_hostname(&body, false).err()
            } else {
                parse_settings(&body).err()
            };
            let error = error.unwrap_or_else(|| panic!("no parser reads {property}"));
            assert!(
                pointers(error).contains(&format!("/{property}")),
                "{property}"
            );
        }
        let ssl = properties::<SslRequestBody>();
        assert_eq!(ssl.len(), 10);
        for property in ssl {
            let body = object(json!({ "ssl": { property.as_str(): 12345 } }));
            match parse_settings(&body) {
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
