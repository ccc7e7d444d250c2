"""Two weeks of model calls holding each kind of waste once, next to controls that look alike but are not waste (the
workload of Tests/TallyStoreTests/SavingsWorkload.swift, ending now), sent through the Langfuse batch API.

Built-in prices (USD per token): gpt-4o 2.5e-6 in / 1e-5 out; gpt-4o-mini 1.5e-7 / 6e-7; gpt-4.1-mini 4e-7 / 1.6e-6;
claude-sonnet-4-5 3e-6 / 1.5e-5; gpt-5-nano 5e-8 / 4e-7; text-embedding-3-small 2e-8 per token.

Expected over [start, start + 14 days), worked by hand (nano-USD; monthly = waste × 30/14, a week's × 30/7):
| finding                                | waste       | monthly      | how                                                  |
| context_bloat summarize                | 25,000,000  | 107,142,857  | last week 20 × 1,500 × 2.5e-6 × (1 − 1,000/1,500)      |
| model_downgrade classify gpt-4o        | 43,040,000  | 92,228,571   | 40 × 1.1 mUSD − gpt-5-nano (16,000 × 5e-8 + 400 × 4e-7) |
| agent_loop agent                       | 31,500,000  | 67,500,000   | 4 calls after the 10th + 3 after the 5th search_tool  |
| context_bloat rag (rag-answer v2)      | 22,800,000  | 48,857,143   | 3 × 20,000 × 4e-7 × 19,000/20,000                      |
| retry_waste support-chat gpt-4o-mini   | 630,000     | 1,350,000    | 6 errors × (500 × 1.5e-7 + 50 × 6e-7)                  |
| cache_opportunity faq gpt-4.1-mini     | 384,000     | 822,857      | 3 repeats within the hour × 128,000                    |
| embed_reindex indexer                  | 60,000      | 128,571      | 3 documents again × 1,000 × 2e-8                       |
"""
import datetime as dt

MINUTE = 60
HOUR = 3600
DAY = 86400

EXPECTED = [
    ("context_bloat", "summarize", None, 25_000_000, 107_142_857),
    ("model_downgrade", "classify", "gpt-4o", 43_040_000, 92_228_571),
    ("agent_loop", "agent", None, 31_500_000, 67_500_000),
    ("context_bloat", "rag", None, 22_800_000, 48_857_143),
    ("retry_waste", "support-chat", "gpt-4o-mini", 630_000, 1_350_000),
    ("cache_opportunity", "faq", "gpt-4.1-mini", 384_000, 822_857),
    ("embed_reindex", "indexer", "text-embedding-3-small", 60_000, 128_571),
]


def iso(t):
    return t.isoformat(timespec="milliseconds").replace("+00:00", "Z")


class Workload:
    def __init__(self, start):
        self.start = start
        self.events = []
        self.n = 0

    def at(self, seconds):
        return self.start + dt.timedelta(seconds=seconds)

    def trace(self, tid, seconds, tenant, feature):
        t = iso(self.at(seconds))
        self.events.append({"id": f"e-{tid}", "type": "trace-create", "timestamp": t, "body": {
            "id": tid, "name": f"{feature}-request", "timestamp": t,
            "metadata": {"tenantId": tenant, "feature": feature}}})

    def call(self, tid, seconds, kind="generation", name=None, model=None, tin=0, tout=0, text=None, error=False,
             prompt=None, metadata=None):
        self.n += 1
        oid = f"{tid}-o{self.n}"
        start = self.at(seconds)
        body = {"id": oid, "traceId": tid, "startTime": iso(start), "endTime": iso(start + dt.timedelta(seconds=1))}
        if name:
            body["name"] = name
        if model:
            body["model"] = model
            body["usageDetails"] = {"input": tin} if kind == "embedding" else {"input": tin, "output": tout}
            body["input"] = text if text is not None else f"request {self.n}"
        if error:
            body["level"] = "ERROR"
            body["statusMessage"] = "upstream 500"
        if prompt:
            body["promptName"], body["promptVersion"] = prompt
        if metadata:
            body["metadata"] = metadata
        self.events.append({"id": f"e-{oid}", "type": f"{kind}-create", "timestamp": iso(start), "body": body})
        return oid

    def single(self, tid, seconds, feature, model, tin, tout, tenant="acme", **kw):
        self.trace(tid, seconds, tenant, feature)
        return self.call(tid, seconds, model=model, tin=tin, tout=tout, **kw)


def batches(now=None):
    """The workload's events in batches of at most 200, and the range [start, end) it fills."""
    now = now or dt.datetime.now(dt.timezone.utc)
    end = now.replace(microsecond=0)
    start = end - dt.timedelta(days=14)
    w = Workload(start)
    scores = []
    for i in range(40):
        oid = w.single(f"classify-a{i}", i * 8 * HOUR + HOUR, "classify", "gpt-4o", 400, 10)
        scores.append((f"classify-a{i}", oid, 0.9, i * 8 * HOUR + HOUR))
    for i in range(20):
        oid = w.single(f"classify-b{i}", i * 16 * HOUR + 2 * HOUR, "classify", "gpt-4o-mini", 400, 10)
        scores.append((f"classify-b{i}", oid, 0.8, i * 16 * HOUR + 2 * HOUR))
    for i in range(40):
        week2 = i >= 20
        w.single(f"summarize-{i}", (7 * DAY if week2 else 0) + (i % 20) * 8 * HOUR + 3 * HOUR, "summarize", "gpt-4o",
                 1500 if week2 else 1000, 400, tenant="globex")
    for i in range(40):
        w.single(f"rag-{i}", i * 8 * HOUR + 4 * HOUR, "rag", "gpt-4.1-mini", 20_000 if i in (3, 11, 30) else 1000, 100,
                 prompt=("rag-answer", 2))
    for i in range(10):
        t = i * DAY + 5 * HOUR
        w.trace(f"agent-{i}", t, "acme", "agent")
        for k in range(3):
            w.call(f"agent-{i}", t + k * MINUTE, name="step", model="claude-sonnet-4-5", tin=1000, tout=100)
        for k in range(2):
            w.call(f"agent-{i}", t + k * MINUTE + 30, kind="tool", name="search_tool")
    l1 = 9 * DAY + 6 * HOUR
    w.trace("agent-loop-1", l1, "acme", "agent")
    for k in range(14):
        w.call("agent-loop-1", l1 + k * MINUTE, name="step", model="claude-sonnet-4-5", tin=1000, tout=100)
    l2 = 10 * DAY + 6 * HOUR
    w.trace("agent-loop-2", l2, "acme", "agent")
    for k in range(8):
        w.call("agent-loop-2", l2 + k * MINUTE + 30, name="step", model="claude-sonnet-4-5", tin=1000, tout=100)
    for k in range(1, 7):
        w.call("agent-loop-2", l2 + k * MINUTE, kind="tool", name="search_tool")
    for i in range(30):
        w.single(f"support-{i}", i * 11 * HOUR + 5 * HOUR, "support-chat", "gpt-4o-mini", 500, 50, error=i % 5 == 0)
    f = 2 * DAY
    for k in range(4):
        w.single(f"faq-q1-{k}", f + k * 10 * MINUTE, "faq", "gpt-4.1-mini", 200, 30, text="How do I reset my password?")
    for k in range(2):
        w.single(f"faq-q2-{k}", f + 3 * DAY + k * 2 * HOUR, "faq", "gpt-4.1-mini", 200, 30,
                 text="What are your opening hours?")
    for k in range(2):
        w.single(f"faq-q3-{k}", f + 4 * DAY + k * 5 * MINUTE, "faq", "gpt-4.1-mini", 200, 30, text="Where is my invoice?",
                 metadata={"cache_hit": True} if k == 1 else None)
    for k, tenant in enumerate(["acme", "globex"]):
        w.single(f"faq-q4-{k}", f + 5 * DAY + k * 10 * MINUTE, "faq", "gpt-4.1-mini", 200, 30, tenant=tenant,
                 text="Do you ship abroad?")
    for k, doc in enumerate([1, 2, 3, 4, 5]):
        w.single(f"index-a{doc}", DAY + k * MINUTE, "indexer", "text-embedding-3-small", 1000, 0, text=f"document {doc}",
                 kind="embedding")
    for k, doc in enumerate([1, 2, 3, 6]):
        w.single(f"index-b{doc}", 8 * DAY + k * MINUTE, "indexer", "text-embedding-3-small", 1000, 0,
                 text=f"document {doc}", kind="embedding")
    for tid, oid, value, seconds in scores:
        w.events.append({"id": f"e-score-{oid}", "type": "score-create", "timestamp": iso(w.at(seconds)), "body": {
            "id": f"score-{oid}", "traceId": tid, "observationId": oid, "name": "accuracy", "value": value}})
    events = w.events
    return [{"batch": events[i:i + 200]} for i in range(0, len(events), 200)], start, end
