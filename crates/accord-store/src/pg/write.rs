//! The PostgreSQL writer task. Each node runs one; it drains its request channel into one
//! transaction per group (group commit) and acknowledges callers after the commit.
//!
//! The writer has its own connection, through `tokio-postgres` rather than the sqlx pool
//! the rest of the backend reads with, because that client pipelines: statements polled
//! together go out back to back and are answered in order. A group therefore costs one
//! or two round trips however many rows it writes. When the writer knows the tip, it plans
//! on its cache, taking a stream it has not cached as new and a key it did not commit
//! itself as unused, and sends the tip update (which takes the tip's lock), every row and
//! the notification in one round trip: as one statement outside a transaction, which
//! PostgreSQL commits on its own ([`Parts`]: data-modifying `WITH` queries, one per
//! table), or, when a group writes a table twice or writes what another of its rows
//! reads, as `BEGIN`, a statement per table and `COMMIT` in one [`Flight`]. One statement
//! instead of five nearly halved the client's CPU per event and raised one-event appends
//! by four callers by about a third (BENCHMARKS.md, session 14). The database's unique
//! keys refuse a wrong guess (the first new seq is taken if another node appended, a
//! stream's version or a key is taken), and the group is planned again the careful way.
//! That way ([`Writer::begin`]) first begins
//! the transaction, locks the tip and reads the stream versions and idempotency keys
//! planning needs, then sends the writes. sqlx waits for each statement's answer before it
//! sends the next (launchbadge/sqlx#408).
//!
//! Chain appends across nodes are serialised by locking the single row of `chain_tip`
//! `FOR UPDATE` at the start of every write transaction. A row lock rather than an
//! advisory lock because the same statement hands the writer the current tip (seq, hash)
//! without a `MAX(seq)` scan, it is released by commit or rollback with no separate
//! unlock path to get wrong, and updating the row records the new tip in the same commit.
//!
//! INVARIANT: `chain_tip` equals the last committed entry. A locked attempt compares the
//! cached tip with it and drops the cached stream versions when they differ; a guessed
//! attempt inserts its first entry at the cached tip's next seq, which the primary key
//! refuses if the tip moved, so a guess commits only on the log it was planned on.
//!
//! INVARIANT: a flight's `COMMIT` goes out only if every statement before it went out. A
//! statement the server refuses aborts the transaction, and PostgreSQL answers the
//! `COMMIT` of an aborted transaction by rolling it back, so a failed flight leaves
//! nothing behind.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use futures_util::future::{join, join_all, join3};
use tokio::sync::mpsc;
use tokio_postgres::error::SqlState;
use tokio_postgres::types::ToSql;
use tokio_postgres::{Client, Row, Statement};
use tokio_postgres_rustls::MakeRustlsConnect;

use super::pgpass;
use super::tls::TlsSettings;
use super::{PgOptions, WriteRequest};
use crate::audit::NodeKey;
use crate::chain::GENESIS_PREV_HASH;
use crate::error::{Result, StoreError};
use crate::model::{Appended, Durability, ExpectedVersion};
use crate::plan::{self, Map, Plan, PreparedCommand, ProjOp, Tip};
use crate::read;

const MAX_CACHED_STREAMS: usize = 500_000;

const MAX_CACHED_KEYS: usize = 100_000;

/// How long the writer waits to (re)connect unless the URL sets `connect_timeout`.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

const YIELDS: usize = 3;

/// The first wait after a failed reconnect; each further failure doubles it, up to
/// [`MOST_BETWEEN_RECONNECTS`].
const FIRST_RECONNECT_WAIT: Duration = Duration::from_millis(100);
const MOST_BETWEEN_RECONNECTS: Duration = Duration::from_secs(5);

/// After a wrong guess, the writer plans this many groups with the lock before it
/// guesses again, so that a workload the cache does not cover (a restart, another node
/// appending) costs a wasted round trip at most once in this many groups.
const CAREFUL_AFTER_A_MISS: u32 = 64;

pub(crate) struct Writer {
    db: Db,
    tip_seq: u64,
    tip_hash: [u8; 32],
    versions: Map<String, u64>,
    signer: Option<NodeKey>,
    checkpoint_every: u64,
    max_group_events: usize,
    /// Groups left to plan with the lock before guessing again, after a wrong guess.
    careful_for: u32,
    /// What the keys this writer committed recorded, so that a retry is answered as a
    /// replay without a round trip to find out. A committed key never changes.
    keys: Map<String, Appended>,
    /// When the writer may try to reconnect again, after failing to.
    reconnect: Backoff,
}

/// When a writer that lost its connection tries again: at once the first time, then
/// after a wait that doubles with each failure (100 ms, 200 ms, … up to 5 s).
#[derive(Default)]
struct Backoff {
    failures: u32,
    not_before: Option<Instant>,
}

impl Backoff {
    /// Records a failed attempt at `now` and returns the wait before the next.
    fn failed(&mut self, now: Instant) -> Duration {
        let wait = FIRST_RECONNECT_WAIT
            .saturating_mul(1 << self.failures.min(16))
            .min(MOST_BETWEEN_RECONNECTS);
        self.failures += 1;
        self.not_before = Some(now + wait);
        wait
    }

    /// How long until the next attempt is due, if it is not due yet.
    fn wait(&self) -> Option<Duration> {
        let left = self.not_before?.checked_duration_since(Instant::now())?;
        (!left.is_zero()).then_some(left)
    }
}

/// The writer's connection, the channel it notifies on and its prepared statements.
struct Db {
    client: Client,
    channel: String,
    sql: Statements,
    /// How to open the connection again should it be lost.
    config: WriterConnect,
}

impl Db {
    /// The whole-group statement for `parts`, prepared on this connection the first time
    /// a group needs it.
    async fn whole(
        &mut self,
        parts: Parts,
    ) -> std::result::Result<Statement, tokio_postgres::Error> {
        let slot = usize::from(parts.0);
        if let Some(statement) = &self.sql.whole[slot] {
            return Ok(statement.clone());
        }
        let statement = self.client.prepare(&whole_group_sql(parts)).await?;
        self.sql.whole[slot] = Some(statement.clone());
        Ok(statement)
    }

    /// Opens the writer's connection and prepares its statements; the tables must exist.
    /// The session is named `accord-writer {channel}` in `pg_stat_activity`.
    async fn open(config: WriterConnect, channel: String) -> Result<Db> {
        let client = config.open().await?;
        let sql = Statements::prepare(&client).await?;
        Ok(Db {
            client,
            channel,
            sql,
            config,
        })
    }
}

impl Writer {
    /// Opens the writer's connection with `config` (from [`writer_config`]; in
    /// `options.schema` when given) and prepares its statements; the tables must exist.
    pub async fn connect(
        mut connect: WriterConnect,
        options: &PgOptions,
        channel: String,
    ) -> Result<Writer> {
        let config = &mut connect.config;
        let settings = session_options(
            config.get_options(),
            options.schema.as_deref(),
            options.durability,
        );
        config.options(&settings);
        config.application_name(format!("accord-writer {channel}"));
        // A server that does not answer must not hold the writer (and every append
        // queued behind it) for the operating system's TCP timeout.
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(CONNECT_TIMEOUT);
        }
        Ok(Writer {
            db: Db::open(connect, channel).await?,
            tip_seq: u64::MAX,
            tip_hash: GENESIS_PREV_HASH,
            versions: Map::default(),
            signer: options.signing_key.clone(),
            checkpoint_every: options.checkpoint_every,
            max_group_events: options.max_group_events.max(1),
            careful_for: 0,
            keys: Map::default(),
            reconnect: Backoff::default(),
        })
    }

    pub async fn run(mut self, mut rx: mpsc::Receiver<WriteRequest>) {
        while let Some(first) = rx.recv().await {
            let mut events = first.events;
            let mut group = vec![first];
            // Callers answered by the last commit are usually runnable but not yet
            // queued again: yielding lets them send before the group closes, so that
            // closed-loop callers share one commit instead of alternating in halves.
            for _ in 0..YIELDS {
                tokio::task::yield_now().await;
                let before = group.len();
                while events < self.max_group_events {
                    match rx.try_recv() {
                        Ok(r) => {
                            events += r.events;
                            group.push(r);
                        }
                        Err(_) => break,
                    }
                }
                if group.len() == before {
                    break;
                }
            }
            if self.db.client.is_closed() && !self.reconnect().await {
                let msg = match self.reconnect.wait() {
                    Some(wait) => format!(
                        "the connection to PostgreSQL is lost; the writer tries again in {} ms",
                        wait.as_millis()
                    ),
                    None => "the connection to PostgreSQL is lost".to_owned(),
                };
                self.fail(group, &msg);
                continue;
            }
            self.commit_group(group).await;
        }
    }

    /// Opens the connection again after it was lost (a server restart, a terminated
    /// session). A group that was in flight when it broke has already failed: whether
    /// its `COMMIT` reached the server is unknown, so it is never resent; callers retry
    /// with their idempotency keys. After a failed attempt the writer waits before the
    /// next ([`Backoff`]); groups that arrive meanwhile fail at once rather than each
    /// trying (and, with a server that does not answer, waiting out the connect timeout
    /// in turn). Returns whether the writer is connected.
    async fn reconnect(&mut self) -> bool {
        if self.reconnect.wait().is_some() {
            return false;
        }
        match Db::open(self.db.config.clone(), self.db.channel.clone()).await {
            Ok(db) => {
                tracing::warn!("the PostgreSQL writer reconnected");
                self.db = db;
                self.forget();
                self.reconnect = Backoff::default();
                true
            }
            Err(e) => {
                let wait = self.reconnect.failed(Instant::now());
                tracing::error!(
                    error = %e,
                    retry_in_ms = wait.as_millis() as u64,
                    "the PostgreSQL writer cannot reconnect"
                );
                false
            }
        }
    }

    /// Commits a group in one transaction: every request is planned in memory on the tip
    /// the previous one left, and all planned rows go in with one multi-row statement per
    /// table. A request whose planning fails (a version conflict) fails alone and writes
    /// nothing.
    ///
    /// When it can, the writer plans on what it has cached and sends the whole
    /// transaction in one round trip ([`Reads::Guess`]). Otherwise, or when the guess
    /// proves wrong, it takes two: the versions and keys of every request are read with
    /// the tip lock first ([`Reads::Locked`]). Should the database refuse the merged rows
    /// of a locked attempt (a constraint one request broke), the group is rolled back and
    /// retried request by request, each in its own savepoint, so that only that request
    /// fails.
    async fn commit_group(&mut self, mut group: Vec<WriteRequest>) {
        let mut outcome = Err(Merged::Unchecked);
        if self.may_guess(&group) {
            outcome = self.try_merged(&group, Reads::Guess).await;
            if matches!(outcome, Err(Merged::Refused(_))) {
                self.forget();
                self.careful_for = CAREFUL_AFTER_A_MISS;
                outcome = Err(Merged::Unchecked);
            }
        } else {
            self.careful_for = self.careful_for.saturating_sub(1);
        }
        if matches!(outcome, Err(Merged::Unchecked)) {
            outcome = self.try_merged(&group, Reads::Locked).await;
        }
        match outcome {
            Ok(results) => {
                for (r, outcome) in group.into_iter().zip(results) {
                    let _ = r.reply.send(outcome);
                }
            }
            Err(Merged::Refused(msg)) if group.len() == 1 => {
                self.forget();
                let r = group.pop().expect("a group of one");
                let _ = r.reply.send(Err(StoreError::Constraint(msg)));
            }
            Err(Merged::Refused(_)) => {
                self.forget();
                self.commit_each(group).await;
            }
            Err(Merged::Failed(msg)) => self.fail(group, &msg),
            // A locked attempt always checks the tip; this is never reached.
            Err(Merged::Unchecked) => self.fail(group, "the tip was never checked"),
        }
    }

    fn fail(&mut self, group: Vec<WriteRequest>, msg: &str) {
        self.forget();
        for r in group {
            let _ = r
                .reply
                .send(Err(StoreError::Invalid(format!("commit failed: {msg}"))));
        }
    }

    /// Whether the group may be planned on the cache alone: the tip is known and no
    /// command expects an exact version of a stream the writer has not cached (a stream
    /// it has not seen is planned as new, which the database checks, but a wrong guess
    /// must not turn into a version conflict it does not check).
    fn may_guess(&self, group: &[WriteRequest]) -> bool {
        self.careful_for == 0
            && self.tip_seq != u64::MAX
            && group
                .iter()
                .flat_map(|r| &r.commands)
                .flat_map(|c| &c.expect)
                .all(|(stream, expected)| {
                    self.versions.contains_key(stream)
                        || !matches!(expected, ExpectedVersion::Exact(v) if *v > 0)
                })
    }

    /// The log as this writer sees it, for planning.
    fn tip<'a>(&'a self, known_keys: &'a Map<String, Appended>) -> Tip<'a> {
        Tip {
            streams: &self.versions,
            known_keys,
            signer: self.signer.as_ref().map(|k| (k, self.checkpoint_every)),
        }
    }

    /// Drops the cached tip and versions after a rolled-back transaction.
    fn forget(&mut self) {
        self.tip_seq = u64::MAX;
        self.versions.clear();
    }

    /// Ends whatever transaction a failure left open (a no-op outside one).
    async fn rollback(&self) {
        let _ = self.db.client.batch_execute("ROLLBACK").await;
    }

    async fn try_merged(
        &mut self,
        group: &[WriteRequest],
        reads: Reads,
    ) -> std::result::Result<Vec<Result<Vec<Appended>>>, Merged> {
        let known_keys = match reads {
            // Keys this writer committed are known; any other is taken as unused.
            Reads::Guess => group
                .iter()
                .flat_map(|r| &r.commands)
                .filter_map(|c| c.key.as_deref())
                .filter_map(|k| self.keys.get(k).map(|a| (k.to_owned(), *a)))
                .collect(),
            Reads::Locked => {
                let mut streams = Vec::new();
                let mut keys = Vec::new();
                for r in group {
                    let (s, k) = plan::needs(&r.commands);
                    streams.extend(s);
                    keys.extend(k);
                }
                streams.sort_unstable();
                streams.dedup();
                match self.begin(&streams, &keys).await {
                    Ok(k) => k,
                    Err(e) => {
                        self.rollback().await;
                        return Err(Merged::Failed(e.to_string()));
                    }
                }
            }
        };
        let recorded_at = plan::now_text();
        // One plan for the group, each request on top of the previous one; a request
        // that conflicts leaves it as it was and fails alone.
        let mut merged = Plan::new(self.tip_seq, self.tip_hash);
        let mut results = Vec::with_capacity(group.len());
        for r in group {
            results.push(merged.add(&self.tip(&known_keys), &r.commands, &recorded_at));
        }
        // A guessed group that can go as one statement goes so (see `Parts`).
        let whole = match (reads, merged.first_seq()) {
            (Reads::Guess, Some(_)) => match Parts::of(&merged) {
                Some(parts) => match self.db.whole(parts).await {
                    Ok(statement) => Some(statement),
                    Err(e) => return Err(Merged::Failed(e.to_string())),
                },
                None => None,
            },
            _ => None,
        };
        // Otherwise the flight opens a transaction, which a failure must roll back.
        let in_transaction = whole.is_none();
        let mut flight = Flight::new(&self.db);
        match (reads, merged.first_seq()) {
            (Reads::Locked, first_seq) => {
                flight.plan(&merged);
                flight.finish(first_seq, merged.tip_seq, merged.tip_hash);
            }
            // The first new entry's seq collides with the entry of any other node that
            // moved the tip since, and a stream wrongly planned as new collides on its
            // version, a key seen before on its row: a wrong guess cannot commit. With
            // nothing to insert there is no such check.
            (Reads::Guess, None) => return Err(Merged::Unchecked),
            (Reads::Guess, Some(first_seq)) => match &whole {
                Some(statement) => flight.whole(statement, &merged, first_seq),
                None => {
                    flight.begin();
                    flight.move_tip(first_seq, merged.tip_seq, merged.tip_hash);
                    flight.plan(&merged);
                    flight.commit();
                }
            },
        }
        match flight.run().await {
            Ok(()) => {
                self.advance(&merged);
                if self.keys.len() + merged.keys.len() > MAX_CACHED_KEYS {
                    self.keys.clear();
                }
                self.keys.extend(merged.keys.iter().map(|(k, a)| {
                    let replay = Appended {
                        replayed: true,
                        ..*a
                    };
                    ((*k).to_owned(), replay)
                }));
                Ok(results)
            }
            Err(e) => {
                if in_transaction {
                    self.rollback().await;
                }
                match constraint(e) {
                    StoreError::Constraint(msg) => Err(Merged::Refused(msg)),
                    other => Err(Merged::Failed(other.to_string())),
                }
            }
        }
    }

    /// Begins a transaction, locks the tip row and reads the versions of `streams` this
    /// writer has not cached and the appends already made under `keys`, in one round
    /// trip. If another node appended since, the cached versions are dropped and read
    /// again.
    async fn begin(
        &mut self,
        streams: &[String],
        keys: &[String],
    ) -> Result<Map<String, Appended>> {
        let missing = self.uncached(streams);
        let c = &self.db.client;
        let (begun, tip, found) = join3(
            c.batch_execute("BEGIN"),
            c.query_one(&self.db.sql.lock_tip, &[]),
            lookup(&self.db, &missing, keys),
        )
        .await;
        begun?;
        let tip = tip?;
        let (versions, known) = found?;
        let seq = tip.try_get::<_, i64>(0)? as u64;
        let hash = read::fixed(tip.try_get::<_, &[u8]>(1)?);
        if seq == self.tip_seq && hash == self.tip_hash {
            self.absorb(&missing, &versions)?;
            return known_keys(&known);
        }
        // Another node appended (or this is the first group): what was cached is stale.
        self.tip_seq = seq;
        self.tip_hash = hash;
        self.versions.clear();
        let all: Vec<&str> = streams.iter().map(String::as_str).collect();
        let (versions, _) = lookup(&self.db, &all, &[]).await?;
        self.absorb(&all, &versions)?;
        known_keys(&known)
    }

    /// Caches the versions read for `streams` (0 for a stream with no event yet).
    fn absorb(&mut self, streams: &[&str], rows: &[Row]) -> Result<()> {
        for s in streams {
            self.versions.insert((*s).to_owned(), 0);
        }
        for r in rows {
            let stream: String = r.try_get(0)?;
            let v: i64 = r.try_get(1)?;
            self.versions.insert(stream, v as u64);
        }
        Ok(())
    }

    /// Commits a group request by request, each in its own savepoint, so that the
    /// request the database refuses fails alone.
    async fn commit_each(&mut self, group: Vec<WriteRequest>) {
        if let Err(e) = self.begin(&[], &[]).await {
            let msg = e.to_string();
            self.rollback().await;
            self.forget();
            for r in group {
                let _ = r
                    .reply
                    .send(Err(StoreError::Invalid(format!("cannot begin: {msg}"))));
            }
            return;
        }
        let mut done: Vec<(WriteRequest, Result<Vec<Appended>>)> = Vec::with_capacity(group.len());
        let mut first_new = None;
        for mut req in group {
            let commands = std::mem::take(&mut req.commands);
            if let Err(e) = self.db.client.batch_execute("SAVEPOINT req").await {
                done.push((req, Err(e.into())));
                continue;
            }
            let outcome = match self.apply(&commands).await {
                Ok((first_seq, results)) => {
                    let _ = self.db.client.batch_execute("RELEASE SAVEPOINT req").await;
                    if let Some(seq) = first_seq {
                        first_new.get_or_insert(seq);
                    }
                    Ok(results)
                }
                Err(e) => {
                    let _ = self
                        .db
                        .client
                        .batch_execute("ROLLBACK TO SAVEPOINT req; RELEASE SAVEPOINT req")
                        .await;
                    Err(e)
                }
            };
            done.push((req, outcome));
        }
        let any_ok = done.iter().any(|(_, r)| r.is_ok());
        let finished = if any_ok {
            let mut flight = Flight::new(&self.db);
            flight.finish(first_new, self.tip_seq, self.tip_hash);
            flight.run().await.map_err(StoreError::from)
        } else {
            self.db
                .client
                .batch_execute("ROLLBACK")
                .await
                .map_err(StoreError::from)
        };
        if let Err(e) = finished {
            self.rollback().await;
            let group = done.into_iter().map(|(r, _)| r).collect();
            return self.fail(group, &e.to_string());
        }
        for (r, outcome) in done {
            let _ = r.reply.send(outcome);
        }
    }

    /// Plans and writes one request inside the open transaction; on success the cached
    /// tip moves past it. Returns the seq of its first new entry, if any, and its results.
    async fn apply(
        &mut self,
        commands: &[PreparedCommand],
    ) -> Result<(Option<u64>, Vec<Appended>)> {
        let (streams, keys) = plan::needs(commands);
        let missing = self.uncached(&streams);
        let (versions, known) = lookup(&self.db, &missing, &keys).await?;
        self.absorb(&missing, &versions)?;
        let known_keys = known_keys(&known)?;
        let recorded_at = plan::now_text();
        let mut plan = Plan::new(self.tip_seq, self.tip_hash);
        let results = plan.add(&self.tip(&known_keys), commands, &recorded_at)?;
        let mut flight = Flight::new(&self.db);
        flight.plan(&plan);
        flight.run().await.map_err(constraint)?;
        self.advance(&plan);
        Ok((plan.first_seq(), results))
    }

    /// Moves the cached tip and stream versions past a plan the database took.
    fn advance(&mut self, plan: &Plan<'_>) {
        self.tip_seq = plan.tip_seq;
        self.tip_hash = plan.tip_hash;
        if self.versions.len() > MAX_CACHED_STREAMS {
            self.versions.clear();
        }
        self.versions
            .extend(plan.tips().map(|m| (m.stream.to_owned(), m.tip.version)));
    }

    /// The streams of `streams` whose version this writer has not cached.
    fn uncached<'s>(&self, streams: &'s [String]) -> Vec<&'s str> {
        streams
            .iter()
            .filter(|s| !self.versions.contains_key(*s))
            .map(String::as_str)
            .collect()
    }
}

/// The query parameters tokio-postgres reads from a URL (it refuses any other), but for
/// `sslmode`, which [`TlsSettings`] reads instead (tokio-postgres has no `verify-*`).
const WRITER_PARAMS: &[&str] = &[
    "user",
    "password",
    "dbname",
    "options",
    "application_name",
    "sslnegotiation",
    "host",
    "hostaddr",
    "port",
    "connect_timeout",
    "tcp_user_timeout",
    "keepalives",
    "keepalives_idle",
    "keepalives_interval",
    "keepalives_retries",
    "target_session_attrs",
    "channel_binding",
    "load_balance_hosts",
];

/// How the writer connects: tokio-postgres's settings and the TLS the URL asks for.
#[derive(Clone)]
pub(crate) struct WriterConnect {
    pub config: tokio_postgres::Config,
    /// What the URL asks of TLS, kept for the tests to check.
    #[cfg(test)]
    pub tls: TlsSettings,
    /// Built once from the URL's TLS settings (it reads the root certificates), and
    /// cloned for every (re)connection.
    connector: MakeRustlsConnect,
}

impl WriterConnect {
    /// Opens a connection and runs it on its own task, which logs how it ended.
    pub async fn open(&self) -> Result<Client> {
        let (client, connection) = self.config.connect(self.connector.clone()).await?;
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::error!(error = %e, "the PostgreSQL writer's connection failed");
            }
        });
        Ok(client)
    }
}

/// The writer's connection settings from the database URL the sqlx pool reads too
/// (`pool`, as sqlx parsed it), so that both reach the same server as the same user,
/// under the same TLS:
/// - the parameters only sqlx knows are translated (`options[name]=value`) or left out
///   (`statement-cache-capacity`);
/// - `sslmode` (or `ssl-mode`, or `PGSSLMODE`) is taken as sqlx parsed it and
///   `sslrootcert`, `sslcert` and `sslkey` (or `ssl-root-cert`, `ssl-cert`, `ssl-key`, or
///   `PGSSLROOTCERT`, `PGSSLCERT`, `PGSSLKEY`) are read by [`TlsSettings`];
/// - what the URL does not say is taken as sqlx takes it: user, host or socket, port and
///   database from `pool` (which has the `PG*` variables' values), the password from
///   `PGPASSWORD` or else the password file (`PGPASSFILE`, `~/.pgpass`).
pub(crate) fn writer_config(
    url: &str,
    pool: &sqlx::postgres::PgConnectOptions,
) -> Result<WriterConnect> {
    let (base, query) = url.split_once('?').unwrap_or((url, ""));
    let params: Vec<(&str, &str)> = query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|pair| pair.split_once('=').unwrap_or((pair, "")))
        .collect();
    let tls = TlsSettings::from_url(&params, pool.get_ssl_mode())?;
    // Reads the root certificates now, so that a bad file is named before the pool
    // (whose driver would not name it) tries to connect.
    let connector = tls.connector()?;
    let mut kept = Vec::new();
    let mut options = Vec::new();
    for &(key, value) in &params {
        match key {
            "options" => options.push(value.to_owned()),
            k if WRITER_PARAMS.contains(&k) => kept.push(format!("{key}={value}")),
            // sqlx's `options[name]=value`, as `-c name=value` (still percent-encoded).
            k if k.starts_with("options[") && k.ends_with(']') => {
                options.push(format!("-c%20{}%3D{value}", &k[8..k.len() - 1]));
            }
            "sslmode" | "ssl-mode" | "sslrootcert" | "ssl-root-cert" | "sslcert" | "ssl-cert"
            | "sslkey" | "ssl-key" => {}
            k => tracing::debug!(
                parameter = k,
                "the PostgreSQL writer ignores this URL parameter"
            ),
        }
    }
    if !options.is_empty() {
        kept.push(format!("options={}", options.join("%20")));
    }
    let url = if kept.is_empty() {
        base.to_owned()
    } else {
        format!("{base}?{}", kept.join("&"))
    };
    let mut config: tokio_postgres::Config = url
        .parse()
        .map_err(|e| StoreError::Invalid(format!("the database URL: {e}")))?;
    config.ssl_mode(tls.ssl_mode());
    if config.get_user().is_none() {
        config.user(pool.get_username());
    }
    if config.get_hosts().is_empty() {
        match pool.get_socket() {
            Some(dir) => config.host_path(dir),
            None => config.host(pool.get_host()),
        };
    }
    if config.get_ports().is_empty() {
        config.port(pool.get_port());
    }
    if config.get_dbname().is_none()
        && let Some(db) = pool.get_database()
    {
        config.dbname(db);
    }
    if config.get_password().is_none() {
        if let Ok(password) = std::env::var("PGPASSWORD") {
            config.password(password);
        } else if let Some(password) = pgpass::password(&pgpass_lookup(&config)) {
            config.password(password);
        }
    }
    Ok(WriterConnect {
        config,
        #[cfg(test)]
        tls,
        connector,
    })
}

/// What the password file is searched for: the first host (`localhost` for a socket, as
/// libpq), the first port, the database (the user's name when none is given), the user.
fn pgpass_lookup(config: &tokio_postgres::Config) -> pgpass::Lookup<'_> {
    use tokio_postgres::config::Host;
    let user = config.get_user().unwrap_or_default();
    pgpass::Lookup {
        host: match config.get_hosts().first() {
            Some(Host::Tcp(name)) => name,
            _ => "localhost",
        },
        port: config.get_ports().first().copied().unwrap_or(5432),
        database: config.get_dbname().unwrap_or(user),
        user,
    }
}

/// The `options` the writer's session starts with: the URL's own, then the schema's
/// search path, then `synchronous_commit=off` for [`Durability::Normal`].
fn session_options(url: Option<&str>, schema: Option<&str>, durability: Durability) -> String {
    let mut options = url.unwrap_or_default().trim().to_owned();
    let mut set = |setting: &str| {
        if !options.is_empty() {
            options.push(' ');
        }
        options.push_str("-c ");
        options.push_str(setting);
    };
    if let Some(schema) = schema {
        set(&format!("search_path={schema}"));
    }
    if durability == Durability::Normal {
        set("synchronous_commit=off");
    }
    options
}

/// Reads, in one round trip, the latest version of each of `streams` and the appends
/// already made under `keys`; a list that is empty costs no statement.
async fn lookup(
    db: &Db,
    streams: &[&str],
    keys: &[String],
) -> std::result::Result<(Vec<Row>, Vec<Row>), tokio_postgres::Error> {
    let versions = async {
        if streams.is_empty() {
            return Ok(Vec::new());
        }
        db.client.query(&db.sql.versions, &[&streams]).await
    };
    let known = async {
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        db.client.query(&db.sql.keys, &[&keys]).await
    };
    let (versions, known) = join(versions, known).await;
    Ok((versions?, known?))
}

fn known_keys(rows: &[Row]) -> Result<Map<String, Appended>> {
    let mut known = Map::with_capacity_and_hasher(rows.len(), Default::default());
    for r in rows {
        known.insert(
            r.try_get::<_, String>(0)?,
            Appended {
                first_seq: r.try_get::<_, i64>(1)? as u64,
                last_seq: r.try_get::<_, i64>(2)? as u64,
                stream_version: r.try_get::<_, i64>(3)? as u64,
                replayed: true,
            },
        );
    }
    Ok(known)
}

/// Why a merged group did not commit.
enum Merged {
    /// The database refused a row: retry request by request to find the culprit (or,
    /// after a guess, with the lock).
    Refused(String),
    /// A guessed plan had nothing to insert, so nothing would check the cached tip it
    /// was planned on: plan again with the lock. Nothing was sent.
    Unchecked,
    Failed(String),
}

/// How a group learns the log it is planned on.
#[derive(Clone, Copy)]
enum Reads {
    /// From the writer's cache alone, in the same round trip as the writes: streams it
    /// has not cached are taken as new and keys as unused, which the database's unique
    /// keys check.
    Guess,
    /// From the database, under the tip lock, one round trip before the writes.
    Locked,
}

fn constraint(e: tokio_postgres::Error) -> StoreError {
    if let Some(d) = e.as_db_error()
        && [
            SqlState::UNIQUE_VIOLATION,
            SqlState::CHECK_VIOLATION,
            SqlState::FOREIGN_KEY_VIOLATION,
        ]
        .contains(d.code())
    {
        return StoreError::Constraint(d.message().to_string());
    }
    StoreError::Postgres(e)
}

/// Collects one field of every op in a run (all ops of a run have the same variant).
macro_rules! col {
    ($rows:expr, $variant:ident, $field:ident, $map:expr) => {
        $rows
            .iter()
            .filter_map(|(_, op)| match *op {
                ProjOp::$variant { $field, .. } => Some($map($field)),
                _ => None,
            })
            .collect::<Vec<_>>()
    };
}

/// A statement parameter; each statement owns its own, so that a flight can hold them
/// all until it goes out.
type Param<'a> = Box<dyn ToSql + Sync + Send + 'a>;

type Answer<'a> =
    Pin<Box<dyn Future<Output = std::result::Result<(), tokio_postgres::Error>> + Send + 'a>>;

/// Statements sent back to back in one round trip and answered in order. Nothing goes
/// out until [`Flight::run`], which sends them in the order they were queued.
struct Flight<'a> {
    db: &'a Db,
    queued: Vec<Answer<'a>>,
    /// Set by a statement that could not even be sent (its parameters did not encode),
    /// so that the `COMMIT` queued after it turns into a `ROLLBACK`.
    unsent: Arc<AtomicBool>,
}

impl<'a> Flight<'a> {
    fn new(db: &'a Db) -> Flight<'a> {
        Flight {
            db,
            queued: Vec::new(),
            unsent: Arc::new(AtomicBool::new(false)),
        }
    }

    /// Queues a request; one that fails on its first poll was never sent, and marks
    /// the flight so that its `COMMIT` turns into a `ROLLBACK`.
    fn queue(
        &mut self,
        request: impl Future<Output = std::result::Result<(), tokio_postgres::Error>> + Send + 'a,
    ) {
        let unsent = Arc::clone(&self.unsent);
        self.queued.push(Box::pin(async move {
            let sent = request.await;
            if sent.is_err() {
                unsent.store(true, Ordering::Relaxed);
            }
            sent
        }));
    }

    fn execute(&mut self, statement: &'a Statement, params: Vec<Param<'a>>) {
        // `execute_raw` sends on its first poll, or fails right there without sending.
        let sent = self.db.client.execute_raw(statement, params);
        self.queue(async move { sent.await.map(drop) });
    }

    /// Queues every row of `plan`: events, idempotency keys, projections, checkpoints.
    fn plan(&mut self, plan: &'a Plan<'_>) {
        let sql = &self.db.sql;
        if !plan.events.is_empty() {
            self.execute(&sql.events, event_params(plan));
        }
        if !plan.keys.is_empty() {
            self.execute(&sql.idempotency, key_params(plan));
        }
        for run in plan::proj_runs(&plan.proj) {
            self.projection(run);
        }
        for c in &plan.checkpoints {
            self.execute(
                &sql.checkpoint,
                vec![
                    Box::new(c.seq),
                    Box::new(&c.hash[..]),
                    Box::new(&c.public_key[..]),
                    Box::new(&c.signature[..]),
                    Box::new(c.signed_at.as_str()),
                ],
            );
        }
    }

    /// Queues the whole of `plan` as one statement (`statement`, the one for its
    /// [`Parts`]): the tip, its notification and every row. Outside a transaction,
    /// PostgreSQL commits it on its own, or nothing of it: no `BEGIN`, no `COMMIT`, one
    /// answer.
    fn whole(&mut self, statement: &'a Statement, plan: &'a Plan<'_>, first_seq: u64) {
        let mut params = self.tip_params(first_seq, plan.tip_seq, plan.tip_hash);
        params.extend(event_params(plan));
        if !plan.keys.is_empty() {
            params.extend(key_params(plan));
        }
        let mut runs: Vec<(Part, Vec<Param<'a>>)> = plan::proj_runs(&plan.proj)
            .into_iter()
            .filter_map(run_params)
            .collect();
        runs.sort_by_key(|(part, _)| *part);
        for (_, p) in runs {
            params.extend(p);
        }
        self.execute(statement, params);
    }

    /// Queues `BEGIN`.
    fn begin(&mut self) {
        let client = &self.db.client;
        self.queue(client.batch_execute("BEGIN"));
    }

    /// Queues, as one statement, the update of `chain_tip` to entry `tip_seq` (which
    /// also locks the row until the commit) and the notification of entries
    /// `first_seq..=tip_seq`, delivered at commit.
    fn move_tip(&mut self, first_seq: u64, tip_seq: u64, tip_hash: [u8; 32]) {
        let params = self.tip_params(first_seq, tip_seq, tip_hash);
        self.execute(&self.db.sql.move_tip, params);
    }

    /// The parameters of [`MOVE_TIP`]: the new tip, and the channel and payload of the
    /// notification of entries `first_seq..=tip_seq`.
    fn tip_params(&self, first_seq: u64, tip_seq: u64, tip_hash: [u8; 32]) -> Vec<Param<'a>> {
        vec![
            Box::new(tip_seq as i64),
            Box::new(tip_hash.to_vec()),
            Box::new(self.db.channel.as_str()),
            Box::new(format!("{first_seq}:{tip_seq}")),
        ]
    }

    /// Queues the new tip and its notification when the transaction appended anything,
    /// then the `COMMIT`.
    fn finish(&mut self, first_seq: Option<u64>, tip_seq: u64, tip_hash: [u8; 32]) {
        if let Some(first_seq) = first_seq {
            self.move_tip(first_seq, tip_seq, tip_hash);
        }
        self.commit();
    }

    /// Queues the `COMMIT`, or a `ROLLBACK` if a statement before it could not be sent.
    fn commit(&mut self) {
        let client = &self.db.client;
        let unsent = Arc::clone(&self.unsent);
        self.queued.push(Box::pin(async move {
            if unsent.load(Ordering::Relaxed) {
                client.batch_execute("ROLLBACK").await
            } else {
                client.batch_execute("COMMIT").await
            }
        }));
    }

    /// Sends everything queued and waits for every answer; the first failure is the
    /// cause (the statements after it only report the aborted transaction).
    async fn run(self) -> std::result::Result<(), tokio_postgres::Error> {
        // `join_all` polls its futures in order, so they go out in the order queued.
        let answers = join_all(self.queued).await;
        answers.into_iter().find(|a| a.is_err()).unwrap_or(Ok(()))
    }

    /// Queues one run of projection ops (same kind, no row twice; see
    /// [`plan::proj_runs`]): one multi-row statement, or one statement per row for
    /// tallies and state moves.
    fn projection(&mut self, rows: &[(i64, &'a ProjOp)]) {
        let Some((_, first)) = rows.first() else {
            return;
        };
        let sql = &self.db.sql;
        match first {
            ProjOp::Supplier { .. }
            | ProjOp::Contract { .. }
            | ProjOp::Spend { .. }
            | ProjOp::Document { .. } => {
                if let Some((part, params)) = run_params(rows) {
                    self.execute(sql.part(part), params);
                }
            }
            ProjOp::Tally { .. } => {
                for (seq, op) in rows {
                    if let ProjOp::Tally {
                        scopes,
                        currency,
                        values,
                    } = op
                    {
                        for scope in scopes {
                            let mut params: Vec<Param<'a>> =
                                vec![Box::new(scope.as_str()), Box::new(currency.as_str())];
                            params.extend(
                                values
                                    .as_array()
                                    .into_iter()
                                    .map(|v| -> Param<'a> { Box::new(v) }),
                            );
                            params.push(Box::new(*seq));
                            self.execute(&sql.tally, params);
                        }
                    }
                }
            }
            ProjOp::State { .. } => {
                for (seq, op) in rows {
                    if let ProjOp::State { kind, id, state } = op {
                        if *kind == "contract" {
                            self.execute(
                                &sql.contract_state,
                                vec![
                                    Box::new(state.as_str()),
                                    Box::new(*seq),
                                    Box::new(id.as_str()),
                                ],
                            );
                        } else {
                            self.execute(
                                &sql.document_state,
                                vec![
                                    Box::new(state.as_str()),
                                    Box::new(*seq),
                                    Box::new(id.as_str()),
                                    Box::new(*kind),
                                ],
                            );
                        }
                    }
                }
            }
        }
    }
}

/// The parameters of [`EVENTS`]: one array per column.
fn event_params<'a>(plan: &'a Plan<'_>) -> Vec<Param<'a>> {
    let ev = &plan.events;
    let schema = i32::from(accord_core::EVENT_SCHEMA_VERSION);
    vec![
        Box::new(ev.iter().map(|r| r.seq).collect::<Vec<_>>()),
        Box::new(ev.iter().map(|r| r.stream).collect::<Vec<_>>()),
        Box::new(ev.iter().map(|r| r.stream_version).collect::<Vec<_>>()),
        Box::new(ev.iter().map(|r| r.kind).collect::<Vec<_>>()),
        Box::new(vec![schema; ev.len()]),
        Box::new(ev.iter().map(|r| r.payload).collect::<Vec<_>>()),
        Box::new(ev.iter().map(|r| r.recorded_at).collect::<Vec<_>>()),
        Box::new(ev.iter().map(|r| r.key).collect::<Vec<_>>()),
        Box::new(ev.iter().map(|r| &r.prev_hash[..]).collect::<Vec<_>>()),
        Box::new(ev.iter().map(|r| &r.hash[..]).collect::<Vec<_>>()),
    ]
}

/// The parameters of [`IDEMPOTENCY`].
fn key_params<'a>(plan: &'a Plan<'_>) -> Vec<Param<'a>> {
    let k = &plan.keys;
    vec![
        Box::new(k.iter().map(|(k, _)| *k).collect::<Vec<_>>()),
        Box::new(
            k.iter()
                .map(|(_, a)| a.first_seq as i64)
                .collect::<Vec<_>>(),
        ),
        Box::new(k.iter().map(|(_, a)| a.last_seq as i64).collect::<Vec<_>>()),
        Box::new(
            k.iter()
                .map(|(_, a)| a.stream_version as i64)
                .collect::<Vec<_>>(),
        ),
    ]
}

/// The statement and parameters of a run of read-model rows written by one multi-row
/// statement (suppliers, contracts, spend lines, documents); `None` for tallies and
/// state moves, written one statement per row.
fn run_params<'a>(rows: &[(i64, &'a ProjOp)]) -> Option<(Part, Vec<Param<'a>>)> {
    let (_, first) = rows.first()?;
    let seqs: Vec<i64> = rows.iter().map(|(s, _)| *s).collect();
    let s = |x: &'a String| x.as_str();
    let opt = |x: &'a Option<String>| x.as_deref();
    Some(match first {
        ProjOp::Supplier { .. } => (
            Part::Suppliers,
            vec![
                Box::new(col!(rows, Supplier, id, s)),
                Box::new(col!(rows, Supplier, external_ref, s)),
                Box::new(col!(rows, Supplier, name, s)),
                Box::new(col!(rows, Supplier, region, s)),
                Box::new(col!(rows, Supplier, size, s)),
                Box::new(col!(rows, Supplier, status, s)),
                Box::new(col!(rows, Supplier, risk, s)),
                Box::new(col!(rows, Supplier, payment_days, |d: &Option<i64>| *d)),
                Box::new(col!(rows, Supplier, data, s)),
                Box::new(seqs),
            ],
        ),
        ProjOp::Contract { .. } => (
            Part::Contracts,
            vec![
                Box::new(col!(rows, Contract, id, s)),
                Box::new(col!(rows, Contract, external_ref, s)),
                Box::new(col!(rows, Contract, supplier, s)),
                Box::new(col!(rows, Contract, category, s)),
                Box::new(col!(rows, Contract, currency, s)),
                Box::new(col!(rows, Contract, state, s)),
                Box::new(col!(rows, Contract, valid_from, s)),
                Box::new(col!(rows, Contract, valid_to, s)),
                Box::new(col!(rows, Contract, data, s)),
                Box::new(seqs),
            ],
        ),
        ProjOp::Spend { .. } => (
            Part::Spend,
            vec![
                Box::new(col!(rows, Spend, id, s)),
                Box::new(col!(rows, Spend, external_ref, s)),
                Box::new(col!(rows, Spend, supplier, s)),
                Box::new(col!(rows, Spend, category, s)),
                Box::new(col!(rows, Spend, sku, opt)),
                Box::new(col!(rows, Spend, description, s)),
                Box::new(col!(rows, Spend, quantity, s)),
                Box::new(col!(rows, Spend, currency, s)),
                Box::new(col!(rows, Spend, amount_minor, |x: &i64| *x)),
                Box::new(col!(rows, Spend, date, s)),
                Box::new(seqs),
            ],
        ),
        ProjOp::Document { .. } => (
            Part::Documents,
            vec![
                Box::new(col!(rows, Document, kind, |k: &&'static str| *k)),
                Box::new(col!(rows, Document, id, s)),
                Box::new(col!(rows, Document, parent, opt)),
                Box::new(col!(rows, Document, reference, opt)),
                Box::new(col!(rows, Document, state, s)),
                Box::new(col!(rows, Document, data, s)),
                Box::new(seqs),
            ],
        ),
        ProjOp::Tally { .. } | ProjOp::State { .. } => return None,
    })
}

/// A multi-row statement a group may need besides its events, in the order a
/// whole-group statement ([`whole_group_sql`]) takes their parameters.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug)]
enum Part {
    Keys,
    Suppliers,
    Contracts,
    Spend,
    Documents,
}

impl Part {
    const ALL: [Part; 5] = [
        Part::Keys,
        Part::Suppliers,
        Part::Contracts,
        Part::Spend,
        Part::Documents,
    ];

    fn sql(self) -> &'static str {
        match self {
            Part::Keys => IDEMPOTENCY,
            Part::Suppliers => SUPPLIERS,
            Part::Contracts => CONTRACTS,
            Part::Spend => SPEND,
            Part::Documents => DOCUMENTS,
        }
    }

    /// The name of its `WITH` query in a whole-group statement.
    fn name(self) -> &'static str {
        match self {
            Part::Keys => "new_keys",
            Part::Suppliers => "suppliers_written",
            Part::Contracts => "contracts_written",
            Part::Spend => "spend_written",
            Part::Documents => "documents_written",
        }
    }
}

/// The set of [`Part`]s a group needs, as bits: the index of its statement in
/// [`Statements::whole`].
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
struct Parts(u8);

impl Parts {
    /// The parts `plan` needs, if it can go as one statement: it has events, no
    /// checkpoint, no tally or state move, and at most one run of rows per table. A
    /// statement's parts all see the database as it was before it, so no row may be
    /// written twice, nor one part read what another wrote; each table written once,
    /// each row once within it, makes that so.
    fn of(plan: &Plan<'_>) -> Option<Parts> {
        if plan.events.is_empty() || !plan.checkpoints.is_empty() {
            return None;
        }
        let mut parts = Parts(0);
        if !plan.keys.is_empty() {
            parts = parts.with(Part::Keys);
        }
        for run in plan::proj_runs(&plan.proj) {
            let part = match run.first()?.1 {
                ProjOp::Supplier { .. } => Part::Suppliers,
                ProjOp::Contract { .. } => Part::Contracts,
                ProjOp::Spend { .. } => Part::Spend,
                ProjOp::Document { .. } => Part::Documents,
                ProjOp::Tally { .. } | ProjOp::State { .. } => return None,
            };
            if parts.has(part) {
                return None;
            }
            parts = parts.with(part);
        }
        Some(parts)
    }

    fn has(self, part: Part) -> bool {
        self.0 & (1 << part as u8) != 0
    }

    fn with(self, part: Part) -> Parts {
        Parts(self.0 | (1 << part as u8))
    }
}

/// One statement that writes a whole group: the tip's update and notification
/// ([`MOVE_TIP`]), the events ([`EVENTS`]) and each of `parts`, as data-modifying `WITH`
/// queries, which PostgreSQL runs to completion whether or not the outer query reads
/// them. Parameters, numbered on: the tip's four, the events' ten, then each part's in
/// [`Part`] order.
fn whole_group_sql(parts: Parts) -> String {
    let mut sql = String::from(
        "WITH moved AS (UPDATE chain_tip SET seq = $1, hash = $2 WHERE id = 1 RETURNING seq)",
    );
    let mut next = 5;
    let mut add = |name: &str, part: &str| {
        let (text, used) = renumber(part, next - 1);
        sql.push_str(&format!(", {name} AS ({text})"));
        next += used;
    };
    add("new_events", EVENTS);
    for part in Part::ALL.into_iter().filter(|p| parts.has(*p)) {
        add(part.name(), part.sql());
    }
    sql.push_str(" SELECT pg_notify($3, $4) FROM moved");
    sql
}

/// `sql` with every parameter `$n` turned into `$(n + by)`, and how many it has (its
/// parameters being `$1` to `$n`).
fn renumber(sql: &str, by: usize) -> (String, usize) {
    let mut out = String::with_capacity(sql.len() + 16);
    let mut most = 0;
    let mut rest = sql;
    while let Some(at) = rest.find('$') {
        out.push_str(&rest[..=at]);
        rest = &rest[at + 1..];
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        let n: usize = rest[..digits]
            .parse()
            .expect("a parameter number after `$`");
        most = most.max(n);
        out.push_str(&(n + by).to_string());
        rest = &rest[digits..];
    }
    out.push_str(rest);
    (out, most)
}

/// The writer's statements, prepared once when it connects.
struct Statements {
    lock_tip: Statement,
    versions: Statement,
    keys: Statement,
    events: Statement,
    idempotency: Statement,
    suppliers: Statement,
    contracts: Statement,
    spend: Statement,
    documents: Statement,
    tally: Statement,
    contract_state: Statement,
    document_state: Statement,
    checkpoint: Statement,
    move_tip: Statement,
    /// The whole-group statement for each set of [`Parts`], by its bits, prepared on its
    /// first use: a workload meets a few of the 32.
    whole: Vec<Option<Statement>>,
}

impl Statements {
    /// Prepares each statement in turn (once per connection; a few milliseconds).
    async fn prepare(client: &Client) -> std::result::Result<Statements, tokio_postgres::Error> {
        Ok(Statements {
            lock_tip: client.prepare(LOCK_TIP).await?,
            versions: client.prepare(VERSIONS).await?,
            keys: client.prepare(KEYS).await?,
            events: client.prepare(EVENTS).await?,
            idempotency: client.prepare(IDEMPOTENCY).await?,
            suppliers: client.prepare(SUPPLIERS).await?,
            contracts: client.prepare(CONTRACTS).await?,
            spend: client.prepare(SPEND).await?,
            documents: client.prepare(DOCUMENTS).await?,
            tally: client.prepare(TALLY).await?,
            contract_state: client.prepare(CONTRACT_STATE).await?,
            document_state: client.prepare(DOCUMENT_STATE).await?,
            checkpoint: client.prepare(CHECKPOINT).await?,
            move_tip: client.prepare(MOVE_TIP).await?,
            whole: vec![None; 1 << Part::ALL.len()],
        })
    }

    /// The multi-row statement of `part`.
    fn part(&self, part: Part) -> &Statement {
        match part {
            Part::Keys => &self.idempotency,
            Part::Suppliers => &self.suppliers,
            Part::Contracts => &self.contracts,
            Part::Spend => &self.spend,
            Part::Documents => &self.documents,
        }
    }
}

const LOCK_TIP: &str = "SELECT seq, hash FROM chain_tip WHERE id = 1 FOR UPDATE";

/// One backward index probe per stream. (`stream = ANY($1) GROUP BY stream` let the
/// planner pick a bitmap scan that grew with the log: 7 ms at 20k events.)
const VERSIONS: &str = "SELECT s.stream, v.stream_version FROM UNNEST($1::text[]) AS s(stream) \
     CROSS JOIN LATERAL (SELECT stream_version FROM events e WHERE e.stream = s.stream \
     ORDER BY stream_version DESC LIMIT 1) v";

const KEYS: &str =
    "SELECT key, first_seq, last_seq, stream_version FROM idempotency WHERE key = ANY($1)";

const EVENTS: &str = "INSERT INTO events (seq, stream, stream_version, type, schema_version, \
     payload, recorded_at, idempotency_key, prev_hash, hash) \
     SELECT * FROM UNNEST($1::int8[], $2::text[], $3::int8[], $4::text[], $5::int4[], \
     $6::text[], $7::text[], $8::text[], $9::bytea[], $10::bytea[])";

const IDEMPOTENCY: &str = "INSERT INTO idempotency (key, first_seq, last_seq, stream_version) \
     SELECT * FROM UNNEST($1::text[], $2::int8[], $3::int8[], $4::int8[])";

const SUPPLIERS: &str = "INSERT INTO suppliers (id, external_ref, name, region, size, status, \
     risk, payment_days, data, last_seq) \
     SELECT * FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], \
     $6::text[], $7::text[], $8::int8[], $9::text[], $10::int8[]) \
     ON CONFLICT (id) DO UPDATE SET external_ref = excluded.external_ref, \
     name = excluded.name, region = excluded.region, size = excluded.size, \
     status = excluded.status, risk = excluded.risk, \
     payment_days = excluded.payment_days, data = excluded.data, \
     last_seq = excluded.last_seq";

const CONTRACTS: &str = "INSERT INTO contracts (id, external_ref, supplier, category, currency, \
     state, valid_from, valid_to, data, last_seq) \
     SELECT * FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], \
     $6::text[], $7::text[], $8::text[], $9::text[], $10::int8[]) \
     ON CONFLICT (id) DO UPDATE SET external_ref = excluded.external_ref, \
     supplier = excluded.supplier, category = excluded.category, \
     currency = excluded.currency, state = excluded.state, \
     valid_from = excluded.valid_from, valid_to = excluded.valid_to, \
     data = excluded.data, last_seq = excluded.last_seq";

const SPEND: &str = "INSERT INTO spend (id, external_ref, supplier, category, sku, description, \
     quantity, currency, amount_minor, date, last_seq) \
     SELECT * FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], \
     $6::text[], $7::text[], $8::text[], $9::int8[], $10::text[], $11::int8[])";

const DOCUMENTS: &str = "INSERT INTO documents (kind, id, parent, reference, state, data, \
     last_seq) \
     SELECT * FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[], \
     $5::text[], $6::text[], $7::int8[]) \
     ON CONFLICT (kind, id) DO UPDATE SET state = excluded.state, \
     parent = COALESCE(excluded.parent, documents.parent), \
     reference = COALESCE(excluded.reference, documents.reference), \
     data = excluded.data, last_seq = excluded.last_seq";

const TALLY: &str = "INSERT INTO tallies (scope, currency, invoices, lines, compliant_lines, \
     terms_checked, compliant_terms, savings_lines, negotiated_micros, realised_micros, \
     last_seq) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) \
     ON CONFLICT (scope, currency) DO UPDATE SET \
     invoices = tallies.invoices + excluded.invoices, \
     lines = tallies.lines + excluded.lines, \
     compliant_lines = tallies.compliant_lines + excluded.compliant_lines, \
     terms_checked = tallies.terms_checked + excluded.terms_checked, \
     compliant_terms = tallies.compliant_terms + excluded.compliant_terms, \
     savings_lines = tallies.savings_lines + excluded.savings_lines, \
     negotiated_micros = tallies.negotiated_micros + excluded.negotiated_micros, \
     realised_micros = tallies.realised_micros + excluded.realised_micros, \
     last_seq = excluded.last_seq";

const CONTRACT_STATE: &str = "UPDATE contracts SET state = $1::text, \
     data = jsonb_set(data::jsonb, '{state}', to_jsonb($1::text))::text, \
     last_seq = $2 WHERE id = $3";

const DOCUMENT_STATE: &str = "UPDATE documents SET state = $1::text, \
     data = jsonb_set(data::jsonb, '{state}', to_jsonb($1::text))::text, \
     last_seq = $2 WHERE id = $3 AND kind = $4";

const CHECKPOINT: &str = "INSERT INTO audit_checkpoints (seq, hash, public_key, signature, \
     signed_at) VALUES ($1, $2, $3, $4, $5)";

/// The new tip and, in the same statement, the notification other nodes listen for.
const MOVE_TIP: &str = "WITH moved AS (UPDATE chain_tip SET seq = $1, hash = $2 WHERE id = 1 \
     RETURNING seq) SELECT pg_notify($3, $4) FROM moved";

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Append;
    use accord_core::Event;

    #[test]
    fn reconnects_wait_longer_after_each_failure_up_to_a_bound() {
        let mut b = Backoff::default();
        assert_eq!(b.wait(), None, "the first attempt is not held back");
        let now = Instant::now();
        let waits: Vec<u128> = (0..9).map(|_| b.failed(now).as_millis()).collect();
        assert_eq!(waits, [100, 200, 400, 800, 1600, 3200, 5000, 5000, 5000]);
        assert!(b.wait().is_some_and(|w| w.as_millis() > 4_000));
        let mut due = Backoff::default();
        due.failed(now - Duration::from_secs(1));
        assert_eq!(
            due.wait(),
            None,
            "a wait that has passed holds nothing back"
        );
    }

    #[test]
    fn the_writer_reads_the_url_the_pool_reads() {
        use std::str::FromStr;
        use tokio_postgres::config::{Host, SslMode};
        let url = "postgres://ann:p%40ss@db.example:5433/books?statement-cache-capacity=10\
                   &ssl-mode=disable&options[search_path]=s1&connect_timeout=3\
                   &sslrootcert=/etc/ca.pem&options=-c%20work_mem%3D8MB";
        let pool = sqlx::postgres::PgConnectOptions::from_str(url).unwrap();
        let w = writer_config(url, &pool).unwrap();
        assert_eq!(
            w.tls.root_cert.as_deref(),
            Some(std::path::Path::new("/etc/ca.pem"))
        );
        let c = w.config;
        assert_eq!(c.get_user(), Some("ann"));
        assert_eq!(c.get_password(), Some(&b"p@ss"[..]));
        assert_eq!(c.get_hosts(), [Host::Tcp("db.example".into())]);
        assert_eq!(c.get_ports(), [5433]);
        assert_eq!(c.get_dbname(), Some("books"));
        assert_eq!(c.get_ssl_mode(), SslMode::Disable);
        assert_eq!(c.get_connect_timeout(), Some(&Duration::from_secs(3)));
        assert_eq!(
            c.get_options(),
            Some("-c search_path=s1 -c work_mem=8MB"),
            "both spellings of session options, in one, in the URL's order"
        );
        // What the URL leaves out comes from what sqlx filled in.
        let pool = sqlx::postgres::PgConnectOptions::new_without_pgpass()
            .host("10.1.2.3")
            .port(6432)
            .username("svc")
            .database("ledger");
        let c = writer_config("postgres://", &pool).unwrap().config;
        assert_eq!(c.get_user(), Some("svc"));
        assert_eq!(c.get_hosts(), [Host::Tcp("10.1.2.3".into())]);
        assert_eq!(c.get_ports(), [6432]);
        assert_eq!(c.get_dbname(), Some("ledger"));
    }

    #[test]
    fn the_session_keeps_the_urls_options_and_adds_schema_and_durability() {
        assert_eq!(session_options(None, None, Durability::Full), "");
        assert_eq!(
            session_options(None, Some("t_1"), Durability::Normal),
            "-c search_path=t_1 -c synchronous_commit=off"
        );
        assert_eq!(
            session_options(Some("-c work_mem=8MB "), Some("t_1"), Durability::Full),
            "-c work_mem=8MB -c search_path=t_1"
        );
    }

    #[test]
    fn renumbering_shifts_every_parameter() {
        assert_eq!(
            renumber("VALUES ($1, $2::text[], $10) -- $2", 4),
            ("VALUES ($5, $6::text[], $14) -- $6".to_owned(), 10)
        );
        assert_eq!(renumber("SELECT 1", 3), ("SELECT 1".to_owned(), 0));
    }

    /// Every whole-group statement numbers its parameters `$1..$n` with none missing, `n`
    /// being what [`Flight::whole`] passes: the tip's 4, the events' 10 and each part's.
    #[test]
    fn whole_group_statements_take_their_parameters_in_order() {
        let count = |sql: &str| renumber(sql, 0).1;
        for bits in 0..1u8 << Part::ALL.len() {
            let parts = Parts(bits);
            let sql = whole_group_sql(parts);
            let mut used: Vec<usize> = sql
                .split('$')
                .skip(1)
                .map(|rest| {
                    let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
                    rest[..digits].parse().unwrap()
                })
                .collect();
            used.sort_unstable();
            used.dedup();
            let expected = 4
                + count(EVENTS)
                + Part::ALL
                    .iter()
                    .filter(|p| parts.has(**p))
                    .map(|p| count(p.sql()))
                    .sum::<usize>();
            assert_eq!(used, (1..=expected).collect::<Vec<_>>(), "{sql}");
        }
    }

    /// A plan goes as one statement only when no table is written twice and nothing
    /// reads what another part writes: no tally, no state move, no checkpoint.
    #[test]
    fn only_plans_that_write_each_table_once_go_as_one_statement() {
        use crate::bench::{move_event, spend_event};
        use crate::plan::{Tip, now_text, prepare};
        let parts_of = |commands: Vec<Append>, signer: Option<(&NodeKey, u64)>| {
            let commands = prepare(commands).unwrap();
            let streams: Map<String, plan::StreamTip> = Map::default();
            let keys = Map::default();
            let tip = Tip {
                streams: &streams,
                known_keys: &keys,
                signer,
            };
            let at = now_text();
            let mut plan = Plan::new(0, GENESIS_PREV_HASH);
            plan.add(&tip, &commands, &at).unwrap();
            Parts::of(&plan)
        };
        let spend = |i| Append::new(spend_event(i));
        assert_eq!(
            parts_of(vec![Append::new(move_event(1))], None),
            Some(Parts(0))
        );
        assert_eq!(
            parts_of(
                vec![spend(1), spend(2).key("k"), Append::new(move_event(1))],
                None
            ),
            Some(Parts(0).with(Part::Spend).with(Part::Keys))
        );
        // The same spend line twice: two runs of the spend table.
        assert_eq!(parts_of(vec![spend(1), spend(1)], None), None);
        let key = NodeKey::from_seed([7; 32]);
        assert_eq!(parts_of(vec![spend(1), spend(2)], Some((&key, 2))), None);
        let state = Event::DocumentStateChanged {
            document: accord_core::event::DocumentRef::Invoice(
                accord_core::id::InvoiceId::from_parts(0, 1),
            ),
            from: "received".into(),
            to: "matched".into(),
            reason: String::new(),
        };
        assert_eq!(parts_of(vec![Append::new(state)], None), None);
    }

    /// A store in a schema of its own on the test server, for a writer of the test's
    /// own beside the store's; `None` (the test skipped) without a server.
    struct Scratch {
        url: String,
        options: PgOptions,
        store: super::super::PgStore,
    }

    impl Scratch {
        async fn new() -> Option<Scratch> {
            let Ok(url) = std::env::var("ACCORD_TEST_DATABASE_URL") else {
                eprintln!(
                    "skipped: set ACCORD_TEST_DATABASE_URL to run the PostgreSQL writer test"
                );
                return None;
            };
            let schema = format!("w_{}_{}", std::process::id(), rand::random::<u32>());
            let options = PgOptions {
                schema: Some(schema),
                ..PgOptions::default()
            };
            let store = super::super::PgStore::connect(&url, options.clone())
                .await
                .unwrap();
            Some(Scratch {
                url,
                options,
                store,
            })
        }

        async fn writer(&self) -> Writer {
            let pool = std::str::FromStr::from_str(&self.url).unwrap();
            let config = writer_config(&self.url, &pool).unwrap();
            Writer::connect(config, &self.options, "unused".into())
                .await
                .unwrap()
        }

        async fn drop_schema(self) {
            use sqlx::Executor;
            let schema = self.options.schema.as_deref().unwrap();
            self.store
                .pool()
                .execute(sqlx::AssertSqlSafe(format!("DROP SCHEMA {schema} CASCADE")))
                .await
                .unwrap();
        }
    }

    /// Each of the 32 whole-group statements is prepared only when a group needs it;
    /// the server must accept every one of them.
    #[tokio::test]
    async fn the_server_accepts_every_whole_group_statement() {
        let Some(scratch) = Scratch::new().await else {
            return;
        };
        let mut writer = scratch.writer().await;
        for bits in 0..1u8 << Part::ALL.len() {
            if let Err(e) = writer.db.whole(Parts(bits)).await {
                panic!("{:?}: {e:?}", Parts(bits));
            }
        }
        drop(writer);
        scratch.drop_schema().await;
    }

    /// A statement whose parameters do not encode is never sent, and the statements
    /// queued before it already went out: the flight must then end in `ROLLBACK`, or
    /// those would commit without it.
    #[tokio::test]
    async fn a_statement_that_cannot_be_sent_turns_the_commit_into_a_rollback() {
        let Some(scratch) = Scratch::new().await else {
            return;
        };
        let writer = scratch.writer().await;
        let db = &writer.db;
        db.client.batch_execute("BEGIN").await.unwrap();
        let mut flight = Flight::new(db);
        flight.move_tip(1, 7, [1; 32]);
        // `seq` is int8: an i32 does not encode, so this statement never goes out.
        flight.execute(
            &db.sql.move_tip,
            vec![
                Box::new(8_i32),
                Box::new(vec![2_u8; 32]),
                Box::new("unused"),
                Box::new("8:8"),
            ],
        );
        flight.finish(None, 0, [0; 32]);
        let err = flight.run().await.unwrap_err();
        assert!(err.to_string().contains("serializing parameter"), "{err}");
        let tip = db
            .client
            .query_one("SELECT seq FROM chain_tip WHERE id = 1", &[])
            .await
            .unwrap();
        assert_eq!(tip.get::<_, i64>(0), 0, "the first statement was committed");
        drop(writer);
        scratch.drop_schema().await;
    }
}
