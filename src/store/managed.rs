//! Managed certificates as stored: where each hostname's ACME issuance stands, the work the
//! background task claims (with a lease, so a crashed instance's work is taken up again), the
//! HTTP-01 answers the edge serves, and the ACME account.

use async_trait::async_trait;
use time::OffsetDateTime;
use uuid::Uuid;

use super::{StoreError, StoredCertificate, StoredKey};
use crate::pki::KeyType;

/// Where a managed certificate stands, named as the API's `ssl.status` names the stages
/// (Cloudflare, "Certificate statuses": initializing, pending validation, pending issuance,
/// pending deployment, active).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ManagedStatus {
    /// No order yet: the next step places one.
    Initializing,
    /// The order's HTTP-01 challenge is published and the CA is (or will be) validating it.
    PendingValidation,
    /// Validated: the CSR is sent and the certificate awaited.
    PendingIssuance,
    /// Issued and downloaded: the next step makes the edge serve it.
    PendingDeployment,
    /// Served. Work is due again at renewal time.
    Active,
}

impl ManagedStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Initializing => "initializing",
            Self::PendingValidation => "pending_validation",
            Self::PendingIssuance => "pending_issuance",
            Self::PendingDeployment => "pending_deployment",
            Self::Active => "active",
        }
    }

    pub fn parse(text: &str) -> Result<Self, StoreError> {
        Ok(match text {
            "initializing" => Self::Initializing,
            "pending_validation" => Self::PendingValidation,
            "pending_issuance" => Self::PendingIssuance,
            "pending_deployment" => Self::PendingDeployment,
            "active" => Self::Active,
            other => {
                return Err(StoreError::Corrupt(format!(
                    "unknown managed certificate status {other:?}"
                )));
            }
        })
    }
}

/// A hostname's managed certificate lifecycle, as the API shows it and the worker moves it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManagedState {
    /// The step the lifecycle is at.
    pub status: ManagedStatus,
    /// A renewal in progress: the API keeps showing `active` (the old certificate is served)
    /// while `status` walks the steps again.
    pub renewing: bool,
    pub key_type: KeyType,
    /// The ACME order being worked on.
    pub order_url: Option<String>,
    /// The HTTP-01 token and key authorization published while validating.
    pub token: Option<String>,
    pub key_authorization: Option<String>,
    /// The CA's last refusal, as `type: detail` lines.
    pub validation_errors: Vec<String>,
    /// Failed attempts in a row; decides the backoff.
    pub attempts: u32,
    /// When the worker should next look at it; `None`: nothing to do.
    pub due_at: Option<OffsetDateTime>,
}

impl ManagedState {
    /// A lifecycle that starts now.
    pub fn start(key_type: KeyType, now: OffsetDateTime) -> Self {
        Self {
            status: ManagedStatus::Initializing,
            renewing: false,
            key_type,
            order_url: None,
            token: None,
            key_authorization: None,
            validation_errors: Vec::new(),
            attempts: 0,
            due_at: Some(now),
        }
    }

    /// The `ssl.status` the API shows.
    pub fn shown_status(&self) -> ManagedStatus {
        if self.renewing {
            ManagedStatus::Active
        } else {
            self.status
        }
    }
}

/// What a hostname edit does to its managed certificate.
#[derive(Debug, Clone, Copy)]
pub enum ManagedWrite<'a> {
    /// Not managed (any more): its lifecycle row, if any, goes.
    Clear,
    /// A new lifecycle replaces any earlier one; key and certificate are written as given.
    Start(&'a ManagedState),
    /// Unchanged: the lifecycle row, key and certificate stay as the worker last left them
    /// (the edit may race the worker, so what was read is not written back).
    Keep,
    /// As `Keep`, and a lifecycle not yet active is due at this instant: its next step (the
    /// order placed, or validation looked at again) runs without waiting out a backoff. An
    /// active one keeps its renewal time.
    Recheck(OffsetDateTime),
}

/// Managed work claimed by one worker until `claimed_until`.
#[derive(Debug, Clone)]
pub struct ManagedWork {
    pub hostname_id: Uuid,
    pub zone_id: String,
    pub hostname: String,
    /// This claim's id: writes with it fail once another worker has taken the lease over.
    pub claim: Uuid,
    pub state: ManagedState,
    /// The key generated for the order in progress, sealed, kept until it is deployed.
    pub pending_key: Option<StoredKey>,
    /// The issued chain, kept between download and deployment.
    pub pending_certificate: Option<String>,
}

/// The ACME account edgecert uses at one directory.
#[derive(Clone)]
pub struct AcmeAccountRecord {
    pub directory: String,
    /// The account URL (its id at the CA).
    pub account_url: String,
    pub key: StoredKey,
    pub created_at: OffsetDateTime,
}

impl std::fmt::Debug for AcmeAccountRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The account URL is a credential's handle at the CA: kept out of logs like the key.
        f.debug_struct("AcmeAccountRecord")
            .field("directory", &self.directory)
            .field("key", &self.key)
            .finish_non_exhaustive()
    }
}

/// The store's part in managed certificates; every [`super::Store`] has it.
#[async_trait]
pub trait ManagedStore: Send + Sync {
    /// Claims up to `limit` lifecycles that are due at `now` and not leased by a live claim,
    /// leasing them until `lease_until`. With `only`, claims that hostname whether due or not
    /// (still not one another worker holds). Concurrent claims never return the same row.
    async fn claim_managed(
        &self,
        now: OffsetDateTime,
        lease_until: OffsetDateTime,
        only: Option<Uuid>,
        limit: u32,
    ) -> Result<Vec<ManagedWork>, StoreError>;
    /// Writes the lifecycle (and the pending key and chain) of claimed work; `release` ends
    /// the lease. `NotFound` when the claim was lost or the hostname deleted.
    async fn save_managed(&self, work: &ManagedWork, release: bool) -> Result<(), StoreError>;
    /// Deploys claimed work in one transaction: the pending key becomes the hostname's own
    /// key, `certificate` its certificate, the key it served before is destroyed, and the
    /// lifecycle is written from `work.state` with the lease released.
    async fn deploy_managed(
        &self,
        work: &ManagedWork,
        certificate: &StoredCertificate,
    ) -> Result<(), StoreError>;
    /// The hostname and key authorization published under an HTTP-01 `token`.
    async fn acme_challenge(&self, token: &str) -> Result<Option<(String, String)>, StoreError>;
    async fn get_acme_account(
        &self,
        directory: &str,
    ) -> Result<Option<AcmeAccountRecord>, StoreError>;
    /// Stores `account` unless the directory has one already; returns the one stored, so
    /// instances racing to register all end up using the same account.
    async fn put_acme_account(
        &self,
        account: &AcmeAccountRecord,
    ) -> Result<AcmeAccountRecord, StoreError>;
}
