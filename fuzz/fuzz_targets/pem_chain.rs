//! PEM and certificate chains: the PEM reader, `PrivateKey::from_pem` and `verify_upload`
//! against a trust store holding one private root (`fuzz/fixtures/root.pem`).
//! Input: one mode byte, then UTF-8 text. Mode bits 0-1: 0 PEM blocks, 1 private key, 2-3
//! upload; for uploads bit 2 picks the expected key (the RSA or the P-256 leaf of
//! `fuzz/fixtures`), bit 3 verifies trust, bit 4 is strict, bits 5-6 the hostname to cover,
//! bit 7 asks for 14 days of remaining validity.
#![no_main]

use std::sync::OnceLock;
use std::time::{Duration, SystemTime};

use edgecert::pki::fuzzing::{blocks, encode_certificate, normalise};
use edgecert::pki::{KeyType, PrivateKey, TrustStore, UploadRequest, verify_upload};
use edgecert_fuzz::{assert_no_secret, private_key_lines};
use libfuzzer_sys::fuzz_target;
use sha2::{Digest, Sha256};
use x509_parser::prelude::{FromDer, SubjectPublicKeyInfo, X509Certificate};

const ROOT: &str = include_str!("../fixtures/root.pem");
const RSA_LEAF: &str = include_str!("../fixtures/leaf-rsa.pem");
const EC_LEAF: &str = include_str!("../fixtures/leaf-ec.pem");
/// 2027-06-01T00:00:00Z: inside the fixtures' validity.
const NOW_UNIX: u64 = 1_811_808_000;
const HOSTNAMES: [Option<&str>; 4] = [
    None,
    Some("app.example.com"),
    Some("*.example.com"),
    Some("other.example.net"),
];

struct Fixtures {
    trust: TrustStore,
    /// The SubjectPublicKeyInfo of the RSA leaf, then of the P-256 leaf.
    spki: [Vec<u8>; 2],
}

fn fixtures() -> &'static Fixtures {
    static FIXTURES: OnceLock<Fixtures> = OnceLock::new();
    FIXTURES.get_or_init(|| {
        let spki = |pem: &str| {
            let der = blocks(pem).expect("fixture PEM").remove(0).2;
            let (_, cert) = X509Certificate::from_der(&der).expect("fixture certificate");
            cert.public_key().raw.to_vec()
        };
        Fixtures {
            trust: TrustStore::new(false, Some(ROOT.as_bytes())).expect("fixture root"),
            spki: [spki(RSA_LEAF), spki(EC_LEAF)],
        }
    })
}

fn check_pem(text: &str) {
    let normalised = normalise(text);
    assert_eq!(
        normalise(&normalised),
        normalised,
        "normalise is not idempotent"
    );
    let found = blocks(text);
    assert_eq!(blocks(&normalised), found, "blocks differ once normalised");
    match found {
        Ok(found) => {
            for (label, _, der) in found {
                assert!(
                    !label.contains('\n') && label.trim() == label,
                    "label {label:?}"
                );
                // Whatever was read comes back unchanged through edgecert's own writer.
                let written = encode_certificate(&der);
                assert_eq!(
                    blocks(&written),
                    Ok(vec![("CERTIFICATE".to_string(), Vec::new(), der)])
                );
            }
        }
        Err(message) => assert_no_secret(&message, &private_key_lines(text)),
    }
}

fn check_key(text: &str) {
    let secrets = private_key_lines(text);
    match PrivateKey::from_pem(text) {
        Ok(key) => {
            assert_no_secret(&format!("{key:?}"), &secrets);
            let (rest, spki) =
                SubjectPublicKeyInfo::from_der(key.spki_der()).expect("the SPKI parses");
            assert!(rest.is_empty(), "bytes after the SPKI");
            let algorithm = spki.algorithm.algorithm.to_id_string();
            match key.key_type() {
                KeyType::P256v1 => assert_eq!(algorithm, "1.2.840.10045.2.1"),
                _ => assert_eq!(algorithm, "1.2.840.113549.1.1.1"),
            }
        }
        Err(error) => {
            assert_no_secret(&error.to_string(), &secrets);
            assert_no_secret(&format!("{error:?}"), &secrets);
        }
    }
}

fn check_upload(mode: u8, text: &str) {
    let fixtures = fixtures();
    let expected = &fixtures.spki[usize::from(mode >> 2 & 1)];
    let hostname = HOSTNAMES[usize::from(mode >> 5 & 3)];
    let now = SystemTime::UNIX_EPOCH + Duration::from_secs(NOW_UNIX);
    let request = UploadRequest {
        certificate_pem: text,
        expected_spki_der: expected,
        hostname,
        verify_trust: mode & 8 != 0,
        min_remaining: (mode & 0x80 != 0).then(|| Duration::from_secs(14 * 86_400)),
        now,
        strict: mode & 0x10 != 0,
    };
    let verified = match verify_upload(&request, &fixtures.trust) {
        Ok(verified) => verified,
        Err(problem) => {
            assert_no_secret(&problem.to_string(), &private_key_lines(text));
            return;
        }
    };
    // Never a certificate for another key.
    assert_eq!(&verified.spki_der, expected);
    let (_, leaf) = X509Certificate::from_der(&verified.leaf_der).expect("the leaf parses");
    assert_eq!(
        leaf.public_key().raw,
        expected.as_slice(),
        "leaf key differs"
    );
    assert!(!leaf.is_ca(), "a CA certificate accepted as the leaf");
    let now = now
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    assert!(verified.not_before.unix_timestamp() <= now);
    assert!(now <= verified.not_after.unix_timestamp());
    let fingerprint: String = Sha256::digest(&verified.leaf_der)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert_eq!(verified.fingerprint_sha256, fingerprint);
    // The bundle is the leaf then the intermediates, each one of the uploaded certificates.
    let uploaded: Vec<Vec<u8>> = blocks(text)
        .expect("an accepted upload is PEM")
        .into_iter()
        .map(|(_, _, der)| der)
        .collect();
    let mut bundle = vec![verified.leaf_der.clone()];
    bundle.extend(verified.intermediates_der.iter().cloned());
    let written: Vec<Vec<u8>> = blocks(&verified.bundle_pem)
        .expect("the bundle is PEM")
        .into_iter()
        .map(|(_, _, der)| der)
        .collect();
    assert_eq!(written, bundle);
    for der in &bundle {
        assert!(
            uploaded.contains(der),
            "the bundle holds a certificate not uploaded"
        );
    }
    if let Some(hostname) = hostname {
        let parent = hostname.split_once('.').map_or("", |(_, parent)| parent);
        let wildcard = format!("*.{parent}");
        assert!(
            verified.hosts.iter().any(|h| {
                h.eq_ignore_ascii_case(hostname)
                    || (!hostname.starts_with("*.") && h.eq_ignore_ascii_case(&wildcard))
            }),
            "{hostname} accepted for {:?}",
            verified.hosts
        );
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let Ok(text) = std::str::from_utf8(rest) else {
        return;
    };
    match mode & 3 {
        0 => check_pem(text),
        1 => check_key(text),
        _ => check_upload(mode, text),
    }
});
