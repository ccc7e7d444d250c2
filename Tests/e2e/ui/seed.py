"""A small multi-tenant workload with hand-checked costs, sent through the Langfuse batch API.

Built-in prices (USD per 1M tokens): gpt-4.1-mini 0.40 in / 1.60 out; gpt-4o 2.50 in / 10.00 out.

| trace   | tenant  | feature | prompt v | model        | in   | out  | cost (USD)                         |
| acme-1  | acme    | copilot | answer 1 | gpt-4.1-mini | 1000 | 100  | 0.0004 + 0.00016 = 0.00056         |
| acme-2  | acme    | copilot | answer 2 | gpt-4.1-mini | 2000 | 200  | 0.0008 + 0.00032 = 0.00112         |
| acme-3  | acme    | search  | –        | gpt-4o       | 1000 | 100  | 0.0025 + 0.001 = 0.0035 (ERROR)    |
| globex-1| globex  | copilot | answer 2 | gpt-4.1-mini | 500  | 50   | 0.0002 + 0.00008 = 0.00028         |
| init-1  | initech | search  | –        | gpt-4o       | 4000 | 1000 | 0.01 + 0.01 = 0.02                 |
Each trace also has a root span. Acme's total: 0.00518; initech is the most expensive tenant.
"""
import datetime as dt

TRACES = [
    # id, tenant, feature, user, prompt version, model, input, output, error, minutes ago, score
    ("acme-1", "acme", "copilot", "alice", 1, "gpt-4.1-mini", 1000, 100, False, 50, 0.6),
    ("acme-2", "acme", "copilot", "bob", 2, "gpt-4.1-mini", 2000, 200, False, 40, 0.9),
    ("acme-3", "acme", "search", "alice", None, "gpt-4o", 1000, 100, True, 30, None),
    ("globex-1", "globex", "copilot", "carol", 2, "gpt-4.1-mini", 500, 50, False, 20, 1.0),
    ("init-1", "initech", "search", "dave", None, "gpt-4o", 4000, 1000, False, 10, None),
]
COSTS = {"acme-1": 0.00056, "acme-2": 0.00112, "acme-3": 0.0035, "globex-1": 0.00028, "init-1": 0.02}

XSS = '<script>window.__xss=1</script><img src=x onerror="window.__xss=2">'
XSS_URL = "javascript:window.__xss=3"

# The two versions of the prompt "answer", created in this order (v1, v2) through the prompt API. v2 changes one
# line, adds two (one hostile: prompt text is rendered as text) and raises max_tokens.
PROMPTS = [
    {"name": "answer", "type": "chat", "commitMessage": "first cut", "config": {"max_tokens": 256},
     "prompt": [{"role": "system", "content": "You are helpful.\nAnswer in one paragraph."},
                {"role": "user", "content": "{{question}}"}]},
    {"name": "answer", "type": "chat", "commitMessage": "cite sources", "labels": ["production"],
     "config": {"max_tokens": 512},
     "prompt": [{"role": "system", "content": "You are helpful.\nAnswer in detail.\nCite every source.\n" + XSS},
                {"role": "user", "content": "{{question}}"}]},
    # Managed here but never run yet: it is listed, and its versions can be compared.
    {"name": "triage", "prompt": "Classify {{ticket}}.", "labels": ["production"]},
    {"name": "triage", "prompt": "Classify {{ticket}} as bug, question or billing.", "labels": ["staging"]},
]


def iso(t):
    return t.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def batch(now=None):
    now = now or dt.datetime.now(dt.timezone.utc)
    # Traces are seeded up to 50 minutes back; in the first hour of a UTC day that would put some spend on the day
    # before and break the "today" figures the budget and alert pages check. Then the same order is kept, squeezed
    # into the minutes since midnight.
    since_midnight = (now - now.replace(hour=0, minute=0, second=0, microsecond=0)).total_seconds() / 60
    scale = 1.0 if since_midnight >= 55 else max(since_midnight, 0.5) / 55
    events = []
    for tid, tenant, feature, user, version, model, tin, tout, error, ago, score in TRACES:
        start = now - dt.timedelta(minutes=ago * scale)
        end = start + dt.timedelta(milliseconds=1200)
        events.append({"id": f"e-{tid}", "type": "trace-create", "timestamp": iso(start), "body": {
            "id": tid, "name": f"{feature}-request", "timestamp": iso(start), "userId": user,
            "sessionId": f"session-{user}", "metadata": {"tenantId": tenant, "feature": feature},
            "tags": [f"tenant:{tenant}", feature], "environment": "production",
            "input": [{"role": "user", "content": f"question from {user}"}],
            "output": {"role": "assistant", "content": "an answer"}}})
        events.append({"id": f"s-{tid}", "type": "span-create", "timestamp": iso(start), "body": {
            "id": f"{tid}-root", "traceId": tid, "name": "handle", "startTime": iso(start), "endTime": iso(end)}})
        gen = {"id": f"{tid}-llm", "traceId": tid, "parentObservationId": f"{tid}-root", "name": "llm",
               "model": model, "startTime": iso(start + dt.timedelta(milliseconds=100)),
               "endTime": iso(start + dt.timedelta(milliseconds=1100)), "usage": {"input": tin, "output": tout},
               "input": [{"role": "system", "content": "You are helpful."}, {"role": "user", "content": f"question from {user}"}],
               "output": {"role": "assistant", "content": "an answer"}}
        if version is not None:
            gen.update({"promptName": "answer", "promptVersion": version})
        if error:
            gen.update({"level": "ERROR", "statusMessage": "rate limited"})
        events.append({"id": f"g-{tid}", "type": "generation-create", "timestamp": iso(start), "body": gen})
        if score is not None:
            events.append({"id": f"sc-{tid}", "type": "score-create", "timestamp": iso(start), "body": {
                "id": f"score-{tid}", "traceId": tid, "name": "helpfulness", "value": score}})
    # The hostile trace: every field a browser might interpret carries a payload.
    start = now - dt.timedelta(minutes=5)
    events.append({"id": "e-xss", "type": "trace-create", "timestamp": iso(start), "body": {
        "id": "xss-1", "name": XSS, "timestamp": iso(start), "userId": XSS_URL,
        "metadata": {"tenantId": "evil", "link": XSS_URL, "html": XSS}, "tags": [XSS, XSS_URL],
        "input": [{"role": "user", "content": XSS}], "output": XSS_URL}})
    events.append({"id": "g-xss", "type": "generation-create", "timestamp": iso(start), "body": {
        "id": "xss-llm", "traceId": "xss-1", "name": XSS, "model": "gpt-4.1-mini",
        "startTime": iso(start), "endTime": iso(start + dt.timedelta(milliseconds=300)),
        "usage": {"input": 10, "output": 10}, "input": {"html": XSS, "url": XSS_URL}, "output": XSS,
        "metadata": {XSS: XSS_URL}, "statusMessage": XSS}})
    return {"batch": events}
