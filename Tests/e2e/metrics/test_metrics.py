"""Tally as a source for the team's monitoring stack: a real Prometheus (Debian's package) scraping /metrics with
basic_auth, an OTLP/HTTP metrics receiver on loopback decoding the push with the OpenTelemetry protobuf classes, and
the structured call log, all checked against Tally's own analytics API after a workload sent through the langfuse
5.0.4 SDK (OTLP) and through the Langfuse batch API."""
import base64
import csv
import http.server
import io
import json
import shutil
import subprocess
import threading
import time
import urllib.parse
import urllib.request
import uuid
from pathlib import Path

import pytest
from langfuse import Langfuse, propagate_attributes
from langfuse._client.resource_manager import LangfuseResourceManager
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest

from conftest import PUBLIC_KEY, SECRET_KEY, TallyServer, free_port

WEIRD_TENANT = 'tenant "quoted"\nsecond line \\ ünïcode'


class OTLPReceiver:
    """An OTLP/HTTP metrics endpoint on loopback that keeps every decoded export with its headers."""

    def __init__(self):
        self.exports = []
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                request = ExportMetricsServiceRequest()
                request.ParseFromString(body)
                receiver.exports.append((dict(self.headers), request))
                self.send_response(200)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v1/metrics"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()


class Prometheus:
    """Debian's prometheus on a loopback port, scraping Tally every second with the project's keys (and once more
    with a wrong secret, which must be refused). Two collectors on PostgreSQL are scraped as README's "Scaling
    out" says: the llm_* series are the database's figures, the same on every collector, so they come from one
    (job tally); the tally_* series count each process's own work, so every other collector adds its own (job
    tally-peers, llm_* dropped)."""

    def __init__(self, tally, tmp_path):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        target = f"127.0.0.1:{tally.processes[0].port}"
        peers = ", ".join(f'"127.0.0.1:{p.port}"' for p in tally.processes[1:])
        config = tmp_path / "prometheus.yml"
        config.write_text(f"""
global:
  scrape_interval: 1s
  scrape_timeout: 900ms
scrape_configs:
  - job_name: tally
    metrics_path: /metrics
    basic_auth: {{username: {PUBLIC_KEY}, password: {SECRET_KEY}}}
    static_configs: [{{targets: ["{target}"]}}]
  - job_name: tally-wrong-key
    metrics_path: /metrics
    basic_auth: {{username: {PUBLIC_KEY}, password: not-the-secret}}
    static_configs: [{{targets: ["{target}"]}}]
  - job_name: tally-peers
    metrics_path: /metrics
    basic_auth: {{username: {PUBLIC_KEY}, password: {SECRET_KEY}}}
    static_configs: [{{targets: [{peers}]}}]
    metric_relabel_configs: [{{source_labels: [__name__], regex: "llm_.*", action: drop}}]
""")
        self.log = open(tmp_path / "prometheus.log", "wb")
        self.proc = subprocess.Popen(
            [shutil.which("prometheus") or "/usr/bin/prometheus", f"--config.file={config}",
             f"--storage.tsdb.path={tmp_path / 'prometheus-data'}", f"--web.listen-address=127.0.0.1:{self.port}"],
            stdout=self.log, stderr=subprocess.STDOUT)
        self.wait(lambda: self.query('up{job="tally"}') == [({"__name__": "up", "instance": target, "job": "tally"}, 1.0)],
                  "Prometheus scraping Tally")

    def query(self, promql):
        try:
            with urllib.request.urlopen(f"{self.url}/api/v1/query?query={urllib.parse.quote(promql)}", timeout=5) as r:
                body = json.loads(r.read())
        except OSError:
            return None
        assert body["status"] == "success", body
        return sorted(((s["metric"], float(s["value"][1])) for s in body["data"]["result"]),
                      key=lambda x: sorted(x[0].items()))

    def wait(self, ready, what, seconds=60):
        deadline = time.time() + seconds
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"prometheus exited: {Path(self.log.name).read_text()[-2000:]}")
            if ready():
                return
            time.sleep(0.25)
        raise AssertionError(f"timed out waiting for {what}")

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()


@pytest.fixture
def stack(tmp_path):
    receiver = OTLPReceiver()
    call_log = tmp_path / "calls.log"
    server = TallyServer(str(tmp_path / "tally.db"), free_port(), extra_env={
        "TALLY_CALL_LOG": str(call_log),
        "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT": receiver.url,
        "OTEL_EXPORTER_OTLP_METRICS_HEADERS": "x-api-key=secret%20one,x-team=llm",
        "TALLY_OTLP_METRICS_INTERVAL": "1",
    })
    server.start()
    prometheus = Prometheus(server, tmp_path)
    yield server, prometheus, receiver, call_log
    prometheus.stop()
    server.close()
    receiver.close()


def run_workload(tally):
    """Generations for four tenants through two paths: the langfuse 5.0.4 SDK (OTLP) and the Langfuse batch API.
    Returns the number of generations sent."""
    LangfuseResourceManager.reset()
    lf = Langfuse(public_key=PUBLIC_KEY, secret_key=SECRET_KEY, base_url=tally.url, flush_at=100, flush_interval=0.5,
                  environment="production")
    run = uuid.uuid4().hex[:8]
    calls = 0
    for tenant, feature, model, usage, cost in [
        ("acme", "copilot", "gpt-4.1-mini", {"input": 4200, "output": 380, "cache_read_input_tokens": 1000}, 0.002288),
        ("acme", "search", "gpt-4.1-mini", {"input": 800, "output": 120}, None),
        ("globex", "copilot", "gpt-4o", {"input": 1500, "output": 300, "output_reasoning_tokens": 120}, None),
        (WEIRD_TENANT, "copilot", "gpt-4o", {"input": 10, "output": 5}, None),
    ]:
        with lf.start_as_current_observation(as_type="span", name="request",
                                             trace_context={"trace_id": Langfuse.create_trace_id(seed=f"{tenant}-{feature}-{run}")}):
            with propagate_attributes(metadata={"tenantId": tenant, "feature": feature}):
                with lf.start_as_current_observation(as_type="generation", name="llm", model=model) as gen:
                    gen.update(output="ok", usage_details=usage, **({"cost_details": {"total": cost}} if cost else {}))
                    calls += 1
    lf.flush()
    lf.shutdown()

    second = time.gmtime()
    now = time.strftime("%Y-%m-%dT%H:%M:%S.000Z", second)
    later = time.strftime("%Y-%m-%dT%H:%M:%S.750Z", second)
    batch = []
    for i, level in enumerate(["DEFAULT", "DEFAULT", "ERROR"]):
        trace_id, gen_id = f"batch-{run}-{i}", f"batch-gen-{run}-{i}"
        batch.append({"id": f"t{i}-{run}", "type": "trace-create", "timestamp": now,
                      "body": {"id": trace_id, "metadata": {"tenantId": "initech", "feature": "summarize"}}})
        batch.append({"id": f"g{i}-{run}", "type": "generation-create", "timestamp": now,
                      "body": {"id": gen_id, "traceId": trace_id, "model": "claude-sonnet-4-5", "level": level,
                               "startTime": now, "endTime": later,
                               "usageDetails": {"input": 2000, "output": 400, "cache_creation_input_tokens": 500}}})
        calls += 1
    status, body = tally.request("POST", "/api/public/ingestion", {"batch": batch})
    assert status == 207 and not body["errors"], body
    return calls


def analytics(tally):
    status, body = tally.get("/api/tally/v1/breakdown?groupBy=tenant&metrics=inputTokens,outputTokens,totalCost")
    assert status == 200, body
    return {r["tenant"]: r for r in body["data"]}


def test_prometheus_otlp_push_and_call_log_agree_with_the_analytics(stack):
    tally, prometheus, receiver, call_log = stack
    calls = run_workload(tally)
    expected = analytics(tally)
    assert set(expected) == {"acme", "globex", "initech", WEIRD_TENANT}

    # Prometheus: wait for a scrape that saw every call, then compare per tenant.
    prometheus.wait(lambda: (prometheus.query("sum(llm_requests_total)") or [({}, 0)])[0][1] == calls,
                    "a scrape with every call")
    cost = {m["tenant_id"]: v for m, v in prometheus.query("sum by (tenant_id) (llm_cost_usd_total)")}
    assert set(cost) == set(expected)
    for tenant, row in expected.items():
        assert abs(cost[tenant] - row["totalCost"]) <= 1e-9, (tenant, cost[tenant], row["totalCost"])
    tokens = {(m["tenant_id"], m["token_type"]): v
              for m, v in prometheus.query("sum by (tenant_id, token_type) (llm_tokens_total)")}
    for tenant, row in expected.items():
        assert tokens[(tenant, "input")] == row["inputTokens"]
        assert tokens[(tenant, "output")] == row["outputTokens"]
    assert tokens[("acme", "cache_read")] == 1000
    assert tokens[("globex", "reasoning")] == 120
    assert tokens[("initech", "cache_write")] == 1500
    errors = prometheus.query('sum by (tenant_id) (llm_requests_total{outcome="error"})')
    assert errors == [({"tenant_id": "initech"}, 1.0)]
    histogram = prometheus.query('sum(llm_request_duration_seconds_count{model="claude-sonnet-4-5"})')
    assert histogram[0][1] == 3
    assert prometheus.query('sum(llm_request_duration_seconds_bucket{model="claude-sonnet-4-5",le="0.5"})')[0][1] == 0
    assert prometheus.query('sum(llm_request_duration_seconds_bucket{model="claude-sonnet-4-5",le="1.0"})')[0][1] == 3
    # Tally's own health series came through the same scrape.
    assert prometheus.query('sum(tally_ingest_events_total{result="stored"})')[0][1] > 0
    # Counted when the response is done, a moment after the commit the llm_* series saw.
    prometheus.wait(
        lambda: (prometheus.query('sum(tally_http_requests_total{route="/api/public/ingestion"})') or [({}, 0)])[0][1]
        >= 1, "the ingestion request's count")
    assert prometheus.query("tally_database_bytes")
    # The wrong key's scrape is refused (401 → target down), and says so directly too.
    assert prometheus.query('up{job="tally-wrong-key"}')[0][1] == 0
    assert tally.request("GET", "/metrics", auth=(PUBLIC_KEY, "nope"))[0] == 401

    # The 0.0.4 text format parses with promtool (Prometheus scraped OpenMetrics above).
    req = urllib.request.Request(tally.url + "/metrics", headers={
        "Authorization": "Basic " + base64.b64encode(f"{PUBLIC_KEY}:{SECRET_KEY}".encode()).decode()})
    with urllib.request.urlopen(req, timeout=10) as r:
        assert r.headers["Content-Type"].startswith("text/plain; version=0.0.4")
        text = r.read()
    lint = subprocess.run(["promtool", "check", "metrics"], input=text, capture_output=True)
    assert lint.returncode == 0, lint.stdout + lint.stderr

    # OTLP push: a later export carries every call; same money and tokens per tenant.
    deadline = time.time() + 30
    while time.time() < deadline:
        if receiver.exports:
            headers, export = receiver.exports[-1]
            points = {m.name: m for rm in export.resource_metrics for sm in rm.scope_metrics for m in sm.metrics}
            if sum(p.as_int for p in points["llm.requests"].sum.data_points) == calls:
                break
        time.sleep(0.2)
    else:
        raise AssertionError(f"no push with {calls} calls: {len(receiver.exports)} exports")
    assert headers.get("x-api-key") == "secret one" and headers.get("x-team") == "llm"
    assert headers.get("Content-Type") == "application/x-protobuf"
    resource = {a.key: a.value.string_value for a in export.resource_metrics[0].resource.attributes}
    assert resource["tally.project.id"] == "e2e-project" and resource["service.name"] == "tally"

    def by_tenant(metric, token_type=None):
        out = {}
        for p in points[metric].sum.data_points:
            attrs = {a.key: a.value.string_value for a in p.attributes}
            if token_type and attrs["gen_ai.token.type"] != token_type:
                continue
            out[attrs["tenant.id"]] = out.get(attrs["tenant.id"], 0) + (p.as_int if p.HasField("as_int") else p.as_double)
        return out

    assert points["llm.cost_usd"].sum.aggregation_temporality == 2 and points["llm.cost_usd"].sum.is_monotonic
    pushed_cost = by_tenant("llm.cost_usd")
    for tenant, row in expected.items():
        assert abs(pushed_cost[tenant] - row["totalCost"]) <= 1e-9
        assert by_tenant("llm.tokens", "input")[tenant] == row["inputTokens"]
        assert by_tenant("llm.tokens", "output")[tenant] == row["outputTokens"]
    duration = points["llm.request.duration"].histogram
    assert sum(p.count for p in duration.data_points) == calls
    assert list(duration.data_points[0].explicit_bounds)[:3] == [0.1, 0.25, 0.5]

    # Call log: one line per generation, with the fixed fields.
    lines = [json.loads(line) for line in call_log.read_text().splitlines()]
    assert len({line["observation_id"] for line in lines}) == calls
    assert {line["tenant_id"] for line in lines} == set(expected)
    initech = [line for line in lines if line["tenant_id"] == "initech"]
    assert sorted(line["outcome"] for line in initech) == ["error", "success", "success"]
    assert all(line["latency_ms"] == 750 for line in initech)

    # The billing export (CSV, errors included) carries the same money per tenant, as exact decimals.
    req = urllib.request.Request(tally.url + "/api/tally/v1/exports/usage?groupBy=tenant&format=csv&includeErrors=true",
                                 headers={"Authorization": "Basic " + base64.b64encode(f"{PUBLIC_KEY}:{SECRET_KEY}".encode()).decode()})
    with urllib.request.urlopen(req, timeout=10) as r:
        assert r.headers["Content-Disposition"].startswith('attachment; filename="tally-usage-e2e-project')
        rows = list(csv.DictReader(io.StringIO(r.read().decode())))
    exported = {row["tenant"]: row for row in rows}
    assert set(exported) == set(expected)
    for tenant, row in expected.items():
        assert abs(float(exported[tenant]["costUsd"]) - row["totalCost"]) <= 1e-9
        assert int(exported[tenant]["inputTokens"]) == row["inputTokens"]
        assert int(exported[tenant]["outputTokens"]) == row["outputTokens"]
    assert exported["initech"]["errorCalls"] == "1" and exported["initech"]["calls"] == "3"


def test_tenants_beyond_the_limit_are_summed_as_other(tmp_path):
    server = TallyServer(str(tmp_path / "tally.db"), free_port(), extra_env={"TALLY_METRICS_MAX_TENANTS": "2"})
    server.start()
    prometheus = Prometheus(server, tmp_path)
    try:
        calls = run_workload(server)
        expected = analytics(server)
        prometheus.wait(lambda: (prometheus.query("sum(llm_requests_total)") or [({}, 0)])[0][1] == calls,
                        "a scrape with every call")
        cost = {m["tenant_id"]: v for m, v in prometheus.query("sum by (tenant_id) (llm_cost_usd_total)")}
        # The two tenants with most spend this month keep their series; the other two are summed.
        top = sorted(expected, key=lambda t: -expected[t]["totalCost"])[:2]
        assert set(cost) == set(top) | {"other"}
        assert abs(sum(cost.values()) - sum(r["totalCost"] for r in expected.values())) <= 1e-9
    finally:
        prometheus.stop()
        server.close()
