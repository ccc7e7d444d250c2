#!/usr/bin/env python3
"""/metrics scrape benchmark: prints figures, never passes or fails.

Starts `tally serve` (the release binary by default) on a loopback port with a fresh database and loads one
generation for every (tenant, feature, model) of T tenants × F features × M models (default 1,000 × 20 × 10:
200,000 series), through the Langfuse batch API (2,000 events per request). Then, for each tenant limit
(--limits, default 500 and T: the default limit folds half the tenants into "other"; T keeps every one), it restarts
the server with TALLY_METRICS_MAX_TENANTS and times the median of --repeat scrapes of GET /metrics in each format
(Prometheus text and OpenMetrics) next to a baseline measured the same way in the same run (GET
/api/tally/v1/breakdown?groupBy=tenant, a rollup read of the same data), and reports the body size and sample count.
Traffic stays on 127.0.0.1; loops are bounded.

  python3 bench/metrics_scrape.py [--tenants 1000] [--features 20] [--models 10] [--limits 500,1000] [--repeat 5]
"""
import argparse
import base64
import json
import os
import socket
import statistics
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PK, SK = "pk-lf-bench", "sk-lf-bench"
AUTH = "Basic " + base64.b64encode(f"{PK}:{SK}".encode()).decode()
OPENMETRICS = "application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5,*/*;q=0.1"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start(binary, db, port, limit):
    env = dict(os.environ, LANGFUSE_INIT_PROJECT_ID="bench", LANGFUSE_INIT_PROJECT_PUBLIC_KEY=PK,
               LANGFUSE_INIT_PROJECT_SECRET_KEY=SK, TALLY_METRICS_MAX_TENANTS=str(limit))
    proc = subprocess.Popen([binary, "serve", "--port", str(port), "--db", db], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(300):
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/api/public/health", timeout=1)
            return proc
        except OSError:
            time.sleep(0.1)
    raise RuntimeError("tally did not start")


def get(port, path, accept=None):
    req = urllib.request.Request(f"http://127.0.0.1:{port}{path}", headers={"Authorization": AUTH})
    if accept:
        req.add_header("Accept", accept)
    started = time.perf_counter()
    with urllib.request.urlopen(req, timeout=600) as r:
        body = r.read()
    return time.perf_counter() - started, body


def load(port, tenants, features, models):
    now = time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime())
    events, sent, started = [], 0, time.perf_counter()

    def flush():
        nonlocal events, sent
        req = urllib.request.Request(f"http://127.0.0.1:{port}/api/public/ingestion",
                                     data=json.dumps({"batch": events}).encode(), method="POST",
                                     headers={"Authorization": AUTH, "Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=600) as r:
            assert r.status == 207
            assert not json.loads(r.read())["errors"]
        sent += len(events)
        events = []

    for t in range(tenants):
        for f in range(features):
            for m in range(models):
                i = (t * features + f) * models + m
                events.append({"id": f"e{i}", "type": "generation-create", "timestamp": now, "body": {
                    "id": f"g{i}", "traceId": f"t{t}-{f}", "model": f"model-{m}", "startTime": now, "endTime": now,
                    "metadata": {"tenantId": f"tenant-{t:04d}", "feature": f"feature-{f:02d}"},
                    "usageDetails": {"input": 100 + i % 900, "output": 10 + i % 90},
                    "costDetails": {"total": (1 + i % 1000) / 1e6}}})
                if len(events) == 2000:
                    flush()
    if events:
        flush()
    return sent, time.perf_counter() - started


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--tenants", type=int, default=1000)
    ap.add_argument("--features", type=int, default=20)
    ap.add_argument("--models", type=int, default=10)
    ap.add_argument("--limits", default=None, help="comma list of --metrics-max-tenants (default: 500,T)")
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--binary", default=os.environ.get("TALLY_BIN", str(ROOT / ".build/release/tally")))
    a = ap.parse_args()
    limits = [int(x) for x in (a.limits or f"500,{a.tenants}").split(",")]
    with tempfile.TemporaryDirectory() as tmp:
        db, port = str(Path(tmp) / "bench.db"), free_port()
        proc = start(a.binary, db, port, limits[0])
        sent, took = load(port, a.tenants, a.features, a.models)
        proc.terminate()
        proc.wait(timeout=60)
        print(f"loaded {sent:,} generations ({a.tenants} tenants × {a.features} features × {a.models} models) "
              f"in {took:.1f} s; database {os.path.getsize(db) / 1e6:.0f} MB")
        for limit in limits:
            proc = start(a.binary, db, port, limit)
            try:
                base = statistics.median(get(port, "/api/tally/v1/breakdown?groupBy=tenant&limit=10000")[0]
                                         for _ in range(a.repeat))
                for name, accept in (("prometheus text", None), ("openmetrics", OPENMETRICS)):
                    runs = [get(port, "/metrics", accept) for _ in range(a.repeat)]
                    seconds = statistics.median(r[0] for r in runs)
                    body = runs[-1][1]
                    samples = sum(1 for line in body.splitlines() if line and not line.startswith(b"#"))
                    series = sum(1 for line in body.splitlines() if line.startswith(b"llm_requests_total"))
                    print(f"max tenants {limit:>5}  {name:<15} scrape {seconds * 1000:8.1f} ms  "
                          f"(breakdown baseline {base * 1000:6.1f} ms, ratio {seconds / base:6.1f})  "
                          f"{len(body) / 1e6:6.1f} MB  {samples:,} samples  {series:,} llm_requests series")
            finally:
                proc.terminate()
                proc.wait(timeout=60)


if __name__ == "__main__":
    main()
