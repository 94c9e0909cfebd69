//! The `Store` trait every backend implements, the live change feed, and [`AnyStore`], the
//! backend chosen at run time from a path or URL.

use std::future::Future;
use std::io::Write;
use std::time::Duration;

use accord_core::document::{Contract, SpendLine};
use accord_core::id::{ContractId, SupplierId};
use accord_core::{CategoryCode, Supplier};
use chrono::{DateTime, Utc};
use tokio::sync::broadcast;

use crate::chain::{VerifyOptions, VerifyReport};
use crate::error::{Result, StoreError};
use crate::export::{ExportFormat, ExportSummary, Exporter};
use crate::model::{
    Append, Appended, Change, Counts, DocumentQuery, DocumentRecord, Job, JobId, Retry,
    SignedCheckpoint, StoredEvent, SupplierSpend, TallyRow,
};
use crate::pg::{PgOptions, PgStore};
use crate::sqlite::{SqliteOptions, SqliteStore};

/// The event log, its read models, consumer checkpoints, the work queue, the change feed
/// and the audit chain, behind one interface. Both backends pass the same test suite.
pub trait Store: Send + Sync {
    // --- Event log ---

    /// Appends one command atomically: its events, their projections and their chain
    /// links commit together or not at all. A replayed idempotency key returns the first
    /// result (`replayed: true`) and writes nothing.
    fn append(&self, command: Append) -> impl Future<Output = Result<Appended>> + Send;

    /// Appends many commands in ONE transaction (all or nothing), for imports. Returns one
    /// result per command, in order.
    fn append_batch(
        &self,
        commands: Vec<Append>,
    ) -> impl Future<Output = Result<Vec<Appended>>> + Send;

    /// Up to `limit` events with `seq > after`, in order.
    fn read_events(
        &self,
        after: u64,
        limit: u32,
    ) -> impl Future<Output = Result<Vec<StoredEvent>>> + Send;

    /// Up to `limit` events of one stream with `stream_version > after_version`, in order.
    fn read_stream(
        &self,
        stream: &str,
        after_version: u64,
        limit: u32,
    ) -> impl Future<Output = Result<Vec<StoredEvent>>> + Send;

    /// The version of a stream: the `stream_version` of its last event, 0 when it has
    /// none. What an append that expects the stream's current version should quote.
    fn stream_version(&self, stream: &str) -> impl Future<Output = Result<u64>> + Send;

    /// The highest sequence number (0 for an empty log).
    fn last_seq(&self) -> impl Future<Output = Result<u64>> + Send;

    // --- Read models ---

    fn supplier(&self, id: SupplierId) -> impl Future<Output = Result<Option<Supplier>>> + Send;
    /// A supplier by its ERP key (the importer's natural key).
    fn supplier_by_ref(
        &self,
        external_ref: &str,
    ) -> impl Future<Output = Result<Option<Supplier>>> + Send;
    fn contract(&self, id: ContractId) -> impl Future<Output = Result<Option<Contract>>> + Send;
    fn contract_by_ref(
        &self,
        external_ref: &str,
    ) -> impl Future<Output = Result<Option<Contract>>> + Send;
    /// Every contract with `supplier`, in any state.
    fn contracts_of_supplier(
        &self,
        supplier: SupplierId,
    ) -> impl Future<Output = Result<Vec<Contract>>> + Send;
    /// Every contract of a category, in id order (the sourcing router's lookup).
    fn contracts_in_category(
        &self,
        category: &CategoryCode,
    ) -> impl Future<Output = Result<Vec<Contract>>> + Send;
    /// What the command with idempotency key `key` appended, if one did (marked as a
    /// replay). Lets a command whose preconditions no longer hold tell a retry of
    /// itself, which must get its first result, from a new request.
    fn appended_with_key(&self, key: &str)
    -> impl Future<Output = Result<Option<Appended>>> + Send;
    fn spend_by_ref(
        &self,
        external_ref: &str,
    ) -> impl Future<Output = Result<Option<SpendLine>>> + Send;
    /// A requisition, purchase order, receipt, invoice or payment by kind and id.
    fn document(
        &self,
        kind: &str,
        id: &str,
    ) -> impl Future<Output = Result<Option<DocumentRecord>>> + Send;
    /// Documents of one kind, filtered by parent and state, a page at a time.
    fn documents(
        &self,
        query: &DocumentQuery,
    ) -> impl Future<Output = Result<Vec<DocumentRecord>>> + Send;
    /// The compliance and savings-realisation tallies whose scope starts with `prefix`
    /// (`""` for all, `campaign/` for every campaign).
    fn tallies(&self, prefix: &str) -> impl Future<Output = Result<Vec<TallyRow>>> + Send;
    /// How many documents of `kind` (under `parent`, if given) are in each state.
    fn document_counts(
        &self,
        kind: &str,
        parent: Option<&str>,
    ) -> impl Future<Output = Result<Vec<(String, u64)>>> + Send;
    /// Row counts for `accord status`.
    fn counts(&self) -> impl Future<Output = Result<Counts>> + Send;
    /// Spend per supplier and currency, largest first.
    fn spend_by_supplier(
        &self,
        limit: u32,
    ) -> impl Future<Output = Result<Vec<SupplierSpend>>> + Send;

    // --- Consumer checkpoints ---

    /// The last seq `consumer` handled (0 if never set).
    fn consumer_checkpoint(&self, consumer: &str) -> impl Future<Output = Result<u64>> + Send;
    fn set_consumer_checkpoint(
        &self,
        consumer: &str,
        seq: u64,
    ) -> impl Future<Output = Result<()>> + Send;

    // --- Work queue ---

    fn enqueue(
        &self,
        kind: &str,
        payload: &serde_json::Value,
        run_at: DateTime<Utc>,
    ) -> impl Future<Output = Result<JobId>> + Send;
    /// Claims up to `n` due jobs (or jobs whose lease expired) for `lease`.
    fn claim(
        &self,
        worker: &str,
        n: u32,
        lease: Duration,
    ) -> impl Future<Output = Result<Vec<Job>>> + Send;
    /// Marks a job done; `false` if `worker` no longer holds it.
    fn complete(&self, id: JobId, worker: &str) -> impl Future<Output = Result<bool>> + Send;
    /// Records a failure and either schedules a retry or buries the job.
    fn fail(
        &self,
        id: JobId,
        worker: &str,
        error: &str,
        retry: Retry,
    ) -> impl Future<Output = Result<bool>> + Send;

    // --- Change feed ---

    /// Notifications of new events, from now on.
    fn subscribe(&self) -> impl Future<Output = Result<ChangeFeed>> + Send;

    // --- Audit ---

    /// Signed checkpoints, in seq order.
    fn audit_checkpoints(&self) -> impl Future<Output = Result<Vec<SignedCheckpoint>>> + Send;
    /// Checks the whole chain and every checkpoint signature; reports the first bad entry.
    fn verify(&self, options: &VerifyOptions) -> impl Future<Output = Result<VerifyReport>> + Send;
    /// Writes every entry, then every checkpoint, to `out`.
    fn export<W: Write + Send>(
        &self,
        format: ExportFormat,
        out: &mut W,
    ) -> impl Future<Output = Result<ExportSummary>> + Send;
}

/// A subscription to the change feed.
pub struct ChangeFeed {
    inner: FeedInner,
}

enum FeedInner {
    Local(broadcast::Receiver<Change>),
    Pg(Box<sqlx::postgres::PgListener>),
}

impl ChangeFeed {
    pub(crate) fn local(rx: broadcast::Receiver<Change>) -> ChangeFeed {
        ChangeFeed {
            inner: FeedInner::Local(rx),
        }
    }

    pub(crate) fn pg(listener: sqlx::postgres::PgListener) -> ChangeFeed {
        ChangeFeed {
            inner: FeedInner::Pg(Box::new(listener)),
        }
    }

    /// The next notification. [`StoreError::Lagged`] means some were missed: re-read
    /// from the consumer's checkpoint.
    pub async fn recv(&mut self) -> Result<Change> {
        match &mut self.inner {
            FeedInner::Local(rx) => match rx.recv().await {
                Ok(c) => Ok(c),
                Err(broadcast::error::RecvError::Lagged(n)) => Err(StoreError::Lagged(n)),
                Err(broadcast::error::RecvError::Closed) => Err(StoreError::Closed),
            },
            FeedInner::Pg(l) => loop {
                let n = l.recv().await?;
                if let Some(c) = parse_change(n.payload()) {
                    return Ok(c);
                }
            },
        }
    }

    /// The next notification and every other that arrives within `window` after it,
    /// merged into one change. A reader that re-reads on each notification (a consumer,
    /// the kill-switch watch) then reads once per burst of commits instead of once per
    /// commit. Missed notifications ([`StoreError::Lagged`]) count as a change; only
    /// [`StoreError::Closed`] and database errors are returned.
    pub async fn recv_coalesced(&mut self, window: std::time::Duration) -> Result<Change> {
        let lagged = Change {
            first_seq: 0,
            last_seq: u64::MAX,
        };
        let mut merged = match self.recv().await {
            Ok(c) => c,
            Err(StoreError::Lagged(_)) => lagged,
            Err(e) => return Err(e),
        };
        let until = tokio::time::Instant::now() + window;
        while let Ok(r) = tokio::time::timeout_at(until, self.recv()).await {
            let c = match r {
                Ok(c) => c,
                Err(StoreError::Lagged(_)) => lagged,
                Err(e) => return Err(e),
            };
            merged.first_seq = merged.first_seq.min(c.first_seq);
            merged.last_seq = merged.last_seq.max(c.last_seq);
        }
        Ok(merged)
    }
}

/// Notification payloads are `first_seq:last_seq`.
pub(crate) fn parse_change(payload: &str) -> Option<Change> {
    let (a, b) = payload.split_once(':')?;
    Some(Change {
        first_seq: a.parse().ok()?,
        last_seq: b.parse().ok()?,
    })
}

macro_rules! impl_store {
    ($ty:ty) => {
        impl Store for $ty {
            async fn append(&self, command: Append) -> Result<Appended> {
                let mut r = self.submit(vec![command]).await?;
                r.pop().ok_or(StoreError::Closed)
            }
            async fn append_batch(&self, commands: Vec<Append>) -> Result<Vec<Appended>> {
                if commands.is_empty() {
                    return Ok(Vec::new());
                }
                self.submit(commands).await
            }
            async fn read_events(&self, after: u64, limit: u32) -> Result<Vec<StoredEvent>> {
                <$ty>::read_events(self, after, limit).await
            }
            async fn read_stream(
                &self,
                stream: &str,
                after_version: u64,
                limit: u32,
            ) -> Result<Vec<StoredEvent>> {
                <$ty>::read_stream(self, stream, after_version, limit).await
            }
            async fn stream_version(&self, stream: &str) -> Result<u64> {
                <$ty>::stream_version(self, stream).await
            }
            async fn last_seq(&self) -> Result<u64> {
                <$ty>::last_seq(self).await
            }
            async fn supplier(&self, id: SupplierId) -> Result<Option<Supplier>> {
                self.supplier_where("id", &id.to_string()).await
            }
            async fn supplier_by_ref(&self, external_ref: &str) -> Result<Option<Supplier>> {
                self.supplier_where("external_ref", external_ref).await
            }
            async fn contract(&self, id: ContractId) -> Result<Option<Contract>> {
                self.contract_where("id", &id.to_string()).await
            }
            async fn contract_by_ref(&self, external_ref: &str) -> Result<Option<Contract>> {
                self.contract_where("external_ref", external_ref).await
            }
            async fn contracts_of_supplier(&self, supplier: SupplierId) -> Result<Vec<Contract>> {
                <$ty>::contracts_of_supplier(self, &supplier.to_string()).await
            }
            async fn contracts_in_category(
                &self,
                category: &CategoryCode,
            ) -> Result<Vec<Contract>> {
                <$ty>::contracts_in_category(self, category.as_str()).await
            }
            async fn appended_with_key(&self, key: &str) -> Result<Option<Appended>> {
                <$ty>::appended_with_key(self, key).await
            }
            async fn spend_by_ref(&self, external_ref: &str) -> Result<Option<SpendLine>> {
                <$ty>::spend_by_ref(self, external_ref).await
            }
            async fn document(&self, kind: &str, id: &str) -> Result<Option<DocumentRecord>> {
                <$ty>::document(self, kind, id).await
            }
            async fn documents(&self, query: &DocumentQuery) -> Result<Vec<DocumentRecord>> {
                <$ty>::documents(self, query).await
            }
            async fn tallies(&self, prefix: &str) -> Result<Vec<TallyRow>> {
                <$ty>::tallies(self, prefix).await
            }
            async fn document_counts(
                &self,
                kind: &str,
                parent: Option<&str>,
            ) -> Result<Vec<(String, u64)>> {
                <$ty>::document_counts(self, kind, parent).await
            }
            async fn counts(&self) -> Result<Counts> {
                <$ty>::counts(self).await
            }
            async fn spend_by_supplier(&self, limit: u32) -> Result<Vec<SupplierSpend>> {
                <$ty>::spend_by_supplier(self, limit).await
            }
            async fn consumer_checkpoint(&self, consumer: &str) -> Result<u64> {
                self.get_consumer_checkpoint(consumer).await
            }
            async fn set_consumer_checkpoint(&self, consumer: &str, seq: u64) -> Result<()> {
                <$ty>::set_consumer_checkpoint(self, consumer, seq).await
            }
            async fn enqueue(
                &self,
                kind: &str,
                payload: &serde_json::Value,
                run_at: DateTime<Utc>,
            ) -> Result<JobId> {
                self.enqueue_job(kind, payload, run_at).await
            }
            async fn claim(&self, worker: &str, n: u32, lease: Duration) -> Result<Vec<Job>> {
                self.claim_jobs(worker, n, lease).await
            }
            async fn complete(&self, id: JobId, worker: &str) -> Result<bool> {
                self.complete_job(id, worker).await
            }
            async fn fail(
                &self,
                id: JobId,
                worker: &str,
                error: &str,
                retry: Retry,
            ) -> Result<bool> {
                self.fail_job(id, worker, error, retry).await
            }
            async fn subscribe(&self) -> Result<ChangeFeed> {
                self.subscribe_feed().await
            }
            async fn audit_checkpoints(&self) -> Result<Vec<SignedCheckpoint>> {
                <$ty>::audit_checkpoints(self).await
            }
            async fn verify(&self, options: &VerifyOptions) -> Result<VerifyReport> {
                <$ty>::verify(self, options).await
            }
            async fn export<W: Write + Send>(
                &self,
                format: ExportFormat,
                out: &mut W,
            ) -> Result<ExportSummary> {
                let mut ex = Exporter::new(format, out)?;
                self.for_each_event(|e| ex.entry(&e)).await?;
                for c in <$ty>::audit_checkpoints(self).await? {
                    ex.checkpoint(&c)?;
                }
                ex.finish()
            }
        }
    };
}

impl_store!(SqliteStore);
impl_store!(PgStore);

/// Options for [`AnyStore::open`].
#[derive(Clone, Debug, Default)]
pub struct OpenOptions {
    pub sqlite: SqliteOptions,
    pub pg: PgOptions,
}

/// A store whose backend is chosen at run time: what the `accord` binary holds.
#[derive(Clone)]
pub enum AnyStore {
    Sqlite(SqliteStore),
    Pg(PgStore),
}

impl AnyStore {
    /// `postgres://…` or `postgresql://…` connects to PostgreSQL; anything else (a path or
    /// a `sqlite://` URL) opens a SQLite file.
    pub async fn open(url_or_path: &str, options: OpenOptions) -> Result<AnyStore> {
        if url_or_path.starts_with("postgres://") || url_or_path.starts_with("postgresql://") {
            Ok(AnyStore::Pg(
                PgStore::connect(url_or_path, options.pg).await?,
            ))
        } else {
            Ok(AnyStore::Sqlite(
                SqliteStore::open(url_or_path, options.sqlite).await?,
            ))
        }
    }

    /// `sqlite` or `postgres`.
    pub fn backend(&self) -> &'static str {
        match self {
            AnyStore::Sqlite(_) => "sqlite",
            AnyStore::Pg(_) => "postgres",
        }
    }

    /// The backend and, on PostgreSQL, how the connection is secured: `sqlite`,
    /// `postgres, TLSv1.3 (TLS_AES_256_GCM_SHA384)` or `postgres, unencrypted`.
    pub async fn describe(&self) -> Result<String> {
        match self {
            AnyStore::Sqlite(_) => Ok("sqlite".to_owned()),
            AnyStore::Pg(s) => Ok(format!("postgres, {}", s.transport().await?)),
        }
    }
}

macro_rules! delegate {
    ($self:ident, $s:ident => $e:expr) => {
        match $self {
            AnyStore::Sqlite($s) => $e.await,
            AnyStore::Pg($s) => $e.await,
        }
    };
}

impl Store for AnyStore {
    async fn append(&self, command: Append) -> Result<Appended> {
        delegate!(self, s => Store::append(s, command))
    }
    async fn append_batch(&self, commands: Vec<Append>) -> Result<Vec<Appended>> {
        delegate!(self, s => Store::append_batch(s, commands))
    }
    async fn read_events(&self, after: u64, limit: u32) -> Result<Vec<StoredEvent>> {
        delegate!(self, s => Store::read_events(s, after, limit))
    }
    async fn read_stream(
        &self,
        stream: &str,
        after_version: u64,
        limit: u32,
    ) -> Result<Vec<StoredEvent>> {
        delegate!(self, s => Store::read_stream(s, stream, after_version, limit))
    }
    async fn stream_version(&self, stream: &str) -> Result<u64> {
        delegate!(self, s => Store::stream_version(s, stream))
    }
    async fn last_seq(&self) -> Result<u64> {
        delegate!(self, s => Store::last_seq(s))
    }
    async fn supplier(&self, id: SupplierId) -> Result<Option<Supplier>> {
        delegate!(self, s => Store::supplier(s, id))
    }
    async fn supplier_by_ref(&self, external_ref: &str) -> Result<Option<Supplier>> {
        delegate!(self, s => Store::supplier_by_ref(s, external_ref))
    }
    async fn contract(&self, id: ContractId) -> Result<Option<Contract>> {
        delegate!(self, s => Store::contract(s, id))
    }
    async fn contract_by_ref(&self, external_ref: &str) -> Result<Option<Contract>> {
        delegate!(self, s => Store::contract_by_ref(s, external_ref))
    }
    async fn contracts_of_supplier(&self, supplier: SupplierId) -> Result<Vec<Contract>> {
        delegate!(self, s => Store::contracts_of_supplier(s, supplier))
    }
    async fn contracts_in_category(&self, category: &CategoryCode) -> Result<Vec<Contract>> {
        delegate!(self, s => Store::contracts_in_category(s, category))
    }
    async fn appended_with_key(&self, key: &str) -> Result<Option<Appended>> {
        delegate!(self, s => Store::appended_with_key(s, key))
    }
    async fn spend_by_ref(&self, external_ref: &str) -> Result<Option<SpendLine>> {
        delegate!(self, s => Store::spend_by_ref(s, external_ref))
    }
    async fn document(&self, kind: &str, id: &str) -> Result<Option<DocumentRecord>> {
        delegate!(self, s => Store::document(s, kind, id))
    }
    async fn documents(&self, query: &DocumentQuery) -> Result<Vec<DocumentRecord>> {
        delegate!(self, s => Store::documents(s, query))
    }
    async fn tallies(&self, prefix: &str) -> Result<Vec<TallyRow>> {
        delegate!(self, s => Store::tallies(s, prefix))
    }
    async fn document_counts(
        &self,
        kind: &str,
        parent: Option<&str>,
    ) -> Result<Vec<(String, u64)>> {
        delegate!(self, s => Store::document_counts(s, kind, parent))
    }
    async fn counts(&self) -> Result<Counts> {
        delegate!(self, s => Store::counts(s))
    }
    async fn spend_by_supplier(&self, limit: u32) -> Result<Vec<SupplierSpend>> {
        delegate!(self, s => Store::spend_by_supplier(s, limit))
    }
    async fn consumer_checkpoint(&self, consumer: &str) -> Result<u64> {
        delegate!(self, s => Store::consumer_checkpoint(s, consumer))
    }
    async fn set_consumer_checkpoint(&self, consumer: &str, seq: u64) -> Result<()> {
        delegate!(self, s => Store::set_consumer_checkpoint(s, consumer, seq))
    }
    async fn enqueue(
        &self,
        kind: &str,
        payload: &serde_json::Value,
        run_at: DateTime<Utc>,
    ) -> Result<JobId> {
        delegate!(self, s => Store::enqueue(s, kind, payload, run_at))
    }
    async fn claim(&self, worker: &str, n: u32, lease: Duration) -> Result<Vec<Job>> {
        delegate!(self, s => Store::claim(s, worker, n, lease))
    }
    async fn complete(&self, id: JobId, worker: &str) -> Result<bool> {
        delegate!(self, s => Store::complete(s, id, worker))
    }
    async fn fail(&self, id: JobId, worker: &str, error: &str, retry: Retry) -> Result<bool> {
        delegate!(self, s => Store::fail(s, id, worker, error, retry))
    }
    async fn subscribe(&self) -> Result<ChangeFeed> {
        delegate!(self, s => Store::subscribe(s))
    }
    async fn audit_checkpoints(&self) -> Result<Vec<SignedCheckpoint>> {
        delegate!(self, s => Store::audit_checkpoints(s))
    }
    async fn verify(&self, options: &VerifyOptions) -> Result<VerifyReport> {
        delegate!(self, s => Store::verify(s, options))
    }
    async fn export<W: Write + Send>(
        &self,
        format: ExportFormat,
        out: &mut W,
    ) -> Result<ExportSummary> {
        delegate!(self, s => Store::export(s, format, out))
    }
}
