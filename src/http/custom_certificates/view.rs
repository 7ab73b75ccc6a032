//! A custom certificate as the API shows it.

use serde::Serialize;
use serde_json::Value;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::http::rfc3339;
use crate::store::CertificateRecord;

/// A custom certificate as the API shows it; the private key is never part of it.
#[derive(Serialize, utoipa::ToSchema)]
pub struct CertificateView {
    id: Uuid,
    zone_id: String,
    hosts: Vec<String>,
    issuer: String,
    signature: String,
    serial_number: String,
    /// `active`, or `expired` once `expires_on` has passed (by edgecert's clock). An upload
    /// is live at once, so the real API's `pending` and `initializing` are never shown.
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

impl CertificateView {
    /// The certificate as shown at `now`.
    pub fn at(record: CertificateRecord, now: OffsetDateTime) -> Self {
        let certificate = record.certificate;
        let status = if certificate.expires_on <= now {
            "expired"
        } else {
            "active"
        };
        Self {
            id: record.id,
            zone_id: record.zone_id,
            hosts: certificate.hosts,
            issuer: certificate.issuer,
            signature: certificate.signature,
            serial_number: certificate.serial_number,
            status,
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
