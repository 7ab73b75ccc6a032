//! The zero-setup default store: one SQLite file.

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use std::sync::LazyLock;

use sqlx::query::Query;
use sqlx::sqlite::{
    SqliteArguments, SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions,
    SqliteRow, SqliteSynchronous,
};

use super::sql::{COUNT_INSERTED_CSR, INSERT_CSR, INSERT_CSR_KEY, sql_store};
use super::{ChangeFeed, ConnectError, DatabaseOptions, PoolStats, StoreError, on_write};

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");

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
    /// The writer, one reader per core and one more, so a read waiting on the disk does not
    /// leave a core idle.
    pub fn default_connections(cores: u32) -> u32 {
        cores.saturating_add(2)
    }

    /// Connects with at most `max_connections`, the writer included (at least one reader is
    /// kept), and applies pending migrations.
    pub async fn connect(
        url: &str,
        max_connections: u32,
        settings: &DatabaseOptions,
    ) -> Result<Self, ConnectError> {
        let synchronous = match settings.sqlite_synchronous {
            super::SqliteSynchronous::Normal => SqliteSynchronous::Normal,
            super::SqliteSynchronous::Full => SqliteSynchronous::Full,
        };
        let options = SqliteConnectOptions::from_str(url)
            .map_err(ConnectError::Open)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(synchronous)
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
            .acquire_timeout(settings.acquire_timeout)
            .connect_lazy_with(options.clone());
        // The first open (file creation, WAL set-up) gets the start-up budget, not a request's
        // acquire timeout: on a busy machine it can take longer than a request may wait.
        super::wait_until_reachable(&writer, settings.connect_timeout).await?;
        MIGRATOR.run(&writer).await?;
        let pool = SqlitePoolOptions::new()
            .max_connections(max_connections.saturating_sub(1).max(1))
            .test_before_acquire(false)
            .acquire_timeout(settings.acquire_timeout)
            .connect_lazy_with(options);
        super::wait_until_reachable(&pool, settings.connect_timeout).await?;
        Ok(Self { pool, writer })
    }

    pub fn pool(&self) -> &SqlitePool {
        &self.pool
    }
}

/// The SQLite dialect: the hooks `sql_store!` calls.
impl SqliteStore {
    /// Write transactions are serialised by the single writer, so no row lock is needed.
    const LOCK_CSR: Option<&'static str> = None;
    const LOCK_QUOTA: Option<&'static str> = None;
    const CLAIM_LOCK: &'static str = "";
    // SQLite sorts NULL first ascending and last descending, as the Postgres store requests;
    // the list indexes are declared that way, so the default order walks them.
    const SAY_NULLS_ORDER: bool = false;

    async fn begin_write(&self) -> Result<sqlx::Transaction<'static, sqlx::Sqlite>, StoreError> {
        Ok(self.writer.begin_with(BEGIN_WRITE).await?)
    }

    fn writer(&self) -> &SqlitePool {
        &self.writer
    }

    async fn begin_claim(&self) -> Result<sqlx::Transaction<'static, sqlx::Sqlite>, StoreError> {
        // The write lock is taken first, so the select and the delete see the same pool and
        // two claims cannot pick the same row.
        self.begin_write().await
    }

    /// The whole transaction goes to the connection's worker thread as one script: each
    /// statement sent on its own is a thread hand-off there and back, the main cost of this
    /// path. `$n` parameters are numbered across the whole script.
    fn csr_insert_sql() -> &'static str {
        static SQL: LazyLock<String> = LazyLock::new(|| {
            format!("{BEGIN_WRITE}; {INSERT_CSR_KEY}; {INSERT_CSR}; {COUNT_INSERTED_CSR}; COMMIT")
        });
        &SQL
    }

    fn csr_insert_in_transaction_sql() -> &'static str {
        static SQL: LazyLock<String> =
            LazyLock::new(|| format!("{INSERT_CSR_KEY}; {INSERT_CSR}; {COUNT_INSERTED_CSR}"));
        &SQL
    }

    async fn execute_csr_insert<'q>(
        &self,
        query: Query<'q, sqlx::Sqlite, SqliteArguments<'q>>,
    ) -> Result<(), StoreError> {
        let mut connection = self.writer.acquire().await?;
        // Requests run to completion (see `http::run_to_completion`), so the script is never
        // abandoned half-way.
        if let Err(error) = query.execute(&mut *connection).await {
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

    /// One file, one instance: its edge hears of its writes through `ServedChanges` alone.
    fn open_change_feed(&self) -> Option<ChangeFeed> {
        None
    }

    fn connection_stats(&self) -> PoolStats {
        PoolStats {
            size: self.pool.size() + self.writer.size(),
            idle: self.pool.num_idle() + self.writer.num_idle(),
            max: self.pool.options().get_max_connections()
                + self.writer.options().get_max_connections(),
        }
    }
}

sql_store!(SqliteStore, sqlx::Sqlite, SqliteRow, MIGRATOR);

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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Store;

    #[tokio::test]
    async fn the_configured_connection_count_includes_the_writer() {
        let dir = tempfile::tempdir().expect("temp dir");
        let url = format!("sqlite://{}", dir.path().join("edgecert.db").display());
        let settings = DatabaseOptions::default();
        let store = SqliteStore::connect(&url, 5, &settings)
            .await
            .expect("opens");
        assert_eq!(store.pool_stats().max, 5);
        let store = SqliteStore::connect(&url, 1, &settings)
            .await
            .expect("opens");
        assert_eq!(store.pool_stats().max, 2, "one reader is always kept");
    }
}
