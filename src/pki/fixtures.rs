//! Test CAs, keys and uploads shared by the certificate and trust tests.

use std::time::SystemTime;

use rcgen::{
    BasicConstraints, CertificateParams, CertificateSigningRequestParams, CertifiedIssuer,
    DistinguishedName, DnType, IsCa, KeyPair, KeyUsagePurpose, PKCS_ECDSA_P256_SHA256,
    PKCS_RSA_SHA256, SanType, SubjectPublicKeyInfo,
};
use rsa::pkcs8::DecodePrivateKey as _;
use time::OffsetDateTime;

use super::csr::{Subject, build_csr};
use super::{KeyType, PrivateKey, TrustStore, UploadRequest, pem};

pub(super) const DAY: time::Duration = time::Duration::DAY;

pub(super) fn now() -> OffsetDateTime {
    OffsetDateTime::now_utc()
}

/// A root and an intermediate, as a public CA would run them.
pub(super) struct TestCa {
    pub(super) root: CertifiedIssuer<'static, KeyPair>,
    pub(super) intermediate: CertifiedIssuer<'static, KeyPair>,
}

pub(super) fn ca_params(
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

pub(super) fn rsa_key_pair() -> KeyPair {
    let key = PrivateKey::generate(KeyType::Rsa2048).unwrap();
    KeyPair::from_pkcs8_der_and_sign_algo(&key.pkcs8_der().into(), &PKCS_RSA_SHA256).unwrap()
}

impl TestCa {
    pub(super) fn with_intermediate_key(
        key: KeyPair,
        valid: (OffsetDateTime, OffsetDateTime),
    ) -> Self {
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

    pub(super) fn new() -> Self {
        Self::with_intermediate_key(
            KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).unwrap(),
            (now() - DAY, now() + DAY * 3650),
        )
    }

    pub(super) fn root_pem(&self) -> String {
        self.root.pem()
    }

    pub(super) fn intermediate_pem(&self) -> String {
        self.intermediate.pem()
    }

    pub(super) fn trust(&self) -> TrustStore {
        TrustStore::new(false, Some(self.root_pem().as_bytes())).unwrap()
    }

    /// Signs a CSR the way a CA does; returns the leaf PEM alone.
    pub(super) fn sign_csr(
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
    pub(super) fn issue(&self, mut params: CertificateParams, spki: &[u8]) -> String {
        params.not_before = now() - DAY;
        params.not_after = now() + DAY * 90;
        let public_key = SubjectPublicKeyInfo::from_der(spki).unwrap();
        params
            .signed_by(&public_key, &self.intermediate)
            .unwrap()
            .pem()
    }
}

pub(super) fn edgecert_key_and_csr(key_type: KeyType, sans: &[&str]) -> (PrivateKey, String) {
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

pub(super) fn request<'a>(pem: &'a str, spki: &'a [u8]) -> UploadRequest<'a> {
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

pub(super) fn der_of(pem_text: &str) -> Vec<u8> {
    let blocks = pem::blocks(pem_text).unwrap();
    assert_eq!(blocks.len(), 1);
    blocks[0].der.to_vec()
}

/// A P-256 edgecert key with a 90-day leaf for app.example.com and www.example.com.
pub(super) fn standard_upload(ca: &TestCa) -> (PrivateKey, String) {
    let (key, csr) = edgecert_key_and_csr(KeyType::P256v1, &["app.example.com", "www.example.com"]);
    let leaf = ca.sign_csr(&csr, now() - DAY, now() + DAY * 90);
    (key, leaf)
}

pub(super) fn leaf_with_sans(
    ca: &TestCa,
    sans: &[&str],
    common_name: &str,
) -> (PrivateKey, String) {
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

/// Reads one DER TLV: returns (whole element, rest).
pub(super) fn der_element(input: &[u8]) -> (&[u8], &[u8]) {
    let (len, header) = match input[1] {
        n if n < 0x80 => (usize::from(n), 2),
        0x81 => (usize::from(input[2]), 3),
        0x82 => (usize::from(input[2]) << 8 | usize::from(input[3]), 4),
        other => panic!("unexpected DER length byte {other:#x}"),
    };
    input.split_at(header + len)
}

pub(super) fn der_tlv(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    match content.len() {
        n if n < 0x80 => out.push(n as u8),
        n if n < 0x100 => out.extend([0x81, n as u8]),
        n => out.extend([0x82, (n >> 8) as u8, n as u8]),
    }
    out.extend_from_slice(content);
    out
}

pub(super) const SHA256_WITH_RSA: [u8; 11] = [
    0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0b,
];

/// rcgen cannot sign with SHA-1 or MD5, so this rewrites an RSA-SHA256 certificate: the
/// algorithm OID inside the TBS is changed (same length, so DER stays valid) and the TBS is
/// signed again with SHA-1. With `md5_label`, the algorithm says MD5 while the signature
/// stays SHA-1: the weak-signature check refuses the certificate before any signature is
/// evaluated, which is the behaviour under test.
pub(super) fn resign_sha1(cert_der: &[u8], issuer: &rsa::PrivateKey, md5_label: bool) -> Vec<u8> {
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
pub(super) fn rsa_ca() -> (TestCa, rsa::PrivateKey) {
    let key = PrivateKey::generate(KeyType::Rsa2048).unwrap();
    let pair =
        KeyPair::from_pkcs8_der_and_sign_algo(&key.pkcs8_der().into(), &PKCS_RSA_SHA256).unwrap();
    let ca = TestCa::with_intermediate_key(pair, (now() - DAY, now() + DAY * 3650));
    (
        ca,
        rsa::PrivateKey::from_pkcs8_der(key.pkcs8_der()).unwrap(),
    )
}

pub(super) fn sha1_upload(md5_label: bool) -> (TestCa, PrivateKey, String) {
    let (ca, issuer_key) = rsa_ca();
    let (key, leaf) = standard_upload(&ca);
    let der = resign_sha1(&der_of(&leaf), &issuer_key, md5_label);
    let bundle = format!("{}{}", pem::encode_certificate(&der), ca.intermediate_pem());
    (ca, key, bundle)
}
