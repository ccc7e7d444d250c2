"""End-to-end: LiteLLM's `langfuse` callback (litellm==1.110.2 through langfuse==4.18.0) against a live `tally serve`,
with a fake OpenAI server on loopback standing in for the provider."""
import os

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")  # no fetch of the remote price map (loopback only)
import time

import pytest

from conftest import PUBLIC_KEY, SECRET_KEY
from fake_openai import CHAT_USAGE, FakeOpenAI


def wait_for(tally, path, count, timeout=20):
    """The callback exports in the background: poll (bounded) until `count` items are listed."""
    deadline = time.time() + timeout
    while True:
        status, body = tally.get(path)
        assert status == 200, body
        if len(body["data"]) >= count or time.time() > deadline:
            return body["data"]
        time.sleep(0.2)


@pytest.fixture
def litellm_to(tally, monkeypatch):
    monkeypatch.setenv("LANGFUSE_PUBLIC_KEY", PUBLIC_KEY)
    monkeypatch.setenv("LANGFUSE_SECRET_KEY", SECRET_KEY)
    monkeypatch.setenv("LANGFUSE_HOST", tally.url)
    import litellm
    litellm.success_callback = ["langfuse"]
    litellm.failure_callback = ["langfuse"]
    yield litellm
    litellm.success_callback, litellm.failure_callback = [], []


def test_callback_lands_priced_with_tenant_on_the_trace(tally, litellm_to):
    litellm = litellm_to
    calls = [("acme", "support-bot"), ("acme", "support-bot"), ("globex", "summarise")]
    with FakeOpenAI() as fake:
        for tenant, feature in calls:
            answer = litellm.completion(
                model="openai/gpt-4o-mini", api_base=fake.url, api_key="sk-fake",
                messages=[{"role": "user", "content": "hello"}],
                # LiteLLM sends `trace_metadata` as the trace's metadata (its generation metadata is an allowlist).
                metadata={"trace_metadata": {"tenantId": tenant, "feature": feature},
                          "trace_user_id": f"user-{tenant}"})
            assert answer.choices[0].message.content == "fake answer"
    generations = wait_for(tally, "/api/public/observations?type=GENERATION", len(calls))
    assert len(generations) == len(calls)
    for g in generations:
        assert g["model"] == "gpt-4o-mini"
        assert g["usageDetails"]["input"] == CHAT_USAGE["prompt_tokens"] - 200
        assert g["usageDetails"]["cache_read_input_tokens"] == 200
        assert g["usageDetails"]["output"] == CHAT_USAGE["completion_tokens"]
        assert g["calculatedTotalCost"] > 0
    status, acme = tally.get("/api/public/traces?tenantId=acme")
    assert acme["meta"]["totalItems"] == 2 and {t["userId"] for t in acme["data"]} == {"user-acme"}, acme
    status, breakdown = tally.get("/api/tally/v1/breakdown?groupBy=tenant,feature")
    rows = {(r["tenant"], r["feature"]): (r["count"], r["totalCost"]) for r in breakdown["data"]}
    cost = generations[0]["calculatedTotalCost"]
    assert rows == {("acme", "support-bot"): (2, pytest.approx(2 * cost, abs=1e-12)),
                    ("globex", "summarise"): (1, cost)}, rows
    status, units = tally.get("/api/tally/v1/unit-economics?groupBy=tenant")
    assert {r["tenant"]: r["traces"] for r in units["data"]} == {"acme": 2, "globex": 1}
