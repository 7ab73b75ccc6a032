//! A custom hostname as the API shows it.

use serde::Serialize;
use serde_json::{Value, json};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::http::rfc3339;
use crate::store::{
    self, HostnameRecord, ManagedState, ManagedStatus, StatusOverride, StoredCertificate,
};

// Its own type, not the stored one, so the stored JSON can change without changing the wire
// and the other way round.
/// The `ssl` settings of a custom hostname as requested, echoed back in answers.
#[derive(Serialize, utoipa::ToSchema)]
pub struct SslOptions {
    method: Option<String>,
    #[serde(rename = "type")]
    ssl_type: Option<String>,
    bundle_method: Option<String>,
    certificate_authority: Option<String>,
    wildcard: Option<bool>,
    cloudflare_branding: Option<bool>,
    settings: Option<Value>,
}

impl From<store::SslOptions> for SslOptions {
    fn from(stored: store::SslOptions) -> Self {
        Self {
            method: stored.method,
            ssl_type: stored.ssl_type,
            bundle_method: stored.bundle_method,
            certificate_authority: stored.certificate_authority,
            wildcard: stored.wildcard,
            cloudflare_branding: stored.cloudflare_branding,
            settings: stored.settings,
        }
    }
}

/// The hostname's `ssl` object as the API shows it. The private key is never part of it.
#[derive(Serialize, utoipa::ToSchema)]
pub struct SslView {
    id: Uuid,
    /// `active` once a certificate is uploaded, `pending_validation` before, and `expired`
    /// once the certificate's `expires_on` has passed (by edgecert's clock). A certificate
    /// edgecert issues (ssl.method `http` with an ACME CA configured) walks `initializing`,
    /// `pending_validation`, `pending_issuance`, `pending_deployment`, `active`. With the
    /// test controls on, any value forced on the hostname.
    #[schema(value_type = String, example = "pending_validation")]
    status: String,
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
    /// One entry per certificate of the pack (two for a bundle): id (the `certificate_id` of
    /// the certificate pack routes), issuer, serial_number, signature, issued_on, expires_on,
    /// fingerprint_sha256.
    #[schema(value_type = Vec<Object>)]
    certificates: Vec<Value>,
    /// While pending: one record shaped by the DCV method (`txt_name`/`txt_value`,
    /// `http_url`/`http_body`, or `emails`), with `status`.
    #[schema(value_type = Vec<Object>)]
    validation_records: Vec<Value>,
    /// `{"message"}` objects: why the CA last refused a managed certificate's validation, or
    /// what was forced through the test controls.
    #[schema(value_type = Vec<Object>)]
    validation_errors: Vec<Value>,
}

/// A custom hostname as the API shows it.
#[derive(Serialize, utoipa::ToSchema)]
pub struct HostnameView {
    id: Uuid,
    hostname: String,
    /// RFC 3339, UTC.
    created_at: String,
    /// `active` once a certificate is uploaded or a managed certificate's DCV has passed,
    /// `pending` before. With the test controls on, any value forced on the hostname.
    #[schema(value_type = String, example = "pending")]
    status: String,
    ssl: SslView,
    /// Empty unless forced through the test controls.
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

/// `status` and `ssl.status` of a hostname whose certificate edgecert issues. The hostname
/// itself counts as verified once the certificate's HTTP DCV has passed: Cloudflare's
/// real-time validation docs (developers.cloudflare.com, Cloudflare for SaaS > Hostname
/// validation > Real-time validation) say HTTP validation of the certificate also validates
/// the hostname, which is `pending` until then and `active` after.
fn managed_statuses(managed: &ManagedState) -> (&'static str, &'static str) {
    let shown = managed.shown_status();
    let hostname = match shown {
        ManagedStatus::Initializing | ManagedStatus::PendingValidation => "pending",
        ManagedStatus::PendingIssuance
        | ManagedStatus::PendingDeployment
        | ManagedStatus::Active => "active",
    };
    (hostname, shown.as_str())
}

/// The HTTP-01 record while the CA is validating: the real token and key authorization.
fn managed_records(hostname: &str, managed: &ManagedState) -> Vec<Value> {
    let validating = managed.shown_status() == ManagedStatus::PendingValidation;
    match (&managed.token, &managed.key_authorization) {
        (Some(token), Some(body)) if validating => vec![json!({
            "http_url": format!("http://{hostname}/.well-known/acme-challenge/{token}"),
            "http_body": body,
            "status": "pending",
        })],
        _ => Vec::new(),
    }
}

/// What `ssl.certificates[]` shows of one certificate.
fn certificate_facts(id: Uuid, certificate: &StoredCertificate) -> Value {
    json!({
        "id": id,
        "issuer": certificate.issuer,
        "serial_number": certificate.serial_number,
        "signature": certificate.signature,
        "issued_on": rfc3339(certificate.issued_on),
        "expires_on": rfc3339(certificate.expires_on),
        "fingerprint_sha256": certificate.fingerprint_sha256,
    })
}

impl HostnameView {
    /// The hostname as shown at `now`, with the statuses `forced` through the test controls
    /// (if any) over the computed ones.
    pub fn new(
        record: HostnameRecord,
        now: OffsetDateTime,
        forced: Option<&StatusOverride>,
    ) -> Self {
        let token = record.ownership_token.to_string();
        let (status, ssl_status) = match (&record.managed, &record.certificate) {
            // The real API's `ssl.status` for a certificate past its `expires_on`; the
            // hostname itself stays active.
            (_, Some(certificate)) if certificate.expires_on <= now => ("active", "expired"),
            (Some(managed), _) => managed_statuses(managed),
            // edgecert deploys nothing: an accepted certificate is live at once.
            (None, Some(_)) => ("active", "active"),
            (None, None) => ("pending", "pending_validation"),
        };
        let forced = forced.cloned().unwrap_or_default();
        let status = forced.status.unwrap_or_else(|| status.to_string());
        let ssl_status = forced.ssl_status.unwrap_or_else(|| ssl_status.to_string());
        let validation_errors = match forced.ssl_validation_errors {
            Some(forced) => forced,
            None => record
                .managed
                .iter()
                .flat_map(|managed| managed.validation_errors.iter().cloned())
                .collect(),
        }
        .into_iter()
        .map(|message| json!({ "message": message }))
        .collect();
        let certificate = record.certificate;
        // The record shape follows the DCV method, as the real API's does.
        let validation_records = if let Some(managed) = &record.managed {
            managed_records(&record.hostname, managed)
        } else if certificate.is_some() {
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
            options: record.ssl_options.into(),
            custom_csr_id: record.custom_csr_id,
            // One entry per certificate of the pack, each with its own id (the one the
            // pack's PUT and DELETE take); a managed certificate, which has none, shows the
            // ssl id as before.
            certificates: certificate
                .iter()
                .map(|c| certificate_facts(record.certificate_id.unwrap_or(record.ssl_id), c))
                .chain(
                    record
                        .bundled
                        .iter()
                        .map(|b| certificate_facts(b.id, &b.certificate)),
                )
                .collect(),
            validation_records,
            validation_errors,
            // A managed certificate was not uploaded: it is shown by its facts only.
            custom_certificate: certificate
                .as_ref()
                .filter(|_| record.managed.is_none())
                .map(|c| c.bundle_pem.clone()),
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
            verification_errors: forced.verification_errors.unwrap_or_default(),
            custom_metadata: record.custom_metadata,
            custom_origin_server: record.custom_origin_server,
            custom_origin_sni: record.custom_origin_sni,
        }
    }
}
