//! The PostgreSQL writer task. Each node runs one; it drains its request channel into one
//! transaction per group (group commit) and acknowledges callers after the commit.
//!
//! Chain appends across nodes are serialised by locking the single row of `chain_tip`
//! `FOR UPDATE` at the start of every write transaction. A row lock rather than an
//! advisory lock because the same statement hands the writer the current tip (seq, hash)
//! without a `MAX(seq)` scan, it is released by commit or rollback with no separate
//! unlock path to get wrong, and updating the row records the new tip in the same commit.
//!
//! INVARIANT: `chain_tip` equals the last committed entry; the cached tip is compared with
//! it in every transaction and the cached stream versions are dropped when they differ.

use std::collections::HashMap;

use sqlx::{Connection, Executor, PgConnection, Row};
use tokio::sync::mpsc;

use super::{PgOptions, WriteRequest};
use crate::audit::NodeKey;
use crate::chain::GENESIS_PREV_HASH;
use crate::error::{Result, StoreError};
use crate::model::Appended;
use crate::plan::{self, Plan, PreparedCommand, ProjOp, Tip};
use crate::read;

const MAX_CACHED_STREAMS: usize = 500_000;

pub(crate) struct Writer {
    conn: PgConnection,
    tip_seq: u64,
    tip_hash: [u8; 32],
    versions: HashMap<String, u64>,
    signer: Option<NodeKey>,
    checkpoint_every: u64,
    max_group_events: usize,
    channel: String,
}

impl Writer {
    pub async fn new(conn: PgConnection, options: &PgOptions, channel: String) -> Result<Writer> {
        Ok(Writer {
            conn,
            tip_seq: u64::MAX,
            tip_hash: GENESIS_PREV_HASH,
            versions: HashMap::new(),
            signer: options.signing_key.clone(),
            checkpoint_every: options.checkpoint_every,
            max_group_events: options.max_group_events.max(1),
            channel,
        })
    }

    /// Begins a transaction and locks the tip row, in one round trip; if another node
    /// appended, forgets the cached versions.
    async fn begin_locked(&mut self) -> Result<()> {
        // A query without arguments goes out as one simple-protocol message.
        let rows = self
            .conn
            .fetch_all("BEGIN; SELECT seq, hash FROM chain_tip WHERE id = 1 FOR UPDATE")
            .await?;
        let r = rows
            .first()
            .ok_or_else(|| StoreError::Invalid("chain_tip has no row".into()))?;
        let seq = r.try_get::<i64, _>(0)? as u64;
        let hash = read::fixed(&r.try_get::<Vec<u8>, _>(1)?);
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
        let _ = self.conn.close().await;
    }

    /// Commits a group in one transaction with a fixed number of round trips: the
    /// versions and keys of every request are read in one query each, every request is
    /// planned in memory on the tip the previous one left, and all planned rows go in
    /// with one multi-row statement per table. A request whose planning fails (a version
    /// conflict) fails alone and writes nothing. Should the database refuse the merged
    /// rows (a constraint one request broke), the group is rolled back and retried
    /// request by request, each in its own savepoint, so that only that request fails.
    async fn commit_group(&mut self, group: Vec<WriteRequest>) {
        if group.len() == 1 {
            return self.commit_each(group).await;
        }
        match self.try_merged(&group).await {
            Ok(results) => {
                for (r, outcome) in group.into_iter().zip(results) {
                    let _ = r.reply.send(outcome);
                }
            }
            Err(Merged::Refused) => {
                self.forget();
                self.commit_each(group).await;
            }
            Err(Merged::Failed(msg)) => {
                self.forget();
                for r in group {
                    let _ = r
                        .reply
                        .send(Err(StoreError::Invalid(format!("commit failed: {msg}"))));
                }
            }
        }
    }

    /// The log as this writer sees it, for planning.
    fn tip<'a>(&'a self, known_keys: &'a HashMap<String, Appended>) -> Tip<'a> {
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

    async fn try_merged(
        &mut self,
        group: &[WriteRequest],
    ) -> std::result::Result<Vec<Result<Vec<Appended>>>, Merged> {
        let failed = |e: &dyn std::fmt::Display| Merged::Failed(e.to_string());
        if let Err(e) = self.begin_locked().await {
            let _ = self.conn.execute("ROLLBACK").await;
            return Err(failed(&e));
        }
        let mut streams = Vec::new();
        let mut keys = Vec::new();
        for r in group {
            let (s, k) = plan::needs(&r.commands);
            streams.extend(s);
            keys.extend(k);
        }
        streams.sort_unstable();
        streams.dedup();
        let loaded = async {
            self.load_versions(&streams).await?;
            self.load_keys(&keys).await
        };
        let known_keys = match loaded.await {
            Ok(k) => k,
            Err(e) => {
                let _ = self.conn.execute("ROLLBACK").await;
                return Err(failed(&e));
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
        self.tip_seq = merged.tip_seq;
        self.tip_hash = merged.tip_hash;
        self.versions
            .extend(merged.tips().map(|m| (m.stream.to_owned(), m.tip.version)));
        let first_new = merged.first_seq();
        let written = async {
            write_plan(&mut self.conn, &merged).await?;
            self.finish_and_commit(first_new).await
        };
        match written.await {
            Ok(()) => {
                if self.versions.len() > MAX_CACHED_STREAMS {
                    self.versions.clear();
                }
                Ok(results)
            }
            Err(e) => {
                let _ = self.conn.execute("ROLLBACK").await;
                match constraint(e) {
                    StoreError::Constraint(_) => Err(Merged::Refused),
                    other => Err(failed(&other)),
                }
            }
        }
    }

    /// Records the new tip in `chain_tip`, tells listening nodes about the new entries
    /// and commits, in one round trip. Every value is ours (numbers, a hex hash, the
    /// channel named after a validated schema), so it is written inline.
    async fn finish_and_commit(&mut self, first_seq: Option<u64>) -> sqlx::Result<()> {
        let Some(first_seq) = first_seq else {
            self.conn.execute("COMMIT").await?;
            return Ok(());
        };
        let sql = format!(
            "UPDATE chain_tip SET seq = {seq}, hash = '\\x{hash}'::bytea WHERE id = 1; \
             SELECT pg_notify('{channel}', '{first_seq}:{seq}'); COMMIT",
            seq = self.tip_seq,
            hash = hex::encode(self.tip_hash),
            channel = self.channel,
        );
        self.conn.execute(sql.as_str()).await?;
        Ok(())
    }

    /// Commits a group request by request, each in its own savepoint (one request alone
    /// needs none).
    async fn commit_each(&mut self, group: Vec<WriteRequest>) {
        if let Err(e) = self.begin_locked().await {
            let msg = e.to_string();
            let _ = self.conn.execute("ROLLBACK").await;
            self.forget();
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
            if !single && let Err(e) = self.conn.execute("SAVEPOINT req").await {
                done.push((req, Err(e.into())));
                continue;
            }
            let outcome = match self.apply(commands).await {
                Ok(plan) => {
                    if !single {
                        let _ = self.conn.execute("RELEASE SAVEPOINT req").await;
                    }
                    if let Some(seq) = plan.first_seq {
                        first_new.get_or_insert(seq);
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
                        let _ = self.conn.execute("ROLLBACK TO SAVEPOINT req").await;
                        let _ = self.conn.execute("RELEASE SAVEPOINT req").await;
                    }
                    Err(e)
                }
            };
            done.push((req, outcome));
        }
        let any_ok = done.iter().any(|(_, r)| r.is_ok());
        let finish = async {
            if !any_ok {
                self.conn.execute("ROLLBACK").await?;
                return Ok::<_, sqlx::Error>(());
            }
            self.finish_and_commit(first_new).await
        };
        if let Err(e) = finish.await {
            let msg = e.to_string();
            let _ = self.conn.execute("ROLLBACK").await;
            self.forget();
            for (r, _) in done {
                let _ = r
                    .reply
                    .send(Err(StoreError::Invalid(format!("commit failed: {msg}"))));
            }
            return;
        }
        for (r, outcome) in done {
            let _ = r.reply.send(outcome);
        }
    }

    async fn apply(&mut self, commands: Vec<PreparedCommand>) -> Result<Applied> {
        let (streams, keys) = plan::needs(&commands);
        self.load_versions(&streams).await?;
        let known_keys = self.load_keys(&keys).await?;
        let recorded_at = plan::now_text();
        let mut plan = Plan::new(self.tip_seq, self.tip_hash);
        let results = plan.add(&self.tip(&known_keys), &commands, &recorded_at)?;
        write_plan(&mut self.conn, &plan)
            .await
            .map_err(constraint)?;
        Ok(Applied {
            first_seq: plan.first_seq(),
            tip_seq: plan.tip_seq,
            tip_hash: plan.tip_hash,
            versions: plan
                .tips()
                .map(|m| (m.stream.to_owned(), m.tip.version))
                .collect(),
            results,
        })
    }

    async fn load_versions(&mut self, streams: &[String]) -> Result<()> {
        let missing: Vec<String> = streams
            .iter()
            .filter(|s| !self.versions.contains_key(*s))
            .cloned()
            .collect();
        if missing.is_empty() {
            return Ok(());
        }
        // One backward index probe per stream. (`stream = ANY($1) GROUP BY stream` let
        // the planner pick a bitmap scan that grew with the log: 7 ms at 20k events.)
        let rows = sqlx::query(
            "SELECT s.stream, v.stream_version FROM UNNEST($1::text[]) AS s(stream) \
             CROSS JOIN LATERAL (SELECT stream_version FROM events e WHERE e.stream = s.stream \
             ORDER BY stream_version DESC LIMIT 1) v",
        )
        .bind(&missing)
        .fetch_all(&mut self.conn)
        .await?;
        for s in missing {
            self.versions.insert(s, 0);
        }
        for r in rows {
            let stream: String = r.try_get(0)?;
            let v: i64 = r.try_get(1)?;
            self.versions.insert(stream, v as u64);
        }
        Ok(())
    }

    async fn load_keys(&mut self, keys: &[String]) -> Result<HashMap<String, Appended>> {
        let mut known = HashMap::new();
        if keys.is_empty() {
            return Ok(known);
        }
        let rows = sqlx::query(
            "SELECT key, first_seq, last_seq, stream_version FROM idempotency WHERE key = ANY($1)",
        )
        .bind(keys)
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
        Ok(known)
    }
}

/// Why a merged group did not commit.
enum Merged {
    /// The database refused a row: retry request by request to find the culprit.
    Refused,
    Failed(String),
}

/// What a written plan leaves behind once its borrowed rows are gone.
struct Applied {
    first_seq: Option<u64>,
    tip_seq: u64,
    tip_hash: [u8; 32],
    versions: Vec<(String, u64)>,
    results: Vec<Appended>,
}

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

async fn write_plan(conn: &mut PgConnection, plan: &Plan<'_>) -> sqlx::Result<()> {
    if !plan.events.is_empty() {
        let ev = &plan.events;
        sqlx::query(
            "INSERT INTO events (seq, stream, stream_version, type, schema_version, payload, \
             recorded_at, idempotency_key, prev_hash, hash) \
             SELECT * FROM UNNEST($1::int8[], $2::text[], $3::int8[], $4::text[], $5::int4[], \
             $6::text[], $7::text[], $8::text[], $9::bytea[], $10::bytea[])",
        )
        .bind(ev.iter().map(|r| r.seq).collect::<Vec<_>>())
        .bind(ev.iter().map(|r| r.stream).collect::<Vec<_>>())
        .bind(ev.iter().map(|r| r.stream_version).collect::<Vec<_>>())
        .bind(ev.iter().map(|r| r.kind).collect::<Vec<_>>())
        .bind(
            ev.iter()
                .map(|_| i32::from(accord_core::EVENT_SCHEMA_VERSION))
                .collect::<Vec<_>>(),
        )
        .bind(ev.iter().map(|r| r.payload).collect::<Vec<_>>())
        .bind(ev.iter().map(|r| r.recorded_at).collect::<Vec<_>>())
        .bind(ev.iter().map(|r| r.key).collect::<Vec<_>>())
        .bind(ev.iter().map(|r| r.prev_hash.to_vec()).collect::<Vec<_>>())
        .bind(ev.iter().map(|r| r.hash.to_vec()).collect::<Vec<_>>())
        .execute(&mut *conn)
        .await?;
    }
    if !plan.keys.is_empty() {
        let k = &plan.keys;
        sqlx::query(
            "INSERT INTO idempotency (key, first_seq, last_seq, stream_version) \
             SELECT * FROM UNNEST($1::text[], $2::int8[], $3::int8[], $4::int8[])",
        )
        .bind(k.iter().map(|(k, _)| *k).collect::<Vec<_>>())
        .bind(
            k.iter()
                .map(|(_, a)| a.first_seq as i64)
                .collect::<Vec<_>>(),
        )
        .bind(k.iter().map(|(_, a)| a.last_seq as i64).collect::<Vec<_>>())
        .bind(
            k.iter()
                .map(|(_, a)| a.stream_version as i64)
                .collect::<Vec<_>>(),
        )
        .execute(&mut *conn)
        .await?;
    }
    for run in plan::proj_runs(&plan.proj) {
        write_proj(conn, run).await?;
    }
    for c in &plan.checkpoints {
        sqlx::query(
            "INSERT INTO audit_checkpoints (seq, hash, public_key, signature, signed_at) \
             VALUES ($1, $2, $3, $4, $5)",
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

/// Collects one field of every op in a run (all ops of a run have the same variant).
macro_rules! col {
    ($rows:expr, $variant:ident, $field:ident, $map:expr) => {
        $rows
            .iter()
            .filter_map(|(_, op)| match op {
                ProjOp::$variant { $field, .. } => Some($map($field)),
                _ => None,
            })
            .collect::<Vec<_>>()
    };
}

async fn write_proj(conn: &mut PgConnection, rows: &[(i64, &ProjOp)]) -> sqlx::Result<()> {
    let Some((_, first)) = rows.first() else {
        return Ok(());
    };
    let seqs: Vec<i64> = rows.iter().map(|(s, _)| *s).collect();
    let s = |x: &String| x.clone();
    match first {
        ProjOp::Supplier { .. } => {
            sqlx::query(
                "INSERT INTO suppliers (id, external_ref, name, region, size, status, risk, \
                 payment_days, data, last_seq) \
                 SELECT * FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], \
                 $6::text[], $7::text[], $8::int8[], $9::text[], $10::int8[]) \
                 ON CONFLICT (id) DO UPDATE SET external_ref = excluded.external_ref, \
                 name = excluded.name, region = excluded.region, size = excluded.size, \
                 status = excluded.status, risk = excluded.risk, \
                 payment_days = excluded.payment_days, data = excluded.data, \
                 last_seq = excluded.last_seq",
            )
            .bind(col!(rows, Supplier, id, s))
            .bind(col!(rows, Supplier, external_ref, s))
            .bind(col!(rows, Supplier, name, s))
            .bind(col!(rows, Supplier, region, s))
            .bind(col!(rows, Supplier, size, s))
            .bind(col!(rows, Supplier, status, s))
            .bind(col!(rows, Supplier, risk, s))
            .bind(col!(rows, Supplier, payment_days, |d: &Option<i64>| *d))
            .bind(col!(rows, Supplier, data, s))
            .bind(&seqs)
            .execute(&mut *conn)
            .await?;
        }
        ProjOp::Contract { .. } => {
            sqlx::query(
                "INSERT INTO contracts (id, external_ref, supplier, category, currency, state, \
                 valid_from, valid_to, data, last_seq) \
                 SELECT * FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], \
                 $6::text[], $7::text[], $8::text[], $9::text[], $10::int8[]) \
                 ON CONFLICT (id) DO UPDATE SET external_ref = excluded.external_ref, \
                 supplier = excluded.supplier, category = excluded.category, \
                 currency = excluded.currency, state = excluded.state, \
                 valid_from = excluded.valid_from, valid_to = excluded.valid_to, \
                 data = excluded.data, last_seq = excluded.last_seq",
            )
            .bind(col!(rows, Contract, id, s))
            .bind(col!(rows, Contract, external_ref, s))
            .bind(col!(rows, Contract, supplier, s))
            .bind(col!(rows, Contract, category, s))
            .bind(col!(rows, Contract, currency, s))
            .bind(col!(rows, Contract, state, s))
            .bind(col!(rows, Contract, valid_from, s))
            .bind(col!(rows, Contract, valid_to, s))
            .bind(col!(rows, Contract, data, s))
            .bind(&seqs)
            .execute(&mut *conn)
            .await?;
        }
        ProjOp::Spend { .. } => {
            sqlx::query(
                "INSERT INTO spend (id, external_ref, supplier, category, sku, description, \
                 quantity, currency, amount_minor, date, last_seq) \
                 SELECT * FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], \
                 $6::text[], $7::text[], $8::text[], $9::int8[], $10::text[], $11::int8[])",
            )
            .bind(col!(rows, Spend, id, s))
            .bind(col!(rows, Spend, external_ref, s))
            .bind(col!(rows, Spend, supplier, s))
            .bind(col!(rows, Spend, category, s))
            .bind(col!(rows, Spend, sku, |x: &Option<String>| x.clone()))
            .bind(col!(rows, Spend, description, s))
            .bind(col!(rows, Spend, quantity, s))
            .bind(col!(rows, Spend, currency, s))
            .bind(col!(rows, Spend, amount_minor, |x: &i64| *x))
            .bind(col!(rows, Spend, date, s))
            .bind(&seqs)
            .execute(&mut *conn)
            .await?;
        }
        ProjOp::Document { .. } => {
            sqlx::query(
                "INSERT INTO documents (kind, id, parent, reference, state, data, last_seq) \
                 SELECT * FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[], \
                 $5::text[], $6::text[], $7::int8[]) \
                 ON CONFLICT (kind, id) DO UPDATE SET state = excluded.state, \
                 parent = COALESCE(excluded.parent, documents.parent), \
                 reference = COALESCE(excluded.reference, documents.reference), \
                 data = excluded.data, last_seq = excluded.last_seq",
            )
            .bind(col!(rows, Document, kind, |k: &&str| k.to_string()))
            .bind(col!(rows, Document, id, s))
            .bind(col!(rows, Document, parent, |x: &Option<String>| x.clone()))
            .bind(col!(rows, Document, reference, |x: &Option<String>| x.clone()))
            .bind(col!(rows, Document, state, s))
            .bind(col!(rows, Document, data, s))
            .bind(&seqs)
            .execute(&mut *conn)
            .await?;
        }
        ProjOp::Tally { .. } => {
            for (seq, op) in rows {
                if let ProjOp::Tally {
                    scopes,
                    currency,
                    values,
                } = op
                {
                    let v = values.as_array();
                    for scope in scopes {
                        sqlx::query(
                            "INSERT INTO tallies (scope, currency, invoices, lines, \
                             compliant_lines, terms_checked, compliant_terms, savings_lines, \
                             negotiated_micros, realised_micros, last_seq) \
                             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) \
                             ON CONFLICT (scope, currency) DO UPDATE SET \
                             invoices = tallies.invoices + excluded.invoices, \
                             lines = tallies.lines + excluded.lines, \
                             compliant_lines = tallies.compliant_lines + excluded.compliant_lines, \
                             terms_checked = tallies.terms_checked + excluded.terms_checked, \
                             compliant_terms = tallies.compliant_terms + excluded.compliant_terms, \
                             savings_lines = tallies.savings_lines + excluded.savings_lines, \
                             negotiated_micros = tallies.negotiated_micros \
                             + excluded.negotiated_micros, \
                             realised_micros = tallies.realised_micros + excluded.realised_micros, \
                             last_seq = excluded.last_seq",
                        )
                        .bind(scope.as_str())
                        .bind(currency.as_str())
                        .bind(v[0])
                        .bind(v[1])
                        .bind(v[2])
                        .bind(v[3])
                        .bind(v[4])
                        .bind(v[5])
                        .bind(v[6])
                        .bind(v[7])
                        .bind(*seq)
                        .execute(&mut *conn)
                        .await?;
                    }
                }
            }
        }
        ProjOp::State { .. } => {
            for (seq, op) in rows {
                if let ProjOp::State { kind, id, state } = op {
                    if *kind == "contract" {
                        sqlx::query(
                            "UPDATE contracts SET state = $1, \
                             data = jsonb_set(data::jsonb, '{state}', to_jsonb($1::text))::text, \
                             last_seq = $2 WHERE id = $3",
                        )
                        .bind(state.as_str())
                        .bind(*seq)
                        .bind(id.as_str())
                        .execute(&mut *conn)
                        .await?;
                    } else {
                        sqlx::query(
                            "UPDATE documents SET state = $1, \
                             data = jsonb_set(data::jsonb, '{state}', to_jsonb($1::text))::text, \
                             last_seq = $2 WHERE id = $3 AND kind = $4",
                        )
                        .bind(state.as_str())
                        .bind(*seq)
                        .bind(id.as_str())
                        .bind(*kind)
                        .execute(&mut *conn)
                        .await?;
                    }
                }
            }
        }
    }
    Ok(())
}
