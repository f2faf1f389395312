//! The store's one error type.

/// Why a store call failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database URL or options are unusable.
    #[error("database configuration: {0}")]
    Config(String),
    /// SQLite failed.
    #[error("sqlite: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// A transaction could not begin or commit; nothing of it was kept.
    #[error("transaction failed: {0}")]
    Commit(String),
    /// SQLite migrations failed.
    #[error("sqlite migration: {0}")]
    SqliteMigration(#[from] rusqlite_migration::Error),
    /// PostgreSQL failed.
    #[error("postgres: {0}")]
    Postgres(#[from] sqlx::Error),
    /// PostgreSQL migrations failed.
    #[error("postgres migration: {0}")]
    PostgresMigration(#[from] sqlx::migrate::MigrateError),
    /// A stored value could not be decoded.
    #[error("corrupt stored data: {0}")]
    Corrupt(String),
    /// A unique value (a contact's wa_id, say) is already another row's.
    #[error("conflict: {0}")]
    Conflict(String),
    /// The store is shutting down.
    #[error("store closed")]
    Closed,
    /// The store stopped accepting writes (SQLite, after a failed fsync) and stays so until
    /// restarted; what the call wrote, if anything, was never acknowledged.
    #[error("the store stopped accepting writes until restarted: {0}")]
    Unavailable(String),
}
