//! Trust anchors, ordering an uploaded bundle into a chain, and path validation (rustls-webpki).

use std::fmt;
use std::time::{SystemTime, UNIX_EPOCH};

use rustls_pki_types::{
    AlgorithmIdentifier, CertificateDer, InvalidSignature, SignatureVerificationAlgorithm,
    TrustAnchor, UnixTime, alg_id,
};
use time::OffsetDateTime;
use x509_parser::certificate::X509Certificate;
use x509_parser::extensions::ParsedExtension;
use x509_parser::prelude::FromDer;

use super::{PkiError, pem, rfc3339};

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

    /// The anchors, for a TLS client that verifies servers against the same roots (the
    /// edge in `strict` origin mode).
    pub fn anchors(&self) -> &[TrustAnchor<'static>] {
        &self.anchors
    }

    /// How many anchors a chain may end at; the config check reports it, so an empty store shows.
    pub fn len(&self) -> usize {
        self.anchors.len()
    }

    pub fn is_empty(&self) -> bool {
        self.anchors.is_empty()
    }

    /// Path validation for TLS server authentication at `now`, from `leaf` through any of
    /// `intermediates` to one of the anchors. The error is the reason, worded for the user.
    pub(super) fn verify(
        &self,
        leaf: &Member<'_>,
        end_entity: &webpki::EndEntityCert<'_>,
        intermediates: &[CertificateDer<'_>],
        now: SystemTime,
    ) -> Result<(), String> {
        let since_epoch = now.duration_since(UNIX_EPOCH).unwrap_or_default();
        end_entity
            .verify_for_usage(
                &self.algorithms,
                &self.anchors,
                intermediates,
                UnixTime::since_unix_epoch(since_epoch),
                webpki::KeyUsage::server_auth(),
                None,
                None,
            )
            .map(|_| ())
            .map_err(|e| {
                if leaf.is_self_issued() && matches!(e, webpki::Error::UnknownIssuer) {
                    "the certificate is self-signed".into()
                } else {
                    describe_webpki(&e)
                }
            })
    }
}

/// One parsed certificate of the bundle, with the facts chain ordering needs.
pub(super) struct Member<'a> {
    pub(super) der: &'a [u8],
    pub(super) cert: X509Certificate<'a>,
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

    pub(super) fn is_self_issued(&self) -> bool {
        self.cert.issuer().as_raw() == self.cert.subject().as_raw()
    }
}

/// Parses one certificate of the bundle. The error continues "block N (CERTIFICATE) ", so the
/// user learns which block is wrong.
pub(super) fn parse_member(der: &[u8]) -> Result<Member<'_>, String> {
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

/// A bundle without exactly one leaf: how many it has.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum LeafCount {
    None,
    Several(usize),
}

/// Finds the one leaf and orders the other certificates as a chain from it: the leaf's issuer
/// first, then that certificate's issuer, and so on. Certificates outside that chain follow in
/// upload order, so nothing uploaded is dropped and webpki may still use them.
pub(super) fn order_chain(members: &[Member<'_>]) -> Result<(usize, Vec<usize>), LeafCount> {
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
        [] => return Err(LeafCount::None),
        [one] => *one,
        several => return Err(LeafCount::Several(several.len())),
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

/// webpki's reasons, in words a user can act on.
pub(super) fn describe_webpki(error: &webpki::Error) -> String {
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

#[cfg(test)]
mod tests {
    use rcgen::{
        CertificateParams, CertificateSigningRequestParams, CertifiedIssuer, KeyPair,
        PKCS_ECDSA_P256_SHA256,
    };

    use super::*;
    use crate::pki::fixtures::*;
    use crate::pki::{CertProblem, KeyType, PrivateKey, verify_upload};

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
}
