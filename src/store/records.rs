//! Custom hostnames and custom certificates as stored, and the column codecs both backends
//! share (microsecond timestamps, JSON text).

use serde::{Deserialize, Serialize};
use serde_json::Value;
use time::OffsetDateTime;
use uuid::Uuid;

use super::{Direction, StoreError};

/// The private key a certificate uses. `owned` keys were uploaded with the certificate and
/// are destroyed with it; others belong to a CSR.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyRef {
    pub key_id: Uuid,
    pub owned: bool,
}

/// A verified certificate as stored: the PEM bundle and what the API shows about it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredCertificate {
    pub bundle_pem: String,
    pub issuer: String,
    pub serial_number: String,
    pub signature: String,
    pub hosts: Vec<String>,
    #[serde(with = "time::serde::rfc3339")]
    pub issued_on: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub expires_on: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub uploaded_on: OffsetDateTime,
    pub fingerprint_sha256: String,
}

/// The `ssl` settings of a custom hostname as stored (JSON in its row); the wire shape is
/// `http::custom_hostnames::view::SslOptions`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SslOptions {
    pub method: Option<String>,
    #[serde(rename = "type")]
    pub ssl_type: Option<String>,
    pub bundle_method: Option<String>,
    pub certificate_authority: Option<String>,
    pub wildcard: Option<bool>,
    pub cloudflare_branding: Option<bool>,
    pub settings: Option<Value>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct HostnameRecord {
    pub id: Uuid,
    pub zone_id: String,
    pub hostname: String,
    pub ssl_id: Uuid,
    pub ssl_options: SslOptions,
    pub key: Option<KeyRef>,
    pub custom_csr_id: Option<Uuid>,
    pub certificate: Option<StoredCertificate>,
    /// The id of `certificate` in the hostname's certificate pack; `None` for a managed
    /// certificate, which shows the ssl id as before.
    pub certificate_id: Option<Uuid>,
    /// The pack's second certificate, when the hostname was given a bundle of two.
    pub bundled: Option<PackCertificate>,
    pub custom_metadata: Option<Value>,
    pub custom_origin_server: Option<String>,
    pub custom_origin_sni: Option<String>,
    pub ownership_token: Uuid,
    pub created_at: OffsetDateTime,
    /// The managed certificate's lifecycle; `None` when edgecert issues nothing for it.
    pub managed: Option<super::ManagedState>,
}

/// The second certificate of a custom hostname's certificate pack (the first is the
/// hostname's own `certificate`): its id, the key it uses and the verified chain.
#[derive(Debug, Clone, PartialEq)]
pub struct PackCertificate {
    pub id: Uuid,
    pub key: KeyRef,
    pub custom_csr_id: Option<Uuid>,
    pub certificate: StoredCertificate,
}

/// The keys a hostname's certificate pack used when it was read: a pack write goes ahead
/// only if they are still the ones stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PackKeys {
    pub first: Option<Uuid>,
    pub second: Option<Uuid>,
}

impl HostnameRecord {
    /// The keys its pack uses now.
    pub fn pack_keys(&self) -> PackKeys {
        PackKeys {
            first: self.key.map(|k| k.key_id),
            second: self.bundled.as_ref().map(|b| b.key.key_id),
        }
    }
}

/// What the edge needs of a custom hostname to route its traffic (see `edge::routes`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostnameRoute {
    pub id: Uuid,
    pub zone_id: String,
    pub hostname: String,
    pub custom_origin_server: Option<String>,
    pub custom_origin_sni: Option<String>,
    pub ownership_token: Uuid,
}

/// Settings of a custom certificate other than the certificate itself.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CertificateOptions {
    pub bundle_method: String,
    #[serde(rename = "type")]
    pub certificate_type: String,
    pub geo_restrictions: Option<Value>,
    pub policy: Option<String>,
    /// `staging` or `production` (the default, also for rows stored before the field).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deploy: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct CertificateRecord {
    pub id: Uuid,
    pub zone_id: String,
    pub key: KeyRef,
    pub custom_csr_id: Option<Uuid>,
    pub certificate: StoredCertificate,
    pub options: CertificateOptions,
    pub priority: i64,
    pub uploaded_on: OffsetDateTime,
    pub modified_on: OffsetDateTime,
}

/// A zone's fallback origin for custom hostnames: where the edge sends a custom hostname's
/// traffic when the hostname names no `custom_origin_server`. `origin` is `host` or
/// `host:port`, already checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FallbackOriginRecord {
    pub zone_id: String,
    pub origin: String,
    pub created_at: OffsetDateTime,
    pub updated_at: OffsetDateTime,
}

/// Optional list filters for custom hostnames, and the list's order. Statuses are compared
/// as the API shows them at the list's `now`, forced ones included.
#[derive(Debug, Clone, Default)]
pub struct HostnameFilter {
    pub id: Option<Uuid>,
    pub hostname: Option<HostnameMatch>,
    /// Whether the hostname has SSL at all: a DCV method or a certificate.
    pub ssl: Option<bool>,
    pub ssl_status: Option<String>,
    pub hostname_status: Option<String>,
    /// A `*.` hostname, or a certificate that also covers `*.hostname` (`ssl.wildcard`).
    pub wildcard: Option<bool>,
    pub certificate_authority: Option<String>,
    pub custom_origin_server: Option<String>,
    pub order: HostnameOrder,
    pub direction: Option<Direction>,
}

/// What a custom hostname list is sorted by first; creation time, then id, break ties.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum HostnameOrder {
    #[default]
    CreatedAt,
    /// The DCV method (`email`, `http`, `txt`; hostnames without SSL first).
    Ssl,
    SslStatus,
}

/// Optional list filters for custom certificates.
#[derive(Debug, Clone, Default)]
pub struct CertificateFilter {
    /// The status as the API shows it at the list's `now` (`active` or `expired`).
    pub status: Option<String>,
}

/// How a hostname filter matches (hostnames are stored in lower case).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HostnameMatch {
    Exact(String),
    Contains(String),
    StartsWith(String),
}

impl HostnameMatch {
    /// The filter as (exact value, LIKE pattern), one of them set.
    pub(super) fn sql(&self) -> (Option<&str>, Option<String>) {
        let escape = |text: &str| {
            text.replace('\\', "\\\\")
                .replace('%', "\\%")
                .replace('_', "\\_")
        };
        match self {
            HostnameMatch::Exact(name) => (Some(name), None),
            HostnameMatch::Contains(part) => (None, Some(format!("%{}%", escape(part)))),
            HostnameMatch::StartsWith(prefix) => (None, Some(format!("{}%", escape(prefix)))),
        }
    }
}

pub(super) fn to_micros(at: OffsetDateTime) -> i64 {
    i64::try_from(at.unix_timestamp_nanos() / 1_000).unwrap_or(i64::MAX)
}

pub(super) fn from_micros(micros: i64) -> Result<OffsetDateTime, StoreError> {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(micros) * 1_000)
        .map_err(|e| StoreError::Corrupt(format!("timestamp out of range: {e}")))
}

pub(super) fn to_json<T: Serialize>(value: &T) -> Result<String, StoreError> {
    serde_json::to_string(value).map_err(|e| StoreError::Corrupt(format!("encoding JSON: {e}")))
}

pub(super) fn from_json<T: for<'de> Deserialize<'de>>(text: &str) -> Result<T, StoreError> {
    serde_json::from_str(text).map_err(|e| StoreError::Corrupt(format!("stored JSON: {e}")))
}

/// A custom hostname's statuses forced through the test controls, shown over the ones
/// edgecert computes. `None` shows the computed value; error lists are messages.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StatusOverride {
    pub status: Option<String>,
    pub ssl_status: Option<String>,
    pub verification_errors: Option<Vec<String>>,
    pub ssl_validation_errors: Option<Vec<String>>,
}

impl StatusOverride {
    /// Nothing forced: the hostname shows its computed statuses.
    pub fn is_empty(&self) -> bool {
        self == &Self::default()
    }
}

/// What a reset removed, by table.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ResetCounts {
    pub custom_csrs: u64,
    pub custom_hostnames: u64,
    pub custom_certificates: u64,
    pub fallback_origins: u64,
    /// Keys of the CSRs and keys uploaded with hostnames and certificates.
    pub private_keys: u64,
}
