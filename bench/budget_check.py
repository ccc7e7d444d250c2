#!/usr/bin/env python3
"""Budget-check benchmark: prints figures, never passes or fails.

Starts `tally serve` (the release binary by default) on a loopback port with a fresh database, puts 1,000 tenants on
three plans (a default plan covers any other), then, with `--clients` check clients on keep-alive connections, each
sending `POST /api/tally/v1/budgets/check` for random tenants (with a feature, an estimate and a hold id):
  1. idle: checks alone, next to `GET /api/public/health` on the same connections (the HTTP floor);
  2. under load: the same checks while another process sends OTLP (512 spans per request, gzip, `--ingest-clients`
     connections, spans over the same 1,000 tenants) as fast as the server commits them.
Prints p50 / p99 / max latency (ms) at the client (wall, Python on the same cores) and inside the server (its
`Server-Timing` header), checks/s of each phase, the ingest rate during phase 2, and how many checks were refused
(429) — the refusals are answers, not errors.

Run with the v5 test venv (it has opentelemetry-proto):
  .venv-e2e-v5/bin/python bench/budget_check.py [--seconds 20] [--clients 4] [--ingest-clients 8]
"""
import argparse
import base64
import gzip
import http.client
import json
import multiprocessing
import os
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import otlp_ingest  # noqa: E402  (the span generator and helpers)

ROOT = Path(__file__).resolve().parents[1]
TENANTS = [f"tenant-{i}" for i in range(1000)]
FEATURES = ["copilot", "search", "summarize", "classify"]
HEADERS = {"Authorization": otlp_ingest.AUTH, "Content-Type": "application/json"}


def call(conn, method, path, body=None):
    conn.request(method, path, body=body, headers=HEADERS)
    r = conn.getresponse()
    data = r.read()
    return r.status, data, server_ms(r.getheader("Server-Timing"))


def server_ms(header):
    """The server's own time for the request (`Server-Timing: app;dur=<ms>`), in seconds; None if absent."""
    for part in (header or "").split(";"):
        if part.strip().startswith("dur="):
            return float(part.strip()[4:]) / 1000
    return None


def setup(port):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    plans = {"starter": {"dailyUsd": 5, "monthlyUsd": 100, "requestsPerMinute": 600},
             "pro": {"dailyUsd": 50, "monthlyUsd": 1000, "requestsPerMinute": 6000},
             "enterprise": {"monthlyUsd": 100000}}
    for name, limits in plans.items():
        assert call(conn, "PUT", f"/api/tally/v1/plans/{name}", json.dumps(limits))[0] == 200
    assert call(conn, "PUT", "/api/tally/v1/settings/budgets", json.dumps({"defaultPlan": "starter"}))[0] == 200
    names = list(plans)
    start = time.perf_counter()
    for i, tenant in enumerate(TENANTS):
        status, _, _ = call(conn, "PUT", f"/api/tally/v1/tenants/{tenant}/budget", json.dumps({"plan": names[i % 3]}))
        assert status == 200, status
    return time.perf_counter() - start


def check_worker(port, seconds, seed, path_kind):
    """Latencies (s) and statuses of requests sent back to back for `seconds`."""
    rng = random.Random(seed)
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    latencies, server, statuses = [], [], {}
    deadline = time.perf_counter() + seconds
    n = 0
    while time.perf_counter() < deadline and n < 1_000_000:
        n += 1
        if path_kind == "health":
            method, path, body = "GET", "/api/public/health", None
        else:
            method, path = "POST", "/api/tally/v1/budgets/check"
            body = json.dumps({"tenantId": rng.choice(TENANTS), "feature": rng.choice(FEATURES),
                               "estimateUsd": 0.0001, "holdId": f"hold-{seed}-{n}"})
        t0 = time.perf_counter()
        status, _, inside = call(conn, method, path, body)
        latencies.append(time.perf_counter() - t0)
        if inside is not None:
            server.append(inside)
        statuses[status] = statuses.get(status, 0) + 1
    return latencies, server, statuses


def phase(port, clients, seconds, kind):
    with ThreadPoolExecutor(max_workers=clients) as pool:
        results = list(pool.map(lambda i: check_worker(port, seconds, 1000 * i + 1, kind), range(clients)))
    latencies = sorted(x for r in results for x in r[0])
    server = sorted(x for r in results for x in r[1])
    statuses = {}
    for _, _, s in results:
        for k, v in s.items():
            statuses[k] = statuses.get(k, 0) + v
    return latencies, server, statuses


def ingest_process(port, clients, stop_event, counter):
    """Sends OTLP requests of 512 spans (gzip) on `clients` threads until told to stop; counts acknowledged spans."""
    otlp_ingest.TENANTS = TENANTS
    traces = otlp_ingest.make_traces(512 * 64, seed=3)
    per = 512 // otlp_ingest.SPANS_PER_TRACE
    bodies = [gzip.compress(otlp_ingest.otlp_body(traces[i:i + per]), 6) for i in range(0, len(traces), per)]
    headers = {"Authorization": otlp_ingest.AUTH, "Content-Type": "application/x-protobuf",
               "Content-Encoding": "gzip"}

    def worker(k):
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        i = k
        while not stop_event.is_set():
            conn.request("POST", "/api/public/otel/v1/traces", body=bodies[i % len(bodies)], headers=headers)
            r = conn.getresponse()
            r.read()
            if r.status == 200:
                with counter.get_lock():
                    counter.value += 512
            i += clients

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


def pct(sorted_values, p):
    return sorted_values[min(len(sorted_values) - 1, int(p * len(sorted_values)))] * 1000


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=float, default=20)
    ap.add_argument("--clients", type=int, default=4)
    ap.add_argument("--ingest-clients", type=int, default=8)
    ap.add_argument("--binary", default=os.environ.get("TALLY_BIN", str(ROOT / ".build/release/tally")))
    args = ap.parse_args()

    tmp = tempfile.mkdtemp(prefix="tally-budget-bench-")
    port = otlp_ingest.free_port()
    env = dict(os.environ, LANGFUSE_INIT_PROJECT_ID="bench", LANGFUSE_INIT_PROJECT_PUBLIC_KEY=otlp_ingest.PK,
               LANGFUSE_INIT_PROJECT_SECRET_KEY=otlp_ingest.SK, TALLY_LOG_LEVEL="warning")
    server = subprocess.Popen([args.binary, "serve", "--port", str(port), "--db", f"{tmp}/bench.db"],
                              env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(300):
            try:
                call(http.client.HTTPConnection("127.0.0.1", port, timeout=1), "GET", "/api/public/health")
                break
            except OSError:
                time.sleep(0.1)
        setup_s = setup(port)
        print(f"binary {args.binary}; {args.clients} check clients, {args.seconds:.0f} s per phase; "
              f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
        print(f"setup: 3 plans, {len(TENANTS)} tenants assigned in {setup_s:.2f} s")
        rows = []
        health, health_server, _ = phase(port, args.clients, args.seconds / 2, "health")
        rows.append(("health (HTTP floor), idle", health, health_server, {}, None))
        idle, idle_server, idle_status = phase(port, args.clients, args.seconds, "check")
        rows.append(("budget check, idle", idle, idle_server, idle_status, None))

        if os.environ.get("BUDGET_BENCH_IDLE_ONLY"):
            return
        stop = multiprocessing.Event()
        counter = multiprocessing.Value("q", 0)
        ingest = multiprocessing.Process(target=ingest_process, args=(port, args.ingest_clients, stop, counter))
        ingest.start()
        time.sleep(2)  # let the ingest reach its pace
        spans0, t0 = counter.value, time.perf_counter()
        loaded, loaded_server, loaded_status = phase(port, args.clients, args.seconds, "check")
        spans_per_s = (counter.value - spans0) / (time.perf_counter() - t0)
        stop.set()
        ingest.join(timeout=180)
        rows.append(("budget check, OTLP ingest flat out", loaded, loaded_server, loaded_status, spans_per_s))

        print("client: wall time per request at the client (Python on the same 2 cores); server: Server-Timing")
        print(f"{'phase':36} {'requests':>8} {'req/s':>6} {'client p50':>10} {'p99':>7} {'max':>7} "
              f"{'server p50':>10} {'p99':>6} {'max':>6} {'200':>6} {'429':>5} {'spans/s':>7}")
        for label, lat, inside, statuses, sps in rows:
            seconds = args.seconds / 2 if label.startswith("health") else args.seconds
            print(f"{label:36} {len(lat):8d} {len(lat) / seconds:6.0f} {pct(lat, 0.5):10.2f} {pct(lat, 0.99):7.2f} "
                  f"{lat[-1] * 1000:7.2f} {pct(inside, 0.5):10.3f} {pct(inside, 0.99):6.3f} {inside[-1] * 1000:6.2f} "
                  f"{statuses.get(200, len(lat) if not statuses else 0):6d} {statuses.get(429, 0):5d} "
                  f"{'' if sps is None else f'{sps:7.0f}'}")
        print(f"p99 under load / p99 idle: {pct(loaded, 0.99) / pct(idle, 0.99):.2f}; "
              f"check p50 idle / health p50: {pct(idle, 0.5) / pct(health, 0.5):.2f}; "
              f"load average after {os.getloadavg()[0]:.2f}")
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=60)


if __name__ == "__main__":
    main()
