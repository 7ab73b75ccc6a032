//! The zero-setup default store: one SQLite file.

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use sqlx::Row;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteRow,
    SqliteSynchronous,
};
use uuid::Uuid;

use crate::pki::KeyType;

use super::certificates::{certificate_methods, from_micros, to_micros};
use super::{
    CertificateRecord, ConnectError, CsrOrder, CsrRecord, Direction, HostnameFilter,
    HostnameRecord, KEY_COLUMNS, KeyRef, Page, PageRequest, PoolStats, Scope, Store, StoreError,
    StoredKey, decode_sans, encode_sans, hash_array, on_delete, on_write, parse_key_type,
};

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");

const CSR_COLUMNS: &str = "id, scope_kind, scope_id, name, description, country, state, locality, \
     organization, organizational_unit, common_name, sans, key_type, csr_pem, key_id, created_at_us";

/// SQLite takes one writer at a time; IMMEDIATE makes a write transaction queue for the lock
/// at its start (honouring busy_timeout) instead of failing when a read upgrades to a write.
const BEGIN_WRITE: &str = "BEGIN IMMEDIATE";

/// Two pools on one file: SQLite takes one writer at a time, and a writer that finds the lock
/// taken sleeps in SQLite's busy handler (1, 2, 5, 10 ms and up) instead of being woken when
/// the lock frees. Writes therefore queue for the single writer connection in this process,
/// where waiting costs nothing, and reads (never blocked by a writer under WAL) use the rest.
#[derive(Debug, Clone)]
pub struct SqliteStore {
    pool: SqlitePool,
    writer: SqlitePool,
}

impl SqliteStore {
    pub async fn connect(url: &str) -> Result<Self, ConnectError> {
        let options = SqliteConnectOptions::from_str(url)
            .map_err(ConnectError::Open)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(10))
            // Deleted private keys are overwritten on disk, not left in free pages.
            .pragma("secure_delete", "ON");
        let path = options.get_filename();
        if let Some(parent) = path.parent() {
            create_dir(parent)?;
        }
        create_private_file(path)?;
        // A local file has no far end that can hang up, so the liveness ping sqlx sends on
        // every acquire (a hand-off to the connection's thread) buys nothing.
        let writer = SqlitePoolOptions::new()
            .max_connections(1)
            .test_before_acquire(false)
            .acquire_timeout(Duration::from_secs(10))
            .connect_with(options.clone())
            .await
            .map_err(ConnectError::Open)?;
        MIGRATOR.run(&writer).await?;
        // Two cores: three readers and the writer keep both busy without queueing reads.
        let pool = SqlitePoolOptions::new()
            .max_connections(3)
            .test_before_acquire(false)
            .acquire_timeout(Duration::from_secs(10))
            .connect_with(options)
            .await
            .map_err(ConnectError::Open)?;
        Ok(Self { pool, writer })
    }

    pub fn pool(&self) -> &SqlitePool {
        &self.pool
    }
}

impl SqliteStore {
    async fn begin_write(&self) -> Result<sqlx::Transaction<'static, sqlx::Sqlite>, StoreError> {
        Ok(self.writer.begin_with(BEGIN_WRITE).await?)
    }
}

certificate_methods!(SqliteStore, SqliteRow, None::<&'static str>);

fn create_dir(dir: &Path) -> Result<(), ConnectError> {
    if dir.as_os_str().is_empty() || dir.exists() {
        return Ok(());
    }
    std::fs::create_dir_all(dir).map_err(|source| ConnectError::Directory {
        path: dir.display().to_string(),
        source,
    })
}

/// Creates the database file readable by its owner only. SQLite gives its -wal and -shm files
/// the database file's mode, so they stay private too.
fn create_private_file(path: &Path) -> Result<(), ConnectError> {
    use std::os::unix::fs::OpenOptionsExt;
    if path.to_string_lossy().contains(":memory:") {
        return Ok(());
    }
    match std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
    {
        Ok(_) => Ok(()),
        Err(error) if error.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(source) => Err(ConnectError::Directory {
            path: path.display().to_string(),
            source,
        }),
    }
}

fn csr_from_row(row: &SqliteRow) -> Result<CsrRecord, StoreError> {
    Ok(CsrRecord {
        id: row.try_get("id")?,
        scope: Scope::from_parts(row.try_get("scope_kind")?, row.try_get("scope_id")?)?,
        name: row.try_get("name")?,
        description: row.try_get("description")?,
        country: row.try_get("country")?,
        state: row.try_get("state")?,
        locality: row.try_get("locality")?,
        organization: row.try_get("organization")?,
        organizational_unit: row.try_get("organizational_unit")?,
        common_name: row.try_get("common_name")?,
        sans: decode_sans(row.try_get("sans")?)?,
        key_type: parse_key_type(row.try_get("key_type")?)?,
        csr_pem: row.try_get("csr_pem")?,
        key_id: row.try_get("key_id")?,
        created_at: from_micros(row.try_get("created_at_us")?)?,
    })
}

fn order_clause(order: CsrOrder, direction: Direction) -> &'static str {
    // SQLite sorts NULL first ascending and last descending, as the Postgres store requests.
    match (order, direction) {
        (CsrOrder::CreatedAt, Direction::Asc) => "created_at_us ASC, id ASC",
        (CsrOrder::CreatedAt, Direction::Desc) => "created_at_us DESC, id DESC",
        (CsrOrder::Name, Direction::Asc) => "name ASC, id ASC",
        (CsrOrder::Name, Direction::Desc) => "name DESC, id DESC",
        (CsrOrder::AccountTag, Direction::Asc) => "account_tag ASC, id ASC",
        (CsrOrder::AccountTag, Direction::Desc) => "account_tag DESC, id DESC",
    }
}

#[async_trait]
impl Store for SqliteStore {
    async fn insert_csr(&self, csr: &CsrRecord, key: &StoredKey) -> Result<(), StoreError> {
        let mut connection = self.writer.acquire().await?;
        // The whole transaction goes to the connection's worker thread as one script: each
        // statement sent on its own is a thread hand-off there and back, the main cost of this
        // path. `$n` parameters are numbered across the whole script. Requests run to
        // completion (see `http::run_to_completion`), so the script is never abandoned half-way.
        let written = sqlx::query(
            "BEGIN IMMEDIATE; \
             INSERT INTO private_keys (id, key_type, encrypted_pkcs8, spki_der, spki_sha256) \
             VALUES ($1, $2, $3, $4, $5); \
             INSERT INTO custom_csrs (id, scope_kind, scope_id, account_tag, name, description, \
             country, state, locality, organization, organizational_unit, common_name, sans, \
             key_type, csr_pem, key_id, created_at_us) \
             VALUES ($6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22); \
             INSERT INTO custom_csr_counts (scope_kind, scope_id, csr_count) VALUES ($7, $8, 1) \
             ON CONFLICT (scope_kind, scope_id) DO UPDATE SET csr_count = custom_csr_counts.csr_count + 1; \
             COMMIT",
        )
        .bind(key.id)
        .bind(key.key_type.as_str())
        .bind(&key.encrypted_pkcs8)
        .bind(&key.spki_der)
        .bind(&key.spki_sha256[..])
        .bind(csr.id)
        .bind(csr.scope.kind())
        .bind(csr.scope.id())
        .bind(csr.scope.account_tag())
        .bind(&csr.name)
        .bind(&csr.description)
        .bind(&csr.country)
        .bind(&csr.state)
        .bind(&csr.locality)
        .bind(&csr.organization)
        .bind(&csr.organizational_unit)
        .bind(&csr.common_name)
        .bind(encode_sans(&csr.sans))
        .bind(csr.key_type.as_str())
        .bind(&csr.csr_pem)
        .bind(csr.key_id)
        .bind(to_micros(csr.created_at))
        .execute(&mut *connection)
        .await;
        if let Err(error) = written {
            // The script stopped at the failing statement, possibly inside its transaction.
            // Undo it; if even that fails, the connection's state is unknown, so it is closed
            // instead of going back to the pool.
            if let Err(rollback) = sqlx::query("ROLLBACK").execute(&mut *connection).await {
                tracing::debug!(error = %rollback, "rollback after a failed CSR insert");
                connection.close_on_drop();
            }
            return Err(on_write(error));
        }
        Ok(())
    }

    async fn get_csr(&self, scope: &Scope, id: Uuid) -> Result<CsrRecord, StoreError> {
        let sql = format!(
            "SELECT {CSR_COLUMNS} FROM custom_csrs WHERE id = ? AND scope_kind = ? AND scope_id = ?"
        );
        let row = sqlx::query(&sql)
            .bind(id)
            .bind(scope.kind())
            .bind(scope.id())
            .fetch_optional(&self.pool)
            .await?
            .ok_or(StoreError::NotFound)?;
        csr_from_row(&row)
    }

    async fn list_csrs(
        &self,
        scope: &Scope,
        order: CsrOrder,
        direction: Direction,
        page: PageRequest,
    ) -> Result<Page<CsrRecord>, StoreError> {
        let (limit, offset) = page.limit_offset();
        // Skipped rows are walked in the covering index only; full rows are read for one page.
        let order = order_clause(order, direction);
        let sql = format!(
            "SELECT {CSR_COLUMNS} FROM custom_csrs WHERE id IN (\
                 SELECT id FROM custom_csrs WHERE scope_kind = ? AND scope_id = ? \
                 ORDER BY {order} LIMIT ? OFFSET ?) \
             ORDER BY {order}"
        );
        let rows = sqlx::query(&sql)
            .bind(scope.kind())
            .bind(scope.id())
            .bind(limit)
            .bind(offset)
            .fetch_all(&self.pool)
            .await?;
        let total: i64 = sqlx::query_scalar(
            "SELECT csr_count FROM custom_csr_counts WHERE scope_kind = ? AND scope_id = ?",
        )
        .bind(scope.kind())
        .bind(scope.id())
        .fetch_optional(&self.pool)
        .await?
        .unwrap_or(0);
        Ok(Page {
            items: rows.iter().map(csr_from_row).collect::<Result<_, _>>()?,
            total_count: u64::try_from(total).unwrap_or_default(),
        })
    }

    async fn delete_csr(&self, scope: &Scope, id: Uuid) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        let key_id: Uuid = sqlx::query_scalar(
            "DELETE FROM custom_csrs WHERE id = ? AND scope_kind = ? AND scope_id = ? \
             RETURNING key_id",
        )
        .bind(id)
        .bind(scope.kind())
        .bind(scope.id())
        .fetch_optional(&mut *tx)
        .await
        .map_err(on_delete)?
        .ok_or(StoreError::NotFound)?;
        sqlx::query("DELETE FROM private_keys WHERE id = ?")
            .bind(key_id)
            .execute(&mut *tx)
            .await
            .map_err(on_delete)?;
        sqlx::query(
            "UPDATE custom_csr_counts SET csr_count = csr_count - 1 \
             WHERE scope_kind = ? AND scope_id = ?",
        )
        .bind(scope.kind())
        .bind(scope.id())
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn get_key(&self, key_id: Uuid) -> Result<StoredKey, StoreError> {
        let row = sqlx::query(&format!(
            "SELECT {KEY_COLUMNS} FROM private_keys WHERE id = ?"
        ))
        .bind(key_id)
        .fetch_optional(&self.pool)
        .await?
        .ok_or(StoreError::NotFound)?;
        Self::key_from_row(&row)
    }

    async fn add_pool_key(&self, key: &StoredKey) -> Result<(), StoreError> {
        self.pool_add_key(key).await
    }

    async fn claim_pool_key(&self, key_type: KeyType) -> Result<Option<StoredKey>, StoreError> {
        // The write lock is taken first, so the select and the delete see the same pool and
        // two claims cannot pick the same row.
        let mut tx = self.begin_write().await?;
        let row = sqlx::query(&format!(
            "DELETE FROM key_pool WHERE id = \
             (SELECT id FROM key_pool WHERE key_type = $1 LIMIT 1) \
             RETURNING {KEY_COLUMNS}"
        ))
        .bind(key_type.as_str())
        .fetch_optional(&mut *tx)
        .await?;
        let key = row.as_ref().map(Self::key_from_row).transpose()?;
        tx.commit().await?;
        Ok(key)
    }

    async fn count_pool_keys(&self, key_type: KeyType) -> Result<u64, StoreError> {
        self.pool_count_keys(key_type).await
    }

    async fn token_hashes(&self) -> Result<Vec<[u8; 32]>, StoreError> {
        let hashes: Vec<Vec<u8>> = sqlx::query_scalar("SELECT token_sha256 FROM api_tokens")
            .fetch_all(&self.pool)
            .await?;
        hashes.into_iter().map(hash_array).collect()
    }

    async fn insert_token(&self, hash: &[u8; 32], label: &str) -> Result<bool, StoreError> {
        let inserted = sqlx::query(
            "INSERT INTO api_tokens (token_sha256, label) VALUES (?, ?) ON CONFLICT DO NOTHING",
        )
        .bind(&hash[..])
        .bind(label)
        .execute(&self.writer)
        .await?
        .rows_affected();
        Ok(inserted == 1)
    }

    async fn rehash_token(&self, old: &[u8; 32], new: &[u8; 32]) -> Result<(), StoreError> {
        // Two statements, each idempotent: an UPDATE cannot take `new` when another instance
        // already wrote it, so then the old row is simply dropped.
        sqlx::query(
            "UPDATE api_tokens SET token_sha256 = ?1 WHERE token_sha256 = ?2 \
             AND NOT EXISTS (SELECT 1 FROM api_tokens WHERE token_sha256 = ?1)",
        )
        .bind(&new[..])
        .bind(&old[..])
        .execute(&self.writer)
        .await?;
        sqlx::query("DELETE FROM api_tokens WHERE token_sha256 = ?")
            .bind(&old[..])
            .execute(&self.writer)
            .await?;
        Ok(())
    }

    fn pool_stats(&self) -> PoolStats {
        PoolStats {
            size: self.pool.size() + self.writer.size(),
            idle: self.pool.num_idle() + self.writer.num_idle(),
            max: self.pool.options().get_max_connections()
                + self.writer.options().get_max_connections(),
        }
    }

    async fn migration_status(&self) -> Result<(usize, usize), StoreError> {
        let applied: Vec<i64> =
            sqlx::query_scalar("SELECT version FROM _sqlx_migrations WHERE success")
                .fetch_all(&self.pool)
                .await?;
        let known: Vec<i64> = MIGRATOR.iter().map(|migration| migration.version).collect();
        let done = known.iter().filter(|v| applied.contains(v)).count();
        Ok((done, known.len()))
    }

    async fn get_setting(&self, name: &str) -> Result<Option<String>, StoreError> {
        Ok(
            sqlx::query_scalar("SELECT value FROM settings WHERE name = ?")
                .bind(name)
                .fetch_optional(&self.pool)
                .await?,
        )
    }

    async fn get_or_insert_setting(&self, name: &str, value: &str) -> Result<String, StoreError> {
        sqlx::query("INSERT INTO settings (name, value) VALUES (?, ?) ON CONFLICT DO NOTHING")
            .bind(name)
            .bind(value)
            .execute(&self.writer)
            .await?;
        Ok(
            sqlx::query_scalar("SELECT value FROM settings WHERE name = ?")
                .bind(name)
                .fetch_one(&self.pool)
                .await?,
        )
    }

    async fn insert_hostname(
        &self,
        record: &HostnameRecord,
        new_key: Option<&StoredKey>,
    ) -> Result<(), StoreError> {
        self.cert_insert_hostname(record, new_key).await
    }

    async fn update_hostname(
        &self,
        record: &HostnameRecord,
        new_key: Option<&StoredKey>,
        replaced_key: Option<KeyRef>,
    ) -> Result<(), StoreError> {
        self.cert_update_hostname(record, new_key, replaced_key)
            .await
    }

    async fn get_hostname(&self, zone_id: &str, id: Uuid) -> Result<HostnameRecord, StoreError> {
        self.cert_get_hostname(zone_id, id).await
    }

    async fn list_hostnames(
        &self,
        zone_id: &str,
        filter: &HostnameFilter,
        page: PageRequest,
    ) -> Result<Page<HostnameRecord>, StoreError> {
        self.cert_list_hostnames(zone_id, filter, page).await
    }

    async fn delete_hostname(&self, zone_id: &str, id: Uuid) -> Result<(), StoreError> {
        self.cert_delete_hostname(zone_id, id).await
    }

    async fn insert_certificate(
        &self,
        record: &CertificateRecord,
        new_key: Option<&StoredKey>,
    ) -> Result<(), StoreError> {
        self.cert_insert_certificate(record, new_key).await
    }

    async fn update_certificate(
        &self,
        record: &CertificateRecord,
        new_key: Option<&StoredKey>,
        replaced_key: KeyRef,
    ) -> Result<(), StoreError> {
        self.cert_update_certificate(record, new_key, replaced_key)
            .await
    }

    async fn get_certificate(
        &self,
        zone_id: &str,
        id: Uuid,
    ) -> Result<CertificateRecord, StoreError> {
        self.cert_get_certificate(zone_id, id).await
    }

    async fn list_certificates(
        &self,
        zone_id: &str,
        page: PageRequest,
    ) -> Result<Page<CertificateRecord>, StoreError> {
        self.cert_list_certificates(zone_id, page).await
    }

    async fn delete_certificate(&self, zone_id: &str, id: Uuid) -> Result<(), StoreError> {
        self.cert_delete_certificate(zone_id, id).await
    }

    async fn prioritize_certificates(
        &self,
        zone_id: &str,
        priorities: &[(Uuid, i64)],
    ) -> Result<(), StoreError> {
        self.cert_prioritize(zone_id, priorities).await
    }
}
