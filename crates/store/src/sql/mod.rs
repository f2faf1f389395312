//! The shared SQL layer: what is not the hot path is written once, in SQL both back ends accept
//! (PostgreSQL's `$N` placeholders; SQLite's executor renumbers them), run through the [`Db`]
//! executor, and read back with one row mapper per type over a driver-neutral [`Row`].
//!
//! A back end implements [`Sql`]: where a transaction runs (SQLite: inside the writer's group
//! commit; PostgreSQL: a pooled connection's transaction). The store traits built on it are
//! implemented once, for every `Sql` back end.

mod postgres;
mod sqlite;
mod value;

pub(crate) use postgres::PgDb;
pub(crate) use sqlite::{block, on};

use std::future::Future;
use std::pin::Pin;

use async_trait::async_trait;

pub(crate) use value::{Cell, FromCell, Row, Value};

use crate::Result;

/// A boxed, sendable future of a store result: what an operation on a [`Db`] returns.
pub(crate) type BoxFut<'a, T> = Pin<Box<dyn Future<Output = Result<T>> + Send + 'a>>;

/// Which driver runs a statement, for the few places the SQL itself must differ.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Dialect {
    Sqlite,
    Postgres,
}

/// Runs statements on one connection (inside a transaction when given by [`Sql::write`]).
#[async_trait]
pub(crate) trait Db: Send {
    /// The driver behind this connection.
    fn dialect(&self) -> Dialect;
    /// Runs a statement; answers how many rows it changed.
    async fn execute(&mut self, sql: &str, args: Vec<Value>) -> Result<u64>;
    /// Runs a query; answers every row.
    async fn fetch_all(&mut self, sql: &str, args: Vec<Value>) -> Result<Vec<Row>>;
}

impl dyn Db + '_ {
    /// The first row of a query, if any.
    pub(crate) async fn fetch_optional(
        &mut self,
        sql: &str,
        args: Vec<Value>,
    ) -> Result<Option<Row>> {
        Ok(self.fetch_all(sql, args).await?.into_iter().next())
    }

    /// Every row of a query, each read by `map`.
    pub(crate) async fn fetch_map<T>(
        &mut self,
        sql: &str,
        args: Vec<Value>,
        map: fn(&mut Row) -> Result<T>,
    ) -> Result<Vec<T>> {
        let mut rows = self.fetch_all(sql, args).await?;
        rows.iter_mut().map(map).collect()
    }

    /// The first row of a query, read by `map`, if any.
    pub(crate) async fn fetch_one_map<T>(
        &mut self,
        sql: &str,
        args: Vec<Value>,
        map: fn(&mut Row) -> Result<T>,
    ) -> Result<Option<T>> {
        match self.fetch_optional(sql, args).await? {
            Some(mut row) => Ok(Some(map(&mut row)?)),
            None => Ok(None),
        }
    }

    /// The first column of the first row of a query (an aggregate, say).
    pub(crate) async fn scalar<T: FromCell>(&mut self, sql: &str, args: Vec<Value>) -> Result<T> {
        match self.fetch_optional(sql, args).await? {
            Some(mut row) => row.get(),
            None => Err(crate::StoreError::Corrupt(format!(
                "a query that always answers a row answered none: {sql}"
            ))),
        }
    }
}

/// ` FOR UPDATE SKIP LOCKED` where instances share the rows a claim picks (PostgreSQL); SQLite's
/// one writer already runs alone.
pub(crate) fn skip_locked(db: &dyn Db) -> &'static str {
    match db.dialect() {
        Dialect::Postgres => " FOR UPDATE SKIP LOCKED",
        Dialect::Sqlite => "",
    }
}

/// ` FOR UPDATE` where rows must be locked to be read consistently (PostgreSQL); SQLite's one
/// writer already runs alone.
pub(crate) fn for_update(db: &dyn Db) -> &'static str {
    match db.dialect() {
        Dialect::Postgres => " FOR UPDATE",
        Dialect::Sqlite => "",
    }
}

/// The larger of two values: SQLite's scalar `max`, PostgreSQL's `GREATEST`.
pub(crate) fn greatest(db: &dyn Db) -> &'static str {
    match db.dialect() {
        Dialect::Sqlite => "max",
        Dialect::Postgres => "GREATEST",
    }
}

/// `$from, $from+1, …` for `n` values: a list to put in `IN (…)`.
pub(crate) fn placeholders(from: usize, n: usize) -> String {
    (from..from + n)
        .map(|i| format!("${i}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The objects of the JSON array in parameter `param` as rows of a `FROM` item named `r`, one
/// column per `(name, PostgreSQL type)`: many rows written with one parameter.
pub(crate) fn json_records(db: &dyn Db, param: &str, columns: &[(&str, &str)]) -> String {
    match db.dialect() {
        Dialect::Sqlite => {
            let fields: Vec<String> = columns
                .iter()
                .map(|(c, _)| format!("json_extract(value, '$.{c}') AS {c}"))
                .collect();
            format!("(SELECT {} FROM json_each({param})) r", fields.join(", "))
        }
        Dialect::Postgres => {
            let fields: Vec<String> = columns.iter().map(|(c, t)| format!("{c} {t}")).collect();
            format!(
                "json_to_recordset({param}::json) AS r({})",
                fields.join(", ")
            )
        }
    }
}

/// A back end the shared SQL layer can run on.
#[async_trait]
pub(crate) trait Sql: Send + Sync + 'static {
    /// Runs `op` in one transaction and answers after it is durably committed; on error nothing
    /// of it is kept. On SQLite `op` may run twice (see `sqlite::runtime`): it must only touch
    /// the database.
    async fn write<S, T, F>(&self, state: S, op: F) -> Result<T>
    where
        S: Send + Sync + 'static,
        T: Send + 'static,
        F: for<'c> Fn(&'c mut dyn Db, &'c S) -> BoxFut<'c, T> + Send + Sync + 'static;

    /// Runs `op` on a connection of its own, for reads whose time grows with the data (no
    /// transaction is promised).
    async fn read<S, T, F>(&self, state: S, op: F) -> Result<T>
    where
        S: Send + Sync + 'static,
        T: Send + 'static,
        F: for<'c> Fn(&'c mut dyn Db, &'c S) -> BoxFut<'c, T> + Send + Sync + 'static;

    /// Like [`Sql::read`], for lookups by key: SQLite answers them on the calling thread, which
    /// takes less than handing them to another.
    async fn lookup<S, T, F>(&self, state: S, op: F) -> Result<T>
    where
        S: Send + Sync + 'static,
        T: Send + 'static,
        F: for<'c> Fn(&'c mut dyn Db, &'c S) -> BoxFut<'c, T> + Send + Sync + 'static,
    {
        self.read(state, op).await
    }
}

/// Builds a statement's arguments: `args![a, b]` is `vec![Value::from(a), Value::from(b)]`.
macro_rules! args {
    ($($v:expr),* $(,)?) => { vec![$($crate::sql::Value::from($v)),*] };
}
pub(crate) use args;
