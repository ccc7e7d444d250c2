#!/usr/bin/env python3
"""Ingest benchmark: prints figures, never passes or fails.

For every cell of the matrix (protocol × clients × spans per request × compression) it starts `tally serve` (the
release binary by default) on a loopback port with a fresh database, then:
  1. baseline: as many /api/public/health requests as the cell sends, at the same concurrency (the HTTP floor);
  2. sends the same realistic LLM spans (root span, retrieval, generation with messages and usage, tool call;
     ~600 B each on the wire) as OTLP protobuf or as Langfuse batch JSON (the same fields), gzip or plain, timed
     until the last response (a 200/207 means committed);
  3. checks every span is stored (the observation count through the public API) and times how long until the last
     trace reads back whole (its observations through GET /api/public/traces/{id}) — it should be at once;
  4. stops the server gracefully (its last checkpoint empties the WAL) and measures the database file.
Reports spans/s, server CPU-seconds per 1k spans, peak RSS (VmHWM), database bytes per 1k spans and the ratio to
the health baseline; with --repeat N, the median of N runs per cell. Loops are bounded; traffic stays on 127.0.0.1.

With --stores sqlite,pg1,pg2 and --postgres URL (a server the benchmark may create databases on) each cell also
runs on PostgreSQL with one and with two `tally serve` collectors on a fresh database, the clients' requests
alternating between the collectors: "cpu s/1k" is then per collector (their sum / their count) and "pg s/1k" is
PostgreSQL's own CPU (every postgres process of the server) per 1k spans.

With --sinks none,lago each cell also runs with a Lago export sink (pushing every second, no settle delay) to a
loopback receiver that takes every batch: the change-log triggers and the push service run during the ingest, and
"drain s" is the time from the last acknowledged request until the sink has pushed every generation.

Run with the v5 test venv (it has opentelemetry-proto):
  .venv-e2e-v5/bin/python bench/otlp_ingest.py [--spans 102400] [--clients 4,16] [--spans-per-request 100,512]
      [--compression gzip,plain] [--protocols otlp,batch] [--sinks none,lago] [--repeat 3]
      [--stores sqlite,pg1,pg2 --postgres postgres://user@127.0.0.1:5432/postgres]
"""
import argparse
import base64
import gzip
import http.server
import json
import os
import random
import signal
import socket
import statistics
import subprocess
import tempfile
import threading
import time
import urllib.parse
import urllib.request
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from opentelemetry.proto.collector.trace.v1 import trace_service_pb2
from opentelemetry.proto.common.v1 import common_pb2
from opentelemetry.proto.trace.v1 import trace_pb2

ROOT = Path(__file__).resolve().parents[1]
PK, SK = "pk-lf-bench", "sk-lf-bench"
AUTH = "Basic " + base64.b64encode(f"{PK}:{SK}".encode()).decode()
TENANTS = [f"tenant-{i}" for i in range(20)]
FEATURES = ["copilot", "search", "summarize", "classify"]
PROMPT = "You are a helpful support assistant. " * 12
SPANS_PER_TRACE = 4


def kv(key, value):
    v = common_pb2.AnyValue()
    if isinstance(value, bool):
        v.bool_value = value
    elif isinstance(value, int):
        v.int_value = value
    elif isinstance(value, float):
        v.double_value = value
    elif isinstance(value, list):
        v.array_value.values.extend(common_pb2.AnyValue(string_value=x) for x in value)
    else:
        v.string_value = value
    return common_pb2.KeyValue(key=key, value=v)


def make_trace(rng, t0):
    """One request as plain data: a root span, a retrieval, a generation with messages and usage, a tool call."""
    trace_id = rng.randbytes(16).hex()
    root_id = rng.randbytes(8).hex()
    tenant, feature = rng.choice(TENANTS), rng.choice(FEATURES)
    trace = {"id": trace_id, "name": f"{feature}-request", "user": f"user-{rng.randrange(500)}",
             "session": f"sess-{rng.randrange(2000)}", "tenant": tenant, "feature": feature,
             "tags": [feature, f"tenant:{tenant}"]}
    messages = [{"role": "system", "content": PROMPT}, {"role": "user", "content": "How do I rotate my key?"}]
    spans = [
        {"id": root_id, "parent": None, "name": "handle-request", "kind": "span", "start": t0, "ms": 900,
         "input": {"question": "How do I?"}},
        {"id": rng.randbytes(8).hex(), "parent": root_id, "name": "retrieve", "kind": "retriever",
         "start": t0 + 5_000_000, "ms": 40, "output": {"hits": ["kb/1", "kb/2"]}},
        {"id": rng.randbytes(8).hex(), "parent": root_id, "name": "chat gpt-4.1-mini", "kind": "generation",
         "start": t0 + 50_000_000, "ms": 700, "model": "gpt-4.1-mini", "response_model": "gpt-4.1-mini-2025-04-14",
         "input": messages, "output": [{"role": "assistant", "content": "Go to Settings."}],
         "usage": {"input": rng.randrange(200, 5000), "output": rng.randrange(20, 800)}, "temperature": 0.2},
        {"id": rng.randbytes(8).hex(), "parent": root_id, "name": "execute_tool lookup", "kind": "tool",
         "start": t0 + 760_000_000, "ms": 30, "input": {"id": 42}},
    ]
    return trace, spans


def make_traces(n_spans, seed):
    rng = random.Random(seed)
    t0 = time.time_ns() - 3600 * 10**9
    return [make_trace(rng, t0 + i * 1_000_000) for i in range(n_spans // SPANS_PER_TRACE)]


def otlp_body(traces):
    req = trace_service_pb2.ExportTraceServiceRequest()
    rs = req.resource_spans.add()
    rs.resource.attributes.extend([kv("service.name", "bench"), kv("deployment.environment.name", "production")])
    ss = rs.scope_spans.add()
    ss.scope.name = "bench"
    for trace, spans in traces:
        common = [kv("user.id", trace["user"]), kv("session.id", trace["session"]),
                  kv("langfuse.trace.metadata.tenantId", trace["tenant"]),
                  kv("langfuse.trace.metadata.feature", trace["feature"]), kv("langfuse.trace.tags", trace["tags"])]
        for sp in spans:
            s = ss.spans.add(trace_id=bytes.fromhex(trace["id"]), span_id=bytes.fromhex(sp["id"]), name=sp["name"],
                             kind=trace_pb2.Span.SPAN_KIND_INTERNAL, start_time_unix_nano=sp["start"],
                             end_time_unix_nano=sp["start"] + sp["ms"] * 1_000_000)
            if sp["parent"]:
                s.parent_span_id = bytes.fromhex(sp["parent"])
            attrs = list(common)
            if not sp["parent"]:
                attrs.append(kv("langfuse.trace.name", trace["name"]))
            if sp["kind"] == "generation":
                attrs += [kv("gen_ai.operation.name", "chat"), kv("gen_ai.request.model", sp["model"]),
                          kv("gen_ai.response.model", sp["response_model"]),
                          kv("gen_ai.usage.input_tokens", sp["usage"]["input"]),
                          kv("gen_ai.usage.output_tokens", sp["usage"]["output"]),
                          kv("gen_ai.request.temperature", sp["temperature"]),
                          kv("gen_ai.input.messages", json.dumps(sp["input"])),
                          kv("gen_ai.output.messages", json.dumps(sp["output"]))]
            elif sp["kind"] == "tool":
                attrs += [kv("gen_ai.operation.name", "execute_tool"), kv("gen_ai.tool.name", "lookup"),
                          kv("gen_ai.tool.call.arguments", json.dumps(sp["input"]))]
            else:
                if sp["kind"] != "span":
                    attrs.append(kv("langfuse.observation.type", sp["kind"]))
                for key in ("input", "output"):
                    if key in sp:
                        attrs.append(kv(f"langfuse.observation.{key}", json.dumps(sp[key])))
            s.attributes.extend(attrs)
    return req.SerializeToString()


def iso(ns):
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ns / 1e9)) + ".%06dZ" % (ns // 1000 % 1_000_000)


def batch_body(traces):
    """The same spans as Langfuse ingestion events: a trace-create per trace, an observation create per span."""
    events = []
    for trace, spans in traces:
        ts = iso(spans[0]["start"])
        events.append({"id": f"t-{trace['id']}", "type": "trace-create", "timestamp": ts, "body": {
            "id": trace["id"], "name": trace["name"], "timestamp": ts, "userId": trace["user"],
            "sessionId": trace["session"], "environment": "production", "tags": trace["tags"],
            "metadata": {"tenantId": trace["tenant"], "feature": trace["feature"]}}})
        for sp in spans:
            body = {"id": sp["id"], "traceId": trace["id"], "name": sp["name"], "startTime": iso(sp["start"]),
                    "endTime": iso(sp["start"] + sp["ms"] * 1_000_000), "environment": "production",
                    "metadata": {"resourceAttributes": {"service.name": "bench"}}}
            if sp["parent"]:
                body["parentObservationId"] = sp["parent"]
            for key in ("input", "output"):
                if key in sp:
                    body[key] = sp[key]
            kind = sp["kind"] + "-create"  # span-, generation-, retriever-, tool-create
            if sp["kind"] == "generation":
                body.update(model=sp["model"], usageDetails=sp["usage"],
                            modelParameters={"temperature": sp["temperature"]})
            events.append({"id": f"o-{sp['id']}", "type": kind, "timestamp": iso(sp["start"]), "body": body})
    return json.dumps({"batch": events}).encode()


def request(url, body=None, content_type=None, encoding=None):
    req = urllib.request.Request(url, data=body, method="POST" if body is not None else "GET")
    req.add_header("Authorization", AUTH)
    if content_type:
        req.add_header("Content-Type", content_type)
    if encoding:
        req.add_header("Content-Encoding", encoding)
    for attempt in range(50):
        try:
            with urllib.request.urlopen(req, timeout=120) as r:
                data = r.read()
                return r.status, data
        except urllib.error.HTTPError as e:
            if e.code != 503:
                raise
            time.sleep(float(e.headers.get("Retry-After", "1")))  # overloaded: retry as the SDKs do
    raise SystemExit("still 503 after 50 attempts")


def make_requests(n_requests, spans_per_request, seed=7):
    """OTLP requests of these spans (for bench/reliability.py) and the last trace id."""
    traces = make_traces(n_requests * spans_per_request, seed)
    per = spans_per_request // SPANS_PER_TRACE
    requests = []
    for i in range(0, len(traces), per):
        req = trace_service_pb2.ExportTraceServiceRequest()
        req.ParseFromString(otlp_body(traces[i:i + per]))
        requests.append(req)
    return requests, traces[-1][0]["id"]


def proc_stats(pid):
    """RSS and peak RSS (VmHWM) in MB, and CPU seconds (user + system) of process `pid`."""
    with open(f"/proc/{pid}/status") as f:
        status = dict(line.split(":", 1) for line in f if ":" in line)
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    cpu = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return int(status["VmRSS"].split()[0]) / 1024, int(status["VmHWM"].split()[0]) / 1024, cpu


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Receiver:
    """A Lago events endpoint on loopback that takes every batch and counts the events."""

    def __init__(self):
        self.events = 0
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                receiver.events += len(body["events"])
                self.send_response(200)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"{}")

            def log_message(self, *a):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()


def postgres_cpu():
    """CPU seconds (user + system) of every process named postgres, by pid."""
    out = {}
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/stat") as f:
                text = f.read()
        except OSError:
            continue
        if "(postgres)" in text:
            fields = text.rsplit(")", 1)[1].split()
            out[pid] = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return out


def psql(url, sql):
    return subprocess.run(["psql", url, "-qAt", "-c", sql], check=True, capture_output=True, text=True).stdout.strip()


def start_server(args, port, db, env):
    server = subprocess.Popen([args.binary, "serve", "--port", str(port), "--db", db],
                              env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(600):
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/api/public/health", timeout=1).read()
            return server
        except OSError:
            time.sleep(0.1)
    raise SystemExit("tally did not start")


def run_cell(args, protocol, clients, per_request, compression, traces, sink="none", store="sqlite"):
    tmp = tempfile.mkdtemp(prefix="tally-bench-")
    env = dict(os.environ, LANGFUSE_INIT_PROJECT_ID="bench", LANGFUSE_INIT_PROJECT_PUBLIC_KEY=PK,
               LANGFUSE_INIT_PROJECT_SECRET_KEY=SK, TALLY_LOG_LEVEL="warning")
    database, db = None, f"{tmp}/bench.db"
    if store != "sqlite":
        if not args.postgres:
            raise SystemExit("--stores pg1/pg2 needs --postgres URL")
        database = "tally_bench_" + uuid.uuid4().hex
        psql(args.postgres, f"CREATE DATABASE {database}")
        db = urllib.parse.urlunsplit(urllib.parse.urlsplit(args.postgres)._replace(path="/" + database))
    ports = [free_port() for _ in range(1 if store == "sqlite" else int(store[2:]))]
    servers = []
    bases = [f"http://127.0.0.1:{port}" for port in ports]
    base = bases[0]
    try:
        for port in ports:
            servers.append(start_server(args, port, db, env))
        receiver = None
        if sink == "lago":
            receiver = Receiver()
            req = urllib.request.Request(
                base + "/api/tally/v1/exports/sinks/bench", method="PUT",
                data=json.dumps({"type": "lago", "url": receiver.url, "intervalSeconds": 1, "settleSeconds": 0}).encode())
            req.add_header("Authorization", AUTH)
            req.add_header("Content-Type", "application/json")
            urllib.request.urlopen(req, timeout=10).read()
        per_trace = per_request // SPANS_PER_TRACE
        chunks = [traces[i:i + per_trace] for i in range(0, len(traces), per_trace)]
        if protocol == "otlp":
            raw = [otlp_body(c) for c in chunks]
            path, ctype = "/api/public/otel/v1/traces", "application/x-protobuf"
        else:
            raw = [batch_body(c) for c in chunks]
            path, ctype = "/api/public/ingestion", "application/json"
        bodies = [gzip.compress(b, 6) for b in raw] if compression == "gzip" else raw
        encoding = "gzip" if compression == "gzip" else None
        n_spans = len(traces) * SPANS_PER_TRACE

        start = time.perf_counter()
        with ThreadPoolExecutor(max_workers=clients) as pool:
            list(pool.map(lambda _: urllib.request.urlopen(base + "/api/public/health").read(), range(len(bodies))))
        t_health = time.perf_counter() - start

        cpu0 = sum(proc_stats(s.pid)[2] for s in servers)
        pg0 = postgres_cpu() if database else {}
        start = time.perf_counter()
        with ThreadPoolExecutor(max_workers=clients) as pool:
            # Request i goes to collector i mod n (a load balancer's round robin).
            statuses = list(pool.map(
                lambda ib: request(bases[ib[0] % len(bases)] + path, ib[1], ctype, encoding)[0], enumerate(bodies)))
        t_ingest = time.perf_counter() - start
        cpu1 = sum(proc_stats(s.pid)[2] for s in servers)
        hwm = max(proc_stats(s.pid)[1] for s in servers)
        pg1 = postgres_cpu() if database else {}
        pg_cpu = sum(v - pg0.get(pid, 0.0) for pid, v in pg1.items())
        bad = [s for s in statuses if not 200 <= s < 300]
        if bad:
            raise SystemExit(f"{len(bad)} requests failed: {bad[:5]}")
        last = traces[-1][0]["id"]
        for _ in range(6000):
            _, data = request(f"{base}/api/public/traces/{last}")
            if len(json.loads(data).get("observations", [])) == SPANS_PER_TRACE:
                break
            time.sleep(0.01)
        t_queryable = time.perf_counter() - start
        _, data = request(base + "/api/public/observations?limit=1")
        stored = json.loads(data)["meta"]["totalItems"]
        if stored != n_spans:
            raise SystemExit(f"{stored} observations stored of {n_spans} acknowledged")
        t_drain = 0.0
        if receiver:
            generations = sum(1 for _, spans in traces for sp in spans if sp["kind"] == "generation")
            for _ in range(12000):
                if receiver.events >= generations:
                    break
                time.sleep(0.01)
            t_drain = time.perf_counter() - start - t_ingest
            if receiver.events < generations:
                raise SystemExit(f"the sink pushed {receiver.events} of {generations} generations")
            cpu1 = sum(proc_stats(s.pid)[2] for s in servers)  # the pushes' CPU counts too
            receiver.close()
    finally:
        for server in servers:
            server.send_signal(signal.SIGTERM)
        for server in servers:
            server.wait(timeout=60)
    if database:
        db_bytes = int(psql(args.postgres, f"SELECT pg_database_size('{database}')"))
        psql(args.postgres, f"DROP DATABASE {database}")
    else:
        db_bytes = sum(f.stat().st_size for f in Path(tmp).glob("bench.db*"))
    wire = sum(map(len, bodies))
    return {"spans/s": n_spans / t_ingest, "queryable s": t_queryable, "ingest s": t_ingest,
            "cpu s/1k": 1000 * (cpu1 - cpu0) / n_spans / len(servers), "hwm MB": hwm,
            "db MB/1k": db_bytes / 1e6 / (n_spans / 1000), "wire B/span": wire / n_spans,
            "vs health": t_ingest / t_health, "drain s": t_drain,
            "pg s/1k": 1000 * pg_cpu / n_spans if database else 0.0}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--spans", type=int, default=102_400, help="spans per cell")
    ap.add_argument("--clients", default="4,16")
    ap.add_argument("--spans-per-request", default="100,512")
    ap.add_argument("--compression", default="gzip,plain")
    ap.add_argument("--protocols", default="otlp,batch")
    ap.add_argument("--sinks", default="none", help="none and/or lago (an export sink pushing during the ingest)")
    ap.add_argument("--repeat", type=int, default=1)
    ap.add_argument("--stores", default="sqlite", help="sqlite, pg1 and/or pg2 (PostgreSQL, one or two collectors)")
    ap.add_argument("--postgres", help="postgres:// URL of a server to create the benchmark databases on")
    ap.add_argument("--binary", default=os.environ.get("TALLY_BIN", str(ROOT / ".build/release/tally")))
    args = ap.parse_args()
    traces = make_traces(args.spans, seed=7)
    print(f"binary {args.binary}; {len(traces) * SPANS_PER_TRACE} spans per cell; "
          f"load average {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f} {os.getloadavg()[2]:.2f}")
    print(f"{'protocol':8} {'clients':>7} {'spans/req':>9} {'comp':>5} {'sink':>5} {'store':>6} {'spans/s':>9} "
          f"{'cpu s/1k':>9} {'pg s/1k':>8} {'hwm MB':>7} {'db MB/1k':>9} {'B/span':>7} {'queryable s':>11} "
          f"{'×health':>8} {'drain s':>8}")
    for protocol in args.protocols.split(","):
        for clients in map(int, args.clients.split(",")):
            for per_request in map(int, args.spans_per_request.split(",")):
                for compression in args.compression.split(","):
                    for sink in args.sinks.split(","):
                        stores = args.stores.split(",")
                        # Runs alternate between the stores, so drift on a noisy machine hits each alike.
                        runs = {st: [] for st in stores}
                        for _ in range(args.repeat):
                            for st in stores:
                                runs[st].append(
                                    run_cell(args, protocol, clients, per_request, compression, traces, sink, st))
                        for st in stores:
                            m = {k: statistics.median(r[k] for r in runs[st]) for k in runs[st][0]}
                            print(f"{protocol:8} {clients:7} {per_request:9} {compression:>5} {sink:>5} {st:>6} "
                                  f"{m['spans/s']:9.0f} {m['cpu s/1k']:9.3f} {m['pg s/1k']:8.3f} {m['hwm MB']:7.0f} "
                                  f"{m['db MB/1k']:9.2f} {m['wire B/span']:7.0f} {m['queryable s']:11.2f} "
                                  f"{m['vs health']:8.1f} {m['drain s']:8.2f}", flush=True)
    print(f"load average after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
