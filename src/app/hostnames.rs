//! Custom hostnames: created and edited with their `ssl` settings and, optionally, an uploaded
//! certificate checked against its key.

use serde_json::Value;
use uuid::Uuid;

use super::uploads::{self, Accepted, CurrentKey, KeyChoice, UploadError, UploadPolicy};
use super::{AppState, InternalError};
use crate::pki::KeyType;
use crate::store::{
    HostnameFilter, HostnameRecord, KeyRef, ManagedState, ManagedWrite, PackCertificate, Page,
    PageRequest, SslOptions, StoreError, StoredKey,
};

/// The parts of a create or edit request that are not the hostname. `None` leaves a field as
/// it is; `Some(None)` clears it.
#[derive(Debug, Default)]
pub struct HostnameSettings {
    pub ssl: Option<SslDraft>,
    pub custom_metadata: Option<Option<Value>>,
    pub custom_origin_server: Option<Option<String>>,
    pub custom_origin_sni: Option<Option<String>>,
}

/// A checked `ssl` object: its settings, and a certificate upload (or a bundle of them) if
/// it carries one. Its `Debug` never shows a supplied key.
#[derive(Default)]
pub struct SslDraft {
    pub options: SslOptions,
    pub custom_certificate: Option<String>,
    pub custom_key: Option<String>,
    pub custom_csr_id: Option<String>,
    /// `ssl.custom_cert_bundle`: one or two certificates, each with its key.
    pub custom_cert_bundle: Option<Vec<BundleEntry>>,
}

/// One entry of `ssl.custom_cert_bundle`: a certificate and its key, supplied (the API's
/// `custom_key`) or a stored CSR's (`custom_csr_id`, edgecert's extension). Its `Debug`
/// never shows a supplied key.
pub struct BundleEntry {
    pub custom_certificate: String,
    pub custom_key: Option<String>,
    pub custom_csr_id: Option<String>,
}

impl BundleEntry {
    pub fn choice(&self) -> KeyChoice<'_> {
        KeyChoice {
            custom_csr_id: self.custom_csr_id.as_deref(),
            supplied_pem: self.custom_key.as_deref(),
        }
    }
}

impl std::fmt::Debug for BundleEntry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BundleEntry")
            .field(
                "custom_key",
                &self.custom_key.as_ref().map(|_| "[redacted]"),
            )
            .field("custom_csr_id", &self.custom_csr_id)
            .finish_non_exhaustive()
    }
}

impl std::fmt::Debug for SslDraft {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SslDraft")
            .field("options", &self.options)
            .field("custom_certificate", &self.custom_certificate.is_some())
            .field(
                "custom_key",
                &self.custom_key.as_ref().map(|_| "[redacted]"),
            )
            .field("custom_csr_id", &self.custom_csr_id)
            .field("custom_cert_bundle", &self.custom_cert_bundle)
            .finish()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum HostnameError {
    #[error("no such custom hostname in this zone")]
    NotFound,
    #[error("the zone already has this hostname")]
    Duplicate,
    /// An edit named another hostname: a hostname cannot be changed.
    #[error("a custom hostname cannot be renamed")]
    Immutable,
    /// A key (CSR id or PEM) came without the certificate it belongs to.
    #[error("a key was given without a certificate")]
    KeyWithoutCertificate,
    /// The zone already holds its hard cap of custom hostnames.
    #[error("the quota of {limit} custom hostnames is reached")]
    QuotaExceeded { limit: u64 },
    #[error(transparent)]
    Upload(#[from] UploadError),
    /// Entry `index` of `ssl.custom_cert_bundle` was refused.
    /// `named_csr`: the entry named its key by `custom_csr_id`.
    #[error("custom_cert_bundle entry {index}: {error}")]
    BundleUpload {
        index: usize,
        named_csr: bool,
        error: UploadError,
    },
    /// A bundle of two whose keys are not one RSA and one ECDSA.
    #[error("a certificate bundle needs one RSA and one ECDSA certificate")]
    BundleKeyTypes,
    /// The path names a certificate pack (or a certificate in it) the hostname does not have.
    #[error("no such certificate pack or certificate")]
    PackCertificateNotFound,
    /// A replacement whose key type is not the replaced certificate's.
    #[error("a pack certificate is replaced only by one with the same key type")]
    PackKeyTypeChanged { expected: KeyFamily },
    /// Deleting the only certificate of a pack.
    #[error("the pack's last certificate cannot be deleted")]
    PackLastCertificate,
    #[error(transparent)]
    Internal(#[from] InternalError),
}

/// RSA or ECDSA: what a certificate pack holds one of each of.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyFamily {
    Rsa,
    Ecdsa,
}

impl KeyFamily {
    pub fn of(key_type: KeyType) -> Self {
        if key_type.rsa_bits().is_some() {
            Self::Rsa
        } else {
            Self::Ecdsa
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Rsa => "RSA",
            Self::Ecdsa => "ECDSA",
        }
    }
}

impl From<StoreError> for HostnameError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::NotFound => Self::NotFound,
            StoreError::Duplicate(_) => Self::Duplicate,
            StoreError::QuotaExceeded { limit } => Self::QuotaExceeded { limit },
            // The CSR (and its key) was deleted while the upload was being checked.
            StoreError::ReferenceGone(_) => Self::Upload(UploadError::CsrNotFound),
            other => Self::Internal(other.into()),
        }
    }
}

/// Creates a hostname (already checked and lower-cased) in `zone_id`.
pub async fn create(
    state: &AppState,
    zone_id: &str,
    hostname: String,
    settings: HostnameSettings,
) -> Result<HostnameRecord, HostnameError> {
    let mut record = HostnameRecord {
        id: Uuid::new_v4(),
        zone_id: zone_id.to_string(),
        hostname,
        ssl_id: Uuid::new_v4(),
        ssl_options: SslOptions {
            bundle_method: Some("ubiquitous".into()),
            ..SslOptions::default()
        },
        key: None,
        custom_csr_id: None,
        certificate: None,
        certificate_id: None,
        bundled: None,
        custom_metadata: None,
        custom_origin_server: None,
        custom_origin_sni: None,
        ownership_token: Uuid::new_v4(),
        created_at: state.clock.now(),
        managed: None,
    };
    let (new_keys, _) = apply(state, &mut record, settings).await?;
    state
        .store
        .insert_hostname(&record, &new_keys, state.quotas.hostname_hard_cap())
        .await?;
    state.served_changes.changed();
    wake_managed(state, &record);
    tracing::debug!(hostname_id = %record.id, with_certificate = record.certificate.is_some(), "custom hostname created");
    Ok(record)
}

/// Refuses an edit that names a hostname other than the current one (`Some(None)`: a value
/// that is not a string). Checked before the rest of the request, as the real API does.
pub fn check_unchanged(
    current: &HostnameRecord,
    requested: Option<Option<&str>>,
) -> Result<(), HostnameError> {
    match requested {
        None => Ok(()),
        Some(Some(name)) if name.eq_ignore_ascii_case(&current.hostname) => Ok(()),
        Some(_) => Err(HostnameError::Immutable),
    }
}

/// Applies `settings` to `current` and stores the result; customer keys the hostname no
/// longer uses are destroyed in the same transaction.
pub async fn edit(
    state: &AppState,
    mut record: HostnameRecord,
    settings: HostnameSettings,
) -> Result<HostnameRecord, HostnameError> {
    let previous_keys: Vec<KeyRef> = record
        .key
        .into_iter()
        .chain(record.bundled.as_ref().map(|b| b.key))
        .collect();
    let (new_keys, plan) = apply(state, &mut record, settings).await?;
    let managed = match (plan, &record.managed) {
        (Plan::Keep, _) => ManagedWrite::Keep,
        (Plan::Recheck, _) => ManagedWrite::Recheck(state.clock.now()),
        (Plan::Start, Some(started)) => ManagedWrite::Start(started),
        _ => ManagedWrite::Clear,
    };
    state
        .store
        .update_hostname(&record, &new_keys, &previous_keys, managed)
        .await?;
    state.served_changes.changed();
    wake_managed(state, &record);
    Ok(record)
}

/// What an edit does to the hostname's managed certificate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Plan {
    /// Not managed, or no longer.
    Clear,
    /// Newly managed: a lifecycle starts.
    Start,
    /// Managed before and after: the worker's state stays as it is.
    Keep,
    /// Managed before and after, and `ssl` was sent again: the real API's way to have
    /// validation looked at again ("the PATCH method must be used once [the domain points at
    /// the CNAME target] (to complete validation)"). Work not yet deployed is due now, its
    /// order kept; an active certificate is left alone rather than renewed early.
    Recheck,
}

/// Has the background task start at once on a newly managed hostname, or one due again.
fn wake_managed(state: &AppState, record: &HostnameRecord) {
    if let (Some(acme), Some(_)) = (&state.acme, &record.managed) {
        acme.wake();
    }
}

pub async fn get(
    state: &AppState,
    zone_id: &str,
    id: Uuid,
) -> Result<HostnameRecord, HostnameError> {
    Ok(state.store.get_hostname(zone_id, id).await?)
}

pub async fn list(
    state: &AppState,
    zone_id: &str,
    filter: &HostnameFilter,
    page: PageRequest,
) -> Result<Page<HostnameRecord>, InternalError> {
    let now = state.clock.now();
    Ok(state
        .store
        .list_hostnames(zone_id, filter, page, now)
        .await?)
}

/// Deletes the hostname and any customer-supplied key it owned.
pub async fn delete(state: &AppState, zone_id: &str, id: Uuid) -> Result<(), HostnameError> {
    state.store.delete_hostname(zone_id, id).await?;
    state.served_changes.changed();
    tracing::debug!(hostname_id = %id, "custom hostname deleted");
    Ok(())
}

async fn apply(
    state: &AppState,
    record: &mut HostnameRecord,
    mut settings: HostnameSettings,
) -> Result<(Vec<StoredKey>, Plan), HostnameError> {
    if let Some(metadata) = settings.custom_metadata.take() {
        record.custom_metadata = metadata;
    }
    if let Some(server) = settings.custom_origin_server.take() {
        record.custom_origin_server = server;
    }
    if let Some(sni) = settings.custom_origin_sni.take() {
        record.custom_origin_sni = sni;
    }
    match settings.ssl {
        Some(ssl) => apply_ssl(state, record, ssl).await,
        None if record.managed.is_some() => Ok((Vec::new(), Plan::Keep)),
        None => Ok((Vec::new(), Plan::Clear)),
    }
}

/// Takes the `ssl` settings; checks an uploaded certificate (or each of a bundle) against
/// its key, or, without one, switches the hostname to a managed certificate (issued by
/// edgecert when an ACME CA is configured and the method is `http`; see [`super::managed`]).
async fn apply_ssl(
    state: &AppState,
    record: &mut HostnameRecord,
    ssl: SslDraft,
) -> Result<(Vec<StoredKey>, Plan), HostnameError> {
    record.ssl_options = ssl.options;
    if let Some(bundle) = ssl.custom_cert_bundle {
        return apply_bundle(state, record, bundle).await;
    }
    let choice = KeyChoice {
        custom_csr_id: ssl.custom_csr_id.as_deref(),
        supplied_pem: ssl.custom_key.as_deref(),
    };
    let Some(certificate_pem) = ssl.custom_certificate else {
        if choice.names_a_key() {
            return Err(HostnameError::KeyWithoutCertificate);
        }
        let managed = super::managed::managed_key_type(state, &record.ssl_options);
        if managed.is_some() && record.managed.is_some() {
            // Already managed: the certificate being issued or served stays.
            return Ok((Vec::new(), Plan::Recheck));
        }
        record.key = None;
        record.custom_csr_id = None;
        record.certificate = None;
        record.certificate_id = None;
        record.bundled = None;
        record.managed = managed.map(|key_type| ManagedState::start(key_type, state.clock.now()));
        let plan = if record.managed.is_some() {
            Plan::Start
        } else {
            Plan::Clear
        };
        return Ok((Vec::new(), plan));
    };
    record.managed = None;
    let current = record.key.map(|key| CurrentKey {
        key,
        custom_csr_id: record.custom_csr_id,
    });
    let accepted = accept_for(state, record, &certificate_pem, choice, current).await?;
    // One certificate replaces the whole pack.
    record.bundled = None;
    let new_key = set_first(record, accepted, Uuid::new_v4());
    Ok((new_key.into_iter().collect(), Plan::Clear))
}

/// Checks an upload for `record`'s hostname, as every hostname certificate is checked.
pub(super) async fn accept_for(
    state: &AppState,
    record: &HostnameRecord,
    certificate_pem: &str,
    choice: KeyChoice<'_>,
    current: Option<CurrentKey>,
) -> Result<Accepted, UploadError> {
    uploads::accept(
        state,
        &record.zone_id,
        certificate_pem,
        choice,
        current,
        UploadPolicy {
            hostname: Some(&record.hostname),
            verify_trust: true,
            min_remaining: None,
        },
    )
    .await
}

/// Makes `accepted` the hostname's first certificate, with id `id`; returns the key to store
/// with it, if the customer supplied one.
pub(super) fn set_first(
    record: &mut HostnameRecord,
    accepted: Accepted,
    id: Uuid,
) -> Option<StoredKey> {
    record.key = Some(accepted.key);
    record.custom_csr_id = accepted.custom_csr_id;
    record.certificate = Some(accepted.certificate);
    record.certificate_id = Some(id);
    accepted.new_key
}

/// The pack's second certificate made of `accepted`, with id `id`.
pub(super) fn pack_certificate(accepted: &Accepted, id: Uuid) -> PackCertificate {
    PackCertificate {
        id,
        key: accepted.key,
        custom_csr_id: accepted.custom_csr_id,
        certificate: accepted.certificate.clone(),
    }
}

/// `ssl.custom_cert_bundle`: each entry checked like a single upload (no entry reuses the
/// hostname's current key: each names its own), and two entries must be one RSA and one
/// ECDSA certificate, as Cloudflare requires ("One certificate in the bundle must use an RSA,
/// and the other must use an ECDSA", the create endpoint's description in the API
/// reference). Nothing is stored unless every entry passes.
async fn apply_bundle(
    state: &AppState,
    record: &mut HostnameRecord,
    bundle: Vec<BundleEntry>,
) -> Result<(Vec<StoredKey>, Plan), HostnameError> {
    let mut accepted = Vec::with_capacity(bundle.len());
    for (index, entry) in bundle.iter().enumerate() {
        let checked = accept_for(
            state,
            record,
            &entry.custom_certificate,
            entry.choice(),
            None,
        )
        .await
        .map_err(|error| HostnameError::BundleUpload {
            index,
            named_csr: entry.custom_csr_id.is_some(),
            error,
        })?;
        accepted.push(checked);
    }
    if let [first, second] = accepted.as_slice()
        && KeyFamily::of(first.key_type) == KeyFamily::of(second.key_type)
    {
        return Err(HostnameError::BundleKeyTypes);
    }
    record.managed = None;
    let mut entries = accepted.into_iter();
    let mut new_keys = Vec::new();
    if let Some(first) = entries.next() {
        new_keys.extend(set_first(record, first, Uuid::new_v4()));
    }
    record.bundled = entries.next().map(|second| {
        let bundled = pack_certificate(&second, Uuid::new_v4());
        new_keys.extend(second.new_key);
        bundled
    });
    Ok((new_keys, Plan::Clear))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::app::testing;

    const ZONE: &str = "023e105f4ecef8ad9ca31a8372d0c353";

    #[test]
    fn debug_output_never_shows_a_supplied_key() {
        let pem = "-----BEGIN PRIVATE KEY-----\nMIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQg\n-----END PRIVATE KEY-----";
        let settings = HostnameSettings {
            ssl: Some(SslDraft {
                custom_key: Some(pem.into()),
                ..SslDraft::default()
            }),
            ..HostnameSettings::default()
        };
        let choice = KeyChoice {
            custom_csr_id: None,
            supplied_pem: Some(pem),
        };
        for shown in [format!("{settings:?}"), format!("{choice:?}")] {
            assert!(!shown.contains("MIGHAgEA"), "{shown}");
            assert!(!shown.contains("PRIVATE KEY"), "{shown}");
            assert!(shown.contains("[redacted]"), "{shown}");
        }
    }

    #[tokio::test]
    async fn a_key_without_its_certificate_is_refused_and_nothing_is_stored() {
        let test = testing::state(None).await;
        let settings = HostnameSettings {
            ssl: Some(SslDraft {
                custom_csr_id: Some("7b163417-1d2b-4c84-a38a-2fb7a0cd7752".into()),
                ..SslDraft::default()
            }),
            ..HostnameSettings::default()
        };
        let refused = create(&test.state, ZONE, "app.example.com".into(), settings).await;
        assert!(matches!(refused, Err(HostnameError::KeyWithoutCertificate)));
        let page = list(
            &test.state,
            ZONE,
            &HostnameFilter::default(),
            PageRequest {
                page: 1,
                per_page: 20,
            },
        )
        .await
        .unwrap();
        assert_eq!(page.total_count, 0);
    }

    #[tokio::test]
    async fn a_certificate_without_a_key_is_refused_when_the_hostname_has_none() {
        let test = testing::state(None).await;
        let settings = HostnameSettings {
            ssl: Some(SslDraft {
                custom_certificate: Some("-----BEGIN CERTIFICATE-----".into()),
                ..SslDraft::default()
            }),
            ..HostnameSettings::default()
        };
        let refused = create(&test.state, ZONE, "app.example.com".into(), settings).await;
        assert!(matches!(
            refused,
            Err(HostnameError::Upload(UploadError::NoKey))
        ));
    }

    #[tokio::test]
    async fn a_hostname_is_unique_per_zone_and_cannot_be_renamed() {
        let test = testing::state(None).await;
        let record = create(
            &test.state,
            ZONE,
            "app.example.com".into(),
            HostnameSettings::default(),
        )
        .await
        .unwrap();
        let again = create(
            &test.state,
            ZONE,
            "app.example.com".into(),
            HostnameSettings::default(),
        )
        .await;
        assert!(matches!(again, Err(HostnameError::Duplicate)));
        assert!(check_unchanged(&record, None).is_ok());
        assert!(check_unchanged(&record, Some(Some("APP.example.com"))).is_ok());
        assert!(matches!(
            check_unchanged(&record, Some(Some("www.example.com"))),
            Err(HostnameError::Immutable)
        ));
        assert!(matches!(
            check_unchanged(&record, Some(None)),
            Err(HostnameError::Immutable)
        ));
    }
}
