//! The PostgreSQL backend: several Accord nodes share one database. Chain appends are
//! serialised by the single-row `chain_tip` table locked `FOR UPDATE` (see
//! [`write`]); work is claimed with `FOR UPDATE SKIP LOCKED`; the change feed is
//! `LISTEN/NOTIFY`. Each node still runs one writer task with group commit.

mod pgpass;
mod queue;
mod tls;
mod write;

pub(crate) use write::writer_config;

use std::str::FromStr;
use std::sync::Arc;

use accord_core::Supplier;
use accord_core::document::{Contract, SpendLine};
use futures_util::TryStreamExt;
use sqlx::postgres::{PgConnectOptions, PgListener, PgPool, PgPoolOptions, PgRow};
use sqlx::{ConnectOptions, Connection, Executor, Row};
use tokio::sync::{mpsc, oneshot};

use crate::audit::NodeKey;
use crate::chain::{Verifier, VerifyOptions, VerifyReport};
use crate::error::{Result, StoreError};
use crate::model::{
    Append, Appended, Counts, DocumentQuery, DocumentRecord, Durability, SignedCheckpoint,
    StoredEvent, SupplierSpend, TallyRow,
};
use crate::plan;
use crate::read;
use crate::store::ChangeFeed;

pub(crate) static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

/// Options of [`PgStore::connect`].
#[derive(Clone, Debug)]
pub struct PgOptions {
    /// Use (and create) this schema instead of the connection's default `search_path`.
    /// Tests use one fresh schema each.
    pub schema: Option<String>,
    /// The node key that signs audit checkpoints; `None` signs nothing.
    pub signing_key: Option<NodeKey>,
    /// Sign a checkpoint every this many entries (0: never).
    pub checkpoint_every: u64,
    /// Upper bound of events the writer puts in one group commit.
    pub max_group_events: usize,
    /// Connections of the shared pool (reads, queue, checkpoints).
    pub max_connections: u32,
    /// How the writer commits: `Full` (the default) with the server's
    /// `synchronous_commit`, `Normal` with it off (see [`Durability`]).
    pub durability: Durability,
}

impl Default for PgOptions {
    fn default() -> Self {
        PgOptions {
            schema: None,
            signing_key: None,
            checkpoint_every: 1000,
            max_group_events: 20_000,
            max_connections: 8,
            durability: Durability::Full,
        }
    }
}

pub(crate) struct WriteRequest {
    pub commands: Vec<plan::PreparedCommand>,
    pub events: usize,
    pub reply: oneshot::Sender<Result<Vec<Appended>>>,
}

/// The PostgreSQL store. Cheap to clone; all clones share one writer task.
#[derive(Clone)]
pub struct PgStore {
    inner: Arc<Inner>,
}

struct Inner {
    writer: mpsc::Sender<WriteRequest>,
    pool: PgPool,
    channel: String,
}

fn valid_schema(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 48
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
        && !s.as_bytes()[0].is_ascii_digit()
}

impl PgStore {
    /// Connects to `url`, creates the schema if asked, and runs migrations.
    pub async fn connect(url: &str, options: PgOptions) -> Result<PgStore> {
        let mut connect = PgConnectOptions::from_str(url)?;
        let writer_config = write::writer_config(url, &connect)?;
        let mut channel = "accord_events".to_string();
        if let Some(schema) = &options.schema {
            if !valid_schema(schema) {
                return Err(StoreError::Invalid(format!(
                    "schema name `{schema}` must be lowercase letters, digits and `_`"
                )));
            }
            let mut c = connect.clone().connect().await?;
            c.execute(sqlx::AssertSqlSafe(format!(
                "CREATE SCHEMA IF NOT EXISTS {schema}"
            )))
            .await?;
            c.close().await?;
            connect = connect.options([("search_path", schema.as_str())]);
            channel = format!("accord_events_{schema}");
        }
        let pool = PgPoolOptions::new()
            .max_connections(options.max_connections.max(2))
            .connect_with(connect.clone())
            .await?;
        MIGRATOR.run(&pool).await?;
        let (tx, rx) = mpsc::channel(1024);
        let writer = write::Writer::connect(writer_config, &options, channel.clone()).await?;
        tokio::spawn(writer.run(rx));
        Ok(PgStore {
            inner: Arc::new(Inner {
                writer: tx,
                pool,
                channel,
            }),
        })
    }

    /// The connection pool, for tests and tools that need raw SQL.
    pub fn pool(&self) -> &PgPool {
        &self.inner.pool
    }

    /// How a pool session reaches the server, as the server sees it: `TLSv1.3
    /// (TLS_AES_256_GCM_SHA384)`, or `unencrypted`. The writer's session follows the same
    /// `sslmode` (`pg/tls.rs`).
    pub async fn transport(&self) -> Result<String> {
        let (ssl, version, cipher): (bool, Option<String>, Option<String>) = sqlx::query_as(
            "SELECT ssl, version, cipher FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
        )
        .fetch_one(&self.inner.pool)
        .await?;
        Ok(match (ssl, version, cipher) {
            (true, Some(v), Some(c)) => format!("{v} ({c})"),
            (true, _, _) => "TLS".to_owned(),
            (false, _, _) => "unencrypted".to_owned(),
        })
    }

    pub(crate) async fn submit(&self, commands: Vec<Append>) -> Result<Vec<Appended>> {
        let commands = plan::prepare(commands)?;
        let events = commands.iter().map(|c| c.events.len()).sum();
        let (reply, rx) = oneshot::channel();
        self.inner
            .writer
            .send(WriteRequest {
                commands,
                events,
                reply,
            })
            .await
            .map_err(|_| StoreError::Closed)?;
        rx.await.map_err(|_| StoreError::Closed)?
    }

    pub(crate) async fn subscribe_feed(&self) -> Result<ChangeFeed> {
        let mut l = PgListener::connect_with(&self.inner.pool).await?;
        l.listen(&self.inner.channel).await?;
        Ok(ChangeFeed::pg(l))
    }

    pub(crate) async fn read_events(&self, after: u64, limit: u32) -> Result<Vec<StoredEvent>> {
        let rows = sqlx::query(
            "SELECT seq, stream, stream_version, type, schema_version, payload, recorded_at, \
             idempotency_key, prev_hash, hash FROM events WHERE seq > $1 ORDER BY seq LIMIT $2",
        )
        .bind(after as i64)
        .bind(i64::from(limit))
        .fetch_all(&self.inner.pool)
        .await?;
        rows.iter().map(stored_event).collect()
    }

    pub(crate) async fn last_seq(&self) -> Result<u64> {
        let seq: Option<i64> = sqlx::query_scalar("SELECT MAX(seq) FROM events")
            .fetch_one(&self.inner.pool)
            .await?;
        Ok(seq.unwrap_or(0) as u64)
    }

    pub(crate) async fn supplier_where(
        &self,
        column: &str,
        value: &str,
    ) -> Result<Option<Supplier>> {
        let sql = format!("SELECT data FROM suppliers WHERE {column} = $1");
        let data: Option<String> = sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
            .bind(value)
            .fetch_optional(&self.inner.pool)
            .await?;
        data.map(|d| read::json(&d)).transpose()
    }

    pub(crate) async fn contract_where(
        &self,
        column: &str,
        value: &str,
    ) -> Result<Option<Contract>> {
        let sql = format!("SELECT data FROM contracts WHERE {column} = $1");
        let data: Option<String> = sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
            .bind(value)
            .fetch_optional(&self.inner.pool)
            .await?;
        data.map(|d| read::json(&d)).transpose()
    }

    pub(crate) async fn contracts_of_supplier(&self, supplier: &str) -> Result<Vec<Contract>> {
        self.contracts_where("supplier", supplier).await
    }

    pub(crate) async fn contracts_in_category(&self, category: &str) -> Result<Vec<Contract>> {
        self.contracts_where("category", category).await
    }

    /// Every contract whose `column` (a fixed column name, never input) equals `value`.
    async fn contracts_where(&self, column: &'static str, value: &str) -> Result<Vec<Contract>> {
        let sql = format!("SELECT data FROM contracts WHERE {column} = $1 ORDER BY id");
        let rows: Vec<String> = sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
            .bind(value)
            .fetch_all(&self.inner.pool)
            .await?;
        rows.iter().map(|d| read::json(d)).collect()
    }

    pub(crate) async fn appended_with_key(&self, key: &str) -> Result<Option<Appended>> {
        let row = sqlx::query(
            "SELECT first_seq, last_seq, stream_version FROM idempotency WHERE key = $1",
        )
        .bind(key)
        .fetch_optional(&self.inner.pool)
        .await?;
        row.map(|r| {
            Ok(Appended {
                first_seq: r.try_get::<i64, _>(0)? as u64,
                last_seq: r.try_get::<i64, _>(1)? as u64,
                stream_version: r.try_get::<i64, _>(2)? as u64,
                replayed: true,
            })
        })
        .transpose()
    }

    pub(crate) async fn spend_by_ref(&self, external_ref: &str) -> Result<Option<SpendLine>> {
        let row = sqlx::query(
            "SELECT id, external_ref, supplier, category, sku, description, quantity, currency, \
             amount_minor, date FROM spend WHERE external_ref = $1",
        )
        .bind(external_ref)
        .fetch_optional(&self.inner.pool)
        .await?;
        row.map(|r| {
            read::spend_line(read::SpendColumns {
                id: r.try_get(0)?,
                external_ref: r.try_get(1)?,
                supplier: r.try_get(2)?,
                category: r.try_get(3)?,
                sku: r.try_get(4)?,
                description: r.try_get(5)?,
                quantity: r.try_get(6)?,
                currency: r.try_get(7)?,
                amount_minor: r.try_get(8)?,
                date: r.try_get(9)?,
            })
        })
        .transpose()
    }

    pub(crate) async fn document(&self, kind: &str, id: &str) -> Result<Option<DocumentRecord>> {
        let row = sqlx::query(
            "SELECT kind, id, parent, state, data, last_seq FROM documents WHERE kind = $1 AND id = $2",
        )
        .bind(kind)
        .bind(id)
        .fetch_optional(&self.inner.pool)
        .await?;
        row.as_ref().map(document_record).transpose()
    }

    pub(crate) async fn tallies(&self, prefix: &str) -> Result<Vec<TallyRow>> {
        let rows = sqlx::query(
            "SELECT scope, currency, invoices, lines, compliant_lines, terms_checked, \
             compliant_terms, savings_lines, negotiated_micros, realised_micros FROM tallies \
             WHERE substr(scope, 1, length($1)) = $1 ORDER BY scope, currency",
        )
        .bind(prefix)
        .fetch_all(&self.inner.pool)
        .await?;
        rows.iter().map(tally_row).collect()
    }

    pub(crate) async fn documents(&self, q: &DocumentQuery) -> Result<Vec<DocumentRecord>> {
        let mut qb = sqlx::QueryBuilder::new(
            "SELECT kind, id, parent, state, data, last_seq FROM documents WHERE kind = ",
        );
        qb.push_bind(q.kind.as_str());
        if let Some(parent) = &q.parent {
            qb.push(" AND parent = ").push_bind(parent.as_str());
        }
        if let Some(state) = &q.state {
            qb.push(" AND state = ").push_bind(state.as_str());
        }
        if let Some(reference) = &q.reference {
            qb.push(" AND reference = ").push_bind(reference.as_str());
        }
        for (column, values) in [("parent", &q.parent_in), ("reference", &q.reference_in)] {
            if values.is_empty() {
                continue;
            }
            qb.push(format!(" AND {column} IN ("));
            let mut list = qb.separated(", ");
            for v in values {
                list.push_bind(v.as_str());
            }
            list.push_unseparated(")");
        }
        if let Some(after) = &q.after_id {
            qb.push(" AND id > ").push_bind(after.as_str());
        }
        qb.push(" ORDER BY id LIMIT ").push_bind(i64::from(q.limit));
        let rows = qb.build().fetch_all(&self.inner.pool).await?;
        rows.iter().map(document_record).collect()
    }

    pub(crate) async fn document_counts(
        &self,
        kind: &str,
        parent: Option<&str>,
    ) -> Result<Vec<(String, u64)>> {
        let mut qb = sqlx::QueryBuilder::new("SELECT state, COUNT(*) FROM documents WHERE kind = ");
        qb.push_bind(kind);
        if let Some(parent) = parent {
            qb.push(" AND parent = ").push_bind(parent);
        }
        qb.push(" GROUP BY state ORDER BY state");
        let rows = qb.build().fetch_all(&self.inner.pool).await?;
        rows.iter()
            .map(|r| Ok((r.try_get(0)?, r.try_get::<i64, _>(1)? as u64)))
            .collect()
    }

    pub(crate) async fn read_stream(
        &self,
        stream: &str,
        after_version: u64,
        limit: u32,
    ) -> Result<Vec<StoredEvent>> {
        let rows = sqlx::query(
            "SELECT seq, stream, stream_version, type, schema_version, payload, recorded_at, \
             idempotency_key, prev_hash, hash FROM events WHERE stream = $1 AND stream_version > $2 \
             ORDER BY stream_version LIMIT $3",
        )
        .bind(stream)
        .bind(after_version as i64)
        .bind(i64::from(limit))
        .fetch_all(&self.inner.pool)
        .await?;
        rows.iter().map(stored_event).collect()
    }

    pub(crate) async fn stream_version(&self, stream: &str) -> Result<u64> {
        let version: i64 = sqlx::query_scalar(
            "SELECT COALESCE(MAX(stream_version), 0) FROM events WHERE stream = $1",
        )
        .bind(stream)
        .fetch_one(&self.inner.pool)
        .await?;
        Ok(version as u64)
    }

    pub(crate) async fn counts(&self) -> Result<Counts> {
        let r = sqlx::query(
            "SELECT (SELECT seq FROM chain_tip WHERE id = 1), (SELECT COUNT(*) FROM suppliers), \
             (SELECT COUNT(*) FROM contracts), (SELECT COUNT(*) FROM spend), \
             (SELECT COUNT(*) FROM documents), (SELECT COUNT(*) FROM audit_checkpoints), \
             (SELECT COUNT(*) FROM jobs WHERE status IN ('ready', 'running'))",
        )
        .fetch_one(&self.inner.pool)
        .await?;
        let get = |i: usize| -> Result<u64> { Ok(r.try_get::<i64, _>(i)? as u64) };
        Ok(Counts {
            events: get(0)?,
            suppliers: get(1)?,
            contracts: get(2)?,
            spend_lines: get(3)?,
            documents: get(4)?,
            checkpoints: get(5)?,
            jobs_pending: get(6)?,
        })
    }

    pub(crate) async fn spend_by_supplier(&self, limit: u32) -> Result<Vec<SupplierSpend>> {
        let rows = sqlx::query(
            "SELECT supplier, currency, SUM(amount_minor)::BIGINT AS total, COUNT(*), \
             SUM(quantity::float8) FROM spend \
             GROUP BY supplier, currency ORDER BY total DESC, supplier LIMIT $1",
        )
        .bind(i64::from(limit))
        .fetch_all(&self.inner.pool)
        .await?;
        rows.iter()
            .map(|r| {
                read::supplier_spend(
                    r.try_get(0)?,
                    r.try_get(1)?,
                    r.try_get(2)?,
                    r.try_get(3)?,
                    r.try_get::<Option<f64>, _>(4)?.unwrap_or(0.0),
                )
            })
            .collect()
    }

    pub(crate) async fn audit_checkpoints(&self) -> Result<Vec<SignedCheckpoint>> {
        let rows = sqlx::query(
            "SELECT seq, hash, public_key, signature, signed_at FROM audit_checkpoints ORDER BY seq",
        )
        .fetch_all(&self.inner.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(SignedCheckpoint {
                    seq: r.try_get::<i64, _>(0)? as u64,
                    hash: read::fixed(r.try_get::<&[u8], _>(1)?),
                    public_key: read::fixed(r.try_get::<&[u8], _>(2)?),
                    signature: read::fixed(r.try_get::<&[u8], _>(3)?),
                    signed_at: r.try_get(4)?,
                })
            })
            .collect()
    }

    pub(crate) async fn verify(&self, options: &VerifyOptions) -> Result<VerifyReport> {
        let checkpoints = self.audit_checkpoints().await?;
        let mut verifier = Verifier::new(checkpoints, options);
        let mut conn = self.inner.pool.acquire().await?;
        let mut rows = sqlx::query(
            "SELECT seq, stream, stream_version, type, schema_version, payload, recorded_at, \
             idempotency_key, prev_hash, hash FROM events ORDER BY seq",
        )
        .fetch(&mut *conn);
        while let Some(r) = rows.try_next().await? {
            let ok = read::verify_row(
                &mut verifier,
                read::RawEntry {
                    seq: r.try_get(0)?,
                    stream: r.try_get::<&str, _>(1)?.as_bytes(),
                    stream_version: r.try_get(2)?,
                    kind: r.try_get::<&str, _>(3)?.as_bytes(),
                    schema_version: i64::from(r.try_get::<i32, _>(4)?),
                    payload: r.try_get::<&str, _>(5)?.as_bytes(),
                    recorded_at: r.try_get::<&str, _>(6)?.as_bytes(),
                    idempotency_key: r.try_get::<Option<&str>, _>(7)?.map(str::as_bytes),
                    prev_hash: r.try_get(8)?,
                    hash: r.try_get(9)?,
                },
            );
            if !ok {
                break;
            }
        }
        Ok(verifier.finish())
    }

    pub(crate) async fn get_consumer_checkpoint(&self, consumer: &str) -> Result<u64> {
        let seq: Option<i64> =
            sqlx::query_scalar("SELECT seq FROM consumer_checkpoints WHERE consumer = $1")
                .bind(consumer)
                .fetch_optional(&self.inner.pool)
                .await?;
        Ok(seq.unwrap_or(0) as u64)
    }

    pub(crate) async fn set_consumer_checkpoint(&self, consumer: &str, seq: u64) -> Result<()> {
        sqlx::query(
            "INSERT INTO consumer_checkpoints (consumer, seq, updated_at) VALUES ($1, $2, $3) \
             ON CONFLICT (consumer) DO UPDATE SET seq = excluded.seq, updated_at = excluded.updated_at",
        )
        .bind(consumer)
        .bind(seq as i64)
        .bind(plan::now_text())
        .execute(&self.inner.pool)
        .await?;
        Ok(())
    }

    /// Streams every event in seq order to `f` (for export).
    pub(crate) async fn for_each_event(
        &self,
        mut f: impl FnMut(StoredEvent) -> Result<()>,
    ) -> Result<()> {
        let mut conn = self.inner.pool.acquire().await?;
        let mut rows = sqlx::query(
            "SELECT seq, stream, stream_version, type, schema_version, payload, recorded_at, \
             idempotency_key, prev_hash, hash FROM events ORDER BY seq",
        )
        .fetch(&mut *conn);
        while let Some(r) = rows.try_next().await? {
            f(stored_event(&r)?)?;
        }
        Ok(())
    }
}

fn tally_row(r: &PgRow) -> Result<TallyRow> {
    Ok(TallyRow {
        scope: r.try_get(0)?,
        currency: r.try_get(1)?,
        invoices: r.try_get(2)?,
        lines: r.try_get(3)?,
        compliant_lines: r.try_get(4)?,
        terms_checked: r.try_get(5)?,
        compliant_terms: r.try_get(6)?,
        savings_lines: r.try_get(7)?,
        negotiated_micros: r.try_get(8)?,
        realised_micros: r.try_get(9)?,
    })
}

fn document_record(r: &PgRow) -> Result<DocumentRecord> {
    let data: String = r.try_get(4)?;
    Ok(DocumentRecord {
        kind: r.try_get(0)?,
        id: r.try_get(1)?,
        parent: r.try_get(2)?,
        state: r.try_get(3)?,
        data: read::json(&data)?,
        last_seq: r.try_get::<i64, _>(5)? as u64,
    })
}

fn stored_event(r: &PgRow) -> Result<StoredEvent> {
    Ok(StoredEvent {
        seq: r.try_get::<i64, _>(0)? as u64,
        stream: r.try_get(1)?,
        stream_version: r.try_get::<i64, _>(2)? as u64,
        kind: r.try_get(3)?,
        schema_version: u16::try_from(r.try_get::<i32, _>(4)?).unwrap_or(u16::MAX),
        payload: r.try_get(5)?,
        recorded_at: r.try_get(6)?,
        idempotency_key: r.try_get(7)?,
        prev_hash: read::fixed(r.try_get::<&[u8], _>(8)?),
        hash: read::fixed(r.try_get::<&[u8], _>(9)?),
    })
}
