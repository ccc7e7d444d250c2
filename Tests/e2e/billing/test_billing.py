"""Billing from Tally as a new user would set it up: a workload sent through the langfuse 5.0.4 SDK (OTLP) and the
Langfuse batch API, pushed to a fake Lago and a fake OpenMeter receiver on loopback that fail on purpose (503s,
answers slower than the sink's timeout) while Tally is SIGKILLed mid-push and restarted. Each receiver keeps events
by id (a duplicate id is dropped, as Lago and OpenMeter do); in the end both hold per-tenant totals equal to the
CSV usage export to the nano-dollar, every billable call once and nothing else."""
import csv
import http.server
import io
import json
import shutil
import subprocess
import threading
import time
import uuid
from decimal import Decimal

import pytest
from langfuse import Langfuse, propagate_attributes
from langfuse._client.resource_manager import LangfuseResourceManager

from conftest import PUBLIC_KEY, SECRET_KEY, TallyServer, free_port


class FakeBilling:
    """A Lago (`POST /api/v1/events/batch`) or OpenMeter (`POST /api/v1/events`) event endpoint. Until
    `fail_until` it answers 503; the first `hang` requests are taken but answered after `hang_seconds` (past the
    sink's timeout, so Tally sends them again)."""

    def __init__(self, kind, fail_seconds=0.0, hang=0, hang_seconds=2.5):
        self.kind = kind
        self.fail_until = time.time() + fail_seconds
        self.hang = hang
        self.hang_seconds = hang_seconds
        self.requests = []  # (headers, parsed body, status)
        self.events = {}
        self.duplicates = 0
        self.lock = threading.Lock()
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                status = receiver.take(self.path, dict(self.headers), body)
                payload = b'{"ok":true}' if status != 204 else b""
                try:
                    self.send_response(status)
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # Tally gave up on a slow answer (its timeout): the events were kept all the same

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def take(self, path, headers, body):
        expected = "/api/v1/events/batch" if self.kind == "lago" else "/api/v1/events"
        if path != expected:
            return 404
        if time.time() < self.fail_until:
            with self.lock:
                self.requests.append((headers, body, 503))
            return 503
        with self.lock:
            hang = self.hang > 0
            self.hang -= 1
        if hang:
            time.sleep(self.hang_seconds)
        items = body["events"] if self.kind == "lago" else body
        with self.lock:
            self.requests.append((headers, body, 200))
            for e in items:
                key = e["transaction_id"] if self.kind == "lago" else e["id"]
                if key in self.events:
                    self.duplicates += 1
                else:
                    self.events[key] = e
        return 200 if self.kind == "lago" else 204

    def totals(self, subjects_back=None):
        """Per tenant: cost (Decimal), input and output tokens, events."""
        out = {}
        with self.lock:
            events = list(self.events.values())
        for e in events:
            subject = e["external_subscription_id"] if self.kind == "lago" else e["subject"]
            tenant = (subjects_back or {}).get(subject, subject)
            fields = e["properties"] if self.kind == "lago" else e["data"]
            row = out.setdefault(tenant, {"cost": Decimal(0), "input": 0, "output": 0, "events": 0})
            row["cost"] += Decimal(fields["cost_usd"])
            row["input"] += fields["input_tokens"]
            row["output"] += fields["output_tokens"]
            row["events"] += 1
        return out

    def close(self):
        self.server.shutdown()


def wait(what, ready, seconds=90):
    deadline = time.time() + seconds
    while time.time() < deadline:
        if ready():
            return
        time.sleep(0.25)
    raise AssertionError(f"timed out waiting for {what}")


def sink(tally, name):
    status, body = tally.get(f"/api/tally/v1/exports/sinks/{name}")
    assert status == 200, body
    return body


def csv_export(tally):
    """The CSV usage export per tenant: cost (Decimal), tokens, calls."""
    req_status, text = raw_get(tally, "/api/tally/v1/exports/usage?groupBy=tenant&format=csv")
    assert req_status == 200
    rows = list(csv.DictReader(io.StringIO(text)))
    return {r["tenant"]: {"cost": Decimal(r["costUsd"]), "input": int(r["inputTokens"]), "output": int(r["outputTokens"]),
                          "calls": int(r["calls"])} for r in rows if int(r["calls"]) > 0}


def raw_get(tally, path):
    import base64
    import urllib.request
    req = urllib.request.Request(tally.url + path)
    req.add_header("Authorization", "Basic " + base64.b64encode(f"{PUBLIC_KEY}:{SECRET_KEY}".encode()).decode())
    with urllib.request.urlopen(req, timeout=30) as r:
        return r.status, r.read().decode()


def sdk_workload(tally, run):
    """Generations for three tenants (and one call without a tenant) through the langfuse 5.0.4 SDK."""
    LangfuseResourceManager.reset()
    lf = Langfuse(public_key=PUBLIC_KEY, secret_key=SECRET_KEY, base_url=tally.url, flush_at=50, flush_interval=0.5)
    calls = 0
    plan = [("acme", "copilot", "gpt-4.1-mini", {"input": 4200, "output": 380, "cache_read_input_tokens": 1000}),
            ("globex", "search", "gpt-4o", {"input": 1500, "output": 300}),
            ("initech", "copilot", "gpt-4o-mini", {"input": 800, "output": 120}),
            (None, "copilot", "gpt-4o-mini", {"input": 10, "output": 5})]
    for i in range(24):
        tenant, feature, model, usage = plan[i % len(plan)]
        metadata = {"feature": feature} | ({"tenantId": tenant} if tenant else {})
        with lf.start_as_current_observation(as_type="span", name="request",
                                             trace_context={"trace_id": Langfuse.create_trace_id(seed=f"{run}-{i}")}):
            with propagate_attributes(metadata=metadata):
                with lf.start_as_current_observation(as_type="generation", name="llm", model=model) as gen:
                    gen.update(output="ok", usage_details={k: v + i for k, v in usage.items()})
                    calls += 1
    lf.flush()
    lf.shutdown()
    return calls


def batch_workload(tally, run):
    """Generations for initech through the batch API, one of them an ERROR (not billed), each as a create and an
    update in separate requests (as the v2/v3 SDKs send them)."""
    now = time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime())
    ids = []
    for i, level in enumerate(["DEFAULT", "DEFAULT", "ERROR", "DEFAULT"]):
        trace_id, gen_id = f"bt-{run}-{i}", f"bg-{run}-{i}"
        ids.append(gen_id)
        status, body = tally.request("POST", "/api/public/ingestion", {"batch": [
            {"id": f"t{i}-{run}", "type": "trace-create", "timestamp": now,
             "body": {"id": trace_id, "metadata": {"tenantId": "initech", "feature": "summarize"}}},
            {"id": f"gc{i}-{run}", "type": "generation-create", "timestamp": now,
             "body": {"id": gen_id, "traceId": trace_id, "model": "claude-sonnet-4-5", "startTime": now}}]})
        assert status == 207 and not body["errors"], body
        status, body = tally.request("POST", "/api/public/ingestion", {"batch": [
            {"id": f"gu{i}-{run}", "type": "generation-update", "timestamp": now,
             "body": {"id": gen_id, "traceId": trace_id, "level": level, "endTime": now,
                      "usageDetails": {"input": 2000 + i, "output": 400, "cache_creation_input_tokens": 500}}}]})
        assert status == 207 and not body["errors"], body
    return ids


@pytest.fixture
def receivers():
    lago = FakeBilling("lago", fail_seconds=4)
    openmeter = FakeBilling("openmeter", hang=2)
    yield lago, openmeter
    lago.close()
    openmeter.close()


def test_lago_and_openmeter_totals_equal_the_csv_export_through_outages_and_a_sigkill(tmp_path, receivers):
    lago, openmeter = receivers
    tally = TallyServer(str(tmp_path / "tally.db"), free_port())
    tally.start()
    try:
        run = uuid.uuid4().hex[:8]
        status, body = tally.request("PUT", "/api/tally/v1/exports/sinks/lago", {
            "type": "lago", "url": lago.url, "apiKey": "lago-secret", "code": "llm_cost",
            "subjectMap": {"acme": "sub_acme"}, "intervalSeconds": 1, "settleSeconds": 2, "batchSize": 5,
            "timeoutSeconds": 1})
        assert status == 201 and body["hasApiKey"] and "apiKey" not in body, body
        status, body = tally.request("PUT", "/api/tally/v1/exports/sinks/openmeter", {
            "type": "openmeter", "url": openmeter.url, "eventType": "llm.cost", "intervalSeconds": 1,
            "settleSeconds": 2, "batchSize": 7, "timeoutSeconds": 1, "corrections": "delta"})
        assert status == 201, body

        calls = sdk_workload(tally, run)
        batch_ids = batch_workload(tally, run)
        # Lago is still refusing; OpenMeter hangs on its first requests. Kill Tally while they fail, restart it.
        wait("a failed push to each receiver", lambda: lago.requests and openmeter.hang < 2)
        tally.kill()
        tally.start()

        def drained():
            return all(sink(tally, n)["status"]["pendingChanges"] == 0 and sink(tally, n)["status"]["failedAttempts"] == 0
                       for n in ("lago", "openmeter"))
        wait("both sinks drained", drained)

        # A usage update after the push: Lago lists it as a correction; OpenMeter (delta) takes the difference.
        status, body = tally.request("POST", "/api/public/ingestion", {"batch": [
            {"id": f"fix-{run}", "type": "generation-update", "timestamp": time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime()),
             "body": {"id": batch_ids[0], "usageDetails": {"input": 4000, "output": 400, "cache_creation_input_tokens": 500}}}]})
        assert status == 207 and not body["errors"], body
        wait("the correction", lambda: sink(tally, "lago")["corrections"]["calls"] == 1
             and f"{batch_ids[0]}:r2" in openmeter.events)
        wait("both sinks drained again", drained)
        time.sleep(3)  # let a request answered late land at the receiver

        expected = csv_export(tally)
        assert expected.pop("")["calls"] == 6  # the calls without a tenant: not billed, listed as unattributed
        assert set(expected) == {"acme", "globex", "initech"}
        billable = sum(r["calls"] for r in expected.values())
        assert billable == calls - 6 + 3  # 6 SDK calls without a tenant; 3 of 4 batch calls succeeded

        # OpenMeter: every billable call once plus one correction; totals exact.
        got = openmeter.totals()
        assert {t: (r["cost"], r["input"], r["output"]) for t, r in got.items()} == \
            {t: (r["cost"], r["input"], r["output"]) for t, r in expected.items()}
        assert len(openmeter.events) == billable + 1

        # Lago: what it holds plus the listed correction equals the export.
        lago_sink = sink(tally, "lago")
        correction = Decimal(lago_sink["corrections"]["costUsd"])
        assert correction > 0
        got = lago.totals({"sub_acme": "acme"})
        assert {t: r["cost"] + (correction if t == "initech" else 0) for t, r in got.items()} == \
            {t: r["cost"] for t, r in expected.items()}
        assert len(lago.events) == billable
        assert lago_sink["unattributed"]["calls"] == 6

        # Request shapes.
        for headers, body, _ in lago.requests:
            assert headers["Authorization"] == "Bearer lago-secret"
            assert len(body["events"]) <= 5
            for e in body["events"]:
                assert isinstance(e["timestamp"], int) and e["code"] == "llm_cost"
                assert isinstance(e["properties"]["input_tokens"], int) and isinstance(e["properties"]["cost_usd"], str)
        assert any(e["external_subscription_id"] == "sub_acme" for e in lago.events.values())
        for headers, body, _ in openmeter.requests:
            assert headers["Content-Type"] == "application/cloudevents-batch+json"
            assert "Authorization" not in headers
            assert len(body) <= 7
            for e in body:
                assert e["specversion"] == "1.0" and e["source"] == "tally/e2e-project" and e["type"] == "llm.cost"
        # The sinks' health series pass promtool's checks and say the sinks are drained.
        status, exposition = raw_get(tally, "/metrics")
        assert status == 200 and 'tally_export_pending_changes{sink="lago"} 0\n' in exposition
        promtool = shutil.which("promtool")
        assert promtool, "promtool (Debian's prometheus package, installed by scripts/test) is needed"
        checked = subprocess.run([promtool, "check", "metrics"], input=exposition, capture_output=True, text=True)
        assert checked.returncode == 0, checked.stdout + checked.stderr
        print(f"lago: {len(lago.requests)} requests, {lago.duplicates} duplicate events dropped; "
              f"openmeter: {len(openmeter.requests)} requests, {openmeter.duplicates} duplicates dropped")
    finally:
        tally.close()


def largest_remainder(total, weights):
    """`total` (int) split in proportion to `weights` (name → int): floors, then one unit each to the largest
    remainders, ties by name — the rule Tally documents."""
    names = sorted(weights)
    whole = sum(weights.values())
    parts = {n: total * weights[n] // whole for n in names}
    left = total - sum(parts.values())
    by_remainder = sorted(names, key=lambda n: (-(total * weights[n] % whole), n))
    for n in by_remainder[:left]:
        parts[n] += 1
    return parts


def test_shared_batch_calls_are_billed_pro_rata_to_the_nano_dollar(tmp_path):
    """Batch calls made for several tenants at once, sent by the langfuse 5.0.4 SDK (observation metadata
    `tenantShares`) and by the batch API: the export, the breakdown and a Lago receiver split every call's
    Tally-priced cost exactly as a hand calculation does."""
    lago = FakeBilling("lago")
    tally = TallyServer(str(tmp_path / "tally.db"), free_port())
    tally.start()
    try:
        status, body = tally.request("PUT", "/api/tally/v1/exports/sinks/lago", {
            "type": "lago", "url": lago.url, "intervalSeconds": 1, "settleSeconds": 0})
        assert status == 201, body
        LangfuseResourceManager.reset()
        lf = Langfuse(public_key=PUBLIC_KEY, secret_key=SECRET_KEY, base_url=tally.url, flush_at=50, flush_interval=0.5)
        expected = {}
        shares = {"acme": 1200, "beta": 800, "initech": 1}
        for i in range(7):
            usage = {"input": 1000 + 37 * i, "output": 101 + i}
            with lf.start_as_current_observation(as_type="generation", name="nightly-digest", model="gpt-4o-mini") as gen:
                gen.update(output="ok", usage_details=usage, metadata={"tenantShares": shares, "feature": "digest"})
            # gpt-4o-mini: $0.15 / M input, $0.60 / M output = 150 and 600 nano-USD per token.
            for tenant, nanos in largest_remainder(usage["input"] * 150 + usage["output"] * 600, shares).items():
                expected[tenant] = expected.get(tenant, 0) + nanos
        lf.flush()
        lf.shutdown()
        # The same through the batch API, weights as JSON text (as an OTLP attribute carries them).
        now = time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime())
        status, body = tally.request("POST", "/api/public/ingestion", {"batch": [
            {"id": "sb", "type": "generation-create", "timestamp": now,
             "body": {"id": "shared-batch", "traceId": "batch-job", "model": "gpt-4o-mini", "startTime": now,
                      "metadata": {"tenantShares": json.dumps({"beta": 1, "globex": 2}), "feature": "digest"},
                      "usageDetails": {"input": 333, "output": 7}}},
            {"id": "sb-bad", "type": "generation-create", "timestamp": now,
             "body": {"id": "shared-bad", "traceId": "batch-job", "model": "gpt-4o-mini", "startTime": now,
                      "metadata": {"tenantShares": {"beta": -5}}, "usageDetails": {"input": 1, "output": 1}}}]})
        assert status == 207 and len(body["errors"]) == 1 and "tenantShares" in body["errors"][0]["error"], body
        for tenant, nanos in largest_remainder(333 * 150 + 7 * 600, {"beta": 1, "globex": 2}).items():
            expected[tenant] = expected.get(tenant, 0) + nanos

        def export():
            status, body = tally.get("/api/tally/v1/exports/usage?groupBy=tenant")
            assert status == 200, body
            return {r["tenant"]: r for r in body["data"]}

        wait("8 shared calls stored", lambda: sum(r["calls"] for r in export().values()) == 8)
        # Each call counts once (for its largest share); a minority tenant has cost without calls.
        got = {t: Decimal(r["costUsd"]) for t, r in export().items()}
        want = {t: Decimal(n) / Decimal(10**9) for t, n in expected.items()}
        assert got == want, (got, want)  # nothing left unattributed either
        # The rollup-served breakdown says the same, and counts each call once.
        status, body = tally.get("/api/tally/v1/breakdown?groupBy=tenant&metrics=count,totalCost")
        counts = {r["tenant"]: r["count"] for r in body["data"]}
        assert sum(counts.values()) == 8 and counts["acme"] == 7 and counts["globex"] == 1, counts

        # Lago: one event per share, `<observation id>#<tenant>`, per-tenant sums equal to the export.
        wait("the shares pushed", lambda: sink(tally, "lago")["status"]["pendingChanges"] == 0
             and len(lago.events) == 7 * 3 + 2)
        assert all("#" in key for key in lago.events), list(lago.events)
        assert {t: r["cost"] for t, r in lago.totals().items()} == want
    finally:
        tally.close()
        lago.close()
