//! The shared SQL layer on PostgreSQL: statements bound and decoded through sqlx, and the
//! [`Sql`] back end over the pool.

use async_trait::async_trait;
use sqlx::postgres::{PgArguments, PgRow};
use sqlx::query::Query;
use sqlx::{PgConnection, Postgres, Row as _, TypeInfo, ValueRef};

use super::{BoxFut, Cell, Db, Dialect, Row, Sql, Value};
use crate::postgres::{is_deadlock, PgStore, DEADLOCK_RETRIES};
use crate::{Result, StoreError};

/// A connection (or transaction) the shared SQL layer runs on.
pub(crate) struct PgDb<'c> {
    conn: &'c mut PgConnection,
}

impl<'c> PgDb<'c> {
    /// Shared SQL on this connection (a hot-path transaction's, say).
    pub(crate) fn new(conn: &'c mut PgConnection) -> Self {
        Self { conn }
    }
}

fn bind(sql: &str, args: Vec<Value>) -> Query<'static, Postgres, PgArguments> {
    let mut q = sqlx::query(sqlx::AssertSqlSafe(sql.to_string()));
    for v in args {
        q = match v {
            Value::Int(v) => q.bind(v),
            Value::Text(v) => q.bind(v),
            Value::Bool(v) => q.bind(v),
            Value::Float(v) => q.bind(v),
        };
    }
    q
}

fn cell(row: &PgRow, i: usize) -> Result<Cell> {
    let raw = row.try_get_raw(i)?;
    if raw.is_null() {
        return Ok(Cell::Null);
    }
    let kind = raw.type_info().name().to_string();
    Ok(match kind.as_str() {
        "INT8" => Cell::Int(row.try_get::<i64, _>(i)?),
        "INT4" => Cell::Int(i64::from(row.try_get::<i32, _>(i)?)),
        "INT2" => Cell::Int(i64::from(row.try_get::<i16, _>(i)?)),
        "TEXT" | "VARCHAR" | "BPCHAR" | "NAME" => Cell::Text(row.try_get::<String, _>(i)?),
        "BOOL" => Cell::Bool(row.try_get::<bool, _>(i)?),
        "FLOAT8" => Cell::Float(row.try_get::<f64, _>(i)?),
        "FLOAT4" => Cell::Float(f64::from(row.try_get::<f32, _>(i)?)),
        "BYTEA" => Cell::Blob(row.try_get::<Vec<u8>, _>(i)?),
        other => {
            // NUMERIC (a SUM of BIGINT), UUID…: the shared SQL casts these to a kind above.
            return Err(StoreError::Corrupt(format!(
                "column {i} has type {other}, which the shared SQL layer does not read"
            )));
        }
    })
}

#[async_trait]
impl Db for PgDb<'_> {
    fn dialect(&self) -> Dialect {
        Dialect::Postgres
    }

    async fn execute(&mut self, sql: &str, args: Vec<Value>) -> Result<u64> {
        Ok(bind(sql, args)
            .execute(&mut *self.conn)
            .await?
            .rows_affected())
    }

    async fn fetch_all(&mut self, sql: &str, args: Vec<Value>) -> Result<Vec<Row>> {
        let rows = bind(sql, args).fetch_all(&mut *self.conn).await?;
        rows.iter()
            .map(|r| {
                (0..r.len())
                    .map(|i| cell(r, i))
                    .collect::<Result<Vec<_>>>()
                    .map(Row::new)
            })
            .collect()
    }
}

#[async_trait]
impl Sql for PgStore {
    async fn write<S, T, F>(&self, state: S, op: F) -> Result<T>
    where
        S: Send + Sync + 'static,
        T: Send + 'static,
        F: for<'c> Fn(&'c mut dyn Db, &'c S) -> BoxFut<'c, T> + Send + Sync + 'static,
    {
        let mut attempt = 0;
        loop {
            let mut tx = self.pool.begin().await?;
            match op(&mut PgDb { conn: &mut tx }, &state).await {
                Ok(out) => {
                    tx.commit().await?;
                    return Ok(out);
                }
                // Aborted to break a deadlock: nothing of it was kept, so it may run again.
                Err(e) if is_deadlock(&e) && attempt < DEADLOCK_RETRIES => attempt += 1,
                Err(e) => return Err(e),
            }
        }
    }

    async fn read<S, T, F>(&self, state: S, op: F) -> Result<T>
    where
        S: Send + Sync + 'static,
        T: Send + 'static,
        F: for<'c> Fn(&'c mut dyn Db, &'c S) -> BoxFut<'c, T> + Send + Sync + 'static,
    {
        let mut conn = self.pool.acquire().await?;
        op(&mut PgDb { conn: &mut conn }, &state).await
    }

    async fn lookup<S, T, F>(&self, state: S, op: F) -> Result<T>
    where
        S: Send + Sync + 'static,
        T: Send + 'static,
        F: for<'c> Fn(&'c mut dyn Db, &'c S) -> BoxFut<'c, T> + Send + Sync + 'static,
    {
        // Lookups by key run where prepared statements keep their generic plan (see `probes`).
        let mut conn = self.probes.acquire().await?;
        op(&mut PgDb { conn: &mut conn }, &state).await
    }
}
