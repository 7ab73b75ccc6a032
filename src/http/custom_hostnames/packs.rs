//! A custom hostname's certificate pack (zone scope): replace or delete one certificate of it.
//! The pack is the hostname's `ssl.id`; its certificates are listed in `ssl.certificates[]`.

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use serde_json::json;
use tracing::instrument;
use uuid::Uuid;

use super::doc::{HostnameEnvelope, PackCertificateDeletedEnvelope, PackCertificateRequest};
use super::{HostnameId, UPLOAD_CODES, hostname_error, shown};
use crate::app::AppState;
use crate::app::hostnames::HostnameError;
use crate::app::packs;
use crate::http::envelope::Envelope;
use crate::http::error::{ApiError, Code, code};
use crate::http::extract::{IdParam, JsonObject, PathId, ZoneId, ZonePath};
use crate::http::uploads::{UploadFields, upload_error};

/// The upload fields of a replacement body: at its top level.
const REPLACE_FIELDS: UploadFields = UploadFields {
    certificate: "/custom_certificate",
    csr_id: "/custom_csr_id",
    key: "/custom_key",
    certificate_noun: "custom_certificate",
};

/// The answers to a replacement's body, beyond the path's.
pub const REPLACE_ERRORS: &[Code] = &[
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

/// `{certificate_pack_id}`.
#[derive(Debug, Clone, Copy)]
pub struct PackIdParam;

impl IdParam for PackIdParam {
    const NAME: &'static str = "certificate_pack_id";
    const INVALID: Code = code::HOSTNAME_ID_INVALID;
    fn invalid_message(raw: &str) -> String {
        format!("Invalid certificate pack ID {raw:?}: use the custom hostname's ssl.id.")
    }
}

/// `{certificate_id}`.
#[derive(Debug, Clone, Copy)]
pub struct CertificateIdParam;

impl IdParam for CertificateIdParam {
    const NAME: &'static str = "certificate_id";
    const INVALID: Code = code::HOSTNAME_ID_INVALID;
    fn invalid_message(raw: &str) -> String {
        format!(
            "Invalid certificate ID {raw:?}: use an id from the custom hostname's \
             ssl.certificates."
        )
    }
}

/// The answer to a refused replacement: upload problems point at the body's own fields.
fn replace_error(error: HostnameError, named_csr: bool) -> ApiError {
    match error {
        HostnameError::Upload(error) => {
            upload_error(error, &UPLOAD_CODES, &REPLACE_FIELDS, named_csr)
        }
        other => hostname_error(other, named_csr),
    }
}

#[utoipa::path(
    put,
    path = "/client/v4/zones/{zone_id}/custom_hostnames/{custom_hostname_id}/certificate_pack/{certificate_pack_id}/certificates/{certificate_id}",
    operation_id = "zone_custom_hostnames_pack_certificate_replace",
    tag = "Custom hostnames",
    summary = "Replace a certificate of a custom hostname's certificate pack",
    description = "Replaces one certificate (and its key) of the pack with another of the \
        same key type: RSA for RSA, ECDSA for ECDSA. The certificate is checked like any \
        uploaded one (key match, chain, hostname coverage, validity) and keeps its id. \
        edgecert also takes `custom_csr_id` instead of `custom_key`, for a certificate issued \
        for one of its CSRs.",
    params(
        ZonePath,
        ("custom_hostname_id" = Uuid, Path, description = "The custom hostname's id."),
        ("certificate_pack_id" = Uuid, Path, description = "The pack: the hostname's `ssl.id`."),
        ("certificate_id" = Uuid, Path, description = "One of the hostname's `ssl.certificates[].id`."),
    ),
    request_body = PackCertificateRequest,
    responses((status = 200, description = "The certificate was replaced; the hostname as it now is.", body = HostnameEnvelope)),
)]
#[instrument(skip_all, fields(zone_id = %zone.0, hostname_id = %id.0, certificate_id = %certificate.0))]
pub async fn replace(
    State(state): State<AppState>,
    zone: ZoneId,
    id: HostnameId,
    pack: PathId<PackIdParam>,
    certificate: PathId<CertificateIdParam>,
    JsonObject(body): JsonObject,
) -> Result<Response, ApiError> {
    let entry = super::bundle::parse_replacement(&body)?;
    let record = packs::replace_certificate(
        &state,
        &zone.0,
        id.0,
        pack.0,
        certificate.0,
        &entry.custom_certificate,
        entry.choice(),
    )
    .await
    .map_err(|error| replace_error(error, entry.custom_csr_id.is_some()))?;
    Ok(Envelope::ok(shown(&state, record).await?).into_response())
}

/// The official Python SDK reads the result of this delete from the top level of the body
/// (it does not unwrap `result`), so the id is given there as well as in `result`.
#[utoipa::path(
    delete,
    path = "/client/v4/zones/{zone_id}/custom_hostnames/{custom_hostname_id}/certificate_pack/{certificate_pack_id}/certificates/{certificate_id}",
    operation_id = "zone_custom_hostnames_pack_certificate_delete",
    tag = "Custom hostnames",
    summary = "Delete a certificate of a custom hostname's certificate pack",
    description = "Deletes one certificate (and a key uploaded with it) of a pack of two; the \
        pack's only certificate cannot be deleted (400, 1434). The other certificate stays \
        and is served alone.",
    params(
        ZonePath,
        ("custom_hostname_id" = Uuid, Path, description = "The custom hostname's id."),
        ("certificate_pack_id" = Uuid, Path, description = "The pack: the hostname's `ssl.id`."),
        ("certificate_id" = Uuid, Path, description = "One of the hostname's `ssl.certificates[].id`."),
    ),
    responses((status = 200, description = "The certificate was deleted.", body = PackCertificateDeletedEnvelope)),
)]
#[instrument(skip_all, fields(zone_id = %zone.0, hostname_id = %id.0, certificate_id = %certificate.0))]
pub async fn delete(
    State(state): State<AppState>,
    zone: ZoneId,
    id: HostnameId,
    pack: PathId<PackIdParam>,
    certificate: PathId<CertificateIdParam>,
) -> Result<Response, ApiError> {
    packs::delete_certificate(&state, &zone.0, id.0, pack.0, certificate.0).await?;
    let deleted: Uuid = certificate.0;
    Ok(axum::Json(json!({
        "id": deleted,
        "success": true,
        "errors": [],
        "messages": [],
        "result": { "id": deleted },
    }))
    .into_response())
}
