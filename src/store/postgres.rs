//! The production store.

use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use sqlx::Row;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions, PgRow};
use uuid::Uuid;

use crate::pki::KeyType;

use super::certificates::certificate_methods;
use super::{
    CertificateRecord, ConnectError, CsrOrder, CsrRecord, Direction, HostnameFilter,
    HostnameRecord, KEY_COLUMNS, KeyRef, Page, PageRequest, PoolStats, Scope, Store, StoreError,
    StoredKey, decode_sans, encode_sans, hash_array, on_delete, on_write, parse_key_type,
};

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

const CSR_COLUMNS: &str = "id, scope_kind, scope_id, name, description, country, state, locality, \
     organization, organizational_unit, common_name, sans, key_type, csr_pem, key_id, created_at";

/// How long a pooled connection may sit idle before it is pinged on its next acquire.
const PING_AFTER_IDLE: Duration = Duration::from_secs(5);

#[derive(Debug, Clone)]
pub struct PostgresStore {
    pool: PgPool,
}

impl PostgresStore {
    pub async fn connect(url: &str) -> Result<Self, ConnectError> {
        let options = PgConnectOptions::from_str(url).map_err(ConnectError::Open)?;
        let pool = PgPoolOptions::new()
            .max_connections(8)
            // sqlx pings a connection on every acquire by default: a full round trip to the
            // server in front of each query. A connection in steady use is known to be alive;
            // only one idle long enough for the server (or a proxy) to have dropped it is checked.
            .test_before_acquire(false)
            .before_acquire(|connection, meta| {
                Box::pin(async move {
                    if meta.idle_for > PING_AFTER_IDLE {
                        sqlx::Connection::ping(connection).await?;
                    }
                    Ok(true)
                })
            })
            .acquire_timeout(Duration::from_secs(10))
            .connect_with(options)
            .await
            .map_err(ConnectError::Open)?;
        MIGRATOR.run(&pool).await?;
        Ok(Self { pool })
    }

    pub fn pool(&self) -> &PgPool {
        &self.pool
    }
}

impl PostgresStore {
    async fn begin_write(&self) -> Result<sqlx::Transaction<'static, sqlx::Postgres>, StoreError> {
        Ok(self.pool.begin().await?)
    }
}

certificate_methods!(
    PostgresStore,
    PgRow,
    Some("SELECT id FROM custom_csrs WHERE id = $1 FOR KEY SHARE")
);

fn csr_from_row(row: &PgRow) -> Result<CsrRecord, StoreError> {
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
        created_at: row.try_get("created_at")?,
    })
}

fn order_clause(order: CsrOrder, direction: Direction) -> &'static str {
    // NULLS FIRST ascending (and LAST descending) is SQLite's fixed behaviour; Postgres is told
    // explicitly so both backends page through unnamed CSRs identically.
    match (order, direction) {
        (CsrOrder::CreatedAt, Direction::Asc) => "created_at ASC, id ASC",
        (CsrOrder::CreatedAt, Direction::Desc) => "created_at DESC, id DESC",
        (CsrOrder::Name, Direction::Asc) => "name ASC NULLS FIRST, id ASC",
        (CsrOrder::Name, Direction::Desc) => "name DESC NULLS LAST, id DESC",
        (CsrOrder::AccountTag, Direction::Asc) => "account_tag ASC NULLS FIRST, id ASC",
        (CsrOrder::AccountTag, Direction::Desc) => "account_tag DESC NULLS LAST, id DESC",
    }
}

#[async_trait]
impl Store for PostgresStore {
    async fn insert_csr(&self, csr: &CsrRecord, key: &StoredKey) -> Result<(), StoreError> {
        // One statement, so one round trip and an implicit transaction: creating a CSR is the
        // hot path, and BEGIN, three inserts and COMMIT cost five. Foreign keys are checked at
        // the end of the statement, when the key row exists.
        sqlx::query(
            "WITH new_key AS ( \
                 INSERT INTO private_keys (id, key_type, encrypted_pkcs8, spki_der, spki_sha256) \
                 VALUES ($1, $2, $3, $4, $5)), \
             new_csr AS ( \
                 INSERT INTO custom_csrs (id, scope_kind, scope_id, account_tag, name, description, \
                 country, state, locality, organization, organizational_unit, common_name, sans, \
                 key_type, csr_pem, key_id, created_at) \
                 VALUES ($6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22)) \
             INSERT INTO custom_csr_counts (scope_kind, scope_id, csr_count) VALUES ($7, $8, 1) \
             ON CONFLICT (scope_kind, scope_id) DO UPDATE SET csr_count = custom_csr_counts.csr_count + 1",
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
        .bind(csr.created_at)
        .execute(&self.pool)
        .await
        .map_err(on_write)?;
        Ok(())
    }

    async fn get_csr(&self, scope: &Scope, id: Uuid) -> Result<CsrRecord, StoreError> {
        let sql = format!(
            "SELECT {CSR_COLUMNS} FROM custom_csrs WHERE id = $1 AND scope_kind = $2 AND scope_id = $3"
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
                 SELECT id FROM custom_csrs WHERE scope_kind = $1 AND scope_id = $2 \
                 ORDER BY {order} LIMIT $3 OFFSET $4) \
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
            "SELECT csr_count FROM custom_csr_counts WHERE scope_kind = $1 AND scope_id = $2",
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
        let mut tx = self.pool.begin().await?;
        let key_id: Uuid = sqlx::query_scalar(
            "DELETE FROM custom_csrs WHERE id = $1 AND scope_kind = $2 AND scope_id = $3 \
             RETURNING key_id",
        )
        .bind(id)
        .bind(scope.kind())
        .bind(scope.id())
        .fetch_optional(&mut *tx)
        .await
        .map_err(on_delete)?
        .ok_or(StoreError::NotFound)?;
        sqlx::query("DELETE FROM private_keys WHERE id = $1")
            .bind(key_id)
            .execute(&mut *tx)
            .await
            .map_err(on_delete)?;
        sqlx::query(
            "UPDATE custom_csr_counts SET csr_count = csr_count - 1 \
             WHERE scope_kind = $1 AND scope_id = $2",
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
            "SELECT {KEY_COLUMNS} FROM private_keys WHERE id = $1"
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
        // The claim need not wait for its commit to reach disk: WAL is flushed in order, so the
        // durable commit of the CSR that uses the key flushes the claim too, and a claim lost in
        // a crash before that only puts an unused key back in the pool.
        let mut tx = self.pool.begin().await?;
        sqlx::query("SET LOCAL synchronous_commit = off")
            .execute(&mut *tx)
            .await?;
        // SKIP LOCKED lets concurrent claims each take a different row instead of queueing
        // behind (and then missing) the row another transaction is deleting.
        let row = sqlx::query(&format!(
            "DELETE FROM key_pool WHERE id = \
             (SELECT id FROM key_pool WHERE key_type = $1 LIMIT 1 FOR UPDATE SKIP LOCKED) \
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
            "INSERT INTO api_tokens (token_sha256, label) VALUES ($1, $2) ON CONFLICT DO NOTHING",
        )
        .bind(&hash[..])
        .bind(label)
        .execute(&self.pool)
        .await?
        .rows_affected();
        Ok(inserted == 1)
    }

    async fn rehash_token(&self, old: &[u8; 32], new: &[u8; 32]) -> Result<(), StoreError> {
        // Two statements, each idempotent: an UPDATE cannot take `new` when another instance
        // already wrote it, so then the old row is simply dropped.
        sqlx::query(
            "UPDATE api_tokens SET token_sha256 = $1 WHERE token_sha256 = $2 \
             AND NOT EXISTS (SELECT 1 FROM api_tokens WHERE token_sha256 = $1)",
        )
        .bind(&new[..])
        .bind(&old[..])
        .execute(&self.pool)
        .await?;
        sqlx::query("DELETE FROM api_tokens WHERE token_sha256 = $1")
            .bind(&old[..])
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    fn pool_stats(&self) -> PoolStats {
        PoolStats {
            size: self.pool.size(),
            idle: self.pool.num_idle(),
            max: self.pool.options().get_max_connections(),
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
            sqlx::query_scalar("SELECT value FROM settings WHERE name = $1")
                .bind(name)
                .fetch_optional(&self.pool)
                .await?,
        )
    }

    async fn get_or_insert_setting(&self, name: &str, value: &str) -> Result<String, StoreError> {
        sqlx::query("INSERT INTO settings (name, value) VALUES ($1, $2) ON CONFLICT DO NOTHING")
            .bind(name)
            .bind(value)
            .execute(&self.pool)
            .await?;
        Ok(
            sqlx::query_scalar("SELECT value FROM settings WHERE name = $1")
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
