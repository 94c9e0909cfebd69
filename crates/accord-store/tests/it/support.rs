//! Test support: fixtures, and a harness that opens a fresh store on either backend so
//! one suite runs against both.

use std::sync::atomic::{AtomicU64, Ordering};

use accord_core::document::{Contract, ContractTerms, Invoice, InvoiceKind, SpendLine};
use accord_core::event::DocumentRef;
use accord_core::id::{ContractId, DecisionId, InvoiceId, SpendLineId, SupplierId};
use accord_core::lifecycle::{ContractState, InvoiceState};
use accord_core::party::{CategoryCode, RegionCode, RiskTier, SizeClass, SupplierStatus};
use accord_core::{Actor, Currency, Decision, Event, Money, Supplier};
use accord_store::{AnyStore, Durability, NodeKey, PgOptions, PgStore, SqliteOptions, SqliteStore};
use sqlx::Executor;

pub const PG_ENV: &str = "ACCORD_TEST_DATABASE_URL";

/// Which backend a test runs on.
#[derive(Clone, Debug)]
pub enum Backend {
    Sqlite,
    Pg(String),
}

/// Store options the tests vary.
#[derive(Clone, Debug, Default)]
pub struct Config {
    pub signing_key: Option<NodeKey>,
    pub checkpoint_every: u64,
    /// SQLite: `Full` sends every append through the writer thread's group commit;
    /// `Normal` lets an append commit on the caller's thread when the writer is idle.
    /// PostgreSQL: `Normal` commits with `synchronous_commit=off`.
    pub durability: Durability,
}

impl Config {
    pub fn signed(every: u64) -> Config {
        Config {
            signing_key: Some(NodeKey::from_seed([42; 32])),
            checkpoint_every: every,
            durability: Durability::Normal,
        }
    }

    /// With `Durability::Full` on SQLite, so that concurrent appends meet in group
    /// commits.
    pub fn full(self) -> Config {
        Config {
            durability: Durability::Full,
            ..self
        }
    }
}

/// A fresh store plus what a test needs to tamper with it.
pub struct Harness {
    pub store: AnyStore,
    pub backend: Backend,
    sqlite_path: Option<std::path::PathBuf>,
    pg_schema: Option<String>,
    _dir: Option<tempfile::TempDir>,
}

static COUNTER: AtomicU64 = AtomicU64::new(0);

impl Backend {
    pub async fn open(&self, config: Config) -> Harness {
        match self {
            Backend::Sqlite => {
                let dir = tempfile::tempdir().unwrap();
                let path = dir.path().join("accord.db");
                let store = SqliteStore::open(
                    &path,
                    SqliteOptions {
                        signing_key: config.signing_key,
                        checkpoint_every: config.checkpoint_every,
                        durability: config.durability,
                        ..SqliteOptions::default()
                    },
                )
                .await
                .unwrap();
                Harness {
                    store: AnyStore::Sqlite(store),
                    backend: self.clone(),
                    sqlite_path: Some(path),
                    pg_schema: None,
                    _dir: Some(dir),
                }
            }
            Backend::Pg(url) => {
                let schema = format!(
                    "t_{}_{}_{}",
                    std::process::id(),
                    COUNTER.fetch_add(1, Ordering::Relaxed),
                    rand::random::<u32>()
                );
                let store = PgStore::connect(
                    url,
                    PgOptions {
                        schema: Some(schema.clone()),
                        signing_key: config.signing_key,
                        checkpoint_every: config.checkpoint_every,
                        durability: config.durability,
                        max_connections: 4,
                        ..PgOptions::default()
                    },
                )
                .await
                .unwrap();
                Harness {
                    store: AnyStore::Pg(store),
                    backend: self.clone(),
                    sqlite_path: None,
                    pg_schema: Some(schema),
                    _dir: None,
                }
            }
        }
    }
}

/// One node on PostgreSQL: its own store (writer, pool) on `schema`, which other nodes
/// may share.
pub async fn node(url: &str, schema: &str) -> PgStore {
    PgStore::connect(
        url,
        PgOptions {
            schema: Some(schema.to_owned()),
            max_connections: 2,
            ..PgOptions::default()
        },
    )
    .await
    .unwrap()
}

impl Harness {
    /// A second store on the same database, as another process would open it: nothing
    /// cached, everything read from the database.
    pub async fn reopen(&self) -> AnyStore {
        match (&self.backend, &self.sqlite_path, &self.pg_schema) {
            (Backend::Sqlite, Some(path), _) => AnyStore::Sqlite(
                SqliteStore::open(path, SqliteOptions::default())
                    .await
                    .unwrap(),
            ),
            (Backend::Pg(url), _, Some(schema)) => AnyStore::Pg(node(url, schema).await),
            _ => unreachable!("a harness has a file or a schema"),
        }
    }

    /// Runs raw SQL behind the store's back (to tamper with it).
    pub async fn exec(&self, sql: &str) {
        match &self.store {
            AnyStore::Sqlite(_) => {
                use sqlx::Connection;
                let path = self.sqlite_path.as_ref().unwrap();
                let mut c =
                    sqlx::SqliteConnection::connect(&format!("sqlite://{}", path.display()))
                        .await
                        .unwrap();
                c.execute(sqlx::AssertSqlSafe(sql)).await.unwrap();
                c.close().await.unwrap();
            }
            AnyStore::Pg(s) => {
                s.pool().execute(sqlx::AssertSqlSafe(sql)).await.unwrap();
            }
        }
    }

    /// Lets the next statements change events (the schema refuses it by default).
    pub async fn allow_tampering(&self) {
        match &self.store {
            AnyStore::Sqlite(_) => {
                self.exec("DROP TRIGGER events_no_update; DROP TRIGGER events_no_delete")
                    .await
            }
            AnyStore::Pg(_) => {
                self.exec("ALTER TABLE events DISABLE TRIGGER events_append_only")
                    .await
            }
        }
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
                    use sqlx::Connection;
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
/// the PostgreSQL test says so and passes (CI always sets it).
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
                        // Written to the real stderr, not the captured one, so that the
                        // skip shows in a normal `cargo test` run.
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

// --- Fixtures ---

pub fn supplier(n: u64) -> Supplier {
    Supplier {
        id: SupplierId::from_parts(1_700_000_000_000 + n, u128::from(n)),
        external_ref: format!("S-{n}"),
        name: format!("Acme {n} \"Ltd\"\n"),
        region: RegionCode::parse("FR").unwrap(),
        size: SizeClass::Small,
        status: SupplierStatus::Active,
        risk: RiskTier::Low,
        bank: None,
        payment_days: Some(30),
    }
}

pub fn registered(n: u64) -> Event {
    Event::SupplierRegistered {
        supplier: supplier(n),
    }
}

pub fn spend_line(supplier_n: u64, n: u64, minor: i64) -> SpendLine {
    SpendLine {
        id: SpendLineId::from_parts(1_700_000_000_000 + n, u128::from(n) << 8),
        external_ref: format!("L-{n}"),
        supplier: supplier(supplier_n).id,
        category: CategoryCode::parse("office-supplies").unwrap(),
        sku: Some(format!("SKU-{}", n % 50)),
        description: "Paper, A4 — 80 g/m²".into(),
        quantity: "2.5".parse().unwrap(),
        amount: Money::new(minor, Currency::EUR),
        date: chrono::NaiveDate::from_ymd_opt(2026, 3, 1).unwrap(),
    }
}

pub fn spend(supplier_n: u64, n: u64, minor: i64) -> Event {
    Event::SpendRecorded {
        line: spend_line(supplier_n, n, minor),
    }
}

pub fn contract(n: u64, supplier_n: u64) -> Contract {
    Contract {
        id: ContractId::from_parts(1_700_000_000_000 + n, u128::from(n) << 16),
        external_ref: format!("C-{n}"),
        supplier: supplier(supplier_n).id,
        category: CategoryCode::parse("office-supplies").unwrap(),
        currency: Currency::EUR,
        terms: ContractTerms {
            prices: vec![],
            payment_days: 45,
            lead_time_days: 5,
            valid_from: chrono::NaiveDate::from_ymd_opt(2026, 1, 1).unwrap(),
            valid_to: chrono::NaiveDate::from_ymd_opt(2026, 12, 31).unwrap(),
        },
        state: ContractState::Draft,
    }
}

pub fn decision(n: u64) -> Event {
    Event::DecisionRecorded {
        decision: Decision {
            id: DecisionId::from_parts(1_700_000_000_000 + n, u128::from(n) << 24),
            at: chrono::DateTime::from_timestamp(1_770_000_000, 0).unwrap(),
            actor: Actor::agent("negotiator", "0.1.0"),
            action: "negotiation.offer".into(),
            subject: format!("negotiation/{n}"),
            inputs: serde_json::json!({"round": n, "note": "ünïcode \u{1F600}", "z": null, "a": [1.5, 2e-7]}),
            options: vec![accord_core::ScoredOption {
                label: "a".into(),
                score: 0.25,
                detail: serde_json::Value::Null,
            }],
            choice: "a".into(),
            verdict: None,
            rationale: "best score within mandate".into(),
        },
    }
}

pub fn contract_state(contract: &Contract, to: &str) -> Event {
    Event::DocumentStateChanged {
        document: DocumentRef::Contract(contract.id),
        from: "draft".into(),
        to: to.into(),
        reason: String::new(),
    }
}

pub fn invoice_state(id: InvoiceId, to: InvoiceState) -> Event {
    Event::DocumentStateChanged {
        document: DocumentRef::Invoice(id),
        from: "received".into(),
        to: format!("{to:?}"),
        reason: "matched".into(),
    }
}

/// An invoice of supplier 1, received and not yet matched.
pub fn invoice(n: u64) -> Invoice {
    Invoice {
        id: InvoiceId::from_parts(1_700_000_000_000 + n, u128::from(n)),
        kind: InvoiceKind::Invoice,
        number: format!("INV-{n}"),
        supplier: supplier(1).id,
        issue_date: chrono::NaiveDate::from_ymd_opt(2026, 3, 1).unwrap(),
        due_date: None,
        currency: Currency::EUR,
        order_ref: None,
        contract_ref: None,
        lines: vec![],
        referenced_invoice: None,
        tax_exclusive: Money::new(1000, Currency::EUR),
        tax: Money::new(200, Currency::EUR),
        payable: Money::new(1200, Currency::EUR),
        state: InvoiceState::Received,
    }
}
