//! What the store's test files share: a fresh database on either back end, dropped afterwards.

use std::sync::Arc;

use chasqui_store::Store;

const PG_ADMIN_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";

/// A fresh database, removed when dropped.
pub struct Db {
    pub url: String,
    dir: Option<std::path::PathBuf>,
    pg_name: Option<String>,
}

/// Which back end a [`Db`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Db {
    pub async fn sqlite() -> Self {
        let tag = uuid::Uuid::now_v7().simple().to_string();
        let dir = std::env::temp_dir().join(format!("chasqui-store-test-{tag}"));
        std::fs::create_dir_all(&dir).expect("temp dir");
        Self {
            url: format!("sqlite://{}/q.db", dir.display()),
            dir: Some(dir),
            pg_name: None,
        }
    }

    pub async fn postgres() -> Self {
        Self::postgres_named("store_test").await
    }

    /// A fresh PostgreSQL database whose name holds `label`, to tell one test's databases from
    /// another's.
    pub async fn postgres_named(label: &str) -> Self {
        use sqlx::{Connection, Executor};
        let name = format!("chasqui_{label}_{}", uuid::Uuid::now_v7().simple());
        let mut admin = sqlx::PgConnection::connect(PG_ADMIN_URL)
            .await
            .unwrap_or_else(|e| {
                panic!("PostgreSQL tests need a server at {PG_ADMIN_URL} (trust auth): {e}")
            });
        admin
            .execute(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .await
            .expect("create database");
        Self {
            url: format!("postgres://postgres@127.0.0.1:5432/{name}"),
            dir: None,
            pg_name: Some(name),
        }
    }

    /// Which back end this is.
    pub fn backend(&self) -> Backend {
        if self.pg_name.is_some() {
            Backend::Postgres
        } else {
            Backend::Sqlite
        }
    }

    /// Runs one plain SQL statement on the database behind the store's back (rusqlite on the
    /// SQLite file, sqlx on PostgreSQL): how tests corrupt a row the store wrote. Answers how
    /// many rows it changed, or why the database refused it (a PostgreSQL type or NOT NULL
    /// check, say: then the schema itself keeps that corruption out).
    pub async fn exec(&self, sql: &str) -> Result<u64, String> {
        match self.backend() {
            Backend::Sqlite => {
                let path = self
                    .url
                    .strip_prefix("sqlite://")
                    .expect("sqlite url")
                    .to_owned();
                let sql = sql.to_owned();
                tokio::task::spawn_blocking(move || {
                    let conn = rusqlite::Connection::open(path).map_err(|e| e.to_string())?;
                    conn.busy_timeout(std::time::Duration::from_secs(10))
                        .map_err(|e| e.to_string())?;
                    conn.execute(&sql, [])
                        .map(|n| n as u64)
                        .map_err(|e| e.to_string())
                })
                .await
                .expect("exec task")
            }
            Backend::Postgres => {
                use sqlx::{Connection, Executor};
                let mut conn = sqlx::PgConnection::connect(&self.url)
                    .await
                    .map_err(|e| e.to_string())?;
                let done = conn
                    .execute(sqlx::AssertSqlSafe(sql.to_owned()))
                    .await
                    .map_err(|e| e.to_string())?;
                Ok(done.rows_affected())
            }
        }
    }

    pub async fn open(&self) -> Arc<dyn Store> {
        let store = chasqui_store::open(&self.url).await.expect("open");
        store.migrate().await.expect("migrate");
        store
    }
}

impl Drop for Db {
    fn drop(&mut self) {
        if let Some(dir) = &self.dir {
            let _ = std::fs::remove_dir_all(dir);
        }
        if let Some(name) = self.pg_name.take() {
            let _ = std::thread::spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("rt");
                rt.block_on(async move {
                    use sqlx::{Connection, Executor};
                    if let Ok(mut admin) = sqlx::PgConnection::connect(PG_ADMIN_URL).await {
                        let _ = admin
                            .execute(sqlx::AssertSqlSafe(format!(
                                "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
                            )))
                            .await;
                    }
                });
            })
            .join();
        }
    }
}
