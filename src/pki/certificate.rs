//! Checks on an uploaded certificate: PEM parsing, leaf and chain ordering, key match, signature
//! and validity rules, path validation to trusted roots (rustls-webpki) and hostname coverage.

use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::engine::general_purpose::STANDARD as BASE64;
use rustls_pki_types::{
    AlgorithmIdentifier, CertificateDer, InvalidSignature, ServerName,
    SignatureVerificationAlgorithm, TrustAnchor, UnixTime, alg_id,
};
use sha2::{Digest, Sha256};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use x509_parser::certificate::X509Certificate;
use x509_parser::extensions::{GeneralName, ParsedExtension};
use x509_parser::prelude::FromDer;
use x509_parser::public_key::PublicKey;

use super::PkiError;

/// Smallest RSA modulus accepted in a leaf, as Cloudflare documents for uploads.
const MIN_RSA_BITS: usize = 2048;

/// Trust anchors: Mozilla's roots (webpki-roots) unless disabled, plus extra PEM roots.
/// Built once at start-up; verification borrows it.
#[derive(Clone)]
pub struct TrustStore {
    anchors: Vec<TrustAnchor<'static>>,
    algorithms: Vec<&'static dyn SignatureVerificationAlgorithm>,
}

impl fmt::Debug for TrustStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TrustStore")
            .field("anchors", &self.anchors.len())
            .finish_non_exhaustive()
    }
}

impl TrustStore {
    /// `public_roots` adds the Mozilla root program; `extra_roots_pem` holds further roots as
    /// PEM CERTIFICATE blocks (a private CA for tests or internal use).
    pub fn new(public_roots: bool, extra_roots_pem: Option<&[u8]>) -> Result<Self, PkiError> {
        let mut anchors = Vec::new();
        if public_roots {
            anchors.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
        }
        if let Some(pem_bytes) = extra_roots_pem {
            let text = std::str::from_utf8(pem_bytes).map_err(|_| {
                PkiError::TrustStore("the extra roots file is not UTF-8 text".into())
            })?;
            let blocks = pem::blocks(text).map_err(|e| PkiError::TrustStore(e.to_string()))?;
            for (index, block) in blocks.iter().enumerate() {
                let number = index + 1;
                if block.label != "CERTIFICATE" {
                    return Err(PkiError::TrustStore(format!(
                        "block {number} is a {} block; only CERTIFICATE blocks may be listed",
                        block.label
                    )));
                }
                let der = CertificateDer::from(block.der.as_slice());
                let anchor = webpki::anchor_from_trusted_cert(&der).map_err(|e| {
                    PkiError::TrustStore(format!(
                        "block {number} is not a usable root certificate: {}",
                        describe_webpki(&e)
                    ))
                })?;
                anchors.push(anchor.to_owned());
            }
        }
        let mut algorithms = webpki::ALL_VERIFICATION_ALGS.to_vec();
        // webpki refuses SHA-1, yet the API accepts SHA-1/RSA certificates: their chains must
        // still be verifiable.
        algorithms.push(&RSA_PKCS1_SHA1);
        Ok(Self {
            anchors,
            algorithms,
        })
    }

    pub fn len(&self) -> usize {
        self.anchors.len()
    }

    pub fn is_empty(&self) -> bool {
        self.anchors.is_empty()
    }
}

/// What the caller knows about an upload. See [`verify_upload`] for the order of the checks.
#[derive(Debug, Clone)]
pub struct UploadRequest<'a> {
    /// The PEM text as received in JSON: real newlines, literal `\n` escapes and CRLF all work.
    pub certificate_pem: &'a str,
    /// SubjectPublicKeyInfo of the stored CSR key or of the uploaded private key.
    pub expected_spki_der: &'a [u8],
    /// A custom hostname the leaf's SAN DNS names must cover; `None` for custom certificates.
    pub hostname: Option<&'a str>,
    /// False only for custom certificates uploaded with bundle method `force`.
    pub verify_trust: bool,
    /// Shortest remaining validity accepted (14 days for custom certificates).
    pub min_remaining: Option<Duration>,
    pub now: SystemTime,
    /// Accept only the three signature algorithms the API documents.
    pub strict: bool,
}

/// An upload that passed every check, with the facts the API reports about it.
#[derive(Debug, Clone)]
pub struct VerifiedCertificate {
    pub leaf_der: Vec<u8>,
    /// The uploaded intermediates, the leaf's issuer first (the bundle may arrive in any order).
    pub intermediates_der: Vec<Vec<u8>>,
    /// Issuer organisation without spaces (`DigiCertInc`), else the issuer CN without spaces.
    pub issuer: String,
    /// Decimal, as the API shows it.
    pub serial_number: String,
    /// For example `SHA256WithRSA` or `ECDSAWithSHA256`.
    pub signature: String,
    /// The leaf's SAN DNS names, in certificate order.
    pub hosts: Vec<String>,
    pub not_before: OffsetDateTime,
    pub not_after: OffsetDateTime,
    /// Lowercase hex SHA-256 of the leaf DER.
    pub fingerprint_sha256: String,
    pub spki_der: Vec<u8>,
    /// Leaf then intermediates, as PEM with `\n` line endings.
    pub bundle_pem: String,
}

/// Why an upload was refused. Each case maps to one API error code, so the checks run in a
/// fixed order (see [`verify_upload`]); the message tells the user what to change.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CertProblem {
    #[error(
        "The certificate is empty. Send the PEM text of the certificate, starting with \
         -----BEGIN CERTIFICATE-----."
    )]
    Empty,
    #[error(
        "The certificate cannot be parsed: {0}. Send PEM CERTIFICATE blocks only: the leaf \
         certificate, optionally followed by its intermediates."
    )]
    Unparsable(String),
    #[error(
        "The bundle contains {0} leaf certificates. Upload exactly one leaf certificate, \
         optionally with the intermediates that issued it."
    )]
    SeveralLeaves(usize),
    #[error(
        "The bundle contains no leaf certificate, only CA certificates. Upload the certificate \
         issued for your hostnames, optionally followed by its intermediates."
    )]
    NoLeaf,
    #[error(
        "The certificate's public key does not match the private key. Upload the certificate \
         that was issued for this key (or for the CSR's key)."
    )]
    KeyMismatch,
    #[error(
        "The certificate is signed with {0}, which is not accepted. Have it issued with \
         SHA-256 and RSA or ECDSA."
    )]
    WeakSignature(String),
    #[error(
        "The certificate's key is not accepted: {0}. Use an RSA key of at least 2048 bits or \
         an ECDSA P-256 key."
    )]
    WeakKey(String),
    #[error("The certificate expired at {}. Upload a certificate that is currently valid.", rfc3339(.0))]
    Expired(OffsetDateTime),
    #[error(
        "The certificate is not valid before {}. Upload it once it is valid, or check the \
         issuing CA's clock.",
        rfc3339(.0)
    )]
    NotYetValid(OffsetDateTime),
    #[error(
        "The certificate expires at {}, too soon to be accepted. Upload a certificate with a \
         longer remaining validity.",
        rfc3339(.0)
    )]
    ExpiresSoon(OffsetDateTime),
    #[error(
        "The certificate cannot be bundled against the trusted root certificates: {0}. Upload \
         a certificate from a publicly trusted CA together with its intermediates."
    )]
    Untrusted(String),
    #[error(
        "The certificate does not cover {hostname}; its DNS names are {}. The common name is \
         not used: the hostname must be listed as a subject alternative name.",
        list_or_none(.hosts)
    )]
    HostnameNotCovered {
        hostname: String,
        hosts: Vec<String>,
    },
}

fn rfc3339(at: &OffsetDateTime) -> String {
    at.format(&Rfc3339).unwrap_or_else(|_| at.to_string())
}

fn list_or_none(hosts: &[String]) -> String {
    if hosts.is_empty() {
        "none".into()
    } else {
        hosts.join(", ")
    }
}

/// One parsed certificate of the bundle, with the facts chain ordering needs.
struct Member<'a> {
    der: &'a [u8],
    cert: X509Certificate<'a>,
    subject_key_id: Option<&'a [u8]>,
    authority_key_id: Option<&'a [u8]>,
}

impl Member<'_> {
    /// Whether `self` names `child` as its issuer. Names are compared as DER bytes, as webpki
    /// does; key identifiers only break ties when both certificates carry them.
    fn issued(&self, child: &Member<'_>) -> bool {
        if child.cert.issuer().as_raw() != self.cert.subject().as_raw() {
            return false;
        }
        match (self.subject_key_id, child.authority_key_id) {
            (Some(ski), Some(aki)) => ski == aki,
            _ => true,
        }
    }

    fn is_self_issued(&self) -> bool {
        self.cert.issuer().as_raw() == self.cert.subject().as_raw()
    }
}

/// Runs the checks in this order, stopping at the first failure (the HTTP layer maps each
/// [`CertProblem`] to a code, so the order is part of the API):
/// 1. PEM: empty -> `Empty`; any block that is not a parsable X.509 CERTIFICATE -> `Unparsable`;
/// 2. leaf: exactly one certificate that issues no other in the bundle and is not a CA;
/// 3. the leaf's key equals `expected_spki_der`;
/// 4. the leaf's signature algorithm and key size;
/// 5. the leaf's validity at `now` (and `min_remaining`);
/// 6. if `verify_trust`, a path to a trust anchor through the uploaded intermediates (webpki);
/// 7. if `hostname`, coverage by the leaf's SAN DNS names (webpki; the CN is ignored).
pub fn verify_upload(
    req: &UploadRequest<'_>,
    trust: &TrustStore,
) -> Result<VerifiedCertificate, CertProblem> {
    // 1. PEM.
    let blocks = match pem::blocks(req.certificate_pem) {
        Ok(blocks) => blocks,
        Err(pem::PemError::Empty) => return Err(CertProblem::Empty),
        Err(e) => return Err(CertProblem::Unparsable(e.to_string())),
    };
    let mut members: Vec<Member<'_>> = Vec::with_capacity(blocks.len());
    for (index, block) in blocks.iter().enumerate() {
        let number = index + 1;
        if block.label != "CERTIFICATE" {
            return Err(CertProblem::Unparsable(format!(
                "block {number} is a {} block, not a CERTIFICATE",
                block.label
            )));
        }
        // The same certificate pasted twice is harmless; counting it twice would report two leaves.
        if members.iter().any(|m| m.der == block.der.as_slice()) {
            continue;
        }
        members.push(parse_member(&block.der).map_err(|detail| {
            CertProblem::Unparsable(format!("block {number} (CERTIFICATE) {detail}"))
        })?);
    }

    // 2. Leaf and chain order.
    let (leaf_index, chain) = order_chain(&members)?;
    let leaf = &members[leaf_index];

    // 3. Key match.
    if leaf.cert.public_key().raw != req.expected_spki_der {
        return Err(CertProblem::KeyMismatch);
    }

    // 4. Signature algorithm and key strength, before the chain check: webpki cannot even
    // evaluate an MD5 signature and would only say "unsupported algorithm".
    let signature = signature_name(&leaf.cert.signature_algorithm.algorithm.to_id_string());
    if !signature_allowed(&signature, req.strict) {
        return Err(CertProblem::WeakSignature(signature));
    }
    check_key_strength(&leaf.cert)?;

    // 5. Validity of the leaf.
    let not_before = leaf.cert.validity().not_before.to_datetime();
    let not_after = leaf.cert.validity().not_after.to_datetime();
    let now = OffsetDateTime::from(req.now);
    if now > not_after {
        return Err(CertProblem::Expired(not_after));
    }
    if now < not_before {
        return Err(CertProblem::NotYetValid(not_before));
    }
    if let Some(min_remaining) = req.min_remaining {
        let min_remaining = time::Duration::try_from(min_remaining).unwrap_or(time::Duration::MAX);
        if not_after - now < min_remaining {
            return Err(CertProblem::ExpiresSoon(not_after));
        }
    }

    // 6. Trust.
    let leaf_der = CertificateDer::from(leaf.der);
    let intermediates: Vec<CertificateDer<'_>> = chain
        .iter()
        .map(|&i| CertificateDer::from(members[i].der))
        .collect();
    let end_entity = webpki::EndEntityCert::try_from(&leaf_der);
    if req.verify_trust {
        let end_entity = end_entity
            .as_ref()
            .map_err(|e| CertProblem::Untrusted(describe_webpki(e)))?;
        let since_epoch = req.now.duration_since(UNIX_EPOCH).unwrap_or_default();
        end_entity
            .verify_for_usage(
                &trust.algorithms,
                &trust.anchors,
                &intermediates,
                UnixTime::since_unix_epoch(since_epoch),
                webpki::KeyUsage::server_auth(),
                None,
                None,
            )
            .map_err(|e| {
                if leaf.is_self_issued() && matches!(e, webpki::Error::UnknownIssuer) {
                    CertProblem::Untrusted("the certificate is self-signed".into())
                } else {
                    CertProblem::Untrusted(describe_webpki(&e))
                }
            })?;
    }

    // 7. Hostname coverage.
    let hosts = dns_names(&leaf.cert);
    if let Some(hostname) = req.hostname {
        let not_covered = || CertProblem::HostnameNotCovered {
            hostname: hostname.to_string(),
            hosts: hosts.clone(),
        };
        if let Some(parent) = hostname.strip_prefix("*.") {
            // A wildcard custom hostname stands for every name one label below `parent`; only
            // the same wildcard SAN covers all of them. webpki cannot take "*" as a reference name.
            let wanted = format!("*.{parent}");
            if !hosts.iter().any(|h| h.eq_ignore_ascii_case(&wanted)) {
                return Err(not_covered());
            }
        } else {
            let end_entity = end_entity.map_err(|e| {
                CertProblem::Unparsable(format!(
                    "the leaf certificate cannot be checked for hostnames: {}",
                    describe_webpki(&e)
                ))
            })?;
            let name = ServerName::try_from(hostname).map_err(|_| not_covered())?;
            end_entity
                .verify_is_valid_for_subject_name(&name)
                .map_err(|_| not_covered())?;
        }
    }

    let intermediates_der: Vec<Vec<u8>> = chain.iter().map(|&i| members[i].der.to_vec()).collect();
    let mut bundle_pem = pem::encode_certificate(leaf.der);
    for der in &intermediates_der {
        bundle_pem.push_str(&pem::encode_certificate(der));
    }
    Ok(VerifiedCertificate {
        leaf_der: leaf.der.to_vec(),
        intermediates_der,
        issuer: issuer_name(&leaf.cert),
        serial_number: leaf.cert.tbs_certificate.serial.to_string(),
        signature,
        hosts,
        not_before,
        not_after,
        fingerprint_sha256: hex(&Sha256::digest(leaf.der)),
        spki_der: leaf.cert.public_key().raw.to_vec(),
        bundle_pem,
    })
}

fn parse_member(der: &[u8]) -> Result<Member<'_>, String> {
    let (rest, cert) = X509Certificate::from_der(der)
        .map_err(|e| format!("is not a valid X.509 certificate ({e})"))?;
    if !rest.is_empty() {
        return Err(format!(
            "has {} bytes of trailing data after the certificate",
            rest.len()
        ));
    }
    let mut subject_key_id = None;
    let mut authority_key_id = None;
    for extension in cert.extensions() {
        match extension.parsed_extension() {
            ParsedExtension::SubjectKeyIdentifier(id) => subject_key_id = Some(id.0),
            ParsedExtension::AuthorityKeyIdentifier(aki) => {
                authority_key_id = aki.key_identifier.as_ref().map(|id| id.0);
            }
            _ => {}
        }
    }
    Ok(Member {
        der,
        cert,
        subject_key_id,
        authority_key_id,
    })
}

/// Finds the one leaf and orders the other certificates as a chain from it: the leaf's issuer
/// first, then that certificate's issuer, and so on. Certificates outside that chain follow in
/// upload order, so nothing uploaded is dropped and webpki may still use them.
fn order_chain(members: &[Member<'_>]) -> Result<(usize, Vec<usize>), CertProblem> {
    let leaves: Vec<usize> = (0..members.len())
        .filter(|&i| {
            !members[i].cert.is_ca()
                && !members
                    .iter()
                    .enumerate()
                    .any(|(j, child)| j != i && members[i].issued(child))
        })
        .collect();
    let leaf = match leaves.as_slice() {
        [] => return Err(CertProblem::NoLeaf),
        [one] => *one,
        several => return Err(CertProblem::SeveralLeaves(several.len())),
    };
    let mut remaining: Vec<usize> = (0..members.len()).filter(|&i| i != leaf).collect();
    let mut chain = Vec::with_capacity(remaining.len());
    let mut current = leaf;
    while !members[current].is_self_issued() {
        let Some(position) = remaining
            .iter()
            .position(|&i| members[i].issued(&members[current]))
        else {
            break;
        };
        current = remaining.remove(position);
        chain.push(current);
    }
    chain.extend(remaining);
    Ok((leaf, chain))
}

/// Names in the style of Cloudflare's `signature` field (Go's names with "With" for "-").
fn signature_name(oid: &str) -> String {
    let name = match oid {
        "1.2.840.113549.1.1.2" => "MD2WithRSA",
        "1.2.840.113549.1.1.4" => "MD5WithRSA",
        "1.2.840.113549.1.1.5" => "SHA1WithRSA",
        "1.2.840.113549.1.1.10" => "RSAPSS",
        "1.2.840.113549.1.1.11" => "SHA256WithRSA",
        "1.2.840.113549.1.1.12" => "SHA384WithRSA",
        "1.2.840.113549.1.1.13" => "SHA512WithRSA",
        "1.2.840.113549.1.1.14" => "SHA224WithRSA",
        "1.2.840.10045.4.1" => "ECDSAWithSHA1",
        "1.2.840.10045.4.3.1" => "ECDSAWithSHA224",
        "1.2.840.10045.4.3.2" => "ECDSAWithSHA256",
        "1.2.840.10045.4.3.3" => "ECDSAWithSHA384",
        "1.2.840.10045.4.3.4" => "ECDSAWithSHA512",
        "1.2.840.10040.4.3" => "DSAWithSHA1",
        "2.16.840.1.101.3.4.3.2" => "DSAWithSHA256",
        "1.3.101.112" => "Ed25519",
        other => return format!("an unknown algorithm ({other})"),
    };
    name.to_string()
}

fn signature_allowed(name: &str, strict: bool) -> bool {
    // The three the API documents. Let's Encrypt's ECDSA intermediates sign with SHA-384, so
    // refusing the SHA-384/512 variants outside strict mode would reject real certificates.
    match name {
        "ECDSAWithSHA256" | "SHA256WithRSA" | "SHA1WithRSA" => true,
        "ECDSAWithSHA384" | "SHA384WithRSA" | "SHA512WithRSA" => !strict,
        _ => false,
    }
}

fn check_key_strength(cert: &X509Certificate<'_>) -> Result<(), CertProblem> {
    let spki = cert.public_key();
    match spki.parsed() {
        Ok(PublicKey::RSA(rsa)) => {
            let bits = rsa.key_size();
            if bits < MIN_RSA_BITS {
                return Err(CertProblem::WeakKey(format!(
                    "its RSA key has {bits} bits, fewer than {MIN_RSA_BITS}"
                )));
            }
            Ok(())
        }
        Ok(PublicKey::EC(_)) => {
            let curve = spki
                .algorithm
                .parameters
                .as_ref()
                .and_then(|p| p.as_oid().ok())
                .map(|oid| oid.to_id_string());
            match curve.as_deref() {
                // P-256 and P-384: the curves webpki verifies.
                Some("1.2.840.10045.3.1.7" | "1.3.132.0.34") => Ok(()),
                Some(other) => Err(CertProblem::WeakKey(format!(
                    "its elliptic curve ({other}) is not supported"
                ))),
                None => Err(CertProblem::WeakKey(
                    "its elliptic curve is not named".into(),
                )),
            }
        }
        Ok(_) => Err(CertProblem::WeakKey(format!(
            "its key algorithm ({}) is not supported",
            spki.algorithm.algorithm.to_id_string()
        ))),
        Err(e) => Err(CertProblem::WeakKey(format!(
            "its public key cannot be read ({e})"
        ))),
    }
}

fn dns_names(cert: &X509Certificate<'_>) -> Vec<String> {
    let Ok(Some(san)) = cert.subject_alternative_name() else {
        return Vec::new();
    };
    san.value
        .general_names
        .iter()
        .filter_map(|name| match name {
            GeneralName::DNSName(dns) => Some((*dns).to_string()),
            _ => None,
        })
        .collect()
}

fn issuer_name(cert: &X509Certificate<'_>) -> String {
    let issuer = cert.issuer();
    let attribute = issuer
        .iter_organization()
        .find_map(|a| a.as_str().ok())
        .or_else(|| issuer.iter_common_name().find_map(|a| a.as_str().ok()));
    let name = match attribute {
        Some(value) => value.to_string(),
        None => issuer.to_string(),
    };
    name.chars().filter(|c| !c.is_whitespace()).collect()
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut out, b| {
            let _ = write!(out, "{b:02x}");
            out
        })
}

/// webpki's reasons, in words a user can act on.
fn describe_webpki(error: &webpki::Error) -> String {
    use webpki::Error as E;
    match error {
        E::UnknownIssuer => "unknown issuer: the chain does not lead to a trusted root; include \
                             every intermediate certificate"
            .into(),
        E::CertExpired { not_after, .. } => format!(
            "a certificate in the chain expired at {}",
            unix_rfc3339(*not_after)
        ),
        E::CertNotValidYet { not_before, .. } => format!(
            "a certificate in the chain is not valid before {}",
            unix_rfc3339(*not_before)
        ),
        E::CaUsedAsEndEntity => "the leaf certificate is a CA certificate".into(),
        E::EndEntityUsedAsCa => {
            "a certificate that is not a CA was used to issue another certificate".into()
        }
        E::InvalidSignatureForPublicKey => {
            "a signature in the chain does not verify with its issuer's key".into()
        }
        E::UnsupportedSignatureAlgorithmContext(_)
        | E::UnsupportedSignatureAlgorithmForPublicKeyContext(_) => {
            "a certificate in the chain uses an unsupported signature algorithm or key".into()
        }
        E::RequiredEkuNotFoundContext(_) => {
            "a certificate in the chain is not valid for TLS server authentication (extended \
             key usage)"
                .into()
        }
        E::CertDistrusted => "a certificate in the chain has a distrusted key".into(),
        E::NameConstraintViolation => "the chain violates a CA's name constraints".into(),
        E::PathLenConstraintViolated => "the chain violates a CA's path length limit".into(),
        E::UnsupportedCertVersion => "a certificate is not an X.509 version 3 certificate".into(),
        E::UnsupportedCriticalExtension => {
            "a certificate has a critical extension that cannot be processed".into()
        }
        E::MaximumPathDepthExceeded
        | E::MaximumPathBuildCallsExceeded
        | E::MaximumSignatureChecksExceeded => "the chain is too long or too complex".into(),
        other => format!("the chain is invalid ({other:?})"),
    }
}

fn unix_rfc3339(at: UnixTime) -> String {
    let secs = i64::try_from(at.as_secs()).unwrap_or(i64::MAX);
    match OffsetDateTime::from_unix_timestamp(secs) {
        Ok(at) => rfc3339(&at),
        Err(_) => format!("{secs} seconds after 1970"),
    }
}

/// `sha1WithRSAEncryption` with NULL parameters, the form certificates use.
const RSA_PKCS1_SHA1_ID: AlgorithmIdentifier = AlgorithmIdentifier::from_slice(&[
    0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x05, 0x05, 0x00,
]);

/// RSA PKCS#1 v1.5 with SHA-1, which webpki deliberately lacks. Key sizes as webpki's RSA
/// algorithms: 2048 to 8192 bits.
#[derive(Debug)]
struct RsaPkcs1Sha1;

static RSA_PKCS1_SHA1: RsaPkcs1Sha1 = RsaPkcs1Sha1;

impl SignatureVerificationAlgorithm for RsaPkcs1Sha1 {
    fn verify_signature(
        &self,
        public_key: &[u8],
        message: &[u8],
        signature: &[u8],
    ) -> Result<(), InvalidSignature> {
        use rsa::pkcs1::DecodeRsaPublicKey as _;
        use rsa::traits::PublicKeyParts as _;

        let key = rsa::PublicKey::from_pkcs1_der(public_key).map_err(|_| InvalidSignature)?;
        if key.n().bit_width_vartime() < 2048 {
            return Err(InvalidSignature);
        }
        key.pkcs1v15_verify::<sha1::Sha1>(message, signature)
            .map_err(|_| InvalidSignature)
    }

    fn public_key_alg_id(&self) -> AlgorithmIdentifier {
        alg_id::RSA_ENCRYPTION
    }

    fn signature_alg_id(&self) -> AlgorithmIdentifier {
        RSA_PKCS1_SHA1_ID
    }
}

/// A small PEM reader shared by certificate and key imports. It names the block that is wrong,
/// tolerates text between blocks (as openssl writes it) and repairs JSON-escaped newlines.
pub(crate) mod pem {
    use std::fmt;

    use base64::Engine as _;
    use zeroize::Zeroizing;

    use super::BASE64;

    /// One `-----BEGIN label-----` ... `-----END label-----` block.
    pub(crate) struct Block {
        pub(crate) label: String,
        /// RFC 1421 headers such as `Proc-Type: 4,ENCRYPTED` (legacy encrypted keys).
        pub(crate) headers: Vec<String>,
        /// Zeroised on drop: the block may be a private key.
        pub(crate) der: Zeroizing<Vec<u8>>,
    }

    #[derive(Debug, Clone, PartialEq, Eq)]
    pub(crate) enum PemError {
        /// Nothing but whitespace.
        Empty,
        NoBlock,
        Unterminated {
            number: usize,
            label: String,
        },
        MismatchedEnd {
            number: usize,
            label: String,
            end: String,
        },
        BadBase64 {
            number: usize,
            label: String,
        },
    }

    impl fmt::Display for PemError {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            match self {
                PemError::Empty => f.write_str("the text is empty"),
                PemError::NoBlock => {
                    f.write_str("no PEM block found (expected a line like -----BEGIN ...-----)")
                }
                PemError::Unterminated { number, label } => {
                    write!(
                        f,
                        "block {number} ({label}) has no matching -----END {label}----- line"
                    )
                }
                PemError::MismatchedEnd { number, label, end } => {
                    write!(f, "block {number} begins as {label} but ends as {end}")
                }
                PemError::BadBase64 { number, label } => {
                    write!(f, "block {number} ({label}) is not valid base64")
                }
            }
        }
    }

    /// Undoes what JSON clients often do to PEM: newlines sent as a literal backslash-n, and
    /// CRLF line endings. Backslashes never occur in PEM, so the replacement is safe.
    pub(crate) fn normalise(text: &str) -> Zeroizing<String> {
        Zeroizing::new(
            text.replace("\\r\\n", "\n")
                .replace("\\n", "\n")
                .replace("\r\n", "\n")
                .replace('\r', "\n"),
        )
    }

    const BEGIN: &str = "-----BEGIN ";
    const END: &str = "-----END ";
    const DASHES: &str = "-----";

    pub(crate) fn blocks(text: &str) -> Result<Vec<Block>, PemError> {
        let text = normalise(text);
        if text.trim().is_empty() {
            return Err(PemError::Empty);
        }
        let mut blocks = Vec::new();
        let mut rest: &str = &text;
        while let Some(start) = rest.find(BEGIN) {
            let number = blocks.len() + 1;
            let after_begin = &rest[start + BEGIN.len()..];
            let unterminated = |label: &str| PemError::Unterminated {
                number,
                label: label.to_string(),
            };
            let label_end = after_begin
                .find(DASHES)
                .filter(|&end| !after_begin[..end].contains('\n'))
                .ok_or_else(|| unterminated("unlabelled"))?;
            let label = after_begin[..label_end].trim();
            let body_and_rest = &after_begin[label_end + DASHES.len()..];
            let body_end = body_and_rest.find(END).ok_or_else(|| unterminated(label))?;
            let body = &body_and_rest[..body_end];
            if body.contains(BEGIN) {
                return Err(unterminated(label));
            }
            let after_end = &body_and_rest[body_end + END.len()..];
            let end_label_end = after_end
                .find(DASHES)
                .filter(|&end| !after_end[..end].contains('\n'))
                .ok_or_else(|| unterminated(label))?;
            let end_label = after_end[..end_label_end].trim();
            if end_label != label {
                return Err(PemError::MismatchedEnd {
                    number,
                    label: label.to_string(),
                    end: end_label.to_string(),
                });
            }
            rest = &after_end[end_label_end + DASHES.len()..];

            let mut headers = Vec::new();
            let mut base64 = Zeroizing::new(String::with_capacity(body.len()));
            for line in body.lines() {
                // Base64 has no colon, so a line with one is an RFC 1421 header.
                if line.contains(':') {
                    headers.push(line.trim().to_string());
                } else {
                    base64.extend(line.chars().filter(|c| !c.is_ascii_whitespace()));
                }
            }
            let der = BASE64
                .decode(base64.as_bytes())
                .map(Zeroizing::new)
                .map_err(|_| PemError::BadBase64 {
                    number,
                    label: label.to_string(),
                })?;
            blocks.push(Block {
                label: label.to_string(),
                headers,
                der,
            });
        }
        if blocks.is_empty() {
            return Err(PemError::NoBlock);
        }
        Ok(blocks)
    }

    /// PEM with 64-character lines and `\n` endings, as openssl writes it.
    pub(crate) fn encode_certificate(der: &[u8]) -> String {
        let body = BASE64.encode(der);
        let mut out = String::with_capacity(body.len() + body.len() / 64 + 60);
        out.push_str("-----BEGIN CERTIFICATE-----\n");
        for chunk in body.as_bytes().chunks(64) {
            // Base64 output is ASCII, so every chunk is valid UTF-8.
            out.push_str(std::str::from_utf8(chunk).unwrap_or_default());
            out.push('\n');
        }
        out.push_str("-----END CERTIFICATE-----\n");
        out
    }
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use rcgen::{
        BasicConstraints, CertificateParams, CertificateSigningRequestParams, CertifiedIssuer,
        DistinguishedName, DnType, IsCa, KeyPair, KeyUsagePurpose, PKCS_ECDSA_P256_SHA256,
        PKCS_ECDSA_P384_SHA384, PKCS_RSA_SHA256, SanType, SubjectPublicKeyInfo,
    };
    use rsa::pkcs8::{DecodePrivateKey as _, EncodePublicKey as _};

    use super::*;
    use crate::pki::csr::{Subject, build_csr};
    use crate::pki::{KeyType, PrivateKey};

    const DAY: time::Duration = time::Duration::DAY;

    fn now() -> OffsetDateTime {
        OffsetDateTime::now_utc()
    }

    /// A root and an intermediate, as a public CA would run them.
    struct TestCa {
        root: CertifiedIssuer<'static, KeyPair>,
        intermediate: CertifiedIssuer<'static, KeyPair>,
    }

    fn ca_params(
        common_name: &str,
        not_before: OffsetDateTime,
        not_after: OffsetDateTime,
    ) -> CertificateParams {
        let mut params = CertificateParams::default();
        let mut name = DistinguishedName::new();
        name.push(DnType::OrganizationName, "Edgecert Test CA");
        name.push(DnType::CommonName, common_name);
        params.distinguished_name = name;
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        params.not_before = not_before;
        params.not_after = not_after;
        params
    }

    fn rsa_key_pair() -> KeyPair {
        let key = PrivateKey::generate(KeyType::Rsa2048).unwrap();
        KeyPair::from_pkcs8_der_and_sign_algo(&key.pkcs8_der().into(), &PKCS_RSA_SHA256).unwrap()
    }

    impl TestCa {
        fn with_intermediate_key(key: KeyPair, valid: (OffsetDateTime, OffsetDateTime)) -> Self {
            let root = CertifiedIssuer::self_signed(
                ca_params("Edgecert Test Root", now() - DAY, now() + DAY * 3650),
                KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).unwrap(),
            )
            .unwrap();
            let intermediate = CertifiedIssuer::signed_by(
                ca_params("Edgecert Test Intermediate", valid.0, valid.1),
                key,
                &root,
            )
            .unwrap();
            Self { root, intermediate }
        }

        fn new() -> Self {
            Self::with_intermediate_key(
                KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).unwrap(),
                (now() - DAY, now() + DAY * 3650),
            )
        }

        fn root_pem(&self) -> String {
            self.root.pem()
        }

        fn intermediate_pem(&self) -> String {
            self.intermediate.pem()
        }

        fn trust(&self) -> TrustStore {
            TrustStore::new(false, Some(self.root_pem().as_bytes())).unwrap()
        }

        /// Signs a CSR the way a CA does; returns the leaf PEM alone.
        fn sign_csr(
            &self,
            csr_pem: &str,
            not_before: OffsetDateTime,
            not_after: OffsetDateTime,
        ) -> String {
            let mut request = CertificateSigningRequestParams::from_pem(csr_pem).unwrap();
            request.params.not_before = not_before;
            request.params.not_after = not_after;
            request.signed_by(&self.intermediate).unwrap().pem()
        }

        /// Issues a leaf for `spki` from arbitrary parameters.
        fn issue(&self, mut params: CertificateParams, spki: &[u8]) -> String {
            params.not_before = now() - DAY;
            params.not_after = now() + DAY * 90;
            let public_key = SubjectPublicKeyInfo::from_der(spki).unwrap();
            params
                .signed_by(&public_key, &self.intermediate)
                .unwrap()
                .pem()
        }
    }

    fn edgecert_key_and_csr(key_type: KeyType, sans: &[&str]) -> (PrivateKey, String) {
        let key = PrivateKey::generate(key_type).unwrap();
        let subject = Subject {
            country: "US".into(),
            state: "MA".into(),
            locality: "Boston".into(),
            organization: "City of Boston".into(),
            organizational_unit: None,
            common_name: sans[0].into(),
        };
        let sans: Vec<String> = sans.iter().map(|s| s.to_string()).collect();
        let csr = build_csr(&subject, &sans, &key).unwrap();
        (key, csr)
    }

    fn request<'a>(pem: &'a str, spki: &'a [u8]) -> UploadRequest<'a> {
        UploadRequest {
            certificate_pem: pem,
            expected_spki_der: spki,
            hostname: Some("app.example.com"),
            verify_trust: true,
            min_remaining: None,
            now: SystemTime::now(),
            strict: false,
        }
    }

    fn der_of(pem_text: &str) -> Vec<u8> {
        let blocks = pem::blocks(pem_text).unwrap();
        assert_eq!(blocks.len(), 1);
        blocks[0].der.to_vec()
    }

    /// A P-256 edgecert key with a 90-day leaf for app.example.com and www.example.com.
    fn standard_upload(ca: &TestCa) -> (PrivateKey, String) {
        let (key, csr) =
            edgecert_key_and_csr(KeyType::P256v1, &["app.example.com", "www.example.com"]);
        let leaf = ca.sign_csr(&csr, now() - DAY, now() + DAY * 90);
        (key, leaf)
    }

    #[test]
    fn csr_signed_by_a_ca_verifies_for_both_key_types() {
        let ca = TestCa::new();
        let trust = ca.trust();
        for key_type in KeyType::ALL {
            let (key, csr) =
                edgecert_key_and_csr(key_type, &["app.example.com", "www.example.com"]);
            let leaf = ca.sign_csr(&csr, now() - DAY, now() + DAY * 90);
            let bundle = format!("{leaf}{}", ca.intermediate_pem());
            let verified = verify_upload(&request(&bundle, key.spki_der()), &trust)
                .unwrap_or_else(|e| panic!("{key_type}: {e}"));

            let leaf_der = der_of(&leaf);
            let (_, parsed) = X509Certificate::from_der(&leaf_der).unwrap();
            assert_eq!(verified.leaf_der, leaf_der);
            assert_eq!(
                verified.intermediates_der,
                vec![ca.intermediate.der().to_vec()]
            );
            assert_eq!(verified.issuer, "EdgecertTestCA");
            assert_eq!(
                verified.serial_number,
                parsed.tbs_certificate.serial.to_str_radix(10)
            );
            assert!(verified.serial_number.bytes().all(|b| b.is_ascii_digit()));
            // The intermediate's key is ECDSA P-256 whatever the leaf's key.
            assert_eq!(verified.signature, "ECDSAWithSHA256");
            assert_eq!(verified.hosts, ["app.example.com", "www.example.com"]);
            assert_eq!(verified.spki_der, key.spki_der());
            assert_eq!(
                verified.not_after,
                parsed.validity().not_after.to_datetime()
            );
            assert_eq!(
                verified.not_before,
                parsed.validity().not_before.to_datetime()
            );
            let fingerprint: String = Sha256::digest(&leaf_der)
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect();
            assert_eq!(verified.fingerprint_sha256, fingerprint);
            assert_eq!(verified.fingerprint_sha256.len(), 64);
            assert_eq!(
                verified.bundle_pem,
                format!("{leaf}{}", ca.intermediate_pem()).replace("\r\n", "\n")
            );
        }
    }

    #[test]
    fn rsa_issuer_names_the_rsa_signature() {
        let ca = TestCa::with_intermediate_key(rsa_key_pair(), (now() - DAY, now() + DAY * 3650));
        let (key, leaf) = standard_upload(&ca);
        let bundle = format!("{leaf}{}", ca.intermediate_pem());
        let verified = verify_upload(&request(&bundle, key.spki_der()), &ca.trust()).unwrap();
        assert_eq!(verified.signature, "SHA256WithRSA");
    }

    #[test]
    fn certificate_for_another_key_is_a_mismatch() {
        let ca = TestCa::new();
        let (_, leaf) = standard_upload(&ca);
        let other = PrivateKey::generate(KeyType::P256v1).unwrap();
        let bundle = format!("{leaf}{}", ca.intermediate_pem());
        assert_eq!(
            verify_upload(&request(&bundle, other.spki_der()), &ca.trust()).unwrap_err(),
            CertProblem::KeyMismatch
        );
    }

    #[test]
    fn validity_window_is_enforced() {
        let ca = TestCa::new();
        let trust = ca.trust();
        let (key, csr) = edgecert_key_and_csr(KeyType::P256v1, &["app.example.com"]);
        let check = |not_before, not_after, min_remaining| {
            let leaf = ca.sign_csr(&csr, not_before, not_after);
            let bundle = format!("{leaf}{}", ca.intermediate_pem());
            let mut req = request(&bundle, key.spki_der());
            req.min_remaining = min_remaining;
            verify_upload(&req, &trust)
        };
        let fourteen_days = Some(Duration::from_secs(14 * 86_400));

        let expired_at = (now() - DAY).replace_nanosecond(0).unwrap();
        assert_eq!(
            check(now() - DAY * 90, expired_at, None).unwrap_err(),
            CertProblem::Expired(expired_at)
        );
        let starts_at = (now() + DAY).replace_nanosecond(0).unwrap();
        assert_eq!(
            check(starts_at, now() + DAY * 90, None).unwrap_err(),
            CertProblem::NotYetValid(starts_at)
        );
        let soon = (now() + time::Duration::days(5))
            .replace_nanosecond(0)
            .unwrap();
        assert_eq!(
            check(now() - DAY, soon, fourteen_days).unwrap_err(),
            CertProblem::ExpiresSoon(soon)
        );
        assert!(
            check(now() - DAY, soon, None).is_ok(),
            "no minimum, no refusal"
        );
        assert!(check(now() - DAY, now() + DAY * 15, fourteen_days).is_ok());
    }

    #[test]
    fn self_signed_leaf_is_untrusted_unless_forced() {
        let ca = TestCa::new();
        let key = PrivateKey::generate(KeyType::P256v1).unwrap();
        let signer =
            KeyPair::from_pkcs8_der_and_sign_algo(&key.pkcs8_der().into(), &PKCS_ECDSA_P256_SHA256)
                .unwrap();
        let mut params = CertificateParams::new(vec!["app.example.com".to_string()]).unwrap();
        params.not_before = now() - DAY;
        params.not_after = now() + DAY * 90;
        let leaf = params.self_signed(&signer).unwrap().pem();

        let error = verify_upload(&request(&leaf, key.spki_der()), &ca.trust()).unwrap_err();
        match &error {
            CertProblem::Untrusted(detail) => assert!(detail.contains("self-signed"), "{detail}"),
            other => panic!("expected Untrusted, got {other:?}"),
        }
        assert!(error.to_string().contains("self-signed"), "{error}");

        let mut forced = request(&leaf, key.spki_der());
        forced.verify_trust = false;
        let verified = verify_upload(&forced, &ca.trust()).unwrap();
        assert!(verified.intermediates_der.is_empty());
    }

    #[test]
    fn missing_intermediate_is_an_unknown_issuer() {
        let ca = TestCa::new();
        let (key, leaf) = standard_upload(&ca);
        match verify_upload(&request(&leaf, key.spki_der()), &ca.trust()).unwrap_err() {
            CertProblem::Untrusted(detail) => {
                assert!(detail.contains("unknown issuer"), "{detail}")
            }
            other => panic!("expected Untrusted, got {other:?}"),
        }
    }

    #[test]
    fn private_ca_needs_its_root_in_the_trust_store() {
        let ca = TestCa::new();
        let (key, leaf) = standard_upload(&ca);
        let bundle = format!("{leaf}{}", ca.intermediate_pem());

        let public = TrustStore::new(true, None).unwrap();
        assert!(public.len() > 100, "Mozilla's roots: {}", public.len());
        assert!(matches!(
            verify_upload(&request(&bundle, key.spki_der()), &public),
            Err(CertProblem::Untrusted(_))
        ));

        let both = TrustStore::new(true, Some(ca.root_pem().as_bytes())).unwrap();
        assert_eq!(both.len(), public.len() + 1);
        assert!(verify_upload(&request(&bundle, key.spki_der()), &both).is_ok());

        let private = ca.trust();
        assert_eq!(private.len(), 1);
        assert!(verify_upload(&request(&bundle, key.spki_der()), &private).is_ok());

        let other_ca = TestCa::new();
        assert!(matches!(
            verify_upload(&request(&bundle, key.spki_der()), &other_ca.trust()),
            Err(CertProblem::Untrusted(_))
        ));

        let empty = TrustStore::new(false, None).unwrap();
        assert!(empty.is_empty());
    }

    #[test]
    fn bad_extra_roots_are_reported() {
        let message = |pem: &str| {
            TrustStore::new(false, Some(pem.as_bytes()))
                .unwrap_err()
                .to_string()
        };
        assert!(
            message("not pem").contains("no PEM block"),
            "{}",
            message("not pem")
        );
        let key = KeyPair::generate().unwrap().serialize_pem();
        let ca = TestCa::new();
        let mixed = format!("{}{key}", ca.root_pem());
        assert!(
            message(&mixed).contains("block 2 is a PRIVATE KEY"),
            "{}",
            message(&mixed)
        );
        let junk = "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n";
        assert!(
            message(junk).contains("block 1 is not a usable root"),
            "{}",
            message(junk)
        );
    }

    #[test]
    fn bundle_order_does_not_matter_and_chain_is_ordered_from_the_leaf() {
        let ca = TestCa::new();
        let (key, leaf) = standard_upload(&ca);
        let reversed = format!("{}{}{leaf}", ca.root_pem(), ca.intermediate_pem());
        let verified = verify_upload(&request(&reversed, key.spki_der()), &ca.trust()).unwrap();
        assert_eq!(verified.leaf_der, der_of(&leaf));
        assert_eq!(
            verified.intermediates_der,
            vec![ca.intermediate.der().to_vec(), ca.root.der().to_vec()]
        );
        assert!(verified.bundle_pem.starts_with(&leaf));

        // The same certificate twice is one certificate.
        let doubled = format!("{leaf}{leaf}{}", ca.intermediate_pem());
        let verified = verify_upload(&request(&doubled, key.spki_der()), &ca.trust()).unwrap();
        assert_eq!(verified.intermediates_der.len(), 1);
    }

    #[test]
    fn longer_chain_is_ordered_by_issuer_whatever_the_upload_order() {
        let ca = TestCa::new();
        // Another CA whose intermediate has the same name as `ca`'s: only the authority key
        // identifier below tells the two apart.
        let unrelated = TestCa::new();
        let mut second_params = ca_params(
            "Edgecert Second Intermediate",
            now() - DAY,
            now() + DAY * 3650,
        );
        second_params.use_authority_key_identifier_extension = true;
        let second = CertifiedIssuer::signed_by(
            second_params,
            KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).unwrap(),
            &ca.intermediate,
        )
        .unwrap();
        let (key, csr) = edgecert_key_and_csr(KeyType::P256v1, &["app.example.com"]);
        let mut request_params = CertificateSigningRequestParams::from_pem(&csr).unwrap();
        request_params.params.not_before = now() - DAY;
        request_params.params.not_after = now() + DAY * 90;
        let leaf = request_params.signed_by(&second).unwrap().pem();

        let bundle = format!(
            "{}{}{leaf}{}{}",
            ca.root_pem(),
            unrelated.intermediate_pem(),
            ca.intermediate_pem(),
            second.pem()
        );
        let verified = verify_upload(&request(&bundle, key.spki_der()), &ca.trust()).unwrap();
        assert_eq!(
            verified.intermediates_der,
            vec![
                second.der().to_vec(),
                ca.intermediate.der().to_vec(),
                ca.root.der().to_vec(),
                unrelated.intermediate.der().to_vec(),
            ]
        );
        assert_eq!(
            verified.bundle_pem,
            format!(
                "{leaf}{}{}{}{}",
                second.pem(),
                ca.intermediate_pem(),
                ca.root_pem(),
                unrelated.intermediate_pem()
            )
        );
    }

    #[test]
    fn leaf_count_must_be_one() {
        let ca = TestCa::new();
        let (key, leaf) = standard_upload(&ca);
        let (_, second) = standard_upload(&ca);
        let two = format!("{leaf}{second}{}", ca.intermediate_pem());
        assert_eq!(
            verify_upload(&request(&two, key.spki_der()), &ca.trust()).unwrap_err(),
            CertProblem::SeveralLeaves(2)
        );
        let cas_only = format!("{}{}", ca.intermediate_pem(), ca.root_pem());
        assert_eq!(
            verify_upload(&request(&cas_only, key.spki_der()), &ca.trust()).unwrap_err(),
            CertProblem::NoLeaf
        );
    }

    #[test]
    fn pem_problems_are_named() {
        let ca = TestCa::new();
        let (key, leaf) = standard_upload(&ca);
        let trust = ca.trust();
        let check = |pem: &str| verify_upload(&request(pem, key.spki_der()), &trust);

        for empty in ["", "  \n\t ", "\\n\\n", "\r\n"] {
            assert_eq!(check(empty).unwrap_err(), CertProblem::Empty, "{empty:?}");
        }
        let unparsable = |pem: &str| match check(pem) {
            Err(CertProblem::Unparsable(detail)) => detail,
            other => panic!("expected Unparsable for {pem:?}, got {other:?}"),
        };
        assert!(unparsable("hello").contains("no PEM block"));
        let with_key = format!("{leaf}{}", KeyPair::generate().unwrap().serialize_pem());
        assert!(unparsable(&with_key).contains("block 2 is a PRIVATE KEY block"));
        let truncated = &leaf[..leaf.len() - 30];
        assert!(unparsable(truncated).contains("block 1 (CERTIFICATE) has no matching"));
        let bad_base64 = leaf.replacen("MI", "M!", 1);
        assert!(unparsable(&bad_base64).contains("not valid base64"));
        let not_x509 = "-----BEGIN CERTIFICATE-----\nMAMCAQA=\n-----END CERTIFICATE-----\n";
        assert!(unparsable(not_x509).contains("block 1 (CERTIFICATE) is not a valid X.509"));
        let mismatched = leaf.replace("END CERTIFICATE", "END CERT");
        assert!(unparsable(&mismatched).contains("ends as CERT"));

        // What JSON clients send: escaped newlines, CRLF, and chatter between blocks.
        let bundle = format!("{leaf}{}", ca.intermediate_pem());
        assert!(check(&bundle.replace('\n', "\\n")).is_ok());
        assert!(check(&bundle.replace('\n', "\r\n")).is_ok());
        assert!(
            check(&format!(
                "subject=CN = app\n{leaf}issuer=CN = CA\n{}",
                ca.intermediate_pem()
            ))
            .is_ok()
        );
    }

    fn leaf_with_sans(ca: &TestCa, sans: &[&str], common_name: &str) -> (PrivateKey, String) {
        let key = PrivateKey::generate(KeyType::P256v1).unwrap();
        let mut params = CertificateParams::default();
        params.distinguished_name = DistinguishedName::new();
        params
            .distinguished_name
            .push(DnType::CommonName, common_name);
        params.subject_alt_names = sans
            .iter()
            .map(|s| SanType::DnsName((*s).try_into().unwrap()))
            .collect();
        let leaf = ca.issue(params, key.spki_der());
        (key, format!("{leaf}{}", ca.intermediate_pem()))
    }

    #[test]
    fn wildcard_covers_exactly_one_label() {
        let ca = TestCa::new();
        let trust = ca.trust();
        let (key, bundle) = leaf_with_sans(&ca, &["*.example.com"], "*.example.com");
        let check = |hostname| {
            let mut req = request(&bundle, key.spki_der());
            req.hostname = Some(hostname);
            verify_upload(&req, &trust)
        };
        assert!(check("a.example.com").is_ok());
        assert!(check("A.Example.COM").is_ok());
        assert!(check("*.example.com").is_ok(), "the same wildcard");
        for hostname in [
            "a.b.example.com",
            "example.com",
            "a.example.net",
            "*.b.example.com",
        ] {
            assert_eq!(
                check(hostname).unwrap_err(),
                CertProblem::HostnameNotCovered {
                    hostname: hostname.into(),
                    hosts: vec!["*.example.com".into()]
                },
                "{hostname}"
            );
        }

        let (key, bundle) = leaf_with_sans(&ca, &["a.example.com"], "a.example.com");
        let mut req = request(&bundle, key.spki_der());
        req.hostname = Some("*.example.com");
        assert!(matches!(
            verify_upload(&req, &trust),
            Err(CertProblem::HostnameNotCovered { .. })
        ));
        req.hostname = None;
        assert!(
            verify_upload(&req, &trust).is_ok(),
            "no hostname, no coverage check"
        );
    }

    #[test]
    fn common_name_alone_covers_nothing() {
        let ca = TestCa::new();
        let (key, bundle) = leaf_with_sans(&ca, &[], "app.example.com");
        let error = verify_upload(&request(&bundle, key.spki_der()), &ca.trust()).unwrap_err();
        assert_eq!(
            error,
            CertProblem::HostnameNotCovered {
                hostname: "app.example.com".into(),
                hosts: vec![]
            }
        );
        assert!(
            error.to_string().contains("common name is not used"),
            "{error}"
        );
    }

    /// Reads one DER TLV: returns (whole element, rest).
    fn der_element(input: &[u8]) -> (&[u8], &[u8]) {
        let (len, header) = match input[1] {
            n if n < 0x80 => (usize::from(n), 2),
            0x81 => (usize::from(input[2]), 3),
            0x82 => (usize::from(input[2]) << 8 | usize::from(input[3]), 4),
            other => panic!("unexpected DER length byte {other:#x}"),
        };
        input.split_at(header + len)
    }

    fn der_tlv(tag: u8, content: &[u8]) -> Vec<u8> {
        let mut out = vec![tag];
        match content.len() {
            n if n < 0x80 => out.push(n as u8),
            n if n < 0x100 => out.extend([0x81, n as u8]),
            n => out.extend([0x82, (n >> 8) as u8, n as u8]),
        }
        out.extend_from_slice(content);
        out
    }

    const SHA256_WITH_RSA: [u8; 11] = [
        0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0b,
    ];

    /// rcgen cannot sign with SHA-1 or MD5, so this rewrites an RSA-SHA256 certificate: the
    /// algorithm OID inside the TBS is changed (same length, so DER stays valid) and the TBS is
    /// signed again with SHA-1. With `md5_label`, the algorithm says MD5 while the signature
    /// stays SHA-1: the weak-signature check refuses the certificate before any signature is
    /// evaluated, which is the behaviour under test.
    fn resign_sha1(cert_der: &[u8], issuer: &rsa::PrivateKey, md5_label: bool) -> Vec<u8> {
        use sha1::Digest as _;

        let last = if md5_label { 0x04 } else { 0x05 };
        let (outer, _) = der_element(cert_der);
        let (tbs, _) = der_element(&outer[4..]);
        let mut tbs = tbs.to_vec();
        let at = tbs
            .windows(SHA256_WITH_RSA.len())
            .position(|w| w == SHA256_WITH_RSA)
            .expect("an RSA-SHA256 certificate");
        tbs[at + SHA256_WITH_RSA.len() - 1] = last;
        let digest = sha1::Sha1::digest(&tbs);
        let signature = issuer
            .sign(rsa::Pkcs1v15Sign::new::<sha1::Sha1>(), &digest)
            .unwrap();
        let mut algorithm = SHA256_WITH_RSA.to_vec();
        algorithm[SHA256_WITH_RSA.len() - 1] = last;
        algorithm.extend([0x05, 0x00]);
        let mut bits = vec![0u8];
        bits.extend(signature);
        let mut body = tbs;
        body.extend(der_tlv(0x30, &algorithm));
        body.extend(der_tlv(0x03, &bits));
        der_tlv(0x30, &body)
    }

    /// A CA whose intermediate has an RSA key, and that key for hand signing.
    fn rsa_ca() -> (TestCa, rsa::PrivateKey) {
        let key = PrivateKey::generate(KeyType::Rsa2048).unwrap();
        let pair = KeyPair::from_pkcs8_der_and_sign_algo(&key.pkcs8_der().into(), &PKCS_RSA_SHA256)
            .unwrap();
        let ca = TestCa::with_intermediate_key(pair, (now() - DAY, now() + DAY * 3650));
        (
            ca,
            rsa::PrivateKey::from_pkcs8_der(key.pkcs8_der()).unwrap(),
        )
    }

    fn sha1_upload(md5_label: bool) -> (TestCa, PrivateKey, String) {
        let (ca, issuer_key) = rsa_ca();
        let (key, leaf) = standard_upload(&ca);
        let der = resign_sha1(&der_of(&leaf), &issuer_key, md5_label);
        let bundle = format!("{}{}", pem::encode_certificate(&der), ca.intermediate_pem());
        (ca, key, bundle)
    }

    #[test]
    fn sha1_rsa_leaf_is_accepted_and_chains() {
        let (ca, key, bundle) = sha1_upload(false);
        let mut req = request(&bundle, key.spki_der());
        req.strict = true;
        let verified = verify_upload(&req, &ca.trust()).unwrap();
        assert_eq!(verified.signature, "SHA1WithRSA");

        // The SHA-1 verifier must really verify: a flipped signature bit breaks the chain.
        let mut der = verified.leaf_der.clone();
        let last = der.len() - 1;
        der[last] ^= 1;
        let tampered = format!("{}{}", pem::encode_certificate(&der), ca.intermediate_pem());
        match verify_upload(&request(&tampered, key.spki_der()), &ca.trust()) {
            Err(CertProblem::Untrusted(detail)) => {
                assert!(detail.contains("signature"), "{detail}")
            }
            other => panic!("expected Untrusted, got {other:?}"),
        }
    }

    /// openssl, an independent implementation, agrees that the hand-made SHA-1 leaf is valid.
    #[test]
    fn sha1_fixture_is_valid_for_openssl() {
        let (ca, _, bundle) = sha1_upload(false);
        let dir = tempfile::tempdir().unwrap();
        let blocks = pem::blocks(&bundle).unwrap();
        std::fs::write(
            dir.path().join("leaf.pem"),
            pem::encode_certificate(&blocks[0].der),
        )
        .unwrap();
        std::fs::write(dir.path().join("inter.pem"), ca.intermediate_pem()).unwrap();
        std::fs::write(dir.path().join("root.pem"), ca.root_pem()).unwrap();
        let output = std::process::Command::new("openssl")
            .current_dir(dir.path())
            .args([
                "verify",
                "-auth_level",
                "0",
                "-CAfile",
                "root.pem",
                "-untrusted",
                "inter.pem",
                "leaf.pem",
            ])
            .output()
            .expect("the openssl CLI is installed");
        let text = String::from_utf8_lossy(&output.stdout);
        assert!(
            output.status.success(),
            "{text}{}",
            String::from_utf8_lossy(&output.stderr)
        );
        assert!(text.contains("leaf.pem: OK"), "{text}");
    }

    #[test]
    fn md5_leaf_is_a_weak_signature() {
        let (ca, key, bundle) = sha1_upload(true);
        let error = verify_upload(&request(&bundle, key.spki_der()), &ca.trust()).unwrap_err();
        assert_eq!(error, CertProblem::WeakSignature("MD5WithRSA".into()));
        assert!(error.to_string().contains("MD5WithRSA"), "{error}");
    }

    #[test]
    fn sha384_signature_is_refused_only_in_strict_mode() {
        let ca = TestCa::with_intermediate_key(
            KeyPair::generate_for(&PKCS_ECDSA_P384_SHA384).unwrap(),
            (now() - DAY, now() + DAY * 3650),
        );
        let (key, leaf) = standard_upload(&ca);
        let bundle = format!("{leaf}{}", ca.intermediate_pem());
        let mut req = request(&bundle, key.spki_der());
        assert_eq!(
            verify_upload(&req, &ca.trust()).unwrap().signature,
            "ECDSAWithSHA384"
        );
        req.strict = true;
        assert_eq!(
            verify_upload(&req, &ca.trust()).unwrap_err(),
            CertProblem::WeakSignature("ECDSAWithSHA384".into())
        );
    }

    #[test]
    fn rsa_1024_leaf_is_a_weak_key() {
        let ca = TestCa::new();
        let small = rsa::PrivateKey::new(&mut rand::rng(), 1024).unwrap();
        let spki = small.to_public_key().to_public_key_der().unwrap();
        let params = CertificateParams::new(vec!["app.example.com".to_string()]).unwrap();
        let bundle = format!(
            "{}{}",
            ca.issue(params, spki.as_bytes()),
            ca.intermediate_pem()
        );
        match verify_upload(&request(&bundle, spki.as_bytes()), &ca.trust()).unwrap_err() {
            CertProblem::WeakKey(detail) => assert!(detail.contains("1024 bits"), "{detail}"),
            other => panic!("expected WeakKey, got {other:?}"),
        }
    }

    #[test]
    fn expired_intermediate_is_untrusted_with_the_reason() {
        let ca = TestCa::with_intermediate_key(
            KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).unwrap(),
            (now() - DAY * 400, now() - DAY * 10),
        );
        let (key, leaf) = standard_upload(&ca);
        let bundle = format!("{leaf}{}", ca.intermediate_pem());
        match verify_upload(&request(&bundle, key.spki_der()), &ca.trust()).unwrap_err() {
            CertProblem::Untrusted(detail) => assert!(detail.contains("expired"), "{detail}"),
            other => panic!("expected Untrusted, got {other:?}"),
        }
    }

    #[test]
    fn every_problem_reads_as_a_sentence() {
        let at = OffsetDateTime::UNIX_EPOCH;
        let problems = [
            CertProblem::Empty,
            CertProblem::Unparsable("x".into()),
            CertProblem::SeveralLeaves(2),
            CertProblem::NoLeaf,
            CertProblem::KeyMismatch,
            CertProblem::WeakSignature("MD5WithRSA".into()),
            CertProblem::WeakKey("x".into()),
            CertProblem::Expired(at),
            CertProblem::NotYetValid(at),
            CertProblem::ExpiresSoon(at),
            CertProblem::Untrusted("unknown issuer".into()),
            CertProblem::HostnameNotCovered {
                hostname: "a.example.com".into(),
                hosts: vec![],
            },
        ];
        for problem in problems {
            let text = problem.to_string();
            assert!(
                text.starts_with("The certificate") || text.starts_with("The bundle"),
                "{text}"
            );
            assert!(text.ends_with('.'), "{text}");
        }
        assert!(
            CertProblem::Expired(at)
                .to_string()
                .contains("1970-01-01T00:00:00Z")
        );
    }

    /// Release-mode timing of a full three-certificate verification against Mozilla's roots plus
    /// the test root: `cargo test --release --lib verify_upload_timing -- --ignored --nocapture`.
    #[test]
    #[ignore = "timing, not a check"]
    fn verify_upload_timing() {
        for (label, ca) in [
            ("ECDSA P-256 chain", TestCa::new()),
            ("RSA-2048 intermediate", rsa_ca().0),
        ] {
            let (key, leaf) = standard_upload(&ca);
            let bundle = format!("{leaf}{}{}", ca.intermediate_pem(), ca.root_pem());
            let trust = TrustStore::new(true, Some(ca.root_pem().as_bytes())).unwrap();
            let req = request(&bundle, key.spki_der());
            let mut runs: Vec<Duration> = (0..200)
                .map(|_| {
                    let start = Instant::now();
                    verify_upload(&req, &trust).unwrap();
                    start.elapsed()
                })
                .collect();
            runs.sort();
            println!(
                "{label}: median {:?} (min {:?}, max {:?}) over 200 runs",
                runs[100], runs[0], runs[199]
            );
        }
    }
}
