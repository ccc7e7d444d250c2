#!/usr/bin/env python3
"""OTLP ingest benchmark: prints figures, never passes or fails.

Starts `tally serve` (the release binary by default) on a loopback port and a fresh database, then in one run:
  1. baseline: the same number of HTTP requests, same concurrency, to /api/public/health (HTTP + auth-free floor);
  2. OTLP: batches of realistic LLM spans (protobuf + gzip, 512 spans a request as the Langfuse v5 SDK flushes),
     timed until the last response (a 200 means committed) and until the spans are countable through the API;
  3. batch API: the same spans as Langfuse ingestion events (JSON), for comparison of the two protocols.
Reports spans/s accepted and queryable, the server's RSS and CPU seconds per 1k spans, and ratios between the
phases. Loops are bounded by --requests; traffic goes to 127.0.0.1 only.

Run with the v5 test venv (it has opentelemetry-proto):
  .venv-e2e-v5/bin/python bench/otlp_ingest.py [--requests 100] [--spans-per-request 512] [--concurrency 4]
"""
import argparse
import base64
import gzip
import json
import os
import random
import socket
import subprocess
import tempfile
import time
import urllib.request
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
    """One request: a root span, a retrieval, a generation with messages and usage, a tool call."""
    trace_id = rng.randbytes(16)
    root_id = rng.randbytes(8)
    tenant = rng.choice(TENANTS)
    feature = rng.choice(FEATURES)
    common = [kv("user.id", f"user-{rng.randrange(500)}"), kv("session.id", f"sess-{rng.randrange(2000)}"),
              kv("langfuse.trace.metadata.tenantId", tenant), kv("langfuse.trace.metadata.feature", feature),
              kv("langfuse.trace.tags", [feature, f"tenant:{tenant}"])]
    spans = []

    def span(name, parent, start, dur_ms, attrs):
        s = trace_pb2.Span(trace_id=trace_id, span_id=rng.randbytes(8) if parent else root_id, name=name,
                           kind=trace_pb2.Span.SPAN_KIND_INTERNAL, start_time_unix_nano=start,
                           end_time_unix_nano=start + dur_ms * 1_000_000)
        if parent:
            s.parent_span_id = parent
        s.attributes.extend(common + attrs)
        spans.append(s)

    span("handle-request", None, t0, 900, [kv("langfuse.trace.name", f"{feature}-request"),
                                           kv("langfuse.observation.input", json.dumps({"question": "How do I?"}))])
    span("retrieve", root_id, t0 + 5_000_000, 40, [kv("langfuse.observation.type", "retriever"),
                                                  kv("langfuse.observation.output", json.dumps({"hits": ["kb/1", "kb/2"]}))])
    messages = json.dumps([{"role": "system", "content": PROMPT}, {"role": "user", "content": "How do I rotate my key?"}])
    span("chat gpt-4.1-mini", root_id, t0 + 50_000_000, 700, [
        kv("gen_ai.operation.name", "chat"), kv("gen_ai.request.model", "gpt-4.1-mini"),
        kv("gen_ai.response.model", "gpt-4.1-mini-2025-04-14"), kv("gen_ai.usage.input_tokens", rng.randrange(200, 5000)),
        kv("gen_ai.usage.output_tokens", rng.randrange(20, 800)), kv("gen_ai.request.temperature", 0.2),
        kv("gen_ai.input.messages", messages),
        kv("gen_ai.output.messages", json.dumps([{"role": "assistant", "content": "Go to Settings."}]))])
    span("execute_tool lookup", root_id, t0 + 760_000_000, 30, [
        kv("gen_ai.operation.name", "execute_tool"), kv("gen_ai.tool.name", "lookup"),
        kv("gen_ai.tool.call.arguments", json.dumps({"id": 42}))])
    return spans, trace_id.hex()


def make_requests(n_requests, spans_per_request, seed=7):
    rng = random.Random(seed)
    t0 = time.time_ns() - 3600 * 10**9
    bodies, last_trace = [], None
    for r in range(n_requests):
        req = trace_service_pb2.ExportTraceServiceRequest()
        rs = req.resource_spans.add()
        rs.resource.attributes.extend([kv("service.name", "bench"), kv("deployment.environment.name", "production")])
        ss = rs.scope_spans.add()
        ss.scope.name = "bench"
        while len(ss.spans) < spans_per_request:
            spans, last_trace = make_trace(rng, t0 + r * 1_000_000_000 + len(ss.spans) * 1_000_000)
            ss.spans.extend(spans)
        bodies.append(req)
    return bodies, last_trace


def as_batch(req):
    """The same spans as Langfuse ingestion events (trace-create for roots, observation creates for the rest)."""
    events = []
    for rs in req.resource_spans:
        for ss in rs.scope_spans:
            for s in ss.spans:
                attrs = {a.key: a.value for a in s.attributes}
                ts = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(s.start_time_unix_nano / 1e9)) + ".000Z"
                end = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(s.end_time_unix_nano / 1e9)) + ".000Z"
                tid, sid = s.trace_id.hex(), s.span_id.hex()
                if not s.parent_span_id:
                    events.append({"id": f"t-{sid}", "type": "trace-create", "timestamp": ts, "body": {
                        "id": tid, "name": attrs["langfuse.trace.name"].string_value, "timestamp": ts,
                        "userId": attrs["user.id"].string_value, "sessionId": attrs["session.id"].string_value,
                        "metadata": {"tenantId": attrs["langfuse.trace.metadata.tenantId"].string_value,
                                     "feature": attrs["langfuse.trace.metadata.feature"].string_value},
                        "tags": list(x.string_value for x in attrs["langfuse.trace.tags"].array_value.values)}})
                body = {"id": sid, "traceId": tid, "name": s.name, "startTime": ts, "endTime": end}
                if s.parent_span_id:
                    body["parentObservationId"] = s.parent_span_id.hex()
                kind = "span-create"
                if "gen_ai.request.model" in attrs:
                    kind = "generation-create"
                    body.update(model=attrs["gen_ai.request.model"].string_value,
                                input=json.loads(attrs["gen_ai.input.messages"].string_value),
                                usage={"input": attrs["gen_ai.usage.input_tokens"].int_value,
                                       "output": attrs["gen_ai.usage.output_tokens"].int_value})
                events.append({"id": f"o-{sid}", "type": kind, "timestamp": ts, "body": body})
    return json.dumps({"batch": events}).encode()


def post(url, body, content_type, encoding=None):
    req = urllib.request.Request(url, data=body, method="POST")
    req.add_header("Authorization", AUTH)
    req.add_header("Content-Type", content_type)
    if encoding:
        req.add_header("Content-Encoding", encoding)
    with urllib.request.urlopen(req, timeout=120) as r:
        r.read()
        return r.status


def get(url):
    req = urllib.request.Request(url)
    req.add_header("Authorization", AUTH)
    with urllib.request.urlopen(req, timeout=60) as r:
        return json.loads(r.read())


def proc_stats(pid):
    with open(f"/proc/{pid}/status") as f:
        status = dict(line.split(":", 1) for line in f if ":" in line)
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    cpu = (int(fields[11]) + int(fields[12])) / ticks
    return int(status["VmRSS"].split()[0]) / 1024, int(status["VmHWM"].split()[0]) / 1024, cpu


def run_phase(name, fn, items, concurrency):
    start = time.perf_counter()
    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        statuses = list(pool.map(fn, items))
    elapsed = time.perf_counter() - start
    bad = [s for s in statuses if not 200 <= s < 300]
    if bad:
        raise SystemExit(f"{name}: {len(bad)} requests failed: {bad[:5]}")
    return elapsed


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--requests", type=int, default=100)
    ap.add_argument("--spans-per-request", type=int, default=512)
    ap.add_argument("--concurrency", type=int, default=4)
    ap.add_argument("--binary", default=os.environ.get("TALLY_BIN", str(ROOT / ".build/release/tally")))
    args = ap.parse_args()

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    tmp = tempfile.mkdtemp(prefix="tally-bench-")
    env = dict(os.environ, LANGFUSE_INIT_PROJECT_ID="bench", LANGFUSE_INIT_PROJECT_PUBLIC_KEY=PK,
               LANGFUSE_INIT_PROJECT_SECRET_KEY=SK, TALLY_LOG_LEVEL="warning")
    server = subprocess.Popen([args.binary, "serve", "--port", str(port), "--db", f"{tmp}/bench.db"],
                              env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    print(f"server pid {server.pid}", flush=True)
    try:
        for _ in range(300):
            try:
                urllib.request.urlopen(base + "/api/public/health", timeout=1).read()
                break
            except OSError:
                time.sleep(0.1)
        print(f"binary {args.binary}\nbuilding {args.requests} requests × {args.spans_per_request} spans …")
        requests, _ = make_requests(args.requests, args.spans_per_request)
        proto_bodies = [gzip.compress(r.SerializeToString()) for r in requests]
        raw_bytes = sum(len(r.SerializeToString()) for r in requests)
        n_spans = sum(len(ss.spans) for r in requests for rs in r.resource_spans for ss in rs.scope_spans)
        print(f"{n_spans} spans, {raw_bytes / 1e6:.1f} MB protobuf ({sum(map(len, proto_bodies)) / 1e6:.1f} MB gzip)")

        t_health = run_phase("baseline", lambda _: urllib.request.urlopen(base + "/api/public/health").status,
                             range(args.requests), args.concurrency)
        rss0, _, cpu0 = proc_stats(server.pid)

        start = time.perf_counter()
        t_otlp = run_phase("otlp", lambda b: post(base + "/api/public/otel/v1/traces", b, "application/x-protobuf", "gzip"),
                           proto_bodies, args.concurrency)
        expected_traces = n_spans // 4
        while get(base + "/api/public/traces?limit=1")["meta"]["totalItems"] < expected_traces:
            if time.perf_counter() - start > 600:
                raise SystemExit("spans did not become queryable within 600 s")
            time.sleep(0.05)
        t_queryable = time.perf_counter() - start
        rss1, hwm1, cpu1 = proc_stats(server.pid)

        # The same spans through the Langfuse batch API (new ids so nothing is an upsert of the OTLP rows).
        batch_requests, _ = make_requests(args.requests, args.spans_per_request, seed=8)
        batch_bodies = [as_batch(r) for r in batch_requests]
        t_batch = run_phase("batch", lambda b: post(base + "/api/public/ingestion", b, "application/json"),
                            batch_bodies, args.concurrency)
        rss2, hwm2, cpu2 = proc_stats(server.pid)
        db_mb = sum(f.stat().st_size for f in Path(tmp).glob("bench.db*")) / 1e6

        print("\nphase                        seconds   rate")
        print(f"baseline: health requests    {t_health:7.2f}   {args.requests / t_health:10.0f} req/s")
        print(f"OTLP protobuf+gzip accepted  {t_otlp:7.2f}   {n_spans / t_otlp:10.0f} spans/s")
        print(f"OTLP queryable (count)       {t_queryable:7.2f}   {n_spans / t_queryable:10.0f} spans/s")
        print(f"batch API JSON accepted      {t_batch:7.2f}   {n_spans / t_batch:10.0f} spans/s")
        print(f"\nratios: OTLP request time / health request time = {t_otlp / t_health:.1f}; "
              f"OTLP spans/s ÷ batch-API spans/s = {t_batch / t_otlp:.2f}")
        print(f"server CPU: {1000 * (cpu1 - cpu0) / n_spans:.3f} s per 1k spans (OTLP), "
              f"{1000 * (cpu2 - cpu1) / n_spans:.3f} s per 1k spans (batch API)")
        print(f"server RSS: {rss0:.0f} MB idle, {rss1:.0f} MB after OTLP (peak {hwm1:.0f}), "
              f"{rss2:.0f} MB after batch (peak {hwm2:.0f}); database {db_mb:.0f} MB for {2 * n_spans} spans")
    finally:
        server.terminate()
        server.wait(timeout=30)


if __name__ == "__main__":
    main()
