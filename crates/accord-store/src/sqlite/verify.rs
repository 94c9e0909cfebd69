//! `verify` on SQLite: a two-stage pipeline on blocking threads. A reader thread steps
//! through the log with rusqlite, borrowing each row's text and blobs, and writes every
//! entry's canonical bytes into a reused chunk buffer; the calling thread recomputes each
//! entry's hash (`SHA-256(stored prev_hash ‖ entry)`, independent per entry) and feeds
//! the results, in seq order, to the [`Verifier`], which checks the links, the sequence
//! and the signed checkpoints. The chain stays sequential; only the work is split.

use std::path::Path;
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};

use rusqlite::types::ValueRef;
use rusqlite::{Connection, OpenFlags};

use crate::chain::{Entry, Verifier, VerifyReport, link_hash, write_entry};
use crate::error::{Result, StoreError};
use crate::read;

/// Rows per chunk handed from the reader to the hasher.
const CHUNK_ROWS: usize = 2048;

/// One entry of a chunk: its canonical bytes end at `end` in the chunk's buffer.
struct Row {
    seq: u64,
    end: usize,
    prev_hash: [u8; 32],
    hash: [u8; 32],
    /// `false` when a column could not have been written by the store (not UTF-8, wrong
    /// type): the entry then counts as changed.
    decodable: bool,
}

#[derive(Default)]
struct Chunk {
    bytes: Vec<u8>,
    rows: Vec<Row>,
}

/// Verifies the whole log of the database at `file`. Blocking: run it off the runtime.
pub(crate) fn verify_file(file: &Path, mut verifier: Verifier) -> Result<VerifyReport> {
    let conn = Connection::open_with_flags(
        file,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    conn.execute_batch("PRAGMA cache_size = -65536; PRAGMA mmap_size = 1073741824;")?;
    let (full_tx, full_rx) = sync_channel::<Chunk>(4);
    let (empty_tx, empty_rx) = sync_channel::<Chunk>(6);
    for _ in 0..5 {
        let _ = empty_tx.send(Chunk::default());
    }
    std::thread::scope(|scope| {
        let reader = std::thread::Builder::new()
            .name("accord-verify-read".into())
            .spawn_scoped(scope, move || read_rows(&conn, &full_tx, &empty_rx))?;
        hash_rows(&mut verifier, &full_rx, &empty_tx);
        // Stops the reader if the chain broke early.
        drop(full_rx);
        drop(empty_tx);
        reader
            .join()
            .map_err(|_| StoreError::Invalid("the verify reader panicked".into()))?
    })?;
    Ok(verifier.finish())
}

/// The calling thread: recomputes hashes and feeds the verifier until the reader is done
/// or the chain breaks.
fn hash_rows(verifier: &mut Verifier, full: &Receiver<Chunk>, empty: &SyncSender<Chunk>) {
    while let Ok(mut chunk) = full.recv() {
        let mut start = 0;
        for r in &chunk.rows {
            let content_ok =
                r.decodable && link_hash(&r.prev_hash, &chunk.bytes[start..r.end]) == r.hash;
            start = r.end;
            if !verifier.push_checked(r.seq, &r.prev_hash, &r.hash, content_ok) {
                return;
            }
        }
        chunk.bytes.clear();
        chunk.rows.clear();
        // The reader may already be done (and its end of this channel gone) while full
        // chunks still wait here: keep going either way.
        let _ = empty.send(chunk);
    }
}

fn integer(v: ValueRef<'_>) -> Option<i64> {
    match v {
        ValueRef::Integer(i) => Some(i),
        _ => None,
    }
}

/// Text as stored (a blob in a text column is read as its bytes, as `CAST AS BLOB` did).
fn text(v: ValueRef<'_>) -> Option<&str> {
    match v {
        ValueRef::Text(b) | ValueRef::Blob(b) => std::str::from_utf8(b).ok(),
        _ => None,
    }
}

fn blob(v: ValueRef<'_>) -> &[u8] {
    match v {
        ValueRef::Blob(b) | ValueRef::Text(b) => b,
        _ => &[],
    }
}

/// The reader thread: fills chunks in seq order and hands them over.
fn read_rows(conn: &Connection, full: &SyncSender<Chunk>, empty: &Receiver<Chunk>) -> Result<()> {
    let mut stmt = conn.prepare(
        "SELECT seq, stream, stream_version, type, schema_version, payload, recorded_at, \
         idempotency_key, prev_hash, hash FROM events ORDER BY seq",
    )?;
    let mut rows = stmt.query([])?;
    let Ok(mut chunk) = empty.recv() else {
        return Ok(());
    };
    while let Some(r) = rows.next()? {
        let seq = integer(r.get_ref(0)?);
        let key = match r.get_ref(7)? {
            ValueRef::Null => Some(None),
            v => text(v).map(Some),
        };
        let fields = (
            seq,
            text(r.get_ref(1)?),
            integer(r.get_ref(2)?),
            text(r.get_ref(3)?),
            integer(r.get_ref(4)?),
            text(r.get_ref(5)?),
            text(r.get_ref(6)?),
            key,
        );
        let decodable = if let (
            Some(seq),
            Some(stream),
            Some(stream_version),
            Some(kind),
            Some(schema_version),
            Some(payload),
            Some(recorded_at),
            Some(idempotency_key),
        ) = fields
        {
            write_entry(
                &mut chunk.bytes,
                &Entry {
                    seq: seq as u64,
                    stream,
                    stream_version: stream_version as u64,
                    kind,
                    schema_version: schema_version as u64,
                    payload,
                    recorded_at,
                    idempotency_key,
                },
            );
            true
        } else {
            false
        };
        chunk.rows.push(Row {
            seq: seq.unwrap_or(-1) as u64,
            end: chunk.bytes.len(),
            prev_hash: read::fixed(blob(r.get_ref(8)?)),
            hash: read::fixed(blob(r.get_ref(9)?)),
            decodable,
        });
        if chunk.rows.len() == CHUNK_ROWS {
            if full.send(chunk).is_err() {
                return Ok(());
            }
            chunk = match empty.recv() {
                Ok(c) => c,
                Err(_) => return Ok(()),
            };
        }
    }
    if !chunk.rows.is_empty() {
        let _ = full.send(chunk);
    }
    Ok(())
}
