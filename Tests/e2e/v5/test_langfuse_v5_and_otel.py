"""End-to-end over OTLP: the real langfuse==5.0.4 SDK and the real opentelemetry-sdk OTLP/HTTP exporter against a
live `tally serve`, read back through the public API."""
import base64
import uuid

import pytest
from langfuse import Langfuse, observe, propagate_attributes
from langfuse._client.resource_manager import LangfuseResourceManager
from opentelemetry.exporter.otlp.proto.http import Compression
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExportResult
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import Status, StatusCode

from conftest import PUBLIC_KEY, SECRET_KEY


def langfuse_client(tally, **kw):
    # The SDK keeps one client per public key for the whole process; each test has its own server (own port).
    LangfuseResourceManager.reset()
    return Langfuse(public_key=PUBLIC_KEY, secret_key=SECRET_KEY, base_url=tally.url, flush_at=100,
                    flush_interval=0.5, environment="production", release="rel-5", **kw)


def observations(tally, trace_id):
    status, body = tally.get(f"/api/public/observations?traceId={trace_id}&limit=100")
    assert status == 200, body
    return {o["name"]: o for o in body["data"]}


@pytest.mark.parametrize("compression", ["gzip", "none"])
def test_langfuse_v5_sdk_round_trip(tally, compression):
    lf = langfuse_client(tally, otel_compression=compression)
    assert lf.auth_check() is True
    run = uuid.uuid4().hex[:8]
    acme = Langfuse.create_trace_id(seed=f"acme-{run}")
    with lf.start_as_current_observation(as_type="span", name="copilot-request", trace_context={"trace_id": acme},
                                         input={"question": "How do I rotate my key?"}) as root:
        with propagate_attributes(user_id="user-42", session_id=f"sess-{run}", trace_name="copilot-request",
                                  metadata={"tenantId": "acme", "feature": "copilot"}, tags=["copilot", "tenant:acme"],
                                  version="copilot-1.3.0", prompt={"name": "copilot-answer", "version": 4}):
            with lf.start_as_current_observation(as_type="tool", name="search-docs", input={"q": "rotate"}) as tool:
                tool.update(output={"hits": ["kb/1"]})
            with lf.start_as_current_observation(as_type="generation", name="chat-completion", model="gpt-4.1-mini",
                                                 model_parameters={"temperature": 0.2, "max_tokens": 512},
                                                 input=[{"role": "user", "content": "How?"}]) as gen:
                gen.update(output={"role": "assistant", "content": "Settings."},
                           usage_details={"input": 4200, "output": 380, "cache_read_input_tokens": 1000},
                           cost_details={"input": 0.00168, "output": 0.000608, "total": 0.002288})
                gen.score(name="helpfulness", value=0.9, score_id=f"help-{run}")
                gen_id = gen.id
            with lf.start_as_current_observation(as_type="generation", name="summarize", model="gpt-4.1-mini") as g2:
                g2.update(output="short", usage_details={"input": 800, "output": 120})
            lf.create_event(name="guardrail-check", input={"policy": "pii"}, output={"passed": True})
            with lf.start_as_current_observation(as_type="span", name="call-billing", level="ERROR",
                                                 status_message="billing upstream returned 503"):
                pass
        root.update(output={"answer": "Settings."})
    lf.create_score(name="user-feedback", value=1, data_type="BOOLEAN", trace_id=acme, score_id=f"fb-{run}")
    lf.create_score(name="session-csat", value=4.5, session_id=f"sess-{run}", score_id=f"csat-{run}")

    @observe(name="globex-agent", as_type="agent")
    def agent(question):
        with propagate_attributes(user_id="user-7", metadata={"tenantId": "globex"}, tags=["tenant:globex"]):
            return answer(question)

    @observe(name="answer-llm", as_type="generation")
    def answer(question):
        lf.update_current_generation(model="gpt-4.1-mini", usage_details={"input": 1200, "output": 90})
        return "On the 1st."

    globex = Langfuse.create_trace_id(seed=f"globex-{run}")
    assert agent("When are invoices issued?", langfuse_trace_id=globex) == "On the 1st."
    lf.flush()
    lf.shutdown()

    status, t = tally.get(f"/api/public/traces/{acme}")
    assert status == 200, t
    assert t["name"] == "copilot-request"
    assert t["userId"] == "user-42" and t["sessionId"] == f"sess-{run}"
    assert t["tags"] == ["copilot", "tenant:acme"]
    assert t["metadata"] == {"tenantId": "acme", "feature": "copilot"}
    assert t["tenant"] == "acme" and t["feature"] == "copilot"
    assert t["environment"] == "production" and t["release"] == "rel-5"
    assert t["input"] == {"question": "How do I rotate my key?"}
    assert t["output"] == {"answer": "Settings."}
    assert t["totalCost"] == 0.0028  # given 0.002288 + summarize 800 × $0.40/M + 120 × $1.60/M inferred
    obs = observations(tally, acme)
    assert set(obs) == {"copilot-request", "search-docs", "chat-completion", "summarize", "guardrail-check", "call-billing"}
    gen = obs["chat-completion"]
    assert gen["id"] == gen_id and gen["type"] == "GENERATION" and gen["model"] == "gpt-4.1-mini"
    assert gen["usageDetails"] == {"input": 4200, "output": 380, "cache_read_input_tokens": 1000, "total": 5580}
    assert gen["costDetails"] == {"input": 0.00168, "output": 0.000608, "total": 0.002288}
    assert gen["modelParameters"] == {"temperature": 0.2, "max_tokens": 512}
    assert gen["promptName"] == "copilot-answer" and gen["promptVersion"] == 4
    assert obs["summarize"]["usageDetails"] == {"input": 800, "output": 120, "total": 920}
    assert obs["summarize"]["promptName"] == "copilot-answer"
    assert obs["search-docs"]["type"] == "TOOL" and obs["search-docs"]["promptName"] is None
    assert obs["copilot-request"]["parentObservationId"] is None
    assert obs["guardrail-check"]["type"] == "EVENT"
    assert obs["call-billing"]["level"] == "ERROR"
    assert obs["call-billing"]["statusMessage"] == "billing upstream returned 503"
    assert all(o["tenant"] == "acme" for o in obs.values())

    status, g = tally.get(f"/api/public/traces/{globex}")
    assert status == 200, g
    assert g["name"] == "globex-agent" and g["userId"] == "user-7" and g["tenant"] == "globex"
    gobs = observations(tally, globex)
    assert gobs["globex-agent"]["type"] == "AGENT"
    assert gobs["answer-llm"]["usageDetails"] == {"input": 1200, "output": 90, "total": 1290}
    assert gobs["answer-llm"]["output"] == "On the 1st."

    _, scores = tally.get(f"/api/public/v2/scores?traceId={acme}")
    by_name = {s["name"]: s for s in scores["data"]}
    assert by_name["helpfulness"]["value"] == 0.9 and by_name["helpfulness"]["observationId"] == gen_id
    assert by_name["user-feedback"]["dataType"] == "BOOLEAN"
    _, session_scores = tally.get(f"/api/public/v2/scores?sessionId=sess-{run}")
    assert [s["value"] for s in session_scores["data"]] == [4.5]


def otel_provider(tally, compression, path="/api/public/otel/v1/traces", auth=True):
    headers = {}
    if auth:
        headers["Authorization"] = "Basic " + base64.b64encode(f"{PUBLIC_KEY}:{SECRET_KEY}".encode()).decode()
    exporter = OTLPSpanExporter(endpoint=tally.url + path, headers=headers, compression=compression, timeout=10)
    provider = TracerProvider(resource=Resource.create({"service.name": "e2e-app", "service.version": "2.0.0",
                                                        "deployment.environment.name": "staging"}))
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return provider


@pytest.mark.parametrize("compression,path", [(Compression.Gzip, "/api/public/otel/v1/traces"),
                                              (Compression.NoCompression, "/v1/traces")])
def test_raw_opentelemetry_exporter_with_gen_ai_attributes(tally, compression, path):
    provider = otel_provider(tally, compression, path)
    tracer = provider.get_tracer("e2e.gen_ai", "1.0")
    with tracer.start_as_current_span("POST /answer") as root:
        root.set_attribute("user.id", "user-9")
        root.set_attribute("session.id", "sess-otel")
        root.set_attribute("langfuse.trace.name", "otel-request")
        root.set_attribute("langfuse.trace.tags", ["otel", "tenant:initech"])
        root.set_attribute("langfuse.trace.metadata.tenantId", "initech")
        trace_id = format(root.get_span_context().trace_id, "032x")
        with tracer.start_as_current_span("chat gpt-4.1-mini") as chat:
            chat.set_attribute("gen_ai.operation.name", "chat")
            chat.set_attribute("gen_ai.request.model", "gpt-4.1-mini")
            chat.set_attribute("gen_ai.response.model", "gpt-4.1-mini-2025-04-14")
            chat.set_attribute("gen_ai.usage.input_tokens", 1500)
            chat.set_attribute("gen_ai.usage.output_tokens", 200)
            chat.set_attribute("gen_ai.usage.cache_read_input_tokens", 500)
            chat.set_attribute("gen_ai.input.messages", '[{"role":"user","parts":[{"type":"text","content":"hi"}]}]')
        with tracer.start_as_current_span("chat failing") as failing:
            failing.set_attribute("gen_ai.operation.name", "chat")
            failing.set_attribute("gen_ai.request.model", "gpt-4.1-mini")
            failing.set_status(Status(StatusCode.ERROR, "429 Too Many Requests"))
    assert provider.force_flush(10_000)
    provider.shutdown()

    status, t = tally.get(f"/api/public/traces/{trace_id}")
    assert status == 200, t
    assert t["name"] == "otel-request" and t["userId"] == "user-9" and t["tenant"] == "initech"
    assert t["environment"] == "staging" and t["version"] == "2.0.0"
    assert t["tags"] == ["otel", "tenant:initech"]
    obs = observations(tally, trace_id)
    chat = obs["chat gpt-4.1-mini"]
    assert chat["type"] == "GENERATION"
    assert chat["model"] == "gpt-4.1-mini" and chat["responseModel"] == "gpt-4.1-mini-2025-04-14"
    assert chat["usageDetails"] == {"input": 1000, "input_cached_tokens": 500, "output": 200, "total": 1700}
    assert chat["input"] == [{"role": "user", "parts": [{"type": "text", "content": "hi"}]}]
    # No cost attribute in gen_ai: inferred from the requested model, gpt-4.1-mini (0.40 / 0.10 cached / 1.60 per 1M).
    assert chat["costDetails"] == {"input": 0.0004, "input_cached_tokens": 0.00005, "output": 0.00032, "total": 0.00077}
    assert chat["costSource"] == "inferred" and chat["modelId"] == "gpt-4.1-mini"
    assert obs["chat failing"]["level"] == "ERROR"
    assert obs["chat failing"]["statusMessage"] == "429 Too Many Requests"
    assert obs["POST /answer"]["type"] == "SPAN"


def test_exporter_retries_are_idempotent_and_wrong_keys_are_refused(tally):
    memory = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(memory))
    tracer = provider.get_tracer("e2e.retry")
    with tracer.start_as_current_span("root") as root:
        root.set_attribute("langfuse.trace.metadata.tenantId", "acme")
        trace_id = format(root.get_span_context().trace_id, "032x")
        with tracer.start_as_current_span("gen") as gen:
            gen.set_attribute("gen_ai.request.model", "gpt-4.1-mini")
            gen.set_attribute("gen_ai.usage.input_tokens", 10)
            gen.set_attribute("gen_ai.usage.cost", 0.25)
    spans = memory.get_finished_spans()
    auth = {"Authorization": "Basic " + base64.b64encode(f"{PUBLIC_KEY}:{SECRET_KEY}".encode()).decode()}
    exporter = OTLPSpanExporter(endpoint=tally.url + "/v1/traces", headers=auth, compression=Compression.Gzip)
    for _ in range(3):  # the same spans sent three times, as a retrying exporter would
        assert exporter.export(spans) == SpanExportResult.SUCCESS
    status, t = tally.get(f"/api/public/traces/{trace_id}")
    assert status == 200 and len(t["observations"]) == 2
    assert t["totalCost"] == pytest.approx(0.25, abs=1e-12)
    assert t["tenant"] == "acme"

    wrong = OTLPSpanExporter(endpoint=tally.url + "/v1/traces", headers={"Authorization": "Basic Zm9vOmJhcg=="})
    assert wrong.export(spans) == SpanExportResult.FAILURE
    nobody = OTLPSpanExporter(endpoint=tally.url + "/v1/traces")
    assert nobody.export(spans) == SpanExportResult.FAILURE
    assert tally.get("/api/public/health", auth=None)[0] == 200


def test_openinference_openai_instrumentation(tally):
    """The real OpenInference OpenAI instrumentor against a fake OpenAI server on loopback: the requested model (from
    llm.invocation_parameters) is billed, the dated model that answered is the response model, and tenant and
    feature come from OpenInference's `using_attributes` metadata."""
    import openai
    from openinference.instrumentation import using_attributes
    from openinference.instrumentation.openai import OpenAIInstrumentor

    from fake_openai import CHAT_USAGE, FakeOpenAI, response_model

    provider = otel_provider(tally, Compression.Gzip)
    instrumentor = OpenAIInstrumentor()
    instrumentor.instrument(tracer_provider=provider)
    try:
        with FakeOpenAI() as fake:
            client = openai.OpenAI(api_key="sk-fake", base_url=fake.url, max_retries=0)
            with using_attributes(metadata={"tenantId": "umbrella", "feature": "triage"}, user_id="user-u"):
                stream = client.chat.completions.create(
                    model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}], stream=True,
                    stream_options={"include_usage": True}, temperature=0.1)
                assert "".join(c.choices[0].delta.content or "" for c in stream if c.choices) == "fake answer"
    finally:
        instrumentor.uninstrument()
    assert provider.force_flush(10_000)
    provider.shutdown()

    status, body = tally.get("/api/public/observations?type=GENERATION")
    assert status == 200 and len(body["data"]) == 1, body
    g = body["data"][0]
    assert g["model"] == "gpt-4o-mini" and g["responseModel"] == response_model("gpt-4o-mini")
    assert g["modelId"] == "gpt-4o-mini" and g["costSource"] == "inferred"
    cached = CHAT_USAGE["prompt_tokens_details"]["cached_tokens"]
    assert g["usageDetails"]["input"] == CHAT_USAGE["prompt_tokens"] - cached
    assert g["usageDetails"]["input_cached_tokens"] == cached
    assert g["usageDetails"]["output"] == CHAT_USAGE["completion_tokens"]
    # gpt-4o-mini: 0.15 input, 0.075 cached input, 0.60 output per 1M tokens.
    assert g["calculatedTotalCost"] == pytest.approx((1000 * 0.15 + 200 * 0.075 + 300 * 0.60) / 1e6, abs=1e-12)
    assert g["modelParameters"]["stream_options"] == '{"include_usage":true}'
    assert g["tenant"] == "umbrella" and g["feature"] == "triage"
    status, traces = tally.get("/api/public/traces?tenantId=umbrella")
    assert traces["meta"]["totalItems"] == 1 and traces["data"][0]["userId"] == "user-u", traces


def test_v5_api_client_reads_everything(tally):
    """Every read route langfuse 5.0.4's `Langfuse().api` has for observations, scores, metrics, models, prompts,
    projects and health parses into its own pydantic models; prompts are created, promoted and read by the SDK."""
    import datetime as dt
    import json

    from langfuse.api import NotFoundError

    lf = langfuse_client(tally)
    lf.create_prompt(name="copilot/answer", prompt="Answer {{q}}", labels=["production"], tags=["copilot"],
                     config={"model": "gpt-4.1-mini"}, commit_message="first")
    prompt = lf.get_prompt("copilot/answer")
    assert prompt.version == 1 and prompt.compile(q="x") == "Answer x"
    ids = []
    for n in range(5):
        with lf.start_as_current_observation(as_type="span", name="request") as root:
            with propagate_attributes(user_id="user-1", session_id="sess-1", metadata={"tenantId": "acme"}):
                with lf.start_as_current_observation(as_type="generation", name="answer", model="gpt-4.1-mini",
                                                     prompt=prompt, input=[{"role": "user", "content": f"q{n}"}]) as g:
                    g.update(output="a", usage_details={"input": 1000, "output": 100})
                    g.score(name="quality", value=0.5 + n / 10)
            ids.append(root.trace_id)
    lf.create_score(name="csat", value="happy", data_type="CATEGORICAL", session_id="sess-1")
    lf.flush()
    api = lf.api

    # Observations v2, paged by cursor: ten observations, pages of three, each once, newest first.
    seen, cursor = [], None
    for _ in range(10):
        page = api.observations.get_many(limit=3, cursor=cursor, fields="core,basic,usage,model,prompt,io,metrics")
        seen += page.data
        cursor = page.meta.cursor
        if not cursor:
            break
    assert len(seen) == 10 and len({o.id for o in seen}) == 10
    assert [o.start_time for o in seen] == sorted((o.start_time for o in seen), reverse=True)
    generations = [o for o in seen if o.type == "GENERATION"]
    assert len(generations) == 5 and all(o.prompt_name == "copilot/answer" and o.prompt_version == 1
                                         for o in generations)
    assert all(o.input_price == "0.0000004" and o.total_cost == pytest.approx(0.00056) for o in generations)
    assert all(o.user_id == "user-1" and o.session_id == "sess-1" for o in seen)
    roots = api.observations.get_many(is_root_observation=True, trace_id=ids[0])
    assert [o.name for o in roots.data] == ["request"]
    assert len(api.observations.get_many(
        filter=json.dumps([{"type": "number", "column": "totalCost", "operator": ">", "value": 0}])).data) == 5

    # Scores v3: typed values and subjects.
    scores = api.scores.get_many(limit=100)
    assert len(scores.data) == 6
    csat = next(s for s in scores.data if s.name == "csat")
    assert csat.value == "happy" and csat.subject.kind == "session" and csat.subject.id == "sess-1"
    quality = api.scores.get_many(name="quality", value_min=0.75).data
    assert sorted(s.value for s in quality) == [0.8, 0.9]
    assert all(s.subject.kind == "observation" for s in quality)

    now = dt.datetime.now(dt.timezone.utc)
    rows = api.metrics.metrics(query=json.dumps({
        "view": "observations", "dimensions": [{"field": "promptVersion"}],
        "metrics": [{"measure": "count", "aggregation": "count"}],
        "filters": [{"column": "promptName", "operator": "=", "value": "copilot/answer", "type": "string"}],
        "fromTimestamp": (now - dt.timedelta(hours=1)).isoformat(),
        "toTimestamp": (now + dt.timedelta(hours=1)).isoformat()})).data
    assert rows == [{"promptVersion": 1, "count_count": 5}]

    models = api.models.list(limit=100)
    assert len(models.data) > 50 and all(m.created_at is not None for m in models.data)
    tiers = next(m for m in models.data if m.id == "gpt-4o").pricing_tiers
    assert any(c.key == "service_tier" for t in tiers for c in t.conditions)  # attribute conditions, 5.x shape
    mine = api.models.upsert("negotiated-mini", model_name="gpt-4.1-mini", unit="TOKENS",
                             match_pattern="(?i)^negotiated-mini$", input_price=0.0000002, output_price=0.0000008)
    assert mine.id == "negotiated-mini" and mine.created_at is not None
    assert api.models.get("negotiated-mini").input_price == 0.0000002
    api.models.delete("negotiated-mini")
    with pytest.raises(NotFoundError):
        api.models.get("negotiated-mini")

    lf.create_prompt(name="copilot/answer", prompt="Answer {{q}} briefly", labels=["staging"])
    lf.update_prompt(name="copilot/answer", version=2, new_labels=["production"])
    assert lf.get_prompt("copilot/answer", cache_ttl_seconds=0).version == 2
    listed = api.prompts.list(name="copilot/answer").data
    assert listed[0].versions == [1, 2] and listed[0].tags == ["copilot"]
    with pytest.raises(NotFoundError):
        lf.get_prompt("no-such-prompt", max_retries=0, cache_ttl_seconds=0)
    assert api.projects.get().data[0].id == "e2e-project"
    assert api.health.health().status == "OK"
