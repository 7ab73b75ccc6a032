//! CSR creation, checked by independent verifiers: the openssl CLI and x509-parser.

use std::io::Write;
use std::process::{Command, Stdio};

use axum::http::{Method, Request, StatusCode};
use edgecert::pki::KeyType;
use edgecert::store::Scope;
use serde_json::{Value, json};
use x509_parser::der_parser::asn1_rs::Tag;
use x509_parser::extensions::{GeneralName, ParsedExtension};
use x509_parser::oid_registry::{
    OID_PKCS1_SHA256WITHRSA, OID_SIG_ECDSA_WITH_SHA256, OID_X509_COMMON_NAME,
    OID_X509_COUNTRY_NAME, OID_X509_LOCALITY_NAME, OID_X509_ORGANIZATION_NAME,
    OID_X509_ORGANIZATIONAL_UNIT, OID_X509_STATE_OR_PROVINCE_NAME,
};
use x509_parser::prelude::*;
use x509_parser::public_key::PublicKey;

use crate::common::{Backend, TestApp, ZONE, csr_body, zone_csrs};
use crate::on_both_backends;

on_both_backends!(
    seed_walkthrough_body_works_verbatim,
    rsa2048_is_the_default_and_verifies,
    p256_csr_verifies_with_exact_subject_and_sans,
    organizational_unit_is_optional_and_omitted_from_subject,
    optional_name_and_description_are_echoed,
    private_key_is_stored_encrypted_and_matches_the_csr,
);

/// The tutorial's request, byte for byte, with its X-Auth-Email/X-Auth-Key headers.
const SEED_BODY: &str = r#"{
  "country": "US",
  "state": "MA",
  "locality": "Boston",
  "organization": "City of Boston",
  "organizational_unit": "Championship Parade Detail",
  "common_name": "app.example.com",
  "sans": [
    "app.example.com",
    "www.example.com",
    "blog.example.com",
    "example.com"
  ],
  "key_type" : "p256v1"
}"#;

/// Runs `openssl req -verify -noout -text` on the PEM and returns its report.
#[track_caller]
pub(crate) fn openssl_verify(pem: &str) -> String {
    let mut child = Command::new("openssl")
        .args(["req", "-verify", "-noout", "-text", "-nameopt", "RFC2253"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the openssl CLI is installed (.ci/run installs it)");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(pem.as_bytes())
        .expect("write CSR");
    let output = child.wait_with_output().expect("openssl runs");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(
        output.status.success(),
        "openssl rejected the CSR: {stderr}"
    );
    assert!(
        format!("{stdout}{stderr}").contains("verify OK"),
        "openssl did not verify the signature: {stdout}{stderr}"
    );
    stdout
}

/// What x509-parser reads from the CSR.
pub(crate) struct Parsed {
    subject: Vec<(String, Tag, String)>,
    sans: Vec<String>,
    signature_oid: String,
    key: ParsedKey,
    pub(crate) spki_der: Vec<u8>,
}

#[derive(Debug, PartialEq)]
enum ParsedKey {
    Rsa { bits: usize, exponent: Vec<u8> },
    P256,
}

fn attribute_name(oid: &x509_parser::der_parser::oid::Oid) -> String {
    let names = [
        (OID_X509_COUNTRY_NAME, "C"),
        (OID_X509_STATE_OR_PROVINCE_NAME, "ST"),
        (OID_X509_LOCALITY_NAME, "L"),
        (OID_X509_ORGANIZATION_NAME, "O"),
        (OID_X509_ORGANIZATIONAL_UNIT, "OU"),
        (OID_X509_COMMON_NAME, "CN"),
    ];
    names
        .iter()
        .find(|(known, _)| known == oid)
        .map_or_else(|| oid.to_id_string(), |(_, name)| (*name).to_string())
}

#[track_caller]
pub(crate) fn parse_csr(pem_text: &str) -> Parsed {
    let (_, pem) = parse_x509_pem(pem_text.as_bytes()).expect("PEM");
    assert_eq!(pem.label, "CERTIFICATE REQUEST");
    let (rest, csr) = X509CertificationRequest::from_der(&pem.contents).expect("PKCS#10 DER");
    assert!(rest.is_empty(), "trailing bytes after the CSR");
    csr.verify_signature().expect("signature verifies");
    let info = &csr.certification_request_info;
    let subject = info
        .subject
        .iter()
        .flat_map(|rdn| rdn.iter())
        .map(|attr| {
            (
                attribute_name(attr.attr_type()),
                attr.attr_value().header.tag(),
                attr.as_str().expect("string attribute").to_string(),
            )
        })
        .collect();
    let mut sans = Vec::new();
    for extension in csr.requested_extensions().into_iter().flatten() {
        if let ParsedExtension::SubjectAlternativeName(san) = extension {
            for name in &san.general_names {
                match name {
                    GeneralName::DNSName(dns) => sans.push((*dns).to_string()),
                    other => panic!("unexpected SAN entry {other:?}"),
                }
            }
        }
    }
    let key = match info.subject_pki.parsed().expect("public key") {
        PublicKey::RSA(rsa) => ParsedKey::Rsa {
            bits: rsa.key_size(),
            exponent: rsa
                .exponent
                .iter()
                .copied()
                .skip_while(|b| *b == 0)
                .collect(),
        },
        PublicKey::EC(point) => {
            assert_eq!(point.key_size(), 256);
            ParsedKey::P256
        }
        other => panic!("unexpected key {other:?}"),
    };
    Parsed {
        subject,
        sans,
        signature_oid: csr.signature_algorithm.algorithm.to_id_string(),
        key,
        spki_der: info.subject_pki.raw.to_vec(),
    }
}

fn expected_subject(with_unit: bool) -> Vec<(String, Tag, String)> {
    let mut subject = vec![
        ("C".into(), Tag::PrintableString, "US".into()),
        ("ST".into(), Tag::Utf8String, "MA".into()),
        ("L".into(), Tag::Utf8String, "Boston".into()),
        ("O".into(), Tag::Utf8String, "City of Boston".into()),
    ];
    if with_unit {
        subject.push((
            "OU".into(),
            Tag::Utf8String,
            "Championship Parade Detail".into(),
        ));
    }
    subject.push(("CN".into(), Tag::Utf8String, "app.example.com".into()));
    subject
}

fn created_at_is_rfc3339_utc(result: &Value) {
    let created = result["created_at"].as_str().expect("created_at");
    assert!(created.ends_with('Z'), "{created}");
    ::time::OffsetDateTime::parse(created, &::time::format_description::well_known::Rfc3339)
        .expect("RFC 3339");
}

async fn seed_walkthrough_body_works_verbatim(backend: Backend) {
    let app = TestApp::new(backend).await;
    let request = Request::builder()
        .method(Method::POST)
        .uri(zone_csrs(ZONE))
        .header("X-Auth-Email", "user@example.com")
        .header("X-Auth-Key", crate::common::TOKEN)
        .header("Content-Type", "application/json");
    let response = app.send(request, Some(SEED_BODY)).await;
    let result = response.assert_success(StatusCode::CREATED);

    let id = result["id"].as_str().expect("id");
    let uuid = uuid::Uuid::parse_str(id).expect("id is a UUID");
    assert_eq!(uuid.get_version_num(), 4);
    assert_eq!(result["key_type"], "p256v1");
    assert_eq!(result["common_name"], "app.example.com");
    assert_eq!(result["organizational_unit"], "Championship Parade Detail");
    assert_eq!(
        result["sans"],
        json!([
            "app.example.com",
            "www.example.com",
            "blog.example.com",
            "example.com"
        ])
    );
    assert!(result.get("account_tag").is_none());
    created_at_is_rfc3339_utc(result);

    let pem = result["csr"].as_str().expect("csr");
    assert!(pem.starts_with("-----BEGIN CERTIFICATE REQUEST-----\n"));
    assert!(pem.ends_with("-----END CERTIFICATE REQUEST-----\n"));
    let report = openssl_verify(pem);
    assert!(
        report.contains("Subject: CN=app.example.com,OU=Championship Parade Detail,O=City of Boston,L=Boston,ST=MA,C=US"),
        "{report}"
    );
    assert!(
        report.contains(
            "DNS:app.example.com, DNS:www.example.com, DNS:blog.example.com, DNS:example.com"
        ),
        "{report}"
    );
    assert!(report.contains("ecdsa-with-SHA256"), "{report}");
    assert!(report.contains("prime256v1"), "{report}");

    let parsed = parse_csr(pem);
    assert_eq!(parsed.subject, expected_subject(true));
    assert_eq!(parsed.key, ParsedKey::P256);
    assert_eq!(
        parsed.signature_oid,
        OID_SIG_ECDSA_WITH_SHA256.to_id_string()
    );

    let fetched = app.get(&format!("{}/{id}", zone_csrs(ZONE))).await;
    assert_eq!(fetched.assert_success(StatusCode::OK), result);
}

async fn rsa2048_is_the_default_and_verifies(backend: Backend) {
    let app = TestApp::new(backend).await;
    let mut body = csr_body("app.example.com");
    body.as_object_mut().expect("object").remove("key_type");
    body["organizational_unit"] = json!("Championship Parade Detail");
    body["sans"] = json!(["app.example.com", "*.app.example.com"]);
    let result = app.create_csr(&body).await;
    assert_eq!(result["key_type"], "rsa2048");

    let pem = result["csr"].as_str().expect("csr");
    let report = openssl_verify(pem);
    assert!(report.contains("sha256WithRSAEncryption"), "{report}");
    assert!(report.contains("Public-Key: (2048 bit)"), "{report}");
    assert!(report.contains("Exponent: 65537 (0x10001)"), "{report}");
    assert!(
        report.contains("DNS:app.example.com, DNS:*.app.example.com"),
        "{report}"
    );

    let parsed = parse_csr(pem);
    assert_eq!(
        parsed.key,
        ParsedKey::Rsa {
            bits: 2048,
            exponent: vec![0x01, 0x00, 0x01]
        }
    );
    assert_eq!(parsed.signature_oid, OID_PKCS1_SHA256WITHRSA.to_id_string());
    assert_eq!(parsed.subject, expected_subject(true));
    assert_eq!(parsed.sans, vec!["app.example.com", "*.app.example.com"]);
}

async fn p256_csr_verifies_with_exact_subject_and_sans(backend: Backend) {
    let app = TestApp::new(backend).await;
    let mut body = csr_body("app.example.com");
    body["organizational_unit"] = json!("Championship Parade Detail");
    body["sans"] = json!(["www.example.com", "app.example.com", "shop.example.co.uk"]);
    let result = app.create_csr(&body).await;
    let parsed = parse_csr(result["csr"].as_str().expect("csr"));
    assert_eq!(parsed.subject, expected_subject(true));
    assert_eq!(
        parsed.sans,
        vec!["www.example.com", "app.example.com", "shop.example.co.uk"]
    );
    assert_eq!(result["sans"], body["sans"]);
}

async fn organizational_unit_is_optional_and_omitted_from_subject(backend: Backend) {
    let app = TestApp::new(backend).await;
    let result = app.create_csr(&csr_body("app.example.com")).await;
    assert!(result.get("organizational_unit").is_none(), "{result}");
    let parsed = parse_csr(result["csr"].as_str().expect("csr"));
    assert_eq!(parsed.subject, expected_subject(false));
}

async fn optional_name_and_description_are_echoed(backend: Backend) {
    let app = TestApp::new(backend).await;
    let mut body = csr_body("app.example.com");
    body["name"] = json!("Parade CSR");
    body["description"] = json!("For the championship parade site");
    body["some_future_field"] = json!({"ignored": true});
    let result = app.create_csr(&body).await;
    assert_eq!(result["name"], "Parade CSR");
    assert_eq!(result["description"], "For the championship parade site");
    assert!(result.get("some_future_field").is_none());
    let fetched = app
        .get(&format!(
            "{}/{}",
            zone_csrs(ZONE),
            result["id"].as_str().expect("id")
        ))
        .await;
    assert_eq!(fetched.assert_success(StatusCode::OK)["name"], "Parade CSR");
}

/// Both key types end up in the store sealed under the master key; the sealed bytes open only
/// with that key and hold the CSR's own key pair. Nothing key-like appears in responses.
async fn private_key_is_stored_encrypted_and_matches_the_csr(backend: Backend) {
    let app = TestApp::new(backend).await;
    for key_type in KeyType::CSR_KEY_TYPES {
        let mut body = csr_body("app.example.com");
        body["key_type"] = json!(key_type.as_str());
        let response = app.post(&zone_csrs(ZONE), &body).await;
        let text = response.body.to_string();
        assert!(!text.contains("PRIVATE KEY"), "{text}");
        let result = response.assert_success(StatusCode::CREATED);
        let id = uuid::Uuid::parse_str(result["id"].as_str().expect("id")).expect("uuid");
        let parsed = parse_csr(result["csr"].as_str().expect("csr"));

        let record = app
            .store()
            .get_csr(&Scope::Zone(ZONE.into()), id)
            .await
            .expect("stored");
        let stored = app.store().get_key(record.key_id).await.expect("key row");
        assert_eq!(stored.key_type, key_type);
        assert_eq!(stored.spki_der, parsed.spki_der, "public key kept in clear");

        let key = app
            .state
            .master_key
            .open(
                stored.key_type,
                &stored.encrypted_pkcs8,
                stored.spki_der.clone(),
                record.key_id.as_bytes(),
            )
            .expect("opens with the master key");
        assert_eq!(key.spki_der(), parsed.spki_der.as_slice());
        assert!(!format!("{key:?}").contains(&format!("{:?}", &stored.encrypted_pkcs8[..4])));

        let (other, _) = edgecert::pki::MasterKey::generate().expect("key");
        assert!(
            other
                .open(
                    stored.key_type,
                    &stored.encrypted_pkcs8,
                    stored.spki_der.clone(),
                    record.key_id.as_bytes()
                )
                .is_err(),
            "another master key must not open it"
        );
        // A PKCS#8 private key starts with version 0 followed by the algorithm identifier;
        // the sealed bytes must not contain that structure.
        let pkcs8_marker: &[u8] = match key_type {
            KeyType::Rsa2048 => &[0x02, 0x01, 0x00, 0x30, 0x0d, 0x06, 0x09, 0x2a, 0x86, 0x48],
            KeyType::P256v1 => &[0x02, 0x01, 0x00, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48],
            other => unreachable!("{other} is not a CSR key type"),
        };
        assert!(
            !stored
                .encrypted_pkcs8
                .windows(pkcs8_marker.len())
                .any(|w| w == pkcs8_marker),
            "sealed key looks like plaintext PKCS#8"
        );
    }
}
