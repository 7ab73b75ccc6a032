//! A CSR as the API shows it.

use serde::Serialize;
use uuid::Uuid;

use crate::http::rfc3339;
use crate::store::CsrRecord;

/// A CSR as the API shows it. There is deliberately no field that could hold the private key.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct CsrView {
    id: Uuid,
    #[serde(skip_serializing_if = "Option::is_none")]
    name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    description: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    account_tag: Option<String>,
    country: String,
    state: String,
    locality: String,
    organization: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    organizational_unit: Option<String>,
    common_name: String,
    sans: Vec<String>,
    /// `rsa2048` or `p256v1`.
    #[schema(value_type = String, example = "rsa2048")]
    key_type: &'static str,
    /// The CSR, PEM-encoded.
    csr: String,
    /// RFC 3339, UTC.
    created_at: String,
}

impl From<CsrRecord> for CsrView {
    fn from(record: CsrRecord) -> Self {
        Self {
            id: record.id,
            name: record.name,
            description: record.description,
            account_tag: record.scope.account_tag().map(str::to_string),
            country: record.country,
            state: record.state,
            locality: record.locality,
            organization: record.organization,
            organizational_unit: record.organizational_unit,
            common_name: record.common_name,
            sans: record.sans,
            key_type: record.key_type.as_str(),
            csr: record.csr_pem,
            created_at: rfc3339(record.created_at),
        }
    }
}
