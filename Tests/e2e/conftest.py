"""Fixtures for the end-to-end suites: a real `tally serve` process on a free loopback port and a temp database."""
import base64
import json
import os
import signal
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PUBLIC_KEY = "pk-lf-e2e"
SECRET_KEY = "sk-lf-e2e"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class TallyServer:
    """One tally process; `kill()` sends SIGKILL, `start()` starts it again on the same port and database."""

    def __init__(self, db_path: str, port: int, extra_env=None):
        self.db_path = db_path
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self.extra_env = extra_env or {}
        self.proc = None
        self.log_path = Path(db_path).with_suffix(".log")

    def start(self):
        binary = os.environ.get("TALLY_BIN", str(ROOT / ".build" / "debug" / "tally"))
        env = dict(os.environ)
        env.update({
            "LANGFUSE_INIT_PROJECT_ID": "e2e-project",
            "LANGFUSE_INIT_PROJECT_NAME": "E2E",
            "LANGFUSE_INIT_PROJECT_PUBLIC_KEY": PUBLIC_KEY,
            "LANGFUSE_INIT_PROJECT_SECRET_KEY": SECRET_KEY,
        })
        env.update(self.extra_env)
        log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(
            [binary, "serve", "--port", str(self.port), "--db", self.db_path],
            stdout=log, stderr=subprocess.STDOUT, env=env, cwd=tempfile.gettempdir())
        deadline = time.time() + 30
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"tally exited with {self.proc.returncode}: {self.log_path.read_text()[-2000:]}")
            try:
                with urllib.request.urlopen(self.url + "/api/public/health", timeout=1) as r:
                    if r.status == 200:
                        return
            except (urllib.error.URLError, ConnectionError, OSError):
                time.sleep(0.1)
        raise RuntimeError("tally did not become healthy in 30 s")

    def kill(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(timeout=10)

    def stop(self, sig=signal.SIGTERM):
        """Graceful stop; returns the exit code (None if it had to be killed after 15 s)."""
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                return self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.kill()
                return None
        return self.proc.returncode if self.proc else None

    # --- HTTP helpers (urllib, so the checks do not depend on the SDK under test) ---

    def request(self, method, path, body=None, headers=None, auth=(PUBLIC_KEY, SECRET_KEY)):
        data = body if isinstance(body, (bytes, type(None))) else json.dumps(body).encode()
        req = urllib.request.Request(self.url + path, data=data, method=method)
        if auth is not None:
            token = base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode()
            req.add_header("Authorization", f"Basic {token}")
        if data is not None:
            req.add_header("Content-Type", "application/json")
        for k, v in (headers or {}).items():
            req.add_header(k, v)
        try:
            with urllib.request.urlopen(req, timeout=30) as r:
                raw = r.read()
                return r.status, (json.loads(raw) if raw else None)
        except urllib.error.HTTPError as e:
            raw = e.read()
            try:
                return e.code, json.loads(raw)
            except ValueError:
                return e.code, raw.decode(errors="replace")

    def get(self, path, **kw):
        return self.request("GET", path, **kw)


def every_page(fetch, limit=100):
    """Every item of a page/limit list read through an SDK's typed client: `fetch(page=, limit=)` → a response
    with `data` and `meta.total_pages`."""
    items, page = [], 1
    while True:
        batch = fetch(page=page, limit=limit)
        items += batch.data
        if page >= batch.meta.total_pages:
            return items
        page += 1


@pytest.fixture
def tally(tmp_path):
    server = TallyServer(str(tmp_path / "tally.db"), free_port())
    server.start()
    yield server
    server.stop()
