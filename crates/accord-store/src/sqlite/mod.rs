//! The SQLite backend: one file in WAL mode, one writer that owns the chain tip and
//! commits appends in groups (group commit) or, when idle and durability allows, on the
//! caller's thread; a checkpointer thread; a pool of readers; and an in-process broadcast
//! change feed.
//!
//! Durability follows [`Durability`]: `Normal` (WAL + `synchronous=NORMAL`) survives a
//! crash of the process, and a power loss may lose the last transactions but never
//! corrupts; `Full` acknowledges an append only after the WAL holding it is synced
//! (`sync.rs`: one fsync per group, overlapped with the next group's commit), so an
//! acknowledged append survives a power loss.

mod checkpoint;
mod queue;
mod sync;
mod verify;
pub(crate) mod write;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use accord_core::Supplier;
use accord_core::document::{Contract, SpendLine};
use futures_util::TryStreamExt;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteRow,
    SqliteSynchronous,
};
use sqlx::{Row, SqliteConnection};
use tokio::sync::{broadcast, mpsc, oneshot};

use crate::audit::NodeKey;
use crate::chain::{Verifier, VerifyOptions, VerifyReport};
use crate::error::{Result, StoreError};

use crate::model::{
    Append, Appended, Change, Counts, DocumentQuery, DocumentRecord, Durability, SignedCheckpoint,
    StoredEvent, SupplierSpend, TallyRow,
};
use crate::plan;
use crate::read;

pub(crate) static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");

/// Options of [`SqliteStore::open`].
#[derive(Clone, Debug)]
pub struct SqliteOptions {
    pub durability: Durability,
    /// The node key that signs audit checkpoints; `None` signs nothing.
    pub signing_key: Option<NodeKey>,
    /// Sign a checkpoint every this many entries (0: never).
    pub checkpoint_every: u64,
    /// Upper bound of events the writer puts in one group commit.
    pub max_group_events: usize,
    /// Reader connections.
    pub readers: u32,
    /// WAL length in bytes past which the writer starts the WAL over (after the
    /// checkpointer thread has copied it into the database). Bounds the WAL file.
    pub wal_bytes: u64,
}

impl Default for SqliteOptions {
    fn default() -> Self {
        SqliteOptions {
            durability: Durability::Normal,
            signing_key: None,
            checkpoint_every: 1000,
            max_group_events: 20_000,
            readers: 4,
            wal_bytes: checkpoint::REWIND_BYTES,
        }
    }
}

pub(crate) struct WriteRequest {
    pub commands: Vec<plan::PreparedCommand>,
    pub events: usize,
    pub reply: oneshot::Sender<Reply>,
}

/// The answer to a queued request, with its commands handed back: the caller's thread
/// frees what it allocated, in its own allocator arena, rather than the writer or the
/// sync thread freeing it for every caller of the group (with 1,024 callers, freeing
/// their commands took three quarters of the sync thread's time).
pub(crate) struct Reply {
    pub result: Result<Vec<Appended>>,
    pub spent: Vec<plan::PreparedCommand>,
}

/// The SQLite store. Cheap to clone; all clones share one writer.
#[derive(Clone)]
pub struct SqliteStore {
    inner: Arc<Inner>,
}

struct Inner {
    /// The writer thread's queue.
    writer: mpsc::Sender<WriteRequest>,
    /// The writer itself, which the writer thread and inline callers lock to commit.
    state: Arc<Mutex<write::Writer>>,
    /// Whether a caller that finds the writer idle commits on its own thread: only when
    /// a commit never waits for the disk (`synchronous=NORMAL`).
    inline: bool,
    read: SqlitePool,
    /// One connection for small writes outside the log (queue, consumer checkpoints).
    aux: SqlitePool,
    feed: broadcast::Sender<Change>,
    /// The database file, for the writer and verifier connections (rusqlite).
    file: PathBuf,
}

/// The writer's connection: the pragmas of [`SqliteStore::open`], and `synchronous=NORMAL`
/// whatever the durability: with `Full` the sync thread makes each group durable before
/// its callers hear of it (`sync.rs`).
pub(crate) fn open_writer(file: &Path) -> Result<rusqlite::Connection> {
    let conn = rusqlite::Connection::open(file)?;
    conn.busy_timeout(Duration::from_secs(10))?;
    conn.execute_batch(&format!(
        "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA temp_store = memory; \
         PRAGMA cache_size = -{WRITER_CACHE_KIB}; PRAGMA wal_autocheckpoint = 0; \
         PRAGMA foreign_keys = ON;"
    ))?;
    Ok(conn)
}

/// The key of `stream` in the log's per-stream index (`events.stream_key`): FNV-1a 64 of
/// the name's UTF-8 bytes, as a signed integer. Stored in every event row, so it never
/// changes; reads by stream match the name too, so two names with one key never mix.
pub(crate) fn stream_key(stream: &str) -> i64 {
    const OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
    const PRIME: u64 = 0x0100_0000_01b3;
    let hash = stream
        .bytes()
        .fold(OFFSET, |h, b| (h ^ u64::from(b)).wrapping_mul(PRIME));
    hash as i64
}

/// Every `MARK_EVERY`-th event of a stream has a row in `stream_marks`, where reads by
/// stream start their walk back.
pub(crate) const MARK_EVERY: i64 = 64;

/// Links the events written before migration 0006 to their streams (`prev_in_stream`,
/// the `streams` table, and the `stream_key` of events from before 0005), in seq order,
/// `chunk` events per transaction; the transaction also moves `stream_link_fill`
/// on, so a crash leaves the rest for the next open. A log with nothing to link only
/// reads that one-row table.
fn fill_stream_links(conn: &rusqlite::Connection, chunk: i64) -> Result<()> {
    use rusqlite::OptionalExtension;
    let pending = |conn: &rusqlite::Connection| -> rusqlite::Result<Option<(i64, i64)>> {
        conn.query_row("SELECT next, upto FROM stream_link_fill", [], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })
        .optional()
    };
    let Some((next, upto)) = pending(conn)? else {
        return Ok(());
    };
    tracing::info!(
        events = upto - next + 1,
        "linking the log's older events to their streams (once, after an upgrade)"
    );
    loop {
        conn.execute_batch("BEGIN IMMEDIATE")?;
        let done = (|| -> rusqlite::Result<bool> {
            // Read again inside the transaction: another process may have gone on.
            let Some((next, upto)) = pending(conn)? else {
                return Ok(true);
            };
            let rows = conn
                .prepare_cached(
                    "SELECT seq, stream, stream_version FROM events \
                     WHERE seq >= ?1 AND seq <= ?2 ORDER BY seq LIMIT ?3",
                )?
                .query_map(rusqlite::params![next, upto, chunk], |r| {
                    Ok((
                        r.get::<_, i64>(0)?,
                        r.get::<_, String>(1)?,
                        r.get::<_, i64>(2)?,
                    ))
                })?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            let mut tips: HashMap<&str, (i64, i64)> = HashMap::new();
            let mut find = conn.prepare_cached(SELECT_STREAM)?;
            let mut update = conn.prepare_cached(
                "UPDATE events SET stream_key = ?1, prev_in_stream = ?2 WHERE seq = ?3",
            )?;
            let mut mark = conn.prepare_cached(INSERT_MARK)?;
            for (seq, stream, version) in &rows {
                let key = stream_key(stream);
                let prev = match tips.get(stream.as_str()) {
                    Some(&(_, last)) => last,
                    None => find
                        .query_row(rusqlite::params![key, stream], |r| r.get::<_, i64>(1))
                        .optional()?
                        .unwrap_or(0),
                };
                update.execute(rusqlite::params![key, prev, seq])?;
                if version % MARK_EVERY == 0 {
                    mark.execute(rusqlite::params![key, stream, version, seq])?;
                }
                tips.insert(stream, (*version, *seq));
            }
            let mut upsert = conn.prepare_cached(UPSERT_STREAM)?;
            for (stream, (version, last)) in &tips {
                upsert.execute(rusqlite::params![stream_key(stream), stream, version, last])?;
            }
            match rows.last() {
                Some((last, _, _)) if *last < upto => {
                    conn.execute("UPDATE stream_link_fill SET next = ?1", [last + 1])?;
                    Ok(false)
                }
                _ => {
                    conn.execute("DELETE FROM stream_link_fill", [])?;
                    Ok(true)
                }
            }
        })();
        match done {
            Ok(finished) => {
                conn.execute_batch("COMMIT")?;
                if finished {
                    return Ok(());
                }
            }
            Err(e) => {
                let _ = conn.execute_batch("ROLLBACK");
                return Err(StoreError::from(e));
            }
        }
    }
}

pub(crate) const INSERT_MARK: &str =
    "INSERT INTO stream_marks (key, name, version, seq) VALUES (?1, ?2, ?3, ?4)";

/// A stream's tip: its version and last event.
pub(crate) const SELECT_STREAM: &str =
    "SELECT version, last_seq FROM streams WHERE key = ?1 AND name = ?2";

/// Moves a stream's tip (or records a new stream).
pub(crate) const UPSERT_STREAM: &str = "INSERT INTO streams (key, name, version, last_seq) \
    VALUES (?1, ?2, ?3, ?4) \
    ON CONFLICT (key, name) DO UPDATE SET version = excluded.version, last_seq = excluded.last_seq";

/// Events linked per transaction by [`fill_stream_links`].
const FILL_CHUNK: i64 = 10_000;

/// The page size of a new database file: SQLite's default, chosen on measurement. Each
/// commit writes every page it dirtied to the WAL, and copies it again at the next
/// checkpoint. Larger pages cost fewer frames per event in large transactions (16 KiB:
/// batched appends ~15-20% faster, group commit ~10% faster) but a single-event commit
/// still dirties four or five pages (the log's tail, a read model row and its index, the
/// stream's tip), each now four times the bytes: single-event spend lines fell from
/// ~24,000/s to ~14,000/s at 16 KiB and ~19,000/s at 8 KiB (BENCHMARKS.md, session 8).
pub(crate) const PAGE_SIZE: u32 = 4_096;

/// Page cache of the writer connection, in KiB (bounded: part of an import's memory).
/// Enough for the pages a batch of 10,000 events dirties. Not more: at the end of a
/// transaction SQLite trims pages past the end of the database from the cache, and when
/// there are any, it may scan the cache's whole hash table to find them. Under group
/// commit with spend lines that happened at nearly every commit: with 64 MiB, the scan
/// (`pcache1TruncateUnsafe`) was the writer's costliest function, 4% of the process's
/// samples. 16 MiB ran 8–15% faster there, and the same elsewhere (BENCHMARKS.md,
/// session 10).
const WRITER_CACHE_KIB: u32 = 16_384;

impl SqliteStore {
    /// Opens (creating if needed) the store at `path` and runs migrations. `path` may be a
    /// file path or a `sqlite://` URL.
    pub async fn open(path: impl AsRef<Path>, options: SqliteOptions) -> Result<SqliteStore> {
        let path = path.as_ref();
        let text = path.to_string_lossy();
        let base = if let Some(rest) = text.strip_prefix("sqlite://") {
            SqliteConnectOptions::from_str(&format!("sqlite://{rest}"))?
        } else {
            SqliteConnectOptions::new().filename(path)
        };
        let base = base
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .busy_timeout(Duration::from_secs(10))
            .pragma("temp_store", "memory")
            .pragma("cache_size", "-65536")
            // Readers map the file instead of copying each page with pread: under a
            // steady stream of writes every read transaction starts with a cold cache.
            .pragma("mmap_size", "268435456")
            // Checkpoint the WAL every ~40 MB rather than every 4 MB: fewer fsyncs in
            // imports, at the price of a larger WAL file between checkpoints.
            .pragma("wal_autocheckpoint", "10000")
            // Only a new file takes it; an existing one keeps the size it was made with.
            .page_size(PAGE_SIZE);
        let sync = match options.durability {
            Durability::Normal => SqliteSynchronous::Normal,
            Durability::Full => SqliteSynchronous::Full,
        };
        let file = base.get_filename().to_owned();
        {
            use sqlx::{ConnectOptions, Connection};
            let mut conn: SqliteConnection = base.clone().synchronous(sync).connect().await?;
            MIGRATOR.run(&mut conn).await?;
            conn.close().await?;
        }
        let read = SqlitePoolOptions::new()
            .max_connections(options.readers.max(1))
            .connect_with(base.clone().synchronous(SqliteSynchronous::Normal))
            .await?;
        let aux = SqlitePoolOptions::new()
            .max_connections(1)
            .connect_with(base.synchronous(sync))
            .await?;
        let (tx, rx) = mpsc::channel(1024);
        let (feed, _) = broadcast::channel(4096);
        let conn = open_writer(&file)?;
        fill_stream_links(&conn, FILL_CHUNK)?;
        let nudge = checkpoint::spawn(&file, options.wal_bytes)?;
        let state = Arc::new(Mutex::new(write::Writer::new(conn, &options, nudge)?));
        let thread_state = state.clone();
        let max_group_events = options.max_group_events.max(1);
        let durable = match options.durability {
            Durability::Full => Some(sync::spawn(&file, feed.clone())?),
            Durability::Normal => None,
        };
        std::thread::Builder::new()
            .name("accord-sqlite-writer".into())
            .spawn({
                let feed = feed.clone();
                move || write::run(thread_state, rx, max_group_events, feed, durable)
            })?;
        Ok(SqliteStore {
            inner: Arc::new(Inner {
                writer: tx,
                state,
                inline: options.durability == Durability::Normal,
                read,
                aux,
                feed,
                file,
            }),
        })
    }

    pub(crate) async fn submit(&self, commands: Vec<Append>) -> Result<Vec<Appended>> {
        let commands = plan::prepare(commands)?;
        // With `synchronous=NORMAL` a commit is a few page writes into the OS cache and
        // never an fsync (checkpoints run on their own thread), so a caller that finds
        // the writer idle commits here rather than waking the writer thread and being
        // woken by it. A busy writer means others are queued: join them.
        if self.inner.inline
            && let Ok(mut writer) = self.inner.state.try_lock()
        {
            let (mut results, change) = writer.commit(&[commands.as_slice()]);
            // Announced while the writer is still held, so the feed keeps commit order.
            if let Some(c) = change {
                let _ = self.inner.feed.send(c);
            }
            return results.pop().unwrap_or(Err(StoreError::Closed));
        }
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
        let Reply { result, spent } = rx.await.map_err(|_| StoreError::Closed)?;
        drop(spent);
        result
    }

    /// The reader pool, for tests and tools that need raw SQL (read-mostly).
    pub fn pool(&self) -> &SqlitePool {
        &self.inner.read
    }

    pub(crate) fn aux_pool(&self) -> &SqlitePool {
        &self.inner.aux
    }

    pub(crate) async fn subscribe_feed(&self) -> Result<crate::store::ChangeFeed> {
        Ok(crate::store::ChangeFeed::local(self.inner.feed.subscribe()))
    }

    pub(crate) async fn read_events(&self, after: u64, limit: u32) -> Result<Vec<StoredEvent>> {
        let rows = sqlx::query(
            "SELECT seq, stream, stream_version, type, schema_version, payload, recorded_at, \
             idempotency_key, prev_hash, hash FROM events WHERE seq > ? ORDER BY seq LIMIT ?",
        )
        .bind(after as i64)
        .bind(i64::from(limit))
        .fetch_all(&self.inner.read)
        .await?;
        rows.iter().map(stored_event).collect()
    }

    pub(crate) async fn last_seq(&self) -> Result<u64> {
        let seq: Option<i64> = sqlx::query_scalar("SELECT MAX(seq) FROM events")
            .fetch_one(&self.inner.read)
            .await?;
        Ok(seq.unwrap_or(0) as u64)
    }

    pub(crate) async fn supplier_where(
        &self,
        column: &str,
        value: &str,
    ) -> Result<Option<Supplier>> {
        let sql = format!("SELECT data FROM suppliers WHERE {column} = ?");
        let data: Option<String> = sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
            .bind(value)
            .fetch_optional(&self.inner.read)
            .await?;
        data.map(|d| read::json(&d)).transpose()
    }

    pub(crate) async fn contract_where(
        &self,
        column: &str,
        value: &str,
    ) -> Result<Option<Contract>> {
        let sql = format!("SELECT data FROM contracts WHERE {column} = ?");
        let data: Option<String> = sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
            .bind(value)
            .fetch_optional(&self.inner.read)
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
        let sql = format!("SELECT data FROM contracts WHERE {column} = ? ORDER BY id");
        let rows: Vec<String> = sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
            .bind(value)
            .fetch_all(&self.inner.read)
            .await?;
        rows.iter().map(|d| read::json(d)).collect()
    }

    pub(crate) async fn appended_with_key(&self, key: &str) -> Result<Option<Appended>> {
        let row = sqlx::query(
            "SELECT first_seq, last_seq, stream_version FROM idempotency WHERE key = ?",
        )
        .bind(key)
        .fetch_optional(&self.inner.read)
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
             amount_minor, date FROM spend WHERE external_ref = ?",
        )
        .bind(external_ref)
        .fetch_optional(&self.inner.read)
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
            "SELECT kind, id, parent, state, data, last_seq FROM documents WHERE kind = ? AND id = ?",
        )
        .bind(kind)
        .bind(id)
        .fetch_optional(&self.inner.read)
        .await?;
        row.as_ref().map(document_record).transpose()
    }

    pub(crate) async fn tallies(&self, prefix: &str) -> Result<Vec<TallyRow>> {
        let rows = sqlx::query(
            "SELECT scope, currency, invoices, lines, compliant_lines, terms_checked, \
             compliant_terms, savings_lines, negotiated_micros, realised_micros FROM tallies \
             WHERE substr(scope, 1, length(?1)) = ?1 ORDER BY scope, currency",
        )
        .bind(prefix)
        .fetch_all(&self.inner.read)
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
        let rows = qb.build().fetch_all(&self.inner.read).await?;
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
        let rows = qb.build().fetch_all(&self.inner.read).await?;
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
        // Walks the stream's links back to the first event wanted, from the first mark
        // at or past the last one wanted (at most `MARK_EVERY - 1` events past it) or,
        // without one, from the stream's last event; the name check keeps a damaged link
        // from pulling in another stream's events.
        let last_wanted = after_version
            .saturating_add(u64::from(limit))
            .min(i64::MAX as u64);
        let rows = sqlx::query(
            "WITH RECURSIVE chain(seq) AS ( \
                 SELECT COALESCE( \
                     (SELECT seq FROM stream_marks WHERE key = ?1 AND name = ?2 \
                      AND version >= ?5 ORDER BY version LIMIT 1), \
                     (SELECT last_seq FROM streams WHERE key = ?1 AND name = ?2 \
                      AND version > ?3)) \
                 UNION ALL \
                 SELECT e.prev_in_stream FROM chain c JOIN events e ON e.seq = c.seq \
                 WHERE e.stream_version > ?3 + 1 AND e.prev_in_stream > 0) \
             SELECT e.seq, e.stream, e.stream_version, e.type, e.schema_version, e.payload, \
             e.recorded_at, e.idempotency_key, e.prev_hash, e.hash \
             FROM chain c JOIN events e ON e.seq = c.seq \
             WHERE e.stream = ?2 AND e.stream_version > ?3 \
             ORDER BY e.seq LIMIT ?4",
        )
        .bind(stream_key(stream))
        .bind(stream)
        .bind(after_version as i64)
        .bind(i64::from(limit))
        .bind(last_wanted as i64)
        .fetch_all(&self.inner.read)
        .await?;
        rows.iter().map(stored_event).collect()
    }

    pub(crate) async fn stream_version(&self, stream: &str) -> Result<u64> {
        let version: Option<i64> =
            sqlx::query_scalar("SELECT version FROM streams WHERE key = ? AND name = ?")
                .bind(stream_key(stream))
                .bind(stream)
                .fetch_optional(&self.inner.read)
                .await?;
        Ok(version.unwrap_or(0) as u64)
    }

    pub(crate) async fn counts(&self) -> Result<Counts> {
        let r = sqlx::query(
            "SELECT (SELECT COALESCE(MAX(seq), 0) FROM events), (SELECT COUNT(*) FROM suppliers), \
             (SELECT COUNT(*) FROM contracts), (SELECT COUNT(*) FROM spend), \
             (SELECT COUNT(*) FROM documents), (SELECT COUNT(*) FROM audit_checkpoints), \
             (SELECT COUNT(*) FROM jobs WHERE status IN ('ready', 'running'))",
        )
        .fetch_one(&self.inner.read)
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
            "SELECT supplier, currency, SUM(amount_minor) AS total, COUNT(*), \
             SUM(CAST(quantity AS REAL)) FROM spend \
             GROUP BY supplier, currency ORDER BY total DESC, supplier LIMIT ?",
        )
        .bind(i64::from(limit))
        .fetch_all(&self.inner.read)
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
        .fetch_all(&self.inner.read)
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
        let verifier = Verifier::new(checkpoints, options);
        let file = self.inner.file.clone();
        tokio::task::spawn_blocking(move || verify::verify_file(&file, verifier))
            .await
            .map_err(|e| StoreError::Invalid(format!("the verify task failed: {e}")))?
    }

    pub(crate) async fn get_consumer_checkpoint(&self, consumer: &str) -> Result<u64> {
        let seq: Option<i64> =
            sqlx::query_scalar("SELECT seq FROM consumer_checkpoints WHERE consumer = ?")
                .bind(consumer)
                .fetch_optional(&self.inner.read)
                .await?;
        Ok(seq.unwrap_or(0) as u64)
    }

    pub(crate) async fn set_consumer_checkpoint(&self, consumer: &str, seq: u64) -> Result<()> {
        sqlx::query(
            "INSERT INTO consumer_checkpoints (consumer, seq, updated_at) VALUES (?, ?, ?) \
             ON CONFLICT (consumer) DO UPDATE SET seq = excluded.seq, updated_at = excluded.updated_at",
        )
        .bind(consumer)
        .bind(seq as i64)
        .bind(plan::now_text())
        .execute(&self.inner.aux)
        .await?;
        Ok(())
    }

    /// Streams every event in seq order to `f` (for export).
    pub(crate) async fn for_each_event(
        &self,
        mut f: impl FnMut(StoredEvent) -> Result<()>,
    ) -> Result<()> {
        let mut conn = self.inner.read.acquire().await?;
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

fn tally_row(r: &SqliteRow) -> Result<TallyRow> {
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

fn document_record(r: &SqliteRow) -> Result<DocumentRecord> {
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

fn stored_event(r: &SqliteRow) -> Result<StoredEvent> {
    Ok(StoredEvent {
        seq: r.try_get::<i64, _>(0)? as u64,
        stream: r.try_get(1)?,
        stream_version: r.try_get::<i64, _>(2)? as u64,
        kind: r.try_get(3)?,
        schema_version: u16::try_from(r.try_get::<i64, _>(4)?).unwrap_or(u16::MAX),
        payload: r.try_get(5)?,
        recorded_at: r.try_get(6)?,
        idempotency_key: r.try_get(7)?,
        prev_hash: read::fixed(r.try_get::<&[u8], _>(8)?),
        hash: read::fixed(r.try_get::<&[u8], _>(9)?),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bench::move_event;
    use crate::chain::ChainBreak;
    use crate::model::ExpectedVersion;
    use crate::store::Store;

    /// The one number `sql` selects.
    async fn count(store: &SqliteStore, sql: &str) -> i64 {
        sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
            .fetch_one(store.pool())
            .await
            .unwrap()
    }

    /// Move `i` of the benchmark, in one of `negotiations` negotiations (`i % n`).
    fn move_of(i: u64, negotiations: u64) -> accord_core::Event {
        let mut e = move_event(i);
        if let accord_core::Event::NegotiationMoved { record } = &mut e {
            record.negotiation =
                accord_core::id::NegotiationId::from_parts(1, u128::from(i % negotiations));
        }
        e
    }

    /// The index key is FNV-1a 64: fixed forever, since every event row stores it.
    #[test]
    fn stream_key_is_fnv1a_64() {
        assert_eq!(stream_key(""), 0xcbf2_9ce4_8422_2325_u64 as i64);
        assert_eq!(stream_key("a"), 0xaf63_dc4c_8601_ec8c_u64 as i64);
        assert_eq!(stream_key("foobar"), 0x8594_4171_f739_67e8_u64 as i64);
    }

    /// A log written before migration 0005 (no stream keys) or 0006 (no stream links)
    /// is linked when the store opens, a chunk at a time: reads by stream, appends that
    /// expect a version and `verify` all work on it, and the filled events are as
    /// append-only as before.
    #[tokio::test]
    async fn a_log_from_before_stream_links_is_linked_on_open() {
        let dir = tempfile::tempdir().unwrap();
        // Real, hashed entries from a current store.
        let source = SqliteStore::open(dir.path().join("source.db"), SqliteOptions::default())
            .await
            .unwrap();
        // Moves of three negotiations, 70 each: each passes its first mark (version 64).
        const EACH: u64 = 70;
        for i in 0..3 * EACH {
            source
                .append(Append::new(move_of(i, 3)).key(format!("k-{i}")))
                .await
                .unwrap();
        }
        let events = source.read_events(0, 1000).await.unwrap();
        assert_eq!(events.len() as u64, 3 * EACH);

        for before in [5, 6] {
            // The same rows in a file migrated only up to `before - 1`.
            let old = dir.path().join(format!("old-{before}"));
            std::fs::create_dir(&old).unwrap();
            for m in MIGRATOR.iter().filter(|m| m.version < before) {
                let name = format!("{:04}_{}.sql", m.version, m.description.replace(' ', "_"));
                std::fs::write(old.join(name), m.sql.as_str().as_bytes()).unwrap();
            }
            let file = dir.path().join(format!("old-{before}.db"));
            {
                use sqlx::{ConnectOptions, Connection};
                let mut conn = SqliteConnectOptions::new()
                    .filename(&file)
                    .create_if_missing(true)
                    .connect()
                    .await
                    .unwrap();
                sqlx::migrate::Migrator::new(old.as_path())
                    .await
                    .unwrap()
                    .run(&mut conn)
                    .await
                    .unwrap();
                for e in &events {
                    let key = (before > 5).then(|| stream_key(&e.stream));
                    sqlx::query(
                        "INSERT INTO events (seq, stream, stream_version, type, \
                         schema_version, payload, recorded_at, idempotency_key, prev_hash, \
                         hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    )
                    .bind(e.seq as i64)
                    .bind(&e.stream)
                    .bind(e.stream_version as i64)
                    .bind(&e.kind)
                    .bind(i64::from(e.schema_version))
                    .bind(&e.payload)
                    .bind(&e.recorded_at)
                    .bind(&e.idempotency_key)
                    .bind(e.prev_hash.as_slice())
                    .bind(e.hash.as_slice())
                    .execute(&mut conn)
                    .await
                    .unwrap();
                    if let Some(key) = key {
                        sqlx::query("UPDATE events SET stream_key = ? WHERE seq = ?")
                            .bind(key)
                            .bind(e.seq as i64)
                            .execute(&mut conn)
                            .await
                            .unwrap();
                    }
                }
                // The upgrade, linked seven events per transaction: a stream's links
                // carry over from one transaction to the next through `streams`.
                MIGRATOR.run(&mut conn).await.unwrap();
                conn.close().await.unwrap();
                let raw = rusqlite::Connection::open(&file).unwrap();
                fill_stream_links(&raw, 7).unwrap();
            }

            let store = SqliteStore::open(&file, SqliteOptions::default())
                .await
                .unwrap();
            let unlinked = count(
                &store,
                "SELECT COUNT(*) FROM events WHERE stream_key IS NULL OR prev_in_stream IS NULL",
            )
            .await;
            assert_eq!(unlinked, 0);
            let marks = count(&store, "SELECT COUNT(*) FROM stream_marks").await;
            assert_eq!(marks, 3);
            let pending = count(&store, "SELECT COUNT(*) FROM stream_link_fill").await;
            assert_eq!(pending, 0);
            let report = store.verify(&VerifyOptions::default()).await.unwrap();
            assert!(report.is_ok() && report.entries == 3 * EACH, "{report:?}");
            let stream = events[4].stream.clone();
            let read = store.read_stream(&stream, 0, 100).await.unwrap();
            let want: Vec<u64> = events
                .iter()
                .filter(|e| e.stream == stream)
                .map(|e| e.seq)
                .collect();
            assert_eq!(read.iter().map(|e| e.seq).collect::<Vec<_>>(), want);
            // The writer reads the stream's tip from `streams`.
            let next = move_of(3 * EACH + 1, 3);
            assert_eq!(next.stream(), stream);
            let stale = store
                .append(
                    Append::new(next.clone())
                        .expect(stream.clone(), ExpectedVersion::Exact(EACH - 1)),
                )
                .await;
            assert!(
                matches!(stale, Err(StoreError::Conflict { actual: EACH, .. })),
                "{stale:?}"
            );
            let appended = store
                .append(Append::new(next).expect(stream.clone(), ExpectedVersion::Exact(EACH)))
                .await
                .unwrap();
            assert_eq!(appended.stream_version, EACH + 1);
            let read = store.read_stream(&stream, EACH - 1, 100).await.unwrap();
            let versions: Vec<u64> = read.iter().map(|e| e.stream_version).collect();
            assert_eq!(versions, [EACH, EACH + 1]);
            let report = store.verify(&VerifyOptions::default()).await.unwrap();
            assert!(
                report.is_ok() && report.entries == 3 * EACH + 1,
                "{report:?}"
            );

            // Still append-only: neither a field nor a filled key or link can change.
            for sql in [
                "UPDATE events SET payload = 'x' WHERE seq = 1",
                "UPDATE events SET stream_key = 5 WHERE seq = 1",
                "UPDATE events SET stream_key = NULL WHERE seq = 1",
                "UPDATE events SET prev_in_stream = 3 WHERE seq = 10",
                "UPDATE events SET prev_in_stream = NULL WHERE seq = 10",
            ] {
                let refused = sqlx::query(sqlx::AssertSqlSafe(sql))
                    .execute(store.aux_pool())
                    .await;
                assert!(
                    refused.is_err_and(|e| e.to_string().contains("append-only")),
                    "{sql}"
                );
            }
        }
    }

    /// Reads by stream walk the links back from a mark or from `streams`: a changed link,
    /// stream tip or mark would hide events or show another stream's, so `verify` reports
    /// each at the entry concerned.
    #[tokio::test]
    async fn verify_catches_a_changed_stream_link_tip_or_mark() {
        let cases: &[(&str, &[&str], u64, ChainBreak)] = &[
            (
                "a link skips an event",
                &[
                    "DROP TRIGGER events_no_update",
                    "UPDATE events SET prev_in_stream = 0 WHERE seq = 7",
                ],
                7,
                ChainBreak::StreamLink,
            ),
            (
                "a tip points at an older event",
                &[
                    "UPDATE streams SET last_seq = last_seq - 3, version = version - 1 \
                   WHERE last_seq = (SELECT MAX(last_seq) FROM streams)",
                ],
                201,
                // Seq 201 is move 199, of negotiation 1.
                ChainBreak::StreamIndex {
                    stream: move_of(199, 3).stream(),
                },
            ),
            (
                "a stream is missing",
                &["DELETE FROM streams WHERE name = 'node'"],
                1,
                ChainBreak::StreamIndex {
                    stream: "node".into(),
                },
            ),
            (
                // Version 64 of negotiation 0 is move 189, seq 191.
                "a mark points at another event",
                &["UPDATE stream_marks SET seq = seq - 3 WHERE seq = 191"],
                188,
                ChainBreak::StreamIndex {
                    stream: move_of(0, 3).stream(),
                },
            ),
            (
                "a mark is missing",
                &["DELETE FROM stream_marks WHERE seq = 192"],
                192,
                ChainBreak::StreamIndex {
                    stream: move_of(1, 3).stream(),
                },
            ),
        ];
        for (what, sqls, seq, reason) in cases {
            let dir = tempfile::tempdir().unwrap();
            let store = SqliteStore::open(dir.path().join("s.db"), SqliteOptions::default())
                .await
                .unwrap();
            store
                .append(Append::new(accord_core::Event::Genesis {
                    node_key_fingerprint: "fp".into(),
                    config: serde_json::json!({}),
                    created_at: chrono::Utc::now(),
                }))
                .await
                .unwrap();
            // Moves of negotiations 0, 1 and 2, in turn: move `i` is seq `i + 2`, and
            // each negotiation reaches version 64 (its first mark).
            for i in 0..200 {
                store.append(Append::new(move_of(i, 3))).await.unwrap();
            }
            let marks = count(&store, "SELECT COUNT(*) FROM stream_marks").await;
            assert_eq!(marks, 3);
            let clean = store.verify(&VerifyOptions::default()).await.unwrap();
            assert!(clean.is_ok(), "{what}: {clean:?}");
            for sql in *sqls {
                sqlx::query(sqlx::AssertSqlSafe(*sql))
                    .execute(store.aux_pool())
                    .await
                    .unwrap();
            }
            let report = store.verify(&VerifyOptions::default()).await.unwrap();
            let broken = report
                .broken
                .unwrap_or_else(|| panic!("{what}: not caught"));
            assert_eq!((broken.seq, &broken.reason), (*seq, reason), "{what}");
        }
    }

    /// A changed index key would hide an event from its stream's reads: `verify` reports
    /// it as a changed field at that entry.
    #[tokio::test]
    async fn verify_catches_a_changed_stream_key() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(dir.path().join("s.db"), SqliteOptions::default())
            .await
            .unwrap();
        for i in 0..8 {
            store.append(Append::new(move_event(i))).await.unwrap();
        }
        sqlx::query("DROP TRIGGER events_no_update")
            .execute(store.aux_pool())
            .await
            .unwrap();
        sqlx::query("UPDATE events SET stream_key = stream_key + 1 WHERE seq = 6")
            .execute(store.aux_pool())
            .await
            .unwrap();
        let report = store.verify(&VerifyOptions::default()).await.unwrap();
        let broken = report.broken.unwrap();
        assert_eq!((broken.seq, broken.reason), (6, ChainBreak::HashMismatch));
    }

    /// With `Durability::Full` groups are answered and announced by the sync thread:
    /// every caller hears back, in a group of concurrent callers, and the change feed
    /// covers every appended event exactly once, in order.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn full_durability_answers_and_announces_every_group() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(
            dir.path().join("full.db"),
            SqliteOptions {
                durability: Durability::Full,
                ..SqliteOptions::default()
            },
        )
        .await
        .unwrap();
        let mut feed = store.subscribe_feed().await.unwrap();
        let tasks: Vec<_> = (0..64)
            .map(|i| {
                let store = store.clone();
                tokio::spawn(async move {
                    store
                        .append(Append::new(move_event(i)).key(format!("k-{i}")))
                        .await
                })
            })
            .collect();
        let mut seqs = Vec::new();
        for t in tasks {
            seqs.push(t.await.unwrap().unwrap().first_seq);
        }
        seqs.sort_unstable();
        assert_eq!(seqs, (1..=64).collect::<Vec<_>>());
        // A replay is answered with the first result, through the same thread.
        let again = store
            .append(Append::new(move_event(3)).key("k-3"))
            .await
            .unwrap();
        assert!(again.replayed);
        let mut next = 1;
        while next <= 64 {
            let change = tokio::time::timeout(Duration::from_secs(5), feed.recv())
                .await
                .expect("every group is announced")
                .unwrap();
            assert_eq!(change.first_seq, next, "{change:?}");
            next = change.last_seq + 1;
        }
        assert_eq!(next, 65);
    }
}
