//! A fresh store on either backend, so that the governance tests run against both
//! (the same pattern as accord-store's own suite).

use std::sync::atomic::{AtomicU64, Ordering};

use accord_store::{AnyStore, NodeKey, PgOptions, PgStore, SqliteOptions, SqliteStore};

pub const PG_ENV: &str = "ACCORD_TEST_DATABASE_URL";

#[derive(Clone, Debug)]
pub enum Backend {
    Sqlite,
    Pg(String),
}

/// A fresh store; [`Harness::reopen`] opens a second handle on the same database.
pub struct Harness {
    pub store: AnyStore,
    backend: Backend,
    sqlite_path: Option<std::path::PathBuf>,
    pg_schema: Option<String>,
    _dir: Option<tempfile::TempDir>,
}

static COUNTER: AtomicU64 = AtomicU64::new(0);

fn key() -> NodeKey {
    NodeKey::from_seed([7; 32])
}

impl Backend {
    pub async fn open(&self) -> Harness {
        match self {
            Backend::Sqlite => {
                let dir = tempfile::tempdir().unwrap();
                let path = dir.path().join("accord.db");
                let store = open_sqlite(&path).await;
                Harness {
                    store,
                    backend: self.clone(),
                    sqlite_path: Some(path),
                    pg_schema: None,
                    _dir: Some(dir),
                }
            }
            Backend::Pg(url) => {
                let schema = format!(
                    "gov_{}_{}_{}",
                    std::process::id(),
                    COUNTER.fetch_add(1, Ordering::Relaxed),
                    rand::random::<u32>()
                );
                let store = open_pg(url, &schema).await;
                Harness {
                    store,
                    backend: self.clone(),
                    sqlite_path: None,
                    pg_schema: Some(schema),
                    _dir: None,
                }
            }
        }
    }
}

async fn open_sqlite(path: &std::path::Path) -> AnyStore {
    AnyStore::Sqlite(
        SqliteStore::open(
            path,
            SqliteOptions {
                signing_key: Some(key()),
                checkpoint_every: 3,
                ..SqliteOptions::default()
            },
        )
        .await
        .unwrap(),
    )
}

async fn open_pg(url: &str, schema: &str) -> AnyStore {
    AnyStore::Pg(
        PgStore::connect(
            url,
            PgOptions {
                schema: Some(schema.to_owned()),
                signing_key: Some(key()),
                checkpoint_every: 3,
                max_connections: 4,
                ..PgOptions::default()
            },
        )
        .await
        .unwrap(),
    )
}

impl Harness {
    /// A second, independent handle on the same database (another process, in effect).
    pub async fn reopen(&self) -> AnyStore {
        match (&self.backend, &self.sqlite_path, &self.pg_schema) {
            (Backend::Sqlite, Some(path), _) => open_sqlite(path).await,
            (Backend::Pg(url), _, Some(schema)) => open_pg(url, schema).await,
            _ => unreachable!("a harness always has its database"),
        }
    }

    pub fn public_key(&self) -> [u8; 32] {
        key().public_key()
    }
}

impl Drop for Harness {
    fn drop(&mut self) {
        if let (Some(schema), Backend::Pg(url)) = (self.pg_schema.take(), &self.backend) {
            let url = url.clone();
            // Best effort: drop the test's schema on a side thread (Drop cannot await).
            let _ = std::thread::spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .unwrap();
                rt.block_on(async {
                    use sqlx::{Connection, Executor};
                    if let Ok(mut c) = sqlx::PgConnection::connect(&url).await {
                        let _ = c
                            .execute(sqlx::AssertSqlSafe(format!(
                                "DROP SCHEMA IF EXISTS {schema} CASCADE"
                            )))
                            .await;
                        let _ = c.close().await;
                    }
                });
            })
            .join();
        }
    }
}

/// Runs `$name(backend)` as two tests: `sqlite` and `postgres`. Without the database URL
/// the PostgreSQL test says so on standard error and passes (CI always sets it).
macro_rules! both_backends {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                super::$name($crate::support::Backend::Sqlite).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                match std::env::var($crate::support::PG_ENV) {
                    Ok(url) if !url.is_empty() => {
                        super::$name($crate::support::Backend::Pg(url)).await;
                    }
                    _ => {
                        use std::io::Write;
                        let _ = writeln!(
                            std::io::stderr(),
                            "SKIPPED: {} not set; the PostgreSQL run of `{}` did not run",
                            $crate::support::PG_ENV,
                            stringify!($name)
                        );
                    }
                }
            }
        }
    )*};
}
pub(crate) use both_backends;
