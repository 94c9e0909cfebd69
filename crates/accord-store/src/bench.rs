//! Store benchmarks that `accord bench store` runs and prints, and that the criterion
//! benches in `benches/` reuse. Each function builds a fresh store under `dir` (SQLite)
//! or in a fresh schema (PostgreSQL), times one thing, and reports events per second.

use std::path::Path;
use std::time::Instant;

use accord_core::Event;
use accord_core::document::SpendLine;
use accord_core::id::{SpendLineId, SupplierId};
use accord_core::party::CategoryCode;
use accord_core::{Currency, Money};

use crate::audit::NodeKey;
use crate::chain::VerifyOptions;
use crate::error::{Result, StoreError};
use crate::model::Append;
use crate::model::Durability;
use crate::pg::{PgOptions, PgStore};
use crate::sqlite::{SqliteOptions, SqliteStore};
use crate::store::Store;

/// How appends are issued.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum AppendMode {
    /// `append_batch` of `batch` events per transaction, `synchronous=NORMAL`.
    Batched { batch: usize },
    /// One `append` (one transaction) per event, one caller, `synchronous=NORMAL`.
    Single,
    /// `writers` concurrent callers each appending one event at a time with
    /// `Durability::Full`; the writer thread commits them in groups, each answered once the
    /// WAL is synced (one fsync per group, overlapped with the next group).
    GroupCommit { writers: usize },
}

/// One measured figure.
#[derive(Clone, Debug, serde::Serialize)]
pub struct BenchReport {
    pub name: String,
    pub events: u64,
    pub seconds: f64,
    pub per_second: f64,
    /// CPU time the whole process spent per event while the clock ran, in microseconds
    /// (all threads, user and system; `None` where the OS does not say). On a 2-core
    /// machine, throughput can reach at most 2 / this per microsecond: a steadier measure
    /// of cost than the rate, which moves with the machine's load.
    pub cpu_us_per_event: Option<f64>,
    /// What the figure includes and the durability it had.
    pub notes: String,
}

impl BenchReport {
    fn new(name: String, events: u64, clock: Stopwatch, notes: &str) -> BenchReport {
        let (seconds, cpu) = clock.stop();
        let per_event = |secs: f64| secs * 1e6 / events.max(1) as f64;
        BenchReport {
            name,
            events,
            seconds,
            per_second: events as f64 / seconds.max(1e-9),
            cpu_us_per_event: cpu.map(per_event),
            notes: notes.to_string(),
        }
    }
}

/// Wall time and the process's CPU time since it started.
#[derive(Clone, Copy)]
struct Stopwatch {
    wall: Instant,
    cpu: Option<f64>,
}

impl Stopwatch {
    fn start() -> Stopwatch {
        Stopwatch {
            wall: Instant::now(),
            cpu: process_cpu_seconds(),
        }
    }

    /// Seconds of wall time and of CPU time (all threads) since [`Stopwatch::start`].
    fn stop(self) -> (f64, Option<f64>) {
        let wall = self.wall.elapsed().as_secs_f64();
        let cpu = self.cpu.zip(process_cpu_seconds()).map(|(a, b)| b - a);
        (wall, cpu)
    }
}

/// User plus system CPU time of this process so far, from `/proc/self/stat` (Linux; in
/// clock ticks of 10 ms, so figures over a second or more are what it is good for).
fn process_cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the parenthesised command name; utime and stime are fields 14 and 15.
    let rest = &stat[stat.rfind(')')? + 2..];
    let mut fields = rest.split(' ').skip(11);
    let utime: f64 = fields.next()?.parse().ok()?;
    let stime: f64 = fields.next()?.parse().ok()?;
    const TICKS_PER_SECOND: f64 = 100.0;
    Some((utime + stime) / TICKS_PER_SECOND)
}

impl std::fmt::Display for BenchReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{:<40} {:>10} events {:>8.2} s {:>12.0} /s",
            self.name, self.events, self.seconds, self.per_second
        )?;
        if let Some(cpu) = self.cpu_us_per_event {
            write!(f, " {cpu:>6.2} µs CPU/event")?;
        }
        write!(f, "  ({})", self.notes)
    }
}

/// Which event the append benchmarks write.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub enum BenchEvent {
    /// A supplier's counter-offer in one of 1,000 open negotiations: the log's hot path
    /// (most of what a campaign appends), an event with no read-model row.
    #[default]
    Move,
    /// A spend line, with its row in the `spend` read model (and its `external_ref` key).
    Spend,
}

impl BenchEvent {
    /// The `i`-th event of this kind.
    pub fn event(self, i: u64) -> Event {
        match self {
            BenchEvent::Move => move_event(i),
            BenchEvent::Spend => spend_event(i),
        }
    }

    fn describe(self) -> &'static str {
        match self {
            BenchEvent::Move => "negotiation moves",
            BenchEvent::Spend => "spend lines + projection",
        }
    }
}

/// A realistic negotiation event: the supplier's counter-offer, move `3 + i / 1000` of
/// negotiation `i % 1000` (so it updates no read model), with the request's key and hash
/// as the protocol records them.
pub fn move_event(i: u64) -> Event {
    use accord_core::deal::Terms;
    use accord_core::id::NegotiationId;
    use accord_core::negotiation::{MoveAction, MoveRecord, Party};
    let at =
        chrono::DateTime::from_timestamp(1_790_000_000 + (i / 100) as i64, 0).expect("valid time");
    Event::NegotiationMoved {
        record: MoveRecord {
            negotiation: NegotiationId::from_parts(1_790_000_000_000, u128::from(i % 1000)),
            number: 3 + (i / 1000) as u32,
            party: Party::Supplier,
            action: MoveAction::Offer {
                options: vec![Terms {
                    price: Money::new(10_000 - (i % 700) as i64, Currency::EUR),
                    payment_days: 30 + (i % 60) as i64,
                    lead_time_days: 5 + (i % 20) as i64,
                    contract_months: 12,
                    early_payment: None,
                }],
            },
            at,
            idempotency_key: Some(format!("move-{i:010}")),
            request_hash: Some(format!("{:064x}", u128::from(i) * 0x9e37_79b9_7f4a_7c15)),
            rationale: None,
            guard: None,
        },
    }
}

/// A realistic import event: one spend line of one of 1,000 suppliers.
pub fn spend_event(i: u64) -> Event {
    Event::SpendRecorded {
        line: SpendLine {
            id: SpendLineId::from_parts(1_700_000_000_000 + i / 1000, u128::from(i)),
            external_ref: format!("PO-2026-{i:08}"),
            supplier: SupplierId::from_parts(1_700_000_000_000, u128::from(i % 1000)),
            category: CategoryCode::parse("office-supplies").expect("valid category"),
            sku: Some(format!("SKU-{:05}", i % 20_000)),
            description: "Copier paper A4 80gsm, box of 5 reams".into(),
            quantity: rust_decimal::Decimal::from(1 + i % 12),
            amount: Money::new(1_000 + (i % 9_973) as i64 * 17, Currency::EUR),
            date: chrono::NaiveDate::from_ymd_opt(2025, 1, 1).expect("valid date")
                + chrono::Days::new(i % 365),
        },
    }
}

fn sqlite_options(durability: Durability) -> SqliteOptions {
    SqliteOptions {
        durability,
        signing_key: Some(NodeKey::from_seed([7; 32])),
        checkpoint_every: 10_000,
        ..SqliteOptions::default()
    }
}

fn fresh_file(dir: &Path, name: &str) -> Result<std::path::PathBuf> {
    std::fs::create_dir_all(dir)?;
    let path = dir.join(format!("{name}.db"));
    for suffix in ["", "-wal", "-shm"] {
        let p = dir.join(format!("{name}.db{suffix}"));
        if p.exists() {
            std::fs::remove_file(p)?;
        }
    }
    Ok(path)
}

/// Appends `n` spend events (with their spend projection rows, hashing and a signed
/// checkpoint every 10,000 entries) to a fresh SQLite file in `dir`.
pub async fn bench_append_sqlite(
    dir: &Path,
    mode: AppendMode,
    kind: BenchEvent,
    n: u64,
) -> Result<BenchReport> {
    let durability = match mode {
        AppendMode::GroupCommit { .. } => Durability::Full,
        _ => Durability::Normal,
    };
    let path = fresh_file(dir, "bench-append")?;
    let store = SqliteStore::open(&path, sqlite_options(durability)).await?;
    // Events are built before the clock starts: the figure is the store's. So is their
    // share-out to the concurrent writers (moving 200,000 events into 1,024 queues took
    // as long as the store's own per-request work).
    let mut events: Vec<Option<Event>> = (0..n).map(|i| Some(kind.event(i))).collect();
    let mut per_writer: Vec<Vec<Event>> = match mode {
        AppendMode::GroupCommit { writers } => vec![Vec::new(); writers.max(1)],
        _ => Vec::new(),
    };
    let writers = per_writer.len();
    if writers > 0 {
        for (i, e) in events.iter_mut().enumerate() {
            if let Some(e) = e.take() {
                per_writer[i % writers].push(e);
            }
        }
    }
    let start = Stopwatch::start();
    let (name, notes) = match mode {
        AppendMode::Batched { batch } => {
            // Two batches in flight: the next one is canonicalised and hashed-ready
            // while the writer commits the previous one, as an importer would do.
            let batch = batch.max(1);
            let mut in_flight: Option<tokio::task::JoinHandle<Result<Vec<_>>>> = None;
            for chunk in events.chunks_mut(batch) {
                let cmds: Vec<Append> = chunk
                    .iter_mut()
                    .filter_map(|e| e.take().map(Append::new))
                    .collect();
                let s = store.clone();
                let next = tokio::spawn(async move { s.append_batch(cmds).await });
                if let Some(prev) = in_flight.replace(next) {
                    prev.await
                        .map_err(|e| StoreError::Invalid(e.to_string()))??;
                }
            }
            if let Some(last) = in_flight {
                last.await
                    .map_err(|e| StoreError::Invalid(e.to_string()))??;
            }
            (
                format!("sqlite append, batches of {batch}, {}", kind.describe()),
                "WAL, synchronous=NORMAL: survives a process crash; a power loss may drop the last commits",
            )
        }
        AppendMode::Single => {
            for e in events.iter_mut() {
                if let Some(e) = e.take() {
                    store.append(Append::new(e)).await?;
                }
            }
            (
                format!("sqlite append, 1 per transaction, {}", kind.describe()),
                "WAL, synchronous=NORMAL: survives a process crash; a power loss may drop the last commits",
            )
        }
        AppendMode::GroupCommit { .. } => {
            let mut tasks = Vec::new();
            for mine in per_writer {
                let store = store.clone();
                tasks.push(tokio::spawn(async move {
                    for e in mine {
                        store.append(Append::new(e)).await?;
                    }
                    Ok::<_, StoreError>(())
                }));
            }
            for t in tasks {
                t.await.map_err(|e| StoreError::Invalid(e.to_string()))??;
            }
            (
                format!("sqlite append, {writers} writers, {}", kind.describe()),
                "Durability::Full: every acknowledged event survives a power loss (WAL synced before the answer)",
            )
        }
    };
    let report = BenchReport::new(name, n, start, notes);
    let last = store.last_seq().await?;
    if last != n {
        return Err(StoreError::Invalid(format!(
            "appended {last} of {n} events"
        )));
    }
    Ok(report)
}

/// SQLite's own floor for the log's rows: `n` negotiation moves, canonicalised and given
/// placeholder hashes before the clock starts, inserted with the writer's statement and
/// pragmas by one rusqlite connection, 10,000 rows per transaction, into a fresh file with
/// the store's schema, and never checkpointed. No planning, hashing, stream tips or
/// checkpoint I/O: whatever appends this schema on this machine pays at least.
pub async fn bench_sqlite_rows(dir: &Path, n: u64) -> Result<BenchReport> {
    let path = fresh_file(dir, "bench-rows")?;
    drop(SqliteStore::open(&path, sqlite_options(Durability::Normal)).await?);
    tokio::task::spawn_blocking(move || {
        let conn = crate::sqlite::open_writer(&path)?;
        let recorded_at = crate::plan::now_text();
        let rows: Vec<(String, String, &'static str)> = (0..n)
            .map(|i| {
                let e = move_event(i);
                let payload = crate::chain::canonical_json(&e).map_err(|e| {
                    StoreError::Invalid(format!("canonical JSON of a move failed: {e}"))
                })?;
                Ok((e.stream(), payload, e.kind()))
            })
            .collect::<Result<_>>()?;
        let start = Stopwatch::start();
        let mut stmt = conn.prepare(crate::sqlite::write::INSERT_EVENT)?;
        for (chunk, batch) in rows.chunks(10_000).enumerate() {
            conn.execute_batch("BEGIN IMMEDIATE")?;
            for (j, (stream, payload, kind)) in batch.iter().enumerate() {
                let i = (chunk * 10_000 + j) as i64;
                let hash = [(i % 251) as u8; 32];
                stmt.execute(rusqlite::params![
                    i + 1,
                    stream,
                    3 + i / 1000,
                    kind,
                    i64::from(accord_core::EVENT_SCHEMA_VERSION),
                    payload,
                    recorded_at,
                    None::<&str>,
                    hash.as_slice(),
                    hash.as_slice(),
                    crate::sqlite::stream_key(stream),
                    (i + 1 - 1000).max(0),
                ])?;
            }
            conn.execute_batch("COMMIT")?;
        }
        Ok(BenchReport::new(
            "sqlite rows alone, batches of 10000, moves".into(),
            n,
            start,
            "rusqlite inserts of prebuilt rows, no hashing or planning, no checkpoints: a floor",
        ))
    })
    .await
    .map_err(|e| StoreError::Invalid(e.to_string()))?
}

/// Imports `n` spend lines as the CSV importer does: `append_batch` of 10,000 commands,
/// each with its own idempotency key, projections included.
pub async fn bench_import_sqlite(dir: &Path, n: u64) -> Result<BenchReport> {
    let path = fresh_file(dir, "bench-import")?;
    let store = SqliteStore::open(&path, sqlite_options(Durability::Normal)).await?;
    let start = Stopwatch::start();
    // Two batches in flight: while the writer commits one, the next is built and
    // canonicalised. (An importer gets the same overlap by spawning its next batch
    // before awaiting the previous one.)
    let mut in_flight: Option<tokio::task::JoinHandle<Result<Vec<_>>>> = None;
    let mut i = 0;
    while i < n {
        let end = (i + 10_000).min(n);
        let s = store.clone();
        let next = tokio::spawn(async move {
            let cmds = (i..end)
                .map(|j| Append::new(spend_event(j)).key(format!("import:spend:PO-2026-{j:08}")))
                .collect();
            s.append_batch(cmds).await
        });
        if let Some(prev) = in_flight.replace(next) {
            prev.await
                .map_err(|e| StoreError::Invalid(e.to_string()))??;
        }
        i = end;
    }
    if let Some(last) = in_flight {
        last.await
            .map_err(|e| StoreError::Invalid(e.to_string()))??;
    }
    Ok(BenchReport::new(
        "sqlite import, 10,000 keyed lines per batch".into(),
        n,
        start,
        "idempotency keys, spend projection, hashing, WAL synchronous=NORMAL",
    ))
}

/// Builds an `n`-entry log (untimed), then times a full `verify`.
pub async fn bench_verify_sqlite(dir: &Path, n: u64) -> Result<BenchReport> {
    let path = fresh_file(dir, "bench-verify")?;
    let store = SqliteStore::open(&path, sqlite_options(Durability::Normal)).await?;
    let mut i = 0;
    while i < n {
        let end = (i + 20_000).min(n);
        store
            .append_batch((i..end).map(|j| Append::new(spend_event(j))).collect())
            .await?;
        i = end;
    }
    let start = Stopwatch::start();
    let report = store.verify(&VerifyOptions::default()).await?;
    let figure = BenchReport::new(
        "sqlite verify".into(),
        n,
        start,
        "recomputes every hash and checks every checkpoint signature",
    );
    if !report.is_ok() || report.entries != n {
        return Err(StoreError::Invalid(format!("verify failed: {report:?}")));
    }
    Ok(figure)
}

/// `writers` concurrent tasks append `n` events of `kind` in total to a fresh schema,
/// each command `batch` events (1 = one event per call; the node's writer groups
/// concurrent calls), the writer committing with `durability`.
pub async fn bench_append_pg(
    url: &str,
    writers: usize,
    batch: usize,
    n: u64,
    durability: Durability,
    kind: BenchEvent,
) -> Result<BenchReport> {
    let schema = format!("bench_{}", std::process::id());
    {
        use sqlx::{Connection, Executor};
        let mut c = sqlx::PgConnection::connect(url).await?;
        c.execute(sqlx::AssertSqlSafe(format!(
            "DROP SCHEMA IF EXISTS {schema} CASCADE"
        )))
        .await?;
        c.close().await?;
    }
    let store = PgStore::connect(
        url,
        PgOptions {
            schema: Some(schema.clone()),
            signing_key: Some(NodeKey::from_seed([7; 32])),
            checkpoint_every: 10_000,
            durability,
            ..PgOptions::default()
        },
    )
    .await?;
    let writers = writers.max(1) as u64;
    let batch = batch.max(1) as u64;
    // Each task's calls are built before the clock starts, as in the SQLite figures:
    // the figure is the store's.
    let calls: Vec<Vec<Vec<Append>>> = (0..writers)
        .map(|w| {
            (w * batch..n)
                .step_by((writers * batch) as usize)
                .map(|i| {
                    (i..(i + batch).min(n))
                        .map(|j| Append::new(kind.event(j)))
                        .collect()
                })
                .collect()
        })
        .collect();
    let start = Stopwatch::start();
    let mut tasks = Vec::new();
    for mine in calls {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            for cmds in mine {
                store.append_batch(cmds).await?;
            }
            Ok::<_, StoreError>(())
        }));
    }
    for t in tasks {
        t.await.map_err(|e| StoreError::Invalid(e.to_string()))??;
    }
    let report = BenchReport::new(
        format!(
            "postgres append, {writers} writers, {batch} per call, {durability:?}, {}",
            kind.describe()
        ),
        n,
        start,
        match durability {
            Durability::Full => {
                "synchronous_commit as the server has it (on); group commit per node"
            }
            Durability::Normal => "synchronous_commit=off; group commit per node",
        },
    );
    let last = store.last_seq().await?;
    {
        use sqlx::Executor;
        store
            .pool()
            .execute(sqlx::AssertSqlSafe(format!(
                "DROP SCHEMA IF EXISTS {schema} CASCADE"
            )))
            .await?;
    }
    if last != n {
        return Err(StoreError::Invalid(format!(
            "appended {last} of {n} events"
        )));
    }
    Ok(report)
}

/// PostgreSQL's own floor for one event per durable commit: `clients` connections, each
/// inserting its share of `n` rows (a sequence number and a spend line's canonical JSON,
/// built before the clock starts) one `INSERT` per autocommit transaction, with the
/// server's `synchronous_commit`, into a fresh table with a primary key and nothing else.
/// No chain, no tip lock, no read model, no grouping: the rate at which this server
/// makes single rows durable for that many closed-loop callers, which puts
/// [`bench_append_pg`] at one event per call in proportion.
pub async fn bench_pg_commit_floor(url: &str, clients: usize, n: u64) -> Result<BenchReport> {
    let table = format!("bench_floor_{}", std::process::id());
    let config = crate::pg::writer_config(url, &std::str::FromStr::from_str(url)?)?;
    let connect = || config.open();
    let admin = connect().await?;
    admin
        .batch_execute(&format!(
            "DROP TABLE IF EXISTS {table}; \
             CREATE TABLE {table} (seq BIGINT PRIMARY KEY, payload TEXT NOT NULL)"
        ))
        .await?;
    let clients = clients.max(1) as u64;
    let mut shares = Vec::new();
    for c in 0..clients {
        let client = connect().await?;
        let insert = client
            .prepare(&format!(
                "INSERT INTO {table} (seq, payload) VALUES ($1, $2)"
            ))
            .await?;
        let rows: Vec<(i64, String)> = (c..n)
            .step_by(clients as usize)
            .map(|i| {
                let payload = crate::chain::canonical_json(&spend_event(i))
                    .map_err(|e| StoreError::Invalid(format!("canonical JSON failed: {e}")))?;
                Ok((i as i64, payload))
            })
            .collect::<Result<_>>()?;
        shares.push((client, insert, rows));
    }
    let start = Stopwatch::start();
    let tasks: Vec<_> = shares
        .into_iter()
        .map(|(client, insert, rows)| {
            tokio::spawn(async move {
                for (seq, payload) in &rows {
                    client.execute(&insert, &[seq, payload]).await?;
                }
                Ok::<_, StoreError>(())
            })
        })
        .collect();
    for t in tasks {
        t.await.map_err(|e| StoreError::Invalid(e.to_string()))??;
    }
    let report = BenchReport::new(
        format!(
            "postgres floor, {clients} client{}, 1-row commits",
            if clients == 1 { "" } else { "s" }
        ),
        n,
        start,
        "one INSERT per autocommit transaction, synchronous_commit as the server has it: \
         no chain, lock, read model or grouping",
    );
    let count: i64 = admin
        .query_one(&format!("SELECT count(*) FROM {table}"), &[])
        .await?
        .get(0);
    admin
        .batch_execute(&format!("DROP TABLE IF EXISTS {table}"))
        .await?;
    if count as u64 != n {
        return Err(StoreError::Invalid(format!("inserted {count} of {n} rows")));
    }
    Ok(report)
}
