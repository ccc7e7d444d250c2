#!/usr/bin/env python3
"""The SQLite floor under Tally's write path: how fast SQLite alone inserts Tally's observation rows.

Takes a database Tally wrote (e.g. the one `bench/otlp_ingest.py` leaves under /tmp/tally-bench-*/bench.db), copies
it, and re-inserts every observation row with a new id and trace id by `INSERT ... SELECT` inside SQLite (no Python
per row), `--rows-per-transaction` rows per transaction, with Tally's pragmas (WAL, synchronous=FULL, 24 MiB cache,
no mmap). It does this with every index, with no secondary index, and with only the trace index, and prints rows/s
(wall) and CPU-s per 1k rows. Only observation rows: no trace rows, tags, rollups, decoding or HTTP, so the figures
are an upper bound on what any write path over this schema can reach on the machine.
"""
import argparse
import os
import shutil
import sqlite3
import tempfile
import time

SECONDARY = ["observation_trace", "observation_time", "observation_type_time", "observation_tenant_time",
             "observation_cost_time", "observation_prompt"]


def run(source, rows_per_tx, drop):
    work = tempfile.mkdtemp(prefix="tally-floor-")
    path = os.path.join(work, "floor.db")
    shutil.copy(source, path)
    db = sqlite3.connect(path, isolation_level=None)
    try:
        for pragma in ("journal_mode = WAL", "synchronous = FULL", "cache_size = -24576", "mmap_size = 0"):
            db.execute(f"PRAGMA {pragma}")
        for (name,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'trigger'").fetchall():
            db.execute(f'DROP TRIGGER "{name}"')
        for name in drop:
            db.execute(f'DROP INDEX "{name}"')
        cols = [r[1] for r in db.execute("PRAGMA table_info(observation)")]
        renamed = {"id": "id || '.copy'", "trace_id": "trace_id || '.copy'"}
        select = ", ".join(renamed.get(c, c) for c in cols)
        insert = (f"INSERT INTO observation ({', '.join(cols)}) SELECT {select} FROM observation "
                  "WHERE rowid BETWEEN ? AND ?")
        last = db.execute("SELECT max(rowid) FROM observation").fetchone()[0] or 0
        cpu0, wall0 = time.process_time(), time.perf_counter()
        for first in range(1, last + 1, rows_per_tx):
            db.execute("BEGIN IMMEDIATE")
            db.execute(insert, (first, first + rows_per_tx - 1))
            db.execute("COMMIT")
        return last, time.perf_counter() - wall0, time.process_time() - cpu0
    finally:
        db.close()
        shutil.rmtree(work)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--db", required=True, help="a database written by Tally (it is copied, never modified)")
    ap.add_argument("--rows-per-transaction", default="512,4096")
    args = ap.parse_args()
    print(f"SQLite {sqlite3.sqlite_version}; load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print(f"{'indexes':28} {'rows/tx':>7} {'rows':>8} {'rows/s':>8} {'cpu s/1k':>9}")
    cases = [("all", []), ("trace index only", SECONDARY[1:]), ("none (unique id only)", SECONDARY)]
    for per_tx in (int(x) for x in args.rows_per_transaction.split(",")):
        for label, drop in cases:
            rows, wall, cpu = run(args.db, per_tx, drop)
            print(f"{label:28} {per_tx:7d} {rows:8d} {rows / wall:8.0f} {1000 * cpu / max(rows, 1):9.3f}")


if __name__ == "__main__":
    main()
