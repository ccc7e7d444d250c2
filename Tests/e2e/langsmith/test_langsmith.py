"""End-to-end: the real LangSmith SDK (langsmith==0.15.1) pointed at a live `tally serve`
(`LANGSMITH_ENDPOINT=<tally>/api/langsmith`, `LANGSMITH_API_KEY=<public>:<secret>`): `@traceable` runs and
`wrap_openai` calls (against a fake OpenAI server on loopback; no provider is called) land as traces and
observations with tokens, cost and tenant, through the same price table as the Langfuse paths."""
import datetime as dt
import uuid

import openai
import pytest
from langsmith import Client, traceable, tracing_context
from langsmith.wrappers import wrap_openai

from conftest import PUBLIC_KEY, SECRET_KEY
from fake_openai import CHAT_USAGE, FakeOpenAI

# gpt-4o-mini: 0.15 input, 0.075 cached input, 0.60 output per 1M tokens; each fake chat: 1000 + 200 cached in, 300 out.
CHAT_COST = (1000 * 0.15 + 200 * 0.075 + 300 * 0.60) / 1e6


@pytest.fixture
def client(tally):
    c = Client(api_url=tally.url + "/api/langsmith", api_key=f"{PUBLIC_KEY}:{SECRET_KEY}")
    yield c
    c.flush()


def test_traceable_and_wrap_openai_land_priced_with_tenant(tally, client):
    with FakeOpenAI() as fake:
        oai = wrap_openai(openai.OpenAI(base_url=fake.url, api_key="sk-fake", max_retries=0))

        @traceable(run_type="retriever", name="search_docs")
        def search_docs(query):
            return [{"page_content": "Rotate keys under Settings.", "metadata": {"source": "kb/1"}}]

        @traceable(run_type="tool", name="charge_card")
        def charge_card(order):
            raise RuntimeError("card processor returned 503")

        @traceable(run_type="chain", name="answer_question")
        def answer_question(question):
            docs = search_docs(question)
            first = oai.chat.completions.create(model="gpt-4o-mini", temperature=0.2, max_tokens=256,
                                                messages=[{"role": "user", "content": docs[0]["page_content"]}])
            stream = oai.chat.completions.create(model="gpt-4o-mini", stream=True,
                                                 stream_options={"include_usage": True},
                                                 messages=[{"role": "user", "content": "again"}])
            return {"answer": first.choices[0].message.content,
                    "again": "".join(c.choices[0].delta.content or "" for c in stream if c.choices)}

        @traceable(run_type="chain", name="refund_flow")
        def refund_flow(order):
            return charge_card(order)

        extra = {"client": client, "metadata": {"tenantId": "acme", "feature": "copilot", "user_id": "user-42"},
                 "tags": ["copilot", "tenant:acme"]}
        with tracing_context(enabled=True):  # as LANGSMITH_TRACING=true does
            assert answer_question("How?", langsmith_extra=extra) == {"answer": "fake answer", "again": "fake answer"}
            with pytest.raises(RuntimeError):
                refund_flow("ord-1", langsmith_extra={"client": client, "metadata": {"tenantId": "globex"}})
        client.flush()

    status, body = tally.get("/api/public/traces")
    assert status == 200, body
    traces = {t["name"]: t for t in body["data"]}
    assert set(traces) == {"answer_question", "refund_flow"}
    answer = traces["answer_question"]
    assert answer["tenant"] == "acme" and answer["feature"] == "copilot" and answer["userId"] == "user-42"
    assert answer["tags"] == ["copilot", "tenant:acme"]
    assert answer["totalCost"] == pytest.approx(2 * CHAT_COST, abs=1e-12)
    status, obs = tally.get(f"/api/public/observations?traceId={answer['id']}&limit=100")
    by_type = {}
    for o in obs["data"]:
        by_type.setdefault(o["type"], []).append(o)
    assert {t: len(v) for t, v in by_type.items()} == {"CHAIN": 1, "RETRIEVER": 1, "GENERATION": 2}
    for g in by_type["GENERATION"]:
        assert g["model"] == "gpt-4o-mini" and g["responseModel"] == "gpt-4o-mini-2024-07-18"
        assert g["usageDetails"] == {"input": 1000, "input_cached_tokens": 200, "output": 300, "total": 1500}
        assert g["calculatedTotalCost"] == pytest.approx(CHAT_COST, abs=1e-12) and g["costSource"] == "inferred"
        assert g["tenant"] == "acme"
    assert sum(1 for g in by_type["GENERATION"] if g["completionStartTime"]) == 1  # the streamed call
    refund = traces["refund_flow"]
    assert refund["tenant"] == "globex"
    status, failed = tally.get(f"/api/public/observations?traceId={refund['id']}")
    assert {(o["name"], o["level"]) for o in failed["data"]} == {("refund_flow", "ERROR"), ("charge_card", "ERROR")}
    assert all("card processor returned 503" in o["statusMessage"] for o in failed["data"])
    status, breakdown = tally.get("/api/tally/v1/breakdown?groupBy=tenant&metrics=totalCost,count")
    assert {r["tenant"]: r["totalCost"] for r in breakdown["data"]}["acme"] == pytest.approx(2 * CHAT_COST, abs=1e-12)


def test_create_run_and_update_run(tally, client):
    """`Client.create_run`/`update_run` send POST /runs and PATCH /runs/{id} one run at a time, the child known
    only by its parent; an error status would raise in the application."""
    root, child = uuid.uuid4(), uuid.uuid4()
    now = dt.datetime.now(dt.timezone.utc)
    client.create_run(name="direct_request", run_type="chain", id=root, start_time=now, inputs={"q": "hi"},
                      extra={"metadata": {"tenantId": "initech", "feature": "batch"}}, tags=["direct"])
    client.create_run(name="direct_llm_call", run_type="llm", id=child, parent_run_id=root, start_time=now,
                      inputs={"messages": [{"role": "user", "content": "hi"}]},
                      extra={"invocation_params": {"model": "gpt-4o-mini"}})
    client.update_run(child, end_time=dt.datetime.now(dt.timezone.utc), outputs={"llm_output": {
        "model_name": "gpt-4o-mini-2024-07-18", "token_usage": CHAT_USAGE}})
    client.update_run(root, end_time=dt.datetime.now(dt.timezone.utc), outputs={"answer": "done"})
    status, t = tally.get(f"/api/public/traces/{root}")
    assert status == 200, t
    assert t["name"] == "direct_request" and t["tenant"] == "initech" and t["output"] == {"answer": "done"}
    assert t["totalCost"] == pytest.approx(CHAT_COST, abs=1e-12)
    status, o = tally.get(f"/api/public/observations/{child}")
    assert o["traceId"] == str(root) and o["parentObservationId"] == str(root) and o["model"] == "gpt-4o-mini"
    assert o["endTime"] is not None and o["tenant"] == "initech"
    # A wrong key is refused, and the SDK raises in the application for the synchronous path.
    bad = Client(api_url=tally.url + "/api/langsmith", api_key=f"{PUBLIC_KEY}:wrong")
    with pytest.raises(Exception):
        bad.create_run(name="x", run_type="chain", id=uuid.uuid4(), inputs={}, start_time=now)
