//! Persistence: one `Store` trait, implemented for Postgres and SQLite and picked by URL scheme.

mod error;
mod feed;
mod managed;
mod postgres;
mod records;
mod sql;
mod sqlite;

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::pki::{KeyType, MasterKey, PkiError, PrivateKey};

pub use error::StoreError;
use error::{Failure, classify};
pub(crate) use error::{on_delete, on_write};
pub use feed::{CHANNEL as CHANGE_FEED_CHANNEL, ChangeFeed};
pub use managed::{
    AcmeAccountRecord, ManagedState, ManagedStatus, ManagedStore, ManagedWork, ManagedWrite,
};
pub use postgres::PostgresStore;
pub use records::{
    CertificateFilter, CertificateOptions, CertificateRecord, FallbackOriginRecord, HostnameFilter,
    HostnameMatch, HostnameOrder, HostnameRecord, HostnameRoute, KeyRef, PackCertificate, PackKeys,
    ResetCounts, SslOptions, StatusOverride, StoredCertificate,
};
pub use sqlite::SqliteStore;

/// Where a CSR lives. Zone and account CSRs are separate namespaces.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    Zone(String),
    Account(String),
}

impl Scope {
    pub fn kind(&self) -> &'static str {
        match self {
            Scope::Zone(_) => "zone",
            Scope::Account(_) => "account",
        }
    }

    pub fn id(&self) -> &str {
        match self {
            Scope::Zone(id) | Scope::Account(id) => id,
        }
    }

    /// The account tag a CSR carries: the account id for account-scoped CSRs.
    pub fn account_tag(&self) -> Option<&str> {
        match self {
            Scope::Zone(_) => None,
            Scope::Account(id) => Some(id),
        }
    }

    fn from_parts(kind: &str, id: String) -> Result<Self, StoreError> {
        match kind {
            "zone" => Ok(Scope::Zone(id)),
            "account" => Ok(Scope::Account(id)),
            other => Err(StoreError::Corrupt(format!("unknown scope kind {other:?}"))),
        }
    }
}

/// The columns of a sealed key, in `private_keys` and in `key_pool` alike.
const KEY_COLUMNS: &str = "id, key_type, encrypted_pkcs8, spki_der";

/// A private key as stored: the PKCS#8 bytes sealed under the master key, the public half in clear.
#[derive(Clone)]
pub struct StoredKey {
    pub id: Uuid,
    pub key_type: KeyType,
    pub encrypted_pkcs8: Vec<u8>,
    pub spki_der: Vec<u8>,
}

impl StoredKey {
    /// Seals `key` under the master key with a fresh id, bound to the ciphertext as associated
    /// data so the sealed bytes cannot be moved to another row. The one way a `StoredKey` is made
    /// outside the store's row decoding.
    pub fn seal(key: &PrivateKey, master_key: &MasterKey) -> Result<Self, PkiError> {
        let id = Uuid::new_v4();
        Ok(Self {
            id,
            key_type: key.key_type(),
            encrypted_pkcs8: master_key.seal(key, id.as_bytes())?,
            spki_der: key.spki_der().to_vec(),
        })
    }

    /// Opens the sealed key in memory; it is wiped when dropped.
    pub fn open(&self, master_key: &MasterKey) -> Result<PrivateKey, PkiError> {
        master_key.open(
            self.key_type,
            &self.encrypted_pkcs8,
            self.spki_der.clone(),
            self.id.as_bytes(),
        )
    }
}

impl fmt::Debug for StoredKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StoredKey")
            .field("id", &self.id)
            .field("key_type", &self.key_type)
            .field("encrypted_pkcs8", &"[redacted]")
            .finish_non_exhaustive()
    }
}

/// A CSR with everything the API shows about it. The private key is referenced, never embedded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CsrRecord {
    pub id: Uuid,
    pub scope: Scope,
    pub name: Option<String>,
    pub description: Option<String>,
    pub country: String,
    pub state: String,
    pub locality: String,
    pub organization: String,
    pub organizational_unit: Option<String>,
    pub common_name: String,
    pub sans: Vec<String>,
    pub key_type: KeyType,
    pub csr_pem: String,
    pub key_id: Uuid,
    pub created_at: OffsetDateTime,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CsrOrder {
    CreatedAt,
    Name,
    AccountTag,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    Asc,
    Desc,
}

/// One page of a list, counted from 1.
#[derive(Debug, Clone, Copy)]
pub struct PageRequest {
    pub page: u64,
    pub per_page: u64,
}

impl PageRequest {
    fn limit_offset(&self) -> (i64, i64) {
        let limit = i64::try_from(self.per_page).unwrap_or(i64::MAX);
        let offset = self
            .page
            .saturating_sub(1)
            .saturating_mul(self.per_page)
            .min(i64::MAX as u64) as i64;
        (limit, offset)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolStats {
    pub size: u32,
    pub idle: usize,
    pub max: u32,
}

#[derive(Debug, Clone)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub total_count: u64,
}

impl<T> Page<T> {
    /// A page of `rows` decoded one by one, out of `total` (a SQL `COUNT`, never negative).
    pub(crate) fn decode<R>(
        rows: &[R],
        decode: impl Fn(&R) -> Result<T, StoreError>,
        total: i64,
    ) -> Result<Self, StoreError> {
        Ok(Self {
            items: rows.iter().map(decode).collect::<Result<_, _>>()?,
            total_count: u64::try_from(total).unwrap_or_default(),
        })
    }
}

#[async_trait]
pub trait Store: ManagedStore + Send + Sync + fmt::Debug + 'static {
    /// Stores a CSR and its sealed private key in one transaction.
    /// Stores a CSR and its key; with a `limit`, refuses (`QuotaExceeded`) when the CSR's
    /// scope already holds that many, race-free against concurrent inserts.
    async fn insert_csr(
        &self,
        csr: &CsrRecord,
        key: &StoredKey,
        limit: Option<u64>,
    ) -> Result<(), StoreError>;
    async fn get_csr(&self, scope: &Scope, id: Uuid) -> Result<CsrRecord, StoreError>;
    async fn list_csrs(
        &self,
        scope: &Scope,
        order: CsrOrder,
        direction: Direction,
        page: PageRequest,
    ) -> Result<Page<CsrRecord>, StoreError>;
    /// Deletes a CSR and destroys its private key in one transaction.
    async fn delete_csr(&self, scope: &Scope, id: Uuid) -> Result<(), StoreError>;
    async fn get_key(&self, key_id: Uuid) -> Result<StoredKey, StoreError>;

    /// Adds a pre-generated key to the pool of `key.key_type` keys.
    async fn add_pool_key(&self, key: &StoredKey) -> Result<(), StoreError>;
    /// Takes one pooled key of `key_type` out of the pool, or `None` if there is none. Atomic:
    /// concurrent claims, from this process or another sharing the database, never return the
    /// same key. The claimed key is gone from the pool even if the caller then fails, so a key
    /// is used at most once.
    async fn claim_pool_key(&self, key_type: KeyType) -> Result<Option<StoredKey>, StoreError>;
    async fn count_pool_keys(&self, key_type: KeyType) -> Result<u64, StoreError>;

    /// Stores a hostname and, for a customer-supplied key, that key, in one transaction, with
    /// its managed lifecycle when `record.managed` has one.
    /// A key or CSR deleted meanwhile gives `ReferenceGone`; a taken hostname `Duplicate`.
    async fn insert_hostname(
        &self,
        record: &HostnameRecord,
        new_keys: &[StoredKey],
        limit: Option<u64>,
    ) -> Result<(), StoreError>;
    /// Replaces a hostname's mutable fields (its certificate pack included) and stores
    /// `new_keys`; each of `replaced_keys` that is owned and no longer used is destroyed;
    /// `managed` says what happens to its managed certificate. One transaction.
    async fn update_hostname(
        &self,
        record: &HostnameRecord,
        new_keys: &[StoredKey],
        replaced_keys: &[KeyRef],
        managed: ManagedWrite<'_>,
    ) -> Result<(), StoreError>;
    /// Stores the certificates of `record`'s pack as it now holds them, with `new_key`, and
    /// destroys `replaced_key` if it was owned and is no longer used, in one transaction.
    /// `NotFound` when the hostname is gone or its pack no longer uses the keys of
    /// `expected` (changed concurrently).
    async fn write_certificate_pack(
        &self,
        record: &HostnameRecord,
        expected: PackKeys,
        new_key: Option<&StoredKey>,
        replaced_key: KeyRef,
    ) -> Result<(), StoreError>;
    async fn get_hostname(&self, zone_id: &str, id: Uuid) -> Result<HostnameRecord, StoreError>;
    /// How many custom hostnames the zone holds.
    async fn count_hostnames(&self, zone_id: &str) -> Result<u64, StoreError>;
    /// A page of the zone's hostnames that pass `filter`, with statuses judged at `now`.
    async fn list_hostnames(
        &self,
        zone_id: &str,
        filter: &HostnameFilter,
        page: PageRequest,
        now: OffsetDateTime,
    ) -> Result<Page<HostnameRecord>, StoreError>;
    /// Deletes a hostname and any customer-supplied key it owned, in one transaction.
    async fn delete_hostname(&self, zone_id: &str, id: Uuid) -> Result<(), StoreError>;

    async fn insert_certificate(
        &self,
        record: &CertificateRecord,
        new_key: Option<&StoredKey>,
        limit: Option<u64>,
    ) -> Result<(), StoreError>;
    /// Stores `record` over the certificate `previous_id` (the same id, or a new one when the
    /// edit re-issues the resource), destroying `replaced_key` if it was owned and is no
    /// longer used, in one transaction.
    async fn update_certificate(
        &self,
        previous_id: Uuid,
        record: &CertificateRecord,
        new_key: Option<&StoredKey>,
        replaced_key: KeyRef,
    ) -> Result<(), StoreError>;
    async fn get_certificate(
        &self,
        zone_id: &str,
        id: Uuid,
    ) -> Result<CertificateRecord, StoreError>;
    /// A page of the zone's certificates that pass `filter` at `now`, in priority order.
    async fn list_certificates(
        &self,
        zone_id: &str,
        filter: &CertificateFilter,
        page: PageRequest,
        now: OffsetDateTime,
    ) -> Result<Page<CertificateRecord>, StoreError>;
    async fn delete_certificate(&self, zone_id: &str, id: Uuid) -> Result<(), StoreError>;
    /// What the edge serves: every custom hostname of every zone that has a certificate
    /// and a key, oldest first (`created_at`, then id).
    async fn served_hostnames(&self) -> Result<Vec<HostnameRecord>, StoreError>;
    /// What the edge serves: every custom certificate of every zone, in the order the list
    /// shows them (priority, then upload time, then id).
    async fn served_certificates(&self) -> Result<Vec<CertificateRecord>, StoreError>;
    /// Where the edge routes: every custom hostname of every zone, whatever its status,
    /// oldest first (`created_at`, then id).
    async fn hostname_routes(&self) -> Result<Vec<HostnameRoute>, StoreError>;
    /// Every zone's fallback origin, for the edge's route map.
    async fn fallback_origins(&self) -> Result<Vec<FallbackOriginRecord>, StoreError>;
    /// Sets several priorities at once; `NotFound` (and no change) if any id is unknown.
    async fn prioritize_certificates(
        &self,
        zone_id: &str,
        priorities: &[(Uuid, i64)],
    ) -> Result<(), StoreError>;

    /// Sets the zone's fallback origin to `origin` at `at`: a new one is created at `at`, an
    /// existing one keeps its `created_at` and is updated at `at`. Returns what is stored.
    async fn put_fallback_origin(
        &self,
        zone_id: &str,
        origin: &str,
        at: OffsetDateTime,
    ) -> Result<FallbackOriginRecord, StoreError>;
    /// The zone's fallback origin, if it has one (read by the edge to route traffic).
    async fn get_fallback_origin(
        &self,
        zone_id: &str,
    ) -> Result<Option<FallbackOriginRecord>, StoreError>;
    /// Removes the zone's fallback origin and returns it, or `None` if it had none.
    async fn delete_fallback_origin(
        &self,
        zone_id: &str,
    ) -> Result<Option<FallbackOriginRecord>, StoreError>;

    /// Removes everything of `scope` (every scope when `None`) in one transaction: CSRs and
    /// their keys, custom hostnames and custom certificates with the keys uploaded with them,
    /// fallback origins and forced statuses. API tokens, settings and the key pool stay.
    async fn reset(&self, scope: Option<&Scope>) -> Result<ResetCounts, StoreError>;
    /// The forced statuses of the zone's hostnames (of one of them, with `hostname_id`).
    async fn status_overrides(
        &self,
        zone_id: &str,
        hostname_id: Option<Uuid>,
    ) -> Result<Vec<(Uuid, StatusOverride)>, StoreError>;
    /// Stores a hostname's forced statuses at `at`, or removes them when `value` is empty;
    /// `NotFound` when the zone has no such hostname.
    async fn put_status_override(
        &self,
        zone_id: &str,
        hostname_id: Uuid,
        value: &StatusOverride,
        at: OffsetDateTime,
    ) -> Result<(), StoreError>;

    /// The stored digests of every API token that may call the API (keyed hashes, or plain
    /// SHA-256 in rows written by earlier releases; see `app::tokens`).
    async fn token_hashes(&self) -> Result<Vec<[u8; 32]>, StoreError>;
    /// Records a token hash; returns false when it was already known.
    async fn insert_token(&self, hash: &[u8; 32], label: &str) -> Result<bool, StoreError>;
    /// Replaces a token's stored digest `old` with `new`, keeping its label; when `new` is
    /// already stored, only removes `old`. Idempotent, so instances may race on it.
    async fn rehash_token(&self, old: &[u8; 32], new: &[u8; 32]) -> Result<(), StoreError>;
    async fn get_setting(&self, name: &str) -> Result<Option<String>, StoreError>;
    /// Connections the pool holds now, and how many of them are idle.
    fn pool_stats(&self) -> PoolStats;
    /// Round-trips to the database and reports how many of this build's migrations are
    /// applied, as (applied, known).
    async fn migration_status(&self) -> Result<(usize, usize), StoreError>;
    /// Returns the value stored under `name`, storing `value` first if there was none.
    async fn get_or_insert_setting(&self, name: &str, value: &str) -> Result<String, StoreError>;
    /// Starts listening for changes to what the edge serves made by other instances on the
    /// same database, or `None` where no other instance can share it (SQLite).
    fn change_feed(&self) -> Option<ChangeFeed>;
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Postgres,
    Sqlite,
}

impl Backend {
    /// `postgres://`/`postgresql://` pick Postgres; `sqlite:` picks SQLite.
    pub fn of_url(url: &str) -> Result<Self, ConnectError> {
        match url.split_once(':').map(|(scheme, _)| scheme) {
            Some("postgres" | "postgresql") => Ok(Backend::Postgres),
            Some("sqlite") => Ok(Backend::Sqlite),
            _ => Err(ConnectError::Scheme),
        }
    }
}

/// How edgecert opens and uses its database connections.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DatabaseOptions {
    /// The most connections the pool holds (`None`: the backend's default for this machine).
    pub max_connections: Option<u32>,
    /// How long a request waits for a connection, opening a new one included, before the
    /// database counts as unavailable and the request is answered 503.
    pub acquire_timeout: Duration,
    /// How long start-up keeps trying to reach the database before giving up.
    pub connect_timeout: Duration,
    /// SQLite's `synchronous` setting; Postgres ignores it.
    pub sqlite_synchronous: SqliteSynchronous,
}

impl Default for DatabaseOptions {
    fn default() -> Self {
        Self {
            max_connections: None,
            acquire_timeout: DEFAULT_ACQUIRE_TIMEOUT,
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            sqlite_synchronous: SqliteSynchronous::Normal,
        }
    }
}

/// Short enough that a request during a database outage is answered within two seconds,
/// long enough that a healthy database's queue for its connections never reaches it.
pub const DEFAULT_ACQUIRE_TIMEOUT: Duration = Duration::from_secs(1);
/// The old fixed start-up wait: room for a database container that starts alongside.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// When SQLite waits for the disk: `Normal` (WAL synced at checkpoints) survives a process
/// crash; `Full` (WAL synced at every commit) also survives power loss, at a cost per write.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SqliteSynchronous {
    #[default]
    Normal,
    Full,
}

/// Connects to the database named by `url` and applies pending migrations. The pool holds
/// at most `max_connections` (`None`: the backend's default for this machine's cores).
pub async fn connect(
    url: &str,
    max_connections: Option<u32>,
) -> Result<Arc<dyn Store>, ConnectError> {
    let options = DatabaseOptions {
        max_connections,
        ..DatabaseOptions::default()
    };
    connect_with(url, &options).await
}

/// Connects to the database named by `url` with `options` and applies pending migrations.
pub async fn connect_with(
    url: &str,
    options: &DatabaseOptions,
) -> Result<Arc<dyn Store>, ConnectError> {
    let cores = std::thread::available_parallelism()
        .map_or(2, std::num::NonZeroUsize::get)
        .try_into()
        .unwrap_or(u32::MAX);
    match Backend::of_url(url)? {
        Backend::Postgres => {
            let max = options
                .max_connections
                .unwrap_or_else(|| PostgresStore::default_connections(cores));
            Ok(Arc::new(PostgresStore::connect(url, max, options).await?))
        }
        Backend::Sqlite => {
            let max = options
                .max_connections
                .unwrap_or_else(|| SqliteStore::default_connections(cores));
            Ok(Arc::new(SqliteStore::connect(url, max, options).await?))
        }
    }
}

/// Waits until `pool` hands out a connection, retrying while the database is unavailable
/// (not yet started, say) for up to `within`; any other failure (a wrong password, a missing
/// database) is returned at once.
async fn wait_until_reachable<DB: sqlx::Database>(
    pool: &sqlx::Pool<DB>,
    within: Duration,
) -> Result<(), ConnectError> {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        match pool.acquire().await {
            Ok(_) => return Ok(()),
            Err(error)
                if matches!(classify(&error), Failure::Unavailable)
                    && tokio::time::Instant::now() < deadline =>
            {
                tracing::debug!(%error, "database not reachable yet; retrying");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(error) => return Err(ConnectError::Open(error)),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    #[error("DATABASE_URL must start with postgres://, postgresql:// or sqlite://")]
    Scheme,
    #[error("cannot open the database: {0}")]
    Open(#[source] sqlx::Error),
    #[error("cannot apply database migrations: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("cannot create {path}: {source}")]
    Directory {
        path: String,
        #[source]
        source: std::io::Error,
    },
}

fn parse_key_type(name: &str) -> Result<KeyType, StoreError> {
    KeyType::from_stored(name)
        .ok_or_else(|| StoreError::Corrupt(format!("unknown key type {name:?}")))
}

fn decode_sans(json: &str) -> Result<Vec<String>, StoreError> {
    serde_json::from_str(json).map_err(|e| StoreError::Corrupt(format!("sans column: {e}")))
}

fn encode_sans(sans: &[String]) -> String {
    serde_json::Value::from(sans.to_vec()).to_string()
}

fn hash_array(bytes: Vec<u8>) -> Result<[u8; 32], StoreError> {
    bytes
        .try_into()
        .map_err(|_| StoreError::Corrupt("hash column is not 32 bytes".into()))
}
