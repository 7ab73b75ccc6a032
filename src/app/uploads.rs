//! What custom hostnames and custom certificates share: an uploaded certificate, the key it
//! must match (a stored CSR's, the one already in use, or one the customer supplies, which is
//! sealed at once), and the checks it must pass.

use std::sync::Arc;
use std::time::Duration;

use time::OffsetDateTime;

use uuid::Uuid;
use zeroize::Zeroizing;

use super::{AppState, InternalError, parse_id};
use crate::pki::{CertProblem, UploadRequest, verify_upload};
use crate::pki::{KeyType, MasterKey, PrivateKey, TrustStore, WorkGauges};
use crate::store::{KeyRef, Scope, StoreError, StoredCertificate, StoredKey};

/// Fourteen days: the real API refuses custom certificates that expire sooner.
pub const MIN_REMAINING_VALIDITY: Duration = Duration::from_secs(14 * 24 * 60 * 60);

/// The key a request names for its certificate, as received. Its `Debug` never shows a
/// supplied key.
#[derive(Clone, Copy, Default)]
pub struct KeyChoice<'a> {
    /// `custom_csr_id`: the CSR whose stored key signed the certificate.
    pub custom_csr_id: Option<&'a str>,
    /// A PEM private key supplied by the customer.
    pub supplied_pem: Option<&'a str>,
}

impl std::fmt::Debug for KeyChoice<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyChoice")
            .field("custom_csr_id", &self.custom_csr_id)
            .field("supplied_pem", &self.supplied_pem.map(|_| "[redacted]"))
            .finish()
    }
}

impl KeyChoice<'_> {
    pub fn names_a_key(&self) -> bool {
        self.custom_csr_id.is_some() || self.supplied_pem.is_some()
    }
}

/// The key an object already uses, for a renewal that names no new one.
#[derive(Debug, Clone, Copy)]
pub struct CurrentKey {
    pub key: KeyRef,
    pub custom_csr_id: Option<Uuid>,
}

/// What an upload is checked against besides its key.
#[derive(Debug, Clone, Copy)]
pub struct UploadPolicy<'a> {
    /// The hostname the certificate must cover, if any.
    pub hostname: Option<&'a str>,
    pub verify_trust: bool,
    pub min_remaining: Option<Duration>,
}

#[derive(Debug, thiserror::Error)]
pub enum UploadError {
    #[error("custom_csr_id {0:?} is not a valid CSR id")]
    CsrIdInvalid(String),
    /// No such CSR in the zone, or it was deleted while the upload was checked.
    #[error("custom CSR not found")]
    CsrNotFound,
    #[error("both a CSR id and a private key were given")]
    BothKeys,
    #[error("no key was named for the certificate")]
    NoKey,
    /// The supplied private key cannot be used; the text says why.
    #[error("{0}")]
    KeyInvalid(String),
    #[error(transparent)]
    Certificate(#[from] CertProblem),
    #[error(transparent)]
    Internal(#[from] InternalError),
}

/// An upload that passed every check, ready to store.
pub struct Accepted {
    pub key: KeyRef,
    /// The type of that key: a certificate pack holds one RSA and one ECDSA certificate.
    pub key_type: KeyType,
    /// Set when the customer supplied the key: it is stored with the certificate.
    pub new_key: Option<StoredKey>,
    pub custom_csr_id: Option<Uuid>,
    pub certificate: StoredCertificate,
}

/// Gauges of the uploads being verified and of those waiting for a `--verify-concurrency`
/// permit. Above zero queued for long means uploads wait for each other.
pub const VERIFICATIONS_IN_FLIGHT: &str = "edgecert_upload_verifications_in_flight";
pub const VERIFICATIONS_QUEUED: &str = "edgecert_upload_verifications_queued";
/// Gauge: the `--verify-concurrency` limit, set when metrics are scraped.
pub const VERIFICATION_CONCURRENCY: &str = "edgecert_upload_verification_concurrency";

pub const VERIFICATION_GAUGES: WorkGauges = WorkGauges {
    in_flight: VERIFICATIONS_IN_FLIGHT,
    queued: VERIFICATIONS_QUEUED,
};

/// The key the certificate must match, once the database has been asked.
enum ResolvedKey {
    /// A stored key: a CSR's or the one in use.
    Stored {
        key: KeyRef,
        key_type: KeyType,
        custom_csr_id: Option<Uuid>,
        spki_der: Vec<u8>,
    },
    /// The customer's PEM, parsed and sealed on the blocking thread with the checks, as
    /// parsing an RSA key costs as much CPU as a chain.
    Supplied(Zeroizing<String>),
}

/// Resolves the key, then runs the certificate checks in the documented order. Key parsing
/// and the checks run on a blocking thread, `--verify-concurrency` uploads at a time: a
/// bundle built to make chain building expensive costs that thread, not the async workers.
pub async fn accept(
    state: &AppState,
    zone_id: &str,
    certificate_pem: &str,
    choice: KeyChoice<'_>,
    current: Option<CurrentKey>,
    policy: UploadPolicy<'_>,
) -> Result<Accepted, UploadError> {
    let resolved = match (choice.custom_csr_id, choice.supplied_pem, current) {
        (Some(_), Some(_), _) => return Err(UploadError::BothKeys),
        (Some(raw), None, _) => {
            let csr_id = parse_id(raw).ok_or_else(|| UploadError::CsrIdInvalid(raw.to_string()))?;
            let csr = state
                .store
                .get_csr(&Scope::Zone(zone_id.to_string()), csr_id)
                .await
                .map_err(csr_lookup_error)?;
            let stored = state
                .store
                .get_key(csr.key_id)
                .await
                .map_err(csr_lookup_error)?;
            ResolvedKey::Stored {
                key: KeyRef {
                    key_id: csr.key_id,
                    owned: false,
                },
                key_type: stored.key_type,
                custom_csr_id: Some(csr_id),
                spki_der: stored.spki_der,
            }
        }
        (None, Some(pem), _) => ResolvedKey::Supplied(Zeroizing::new(pem.to_string())),
        (None, None, Some(current)) => {
            let stored = state
                .store
                .get_key(current.key.key_id)
                .await
                .map_err(InternalError::from)?;
            ResolvedKey::Stored {
                key: current.key,
                key_type: stored.key_type,
                custom_csr_id: current.custom_csr_id,
                spki_der: stored.spki_der,
            }
        }
        (None, None, None) => return Err(UploadError::NoKey),
    };

    let job = Job {
        certificate_pem: certificate_pem.to_string(),
        hostname: policy.hostname.map(str::to_string),
        verify_trust: policy.verify_trust,
        min_remaining: policy.min_remaining,
        strict: state.strict,
        master_key: Arc::clone(&state.master_key),
        trust: Arc::clone(&state.trust),
        now: state.clock.now(),
    };
    state
        .verifications
        .run(move || job.check(resolved))
        .await
        .map_err(InternalError::from)?
}

/// One upload's checks, owned so they can move to a blocking thread.
struct Job {
    certificate_pem: String,
    hostname: Option<String>,
    verify_trust: bool,
    min_remaining: Option<Duration>,
    strict: bool,
    master_key: Arc<MasterKey>,
    trust: Arc<TrustStore>,
    now: OffsetDateTime,
}

impl Job {
    fn check(self, resolved: ResolvedKey) -> Result<Accepted, UploadError> {
        let (key, key_type, new_key, custom_csr_id, spki_der) = match resolved {
            ResolvedKey::Stored {
                key,
                key_type,
                custom_csr_id,
                spki_der,
            } => (key, key_type, None, custom_csr_id, spki_der),
            ResolvedKey::Supplied(pem) => {
                let private_key = PrivateKey::from_pem(&pem)
                    .map_err(|error| UploadError::KeyInvalid(error.to_string()))?;
                let stored =
                    StoredKey::seal(&private_key, &self.master_key).map_err(InternalError::from)?;
                let spki = stored.spki_der.clone();
                let key = KeyRef {
                    key_id: stored.id,
                    owned: true,
                };
                (key, private_key.key_type(), Some(stored), None, spki)
            }
        };
        let request = UploadRequest {
            certificate_pem: &self.certificate_pem,
            expected_spki_der: &spki_der,
            hostname: self.hostname.as_deref(),
            verify_trust: self.verify_trust,
            min_remaining: self.min_remaining,
            now: self.now.into(),
            strict: self.strict,
        };
        let verified = verify_upload(&request, &self.trust)?;
        Ok(Accepted {
            key,
            key_type,
            new_key,
            custom_csr_id,
            certificate: StoredCertificate {
                bundle_pem: verified.bundle_pem,
                issuer: verified.issuer,
                serial_number: verified.serial_number,
                signature: verified.signature,
                hosts: verified.hosts,
                issued_on: verified.not_before,
                expires_on: verified.not_after,
                uploaded_on: self.now,
                fingerprint_sha256: verified.fingerprint_sha256,
            },
        })
    }
}

fn csr_lookup_error(error: StoreError) -> UploadError {
    match error {
        StoreError::NotFound => UploadError::CsrNotFound,
        other => UploadError::Internal(other.into()),
    }
}
