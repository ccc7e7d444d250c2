"""Two collectors on one PostgreSQL database (TALLY_E2E_POSTGRES; skipped without it): a SIGKILL of one collector
in the middle of concurrent load loses nothing it acknowledged, and spend read on either collector is exact."""
import threading
import time
import uuid

import pytest

from conftest import POSTGRES, TallyServer, free_port

pytestmark = pytest.mark.skipif(not POSTGRES, reason="needs TALLY_E2E_POSTGRES (two collectors on PostgreSQL)")

WRITERS = 6
BATCHES = 40


def batch(writer: int, i: int, run: str) -> dict:
    """A trace and its generation, tenant by writer; 1,000 input tokens at $2.50/M = $0.0025 each."""
    trace = f"{run}-w{writer}-{i}"
    return {"batch": [
        {"id": f"{trace}-t", "type": "trace-create", "timestamp": "2026-11-30T10:00:00.000Z",
         "body": {"id": trace, "name": "load", "metadata": {"tenantId": f"tenant-{writer % 3}"}}},
        {"id": f"{trace}-g", "type": "generation-create", "timestamp": "2026-11-30T10:00:00.100Z",
         "body": {"id": f"{trace}-gen", "traceId": trace, "model": "gpt-4o", "startTime": "2026-11-30T10:00:00.100Z",
                  "usage": {"input": 1000, "output": 0}}},
    ]}


def test_sigkill_of_one_collector_mid_load_loses_nothing_acknowledged(tmp_path):
    server = TallyServer(str(tmp_path / "tally.db"), free_port())
    server.start()
    try:
        run = uuid.uuid4().hex[:8]
        acknowledged, refused, lock = set(), [0], threading.Lock()

        def write(writer: int):
            for i in range(BATCHES):
                body = batch(writer, i, run)
                # As an SDK does: the same batch again until a 2xx (the 502s of the killed collector, its restart).
                for attempt in range(200):
                    status, answer = server.request("POST", "/api/public/ingestion", body)
                    if status == 207:
                        assert answer["errors"] == [], answer
                        with lock:
                            acknowledged.add(f"{run}-w{writer}-{i}")
                        break
                    with lock:
                        refused[0] += 1
                    time.sleep(0.05)
                else:
                    raise AssertionError(f"batch {writer}/{i} never acknowledged")

        threads = [threading.Thread(target=write, args=(w,)) for w in range(WRITERS)]
        for t in threads:
            t.start()
        # Mid-load: the first collector dies without a chance to flush anything, then comes back.
        while len(acknowledged) < WRITERS * BATCHES // 3:
            time.sleep(0.01)
        victim = server.processes[0]
        victim.kill()
        killed_at = len(acknowledged)
        time.sleep(0.5)
        victim.start()
        for t in threads:
            t.join(timeout=120)
        assert not any(t.is_alive() for t in threads)
        assert len(acknowledged) == WRITERS * BATCHES
        assert 0 < killed_at < WRITERS * BATCHES

        # Read on each collector directly: every acknowledged trace, each generation once, spend exact.
        for p in server.processes:
            traces = set()
            page = 1
            while True:
                status, body = server.request("GET", f"/api/public/traces?limit=100&page={page}", base=p.url)
                assert status == 200, body
                traces |= {t["id"] for t in body["data"]}
                if page >= body["meta"]["totalPages"]:
                    break
                page += 1
            assert acknowledged <= traces and len(traces) == len(acknowledged)
            status, spend = server.request(
                "GET", "/api/tally/v1/breakdown?groupBy=tenant&metrics=totalCost,count", base=p.url)
            assert status == 200, spend
            by_tenant = {row["tenant"]: row for row in spend["data"]}
            for tenant in range(3):
                calls = sum(BATCHES for w in range(WRITERS) if w % 3 == tenant)
                assert by_tenant[f"tenant-{tenant}"]["count"] == calls
                assert by_tenant[f"tenant-{tenant}"]["totalCost"] == pytest.approx(calls * 0.0025, abs=1e-12)
    finally:
        server.close()
