//! PKCS#10 certificate signing requests built from validated subject fields.

use rcgen::{
    CertificateParams, DistinguishedName, DnType, DnValue, KeyPair, PKCS_ECDSA_P256_SHA256,
    PKCS_RSA_SHA256, SanType,
};

use super::PkiError;
use super::keys::{KeyType, PrivateKey};

/// The subject of a CSR, in the order it is encoded: C, ST, L, O, [OU], CN.
#[derive(Debug, Clone)]
pub struct Subject {
    pub country: String,
    pub state: String,
    pub locality: String,
    pub organization: String,
    pub organizational_unit: Option<String>,
    pub common_name: String,
}

/// A DER CSR for one DNS name, as an ACME order is finalised with: no subject beyond the
/// name itself (the CA takes only the SAN), signed with `key`.
pub fn build_dv_csr(hostname: &str, key: &PrivateKey) -> Result<Vec<u8>, PkiError> {
    let mut params = CertificateParams::default();
    let mut name = DistinguishedName::new();
    name.push(DnType::CommonName, hostname);
    params.distinguished_name = name;
    params.subject_alt_names = vec![SanType::DnsName(
        hostname
            .try_into()
            .map_err(|e: rcgen::Error| PkiError::Csr(e.to_string()))?,
    )];
    let request = params
        .serialize_request(&signer(key)?)
        .map_err(|e| PkiError::Csr(e.to_string()))?;
    Ok(request.der().to_vec())
}

fn signer(key: &PrivateKey) -> Result<KeyPair, PkiError> {
    let algorithm = match key.key_type() {
        KeyType::Rsa2048 | KeyType::Rsa3072 | KeyType::Rsa4096 | KeyType::Rsa8192 => {
            &PKCS_RSA_SHA256
        }
        KeyType::P256v1 => &PKCS_ECDSA_P256_SHA256,
    };
    KeyPair::from_pkcs8_der_and_sign_algo(&key.pkcs8_der().into(), algorithm)
        .map_err(|e| PkiError::Csr(e.to_string()))
}

/// Builds and signs a CSR for `key`, returning its PEM text.
///
/// The country is encoded as a PrintableString (X.520 requires it); the other attributes as
/// UTF8String, which RFC 5280 recommends. The SAN extension carries exactly `sans`.
pub fn build_csr(subject: &Subject, sans: &[String], key: &PrivateKey) -> Result<String, PkiError> {
    let mut params = CertificateParams::default();
    let mut name = DistinguishedName::new();
    let country = subject
        .country
        .as_str()
        .try_into()
        .map_err(|e: rcgen::Error| PkiError::Csr(e.to_string()))?;
    name.push(DnType::CountryName, DnValue::PrintableString(country));
    name.push(DnType::StateOrProvinceName, subject.state.as_str());
    name.push(DnType::LocalityName, subject.locality.as_str());
    name.push(DnType::OrganizationName, subject.organization.as_str());
    if let Some(unit) = &subject.organizational_unit {
        name.push(DnType::OrganizationalUnitName, unit.as_str());
    }
    name.push(DnType::CommonName, subject.common_name.as_str());
    params.distinguished_name = name;
    params.subject_alt_names = sans
        .iter()
        .map(|san| {
            san.as_str()
                .try_into()
                .map(SanType::DnsName)
                .map_err(|e: rcgen::Error| PkiError::Csr(e.to_string()))
        })
        .collect::<Result<_, _>>()?;

    let request = params
        .serialize_request(&signer(key)?)
        .map_err(|e| PkiError::Csr(e.to_string()))?;
    request.pem().map_err(|e| PkiError::Csr(e.to_string()))
}
