#!/usr/bin/env python3
"""Python's sqlite3 appending a SHA-256-chained log: the issue's yardstick, on this machine.

Issue #2 gives, "for scale", Python's sqlite3 module at 210,000 hashed events/s batched
and 52,000/s as single-event transactions "on a machine of this kind". Machines of this
kind differ by a factor of two from one session to the next, so this script measures the
yardstick where `accord bench store` runs, and BENCHMARKS.md sets the two side by side.

Each event is a supplier's counter-offer shaped like `accord_store::bench::move_event`,
serialised as canonical JSON (sorted keys, no whitespace) before the clock starts, then
chained inside it: hash = SHA-256(prev_hash || payload). (Python's `json.dumps` of such an
event alone takes longer than the issue's 210,000/s allows, so the yardstick cannot have
serialised inside the clock; Accord's benchmarks do.) The file is WAL with
synchronous=NORMAL, as Accord's batched and single-event scenarios are. Three tables:

  bare     seq primary key, no other index (the issue's figure matches this shape);
  streams  plus a unique (stream, version) index, which optimistic concurrency needs;
  single   the `streams` shape, one event per transaction.

Usage: python3 scripts/sqlite-yardstick.py [events] [runs]   (default 400000, 3)
Prints each run and the median per scenario. Standard library only.
"""

import hashlib
import json
import os
import sqlite3
import statistics
import sys
import tempfile
import time

SCHEMA = """
CREATE TABLE events (
    seq INTEGER PRIMARY KEY,
    stream TEXT NOT NULL,
    version INTEGER NOT NULL,
    kind TEXT NOT NULL,
    payload TEXT NOT NULL,
    recorded_at TEXT NOT NULL,
    prev_hash BLOB NOT NULL,
    hash BLOB NOT NULL
)
"""


def move(i):
    """The i-th counter-offer: move 3 + i // 1000 of negotiation i % 1000."""
    return {
        "type": "negotiation_moved",
        "record": {
            "negotiation": f"0191ad3c-4e00-7000-8000-{i % 1000:012x}",
            "number": 3 + i // 1000,
            "party": "supplier",
            "action": {
                "type": "offer",
                "options": [
                    {
                        "price": {"minor": 10_000 - i % 700, "currency": "EUR"},
                        "payment_days": 30 + i % 60,
                        "lead_time_days": 5 + i % 20,
                        "contract_months": 12,
                        "early_payment": None,
                    }
                ],
            },
            "at": "2026-09-21T13:%02d:%02dZ" % (i // 6000 % 60, i // 100 % 60),
            "idempotency_key": f"move-{i:010d}",
            "request_hash": f"{(i * 0x9E3779B97F4A7C15) % (1 << 128):064x}",
            "rationale": None,
            "guard": None,
        },
    }


def open_db(path, with_index):
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=NORMAL")
    db.execute(SCHEMA)
    if with_index:
        db.execute("CREATE UNIQUE INDEX events_stream ON events (stream, version)")
    return db


def canonical(i):
    """The i-th event as (stream, canonical JSON text, its UTF-8 bytes)."""
    e = move(i)
    payload = json.dumps(e, sort_keys=True, separators=(",", ":"))
    return "negotiation-" + e["record"]["negotiation"], payload, payload.encode()


def rows(events, start):
    """Chains and yields the rows of `events` (from `canonical`), from seq `start`."""
    prev = bytes(32)
    versions = {}
    for n, (stream, payload, raw) in enumerate(events, start):
        version = versions.get(stream, 0) + 1
        versions[stream] = version
        h = hashlib.sha256(prev + raw).digest()
        yield (n, stream, version, "negotiation_moved", payload, "2026-12-05T12:00:00Z", prev, h)
        prev = h


def run(path, scenario, n):
    db = open_db(path, with_index=scenario != "bare")
    events = [canonical(i) for i in range(n)]
    insert = "INSERT INTO events VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
    start = time.perf_counter()
    cpu = time.process_time()
    it = rows(events, 1)
    if scenario == "single":
        for row in it:
            db.execute("BEGIN")
            db.execute(insert, row)
            db.execute("COMMIT")
    else:
        while True:
            chunk = [row for _, row in zip(range(10_000), it)]
            if not chunk:
                break
            db.execute("BEGIN")
            db.executemany(insert, chunk)
            db.execute("COMMIT")
    elapsed = time.perf_counter() - start
    cpu = time.process_time() - cpu
    (count,) = db.execute("SELECT count(*) FROM events").fetchone()
    db.close()
    assert count == n, f"wrote {count} of {n} events"
    return n / elapsed, cpu / n * 1e6


def main():
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 400_000
    runs = int(sys.argv[2]) if len(sys.argv) > 2 else 3
    print(f"python {sys.version.split()[0]}, sqlite {sqlite3.sqlite_version}, {os.cpu_count()} cores")
    results = {s: [] for s in ("bare", "streams", "single")}
    with tempfile.TemporaryDirectory(prefix="accord-yardstick-") as tmp:
        for r in range(1, runs + 1):
            for scenario in results:
                path = os.path.join(tmp, f"{scenario}-{r}.db")
                events = n if scenario != "single" else n // 4
                rate, cpu_us = run(path, scenario, events)
                results[scenario].append(rate)
                print(f"[run {r}/{runs}] {scenario:8} {events:>8} events {rate:>10,.0f} /s  {cpu_us:5.2f} µs CPU/event")
                for suffix in ("", "-wal", "-shm"):
                    if os.path.exists(path + suffix):
                        os.remove(path + suffix)
    for scenario, rates in results.items():
        label = {
            "bare": "batches of 10,000, seq key only",
            "streams": "batches of 10,000, + (stream, version) index",
            "single": "1 per transaction, + (stream, version) index",
        }[scenario]
        print(f"{label:46} median {statistics.median(rates):>10,.0f} /s  ({min(rates):,.0f}–{max(rates):,.0f})")


if __name__ == "__main__":
    main()
