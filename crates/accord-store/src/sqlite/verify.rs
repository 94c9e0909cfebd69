//! `verify` on SQLite, on both cores: the log is cut into ranges of `CHUNK_ROWS` sequence
//! numbers; two worker threads, each with its own read-only rusqlite connection, take
//! alternate ranges, read their rows borrowing text and blobs (no copy per field), build
//! each entry's canonical bytes and recompute its hash (`SHA-256(stored prev_hash ‖
//! entry)`, which depends on nothing else). The calling thread takes the ranges back in
//! order and feeds every entry to the [`Verifier`], which checks the sequence, the links
//! and the signed checkpoints strictly in seq order, so the report is the same as a
//! one-thread pass. A row whose `stream_key` is not its stream's fails like a changed
//! field. The calling thread also follows every stream's links (`prev_in_stream`, which
//! reads by stream walk) and at the end compares the `streams` and `stream_marks` tables
//! with what it saw.
//! Memory is bounded: at most a few ranges are in flight, plus one small entry per
//! stream.

use std::collections::HashMap;
use std::hash::Hasher;
use std::path::Path;
use std::sync::mpsc::{SyncSender, sync_channel};

use rusqlite::types::ValueRef;
use rusqlite::{Connection, OpenFlags, OptionalExtension};

use crate::chain::{Broken, ChainBreak, Entry, Verifier, VerifyReport, link_hash, write_entry};
use crate::error::{Result, StoreError};
use crate::read;

use super::{MARK_EVERY, stream_key};

/// Sequence numbers per range handed to a worker.
const CHUNK_ROWS: i64 = 4096;
/// Worker threads (the machine this is tuned on has two cores).
const WORKERS: i64 = 2;

/// One entry, checked on a worker.
struct Checked {
    seq: u64,
    prev_hash: [u8; 32],
    hash: [u8; 32],
    /// `hash == SHA-256(prev_hash ‖ entry)`; `false` too when a column could not have
    /// been written by the store (not UTF-8, wrong type).
    content_ok: bool,
    /// Which stream, as two independent 64-bit hashes of its name ([`StreamId`]).
    stream: StreamId,
    stream_version: u64,
    /// `None` when not an integer.
    prev_in_stream: Option<u64>,
}

/// A stream named by its `stream_key` (FNV-1a 64) and a SipHash of its name: two names
/// that share one hash are told apart by the other, without keeping the names.
type StreamId = (i64, u64);

fn stream_id(name: &str) -> StreamId {
    let mut h = std::hash::DefaultHasher::new();
    h.write(name.as_bytes());
    (stream_key(name), h.finish())
}

/// Every stream's last event and version so far, in seq order: each event must link to
/// its stream's previous one (or 0 and version 1 for a stream's first event).
#[derive(Default)]
struct Links {
    tips: HashMap<StreamId, (u64, u64)>,
    /// Events whose version is a multiple of `MARK_EVERY`: each needs a mark.
    marked: u64,
}

impl Links {
    /// Takes one entry; `false` if its link is not the previous event of its stream.
    fn follow(&mut self, c: &Checked) -> bool {
        let expected = self.tips.get(&c.stream).copied().unwrap_or((0, 0));
        self.tips.insert(c.stream, (c.seq, c.stream_version));
        if c.stream_version.is_multiple_of(MARK_EVERY as u64) {
            self.marked += 1;
        }
        c.prev_in_stream == Some(expected.0) && c.stream_version == expected.1 + 1
    }

    /// Compares the `streams` table with the links followed up to `last_seq`. Rows whose
    /// last event is past `last_seq` were appended after the scan and are not judged.
    fn check_index(&self, conn: &Connection, last_seq: u64) -> Result<Option<Broken>> {
        let mut stmt = conn.prepare("SELECT key, name, version, last_seq FROM streams")?;
        let mut rows = stmt.query([])?;
        // Streams of the log found in the table, judged or moved on since the scan.
        let mut found = 0;
        while let Some(r) = rows.next()? {
            let name = text(r.get_ref(1)?).unwrap_or_default();
            let (version, last) = (integer(r.get_ref(2)?), integer(r.get_ref(3)?));
            let id = stream_id(name);
            if last.is_some_and(|l| l as u64 > last_seq) {
                found += usize::from(self.tips.contains_key(&id));
                continue;
            }
            let seen = self.tips.get(&id);
            let ok = integer(r.get_ref(0)?) == Some(id.0)
                && seen.is_some_and(|&(l, v)| Some(l as i64) == last && Some(v as i64) == version);
            if !ok {
                return Ok(Some(Broken {
                    seq: seen.map_or(last.unwrap_or(0) as u64, |&(l, _)| l),
                    reason: ChainBreak::StreamIndex {
                        stream: name.to_string(),
                    },
                }));
            }
            found += 1;
        }
        // Every mark names an event of its stream at its version, a multiple of
        // `MARK_EVERY`, and every such event has one: reads start their walk there.
        let mut marks = conn.prepare(
            "SELECT m.key, m.name, m.version, m.seq, e.stream, e.stream_version \
             FROM stream_marks m LEFT JOIN events e ON e.seq = m.seq ORDER BY m.seq",
        )?;
        let mut rows = marks.query([])?;
        let mut marks_seen = 0;
        while let Some(r) = rows.next()? {
            let seq = integer(r.get_ref(3)?).unwrap_or(0);
            if seq as u64 > last_seq {
                continue;
            }
            let name = text(r.get_ref(1)?).unwrap_or_default();
            let version = integer(r.get_ref(2)?);
            let ok = integer(r.get_ref(0)?) == Some(stream_key(name))
                && text(r.get_ref(4)?) == Some(name)
                && integer(r.get_ref(5)?) == version
                && version.is_some_and(|v| v % MARK_EVERY == 0);
            if !ok {
                return Ok(Some(Broken {
                    seq: seq as u64,
                    reason: ChainBreak::StreamIndex {
                        stream: name.to_string(),
                    },
                }));
            }
            marks_seen += 1;
        }
        if marks_seen != self.marked {
            // The first event that lacks its mark, for the report.
            let unmarked: Option<(i64, String)> = conn
                .query_row(
                    "SELECT e.seq, e.stream FROM events e WHERE e.stream_version % ?1 = 0 \
                     AND e.seq <= ?2 AND NOT EXISTS (SELECT 1 FROM stream_marks m \
                     WHERE m.seq = e.seq) ORDER BY e.seq LIMIT 1",
                    [MARK_EVERY, last_seq as i64],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
                .optional()?;
            if let Some((seq, stream)) = unmarked {
                return Ok(Some(Broken {
                    seq: seq as u64,
                    reason: ChainBreak::StreamIndex { stream },
                }));
            }
        }
        // A stream the log has but the table lacks (its reads would come back empty).
        if found < self.tips.len() {
            let mut listed = std::collections::HashSet::new();
            let mut names = conn.prepare("SELECT name FROM streams")?;
            let mut rows = names.query([])?;
            while let Some(r) = rows.next()? {
                listed.insert(stream_id(text(r.get_ref(0)?).unwrap_or_default()));
            }
            let mut missing: Vec<u64> = self
                .tips
                .iter()
                .filter(|(id, _)| !listed.contains(*id))
                .map(|(_, &(l, _))| l)
                .collect();
            missing.sort_unstable();
            if let Some(&seq) = missing.first() {
                let stream: String = conn.query_row(
                    "SELECT stream FROM events WHERE seq = ?1",
                    [seq as i64],
                    |r| r.get(0),
                )?;
                return Ok(Some(Broken {
                    seq,
                    reason: ChainBreak::StreamIndex { stream },
                }));
            }
        }
        Ok(None)
    }
}

fn open(file: &Path) -> Result<Connection> {
    let conn = Connection::open_with_flags(
        file,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    conn.execute_batch("PRAGMA cache_size = -32768; PRAGMA mmap_size = 1073741824;")?;
    Ok(conn)
}

/// Verifies the whole log of the database at `file`. Blocking: run it off the runtime.
pub(crate) fn verify_file(file: &Path, mut verifier: Verifier) -> Result<VerifyReport> {
    let first = open(file)?;
    // Both workers read one snapshot: the range count is fixed here, and the last range
    // is open-ended, so rows appended meanwhile are simply verified too.
    let max_seq: Option<i64> = first.query_row("SELECT MAX(seq) FROM events", [], |r| r.get(0))?;
    let Some(max_seq) = max_seq else {
        return Ok(verifier.finish());
    };
    let ranges = (max_seq.max(1) + CHUNK_ROWS - 1) / CHUNK_ROWS;
    let mut conns = vec![first];
    for _ in 1..WORKERS.min(ranges) {
        conns.push(open(file)?);
    }
    let mut links = Links::default();
    std::thread::scope(|scope| {
        let mut receivers = Vec::new();
        let mut workers = Vec::new();
        for (w, conn) in conns.into_iter().enumerate() {
            let (tx, rx) = sync_channel::<Vec<Checked>>(2);
            receivers.push(rx);
            let step = WORKERS.min(ranges);
            workers.push(
                std::thread::Builder::new()
                    .name("accord-verify".into())
                    .spawn_scoped(scope, move || {
                        check_ranges(&conn, w as i64, step, ranges, &tx)
                    })?,
            );
        }
        'ranges: for i in 0..ranges {
            let Ok(rows) = receivers[(i % receivers.len() as i64) as usize].recv() else {
                break;
            };
            for r in &rows {
                if !links.follow(r) && verifier.fits(r.seq, &r.prev_hash, r.content_ok) {
                    verifier.fail_at(r.seq, ChainBreak::StreamLink);
                    break 'ranges;
                }
                if !verifier.push_checked(r.seq, &r.prev_hash, &r.hash, r.content_ok) {
                    break 'ranges;
                }
            }
        }
        // Stops the workers if the chain broke early.
        drop(receivers);
        for w in workers {
            w.join()
                .map_err(|_| StoreError::Invalid("a verify worker panicked".into()))??;
        }
        Ok::<(), StoreError>(())
    })?;
    let mut report = verifier.finish();
    if report.is_ok() {
        report.broken = links.check_index(&open(file)?, report.last_seq)?;
    }
    Ok(report)
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

/// A worker: checks ranges `first`, `first + step`, … and sends each, in order.
fn check_ranges(
    conn: &Connection,
    first: i64,
    step: i64,
    ranges: i64,
    out: &SyncSender<Vec<Checked>>,
) -> Result<()> {
    let mut stmt = conn.prepare(
        "SELECT seq, stream, stream_version, type, schema_version, payload, recorded_at, \
         idempotency_key, prev_hash, hash, stream_key, prev_in_stream FROM events \
         WHERE seq > ?1 AND seq <= ?2 ORDER BY seq",
    )?;
    let mut buf = Vec::with_capacity(4096);
    let mut i = first;
    while i < ranges {
        // The first range also takes any seq below 1, the last any seq past the end.
        let lo = if i == 0 { i64::MIN } else { i * CHUNK_ROWS };
        let hi = if i == ranges - 1 {
            i64::MAX
        } else {
            (i + 1) * CHUNK_ROWS
        };
        let mut checked = Vec::with_capacity(CHUNK_ROWS as usize);
        let mut rows = stmt.query([lo, hi])?;
        while let Some(r) = rows.next()? {
            checked.push(check_row(r, &mut buf)?);
        }
        if out.send(checked).is_err() {
            return Ok(());
        }
        i += step;
    }
    Ok(())
}

/// Builds one row's canonical entry bytes and checks its own hash.
fn check_row(r: &rusqlite::Row<'_>, buf: &mut Vec<u8>) -> Result<Checked> {
    let seq = integer(r.get_ref(0)?);
    let key = match r.get_ref(7)? {
        ValueRef::Null => Some(None),
        v => text(v).map(Some),
    };
    let prev_hash: [u8; 32] = read::fixed(blob(r.get_ref(8)?));
    let hash: [u8; 32] = read::fixed(blob(r.get_ref(9)?));
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
    let stream = text(r.get_ref(1)?).unwrap_or_default();
    let content_ok = if let (
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
        buf.clear();
        write_entry(
            buf,
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
        // The stored index key must be its stream's: a changed key would hide the event
        // from reads of its stream, so it counts as a changed field.
        integer(r.get_ref(10)?) == Some(stream_key(stream)) && link_hash(&prev_hash, buf) == hash
    } else {
        false
    };
    Ok(Checked {
        seq: seq.unwrap_or(-1) as u64,
        prev_hash,
        hash,
        content_ok,
        stream: stream_id(stream),
        stream_version: integer(r.get_ref(2)?).unwrap_or(-1) as u64,
        prev_in_stream: integer(r.get_ref(11)?).map(|p| p as u64),
    })
}
