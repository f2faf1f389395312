//! What a back end counts of its own writes, for `chasqui bench` and an operator's diagnostics.

/// The writes a store counted itself since it was opened.
pub trait WriteCounters {
    /// Rows inserted, updated or deleted since the store was opened, as the database counts
    /// them; `None` where the database's own statistics count them instead (PostgreSQL:
    /// `pg_stat_user_tables`, per table).
    fn rows_changed(&self) -> Option<u64> {
        None
    }
}

impl WriteCounters for crate::PgStore {}
