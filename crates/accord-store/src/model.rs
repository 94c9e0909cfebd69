//! Plain data types of the store's API: commands to append, what was appended, stored
//! events, read-model rows, jobs and change notifications.

use std::fmt;

use accord_core::Event;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::error::{Result, StoreError};

/// What the caller believes a stream's version is (the number of events in it).
#[derive(Clone, Copy, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub enum ExpectedVersion {
    /// No check.
    Any,
    /// The stream must not exist yet.
    NoStream,
    /// The stream must be at exactly this version (`0` is the same as `NoStream`).
    Exact(u64),
}

impl ExpectedVersion {
    pub(crate) fn admits(self, actual: u64) -> bool {
        match self {
            ExpectedVersion::Any => true,
            ExpectedVersion::NoStream => actual == 0,
            ExpectedVersion::Exact(v) => actual == v,
        }
    }
}

impl fmt::Display for ExpectedVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ExpectedVersion::Any => f.write_str("any"),
            ExpectedVersion::NoStream => f.write_str("no stream"),
            ExpectedVersion::Exact(v) => write!(f, "{v}"),
        }
    }
}

/// One command: events that commit together, an optional idempotency key, and optional
/// expectations on stream versions. A replayed key returns the first result and writes
/// nothing.
#[derive(Clone, Debug)]
pub struct Append {
    pub events: Vec<Event>,
    pub idempotency_key: Option<String>,
    pub expect: Vec<(String, ExpectedVersion)>,
}

impl Append {
    /// A command of one event, without key or expectation.
    pub fn new(event: Event) -> Append {
        Append {
            events: vec![event],
            idempotency_key: None,
            expect: Vec::new(),
        }
    }

    /// A command of several events.
    pub fn many(events: Vec<Event>) -> Append {
        Append {
            events,
            idempotency_key: None,
            expect: Vec::new(),
        }
    }

    /// Sets the idempotency key.
    pub fn key(mut self, key: impl Into<String>) -> Append {
        self.idempotency_key = Some(key.into());
        self
    }

    /// Expects `stream` to be at `version` before the command.
    pub fn expect(mut self, stream: impl Into<String>, version: ExpectedVersion) -> Append {
        self.expect.push((stream.into(), version));
        self
    }

    /// Expects the stream of the first event to be at `version`.
    pub fn expect_version(self, version: ExpectedVersion) -> Append {
        let stream = self.events.first().map(Event::stream).unwrap_or_default();
        self.expect(stream, version)
    }
}

/// The result of one command.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct Appended {
    /// Sequence number of the command's first event.
    pub first_seq: u64,
    /// Sequence number of its last event.
    pub last_seq: u64,
    /// The version of the last event's stream after the command.
    pub stream_version: u64,
    /// `true` when the idempotency key had been seen: nothing was written.
    pub replayed: bool,
}

/// An event as stored: the chain entry plus its hashes.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct StoredEvent {
    pub seq: u64,
    pub stream: String,
    pub stream_version: u64,
    /// The event's `type` tag ([`Event::kind`]).
    pub kind: String,
    pub schema_version: u16,
    /// The event as RFC 8785 canonical JSON.
    pub payload: String,
    /// When the store recorded it, RFC 3339 UTC with microseconds (`2026-01-02T03:04:05.000006Z`).
    pub recorded_at: String,
    pub idempotency_key: Option<String>,
    pub prev_hash: [u8; 32],
    pub hash: [u8; 32],
}

impl StoredEvent {
    /// Decodes the payload, upcasting older schema versions.
    pub fn event(&self) -> Result<Event> {
        Event::from_stored(self.schema_version, &self.payload).map_err(|source| {
            StoreError::Decode {
                seq: self.seq,
                source,
            }
        })
    }

    /// The canonical bytes of this entry (see `docs/audit.md`).
    pub fn entry_bytes(&self) -> Vec<u8> {
        let mut buf = Vec::with_capacity(self.payload.len() + 256);
        crate::chain::write_entry(&mut buf, &self.entry());
        buf
    }

    pub(crate) fn entry(&self) -> crate::chain::Entry<'_> {
        crate::chain::Entry {
            seq: self.seq,
            stream: &self.stream,
            stream_version: self.stream_version,
            kind: &self.kind,
            schema_version: u64::from(self.schema_version),
            payload: &self.payload,
            recorded_at: &self.recorded_at,
            idempotency_key: self.idempotency_key.as_deref(),
        }
    }
}

/// A signed audit checkpoint: the node key's signature over `(seq, hash)`.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct SignedCheckpoint {
    pub seq: u64,
    pub hash: [u8; 32],
    pub public_key: [u8; 32],
    pub signature: [u8; 64],
    pub signed_at: String,
}

/// Row counts, for `accord status`.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default, Serialize, Deserialize)]
pub struct Counts {
    pub events: u64,
    pub suppliers: u64,
    pub contracts: u64,
    pub spend_lines: u64,
    pub documents: u64,
    pub checkpoints: u64,
    pub jobs_pending: u64,
}

/// Spend of one supplier in one currency.
#[derive(Clone, PartialEq, Debug, Serialize, Deserialize)]
pub struct SupplierSpend {
    pub supplier: accord_core::id::SupplierId,
    pub currency: String,
    /// Sum of the lines' amounts, in minor units.
    pub total_minor: i64,
    pub lines: u64,
    /// Sum of the lines' quantities (so `total / quantity` is the average unit price).
    pub quantity: f64,
}

/// A document in the documents read model (requisitions, orders, receipts, invoices,
/// payments; contracts have their own).
#[derive(Clone, PartialEq, Debug)]
pub struct DocumentRecord {
    /// `requisition`, `purchase_order`, `receipt`, `invoice` or `payment`.
    pub kind: String,
    pub id: String,
    /// The document it belongs to, if any (a negotiation's campaign).
    pub parent: Option<String>,
    pub state: String,
    /// The document as JSON, with its current state.
    pub data: serde_json::Value,
    /// The sequence number of the last event that changed it.
    pub last_seq: u64,
}

/// Which documents [`crate::Store::documents`] lists: one kind, optionally one parent and
/// one state, in id order (UUID v7 ids sort by creation time), a page at a time.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct DocumentQuery {
    pub kind: String,
    pub parent: Option<String>,
    pub state: Option<String>,
    /// Only documents with this natural key (a purchase order's number).
    pub reference: Option<String>,
    /// Only documents under one of these parents (empty: no such filter).
    pub parent_in: Vec<String>,
    /// Only documents with one of these natural keys (empty: no such filter).
    pub reference_in: Vec<String>,
    /// Only ids greater than this (the last id of the previous page).
    pub after_id: Option<String>,
    pub limit: u32,
}

impl DocumentQuery {
    /// The first `limit` documents of `kind`.
    pub fn kind(kind: &str, limit: u32) -> DocumentQuery {
        DocumentQuery {
            kind: kind.to_owned(),
            parent: None,
            state: None,
            reference: None,
            parent_in: Vec::new(),
            reference_in: Vec::new(),
            after_id: None,
            limit,
        }
    }

    pub fn parent(mut self, parent: impl Into<String>) -> DocumentQuery {
        self.parent = Some(parent.into());
        self
    }

    pub fn state(mut self, state: impl Into<String>) -> DocumentQuery {
        self.state = Some(state.into());
        self
    }

    pub fn after(mut self, id: impl Into<String>) -> DocumentQuery {
        self.after_id = Some(id.into());
        self
    }

    pub fn reference(mut self, reference: impl Into<String>) -> DocumentQuery {
        self.reference = Some(reference.into());
        self
    }

    /// Documents under any of `parents`: one query for a batch instead of one per parent.
    pub fn parent_in(mut self, parents: impl IntoIterator<Item = String>) -> DocumentQuery {
        self.parent_in = parents.into_iter().collect();
        self
    }

    /// Documents with any of these natural keys.
    pub fn reference_in(mut self, references: impl IntoIterator<Item = String>) -> DocumentQuery {
        self.reference_in = references.into_iter().collect();
        self
    }
}

/// One row of the compliance and savings-realisation projection: the sums over every
/// matched invoice in `scope` (`all`, `supplier/{id}`, `campaign/{id}`, `contract/{id}`)
/// and `currency`. Savings are in millionths of a major unit.
#[derive(Clone, PartialEq, Eq, Debug, serde::Serialize)]
pub struct TallyRow {
    pub scope: String,
    pub currency: String,
    pub invoices: i64,
    pub lines: i64,
    pub compliant_lines: i64,
    pub terms_checked: i64,
    pub compliant_terms: i64,
    pub savings_lines: i64,
    pub negotiated_micros: i64,
    pub realised_micros: i64,
}

/// A job's id in the work queue.
pub type JobId = i64;

/// A claimed job. The claim holds until `lease_until`; after that another worker may
/// claim it again.
#[derive(Clone, PartialEq, Debug)]
pub struct Job {
    pub id: JobId,
    pub kind: String,
    pub payload: serde_json::Value,
    /// How many times it was claimed, this claim included.
    pub attempts: u32,
    pub lease_until: DateTime<Utc>,
}

/// What happens to a failed job.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Retry {
    /// Run it again at this time.
    At(DateTime<Utc>),
    /// Give up: the job is dead.
    Never,
}

/// A live notification: events `first_seq..=last_seq` committed.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Change {
    pub first_seq: u64,
    pub last_seq: u64,
}

/// How hard a commit is pushed to disk before the caller hears of it. Neither level ever
/// keeps half a commit or reorders commits; they differ in what a crash may take back.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub enum Durability {
    /// SQLite: WAL with `synchronous=NORMAL`; survives a crash of the process, a power
    /// loss may drop the last commits. PostgreSQL: `synchronous_commit=off` for the
    /// writer's transactions; a crash of the server or its machine may drop the commits
    /// of the last moments (at most three times `wal_writer_delay`, 600 ms by default).
    #[default]
    Normal,
    /// Every acknowledged commit survives a power loss. SQLite syncs the WAL before the
    /// caller hears of it (one fsync per group of concurrent appends); PostgreSQL commits
    /// with the server's own `synchronous_commit` (`on` unless configured otherwise).
    Full,
}
