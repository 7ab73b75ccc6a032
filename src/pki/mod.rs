//! Key generation, encryption at rest and CSR construction. Free of HTTP concerns.

pub mod certificate;
pub mod csr;
pub mod keys;
pub mod names;

pub use keys::{KeyFactory, KeyType, MasterKey, PrivateKey};

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
