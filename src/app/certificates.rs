//! Zone custom certificates: uploaded for a CSR's key or a supplied one, edited, prioritized.

use uuid::Uuid;

use super::uploads::{
    self, CurrentKey, KeyChoice, MIN_REMAINING_VALIDITY, UploadError, UploadPolicy,
};
use super::{AppState, InternalError};
use crate::store::{
    CertificateFilter, CertificateOptions, CertificateRecord, Page, PageRequest, StoreError,
};

#[derive(Debug, thiserror::Error)]
pub enum CertificateError {
    #[error("no such custom certificate in this zone")]
    NotFound,
    /// The zone already holds its quota of custom certificates.
    #[error("the quota of {limit} custom certificates is reached")]
    QuotaExceeded { limit: u64 },
    #[error(transparent)]
    Upload(#[from] UploadError),
    #[error(transparent)]
    Internal(#[from] InternalError),
}

impl From<StoreError> for CertificateError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::NotFound => Self::NotFound,
            StoreError::QuotaExceeded { limit } => Self::QuotaExceeded { limit },
            // The CSR (and its key) was deleted while the upload was being checked.
            StoreError::ReferenceGone(_) => Self::Upload(UploadError::CsrNotFound),
            other => Self::Internal(other.into()),
        }
    }
}

/// A new certificate or key for an existing custom certificate. A new certificate alone keeps
/// the current key; a new key alone is checked against the current certificate.
#[derive(Debug, Default)]
pub struct Replacement<'a> {
    pub certificate_pem: Option<&'a str>,
    pub key: KeyChoice<'a>,
}

/// `force` is the documented way to upload a certificate the trust store cannot bundle.
fn policy(options: &CertificateOptions) -> UploadPolicy<'static> {
    UploadPolicy {
        hostname: None,
        verify_trust: options.bundle_method != "force",
        min_remaining: Some(MIN_REMAINING_VALIDITY),
    }
}

pub async fn create(
    state: &AppState,
    zone_id: &str,
    certificate_pem: &str,
    key: KeyChoice<'_>,
    options: CertificateOptions,
) -> Result<CertificateRecord, CertificateError> {
    let accepted =
        uploads::accept(state, zone_id, certificate_pem, key, None, policy(&options)).await?;
    let record = CertificateRecord {
        id: Uuid::new_v4(),
        zone_id: zone_id.to_string(),
        key: accepted.key,
        custom_csr_id: accepted.custom_csr_id,
        modified_on: accepted.certificate.uploaded_on,
        uploaded_on: accepted.certificate.uploaded_on,
        certificate: accepted.certificate,
        options,
        priority: 0,
    };
    state
        .store
        .insert_certificate(
            &record,
            accepted.new_key.as_ref(),
            state.quotas.certificates,
        )
        .await?;
    state.served_changes.changed();
    tracing::debug!(certificate_id = %record.id, "custom certificate uploaded");
    Ok(record)
}

/// Stores `record` with new `options` and, if given, a replacement certificate or key; a
/// customer key no longer used is destroyed in the same transaction.
pub async fn edit(
    state: &AppState,
    mut record: CertificateRecord,
    options: CertificateOptions,
    replacement: Option<Replacement<'_>>,
) -> Result<CertificateRecord, CertificateError> {
    let replaced_key = record.key;
    record.options = options;
    let mut new_key = None;
    if let Some(replacement) = replacement {
        let certificate_pem = replacement
            .certificate_pem
            .map_or_else(|| record.certificate.bundle_pem.clone(), str::to_string);
        let current = CurrentKey {
            key: record.key,
            custom_csr_id: record.custom_csr_id,
        };
        let accepted = uploads::accept(
            state,
            &record.zone_id,
            &certificate_pem,
            replacement.key,
            Some(current),
            policy(&record.options),
        )
        .await?;
        record.key = accepted.key;
        record.custom_csr_id = accepted.custom_csr_id;
        record.certificate = accepted.certificate;
        new_key = accepted.new_key;
    }
    record.modified_on = state.clock.now();
    let previous_id = record.id;
    // Cloudflare documents that an edit of an `sni_custom` certificate returns a new resource
    // id and deletes the previous one; `legacy_custom` keeps its id.
    if record.options.certificate_type == "sni_custom" {
        record.id = Uuid::new_v4();
    }
    state
        .store
        .update_certificate(previous_id, &record, new_key.as_ref(), replaced_key)
        .await?;
    state.served_changes.changed();
    Ok(record)
}

pub async fn get(
    state: &AppState,
    zone_id: &str,
    id: Uuid,
) -> Result<CertificateRecord, CertificateError> {
    Ok(state.store.get_certificate(zone_id, id).await?)
}

pub async fn list(
    state: &AppState,
    zone_id: &str,
    filter: &CertificateFilter,
    page: PageRequest,
) -> Result<Page<CertificateRecord>, InternalError> {
    let now = state.clock.now();
    Ok(state
        .store
        .list_certificates(zone_id, filter, page, now)
        .await?)
}

pub async fn delete(state: &AppState, zone_id: &str, id: Uuid) -> Result<(), CertificateError> {
    state.store.delete_certificate(zone_id, id).await?;
    state.served_changes.changed();
    tracing::debug!(certificate_id = %id, "custom certificate deleted");
    Ok(())
}

/// Sets several priorities at once (all or none) and returns every certificate of the zone in
/// priority order.
pub async fn prioritize(
    state: &AppState,
    zone_id: &str,
    priorities: &[(Uuid, i64)],
) -> Result<Vec<CertificateRecord>, CertificateError> {
    state
        .store
        .prioritize_certificates(zone_id, priorities)
        .await?;
    state.served_changes.changed();
    const PAGE: u64 = 50;
    let mut all = Vec::new();
    for page in 1.. {
        let found = state
            .store
            .list_certificates(
                zone_id,
                &CertificateFilter::default(),
                PageRequest {
                    page,
                    per_page: PAGE,
                },
                state.clock.now(),
            )
            .await
            .map_err(InternalError::from)?;
        let done = (found.items.len() as u64) < PAGE;
        all.extend(found.items);
        if done {
            break;
        }
    }
    Ok(all)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::app::testing;

    const ZONE: &str = "023e105f4ecef8ad9ca31a8372d0c353";

    fn options() -> CertificateOptions {
        CertificateOptions {
            bundle_method: "ubiquitous".into(),
            certificate_type: "legacy_custom".into(),
            geo_restrictions: None,
            policy: None,
            deploy: None,
        }
    }

    #[tokio::test]
    async fn an_upload_needs_exactly_one_key() {
        let test = testing::state(None).await;
        let neither = create(&test.state, ZONE, "pem", KeyChoice::default(), options()).await;
        assert!(matches!(
            neither,
            Err(CertificateError::Upload(UploadError::NoKey))
        ));
        let both = KeyChoice {
            custom_csr_id: Some("7b163417-1d2b-4c84-a38a-2fb7a0cd7752"),
            supplied_pem: Some("pem"),
        };
        let both = create(&test.state, ZONE, "pem", both, options()).await;
        assert!(matches!(
            both,
            Err(CertificateError::Upload(UploadError::BothKeys))
        ));
        let malformed = KeyChoice {
            custom_csr_id: Some("not-an-id"),
            supplied_pem: None,
        };
        let malformed = create(&test.state, ZONE, "pem", malformed, options()).await;
        assert!(matches!(
            malformed,
            Err(CertificateError::Upload(UploadError::CsrIdInvalid(raw))) if raw == "not-an-id"
        ));
        let unknown = KeyChoice {
            custom_csr_id: Some("7b163417-1d2b-4c84-a38a-2fb7a0cd7752"),
            supplied_pem: None,
        };
        let unknown = create(&test.state, ZONE, "pem", unknown, options()).await;
        assert!(matches!(
            unknown,
            Err(CertificateError::Upload(UploadError::CsrNotFound))
        ));
    }

    #[tokio::test]
    async fn prioritizing_an_unknown_certificate_changes_nothing() {
        let test = testing::state(None).await;
        let unknown = prioritize(&test.state, ZONE, &[(Uuid::new_v4(), 3)]).await;
        assert!(matches!(unknown, Err(CertificateError::NotFound)));
    }
}
