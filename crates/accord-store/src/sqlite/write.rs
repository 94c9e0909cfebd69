//! The SQLite writer task: the only code that appends to the log. It owns the chain tip
//! and a cache of stream versions, drains the request channel into one transaction per
//! group (group commit: one fsync for many callers), and acknowledges each caller after
//! the commit.
//!
//! INVARIANT: the cached tip equals the last committed entry. Another process appending
//! to the same file takes our next seq, so our insert fails on the `seq` key; the writer
//! then reloads the tip, forgets the cached stream versions and tries once more.

use std::collections::HashMap;

use sqlx::{Executor, QueryBuilder, Row, Sqlite, SqliteConnection};
use tokio::sync::{broadcast, mpsc};

use super::{SqliteOptions, WriteRequest};
use crate::audit::NodeKey;
use crate::chain::GENESIS_PREV_HASH;
use crate::error::{Result, StoreError};
use crate::model::{Appended, Change};
use crate::plan::{self, Plan, PreparedCommand, ProjOp, Tip};
use crate::read;

/// Stream versions cached at most; past this the cache is cleared.
const MAX_CACHED_STREAMS: usize = 500_000;

pub(crate) struct Writer {
    conn: SqliteConnection,
    tip_seq: u64,
    tip_hash: [u8; 32],
    versions: HashMap<String, u64>,
    signer: Option<NodeKey>,
    checkpoint_every: u64,
    max_group_events: usize,
    feed: broadcast::Sender<Change>,
}

impl Writer {
    pub async fn new(
        conn: SqliteConnection,
        options: &SqliteOptions,
        feed: broadcast::Sender<Change>,
    ) -> Result<Writer> {
        let mut w = Writer {
            conn,
            tip_seq: 0,
            tip_hash: GENESIS_PREV_HASH,
            versions: HashMap::new(),
            signer: options.signing_key.clone(),
            checkpoint_every: options.checkpoint_every,
            max_group_events: options.max_group_events.max(1),
            feed,
        };
        w.check_tip().await?;
        Ok(w)
    }

    /// Re-reads the tip; if someone else appended, forgets the cached versions.
    async fn check_tip(&mut self) -> Result<()> {
        let row = sqlx::query("SELECT seq, hash FROM events ORDER BY seq DESC LIMIT 1")
            .fetch_optional(&mut self.conn)
            .await?;
        let (seq, hash) = match row {
            Some(r) => (
                r.try_get::<i64, _>(0)? as u64,
                read::fixed(r.try_get::<&[u8], _>(1)?),
            ),
            None => (0, GENESIS_PREV_HASH),
        };
        if seq != self.tip_seq || hash != self.tip_hash {
            self.tip_seq = seq;
            self.tip_hash = hash;
            self.versions.clear();
        }
        Ok(())
    }

    pub async fn run(mut self, mut rx: mpsc::Receiver<WriteRequest>) {
        while let Some(first) = rx.recv().await {
            let mut events = first.events;
            let mut group = vec![first];
            while events < self.max_group_events {
                match rx.try_recv() {
                    Ok(r) => {
                        events += r.events;
                        group.push(r);
                    }
                    Err(_) => break,
                }
            }
            self.commit_group(group).await;
        }
    }

    /// Commits a group; if another process appended meanwhile (our next seq is taken),
    /// reloads the tip and tries once more.
    async fn commit_group(&mut self, group: Vec<WriteRequest>) {
        let mut outcome = if group.len() > 1 {
            match self.try_group_at_once(&group).await {
                Some(done) => done,
                None => self.try_group(&group).await,
            }
        } else {
            self.try_group(&group).await
        };
        if matches!(outcome, Err(GroupError::Stale)) {
            outcome = match self.check_tip().await {
                Ok(()) => self.try_group(&group).await,
                Err(e) => Err(GroupError::Failed(e.to_string())),
            };
        }
        match outcome {
            Ok((results, first_new)) => {
                if let Some(first_seq) = first_new {
                    let _ = self.feed.send(Change {
                        first_seq,
                        last_seq: self.tip_seq,
                    });
                }
                for (r, result) in group.into_iter().zip(results) {
                    let _ = r.reply.send(result);
                }
            }
            Err(e) => {
                let msg = match e {
                    GroupError::Stale => "another process kept appending".to_string(),
                    GroupError::Failed(m) => m,
                };
                for r in group {
                    let _ = r
                        .reply
                        .send(Err(StoreError::Invalid(format!("commit failed: {msg}"))));
                }
            }
        }
    }

    /// One transaction for the whole group: the first write carries `BEGIN IMMEDIATE`,
    /// each request runs in a savepoint (unless alone), and `COMMIT` ends it. Statements
    /// of one request go to SQLite in one round trip.
    async fn try_group(
        &mut self,
        group: &[WriteRequest],
    ) -> Result<(Vec<Result<Vec<Appended>>>, Option<u64>), GroupError> {
        let saved = (self.tip_seq, self.tip_hash);
        let single = group.len() == 1;
        let mut began = false;
        let mut results = Vec::with_capacity(group.len());
        let mut first_new = None;
        let mut new_versions: Vec<(String, u64)> = Vec::new();
        let recorded_at = plan::now_text();
        for req in group {
            let planned = self.plan_request(&req.commands, &recorded_at).await;
            let plan = match planned {
                Ok(p) => p,
                Err(e) => {
                    results.push(Err(e));
                    continue;
                }
            };
            if plan.events.is_empty() {
                // Every command was a replay: nothing to write.
                results.push(Ok(plan.results));
                continue;
            }
            let prefix = match (began, single) {
                (false, true) => "BEGIN IMMEDIATE; ",
                (false, false) => "BEGIN IMMEDIATE; SAVEPOINT req; ",
                (true, _) => "SAVEPOINT req; ",
            };
            let suffix = if single { "; COMMIT" } else { "; RELEASE req" };
            match write_plan(&mut self.conn, &plan, prefix, suffix).await {
                Ok(()) => {
                    began = true;
                    first_new.get_or_insert(plan.events[0].seq as u64);
                    self.tip_seq = plan.tip_seq;
                    self.tip_hash = plan.tip_hash;
                    for (s, v) in &plan.versions {
                        self.versions.insert(s.clone(), *v);
                    }
                    new_versions.extend(plan.versions);
                    results.push(Ok(plan.results));
                }
                Err(e) => {
                    let stale = is_seq_conflict(&e);
                    if single {
                        let _ = self.conn.execute("ROLLBACK").await;
                    } else if self.conn.execute("ROLLBACK TO req").await.is_ok() {
                        began = true;
                        let _ = self.conn.execute("RELEASE req").await;
                    }
                    if stale {
                        if began && !single {
                            let _ = self.conn.execute("ROLLBACK").await;
                        }
                        self.forget(saved);
                        return Err(GroupError::Stale);
                    }
                    results.push(Err(constraint(e)));
                }
            }
        }
        if began && !single {
            let any_ok = results.iter().any(|r| r.is_ok());
            let end = if any_ok { "COMMIT" } else { "ROLLBACK" };
            if let Err(e) = self.conn.execute(end).await {
                let _ = self.conn.execute("ROLLBACK").await;
                self.forget(saved);
                return Err(GroupError::Failed(e.to_string()));
            }
        }
        if self.versions.len() > MAX_CACHED_STREAMS {
            self.versions.clear();
        }
        Ok((results, first_new))
    }

    /// The fast path of group commit: plans every request first (conflicts and replays
    /// show up in planning), then writes all of them in ONE round trip and one commit.
    /// Returns `None` when the database refused something; the caller then retries the
    /// group request by request, so one bad request fails alone.
    async fn try_group_at_once(
        &mut self,
        group: &[WriteRequest],
    ) -> Option<Result<(Vec<Result<Vec<Appended>>>, Option<u64>), GroupError>> {
        let saved = (self.tip_seq, self.tip_hash);
        let recorded_at = plan::now_text();
        let mut plans = Vec::with_capacity(group.len());
        for req in group {
            let planned = self.plan_request(&req.commands, &recorded_at).await;
            if let Ok(p) = &planned {
                // Later requests of the group build on this one.
                self.tip_seq = p.tip_seq;
                self.tip_hash = p.tip_hash;
                for (s, v) in &p.versions {
                    self.versions.insert(s.clone(), *v);
                }
            }
            plans.push(planned);
        }
        let first_new = plans
            .iter()
            .filter_map(|p| p.as_ref().ok())
            .find_map(|p| p.events.first().map(|e| e.seq as u64));
        if first_new.is_some() {
            let mut qb: QueryBuilder<Sqlite> = QueryBuilder::new("BEGIN IMMEDIATE; ");
            for p in plans.iter().flatten() {
                push_plan(&mut qb, p);
            }
            qb.push("COMMIT");
            if let Err(e) = qb.build().persistent(false).execute(&mut self.conn).await {
                let _ = self.conn.execute("ROLLBACK").await;
                self.forget(saved);
                if is_seq_conflict(&e) {
                    return Some(Err(GroupError::Stale));
                }
                return None;
            }
        }
        let results = plans.into_iter().map(|p| p.map(|p| p.results)).collect();
        Some(Ok((results, first_new)))
    }

    /// Drops what a failed transaction taught the caches.
    fn forget(&mut self, saved: (u64, [u8; 32])) {
        (self.tip_seq, self.tip_hash) = saved;
        self.versions.clear();
    }

    /// Looks up what the request needs and plans it on top of the current tip.
    async fn plan_request<'a>(
        &mut self,
        commands: &'a [PreparedCommand],
        recorded_at: &'a str,
    ) -> Result<Plan<'a>> {
        let (streams, keys) = plan::needs(commands);
        self.load_versions(&streams).await?;
        let known_keys = self.load_keys(&keys).await?;
        plan::plan(
            &Tip {
                seq: self.tip_seq,
                hash: self.tip_hash,
                versions: &self.versions,
                known_keys: &known_keys,
                signer: self.signer.as_ref().map(|k| (k, self.checkpoint_every)),
            },
            commands,
            recorded_at,
        )
    }

    async fn load_versions(&mut self, streams: &[String]) -> Result<()> {
        let missing: Vec<&String> = streams
            .iter()
            .filter(|s| !self.versions.contains_key(*s))
            .collect();
        for chunk in missing.chunks(500) {
            let mut qb: QueryBuilder<Sqlite> = QueryBuilder::new(
                "SELECT stream, MAX(stream_version) FROM events WHERE stream IN (",
            );
            let mut sep = qb.separated(", ");
            for s in chunk {
                sep.push_bind(s.as_str());
            }
            qb.push(") GROUP BY stream");
            let rows = qb
                .build()
                .persistent(false)
                .fetch_all(&mut self.conn)
                .await?;
            for s in chunk {
                self.versions.insert((*s).clone(), 0);
            }
            for r in rows {
                let stream: String = r.try_get(0)?;
                let v: i64 = r.try_get(1)?;
                self.versions.insert(stream, v as u64);
            }
        }
        Ok(())
    }

    async fn load_keys(&mut self, keys: &[String]) -> Result<HashMap<String, Appended>> {
        let mut known = HashMap::new();
        for chunk in keys.chunks(500) {
            let mut qb: QueryBuilder<Sqlite> = QueryBuilder::new(
                "SELECT key, first_seq, last_seq, stream_version FROM idempotency WHERE key IN (",
            );
            let mut sep = qb.separated(", ");
            for k in chunk {
                sep.push_bind(k.as_str());
            }
            qb.push(")");
            let rows = qb
                .build()
                .persistent(false)
                .fetch_all(&mut self.conn)
                .await?;
            for r in rows {
                known.insert(
                    r.try_get::<String, _>(0)?,
                    Appended {
                        first_seq: r.try_get::<i64, _>(1)? as u64,
                        last_seq: r.try_get::<i64, _>(2)? as u64,
                        stream_version: r.try_get::<i64, _>(3)? as u64,
                        replayed: true,
                    },
                );
            }
        }
        Ok(known)
    }
}

pub(crate) enum GroupError {
    /// Our next seq was taken: another process appended to the file.
    Stale,
    Failed(String),
}

fn is_seq_conflict(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(d)
        if d.is_unique_violation() && d.message().contains("events.seq"))
}

/// Unique or check violations mean the batch itself is unacceptable.
fn constraint(e: sqlx::Error) -> StoreError {
    match &e {
        sqlx::Error::Database(d)
            if d.is_unique_violation()
                || d.is_check_violation()
                || d.is_foreign_key_violation() =>
        {
            StoreError::Constraint(d.message().to_string())
        }
        _ => StoreError::Database(e),
    }
}

/// Row counts per multi-row statement. Fixed sizes keep the statement cache warm.
const CHUNKS: [usize; 5] = [256, 64, 16, 4, 1];

fn chunks<T>(mut rows: &[T]) -> Vec<&[T]> {
    let mut out = Vec::new();
    while !rows.is_empty() {
        let n = CHUNKS
            .iter()
            .copied()
            .find(|&c| c <= rows.len())
            .unwrap_or(1);
        let (a, b) = rows.split_at(n);
        out.push(a);
        rows = b;
    }
    out
}

/// Statements with more events than this are not kept in the statement cache.
const CACHED_UP_TO: usize = 16;

/// Writes a plan in ONE round trip: `prefix`, every insert, `suffix`.
async fn write_plan(
    conn: &mut SqliteConnection,
    plan: &Plan<'_>,
    prefix: &str,
    suffix: &str,
) -> sqlx::Result<()> {
    let mut qb: QueryBuilder<Sqlite> = QueryBuilder::new(prefix);
    push_plan(&mut qb, plan);
    qb.push(suffix.trim_start_matches("; "));
    qb.build()
        .persistent(plan.events.len() <= CACHED_UP_TO)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// Appends every insert of `plan` to `qb`, each statement ending in `; `.
fn push_plan<'a>(qb: &mut QueryBuilder<'a, Sqlite>, plan: &'a Plan<'a>) {
    for rows in chunks(&plan.events) {
        qb.push(
            "INSERT INTO events (seq, stream, stream_version, type, schema_version, payload, \
             recorded_at, idempotency_key, prev_hash, hash) ",
        );
        qb.push_values(rows, |mut b, r| {
            b.push_bind(r.seq)
                .push_bind(r.stream)
                .push_bind(r.stream_version)
                .push_bind(r.kind)
                .push_bind(i64::from(accord_core::EVENT_SCHEMA_VERSION))
                .push_bind(r.payload)
                .push_bind(r.recorded_at)
                .push_bind(r.key)
                .push_bind(r.prev_hash.as_slice())
                .push_bind(r.hash.as_slice());
        });
        qb.push("; ");
    }
    for rows in chunks(&plan.keys) {
        qb.push("INSERT INTO idempotency (key, first_seq, last_seq, stream_version) ");
        qb.push_values(rows, |mut b, (k, a)| {
            b.push_bind(*k)
                .push_bind(a.first_seq as i64)
                .push_bind(a.last_seq as i64)
                .push_bind(a.stream_version as i64);
        });
        qb.push("; ");
    }
    for run in plan::proj_runs(&plan.proj) {
        for rows in chunks(run) {
            push_proj(qb, rows);
        }
    }
    for c in &plan.checkpoints {
        qb.push(
            "INSERT INTO audit_checkpoints (seq, hash, public_key, signature, signed_at) VALUES (",
        );
        let mut sep = qb.separated(", ");
        sep.push_bind(c.seq)
            .push_bind(c.hash.as_slice())
            .push_bind(c.public_key.as_slice())
            .push_bind(c.signature.as_slice())
            .push_bind(c.signed_at.as_str());
        qb.push("); ");
    }
}

/// Appends the statement(s) for a run of projection ops of one kind, none touching the
/// same row twice.
fn push_proj<'a>(qb: &mut QueryBuilder<'a, Sqlite>, rows: &[(i64, &'a ProjOp)]) {
    let Some((_, first)) = rows.first() else {
        return;
    };
    match first {
        ProjOp::Supplier { .. } => {
            qb.push(
                "INSERT INTO suppliers (id, external_ref, name, region, size, status, risk, \
                 payment_days, data, last_seq) ",
            );
            qb.push_values(rows, |mut b, (seq, op)| {
                if let ProjOp::Supplier {
                    id,
                    external_ref,
                    name,
                    region,
                    size,
                    status,
                    risk,
                    payment_days,
                    data,
                } = op
                {
                    b.push_bind(id.as_str())
                        .push_bind(external_ref.as_str())
                        .push_bind(name.as_str())
                        .push_bind(region.as_str())
                        .push_bind(size.as_str())
                        .push_bind(status.as_str())
                        .push_bind(risk.as_str())
                        .push_bind(*payment_days)
                        .push_bind(data.as_str())
                        .push_bind(*seq);
                }
            });
            qb.push(
                " ON CONFLICT (id) DO UPDATE SET external_ref = excluded.external_ref, \
                 name = excluded.name, region = excluded.region, size = excluded.size, \
                 status = excluded.status, risk = excluded.risk, \
                 payment_days = excluded.payment_days, data = excluded.data, \
                 last_seq = excluded.last_seq; ",
            );
        }
        ProjOp::Contract { .. } => {
            qb.push(
                "INSERT INTO contracts (id, external_ref, supplier, category, currency, state, \
                 valid_from, valid_to, data, last_seq) ",
            );
            qb.push_values(rows, |mut b, (seq, op)| {
                if let ProjOp::Contract {
                    id,
                    external_ref,
                    supplier,
                    category,
                    currency,
                    state,
                    valid_from,
                    valid_to,
                    data,
                } = op
                {
                    b.push_bind(id.as_str())
                        .push_bind(external_ref.as_str())
                        .push_bind(supplier.as_str())
                        .push_bind(category.as_str())
                        .push_bind(currency.as_str())
                        .push_bind(state.as_str())
                        .push_bind(valid_from.as_str())
                        .push_bind(valid_to.as_str())
                        .push_bind(data.as_str())
                        .push_bind(*seq);
                }
            });
            qb.push(
                " ON CONFLICT (id) DO UPDATE SET external_ref = excluded.external_ref, \
                 supplier = excluded.supplier, category = excluded.category, \
                 currency = excluded.currency, state = excluded.state, \
                 valid_from = excluded.valid_from, valid_to = excluded.valid_to, \
                 data = excluded.data, last_seq = excluded.last_seq; ",
            );
        }
        ProjOp::Spend { .. } => {
            qb.push(
                "INSERT INTO spend (id, external_ref, supplier, category, sku, description, \
                 quantity, currency, amount_minor, date, last_seq) ",
            );
            qb.push_values(rows, |mut b, (seq, op)| {
                if let ProjOp::Spend {
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
                } = op
                {
                    b.push_bind(id.as_str())
                        .push_bind(external_ref.as_str())
                        .push_bind(supplier.as_str())
                        .push_bind(category.as_str())
                        .push_bind(sku.as_deref())
                        .push_bind(description.as_str())
                        .push_bind(quantity.as_str())
                        .push_bind(currency.as_str())
                        .push_bind(*amount_minor)
                        .push_bind(date.as_str())
                        .push_bind(*seq);
                }
            });
            qb.push("; ");
        }
        ProjOp::Document { .. } => {
            qb.push("INSERT INTO documents (kind, id, parent, state, data, last_seq) ");
            qb.push_values(rows, |mut b, (seq, op)| {
                if let ProjOp::Document {
                    kind,
                    id,
                    parent,
                    state,
                    data,
                } = op
                {
                    b.push_bind(*kind)
                        .push_bind(id.as_str())
                        .push_bind(parent.as_deref())
                        .push_bind(state.as_str())
                        .push_bind(data.as_str())
                        .push_bind(*seq);
                }
            });
            qb.push(
                " ON CONFLICT (kind, id) DO UPDATE SET state = excluded.state, \
                 parent = COALESCE(excluded.parent, documents.parent), \
                 data = excluded.data, last_seq = excluded.last_seq; ",
            );
        }
        ProjOp::State { .. } => {
            for (seq, op) in rows {
                if let ProjOp::State { kind, id, state } = op {
                    // The state is bound twice: anonymous parameters are numbered in order
                    // across the whole multi-statement query.
                    let table = if *kind == "contract" {
                        "contracts"
                    } else {
                        "documents"
                    };
                    qb.push(format!("UPDATE {table} SET state = "));
                    qb.push_bind(state.as_str());
                    qb.push(", data = json_set(data, '$.state', ");
                    qb.push_bind(state.as_str());
                    qb.push("), last_seq = ");
                    qb.push_bind(*seq);
                    qb.push(" WHERE id = ");
                    qb.push_bind(id.as_str());
                    if *kind != "contract" {
                        qb.push(" AND kind = ");
                        qb.push_bind(*kind);
                    }
                    qb.push("; ");
                }
            }
        }
    }
}
