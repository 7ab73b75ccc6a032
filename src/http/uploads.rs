//! How custom hostnames and custom certificates answer a refused upload: each resource has its
//! own code for every problem and its own request field names.

use super::error::{ApiError, Code};
use crate::app::uploads::UploadError;
use crate::pki::CertProblem;

/// The Cloudflare codes one resource uses for each upload problem.
pub struct UploadCodes {
    pub csr_id_invalid: Code,
    pub csr_not_found: Code,
    pub both_keys: Code,
    pub no_key: Code,
    pub certificate_empty: Code,
    pub certificate_unparsable: Code,
    pub several_leaves: Code,
    pub no_leaf: Code,
    pub key_invalid: Code,
    pub key_mismatch: Code,
    pub untrusted: Code,
    pub validity: Code,
    pub hostname_not_covered: Code,
    pub weak_signature: Code,
}

/// The request fields of an upload, as JSON pointers for error sources and as names for
/// messages.
pub struct UploadFields {
    pub certificate: &'static str,
    pub csr_id: &'static str,
    pub key: &'static str,
    /// How messages name the certificate that lacks a key.
    pub certificate_noun: &'static str,
}

impl UploadFields {
    fn name(pointer: &str) -> String {
        pointer.trim_start_matches('/').replace('/', ".")
    }
}

/// The answer to a refused upload. `named_csr` tells which key field the request used, so a
/// key mismatch points at it.
pub fn upload_error(
    error: UploadError,
    codes: &UploadCodes,
    fields: &UploadFields,
    named_csr: bool,
) -> ApiError {
    let key_field = if named_csr { fields.csr_id } else { fields.key };
    let csr = UploadFields::name(fields.csr_id);
    let key = UploadFields::name(fields.key);
    match error {
        UploadError::CsrIdInvalid(raw) => ApiError::field(
            codes.csr_id_invalid,
            fields.csr_id,
            format!(
                "custom_csr_id {raw:?} is not a valid CSR id; use the id returned when the CSR was created."
            ),
        ),
        UploadError::CsrNotFound => ApiError::new(
            codes.csr_not_found,
            "Custom CSR not found: no CSR with this id exists in this zone (it may have been deleted).",
        ),
        UploadError::BothKeys => ApiError::field(
            codes.both_keys,
            fields.key,
            format!("Give either {csr} (the key stays in edgecert) or {key}, not both."),
        ),
        UploadError::NoKey => ApiError::field(
            codes.no_key,
            fields.key,
            format!(
                "{} needs its key: give {csr} (of the CSR it was issued for) or {key}.",
                fields.certificate_noun
            ),
        ),
        UploadError::KeyInvalid(message) => ApiError::field(codes.key_invalid, fields.key, message),
        UploadError::Certificate(problem) => {
            let (code, pointer) = problem_code(&problem, codes, fields.certificate, key_field);
            ApiError::field(code, pointer, problem.to_string())
        }
        UploadError::Internal(error) => error.into(),
    }
}

fn problem_code<'a>(
    problem: &CertProblem,
    codes: &UploadCodes,
    certificate: &'a str,
    key: &'a str,
) -> (Code, &'a str) {
    match problem {
        CertProblem::Empty => (codes.certificate_empty, certificate),
        // A bundle over the size limits is one edgecert cannot read: the same answer as a
        // malformed one, with the limit in the message.
        CertProblem::Unparsable(_)
        | CertProblem::TooManyCertificates { .. }
        | CertProblem::CertificateTooLarge { .. } => (codes.certificate_unparsable, certificate),
        CertProblem::SeveralLeaves(_) => (codes.several_leaves, certificate),
        CertProblem::NoLeaf => (codes.no_leaf, certificate),
        CertProblem::KeyMismatch => (codes.key_mismatch, key),
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
