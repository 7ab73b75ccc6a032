//! The application layer: the state every use case runs against, start-up, and one module per
//! use case. Use cases take validated drafts, return records or typed domain errors, and know
//! nothing of HTTP.

pub mod certificates;
mod clock;
pub mod controls;
pub mod csrs;
pub mod fallback_origins;
pub mod hostnames;
mod in_flight;
pub mod keypool;
pub mod managed;
pub mod packs;
pub mod quotas;
pub mod rate_limit;
mod readiness;
mod startup;
mod tokens;
pub mod uploads;

use std::sync::Arc;

use uuid::Uuid;

use self::keypool::KeyPool;
use crate::pki::TrustStore;
use crate::pki::{CpuLimiter, KeyFactory, MasterKey, PkiError};
use crate::store::{Store, StoreError};

pub use clock::Clock;
pub use in_flight::InFlight;
pub use readiness::{READINESS_WAIT, ReadinessProbe};
pub use startup::{NewToken, check_config};
pub use tokens::{TokenDigest, TokenSet, Verified, legacy_digest, stored_digest};

const MASTER_KEY_CHECK: &str = "master_key_check";

/// Everything a request handler needs. Cheap to clone.
#[derive(Clone, Debug)]
pub struct AppState {
    pub store: Arc<dyn Store>,
    pub master_key: Arc<MasterKey>,
    pub keys: KeyFactory,
    /// Certificate uploads are verified (and customer keys parsed) on blocking threads through
    /// this, `--verify-concurrency` at a time; see [`uploads::VERIFICATION_GAUGES`].
    pub verifications: CpuLimiter,
    /// Pre-generated RSA-2048 keys; refilled only where [`crate::run`] starts the refill.
    pub key_pool: KeyPool,
    pub tokens: Arc<TokenSet>,
    /// Requests counted per token, when `EDGECERT_RATE_LIMIT` is set.
    pub rate_limit: Option<Arc<rate_limit::RateLimiter>>,
    /// Roots that uploaded certificates must chain to; parsed once at start-up.
    pub trust: Arc<TrustStore>,
    pub strict: bool,
    /// Whether the `/_edgecert/` test controls are served and forced statuses shown.
    pub test_controls: bool,
    /// Requests still running, answered or not.
    pub in_flight: InFlight,
    /// The `/readyz` probe in progress, shared by concurrent callers.
    pub readiness: ReadinessProbe,
    /// Fired by every write that can change what the edge serves.
    pub served_changes: ServedChanges,
    /// edgecert's now; see [`Clock`].
    pub clock: Clock,
    /// Configured limits per zone and account.
    pub quotas: quotas::Quotas,
    /// The ACME CA managed certificates are ordered from, when `EDGECERT_ACME_DIRECTORY` is set.
    pub acme: Option<Arc<managed::Acme>>,
}

/// Tells the edge that what it serves may have changed (an upload, edit, delete or
/// prioritize through this instance), so it re-reads now rather than at its next resync.
/// Several changes before the edge wakes are one re-read. Changes are numbered, and the edge
/// reports which it has applied, so a caller can wait until its own change is served.
#[derive(Clone, Debug)]
pub struct ServedChanges(Arc<ChangeLog>);

#[derive(Debug)]
struct ChangeLog {
    wake: tokio::sync::Notify,
    /// Changes recorded so far.
    recorded: std::sync::atomic::AtomicU64,
    /// The last change the edge's current map was read after.
    applied: tokio::sync::watch::Sender<u64>,
}

impl Default for ServedChanges {
    fn default() -> Self {
        Self(Arc::new(ChangeLog {
            wake: tokio::sync::Notify::new(),
            recorded: std::sync::atomic::AtomicU64::new(0),
            applied: tokio::sync::watch::Sender::new(0),
        }))
    }
}

impl ServedChanges {
    /// Records a change (made and committed before this call); never waits.
    pub fn changed(&self) {
        self.0
            .recorded
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        self.0.wake.notify_one();
    }

    /// Completes once a change has been recorded since the last call returned.
    pub async fn wait(&self) {
        self.0.wake.notified().await;
    }

    /// The number of the last change recorded (0 before the first). The edge takes it before a re-read and passes
    /// it to [`ServedChanges::applied`] once the map read is served.
    pub fn sequence(&self) -> u64 {
        self.0.recorded.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// The edge now serves a map read after change `upto` (and every earlier one).
    pub fn applied(&self, upto: u64) {
        self.0.applied.send_if_modified(|applied| {
            let newer = upto > *applied;
            if newer {
                *applied = upto;
            }
            newer
        });
    }

    /// Completes once the edge serves a map read after change `change` (from
    /// [`ServedChanges::sequence`] after making it). Never completes without a running edge.
    pub async fn served(&self, change: u64) {
        let mut applied = self.0.applied.subscribe();
        // The sender lives as long as `self`, so the wait cannot fail.
        let _ = applied.wait_for(|applied| *applied >= change).await;
    }
}

impl AppState {
    /// What `/readyz` reports: the database answers, every migration of this build is applied,
    /// and the master key still matches the one the stored keys are sealed with. Answers within
    /// [`READINESS_WAIT`] whatever the database does (an unanswered probe counts as failed).
    pub async fn readiness(&self) -> readiness::Checks {
        self.readiness
            .run(|| {
                let state = self.clone();
                async move { state.check_readiness().await }
            })
            .await
    }

    async fn check_readiness(&self) -> readiness::Checks {
        let unreachable = || Err("unknown: database unreachable".to_string());
        let (applied, known) = match self.store.migration_status().await {
            Ok(status) => status,
            // One failed round trip is enough: a second would only double the probe's time.
            Err(error) => {
                return vec![
                    ("database", Err(error.to_string())),
                    ("migrations", unreachable()),
                    ("key_store", unreachable()),
                ];
            }
        };
        let migrations = if applied == known {
            Ok(())
        } else {
            Err(format!("{applied} of {known} migrations applied"))
        };
        let key_store = match self.store.get_setting(MASTER_KEY_CHECK).await {
            Ok(Some(check)) if check == self.master_key.check_value() => Ok(()),
            Ok(_) => Err("master key does not match the database".to_string()),
            Err(_) => unreachable(),
        };
        vec![
            ("database", Ok(())),
            ("migrations", migrations),
            ("key_store", key_store),
        ]
    }
}

/// A failure no request can fix (database, encryption, a stopped task). Its text is for the
/// operator's log only: it may name tables or paths, never key material.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct InternalError {
    kind: InternalKind,
    message: String,
}

/// What kind of internal failure it was, which decides what the client is told.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InternalKind {
    /// The database cannot be reached or used right now; the same request may succeed later.
    Unavailable,
    /// The database has no room left for the write.
    StorageFull,
    /// Anything else: a bug, inconsistent data, a failed encryption.
    Other,
}

impl InternalError {
    pub fn kind(&self) -> InternalKind {
        self.kind
    }
}

impl From<StoreError> for InternalError {
    fn from(error: StoreError) -> Self {
        let kind = match &error {
            StoreError::Unavailable(_) => InternalKind::Unavailable,
            StoreError::StorageFull(_) => InternalKind::StorageFull,
            _ => InternalKind::Other,
        };
        Self {
            kind,
            message: format!("store: {error}"),
        }
    }
}

impl From<PkiError> for InternalError {
    fn from(error: PkiError) -> Self {
        Self {
            kind: InternalKind::Other,
            message: format!("pki: {error}"),
        }
    }
}

/// Parses an id as edgecert hands them out: exactly the 36-character hyphenated form.
pub fn parse_id(raw: &str) -> Option<Uuid> {
    if raw.len() != 36 {
        return None;
    }
    Uuid::try_parse(raw).ok()
}

#[cfg(test)]
pub(crate) mod testing {
    //! A state over a fresh SQLite database, for use-case tests that need no router.

    use super::*;
    use crate::config::{Secret, ServeArgs};

    pub struct TestState {
        pub state: AppState,
        _dir: tempfile::TempDir,
    }

    /// `trust_roots_pem` replaces the public roots, so tests can sign with their own CA.
    pub async fn state(trust_roots_pem: Option<&str>) -> TestState {
        let dir = tempfile::tempdir().expect("temporary directory");
        let mut args = ServeArgs::for_database(format!(
            "sqlite://{}",
            dir.path().join("edgecert.db").display()
        ));
        args.master_key = Some(Secret::new(
            "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=".to_string(),
        ));
        args.bootstrap_token = Some(Secret::new("unit-test-token-0123456789abcdef".to_string()));
        args.rsa_pool_size = 0;
        if let Some(pem) = trust_roots_pem {
            let path = dir.path().join("roots.pem");
            std::fs::write(&path, pem).expect("write roots");
            args.trust_roots = Some(path);
            args.no_public_roots = true;
        }
        let (state, _) = AppState::open(&args).await.expect("open state");
        TestState { state, _dir: dir }
    }
}

#[cfg(test)]
mod tests {
    use super::ServedChanges;

    /// A wait for a change ends only once the edge reports a map read after it.
    #[tokio::test]
    async fn a_change_is_served_once_a_map_read_after_it_is_applied() {
        let changes = ServedChanges::default();
        changes.changed();
        let first = changes.sequence();
        changes.changed();
        let second = changes.sequence();
        assert_eq!((first, second), (1, 2));
        // Already served: completes at once.
        changes.applied(first);
        changes.served(first).await;
        let waiting = tokio::spawn({
            let changes = changes.clone();
            async move { changes.served(second).await }
        });
        // An older map reported again does not count.
        changes.applied(first);
        tokio::task::yield_now().await;
        assert!(!waiting.is_finished());
        changes.applied(second);
        waiting.await.expect("the wait ends");
    }
}
