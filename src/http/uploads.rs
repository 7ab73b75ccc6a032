//! What custom hostnames and custom certificates share: taking an uploaded certificate with
//! the key it must match (a stored CSR's, or one the customer supplies) and checking it.

use std::time::{Duration, SystemTime};

use axum::http::StatusCode;
use uuid::Uuid;

use super::error::{ApiError, ErrorDetail};
use super::extract::parse_uuid;
use crate::app::AppState;
use crate::pki::{CertProblem, PrivateKey, UploadRequest, verify_upload};
use crate::store::{KeyRef, Scope, StoreError, StoredCertificate, StoredKey};

/// The Cloudflare codes one resource uses for each upload problem.
pub struct UploadCodes {
    pub csr_id_invalid: u32,
    pub csr_not_found: u32,
    pub certificate_empty: u32,
    pub certificate_unparsable: u32,
    pub several_leaves: u32,
    pub no_leaf: u32,
    pub key_invalid: u32,
    pub key_mismatch: u32,
    pub untrusted: u32,
    pub validity: u32,
    pub hostname_not_covered: u32,
    pub weak_signature: u32,
}

/// Where the certificate's private key comes from.
pub enum KeySource<'a> {
    /// `custom_csr_id`, as received.
    Csr(&'a str),
    /// A PEM private key supplied by the customer.
    Supplied(&'a str),
    /// The key a stored certificate already uses, for a renewal with the same key.
    Current {
        key: KeyRef,
        custom_csr_id: Option<Uuid>,
    },
}

/// An upload that passed every check, ready to store.
pub struct Accepted {
    pub key: KeyRef,
    /// Set when the customer supplied the key: it is stored with the certificate.
    pub new_key: Option<StoredKey>,
    pub custom_csr_id: Option<Uuid>,
    pub certificate: StoredCertificate,
}

pub struct Upload<'a> {
    pub zone_id: &'a str,
    pub certificate_pem: &'a str,
    pub key: KeySource<'a>,
    pub hostname: Option<&'a str>,
    pub verify_trust: bool,
    pub min_remaining: Option<Duration>,
    /// JSON pointers of the request fields, for error sources.
    pub certificate_field: &'a str,
    pub key_field: &'a str,
}

fn bad(code: u32, message: String, pointer: &str) -> ApiError {
    ApiError::many(
        StatusCode::BAD_REQUEST,
        vec![ErrorDetail::new(code, message).at(pointer)],
    )
}

/// Resolves the key, then runs the certificate checks in the documented order.
pub async fn accept(
    state: &AppState,
    upload: Upload<'_>,
    codes: &UploadCodes,
) -> Result<Accepted, ApiError> {
    let (key, new_key, custom_csr_id, spki_der) = match upload.key {
        KeySource::Csr(raw) => {
            let csr_id = parse_uuid(raw).ok_or_else(|| {
                bad(
                    codes.csr_id_invalid,
                    format!("custom_csr_id {raw:?} is not a valid CSR id; use the id returned when the CSR was created."),
                    upload.key_field,
                )
            })?;
            let csr = state
                .store
                .get_csr(&Scope::Zone(upload.zone_id.to_string()), csr_id)
                .await
                .map_err(|error| csr_lookup_error(error, codes))?;
            let stored = state
                .store
                .get_key(csr.key_id)
                .await
                .map_err(|error| csr_lookup_error(error, codes))?;
            let key = KeyRef {
                key_id: csr.key_id,
                owned: false,
            };
            (key, None, Some(csr_id), stored.spki_der)
        }
        KeySource::Supplied(pem) => {
            let private_key = PrivateKey::from_pem(pem)
                .map_err(|error| bad(codes.key_invalid, error.to_string(), upload.key_field))?;
            let stored = StoredKey::seal(&private_key, &state.master_key)?;
            let spki = stored.spki_der.clone();
            (
                KeyRef {
                    key_id: stored.id,
                    owned: true,
                },
                Some(stored),
                None,
                spki,
            )
        }
        KeySource::Current { key, custom_csr_id } => {
            let stored = state.store.get_key(key.key_id).await?;
            (key, None, custom_csr_id, stored.spki_der)
        }
    };

    let request = UploadRequest {
        certificate_pem: upload.certificate_pem,
        expected_spki_der: &spki_der,
        hostname: upload.hostname,
        verify_trust: upload.verify_trust,
        min_remaining: upload.min_remaining,
        now: SystemTime::now(),
        strict: state.strict,
    };
    let verified = verify_upload(&request, &state.trust).map_err(|problem| {
        let (code, pointer) = problem_code(&problem, codes, &upload);
        bad(code, problem.to_string(), pointer)
    })?;
    Ok(Accepted {
        key,
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
            uploaded_on: crate::store::now(),
            fingerprint_sha256: verified.fingerprint_sha256,
        },
    })
}

fn problem_code<'a>(
    problem: &CertProblem,
    codes: &UploadCodes,
    upload: &Upload<'a>,
) -> (u32, &'a str) {
    let certificate = upload.certificate_field;
    match problem {
        CertProblem::Empty => (codes.certificate_empty, certificate),
        CertProblem::Unparsable(_) => (codes.certificate_unparsable, certificate),
        CertProblem::SeveralLeaves(_) => (codes.several_leaves, certificate),
        CertProblem::NoLeaf => (codes.no_leaf, certificate),
        CertProblem::KeyMismatch => (codes.key_mismatch, upload.key_field),
        CertProblem::WeakSignature(_) | CertProblem::WeakKey(_) => {
            (codes.weak_signature, certificate)
        }
        CertProblem::Expired(_) | CertProblem::NotYetValid(_) | CertProblem::ExpiresSoon(_) => {
            (codes.validity, certificate)
        }
        CertProblem::Untrusted(_) => (codes.untrusted, certificate),
        CertProblem::HostnameNotCovered { .. } => (codes.hostname_not_covered, certificate),
    }
}

fn csr_lookup_error(error: StoreError, codes: &UploadCodes) -> ApiError {
    match error {
        StoreError::NotFound => csr_not_found(codes),
        other => other.into(),
    }
}

pub fn csr_not_found(codes: &UploadCodes) -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        codes.csr_not_found,
        "Custom CSR not found: no CSR with this id exists in this zone (it may have been deleted).",
    )
}

/// Fourteen days: the real API refuses custom certificates that expire sooner.
pub const MIN_REMAINING_VALIDITY: Duration = Duration::from_secs(14 * 24 * 60 * 60);
