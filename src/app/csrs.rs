//! Custom CSRs: a server-side key (pooled or generated), sealed, and a CSR signed with it.

use uuid::Uuid;

use super::{AppState, InternalError};
use crate::pki::KeyType;
use crate::pki::csr::{Subject, build_csr};
use crate::store::{
    CsrOrder, CsrRecord, Direction, Page, PageRequest, Scope, StoreError, StoredKey,
};

/// A create request whose every field has been checked.
#[derive(Debug, Clone)]
pub struct CsrDraft {
    pub subject: Subject,
    pub sans: Vec<String>,
    pub key_type: KeyType,
    pub name: Option<String>,
    pub description: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum CsrError {
    #[error("no such CSR in this zone or account")]
    NotFound,
    /// A custom hostname or certificate still uses the CSR's key.
    #[error("the CSR's key is in use")]
    InUse,
    /// The zone or account already holds its quota of CSRs.
    #[error("the quota of {limit} CSRs is reached")]
    QuotaExceeded { limit: u64 },
    #[error(transparent)]
    Internal(#[from] InternalError),
}

impl From<StoreError> for CsrError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::NotFound => Self::NotFound,
            StoreError::InUse(_) => Self::InUse,
            StoreError::QuotaExceeded { limit } => Self::QuotaExceeded { limit },
            other => Self::Internal(other.into()),
        }
    }
}

/// Creates the CSR with a pooled key when the pool has one of the type, else a new key, and
/// stores both in one transaction. The plaintext key exists only on a key thread.
pub async fn create(
    state: &AppState,
    scope: Scope,
    draft: CsrDraft,
) -> Result<CsrRecord, CsrError> {
    let master_key = state.master_key.clone();
    let subject = draft.subject.clone();
    let sans = draft.sans.clone();
    let (csr_pem, stored_key) = match state.key_pool.claim(draft.key_type).await? {
        Some(pooled) => state
            .keys
            .run(move || {
                let key = pooled.open(&master_key)?;
                Ok((build_csr(&subject, &sans, &key)?, pooled))
            })
            .await
            .map_err(InternalError::from)?,
        None => state
            .keys
            .with_new_key(draft.key_type, move |key| {
                let csr_pem = build_csr(&subject, &sans, &key)?;
                Ok((csr_pem, StoredKey::seal(&key, &master_key)?))
            })
            .await
            .map_err(InternalError::from)?,
    };
    let record = CsrRecord {
        id: Uuid::new_v4(),
        scope,
        name: draft.name,
        description: draft.description,
        country: draft.subject.country,
        state: draft.subject.state,
        locality: draft.subject.locality,
        organization: draft.subject.organization,
        organizational_unit: draft.subject.organizational_unit,
        common_name: draft.subject.common_name,
        sans: draft.sans,
        key_type: draft.key_type,
        csr_pem,
        key_id: stored_key.id,
        created_at: state.clock.now(),
    };
    state
        .store
        .insert_csr(&record, &stored_key, state.quotas.csrs)
        .await?;
    tracing::debug!(csr_id = %record.id, scope = record.scope.kind(), key_type = %record.key_type, "custom CSR created");
    Ok(record)
}

pub async fn get(state: &AppState, scope: &Scope, id: Uuid) -> Result<CsrRecord, CsrError> {
    Ok(state.store.get_csr(scope, id).await?)
}

pub async fn list(
    state: &AppState,
    scope: &Scope,
    order: CsrOrder,
    direction: Direction,
    page: PageRequest,
) -> Result<Page<CsrRecord>, InternalError> {
    Ok(state.store.list_csrs(scope, order, direction, page).await?)
}

/// Deletes the CSR and destroys its key, unless a hostname or certificate still uses the key.
pub async fn delete(state: &AppState, scope: &Scope, id: Uuid) -> Result<(), CsrError> {
    state.store.delete_csr(scope, id).await?;
    tracing::debug!(csr_id = %id, scope = scope.kind(), "custom CSR and its private key deleted");
    Ok(())
}

#[cfg(test)]
mod tests {
    use x509_parser::prelude::FromDer as _;

    use super::*;
    use crate::app::testing;

    fn draft(key_type: KeyType) -> CsrDraft {
        CsrDraft {
            subject: Subject {
                country: "US".into(),
                state: "MA".into(),
                locality: "Boston".into(),
                organization: "City".into(),
                organizational_unit: None,
                common_name: "app.example.com".into(),
            },
            sans: vec!["app.example.com".into()],
            key_type,
            name: None,
            description: None,
        }
    }

    const ZONE: &str = "023e105f4ecef8ad9ca31a8372d0c353";

    #[tokio::test]
    async fn a_created_csr_is_signed_by_its_stored_key() {
        let test = testing::state(None).await;
        let state = &test.state;
        let scope = Scope::Zone(ZONE.into());
        let record = create(state, scope.clone(), draft(KeyType::P256v1))
            .await
            .unwrap();
        let key = state.store.get_key(record.key_id).await.unwrap();
        let opened = key.open(&state.master_key).unwrap();
        let (_, pem) = x509_parser::pem::parse_x509_pem(record.csr_pem.as_bytes()).unwrap();
        let (_, csr) =
            x509_parser::certification_request::X509CertificationRequest::from_der(&pem.contents)
                .unwrap();
        assert_eq!(
            csr.certification_request_info.subject_pki.raw,
            opened.spki_der()
        );
        csr.verify_signature().unwrap();
        assert_eq!(get(state, &scope, record.id).await.unwrap(), record);
    }

    #[tokio::test]
    async fn scopes_are_separate_and_a_deleted_csr_is_gone_with_its_key() {
        let test = testing::state(None).await;
        let state = &test.state;
        let zone = Scope::Zone(ZONE.into());
        let record = create(state, zone.clone(), draft(KeyType::P256v1))
            .await
            .unwrap();
        let account = Scope::Account(ZONE.into());
        assert!(matches!(
            get(state, &account, record.id).await,
            Err(CsrError::NotFound)
        ));
        assert!(matches!(
            delete(state, &account, record.id).await,
            Err(CsrError::NotFound)
        ));
        delete(state, &zone, record.id).await.unwrap();
        assert!(matches!(
            get(state, &zone, record.id).await,
            Err(CsrError::NotFound)
        ));
        assert!(matches!(
            state.store.get_key(record.key_id).await,
            Err(StoreError::NotFound)
        ));
    }
}
