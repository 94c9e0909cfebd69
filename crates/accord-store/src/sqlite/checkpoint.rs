//! The WAL checkpointer: a thread with its own connection that copies committed WAL
//! frames into the database file, so that neither the writer thread nor a caller
//! committing inline ever pays for a checkpoint (copying pages and syncing the database
//! file) in the middle of an append.
//!
//! The writer's connection runs with `wal_autocheckpoint = 0`. After each commit it
//! nudges this thread ([`Nudge::commit`]), which checkpoints with `PASSIVE` (it never
//! waits for, nor blocks, the writer or readers), paced to how fast the WAL fills
//! ([`Pace`]): often enough that a pass comes before the WAL holds half its bound, at
//! most every [`INTERVAL`], at least [`INTERVAL_BEHIND`] apart.
//!
//! SQLite only rewinds the WAL to its start when a write transaction begins after every
//! frame was copied, which under a steady stream of appends never happens by itself. So
//! once the WAL passes `SqliteOptions::wal_bytes`, this thread copies until little is
//! left, syncs the database file, and asks the writer for a rewind; the writer, between
//! two transactions, checkpoints the few frames left itself ([`Nudge::take_rewind`]),
//! and its next transaction starts the WAL over. The WAL file therefore stays near its
//! bound, and its pages are rewritten in place rather than appended.
//!
//! Three things keep the rewind short and sure:
//! - SQLite starts the WAL over only if no other connection reads it at that moment, and
//!   a checkpoint is a reader (`PRAGMA wal_checkpoint` opens a read transaction). So
//!   from the moment it asks until the writer has committed once more after taking the
//!   request (the commit whose `BEGIN` starts the WAL over), this thread leaves the WAL
//!   alone. Before, under group commit, its passes collided with that `BEGIN`, and the
//!   WAL grew to several times its bound before a rewind got through.
//! - The writer's checkpoint of the tail ends with SQLite syncing the database file,
//!   which then holds every page copied since its last sync; this thread syncs it first.
//! - Before asking, this thread copies again until a pass finds little new, so that the
//!   writer's tail is what came in during that last short pass (under batched appends,
//!   at least the writer's last transaction).
//!
//! Each rewind still stalls the writer for a sync of the database file, so the default
//! bound, [`REWIND_BYTES`], is large enough that rewinds are rare (a few a second at the
//! fastest appends here).

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::mpsc::{Receiver, SyncSender};
use std::time::{Duration, Instant};

use crate::error::Result;

/// Longest time between two background checkpoints (while commits come).
const INTERVAL: Duration = Duration::from_millis(200);

/// Shortest time between two background checkpoints, while the WAL fills faster than
/// longer gaps let them keep it under half its bound.
const INTERVAL_BEHIND: Duration = Duration::from_millis(5);

/// Passes at most, before asking for a rewind, to shorten the tail the writer copies.
const MAX_TAIL_PASSES: usize = 4;

/// A tail of at most this many frames (a few hundred microseconds of copying) is left
/// to the writer.
const SHORT_TAIL: i64 = 128;

/// The wait before the first pass after a quiet spell, which measures how fast the WAL
/// fills now: at the fastest pace seen here (~60,000 frames a second), a few MiB.
const PROBE: Duration = Duration::from_millis(20);

/// The default WAL length past which the writer rewinds the WAL. Each rewind stalls the
/// writer for a sync of the database file: 16 MiB gave 13–14 rewinds and 29–35 ms of
/// stall in 400,000 group-committed moves, 7–8 rewinds and 107–132 ms in 400,000 batched
/// ones; 64 MiB gave 1–5 and 4–15 ms, and 3 and 47–48 ms.
pub(crate) const REWIND_BYTES: u64 = 64 << 20;

/// Where a rewind stands, shared by the checkpointer and the writer.
const IDLE: u8 = 0;
/// The checkpointer asked for a rewind; the writer has not taken the request yet.
const ASKED: u8 = 1;
/// The writer took the request and checkpointed the WAL's tail; its next transaction
/// starts the WAL over.
const TAKEN: u8 = 2;

/// The writer's handle on the checkpointer.
pub(crate) struct Nudge {
    tx: SyncSender<()>,
    rewind: Arc<AtomicU8>,
}

impl Nudge {
    /// Tells the checkpointer that a commit added frames. Never blocks.
    pub fn commit(&self) {
        // Full: a checkpoint is already due. Disconnected: the thread is gone with its
        // store.
        let _ = self.tx.try_send(());
    }

    /// Whether the writer should checkpoint the WAL's tail now, so that its next
    /// transaction rewinds the WAL; called after each commit. A request taken at the
    /// previous commit is done by now (that `BEGIN` started the WAL over, or could not),
    /// so the checkpointer may go on.
    pub fn take_rewind(&self) -> bool {
        if self
            .rewind
            .compare_exchange(TAKEN, IDLE, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
        {
            return false;
        }
        self.rewind
            .compare_exchange(ASKED, TAKEN, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
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
    // Syncs the database file before a rewind (see `run`).
    let db = std::fs::File::open(file)?;
    let (tx, rx) = std::sync::mpsc::sync_channel(1);
    let rewind = Arc::new(AtomicU8::new(IDLE));
    let flag = rewind.clone();
    std::thread::Builder::new()
        .name("accord-sqlite-ckpt".into())
        .spawn(move || run(conn, &db, rx, flag, rewind_frames.max(1)))?;
    Ok(Nudge { tx, rewind })
}

fn run(
    conn: rusqlite::Connection,
    db: &std::fs::File,
    rx: Receiver<()>,
    rewind: Arc<AtomicU8>,
    frames_max: i64,
) {
    let mut last = Instant::now() - INTERVAL;
    let mut pace = Pace::default();
    let mut gap = INTERVAL;
    while rx.recv().is_ok() {
        if rewind.load(Ordering::Acquire) != IDLE {
            // Out of the writer's way until the rewind it was asked for is done.
            continue;
        }
        // Gather the commits of the next moment into one checkpoint. After a quiet spell
        // (or at the first commit) the pace is unknown: look again soon, and measure it
        // from now.
        let woke = Instant::now();
        let quiet = woke - last >= INTERVAL;
        let (wait, from) = if quiet {
            (PROBE, woke)
        } else {
            (gap.saturating_sub(woke - last), last)
        };
        std::thread::sleep(wait);
        let _ = rx.try_recv();
        let now = Instant::now();
        let elapsed = now - from;
        last = now;
        match checkpoint(&conn) {
            Ok((frames, copied)) => {
                gap = pace.next_gap(frames.max(0), copied.max(0), elapsed, frames_max);
                if frames >= frames_max {
                    // The writer copies the tail itself, on its own time: whatever came in
                    // while this pass ran, and, since SQLite syncs the database file when
                    // a checkpoint reaches the WAL's end, every page copied since it was
                    // last synced. That took 2–19 ms of the writer's time per rewind under
                    // group commit. So this thread copies again until a pass finds little
                    // new (each pass covers what came in during the one before, which
                    // takes less and less time), syncs the file, and only then asks.
                    let mut copied_before = copied;
                    for _ in 0..MAX_TAIL_PASSES {
                        match checkpoint(&conn) {
                            Ok((_, copied)) if copied - copied_before > SHORT_TAIL => {
                                copied_before = copied;
                            }
                            _ => break,
                        }
                    }
                    if let Err(e) = db.sync_data() {
                        tracing::warn!(error = %e, "syncing the database file before a WAL rewind failed");
                    }
                    rewind.store(ASKED, Ordering::Release);
                }
            }
            Err(e) => tracing::warn!(error = %e, "WAL checkpoint failed; retrying later"),
        }
    }
}

/// How fast the WAL fills, as the checkpointer has seen it, and so when to copy next.
#[derive(Default, Debug)]
struct Pace {
    /// The WAL's length and the frames copied at the last pass.
    frames: i64,
    copied: i64,
    /// Frames appended per second: the fastest of the last passes, halved at each pass
    /// that saw less, so that a burst is remembered for a few passes.
    per_second: f64,
}

impl Pace {
    /// Takes a pass's outcome (`elapsed` since the one before) and says how long to wait
    /// before the next: until the WAL is about half its bound at the pace seen, between
    /// [`INTERVAL_BEHIND`] and [`INTERVAL`], so that the writer, when it rewinds, has
    /// only the few frames since the last pass left to copy itself. Once the WAL holds
    /// half its bound, passes follow at once while they get somewhere; when they do not
    /// (a reader holding an old snapshot stops the copy), waiting is all there is to do.
    fn next_gap(
        &mut self,
        frames: i64,
        copied: i64,
        elapsed: Duration,
        frames_max: i64,
    ) -> Duration {
        // A shorter WAL than last time was started over in between: all of it is new.
        let appended = if frames >= self.frames {
            frames - self.frames
        } else {
            frames
        };
        // Frames left uncopied, and no more copied than last time: a reader holding an
        // old snapshot stops the copy.
        let stuck = copied < frames && copied == self.copied && frames >= self.frames;
        (self.frames, self.copied) = (frames, copied);
        let seen = appended as f64 / elapsed.as_secs_f64().max(1e-3);
        self.per_second = seen.max(self.per_second / 2.0);
        let room = frames_max / 2 - frames;
        if room <= 0 {
            return if stuck { INTERVAL } else { INTERVAL_BEHIND };
        }
        if self.per_second <= 0.0 {
            return INTERVAL;
        }
        Duration::from_secs_f64(room as f64 / self.per_second).clamp(INTERVAL_BEHIND, INTERVAL)
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

#[cfg(test)]
mod tests {
    use super::*;

    const MAX: i64 = 4096;

    #[test]
    fn a_fast_filling_wal_is_copied_before_it_reaches_half_its_bound() {
        let mut pace = Pace::default();
        // 12,000 frames in 200 ms: 60,000 frames a second.
        let gap = pace.next_gap(12_000, 12_000, Duration::from_millis(200), MAX);
        assert_eq!(gap, INTERVAL_BEHIND, "past half the bound: at once");
        // Started over since, 600 frames in 10 ms: 2,048 - 600 frames take ~24 ms.
        let gap = pace.next_gap(600, 600, Duration::from_millis(10), MAX);
        assert!(
            gap > Duration::from_millis(20) && gap < Duration::from_millis(30),
            "{gap:?}"
        );
    }

    #[test]
    fn a_slow_wal_waits_the_longest_gap_and_a_burst_is_remembered() {
        let mut pace = Pace::default();
        let gap = pace.next_gap(10, 10, Duration::from_millis(200), MAX);
        assert_eq!(gap, INTERVAL, "50 frames a second: no hurry");
        // A burst, then a quiet pass: the burst's pace still sets the gap.
        pace.next_gap(1_000, 1_000, Duration::from_millis(20), MAX);
        let gap = pace.next_gap(1_010, 1_010, Duration::from_millis(20), MAX);
        assert!(gap < Duration::from_millis(50), "{gap:?}");
    }

    #[test]
    fn passes_with_nothing_new_to_copy_do_not_back_off() {
        let mut pace = Pace::default();
        pace.next_gap(3_000, 3_000, Duration::from_millis(50), MAX);
        // No commit since: every frame is copied, and the WAL still wants a rewind soon.
        let gap = pace.next_gap(3_000, 3_000, Duration::from_millis(5), MAX);
        assert_eq!(gap, INTERVAL_BEHIND);
    }

    #[test]
    fn passes_that_copy_nothing_back_off() {
        let mut pace = Pace::default();
        pace.next_gap(3_000, 1_000, Duration::from_millis(50), MAX);
        // A reader holds an old snapshot: nothing more gets copied.
        let gap = pace.next_gap(3_500, 1_000, Duration::from_millis(5), MAX);
        assert_eq!(gap, INTERVAL);
    }

    #[test]
    fn a_rewind_is_taken_once_and_done_at_the_next_commit() {
        let (tx, _rx) = std::sync::mpsc::sync_channel(1);
        let rewind = Arc::new(AtomicU8::new(IDLE));
        let nudge = Nudge {
            tx,
            rewind: rewind.clone(),
        };
        assert!(!nudge.take_rewind(), "nothing asked");
        rewind.store(ASKED, Ordering::Release);
        assert!(
            nudge.take_rewind(),
            "asked: the writer checkpoints the tail"
        );
        assert_eq!(
            rewind.load(Ordering::Acquire),
            TAKEN,
            "the checkpointer still waits"
        );
        assert!(!nudge.take_rewind(), "the next commit started the WAL over");
        assert_eq!(
            rewind.load(Ordering::Acquire),
            IDLE,
            "the checkpointer may go on"
        );
    }
}
