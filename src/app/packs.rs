//! A custom hostname's certificate pack: replacing or deleting one certificate of it. The
//! pack's id is the hostname's `ssl.id`; its certificates are the hostname's first
//! certificate and, for a bundle, its second.

use uuid::Uuid;

use super::AppState;
use super::InternalError;
use super::hostnames::{self, HostnameError, KeyFamily, accept_for, pack_certificate, set_first};
use super::uploads::KeyChoice;
use crate::store::{HostnameRecord, KeyRef};

/// Which certificate of a pack a path names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Slot {
    First,
    Second,
}

/// Where the path's pack and certificate ids are: the hostname's own uploaded certificate (a
/// managed one is not part of a pack the customer edits) or its bundled second one.
fn find(
    record: &HostnameRecord,
    pack_id: Uuid,
    certificate_id: Uuid,
) -> Result<(Slot, KeyRef), HostnameError> {
    if record.ssl_id != pack_id || record.managed.is_some() {
        return Err(HostnameError::PackCertificateNotFound);
    }
    if let (Some(key), Some(_)) = (record.key, &record.certificate)
        && record.certificate_id == Some(certificate_id)
    {
        return Ok((Slot::First, key));
    }
    match &record.bundled {
        Some(bundled) if bundled.id == certificate_id => Ok((Slot::Second, bundled.key)),
        _ => Err(HostnameError::PackCertificateNotFound),
    }
}

/// Replaces one certificate of the pack with `certificate_pem` and its key. The certificate
/// keeps its id, and must have the key type of the one it replaces (Cloudflare: "You can
/// only replace an RSA certificate with another RSA certificate or an ECDSA certificate with
/// another ECDSA certificate"). Checked like every hostname upload; one transaction.
pub async fn replace_certificate(
    state: &AppState,
    zone_id: &str,
    hostname_id: Uuid,
    pack_id: Uuid,
    certificate_id: Uuid,
    certificate_pem: &str,
    choice: KeyChoice<'_>,
) -> Result<HostnameRecord, HostnameError> {
    let mut record = hostnames::get(state, zone_id, hostname_id).await?;
    let (slot, replaced_key) = find(&record, pack_id, certificate_id)?;
    let replaced_type = state
        .store
        .get_key(replaced_key.key_id)
        .await
        .map_err(InternalError::from)?
        .key_type;
    let expected = record.pack_keys();
    let accepted = accept_for(state, &record, certificate_pem, choice, None).await?;
    let family = KeyFamily::of(replaced_type);
    if KeyFamily::of(accepted.key_type) != family {
        return Err(HostnameError::PackKeyTypeChanged { expected: family });
    }
    let new_key = match slot {
        Slot::First => set_first(&mut record, accepted, certificate_id),
        Slot::Second => {
            record.bundled = Some(pack_certificate(&accepted, certificate_id));
            accepted.new_key
        }
    };
    state
        .store
        .write_certificate_pack(&record, expected, new_key.as_ref(), replaced_key)
        .await?;
    state.served_changes.changed();
    tracing::debug!(%hostname_id, %certificate_id, "pack certificate replaced");
    Ok(record)
}

/// Deletes one certificate of a bundle; the pack's last certificate stays (Cloudflare: "You
/// cannot delete a certificate if it is the only remaining certificate in the pack"). When
/// the first one goes, the second becomes the hostname's certificate. One transaction, in
/// which a customer-uploaded key of the deleted certificate is destroyed.
pub async fn delete_certificate(
    state: &AppState,
    zone_id: &str,
    hostname_id: Uuid,
    pack_id: Uuid,
    certificate_id: Uuid,
) -> Result<(), HostnameError> {
    let mut record = hostnames::get(state, zone_id, hostname_id).await?;
    let (slot, removed_key) = find(&record, pack_id, certificate_id)?;
    let expected = record.pack_keys();
    let Some(bundled) = record.bundled.take() else {
        return Err(HostnameError::PackLastCertificate);
    };
    if slot == Slot::First {
        record.key = Some(bundled.key);
        record.custom_csr_id = bundled.custom_csr_id;
        record.certificate = Some(bundled.certificate);
        record.certificate_id = Some(bundled.id);
    }
    state
        .store
        .write_certificate_pack(&record, expected, None, removed_key)
        .await?;
    state.served_changes.changed();
    tracing::debug!(%hostname_id, %certificate_id, "pack certificate deleted");
    Ok(())
}
