"""Budgets and alerts against a live `tally serve`, as a new user would: the budget check over HTTP, a seeded workload
that makes each rule fire for the tenant or feature built to trigger it (and not for its control), signed webhooks
received by a real HTTP server on loopback, and a delivery that survives a SIGKILL between firing and sending."""
import base64
import hashlib
import hmac
import http.server
import json
import os
import subprocess
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone

import pytest

from conftest import ROOT, TallyServer, free_port

SECRET = "whsec-e2e"


class Receiver:
    """A webhook receiver on loopback: records each POST (path, headers, body); answers `status`."""

    def __init__(self):
        self.received = []
        self.status = 200
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                receiver.received.append({"path": self.path, "headers": dict(self.headers), "body": body})
                self.send_response(receiver.status)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def wait(self, count, seconds=20):
        deadline = time.time() + seconds
        while time.time() < deadline and len(self.received) < count:
            time.sleep(0.05)
        return self.received

    def close(self):
        self.server.shutdown()


@pytest.fixture
def receiver():
    r = Receiver()
    yield r
    r.close()


@pytest.fixture
def server(tmp_path):
    s = TallyServer(str(tmp_path / "tally.db"), free_port(), extra_env={"TALLY_DELIVERY_POLL_MS": "100"})
    s.start()
    yield s
    s.close()


def iso(t):
    return t.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class Workload:
    """Builds Langfuse ingestion batches: a trace with one observation each."""

    def __init__(self):
        self.events = []

    def call(self, at, *, tenant=None, feature=None, cost=None, tokens=0, type_="generation", model="gpt-4o",
             level=None):
        trace_id, obs_id = uuid.uuid4().hex, uuid.uuid4().hex
        metadata = {k: v for k, v in (("tenantId", tenant), ("feature", feature)) if v}
        self.events.append({"id": uuid.uuid4().hex, "type": "trace-create", "timestamp": iso(at),
                            "body": {"id": trace_id, "timestamp": iso(at), "metadata": metadata}})
        body = {"id": obs_id, "traceId": trace_id, "startTime": iso(at), "endTime": iso(at + timedelta(seconds=1)),
                "model": model, "usageDetails": {"input": tokens, "output": 0}, "metadata": metadata}
        if cost is not None:
            body["costDetails"] = {"total": cost}
        if level:
            body["level"] = level
        self.events.append({"id": uuid.uuid4().hex, "type": f"{type_}-create", "timestamp": iso(at), "body": body})

    def send(self, server):
        for i in range(0, len(self.events), 500):
            status, body = server.request("POST", "/api/public/ingestion", {"batch": self.events[i:i + 500]})
            assert status == 207 and not body["errors"], body


def api(server, method, path, body=None):
    return server.request(method, "/api/tally/v1/" + path, body)


def test_budget_check_contract(server):
    """The middleware contract: 429 with the right reason and Retry-After for each kind of refusal; holds stop a burst."""
    assert api(server, "PUT", "plans/starter", {"dailyUsd": 1, "requestsPerMinute": 1000})[0] == 200
    assert api(server, "PUT", "plans/tight", {"requestsPerMinute": 2})[0] == 200
    assert api(server, "PUT", "tenants/spender/budget", {"plan": "starter"})[0] == 200
    assert api(server, "PUT", "tenants/chatty/budget", {"plan": "tight"})[0] == 200
    assert api(server, "PUT", "tenants/agent/budget", {"plan": "starter"})[0] == 200
    w = Workload()
    w.call(datetime.now(timezone.utc), tenant="spender", cost=1.5)
    w.send(server)

    status, body = api(server, "POST", "budgets/check", {"tenantId": "spender", "feature": "chat"})
    assert (status, body["reason"], body["day"]["spentUsd"]) == (429, "daily_budget", 1.5)
    assert 0 < body["retryAfterSeconds"] <= 86_400

    assert [api(server, "POST", "budgets/check", {"tenantId": "chatty"})[0] for _ in range(3)] == [200, 200, 429]

    api(server, "PUT", "switches/copilot", {"enabled": False, "reason": "runaway"})
    status, body = api(server, "POST", "budgets/check", {"tenantId": "anyone", "feature": "copilot"})
    assert (status, body["reason"]) == (429, "feature_disabled")
    until = iso(datetime.now(timezone.utc) + timedelta(minutes=5))
    api(server, "PUT", "tenants/anyone/throttle", {"until": until, "reason": "manual"})
    status, body = api(server, "POST", "budgets/check", {"tenantId": "anyone"})
    assert (status, body["reason"]) == (429, "throttled") and 295 <= body["retryAfterSeconds"] <= 300
    assert api(server, "POST", "budgets/check", {"tenantId": "no-plan-at-all"})[0] == 200

    def check(i):
        return api(server, "POST", "budgets/check",
                   {"tenantId": "agent", "estimateUsd": 0.25, "holdId": f"run-{i}"})[0]
    with ThreadPoolExecutor(max_workers=20) as pool:
        statuses = list(pool.map(check, range(20)))
    assert statuses.count(200) == 4 and statuses.count(429) == 16


def seed_workload(server):
    """Each rule's trigger and its control. Costs only where a rule reads money; tokens where it reads tokens."""
    now = datetime.now(timezone.utc)
    today = now.replace(hour=0, minute=0, second=0, microsecond=0)
    early = max(today, now - timedelta(hours=2))  # today, and at least 30 min before now
    if early > now - timedelta(minutes=31):
        early = today
    w = Workload()
    for d in range(1, 8):  # baselines: 7 full days before today
        day = today - timedelta(days=d) + timedelta(hours=12)
        w.call(day, tenant="spiky", cost=1.0)
        w.call(day, tenant="steady", cost=1.0)
        w.call(day, tenant="capped", cost=8.0)
        w.call(day, tenant="roomy", cost=8.0)
    w.call(early, tenant="spiky", cost=5.0)  # 5 > 2 × mean 1
    w.call(early, tenant="steady", cost=1.5)  # control
    w.call(early, tenant="capped", cost=9.0)  # 90 % of $10/day; not a spike against $8/day
    w.call(early, tenant="roomy", cost=9.0)  # 9 % of $100/day
    for i in range(25):  # feature_regression: 100 → 200 tokens per error-free trace
        prev = now - timedelta(days=10, minutes=i)
        last = now - timedelta(days=3, minutes=i)
        w.call(prev, feature="regress", tokens=100)
        w.call(last, feature="regress", tokens=200)
        w.call(prev, feature="stable", tokens=100)
        w.call(last, feature="stable", tokens=110)
    for i in range(30):  # error_burn: 5 of 30 generations fail in the last 15 min while tokens grow
        at = now - timedelta(minutes=10, seconds=i)
        w.call(at, feature="burning", tokens=100, level="ERROR" if i < 5 else None)
        w.call(at, feature="fine", tokens=100)
    for i in range(10):
        w.call(now - timedelta(minutes=25, seconds=i), feature="burning", tokens=100)
    w.call(now - timedelta(hours=1), tenant="embedder", tokens=20_000, type_="embedding", model="text-embedding-3-small")
    w.call(now - timedelta(hours=1), tenant="embedder", tokens=1_000)
    w.call(now - timedelta(hours=1), tenant="balanced", tokens=15_000, type_="embedding", model="text-embedding-3-small")
    w.call(now - timedelta(hours=1), tenant="balanced", tokens=50_000)
    w.send(server)


def configure(server, receiver):
    status, channel = api(server, "POST", "alerts/channels",
                          {"name": "ops", "type": "webhook", "url": receiver.url, "secret": SECRET})
    assert status == 201, channel
    assert api(server, "PUT", "plans/starter", {"dailyUsd": 10})[0] == 200
    assert api(server, "PUT", "plans/enterprise", {"dailyUsd": 100})[0] == 200
    assert api(server, "PUT", "tenants/capped/budget", {"plan": "starter"})[0] == 200
    assert api(server, "PUT", "tenants/roomy/budget", {"plan": "enterprise"})[0] == 200
    status, rules = api(server, "GET", "alerts/rules")
    assert sorted(r["type"] for r in rules["data"]) == [
        "budget_threshold", "embed_surge", "error_burn", "feature_regression", "tenant_spike"]
    for rule in rules["data"]:
        body = {k: rule[k] for k in ("name", "type", "params", "actions", "enabled")} | {"channels": ["ops"]}
        assert api(server, "PUT", f"alerts/rules/{rule['id']}", body)[0] == 200
    status, generic = api(server, "POST", "alerts/rules", {
        "name": "Daily spend over $5 outside enterprise", "type": "threshold", "channels": ["ops"],
        "params": {"metric": "totalCost", "groupBy": "tenant", "window": "today", "op": ">", "value": 5,
                   "exceptPlans": ["enterprise"]},
        "actions": [{"type": "throttle_tenant", "minutes": 60}]})
    assert status == 201, generic


def test_each_rule_fires_for_its_subject_only_and_signed_webhooks_arrive(server, receiver):
    configure(server, receiver)
    seed_workload(server)
    status, outcome = api(server, "POST", "alerts/evaluate")
    assert status == 200 and outcome["failures"] == [], outcome
    fired = sorted((f["rule"]["type"], f["subject"].get("tenantId") or f["subject"].get("feature"))
                   for f in outcome["fired"])
    assert fired == [
        ("budget_threshold", "capped"),
        ("embed_surge", "embedder"),
        ("error_burn", "burning"),
        ("feature_regression", "regress"),
        ("tenant_spike", "spiky"),
        ("threshold", "capped"),
    ], fired
    regression = next(f for f in outcome["fired"] if f["rule"]["type"] == "feature_regression")
    assert regression["value"] == pytest.approx(200) and regression["threshold"] == pytest.approx(140)

    # The threshold rule's action throttles the tenant: the budget check enforces it.
    status, body = api(server, "POST", "budgets/check", {"tenantId": "capped"})
    assert (status, body["reason"]) == (429, "throttled")

    got = receiver.wait(6)
    assert len(got) == 6
    for r in got:
        expected = "sha256=" + hmac.new(SECRET.encode(), r["body"], hashlib.sha256).hexdigest()
        assert r["headers"]["X-Tally-Signature"] == expected
        payload = json.loads(r["body"])
        assert payload["type"] == "alert.firing" and payload["url"].startswith(server.url)
        assert set(payload) >= {"id", "rule", "subject", "value", "threshold", "message", "firedAt"}
    assert len({json.loads(r["body"])["id"] for r in got}) == 6

    # A second evaluation fires nothing new; the delivery status shows in GET /alerts.
    assert api(server, "POST", "alerts/evaluate")[1]["fired"] == []
    status, alerts = api(server, "GET", "alerts")
    assert len(alerts["firing"]) == 6
    assert all(d["status"] == "delivered" for f in alerts["firing"] for d in f["deliveries"])

    # Resolution: deleting the spend spike's cause is not possible, but switching the rule off resolves it.
    spike = next(r for r in api(server, "GET", "alerts/rules")[1]["data"] if r["type"] == "tenant_spike")
    body = {k: spike[k] for k in ("name", "type", "params", "channels", "actions")} | {"enabled": False}
    api(server, "PUT", f"alerts/rules/{spike['id']}", body)
    resolved = api(server, "POST", "alerts/evaluate")[1]["resolved"]
    assert [(f["rule"]["type"], f["status"]) for f in resolved] == [("tenant_spike", "resolved")]
    got = receiver.wait(7)
    assert json.loads(got[-1]["body"])["type"] == "alert.resolved"


def test_bad_alert_input_is_refused_by_field(server):
    cases = [
        ({"name": "x", "type": "nope"}, "body.type"),
        ({"name": "x", "type": "tenant_spike", "params": {"factr": 2}}, "body.params.factr"),
        ({"name": "x", "type": "tenant_spike", "params": {"minUsd": -1}}, "body.params.minUsd"),
        ({"name": "x", "type": "threshold", "params": {"groupBy": "tenant", "value": 1}}, "body.params.metric"),
        ({"name": "x", "type": "error_burn", "channels": ["missing"]}, "body.channels"),
        ({"name": "x", "type": "error_burn", "actions": [{"type": "reboot"}]}, "body.actions[0].type"),
    ]
    for body, field in cases:
        status, answer = api(server, "POST", "alerts/rules", body)
        assert status == 400 and field in answer["error"], (body, answer)
    status, answer = api(server, "POST", "alerts/channels", {"name": "c", "type": "webhook", "url": "file:///etc/passwd"})
    assert status == 400 and "body.url" in answer["error"]


def test_a_delivery_survives_sigkill_between_firing_and_sending(tmp_path, receiver):
    # First run: the outbox is not polled (10 min), so the firing is recorded but not sent.
    server = TallyServer(str(tmp_path / "tally.db"), free_port(), extra_env={"TALLY_DELIVERY_POLL_MS": "600000"})
    server.start()
    try:
        assert api(server, "POST", "alerts/channels",
                   {"name": "ops", "type": "webhook", "url": receiver.url, "secret": SECRET})[0] == 201
        api(server, "PUT", "plans/starter", {"dailyUsd": 1})
        api(server, "PUT", "tenants/acme/budget", {"plan": "starter"})
        rule = {"name": "Budget", "type": "budget_threshold", "channels": ["ops"]}
        assert api(server, "PUT", "alerts/rules/seed-budget-threshold", rule)[0] == 200
        w = Workload()
        w.call(datetime.now(timezone.utc), tenant="acme", cost=0.95)
        w.send(server)
        fired = api(server, "POST", "alerts/evaluate")[1]["fired"]
        assert len(fired) == 1 and fired[0]["deliveries"][0]["status"] == "pending"
        server.kill()
        assert receiver.received == []

        server.extra_env = {"TALLY_DELIVERY_POLL_MS": "100"}
        server.start()
        got = receiver.wait(1)
        assert len(got) == 1
        payload = json.loads(got[0]["body"])
        assert payload["id"].startswith(fired[0]["id"]) and payload["subject"] == {"tenantId": "acme"}
    finally:
        server.close()


def test_a_refusing_receiver_is_retried_and_never_blocks_ingestion(server, receiver):
    receiver.status = 500
    assert api(server, "POST", "alerts/channels", {"name": "ops", "type": "webhook", "url": receiver.url})[0] == 201
    api(server, "PUT", "plans/starter", {"dailyUsd": 1})
    api(server, "PUT", "tenants/acme/budget", {"plan": "starter"})
    api(server, "PUT", "alerts/rules/seed-budget-threshold", {"name": "Budget", "type": "budget_threshold",
                                                              "channels": ["ops"]})
    w = Workload()
    w.call(datetime.now(timezone.utc), tenant="acme", cost=0.95)
    w.send(server)
    api(server, "POST", "alerts/evaluate")
    assert len(receiver.wait(1)) == 1
    started = time.time()
    w = Workload()
    w.call(datetime.now(timezone.utc), tenant="other", cost=0.01)
    w.send(server)
    assert time.time() - started < 2
    status, alerts = api(server, "GET", "alerts")
    delivery = alerts["firing"][0]["deliveries"][0]
    assert delivery["status"] == "pending" and delivery["lastStatus"] == 500 and delivery["attempts"] >= 1
    # The backoff's first retry comes 5 s later; then it is delivered.
    receiver.status = 200
    assert len(receiver.wait(2, seconds=15)) == 2
    time.sleep(0.3)
    status, alerts = api(server, "GET", "alerts")
    assert alerts["firing"][0]["deliveries"][0]["status"] == "delivered"


def test_slack_channel_gets_text_only(server, receiver):
    slack_url = receiver.url.replace("/hook", "/slack")
    assert api(server, "POST", "alerts/channels", {"name": "chat", "type": "slack", "url": slack_url})[0] == 201
    api(server, "PUT", "plans/starter", {"dailyUsd": 1})
    api(server, "PUT", "tenants/acme/budget", {"plan": "starter"})
    api(server, "PUT", "alerts/rules/seed-budget-threshold", {"name": "Budget", "type": "budget_threshold",
                                                              "channels": ["chat"]})
    w = Workload()
    w.call(datetime.now(timezone.utc), tenant="acme", cost=0.9)
    w.send(server)
    api(server, "POST", "alerts/evaluate")
    got = receiver.wait(1)
    assert got[0]["path"] == "/slack" and "X-Tally-Signature" not in got[0]["headers"]
    body = json.loads(got[0]["body"])
    assert list(body) == ["text"] and "acme" in body["text"] and "80%" in body["text"]


def test_cli_budget_changes_reach_the_running_server(server):
    """`tally budgets` writes the same file from another process; the server picks it up within a second or two."""
    binary = os.environ.get("TALLY_BIN", str(ROOT / ".build" / "debug" / "tally"))
    w = Workload()
    w.call(datetime.now(timezone.utc), tenant="acme", cost=2)
    w.send(server)
    run = lambda *args: subprocess.run([binary, "budgets", *args, "--db", server.db_path, "--project", "e2e-project"],
                                       capture_output=True, text=True, timeout=60)
    out = run("set-plan", "starter", "--daily-usd", "1", "--monthly-usd", "50")
    assert out.returncode == 0 and "$1.0000/day" in out.stdout, out.stderr
    assert run("set-plan", "bad", "--daily-usd=-1").returncode != 0
    assert "no plan named ghost" in run("assign", "acme", "ghost").stderr
    assert run("assign", "acme", "starter").returncode == 0
    deadline = time.time() + 10
    while time.time() < deadline:
        status, body = api(server, "POST", "budgets/check", {"tenantId": "acme"})
        if status == 429:
            break
        time.sleep(0.2)
    assert (status, body["reason"], body["plan"]) == (429, "daily_budget", "starter")
    shown = run("show", "acme").stdout
    assert "tenant acme" in shown and "today $2.0000 of $1.0000" in shown
