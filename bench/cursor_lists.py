#!/usr/bin/env python3
"""Cursor-list benchmark: prints figures, never passes or fails.

Builds a database of `--observations` observations (4 per trace: a root span and 3 generations, 100 tenants, 1,000
users) by SQL inside SQLite (no rollups: these reads do not use them), starts `tally serve` on it (the release
binary by default, `--bin` to choose), and times, best of `--repeat`, with keep-alive:
  - `GET /api/public/v2/observations?limit=50`: the first page, and a page half-way down (a cursor built from the
    middle item);
  - `GET /api/tally/v1/traces?limit=50` (the UI's keyset list): the first page and a page half-way down;
  - the offset-paged v1 list `GET /api/public/observations`: page 1 (with its total count) and the same depth.
A keyset page should cost what the first page does (ratio ≈ 1); an offset page grows with its depth.

  python3 bench/cursor_lists.py [--observations 1000000] [--bin .build/release/tally] [--repeat 5]
"""
import argparse
import base64
import http.client
import json
import os
import shutil
import sqlite3
import subprocess
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
AUTH = "Basic " + base64.b64encode(b"pk-bench:sk-bench").decode()
T0 = 1_795_000_000_000_000  # µs


def cursor(key, item_id):
    return base64.urlsafe_b64encode(json.dumps([key, item_id], separators=(",", ":")).encode()).decode().rstrip("=")


def start(binary, db, port):
    env = dict(os.environ, LANGFUSE_INIT_PROJECT_ID="p", LANGFUSE_INIT_PROJECT_PUBLIC_KEY="pk-bench",
               LANGFUSE_INIT_PROJECT_SECRET_KEY="sk-bench")
    proc = subprocess.Popen([binary, "serve", "--port", str(port), "--db", db], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(300):
        try:
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            c.request("GET", "/api/public/health")
            if c.getresponse().status == 200:
                return proc
        except OSError:
            time.sleep(0.1)
    proc.kill()
    raise SystemExit("tally did not start")


def fill(db, observations):
    traces = observations // 4
    con = sqlite3.connect(db)
    con.executescript(f"""
        BEGIN;
        WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < {traces - 1})
        INSERT INTO trace (project_id, id, timestamp, name, user_id, session_id, tenant, created_at, updated_at)
        SELECT 'p', 't' || i, {T0} + i * 10000000, 'chat', 'u' || (i % 1000), 's' || (i % 5000),
            'tenant' || (i % 100), 0, 0 FROM n;
        WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < {observations - 1})
        INSERT INTO observation (project_id, id, trace_id, parent_observation_id, type, name, start_time, end_time,
            model, input_tokens, output_tokens, total_tokens, total_cost_nanos, tenant, created_at, updated_at)
        SELECT 'p', 'o' || i, 't' || (i / 4), CASE WHEN i % 4 = 0 THEN NULL ELSE 'o' || (i - i % 4) END,
            CASE WHEN i % 4 = 0 THEN 'SPAN' ELSE 'GENERATION' END, 'gen ' || (i % 7),
            {T0} + (i / 4) * 10000000 + (i % 4) * 1000, {T0} + (i / 4) * 10000000 + (i % 4) * 1000 + 500000,
            'gpt-4o-mini', 1000, 100, 1100, 210000, 'tenant' || ((i / 4) % 100), 0, 0 FROM n;
        COMMIT;
    """)
    con.close()


def best(conn, path, repeat):
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        conn.request("GET", path, headers={"Authorization": AUTH})
        r = conn.getresponse()
        r.read()
        assert r.status == 200, (path, r.status)
        times.append((time.perf_counter() - t) * 1000)
    return min(times)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--observations", type=int, default=1_000_000)
    ap.add_argument("--bin", default=str(ROOT / ".build" / "release" / "tally"))
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--keep", action="store_true", help="keep the database folder")
    args = ap.parse_args()
    work = tempfile.mkdtemp(prefix="tally-cursor-bench-")
    db = os.path.join(work, "bench.db")
    port = 3900 + os.getpid() % 90
    # Schema first: start once on the empty file, then fill it with the server stopped.
    proc = start(args.bin, db, port)
    proc.terminate()
    proc.wait(30)
    t = time.perf_counter()
    fill(db, args.observations)
    print(f"filled {args.observations:,} observations in {time.perf_counter() - t:.1f} s ({db})")
    proc = start(args.bin, db, port)
    try:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        mid = args.observations // 2
        mid_trace = args.observations // 8
        rows = [
            ("v2 observations, first page", "/api/public/v2/observations?limit=50"),
            ("v2 observations, half-way (cursor)", "/api/public/v2/observations?limit=50&cursor="
             + cursor(T0 + (mid // 4) * 10_000_000 + (mid % 4) * 1000, f"o{mid}")),
            ("UI trace list, first page", "/api/tally/v1/traces?limit=50"),
            ("UI trace list, half-way (cursor)", "/api/tally/v1/traces?limit=50&cursor="
             + cursor(T0 + mid_trace * 10_000_000, f"t{mid_trace}")),
            ("v1 observations, page 1 (with count)", "/api/public/observations?limit=50&page=1"),
            ("v1 observations, half-way (offset)", f"/api/public/observations?limit=50&page={mid // 50}"),
        ]
        figures = {label: best(conn, path, args.repeat) for label, path in rows}
        for label, ms in figures.items():
            print(f"{label:40s} {ms:8.1f} ms")
        print(f"half-way / first: v2 {figures[rows[1][0]] / figures[rows[0][0]]:.2f}, "
              f"trace list {figures[rows[3][0]] / figures[rows[2][0]]:.2f}, "
              f"v1 offset {figures[rows[5][0]] / figures[rows[4][0]]:.2f}")
    finally:
        proc.terminate()
        proc.wait(30)
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
