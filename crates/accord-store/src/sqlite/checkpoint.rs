//! The WAL checkpointer: a thread with its own connection that copies committed WAL
//! frames into the database file, so that neither the writer thread nor a caller
//! committing inline ever pays for a checkpoint (copying pages and syncing the database
//! file) in the middle of an append.
//!
//! The writer's connection runs with `wal_autocheckpoint = 0`. After each commit it
//! nudges this thread ([`Nudge::commit`]), which checkpoints at most every
//! [`INTERVAL`] with `PASSIVE` (it never waits for, nor blocks, the writer or readers),
//! or every [`INTERVAL_BEHIND`] while the WAL fills faster than that and each pass still
//! copies frames.
//! SQLite only rewinds the WAL to its start when a write transaction begins after every
//! frame was copied, which under a steady stream of appends never happens by itself; so
//! once the WAL passes `SqliteOptions::wal_bytes` this thread raises a flag, and the
//! writer, between two transactions, checkpoints the few frames left itself
//! ([`Nudge::take_rewind`]) and the next transaction starts the WAL over. The WAL file
//! therefore stays near that many pages, and its pages are rewritten in place rather
//! than appended.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, SyncSender};
use std::time::{Duration, Instant};

use crate::error::Result;

/// Shortest time between two background checkpoints.
const INTERVAL: Duration = Duration::from_millis(200);

/// Shortest time between two background checkpoints while the WAL fills faster than
/// [`INTERVAL`] lets them keep up.
const INTERVAL_BEHIND: Duration = Duration::from_millis(5);

/// The default WAL length past which the writer rewinds the WAL: a WAL that is rewound
/// early is rewritten in pages the OS already holds, which costs less than growing the
/// file.
pub(crate) const REWIND_BYTES: u64 = 16 << 20;

/// The writer's handle on the checkpointer.
pub(crate) struct Nudge {
    tx: SyncSender<()>,
    rewind: Arc<AtomicBool>,
}

impl Nudge {
    /// Tells the checkpointer that a commit added frames. Never blocks.
    pub fn commit(&self) {
        // Full: a checkpoint is already due. Disconnected: the thread is gone with its
        // store.
        let _ = self.tx.try_send(());
    }

    /// Whether the writer should checkpoint the WAL's tail now, so that its next
    /// transaction rewinds the WAL. Clears the request.
    pub fn take_rewind(&self) -> bool {
        self.rewind.swap(false, Ordering::Relaxed)
    }
}

/// Starts the checkpointer thread on `file`, asking for a rewind once the WAL holds
/// `rewind_bytes` of pages; it ends when every [`Nudge`] is dropped.
pub(crate) fn spawn(file: &Path, rewind_bytes: u64) -> Result<Nudge> {
    let conn = rusqlite::Connection::open(file)?;
    let page: u64 = conn.query_row("PRAGMA page_size", [], |r| r.get(0))?;
    let rewind_frames = i64::try_from(rewind_bytes / page.max(1)).unwrap_or(i64::MAX);
    // A passive checkpoint never waits; the timeout only covers opening a read snapshot.
    conn.busy_timeout(Duration::from_secs(1))?;
    let (tx, rx) = std::sync::mpsc::sync_channel(1);
    let rewind = Arc::new(AtomicBool::new(false));
    let flag = rewind.clone();
    std::thread::Builder::new()
        .name("accord-sqlite-ckpt".into())
        .spawn(move || run(conn, rx, flag, rewind_frames.max(1)))?;
    Ok(Nudge { tx, rewind })
}

fn run(conn: rusqlite::Connection, rx: Receiver<()>, rewind: Arc<AtomicBool>, frames_max: i64) {
    let mut last = Instant::now() - INTERVAL;
    let mut behind = false;
    let mut copied_before = 0;
    while rx.recv().is_ok() {
        // Gather the commits of the next moment into one checkpoint, unless the WAL is
        // filling faster than that: then copy again at once, so that the writer, when it
        // rewinds, has only the few frames since this pass left to copy itself.
        let gap = if behind { INTERVAL_BEHIND } else { INTERVAL };
        std::thread::sleep(gap.saturating_sub(last.elapsed()));
        let _ = rx.try_recv();
        last = Instant::now();
        match checkpoint(&conn) {
            Ok((frames, copied)) => {
                // Behind only while passes get somewhere: a reader holding an old
                // snapshot stops the copy, and then waiting is all there is to do.
                behind = frames >= frames_max / 2 && copied != copied_before;
                copied_before = copied;
                if frames >= frames_max {
                    rewind.store(true, Ordering::Relaxed);
                }
            }
            Err(e) => tracing::warn!(error = %e, "WAL checkpoint failed; retrying later"),
        }
    }
}

/// Runs a `PASSIVE` checkpoint on `conn`.
pub(crate) fn passive(conn: &rusqlite::Connection) -> rusqlite::Result<()> {
    checkpoint(conn).map(drop)
}

/// Runs a `PASSIVE` checkpoint on `conn`; returns the WAL's length in frames and how many
/// of them are now copied into the database.
fn checkpoint(conn: &rusqlite::Connection) -> rusqlite::Result<(i64, i64)> {
    conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |r| {
        Ok((r.get::<_, i64>(1)?, r.get::<_, i64>(2)?))
    })
}
