//! The SQLite writer: the only code that appends to the log. One [`Writer`] per file owns
//! the rusqlite connection, the chain tip and a cache of stream tips, behind a mutex.
//! With `Durability::Full` every append goes through the writer thread ([`run`]), which
//! drains the request channel into one transaction per group (group commit: one commit,
//! and one fsync, for many callers); the connection itself runs `synchronous=NORMAL` and
//! the sync thread (`sync.rs`) acknowledges each group once the WAL is on disk, while the
//! writer commits the next. With `Durability::Normal` a commit never waits for the disk,
//! so a caller that finds the writer idle commits on its own thread and saves two thread
//! wake-ups; when the writer is busy it queues like everyone else. Rows go in through
//! cached single-row statements, one per table, prepared once and reused for every row.
//! WAL checkpoints run on their own thread (`checkpoint.rs`).
//!
//! Semantics of a group: every request is all or nothing. A request that fails (a version
//! conflict in planning, or a constraint the database refuses) fails alone; the other
//! requests of the group commit.
//!
//! INVARIANT: the cached tip equals the last committed entry. Another process appending
//! to the same file takes our next seq, so our insert fails on the `seq` key; the writer
//! then reloads the tip, forgets the cached stream versions and tries once more.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use rusqlite::{Connection, ErrorCode, OptionalExtension, params};
use tokio::sync::mpsc::error::TryRecvError;
use tokio::sync::{broadcast, mpsc};

use super::checkpoint::{self, Nudge};
use super::sync::{self, Answers, Committed};
use super::{
    INSERT_MARK, MARK_EVERY, Reply, SELECT_STREAM, SqliteOptions, UPSERT_STREAM, WriteRequest,
    stream_key,
};
use crate::audit::NodeKey;
use crate::chain::GENESIS_PREV_HASH;
use crate::error::{Result, StoreError};
use crate::model::{Appended, Change};
use crate::plan::{self, Map, Plan, PreparedCommand, ProjOp, StreamTip, Tip, TipMove};
use crate::read;

/// Stream tips cached at most; past this the cache is cleared (it bounds memory when
/// very many streams are written, as in a large import).
const MAX_CACHED_STREAMS: usize = 100_000;

/// One result per request of a group.
pub(crate) type GroupResults = Vec<Result<Vec<Appended>>>;

pub(crate) struct Writer {
    conn: Connection,
    tip_seq: u64,
    tip_hash: [u8; 32],
    /// The version and last event of streams appended to or read, as in `streams`.
    streams: Map<String, StreamTip>,
    signer: Option<NodeKey>,
    checkpoint_every: u64,
    /// The WAL checkpointer, told about each commit.
    nudge: Nudge,
}

type GroupOutcome = std::result::Result<(GroupResults, Option<u64>), GroupError>;

/// Why a merged group was not written: a request conflicts or the database refused a
/// row, so the group is written again request by request.
struct Refused;

impl Writer {
    pub fn new(conn: Connection, options: &SqliteOptions, nudge: Nudge) -> Result<Writer> {
        conn.set_prepared_statement_cache_capacity(32);
        let mut w = Writer {
            conn,
            tip_seq: 0,
            tip_hash: GENESIS_PREV_HASH,
            streams: Map::default(),
            signer: options.signing_key.clone(),
            checkpoint_every: options.checkpoint_every,
            nudge,
        };
        w.check_tip()?;
        Ok(w)
    }

    /// Re-reads the tip; if someone else appended, forgets the cached versions and says
    /// so.
    fn check_tip(&mut self) -> Result<bool> {
        let row = self
            .conn
            .prepare_cached("SELECT seq, hash FROM events ORDER BY seq DESC LIMIT 1")?
            .query_row([], |r| {
                Ok((
                    r.get::<_, i64>(0)? as u64,
                    read::fixed(r.get_ref(1)?.as_blob()?),
                ))
            })
            .optional()?;
        let (seq, hash) = row.unwrap_or((0, GENESIS_PREV_HASH));
        if seq != self.tip_seq || hash != self.tip_hash {
            self.tip_seq = seq;
            self.tip_hash = hash;
            self.streams.clear();
            return Ok(true);
        }
        Ok(false)
    }

    /// Commits a group of requests, each all or nothing, and returns one result per
    /// request and the range appended, if any. Called by the writer thread for a drained
    /// group, and by a caller that commits inline; the caller announces the range on the
    /// change feed (at once, or once durable) while it still holds the writer, so that
    /// announcements keep commit order. If another process appended meanwhile (our next
    /// seq is taken), reloads the tip and tries once more.
    pub fn commit(&mut self, group: &[&[PreparedCommand]]) -> (GroupResults, Option<Change>) {
        let mut outcome = self.try_group(group);
        if matches!(outcome, Err(GroupError::Stale)) {
            outcome = match self.check_tip() {
                Ok(_) => self.try_group(group),
                Err(e) => Err(GroupError::Failed(e.to_string())),
            };
        }
        match outcome {
            Ok((results, first_new)) => {
                let change = first_new.map(|first_seq| Change {
                    first_seq,
                    last_seq: self.tip_seq,
                });
                if change.is_some() {
                    self.after_commit();
                }
                (results, change)
            }
            Err(e) => {
                let msg = match e {
                    GroupError::Stale => "another process kept appending".to_string(),
                    GroupError::Failed(m) => m,
                };
                let results = group
                    .iter()
                    .map(|_| Err(StoreError::Invalid(format!("commit failed: {msg}"))))
                    .collect();
                (results, None)
            }
        }
    }

    /// Tells the checkpointer about the commit; when it asks, checkpoints the WAL's last
    /// frames here, between transactions, so that the next one rewinds the WAL.
    fn after_commit(&mut self) {
        if self.nudge.take_rewind()
            && let Err(e) = checkpoint::passive(&self.conn)
        {
            tracing::warn!(error = %e, "WAL checkpoint before rewinding failed");
        }
        self.nudge.commit();
    }

    /// One transaction for the whole group. Several requests are first planned together
    /// and written without savepoints; only if a request conflicts or the database
    /// refuses a row is the group written again request by request, each in its
    /// savepoint, so that the failing request fails alone.
    fn try_group(&mut self, group: &[&[PreparedCommand]]) -> GroupOutcome {
        if group.len() > 1
            && let Ok(outcome) = self.try_merged(group)
        {
            return outcome;
        }
        self.try_each(group)
    }

    /// Plans every request of the group into one plan, each on top of the previous one,
    /// and writes it in one transaction. On [`Refused`] it has written nothing and
    /// restored the caches.
    fn try_merged(
        &mut self,
        group: &[&[PreparedCommand]],
    ) -> std::result::Result<GroupOutcome, Refused> {
        let saved = (self.tip_seq, self.tip_hash);
        let recorded_at = plan::now_text();
        let mut plan = Plan::new(self.tip_seq, self.tip_hash);
        let mut results = Vec::with_capacity(group.len());
        for commands in group {
            match self.plan_request(&mut plan, commands, &recorded_at) {
                Ok(r) => results.push(Ok(r)),
                Err(StoreError::Conflict { .. }) => {
                    self.forget(saved);
                    return Err(Refused);
                }
                Err(e) => {
                    self.forget(saved);
                    return Ok(Err(GroupError::Failed(e.to_string())));
                }
            }
        }
        let first_new = plan.first_seq();
        if first_new.is_some() {
            if let Err(e) = self.exec("BEGIN IMMEDIATE") {
                self.forget(saved);
                return Ok(Err(GroupError::Failed(e.to_string())));
            }
            if let Err(e) = write_plan(&self.conn, &plan) {
                self.rollback();
                self.forget(saved);
                if is_seq_conflict(&e) {
                    return Ok(Err(GroupError::Stale));
                }
                return Err(Refused);
            }
            if let Err(e) = self.exec("COMMIT") {
                self.rollback();
                self.forget(saved);
                return Ok(Err(GroupError::Failed(e.to_string())));
            }
            self.moved_to(&plan);
        }
        Ok(Ok((results, first_new)))
    }

    /// One transaction for the whole group. Each request is planned on top of the tip the
    /// previous successful request left, and (unless alone) runs in a savepoint so that a
    /// refused request rolls back alone.
    fn try_each(&mut self, group: &[&[PreparedCommand]]) -> GroupOutcome {
        let saved = (self.tip_seq, self.tip_hash);
        let single = group.len() == 1;
        let mut began = false;
        let mut results = Vec::with_capacity(group.len());
        let mut first_new = None;
        let recorded_at = plan::now_text();
        for commands in group {
            let mut plan = Plan::new(self.tip_seq, self.tip_hash);
            let mut planned = self.plan_request(&mut plan, commands, &recorded_at);
            // A version conflict may come from our cache alone: another process on the
            // same file moved the stream. If the log's tip moved, the cache is dropped
            // and the request planned once more against what the file holds.
            if matches!(planned, Err(StoreError::Conflict { .. })) {
                match self.check_tip() {
                    Ok(true) => {
                        plan = Plan::new(self.tip_seq, self.tip_hash);
                        planned = self.plan_request(&mut plan, commands, &recorded_at);
                    }
                    Ok(false) => {}
                    Err(e) => planned = Err(e),
                }
            }
            let appended = match planned {
                Ok(a) => a,
                Err(e) => {
                    results.push(Err(e));
                    continue;
                }
            };
            let Some(first_seq) = plan.first_seq() else {
                // Every command was a replay: nothing to write.
                results.push(Ok(appended));
                continue;
            };
            if !began {
                if let Err(e) = self.exec("BEGIN IMMEDIATE") {
                    self.forget(saved);
                    return Err(GroupError::Failed(e.to_string()));
                }
                began = true;
            }
            if !single && let Err(e) = self.exec("SAVEPOINT req") {
                self.rollback();
                self.forget(saved);
                return Err(GroupError::Failed(e.to_string()));
            }
            match write_plan(&self.conn, &plan) {
                Ok(()) => {
                    if !single && let Err(e) = self.exec("RELEASE req") {
                        self.rollback();
                        self.forget(saved);
                        return Err(GroupError::Failed(e.to_string()));
                    }
                    first_new.get_or_insert(first_seq);
                    self.moved_to(&plan);
                    results.push(Ok(appended));
                }
                Err(e) => {
                    if is_seq_conflict(&e) {
                        self.rollback();
                        self.forget(saved);
                        return Err(GroupError::Stale);
                    }
                    if single {
                        self.rollback();
                        began = false;
                    } else if self.exec("ROLLBACK TO req").is_err()
                        || self.exec("RELEASE req").is_err()
                    {
                        self.rollback();
                        self.forget(saved);
                        return Err(GroupError::Failed(e.to_string()));
                    }
                    results.push(Err(constraint(e)));
                }
            }
        }
        if began {
            let any_written = first_new.is_some();
            let end = if any_written { "COMMIT" } else { "ROLLBACK" };
            if let Err(e) = self.exec(end) {
                self.rollback();
                self.forget(saved);
                return Err(GroupError::Failed(e.to_string()));
            }
        }
        Ok((results, first_new))
    }

    fn exec(&self, sql: &str) -> rusqlite::Result<()> {
        self.conn.prepare_cached(sql)?.execute([])?;
        Ok(())
    }

    fn rollback(&self) {
        if !self.conn.is_autocommit() {
            let _ = self.conn.execute_batch("ROLLBACK");
        }
    }

    /// Moves the cached chain tip and stream tips to where a written plan leaves them (a
    /// name is copied only for a stream not cached yet).
    fn moved_to(&mut self, plan: &Plan<'_>) {
        self.tip_seq = plan.tip_seq;
        self.tip_hash = plan.tip_hash;
        if self.streams.len() > MAX_CACHED_STREAMS {
            self.streams.clear();
        }
        for m in plan.tips() {
            match self.streams.get_mut(m.stream) {
                Some(cached) => *cached = m.tip,
                None => {
                    self.streams.insert(m.stream.to_owned(), m.tip);
                }
            }
        }
    }

    /// Drops what a failed transaction taught the caches.
    fn forget(&mut self, saved: (u64, [u8; 32])) {
        (self.tip_seq, self.tip_hash) = saved;
        self.streams.clear();
    }

    /// Looks up what the request needs and plans it into `plan`, on top of what the plan
    /// holds; returns one result per command.
    fn plan_request<'a>(
        &mut self,
        plan: &mut Plan<'a>,
        commands: &'a [PreparedCommand],
        recorded_at: &'a str,
    ) -> Result<Vec<Appended>> {
        self.load_tips(commands)?;
        let known_keys = self.load_keys(commands)?;
        plan.add(
            &Tip {
                streams: &self.streams,
                known_keys: &known_keys,
                signer: self.signer.as_ref().map(|k| (k, self.checkpoint_every)),
            },
            commands,
            recorded_at,
        )
    }

    /// Caches the tip of every stream the commands write or expect (borrowing the names:
    /// only a stream not cached yet is copied, and read from the file).
    fn load_tips(&mut self, commands: &[PreparedCommand]) -> Result<()> {
        let streams = commands.iter().flat_map(|c| {
            c.events
                .iter()
                .map(|e| e.stream.as_str())
                .chain(c.expect.iter().map(|(s, _)| s.as_str()))
        });
        // Most requests touch cached streams only: the statement is fetched (a lookup by
        // its SQL text) only for the first stream that is not.
        let mut stmt = None;
        for s in streams {
            if self.streams.contains_key(s) {
                continue;
            }
            let stmt = match &mut stmt {
                Some(stmt) => stmt,
                None => stmt.insert(self.conn.prepare_cached(SELECT_STREAM)?),
            };
            let tip = stmt
                .query_row(params![stream_key(s), s], |r| {
                    Ok(StreamTip {
                        version: r.get::<_, i64>(0)? as u64,
                        last_seq: r.get::<_, i64>(1)? as u64,
                    })
                })
                .optional()?;
            self.streams.insert(s.to_owned(), tip.unwrap_or_default());
        }
        Ok(())
    }

    /// The stored results of the commands' keys (a key planned earlier in the same group
    /// is the plan's to find).
    fn load_keys(&self, commands: &[PreparedCommand]) -> Result<Map<String, Appended>> {
        let mut known = Map::default();
        let mut keys = commands.iter().filter_map(|c| c.key.as_deref()).peekable();
        if keys.peek().is_none() {
            return Ok(known);
        }
        let mut stmt = self.conn.prepare_cached(
            "SELECT first_seq, last_seq, stream_version FROM idempotency WHERE key = ?1",
        )?;
        for k in keys {
            let found = stmt
                .query_row([k], |r| {
                    Ok(Appended {
                        first_seq: r.get::<_, i64>(0)? as u64,
                        last_seq: r.get::<_, i64>(1)? as u64,
                        stream_version: r.get::<_, i64>(2)? as u64,
                        replayed: true,
                    })
                })
                .optional()?;
            if let Some(a) = found {
                known.insert(k.to_owned(), a);
            }
        }
        Ok(known)
    }
}

/// The writer thread's loop: blocks for a request, then takes whatever else is queued
/// (up to `max_group_events` events) into the same group, commits it and answers each
/// caller and announces the group on `feed`: at once, or, with `durable`
/// (`Durability::Full`), through the sync thread once the WAL holds the group on disk
/// (`sync.rs`), while this loop goes on to the next group. Ends when every sender is
/// dropped.
pub(crate) fn run(
    writer: Arc<Mutex<Writer>>,
    mut rx: mpsc::Receiver<WriteRequest>,
    max_group_events: usize,
    feed: broadcast::Sender<Change>,
    durable: Option<std::sync::mpsc::Sender<Committed>>,
) {
    while let Some(first) = next_request(&mut rx) {
        let mut events = first.events;
        let mut group = vec![first];
        while events < max_group_events {
            match rx.try_recv() {
                Ok(r) => {
                    events += r.events;
                    group.push(r);
                }
                Err(_) => break,
            }
        }
        let commands: Vec<&[PreparedCommand]> =
            group.iter().map(|r| r.commands.as_slice()).collect();
        let (results, change) = {
            let mut w = writer.lock().unwrap_or_else(PoisonError::into_inner);
            let (results, change) = w.commit(&commands);
            // Inline commits (`Durability::Normal`) announce under the same lock.
            if durable.is_none()
                && let Some(c) = change
            {
                let _ = feed.send(c);
            }
            (results, change)
        };
        let answers: Answers = group
            .into_iter()
            .zip(results)
            .map(|(r, result)| {
                (
                    r.reply,
                    Reply {
                        result,
                        spent: r.commands,
                    },
                )
            })
            .collect();
        let undelivered = match &durable {
            Some(sync) => sync
                .send(Committed { answers, change })
                .err()
                .map(|e| e.0.answers),
            None => Some(answers),
        };
        // Without a sync thread (or if it is gone, which only happens at shutdown), the
        // answers go out directly.
        sync::answer(undelivered);
    }
}

/// How long the writer polls for the next request before it sleeps. A caller appending
/// one event at a time sends its next request a few microseconds after our reply;
/// catching it without sleeping saves a context switch and a wake-up per append.
const POLL_BEFORE_SLEEP: Duration = Duration::from_micros(50);

/// The next request, or `None` once every sender is gone.
fn next_request(rx: &mut mpsc::Receiver<WriteRequest>) -> Option<WriteRequest> {
    let start = Instant::now();
    loop {
        match rx.try_recv() {
            Ok(r) => return Some(r),
            Err(TryRecvError::Disconnected) => return None,
            Err(TryRecvError::Empty) if start.elapsed() < POLL_BEFORE_SLEEP => {
                std::hint::spin_loop();
            }
            Err(TryRecvError::Empty) => return rx.blocking_recv(),
        }
    }
}

pub(crate) enum GroupError {
    /// Our next seq was taken: another process appended to the file.
    Stale,
    Failed(String),
}

fn is_seq_conflict(e: &rusqlite::Error) -> bool {
    matches!(e, rusqlite::Error::SqliteFailure(f, Some(m))
        if f.code == ErrorCode::ConstraintViolation && m.contains("events.seq"))
}

/// Constraint violations mean the request itself is unacceptable.
fn constraint(e: rusqlite::Error) -> StoreError {
    match &e {
        rusqlite::Error::SqliteFailure(f, m) if f.code == ErrorCode::ConstraintViolation => {
            StoreError::Constraint(m.clone().unwrap_or_else(|| f.to_string()))
        }
        _ => StoreError::Sqlite(e),
    }
}

pub(crate) const INSERT_EVENT: &str = "INSERT INTO events (seq, stream, stream_version, type, \
    schema_version, payload, recorded_at, idempotency_key, prev_hash, hash, stream_key, \
    prev_in_stream) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)";

/// Moves the tip of a stream that has a row in `streams`.
const UPDATE_STREAM: &str =
    "UPDATE streams SET version = ?3, last_seq = ?4 WHERE key = ?1 AND name = ?2";

const INSERT_KEY: &str =
    "INSERT INTO idempotency (key, first_seq, last_seq, stream_version) VALUES (?1, ?2, ?3, ?4)";

const INSERT_CHECKPOINT: &str = "INSERT INTO audit_checkpoints (seq, hash, public_key, \
    signature, signed_at) VALUES (?1, ?2, ?3, ?4, ?5)";

const UPSERT_SUPPLIER: &str = "INSERT INTO suppliers (id, external_ref, name, region, size, \
    status, risk, payment_days, data, last_seq) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10) \
    ON CONFLICT (id) DO UPDATE SET external_ref = excluded.external_ref, \
    name = excluded.name, region = excluded.region, size = excluded.size, \
    status = excluded.status, risk = excluded.risk, payment_days = excluded.payment_days, \
    data = excluded.data, last_seq = excluded.last_seq";

const UPSERT_CONTRACT: &str = "INSERT INTO contracts (id, external_ref, supplier, category, \
    currency, state, valid_from, valid_to, data, last_seq) \
    VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10) \
    ON CONFLICT (id) DO UPDATE SET external_ref = excluded.external_ref, \
    supplier = excluded.supplier, category = excluded.category, currency = excluded.currency, \
    state = excluded.state, valid_from = excluded.valid_from, valid_to = excluded.valid_to, \
    data = excluded.data, last_seq = excluded.last_seq";

const INSERT_SPEND: &str = "INSERT INTO spend (id, external_ref, supplier, category, sku, \
    description, quantity, currency, amount_minor, date, last_seq) \
    VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)";

const UPSERT_DOCUMENT: &str = "INSERT INTO documents \
    (kind, id, parent, reference, state, data, last_seq) \
    VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) \
    ON CONFLICT (kind, id) DO UPDATE SET state = excluded.state, \
    parent = COALESCE(excluded.parent, documents.parent), \
    reference = COALESCE(excluded.reference, documents.reference), \
    data = excluded.data, last_seq = excluded.last_seq";

const ADD_TALLY: &str = "INSERT INTO tallies (scope, currency, invoices, lines, \
    compliant_lines, terms_checked, compliant_terms, savings_lines, negotiated_micros, \
    realised_micros, last_seq) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11) \
    ON CONFLICT (scope, currency) DO UPDATE SET invoices = invoices + excluded.invoices, \
    lines = lines + excluded.lines, compliant_lines = compliant_lines + excluded.compliant_lines, \
    terms_checked = terms_checked + excluded.terms_checked, \
    compliant_terms = compliant_terms + excluded.compliant_terms, \
    savings_lines = savings_lines + excluded.savings_lines, \
    negotiated_micros = negotiated_micros + excluded.negotiated_micros, \
    realised_micros = realised_micros + excluded.realised_micros, last_seq = excluded.last_seq";

const UPDATE_CONTRACT_STATE: &str = "UPDATE contracts SET state = ?1, \
    data = json_set(data, '$.state', ?1), last_seq = ?2 WHERE id = ?3";

const UPDATE_DOCUMENT_STATE: &str = "UPDATE documents SET state = ?1, \
    data = json_set(data, '$.state', ?1), last_seq = ?2 WHERE id = ?3 AND kind = ?4";

/// Executes every row of a plan with cached single-row statements, each prepared once
/// for all of them: the events (each linked to its stream's previous event), the marks
/// of every 64th event of a stream, the new stream tips, the idempotency keys, the
/// projections (in seq order) and the checkpoints.
fn write_plan(conn: &Connection, plan: &Plan<'_>) -> rusqlite::Result<()> {
    let schema_version = i64::from(accord_core::EVENT_SCHEMA_VERSION);
    {
        let mut stmt = conn.prepare_cached(INSERT_EVENT)?;
        for r in &plan.events {
            stmt.execute(params![
                r.seq,
                r.stream,
                r.stream_version,
                r.kind,
                schema_version,
                r.payload,
                r.recorded_at,
                r.key,
                r.prev_hash.as_slice(),
                r.hash.as_slice(),
                stream_key(r.stream),
                r.prev_in_stream,
            ])?;
        }
    }
    if plan
        .events
        .iter()
        .any(|r| r.stream_version % MARK_EVERY == 0)
    {
        let mut stmt = conn.prepare_cached(INSERT_MARK)?;
        for r in &plan.events {
            if r.stream_version % MARK_EVERY == 0 {
                stmt.execute(params![
                    stream_key(r.stream),
                    r.stream,
                    r.stream_version,
                    r.seq
                ])?;
            }
        }
    }
    write_tips(conn, plan)?;
    if !plan.keys.is_empty() {
        let mut stmt = conn.prepare_cached(INSERT_KEY)?;
        for (k, a) in &plan.keys {
            stmt.execute(params![
                k,
                a.first_seq as i64,
                a.last_seq as i64,
                a.stream_version as i64
            ])?;
        }
    }
    for (seq, op) in &plan.proj {
        write_proj(conn, *seq, op)?;
    }
    if !plan.checkpoints.is_empty() {
        let mut stmt = conn.prepare_cached(INSERT_CHECKPOINT)?;
        for c in &plan.checkpoints {
            stmt.execute(params![
                c.seq,
                c.hash.as_slice(),
                c.public_key.as_slice(),
                c.signature.as_slice(),
                c.signed_at,
            ])?;
        }
    }
    Ok(())
}

/// One `streams` row per stream the plan moved, at its last tip, however many requests
/// of a merged group moved it, in the table's key order, so that the rows' pages are
/// visited in turn. A row is moved with an `UPDATE` (one seek; an upsert tries the
/// insert first); only a stream that has no row yet goes through the upsert.
fn write_tips(conn: &Connection, plan: &Plan<'_>) -> rusqlite::Result<()> {
    let mut tips: Vec<(i64, TipMove<'_>)> =
        plan.tips().map(|m| (stream_key(m.stream), m)).collect();
    tips.sort_unstable_by(|(a, m), (b, n)| a.cmp(b).then_with(|| m.stream.cmp(n.stream)));
    let mut update = conn.prepare_cached(UPDATE_STREAM)?;
    let mut upsert = None;
    for (key, m) in tips {
        let (version, last) = (m.tip.version as i64, m.tip.last_seq as i64);
        if update.execute(params![key, m.stream, version, last])? == 0 {
            let stmt = match &mut upsert {
                Some(s) => s,
                None => upsert.insert(conn.prepare_cached(UPSERT_STREAM)?),
            };
            stmt.execute(params![key, m.stream, version, last])?;
        }
    }
    Ok(())
}

/// Applies one projection op.
fn write_proj(conn: &Connection, seq: i64, op: &ProjOp) -> rusqlite::Result<()> {
    match op {
        ProjOp::Supplier {
            id,
            external_ref,
            name,
            region,
            size,
            status,
            risk,
            payment_days,
            data,
        } => conn.prepare_cached(UPSERT_SUPPLIER)?.execute(params![
            id,
            external_ref,
            name,
            region,
            size,
            status,
            risk,
            payment_days,
            data,
            seq
        ])?,
        ProjOp::Contract {
            id,
            external_ref,
            supplier,
            category,
            currency,
            state,
            valid_from,
            valid_to,
            data,
        } => conn.prepare_cached(UPSERT_CONTRACT)?.execute(params![
            id,
            external_ref,
            supplier,
            category,
            currency,
            state,
            valid_from,
            valid_to,
            data,
            seq
        ])?,
        ProjOp::Spend {
            id,
            external_ref,
            supplier,
            category,
            sku,
            description,
            quantity,
            currency,
            amount_minor,
            date,
        } => conn.prepare_cached(INSERT_SPEND)?.execute(params![
            id,
            external_ref,
            supplier,
            category,
            sku,
            description,
            quantity,
            currency,
            amount_minor,
            date,
            seq
        ])?,
        ProjOp::Document {
            kind,
            id,
            parent,
            reference,
            state,
            data,
        } => conn
            .prepare_cached(UPSERT_DOCUMENT)?
            .execute(params![kind, id, parent, reference, state, data, seq])?,
        ProjOp::Tally {
            scopes,
            currency,
            values,
        } => {
            let v = values.as_array();
            let mut stmt = conn.prepare_cached(ADD_TALLY)?;
            for scope in scopes {
                stmt.execute(params![
                    scope, currency, v[0], v[1], v[2], v[3], v[4], v[5], v[6], v[7], seq
                ])?;
            }
            scopes.len()
        }
        ProjOp::State { kind, id, state } => {
            if *kind == "contract" {
                conn.prepare_cached(UPDATE_CONTRACT_STATE)?
                    .execute(params![state, seq, id])?
            } else {
                conn.prepare_cached(UPDATE_DOCUMENT_STATE)?
                    .execute(params![state, seq, id, kind])?
            }
        }
    };
    Ok(())
}
