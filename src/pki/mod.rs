//! Keys, CSRs and uploaded certificates: the cryptography, free of HTTP concerns.

use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

mod certificate;
pub mod csr;
#[cfg(test)]
mod fixtures;
pub mod keys;
pub mod names;
pub(crate) mod pem;
mod trust;
pub mod work;

pub use certificate::{
    CertProblem, MAX_CERTIFICATE_BYTES, MAX_INTERMEDIATES, UploadRequest, VerifiedCertificate,
    verify_upload,
};
pub use keys::{KeyFactory, KeyType, MasterKey, PrivateKey};
pub use trust::TrustStore;
pub use work::{CpuLimiter, WorkGauges};

/// Failures of the cryptographic layer. None of them carries key material.
#[derive(Debug, thiserror::Error)]
pub enum PkiError {
    #[error("key generation failed: {0}")]
    KeyGeneration(String),
    #[error("CSR construction failed: {0}")]
    Csr(String),
    #[error("private key could not be encrypted")]
    Encrypt,
    #[error("private key could not be decrypted: wrong master key or corrupted data")]
    Decrypt,
    #[error("invalid master key: {0}")]
    MasterKey(String),
    #[error("key generation task stopped unexpectedly")]
    TaskAborted,
    /// An uploaded private key edgecert cannot use; the text says why and what is accepted.
    #[error("{0}")]
    UnsupportedKey(String),
    /// The extra trusted roots could not be loaded.
    #[error("invalid trusted roots: {0}")]
    TrustStore(String),
}

/// Timestamps in messages, as the API writes them.
fn rfc3339(at: &OffsetDateTime) -> String {
    at.format(&Rfc3339).unwrap_or_else(|_| at.to_string())
}
