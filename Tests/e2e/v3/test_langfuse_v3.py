"""End-to-end: the real langfuse==3.15.0 SDK (the newest 3.x) against a live `tally serve`: it writes over OTLP,
manages prompts, and reads everything back through its own typed API client (pydantic models) without a
validation error."""
import datetime as dt
import json
import urllib.parse

import pytest
from langfuse import Langfuse
from langfuse._client.resource_manager import LangfuseResourceManager
from langfuse.api.resources.commons.errors.not_found_error import NotFoundError

from conftest import PUBLIC_KEY, SECRET_KEY, every_page

TENANTS = {"acme": "support-bot", "globex": "summarise"}


def client(tally):
    # The SDK keeps one client per public key for the whole process; each test has its own server (own port).
    LangfuseResourceManager.reset()
    return Langfuse(public_key=PUBLIC_KEY, secret_key=SECRET_KEY, host=tally.url, flush_at=100, flush_interval=0.5)


def workload(lf):
    """One prompt, then two traces per tenant: a span, a generation linked to the prompt, scores. Returns trace ids."""
    lf.create_prompt(name="support/answer", prompt="Answer {{question}} politely.", labels=["production"],
                     tags=["support"], config={"model": "gpt-4o-mini", "temperature": 0.2})
    prompt = lf.get_prompt("support/answer")
    assert prompt.version == 1 and prompt.compile(question="why") == "Answer why politely."
    ids = []
    for tenant, feature in TENANTS.items():
        for n in range(2):
            with lf.start_as_current_span(name="request") as root:
                root.update_trace(name="copilot-request", user_id=f"user-{tenant}", session_id=f"session-{tenant}",
                                  metadata={"tenantId": tenant, "feature": feature}, tags=["e2e", f"tenant:{tenant}"])
                with lf.start_as_current_span(name="retrieve", input={"query": f"q{n}"}) as span:
                    span.update(output={"hits": 2})
                with lf.start_as_current_generation(
                        name="answer", model="gpt-4o-mini", prompt=prompt,
                        model_parameters={"temperature": 0.2, "stream_options": {"include_usage": True}},
                        input=[{"role": "user", "content": prompt.compile(question=f"q{n}")}]) as gen:
                    gen.update(output="fine", usage_details={"input": 1000, "output": 200})
                root.score_trace(name="helpful", value=1, data_type="BOOLEAN")
                ids.append(root.trace_id)
    lf.flush()
    return ids


def test_writes_and_reads_everything_back_through_the_typed_client(tally):
    lf = client(tally)
    assert lf.auth_check() is True
    ids = workload(lf)
    api = lf.api

    traces = api.trace.list(limit=50)
    assert traces.meta.total_items == 4 and {t.id for t in traces.data} == set(ids)
    acme = api.trace.list(tags=["tenant:acme"])
    assert acme.meta.total_items == 2
    full = api.trace.get(ids[0])
    assert {o.name for o in full.observations} == {"request", "retrieve", "answer"}
    answer = next(o for o in full.observations if o.name == "answer")
    # Nested parameters come back as JSON text, as Langfuse answers them.
    assert answer.model_parameters["stream_options"] == '{"include_usage":true}'
    assert answer.prompt_name == "support/answer" and answer.prompt_version == 1
    assert answer.calculated_total_cost == pytest.approx((1000 * 0.15 + 200 * 0.60) / 1e6, abs=1e-12)

    observations = api.observations.get_many(type="GENERATION", limit=100)
    assert len(observations.data) == 4
    assert api.observations.get(answer.id).usage_details == {"input": 1000, "output": 200, "total": 1200}
    sessions = api.sessions.list()
    assert {s.id for s in sessions.data} == {"session-acme", "session-globex"}
    assert len(api.sessions.get("session-acme").traces) == 2

    scores = api.score_v_2.get(name="helpful")
    assert scores.meta.total_items == 4 and all(s.value == 1 for s in scores.data)
    assert api.score_v_2.get_by_id(scores.data[0].id).name == "helpful"

    now = dt.datetime.now(dt.timezone.utc)
    query = {"view": "observations", "dimensions": [{"field": "promptName"}, {"field": "promptVersion"}],
             "metrics": [{"measure": "totalCost", "aggregation": "sum"}, {"measure": "count", "aggregation": "count"}],
             "filters": [{"column": "type", "operator": "=", "value": "GENERATION", "type": "string"}],
             "fromTimestamp": (now - dt.timedelta(hours=1)).isoformat(),
             "toTimestamp": (now + dt.timedelta(hours=1)).isoformat()}
    rows = api.metrics.metrics(query=json.dumps(query)).data
    assert rows == [{"promptName": "support/answer", "promptVersion": 1,
                     "sum_totalCost": pytest.approx(4 * 0.00027, abs=1e-12), "count_count": 4}]

    # Every model page parses (createdAt, tier conditions in the shape this SDK knows).
    models = every_page(api.models.list)
    assert len(models) > 50 and all(m.created_at is not None for m in models)
    assert api.models.get("gpt-4o-mini").model_name == "gpt-4o-mini"
    assert api.projects.get().data[0].id == "e2e-project"

    prompts = api.prompts.list()
    assert [(p.name, p.versions, p.labels) for p in prompts.data] == [
        ("support/answer", [1], ["latest", "production"])]
    # A folder name is percent-encoded in the path (the SDK's get_prompt does it; the raw API client does not).
    folder = urllib.parse.quote("support/answer", safe="")
    assert api.prompts.get(folder).config == {"model": "gpt-4o-mini", "temperature": 0.2}


def test_prompt_management(tally):
    lf = client(tally)
    lf.create_prompt(name="greeting", prompt="Hello {{name}}", labels=["production"], commit_message="v1")
    lf.create_prompt(name="greeting", prompt="Hi {{name}}!", labels=["staging"])
    assert lf.get_prompt("greeting").compile(name="Ada") == "Hello Ada"
    assert lf.get_prompt("greeting", label="staging", cache_ttl_seconds=0).version == 2
    assert lf.get_prompt("greeting", version=1, cache_ttl_seconds=0).commit_message == "v1"
    lf.update_prompt(name="greeting", version=2, new_labels=["production"])
    promoted = lf.get_prompt("greeting", cache_ttl_seconds=0)
    assert promoted.version == 2 and promoted.compile(name="Ada") == "Hi Ada!"
    assert set(promoted.labels) == {"latest", "production", "staging"}
    chat = lf.create_prompt(name="triage", type="chat", labels=["production"],
                            prompt=[{"role": "system", "content": "You triage {{product}} tickets."},
                                    {"role": "user", "content": "{{ticket}}"}])
    assert chat.version == 1
    compiled = lf.get_prompt("triage", type="chat").compile(product="Tally", ticket="It is slow")
    assert compiled == [{"role": "system", "content": "You triage Tally tickets."},
                        {"role": "user", "content": "It is slow"}]
    with pytest.raises(NotFoundError):
        lf.get_prompt("does-not-exist", max_retries=0)
    # A fallback answers when the server has no such prompt, as with Langfuse.
    assert lf.get_prompt("does-not-exist", fallback="Fallback {{x}}", max_retries=0).compile(x=1) == "Fallback 1"
