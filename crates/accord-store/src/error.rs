//! The store's error type: every failure a caller can act on is a typed variant.

use accord_core::event::EventDecodeError;

/// What a store operation can fail with. Messages are lowercase and put input in backticks.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// Optimistic concurrency: the stream is not at the version the caller expected.
    #[error("stream `{stream}` is at version {actual}, expected {expected}")]
    Conflict {
        stream: String,
        expected: crate::ExpectedVersion,
        actual: u64,
        /// Index of the failing command in the batch.
        command: usize,
    },
    /// A projection refused the change (for example a second supplier with the same
    /// `external_ref`); nothing of the batch was written.
    #[error("the batch violates a constraint: {0}")]
    Constraint(String),
    /// An argument the caller passed is not acceptable.
    #[error("invalid input: {0}")]
    Invalid(String),
    /// A stored event could not be decoded.
    #[error("cannot decode stored event {seq}: {source}")]
    Decode {
        seq: u64,
        #[source]
        source: EventDecodeError,
    },
    #[error("cannot encode event: {0}")]
    Encode(#[from] serde_json::Error),
    /// An error from the pool (sqlx). This and [`StoreError::Postgres`] carry their
    /// causes in the message rather than as a source: the drivers put the reason (a
    /// refused certificate, say) in a source of their own, and a caller printing the
    /// chain would otherwise read each part twice.
    #[error("database error: {}", with_causes(.0))]
    Database(sqlx::Error),
    /// An error from the PostgreSQL writer's connection (tokio-postgres).
    #[error("database error: {}", with_causes(.0))]
    Postgres(tokio_postgres::Error),
    /// An error from the SQLite writer or verifier connection (rusqlite).
    #[error("database error: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("i/o error: {0}")]
    Io(#[from] std::io::Error),
    #[error("key error: {0}")]
    Key(#[from] crate::audit::KeyError),
    /// The store's writer task is gone (the store was closed or panicked).
    #[error("the store is closed")]
    Closed,
    /// A change-feed subscriber fell behind and missed `{0}` notifications; it should
    /// re-read from its checkpoint.
    #[error("change feed lagged by {0} notifications")]
    Lagged(u64),
}

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> StoreError {
        StoreError::Database(e)
    }
}

impl From<tokio_postgres::Error> for StoreError {
    fn from(e: tokio_postgres::Error) -> StoreError {
        StoreError::Postgres(e)
    }
}

/// `e`'s message followed by each of its sources' that adds to it.
fn with_causes(e: &dyn std::error::Error) -> String {
    let mut message = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let part = s.to_string();
        if !message.ends_with(&part) {
            message.push_str(": ");
            message.push_str(&part);
        }
        source = s.source();
    }
    message
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;
