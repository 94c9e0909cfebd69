//! Accord's store: the append-only, hash-chained event log with its read models, consumer
//! checkpoints, a durable work queue with leases and a live change feed, on SQLite
//! (default, embedded) or PostgreSQL.
//!
//! Start with [`AnyStore::open`] (or [`SqliteStore::open`] / [`PgStore::connect`]) and the
//! [`Store`] trait. The audit chain is described in `docs/audit.md`; [`chain`] is its code.
//!
//! Architecture invariants:
//! - An event, its projection updates and its chain link commit in one transaction.
//! - Only the writer task of a store appends; it owns the chain tip.
//! - The store never updates or deletes an event (the schema refuses it too).

pub mod audit;
pub mod bench;
mod canonical;
pub mod chain;
mod error;
pub mod export;
mod model;
pub mod pg;
mod plan;
mod queue;
mod read;
pub mod rebuild;
pub mod sqlite;
mod store;

pub use audit::NodeKey;
pub use chain::{Broken, ChainBreak, VerifyOptions, VerifyReport};
pub use error::{Result, StoreError};
pub use export::{ExportFormat, ExportSummary};
pub use model::{
    Append, Appended, Change, Counts, DocumentQuery, DocumentRecord, Durability, ExpectedVersion,
    Job, JobId, Retry, SignedCheckpoint, StoredEvent, SupplierSpend, TallyRow,
};
pub use pg::{PgOptions, PgStore};
pub use sqlite::{SqliteOptions, SqliteStore};
pub use store::{AnyStore, ChangeFeed, OpenOptions, Store};
