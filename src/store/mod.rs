//! Persistence: one `Store` trait, implemented for Postgres and SQLite and picked by URL scheme.

mod postgres;
mod records;
mod sql;
mod sqlite;

use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::pki::{KeyType, MasterKey, PkiError, PrivateKey};

pub use postgres::PostgresStore;
pub use records::{
    CertificateOptions, CertificateRecord, HostnameFilter, HostnameMatch, HostnameRecord, KeyRef,
    SslOptions, StoredCertificate,
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

/// The current time at the precision both stores keep (microseconds), so an answer made
/// from a value just written matches a later read of it.
pub fn now() -> OffsetDateTime {
    let now = OffsetDateTime::now_utc();
    now.replace_nanosecond(now.nanosecond() / 1_000 * 1_000)
        .unwrap_or(now)
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

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("not found")]
    NotFound,
    /// A unique value (such as a hostname in a zone) already exists.
    #[error("duplicate: {0}")]
    Duplicate(String),
    /// A delete was refused because other rows still reference the row.
    #[error("still in use: {0}")]
    InUse(String),
    /// A write referenced a row that no longer exists (deleted concurrently).
    #[error("referenced row is gone: {0}")]
    ReferenceGone(String),
    #[error("stored data is inconsistent: {0}")]
    Corrupt(String),
    #[error(transparent)]
    Database(#[from] sqlx::Error),
    #[error(transparent)]
    Migrate(#[from] sqlx::migrate::MigrateError),
}

#[async_trait]
pub trait Store: Send + Sync + fmt::Debug + 'static {
    /// Stores a CSR and its sealed private key in one transaction.
    async fn insert_csr(&self, csr: &CsrRecord, key: &StoredKey) -> Result<(), StoreError>;
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

    /// Stores a hostname and, for a customer-supplied key, that key, in one transaction.
    /// A key or CSR deleted meanwhile gives `ReferenceGone`; a taken hostname `Duplicate`.
    async fn insert_hostname(
        &self,
        record: &HostnameRecord,
        new_key: Option<&StoredKey>,
    ) -> Result<(), StoreError>;
    /// Replaces a hostname's mutable fields; `replaced_key` (if owned and no longer used) is destroyed.
    async fn update_hostname(
        &self,
        record: &HostnameRecord,
        new_key: Option<&StoredKey>,
        replaced_key: Option<KeyRef>,
    ) -> Result<(), StoreError>;
    async fn get_hostname(&self, zone_id: &str, id: Uuid) -> Result<HostnameRecord, StoreError>;
    async fn list_hostnames(
        &self,
        zone_id: &str,
        filter: &HostnameFilter,
        page: PageRequest,
    ) -> Result<Page<HostnameRecord>, StoreError>;
    /// Deletes a hostname and any customer-supplied key it owned, in one transaction.
    async fn delete_hostname(&self, zone_id: &str, id: Uuid) -> Result<(), StoreError>;

    async fn insert_certificate(
        &self,
        record: &CertificateRecord,
        new_key: Option<&StoredKey>,
    ) -> Result<(), StoreError>;
    async fn update_certificate(
        &self,
        record: &CertificateRecord,
        new_key: Option<&StoredKey>,
        replaced_key: KeyRef,
    ) -> Result<(), StoreError>;
    async fn get_certificate(
        &self,
        zone_id: &str,
        id: Uuid,
    ) -> Result<CertificateRecord, StoreError>;
    async fn list_certificates(
        &self,
        zone_id: &str,
        page: PageRequest,
    ) -> Result<Page<CertificateRecord>, StoreError>;
    async fn delete_certificate(&self, zone_id: &str, id: Uuid) -> Result<(), StoreError>;
    /// Sets several priorities at once; `NotFound` (and no change) if any id is unknown.
    async fn prioritize_certificates(
        &self,
        zone_id: &str,
        priorities: &[(Uuid, i64)],
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

/// Connects to the database named by `url` and applies pending migrations. The pool holds
/// at most `max_connections` (`None`: the backend's default for this machine's cores).
pub async fn connect(
    url: &str,
    max_connections: Option<u32>,
) -> Result<Arc<dyn Store>, ConnectError> {
    let cores = std::thread::available_parallelism()
        .map_or(2, std::num::NonZeroUsize::get)
        .try_into()
        .unwrap_or(u32::MAX);
    match Backend::of_url(url)? {
        Backend::Postgres => {
            let max = max_connections.unwrap_or_else(|| PostgresStore::default_connections(cores));
            Ok(Arc::new(PostgresStore::connect(url, max).await?))
        }
        Backend::Sqlite => {
            let max = max_connections.unwrap_or_else(|| SqliteStore::default_connections(cores));
            Ok(Arc::new(SqliteStore::connect(url, max).await?))
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

/// Maps constraint violations of an insert or update: a duplicate, or a reference to a row
/// that a concurrent delete removed.
fn on_write(error: sqlx::Error) -> StoreError {
    if let sqlx::Error::Database(db) = &error {
        use sqlx::error::ErrorKind;
        match db.kind() {
            ErrorKind::UniqueViolation => return StoreError::Duplicate(db.message().to_string()),
            ErrorKind::ForeignKeyViolation => {
                return StoreError::ReferenceGone(db.message().to_string());
            }
            _ => {}
        }
    }
    StoreError::Database(error)
}

/// Maps a foreign-key violation of a delete: the row is still referenced.
fn on_delete(error: sqlx::Error) -> StoreError {
    if let sqlx::Error::Database(db) = &error
        && db.kind() == sqlx::error::ErrorKind::ForeignKeyViolation
    {
        return StoreError::InUse(db.message().to_string());
    }
    StoreError::Database(error)
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
