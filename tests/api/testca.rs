//! A private CA for upload tests: a root, an intermediate, and leaves issued for edgecert CSRs or
//! for fresh keys, including the broken ones uploads must refuse. Start the server with
//! `root_pem()` among its extra trusted roots.

#![allow(
    dead_code,
    reason = "a toolbox: each test module uses the helpers it needs"
)]

use rcgen::{
    BasicConstraints, CertificateParams, CertificateSigningRequestParams, CertifiedIssuer,
    DistinguishedName, DnType, IsCa, KeyPair, KeyUsagePurpose, PKCS_ECDSA_P256_SHA256,
    PKCS_RSA_SHA256, SanType,
};
use time::{Duration, OffsetDateTime};

/// Organisation of the test CA; the API reports it as the issuer without spaces.
pub const ISSUER_ORGANISATION: &str = "Edgecert Test CA";
/// What `issuer` reads for certificates from [`TestCa`].
pub const ISSUER: &str = "EdgecertTestCA";

/// A root and an intermediate with ECDSA P-256 keys (or an RSA intermediate, see
/// [`TestCa::new_rsa`]). Leaves are issued by the intermediate.
pub struct TestCa {
    root: CertifiedIssuer<'static, KeyPair>,
    intermediate: CertifiedIssuer<'static, KeyPair>,
    /// The RSA intermediate's key, for signatures rcgen cannot make (SHA-1, MD5).
    rsa_intermediate_key: Option<rsa::PrivateKey>,
}

fn ca_params(common_name: &str, not_before: OffsetDateTime, days_valid: i64) -> CertificateParams {
    let mut params = CertificateParams::default();
    let mut name = DistinguishedName::new();
    name.push(DnType::OrganizationName, ISSUER_ORGANISATION);
    name.push(DnType::CommonName, common_name);
    params.distinguished_name = name;
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    params.not_before = not_before;
    params.not_after = not_before + Duration::days(days_valid);
    params
}

fn now() -> OffsetDateTime {
    OffsetDateTime::now_utc()
}

impl TestCa {
    pub fn new() -> Self {
        Self::build(
            KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).expect("P-256 key"),
            None,
            now() - Duration::days(1),
        )
    }

    /// A CA whose intermediate signs with RSA: leaves read `SHA256WithRSA`, and the SHA-1 and
    /// MD5 helpers work.
    pub fn new_rsa() -> Self {
        use rsa::pkcs8::EncodePrivateKey as _;

        let key = rsa::PrivateKey::new(&mut rand::rng(), 2048).expect("RSA key");
        let pkcs8 = key.to_pkcs8_der().expect("PKCS#8");
        let pair =
            KeyPair::from_pkcs8_der_and_sign_algo(&pkcs8.as_bytes().into(), &PKCS_RSA_SHA256)
                .expect("rcgen takes the RSA key");
        Self::build(pair, Some(key), now() - Duration::days(1))
    }

    /// A CA whose intermediate expired yesterday (the root is still valid).
    pub fn with_expired_intermediate() -> Self {
        Self::build(
            KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).expect("P-256 key"),
            None,
            now() - Duration::days(400),
        )
    }

    fn build(
        intermediate_key: KeyPair,
        rsa_intermediate_key: Option<rsa::PrivateKey>,
        intermediate_not_before: OffsetDateTime,
    ) -> Self {
        let root = CertifiedIssuer::self_signed(
            ca_params("Edgecert Test Root", now() - Duration::days(1), 3650),
            KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).expect("P-256 key"),
        )
        .expect("root");
        // 399 days from `intermediate_not_before`: current for `new`, expired for the variant.
        let intermediate = CertifiedIssuer::signed_by(
            ca_params("Edgecert Test Intermediate", intermediate_not_before, 399),
            intermediate_key,
            &root,
        )
        .expect("intermediate");
        Self {
            root,
            intermediate,
            rsa_intermediate_key,
        }
    }

    /// The root, for the server's extra trusted roots. Never part of an upload.
    pub fn root_pem(&self) -> String {
        self.root.pem()
    }

    pub fn intermediate_pem(&self) -> String {
        self.intermediate.pem()
    }

    /// Issues a leaf for `csr_pem` valid from now + `not_before_offset` for `days_valid` days and
    /// returns the leaf followed by the intermediate, as a customer would upload it.
    pub fn sign_csr(&self, csr_pem: &str, days_valid: i64, not_before_offset: Duration) -> String {
        format!(
            "{}{}",
            self.sign_csr_leaf_only(csr_pem, days_valid, not_before_offset),
            self.intermediate_pem()
        )
    }

    /// The leaf alone: uploads of it fail path validation ("unknown issuer").
    pub fn sign_csr_leaf_only(
        &self,
        csr_pem: &str,
        days_valid: i64,
        not_before_offset: Duration,
    ) -> String {
        let mut request = CertificateSigningRequestParams::from_pem(csr_pem)
            .expect("a CSR rcgen can read (edgecert's CSRs are)");
        request.params.not_before = now() + not_before_offset;
        request.params.not_after = request.params.not_before + Duration::days(days_valid);
        request.signed_by(&self.intermediate).expect("signs").pem()
    }

    /// A 90-day certificate that expired ten days ago.
    pub fn sign_csr_expired(&self, csr_pem: &str) -> String {
        self.sign_csr(csr_pem, 90, Duration::days(-100))
    }

    /// A 90-day certificate that starts in two days.
    pub fn sign_csr_not_yet_valid(&self, csr_pem: &str) -> String {
        self.sign_csr(csr_pem, 90, Duration::days(2))
    }

    /// A valid certificate that expires in five days (refused where 14 days must remain).
    pub fn sign_csr_expiring_soon(&self, csr_pem: &str) -> String {
        self.sign_csr(csr_pem, 6, Duration::days(-1))
    }

    /// A leaf signed with SHA-1/RSA (accepted by the API). Needs [`TestCa::new_rsa`].
    pub fn sign_csr_sha1(&self, csr_pem: &str) -> String {
        self.resigned(csr_pem, 0x05)
    }

    /// A leaf whose signature algorithm reads MD5/RSA (refused before any signature is checked;
    /// the signature bytes themselves are SHA-1). Needs [`TestCa::new_rsa`].
    pub fn sign_csr_md5(&self, csr_pem: &str) -> String {
        self.resigned(csr_pem, 0x04)
    }

    /// A 90-day leaf for a fresh P-256 key covering `hosts`, with that key's PKCS#8 PEM: what a
    /// customer uploads as a custom certificate with its private key.
    pub fn issue_with_new_key(&self, hosts: &[&str], days_valid: i64) -> (String, String) {
        let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).expect("P-256 key");
        let mut params = leaf_params(hosts);
        params.not_before = now() - Duration::days(1);
        params.not_after = params.not_before + Duration::days(days_valid);
        let leaf = params
            .signed_by(&key, &self.intermediate)
            .expect("signs")
            .pem();
        (
            format!("{leaf}{}", self.intermediate_pem()),
            key.serialize_pem(),
        )
    }

    /// [`TestCa::issue_with_new_key`] for a fresh RSA-2048 key: the RSA half of a
    /// certificate pack.
    pub fn issue_with_new_rsa_key(&self, hosts: &[&str], days_valid: i64) -> (String, String) {
        use rsa::pkcs8::EncodePrivateKey as _;

        let rsa_key = rsa::PrivateKey::new(&mut rand::rng(), 2048).expect("RSA key");
        let pkcs8 = rsa_key.to_pkcs8_der().expect("PKCS#8");
        let key = KeyPair::from_pkcs8_der_and_sign_algo(&pkcs8.as_bytes().into(), &PKCS_RSA_SHA256)
            .expect("rcgen takes the RSA key");
        let mut params = leaf_params(hosts);
        params.not_before = now() - Duration::days(1);
        params.not_after = params.not_before + Duration::days(days_valid);
        let leaf = params
            .signed_by(&key, &self.intermediate)
            .expect("signs")
            .pem();
        (
            format!("{leaf}{}", self.intermediate_pem()),
            key.serialize_pem(),
        )
    }

    /// rcgen signs only with SHA-256 and up, so the RSA-SHA256 leaf is rewritten: the algorithm
    /// OID in the TBS changes in place (same length) and the TBS is signed again with SHA-1.
    fn resigned(&self, csr_pem: &str, last_oid_byte: u8) -> String {
        use sha1::Digest as _;

        let key = self
            .rsa_intermediate_key
            .as_ref()
            .expect("SHA-1 and MD5 leaves need TestCa::new_rsa()");
        let leaf = self.sign_csr_leaf_only(csr_pem, 90, Duration::days(-1));
        let der = pem_body(&leaf);
        let (outer, _) = der_element(&der);
        let (tbs, _) = der_element(&outer[4..]);
        let mut tbs = tbs.to_vec();
        let at = tbs
            .windows(SHA256_WITH_RSA.len())
            .position(|w| w == SHA256_WITH_RSA)
            .expect("an RSA-SHA256 certificate");
        tbs[at + SHA256_WITH_RSA.len() - 1] = last_oid_byte;
        let digest = sha1::Sha1::digest(&tbs);
        let signature = key
            .sign(rsa::Pkcs1v15Sign::new::<sha1::Sha1>(), &digest)
            .expect("RSA signs");
        let mut algorithm = SHA256_WITH_RSA.to_vec();
        algorithm[SHA256_WITH_RSA.len() - 1] = last_oid_byte;
        algorithm.extend([0x05, 0x00]);
        let mut bits = vec![0u8];
        bits.extend(signature);
        let mut body = tbs;
        body.extend(der_tlv(0x30, &algorithm));
        body.extend(der_tlv(0x03, &bits));
        format!(
            "{}{}",
            pem_certificate(&der_tlv(0x30, &body)),
            self.intermediate_pem()
        )
    }
}

fn leaf_params(hosts: &[&str]) -> CertificateParams {
    let mut params = CertificateParams::default();
    params.distinguished_name = DistinguishedName::new();
    if let Some(first) = hosts.first() {
        params.distinguished_name.push(DnType::CommonName, *first);
    }
    params.subject_alt_names = hosts
        .iter()
        .map(|h| SanType::DnsName((*h).try_into().expect("a DNS name")))
        .collect();
    params
}

/// `count` self-issued CA certificates named like the intermediate, each with its own key: all
/// are candidate issuers of the leaf and of each other, so chain building tries every order of
/// them and none leads to the root. A bundle built to cost CPU.
pub fn look_alike_intermediates(count: usize) -> String {
    (0..count)
        .map(|_| {
            let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).expect("P-256 key");
            ca_params("Edgecert Test Intermediate", now() - Duration::days(1), 365)
                .self_signed(&key)
                .expect("signs")
                .pem()
        })
        .collect()
}

/// A self-signed 90-day certificate for a fresh P-256 key covering `hosts`, and the key's
/// PKCS#8 PEM. Refused unless uploaded with bundle method `force`.
pub fn self_signed(hosts: &[&str]) -> (String, String) {
    let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).expect("P-256 key");
    let mut params = leaf_params(hosts);
    params.not_before = now() - Duration::days(1);
    params.not_after = now() + Duration::days(90);
    let cert = params.self_signed(&key).expect("signs").pem();
    (cert, key.serialize_pem())
}

/// The PEM of a JSON body as some clients send it: newlines as literal `\n`.
pub fn escape_newlines(pem: &str) -> String {
    pem.replace('\n', "\\n")
}

const SHA256_WITH_RSA: [u8; 11] = [
    0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0b,
];

fn pem_body(pem: &str) -> Vec<u8> {
    use base64::Engine as _;

    let body: String = pem
        .lines()
        .filter(|line| !line.starts_with("-----"))
        .collect();
    base64::engine::general_purpose::STANDARD
        .decode(body)
        .expect("PEM body")
}

fn pem_certificate(der: &[u8]) -> String {
    use base64::Engine as _;

    let body = base64::engine::general_purpose::STANDARD.encode(der);
    let lines: Vec<&str> = body
        .as_bytes()
        .chunks(64)
        .map(|chunk| std::str::from_utf8(chunk).expect("base64 is ASCII"))
        .collect();
    format!(
        "-----BEGIN CERTIFICATE-----\n{}\n-----END CERTIFICATE-----\n",
        lines.join("\n")
    )
}

/// One DER element: (the whole element, what follows it).
fn der_element(input: &[u8]) -> (&[u8], &[u8]) {
    let (len, header) = match input[1] {
        n if n < 0x80 => (usize::from(n), 2),
        0x81 => (usize::from(input[2]), 3),
        0x82 => ((usize::from(input[2]) << 8) | usize::from(input[3]), 4),
        other => panic!("unexpected DER length byte {other:#x}"),
    };
    input.split_at(header + len)
}

fn der_tlv(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    let len = content.len();
    match len {
        0..0x80 => out.push(len as u8),
        0x80..0x100 => out.extend([0x81, len as u8]),
        _ => out.extend([0x82, (len >> 8) as u8, len as u8]),
    }
    out.extend_from_slice(content);
    out
}
