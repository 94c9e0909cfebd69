//! The SQLite writer task: the only code that appends to the log. It owns the chain tip
//! and a cache of stream versions, drains the request channel into one transaction per
//! group (group commit: one fsync for many callers), and acknowledges each caller after
//! the commit.
//!
//! INVARIANT: the cached tip equals the last committed entry. It is re-read inside every
//! write transaction, so another process appending to the same file only costs a reload.

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

    async fn commit_group(&mut self, group: Vec<WriteRequest>) {
        let saved = (self.tip_seq, self.tip_hash);
        let begin = async {
            self.conn.execute("BEGIN IMMEDIATE").await?;
            self.check_tip().await
        };
        if let Err(e) = begin.await {
            let msg = e.to_string();
            let _ = self.conn.execute("ROLLBACK").await;
            for r in group {
                let _ = r
                    .reply
                    .send(Err(StoreError::Invalid(format!("cannot begin: {msg}"))));
            }
            return;
        }
        let single = group.len() == 1;
        let mut done: Vec<(WriteRequest, Result<Vec<Appended>>)> = Vec::with_capacity(group.len());
        let mut first_new = None;
        for mut req in group {
            let commands = std::mem::take(&mut req.commands);
            if !single {
                if let Err(e) = self.conn.execute("SAVEPOINT req").await {
                    done.push((req, Err(e.into())));
                    continue;
                }
            }
            let outcome = self.apply(commands).await;
            let outcome = match outcome {
                Ok(plan) => {
                    if !single {
                        let _ = self.conn.execute("RELEASE req").await;
                    }
                    if !plan.events.is_empty() {
                        first_new.get_or_insert(plan.events[0].seq as u64);
                    }
                    self.tip_seq = plan.tip_seq;
                    self.tip_hash = plan.tip_hash;
                    if self.versions.len() > MAX_CACHED_STREAMS {
                        self.versions.clear();
                    }
                    self.versions.extend(plan.versions);
                    Ok(plan.results)
                }
                Err(e) => {
                    if !single {
                        let _ = self.conn.execute("ROLLBACK TO req").await;
                        let _ = self.conn.execute("RELEASE req").await;
                    }
                    Err(e)
                }
            };
            done.push((req, outcome));
        }
        let any_ok = done.iter().any(|(_, r)| r.is_ok());
        let end = if any_ok { "COMMIT" } else { "ROLLBACK" };
        if let Err(e) = self.conn.execute(end).await {
            let msg = e.to_string();
            let _ = self.conn.execute("ROLLBACK").await;
            (self.tip_seq, self.tip_hash) = saved;
            self.versions.clear();
            for (r, _) in done {
                let _ = r
                    .reply
                    .send(Err(StoreError::Invalid(format!("commit failed: {msg}"))));
            }
            return;
        }
        if let Some(first_seq) = first_new {
            let _ = self.feed.send(Change {
                first_seq,
                last_seq: self.tip_seq,
            });
        }
        for (r, outcome) in done {
            let _ = r.reply.send(outcome);
        }
    }

    /// Plans and writes one all-or-nothing request inside the open transaction.
    async fn apply(&mut self, commands: Vec<PreparedCommand>) -> Result<Plan> {
        let t0 = std::time::Instant::now();
        let (streams, keys) = plan::needs(&commands);
        self.load_versions(&streams).await?;
        let known_keys = self.load_keys(&keys).await?;
        let t1 = t0.elapsed();
        let recorded_at = plan::now_text();
        let plan = plan::plan(
            &Tip {
                seq: self.tip_seq,
                hash: self.tip_hash,
                versions: &self.versions,
                known_keys: &known_keys,
                signer: self.signer.as_ref().map(|k| (k, self.checkpoint_every)),
            },
            commands,
            &recorded_at,
        )?;
        let t2 = t0.elapsed();
        write_plan(&mut self.conn, &plan)
            .await
            .map_err(constraint)?;
        if std::env::var("ACCORD_TIMING").is_ok() {
            eprintln!(
                "lookups {t1:?} plan {:?} write {:?}",
                t2 - t1,
                t0.elapsed() - t2
            );
        }
        Ok(plan)
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

async fn write_plan(conn: &mut SqliteConnection, plan: &Plan) -> sqlx::Result<()> {
    for rows in chunks(&plan.events) {
        let mut qb: QueryBuilder<Sqlite> = QueryBuilder::new(
            "INSERT INTO events (seq, stream, stream_version, type, schema_version, payload, \
             recorded_at, idempotency_key, prev_hash, hash) ",
        );
        qb.push_values(rows, |mut b, r| {
            b.push_bind(r.seq)
                .push_bind(r.stream.as_str())
                .push_bind(r.stream_version)
                .push_bind(r.kind)
                .push_bind(i64::from(accord_core::EVENT_SCHEMA_VERSION))
                .push_bind(r.payload.as_str())
                .push_bind(r.recorded_at.as_str())
                .push_bind(r.key.as_deref())
                .push_bind(r.prev_hash.as_slice())
                .push_bind(r.hash.as_slice());
        });
        qb.build().execute(&mut *conn).await?;
    }
    for rows in chunks(&plan.keys) {
        let mut qb: QueryBuilder<Sqlite> = QueryBuilder::new(
            "INSERT INTO idempotency (key, first_seq, last_seq, stream_version) ",
        );
        qb.push_values(rows, |mut b, (k, a)| {
            b.push_bind(k.as_str())
                .push_bind(a.first_seq as i64)
                .push_bind(a.last_seq as i64)
                .push_bind(a.stream_version as i64);
        });
        qb.build().execute(&mut *conn).await?;
    }
    for run in plan::proj_runs(&plan.proj) {
        for rows in chunks(run) {
            write_proj(conn, rows).await?;
        }
    }
    for c in &plan.checkpoints {
        sqlx::query(
            "INSERT INTO audit_checkpoints (seq, hash, public_key, signature, signed_at) \
             VALUES (?, ?, ?, ?, ?)",
        )
        .bind(c.seq)
        .bind(c.hash.as_slice())
        .bind(c.public_key.as_slice())
        .bind(c.signature.as_slice())
        .bind(c.signed_at.as_str())
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

/// Writes a run of projection ops of one kind, none touching the same row twice.
async fn write_proj(conn: &mut SqliteConnection, rows: &[(i64, ProjOp)]) -> sqlx::Result<()> {
    let Some((_, first)) = rows.first() else {
        return Ok(());
    };
    let mut qb: QueryBuilder<Sqlite>;
    match first {
        ProjOp::Supplier { .. } => {
            qb = QueryBuilder::new(
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
                 last_seq = excluded.last_seq",
            );
        }
        ProjOp::Contract { .. } => {
            qb = QueryBuilder::new(
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
                 data = excluded.data, last_seq = excluded.last_seq",
            );
        }
        ProjOp::Spend { .. } => {
            qb = QueryBuilder::new(
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
        }
        ProjOp::Document { .. } => {
            qb = QueryBuilder::new("INSERT INTO documents (kind, id, state, data, last_seq) ");
            qb.push_values(rows, |mut b, (seq, op)| {
                if let ProjOp::Document {
                    kind,
                    id,
                    state,
                    data,
                } = op
                {
                    b.push_bind(*kind)
                        .push_bind(id.as_str())
                        .push_bind(state.as_str())
                        .push_bind(data.as_str())
                        .push_bind(*seq);
                }
            });
            qb.push(
                " ON CONFLICT (kind, id) DO UPDATE SET state = excluded.state, \
                 data = excluded.data, last_seq = excluded.last_seq",
            );
        }
        ProjOp::State { .. } => {
            for (seq, op) in rows {
                if let ProjOp::State { kind, id, state } = op {
                    state_update(kind, state, *seq, id)
                        .execute(&mut *conn)
                        .await?;
                }
            }
            return Ok(());
        }
    }
    qb.build().execute(&mut *conn).await?;
    Ok(())
}

/// A life-cycle move: the state column and the state inside the stored JSON.
fn state_update<'q>(
    kind: &'q str,
    state: &'q str,
    seq: i64,
    id: &'q str,
) -> sqlx::query::Query<'q, Sqlite, sqlx::sqlite::SqliteArguments<'q>> {
    if kind == "contract" {
        sqlx::query(
            "UPDATE contracts SET state = ?1, data = json_set(data, '$.state', ?1), \
             last_seq = ?2 WHERE id = ?3",
        )
        .bind(state)
        .bind(seq)
        .bind(id)
    } else {
        sqlx::query(
            "UPDATE documents SET state = ?1, data = json_set(data, '$.state', ?1), \
             last_seq = ?2 WHERE id = ?3 AND kind = ?4",
        )
        .bind(state)
        .bind(seq)
        .bind(id)
        .bind(kind)
    }
}
