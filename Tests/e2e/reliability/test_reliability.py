"""Reliability, the fast cases: what an attacker or an unlucky operator does to a real `tally serve` process.

Slow cases (SIGKILL loops under load, the 10-minute WAL scenario, hostile-pattern timing) live in
bench/reliability.py and print figures instead of asserting.
"""
import json
import os
import resource
import signal
import socket
import threading
import time
from pathlib import Path

import pytest

from conftest import PUBLIC_KEY, SECRET_KEY, TallyServer, free_port

AUTH = "Basic " + __import__("base64").b64encode(f"{PUBLIC_KEY}:{SECRET_KEY}".encode()).decode()


@pytest.fixture
def short_timeouts(tmp_path):
    server = TallyServer(
        str(tmp_path / "tally.db"), free_port(),
        extra_env={"TALLY_IDLE_TIMEOUT": "2", "TALLY_REQUEST_TIMEOUT": "3"})
    server.start()
    yield server
    server.stop()


def closed_within(sock: socket.socket, seconds: float) -> bool:
    """True if the peer closes `sock` (EOF or reset) within `seconds`; reads and discards any response."""
    sock.settimeout(0.2)
    deadline = time.time() + seconds
    while time.time() < deadline:
        try:
            if sock.recv(65536) == b"":
                return True
        except socket.timeout:
            continue
        except (ConnectionResetError, BrokenPipeError):
            return True
    return False


def health_seconds(server) -> float:
    started = time.time()
    status, body = server.get("/api/public/health", auth=None)
    assert status == 200, body
    return time.time() - started


def test_idle_connections_leave_health_answering_and_are_closed(short_timeouts):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = min(hard, 4096)
    if soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
    sockets = []
    try:
        for _ in range(1100):
            sockets.append(socket.create_connection(("127.0.0.1", short_timeouts.port), timeout=5))
        assert health_seconds(short_timeouts) < 2.0
        # The idle timeout (2 s) closes them.
        assert closed_within(sockets[0], 6.0)
        assert closed_within(sockets[-1], 6.0)
        assert health_seconds(short_timeouts) < 2.0
    finally:
        for s in sockets:
            s.close()


def test_header_drip_and_body_drip_are_cut_off(short_timeouts):
    port = short_timeouts.port
    stop = threading.Event()

    def drip(sock, data):
        for b in data:
            if stop.is_set():
                return
            try:
                sock.sendall(bytes([b]))
            except OSError:
                return
            time.sleep(0.25)

    headers = socket.create_connection(("127.0.0.1", port))
    threading.Thread(target=drip, args=(headers, b"POST /api/public/ingestion HTTP/1.1\r\nHost: x\r\n" + b"X-Pad: " + b"a" * 200),
                     daemon=True).start()
    body = socket.create_connection(("127.0.0.1", port))
    payload = json.dumps({"batch": []}).encode()
    body.sendall(
        b"POST /api/public/ingestion HTTP/1.1\r\nHost: x\r\nAuthorization: " + AUTH.encode()
        + b"\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n")
    threading.Thread(target=drip, args=(body, payload + b" " * 985), daemon=True).start()
    started = time.time()
    try:
        assert closed_within(headers, 6.0), "header drip held past the idle timeout"
        assert closed_within(body, 8.0), "body drip held past the request timeout"
        assert time.time() - started < 8.0
        assert health_seconds(short_timeouts) < 2.0
    finally:
        stop.set()
        headers.close()
        body.close()


def test_declared_huge_content_length_is_refused_at_once(tally):
    sock = socket.create_connection(("127.0.0.1", tally.port), timeout=5)
    started = time.time()
    sock.sendall(
        b"POST /api/public/ingestion HTTP/1.1\r\nHost: x\r\nAuthorization: " + AUTH.encode()
        + b"\r\nContent-Type: application/json\r\nContent-Length: 1000000000000000\r\n\r\n")
    reply = sock.recv(4096).decode(errors="replace")
    sock.close()
    assert reply.startswith("HTTP/1.1 413"), reply[:200]
    assert time.time() - started < 2.0


def test_sigterm_exits_zero_with_an_empty_wal(tmp_path):
    server = TallyServer(str(tmp_path / "tally.db"), free_port())
    server.start()
    batch = {"batch": [{"id": f"e{i}", "type": "trace-create", "timestamp": "2026-11-20T10:00:00Z",
                        "body": {"id": f"t{i}", "name": "n", "input": "x" * 2000}} for i in range(500)]}
    status, body = server.request("POST", "/api/public/ingestion", batch)
    assert status == 207 and not body["errors"]
    wal = Path(str(tmp_path / "tally.db") + "-wal")
    assert wal.exists() and wal.stat().st_size > 0
    assert server.stop(signal.SIGTERM) == 0
    assert not wal.exists() or wal.stat().st_size == 0
    server.start()
    status, body = server.get("/api/public/traces?limit=1")
    assert status == 200 and body["meta"]["totalItems"] == 500
    server.stop()


def test_a_stale_retry_over_http_changes_nothing(tally):
    def batch(ts, name, output, usage):
        return {"batch": [
            {"id": f"t-{ts}", "type": "trace-create", "timestamp": ts, "body": {"id": "t1", "name": name}},
            {"id": f"g-{ts}", "type": "generation-create", "timestamp": ts,
             "body": {"id": "g1", "traceId": "t1", "name": name, "model": "gpt-4o", "output": output,
                      "usage": usage, "startTime": "2026-11-20T10:00:00Z"}},
        ]}
    a = batch("2026-11-20T10:00:00.000Z", "draft", "first", {"input": 100, "output": 10})
    b = batch("2026-11-20T10:00:02.000Z", "final", "second", {"input": 200, "output": 20})
    for body in (a, b, a):
        status, reply = tally.request("POST", "/api/public/ingestion", body)
        assert status == 207 and not reply["errors"], reply
    status, trace = tally.get("/api/public/traces/t1")
    assert status == 200
    assert trace["name"] == "final"
    gen = trace["observations"][0]
    assert gen["name"] == "final" and gen["output"] == "second"
    assert gen["usageDetails"]["input"] == 200
    # gpt-4o: 200 × $2.50/M + 20 × $10/M
    assert gen["calculatedTotalCost"] == pytest.approx(0.0007, abs=1e-12)


def test_overflow_inputs_never_take_the_process_down(tally):
    hostile = [
        {"costDetails": {"total": 1e10}}, {"costDetails": {"total": 1e308}},
        {"usage": {"input": 9223372036854775807, "output": 1}}, {"usage": {"input": 1, "inputCost": 1e300}},
        {"usageDetails": {"a": 9223372036854775807, "b": 9223372036854775807}},
    ]
    for i, fields in enumerate(hostile):
        body = {"id": f"g{i}", "traceId": f"t{i}", "model": "gpt-4o", "startTime": "2026-11-20T10:00:00Z"}
        body.update(fields)
        status, reply = tally.request("POST", "/api/public/ingestion", {"batch": [
            {"id": f"e{i}", "type": "generation-create", "timestamp": "2026-11-20T10:00:00Z", "body": body}]})
        assert status == 207 and reply["errors"][0]["status"] == 400, reply
    assert tally.proc.poll() is None
    for path in ["/api/public/metrics/daily", "/api/tally/v1/breakdown?groupBy=model&metrics=totalCost"]:
        status, _ = tally.get(path)
        assert status == 200
    # A 5xx never carries database text, and every response names its request id.
    status, _ = tally.get("/api/public/health", auth=None)
    assert status == 200


def test_the_binary_alone_in_an_empty_folder_migrates_prices_and_serves_the_ui(tmp_path):
    """No resource bundle, no checkout: schema, price table and web UI are compiled in."""
    import shutil
    binary = Path(os.environ.get("TALLY_BIN", str(Path(__file__).resolve().parents[3] / ".build/debug/tally")))
    lonely = tmp_path / "opt" / "tally"
    lonely.parent.mkdir(parents=True)
    shutil.copy2(binary, lonely)
    (tmp_path / "data").mkdir()
    server = TallyServer(str(tmp_path / "data" / "tally.db"), free_port())
    previous = os.environ.get("TALLY_BIN")
    os.environ["TALLY_BIN"] = str(lonely)
    try:
        server.start()
    finally:
        if previous is None:
            os.environ.pop("TALLY_BIN")
        else:
            os.environ["TALLY_BIN"] = previous
    try:
        status, reply = server.request("POST", "/api/public/ingestion", {"batch": [
            {"id": "e1", "type": "generation-create", "timestamp": "2026-11-20T10:00:00Z",
             "body": {"id": "g1", "traceId": "t1", "model": "gpt-4o", "usage": {"input": 1000, "output": 100},
                      "startTime": "2026-11-20T10:00:00Z"}}]})
        assert status == 207 and not reply["errors"], reply
        status, gen = server.get("/api/public/observations/g1")
        assert status == 200
        assert gen["calculatedTotalCost"] == pytest.approx(0.0035, abs=1e-12)  # 1000 × $2.50/M + 100 × $10/M
        import urllib.request
        for path, marker in [("/", b"<html"), ("/app.js", b"function"), ("/app.css", b"{")]:
            with urllib.request.urlopen(server.url + path, timeout=5) as r:
                assert r.status == 200
                assert marker in r.read().lower()
    finally:
        server.stop()


def test_retention_setting_deletes_old_traces(tmp_path):
    server = TallyServer(str(tmp_path / "tally.db"), free_port(), extra_env={"TALLY_RETENTION_INTERVAL": "1"})
    server.start()
    try:
        old = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - 40 * 86400))
        new = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - 3600))
        batch = {"batch": [
            {"id": f"e-{name}", "type": "trace-create", "timestamp": ts, "body": {"id": name, "timestamp": ts}}
            for name, ts in [("old", old), ("new", new)]] + [
            {"id": "o-old", "type": "generation-create", "timestamp": old,
             "body": {"id": "g-old", "traceId": "old", "startTime": old, "model": "gpt-4o", "usage": {"input": 5}}}]}
        status, reply = server.request("POST", "/api/public/ingestion", batch)
        assert status == 207 and not reply["errors"], reply
        status, setting = server.get("/api/tally/v1/settings/retention")
        assert status == 200 and setting["keepsEverything"] is True
        status, setting = server.request("PUT", "/api/tally/v1/settings/retention", {"days": 30})
        assert status == 200 and setting["effectiveDays"] == 30, setting
        status, _ = server.request("PUT", "/api/tally/v1/settings/retention", {"days": -1})
        assert status == 400
        deadline = time.time() + 20
        while time.time() < deadline and server.get("/api/public/traces/old")[0] == 200:
            time.sleep(0.3)
        assert server.get("/api/public/traces/old")[0] == 404
        assert server.get("/api/public/observations/g-old")[0] == 404
        assert server.get("/api/public/traces/new")[0] == 200
    finally:
        server.stop()


def test_a_full_disk_answers_503_loses_nothing_and_recovers(tmp_path):
    """A 6 MiB tmpfs holds the database: ingest until it is full, read, free space, ingest again."""
    import subprocess
    mount = tmp_path / "small"
    mount.mkdir()
    if os.geteuid() != 0 or subprocess.run(["mount", "-t", "tmpfs", "-o", "size=6m", "tmpfs", str(mount)]).returncode:
        pytest.skip("needs root to mount a small tmpfs")
    filler = mount / "filler"
    server = TallyServer(str(mount / "tally.db"), free_port())
    server.log_path = tmp_path / "tally.log"
    try:
        filler.write_bytes(b"\0" * (2 * 1024 * 1024))
        server.start()
        acked, saw_full = [], False
        for n in range(400):
            ids = [f"d{n}-{i}" for i in range(20)]
            batch = {"batch": [{"id": f"e-{t}", "type": "trace-create", "timestamp": "2026-11-20T10:00:00Z",
                                "body": {"id": t, "input": "x" * 2000}} for t in ids]}
            status, reply = server.request("POST", "/api/public/ingestion", batch)
            if status == 503:
                saw_full = True
                assert "sqlite" not in json.dumps(reply).lower()
                break
            assert status == 207, (status, reply)
            if not reply["errors"]:
                acked.extend(ids)
        assert saw_full, "the disk never filled"
        assert server.proc.poll() is None
        assert len(acked) > 0
        status, body = server.get("/api/public/traces?limit=1")
        assert status == 200
        for t in acked[:: max(1, len(acked) // 50)] + acked[-3:]:
            assert server.get(f"/api/public/traces/{t}")[0] == 200, t
        filler.unlink()
        deadline = time.time() + 15
        while True:
            status, reply = server.request("POST", "/api/public/ingestion", {"batch": [
                {"id": "after", "type": "trace-create", "timestamp": "2026-11-20T10:00:00Z", "body": {"id": "after"}}]})
            if status == 207 and not reply["errors"]:
                break
            assert time.time() < deadline, (status, reply)
            time.sleep(0.5)
        assert server.get("/api/public/traces/after")[0] == 200
    finally:
        server.stop()
        subprocess.run(["umount", "-l", str(mount)])
