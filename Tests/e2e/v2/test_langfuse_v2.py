"""End-to-end: the real langfuse==2.60.10 Python SDK against a live `tally serve`, read back through the public API."""
import datetime as dt
import json
import signal
import urllib.parse
import uuid

import pytest
from langfuse import Langfuse

from conftest import PUBLIC_KEY, SECRET_KEY, every_page

TENANTS = {
    # tenant: (user, session, feature, gives cost?)
    "acme": ("user-acme", "sess-acme", "copilot", True),
    "globex": ("user-globex", "sess-globex", "search", False),
    "initech": ("user-initech", "sess-initech", "copilot", False),
}


def client(tally):
    return Langfuse(public_key=PUBLIC_KEY, secret_key=SECRET_KEY, host=tally.url, flush_at=50, flush_interval=0.2,
                    max_retries=1)


def run_workload(lf, run_id):
    """Two traces per tenant; returns the ids the SDK used."""
    ids = {}
    for tenant, (user, session, feature, gives_cost) in TENANTS.items():
        for n in range(2):
            key = f"{tenant}-{n}"
            tid = f"trace-{run_id}-{key}"
            trace = lf.trace(id=tid, name="copilot-request", user_id=user, session_id=session,
                             metadata={"tenantId": tenant, "feature": feature, "plan": {"tier": "pro"}},
                             tags=[feature, f"tenant:{tenant}"], input={"question": f"q-{key}"},
                             release="rel-1", version="v1.2", environment="production")
            span = trace.span(id=f"span-{run_id}-{key}", name="retrieve", input={"query": key},
                              metadata={"index": "kb"})
            emb = span.generation(id=f"emb-{run_id}-{key}", name="embed-query", model="text-embedding-3-small",
                                  input=f"q-{key}")
            emb.end(output={"dimensions": 1536}, usage={"input": 9, "unit": "TOKENS"})
            span.end(output={"hits": ["kb/1", "kb/2"]})
            gen = trace.generation(id=f"gen-{run_id}-{key}", name="chat-completion", model="gpt-4.1-mini",
                                   model_parameters={"temperature": 0.2, "max_tokens": 512},
                                   input=[{"role": "user", "content": f"q-{key}"}],
                                   prompt=None, metadata={"tenantId": tenant})
            if gives_cost:
                gen.end(output={"role": "assistant", "content": "answer"},
                        usage_details={"input": 4200, "output": 380, "cache_read_input_tokens": 1000},
                        cost_details={"input": 0.00168, "output": 0.000608, "total": 0.002288})
            else:
                gen.end(output="answer", usage={"prompt_tokens": 800, "completion_tokens": 120, "total_tokens": 920})
            trace.event(id=f"event-{run_id}-{key}", name="guardrail-check", input={"policy": "pii"},
                        output={"passed": True})
            err = trace.span(id=f"err-{run_id}-{key}", name="call-billing", level="ERROR",
                             status_message="billing upstream returned 503")
            err.end(output={"error": "503"})
            trace.score(id=f"score-fb-{run_id}-{key}", name="user-feedback", value=1, data_type="BOOLEAN")
            gen.score(id=f"score-help-{run_id}-{key}", name="helpfulness", value=0.75)
            gen.score(id=f"score-tone-{run_id}-{key}", name="tone", value="friendly", data_type="CATEGORICAL")
            trace.update(output={"answer": "done"}, tags=["resolved"], metadata={"resolved": True})
            ids[key] = tid
    lf.flush()
    return ids


def all_pages(tally, path):
    out, page = [], 1
    while True:
        sep = "&" if "?" in path else "?"
        status, body = tally.get(f"{path}{sep}page={page}&limit=100")
        assert status == 200, body
        out += body["data"]
        if page >= body["meta"]["totalPages"]:
            return out
        page += 1


def test_auth_check_and_projects(tally):
    lf = client(tally)
    assert lf.auth_check() is True
    status, body = tally.get("/api/public/projects")
    assert status == 200
    assert body["data"][0]["id"] == "e2e-project"
    assert body["data"][0]["organization"]["id"]


def test_multi_tenant_workload_reads_back_exactly(tally):
    run = uuid.uuid4().hex[:8]
    ids = run_workload(client(tally), run)

    status, body = tally.get("/api/public/traces?tags=tenant:acme&userId=user-acme")
    assert status == 200
    assert body["meta"]["totalItems"] == 2
    for t in body["data"]:
        assert t["id"] in (ids["acme-0"], ids["acme-1"])
        assert t["name"] == "copilot-request"
        assert t["userId"] == "user-acme"
        assert t["sessionId"] == "sess-acme"
        assert t["release"] == "rel-1"
        assert t["version"] == "v1.2"
        assert t["environment"] == "production"
        assert t["tags"] == ["copilot", "resolved", "tenant:acme"]
        assert t["metadata"] == {"tenantId": "acme", "feature": "copilot", "plan": {"tier": "pro"}, "resolved": True}
        assert t["output"] == {"answer": "done"}
        assert t["input"] == {"question": t["id"].split(f"trace-{run}-")[1].replace("acme-", "q-acme-")}
        assert t["tenant"] == "acme" and t["feature"] == "copilot"
        assert len(t["observations"]) == 5
        assert len(t["scores"]) == 3
        assert t["totalCost"] == 0.00228818  # given 0.002288 + embed-query 9 tokens × $0.02/M inferred
        assert t["latency"] >= 0

    # Tags are AND-ed; environment is OR-ed; other tenants are not mixed in.
    _, body = tally.get("/api/public/traces?tags=copilot&tags=tenant:globex")
    assert body["meta"]["totalItems"] == 0
    _, body = tally.get("/api/public/traces?tags=copilot")
    assert {t["tenant"] for t in body["data"]} == {"acme", "initech"}
    _, body = tally.get("/api/public/traces?environment=production&environment=staging&limit=100")
    assert body["meta"]["totalItems"] == 6

    acme0 = ids["acme-0"]
    obs = all_pages(tally, f"/api/public/observations?traceId={acme0}")
    by_name = {o["name"]: o for o in obs}
    assert set(by_name) == {"retrieve", "embed-query", "chat-completion", "guardrail-check", "call-billing"}
    gen = by_name["chat-completion"]
    assert gen["type"] == "GENERATION"
    assert gen["model"] == "gpt-4.1-mini"
    assert gen["usageDetails"] == {"input": 4200, "output": 380, "cache_read_input_tokens": 1000, "total": 5580}
    assert gen["costDetails"] == {"input": 0.00168, "output": 0.000608, "total": 0.002288}
    assert gen["calculatedTotalCost"] == 0.002288
    assert gen["modelParameters"] in ({"temperature": "0.2", "max_tokens": 512}, {"temperature": 0.2, "max_tokens": 512})
    assert gen["output"] == {"role": "assistant", "content": "answer"}
    assert gen["tenant"] == "acme"
    assert gen["endTime"] is not None and gen["latency"] >= 0
    emb = by_name["embed-query"]
    assert emb["parentObservationId"] == by_name["retrieve"]["id"]
    assert emb["usageDetails"] == {"input": 9, "total": 9}
    assert by_name["call-billing"]["level"] == "ERROR"
    assert by_name["call-billing"]["statusMessage"] == "billing upstream returned 503"
    assert by_name["guardrail-check"]["type"] == "EVENT"
    assert by_name["guardrail-check"]["output"] == {"passed": True}

    # A generation sent with OpenAI-style usage and no cost: usage normalised ...
    _, gl = tally.get(f"/api/public/observations?traceId={ids['globex-0']}&type=GENERATION&name=chat-completion")
    g = gl["data"][0]
    assert g["usageDetails"] == {"input": 800, "output": 120, "total": 920}
    assert g["promptTokens"] == 800 and g["completionTokens"] == 120 and g["totalTokens"] == 920
    assert g["tenant"] == "globex"
    # ... and priced from the built-in table: gpt-4.1-mini $0.40/M in, $1.60/M out.
    assert g["costDetails"] == {"input": 0.00032, "output": 0.000192, "total": 0.000512}
    assert g["costSource"] == "inferred" and g["modelId"] == "gpt-4.1-mini"
    assert g["inputPrice"] == 4e-07 and g["outputPrice"] == 1.6e-06
    assert gen["costSource"] == "provided"

    # Scores, with the trace's user and tags joined in.
    _, sc = tally.get(f"/api/public/v2/scores?traceId={acme0}")
    scores = {s["name"]: s for s in sc["data"]}
    assert scores["user-feedback"]["dataType"] == "BOOLEAN" and scores["user-feedback"]["value"] == 1
    assert scores["helpfulness"]["value"] == 0.75 and scores["helpfulness"]["observationId"] == gen["id"]
    assert scores["tone"]["stringValue"] == "friendly" and scores["tone"]["dataType"] == "CATEGORICAL"
    assert all(s["trace"]["userId"] == "user-acme" for s in sc["data"])

    # Single trace with nested observations and scores; sessions.
    status, full = tally.get(f"/api/public/traces/{acme0}")
    assert status == 200 and len(full["observations"]) == 5 and len(full["scores"]) == 3
    status, sess = tally.get("/api/public/sessions/sess-acme")
    assert status == 200 and len(sess["traces"]) == 2
    _, sessions = tally.get("/api/public/sessions")
    assert sessions["meta"]["totalItems"] == 3

    # Deletes take effect at once.
    status, _ = tally.request("DELETE", f"/api/public/traces/{acme0}")
    assert status == 200
    assert tally.get(f"/api/public/traces/{acme0}")[0] == 404
    assert tally.get(f"/api/public/observations?traceId={acme0}")[1]["meta"]["totalItems"] == 0


def test_sigkill_right_after_207_loses_nothing(tally):
    run = uuid.uuid4().hex[:8]
    ids = run_workload(client(tally), run)
    # A raw batch too: the 207 is the commit point.
    batch = {"batch": [
        {"id": str(uuid.uuid4()), "type": "trace-create", "timestamp": "2026-11-23T10:00:00.000Z",
         "body": {"id": f"raw-{run}", "name": "raw", "metadata": {"tenantId": "acme"}}},
        {"id": str(uuid.uuid4()), "type": "generation-create", "timestamp": "2026-11-23T10:00:00.100Z",
         "body": {"id": f"raw-gen-{run}", "traceId": f"raw-{run}", "model": "gpt-4.1-mini",
                  "usage": {"input": 10, "output": 5}, "costDetails": {"total": 0.5}}},
    ]}
    status, body = tally.request("POST", "/api/public/ingestion", batch)
    assert status == 207 and len(body["successes"]) == 2
    tally.kill()
    tally.start()
    _, traces = tally.get("/api/public/traces?limit=100")
    assert traces["meta"]["totalItems"] == 7
    assert {t["id"] for t in traces["data"]} == set(ids.values()) | {f"raw-{run}"}
    _, obs = tally.get(f"/api/public/observations?traceId=raw-{run}")
    assert obs["data"][0]["costDetails"] == {"total": 0.5}
    assert obs["data"][0]["usageDetails"] == {"input": 10, "output": 5, "total": 15}
    _, scores = tally.get("/api/public/scores?limit=100")
    assert scores["meta"]["totalItems"] == 18


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_graceful_shutdown_on_signal(tally, sig):
    batch = {"batch": [{"id": "g1", "type": "trace-create", "timestamp": "2026-11-23T10:00:00Z",
                        "body": {"id": "before-shutdown", "name": "kept"}}]}
    assert tally.request("POST", "/api/public/ingestion", batch)[0] == 207
    assert tally.stop(sig) == 0
    tally.start()
    assert tally.get("/api/public/traces/before-shutdown")[1]["name"] == "kept"


def test_resent_batches_are_idempotent(tally):
    events = [
        {"id": "e1", "type": "trace-create", "timestamp": "2026-11-23T10:00:00Z",
         "body": {"id": "dup-trace", "name": "dup", "tags": ["a"], "metadata": {"tenantId": "acme"}}},
        {"id": "e2", "type": "generation-create", "timestamp": "2026-11-23T10:00:01Z",
         "body": {"id": "dup-gen", "traceId": "dup-trace", "model": "gpt-4.1-mini", "startTime": "2026-11-23T10:00:01Z"}},
        {"id": "e3", "type": "generation-update", "timestamp": "2026-11-23T10:00:02Z",
         "body": {"id": "dup-gen", "traceId": "dup-trace", "endTime": "2026-11-23T10:00:02Z",
                  "usage": {"input": 100, "output": 10}, "costDetails": {"input": 0.1, "output": 0.2}}},
        {"id": "e4", "type": "score-create", "timestamp": "2026-11-23T10:00:03Z",
         "body": {"id": "dup-score", "traceId": "dup-trace", "name": "q", "value": 1}},
        {"id": "e5", "type": "span-create", "timestamp": "2026-11-23T10:00:03Z", "body": {"name": "no id"}},
    ]
    for _ in range(3):  # the v2 SDK re-sends a batch with errors 3 times in total
        status, body = tally.request("POST", "/api/public/ingestion", {"batch": events})
        assert status == 207
        assert [s["id"] for s in body["successes"]] == ["e1", "e2", "e3", "e4"]
        assert [e["id"] for e in body["errors"]] == ["e5"]
    _, t = tally.get("/api/public/traces/dup-trace")
    assert len(t["observations"]) == 1 and len(t["scores"]) == 1
    assert t["totalCost"] == pytest.approx(0.3, abs=1e-12)
    assert t["observations"][0]["costDetails"] == {"input": 0.1, "output": 0.2, "total": pytest.approx(0.3)}
    assert t["tags"] == ["a"]


def test_bad_input_gets_clear_errors_and_valid_neighbours_are_stored(tally):
    # Malformed JSON: the whole request is refused with 400.
    status, body = tally.request("POST", "/api/public/ingestion", b'{"batch": [')
    assert status == 400 and body["message"] == "Invalid request data"
    status, body = tally.request("POST", "/api/public/ingestion", {"events": []})
    assert status == 400 and "batch" in json.dumps(body)
    # Wrong types, missing ids, unknown event types: one error each, neighbours stored.
    batch = {"batch": [
        {"id": "ok-1", "type": "trace-create", "timestamp": "2026-11-23T10:00:00Z", "body": {"id": "good-trace", "name": "good"}},
        {"id": "bad-type", "type": "span-create", "timestamp": "2026-11-23T10:00:00Z", "body": {"id": "s", "name": 5}},
        {"id": "bad-id", "type": "span-create", "timestamp": "2026-11-23T10:00:00Z", "body": {"traceId": "good-trace"}},
        {"id": "bad-kind", "type": "teleport-create", "timestamp": "2026-11-23T10:00:00Z", "body": {"id": "x"}},
        {"id": "bad-time", "type": "trace-create", "timestamp": "not a time", "body": {"id": "y"}},
        "not an object",
        {"id": "ok-2", "type": "span-create", "timestamp": "2026-11-23T10:00:01Z",
         "body": {"id": "good-span", "traceId": "good-trace", "name": "fine"}},
    ]}
    status, body = tally.request("POST", "/api/public/ingestion", batch)
    assert status == 207
    assert [s["id"] for s in body["successes"]] == ["ok-1", "ok-2"]
    errors = {e["id"]: e for e in body["errors"]}
    assert set(errors) == {"bad-type", "bad-id", "bad-kind", "bad-time", "unknown"}
    assert all(e["status"] == 400 for e in errors.values())
    assert "body.name" in errors["bad-type"]["error"]
    assert "body.id" in errors["bad-id"]["error"]
    assert "teleport-create" in errors["bad-kind"]["error"]
    _, t = tally.get("/api/public/traces/good-trace")
    assert [o["name"] for o in t["observations"]] == ["fine"]
    # Oversize body: 413 before anything is parsed.
    big = {"batch": [{"id": "big", "type": "trace-create", "timestamp": "2026-11-23T10:00:00Z",
                      "body": {"id": "big", "input": "x" * 5_000_000}}]}
    status, body = tally.request("POST", "/api/public/ingestion", big)
    assert status == 413
    assert tally.get("/api/public/traces/big")[0] == 404
    # A large field under the body limit is stored truncated and reported.
    wide = {"batch": [{"id": "wide", "type": "trace-create", "timestamp": "2026-11-23T10:00:00Z",
                       "body": {"id": "wide", "input": "y" * 2_000_000}}]}
    status, body = tally.request("POST", "/api/public/ingestion", wide)
    assert status == 207 and "truncated" in body["successes"][0]["message"]
    _, t = tally.get("/api/public/traces/wide")
    assert t["input"].endswith("[truncated by Tally: 2000000 bytes]") and len(t["input"]) < 1_100_000
    # Wrong keys.
    assert tally.get("/api/public/traces", auth=(PUBLIC_KEY, "sk-wrong"))[0] == 401
    assert tally.get("/api/public/traces", auth=None)[0] == 401
    status, body = tally.request("POST", "/api/public/ingestion", {"batch": []}, auth=("pk-unknown", SECRET_KEY))
    assert status == 401 and "Invalid credentials" in body["message"]
    # Still alive and serving.
    assert tally.get("/api/public/health", auth=None)[0] == 200
    assert tally.proc.poll() is None


def test_projects_are_isolated(tally, tmp_path):
    tally.stop()
    import subprocess, os
    from conftest import ROOT
    binary = os.environ.get("TALLY_BIN", str(ROOT / ".build" / "debug" / "tally"))
    out = subprocess.run([binary, "keys", "create", "--project", "other", "--db", tally.db_path],
                         capture_output=True, text=True, check=True).stdout
    pk = out.split("public key: ")[1].split()[0]
    sk = out.split("secret key: ")[1].split()[0]
    listing = subprocess.run([binary, "keys", "list", "--db", tally.db_path], capture_output=True, text=True, check=True).stdout
    assert pk in listing and sk not in listing
    tally.start()
    batch = {"batch": [{"id": "i1", "type": "trace-create", "timestamp": "2026-11-23T10:00:00Z",
                        "body": {"id": "shared-id", "name": "mine"}}]}
    assert tally.request("POST", "/api/public/ingestion", batch)[0] == 207
    assert tally.get("/api/public/traces/shared-id", auth=(pk, sk))[0] == 404
    assert tally.get("/api/public/traces", auth=(pk, sk))[1]["meta"]["totalItems"] == 0
    assert tally.request("DELETE", "/api/public/traces/shared-id", auth=(pk, sk))[0] == 404
    assert tally.get("/api/public/traces/shared-id")[1]["name"] == "mine"
    # Revoked keys stop working at once (after restart the revocation is also durable).
    tally.stop()
    subprocess.run([binary, "keys", "revoke", pk, "--db", tally.db_path], check=True, capture_output=True)
    tally.start()
    assert tally.get("/api/public/traces", auth=(pk, sk))[0] == 401


def test_spend_by_tenant_feature_and_model_matches_the_hand_calculation(tally):
    """After the SDK workload, the analytics and Langfuse metrics APIs report spend to the last digit, including the
    generations the SDK sent without cost (priced at ingest from the built-in table)."""
    run_workload(client(tally), uuid.uuid4().hex[:8])
    # Per trace: embed-query 9 tokens × $0.02/M = 0.00000018 (inferred); chat-completion either given 0.002288
    # (acme) or inferred 800 × $0.40/M + 120 × $1.60/M = 0.000512 (globex, initech). Two traces per tenant.
    tenants = {"acme": 0.00457636, "globex": 0.00102436, "initech": 0.00102436}
    for metrics in ("count,totalCost", "count,traces,totalCost"):  # rollup path, then the scan with trace counts
        status, body = tally.get(f"/api/tally/v1/breakdown?groupBy=tenant&metrics={metrics}&sort=-totalCost")
        assert status == 200, body
        assert {r["tenant"]: r["totalCost"] for r in body["data"]} == tenants
        assert [r["tenant"] for r in body["data"]][0] == "acme"
        assert all(r["count"] == 10 for r in body["data"])
    _, body = tally.get("/api/tally/v1/breakdown?groupBy=feature&metrics=totalCost")
    assert {r["feature"]: r["totalCost"] for r in body["data"]} == {"copilot": 0.00560072, "search": 0.00102436}
    _, body = tally.get("/api/tally/v1/dashboards/cost-by-model")
    by_model = {r["model"]: r["totalCost"] for r in body["data"]}
    assert by_model["gpt-4.1-mini"] == 0.006624 and by_model["text-embedding-3-small"] == 0.00000108
    _, body = tally.get("/api/tally/v1/unit-economics?groupBy=tenant")
    assert {r["tenant"]: (r["traces"], r["successes"]) for r in body["data"]} == {
        "acme": (2, 0), "globex": (2, 0), "initech": (2, 0)}  # every trace has an ERROR span: no success

    # Langfuse's daily metrics and query API agree.
    _, daily = tally.get("/api/public/metrics/daily")
    assert len(daily["data"]) == 1
    day = daily["data"][0]
    assert day["countTraces"] == 6 and day["countObservations"] == 30 and day["totalCost"] == 0.00662508
    assert {u["model"]: u["totalCost"] for u in day["usage"]} == {m: c for m, c in by_model.items() if m}
    now = dt.datetime.now(dt.timezone.utc)
    query = {"view": "observations", "dimensions": [{"field": "tenantId"}],
             "metrics": [{"measure": "totalCost", "aggregation": "sum"}, {"measure": "count", "aggregation": "count"}],
             "filters": [], "fromTimestamp": (now.replace(hour=0, minute=0, second=0, microsecond=0)).isoformat(),
             "toTimestamp": (now + dt.timedelta(days=1)).isoformat()}
    for path in ("/api/public/metrics", "/api/public/v2/metrics"):
        status, body = tally.get(path + "?query=" + urllib.parse.quote(json.dumps(query)))
        assert status == 200, body
        assert {r["tenantId"]: r["sum_totalCost"] for r in body["data"]} == tenants
        assert all(r["count_count"] == 10 for r in body["data"])


def test_sdk_reads_with_spaces_in_query_values(tally):
    """httpx (every Langfuse SDK) writes a space in a query value as `+`: the filter must still match."""
    lf = client(tally)
    trace = lf.trace(id=f"trace-{uuid.uuid4().hex}", name="copilot request")
    trace.generation(id=f"gen-{uuid.uuid4().hex}", name="chat gpt-4o-mini", model="gpt-4o-mini").end()
    lf.flush()
    observations = lf.fetch_observations(name="chat gpt-4o-mini").data
    assert [o.name for o in observations] == ["chat gpt-4o-mini"]
    traces = lf.fetch_traces(name="copilot request").data
    assert [t.name for t in traces] == ["copilot request"]


def test_cost_details_without_total_sum_exactly(tally):
    """A client's cost keys without a total add up as decimals: 0.000115 + 0.00023 is 0.000345, not 0.00034500000000000004."""
    lf = client(tally)
    gen_id = f"gen-{uuid.uuid4().hex}"
    lf.trace(id=f"trace-{uuid.uuid4().hex}").generation(
        id=gen_id, model="gpt-4o-mini", usage_details={"input": 1000, "output": 500},
        cost_details={"input": 0.000115, "output": 0.00023}).end()
    lf.flush()
    status, o = tally.get(f"/api/public/observations/{gen_id}")
    assert status == 200, o
    assert o["costDetails"]["total"] == 0.000345 and o["calculatedTotalCost"] == 0.000345


def test_openai_wrapper_tenant_reaches_the_trace(tally):
    """langfuse 2.x's OpenAI wrapper puts `metadata` on the generation only: the trace takes its tenant and feature
    (README "Tenants and features"), so trace filters, unit economics and breakdowns agree."""
    from fake_openai import CHAT_USAGE, FakeOpenAI
    from langfuse.openai import openai
    from langfuse.utils.langfuse_singleton import LangfuseSingleton

    LangfuseSingleton().reset()  # another test's server may have been the singleton's host
    openai.langfuse_public_key, openai.langfuse_secret_key, openai.langfuse_host = PUBLIC_KEY, SECRET_KEY, tally.url
    with FakeOpenAI() as fake:
        client_ = openai.OpenAI(api_key="sk-fake", base_url=fake.url, max_retries=0)
        for tenant, feature in (("acme", "support-bot"), ("acme", "support-bot"), ("globex", "summarise")):
            answer = client_.chat.completions.create(
                model="gpt-4o-mini", messages=[{"role": "user", "content": "hello"}],
                metadata={"tenantId": tenant, "feature": feature})
            assert answer.choices[0].message.content == "fake answer"
        streamed = client_.chat.completions.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}], stream=True,
            stream_options={"include_usage": True}, metadata={"tenantId": "globex", "feature": "summarise"})
        assert "".join(c.choices[0].delta.content or "" for c in streamed if c.choices) == "fake answer"
        openai.flush_langfuse()
    LangfuseSingleton().reset()

    status, traces = tally.get("/api/public/traces?tenantId=acme")
    assert status == 200 and traces["meta"]["totalItems"] == 2, traces
    assert {o for t in traces["data"] for o in t["observations"]} and all(t["totalCost"] > 0 for t in traces["data"])
    status, globex = tally.get("/api/public/traces?tenantId=globex")
    assert globex["meta"]["totalItems"] == 2, globex
    # Priced from the usage the wrapper reported: 1,000 uncached + 200 cached input and 300 output tokens each.
    status, gens = tally.get("/api/public/observations?type=GENERATION")
    assert len(gens["data"]) == 4
    for g in gens["data"]:
        assert g["usageDetails"]["input"] + g["usageDetails"].get("input_cached_tokens", 0) == CHAT_USAGE["prompt_tokens"]
        assert g["usageDetails"]["output"] == CHAT_USAGE["completion_tokens"]
    status, breakdown = tally.get("/api/tally/v1/breakdown?groupBy=tenant")
    assert status == 200, breakdown
    status, units = tally.get("/api/tally/v1/unit-economics?groupBy=tenant")
    assert status == 200, units
    by_tenant = {r["tenant"]: r["totalCost"] for r in breakdown["data"]}
    per_trace = {r["tenant"]: r["totalCost"] for r in units["data"]}
    assert set(by_tenant) == {"acme", "globex"} and by_tenant == per_trace, (breakdown, units)


def test_nested_model_parameters_read_back_through_the_typed_client(tally):
    """OpenInference sends `stream_options: {"include_usage": true}`; langfuse 2.x's pydantic models take only scalar
    (or string list) parameter values, so nested ones come back as JSON text, as Langfuse answers them."""
    trace_id, gen_id = f"trace-{uuid.uuid4().hex}", f"gen-{uuid.uuid4().hex}"
    now = dt.datetime.now(dt.timezone.utc).isoformat()
    parameters = {"temperature": 0.2, "max_tokens": 256, "stream": True, "stop": ["\n"],
                  "stream_options": {"include_usage": True}, "tools": [{"type": "function", "name": "f"}]}
    status, body = tally.request("POST", "/api/public/ingestion", {"batch": [
        {"id": uuid.uuid4().hex, "type": "trace-create", "timestamp": now, "body": {"id": trace_id, "name": "p"}},
        {"id": uuid.uuid4().hex, "type": "generation-create", "timestamp": now,
         "body": {"id": gen_id, "traceId": trace_id, "model": "gpt-4o-mini", "modelParameters": parameters}}]})
    assert status == 207 and not body["errors"], body
    lf = client(tally)
    # The client's own union (str first) turns the float into text; the server sent 0.2.
    expected = {**parameters, "temperature": "0.2", "stop": '["\\n"]', "stream_options": '{"include_usage":true}',
                "tools": '[{"name":"f","type":"function"}]'}
    assert lf.fetch_observation(gen_id).data.model_parameters == expected
    assert [o.model_parameters for o in lf.fetch_observations(trace_id=trace_id).data] == [expected]
    assert lf.fetch_trace(trace_id).data.observations[0].model_parameters == expected
    assert json.loads(expected["tools"]) == parameters["tools"]
    status, raw = tally.get(f"/api/public/observations/{gen_id}")
    assert raw["modelParameters"]["temperature"] == 0.2 and raw["modelParameters"]["max_tokens"] == 256


def test_typed_client_reads_everything_and_manages_prompts(tally):
    """langfuse 2.60.10's own API client (`lf.client`, pydantic v1 models) parses every read route it has; its
    prompt management works unchanged, and generations linked to a prompt reach the prompt analytics."""
    from langfuse.api.resources.commons.errors.not_found_error import NotFoundError

    lf = client(tally)
    lf.create_prompt(name="support/answer", prompt="Answer {{q}}", labels=["production"], config={"temperature": 0})
    prompt = lf.get_prompt("support/answer")
    assert prompt.version == 1 and prompt.compile(q="why") == "Answer why"
    run = uuid.uuid4().hex[:8]
    for n in range(3):
        trace = lf.trace(id=f"trace-{run}-{n}", name="req", user_id="u1", session_id=f"sess-{run}",
                         metadata={"tenantId": "acme"})
        trace.generation(id=f"gen-{run}-{n}", name="answer", model="gpt-4o-mini", prompt=prompt,
                         usage={"input": 1000, "output": 100}).end()
        trace.score(name="quality", value=0.5)
    lf.flush()
    api = lf.client
    assert api.trace.list(limit=50).meta.total_items == 3
    assert len(api.trace.get(f"trace-{run}-0").observations) == 1
    gens = api.observations.get_many(type="GENERATION").data
    assert {(o.prompt_name, o.prompt_version) for o in gens} == {("support/answer", 1)}
    assert api.sessions.get(f"sess-{run}").id == f"sess-{run}"
    assert api.score.get(name="quality").meta.total_items == 3
    assert api.metrics.daily().data[0].count_traces == 3
    models = every_page(api.models.list)
    assert len(models) > 50
    status, versions = tally.get("/api/tally/v1/prompts/support%2Fanswer/versions")
    assert status == 200 and [(v["promptVersion"], v["runs"]) for v in versions["data"]] == [(1, 3)], versions
    assert [p["prompt"] for p in versions["prompts"]] == ["Answer {{q}}"]

    lf.create_prompt(name="support/answer", prompt="Answer {{q}} briefly", labels=["staging"])
    lf.update_prompt(name="support/answer", version=2, new_labels=["production"])
    assert lf.get_prompt("support/answer", cache_ttl_seconds=0).version == 2
    assert [p.versions for p in api.prompts.list().data] == [[1, 2]]
    with pytest.raises(NotFoundError):
        lf.get_prompt("no-such-prompt", max_retries=1)  # 2.x: 0 means retry forever (backoff max_tries)


def test_call_log_prints_one_line_per_generation(tmp_path):
    """`tally serve --call-log -` (here TALLY_CALL_LOG=-): one JSON line per generation after its commit, with the
    stored tenant, tokens and cost; a re-sent generation is logged again with "update": true."""
    import time

    from conftest import TallyServer, free_port

    server = TallyServer(str(tmp_path / "calls.db"), free_port(), extra_env={"TALLY_CALL_LOG": "-"})
    server.start()
    try:
        lf = client(server)
        run_workload(lf, "calllog")
        status, gens = server.get("/api/public/observations?type=GENERATION&limit=100")
        assert status == 200 and len(gens["data"]) == 12

        def lines():
            out = []
            for raw in server.log_path.read_text().splitlines():
                if raw.startswith("{") and '"observation_id"' in raw:
                    out.append(json.loads(raw))
            return out

        deadline = time.time() + 10
        while len({l["observation_id"] for l in lines()}) < 12 and time.time() < deadline:
            time.sleep(0.1)
        logged = lines()
        last = {}
        for line in logged:
            last[line["observation_id"]] = line
        assert set(last) == {g["id"] for g in gens["data"]}
        for g in gens["data"]:
            line = last[g["id"]]
            assert line["tenant_id"] == g["tenant"] and line["model"] == g["model"]
            assert line["cost_usd"] == pytest.approx(g["calculatedTotalCost"] or 0, abs=1e-12) or line["cost_usd"] is None
            assert line["input_tokens"] == g["promptTokens"] and line["output_tokens"] == g["completionTokens"]
            assert line["trace_id"] == g["traceId"] and line["outcome"] == "success"
        # Each process counts its own lines (two collectors on PostgreSQL: the sum).
        healths = [server.get("/api/public/health", base=p.url)[1]["callLog"] for p in server.processes]
        assert sum(h["dropped"] for h in healths) == 0 and sum(h["written"] for h in healths) == len(logged)
        # A re-sent generation: another line for the same id, marked as an update.
        gen_id = gens["data"][0]["id"]
        trace_id = gens["data"][0]["traceId"]

        def updates():
            return sum(1 for l in lines() if l["observation_id"] == gen_id and l.get("update") is True)

        before = updates()
        lf.generation(id=gen_id, trace_id=trace_id, name="again", model="gpt-4.1-mini").end()
        lf.flush()
        deadline = time.time() + 10
        while updates() == before and time.time() < deadline:
            time.sleep(0.1)
        assert updates() > before
    finally:
        server.close()
