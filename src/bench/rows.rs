//! Row writes in the store over a phase: PostgreSQL's `pg_stat_user_tables` (per table), or the
//! count SQLite keeps itself (`sqlite3_total_changes` on the writer connection, which the server
//! logs when asked and at shutdown).

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use sqlx::postgres::PgPoolOptions;
use sqlx::PgPool;

use super::procs::Server;

/// How long PostgreSQL's counters may take to stop moving once the server is gone.
const SETTLE_TIMEOUT: Duration = Duration::from_secs(30);

/// Rows inserted, updated and deleted in one table.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Changes {
    pub inserted: u64,
    pub updated: u64,
    pub deleted: u64,
}

impl Changes {
    pub fn total(&self) -> u64 {
        self.inserted + self.updated + self.deleted
    }

    fn since(self, before: Self) -> Self {
        Self {
            inserted: self.inserted.saturating_sub(before.inserted),
            updated: self.updated.saturating_sub(before.updated),
            deleted: self.deleted.saturating_sub(before.deleted),
        }
    }
}

/// The counters at one moment.
#[derive(Debug, Clone)]
pub enum Reading {
    Postgres(PgReading),
    Sqlite { rows: u64 },
}

/// PostgreSQL's counters at one moment.
#[derive(Debug, Clone)]
pub struct PgReading {
    tables: BTreeMap<String, Changes>,
    /// The WAL position, bytes.
    wal_bytes: u64,
}

impl PgReading {
    /// The tables written since `before`, most written first.
    fn since(self, before: &PgReading) -> Vec<(String, Changes)> {
        let mut changed: Vec<(String, Changes)> = self
            .tables
            .into_iter()
            .map(|(name, c)| {
                let start = before.tables.get(&name).copied().unwrap_or_default();
                (name, c.since(start))
            })
            .filter(|(_, c)| c.total() > 0)
            .collect();
        changed.sort_by(|a, b| b.1.total().cmp(&a.1.total()).then(a.0.cmp(&b.0)));
        changed
    }
}

/// Row writes over a phase.
#[derive(Debug, Clone, Default)]
pub struct RowWrites {
    pub total: u64,
    /// Per table, most written first (PostgreSQL only: SQLite counts rows, not tables).
    pub tables: Vec<(String, Changes)>,
    /// WAL the PostgreSQL cluster wrote meanwhile, every database's.
    pub wal_bytes: Option<u64>,
    /// False when PostgreSQL's counters were still moving at `SETTLE_TIMEOUT`.
    pub settled: bool,
}

/// Where row writes are counted.
pub enum RowCounter {
    Postgres(PgPool),
    Sqlite,
}

impl RowCounter {
    pub async fn for_database(url: &str) -> Result<Self, String> {
        if !url.starts_with("postgres") {
            return Ok(Self::Sqlite);
        }
        // One connection, so the only backends on the database besides it are the server's.
        let pool = PgPoolOptions::new()
            .max_connections(1)
            .connect(url)
            .await
            .map_err(|e| format!("cannot connect to {url} to read its statistics: {e}"))?;
        Ok(Self::Postgres(pool))
    }

    /// Reads the counters at the start of a phase.
    pub async fn start(&self, server: &Server) -> Result<Reading, String> {
        match self {
            Self::Postgres(pool) => read_postgres(pool).await.map(Reading::Postgres),
            Self::Sqlite => Ok(Reading::Sqlite {
                rows: server.rows_changed()?,
            }),
        }
    }

    /// The writes since `start`, read once the server has stopped: `at_shutdown` is the count
    /// it logged then (SQLite). A PostgreSQL backend reports its counts at most once a second
    /// while busy and ten seconds after it goes idle, but always when it exits; so this waits
    /// until the server's backends are gone and the counters stop moving.
    /// (`pg_stat_force_next_flush()` only flushes the backend that calls it.)
    pub async fn end(
        &self,
        start: &Reading,
        at_shutdown: Option<u64>,
    ) -> Result<RowWrites, String> {
        match (self, start) {
            (Self::Postgres(pool), Reading::Postgres(start)) => {
                let (end, settled) = settle(pool).await?;
                let wal_bytes = end.wal_bytes.saturating_sub(start.wal_bytes);
                let tables = end.since(start);
                Ok(RowWrites {
                    total: tables.iter().map(|(_, c)| c.total()).sum(),
                    tables,
                    wal_bytes: Some(wal_bytes),
                    settled,
                })
            }
            (Self::Sqlite, Reading::Sqlite { rows }) => {
                let end = at_shutdown.ok_or("the server logged no write count at shutdown")?;
                Ok(RowWrites {
                    total: end.saturating_sub(*rows),
                    settled: true,
                    ..RowWrites::default()
                })
            }
            _ => Err("a phase's readings come from two back ends".into()),
        }
    }
}

async fn read_postgres(pool: &PgPool) -> Result<PgReading, String> {
    let rows: Vec<(String, i64, i64, i64)> = sqlx::query_as(
        "SELECT schemaname || '.' || relname, n_tup_ins, n_tup_upd, n_tup_del \
         FROM pg_stat_user_tables",
    )
    .fetch_all(pool)
    .await
    .map_err(|e| format!("cannot read pg_stat_user_tables: {e}"))?;
    let (wal,): (i64,) =
        sqlx::query_as("SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), '0/0')::bigint")
            .fetch_one(pool)
            .await
            .map_err(|e| format!("cannot read the WAL position: {e}"))?;
    let count = |n: i64| u64::try_from(n).unwrap_or_default();
    let tables = rows
        .into_iter()
        .map(|(name, ins, upd, del)| {
            let name = name
                .strip_prefix("public.")
                .map(str::to_string)
                .unwrap_or(name);
            let changes = Changes {
                inserted: count(ins),
                updated: count(upd),
                deleted: count(del),
            };
            (name, changes)
        })
        .collect();
    Ok(PgReading {
        tables,
        wal_bytes: count(wal),
    })
}

/// Client connections to this database other than ours.
async fn other_clients(pool: &PgPool) -> Result<i64, String> {
    let (n,): (i64,) = sqlx::query_as(
        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() \
         AND backend_type = 'client backend' AND pid <> pg_backend_pid()",
    )
    .fetch_one(pool)
    .await
    .map_err(|e| format!("cannot read pg_stat_activity: {e}"))?;
    Ok(n)
}

/// Reads the counters once no other client is connected and two readings agree; answers
/// whether they did before `SETTLE_TIMEOUT`.
async fn settle(pool: &PgPool) -> Result<(PgReading, bool), String> {
    let deadline = Instant::now() + SETTLE_TIMEOUT;
    let mut last: Option<BTreeMap<String, Changes>> = None;
    loop {
        let alone = other_clients(pool).await? == 0;
        let reading = read_postgres(pool).await?;
        if alone && last.as_ref() == Some(&reading.tables) {
            return Ok((reading, true));
        }
        if Instant::now() > deadline {
            return Ok((reading, false));
        }
        last = alone.then(|| reading.tables.clone());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
