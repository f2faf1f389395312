//! The shared SQL layer on SQLite: statements renumbered to `?N`, run on the writer's or a
//! reader's connection, and the [`Sql`] back end over the group-committing runtime.

use std::borrow::Cow;
use std::future::Future;
use std::task::{Context, Poll, Waker};

use async_trait::async_trait;
use rusqlite::types::{ToSqlOutput, ValueRef};
use rusqlite::{params_from_iter, Connection, ToSql};

use super::{BoxFut, Cell, Db, Dialect, Row, Sql, Value};
use crate::sqlite::SqliteStore;
use crate::{Result, StoreError};

/// A connection the shared SQL layer runs on. Holding it `mut` is what makes it `Send`.
pub(crate) struct SqliteDb<'c> {
    conn: &'c mut Connection,
}

impl ToSql for Value {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(match self {
            Value::Int(v) => v.to_sql()?,
            Value::Text(v) => v.to_sql()?,
            Value::Bool(v) => v.to_sql()?,
            Value::Float(v) => v.to_sql()?,
        })
    }
}

/// `$N` placeholders as SQLite numbers them (`?N`); SQLite would read `$1` as a *named*
/// parameter, numbered by where it first appears. Quoted text is left alone.
fn renumber(sql: &str) -> Cow<'_, str> {
    if !sql.contains('$') {
        return Cow::Borrowed(sql);
    }
    let mut out = String::with_capacity(sql.len());
    let mut quoted = false;
    let mut chars = sql.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\'' {
            quoted = !quoted;
        }
        if c == '$' && !quoted && chars.peek().is_some_and(char::is_ascii_digit) {
            out.push('?');
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

fn cell(v: ValueRef<'_>) -> Cell {
    match v {
        ValueRef::Null => Cell::Null,
        ValueRef::Integer(i) => Cell::Int(i),
        ValueRef::Real(f) => Cell::Float(f),
        ValueRef::Text(t) => Cell::Text(String::from_utf8_lossy(t).into_owned()),
        ValueRef::Blob(b) => Cell::Blob(b.to_vec()),
    }
}

impl SqliteDb<'_> {
    fn execute_now(&mut self, sql: &str, args: &[Value]) -> Result<u64> {
        let mut st = self.conn.prepare_cached(&renumber(sql))?;
        Ok(st.execute(params_from_iter(args.iter()))? as u64)
    }

    fn fetch_now(&mut self, sql: &str, args: &[Value]) -> Result<Vec<Row>> {
        let mut st = self.conn.prepare_cached(&renumber(sql))?;
        let n = st.column_count();
        let mut rows = st.query(params_from_iter(args.iter()))?;
        let mut out = Vec::new();
        while let Some(r) = rows.next()? {
            let mut cells = Vec::with_capacity(n);
            for i in 0..n {
                cells.push(cell(r.get_ref(i)?));
            }
            out.push(Row::new(cells));
        }
        Ok(out)
    }
}

#[async_trait]
impl Db for SqliteDb<'_> {
    fn dialect(&self) -> Dialect {
        Dialect::Sqlite
    }

    async fn execute(&mut self, sql: &str, args: Vec<Value>) -> Result<u64> {
        self.execute_now(sql, &args)
    }

    async fn fetch_all(&mut self, sql: &str, args: Vec<Value>) -> Result<Vec<Row>> {
        self.fetch_now(sql, &args)
    }
}

/// The shared SQL layer on this connection (the writer's, in its transaction, say).
pub(crate) fn on(conn: &mut Connection) -> SqliteDb<'_> {
    SqliteDb { conn }
}

/// Runs a shared-SQL future on an SQLite connection to its end right here. SQLite's calls block
/// instead of waiting, so such a future is ready at its first poll.
pub(crate) fn block<T>(fut: impl Future<Output = Result<T>>) -> Result<T> {
    let mut fut = std::pin::pin!(fut);
    match fut.as_mut().poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(r) => r,
        Poll::Pending => Err(StoreError::Commit(
            "an SQLite operation waited, which it never does".into(),
        )),
    }
}

#[async_trait]
impl Sql for SqliteStore {
    async fn write<S, T, F>(&self, state: S, op: F) -> Result<T>
    where
        S: Send + Sync + 'static,
        T: Send + 'static,
        F: for<'c> Fn(&'c mut dyn Db, &'c S) -> BoxFut<'c, T> + Send + Sync + 'static,
    {
        self.rt
            .write_mut(move |conn| block(op(&mut on(conn), &state)))
            .await
    }

    async fn read<S, T, F>(&self, state: S, op: F) -> Result<T>
    where
        S: Send + Sync + 'static,
        T: Send + 'static,
        F: for<'c> Fn(&'c mut dyn Db, &'c S) -> BoxFut<'c, T> + Send + Sync + 'static,
    {
        self.rt
            .read_mut(move |conn| block(op(&mut on(conn), &state)))
            .await
    }

    async fn lookup<S, T, F>(&self, state: S, op: F) -> Result<T>
    where
        S: Send + Sync + 'static,
        T: Send + 'static,
        F: for<'c> Fn(&'c mut dyn Db, &'c S) -> BoxFut<'c, T> + Send + Sync + 'static,
    {
        self.rt.lookup_mut(|conn| block(op(&mut on(conn), &state)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_are_renumbered_outside_quotes() {
        assert_eq!(
            renumber("SELECT $1, '$2', $10 WHERE a = $2"),
            "SELECT ?1, '$2', ?10 WHERE a = ?2"
        );
        assert!(matches!(renumber("SELECT 1"), Cow::Borrowed(_)));
    }

    #[test]
    fn statements_run_and_rows_decode() {
        let mut conn = Connection::open_in_memory().unwrap();
        let db: &mut dyn Db = &mut on(&mut conn);
        let rows = block(async move {
            {
                db.execute("CREATE TABLE t (a INTEGER, b TEXT)", vec![])
                    .await?;
                let n = db
                    .execute(
                        "INSERT INTO t (b, a) VALUES ($2, $1), ($3, $1)",
                        super::super::args![5i64, "x", None::<String>],
                    )
                    .await?;
                assert_eq!(n, 2);
                db.fetch_all("SELECT a, b FROM t ORDER BY b", vec![]).await
            }
        })
        .unwrap();
        assert_eq!(rows.len(), 2);
        let mut r = rows[1].clone();
        assert_eq!(r.get::<i64>().unwrap(), 5);
        assert_eq!(r.get::<String>().unwrap(), "x");
    }
}
