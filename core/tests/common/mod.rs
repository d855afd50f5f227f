//! What the store test files share: a fresh store on SQLite and, when
//! `TANDEM_TEST_PG_URL` is set, on PostgreSQL.

use std::sync::atomic::{AtomicU32, Ordering};

use sea_orm::{ConnectionTrait, Database};

/// Where a test's store lives; `cleanup` removes it.
pub enum Backend {
    Sqlite {
        /// Removed when dropped.
        _dir: tempfile::TempDir,
    },
    Postgres {
        server: String,
        database: String,
    },
}

impl Backend {
    /// A fresh SQLite file in a temporary directory.
    pub fn sqlite() -> (Backend, String) {
        let dir = tempfile::tempdir().expect("temporary directory");
        let url = format!("sqlite:{}", dir.path().join("state.db").display());
        (Backend::Sqlite { _dir: dir }, url)
    }

    /// A fresh database on the server of `TANDEM_TEST_PG_URL`, or `None`
    /// when it is not set.
    pub async fn postgres() -> Option<(Backend, String)> {
        let Ok(server) = std::env::var("TANDEM_TEST_PG_URL") else {
            println!("skipping PostgreSQL store tests: TANDEM_TEST_PG_URL is not set");
            return None;
        };
        static COUNTER: AtomicU32 = AtomicU32::new(0);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .subsec_nanos();
        let database = format!(
            "tandem_store_{}_{}_{}",
            std::process::id(),
            nanos,
            COUNTER.fetch_add(1, Ordering::Relaxed)
        );
        let admin = Database::connect(&server)
            .await
            .expect("connect to PostgreSQL");
        admin
            .execute_unprepared(&format!("CREATE DATABASE {database}"))
            .await
            .expect("create test database");
        admin.close().await.ok();
        let url = with_database(&server, &database);
        Some((Backend::Postgres { server, database }, url))
    }

    /// Removes the store (the PostgreSQL database; the SQLite directory goes
    /// when it is dropped).
    pub async fn cleanup(self) {
        if let Backend::Postgres { server, database } = self {
            let admin = Database::connect(&server)
                .await
                .expect("connect to PostgreSQL");
            admin
                .execute_unprepared(&format!("DROP DATABASE IF EXISTS {database} WITH (FORCE)"))
                .await
                .expect("drop test database");
            admin.close().await.ok();
        }
    }
}

/// `url` with its database name replaced.
pub fn with_database(url: &str, database: &str) -> String {
    let scheme_end = url.find("://").map_or(0, |i| i + 3);
    let path_start = url[scheme_end..]
        .find('/')
        .map_or(url.len(), |i| scheme_end + i);
    let query = url[path_start..]
        .find('?')
        .map_or("", |i| &url[path_start + i..]);
    format!("{}/{database}{query}", &url[..path_start])
}

/// Runs each test body against SQLite and PostgreSQL. A body gets the
/// store's URL (to open it again) and an open store.
#[macro_export]
macro_rules! store_tests {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test]
                async fn $name() {
                    let (backend, url) = $crate::common::Backend::sqlite();
                    let store = tandem_core::store::StateStore::open(&url).await.expect("open store");
                    super::$name(&url, store).await;
                    backend.cleanup().await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test]
                async fn $name() {
                    let Some((backend, url)) = $crate::common::Backend::postgres().await else {
                        return;
                    };
                    let store = tandem_core::store::StateStore::open(&url).await.expect("open store");
                    super::$name(&url, store).await;
                    backend.cleanup().await;
                }
            )*
        }
    };
}
