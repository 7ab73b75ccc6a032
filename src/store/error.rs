//! What a store operation can fail with, and how database errors map onto it.

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
    /// An insert was refused: the scope already holds `limit` rows of the kind.
    #[error("quota of {limit} reached")]
    QuotaExceeded { limit: u64 },
    /// The database cannot be reached or used right now (no connection within the acquire
    /// timeout, connection refused or cut, server shutting down, I/O error): retrying later
    /// may succeed, and nothing was written.
    #[error("database unavailable: {0}")]
    Unavailable(#[source] sqlx::Error),
    /// The database has no room for the write (disk full); nothing was written.
    #[error("database storage is full: {0}")]
    StorageFull(#[source] sqlx::Error),
    #[error(transparent)]
    Database(sqlx::Error),
    #[error(transparent)]
    Migrate(#[from] sqlx::migrate::MigrateError),
}

/// Every sqlx error becomes a `StoreError` here (through `?` and [`on_write`]/[`on_delete`]),
/// so this is the one place that tells an unavailable or full database from other failures.
impl From<sqlx::Error> for StoreError {
    fn from(error: sqlx::Error) -> Self {
        match classify(&error) {
            Failure::Unavailable => StoreError::Unavailable(error),
            Failure::StorageFull => StoreError::StorageFull(error),
            Failure::Other => StoreError::Database(error),
        }
    }
}

pub(super) enum Failure {
    Unavailable,
    StorageFull,
    Other,
}

pub(super) fn classify(error: &sqlx::Error) -> Failure {
    match error {
        // The pool found no usable connection in time: every connection busy, or none could
        // be opened (sqlx retries a refused connection until the acquire deadline).
        sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed => Failure::Unavailable,
        // Refused, reset or cut connections, and SQLite's worker thread gone.
        sqlx::Error::Io(_) | sqlx::Error::Tls(_) | sqlx::Error::WorkerCrashed => {
            Failure::Unavailable
        }
        sqlx::Error::Database(db) => {
            let code = db.code().unwrap_or_default();
            if db.try_downcast_ref::<sqlx::sqlite::SqliteError>().is_some() {
                code.parse().map_or(Failure::Other, classify_sqlite_code)
            } else {
                classify_sqlstate(&code)
            }
        }
        _ => Failure::Other,
    }
}

/// A SQLite extended result code.
fn classify_sqlite_code(code: i32) -> Failure {
    // The primary result code is the low byte of an extended one.
    match code & 0xff {
        // SQLITE_FULL: the disk (or a file-size limit) has no room for the write.
        13 => Failure::StorageFull,
        // SQLITE_BUSY (the lock stayed taken past busy_timeout), SQLITE_IOERR,
        // SQLITE_CANTOPEN: the file cannot be used now, the data is not wrong.
        5 | 10 | 14 => Failure::Unavailable,
        _ => Failure::Other,
    }
}

/// A Postgres SQLSTATE.
fn classify_sqlstate(code: &str) -> Failure {
    match code {
        // disk_full
        "53100" => Failure::StorageFull,
        // too_many_connections, admin/crash shutdown, cannot_connect_now (starting up or
        // recovering), and the whole connection_exception class.
        "53300" | "57P01" | "57P02" | "57P03" => Failure::Unavailable,
        _ if code.starts_with("08") => Failure::Unavailable,
        _ => Failure::Other,
    }
}

/// Maps constraint violations of an insert or update: a duplicate, or a reference to a row
/// that a concurrent delete removed.
pub(crate) fn on_write(error: sqlx::Error) -> StoreError {
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
    error.into()
}

/// Maps a foreign-key violation of a delete: the row is still referenced.
pub(crate) fn on_delete(error: sqlx::Error) -> StoreError {
    if let sqlx::Error::Database(db) = &error
        && db.kind() == sqlx::error::ErrorKind::ForeignKeyViolation
    {
        return StoreError::InUse(db.message().to_string());
    }
    error.into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn database_codes_are_classified_by_what_a_retry_can_fix() {
        let name = |failure| match failure {
            Failure::Unavailable => "unavailable",
            Failure::StorageFull => "full",
            Failure::Other => "other",
        };
        // SQLite: SQLITE_FULL, SQLITE_IOERR_WRITE (extended), SQLITE_BUSY, a unique constraint.
        assert_eq!(name(classify_sqlite_code(13)), "full");
        assert_eq!(name(classify_sqlite_code(10 | (3 << 8))), "unavailable");
        assert_eq!(name(classify_sqlite_code(5)), "unavailable");
        assert_eq!(name(classify_sqlite_code(2067)), "other");
        // Postgres: disk_full, admin_shutdown, connection_failure, unique_violation.
        assert_eq!(name(classify_sqlstate("53100")), "full");
        assert_eq!(name(classify_sqlstate("57P01")), "unavailable");
        assert_eq!(name(classify_sqlstate("08006")), "unavailable");
        assert_eq!(name(classify_sqlstate("23505")), "other");
    }
}
