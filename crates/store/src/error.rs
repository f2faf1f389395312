//! The store's one error type.

/// Why a store call failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database URL or options are unusable.
    #[error("database configuration: {0}")]
    Config(String),
    /// SQLite failed.
    #[error("sqlite: {0}")]
    Sqlite(rusqlite::Error),
    /// A transaction could not begin or commit; nothing of it was kept.
    #[error("transaction failed: {0}")]
    Commit(String),
    /// SQLite migrations failed.
    #[error("sqlite migration: {0}")]
    SqliteMigration(#[from] rusqlite_migration::Error),
    /// PostgreSQL failed.
    #[error("postgres: {0}")]
    Postgres(sqlx::Error),
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

// A stored value that does not decode (text in a number column, NULL where a value must be, a
// value the row reader refuses) is corrupt data on either back end, never a driver failure.
impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> Self {
        use rusqlite::Error as E;
        match e {
            E::FromSqlConversionFailure(column, _, why) => match why.downcast::<StoreError>() {
                Ok(store) => *store,
                Err(why) => Self::Corrupt(format!("column {column}: {why}")),
            },
            E::InvalidColumnType(column, name, ty) => {
                Self::Corrupt(format!("column {column} ({name}) holds {ty}"))
            }
            E::IntegralValueOutOfRange(column, value) => {
                Self::Corrupt(format!("column {column} holds {value}, out of range"))
            }
            e => Self::Sqlite(e),
        }
    }
}

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> Self {
        match e {
            sqlx::Error::ColumnDecode { index, source } => {
                Self::Corrupt(format!("column {index}: {source}"))
            }
            sqlx::Error::Decode(why) => Self::Corrupt(why.to_string()),
            e => Self::Postgres(e),
        }
    }
}

/// Which integrity rule a failed statement broke, whichever driver ran it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Constraint {
    /// A unique index or primary key.
    Unique,
    /// A foreign key: the row names one that does not exist (or is still named).
    ForeignKey,
    /// A NOT NULL column got none.
    NotNull,
    /// A CHECK constraint.
    Check,
}

impl StoreError {
    /// The integrity rule this error reports breaking, if it is one.
    pub(crate) fn constraint(&self) -> Option<Constraint> {
        match self {
            StoreError::Sqlite(rusqlite::Error::SqliteFailure(f, _)) => {
                use rusqlite::ffi;
                match f.extended_code {
                    ffi::SQLITE_CONSTRAINT_UNIQUE | ffi::SQLITE_CONSTRAINT_PRIMARYKEY => {
                        Some(Constraint::Unique)
                    }
                    ffi::SQLITE_CONSTRAINT_FOREIGNKEY => Some(Constraint::ForeignKey),
                    ffi::SQLITE_CONSTRAINT_NOTNULL => Some(Constraint::NotNull),
                    ffi::SQLITE_CONSTRAINT_CHECK => Some(Constraint::Check),
                    _ => None,
                }
            }
            StoreError::Postgres(sqlx::Error::Database(db)) => match db.code().as_deref() {
                Some("23505") => Some(Constraint::Unique),
                Some("23503") => Some(Constraint::ForeignKey),
                Some("23502") => Some(Constraint::NotNull),
                Some("23514") => Some(Constraint::Check),
                _ => None,
            },
            _ => None,
        }
    }

    /// Whether this error is a unique violation on `table.column` (SQLite names the columns,
    /// PostgreSQL the constraint or index: `table_pkey` for the id, `table_column…` otherwise).
    pub(crate) fn is_unique_on(&self, table: &str, column: &str) -> bool {
        if self.constraint() != Some(Constraint::Unique) {
            return false;
        }
        match self {
            StoreError::Sqlite(rusqlite::Error::SqliteFailure(_, Some(message))) => message
                .split([':', ','])
                .any(|part| part.trim() == format!("{table}.{column}")),
            StoreError::Postgres(sqlx::Error::Database(db)) => db.constraint().is_some_and(|c| {
                if column == "id" {
                    c == format!("{table}_pkey")
                } else {
                    c.starts_with(&format!("{table}_{column}"))
                }
            }),
            _ => false,
        }
    }
}
