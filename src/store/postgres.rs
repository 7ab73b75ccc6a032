//! The production store.

use std::str::FromStr;
use std::time::Duration;

use std::sync::LazyLock;

use sqlx::postgres::{PgArguments, PgConnectOptions, PgPool, PgPoolOptions, PgRow};
use sqlx::query::Query;

use super::sql::{COUNT_INSERTED_CSR, INSERT_CSR, INSERT_CSR_KEY, sql_store};
use super::{
    ChangeFeed, ConnectError, DatabaseOptions, PoolStats, StoreError, on_write,
    wait_until_reachable,
};

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

/// How long a pooled connection may sit idle before it is pinged on its next acquire.
const PING_AFTER_IDLE: Duration = Duration::from_secs(5);

#[derive(Debug, Clone)]
pub struct PostgresStore {
    pool: PgPool,
}

impl PostgresStore {
    /// Four connections per core: a request holds one only while its statements run, and
    /// most of that time is the round trip, so a core keeps several busy.
    pub fn default_connections(cores: u32) -> u32 {
        cores.saturating_mul(4)
    }

    /// Connects with at most `max_connections` and applies pending migrations, waiting up to
    /// `settings.connect_timeout` for the server to accept connections.
    pub async fn connect(
        url: &str,
        max_connections: u32,
        settings: &DatabaseOptions,
    ) -> Result<Self, ConnectError> {
        let options = PgConnectOptions::from_str(url).map_err(ConnectError::Open)?;
        let pool = PgPoolOptions::new()
            .max_connections(max_connections.max(1))
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
            // Also bounds opening a new connection: sqlx retries a refused connection only
            // until this deadline, so a request during an outage is answered quickly.
            .acquire_timeout(settings.acquire_timeout)
            .connect_lazy_with(options);
        wait_until_reachable(&pool, settings.connect_timeout).await?;
        MIGRATOR.run(&pool).await?;
        Ok(Self { pool })
    }

    pub fn pool(&self) -> &PgPool {
        &self.pool
    }
}

/// The Postgres dialect: the hooks `sql_store!` calls.
impl PostgresStore {
    const LOCK_CSR: Option<&'static str> =
        Some("SELECT id FROM custom_csrs WHERE id = $1 FOR KEY SHARE");
    // A transaction-scoped advisory lock per scope: two inserts into one zone queue for the
    // count, inserts into other zones do not wait.
    const LOCK_QUOTA: Option<&'static str> =
        Some("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))");
    // SKIP LOCKED lets concurrent claims each take a different row instead of queueing
    // behind (and then missing) the row another transaction is deleting.
    const CLAIM_LOCK: &'static str = " FOR UPDATE SKIP LOCKED";
    // NULLS FIRST ascending (and LAST descending) is SQLite's fixed behaviour; Postgres is
    // told explicitly so both backends page through unnamed CSRs identically.
    const SAY_NULLS_ORDER: bool = true;

    async fn begin_write(&self) -> Result<sqlx::Transaction<'static, sqlx::Postgres>, StoreError> {
        Ok(self.pool.begin().await?)
    }

    fn writer(&self) -> &PgPool {
        &self.pool
    }

    async fn begin_claim(&self) -> Result<sqlx::Transaction<'static, sqlx::Postgres>, StoreError> {
        // The claim need not wait for its commit to reach disk: WAL is flushed in order, so the
        // durable commit of the CSR that uses the key flushes the claim too, and a claim lost in
        // a crash before that only puts an unused key back in the pool.
        let mut tx = self.pool.begin().await?;
        sqlx::query("SET LOCAL synchronous_commit = off")
            .execute(&mut *tx)
            .await?;
        Ok(tx)
    }

    /// One statement, so one round trip and an implicit transaction: creating a CSR is the
    /// hot path, and BEGIN, three inserts and COMMIT cost five. Foreign keys are checked at
    /// the end of the statement, when the key row exists.
    fn csr_insert_sql() -> &'static str {
        static SQL: LazyLock<String> = LazyLock::new(|| {
            format!(
                "WITH new_key AS ({INSERT_CSR_KEY}), new_csr AS ({INSERT_CSR}) {COUNT_INSERTED_CSR}"
            )
        });
        &SQL
    }

    /// The statement is one already, and runs as well inside a transaction.
    fn csr_insert_in_transaction_sql() -> &'static str {
        Self::csr_insert_sql()
    }

    async fn execute_csr_insert(
        &self,
        query: Query<'_, sqlx::Postgres, PgArguments>,
    ) -> Result<(), StoreError> {
        query.execute(&self.pool).await.map_err(on_write)?;
        Ok(())
    }

    /// The writes notify through a trigger (see [`super::feed`]), so only the listening is
    /// here: on a connection of its own, as a LISTEN holds its connection for good.
    fn open_change_feed(&self) -> Option<ChangeFeed> {
        let options = PgConnectOptions::clone(&self.pool.connect_options());
        let acquire_timeout = self.pool.options().get_acquire_timeout();
        Some(ChangeFeed::postgres(options, acquire_timeout))
    }

    fn connection_stats(&self) -> PoolStats {
        PoolStats {
            size: self.pool.size(),
            idle: self.pool.num_idle(),
            max: self.pool.options().get_max_connections(),
        }
    }
}

sql_store!(PostgresStore, sqlx::Postgres, PgRow, MIGRATOR);
