#!/usr/bin/env python3
"""Reliability scenarios too slow for the test command: prints figures, never passes or fails.

  wal      OTLP ingest while the all-metrics breakdown is polled every 200 ms: WAL size, RSS and the poll's
           latency sampled each second for --seconds (default 600). The first minute's p50 is the baseline.
  kill     --trials SIGKILLs at random moments under batch + OTLP load; after each restart every acknowledged
           event is looked up: prints acknowledged, missing, restart time.
  pattern  Project A posts hostile model patterns (each should be refused) and 2,000 ordinary models, then ingests
           generations with fresh model names; project B's one-trace batches are timed before (baseline) and
           during A's load.
  fuzz     --requests random hostile numbers across every numeric field: counts 5xx and checks the process lives.
  soak     --seconds of OTLP ingest of fresh spans (4 clients, 512 spans a request, gzip) while 2 clients read the
           top tenants over the last 24 h, the trace list sorted by cost and a tag-filtered list with its next cursor
           page: every 30 s the spans acknowledged, ingest rate, RSS, peak RSS, WAL and each read's p50/p99.

Every loop is bounded by count and time; traffic goes to 127.0.0.1 only. Run with the v5 venv (opentelemetry-proto):
  .venv-e2e-v5/bin/python bench/reliability.py wal --seconds 600
"""
import argparse
import base64
import gzip
import json
import os
import random
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from otlp_ingest import make_requests, make_traces, otlp_body, proc_stats  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
PK, SK = "pk-lf-rel", "sk-lf-rel"


def auth(pk=PK, sk=SK):
    return "Basic " + base64.b64encode(f"{pk}:{sk}".encode()).decode()


class Server:
    def __init__(self, binary, db, port=None, env=None):
        self.binary, self.db = binary, db
        if port is None:
            with socket.socket() as s:
                s.bind(("127.0.0.1", 0))
                port = s.getsockname()[1]
        self.port, self.base = port, f"http://127.0.0.1:{port}"
        self.env = dict(os.environ, LANGFUSE_INIT_PROJECT_ID="rel", LANGFUSE_INIT_PROJECT_PUBLIC_KEY=PK,
                        LANGFUSE_INIT_PROJECT_SECRET_KEY=SK, TALLY_LOG_LEVEL="warning", **(env or {}))
        self.proc = None

    def start(self):
        started = time.perf_counter()
        self.proc = subprocess.Popen([self.binary, "serve", "--port", str(self.port), "--db", self.db],
                                     env=self.env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for _ in range(600):
            try:
                urllib.request.urlopen(self.base + "/api/public/health", timeout=1).read()
                return time.perf_counter() - started
            except OSError:
                time.sleep(0.02)
        raise SystemExit("server did not start")

    def kill(self):
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=60)

    def call(self, method, path, body=None, content_type="application/json", encoding=None, key=None, timeout=60):
        req = urllib.request.Request(self.base + path, data=body, method=method)
        req.add_header("Authorization", key or auth())
        if body is not None:
            req.add_header("Content-Type", content_type)
        if encoding:
            req.add_header("Content-Encoding", encoding)
        try:
            with urllib.request.urlopen(req, timeout=timeout) as r:
                return r.status, r.read()
        except urllib.error.HTTPError as e:
            return e.code, e.read()


def percentile(values, p):
    values = sorted(values)
    return values[min(len(values) - 1, int(p / 100 * len(values)))] if values else float("nan")


def wal(args):
    tmp = tempfile.mkdtemp(prefix="tally-rel-")
    server = Server(args.binary, f"{tmp}/rel.db")
    server.start()
    bodies = [gzip.compress(r.SerializeToString()) for r in make_requests(40, 512)[0]]
    stop = threading.Event()
    polls, samples, ingested = [], [], [0]

    def ingest():
        i = 0
        while not stop.is_set():
            status, _ = server.call("POST", "/api/public/otel/v1/traces", bodies[i % len(bodies)],
                                    "application/x-protobuf", "gzip")
            ingested[0] += 512 if status == 200 else 0
            i += 1

    def poll():
        while not stop.is_set():
            t = time.perf_counter()
            status, _ = server.call("GET", "/api/tally/v1/breakdown?groupBy=tenant,feature")
            polls.append((time.time(), time.perf_counter() - t, status))
            time.sleep(0.2)

    threads = [threading.Thread(target=ingest), threading.Thread(target=poll), threading.Thread(target=poll)]
    for t in threads:
        t.start()
    started = time.time()
    try:
        while time.time() - started < args.seconds:
            time.sleep(1)
            walf = Path(f"{tmp}/rel.db-wal")
            rss, hwm, _ = proc_stats(server.proc.pid)
            samples.append((time.time() - started, walf.stat().st_size if walf.exists() else 0, rss, hwm))
            if len(samples) % 30 == 0:
                print(f"{samples[-1][0]:5.0f} s  WAL {samples[-1][1] / 2**20:7.1f} MiB  RSS {rss:6.0f} MiB  "
                      f"spans {ingested[0]}", flush=True)
    finally:
        stop.set()
        for t in threads:
            t.join()
        server.stop()
    first = [d for ts, d, s in polls if ts - started < 60 and s == 200]
    last = [d for ts, d, s in polls if ts - started > args.seconds - 60 and s == 200]
    errors = sum(1 for _, _, s in polls if s != 200)
    print(f"\n{args.seconds} s, {ingested[0]} spans ingested, {len(polls)} breakdown polls ({errors} not 200)")
    print(f"WAL max {max(s[1] for s in samples) / 2**20:.1f} MiB; RSS max {max(s[2] for s in samples):.0f} MiB "
          f"(peak {max(s[3] for s in samples):.0f} MiB)")
    print(f"breakdown p50: first minute {1000 * percentile(first, 50):.0f} ms (baseline), last minute "
          f"{1000 * percentile(last, 50):.0f} ms = {percentile(last, 50) / percentile(first, 50):.2f}× baseline")


def kill(args):
    tmp = tempfile.mkdtemp(prefix="tally-rel-")
    server = Server(args.binary, f"{tmp}/rel.db")
    server.start()
    rng = random.Random(11)
    acked, lock, total_missing, restarts = [], threading.Lock(), 0, []
    for trial in range(args.trials):
        stop = threading.Event()

        def load(worker):
            n = 0
            while not stop.is_set():
                n += 1
                ids = [f"k{trial}-{worker}-{n}-{i}" for i in range(50)]
                batch = {"batch": [{"id": f"e-{t}", "type": "trace-create",
                                    "timestamp": "2026-11-20T10:00:00Z", "body": {"id": t, "name": "k"}} for t in ids]}
                try:
                    status, body = server.call("POST", "/api/public/ingestion", json.dumps(batch).encode(), timeout=10)
                except OSError:
                    return
                if status == 207 and not json.loads(body)["errors"]:
                    with lock:
                        acked.extend(ids)

        threads = [threading.Thread(target=load, args=(w,)) for w in range(3)]
        for t in threads:
            t.start()
        time.sleep(rng.uniform(0.3, 2.0))
        server.kill()
        stop.set()
        for t in threads:
            t.join()
        restarts.append(server.start())
        with lock:
            check = list(acked)
            acked.clear()
        missing = 0
        for t in check:
            s, _ = server.call("GET", f"/api/public/traces/{t}")
            missing += s != 200
        total_missing += missing
        print(f"trial {trial + 1}: {len(check)} acknowledged, {missing} missing, restart {1000 * restarts[-1]:.0f} ms",
              flush=True)
    server.stop()
    print(f"\n{args.trials} SIGKILLs: {total_missing} acknowledged events missing; restart max "
          f"{1000 * max(restarts):.0f} ms")


def pattern(args):
    tmp = tempfile.mkdtemp(prefix="tally-rel-")
    db = f"{tmp}/rel.db"
    server = Server(args.binary, db)
    server.start()
    out = subprocess.run([args.binary, "keys", "create", "--project", "other", "--db", db], capture_output=True,
                         text=True, check=True).stdout
    pk_b = next(line.split()[-1] for line in out.splitlines() if line.startswith("public key"))
    sk_b = next(line.split()[-1] for line in out.splitlines() if line.startswith("secret key"))
    key_b = auth(pk_b, sk_b)

    def one_trace(key, i, model):
        batch = {"batch": [{"id": f"e{i}", "type": "generation-create", "timestamp": "2026-11-20T10:00:00Z",
                            "body": {"id": f"g{i}", "traceId": f"t{i}", "model": model, "usage": {"input": 10}}}]}
        t = time.perf_counter()
        status, _ = server.call("POST", "/api/public/ingestion", json.dumps(batch).encode(), key=key)
        return time.perf_counter() - t, status

    baseline = [one_trace(key_b, f"b0-{i}", "gpt-4o")[0] for i in range(200)]
    hostile = ["(a+)+$", "(a|aa)*$", "(\\w+\\s?)*$", "(.*a){12}", "\\d*\\d*\\d*\\d*\\d*x", "(x+x+)+y"]
    refused = 0
    for i, p in enumerate(hostile):
        status, _ = server.call("POST", "/api/public/models", json.dumps(
            {"modelName": f"evil{i}", "matchPattern": p, "inputPrice": 1e-6}).encode())
        refused += status == 400
    for i in range(args.models):
        status, _ = server.call("POST", "/api/public/models", json.dumps(
            {"modelName": f"own-{i}", "matchPattern": f"(?i)^(acme/)?own-model-{i}(-v\\d+)?$",
             "inputPrice": 1e-6}).encode())
        assert status == 200, status
    stop = threading.Event()

    def load_a():
        n = 0
        while not stop.is_set():
            n += 1
            one_trace(None, f"a{n}", "a" * 26 + f"!{n}")

    loader = threading.Thread(target=load_a)
    loader.start()
    during = [one_trace(key_b, f"b1-{i}", "gpt-4o")[0] for i in range(200)]
    stop.set()
    loader.join()
    server.stop()
    print(f"hostile patterns refused: {refused} of {len(hostile)}; project models: {args.models}")
    print(f"project B one-trace batch p50/p99: baseline {1000 * percentile(baseline, 50):.1f}/"
          f"{1000 * percentile(baseline, 99):.1f} ms, during A's load {1000 * percentile(during, 50):.1f}/"
          f"{1000 * percentile(during, 99):.1f} ms; worst added delay "
          f"{1000 * (max(during) - percentile(baseline, 50)):.1f} ms")


def fuzz(args):
    tmp = tempfile.mkdtemp(prefix="tally-rel-")
    server = Server(args.binary, f"{tmp}/rel.db")
    server.start()
    rng = random.Random(5)
    values = [0, 1, -1, 0.5, 1e10, 1e12, 1e12 + 1, 9.2e18, 2**63 - 1, -2**63, 1e300, 1.7976931348623157e308,
              "9223372036854775808", "1e400", 2**64]
    fields = [("usage", "input"), ("usage", "output"), ("usage", "total"), ("usage", "inputCost"),
              ("usageDetails", "input"), ("usageDetails", "x"), ("costDetails", "total"), ("costDetails", "input"),
              (None, "promptVersion")]
    fivexx = 0
    for n in range(args.requests):
        body = {"id": f"g{n}", "traceId": f"t{n % 50}", "model": rng.choice(["gpt-4o", "o1", "claude-sonnet-4"]),
                "metadata": {"tenantId": "acme"}, "promptName": "p", "promptVersion": 1}
        for _ in range(rng.randrange(1, 4)):
            group, key = rng.choice(fields)
            value = rng.choice(values)
            if group:
                body.setdefault(group, {})[key] = value
            else:
                body[key] = value
        raw = json.dumps({"batch": [{"id": f"e{n}", "type": "generation-create",
                                     "timestamp": "2026-11-20T10:00:00Z", "body": body}]})
        raw = raw.replace('"1e400"', "1e400")
        status, _ = server.call("POST", "/api/public/ingestion", raw.encode())
        fivexx += status >= 500
    reads = [server.call("GET", p)[0] for p in ["/api/public/metrics/daily", "/api/tally/v1/breakdown",
                                                 "/api/tally/v1/dashboards/top-tenants?window=30d"]]
    alive = server.proc.poll() is None
    server.stop()
    print(f"{args.requests} hostile requests: {fivexx} answered 5xx; process alive: {alive}; reads after: {reads}")


def soak(args):
    tmp = tempfile.mkdtemp(prefix="tally-rel-")
    server = Server(args.binary, f"{tmp}/rel.db")
    server.start()
    stop = threading.Event()
    lock = threading.Lock()
    acked, reads, errors = [0], [], [0]
    counter = [0]

    def ingest():
        while not stop.is_set():
            with lock:
                counter[0] += 1
                seed = counter[0]
            body = gzip.compress(otlp_body(make_traces(512, seed=seed)), 6)
            status, _ = server.call("POST", "/api/public/otel/v1/traces", body, "application/x-protobuf", "gzip")
            with lock:
                if status == 200:
                    acked[0] += 512
                else:
                    errors[0] += 1
            if status == 503:
                time.sleep(1)

    def read():
        while not stop.is_set():
            now = time.time()
            frm = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now - 86400))
            queries = [
                # As the dashboard asks it (web/app.js): the last 24 h, sums only.
                ("top tenants 24h", f"/api/tally/v1/breakdown?groupBy=tenant&from={frm}&metrics=count,totalTokens,totalCost"
                                    "&sort=-totalCost&limit=500"),
                ("traces by cost", "/api/tally/v1/traces?sort=-totalCost&limit=50"),
                ("traces by tag", "/api/tally/v1/traces?tags=copilot&limit=50"),
            ]
            for name, path in queries:
                t = time.perf_counter()
                status, body = server.call("GET", path)
                elapsed = time.perf_counter() - t
                if name == "traces by tag" and status == 200:
                    cursor = json.loads(body).get("nextCursor")
                    if cursor:
                        t2 = time.perf_counter()
                        status, _ = server.call("GET", f"/api/tally/v1/traces?tags=copilot&limit=50&cursor={cursor}")
                        with lock:
                            reads.append((time.time(), "next page by cursor", time.perf_counter() - t2, status))
                with lock:
                    reads.append((time.time(), name, elapsed, status))
            time.sleep(0.2)

    threads = [threading.Thread(target=ingest) for _ in range(4)] + [threading.Thread(target=read) for _ in range(2)]
    for t in threads:
        t.start()
    started = last = time.time()
    last_acked = 0
    names = ["top tenants 24h", "traces by cost", "traces by tag", "next page by cursor"]
    print("   s   spans acked  spans/s  RSS MiB  peak MiB  WAL MiB  " + "  ".join(f"{n} p50/p99 ms" for n in names))
    try:
        while time.time() - started < args.seconds:
            time.sleep(1)
            if time.time() - last < 30:
                continue
            now = time.time()
            rss, hwm, _ = proc_stats(server.proc.pid)
            walf = Path(f"{tmp}/rel.db-wal")
            with lock:
                window = [r for r in reads if r[0] >= last]
                total = acked[0]
            cells = []
            for n in names:
                d = [e for _, name, e, st in window if name == n and st == 200]
                cells.append(f"{1000 * percentile(d, 50):7.1f}/{1000 * percentile(d, 99):7.1f}".rjust(len(n) + 12))
            print(f"{now - started:5.0f} {total:12d} {(total - last_acked) / (now - last):8.0f} {rss:8.0f} {hwm:9.0f} "
                  f"{(walf.stat().st_size if walf.exists() else 0) / 2**20:8.1f}  " + "  ".join(cells), flush=True)
            last, last_acked = now, total
    finally:
        stop.set()
        for t in threads:
            t.join()
        server.stop()
    bad = sum(1 for r in reads if r[3] != 200)
    print(f"\n{args.seconds} s: {acked[0]} spans acknowledged, {errors[0]} ingest requests not 200, "
          f"{len(reads)} reads ({bad} not 200)")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("scenario", choices=["wal", "kill", "pattern", "fuzz", "soak"])
    ap.add_argument("--binary", default=os.environ.get("TALLY_BIN", str(ROOT / ".build/release/tally")))
    ap.add_argument("--seconds", type=int, default=600)
    ap.add_argument("--trials", type=int, default=10)
    ap.add_argument("--models", type=int, default=2000)
    ap.add_argument("--requests", type=int, default=2000)
    args = ap.parse_args()
    {"wal": wal, "kill": kill, "pattern": pattern, "fuzz": fuzz, "soak": soak}[args.scenario](args)


if __name__ == "__main__":
    main()
