//! Checks on an uploaded certificate: key match, signature, key strength, validity, hostnames.

use std::time::{Duration, SystemTime};

use rustls_pki_types::{CertificateDer, ServerName};
use sha2::{Digest, Sha256};
use time::OffsetDateTime;
use x509_parser::certificate::X509Certificate;
use x509_parser::extensions::GeneralName;
use x509_parser::public_key::PublicKey;

use super::trust::{LeafCount, Member, TrustStore, describe_webpki, order_chain, parse_member};
use super::{pem, rfc3339};

/// Smallest RSA modulus accepted in a leaf, as Cloudflare documents for uploads.
const MIN_RSA_BITS: usize = 2048;

/// Most intermediates a bundle may carry. webpki uses at most six on one path, and public
/// chains have one to three, so only a bundle built to be expensive goes beyond this. Path
/// building tries the intermediates in every order: six self-issued intermediates with
/// distinct keys cost about 50 ms of CPU, ten about 2 s (webpki's own budget of 200,000 path
/// steps stops it there, but each step re-reads every intermediate).
pub const MAX_INTERMEDIATES: usize = 6;

/// Largest certificate accepted, in DER bytes: webpki reads no DER element longer than this,
/// so a larger leaf could never be checked and would fail as a malformed chain.
pub const MAX_CERTIFICATE_BYTES: usize = 0xFFFF;

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
        "The bundle contains {found} different certificates; at most {} are accepted: the leaf \
         and up to {MAX_INTERMEDIATES} intermediates. Upload the leaf followed only by the \
         intermediates that issued it.",
        MAX_INTERMEDIATES + 1
    )]
    TooManyCertificates { found: usize },
    #[error(
        "The certificate in block {block} is {bytes} bytes long (DER); a certificate may be at most \
         {MAX_CERTIFICATE_BYTES} bytes. Upload a certificate with fewer or shorter extensions \
         and names."
    )]
    CertificateTooLarge { block: usize, bytes: usize },
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

fn list_or_none(hosts: &[String]) -> String {
    if hosts.is_empty() {
        "none".into()
    } else {
        hosts.join(", ")
    }
}

/// Runs the checks in this order, stopping at the first failure (the HTTP layer maps each
/// [`CertProblem`] to a code, so the order is part of the API):
/// 1. PEM: empty -> `Empty`; a block that is not a CERTIFICATE -> `Unparsable`; one over
///    [`MAX_CERTIFICATE_BYTES`] -> `CertificateTooLarge`; more than [`MAX_INTERMEDIATES`] + 1
///    different certificates -> `TooManyCertificates`, before any is parsed; a certificate
///    that is not parsable X.509 -> `Unparsable`;
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
    // Distinct certificates with their block numbers. The same certificate pasted twice is
    // harmless; counting it twice would report two leaves.
    let mut distinct: Vec<(usize, &[u8])> = Vec::new();
    for (index, block) in blocks.iter().enumerate() {
        let number = index + 1;
        if block.label != "CERTIFICATE" {
            return Err(CertProblem::Unparsable(format!(
                "block {number} is a {} block, not a CERTIFICATE",
                block.label
            )));
        }
        if block.der.len() > MAX_CERTIFICATE_BYTES {
            return Err(CertProblem::CertificateTooLarge {
                block: number,
                bytes: block.der.len(),
            });
        }
        if !distinct.iter().any(|(_, der)| *der == block.der.as_slice()) {
            distinct.push((number, &block.der));
        }
    }
    if distinct.len() > MAX_INTERMEDIATES + 1 {
        return Err(CertProblem::TooManyCertificates {
            found: distinct.len(),
        });
    }
    let mut members: Vec<Member<'_>> = Vec::with_capacity(distinct.len());
    for (number, der) in distinct {
        members.push(parse_member(der).map_err(|detail| {
            CertProblem::Unparsable(format!("block {number} (CERTIFICATE) {detail}"))
        })?);
    }

    // 2. Leaf and chain order.
    let (leaf_index, chain) = order_chain(&members).map_err(|count| match count {
        LeafCount::None => CertProblem::NoLeaf,
        LeafCount::Several(leaves) => CertProblem::SeveralLeaves(leaves),
    })?;
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
        trust
            .verify(leaf, end_entity, &intermediates, req.now)
            .map_err(CertProblem::Untrusted)?;
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

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use rcgen::{
        CertificateParams, CertificateSigningRequestParams, KeyPair, PKCS_ECDSA_P384_SHA384,
        SerialNumber,
    };
    use rsa::pkcs8::EncodePublicKey as _;

    use super::*;
    use crate::pki::fixtures::*;
    use crate::pki::{KeyType, PrivateKey};

    /// The SHA-256 fingerprint as openssl, an independent implementation, computes it.
    fn openssl_fingerprint(leaf_pem: &str) -> String {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("leaf.pem"), leaf_pem).unwrap();
        let output = std::process::Command::new("openssl")
            .current_dir(dir.path())
            .args([
                "x509",
                "-in",
                "leaf.pem",
                "-noout",
                "-fingerprint",
                "-sha256",
            ])
            .output()
            .expect("the openssl CLI is installed");
        assert!(output.status.success());
        let text = String::from_utf8(output.stdout).unwrap();
        let (_, colons) = text.trim().split_once('=').expect("Fingerprint=AB:CD:...");
        colons.replace(':', "").to_lowercase()
    }

    #[test]
    fn csr_signed_by_a_ca_verifies_for_both_key_types() {
        let ca = TestCa::new();
        let trust = ca.trust();
        let not_before = (now() - DAY).replace_nanosecond(0).unwrap();
        let not_after = (now() + time::Duration::days(90))
            .replace_nanosecond(0)
            .unwrap();
        for key_type in KeyType::CSR_KEY_TYPES {
            let (key, csr) =
                edgecert_key_and_csr(key_type, &["app.example.com", "www.example.com"]);
            let mut signing = CertificateSigningRequestParams::from_pem(&csr).unwrap();
            signing.params.not_before = not_before;
            signing.params.not_after = not_after;
            // 96 bits: more than any machine integer, as real CAs' random serials are.
            signing.params.serial_number = Some(SerialNumber::from_slice(&[
                0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0a, 0x0b, 0x0c,
            ]));
            let leaf = signing.signed_by(&ca.intermediate).unwrap();
            let bundle = format!("{}{}", leaf.pem(), ca.intermediate_pem());
            let verified = verify_upload(&request(&bundle, key.spki_der()), &trust)
                .unwrap_or_else(|e| panic!("{key_type}: {e}"));

            assert_eq!(verified.leaf_der, leaf.der().to_vec());
            assert_eq!(
                verified.intermediates_der,
                vec![ca.intermediate.der().to_vec()]
            );
            assert_eq!(verified.issuer, "EdgecertTestCA");
            assert_eq!(verified.serial_number, "311917102708983781990730508");
            // The intermediate's key is ECDSA P-256 whatever the leaf's key.
            assert_eq!(verified.signature, "ECDSAWithSHA256");
            assert_eq!(verified.hosts, ["app.example.com", "www.example.com"]);
            assert_eq!(verified.spki_der, key.spki_der());
            assert_eq!(verified.not_before, not_before);
            assert_eq!(verified.not_after, not_after);
            assert_eq!(
                verified.fingerprint_sha256,
                openssl_fingerprint(&leaf.pem())
            );
            assert_eq!(
                verified.bundle_pem,
                format!("{}{}", leaf.pem(), ca.intermediate_pem()).replace("\r\n", "\n")
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
    fn every_problem_reads_as_a_sentence() {
        let at = OffsetDateTime::UNIX_EPOCH;
        let problems = [
            CertProblem::Empty,
            CertProblem::Unparsable("x".into()),
            CertProblem::TooManyCertificates { found: 8 },
            CertProblem::CertificateTooLarge {
                block: 1,
                bytes: 70_000,
            },
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

    /// `count` CA certificates that all carry the intermediate's name, each with its own key
    /// and self-issued: every one is a candidate issuer of every other, the shape that makes
    /// path building try every order.
    fn look_alike_intermediates(count: usize) -> String {
        (0..count)
            .map(|_| {
                let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
                let params =
                    ca_params("Edgecert Test Intermediate", now() - DAY, now() + DAY * 365);
                params.self_signed(&key).unwrap().pem()
            })
            .collect()
    }

    #[test]
    fn bundles_over_the_intermediate_cap_are_refused_before_chain_building() {
        let ca = TestCa::new();
        let (key, leaf) = standard_upload(&ca);
        // The real intermediate plus look-alikes: at the cap the bundle is checked (and its
        // path search ends), one more and it is refused unread.
        let at_cap = format!(
            "{leaf}{}{}",
            ca.intermediate_pem(),
            look_alike_intermediates(MAX_INTERMEDIATES - 1)
        );
        assert!(verify_upload(&request(&at_cap, key.spki_der()), &ca.trust()).is_ok());

        let over = format!(
            "{leaf}{}{}",
            ca.intermediate_pem(),
            look_alike_intermediates(MAX_INTERMEDIATES)
        );
        // Pasting a certificate twice does not count against the cap.
        let doubled = format!("{at_cap}{}", ca.intermediate_pem());
        assert!(verify_upload(&request(&doubled, key.spki_der()), &ca.trust()).is_ok());
        let error = verify_upload(&request(&over, key.spki_der()), &ca.trust()).unwrap_err();
        assert_eq!(
            error,
            CertProblem::TooManyCertificates {
                found: MAX_INTERMEDIATES + 2
            }
        );
        let text = error.to_string();
        assert!(text.contains("up to 6 intermediates"), "{text}");
        assert!(text.contains("contains 8 different"), "{text}");
    }

    #[test]
    fn look_alike_intermediates_within_the_cap_end_as_untrusted() {
        // Without the real intermediate there is no path; webpki must give up, not hang.
        let ca = TestCa::new();
        let (key, leaf) = standard_upload(&ca);
        let bundle = format!("{leaf}{}", look_alike_intermediates(MAX_INTERMEDIATES));
        let error = verify_upload(&request(&bundle, key.spki_der()), &ca.trust()).unwrap_err();
        assert!(matches!(error, CertProblem::Untrusted(_)), "{error:?}");
    }

    #[test]
    fn a_leaf_over_64_kib_is_reported_with_its_size() {
        let ca = TestCa::new();
        let key = PrivateKey::generate(KeyType::P256v1).unwrap();
        let mut params = CertificateParams::default();
        // About 70 KB of names.
        params.subject_alt_names = (0..3000)
            .map(|i| {
                rcgen::SanType::DnsName(format!("host-{i:05}.example.com").try_into().unwrap())
            })
            .collect();
        let leaf = ca.issue(params, key.spki_der());
        let bytes = der_of(&leaf).len();
        assert!(bytes > MAX_CERTIFICATE_BYTES, "{bytes}");
        let bundle = format!("{leaf}{}", ca.intermediate_pem());
        let error = verify_upload(&request(&bundle, key.spki_der()), &ca.trust()).unwrap_err();
        assert_eq!(error, CertProblem::CertificateTooLarge { block: 1, bytes });
        let text = error.to_string();
        assert!(text.contains(&format!("{bytes} bytes")), "{text}");
        assert!(text.contains("at most 65535 bytes"), "{text}");
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
