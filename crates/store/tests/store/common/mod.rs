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
        use sqlx::{Connection, Executor};
        let name = format!("chasqui_store_test_{}", uuid::Uuid::now_v7().simple());
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
